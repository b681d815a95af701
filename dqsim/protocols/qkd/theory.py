"""Closed-form physics of decoy-state BB84 with weak coherent pulses (asymptotic).

Notation follows X. Ma, B. Qi, Y. Zhao and H.-K. Lo, "Practical decoy state
for quantum key distribution", Phys. Rev. A 72, 012326 (2005), Sec. II
(below "Ma et al. 2005"):

* ``η`` is the *total* transmittance of one photon from Alice's source to a
  click of Bob's detector (fibre, coupling and detector efficiency);
* ``Y0`` is the background yield, the probability that Bob's receiver
  clicks on a vacuum pulse. Bob's receiver has two threshold detectors (one
  per bit value), each with a dark/noise click probability ``p`` per gate,
  so ``Y0 = 1 - (1 - p)^2 ≈ 2p`` (:func:`background_yield`);
* ``e0 = 1/2`` is the error rate of background clicks, ``e_d`` the
  probability that a photon reaches the wrong detector (misalignment);
* ``μ`` is the mean photon number (intensity) of a pulse.

:func:`gain`, :func:`error_gain`, :func:`qber`, :func:`single_photon_yield`
and :func:`single_photon_error` are the formulas as Ma et al. write them, to
first order in the background: a background click and a photon click of the
same pulse are counted as two events. The simulator's receiver
(:mod:`dqsim.protocols.qkd.bb84`: two threshold detectors, a double click
given a random bit) makes them one event, so its gain is
``1 - (1 - p_b)²·e^(-ημ)`` and a background click in the wrong detector
beside a photon in the right one is an error half of the time, not always.
With dark counts alone (Y0 ~ 1e-8-1e-5) the difference is far below any
statistical error; with Raman noise (Y0 ~ 1e-2) it is not: at 25 km with a
0 dBm co-propagating channel (``jobs/bb84_raman_coexistence.toml``) Ma et
al.'s E_μ is 0.0639 where the receiver gives 0.0614.
:func:`receiver_gain_and_error` and :func:`receiver_single_photon` are that
receiver's exact figures, and :func:`theoretical_key_rate` uses them.

Finite-key effects are not included anywhere in this module.
"""

from __future__ import annotations

import math

import numpy as np

from dqsim.checks import check_int, check_real
from dqsim.network.fibre import DEFAULT_ATTENUATION_DB_PER_KM, total_transmittance

__all__ = [
    "BACKGROUND_ERROR_RATE",
    "DEFAULT_DARK_COUNT_PROBABILITY",
    "DEFAULT_DETECTOR_EFFICIENCY",
    "DEFAULT_ERROR_CORRECTION_EFFICIENCY",
    "DEFAULT_MISALIGNMENT",
    "DEFAULT_SIFTING_FACTOR",
    "DEFAULT_SIGNAL_INTENSITY",
    "background_yield",
    "binary_entropy",
    "error_gain",
    "gain",
    "gllp_key_rate",
    "key_entropy",
    "qber",
    "receiver_gain_and_error",
    "receiver_single_photon",
    "bb84_sifting_factor",
    "single_photon_error",
    "single_photon_yield",
    "theoretical_key_rate",
]

#: Error rate e0 of a background (dark or noise) click: its bit is random.
BACKGROUND_ERROR_RATE = 0.5

#: Fraction of detected pulses kept by sifting in standard BB84 (both bases
#: chosen with probability 1/2), the factor q of the GLLP rate.
DEFAULT_SIFTING_FACTOR = 0.5

#: Efficiency f_EC of error correction relative to the Shannon limit (a
#: typical CASCADE/LDPC value; Ma et al. 2005 use f(E) ≈ 1.16 at low QBER).
DEFAULT_ERROR_CORRECTION_EFFICIENCY = 1.16

#: Default detector model of the QKD receiver (same as
#: :class:`dqsim.protocols.qkd.bb84.DetectorModel`).
DEFAULT_DETECTOR_EFFICIENCY = 0.8
DEFAULT_DARK_COUNT_PROBABILITY = 1.0e-6
DEFAULT_MISALIGNMENT = 0.01

