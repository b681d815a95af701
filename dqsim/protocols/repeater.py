"""Repeater chains: end-to-end entangled pairs over a line of nodes.

Nodes ``0 … N`` stand in a line joined by ``N`` elementary links; node 0 is
end A, node N is end B, the others are repeaters. Every node runs one
process, :class:`ChainNode`, for the whole run, which starts a
:class:`LinkSide` per link end for each chain attempt (and, with a cut-off,
an :class:`Alarm` per elementary pair). They are resumable processes: their
protocol state is in their attributes, so a checkpoint saves it without a
step log and a resumed run replays nothing (see :class:`ChainNode`). The
chain delivers one end-to-end pair at a time, ``num_pairs`` times over (a
*round* per pair).

Memories
    Each node holds, for each of its links, one memory (``m = 1``), or two
    when purification is on (``m = 2``: the kept pair and the spare pair);
    repeaters have two link sides, the ends one. The register therefore has
    ``2·N·m`` qubits (:attr:`ChainSpec.num_qubits`); a memory is reused from
    round to round and is reset whenever it is reserved for a new pair.

Elementary links
    Link ``j`` joins nodes ``j`` and ``j+1``; node ``j`` initiates heralded
    generation (:func:`dqsim.protocols.epr.epr_initiator`: reservation
    handshake, geometric number of attempts, Werner pair at the emission of
    the successful attempt, herald a round trip to the station later) and node ``j+1``
    answers, resetting its memory when it reserves it.

Purification (``purification_rounds`` = 1 or 2)
    Entanglement *pumping* (Dür and Briegel): after the kept pair, each round
    makes one more elementary pair in the spare memories and runs
    :func:`dqsim.protocols.purify.purify_end` (BBPSSW or DEJMPS) at both
    ends; on failure both pairs are lost and the link starts over from a new
    kept pair. Two memories per link side suffice for any number of rounds.
    BBPSSW twirls both pairs first; the initiator draws the twirl's two
    rotations and sends them to the responder when the spare pair's
    generation starts (they arrive before its herald). The first round
    purifies two pairs of equal fidelity, so its success probability and
    output fidelity are those of
    :func:`dqsim.network.werner.bbpssw_success_probability` and
    :func:`~dqsim.network.werner.bbpssw_fidelity` for Werner inputs (for
    BBPSSW: for any inputs of that fidelity, thanks to the twirl).

Entanglement swapping (Bell measurement: CNOT, H, two measurements; Żukowski
et al., PRL 71, 4287 (1993))
    ``"swap_asap"``: a repeater swaps as soon as both its links hold a pair.
    ``"nested"`` (doubling; Briegel et al., PRL 81, 5932 (1998)), ``N = 2^n``:
    repeater ``i`` swaps at level ``l = 1 + (trailing zeros of i)``, joining
    the segments ``[i − 2^(l−1), i]`` and ``[i, i + 2^(l−1)]`` once both are
    complete; a repeater learns that a segment is complete from the
    ``segment`` message of the repeater that made it (its middle).
    Corrections are tracked as a Pauli frame: every repeater sends its two
    bits to B (a repeater does not wait for its outcome: B reads the bits,
    :meth:`~dqsim.engine.NodeContext.measure_later`), and B applies ``X^(⊕m_x) Z^(⊕m_z)`` when it holds all ``N − 1``
    of them and its own link's pair. That is the *delivery*. Without a
    cut-off B, once its link's pair is there, takes the bits in one
    :class:`~dqsim.engine.Receive` of ``N − 1`` messages: its process is
    resumed once, not once per repeater (the messages are the same; on a
    1,024-node chain the end node's ~2,000 steps were on the critical path
    of a run on two ranks).

Fidelity of a delivered pair
    At delivery B asks the engine for the Bell weights (fidelity first) of
    the two end memories
    (:meth:`~dqsim.engine.NodeContext.probe_bell_diagonal`, an operation that reads the state without changing it). It is ordered with
    every other quantum operation by ``(time, node, seq)`` in the engine's
    flushes, and the decoherence of both end memories up to the delivery time
    is applied before it. The memories live in small exact density matrices
    (:mod:`dqsim.state.small`), so the value ``⟨Φ+|ρ|Φ+⟩`` is that of the
    delivered state given the swap outcomes: no noise trajectory is sampled, except the readout errors
    (``measure_error_probability``), classical flips of a reported bit drawn per measurement: a pair whose
    bit flipped got the wrong correction (a wrong parity bit leaves an X error on the pair), so with
    readout errors the pairs' fidelities split into levels whose mean is the averaged state's fidelity
    (``bench/review_repeater_physics.py``, check ``swap``).
    Results do not depend on the number of ranks or the placement (DESIGN.md
    invariants 3 and 4).

Rounds
    B tells every node that the pair is delivered; all nodes start the next
    round together, once the farthest node (A) can have heard it:
    ``next_start = delivery + max latency from B``, so all links begin their
    handshake at the same time. Memories are reset when the next round
    reserves them.

Memory cut-off (``cutoff_ps``)
    A repeater holding a link pair that is ``cutoff_ps`` old (since the
    emission that created the pair in that memory; for pumped pairs, the
    kept pair's) before it could swap discards it, at that moment (a memory
    cut-off frees a qubit older than the cut-off then: Rozpędek et al., PRA
    98, 052330 (2018)). A repeater swaps only while both its pairs are
    younger than ``cutoff_ps``, so a pair heralded at the very instant the
    other pair reaches its deadline comes too late: the older one is cut,
    whichever of the two messages the repeater handles first (times are sums
    of delays and attempt periods, so such ties occur; pinned by
    ``tests/test_repeater_cutoff_link.py``). With pumping the timer starts when the link side
    holds the kept pair, so a kept pair still being pumped (its spare pair
    being made, or the purification's bits on their way) is discarded at its
    deadline too, not once the pumped pair is complete (as before
    2026-12-07, which kept the memories busy and restarted late,
    ``bench/review_repeater_physics.py`` check ``cutoff_deadline``); a failed
    purification discards the kept pair and its timer with it. With purifications that succeed a given
    attempt passes or not as before (iff every pair is swapped before its deadline), an abandoned one
    ends sooner; but a kept pair past its deadline whose pumping would then have failed (and restarted
    from a new kept pair, forgiving its age) is now cut, so with failing purifications fewer attempts
    pass (one link, one round of success probability ``s``: ``P·s/(1 − P(1 − s))`` instead of ``P``,
    :func:`~dqsim.network.entanglement.cutoff_pass_probability`). What the abandoned attempt still
    has on its way (spare pair, twirl, purification bits) is ignored by its link sides, which end,
    and dropped at the node's next restart or round end (:func:`_drop_stale`). The pair may already be
    part of a longer segment whose other end the repeater does not know, so
    the whole chain *attempt* is abandoned: the repeater tells every node,
    and each one frees its memories and starts the attempt again (link
    generation in progress is abandoned too, its source free again one source
    period after its last attempt, :func:`~dqsim.protocols.epr.abandon_generation`;
    as attempts are independent, this changes only the handshake time). Each node starts the new attempt
    when the abort reaches it, not at a common time as a round does: a link whose initiator is farther
    from the cutting repeater starts later, so after a restart the links are no longer in lockstep (on a
    two-link midpoint chain link 0 lags link 1 by one link delay, one attempt period; an attempt then
    survives a cut-off of ``d + (m + 1/2)·T`` when ``-m-1 <= N0 - N1 <= m-1``, not ``|N0 - N1| <= m``,
    ``tests/test_physics_audit.py``). Waiting-time formulas that assume a synchronous restart
    (e.g. with both links regenerated from the same instant) do not apply to the restarts. The timer
    (:class:`Alarm`) of an attempt that has ended, abandoned or delivered, sends nothing. The repeaters apply the
    cut-off: a pair at an end is bounded by the cut-off of the repeater next to it
    until that repeater swaps it. A chain of one link has no repeater, and its end B applies it instead (since
    2026-12-06; before, such a chain had none): a pair that B is told of (pumped, with purification) that is
    ``cutoff_ps`` old or older is discarded and the attempt restarted, as the repeater next to it would have
    done on the same message; with pumping B, like a repeater, times its kept pair from when it holds it and
    discards it at the deadline while it is pumped. The ends' memories decohere while a pumped pair waits for
    its spare as a repeater's do; without
    purification B takes a pair as soon as it is heralded, so only a cut-off shorter than the herald's way
    abandons it. ``max_restarts`` bounds the attempts per pair (a too-short cut-off could otherwise run forever).

    A kept pair cut while it is pumped is in no longer segment yet: neither end has reported it ``linked``, so no
    repeater has swapped it. Abandoning the whole attempt for it (``pumping_cutoff = "attempt"``, the default) is
    a simplification; with ``"link"`` (since 2026-12-07) the node that cut it makes that link again at once, from
    a new kept pair, and tells the link's other end (:meth:`ChainNode._relink`), which does the same when told,
    while every other link keeps its pair (the usual policy of a cut-off per memory). The link's initiator starts
    the new making when it cuts or is told, its source free one source period after its last attempt; its
    record counts the attempts of the earlier makings. What a pair does that a link side reports ``linked`` and
    the repeater then holds past its deadline is unchanged: it abandons the attempt, as it may be part of a
    longer segment by then. On one link the two policies make the same pairs at the same times (B cuts and A
    starts when told either way); on longer chains the other links' pairs wait for the re-made link, which a
    short cut-off then cuts, so ``"link"`` can deliver more slowly there (``bench/review_repeater_physics.py``,
    check ``pumping_link``).

    ``cutoff_policy = "link"`` (since 2026-12-07 (morning)) applies the per-memory policy to every pair (Collins,
    Jenkins, Kuzmich & Kennedy, PRL 98, 060502 (2007); Rozpędek et al. 2018; Kamin, Shchukin, Schmidt & van Loock,
    PRR 5, 023086 (2023); Li et al., IEEE TQE 2 (2021) for swap-asap): a node that holds a pair past its cut-off,
    linked or still pumped, discards it and makes that link again (:meth:`ChainNode._relink`, as above), and no
    chain attempt is ever abandoned. The link's other end, told, does the same; if it had swapped the pair into a
    longer segment by then (its own deadline for that pair is the same, so it swapped before the cut), the
    segment is discarded too (:meth:`ChainNode._unswap`): that repeater undoes its swap (B, told, forgets its
    bits; the repeater swaps again once its links hold new pairs), makes both its links again and tells the node
    beyond, so the discard runs through every repeater that had swapped into the segment to its other end, each
    link of it made again while the links outside keep their pairs. B never uses a forgotten repeater's bits: its
    bits of the swap after come on the same path after the ``void``, and any bits that let B deliver depend on a
    pair made after it. With nested swapping a ``segment`` notice names the makings of its two end links, and its
    consumer takes it only while its own link's making is that one (a notice of a discarded segment can still be
    on its way when the consumer makes its link again). This is the policy of the peer simulators and of the
    waiting-time formulas with a cut-off per memory; the timing is dqsim's: a link made again starts with a
    handshake when its initiator acts (at the cut, or told ``d + c`` later), so it is no longer in step with the
    others (``bench/review_repeater_physics.py``, check ``cutoff_link``: the two-link mean waiting time and
    fidelity against an exact Markov chain of this timing, 3 and 4 links against an event model of it). ``max_restarts``
    bounds the pairs one node cuts for one delivered pair.

Time is spent only by fibre latency, link attempts and the nodes' classical
processing delay (a node acts on every classical message, the station's
herald included, that long after it arrives): gates and
measurements of the protocol take no time (as in :mod:`dqsim.protocols.distributed`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from operator import itemgetter
from typing import NamedTuple, Sequence

from dqsim.checks import check_choice, check_int
from dqsim.errors import DqsimError, count_of
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.protocols.epr import abandon_generation, announce_pair, emit_pair, heralded, source_wait_ps
from dqsim.protocols.purify import draw_twirl, purify_gates, purify_verdict
from dqsim.state.gates import gate_op
from dqsim.state.sharded import ShardedState
from dqsim.units import ps_to_seconds

#: Swapping policies of :class:`ChainSpec`.
SWAPPING_POLICIES = ("swap_asap", "nested")

#: Purification protocols of :class:`ChainSpec` (:mod:`dqsim.protocols.purify`).
PURIFICATION_PROTOCOLS = ("bbpssw", "dejmps")

#: Most purification (pumping) rounds per elementary link.
MAX_PURIFICATION_ROUNDS = 2

#: What a node applying the cut-off does when a pair reaches it (:class:`ChainSpec`), the choices of both
#: ``cutoff_policy`` (any pair) and ``pumping_cutoff`` (a kept pair while it is pumped): ``"attempt"`` abandons the
#: whole chain attempt (under ``cutoff_policy``, a kept pair cut while pumped: as ``pumping_cutoff`` says),
#: ``"link"`` discards that pair and makes its link again (a pair already swapped into a longer segment: that
#: segment, its links made again).
CUTOFF_POLICIES = ("attempt", "link")

#: Serial numbers of a link side's pairs per re-made link (``"link"`` pumping cut-off): the pairs of the link's
#: ``e``-th making after a cut-off are numbered from ``e·_EPOCH_SERIALS`` on, so no message of an earlier one is
#: taken for theirs.
_EPOCH_SERIALS = 1 << 40

#: Message tag of the chain's control messages to a node in one round.
_TAG = "chain"

#: Message tag of a repeater's Bell-measurement outcome to B in one round of a chain without a cut-off (where B
#: collects all of them in one :class:`~dqsim.engine.Receive`; with a cut-off they come as ``_TAG`` messages).
_BITS_TAG = "chain-bits"


# ------------------------------------------------------------------ fidelity
def bell_fidelity(state: ShardedState, qubit_a: int, qubit_b: int) -> float:
    """Fidelity of two qubits to |Φ+⟩: (1 + ⟨XX⟩ − ⟨YY⟩ + ⟨ZZ⟩)/4 (collective).

    Args:
        state: the register.
        qubit_a, qubit_b: the two qubits.

    Returns:
        F in [0, 1] (for a pure state of the whole register: one trajectory).

    Examples:
        >>> s = ShardedState(2); s.apply_gate("h", [0]); s.apply_gate("cx", [0, 1])
        >>> round(bell_fidelity(s, 0, 1), 12)
        1.0
    """
    pair = [qubit_a, qubit_b]
    value = (1.0 + state.expectation("XX", pair) - state.expectation("YY", pair)
             + state.expectation("ZZ", pair)) / 4.0
    return float(value)


# --------------------------------------------------------------------- chain
@dataclass(frozen=True, kw_only=True)
class ChainSpec:
    """A repeater chain and what it is asked to do.

    Attributes:
        links: the ``N >= 1`` elementary links, link ``j`` between nodes ``j``
            and ``j + 1``; each must make pairs with probability > 0.
        node: hardware of every node (memory T1/T2, gate and measurement
            errors, classical processing delay; its name and qubit counts are
            not used).
        swapping: ``"swap_asap"`` or ``"nested"`` (``N`` a power of two).
        purification_rounds: pumping rounds per elementary link, 0..2.
        purification: ``"bbpssw"`` or ``"dejmps"``.
        cutoff_ps: memory cut-off, ps, >= 1, or ``None`` (none).
        cutoff_policy: what a pair that reaches the cut-off costs: ``"attempt"`` (default) the whole chain
            attempt (but see ``pumping_cutoff``), ``"link"`` only its link, made again while the other links keep
            their pairs; a pair already part of a longer segment discards that segment and its links are made
            again (module docstring, "Memory cut-off"; since 2026-12-07 (morning)).
        pumping_cutoff: what a kept pair that reaches the cut-off while it is pumped costs: ``"attempt"`` the
            whole chain attempt, ``"link"`` only its link, made again from a new kept pair while the other links
            keep theirs (module docstring, "Memory cut-off"). ``None`` (default): as ``cutoff_policy``; with
            ``cutoff_policy = "link"`` it can only be ``"link"``.
        num_pairs: end-to-end pairs to deliver, >= 1.
        max_restarts: chain attempts abandoned (cut-off) per pair before the
            run stops with an error, >= 0.

    Examples:
        >>> chain = ChainSpec(links=[LinkSpec(distance_km=10.0)] * 4, node=NodeSpec(name="n"),
        ...                   swapping="nested")
        >>> chain.num_nodes, chain.num_qubits, chain.qubit(2, "left"), chain.consumer(1)
        (5, 8, 3, 2)
        >>> ChainSpec(links=[LinkSpec(distance_km=10.0)] * 3, node=NodeSpec(name="n"), swapping="nested")
        Traceback (most recent call last):
            ...
        dqsim.errors.DqsimError: ChainSpec: swapping = "nested" needs a power-of-two number of links, got 3
    """

    links: Sequence[LinkSpec]
    node: NodeSpec
    swapping: str = "swap_asap"
    purification_rounds: int = 0
    purification: str = "bbpssw"
    cutoff_ps: int | None = None
    cutoff_policy: str = "attempt"
    pumping_cutoff: str | None = None
    num_pairs: int = 1
    max_restarts: int = 10_000
    _position_ps: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _broadcast_delay_ps: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = "ChainSpec"
        links = tuple(self.links)
        object.__setattr__(self, "links", links)
        if not links or not all(isinstance(link, LinkSpec) for link in links):
            raise DqsimError(f"{where}: links must be one or more LinkSpec, got {self.links!r}")
        if not isinstance(self.node, NodeSpec):
            raise DqsimError(f"{where}: node must be a NodeSpec, got {self.node!r}")
        check_choice(where, "swapping", self.swapping, SWAPPING_POLICIES)
        if self.swapping == "nested" and len(links) & (len(links) - 1):
            raise DqsimError(f'{where}: swapping = "nested" needs a power-of-two number of links, '
                             f"got {len(links)}")
        check_int(where, "purification_rounds", self.purification_rounds, 0, MAX_PURIFICATION_ROUNDS)
        check_choice(where, "purification", self.purification, PURIFICATION_PROTOCOLS)
        if self.cutoff_ps is not None:
            check_int(where, "cutoff_ps", self.cutoff_ps, 1)
        check_choice(where, "cutoff_policy", self.cutoff_policy, CUTOFF_POLICIES)
        if self.pumping_cutoff is None:
            object.__setattr__(self, "pumping_cutoff", self.cutoff_policy)
        check_choice(where, "pumping_cutoff", self.pumping_cutoff, CUTOFF_POLICIES)
        if self.cutoff_policy == "link" and self.pumping_cutoff != "link":
            raise DqsimError(f'{where}: pumping_cutoff = "{self.pumping_cutoff}" contradicts cutoff_policy = "link" '
                             '(a kept pair cut while pumped then makes its link alone again); leave pumping_cutoff out')
        check_int(where, "num_pairs", self.num_pairs, 1)
        check_int(where, "max_restarts", self.max_restarts, 0)
        for index, link in enumerate(links):
            if not link.success_probability > 0:
                raise DqsimError(f"{where}: link {index} ({link.distance_km:g} km) makes pairs with "
                                 "probability 0 per attempt; it can never deliver")
        position = [0]
        for link in links:
            position.append(position[-1] + link.delay_ps)
        object.__setattr__(self, "_position_ps", tuple(position))
        object.__setattr__(self, "_broadcast_delay_ps", self._farthest_from_b_ps())  # worked out once

    # -------------------------------------------------------- geometry
    @property
    def num_links(self) -> int:
        return len(self.links)

    @property
    def num_nodes(self) -> int:
        return len(self.links) + 1

    @property
    def memories_per_side(self) -> int:
        """Memories per link side: 2 with purification (kept + spare), else 1."""
        return 2 if self.purification_rounds else 1

    @property
    def num_qubits(self) -> int:
        """Register size: ``2·N·m``."""
        return 2 * self.num_links * self.memories_per_side

    def sides(self, node: int) -> tuple[str, ...]:
        """Link sides of ``node``: ``("right",)`` for A, ``("left",)`` for B, both for repeaters."""
        return tuple(side for side, ok in (("left", node > 0), ("right", node < self.num_links)) if ok)

    def qubit(self, node: int, side: str, slot: int = 0) -> int:
        """Register index of memory ``slot`` (0 kept, 1 spare) of ``node``'s ``side``."""
        m = self.memories_per_side
        if side not in self.sides(node) or not 0 <= slot < m:
            raise DqsimError(f"node {node} has no memory {slot} on its {side} side")
        offset = 0 if node == 0 else m * (2 * node - 1)
        return offset + (m if side == "right" and node > 0 else 0) + slot

    def qubit_owner(self) -> list[int]:
        """Node index of every register qubit."""
        m = self.memories_per_side  # the layout of qubit(): m memories at each end, 2m at every repeater
        repeaters = list(range(1, self.num_links)) * (2 * m)
        repeaters.sort()  # (merges 2m sorted runs, C-level: every rank makes the list, 2,046 qubits of 1,024 nodes)
        return [0] * m + repeaters + [self.num_links] * m

    def network(self, num_ranks: int = 1, placement: Sequence[int] | None = None) -> Network:
        """The chain as the run's :class:`~dqsim.network.network.Network`.

        Node ``i`` is named ``node{i}`` and has the hardware of :attr:`node`;
        link ``j`` joins nodes ``j`` and ``j + 1``. Its latencies are those of
        :meth:`latency_ps`.

        Args:
            num_ranks: ranks of the run.
            placement: rank of every node (default contiguous blocks).

        Raises:
            ResourceError: a placement that does not give every node a rank.
        """
        return Network.chain(self.node.renamed_all([f"node{i}" for i in range(self.num_nodes)]), self.links,
                             num_ranks=num_ranks, placement=placement)

    def latency_ps(self, source: int, dest: int) -> int:
        """Classical delay from node ``source`` to ``dest``: the fibre between them plus ``dest``'s processing."""
        return abs(self._position_ps[dest] - self._position_ps[source]) + self.node.classical_processing_delay_ps

    @property
    def broadcast_delay_ps(self) -> int:
        """Time for a message from B to reach every node (the next round starts then)."""
        delay = self.__dict__.get("_broadcast_delay_ps")  # (absent in a chain pickled before it was kept)
        return self._farthest_from_b_ps() if delay is None else delay

    def _farthest_from_b_ps(self) -> int:
        """Latency of B's message to the farthest node, ps (the maximum over all of them)."""
        last = self.num_links
        return max(self.latency_ps(last, other) for other in range(last))

    def applies_cutoff(self, node: int) -> bool:
        """Whether ``node`` applies the memory cut-off: every repeater, and end B of a chain of one link."""
        return 0 < node < self.num_links or node == self.num_links == 1

    @property
    def remakes_links(self) -> bool:
        """Whether a pair past the cut-off costs only its link, or its segment (``cutoff_policy = "link"``; a chain
        pickled before the policy existed has none: ``"attempt"``)."""
        return self.__dict__.get("cutoff_policy") == "link"

    def level(self, node: int) -> int:
        """Nested swapping level of repeater ``node``: 1 + its trailing zero bits."""
        return (node & -node).bit_length()

    def consumer(self, node: int) -> int:
        """Nested: the node that swaps the segment made by repeater ``node`` (B for the whole chain)."""
        half = node & -node
        left, right = node - half, node + half
        if left == 0 and right == self.num_links:
            return self.num_links
        level = self.level(node)
        return left if left > 0 and self.level(left) == level + 1 else right


