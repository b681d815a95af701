"""Threshold single-photon detectors: clicks, dark counts, dead time.

A threshold ("on/off") detector clicks when at least one photon is
registered or a dark (background) count occurs in its gate; it does not
resolve photon number.
"""

from __future__ import annotations

import math

from dqsim import units
from dqsim.checks import check_int, check_real


def detection_probability(
    mean_photon_number: float,
    transmittance: float,
    dark_count_probability: float = 0.0,
) -> float:
    """Click probability per pulse for a coherent state: 1 - (1 - Y0)·e^(-η·μ).

    Ma, Qi, Zhao and Lo, Phys. Rev. A 72, 012326 (2005), Sec. II: an
    ``i``-photon state is detected with yield ``Y_i = 1 - (1 - Y0)(1 - η)^i``;
    averaging over the Poisson photon number of a coherent state of mean
    ``μ`` gives the gain ``Q_μ = 1 - (1 - Y0)·e^(-η·μ)`` (≈ ``Y0 + 1 -
    e^(-η·μ)`` as written there, to first order in ``Y0``).

    Args:
        mean_photon_number: mean photon number μ of the pulse, >= 0.
        transmittance: overall transmittance η (fibre, coupling and detector
            efficiency), in [0, 1].
        dark_count_probability: background click probability Y0 per gate, in
            [0, 1] (see :func:`dark_count_probability`).

    Returns:
        Probability of a click, in [0, 1].

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> round(detection_probability(0.5, 0.1), 6)
        0.048771
        >>> round(detection_probability(0.0, 0.1, 1e-6), 12)
        1e-06
    """
    where = "detection_probability"
    mu = check_real(where, "mean_photon_number", mean_photon_number, 0.0)
    eta = check_real(where, "transmittance", transmittance, 0.0, 1.0)
    y0 = check_real(where, "dark_count_probability", dark_count_probability, 0.0, 1.0)
    return 1.0 - (1.0 - y0) * math.exp(-eta * mu)


def dark_count_probability(dark_count_rate_hz: float, gate_width_ps: int) -> float:
    """Probability of at least one dark count in a gate: 1 - exp(-rate·width).

    Dark counts arrive as a Poisson process of rate ``R_dark``, so the
    probability of none in a gate of width ``Δt`` is ``exp(-R_dark·Δt)``.

    Args:
        dark_count_rate_hz: dark count rate, Hz (counts per second), >= 0.
        gate_width_ps: detection gate (window) width, ps, > 0.

    Returns:
        Dark-count probability of one detector per gate, in [0, 1) (a BB84
        receiver of two such detectors has the background yield
        Y0 = 1 - (1 - p)² ≈ 2p, :func:`dqsim.protocols.qkd.theory.background_yield`).

    Raises:
        DqsimError: a negative rate or a non-positive gate width.

    Examples:
        >>> round(dark_count_probability(100.0, 1000), 12)
        1e-07
        >>> dark_count_probability(0.0, 1000)
        0.0
    """
    where = "dark_count_probability"
    rate_hz = check_real(where, "dark_count_rate_hz", dark_count_rate_hz, 0.0)
    width_ps = check_int(where, "gate_width_ps", gate_width_ps, 1)
    return -math.expm1(-rate_hz * units.ps_to_seconds(width_ps))


def dead_time_efficiency(detection_rate_hz: float, dead_time_ps: int) -> float:
    """Fraction of detection events registered by a non-paralysable detector: 1/(1 + R·τ).

    After each registered event the detector is blind for ``τ``; events in
    that time are lost and do not extend it (non-paralysable model). An
    incident event rate ``R`` then gives a registered rate ``R/(1 + R·τ)``
    (G. F. Knoll, *Radiation Detection and Measurement*, 4th ed., Wiley
    2010, Sec. 4.VII); the factor ``1/(1 + R·τ)`` is the one Eraerds et al.,
    New J. Phys. 12, 063027 (2010) apply to their QKD detector gain.

    Args:
        detection_rate_hz: rate R of detection events the detector would
            register without dead time, Hz, >= 0.
        dead_time_ps: dead time τ, ps, >= 0.

    Returns:
        Efficiency factor in (0, 1]; 1 without dead time.

    Raises:
        DqsimError: a negative rate or dead time.

    Examples:
        >>> dead_time_efficiency(1.0e6, 100_000)
        0.9090909090909091
        >>> dead_time_efficiency(1.0e6, 0)
        1.0
    """
    where = "dead_time_efficiency"
    rate_hz = check_real(where, "detection_rate_hz", detection_rate_hz, 0.0)
    dead_ps = check_int(where, "dead_time_ps", dead_time_ps, 0)
    return 1.0 / (1.0 + rate_hz * units.ps_to_seconds(dead_ps))


def dead_time_pulses(dead_time_ps: int, pulse_rate_hz: float) -> int:
    """Pulses (gates) after a registered click that find a non-paralysable detector still dead: ⌊τ·R⌋.

    Pulse ``j`` after the click arrives ``j/R`` later; the detector is dead
    for ``τ``, so pulse ``j`` is lost when ``j/R <= τ`` (the pulse arriving
    exactly at ``τ`` counted as lost, so that an integer ``τ·R`` blinds
    exactly ``τ·R`` pulses and the registered fraction per pulse is
    ``1/(1 + p·τ·R)``, :func:`dead_time_efficiency` with ``R_click = p·R``).
    A dead time shorter than the pulse period blinds none: the detector has
    recovered before the next pulse (Knoll, *Radiation Detection and
    Measurement*, Sec. 4.VII, for a periodic source). Rounding ``τ·R`` up
    instead would blind one pulse too many whenever it is not an integer
    (every other pulse at ``τ = 0.5/R``).

    Args:
        dead_time_ps: dead time τ, ps, >= 0.
        pulse_rate_hz: pulse repetition rate R, Hz, > 0.

    Returns:
        Number of blinded pulses, >= 0.

    Raises:
        DqsimError: a negative dead time or a non-positive rate.

    Examples:
        >>> dead_time_pulses(50_000, 1e9), dead_time_pulses(25_000, 1e8), dead_time_pulses(5_000, 1e8)
        (50, 2, 0)
    """
    where = "dead_time_pulses"
    dead_ps = check_int(where, "dead_time_ps", dead_time_ps, 0)
    rate_hz = check_real(where, "pulse_rate_hz", pulse_rate_hz, 0.0, low_open=True)
    ratio = units.ps_to_seconds(dead_ps) * rate_hz
    nearest = round(ratio)
    if abs(ratio - nearest) <= 1e-9 * max(1.0, ratio):  # an integer up to rounding: exactly that many
        return int(nearest)
    return math.floor(ratio)
