"""The secret key of a BBM92/E91 key block: QBER estimate, leakage, key length, and optionally Cascade.

A block's statistics are the :class:`~dqsim.protocols.qkd.entangled.SiftedCounts`
of its batches; the key bits are the sifted bits (coincidences measured at
equal angles: BBM92 Z–Z and X–X, E91 both at π/4 and both at π/2,
:func:`~dqsim.protocols.qkd.entangled.key_setting_pairs`).

**Asymptotic** (``finite_key=None``): a random ``sample_fraction`` of the
sifted bits is disclosed to estimate the QBER Q̂ and dropped; the block
aborts when Q̂ exceeds ``qber_threshold``; the n' kept bits give
(Shor–Preskill, P. W. Shor and J. Preskill, PRL 85, 441 (2000))::

    ℓ = S - leak_EC,    leak_EC = f_EC·h(E')·n'   (model; E' the kept bits' error rate)

* BBM92: the phase error rate of the Z–Z bits is the bit error rate of the
  X–X bits and the other way round (Z and X are complementary; H.-K. Lo,
  H. F. Chau, M. Ardehali, J. Cryptology 18, 133 (2005) estimate each
  basis's error rate on its own), so ``S = n'_ZZ·(1 - h(Q_XX)) +
  n'_XX·(1 - h(Q_ZZ))`` with Q_ZZ, Q_XX the block's error rates of each
  basis (known to Alice and Bob once the sample is disclosed and the kept
  bits corrected) and n'_B the kept bits' share n'·n_B/n of each basis. An
  attack on one basis (Eve always measuring in Z) shows in the other's
  errors only; with biased bases (``z_basis_probability`` 0.9) its pooled
  QBER stays low while Eve knows most key bits.
* E91: its key bases (π/4, π/2) are not complementary, so the bit errors
  say nothing about Eve (with her measuring in X on half the pairs a
  symmetric-source rate n'(1 - h(Q̂)) kept a key of which she knew a quarter).
  E91's own evidence is its CHSH value: ``S = n'·(1 - h((1 + √((S_CHSH/2)² -
  1))/2))`` (:func:`~dqsim.protocols.qkd.entangled.chsh_secrecy_fraction`;
  A. Acín, N. Brunner, N. Gisin, S. Massar, S. Pironio, V. Scarani, PRL 98,
  230501 (2007); S. Pironio et al., New J. Phys. 11, 045021 (2009)), 0 for
  S_CHSH <= 2, with S_CHSH the block's own estimate from its CHSH
  coincidences (settings (a1, b1), (a1, b3), (a3, b1), (a3, b3), disjoint
  from the key pairs; :func:`~dqsim.protocols.qkd.entangled.chsh_from_counts`
  of the ``coincidences`` the caller passes). The bound holds for a key bit
  measured by one of the CHSH measurements, for collective attacks and any
  source: each E91 key pair has one (Bob's b1 = π/4 in (a2, b1), Alice's
  a3 = π/2 in (a3, b2)), so each pair's bits are reconciled towards that
  side (the leakage h(E') is the same either way). It is applied to the
  coincidences, i.e. with trusted detectors (basis-independent efficiency,
  as BBM92's proof assumes), not device-independently. S_CHSH is the point
  estimate, as Q̂ is (the asymptotic convention); its standard error is
  in the result (``chsh``) and the blocks table, not subtracted.

and with Cascade leak_EC is the parities it disclosed plus the verification
hash's ⌈log2(1/ε_cor)⌉ bits (as for BB84, :func:`~dqsim.protocols.qkd.postprocess.postprocess_block`).

**Finite key** (``finite_key=(eps_sec, eps_cor)``), with leak_EC the
model's f_EC·h(E)·n or Cascade's measured parities:

* BBM92 — ℓ of Tomamichel, Lim, Gisin, Renner, Nat. Commun. 3, 634 (2012),
  eq. (2) (:func:`~dqsim.protocols.qkd.finite_key.entangled_finite_key_length`,
  q = 1, Q_tol the test's observed error rate), the paper's protocol: the
  key is the Z–Z bits (n), the test is every X–X bit (k, disclosed whole;
  ``sample_fraction`` is not used). Z and X are mutually unbiased, so no
  assumption on the source (it may be Eve's) is needed beyond the paper's
  device model (basis-independent detection, squashed double clicks):
  security against coherent (general) attacks. Both sides choose each
  basis with probability 1/2 here, so about half the sifted bits are the test.
* E91 — Ekert's two key bases (Bloch angles π/4 and π/2) overlap,
  c = cos²(π/8), so the paper's q = -log2 c = 0.23 would leave no key above a
  QBER of about 1 %, and taking the kept bits' phase error rate equal to
  their bit error rate (what this did before 2026-12-06) assumes a
  symmetric source, which Eve measuring in X on half the pairs breaks (at
  w = 1 it kept 11,008 bits of 2·10^6 pairs, a quarter of them measured by her). E91's finite key is instead the CHSH
  bound with finite statistics
  (:func:`~dqsim.protocols.qkd.finite_key.e91_finite_key_length`): the key
  is every sifted bit but a random ``sample_fraction`` test sample (k of
  them, for the QBER abort and Cascade's tuning, as in the asymptotic
  case), and::

      ℓ = n·(1 - h((1 + √((S_low/2)² - 1))/2) - 7·√(log2(2/ε̄)/n)) - 2·log2(1/ε_PA) - leak_EC - log2(2/ε_cor)

  (V. Scarani and R. Renner, PRL 100, 200501 (2008), with the H(X|E) bound
  of Acín et al. 2007 minimised over the confidence set S >= S_low), where
  ``S_low = |Ŝ| - Σ sqrt(2·ln(8/ε_PE)/N_ij)`` is Hoeffding's lower bound
  on S from the block's four CHSH correlators
  (:func:`~dqsim.protocols.qkd.entangled.chsh_lower_bound`) and ε_PE = ε̄ =
  ε_PA = ε_sec/3. No key for S_low <= 2. This is security against
  **collective attacks** (Eve treats every pair alike and independently,
  i.i.d.), with trusted detectors — weaker than BBM92's coherent-attack
  bound — but it needs no assumption on the source: an eavesdropper's
  pairs lower S.

The block's public randomness (the sample, Cascade's shuffles, the hash
seeds) comes from the ``rng`` the caller passes
(``(seed, node, "qkd_postprocess", block)`` in :mod:`dqsim.protocols.qkd.nodes`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dqsim.checks import check_real
from dqsim.errors import DqsimError
from dqsim.protocols.qkd.entangled import E91_CHSH_TERMS, SiftedCounts, chsh_from_counts, chsh_secrecy_fraction
from dqsim.protocols.qkd.finite_key import (ChshFiniteKeyResult, EntangledFiniteKeyResult, e91_finite_key_length,
                                            entangled_finite_key_length)
from dqsim.protocols.qkd.packed_bits import PackedBits
from dqsim.protocols.qkd.postprocess import QberSample, abort_or_verification_reason, disclose_key_sample, sample_qber
from dqsim.protocols.qkd.reconciliation import PostprocessResult, key_pair, postprocess_key
from dqsim.protocols.qkd.theory import binary_entropy, key_entropy

__all__ = [
    "BBM92_KEY_PAIR",
    "BBM92_TEST_PAIR",
    "EntangledBlockResult",
    "entangled_block_key",
    "entangled_finite_key_rates",
    "entangled_no_key_reason",
    "entangled_postprocess_block",
    "key_pair_of_block",
]

#: Index (in ``key_setting_pairs("bbm92")``) of the BBM92 finite-key key bits (Z–Z) and test bits (X–X).
BBM92_KEY_PAIR = 0
BBM92_TEST_PAIR = 1


def key_pair_of_block(protocol: str, finite: bool) -> int | None:
    """Which key setting pair's bits a block keeps for its key: BBM92 finite key Z–Z only, else all (None).

    Examples:
        >>> key_pair_of_block("bbm92", True), key_pair_of_block("e91", True), key_pair_of_block("bbm92", False)
        (0, None, None)
    """
    return BBM92_KEY_PAIR if protocol == "bbm92" and finite else None


@dataclass(frozen=True)
class EntangledBlockResult:
    """What one BBM92/E91 key block gave.

    Attributes:
        counts: the block's :class:`~dqsim.protocols.qkd.entangled.SiftedCounts`.
        num_pulses_sent: pairs emitted (``counts.num_pairs``).
        qber: true error rate of all the sifted bits (simulation truth; ``None`` without sifted bits).
        estimate: the disclosed bits the QBER was estimated from (the sample, or BBM92's X–X test bits).
        num_key_bits: bits error correction acted on (sifted bits less the disclosed ones), bits.
        leakage_bits: error-correction leakage charged in ℓ, bits (0 when aborted:
            no error correction is run; with Cascade, the parities it disclosed).
        secret_key_bits: ℓ, bits (0 when aborted).
        aborted: the QBER estimate exceeded the threshold, or nothing was disclosed to estimate it.
        key_rate_bits_per_pulse: ℓ per pair emitted, bits.
        key_rate_bits_per_s: ℓ per pair × the pair rate, bits/s.
        finite_key: the finite-key bound when the block was analysed that way (BBM92: Tomamichel et al.'s
            :class:`~dqsim.protocols.qkd.finite_key.EntangledFiniteKeyResult`; E91: the CHSH bound's
            :class:`~dqsim.protocols.qkd.finite_key.ChshFiniteKeyResult`), else ``None``.
        postprocess: what Cascade, verification and privacy amplification did, else ``None``.
        chsh: E91: (S, standard error) of the block's CHSH coincidences, ``(nan, nan)`` where a CHSH
            setting pair saw no coincidence; BBM92: ``None``.
    """

    counts: SiftedCounts
    num_pulses_sent: int
    qber: float | None
    estimate: QberSample
    num_key_bits: int
    leakage_bits: float
    secret_key_bits: int
    aborted: bool
    key_rate_bits_per_pulse: float
    key_rate_bits_per_s: float
    finite_key: EntangledFiniteKeyResult | ChshFiniteKeyResult | None = None
    postprocess: PostprocessResult | None = None
    chsh: tuple[float, float] | None = None


def _check(where: str, counts, protocol: str, f_ec: float, qber_threshold: float, finite_key):
    if not isinstance(counts, SiftedCounts) or len(counts.key_pair_sifted) != 2:
        raise DqsimError(f"{where}: counts must be the SiftedCounts of sifted_statistics (two key setting pairs), "
                         f"got {counts!r}")
    if protocol not in ("bbm92", "e91"):
        raise DqsimError(f"{where}: protocol must be 'bbm92' or 'e91', got {protocol!r}")
    check_real(where, "f_ec", f_ec, 1.0)
    check_real(where, "qber_threshold", qber_threshold, 0.0, 0.5)
    if finite_key is not None and len(finite_key) != 2:
        raise DqsimError(f"{where}: finite_key must be (eps_sec, eps_cor) or None, got {finite_key!r}")


def _block_chsh(where: str, protocol: str, coincidences) -> tuple[float, float] | None:
    """E91: (S, standard error) of the block's coincidences, NaN where a CHSH setting pair has none; BBM92: None."""
    if protocol != "e91":
        return None
    if coincidences is None:
        raise DqsimError(f"{where}: an E91 block needs its coincidences (coincidence_counts of its batches, "
                         f"summed) for the CHSH bound on its key; pass coincidences=")
    n = np.asarray(coincidences)
    if n.shape != (3, 3, 2, 2):
        raise DqsimError(f"{where}: coincidences must have E91's shape (3, 3, 2, 2), got {n.shape}")
    if any(n[a, b].sum() == 0 for a, b, _sign in E91_CHSH_TERMS):
        return math.nan, math.nan
    return chsh_from_counts(n, E91_CHSH_TERMS)


def _bbm92_test(counts: SiftedCounts) -> QberSample:
    """BBM92 finite key: every X–X bit is the test."""
    k = counts.key_pair_sifted[BBM92_TEST_PAIR]
    return QberSample(k, k, counts.key_pair_errors[BBM92_TEST_PAIR])


def _secrecy_bits(counts: SiftedCounts, protocol: str, num_kept: int, estimate: QberSample, chsh) -> float:
    """S of the module docstring: BBM92 each basis's kept bits times 1 - h(the other basis's QBER),
    E91 n'·chsh_secrecy_fraction(S_CHSH)."""
    if not num_kept or estimate.qber is None:
        return 0.0
    if protocol != "bbm92":
        return num_kept * chsh_secrecy_fraction(chsh[0])
    sifted, errors = counts.key_pair_sifted, counts.key_pair_errors
    qber = [errors[b] / sifted[b] if sifted[b] else 0.5 for b in (BBM92_KEY_PAIR, BBM92_TEST_PAIR)]
    share = num_kept / counts.num_sifted
    return share * (sifted[BBM92_KEY_PAIR] * (1.0 - key_entropy(qber[BBM92_TEST_PAIR]))
                    + sifted[BBM92_TEST_PAIR] * (1.0 - key_entropy(qber[BBM92_KEY_PAIR])))


def _finite_bound(protocol: str, num_key_bits: int, estimate: QberSample, leakage_bits: float, eps_sec: float,
                  eps_cor: float, coincidences):
    """The finite-key bound of the module docstring: BBM92 Tomamichel et al.'s, E91 the CHSH bound's."""
    if protocol == "e91":
        return e91_finite_key_length(num_key_bits=num_key_bits, coincidences=coincidences,
                                     leakage_bits=leakage_bits, eps_sec=eps_sec, eps_cor=eps_cor)
    return entangled_finite_key_length(num_key_bits=num_key_bits, num_test_bits=estimate.num_sampled,
                                       test_errors=estimate.num_errors, leakage_bits=leakage_bits, eps_sec=eps_sec,
                                       eps_cor=eps_cor)


def _result(counts, estimate, num_key_bits, leakage_bits, key, aborted, pair_rate_hz, chsh, finite=None,
            done=None):
    per_pair = key / counts.num_pairs if counts.num_pairs else 0.0
    return EntangledBlockResult(
        counts=counts, num_pulses_sent=counts.num_pairs,
        qber=counts.num_errors / counts.num_sifted if counts.num_sifted else None, estimate=estimate,
        num_key_bits=num_key_bits, leakage_bits=0.0 if aborted else float(leakage_bits), secret_key_bits=key,
        aborted=aborted, key_rate_bits_per_pulse=per_pair, key_rate_bits_per_s=per_pair * pair_rate_hz,
        finite_key=finite, postprocess=done, chsh=chsh)


def entangled_block_key(
    counts: SiftedCounts,
    *,
    protocol: str,
    pair_rate_hz: float,
    rng: np.random.Generator,
    f_ec: float,
    qber_threshold: float,
    sample_fraction: float,
    finite_key: tuple[float, float] | None = None,
    coincidences=None,
) -> EntangledBlockResult:
    """A block's key from its counts, error correction modelled as leak_EC = f_EC·h(E)·n (module docstring).

    The sample is drawn from the counts (:func:`~dqsim.protocols.qkd.postprocess.sample_qber`:
    the law of marking the bits one by one); E is the true error rate of the
    n key bits (what error correction discloses).

    Args:
        counts: the block's :class:`~dqsim.protocols.qkd.entangled.SiftedCounts` (with key-pair counts).
        protocol: ``"bbm92"`` or ``"e91"``.
        pair_rate_hz: pairs emitted per second, Hz (for ``key_rate_bits_per_s``).
        rng: the block's shared public generator.
        f_ec: error-correction inefficiency f_EC >= 1.
        qber_threshold: abort when the estimated QBER exceeds it, in [0, 0.5].
        sample_fraction: fraction of the sifted bits disclosed (not used by BBM92's finite key), in (0, 0.5].
        finite_key: ``(eps_sec, eps_cor)`` for the finite-key ℓ (BBM92 Tomamichel et al.'s, E91 the CHSH
            bound's, module docstring); ``None``: asymptotic.
        coincidences: E91 (required): the block's
            :func:`~dqsim.protocols.qkd.entangled.coincidence_counts`, summed over its batches, shape
            (3, 3, 2, 2), for its CHSH value (asymptotic) or lower bound (finite key); BBM92: not used.

    Returns:
        The :class:`EntangledBlockResult`.

    Raises:
        DqsimError: counts without key-pair counts, E91 without ``coincidences``, or an argument out of range.

    Examples:
        >>> c = SiftedCounts(1_000_000, 200_000, 100_000, 2_000, (50_000, 50_000), (1_000, 1_000))
        >>> r = entangled_block_key(c, protocol="bbm92", pair_rate_hz=1e9, rng=np.random.default_rng(1),
        ...                         f_ec=1.16, qber_threshold=0.11, sample_fraction=0.1)
        >>> r.aborted, round(r.leakage_bits / (1.16 * r.num_key_bits), 2), r.key_rate_bits_per_s > 0
        (False, 0.14, True)
    """
    where = "entangled_block_key"
    _check(where, counts, protocol, f_ec, qber_threshold, finite_key)
    chsh = _block_chsh(where, protocol, coincidences)
    pair = key_pair_of_block(protocol, finite_key is not None)
    if pair is not None:
        estimate = _bbm92_test(counts)
        n, n_errors = counts.key_pair_sifted[pair], counts.key_pair_errors[pair]
    else:
        estimate = sample_qber(counts.num_sifted, counts.num_errors, sample_fraction, rng)
        n, n_errors = counts.num_sifted - estimate.num_sampled, counts.num_errors - estimate.num_errors
    aborted = estimate.qber is None or estimate.qber > qber_threshold
    leak = f_ec * binary_entropy(n_errors / n) * n if n else 0.0
    finite = None
    if finite_key is not None:
        finite = _finite_bound(protocol, n, estimate, leak, finite_key[0], finite_key[1], coincidences)
        key = finite.secret_key_bits
    elif n and not aborted:
        key = int(max(0.0, _secrecy_bits(counts, protocol, n, estimate, chsh) - leak))
    else:
        key = 0
    return _result(counts, estimate, n, leak, 0 if aborted else key, aborted, pair_rate_hz, chsh, finite)


def entangled_postprocess_block(
    counts: SiftedCounts,
    alice_key: np.ndarray,
    bob_key: np.ndarray,
    *,
    protocol: str,
    pair_rate_hz: float,
    rng: np.random.Generator,
    f_ec: float,
    qber_threshold: float,
    sample_fraction: float,
    eps_cor: float,
    finite_key: tuple[float, float] | None = None,
    coincidences=None,
    reconcile=None,
) -> EntangledBlockResult:
    """A block's key with Cascade, the verification hash and Toeplitz privacy amplification actually run.

    The bits are disclosed as the module docstring says (a bitwise sample by
    :func:`~dqsim.protocols.qkd.postprocess.disclose_key_sample`, or BBM92's
    X–X test bits from the counts), the rest go through
    :func:`~dqsim.protocols.qkd.reconciliation.postprocess_key` tuned to the
    estimate, and ℓ is the key-length formula with Cascade's measured leakage.

    Args:
        counts: the block's :class:`~dqsim.protocols.qkd.entangled.SiftedCounts`.
        alice_key, bob_key: the block's key bits in pair order (uint8 arrays, or
            :class:`~dqsim.protocols.qkd.packed_bits.PackedBits`, never unpacked), from
            :func:`~dqsim.protocols.qkd.entangled.sifted_key_bits` with
            ``key_pair=key_pair_of_block(protocol, finite_key is not None)``.
        protocol, pair_rate_hz, rng, f_ec, qber_threshold, sample_fraction, finite_key, coincidences:
            as :func:`entangled_block_key`.
        eps_cor: correctness parameter of the verification hash (asymptotic
            case; with ``finite_key`` its own ε_cor is used), in (0, 1).
        reconcile: the error correction (``None``: Cascade; :func:`dqsim.protocols.qkd.ldpc.reconciler`: LDPC),
            as :func:`~dqsim.protocols.qkd.reconciliation.postprocess_key` takes it.

    Returns:
        The :class:`EntangledBlockResult`, ``postprocess`` filled in.

    Raises:
        DqsimError: key arrays that do not match the counts, E91 without ``coincidences``, or an argument
            out of range.
    """
    where = "entangled_postprocess_block"
    _check(where, counts, protocol, f_ec, qber_threshold, finite_key)
    chsh = _block_chsh(where, protocol, coincidences)
    pair = key_pair_of_block(protocol, finite_key is not None)
    expected = counts.num_sifted if pair is None else counts.key_pair_sifted[pair]
    sizes = [key.num_bits if isinstance(key, PackedBits) else int(np.size(key)) for key in (alice_key, bob_key)]
    if sizes != [expected, expected] or any(not isinstance(key, PackedBits) and np.ndim(key) != 1
                                            for key in (alice_key, bob_key)):
        raise DqsimError(f"{where}: alice_key and bob_key must hold the block's {expected} key bits, "
                         f"got {sizes[0]} and {sizes[1]}")
    keys = key_pair(where, alice_key, bob_key)
    if pair is not None:
        estimate, kept = _bbm92_test(counts), keys
    else:
        estimate, kept = disclose_key_sample(keys, sample_fraction, rng)
    aborted = estimate.qber is None or estimate.qber > qber_threshold
    n = kept.num_bits
    if finite_key is not None:
        eps_cor = finite_key[1]

    def finite_bound(leak: float) -> EntangledFiniteKeyResult | ChshFiniteKeyResult:
        return _finite_bound(protocol, n, estimate, leak, finite_key[0], eps_cor, coincidences)

    def final_bits(leak: int) -> int:
        if aborted:
            return 0
        if finite_key is not None:
            return finite_bound(leak).secret_key_bits
        return int(math.floor(_secrecy_bits(counts, protocol, n, estimate, chsh) - leak
                              - math.ceil(math.log2(1.0 / eps_cor))))

    done = postprocess_key(kept, None, qber_estimate=estimate.cascade_qber,
                           final_bits_of_leakage=final_bits, eps_cor=eps_cor, rng=rng, reconcile=reconcile)
    finite = finite_bound(float(done.leakage_bits)) if finite_key is not None else None
    return _result(counts, estimate, n, done.leakage_bits, done.final_key_bits, aborted, pair_rate_hz, chsh, finite,
                   done)


def entangled_no_key_reason(result: EntangledBlockResult, protocol: str, qber_threshold: float) -> str:
    """One line saying why a BBM92/E91 block gave no secret key (``""`` when it gave one).

    In order: an abort (no bit disclosed to estimate the QBER, or its estimate above ``qber_threshold``);
    a failed error verification; the finite-key bound below one bit (BBM92 Tomamichel et al. 2012; E91 the
    CHSH bound: its S_low not measured, not above 2, or the length below one bit); E91: its
    CHSH value not measured or not above 2; the asymptotic secrecy S (module docstring) not above the leakage.

    Examples:
        >>> c = SiftedCounts(1000, 0, 0, 0, (0, 0), (0, 0))
        >>> r = entangled_block_key(c, protocol="bbm92", pair_rate_hz=1e9, rng=np.random.default_rng(1),
        ...                         f_ec=1.16, qber_threshold=0.11, sample_fraction=0.1)
        >>> entangled_no_key_reason(r, "bbm92", 0.11)
        'aborted: no sampled sifted bit to estimate the QBER from (too few pulses or too much loss)'
    """
    if result.secret_key_bits > 0:
        return ""
    finite = result.finite_key
    test = "sampled sifted bit" if key_pair_of_block(protocol, finite is not None) is None else "X–X test bit"
    common = abort_or_verification_reason(result.aborted, result.estimate.qber, qber_threshold, result.postprocess,
                                          test)
    if common is not None:
        return common
    if result.num_key_bits == 0:
        return f"no key bit left in {result.num_pulses_sent:,} pairs (too few pairs or too much loss)"
    if isinstance(finite, ChshFiniteKeyResult):
        return _chsh_finite_reason(finite)
    if finite is not None:
        return (f"finite key: ℓ = {finite.unclipped_length:.0f} bits < 1 with n = {finite.num_key_bits:,} key bits, "
                f"k = {finite.num_test_bits:,} test bits, Q_tol + μ = {finite.phase_error_upper:.4f} (Tomamichel "
                f"et al. 2012; block too small or too noisy): raise block_pulses")
    if protocol == "bbm92":
        c = result.counts
        per_basis = ", ".join(f"{name} {e / n:.4f}" if n else f"{name} n/a"
                              for name, n, e in zip(("Z–Z", "X–X"), c.key_pair_sifted, c.key_pair_errors))
        return (f"n'_ZZ(1 - h(Q_XX)) + n'_XX(1 - h(Q_ZZ)) does not exceed the leakage {result.leakage_bits:.0f} bits "
                f"(QBER estimate {result.estimate.qber:.4f}; per basis {per_basis}): the link is too noisy, or one "
                f"basis's errors are too high")
    s, se = result.chsh
    if math.isnan(s):
        return (f"CHSH S not measured in this block (a CHSH setting pair saw no coincidence), so no secrecy "
                f"is shown (Acín et al. 2007): more pairs per block or less loss")
    if s <= 2.0:
        return (f"CHSH S = {s:.4f} ± {se:.4f} <= 2: no Bell violation, the CHSH bound (Acín et al. 2007) leaves "
                f"no secret bit (an eavesdropper, or too much noise)")
    secrecy = result.num_key_bits * chsh_secrecy_fraction(s)
    return (f"n'(1 - h((1 + sqrt((S/2)^2 - 1))/2)) = {secrecy:.0f} bits at CHSH S = {s:.4f} ± {se:.4f} does not "
            f"exceed the leakage {result.leakage_bits:.0f} bits (QBER estimate {result.estimate.qber:.4f}): S too "
            f"close to 2 for the bit errors (an eavesdropper, or too much noise)")


def _chsh_finite_reason(finite: ChshFiniteKeyResult) -> str:
    """Why E91's finite key (the CHSH bound, Scarani & Renner 2008) gave no bit, in one line."""
    if math.isnan(finite.chsh_lower):
        return ("finite key: CHSH S not measured in this block (a CHSH setting pair saw no coincidence), so no "
                "secrecy is shown (Acín et al. 2007): more pairs per block or less loss")
    bound = (f"CHSH S_low = {finite.chsh_value:.4f} - {finite.chsh_deviation:.4f} = {finite.chsh_lower:.4f} "
             f"(Hoeffding, ε_PE = ε_sec/3 = {finite.eps_sec / 3:.1e})")
    if finite.chsh_lower <= 2.0:
        return (f"finite key: {bound} <= 2: no Bell violation shown, the CHSH bound (Acín et al. 2007) leaves no "
                f"secret bit (an eavesdropper, too much noise, or too few CHSH coincidences: raise block_pulses)")
    return (f"finite key: ℓ = {finite.unclipped_length:.0f} bits < 1 with n = {finite.num_key_bits:,} key bits at "
            f"{bound}, secrecy {finite.secrecy_fraction:.4f} - δ_AEP {finite.aep_deviation:.4f} per bit against "
            f"leakage {finite.leakage_bits:.0f} bits (Scarani & Renner 2008, collective attacks; block too small or "
            f"too noisy): raise block_pulses")


def entangled_finite_key_rates(counts: SiftedCounts, protocol: str, block_pulses, *, f_ec: float,
                               sample_fraction: float, eps_sec: float = 1e-10, eps_cor: float = 1e-15,
                               coincidences=None) -> list[float]:
    """Finite-key rate (bits per pair) of blocks of each size in ``block_pulses``, at the measured statistics.

    The counts of ``counts`` (and E91's ``coincidences``) are scaled from
    its ``num_pairs`` pairs to N pairs (the expected counts of a block of N
    pairs at the run's per-pair rates; no fluctuation of the counts
    themselves), split into key and test bits as a block is (BBM92: Z–Z
    key, X–X test; E91: a ``sample_fraction`` test), and the block's
    finite-key ℓ with leak_EC = f_EC·h(E)·n gives ℓ/N (the counts rounded
    to whole bits). BBM92: Tomamichel et al.'s
    (:func:`~dqsim.protocols.qkd.finite_key.entangled_finite_key_length`);
    as N grows ℓ/N tends to (n/N)(1 - h(Q) - f_EC·h(E)). E91: the CHSH
    bound (:func:`~dqsim.protocols.qkd.finite_key.e91_finite_key_length`,
    collective attacks) at the scaled coincidences; as N grows ℓ/N tends
    to the asymptotic key of its blocks, (n/N)(1 - h((1 + √((S/2)² - 1))/2)
    - f_EC·h(E)) at the run's CHSH value S.

    Args:
        counts: the summed :class:`~dqsim.protocols.qkd.entangled.SiftedCounts` of the run's blocks.
        protocol: ``"bbm92"`` or ``"e91"``.
        block_pulses: block sizes N, pairs, each > 0.
        f_ec: error-correction inefficiency, >= 1.
        sample_fraction: E91's test fraction, in (0, 0.5].
        eps_sec, eps_cor: the security parameters.
        coincidences: E91 (required): the run's coincidence counts over the same pairs as ``counts``,
            shape (3, 3, 2, 2); BBM92: not used.

    Returns:
        ``ℓ/N`` per block size, bits per pair (0 where no key).

    Raises:
        DqsimError: an argument out of range, or E91 without ``coincidences``.

    Examples:
        >>> c = SiftedCounts(10**6, 2 * 10**5, 10**5, 2_000, (50_000, 50_000), (1_000, 1_000))
        >>> [round(r, 4) for r in entangled_finite_key_rates(c, "bbm92", [1e4, 1e6, 1e12], f_ec=1.16,
        ...                                                   sample_fraction=0.1)]
        [0.0, 0.0271, 0.0347]
    """
    where = "entangled_finite_key_rates"
    _check(where, counts, protocol, f_ec, 0.0, None)
    sample_fraction = check_real(where, "sample_fraction", sample_fraction, 0.0, 0.5, low_open=True)
    _block_chsh(where, protocol, coincidences)  # E91: the coincidences are there and have E91's shape
    pair = key_pair_of_block(protocol, True)
    if pair is not None:
        key, key_errors = counts.key_pair_sifted[pair], counts.key_pair_errors[pair]
        test, test_errors = counts.key_pair_sifted[BBM92_TEST_PAIR], counts.key_pair_errors[BBM92_TEST_PAIR]
    else:
        key, key_errors = (1.0 - sample_fraction) * counts.num_sifted, (1.0 - sample_fraction) * counts.num_errors
        test, test_errors = sample_fraction * counts.num_sifted, sample_fraction * counts.num_errors
    rates = []
    for size in block_pulses:
        size = check_real(where, "block_pulses", size, 0.0, low_open=True)
        scale = size / counts.num_pairs if counts.num_pairs else 0.0
        n, k = round(key * scale), round(test * scale)
        leak = f_ec * binary_entropy(min(0.5, key_errors / key)) * n if key else 0.0
        estimate = QberSample(k, k, min(k, round(test_errors * scale)))
        scaled = None if coincidences is None else np.rint(np.asarray(coincidences, dtype=np.float64) * scale)
        bound = _finite_bound(protocol, n, estimate, leak, eps_sec, eps_cor, scaled)
        rates.append(bound.secret_key_bits / size)
    return rates
