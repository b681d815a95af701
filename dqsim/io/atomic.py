"""Write an HDF5 file under a temporary name and rename it when it is whole."""

from __future__ import annotations

import bisect
import errno
import glob
import os
import stat
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Optional

import h5py

from dqsim.errors import DqsimError
from dqsim.io.limits import file_too_large, too_large_words
from dqsim.io.manifest import run_manifest_path


def temporary_path(path: str | os.PathLike) -> Path:
    """Where :func:`atomic_h5_write` writes before renaming: ``<path>.tmp-<pid>``."""
    return Path(f"{os.fspath(path)}.tmp-{os.getpid()}")


#: Reasons a write fails that a user can act on, as the C library words them (found inside the longer
#: messages of HDF5 and MPI-IO, whose error stacks span several lines).
_WRITE_FAILURES = tuple(os.strerror(code) for code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES,
                                                        errno.EROFS, errno.EIO))


def write_failure_reason(exc: BaseException) -> str:
    """Why a write failed, in one line: the OS's reason where the error names one, else its first line.

    Parallel HDF5 reports a full disk as a multi-line MPI-IO error stack
    whose first line says only "Can't write data"; the reason (``No space
    left on device``) is on a later line.

    Examples:
        >>> write_failure_reason(OSError(28, "No space left on device"))
        'No space left on device'
        >>> write_failure_reason(OSError("Can't write data (MPI_File_write_at failed: error stack:\\n"
        ...                              "ADIOI_GEN_WRITECONTIG(80): Other I/O error No space left on device')"))
        'No space left on device'
        >>> write_failure_reason(ValueError("bad\\nthings"))
        'bad'
    """
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip()
    for reason in _WRITE_FAILURES:
        if reason in text:
            return reason
    return text.splitlines()[0] if text else type(exc).__name__


#: Reasons a write fails that free space in its folder cures: a full disk (``ENOSPC``) or an exhausted quota
#: (``EDQUOT``), as :func:`write_failure_reason` words them. Not a file size limit (``EFBIG``: per file, so
#: removing other files makes no room for this one) nor a folder that cannot be written.
_ROOM_FAILURES = tuple(os.strerror(code) for code in (errno.ENOSPC, errno.EDQUOT))


def lack_of_room(reason: str) -> str | None:
    """The OS's words for a lack of room in a failed write's one line (:func:`write_failure_reason`, or a
    message made of it): a full disk or an exhausted quota, which removing other files there can cure; else None.

    Examples:
        >>> lack_of_room("out/ck.h5: cannot write the file (No space left on device)")
        'No space left on device'
        >>> lack_of_room("out/ck.h5: cannot write the file (File too large)") is None
        True
    """
    return next((words for words in _ROOM_FAILURES if words in reason), None)


