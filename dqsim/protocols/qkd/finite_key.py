"""Finite-key secret-key lengths: decoy-state BB84 (Lim et al. 2014) and entanglement-based BB84 (Tomamichel et al. 2012).

Source: C. C. W. Lim, M. Curty, N. Walenta, F. Xu, H. Zbinden, "Concise
security bounds for practical decoy-state quantum key distribution",
Phys. Rev. A 89, 022307 (2014) ("Lim et al."), eqs. (1)-(5). The protocol:
three intensities ``μ1 > μ2 + μ3``, ``μ2 > μ3 >= 0`` sent with
probabilities ``p_k``; the key comes from the sifted events of the key
basis of *all* intensities (``n_X = Σ_k n_X,k`` bits, the post-processing
block), the other (test) basis estimates the phase errors. With
``ε1 = ε_sec/21`` and Hoeffding's deviation ``δ(n, ε) = sqrt(n/2 · ln(1/ε))``::

    n±_X,k = e^k / p_k · (n_X,k ± δ(n_X, ε1))          m±_Z,k likewise with m_Z
    τ_n    = Σ_k e^-k k^n p_k / n!
    s_X,0 >= τ0 (μ2 n-_X,μ3 - μ3 n+_X,μ2) / (μ2 - μ3)                           (2)
    s_X,1 >= τ1 μ1 [n-_X,μ2 - n+_X,μ3 - (μ2² - μ3²)/μ1² (n+_X,μ1 - s_X,0/τ0)]
             / (μ1(μ2 - μ3) - μ2² + μ3²)                                         (3)
    v_Z,1 <= τ1 (m+_Z,μ2 - m-_Z,μ3) / (μ2 - μ3)                                  (4)
    φ_X   <= v_Z,1/s_Z,1 + γ(ε_sec, v_Z,1/s_Z,1, s_Z,1, s_X,1)                     (5)
    γ(a, b, c, d) = sqrt((c+d)(1-b)b / (c d ln 2) · log2((c+d)/(c d (1-b) b) · 21²/a²))
    ℓ = floor(s_X,0 + s_X,1 (1 - h(φ_X)) - λ_EC - 6 log2(21/ε_sec) - log2(2/ε_cor))  (1)

``λ_EC`` is the error-correction leakage: the bits a real error correction
disclosed (:mod:`dqsim.protocols.qkd.reconciliation`) or the model
``f_EC · h(E_X) · n_X``. Bounds are clipped to ``[0, n]``; ``φ_X`` to
``[0, 1/2]`` (a phase error rate of 1/2 leaves no secrecy).

:func:`expected_counts` is the paper's fibre model (Sec. IV) and
:func:`optimal_rate` maximises ``ℓ/N`` over ``q_x, p_μ1, p_μ2, μ1, μ2`` as in
its Fig. 1; ``tests/test_qkd_finite_key.py`` holds it to the paper's statements.

:func:`entangled_finite_key_length` is the bound for BB84-type protocols
with an entangled (or any untrusted) source, BBM92 among them: M.
Tomamichel, C. C. W. Lim, N. Gisin, R. Renner, "Tight finite-key analysis
for quantum cryptography", Nat. Commun. 3, 634 (2012), Theorem 2, eq. (2)::

    ℓ <= n (q - h(Q_tol + μ)) - leak_EC - log2(2 / (ε_sec² ε_cor))
    μ  = sqrt((n + k)/(n k) · (k + 1)/k · ln(4/ε_sec))

with n key bits (one basis), k test bits (the other basis, disclosed),
the test aborting above Q_tol, q = -log2 max|<ψ_X|ψ_Z>|² the preparation
quality (1 for BB84's mutually unbiased bases) and log2(2/ε_cor) covering
the verification hash of ⌈log2(1/ε_cor)⌉ bits. Read in the arXiv text
(1103.4130, its Supplementary Note 2): μ is Lemma 3's
``sqrt((n+k)/(nk) · (k+1)/k · ln(1/ε))`` — Serfling's bound
``exp(-2 n k² μ² / ((n+k)(k+1)))`` on the key bits' error rate exceeding
the sample's by μ, set to ε² — at ε = ε_sec/4, with ε̃ = ε_sec/2 in its
(S3); that gives ln(4/ε_sec). Quotations of the published eq. (2) with
ln(2/ε_sec) could not be checked here; ln(4/ε_sec) gives the (slightly,
~1.4 % in μ at ε_sec = 1e-10) shorter key, secure under either reading.

:func:`e91_finite_key_length` is E91's finite key, from the block's CHSH
value rather than a phase error rate (E91's two key bases overlap, so
Tomamichel et al.'s q would leave almost nothing; and taking the phase
error rate equal to the bit error rate assumes a symmetric source, which
an eavesdropper measuring part of the pairs in one basis breaks). It is
security against **collective attacks** (Eve attacks each pair alike and
independently, i.i.d.) with trusted detectors, not the coherent-attack
security of the BBM92 bound above. V. Scarani and R. Renner, "Quantum
cryptography with finite resources", PRL 100, 200501 (2008), bound the
key of n i.i.d. bits by the smallest conditional entropy H(X|E) over the
states the parameter estimation accepts, less Δ::

    ℓ = n·(min_{S >= S_low} H(X|E) - δ_AEP) - 2·log2(1/ε_PA) - leak_EC - log2(2/ε_cor)
    δ_AEP = 7·sqrt(log2(2/ε̄)/n)
    H(X|E) >= 1 - h((1 + sqrt((S/2)² - 1))/2)

the last the bound of A. Acín et al., PRL 98, 230501 (2007), eq. (4) / S.
Pironio et al., NJP 11, 045021 (2009), eq. (12) for a bit measured by one
of the CHSH measurements, increasing in S, so its minimum over the
confidence set S >= S_low is at S_low;
S_low is the Hoeffding bound of
:func:`~dqsim.protocols.qkd.entangled.chsh_lower_bound` at ε_PE.
n·δ_AEP + 2·log2(1/ε_PA) is n·Δ of Scarani & Renner; the 7 in δ_AEP is
(2·log2 d + 3) of the asymptotic-equipartition bound of Renner's thesis
(R. Renner, PhD thesis, ETH Zurich 2005, Theorem 3.3.6) at d = 4, the
value Scarani & Renner use for qubit pairs as we read it (V. Scarani et
al., Rev. Mod. Phys. 81, 1301 (2009) give the same Δ). The published text
could not be checked here; other readings of the constant (5 at d = 2, or
2·log2(2d + 3) = 5.6) give a longer key, so 7 is secure under each.
ε_sec is split evenly, ε_PE = ε̄ = ε_PA = ε_sec/3 (Scarani & Renner's
ε = ε_PE + ε̄ + ε_PA + ε_EC, with ε_EC = ε_cor the verification hash's,
charged as log2(2/ε_cor) as in the BBM92 bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dqsim.checks import check_int, check_real
from dqsim.errors import DqsimError
from dqsim.protocols.qkd.entangled import E91_CHSH_TERMS, chsh_lower_bound, chsh_secrecy_fraction
from dqsim.protocols.qkd.theory import binary_entropy

__all__ = [
    "AEP_CONSTANT",
    "LIM2014",
    "ChshFiniteKeyResult",
    "EntangledFiniteKeyResult",
    "FiniteKeyResult",
    "e91_finite_key_length",
    "entangled_finite_key_length",
    "expected_counts",
    "finite_key_length",
    "hoeffding_delta",
    "optimal_rate",
]

#: The paper's system (Sec. IV, dedicated fibre): μ3, η_Bob, p_dc, p_ap, e_mis, f_EC, κ, ε_cor, α.
LIM2014 = {"mu3": 2e-4, "detector_efficiency": 0.1, "dark_count_probability": 6e-7,
           "afterpulse_probability": 4e-2, "misalignment": 5e-3, "f_ec": 1.16, "kappa": 1e-15, "eps_cor": 1e-15,
           "attenuation_db_per_km": 0.2}


def hoeffding_delta(num: float, eps: float) -> float:
    """Hoeffding's deviation ``sqrt(num/2 · ln(1/eps))`` (Lim et al., eq. (A1)).

    Examples:
        >>> round(hoeffding_delta(2e6, 1e-10), 3)
        4798.526
    """
    return math.sqrt(max(num, 0.0) / 2.0 * math.log(1.0 / eps))


def _gamma(a: float, b: float, c: float, d: float) -> float:
    """Lim et al. eq. (5)'s γ(a, b, c, d), inf where undefined (c or d zero, b in {0, 1})."""
    if c <= 0.0 or d <= 0.0:
        return math.inf
    b = min(max(b, 1e-300), 1.0 - 1e-16)
    inner = (c + d) / (c * d * (1.0 - b) * b) * (21.0 ** 2) / (a * a)
    if inner <= 1.0:
        return 0.0
    return math.sqrt((c + d) * (1.0 - b) * b / (c * d * math.log(2.0)) * math.log2(inner))