# ------------------------------------------------------------------- records
class LinkRecord(NamedTuple):
    """One elementary link pair as its initiator saw it (one per link per chain attempt).

    A named tuple (its fields in this order): a 1,024-node chain makes
    thousands, which every rank gathers after the run
    (:meth:`ChainRecords.packed`).

    Attributes:
        pair_index / attempt: the round and the chain attempt within it.
        link_index: the link.
        attempts: link attempts spent, over every elementary pair made.
        elementary_pairs: elementary pairs made (kept, spare, regenerated).
        created_ps: emission time of the pair in the kept memory, ps.
        ready_ps: when the (purified) pair was ready at the initiator, ps.
        purify_successes / purify_failures: purification rounds kept / lost.
    """

    pair_index: int
    attempt: int
    link_index: int
    attempts: int
    elementary_pairs: int
    created_ps: int
    ready_ps: int
    purify_successes: int
    purify_failures: int


class Delivery(NamedTuple):
    """An end-to-end pair as B saw it (a named tuple, as :class:`LinkRecord`).

    Attributes:
        pair_index: the round.
        attempt: the chain attempt that delivered (= attempts abandoned before it).
        round_start_ps: when the round started at every node, ps.
        delivery_ps: when B held the corrected pair, ps.
    """

    pair_index: int
    attempt: int
    round_start_ps: int
    delivery_ps: int


