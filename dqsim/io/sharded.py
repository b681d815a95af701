"""Write a state sharded over ranks: one collective dataset, or one slab file per rank.

:func:`write_sharded_state` is the one entry point (every rank calls it) and
picks the path:

* **collective** (parallel HDF5: ``h5py.get_config().mpi``, an MPI
  communicator of several ranks, and ``DQSIM_PARALLEL_HDF5`` not ``0``): all
  ranks open one temporary file with ``driver="mpio"``, create the 1-D
  dataset ``state`` and write their own contiguous range into it piece by
  piece. Writes are *independent* MPI-IO: each rank's range is one contiguous
  block of the file, and collective writes would require every rank to make
  the same number of write calls, which the piece generators do not promise.
  Each rank hashes its range while writing it (the checksum of
  :mod:`dqsim.io.hashing`, as :func:`~dqsim.io.slabs.write_state_slab`
  does, and CRC-32, on a helper thread), reads it back and compares the
  CRC-32 (a check that the file holds what was written; the checksum is
  what readers check later); the
  checksums are all-gathered and
  stored by every rank with identical values (parallel HDF5 metadata
  operations are collective) as attributes of ``state``: ``layout =
  "collective"``, ``slab_size``, ``num_slabs``, ``slab_checksums``. Rank 0
  then completes that same temporary file serially with the run's tables and
  attributes and renames it (:func:`~dqsim.io.writer.write_run_file` with
  ``collective_state=``).
* **slab files** (otherwise, e.g. with the serial h5py from PyPI): each rank
  writes ``<base>.slabNNNN.h5``, its amplitudes straight from the array into
  the place HDF5 allocated, hashed in memory while written
  (:func:`~dqsim.io.slabs.write_slab_file`), checks the file's ends through
  HDF5 and builds its manifest entry from that hash and HDF5's few KiB
  around the amplitudes, read back (:func:`_read_back_and_hash`), every rank
  at once; rank 0 gathers names, checksums and manifest entries in one
  gather and links the slabs with a virtual dataset (``state_slabs=``,
  :mod:`dqsim.io.slabs`).

Both read back the same way (:mod:`dqsim.io.stored_state`). MPI is reached
only through the communicator's ``mpi_comm`` (only :mod:`dqsim.comm` imports
mpi4py).

A write given ``cut_on`` (``dqsim run``'s output on a stop signal) looks for a
stop on every rank at the same places (:func:`num_looks`): between pieces of
:data:`~dqsim.io.slabs.STATE_PIECE_AMPLITUDES` amplitudes of the write, once
a slab file is closed and once it is synced, once the part is written (a slab
file renamed) and between such pieces of its read-back. Each look is one
``allreduce_max`` of every rank's word (go on, stop, or failed here), so all
ranks take the same decision at the same look: on a stop every rank removes
what it wrote (its slab file, or rank 0 the collective temporary file) and
:class:`StateWriteCut` is raised on every rank; a rank that fails joins its
next look, so the others stop writing too.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import h5py
import numpy as np

from dqsim.errors import DqsimError
from dqsim.io import encoding, manifest, provenance, rawfile
from dqsim.io.atomic import folder_error, temporary_path, unlink_quietly, write_failure_reason
from dqsim.io.limits import file_size_limit, file_too_large, too_large_words
from dqsim.io.slabs import (READ_CHUNK_AMPLITUDES, SLAB_DATASET, STATE_PIECE_AMPLITUDES, StateSlabs, WrittenSlab,
                            check_state_shape, host_pieces, state_attrs, write_slab_file)
from dqsim.io.stored_state import STATE_DATASET, crc_range

#: Environment variable: ``0`` makes :func:`write_sharded_state` write slab files even with parallel HDF5.
PARALLEL_ENV = "DQSIM_PARALLEL_HDF5"


@dataclass(frozen=True)
class CollectiveState:
    """A state written by every rank into a temporary run file, waiting for rank 0 to complete it.

    Attributes:
        tmp_path: the temporary file (next to the run file); renamed by
            :func:`~dqsim.io.writer.write_run_file`.
        slab_size: amplitudes per rank.
        num_slabs: ranks that wrote.
        dtype: ``complex64`` or ``complex128``.
        checksums: ``"<algorithm>:<hex>"`` of each rank's range, in rank order.
    """

    tmp_path: Path
    slab_size: int
    num_slabs: int
    dtype: Any
    checksums: Sequence[str]


class StateWriteCut(Exception):
    """Raised on every rank by :func:`write_sharded_state` when a look found a stop (``cut_on``): the write was
    abandoned, and no file of it is left. An older output's slab file of the same name stays as it was where
    the cut came before this write's rename of it, and is gone where it came after."""


class _Abandoned(Exception):
    """A look's verdict inside the write: 1 (a stop), or 2 (another rank failed)."""

    def __init__(self, verdict: int):
        super().__init__(verdict)
        self.verdict = verdict


_GO_ON, _STOP, _FAILED = 0, 1, 2


