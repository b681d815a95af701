"""What a pumping round of :mod:`dqsim.protocols.repeater` does on average under the chain's noise: its success
probability and the kept pair it leaves, from exact density matrices with the engine's own channels.

The repeater chain pumps a link's *kept* pair with *spare* pairs (Dür & Briegel, PRL 98, 190503 (2007); Dür &
Briegel, Rep. Prog. Phys. 70, 1381 (2007), section 5.2), each round BBPSSW (Bennett et al., PRL 76, 722 (1996):
a twirl, then the bilateral CNOT) or DEJMPS (Deutsch et al., PRL 77, 2818 (1996): ``Rx(±π/2)``, then the
bilateral CNOT), kept when the two ends' measured bits agree (:mod:`dqsim.protocols.purify`). For two Werner
pairs of fidelities ``F_k``, ``F_s`` and ideal memories and gates a round succeeds with ``F_k·F_s + F_k·g_s +
g_k·F_s + 5·g_k·g_s`` (``g = (1 − F)/3``) and keeps ``(F_k·F_s + g_k·g_s)/`` that
(:meth:`dqsim.jobs.repeater.ChainSection._pumping_success`). Under the job's noise the simulation gives
something else, and this module follows it step by step (:class:`PumpingNoise`), with the engine's channels
(:mod:`dqsim.state.small`, :func:`dqsim.state.noise.idle_parameters`) on the 16×16 density matrix of the two
pairs, so the two agree exactly (``tests/test_pumping_odds.py`` checks it against simulated rounds):

* the pair as the link delivers it (:attr:`~dqsim.network.link.LinkSpec.delivered_state`), emitted at ``E``;
  both memories hold it from ``E`` (the responder's from ``E + d`` on a ``"direct"`` link, its photon in flight);
* T1/T2 decay of each memory for the time since it was last touched (:func:`idle_pair`): the kept pair from its
  emission (round 1) or the round before's gates (round ``j > 1``) to this round's gates, the spare pair from its
  emission to the gates, ``g + c`` (the herald's delay and the node's processing delay);
* BBPSSW's twirl averaged over its twelve rotations (``U`` at the initiator, ``U*`` at the responder,
  :func:`~dqsim.protocols.purify.twirl_rotation`), or DEJMPS's ``Rx(π/2)``/``Rx(−π/2)``, each followed by the
  one-qubit depolarising ``gate_1q_error_probability``; the CNOT (kept → spare) at each end followed by the
  two-qubit depolarising ``gate_2q_error_probability``; the spares measured in Z, each reported bit flipped with
  ``measure_error_probability``; the round kept when the reported bits agree.

A round is linear in the kept pair's (unnormalised) state, so rounds chain: round ``j``'s success probability
given the rounds before succeeded is the trace after ``j`` rounds over the trace after ``j − 1``
(:class:`PumpingOdds` for given waits, :func:`mean_pumping` averaged over the spare pairs' attempts).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from dqsim.checks import check_real
from dqsim.protocols.purify import TWIRL_SIZE, twirl_rotation
from dqsim.state.gates import gate_op
from dqsim.state.noise import idle_parameters
from dqsim.state.small import conjugate, damp, depolarizing_mix, op_matrix
from dqsim.units import ps_to_seconds

__all__ = ["PumpingNoise", "PumpingOdds", "idle_pair", "pumping_round", "mean_pumping", "bell_fidelity_of"]


@dataclass(frozen=True)
class PumpingNoise:
    """The noise a pumping round meets in the chain: the nodes' :class:`~dqsim.network.node.NodeSpec` fields
    (T1, T2 in s; error probabilities in [0, 1]) and the protocol (``"bbpssw"`` or ``"dejmps"``)."""

    variant: str = "bbpssw"
    t1_s: float = math.inf
    t2_s: float = math.inf
    gate_1q_error_probability: float = 0.0
    gate_2q_error_probability: float = 0.0
    measure_error_probability: float = 0.0

    @property
    def noiseless(self) -> bool:
        """Whether memories keep their pairs and gates and readout are ideal (the Werner formulas then hold)."""
        return (math.isinf(self.t1_s) and math.isinf(self.t2_s) and self.gate_1q_error_probability == 0
                and self.gate_2q_error_probability == 0 and self.measure_error_probability == 0)


def bell_fidelity_of(rho: np.ndarray) -> float:
    """``⟨Φ+|ρ|Φ+⟩`` of a two-qubit ρ (4×4, little-endian), normalised by its trace."""
    return float((rho[0, 0] + rho[0, 3] + rho[3, 0] + rho[3, 3]).real / 2.0 / rho.trace().real)


def idle_pair(rho: np.ndarray, wait_a_ps: float, wait_b_ps: float, t1_s: float, t2_s: float) -> np.ndarray:
    """A pair (4×4, bit 0 the initiator's qubit) after its memories waited ``wait_a_ps``, ``wait_b_ps`` (ps): the
    engine's idle channel on each qubit (:func:`dqsim.state.small.damp` of
    :func:`dqsim.state.noise.idle_parameters`, as :meth:`dqsim.engine.quantum.QuantumMemory.decohere` applies).

    Examples:
        >>> rho = np.zeros((4, 4), complex); rho[0, 0] = rho[0, 3] = rho[3, 0] = rho[3, 3] = 0.5
        >>> round(bell_fidelity_of(idle_pair(rho, 5e11, 5e11, math.inf, 1.0)), 6)  # coherence e^(-2·0.5/1)
        0.68394
    """
    out = rho
    for position, wait_ps in enumerate((wait_a_ps, wait_b_ps)):
        if wait_ps > 0:
            gamma, dephase = idle_parameters(ps_to_seconds(wait_ps), t1_s, t2_s)
            out = damp(out, 2, position, gamma, dephase)
    return out


@functools.lru_cache(maxsize=8)
def _local_ops(variant: str) -> tuple:
    """The local unitaries of a round before its CNOT, per end: BBPSSW's twelve twirl pairs ``(U, U*)`` (averaged),
    or DEJMPS's one ``(Rx(π/2), Rx(−π/2))``."""
    if variant == "bbpssw":
        return tuple((twirl_rotation(i), twirl_rotation(i, conjugate=True)) for i in range(TWIRL_SIZE))
    if variant == "dejmps":
        return ((op_matrix(gate_op("rx", [0], [math.pi / 2]))[0], op_matrix(gate_op("rx", [0], [-math.pi / 2]))[0]),)
    raise ValueError(f"variant = {variant!r}; allowed: bbpssw, dejmps")


