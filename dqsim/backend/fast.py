"""Compiled gate kernels for the common cases: one pass over the shard.

The generic kernels of :mod:`dqsim.state.kernels` are written once against the
array API and handle every gate; they move the shard several times per gate
(temporaries of ``tensordot``). For 1- and 2-qubit gates, the most common by
far, for the k-qubit blocks of gate fusion (:mod:`dqsim.circuit.fusion`) and
for fused diagonals, this module offers kernels that read and write each
amplitude once:

* on the CPU, numba ``prange`` loops (when numba is installed);
* on the GPU, CuPy ``ElementwiseKernel`` s compiled at first use.

On the CPU, 1- and 2-qubit gates whose controls lie on bits 0-2 and whose
targets do too, or all but one (any bit), run in *register blocks*: 8
consecutive amplitudes (and the 8 at 2^hi further on for a target hi >= 3)
are loaded as one vector, and the gate is a few in-register shuffles and
packed multiply-adds with per-lane coefficients (the IR written with llvmlite
in a numba intrinsic, :func:`_block_intrinsic`); so do uncontrolled 3-qubit
dense blocks: on bits 0-2 by :func:`_numba_dense8_low` (the 8x8 matrix as 16
packed multiply-adds on broadcast reals per block), on any other bits by
:func:`_numba_segments3` (the targets >= 3 index 2, 4 or 8 blocks of 8
amplitudes, :func:`_segments_intrinsic`). 1-qubit dense gates (and
controlled 1-qubit gates, ``x``, ``cx``, ``ccx``) whose target and control
bits are all >= 2 otherwise, and 2-qubit dense gates on bits >= 3, sweep the
shard once in *runs* of consecutive pairs (groups), the complex arithmetic
written out on the real view in small inner functions the compiler vectorises.
Uncontrolled 4- and 5-qubit blocks run in *planar* register blocks: the targets >= 3
index segments of 8 amplitudes, each split into real and imaginary parts (and permuted
within for targets on bits 0-2), the matrix product in the three-multiplication form
(:func:`_planar_intrinsic`). Everything else, controlled k-qubit blocks and those of
k >= 6, runs in cache-sized *tiles*: the 2^k rows of J groups are gathered into split real/imaginary
buffers, multiplied by the matrix in loops the compiler vectorises, and
written back; other permutation matrices (controlled swaps, ``cx`` on the
lowest bits) are copied row to row without arithmetic, touching only the rows
that move. In the runs and tiles, controls are zeros inserted into the group
index, so only the amplitudes whose controls are 1 are read (the register
blocks read and write every amplitude: with a control on bit 0-2, every cache
line holds some whose controls are 1).

Both implement the same contract and are checked against the generic kernels
and the dense reference by the tests. ``DQSIM_FAST_KERNELS=0`` turns them off. The index arithmetic
inserts zero bits at the target positions: pair ``k`` of a 1-qubit gate on bit
``b`` is ``i0 = ((k >> b) << (b+1)) | (k & (2^b − 1))`` and ``i1 = i0 | 2^b``
(the usual state-vector loop, e.g. QuEST's ``statevec_compactUnitary``).
"""

from __future__ import annotations

import functools
import os
import platform

import numpy as np

from dqsim.backend import measure_kernels


def enabled() -> bool:
    """False when the environment variable ``DQSIM_FAST_KERNELS`` is ``0``."""
    return os.environ.get("DQSIM_FAST_KERNELS", "1") != "0"


#: Reals of one block of the register-block kernels (:func:`_block_intrinsic`): 8 amplitudes.
BLOCK_REALS = 16
#: XOR masks of the partners of an amplitude for the one-segment block kernels: targets on bit
#: 0, 1, 2 (1-qubit) and on bits (0, 1), (0, 2), (1, 2) (2-qubit); the index is the kernel's kind.
BLOCK1_XS = ((0, 1), (0, 2), (0, 4), (0, 1, 2, 3), (0, 1, 4, 5), (0, 2, 4, 6))
#: The same for two segments (bit 3 of a mask: the other segment, 2^hi away): targets hi; 0 and
#: hi; 1 and hi; 2 and hi.
BLOCK2_XS = ((0, 8), (0, 1, 8, 9), (0, 2, 8, 10), (0, 4, 8, 12))


#: Interleaved partial sums of the k = 3 low-bit block kernel (:func:`_dense8_intrinsic`). One
#: chain measured best at n = 26 (CPU time against a copy, 2026-12-05, two streams): 0.69 / 0.65 of a
#: copy in complex128 / complex64 against 0.65 / 0.64 (two chains) and 0.56 / 0.65 (four): the
#: 32 coefficient vectors of complex128 fill the registers, and more accumulators spill them.
DENSE8_PARTIAL_SUMS = 1
#: Streams (equal parts of a chunk swept side by side) of that kernel, by precision: measured at
#: n = 26 (as above, one chain): complex128 0.69 (two) against 0.65 (four), complex64 0.71 (four)
#: against 0.65 (two).
DENSE8_STREAMS = {"complex128": 2, "complex64": 4}
#: Groups swept side by side by the segment block kernels (:func:`_segments_intrinsic`) with 2 or
#: 4 segments (8 segments: one). Measured at n = 26 (CPU time against a copy, 2026-12-05, one
#: process, load 2-4): two lifted k = 3 blocks on (0, 5, 9), (1, 3, 8), (2, 6, 9) from
#: 0.56-0.68 to 0.71-0.77 (complex128) and 0.53-0.71 to 0.57-0.81 (complex64), others alike;
#: with 8 segments, two groups (16 streams) fell from 0.74 to 0.47 (complex64, bits 12-14).
SEGMENT_STREAMS = 2
#: Precisions in which the 8-segment kind (no target below bit 3) sweeps two adjacent groups per
#: step instead (16 accumulators; the same 8 memory streams). Measured at n = 26 (one process,
#: CPU time against a copy, 2026-12-05, 04:29-04:32 UTC, load 2.6-4.5, three alternations):
#: complex64 bits (12, 13, 14), (5, 6, 7), (16, 18, 20), (22, 23, 24) 0.69-0.76, 0.86-0.90,
#: 0.69-0.73, 0.52-0.55 against 0.54-0.63, 0.63-0.73, 0.55-0.58, 0.40-0.43 with one group;
#: complex128 0.38-0.71 against 0.81-0.90 (32 accumulators of 8 doubles spill).
SEGMENT8_ADJACENT = frozenset({"complex64"})
#: Low targets (bits 0-2) of the uncontrolled k-qubit blocks of the segment kernels, by k and
#: kind (the index the driver takes): k = 3, :func:`_numba_segments3`. The same construction
#: for k = 4 (one driver of 7 kinds) ran at 0.33-0.48 of a copy with a low target and
#: 0.17-0.26 with none (the tiles: 0.16-0.33) and compiled in 4.7 s (complex128) + 2.8 s
#: (complex64) on a cold cache: not taken (bench/results/kernel_bench-vm-k3any-20261205.md).
#: k = 4 and 5 blocks take the planar kernels instead (:data:`PLANAR_KERNELS`,
#: bench/results/kernel_bench-vm-k4-20261205.md).
SEGMENT_LOW = {3: ((0, 1), (0, 2), (1, 2), (0,), (1,), (2,), ())}
#: Outputs per pass of the planar block kernels (:func:`_planar_intrinsic`): 3 accumulators each.
PLANAR_PASS_OUTPUTS = 8
#: Targets on bits 0-2 of the blocks of the planar kernels, by kind (the index the drivers take).
PLANAR_LOW = ((), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2))


def _block_terms(num_segments: int, xs) -> tuple:
    """``(output segment, input segment, lane mask)`` of each coefficient row of a block kernel.

    Row ``t`` adds ``W[t] * in_i[j ^ mask]`` to ``out_o[j]`` for every lane j of the
    ``BLOCK_REALS`` reals; the mask is twice the amplitude mask (re, im interleaved), with 1
    added for the row that takes the other part.

    Examples:
        >>> _block_terms(1, (0, 4))
        ((0, 0, 0), (0, 0, 1), (0, 0, 8), (0, 0, 9))
        >>> _block_terms(2, (0, 8))[2:4]
        ((0, 1, 0), (0, 1, 1))
    """
    return tuple((o, o ^ (x >> 3), (2 * (x & 7)) ^ r) for o in range(num_segments) for x in xs for r in (0, 1))


def _xor_masks(masks) -> tuple:
    """Every XOR (here: sum) of a subset of the distinct bit ``masks``, sorted."""
    out = [0]
    for m in masks:
        out = out + [v | m for v in out]
    return tuple(sorted(out))


try:
    import numba as _numba
    from llvmlite import ir as _ir
    from numba import types as _types
    from numba.core import cgutils as _cgutils
    from numba.extending import intrinsic as _intrinsic
except ImportError:  # the CPU falls back to the generic kernels
    _numba = None

