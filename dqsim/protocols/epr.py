"""Heralded EPR-pair generation over one link.

Two sub-protocols, one per end: parts whose state is in attributes
(:class:`EprInitiator`, :class:`EprResponder`, :mod:`dqsim.protocols.parts`:
a resumable process saves them in a checkpoint), and the generators
:func:`epr_initiator` and :func:`epr_responder` that run them for
:mod:`dqsim.engine`:

1. the initiator asks the responder to reserve a communication qubit
   (a classical message, one link latency);
2. the responder reserves it and answers (one more latency);
3. attempts start, one every ``link.attempt_period_ps`` (at least the round
   trip to the heralding station, :func:`dqsim.network.entanglement.attempt_period_ps`);
   each succeeds with ``link.success_probability``. The source limits every
   emission, also across pairs: the first attempt of a pair comes at least
   one source period (``link.effective_source_period_ps``) after the last
   emission this node made on the link for an earlier pair (kept in
   ``ctx.node_data``, so a link never emits faster than its source rate
   however short its handshake). Generations that overlap on one link are
   not interleaved: one that starts while an earlier one has emissions to
   come waits until one period after that one's last emission; a generation
   given up before its success (a repeater chain's cut-off) frees the source
   one period after its last attempt (:func:`abandon_generation`). The number of attempts is
   drawn at once from the geometric distribution with that probability (from
   the initiator's counter-based stream), which gives the same timing and
   statistics as simulating attempt after attempt;
4. the pair exists from the emission of the successful attempt: the initiator
   issues the Bell-pair operation at that time, with the Werner parameter of
   ``link.delivered_fidelity`` where that pair is a Werner state
   (``link.delivers_werner``), else the exact heralded state
   ``link.delivered_state`` (single-click: not Bell diagonal; double-click
   with dark counts: Bell diagonal, not Werner; the initiator's qubit is its
   low bit), while the responder's qubit is reserved
   (DESIGN.md invariant 2). For ``"direct"`` the initiator is the sender:
   the responder's memory takes its half when the photon arrives, one link
   delay later, and decoheres from then on (``ctx.bell_pair(...,
   arrival_ps=...)``); in the midpoint schemes both spins are entangled with
   their photons from the emission;
5. the herald reaches both ends ``link.herald_delay_ps`` after that
   emission (the round trip to the station: one link delay for midpoint
   schemes, two for ``"direct"``); each end acts on it, and its process
   returns, its node's classical processing delay later
   (``NodeSpec.classical_processing_delay_ps``, ``ctx.processing_delay_ps``):
   the responder's herald is a message from the initiator along the link
   itself (``ctx.send_over_link``,
   :meth:`~dqsim.network.network.Network.link_latency_ps`: the station sits
   on the link, so its herald travels that fibre even where a route through
   other nodes is shorter), which the engine delays by that, and the
   initiator waits for it. Both ends act at the same time when their delays
   are equal. The memories hold the pair, and decohere, meanwhile. The
   other messages (the handshake of steps 1 and 2, and those of the
   protocols that use the pair: swaps, teleportation) go between the nodes
   along the route of least length, as every classical message does
   (:meth:`~dqsim.network.network.Network.latency_ps`).

Each attempt counts the photons it sent (``link.photons_per_attempt``: two
for Barrett-Kok, one from each node; one for ``"direct"``); for single-click
each node's pulse holds a photon with probability α, and a pair's ``n``
attempts are ``n - 1`` that failed and one that heralded, so its photons are
drawn exactly from their conditional laws
(:func:`~dqsim.network.entanglement.single_click_photon_laws`, Bayes' rule
on the herald probability of 0, 1 or 2 sent photons; :func:`single_click_photons`).
Their mean is ``2α·n`` on average over pairs, as the binomial of ``2n``
trials drawn until 2026-12-07 (late night) had it, but not their spread:
without dark counts a heralding attempt sent at least one photon.

Both ends finish with an :class:`EprResult`.
"""

from __future__ import annotations

from dataclasses import dataclass

