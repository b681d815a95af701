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
current). A round ends once every repeater has swapped and no discard is on its way (B's bits are left out).

Pumping (since 2026-12-07 (afternoon); before, pumped chains got the closed form, 1.8-21 times low on 2-4 links,
``bench/results/repeater-pumping-estimate-vm-20261207p.md``): a making's first pair is its kept pair, which both
ends hold from ``E + g + c``; the repeaters time its cut-off from its emission ``E`` from then on, while it is
pumped (``pumping_cutoff = "link"``, the only choice under the policy: at ``E + cutoff`` the kept pair is cut and
its link made again as a linked one would be). Each pumping round's spare pair is begun by the initiator when it
holds the kept pair (or the round before ends) and emits ``2h + (N − 1)·T`` later; both ends learn the round's
outcome ``h`` after holding the spare pair (the purification's bits), with the round's success probability
(:meth:`dqsim.jobs.repeater.ChainSection._pumping_success`: Werner pairs, ideal memories and gates), or since
2026-12-07 (late afternoon), where the nodes are noisy, the probability that the round succeeds after the kept pair's
waits so far (``pumping_odds``: :class:`dqsim.protocols.pumping_odds.PumpingOdds`, the kept pair's T1/T2 decay from
its emission, or the round before's gates, to this round's gates at ``h`` before the outcome, the gates' and
readout's errors; before, the ideal odds, which erred low under noise). A failed round
loses both pairs: the ends stop timing the kept pair and the initiator begins a new kept pair at once (the same
making); after the last round succeeds both ends hold the pumped pair, whose deadline is still its kept pair's. An
end that has let the making go (cut, or told of a cut) no longer answers, so the pumping stops. With a source period
``s`` a pair's first attempt comes no sooner than ``s`` after the link's last one
(:func:`dqsim.protocols.epr.abandon_generation` where a making is given up).
"""

from __future__ import annotations

import heapq
import math
from typing import Callable, Sequence

from dqsim.rng import Stream

#: Rounds the estimate samples (``dqsim check`` runs it for every chain configuration under the policy).
RELINK_ESTIMATE_ROUNDS = 2000

#: Events after which the estimate stops sampling (about 0.2 s of CPU on an idle core): a chain that discards nearly
#: every pair gets what was counted by then (:func:`relink_makings_per_pair`).
RELINK_ESTIMATE_MAX_EVENTS = 100_000

#: Events that all the estimates of one warning share (since 2026-12-07 (afternoon); 1,000,000 before, which cost a
#: 64 × 64 sweep's warning 7-10 s of CPU on the shared VM once every configuration was sampled): a first pass,
#: :data:`RELINK_ESTIMATE_SCREEN_EVENTS` of them, samples every configuration, and the rest go to those that can
#: decide the warning (:meth:`dqsim.jobs.repeater.ChainSection._link_cutoff_warning`). A 64 × 64 sweep's warning
#: costs 2.9-5.2 s of CPU with them, pumped or not (the ranking by the closed form included; 7.2-9.6 s with
#: 1,000,000 in one pass; the shared VM at load 4-6, ``bench/repeater_link_warning_cost.py``,
#: ``bench/results/repeater-pumping-estimate-vm-20261207p.md``): an event costs about 2.5-6 us.
RELINK_ESTIMATE_TOTAL_EVENTS = 500_000

#: Of :data:`RELINK_ESTIMATE_TOTAL_EVENTS`, those of the first pass over all configurations, each at most an equal
#: share of those left and at most :data:`RELINK_ESTIMATE_MAX_EVENTS` (one or two configurations: their whole
#: sample).
RELINK_ESTIMATE_SCREEN_EVENTS = 250_000


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
    makings begun (``links`` of them the round's first).

    ``pumping``: the success probability of each pumping round (none: no pumping) and ``chance`` the uniform draw
    that decides one; ``odds``: where given, a round's success probability from the kept pair's waits instead
    (:func:`relink_makings_per_pair`'s ``pumping_odds``); ``source_ps``: the source's period (0: none)."""

    def __init__(self, draw, links: int, *, delay_ps: float, processing_ps: float, herald_ps: float,
                 period_ps: float, cutoff_ps: float, nested: bool, pumping: tuple = (), chance=None,
                 source_ps: float = 0.0, odds=None):
        self.draw, self.n, self.d, self.c = draw, links, delay_ps, processing_ps
        self.held_after = herald_ps + processing_ps
        self.h, self.period, self.cutoff, self.nested = delay_ps + processing_ps, period_ps, cutoff_ps, nested
        self.pumping, self.chance, self.source, self.odds = tuple(pumping), chance, source_ps, odds
        self.making = [[0, 0] for _ in range(links + 1)]   # node -> [left, right] makings of its links
        self.held: dict = {}                                # (node, side) -> emission of the pair it holds
        self.kept: dict = {}                                # pumping: (node, side) -> its kept pair's emission
        self.segments: dict = {}                            # nested: (node, side) -> the segment's end makings
        self.swapped: set = set()
        self.events: list = []
        self.free = [0.0] * links                           # source: link -> when its source may emit again
        self.generation: list = [None] * links              # source: link -> (first, emission, free before)
        self.seq = self.makings = self.in_flight = self.handled = 0

    def push(self, time_ps: float, kind: str, *data) -> None:
        """An event; of events at one instant a deadline comes first, the others in the order pushed."""
        self.seq += 1
        heapq.heappush(self.events, (time_ps, kind != "deadline", self.seq, kind, data))

    def start(self, link: int, time_ps: float) -> None:
        """A making of ``link`` begun by its initiator at ``time_ps``: its (kept) pair."""
        self.makings += 1
        self.pair(link, self.making[link][1], time_ps, 0, None)

    def pair(self, link: int, making: int, time_ps: float, pumped: int, kept_ps: float | None,
             waits: tuple = (), touched_ps: float | None = None) -> None:
        """An elementary pair of ``link``'s ``making`` begun at ``time_ps``: its kept pair (``pumped = 0``) or the
        spare pair of pumping round ``pumped``, into the kept pair emitted at ``kept_ps``, which waited ``waits``
        in the rounds before and was last touched (emitted, or the round before's gates) at ``touched_ps``."""
        first = time_ps + 2 * self.h
        if self.source:
            first = max(first, self.free[link])
        emitted = first + (self.draw() - 1) * self.period
        if self.source:
            self.generation[link] = (first, emitted, self.free[link])
            self.free[link] = emitted + self.source
        if not self.pumping:
            self.push(emitted + self.held_after, "pair", link, making, emitted)
        elif pumped:
            self.push(emitted + self.held_after + self.h, "verdict", link, making, pumped, kept_ps, waits,
                      kept_ps if touched_ps is None else touched_ps)
        else:
            self.push(emitted + self.held_after, "kept_pair", link, making, emitted)

    def relink(self, time_ps: float, node: int, side: int, making: int, tell: bool) -> None:
        """``node`` makes its link on ``side`` (0 left, 1 right) again, its ``making``-th time."""
        self.making[node][side] = making
        self.held.pop((node, side), None)
        self.kept.pop((node, side), None)
        self.segments.pop((node, side), None)
        if side == 1:
            if self.source:
                self.abandon(node, time_ps)
            self.start(node, time_ps)
        if tell:
            self.in_flight += 1
            self.push(time_ps + self.h, "relink", node + 1 if side else node - 1, 1 - side, making)

    def abandon(self, link: int, time_ps: float) -> None:
        """Source: ``link``'s initiator gives its generation up at ``time_ps``; the source is free one period after
        its last attempt (:func:`dqsim.protocols.epr.abandon_generation`; one not begun yet keeps the booking of
        before)."""
        generation = self.generation[link]
        if generation is None or generation[1] <= time_ps:
            return
        first, _emitted, before = generation
        if first > time_ps:
            self.free[link] = before
        else:
            self.free[link] = first + (time_ps - first) // self.period * self.period + self.source

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
        if node in self.swapped or self.making[node][side] != making:
            return
        born = self.held.get((node, side), self.kept.get((node, side)))  # (pumping: a kept pair pumped, or none)
        if born is not None and time_ps >= born + self.cutoff:
            self.relink(time_ps, node, side, making + 1, True)

    def current(self, link: int, making: int) -> bool:
        """Whether both ends of ``link`` are at its ``making`` (else a pumping of it stalls: an end has let it go)."""
        return self.making[link][1] == making == self.making[link + 1][0]

    def _kept_pair(self, time_ps: float, link: int, making: int, emitted: float) -> None:
        """Pumping: both ends hold a kept pair; its repeaters time its cut-off from now, and the first spare pair
        is begun."""
        for node, side in ((link, 1), (link + 1, 0)):
            if self.making[node][side] == making and 0 < node < self.n:
                self.kept[(node, side)] = emitted
                self.push(emitted + self.cutoff, "deadline", node, side, making)
        if self.current(link, making):
            self.pair(link, making, time_ps, 1, emitted)

    def _verdict(self, time_ps: float, link: int, making: int, pumped: int, kept_ps: float, waits: tuple,
                 touched_ps: float) -> None:
        """Pumping round ``pumped``'s outcome at both ends: the next round, the pumped pair held (linked), or
        (failed) both pairs lost and a new kept pair begun. The round's gates came ``h`` before (both ends hold
        the spare pair ``g + c`` after its emission and act then; the outcome's bits take ``h``)."""
        if not self.current(link, making):
            return
        gates_ps = time_ps - self.h
        waits = waits + (gates_ps - touched_ps,)
        success = self.pumping[pumped - 1] if self.odds is None else self.odds(waits)
        if self.chance() >= success:
            for end in ((link, 1), (link + 1, 0)):
                self.kept.pop(end, None)
            self.pair(link, making, time_ps, 0, None)
        elif pumped < len(self.pumping):
            self.pair(link, making, time_ps, pumped + 1, kept_ps, waits, gates_ps)
        else:
            for node, side in ((link, 1), (link + 1, 0)):
                self.kept.pop((node, side), None)
                self.held[(node, side)] = kept_ps
                if 0 < node < self.n:
                    self.swap(time_ps, node)

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
                            pumping: Sequence[float] = (), source_ps: float = 0.0,
                            pumping_odds: Callable[[tuple], float] | None = None,
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
        pumping: the success probability of each pumping round, in (0, 1] (none: no pumping); with pumping a
            making is the kept pair and its pumping, the new kept pairs after failed rounds included.
        source_ps: the source's period, ps (0: none): a pair's first attempt comes no sooner than one period
            after the link's last attempt.
        pumping_odds: where given (noisy nodes), round ``j``'s success probability from the kept pair's waits
            ``(w_1, ..., w_j)``, ps (``w_1`` from its emission to round 1's gates, ``w_i`` from round ``i − 1``'s
            gates to round ``i``'s), given the rounds before succeeded; ``pumping`` then only counts the rounds
            (:class:`dqsim.protocols.pumping_odds.PumpingOdds`).
        rounds: delivered pairs to sample.
        max_events: events after which sampling stops: the round in progress then is not over, and it is likely
            one of the long ones (a round that runs past the budget discards more). Since 2026-12-07 (afternoon)
            it counts as a round ended with the makings begun by then (a lower bound of its own), so the estimate
            still errs low, but less than before, when that round was dropped: on 2 and 3 pumped links stopped
            after 300 events (a few rounds) 10.9 and 6.9 makings against 12.8 and 8.9 from 6,000 rounds (dropped:
            10.8 and 6.5; makings over the events sampled per round ended, renewal-reward, 17.1 and 11.0: high);
            after 1,000 events or more counted and dropped agree within 0.5 of them (renewal-reward: 1.0 high
            still at 3,000; ``bench/results/repeater-pumping-estimate-vm-20261207p.md``). Where no round ended:
            the makings of the unfinished one (a lower bound: the round was not over). Either way the warning takes
            the larger of a stopped sample and a closed form
            (:meth:`dqsim.jobs.repeater.ChainSection._makings_estimate`).
        seed: the sample's seed.
        with_error: also return the estimate's standard error (the ended rounds' spread over the square root of
            their number; 0 for fewer than two rounds ended; ``inf`` where no round ended: a lower bound only).
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
        >>> relink_makings_per_pair(0.3, 3, cutoff_ps=8e8, pumping=(0.8,), **link) > 1.5
        True
    """
    if budget is not None:
        max_events = max(min(max_events, budget.left), 0)
    per_round, unfinished, events = _sample(success_probability, links, rounds, max_events, seed, dict(
        delay_ps=delay_ps, processing_ps=processing_ps, herald_ps=herald_ps, period_ps=attempt_period_ps,
        cutoff_ps=cutoff_ps, nested=nested, pumping=tuple(pumping), source_ps=source_ps, odds=pumping_odds))
    if budget is not None:
        budget.take(events)
    if not per_round:
        return (unfinished / links, math.inf) if with_error else unfinished / links
    stopped = 1 if unfinished else 0  # (the round in progress at the stop, counted as ended by then)
    mean = (math.fsum(per_round) + unfinished / links) / (len(per_round) + stopped)
    if not with_error:
        return mean
    ended = math.fsum(per_round) / len(per_round)
    spread = math.fsum((value - ended) ** 2 for value in per_round) / max(len(per_round) - 1, 1)
    return mean, math.sqrt(spread / len(per_round)) if len(per_round) > 1 else 0.0


def _sample(success_probability: float, links: int, rounds: int, max_events: int, seed: int,
            timing: dict) -> tuple[list, int, int]:
    """:func:`relink_makings_per_pair`'s rounds: ``(makings per link of each round ended, makings begun in the
    round stopped by ``max_events`` (0 if none was), events handled)``."""
    generator = Stream(seed, purpose="relink-estimate").generator(0)
    geometric = generator.geometric

    def draw() -> int:
        return int(geometric(success_probability))

    per_round, events = [], 0
    for _ in range(rounds):
        sample = _Round(draw, links, chance=generator.random, **timing)
        over = sample.run(max_events - events)
        events += sample.handled
        if not over:
            return per_round, sample.makings, events
        per_round.append(sample.makings / links)
    return per_round, 0, events
