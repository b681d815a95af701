"""k-qubit dense gates on the GPU as CUDA C++: the matrix in constant memory, products as fused multiply-adds.

Two kernels, compiled per number of targets ``k`` and precision (one
``RawModule`` each; GPU only, launched by :class:`ConstDense`):

* ``dqsim_dense_groups``: one thread per group of ``2^k`` amplitudes, as the
  ``fixed`` kernel of :class:`dqsim.backend.fast.CupyKernels`, but the matrix
  sits in ``__constant__`` memory and every complex multiply-add is written
  as four real fused multiply-adds. With the loops unrolled, each matrix
  entry is a compile-time address, so the multiply-adds read it from the
  constant cache with no load instruction. On an H200 (2026-12-04,
  ``bench/results/gpu-h200-20261204``) the ``fixed`` kernel, whose matrix is
  read from global memory and whose products are CuPy's complex type, ran a
  4-qubit block at 0.73 of the copy bandwidth and a 5-qubit one at 0.31; a
  5-qubit block needs 128 double-precision fused multiply-adds per
  amplitude, about what the H200's FP64 units do while its memory moves 32
  bytes.
* ``dqsim_dense_lanes``: for targets all below bit 5 (inside one warp's 32
  consecutive amplitudes), one thread per amplitude: a warp reads 32
  consecutive amplitudes (coalesced), and each thread gets the other members
  of its group from their threads with ``__shfl_xor_sync`` (``2^k - 1``
  exchanges per amplitude). The thread's matrix row is read once into
  registers. The one-thread-per-group kernels read such groups ``2^k``
  amplitudes apart (0.39-0.70 of the copy bandwidth on the lowest bits, same
  run). Warp shuffles in place of shared memory for low target qubits are
  what cuStateVec-style and qsim's "low" kernels do in spirit (Isakov et al.,
  arXiv:2111.02396, sec. 3); the code here is our own.

:func:`lane_masks` and :func:`emulate_lanes` give the lane kernel's index
arithmetic in NumPy so that the tests check it without a GPU.
"""

from __future__ import annotations

import numpy as np

from dqsim.backend.fast import _group_geometry

#: Targets below this bit lie within one warp's 32 consecutive amplitudes.
WARP_BITS = 5
#: Most targets of the lane kernel (its matrix row is held in registers).
MAX_LANE_TARGETS = 4
#: Most targets of the group kernel (its group is held in registers).
MAX_GROUP_TARGETS = 5
#: Threads per block of both kernels (their 4- and 5-qubit forms use 130-254 registers a thread on
#: sm_90, ptxas 12.9: blocks of 128 let 2-3 blocks share a multiprocessor).
THREADS = 128
#: Amplitudes each thread of the lane kernel keeps in flight per loop turn.
LANE_UNROLL = 4
#: Largest matrix (bytes) the kernels keep in constant memory (:func:`matrix_in_global`).
CONSTANT_MATRIX_BYTES = 2048