from dqsim.network.link import LinkSpec
from dqsim.network.werner import werner_from_fidelity
from dqsim.protocols.parts import drive

#: Key of ``ctx.node_data`` holding, per peer, the earliest time this node's source may emit again on that link, ps.
_SOURCE_FREE = "epr_source_free_ps"

#: Key of ``ctx.node_data`` holding, per peer, ``(first_ps, created_ps)`` of this node's last generation on that
#: link: its first attempt and its (planned) successful emission, ps (:func:`abandon_generation`).
_GENERATION = "epr_generation_ps"

#: Werner parameter of each delivered fidelity seen (a link's fidelity is fixed: computed and checked once).
_WERNER: dict[float, float] = {}


@dataclass(frozen=True)
class EprResult:
    """A heralded pair as one end sees it.

    Attributes:
        herald_ps: time the herald reached this end, ps (the node acts on it, and the pair is usable, its
            classical processing delay later).
        created_ps: emission time of the successful attempt, ps.
        attempts: attempts it took (>= 1).
        fidelity: fidelity ``⟨Φ+|ρ|Φ+⟩`` of the delivered pair (``link.delivered_fidelity``).
    """

    herald_ps: int
    created_ps: int
    attempts: int
    fidelity: float


def _result(herald_ps: int, created_ps: int, attempts: int, fidelity: float) -> EprResult:
    """``EprResult(...)`` without the frozen dataclass's ``__init__`` (an equal object, made in a fraction of
    the time: the protocols make one per pair end)."""
    result = object.__new__(EprResult)
    result.__dict__.update(herald_ps=herald_ps, created_ps=created_ps, attempts=attempts, fidelity=fidelity)
    return result


def _source_free_ps(data: dict, peer: int) -> int:
    """Earliest time this node's source may emit again on the link to ``peer``, ps (0: never used)."""
    return data.get(_SOURCE_FREE, {}).get(peer, 0)


def _set_source_free(data: dict, peer: int, time_ps: int) -> None:
    data.setdefault(_SOURCE_FREE, {})[peer] = time_ps


def _generation_of(data: dict, peer: int):
    """``(first_ps, created_ps)`` of this node's last generation on the link to ``peer`` (``None``: none booked)."""
    return data.get(_GENERATION, {}).get(peer)


def _set_generation(data: dict, peer: int, first_ps: int, created_ps: int) -> None:
    data.setdefault(_GENERATION, {})[peer] = (first_ps, created_ps)


def epr_initiator(ctx, peer: int, link: LinkSpec, my_qubit: int, tag):
    """Initiator side of heralded generation on ``link`` to node ``peer``; yields engine commands.

    Returns:
        the :class:`EprResult` at the herald (the steps of :class:`EprInitiator`).
    """
    return (yield from drive(ctx, EprInitiator(peer, link, my_qubit, tag)))


# Where an EprInitiator / EprResponder stands: each phase is one ``yield`` (dqsim.protocols.parts).
_READY, _SOURCE, _EMIT, _HERALD, _REQUEST, _HERALD_MESSAGE = range(6)