def _prepared(rho: np.ndarray, noise: PumpingNoise) -> np.ndarray:
    """One pair after its round's local rotations (averaged over BBPSSW's twirl) and their one-qubit noise."""
    ops = _local_ops(noise.variant)
    mixed = sum(conjugate(conjugate(rho, 2, first, [0]), 2, second, [1]) for first, second in ops) / len(ops)
    weight = noise.gate_1q_error_probability * 4.0 / 3.0  # (SmallStates.depolarize's weight for one qubit)
    for position in (0, 1):
        mixed = depolarizing_mix(mixed, 2, [position], weight)
    return mixed


def pumping_round(kept: np.ndarray, spare: np.ndarray, noise: PumpingNoise) -> tuple[float, np.ndarray]:
    """One round on a kept and a spare pair (4×4 each, bit 0 the initiator's; ``kept`` may be unnormalised):
    ``(success, kept')``, the probability that the reported bits agree (times ``kept``'s trace) and the kept pair
    then, unnormalised (its trace is ``success``). The steps of :func:`dqsim.protocols.purify.purify_end` at both
    ends, with the noise of the module docstring.

    Examples:
        >>> from dqsim.network.werner import bbpssw_fidelity, bbpssw_success_probability
        >>> w = (4 * 0.9 - 1) / 3
        >>> rho = (1 - w) / 4 * np.eye(4, dtype=complex)
        >>> rho[0, 0] += w / 2; rho[0, 3] += w / 2; rho[3, 0] += w / 2; rho[3, 3] += w / 2
        >>> success, out = pumping_round(rho, rho, PumpingNoise())
        >>> abs(success - bbpssw_success_probability(0.9)) < 1e-12
        True
        >>> abs(bell_fidelity_of(out) - bbpssw_fidelity(0.9)) < 1e-12
        True
    """
    both = np.kron(_prepared(spare, noise), _prepared(kept, noise))  # bits: 0 kept A, 1 kept B, 2 spare A, 3 spare B
    weight = noise.gate_2q_error_probability * 16.0 / 15.0  # (SmallStates.depolarize's weight for two qubits)
    for control, target in ((0, 2), (1, 3)):
        matrix, qubits = op_matrix(gate_op("cx", [control, target]))
        both = conjugate(both, 4, matrix, qubits)
        both = depolarizing_mix(both, 4, [control, target], weight)
    tensor = both.reshape((2,) * 8)  # axes: row bits 3, 2, 1, 0, then column bits 3, 2, 1, 0
    flip = noise.measure_error_probability
    agree, differ = (1 - flip) ** 2 + flip ** 2, 2 * flip * (1 - flip)
    out = np.zeros((4, 4), dtype=np.complex128)
    for bit_b in (0, 1):
        for bit_a in (0, 1):
            block = tensor[bit_b, bit_a, :, :, bit_b, bit_a, :, :].reshape(4, 4)
            out += (agree if bit_a == bit_b else differ) * block
    return float(out.trace().real), out


