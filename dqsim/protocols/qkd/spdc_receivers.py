"""Coincidences and QBER of an SPDC source's BBM92/E91 link whose receivers have a dead time and afterpulses.

The source and the detectors are those of :mod:`dqsim.protocols.qkd.spdc` (X. Ma, C.-H. F. Fung and H.-K. Lo,
Phys. Rev. A 76, 012307 (2007): the slot's two-mode squeezed vacuum, thermal pair numbers); each side's receiver
follows :func:`dqsim.protocols.qkd.bb84.register_clicks` (the simulator's rule, :func:`dqsim.protocols.qkd.entangled.
_receiver`): a registered slot blinds the side for the next d = ``dead_time_pulses`` slots, and with p =
``afterpulse_probability`` (one uniform of the side's own at the registered slot) the first slot after that is
registered whatever it holds, one click added on a random detector (the afterpulse); else the side registers the
first slot it clicks in (the discrete non-paralysable dead time, G. F. Knoll, *Radiation Detection and
Measurement*, 4th ed., Wiley 2010, ch. 4 sec. VII).

**Why one side alone is not enough.** A slot's raw clicks (photons or dark counts, any detector) are independent
from slot to slot, so each side alone is a renewal process (D. R. Cox, *Renewal Theory*, Methuen 1962, ch. 1),
registering ``1/(p(d + 1) + (1 - p)(d + 1/c))`` of the slots (:func:`dqsim.protocols.qkd.entangled.
registered_side`, c its click probability). With one pair a slot the two sides' raw clicks are independent and the
coincidences are the product of the sides' rates; with a thermal pair number they are not (``c_AB > c_A·c_B``: a
slot of many pairs makes both sides click), so neither are the two receivers' states. The raw clicks' joint law
does not depend on the settings (each photon is detected with ``T·η_d`` whatever its polarisation), so the
receivers' joint state does not either, and the settings only share the coincidences out.

**The joint chain.** A side is, at a slot, *R* (ready: registers if it clicks), *F* (an afterpulse is due: it
registers) or *B_k* (blind, k = d..1 slots left, this one included); a side that registers goes to B_d, then B_1
goes to F with probability p, else R (drawing the afterpulse at the end of the dead time instead of at the
registration changes no probability: the uniform is the side's own). The joint state has ``(d + 2)²`` values, but
both sides blind only count down along a diagonal, so its stationary law π follows from four numbers π(RR), π(RF),
π(FR), π(FF), the two sides' *one ready, other blind* probabilities ``a_k = π(R, B_k)`` and
``β_k = π(B_{d+1-k}, R)`` (k = 1..d) and ``W = π(B_d, B_d)``. With ``g = 1/(1 + p)``, ``κ_A = 1 - p·g·c_A``,
``κ_B = 1 - p·g·c_B`` the balance equations of the one-ready states (the afterpulse states π(F, B_k) =
``p·X_{d+1-k}``, π(B_k, F) = ``p·Y_{d+1-k}`` eliminated, X and Y the rates at which the ready side registers while
the other is blind) are the two-point boundary problem

    κ_A·a_k = (1 - c_A)·a_{k+1} + g·c_B·β_k + [k = d]·s_A,    a_{d+1} = 0,
    κ_B·β_k = (1 - c_B)·β_{k-1} + g·c_A·a_k + [k = 1]·s_B,    β_0 = 0,

with ``s_A = c_{01}·π(RR) + (1 - c_A)·π(RF)`` and ``s_B = c_{10}·π(RR) + (1 - c_B)·π(FR)`` the flows into one
side blind and the other ready; it is solved for unit sources by one forward and one backward sweep (Thomas' algorithm,
``β_k = P_k·a_k + Q_k``: :func:`_one_blind`, O(d)); the four both-awake states close it:

    W = c_{11}·π(RR) + c_A·π(RF) + c_B·π(FR) + π(FF),
    c_A + c_B - c_{11} of π(RR) = (1 - p)·((1 - c_A)·a_1 + (1 - c_B)·β_d) + (1 - p)²·W,
    π(RF) = p·((1 - c_A)·a_1 + (1 - p)·W),  π(FR) = p·((1 - c_B)·β_d + (1 - p)·W),  π(FF) = p²·W,

with the probabilities summing to 1 (each both-blind diagonal holds one value: :func:`_total`). W is the
coincidence probability per slot. d = 0 has no blind states: the four both-awake states' chain
(:func:`_awake_chain`). The coincidences where both sides were ready carry the slot's own bits (the QBER of
:func:`dqsim.protocols.qkd.spdc.pair_statistics`); one with an afterpulse on a side adds a click on a random
detector of that side to the slot's own ones (a double click's bit is random), and its errors are summed over the
slot's 16 click patterns (:func:`dqsim.protocols.qkd.spdc.pattern_probabilities`) at the key pairs' relative angle
0. A click probability of 1 (a dark count every slot) is taken as ``1 - ε``, ``ε = 10⁻⁶·(d + 1)`` (at most 0.1:
:func:`click_cap`): the sweep divides by ``κ_A - P_k·g·c_B``, 0 at 1, and its rounding grows as ε falls and d grows
(review 7, R7-2: the ``1 - 10⁻¹²`` taken before gave coincidences of about 0 where the dense solve gives 0.25; with
``10⁻⁶`` the chain still lost every digit at d = 40, and with ``10⁻⁴`` at d = 10⁴). A side's registered rate
``1/(p(d + 1) + (1 - p)(d + 1/c))`` moves by about ``ε/(d + 1)`` of itself, ``10⁻⁶``, under that cap.

Exact for the simulator's model in its steady state (the first slots of a run, about ``d + 1/c``, register more:
fresh receivers are ready). Where both sides click in most awake slots (μ ≳ 1 on short arms), two receivers that fall
out of step stay so for long stretches (each registers within a slot or two of waking), so a block's coincidences
come in bursts and spread far wider than Poisson around this mean. tests/test_spdc_receivers.py checks it against
the full joint chain (all its states, solved densely) and against drawn links, bench/spdc_dead_time.py against
10^6-slot draws (bench/results/qkdspdc-vm-20261207s.md).
"""

