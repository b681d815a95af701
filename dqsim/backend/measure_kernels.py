"""Compiled measurement kernels on NumPy shards: marginal weights of a few bits, and the collapse.

A Z measurement of ``m`` qubits of a state vector needs the marginal
probabilities of their ``2^m`` values and then the projection onto the drawn
one (amplitudes of the other values set to zero, the kept ones scaled by
``1/sqrt(p)``). :mod:`dqsim.state.kernels` does both with NumPy: the weights
through float64 temporaries, the projection as one zeroing pass per qubit and
a scaling pass. Here each is one pass of a numba ``prange`` loop over the
shard (on the dev VM at 23 qubits, a 2-qubit marginal took 0.19 s in NumPy;
see ``bench/results/measure_kernels-vm-20261205.md``).

The shard is cut into :data:`STRIPES` stripes of consecutive amplitudes
(fewer for small shards) and each stripe into blocks of ``2^B`` amplitudes,
``B`` = the lowest measured bit, at least 3 and at most the stripe's size.
Within a block the measured bits at or above ``B`` are fixed (one bin for the
whole block: a contiguous sum of squares, vectorised) and those below ``B``
come from an 8-entry table per element offset. Every stripe sums into its own
row of bins and the rows are added in stripe order, so the result does not
depend on the number of threads.
"""

from __future__ import annotations

import numpy as np

try:  # numba is optional (the ``fast`` extra)
    import numba as _numba
except ImportError:  # pragma: no cover - exercised where numba is missing
    _numba = None

#: Stripes of the weights kernel (rows of partial sums, fixed so results do not depend on threads).
STRIPES = 64
#: Fewest block bits: offsets below this bit are read from a table per element.
MIN_BLOCK_BITS = 3
#: Most measured bits of :func:`bits_weights` (its partial sums hold STRIPES x 2^m floats).
MAX_BITS = 10


def available() -> bool:
    """True when numba is installed (the kernels below can run)."""
    return _numba is not None


