"""Heralded entanglement generation over one fibre link.

Three schemes, named as in job files:

``"single_click"``
    Both nodes entangle a spin with photon number and send the photon to a
    50:50 beam splitter at the midpoint station, whose two threshold
    detectors herald the pair when exactly one of them clicks (Cabrillo et
    al., Phys. Rev. A 59, 1025 (1999); Humphreys et al., Nature 558, 268
    (2018), Methods; S. L. N. Hermans et al., New J. Phys. 25, 013011 (2023),
    the protocol's detailed model). Here η is the transmittance of one
    *arm*: from a node over half the link to a station detector, including
    the detector's efficiency; the interferometer is phase stable and the
    photons indistinguishable. The success probability and the heralded
    two-qubit state are exact for this model (derivation below); to leading
    order in α·η and without dark counts they are the familiar ``p ≈ 2αη``
    and ``F ≈ 1 − α``.

``"double_click"`` (Barrett-Kok)
    Two rounds with a spin flip in between; a click is needed in each, so
    ``p = η²/2`` (S. D. Barrett and P. Kok, Phys. Rev. A 71, 060310(R)
    (2005)): 1/2 for the linear-optics Bell measurement, η per photon. A
    node emits only from its bright spin state, and the flip between the
    rounds swaps bright and dark, so each node emits exactly one photon per
    attempt (in one round or the other): two photons per attempt. A
    lost photon gives no herald, so without dark counts loss costs rate,
    never fidelity: the delivered fidelity is that of the emitters'
    spin-photon states and of the photons' indistinguishability, lumped
    into ``source_fidelity``. With dark counts the heralded state is exact
    for threshold detectors (derivation below): Bell diagonal, not Werner.

``"direct"``
    One node sends its photon straight to the other, which detects it (the
    "station" is the far node): ``p = η`` with η the whole link's
    transmittance, delivered fidelity ``source_fidelity`` (again loss is
    heralded).

Dark counts: each detector clicks by itself with probability ``p_d`` per gate
(:attr:`~dqsim.network.link.LinkSpec.dark_count_probability`); the station
(or the receiving node) heralds when exactly one of its two detectors clicks
in each round (``"direct"``: its one detector clicks). A dark count can then
stand in for a lost photon: a *false herald*, which raises the success
probability and delivers an unentangled pair (:func:`success_probability`,
:func:`delivered_state`). At ``p_d << η`` false heralds are a share of
about ``p_d(8 − 6η)/η`` of the heralds (double-click), ``p_d/(αη)``
(single-click) or ``p_d/η`` (direct). Each scheme's heralded state is exact
for its model: ``"direct"``'s false herald is the maximally mixed pair (the
sender's qubit is mixed by its lost photon, the receiver's uncorrelated with
it), so its pair is a Werner state; the other two are derived below.

Single-click, exactly (derived here; the tests check it against a
photon-by-photon Monte Carlo of the same model). Each node prepares
``√(1−α)|d⟩|0⟩ + √α|b⟩|1⟩`` (spin dark/bright, photon number). A photon
reaches its station detector with probability η; a lost one leaves a record
in the environment, so it removes coherence. Count the photon-number
branches at the station (``a†, b† → (c† ± d†)/√2``; two photons bunch into
one detector, ``|1,1⟩ → (|2,0⟩ − |0,2⟩)/√2``, so a threshold detector sees
one click):

* one photon arrives, the other node dark: weight ``2αη(1−α)``, the
  coherent ``(|bd⟩ ± |db⟩)/√2``, ``+`` when detector c clicks and ``−``
  when d does (half each);
* one photon arrives, the other node bright and its photon lost:
  ``2α²η(1−η)``, the state ``|bb⟩`` (the environment tells which photon was
  lost); both photons arrive: ``α²η²``, ``|bb⟩``; either detector, half each;
* no photon arrives: ``(1−αη)²``, the diagonal state ``(1−α)²|dd⟩ +
  α(1−α)(1−η)(|bd⟩ + |db⟩) + α²(1−η)²|bb⟩`` (unnormalised).

A detector clicks on a photon or on its own dark count (``p_d`` per gate,
``q = 1 − p_d``). The herald "exactly one click at c" then has probability
``q·[αη(1−αη/2) + p_d(1−αη)²]`` (photons at c and no dark count at d, or no
photon and a dark count at c only), the same at d, so

    p = q·[s + 2p_d(1 − s)],   s = 1 − (1 − αη)² = αη(2 − αη),

which is ``2αη`` to leading order and ``1 − (1 − αη)²`` without dark counts.
One node applies Z when detector d clicked (``Ψ− → Ψ+``; the diagonal
terms are unchanged by it), so both heralds deliver

    ρ ∝ αη(1−α)|Ψ+⟩⟨Ψ+| + [α²η(1 − η/2) + p_d·α²(1−η)²]|bb⟩⟨bb|
        + p_d·α(1−α)(1−η)(|bd⟩⟨bd| + |db⟩⟨db|) + p_d(1−α)²|dd⟩⟨dd|,

normalised by ``N = αη(1 − αη/2) + p_d(1 − αη)²``. Without dark counts the
fidelity is ``(1 − α)/(1 − αη/2)`` (``1 − α`` to leading order; Humphreys et
al. 2018, Methods). This state is not Bell diagonal: the ``|bb⟩`` term is an
equal mixture of the two Bell states it overlaps, with a coherence between
them. The simulator's pairs target ``|Φ+⟩``, so the responder's qubit is
flipped as well (X: ``|Ψ+⟩ → |Φ+⟩``), with bright = ``|1⟩`` on the
initiator's spin and ``|0⟩`` on the responder's after the flip:
:func:`delivered_state` gives that 4x4 matrix, which the engine holds
exactly (:meth:`~dqsim.engine.NodeContext.bell_pair`). In that frame its
Bell weights ``(Φ+, Φ−, Ψ+, Ψ−)`` are ``(c₁ + c_bd, c_bd, (c_bb + c_dd)/2,
(c_bb + c_dd)/2)/N``, with ``c₁ = αη(1−α)``, ``c_bb``, ``c_bd`` and ``c_dd``
the coefficients of the four terms above, and ``⟨Ψ+|ρ|Ψ−⟩ = (c_dd −
c_bb)/(2N)``. An imperfect
source (``source_fidelity`` < 1) mixes in white noise as for the other
schemes: ``ρ → w_s·ρ + (1 − w_s)·I/4`` with ``w_s`` its Werner parameter.

Double-click, exactly (derived here; the tests check it against a
photon-by-photon Monte Carlo of the same model). Each node's spin starts in
``(|0⟩ + |1⟩)/√2``, spin ``s`` emitting its one photon in round ``s + 1``
(time-bin encoding: the photon's round records the spin). A photon reaches
its station detector with probability η; a lost one leaves its round in the
environment, which measures that spin in Z. In a round the station's beam
splitter maps ``a†, b† → (c† ± d†)/√2``; one photon from each node in the
two rounds (spins opposite) ends in one detector per round, the four
patterns equally likely, with ``Ψ+`` when the same detector clicked twice
and ``Ψ−`` when they differ (Barrett and Kok 2005); two photons in one round
(spins equal) bunch into one detector (``|1,1⟩ → (|2,0⟩ − |0,2⟩)/√2``),
one click. A herald is exactly one clicking detector in each round, a photon
or a dark count (``q = 1 − p_d``); every term has ``q²`` from the two
detectors that must stay silent. Over spin configurations (1/4 each) and
photon fates:

* both photons arrive, spins opposite: weight ``q²·η²/2``, ``Ψ±`` (true
  heralds; the correction below makes them ``Ψ+``);
* one photon arrives (``2η(1 − η)``): its round's click fixes its node's
  spin, the lost photon's round fixes the other's, and the empty round needs
  one dark count (``2p_d``): weight ``q²·4p_dη(1 − η)``, the four spin
  configurations equally (``I/4``: the fidelity-1/2 anti-correlated and the
  fidelity-0 correlated false heralds of a first-order estimate);
* no photon arrives (``(1 − η)²``): a dark count in each round, ``(2p_d)²``,
  weight ``q²·4p_d²(1 − η)²``, ``I/4``;
* both photons arrive, spins equal (1/2 of ``η²``): bunched in one round,
  a dark count in the other: weight ``q²·p_dη²``, the two equal-spin states
  half each, without coherence (their photons left in different rounds).

So ``p = q²·[η²/2 + c_mix + c_bun]`` with ``c_mix = 4p_d(1 − η)(η + p_d(1 −
η))`` and ``c_bun = p_dη²`` (the same as counting clicks per round,
:func:`_herald_probabilities`). One node applies Z when the two rounds'
detectors differ (``Ψ− → Ψ+``), the responder X (``Ψ+ → Φ+``, equal spins
→ ``|01⟩, |10⟩``), so in the frame of :func:`delivered_state` the pair is
Bell diagonal with weights ``(Φ+, Φ−, Ψ+, Ψ−) = (η²/2 + c_mix/4, c_mix/4,
c_mix/4 + c_bun/2, c_mix/4 + c_bun/2)/N``, ``N = η²/2 + c_mix + c_bun``:
fidelity ``(η²/2 + c_mix/4)/N``, to first order in ``p_d`` that of false
heralds of mean fidelity ``(1 − η)/(4 − 3η)``, i.e. ``1 − F ≈ p_d(6 −
4η)/η``. Its limits: ``Φ+`` at ``p_d = 0``; ``I/4`` at ``η = 0``; at ``η =
1`` only bunching errs, ``Ψ±`` ``p_d/(1 + 2p_d)`` each. Cross-check: P.
Dhara et al., "Entangling quantum memories via heralded photonic Bell
measurement" (2023; the journal reference was not checked here), App. C (eqs. C7-C9,
its "dual-rail" swap, which is Barrett-Kok; QuantumSavory's
``BarrettKokBellPair``) also finds the false heralds with a photon lost
maximally mixed (a term ∝ I⊗I, to first order in the dark counts); it
counts exactly one detected photon (``ηᴬ + ηᴮ − 2ηᴬηᴮ``) where a threshold
detector also takes two bunched ones, so it has no ``c_bun``. An imperfect
source mixes in white noise as for the other schemes, ``ρ → w_s·ρ + (1 −
w_s)·I/4``.

A node may start the next attempt only after the herald of the last one has
come back: the attempt period is at least the round trip from the node to
the station (half the link for midpoint schemes, the whole link for
``"direct"``) and at least the source period. The same round trip is the
*herald delay*: the time from the emission of the successful attempt until
both nodes know the pair exists (:func:`herald_delay_ps`; for ``"direct"``
the far node detects the photon after one link delay and its acknowledgment
takes one more to return). Attempts are independent Bernoulli trials, so the
number of attempts to the first success is geometric with mean 1/p.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from dqsim.checks import check_choice, check_int, check_real
from dqsim.errors import DqsimError
from dqsim.network.fibre import DEFAULT_GROUP_INDEX, propagation_delay_ps
from dqsim.network.werner import fidelity_from_werner, werner_from_fidelity

#: Scheme names accepted everywhere (job files, :class:`~dqsim.network.link.LinkSpec`).
SCHEMES = ("single_click", "double_click", "direct")

#: Schemes with a detection station at the middle of the link.
MIDPOINT_SCHEMES = ("single_click", "double_click")

#: Bright-state population α for single-click generation; Humphreys et al.
#: (2018) operate at α of 0.05-0.1.
DEFAULT_BRIGHT_STATE_ALPHA = 0.1


def station_distance_km(scheme: str, distance_km: float) -> float:
    """Fibre length from one node to the detecting station: L/2 for midpoint schemes, else L.

    Args:
        scheme: one of :data:`SCHEMES`.
        distance_km: length of the whole link, km, >= 0.

    Returns:
        Distance to the station, km.

    Raises:
        DqsimError: an unknown scheme or a negative length.

    Examples:
        >>> station_distance_km("double_click", 20.0)
        10.0
        >>> station_distance_km("direct", 20.0)
        20.0
    """
    scheme = check_choice("station_distance_km", "scheme", scheme, SCHEMES)
    distance_km = check_real("station_distance_km", "distance_km", distance_km, 0.0)
    return distance_km / 2.0 if scheme in MIDPOINT_SCHEMES else distance_km


def _herald_probabilities(scheme: str, eta: float, alpha: float, p_dark: float) -> tuple[float, float]:
    """``(P, P_true)``: probability of a herald per attempt and of one whose every click came from a photon.

    Threshold detectors with dark-count probability ``p_dark`` per detector
    and gate (``q = 1 - p_dark``); a herald needs exactly one clicking
    detector where the scheme has two (module docstring):

    * ``"direct"`` (one detector): ``P = 1 - (1 - η)q``, ``P_true = η``.
    * ``"single_click"``: at least one photon arrives with probability
      ``s = 1 - (1 - αη)²`` (exact; module docstring) and clicks one
      detector, no dark count in the other: ``P = q(s + 2p_dark(1 - s))``,
      ``P_true = q·s``.
    * ``"double_click"``: half the attempts have one photon per round
      (clicks ``a = q(η + 2p_dark(1 - η))`` per round, ``η·q`` of them from
      the photon), half two photons in one round (bunched: ``t = q(1 - (1 -
      η)² + 2p_dark(1 - η)²)``) and none in the other (``z = 2p_dark·q``):
      ``P = (a² + t·z)/2``, ``P_true = (η·q)²/2``; the same ``P`` as
      ``q²·N`` of :func:`_double_click_terms`.
    """
    q = 1.0 - p_dark
    if scheme == "direct":
        return 1.0 - (1.0 - eta) * q, eta
    if scheme == "single_click":
        s = alpha * eta * (2.0 - alpha * eta)
        return q * (s + 2.0 * p_dark * (1.0 - s)), q * s
    a = q * (eta + 2.0 * p_dark * (1.0 - eta))
    t = q * (1.0 - (1.0 - eta) ** 2 + 2.0 * p_dark * (1.0 - eta) ** 2)
    z = 2.0 * p_dark * q
    return (a * a + t * z) / 2.0, (eta * q) ** 2 / 2.0


def _double_click_terms(eta: float, p_dark: float) -> tuple[float, float, float]:
    """``(c_true, c_mix, c_bun)`` of the double-click heralded state (module docstring), normalised to sum 1.

    ``c_true`` weighs ``|Φ+⟩`` (a photon from each node, after the
    corrections), ``c_mix`` the maximally mixed pair (a photon lost or both,
    a dark count standing in), ``c_bun`` the equal mixture of ``|01⟩`` and
    ``|10⟩`` (both photons in one round, a dark count in the other). Before
    normalisation ``η²/2``, ``4p_d(1 − η)(η + p_d(1 − η))`` and ``p_d·η²``;
    without dark counts ``(1, 0, 0)`` for every η (also the limit η → 0).
    """
    if p_dark == 0.0:
        return 1.0, 0.0, 0.0
    c_true = eta * eta / 2.0
    c_mix = 4.0 * p_dark * (1.0 - eta) * (eta + p_dark * (1.0 - eta))
    c_bun = p_dark * eta * eta
    norm = c_true + c_mix + c_bun  # > 0: p_d > 0
    return c_true / norm, c_mix / norm, c_bun / norm


def _single_click_terms(alpha: float, eta: float, p_dark: float) -> tuple[float, float, float, float]:
    """``(c₁, c_bb, c_bd, c_dd)`` of the single-click heralded state (module docstring), normalised to sum 1.

    ``c₁`` weighs ``|Ψ+⟩`` (after the detector-dependent Z), ``c_bb`` both
    spins bright, ``c_bd`` each of the two one-bright states, ``c_dd`` both
    dark; ``c₁ + c_bb + 2c_bd + c_dd = 1``. Without dark counts the common
    factor αη is divided out first, so that η → 0 gives the limit
    ``(1 − α, α, 0, 0)`` rather than 0/0.
    """
    if p_dark == 0.0:
        c_1, c_bb, c_bd, c_dd = 1.0 - alpha, alpha * (1.0 - eta / 2.0), 0.0, 0.0
    else:
        c_1 = alpha * eta * (1.0 - alpha)
        c_bb = alpha * alpha * eta * (1.0 - eta / 2.0) + p_dark * (alpha * (1.0 - eta)) ** 2
        c_bd = p_dark * alpha * (1.0 - alpha) * (1.0 - eta)
        c_dd = p_dark * (1.0 - alpha) ** 2
    norm = c_1 + c_bb + 2.0 * c_bd + c_dd  # = αη(1 − αη/2) + p_d(1 − αη)²
    return c_1 / norm, c_bb / norm, c_bd / norm, c_dd / norm


def success_probability(
    scheme: str,
    arm_transmittance: float,
    *,
    bright_state_alpha: float = DEFAULT_BRIGHT_STATE_ALPHA,
    dark_count_probability: float = 0.0,
) -> float:
    """Probability that one attempt heralds a pair (true or false herald).

    Without dark counts:

    * ``"single_click"``: ``1 - (1 - α·η)² = αη(2 - αη)``, exact for
      threshold detectors (module docstring): some photon reaches the
      station, and one or two photons click one detector only. Its leading
      order is the ``2·α·η`` of Humphreys et al. (2018).
    * ``"double_click"``: ``η²/2`` (Barrett and Kok 2005).
    * ``"direct"``: ``η``.

    A dark count can stand in for a lost photon and herald falsely: with
    dark-count probability ``p_d`` per detector and gate the probability is
    that of :func:`_herald_probabilities` (``1 - (1 - η)(1 - p_d)`` for
    ``"direct"``; ``(1 - p_d)(s + 2p_d(1 - s))`` with ``s = 1 - (1 - αη)²``
    single-click; to first order ``η²/2 + 4p_d·η(1 − η)`` double-click).

    Args:
        scheme: one of :data:`SCHEMES`.
        arm_transmittance: η from an emitting node to the station's detector
            (fibre, coupling and detector efficiency; see
            :func:`station_distance_km`), in [0, 1].
        bright_state_alpha: bright-state population α in (0, 1/2], used by
            ``"single_click"`` only.
        dark_count_probability: dark-count probability p_d of each detector
            per gate, in [0, 1] (:func:`dqsim.network.detectors.dark_count_probability`).

    Returns:
        Success probability per attempt, in [0, 1].

    Raises:
        DqsimError: an unknown scheme or an argument out of its range.

    Examples:
        >>> round(success_probability("single_click", 0.1, bright_state_alpha=0.05), 12)  # 1 - 0.995²
        0.009975
        >>> round(success_probability("double_click", 0.1), 12)
        0.005
        >>> success_probability("direct", 0.1)
        0.1
        >>> round(success_probability("direct", 0.1, dark_count_probability=0.01), 12)  # 1 - 0.9·0.99
        0.109
    """
    where = "success_probability"
    scheme = check_choice(where, "scheme", scheme, SCHEMES)
    eta = check_real(where, "arm_transmittance", arm_transmittance, 0.0, 1.0)
    alpha = check_real(where, "bright_state_alpha", bright_state_alpha, 0.0, 0.5, low_open=True)
    p_dark = check_real(where, "dark_count_probability", dark_count_probability, 0.0, 1.0)
    if p_dark == 0.0:
        if scheme == "single_click":
            return alpha * eta * (2.0 - alpha * eta)
        if scheme == "double_click":
            return eta * eta / 2.0
        return eta
    return _herald_probabilities(scheme, eta, alpha, p_dark)[0]


def _check_pair_arguments(where: str, scheme, bright_state_alpha, source_fidelity, arm_transmittance,
                          dark_count_probability) -> tuple[str, float, float, float, float]:
    """The arguments of :func:`delivered_fidelity` and :func:`delivered_state`, checked; errors name ``where``."""
    return (check_choice(where, "scheme", scheme, SCHEMES),
            check_real(where, "bright_state_alpha", bright_state_alpha, 0.0, 0.5, low_open=True),
            check_real(where, "source_fidelity", source_fidelity, 0.25, 1.0),
            check_real(where, "arm_transmittance", arm_transmittance, 0.0, 1.0),
            check_real(where, "dark_count_probability", dark_count_probability, 0.0, 1.0))


def _direct_fidelity(f_source: float, eta: float, p_dark: float) -> float:
    """Fidelity of the Werner pair that ``"direct"`` delivers (:func:`delivered_fidelity`)."""
    if p_dark == 0.0:
        return f_source
    total, true = _herald_probabilities("direct", eta, 0.0, p_dark)
    return fidelity_from_werner(werner_from_fidelity(f_source) * (true / total))  # total >= p_dark > 0


def _with_source_noise(fidelity: float, f_source: float) -> float:
    """``w_s·F + (1 − w_s)/4``: the fidelity after the source's white noise (``w_s`` of ``f_source``)."""
    if f_source == 1.0:
        return fidelity
    w_source = werner_from_fidelity(f_source)
    return w_source * fidelity + (1.0 - w_source) / 4.0


