"""Heralded entanglement generation over one fibre link.

Three schemes, named as in job files:

``"single_click"``
    Both nodes entangle a spin with photon number (bright-state population
    α) and send the photon to a beam splitter at the midpoint station; one
    click heralds the state. Success probability per attempt ``p ≈ 2·α·η``
    and fidelity ``F ≈ 1 - α`` (Humphreys et al., Nature 558, 268 (2018),
    Methods; Rozpędek et al., Phys. Rev. A 99, 052330 (2019), Sec. III.A),
    to leading order in α·η and without dark counts or phase noise. Here η
    is the transmittance of one *arm*: from a node over half the link to
    the station's detector, including the detector's efficiency.

``"double_click"`` (Barrett-Kok)
    Two rounds with a spin flip in between; a click is needed in each, so
    ``p = η²/2`` (S. D. Barrett and P. Kok, Phys. Rev. A 71, 060310(R)
    (2005)): 1/2 for the linear-optics Bell measurement, η per photon. A
    node emits only from its bright spin state, and the flip between the
    rounds swaps bright and dark, so each node emits exactly one photon per
    attempt (in one round or the other): two photons per attempt. A
    lost photon gives no herald, so loss costs rate, never fidelity: the
    delivered fidelity is that of the emitters' spin-photon states and of
    the photons' indistinguishability, lumped into ``source_fidelity``.

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
:func:`delivered_fidelity`). At ``p_d << η`` false heralds are a share of
about ``p_d(8 − 6η)/η`` of the heralds (double-click), ``p_d/(αη)``
(single-click) or ``p_d/η`` (direct).

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

from dqsim.checks import check_choice, check_int, check_real
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
    * ``"single_click"``: a photon click ``s = 2αη`` (leading order), no dark
      count in the other detector: ``P = q(s + 2p_dark(1 - s))``,
      ``P_true = q·s``.
    * ``"double_click"``: half the attempts have one photon per round
      (clicks ``a = q(η + 2p_dark(1 - η))`` per round, ``η·q`` of them from
      the photon), half two photons in one round (bunched: ``t = q(1 - (1 -
      η)² + 2p_dark(1 - η)²)``) and none in the other (``z = 2p_dark·q``):
      ``P = (a² + t·z)/2``, ``P_true = (η·q)²/2``.
    """
    q = 1.0 - p_dark
    if scheme == "direct":
        return 1.0 - (1.0 - eta) * q, eta
    if scheme == "single_click":
        s = 2.0 * alpha * eta
        return q * (s + 2.0 * p_dark * (1.0 - s)), q * s
    a = q * (eta + 2.0 * p_dark * (1.0 - eta))
    t = q * (1.0 - (1.0 - eta) ** 2 + 2.0 * p_dark * (1.0 - eta) ** 2)
    z = 2.0 * p_dark * q
    return (a * a + t * z) / 2.0, (eta * q) ** 2 / 2.0


