"""Sifting, counting and the asymptotic secret-key length of a block of BB84 pulses.

The engine accumulates :class:`BlockCounts` over the batches of a block
(``counts_a + counts_b``) and calls :func:`estimate_block` once per block.

**QBER.** The error counts are the simulator's true errors of the sifted
bits (Alice's and Bob's bits compared). A real system estimates the QBER
from a random sample of the sifted bits and discards that sample:
:func:`sample_qber` draws it (each key bit joins the sample with
probability ``sample_fraction``: the sample size is binomial and, given it,
its errors hypergeometric — the same law as marking the bits one by one),
and ``estimate_block(..., sample=...)`` aborts on the sample's QBER and
keys only the rest. The finite-key analysis instead estimates from the X
(test) basis, which is disclosed whole (Lim et al. 2014).

**Key length** (asymptotic GLLP with decoy-state bounds; D. Gottesman, H.-K.
Lo, N. Lütkenhaus, J. Preskill, Quantum Inf. Comput. 4, 325 (2004); X. Ma,
B. Qi, Y. Zhao, H.-K. Lo, Phys. Rev. A 72, 012326 (2005), Sec. II)::

    n_1,B^L = (Q1^L / Q_μ) · n_B                 single-photon sifted signal bits of basis B (Z, X)
    leak    = f_EC · h(E_μ) · n_sifted,μ         bits revealed by error correction
    ℓ       = max(0, n_1,Z^L·[1 - h(e1,X^U)] + n_1,X^L·[1 - h(e1,Z^U)] - leak)

The phase error rate of one basis's single-photon bits is bounded by the
other basis's single-photon bit error rate e1,B^U (from that basis's decoy
QBER; H.-K. Lo, H. F. Chau, M. Ardehali, J. Cryptology 18, 133 (2005)), so an
attack on one basis alone (intercept-resend always in Z, which leaves the Z
bits' QBER untouched) is charged where it shows. With unbiased bases and
basis-independent noise this is the usual ``n_1^L·[1 - h(e1^U)]``; with
biased bases (``z_basis_probability``) it is what keeps the key secure.

With a QBER sample of m of the n sifted signal bits (k errors), ``n_1^L``
and ``leak`` count only the n - m kept bits (``leak`` at their error rate
(E·n - k)/(n - m), which error correction discloses), and the block aborts
when k/m exceeds the threshold.

Only signal-class sifted bits form the key; decoy classes are used for the
estimation only. ``Q1^L`` and ``e1^U`` come from :mod:`dqsim.protocols.qkd.decoy`.

By default finite-key effects are NOT included: no statistical fluctuation
of the decoy estimates, no cost of parameter estimation, error verification
or privacy-amplification security parameters; the result is the key length
the block would give in the limit of infinitely long blocks with the same
rates. ``estimate_block(..., finite_key=(eps_sec, eps_cor))`` gives the
finite-key length of Lim et al. 2014 instead
(:mod:`dqsim.protocols.qkd.finite_key`).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, replace

import numpy as np

from dqsim.backend import qkd_kernels
from dqsim.errors import DqsimError
from dqsim.checks import check_choice, check_int, check_real
from dqsim.protocols.qkd.bb84 import BASIS_X, BASIS_Z, AliceBatch, BobBatch, DecoySource
from dqsim.protocols.qkd.decoy import (DecoyEstimate, basis_single_photon_error_upper, one_decoy, two_decoy,
                                       vacuum_weak_decoy)
from dqsim.protocols.qkd.finite_key import FiniteKeyResult, finite_key_length
from dqsim.protocols.qkd.packed_bits import PackedKeyPair
from dqsim.protocols.qkd.reconciliation import PostprocessResult, key_pair, postprocess_key
from dqsim.protocols.qkd.theory import DEFAULT_ERROR_CORRECTION_EFFICIENCY, binary_entropy, key_entropy

__all__ = [
    "DEFAULT_QBER_THRESHOLD",
    "BlockCounts",
    "BlockResult",
    "abort_or_verification_reason",
    "block_counts",
    "no_key_reason",
    "QberSample",
    "disclose_sample",
    "estimate_block",
    "finite_key_rates",
    "postprocess_block",
    "sample_qber",
    "sift",
]

#: QBER of the signal class above which a block is aborted (Shor-Preskill
#: limit of BB84 with one-way post-processing, ≈ 11%).
DEFAULT_QBER_THRESHOLD = 0.11

#: Decoy estimators accepted by :func:`estimate_block`.
DECOY_CHOICES = ("auto", "vacuum_weak", "one_decoy", "two_decoy")

_COUNT_FIELDS = ("sent", "detected", "sifted", "errors", "sifted_z", "errors_z", "sifted_x",
                 "errors_x", "eve_known", "double_clicks")


def sift(alice: AliceBatch, bob: BobBatch):
    """Mask of the sifted pulses: Bob detected and used Alice's basis.

    Double clicks already carry a random bit (:mod:`dqsim.protocols.qkd.bb84`), so they
    stay in the key.

    Args:
        alice: Alice's batch.
        bob: Bob's batch for the same pulses.

    Returns:
        Boolean ``xp`` array, one entry per pulse.

    Examples:
        >>> import numpy as np
        >>> from dqsim.protocols.qkd.bb84 import DetectorModel, DecoySource, alice_batch, bob_detect
        >>> a = alice_batch(np, DecoySource(), 3, 0, 2000)
        >>> b, _ = bob_detect(np, a, transmittance=1.0, detector=DetectorModel(), seed=3)
        >>> m = sift(a, b)
        >>> bool((a.basis[m] == b.basis[m]).all())
        True
    """
    if alice.num_pulses != bob.num_pulses or alice.start_pulse != bob.start_pulse:
        raise DqsimError(
            f"sift: bob must cover alice's pulses {alice.start_pulse}+{alice.num_pulses}, "
            f"got {bob.start_pulse}+{bob.num_pulses}")
    return bob.detected & (alice.basis == bob.basis)


@dataclass(frozen=True)
class BlockCounts:
    """Counts of one block per intensity class, as host Python ints.

    Every field but ``num_classes`` is a tuple with one count per class.

    Attributes:
        num_classes: number of intensity classes.
        sent: pulses sent.
        detected: pulses Bob detected (either basis).
        sifted: sifted pulses (detected, bases equal).
        errors: sifted pulses whose bits differ.
        sifted_z, errors_z: the same for pulses Alice prepared in Z.
        sifted_x, errors_x: the same for pulses Alice prepared in X.
        eve_known: sifted pulses whose bit Eve learned.
        double_clicks: detected pulses with a double click.

    Examples:
        >>> c = BlockCounts.zeros(2)
        >>> (c + c).sent
        (0, 0)
    """

    num_classes: int
    sent: tuple[int, ...]
    detected: tuple[int, ...]
    sifted: tuple[int, ...]
    errors: tuple[int, ...]
    sifted_z: tuple[int, ...]
    errors_z: tuple[int, ...]
    sifted_x: tuple[int, ...]
    errors_x: tuple[int, ...]
    eve_known: tuple[int, ...]
    double_clicks: tuple[int, ...]

    def __post_init__(self) -> None:
        where = "BlockCounts"
        check_int(where, "num_classes", self.num_classes, 1)
        for name in _COUNT_FIELDS:
            values = tuple(int(v) for v in getattr(self, name))
            if len(values) != self.num_classes or any(v < 0 for v in values):
                raise DqsimError(
                    f"{where}: {name} must hold {self.num_classes} counts >= 0, got {values}")
            object.__setattr__(self, name, values)

    @classmethod
    def zeros(cls, num_classes: int) -> BlockCounts:
        """All counts zero (the start of an accumulation)."""
        zero = (0,) * num_classes
        return cls(num_classes, *([zero] * len(_COUNT_FIELDS)))

    def __add__(self, other: BlockCounts) -> BlockCounts:
        if not isinstance(other, BlockCounts) or other.num_classes != self.num_classes:
            return NotImplemented
        # Sums of checked counts need no check (__post_init__ cost more than the rest of a
        # 1e6-pulse batch at 50 km): the new object's fields are set directly.
        total = object.__new__(BlockCounts)
        object.__setattr__(total, "num_classes", self.num_classes)
        for name in _COUNT_FIELDS:
            object.__setattr__(total, name, tuple(map(operator.add, getattr(self, name), getattr(other, name))))
        return total


def block_counts(xp, alice: AliceBatch, bob: BobBatch, num_classes: int) -> BlockCounts:
    """Count the pulses of one batch per intensity class.

    Args:
        xp: array module of the batches.
        alice: Alice's batch.
        bob: Bob's batch for the same pulses.
        num_classes: number of intensity classes of the source, in [1, 255].

    Returns:
        The :class:`BlockCounts` (host ints; one device-to-host copy of a
        small table).

    Raises:
        DqsimError: batches that do not match, or a bad ``num_classes``.

    Examples:
        >>> import numpy as np
        >>> from dqsim.protocols.qkd.bb84 import DetectorModel, DecoySource, alice_batch, bob_detect
        >>> a = alice_batch(np, DecoySource(), 3, 0, 2000)
        >>> b, _ = bob_detect(np, a, transmittance=1.0, detector=DetectorModel(), seed=3)
        >>> sum(block_counts(np, a, b, 3).sent)
        2000
    """
    num_classes = check_int("block_counts", "num_classes", num_classes, 1, 255)
    mask = sift(alice, bob)
    error = mask & (alice.bit != bob.bit)
    in_z = alice.basis == BASIS_Z
    in_x = alice.basis == BASIS_X
    cls = alice.intensity_class

    def per_class(selection):
        return xp.bincount(cls[selection], minlength=num_classes)

    table = xp.stack([
        xp.bincount(cls, minlength=num_classes),
        per_class(bob.detected),
        per_class(mask),
        per_class(error),
        per_class(mask & in_z),
        per_class(error & in_z),
        per_class(mask & in_x),
        per_class(error & in_x),
        per_class(mask & bob.eve_knows),
        per_class(bob.double_click),
    ]).tolist()
    if any(len(row) != num_classes for row in table):
        raise DqsimError(
            f"block_counts: num_classes must exceed every intensity class, got {num_classes}")
    return BlockCounts(num_classes, *(tuple(row) for row in table))


@dataclass(frozen=True)
class BlockResult:
    """Parameter estimation and asymptotic secret-key length of one block.

    Attributes:
        num_pulses_sent: pulses sent in the block (all classes).
        gains: detections per pulse sent, per class (``None`` for a class with no pulse).
        qbers: error fraction of the sifted bits, per class (``None`` without sifted bits).
        gain_signal: Q_μ of the signal class, detections per pulse.
        qber_signal: E_μ of the signal class (``None`` without sifted bits).
        decoy: the :class:`DecoyEstimate`, or ``None`` where a gain or a QBER
            needed by it is zero or undefined.
        num_sifted_signal_bits: sifted bits of the signal class, bits.
        num_single_photon_bits_lower: n_1^L, bits (both bases).
        leakage_bits: f_EC·h(E_μ)·(sifted signal bits), bits.
        secret_key_bits: ℓ, bits (0 when aborted).
        key_rate_bits_per_pulse: ℓ per pulse sent (all classes), bits.
        key_rate_bits_per_signal_pulse: ℓ per signal pulse sent, bits.
        key_rate_bits_per_s: ℓ per pulse × the source rate, bits/s.
        qber_threshold: the abort threshold used.
        aborted: the QBER estimate (the sample's; finite key: the X basis's) exceeded ``qber_threshold``.
        eve_known_fraction: fraction of the sifted signal bits Eve learned
            (simulation truth, for diagnostics; ``None`` without sifted bits).
        f_ec: error-correction efficiency used.
        finite_key: the finite-key bounds (Lim et al. 2014) when the block
            was analysed that way (``secret_key_bits`` is then its ℓ), else ``None``.
        postprocess: what error correction, verification and privacy
            amplification did when they were run (:func:`postprocess_block`), else ``None``.
        qber_estimate: the QBER as the protocol estimated it — from the
            disclosed sample (:func:`sample_qber`), or from the X basis
            (finite key) — or ``None`` (no estimate made, or no bits).
        qber_estimate_standard_error: its binomial standard error (NaN without an estimate).
        num_estimation_bits: bits the estimate disclosed (removed from the key
            when sampled from it), bits.
        single_photon_secrecy_bits: n_1,Z^L·[1 - h(e1,X^U)] + n_1,X^L·[1 - h(e1,Z^U)] (asymptotic; 0 without
            a decoy bound), bits.
        phase_error_upper: the phase error bounds of the Z bits and the X bits, (e1,X^U, e1,Z^U), or
            ``None`` without a decoy bound.
    """

    num_pulses_sent: int
    gains: tuple[float | None, ...]
    qbers: tuple[float | None, ...]
    gain_signal: float
    qber_signal: float | None
    decoy: DecoyEstimate | None
    num_sifted_signal_bits: int
    num_single_photon_bits_lower: float
    leakage_bits: float
    secret_key_bits: int
    key_rate_bits_per_pulse: float
    key_rate_bits_per_signal_pulse: float
    key_rate_bits_per_s: float
    qber_threshold: float
    aborted: bool
    eve_known_fraction: float | None
    f_ec: float
    finite_key: FiniteKeyResult | None = None
    postprocess: PostprocessResult | None = None
    qber_estimate: float | None = None
    qber_estimate_standard_error: float = math.nan
    num_estimation_bits: int = 0
    single_photon_secrecy_bits: float = 0.0
    phase_error_upper: tuple[float, float] | None = None


def _phase_errors(counts: BlockCounts, source: DecoySource, decoy: DecoyEstimate, decoy_class: int,
                  gain_decoy: float) -> tuple[float, float]:
    """(phase error bound of the Z bits, of the X bits) = (e1,X^U, e1,Z^U) from each basis's decoy QBER."""
    nu = source.intensities[decoy_class]
    second = decoy_class + 1 if decoy.method == "two_decoy" else None
    bound = {basis: basis_single_photon_error_upper(
                 decoy, decoy_intensity=nu, gain_decoy=gain_decoy,
                 qber_decoy=_ratio(errors[decoy_class], sifted[decoy_class]),
                 **({} if second is None else dict(
                     second_decoy_intensity=source.intensities[second],
                     gain_second_decoy=_ratio(counts.detected[second], counts.sent[second]) or 0.0,
                     qber_second_decoy=_ratio(errors[second], sifted[second]))))
             for basis, sifted, errors in (("z", counts.sifted_z, counts.errors_z),
                                           ("x", counts.sifted_x, counts.errors_x))}
    return bound["x"], bound["z"]