#: Default signal intensity μ (mean photon number of a signal pulse).
DEFAULT_SIGNAL_INTENSITY = 0.5


def binary_entropy(x: float) -> float:
    """Binary Shannon entropy h(x) = -x·log2(x) - (1-x)·log2(1-x), in bits.

    C. E. Shannon, Bell Syst. Tech. J. 27, 379 (1948); T. M. Cover and J. A.
    Thomas, *Elements of Information Theory*, 2nd ed., Wiley 2006, eq. (2.5).
    By continuity h(0) = h(1) = 0.

    Args:
        x: a probability in [0, 1].

    Returns:
        h(x) in [0, 1] bits.

    Raises:
        DqsimError: ``x`` outside [0, 1].

    Examples:
        >>> binary_entropy(0.5)
        1.0
        >>> binary_entropy(0.0), binary_entropy(1.0)
        (0.0, 0.0)
        >>> round(binary_entropy(0.11), 4)
        0.4999
    """
    x = check_real("binary_entropy", "x", x, 0.0, 1.0)
    if x == 0.0 or x == 1.0:
        return 0.0
    return -x * math.log2(x) - (1.0 - x) * math.log2(1.0 - x)


def binary_entropies(x: np.ndarray) -> np.ndarray:
    """:func:`binary_entropy` of each element of an array of probabilities in [0, 1] (unchecked: the caller's
    arrays are in range), elementwise NumPy.

    Examples:
        >>> [round(float(h), 4) for h in binary_entropies(np.array([0.0, 0.11, 0.5, 1.0]))]
        [0.0, 0.4999, 1.0, 0.0]
    """
    x = np.asarray(x, dtype=float)
    inside = (x > 0.0) & (x < 1.0)
    safe = np.where(inside, x, 0.5)
    return np.where(inside, -safe * np.log2(safe) - (1.0 - safe) * np.log2(1.0 - safe), 0.0)


def key_entropy(error_rate: float) -> float:
    """h(e) as a key-length formula charges it: taken as 1 for e >= 1/2 (no secrecy at or above 50 % errors).

    Examples:
        >>> key_entropy(0.7), round(key_entropy(0.11), 4)
        (1.0, 0.4999)
    """
    return 1.0 if error_rate >= 0.5 else binary_entropy(error_rate)


def background_yield(dark_count_probability: float, noise_probability: float = 0.0,
                     *, num_detectors: int = 2) -> float:
    """Background yield Y0 of a receiver: 1 - [(1 - p_dark)(1 - p_noise)]^k.

    Each of the ``k`` threshold detectors clicks independently from a dark
    count (probability ``p_dark`` per gate) or a noise photon (``p_noise``,
    e.g. Raman light, :func:`dqsim.network.raman.raman_noise_click_probability`);
    the receiver clicks on a vacuum pulse unless none of them does. This is
    the ``Y0`` of Ma et al. 2005, Sec. II.

    Args:
        dark_count_probability: dark-count probability per gate and detector, in [0, 1].
        noise_probability: noise click probability per gate and detector, in [0, 1].
        num_detectors: number of detectors of the receiver, >= 1 (2 for BB84
            with an active basis choice).

    Returns:
        Y0 in [0, 1].

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> round(background_yield(1e-6), 9)
        2e-06
        >>> background_yield(0.0)
        0.0
    """
    where = "background_yield"
    p_dark = check_real(where, "dark_count_probability", dark_count_probability, 0.0, 1.0)
    p_noise = check_real(where, "noise_probability", noise_probability, 0.0, 1.0)
    k = check_int(where, "num_detectors", num_detectors, 1)
    return 1.0 - ((1.0 - p_dark) * (1.0 - p_noise)) ** k


