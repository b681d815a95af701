"""Gate kernels on one rank's shard, written once for NumPy and CuPy.

A shard is a 1-D array of ``2^L`` amplitudes; local physical bit ``b`` is
bit ``b`` of the index. A kernel views the shard as a tensor with one size-2
axis per bit it touches and merged axes for the bits in between
(:func:`bit_view`), so the tensor has at most ``2m+1`` axes for ``m`` bits,
whatever ``L`` is. Work is done in pieces of at most ``max_elems`` amplitudes
(:func:`iter_pieces`), which bounds the temporary memory of every kernel.

Only array-API operations shared by NumPy and CuPy are used; the module is
handed the array module ``xp`` by its caller and never imports CuPy.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np


def bit_view(psi, num_local: int, bits: Sequence[int]):
    """View a shard as a tensor with one size-2 axis for each bit in ``bits``.

    Args:
        psi: 1-D shard of ``2^num_local`` amplitudes.
        num_local: number of local bits ``L``.
        bits: distinct local bit positions (0 = least significant).

    Returns:
        ``(view, axis_of)`` where ``axis_of[b]`` is the axis of bit ``b``.

    Examples:
        >>> v, ax = bit_view(np.arange(8), 3, [0, 2])
        >>> v.shape, ax
        ((1, 2, 2, 2, 1), {2: 1, 0: 3})
    """
    order = sorted(set(bits), reverse=True)
    shape: list[int] = []
    axis_of: dict[int, int] = {}
    upper = num_local
    for b in order:
        shape.append(1 << (upper - 1 - b))
        axis_of[b] = len(shape)
        shape.append(2)
        upper = b
    shape.append(1 << upper)
    return psi.reshape(shape), axis_of


def iter_pieces(view, max_elems: int, keep_axes: Sequence[int] = ()) -> Iterator:
    """Split a view into sub-views of at most ``max_elems`` elements, in C order.

    Splits along the outermost axis not in ``keep_axes`` whose size exceeds
    one; axes in ``keep_axes`` are never split (a piece keeps them whole).
    Every piece keeps the view's number of axes, so axis indices stay valid.

    Examples:
        >>> [p.shape for p in iter_pieces(np.zeros((4, 2, 8)), 16, keep_axes=[1])]
        [(1, 2, 8), (1, 2, 8), (1, 2, 8), (1, 2, 8)]
    """
    if view.size <= max_elems:
        yield view
        return
    keep = set(keep_axes)
    for axis in range(view.ndim):
        if axis not in keep and view.shape[axis] > 1:
            break
    else:
        yield view
        return
    n = view.shape[axis]
    per = max(1, (max_elems * n) // view.size)
    lead = (slice(None),) * axis
    for start in range(0, n, per):
        sub = view[lead + (slice(start, start + per),)]
        if sub.size > max_elems:
            yield from iter_pieces(sub, max_elems, keep_axes)
        else:
            yield sub


def _select(view, fixed: dict[int, int]):
    """Index ``view`` with ``fixed`` axis values, keeping every axis (size 1)."""
    index = [slice(None)] * view.ndim
    for axis, value in fixed.items():
        index[axis] = slice(value, value + 1)
    return view[tuple(index)]


def apply_dense(xp, psi, num_local: int, matrix, target_bits: Sequence[int],
                control_bits: Sequence[int] = (), max_elems: int = 1 << 22) -> None:
    """Apply a ``2^k × 2^k`` matrix to local target bits, in place.

    Args:
        xp: the array module of ``psi``.
        psi: the shard (modified).
        num_local: number of local bits.
        matrix: ``(2^k, 2^k)`` array on the device; bit j of its index is
            the value of ``target_bits[j]``. Need not be unitary (Kraus
            operators use this kernel too).
        target_bits: distinct local bits.
        control_bits: local bits that must be 1 (disjoint from targets).
        max_elems: largest piece processed at once (bounds temporaries).
    """
    k = len(target_bits)
    view, axis_of = bit_view(psi, num_local, list(target_bits) + list(control_bits))
    sub = _select(view, {axis_of[c]: 1 for c in control_bits})
    tensor = matrix.reshape((2,) * (2 * k))
    # Matrix axes: 0..k-1 are output bits k-1..0, k..2k-1 input bits k-1..0.
    target_axes = [axis_of[target_bits[j]] for j in range(k)]
    in_axes = [k + (k - 1 - j) for j in range(k)]
    dest = [target_axes[k - 1 - i] for i in range(k)]
    for piece in iter_pieces(sub, max_elems, keep_axes=target_axes):
        result = xp.tensordot(tensor, piece, axes=(in_axes, target_axes))
        piece[...] = xp.moveaxis(result, list(range(k)), dest)


def apply_diagonal(xp, psi, num_local: int, diagonal: np.ndarray, target_bits: Sequence[int],
                   control_bits: Sequence[int] = ()) -> None:
    """Multiply by a diagonal matrix on local target bits, in place.

    Args:
        diagonal: host array of ``2^k`` entries, bit j of the index is the
            value of ``target_bits[j]``; entries equal to 1 are skipped.
    """
    k = len(target_bits)
    view, axis_of = bit_view(psi, num_local, list(target_bits) + list(control_bits))
    sub = _select(view, {axis_of[c]: 1 for c in control_bits})
    for index, value in enumerate(diagonal.tolist()):
        if value == 1:
            continue
        block = _select(sub, {axis_of[target_bits[j]]: (index >> j) & 1 for j in range(k)})
        block *= value


def swap_local_bits(xp, psi, num_local: int, bit_a: int, bit_b: int, max_elems: int = 1 << 22) -> None:
    """Exchange the values of two local bits of every index, in place (a SWAP gate).

    Amplitudes with ``(a, b) = (1, 0)`` trade places with ``(0, 1)``, piece by
    piece through a temporary of at most ``max_elems`` elements.
    """
    view, axis_of = bit_view(psi, num_local, [bit_a, bit_b])
    left = _select(view, {axis_of[bit_a]: 1, axis_of[bit_b]: 0})
    right = _select(view, {axis_of[bit_a]: 0, axis_of[bit_b]: 1})
    for p, q in zip(iter_pieces(left, max_elems), iter_pieces(right, max_elems)):
        tmp = p.copy()
        p[...] = q
        q[...] = tmp


def zero_where(psi, num_local: int, bit: int, value: int) -> None:
    """Set to zero the amplitudes whose local ``bit`` equals ``value``."""
    view, axis_of = bit_view(psi, num_local, [bit])
    _select(view, {axis_of[bit]: value})[...] = 0


def probabilities_of_bits(xp, psi, num_local: int, bits: Sequence[int],
                          max_elems: int = 1 << 22) -> np.ndarray:
    """Local sums of |amplitude|² for every value of ``bits``, in float64.

    Returns:
        Host array of ``2^m`` entries; bit j of the index is ``bits[j]``.
    """
    m = len(bits)
    if m == 0:
        return np.array([float(norm_squared(xp, psi, max_elems))])
    view, axis_of = bit_view(psi, num_local, bits)
    axes = [axis_of[b] for b in bits]
    other = tuple(a for a in range(view.ndim) if a not in axes)
    total = xp.zeros((2,) * m, dtype=xp.float64)
    for piece in iter_pieces(view, max_elems, keep_axes=axes):
        weights = (piece.real ** 2 + piece.imag ** 2).astype(xp.float64)
        part = weights.sum(axis=other)  # remaining axes: bits in descending order
        total += part
    # total's axis i is bit sorted-descending[i]; reorder to bits[m-1],...,bits[0]
    desc = sorted(bits, reverse=True)
    order = [desc.index(bits[m - 1 - i]) for i in range(m)]
    total = xp.transpose(total, order).reshape(-1)
    host = total.get() if hasattr(total, "get") else np.asarray(total)
    return host.astype(np.float64)


def norm_squared(xp, psi, max_elems: int = 1 << 22) -> float:
    """Local sum of |amplitude|² in float64."""
    acc = 0.0
    for start in range(0, psi.size, max_elems):
        part = psi[start : start + max_elems]
        acc += float((part.real.astype(xp.float64) ** 2 + part.imag.astype(xp.float64) ** 2).sum())
    return acc


def vdot(xp, a, b, max_elems: int = 1 << 22) -> complex:
    """Local ⟨a|b⟩ = Σ conj(a)·b accumulated in complex128."""
    acc = 0j
    for start in range(0, a.size, max_elems):
        pa = a[start : start + max_elems].astype(xp.complex128)
        pb = b[start : start + max_elems].astype(xp.complex128)
        acc += complex(xp.vdot(pa, pb))
    return acc


def pauli_expectation_local(xp, psi, num_local: int, x_bits: Sequence[int], z_bits: Sequence[int],
                            y_bits: Sequence[int], max_elems: int = 1 << 22, fetch=None) -> complex:
    """Local part of ⟨ψ|P|ψ⟩ for a Pauli string, as ``Σ_i conj(ψ_i)·phase(i)·φ_{i⊕f}``.

    ``P`` acts as X on ``x_bits``, Z on ``z_bits`` and Y on ``y_bits``
    (disjoint local bit sets); ``f`` is the set of X/Y bits. Each Y
    contributes ``-i`` where the output bit is 0 and ``+i`` where it is 1,
    each Z a sign ``(-1)^bit``. ``φ`` is ``ψ`` itself, or — when the string
    also flips rank bits — the partner rank's shard: ``fetch(piece)`` returns
    the partner's amplitudes at the positions of ``piece``.
    """
    flip = list(x_bits) + list(y_bits)
    all_bits = flip + list(z_bits)
    if not all_bits and fetch is None:
        return complex(norm_squared(xp, psi, max_elems))
    view, axis_of = bit_view(psi, num_local, all_bits)
    keep = [axis_of[b] for b in all_bits]
    flip_axes = tuple(axis_of[b] for b in flip)
    acc = 0j
    for piece in iter_pieces(view, max_elems, keep_axes=keep):
        source = piece if fetch is None else fetch(piece)
        partner = xp.flip(source, axis=flip_axes) if flip_axes else source
        prod = xp.conj(piece).astype(xp.complex128) * partner.astype(xp.complex128)
        for b in z_bits:
            shape = [1] * piece.ndim
            shape[axis_of[b]] = 2
            prod = prod * xp.asarray(np.array([1.0, -1.0]).reshape(shape))
        for b in y_bits:
            shape = [1] * piece.ndim
            shape[axis_of[b]] = 2
            prod = prod * xp.asarray(np.array([-1j, 1j]).reshape(shape))
        acc += complex(prod.sum())
    return acc