def is_entangled_two_qubit(rho) -> bool:
    """Whether a two-qubit density matrix (4 × 4, either basis order) is entangled: its partial transpose has a
    negative eigenvalue (Peres, Phys. Rev. Lett. 77, 1413 (1996); necessary and sufficient for two qubits,
    Horodecki et al., Phys. Lett. A 223, 1 (1996)). Eigenvalues above -1e-12 count as zero.

    >>> import numpy as np
    >>> phi = np.array([1, 0, 0, 1]) / np.sqrt(2)
    >>> is_entangled_two_qubit(np.outer(phi, phi)), is_entangled_two_qubit(np.eye(4) / 4)
    (True, False)
    """
    matrix = np.asarray(rho, dtype=complex).reshape(2, 2, 2, 2)
    transposed = matrix.transpose(0, 3, 2, 1).reshape(4, 4)
    return bool(np.linalg.eigvalsh((transposed + transposed.conj().T) / 2).min() < -1e-12)


def delivered_fidelity(
    scheme: str,
    *,
    bright_state_alpha: float = DEFAULT_BRIGHT_STATE_ALPHA,
    source_fidelity: float = 1.0,
    arm_transmittance: float = 1.0,
    dark_count_probability: float = 0.0,
) -> float:
    """Fidelity ``⟨Φ+|ρ|Φ+⟩`` of a heralded pair (the state of :func:`delivered_state`).

    * ``"single_click"``: exact for the model of the module docstring,
      ``(c₁ + c_bd)/N`` there; without dark counts ``(1 − α)/(1 − αη/2)``,
      whose leading order is the ``1 − α`` of Humphreys et al. (2018). Its
      false heralds (a dark count where no photon arrived) are mostly both
      spins dark, fidelity about α, so at ``p_d ≳ αη`` the fidelity falls
      below 1/4. An imperfect source mixes in white noise: ``F → w_s·F +
      (1 − w_s)/4``, with ``w_s`` the Werner parameter of ``source_fidelity``.
    * ``"double_click"``: exact for the model of the module docstring,
      ``(η²/2 + c_mix/4)/N`` there, with the source's white noise mixed in
      as for single-click; ``source_fidelity`` without dark counts (loss
      only removes heralds). Its false heralds have F = 1/4 (a photon
      lost, or both) or 0 (both photons in one round), on average ``(1 −
      η)/(4 − 3η)`` to first order in p_d, so ``1 − F ≈ p_d(6 − 4η)/η``.
    * ``"direct"``: a true herald (its click from the photon) gives
      ``source_fidelity``, a false one the maximally mixed pair, F = 1/4
      (module docstring): with ``P`` and ``P_true`` of
      :func:`success_probability`, the Werner parameter is that of a true
      herald times ``P_true/P``.

    Args:
        scheme: one of :data:`SCHEMES`.
        bright_state_alpha: bright-state population α in (0, 1/2]
            (``"single_click"`` only).
        source_fidelity: fidelity of the pair the hardware would deliver
            without loss, in [1/4, 1].
        arm_transmittance: η to the station's detector (as for
            :func:`success_probability`), in [0, 1]; used by ``"single_click"``
            always, by the other schemes with dark counts only.
        dark_count_probability: p_d of each detector per gate, in [0, 1].

    Returns:
        Fidelity in [1/4, 1] (``"single_click"``: in [0, 1]).

    Raises:
        DqsimError: an unknown scheme or an argument out of its range.

    Examples:
        >>> round(delivered_fidelity("single_click", bright_state_alpha=0.1, arm_transmittance=0.2), 12)  # 0.9/0.99
        0.909090909091
        >>> delivered_fidelity("double_click", source_fidelity=0.95)
        0.95
        >>> # double click, η = 1: (1/2)/(1/2 + p_d), only bunched photons err
        >>> round(delivered_fidelity("double_click", arm_transmittance=1.0, dark_count_probability=0.01), 12)
        0.980392156863
        >>> # direct: P = 0.109, P_true = 0.1, F = (0.1·1 + 0.009/4)/0.109
        >>> round(delivered_fidelity("direct", arm_transmittance=0.1, dark_count_probability=0.01), 6)
        0.938073
    """
    scheme, alpha, f_source, eta, p_dark = _check_pair_arguments(
        "delivered_fidelity", scheme, bright_state_alpha, source_fidelity, arm_transmittance, dark_count_probability)
    if scheme == "direct":
        return _direct_fidelity(f_source, eta, p_dark)
    if scheme == "double_click":
        if p_dark == 0.0:
            return f_source
        c_true, c_mix, _c_bun = _double_click_terms(eta, p_dark)
        return _with_source_noise(c_true + c_mix / 4.0, f_source)
    c_1, _c_bb, c_bd, _c_dd = _single_click_terms(alpha, eta, p_dark)
    return _with_source_noise(c_1 + c_bd, f_source)