CUDA_SOURCE = r"""
// Specialised by text before this source: amp_t (double2 / float2), FMA (fma / fmaf), K, UNROLL, THREADS,
// MATRIX_GLOBAL (1: the matrix is a kernel argument read through the read-only cache; 0: constant memory).
#if MATRIX_GLOBAL
#define MAT(i) __ldg(&mat[(i)])
#define MAT_PARAM , const amp_t* __restrict__ mat
#else
__constant__ amp_t dqsim_matrix[1 << (2 * K)];
#define MAT(i) dqsim_matrix[(i)]
#define MAT_PARAM
#endif
__constant__ long long dqsim_offsets[1 << K];

__device__ __forceinline__ void cmac(amp_t& acc, const amp_t m, const amp_t a) {
    acc.x = FMA(m.x, a.x, acc.x);
    acc.x = FMA(-m.y, a.y, acc.x);
    acc.y = FMA(m.x, a.y, acc.y);
    acc.y = FMA(m.y, a.x, acc.y);
}

// One thread per group: base index j (zeros at the sorted target bits s0..), members j + offsets[r].
extern "C" __global__ void __launch_bounds__(THREADS) dqsim_dense_groups(
        amp_t* __restrict__ psi, const long long groups, const long long s0, const long long s1,
        const long long s2, const long long s3, const long long s4, const long long cmask MAT_PARAM) {
    const long long s[5] = {s0, s1, s2, s3, s4};
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x; g < groups; g += stride) {
        long long j = g;
#pragma unroll
        for (int t = 0; t < K; ++t) {
            j = ((j >> s[t]) << (s[t] + 1)) | (j & ((1LL << s[t]) - 1));
        }
        if ((j & cmask) != cmask) {
            continue;
        }
        amp_t v[1 << K];
#pragma unroll
        for (int r = 0; r < (1 << K); ++r) {
            v[r] = psi[j + dqsim_offsets[r]];
        }
#pragma unroll
        for (int r = 0; r < (1 << K); ++r) {
            amp_t acc;
            acc.x = 0;
            acc.y = 0;
#pragma unroll
            for (int c = 0; c < (1 << K); ++c) {
                cmac(acc, MAT((r << K) + c), v[c]);
            }
            psi[j + dqsim_offsets[r]] = acc;
        }
    }
}

#if K <= 4
// One thread per amplitude, targets t0.. (gate order) all below bit 5. size and the grid's
// thread count are multiples of 32, so every loop condition is the same on a warp's lanes.
extern "C" __global__ void __launch_bounds__(THREADS) dqsim_dense_lanes(
        amp_t* __restrict__ psi, const long long size, const int t0, const int t1, const int t2,
        const int t3, const long long cmask MAT_PARAM) {
    const int tb[4] = {t0, t1, t2, t3};
    const int lane = threadIdx.x & 31;
    int row = 0;
#pragma unroll
    for (int t = 0; t < K; ++t) {
        row |= ((lane >> tb[t]) & 1) << t;
    }
    // Term d of the row: the member whose target bits differ from this lane's by d, i.e. the
    // lane lane ^ xmask[d] (the same on every lane), times matrix entry (row, row ^ d).
    amp_t mrow[1 << K];
    int xmask[1 << K];
#pragma unroll
    for (int d = 0; d < (1 << K); ++d) {
        mrow[d] = MAT((row << K) + (row ^ d));
        int x = 0;
#pragma unroll
        for (int t = 0; t < K; ++t) {
            x |= ((d >> t) & 1) << tb[t];
        }
        xmask[d] = x;
    }
    const long long stride = (long long)gridDim.x * blockDim.x;
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    for (; i + (UNROLL - 1) * stride < size; i += UNROLL * stride) {
        amp_t a[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            a[u] = psi[i + u * stride];
        }
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            amp_t acc;
            acc.x = 0;
            acc.y = 0;
            cmac(acc, mrow[0], a[u]);
#pragma unroll
            for (int d = 1; d < (1 << K); ++d) {
                amp_t v;
                v.x = __shfl_xor_sync(0xffffffffu, a[u].x, xmask[d]);
                v.y = __shfl_xor_sync(0xffffffffu, a[u].y, xmask[d]);
                cmac(acc, mrow[d], v);
            }
            if (((i + u * stride) & cmask) == cmask) {
                psi[i + u * stride] = acc;
            }
        }
    }
    for (; i < size; i += stride) {
        const amp_t a = psi[i];
        amp_t acc;
        acc.x = 0;
        acc.y = 0;
        cmac(acc, mrow[0], a);
#pragma unroll
        for (int d = 1; d < (1 << K); ++d) {
            amp_t v;
            v.x = __shfl_xor_sync(0xffffffffu, a.x, xmask[d]);
            v.y = __shfl_xor_sync(0xffffffffu, a.y, xmask[d]);
            cmac(acc, mrow[d], v);
        }
        if ((i & cmask) == cmask) {
            psi[i] = acc;
        }
    }
}
#endif
"""


def matrix_in_global(k: int, dtype) -> bool:
    """Whether the module for ``k`` targets and ``dtype`` reads its matrix from global memory.

    Matrices above :data:`CONSTANT_MATRIX_BYTES` do: on an H100 (2026-12-05,
    ``bench/results/gpu-h100-20261205``) the group kernel with a 4 KiB matrix
    in constant memory (4 qubits, complex128) ran at 0.20 of the copy
    bandwidth and a 2 KiB one (complex64) at 0.95-0.98; the likely cause,
    not profiled, is the constant cache's size.

    Examples:
        >>> matrix_in_global(3, np.complex128), matrix_in_global(4, np.complex128), matrix_in_global(4, np.complex64)
        (False, True, False)
    """
    return (np.dtype(dtype).itemsize << (2 * int(k))) > CONSTANT_MATRIX_BYTES


def module_source(k: int, dtype) -> str:
    """The CUDA source of the module for ``k`` targets and complex ``dtype`` (no CuPy headers)."""
    if np.dtype(dtype) == np.complex128:
        head = "typedef double2 amp_t;\n#define FMA fma\n"
    elif np.dtype(dtype) == np.complex64:
        head = "typedef float2 amp_t;\n#define FMA fmaf\n"
    else:
        raise ValueError(f"dense kernels take complex64 or complex128 amplitudes, got {np.dtype(dtype)}")
    if not 1 <= k <= MAX_GROUP_TARGETS:
        raise ValueError(f"dense kernels take 1..{MAX_GROUP_TARGETS} targets, got {k}")
    return (head + f"#define K {int(k)}\n#define UNROLL {LANE_UNROLL}\n#define THREADS {THREADS}\n"
            f"#define MATRIX_GLOBAL {int(matrix_in_global(k, dtype))}\n" + CUDA_SOURCE)


def uses_lanes(targets, num_amplitudes: int) -> bool:
    """Whether a gate on ``targets`` of a shard of ``num_amplitudes`` goes through the lane kernel.

    Examples:
        >>> uses_lanes((0, 3), 1 << 20), uses_lanes((0, 5), 1 << 20), uses_lanes((0,), 16)
        (True, False, False)
    """
    return (len(targets) <= MAX_LANE_TARGETS and max(targets) < WARP_BITS
            and num_amplitudes >= 1 << WARP_BITS)