def gain(intensity: float, transmittance: float, background: float) -> float:
    """Expected gain of a coherent pulse: Q_μ = Y0 + 1 - e^(-η·μ).

    Ma et al. 2005, Sec. II (the gain of a pulse of intensity μ, written to
    first order in Y0): the probability that Bob's receiver clicks.

    Args:
        intensity: mean photon number μ, >= 0.
        transmittance: total transmittance η (fibre, coupling, detector), in [0, 1].
        background: background yield Y0 (:func:`background_yield`), in [0, 1].

    Returns:
        Q_μ (a probability for Y0 << 1).

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> round(gain(0.5, 0.1, 0.0), 6)
        0.048771
        >>> gain(0.0, 0.1, 2e-6)
        2e-06
    """
    where = "gain"
    mu = check_real(where, "intensity", intensity, 0.0)
    eta = check_real(where, "transmittance", transmittance, 0.0, 1.0)
    y0 = check_real(where, "background", background, 0.0, 1.0)
    return y0 - math.expm1(-eta * mu)


def error_gain(intensity: float, transmittance: float, background: float,
               misalignment: float) -> float:
    """Expected error gain of a coherent pulse: E_μ·Q_μ = e0·Y0 + e_d·(1 - e^(-η·μ)).

    Ma et al. 2005, Sec. II, with e0 = 1/2: background clicks are wrong half
    of the time and photon clicks with the misalignment probability e_d.

    Args:
        intensity: mean photon number μ, >= 0.
        transmittance: total transmittance η, in [0, 1].
        background: background yield Y0, in [0, 1].
        misalignment: probability e_d that a photon reaches the wrong detector, in [0, 1].

    Returns:
        E_μ·Q_μ, the probability of a sifted error per pulse sent in the matching basis.

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> round(error_gain(0.5, 0.1, 0.0, 0.01), 8)
        0.00048771
    """
    mu, eta, y0, e_d = _check_pulse("error_gain", intensity, transmittance, background, misalignment)
    return BACKGROUND_ERROR_RATE * y0 - e_d * math.expm1(-eta * mu)


def _check_pulse(where: str, intensity, transmittance, background, misalignment, *,
                 background_name: str = "background") -> tuple[float, float, float, float]:
    """(μ >= 0, η in [0, 1], background in [0, 1], e_d in [0, 1]) checked for ``where``."""
    return (check_real(where, "intensity", intensity, 0.0),
            check_real(where, "transmittance", transmittance, 0.0, 1.0),
            check_real(where, background_name, background, 0.0, 1.0),
            check_real(where, "misalignment", misalignment, 0.0, 1.0))


def qber(intensity: float, transmittance: float, background: float,
         misalignment: float) -> float:
    """Expected quantum bit error rate E_μ = (E_μ·Q_μ)/Q_μ of sifted bits.

    Ratio of :func:`error_gain` and :func:`gain` (Ma et al. 2005, Sec. II).

    Args:
        intensity: mean photon number μ, >= 0.
        transmittance: total transmittance η, in [0, 1].
        background: background yield Y0, in [0, 1].
        misalignment: misalignment error e_d, in [0, 1].

    Returns:
        E_μ in [0, 1]; 0 when the gain is 0.

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> qber(0.0, 0.1, 1e-6, 0.01)
        0.5
        >>> round(qber(0.5, 0.1, 0.0, 0.01), 6)
        0.01
    """
    q = gain(intensity, transmittance, background)
    eq = error_gain(intensity, transmittance, background, misalignment)
    return eq / q if q > 0.0 else 0.0


def single_photon_yield(transmittance: float, background: float) -> float:
    """Yield of a single-photon pulse: Y1 = Y0 + η - Y0·η.

    Ma et al. 2005, Sec. II (Y_i = 1 - (1 - Y0)(1 - η)^i at i = 1).

    Args:
        transmittance: total transmittance η, in [0, 1].
        background: background yield Y0, in [0, 1].

    Returns:
        Y1 in [0, 1].

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> single_photon_yield(0.1, 0.0)
        0.1
    """
    where = "single_photon_yield"
    eta = check_real(where, "transmittance", transmittance, 0.0, 1.0)
    y0 = check_real(where, "background", background, 0.0, 1.0)
    return y0 + eta - y0 * eta


