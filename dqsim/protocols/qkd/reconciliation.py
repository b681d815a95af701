"""Post-processing run on the sifted keys: Cascade, error verification, privacy amplification.

* :func:`cascade` — the Cascade error-correction protocol of G. Brassard and
  L. Salvail ("Secret-key reconciliation by public discussion", EUROCRYPT
  1993): ``num_passes`` passes over the key shuffled by public random
  permutations (the first unshuffled) in blocks of ``k_1 = ⌈0.73/E⌉`` bits,
  doubled each pass; a block whose parities differ is bisected (one parity
  disclosed per step) down to the wrong bit, which is flipped; every block
  of an earlier pass that holds that bit changes parity and is bisected in
  turn (the cascade). Every disclosed parity is counted: the leakage, from
  which the measured ``f_EC = leak / (n·h(E))`` follows. Bisections of
  different blocks run in parallel: a *round* is one parity message and
  its answer, and the rounds are what the engine charges in fibre latency.
* :func:`toeplitz_hash` — multiplication by a random binary Toeplitz matrix
  (a two-universal family, H. Krawczyk, CRYPTO 1994), computed as a
  convolution by FFT in ``O(n log n)``. Used for the *error verification*
  (``⌈log2(1/ε_cor)⌉`` output bits compared; Lim et al. 2014, step 5) and for
  *privacy amplification* (``n`` → ``ℓ`` bits).
* :func:`postprocess_key` — all three on one block.

Randomness (shuffles, hash seeds) comes from a generator the caller passes
(public randomness both sides share); the scenario keys it with
``(seed, node, "qkd_postprocess", block)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dqsim.checks import check_int, check_real
from dqsim.errors import DqsimError
from dqsim.protocols.qkd.theory import binary_entropy

__all__ = ["CascadeResult", "PostprocessResult", "cascade", "postprocess_key", "toeplitz_hash"]

#: Block size constant of the first Cascade pass, k_1 = 0.73 / E (Brassard & Salvail 1993).
CASCADE_FIRST_BLOCK = 0.73

#: Passes of Cascade (Brassard & Salvail suggest four).
CASCADE_PASSES = 4


@dataclass(frozen=True)
class CascadeResult:
    """What Cascade did to one key.

    Attributes:
        corrected: Bob's key after Cascade, uint8 (equal to Alice's unless errors were left).
        leakage_bits: parity bits disclosed, bits.
        rounds: parity messages with their answers (parallel bisections counted once).
        first_block_bits: k_1, bits.
        errors_corrected: bits flipped.
    """

    corrected: np.ndarray
    leakage_bits: int
    rounds: int
    first_block_bits: int
    errors_corrected: int


def _parity(bits: np.ndarray) -> int:
    return int(np.bitwise_xor.reduce(bits)) if bits.size else 0


def cascade(alice: np.ndarray, bob: np.ndarray, qber_estimate: float, rng: np.random.Generator, *,
            num_passes: int = CASCADE_PASSES) -> CascadeResult:
    """Correct Bob's key towards Alice's with Cascade (module docstring).

    Args:
        alice: Alice's key bits (uint8, 0/1).
        bob: Bob's key bits, same length.
        qber_estimate: the error rate Cascade is tuned for (sets k_1), in [0, 0.5].
        rng: the shared public generator (permutations).
        num_passes: passes, >= 1.

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
    where = "cascade"
    alice = np.asarray(alice, dtype=np.uint8)
    bob = np.array(bob, dtype=np.uint8)
    if alice.shape != bob.shape or alice.ndim != 1:
        raise DqsimError(f"{where}: alice and bob must be 1-d keys of one length, got {alice.shape}, {bob.shape}")
    qber = check_real(where, "qber_estimate", qber_estimate, 0.0, 0.5)
    check_int(where, "num_passes", num_passes, 1)
    n = alice.size
    if n == 0:
        return CascadeResult(bob, 0, 0, 0, 0)
    k1 = int(min(n, max(4, math.ceil(CASCADE_FIRST_BLOCK / qber)))) if qber > 0 else n
    perms, inverses, sizes, mismatch = [], [], [], []
    leak = rounds = flipped = 0

    def bisect(p: int, block: int) -> int:
        """Find and flip the wrong bit of an odd block of pass p; returns its key index."""
        nonlocal leak
        idx = perms[p][block * sizes[p]:(block + 1) * sizes[p]]
        lo, hi = 0, idx.size
        while hi - lo > 1:
            mid = (lo + hi) // 2
            leak += 1
            if _parity(alice[idx[lo:mid]]) != _parity(bob[idx[lo:mid]]):
                hi = mid
            else:
                lo = mid
        bit = int(idx[lo])
        bob[bit] ^= 1
        return bit

    for p in range(num_passes):
        k = min(n, k1 << p)
        perm = np.arange(n) if p == 0 else rng.permutation(n)
        inverse = np.empty(n, dtype=np.int64)
        inverse[perm] = np.arange(n)
        perms.append(perm)
        inverses.append(inverse)
        sizes.append(k)
        num_blocks = -(-n // k)
        pad = num_blocks * k - n
        diff = np.concatenate([(alice ^ bob)[perm], np.zeros(pad, dtype=np.uint8)]).reshape(num_blocks, k)
        mismatch.append(np.bitwise_xor.reduce(diff, axis=1).astype(bool))
        leak += num_blocks
        rounds += 1
        odd = {(p, int(b)) for b in np.flatnonzero(mismatch[p])}
        while odd:  # one wave: every odd block bisected in parallel
            wave = sorted(odd)
            odd = set()
            depth = 0
            for q, block in wave:
                if not mismatch[q][block]:
                    continue
                depth = max(depth, math.ceil(math.log2(max(2, sizes[q]))))
                bit = bisect(q, block)
                flipped += 1
                for r in range(p + 1):  # the flip changes the parity of one block per pass so far
                    b = int(inverses[r][bit] // sizes[r])
                    mismatch[r][b] = not mismatch[r][b]
                    if mismatch[r][b]:
                        odd.add((r, b))
                    else:
                        odd.discard((r, b))
            rounds += depth
    return CascadeResult(bob, leak, rounds, k1, flipped)


def toeplitz_hash(bits: np.ndarray, seed_bits: np.ndarray, num_out: int) -> np.ndarray:
    """``T·x mod 2`` for the ``num_out × n`` Toeplitz matrix ``T[i, j] = seed[i - j + n - 1]``.

    A convolution of the seed with the key, by real FFT (exact: the integer
    sums are below 2^53 and rounded).

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
    size = 1 << (n + num_out - 1 + n - 1).bit_length()
    conv = np.fft.irfft(np.fft.rfft(seed_bits.astype(np.float64), size) * np.fft.rfft(bits.astype(np.float64), size),
                        size)
    sums = np.rint(conv[n - 1:n - 1 + num_out]).astype(np.int64)
    return (sums & 1).astype(np.uint8)


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


def postprocess_key(alice: np.ndarray, bob: np.ndarray, *, qber_estimate: float, final_bits_of_leakage,
                    eps_cor: float, rng: np.random.Generator) -> PostprocessResult:
    """Cascade, error verification and Toeplitz privacy amplification of one block.

    Args:
        alice, bob: the sifted key bits of the block (uint8).
        qber_estimate: error rate Cascade is tuned for, in [0, 0.5].
        final_bits_of_leakage: a function ``leak_bits -> ℓ`` (the key-length
            formula with the measured leakage in it).
        eps_cor: correctness parameter; the hash has ⌈log2(1/ε_cor)⌉ bits.
        rng: shared public generator.

    Returns:
        The :class:`PostprocessResult`; keys that fail verification give ℓ = 0.
    """
    n = int(alice.size)
    true_errors = int(np.count_nonzero(alice != bob))
    qber = true_errors / n if n else 0.0
    ec = cascade(alice, bob, min(0.5, qber_estimate), rng)
    verification_bits = math.ceil(math.log2(1.0 / eps_cor))
    # An empty key (no sifted bit in the block) is hashed too: the seed then holds verification_bits - 1 bits.
    seed = rng.integers(0, 2, n + verification_bits - 1, dtype=np.uint8)
    verified = bool(np.array_equal(toeplitz_hash(alice, seed, verification_bits),
                                   toeplitz_hash(ec.corrected, seed, verification_bits)))
    length = max(0, min(n, int(final_bits_of_leakage(ec.leakage_bits)))) if verified else 0
    pa_seed = rng.integers(0, 2, n + length - 1, dtype=np.uint8) if length else np.zeros(0, np.uint8)
    key_a = toeplitz_hash(alice, pa_seed, length)
    key_b = toeplitz_hash(ec.corrected, pa_seed, length)
    h = binary_entropy(qber) if 0.0 < qber < 1.0 else 0.0
    messages = 2 * ec.leakage_bits + seed.size + verification_bits + pa_seed.size
    return PostprocessResult(
        num_bits=n, qber=qber, leakage_bits=ec.leakage_bits,
        f_ec_measured=ec.leakage_bits / (n * h) if h > 0 else float("nan"), rounds=ec.rounds,
        verification_bits=verification_bits, verified=verified,
        residual_errors=int(np.count_nonzero(ec.corrected != alice)), final_key_bits=length,
        keys_equal=bool(np.array_equal(key_a, key_b)), message_bits=int(messages))