def success_probability(
    scheme: str,
    arm_transmittance: float,
    *,
    bright_state_alpha: float = DEFAULT_BRIGHT_STATE_ALPHA,
    dark_count_probability: float = 0.0,
) -> float:
    """Probability that one attempt heralds a pair (true or false herald).

    Without dark counts:

    * ``"single_click"``: ``2·α·η`` (Humphreys et al. 2018; Rozpędek et al.
      2019), leading order in α·η; the exact threshold-detector value
      without dark counts, ``1 - (1 - α·η)²``, differs by ``(α·η)²``.
    * ``"double_click"``: ``η²/2`` (Barrett and Kok 2005).
    * ``"direct"``: ``η``.

    A dark count can stand in for a lost photon and herald falsely: with
    dark-count probability ``p_d`` per detector and gate the probability is
    that of :func:`_herald_probabilities` (``1 - (1 - η)(1 - p_d)`` for
    ``"direct"``; to first order ``2αη + 2p_d`` single-click and
    ``η²/2 + 4p_d·η(1 − η)`` double-click).

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
        >>> round(success_probability("single_click", 0.1, bright_state_alpha=0.05), 12)
        0.01
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
            return 2.0 * alpha * eta
        if scheme == "double_click":
            return eta * eta / 2.0
        return eta
    return _herald_probabilities(scheme, eta, alpha, p_dark)[0]


def delivered_fidelity(
    scheme: str,
    *,
    bright_state_alpha: float = DEFAULT_BRIGHT_STATE_ALPHA,
    source_fidelity: float = 1.0,
    arm_transmittance: float = 1.0,
    dark_count_probability: float = 0.0,
) -> float:
    """Fidelity to the target Bell state of a heralded pair.

    A true herald (every click from a photon) gives:

    * ``"double_click"`` and ``"direct"``: ``source_fidelity``; loss only
      removes heralds (module docstring).
    * ``"single_click"``: ``1 - α`` (Humphreys et al. 2018), the weight of
      the state in which both nodes emitted, for a perfect source. With an
      imperfect source the two errors are composed as independent
      depolarising (Werner) noise, ``w = w(1 - α)·w(source_fidelity)``, an
      approximation that reduces to ``1 - α`` when ``source_fidelity = 1``.

    A false herald (a dark count stood in for a lost photon) leaves the two
    memories without entanglement; it counts as the maximally mixed pair,
    F = 1/4. That is exact for ``"direct"`` (the sender's qubit is mixed by
    the lost photon, the receiver's is uncorrelated with it) and close for
    ``"double_click"``: its false heralds have F = 1/2 (a photon lost, the
    spins anti-correlated without coherence) or F = 0 (both photons in one
    round), on average (1 − η)/(4 − 3η) to first order in p_d, i.e. 1/4 at
    small η; for ``"single_click"`` it is an upper estimate (its false
    heralds are mostly both nodes dark, F ≈ α). With ``P`` and ``P_true`` of
    :func:`success_probability`, the Werner parameter is that of a true
    herald times ``P_true/P``.

    Args:
        scheme: one of :data:`SCHEMES`.
        bright_state_alpha: bright-state population α in (0, 1/2]
            (``"single_click"`` only).
        source_fidelity: fidelity of the pair the hardware would deliver
            without loss, in [1/4, 1].
        arm_transmittance: η to the station's detector (as for
            :func:`success_probability`), in [0, 1]; used with dark counts only.
        dark_count_probability: p_d of each detector per gate, in [0, 1].

    Returns:
        Fidelity in [1/4, 1].

    Raises:
        DqsimError: an unknown scheme or an argument out of its range.

    Examples:
        >>> delivered_fidelity("single_click", bright_state_alpha=0.1)
        0.9
        >>> delivered_fidelity("double_click", source_fidelity=0.95)
        0.95
        >>> # direct: P = 0.109, P_true = 0.1, F = (0.1·1 + 0.009/4)/0.109
        >>> round(delivered_fidelity("direct", arm_transmittance=0.1, dark_count_probability=0.01), 6)
        0.938073
    """
    where = "delivered_fidelity"
    scheme = check_choice(where, "scheme", scheme, SCHEMES)
    alpha = check_real(where, "bright_state_alpha", bright_state_alpha, 0.0, 0.5, low_open=True)
    f_source = check_real(where, "source_fidelity", source_fidelity, 0.25, 1.0)
    eta = check_real(where, "arm_transmittance", arm_transmittance, 0.0, 1.0)
    p_dark = check_real(where, "dark_count_probability", dark_count_probability, 0.0, 1.0)
    if scheme != "single_click":
        f_true = f_source
    elif f_source == 1.0:
        f_true = 1.0 - alpha
    else:
        f_true = fidelity_from_werner(werner_from_fidelity(1.0 - alpha) * werner_from_fidelity(f_source))
    if p_dark == 0.0:
        return f_true
    total, true = _herald_probabilities(scheme, eta, alpha, p_dark)
    if total <= 0.0:
        return f_true
    return fidelity_from_werner(werner_from_fidelity(f_true) * (true / total))


def photons_per_attempt(scheme: str, *, bright_state_alpha: float = DEFAULT_BRIGHT_STATE_ALPHA) -> float:
    """Mean number of photons the nodes send into the fibre per attempt.

    * ``"single_click"``: ``2α``: each node sends one optical pulse, which
      holds a photon only when the spin is in its bright state (population
      α; Humphreys et al. 2018), so the count over ``n`` attempts is
      binomial with ``2n`` trials of probability α.
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
