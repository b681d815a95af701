"""Small states: exact density matrices of network qubits (DESIGN.md invariant 2).

Network qubits — communication qubits, repeater memories — do not live in the
sharded data register. Each lives in a *group*: the density matrix of the
qubits it is entangled with (as NetSquid's shared quantum states, Coopmans et
al., Commun. Phys. 4, 164 (2021)). A qubit that no group holds is a fresh
|0⟩. An operation on qubits of several groups merges them (tensor product);
a measured qubit is split off as |m⟩⟨m|; a reset traces the qubit out. A
network of a thousand nodes then costs a thousand 4×4 matrices, not a
2^1000 vector.

Everything here is an exact channel on ρ — gates, depolarizing noise, T1/T2
decay, Werner pairs — so no trajectory is sampled; only a measurement draws a
random number (one uniform per measured qubit, supplied by the caller from
the measuring node's counter-based stream, :mod:`dqsim.rng`).

Conventions: a group's qubits are listed in ``qubits``; bit ``j`` of a row or
column index of ``rho`` is the value of ``qubits[j]`` (little-endian, as the
gate matrices of :mod:`dqsim.state.gates`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from dqsim.errors import ResourceError
from dqsim.state.gates import GateOp, dense_matrix, gate_op

#: Default largest group (2^12 × 2^12 complex128 is 256 MiB).
DEFAULT_MAX_QUBITS = 12

_H = np.array([[1, 1], [1, -1]], dtype=np.complex128) / math.sqrt(2.0)
_BASIS_ROTATION = {"Z": None, "X": _H, "Y": _H @ np.diag([1, -1j]).astype(np.complex128)}
_ZERO = np.array([[1, 0], [0, 0]], dtype=np.complex128)


def _post_measurement(rotation, m: int) -> np.ndarray:
    """R†|m⟩⟨m|R: the state a measurement in the basis that ``rotation`` takes to Z leaves."""
    single = np.zeros((2, 2), dtype=np.complex128)
    single[m, m] = 1.0
    if rotation is not None:
        back = rotation.conj().T
        single = back @ single @ back.conj().T
    single.flags.writeable = False  # shared by every group it starts: never changed in place
    return single


_POST_MEASUREMENT = {basis: (_post_measurement(r, 0), _post_measurement(r, 1)) for basis, r in _BASIS_ROTATION.items()}
_POST_Z = _POST_MEASUREMENT["Z"]
#: |Φ+⟩⟨Φ+| and the 4×4 identity (read only) for Werner pairs.
_PHI_PLUS = np.zeros((4, 4), dtype=np.complex128)
_PHI_PLUS[0, 0] = _PHI_PLUS[0, 3] = _PHI_PLUS[3, 0] = _PHI_PLUS[3, 3] = 0.5
_PHI_PLUS.flags.writeable = False
_EYE4 = np.eye(4)
_EYE4.flags.writeable = False
#: Werner parameter -> its pair's ρ (read only, shared by the groups it starts; a few values per run).
_WERNER_RHO: dict[float, np.ndarray] = {}
_WERNER_RHO_MAX = 256
#: Measurements of the read-only ρ of two-qubit groups (the Werner pairs' above): ``(id(ρ), position)`` ->
#: ``[ρ, p0, p1, rest after 0, rest after 1]``, the rests read only and filled when first drawn. Holding ρ
#: keeps its id from being reused while the entry lives.
_PAIR_SPLITS: dict[tuple[int, int], list] = {}
_PAIR_SPLITS_MAX = 1024


def op_matrix(op: GateOp) -> tuple[np.ndarray, tuple[int, ...]]:
    """The full matrix of a gate on ``targets + controls`` (little-endian in that order).

    Controls are the high bits: the gate's matrix fills the block where all
    controls are 1.

    Examples:
        >>> from dqsim.state.gates import gate_op
        >>> m, qs = op_matrix(gate_op("cx", [0, 1]))
        >>> qs, m.real.astype(int).tolist()
        ((1, 0), [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    """
    u = dense_matrix(op)
    qubits = tuple(op.targets) + tuple(op.controls)
    if not op.controls:
        return np.asarray(u, dtype=np.complex128), qubits
    key = (u.dtype.str, u.shape[0], u.tobytes(), len(op.controls))
    full = _CONTROLLED.get(key)
    if full is not None:
        return full, qubits
    k = u.shape[0]
    full = np.eye(k << len(op.controls), dtype=np.complex128)
    full[-k:, -k:] = u
    full.flags.writeable = False  # shared by every later gate with this matrix: never changed in place
    if len(_CONTROLLED) >= _CONTROLLED_MAX:
        _CONTROLLED.clear()
    _CONTROLLED[key] = full
    return full, qubits


#: Full matrices of controlled gates (read only), keyed by the target matrix's dtype, size and bytes and the
#: number of controls: a run's CNOTs build theirs once.
_CONTROLLED: dict[tuple, np.ndarray] = {}
_CONTROLLED_MAX = 256


#: Per ``(k, positions)``: how :func:`_left` lays out a ``k``-qubit ρ for one matrix product.
_LEFT_PLANS: dict = {}


def _left_plan(k: int, positions: tuple[int, ...]) -> tuple:
    """The axes :func:`_left` uses, computed once per ``(k, positions)`` (``np.tensordot``'s layout)."""
    m = len(positions)
    # tensor axis of bit j is k-1-j; matrix axes are big-endian in its own qubits.
    t_axes = [k - 1 - positions[m - 1 - i] for i in range(m)]
    rest_axes = [a for a in range(k + 1) if a not in t_axes]
    rest_shape = [2] * (k - m) + [1 << k]
    # np.moveaxis(out, range(m), t_axes) as one transpose
    order = [n for n in range(k + 1) if n >= m]
    for dest, src in sorted(zip(t_axes, range(m))):
        order.insert(dest, src)
    plan = ((2,) * (2 * m), (2,) * k + (1 << k,), t_axes + rest_axes, (1 << m, -1), (2,) * m + tuple(rest_shape),
            order)
    _LEFT_PLANS[(k, positions)] = plan
    return plan


def _left(rho: np.ndarray, k: int, matrix: np.ndarray, positions: Sequence[int]) -> np.ndarray:
    """``matrix @ rho`` with ``matrix`` acting on the row bits ``positions`` (little-endian).

    The same products and sums as ``np.tensordot`` over the tensor axes of
    ``positions`` (so results are bit for bit those of that formulation),
    with the axis bookkeeping computed once per ``(k, positions)``.
    """
    positions = tuple(positions)
    m = len(positions)
    if m == k and positions == tuple(range(k)):
        return matrix @ rho
    plan = _LEFT_PLANS.get((k, positions)) or _left_plan(k, positions)
    matrix_shape, tensor_shape, tensor_order, flat_shape, out_shape, out_order = plan
    dim = 1 << m
    at = matrix.reshape(matrix_shape).reshape(dim, dim)
    bt = rho.reshape(tensor_shape).transpose(tensor_order).reshape(flat_shape)
    out = np.dot(at, bt).reshape(out_shape).transpose(out_order)
    return out.reshape(rho.shape)


def conjugate(rho: np.ndarray, k: int, matrix: np.ndarray, positions: Sequence[int]) -> np.ndarray:
    """``M ρ M†`` for a Hermitian ``ρ`` of ``k`` qubits, ``M`` on bits ``positions``.

    Computed as ``M (M ρ)†``. A read-only ``M`` that permutes basis states (a CNOT's kept full matrix,
    :func:`op_matrix`) takes ρ's elements in one gather: ``conj(ρ[π(j), π(i)])``, which is what the two
    products give element for element (every other term is an exact 0), without them.
    """
    if not matrix.flags.writeable:
        index = _permutation_index(matrix, k, tuple(positions))
        if index is not None:
            return rho.take(index).conj()
    half = _left(rho, k, matrix, positions)
    return _left(half.conj().T, k, matrix, positions)


#: ``(id(M), k, positions)`` -> ``(M, flat index or None)`` for read-only gate matrices (:func:`conjugate`);
#: holding ``M`` keeps its id from being reused while the entry lives.
_PERMUTATIONS: dict[tuple, tuple] = {}
_PERMUTATIONS_MAX = 1024


def _permutation_index(matrix: np.ndarray, k: int, positions: tuple[int, ...]):
    """The flat indices ``π(j)·2^k + π(i)`` of ρ that give ``(M ρ M†)[i, j]`` conjugated, when ``M`` (on bits
    ``positions``, little-endian) has a single exact 1 in each row and 0 elsewhere; else ``None``. Kept."""
    key = (id(matrix), k, positions)
    entry = _PERMUTATIONS.get(key)
    if entry is not None and entry[0] is matrix:
        return entry[1]
    index = None
    ones = matrix == 1
    if np.all(ones | (matrix == 0)) and np.all(ones.sum(axis=1) == 1) and np.all(ones.sum(axis=0) == 1):
        source = ones.argmax(axis=1)  # row s of M takes basis state source[s]
        rows = np.arange(1 << k)
        sub = np.zeros_like(rows)
        for b, p in enumerate(positions):
            sub |= ((rows >> p) & 1) << b
        moved = rows.copy()
        for b, p in enumerate(positions):
            moved &= ~(1 << p)
            moved |= ((source[sub] >> b) & 1) << p
        index = moved[None, :] * (1 << k) + moved[:, None]
    if len(_PERMUTATIONS) >= _PERMUTATIONS_MAX:
        _PERMUTATIONS.clear()
    _PERMUTATIONS[key] = (matrix, index)
    return index


def _kron(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.kron(a, b)`` of two square matrices (the same products, without kron's generic set-up)."""
    ra, rb = a.shape[0], b.shape[0]
    return (a[:, None, :, None] * b[None, :, None, :]).reshape(ra * rb, ra * rb)


def _qubit_view(rho: np.ndarray, k: int, position: int) -> np.ndarray:
    """ρ as an array ``[a, r, b, c, d]``: ``r``/``c`` the row/column bit of ``position``."""
    high = 1 << (k - 1 - position)
    low = 1 << position
    return rho.reshape(high, 2, low, high, 2, low)


def partial_trace(rho: np.ndarray, k: int, position: int) -> np.ndarray:
    """Trace out the qubit at bit ``position`` of a ``k``-qubit ρ."""
    v = _qubit_view(rho, k, position)
    out = v[:, 0, :, :, 0, :] + v[:, 1, :, :, 1, :]
    size = 1 << (k - 1)
    return out.reshape(size, size)


def depolarizing_mix(rho: np.ndarray, k: int, positions: Sequence[int], weight: float) -> np.ndarray:
    """``(1 − w) ρ + w · (I/2^m ⊗ Tr_positions ρ)``: replace qubits by the maximally mixed state with weight w.

    The qubits are traced out one after another in the order of ``positions``, each as the sum of its two
    diagonal blocks times 1/2 (the I/2 it leaves), and only the diagonal blocks of the traced qubits receive
    ``w`` times that: the same sums and products, element for element, as tracing each qubit with
    ``ndarray.trace`` and putting ``I/2`` back with ``np.multiply.outer`` (before 2026-12-07 (night): three
    times slower on a 16x16 ρ; :func:`_mix_plan`).
    """
    if weight == 0:
        return rho
    plan = _MIX_PLANS.get((k, tuple(positions))) or _mix_plan(k, tuple(positions))
    shape, pairs, blocks = plan
    tensor = rho.reshape(shape)
    traced = tensor
    for zero, one in pairs:
        traced = (traced[zero] + traced[one]) * 0.5
    out = (1.0 - weight) * tensor
    share = weight * traced
    for block in blocks:
        out[block] += share
    return out.reshape(rho.shape)


#: Per ``(k, positions)``: the index tuples :func:`depolarizing_mix` uses (:func:`_mix_plan`).
_MIX_PLANS: dict = {}


def _mix_plan(k: int, positions: tuple[int, ...]) -> tuple:
    """ρ's tensor shape (2,)*2k, per position its two diagonal blocks (kept as axes of length 1), and every
    diagonal block of all the positions together (the places of ``I/2^m ⊗ Tr ρ``), computed once."""
    pairs = []
    for p in positions:
        a = k - 1 - p  # tensor axis of the row bit of p; its column bit is k + a
        zero, one = [slice(None)] * (2 * k), [slice(None)] * (2 * k)
        zero[a] = zero[k + a] = slice(0, 1)
        one[a] = one[k + a] = slice(1, 2)
        pairs.append((tuple(zero), tuple(one)))
    blocks = []
    for bits in range(1 << len(positions)):
        block = [slice(None)] * (2 * k)
        for j, p in enumerate(positions):
            b = (bits >> j) & 1
            block[k - 1 - p] = block[2 * k - 1 - p] = slice(b, b + 1)
        blocks.append(tuple(block))
    plan = _MIX_PLANS[(k, positions)] = ((2,) * (2 * k), tuple(pairs), tuple(blocks))
    return plan


def damp(rho: np.ndarray, k: int, position: int, gamma: float, dephase_p: float) -> np.ndarray:
    """Amplitude damping γ then dephasing p on one qubit, exactly (Nielsen & Chuang eq. 8.108, 8.124).

    Populations: ρ11 → (1−γ)ρ11, ρ00 → ρ00 + γρ11; coherences scale by
    √(1−γ)(1−2p). This is :func:`dqsim.state.noise.idle`'s channel.

    ρ times a kept mask of those factors (1 on the ρ00 block), then γ ρ11 added to the ρ00 block: the same
    products and sums, element for element, as scaling each block in place (before 2026-12-07 (night)).
    """
    coherence = math.sqrt(1.0 - gamma) * (1.0 - 2.0 * dephase_p)
    key = (k, position, gamma, coherence)
    mask = _DAMP_MASKS.get(key)
    if mask is None:
        mask = _damp_mask(k, position, gamma, coherence)
    out = rho * mask
    if gamma:
        high = 1 << (k - 1 - position)
        low = 1 << position
        shape = (high, 2, low, high, 2, low)  # (as :func:`_qubit_view`)
        out.reshape(shape)[:, 0, :, :, 0, :] += gamma * rho.reshape(shape)[:, 1, :, :, 1, :]
    return out


#: ``(k, position, γ, coherence)`` -> :func:`damp`'s mask (read only): a run's memories wait a few durations.
_DAMP_MASKS: dict[tuple, np.ndarray] = {}
_DAMP_MASKS_MAX = 1024


def _damp_mask(k: int, position: int, gamma: float, coherence: float) -> np.ndarray:
    """The factors :func:`damp` scales ρ by: 1 (ρ00), 1 − γ (ρ11), ``coherence`` (ρ01, ρ10), kept."""
    bit = (np.arange(1 << k) >> position) & 1
    row, col = bit[:, None], bit[None, :]
    mask = np.where(row != col, coherence, np.where(row == 1, 1.0 - gamma, 1.0))
    mask.flags.writeable = False
    if len(_DAMP_MASKS) >= _DAMP_MASKS_MAX:
        _DAMP_MASKS.clear()
    _DAMP_MASKS[(k, position, gamma, coherence)] = mask
    return mask


def preparation_unitary(vector: np.ndarray) -> np.ndarray:
    """A unitary ``U`` with ``U|0…0⟩ = vector`` (a Householder reflection times a phase).

    Examples:
        >>> v = np.array([0, 1, 1, 0]) / np.sqrt(2)
        >>> np.allclose(preparation_unitary(v)[:, 0], v)
        True
    """
    v = np.asarray(vector, dtype=np.complex128)
    v = v / np.linalg.norm(v)
    d = v.size
    alpha = v[0]
    phase = alpha / abs(alpha) if abs(alpha) > 0 else 1.0
    e0 = np.zeros(d, dtype=np.complex128)
    e0[0] = phase
    w = v - e0
    norm2 = float(np.vdot(w, w).real)
    u = np.eye(d, dtype=np.complex128)
    if norm2 > 1e-30:
        u -= 2.0 * np.outer(w, w.conj()) / norm2
    u[:, 0] *= phase
    return u


#: Largest ρ (elements: up to 3 qubits) whose decomposition into pure states :meth:`SmallStates.take_pure`
#: keeps, by its bytes, for the next group in the same state (the pairs of a run of many trajectories).
EIGEN_CACHE_MAX_ELEMENTS = 64


def phase_fixed(vectors: np.ndarray) -> np.ndarray:
    """The columns of ``vectors`` each times the phase that makes its first component of magnitude > 1e-9 real positive.

    An eigenvector of ρ is defined up to a phase, and ``numpy.linalg.eigh``
    picks one (it returns −(|00⟩ + |11⟩)/√2 for the Bell state Φ+). A pure
    state drawn from ρ joins the data register with that phase, and a pair
    used by a gate passes it to the data: without this convention every
    TeleGate left a global phase −1 on the register (unobservable, but
    amplitudes differed from the monolithic circuit's). With it a pair joins
    as +Φ+ and a noiseless TeleGate or TeleData gate is exact, global phase
    included (``tests/test_dqc.py``).

    Examples:
        >>> v = np.array([[-1, 0], [0, 0], [0, 1j], [-1, 0]]) / np.sqrt([2, 1])
        >>> np.round(phase_fixed(v).real, 3).tolist()
        [[0.707, 0.0], [0.0, 0.0], [0.0, 1.0], [0.707, 0.0]]
    """
    vectors = np.array(vectors, dtype=np.complex128)
    for k in range(vectors.shape[1]):
        column = vectors[:, k]
        first = int(np.argmax(np.abs(column) > 1e-9))
        phase = column[first] / abs(column[first]) if abs(column[first]) > 0 else 1.0
        if phase != 1.0:
            vectors[:, k] = column * np.conj(phase)
    return vectors


#: The Bell states Φ+, Φ−, Ψ+, Ψ− as columns (little-endian over (a, b); :meth:`SmallStates.bell_diagonal`'s
#: order), each with its first nonzero component real positive (:func:`phase_fixed`). Read only.
BELL_BASIS = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, -1], [1, -1, 0, 0]], dtype=np.complex128) / math.sqrt(2)
BELL_BASIS.flags.writeable = False

#: Largest off-diagonal element of a pair's ρ in the Bell basis, relative to its trace, for which
#: :func:`bell_weights` takes ρ as Bell-diagonal; also the relative gap under which two eigenvalues of ρ are
#: one degenerate eigenvalue (:func:`pure_mixture_of`).
BELL_DIAGONAL_TOLERANCE = 1e-12


def bell_diagonal_of(rho: np.ndarray) -> tuple[float, float, float, float]:
    """The diagonal of a 4x4 ρ in the Bell basis (:data:`BELL_BASIS`), ``(p(Φ+), p(Φ−), p(Ψ+), p(Ψ−))``, for any ρ:
    ``⟨Φ±|ρ|Φ±⟩ = (ρ_00 + ρ_33 ± 2·Re ρ_03)/2`` and ``⟨Ψ±|ρ|Ψ±⟩ = (ρ_11 + ρ_22 ± 2·Re ρ_12)/2`` (ρ Hermitian). These are
    the weights of the Bell-diagonal state that twirling the pair gives (Bennett et al., PRA 54, 3824 (1996));
    :func:`bell_weights` returns them where ρ is already Bell-diagonal.

    Examples:
        >>> phi_minus = BELL_BASIS[:, 1]
        >>> [round(p, 12) for p in bell_diagonal_of(np.outer(phi_minus, phi_minus.conj()))]
        [0.0, 1.0, 0.0, 0.0]
    """
    even, odd = (rho[0, 0] + rho[3, 3]).real, (rho[1, 1] + rho[2, 2]).real
    even_coh, odd_coh = 2.0 * rho[0, 3].real, 2.0 * rho[1, 2].real
    return (float((even + even_coh) / 2.0), float((even - even_coh) / 2.0),
            float((odd + odd_coh) / 2.0), float((odd - odd_coh) / 2.0))


def bell_weights(rho: np.ndarray) -> np.ndarray | None:
    """The weights ``(p(Φ+), p(Φ−), p(Ψ+), p(Ψ−))`` of a 4x4 ρ that is diagonal in the Bell basis
    (:data:`BELL_BASIS`; off-diagonal elements there at most :data:`BELL_DIAGONAL_TOLERANCE` × Tr ρ), else ``None``.

    Such a ρ is the mixture of the four Bell states with these weights — the Pauli unravelling a twirled pair
    has (Bennett et al., PRA 54, 3824 (1996)) — whatever basis ``numpy.linalg.eigh`` would pick in a degenerate
    eigenspace (a Werner state's (1 − w)/4 one). The weights are :func:`bell_diagonal_of`'s (since 2026-12-07 (later);
    before, the diagonal of ρ turned into the Bell basis, the same to about 1e-16).

    Examples:
        >>> phi = BELL_BASIS[:, 0]
        >>> np.round(bell_weights(0.9 * np.outer(phi, phi) + 0.1 * np.eye(4) / 4), 3).tolist()
        [0.925, 0.025, 0.025, 0.025]
    """
    in_bell = BELL_BASIS.conj().T @ rho @ BELL_BASIS
    off = in_bell - np.diag(np.diag(in_bell))
    if np.max(np.abs(off)) > BELL_DIAGONAL_TOLERANCE * max(float(np.sum(np.diag(in_bell).real)), 0.0):
        return None
    return np.array(bell_diagonal_of(rho))


def _canonical_in(rho: np.ndarray, vectors: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An orthonormal basis of the span of ``vectors`` (columns) that does not depend on which basis of it
    ``vectors`` is: the candidates' projections (columns of ``candidates``, fixed order), by Gram–Schmidt, the
    one of largest remaining norm first (the earliest within 1e-9 of it); so the candidates themselves where they
    span it. Returns ``(⟨v|ρ|v⟩ of each, the basis)``."""
    projector = vectors @ vectors.conj().T
    chosen: list[np.ndarray] = []
    for _ in range(vectors.shape[1]):
        residual = projector @ candidates
        for v in chosen:
            residual -= np.outer(v, v.conj() @ residual)
        norms = np.linalg.norm(residual, axis=0)
        pick = int(np.argmax(norms >= norms.max() - 1e-9))
        chosen.append(residual[:, pick] / norms[pick])
    basis = np.stack(chosen, axis=1)
    return np.einsum("ik,ij,jk->k", basis.conj(), rho, basis).real, basis


def pure_mixture_of(rho: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ρ as a mixture of pure states: weights clipped at 0, their cumulative sums, the states (columns,
    :func:`phase_fixed`).

    A Bell-diagonal pair (:func:`bell_weights`) is the mixture of the four Bell states (:data:`BELL_BASIS`,
    that order). Otherwise the eigen-decomposition (ascending eigenvalues), with each degenerate eigenspace
    (eigenvalues within :data:`BELL_DIAGONAL_TOLERANCE` × the largest) in a basis that does not depend on
    LAPACK's choice (:func:`_canonical_in`: Bell states for a pair, else computational basis states, where they
    span it), so every rank and machine draws the same states.
    """
    if rho.shape == (4, 4):
        bell = bell_weights(rho)
        if bell is not None:
            weights = np.clip(bell, 0.0, None)
            return weights, np.cumsum(weights), np.array(BELL_BASIS)
    values, vectors = np.linalg.eigh(rho)
    values = values.real.copy()
    candidates = BELL_BASIS if rho.shape == (4, 4) else np.eye(rho.shape[0], dtype=np.complex128)
    gap = BELL_DIAGONAL_TOLERANCE * max(float(np.max(np.abs(values))), 1e-300)
    start = 0
    for stop in range(1, values.size + 1):
        if stop == values.size or values[stop] - values[stop - 1] > gap:
            if stop - start > 1:
                values[start:stop], vectors[:, start:stop] = _canonical_in(rho, vectors[:, start:stop], candidates)
            start = stop
    weights = np.clip(values, 0.0, None)
    return weights, np.cumsum(weights), phase_fixed(vectors)


def mixture_index(cumulative: np.ndarray, uniform: float) -> int:
    """The state that ``uniform`` in [0, 1) draws from a mixture's cumulative weights: the first whose cumulative
    sum exceeds ``uniform`` × the total, never one of weight 0 (where the product rounds up to the total)."""
    index = min(int(np.searchsorted(cumulative, uniform * cumulative[-1], side="right")), cumulative.size - 1)
    while index > 0 and cumulative[index] == cumulative[index - 1]:
        index -= 1
    return index


@functools.lru_cache(maxsize=256)
def _pure_mixture(shape: tuple[int, ...], dtype: str, data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pure_mixture_of` the ρ with these ``shape``, ``dtype`` and bytes (kept; read only)."""
    return pure_mixture_of(np.frombuffer(data, dtype=dtype).reshape(shape))


def _outcome(p0: float, p1: float, uniform: float) -> int:
    """The outcome (0 or 1) that ``uniform`` in [0, 1) draws from unnormalised probabilities ``p0``, ``p1``.

    Never an outcome of probability <= 0 (rounding can put ``uniform`` there).
    """
    m = 0 if uniform * (p0 + p1) < p0 else 1
    if (p0 if m == 0 else p1) <= 0:
        m = 1 - m
    return m


def _pair_split(rho: np.ndarray, position: int) -> list:
    """``[ρ or None, p0, p1, None, None]``: the outcome probabilities of the qubit at ``position`` of a pair.

    Two terms each (the same sums as the diagonal sums of larger groups).
    A read-only ρ (shared by groups) keeps its entry in ``_PAIR_SPLITS``,
    where its rests are added; for any other ρ the first item is ``None``.
    """
    if position == 0:
        p0, p1 = rho.item(0).real + rho.item(10).real, rho.item(5).real + rho.item(15).real
    else:
        p0, p1 = rho.item(0).real + rho.item(5).real, rho.item(10).real + rho.item(15).real
    if rho.flags.writeable:
        return [None, p0, p1, None, None]
    if len(_PAIR_SPLITS) >= _PAIR_SPLITS_MAX:
        _PAIR_SPLITS.clear()
    split = _PAIR_SPLITS[(id(rho), position)] = [rho, p0, p1, None, None]
    return split


@dataclass(slots=True)  # (no instance dict: groups are made at every measurement)
class Group:
    """One small state: ``rho`` over ``qubits`` (little-endian)."""

    qubits: list[int]
    rho: np.ndarray

    @property
    def num_qubits(self) -> int:
        return len(self.qubits)

    def positions(self, qubits: Iterable[int]) -> list[int]:
        index = self.qubits.index  # groups are small: a scan beats building a dict
        return [index(q) for q in qubits]


class SmallStates:
    """The small states of all network qubits (replicated, identical on every rank that holds them).

    Args:
        max_qubits: largest group; a merge beyond it raises
            :class:`~dqsim.errors.ResourceError`.

    Examples:
        >>> from dqsim.state.gates import gate_op
        >>> s = SmallStates()
        >>> s.apply(gate_op("h", [7])); s.apply(gate_op("cx", [7, 9]))
        >>> round(s.bell_fidelity(7, 9), 12)
        1.0
        >>> s.measure([7], [0.3]), s.measure([9], [0.9])
        ([0], [0])
    """

    def __init__(self, *, max_qubits: int = DEFAULT_MAX_QUBITS):
        if max_qubits < 2:
            raise ValueError(f"max_qubits = {max_qubits} must be >= 2")
        self.max_qubits = int(max_qubits)
        self._group: dict[int, Group] = {}

    # ----------------------------------------------------------- structure
    def group_of(self, qubit: int) -> Group | None:
        """The group holding ``qubit`` (``None``: a fresh |0⟩)."""
        return self._group.get(qubit)

    def groups(self) -> list[Group]:
        """Every group once, in order of its smallest qubit."""
        seen = {id(g): g for g in self._group.values()}
        return sorted(seen.values(), key=lambda g: min(g.qubits))

    def __contains__(self, qubit: int) -> bool:
        return qubit in self._group

    def _set(self, group: Group) -> Group:
        for q in group.qubits:
            self._group[q] = group
        return group

    def _fresh(self, qubit: int) -> Group:
        return self._set(Group([qubit], _ZERO.copy()))

    def merged(self, qubits: Sequence[int]) -> Group:
        """One group holding all ``qubits`` (tensor product of their groups; fresh ones join as |0⟩)."""
        groups: list[Group] = []
        for q in qubits:
            g = self._group.get(q) or self._fresh(q)
            if all(g is not h for h in groups):
                groups.append(g)
        if len(groups) == 1:
            return groups[0]
        size = sum(g.num_qubits for g in groups)
        if size > self.max_qubits:
            raise ResourceError(
                f"an operation on qubits {list(qubits)} would entangle {size} network qubits in one small state "
                f"(cap {self.max_qubits}); measure or reset qubits sooner, or raise the cap"
            )
        merged = groups[0]
        qubits_out = list(merged.qubits)
        rho = merged.rho
        for g in groups[1:]:
            rho = _kron(g.rho, rho)  # g's qubits become the high bits
            qubits_out.extend(g.qubits)
        return self._set(Group(qubits_out, rho))

    def _shrink(self, group: Group, position: int, rho: np.ndarray) -> None:
        qubit = group.qubits[position]
        del self._group[qubit]
        rest = group.qubits[:position] + group.qubits[position + 1:]
        if rest:
            self._set(Group(rest, rho))

    # ---------------------------------------------------------- operations
    def apply(self, op: GateOp) -> None:
        """Apply a gate (unitary) exactly: ρ → UρU†."""
        matrix, qubits = op_matrix(op)
        self.apply_matrix(matrix, qubits)

    def apply_matrix(self, matrix: np.ndarray, qubits: Sequence[int]) -> None:
        """ρ → MρM† with ``matrix`` little-endian on ``qubits``."""
        g = self.merged(qubits)
        g.rho = conjugate(g.rho, g.num_qubits, matrix, g.positions(qubits))

    def depolarize(self, qubits: Sequence[int], p: float) -> None:
        """Depolarizing channel of probability ``p`` on 1 or 2 qubits (as :mod:`dqsim.state.noise`).

        One qubit: ρ → (1−p)ρ + p/3 Σ PρP; two: (1−p)ρ + p/15 Σ_{P≠II} PρP.
        Since Σ over all 4^m Paulis of PρP equals 4^m · I/2^m ⊗ Tr ρ, this is
        ρ → (1 − w)ρ + w (I/2^m ⊗ Tr ρ) with w = p·4^m/(4^m − 1).
        """
        if p <= 0:
            return
        g = self.merged(qubits)
        m = len(qubits)
        weight = p * (4 ** m) / (4 ** m - 1)
        g.rho = depolarizing_mix(g.rho, g.num_qubits, g.positions(qubits), weight)

    def idle(self, qubit: int, gamma: float, dephase_p: float) -> None:
        """Exact T1/T2 channel (damping ``gamma``, dephasing ``dephase_p``, :func:`dqsim.state.noise.idle_parameters`)."""
        if gamma == 0 and dephase_p == 0:
            return
        g = self._group.get(qubit)
        if g is None:  # a fresh |0⟩ is unchanged by damping and dephasing
            return
        g.rho = damp(g.rho, len(g.qubits), g.qubits.index(qubit), gamma, dephase_p)

    def werner_pair(self, qubit_a: int, qubit_b: int, werner: float) -> None:
        """H, CNOT on (a, b) then 2-qubit depolarizing ``15(1−w)/16``: w|Φ+⟩⟨Φ+| + (1−w)I/4 from |00⟩."""
        groups = self._group
        if qubit_a not in groups and qubit_b not in groups:  # both fresh |0⟩: write ρ directly
            rho = _WERNER_RHO.get(werner)
            if rho is None:
                rho = werner * _PHI_PLUS + (1.0 - werner) / 4.0 * _EYE4
                rho.flags.writeable = False  # shared by every pair of this parameter: never changed in place
                if len(_WERNER_RHO) >= _WERNER_RHO_MAX:
                    _WERNER_RHO.clear()
                _WERNER_RHO[werner] = rho
            group = Group([qubit_a, qubit_b], rho)
            groups[qubit_a] = groups[qubit_b] = group
            return
        self.apply(gate_op("h", [qubit_a]))
        self.apply(gate_op("cx", [qubit_a, qubit_b]))
        if werner < 1.0:
            self.depolarize([qubit_a, qubit_b], 15.0 * (1.0 - werner) / 16.0)

    def pair_state(self, qubit_a: int, qubit_b: int, rho: np.ndarray) -> None:
        """A pair in the 4x4 state ``rho`` (little-endian over (a, b)) made from |00⟩ by the channel of its
        decomposition into pure states (:func:`pure_mixture_of`: the Bell states for a Bell-diagonal ρ, else
        its eigenvectors): ``σ → Σ_k λ_k U_k σ U_k†`` with ``U_k|00⟩`` the k-th state
        (:func:`preparation_unitary`), as :meth:`werner_pair` applies H, CNOT and its noise to whatever the
        qubits hold, and as a trajectory draws one ``U_k`` in the register. Two fresh qubits (the usual case)
        get ``rho`` itself, shared if it is read only.
        """
        groups = self._group
        if qubit_a not in groups and qubit_b not in groups:
            if rho.flags.writeable:
                rho = np.array(rho, dtype=np.complex128)
            group = Group([qubit_a, qubit_b], rho)
            groups[qubit_a] = groups[qubit_b] = group
            return
        values, _cumulative, vectors = pure_mixture_of(rho)
        g = self.merged([qubit_a, qubit_b])
        positions = g.positions([qubit_a, qubit_b])
        before, after = g.rho, 0.0
        for value, vector in zip(values, vectors.T):
            if value > 0.0:
                after = after + value * conjugate(before, g.num_qubits, preparation_unitary(vector), positions)
        g.rho = after

    def measure(self, qubits: Sequence[int], uniforms: Sequence[float], *, basis: str = "Z") -> list[int]:
        """Projective measurement of each qubit in ``basis``; ``uniforms[i]`` in [0, 1) decides qubit i.

        Outcome 0 when ``u < P(0)`` (conditioned on the earlier qubits'
        outcomes). Each measured qubit is split off in its post-measurement
        state (|m⟩, or the X/Y eigenstate).
        """
        basis = basis.upper()
        rotation = _BASIS_ROTATION[basis]
        post = _POST_MEASUREMENT[basis]
        outcomes = []
        for q, u in zip(qubits, uniforms):
            if rotation is not None:
                self.apply_matrix(rotation, [q])
            outcomes.append(self._measure_one(q, u, post))
        return outcomes

    def measure_z(self, qubit: int, uniform: float) -> int:
        """:meth:`measure` of one qubit in Z: ``measure([qubit], [uniform])[0]``, without the list handling.

        The engine's most frequent measurement.
        """
        return self._measure_one(qubit, uniform, _POST_Z)

    def _measure_one(self, q: int, u: float, post) -> int:
        """Measure ``q`` in Z with ``u`` in [0, 1); it is left alone in ``post[outcome]``. Returns the outcome."""
        groups = self._group
        g = groups.get(q)
        if g is None:
            g = self._fresh(q)
        rho = g.rho
        members = g.qubits
        k = len(members)
        # (``item`` gives Python numbers: the same doubles, without NumPy scalars)
        if k == 1:
            p0, p1 = rho.item(0).real, rho.item(3).real
            m = _outcome(p0, p1, u)
            groups[q] = Group([q], post[m])  # (the same key: its place in the dict is kept, as _set does)
            return m
        pos = 0 if members[0] == q else members.index(q)
        if k == 2:
            split = _PAIR_SPLITS.get((id(rho), pos))
            if split is None or split[0] is not rho:
                split = _pair_split(rho, pos)
            p0, p1 = split[1], split[2]
            m = _outcome(p0, p1, u)
            rest = split[3 + m]
            if rest is None:
                rest = rho[m::2, m::2] if pos == 0 else rho[2 * m:2 * m + 2, 2 * m:2 * m + 2]
                # a complex scale: the same products as the float (NumPy casts it to complex), found sooner
                rest = rest * complex(1.0 / (p0 if m == 0 else p1))
                if split[0] is not None:  # a shared ρ: its rest is shared too, so never changed in place
                    rest.flags.writeable = False
                    split[3 + m] = rest
        else:
            diagonal = rho.diagonal().real.reshape(1 << (k - 1 - pos), 2, 1 << pos)
            p0, p1 = float(diagonal[:, 0, :].sum()), float(diagonal[:, 1, :].sum())
            m = _outcome(p0, p1, u)
            size = 1 << (k - 1)
            rest = _qubit_view(rho, k, pos)[:, m, :, :, m, :].reshape(size, size)
            rest = rest * complex(1.0 / (p0 if m == 0 else p1))  # (as for two qubits)
        self._shrink(g, pos, rest)
        groups[q] = Group([q], post[m])
        return m

    def reset(self, qubit: int) -> None:
        """Reset to |0⟩: trace the qubit out of its group (an exact channel, no outcome)."""
        g = self._group.get(qubit)
        if g is None:
            return
        if len(g.qubits) == 1:  # alone: it just leaves (as _shrink of a one-qubit group)
            del self._group[qubit]
            return
        pos = g.qubits.index(qubit)
        self._shrink(g, pos, partial_trace(g.rho, g.num_qubits, pos))

    def take_pure(self, qubit: int, uniform: float) -> tuple[list[int], np.ndarray]:
        """Remove ``qubit``'s group, returning its qubits and one pure state drawn from ρ.

        The state is one of :func:`pure_mixture_of` (a Bell state for a
        Bell-diagonal pair, else an eigenvector of ρ) drawn with its weight as
        probability (``uniform`` in [0, 1) decides), so averaging over draws
        gives back ρ exactly: a trajectory for moving the group into a state
        vector.
        """
        g = self._group.get(qubit) or self._fresh(qubit)
        for q in g.qubits:
            del self._group[q]
        rho = g.rho
        if rho.size <= EIGEN_CACHE_MAX_ELEMENTS:
            weights, cumulative, vectors = _pure_mixture(rho.shape, rho.dtype.str, rho.tobytes())
        else:
            weights, cumulative, vectors = pure_mixture_of(rho)
        return list(g.qubits), vectors[:, mixture_index(cumulative, uniform)].copy()

    def remove(self, qubit: int) -> np.ndarray:
        """Remove ``qubit``'s group from this store and return its ρ (over ``group_of(qubit).qubits``)."""
        group = self._group[qubit]
        for q in group.qubits:
            del self._group[q]
        return group.rho

    def install(self, qubits: Sequence[int], rho: np.ndarray) -> None:
        """Add a group (its qubits must be in no group here)."""
        self._set(Group(list(qubits), np.array(rho, dtype=np.complex128)))

    def set_pure(self, qubits: Sequence[int], vector: np.ndarray) -> None:
        """Put ``qubits`` (not held by any group) in the pure state ``vector`` (little-endian)."""
        v = np.asarray(vector, dtype=np.complex128)
        self._set(Group(list(qubits), np.outer(v, v.conj())))

    def forget(self, qubit: int) -> None:
        """Drop a qubit known to be |0⟩ and alone (the caller guarantees it)."""
        self._group.pop(qubit, None)

    # ------------------------------------------------------------- reading
    def density_matrix(self, qubits: Sequence[int]) -> np.ndarray:
        """The reduced density matrix of ``qubits`` (little-endian), without changing anything."""
        blocks: list[tuple[list[int], np.ndarray]] = []
        done: set[int] = set()
        for q in qubits:
            if q in done:
                continue
            g = self._group.get(q)
            if g is None:
                blocks.append(([q], _ZERO))
                done.add(q)
                continue
            keep = [x for x in g.qubits if x in set(qubits)]
            rho, current = g.rho, list(g.qubits)
            for x in list(g.qubits):
                if x not in keep:
                    pos = current.index(x)
                    rho = partial_trace(rho, len(current), pos)
                    current.pop(pos)
            blocks.append((current, rho))
            done.update(current)
        order: list[int] = []
        rho = np.ones((1, 1), dtype=np.complex128)
        for qs, block in blocks:
            rho = np.kron(block, rho)
            order.extend(qs)
        # permute from ``order`` to ``qubits``
        k = len(order)
        perm = [order.index(q) for q in qubits]
        tensor = rho.reshape((2,) * (2 * k))
        axes_rows = [k - 1 - perm[k - 1 - i] for i in range(k)]
        tensor = tensor.transpose(axes_rows + [k + a for a in axes_rows])
        return tensor.reshape(1 << k, 1 << k)

    def bell_fidelity(self, qubit_a: int, qubit_b: int) -> float:
        """⟨Φ+|ρ_ab|Φ+⟩ of two qubits."""
        rho = self.density_matrix([qubit_a, qubit_b])
        return float((rho[0, 0] + rho[0, 3] + rho[3, 0] + rho[3, 3]).real / 2.0)

    def bell_diagonal(self, qubit_a: int, qubit_b: int) -> tuple[float, float, float, float]:
        """The diagonal of ρ_ab in the Bell basis: ``(p(Φ+), p(Φ−), p(Ψ+), p(Ψ−))``.

        ``Φ± = (|00⟩ ± |11⟩)/√2``, ``Ψ± = (|01⟩ ± |10⟩)/√2`` with qubit_a the
        first factor. Twirling the pair turns it into the Bell-diagonal state
        with these weights (Bennett et al., PRA 54, 3824 (1996)).
        """
        return bell_diagonal_of(self.density_matrix([qubit_a, qubit_b]))

    def snapshot(self) -> list[tuple[list[int], np.ndarray]]:
        """Every group as ``(qubits, rho)`` (for checkpoints)."""
        return [(list(g.qubits), g.rho.copy()) for g in self.groups()]

    def restore(self, groups: Sequence[tuple[Sequence[int], np.ndarray]]) -> None:
        """Replace all groups by saved ones (:meth:`snapshot`)."""
        self._group = {}
        for qubits, rho in groups:
            self._set(Group(list(qubits), np.array(rho, dtype=np.complex128)))