#: A :class:`Delivery` / :class:`LinkRecord` from a plain tuple of its fields (see :meth:`ChainRecords.unpacked`).
_new_delivery, _new_link_record = partial(tuple.__new__, Delivery), partial(tuple.__new__, LinkRecord)

#: Sort keys of :attr:`ChainRecords.deliveries` (``pair_index``) and :attr:`ChainRecords.links`
#: (``(pair_index, attempt, link_index)``): their first fields.
_DELIVERY_ORDER, _LINK_ORDER = itemgetter(0), itemgetter(0, 1, 2)


@dataclass
class ChainRecords:
    """What a rank's nodes saw; merge the ranks' records with :meth:`merged`.

    The records of a chain attempt abandoned at the cut-off are kept only
    with ``every_attempt``: else an initiator folds its link's record of the
    attempt into ``abandoned_link_attempts`` when it hears of the abort, and
    no cut-off is listed in ``restarts``, so that a run whose cut-off abandons
    most attempts (up to ``max_restarts`` per pair) holds records in
    proportion to its pairs, not to its attempts (a 512-link chain lists up
    to 512 link records per attempt).

    Attributes:
        deliveries: :class:`Delivery` per pair (on B's rank).
        links: :class:`LinkRecord` per link per delivering chain attempt (on initiators' ranks); with
            ``every_attempt``, per link per chain attempt.
        restarts: with ``every_attempt``, ``(pair_index, attempt, node, time_ps)`` of every cut-off; else empty.
        swaps: ``(pair_index, attempt, node, time_ps)`` of every repeater's Bell measurement in a delivering
            chain attempt (on the repeaters' ranks; with ``every_attempt``, in every attempt): when its two
            memories stopped holding their link pairs.
        abandoned_link_attempts: without ``every_attempt``, ``pair_index -> link attempts`` of the
            elementary pairs made in that round's abandoned chain attempts (their records'
            ``attempts``, summed over links and attempts; for a link cut while its pair was pumped,
            which has no record, those of the pairs it had made).
        every_attempt: keep the records of abandoned attempts (tests; memory grows with each).
        relinks: with ``every_attempt``, ``(pair_index, attempt, node, side, time_ps)`` of every pair a node cut
            and whose link it made again: under ``cutoff_policy = "link"`` every pair cut, under the ``"link"``
            pumping cut-off alone every kept pair cut while it was pumped; else empty.
    """

    deliveries: list = field(default_factory=list)
    links: list = field(default_factory=list)
    restarts: list = field(default_factory=list)
    abandoned_link_attempts: dict = field(default_factory=dict)
    every_attempt: bool = False
    swaps: list = field(default_factory=list)
    relinks: list = field(default_factory=list)

    def swapped(self, pair_index: int, attempt: int, node: int, time_ps: int) -> None:
        """Repeater ``node`` measured its two memories in chain attempt ``(pair_index, attempt)`` at ``time_ps``."""
        # (records saved by a checkpoint before swaps were recorded have none: their pairs get no memory time)
        self.__dict__.setdefault("swaps", []).append((pair_index, attempt, node, time_ps))

    def forget_swap(self, pair_index: int, attempt: int, node: int) -> None:
        """Repeater ``node`` heard that chain attempt ``(pair_index, attempt)`` was abandoned: without
        :attr:`every_attempt` its swap of that attempt, if it made one (its latest), leaves :attr:`swaps`."""
        swaps = self.__dict__.get("swaps")
        if not self.every_attempt and swaps and swaps[-1][:3] == (pair_index, attempt, node):
            swaps.pop()

    def abandon(self, pair_index: int, attempt: int, link_index: int, pumping_attempts: int = 0) -> None:
        """An initiator heard that chain attempt ``(pair_index, attempt)`` was abandoned: fold its link's record.

        Without :attr:`every_attempt` the record of link ``link_index`` in that
        attempt, if its pair was made (the initiator's latest record), leaves
        :attr:`links` and its ``attempts`` join the round's
        :attr:`abandoned_link_attempts`; if there is none, ``pumping_attempts``
        (the link attempts of the elementary pairs made for a pair still being
        pumped at the cut-off) join them. With it, nothing changes.
        """
        links = self.links
        if self.every_attempt:
            return
        record = links[-1] if links else None
        if record is not None and (record.pair_index, record.attempt, record.link_index) == (pair_index, attempt,
                                                                                               link_index):
            pumping_attempts = links.pop().attempts
        if pumping_attempts:
            # (records saved by a checkpoint before the sums existed have none yet; those of their abandoned
            # attempts stay in links, where run_chain counts them as before)
            sums = self.__dict__.setdefault("abandoned_link_attempts", {})
            sums[pair_index] = sums.get(pair_index, 0) + pumping_attempts

    @staticmethod
    def merged(parts: Sequence["ChainRecords"]) -> "ChainRecords":
        """All ranks' records in one, sorted (the same on every rank given the same parts)."""
        out = ChainRecords()
        sums = out.abandoned_link_attempts
        for part in parts:
            out.deliveries += part.deliveries
            out.links += part.links
            out.restarts += part.restarts
            out.swaps += part.__dict__.get("swaps", [])
            out.relinks += part.__dict__.get("relinks", [])
            for pair_index, attempts in part.__dict__.get("abandoned_link_attempts", {}).items():
                sums[pair_index] = sums.get(pair_index, 0) + attempts
        out.deliveries.sort(key=_DELIVERY_ORDER)
        out.links.sort(key=_LINK_ORDER)
        out.restarts.sort()
        out.swaps.sort()
        out.relinks.sort()
        out.abandoned_link_attempts = dict(sorted(sums.items()))
        return out

    def packed(self) -> tuple[list, list, list, list, list, list]:
        """The records as plain tuples, ``(deliveries, links, restarts, abandoned, swaps, relinks)``: what ranks
        send each other.

        A plain tuple pickles in a third of the time of a named tuple (no
        class to call on unpickling); :meth:`unpacked` makes the records again.

        Examples:
            >>> records = ChainRecords([Delivery(0, 0, 0, 5)], [LinkRecord(0, 0, 1, 3, 1, 2, 4, 0, 0)],
            ...                        abandoned_link_attempts={0: 7})
            >>> records.packed()[1]
            [(0, 0, 1, 3, 1, 2, 4, 0, 0)]
            >>> again = ChainRecords.unpacked(records.packed())
            >>> again == records, again.links[0].created_ps, type(again.deliveries[0]).__name__
            (True, 2, 'Delivery')
        """
        return ([tuple(d) for d in self.deliveries], [tuple(r) for r in self.links], list(self.restarts),
                list(self.abandoned_link_attempts.items()), list(self.__dict__.get("swaps", [])),
                list(self.__dict__.get("relinks", [])))

    @staticmethod
    def unpacked(packed: tuple[list, ...]) -> "ChainRecords":
        """The :class:`ChainRecords` of :meth:`packed` records.

        Each record is made by ``tuple.__new__`` of its class, called from C
        (what ``_make`` does, without its Python call and length check: the
        tuples are :meth:`packed`'s, of the right length).
        """
        deliveries, links, restarts, abandoned, swaps, *relinks = packed  # (no relinks: packed before they were)
        return ChainRecords(list(map(_new_delivery, deliveries)), list(map(_new_link_record, links)),
                            list(restarts), dict(abandoned), swaps=list(swaps),
                            relinks=list(relinks[0]) if relinks else [])