def _phi_plus() -> np.ndarray:
    phi = np.zeros((4, 4), dtype=np.complex128)
    phi[0, 0] = phi[0, 3] = phi[3, 0] = phi[3, 3] = 0.5
    return phi


@functools.lru_cache(maxsize=64)
def _bbpssw_corners(noise: PumpingNoise) -> tuple:
    """:func:`pumping_round` of BBPSSW for the kept and the spare pair each |Φ+⟩ or I/4, ``[kept][spare]`` (|Φ+⟩
    first): the twirl leaves a round a function of the two fidelities alone, affine in each, so these four give
    every round under ``noise`` (:func:`_round`)."""
    ends = (_phi_plus(), np.eye(4, dtype=np.complex128) / 4)
    return tuple(tuple(pumping_round(kept, spare, noise) for spare in ends) for kept in ends)


def _share(rho: np.ndarray) -> float:
    """``(⟨Φ+|ρ|Φ+⟩ − Tr ρ/4)/(3/4)``: the weight of |Φ+⟩ against I/4 in ρ's twirl (times its trace)."""
    return ((rho[0, 0] + rho[0, 3] + rho[3, 0] + rho[3, 3]).real / 2 - rho.trace().real / 4) / 0.75


def _round(kept: np.ndarray, spare: np.ndarray, noise: PumpingNoise) -> tuple[float, np.ndarray]:
    """:func:`pumping_round`; for BBPSSW from :func:`_bbpssw_corners` by interpolation in the two pairs'
    fidelities, the same to rounding at a small part of the cost (``tests/test_pumping_odds.py``)."""
    if noise.variant != "bbpssw":
        return pumping_round(kept, spare, noise)
    (hh, hl), (lh, ll) = _bbpssw_corners(noise)
    a, t = _share(kept), kept.trace().real
    b = _share(spare) / spare.trace().real
    weights = ((a * b, hh), (a * (1 - b), hl), ((t - a) * b, lh), ((t - a) * (1 - b), ll))
    return float(sum(w * corner[0] for w, corner in weights)), sum(w * corner[1] for w, corner in weights)


