"""A key block's end with fewer bytes a key bit (2026-12-06): the hash seeds drawn packed, Cascade's shuffle
following its wrong bits with a bit per place.

Until 2026-12-06 the verification and privacy-amplification seeds (drawn where Cascade leaves errors) were a
byte a bit, and Cascade's compiled shuffle held a byte per key bit (``bench/results/qkd-blockend-vm-20261206.md``).
The same bits and generator states as before, checked against NumPy's draws and the dense hashes; the peaks
bounded per key bit.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from dqsim.backend import qkd_kernels
from dqsim.protocols.qkd import reconciliation
from dqsim.protocols.qkd.packed_bits import PackedKeyPair
from dqsim.protocols.qkd.reconciliation import (cascade_errors, postprocess_key, random_bits_packed, toeplitz_hash,
                                                toeplitz_hash_of_positions, toeplitz_hash_of_positions_packed)
from dqsim.rng import Stream


@pytest.mark.parametrize("bit_generator", [np.random.Philox, np.random.PCG64])
def test_random_bits_packed_are_numpys_bits_packed(bit_generator, monkeypatch):
    """``random_bits_packed`` gives ``packbits(rng.integers(0, 2, n, dtype=uint8))`` and leaves the generator as
    that call does, for lengths that are and are not multiples of 4, 8 and of its chunk (shrunk to 6 values
    here, and to 5: rounded down to 4), from a generator whose 32-bit half is kept or not."""
    for n, chunk, before in [(n, chunk, before) for n in (0, 1, 3, 4, 5, 8, 19, 20, 21, 24, 25, 40, 41, 1001)
                             for chunk in (5, 6) for before in (0, 1, 3)]:
        monkeypatch.setattr(reconciliation, "RANDOM_BITS_CHUNK", chunk)
        ours, numpys = np.random.Generator(bit_generator(n)), np.random.Generator(bit_generator(n))
        ours.integers(0, 2**32, before, dtype=np.uint32)
        numpys.integers(0, 2**32, before, dtype=np.uint32)
        if before == 3:  # a kept half
            ours.integers(0, 2**16, 1, dtype=np.uint16)
            numpys.integers(0, 2**16, 1, dtype=np.uint16)
        packed = random_bits_packed(ours, n)
        assert packed.tolist() == np.packbits(numpys.integers(0, 2, n, dtype=np.uint8)).tolist(), (n, chunk, before)
        assert ours.random() == numpys.random(), (n, chunk, before)


def test_packed_hash_of_positions_is_the_dense_hash_packed():
    """The hash of a sparse key from its ones' positions with the seed and the output packed is the dense
    Toeplitz product packed, for key lengths and output lengths that are and are not multiples of 8, ones at
    both ends of the key, and many ones (the key written out)."""
    rng = np.random.default_rng(8)
    for n, num_ones, num_out in ((1, 1, 1), (9, 2, 1), (64, 3, 7), (1000, 5, 50), (1001, 9, 333), (4099, 40, 4000),
                                 (2000, 900, 50)):
        ones = np.sort(rng.choice(n, num_ones, replace=False))
        if num_ones > 2:
            ones[0], ones[-1] = 0, n - 1
        key = np.zeros(n, np.uint8)
        key[ones] = 1
        seed = rng.integers(0, 2, n + num_out - 1, dtype=np.uint8)
        dense = toeplitz_hash(key, seed, num_out)
        assert toeplitz_hash_of_positions(ones, n, seed, num_out).tolist() == dense.tolist()
        assert toeplitz_hash_of_positions_packed(ones, n, np.packbits(seed), num_out).tolist() == \
            np.packbits(dense).tolist(), (n, num_ones, num_out)


def _unpacked_draws(rng, num_bits):  # the draw until 2026-12-06, packed after
    return np.packbits(rng.integers(0, 2, num_bits, dtype=np.uint8))


def _dense_hash(positions, n, seed_packed, num_out):  # the key and the seed written out
    key = np.zeros(n, np.uint8)
    key[positions] = 1
    return np.packbits(toeplitz_hash(key, np.unpackbits(seed_packed, count=n + num_out - 1), num_out))


def test_block_end_with_errors_left_is_as_with_unpacked_seeds(monkeypatch):
    """Where Cascade leaves errors (tuned for none) and a 1-bit verification hash lets some keys through, the
    block end with packed seeds gives the result, final key and generator state of NumPy's byte-a-bit draws
    hashed densely: blocks that fail verification and blocks that pass it with unequal final keys."""
    rng = np.random.default_rng(12)
    outcomes = set()
    for trial in range(12):
        n = 3000 + 17 * trial
        alice = rng.integers(0, 2, n, dtype=np.uint8)
        bob = alice ^ (rng.random(n) < 0.02).astype(np.uint8)
        results = []
        for patched in (False, True):
            with monkeypatch.context() as m:
                if patched:
                    m.setattr(reconciliation, "random_bits_packed", _unpacked_draws)
                    m.setattr(reconciliation, "toeplitz_hash_of_positions_packed", _dense_hash)
                gen = Stream(trial, node=0, purpose="test").generator(0)
                done = postprocess_key(PackedKeyPair.of(alice, bob), None, qber_estimate=0.0, eps_cor=0.5,
                                       final_bits_of_leakage=lambda leak: n // 3, rng=gen, final_key=True)
                results.append((done, done.final_key.tolist(), gen.random()))
        assert results[0] == results[1], trial
        done = results[0][0]
        assert done.residual_errors > 0
        outcomes.add((done.verified, done.keys_equal))
    assert (False, True) in outcomes and (True, False) in outcomes, outcomes


@pytest.mark.skipif(not qkd_kernels.has_cascade(), reason="needs numba")
def test_block_end_with_errors_left_holds_under_half_a_byte_a_key_bit():
    """tracemalloc's peak of Cascade and the verification hash on a 4e6-bit key whose Cascade (tuned for no error)
    leaves its 40 errors, the packed keys held by the caller: under 0.5 bytes a key bit (0.41 measured: the
    shuffle's bit per place, the seed packed and the chunks it is drawn in); until 2026-12-06 a byte per place
    while a shuffle was followed, then the n-bit verification seed a byte a bit (1.11 measured)."""
    n = 4_000_000
    rng = np.random.default_rng(13)
    errors = np.sort(rng.choice(n, 40, replace=False))
    alice = rng.integers(0, 256, n // 8, dtype=np.uint8)
    keys = PackedKeyPair(n, alice, errors)
    postprocess_key(PackedKeyPair(2000, alice[:250], errors[errors < 2000]), None, qber_estimate=0.0, eps_cor=1e-15,
                    final_bits_of_leakage=lambda leak: 0, rng=np.random.default_rng(1))  # kernels loaded first
    tracemalloc.start()
    try:
        held = tracemalloc.get_traced_memory()[0]
        done = postprocess_key(keys, None, qber_estimate=0.0, eps_cor=1e-15, final_bits_of_leakage=lambda leak: 0,
                               rng=Stream(3, node=0, purpose="test").generator(0))
        peak = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()
    assert done.residual_errors == 40 and not done.verified
    assert peak / n < 0.5, peak / n


@pytest.mark.skipif(not qkd_kernels.has_cascade(), reason="needs numba")
def test_cascade_shuffle_holds_a_bit_a_key_bit():
    """tracemalloc's peak of Cascade on a 4e6-bit key with 4,000 wrong bits: under 0.3 bytes a key bit (the
    shuffle's bit set, n/8 bytes, its draws and hash table: 0.19 measured); until 2026-12-06 a byte per place
    (1.07 measured)."""
    n = 4_000_000
    errors = np.sort(np.random.default_rng(14).choice(n, 4000, replace=False))
    cascade_errors(5000, errors[errors < 5000], 0.001, np.random.default_rng(1))  # kernels loaded first
    tracemalloc.start()
    try:
        held = tracemalloc.get_traced_memory()[0]
        done = cascade_errors(n, errors, 0.001, Stream(4, node=0, purpose="test").generator(0))
        peak = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()
    assert done.errors_corrected == 4000
    assert peak / n < 0.3, peak / n