@dataclass(frozen=True)
class QberSample:
    """The key bits disclosed to estimate a block's QBER.

    Attributes:
        num_bits: key bits the sample was drawn from.
        num_sampled: bits disclosed (and removed from the key), <= ``num_bits``.
        num_errors: errors among them.
    """

    num_bits: int
    num_sampled: int
    num_errors: int

    @property
    def qber(self) -> float | None:
        """Estimated QBER k/m (``None`` for an empty sample)."""
        return self.num_errors / self.num_sampled if self.num_sampled else None

    @property
    def standard_error(self) -> float:
        """Binomial standard error sqrt(q(1-q)/m) of the estimate (NaN for an empty sample)."""
        q = self.qber
        return math.sqrt(q * (1.0 - q) / self.num_sampled) if q is not None else math.nan

    @property
    def cascade_qber(self) -> float:
        """The error rate Cascade is tuned to: (k + 1)/(m + 2), Laplace's rule of succession (1/2 for no sample).

        k/m for a large sample, but never 0: a small sample without an error (likely for the ~100 bits a
        far link discloses at a 1 % QBER) would tune Cascade to one block of the whole key per pass, which
        finds no even number of errors, and the block would fail its verification (7 of 20 blocks at 150 km
        did).

        Examples:
            >>> round(QberSample(1000, 20, 0).cascade_qber, 6), round(QberSample(10**6, 10**5, 1000).cascade_qber, 6)
            (0.045455, 0.01001)
        """
        return (self.num_errors + 1) / (self.num_sampled + 2)