class PumpingOdds:
    """A link's pumping rounds as the attempt model meets them (``pumping_odds`` of
    :func:`dqsim.network.relink_estimate.relink_makings_per_pair`): called with the kept pair's waits so far
    ``(w_1, ..., w_j)`` (ps; ``w_1`` from its emission to round 1's gates, ``w_i`` from round ``i − 1``'s gates to
    round ``i``'s), it gives round ``j``'s success probability given that the rounds before succeeded with those
    waits. Results are kept per waits (sums of whole delays and attempt periods: tens to hundreds per link).

    BBPSSW twirls both pairs first, so a round depends on their fidelities alone, affinely in each: four rounds
    of |Φ+⟩ and I/4 pairs per noise (:func:`_bbpssw_corners`, kept for the process) give every other by
    interpolation; DEJMPS rounds are computed for each waits (about 1 ms each).

    Args:
        pair: the link's pair as delivered (4×4, bit 0 the initiator's).
        noise: the nodes' noise and the protocol.
        rounds: the pumping rounds per link (:attr:`rounds`).
        spare_ps: the spare pair's wait from its emission to the gates, ``g + c``, ps.
        arrival_ps: how much later the responder's memory holds its half (``d`` for ``"direct"``, else 0), ps.
    """

    def __init__(self, pair: np.ndarray, noise: PumpingNoise, rounds: int = 1, *, spare_ps: int,
                 arrival_ps: int = 0):
        self.pair, self.noise = np.asarray(pair, dtype=np.complex128), noise
        #: A placeholder per round for ``pumping`` of :func:`~dqsim.network.relink_estimate.relink_makings_per_pair`
        #: (which takes its rounds' count from it and their odds from this object).
        self.rounds = (math.nan,) * rounds
        self.arrival_ps = int(arrival_ps)
        self.spare = idle_pair(self.pair, spare_ps, max(spare_ps - arrival_ps, 0), noise.t1_s, noise.t2_s)
        self._after: dict = {(): (1.0, self.pair)}  # waits -> (trace, unnormalised kept pair after those rounds)
        self._odds: dict = {}  # waits -> odds

    def _state(self, waits: tuple) -> tuple[float, np.ndarray]:
        found = self._after.get(waits)
        if found is None:
            _trace, kept = self._state(waits[:-1])
            late = self.arrival_ps if len(waits) == 1 else 0  # (the kept responder's half: round 1 only)
            kept = idle_pair(kept, waits[-1], max(waits[-1] - late, 0), self.noise.t1_s, self.noise.t2_s)
            found = self._after[waits] = _round(kept, self.spare, self.noise)
        return found

    def __call__(self, waits: Sequence[float]) -> float:
        odds = self._odds.get(waits)  # (the waits as the sample has them: most calls repeat one)
        if odds is None:
            key = tuple(int(round(w)) for w in waits)
            before = self._state(key[:-1])[0]
            odds = self._odds[tuple(waits)] = self._state(key)[0] / before if before > 0 else 0.0
        return odds


def _idle_components(t1_s: float, t2_s: float) -> tuple:
    """The idle channel of one qubit after ``t`` seconds as ``Σ_k M_k·e^(−μ_k·t)``: ``((μ_k in 1/s, M_k), ...)``,
    ``M_k`` maps of ``(ρ00, ρ01, ρ10, ρ11)`` (4×4, out × in). Populations ``ρ00 + γ·ρ11``, ``(1 − γ)·ρ11`` with
    ``1 − γ = e^(−t/T1)``; coherences times ``√(1 − γ)·(1 − 2p) = e^(−t/(2·T1))·e^(−t·max(1/T2 − 1/(2·T1), 0))``
    (γ, p of :func:`dqsim.state.noise.idle_parameters`; :func:`dqsim.state.small.damp`'s channel, which
    ``tests/test_pumping_odds.py`` checks this against)."""
    relax = 0.0 if math.isinf(t1_s) else 1.0 / t1_s
    rate = (0.0 if math.isinf(t2_s) else 1.0 / t2_s) - relax / 2
    kept, decayed, coherent = np.zeros((4, 4)), np.zeros((4, 4)), np.zeros((4, 4))
    kept[0, 0] = kept[0, 3] = 1.0  # (γ = 1 − e^(−t/T1): ρ00 gains ρ11, less its decaying part below)
    decayed[0, 3], decayed[3, 3] = -1.0, 1.0
    coherent[1, 1] = coherent[2, 2] = 1.0
    return (0.0, kept), (relax, decayed), (relax / 2 + max(rate, 0.0), coherent)


def _geometric_mean_exp(rate_per_s: float, first_ps: float, late_ps: float, success_probability: float,
                        period_ps: float, attempts: int | None) -> float:
    """``E[e^(−μ·(W − late))]`` for ``W = first + (N − 1)·period`` (ps), ``N`` geometric with ``success_probability``,
    at most ``attempts`` (renormalised; ``None``: all): ``p·e^(−μ·(first − late))·(1 − r^K)/((1 − r)·(1 − q^K))``
    with ``q = 1 − p``, ``r = q·e^(−μ·period)`` (the geometric series, summed exactly)."""
    head = math.exp(-rate_per_s * (first_ps - late_ps) * 1e-12)
    if success_probability >= 1.0:
        return head
    log_q = math.log1p(-success_probability)
    log_r = log_q - rate_per_s * period_ps * 1e-12
    tail = 1.0 if attempts is None else -math.expm1(attempts * log_r)
    norm = 1.0 if attempts is None else -math.expm1(attempts * log_q)
    return head * success_probability * tail / (-math.expm1(log_r) * norm)