from __future__ import annotations

import math

import numpy as np

from dqsim.checks import check_int, check_real
from dqsim.errors import DqsimError
from dqsim.protocols.qkd.spdc import (_channel, _check_mean_pair_number, _silent_squeezed_vacuum, _squeezed_statistics,
                                      pattern_error, pattern_probabilities)

__all__ = ["awake_probabilities", "registered_pair_statistics"]


def click_cap(dead_time_pulses: int) -> float:
    """Largest click probability the chain takes at a dead time of ``dead_time_pulses`` slots: ``1 - ε``,
    ``ε = min(10⁻⁶·(d + 1), 0.1)`` (module docstring: 1 makes its sweep divide by 0).

    Examples:
        >>> click_cap(0), click_cap(9), click_cap(10**6)
        (0.999999, 0.99999, 0.9)
    """
    return 1.0 - min(1e-6 * (dead_time_pulses + 1), 0.1)


def _one_blind(c_a: float, c_b: float, dead: int, p: float, source: int) -> tuple[np.ndarray, np.ndarray]:
    """``(a, β)`` (k = 1..d) of the boundary problem of the module docstring for a unit source ``s_A`` (``source``
    0) or ``s_B`` (1), the other 0: Thomas' forward sweep ``β_k = P_k·a_k + Q_k`` from ``β_0 = 0``, then ``a_d``
    from ``a_{d+1} = 0`` and the backward sweep."""
    g = 1.0 / (1.0 + p)
    kappa_a, kappa_b = 1.0 - p * g * c_a, 1.0 - p * g * c_b
    stay_a, stay_b = 1.0 - c_a, 1.0 - c_b
    slope, shift = [g * c_a / kappa_b], [(1.0 if source == 1 else 0.0) / kappa_b]
    for _k in range(1, dead):
        denom = kappa_a - slope[-1] * g * c_b
        slope.append((stay_b * stay_a * slope[-1] / denom + g * c_a) / kappa_b)
        shift.append(stay_b * shift[-1] * kappa_a / (denom * kappa_b))
    a, beta = [0.0] * dead, [0.0] * dead
    a[-1] = ((1.0 if source == 0 else 0.0) + g * c_b * shift[-1]) / (kappa_a - g * c_b * slope[-1])
    beta[-1] = slope[-1] * a[-1] + shift[-1]
    for k in range(dead - 1, 0, -1):
        beta[k - 1] = (slope[k - 1] * stay_a * a[k] + shift[k - 1] * kappa_a) / (kappa_a - slope[k - 1] * g * c_b)
        a[k - 1] = (stay_a * a[k] + g * c_b * beta[k - 1]) / kappa_a
    return np.array(a), np.array(beta)