@dataclass(frozen=True)
class FiniteKeyResult:
    """The bounds of Lim et al. for one block.

    Attributes:
        num_key_bits: n_X, sifted bits of the key basis (all intensities), bits.
        vacuum_lower: s_X,0, events.
        single_photon_lower: s_X,1, events.
        single_photon_test_lower: s_Z,1, events of the test basis.
        single_photon_test_errors_upper: v_Z,1, errors.
        phase_error_upper: φ_X, in [0, 0.5].
        leakage_bits: λ_EC used, bits.
        secret_key_bits: ℓ (0 when negative), bits.
        eps_sec, eps_cor: the security parameters used.
        unclipped_length: the right-hand side of eq. (1) before the floor and
            the clip at 0, bits (negative: no key; used by the optimiser).
    """

    num_key_bits: int
    vacuum_lower: float
    single_photon_lower: float
    single_photon_test_lower: float
    single_photon_test_errors_upper: float
    phase_error_upper: float
    leakage_bits: float
    secret_key_bits: int
    eps_sec: float
    eps_cor: float
    unclipped_length: float


def _check_intensities(where: str, intensities, probabilities):
    if len(intensities) != 3 or len(probabilities) != 3:
        raise DqsimError(f"{where}: intensities must be three values (μ1, μ2, μ3), got {tuple(intensities)}")
    mu1, mu2, mu3 = (float(v) for v in intensities)
    if not (mu1 > mu2 + mu3 and mu2 > mu3 >= 0.0):
        raise DqsimError(f"{where}: intensities must satisfy μ1 > μ2 + μ3 and μ2 > μ3 >= 0 "
                         f"(Lim et al. 2014), got {tuple(intensities)}")
    if any(p <= 0.0 for p in probabilities):
        raise DqsimError(f"{where}: probabilities must all be > 0, got {tuple(probabilities)}")
    return mu1, mu2, mu3


