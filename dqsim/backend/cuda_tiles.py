"""k-qubit dense gates on the GPU in shared-memory tiles, coalesced whatever the target bits.

The one-thread-per-group kernels of :class:`dqsim.backend.fast.CupyKernels`
read the ``2^k`` members of a group straight from global memory. When a
target is one of the lowest bits, neighbouring threads then read addresses
``2^k`` amplitudes apart and most of every memory transaction is wasted: on
an H200 (2026-12-04, ``bench/results/gpu-h200-20261204``) a 3-qubit block on
the lowest bits ran at 0.47 of the copy bandwidth against 0.90 on middle bits.

Here a thread block owns a *tile*: every amplitude whose index bits outside
``span`` equal the block's number, where ``span`` is the target bits plus the
``GB`` lowest other bits (so the tile holds ``G = 2^GB`` whole groups). Its
``2^(k+GB)`` amplitudes are read in the order of their indices — runs of at
least ``2^GB`` consecutive amplitudes, since ``span`` holds every bit below
its lowest gap; each thread has its ``2^k`` reads in flight at once — into
shared memory; each thread then applies the matrix to
one group out of shared memory (its ``2^k`` values in registers), and the
tile is written back in index order. This is the staging through shared
memory that GPU state-vector codes use for low target qubits (e.g. qsim's
"low" gate kernels, Isakov et al., arXiv:2111.02396, sec. 3).

The geometry (which bits the tile spans, where each group member sits in
it) is computed on the host by :func:`tile_plan`; :func:`emulate` replays the
kernel's index arithmetic in NumPy so the tests check it without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Amplitudes of one tile (shared memory: 32 KiB of complex128, 16 KiB of complex64).
TILE_AMPLITUDES = 2048
#: Most target bits of the tiled kernel.
MAX_TILE_TARGETS = 5


@dataclass(frozen=True)
class TilePlan:
    """Where a tile's amplitudes live, for a dense gate on ``targets`` of an ``n``-bit shard.

    Attributes:
        k: number of target bits.
        group_bits: ``GB``, bits of the group number within a tile (``2^GB`` groups per tile).
        span: the ``k + GB`` bits a tile spans, ascending (bit ``t`` of a local index is index bit ``span[t]``).
        rest: the other ``n - k - GB`` bits, ascending (they hold the tile's number).
        member: local index of group member ``c`` of group 0 (``c``'s bit ``j`` at target ``targets[j]``).
        group_slot: position in ``span`` of group bit ``t`` (``t < GB``).
        offsets: ``offsets[i]`` = index bits of local index ``i·2^GB`` (``i < 2^k``). ``span``
            starts with bits ``0 .. GB-1``, so local index ``l`` of tile ``b`` is amplitude
            ``deposit(b, rest) + (l mod 2^GB) + offsets[l >> GB]``.
    """

    k: int
    group_bits: int
    span: tuple[int, ...]
    rest: tuple[int, ...]
    member: tuple[int, ...]
    group_slot: tuple[int, ...]
    offsets: tuple[int, ...]

    @property
    def num_tiles(self) -> int:
        return 1 << len(self.rest)


def tile_plan(targets, num_bits: int, tile_amplitudes: int = TILE_AMPLITUDES) -> TilePlan | None:
    """The :class:`TilePlan` of a dense gate on ``targets`` of a shard of ``2^num_bits`` amplitudes.

    Returns ``None`` when the shard is smaller than one tile (the caller uses
    the one-thread-per-group kernel then) or the gate has more than
    :data:`MAX_TILE_TARGETS` targets.

    Examples:
        >>> p = tile_plan([0, 3], 14, tile_amplitudes=64)
        >>> p.span, p.group_slot, p.member
        ((0, 1, 2, 3, 4, 5), (1, 2, 4, 5), (0, 1, 8, 9))
    """
    targets = [int(b) for b in targets]
    k = len(targets)
    if k == 0 or k > MAX_TILE_TARGETS or len(set(targets)) != k:
        return None
    tile_bits = int(tile_amplitudes).bit_length() - 1
    if num_bits < tile_bits or tile_bits <= k:
        return None
    group_bits = tile_bits - k
    others = [b for b in range(num_bits) if b not in targets]
    span = sorted(targets + others[:group_bits])
    rest = others[group_bits:]
    slot = {b: t for t, b in enumerate(span)}
    member = tuple(sum(1 << slot[targets[j]] for j in range(k) if (c >> j) & 1) for c in range(1 << k))
    group_slot = tuple(slot[b] for b in others[:group_bits])
    assert span[:group_bits] == list(range(group_bits))  # every bit below the GB-th non-target is in span
    offsets = tuple(_deposit(i, span[group_bits:]) for i in range(1 << k))
    return TilePlan(k, group_bits, tuple(span), tuple(rest), member, group_slot, offsets)


def _deposit(value: int, positions) -> int:
    """Bit ``t`` of ``value`` placed at bit ``positions[t]``."""
    return sum(1 << p for t, p in enumerate(positions) if (value >> t) & 1)


def emulate(psi: np.ndarray, plan: TilePlan, matrix: np.ndarray, cmask: int) -> None:
    """Apply ``matrix`` in place as the CUDA kernel does, tile by tile (NumPy; for the tests).

    Same index arithmetic as :data:`CUDA_SOURCE`: global index of local index
    ``l`` in tile ``b`` = deposit(b, rest) + (l mod 2^GB) + offsets[l >> GB];
    group ``g``'s member ``c`` at local index ``member[c] | deposit(g, group_slot)``.
    """
    dim = 1 << plan.k
    tile_size = 1 << (plan.k + plan.group_bits)
    for block in range(plan.num_tiles):
        base = _deposit(block, plan.rest)
        low = (1 << plan.group_bits) - 1
        index = np.array([base + (ell & low) + plan.offsets[ell >> plan.group_bits] for ell in range(tile_size)])
        tile = psi[index].copy()
        for g in range(1 << plan.group_bits):
            local_group = _deposit(g, plan.group_slot)
            if (int(index[local_group]) & cmask) != cmask:
                continue
            slots = [plan.member[c] | local_group for c in range(dim)]
            tile[slots] = matrix @ tile[slots]
        psi[index] = tile


#: The kernel, specialised by ``#define``: K (targets), GB (group bits), SPAN (= K + GB), and
#: ``amp_t`` (the complex type, a typedef after CuPy's complex header, whose templates use ``T``).
#: One block per tile, one thread per group (2^GB threads).
CUDA_SOURCE = r"""
#define THREADS (1 << GB)
#define TILE (1 << SPAN)
#define PAD(l) ((l) + ((l) >> 5))

extern "C" __global__ void __launch_bounds__(THREADS) dqsim_dense_tile(
        amp_t* __restrict__ psi, const amp_t* __restrict__ m, const long long* __restrict__ offsets,
        const int* __restrict__ rest, const int nrest, const int* __restrict__ member,
        const int* __restrict__ group_slot, const long long cmask) {
    // Raw bytes: a __shared__ array may not have a constructor (CuPy's complex has one).
    __shared__ __align__(16) unsigned char tile_bytes[(TILE + (TILE >> 5)) * sizeof(amp_t)];
    amp_t* tile = reinterpret_cast<amp_t*>(tile_bytes);
    const int tid = threadIdx.x;
    long long base = 0;
    const long long block = blockIdx.x;
    for (int t = 0; t < nrest; ++t) {
        base |= ((block >> t) & 1LL) << rest[t];
    }
    // Local index l = tid + i*THREADS is amplitude base + tid + offsets[i]: all 2^K reads in flight.
    amp_t v[1 << K];
#pragma unroll
    for (int i = 0; i < (1 << K); ++i) {
        v[i] = psi[base + tid + offsets[i]];
    }
#pragma unroll
    for (int i = 0; i < (1 << K); ++i) {
        tile[PAD(tid + i * THREADS)] = v[i];
    }
    __syncthreads();
    int local_group = 0;
#pragma unroll
    for (int t = 0; t < GB; ++t) {
        local_group |= ((tid >> t) & 1) << group_slot[t];
    }
    const long long group_index = base + (local_group & (THREADS - 1)) + offsets[local_group >> GB];
    if ((group_index & cmask) == cmask) {
#pragma unroll
        for (int c = 0; c < (1 << K); ++c) {
            v[c] = tile[PAD(member[c] | local_group)];
        }
#pragma unroll
        for (int r = 0; r < (1 << K); ++r) {
            amp_t acc = m[r << K] * v[0];
#pragma unroll
            for (int c = 1; c < (1 << K); ++c) {
                acc += m[(r << K) + c] * v[c];
            }
            tile[PAD(member[r] | local_group)] = acc;
        }
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < (1 << K); ++i) {
        v[i] = tile[PAD(tid + i * THREADS)];
    }
#pragma unroll
    for (int i = 0; i < (1 << K); ++i) {
        psi[base + tid + offsets[i]] = v[i];
    }
}
"""


class TiledDense:
    """Launcher of the tiled kernel on CuPy arrays (one compiled kernel per k and precision)."""

    def __init__(self, cupy, tile_amplitudes: int = TILE_AMPLITUDES):
        self._cp = cupy
        self._tile_amplitudes = int(tile_amplitudes)
        self._kernels = {}
        self._plans = {}

    def _kernel(self, k: int, group_bits: int, dtype):
        key = (k, group_bits, np.dtype(dtype).char)
        kernel = self._kernels.get(key)
        if kernel is None:
            ctype = "complex<double>" if np.dtype(dtype) == np.complex128 else "complex<float>"
            source = (f"#include <cupy/complex.cuh>\ntypedef {ctype} amp_t;\n"
                      f"#define K {k}\n#define GB {group_bits}\n#define SPAN {k + group_bits}\n" + CUDA_SOURCE)
            kernel = self._cp.RawKernel(source, "dqsim_dense_tile")
            self._kernels[key] = kernel
        return kernel

    def plan(self, targets, num_bits: int):
        """The device copies of :func:`tile_plan`'s tables (cached), or ``None`` when no tile fits."""
        key = (tuple(int(b) for b in targets), int(num_bits))
        if key not in self._plans:
            plan = tile_plan(targets, num_bits, self._tile_amplitudes)
            tables = None
            if plan is not None:
                as_int = (lambda values: self._cp.asarray(np.asarray(values if values else [0], dtype=np.int32)))
                offsets = self._cp.asarray(np.asarray(plan.offsets, dtype=np.int64))
                tables = (plan, offsets, as_int(plan.rest), as_int(plan.member), as_int(plan.group_slot))
            self._plans[key] = tables
        return self._plans[key]

    def apply(self, psi, targets, matrix: np.ndarray, cmask: int) -> bool:
        """Apply ``matrix`` on ``targets`` of the shard ``psi`` in place; ``False`` when no tile fits."""
        num_bits = int(psi.size).bit_length() - 1
        tables = self.plan(targets, num_bits)
        if tables is None:
            return False
        plan, offsets, rest, member, group_slot = tables
        m = self._cp.asarray(np.ascontiguousarray(matrix).reshape(-1), dtype=psi.dtype)
        kernel = self._kernel(plan.k, plan.group_bits, psi.dtype)
        kernel((plan.num_tiles,), (1 << plan.group_bits,),
               (psi, m, offsets, rest, np.int32(len(plan.rest)), member, group_slot, np.int64(cmask)))
        return True