def _total(a: np.ndarray, beta: np.ndarray, c_a: float, c_b: float, p: float, dead: int) -> tuple[float, float]:
    """``(Σ of the one-ready-one-blind probabilities, Σ of the both-blind ones but W·d)`` of a solution ``(a, β)``:
    π(F, B_k) and π(B_k, F) are ``p·X``, ``p·Y``; the both-blind state (B_d, B_m) is ``Y_{m+1}``, (B_m, B_d)
    ``X_{m+1}``, each held by the m states of its diagonal (module docstring)."""
    k = np.arange(1, dead + 1)
    y = (c_a * a + p * c_b * beta) / (1.0 - p * p)            # Y_k
    x_rev = (c_b * beta + p * c_a * a) / (1.0 - p * p)        # X_{d+1-k}
    one = float(a.sum() + beta.sum() + p * (y.sum() + x_rev.sum()))
    return one, float(((k - 1) * y).sum() + ((dead - k) * x_rev).sum())


def _next_forced(registered: int, forced: int, p: float) -> float:
    """Probability that a side is F next slot (``forced`` 1) or R (0) without dead time: one that registered is F
    with probability p, one that did not stays R."""
    if registered:
        return p if forced else 1.0 - p
    return 0.0 if forced else 1.0


def _awake_chain(c_a: float, c_b: float, c_ab: float, p: float) -> tuple[float, float, float, float]:
    """``(π(RR), π(RF), π(FR), π(FF))`` without dead time: the four both-awake states' chain (a forced side
    registers whatever it holds; :func:`_next_forced`)."""
    joint = {(1, 1): c_ab, (1, 0): c_a - c_ab, (0, 1): c_b - c_ab, (0, 0): 1.0 - c_a - c_b + c_ab}
    states = [(0, 0), (0, 1), (1, 0), (1, 1)]                  # (A forced, B forced): RR, RF, FR, FF
    step = np.zeros((4, 4))
    for i, (fa, fb) in enumerate(states):
        for (ra, rb), prob in joint.items():
            for j, (ga, gb) in enumerate(states):
                step[i, j] += prob * _next_forced(max(ra, fa), ga, p) * _next_forced(max(rb, fb), gb, p)
    system = np.vstack([step.T - np.eye(4), np.ones(4)])
    return tuple(float(v) for v in np.linalg.lstsq(system, np.r_[np.zeros(4), 1.0], rcond=None)[0])