def _decoy_bounds(counts, num_total, mu, p, eps1):
    """s_0, s_1 of one basis from its per-intensity counts (Lim et al. eqs. (2), (3))."""
    mu1, mu2, mu3 = mu
    delta = hoeffding_delta(num_total, eps1)
    plus = [math.exp(k) / pk * (n + delta) for k, pk, n in zip(mu, p, counts)]
    minus = [math.exp(k) / pk * (n - delta) for k, pk, n in zip(mu, p, counts)]
    tau0 = sum(math.exp(-k) * pk for k, pk in zip(mu, p))
    tau1 = sum(math.exp(-k) * k * pk for k, pk in zip(mu, p))
    s0 = tau0 * (mu2 * minus[2] - mu3 * plus[1]) / (mu2 - mu3)
    s0 = min(max(s0, 0.0), float(num_total))
    s1 = tau1 * mu1 * (minus[1] - plus[2] - (mu2 ** 2 - mu3 ** 2) / mu1 ** 2 * (plus[0] - s0 / tau0)) \
        / (mu1 * (mu2 - mu3) - mu2 ** 2 + mu3 ** 2)
    return s0, min(max(s1, 0.0), float(num_total)), tau1


def finite_key_length(
    *,
    intensities,
    probabilities,
    key_counts,
    test_counts,
    test_errors,
    leakage_bits: float,
    eps_sec: float = 1e-10,
    eps_cor: float = 1e-15,
) -> FiniteKeyResult:
    """Secret key length ℓ of one block (Lim et al. eqs. (1)-(5)).

    Args:
        intensities: (μ1, μ2, μ3), μ1 > μ2 + μ3, μ2 > μ3 >= 0.
        probabilities: (p_μ1, p_μ2, p_μ3), each > 0.
        key_counts: n_X,k, sifted events of the key basis per intensity.
        test_counts: n_Z,k, sifted events of the test basis per intensity.
        test_errors: m_Z,k, bit errors of the test basis per intensity.
        leakage_bits: λ_EC, bits disclosed by error correction, >= 0.
        eps_sec: secrecy parameter, in (0, 1).
        eps_cor: correctness parameter, in (0, 1).

    Returns:
        The :class:`FiniteKeyResult`.

    Raises:
        DqsimError: intensities that break the conditions, or a parameter out of range.

    Examples:
        >>> r = finite_key_length(intensities=(0.5, 0.1, 0.0002), probabilities=(0.8, 0.15, 0.05),
        ...                       key_counts=(4e7, 1.5e6, 500), test_counts=(4e6, 1.5e5, 50),
        ...                       test_errors=(4e4, 1500, 20), leakage_bits=4e6)
        >>> 0 < r.secret_key_bits < r.num_key_bits, 0 < r.phase_error_upper < 0.1
        (True, True)
    """
    where = "finite_key_length"
    mu = _check_intensities(where, intensities, probabilities)
    p = tuple(float(v) for v in probabilities)
    eps_sec = check_real(where, "eps_sec", eps_sec, 0.0, 1.0, low_open=True, high_open=True)
    eps_cor = check_real(where, "eps_cor", eps_cor, 0.0, 1.0, low_open=True, high_open=True)
    leakage_bits = check_real(where, "leakage_bits", leakage_bits, 0.0)
    eps1 = eps_sec / 21.0
    n_x = float(sum(key_counts))
    n_z = float(sum(test_counts))
    m_z = float(sum(test_errors))
    s_x0, s_x1, tau1 = _decoy_bounds([float(v) for v in key_counts], n_x, mu, p, eps1)
    _s_z0, s_z1, _ = _decoy_bounds([float(v) for v in test_counts], n_z, mu, p, eps1)
    delta_m = hoeffding_delta(m_z, eps1)
    m_plus = math.exp(mu[1]) / p[1] * (float(test_errors[1]) + delta_m)
    m_minus = math.exp(mu[2]) / p[2] * (float(test_errors[2]) - delta_m)
    v_z1 = max(0.0, tau1 * (m_plus - m_minus) / (mu[1] - mu[2]))
    if s_z1 > 0.0 and s_x1 > 0.0:
        ratio = min(v_z1 / s_z1, 0.5)
        phi = min(0.5, ratio + _gamma(eps_sec, ratio, s_z1, s_x1))
    else:
        phi = 0.5
    length = (s_x0 + s_x1 * (1.0 - binary_entropy(phi)) - leakage_bits - 6.0 * math.log2(21.0 / eps_sec)
              - math.log2(2.0 / eps_cor))
    return FiniteKeyResult(
        num_key_bits=int(n_x), vacuum_lower=s_x0, single_photon_lower=s_x1, single_photon_test_lower=s_z1,
        single_photon_test_errors_upper=v_z1, phase_error_upper=phi, leakage_bits=leakage_bits,
        secret_key_bits=max(0, int(math.floor(length))), eps_sec=eps_sec, eps_cor=eps_cor,
        unclipped_length=length)