class _Looks:
    """The collective looks for a stop of one :func:`write_sharded_state` (``cut_on`` ``None``: none).

    ``count`` looks, the same on every rank; each is an ``allreduce_max`` of
    the ranks' words (:data:`_GO_ON`, :data:`_STOP`: ``cut_on()`` true here,
    :data:`_FAILED`: this rank's write failed), and a verdict other than
    :data:`_GO_ON` raises :class:`_Abandoned` on every rank at that look.
    """

    def __init__(self, comm, cut_on: Callable[[], bool] | None, count: int):
        self.comm, self.cut_on = comm, cut_on
        self.left = count if cut_on is not None else 0
        self.verdict = _GO_ON

    def look(self, word: int | None = None) -> None:
        """Collective (while looks are left): take the ranks' decision; raise :class:`_Abandoned` on a stop."""
        if self.left <= 0 or self.verdict != _GO_ON:
            return
        self.left -= 1
        if word is None:
            word = _STOP if self.cut_on() else _GO_ON
        self.verdict = int(self.comm.allreduce_max(word))
        if self.verdict != _GO_ON and word != _FAILED:
            raise _Abandoned(self.verdict)

    def failed(self) -> None:
        """This rank's write failed: it tells the others at its next look (they abandon theirs there)."""
        self.look(_FAILED)

    def finish(self) -> None:
        """Take the looks this rank has left (none where its write looked as every rank's did)."""
        while self.left > 0 and self.verdict == _GO_ON:
            self.look()

    def pieces(self, pieces: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        """``pieces`` split at multiples of :data:`STATE_PIECE_AMPLITUDES`, a look before each such multiple."""
        if self.cut_on is None:
            yield from pieces
            return
        step = STATE_PIECE_AMPLITUDES
        for offset, piece in pieces:
            start, size = 0, piece.shape[0]
            while start < size:
                at = offset + start
                stop = min(size, (at // step + 1) * step - offset)
                if at and at % step == 0:
                    self.look()
                yield at, piece[start:stop]
                start = stop

    def each_bytes(self, start: int, nbytes: int, itemsize: int) -> Callable[[int], None]:
        """A callback of a read at byte ``position`` that looks at each multiple of
        :data:`STATE_PIECE_AMPLITUDES` amplitudes past ``start`` (within ``nbytes``) it has read past."""
        step = STATE_PIECE_AMPLITUDES * itemsize
        next_look = [start + step]

        def read_to(position: int) -> None:
            while next_look[0] < start + nbytes and position >= next_look[0]:
                next_look[0] += step
                self.look()

        return read_to


def num_looks(slab_size: int) -> int:
    """Looks of a cut-able :func:`write_sharded_state` on every rank: between the write's pieces of
    :data:`~dqsim.io.slabs.STATE_PIECE_AMPLITUDES` amplitudes, once a slab file is closed, once it is
    synced, once the part is written, and as many as a read-back in pieces would take (the counts of every
    path stay equal: a collective file takes the two of the slab file's end with its read-back's, after
    it; a slab file, whose amplitudes are not read back, takes those in a row once its ends are checked).

    Examples:
        >>> num_looks(1 << 22), num_looks((1 << 22) + 1), num_looks(5)
        (3, 5, 3)
    """
    pieces = -(-slab_size // STATE_PIECE_AMPLITUDES)
    return 2 * (pieces - 1) + 3


def parallel_hdf5() -> bool:
    """Whether this h5py was built against parallel HDF5 (``driver="mpio"`` exists)."""
    return bool(h5py.get_config().mpi)


def collective_wanted(comm) -> bool:
    """Whether :func:`write_sharded_state` writes one collective file on ``comm``.

    Needs parallel HDF5, an MPI communicator (``comm.mpi_comm``) of more than
    one rank, and ``DQSIM_PARALLEL_HDF5`` unset or not ``0``.
    """
    if os.environ.get(PARALLEL_ENV, "").strip() == "0":
        return False
    return comm.size > 1 and comm.mpi_comm is not None and parallel_hdf5()


def write_sharded_state(base: str | os.PathLike, pieces: Iterable[tuple[int, Any]], *, comm, slab_size: int,
                        dtype: Any, cut_on: Callable[[], bool] | None = None, newest: str | None = "") -> dict:
    """Collective: write this rank's slab of a sharded state; return rank 0's ``write_run_file`` arguments.

    Rank ``r`` holds global amplitudes ``r*slab_size .. (r+1)*slab_size-1``.
    The run file is ``<base>.h5``; with parallel HDF5 the state goes into its
    temporary file, otherwise into ``<base>.slabNNNN.h5`` (see the module
    docstring). Either way every rank's part is checksummed and read back
    before this returns, in parallel; a slab file is also hashed whole by
    its rank, for the run's manifest (``StateSlabs.file_entries``).

    Args:
        base: run file path without ``.h5``, e.g. ``out/run`` for ``out/run.h5``.
        pieces: ``(offset_in_slab, array)`` in order, covering ``0..slab_size-1``
            (as ``ShardedState.logical_slab_pieces()`` yields them); NumPy or
            CuPy arrays, each copied to the host on its own.
        comm: a :mod:`dqsim.comm` communicator; every rank must call.
        slab_size: amplitudes per rank (>= 1; ``slab_size * comm.size`` a power of two).
        dtype: ``complex64`` or ``complex128``.
        cut_on: this rank's wish to stop (``dqsim run``: a stop signal came here), asked on every rank at the
            same looks (:func:`num_looks` of them, see the module docstring); the same (given or ``None``) on
            every rank. ``None``: never a stop; on one rank no look, on several the looks are taken all the
            same (:func:`_never_stopped`), which keeps the ranks in step for the watched steps.
        newest: the newest whole checkpoint to resume, for the one line of a job ended by
            :func:`abort_collective` (``""``: none known; ``None``: the run writes none, since 2026-12-07 (late
            night)); on several ranks (a stalled step of the slab files' write too, since 2026-12-07 (late night)).

    Returns:
        On rank 0 the keyword arguments for
        ``write_run_file(path, attrs=..., tables=..., **kwargs)``:
        ``{"collective_state": CollectiveState}`` or ``{"state_slabs": StateSlabs}``;
        ``{}`` on the other ranks (which do not write the run file).

    Raises:
        ValueError: bad pieces, size or dtype (on the rank that has them).
        DqsimError: a file cannot be written, or a part read back differs
            (on every rank, naming the rank).
        StateWriteCut: on every rank, when a look found a stop on any rank; nothing of the write is left.

    Examples:
        >>> import tempfile
        >>> from dqsim.comm import SingleComm
        >>> from dqsim.io.writer import write_run_file
        >>> from dqsim.io.reader import open_run
        >>> base = f"{tempfile.mkdtemp()}/run"
        >>> a = np.arange(4, dtype=np.complex128)
        >>> kwargs = write_sharded_state(base, [(0, a[:2]), (2, a[2:])], comm=SingleComm(), slab_size=4,
        ...                              dtype=a.dtype)
        >>> sorted(kwargs)
        ['state_slabs']
        >>> open_run(write_run_file(base + ".h5", attrs={}, tables={}, **kwargs)).state().real.tolist()
        [0.0, 1.0, 2.0, 3.0]
    """
    base = Path(base)
    dtype = np.dtype(dtype)
    if slab_size < 1:
        raise ValueError(f"slab_size = {slab_size}: must be >= 1")
    check_state_shape(slab_size * comm.size, dtype, what="sharded state")
    if cut_on is None and comm.size > 1:
        cut_on = _never_stopped
    looks = _Looks(comm, cut_on, num_looks(slab_size))
    if collective_wanted(comm):
        return _write_collective(base.with_name(base.name + ".h5"), pieces, comm=comm, slab_size=slab_size,
                                 dtype=dtype, looks=looks, newest=newest)
    return _write_slab_files(base, pieces, comm=comm, slab_size=slab_size, dtype=dtype, looks=looks, newest=newest)


def _never_stopped() -> bool:
    """``cut_on`` of a write on several ranks that nothing stops (``cut_on=None``: an output write without a
    checkpoint session): its looks are taken all the same, so that the ranks stay in step.

    Why (review 7, R7-1, 2026-12-07 (late night)): each step of a write on several ranks is watched against its
    own budget (:class:`_StepWatch`: the write ``T*(pieces+1)``, the read-back ``T*pieces``, the ranks' agreement
    ``T``, ``T`` = :func:`close_timeout_s`). Without looks the ranks met first at the agreement, so a rank done
    early waited there, with ``T``, for a rank still in its write or read-back, legally up to ``T*(2*pieces+1)``:
    a healthy job whose ranks' writes differed by more than ``T`` was ended, its output lost. With the looks (an
    ``allreduce`` between 64 MiB pieces, after the close, the sync and the rename, and the rest after the
    read-back, none left there for one piece of slab file) every rank leaves each look together, so a rank waiting
    at a look waits, within its own step, only for the rest of the same step of a slower rank, which that rank's
    own budget (the same) bounds; at the agreement (``T``) after a read-back not followed by a look it waits for
    the rest of a read-back of one piece (budget ``T``), begun when its own began. So a slow rank within its budget
    never ends the job, and a stalled one still does, at the look the others wait in (the step's line names it).
    The cost: ``2*pieces+1`` allreduces of one integer per write.
    """
    return False


def slab_path(base: str | os.PathLike, rank: int) -> Path:
    """The slab file of rank ``rank`` for the run file ``<base>.h5``: ``<base>.slabNNNN.h5``."""
    base = Path(base)
    return base.with_name(f"{base.name}.slab{rank:04d}.h5")


def discard_sharded_state(base: str | os.PathLike, *, comm) -> None:
    """Every rank: remove the slab file :func:`write_sharded_state` wrote here for ``<base>.h5``, whose run file
    was then not written (its write abandoned: ``dqsim run`` on a stop signal), so no slab outlives it.

    Nothing on the collective path (parallel HDF5): the state is in the run
    file's temporary file, which the abandoned write removed. Not collective.
    """
    if collective_wanted(comm):
        return
    try:
        slab_path(base, comm.rank).unlink(missing_ok=True)
    except OSError:  # a folder made read-only meanwhile: the slab stays, named in no run file
        pass


def _agree(comm, failure: BaseException | None, what: str) -> None:
    """Collective: raise on every rank if any rank failed (its own error there, a DqsimError elsewhere)."""
    reports = comm.allgather(None if failure is None else f"{type(failure).__name__}: {failure}")
    if failure is not None:
        raise failure
    for rank, report in enumerate(reports):
        if report is not None:
            raise DqsimError(f"{what}: rank {rank} failed ({report})")


def _write_slab_files(base: Path, pieces, *, comm, slab_size: int, dtype: np.dtype,
                      looks: _Looks | None = None, newest: str | None = "") -> dict:
    """Collective: every rank writes ``<base>.slabNNNN.h5``; rank 0 gets ``state_slabs``.

    Every rank also makes its own slab file's entry of the run's manifest
    (:func:`_read_back_and_hash`, all ranks at once, from the amplitudes'
    digest taken while writing them), so rank 0 does not read every rank's
    slab to write it; the entries reach rank 0 in the gather of the slabs'
    names (``StateSlabs.file_entries``).

    On several ranks each step (the write, with its looks, closed, synced and renamed; the read-back; the ranks'
    agreement and the gather) is watched as a collective file's are (:class:`_StepWatch`, ``slabs``): a rank stalled
    in its slab's write (a file system that stopped answering) left the others waiting for it in a collective for
    ever; one step not done on a rank within :func:`close_timeout_s` (for each 64 MiB of the write, and one more for
    its sync) ends the job in one line naming ``newest`` (since 2026-12-07 (late night)), after removing this
    rank's temporary slab file, or its slab file once this write renamed it (:meth:`_StepWatch.owns`). The ranks
    stay in step at the looks, taken on several ranks even without ``cut_on`` (:func:`_never_stopped`).
    """
    if comm.size == 1:  # no other rank waits for this one
        return _write_slabs_watched(_Unwatched(), base, pieces, comm=comm, slab_size=slab_size, dtype=dtype,
                                    looks=looks)
    watch = _StepWatch(comm, base.with_name(base.name + ".h5"), newest, close_timeout_s(), slabs=True)
    try:
        return _write_slabs_watched(watch, base, pieces, comm=comm, slab_size=slab_size, dtype=dtype, looks=looks)
    finally:
        watch.stop()


class _Unwatched:
    """:class:`_StepWatch`'s stand-in for a write of one rank alone: no step is watched."""

    def step(self, what: str, pieces: int = 1) -> None:
        """Nothing: no other rank waits for this one."""

    def stop(self) -> None:
        """Nothing to stop."""

    def owns(self, *paths: Path) -> None:
        """Nothing: no step ends the job."""


def _write_slabs_watched(watch: "_StepWatch | _Unwatched", base: Path, pieces, *, comm, slab_size: int,
                         dtype: np.dtype, looks: _Looks | None = None) -> dict:
    """:func:`_write_slab_files`'s work, each step watched (``watch``)."""
    looks = looks or _Looks(comm, None, 0)
    slab = slab_path(base, comm.rank)
    watch.owns(temporary_path(slab))  # the slab of the name, not yet this write's, may be an older output's
    watch.step("write", _pieces_of(slab_size) + 1)  # its pieces, then the file's sync
    commit = comm.bcast(provenance.code_commit() if comm.rank == 0 else None)  # git asked on one rank only
    checksum = entry = failure = None
    renamed = False  # whether this write's slab file replaced one of the name (an older output's)
    try:
        slab.parent.mkdir(parents=True, exist_ok=True)
        written = write_slab_file(slab, looks.pieces(pieces), slab_size=slab_size, dtype=dtype,
                                  between=looks.look if looks.cut_on is not None else None, commit=commit)
        renamed = True
        watch.owns(slab)
        looks.look()  # written, closed, synced and renamed; its read-back next
        checksum = written.checksum
        watch.step("read-back", _pieces_of(slab_size))
        entry = _read_back_and_hash(slab, slab_size, dtype, written, f"{slab}: state slab {comm.rank}")
        looks.finish()
    except _Abandoned:  # a stop, or another rank failed (its error comes with _agree)
        pass
    except OSError as exc:  # the folder cannot be made, or the file read back
        failure = DqsimError(f"{slab}: cannot write the state slab ({folder_error(exc)})")
        looks.failed()
    except Exception as exc:  # noqa: BLE001 - reported to every rank by _agree
        failure = exc
        looks.failed()
    try:
        if looks.verdict == _STOP:  # the same verdict on every rank
            raise StateWriteCut(f"{base.name}: the state's write was cut by a stop signal")
        watch.step("ranks' agreement on the write")
        _agree(comm, failure, f"{base.name}: writing the state slab files")
    except BaseException:
        if renamed:  # every rank removes its own: no slab outlives a failed or cut write (one cut or failed
            unlink_quietly(slab)  # before its rename left none, and an older output's slab file of the name as it was)
        raise
    entries = comm.gather((str(slab), checksum, entry))
    if comm.rank != 0:
        return {}
    paths, sums, files = zip(*entries)
    return {"state_slabs": StateSlabs(list(paths), list(sums), slab_size, dtype, file_entries=list(files))}


#: Environment variable: ``1`` makes :func:`write_sharded_state` read every amplitude of a slab file back
#: and compare its checksum with the written one (default: the ends only, see :func:`_read_back_and_hash`).
READ_BACK_ENV = "DQSIM_STATE_READ_BACK"


def _read_back_and_hash(slab: Path, slab_size: int, dtype: np.dtype, written: WrittenSlab, label: str) -> dict:
    """The read-back check of a slab file just written, and its manifest entry.

    :func:`~dqsim.io.slabs.write_slab_file` wrote the amplitudes as one
    block of the file, at the place HDF5 gave, and hashed them in memory
    while writing them. Here, with the file closed and renamed:

    * HDF5 must find the dataset where the amplitudes were written (same
      offset, contiguous, unfiltered, the size written), and read the first
      and last :data:`~dqsim.io.slabs.PLACEMENT_AMPLITUDES` amplitudes as
      written: a write into the wrong place is caught before the run file
      links the slab;
    * the manifest entry is three parts (:func:`dqsim.io.manifest.parts_entry`):
      HDF5's bytes before the amplitudes and after them, read from the file
      and hashed here (a few KiB), and the amplitudes' own digest from memory.

    The amplitudes are not read back (unless ``DQSIM_STATE_READ_BACK=1``):
    right after a write, reading them would return the kernel's page cache,
    the very buffers just written, which tells nothing about the disk; what
    the disk holds is checked against the manifest when the file is read
    (a resume: :func:`dqsim.io.manifest.verify_files` for HDF5's bytes, and
    the amplitudes as they are read into the register, once), where a
    damaged slab is refused in one line. A slab laid out otherwise (rewritten by someone
    else) is read back whole through HDF5 and hashed whole.

    Raises:
        DqsimError: the part reads back differently (``label``).
        OSError: the file cannot be read.
    """
    start, nbytes = written.data_offset, written.data_bytes
    with h5py.File(slab, "r") as h5:
        ds = h5[SLAB_DATASET]
        plain = (ds.id.get_offset() == start and ds.chunks is None and not ds.id.get_create_plist().get_nfilters()
                 and ds.dtype.str == dtype.newbyteorder("<").str and ds.shape == (slab_size,))
        if not plain:
            _compare_checksum(_checksum_through_hdf5(ds, slab_size, written.algorithm), written.checksum, label)
        elif not (np.array_equal(ds[:len(written.head)], written.head, equal_nan=True)
                  and np.array_equal(ds[slab_size - len(written.tail):], written.tail, equal_nan=True)):
            raise DqsimError(f"{label} is corrupt right after writing: HDF5 reads other amplitudes at the slab's "
                             f"ends than were written at byte {start}")
    if not plain:
        return manifest.file_entry(slab, algorithm=written.algorithm)
    size = slab.stat().st_size
    if size < start + nbytes:
        raise DqsimError(f"{label} is corrupt right after writing: {size} bytes, its amplitudes end at byte "
                         f"{start + nbytes}")
    lengths = [start, nbytes, size - start - nbytes]
    if os.environ.get(READ_BACK_ENV, "").strip() == "1":
        digests = manifest.parts_digests(slab, written.algorithm, lengths)
        _compare_checksum(f"{written.algorithm}:{digests[1]}", written.checksum, label)
    else:
        digests = [manifest.bytes_digest(slab, 0, start, written.algorithm), written.checksum.partition(":")[2],
                   manifest.bytes_digest(slab, start + nbytes, size, written.algorithm)]
    return manifest.parts_entry(slab.name, written.algorithm, list(zip(lengths, digests)))


def _checksum_through_hdf5(ds: h5py.Dataset, slab_size: int, algorithm: str) -> str:
    """The checksum (``algorithm``) of the amplitudes of ``ds`` as HDF5 reads them, piece by piece."""
    checksum = encoding.Checksum(algorithm=algorithm)
    for lo in range(0, slab_size, READ_CHUNK_AMPLITUDES):
        checksum.update(ds[lo:min(lo + READ_CHUNK_AMPLITUDES, slab_size)])
    return checksum.hexdigest()


def _compare_checksum(read_back: str, written: str, label: str) -> None:
    """The full read-back check: the checksum of what the file holds against that of what was written."""
    if read_back != written:
        raise DqsimError(f"{label} is corrupt right after writing: {read_back} read back, {written} written")


def _compare(read_back: int, written: int, label: str) -> None:
    """The read-back check: CRC-32 of what the file holds against that of what was written."""
    if read_back != written:
        raise DqsimError(f"{label} is corrupt right after writing: CRC-32 read back {read_back:08x}, "
                         f"written {written:08x}")


def _fill_range(ds: h5py.Dataset, start: int, pieces, slab_size: int, dtype: np.dtype, *,
                watch: "_StepWatch | None" = None) -> encoding.Checksum:
    """Write this rank's pieces at ``start + offset`` (independent I/O); return their checksum. ``watch``: each
    piece's write watched (:meth:`_StepWatch.step`, its time from its 64 MiB pieces)."""
    checksum = encoding.Checksum(background=True, crc=True)  # hashes each piece while it is written
    for position, piece in host_pieces(pieces, slab_size=slab_size, dtype=dtype):
        if watch is not None:
            watch.step("write", _pieces_of(piece.shape[0]))
        checksum.update(piece)
        ds.write_direct(piece, dest_sel=np.s_[start + position:start + position + piece.shape[0]])
    return checksum


def _pieces_of(amplitudes: int) -> int:
    """How many pieces of :data:`~dqsim.io.slabs.STATE_PIECE_AMPLITUDES` (64 MiB of ``complex128``) ``amplitudes``
    take, at least 1: what a watched step of the write or read-back of them may take is that many timeouts.

    Examples:
        >>> _pieces_of(1), _pieces_of(STATE_PIECE_AMPLITUDES), _pieces_of(STATE_PIECE_AMPLITUDES + 1)
        (1, 1, 2)
    """
    return max(1, -(-amplitudes // STATE_PIECE_AMPLITUDES))


#: Bytes besides the amplitudes that a collective state file needs free before it is written (HDF5's
#: metadata and the checksum attributes; a few KiB in practice).
COLLECTIVE_HEADROOM_BYTES = 1 << 20


def free_bytes(folder: Path) -> int | None:
    """Bytes an unprivileged writer may still use in ``folder``'s file system (``None``: unknown).

    From ``statvfs`` (``f_bavail * f_frsize``); user quotas are not seen.
    """
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def _room_for_collective(path: Path, nbytes: int) -> str | None:
    """Rank 0: why ``path`` cannot take ``nbytes`` of state, or None (making its folder on the way)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"{path.parent}: cannot create the folder ({folder_error(exc)})"
    free = free_bytes(path.parent)
    need = nbytes + COLLECTIVE_HEADROOM_BYTES
    if free is not None and free < need:
        return (f"{path}: cannot write the state (No space left on device: it needs {need / 2**20:,.1f} MiB, "
                f"{free / 2**20:,.1f} MiB are free); free space there or write elsewhere")
    return None


def _size_limit_refusal(comm, path: Path, nbytes: int) -> str | None:
    """Collective: why ``path`` cannot take ``nbytes`` of state under the ranks' per-file size limits
    (``RLIMIT_FSIZE``, :func:`dqsim.io.limits.file_size_limit`; the smallest of the ranks', since every rank writes
    into the file), or None, the same on every rank.

    Parallel HDF5 does not survive a write past it either: after the ``EFBIG`` the file's close crashed the process
    in ``H5F__close_cb`` (SIGSEGV; ``.venv-mpio``, a 2-rank ``dqc`` run with ``ulimit -f`` of 31 KiB, found by the
    checkpoint fault harness on 2026-12-07 (late afternoon)), so the file must fit, with
    :data:`COLLECTIVE_HEADROOM_BYTES` for HDF5's metadata, before it is opened.
    """
    limits = [limit for limit in comm.allgather(file_size_limit()) if limit is not None]
    need = nbytes + COLLECTIVE_HEADROOM_BYTES
    if limits and min(limits) < need:
        return f"{path}: cannot write the state ({too_large_words(path.parent, need, limit_bytes=min(limits))})"
    return None


def _write_collective(path: Path, pieces, *, comm, slab_size: int, dtype: np.dtype,
                      looks: _Looks | None = None, newest: str | None = "") -> dict:
    """Collective: every rank writes its range of ``state`` into one temporary file (parallel HDF5).

    The free space is checked first (rank 0, ``statvfs``), and every rank's file size limit
    (:func:`_size_limit_refusal`, since 2026-12-07 (late afternoon)): parallel HDF5
    does not recover from a disk that fills under it (its file cannot be
    closed, and the process may crash at exit), so a state that cannot fit
    is refused before the file is opened, and then every rank reserves the
    blocks of its range (``fallocate``) before writing into them
    (:func:`_reserve_collectively`), which also catches quotas and disks
    that filled since; rank 0 also reserves the blocks of HDF5's metadata
    (:func:`_reserve_metadata`). A disk that fills during the write
    anyway (a file system without ``fallocate``) ends the job on every rank
    in one line (:func:`abort_collective`, naming ``newest``): the file
    is not closed after a failed write of amplitudes (every rank learns of
    it at one ``allgather``), and a close that fails aborts too (since 2026-12-07 (late afternoon)).
    Every collective step, from the room check before the file's open (since 2026-12-07 (late night)) and the
    open (its creation, the dataset's, the reservation, the
    write, its read-back, the ranks' agreement, the checksums' attributes) to its close, is watched
    (:class:`_StepWatch`, since 2026-12-07 (night); before, the close alone): one not done on a rank within
    :func:`close_timeout_s` (for each 64 MiB of the write and of the read-back) ends the job in one line.
    ``looks``: between the pieces of the write and
    once it is written, before the read-back (whose looks it then takes in a
    row: ``crc_range`` reads the range at once).
    """
    looks = looks or _Looks(comm, None, 0)
    timeout_s = close_timeout_s()  # before the file opens: raised in __exit__ it left the file open (2026-12-07)
    total = slab_size * comm.size
    watch = _StepWatch(comm, path, newest, timeout_s)
    try:
        watch.step("room check (free space, file size limits)")  # collectives: watched since 2026-12-07 (late night)
        refusal = _room_for_collective(path, total * dtype.itemsize) if comm.rank == 0 else None
        refusal = comm.bcast(refusal) or _size_limit_refusal(comm, path, total * dtype.itemsize)
        if refusal is not None:
            raise DqsimError(refusal)
        tmp = Path(comm.bcast(str(temporary_path(path)) if comm.rank == 0 else None))
        return _write_watched(watch, path, tmp, pieces, comm=comm, slab_size=slab_size, dtype=dtype, looks=looks)
    finally:
        watch.stop()


def _write_watched(watch: "_StepWatch", path: Path, tmp: Path, pieces, *, comm, slab_size: int, dtype: np.dtype,
                   looks: _Looks) -> dict:
    """Collective: :func:`_write_collective`'s write into the temporary file ``tmp``, each step watched (``watch``)."""
    total, start, newest = slab_size * comm.size, comm.rank * slab_size, watch.newest
    watch.step("open")
    try:
        h5 = h5py.File(tmp, "w", driver="mpio", comm=comm.mpi_comm, track_order=True)
    except OSError as exc:
        raise DqsimError(f"{path}: cannot write the file ({write_failure_reason(exc)})") from None
    checksums: list[str] = []
    try:
        with _closing_quietly_after_failure(h5, comm, path, watch):
            watch.step("state dataset's creation")
            ds = h5.create_dataset(STATE_DATASET, shape=(total,), dtype=dtype, fill_time="never")
            watch.step("block reservation")
            _reserve_collectively(comm, ds, tmp, path, start, slab_size, dtype)
            checksum = failure = None
            try:
                written = _fill_range(ds, start, looks.pieces(pieces), slab_size, dtype, watch=watch)
                looks.look()  # written; its read-back next
                checksum = written.hexdigest()
                watch.step("read-back", _pieces_of(slab_size))
                _compare(crc_range(ds, start, start + slab_size, dtype), written.crc32,
                         f"{tmp}: state slab {comm.rank} of {comm.size}")
                looks.finish()
            except _Abandoned:  # a stop, or another rank failed (its error comes with _agree)
                pass
            except OSError as exc:  # a full disk or quota: MPI-IO's multi-line error stack, made one line
                failure = _WriteFailed(f"{path}: cannot write the state ({write_failure_reason(exc)})")
                looks.failed()
            except Exception as exc:  # noqa: BLE001 - reported to every rank by _agree
                failure = exc
                looks.failed()
            if looks.verdict == _STOP:  # the same on every rank: the file is closed and removed below
                raise StateWriteCut(f"{path}: the state's write was cut by a stop signal")
            watch.step("ranks' agreement on the write")
            _abandon_after_failed_write(comm, failure, path, newest)
            _agree(comm, failure, f"{path}: writing the state collectively")
            checksums = comm.allgather(checksum)
            watch.step("checksums' attributes")
            encoding.encode_attrs(ds.attrs, {
                **state_attrs(total), "layout": "collective", "num_slabs": comm.size,
                "slab_size": slab_size, "slab_checksums": checksums}, where=STATE_DATASET)
    except BaseException:  # every rank has closed the file (the barrier of _closing_quietly_after_failure)
        if comm.rank == 0:
            tmp.unlink(missing_ok=True)
        raise
    # every rank's data is in the file before rank 0 reopens it: the barrier of _closing_quietly_after_failure
    if comm.rank != 0:
        return {}
    return {"collective_state": CollectiveState(tmp, slab_size, comm.size, dtype, checksums)}


def reserve_blocks(path: Path, offset: int, length: int) -> str | None:
    """Allocate the blocks of bytes ``offset .. offset+length-1`` of the file ``path``; return why not, or None.

    Linux ``fallocate(2)`` (mode 0), so a full disk or an exhausted quota
    (``ENOSPC``, ``EDQUOT``) shows before any data is written. A file system
    or platform without it gives None (nothing is known): glibc's
    ``posix_fallocate`` would emulate it by writing every block, which on a
    parallel file system costs as much as the write itself.
    """
    if length <= 0 or _FALLOCATE is None:
        return None
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as exc:
        return write_failure_reason(exc)
    try:
        if _FALLOCATE(fd, 0, offset, length) == 0:
            return None
        code = ctypes.get_errno()
        if code in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return None
        return os.strerror(code)
    finally:
        os.close(fd)


_FALLOCATE = rawfile.linux_libc_function("fallocate", [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64])


def _reserve_collectively(comm, ds: h5py.Dataset, tmp: Path, path: Path, start: int, slab_size: int,
                          dtype: np.dtype) -> None:
    """Collective: every rank reserves its range's blocks in ``tmp`` (rank 0 also HDF5's metadata's,
    :func:`_reserve_metadata`); if one cannot, raise on every rank.

    The blocks some ranks got are given back first (rank 0 truncates the
    file to where the dataset starts), so that HDF5 finds room to close the
    file: with none it cannot, and the process crashes later.
    """
    offset = ds.id.get_offset()  # parallel HDF5 allocates a contiguous dataset when it is created
    why = None if offset is None else reserve_blocks(tmp, offset + start * dtype.itemsize,
                                                     slab_size * dtype.itemsize)
    if why is None and offset is not None and comm.rank == 0:
        why = _reserve_metadata(tmp, offset, offset + comm.size * slab_size * dtype.itemsize)
    reasons = comm.allgather(why)
    failed = [(rank, reason) for rank, reason in enumerate(reasons) if reason is not None]
    if not failed:
        return
    if comm.rank == 0:
        try:
            os.truncate(tmp, offset)
        except OSError:
            pass
    comm.barrier()
    rank, reason = failed[0]
    if file_too_large(reason):  # a file size limit: no other file's removal makes room for this one
        raise DqsimError(f"{path}: cannot write the state (rank {rank} could not reserve its "
                         f"{slab_size * dtype.itemsize / 2**20:,.1f} MiB: "
                         f"{too_large_words(path.parent, offset + comm.size * slab_size * dtype.itemsize)})")
    raise DqsimError(f"{path}: cannot write the state ({reason}; rank {rank} could not reserve its "
                     f"{slab_size * dtype.itemsize / 2**20:,.1f} MiB); free space there or write elsewhere")


def _reserve_metadata(tmp: Path, offset: int, end: int) -> str | None:
    """Rank 0: reserve the blocks HDF5's metadata goes into when the file is flushed and closed (the bytes
    before the dataset at ``offset``, and :data:`COLLECTIVE_HEADROOM_BYTES` past its ``end``, where HDF5
    allocates the checksum attributes); why not, or None.

    Without them a disk that filled after the amplitudes' reservation failed the metadata's write inside
    HDF5's collective close: one rank left the cache's flush for the file's truncation while the other
    waited in the flush's barrier, and the job hung (``MPI_Bcast`` in ``H5FD_truncate`` against
    ``MPI_Barrier`` in ``H5AC__run_sync_point``; gdb, 2026-12-07 (late afternoon),
    ``tests/mpi_scripts/fills_during_write.py``). The blocks past the end are given back when rank 0 closes
    the completed file (HDF5 truncates it to its end of allocation).
    """
    return reserve_blocks(tmp, 0, offset) or reserve_blocks(tmp, end, COLLECTIVE_HEADROOM_BYTES)


#: Environment variable: seconds a collective state file's close, or any other collective step of its write or of a
#: write of slab files on several ranks, may take on a rank before the job is aborted (:func:`close_timeout_s`; the
#: write and its read-back: for each 64 MiB).
CLOSE_TIMEOUT_ENV = "DQSIM_COLLECTIVE_CLOSE_S"
#: Default of :data:`CLOSE_TIMEOUT_ENV`, s: a close flushes a few KiB of metadata, once every rank is there.
CLOSE_TIMEOUT_S = 120.0


def close_timeout_s() -> float:
    """Seconds a collective file's close, or another collective step of its write or of a write of slab files on
    several ranks, may take (:data:`CLOSE_TIMEOUT_ENV`, else :data:`CLOSE_TIMEOUT_S`)."""
    text = os.environ.get(CLOSE_TIMEOUT_ENV, "").strip()
    refusal = (f"environment variable {CLOSE_TIMEOUT_ENV} must be a number of seconds > 0 (how long a "
               f"parallel-HDF5 file's close or another step of a state's write on several ranks may take; unset: "
               f"{CLOSE_TIMEOUT_S:g}), got {text!r}")
    try:
        value = float(text) if text else CLOSE_TIMEOUT_S
    except ValueError:
        raise DqsimError(refusal) from None
    if not 0 < value < float("inf"):
        raise DqsimError(refusal)
    return value


class _WriteFailed(DqsimError):
    """A rank's write of its amplitudes into the collective file failed (a full disk): HDF5 cannot close it."""


def abort_collective(comm, path: Path, why: str, newest: str | None, *, say: bool = True, stalled: bool = False,
                     agreed: bool = False, slabs: bool = False) -> None:
    """End every rank of the job (``comm.abort``, status 2) after one line on stderr: parallel HDF5 does not
    recover from a failed write (the file's close hangs in a collective, or crashes in ``H5F__close_cb``), so
    no HDF5 file is closed again in this process (nor by HDF5's exit handler). ``newest``: the newest whole
    checkpoint, to resume once there is room (``stalled``: once the file system answers; ``""``: none known;
    ``None``: the run writes none, so the line says to run the job again, since 2026-12-07 (late night));
    ``say``: whether this rank writes the line (one rank of those that abort).

    ``agreed``: every rank calls this at the same point (each learnt of the failure at one ``allgather``): after a
    barrier (the line is out) each ends itself with status 2 (``os._exit``: no exit handler, MPI not ended), and
    MPICH prints nothing of its own (since 2026-12-07 (night); before, every rank's ``MPI_Abort`` added an
    ``Abort(2) on node N ...`` line each). Else (a step's watchdog: another rank may be stuck inside HDF5 or MPI,
    and cannot come to a barrier) through ``MPI_Abort`` on ``MPI_COMM_WORLD``, whose line MPICH adds: ending MPI
    normally needs every rank (``MPI_Finalize`` is collective), and parallel HDF5's handler at ``MPI_Finalize``
    would close the broken file.

    ``slabs``: a step of the state's slab files' write (:func:`_write_slab_files`, every rank its own file) stalled:
    no HDF5 file is shared, but the other ranks wait for the stalled one in a collective of the write."""
    after, when = ("a stalled collective step", "once the file system answers") if stalled else \
        ("a failed write", "once there is room")
    if newest is None:
        hint = f"the run writes no checkpoints, so there is none to resume; {when}: run the job again"
    elif newest:
        hint = f"the newest whole checkpoint: {newest}; {when}: dqsim resume {newest}"
    else:
        hint = f"resume the run's newest whole checkpoint, if it wrote one, {when}"
    cannot = ("the ranks cannot go on while one of them waits" if slabs else
              f"parallel HDF5 cannot go on after {after}")
    line = f"dqsim: error: {path}: {why}; {cannot}, so the job ends here; {hint}\n"
    try:
        if say:
            os.write(sys.stderr.fileno(), line.encode())
    except (OSError, ValueError):
        pass
    if not agreed:
        comm.abort_without_exit_handlers(2)
        return
    comm.barrier()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(2)


def _abandon_after_failed_write(comm, failure: BaseException | None, path: Path, newest: str | None) -> None:
    """Collective: if any rank's write of amplitudes failed (:class:`_WriteFailed`), every rank learns it at this
    one ``allgather``, before any close, and every rank ends the job (:func:`abort_collective`; the lowest such rank
    says why: MPICH's ``MPI_Abort`` on one rank did not end the others, which waited)."""
    failed = comm.allgather(str(failure) if isinstance(failure, _WriteFailed) else None)
    first = next((rank for rank, why in enumerate(failed) if why is not None), None)
    if first is None:
        return
    reason = failed[first].split(": ", 1)[-1]
    abort_collective(comm, path, f"the disk filled during a parallel write (rank {first}: {reason})", newest,
                     say=comm.rank == first, agreed=True)


class _StepWatch:
    """The collective steps of one parallel-HDF5 state write, watched by a thread of their own: a step not done on
    this rank within its time ends the job in one line (:func:`abort_collective`).

    One HDF5 call or MPI collective of the write can wait forever for a rank that does not come: a rank stuck in
    a file system that stopped answering, or HDF5's metadata write failing inside the collective close on one rank
    (then the ranks wait in two different MPI calls: 2026-12-07 (late afternoon), ``fills_during_write.py``).
    Each step (:meth:`step`) may take :func:`close_timeout_s` seconds, times its 64 MiB pieces for the write and
    its read-back; ranks other than 0 wait as long again, so that rank 0, where its thread runs, says it (one
    line: ``MPI_Abort`` from rank 0 ends the others; with 2 s more, not always before their own thread's line, on
    the loaded dev VM), and another rank says it where rank 0's cannot. Since 2026-12-07 (night); before, a timer watched
    the close alone (``DQSIM_COLLECTIVE_CLOSE_S``, since 2026-12-07 (late afternoon)). ``slabs``: the steps of a write
    of slab files on several ranks (:func:`_write_slab_files`, since 2026-12-07 (late night)), named so in the line.
    """

    #: What the line says of a close not done in time (the known cause: a metadata write that failed).
    CLOSE_WHY = "the parallel HDF5 file did not close on every rank within {s:g} s (its metadata's write failed on " \
                "some rank: a disk that filled during the write?)"
    #: What it says of another step (``{files}``: :attr:`COLLECTIVE_FILES`, or :attr:`SLAB_FILES` with ``slabs``).
    STEP_WHY = "{files} {step} did not end on every rank within {s:g} s (a rank stalled in it or " \
               "before it: a file system that stopped answering?)"
    COLLECTIVE_FILES = "the parallel HDF5 file's"
    SLAB_FILES = "the state slab files'"

    def __init__(self, comm, path: Path, newest: str | None, timeout_s: float, *, slabs: bool = False):
        self.comm, self.path, self.newest, self.timeout_s, self.slabs = comm, path, newest, timeout_s, slabs
        self.grace_s = 0.0 if comm.rank == 0 else timeout_s
        self._cond = threading.Condition()
        self._step, self._allowed, self._deadline, self._done = "", timeout_s, float("inf"), False
        self._owned: tuple[Path, ...] = ()
        threading.Thread(target=self._watch, name="dqsim-collective-watch", daemon=True).start()

    def step(self, what: str, pieces: int = 1) -> None:
        """This rank enters step ``what`` (``"close"``, ``"write"``, ...), which may take ``pieces`` timeouts."""
        with self._cond:
            self._step, self._allowed = what, self.timeout_s * pieces
            self._deadline = time.monotonic() + self._allowed + self.grace_s
            self._cond.notify()

    def stop(self) -> None:
        """The write is over on this rank (written, cut, or failed): nothing more is watched."""
        with self._cond:
            self._done = True
            self._cond.notify()

    def owns(self, *paths: Path) -> None:
        """This rank's files of the write so far (a slab file's temporary file, then the slab file once renamed):
        removed before a stalled step ends the job (:func:`_remove_for_at_most`), so none outlives it."""
        with self._cond:
            self._owned = paths

    def _watch(self) -> None:
        with self._cond:
            while not self._done and time.monotonic() < self._deadline:
                self._cond.wait(min(self._deadline - time.monotonic(), 3600.0))
            if self._done:
                return
            step, allowed, owned = self._step, self._allowed, self._owned
        _remove_for_at_most(owned, min(1.0, self.timeout_s / 4))
        why = (self.CLOSE_WHY.format(s=allowed) if step == "close" else
               self.STEP_WHY.format(files=self.SLAB_FILES if self.slabs else self.COLLECTIVE_FILES, step=step,
                                    s=allowed))
        abort_collective(self.comm, self.path, why, self.newest, stalled=step != "close", slabs=self.slabs)


def _remove_for_at_most(paths: Sequence[Path], wait_s: float) -> None:
    """Remove ``paths`` (missing ones and errors ignored), waiting at most ``wait_s`` seconds: on a file system
    that stopped answering (what a stalled step often is) an unlink may hang too, and the job must still end."""
    def remove() -> None:
        for path in paths:
            unlink_quietly(path)

    if paths:
        remover = threading.Thread(target=remove, name="dqsim-remove-before-abort", daemon=True)
        remover.start()
        remover.join(wait_s)


class _closing_quietly_after_failure:
    """``with h5:`` for a collective file: its close watched, then a barrier; a failed close ends the job.

    When a write failed (a full disk), HDF5 fails again flushing the file's
    cached data on close. HDF5 does not recover from it: the next close of any
    HDF5 file in the process crashed it (SIGSEGV in ``H5F__close_cb``; also
    after truncating the file to free its blocks), which is why
    :func:`_write_collective` checks the free space and reserves the blocks
    before it writes, and why a close that raised on any rank (seen at one
    ``allgather`` after the barrier) ends the job in one line
    (:func:`abort_collective`, naming the error inside the block too), as does
    a close or barrier not done within :func:`close_timeout_s` (``watch``'s step ``"close"``).
    """

    def __init__(self, h5: h5py.File, comm, path: Path, watch: _StepWatch):
        self.h5, self.filename = h5, h5.filename
        self.comm, self.path, self.watch = comm, path, watch

    def __enter__(self) -> h5py.File:
        return self.h5

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.watch.step("close")
        try:
            self.h5.close()
        except Exception as failure:  # noqa: BLE001 - HDF5 is left unusable: the next close of a file crashes
            self.closed_badly = write_failure_reason(failure)
        self.comm.barrier()  # every rank has closed the file (a rank stuck in the close: the watch ends all)
        bad = [why for why in self.comm.allgather(getattr(self, "closed_badly", None)) if why is not None]
        self.watch.stop()
        if bad:  # e.g. a reservation refused on a disk that filled since the free-space check: SIGSEGV later
            why = f"cannot close the file ({bad[0]})"
            if exc is not None:
                why = f"{str(exc).removeprefix(f'{self.path}: ')}, then {why}"
            abort_collective(self.comm, self.path, why, self.watch.newest, say=self.comm.rank == 0, agreed=True)
        return False


def complete_collective(h5: h5py.File, state: CollectiveState, *, attrs=None) -> None:
    """Check the collectively written ``state`` in the open temporary file; add ``attrs`` to it.

    Called by :func:`~dqsim.io.writer.write_run_file` on rank 0.

    Raises:
        DqsimError: ``state`` missing, of another shape or dtype, or with other checksums.
    """
    ds = h5.get(STATE_DATASET)
    expected = (state.slab_size * state.num_slabs,)
    if not isinstance(ds, h5py.Dataset) or ds.shape != expected or ds.dtype != np.dtype(state.dtype):
        raise DqsimError(f"{state.tmp_path}: no collectively written state of {expected[0]} "
                         f"{np.dtype(state.dtype)} amplitudes")
    recorded = encoding.decode_attrs(ds.attrs).get("slab_checksums")
    if list(recorded or []) != list(state.checksums):
        raise DqsimError(f"{state.tmp_path}: the state's recorded checksums differ from those the ranks wrote")
    if attrs:
        encoding.encode_attrs(ds.attrs, attrs, where=STATE_DATASET)