class EprInitiator:
    """The initiator's end of one heralded pair as a part (:mod:`dqsim.protocols.parts`; steps 1-5 above).

    Args:
        peer: the node at the link's other end.
        link: the link's :class:`~dqsim.network.link.LinkSpec`.
        my_qubit: this node's memory for the pair.
        tag: the pair's message tag (unique in the run).
    """

    def __init__(self, peer: int, link: LinkSpec, my_qubit: int, tag):
        self.peer = peer
        self.link = link
        self.my_qubit = my_qubit
        self.tag = tag
        self.peer_qubit = None
        self.until_ps = self.attempts = self.created_ps = self.herald_ps = 0
        self.phase = _READY
        self.result = None

    def start(self, ctx) -> bool:
        ctx.send(self.peer, ("epr-request", self.tag), self.my_qubit)
        return False

    def command(self, ctx):
        phase = self.phase
        if phase == _READY:
            return ctx.receive(("epr-ready", self.tag))
        if phase == _SOURCE:
            return ctx.wait(self.until_ps - ctx.now_ps)
        if phase == _EMIT:
            return ctx.wait(self.created_ps - ctx.now_ps)
        return ctx.wait(self.herald_ps + ctx.processing_delay_ps - ctx.now_ps)  # (step 5: the node acts on it)

    def advance(self, ctx, value) -> bool:
        phase, peer, link = self.phase, self.peer, self.link
        if phase == _READY:
            self.peer_qubit = value.payload
            wait_ps = source_wait_ps(ctx, peer, link)
            if wait_ps:
                self.until_ps = ctx.now_ps + wait_ps
                self.phase = _SOURCE
                return False
            phase = _SOURCE
        if phase == _SOURCE:
            self.attempts, self.created_ps, self.herald_ps = announce_pair(ctx, peer, link, self.tag)
            self.phase = _EMIT
        elif phase == _EMIT:
            emit_pair(ctx, peer, link, self.my_qubit, self.peer_qubit, self.attempts)
            self.phase = _HERALD
        else:
            self.result = heralded(ctx, peer, self.herald_ps, self.created_ps, self.attempts, link.delivered_fidelity)
            return True
        return False


def source_wait_ps(ctx, peer: int, link: LinkSpec) -> int:
    """Step 3's wait before the first attempt, ps: until this node's source may emit again on ``link`` (0: none).

    Also checks the link: the initiator calls it once the responder is ready.

    Raises:
        ValueError: a link whose success probability is 0.
    """
    if link.success_probability <= 0:
        raise ValueError(f"link to node {peer} has success probability 0; it can never make a pair")
    if not link.effective_source_period_ps:
        return 0
    free = ctx.record(_source_free_ps, ctx.node_data, peer)  # an earlier pair's last emission on this link
    return free - ctx.now_ps if free > ctx.now_ps else 0


def announce_pair(ctx, peer: int, link: LinkSpec, tag) -> tuple[int, int, int]:
    """Steps 3 and 5 at the first attempt: draw the attempts, book the source, send ``peer`` the herald.

    The herald reaches ``peer`` along the link (``ctx.send_over_link``): at
    ``herald_ps`` (in the engine, the link's delay ``d`` at least
    ``Network.min_link_delay_ps``: ``d - link.delay_ps`` later) plus
    ``peer``'s classical processing delay, never along a shorter route.

    Returns:
        ``(attempts, created_ps, herald_ps)``: attempts it takes, emission time
        of the successful one and the herald's time at both ends, ps.
    """
    start = ctx.now_ps
    attempts = ctx.stream(f"epr-attempts-{peer}").geometric(link.success_probability)
    created = start + (attempts - 1) * link.attempt_period_ps
    source_period = link.effective_source_period_ps
    if source_period:
        ctx.effect(_set_source_free, ctx.node_data, peer, created + source_period)
        ctx.effect(_set_generation, ctx.node_data, peer, start, created)
    herald = created + link.herald_delay_ps
    ctx.send_over_link(peer, ("epr-herald", tag), (herald, created, attempts, link.delivered_fidelity),
                       extra_delay_ps=herald - (start + link.delay_ps))  # (the station's herald: along the link)
    return attempts, created, herald


def abandon_generation(ctx, peer: int, link: LinkSpec) -> None:
    """This node gives up its generation on ``link`` to ``peer`` now: its source is free one source period after
    the last attempt it made, not after the planned success.

    :func:`announce_pair` books the source until one period after the
    successful emission it drew; a protocol that abandons the pair before that
    emission (a repeater chain's cut-off) made its last attempt at or before
    now, on the attempt grid from the first. A generation whose emissions are
    over keeps its booking. Without a source period nothing is booked.
    """
    source_period = link.effective_source_period_ps
    if not source_period:
        return
    generation = ctx.record(_generation_of, ctx.node_data, peer)
    now = ctx.now_ps
    if generation is None or generation[1] <= now:
        return
    first, _planned = generation
    period = link.attempt_period_ps
    last = first + (now - first) // period * period  # (first <= now: the first attempt is made when it is booked)
    ctx.effect(_set_source_free, ctx.node_data, peer, last + source_period)
    ctx.effect(_set_generation, ctx.node_data, peer, first, last)