@dataclass(frozen=True)
class EntangledFiniteKeyResult:
    """The bound of Tomamichel et al. 2012 (eq. (2)) for one block.

    Attributes:
        num_key_bits: n, key bits that error correction and privacy amplification act on.
        num_test_bits: k, bits disclosed to estimate the error rate.
        test_errors: errors among the k test bits.
        qber_tolerance: Q_tol, the test's error rate (test_errors / k; NaN without test bits).
        statistical_deviation: μ (inf without key or test bits).
        phase_error_upper: min(1/2, Q_tol + μ), the bound on the key bits'
            phase error rate that enters h().
        preparation_quality: q.
        leakage_bits: leak_EC, bits.
        secret_key_bits: ℓ (0 when negative), bits.
        eps_sec, eps_cor: the security parameters used.
        unclipped_length: the right-hand side of eq. (2) before the floor and the clip at 0, bits.
    """

    num_key_bits: int
    num_test_bits: int
    test_errors: int
    qber_tolerance: float
    statistical_deviation: float
    phase_error_upper: float
    preparation_quality: float
    leakage_bits: float
    secret_key_bits: int
    eps_sec: float
    eps_cor: float
    unclipped_length: float


def entangled_finite_key_length(
    *,
    num_key_bits: int,
    num_test_bits: int,
    test_errors: int,
    leakage_bits: float,
    eps_sec: float = 1e-10,
    eps_cor: float = 1e-15,
    preparation_quality: float = 1.0,
) -> EntangledFiniteKeyResult:
    """Secret key length ℓ of a BB84-type block with an untrusted source (Tomamichel et al. 2012, eq. (2)).

    ``ℓ = floor(n (q - h(Q_tol + μ)) - leak_EC - log2(2/(ε_sec² ε_cor)))``,
    ``μ = sqrt((n+k)/(nk) · (k+1)/k · ln(4/ε_sec))`` (module docstring: where
    ln(4/ε_sec) comes from). The paper fixes the tolerance Q_tol before the
    run and aborts when the test's error rate exceeds it; here Q_tol is the
    test's observed error rate, i.e. the key of the protocol whose tolerance
    equals what this block measured (the usual way to evaluate the bound at
    a run's statistics; the abort is the caller's ``qber_threshold``). The
    paper's n and k are fixed sizes reached by sifting; here they are the
    block's realised counts. ``h(x)`` is 1 for ``x >= 1/2`` (no key).

    Args:
        num_key_bits: n, >= 0.
        num_test_bits: k, >= 0.
        test_errors: errors among the k test bits, in [0, k].
        leakage_bits: leak_EC, bits disclosed by error correction (not the
            verification hash, which the log term covers), >= 0.
        eps_sec: secrecy parameter, in (0, 1).
        eps_cor: correctness parameter, in (0, 1).
        preparation_quality: q, in (0, 1]; 1 for complementary (mutually unbiased) bases.

    Returns:
        The :class:`EntangledFiniteKeyResult`; ℓ = 0 without key or test bits.

    Raises:
        DqsimError: an argument out of its range (a ``ValueError`` naming it).

    Examples:
        >>> r = entangled_finite_key_length(num_key_bits=10**6, num_test_bits=10**6, test_errors=20_000,
        ...                                 leakage_bits=0.0)
        >>> round(r.statistical_deviation, 6), r.secret_key_bits
        (0.006987, 820831)
    """
    where = "entangled_finite_key_length"
    n = check_int(where, "num_key_bits", num_key_bits, 0)
    k = check_int(where, "num_test_bits", num_test_bits, 0)
    errors = check_int(where, "test_errors", test_errors, 0, k)
    leakage_bits = check_real(where, "leakage_bits", leakage_bits, 0.0)
    eps_sec = check_real(where, "eps_sec", eps_sec, 0.0, 1.0, low_open=True, high_open=True)
    eps_cor = check_real(where, "eps_cor", eps_cor, 0.0, 1.0, low_open=True, high_open=True)
    q = check_real(where, "preparation_quality", preparation_quality, 0.0, 1.0, low_open=True)
    tolerance = errors / k if k else math.nan
    if n and k:
        mu = math.sqrt((n + k) / (n * k) * (k + 1) / k * math.log(4.0 / eps_sec))
        phi = min(0.5, tolerance + mu)
        length = n * (q - binary_entropy(phi)) - leakage_bits - math.log2(2.0 / (eps_sec * eps_sec * eps_cor))
    else:
        mu, phi, length = math.inf, 0.5, -leakage_bits - math.log2(2.0 / (eps_sec * eps_sec * eps_cor))
    return EntangledFiniteKeyResult(
        num_key_bits=n, num_test_bits=k, test_errors=errors, qber_tolerance=tolerance, statistical_deviation=mu,
        phase_error_upper=phi, preparation_quality=q, leakage_bits=leakage_bits,
        secret_key_bits=max(0, int(math.floor(length))), eps_sec=eps_sec, eps_cor=eps_cor, unclipped_length=length)