# ----------------------------------------------------------------- processes
@dataclass
class _NodeRun:
    """Per-node bookkeeping of a node's chain processes, kept in ``ctx.node_data`` (saved with the node)."""

    current: tuple[int, int] | None = None           # (pair_index, attempt) running now
    early: dict = field(default_factory=dict)        # (pair_index, attempt) -> events that came early
    #: Chain attempts abandoned at the cut-off that this node has heard of (every node hears of every one: the
    #: cutting repeater tells all), over all rounds; the scenario's progress reads A's. (A class attribute too,
    #: so a node saved by a checkpoint before it existed reads 0.)
    abandoned: int = 0
    #: Initiators, with pumping and a cut-off: ``((pair_index, attempt), link attempts)`` of the elementary pairs
    #: its link side has made in that attempt so far (folded into the round's sums if the attempt is abandoned
    #: before the pair is pumped, :meth:`ChainRecords.abandon`). (A class attribute too, as ``abandoned``.)
    pumping: tuple | None = None
    #: With the ``"link"`` pumping cut-off: side -> how many times this node's link on that side has been made
    #: again in the current chain attempt (``None``: none yet; reset when an attempt starts). (A class attribute
    #: too, as ``abandoned``.)
    epochs: dict | None = None

    def epoch(self, side) -> int:
        """How many times ``side``'s link was made again in the current chain attempt (:attr:`epochs`; 0)."""
        return 0 if self.epochs is None else self.epochs.get(side, 0)

    def pop_early(self, key):
        """The oldest event of attempt ``key`` that came early, removed; ``None`` if there is none."""
        early = self.early.get(key)
        if not early:
            return None
        event = early.pop(0)
        if not early:
            del self.early[key]
        return event

    def keep_early(self, key, event) -> None:
        self.early.setdefault(key, []).append(event)