def _mean_idle(rho: np.ndarray, noise: PumpingNoise, *, first_ps: float, late_ps: float, success_probability: float,
               period_ps: float, attempts: int | None) -> np.ndarray:
    """The pair after the random wait ``W`` of :func:`_geometric_mean_exp` (the initiator's memory ``W``, the
    responder's ``W − late``; ``first >= late``), averaged exactly: each channel is a sum of exponentials of its wait
    (:func:`_idle_components`), so the joint map's mean is theirs times :func:`_geometric_mean_exp` (since
    2026-12-07 (night); before, a sum over at most 200,000 attempts, renormalised, which left out the tail of a link
    whose success probability is below about 1e-5 and so kept too much of the pair)."""
    components = _idle_components(noise.t1_s, noise.t2_s)
    joint = np.zeros((16, 16))
    for rate_a, map_a in components:
        for rate_b, map_b in components:
            total = rate_a + rate_b  # (e^(−μa·W − μb·(W − late)) = e^(−(μa + μb)·(W − μb·late/(μa + μb))))
            shift = rate_b * late_ps / total if total else 0.0
            mean = _geometric_mean_exp(total, first_ps, shift, success_probability, period_ps, attempts)
            joint += mean * np.outer(map_a.ravel(), map_b.ravel())
    joint = joint.reshape(4, 4, 4, 4).transpose(0, 2, 1, 3)  # (a out, b out, a in, b in)
    vector = rho.reshape(2, 2, 2, 2).transpose(1, 3, 0, 2).reshape(4, 4)  # ρ[(b, a), (b', a')] -> [(a, a'), (b, b')]
    out = np.einsum("ikjl,jl->ik", joint, vector)
    return out.reshape(2, 2, 2, 2).transpose(2, 0, 3, 1).reshape(4, 4)


def mean_pumping(pair: np.ndarray, noise: PumpingNoise, rounds: int, *, success_probability: float,
                 attempt_period_ps: int, first_waits_ps: Sequence[int], spare_ps: int, arrival_ps: int = 0,
                 max_attempts: int | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Each pumping round's success probability given the rounds before succeeded, and the kept pair's fidelity
    after it, averaged over the spare pairs' attempts: round ``j``'s kept pair waits ``first_waits_ps[j − 1] +
    (N − 1)·T`` (``N`` geometric with ``success_probability``, at most ``max_attempts``: the attempts a cut-off
    lets a round have, renormalised; ``None``: all, the whole geometric tail, :func:`_mean_idle`), each round's
    independently. Exact for independent waits, as
    a round is linear in its kept pair (module docstring): ``P(rounds 1..j succeed)`` is the trace after ``j``.

    Examples:
        >>> w = (4 * 0.9 - 1) / 3
        >>> rho = (1 - w) / 4 * np.eye(4, dtype=complex)
        >>> rho[0, 0] += w / 2; rho[0, 3] += w / 2; rho[3, 0] += w / 2; rho[3, 3] += w / 2
        >>> odds, fidelities = mean_pumping(rho, PumpingNoise(), 2, success_probability=0.3, attempt_period_ps=10,
        ...                                 first_waits_ps=(100, 100), spare_ps=20)
        >>> [round(x, 4) for x in odds + fidelities]
        [0.8756, 0.8908, 0.9264, 0.9369]

    Raises:
        DqsimError: ``success_probability`` outside (0, 1] (0: no spare pair ever comes; before 2026-12-07 (night)
            a ZeroDivisionError).
    """
    check_real("mean_pumping", "success_probability", success_probability, 0.0, 1.0, low_open=True)
    spare = idle_pair(np.asarray(pair, dtype=np.complex128), spare_ps, max(spare_ps - arrival_ps, 0), noise.t1_s,
                      noise.t2_s)
    kept, trace, odds, fidelities = np.asarray(pair, dtype=np.complex128), 1.0, [], []
    for index in range(rounds):
        kept = _mean_idle(kept, noise, first_ps=first_waits_ps[index], late_ps=arrival_ps if index == 0 else 0,
                          success_probability=success_probability, period_ps=attempt_period_ps, attempts=max_attempts)
        success, kept = _round(kept, spare, noise)
        odds.append(success / trace if trace > 0 else 0.0)
        fidelities.append(bell_fidelity_of(kept) if success > 0 else 0.25)
        trace = success
    return tuple(odds), tuple(fidelities)
