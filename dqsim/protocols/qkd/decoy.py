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

**Two decoys** ``ν1 > ν2 > 0`` (the third intensity a weak decoy rather than
the vacuum; the asymptotic form of Lim, Curty, Walenta, Xu and Zbinden, PRA
89, 022307 (2014), eqs. (1)-(3), which needs ``μ > ν1 + ν2``). From
``ν1 Q_ν2 e^ν2 - ν2 Q_ν1 e^ν1 = (ν1 - ν2)·Y0 - Σ_{n>=2} Y_n (ν2 ν1^n - ν1 ν2^n)/n!``::

    Y0^L = max(0, (ν1 Q_ν2 e^ν2 - ν2 Q_ν1 e^ν1)/(ν1 - ν2))
    Y1^L = μ/(μ(ν1 - ν2) - ν1² + ν2²) · [Q_ν1 e^ν1 - Q_ν2 e^ν2 - (ν1² - ν2²)/μ² · (Q_μ e^μ - Y0^L)]
    e1^U = (E_ν1 Q_ν1 e^ν1 - E_ν2 Q_ν2 e^ν2) / ((ν1 - ν2)·Y1^L)

(``ν1^n - ν2^n <= (ν1² - ν2²)·μ^(n-2)`` for n >= 2 when ``μ >= ν1 + ν2``; the
vacuum terms cancel in ``e1^U``). With ``ν2 = 0`` and the vacuum's error rate
1/2 these are the vacuum + weak decoy bounds above.

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
from dqsim.errors import DqsimError
from dqsim.protocols.qkd.theory import BACKGROUND_ERROR_RATE

__all__ = ["DECOY_METHODS", "DecoyEstimate", "basis_single_photon_error_upper", "one_decoy", "two_decoy",
           "vacuum_weak_decoy"]

#: Names of the estimators (:attr:`DecoyEstimate.method`).
DECOY_METHODS = ("vacuum_weak", "one_decoy", "two_decoy")


