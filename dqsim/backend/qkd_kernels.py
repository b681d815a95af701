"""Compiled kernels of the QKD post-processing: the passes of Cascade.

:func:`dqsim.protocols.qkd.reconciliation.cascade` runs Cascade (Brassard &
Salvail 1993) in Python: one NumPy fancy-indexing call per disclosed parity,
a Python set of odd blocks per wave. That ran at 0.56-3.1 million key bits
per CPU second on the dev VM (blocks of 1e4-1e6 bits, QBER 1-8 %), well below
the 6.6-8.8 million sifted bits per CPU second the detection simulation
delivers at 10-50 km; this loop runs at 7.5-21 million (4.6-28x;
``bench/results/qkd_post-vm-20261205.md``). :func:`cascade_passes` is the same algorithm,
step for step, as one numba loop: the same parities in the same order, so
the same flips, leakage and rounds (checked against the Python reference by
``tests/test_qkd_reconciliation.py``).

Like :mod:`dqsim.backend.fast`, it needs numba (:func:`has_cascade`) and is
turned off by ``DQSIM_FAST_KERNELS=0``; the caller then runs the Python
reference.
"""

from __future__ import annotations

import numpy as np

from dqsim.backend.fast import enabled

try:
    import numba as _numba
except ImportError:  # the caller falls back to the Python reference
    _numba = None


if _numba is not None:

    @_numba.njit(cache=True, boundscheck=False)
    def _parity(bits, start, stop):
        s = 0
        for j in range(start, stop):
            s ^= bits[j]
        return s

    @_numba.njit(cache=True, boundscheck=False)
    def _bisect(bits, start, size):
        # Binary search of an odd block (bits[start:start+size], in its pass's order) for a wrong
        # bit: one parity per step, of the first half of what is left; returns (position, parities).
        lo, hi, steps = 0, size, 0
        while hi - lo > 1:
            mid = (lo + hi) // 2
            steps += 1
            if _parity(bits, start + lo, start + mid):
                hi = mid
            else:
                lo = mid
        return start + lo, steps

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_cascade(diff, bob, perms, sizes, depths):
        # ``ordered[p]`` is diff in the order of pass p (diff[perms[p]]), kept up to date at every
        # flip, so that parities read contiguous bytes (a gather through the permutation at every
        # parity ran 3-4x slower at n = 1e7: cache misses).
        num_passes, n = perms.shape
        num_blocks = (n + sizes - 1) // sizes
        offsets = np.zeros(num_passes + 1, dtype=np.int64)
        for p in range(num_passes):
            offsets[p + 1] = offsets[p] + num_blocks[p]
        total = offsets[num_passes]
        block_pass = np.empty(total, dtype=np.int64)
        for p in range(num_passes):
            block_pass[offsets[p]:offsets[p + 1]] = p
        # Blocks are numbered offsets[pass] + block: this order is the (pass, block) order in
        # which the reference visits a wave.
        odd = np.zeros(total, dtype=np.uint8)
        touched = np.zeros(total, dtype=np.uint8)
        inverses = np.empty((num_passes, n), dtype=perms.dtype)
        ordered = np.empty((num_passes, n), dtype=np.uint8)
        next_wave = np.empty(total, dtype=np.int64)
        leak = rounds = flipped = 0
        for p in range(num_passes):
            perm = perms[p]
            bits = ordered[p]
            for j in range(n):
                inverses[p, perm[j]] = j
                bits[j] = diff[perm[j]]
            k = sizes[p]
            count = 0
            for b in range(num_blocks[p]):
                s = _parity(bits, b * k, min(n, (b + 1) * k))
                odd[offsets[p] + b] = s
                if s:
                    next_wave[count] = offsets[p] + b
                    count += 1
            leak += num_blocks[p]
            rounds += 1
            wave = next_wave[:count].copy()
            while wave.size:  # one wave: every odd block bisected in parallel
                count = 0
                depth = 0
                for g in wave:
                    if not odd[g]:
                        continue
                    q = block_pass[g]
                    depth = max(depth, depths[q])
                    start = (g - offsets[q]) * sizes[q]
                    position, steps = _bisect(ordered[q], start, min(sizes[q], n - start))
                    bit = perms[q, position]
                    leak += steps
                    bob[bit] ^= 1
                    diff[bit] ^= 1
                    flipped += 1
                    for r in range(p + 1):  # the flip changes the parity of one block per pass so far
                        i = inverses[r, bit]
                        ordered[r, i] ^= 1
                        h = offsets[r] + i // sizes[r]
                        odd[h] ^= 1
                        if not touched[h]:
                            touched[h] = 1
                            next_wave[count] = h
                            count += 1
                rounds += depth
                kept = 0
                for i in range(count):
                    h = next_wave[i]
                    touched[h] = 0
                    if odd[h]:
                        next_wave[kept] = h
                        kept += 1
                wave = np.sort(next_wave[:kept])
        return leak, rounds, flipped


def has_cascade() -> bool:
    """True when :func:`cascade_passes` can run (numba installed, ``DQSIM_FAST_KERNELS`` not ``0``)."""
    return _numba is not None and enabled()


def cascade_passes(diff: np.ndarray, bob: np.ndarray, perms: np.ndarray, sizes: np.ndarray,
                   depths: np.ndarray) -> tuple[int, int, int]:
    """Run every pass of Cascade on the error pattern ``diff``, flipping ``bob`` (both in place).

    The algorithm of :func:`dqsim.protocols.qkd.reconciliation.cascade`
    (its docstring has the protocol and its source): pass ``p`` splits the
    key, read in the order ``perms[p]``, into blocks of ``sizes[p]`` bits and
    compares their parities; each wave bisects every odd block in (pass,
    block) order, flips the bit found and toggles the block that holds it in
    every pass so far; a wave costs the largest ``depths[q]`` of the blocks it
    bisected in rounds.

    Args:
        diff: Alice's key XOR Bob's, uint8 0/1, length n (ends all zero unless errors are left).
        bob: Bob's key, uint8 0/1, length n (corrected in place).
        perms: ``(num_passes, n)`` integer array, row p the order of pass p (a permutation of 0..n-1).
        sizes: block size of each pass, int64, each in [1, n].
        depths: rounds of one bisection of a block of each pass, int64 (⌈log2 max(2, size)⌉).

    Returns:
        ``(leakage_bits, rounds, bits_flipped)``.

    Raises:
        RuntimeError: numba missing or turned off (callers check :func:`has_cascade` first).
    """
    if not has_cascade():
        raise RuntimeError("cascade_passes needs numba; callers check has_cascade() first")
    leak, rounds, flipped = _numba_cascade(diff, bob, perms, sizes, depths)
    return int(leak), int(rounds), int(flipped)