def sample_qber(num_bits: int, num_errors: int, sample_fraction: float, rng: np.random.Generator) -> QberSample:
    """Disclose a random part of a block's key bits to estimate its QBER (from the counts alone).

    Each of the ``num_bits`` bits joins the sample independently with
    probability ``sample_fraction`` (as the post-processing of
    :func:`postprocess_block` does bit by bit): the sample size is
    m ~ Binomial(num_bits, sample_fraction) and, given m, its errors
    k ~ Hypergeometric(num_errors, num_bits - num_errors, m) — the same joint law.

    Args:
        num_bits: key bits of the block, >= 0.
        num_errors: errors among them, in [0, num_bits].
        sample_fraction: probability that a bit is disclosed, in (0, 0.5].
        rng: the block's shared public generator.

    Returns:
        The :class:`QberSample`.

    Examples:
        >>> s = sample_qber(100_000, 2_000, 0.1, np.random.default_rng(1))
        >>> 9_000 < s.num_sampled < 11_000, abs(s.qber - 0.02) < 5 * s.standard_error
        (True, True)
    """
    where = "sample_qber"
    num_bits = check_int(where, "num_bits", num_bits, 0)
    num_errors = check_int(where, "num_errors", num_errors, 0, num_bits)
    sample_fraction = check_real(where, "sample_fraction", sample_fraction, 0.0, 0.5, low_open=True)
    m = int(rng.binomial(num_bits, sample_fraction)) if num_bits else 0
    k = int(rng.hypergeometric(num_errors, num_bits - num_errors, m)) if m else 0
    return QberSample(num_bits, m, k)