def delivered_state(
    scheme: str,
    *,
    bright_state_alpha: float = DEFAULT_BRIGHT_STATE_ALPHA,
    source_fidelity: float = 1.0,
    arm_transmittance: float = 1.0,
    dark_count_probability: float = 0.0,
) -> np.ndarray:
    """Density matrix of a heralded pair, in the frame where the target is ``|Φ+⟩``.

    ``"single_click"``: the exact heralded state of the module docstring
    (not Bell diagonal), after the Z correction for a click of detector d
    and the X on the responder that turns ``|Ψ+⟩`` into ``|Φ+⟩``; the
    initiator's bright spin is ``|1⟩``, the responder's ``|0⟩``, so the
    both-bright term sits at ``|1⟩_a|0⟩_b``. ``"double_click"``: the exact
    heralded state of the module docstring, Bell diagonal with weights
    ``(c_true + c_mix/4, c_mix/4, c_mix/4 + c_bun/2, c_mix/4 + c_bun/2)``
    over ``(Φ+, Φ−, Ψ+, Ψ−)`` (a Werner state only without dark counts).
    Both with an imperfect source ``w_s·ρ + (1 − w_s)·I/4``. ``"direct"``:
    the Werner state of :func:`delivered_fidelity`.

    Args:
        scheme, bright_state_alpha, source_fidelity, arm_transmittance,
        dark_count_probability: as for :func:`delivered_fidelity`.

    Returns:
        A read-only 4x4 complex128 density matrix, little-endian over
        (initiator's qubit, responder's qubit): row ``i_a + 2·i_b``.

    Raises:
        DqsimError: an unknown scheme or an argument out of its range.

    Examples:
        >>> rho = delivered_state("single_click", bright_state_alpha=0.1, arm_transmittance=0.2)
        >>> [round(float(x), 6) for x in rho.diagonal().real]  # Φ+: 0.9/0.99; both bright: |1⟩_a|0⟩_b
        [0.454545, 0.090909, 0.0, 0.454545]
        >>> round(float(rho[0, 3].real), 6)
        0.454545
        >>> rho = delivered_state("double_click", arm_transmittance=1.0, dark_count_probability=0.01)
        >>> [round(float(x), 6) for x in rho.diagonal().real]  # Φ+ 0.5/0.51; Ψ± 0.005/0.51 each
        [0.490196, 0.009804, 0.009804, 0.490196]
    """
    scheme, alpha, f_source, eta, p_dark = _check_pair_arguments(
        "delivered_state", scheme, bright_state_alpha, source_fidelity, arm_transmittance, dark_count_probability)
    rho = np.zeros((4, 4), dtype=np.complex128)
    if scheme == "single_click":
        c_1, c_bb, c_bd, c_dd = _single_click_terms(alpha, eta, p_dark)
        rho[0, 0] = rho[3, 3] = c_1 / 2.0 + c_bd  # |Φ+⟩⟨Φ+| and the one-bright states, now |00⟩ and |11⟩
        rho[0, 3] = rho[3, 0] = c_1 / 2.0
        rho[1, 1] = c_bb  # both bright: |1⟩_a|0⟩_b
        rho[2, 2] = c_dd  # both dark: |0⟩_a|1⟩_b
        w = werner_from_fidelity(f_source)
    elif scheme == "double_click":
        c_true, c_mix, c_bun = _double_click_terms(eta, p_dark)
        rho[0, 0] = rho[3, 3] = c_true / 2.0 + c_mix / 4.0  # |Φ+⟩⟨Φ+| and I/4
        rho[0, 3] = rho[3, 0] = c_true / 2.0
        rho[1, 1] = rho[2, 2] = c_mix / 4.0 + c_bun / 2.0  # I/4 and the bunched (|01⟩⟨01| + |10⟩⟨10|)/2
        w = werner_from_fidelity(f_source)
    else:
        w = werner_from_fidelity(_direct_fidelity(f_source, eta, p_dark))
        rho[0, 0] = rho[3, 3] = rho[0, 3] = rho[3, 0] = 0.5
    if w < 1.0:
        rho = w * rho + (1.0 - w) / 4.0 * np.eye(4)
    rho.flags.writeable = False
    return rho