def single_photon_error(transmittance: float, background: float, misalignment: float) -> float:
    """Error rate of single-photon pulses: e1 = (e0·Y0 + e_d·η)/Y1.

    Ma et al. 2005, Sec. II, with e0 = 1/2.

    Args:
        transmittance: total transmittance η, in [0, 1].
        background: background yield Y0, in [0, 1].
        misalignment: misalignment error e_d, in [0, 1].

    Returns:
        e1 in [0, 1]; 0 when Y1 = 0.

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> round(single_photon_error(0.1, 0.0, 0.01), 12)
        0.01
    """
    e_d = check_real("single_photon_error", "misalignment", misalignment, 0.0, 1.0)
    y1 = single_photon_yield(transmittance, background)
    if y1 == 0.0:
        return 0.0
    return (BACKGROUND_ERROR_RATE * background + e_d * transmittance) / y1


def receiver_gain_and_error(intensity: float, transmittance: float, background_probability: float,
                            misalignment: float) -> tuple[float, float]:
    """Exact gain Q_μ and error gain E_μ·Q_μ of the simulated BB84 receiver for a coherent pulse.

    Bob's receiver (:mod:`dqsim.protocols.qkd.bb84`) has two threshold
    detectors; in the matching basis each arriving photon reaches the wrong
    one with probability ``e_d``, so the photons at the right and the wrong
    detector are independent Poisson numbers of means ``ημ(1 - e_d)`` and
    ``ημ·e_d``; each detector also clicks on its own with ``p_b`` (dark count
    or noise). With ``C = 1 - (1 - p_b)·e^(-ημ(1-e_d))`` and
    ``W = 1 - (1 - p_b)·e^(-ημ·e_d)`` the probabilities that the right and
    the wrong detector click::

        Q_μ     = 1 - (1 - C)(1 - W)
        E_μ·Q_μ = (1 - C)·W + C·W/2          (a double click is a random bit)

    To first order in ``p_b`` this is Ma et al.'s :func:`gain` and
    :func:`error_gain` with ``Y0 = 2p_b``; the exact form matters where the
    background is not small (Raman noise; module docstring).

    Args:
        intensity: mean photon number μ, >= 0.
        transmittance: total transmittance η (fibre, coupling, detector), in [0, 1].
        background_probability: background click probability p_b per gate and
            detector, ``1 - (1 - p_dark)(1 - p_noise)``, in [0, 1].
        misalignment: misalignment error e_d, in [0, 1].

    Returns:
        ``(Q_μ, E_μ·Q_μ)``, probabilities per pulse sent in the matching basis.

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        Without background the QBER is e_d but for pulses whose several photons split between the
        detectors (a random bit, wrong half of the time):

        >>> q, eq = receiver_gain_and_error(0.5, 0.1, 0.0, 0.01)
        >>> round(q, 6), round(eq / q, 6)
        (0.048771, 0.010002)
        >>> q, eq = receiver_gain_and_error(0.0, 0.1, 1e-3, 0.01)   # vacuum: half the clicks are wrong
        >>> round(eq / q, 12)
        0.5
    """
    mu, eta, p_b, e_d = _check_pulse("receiver_gain_and_error", intensity, transmittance, background_probability,
                                     misalignment, background_name="background_probability")
    right = 1.0 - (1.0 - p_b) * math.exp(-eta * mu * (1.0 - e_d))
    wrong = 1.0 - (1.0 - p_b) * math.exp(-eta * mu * e_d)
    return 1.0 - (1.0 - right) * (1.0 - wrong), (1.0 - right) * wrong + 0.5 * right * wrong


