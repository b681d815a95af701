"""Post-processing run on the sifted keys: Cascade, error verification, privacy amplification.

* :func:`cascade` — the Cascade error-correction protocol of G. Brassard and
  L. Salvail ("Secret-key reconciliation by public discussion", EUROCRYPT
  1993): ``num_passes`` passes over the key shuffled by public random
  permutations (the first unshuffled) in blocks of ``k_1 = ⌈0.73/E⌉`` bits,
  doubled each pass; a block whose parities differ is bisected (one parity
  disclosed per step) down to the wrong bit, which is flipped; every block
  of an earlier pass that holds that bit changes parity and is bisected in
  turn (the cascade). Every disclosed parity is counted: the leakage, from
  which the measured ``f_EC = leak / (n·h(E))`` follows. A *round* is one
  parity message and its answer, and the rounds are what the engine charges
  in fibre latency. Two orders of bisection (:data:`CASCADE_ORDERS`, the
  job's ``[qkd].cascade_order``): ``"parallel"`` (the default) bisects every
  odd block of a wave at once, a wave costing the rounds of its deepest
  bisection; ``"sequential"`` is Brassard and Salvail's own order, one block
  at a time, always the smallest odd one, so a flip's cascade into earlier
  passes is resolved before the next block is opened — each bisection parity
  a round of its own. Sequential discloses fewer parities (the parallel
  order bisects blocks whose error the cascade of another would have found
  through a smaller block) for many more rounds: at QBERs of 1-8 %, f_EC
  lower by 0.011-0.017 on average (not on every key) for 48-270 times the
  rounds on keys of 53 000 bits and 640-3 500 times on 1e6 bits, at the same
  CPU time within 15 % (``bench/results/cascade_order-vm-20261206.md``).
  Where numba is available the passes run as one compiled loop on the wrong
  bits alone (:func:`dqsim.backend.qkd_kernels.cascade_on_errors`: a parity
  of the two keys differs exactly where its range holds an odd number of
  them), placed where each pass's shuffle puts them
  (:func:`dqsim.backend.qkd_kernels.shuffled_places`: ``rng.permutation``'s
  numbers, the permutation itself never written), else in Python on the
  keys: the same parities in the same order, so the same result for the same seed.
* :func:`toeplitz_hash` — multiplication by a random binary Toeplitz matrix
  (a two-universal family, H. Krawczyk, CRYPTO 1994), computed as a product
  of binary polynomials (Karatsuba on 64-bit words with the CPU's carry-less
  multiplication, :func:`dqsim.backend.qkd_kernels.carryless_product`) or, where
  that is missing, as a convolution by FFT in ``O(n log n)`` (outputs of up to
  :data:`TOEPLITZ_DIRECT_MAX_OUT` bits directly on packed words, by the compiled
  :func:`dqsim.backend.qkd_kernels.toeplitz_rows` where numba is). Used for the *error verification*
  (``⌈log2(1/ε_cor)⌉`` output bits compared; Lim et al. 2014, step 5) and for
  *privacy amplification* (``n`` → ``ℓ`` bits).
* :func:`postprocess_key` — all three on one block.

Randomness (shuffles, hash seeds) comes from a generator the caller passes
(public randomness both sides share); the scenario keys it with
``(seed, node, "qkd_postprocess", block)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from dqsim.backend import qkd_kernels
from dqsim.checks import check_int, check_real
from dqsim.errors import DqsimError
from dqsim.protocols.qkd.packed_bits import PackedKeyPair
from dqsim.protocols.qkd.theory import binary_entropy

__all__ = ["CASCADE_ORDERS", "CascadeResult", "CascadeSettings", "PostprocessResult", "cascade", "cascade_errors", "key_pair", "postprocess_key",
           "random_bits_packed", "toeplitz_hash", "toeplitz_hash_of_positions", "toeplitz_hash_of_positions_packed"]

#: Block size constant of the first Cascade pass, k_1 = 0.73 / E (Brassard & Salvail 1993).
CASCADE_FIRST_BLOCK = 0.73

#: Passes of Cascade (Brassard & Salvail suggest four).
CASCADE_PASSES = 4

#: Cascade's orders of bisection (module docstring): every odd block of a wave at once, or the smallest first.
CASCADE_ORDERS = ("parallel", "sequential")


@dataclass(frozen=True)
class CascadeSettings:
    """The ``reconcile`` argument of :func:`postprocess_key` for Cascade in a given order (``None`` there is
    Cascade in the parallel order).

    Attributes:
        order: one of :data:`CASCADE_ORDERS`.
    """

    order: str = "parallel"


@dataclass(frozen=True)
class CascadeResult:
    """What Cascade did to one key.

    Attributes:
        corrected: Bob's key after Cascade, uint8 (equal to Alice's unless errors were left); ``None`` from
            :func:`cascade_errors`, which never writes the key.
        leakage_bits: parity bits disclosed, bits.
        rounds: parity messages with their answers (one a pass for the blocks' parities; then, in the
            parallel order, a wave's bisections counted once, at its deepest; in the sequential order, one a
            bisection parity).
        first_block_bits: k_1, bits.
        errors_corrected: bits flipped.
        residual: the key positions where Bob's corrected key still differs from Alice's (int64, increasing).
    """

    corrected: np.ndarray | None
    leakage_bits: int
    rounds: int
    first_block_bits: int
    errors_corrected: int
    residual: np.ndarray | None = field(default=None, compare=False, repr=False)


def _parity(bits: np.ndarray) -> int:
    return int(np.bitwise_xor.reduce(bits)) if bits.size else 0


def cascade(alice: np.ndarray, bob: np.ndarray, qber_estimate: float, rng: np.random.Generator, *,
            num_passes: int = CASCADE_PASSES, order: str = "parallel", use_kernel: bool | None = None) -> CascadeResult:
    """Correct Bob's key towards Alice's with Cascade (module docstring).

    :func:`cascade_errors` on the positions where the keys differ (Cascade's parities depend on
    nothing else), then Bob's key with the bits it found flipped.

    Args:
        alice: Alice's key bits (uint8, 0/1).
        bob: Bob's key bits, same length.
        qber_estimate: the error rate Cascade is tuned for (sets k_1), in [0, 0.5].
        rng: the shared public generator (permutations).
        num_passes: passes, >= 1.
        order: as :func:`cascade_errors`.
        use_kernel: as :func:`cascade_errors`.

    Returns:
        The :class:`CascadeResult`.

    Raises:
        DqsimError: keys of different lengths or an argument out of range.

    Examples:
        >>> rng = np.random.default_rng(1)
        >>> a = rng.integers(0, 2, 2000, dtype=np.uint8)
        >>> b = a ^ (rng.random(2000) < 0.03).astype(np.uint8)
        >>> r = cascade(a, b, 0.03, np.random.default_rng(2))
        >>> bool((r.corrected == a).all()), r.leakage_bits > 2000 * 0.194
        (True, True)
    """
    alice = np.asarray(alice, dtype=np.uint8)
    bob = np.asarray(bob, dtype=np.uint8)
    if alice.shape != bob.shape or alice.ndim != 1:
        raise DqsimError(f"cascade: alice and bob must be 1-d keys of one length, got {alice.shape}, {bob.shape}")
    done = cascade_errors(alice.size, np.flatnonzero(alice != bob), qber_estimate, rng, num_passes=num_passes,
                          order=order, use_kernel=use_kernel)
    corrected = alice.copy()
    corrected[done.residual] ^= 1
    return replace(done, corrected=corrected)


def cascade_errors(num_bits: int, errors: np.ndarray, qber_estimate: float, rng: np.random.Generator, *,
                   num_passes: int = CASCADE_PASSES, order: str = "parallel",
                   use_kernel: bool | None = None) -> CascadeResult:
    """Cascade (module docstring) on a key of ``num_bits`` bits whose wrong bits (Bob's against Alice's) are at
    ``errors``: the parities, leakage, rounds and flips of :func:`cascade` on any such pair of keys.

    A parity of Alice's bits and Bob's differs exactly where its range holds an odd number of wrong
    bits, so Cascade needs the wrong bits' positions, not the keys: the compiled passes
    (:func:`dqsim.backend.qkd_kernels.cascade_on_errors`) take some 70 bytes a wrong bit and, while
    :func:`dqsim.backend.qkd_kernels.shuffled_places` draws a shuffle, a bit a key bit (a byte until
    2026-12-06, when this took the keys before, a byte a bit each, and 13 bytes a key bit in all). The
    Python reference runs on the error pattern unpacked.

    Args:
        num_bits: n, the key's length, bits, >= 0.
        errors: the positions of the wrong bits, increasing, in [0, n).
        qber_estimate: the error rate Cascade is tuned for (sets k_1), in [0, 0.5].
        rng: the shared public generator (permutations).
        num_passes: passes, >= 1.
        order: ``"parallel"`` (every odd block of a wave bisected at once) or ``"sequential"`` (the smallest
            odd block first, Brassard and Salvail's order): :data:`CASCADE_ORDERS`, module docstring. The
            same shuffles either way.
        use_kernel: run the passes in the compiled loop of
            :func:`dqsim.backend.qkd_kernels.cascade_on_errors` (``True``) or in Python (``False``, the
            reference); ``None``: the compiled loop where numba is available. Both give the same result.

    Returns:
        The :class:`CascadeResult`, ``corrected`` ``None``, ``residual`` the wrong bits left.

    Raises:
        DqsimError: an argument out of range.

    Examples:
        >>> done = cascade_errors(2000, np.array([5, 70, 900]), 0.01, np.random.default_rng(2))
        >>> done.residual.tolist(), done.errors_corrected
        ([], 3)
        >>> errors = np.flatnonzero(np.random.default_rng(4).random(2000) < 0.04)
        >>> [(r.leakage_bits, r.rounds, r.residual.size) for r in (cascade_errors(
        ...     2000, errors, 0.04, np.random.default_rng(5), order=o) for o in CASCADE_ORDERS)]
        [(614, 49, 0), (598, 402, 0)]
    """
    where = "cascade"
    n = check_int(where, "num_bits", num_bits, 0)
    errors = np.asarray(errors, dtype=np.int64)
    if errors.ndim != 1 or (errors.size and (errors[0] < 0 or errors[-1] >= n or (np.diff(errors) <= 0).any())):
        raise DqsimError(f"{where}: errors must be increasing positions in [0, {n}), got {errors[:8]}...")
    qber = check_real(where, "qber_estimate", qber_estimate, 0.0, 0.5)
    check_int(where, "num_passes", num_passes, 1)
    if order not in CASCADE_ORDERS:
        raise DqsimError(f"{where}: order must be one of {', '.join(CASCADE_ORDERS)}, got {order!r}")
    sequential = order == "sequential"
    if n == 0:
        return CascadeResult(None, 0, 0, 0, 0, errors)
    k1 = int(min(n, max(4, math.ceil(CASCADE_FIRST_BLOCK / qber)))) if qber > 0 else n
    sizes = [min(n, k1 << p) for p in range(num_passes)]
    if use_kernel is None:
        use_kernel = qkd_kernels.has_cascade()
    if use_kernel:  # the passes on the wrong bits alone, where rng.permutation(n) of each pass puts them
        index = np.int32 if n * num_passes < 2**31 else np.int64
        places = np.empty((num_passes, errors.size), dtype=index)
        ranks = np.empty((num_passes, errors.size), dtype=index)  # the wrong bits in each pass's order
        places[0], ranks[0] = errors, np.arange(errors.size)
        qkd_kernels.shuffled_places(rng, n, errors, places[1:], ranks[1:])
        depths = np.array([math.ceil(math.log2(max(2, k))) for k in sizes], dtype=np.int64)
        leak, rounds, flipped, fixed = qkd_kernels.cascade_on_errors(n, errors, places, ranks,
                                                                     np.array(sizes, dtype=np.int64), depths,
                                                                     sequential=sequential)
        residual = errors[~fixed]
    else:
        # The permutations are the generator's only draws here: all drawn first, as the passes would draw them.
        perms = np.empty((num_passes, n), dtype=np.int32 if n < 2**31 else np.int64)
        perms[0] = np.arange(n)
        for p in range(1, num_passes):
            perms[p] = rng.permutation(n)
        wrong = np.zeros(n, dtype=np.uint8)
        wrong[errors] = 1
        leak, rounds, flipped = _cascade_reference(wrong, perms, sizes, sequential=sequential)
        residual = np.flatnonzero(wrong)
    return CascadeResult(None, leak, rounds, k1, flipped, residual)


def _cascade_reference(wrong: np.ndarray, perms: np.ndarray, sizes: list, *,
                       sequential: bool = False) -> tuple[int, int, int]:
    """The passes of :func:`cascade` in Python on the error pattern ``wrong`` (Alice's key XOR Bob's, uint8;
    a flip of Bob's bit clears its entry, in place); returns (leakage, rounds, flips). ``sequential``: the
    smallest odd block first (sizes never shrink from pass to pass, so the least (pass, block)), each bisection
    parity a round; else every odd block of a wave at once.

    The reference that :func:`dqsim.backend.qkd_kernels.cascade_on_errors` follows step for step, on the
    wrong bits alone (and the path without numba). A parity of Alice's bits against Bob's is the parity of
    ``wrong`` over the same range.
    """
    n = wrong.size
    inverses, mismatch = [], []
    leak = rounds = flipped = 0

    def bisect(p: int, block: int) -> int:
        """Find and flip the wrong bit of an odd block of pass p; returns its key index."""
        nonlocal leak, rounds
        idx = perms[p][block * sizes[p]:(block + 1) * sizes[p]]
        lo, hi = 0, idx.size
        while hi - lo > 1:
            mid = (lo + hi) // 2
            leak += 1
            rounds += sequential  # a round trip a parity, one block at a time
            if _parity(wrong[idx[lo:mid]]):
                hi = mid
            else:
                lo = mid
        bit = int(idx[lo])
        wrong[bit] ^= 1
        return bit

    def flip(p: int, q: int, block: int, odd: set) -> None:
        """Bisect block ``block`` of pass q (odd) in pass p, flip the bit found and toggle the block that holds
        it in every pass so far, in ``odd`` too."""
        nonlocal flipped
        bit = bisect(q, block)
        flipped += 1
        for r in range(p + 1):
            b = int(inverses[r][bit] // sizes[r])
            mismatch[r][b] = not mismatch[r][b]
            if mismatch[r][b]:
                odd.add((r, b))
            else:
                odd.discard((r, b))

    for p, k in enumerate(sizes):
        perm = perms[p]
        inverse = np.empty(n, dtype=np.int64)
        inverse[perm] = np.arange(n)
        inverses.append(inverse)
        num_blocks = -(-n // k)
        pad = num_blocks * k - n
        diff = np.concatenate([wrong[perm], np.zeros(pad, dtype=np.uint8)]).reshape(num_blocks, k)
        mismatch.append(np.bitwise_xor.reduce(diff, axis=1).astype(bool))
        leak += num_blocks
        rounds += 1
        odd = {(p, int(b)) for b in np.flatnonzero(mismatch[p])}
        while odd and sequential:  # the smallest odd block: the least (pass, block)
            q, block = min(odd)
            odd.discard((q, block))
            flip(p, q, block, odd)
        while odd:  # one wave: every odd block bisected in parallel
            wave = sorted(odd)
            odd = set()
            depth = 0
            for q, block in wave:
                if mismatch[q][block]:
                    depth = max(depth, math.ceil(math.log2(max(2, sizes[q]))))
                    flip(p, q, block, odd)
            rounds += depth
    return leak, rounds, flipped


#: Largest output of :func:`toeplitz_hash` computed directly on packed 64-bit words (one AND and one
#: XOR-reduction per output bit) rather than by FFT; the direct product is also taken only for keys of
#: at least 64 bits per output bit (below that, the per-bit cost of a few microseconds exceeds the
#: FFT's). Measured on the dev VM (2026-12-05 09:25-09:35 UTC, CPU time, load about 9 on 2 cores):
#: 50 output bits (the verification hash at eps_cor = 1e-15) took 1.6 / 15 / 156 ms directly against
#: 5.5 / 67 / 1,256 ms by FFT at n = 1e5 / 1e6 / 1e7; 1,024 bits 4.9 / 25 / 299 ms against
#: 5.6 / 65 / 1,122 ms; at n = 1e4, 900 bits took 2.3 ms directly against 0.28 ms by FFT. Where numba is,
#: the rows are computed by :func:`dqsim.backend.qkd_kernels.toeplitz_rows` (2026-12-06 06:52 UTC, load
#: about 9, best of 7, CPU time): 50 bits of 1.45e5 / 1e6 / 4e6-bit keys in 0.075 / 0.46 / 2.0 ms against
#: 2.3 / 15 / 60 ms on packed words in NumPy and 1.0 / 21 / 186 ms by the carry-less product; 1,024 bits of
#: 1e5 / 1e6 in 0.27 / 2.8 ms against 4.7 / 25 (NumPy) and 0.52 / 21 (carry-less)
#: (``bench/results/qkd_postprocess-vm-20261206.md``).
TOEPLITZ_DIRECT_MAX_OUT = 1024


#: Longest key (bits) that :func:`toeplitz_hash` multiplies as binary polynomials by
#: :func:`dqsim.backend.qkd_kernels.carryless_product` (where the CPU has a carry-less multiplication)
#: rather than by FFT. Measured on the dev VM (2026-12-05 15:04-15:06 UTC, CPU time, load about 9 on 2
#: cores; ``bench/results/qkd_postprocess_stages-vm-*20261205.json``), outputs of 0.1 / 0.5 / 0.83 of
#: the key: n = 1e5 took 0.9 / 1.2 / 1.3 ms against 5.5 / 7.6 / 8.3 ms by FFT, 1e6 26 / 35 / 41 ms
#: against 69 / 87 / 114, 4e6 0.23 / 0.31 / 0.36 s against 0.31 / 0.44 / 0.52, but 8e6 0.68 / 0.91 /
#: 1.09 s against 0.66 / 1.05 / 1.12 (Karatsuba's n^1.58 against the FFT's n log n); 1e4: 0.3 ms both.
TOEPLITZ_CARRYLESS_MAX_BITS = 4_000_000


def fft_size(num: int) -> int:
    """Smallest 5-smooth integer (2^a 3^b 5^c) >= ``num``: a length NumPy's FFT handles at full speed.

    Examples:
        >>> fft_size(1), fft_size(7), fft_size(1025), fft_size(10**7 + 1)
        (1, 8, 1080, 10077696)
    """
    best = 1 << max(0, int(num) - 1).bit_length()
    five = 1
    while five < best:
        three = five
        while three < best:
            two = three
            while two < num:
                two *= 2
            best = min(best, two)
            three *= 3
        five *= 5
    return best


def _pack_words(bits: np.ndarray, num_words: int) -> np.ndarray:
    """Bits packed 8 per byte (first bit highest), zero-padded to ``num_words`` 64-bit words."""
    packed = np.zeros(num_words * 8, dtype=np.uint8)
    chunk = np.packbits(bits)
    packed[:chunk.size] = chunk
    return packed.view(np.uint64)


def _toeplitz_direct(bits: np.ndarray, seed_bits: np.ndarray, num_out: int) -> np.ndarray:
    """:func:`toeplitz_hash` output by output on packed words: bit i is the parity of x AND r[m-1-i : m-1-i+n].

    r is the seed reversed, so ``T[i, j] = seed[i - j + n - 1] = r[m - 1 - i + j]``; a window starting at
    ``8q + s`` is byte q of the seed shifted by s bits, packed once per shift.
    """
    n = int(bits.size)
    num_words = -(-n // 64)
    x = _pack_words(bits, num_words)
    reversed_seed = seed_bits[::-1]
    span = num_out // 8 + 1 + num_words * 8
    shifted = {}
    out = np.empty(num_out, dtype=np.uint8)
    for i in range(num_out):
        q, s = divmod(num_out - 1 - i, 8)
        if s not in shifted:
            row = np.zeros(span, dtype=np.uint8)
            chunk = np.packbits(reversed_seed[s:])
            row[:chunk.size] = chunk
            shifted[s] = row
        window = shifted[s][q:q + num_words * 8].view(np.uint64)
        out[i] = int(np.bitwise_xor.reduce(window & x)).bit_count() & 1
    return out


def toeplitz_hash(bits: np.ndarray, seed_bits: np.ndarray, num_out: int) -> np.ndarray:
    """``T·x mod 2`` for the ``num_out × n`` Toeplitz matrix ``T[i, j] = seed[i - j + n - 1]``.

    Up to :data:`TOEPLITZ_DIRECT_MAX_OUT` output bits and n / 64 (the
    verification hash of a long key), each bit is computed directly on the
    bits packed in 64-bit words (``num_out · n / 64`` word operations; compiled,
    :func:`dqsim.backend.qkd_kernels.toeplitz_rows`, where numba is). Other outputs (privacy
    amplification) of keys up to :data:`TOEPLITZ_CARRYLESS_MAX_BITS` are coefficients of the
    product of the seed and the key as binary polynomials where the CPU multiplies them
    (:func:`dqsim.backend.qkd_kernels.has_carryless_product`; 1.3-6.5x faster than the FFT at 1e5-4e6
    bits), else a convolution of the seed with the key by real FFT,
    cyclic of a 5-smooth length >= n + num_out - 1 (:func:`fft_size`: the
    wrap-around falls only on entries below n - 1, which are not used); exact:
    the integer sums are at most n < 2^53 and rounded.

    Args:
        bits: the key x, uint8 0/1, length n.
        seed_bits: n + num_out - 1 random bits defining T.
        num_out: output bits, >= 0.

    Returns:
        ``num_out`` bits, uint8.

    Examples:
        >>> x = np.array([1, 0, 1, 1], dtype=np.uint8)
        >>> s = np.array([1, 1, 0, 1, 0], dtype=np.uint8)
        >>> t = np.array([[s[i - j + 3] for j in range(4)] for i in range(2)])
        >>> toeplitz_hash(x, s, 2).tolist() == ((t @ x) % 2).tolist()
        True
    """
    n = int(bits.size)
    check_int("toeplitz_hash", "num_out", num_out, 0)
    if seed_bits.size != n + num_out - 1 and num_out > 0:
        raise DqsimError(f"toeplitz_hash: seed_bits must hold n + num_out - 1 = {n + num_out - 1} bits, "
                         f"got {seed_bits.size}")
    if num_out == 0 or n == 0:
        return np.zeros(num_out, dtype=np.uint8)
    bits = np.ascontiguousarray(bits, dtype=np.uint8)
    seed_bits = np.ascontiguousarray(seed_bits, dtype=np.uint8)
    if num_out <= min(TOEPLITZ_DIRECT_MAX_OUT, n // 64):
        if qkd_kernels.has_toeplitz_rows():
            return qkd_kernels.toeplitz_rows(bits, seed_bits, num_out)
        return _toeplitz_direct(bits, seed_bits, num_out)
    if n <= TOEPLITZ_CARRYLESS_MAX_BITS and qkd_kernels.has_carryless_product():
        return _toeplitz_carryless(bits, seed_bits, num_out)
    return _toeplitz_fft(bits, seed_bits, num_out)


def _toeplitz_fft(bits: np.ndarray, seed_bits: np.ndarray, num_out: int) -> np.ndarray:
    """:func:`toeplitz_hash` by real FFT: the cyclic convolution of a 5-smooth length >= n + num_out - 1."""
    n = int(bits.size)
    size = fft_size(n + num_out - 1)
    conv = np.fft.irfft(np.fft.rfft(seed_bits, size) * np.fft.rfft(bits, size), size)
    sums = np.rint(conv[n - 1:n - 1 + num_out]).astype(np.int64)
    return (sums & 1).astype(np.uint8)


def _little_words(bits: np.ndarray) -> np.ndarray:
    """Bits packed 64 a word, bit k as bit k % 64 of word k // 64 (the coefficients of a GF(2) polynomial)."""
    packed = np.zeros(-(-bits.size // 64) * 8, dtype=np.uint8)
    chunk = np.packbits(bits, bitorder="little")
    packed[:chunk.size] = chunk
    return packed.view(np.uint64)


def _toeplitz_carryless(bits: np.ndarray, seed_bits: np.ndarray, num_out: int) -> np.ndarray:
    """:func:`toeplitz_hash` as coefficients n - 1 .. n + num_out - 2 of the GF(2) product seed(z)·x(z).

    Output i is ``sum_j seed[i + n - 1 - j] x[j] mod 2``, the coefficient of ``z^(i + n - 1)``
    (:func:`dqsim.backend.qkd_kernels.carryless_product`).
    """
    n = int(bits.size)
    product = qkd_kernels.carryless_product(_little_words(seed_bits), _little_words(bits))
    return np.unpackbits(product.view(np.uint8), count=n - 1 + num_out, bitorder="little")[n - 1:]


@dataclass(frozen=True)
class PostprocessResult:
    """Error correction, verification and privacy amplification of one block.

    Attributes:
        num_bits: n, sifted key bits processed.
        qber: true error fraction before correction (simulation truth).
        leakage_bits: bits disclosed by Cascade.
        f_ec_measured: ``leakage / (n·h(qber))`` (NaN when qber is 0).
        rounds: Cascade rounds (round trips).
        verification_bits: bits of the verification hash.
        verified: the hashes agreed.
        residual_errors: bits still wrong after Cascade (simulation truth).
        final_key_bits: ℓ, bits of the final key.
        keys_equal: Alice's and Bob's final keys are identical (simulation truth).
        message_bits: bits sent over the classical channel (parities and their
            positions' replies, verification hash and its seed, the privacy-amplification seed).
        final_key: Alice's final key (ℓ bits, uint8) when :func:`postprocess_key` was asked for it
            (``final_key=True``), else ``None``.
        frames: LDPC frames decoded (:mod:`dqsim.protocols.qkd.ldpc`); 0 with Cascade.
        frame_errors: LDPC frames that failed to decode (their bits dropped, charged in ``leakage_bits``).
        request_bits: blind LDPC: Bob's request flags in the round trips (in ``message_bits``); 0 otherwise.
        revealed_bits: blind LDPC: the punctured values Alice revealed in the round trips (in ``message_bits``);
            0 otherwise.
    """

    num_bits: int
    qber: float
    leakage_bits: int
    f_ec_measured: float
    rounds: int
    verification_bits: int
    verified: bool
    residual_errors: int
    final_key_bits: int
    keys_equal: bool
    message_bits: int
    final_key: np.ndarray | None = field(default=None, compare=False, repr=False)
    frames: int = 0
    frame_errors: int = 0
    request_bits: int = 0
    revealed_bits: int = 0


def key_pair(where: str, alice, bob) -> PackedKeyPair:
    """Alice's and Bob's keys as a :class:`~dqsim.protocols.qkd.packed_bits.PackedKeyPair` (arrays or
    :class:`~dqsim.protocols.qkd.packed_bits.PackedBits`, or a pair already and ``bob`` ``None``); keys of
    different lengths raise a :class:`DqsimError` naming ``where``."""
    try:
        return PackedKeyPair.of(alice, bob)
    except ValueError as error:
        raise DqsimError(f"{where}: {error}") from None


def toeplitz_hash_of_positions(positions: np.ndarray, num_bits: int, seed_bits: np.ndarray,
                               num_out: int) -> np.ndarray:
    """:func:`toeplitz_hash` of the ``num_bits``-bit key whose ones are at ``positions`` (a sparse key: the
    residual errors Cascade left), without writing the key.

    Output bit i is the XOR over the ones j of ``T[i, j] = seed[i - j + n - 1]``, so the hash is the XOR
    of the seed's windows ``seed[n - 1 - j : n - 1 - j + num_out]``: ``num_out`` byte operations a one.
    Where that comes to more than :data:`TOEPLITZ_SPARSE_MAX_WORK` operations a key bit, the key is
    written (a byte a bit) and hashed by :func:`toeplitz_hash`. The same bits either way.

    Examples:
        >>> s = np.array([1, 1, 0, 1, 0], dtype=np.uint8)
        >>> x = np.array([1, 0, 1, 1], dtype=np.uint8)
        >>> toeplitz_hash_of_positions(np.flatnonzero(x), 4, s, 2).tolist() == toeplitz_hash(x, s, 2).tolist()
        True
    """
    n = int(num_bits)
    positions = np.asarray(positions, dtype=np.int64)
    if positions.size * num_out > TOEPLITZ_SPARSE_MAX_WORK * n:
        key = np.zeros(n, dtype=np.uint8)
        key[positions] = 1
        return toeplitz_hash(key, seed_bits, num_out)
    check_int("toeplitz_hash", "num_out", num_out, 0)
    if seed_bits.size != n + num_out - 1 and num_out > 0:
        raise DqsimError(f"toeplitz_hash: seed_bits must hold n + num_out - 1 = {n + num_out - 1} bits, "
                         f"got {seed_bits.size}")
    out = np.zeros(num_out, dtype=np.uint8)
    for j in positions.tolist():
        out ^= seed_bits[n - 1 - j:n - 1 - j + num_out]
    return out


#: 32-bit values that :func:`random_bits_packed` draws at a time (256 KiB, 2^18 bits; rounded down to even).
RANDOM_BITS_CHUNK = 1 << 16


def random_bits_packed(rng: np.random.Generator, num_bits: int) -> np.ndarray:
    """``numpy.packbits(rng.integers(0, 2, num_bits, dtype=np.uint8))``, the same bits and ``rng`` left the same,
    drawn :data:`RANDOM_BITS_CHUNK` 32-bit values at a time: ``⌈num_bits/8⌉`` bytes, not a byte a bit.

    NumPy draws such bits by Lemire's method on the bytes of 32-bit values (``random_bounded_uint8_fill``,
    lowest byte first; for two outcomes the bit is the byte's top bit and nothing is rejected), so bit k is
    bit 7 of byte k mod 4 of the (k div 4)-th ``next_uint32``, the values that ``rng.integers(0, 2**32,
    dtype=np.uint32)`` returns one a call of the bit generator (``tests/test_qkd_packed_seeds.py`` checks
    both on Philox and PCG64).

    Examples:
        >>> a, b = np.random.default_rng(3), np.random.default_rng(3)
        >>> random_bits_packed(a, 13).tolist() == np.packbits(b.integers(0, 2, 13, dtype=np.uint8)).tolist()
        True
    """
    n = check_int("random_bits_packed", "num_bits", num_bits, 0)
    out = np.empty(-(-n // 8), dtype=np.uint8)
    values = -(-n // 4)
    chunk = max(2, RANDOM_BITS_CHUNK & ~1)  # an even number of values: whole bytes of ``out`` a chunk
    for start in range(0, values, chunk):
        count = min(chunk, values - start)
        drawn = rng.integers(0, 2**32, count, dtype=np.uint32).astype("<u4", copy=False)
        bits = drawn.view(np.uint8) >> 7
        first = start * 4
        bits = bits[:min(4 * count, n - first)]
        out[first // 8:first // 8 + -(-bits.size // 8)] = np.packbits(bits)
    return out


def toeplitz_hash_of_positions_packed(positions: np.ndarray, num_bits: int, seed_packed: np.ndarray,
                                      num_out: int) -> np.ndarray:
    """:func:`toeplitz_hash_of_positions` with the seed and the hash packed (``numpy.packbits`` order,
    ``⌈(n + num_out - 1)/8⌉`` and ``⌈num_out/8⌉`` bytes, the last byte's unused low bits 0).

    The seed's window ``seed[n - 1 - j : n - 1 - j + num_out]`` of each one j is its bytes from
    ``(n - 1 - j) div 8`` shifted left by ``(n - 1 - j) mod 8`` bits: ``num_out / 8`` byte operations a one.
    Where the positions are many (:data:`TOEPLITZ_SPARSE_MAX_WORK`), the key and the seed are written out a
    byte a bit and hashed by :func:`toeplitz_hash`. The same bits as :func:`toeplitz_hash_of_positions` on the
    seed unpacked, packed.

    Examples:
        >>> s = np.array([1, 1, 0, 1, 0], dtype=np.uint8)
        >>> toeplitz_hash_of_positions_packed(np.array([0, 2, 3]), 4, np.packbits(s), 2).tolist()
        [192]
        >>> np.packbits(toeplitz_hash_of_positions(np.array([0, 2, 3]), 4, s, 2)).tolist()
        [192]
    """
    n = int(num_bits)
    num_out = check_int("toeplitz_hash", "num_out", num_out, 0)
    positions = np.asarray(positions, dtype=np.int64)
    seed_size = n + num_out - 1 if num_out > 0 else 0
    if num_out > 0 and seed_packed.size != -(-seed_size // 8):
        raise DqsimError(f"toeplitz_hash: a packed seed must hold ⌈(n + num_out - 1)/8⌉ = {-(-seed_size // 8)} "
                         f"bytes, got {seed_packed.size}")
    out_bytes = -(-num_out // 8)
    if positions.size * num_out > TOEPLITZ_SPARSE_MAX_WORK * n:
        seed_bits = np.unpackbits(seed_packed, count=seed_size)
        return np.packbits(toeplitz_hash_of_positions(positions, n, seed_bits, num_out))
    padded = np.zeros(seed_packed.size + 1, dtype=np.uint16)  # a zero byte after the seed: the last shift's
    padded[:-1] = seed_packed                                # low bits; uint16: room for the left shift
    out = np.zeros(out_bytes, dtype=np.uint16)
    for j in positions.tolist():
        first, shift = divmod(n - 1 - j, 8)
        window = padded[first:first + out_bytes + 1]
        out ^= (window[:-1] << shift) | (window[1:] >> (8 - shift))
    out = out.astype(np.uint8)  # bits above the byte dropped
    if num_out % 8 and out_bytes:
        out[-1] &= np.uint8((0xFF << (8 - num_out % 8)) & 0xFF)  # the window's bits past num_out
    return out


#: Byte operations a key bit up to which :func:`toeplitz_hash_of_positions` XORs the seed's windows of a
#: sparse key rather than writing the key out for :func:`toeplitz_hash` (16: a few passes over the key).
TOEPLITZ_SPARSE_MAX_WORK = 16


def postprocess_key(alice, bob, *, qber_estimate: float, final_bits_of_leakage,
                    eps_cor: float, rng: np.random.Generator, final_key: bool = False,
                    reconcile=None) -> PostprocessResult:
    """Cascade, error verification and Toeplitz privacy amplification of one block.

    Privacy amplification maps each side's reconciled key x to ``T·x`` with
    the same public Toeplitz matrix T (:func:`toeplitz_hash`). The privacy-amplified keys
    of equal reconciled keys are equal by construction (``T·a = T·b`` when ``a = b``), and
    in general ``T·a XOR T·b = T·(a XOR b)``: so ``keys_equal`` is decided from the
    residual ``a XOR b`` that Cascade left — true when it is zero, else by hashing it
    with the privacy-amplification seed (reconciled keys that differ, verified or not,
    are reported unequal unless T maps their difference to zero). Neither final key is
    needed for that, so neither is computed unless ``final_key`` asks for Alice's (the
    simulation reports lengths and verdicts, not keys). The privacy-amplification seed
    (``n + ℓ - 1`` public bits, counted in ``message_bits`` all the same) is drawn from
    ``rng`` only when it is used — a residual to hash or ``final_key`` — and last, so
    every other draw is the same either way. The verification seed (``n + ⌈log2(1/ε_cor)⌉ - 1``
    bits) is drawn only where a residual is left to hash; else ``rng`` is moved past it as the draw
    would move it (:func:`dqsim.backend.qkd_kernels.skip_random_bits`; drawn and dropped where
    that cannot be done), so the draws after it are the same.

    The keys are taken as a :class:`~dqsim.protocols.qkd.packed_bits.PackedKeyPair` (Alice's bits packed,
    Bob's wrong positions): Cascade runs on the wrong positions (:func:`cascade_errors`) and the hashes
    of the residual on the positions it left (:func:`toeplitz_hash_of_positions`), so no key is unpacked
    unless ``final_key`` asks for Alice's (a byte a key bit then, and the privacy-amplification seed); the
    seeds, drawn only where a residual is left (or ``final_key``), are drawn and hashed packed
    (:func:`random_bits_packed`, :func:`toeplitz_hash_of_positions_packed`; a byte a bit until 2026-12-06).
    (Until 2026-12-06 the keys were unpacked, 13 bytes a key bit in all.)

    Args:
        alice, bob: the sifted key bits of the block: uint8 arrays, or
            :class:`~dqsim.protocols.qkd.packed_bits.PackedBits`, or ``alice`` a
            :class:`~dqsim.protocols.qkd.packed_bits.PackedKeyPair` and ``bob`` ``None``.
        qber_estimate: error rate Cascade is tuned for, in [0, 0.5].
        final_bits_of_leakage: a function ``leak_bits -> ℓ`` (the key-length
            formula with the measured leakage in it).
        eps_cor: correctness parameter; the hash has ⌈log2(1/ε_cor)⌉ bits.
        rng: shared public generator (its last draw here is the privacy-amplification seed, when drawn).
        final_key: also compute Alice's final key ``T·a`` (``PostprocessResult.final_key``;
            Bob's equals it when ``keys_equal``).
        reconcile: ``None`` (Cascade, parallel order), a :class:`CascadeSettings` (Cascade in its ``order``) or a
            function ``(alice, bob, qber_estimate, rng)`` returning an
            :class:`~dqsim.protocols.qkd.ldpc.LdpcResult` (:func:`dqsim.protocols.qkd.ldpc.reconciler`):
            the key bits of the frames it drops leave the key on both sides and are charged as disclosed
            (``leakage_bits`` = syndrome bits + dropped bits; ``f_ec_measured`` counts the syndromes only).

    Returns:
        The :class:`PostprocessResult`; keys that fail verification give ℓ = 0.
    """
    keys = key_pair("postprocess_key", alice, bob)
    n = keys.num_bits
    true_errors = int(keys.errors.size)
    qber = true_errors / n if n else 0.0
    h = binary_entropy(qber) if 0.0 < qber < 1.0 else 0.0
    if reconcile is None or isinstance(reconcile, CascadeSettings):
        order = "parallel" if reconcile is None else reconcile.order
        ec = cascade_errors(n, keys.errors, min(0.5, qber_estimate), rng, order=order)
        leak, ec_messages, frames, frame_errors = ec.leakage_bits, 2 * ec.leakage_bits, 0, 0
        request_bits = revealed_bits = 0
        f_measured = ec.leakage_bits / (n * h) if h > 0 else float("nan")
        residual, kept_alice = ec.residual, None
    else:  # one-way: the frames that failed are dropped by both sides and charged as disclosed
        ec = reconcile(keys.alice_bits(), keys.bob_bits(), min(0.5, qber_estimate), rng)
        f_measured = ec.leakage_bits / (n * h) if h > 0 else float("nan")
        leak, ec_messages = ec.leakage_bits + ec.discarded_bits, ec.message_bits
        frames, frame_errors = ec.num_frames, ec.frame_errors
        request_bits, revealed_bits = ec.request_bits, ec.revealed_bits
        kept_alice = keys.alice_bits()[ec.kept]
        n = int(kept_alice.size)
        residual = np.flatnonzero(kept_alice ^ ec.corrected)
    # The hashes are linear over GF(2): T·a = T·b exactly when T·(a XOR b) = 0, and T·0 = 0. So the
    # simulation compares keys by hashing their difference (the residual positions), and only where one is
    # left (the same verdicts as hashing both keys and comparing, at none of the cost where Cascade left no error).
    residual_errors = int(residual.size)
    verification_bits = math.ceil(math.log2(1.0 / eps_cor))
    # An empty key (no sifted bit in the block) is hashed too: the seed then holds verification_bits - 1 bits.
    # It is drawn where it is used (an error left); else the generator only moves past it, as the draw would.
    seed_bits = n + verification_bits - 1
    if residual_errors or not qkd_kernels.skip_random_bits(rng, seed_bits):
        seed = random_bits_packed(rng, seed_bits)
    verified = residual_errors == 0 or not toeplitz_hash_of_positions_packed(residual, n, seed,
                                                                             verification_bits).any()
    seed = None
    length = max(0, min(n, int(final_bits_of_leakage(leak)))) if verified else 0
    pa_seed_bits = n + length - 1 if length else 0
    keys_equal, key = True, None
    if pa_seed_bits and (residual_errors or final_key):
        pa_seed = random_bits_packed(rng, pa_seed_bits)
        keys_equal = residual_errors == 0 or not toeplitz_hash_of_positions_packed(residual, n, pa_seed, length).any()
        alice_key = keys.alice_bits() if kept_alice is None else kept_alice
        key = toeplitz_hash(alice_key, np.unpackbits(pa_seed, count=pa_seed_bits), length) if final_key else None
    elif final_key:
        key = np.zeros(0, dtype=np.uint8)
    messages = ec_messages + seed_bits + verification_bits + pa_seed_bits
    return PostprocessResult(
        num_bits=n, qber=qber, leakage_bits=leak, f_ec_measured=f_measured, rounds=ec.rounds,
        verification_bits=verification_bits, verified=bool(verified),
        residual_errors=residual_errors, final_key_bits=length,
        keys_equal=bool(keys_equal), message_bits=int(messages), final_key=key, frames=frames,
        frame_errors=frame_errors, request_bits=request_bits, revealed_bits=revealed_bits)