def disclose_sample(alice_key: np.ndarray, bob_key: np.ndarray, sample_fraction: float,
                    rng: np.random.Generator) -> tuple[QberSample, np.ndarray, np.ndarray]:
    """Disclose a random part of a block's key bits (each with probability ``sample_fraction``) for its QBER.

    The bit-by-bit form of :func:`sample_qber`, on the bits themselves: one
    uniform per bit from ``rng`` (the block's shared public generator) marks
    the sample, whose bits are compared and dropped
    (:func:`dqsim.backend.qkd_kernels.split_sample`: in one compiled pass for the scenario's Philox
    generators where numba is, else by NumPy; the same bits).

    Args:
        alice_key, bob_key: the block's key bits (uint8, same length and order).
        sample_fraction: probability that a bit is disclosed, in (0, 0.5].
        rng: the block's shared public generator.

    Returns:
        ``(sample, alice_kept, bob_kept)``: the :class:`QberSample` and the bits left for the key.

    Raises:
        DqsimError: keys of different lengths or a ``sample_fraction`` out of range.

    Examples:
        >>> a = np.zeros(1000, np.uint8); b = a.copy(); b[::10] = 1
        >>> s, ka, kb = disclose_sample(a, b, 0.2, np.random.default_rng(2))
        >>> s.num_sampled + ka.size == 1000, abs(s.qber - 0.1) < 5 * s.standard_error
        (True, True)
    """
    where = "disclose_sample"
    sample_fraction = check_real(where, "sample_fraction", sample_fraction, 0.0, 0.5, low_open=True)
    if alice_key.shape != bob_key.shape:
        raise DqsimError(f"{where}: bob_key must have alice_key's shape {alice_key.shape}, got {bob_key.shape}")
    num_sampled, num_errors, alice_kept, bob_kept = qkd_kernels.split_sample(rng, alice_key, bob_key,
                                                                             sample_fraction)
    return QberSample(int(alice_key.size), num_sampled, num_errors), alice_kept, bob_kept


def disclose_key_sample(keys: PackedKeyPair, sample_fraction: float,
                        rng: np.random.Generator) -> tuple[QberSample, PackedKeyPair]:
    """:func:`disclose_sample` on a block's keys packed (Alice's bits and Bob's wrong positions): the same
    sample and counts, ``rng`` left the same, and the bits left for the key as a packed pair
    (:func:`dqsim.backend.qkd_kernels.split_packed_sample`; no key unpacked).

    Examples:
        >>> a = np.zeros(1000, np.uint8); b = a.copy(); b[::10] = 1
        >>> s, kept = disclose_key_sample(PackedKeyPair.of(a, b), 0.2, np.random.default_rng(2))
        >>> s.num_sampled + kept.num_bits == 1000, abs(s.qber - 0.1) < 5 * s.standard_error
        (True, True)
    """
    sample_fraction = check_real("disclose_sample", "sample_fraction", sample_fraction, 0.0, 0.5, low_open=True)
    num_sampled, num_errors, num_kept, alice_kept, errors_kept = qkd_kernels.split_packed_sample(
        rng, keys.alice, keys.num_bits, keys.errors, sample_fraction)
    return QberSample(keys.num_bits, num_sampled, num_errors), PackedKeyPair(num_kept, alice_kept, errors_kept)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _decoy_classes(source: DecoySource) -> tuple[int, int | None]:
    """Index of the weak decoy (the second intensity) and of the third intensity (vacuum or second decoy)."""
    if source.num_classes < 2 or source.intensities[1] <= 0.0:
        raise DqsimError(
            f"estimate_block: source.intensities needs a weak decoy (a second intensity "
            f"> 0) for the decoy-state estimate, got {source.intensities}")
    return 1, (2 if source.num_classes == 3 else None)