def photons_per_attempt(scheme: str, *, bright_state_alpha: float = DEFAULT_BRIGHT_STATE_ALPHA) -> float:
    """Mean number of photons the nodes send into the fibre per attempt.

    * ``"single_click"``: ``2α``: each node sends one optical pulse, which
      holds a photon only when the spin is in its bright state (population
      α; Humphreys et al. 2018). Over ``n`` attempts without regard to their
      outcomes the count is binomial with ``2n`` trials of probability α;
      a pair's ``n - 1`` failed attempts and its heralding one follow the
      conditional laws of :func:`single_click_photon_laws`.
    * ``"double_click"``: 2: a node emits only from its bright state and the
      spin flip between the two rounds swaps bright and dark, so each node
      emits exactly one photon per attempt (Barrett and Kok 2005).
    * ``"direct"``: 1, from the sending node to the receiving one.

    Args:
        scheme: one of :data:`SCHEMES`.
        bright_state_alpha: bright-state population α in (0, 1/2]
            (``"single_click"`` only).

    Returns:
        Photons per attempt (a mean for ``"single_click"``).

    Raises:
        DqsimError: an unknown scheme or α out of range.

    Examples:
        >>> [photons_per_attempt(s) for s in SCHEMES]
        [0.2, 2, 1]
    """
    scheme = check_choice("photons_per_attempt", "scheme", scheme, SCHEMES)
    alpha = check_real("photons_per_attempt", "bright_state_alpha", bright_state_alpha, 0.0, 0.5, low_open=True)
    if scheme == "single_click":
        return 2.0 * alpha
    return {"double_click": 2, "direct": 1}[scheme]


