"""Moving amplitudes between ranks: bit swaps and rank permutations.

Swapping ``k`` rank bits ``R_j`` with local bits ``l_j`` in one round: the
shard splits into ``2^k`` slices by the values ``u`` of the bits ``l``; the
slice ``u`` equal to this rank's own values of ``R`` stays, every other slice
is exchanged with the rank whose ``R`` bits equal ``u``, which sends back its
slice of the same shape and receives into the same positions. A rank thus
sends and receives ``S·(1 − 2^-k)`` bytes for a shard of ``S`` bytes.

Slices are strided; they travel in pieces of at most half of ``chunk_bytes``
(and at most :data:`PIPELINE_PIECE_BYTES`), two in flight: a piece's messages
are started before the next piece is packed, a contiguous piece is sent from
where it lies, and the received piece is unpacked in place. No full-shard receive
buffer exists and no MPI message reaches 2 GiB.

On the CPU, when every rank runs on one node, pieces go instead through two
slots per rank in an MPI-3 shared-memory window
(:meth:`dqsim.comm.MPIComm.node_shared_slots`, off with
``DQSIM_SHARED_EXCHANGE=0``): each rank copies its piece into its slot, all
ranks meet at a barrier, and each copies its partner's slot over its piece.
That is two memory copies per piece and rank where the message path pays a
kernel copy between processes (``process_vm_readv``, about half the speed of
a memory copy on the dev VM) plus the unpack. Measured 2026-12-04, n = 26 on
2 ranks, 256 MiB per rank, plain Sendrecv time / exchange time in the same
run: top local bit 0.65 -> 0.93, local bit 3 (strided) 0.24 -> 0.31
(bench/results/kernel_bench-vm-cpuengine-*).

When the shards themselves lie in one shared window (a
:class:`dqsim.state.sharded.ShardedState` on the CPU with every rank on one
node allocates them so, :meth:`dqsim.comm.MPIComm.node_shared_array`), a
bit swap needs neither slots nor messages: each rank swaps its half of every
pair of slices directly between its shard and its partner's
(:func:`_swap_in_windows`), one fence before and one after. Same run as
above, 2026-12-04, load ~5: top local bit 0.81-0.92 -> 1.8-2.1, local bit 3
0.30-0.33 -> 0.93-1.06 in complex128, 0.74-0.83 in complex64
(bench/results/kernel_bench-vm-shardwin-20261204.md). Rank permutations
(:func:`permute_ranks`) still go through the slots. The swap moves each run
of ``2^l`` amplitudes (l the lowest local bit) by vector loads and stores,
runs of 64 and 128 bytes by non-temporal ones; the loop on slices it
replaced made the bit-3 swap compute-bound on the AMD host. 2026-12-06,
load 10-15, Sendrecv / exchange in three A/B runs against main: local bit 3
0.55-0.64 -> 0.95-0.96 in complex128, 0.55-0.63 -> 0.67-0.86 in complex64
(bench/results/kernel_bench-vm-xchg-20261206.md). Every other run of 64 or
128 bytes swapped still costs 1.5x a contiguous swap of the same bytes on
that host, even between two private arrays of one rank
(``bench/swap_pattern_bench.py``).
"""

from __future__ import annotations

from typing import Sequence

from dqsim.backend import fast as backend_fast
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


#: Largest piece of a pipelined exchange, bytes (and at most half the exchange workspace,
#: ``chunk_bytes``). Few large messages: on the 2-core dev VM with its cores shared, every
#: message costs about a millisecond of handshake (each rendezvous waits for the partner
#: process to be scheduled), and with one thread per rank MPI's copies and ours run one
#: after the other anyway. Measured 2026-12-04, n = 26 on 2 ranks (256 MiB sent per rank),
#: plain Sendrecv time / exchange time for the same bytes: pieces of 16 MiB 0.50, 64 MiB
#: 0.65-0.68, 128 MiB 0.69-0.71 (bench/results/kernel_bench-*).
PIPELINE_PIECE_BYTES = 128 << 20
#: Pieces in flight at once.
PIPELINE_DEPTH = 2


#: The buffers of the last exchange, kept for the next one: fresh memory costs a page
#: fault per 4 KiB on first touch, which measured ~40% of an exchange of 64 MiB.
_LAST_BUFFERS: dict = {}


def _reused(cache: dict, key, make, max_elems: int) -> tuple[list, list]:
    """``PIPELINE_DEPTH`` send and receive buffers of ``max_elems`` from ``make(n)``, kept in
    ``cache`` under ``key`` and reused between exchanges (at most one set alive per cache)."""
    cached = cache.get(key)
    if cached is None or cached[0][0].size < max_elems:
        cache.clear()
        cached = ([make(max_elems) for _ in range(PIPELINE_DEPTH)], [make(max_elems) for _ in range(PIPELINE_DEPTH)])
        cache[key] = cached
    return cached