@dataclass(frozen=True)
class DecoyEstimate:
    """Bounds on the single-photon contribution from a decoy-state analysis.

    Attributes:
        y1_lower: lower bound Y1^L of the single-photon yield, in [0, 1].
        e1_upper: upper bound e1^U of the single-photon error rate, in [0, 1].
        q1_lower: lower bound Q1^L = Y1^L·μ·e^(-μ) of the single-photon gain
            of the signal intensity, in [0, 1].
        y0: background yield used for ``e1_upper``: the measured vacuum gain
            (``"vacuum_weak"``) or the lower bound Y0^L (``"one_decoy"``, ``"two_decoy"``), in [0, 1].
        method: ``"vacuum_weak"``, ``"one_decoy"`` or ``"two_decoy"``.
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


def two_decoy(
    *,
    signal_intensity: float,
    decoy_intensity: float,
    second_decoy_intensity: float,
    gain_signal: float,
    gain_decoy: float,
    qber_decoy: float,
    gain_second_decoy: float,
    qber_second_decoy: float | None,
) -> DecoyEstimate:
    """Two weak decoys ν1 > ν2 > 0: bounds on Y1, e1, Q1 (asymptotic form of Lim et al. 2014, eqs. (1)-(3)).

    Formulas in the module docstring. Needs ``μ > ν1 + ν2``, where the bound
    of the multi-photon terms holds.

    Args:
        signal_intensity: signal intensity μ, > ν1 + ν2.
        decoy_intensity: first decoy intensity ν1, in (ν2, μ).
        second_decoy_intensity: second decoy intensity ν2, in (0, ν1).
        gain_signal: measured gain Q_μ, in (0, 1].
        gain_decoy: measured gain Q_ν1, in (0, 1].
        qber_decoy: measured QBER E_ν1, in [0, 1].
        gain_second_decoy: measured gain Q_ν2, in [0, 1].
        qber_second_decoy: measured QBER E_ν2, in [0, 1], or ``None`` (no sifted
            bit: its errors are taken as 0, which only loosens ``e1^U``).

    Returns:
        The :class:`DecoyEstimate` (``method = "two_decoy"``; ``y0`` is Y0^L).

    Raises:
        DqsimError: an argument out of its range, or ``μ <= ν1 + ν2``.

    Examples:
        50 km of fibre as in :func:`vacuum_weak_decoy`'s example (η = 0.08,
        Y0 = 2e-6, e_d = 0.01, true Y1 = 0.0800 and e1 = 0.0100), with a second
        decoy of ν2 = 0.0002 (Lim et al.'s μ3) in place of the vacuum:

        >>> est = two_decoy(signal_intensity=0.5, decoy_intensity=0.1, second_decoy_intensity=0.0002,
        ...                 gain_signal=0.03921, gain_decoy=0.00797, qber_decoy=0.01012,
        ...                 gain_second_decoy=1.8e-5, qber_second_decoy=0.064)
        >>> round(est.y1_lower, 4), round(est.e1_upper, 4)
        (0.0777, 0.0113)
    """
    where = "two_decoy"
    mu, nu1, q_mu, _e_mu, q_nu1, e_nu1 = _check_pair(where, signal_intensity, decoy_intensity,
                                                     gain_signal, 0.0, gain_decoy, qber_decoy)
    nu2 = check_real(where, "second_decoy_intensity", second_decoy_intensity, 0.0, nu1,
                     low_open=True, high_open=True)
    if mu <= nu1 + nu2:
        raise DqsimError(f"{where}: signal_intensity must be > decoy_intensity + second_decoy_intensity "
                         f"= {nu1 + nu2:g}, got {mu!r}")
    q_nu2 = check_real(where, "gain_second_decoy", gain_second_decoy, 0.0, 1.0)
    e_nu2 = 0.0 if qber_second_decoy is None else check_real(where, "qber_second_decoy",
                                                             qber_second_decoy, 0.0, 1.0)
    y0 = max(0.0, (nu1 * q_nu2 * math.exp(nu2) - nu2 * q_nu1 * math.exp(nu1)) / (nu1 - nu2))
    y1 = (mu / (mu * (nu1 - nu2) - nu1 * nu1 + nu2 * nu2)) * (
        q_nu1 * math.exp(nu1) - q_nu2 * math.exp(nu2)
        - (nu1 * nu1 - nu2 * nu2) / (mu * mu) * (q_mu * math.exp(mu) - y0))
    y1 = min(1.0, max(0.0, y1))
    e1 = _two_decoy_e1_upper(nu1, e_nu1, q_nu1, nu2, e_nu2, q_nu2, y1)
    return DecoyEstimate(y1_lower=y1, e1_upper=e1, q1_lower=min(1.0, y1 * mu * math.exp(-mu)),
                         y0=min(1.0, y0), method="two_decoy")


def _two_decoy_e1_upper(nu1: float, e_nu1: float, q_nu1: float, nu2: float, e_nu2: float, q_nu2: float,
                        y1: float) -> float:
    """Lim et al. 2014 eq. (3), asymptotic, clipped to [0, 1]; 1 where ``Y1^L = 0`` (nothing certified)."""
    if y1 <= 0.0:
        return 1.0
    bound = (e_nu1 * q_nu1 * math.exp(nu1) - e_nu2 * q_nu2 * math.exp(nu2)) / ((nu1 - nu2) * y1)
    return min(1.0, max(0.0, bound))


def basis_single_photon_error_upper(estimate: DecoyEstimate, *, decoy_intensity: float, gain_decoy: float,
                                    qber_decoy: float | None, second_decoy_intensity: float | None = None,
                                    gain_second_decoy: float | None = None,
                                    qber_second_decoy: float | None = None) -> float:
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
        second_decoy_intensity, gain_second_decoy, qber_second_decoy: ν2, Q_ν2 of all
            its pulses and E_ν2 of the basis's sifted bits (``None``: none sifted, taken
            as no error), for an estimate of method ``"two_decoy"`` (Lim et al. 2014
            eq. (3) in the basis); ignored otherwise.

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
    if estimate.method == "two_decoy":
        nu2 = check_real(where, "second_decoy_intensity", second_decoy_intensity, 0.0, nu,
                         low_open=True, high_open=True)
        q_nu2 = check_real(where, "gain_second_decoy", gain_second_decoy, 0.0, 1.0)
        e_nu2 = 0.0 if qber_second_decoy is None else check_real(where, "qber_second_decoy",
                                                                 qber_second_decoy, 0.0, 1.0)
        return _two_decoy_e1_upper(nu, e_nu, q_nu, nu2, e_nu2, q_nu2, estimate.y1_lower)
    return _e1_upper(nu, e_nu, q_nu, estimate.y1_lower, estimate.y0)