def lane_masks(targets) -> list[int]:
    """XOR mask ``d`` of the lane kernel: the lane whose target bits differ from a lane's by ``d``.

    Bit ``t`` of ``d`` (matrix index bit ``t``) sits at lane bit ``targets[t]``: the group
    offsets of :func:`dqsim.backend.fast._group_geometry`.

    Examples:
        >>> lane_masks((3, 0))
        [0, 8, 1, 9]
    """
    return _group_geometry(targets)[1].tolist()


def lane_row(lane: int, targets) -> int:
    """Matrix row of ``lane`` (bit ``t`` = its bit ``targets[t]``)."""
    return sum(((lane >> int(b)) & 1) << t for t, b in enumerate(targets))


def emulate_lanes(psi: np.ndarray, targets, matrix: np.ndarray, cmask: int) -> np.ndarray:
    """The lane kernel's result on a NumPy shard, replaying its per-lane arithmetic (for tests).

    Every 32 consecutive amplitudes are one warp's values; lane ``l``'s term
    ``d`` is ``matrix[row, row ^ d]`` times the value of lane ``l ^ mask[d]``
    (:func:`lane_masks`), as ``__shfl_xor_sync`` hands it over.
    """
    out = psi.copy()
    masks = lane_masks(targets)
    m = np.asarray(matrix).reshape(1 << len(targets), 1 << len(targets))
    warps = psi.reshape(-1, 32)
    index = np.arange(psi.size, dtype=np.int64).reshape(-1, 32)
    result = np.zeros_like(warps)
    for lane in range(32):
        row = lane_row(lane, targets)
        for d, mask in enumerate(masks):
            result[:, lane] += m[row, row ^ d] * warps[:, lane ^ mask]
    keep = (index & cmask) == cmask
    out.reshape(-1, 32)[keep] = result[keep]
    return out


class ConstDense:
    """Launcher of the two kernels on CuPy shards (one module per ``k`` and precision)."""

    def __init__(self, cupy):
        self._cp = cupy
        self._modules = {}
        self._sms = int(cupy.cuda.Device().attributes["MultiProcessorCount"])

    def _module(self, k: int, dtype):
        key = (k, np.dtype(dtype).char)
        entry = self._modules.get(key)
        if entry is None:
            module = self._cp.RawModule(code=module_source(k, dtype))
            lanes = module.get_function("dqsim_dense_lanes") if k <= MAX_LANE_TARGETS else None
            symbol = None if matrix_in_global(k, dtype) else module.get_global("dqsim_matrix")
            entry = (module.get_function("dqsim_dense_groups"), lanes, symbol, module.get_global("dqsim_offsets"))
            self._modules[key] = entry
        return entry

    def _upload(self, pointer, values) -> None:
        """Copy ``values`` (a device array) into a ``__constant__`` symbol, in stream order."""
        pointer.copy_from_device_async(values.data, values.nbytes, self._cp.cuda.get_current_stream())

    def apply(self, psi, targets, matrix: np.ndarray, cmask: int, lanes: bool = True) -> None:
        """Apply the ``2^k × 2^k`` ``matrix`` on local ``targets`` (gate order) of ``psi`` in place.

        Row/column bit ``t`` of ``matrix`` is target ``targets[t]``; only
        amplitudes with every bit of ``cmask`` set change. ``lanes``: the
        lane kernel where :func:`uses_lanes` accepts the gate, else the group
        kernel.
        """
        targets = tuple(int(b) for b in targets)
        k = len(targets)
        groups_kernel, lanes_kernel, matrix_symbol, offsets_symbol = self._module(k, psi.dtype)
        m = self._cp.asarray(np.ascontiguousarray(matrix).reshape(-1), dtype=psi.dtype)
        if matrix_symbol is None:
            extra = (m,)
        else:
            self._upload(matrix_symbol, m)
            extra = ()
        if lanes and uses_lanes(targets, psi.size):
            padded = targets + (0,) * (MAX_LANE_TARGETS - k)
            blocks = int(min(-(-psi.size // THREADS), 32 * self._sms))
            lanes_kernel((blocks,), (THREADS,), (psi, np.int64(psi.size), *(np.int32(b) for b in padded),
                                                 np.int64(cmask), *extra))
            return
        sorted_bits, offsets = _group_geometry(targets)
        self._upload(offsets_symbol, self._cp.asarray(offsets))
        sorted_bits = sorted_bits.tolist() + [0] * (MAX_GROUP_TARGETS - k)
        groups = psi.size >> k
        blocks = int(min(-(-groups // THREADS), 1 << 30))
        groups_kernel((blocks,), (THREADS,), (psi, np.int64(groups), *(np.int64(b) for b in sorted_bits),
                                              np.int64(cmask), *extra))