def estimate_block(
    counts: BlockCounts,
    source: DecoySource,
    *,
    f_ec: float = DEFAULT_ERROR_CORRECTION_EFFICIENCY,
    qber_threshold: float = DEFAULT_QBER_THRESHOLD,
    decoy_method: str = "auto",
    finite_key: tuple[float, float] | None = None,
    leakage_bits: float | None = None,
    sample: QberSample | None = None,
) -> BlockResult:
    """Gains, QBERs, decoy bounds and the asymptotic secret-key length of a block.

    Gains ``Q_c = detected/sent`` and QBERs ``E_c = errors/sifted`` per
    class; the decoy analysis (:mod:`dqsim.protocols.qkd.decoy`) with the
    signal (class 0), the weak decoy (class 1) and, where sent, the third
    intensity (class 2: the vacuum, or a second weak decoy); then the key
    length of the module docstring. Finite-key
    effects are NOT included.

    Args:
        counts: the block's :class:`BlockCounts`.
        source: the :class:`DecoySource` that sent the block.
        f_ec: error-correction efficiency f_EC >= 1.
        qber_threshold: abort when the QBER estimate exceeds it, in [0, 0.5]: the ``sample``'s, with
            ``finite_key`` the test (X) basis's of all intensities, else the signal's.
        decoy_method: ``"vacuum_weak"``, ``"one_decoy"``, ``"two_decoy"`` or ``"auto"``
            (vacuum + weak decoy when the third intensity is 0, two decoys when it is
            above 0 and μ > ν1 + ν2, else one decoy: class 1 only).
        finite_key: ``(eps_sec, eps_cor)``: the key length is instead the
            finite-key ℓ of Lim et al. 2014 (:mod:`dqsim.protocols.qkd.finite_key`)
            with Z as the key basis (sifted Z bits of all three intensities)
            and X as the test basis; leakage ``f_EC·h(E_Z)·n_Z``. ``None``: asymptotic.
        leakage_bits: the error-correction leakage actually disclosed (e.g. by
            :func:`dqsim.protocols.qkd.reconciliation.cascade`), bits, >= 0;
            ``None``: the model ``f_EC·h(E)·n``.
        sample: the QBER sample disclosed from the signal class's sifted bits
            (:func:`sample_qber`; asymptotic only): the block aborts on its
            QBER and keys only the other bits (module docstring). ``None``:
            no sample (the true QBER decides).

    Returns:
        The :class:`BlockResult`.

    Raises:
        DqsimError: counts of another number of classes, a source without a
            weak decoy, ``vacuum_weak`` without a vacuum class, or a bad option.

    Examples:
        >>> c = BlockCounts(3, sent=(800_000, 100_000, 100_000), detected=(31_000, 800, 1),
        ...                 sifted=(15_500, 400, 0), errors=(155, 4, 0), sifted_z=(7_750, 200, 0),
        ...                 errors_z=(77, 2, 0), sifted_x=(7_750, 200, 0), errors_x=(78, 2, 0),
        ...                 eve_known=(0, 0, 0), double_clicks=(0, 0, 0))
        >>> r = estimate_block(c, DecoySource())
        >>> r.aborted, r.secret_key_bits > 0
        (False, True)
    """
    where = "estimate_block"
    if not isinstance(counts, BlockCounts):
        raise DqsimError(f"{where}: counts must be BlockCounts, got {type(counts).__name__}")
    if not isinstance(source, DecoySource):
        raise DqsimError(f"{where}: source must be a DecoySource, got {type(source).__name__}")
    if counts.num_classes != source.num_classes:
        raise DqsimError(
            f"{where}: counts.num_classes must equal source.num_classes "
            f"({source.num_classes}), got {counts.num_classes}")
    f_ec = check_real(where, "f_ec", f_ec, 1.0)
    qber_threshold = check_real(where, "qber_threshold", qber_threshold, 0.0, 0.5)
    check_choice(where, "decoy_method", decoy_method, DECOY_CHOICES)
    decoy_class, third_class = _decoy_classes(source)
    vacuum_class = third_class if third_class is not None and source.intensities[third_class] == 0.0 else None
    if decoy_method == "auto":
        mu, nu1 = source.intensities[0], source.intensities[decoy_class]
        if vacuum_class is not None:
            decoy_method = "vacuum_weak"
        elif third_class is not None and mu > nu1 + source.intensities[third_class]:
            decoy_method = "two_decoy"
        else:
            decoy_method = "one_decoy"
    if decoy_method == "vacuum_weak" and vacuum_class is None:
        raise DqsimError(
            f"{where}: decoy_method 'vacuum_weak' needs an intensity 0 in source.intensities, "
            f"got {source.intensities}")
    if decoy_method == "two_decoy" and (third_class is None or vacuum_class is not None
                                        or source.intensities[0] <= sum(source.intensities[1:])):
        raise DqsimError(
            f"{where}: decoy_method 'two_decoy' needs three intensities μ > ν1 + ν2 with ν2 > 0 in "
            f"source.intensities, got {source.intensities}")

    gains = tuple(_ratio(d, s) for d, s in zip(counts.detected, counts.sent))
    qbers = tuple(_ratio(e, s) for e, s in zip(counts.errors, counts.sifted))
    gain_signal = gains[0] or 0.0
    qber_signal = qbers[0]
    n_sifted = counts.sifted[0]

    decoy = None
    gain_decoy, qber_decoy = gains[decoy_class], qbers[decoy_class]
    if gain_signal > 0.0 and gain_decoy and qber_signal is not None and qber_decoy is not None:
        pair = dict(signal_intensity=source.intensities[0],
                    decoy_intensity=source.intensities[decoy_class],
                    gain_signal=gain_signal, qber_signal=qber_signal,
                    gain_decoy=gain_decoy, qber_decoy=qber_decoy)
        if decoy_method == "vacuum_weak":
            if gains[vacuum_class] is not None:
                decoy = vacuum_weak_decoy(**pair, gain_vacuum=gains[vacuum_class])
        elif decoy_method == "two_decoy":
            if gains[third_class] is not None:
                decoy = two_decoy(signal_intensity=pair["signal_intensity"],
                                  decoy_intensity=pair["decoy_intensity"],
                                  second_decoy_intensity=source.intensities[third_class],
                                  gain_signal=gain_signal, gain_decoy=gain_decoy, qber_decoy=qber_decoy,
                                  gain_second_decoy=gains[third_class],
                                  qber_second_decoy=qbers[third_class])
        else:
            decoy = one_decoy(**pair)

    aborted = qber_signal is not None and qber_signal > qber_threshold
    leakage = f_ec * binary_entropy(qber_signal) * n_sifted if qber_signal is not None else 0.0
    kept_fraction = 1.0
    estimate = dict(qber_estimate=None, qber_estimate_standard_error=math.nan, num_estimation_bits=0)
    if sample is not None:
        if finite_key is not None:
            raise DqsimError(f"{where}: sample must be None with finite_key (the X basis is the test)")
        if not isinstance(sample, QberSample) or sample.num_bits != n_sifted:
            raise DqsimError(f"{where}: sample must be a QberSample of the {n_sifted} sifted signal bits, "
                             f"got {sample!r}")
        kept = n_sifted - sample.num_sampled
        kept_fraction = kept / n_sifted if n_sifted else 0.0
        kept_errors = counts.errors[0] - sample.num_errors
        leakage = f_ec * binary_entropy(kept_errors / kept) * kept if kept else 0.0
        # no disclosed bit, no estimate: the protocol cannot go on (a key of ~20 bits would otherwise be kept
        # unchecked, the sample of 10 % of them being empty one time in eight)
        aborted = n_sifted > 0 and (sample.qber is None or sample.qber > qber_threshold)
        estimate = dict(qber_estimate=sample.qber, qber_estimate_standard_error=sample.standard_error,
                        num_estimation_bits=sample.num_sampled)
    if leakage_bits is not None:
        leakage = check_real(where, "leakage_bits", leakage_bits, 0.0)
    secrecy, phase = 0.0, None
    if decoy is not None:
        # each basis's single-photon bits, charged the phase error that the other basis's errors bound
        phase = _phase_errors(counts, source, decoy, decoy_class, gain_decoy)
        single = min(1.0, decoy.q1_lower / gain_signal) * kept_fraction
        n1_lower = single * n_sifted
        secrecy = sum(single * n_basis * (1.0 - key_entropy(e_phase))
                      for n_basis, e_phase in zip((counts.sifted_z[0], counts.sifted_x[0]), phase))
        secret = max(0.0, secrecy - leakage)
    else:
        n1_lower = 0.0
        secret = 0.0
    finite = None
    if finite_key is not None:
        eps_sec, eps_cor = finite_key
        n_z, m_z = sum(counts.sifted_z), sum(counts.errors_z)
        if leakage_bits is None:
            leakage = f_ec * binary_entropy(m_z / n_z) * n_z if n_z else 0.0
        finite = finite_key_length(intensities=source.intensities, probabilities=source.probabilities,
                                   key_counts=counts.sifted_z, test_counts=counts.sifted_x,
                                   test_errors=counts.errors_x, leakage_bits=leakage, eps_sec=eps_sec,
                                   eps_cor=eps_cor)
        secret = finite.secret_key_bits
        num_x, errors_x = sum(counts.sifted_x), sum(counts.errors_x)
        qber_x = QberSample(num_x, num_x, errors_x)
        estimate = dict(qber_estimate=qber_x.qber, qber_estimate_standard_error=qber_x.standard_error,
                        num_estimation_bits=num_x)
        # The protocol sees the disclosed test basis only: it aborts on its QBER, not on the key bits' errors.
        aborted = qber_x.qber is not None and qber_x.qber > qber_threshold
    secret_key_bits = 0 if aborted else int(math.floor(secret))
    num_sent = sum(counts.sent)
    per_pulse = secret_key_bits / num_sent if num_sent else 0.0
    per_signal = secret_key_bits / counts.sent[0] if counts.sent[0] else 0.0
    return BlockResult(
        num_pulses_sent=num_sent,
        gains=gains,
        qbers=qbers,
        gain_signal=gain_signal,
        qber_signal=qber_signal,
        decoy=decoy,
        num_sifted_signal_bits=n_sifted,
        num_single_photon_bits_lower=n1_lower,
        leakage_bits=leakage,
        secret_key_bits=secret_key_bits,
        key_rate_bits_per_pulse=per_pulse,
        key_rate_bits_per_signal_pulse=per_signal,
        key_rate_bits_per_s=per_pulse * source.source_rate_hz,
        qber_threshold=qber_threshold,
        aborted=aborted,
        eve_known_fraction=_ratio(counts.eve_known[0], n_sifted),
        f_ec=f_ec,
        finite_key=finite,
        single_photon_secrecy_bits=secrecy,
        phase_error_upper=phase,
        **estimate,
    )