def single_click_photon_laws(alpha: float, eta: float, p_dark: float) -> tuple[tuple[float, float, float],
                                                                                   tuple[float, float, float]]:
    """``(failed, heralded)``: the laws of the photons ``n = 0, 1, 2`` the two nodes send in a single-click attempt
    that fails and in one that heralds.

    Each node's pulse holds a photon with probability α, independently:
    ``π_n = C(2, n) α^n (1 − α)^(2−n)``. The herald ("exactly one detector
    clicks", module docstring) depends on the photons only through how many
    arrive (one photon takes one detector, two bunch into one): when at
    least one arrives it heralds unless the other detector dark-counts
    (``q = 1 − p_d``), when none does it needs one dark count alone
    (``2p_d·q``). So ``n`` sent photons herald with probability

        h_n = q·[1 − (1 − η)^n (1 − 2p_d)],

    ``Σ π_n h_n = q[s + 2p_d(1 − s)]``, :func:`success_probability`'s ``P``
    (``Σ π_n (1 − η)^n = (1 − αη)²``). By Bayes' rule a failed attempt sent
    ``n`` with probability ``π_n (1 − h_n)/(1 − P)`` and a heralding one
    ``π_n h_n / P``. Attempts are independent, so a pair's ``N − 1`` failed
    attempts are independent draws of the first law and its last one a draw
    of the second; the mean over pairs is still ``2α·E[N]`` (Wald's
    identity), but a pair's count is not ``Binomial(2N, α)``: without dark
    counts its heralding attempt sent at least one photon.

    Args:
        alpha: bright-state population α in (0, 1/2].
        eta: arm transmittance η in [0, 1].
        p_dark: dark-count probability per detector and gate, in [0, 1].

    Returns:
        Two ``(P(0), P(1), P(2))`` tuples, each summing to 1 (``heralded``: ``π`` itself when ``P = 0``).

    Examples:
        >>> failed, heralded = single_click_photon_laws(0.1, 1.0, 0.0)  # lossless, no dark counts: P = 0.19
        >>> [round(x, 12) for x in failed], [round(x, 12) for x in heralded]
        ([1.0, 0.0, 0.0], [0.0, 0.947368421053, 0.052631578947])
    """
    alpha = check_real("single_click_photon_laws", "alpha", alpha, 0.0, 0.5, low_open=True)
    eta = check_real("single_click_photon_laws", "eta", eta, 0.0, 1.0)
    p_dark = check_real("single_click_photon_laws", "p_dark", p_dark, 0.0, 1.0)
    q = 1.0 - p_dark
    prior = ((1.0 - alpha) ** 2, 2.0 * alpha * (1.0 - alpha), alpha * alpha)
    heralds = [q * (1.0 - (1.0 - eta) ** n * (1.0 - 2.0 * p_dark)) for n in range(3)]
    joint_h = [prior[n] * heralds[n] for n in range(3)]
    joint_f = [prior[n] * (1.0 - heralds[n]) for n in range(3)]
    total_h, total_f = sum(joint_h), sum(joint_f)
    failed = tuple(x / total_f for x in joint_f)
    heralded = tuple(x / total_h for x in joint_h) if total_h > 0.0 else prior
    return failed, heralded