def awake_probabilities(c_a: float, c_b: float, c_ab: float, dead_time_pulses: int, afterpulse_probability: float
                        ) -> tuple[float, float, float, float]:
    """``(π(RR), π(RF), π(FR), π(FF))``: the stationary probabilities that at a slot both receivers are awake, each
    R (ready) or F (an afterpulse due), of sides that click with probabilities ``c_a``, ``c_b`` and both with
    ``c_ab`` in each slot independently of the others (module docstring). The coincidence probability per slot is
    ``c_ab·π(RR) + c_a·π(RF) + c_b·π(FR) + π(FF)``.

    Examples:
        >>> rr, rf, fr, ff = awake_probabilities(0.5, 0.5, 0.5, 1, 0.0)   # both sides click together: in step
        >>> round(0.5 * rr, 12), abs(rf + fr + ff) < 1e-12                 # 1/(d + 1/c) of the slots
        (0.333333333333, True)
    """
    where = "awake_probabilities"
    dead = check_int(where, "dead_time_pulses", dead_time_pulses, 0)
    c_a, c_b = (min(check_real(where, name, value, 0.0, 1.0), click_cap(dead))
                for name, value in (("c_a", c_a), ("c_b", c_b)))
    c_ab = min(max(check_real(where, "c_ab", c_ab, 0.0, 1.0), c_a + c_b - 1.0), c_a, c_b)
    p = check_real(where, "afterpulse_probability", afterpulse_probability, 0.0, 1.0, high_open=True)
    if dead == 0:
        return _awake_chain(c_a, c_b, c_ab, p)
    first_a, first_b = _one_blind(c_a, c_b, dead, p, 0), _one_blind(c_a, c_b, dead, p, 1)
    a1 = (first_a[0][0], first_b[0][0])                       # a_1 per unit s_A, s_B
    bd = (first_a[1][-1], first_b[1][-1])                     # β_d = π(B_1, R)
    # unknowns: s_A, s_B, W, RR, RF, FR, FF
    rows = [[1, 0, 0, -(c_b - c_ab), -(1 - c_a), 0, 0],
            [0, 1, 0, -(c_a - c_ab), 0, -(1 - c_b), 0],
            [0, 0, 1, -c_ab, -c_a, -c_b, -1]]
    leave = [-(1 - p) * ((1 - c_a) * a1[s] + (1 - c_b) * bd[s]) for s in (0, 1)]
    rows.append([*leave, -(1 - p) ** 2, c_a + c_b - c_ab, 0, 0, 0])
    rows.append([-p * (1 - c_a) * a1[0], -p * (1 - c_a) * a1[1], -p * (1 - p), 0, 1, 0, 0])
    rows.append([-p * (1 - c_b) * bd[0], -p * (1 - c_b) * bd[1], -p * (1 - p), 0, 0, 1, 0])
    rows.append([0, 0, -p * p, 0, 0, 0, 1])
    sums = [sum(_total(*first, c_a, c_b, p, dead)) for first in (first_a, first_b)]
    rows.append([*sums, dead, 1, 1, 1, 1])
    solution = np.linalg.lstsq(np.array(rows, dtype=float), np.r_[np.zeros(7), 1.0], rcond=None)[0]
    return tuple(float(v) for v in solution[3:])


def _with_afterpulse(pattern: int, detector: int) -> int:
    """The click pattern ``pattern`` with one more click on ``detector`` (0 or 1)."""
    return pattern | (1 << detector)


def _type_errors(table) -> tuple[float, float, float, float]:
    """Errors per slot of the four kinds of coincidence (both ready, Bob's afterpulse, Alice's, both afterpulses),
    each over the patterns that kind registers (module docstring), before the kinds' weights π."""
    clicked, every = range(1, 4), range(4)
    ready = sum(table[a][b] * pattern_error(a, b) for a in clicked for b in clicked)
    bob = sum(table[a][b] * pattern_error(a, _with_afterpulse(b, y)) / 2 for a in clicked for b in every
              for y in (0, 1))
    alice = sum(table[a][b] * pattern_error(_with_afterpulse(a, x), b) / 2 for a in every for b in clicked
                for x in (0, 1))
    both = sum(table[a][b] * pattern_error(_with_afterpulse(a, x), _with_afterpulse(b, y)) / 4 for a in every
               for b in every for x in (0, 1) for y in (0, 1))
    return ready, bob, alice, both