def postprocess_block(
    counts: BlockCounts,
    source: DecoySource,
    alice_key: np.ndarray,
    bob_key: np.ndarray,
    *,
    rng: np.random.Generator,
    f_ec: float = DEFAULT_ERROR_CORRECTION_EFFICIENCY,
    qber_threshold: float = DEFAULT_QBER_THRESHOLD,
    finite_key: tuple[float, float] | None = None,
    eps_cor: float = 1e-15,
    sample_fraction: float = 0.1,
    reconcile=None,
) -> tuple[BlockResult, PostprocessResult]:
    """A block's key with error correction and privacy amplification actually run.

    The key bits are the signal class's sifted bits (asymptotic) or the Z
    basis's sifted bits of all intensities (``finite_key``, Lim et al. 2014).
    Asymptotic: a random ``sample_fraction`` of them is disclosed to
    estimate the QBER (and dropped), so the single-photon bits are
    ``n_1^L`` × the kept fraction, and ``ℓ = n_1 (1 - h(e1^U)) - leak - hash``.
    Finite key: the QBER of the test basis (already public) tunes Cascade
    and ``ℓ`` is Lim et al.'s eq. (1) with ``λ_EC`` the measured leakage.
    Then :func:`dqsim.protocols.qkd.reconciliation.postprocess_key`.

    Args:
        counts: the block's :class:`BlockCounts`.
        source: the :class:`DecoySource`.
        alice_key, bob_key: the block's key bits (one per key event, same order): uint8 arrays or
            :class:`~dqsim.protocols.qkd.packed_bits.PackedBits` (never unpacked: a
            :class:`~dqsim.protocols.qkd.packed_bits.PackedKeyPair` is what the sample, Cascade and the hashes take).
        rng: the shared public generator of the block.
        f_ec, qber_threshold: as :func:`estimate_block`.
        finite_key: ``(eps_sec, eps_cor)`` or ``None`` (asymptotic).
        eps_cor: correctness parameter of the verification hash (asymptotic case).
        sample_fraction: fraction of the key bits disclosed for the QBER, in (0, 0.5].
        reconcile: the error correction, as :func:`~dqsim.protocols.qkd.reconciliation.postprocess_key`
            takes it (``None``: Cascade; :func:`dqsim.protocols.qkd.ldpc.reconciler`: LDPC).

    Returns:
        ``(result, processed)``: the :class:`BlockResult` with the measured
        leakage and the final key length, and the :class:`PostprocessResult`.
    """
    base = estimate_block(counts, source, f_ec=f_ec, qber_threshold=qber_threshold, finite_key=finite_key)
    keys = key_pair("postprocess_block", alice_key, bob_key)
    if finite_key is not None:
        eps_cor = finite_key[1]
        tuning = QberSample(sum(counts.sifted_x), sum(counts.sifted_x), sum(counts.errors_x)).cascade_qber
        kept = keys

        def final_bits(leak: int) -> int:
            return estimate_block(counts, source, f_ec=f_ec, qber_threshold=qber_threshold, finite_key=finite_key,
                                  leakage_bits=leak).secret_key_bits
    else:
        disclosed, kept = disclose_key_sample(keys, sample_fraction, rng)
        tuning = disclosed.cascade_qber
        base = replace(base, qber_estimate=disclosed.qber, qber_estimate_standard_error=disclosed.standard_error,
                       num_estimation_bits=disclosed.num_sampled,
                       aborted=keys.num_bits > 0 and (disclosed.qber is None or disclosed.qber > qber_threshold))
        secure = (kept.num_bits / keys.num_bits if keys.num_bits else 0.0) * base.single_photon_secrecy_bits

        def final_bits(leak: int) -> int:
            if base.aborted:
                return 0
            return int(math.floor(secure - leak - math.ceil(math.log2(1.0 / eps_cor))))
    processed = postprocess_key(kept, None, qber_estimate=tuning, final_bits_of_leakage=final_bits,
                                eps_cor=eps_cor, rng=rng, reconcile=reconcile)
    key = processed.final_key_bits
    num_sent = base.num_pulses_sent
    result = replace(base, leakage_bits=float(processed.leakage_bits), secret_key_bits=key, postprocess=processed,
                     key_rate_bits_per_pulse=key / num_sent if num_sent else 0.0,
                     key_rate_bits_per_signal_pulse=key / counts.sent[0] if counts.sent[0] else 0.0,
                     key_rate_bits_per_s=(key / num_sent if num_sent else 0.0) * source.source_rate_hz)
    return result, processed