#: The constant of Scarani & Renner's δ_AEP = 7·sqrt(log2(2/ε̄)/n) (module docstring: (2·log2 d + 3) at d = 4).
AEP_CONSTANT = 7.0


@dataclass(frozen=True)
class ChshFiniteKeyResult:
    """E91's finite key of one block from its CHSH value (Scarani & Renner 2008, collective attacks).

    Attributes:
        num_key_bits: n, key bits that error correction and privacy amplification act on.
        chsh_value: |Ŝ|, the point estimate of the block's CHSH coincidences (NaN when a CHSH setting pair
            saw none).
        chsh_deviation: Σ t_ij, the Hoeffding half-widths subtracted (inf when not measured).
        chsh_lower: S_low = |Ŝ| - Σ t_ij, the bound at ε_PE (NaN when not measured).
        secrecy_fraction: 1 - h((1 + sqrt((S_low/2)² - 1))/2), 0 for S_low <= 2, per key bit.
        aep_deviation: δ_AEP = 7·sqrt(log2(2/ε̄)/n) per key bit (inf without key bits).
        leakage_bits: leak_EC, bits.
        secret_key_bits: ℓ (0 when negative), bits.
        eps_sec, eps_cor: the security parameters used (ε_PE = ε̄ = ε_PA = ε_sec/3).
        unclipped_length: ℓ's right-hand side before the floor and the clip at 0, bits.
    """

    num_key_bits: int
    chsh_value: float
    chsh_deviation: float
    chsh_lower: float
    secrecy_fraction: float
    aep_deviation: float
    leakage_bits: float
    secret_key_bits: int
    eps_sec: float
    eps_cor: float
    unclipped_length: float