def _buffers(xp, dtype, max_elems: int) -> tuple[list, list]:
    """``PIPELINE_DEPTH`` send and receive buffers of ``max_elems``, reused between exchanges."""
    return _reused(_LAST_BUFFERS, (xp.__name__, str(dtype)), lambda n: xp.empty(n, dtype=dtype), max_elems)


#: The pinned host buffers of the last host-staged (GPU) exchange, kept likewise.
_LAST_HOST_BUFFERS: dict = {}


def _host_buffers(backend, dtype, max_elems: int) -> tuple[list, list]:
    """``PIPELINE_DEPTH`` host send and receive buffers (pinned on a GPU), reused between exchanges."""
    return _reused(_LAST_HOST_BUFFERS, str(dtype), lambda n: backend.pinned_empty(n, dtype), max_elems)


def _is_contiguous(array) -> bool:
    return bool(array.flags.c_contiguous)


class _Pipeline:
    """Pieces sent and received in turn, ``PIPELINE_DEPTH`` in flight.

    A piece is packed into a send buffer (or sent from where it lies when it
    is contiguous), its messages are started, and while they travel the next
    piece is packed; the oldest piece in flight is unpacked once both its
    messages are done. Each piece's received data replace it in place, so
    no buffer larger than ``PIPELINE_DEPTH`` pieces exists.
    """

    def __init__(self, xp, backend, comm, dtype, max_elems: int):
        self.xp, self.backend, self.comm = xp, backend, comm
        self.send, self.recv = _buffers(xp, dtype, max_elems)
        # GPU data through host memory (MPI not CUDA-aware): pinned buffers, reused.
        self.staged = backend.is_gpu and not getattr(comm, "cuda_aware", False)
        self.host_send, self.host_recv = _host_buffers(backend, dtype, max_elems) if self.staged else (None, None)
        self.in_flight: list = []
        self.slot = 0
        self.sent = 0

    def put(self, piece, dest: int, source: int) -> None:
        """Start exchanging ``piece`` (sent to ``dest``, replaced by what ``source`` sends)."""
        if len(self.in_flight) == PIPELINE_DEPTH:
            self._finish_oldest()
        n = piece.size
        if _is_contiguous(piece):
            send = piece.reshape(-1)
        else:
            send = self.send[self.slot][:n]
            send.reshape(piece.shape)[...] = piece
        recv = self.recv[self.slot][:n]
        slot = self.slot
        self.slot = (self.slot + 1) % PIPELINE_DEPTH
        self.backend.synchronize()
        if self.staged:
            host_send = self.host_send[slot][:n]
            pending = self.comm.start_sendrecv_array(
                send, recv, dest, source=source,
                to_host=lambda array: self.backend.to_host_into(array, host_send),
                from_host=self.backend.copy_from_host, host_recv=self.host_recv[slot][:n])
        else:  # host arrays, or device arrays a CUDA-aware MPI takes as they are
            pending = self.comm.start_sendrecv_array(send, recv, dest, source=source)
        self.in_flight.append((pending, piece, recv))
        self.sent += piece.nbytes

    def _finish_oldest(self) -> None:
        pending, piece, recv = self.in_flight.pop(0)
        pending.wait()
        piece[...] = recv.reshape(piece.shape)

    def finish(self) -> int:
        """Wait for every piece in flight; returns the bytes this rank sent."""
        while self.in_flight:
            self._finish_oldest()
        return self.sent