def herald_delay_ps(
    distance_km: float,
    *,
    scheme: str = "double_click",
    group_index: float = DEFAULT_GROUP_INDEX,
) -> int:
    """Time from an attempt's emission until both nodes know its outcome: the round trip to the station.

    Midpoint schemes: the photons travel L/2 to the station and the herald
    L/2 back to each node, ``n_g·L/c`` in all (one link delay). ``"direct"``:
    the photon travels L to the far node, which detects it, and its
    acknowledgment L back to the sender, ``2·n_g·L/c``.

    Args:
        distance_km: length of the whole link, km, >= 0.
        scheme: one of :data:`SCHEMES`.
        group_index: fibre group index n_g, >= 1.

    Returns:
        Herald delay, ps.

    Raises:
        DqsimError: an unknown scheme or an argument out of its range.

    Examples:
        >>> herald_delay_ps(10.0) == propagation_delay_ps(10.0)
        True
        >>> herald_delay_ps(10.0, scheme="direct") == propagation_delay_ps(20.0)
        True
    """
    return _round_trip_ps("herald_delay_ps", distance_km, scheme, group_index)


def _round_trip_ps(where: str, distance_km: float, scheme: str, group_index: float) -> int:
    """Node → station → node over the fibre, ps; errors name ``where``."""
    scheme = check_choice(where, "scheme", scheme, SCHEMES)
    distance_km = check_real(where, "distance_km", distance_km, 0.0)
    group_index = check_real(where, "group_index", group_index, 1.0)
    return propagation_delay_ps(2.0 * station_distance_km(scheme, distance_km), group_index)


def attempt_period_ps(
    distance_km: float,
    *,
    scheme: str = "double_click",
    group_index: float = DEFAULT_GROUP_INDEX,
    source_period_ps: int = 0,
) -> int:
    """Time between attempts: max(round trip node → station → node, source period).

    The herald must be back before the next attempt, so the period is at
    least :func:`herald_delay_ps`: ``n_g·L/c`` for a midpoint station, and
    ``2·n_g·L/c`` for ``"direct"`` (the acknowledgment returns from the far
    node).

    Args:
        distance_km: length of the whole link, km, >= 0.
        scheme: one of :data:`SCHEMES`.
        group_index: fibre group index n_g, >= 1.
        source_period_ps: shortest time between two emissions of the
            source (1 / repetition rate), ps, >= 0.

    Returns:
        Attempt period, ps (0 only for a zero-length link with no source limit).

    Raises:
        DqsimError: an unknown scheme or an argument out of its range.

    Examples:
        >>> attempt_period_ps(10.0)  # = propagation_delay_ps(10.0): 5 km there, 5 km back
        48967209
        >>> attempt_period_ps(0.0, source_period_ps=1000)
        1000
    """
    round_trip_ps = _round_trip_ps("attempt_period_ps", distance_km, scheme, group_index)
    return max(round_trip_ps, check_int("attempt_period_ps", "source_period_ps", source_period_ps, 0))


def mean_attempts(success_probability: float) -> float:
    """Mean number of attempts up to and including the first success: 1/p.

    The number of independent attempts to the first success is geometric
    with ``P(N = k) = (1 - p)^(k-1)·p``, mean ``1/p``.

    Args:
        success_probability: p per attempt, in [0, 1].

    Returns:
        Mean attempts, >= 1 (``math.inf`` for p = 0).

    Raises:
        DqsimError: p outside [0, 1].

    Examples:
        >>> mean_attempts(0.25)
        4.0
    """
    p = check_real("mean_attempts", "success_probability", success_probability, 0.0, 1.0)
    return math.inf if p == 0.0 else 1.0 / p


def mean_attempts_two_links(success_probability: float) -> float:
    """Mean attempts until both of two links succeed, each retrying alone: (3 - 2p)/(p(2 - p)).

    Two links attempt in lockstep; a link that succeeded keeps its pair
    (no decoherence cut-off) and swapping is deterministic, so the wait is
    ``E[max(N1, N2)]`` for independent geometric ``N1``, ``N2``:
    ``E[max] = E[N1] + E[N2] - E[min]`` with ``min`` geometric of success
    probability ``1 - (1 - p)²``, i.e. ``2/p - 1/(p(2 - p))``
    (E. Shchukin, F. Schmidt and P. van Loock, Phys. Rev. A 100, 032322
    (2019), the n = 2 case).

    Args:
        success_probability: p per attempt of each link, in [0, 1].

    Returns:
        Mean attempts (``math.inf`` for p = 0).

    Raises:
        DqsimError: p outside [0, 1].

    Examples:
        >>> mean_attempts_two_links(0.5)
        2.6666666666666665
        >>> mean_attempts_two_links(1.0)
        1.0
    """
    p = check_real("mean_attempts_two_links", "success_probability", success_probability, 0.0, 1.0)
    return math.inf if p == 0.0 else (3.0 - 2.0 * p) / (p * (2.0 - p))


#: Euler's constant γ: ``H_n > ln n + γ`` for every n >= 1.
_EULER_GAMMA = 0.5772156649015329


def least_mean_attempts(success_probability: float, num_links: int = 1) -> float:
    """A lower bound on the mean attempts until each of ``num_links`` links, retrying alone, has succeeded.

    The attempts ``N_i`` of independent links are geometric, ``N_i = ⌈E_i/λ⌉``
    with ``E_i`` exponential of mean 1 and ``λ = −ln(1 − p)``, so ``max N_i >=
    max E_i/λ``, whose mean is ``H_n/λ > (ln n + γ)/λ`` (``H_n`` the harmonic
    number, γ Euler's constant; B. Eisenberg, Stat. Probab. Lett. 78, 135
    (2008) gives ``E[max] − H_n/λ`` between 0 and 1); and ``E[max] >= E[N_1] =
    1/p``. The bound is ``max(1/p, (ln n + γ)/λ)``: exact for one link, within
    about one attempt of ``E[max]`` for many (:func:`mean_attempts_two_links`
    is exact for two).

    Args:
        success_probability: p per attempt of each link, in [0, 1].
        num_links: independent links, >= 1.

    Returns:
        Attempts (``math.inf`` for p = 0).

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> least_mean_attempts(0.25)
        4.0
        >>> round(least_mean_attempts(0.01, 2), 1), round(mean_attempts_two_links(0.01), 1)
        (126.4, 149.7)
    """
    where = "least_mean_attempts"
    p = check_real(where, "success_probability", success_probability, 0.0, 1.0)
    n = check_int(where, "num_links", num_links, 1)
    if p == 0.0:
        return math.inf
    if p == 1.0:
        return 1.0
    return max(1.0 / p, (math.log(n) + _EULER_GAMMA) / -math.log1p(-p))


