"""Moving amplitudes between ranks: bit swaps and rank permutations.

Swapping ``k`` rank bits ``R_j`` with local bits ``l_j`` in one round: the
shard splits into ``2^k`` slices by the values ``u`` of the bits ``l``; the
slice ``u`` equal to this rank's own values of ``R`` stays, every other slice
is exchanged with the rank whose ``R`` bits equal ``u``, which sends back its
slice of the same shape and receives into the same positions. A rank thus
sends and receives ``S·(1 − 2^-k)`` bytes for a shard of ``S`` bytes.

Slices are strided; they travel in contiguous pieces of at most
``chunk_bytes`` through two small buffers, so no full-shard receive buffer
exists and no MPI message reaches 2 GiB.
"""

from __future__ import annotations

from typing import Sequence

from dqsim.state import kernels


def exchange_copy(xp, backend, comm, piece, partner: int):
    """Send a copy of ``piece`` to ``partner`` and return the partner's piece of the same shape.

    Collective (pairwise): the partner calls it with a piece of the same shape.
    """
    send = xp.ascontiguousarray(piece).reshape(-1)
    recv = xp.empty_like(send)
    backend.synchronize()
    if backend.is_gpu:
        comm.sendrecv_array(send, recv, partner, to_host=backend.to_host, from_host=backend.copy_from_host)
    else:
        comm.sendrecv_array(send, recv, partner)
    return recv.reshape(piece.shape)


class _Workspace:
    """Two buffers of ``chunk_bytes`` reused for every piece of one exchange."""

    def __init__(self, xp, dtype, max_elems: int):
        self.send = xp.empty(max_elems, dtype=dtype)
        self.recv = xp.empty(max_elems, dtype=dtype)


def _piece_messages(xp, backend, comm, piece, partner_send: int, partner_recv: int, work: _Workspace) -> None:
    n = piece.size
    send = work.send[:n]
    recv = work.recv[:n]
    send.reshape(piece.shape)[...] = piece
    backend.synchronize()
    if backend.is_gpu:
        comm.sendrecv_array(send, recv, partner_send, source=partner_recv,
                            to_host=backend.to_host, from_host=backend.copy_from_host)
    else:
        comm.sendrecv_array(send, recv, partner_send, source=partner_recv)
    piece[...] = recv.reshape(piece.shape)


def swap_rank_bits(xp, backend, comm, psi, num_local: int, pairs: Sequence[tuple[int, int]],
                   chunk_bytes: int) -> int:
    """Swap rank bits with local bits, in place; returns bytes sent by this rank.

    Args:
        pairs: ``(rank_physical_bit, local_physical_bit)`` pairs, distinct bits.
        chunk_bytes: largest message (and buffer) in bytes.

    Collective: every rank calls it with the same pairs.
    """
    k = len(pairs)
    rank = comm.rank
    rank_bits = [p - num_local for p, _ in pairs]
    local_bits = [l for _, l in pairs]
    own = [(rank >> j) & 1 for j in rank_bits]
    view, axis_of = kernels.bit_view(psi, num_local, local_bits)
    max_elems = max(1, chunk_bytes // psi.itemsize)
    work = _Workspace(xp, psi.dtype, min(max_elems, psi.size >> k))
    sent = 0
    for mask in range(1, 1 << k):
        values = [own[j] ^ ((mask >> j) & 1) for j in range(k)]
        partner = rank
        for j, rb in enumerate(rank_bits):
            partner = (partner & ~(1 << rb)) | (values[j] << rb)
        index = [slice(None)] * view.ndim
        for j, lb in enumerate(local_bits):
            index[axis_of[lb]] = slice(values[j], values[j] + 1)
        block = view[tuple(index)]
        for piece in kernels.iter_pieces(block, max_elems):
            _piece_messages(xp, backend, comm, piece, partner, partner, work)
            sent += piece.nbytes
    return sent


def permute_ranks(xp, backend, comm, psi, destination_of: Sequence[int], chunk_bytes: int) -> int:
    """Move this rank's shard to rank ``destination_of[rank]``, in place.

    Collective: ``destination_of`` is a permutation of the ranks, the same on
    every rank. Returns bytes sent by this rank.
    """
    rank = comm.rank
    dest = destination_of[rank]
    if dest == rank:
        return 0
    source = list(destination_of).index(rank)
    max_elems = max(1, chunk_bytes // psi.itemsize)
    work = _Workspace(xp, psi.dtype, min(max_elems, psi.size))
    sent = 0
    for start in range(0, psi.size, max_elems):
        piece = psi[start : start + max_elems]
        _piece_messages(xp, backend, comm, piece, dest, source, work)
        sent += piece.nbytes
    return sent