def registered_pair_statistics(mean_pair_number: float, *, dead_time_pulses: int, afterpulse_probability: float,
                               transmittance_alice: float, transmittance_bob: float, efficiency: float,
                               dark_count_probability, misalignment: float = 0.0, werner: float = 1.0
                               ) -> tuple[float, float]:
    """``(P_c, Q)`` of :func:`dqsim.protocols.qkd.spdc.pair_statistics` behind receivers (both sides, the same rule)
    with a dead time of ``dead_time_pulses`` slots and afterpulses of ``afterpulse_probability`` (module docstring):
    the coincidence probability per slot (any settings' share of it) and the QBER of a key setting pair.

    Args:
        mean_pair_number: μ of the squeezed vacuum, in (0, 2].
        dead_time_pulses: d, >= 0.
        afterpulse_probability: p, in [0, 1).
        transmittance_alice, transmittance_bob, efficiency, dark_count_probability, misalignment, werner: as
            :func:`dqsim.protocols.qkd.spdc.pair_statistics`.

    Returns:
        ``(P_c, Q)``; Q is NaN where P_c is 0. Without dead time and afterpulses, ``pair_statistics``'s.

    Examples:
        >>> from dqsim.protocols.qkd.spdc import pair_statistics
        >>> channel = dict(transmittance_alice=0.5, transmittance_bob=0.5, efficiency=1.0, dark_count_probability=0.0)
        >>> p_c, q = registered_pair_statistics(0.1, dead_time_pulses=0, afterpulse_probability=0.0, **channel)
        >>> (round(p_c, 12), round(q, 12)) == tuple(round(v, 12) for v in pair_statistics(0.1, **channel))
        True
        >>> p_c, q = registered_pair_statistics(0.1, dead_time_pulses=20, afterpulse_probability=0.03, **channel)
        >>> round(p_c, 6), round(q, 6)                 # (0.025388, 0.025729) without dead time and afterpulses
        (0.008483, 0.028089)
    """
    where = "registered_pair_statistics"
    mu = _check_mean_pair_number(where, mean_pair_number)
    if mu is None:
        raise DqsimError(f"{where}: mean_pair_number must be a number in (0, 2] (an SPDC source), got None")
    p, dark, e_d, w = _channel(where, transmittance_alice, transmittance_bob, efficiency, dark_count_probability,
                               misalignment, werner)
    wrong = (e_d, 0.5 * (1.0 - w * (1.0 - 2.0 * e_d)))
    table = pattern_probabilities(lambda detectors: _silent_squeezed_vacuum(detectors, p, wrong, mu, 0.0), dark)
    c_a = sum(table[a][b] for a in range(1, 4) for b in range(4))
    c_b = sum(table[a][b] for a in range(4) for b in range(1, 4))
    c_ab = sum(table[a][b] for a in range(1, 4) for b in range(1, 4))
    c_a, c_b = min(max(c_a, 0.0), 1.0), min(max(c_b, 0.0), 1.0)       # (the alternating sums' rounding)
    c_ab = min(max(c_ab, 0.0, c_a + c_b - 1.0), c_a, c_b)
    if c_ab <= 0.0 and (c_a <= 0.0 or c_b <= 0.0):
        return 0.0, math.nan
    dead = check_int(where, "dead_time_pulses", dead_time_pulses, 0)
    p_a = check_real(where, "afterpulse_probability", afterpulse_probability, 0.0, 1.0, high_open=True)
    if dead == 0 and p_a == 0.0:
        return _squeezed_statistics(mu, p, dark, e_d, w, 0.0)
    rr, rf, fr, ff = awake_probabilities(c_a, c_b, c_ab, dead, p_a)
    coincidence = c_ab * rr + c_a * rf + c_b * fr + ff
    ready, bob, alice, both = _type_errors(table)
    errors = ready * rr + bob * rf + alice * fr + both * ff
    if coincidence <= 0.0:
        return 0.0, math.nan
    return coincidence, min(max(errors / coincidence, 0.0), 1.0)