def e91_finite_key_length(
    *,
    num_key_bits: int,
    coincidences,
    leakage_bits: float,
    eps_sec: float = 1e-10,
    eps_cor: float = 1e-15,
) -> ChshFiniteKeyResult:
    """Secret key length ℓ of an E91 block from its CHSH coincidences, against collective attacks.

    ``ℓ = floor(n·(1 - h((1 + sqrt((S_low/2)² - 1))/2) - 7·sqrt(log2(2/ε̄)/n)) - 2·log2(1/ε_PA) - leak_EC
    - log2(2/ε_cor))`` with ``S_low`` the Hoeffding lower bound on S at ε_PE
    (:func:`~dqsim.protocols.qkd.entangled.chsh_lower_bound`) and ε_PE = ε̄ = ε_PA = ε_sec/3 (module
    docstring: V. Scarani and R. Renner, PRL 100, 200501 (2008); A. Acín et al., PRL 98, 230501 (2007)).
    Security against collective (i.i.d.) attacks with trusted detectors — weaker than BBM92's
    :func:`entangled_finite_key_length` (coherent attacks) — but with no assumption on the source: an
    eavesdropper's pairs lower S. ``S_low <= 2`` (or a CHSH setting pair without coincidences) leaves no key.

    Args:
        num_key_bits: n, key bits, >= 0.
        coincidences: the block's E91 coincidence counts, shape (3, 3, 2, 2)
            (:func:`~dqsim.protocols.qkd.entangled.coincidence_counts` summed over its batches), >= 0.
        leakage_bits: leak_EC, bits disclosed by error correction (not the verification hash, which
            log2(2/ε_cor) covers), >= 0.
        eps_sec: secrecy parameter, in (0, 1).
        eps_cor: correctness parameter, in (0, 1).

    Returns:
        The :class:`ChshFiniteKeyResult`; ℓ = 0 without key bits or without a CHSH violation shown.

    Raises:
        DqsimError: an argument out of its range, or coincidences of another shape or negative.

    Examples:
        >>> import numpy as np
        >>> counts = np.zeros((3, 3, 2, 2), dtype=np.int64)
        >>> for a, b, sign in E91_CHSH_TERMS:                 # E = ±0.65 on 10^6 pairs each: S = 2.6
        ...     counts[a, b] = [[412_500, 87_500], [87_500, 412_500]][::sign]
        >>> r = e91_finite_key_length(num_key_bits=10**7, coincidences=counts, leakage_bits=3e6)
        >>> round(r.chsh_lower, 4), round(r.secrecy_fraction, 4), r.secret_key_bits
        (2.571, 0.5435, 2302573)
    """
    where = "e91_finite_key_length"
    n = check_int(where, "num_key_bits", num_key_bits, 0)
    leakage_bits = check_real(where, "leakage_bits", leakage_bits, 0.0)
    eps_sec = check_real(where, "eps_sec", eps_sec, 0.0, 1.0, low_open=True, high_open=True)
    eps_cor = check_real(where, "eps_cor", eps_cor, 0.0, 1.0, low_open=True, high_open=True)
    counts = np.asarray(coincidences)
    if counts.shape != (3, 3, 2, 2) or np.any(counts < 0):
        raise DqsimError(f"{where}: coincidences must be E91's counts, shape (3, 3, 2, 2), >= 0, "
                         f"got shape {counts.shape}")
    eps_pe = eps_bar = eps_pa = eps_sec / 3.0
    if any(counts[a, b].sum() == 0 for a, b, _sign in E91_CHSH_TERMS):
        s_low, s_hat, deviation = math.nan, math.nan, math.inf
    else:
        s_low, s_hat, deviation = chsh_lower_bound(counts, eps_pe)
    fraction = chsh_secrecy_fraction(s_low)
    aep = AEP_CONSTANT * math.sqrt(math.log2(2.0 / eps_bar) / n) if n else math.inf
    overhead = 2.0 * math.log2(1.0 / eps_pa) + leakage_bits + math.log2(2.0 / eps_cor)
    length = n * (fraction - aep) - overhead if n else -overhead
    return ChshFiniteKeyResult(
        num_key_bits=n, chsh_value=s_hat, chsh_deviation=deviation, chsh_lower=s_low, secrecy_fraction=fraction,
        aep_deviation=aep, leakage_bits=leakage_bits, secret_key_bits=max(0, int(math.floor(length))),
        eps_sec=eps_sec, eps_cor=eps_cor, unclipped_length=length)


