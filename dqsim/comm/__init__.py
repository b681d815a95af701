"""Communication between ranks: the only module of dqsim that imports mpi4py.

Two communicators share one interface:

* :class:`MPIComm` wraps a *duplicate* of an mpi4py communicator (by default
  ``MPI.COMM_WORLD``), so dqsim's messages never collide with the caller's.
  It never initialises or finalises MPI itself (mpi4py does on import/exit).
* :class:`SingleComm` is rank 0 of 1; every collective returns its input
  unchanged, so dqsim runs without ``mpiexec``.

:func:`init` picks one: MPI when mpi4py imports and the job has several
ranks, else the single-process communicator.

Arrays on a GPU are moved through host memory unless ``cuda_aware`` is set
(the one place this choice is made); the device stream is synchronised
before MPI reads a buffer.

When every rank runs on one node, :meth:`MPIComm.node_shared_array` and
:meth:`MPIComm.node_shared_slots` hand out memory in MPI-3 shared-memory
windows that every rank reads and writes directly (``DQSIM_SHARED_EXCHANGE``:
``slots`` gives slots only, ``0`` neither).
"""

from __future__ import annotations

import gc
import os
import sys
import time
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from dqsim.errors import DqsimError, count_of

#: Largest number of bytes in one MPI message (MPI counts are C ints).
MAX_MESSAGE_BYTES = (1 << 31) - 1


def split_evenly(num_items: int, num_ranks: int, rank: int) -> tuple[int, int]:
    """Half-open range ``(start, stop)`` of items owned by ``rank``.

    The first ``num_items % num_ranks`` ranks get one item more. A pure
    function, so splits are testable without MPI.

    Examples:
        >>> [split_evenly(10, 3, r) for r in range(3)]
        [(0, 4), (4, 7), (7, 10)]
    """
    if num_ranks < 1 or not 0 <= rank < num_ranks:
        raise ValueError(f"rank {rank} is outside 0..{num_ranks - 1}")
    base, extra = divmod(num_items, num_ranks)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def balance_items(costs: Sequence[float], num_ranks: int) -> list[int]:
    """The rank of each item: costliest first, each to the least loaded rank so far (ties: lowest rank).

    A pure function of ``(costs, num_ranks)`` (every rank computes the same
    split), for independent items of unequal cost, e.g. circuits that grow
    with the time point.

    Examples:
        >>> balance_items([1, 2, 3, 4, 5], 2)
        [0, 0, 1, 1, 0]
    """
    if num_ranks < 1:
        raise ValueError(f"num_ranks = {num_ranks} must be >= 1")
    load = [0.0] * num_ranks
    ranks = [0] * len(costs)
    for item in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        rank = min(range(num_ranks), key=lambda r: (load[r], r))
        load[rank] += costs[item]
        ranks[item] = rank
    return ranks


def error_class(kind: type) -> type:
    """``kind`` where every rank can import it by its name (it pickles), else :class:`~dqsim.errors.DqsimError`.

    A class made inside a function cannot travel to another rank; its line can, as a plain ``DqsimError``.

    Examples:
        >>> from dqsim.errors import ConfigError
        >>> error_class(ConfigError).__name__, error_class(type("Local", (DqsimError,), {})).__name__
        ('ConfigError', 'DqsimError')
    """
    module = sys.modules.get(kind.__module__)
    return kind if getattr(module, kind.__qualname__, None) is kind else DqsimError


def error_like(kind: type, message: str) -> Exception:
    """An exception of class ``kind`` with ``message``: an error another rank found, raised on this one.

    Through ``kind(message)``; a class whose constructor wants more
    arguments (:class:`~dqsim.errors.RankCountError`) is made without its
    ``__init__``, its message as its only argument.

    Examples:
        >>> from dqsim.errors import ConfigError, RankCountError
        >>> [(type(e).__name__, str(e)) for e in (error_like(ConfigError, "x"), error_like(RankCountError, "y"))]
        [('ConfigError', 'x'), ('RankCountError', 'y')]
    """
    try:
        return kind(message)
    except TypeError:
        error = kind.__new__(kind)
        error.args = (message,)
        return error


def held_error(error: DqsimError, key: tuple = ()) -> tuple:
    """A :class:`~dqsim.errors.DqsimError` this rank found, held for the ranks to agree on: ``(key, line, class)``.

    Instead of raising it on this rank alone (the others would wait for it in
    their next collective until the command line ends the job through
    ``MPI_Abort``), the rank sends this along with a collective every rank
    makes anyway, and every rank then raises the same error there
    (:func:`raise_held`, :func:`allgather_agreed`). ``key`` orders the
    errors of several ranks as a run on one rank would meet them (e.g. the
    index of the run that raised); the least is raised.

    Examples:
        >>> held_error(DqsimError("no"), (3,))
        ((3,), 'no', <class 'dqsim.errors.DqsimError'>)
    """
    return (tuple(key), str(error), error_class(type(error)))


def raise_held(held: Sequence[tuple | None], rank: int, own: DqsimError | None = None) -> None:
    """Raise on every rank the error of least key that some rank held (:func:`held_error`); none: return.

    Args:
        held: one entry per rank, in rank order (what the collective gave every rank alike): a held error
            or ``None``. Ties of key go to the lower rank.
        rank: this rank's number.
        own: the error this rank held (``None``: none). When it is the one chosen, it is raised itself (its
            attributes and traceback); every other rank raises one of its class with its line (:func:`error_like`).

    Examples:
        >>> from dqsim.errors import ConfigError
        >>> raise_held([None, None], 0)
        >>> raise_held([((2,), "late", DqsimError), ((1,), "first", ConfigError)], 0)
        Traceback (most recent call last):
        ...
        dqsim.errors.ConfigError: first
    """
    chosen = min((r for r, each in enumerate(held) if each is not None), key=lambda r: (held[r][0], r), default=None)
    if chosen is None:
        return
    if chosen == rank and own is not None:
        raise own
    raise error_like(held[chosen][2], held[chosen][1])