def abort_or_verification_reason(aborted: bool, qber_estimate: float | None, qber_threshold: float,
                                 done: PostprocessResult | None, estimated_from: str) -> str | None:
    """Why a block has no key when it aborted or its error verification failed, else ``None``.

    Shared by :func:`no_key_reason` and the BBM92/E91 blocks
    (:func:`dqsim.protocols.qkd.entangled_block.entangled_no_key_reason`); ``estimated_from`` names (in
    the singular) the disclosed bits the QBER was estimated from.
    """
    if aborted and qber_estimate is None:
        return f"aborted: no {estimated_from} to estimate the QBER from (too few pulses or too much loss)"
    if aborted:
        return f"aborted: QBER estimate {qber_estimate:.4f} from the {estimated_from}s is above qber_threshold " \
               f"{qber_threshold:g}"
    if done is not None and not done.verified:
        return f"error verification failed: Cascade left {done.residual_errors} error(s) in {done.num_bits} bits " \
               f"(the {done.verification_bits}-bit hashes differ), the block is discarded"
    return None


def no_key_reason(result: BlockResult) -> str:
    """One line saying why a BB84 block gave no secret key (``""`` when it gave one).

    In order: no key bits; an abort on the QBER estimate; a failed error verification; the finite-key
    bound (Lim et al. 2014) below zero (no single-photon event certified, or its statistical penalties
    larger than the secrecy: the block is too small); no decoy-state bound; the asymptotic leakage at
    least the single-photon secrecy n_1^L·(1 - h(e1^U)) (the link is too long or too noisy).

    Examples:
        >>> c = BlockCounts(3, sent=(800, 100, 100), detected=(0, 0, 0), sifted=(0, 0, 0), errors=(0, 0, 0),
        ...                 sifted_z=(0, 0, 0), errors_z=(0, 0, 0), sifted_x=(0, 0, 0), errors_x=(0, 0, 0),
        ...                 eve_known=(0, 0, 0), double_clicks=(0, 0, 0))
        >>> no_key_reason(estimate_block(c, DecoySource()))
        'no sifted signal bit in 1,000 pulses (too few pulses or too much loss)'
    """
    if result.secret_key_bits > 0:
        return ""
    finite = result.finite_key
    if (finite.num_key_bits if finite is not None else result.num_sifted_signal_bits) == 0:
        kind = "key-basis (Z)" if finite is not None else "signal"
        return f"no sifted {kind} bit in {result.num_pulses_sent:,} pulses (too few pulses or too much loss)"
    common = abort_or_verification_reason(result.aborted, result.qber_estimate, result.qber_threshold,
                                          result.postprocess,
                                          "test-basis (X) bit" if finite is not None else "sampled signal bit")
    if common is not None:
        return common
    if finite is not None:
        if finite.single_photon_lower <= 0.0 or finite.single_photon_test_lower <= 0.0:
            return (f"finite key: block too small, the decoy bounds certify no single-photon event (s_X,1 = "
                    f"{finite.single_photon_lower:.0f}, s_Z,1 = {finite.single_photon_test_lower:.0f} from "
                    f"{finite.num_key_bits:,} key bits; Lim et al. 2014): raise block_pulses")
        return (f"finite key: ℓ = {finite.unclipped_length:.0f} bits < 1, the leakage and the statistical "
                f"penalties exceed s_X,0 + s_X,1·(1 - h(φ_X)) with φ_X = {finite.phase_error_upper:.4f} "
                f"(block too small or too noisy): raise block_pulses")
    if result.decoy is None:
        return "no decoy-state bound: the weak decoy (or vacuum) class has no detection or no sifted bit " \
               "(more pulses or a shorter link)"
    secrecy = result.single_photon_secrecy_bits
    if result.postprocess is not None:  # postprocess_block keys only the bits left after the QBER sample
        secrecy *= result.postprocess.num_bits / max(1, result.postprocess.num_bits + result.num_estimation_bits)
    bounds = f"Y1^L = {result.decoy.y1_lower:.3g}, e1^U = {result.decoy.e1_upper:.3f}"
    if result.phase_error_upper is not None:
        bounds += f"; per basis e1,Z^U = {result.phase_error_upper[1]:.3f}, e1,X^U = {result.phase_error_upper[0]:.3f}"
    if result.leakage_bits >= secrecy:
        return (f"leakage {result.leakage_bits:.0f} bits >= single-photon secrecy n_1,Z^L·(1 - h(e1,X^U)) + "
                f"n_1,X^L·(1 - h(e1,Z^U)) = {secrecy:.0f} bits ({bounds}): the link is too long or too noisy, "
                f"or one basis's errors are too high")
    return (f"single-photon secrecy {secrecy:.0f} bits ({bounds}) less the leakage {result.leakage_bits:.0f} bits "
            f"(and the verification hash) leaves no whole bit")