def setup_node_data(data: dict, every_attempt: bool = False) -> None:
    """Give a chain node's ``node_data`` its bookkeeping and records (the scenario calls this once per node).

    ``every_attempt``: keep the records of chain attempts abandoned at the cut-off (:class:`ChainRecords`).
    """
    data["chain_run"] = _NodeRun()
    data["records"] = ChainRecords(every_attempt=every_attempt)


# Where a LinkSide stands: each phase is one ``yield`` (see ChainNode).
(_READY, _SOURCE, _EMIT, _HERALD, _REQUEST, _HERALD_MESSAGE, _TWIRL, _MEASURE, _VERDICT) = range(9)
# Where a ChainNode stands.
_EVENT, _BITS, _READ, _SWAP, _ROUND, _ROUND_WAIT = range(6)


class LinkSide:
    """This node's end of one link for one chain attempt: pair, pumping rounds, then ``linked`` (a process).

    The initiator (``side == "right"``) runs :func:`~dqsim.protocols.epr.epr_initiator`'s
    steps, the responder answers; with purification, :func:`~dqsim.protocols.purify.purify_end`'s
    (see the module docstring). Everything it carries from one ``yield`` to the
    next is an attribute, as :class:`ChainNode` says. The process ends without
    acting once its attempt is no longer the node's current one (looked at
    after every ``yield``, before it may act).
    """

    #: The engine forgets it once it has ended (its results are in ``node_data``).
    kept_after_end = False
    #: Times the link was made again in this attempt, set by ``__init__``; this class default serves a side pickled
    #: in a checkpoint before the ``"link"`` pumping cut-off, whose ``__dict__`` has no ``epoch`` (its first making).
    epoch = 0

    def __init__(self, chain: ChainSpec, node: int, key: tuple[int, int], side: str, epoch: int = 0,
                 carried: tuple[int, int, int] = (0, 0, 0)):
        self.chain = chain
        self.node = node
        self.key = key
        self.side = side
        self.epoch = epoch                # times the link was made again in this attempt (``"link"`` cut-off)
        self.initiator = initiator = side == "right"
        self.peer = node + 1 if initiator else node - 1
        self.link_index = node if initiator else node - 1
        self.kept = chain.qubit(node, side, 0)
        self.spare = chain.qubit(node, side, 1) if chain.purification_rounds else None
        self.qubit = self.kept            # the memory of the elementary pair being made
        self.pair_tag = None              # its message tag
        self.peer_qubit = None            # its other memory (initiator)
        self.pair_attempts = self.pair_created_ps = self.pair_herald_ps = 0
        self.until_ps = 0                 # end of the wait for the source (initiator)
        self.successes = 0
        self.attempts, self.pairs, self.failures = carried  # (the link's earlier makings in this attempt)
        self.serial = epoch * _EPOCH_SERIALS
        self.created_ps = 0               # emission of the kept pair
        self.rounds_kept = 0              # purification rounds the kept pair has survived
        self.purify_tag = self.twirl = self.mine = None
        self.phase = None                 # None: not started

    def run(self, ctx):
        """The process body (see :class:`ChainNode` for how it is restarted at a ``yield``)."""
        chain, key, peer = self.chain, self.key, self.peer
        link = chain.links[self.link_index]
        run = ctx.node_data["chain_run"]
        if self.phase is None:
            self._start_pair(ctx)
        while True:
            phase = self.phase
            if phase == _READY:
                reply = yield ctx.receive(("epr-ready", self.pair_tag))
                if self._stale(run):
                    return
                self.peer_qubit = reply.payload
                wait_ps = source_wait_ps(ctx, peer, link)
                if wait_ps:
                    self.until_ps = ctx.now_ps + wait_ps
                    self.phase = _SOURCE
                else:
                    self._announce(ctx, link)
            elif phase == _EMIT:
                yield ctx.wait(self.pair_created_ps - ctx.now_ps)
                if self._stale(run):
                    return
                emit_pair(ctx, peer, link, self.qubit, self.peer_qubit, self.pair_attempts)
                self.phase = _HERALD
            elif phase == _HERALD:  # the station's herald is a classical message: the node acts on it c later,
                # as the responder does on the herald the initiator forwards (the engine adds c to that one)
                yield ctx.wait(self.pair_herald_ps + chain.node.classical_processing_delay_ps - ctx.now_ps)
                if self._stale(run):
                    return
                heralded(ctx, peer, self.pair_herald_ps, self.pair_created_ps, self.pair_attempts,
                         link.delivered_fidelity)
                if self._made(ctx):
                    return
            elif phase == _REQUEST:
                yield ctx.receive(("epr-request", self.pair_tag))
                if self._stale(run):
                    return
                ctx.reset([self.qubit])
                ctx.send(peer, ("epr-ready", self.pair_tag), self.qubit)
                self.phase = _HERALD_MESSAGE
            elif phase == _HERALD_MESSAGE:
                msg = yield ctx.receive(("epr-herald", self.pair_tag))
                if self._stale(run):
                    return
                self.pair_herald_ps, self.pair_created_ps, self.pair_attempts, _fidelity = msg.payload
                if self._made(ctx):
                    return
            elif phase == _SOURCE:
                yield ctx.wait(self.until_ps - ctx.now_ps)
                if self._stale(run):
                    return
                self._announce(ctx, link)
            elif phase == _TWIRL:
                msg = yield ctx.receive(("twirl",) + self.purify_tag)
                if self._stale(run):
                    return
                self.twirl = msg.payload
                self._purify_gates(ctx)
            elif phase == _MEASURE:
                (mine,) = yield ctx.measure([self.spare], error_probability=chain.node.measure_error_probability)
                if self._stale(run):
                    return
                self.mine = mine
                ctx.reset([self.spare])
                ctx.send(peer, ("purify", self.purify_tag), mine)
                self.phase = _VERDICT
            else:  # _VERDICT
                msg = yield ctx.receive(("purify", self.purify_tag))
                if self._stale(run):
                    return
                kept_ok = purify_verdict(ctx, peer, self.kept, self.mine, msg.payload, variant=chain.purification)
                self.serial += 1
                if kept_ok:
                    self.successes += 1
                    self.rounds_kept += 1
                    if self._next_round(ctx):
                        return
                else:  # both pairs lost: a new kept pair
                    self.failures += 1
                    if self.initiator and chain.cutoff_ps is not None:
                        run.pumping = (key, self.attempts, self.pairs, self.failures)
                    self._tell_kept(ctx, None)
                    self.qubit = self.kept
                    self._start_pair(ctx)

    def may_end_waiting(self, ctx) -> bool:
        """Whether the run may end with this process waiting: its attempt was abandoned (the engine asks,
        :meth:`dqsim.engine.process.ResumableProcess.may_end_waiting`)."""
        return self._stale(ctx.node_data["chain_run"])

    def _stale(self, run) -> bool:
        """Whether this link side's attempt has ended, or (``"link"`` pumping cut-off) its link has been made again
        since it started."""
        if run.current != self.key:
            return True
        return run.epochs is not None and run.epoch(self.side) != self.epoch

    def _start_pair(self, ctx) -> None:
        """Start an elementary pair into ``self.qubit``; the memory is reset when reserved."""
        pair_index, attempt = self.key
        self.pair_tag = ("repeater", pair_index, attempt, self.link_index, self.serial)
        if self.initiator:
            ctx.reset([self.qubit])
            ctx.send(self.peer, ("epr-request", self.pair_tag), self.qubit)
            self.phase = _READY
        else:
            self.phase = _REQUEST

    def _announce(self, ctx, link: LinkSpec) -> None:
        self.pair_attempts, self.pair_created_ps, self.pair_herald_ps = announce_pair(ctx, self.peer, link,
                                                                                       self.pair_tag)
        self.phase = _EMIT

    def _made(self, ctx) -> bool:
        """The elementary pair is heralded: next round, purification, or done (True: ``linked`` was sent)."""
        self.serial += 1
        self.attempts += self.pair_attempts
        self.pairs += 1
        if self.initiator and self.chain.cutoff_ps is not None and (self.chain.purification_rounds
                                                                     or self.chain.remakes_links):
            # (counted if cut off while pumped, and carried into the link's next making with the "link" cut-off)
            ctx.node_data["chain_run"].pumping = (self.key, self.attempts, self.pairs, self.failures)
        if self.qubit == self.kept:
            self.created_ps = self.pair_created_ps
            self.rounds_kept = 0
            if self.chain.purification_rounds:
                self._tell_kept(ctx, self.created_ps)
            return self._next_round(ctx)
        if self.chain.purification == "bbpssw" and not self.initiator:  # the initiator's twirl draw first
            self.phase = _TWIRL
        else:
            self._purify_gates(ctx)
        return False

    def _tell_kept(self, ctx, created_ps: int | None) -> None:
        """With pumping, where this node applies the cut-off: tell it that the kept memory holds a pair emitted
        at ``created_ps`` (``None``: lost to a failed purification), so that it times the cut-off from then on,
        while the pair is pumped (:class:`ChainNode`'s ``kept`` event)."""
        chain, node = self.chain, self.node
        if chain.cutoff_ps is not None and chain.applies_cutoff(node):
            ctx.send(node, (_TAG, self.key[0]), ("kept", self.key[1], self.side, created_ps, *self._epoch_field()))

    def _purify_gates(self, ctx) -> None:
        spec = self.chain.node
        purify_gates(ctx, self.kept, self.spare, variant=self.chain.purification, first=self.initiator,
                     gate_error=spec.gate_2q_error_probability, gate_1q_error=spec.gate_1q_error_probability,
                     twirl=self.twirl)
        self.phase = _MEASURE

    def _next_round(self, ctx) -> bool:
        """After a kept pair or a kept round: the next pumping round's spare pair, or ``linked`` (True)."""
        chain = self.chain
        pair_index, attempt = self.key
        if self.rounds_kept < chain.purification_rounds:
            self.purify_tag = purify_tag = ("repeater", pair_index, attempt, self.link_index, self.serial + 1)
            self.twirl = None
            if chain.purification == "bbpssw" and self.initiator:
                # shared randomness for the twirl: drawn here, it reaches the responder (one link delay)
                # before the spare pair's herald does (the handshake alone takes two)
                self.twirl = draw_twirl(ctx.stream(f"twirl-{self.peer}"))
                ctx.send(self.peer, ("twirl",) + purify_tag, self.twirl)
            self.qubit = self.spare
            self._start_pair(ctx)
            return False
        if self.initiator:
            ctx.node_data["records"].links.append(LinkRecord(
                pair_index, attempt, self.link_index, self.attempts, self.pairs, self.created_ps, ctx.now_ps,
                self.successes, self.failures))
        ctx.send(self.node, (_TAG, pair_index), ("linked", attempt, self.side, self.created_ps, *self._epoch_field()))
        return True

    def _epoch_field(self) -> tuple:
        """What a ``kept`` or ``linked`` event adds: with the ``"link"`` pumping cut-off the link's making (its
        node ignores one of an earlier making), else nothing."""
        return (self.epoch,) if self.chain.__dict__.get("pumping_cutoff") == "link" else ()  # (also "link" policy)