def block_geometry(bits, num_amplitudes: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    """``(stripe_len, block_bits, low_table, high_bits)`` of the kernels for measured local ``bits``.

    ``low_table[t]`` is the bin contribution (bit ``j`` = measured ``bits[j]``)
    of element offset ``t`` in a block of ``2^block_bits`` amplitudes, where a
    measured bit lies below ``block_bits`` (at most 8 offsets); else the table
    is ``[0]`` (the whole block in one bin). ``high_bits[j]`` is ``bits[j]``
    where it lies at or above the block bits, else -1.

    Examples:
        >>> s, b, low, high = block_geometry([0, 4], 1 << 10)
        >>> s, b, low.tolist(), high.tolist()
        (16, 3, [0, 1, 0, 1, 0, 1, 0, 1], [-1, 4])
        >>> block_geometry([20], 1 << 24)[1:3]
        (18, array([0]))
    """
    bits = [int(b) for b in bits]
    stripes = max(1, min(STRIPES, num_amplitudes >> MIN_BLOCK_BITS))
    stripe_len = num_amplitudes // stripes
    stripe_bits = stripe_len.bit_length() - 1
    block_bits = min(max(min(bits), MIN_BLOCK_BITS), stripe_bits)
    if min(bits) >= block_bits:  # every measured bit fixed within a block: one bin per block
        low_table = np.zeros(1, dtype=np.int64)
    else:  # block_bits <= MIN_BLOCK_BITS: a table of at most 8 offsets
        offsets = np.arange(1 << block_bits, dtype=np.int64)
        low_table = np.zeros(offsets.size, dtype=np.int64)
        for j, b in enumerate(bits):
            if b < block_bits:
                low_table |= ((offsets >> b) & 1) << j
    high_bits = np.array([b if b >= block_bits else -1 for b in bits], dtype=np.int64)
    return stripe_len, block_bits, low_table, high_bits


if _numba is not None:

    # The contiguous loops are separate functions called on 1-D slices: compiled so they are
    # vectorised; written inside the prange body the sum of squares ran 6-13x slower (numba 0.68,
    # dev VM, 2026-12-05; as fast.py found for its run kernels).

    @_numba.njit(cache=True, boundscheck=False, fastmath=True)
    def _sum_squares(x):
        acc = 0.0
        for r in range(x.size):
            acc += x[r] * x[r]
        return acc

    @_numba.njit(cache=True, boundscheck=False)
    def _scale_run(x, scale):
        for r in range(x.size):
            x[r] *= scale

    @_numba.njit(cache=True, boundscheck=False)
    def _zero_run(x):
        for r in range(x.size):
            x[r] = 0.0

    @_numba.njit(inline="always")
    def _high_index(base, high_bits):
        index = 0
        for j in range(high_bits.size):
            b = high_bits[j]
            if b >= 0:
                index |= ((base >> b) & 1) << j
        return index

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_bits_weights(reals, num_bins, stripe_len, block_bits, low_table, high_bits):
        # reals: the shard as 2 reals per amplitude. Row s sums stripe s (in a fixed order: the
        # vectorised sums of squares of _sum_squares, then the blocks one after the other).
        stripes = reals.size // (2 * stripe_len)
        partial = np.zeros((stripes, num_bins))
        block = 1 << block_bits
        uniform = low_table.size == 1
        for s in _numba.prange(stripes):
            first = s * stripe_len
            for base in range(first, first + stripe_len, block):
                high = _high_index(base, high_bits)
                if uniform:
                    partial[s, high] += _sum_squares(reals[2 * base : 2 * (base + block)])
                else:
                    for t in range(block):
                        r = 2 * (base + t)
                        partial[s, high | low_table[t]] += reals[r] * reals[r] + reals[r + 1] * reals[r + 1]
        total = np.zeros(num_bins)
        for s in range(stripes):
            for k in range(num_bins):
                total[k] += partial[s, k]
        return total

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_collapse(reals, keep, stripe_len, block_bits, low_table, high_bits, scale):
        # Amplitudes whose measured bits make bin ``keep`` are scaled, the others zeroed.
        block = 1 << block_bits
        blocks = reals.size // (2 * block)
        high_keep = keep
        for t in range(low_table.size):
            high_keep &= ~low_table[t]
        low_keep = keep ^ high_keep
        uniform = low_table.size == 1
        for k in _numba.prange(blocks):
            base = k * block
            start, stop = 2 * base, 2 * (base + block)
            if _high_index(base, high_bits) != high_keep:
                _zero_run(reals[start:stop])
            elif uniform:
                _scale_run(reals[start:stop], scale)
            else:
                for t in range(block):
                    r = 2 * (base + t)
                    if low_table[t] == low_keep:
                        reals[r] *= scale
                        reals[r + 1] *= scale
                    else:
                        reals[r] = 0.0
                        reals[r + 1] = 0.0

    @_numba.njit(cache=True, boundscheck=False)
    def _move_run(source, destination, scale):
        for r in range(source.size):
            destination[r] = source[r] * scale
            source[r] = 0.0

    @_numba.njit(parallel=True, cache=True, boundscheck=False)
    def _numba_collapse_reset(reals, bit, keep, scale):
        # Blocks of 2^(bit+1) amplitudes: the half where ``bit`` is ``keep`` is scaled into the half
        # where it is 0 (the products of _numba_collapse's ``*=``), the half where it is 1 zeroed.
        half = 2 << bit  # reals in a half block
        for k in _numba.prange(reals.size // (2 * half)):
            low = 2 * half * k
            if keep:
                _move_run(reals[low + half : low + 2 * half], reals[low : low + half], scale)
            else:
                _scale_run(reals[low : low + half], scale)
                _zero_run(reals[low + half : low + 2 * half])


def bits_weights(psi: np.ndarray, bits) -> np.ndarray:
    """Sums of |amplitude|² of the shard ``psi`` for every value of its local ``bits`` (float64).

    Returns ``2^m`` entries; bit ``j`` of the index is the value of
    ``bits[j]`` (as :func:`dqsim.state.kernels.probabilities_of_bits`).
    Needs numba (:func:`available`), a C-contiguous complex shard and at most
    :data:`MAX_BITS` bits.
    """
    if len(bits) > MAX_BITS:
        raise ValueError(f"bits_weights takes at most {MAX_BITS} bits, got {len(bits)}")
    stripe_len, block_bits, low_table, high_bits = block_geometry(bits, psi.size)
    return _numba_bits_weights(psi.view(psi.real.dtype), 1 << len(bits), stripe_len, block_bits,
                               low_table, high_bits)


def collapse(psi: np.ndarray, bits, values, scale: float) -> None:
    """Project the shard onto ``bits[j] = values[j]`` for all ``j`` and multiply what is kept by ``scale``.

    One pass: the other amplitudes are set to zero. Needs numba.
    """
    keep = sum(int(v) << j for j, v in enumerate(values))
    stripe_len, block_bits, low_table, high_bits = block_geometry(bits, psi.size)
    _numba_collapse(psi.view(psi.real.dtype), keep, stripe_len, block_bits, low_table, high_bits,
                    psi.real.dtype.type(scale))


def collapse_reset(psi: np.ndarray, bit: int, value: int, scale: float) -> None:
    """Project the shard onto ``bit = value``, multiply by ``scale`` and flip ``bit`` back to 0 (one pass).

    The same numbers as :func:`collapse` followed by an X on ``bit`` when
    ``value`` is 1 (a copy), in one pass instead of two: a measured qubit
    that leaves the register in |0⟩. Needs numba.
    """
    _numba_collapse_reset(psi.view(psi.real.dtype), int(bit), int(value), psi.real.dtype.type(scale))
