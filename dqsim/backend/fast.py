"""Compiled gate kernels for the common cases: one pass over the shard.

The generic kernels of :mod:`dqsim.state.kernels` are written once against the
array API and handle every gate; they move the shard several times per gate
(temporaries of ``tensordot``). For 1- and 2-qubit gates, the most common by
far, for the k-qubit blocks of gate fusion (:mod:`dqsim.circuit.fusion`) and
for fused diagonals, this module offers kernels that read and write each
amplitude once:

* on the CPU, numba ``prange`` loops (when numba is installed);
* on the GPU, CuPy ``ElementwiseKernel`` s compiled at first use.

Both implement the same contract and are checked against the generic kernels
by the tests. ``DQSIM_FAST_KERNELS=0`` turns them off. The index arithmetic
inserts zero bits at the target positions: pair ``k`` of a 1-qubit gate on bit
``b`` is ``i0 = ((k >> b) << (b+1)) | (k & (2^b − 1))`` and ``i1 = i0 | 2^b``
(the usual state-vector loop, e.g. QuEST's ``statevec_compactUnitary``).
"""

from __future__ import annotations

import os

import numpy as np


def enabled() -> bool:
    """False when the environment variable ``DQSIM_FAST_KERNELS`` is ``0``."""
    return os.environ.get("DQSIM_FAST_KERNELS", "1") != "0"


try:
    import numba as _numba
except ImportError:  # the CPU falls back to the generic kernels
    _numba = None

if _numba is not None:

    @_numba.njit(parallel=True, cache=True)
    def _numba_dense1(psi, bit, m, cmask):
        stride = 1 << bit
        low = stride - 1
        m00, m01, m10, m11 = m[0, 0], m[0, 1], m[1, 0], m[1, 1]
        for k in _numba.prange(psi.size >> 1):
            i0 = ((k >> bit) << (bit + 1)) | (k & low)
            if (i0 & cmask) == cmask:
                i1 = i0 | stride
                a0 = psi[i0]
                a1 = psi[i1]
                psi[i0] = m00 * a0 + m01 * a1
                psi[i1] = m10 * a0 + m11 * a1

    @_numba.njit(parallel=True, cache=True)
    def _numba_dense2(psi, bit_a, bit_b, m, cmask):
        lo = min(bit_a, bit_b)
        hi = max(bit_a, bit_b)
        sa = 1 << bit_a
        sb = 1 << bit_b
        for k in _numba.prange(psi.size >> 2):
            i = ((k >> lo) << (lo + 1)) | (k & ((1 << lo) - 1))
            i = ((i >> hi) << (hi + 1)) | (i & ((1 << hi) - 1))
            if (i & cmask) == cmask:
                a0 = psi[i]
                a1 = psi[i | sa]
                a2 = psi[i | sb]
                a3 = psi[i | sa | sb]
                psi[i] = m[0, 0] * a0 + m[0, 1] * a1 + m[0, 2] * a2 + m[0, 3] * a3
                psi[i | sa] = m[1, 0] * a0 + m[1, 1] * a1 + m[1, 2] * a2 + m[1, 3] * a3
                psi[i | sb] = m[2, 0] * a0 + m[2, 1] * a1 + m[2, 2] * a2 + m[2, 3] * a3
                psi[i | sa | sb] = m[3, 0] * a0 + m[3, 1] * a1 + m[3, 2] * a2 + m[3, 3] * a3

    @_numba.njit(parallel=True, cache=True)
    def _numba_diagonal(psi, bits, d, cmask):
        k = bits.size
        for i in _numba.prange(psi.size):
            if (i & cmask) == cmask:
                j = 0
                for t in range(k):
                    j |= ((i >> bits[t]) & 1) << t
                psi[i] *= d[j]


    @_numba.njit(parallel=True, cache=True)
    def _numba_dense_k(psi, sorted_bits, offsets, m, cmask):
        # Groups of 2^k amplitudes (the bits ``sorted_bits`` varying) are gathered a block at
        # a time into the columns of a (2^k, B) matrix, multiplied by ``m`` with BLAS and
        # scattered back: one pass over the shard, the arithmetic vectorised by the BLAS.
        # Where a block's groups have consecutive base indices (lowest target bit >= 9) the
        # gather and scatter copy contiguous runs.
        k = sorted_bits.size
        dim = offsets.size
        num_groups = psi.size >> k
        per_block = 512
        num_blocks = (num_groups + per_block - 1) // per_block
        for block in _numba.prange(num_blocks):
            columns = np.empty((dim, per_block), dtype=psi.dtype)
            bases = np.empty(per_block, dtype=np.int64)
            count = 0
            for g in range(block * per_block, min(num_groups, (block + 1) * per_block)):
                i = g
                for t in range(k):
                    b = sorted_bits[t]
                    i = ((i >> b) << (b + 1)) | (i & ((1 << b) - 1))
                if (i & cmask) == cmask:
                    bases[count] = i
                    count += 1
            if count == 0:
                continue
            first = bases[0]
            run = bases[count - 1] - first == count - 1
            for r in range(dim):
                if run:
                    columns[r, :count] = psi[first + offsets[r] : first + offsets[r] + count]
                else:
                    for j in range(count):
                        columns[r, j] = psi[bases[j] + offsets[r]]
            out = np.dot(m, columns)
            for r in range(dim):
                if run:
                    psi[first + offsets[r] : first + offsets[r] + count] = out[r, :count]
                else:
                    for j in range(count):
                        psi[bases[j] + offsets[r]] = out[r, j]

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

    @_numba.njit(parallel=True, cache=True)
    def _numba_bit_weights(psi, bit):
        s0 = 0.0
        s1 = 0.0
        for i in _numba.prange(psi.size):
            w = psi[i].real * psi[i].real + psi[i].imag * psi[i].imag
            if (i >> bit) & 1:
                s1 += w
            else:
                s0 += w
        return s0, s1


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

    def dense1(self, psi, bit: int, matrix: np.ndarray, cmask: int) -> None:
        """Apply a 2×2 matrix to local ``bit`` where all ``cmask`` bits are 1."""
        _numba_dense1(psi, bit, matrix.astype(psi.dtype), cmask)

    def dense2(self, psi, bit_a: int, bit_b: int, matrix: np.ndarray, cmask: int) -> None:
        """Apply a 4×4 matrix (index bit 0 = ``bit_a``) where all ``cmask`` bits are 1."""
        _numba_dense2(psi, bit_a, bit_b, matrix.astype(psi.dtype), cmask)

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
        """Apply a ``2^k × 2^k`` matrix on local ``bits`` (index bit j = ``bits[j]``) in one pass."""
        _numba_dense_k(psi, *_group_geometry(bits), matrix.astype(psi.dtype), cmask)

    def bit_weights(self, psi, bit: int) -> tuple[float, float]:
        """Local sums of |amplitude|² where ``bit`` is 0 and where it is 1 (float64)."""
        s0, s1 = _numba_bit_weights(psi, bit)
        return float(s0), float(s1)


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