def expected_counts(distance_km: float, intensities, probabilities, key_basis_probability: float,
                    num_key_bits: float, system: dict = LIM2014):
    """The expected counts of Lim et al.'s fibre model (Sec. IV) for a block of ``num_key_bits``.

    Per intensity ``k``: ``D_k = 1 - (1 - 2 p_dc) exp(-η_sys k)``, detections
    ``R_k = D_k (1 + p_ap)``, errors ``e_k = p_dc + e_mis (1 - exp(-η_sys k)) + p_ap D_k / 2``
    with ``η_sys = 10^(-α L/10) η_Bob`` (the paper prints η_ch in e_k; η_sys, the
    probability that the photon is detected, is what makes e_k an error rate
    of the detections). Both bases choose X with ``q_x``; the pulses sent are
    ``N = n_X / (q_x² Σ_k p_k R_k)``.

    Returns:
        ``(N, key_counts, key_errors, test_counts, test_errors)``: pulses and per-intensity tuples.
    """
    eta = 10.0 ** (-system["attenuation_db_per_km"] * distance_km / 10.0) * system["detector_efficiency"]
    p_dc, p_ap, e_mis = system["dark_count_probability"], system["afterpulse_probability"], system["misalignment"]
    mu = np.asarray(intensities, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    d = 1.0 - (1.0 - 2.0 * p_dc) * np.exp(-eta * mu)
    rate = d * (1.0 + p_ap)
    err = p_dc + e_mis * (1.0 - np.exp(-eta * mu)) + p_ap * d / 2.0
    q_x = key_basis_probability
    num_pulses = num_key_bits / (q_x * q_x * float(np.dot(p, rate)))
    key = num_pulses * q_x * q_x * p * rate
    key_err = num_pulses * q_x * q_x * p * err
    test = num_pulses * (1.0 - q_x) ** 2 * p * rate
    test_err = num_pulses * (1.0 - q_x) ** 2 * p * err
    return num_pulses, tuple(key), tuple(key_err), tuple(test), tuple(test_err)


def _model_rate(x, distance_km: float, num_key_bits: float, system: dict, eps_sec: float | None = None) -> float:
    """ℓ/N of the model at ``x = (q_x, p_μ1, p_μ2, μ1, μ2)``; -1 outside the allowed parameters.

    ``eps_sec`` None: ε_sec = κℓ (Lim et al. Sec. IV), the largest solution of ℓ = f(κℓ); a number:
    that ε_sec. Where eq. (1) leaves no whole bit the value is negative, 1e-12 per bit missing (for
    ε_sec = κℓ: missing for a solution to exist), so that the optimiser climbs out of the region
    without a key; a fraction of a bit is no key (it used to be returned as a rate of ~4e-11 per
    pulse at 130-132 km for n_X = 10^4).
    """
    q_x, p1, p2, mu1, mu2 = x
    mu3 = system["mu3"]
    if not (0.0 < q_x < 1.0 and p1 > 0.0 and p2 > 0.0 and p1 + p2 < 1.0 and mu2 > mu3 and mu1 > mu2 + mu3
            and mu1 < 2.0):
        return -1.0
    probabilities = (p1, p2, 1.0 - p1 - p2)
    n, key, key_err, test, test_err = expected_counts(distance_km, (mu1, mu2, mu3), probabilities, q_x,
                                                      num_key_bits, system)
    leak = system["f_ec"] * binary_entropy(min(0.5, sum(key_err) / sum(key))) * num_key_bits

    def length(eps):
        return finite_key_length(intensities=(mu1, mu2, mu3), probabilities=probabilities, key_counts=key,
                                 test_counts=test, test_errors=test_err, leakage_bits=leak, eps_sec=eps,
                                 eps_cor=system["eps_cor"])

    if eps_sec is not None:
        r = length(eps_sec)
        if r.secret_key_bits > 0:
            return r.secret_key_bits / n
        return (min(r.unclipped_length, 1.0) - 1.0) * 1e-12 - 1e-300  # no key: 1e-12 per bit missing
    # ε_sec = κℓ (the paper's choice): ℓ_(i+1) = ℓ(κ ℓ_i) from ε_sec = 1e-10 falls to the largest fixed
    # point (4 steps, as before, left keys 1-2 km beyond the last distance with one).
    eps, previous = 1e-10, None
    for _ in range(60):
        r = length(eps)
        if r.secret_key_bits <= 0 or r.secret_key_bits == previous:
            break
        previous = r.secret_key_bits
        eps = min(0.5, system["kappa"] * r.secret_key_bits)
    if r.secret_key_bits > 0:
        return r.secret_key_bits / n
    # no key: how far eq. (1) stays from ℓ = f(κℓ) having a solution, 1e-12 per bit, so that the
    # optimiser climbs towards one (continuous in x, unlike the iteration's end)
    margin = max(length(min(0.5, system["kappa"] * b)).unclipped_length - b
                 for b in np.geomspace(1.0, max(num_key_bits, 1.0), 9))
    return min(margin, 0.0) * 1e-12 - 1e-300


def optimal_rate(distance_km: float, num_key_bits: float, *, system: dict = LIM2014, starts: int = 6,
                 seed: int = 1, screen: int = 3000,
                 eps_sec: float | None = None) -> tuple[float, tuple[float, ...]]:
    """The largest ``ℓ/N`` of Lim et al.'s model over ``(q_x, p_μ1, p_μ2, μ1, μ2)`` (their Fig. 1).

    A seeded screen of ``screen`` random points over ``q_x`` in [0.005, 0.99],
    ``p_μ1``, ``p_μ2`` in [0.02, 0.9], ``μ1`` in [0.1, 1], ``μ2`` in [0.005,
    0.5] (plus three fixed points), then Nelder-Mead from the ``starts`` best.
    The screen matters for small blocks: at n_X = 10^4 the optimum sits at
    ``p_μ1`` ≈ 0.03-0.13 and ``p_μ2`` ≈ 0.4-0.7 (the weak decoy carries most
    of the key), which Nelder-Mead from the usual ``p_μ1`` ≈ 0.5-0.8 never reaches.
    Needs SciPy (the ``finite-key`` or ``test`` extra); the key length itself does not.

    Args:
        distance_km: fibre length, km, >= 0.
        num_key_bits: the block size n_X, > 0.
        system: the system parameters (default :data:`LIM2014`).
        starts: number of local searches, >= 1.
        seed: seed of the random screen.
        screen: number of random points screened, >= 0.
        eps_sec: None (default): ε_sec = κℓ as the paper's Sec. IV states, solved by iteration; a number
            in (0, 1): that ε_sec for every block. At n_X = 10^4 the last distance with a key is
            130.4 km with ε_sec = κℓ and 135.4 km with ε_sec = 1e-10 (the paper: "135 km"); the
            edge moves about 1.35 km per decade of ε_sec (docs/architecture.md).

    Returns:
        ``(rate, (q_x, p_μ1, p_μ2, μ1, μ2))``; rate 0.0 where no start gives a key.
    """
    from scipy.optimize import minimize  # noqa: PLC0415 (SciPy is needed only by this optimiser)

    if eps_sec is not None:
        eps_sec = check_real("optimal_rate", "eps_sec", eps_sec, 0.0, 1.0, low_open=True, high_open=True)
    rng = np.random.default_rng(seed)
    base = [(0.8, 0.6, 0.25, 0.5, 0.15), (0.9, 0.7, 0.2, 0.4, 0.1), (0.7, 0.5, 0.3, 0.6, 0.2)]
    screened = base + [tuple(x) for x in rng.uniform([0.005, 0.02, 0.02, 0.1, 0.005], [0.99, 0.9, 0.9, 1.0, 0.5],
                                                      size=(max(0, screen), 5))]
    values = [_model_rate(x, distance_km, num_key_bits, system, eps_sec) for x in screened]
    order = sorted(range(len(screened)), key=lambda i: -values[i])
    best, best_x = 0.0, tuple(base[0])
    for i in order[:max(starts, 1)]:
        res = minimize(lambda x: -_model_rate(x, distance_km, num_key_bits, system, eps_sec), screened[i],
                       method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-16, "maxiter": 3000})
        rate = -float(res.fun)
        if rate > best:
            best, best_x = rate, tuple(float(v) for v in res.x)
    return best, best_x
