"""Compiled kernels of the QKD post-processing: the passes of Cascade.

:func:`dqsim.protocols.qkd.reconciliation.cascade` runs Cascade (Brassard &
Salvail 1993) in Python: one NumPy fancy-indexing call per disclosed parity,
a Python set of odd blocks per wave. That ran at 0.56-3.1 million key bits
per CPU second on the dev VM (blocks of 1e4-1e6 bits, QBER 1-8 %), well below
the 6.6-8.8 million sifted bits per CPU second the detection simulation
delivers at 10-50 km; this loop runs at 7.5-21 million (4.6-28x;
``bench/results/qkd_post-vm-20261205.md``) as one numba loop, step for step
the same algorithm: the same parities in the same order, so the same flips,
leakage and rounds (checked against the Python reference by
``tests/test_qkd_reconciliation.py``). Its public random permutations
(``rng.permutation``, one per pass after the first) took about two thirds of
Cascade's time at 1e6-1e7 bits: :func:`permutations` draws the same numbers
from the same Philox state (the scenario's generators,
:class:`dqsim.rng.Stream`) in a compiled Fisher-Yates loop, Philox4x64-10
in batches, 1.1x faster than NumPy on the dev VM at 1e4-1e5 bits, 2.0-3.0x at 1e6-8e6
(``bench/results/qkd_postprocess-vm-20261205.md``) when it drew and swapped in chunks, and 1.3x
faster again since it draws a row's positions before its swaps
(``bench/results/qkd_postprocess-vm-s10-20261205.md``). Since then
(``bench/results/qkd_postprocess-vm-s11-20261205.md``) the positions are drawn without a branch on
their rejection (2.4x), and Cascade runs on the wrong bits alone
(:func:`cascade_on_errors`, a parity of the two keys differs exactly where
its range holds an odd number of them), which :func:`shuffled_places`
follows through each pass's shuffle without writing the permutation: no
pass over the key's n bits but the drawing of the shuffles' positions.

The detection sampler's kernels (:func:`detection_chain`,
:func:`detection_clicks`, :func:`detection_table`) are the per-click work of
:func:`dqsim.protocols.qkd.detections.detect_batch` and
:func:`~dqsim.protocols.qkd.detections.detection_counts` on the CPU: the NumPy
path makes some 60 array passes over a batch's clicks, these make one. They
draw from the batch's own NumPy generator (numba's ``Generator`` runs NumPy's
algorithms on the same bit generator state), in the order the NumPy path
draws, so they give the same clicks bit for bit
(``tests/test_qkd_detections.py``); the per-click uniforms are drawn a
segment at a time from their rows' SFC64 states (:func:`sfc64_row_starts`),
not held for the whole batch.

The rows of a short Toeplitz hash (the error verification's ⌈log2(1/ε_cor)⌉ bits) are
:func:`toeplitz_rows`, one compiled loop on 64-bit words (30x NumPy's rows at 1.45e5-4e6 bits,
``bench/results/qkd_postprocess-vm-20261206.md``).

Like :mod:`dqsim.backend.fast`, they need numba (:func:`has_cascade` for Cascade,
:func:`shuffled_places` and :func:`permutations`,
:func:`has_detection_kernels`, :func:`has_toeplitz_rows`) and are turned off by
``DQSIM_FAST_KERNELS=0``; the caller then runs the Python / NumPy
reference.
"""

from __future__ import annotations

import functools
import math
import platform

import numpy as np

from dqsim.backend.fast import enabled

try:
    import numba as _numba
    from llvmlite import binding as _llvm
    from llvmlite import ir as _ir
    from numba.core import cgutils as _cgutils
    from numba.extending import intrinsic as _intrinsic
except ImportError:  # the caller falls back to the Python reference
    _numba = None


if _numba is not None:

    def _two_word_intrinsic(name, product_words):
        """A numba intrinsic ``(uint64, uint64) -> (high, low)`` whose code is ``product_words(builder, a, b)``."""
        def typing(typingctx, a, b):
            signature = _numba.types.UniTuple(_numba.types.uint64, 2)(_numba.types.uint64, _numba.types.uint64)

            def codegen(context, builder, sig, args):
                return context.make_tuple(builder, sig.return_type, list(product_words(builder, *args)))

            return signature, codegen

        typing.__name__ = typing.__qualname__ = name
        return _intrinsic(typing)

    @_numba.njit(cache=True, boundscheck=False)
    def _cascade_flip(g, q, n, offsets, sizes, places, flat, first, alive):
        # Bisect the odd block g (of pass q), whose wrong bits are the entries first[g] .. first[g + 1] of
        # ``flat`` (in place order): one parity of the lower half a step, down to one place; flip the wrong
        # bit found (``alive`` cleared). Returns (its entry, parities disclosed).
        start = (g - offsets[q]) * sizes[q]
        a, c = first[g], first[g + 1]
        lo, hi = 0, min(sizes[q], n - start)
        steps = 0
        while hi - lo > 1:
            mid = (lo + hi) // 2
            steps += 1
            parity = 0
            split = a
            while split < c and places[q, flat[split]] < start + mid:
                parity ^= alive[flat[split]]
                split += 1
            if parity:
                hi, c = mid, split
            else:
                lo, a = mid, split
        e = flat[a]  # the only entry at place start + lo, an error (odd parity)
        alive[e] = 0
        return e, steps

    @_numba.njit(cache=True, boundscheck=False)
    def _heap_push(heap, size, value):
        # ``heap[:size]`` a binary min-heap; adds ``value``, returns the new size
        i = size
        heap[i] = value
        while i > 0:
            parent = (i - 1) // 2
            if heap[parent] <= heap[i]:
                break
            heap[parent], heap[i] = heap[i], heap[parent]
            i = parent
        return size + 1

    @_numba.njit(cache=True, boundscheck=False)
    def _heap_pop(heap, size):
        # ``heap[:size]`` a binary min-heap, size >= 1; removes its least value, returns (value, new size)
        top = heap[0]
        size -= 1
        heap[0] = heap[size]
        i = 0
        while True:
            child = 2 * i + 1
            if child >= size:
                break
            if child + 1 < size and heap[child + 1] < heap[child]:
                child += 1
            if heap[i] <= heap[child]:
                break
            heap[i], heap[child] = heap[child], heap[i]
            i = child
        return top, size

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_sparse_cascade(n, errors, places, order, sizes, depths, alive, sequential):
        # The passes of Cascade (cascade_on_errors), computed on the errors alone: ``errors`` (m key
        # positions), ``places[p, e]`` where pass p reads error e, ``order[p]`` the errors sorted by
        # that place, ``alive`` (m bytes, all 1) cleared where an error is flipped. A parity is the
        # number of errors (alive) in a range of places mod 2: the same parities as of the error
        # pattern, so the same flips, leakage and rounds, with no pass over the n key bits (a
        # bisection only ever ends on an error: the range it narrows to holds an odd number of them).
        # Blocks are numbered offsets[pass] + block: this order is the (pass, block) order in which
        # the reference visits a wave, and (the sizes never shrinking from pass to pass) the
        # smallest-block-first order of ``sequential``.
        num_passes, m = places.shape
        num_blocks = (n + sizes - 1) // sizes
        offsets = np.zeros(num_passes + 1, dtype=np.int64)
        for p in range(num_passes):
            offsets[p + 1] = offsets[p] + num_blocks[p]
        total = offsets[num_passes]
        index = places.dtype  # int32 where num_passes·n < 2^31 (the caller's choice): block and entry numbers
        block_pass = np.empty(total, dtype=index)
        for p in range(num_passes):
            block_pass[offsets[p]:offsets[p + 1]] = p
        # first[g] .. first[g + 1]: the entries of ``order[p]`` (flattened: pass p at p·m) in
        # block g = offsets[p] + b, which are the errors read by that block, in place order
        first = np.empty(total + 1, dtype=index)
        block_of = np.empty_like(places)
        for p in range(num_passes):
            k = sizes[p]
            entry = 0
            for b in range(num_blocks[p]):
                first[offsets[p] + b] = p * m + entry
                while entry < m and places[p, order[p, entry]] < (b + 1) * k:
                    entry += 1
            for e in range(m):
                block_of[p, e] = offsets[p] + places[p, e] // k
        first[total] = num_passes * m
        flat = order.reshape(num_passes * m)
        odd = np.zeros(total, dtype=np.uint8)
        touched = np.zeros(total, dtype=np.uint8)  # parallel: in next_wave; sequential: in the heap
        next_wave = np.empty(total, dtype=index)   # parallel: the next wave; sequential: the heap of odd blocks
        leak = rounds = flipped = 0
        for p in range(num_passes):
            for e in range(m):
                odd[block_of[p, e]] ^= alive[e]
            count = 0
            for g in range(offsets[p], offsets[p + 1]):
                if odd[g]:
                    next_wave[count] = g  # increasing: a heap as it stands
                    touched[g] = sequential
                    count += 1
            leak += num_blocks[p]
            rounds += 1
            if sequential:  # the smallest odd block first, one parity a round trip
                while count:
                    g, count = _heap_pop(next_wave, count)
                    touched[g] = 0
                    if not odd[g]:
                        continue
                    e, steps = _cascade_flip(g, block_pass[g], n, offsets, sizes, places, flat, first, alive)
                    leak += steps
                    rounds += steps
                    flipped += 1
                    for r in range(p + 1):  # the flip changes the parity of one block per pass so far
                        h = block_of[r, e]
                        odd[h] ^= 1
                        if odd[h] and not touched[h]:
                            touched[h] = 1
                            count = _heap_push(next_wave, count, h)
                continue
            wave = next_wave[:count].copy()
            while wave.size:  # one wave: every odd block bisected in parallel
                count = 0
                depth = 0
                for g in wave:
                    if not odd[g]:
                        continue
                    depth = max(depth, depths[block_pass[g]])
                    e, steps = _cascade_flip(g, block_pass[g], n, offsets, sizes, places, flat, first, alive)
                    leak += steps
                    flipped += 1
                    for r in range(p + 1):  # the flip changes the parity of one block per pass so far
                        h = block_of[r, e]
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