#: Most terms of the sums in :func:`cutoff_pass_probability`: the negative binomial CDF is summed term by term up to
#: it (where its closed form, :func:`negative_binomial_cdf`, is too small to trust) and in closed form beyond; the
#: link-difference sum over ``k`` takes :data:`CUTOFF_PASS_BINS` bins of equal width beyond it, each weighted
#: exactly (since 2026-12-07 (night); before, the attempts beyond it were dropped, so the probability stayed below
#: 1/2 for ever and ``dqsim check`` looped, review3 D1).
CUTOFF_PASS_MAX_TERMS = 4_000_000

#: ``q^k`` below ``e^-CUTOFF_PASS_TAIL_LOG`` (about 4e-18) is left out of the link-difference sum.
CUTOFF_PASS_TAIL_LOG = 40.0

#: Bins of the link-difference sum where it runs past :data:`CUTOFF_PASS_MAX_TERMS` terms: each at least
#: ``CUTOFF_PASS_TAIL_LOG/(p·CUTOFF_PASS_BINS)`` (about 6e-4/p) wide, where ``P(Y <= y)`` changes on a scale of
#: ``1/p``, so the midpoint rule errs by up to ~1e-6 relative (7.7e-7 the largest a review found against exact sums,
#: always high); fewer points than summing term by term costs. Past the switch a value far in the tail (below
#: ~1e-15) comes out as rounding noise of ~1e-16 absolute, not relative; no job reaches such values.
CUTOFF_PASS_BINS = 65_536


def negative_binomial_cdf(success_probability: float, successes: int, failures) -> np.ndarray:
    """``P(Y <= y)`` for each ``y`` of ``failures`` (non-negative integers), ``Y`` the failed attempts before the
    ``successes``-th success of independent attempts that succeed with probability ``p``.

    ``Y <= y`` exactly when the first ``y + j`` attempts hold at least ``j`` successes (``j = successes``), so
    ``P(Y <= y) = 1 - Σ_(i<j) C(y + j, i)·p^i·q^(y + j - i)`` (a binomial lower tail; Feller, An Introduction to
    Probability Theory and Its Applications, vol. 1, 3rd ed., section VI.8): ``j`` terms whatever ``y``, each
    taken in logarithms. Where the result is far below 1 its absolute error is about 1e-16 (the difference of
    two numbers near 1): :func:`cutoff_pass_probability` sums term by term below
    :data:`CUTOFF_PASS_MAX_TERMS` instead.

    Args:
        success_probability: p, in (0, 1].
        successes: j, >= 0.
        failures: y, an integer or an array of them, >= 0.

    Returns:
        The probabilities, an array of ``failures``'s shape, in [0, 1].

    Examples:
        >>> [round(float(v), 4) for v in negative_binomial_cdf(0.5, 1, [0, 1, 2])]  # 1 - q^(y+1)
        [0.5, 0.75, 0.875]
        >>> round(float(negative_binomial_cdf(4.05e-7, 2, 10**9)), 6)
        1.0
    """
    p, j = float(success_probability), int(successes)
    y = np.asarray(failures, dtype=np.float64)
    if j == 0 or p >= 1.0:
        return np.ones_like(y)
    n = y + j
    log_p, log_q = math.log(p), math.log1p(-p)
    log_term = n * log_q  # i = 0: q^n
    lower = np.exp(log_term)
    for i in range(1, j):
        log_term = log_term + np.log((n - i + 1) / i) + log_p - log_q
        lower = lower + np.exp(log_term)
    return np.clip(1.0 - lower, 0.0, 1.0)


def _negative_binomial_table(p: float, j: int, largest: int):
    """``P(Y <= y)`` for ``y`` in ``0..largest`` summed term by term (``largest < CUTOFF_PASS_MAX_TERMS``)."""
    y = np.arange(1, largest + 1, dtype=np.float64)
    failures = p ** j * np.concatenate(([1.0], np.cumprod((1.0 - p) * (y + j - 1) / y)))
    return np.minimum(np.cumsum(failures), 1.0)


#: A closed-form ``P(Y <= y)`` (:func:`negative_binomial_cdf`) at least this large is taken as it is (relative error
#: about 1e-10); a smaller one below :data:`CUTOFF_PASS_MAX_TERMS` is summed term by term.
CLOSED_FORM_LEAST = 1e-6


def _negative_binomial_at(p: float, j: int, ys: np.ndarray) -> np.ndarray:
    """``P(Y <= y)`` at each of ``ys`` (non-negative integers): one ``y`` by :func:`negative_binomial_cdf` where that
    is at least :data:`CLOSED_FORM_LEAST` (summing millions of terms for each of the hundreds of calls of a cut-off
    search cost seconds); else by the term-by-term table where they all lie below :data:`CUTOFF_PASS_MAX_TERMS`
    (exact where the result is small), else :func:`negative_binomial_cdf`."""
    ys = np.asarray(ys)
    largest = int(np.max(ys)) if ys.size else 0
    if ys.size == 1:
        closed = negative_binomial_cdf(p, j, ys)
        if closed[0] >= CLOSED_FORM_LEAST or largest >= CUTOFF_PASS_MAX_TERMS:
            return closed
    if largest < CUTOFF_PASS_MAX_TERMS:
        return _negative_binomial_table(p, j, largest)[ys.astype(np.int64)]
    return negative_binomial_cdf(p, j, ys)