def _is_too_large(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and (exc.errno == errno.EFBIG or file_too_large(str(exc)))


def remove_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files killed writers of ``path`` left; return them.

    These are ``<path>.tmp-*`` and, for its state slabs, ``<stem>.slab*.h5.tmp-*``
    (``<stem>`` is ``path`` without ``.h5``). Call it when starting a run that
    will write ``path`` (two runs writing the same file at once are not
    supported anyway).
    """
    path = Path(path)
    removed = []
    stem = path.name[:-len(".h5")] if path.name.endswith(".h5") else path.name
    patterns = [glob.escape(path.name) + ".tmp-*", glob.escape(stem) + ".slab*.h5.tmp-*"]
    for leftover in (found for pattern in patterns for found in path.parent.glob(pattern)):
        if leftover.is_file():
            try:
                leftover.unlink()
                removed.append(leftover)
            except OSError:
                pass
    return removed


def _no_write_bits(path: Path) -> bool:
    """Whether no write bit of ``path``'s mode is set (``chmod a-w``, ``chmod 444``): read-only also for root, whom
    ``os.access`` always lets write."""
    try:
        return not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    except OSError:
        return False


def refuse_read_only(path: str | os.PathLike, consequence: str) -> None:
    """Raise when ``path`` exists and is read-only: it is written by a rename, which would replace it anyway.

    Read-only means this process may not write it (``os.access``) or no write bit of its mode is set (so a
    file made read-only with ``chmod a-w`` is kept also by a run as root, for whom ``os.access`` is always true).

    Args:
        path: the output about to be written.
        consequence: what the refusal means, in the message ("nothing was run").

    Raises:
        DqsimError: one line naming the file and what to do.
    """
    path = Path(path)
    if path.is_file() and (not os.access(path, os.W_OK) or _no_write_bits(path)):
        raise DqsimError(f"{path}: the output exists and is read-only; {consequence} (make it writable, remove it "
                         "or give another output file)")


#: How to get past an output that cannot be written, closing each such error (a user reads one line).
OUTPUT_FIX = "; write it elsewhere: -o DIR/OUT.h5 (or [run].output) with DIR a folder you can write"


def prepare_output(path: str | os.PathLike) -> None:
    """Make ``path``'s folder and check a file can be created there; remove killed writers' leftovers.

    Called on rank 0 before a run starts, so that an output that cannot be
    written is found before the work, not after it. Writes and removes the
    temporary file :func:`atomic_h5_write` will use.

    Raises:
        DqsimError: the folder cannot be made or written (one line, the reason).
    """
    path = Path(path)
    if path.is_dir():
        raise DqsimError(f"{path}: cannot write the output there (it is a folder); nothing was run{OUTPUT_FIX}")
    refuse_read_only(path, "nothing was run")
    remove_temporaries(path)
    # the manifest of an output this run replaces goes now, before the ranks replace its state slabs: it must
    # never describe the new files (the file it covered stays readable, with a note that it is unverified)
    unlink_quietly(run_manifest_path(path))  # a folder that cannot be written: the probe below says so
    probe = temporary_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb"):
            pass
        probe.unlink()
    except OSError as exc:
        raise DqsimError(f"{path}: cannot write the output there ({folder_error(exc)}); "
                         f"nothing was run{OUTPUT_FIX}") from None


def folder_problem(folder: str | os.PathLike) -> str | None:
    """Why files could not be made in ``folder`` (created first where it is missing), or None where they could.

    Found without creating, writing or removing anything (``dqsim check``):
    the nearest part of the path that exists must be a folder this process
    may write and enter (``os.access``), on a file system not mounted
    read-only. The reasons are worded as :func:`folder_error` words the
    error that making the folder or a file in it would raise.

    Examples:
        >>> folder_problem(".") is None
        True
        >>> folder_problem("/proc/version/out")
        'a folder on the way to /proc/version/out is a file'
    """
    folder = Path(folder)
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{folder} is a file, not a folder" if existing == folder else f"a folder on the way to {folder} is a file"
    try:
        read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
    except OSError:  # no statvfs there: os.access below still judges it
        read_only = False
    if read_only:
        return os.strerror(errno.EROFS)
    if not os.access(existing, os.W_OK | os.X_OK):
        return os.strerror(errno.EACCES)
    return None


def check_output(path: str | os.PathLike, checked_where: str) -> None:
    """Refuse an output that :func:`prepare_output` would refuse, found without creating or writing anything.

    Args:
        path: the run's output file.
        checked_where: words naming where this was checked, closing the message
            (``"checked from this machine, login1"``): the ranks may see other folders.

    Raises:
        DqsimError: one line: the output is a folder, a read-only file, or its folder cannot be made or written.
    """
    path = Path(path)
    if path.is_dir():
        raise DqsimError(f"{path}: cannot write the output there (it is a folder; {checked_where}){OUTPUT_FIX}")
    refuse_read_only(path, checked_where)
    reason = folder_problem(path.parent)
    if reason is not None:
        raise DqsimError(f"{path}: cannot write the output there ({reason}; {checked_where}){OUTPUT_FIX}")


def folder_error(exc: OSError) -> str:
    """Why a folder cannot be made or written, in words: a file in its place is named as such.

    Examples:
        >>> folder_error(FileExistsError(17, "File exists", "out"))
        'out is a file, not a folder'
        >>> folder_error(NotADirectoryError(20, "Not a directory", "out/ck"))
        'a folder on the way to out/ck is a file'
        >>> folder_error(PermissionError(13, "Permission denied", "out"))
        'Permission denied'
    """
    if isinstance(exc, FileExistsError) and exc.filename is not None:  # mkdir where a file is
        return f"{exc.filename} is a file, not a folder"
    if isinstance(exc, NotADirectoryError) and exc.filename is not None:
        return f"a folder on the way to {exc.filename} is a file"
    return write_failure_reason(exc)


def unlink_quietly(path: Path) -> None:
    """Remove ``path`` where it can be; a missing file or an error (a folder that cannot be written) is ignored."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


class _Piece(NamedTuple):
    """What a dropped write left in the file as HDF5 sees it (:class:`_DroppingFile`): bytes ``[start, end)``,
    read from ``data`` at ``offset`` (the write's own bytes, not copied when a later write cuts it), or zeros where
    ``data`` is ``None`` (a write not kept)."""

    start: int
    end: int
    data: bytes | None
    offset: int

    def cut(self, start: int, end: int) -> "_Piece":
        """The part ``[start, end)`` of this piece (within it)."""
        return _Piece(start, end, self.data, self.offset + start - self.start)

    def bytes_in(self, start: int, end: int) -> bytes | memoryview:
        """Its bytes ``[start, end)`` (within it): zeros for a write not kept."""
        if self.data is None:
            return bytes(end - start)
        at = self.offset + start - self.start
        return memoryview(self.data)[at:at + end - start]


def _merged_zeros(pieces: list[_Piece]) -> list[_Piece]:
    """``pieces`` (in order, none overlapping) with each run of adjacent pieces of zeros made one.

    Examples:
        >>> _merged_zeros([_Piece(0, 4, None, 0), _Piece(4, 6, None, 0), _Piece(6, 8, b"ab", 0)])
        [_Piece(start=0, end=6, data=None, offset=0), _Piece(start=6, end=8, data=b'ab', offset=0)]
    """
    merged: list[_Piece] = []
    for piece in pieces:
        if merged and piece.data is None and merged[-1].data is None and merged[-1].end == piece.start:
            merged[-1] = _Piece(merged[-1].start, piece.end, None, 0)
        else:
            merged.append(piece)
    return merged


class _DroppingFile:
    """The temporary file as HDF5 sees it (h5py's file-object driver): a write that fails is dropped and kept.

    A write that fails (a full disk, a quota, a file size limit) is not
    raised into HDF5: HDF5 tries again when objects are freed and at the
    library's end, where a failure left it broken and the process crashed at
    exit (SIGSEGV), also when the first failure came while HDF5 freed an
    object and could not raise it (the file then looked written). So from
    the first failure on, writes are dropped and reported as done (the file
    is removed anyway), HDF5 closes cleanly, and :func:`atomic_h5_write`
    raises the failure (:attr:`failure`) once HDF5 has closed the file.

    HDF5 reads back what it wrote (metadata its cache evicted, then needs
    again), and h5py's driver takes a short read for a whole one: the buffer
    it gave kept what it held before, which HDF5 parsed as metadata. So
    dropped bytes are kept for :meth:`readinto`: every write of at most
    :data:`SMALL_BYTES` (HDF5's metadata writes are small) while all kept
    bytes stay within :data:`SMALL_KEEP_BYTES`, larger ones while they fit
    in :data:`KEEP_BYTES`. A dropped write not kept reads as zeros over its
    whole range, also where earlier writes were kept or the disk holds older
    bytes (never stale bytes: HDF5 then refuses a block of zeros where it
    would parse stale bytes); so does what was never written. What the
    dropped writes left is held as pieces that do not overlap, sorted by
    their start (a later write cuts the ones under it), so a read finds its
    first piece by bisection: O(log n) for n dropped writes, plus the pieces
    it reads (since 2026-12-07 (afternoon); before, every read walked every
    dropped write, 10^5 of them for a run's small tables written past a
    file size limit: ``bench/dropping_file_reads.py``). Before
    2026-12-07 (later) dropped bytes were not kept, and a run whose output
    grew past a file size limit while HDF5 still wrote its tables crashed
    (SIGSEGV) in ``create_dataset`` instead of one line (the checkpoint
    fault harness, ``diskfull`` on the ``netline`` job); then for a while
    raw data dropped after the failure could use up the budget, and a later
    metadata write read back stale.
    """

    #: Bytes of dropped writes kept in memory for HDF5's reads of them (metadata is small; a state's pieces past
    #: this are dropped for good, and HDF5 reads no raw data it wrote back).
    KEEP_BYTES = 64 * 2**20
    #: A dropped write of at most this many bytes is kept past :data:`KEEP_BYTES`, up to :data:`SMALL_KEEP_BYTES`
    #: (HDF5's metadata blocks are smaller; raw data written in small chunks is kept too, until the file is closed).
    SMALL_BYTES = 2**20
    #: Most bytes kept in all when small writes go past :data:`KEEP_BYTES` (raw data written in small gzip chunks
    #: after the failure would otherwise be held until the file is closed, as large as the output).
    SMALL_KEEP_BYTES = 512 * 2**20

    def __init__(self, fh):
        self._fh = fh
        self.failure: OSError | None = None
        self.reach = 0  # the furthest byte HDF5 asked to write up to, also after a failure (the size it needed)
        # what the dropped writes left, later ones laid over earlier ones: pieces that do not overlap, sorted by
        # start (``_starts`` for bisect); bytes None: a write not kept, read back as zeros
        self._starts: list[int] = []
        self._pieces: list[_Piece] = []
        self._kept_bytes = 0  # bytes of the dropped writes kept, as written (the budget: pieces cut later count whole)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done, position = 0, self._fh.tell()
        self.reach = max(self.reach, position + len(view))
        while self.failure is None and done < len(view):  # an unbuffered write may write part of it
            try:
                written = self._fh.write(view[done:])
                if not written:
                    raise OSError(errno.ENOSPC, "a write wrote nothing (disk full?)")
                done += written
            except OSError as exc:
                self.failure = exc
        if done < len(view):
            self._keep(position + done, view[done:])
        return len(view)

    def _keep(self, position: int, dropped: memoryview) -> None:
        """Keep a dropped write for :meth:`readinto`: a small one while the kept bytes fit in
        :data:`SMALL_KEEP_BYTES`, a large one while they fit in :data:`KEEP_BYTES`; one not kept is marked so that
        its range reads as zeros, not as older bytes."""
        size = len(dropped)
        fits = self._kept_bytes + size <= (self.SMALL_KEEP_BYTES if size <= self.SMALL_BYTES else self.KEEP_BYTES)
        if fits:
            self._kept_bytes += size
        self._lay(_Piece(position, position + size, bytes(dropped) if fits else None, 0))

    def _lay(self, piece: "_Piece") -> None:
        """Lay ``piece`` over the pieces kept: those it covers go, those it overlaps in part are cut to what it
        leaves of them, and a piece of zeros next to another merges with it. O(log n) to find where (bisect), plus
        the pieces it covers, plus the lists' shift (a C ``memmove``; none for a write past the others)."""
        starts, pieces = self._starts, self._pieces
        if not pieces or piece.start >= pieces[-1].end:  # past the others (raw data written in order): append
            if piece.data is None and pieces and pieces[-1].data is None and pieces[-1].end == piece.start:
                pieces[-1] = _Piece(pieces[-1].start, piece.end, None, 0)
            else:
                pieces.append(piece)
                starts.append(piece.start)
            return
        low = bisect.bisect_right(starts, piece.start)
        if low and pieces[low - 1].end > piece.start:
            low -= 1
        high = bisect.bisect_left(starts, piece.end, lo=low)
        around = []
        if low < high and pieces[low].start < piece.start:
            around.append(pieces[low].cut(pieces[low].start, piece.start))
        around.append(piece)
        if low < high and pieces[high - 1].end > piece.end:
            around.append(pieces[high - 1].cut(piece.end, pieces[high - 1].end))
        if piece.data is None:  # zeros: merge with zeros just before or after
            if low and pieces[low - 1].data is None and pieces[low - 1].end == around[0].start:
                low -= 1
                around.insert(0, pieces[low])
            if high < len(pieces) and pieces[high].data is None and pieces[high].start == around[-1].end:
                around.append(pieces[high])
                high += 1
            around = _merged_zeros(around)
        pieces[low:high] = around
        starts[low:high] = [each.start for each in around]

    def readinto(self, buffer) -> int:
        """Fill ``buffer`` from the position as HDF5 wrote there (h5py's driver): once a write failed, with the
        dropped bytes kept laid over the file's and zeros past its end (h5py takes a short read for a whole one)."""
        position = self._fh.tell()
        got = self._fh.readinto(buffer) or 0
        if self.failure is None:
            return got
        view = memoryview(buffer).cast("B")
        view[got:] = bytes(len(view) - got)
        self._lay_kept_over(position, view)
        return len(view)

    def read(self, size: int = -1) -> bytes:
        """As :meth:`readinto`, ``size`` bytes (older h5py's driver reads so)."""
        if self.failure is None or size is None or size < 0:
            return self._fh.read(size)
        data = bytearray(size)
        self.readinto(data)
        return bytes(data)

    def _lay_kept_over(self, position: int, view: memoryview) -> None:
        """The dropped writes (later ones over earlier ones) over ``view``, read from ``position``: the bytes kept,
        zeros for a write not kept."""
        end = position + len(view)
        index = max(bisect.bisect_right(self._starts, position) - 1, 0)
        pieces = self._pieces
        while index < len(pieces) and pieces[index].start < end:
            piece = pieces[index]
            low, high = max(piece.start, position), min(piece.end, end)
            if low < high:
                view[low - position:high - position] = piece.bytes_in(low, high)
            index += 1

    def flush(self) -> None:
        if self.failure is None:
            try:
                self._fh.flush()
            except OSError as exc:
                self.failure = exc

    def truncate(self, size=None):
        if self.failure is None:
            try:
                return self._fh.truncate(size)
            except OSError as exc:
                self.failure = exc
        return size

    def check(self) -> None:
        """Raise the first write that failed, if one did."""
        if self.failure is not None:
            raise self.failure

    def __getattr__(self, name):  # seek, tell: the file's own
        return getattr(self._fh, name)


def atomic_h5_write(path: str | os.PathLike, fill: Callable[..., None], *,
                    started: Optional[str | os.PathLike] = None, stale: Iterable[str | os.PathLike] = (),
                    between: Optional[Callable[[], None]] = None,
                    closed: Optional[Callable[[Path], None]] = None, with_fd: bool = False,
                    needs_bytes: Optional[Callable[[], int]] = None) -> Path:
    """Create ``path`` by writing a temporary file with ``fill(h5file)`` and renaming it.

    The temporary file is flushed to disk before ``os.replace``, so ``path``
    is either the old file or the whole new one. On error it is removed.

    Args:
        path: the file to create or replace.
        fill: writes the contents into the open temporary file.
        started: a temporary file already partly written (by every rank
            through parallel HDF5, :mod:`dqsim.io.sharded`); it is opened for
            appending, completed by ``fill`` and renamed, instead of a new one.
        stale: files removed just before the rename, once the new file is
            whole: the manifest of the file it replaces, which must never
            describe the new bytes (a kill before the new manifest would leave
            a whole file that reads as damaged).
        between: called once HDF5 has closed the temporary file and once it
            is synced (before the rename); an exception it raises abandons
            the write as any other does (the temporary file is removed,
            ``path`` is left as it was).
        closed: called with the temporary file once HDF5 has closed it,
            before its ``fsync`` (the run manifest's hash of its bytes,
            :func:`dqsim.io.writer.write_run_file`); an exception abandons.
        with_fd: call ``fill(h5file, fd)``, ``fd`` the temporary file's descriptor, for bytes written
            beside HDF5 into space it allocated and never writes (a state slab's amplitudes,
            :func:`dqsim.io.slabs.write_slab_file`).
        needs_bytes: how large the file grows (at least, in bytes), asked when a write fails with ``EFBIG``
            (a file size limit), for the message's size (:func:`too_large_words`); the furthest byte HDF5
            wrote to is taken where it is more.

    Raises:
        DqsimError: the file cannot be written (folder missing, disk full, ...); for a file size limit
            (``EFBIG``) one line with the size it needed, the limit and what to do (:func:`too_large_words`).
    """
    path = Path(path)
    tmp = temporary_path(path) if started is None else Path(started)
    hdf5_view = None
    try:
        if started is not None and not tmp.is_file():
            raise DqsimError(f"{path}: its temporary file {tmp} is missing (written by every rank before)")
        # HDF5 writes through a Python file object (_DroppingFile): a full disk (or quota, or file size
        # limit) is then an OSError raised here once HDF5 has closed the file; through HDF5's own file
        # driver, or raised into HDF5, a failed write made the library crash at exit. The same for a file
        # every rank wrote through parallel HDF5 (``started``): rank 0 completes it.
        file_mode, h5_mode, h5_options = ("w+b", "w", {"track_order": True}) if started is None else ("r+b", "r+", {})
        with open(tmp, file_mode, buffering=0) as fh:  # unbuffered: a failed write fails in write()
            hdf5_view = _DroppingFile(fh)
            with h5py.File(hdf5_view, h5_mode, **h5_options) as h5:
                if with_fd:
                    fill(h5, fh.fileno())
                else:
                    fill(h5)
            hdf5_view.check()
            fh.flush()
            if between is not None:
                between()
            if closed is not None:
                closed(tmp)
            os.fsync(fh.fileno())
        if between is not None:
            between()
        for old in stale:
            Path(old).unlink(missing_ok=True)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if _is_too_large(exc):
            reach = hdf5_view.reach if hdf5_view is not None else 0
            needed = max(reach, needs_bytes() if needs_bytes is not None else 0)
            raise DqsimError(f"{path}: cannot write the file ({too_large_words(path.parent, needed)})") from exc
        if isinstance(exc, OSError):
            reason = write_failure_reason(exc)
            raise DqsimError(f"{path}: cannot write the file ({reason})") from exc
        raise
    return path