#: Philox4x64-10's multipliers and key increments (J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw,
#: "Parallel random numbers: as easy as 1, 2, 3", SC11 (2011); NumPy's ``numpy/random/src/philox``).
PHILOX_M = (0xD2E7470EE14C6C93, 0xCA5A826395121157)
PHILOX_W = (0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B)

#: Philox blocks (four 64-bit words each, counters c+1, c+2, ...) that :func:`permutations` computes
#: ahead in one loop, as the sequence of 32-bit values its draws read in order (computed ahead or one
#: at a time, a block cost the same ~13 ns on the dev VM; reading the values in order is what
#: let the draws run as one tight loop); at most this many minus one are computed and not used, per call.
PHILOX_BATCH_BLOCKS = 256


if _numba is not None:

    def _wide_product(builder, a, b):
        # The 128-bit product of two uint64: one multiplication instruction.
        wide = _ir.IntType(128)
        product = builder.mul(builder.zext(a, wide), builder.zext(b, wide))
        return (builder.trunc(builder.lshr(product, _ir.Constant(wide, 64)), _ir.IntType(64)),
                builder.trunc(product, _ir.IntType(64)))

    _mulhilo = _two_word_intrinsic("mulhilo", _wide_product)

    _M0, _M1 = np.uint64(PHILOX_M[0]), np.uint64(PHILOX_M[1])
    _W0, _W1 = np.uint64(PHILOX_W[0]), np.uint64(PHILOX_W[1])

    @_numba.njit(cache=True, boundscheck=False)
    def _philox4x64(c0, c1, c2, c3, k0, k1):
        # The ten rounds of Philox4x64 on one counter (Random123's philox4x64_R with R = 10).
        for _ in range(10):
            hi0, lo0 = _mulhilo(_M0, c0)
            hi1, lo1 = _mulhilo(_M1, c2)
            c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
            k0 += _W0
            k1 += _W1
        return c0, c1, c2, c3

    @_numba.njit(cache=True, boundscheck=False)
    def _counter_plus(c0, c1, c2, c3, add):
        # The 256-bit counter (c0 lowest) plus ``add`` (a uint64), carried over its four words.
        total = c0 + add
        if total < c0:
            c1 += np.uint64(1)
            if c1 == 0:
                c2 += np.uint64(1)
                if c2 == 0:
                    c3 += np.uint64(1)
        return total, c1, c2, c3

    @_numba.njit(cache=True, boundscheck=False)
    def _philox_fill(c0, c1, c2, c3, k0, k1, stream, offset, num_blocks):
        # The blocks of the counters (c0, c1, c2, c3) + 1 .. + num_blocks as next_uint32 reads them
        # (each 64-bit word's low half, then its high half) into stream[offset:offset + 8·num_blocks].
        low32 = np.uint64(0xFFFFFFFF)
        shift = np.uint64(32)
        for j in range(num_blocks):
            c0, c1, c2, c3 = _counter_plus(c0, c1, c2, c3, np.uint64(1))
            b0, b1, b2, b3 = _philox4x64(c0, c1, c2, c3, k0, k1)
            at = offset + 8 * j
            stream[at], stream[at + 1] = b0 & low32, b0 >> shift
            stream[at + 2], stream[at + 3] = b1 & low32, b1 >> shift
            stream[at + 4], stream[at + 5] = b2 & low32, b2 >> shift
            stream[at + 6], stream[at + 7] = b3 & low32, b3 >> shift

    @_numba.njit(cache=True, boundscheck=False)
    def _philox_open(state, num_values):
        # The stream of 32-bit values that next_uint32 returns from the Philox state ``state``
        # (counter[4], key[2], buffer[4], buffer_pos, has_uint32, uinteger: the fields of
        # Philox.state): the kept high half (has_uint32) first, then the low and high halves of the
        # buffer's words left, then those of the blocks of the next counters, one counter at a time.
        # Returns ``(stream, cursor)``: ``stream`` holds the head and PHILOX_BATCH_BLOCKS blocks
        # computed ahead (fewer when about ``num_values`` values will be read: one block per 8
        # draws and few rejections); ``cursor`` is (values of ``stream`` read, values in
        # ``stream``, index of stream[0] in the whole sequence, blocks computed, blocks a batch).
        low32 = np.uint64(0xFFFFFFFF)
        shift = np.uint64(32)
        position, has32 = np.int64(state[10]), np.int64(state[11])
        batch = max(1, min(PHILOX_BATCH_BLOCKS, num_values // 4 + 1))
        stream = np.empty(9 + 8 * batch, dtype=np.uint64)
        head = 0
        if has32:
            stream[0] = state[12]
            head = 1
        for w in range(position, 4):
            stream[head], stream[head + 1] = state[6 + w] & low32, state[6 + w] >> shift
            head += 2
        _philox_fill(state[0], state[1], state[2], state[3], state[4], state[5], stream, head, batch)
        cursor = np.zeros(5, dtype=np.int64)
        cursor[1], cursor[3], cursor[4] = head + 8 * batch, batch, batch
        return stream, cursor

    @_numba.njit(cache=True, boundscheck=False)
    def _philox_row_draws(state, stream, cursor, draws, n):
        # draws[i] = random_interval(i) for i = n-1 .. 1 (_philox_range_draws of the whole row).
        _philox_range_draws(state, stream, cursor, draws, n - 1, 0)

    @_numba.njit(cache=True, boundscheck=False)
    def _philox_range_draws(state, stream, cursor, draws, top, bottom):
        # draws[i - bottom] = random_interval(i) for i = top .. bottom + 1, in that order (a row's draws
        # from i = n-1 down to 1 are these calls on successive ranges; the positions that NumPy's
        # Generator.shuffle swaps with: its _shuffle_raw, the masked rejection sampling of
        # numpy/random/src/distributions on next_uint32), read from ``stream`` (_philox_open),
        # whose next blocks are computed when it runs out. The bounds from i down to the next
        # power of two share a mask; under it, a value is stored at draws[i] and i moves on only
        # when it was accepted (no branch on the acceptance, which mispredicted about one draw
        # in four: 2.4x faster than the loop that branched, 8 against 20 ms for 3 rows of 9e5).
        at, end, start, filled, batch = cursor[0], cursor[1], cursor[2], cursor[3], cursor[4]
        i = np.int64(top)
        while i > bottom:
            mask = np.uint64(i)
            mask |= mask >> np.uint64(1)
            mask |= mask >> np.uint64(2)
            mask |= mask >> np.uint64(4)
            mask |= mask >> np.uint64(8)
            mask |= mask >> np.uint64(16)
            mask |= mask >> np.uint64(32)
            low = max(np.int64(mask >> np.uint64(1)), bottom)
            while i > low:
                if at == end:  # the next blocks (the head is read by now)
                    d0, d1, d2, d3 = _counter_plus(state[0], state[1], state[2], state[3], np.uint64(filled))
                    _philox_fill(d0, d1, d2, d3, state[4], state[5], stream, 0, batch)
                    filled += batch
                    start += end
                    end = 8 * batch
                    at = 0
                value = np.int64(stream[at] & mask)
                at += 1
                draws[i - bottom] = value
                i -= np.int64(value <= i)
        cursor[0], cursor[1], cursor[2], cursor[3] = at, end, start, filled

    @_numba.njit(cache=True, boundscheck=False)
    def _philox_close(state, cursor):
        # Write into ``state`` the Philox state NumPy's generator has after returning the values of
        # the stream read (cursor[2] + cursor[0]), rebuilt from their number.
        c0, c1, c2, c3 = state[0], state[1], state[2], state[3]
        k0, k1 = state[4], state[5]
        buffer = state[6:10].copy()
        position, has32, word32 = np.int64(state[10]), np.int64(state[11]), state[12]
        shift = np.uint64(32)
        read = cursor[2] + cursor[0]  # values read in all
        if read > 0:
            kept = 1 if has32 else 0
            from_buffer = 2 * (4 - position)
            if read <= kept:  # the kept half only
                has32 = 0
            elif read - kept <= from_buffer:  # then words of the buffer
                halves = read - kept
                last = position + (halves + 1) // 2 - 1
                position = last + 1
                has32 = halves % 2
                word32 = buffer[last] >> shift
            else:  # then blocks of new counters: the last one read is the buffer
                halves = read - kept - from_buffer
                words = (halves + 1) // 2
                block = (words - 1) // 4
                c0, c1, c2, c3 = _counter_plus(c0, c1, c2, c3, np.uint64(block + 1))
                b0, b1, b2, b3 = _philox4x64(c0, c1, c2, c3, k0, k1)
                buffer[0], buffer[1], buffer[2], buffer[3] = b0, b1, b2, b3
                position = (words - 1) % 4 + 1
                has32 = halves % 2
                word32 = buffer[position - 1] >> shift
        state[0], state[1], state[2], state[3] = c0, c1, c2, c3
        state[6:10] = buffer
        state[10], state[11], state[12] = np.uint64(position), np.uint64(has32), word32

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_philox_shuffles(state, out):
        # Each row of ``out`` set to 0..n-1 and shuffled as NumPy's Generator.shuffle does (for
        # i = n-1 .. 1 swap i with random_interval(i)), drawing from the Philox state ``state``
        # (written back at the end). All the row's positions first, then its swaps: two tight loops
        # (the positions do not depend on the array) ran 1.3x faster than drawing and swapping in
        # chunks of 512.
        num_rows, n = out.shape
        stream, cursor = _philox_open(state, num_rows * n)
        draws = np.empty(n, dtype=out.dtype)
        for p in range(num_rows):
            _philox_row_draws(state, stream, cursor, draws, n)
            row = out[p]
            for j in range(n):
                row[j] = j
            for i in range(n - 1, 0, -1):
                j = draws[i]
                held = row[j]
                row[j] = row[i]
                row[i] = held
        _philox_close(state, cursor)

    @_numba.njit(cache=True, boundscheck=False)
    def _slot_home(place, shift):
        # The first entry a place probes in _numba_philox_places' table: Fibonacci hashing, the top bits of
        # place times 2^64/phi (spreads the places, which crowd below the sweep, over the whole table).
        return np.int64((np.uint64(place) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(shift))

    @_numba.njit(cache=True, boundscheck=False)
    def _slot_find(keys, place, shift):
        # The entry of a place held (in the table: found before any free entry is passed, see below).
        mask = keys.size - 1
        h = _slot_home(place, shift)
        while keys[h] != place:
            h = (h + 1) & mask
        return h

    @_numba.njit(cache=True, boundscheck=False)
    def _slot_free(keys, place, shift, sweep):
        # The first entry from the place's home (linear probing) that holds no live place: its key is at
        # or above the sweep's step (a place the sweep has passed, never looked up again, or n: never used
        # or cleared). Live keys are never moved, so each stays on its probe path.
        mask = keys.size - 1
        h = _slot_home(place, shift)
        while keys[h] < sweep:
            h = (h + 1) & mask
        return h

    @_numba.njit(cache=True, boundscheck=False)
    def _held(held, place):
        # Bit ``place`` of the bit set ``held`` (uint64 words, bit k of word w is place 64·w + k), 0 or 1.
        return (held[place >> np.uint64(6)] >> (place & np.uint64(63))) & np.uint64(1)

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_philox_places(state, elements, places, order, draws, held, n, keys, values, shift):
        # For each row p of ``places``: where the p-th shuffle of 0..n-1 (as _numba_philox_shuffles
        # draws it, from ``state``) puts each of ``elements`` (distinct, in [0, n)), and in ``order[p]``
        # their indices sorted by that place. Only the elements are followed through the swaps: a bit
        # set (``held``, ⌈n/64⌉ uint64 words: n/8 bytes, a third of a 1-MiB L2 at n = 2.6e6) says which
        # places hold one (read at every step, written only where an element moves), and which one is in
        # a hash table of the held places (``keys``/``values``, twice as many entries as elements at
        # least; a key at or above the sweep's step is a free entry), so the memory besides the bit set
        # grows with the elements, not with n. The row's positions are drawn ``draws.size`` at a time.
        # The swap at step i fixes place i for good, so the elements come out in decreasing place.
        # The loop indexes with unsigned integers: numba adds a negative-index wrap-around to a signed
        # index the compiler cannot prove non-negative (i in range(top, bottom, -1) with a run-time
        # bottom, j read from draws), and those checks made the follow loop ~1.5x slower (2026-12-06,
        # bench/results/qkd-blockend-vm-20261206.md). A byte per place (n bytes, beyond L2) instead of
        # the bit set ran as fast or slower.
        num_rows, m = places.shape
        chunk = draws.size
        one = np.uint64(1)
        six = np.uint64(6)
        low6 = np.uint64(63)
        stream, cursor = _philox_open(state, num_rows * n)
        for p in range(num_rows):
            held[:] = 0
            keys[:] = n
            for e in range(m):
                x = np.uint64(elements[e])
                held[x >> six] |= one << (x & low6)
                h = _slot_free(keys, elements[e], shift, n)
                keys[h] = elements[e]
                values[h] = e
            done = m
            top = n - 1
            while top > 0:
                bottom = max(top - chunk, 0)
                _philox_range_draws(state, stream, cursor, draws, top, bottom)
                for k in range(top - bottom):
                    i = np.uint64(top - k)
                    j = np.uint64(draws[np.uint64(top - bottom - k)])
                    at_i = _held(held, i)
                    at_j = _held(held, j)
                    if at_i | at_j:
                        place_i, place_j = np.int64(i), np.int64(j)
                        if at_j:  # the element at j moves to i, its final place
                            hj = _slot_find(keys, place_j, shift)
                            e = values[hj]
                            places[p, e] = place_i
                            done -= 1
                            order[p, done] = e
                            if at_i:  # the element at i moves to j (j = i: it stays, already placed)
                                values[hj] = values[_slot_find(keys, place_i, shift)]
                            else:
                                held[j >> six] &= ~(one << (j & low6))
                                keys[hj] = n
                        else:  # held[i] only: the element at i moves to j (< i), a place with none
                            e = values[_slot_find(keys, place_i, shift)]
                            h = _slot_free(keys, place_j, shift, place_i)  # entry i is free from now on
                            keys[h] = place_j
                            values[h] = e
                            held[j >> six] |= one << (j & low6)
                top = bottom
            if held[0] & one:  # place 0 is what is left there
                e = values[_slot_find(keys, 0, shift)]
                places[p, e] = 0
                done -= 1
                order[p, done] = e
        _philox_close(state, cursor)

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_philox_sample_packed(state, alice, n, errors, fraction, kept_words, kept_errors):
        # The QBER sample of a packed key pair: Alice's n bits packed (``alice``, packbits order) and the
        # increasing positions ``errors`` where Bob's differ. Bit i joins the sample when the i-th double of
        # the Philox state ``state`` is below ``fraction`` (gen.random()'s next_double: the next 64-bit word
        # >> 11, times 2^-53; the words of the buffer left first, then one block per counter; the kept
        # 32-bit half is not used); the others' Alice bits are written in order
        # into ``kept_words`` (64 a word, the first in the top bit: big-endian bytes are packbits')
        # without a branch, and their positions among the kept bits where they are errors into
        # ``kept_errors`` (m + 1 entries). Writes back the state NumPy's draws leave; returns
        # (sampled, sampled errors, kept, kept errors).
        m = errors.size
        c0, c1, c2, c3 = state[0], state[1], state[2], state[3]
        k0, k1 = state[4], state[5]
        b0, b1, b2, b3 = state[6], state[7], state[8], state[9]
        position = np.int64(state[10])
        scale = 1.0 / 9007199254740992.0
        eleven = np.uint64(11)
        sampled = sampled_errors = kept = 0
        num_kept_errors = 0
        next_error = errors[0] if m else -1
        at_error = 0
        word = np.uint64(0)
        fill = 0
        out = 0
        for i in range(n):
            if position == 4:
                c0, c1, c2, c3 = _counter_plus(c0, c1, c2, c3, np.uint64(1))
                b0, b1, b2, b3 = _philox4x64(c0, c1, c2, c3, k0, k1)
                position = 0
            drawn = b0 if position == 0 else b1 if position == 1 else b2 if position == 2 else b3
            position += 1
            chosen = np.int64((drawn >> eleven) * scale < fraction)
            bit = np.uint64((alice[i >> 3] >> (7 - (i & 7))) & 1)
            word |= (bit & np.uint64(1 - chosen)) << np.uint64(63 - fill)
            if i == next_error:
                sampled_errors += chosen
                kept_errors[num_kept_errors] = kept
                num_kept_errors += 1 - chosen
                at_error += 1
                next_error = errors[at_error] if at_error < m else -1
            kept += 1 - chosen
            sampled += chosen
            fill += 1 - chosen
            if fill == 64:
                kept_words[out] = word
                out += 1
                word = np.uint64(0)
                fill = 0
        if fill:
            kept_words[out] = word
        state[0], state[1], state[2], state[3] = c0, c1, c2, c3
        state[6], state[7], state[8], state[9] = b0, b1, b2, b3
        state[10] = np.uint64(position)
        return sampled, sampled_errors, kept, num_kept_errors

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_philox_skip(state, num_values):
        # The Philox state ``state`` advanced past ``num_values`` 32-bit values (next_uint32), as
        # _philox_close rebuilds it after reading them: one block computed, whatever their number.
        cursor = np.zeros(5, dtype=np.int64)
        cursor[0] = num_values
        _philox_close(state, cursor)


#: Words (64 bits) of each factor below which :func:`carryless_product` multiplies word by word
#: instead of splitting (Karatsuba): 32 ran 1.0-1.4x faster than 8 or 16 on the dev VM at 1.4e5-2e6 bits.
CLMUL_BASE_WORDS = 32


if _numba is not None:

    def _carryless_word_product(builder, a, b):
        # The carry-less (GF(2)[z]) product of two 64-bit words: x86's PCLMULQDQ.
        vector = _ir.VectorType(_ir.IntType(64), 2)
        first, second = _ir.Constant(_ir.IntType(32), 0), _ir.Constant(_ir.IntType(32), 1)
        left = builder.insert_element(_ir.Constant(vector, None), a, first)
        right = builder.insert_element(_ir.Constant(vector, None), b, first)
        function = _cgutils.get_or_insert_function(
            builder.module, _ir.FunctionType(vector, [vector, vector, _ir.IntType(8)]), "llvm.x86.pclmulqdq")
        product = builder.call(function, [left, right, _ir.Constant(_ir.IntType(8), 0)])
        return builder.extract_element(product, second), builder.extract_element(product, first)

    _clmul = _two_word_intrinsic("clmul", _carryless_word_product)

    @_numba.njit(cache=True, boundscheck=False)
    def _clmul_schoolbook(a, b, out):
        # out ^= a·b, word by word.
        for i in range(a.size):
            word = a[i]
            if word == 0:
                continue
            for j in range(b.size):
                high, low = _clmul(word, b[j])
                out[i + j] ^= low
                out[i + j + 1] ^= high

    @_numba.njit(cache=True, boundscheck=False)
    def _clmul_karatsuba(a, b, out):
        # out ^= a·b for factors of one length m (out: 2m words): three half-size products
        # a0·b0, a1·b1, (a0 + a1)(b0 + b1), added (XOR) at their offsets.
        m = a.size
        if m <= CLMUL_BASE_WORDS:
            _clmul_schoolbook(a, b, out)
            return
        h = m // 2
        g = m - h
        low = np.zeros(2 * h, dtype=np.uint64)
        _clmul_karatsuba(a[:h], b[:h], low)
        high = np.zeros(2 * g, dtype=np.uint64)
        _clmul_karatsuba(a[h:], b[h:], high)
        sum_a = a[h:].copy()
        sum_b = b[h:].copy()
        for i in range(h):
            sum_a[i] ^= a[i]
            sum_b[i] ^= b[i]
        middle = np.zeros(2 * g, dtype=np.uint64)
        _clmul_karatsuba(sum_a, sum_b, middle)
        for i in range(2 * h):
            middle[i] ^= low[i]
            out[i] ^= low[i]
        for i in range(2 * g):
            middle[i] ^= high[i]
            out[2 * h + i] ^= high[i]
        for i in range(2 * g):
            out[h + i] ^= middle[i]

    @_numba.njit(cache=True, boundscheck=False)
    def _clmul_product(a, b, out):
        # out ^= a·b for any lengths: the longer factor in pieces of the shorter one's length, the
        # last (shorter) piece by the same rule with the factors' roles swapped.
        if a.size < b.size:
            a, b = b, a
        w = b.size
        if w == 0:
            return
        pieces = a.size // w
        piece = np.zeros(2 * w, dtype=np.uint64)
        for c in range(pieces):
            piece[:] = 0
            _clmul_karatsuba(a[c * w:(c + 1) * w], b, piece)
            for i in range(2 * w):
                out[c * w + i] ^= piece[i]
        if a.size > pieces * w:
            _clmul_product(b, a[pieces * w:], out[pieces * w:])


if _numba is not None:

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_key_bits(keep_values, keep_value, alice_basis, bob_basis, alice_bit, bob_bit, detected,
                        use_detected, out_a, out_b):
        # Every pulse's bits are written at the next free place, which moves on only for a kept pulse
        # (no branch on the random bases: & of the comparisons, not `and`, ran 3.5x faster).
        k = 0
        for i in range(keep_values.size):
            keep = (alice_basis[i] == bob_basis[i]) & (keep_values[i] == keep_value)
            if use_detected:
                keep &= detected[i]
            out_a[k] = alice_bit[i]
            out_b[k] = bob_bit[i]
            k += keep
        return k


if _numba is not None:

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_toeplitz_rows(seed_words, reversed_key_words, num_out, out):
        # Output i is the parity of (seed >> i) AND (the key reversed), on 64-bit words: the window of
        # the seed starting at bit i is words q, q + 1 shifted by s = i % 64.
        num_words = reversed_key_words.size
        for i in range(num_out):
            q = i >> 6
            s = np.uint64(i & 63)
            acc = np.uint64(0)
            if s == 0:
                for w in range(num_words):
                    acc ^= seed_words[q + w] & reversed_key_words[w]
            else:
                left = np.uint64(64) - s
                for w in range(num_words):
                    acc ^= ((seed_words[q + w] >> s) | (seed_words[q + w + 1] << left)) & reversed_key_words[w]
            acc ^= acc >> np.uint64(32)
            acc ^= acc >> np.uint64(16)
            acc ^= acc >> np.uint64(8)
            acc ^= acc >> np.uint64(4)
            acc ^= acc >> np.uint64(2)
            acc ^= acc >> np.uint64(1)
            out[i] = np.uint8(acc & np.uint64(1))


if _numba is not None:

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_chain(gen, num_pulses, click_probability, gap_scale, dead_time_pulses, afterpulse_probability,
                     dead_time_left, afterpulse_due, positions, piece):
        # The rounds of detections._event_chain, draw for draw: a round draws ``size`` exponentials,
        # then (afterpulsing) ``size`` uniforms, and keeps the clicks before the batch's end. Without
        # afterpulses the exponentials are drawn ``piece`` at a time (the same numbers: numba draws them
        # one by one either way), every one of the round's, so ``gen`` ends where the NumPy path leaves
        # it. ``positions``: an array of the dtype of the result (int32 or int64), grown as needed.
        d = dead_time_pulses
        position = dead_time_left - d - 1
        fires_last = afterpulse_due
        mean_gap = d + 1.0 / click_probability if click_probability > 0.0 else math.inf
        forced = np.empty(positions.size, dtype=np.bool_)
        count = 0
        while position + d + 1 < num_pulses:
            if click_probability <= 0.0 and not fires_last:
                break
            left = num_pulses - position
            size = int(min(max(64.0, 1.1 * left / mean_gap + 4.0 * math.sqrt(left / mean_gap) + 16), 16777216.0))
            draw_exponentials = 0.0 < click_probability < 1.0
            step_piece = size if afterpulse_probability > 0.0 else min(size, piece)
            if count + size > positions.size:
                grown = max(2 * positions.size, count + size)
                positions = np.concatenate((positions[:count], np.empty(grown - count, dtype=positions.dtype)))
                forced = np.concatenate((forced[:count], np.empty(grown - count, dtype=np.bool_)))
            pos = position
            keep = 0
            left_batch = False
            has_fire = afterpulse_probability > 0.0
            fire = np.zeros(0, dtype=np.bool_)
            for first in range(0, size, step_piece):
                count_piece = min(step_piece, size - first)
                exponentials = gen.standard_exponential(count_piece) if draw_exponentials else np.zeros(0)
                if first == 0 and has_fire:
                    fire = gen.random(size) < afterpulse_probability
                if left_batch:
                    continue  # the round's remaining exponentials are drawn all the same
                for jj in range(count_piece):
                    j = first + jj
                    forced_now = fires_last if j == 0 else (has_fire and fire[j - 1])
                    if forced_now or click_probability >= 1.0:
                        step = 1
                    elif click_probability > 0.0:
                        step = 1 + np.int64(exponentials[jj] * gap_scale)
                    else:
                        step = num_pulses + 1
                    pos += step + d
                    if pos >= num_pulses:
                        left_batch = True
                        break
                    positions[count] = pos
                    forced[count] = forced_now
                    count += 1
                    keep += 1
            if keep < size:
                if keep > 0:
                    position, fires_last = positions[count - 1], has_fire and fire[keep - 1]
                break
            position, fires_last = pos, has_fire and fire[size - 1]
        return positions[:count], forced[:count], position, fires_last

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_clicks(gen, row_states, bits, index, forced, edges_click, edges_weight, ratio, arrival,
                      attacked, eve_learns, one_photon, cdf, cdf_len, intensity_class, p_b, z_alice, z_bob,
                      one_minus_ed, eve_mode, eve_basis, num_pulses, dead_time_pulses, num_classes, segment):
        # What the NumPy path of detections.detect_batch does with array operations (its comments
        # say why), ``segment`` clicks at a time: their uniforms (row r of the NumPy path's (7, n)
        # array, and Eve's u_learns as row 7) come from the SFC64 states ``row_states[r]`` at the rows'
        # starts, so no (7, n) array is made. In a segment, two loops: a branch-free one for the usual
        # click (one photon or none, no background click, no afterpulse, no Eve), then the full logic
        # for the others, in click order, so that the binomials of several-photon clicks (the only
        # draws from ``gen`` here) come in the order in which the NumPy path draws them.
        n = index.size
        cls = np.empty(n, dtype=np.uint8)
        alice_basis = np.empty(n, dtype=np.uint8)
        alice_bit = np.empty(n, dtype=np.uint8)
        bob_basis = np.empty(n, dtype=np.uint8)
        bob_bit = np.empty(n, dtype=np.uint8)
        double = np.zeros(n, dtype=np.bool_)
        eve_knows = np.zeros(n, dtype=np.bool_)
        dark_scale = 1.0 - (1.0 - p_b) ** 2
        some_below = 2.0 * p_b - p_b * p_b
        p_b2 = p_b * p_b
        num_rows = row_states.shape[0]
        u = np.empty((num_rows, segment), dtype=np.float64)
        config = np.empty(segment, dtype=np.uint8)
        other = np.ones(segment, dtype=np.bool_)  # a click for the second loop
        for lo in range(0, n, segment):
            m = min(segment, n - lo)
            for r in range(num_rows):
                _numba_sfc64_uniforms(row_states[r], u[r, :m])
            config[:m] = 0
            for j in range(edges_click.size):  # categorical draw of a normal click's configuration
                edge = edges_click[j]
                for i in range(m):
                    config[i] += u[0, i] >= edge
            if eve_mode == 0:
                for i in range(m):  # (no loop-carried state: the compiler vectorises it)
                    g = lo + i
                    k = config[i]
                    arrived = u[1, i] < ratio[k]
                    v = u[2, i] if arrived else u[2, i] * dark_scale
                    b = bits[g]
                    a_basis = np.uint8(u[3, i] >= z_alice)
                    a_bit = b & np.uint8(1)
                    b_basis = np.uint8(u[4, i] >= z_bob)
                    correct = arrived & (u[5, i] < (one_minus_ed if a_basis == b_basis else 0.5))
                    cls[g] = intensity_class[k]
                    alice_basis[g] = a_basis
                    alice_bit[g] = a_bit
                    bob_basis[g] = b_basis
                    bob_bit[g] = a_bit ^ np.uint8(not correct)  # the wrong detector when not the correct one
                    other[i] = forced[g] | (v < some_below) | (arrived & (u[6, i] >= one_photon[k]))
            for i in range(m):
                if not other[i]:
                    continue
                g = lo + i
                is_forced = forced[g]
                k = 0
                if is_forced:
                    for j in range(edges_weight.size):
                        k += u[0, i] >= edges_weight[j]
                else:
                    k = config[i]
                arrived = u[1, i] < (arrival[k] if is_forced else ratio[k])
                v = u[2, i]
                if not (is_forced | arrived):
                    v *= dark_scale
                dark_correct = dark_wrong = False
                if v < some_below:  # a background click (rare unless forced)
                    dark_correct = v < p_b
                    dark_wrong = (v < p_b2) | (v >= p_b)
                b = bits[g]
                a_basis = np.uint8(u[3, i] >= z_alice)
                a_bit = b & np.uint8(1)
                b_basis = np.uint8(u[4, i] >= z_bob)
                s_basis, s_bit = a_basis, a_bit
                knows = False
                if eve_mode == 1:  # intercept-resend
                    e_basis = (b >> np.uint8(3)) & np.uint8(1) if eve_basis < 0 else np.uint8(eve_basis)
                    right = e_basis == a_basis
                    hit = attacked[k] & (arrived | (u[7, i] < eve_learns[k]))
                    if hit:
                        s_basis = e_basis
                        s_bit = a_bit if right else (b >> np.uint8(4)) & np.uint8(1)
                    knows = hit & right
                elif eve_mode == 2:  # beam splitting
                    knows = attacked[k] & (u[7, i] < eve_learns[k])
                r_correct = one_minus_ed if b_basis == s_basis else 0.5
                correct = arrived & (u[5, i] < r_correct)
                wrong = arrived & (not correct)
                if arrived & (u[6, i] >= one_photon[k]):  # several photons (rare for weak pulses)
                    photons = 1
                    for j in range(cdf_len[k]):
                        photons += cdf[k, j] <= u[6, i]
                    num_correct = gen.binomial(photons, r_correct)
                    correct = num_correct > 0
                    wrong = photons - num_correct > 0
                click_correct = correct | dark_correct
                click_wrong = wrong | dark_wrong
                if is_forced:  # the afterpulse fires the correct detector when its bit is the state's
                    to_correct = ((b >> np.uint8(2)) & np.uint8(1)) == s_bit
                    click_correct |= to_correct
                    click_wrong |= not to_correct
                both = click_correct & click_wrong
                if both:
                    bob_bit[g] = (b >> np.uint8(1)) & np.uint8(1)
                else:
                    bob_bit[g] = s_bit ^ np.uint8(not click_correct)
                cls[g] = intensity_class[k]
                alice_basis[g] = a_basis
                alice_bit[g] = a_bit
                bob_basis[g] = b_basis
                double[g] = both
                eve_knows[g] = knows
        sent = np.zeros(num_classes, dtype=np.int64)
        for i in range(n):
            sent[cls[i]] += 1
        blind = 0
        if dead_time_pulses > 0:
            for i in range(n):
                blind += min(dead_time_pulses, num_pulses - 1 - np.int64(index[i]))
        return cls, alice_basis, alice_bit, bob_basis, bob_bit, double, eve_knows, sent, blind

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_table(intensity_class, alice_basis, bob_basis, alice_bit, bob_bit, eve_knows, double_click):
        # bincount of detections.detection_counts' code (class << 5 | five flags) in one pass.
        table = np.zeros(256 * 32, dtype=np.int64)
        for i in range(intensity_class.size):
            sifted = alice_basis[i] == bob_basis[i]
            error = sifted and alice_bit[i] != bob_bit[i]
            code = ((np.int64(intensity_class[i]) << 5) | (np.int64(alice_basis[i]) << 4) | (np.int64(sifted) << 3)
                    | (np.int64(error) << 2) | (np.int64(eve_knows[i]) << 1) | np.int64(double_click[i]))
            table[code] += 1
        return table


    @_numba.njit(cache=True, boundscheck=False)
    def _numba_sfc64_uniforms(state, out):
        # NumPy's SFC64 step (Chris Doty-Humphrey's Small Fast Chaotic PRNG, numpy/random/src/sfc64)
        # and its next_double, (x >> 11)·2^-53, written out so that the loop keeps the state in registers.
        a, b, c, w = state[0], state[1], state[2], state[3]
        for i in range(out.size):
            tmp = a + b + w
            w += np.uint64(1)
            a = b ^ (b >> np.uint64(11))
            b = c + (c << np.uint64(3))
            c = ((c << np.uint64(24)) | (c >> np.uint64(40))) + tmp
            out[i] = np.float64(tmp >> np.uint64(11)) * (1.0 / 9007199254740992.0)
        state[0], state[1], state[2], state[3] = a, b, c, w


if _numba is not None:

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_sfc64_row_starts(state, row_length, num_rows):
        # The SFC64 state at the start of each of ``num_rows`` rows of ``row_length`` values (the steps of
        # _numba_sfc64_uniforms without the doubles); ``state`` is left after the last row.
        starts = np.empty((num_rows, 4), dtype=np.uint64)
        a, b, c, w = state[0], state[1], state[2], state[3]
        for r in range(num_rows):
            starts[r, 0], starts[r, 1], starts[r, 2], starts[r, 3] = a, b, c, w
            for _i in range(row_length):
                tmp = a + b + w
                w += np.uint64(1)
                a = b ^ (b >> np.uint64(11))
                b = c + (c << np.uint64(3))
                c = ((c << np.uint64(24)) | (c >> np.uint64(40))) + tmp
        state[0], state[1], state[2], state[3] = a, b, c, w
        return starts


def has_detection_kernels() -> bool:
    """True when the detection sampler's kernels can run (numba installed, ``DQSIM_FAST_KERNELS`` not ``0``)."""
    return _numba is not None and enabled()


def sfc64_uniforms(state: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` (1-D float64) with the uniforms of NumPy's SFC64 from ``state`` (4 uint64 words, advanced in
    place): ``Generator.random``'s doubles, ``(x >> 11)·2^-53``, drawn inline (about 1 ns a number on the dev VM
    against 1.7 through NumPy). Row starts: :func:`sfc64_row_starts`."""
    if not has_detection_kernels():
        raise RuntimeError("sfc64_uniforms needs numba; callers check has_detection_kernels() first")
    _numba_sfc64_uniforms(state, out)


#: Exponentials of the chain drawn at a time without afterpulses (:func:`detection_chain`): 512 KiB.
CHAIN_PIECE = 1 << 16
#: Clicks whose uniforms :func:`detection_clicks` holds at a time: 7 or 8 rows of float64, 224-256 KiB.
CLICK_SEGMENT = 1 << 12


def detection_chain(gen: np.random.Generator, num_pulses: int, click_probability: float, dead_time_pulses: int,
                    afterpulse_probability: float, dead_time_left: int, afterpulse_due: bool, *,
                    index_dtype=np.int64) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """The registered clicks of a batch as a renewal chain, drawn from ``gen``.

    The chain of :func:`dqsim.protocols.qkd.detections.detect_batch` (its
    module docstring has the model): gaps ``d + Geometric(P)`` between
    registered clicks, ``d + 1`` after one that fires an afterpulse. The same
    draws from ``gen`` in the same order as the NumPy path
    (``detections._event_chain``), so the same clicks and the same state of
    ``gen`` afterwards. Without afterpulses the exponentials are drawn
    :data:`CHAIN_PIECE` at a time (the same numbers), so the chain holds the
    clicks and 512 KiB of draws, not 8 bytes per expected click as well
    (before 2026-12-06; with afterpulses a round's draws are still held whole,
    the afterpulse uniforms coming after them).

    Args:
        gen: the batch's NumPy generator (drawn from, advanced in place).
        num_pulses: pulses in the batch, >= 0.
        click_probability: P, the click probability of a watched pulse, in [0, 1].
        dead_time_pulses: d, pulses blinded after a registered click, >= 0.
        afterpulse_probability: probability that a registered click fires an afterpulse, in [0, 1].
        dead_time_left: pulses still blinded at the batch's start, >= 0.
        afterpulse_due: an afterpulse falls on the first pulse after ``dead_time_left``.
        index_dtype: ``numpy.int64``, or ``numpy.int32`` when ``num_pulses <= 2**31``.

    Returns:
        ``(index, forced, position, fires_last)``: the registered pulses (of
        ``index_dtype``, increasing), whether each is an afterpulse (bool), the last click's
        position (that of a virtual click before the batch when there is none)
        and whether it fires an afterpulse.

    Raises:
        RuntimeError: numba missing or turned off (callers check :func:`has_detection_kernels` first).
    """
    if not has_detection_kernels():
        raise RuntimeError("detection_chain needs numba; callers check has_detection_kernels() first")
    gap_scale = -1.0 / math.log1p(-click_probability) if 0.0 < click_probability < 1.0 else 0.0
    index, forced, position, fires_last = _numba_chain(
        gen, int(num_pulses), float(click_probability), gap_scale, int(dead_time_pulses),
        float(afterpulse_probability), int(dead_time_left), bool(afterpulse_due), np.empty(64, dtype=index_dtype),
        CHAIN_PIECE)
    return index, forced, int(position), bool(fires_last)


def sfc64_row_starts(gen: np.random.Generator, row_length: int, num_rows: int) -> np.ndarray:
    """The states of ``gen`` at the starts of the rows of ``gen.random((num_rows, row_length))``.

    Steps NumPy's SFC64 (Chris Doty-Humphrey's Small Fast Chaotic PRNG, ``numpy/random/src/sfc64``) without
    making the doubles, about 0.6 ns a value on the dev VM, and leaves ``gen`` where that draw leaves it (its
    32-bit buffer for ``bytes`` untouched, as NumPy's doubles leave it). Row ``r``'s uniforms are then
    :func:`sfc64_uniforms` of ``starts[r]``, in pieces of any length.

    Args:
        gen: a generator on SFC64 (advanced in place).
        row_length: uniforms per row, >= 0.
        num_rows: rows, >= 0.

    Returns:
        ``(num_rows, 4)`` uint64: the four state words at each row's start.

    Raises:
        RuntimeError: numba missing or turned off.
        ValueError: ``gen`` does not run on SFC64.
    """
    if not has_detection_kernels():
        raise RuntimeError("sfc64_row_starts needs numba; callers check has_detection_kernels() first")
    if not isinstance(gen.bit_generator, np.random.SFC64):
        raise ValueError(f"sfc64_row_starts: gen must run on SFC64, got {type(gen.bit_generator).__name__}")
    state = gen.bit_generator.state
    words = np.array(state["state"]["state"], dtype=np.uint64)
    starts = _numba_sfc64_row_starts(words, int(row_length), int(num_rows))
    state["state"]["state"] = words
    gen.bit_generator.state = state
    return starts


def detection_clicks(gen: np.random.Generator, index: np.ndarray, forced: np.ndarray, tables: dict, *,
                     p_background: float, z_alice: float, z_bob: float, misalignment: float, eve_mode: int,
                     eve_basis: int, num_pulses: int, dead_time_pulses: int, num_classes: int,
                     piece_clicks: int | None = None):
    """What Bob records at each registered click, its draws made here (the NumPy path's array work), a piece of
    clicks at a time.

    Draws from ``gen`` what the NumPy path of
    :func:`dqsim.protocols.qkd.detections.detect_batch` draws after the chain, in
    its order: ``(7, n)`` uniforms, ``n`` random bytes (``gen.bytes``: bit 0
    Alice's bit, 1 a double click's bit, 2 an afterpulse's detector, 3 Eve's
    basis, 4 Eve's bit), ``n`` uniforms for Eve's knowledge (with Eve), then the
    binomials of several-photon clicks in click order. The uniforms are not
    held: the SFC64 states at their rows' starts are found first (the
    generator's steps without the doubles, about 0.6 ns a value on the dev VM),
    then each segment of :data:`CLICK_SEGMENT` clicks draws its own, so the
    clicks' temporaries are a quarter MiB and not the 56-64 bytes a click
    they were until 2026-12-06. The same numbers, so the same batch bit for bit.

    Args:
        gen: the batch's generator (SFC64), after the chain (drawn from, advanced in place).
        index, forced: the chain of :func:`detection_chain`.
        tables: float64/bool/int arrays per configuration ``k`` (``edges_click``,
            ``edges_weight``: the categorical edges, empty when nothing can be drawn; ``ratio``
            a/q, ``arrival`` a, ``attacked``, ``eve_learns``, ``one_photon`` P(m = 1 | m >= 1),
            ``cdf`` (K, L) zero-truncated Poisson CDFs padded, ``cdf_len``, ``intensity_class``).
        p_background: background click probability per detector, in [0, 1].
        z_alice, z_bob: Z-basis probabilities of Alice and Bob, in [0, 1].
        misalignment: e_d, in [0, 1].
        eve_mode: 0 none, 1 intercept-resend, 2 beam splitting.
        eve_basis: Eve's fixed basis (0 Z, 1 X), -1 random.
        num_pulses: pulses in the batch.
        dead_time_pulses: d, >= 0.
        num_classes: intensity classes, in [1, 255].
        piece_clicks: clicks per piece, a positive multiple of 8 (``None``: all in one piece).

    Yields:
        ``(first, (intensity_class, alice_basis, alice_bit, bob_basis, bob_bit, double_click,
        eve_knows), sent, blind)`` per piece of clicks from ``first``, in order: the piece's per-click
        arrays, its clicks per class and the pulses blinded by its clicks' dead time inside the batch
        (nothing for a batch without clicks). Draw the pieces in order, each before the next: they
        share ``gen`` (the binomials of several-photon clicks).

    Raises:
        RuntimeError: numba missing or turned off.
        ValueError: ``gen`` does not run on SFC64 (the NumPy backend's generators do).
    """
    if not has_detection_kernels():
        raise RuntimeError("detection_clicks needs numba; callers check has_detection_kernels() first")
    n = int(index.shape[0])
    if piece_clicks is not None and (piece_clicks <= 0 or piece_clicks % 8):
        raise ValueError(f"detection_clicks: piece_clicks must be a positive multiple of 8, got {piece_clicks}")
    starts = sfc64_row_starts(gen, n, 7)
    bits = np.frombuffer(gen.bytes(n), dtype=np.uint8)
    if eve_mode:
        starts = np.concatenate([starts, sfc64_row_starts(gen, n, 1)])
    t = tables
    step = max(n, 1) if piece_clicks is None else piece_clicks
    for first in range(0, n, step):  # ``starts`` and ``gen`` carry over from piece to piece
        last = min(first + step, n)
        *arrays, sent, blind = _numba_clicks(
            gen, starts, bits[first:last], index[first:last], forced[first:last], t["edges_click"],
            t["edges_weight"], t["ratio"], t["arrival"], t["attacked"], t["eve_learns"], t["one_photon"], t["cdf"],
            t["cdf_len"], t["intensity_class"], float(p_background), float(z_alice), float(z_bob),
            1.0 - float(misalignment), int(eve_mode), int(eve_basis), int(num_pulses), int(dead_time_pulses),
            int(num_classes), CLICK_SEGMENT)
        yield first, tuple(arrays), sent, int(blind)


def detection_table(intensity_class: np.ndarray, alice_basis: np.ndarray, bob_basis: np.ndarray,
                    alice_bit: np.ndarray, bob_bit: np.ndarray, eve_knows: np.ndarray,
                    double_click: np.ndarray) -> np.ndarray:
    """Counts of (class, Alice's basis, sifted, error, Eve knows, double click) over the clicks.

    The ``bincount`` of :func:`dqsim.protocols.qkd.detections.detection_counts`
    in one pass: entry ``class·32 + basis·16 + sifted·8 + error·4 + eve·2 + double``.

    Args:
        intensity_class, alice_basis, bob_basis, alice_bit, bob_bit: uint8 per click (0/1 but the class).
        eve_knows, double_click: bool per click.

    Returns:
        int64 array of 256·32 counts.

    Raises:
        RuntimeError: numba missing or turned off.
    """
    if not has_detection_kernels():
        raise RuntimeError("detection_table needs numba; callers check has_detection_kernels() first")
    return _numba_table(intensity_class, alice_basis, bob_basis, alice_bit, bob_bit, eve_knows, double_click)


def has_cascade() -> bool:
    """True when :func:`cascade_on_errors` can run (numba installed, ``DQSIM_FAST_KERNELS`` not ``0``)."""
    return _numba is not None and enabled()


def cascade_on_errors(num_bits: int, errors: np.ndarray, places: np.ndarray, order: np.ndarray,
                      sizes: np.ndarray, depths: np.ndarray, *,
                      sequential: bool = False) -> tuple[int, int, int, np.ndarray]:
    """Run every pass of Cascade on a key whose wrong bits are ``errors``: which it flips, at what leakage.

    The algorithm of :func:`dqsim.protocols.qkd.reconciliation.cascade`
    (its docstring has the protocol and its source): pass ``p`` splits the
    key, read in its pass's order, into blocks of ``sizes[p]`` bits and
    compares their parities (one round); each wave bisects every odd block in (pass,
    block) order, flips the bit found and toggles the block that holds it in
    every pass so far; a wave costs the largest ``depths[q]`` of the blocks it
    bisected in rounds. With ``sequential``, Brassard and Salvail's own order
    (EUROCRYPT 1993): one odd block at a time, always the smallest (the earliest
    pass's, then the lowest-numbered), so that a flip's cascade into the earlier
    passes is resolved before the next block is opened; each parity of a
    bisection is then a round of its own. A parity of Alice's and Bob's bits differs exactly when
    its range holds an odd number of wrong bits, and a bisection ends on a wrong
    bit: so the passes are computed on the wrong bits alone, where each pass reads
    them (``places``; :func:`shuffled_places`), at a cost that grows with their
    number and the number of blocks, not with the key's length.

    Args:
        num_bits: n, the key's length, bits, >= 1.
        errors: the key positions of the wrong bits (Alice's key XOR Bob's), int64, m of them, increasing.
        places: ``(num_passes, m)`` int32 (where ``num_passes · n`` < 2^31) or int64, ``places[p, e]`` where pass
            p reads wrong bit e (in [0, n), distinct in each row; row 0 ``errors`` for the unshuffled first pass).
            The kernel's own arrays, per block and per wrong bit, take its type.
        order: ``(num_passes, m)``, ``places``' type, row p the indices e sorted by ``places[p, e]``.
        sizes: block size of each pass, int64, each in [1, n].
        depths: rounds of one bisection of a block of each pass, int64 (⌈log2 max(2, size)⌉; unused with
            ``sequential``).
        sequential: bisect the smallest odd block first, one parity a round (else every odd block of a wave
            at once).

    Returns:
        ``(leakage_bits, rounds, bits_flipped, flipped)``: ``flipped`` a bool per wrong bit, true where
        Cascade flipped it (no other bit is ever flipped, and none twice).

    Raises:
        RuntimeError: numba missing or turned off (callers check :func:`has_cascade` first).
    """
    if not has_cascade():
        raise RuntimeError("cascade_on_errors needs numba; callers check has_cascade() first")
    alive = np.ones(errors.size, dtype=np.uint8)
    leak, rounds, flipped = _numba_sparse_cascade(int(num_bits), errors, places, order, sizes, depths, alive,
                                                  bool(sequential))
    return int(leak), int(rounds), int(flipped), alive == 0


def _philox_words(gen: np.random.Generator) -> np.ndarray:
    """A Philox generator's whole state as 13 uint64 words (counter, key, buffer, buffer_pos, has_uint32, uinteger)."""
    state = gen.bit_generator.state
    words = np.empty(13, dtype=np.uint64)
    words[0:4] = state["state"]["counter"]
    words[4:6] = state["state"]["key"]
    words[6:10] = state["buffer"]
    words[10:13] = state["buffer_pos"], state["has_uint32"], state["uinteger"]
    return words


def _set_philox_words(gen: np.random.Generator, words: np.ndarray) -> None:
    """Set a Philox generator's counter, buffer and kept 32-bit half from :func:`_philox_words`' layout."""
    state = gen.bit_generator.state
    state["state"]["counter"] = words[0:4].copy()
    state["buffer"] = words[6:10].copy()
    state["buffer_pos"], state["has_uint32"], state["uinteger"] = (int(w) for w in words[10:13])
    gen.bit_generator.state = state


#: Positions of a shuffle that :func:`shuffled_places` draws at a time (int32: 64 KiB), then follows the
#: elements through their swaps; the whole row at once took 4 bytes a key bit (until 2026-12-06).
SHUFFLE_DRAWS_CHUNK = 1 << 14


def shuffled_places(gen: np.random.Generator, num_bits: int, elements: np.ndarray, places: np.ndarray,
                    order: np.ndarray) -> None:
    """Where each of ``places.shape[0]`` successive ``gen.permutation(num_bits)`` puts each of ``elements``.

    Row p of ``places`` gets, for each element x, the index j with
    ``perm_p[j] = x`` (the inverse permutation at x), and row p of ``order``
    the element indices sorted by it, where ``perm_p`` is the p-th of
    ``[gen.permutation(num_bits) for each row]``, and ``gen`` is left as those
    calls leave it. With a Philox generator and numba, the shuffles are drawn as
    :func:`permutations` draws them (:data:`SHUFFLE_DRAWS_CHUNK` positions at a time),
    but only the elements are followed through their swaps (a bit per place says
    which places hold one, a hash table of those places which), so that no
    permutation of ``num_bits`` entries is written or inverted: for the wrong bits of
    Cascade (:func:`cascade_on_errors`), 1-3 % of the key; the memory is a bit a
    place (a byte until 2026-12-06) and some 32 bytes an element. Else by NumPy
    (``gen.permutation``, inverted).

    Args:
        gen: the generator to draw from (advanced in place).
        num_bits: n, the length of each permutation, >= 1.
        elements: distinct int64 values in [0, n), m of them.
        places, order: ``(rows, m)`` int32 (``num_bits`` < 2^31) or int64 arrays, C order (overwritten).

    Examples:
        >>> places, order = np.empty((2, 3), np.int64), np.empty((2, 3), np.int64)
        >>> shuffled_places(np.random.Generator(np.random.Philox(3)), 6, np.array([0, 4, 5]), places, order)
        >>> g = np.random.Generator(np.random.Philox(3))
        >>> [np.argsort(g.permutation(6))[[0, 4, 5]].tolist() for _ in range(2)] == places.tolist()
        True
    """
    n = int(num_bits)
    if has_cascade() and isinstance(gen.bit_generator, np.random.Philox):
        words = _philox_words(gen)
        m = int(elements.size)
        capacity = 1 << max(4, (2 * m).bit_length())  # more than twice the elements: short probes
        keys = np.empty(capacity, dtype=np.int32 if n < 2**31 else np.int64)
        values = np.empty(capacity, dtype=np.int32 if m < 2**31 else np.int64)
        draws = np.empty(min(n, SHUFFLE_DRAWS_CHUNK), dtype=np.int32 if n < 2**31 else np.int64)
        _numba_philox_places(words, np.ascontiguousarray(elements, dtype=np.int64), places, order, draws,
                             np.empty(-(-n // 64), dtype=np.uint64), n, keys, values, 64 - (capacity.bit_length() - 1))
        _set_philox_words(gen, words)
        return
    inverse = np.empty(n, dtype=np.int64)
    for p in range(places.shape[0]):
        inverse[gen.permutation(n)] = np.arange(n)
        places[p] = inverse[elements]
        order[p] = np.argsort(places[p], kind="stable")


def permutations(gen: np.random.Generator, out: np.ndarray) -> np.ndarray:
    """Fill each row of ``out`` with ``gen.permutation(n)``, drawn faster when ``gen`` runs on Philox.

    NumPy's ``permutation`` shuffles ``arange(n)`` by Fisher-Yates, each
    position drawn through a call of the bit generator (about 20 ns a
    position on the dev VM at n = 1e6); this loop computes Philox4x64-10
    in batches of :data:`PHILOX_BATCH_BLOCKS` counters from the generator's
    state, draws all the positions of a row from them (n more integers of
    ``out``'s type held meanwhile) and then swaps, and
    writes back the state that NumPy's draws would have left (counter,
    buffer, kept 32-bit half), so ``out`` and ``gen`` end as
    ``[gen.permutation(n) for each row]`` leaves them. Other bit generators, or
    without numba: ``gen.permutation``.

    Args:
        gen: the generator to draw from (advanced in place).
        out: ``(rows, n)`` int32 or int64 array, C order, n < 2^31 for int32 (overwritten).

    Returns:
        ``out``.

    Examples:
        >>> a = permutations(np.random.Generator(np.random.Philox(3)), np.empty((2, 5), np.int64))
        >>> b = np.random.Generator(np.random.Philox(3))
        >>> a.tolist() == [b.permutation(5).tolist(), b.permutation(5).tolist()]
        True
    """
    if out.ndim != 2 or out.dtype not in (np.int32, np.int64) or not out.flags.c_contiguous:
        raise ValueError(f"permutations: out must be a C-ordered 2-d int32/int64 array, got {out.dtype} {out.shape}")
    if out.dtype == np.int32 and out.shape[1] >= 2**31:
        raise ValueError(f"permutations: out must be int64 for rows of 2^31 or more, got {out.shape[1]}")
    if not (has_cascade() and isinstance(gen.bit_generator, np.random.Philox)):
        for p in range(out.shape[0]):
            out[p] = gen.permutation(out.shape[1])
        return out
    words = _philox_words(gen)
    _numba_philox_shuffles(words, out)
    _set_philox_words(gen, words)
    return out


def split_sample(gen: np.random.Generator, alice: np.ndarray, bob: np.ndarray,
                 fraction: float) -> tuple[int, int, np.ndarray, np.ndarray]:
    """The bits where ``gen.random(n) < fraction`` counted (with their errors), the others kept.

    ``sample = gen.random(alice.size) < fraction`` then ``(count of sample, count of alice != bob in it,
    alice[~sample], bob[~sample])``, the same numbers and ``gen`` left the same, for key bits (zeros and
    ones): :func:`split_packed_sample` on the keys packed (the doubles computed from a Philox generator's
    state in the loop that splits them, where numba is; else NumPy).

    Args:
        gen: the generator to draw from (advanced in place).
        alice, bob: 1-d arrays of zeros and ones, of one length (the kept bits come back in ``alice``'s dtype).
        fraction: the probability threshold, float.

    Returns:
        ``(num_sampled, num_errors, alice_kept, bob_kept)``.

    Examples:
        >>> a = np.array([0, 1, 1, 0, 1, 0], np.uint8); b = np.array([0, 1, 0, 0, 1, 1], np.uint8)
        >>> m, k, ka, kb = split_sample(np.random.Generator(np.random.Philox(3)), a, b, 0.5)
        >>> u = np.random.Generator(np.random.Philox(3)).random(6) < 0.5
        >>> (m, k, ka.tolist(), kb.tolist()) == (u.sum(), (a != b)[u].sum(), a[~u].tolist(), b[~u].tolist())
        True
    """
    alice, bob = np.asarray(alice), np.asarray(bob)
    if alice.ndim != 1 or alice.shape != bob.shape:
        raise ValueError(f"split_sample: alice and bob must be 1-d of one length, got {alice.shape}, {bob.shape}")
    sampled, errors, kept, alice_kept, errors_kept = split_packed_sample(
        gen, np.packbits(alice.astype(np.uint8, copy=False)), alice.size, np.flatnonzero(alice != bob), fraction)
    kept_a = np.unpackbits(alice_kept, count=kept).astype(alice.dtype, copy=False)
    kept_b = kept_a.copy()
    kept_b[errors_kept] ^= 1
    return sampled, errors, kept_a, kept_b


def split_packed_sample(gen: np.random.Generator, alice: np.ndarray, num_bits: int, errors: np.ndarray,
                        fraction: float) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """The QBER sample of a packed key pair: the bits where ``gen.random(n) < fraction`` counted, the others kept.

    The keys are Alice's ``num_bits`` bits packed (``numpy.packbits``) and the positions where Bob's
    differ (:class:`dqsim.protocols.qkd.packed_bits.PackedKeyPair`); the bits kept come back the same
    way, so no key is unpacked (with a Philox generator and numba: one compiled pass; else NumPy on the
    unpacked bits).

    Args:
        gen: the generator to draw from (advanced in place).
        alice: Alice's bits, packed, ``⌈num_bits/8⌉`` bytes.
        num_bits: n, bits, >= 0.
        errors: increasing int64 positions in [0, n) where Bob's bit differs.
        fraction: the probability threshold, float.

    Returns:
        ``(num_sampled, num_errors, num_kept, alice_kept, errors_kept)``: Alice's kept bits packed
        (``⌈num_kept/8⌉`` bytes) and the positions among them where Bob's differ.

    Examples:
        >>> a = np.array([0, 1, 1, 0, 1, 0], np.uint8); b = np.array([0, 1, 0, 0, 1, 1], np.uint8)
        >>> m, k, kept, ka, ke = split_packed_sample(np.random.Generator(np.random.Philox(3)), np.packbits(a), 6,
        ...                                          np.flatnonzero(a != b), 0.5)
        >>> u = np.random.Generator(np.random.Philox(3)).random(6) < 0.5
        >>> (m, k, np.unpackbits(ka, count=kept).tolist(), ke.tolist()) == (u.sum(), (a != b)[u].sum(), a[~u].tolist(),
        ...                                                                   np.flatnonzero((a != b)[~u]).tolist())
        True
    """
    n = int(num_bits)
    errors = np.ascontiguousarray(errors, dtype=np.int64)
    if has_cascade() and isinstance(gen.bit_generator, np.random.Philox):
        words = _philox_words(gen)
        kept_words = np.zeros(-(-n // 64), dtype=np.uint64)
        kept_errors = np.empty(errors.size + 1, dtype=np.int64)
        sampled, sampled_errors, kept, num_kept_errors = _numba_philox_sample_packed(
            words, np.ascontiguousarray(alice, dtype=np.uint8), n, errors, float(fraction), kept_words, kept_errors)
        _set_philox_words(gen, words)
        packed = kept_words.astype(">u8", copy=False).view(np.uint8)[:-(-int(kept) // 8)].copy()
        return int(sampled), int(sampled_errors), int(kept), packed, kept_errors[:num_kept_errors].copy()
    sample = gen.random(n) < fraction
    wrong = np.zeros(n, dtype=bool)
    wrong[errors] = True
    bits = np.unpackbits(alice, count=n)[~sample]
    return (int(np.count_nonzero(sample)), int(np.count_nonzero(wrong[sample])), int(bits.size), np.packbits(bits),
            np.flatnonzero(wrong[~sample]))


def skip_random_bits(gen: np.random.Generator, num_bits: int) -> bool:
    """Advance ``gen`` as ``gen.integers(0, 2, num_bits, dtype=np.uint8)`` does, without drawing the bits.

    NumPy draws such bits by Lemire's method on bytes of 32-bit values, four
    bits a value (``random_bounded_uint8_fill``; for two outcomes it never
    rejects), so the generator moves on by ``⌈num_bits / 4⌉`` values of
    ``next_uint32``: a Philox generator's state after them is computed
    directly (one block). For bits that are drawn only to keep the draws
    after them the same (the verification seed of a key Cascade left without an error).

    Args:
        gen: the generator (advanced in place where this returns ``True``).
        num_bits: bits the call would draw, >= 0.

    Returns:
        ``True`` when ``gen`` was advanced; ``False`` (``gen`` untouched: the caller draws the bits)
        without numba or for another bit generator than Philox.

    Examples:
        >>> a, b = np.random.Generator(np.random.Philox(3)), np.random.Generator(np.random.Philox(3))
        >>> _ = a.integers(0, 2, 1001, dtype=np.uint8)
        >>> if not skip_random_bits(b, 1001):
        ...     _ = b.integers(0, 2, 1001, dtype=np.uint8)
        >>> a.random() == b.random()
        True
    """
    if not (has_cascade() and isinstance(gen.bit_generator, np.random.Philox)):
        return False
    words = _philox_words(gen)
    _numba_philox_skip(words, -(-int(num_bits) // 4))
    _set_philox_words(gen, words)
    return True


@functools.cache
def _compiles_for_pclmul() -> bool:
    """numba compiles for this x86-64 CPU (its default) and the CPU has PCLMULQDQ (asked once: ~0.2 ms)."""
    if _numba is None or platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    if _numba.config.CPU_NAME not in (None, "host") or _numba.config.CPU_FEATURES is not None:
        return False  # compiled for another CPU than this one: PCLMULQDQ may not be there
    return "+pclmul" in _llvm.get_host_cpu_features().flatten().split(",")


def has_carryless_product() -> bool:
    """True when :func:`carryless_product` can run: numba, ``DQSIM_FAST_KERNELS`` not ``0``, and numba
    compiling for this x86-64 CPU (its default), which has the PCLMULQDQ instruction."""
    return enabled() and _compiles_for_pclmul()


def carryless_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The product of two binary polynomials (GF(2)[z]), packed 64 coefficients a word.

    Bit ``k % 64`` of word ``k // 64`` is the coefficient of ``z^k``. Karatsuba
    (three half-size products a level) down to :data:`CLMUL_BASE_WORDS`, then
    word by word with x86's carry-less multiplication (PCLMULQDQ): about
    ``(words)^1.58`` word products, against the three FFTs of a real
    convolution of the same bits.

    Args:
        a, b: uint64 words, C order.

    Returns:
        ``a.size + b.size`` uint64 words of the product.

    Raises:
        RuntimeError: numba missing or turned off, or no PCLMULQDQ (callers check
            :func:`has_carryless_product` first).

    Examples:
        >>> if has_carryless_product():  # (1 + z)(1 + z) = 1 + z^2
        ...     print(carryless_product(np.array([3], np.uint64), np.array([3], np.uint64)).tolist())
        ... else:
        ...     print([5, 0])
        [5, 0]
    """
    if not has_carryless_product():
        raise RuntimeError("carryless_product needs numba on an x86-64 CPU with PCLMULQDQ; callers check "
                           "has_carryless_product() first")
    out = np.zeros(a.size + b.size, dtype=np.uint64)
    _clmul_product(np.ascontiguousarray(a, dtype=np.uint64), np.ascontiguousarray(b, dtype=np.uint64), out)
    return out


def has_toeplitz_rows() -> bool:
    """True when :func:`toeplitz_rows` can run (numba installed, ``DQSIM_FAST_KERNELS`` not ``0``)."""
    return _numba is not None and enabled()


def _little_endian_words(bits: np.ndarray, num_words: int) -> np.ndarray:
    """Bits 64 a word, bit k as bit k % 64 of word k // 64, zero-padded to ``num_words`` words."""
    packed = np.zeros(num_words * 8, dtype=np.uint8)
    chunk = np.packbits(bits, bitorder="little")
    packed[:chunk.size] = chunk
    return packed.view(np.uint64)


def toeplitz_rows(bits: np.ndarray, seed_bits: np.ndarray, num_out: int) -> np.ndarray:
    """A few output bits of a Toeplitz hash, ``sum_j seed[i + n - 1 - j]·x[j] mod 2`` for ``i < num_out``, compiled.

    The product that :func:`dqsim.protocols.qkd.reconciliation.toeplitz_hash` defines, row by row on
    64-bit words: output i is the parity of the seed's n-bit window starting at bit i AND the key
    reversed, ``num_out·⌈n/64⌉`` word operations (the verification hash: 50 rows). The NumPy path of
    ``toeplitz_hash`` makes a few array calls per row instead; the carry-less product computes all
    n + num_out - 1 coefficients to keep num_out of them.

    Args:
        bits: the key x, uint8 0/1, n >= 1 bits.
        seed_bits: n + num_out - 1 bits, uint8 0/1.
        num_out: output bits, >= 1.

    Returns:
        ``num_out`` bits, uint8.

    Raises:
        RuntimeError: numba missing or turned off (callers check :func:`has_toeplitz_rows` first).

    Examples:
        >>> x, s = np.array([1, 0, 1, 1], np.uint8), np.array([1, 1, 0, 1, 0], np.uint8)
        >>> toeplitz_rows(x, s, 2).tolist() if has_toeplitz_rows() else [1, 1]
        [1, 1]
    """
    if not has_toeplitz_rows():
        raise RuntimeError("toeplitz_rows needs numba; callers check has_toeplitz_rows() first")
    n = int(bits.size)
    num_words = -(-n // 64)
    key = _little_endian_words(np.ascontiguousarray(bits[::-1], dtype=np.uint8), num_words)
    seed = _little_endian_words(np.ascontiguousarray(seed_bits, dtype=np.uint8),
                                (num_out - 1) // 64 + num_words + 1)
    out = np.empty(num_out, dtype=np.uint8)
    _numba_toeplitz_rows(seed, key, int(num_out), out)
    return out


_NO_MASK = np.zeros(0, dtype=np.bool_)


def select_key_bits(keep_values: np.ndarray, keep_value: int, alice_basis: np.ndarray, bob_basis: np.ndarray,
                    alice_bit: np.ndarray, bob_bit: np.ndarray,
                    detected: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Alice's and Bob's bits of the pulses with equal bases and ``keep_values == keep_value`` (and detected).

    The sifting of a batch's key bits (:mod:`dqsim.protocols.qkd.nodes`: the signal class, or the key
    basis with the finite key), in one compiled pass where numba is, else by NumPy masks; the same bits
    in the same order either way.

    Args:
        keep_values: per pulse, the value that selects it (intensity class, or Alice's basis).
        keep_value: the value kept.
        alice_basis, bob_basis: per pulse, the bases.
        alice_bit, bob_bit: per pulse, the bits (0/1).
        detected: per pulse, whether Bob detected it (``None``: every pulse given was detected).

    Returns:
        ``(alice_key, bob_key)``, uint8, one entry per kept pulse, in pulse order.

    Examples:
        >>> c, a, b = np.array([0, 1, 0, 0]), np.array([0, 0, 1, 1]), np.array([0, 0, 1, 0])
        >>> [k.tolist() for k in select_key_bits(c, 0, a, b, np.array([1, 1, 0, 1]), np.array([1, 0, 0, 1]))]
        [[1, 0], [1, 0]]
    """
    if not (_numba is not None and enabled()):
        mask = (alice_basis == bob_basis) & (keep_values == keep_value)
        if detected is not None:
            mask &= detected
        return alice_bit[mask].astype(np.uint8), bob_bit[mask].astype(np.uint8)
    size = int(keep_values.size)
    out_a = np.empty(size, dtype=np.uint8)
    out_b = np.empty(size, dtype=np.uint8)
    arrays = [np.ascontiguousarray(v) for v in (keep_values, alice_basis, bob_basis, alice_bit, bob_bit)]
    mask = _NO_MASK if detected is None else np.ascontiguousarray(detected, dtype=np.bool_)
    kept = _numba_key_bits(arrays[0], keep_value, *arrays[1:], mask, detected is not None, out_a, out_b)
    return out_a[:kept].copy(), out_b[:kept].copy()