def _difference_bins(p: float, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(k, weight)``: points ``k`` in ``0..m`` of ``|N1 - N2|`` and the probability of each one's bin, the bins
    of equal width covering ``k <= min(m, K)`` (``q^K`` below ``e^-CUTOFF_PASS_TAIL_LOG``): width 1 (exact) below
    :data:`CUTOFF_PASS_MAX_TERMS` terms, else :data:`CUTOFF_PASS_BINS` bins. ``P(|N1 - N2| = k)`` is
    ``p/(1 + q)`` at 0 and ``2p·q^k/(1 + q)`` above, so a bin ``[a, b)`` with ``a >= 1`` weighs
    ``2(q^a - q^b)/(1 + q)``; its point is its middle."""
    q = 1.0 - p
    tail = m if q == 0.0 else min(m, math.ceil(CUTOFF_PASS_TAIL_LOG / -math.log(q)))
    width = 1 if tail < CUTOFF_PASS_MAX_TERMS else -(-tail // CUTOFF_PASS_BINS)
    starts = np.arange(1, tail + 1, width, dtype=np.float64)
    ends = np.minimum(starts + width, tail + 1)
    log_q = math.log(q) if q > 0.0 else -math.inf
    weight = 2.0 * (np.exp(starts * log_q) - np.exp(ends * log_q)) / (1.0 + q)
    points = np.floor((starts + ends - 1) / 2)
    return np.concatenate(([0.0], points)), np.concatenate(([p / (1.0 + q)], weight))


def cutoff_pass_probability(success_probability: float, spare_attempts: int, num_repeaters: int = 1,
                            pumping_rounds: int = 0, purify_success: Sequence[float] = ()) -> float:
    """Probability that a chain attempt passes every repeater's memory cut-off, its links in lockstep; without
    pumping ``(1 - 2·q^(m+1)/(1 + q))^R``, ``q = 1 - p``.

    A repeater holds the pair of the link that succeeded first while the other link retries; it can swap
    only if its older pair is still younger than the cut-off then, i.e. within ``m`` attempt periods
    (``spare_attempts``: the cut-off less the least age at which a repeater can swap, herald and pumping
    handshakes, in whole attempt periods). For independent geometric attempt counts ``N1``, ``N2`` of the
    two links to their first pair, ``P(N1 - N2 = k) = p·q^k/(1 + q)`` for ``k >= 0`` (sum of ``p²·q^(2j+k)``
    over ``N2 = j + 1``), so without pumping ``P(|N1 - N2| > m) = 2·q^(m+1)/(1 + q)``. With ``r`` pumping
    rounds each link then needs ``r`` more pairs, ``Y`` failed attempts among them (negative binomial,
    ``P(Y = y) = C(y + r - 1, y)·p^r·q^y``), and the kept pair of the earlier link is ``|N1 - N2| + Y``
    periods older than the least age, the other one ``Y'``: the repeater passes with
    ``sum_k P(|N1 - N2| = k)·P(Y <= m - k)·P(Y' <= m)``. Failed purifications (which restart a link's
    pumping) are left out, and the ``R`` repeaters are taken as independent: an estimate, not a bound;
    neighbours share a link, whose pumping ages both their pairs, so with pumping the product errs low (3 links,
    one round: 0.29 against 0.39 simulated, ``tests/test_repeater.py``; one repeater agrees within its
    standard error). Links that restart out of step after an abandoned attempt
    (:mod:`dqsim.protocols.repeater`) are not modelled either.

    ``R = 0`` is a chain of one link, whose end B applies the cut-off (no repeater): its kept pair waits for no
    other link, only for its own ``r`` spare pairs, so it is ``Y`` periods older than the least age and passes
    with ``P(Y <= m)``, the negative binomial distribution's CDF (Feller, An Introduction to Probability Theory
    and Its Applications, vol. 1, 3rd ed., section VI.8): 1 without pumping, where its age is fixed (a cut-off
    below it is refused by the job check). A failed purification starts over from a new kept pair, whose age
    starts again; since 2026-12-07 the cut-off is applied at the kept pair's deadline while it is pumped, so a
    kept pair whose pumping would have failed is still cut if it comes too late. With ``purify_success`` (the
    rounds' success probabilities ``s_j``) a kept pair's turn then ends in a pass with ``P(Y_r <= m)·∏ s_j``,
    in a failed round ``j`` before the deadline with ``F_j = P(Y_j <= m)·∏_{i<j} s_i·(1 - s_j)`` (a new turn),
    else at the cut-off, and the attempt passes with ``P(Y_r <= m)·∏ s_j / (1 - Σ_j F_j)`` (renewal; exact
    for one round; for two, round 1's deadline is taken as round 2's, which errs low). Left out for repeaters
    (``dqsim.jobs.repeater.ChainSection._pass_estimate`` adds them per link).

    Args:
        success_probability: p per attempt of each link, in [0, 1].
        spare_attempts: m, whole attempt periods a repeater can wait, >= -1 (-1: the cut-off is shorter than
            the least age: no attempt passes).
        num_repeaters: R, >= 0 (0: one link, its end B applying the cut-off).
        pumping_rounds: r, pairs each link pumps into its kept one, >= 0.
        purify_success: one link only: the success probability of each pumping round, in (0, 1] (empty: all 1).

    Returns:
        The probability, in [0, 1].

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> round(cutoff_pass_probability(0.5, 0), 4)  # the two links must succeed in the same attempt: p/(1+q)
        0.3333
        >>> round(cutoff_pass_probability(0.5, 3, 10), 4)
        0.4189
        >>> round(cutoff_pass_probability(1.0, 0, 5, pumping_rounds=2), 4)
        1.0
        >>> round(cutoff_pass_probability(0.5, 1, 0, pumping_rounds=1), 4)  # one link: its spare pair in <= 2
        0.75
        >>> cutoff_pass_probability(0.5, 0, 0)  # one link without pumping: its pair's age is fixed
        1.0
        >>> round(cutoff_pass_probability(0.5, 1, 0, 1, purify_success=[0.5]), 4)  # 0.75·0.5 / (1 - 0.75·0.5)
        0.6
    """
    where = "cutoff_pass_probability"
    p = check_real(where, "success_probability", success_probability, 0.0, 1.0)
    m = check_int(where, "spare_attempts", spare_attempts, -1)
    r = check_int(where, "num_repeaters", num_repeaters, 0)
    rounds = check_int(where, "pumping_rounds", pumping_rounds, 0)
    if m < 0 or p == 0.0:
        return 0.0
    q = 1.0 - p
    if r == 0:  # one link: P(Y <= m) of its pumping's failed attempts (1 without pumping)
        if rounds == 0:
            return 1.0
        def within(j: int) -> float:  # P(Y_j <= m), Y_j the failed attempts of j spare pairs
            return float(_negative_binomial_at(p, j, np.array([m]))[0])

        if not purify_success:
            return within(rounds)
        odds = [check_real(where, "purify_success", value, 0.0, 1.0, low_open=True) for value in purify_success]
        if len(odds) != rounds:
            raise DqsimError(f"{where}: purify_success needs {rounds} value(s), got {len(odds)}")
        kept, restart = 1.0, 0.0  # (product of the earlier rounds' success; a new turn's probability)
        for j, success in enumerate(odds, start=1):
            passed = within(j)  # the last, j = rounds, is also the pass term below
            restart += passed * kept * (1.0 - success)
            kept *= success
        return min(passed * kept / (1.0 - restart), 1.0)
    if rounds == 0:
        return (1.0 - 2.0 * q ** (m + 1) / (1.0 + q)) ** r
    k, difference = _difference_bins(p, m)  # P(|N1 - N2| = k), binned where k runs far
    within = _negative_binomial_at(p, rounds, np.concatenate(([float(m)], m - k)))  # P(Y' <= m), P(Y <= m - k)
    single = float(np.sum(difference * within[1:]) * within[0])
    return min(single, 1.0) ** r


def mean_time_to_success_ps(success_probability: float, attempt_period_ps: int) -> float:
    """Mean time to the first heralded pair: attempt period / p.

    Args:
        success_probability: p per attempt, in [0, 1].
        attempt_period_ps: time per attempt, ps, >= 0 (see :func:`attempt_period_ps`).

    Returns:
        Mean time, ps (a float; ``math.inf`` for p = 0).

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> mean_time_to_success_ps(0.01, 1000)
        100000.0
    """
    where = "mean_time_to_success_ps"
    period_ps = check_int(where, "attempt_period_ps", attempt_period_ps, 0)
    attempts = mean_attempts(check_real(where, "success_probability", success_probability,
                                        0.0, 1.0))
    if attempts == math.inf:
        return math.inf
    return attempts * period_ps