def receiver_single_photon(transmittance: float, background_probability: float,
                           misalignment: float) -> tuple[float, float]:
    """Exact yield Y1 and error rate e1 of a single photon at the simulated BB84 receiver.

    The photon is detected with probability η and then reaches the wrong
    detector with ``e_d``; each detector clicks on its own with ``p_b``; a
    double click is a random bit (:func:`receiver_gain_and_error`)::

        Y1    = 1 - (1 - η)(1 - p_b)²
        e1·Y1 = η·e_d·(1 - p_b/2) + η·(1 - e_d)·p_b/2 + (1 - η)·p_b·(1 - p_b/2)

    To first order in ``p_b`` this is Ma et al.'s :func:`single_photon_yield`
    and :func:`single_photon_error` with ``Y0 = 2p_b``.

    Args:
        transmittance: total transmittance η, in [0, 1].
        background_probability: background click probability p_b per gate and detector, in [0, 1].
        misalignment: misalignment error e_d, in [0, 1].

    Returns:
        ``(Y1, e1)``; e1 is 0 when Y1 is 0.

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> y1, e1 = receiver_single_photon(0.1, 0.0, 0.01)
        >>> round(y1, 12), round(e1, 12)
        (0.1, 0.01)
    """
    where = "receiver_single_photon"
    eta = check_real(where, "transmittance", transmittance, 0.0, 1.0)
    p_b = check_real(where, "background_probability", background_probability, 0.0, 1.0)
    e_d = check_real(where, "misalignment", misalignment, 0.0, 1.0)
    y1 = 1.0 - (1.0 - eta) * (1.0 - p_b) ** 2
    errors = (eta * e_d * (1.0 - 0.5 * p_b) + eta * (1.0 - e_d) * 0.5 * p_b
              + (1.0 - eta) * p_b * (1.0 - 0.5 * p_b))
    return y1, (errors / y1 if y1 > 0.0 else 0.0)


def bb84_sifting_factor(z_basis_probability: float = 0.5) -> float:
    """Fraction q of the detected pulses sifted when Alice and Bob each choose Z with probability p: p² + (1 - p)².

    1/2 for standard BB84; more with biased bases (H.-K. Lo, H. F. Chau and
    M. Ardehali, J. Cryptology 18, 133 (2005)), as the simulator's
    ``z_basis_probability`` gives them.

    Examples:
        >>> bb84_sifting_factor(), round(bb84_sifting_factor(0.9), 12)
        (0.5, 0.82)
    """
    p = check_real("bb84_sifting_factor", "z_basis_probability", z_basis_probability, 0.0, 1.0)
    return p * p + (1.0 - p) * (1.0 - p)


def gllp_key_rate(gain_signal: float, qber_signal: float, single_photon_gain: float,
                  single_photon_error_rate: float, *,
                  f_ec: float = DEFAULT_ERROR_CORRECTION_EFFICIENCY,
                  sifting_factor: float = DEFAULT_SIFTING_FACTOR) -> float:
    """Asymptotic GLLP key rate per signal pulse: R = q·{-Q_μ·f·h(E_μ) + Q1·[1 - h(e1)]}.

    D. Gottesman, H.-K. Lo, N. Lütkenhaus and J. Preskill, Quantum Inf.
    Comput. 4, 325 (2004) (GLLP); in the decoy-state form of H.-K. Lo, X. Ma
    and K. Chen, Phys. Rev. Lett. 94, 230504 (2005) and Ma et al. 2005,
    Sec. II. ``q`` is the sifting factor (1/2 for standard BB84), ``f`` the
    error-correction efficiency, ``Q1 = Y1·μ·e^(-μ)`` the gain of
    single-photon pulses. An error rate at or above 1/2 counts as h = 1 (no
    secrecy). Infinitely long keys: finite-key effects are not included.

    Args:
        gain_signal: Q_μ, in [0, 1].
        qber_signal: E_μ, in [0, 1].
        single_photon_gain: Q1 (or its decoy lower bound), in [0, 1].
        single_photon_error_rate: e1 (or its decoy upper bound), in [0, 1].
        f_ec: error-correction efficiency f >= 1.
        sifting_factor: q in [0, 1].

    Returns:
        R in bits per signal pulse; negative where no key can be made (the
        caller clips at 0).

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> round(gllp_key_rate(0.1, 0.01, 0.05, 0.01), 6)
        0.018294
    """
    where = "gllp_key_rate"
    q_mu = check_real(where, "gain_signal", gain_signal, 0.0, 1.0)
    e_mu = check_real(where, "qber_signal", qber_signal, 0.0, 1.0)
    q1 = check_real(where, "single_photon_gain", single_photon_gain, 0.0, 1.0)
    e1 = check_real(where, "single_photon_error_rate", single_photon_error_rate, 0.0, 1.0)
    f = check_real(where, "f_ec", f_ec, 1.0)
    q = check_real(where, "sifting_factor", sifting_factor, 0.0, 1.0)
    return q * (-q_mu * f * key_entropy(e_mu) + q1 * (1.0 - key_entropy(e1)))


