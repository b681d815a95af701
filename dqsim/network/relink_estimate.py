"""How many times a repeater chain's links are made per delivered pair under the per-memory cut-off that makes a
link again (``[chain].cutoff_policy = "link"``): a small seeded Monte-Carlo of the protocol's attempt model.

Where a pair past its cut-off costs only its link, a cut at a repeater whose neighbour had already swapped the pair
into a longer segment discards that segment too, through every repeater that swapped into it, and each of its
links is made again (Collins, Jenkins & Kuzmich, PRL 98, 060502 (2007); Rozpędek et al., PRA 98, 052330 (2018);
Kamin, Shchukin, Schmidt & van Loock, PRR 5, 023086 (2023); Li et al., IEEE TQE 2 (2021) for swap-asap). How
many links a discarded segment takes depends on the order in which the pairs came, which the closed form of
:meth:`dqsim.jobs.repeater.ChainSection._keep_estimates` leaves out and :func:`relink_makings_per_pair` samples.

The attempt model (the timing of :mod:`dqsim.protocols.repeater`, times in ps, equal links of delay ``d``, the
nodes' processing delay ``c``, ``h = d + c``): a making of link ``j`` started by its initiator (node ``j``) at ``S``
emits at ``E = S + 2h + (N − 1)·T`` (``N`` geometric with the link's success probability ``p``, ``T`` the attempt
period) and both ends hold the pair from ``E + g + c`` (``g`` the herald's delay). A repeater that holds a pair it
has not swapped cuts it at ``E + cutoff`` (a pair heralded at that very instant comes too late: ties count as cuts)
and makes that link again: it starts it at once if it is the initiator, else tells the initiator, ``h`` later. A
repeater told while it had swapped the pair undoes its swap, makes both its links again and tells the node beyond. A
repeater swaps once it holds two pairs younger than the cut-off (nested, level ``l > 1``: and the notices that both
its segments are complete, each ``2^(l−2)·d + c`` on its way, valid while the making of its own link they name is
current). A round ends once every repeater has swapped and no discard is on its way (B's bits are left out). Pumping
is not modelled.
"""

from __future__ import annotations

import heapq
import math

from dqsim.rng import Stream

#: Rounds the estimate samples (``dqsim check`` runs it for every chain configuration under the policy).
RELINK_ESTIMATE_ROUNDS = 2000

#: Events after which the estimate stops sampling (about 0.2 s of CPU on an idle core): a chain that discards nearly
#: every pair gets what was counted by then (:func:`relink_makings_per_pair`).
RELINK_ESTIMATE_MAX_EVENTS = 100_000

#: Events that all the estimates of one warning share (about 2 s of CPU: ten configurations at
#: :data:`RELINK_ESTIMATE_MAX_EVENTS`), however many configurations a sweep has (:class:`EventBudget`).
RELINK_ESTIMATE_TOTAL_EVENTS = 1_000_000


class EventBudget:
    """Events that several estimates share (:func:`relink_makings_per_pair`'s ``budget``): each samples at most
    what is ``left``, and what it handled is taken off (``spent`` counts them)."""

    def __init__(self, events: int = RELINK_ESTIMATE_TOTAL_EVENTS):
        self.left, self.spent = events, 0

    def take(self, events: int) -> None:
        """Take ``events`` handled off what is left."""
        self.left -= events
        self.spent += events