class Alarm:
    """A cut-off timer for one link side's pair (at a repeater, or end B of one link): a ``deadline`` message to
    its node after ``delay_ps``, which discards the pair then if it is still the side's (with pumping: the kept
    pair, pumped or not yet; not one that a failed purification replaced) and not swapped.

    A process. Sent only while the attempt ``key`` is still the node's current
    one: a later one, or the next round, would drop it, and a deadline of a
    pair delivered before it would stay in the node's mailbox to the end of
    the run (two per repeater and pair, in memory and in every checkpoint).
    """

    #: The engine forgets it once it has ended.
    kept_after_end = False

    def __init__(self, delay_ps: int, key: tuple[int, int], side: str):
        self.delay_ps = delay_ps
        self.key = key
        self.side = side

    def run(self, ctx):
        yield ctx.wait(self.delay_ps)
        pair_index, attempt = self.key
        if ctx.node_data["chain_run"].current == self.key:
            ctx.send(ctx.node, (_TAG, pair_index), ("deadline", attempt, self.side))


def _swap_gates(ctx, chain: ChainSpec) -> None:
    """The gates of this repeater's Bell measurement of its two link memories (CNOT, H)."""
    node, spec = ctx.node, chain.node
    left, right = chain.qubit(node, "left"), chain.qubit(node, "right")
    ctx.apply(gate_op("cx", [left, right]), error_probability=spec.gate_2q_error_probability)
    ctx.apply(gate_op("h", [left]), error_probability=spec.gate_1q_error_probability)


def _swap_measurement(ctx, chain: ChainSpec):
    """The Bell measurement's command after :func:`_swap_gates`.

    The repeater only passes its bits on to B, so it does not wait for them:
    B reads them (at the same outcomes and times as a blocking measurement
    would give), and a measurement of a pair spanning ranks does not hold up
    every other node of this repeater's rank until the next flush.
    """
    node = ctx.node
    return ctx.measure_later([chain.qubit(node, "left"), chain.qubit(node, "right")],
                             error_probability=chain.node.measure_error_probability)


def _swap_told(ctx, chain: ChainSpec, key: tuple[int, int], outcome, ends: tuple = ()) -> None:
    """After the Bell measurement: its outcome to B, the segment notice (nested; ``ends``: with the ``"link"``
    cut-off, the makings of the segment's end links, by which its consumer knows a notice of a discarded one)."""
    node = ctx.node
    pair_index, attempt = key
    if chain.cutoff_ps is None:  # no attempt is ever abandoned: B takes all of them in one receive
        ctx.send(chain.num_links, (_BITS_TAG, pair_index), outcome)
    else:
        ctx.send(chain.num_links, (_TAG, pair_index), ("bits", attempt, node, outcome))
    if chain.swapping == "nested":
        consumer = chain.consumer(node)
        if consumer != chain.num_links:
            ctx.send(consumer, (_TAG, pair_index), ("segment", attempt, "left" if node < consumer else "right",
                                                    *ends))
    ctx.count(("swaps", node), 1)
    ctx.log("swap", f"pair {pair_index} attempt {attempt}")


def _deliver(ctx, chain: ChainSpec, key, round_start_ps: int, bits: list) -> int:
    """B: Pauli-frame correction, Bell-weight probe, tell every node; returns the next round's start.

    ``bits``: the ``(m_z, m_x)`` of every repeater's Bell measurement.
    """
    pair_index, attempt = key
    last = chain.num_links
    mine, theirs = chain.qubit(last, "left"), chain.qubit(0, "right")
    flip_z = flip_x = 0
    for m_z, m_x in bits:
        flip_z ^= m_z
        flip_x ^= m_x
    error = chain.node.gate_1q_error_probability
    if flip_x:
        ctx.apply(gate_op("x", [mine]), error_probability=error)
    if flip_z:
        ctx.apply(gate_op("z", [mine]), error_probability=error)
    ctx.probe_bell_diagonal(theirs, mine, pair_index)
    ctx.node_data["records"].deliveries.append(Delivery(pair_index, attempt, round_start_ps, ctx.now_ps))
    next_start = ctx.now_ps + chain.broadcast_delay_ps
    # one tag, one payload; quiet: a node told of the delivery only waits for the next round (ChainNode.run)
    ctx.broadcast(range(last), (_TAG, pair_index), ("delivered", attempt, next_start), quiet_until_ps=next_start)
    ctx.log("delivered", f"pair {pair_index} after {attempt} restart(s)")
    return next_start


def _pair_key(tag) -> tuple[int, int] | None:
    """The chain attempt ``(pair_index, attempt)`` a link side's message tag names, else ``None``.

    Link sides tag their messages with their pair's tag (:meth:`LinkSide._start_pair`), ``("repeater",
    pair_index, attempt, link_index, serial)``: ``(kind, pair_tag)``, or ``("twirl",) + pair_tag``.
    """
    found = _link_serial(tag)
    return found[:2] if found is not None else None


def _link_serial(tag) -> tuple[int, int, int, int] | None:
    """``(pair_index, attempt, link_index, serial)`` of a link side's message tag (:func:`_pair_key`), else ``None``."""
    if type(tag) is not tuple or len(tag) < 2:
        return None
    pair_tag = tag[1] if type(tag[1]) is tuple else tag[1:]
    return pair_tag[1:] if len(pair_tag) == 5 and pair_tag[0] == "repeater" else None


def _drop_stale(ctx, key: tuple[int, int]) -> None:
    """Drop what this node holds of chain attempts before ``key``: their link sides' messages, the link sides
    that wait for an answer their abandoned peer will not send, and events that came early for them.

    Each abandoned attempt would otherwise leave a few of each for good (with purification, the twirl a
    responder had not yet taken and a link side waiting for its peer's purification outcome or herald).
    """
    ctx.discard(lambda tag: (pair := _pair_key(tag)) is not None and pair < key)
    early = ctx.node_data["chain_run"].early
    for old in [old for old in early if old < key]:
        del early[old]