def emit_pair(ctx, peer: int, link: LinkSpec, my_qubit: int, peer_qubit: int, attempts: int) -> None:
    """Step 4 at the successful attempt's emission: the pair's operation, and the attempts' counts."""
    if not link.delivers_werner:  # single click, double click with dark counts: the exact 4x4 state (read only)
        werner = link.delivered_state
    else:
        fidelity = link.delivered_fidelity
        werner = _WERNER.get(fidelity)
        if werner is None:
            werner = _WERNER[fidelity] = werner_from_fidelity(fidelity)
    # direct: the photon reaches the far memory one link delay after its emission; midpoint schemes: both
    # memories hold their spins (entangled with the photons) from the emission
    ctx.bell_pair(my_qubit, peer_qubit, werner, arrival_ps=link.delay_ps if link.scheme == "direct" else 0)
    me = ctx.node
    ctx.count(("attempts", me, peer), attempts)
    if link.scheme == "single_click":
        photons = single_click_photons(ctx.stream(f"epr-photons-{peer}").next_transient_generator(), attempts,
                                       link.single_click_photon_laws)
    else:
        photons = attempts * link.photons_per_attempt
    ctx.count(("photons", me, peer), photons)
    ctx.count(("pairs", me, peer), 1)


def single_click_photons(rng, attempts: int, laws) -> int:
    """Photons the two nodes sent over a single-click pair's ``attempts`` (>= 1): the ``attempts - 1`` failed
    ones from ``laws[0]`` (a multinomial count of attempts that sent 0, 1 and 2 photons) and the heralding one
    from ``laws[1]`` (``laws``: :attr:`~dqsim.network.link.LinkSpec.single_click_photon_laws`), all from ``rng``.

    Examples:
        >>> import numpy as np
        >>> laws = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))  # failures send none, the herald one
        >>> single_click_photons(np.random.default_rng(1), 5, laws)
        1
    """
    failed, heralded = laws
    counts = rng.multinomial(attempts - 1, failed)
    u = rng.random()
    last = 0 if u < heralded[0] else (1 if u < heralded[0] + heralded[1] else 2)
    return int(counts[1] + 2 * counts[2]) + last


def heralded(ctx, peer: int, herald_ps: int, created_ps: int, attempts: int, fidelity: float) -> EprResult:
    """The initiator's :class:`EprResult` at the herald (step 5), logged on the timeline."""
    if ctx.logging:  # the detail is only formatted for a timeline
        ctx.log("epr", f"pair with {ctx.name_of(peer)} after {attempts} attempts, F={fidelity:.4f}")
    return _result(herald_ps, created_ps, attempts, fidelity)


def epr_responder(ctx, peer: int, my_qubit: int, tag):
    """Responder side: reserve ``my_qubit``, answer, and wait for the herald; yields engine commands.

    Returns:
        the :class:`EprResult` the herald carries (the steps of :class:`EprResponder`).
    """
    return (yield from drive(ctx, EprResponder(peer, my_qubit, tag)))


class EprResponder:
    """The responder's end of one heralded pair as a part (:mod:`dqsim.protocols.parts`).

    It waits for the initiator's request, answers with ``my_qubit`` (now
    reserved) and finishes at the herald. Args as :class:`EprInitiator`'s.
    """

    def __init__(self, peer: int, my_qubit: int, tag):
        self.peer = peer
        self.my_qubit = my_qubit
        self.tag = tag
        self.phase = _REQUEST
        self.result = None

    def start(self, ctx) -> bool:
        return False

    def command(self, ctx):
        return ctx.receive(("epr-request" if self.phase == _REQUEST else "epr-herald", self.tag))

    def advance(self, ctx, value) -> bool:
        if self.phase == _REQUEST:
            ctx.send(self.peer, ("epr-ready", self.tag), self.my_qubit)
            self.phase = _HERALD_MESSAGE
            return False
        self.result = _result(*value.payload)
        return True
