"""Decoy-state estimation of the single-photon yield and error rate (asymptotic).

From the measured gains ``Q`` and QBERs ``E`` of a signal intensity ``μ`` and
a weak decoy ``ν < μ`` (and, where sent, the vacuum), bound the yield ``Y1``
and error rate ``e1`` of single-photon pulses, whatever Eve does. Source:
X. Ma, B. Qi, Y. Zhao and H.-K. Lo, Phys. Rev. A 72, 012326 (2005)
("Ma et al. 2005"), Sec. IV (vacuum + weak decoy) and its one-decoy variant.

Both estimators start from the photon-number expansion of a phase-randomised
coherent state, ``Q_x·e^x = Σ_n Y_n x^n/n!`` and ``E_x·Q_x·e^x = Σ_n e_n Y_n
x^n/n!``, with all ``Y_n, e_n`` in [0, 1].

**Vacuum + weak decoy** (Ma et al. 2005, eqs. (34) and (37)); ``Y0`` is the
measured gain of the vacuum pulses::

    Y1^L = μ/(μν - ν²) · [Q_ν e^ν - Q_μ e^μ ν²/μ² - (μ² - ν²)/μ² · Y0]
    e1^U = (E_ν Q_ν e^ν - e0·Y0) / (Y1^L ν)
    Q1^L = Y1^L μ e^(-μ)

**One decoy** (no vacuum pulses; Ma et al. 2005, the one-decoy protocol).
``Y0`` is unknown and enters the two bounds with opposite signs, so each gets
the bound of ``Y0`` that keeps it valid:

* ``Y1^L`` decreases with ``Y0``, so it uses an *upper* bound of ``Y0``. From
  ``E_μ Q_μ e^μ = Σ e_n Y_n μ^n/n! >= e0·Y0``::

      Y0^U = E_μ Q_μ e^μ / e0
      Y1^L = μ/(μν - ν²) · [Q_ν e^ν - Q_μ e^μ ν²/μ² - (μ² - ν²)/μ² · Y0^U]

* ``e1^U`` decreases with ``Y0``, so it uses a *lower* bound of ``Y0``, the
  one the brief calls "Y0 >= 0" made slightly tighter: from
  ``μ Q_ν e^ν - ν Q_μ e^μ = (μ - ν)·Y0 - Σ_{n>=2} Y_n (ν μ^n - μ ν^n)/n!``
  and ``ν μ^n >= μ ν^n``::

      Y0^L = max(0, (μ Q_ν e^ν - ν Q_μ e^μ)/(μ - ν))
      e1^U = (E_ν Q_ν e^ν - e0·Y0^L) / (Y1^L ν)

  (With ``Y0^L`` replaced by 0 this is the bound of Ma et al. 2005 for the
  one-decoy protocol; ``Y0^L >= 0`` only tightens it.)

Results are clipped to physical ranges: ``Y1^L``, ``Q1^L`` to [0, 1],
``e1^U`` to [0, 1] (and set to 1 where ``Y1^L = 0``, i.e. no single-photon
yield can be certified). These are asymptotic bounds: statistical
fluctuations of the measured ``Q`` and ``E`` (finite-key effects) are not
included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dqsim.checks import check_choice, check_real
from dqsim.protocols.qkd.theory import BACKGROUND_ERROR_RATE

__all__ = ["DECOY_METHODS", "DecoyEstimate", "basis_single_photon_error_upper", "one_decoy", "vacuum_weak_decoy"]

#: Names of the estimators (:attr:`DecoyEstimate.method`).
DECOY_METHODS = ("vacuum_weak", "one_decoy")


@dataclass(frozen=True)
class DecoyEstimate:
    """Bounds on the single-photon contribution from a decoy-state analysis.

    Attributes:
        y1_lower: lower bound Y1^L of the single-photon yield, in [0, 1].
        e1_upper: upper bound e1^U of the single-photon error rate, in [0, 1].
        q1_lower: lower bound Q1^L = Y1^L·μ·e^(-μ) of the single-photon gain
            of the signal intensity, in [0, 1].
        y0: background yield used for ``e1_upper``: the measured vacuum gain
            (``"vacuum_weak"``) or the lower bound Y0^L (``"one_decoy"``), in [0, 1].
        method: ``"vacuum_weak"`` or ``"one_decoy"``.
    """

    y1_lower: float
    e1_upper: float
    q1_lower: float
    y0: float
    method: str

    def __post_init__(self) -> None:
        where = "DecoyEstimate"
        for name in ("y1_lower", "e1_upper", "q1_lower", "y0"):
            check_real(where, name, getattr(self, name), 0.0, 1.0)
        check_choice(where, "method", self.method, DECOY_METHODS)


def _check_pair(where: str, signal_intensity, decoy_intensity, gain_signal, qber_signal,
                gain_decoy, qber_decoy):
    mu = check_real(where, "signal_intensity", signal_intensity, 0.0, low_open=True)
    nu = check_real(where, "decoy_intensity", decoy_intensity, 0.0, mu,
                    low_open=True, high_open=True)
    q_mu = check_real(where, "gain_signal", gain_signal, 0.0, 1.0, low_open=True)
    e_mu = check_real(where, "qber_signal", qber_signal, 0.0, 1.0)
    q_nu = check_real(where, "gain_decoy", gain_decoy, 0.0, 1.0, low_open=True)
    e_nu = check_real(where, "qber_decoy", qber_decoy, 0.0, 1.0)
    return mu, nu, q_mu, e_mu, q_nu, e_nu


def _y1_lower(mu: float, nu: float, q_mu: float, q_nu: float, y0: float) -> float:
    """Ma et al. 2005 eq. (34) with a given Y0 (unclipped)."""
    return (mu / (mu * nu - nu * nu)) * (
        q_nu * math.exp(nu) - q_mu * math.exp(mu) * nu * nu / (mu * mu)
        - (mu * mu - nu * nu) / (mu * mu) * y0
    )


def _e1_upper(nu: float, e_nu: float, q_nu: float, y1: float, y0: float) -> float:
    """Ma et al. 2005 eq. (37), clipped to [0, 1]; 1 where ``Y1^L = 0`` (nothing certified)."""
    if y1 <= 0.0:
        return 1.0
    return min(1.0, max(0.0, (e_nu * q_nu * math.exp(nu) - BACKGROUND_ERROR_RATE * y0) / (y1 * nu)))


def _estimate(mu: float, nu: float, e_nu: float, q_nu: float, y1: float, y0_for_e1: float,
              y0_report: float, method: str) -> DecoyEstimate:
    y1 = min(1.0, max(0.0, y1))
    e1 = _e1_upper(nu, e_nu, q_nu, y1, y0_for_e1)
    q1 = min(1.0, y1 * mu * math.exp(-mu))
    return DecoyEstimate(y1_lower=y1, e1_upper=e1, q1_lower=q1,
                         y0=min(1.0, max(0.0, y0_report)), method=method)


def vacuum_weak_decoy(
    *,
    signal_intensity: float,
    decoy_intensity: float,
    gain_signal: float,
    qber_signal: float,
    gain_decoy: float,
    qber_decoy: float,
    gain_vacuum: float,
) -> DecoyEstimate:
    """Vacuum + weak decoy bounds on Y1, e1, Q1 (Ma et al. 2005, eqs. (34), (37)).

    Formulas in the module docstring; ``Y0`` is ``gain_vacuum``.

    Args:
        signal_intensity: signal intensity μ, > 0.
        decoy_intensity: weak decoy intensity ν, in (0, μ).
        gain_signal: measured gain Q_μ, in (0, 1].
        qber_signal: measured QBER E_μ, in [0, 1].
        gain_decoy: measured gain Q_ν, in (0, 1].
        qber_decoy: measured QBER E_ν, in [0, 1].
        gain_vacuum: measured gain of vacuum pulses (the background yield Y0), in [0, 1].

    Returns:
        The :class:`DecoyEstimate` (``method = "vacuum_weak"``).

    Raises:
        DqsimError: an argument out of its range, ν >= μ, or a zero gain
            (the message names the parameter).

    Examples:
        Gains and QBERs of 50 km of fibre (η = 0.08, Y0 = 2e-6, e_d = 0.01),
        where the true Y1 = 0.0800 and e1 = 0.0100:

        >>> est = vacuum_weak_decoy(signal_intensity=0.5, decoy_intensity=0.1,
        ...                         gain_signal=0.03921, qber_signal=0.01002,
        ...                         gain_decoy=0.00797, qber_decoy=0.01012, gain_vacuum=2e-6)
        >>> round(est.y1_lower, 4), round(est.e1_upper, 4)
        (0.0778, 0.0113)
    """
    where = "vacuum_weak_decoy"
    mu, nu, q_mu, _e_mu, q_nu, e_nu = _check_pair(where, signal_intensity, decoy_intensity,
                                                  gain_signal, qber_signal, gain_decoy,
                                                  qber_decoy)
    y0 = check_real(where, "gain_vacuum", gain_vacuum, 0.0, 1.0)
    y1 = _y1_lower(mu, nu, q_mu, q_nu, y0)
    return _estimate(mu, nu, e_nu, q_nu, y1, y0, y0, "vacuum_weak")


def one_decoy(
    *,
    signal_intensity: float,
    decoy_intensity: float,
    gain_signal: float,
    qber_signal: float,
    gain_decoy: float,
    qber_decoy: float,
) -> DecoyEstimate:
    """One weak decoy, no vacuum: bounds on Y1, e1, Q1 (Ma et al. 2005, one-decoy protocol).

    ``Y1^L`` uses the upper bound ``Y0^U = E_μ Q_μ e^μ/e0`` and ``e1^U`` the
    lower bound ``Y0^L = max(0, (μ Q_ν e^ν - ν Q_μ e^μ)/(μ - ν))`` (module
    docstring: each the direction that keeps the bound valid).

    Args:
        signal_intensity: signal intensity μ, > 0.
        decoy_intensity: weak decoy intensity ν, in (0, μ).
        gain_signal: measured gain Q_μ, in (0, 1].
        qber_signal: measured QBER E_μ, in [0, 1].
        gain_decoy: measured gain Q_ν, in (0, 1].
        qber_decoy: measured QBER E_ν, in [0, 1].

    Returns:
        The :class:`DecoyEstimate` (``method = "one_decoy"``; ``y0`` is Y0^L).

    Raises:
        DqsimError: an argument out of its range, ν >= μ, or a zero gain.

    Examples:
        The data of :func:`vacuum_weak_decoy`'s example, without the vacuum:

        >>> est = one_decoy(signal_intensity=0.5, decoy_intensity=0.1, gain_signal=0.03921,
        ...                 qber_signal=0.01002, gain_decoy=0.00797, qber_decoy=0.01012)
        >>> round(est.y1_lower, 4), round(est.e1_upper, 4)
        (0.0622, 0.0143)
    """
    where = "one_decoy"
    mu, nu, q_mu, e_mu, q_nu, e_nu = _check_pair(where, signal_intensity, decoy_intensity,
                                                 gain_signal, qber_signal, gain_decoy,
                                                 qber_decoy)
    y0_upper = e_mu * q_mu * math.exp(mu) / BACKGROUND_ERROR_RATE
    y0_lower = max(0.0, (mu * q_nu * math.exp(nu) - nu * q_mu * math.exp(mu)) / (mu - nu))
    y1 = _y1_lower(mu, nu, q_mu, q_nu, min(1.0, y0_upper))
    return _estimate(mu, nu, e_nu, q_nu, y1, y0_lower, y0_lower, "one_decoy")


def basis_single_photon_error_upper(estimate: DecoyEstimate, *, decoy_intensity: float, gain_decoy: float,
                                    qber_decoy: float | None) -> float:
    """Upper bound e1^U of the single-photon error rate in one basis, from that basis's decoy QBER.

    Ma et al. 2005 eq. (37) with the decoy QBER ``E_ν`` of the pulses prepared
    and measured in one basis, and the basis-independent ``Y1^L`` and ``Y0``
    of ``estimate`` (Eve does not know the basis before it is announced, so
    the yields do not depend on it; the error rates may). The phase error
    rate of the single-photon bits of one basis is the bit error rate of
    single photons in the other basis (Shor and Preskill; H.-K. Lo, H. F.
    Chau and M. Ardehali, J. Cryptology 18, 133 (2005), who estimate each
    basis's error rate on its own): an attack that spares one basis (e.g.
    intercept-resend always measuring in Z) shows up only in the other
    basis's errors.

    Args:
        estimate: the block's :class:`DecoyEstimate` (both bases).
        decoy_intensity: ν, in (0, 1].
        gain_decoy: Q_ν of all decoy pulses, in [0, 1].
        qber_decoy: E_ν of the sifted decoy bits of the basis, in [0, 1], or
            ``None`` (no such bit: nothing bounds it, 1 is returned).

    Returns:
        e1^U of the basis, in [0, 1].

    Examples:
        >>> est = vacuum_weak_decoy(signal_intensity=0.5, decoy_intensity=0.1,
        ...                         gain_signal=0.03921, qber_signal=0.01002,
        ...                         gain_decoy=0.00797, qber_decoy=0.01012, gain_vacuum=2e-6)
        >>> round(basis_single_photon_error_upper(est, decoy_intensity=0.1, gain_decoy=0.00797,
        ...                                       qber_decoy=0.01012), 4) == round(est.e1_upper, 4)
        True
        >>> basis_single_photon_error_upper(est, decoy_intensity=0.1, gain_decoy=0.00797, qber_decoy=None)
        1.0
    """
    where = "basis_single_photon_error_upper"
    nu = check_real(where, "decoy_intensity", decoy_intensity, 0.0, low_open=True)
    q_nu = check_real(where, "gain_decoy", gain_decoy, 0.0, 1.0)
    if qber_decoy is None:
        return 1.0
    e_nu = check_real(where, "qber_decoy", qber_decoy, 0.0, 1.0)
    return _e1_upper(nu, e_nu, q_nu, estimate.y1_lower, estimate.y0)