def allgather_agreed(comm, obj: Any, error: DqsimError | None = None, key: tuple = ()) -> list:
    """Collective: ``comm.allgather(obj)``, carrying this rank's held error; every rank raises the same one.

    The agreement of :func:`held_error` in a gather the caller makes anyway
    (no collective of its own): a rank that met a
    :class:`~dqsim.errors.DqsimError` in work only it does (its share of a
    scenario's runs) passes it as ``error`` instead of raising it, with
    ``key`` ordering it as a one-rank run would meet it, and every rank then
    raises the error of least key (:func:`raise_held`): the command line
    prints its one line once and every rank exits with status 2.

    Returns:
        Every rank's ``obj`` in rank order, when no rank passed an error.
    """
    parts = comm.allgather((obj, None if error is None else held_error(error, key)))
    raise_held([held for _obj, held in parts], comm.rank, error)
    return [each for each, _held in parts]


class SingleComm:
    """Communicator of one process: rank 0 of size 1."""

    rank = 0
    size = 1
    node_local_rank = 0
    node_local_size = 1
    cuda_aware = False

    @property
    def mpi_comm(self) -> None:
        """No MPI communicator: libraries that take one (h5py's ``driver="mpio"``) run serially."""
        return None

    def barrier(self) -> None:
        """Collective: nothing to wait for."""

    def allreduce_sum(self, value):
        """Collective: the sum over ranks, here the value itself."""
        return value

    def allreduce_max(self, value):
        """Collective: the maximum over ranks, here the value itself."""
        return value

    def allreduce_min(self, value):
        """Collective: the minimum over ranks, here the value itself."""
        return value

    def bcast(self, obj: Any, root: int = 0) -> Any:
        """Collective: ``root``'s object on every rank."""
        return obj

    def gather(self, obj: Any, root: int = 0) -> list | None:
        """Collective: list of every rank's object on ``root``."""
        return [obj]

    def allgather(self, obj: Any) -> list:
        """Collective: list of every rank's object on every rank."""
        return [obj]

    def alltoall(self, objs: list) -> list:
        """Collective: ``objs[r]`` goes to rank ``r``; returns what every rank sent here."""
        return list(objs)

    def start_alltoall(self, objs: list) -> "DoneAlltoall":
        """Collective, non-blocking: :meth:`alltoall` started; here it is done at once."""
        return DoneAlltoall(list(objs))

    def gather_array(self, array: np.ndarray, root: int = 0) -> np.ndarray | None:
        """Collective: concatenation of every rank's 1-D host array on ``root``."""
        return np.array(array, copy=True)

    def sendrecv_array(self, send, recv, dest: int, *, source: int | None = None,
                       to_host=None, from_host=None) -> None:
        """Exchange a buffer with another rank: impossible with one rank."""
        raise RuntimeError("SingleComm has no partner rank to exchange with")

    def start_sendrecv_array(self, send, recv, dest: int, *, source: int | None = None,
                             to_host=None, from_host=None, host_recv=None):
        """Exchange a buffer with another rank: impossible with one rank."""
        raise RuntimeError("SingleComm has no partner rank to exchange with")

    def shared_exchange(self) -> str:
        """One rank: no exchanges (``"none"``)."""
        return "none"

    def node_shared_slots(self, slot_bytes: int) -> None:
        """No partner rank, so no shared exchange slots."""
        return None

    def node_shared_array(self, num_elems: int, dtype) -> None:
        """No partner rank, so no node-shared arrays."""
        return None

    def free_released_windows(self) -> int:
        """No windows: nothing to free."""
        return 0

    def agree_on_failure(self, message: str, timeout_s: float) -> list | None:
        """Collective with a time limit: every rank's error message (here, this one's)."""
        return [message]

    def start_root_task(self, root: int = 0) -> "RootTask":
        """Collective, non-blocking: work ``root`` does alone (:class:`RootTask`); here no other rank waits."""
        return RootTask(None, self.rank, self.size, root)

    def abort(self, code: int = 1) -> None:
        """End the process with ``code``."""
        os._exit(code)

    def abort_without_exit_handlers(self, code: int = 1) -> None:
        """End the process with ``code`` (no exit handler runs)."""
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class MPIComm:
    """A duplicated MPI communicator with the collectives dqsim needs."""

    def __init__(self, mpi_comm=None, *, cuda_aware: bool = False, spin_polls: int | None = None):
        """``spin_polls``: :data:`WAIT_SPIN_POLLS` of this communicator's all-to-alls (``None``: as
        :func:`wait_spin_polls` reads the environment).

        Raises:
            DqsimError: one line: ``DQSIM_WAIT_SPIN_POLLS`` is no integer of 0 or more (:func:`wait_spin_polls`).
        """
        self.spin_polls = wait_spin_polls() if spin_polls is None else spin_polls
        from mpi4py import MPI  # noqa: PLC0415 - only comm imports mpi4py

        self._MPI = MPI
        self._comm = (mpi_comm if mpi_comm is not None else MPI.COMM_WORLD).Dup()
        self.rank = self._comm.Get_rank()
        self.size = self._comm.Get_size()
        node = self._comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.node_local_rank = node.Get_rank()
        self.node_local_size = node.Get_size()
        node.Free()
        self._failures = self._comm.Dup()  # only agree_on_failure uses it: never mixed with the run's traffic
        self.cuda_aware = cuda_aware
        self._slots: SharedSlots | None = None
        self._windows: dict = {}  # id -> MPI window of a SharedArray (node_shared_array), freed collectively
        self._released: set[int] = set()  # ids whose arrays this rank no longer references
        self._next_window = 0

    @property
    def mpi_comm(self):
        """dqsim's duplicated mpi4py communicator, for libraries that take one.

        For example ``h5py.File(..., driver="mpio", comm=comm.mpi_comm)`` in
        :mod:`dqsim.io`, which may not import mpi4py itself. Collectives on it
        must be entered by every rank of this communicator.
        """
        return self._comm

    def barrier(self) -> None:
        """Collective: wait until every rank arrives."""
        self._comm.Barrier()

    def _reduce(self, value, op):
        if isinstance(value, np.ndarray):
            out = np.empty_like(value)
            self._comm.Allreduce(np.ascontiguousarray(value), out, op=op)
            return out
        return self._comm.allreduce(value, op=op)

    def allreduce_sum(self, value):
        """Collective: elementwise sum over ranks of a number or NumPy array."""
        return self._reduce(value, self._MPI.SUM)

    def allreduce_max(self, value):
        """Collective: maximum over ranks of a number or NumPy array."""
        return self._reduce(value, self._MPI.MAX)

    def allreduce_min(self, value):
        """Collective: minimum over ranks of a number or NumPy array."""
        return self._reduce(value, self._MPI.MIN)

    def bcast(self, obj: Any, root: int = 0) -> Any:
        """Collective: ``root``'s (picklable) object on every rank."""
        return self._comm.bcast(obj, root=root)

    def gather(self, obj: Any, root: int = 0) -> list | None:
        """Collective: list of every rank's object on ``root``, ``None`` elsewhere."""
        return self._comm.gather(obj, root=root)

    def allgather(self, obj: Any) -> list:
        """Collective: list of every rank's object on every rank."""
        return self._comm.allgather(obj)

    def alltoall(self, objs: list) -> list:
        """Collective: ``objs[r]`` (picklable) goes to rank ``r``; returns what every rank sent here."""
        return self._comm.alltoall(objs)

    def start_alltoall(self, objs: list) -> "PendingAlltoall":
        """Collective, non-blocking: start sending ``objs[r]`` (picklable) to rank ``r``.

        Returns at once; :meth:`PendingAlltoall.test` says whether every
        other rank's object has come, :meth:`PendingAlltoall.wait` returns
        them (this rank's own slot: ``objs[rank]``, not sent). Point-to-point
        messages of one tag (``_ALLTOALL_TAG``): every rank must complete its
        started all-to-alls in the order it started them (messages between two
        ranks do not overtake each other, so the k-th one matches the k-th one);
        blocking collectives may be called meanwhile, but not
        :meth:`alltoall` itself on objects another rank expects here.
        """
        comm, rank = self._comm, self.rank
        sends = [comm.isend(objs[r], dest=r, tag=_ALLTOALL_TAG) for r in range(self.size) if r != rank]
        return PendingAlltoall(self._MPI, comm, rank, self.size, objs[rank], sends, self.spin_polls)

    def gather_array(self, array: np.ndarray, root: int = 0) -> np.ndarray | None:
        """Collective: concatenation of equal-length 1-D host arrays on ``root``.

        Sent in messages below :data:`MAX_MESSAGE_BYTES`.
        """
        array = np.ascontiguousarray(array)
        if self.rank == root:
            out = np.empty(array.size * self.size, dtype=array.dtype)
            out[root * array.size : (root + 1) * array.size] = array
            for src in range(self.size):
                if src != root:
                    part = out[src * array.size : (src + 1) * array.size]
                    for piece in _message_pieces(part):
                        self._comm.Recv(piece, source=src, tag=71)
            return out
        for piece in _message_pieces(array):
            self._comm.Send(piece, dest=root, tag=71)
        return None

    def sendrecv_array(
        self,
        send,
        recv,
        dest: int,
        *,
        source: int | None = None,
        to_host: Callable | None = None,
        from_host: Callable | None = None,
    ) -> None:
        """Collective (pairwise): send ``send`` to ``dest``, receive ``source``'s into ``recv``.

        ``source`` defaults to ``dest`` (a pairwise exchange).

        Both buffers are contiguous, of equal size and below
        :data:`MAX_MESSAGE_BYTES`. GPU buffers go through host memory
        (``to_host``/``from_host`` from the backend) unless the communicator
        is CUDA-aware; the caller has synchronised the device stream.
        """
        if send.nbytes > MAX_MESSAGE_BYTES:
            raise ValueError(f"message of {send.nbytes} bytes exceeds the MPI limit")
        if source is None:
            source = dest
        if to_host is not None and not self.cuda_aware:
            host_send = to_host(send)
            host_recv = np.empty_like(host_send)
            self._comm.Sendrecv(host_send, dest=dest, sendtag=73,
                                recvbuf=host_recv, source=source, recvtag=73)
            from_host(host_recv, recv)
            return
        self._comm.Sendrecv(send, dest=dest, sendtag=73,
                            recvbuf=recv, source=source, recvtag=73)

    def start_sendrecv_array(self, send, recv, dest: int, *, source: int | None = None,
                             to_host: Callable | None = None, from_host: Callable | None = None,
                             host_recv: np.ndarray | None = None) -> "PendingExchange":
        """Pairwise, non-blocking: start sending ``send`` to ``dest`` and receiving ``source``'s into ``recv``.

        As :meth:`sendrecv_array`, but returns at once; the buffers belong to
        MPI until :meth:`PendingExchange.wait` returns. GPU buffers of a
        communicator that is not CUDA-aware go through host copies made
        here (send: ``to_host(send)``) and in ``wait`` (receive, into
        ``host_recv`` when given — e.g. pinned memory the caller reuses —
        else a fresh host array).
        """
        if send.nbytes > MAX_MESSAGE_BYTES:
            raise ValueError(f"message of {send.nbytes} bytes exceeds the MPI limit")
        if source is None:
            source = dest
        staged = to_host is not None and not self.cuda_aware
        out = to_host(send) if staged else send
        into = (host_recv if host_recv is not None else np.empty(recv.shape, dtype=recv.dtype)) if staged else recv
        requests = [self._comm.Irecv(into, source=source, tag=74), self._comm.Isend(out, dest=dest, tag=74)]
        return PendingExchange(self._MPI, requests, (into, recv, from_host) if staged else None, keep=out)

    def shared_exchange(self) -> str:
        """Which shared memory CPU exchanges may use: ``"window"`` (shards and slots), ``"slots"`` or ``"messages"``.

        ``"messages"`` when the ranks span several nodes (``Split_type`` gave
        fewer ranks on this node than in the job) or ``DQSIM_SHARED_EXCHANGE=0``;
        ``"slots"`` with ``DQSIM_SHARED_EXCHANGE=slots``. Not collective; the
        same on every rank when the environment is.
        """
        setting = os.environ.get("DQSIM_SHARED_EXCHANGE", "1")
        if self.size < 2 or self.node_local_size != self.size or setting == "0":
            return "messages"
        return "slots" if setting == "slots" else "window"

    def node_shared_slots(self, slot_bytes: int) -> "SharedSlots | None":
        """Collective: two exchange slots of at least ``slot_bytes`` per rank in memory every rank can read.

        ``None`` unless every rank runs on this node (an MPI-3 shared-memory
        window needs that) or when ``DQSIM_SHARED_EXCHANGE=0``. The window is
        kept for the next call and replaced (collectively) by a larger one
        when a call asks for more, so every rank must ask for the same size.
        """
        if self.shared_exchange() == "messages":
            return None
        if self._slots is None or self._slots.slot_bytes < slot_bytes:
            if self._slots is not None:
                self._slots.free()
            self._slots = None  # not kept if the allocation fails
            self._slots = SharedSlots(self._MPI, self._comm, slot_bytes)
        return self._slots

    def node_shared_array(self, num_elems: int, dtype) -> "SharedArray | None":
        """Collective: an array of ``num_elems`` elements of ``dtype`` per rank in an MPI-3 shared-memory window.

        Every rank can read and write every rank's array (:meth:`SharedArray.array`).
        ``None`` (the caller allocates as usual) unless every rank runs on this
        node, when ``DQSIM_SHARED_EXCHANGE`` is ``0`` or ``slots``, or when the
        windows of all ranks would not fit 90% of the free space of
        ``/dev/shm`` (where MPICH maps them; touching pages beyond it would be
        a SIGBUS, not an error). Every rank asks for the same size.

        Lifetime: a window is freed collectively once no rank references any
        array made from it any more. Dropping the arrays only marks the window
        on this rank (no MPI call happens in a finaliser); the next call of
        this method frees, in the order they were made, the windows every rank
        has marked, before it allocates.
        """
        if self.size < 2 or self.node_local_size != self.size:
            return None
        wanted = self.shared_exchange() == "window"
        if not self._comm.allreduce(int(wanted), op=self._MPI.MIN):  # agreed: a setting on some ranks only
            return None  # (e.g. an MPMD launch) must not leave the others waiting in a collective below
        dtype = np.dtype(dtype)
        self.free_released_windows()
        nbytes = int(num_elems) * dtype.itemsize
        if not self._comm.allreduce(int(self._shm_fits(nbytes)), op=self._MPI.MIN):
            if not self._windows:  # the same on every rank; nothing a collection could free
                return None
            # Windows of states kept only by reference cycles are freed by a collection: try once more.
            gc.collect()
            self.free_released_windows()
            if not self._comm.allreduce(int(self._shm_fits(nbytes)), op=self._MPI.MIN):
                return None
        info = self._MPI.Info.Create()
        info.Set("alloc_shared_noncontig", "true")  # each rank's array on pages of its own
        try:
            win = self._MPI.Win.Allocate_shared(max(nbytes, dtype.itemsize), dtype.itemsize,
                                                info=info, comm=self._comm)
        finally:
            info.Free()
        win.Lock_all(self._MPI.MODE_NOCHECK)
        index = self._next_window
        self._next_window += 1
        self._windows[index] = win
        addresses = [win.Shared_query(r)[0].address for r in range(self.size)]
        return SharedArray(self._MPI, self._comm, win, addresses, int(num_elems), dtype,
                           index, self._released)

    def free_released_windows(self) -> int:
        """Collective: free, in the order they were made, the windows every rank has marked; returns how many.

        A window is marked on a rank when no array of it is referenced there
        any more (:class:`SharedArray`). :meth:`node_shared_array` calls this
        before it allocates; call it directly where a window was just dropped
        and no allocation follows (``ShardedState.add_qubit_``).
        """
        if not self._windows:
            return 0  # the same on every rank: windows are made collectively
        marked = set(self._released)  # a snapshot: finalisers may run during the collective below
        common = set.intersection(*map(set, self._comm.allgather(sorted(marked))))
        for index in sorted(common):
            win = self._windows.pop(index)
            win.Unlock_all()
            win.Free()
        self._released -= common
        return len(common)

    def _shm_fits(self, nbytes: int) -> bool:
        """Whether every rank's ``nbytes`` (plus a page) fit 90% of this node's free ``/dev/shm``."""
        if not os.path.isdir("/dev/shm"):
            return True
        stat = os.statvfs("/dev/shm")
        return self.size * (nbytes + 4096) <= 0.9 * stat.f_bavail * stat.f_frsize

    def agree_on_failure(self, message: str, timeout_s: float) -> list | None:
        """Collective with a time limit: every rank's error message, if every rank failed.

        A rank that failed calls this with its one-line message. If every
        rank calls it within ``timeout_s`` seconds (an error all ranks found,
        e.g. in the job or a checkpoint), each gets the list of all messages
        and can leave normally. Otherwise (some rank is still working, waits
        in another collective or is gone) it returns ``None`` and the caller
        should :meth:`abort`. Uses a communicator of its own, so a
        half-finished collective of the run cannot match it.
        """
        request = self._failures.Ibarrier()
        deadline = time.monotonic() + timeout_s
        while not request.Test():
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)
        return self._failures.allgather(message)

    def start_root_task(self, root: int = 0) -> "RootTask":
        """Collective, non-blocking: work ``root`` does alone while the other ranks wait (:class:`RootTask`).

        Every rank calls it, then ``root`` does the work, asks
        :meth:`RootTask.notified` between its steps and ends with
        :meth:`RootTask.finish`; the others call :meth:`RootTask.wait`.
        Point-to-point messages of two tags of their own; nothing else may
        be sent on this communicator meanwhile but blocking collectives
        that ``root`` alone does not enter.
        """
        return RootTask(self._comm, self.rank, self.size, root, any_source=self._MPI.ANY_SOURCE,
                        status=self._MPI.Status())

    def abort(self, code: int = 1) -> None:
        """End every rank of the job with ``code`` (``MPI_Abort`` on ``MPI_COMM_WORLD``).

        On ``MPI_COMM_WORLD``, not this communicator (a duplicate): MPICH 4's ``MPI_Abort`` on another
        communicator ended the calling process alone, and the others ran on, or waited for it in a collective
        (2026-12-07 (night): a rank whose watchdog aborted a parallel-HDF5 write left the other rank to its own
        watchdog's line 5 s later; a test script: rank 1 alive 15 s after rank 0's ``Abort``, until its own end)."""
        sys.stdout.flush()
        sys.stderr.flush()
        self._MPI.COMM_WORLD.Abort(code)

    def abort_without_exit_handlers(self, code: int = 1) -> None:
        """:meth:`abort`, where no C exit handler registered before runs once ``MPI_Abort`` exits the process.

        MPICH's ``MPI_Abort`` leaves through ``exit()``; parallel HDF5's handler then closes a file still open, a
        collective close on an aborted job (MPICH: "Assertion failed in file src/binding/c/coll/barrier.c", and
        the other ranks waited; 2026-12-07 (late afternoon)). glibc's ``on_exit(_exit)``, registered last, runs
        first (``on_exit(3)``: in the reverse order of registration) and ends the process with the status given.
        """
        _exit_first()
        self.abort(code)


