"""Cascade and the block-end hashes on packed keys (since 2026-12-06), against the unpacked computation.

Until 2026-12-06 a key block's end unpacked Alice's and Bob's key bits, a byte each, and Cascade's compiled
path held a shuffle's draws and an inverse slot per key bit: some 14 bytes a key bit in all
(``bench/results/qkd-batch-peak-vm-20261206.md``). Now the keys are a
:class:`~dqsim.protocols.qkd.packed_bits.PackedKeyPair` (Alice's bits packed, Bob's wrong positions) and
Cascade runs on the wrong positions: the same parities, leakage, rounds and corrected keys for the same seed,
checked here against the Python reference on the unpacked keys, and the peak bounded per key bit.
"""

from __future__ import annotations

import pickle
import tracemalloc

import numpy as np
import pytest

from dqsim.backend import qkd_kernels
from dqsim.protocols.qkd.packed_bits import PackedBits, PackedFields, PackedKeyPair, PlanesBuilder
from dqsim.protocols.qkd.postprocess import disclose_key_sample, disclose_sample
from dqsim.protocols.qkd.reconciliation import (cascade, cascade_errors, postprocess_key, toeplitz_hash,
                                                toeplitz_hash_of_positions)
from dqsim.rng import Stream


def _keys(n: int, qber: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    alice = rng.integers(0, 2, n, dtype=np.uint8)
    return alice, alice ^ (rng.random(n) < qber).astype(np.uint8)


CASES = [(n, qber, seed) for n in (63, 64, 65, 1000, 4097) for qber in (0.005, 0.02, 0.05, 0.11) for seed in (0, 1)]
CASES += [(20_011, qber, 2) for qber in (0.005, 0.02, 0.05, 0.11)]


@pytest.mark.parametrize("generator", ["philox", "pcg64"])
def test_packed_cascade_is_the_unpacked_reference(generator):
    """Cascade from packed keys (the wrong positions, compiled where numba is) discloses the same parities as the
    Python reference on the unpacked keys: the same leakage, rounds, flips, corrected key and generator state after,
    on block sizes that are and are not multiples of 8 and 64, QBERs 0.5-11 %, Cascade tuned off the true rate.
    With a PCG64 generator the shuffles are NumPy's permutations (the path without the Philox kernel)."""
    for n, qber, seed in CASES:
        alice, bob = _keys(n, qber, 100 * seed + n)
        pair = PackedKeyPair.of(PackedBits(alice), PackedBits(bob))
        assert pair.num_bits == n and pair.errors.tolist() == np.flatnonzero(alice != bob).tolist()
        tuned = max(qber * (0.7 + 0.3 * seed), 1e-3)

        def generator_of():
            return (Stream(seed, node=0, purpose="test").generator(n) if generator == "philox"
                    else np.random.default_rng(seed))

        packed_rng, unpacked_rng = generator_of(), generator_of()
        packed = cascade_errors(pair.num_bits, pair.errors, tuned, packed_rng)
        unpacked = cascade(alice, bob, tuned, unpacked_rng, use_kernel=False)
        where = (n, qber, seed)
        assert (packed.leakage_bits, packed.rounds, packed.errors_corrected, packed.first_block_bits) == \
            (unpacked.leakage_bits, unpacked.rounds, unpacked.errors_corrected, unpacked.first_block_bits), where
        assert packed.residual.tolist() == np.flatnonzero(unpacked.corrected != alice).tolist(), where
        assert packed_rng.random() == unpacked_rng.random(), where


def test_packed_sample_and_block_end_are_the_unpacked_ones():
    """The QBER sample split on packed keys keeps the same bits as on the unpacked ones (Philox kernel and NumPy
    path), and the residual's hashes from its positions are the dense Toeplitz products."""
    alice, bob = _keys(20_003, 0.03, 7)
    pair = PackedKeyPair.of(alice, bob)
    for gen in (lambda: Stream(3, node=1, purpose="test").generator(0), lambda: np.random.default_rng(3)):
        packed_rng, unpacked_rng = gen(), gen()
        sample, kept = disclose_key_sample(pair, 0.1, packed_rng)
        sample_u, kept_a, kept_b = disclose_sample(alice, bob, 0.1, unpacked_rng)
        assert sample == sample_u and kept.alice_bits().tolist() == kept_a.tolist()
        assert kept.bob_bits().tolist() == kept_b.tolist() and packed_rng.random() == unpacked_rng.random()
    seeds = np.random.default_rng(4)
    for num_ones, num_out in ((1, 50), (7, 50), (3, 9_000), (400, 9_000)):  # the last: the key written out
        ones = np.sort(seeds.choice(10_000, num_ones, replace=False))
        key = np.zeros(10_000, np.uint8)
        key[ones] = 1
        seed = seeds.integers(0, 2, 10_000 + num_out - 1, dtype=np.uint8)
        assert toeplitz_hash_of_positions(ones, 10_000, seed, num_out).tolist() == \
            toeplitz_hash(key, seed, num_out).tolist()
    # Cascade tuned for no error leaves some: both hashes are taken from the residual positions
    left = postprocess_key(PackedBits(alice), PackedBits(bob), qber_estimate=0.0, eps_cor=1e-15, final_key=True,
                           final_bits_of_leakage=lambda leak: 10_000, rng=np.random.default_rng(1))
    assert left.residual_errors > 0 and not left.verified and left.final_key.size == 0


def test_block_end_peak_is_under_four_bytes_a_key_bit():
    """tracemalloc's peak of :func:`postprocess_key` on a 1e6-bit key at 2 % (the keys held by the caller left
    out): under 4 bytes a key bit (2.16 measured: a bit a key bit while a shuffle is followed, the keys packed,
    some 70 bytes a wrong bit, the shuffle's hash table of 0.5 MB; 2.9 with a byte a key bit for the shuffle,
    until 2026-12-06). Until 2026-12-06 it took 11.5 (Bob's key copied, the keys' difference, the shuffle's
    draws and slots, 4 bytes a key bit each)."""
    alice, bob = _keys(1_000_000, 0.02, 11)
    postprocess_key(alice[:2000], bob[:2000], qber_estimate=0.02, final_bits_of_leakage=lambda leak: 0,
                    eps_cor=1e-15, rng=np.random.default_rng(1))  # the kernels loaded before tracing
    tracemalloc.start()
    try:
        held = tracemalloc.get_traced_memory()[0]
        done = postprocess_key(alice, bob, qber_estimate=0.02, final_bits_of_leakage=lambda leak: 500_000 - leak,
                               eps_cor=1e-15, rng=Stream(2, node=0, purpose="test").generator(0))
        peak = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()
    assert done.verified and done.keys_equal and done.residual_errors == 0
    assert peak / alice.size < 4.0, peak / alice.size


def test_planes_builder_in_pieces_is_packed_fields_byte_for_byte():
    """PackedFields packs with a PlanesBuilder in one piece; the builder fed pieces (as the detection sampler feeds
    it) gives the same planes, and the same pickle, for bools, 0/1 bytes and wider integers, lengths that are
    not multiples of 8 and an integer field whose top plane is unset."""
    rng = np.random.default_rng(5)
    for n in (0, 5, 64, 1001):
        arrays = {"flag": rng.random(n) < 0.3, "bit": rng.integers(0, 2, n, dtype=np.uint8),
                  "class": rng.integers(0, 3, n, dtype=np.uint8), "photons": rng.integers(0, 9, n).astype(np.int32),
                  "zero": np.zeros(n, np.uint8)}
        whole = PackedFields(arrays)
        builder = PlanesBuilder(n, {"flag": (bool, 1), "bit": (np.uint8, 1), "class": (np.uint8, 3),
                                    "photons": (np.int32, 8), "zero": (np.uint8, 2)})
        for first in range(0, n, 136):
            builder.add(first, {name: array[first:first + 136] for name, array in arrays.items()})
        pieces = PackedFields.from_planes(n, builder.planes())
        assert pickle.dumps(pieces, protocol=pickle.HIGHEST_PROTOCOL) == \
            pickle.dumps(whole, protocol=pickle.HIGHEST_PROTOCOL), n
        assert {k: v.tolist() for k, v in pieces.unpacked().items()} == {k: v.tolist() for k, v in arrays.items()}
    with pytest.raises(ValueError, match="first"):
        PlanesBuilder(16, {"bit": (np.uint8, 1)}).add(3, {"bit": np.ones(4, np.uint8)})


@pytest.mark.skipif(not qkd_kernels.has_cascade(), reason="needs numba")
def test_shuffled_places_follows_the_permutations_in_chunks(monkeypatch):
    """The compiled shuffle follows the elements with its positions drawn a few at a time (chunks of 7 here, the
    last one short) and its held places in a hash table: the inverse permutation at each element."""
    monkeypatch.setattr(qkd_kernels, "SHUFFLE_DRAWS_CHUNK", 7)
    for n, m in ((1, 1), (2, 2), (50, 50), (1000, 37), (999, 500)):
        elements = np.sort(np.random.default_rng(n).choice(n, m, replace=False))
        places, order = np.empty((3, m), np.int32), np.empty((3, m), np.int32)
        qkd_kernels.shuffled_places(np.random.Generator(np.random.Philox(n)), n, elements, places, order)
        numpy = np.random.Generator(np.random.Philox(n))
        for p in range(3):
            expected = np.argsort(numpy.permutation(n))[elements]
            assert places[p].tolist() == expected.tolist() and order[p].tolist() == np.argsort(expected).tolist()


@pytest.mark.parametrize("length", [0, 3, 8, 13, 16, 21])
def test_extend_by_itself_keeps_every_bit(length):
    """``bits.extend(bits)`` doubles the bits, the last ``length % 8`` of them too (its tail is read before it is
    reset)."""
    bits = (np.arange(length) * 7 % 3 == 1).astype(np.uint8)
    packed = PackedBits(bits)
    packed.extend(packed)
    assert packed.unpacked().tolist() == np.concatenate([bits, bits]).tolist()