#: Most target bits of :meth:`CupyKernels.dense` (the per-thread buffer holds 2^5 amplitudes).
CUDA_MAX_DENSE_QUBITS = 5


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

    def dense(self, psi, bits, matrix: np.ndarray, cmask: int) -> None:
        """Apply a ``2^k × 2^k`` matrix on local ``bits`` (k <= 5), one thread per group.

        Written for fused blocks (:mod:`dqsim.circuit.fusion`). Not yet run on a
        GPU: no device was available when it was written (2026-12-04).
        """
        if len(bits) > CUDA_MAX_DENSE_QUBITS:
            raise ValueError(f"dense kernel takes at most {CUDA_MAX_DENSE_QUBITS} bits, got {len(bits)}")
        sorted_bits, offsets = _group_geometry(bits)
        m = self._cp.asarray(matrix.reshape(-1), dtype=psi.dtype)
        self._dense_k(np.int32(len(bits)), self._cp.asarray(sorted_bits), self._cp.asarray(offsets), cmask, m,
                      psi, size=psi.size >> len(bits))

    def diagonal_pass(self, psi, bits, diag: np.ndarray) -> None:
        """Multiply by an uncontrolled diagonal on local ``bits`` in one pass."""
        self.diagonal(psi, bits, diag, 0)

    def dense1(self, psi, bit: int, matrix: np.ndarray, cmask: int) -> None:
        m = self._cp.asarray(matrix.reshape(-1), dtype=psi.dtype)
        self._dense1(bit, cmask, m, psi, size=psi.size >> 1)

    def dense2(self, psi, bit_a: int, bit_b: int, matrix: np.ndarray, cmask: int) -> None:
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


def numba_kernels() -> NumbaKernels | None:
    """The CPU kernels, or ``None`` when numba is missing or they are turned off."""
    if not enabled() or _numba is None:
        return None
    return NumbaKernels()