def _exit_first() -> None:
    """Make ``_exit(status)`` the first handler ``exit()`` runs (glibc's ``on_exit``); nothing elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # noqa: PLC0415 - only on this rare path

    try:
        libc = ctypes.CDLL(None)
        libc.on_exit(ctypes.cast(libc._exit, ctypes.c_void_p), None)
    except (OSError, AttributeError):
        pass


class SharedSlots:
    """Two exchange slots per rank in an MPI-3 shared-memory window: any rank reads any rank's slots.

    An exchange through them costs each rank two memory copies (its data into
    its slot, a partner's slot into its data) and one barrier per piece,
    where a message between ranks on one node costs a kernel copy
    (``process_vm_readv``) that on the dev VM ran at half the speed of a
    memory copy, plus the copy that an in-place exchange adds on each side.
    """

    def __init__(self, mpi, comm, slot_bytes: int):
        self._MPI, self._comm = mpi, comm
        self.slot_bytes = -(-int(slot_bytes) // 4096) * 4096  # slots start on page boundaries
        self._win = mpi.Win.Allocate_shared(2 * self.slot_bytes, 1, comm=comm)
        self._win.Lock_all(mpi.MODE_NOCHECK)
        self._segments = [np.frombuffer(self._win.Shared_query(r)[0], dtype=np.uint8)
                          for r in range(comm.Get_size())]

    def slot(self, rank: int, index: int, count: int, dtype) -> np.ndarray:
        """Slot ``index`` (0 or 1) of ``rank`` as ``count`` elements of ``dtype`` (a view, no copy)."""
        start = index * self.slot_bytes
        return self._segments[rank][start : start + count * np.dtype(dtype).itemsize].view(dtype)

    def fence(self) -> None:
        """Collective: every rank's writes to its slots so far are visible to every rank."""
        self._win.Sync()
        self._comm.Barrier()
        self._win.Sync()

    def free(self) -> None:
        """Collective: release the window."""
        self._segments = []
        self._win.Unlock_all()
        self._win.Free()


class SharedArray:
    """One array per rank in an MPI-3 shared-memory window (:meth:`MPIComm.node_shared_array`).

    Any rank reads and writes any rank's array through :meth:`array`. The
    arrays keep this object alive; when the last of them and this object are
    gone, the window is marked for the collective free of
    :meth:`MPIComm.node_shared_array`.
    """

    def __init__(self, mpi, comm, win, addresses: list[int], num_elems: int, dtype, index: int, released: set):
        self._mpi, self._comm, self._win = mpi, comm, win
        self._addresses = addresses
        self.num_elems = num_elems
        self.dtype = np.dtype(dtype)
        weakref.finalize(self, released.add, index)  # no reference to self: it may be collected

    def array(self, rank: int) -> np.ndarray:
        """``rank``'s array (a view of the window, no copy); it keeps the window alive."""
        return np.asarray(_WindowMemory(self, self._addresses[rank], self.num_elems, self.dtype))

    def holds(self, array) -> bool:
        """True when ``array`` is exactly this rank's whole array of the window."""
        return (isinstance(array, np.ndarray) and array.dtype == self.dtype and array.size == self.num_elems
                and array.ndim == 1 and array.ctypes.data == self._addresses[self._comm.Get_rank()])

    def fence(self) -> None:
        """Collective: every rank's writes to the window so far are visible to every rank."""
        self._win.Sync()
        self._comm.Barrier()
        self._win.Sync()


class _WindowMemory:
    """The ``__array_interface__`` of one rank's part of a window: NumPy keeps it (and so its
    :class:`SharedArray`) as the base of every array made from it."""

    def __init__(self, owner: SharedArray, address: int, num_elems: int, dtype: np.dtype):
        self.owner = owner
        self.__array_interface__ = {"shape": (num_elems,), "typestr": dtype.str, "descr": dtype.descr,
                                    "data": (address, False), "version": 3}


class PendingExchange:
    """A send and a receive in flight (from :meth:`MPIComm.start_sendrecv_array`)."""

    def __init__(self, mpi, requests, staged, keep):
        self._mpi = mpi
        self._requests = requests
        self._staged = staged
        self._keep = keep  # the send buffer must live until the send completes

    def wait(self) -> None:
        """Block until both messages are done; the receive buffer then holds the data."""
        self._mpi.Request.Waitall(self._requests)
        if self._staged is not None:
            host, device, from_host = self._staged
            from_host(host, device)
        self._keep = None


#: Tag of the point-to-point messages of :meth:`MPIComm.start_alltoall` (71, 73, 74: the array transfers).
_ALLTOALL_TAG = 75
_RESULT_TAG = 76  # RootTask: root's result to a waiting rank
_NOTICE_TAG = 77  # RootTask: a waiting rank's one message to root (a notice, or none)


#: :meth:`PendingAlltoall.wait` polls and yields the processor between polls instead of blocking in MPI
#: (``DQSIM_WAIT_YIELDS=0`` in the environment blocks in MPI's own wait instead).
WAIT_YIELDS = os.environ.get("DQSIM_WAIT_YIELDS", "1") != "0"

#: Give the processor to another runnable thread or process (``os.sched_yield``; a zero sleep where there is none).
_yield_processor = getattr(os, "sched_yield", None) or (lambda: time.sleep(0))

#: Polls (each followed by a yield) after which :meth:`PendingAlltoall.wait` sleeps between polls instead, from
#: :data:`WAIT_FIRST_PAUSE_S` doubling up to :data:`WAIT_MAX_PAUSE_S`: for ranks that outnumber their cores, where
#: a yielding rank still takes its turns of the core from the rank it waits for. ``DQSIM_WAIT_SPIN_POLLS=N`` sets
#: it (read by :func:`init`: :func:`wait_spin_polls`); by default (10^9) a rank never sleeps, as before 2026-12-07.
#: The test suite (``scripts/test.sh``: 2 workers starting 2- and 4-rank runs on 2 cores) sets 200: four MPI test
#: files took 78-79 s against 92 s (113-116 against 121 CPU s) on the 2-core VM at load 3-4, 2026-12-07 (morning).
WAIT_SPIN_POLLS = 1_000_000_000

#: The environment variable that sets :data:`WAIT_SPIN_POLLS`.
WAIT_SPIN_POLLS_VAR = "DQSIM_WAIT_SPIN_POLLS"


def wait_spin_polls(environ=None) -> int:
    """:data:`WAIT_SPIN_POLLS` as ``DQSIM_WAIT_SPIN_POLLS`` in ``environ`` (default ``os.environ``) sets it: an
    integer of 0 or more (0: a waiting rank sleeps from its first empty poll); unset or empty: the default.

    Before 2026-12-07 (later) the value was read at import, and one that is no integer ended dqsim with a traceback.

    Raises:
        DqsimError: one line naming the variable, its value and the allowed range.

    Examples:
        >>> wait_spin_polls({"DQSIM_WAIT_SPIN_POLLS": "200"}), wait_spin_polls({}) == WAIT_SPIN_POLLS
        (200, True)
        >>> wait_spin_polls({"DQSIM_WAIT_SPIN_POLLS": "2e2"})
        Traceback (most recent call last):
        ...
        dqsim.errors.DqsimError: environment variable DQSIM_WAIT_SPIN_POLLS must be an integer in [0, inf) (polls \
before a waiting rank sleeps; unset: 1000000000, never), got '2e2'
    """
    environ = os.environ if environ is None else environ
    text = environ.get(WAIT_SPIN_POLLS_VAR, "").strip()
    if not text:
        return WAIT_SPIN_POLLS
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 0:
        raise DqsimError(f"environment variable {WAIT_SPIN_POLLS_VAR} must be an integer in [0, inf) (polls before a "
                         f"waiting rank sleeps; unset: {WAIT_SPIN_POLLS}, never), got {environ[WAIT_SPIN_POLLS_VAR]!r}")
    return value

#: The first sleep between polls once :data:`WAIT_SPIN_POLLS` polls found nothing, s.
WAIT_FIRST_PAUSE_S = 20e-6

#: The longest sleep between polls, s (the most a message waits on its receiver beyond the poll's own cost).
WAIT_MAX_PAUSE_S = 1e-3


class PendingAlltoall:
    """An all-to-all of picklable objects in flight (from :meth:`MPIComm.start_alltoall`)."""

    __slots__ = ("_mpi", "_comm", "_parts", "_waiting", "_sends", "_spin_polls")

    def __init__(self, mpi, comm, rank: int, size: int, own, sends, spin_polls: int = WAIT_SPIN_POLLS):
        self._spin_polls = spin_polls  # polls before sleeping (MPIComm.spin_polls, from wait_spin_polls())
        self._mpi = mpi
        self._comm = comm
        self._parts = [None] * size
        self._parts[rank] = own
        self._waiting = [r for r in range(size) if r != rank]  # ranks whose object has not come yet
        self._sends = sends

    def test(self) -> bool:
        """Whether every other rank's object has come (receives those that have; never blocks)."""
        waiting = self._waiting
        if waiting:
            comm, parts = self._comm, self._parts
            for source in list(waiting):
                message = comm.improbe(source=source, tag=_ALLTOALL_TAG)
                if message is None:
                    continue
                parts[source] = message.recv()
                waiting.remove(source)
        return not waiting

    def wait(self) -> list:
        """Block until every object has come and every send is done; the objects, by source rank.

        With :data:`WAIT_YIELDS` it polls (:meth:`test`) and gives the
        processor away between polls (``sched_yield``) instead of blocking
        in MPI, whose receive spins: where ranks share cores with each other
        or with other programs, a rank that waits then lets the one it waits
        for run. ``bench/network_bench.py``'s ring on a loaded 2-core VM:
        4 ranks, 256 nodes, 5 rounds 0.67-1.15 s against 2.3-2.9 s spinning;
        2 ranks, 1,024 nodes, 20 rounds 4.0-5.6 s against 5.0-7.2 s
        (``bench/results/network_ranks-vm-20261205.md``). On idle cores a
        poll costs a few microseconds more than MPI's own wait.
        """
        comm, parts = self._comm, self._parts
        if WAIT_YIELDS:
            polls, pause = 0, 0.0
            while not self.test():
                polls += 1
                if polls < self._spin_polls:
                    _yield_processor()
                else:
                    pause = min(WAIT_MAX_PAUSE_S, max(WAIT_FIRST_PAUSE_S, 2 * pause))
                    time.sleep(pause)
        for source in self._waiting:
            parts[source] = comm.recv(source=source, tag=_ALLTOALL_TAG)
        self._waiting = []
        if self._sends:
            self._mpi.Request.waitall(self._sends)
            self._sends = []
        return parts


class RootTask:
    """Work one rank (``root``) does alone while the others wait for its result and can tell it of an event.

    From :meth:`MPIComm.start_root_task` (or :meth:`SingleComm.start_root_task`,
    where no rank waits). A waiting rank polls (it sleeps between polls
    instead of spinning in a blocking collective) and sends ``root`` one
    notice the first time its ``notify()`` is true (a stop signal it got:
    ``dqsim run`` cuts rank 0's output write short on it); ``root`` learns
    of notices at :meth:`notified`, between its steps. Each waiting rank
    sends ``root`` exactly one message (the notice, or "none" once the
    result came), which :meth:`finish` collects, so no message outlives the
    task.

    Examples:
        >>> from dqsim.comm import SingleComm
        >>> task = SingleComm().start_root_task()
        >>> task.notified(), task.finish("written")
        (False, 'written')
    """

    __slots__ = ("_comm", "rank", "size", "root", "_any_source", "_status", "_heard", "_noticed")

    #: How long a waiting rank sleeps between two polls, s.
    POLL_S = 0.002

    def __init__(self, comm, rank: int, size: int, root: int, *, any_source: int | None = None, status=None):
        self._comm, self.rank, self.size, self.root = comm, rank, size, root
        self._any_source, self._status = any_source, status  # MPI.ANY_SOURCE and an MPI.Status (MPIComm's)
        self._heard: set[int] = set()  # root: the ranks whose one message came
        self._noticed = False

    def notified(self) -> bool:
        """``root``, never blocking: whether a waiting rank has sent a notice (receives the messages that came)."""
        if self.size > 1 and not self._noticed:
            while True:
                message = self._comm.improbe(source=self._any_source, tag=_NOTICE_TAG, status=self._status)
                if message is None:
                    break
                self._heard.add(self._status.Get_source())
                self._noticed = message.recv() or self._noticed
        return self._noticed

    def finish(self, result: Any) -> Any:
        """``root``: send ``result`` (picklable) to every waiting rank and collect their messages; returns it."""
        if self.size > 1:
            comm = self._comm
            sends = [comm.isend(result, dest=r, tag=_RESULT_TAG) for r in range(self.size) if r != self.root]
            for source in range(self.size):
                if source != self.root and source not in self._heard:
                    comm.recv(source=source, tag=_NOTICE_TAG)
                    self._heard.add(source)
            for request in sends:
                request.wait()
        return result

    def wait(self, notify: Callable[[], bool]) -> Any:
        """A rank other than ``root``: ``root``'s result; the first time ``notify()`` is true meanwhile, tell ``root``.

        Polls every :attr:`POLL_S` seconds, sleeping in between (no blocking collective, which spins).
        """
        comm, sent = self._comm, None
        while True:
            message = comm.improbe(source=self.root, tag=_RESULT_TAG)
            if message is not None:
                result = message.recv()
                break
            if sent is None and notify():
                sent = comm.isend(True, dest=self.root, tag=_NOTICE_TAG)
            time.sleep(self.POLL_S)
        if sent is None:
            comm.send(False, dest=self.root, tag=_NOTICE_TAG)
        else:
            sent.wait()
        return result


class DoneAlltoall:
    """The all-to-all of one rank (:meth:`SingleComm.start_alltoall`): done when started."""

    __slots__ = ("_parts",)

    def __init__(self, parts: list):
        self._parts = parts

    def test(self) -> bool:
        """Always True."""
        return True

    def wait(self) -> list:
        """The objects (this rank's own)."""
        return self._parts


def _message_pieces(array: np.ndarray) -> Sequence[np.ndarray]:
    per = max(1, (MAX_MESSAGE_BYTES // 2) // max(1, array.itemsize))
    return [array[i : i + per] for i in range(0, array.size, per)] or [array]


def finalize() -> None:
    """End MPI in this process, where mpi4py started it and it still runs; else nothing.

    For the last step of ``python -m dqsim`` (:func:`dqsim.cli.exit_status`),
    on every rank, once each has its exit status and no message is left in
    flight. Under mpi4py's runner (``python -m mpi4py -m dqsim``) a
    non-zero status that reaches the interpreter's exit with MPI still
    running becomes ``MPI_Abort``, which prints a line of its own on each
    rank (``Abort(75) on node 0 ...``) beside dqsim's one line for a stop
    or a refused checkpoint; a finalized MPI is left alone by it.
    """
    mpi = sys.modules.get("mpi4py.MPI")  # only where the run imported it: never imports MPI at an exit
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        mpi.Finalize()


def launcher_rank() -> int:
    """This process's rank as the launcher announced it (``SLURM_PROCID``, ``PMI_RANK``, ``OMPI_COMM_WORLD_RANK``,
    ``PMIX_RANK``; 0 without a launcher): which copy says a launch's error once, before MPI's own rank is known."""
    for var in ("SLURM_PROCID", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 0


def mpi_world_size() -> int:
    """Ranks in the job as the launcher announced them (1 without a launcher)."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE"):
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 1


#: ``SLURM_STEP_ID`` values of the batch script and the external step (not started by ``srun``).
_NOT_SRUN_STEPS = {"batch", "extern", "interactive", "4294967294", "4294967295", "4294967292", "4294967293"}


def launcher_mismatch(world_size: int, environ=None) -> str | None:
    """Why the launcher's rank count disagrees with the MPI world of ``world_size`` ranks, or ``None``.

    Catches ``srun -n N`` without ``--mpi`` (or an mpi4py built against another
    MPI than the launcher's): N independent copies each see a world of one
    rank and would all write the same files. Evidence: ``srun``'s
    ``SLURM_STEP_NUM_TASKS`` (in a step started by srun, not in the batch
    script) or a PMI/PMIx/Open MPI size that differs from the world size.

    Examples:
        >>> launcher_mismatch(1, {"SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "2"})[:40]
        'srun started 2 tasks (SLURM_STEP_NUM_TAS'
        >>> launcher_mismatch(2, {"PMI_SIZE": "2"}) is None
        True
    """
    environ = os.environ if environ is None else environ
    step_tasks = environ.get("SLURM_STEP_NUM_TASKS", "")
    step = environ.get("SLURM_STEP_ID", "")
    if (world_size == 1 and step_tasks.isdigit() and int(step_tasks) > 1 and step.isdigit()
            and step not in _NOT_SRUN_STEPS):
        return (f"srun started {step_tasks} tasks (SLURM_STEP_NUM_TASKS) but each is alone in its MPI world: "
                "launch with srun --mpi=pmix (or pmi2), as the scripts in slurm/ do, or with -n 1")
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE"):
        value = environ.get(var, "")
        if value.isdigit() and int(value) != world_size:
            return (f"the launcher started {count_of(int(value), 'rank')} ({var}) but MPI sees a world of "
                    f"{world_size}: "
                    "mpi4py was built against another MPI than this mpiexec/srun uses")
    return None


def init(*, use_mpi: bool | None = None, cuda_aware: bool | None = None):
    """Return the communicator for this process.

    Args:
        use_mpi: ``True`` forces MPI, ``False`` the single-process
            communicator; ``None`` uses MPI when a launcher started several
            ranks (``PMI_SIZE``/``OMPI_COMM_WORLD_SIZE``/``PMIX_SIZE``) and
            mpi4py imports.
        cuda_aware: hand GPU buffers straight to MPI; default from the
            environment variable ``DQSIM_CUDA_AWARE_MPI=1``.

    Returns:
        A :class:`MPIComm` or :class:`SingleComm`.

    Raises:
        DqsimError: the launcher started several ranks but mpi4py is
            missing, or its rank count disagrees with the MPI world
            (:func:`launcher_mismatch`), or ``DQSIM_WAIT_SPIN_POLLS`` is no
            integer of 0 or more (:func:`wait_spin_polls`, before MPI starts).
    """
    if cuda_aware is None:
        cuda_aware = os.environ.get("DQSIM_CUDA_AWARE_MPI", "0") == "1"
    spin_polls = wait_spin_polls()  # on one rank too: a bad value is named wherever it is set
    if use_mpi is None:
        use_mpi = mpi_world_size() > 1
    if not use_mpi:
        comm = SingleComm()
    else:
        try:
            comm = MPIComm(cuda_aware=cuda_aware, spin_polls=spin_polls)
        except ImportError:
            raise DqsimError("this job was started with several ranks but mpi4py is not installed; "
                             "install the 'mpi' extra (pip install -e '.[mpi]')") from None
    mismatch = launcher_mismatch(comm.size)
    if mismatch is not None:
        raise DqsimError(mismatch)
    return comm