class _Round:
    """One round of the attempt model (module docstring) from all links starting at 0; ``makings`` counts the
    makings begun (``links`` of them the round's first)."""

    def __init__(self, draw, links: int, *, delay_ps: float, processing_ps: float, herald_ps: float,
                 period_ps: float, cutoff_ps: float, nested: bool):
        self.draw, self.n, self.d, self.c = draw, links, delay_ps, processing_ps
        self.held_after = herald_ps + processing_ps
        self.h, self.period, self.cutoff, self.nested = delay_ps + processing_ps, period_ps, cutoff_ps, nested
        self.making = [[0, 0] for _ in range(links + 1)]   # node -> [left, right] makings of its links
        self.held: dict = {}                                # (node, side) -> emission of the pair it holds
        self.segments: dict = {}                            # nested: (node, side) -> the segment's end makings
        self.swapped: set = set()
        self.events: list = []
        self.seq = self.makings = self.in_flight = self.handled = 0

    def push(self, time_ps: float, kind: str, *data) -> None:
        """An event; of events at one instant a deadline comes first, the others in the order pushed."""
        self.seq += 1
        heapq.heappush(self.events, (time_ps, kind != "deadline", self.seq, kind, data))

    def start(self, link: int, time_ps: float) -> None:
        self.makings += 1
        emitted = time_ps + 2 * self.h + (self.draw() - 1) * self.period
        self.push(emitted + self.held_after, "pair", link, self.making[link][1], emitted)

    def relink(self, time_ps: float, node: int, side: int, making: int, tell: bool) -> None:
        """``node`` makes its link on ``side`` (0 left, 1 right) again, its ``making``-th time."""
        self.making[node][side] = making
        self.held.pop((node, side), None)
        self.segments.pop((node, side), None)
        if side == 1:
            self.start(node, time_ps)
        if tell:
            self.in_flight += 1
            self.push(time_ps + self.h, "relink", node + 1 if side else node - 1, 1 - side, making)

    def run(self, budget: int) -> bool:
        """Until the round ends (True) or ``budget`` events were handled (False)."""
        for link in range(self.n):
            self.start(link, 0.0)
        while self.handled < budget:
            if len(self.swapped) == self.n - 1 and not self.in_flight:
                return True
            time_ps, _, _, kind, data = heapq.heappop(self.events)
            self.handled += 1
            getattr(self, "_" + kind)(time_ps, *data)
        return False

    def _pair(self, time_ps: float, link: int, making: int, emitted: float) -> None:
        for node, side in ((link, 1), (link + 1, 0)):
            if self.making[node][side] == making:
                self.held[(node, side)] = emitted
                if 0 < node < self.n:
                    self.push(emitted + self.cutoff, "deadline", node, side, making)
                    self.swap(time_ps, node)

    def _deadline(self, time_ps: float, node: int, side: int, making: int) -> None:
        if node not in self.swapped and self.making[node][side] == making and (node, side) in self.held:
            self.relink(time_ps, node, side, making + 1, True)

    def _relink(self, time_ps: float, node: int, side: int, making: int) -> None:
        self.in_flight -= 1
        if making <= self.making[node][side]:
            return
        if node in self.swapped:  # its segment is discarded: on to the node beyond
            self.swapped.discard(node)
            self.relink(time_ps, node, side, making, False)
            self.relink(time_ps, node, 1 - side, self.making[node][1 - side] + 1, True)
        else:
            self.relink(time_ps, node, side, making, False)

    def _segment(self, time_ps: float, node: int, side: int, ends: tuple) -> None:
        if ends[1 - side] == self.making[node][side]:
            self.segments[(node, side)] = ends
            self.swap(time_ps, node)

    def swap(self, time_ps: float, node: int) -> None:
        """Repeater ``node`` swaps if it can (module docstring)."""
        if node in self.swapped:
            return
        left, right = self.held.get((node, 0)), self.held.get((node, 1))
        if left is None or right is None or time_ps >= min(left, right) + self.cutoff:
            return
        level = (node & -node).bit_length()
        if self.nested and level > 1:
            if (node, 0) not in self.segments or (node, 1) not in self.segments:
                return
            ends = (self.segments[(node, 0)][0], self.segments[(node, 1)][1])
        else:
            ends = (self.making[node][0], self.making[node][1])
        self.swapped.add(node)
        if self.nested:
            half = node & -node
            lower, upper = node - half, node + half
            if not (lower == 0 and upper == self.n):
                consumer = lower if lower > 0 and (lower & -lower).bit_length() == level + 1 else upper
                self.push(time_ps + abs(consumer - node) * self.d + self.c, "segment", consumer,
                          0 if node < consumer else 1, ends)