def theoretical_key_rate(
    distance_km: float,
    *,
    attenuation_db_per_km: float = DEFAULT_ATTENUATION_DB_PER_KM,
    coupling_loss_db: float = 0.0,
    detector_efficiency: float = DEFAULT_DETECTOR_EFFICIENCY,
    dark_count_probability: float = DEFAULT_DARK_COUNT_PROBABILITY,
    noise_probability: float = 0.0,
    misalignment: float = DEFAULT_MISALIGNMENT,
    intensity: float = DEFAULT_SIGNAL_INTENSITY,
    f_ec: float = DEFAULT_ERROR_CORRECTION_EFFICIENCY,
    sifting_factor: float = DEFAULT_SIFTING_FACTOR,
) -> float:
    """Asymptotic decoy-state BB84 key rate per signal pulse over a fibre link, >= 0.

    The GLLP rate (:func:`gllp_key_rate`) with the exact single-photon
    quantities (infinitely many decoys; Ma et al. 2005, Sec. II):
    ``η = 10^(-(α·L + C)/10)·η_det``
    (:func:`dqsim.network.fibre.total_transmittance`), the background click
    probability per detector ``p_b = 1 - (1 - p_dark)(1 - p_noise)``,
    ``Q_μ``, ``E_μ`` from :func:`receiver_gain_and_error`, ``Q1 = Y1·μ·e^(-μ)``
    with ``Y1``, ``e1`` from :func:`receiver_single_photon` (the simulated
    receiver's exact figures; Ma et al.'s first-order :func:`gain`,
    :func:`qber` overstate the errors when the background is large, module
    docstring); clipped at 0. Finite-key effects are not included.

    Args:
        distance_km: fibre length, km, >= 0.
        attenuation_db_per_km: fibre attenuation, dB/km, >= 0.
        coupling_loss_db: lumped coupling loss at Bob, dB, >= 0.
        detector_efficiency: detector efficiency, in [0, 1].
        dark_count_probability: dark-count probability per gate and detector, in [0, 1].
        noise_probability: noise (e.g. Raman) click probability per gate and detector.
        misalignment: misalignment error e_d, in [0, 1].
        intensity: signal intensity μ, >= 0.
        f_ec: error-correction efficiency, >= 1.
        sifting_factor: q, in [0, 1]: 1/2 for unbiased bases,
            ``bb84_sifting_factor(p)`` = p² + (1 - p)² for Z chosen with probability p.

    Returns:
        Key rate in bits per signal pulse, >= 0.

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> r10 = theoretical_key_rate(10.0)
        >>> 0.0 < r10 < 0.1
        True
        >>> theoretical_key_rate(400.0)
        0.0
    """
    eta = total_transmittance(distance_km, attenuation_db_per_km, coupling_loss_db,
                              detector_efficiency)
    p_b = background_yield(dark_count_probability, noise_probability, num_detectors=1)  # per detector
    mu = check_real("theoretical_key_rate", "intensity", intensity, 0.0)
    q_mu, error_gain_mu = receiver_gain_and_error(mu, eta, p_b, misalignment)
    y1, e1 = receiver_single_photon(eta, p_b, misalignment)
    e_mu = error_gain_mu / q_mu if q_mu > 0.0 else 0.0
    rate = gllp_key_rate(q_mu, min(1.0, e_mu), y1 * mu * math.exp(-mu), min(1.0, e1), f_ec=f_ec,
                         sifting_factor=sifting_factor)
    return max(0.0, rate)