def _abandon(ctx, chain: ChainSpec, key, side: str) -> None:
    """Cut-off: stop this attempt here and tell every other node."""
    pair_index, attempt = key
    ctx.node_data["chain_run"].current = None
    ctx.broadcast([other for other in range(chain.num_nodes) if other != ctx.node], (_TAG, pair_index),
                  ("abort", attempt))
    records = ctx.node_data["records"]
    if records.every_attempt:
        records.restarts.append((pair_index, attempt, ctx.node, ctx.now_ps))
    ctx.count(("cutoffs", ctx.node), 1)
    ctx.log("cutoff", f"pair {pair_index} attempt {attempt}: {side} pair reached the cut-off")


class ChainNode:
    """The process of one chain node for the whole run: ``chain.num_pairs`` rounds (see the module docstring).

    Start one on every node at time 0 after :func:`setup_node_data`; in the
    node's ``node_data["records"]`` B fills ``deliveries``, initiators
    ``links`` (and ``abandoned_link_attempts``), repeaters ``restarts``
    (:class:`ChainRecords`). Each chain attempt it starts a
    :attr:`link_side` process per link side, and with a cut-off an
    :attr:`alarm` process per elementary pair.

    These are *resumable* processes (the scenario mixes in
    :class:`dqsim.engine.process.ResumableProcess`, which this module does not
    import: protocols and engine are peers): everything a process carries from
    one ``yield`` to the next is an attribute (``phase`` says which ``yield``),
    so a checkpoint saves the object, with no step log, and a resumed run
    calls ``run`` again, which goes, without acting, to the ``yield`` of its
    phase; messages, operations, draws and records come after a ``yield``.
    Protocol state a node's processes share is in ``ctx.node_data``
    (:class:`_NodeRun`, the records, the source's next free time), saved with
    the node.

    Raises (from ``run``):
        DqsimError: more than ``chain.max_restarts`` attempts abandoned for one pair, or (``"link"`` pumping
            cut-off) more than that many kept pairs cut while pumped by one node for one pair (``cutoff_policy =
            "link"``: pairs cut).
    """

    #: Process classes of a link side and of a cut-off timer (the scenario's resumable ones).
    link_side = LinkSide
    alarm = Alarm
    #: The engine forgets it once it has ended (its results are in ``node_data``).
    kept_after_end = False

    def __init__(self, chain: ChainSpec):
        self.chain = chain
        self.pair_index = 0               # the round
        self.attempt = 0                  # the chain attempt within it
        self.start_ps = 0                 # when the round starts at every node
        self.linked: dict[str, int] = {}  # side -> emission of its link's pair (this attempt)
        self.kept: dict[str, int] = {}    # pumping, with a cut-off: side -> emission of its kept pair (this attempt)
        self.segments: set[str] = set()   # nested: sides whose segment is complete
        self.bits: dict[int, object] = {}  # B with a cut-off: repeater -> Outcome of its Bell measurement
        self.swapped = False
        self.outcomes = None              # B: the Outcomes it reads before the delivery
        self.phase = _ROUND

    def run(self, ctx):
        """The process body (yields engine commands; restartable at every ``yield``, see the class docstring)."""
        chain = self.chain
        node = ctx.node
        last = chain.num_links
        repeater = 0 < node < last
        cutoff = chain.cutoff_ps if repeater else None
        needs_segments = repeater and chain.swapping == "nested" and chain.level(node) > 1
        run = ctx.node_data["chain_run"]
        while True:
            phase = self.phase
            if phase == _EVENT:  # the next control message of this attempt: stale ones dropped, later ones kept
                pair_index, attempt = self.pair_index, self.attempt
                event = run.pop_early((pair_index, attempt)) if run.early else None
                if event is None:
                    msg = yield ctx.receive((_TAG, pair_index))
                    kind, msg_attempt, *data = msg.payload
                    if msg_attempt != attempt:
                        if msg_attempt > attempt:
                            run.keep_early((pair_index, msg_attempt), (kind, *data))
                        continue
                else:
                    kind, *data = event
                linked = self.linked
                if kind == "abort":
                    self._next_attempt(ctx)
                    continue
                if kind == "delivered":
                    self._next_round(ctx, data[0])
                    continue
                if kind == "linked":
                    side, created_ps, *making = data
                    if making and making[0] != run.epoch(side):
                        continue  # (a link made again since: "link" pumping cut-off)
                    linked[side] = created_ps
                    # (pumped: timed from its "kept" event on; a node saved before those were sent times it here)
                    timed = chain.purification_rounds and side in self.__dict__.get("kept", ())
                    if cutoff is not None and not timed:
                        ctx.spawn(self.alarm(max(0, created_ps + cutoff - ctx.now_ps), (pair_index, attempt), side))
                elif kind == "kept":  # pumping: the kept pair's cut-off runs while it is pumped
                    side, created_ps, *making = data
                    if making and making[0] != run.epoch(side):
                        continue
                    kept = self.__dict__.setdefault("kept", {})  # (a node saved before pumped pairs were timed)
                    if created_ps is None:
                        kept.pop(side, None)
                    else:
                        kept[side] = created_ps
                        ctx.spawn(self.alarm(max(0, created_ps + chain.cutoff_ps - ctx.now_ps),
                                             (pair_index, attempt), side))
                elif kind == "segment":
                    side, *ends = data
                    if ends:  # ("link" cut-off) the makings of the segment's end links: one since made again is stale
                        if ends[1 if side == "left" else 0] != run.epoch(side):
                            continue
                        self.segment_ends[side] = tuple(ends)  # (set up by _begin under the policy)
                    self.segments.add(side)
                elif kind == "bits":
                    self.bits[data[0]] = data[1]
                elif kind == "deadline":
                    side = data[0]
                    # the pair in the side's kept memory now: pumped or not yet, or none (a failed purification)
                    born = linked.get(side) if side in linked else self.__dict__.get("kept", {}).get(side)
                    if not self.swapped and born is not None and ctx.now_ps >= born + chain.cutoff_ps:
                        if chain.remakes_links or (chain.pumping_cutoff == "link" and side not in linked):
                            self._relink(ctx, side, run.epoch(side) + 1, tell=True, cut=True)  # its link alone
                            continue
                        _abandon(ctx, chain, (pair_index, attempt), side)
                        self._next_attempt(ctx)
                        continue
                elif kind == "relink":  # the link's other end discarded its pair ("link" cut-off), or its segment
                    side, making = data
                    if making > run.epoch(side):
                        if self.swapped and side in linked:  # swapped into a longer segment: it is discarded too
                            if chain.remakes_links:
                                self._unswap(ctx, side, making)
                                continue
                            _abandon(ctx, chain, (pair_index, attempt), side)  # (pumped here at the cut, swapped)
                            self._next_attempt(ctx)
                            continue
                        self._relink(ctx, side, making, tell=False)
                        continue
                elif kind == "void":  # B: a repeater's swap was undone (its segment discarded, "link" cut-off)
                    self.bits.pop(data[0], None)
                if node == last == 1 and "left" in linked and chain.cutoff_ps is not None \
                        and ctx.now_ps >= linked["left"] + chain.cutoff_ps:
                    # no repeater: B, an end, applies the cut-off to its pair (pumped that long) as a repeater would
                    if chain.remakes_links:
                        self._relink(ctx, "left", run.epoch("left") + 1, tell=True, cut=True)
                        continue
                    _abandon(ctx, chain, (pair_index, attempt), "left")
                    self._next_attempt(ctx)
                    continue
                if node == last and "left" in linked:
                    if chain.cutoff_ps is None:  # every repeater's outcome comes, on its own tag: one step for all
                        self.outcomes = [] if last == 1 else None
                        self.phase = _BITS if last > 1 else _READ
                        continue
                    if len(self.bits) == last - 1:
                        self.outcomes = list(self.bits.values())
                        self.phase = _READ
                        continue
                if (repeater and not self.swapped and len(linked) == 2
                        and (cutoff is None or (ctx.now_ps < linked["left"] + cutoff
                                                and ctx.now_ps < linked["right"] + cutoff))
                        and (not needs_segments or len(self.segments) == 2)):
                    _swap_gates(ctx, chain)
                    self.phase = _SWAP
            elif phase == _SWAP:
                outcome = yield _swap_measurement(ctx, chain)
                _swap_told(ctx, chain, (self.pair_index, self.attempt), outcome, self._segment_ends(ctx))
                ctx.node_data["records"].swapped(self.pair_index, self.attempt, ctx.node, ctx.now_ps)
                self.swapped = True
                self.phase = _EVENT
            elif phase == _BITS:
                messages = yield ctx.receive((_BITS_TAG, self.pair_index), count=last - 1)
                self.outcomes = [msg.payload for msg in messages]
                self.phase = _READ
            elif phase == _READ:
                values = yield ctx.read_outcomes(self.outcomes)
                self._next_round(ctx, _deliver(ctx, chain, (self.pair_index, self.attempt), self.start_ps, values))
            elif phase == _ROUND:
                if self.pair_index == chain.num_pairs:
                    return
                if self.start_ps > ctx.now_ps:
                    self.phase = _ROUND_WAIT
                else:
                    self._begin(ctx)
            else:  # _ROUND_WAIT
                yield ctx.wait(self.start_ps - ctx.now_ps)
                self._begin(ctx)

    def _begin(self, ctx) -> None:
        """Start chain attempt ``(pair_index, attempt)`` at this node: its link sides, empty bookkeeping."""
        key = (self.pair_index, self.attempt)
        run = ctx.node_data["chain_run"]
        run.current = key
        if run.epochs is not None:
            run.epochs = None
        node = ctx.node
        for side in self.chain.sides(node):
            ctx.spawn(self.link_side(self.chain, node, key, side))
        self.linked, self.segments, self.bits = {}, set(), {}
        self.kept = {}
        if self.chain.remakes_links:
            self.segment_ends = {}
        self.swapped = False
        self.outcomes = None
        self.phase = _EVENT

    def _next_attempt(self, ctx) -> None:
        """The attempt was abandoned: the next one, at once (this node's source stops its attempts now)."""
        ctx.node_data["chain_run"].abandoned += 1
        chain = self.chain
        if ctx.node < chain.num_links:  # the initiator of the link to its right: its generation there ends now
            abandon_generation(ctx, ctx.node + 1, chain.links[ctx.node])
            run = ctx.node_data["chain_run"]
            pumping = run.pumping
            made = pumping[1] if pumping is not None and pumping[0] == (self.pair_index, self.attempt) else 0
            ctx.node_data["records"].abandon(self.pair_index, self.attempt, ctx.node, made)
        if self.swapped:
            ctx.node_data["records"].forget_swap(self.pair_index, self.attempt, ctx.node)
        self.attempt += 1
        _drop_stale(ctx, (self.pair_index, self.attempt))
        if self.attempt > chain.max_restarts:
            cutoff_s = ps_to_seconds(chain.cutoff_ps) if chain.cutoff_ps else math.inf
            raise DqsimError(
                f"repeater chain: pair {self.pair_index} was abandoned {count_of(self.attempt, 'time')} at the "
                f"memory cut-off ({cutoff_s:g} s); raise the cut-off or max_restarts")
        self._begin(ctx)

    def _segment_ends(self, ctx) -> tuple:
        """``"link"`` cut-off, nested: the makings of the end links of the segment this repeater's swap makes (its
        own links' at level 1, else those its segments' notices gave), sent with its ``segment`` notice; else ()."""
        chain = self.chain
        if not (chain.remakes_links and chain.swapping == "nested"):
            return ()
        run = ctx.node_data["chain_run"]
        if chain.level(ctx.node) == 1:
            return run.epoch("left"), run.epoch("right")
        ends = self.segment_ends
        return ends["left"][0], ends["right"][1]

    def _unswap(self, ctx, side: str, making: int) -> None:
        """``"link"`` cut-off: the link on ``side`` was made again at its other end while this repeater had swapped
        its pair into a longer segment, which is therefore discarded: the swap is undone (B is told to forget its
        bits, the repeater will swap again), both links are made again, and the link on the other side is told,
        so the discard runs on to the segment's other end, through every repeater that had swapped into it."""
        run = ctx.node_data["chain_run"]
        pair_index, attempt, node = self.pair_index, self.attempt, ctx.node
        self.swapped = False
        ctx.node_data["records"].forget_swap(pair_index, attempt, node)
        ctx.send(self.chain.num_links, (_TAG, pair_index), ("void", attempt, node))
        ctx.count(("unswaps", node), 1)
        ctx.log("cutoff", f"pair {pair_index} attempt {attempt}: the segment through this repeater was discarded")
        other = "right" if side == "left" else "left"
        self._relink(ctx, side, making, tell=False)
        self._relink(ctx, other, run.epoch(other) + 1, tell=True)

    def _relink(self, ctx, side: str, making: int, *, tell: bool, cut: bool = False) -> None:
        """``"link"`` cut-off: the link on ``side`` is made again (its ``making``-th time in this attempt)
        from a new (kept) pair, at once; this node's pairs of it are discarded (its memories are reset when reserved
        again), what it holds of the earlier making dropped. ``tell``: the link's other end is told, and does the
        same when it hears of it (if it had not cut it at the same instant). ``cut``: this node cut the pair at its
        deadline (bounded by ``max_restarts`` per round, and counted: ``("pumping_cutoffs", node)`` for a kept pair
        cut while it was pumped, ``("link_cutoffs", node)`` for a linked one, its pumping over or none; before
        2026-12-07 (later) every cut of a chain with pumping was counted as ``pumping_cutoffs``)."""
        chain, node = self.chain, ctx.node
        run = ctx.node_data["chain_run"]
        key = (self.pair_index, self.attempt)
        pumped = side not in self.linked  # (a cut pair not linked is a kept pair being pumped)
        epochs = run.epochs = dict(run.epochs or {})
        epochs[side] = making
        self.kept.pop(side, None)
        self.linked.pop(side, None)
        self.segments.discard(side)  # (nested: the segment on that side held this link's pair)
        link_index = node if side == "right" else node - 1
        base = making * _EPOCH_SERIALS
        ctx.discard(lambda tag: (found := _link_serial(tag)) is not None and found[:3] == (*key, link_index)
                    and found[3] < base)
        carried = (0, 0, 0)
        if side == "right":  # the initiator: its source stops now; the link's record counts the earlier makings
            abandon_generation(ctx, node + 1, chain.links[node])
            pumping = run.pumping
            if pumping is not None and pumping[0] == key and len(pumping) == 4:
                carried = pumping[1:]
            links = ctx.node_data["records"].links
            if links and links[-1][:3] == (*key, link_index):  # pumped here before the other end's cut came
                links.pop()
        if cut:
            cuts = self.relinks_in_round = self.__dict__.get("relinks_in_round", 0) + 1
            what = "pairs" if chain.remakes_links else "kept pairs while pumped"
            if cuts > chain.max_restarts:  # (a cut-off that lets no pair be swapped would run on without an end)
                cutoff_s = ps_to_seconds(chain.cutoff_ps)
                raise DqsimError(
                    f"repeater chain: pair {key[0]}: node {node} cut {what} {count_of(cuts, 'time')} "
                    f"at the memory cut-off ({cutoff_s:g} s); raise the cut-off or max_restarts")
            records = ctx.node_data["records"]
            if records.every_attempt:
                records.__dict__.setdefault("relinks", []).append((*key, node, side, ctx.now_ps))
            ctx.count(("pumping_cutoffs" if pumped else "link_cutoffs", node), 1)
            ctx.log("cutoff", f"pair {key[0]} attempt {key[1]}: {side} pair reached the cut-off; its link made again")
        if tell:
            peer, peer_side = (node + 1, "left") if side == "right" else (node - 1, "right")
            ctx.send(peer, (_TAG, self.pair_index), ("relink", self.attempt, peer_side, making))
        ctx.spawn(self.link_side(chain, node, key, side, making, carried))

    def _next_round(self, ctx, next_start_ps: int) -> None:
        """The pair was delivered: the next round starts at ``next_start_ps`` (or the run ends)."""
        run = ctx.node_data["chain_run"]
        run.current = None  # (this attempt's link sides have ended; its timers need not ring)
        if run.epochs:  # what links made again ("link" pumping cut-off) left of this round, and its abandoned attempts
            _drop_stale(ctx, (self.pair_index + 1, 0))
        elif self.attempt:  # what the round's abandoned attempts left here since the last one
            _drop_stale(ctx, (self.pair_index, self.attempt))
        self.pair_index += 1
        self.attempt = 0
        if self.__dict__.get("relinks_in_round"):
            self.relinks_in_round = 0
        self.start_ps = next_start_ps
        self.phase = _ROUND