def relink_makings_per_pair(success_probability: float, links: int, *, delay_ps: float, processing_ps: float,
                            herald_ps: float, attempt_period_ps: float, cutoff_ps: float, nested: bool = False,
                            rounds: int = RELINK_ESTIMATE_ROUNDS, max_events: int = RELINK_ESTIMATE_MAX_EVENTS,
                            seed: int = 0, with_error: bool = False, budget: EventBudget | None = None):
    """Estimated makings of a link per delivered pair under ``cutoff_policy = "link"`` (1 where nothing is
    discarded): the attempt model (module docstring) sampled, seeded (:class:`dqsim.rng.Stream`, purpose
    ``"relink-estimate"``), so the same arguments give the same estimate.

    Args:
        success_probability: a link's success probability per attempt, in (0, 1].
        links: links of the chain, >= 2 (one repeater at least).
        delay_ps / processing_ps / herald_ps / attempt_period_ps: a link's delay, the nodes' classical processing
            delay, the herald's delay after the emission and the attempt period, ps.
        cutoff_ps: the cut-off, ps, above the least age at which a repeater can swap.
        nested: nested swapping (``links`` a power of two), else swap-asap.
        rounds: delivered pairs to sample.
        max_events: events after which sampling stops: the rounds ended by then count, or, where none ended, the
            makings of the unfinished one (a lower bound: the round was not over). The round in progress at the
            stop is dropped, and it is one of the long ones (a round that ran past the budget discarded more), so a
            stopped sample errs low: where few rounds ended, the caller takes the larger of it and a closed form
            (:meth:`dqsim.jobs.repeater.ChainSection._makings_estimate`).
        seed: the sample's seed.
        with_error: also return the estimate's standard error (the rounds' spread over the square root of their
            number; 0 for fewer than two rounds ended; ``inf`` where no round ended: a lower bound only).
        budget: events shared with other estimates (:class:`EventBudget`): at most its ``left`` are sampled (none:
            the unfinished round's makings, 1.0 with error ``inf``), and those handled are taken off it.

    Returns:
        The makings begun per link per delivered pair, >= 1 (with ``with_error``: and its standard error).

    Examples:
        >>> link = dict(delay_ps=5e7, processing_ps=1e6, herald_ps=5e7, attempt_period_ps=6.5e7)
        >>> relink_makings_per_pair(0.3, 3, cutoff_ps=5e9, **link)
        1.0
        >>> relink_makings_per_pair(0.3, 3, cutoff_ps=2e8, **link) > 1.5
        True
    """
    generator = Stream(seed, purpose="relink-estimate").generator(0)
    geometric = generator.geometric

    def draw() -> int:
        return int(geometric(success_probability))

    if budget is not None:
        max_events = max(min(max_events, budget.left), 0)
    per_round, events, unfinished = [], 0, links
    for _ in range(rounds):
        sample = _Round(draw, links, delay_ps=delay_ps, processing_ps=processing_ps, herald_ps=herald_ps,
                        period_ps=attempt_period_ps, cutoff_ps=cutoff_ps, nested=nested)
        over = sample.run(max_events - events)
        events += sample.handled
        if not over:
            unfinished = sample.makings
            break
        per_round.append(sample.makings / links)
    if budget is not None:
        budget.take(events)
    if not per_round:
        return (unfinished / links, math.inf) if with_error else unfinished / links
    mean = math.fsum(per_round) / len(per_round)
    if not with_error:
        return mean
    spread = math.fsum((value - mean) ** 2 for value in per_round) / max(len(per_round) - 1, 1)
    return mean, math.sqrt(spread / len(per_round)) if len(per_round) > 1 else 0.0