def finite_key_rates(counts: BlockCounts, source: DecoySource, block_pulses, *, f_ec: float = 1.16,
                     eps_sec: float = 1e-10, eps_cor: float = 1e-15) -> list[float]:
    """Finite-key rate (bits per pulse) of blocks of each size in ``block_pulses``, at the measured statistics.

    Every count of ``counts`` (Z and X basis, per intensity) is scaled from
    its ``Σ sent`` pulses to N pulses — the expected counts of a block of N
    pulses at the run's per-pulse rates — and Lim et al.'s ℓ
    (:func:`dqsim.protocols.qkd.finite_key.finite_key_length`, leakage
    ``f_EC·h(E_Z)·n_Z``) gives ``ℓ/N``. This is the key rate against block
    size at the run's parameters (no fluctuation of the counts themselves).

    Args:
        counts: the summed :class:`BlockCounts` of the run's blocks (three classes).
        source: the :class:`DecoySource` (three intensities, Lim et al.'s conditions).
        block_pulses: block sizes N, pulses, each > 0.
        f_ec: error-correction inefficiency, >= 1.
        eps_sec, eps_cor: the security parameters.

    Returns:
        ``ℓ/N`` per block size, bits per pulse (0 where no key).
    """
    where = "finite_key_rates"
    f_ec = check_real(where, "f_ec", f_ec, 1.0)
    sent = sum(counts.sent)
    rates = []
    for n in block_pulses:
        scale = check_real(where, "block_pulses", n, 0.0, low_open=True) / sent if sent else 0.0
        n_z, m_z = sum(counts.sifted_z) * scale, sum(counts.errors_z) * scale
        leak = f_ec * binary_entropy(min(0.5, m_z / n_z)) * n_z if n_z else 0.0
        result = finite_key_length(intensities=source.intensities, probabilities=source.probabilities,
                                   key_counts=[v * scale for v in counts.sifted_z],
                                   test_counts=[v * scale for v in counts.sifted_x],
                                   test_errors=[v * scale for v in counts.errors_x], leakage_bits=leak,
                                   eps_sec=eps_sec, eps_cor=eps_cor)
        rates.append(result.secret_key_bits / n)
    return rates