if _numba is not None:

    # Dense 1- and 2-qubit gates without controls, in one sweep over the shard: no gather
    # buffers. The shard is viewed as reals (re, im interleaved) and the complex arithmetic is
    # written out on the parts. The inner loops are separate functions called on 1-D slices
    # (one per row of a run): compiled so, the loop is vectorised (measured 2026-12-04 on the
    # dev VM, numba 0.68: the same loop written inside the prange body ran scalar, 2-3x slower).

    @_numba.njit(inline="always")
    def _mat2(a_r, a_i, b_r, b_i, c_r, c_i, d_r, d_i, ur, ui, vr, vi):
        # (u, v) -> (a u + b v, c u + d v), complex numbers as (re, im): the 2x2 arithmetic of
        # every 1-qubit run kernel below, inlined into each (same operations, same order).
        return (a_r * ur - a_i * ui + b_r * vr - b_i * vi, a_r * ui + a_i * ur + b_r * vi + b_i * vr,
                c_r * ur - c_i * ui + d_r * vr - d_i * vi, c_r * ui + c_i * ur + d_r * vi + d_i * vr)

    @_numba.njit(inline="always")
    def _coefs4(m_re, m_im):
        # The 4x4 matrix as 32 scalars, row-major, (re, im) per entry.
        return (m_re[0, 0], m_im[0, 0], m_re[0, 1], m_im[0, 1], m_re[0, 2], m_im[0, 2], m_re[0, 3], m_im[0, 3],
                m_re[1, 0], m_im[1, 0], m_re[1, 1], m_im[1, 1], m_re[1, 2], m_im[1, 2], m_re[1, 3], m_im[1, 3],
                m_re[2, 0], m_im[2, 0], m_re[2, 1], m_im[2, 1], m_re[2, 2], m_im[2, 2], m_re[2, 3], m_im[2, 3],
                m_re[3, 0], m_im[3, 0], m_re[3, 1], m_im[3, 1], m_re[3, 2], m_im[3, 2], m_re[3, 3], m_im[3, 3])

    @_numba.njit(inline="always")
    def _row4(c, o, pr, pi, qr, qi, sr, si, tr, ti):
        # Row of the 4x4 matrix starting at c[o]: (re, im) of its product with (p, q, s, t).
        return (c[o] * pr - c[o + 1] * pi + c[o + 2] * qr - c[o + 3] * qi
                + c[o + 4] * sr - c[o + 5] * si + c[o + 6] * tr - c[o + 7] * ti,
                c[o] * pi + c[o + 1] * pr + c[o + 2] * qi + c[o + 3] * qr
                + c[o + 4] * si + c[o + 5] * sr + c[o + 6] * ti + c[o + 7] * tr)

    @_numba.njit(inline="always")
    def _mat4(c, pr, pi, qr, qi, sr, si, tr, ti):
        # (p, q, s, t) -> m (p, q, s, t) for the coefficients ``c`` of _coefs4: the 4x4 arithmetic
        # of every 2-qubit run kernel below, inlined into each.
        r0r, r0i = _row4(c, 0, pr, pi, qr, qi, sr, si, tr, ti)
        r1r, r1i = _row4(c, 8, pr, pi, qr, qi, sr, si, tr, ti)
        r2r, r2i = _row4(c, 16, pr, pi, qr, qi, sr, si, tr, ti)
        r3r, r3i = _row4(c, 24, pr, pi, qr, qi, sr, si, tr, ti)
        return r0r, r0i, r1r, r1i, r2r, r2i, r3r, r3i

    @_numba.njit(cache=True, boundscheck=False, fastmath={"contract"})
    def _pair_run(x, y, a_r, a_i, b_r, b_i, c_r, c_i, d_r, d_i):
        # (x, y) <- (a x + b y, c x + d y) on runs of interleaved complex numbers.
        for j in range(x.size >> 1):
            x[2 * j], x[2 * j + 1], y[2 * j], y[2 * j + 1] = _mat2(
                a_r, a_i, b_r, b_i, c_r, c_i, d_r, d_i, x[2 * j], x[2 * j + 1], y[2 * j], y[2 * j + 1])

    @_numba.njit(inline="always")
    def _run_start(first, ins_bits, cmask):
        # Index of pair (group) ``first``: zeros inserted at the sorted ``ins_bits``, controls set.
        i0 = first
        for s in range(ins_bits.size):
            b = ins_bits[s]
            i0 = ((i0 >> b) << (b + 1)) | (i0 & ((1 << b) - 1))
        return i0 | cmask

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_dense1_runs(f, bit, ins_bits, cmask, m_re, m_im, run):
        # A 2x2 matrix on ``bit`` of the real view ``f`` where the ``cmask`` bits are 1; the
        # target and control bits, sorted, are ``ins_bits`` (the lowest >= 2). Runs of
        # L = min(2^ins_bits[0], run) consecutive pairs: rows i0 .. i0+L and i0+2^bit .. i0+2^bit+L.
        stride = 1 << bit
        size_l = min(1 << ins_bits[0], run)
        num_runs = ((f.size >> 1) >> ins_bits.size) // size_l
        a_r, a_i, b_r, b_i = m_re[0, 0], m_im[0, 0], m_re[0, 1], m_im[0, 1]
        c_r, c_i, d_r, d_i = m_re[1, 0], m_im[1, 0], m_re[1, 1], m_im[1, 1]
        for r in _numba.prange(num_runs):
            i0 = _run_start(r * size_l, ins_bits, cmask)
            _pair_run(f[2 * i0 : 2 * (i0 + size_l)], f[2 * (i0 + stride) : 2 * (i0 + stride + size_l)],
                      a_r, a_i, b_r, b_i, c_r, c_i, d_r, d_i)

    @_numba.njit(cache=True, boundscheck=False)
    def _swap_run(x, y):
        for j in range(x.size):
            t = x[j]
            x[j] = y[j]
            y[j] = t

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_swap_runs(f, bit, ins_bits, cmask, run):
        # X on ``bit`` where the ``cmask`` bits are 1 (x, cx, ccx): runs as in _numba_dense1_runs,
        # the two rows exchanged.
        stride = 1 << bit
        size_l = min(1 << ins_bits[0], run)
        num_runs = ((f.size >> 1) >> ins_bits.size) // size_l
        for r in _numba.prange(num_runs):
            i0 = _run_start(r * size_l, ins_bits, cmask)
            _swap_run(f[2 * i0 : 2 * (i0 + size_l)], f[2 * (i0 + stride) : 2 * (i0 + stride + size_l)])

    @_numba.njit(cache=True, boundscheck=False, fastmath={"contract"})
    def _quad_run(x0, x1, x2, x3, m_re, m_im):
        # (x0, x1, x2, x3) <- m (x0, x1, x2, x3) on runs of interleaved complex numbers.
        c = _coefs4(m_re, m_im)
        for j in range(x0.size >> 1):
            o = 2 * j
            x0[o], x0[o + 1], x1[o], x1[o + 1], x2[o], x2[o + 1], x3[o], x3[o + 1] = _mat4(
                c, x0[o], x0[o + 1], x1[o], x1[o + 1], x2[o], x2[o + 1], x3[o], x3[o + 1])

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_dense2_runs(f, lo, hi, m_re, m_im, run):
        # A 4x4 matrix on bits lo < hi (lo >= 3), rows in the order 0, 2^lo, 2^hi, 2^lo + 2^hi:
        # runs of L = min(2^lo, run) consecutive groups.
        s_lo = 1 << lo
        s_hi = 1 << hi
        size_l = min(s_lo, run)
        num_runs = (f.size >> 3) // size_l
        for r in _numba.prange(num_runs):
            k0 = r * size_l
            i0 = ((k0 >> lo) << (lo + 1)) | (k0 & (s_lo - 1))
            i0 = ((i0 >> hi) << (hi + 1)) | (i0 & (s_hi - 1))
            i1 = i0 + s_lo
            i2 = i0 + s_hi
            i3 = i2 + s_lo
            _quad_run(f[2 * i0 : 2 * (i0 + size_l)], f[2 * i1 : 2 * (i1 + size_l)],
                      f[2 * i2 : 2 * (i2 + size_l)], f[2 * i3 : 2 * (i3 + size_l)], m_re, m_im)

    @_numba.njit(cache=True, boundscheck=False)
    def _permute4(g, s0, s1, s2, s3):
        # Amplitude 4p + j of ``g`` receives amplitude 4p + s_j (a permutation of 0..3).
        for p in range(g.size >> 2):
            o = 4 * p
            v0 = g[o + s0]
            v1 = g[o + s1]
            v2 = g[o + s2]
            v3 = g[o + s3]
            g[o] = v0
            g[o + 1] = v1
            g[o + 2] = v2
            g[o + 3] = v3

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_permute_low(a, s0, s1, s2, s3, run):
        # A permutation within every block of four amplitudes (targets and controls on bits 0
        # and 1), in chunks of ``run`` amplitudes; ``a`` is the shard as complex128, or as
        # 8-byte integers for complex64 (one load and one store per amplitude).
        for c in _numba.prange(a.size // run):
            _permute4(a[c * run : (c + 1) * run], s0, s1, s2, s3)

    # Gates whose targets and controls lie on bits 0-2, or on bits 0-2 and one bit hi >= 3, as
    # a few vector multiply-adds on blocks of 8 amplitudes (16 reals) held in registers: the
    # kernels above leave these cases scalar (the partners of an amplitude are 1 or 2
    # amplitudes away) and numba/LLVM vectorise none of the loop forms tried
    # (kernel_bench-vm-bit2-20261204.md). A block of 8 amplitudes (one "segment", or two, the
    # second 2^hi further on) is loaded as one LLVM vector; the gate maps it to
    #   out_s = sum over partners x and parts r of W[s, x, r] * shuffle(in_{s ^ (x >> 3)}, j -> j ^ (2 (x & 7) ^ r)),
    # where x runs over the XOR masks of the target bits (bit 3 of x is the segment), the
    # shuffle with r = 1 swaps re and im of each amplitude, and W (computed once per gate by
    # _block_coefficients) holds per lane the matrix entry's real part (r = 0) or its imaginary
    # part with the sign of the complex product (r = 1), 1 on the diagonal and 0 elsewhere where
    # a control is 0. The IR is written here (llvmlite): shufflevector with constant masks and
    # llvm.fma on <16 x double> / <16 x float>, which the backend lowers to in-register
    # permutes and packed FMAs.

    def _vector_fma(builder, double):
        """``(vty, fma, align)`` for the IR of the block kernels: the vector of ``BLOCK_REALS``
        reals of the precision (float64 when ``double``), ``llvm.fma`` on it, and the alignment
        of its loads and stores (one real)."""
        vty = _ir.VectorType(_ir.DoubleType() if double else _ir.FloatType(), BLOCK_REALS)
        fma = _cgutils.get_or_insert_function(builder.module, _ir.FunctionType(vty, [vty, vty, vty]),
                                              "llvm.fma.v%d%s" % (BLOCK_REALS, "f64" if double else "f32"))
        return vty, fma, 8 if double else 4

    def _block_intrinsic(num_segments, xs):
        """An intrinsic ``blocks(f, start, step, count, stride, w)``: ``count`` blocks of
        ``BLOCK_REALS`` reals of ``f``, ``stride`` reals apart from real index ``start`` (segment
        s at ``start + s * step``), each replaced by the combination above with the coefficient
        rows ``w`` (float array, ``len(_block_terms(num_segments, xs))`` x ``BLOCK_REALS``, C
        order). With every mask of ``xs`` below 8, the segments are independent streams."""
        terms = _block_terms(num_segments, xs)

        @_intrinsic
        def blocks(typingctx, f, start, step, count, stride, w):
            sig = _types.void(f, _types.int64, _types.int64, _types.int64, _types.int64, w)

            def codegen(context, builder, signature, args):
                f_val, start_v, step_v, count_v, stride_v, w_val = args
                data = context.make_array(signature.args[0])(context, builder, f_val).data
                coefs = context.make_array(signature.args[5])(context, builder, w_val).data
                double = signature.args[0].dtype == _types.float64
                vty, fma, align = _vector_fma(builder, double)
                i64 = _ir.IntType(64)
                wv = [builder.load(builder.bitcast(builder.gep(coefs, [_ir.Constant(i64, t * BLOCK_REALS)]),
                                                   vty.as_pointer()), align=align) for t in range(len(terms))]
                with _cgutils.for_range(builder, count_v) as loop:
                    base = builder.add(start_v, builder.mul(loop.index, stride_v))
                    offsets = [base] + [builder.add(base, builder.mul(step_v, _ir.Constant(i64, s)))
                                        for s in range(1, num_segments)]
                    ptrs = [builder.bitcast(builder.gep(data, [o]), vty.as_pointer()) for o in offsets]
                    ins = [builder.load(p, align=align) for p in ptrs]
                    moved = {}
                    outs = [None] * num_segments
                    for t, (o, i, mask) in enumerate(terms):
                        if (i, mask) not in moved:
                            moved[i, mask] = ins[i] if mask == 0 else builder.shuffle_vector(
                                ins[i], _ir.Constant(vty, _ir.Undefined),
                                _ir.Constant(_ir.VectorType(_ir.IntType(32), BLOCK_REALS),
                                             [j ^ mask for j in range(BLOCK_REALS)]))
                        x = moved[i, mask]
                        outs[o] = builder.fmul(wv[t], x) if outs[o] is None else builder.call(fma, [wv[t], x, outs[o]])
                    for s in range(num_segments):
                        builder.store(outs[s], ptrs[s], align=align)
                return context.get_dummy_value()

            return sig, codegen

        return blocks

    # The one-segment kernels, as two independent streams (no mask of BLOCK1_XS reaches bit 3).
    _blocks1_0 = _block_intrinsic(2, BLOCK1_XS[0])
    _blocks1_1 = _block_intrinsic(2, BLOCK1_XS[1])
    _blocks1_2 = _block_intrinsic(2, BLOCK1_XS[2])
    _blocks1_01 = _block_intrinsic(2, BLOCK1_XS[3])
    _blocks1_02 = _block_intrinsic(2, BLOCK1_XS[4])
    _blocks1_12 = _block_intrinsic(2, BLOCK1_XS[5])
    _blocks2_h = _block_intrinsic(2, BLOCK2_XS[0])
    _blocks2_0h = _block_intrinsic(2, BLOCK2_XS[1])
    _blocks2_1h = _block_intrinsic(2, BLOCK2_XS[2])
    _blocks2_2h = _block_intrinsic(2, BLOCK2_XS[3])

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_blocks1(f, kind, w, run):
        # The block kernel ``kind`` (an index of BLOCK1_XS) on every block of 8 amplitudes, in
        # chunks of ``run`` amplitudes (a power of two >= 16), each swept as two streams: its
        # halves side by side (w holds the coefficient rows twice). Measured at n = 26 (one
        # process, CPU time against a copy, 2026-12-05): 0.80-0.85 against 0.68-0.72 for one
        # stream on bits (0, 1); four streams 0.74 / 1.01 in complex128 / complex64.
        count = run // BLOCK_REALS
        for c in _numba.prange((f.size >> 1) // run):
            start = 2 * c * run
            if kind == 0:
                _blocks1_0(f, start, run, count, BLOCK_REALS, w)
            elif kind == 1:
                _blocks1_1(f, start, run, count, BLOCK_REALS, w)
            elif kind == 2:
                _blocks1_2(f, start, run, count, BLOCK_REALS, w)
            elif kind == 3:
                _blocks1_01(f, start, run, count, BLOCK_REALS, w)
            elif kind == 4:
                _blocks1_02(f, start, run, count, BLOCK_REALS, w)
            else:
                _blocks1_12(f, start, run, count, BLOCK_REALS, w)

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_blocks2(f, kind, hi, w, run):
        # The two-segment block kernel ``kind`` (an index of BLOCK2_XS), segments 2^hi apart
        # (hi >= 3): runs of L = min(2^hi, run) consecutive amplitudes whose bit hi is 0 and the
        # L amplitudes 2^hi further on; for hi = 3, chunks of ``run`` amplitudes instead (L =
        # run / 2), a segment's blocks every 16 amplitudes (one block per run was 0.69-0.73 of a
        # copy at n = 26 on bits (2, 3) in complex128).
        s_hi = 1 << hi
        size_l = run >> 1 if hi == 3 else min(s_hi, run)
        stride = 2 * BLOCK_REALS if hi == 3 else BLOCK_REALS
        count = (2 * size_l) // BLOCK_REALS
        for r in _numba.prange((f.size >> 1) // (2 * size_l)):
            k0 = r * size_l
            start = 2 * (((k0 >> hi) << (hi + 1)) | (k0 & (s_hi - 1)))
            if kind == 0:
                _blocks2_h(f, start, 2 * s_hi, count, stride, w)
            elif kind == 1:
                _blocks2_0h(f, start, 2 * s_hi, count, stride, w)
            elif kind == 2:
                _blocks2_1h(f, start, 2 * s_hi, count, stride, w)
            else:
                _blocks2_2h(f, start, 2 * s_hi, count, stride, w)

    # A dense 3-qubit block on bits 0-2 (8x8 complex matrix, no controls) on each block of 8
    # consecutive amplitudes, in registers: the block's 16 reals as a vector are
    #   out = sum over j of W[j] * broadcast(in[j]),
    # W[j] the column of the matrix as a 16 x 16 real map (_dense8_layout) that multiplies real
    # j of the input. The broadcasts are loads (no shuffles), so the work is 16 packed
    # multiply-adds per block and vector of 16 reals; the tiles took ~15 cycles per amplitude
    # in complex128 for this case (kernel_bench-vm-2q-20261205.md).

    def _dense8_intrinsic(partial_sums):
        """An intrinsic ``blocks(f, start, step, count, w)``: ``count`` consecutive blocks of
        ``BLOCK_REALS`` reals of ``f`` from real index ``start`` in each of the
        ``DENSE8_STREAMS`` streams of its precision (stream s at ``start + s * step``),
        each replaced by ``sum_j w[j] * f[block + j]`` (``w``: 16 x ``BLOCK_REALS`` floats, C
        order), the sum taken in ``partial_sums`` interleaved chains (j mod partial_sums) added
        at the end, so consecutive multiply-adds do not wait on each other."""

        @_intrinsic
        def blocks(typingctx, f, start, step, count, w):
            sig = _types.void(f, _types.int64, _types.int64, _types.int64, w)

            def codegen(context, builder, signature, args):
                f_val, start_v, step_v, count_v, w_val = args
                data = context.make_array(signature.args[0])(context, builder, f_val).data
                coefs = context.make_array(signature.args[4])(context, builder, w_val).data
                double = signature.args[0].dtype == _types.float64
                num_streams = DENSE8_STREAMS["complex128" if double else "complex64"]
                vty, fma, align = _vector_fma(builder, double)
                i32, i64 = _ir.IntType(32), _ir.IntType(64)
                wv = [builder.load(builder.bitcast(builder.gep(coefs, [_ir.Constant(i64, j * BLOCK_REALS)]),
                                                   vty.as_pointer()), align=align) for j in range(BLOCK_REALS)]
                undef = _ir.Constant(vty, _ir.Undefined)
                splat = _ir.Constant(_ir.VectorType(i32, BLOCK_REALS), [0] * BLOCK_REALS)
                with _cgutils.for_range(builder, count_v) as loop:
                    base = builder.add(start_v, builder.mul(loop.index, _ir.Constant(i64, BLOCK_REALS)))
                    offsets = [base] + [builder.add(base, builder.mul(step_v, _ir.Constant(i64, s)))
                                        for s in range(1, num_streams)]
                    ins = [[builder.load(builder.gep(data, [builder.add(o, _ir.Constant(i64, j))]), align=align)
                            for j in range(BLOCK_REALS)] for o in offsets]
                    outs = []
                    for s in range(num_streams):
                        parts = [None] * partial_sums
                        for j in range(BLOCK_REALS):
                            x = builder.shuffle_vector(builder.insert_element(undef, ins[s][j], _ir.Constant(i32, 0)),
                                                       undef, splat)
                            p = j % partial_sums
                            parts[p] = builder.fmul(wv[j], x) if parts[p] is None else builder.call(fma, [wv[j], x, parts[p]])
                        while len(parts) > 1:
                            parts = [builder.fadd(parts[i], parts[i + 1]) for i in range(0, len(parts), 2)]
                        outs.append(parts[0])
                    for o, out in zip(offsets, outs):
                        builder.store(out, builder.bitcast(builder.gep(data, [o]), vty.as_pointer()), align=align)
                return context.get_dummy_value()

            return sig, codegen

        return blocks

    _dense8_blocks = _dense8_intrinsic(DENSE8_PARTIAL_SUMS)

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_dense8_low(f, w, run, streams):
        # An 8x8 matrix on bits 0-2 (coefficients ``w`` from _dense8_layout): chunks of ``run``
        # amplitudes (a power of two >= 8 * streams), each swept as ``streams`` equal parts side
        # by side (as _numba_blocks1); ``streams`` must be DENSE8_STREAMS of f's precision.
        count = (2 * run) // (BLOCK_REALS * streams)
        for c in _numba.prange((f.size >> 1) // run):
            _dense8_blocks(f, 2 * c * run, (2 * run) // streams, count, w)

    # Uncontrolled 3-qubit dense blocks with targets above bit 2: the register blocks
    # of the 1- and 2-qubit kernels with more segments. The targets below 3 are partners inside a
    # block of 8 amplitudes (shuffles), those >= 3 (h of them) index 2^h segments, segment s at
    # the sum of 2^b over the high targets b set in s; a block's output is
    #   out_s = sum over input segments i, low partner masks x and parts r of
    #           W[s, i, x, r] * shuffle(in_i, j -> j ^ (2 x ^ r)),
    # 2^(k+1) packed multiply-adds per output vector (the complex multiply-adds of the matrix
    # product itself). The sums are emitted input segment by input segment (its shuffles, then
    # their products added to every output), so 2^h accumulators and one segment's shuffles are
    # live at once; the coefficient rows are loaded inside the loop (memory operands).

    def _segments_intrinsic(kinds):
        """An intrinsic ``blocks(f, kind, start, high, offs, count, w)``: the kernel of kind
        ``kinds[kind]`` (its XOR masks, bits 3 and up the segment: 2^h segments for h high
        targets) on ``count`` groups, those of the index with zeros inserted at the high target
        bits ``high`` (sorted, int64) from ``start`` on, 8 indices apart (segment s of a group at
        real offset ``offs[s]``, int64); each replaced by the combination above with the
        coefficient rows ``w`` (rows in the order of ``_block_terms``, ``BLOCK_REALS`` reals each,
        or one real each for a kind without low targets), C order."""
        return _kinds_intrinsic([functools.partial(_emit_segments, xs=xs) for xs in kinds])

    def _kinds_intrinsic(emitters):
        """An intrinsic ``blocks(f, kind, start, high, offs, count, w)`` (f, offs, w: arrays, high:
        int64 array, the rest int64) whose IR is ``emitters[kind](builder, double=...,
        arrays=(f, high, offs, w data pointers), start_v=..., count_v=...)``, one branch per
        kind (an emitter ``None``: the kind does nothing)."""

        @_intrinsic
        def blocks(typingctx, f, kind, start, high, offs, count, w):
            sig = _types.void(f, _types.int64, _types.int64, high, offs, _types.int64, w)

            def codegen(context, builder, signature, args):
                f_val, kind_v, start_v, high_val, offs_val, count_v, w_val = args
                arrays = [context.make_array(signature.args[a])(context, builder, args[a]).data for a in (0, 3, 4, 6)]
                double = signature.args[0].dtype == _types.float64
                for index, emit in enumerate(emitters):
                    if emit is not None:
                        with builder.if_then(builder.icmp_signed("==", kind_v, _ir.Constant(_ir.IntType(64), index))):
                            emit(builder, double=double, arrays=arrays, start_v=start_v, count_v=count_v)
                return context.get_dummy_value()

            return sig, codegen

        return blocks

    def _emit_segments(builder, *, xs, double, arrays, start_v, count_v):
        """The IR of one kind of :func:`_segments_intrinsic` (XOR masks ``xs``)."""
        data, high_p, offs_p, coefs = arrays
        num_segments = max(xs) // 8 + 1
        terms = _block_terms(num_segments, xs)
        by_input = {}
        for t, (o, i, mask) in enumerate(terms):
            by_input.setdefault(i, {}).setdefault(mask, []).append((o, t))
        # No low target: every lane takes the same entry, the real part, or the imaginary part
        # with the sign of its lane; that sign goes on the re/im-swapped input instead, and
        # each row of w is one real (broadcast).
        uniform = all(x & 7 == 0 for x in xs)
        vty, fma, align = _vector_fma(builder, double)
        i32, i64 = _ir.IntType(32), _ir.IntType(64)
        seg = [builder.load(builder.gep(offs_p, [_ir.Constant(i64, s)])) for s in range(num_segments)]
        undef = _ir.Constant(vty, _ir.Undefined)
        splat = _ir.Constant(_ir.VectorType(i32, BLOCK_REALS), [0] * BLOCK_REALS)
        sign = _ir.Constant(vty, [(-1.0) ** (j + 1) for j in range(BLOCK_REALS)])
        one = _ir.Constant(i64, 1)
        highs = []
        for j in range(num_segments.bit_length() - 1):
            b = builder.load(builder.gep(high_p, [_ir.Constant(i64, j)]))
            highs.append((b, builder.add(b, one), builder.sub(builder.shl(one, b), one)))
        adjacent = num_segments > 4 and ("complex128" if double else "complex64") in SEGMENT8_ADJACENT
        streams = SEGMENT_STREAMS if num_segments <= 4 or adjacent else 1
        per = builder.udiv(count_v, _ir.Constant(i64, streams))
        with _cgutils.for_range(builder, per) as loop:
            all_ptrs = []
            for st in range(streams):
                if adjacent:
                    q = builder.add(builder.mul(loop.index, _ir.Constant(i64, streams)), _ir.Constant(i64, st))
                else:
                    q = builder.add(loop.index, builder.mul(per, _ir.Constant(i64, st)))
                index = builder.add(start_v, builder.mul(q, _ir.Constant(i64, 8)))
                for b, b1, low_mask in highs:  # a zero inserted at each high target bit
                    index = builder.or_(builder.shl(builder.lshr(index, b), b1), builder.and_(index, low_mask))
                base = builder.add(index, index)
                all_ptrs.append([builder.bitcast(builder.gep(data, [builder.add(base, seg[s])]), vty.as_pointer())
                                 for s in range(num_segments)])
            outs = [[None] * num_segments for _ in range(streams)]
            for i in range(num_segments):
                x_ins = [builder.load(ptrs[i], align=align) for ptrs in all_ptrs]
                for mask, uses in by_input[i].items():
                    moved = []
                    for x_in in x_ins:
                        x = x_in if mask == 0 else builder.shuffle_vector(x_in, undef, _ir.Constant(
                            _ir.VectorType(i32, BLOCK_REALS), [j ^ mask for j in range(BLOCK_REALS)]))
                        moved.append(builder.fmul(x, sign) if uniform and mask == 1 else x)
                    for o, t in uses:
                        if uniform:  # one real per row, broadcast
                            wt = builder.shuffle_vector(builder.insert_element(
                                undef, builder.load(builder.gep(coefs, [_ir.Constant(i64, t)]), align=align),
                                _ir.Constant(i32, 0)), undef, splat)
                        else:
                            wt = builder.load(builder.bitcast(builder.gep(
                                coefs, [_ir.Constant(i64, t * BLOCK_REALS)]), vty.as_pointer()), align=align)
                        for st, x in enumerate(moved):
                            acc = outs[st][o]
                            outs[st][o] = builder.fmul(wt, x) if acc is None else builder.call(fma, [wt, x, acc])
            for st, ptrs in enumerate(all_ptrs):
                for s in range(num_segments):
                    builder.store(outs[st][s], ptrs[s], align=align)

    # k = 3, the kinds of SEGMENT_LOW[3]: two low targets and one high (2 segments), one low and
    # two high (4), three high (8).
    _segments3 = _segments_intrinsic(tuple(
        _xor_masks([1 << b for b in low] + [8 << j for j in range(3 - len(low))]) for low in SEGMENT_LOW[3]))

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_segments3(f, kind, high, offs, w, run):
        # An uncontrolled 3-qubit block with the high targets ``high`` (sorted, >= 3), kind the
        # index of its low targets in SEGMENT_LOW[3]: chunks of ``run`` amplitudes of the index with
        # the high target bits removed (a power of two >= 16: two groups side by side for 2 and
        # 4 segments), block by block.
        count = run // 8
        for c in _numba.prange((f.size >> 1) // (run << high.size)):
            _segments3(f, kind, c * run, high, offs, count, w)

    # Uncontrolled k-qubit blocks (k = 4, 5) in planar registers: a group is the 2^h segments of
    # 8 consecutive amplitudes (segment s at the sum of 2^b over the h targets b >= 3 set in s);
    # each segment is split into its real and imaginary parts a, b (8 lanes each) and the matrix
    # product is taken in the three-multiplication form
    #   T_o = sum_i c_oi (a_i + b_i),  R_o = sum_i -(c_oi + d_oi) b_i,  I_o = sum_i (d_oi - c_oi) a_i,
    #   out_o = (T_o + R_o) + i (T_o + I_o)            (entry m[o, i] = c_oi + i d_oi),
    # 3 multiply-adds per complex multiply-add instead of 4: 6 packed multiply-adds of 8 lanes
    # per amplitude for k = 4, 12 for k = 5. Without a target on bits 0-2 the inputs i are the
    # segments and the coefficients scalars (broadcast from memory); with l such targets each
    # segment also enters with its lanes permuted by each of the 2^l XOR masks of those bits
    # (2^k inputs in all, as before) and the coefficients are per lane (8 reals). On
    # the dev VM (AMD EPYC Zen 4: one 8-double FMA per cycle at ~3.6 GHz, measured) that is
    # ~1.7 ns per amplitude for k = 4 in complex128, against ~1.2 for a copy of the shard: the
    # four-multiplication form (8 per amplitude, ~2.2 ns) could not pass ~0.53 of a copy. The
    # split inputs (a + b, b, a) go to a scratch in L1, and each pass of PLANAR_PASS_OUTPUTS
    # outputs loops over the input segments reading them back, so its 3 * PLANAR_PASS_OUTPUTS
    # accumulators stay in registers (no vector spills, checked with inspect_asm on an uncached
    # copy). The loop (not unrolled) ran as fast as the unrolled form and compiled in 0.5 s
    # instead of 1.4 s (k = 4) and 7 s (k = 5) per precision with the one kind without low
    # targets; with all of PLANAR_LOW, 1.5 s (k = 4) and 2.9 s (k = 5).

    def _planar_intrinsic(k):
        """An intrinsic ``blocks(f, kind, start, high, offs, count, w)``: an uncontrolled k-qubit
        block whose targets on bits 0-2 are ``PLANAR_LOW[kind]`` (l of them) and the others
        ``high`` (sorted, int64, h = k - l of them), on ``count`` groups of 2^h segments of 8
        amplitudes of ``f`` (reals): those of the index with zeros inserted at ``high`` from
        ``start`` on, 8 indices apart (segment s of a group at real offset ``offs[s]``, int64).

        Input v = i 2^l + x of the product above is segment i with its lanes permuted j -> j ^ X[x]
        (X: the XOR masks of the low targets); ``w`` holds the coefficients (c, -(c + d), d - c) of
        (output o, input v) at ``3 (o 2^k + v)``: one real each without low targets (broadcast),
        else 8 (one per lane)."""
        return _kinds_intrinsic([None if len(low) == k else functools.partial(
            _emit_planar, k=k, masks=_xor_masks([1 << b for b in low])) for low in PLANAR_LOW])

    def _emit_planar(builder, *, k, masks, double, arrays, start_v, count_v):
        """The IR of one kind of :func:`_planar_intrinsic` (XOR masks ``masks`` of its low targets)."""
        data, high_p, offs_p, coefs = arrays
        num_high = k - (len(masks).bit_length() - 1)
        num_segments = 1 << num_high
        real = _ir.DoubleType() if double else _ir.FloatType()
        align = 8 if double else 4
        vty = _ir.VectorType(real, 8)
        wide = _ir.VectorType(real, 16)
        fma = _cgutils.get_or_insert_function(builder.module, _ir.FunctionType(vty, [vty, vty, vty]),
                                              "llvm.fma.v8%s" % ("f64" if double else "f32"))
        i32, i64 = _ir.IntType(32), _ir.IntType(64)
        lanes = _ir.VectorType(i32, 8)
        evens = _ir.Constant(lanes, list(range(0, 16, 2)))
        odds = _ir.Constant(lanes, list(range(1, 16, 2)))
        zip_ = _ir.Constant(_ir.VectorType(i32, 16), [j // 2 + 8 * (j % 2) for j in range(16)])
        scratch = _cgutils.alloca_once(builder, _ir.ArrayType(vty, 3 << k))
        # A compiler barrier that may read and write the scratch: each pass loads the inputs from
        # it (the values stored, kept instead, would not fit the registers).
        barrier = _ir.InlineAsm(_ir.FunctionType(_ir.VoidType(), [scratch.type]), "", "r,~{memory}", side_effect=True)
        seg = [builder.load(builder.gep(offs_p, [_ir.Constant(i64, s)])) for s in range(num_segments)]
        one = _ir.Constant(i64, 1)
        highs = []
        for j in range(num_high):
            b = builder.load(builder.gep(high_p, [_ir.Constant(i64, j)]))
            highs.append((b, builder.add(b, one), builder.sub(builder.shl(one, b), one)))
        with _cgutils.for_range(builder, count_v) as loop:
            index = builder.add(start_v, builder.mul(loop.index, _ir.Constant(i64, 8)))
            for b, b1, low_mask in highs:  # a zero inserted at each high target bit
                index = builder.or_(builder.shl(builder.lshr(index, b), b1), builder.and_(index, low_mask))
            base = builder.add(index, index)
            ptrs = [builder.bitcast(builder.gep(data, [builder.add(base, seg[s])]), wide.as_pointer())
                    for s in range(num_segments)]
            for s in range(num_segments):
                v = builder.load(ptrs[s], align=align)
                a = builder.shuffle_vector(v, _ir.Constant(wide, _ir.Undefined), evens)
                b = builder.shuffle_vector(v, _ir.Constant(wide, _ir.Undefined), odds)
                for part, plane in enumerate((builder.fadd(a, b), b, a)):
                    for x, mask in enumerate(masks):
                        moved = plane if mask == 0 else builder.shuffle_vector(
                            plane, _ir.Constant(vty, _ir.Undefined), _ir.Constant(lanes, [j ^ mask for j in range(8)]))
                        slot = 3 * (s * len(masks) + x) + part
                        builder.store(moved, builder.gep(scratch, [_ir.Constant(i32, 0), _ir.Constant(i32, slot)]))
            for first in range(0, num_segments, PLANAR_PASS_OUTPUTS):
                builder.call(barrier, [scratch])
                outs = range(first, min(num_segments, first + PLANAR_PASS_OUTPUTS))
                acc = _planar_pass_loop(builder, fma, vty, scratch, coefs, outs, 1 << k, len(masks) == 1, align)
                for o in outs:
                    re = builder.fadd(acc[o, 0], acc[o, 1])
                    im = builder.fadd(acc[o, 0], acc[o, 2])
                    builder.store(builder.shuffle_vector(re, im, zip_), ptrs[o], align=align)

    def _planar_pass_loop(builder, fma, vty, scratch, coefs, outs, num_inputs, uniform, align):
        """One pass of :func:`_planar_intrinsic` as a loop over its ``num_inputs`` inputs v: the
        accumulators ``{(o, part): vector}`` of the outputs ``outs`` (phis of the loop), each the
        sum over v of the coefficient (o, v, part) (one real broadcast when ``uniform``, else 8)
        times part ``part`` of input v."""
        i32, i64 = _ir.IntType(32), _ir.IntType(64)
        undef = _ir.Constant(vty, _ir.Undefined)
        splat = _ir.Constant(_ir.VectorType(i32, 8), [0] * 8)
        keys = [(o, part) for o in outs for part in range(3)]
        entry = builder.block
        body = builder.append_basic_block("planar_pass")
        done = builder.append_basic_block("planar_pass_done")
        builder.branch(body)
        builder.position_at_end(body)
        v = builder.phi(i64)
        v.add_incoming(_ir.Constant(i64, 0), entry)
        phis = {}
        for key in keys:
            phis[key] = builder.phi(vty)
            phis[key].add_incoming(_ir.Constant(vty, None), entry)
        three_v = builder.mul(v, _ir.Constant(i64, 3))
        acc = {}
        for part in range(3):
            x = builder.load(builder.gep(scratch, [_ir.Constant(i64, 0),
                                                   builder.add(three_v, _ir.Constant(i64, part))]))
            for o in outs:
                t = builder.add(three_v, _ir.Constant(i64, 3 * o * num_inputs + part))
                if uniform:
                    wt = builder.shuffle_vector(builder.insert_element(
                        undef, builder.load(builder.gep(coefs, [t]), align=align), _ir.Constant(i32, 0)), undef, splat)
                else:
                    wt = builder.load(builder.bitcast(builder.gep(coefs, [builder.mul(t, _ir.Constant(i64, 8))]),
                                                      vty.as_pointer()), align=align)
                acc[o, part] = builder.call(fma, [wt, x, phis[o, part]])
        following = builder.add(v, _ir.Constant(i64, 1))
        for key in keys:
            phis[key].add_incoming(acc[key], builder.block)
        v.add_incoming(following, builder.block)
        builder.cbranch(builder.icmp_unsigned("<", following, _ir.Constant(i64, num_inputs)), body, done)
        builder.position_at_end(done)
        return acc

    _planar4 = _planar_intrinsic(4)
    _planar5 = _planar_intrinsic(5)

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_planar4(f, kind, high, offs, w, run):
        # An uncontrolled 4-qubit block, kind the index of its low targets in PLANAR_LOW, high
        # its other targets (sorted): chunks of ``run`` amplitudes (a multiple of 8) of the index
        # with the high target bits removed.
        for c in _numba.prange((f.size >> 1) // (run << high.size)):
            _planar4(f, kind, c * run, high, offs, run // 8, w)

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_planar5(f, kind, high, offs, w, run):
        # As _numba_planar4 for 5 targets.
        for c in _numba.prange((f.size >> 1) // (run << high.size)):
            _planar5(f, kind, c * run, high, offs, run // 8, w)

    @_numba.njit(parallel=True, cache=True)
    def _numba_diagonal(psi, bits, d, cmask):
        k = bits.size
        for i in _numba.prange(psi.size):
            if (i & cmask) == cmask:
                j = 0
                for t in range(k):
                    j |= ((i >> bits[t]) & 1) << t
                psi[i] *= d[j]


    @_numba.njit(parallel=True, cache=True, fastmath={"contract"}, boundscheck=False)
    def _numba_dense_tiles(f, ins_bits, pattern, offsets, cmask, m_re, m_im, workers):
        # ``f`` is the shard viewed as reals (re, im interleaved). A group is the 2^k amplitudes
        # ``base + offsets[r]``; the bases of the groups are the indices with zeros inserted
        # at ``ins_bits`` (targets and controls) and the controls set (``cmask``). A tile of
        # ``J = pattern.size`` consecutive groups has bases ``base0 + pattern[j]``: its rows
        # are gathered into split real/imaginary buffers (contiguous copies when no inserted
        # bit lies below log2 J), multiplied by the matrix in loops over j that the compiler
        # vectorises (fused multiply-adds on real arrays), and written back row by row. Each of
        # the ``workers`` threads takes a run of tiles and allocates its buffers once.
        dim = offsets.size
        size_j = pattern.size
        num_tiles = ((f.size >> 1) >> ins_bits.size) // size_j
        contiguous = pattern[size_j - 1] == size_j - 1
        per_worker = (num_tiles + workers - 1) // workers
        for worker in _numba.prange(workers):
            x_re = np.empty((dim, size_j), dtype=f.dtype)
            x_im = np.empty((dim, size_j), dtype=f.dtype)
            y_re = np.empty(size_j, dtype=f.dtype)
            y_im = np.empty(size_j, dtype=f.dtype)
            z_re = np.empty(size_j, dtype=f.dtype)
            z_im = np.empty(size_j, dtype=f.dtype)
            for tile in range(worker * per_worker, min(num_tiles, (worker + 1) * per_worker)):
                base = _tile_base(tile * size_j, ins_bits, cmask)
                for r in range(dim):
                    _gather_row(f, base + offsets[r], pattern, contiguous, x_re[r], x_im[r])
                if dim >= 4:
                    for r in range(0, dim, 2):  # two output rows per sweep: each x load feeds both
                        y_re[:] = 0.0
                        y_im[:] = 0.0
                        z_re[:] = 0.0
                        z_im[:] = 0.0
                        for c in range(0, dim, 4):
                            _accumulate4x2(y_re, y_im, z_re, z_im, x_re, x_im, m_re, m_im, r, c)
                        _scatter_row(f, base + offsets[r], pattern, contiguous, y_re, y_im)
                        _scatter_row(f, base + offsets[r + 1], pattern, contiguous, z_re, z_im)
                else:
                    for r in range(2):
                        ar, ai, br, bi = m_re[r, 0], m_im[r, 0], m_re[r, 1], m_im[r, 1]
                        u_re, u_im, v_re, v_im = x_re[0], x_im[0], x_re[1], x_im[1]
                        for j in range(size_j):
                            y_re[j] = ar * u_re[j] - ai * u_im[j] + br * v_re[j] - bi * v_im[j]
                            y_im[j] = ar * u_im[j] + ai * u_re[j] + br * v_im[j] + bi * v_re[j]
                        _scatter_row(f, base + offsets[r], pattern, contiguous, y_re, y_im)

    @_numba.njit(inline="always")
    def _tile_base(first_group, ins_bits, cmask):
        # Index of the first amplitude of group ``first_group``: zeros inserted at ``ins_bits``
        # (sorted), the control bits set.
        base = first_group
        for s in range(ins_bits.size):
            b = ins_bits[s]
            base = ((base >> b) << (b + 1)) | (base & ((1 << b) - 1))
        return base | cmask

    @_numba.njit(inline="always", fastmath={"contract"}, boundscheck=False)
    def _gather_row(f, start, pattern, contiguous, out_re, out_im):
        # Amplitudes start + pattern[j] of the real view ``f``, split into real and imaginary parts.
        # Slices first: an index known to be >= 0 (from ``range``) needs no wrap-around test.
        if contiguous:
            src = f[2 * start : 2 * (start + pattern.size)]
            for j in range(pattern.size):
                out_re[j] = src[2 * j]
                out_im[j] = src[2 * j + 1]
        else:
            src = f[2 * start :]
            for j in range(pattern.size):
                q = 2 * pattern[j]
                out_re[j] = src[q]
                out_im[j] = src[q + 1]

    @_numba.njit(inline="always", fastmath={"contract"}, boundscheck=False)
    def _scatter_row(f, start, pattern, contiguous, in_re, in_im):
        if contiguous:
            dst = f[2 * start : 2 * (start + pattern.size)]
            for j in range(pattern.size):
                dst[2 * j] = in_re[j]
                dst[2 * j + 1] = in_im[j]
        else:
            dst = f[2 * start :]
            for j in range(pattern.size):
                q = 2 * pattern[j]
                dst[q] = in_re[j]
                dst[q + 1] = in_im[j]

    @_numba.njit(inline="always", fastmath={"contract"}, boundscheck=False)
    def _accumulate4x2(y_re, y_im, z_re, z_im, x_re, x_im, m_re, m_im, r, c):
        # y += m[r, c:c+4] · x[c:c+4] and z += m[r+1, c:c+4] · x[c:c+4] in one sweep over j:
        # eight loads of x feed 32 multiply-adds (measured 15-25% faster than one row per sweep).
        ar, ai, br, bi = m_re[r, c], m_im[r, c], m_re[r, c + 1], m_im[r, c + 1]
        cr, ci, dr, di = m_re[r, c + 2], m_im[r, c + 2], m_re[r, c + 3], m_im[r, c + 3]
        er, ei, fr, fi = m_re[r + 1, c], m_im[r + 1, c], m_re[r + 1, c + 1], m_im[r + 1, c + 1]
        gr, gi, hr, hi = m_re[r + 1, c + 2], m_im[r + 1, c + 2], m_re[r + 1, c + 3], m_im[r + 1, c + 3]
        p_re, p_im, q_re, q_im = x_re[c], x_im[c], x_re[c + 1], x_im[c + 1]
        s_re, s_im, t_re, t_im = x_re[c + 2], x_im[c + 2], x_re[c + 3], x_im[c + 3]
        for j in range(y_re.size):
            pr, pi, qr, qi = p_re[j], p_im[j], q_re[j], q_im[j]
            sr, si, tr, ti = s_re[j], s_im[j], t_re[j], t_im[j]
            y_re[j] += ar * pr - ai * pi + br * qr - bi * qi + cr * sr - ci * si + dr * tr - di * ti
            y_im[j] += ar * pi + ai * pr + br * qi + bi * qr + cr * si + ci * sr + dr * ti + di * tr
            z_re[j] += er * pr - ei * pi + fr * qr - fi * qi + gr * sr - gi * si + hr * tr - hi * ti
            z_im[j] += er * pi + ei * pr + fr * qi + fi * qr + gr * si + gi * sr + hr * ti + hi * tr

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_permute_tiles(f, ins_bits, pattern, offsets, cmask, moved, source_row, workers):
        # A permutation matrix (x, cx, ccx, controlled swaps): row ``moved[i]`` of every group
        # receives row ``source_row[i]``; rows that stay are never read. Tiles as in
        # _numba_dense_tiles; the moved rows are copied to a buffer, then to their places.
        size_j = pattern.size
        num_tiles = ((f.size >> 1) >> ins_bits.size) // size_j
        contiguous = pattern[size_j - 1] == size_j - 1
        per_worker = (num_tiles + workers - 1) // workers
        for worker in _numba.prange(workers):
            x_re = np.empty((moved.size, size_j), dtype=f.dtype)
            x_im = np.empty((moved.size, size_j), dtype=f.dtype)
            for tile in range(worker * per_worker, min(num_tiles, (worker + 1) * per_worker)):
                base = _tile_base(tile * size_j, ins_bits, cmask)
                for i in range(moved.size):
                    _gather_row(f, base + offsets[source_row[i]], pattern, contiguous, x_re[i], x_im[i])
                for i in range(moved.size):
                    _scatter_row(f, base + offsets[moved[i]], pattern, contiguous, x_re[i], x_im[i])

    @_numba.njit(parallel=True, cache=True)
    def _numba_diagonal_blocks(psi, block_bits, low_index, high_bits, high_slots, d, any_low):
        # A full pass for a diagonal on many bits. Within a block of 2^block_bits consecutive
        # amplitudes the diagonal bits above the block are constant (their part of the index,
        # ``high``, is computed once per block) and those inside it give ``low_index[r]``.
        size = 1 << block_bits
        for block in _numba.prange(psi.size >> block_bits):
            base = block << block_bits
            high = 0
            for t in range(high_bits.size):
                high |= ((base >> high_bits[t]) & 1) << high_slots[t]
            if any_low:
                for r in range(size):
                    psi[base + r] *= d[high | low_index[r]]
            else:
                value = d[high]
                for r in range(size):
                    psi[base + r] *= value


def _group_geometry(bits) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``bits`` and the offset of each of the ``2^k`` group members from its base index.

    Offset ``r`` sets bit ``bits[j]`` for every bit j of ``r`` (little-endian in ``bits``).

    Examples:
        >>> _group_geometry([3, 0])[1].tolist()
        [0, 8, 1, 9]
    """
    bits = [int(b) for b in bits]
    offsets = np.zeros(1 << len(bits), dtype=np.int64)
    for r in range(offsets.size):
        offsets[r] = sum(1 << b for j, b in enumerate(bits) if (r >> j) & 1)
    return np.array(sorted(bits), dtype=np.int64), offsets


#: Amplitudes of one tile of :func:`_numba_dense_tiles` (2^k rows of J groups), about 32 KiB
#: of complex128 in the split buffers: they stay in the L1/L2 cache while the matrix is applied.
TILE_AMPLITUDES = 2048
#: Most and fewest groups per tile, J.
MAX_TILE_GROUPS = 512
MIN_TILE_GROUPS = 16


def _tile_geometry(bits, cmask: int, num_amplitudes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the tiles of a kernel on target ``bits`` with controls ``cmask`` find their amplitudes
    (:func:`_tile_geometry_of`, kept for the last :data:`GEOMETRY_CACHE_SIZE` arguments: the kernels
    only read the arrays, and a small register's gate costs little more than working them out).

    Examples:
        >>> _tile_geometry([1], 0b100, 64)[1] is _tile_geometry((1,), 4, 64)[1]
        True
    """
    return _tile_geometry_of(tuple(int(b) for b in bits), int(cmask), int(num_amplitudes))


#: Argument tuples whose :func:`_tile_geometry` and :func:`permutation_of` results are kept.
GEOMETRY_CACHE_SIZE = 256


@functools.lru_cache(maxsize=GEOMETRY_CACHE_SIZE)
def _tile_geometry_of(bits: tuple[int, ...], cmask: int, num_amplitudes: int) -> tuple[np.ndarray, np.ndarray,
                                                                                         np.ndarray]:
    """Where the tiles of a kernel on target ``bits`` with controls ``cmask`` find their amplitudes.

    Returns:
        ``(ins_bits, pattern, offsets)``: the sorted target and control bits
        (zeros inserted there make a group's base index), the bases of a tile's
        ``J`` groups relative to its first (``J`` a power of two, at most the
        number of groups), and each group member's offset from its base (bit
        ``bits[j]`` set for every bit j of the row, as :func:`_group_geometry`).

    Examples:
        >>> ins, pattern, offsets = _tile_geometry([1], 0b100, 64)
        >>> ins.tolist(), pattern[:4].tolist(), offsets.tolist()
        ([1, 2], [0, 1, 8, 9], [0, 2])
    """
    controls = [b for b in range(cmask.bit_length()) if (cmask >> b) & 1]
    _sorted, offsets = _group_geometry(bits)
    ins_bits = np.array(sorted([int(b) for b in bits] + controls), dtype=np.int64)
    num_groups = num_amplitudes >> ins_bits.size
    size_j = min(max(MIN_TILE_GROUPS, TILE_AMPLITUDES // offsets.size), MAX_TILE_GROUPS, num_groups)
    pattern = np.arange(size_j, dtype=np.int64)
    for b in ins_bits.tolist():
        pattern = ((pattern >> b) << (b + 1)) | (pattern & ((1 << b) - 1))
    return ins_bits, pattern, offsets


def permutation_of(matrix: np.ndarray) -> np.ndarray | None:
    """``source[r]``, the column of the single 1 in row ``r``, when ``matrix`` is a permutation; else ``None``.

    Matrices of up to 8×8 are looked up by their bytes among the last
    :data:`GEOMETRY_CACHE_SIZE` asked for (a dynamic DQC shot asks about the
    same few gates again and again); the answer must not be changed.

    Examples:
        >>> permutation_of(np.array([[0, 1], [1, 0]])).tolist()
        [1, 0]
        >>> permutation_of(np.array([[0, 1j], [1, 0]])) is None
        True
    """
    matrix = np.asarray(matrix)
    if matrix.ndim == 2 and matrix.size <= 64 and matrix.dtype.kind in "biufc":
        return _small_permutation_of(matrix.shape, matrix.dtype.str, matrix.tobytes())
    return _permutation_of(matrix)


@functools.lru_cache(maxsize=GEOMETRY_CACHE_SIZE)
def _small_permutation_of(shape: tuple[int, int], dtype: str, data: bytes) -> np.ndarray | None:
    """:func:`_permutation_of` of the matrix with these ``shape``, ``dtype`` and bytes (kept)."""
    return _permutation_of(np.frombuffer(data, dtype=dtype).reshape(shape))


def _permutation_of(matrix: np.ndarray) -> np.ndarray | None:
    """:func:`permutation_of`, worked out."""
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        return None
    ones = matrix == 1
    if np.count_nonzero(matrix) != matrix.shape[0] or not np.all(ones.sum(axis=1) == 1) \
            or not np.all(ones.sum(axis=0) == 1):
        return None
    return np.argmax(ones, axis=1)


#: Most consecutive pairs (groups) of one run of the 1- and 2-qubit kernels, and the
#: amplitudes of one chunk of their low-bit versions: a unit of work of the prange loops.
RUN_AMPLITUDES = 4096


def _inserted_bits(bits, cmask: int) -> np.ndarray:
    """The target ``bits`` and the bits of ``cmask``, sorted (int64)."""
    controls = [b for b in range(cmask.bit_length()) if (cmask >> b) & 1]
    return np.array(sorted([int(b) for b in bits] + controls), dtype=np.int64)


def _split_matrix(matrix: np.ndarray, real_dtype) -> tuple[np.ndarray, np.ndarray]:
    """Real and imaginary parts of ``matrix`` as C-contiguous arrays of ``real_dtype``."""
    m = np.asarray(matrix)
    return np.ascontiguousarray(m.real, dtype=real_dtype), np.ascontiguousarray(m.imag, dtype=real_dtype)


def block_plan(bits, cmask: int):
    """``(case, num_segments, kind, hi, gate_bits)`` when a gate on local ``bits`` with controls ``cmask`` fits the block kernels, else ``None``.

    They take 1- and 2-qubit gates whose targets and controls lie on bits 0-2
    (one segment), or whose controls and all targets but one (``hi`` >= 3)
    do (two segments). ``gate_bits``: the targets in the matrix's order, in
    block coordinates (``hi`` as 3). ``case`` names the entry of
    :data:`BLOCK_KERNELS` that says in which precisions the dispatch uses them.

    Examples:
        >>> block_plan([2, 0], 0)
        ('2q (0, 2)', 1, 4, 0, (2, 0))
        >>> block_plan([12], 0b1)
        ('c1q (hi)', 2, 0, 12, (3,))
        >>> block_plan([12, 2], 0)
        ('2q (2, hi)', 2, 3, 12, (3, 2))
        >>> block_plan([3, 4], 0) is None
        True
    """
    return _block_plan(tuple(int(b) for b in bits), int(cmask))


@functools.lru_cache(maxsize=1024)
def _block_plan(bits: tuple, cmask: int):
    bits = list(bits)
    if cmask >= 8 or len(bits) > 2:
        return None
    low = sorted(b for b in bits if b < 3)
    high = [b for b in bits if b >= 3]
    gate_bits = tuple(b if b < 3 else 3 for b in bits)
    if not high:
        kind = BLOCK1_XS.index(_xor_masks([1 << b for b in low]))
        if len(bits) == 1:
            case = f"1q ({bits[0]})" if not cmask else "c1q (low)"
        else:
            case = f"2q ({low[0]}, {low[1]})" if not cmask else "c2q (low)"
        return case, 1, kind, 0, gate_bits
    if len(high) > 1:
        return None
    kind = BLOCK2_XS.index(_xor_masks([1 << b for b in low] + [8]))
    if len(bits) == 1:
        return ("c1q (hi)" if cmask else "1q (hi)"), 2, kind, high[0], gate_bits
    hi = "3" if high[0] == 3 else "hi"
    return (f"2q ({low[0]}, {hi})" if not cmask else "c2q (hi)"), 2, kind, high[0], gate_bits


@functools.lru_cache(maxsize=256)
def _block_layout(num_segments: int, xs: tuple, gate_bits: tuple, cmask: int) -> np.ndarray:
    """Where each coefficient of a block kernel comes from: per row and lane of ``W``, an index
    into ``[v, -v, 0, 1]``, ``v`` the ``d x d`` matrix as reals (re, im interleaved, row-major).

    ``xs``: the kernel's XOR masks (bits 3 and up: the segment); ``gate_bits``: the targets in
    the matrix's order in block coordinates (low bits as they are, segment bit j as 3 + j).
    A lane takes the entry (row of its amplitude, row of the partner) — its real part, or for
    the rows that take the other part the imaginary part, negated on real lanes — where the
    controls are 1, and the identity's entry (1 for the amplitude itself, else 0) elsewhere.
    """
    d = 1 << len(gate_bits)
    terms = _block_terms(num_segments, xs)
    out_seg = np.array([t[0] for t in terms], dtype=np.int64)[:, None]
    x = np.array([((t[0] ^ t[1]) << 3) | (t[2] >> 1) for t in terms], dtype=np.int64)[:, None]
    imag = np.array([t[2] & 1 for t in terms], dtype=bool)[:, None]
    lane = np.arange(BLOCK_REALS, dtype=np.int64)[None, :]
    amp = out_seg * (BLOCK_REALS // 2) + lane // 2

    def row(v):
        return sum(((v >> b) & 1) << j for j, b in enumerate(gate_bits))

    entry = 2 * (row(amp) * d + row(amp ^ x))  # the entry's real part in the matrix viewed as reals
    index = np.where(imag, np.where(lane % 2 == 0, 2 * d * d, 0) + entry + 1, entry)
    identity = np.where(imag | (x != 0), 4 * d * d, 4 * d * d + 1)
    rows = np.where((amp & cmask) == cmask, index, identity)
    # The one-segment kernels sweep two streams (_numba_blocks1), each with these rows.
    return np.concatenate((rows, rows)) if num_segments == 1 else rows


_ZERO_ONE = np.array([0.0, 1.0])


def _block_coefficients(matrix: np.ndarray, plan, cmask: int, real_dtype) -> np.ndarray:
    """The coefficient rows ``W`` of the block kernel of ``plan`` (:func:`block_plan`) for ``matrix``, controls ``cmask``."""
    _case, num_segments, kind, _hi, gate_bits = plan
    m = np.ascontiguousarray(matrix, dtype=np.complex128).reshape(-1).view(np.float64)
    xs = (BLOCK1_XS if num_segments == 1 else BLOCK2_XS)[kind]
    w = np.concatenate((m, -m, _ZERO_ONE))[_block_layout(num_segments, xs, gate_bits, cmask)]
    return w if real_dtype == np.float64 else w.astype(real_dtype)


@functools.lru_cache(maxsize=16)
def _dense8_layout(bits: tuple) -> np.ndarray:
    """Where each coefficient of :func:`_numba_dense8_low` comes from, for an 8x8 matrix on
    ``bits`` (a permutation of 0, 1, 2; index bit j of the matrix = ``bits[j]``): per input real
    j and output real l of a block, an index into ``[v, -v]``, ``v`` the matrix as 128 reals
    (re, im interleaved, row-major).

    Input real j = 2 b + q (amplitude b, q = 1 for its imaginary part) adds to output real
    l = 2 a + p the real form of the entry e = m[row(a), row(b)]: Re e (q = p), Im e (q = 0,
    p = 1), -Im e (q = 1, p = 0).

    Examples:
        >>> _dense8_layout((0, 1, 2))[:2, :4].tolist()
        [[0, 1, 16, 17], [129, 0, 145, 16]]
    """
    amp = np.arange(8, dtype=np.int64)
    row = sum(((amp >> b) & 1) << j for j, b in enumerate(bits))
    j = np.arange(BLOCK_REALS, dtype=np.int64)[:, None]
    lane = np.arange(BLOCK_REALS, dtype=np.int64)[None, :]
    entry = 2 * (row[lane // 2] * 8 + row[j // 2])
    q, p = j % 2, lane % 2
    return np.where(q == 0, entry + p, np.where(p == 0, 128 + entry + 1, entry))


def _dense8_coefficients(matrix: np.ndarray, bits: tuple, real_dtype) -> np.ndarray:
    """The coefficient rows of :func:`_numba_dense8_low` for ``matrix`` on ``bits`` (:func:`_dense8_layout`)."""
    m = np.ascontiguousarray(matrix, dtype=np.complex128).reshape(-1).view(np.float64)
    w = np.concatenate((m, -m))[_dense8_layout(bits)]
    return w if real_dtype == np.float64 else w.astype(real_dtype)


@functools.lru_cache(maxsize=1024)
def _segment_plan(bits: tuple):
    """``(kind, high, offsets, gate_bits, xs)`` of the segment block kernels for an uncontrolled
    k-qubit block on ``bits`` (matrix order) whose low targets make a kind of
    :data:`SEGMENT_LOW` (k = 3: one target >= 3 at least), else ``None``.

    ``high``: the targets >= 3, sorted (int64); ``offsets``: segment s's distance from segment
    0 in reals, segment bit j standing for ``high[j]`` (int64); ``gate_bits``, ``xs``: as
    :func:`_block_layout`.

    Examples:
        >>> kind, high, offsets, gate_bits, xs = _segment_plan((9, 0, 5))
        >>> kind, high.tolist(), offsets.tolist(), gate_bits
        (3, [5, 9], [0, 64, 1024, 1088], (4, 0, 3))
        >>> _segment_plan((0, 1, 2)), _segment_plan((0, 6, 7, 8))  # _numba_dense8_low, the tiles
        (None, None)
    """
    low = tuple(sorted(b for b in bits if b < 3))
    high = sorted(b for b in bits if b >= 3)
    if len(bits) not in SEGMENT_LOW or low not in SEGMENT_LOW[len(bits)] or not high:
        return None
    gate_bits = tuple(b if b < 3 else 3 + high.index(b) for b in bits)
    xs = _xor_masks([1 << b for b in low] + [8 << j for j in range(len(high))])
    offsets = np.array([2 * sum(1 << b for j, b in enumerate(high) if (s >> j) & 1) for s in range(1 << len(high))],
                       dtype=np.int64)
    return SEGMENT_LOW[len(bits)].index(low), np.array(high, dtype=np.int64), offsets, gate_bits, xs


@functools.lru_cache(maxsize=1024)
def _planar_plan(bits: tuple):
    """``(kind, high, offsets, index)`` of the planar block kernels (:func:`_planar_intrinsic`)
    for an uncontrolled k-qubit block on ``bits`` (matrix order; k a key of
    :data:`PLANAR_KERNELS`), else ``None``.

    ``kind``: the index of the targets on bits 0-2 in :data:`PLANAR_LOW`; ``high``: the other
    targets, sorted (int64); ``offsets``: segment s's distance from segment 0 in reals, segment
    bit j standing for ``high[j]`` (int64); ``index``: per coefficient of the kernel, its index
    into the three parts (c, -(c + d), d - c) of the matrix, each ``4^k`` reals in row-major
    order, concatenated (:func:`_planar_coefficients`).

    Examples:
        >>> kind, high, offsets, index = _planar_plan((9, 3, 4, 5))
        >>> kind, high.tolist(), offsets[:4].tolist(), index[:4].tolist()
        (0, [3, 4, 5, 9], [0, 16, 32, 48], [0, 256, 512, 2])
        >>> kind, high, offsets, index = _planar_plan((0, 12, 13, 14))
        >>> PLANAR_LOW[kind], high.tolist(), index.size  # 8 outputs x 16 inputs x 3 parts x 8 lanes
        ((0,), [12, 13, 14], 3072)
        >>> _planar_plan((0, 1, 2, 3, 4, 5)) is None  # k = 6: the tiles
        True
    """
    k = len(bits)
    low = tuple(sorted(b for b in bits if b < 3))
    if k not in PLANAR_KERNELS or len(low) == k:
        return None
    high = sorted(b for b in bits if b >= 3)
    masks = np.array(_xor_masks([1 << b for b in low]), dtype=np.int64)
    segment = np.arange(1 << len(high), dtype=np.int64)
    offsets = sum((((segment >> j) & 1) << (b + 1) for j, b in enumerate(high)), np.zeros_like(segment))

    def row(seg, lane):  # the matrix index of the amplitude at lane ``lane`` of segment ``seg``
        return sum(((lane >> b if b < 3 else seg >> high.index(b)) & 1) << j for j, b in enumerate(bits))

    o = segment[:, None, None, None, None]
    i = segment[None, :, None, None, None]
    x = masks[None, None, :, None, None]
    part = np.arange(3, dtype=np.int64)[None, None, None, :, None]
    lane = np.arange(8 if low else 1, dtype=np.int64)[None, None, None, None, :]
    index = (part << (2 * k)) + (row(o, lane) << k) + row(i, lane ^ x)
    return PLANAR_LOW.index(low), np.array(high, dtype=np.int64), offsets, index.reshape(-1)


def _planar_coefficients(matrix: np.ndarray, index: np.ndarray, real_dtype) -> np.ndarray:
    """The coefficients of :func:`_planar_intrinsic` for ``matrix`` (``index``: :func:`_planar_plan`):
    ``(c, -(c + d), d - c)`` of its entries ``c + i d``, as ``real_dtype``."""
    m = np.asarray(matrix, dtype=np.complex128)
    c, d = m.real.reshape(-1), m.imag.reshape(-1)
    return np.concatenate((c, -(c + d), d - c))[index].astype(real_dtype)


#: The names of the precisions of the tables below, by dtype (``dtype.name`` takes microseconds).
_PRECISION_NAMES = {np.dtype(np.complex128): "complex128", np.dtype(np.complex64): "complex64"}


_BOTH = frozenset({"complex128", "complex64"})

#: Per case of :func:`block_plan`, the precisions in which the dispatch takes the block kernels.
BLOCK_KERNELS = {case: frozenset({"complex128", "complex64"}) for case in (
    "1q (0)", "1q (1)", "1q (2)", "c1q (low)", "c1q (hi)", "2q (0, 1)", "2q (0, 2)", "2q (1, 2)",
    "c2q (low)", "2q (0, hi)", "2q (1, hi)", "2q (2, hi)", "2q (0, 3)", "2q (1, 3)", "2q (2, 3)", "c2q (hi)")}

#: Precisions in which :meth:`NumbaKernels.dense` takes :func:`_numba_dense8_low` for an
#: uncontrolled 3-qubit block on bits 0-2 (else the tiles).
DENSE8_KERNELS = frozenset({"complex128", "complex64"})

#: Per k, the precisions in which :meth:`NumbaKernels.dense` takes the segment block kernels
#: (:func:`_numba_segments3`) for an uncontrolled k-qubit block that
#: :func:`_segment_plan` takes (else the tiles).
SEGMENT_KERNELS = {3: frozenset({"complex128", "complex64"})}

#: Per k and number of targets on bits 0-2, the precisions in which :meth:`NumbaKernels.dense`
#: takes the planar block kernels (:func:`_numba_planar4`, :func:`_numba_planar5`) for an
#: uncontrolled k-qubit block (else the tiles): where they beat the tiles at n = 26 (one
#: process, CPU time against a copy, 2026-12-05, bench/results/kernel_bench-vm-k4-20261205.md).
#: In complex128, k = 4 with three low targets (in-register permutes of 2 segments: 0.22 and
#: 0.33 against the tiles' 0.25 and 0.27) and k = 5 with any (per-lane coefficients of 48-96
#: KiB: 0.12-0.17 against 0.13-0.19) ran no faster than the tiles.
PLANAR_KERNELS = {4: {0: _BOTH, 1: _BOTH, 2: _BOTH, 3: frozenset({"complex64"})},
                  5: {0: _BOTH, 1: frozenset({"complex64"}), 2: frozenset({"complex64"}), 3: frozenset({"complex64"})}}

#: Fewest amplitudes per block of the one-pass diagonal, as bits.
MIN_DIAGONAL_BLOCK_BITS = 4


class NumbaKernels:
    """numba-compiled kernels on NumPy shards (parallel over the process's threads)."""

    name = "numba"
    #: Most target bits of :meth:`dense` (any k works; fusion asks for at most this many).
    max_dense_qubits = 6
    #: The generic diagonal kernel touches only the blocks whose entry is not 1; measured
    #: faster than this kernel's full pass for cz, cp, t, rz on the dev VM (bench/results).
    use_for_diagonal = False

    def _blocks(self, psi, bits, matrix: np.ndarray, cmask: int) -> bool:
        """Apply the gate with the block kernels (:func:`_numba_blocks1`, :func:`_numba_blocks2`)
        when :func:`block_plan` fits it and :data:`BLOCK_KERNELS` picks them for ``psi``'s
        precision; False (nothing done) otherwise."""
        plan = block_plan(bits, cmask)
        if plan is None or _PRECISION_NAMES.get(psi.dtype) not in BLOCK_KERNELS.get(plan[0], ()) or psi.size < 16:
            return False
        _case, num_segments, kind, hi, _gate_bits = plan
        w = _block_coefficients(matrix, plan, cmask, psi.real.dtype)
        run = min(RUN_AMPLITUDES, psi.size)
        if num_segments == 1:
            _numba_blocks1(psi.view(psi.real.dtype), kind, w, run)
        else:
            _numba_blocks2(psi.view(psi.real.dtype), kind, hi, w, run)
        return True

    def _segments(self, psi, plan, matrix: np.ndarray) -> None:
        """Apply an uncontrolled 3-qubit block by :func:`_numba_segments3` (``plan``:
        :func:`_segment_plan`; the shard holds ``16 << h`` amplitudes at least, h the number of
        targets >= 3: two blocks of each segment per chunk)."""
        kind, high, offsets, gate_bits, xs = plan
        real = psi.real.dtype
        m = np.ascontiguousarray(matrix, dtype=np.complex128).reshape(-1).view(np.float64)
        layout = _block_layout(offsets.size, xs, gate_bits, 0)
        w = np.concatenate((m, -m, _ZERO_ONE))[layout].astype(real, copy=False)
        if SEGMENT_LOW[len(gate_bits)][kind]:
            w = w.reshape(-1)
        else:  # lanes alike: one real per row (_segments_intrinsic)
            rows = np.arange(w.shape[0])
            w = np.ascontiguousarray(w[rows, rows & 1])
        _numba_segments3(psi.view(real), kind, high, offsets, w, min(RUN_AMPLITUDES, psi.size >> high.size))

    def dense1(self, psi, bit: int, matrix: np.ndarray, cmask: int) -> None:
        """Apply a 2×2 matrix to local ``bit`` where all ``cmask`` bits are 1.

        One sweep with no gather buffers: the register blocks
        (:meth:`_blocks`) when the controls lie on bits 0-2 and the target
        too, or the target on a bit >= 3 under such controls; runs of
        consecutive pairs (:func:`_numba_dense1_runs`) when the target and the
        controls are all bits >= 2; otherwise (a control on bit 0 or 1 with
        others >= 3, shards of fewer than 8 amplitudes) the tiles of
        :meth:`dense`, which touch only the amplitudes whose controls are 1.
        """
        if self._blocks(psi, [bit], matrix, cmask):
            return
        ins_bits = _inserted_bits([bit], cmask)
        if ins_bits[0] < 2:
            self.dense(psi, [bit], matrix, cmask)
            return
        m_re, m_im = _split_matrix(matrix, psi.real.dtype)
        _numba_dense1_runs(psi.view(psi.real.dtype), bit, ins_bits, cmask, m_re, m_im, min(RUN_AMPLITUDES, psi.size))

    def dense2(self, psi, bit_a: int, bit_b: int, matrix: np.ndarray, cmask: int) -> None:
        """Apply a 4×4 matrix (index bit 0 = ``bit_a``) where all ``cmask`` bits are 1.

        The register blocks (:meth:`_blocks`) when the controls lie on bits
        0-2 and so does one target at least (the other may be any bit);
        without controls, runs of consecutive groups when both bits are >= 3
        (:func:`_numba_dense2_runs`); otherwise the tiles of :meth:`dense`
        (runs of 4 groups were measured slower than the tiles, 2026-12-04,
        n = 26: bits (2, 13) 0.21 against 0.30 of a copy in complex128, 0.13
        against 0.36 in complex64).
        """
        if self._blocks(psi, [bit_a, bit_b], matrix, cmask):
            return
        lo, hi = sorted((bit_a, bit_b))
        if cmask or lo < 3:
            self.dense(psi, [bit_a, bit_b], matrix, cmask)
            return
        m = np.asarray(matrix)
        if bit_a > bit_b:  # rows and columns in the order of the amplitudes: index bit 0 = lo
            order = [0, 2, 1, 3]
            m = m[np.ix_(order, order)]
        m_re, m_im = _split_matrix(m, psi.real.dtype)
        _numba_dense2_runs(psi.view(psi.real.dtype), lo, hi, m_re, m_im, min(RUN_AMPLITUDES, psi.size))

    def diagonal(self, psi, bits, diag: np.ndarray, cmask: int) -> None:
        """Multiply by a diagonal on local ``bits`` (index bit j = ``bits[j]``)."""
        _numba_diagonal(psi, np.asarray(bits, dtype=np.int64), diag.astype(psi.dtype), cmask)

    def diagonal_pass(self, psi, bits, diag: np.ndarray) -> None:
        """Multiply by an uncontrolled diagonal on local ``bits`` in one pass over ``psi``.

        For fused diagonals, whose entries are rarely 1; index bit j of ``diag``
        is ``bits[j]``.
        """
        # Blocks as long as the lowest diagonal bit allows (one factor per block), but at
        # least 2^MIN_DIAGONAL_BLOCK_BITS amplitudes (a small table of factors per block).
        block_bits = min(max(MIN_DIAGONAL_BLOCK_BITS, min(bits)), psi.size.bit_length() - 1)
        r = np.arange(1 << block_bits, dtype=np.int64)
        low_index = np.zeros(r.size, dtype=np.int64)
        high_bits, high_slots = [], []
        for slot, bit in enumerate(bits):
            if bit < block_bits:
                low_index |= ((r >> bit) & 1) << slot
            else:
                high_bits.append(bit)
                high_slots.append(slot)
        _numba_diagonal_blocks(psi, block_bits, low_index, np.array(high_bits, dtype=np.int64),
                               np.array(high_slots, dtype=np.int64), diag.astype(psi.dtype),
                               len(high_bits) < len(bits))

    def dense(self, psi, bits, matrix: np.ndarray, cmask: int) -> None:
        """Apply a ``2^k × 2^k`` matrix on local ``bits`` (index bit j = ``bits[j]``) where all ``cmask`` bits are 1.

        One pass in cache-sized tiles (:func:`_numba_dense_tiles`), except
        uncontrolled 3-qubit blocks, which run in register blocks of 8
        amplitudes: on bits 0-2 (shards of 32 amplitudes or more, precisions
        of :data:`DENSE8_KERNELS`) by :func:`_numba_dense8_low`; with h >= 1
        targets >= 3 (shards of ``16 << h`` amplitudes or more, precisions of
        :data:`SEGMENT_KERNELS`) in 2^h segments (:meth:`_segments`); and
        uncontrolled 4- and 5-qubit blocks (shards of ``8 << h`` amplitudes
        or more, h the number of targets >= 3; precisions and numbers of
        targets on bits 0-2 of :data:`PLANAR_KERNELS`) in planar register blocks
        (:func:`_numba_planar4`, :func:`_numba_planar5`). The arithmetic is
        in ``psi``'s precision.
        """
        precision = _PRECISION_NAMES.get(psi.dtype)
        if not cmask and len(bits) == 3 and psi.size >= 32 and precision in DENSE8_KERNELS:
            key = tuple(int(b) for b in bits)
            if sorted(key) == [0, 1, 2]:
                real = psi.real.dtype
                _numba_dense8_low(psi.view(real), _dense8_coefficients(matrix, key, real),
                                  min(RUN_AMPLITUDES, psi.size), DENSE8_STREAMS[precision])
                return
        if not cmask and precision in SEGMENT_KERNELS.get(len(bits), ()):
            plan = _segment_plan(tuple(int(b) for b in bits))
            if plan is not None and psi.size >= 16 << plan[1].size:
                self._segments(psi, plan, matrix)
                return
        if not cmask and len(bits) in PLANAR_KERNELS:
            plan = _planar_plan(tuple(int(b) for b in bits))
            if plan is not None and precision in PLANAR_KERNELS[len(bits)][len(PLANAR_LOW[plan[0]])] \
                    and psi.size >= 8 << plan[1].size:
                kind, high, offsets, index = plan
                real = psi.real.dtype
                driver = _numba_planar4 if len(bits) == 4 else _numba_planar5
                driver(psi.view(real), kind, high, offsets, _planar_coefficients(matrix, index, real),
                       min(RUN_AMPLITUDES, psi.size >> high.size))
                return
        m = np.asarray(matrix).astype(psi.dtype)
        real = psi.real.dtype
        _numba_dense_tiles(psi.view(real), *_tile_geometry(bits, cmask, psi.size), cmask,
                           np.ascontiguousarray(m.real, dtype=real), np.ascontiguousarray(m.imag, dtype=real), _numba.get_num_threads())

    def permute(self, psi, bits, source: np.ndarray, cmask: int) -> None:
        """Apply the permutation matrix whose row ``r`` has its 1 in column ``source[r]`` (from
        :func:`permutation_of`) on local ``bits`` where all ``cmask`` bits are 1: copies, no arithmetic.

        Only the rows that move are read and written (``cx`` touches a quarter
        of the shard twice). ``x``, ``cx`` and ``ccx`` with the target and the
        controls on bits >= 2 exchange runs of consecutive amplitudes
        (:func:`_numba_swap_runs`); permutations on bits 0 and 1 alone
        (``cx`` on them, ``swap``) permute every block of four amplitudes
        (:func:`_numba_permute_low`); the others go through tiles.
        """
        source = np.asarray(source, dtype=np.int64)
        moved = np.nonzero(source != np.arange(source.size))[0].astype(np.int64)
        if moved.size == 0:
            return
        ins_bits = _inserted_bits(bits, cmask)
        if int(ins_bits[-1]) <= 1 and psi.size >= 4:  # targets and controls on bits 0 and 1 (cx (1, 0))
            sources = []
            for amp in range(4):
                if (amp & cmask) != cmask:
                    sources.append(amp)
                    continue
                row = sum(((amp >> int(b)) & 1) << j for j, b in enumerate(bits))
                src = amp
                for j, b in enumerate(bits):
                    src = (src & ~(1 << int(b))) | (((int(source[row]) >> j) & 1) << int(b))
                sources.append(src)
            a = psi.view(np.int64) if psi.dtype == np.complex64 else psi
            _numba_permute_low(a, *sources, min(RUN_AMPLITUDES, psi.size))
            return
        if len(bits) == 1 and int(ins_bits[0]) >= 2:  # x, cx, ccx off the lowest bits
            _numba_swap_runs(psi.view(psi.real.dtype), int(bits[0]), ins_bits, cmask, min(RUN_AMPLITUDES, psi.size))
            return
        _numba_permute_tiles(psi.view(psi.real.dtype), *_tile_geometry(bits, cmask, psi.size), cmask,
                             moved, source[moved], _numba.get_num_threads())

    def bit_weights(self, psi, bit: int) -> tuple[float, float]:
        """Local sums of |amplitude|² where ``bit`` is 0 and where it is 1 (float64)."""
        s0, s1 = measure_kernels.bits_weights(psi, [bit])
        return float(s0), float(s1)

    def bits_weights(self, psi, bits) -> np.ndarray:
        """Local sums of |amplitude|² for every value of up to ``measure_kernels.MAX_BITS`` local
        ``bits`` (bit j of the index: ``bits[j]``), in one pass, independent of the thread count."""
        return measure_kernels.bits_weights(psi, bits)

    def collapse(self, psi, bits, values, scale: float) -> None:
        """Keep the amplitudes whose local ``bits`` equal ``values``, times ``scale``; zero the rest (one pass)."""
        measure_kernels.collapse(psi, bits, values, scale)

    def collapse_reset(self, psi, bit: int, value: int, scale: float) -> None:
        """Keep the amplitudes whose local ``bit`` is ``value``, times ``scale``, moved to ``bit`` = 0; zero the
        rest (one pass: :func:`measure_kernels.collapse_reset`)."""
        measure_kernels.collapse_reset(psi, bit, value, scale)


_CUDA_DENSE1 = r"""
const long long stride = 1LL << bit;
const long long i0 = ((i >> bit) << (bit + 1)) | (i & (stride - 1));
if ((i0 & cmask) == cmask) {
    const long long i1 = i0 | stride;
    const T a0 = psi[i0];
    const T a1 = psi[i1];
    psi[i0] = m[0] * a0 + m[1] * a1;
    psi[i1] = m[2] * a0 + m[3] * a1;
}
"""

_CUDA_DENSE2 = r"""
const long long lo = bit_a < bit_b ? bit_a : bit_b;
const long long hi = bit_a < bit_b ? bit_b : bit_a;
long long j = ((i >> lo) << (lo + 1)) | (i & ((1LL << lo) - 1));
j = ((j >> hi) << (hi + 1)) | (j & ((1LL << hi) - 1));
if ((j & cmask) == cmask) {
    const long long sa = 1LL << bit_a, sb = 1LL << bit_b;
    const T a0 = psi[j], a1 = psi[j | sa], a2 = psi[j | sb], a3 = psi[j | sa | sb];
    psi[j]           = m[0] * a0 + m[1] * a1 + m[2] * a2 + m[3] * a3;
    psi[j | sa]      = m[4] * a0 + m[5] * a1 + m[6] * a2 + m[7] * a3;
    psi[j | sb]      = m[8] * a0 + m[9] * a1 + m[10] * a2 + m[11] * a3;
    psi[j | sa | sb] = m[12] * a0 + m[13] * a1 + m[14] * a2 + m[15] * a3;
}
"""

_CUDA_DIAGONAL = r"""
if ((i & cmask) == cmask) {
    long long j = 0;
    for (int t = 0; t < nbits; ++t) {
        j |= ((i >> bits[t]) & 1LL) << t;
    }
    psi[i] = psi[i] * d[j];
}
"""


_CUDA_DENSE_K = r"""
long long j = i;
for (int t = 0; t < k; ++t) {
    const long long b = sorted_bits[t];
    j = ((j >> b) << (b + 1)) | (j & ((1LL << b) - 1));
}
if ((j & cmask) == cmask) {
    const int dim = 1 << k;
    T buf[32];
    for (int r = 0; r < dim; ++r) {
        buf[r] = psi[j + offsets[r]];
    }
    for (int r = 0; r < dim; ++r) {
        T acc = m[r * dim] * buf[0];
        for (int c = 1; c < dim; ++c) {
            acc += m[r * dim + c] * buf[c];
        }
        psi[j + offsets[r]] = acc;
    }
}
"""

#: The same with ``K`` fixed when the kernel is compiled (one kernel per k): the loops unroll
#: and the 2^K amplitudes of a group stay in registers instead of local memory.
_CUDA_DENSE_K_FIXED = r"""
long long j = i;
#pragma unroll
for (int t = 0; t < K; ++t) {
    const long long b = sorted_bits[t];
    j = ((j >> b) << (b + 1)) | (j & ((1LL << b) - 1));
}
if ((j & cmask) == cmask) {
    T buf[1 << K];
#pragma unroll
    for (int r = 0; r < (1 << K); ++r) {
        buf[r] = psi[j + offsets[r]];
    }
#pragma unroll
    for (int r = 0; r < (1 << K); ++r) {
        T acc = m[r << K] * buf[0];
#pragma unroll
        for (int c = 1; c < (1 << K); ++c) {
            acc += m[(r << K) + c] * buf[c];
        }
        psi[j + offsets[r]] = acc;
    }
}
"""

#: Most target bits of :meth:`CupyKernels.dense` (the per-thread buffer holds 2^5 amplitudes).
CUDA_MAX_DENSE_QUBITS = 5


#: The k-qubit CUDA kernels :class:`CupyKernels` can use (:func:`cuda_dense_variant`).
CUDA_DENSE_VARIANTS = ("auto", "fixed", "generic", "tiled", "fma", "lanes")

#: Targets below this bit make the one-thread-per-group kernels read strided memory (a warp's 32
#: consecutive amplitudes): the lane kernel of :mod:`dqsim.backend.cuda_dense` and the
#: shared-memory tiles (:mod:`dqsim.backend.cuda_tiles`) read such groups coalesced.
CUDA_LOW_BITS = 5
#: (k, bytes per amplitude) of the blocks whose matrix is too large for constant memory but for which
#: ``auto`` still takes the group kernel of :mod:`dqsim.backend.cuda_dense` (matrix read from global
#: memory, explicit fused multiply-adds) over the ElementwiseKernel: 5-qubit blocks, 0.35-0.58 of the
#: copy bandwidth against 0.17-0.50 (complex128) and 0.28-0.50 against 0.23-0.39 (complex64) on an H100
#: (2026-12-05, bench/results/gpu-h100-20261205, run 2). Complex128 4-qubit blocks stay on the
#: ElementwiseKernel (0.82-0.96 against 0.50-0.83).
CUDA_AUTO_GLOBAL_GROUPS: frozenset = frozenset({(5, 16), (5, 8)})


def cuda_dense_variant(environ=None) -> str:
    """Which k-qubit CUDA kernel :class:`CupyKernels` uses, from ``DQSIM_CUDA_DENSE``.

    ``auto`` (default): per gate, the kernel :func:`cuda_route` names;
    ``fixed``: one thread per group, ``k`` fixed at compile time (CuPy
    ``ElementwiseKernel``s); ``generic``: the same with ``k`` read at run
    time (one kernel for every k), the fallback; ``tiled``: every k-qubit
    block, and 1- and 2-qubit gates with a low target, staged through
    shared memory (:mod:`dqsim.backend.cuda_tiles`); ``fma``: every dense
    gate through the group kernel of :mod:`dqsim.backend.cuda_dense`
    (explicit fused multiply-adds; small matrices in constant memory);
    ``lanes``: the same, but gates whose targets are all below bit 5 (at
    most 4 of them) through its warp-shuffle kernel.
    """
    value = (os.environ if environ is None else environ).get("DQSIM_CUDA_DENSE", "auto")
    if value not in CUDA_DENSE_VARIANTS:
        raise ValueError(f"DQSIM_CUDA_DENSE must be one of {', '.join(CUDA_DENSE_VARIANTS)}, got {value!r}")
    return value


def cuda_route(variant: str, bits, itemsize: int, dense_block: bool) -> str:
    """Which CUDA kernel applies a dense gate on local ``bits``: ``lanes``, ``groups``, ``tiles`` or ``elementwise``.

    ``itemsize``: bytes per amplitude (16 complex128, 8 complex64);
    ``dense_block``: the gate came through :meth:`CupyKernels.dense` (a fused
    block) rather than the 1- and 2-qubit entry points. ``lanes`` and
    ``groups`` are the kernels of :mod:`dqsim.backend.cuda_dense`; the lane
    kernel also needs a shard of 32 amplitudes or more
    (:meth:`dqsim.backend.cuda_dense.ConstDense.apply` falls back to
    ``groups``). ``auto`` follows
    an H100's kernel rooflines at 30 qubits (2026-12-05,
    ``bench/results/gpu-h100-20261205``; ratios to the copy bandwidth,
    complex128 / complex64):

    * every target below bit 5, 2-4 of them: ``lanes`` (0.85-0.91 /
      0.83-0.90, against 0.31-0.78 for the ElementwiseKernel and 0.62-0.82
      for the tiles);
    * a matrix of at most 2 KiB (:func:`dqsim.backend.cuda_dense.matrix_in_global`)
      with a target below bit 5 or 3 targets or more: ``groups`` (a 1-qubit
      gate on bit 0 0.98 / 0.97 against 0.86 / 0.82; 3-qubit blocks on mixed
      bits 0.93-0.98 / 0.89-0.97 against 0.85-0.94 / 0.77-0.84; 4-qubit
      complex64 blocks 0.95-0.98 against 0.67-0.85);
    * otherwise the ElementwiseKernel (1- and 2-qubit gates on bits >= 5:
      0.97-0.99 either way; complex128 4-qubit blocks 0.80-0.95 against 0.20
      for ``groups`` with the matrix in constant memory, 0.50-0.83 with it in
      global memory), unless ``(k, itemsize)`` is in
      :data:`CUDA_AUTO_GLOBAL_GROUPS` (5-qubit blocks: ``groups``, matrix in
      global memory).

    Examples:
        >>> [cuda_route("auto", b, 16, True) for b in ((0, 3), (0,), (0, 9, 12), (9, 12), (3, 7, 9, 12))]
        ['lanes', 'groups', 'groups', 'elementwise', 'elementwise']
        >>> cuda_route("auto", (0, 1, 2, 3, 4), 16, True)
        'groups'
        >>> cuda_route("auto", (3, 7, 9, 12), 8, True), cuda_route("tiled", (0,), 16, False)
        ('groups', 'tiles')
    """
    from dqsim.backend.cuda_dense import MAX_LANE_TARGETS, matrix_in_global  # noqa: PLC0415 (no CuPy import)

    k = len(bits)
    low = min(bits) < CUDA_LOW_BITS
    all_low = max(bits) < CUDA_LOW_BITS
    if variant == "tiled":
        return "tiles" if dense_block or low else "elementwise"
    if variant == "fma":
        return "groups"
    if variant == "lanes":
        return "lanes" if all_low and k <= MAX_LANE_TARGETS else "groups"
    if variant != "auto":
        return "elementwise"
    if all_low and 2 <= k <= MAX_LANE_TARGETS:
        return "lanes"
    dtype = np.complex128 if itemsize == 16 else np.complex64
    if not matrix_in_global(k, dtype):
        return "groups" if low or k >= 3 else "elementwise"
    return "groups" if (k, int(itemsize)) in CUDA_AUTO_GLOBAL_GROUPS else "elementwise"


class CupyKernels:
    """CUDA kernels on CuPy shards, one thread per amplitude pair/quad."""

    name = "cupy-elementwise"
    max_dense_qubits = CUDA_MAX_DENSE_QUBITS
    #: One pass on the GPU reached 0.97 of the copy bandwidth on an H100.
    use_for_diagonal = True

    def __init__(self, cupy):
        self._cp = cupy
        self._dense1 = cupy.ElementwiseKernel(
            "int64 bit, int64 cmask, raw T m", "raw T psi", _CUDA_DENSE1, "dqsim_dense1")
        self._dense2 = cupy.ElementwiseKernel(
            "int64 bit_a, int64 bit_b, int64 cmask, raw T m", "raw T psi", _CUDA_DENSE2, "dqsim_dense2")
        self._diagonal = cupy.ElementwiseKernel(
            "int32 nbits, raw int64 bits, int64 cmask, raw T d", "raw T psi", _CUDA_DIAGONAL, "dqsim_diagonal")
        self._dense_k = cupy.ElementwiseKernel(
            "int32 k, raw int64 sorted_bits, raw int64 offsets, int64 cmask, raw T m", "raw T psi",
            _CUDA_DENSE_K, "dqsim_dense_k")
        self.variant = cuda_dense_variant()
        self._dense_fixed = {}
        self._tiles = None
        if self.variant == "tiled":
            from dqsim.backend.cuda_tiles import TiledDense  # noqa: PLC0415 (GPU only)
            self._tiles = TiledDense(cupy)
        self._const = None
        if self.variant in ("auto", "fma", "lanes"):
            from dqsim.backend.cuda_dense import ConstDense  # noqa: PLC0415 (GPU only)
            self._const = ConstDense(cupy)

    def _routed(self, psi, bits, matrix: np.ndarray, cmask: int, dense_block: bool) -> bool:
        """Apply through the kernel :func:`cuda_route` names, unless it names the ElementwiseKernel
        (or no tile fits the shard): ``False`` when the caller's kernel should run instead."""
        route = cuda_route(self.variant, bits, psi.itemsize, dense_block)
        if route in ("lanes", "groups"):
            self._const.apply(psi, bits, matrix, cmask, lanes=route == "lanes")
            return True
        if route == "tiles":
            return self._tiles.apply(psi, bits, matrix, cmask)
        return False

    def _fixed_kernel(self, k: int):
        """The unrolled kernel for ``k`` target bits (compiled on first use)."""
        kernel = self._dense_fixed.get(k)
        if kernel is None:
            kernel = self._cp.ElementwiseKernel(
                "raw int64 sorted_bits, raw int64 offsets, int64 cmask, raw T m", "raw T psi",
                _CUDA_DENSE_K_FIXED, f"dqsim_dense_k{k}", preamble=f"#define K {k}")
            self._dense_fixed[k] = kernel
        return kernel

    def dense(self, psi, bits, matrix: np.ndarray, cmask: int) -> None:
        """Apply a ``2^k × 2^k`` matrix on local ``bits`` (k <= 5), one thread per group.

        Written for fused blocks (:mod:`dqsim.circuit.fusion`); the kernel is
        compiled per ``k`` (:func:`cuda_dense_variant`).
        """
        k = len(bits)
        if k > CUDA_MAX_DENSE_QUBITS:
            raise ValueError(f"dense kernel takes at most {CUDA_MAX_DENSE_QUBITS} bits, got {k}")
        if self._routed(psi, bits, matrix, cmask, dense_block=True):
            return
        sorted_bits, offsets = _group_geometry(bits)
        m = self._cp.asarray(matrix.reshape(-1), dtype=psi.dtype)
        sorted_bits, offsets = self._cp.asarray(sorted_bits), self._cp.asarray(offsets)
        if self.variant != "generic":
            self._fixed_kernel(k)(sorted_bits, offsets, cmask, m, psi, size=psi.size >> k)
        else:
            self._dense_k(np.int32(k), sorted_bits, offsets, cmask, m, psi, size=psi.size >> k)

    def diagonal_pass(self, psi, bits, diag: np.ndarray) -> None:
        """Multiply by an uncontrolled diagonal on local ``bits`` in one pass."""
        self.diagonal(psi, bits, diag, 0)

    def permute(self, psi, bits, source: np.ndarray, cmask: int) -> None:
        """Apply a permutation matrix (row ``r`` from column ``source[r]``) through the dense kernels.

        No copy-only CUDA kernel yet: on an H200 (2026-12-04) ``x`` ran at 0.97
        of the copy bandwidth this way, ``cx`` at 0.52 (lowest bits) to 0.74.
        """
        dim = len(source)
        matrix = np.zeros((dim, dim), dtype=psi.dtype)
        matrix[np.arange(dim), np.asarray(source)] = 1
        if len(bits) == 1:
            self.dense1(psi, bits[0], matrix, cmask)
        elif len(bits) == 2:
            self.dense2(psi, bits[0], bits[1], matrix, cmask)
        else:
            self.dense(psi, bits, matrix, cmask)

    def dense1(self, psi, bit: int, matrix: np.ndarray, cmask: int) -> None:
        if self._routed(psi, (bit,), matrix, cmask, dense_block=False):
            return
        m = self._cp.asarray(matrix.reshape(-1), dtype=psi.dtype)
        self._dense1(bit, cmask, m, psi, size=psi.size >> 1)

    def dense2(self, psi, bit_a: int, bit_b: int, matrix: np.ndarray, cmask: int) -> None:
        if self._routed(psi, (bit_a, bit_b), matrix, cmask, dense_block=False):
            return
        m = self._cp.asarray(matrix.reshape(-1), dtype=psi.dtype)
        self._dense2(bit_a, bit_b, cmask, m, psi, size=psi.size >> 2)

    def bit_weights(self, psi, bit: int) -> tuple[float, float]:
        """Local sums of |amplitude|² where ``bit`` is 0 and where it is 1 (float64)."""
        view = psi.reshape(-1, 2, 1 << bit)
        weights = (view.real.astype(self._cp.float64) ** 2 + view.imag.astype(self._cp.float64) ** 2).sum(axis=(0, 2))
        s0, s1 = weights.get().tolist()
        return s0, s1

    def diagonal(self, psi, bits, diag: np.ndarray, cmask: int) -> None:
        b = self._cp.asarray(np.asarray(bits, dtype=np.int64))
        d = self._cp.asarray(diag, dtype=psi.dtype)
        self._diagonal(np.int32(len(bits)), b, cmask, d, psi, size=psi.size)


def usable_cores() -> int:
    """Cores this process may run on, at least 1: its CPU affinity (``os.sched_getaffinity``, Linux), else
    ``os.cpu_count()``."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def share_cores(ranks_on_node: int, environ=None) -> int | None:
    """Give this rank its share of the node's cores for numba's threads; returns the thread count.

    ``ranks_on_node`` ranks of one job on a node each start numba's default
    (every core) threads, and oversubscribed cores made 2-rank runs of the
    Trotter example 15x slower on the 2-core dev VM (31-61 s against 1.1-1.2 s
    on one rank). So each rank takes ``cores // ranks_on_node`` threads (at
    least 1), ``cores`` being the CPUs this process may run on. Nothing is
    changed when numba is missing or the user set ``NUMBA_NUM_THREADS``
    (returns ``None``).
    """
    environ = os.environ if environ is None else environ
    if _numba is None or "NUMBA_NUM_THREADS" in environ:
        return None
    threads = max(1, min(_numba.config.NUMBA_NUM_THREADS, usable_cores() // max(1, int(ranks_on_node))))
    _numba.set_num_threads(threads)
    return threads


def numba_kernels() -> NumbaKernels | None:
    """The CPU kernels, or ``None`` when numba is missing or they are turned off."""
    if not enabled() or _numba is None:
        return None
    return NumbaKernels()


#: Most amplitudes one work item of :func:`cross_swap` swaps (a unit of its ``prange`` loop).
CROSS_SWAP_CHUNK = 1 << 16
#: Bytes of each shard one vector swap of :func:`cross_swap` moves in runs of this size or longer
#: (shorter runs, a power of two from 8 bytes up, are swapped as one vector each).
CROSS_SWAP_VECTOR_BYTES = 256
#: Run lengths (bytes) that :func:`cross_swap` writes with non-temporal (streaming) stores when
#: both shards start on a 64-byte boundary: every other cache line or line pair of each shard
#: swapped. Measured 2026-12-06 (2 ranks, shards in the window, n = 26, load ~10, Sendrecv /
#: swap in the same run): local bit 3 0.58 -> 0.73 (complex64), 0.86 -> 0.93 (complex128);
#: the top local bit (contiguous) 1.50 -> 1.29 and 1.00 -> 1.11, so longer runs keep ordinary
#: stores (bench/results/kernel_bench-vm-xchg-20261206.md).
CROSS_SWAP_STREAMING_BYTES = (64, 128)
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")

if _numba is not None:

    def _swap_intrinsic(nbytes: int, streaming: bool = False):
        """An intrinsic ``swap(wa, ia, wb, ib)``: the ``nbytes`` bytes from word ``ia`` of ``wa``
        and from word ``ib`` of ``wb`` (uint64 arrays, disjoint ranges) trade places: one vector
        of ``nbytes // 8`` words loaded from each and stored into the other (LLVM splits it
        into the widest registers of the machine: two 512-bit ones for 128 bytes on AVX-512).
        ``streaming``: both places start on a 64-byte boundary (``nbytes`` a multiple of 64)
        and the stores are non-temporal (past the caches, weakly ordered: a
        :func:`_store_fence` must follow before another thread or process reads them)."""
        align = 64 if streaming else 8

        @_intrinsic
        def swap(typingctx, wa, ia, wb, ib):
            sig = _types.void(wa, _types.int64, wb, _types.int64)

            def codegen(context, builder, signature, args):
                vty = _ir.VectorType(_ir.IntType(64), nbytes // 8).as_pointer()
                pa = builder.bitcast(builder.gep(context.make_array(signature.args[0])(
                    context, builder, args[0]).data, [args[1]]), vty)
                pb = builder.bitcast(builder.gep(context.make_array(signature.args[2])(
                    context, builder, args[2]).data, [args[3]]), vty)
                va = builder.load(pa, align=align)
                vb = builder.load(pb, align=align)
                stores = (builder.store(vb, pa, align=align), builder.store(va, pb, align=align))
                if streaming:
                    flag = builder.module.add_metadata([_ir.Constant(_ir.IntType(32), 1)])
                    for store in stores:
                        store.set_metadata("nontemporal", flag)
                return context.get_dummy_value()

            return sig, codegen

        return swap

    @_intrinsic
    def _store_fence(typingctx):
        """A store fence after non-temporal stores: ``sfence`` on x86 (LLVM's own ``fence
        seq_cst`` becomes a locked instruction there, which does not order them), else a full
        fence; every store before it is visible to other cores before any store after it (the
        window's barrier flags included)."""

        def codegen(context, builder, signature, args):
            if _X86:
                fnty = _ir.FunctionType(_ir.VoidType(), [])
                builder.call(_cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse.sfence"), [])
            else:
                builder.fence("seq_cst")
            return context.get_dummy_value()

        return _types.void(), codegen

    _swap8, _swap16, _swap32, _swap64, _swap128, _swap_vector = (
        _swap_intrinsic(b) for b in (8, 16, 32, 64, 128, CROSS_SWAP_VECTOR_BYTES))
    _stream64, _stream128 = _swap_intrinsic(64, True), _swap_intrinsic(128, True)

    @_numba.njit(inline="always")
    def _swap_words(wa, ia, wb, ib, n):
        # The n words (a power of two) from wa[ia] and wb[ib] trade places, in vector swaps; n
        # is the same for every call of a kernel, so the branch is always predicted.
        if n >= CROSS_SWAP_VECTOR_BYTES // 8:
            for j in range(0, n, CROSS_SWAP_VECTOR_BYTES // 8):
                _swap_vector(wa, ia + j, wb, ib + j)
        elif n == 16:
            _swap128(wa, ia, wb, ib)
        elif n == 8:
            _swap64(wa, ia, wb, ib)
        elif n == 4:
            _swap32(wa, ia, wb, ib)
        elif n == 2:
            _swap16(wa, ia, wb, ib)
        else:
            _swap8(wa, ia, wb, ib)

    @_numba.njit(inline="always")
    def _stream_words(wa, ia, wb, ib, n):
        # _swap_words with non-temporal stores for runs of 8 or 16 words (CROSS_SWAP_STREAMING_BYTES),
        # both 64-byte aligned.
        if n == 16:
            _stream128(wa, ia, wb, ib)
        else:
            _stream64(wa, ia, wb, ib)

    @_numba.njit(cache=True, boundscheck=False)
    def _cross_swap_runs(wa, wb, words, mask, x, offset_a, offset_b, count, chunk, streaming):
        # ``count`` runs of ``chunk`` amplitudes, the first at amplitude index x (zeros at the
        # ``mask`` bits), each at the next index with zeros there: ((x | mask) + chunk) & ~mask
        # carries across the masked bits. Against inserting the zeros run by run (a loop over
        # the bits), 2x faster for runs of one amplitude and 1.15x for runs of 8 (complex128,
        # arrays in L3, 2026-12-06).
        # ``streaming``: the runs are CROSS_SWAP_STREAMING_BYTES long and 64-byte aligned.
        n = chunk * words
        if streaming:
            for _ in range(count):
                _stream_words(wa, (x | offset_a) * words, wb, (x | offset_b) * words, n)
                x = ((x | mask) + chunk) & ~mask
            _store_fence()
        else:
            for _ in range(count):
                _swap_words(wa, (x | offset_a) * words, wb, (x | offset_b) * words, n)
                x = ((x | mask) + chunk) & ~mask

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_cross_swap(wa, wb, words, bits, offset_a, offset_b, start, stop, chunk, streaming):
        # ``wa``, ``wb``: the shards as 64-bit words, ``words`` per amplitude. Block element i
        # (start <= i < stop) is amplitude deposit(i) | offset of each shard, deposit inserting
        # zeros at the sorted ``bits``; ``chunk`` consecutive elements (a divisor of
        # 2^bits[0]; start and stop are multiples of it) are consecutive amplitudes, swapped by
        # vector loads and stores (_swap_words). Work items of CROSS_SWAP_CHUNK amplitudes (or
        # one run). The loop on slices used before made the bit-3 exchange compute-bound: in
        # L3 it swapped runs of 128 bytes at 0.4 of this kernel's speed, of 64 bytes at 0.27
        # (bench/results/kernel_bench-vm-xchg-20261206.md).
        runs = (stop - start) // chunk
        mask = 0
        for s in range(bits.size):
            mask |= 1 << bits[s]
        per_item = max(1, CROSS_SWAP_CHUNK // chunk)
        for item in _numba.prange((runs + per_item - 1) // per_item):
            x = start + item * per_item * chunk
            for s in range(bits.size):
                b = bits[s]
                x = ((x >> b) << (b + 1)) | (x & ((1 << b) - 1))
            _cross_swap_runs(wa, wb, words, mask, x, offset_a, offset_b, min(per_item, runs - item * per_item), chunk,
                             streaming)


def has_cross_swap() -> bool:
    """True when :func:`cross_swap` can run (numba is installed)."""
    return _numba is not None


def cross_swap(psi_a, psi_b, bits, offset_a: int, offset_b: int, start: int, stop: int) -> None:
    """Swap, in place, block elements ``start..stop-1`` of two shards (e.g. two ranks' in one shared window).

    The block of ``psi_a`` is its amplitudes whose ``bits`` (local bits)
    equal those of ``offset_a``, in index order; likewise for ``psi_b``.
    Element ``i`` of a block is the amplitude with the bits of ``i`` spread
    over the other positions. ``start`` and ``stop`` are 0, half or all of the
    block's ``psi_a.size >> len(bits)`` elements, so two ranks can each take
    one half. Runs of ``2^min(bits)`` consecutive amplitudes (in chunks of at most
    :data:`CROSS_SWAP_CHUNK`) are swapped by vector loads and stores of up to
    :data:`CROSS_SWAP_VECTOR_BYTES` from each shard; runs of
    :data:`CROSS_SWAP_STREAMING_BYTES` in two shards that start on 64-byte
    boundaries (the window's are page-aligned) by non-temporal stores, fenced
    before the call returns.
    Needs numba (:func:`has_cross_swap`): without it no state makes a window.
    """
    if _numba is None:
        raise RuntimeError("cross_swap needs numba; callers check has_cross_swap() first")
    if stop <= start:
        return
    bits = np.asarray(sorted(int(b) for b in bits), dtype=np.int64)
    count = psi_a.size >> bits.size
    chunk = min(1 << int(bits[0]), CROSS_SWAP_CHUNK, max(1, count >> 1))
    streaming = (chunk * psi_a.itemsize in CROSS_SWAP_STREAMING_BYTES
                 and psi_a.ctypes.data % 64 == 0 and psi_b.ctypes.data % 64 == 0)
    _numba_cross_swap(psi_a.view(np.uint64), psi_b.view(np.uint64), psi_a.itemsize // 8, bits,
                      int(offset_a), int(offset_b), int(start), int(stop), chunk, streaming)