def _piece_elems(psi, chunk_bytes: int) -> int:
    """Elements per piece: the ``2 × PIPELINE_DEPTH`` buffers together stay within two
    ``chunk_bytes``, the exchange workspace of :func:`dqsim.state.sharded.estimate_memory_bytes`."""
    return max(1, min(chunk_bytes // PIPELINE_DEPTH, PIPELINE_PIECE_BYTES) // psi.itemsize)


def swap_rank_bits(xp, backend, comm, psi, num_local: int, pairs: Sequence[tuple[int, int]],
                   chunk_bytes: int, *, shared=None) -> int:
    """Swap rank bits with local bits, in place; returns bytes sent by this rank.

    Args:
        pairs: ``(rank_physical_bit, local_physical_bit)`` pairs, distinct bits.
        chunk_bytes: largest message (and buffer) in bytes.
        shared: the :class:`dqsim.comm.SharedArray` whose window holds every
            rank's ``psi`` (:meth:`dqsim.comm.MPIComm.node_shared_array`), or
            ``None``; then the pieces are swapped in place between the shards
            (:func:`_swap_in_windows`). The same on every rank (all or none).

    Collective: every rank calls it with the same pairs.
    """
    k = len(pairs)
    rank = comm.rank
    rank_bits = [p - num_local for p, _ in pairs]
    local_bits = [l for _, l in pairs]
    own = [(rank >> j) & 1 for j in rank_bits]
    if shared is not None and not backend.is_gpu and shared.holds(psi):
        return _swap_in_windows(shared, psi, rank, rank_bits, local_bits, own)
    view, axis_of = kernels.bit_view(psi, num_local, local_bits)
    max_elems = _piece_elems(psi, chunk_bytes)
    slots = None if backend.is_gpu else comm.node_shared_slots(min(max_elems, psi.size >> k) * psi.itemsize)
    pipe = None if slots is not None else _Pipeline(xp, backend, comm, psi.dtype, min(max_elems, psi.size >> k))
    steps = []
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
            if pipe is None:
                steps.append((piece, partner))
            else:
                pipe.put(piece, partner, partner)
    return _through_slots(slots, rank, steps) if pipe is None else pipe.finish()


def _swap_in_windows(shared, psi, rank: int, rank_bits, local_bits, own) -> int:
    """The exchange of :func:`swap_rank_bits` done in place between shards in one shared window.

    For every other combination ``u`` of the local bits' values, this rank's
    slice ``u`` and the slice of the rank whose rank bits are ``u`` (at this
    rank's own rank-bit values) trade places: each rank of the pair swaps one
    half of the elements directly between the two shards
    (:func:`dqsim.backend.fast.cross_swap`), so no slot, message or buffer is
    involved and every amplitude is read and written once. Each amplitude
    belongs to exactly one swapped pair of slices, so the pairs need no
    ordering; one fence before (every rank's shard is final) and one after
    (no rank reads its shard before its partners have written it).

    Returns the bytes this rank would have sent as messages (the same count
    as the other paths). Collective over the window's ranks. Shards lie in a
    window only where numba is installed (``ShardedState._zeros``), which the
    swap needs.
    """
    k = len(local_bits)
    count = psi.size >> k
    own_offset = sum(v << lb for v, lb in zip(own, local_bits))
    shared.fence()
    sent = 0
    for mask in range(1, 1 << k):
        values = [own[j] ^ ((mask >> j) & 1) for j in range(k)]
        partner = rank
        for j, rb in enumerate(rank_bits):
            partner = (partner & ~(1 << rb)) | (values[j] << rb)
        start, stop = (0, count >> 1) if rank < partner else (count >> 1, count)
        offset = sum(v << lb for v, lb in zip(values, local_bits))
        backend_fast.cross_swap(psi, shared.array(partner), local_bits, offset, own_offset, start, stop)
        sent += count * psi.itemsize
    shared.fence()
    return sent


def _through_slots(slots, rank: int, steps) -> int:
    """Replace each ``(piece, partner)`` by the partner's piece of the same step, through the
    shared slots of :meth:`dqsim.comm.MPIComm.node_shared_slots`; returns the bytes this rank sent.

    Collective: every rank takes as many steps, with pieces of the same shapes.
    Step ``j`` copies the piece into this rank's slot ``j % 2``, waits for every
    rank (a fence), and copies the partner's slot over the piece. A slot is
    written again two steps later, after the fence that follows its reader's
    last copy out of it; the final fence frees both slots for the next exchange.
    """
    sent = 0
    for j, (piece, partner) in enumerate(steps):
        if partner == rank:  # a rank whose shard stays (permute_ranks) only keeps step with the others
            slots.fence()
            continue
        slots.slot(rank, j % 2, piece.size, piece.dtype).reshape(piece.shape)[...] = piece
        slots.fence()
        piece[...] = slots.slot(partner, j % 2, piece.size, piece.dtype).reshape(piece.shape)
        sent += piece.nbytes
    slots.fence()
    return sent


def permute_ranks(xp, backend, comm, psi, destination_of: Sequence[int], chunk_bytes: int) -> int:
    """Move this rank's shard to rank ``destination_of[rank]``, in place.

    Collective: ``destination_of`` is a permutation of the ranks, the same on
    every rank. Returns bytes sent by this rank.
    """
    rank = comm.rank
    dest = destination_of[rank]
    source = list(destination_of).index(rank)
    max_elems = _piece_elems(psi, chunk_bytes)
    slots = None if backend.is_gpu else comm.node_shared_slots(min(max_elems, psi.size) * psi.itemsize)
    if slots is not None:  # collective: the ranks whose shard stays take part too
        return _through_slots(slots, rank, [(psi[start : start + max_elems], source)
                                            for start in range(0, psi.size, max_elems)])
    if dest == rank:
        return 0
    pipe = _Pipeline(xp, backend, comm, psi.dtype, min(max_elems, psi.size))
    for start in range(0, psi.size, max_elems):
        pipe.put(psi[start : start + max_elems], dest, source)
    return pipe.finish()
