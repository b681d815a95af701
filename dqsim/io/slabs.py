"""State vectors too large to gather: one slab file per rank, stitched by a virtual dataset.

Each rank writes its contiguous part of the state (``slab_size`` amplitudes,
rank r holding global indices ``r*slab_size .. (r+1)*slab_size-1``) into its
own file with :func:`write_state_slab`, piece by piece from host buffers, and
gets back the checksum of those bytes (:mod:`dqsim.io.hashing`: XXH3-128
where ``xxhash`` is installed, else SHA-256; the digest names it). Rank 0 gathers the file names
and checksums and links them into the run file as the virtual dataset
``state``: with ``write_run_file(..., state_slabs=StateSlabs(...))`` before
the run file's atomic rename (preferred), or with :func:`link_state_slabs`
on an existing run file (opened in append mode).

The virtual dataset refers to the slabs by paths relative to the run file's
folder, so the folder can be moved as a whole. HDF5 reads a missing source
as zeros without complaint; dqsim's reader therefore checks every slab's
existence and checksum before returning the state
(:meth:`dqsim.io.reader.RunFile.state`).

Slab file layout: dataset ``slab`` (1-D, ``slab_size`` amplitudes) and root
attributes ``dqsim_file = "state-slab"``, ``schema_version``, ``dqsim_version``,
``dqsim_commit`` (:mod:`dqsim.io.provenance`), ``checksum``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

import h5py
import numpy as np

import dqsim
from dqsim.errors import DqsimError
from dqsim.io import encoding, hashing, provenance, rawfile
from dqsim.io.atomic import atomic_h5_write

#: Dataset holding the amplitudes inside a slab file.
SLAB_DATASET = "slab"

#: How qubits map to bits of an amplitude's index (stored on every ``state``).
QUBIT_ORDER = "little-endian: bit q of the index is qubit q (as in qiskit)"

#: Amplitudes read per step when verifying or reading a slab (64 MiB at complex128).
READ_CHUNK_AMPLITUDES = 1 << 22

#: Amplitudes of a state written between two looks for a stop signal (2^22, 64 MiB of complex128): a gathered
#: state in the run file (:func:`dqsim.io.writer.write_run_file`'s ``between``), a sharded one by every rank
#: (:func:`dqsim.io.sharded.write_sharded_state`'s ``cut_on``).
STATE_PIECE_AMPLITUDES = 1 << 22

_STATE_DTYPES = (np.dtype(np.complex64), np.dtype(np.complex128))


def check_state_shape(num_amplitudes: int, dtype: Any, *, what: str) -> int:
    """Check a state's length (a power of two) and dtype (complex64/128); return its qubit count.

    Raises:
        ValueError: naming ``what``, the value and what is allowed.

    Examples:
        >>> check_state_shape(8, np.complex64, what="state")
        3
    """
    dtype = np.dtype(dtype)
    if dtype not in _STATE_DTYPES:
        raise ValueError(f"{what} dtype = {dtype}: allowed complex64, complex128")
    if num_amplitudes < 2 or num_amplitudes & (num_amplitudes - 1):
        raise ValueError(f"{what} length = {num_amplitudes}: must be a 1-D array of 2**n amplitudes, n >= 1")
    return num_amplitudes.bit_length() - 1


def state_attrs(num_amplitudes: int) -> dict[str, Any]:
    """Attributes every stored state carries: ``qubit_order`` and ``num_qubits``."""
    return {"qubit_order": QUBIT_ORDER, "num_qubits": num_amplitudes.bit_length() - 1}


def to_host(piece: Any) -> np.ndarray:
    """One piece as a NumPy array: a CuPy array is copied off the GPU (``.get()``), alone.

    :mod:`dqsim.io` does not import CuPy (only :mod:`dqsim.backend` does), so
    device arrays are recognised by their ``__cuda_array_interface__``.
    """
    if isinstance(piece, np.ndarray):
        return piece
    if hasattr(piece, "__cuda_array_interface__"):
        return piece.get()
    return np.asarray(piece)


def host_pieces(pieces: Iterable[tuple[int, Any]], *, slab_size: int,
                dtype: Any) -> Iterator[tuple[int, np.ndarray]]:
    """Check one slab's ``(offset, array)`` pieces and yield them as contiguous host arrays.

    Each piece is copied to the host on its own (:func:`to_host`), so a slab
    on a GPU never needs a host buffer of the whole slab. Empty pieces are
    skipped. The coverage check runs when the pieces are exhausted, so
    consume the generator to the end.

    Raises:
        ValueError: a piece out of order, of the wrong dtype or shape, past
            ``slab_size``, or pieces not filling the slab.

    Examples:
        >>> a = np.arange(4, dtype=np.complex64)
        >>> [(p, x.tolist()) for p, x in host_pieces([(0, a[:1]), (1, a[1:])], slab_size=4, dtype=a.dtype)]
        [(0, [0j]), (1, [(1+0j), (2+0j), (3+0j)])]
    """
    dtype = np.dtype(dtype)
    position = 0
    for index, (offset, piece) in enumerate(pieces):
        piece = to_host(piece)
        if piece.dtype != dtype or piece.ndim != 1:
            raise ValueError(f"slab piece {index}: dtype {piece.dtype}, ndim {piece.ndim}; "
                             f"expected 1-D {dtype}")
        if offset != position:
            raise ValueError(f"slab piece {index}: offset = {offset}, expected {position} "
                             "(pieces must be in order, without gaps)")
        if position + piece.shape[0] > slab_size:
            raise ValueError(f"slab piece {index}: ends at {position + piece.shape[0]}, "
                             f"beyond slab_size = {slab_size}")
        if piece.shape[0]:
            yield position, np.ascontiguousarray(piece)
        position += piece.shape[0]
    if position != slab_size:
        raise ValueError(f"slab pieces cover {position} amplitudes, expected slab_size = {slab_size}")


def write_state_slab(slab_path: str | os.PathLike, pieces: Iterable[tuple[int, np.ndarray]], *,
                     slab_size: int, dtype: Any) -> str:
    """Write one rank's contiguous slab of the state to its own HDF5 file; return its checksum.

    The dataset is preallocated and filled piece by piece: the slab is never
    assembled in memory. The file is written under a temporary name and
    renamed when complete.

    Args:
        slab_path: the slab file (conventionally ``<run>.slabs/rank<r>.h5``
            next to the run file).
        pieces: ``(offset_in_slab, array)`` in order; together they must
            cover ``0..slab_size-1`` without gaps or overlaps, each of ``dtype``.
            CuPy pieces are copied to the host one at a time (:func:`host_pieces`).
        slab_size: amplitudes in this slab (>= 1).
        dtype: ``complex64`` or ``complex128``.

    Returns:
        ``"<algorithm>:<hex>"`` of the slab's bytes (little-endian,
        :mod:`dqsim.io.hashing`), as :func:`link_state_slabs` expects.

    Raises:
        ValueError: a piece out of order, of the wrong dtype, or not filling the slab.
        DqsimError: the file cannot be written.

    Examples:
        >>> import tempfile
        >>> p = f"{tempfile.mkdtemp()}/rank0.h5"
        >>> a = np.arange(4, dtype=np.complex64)
        >>> write_state_slab(p, [(0, a[:2]), (2, a[2:])], slab_size=4, dtype=np.complex64) == \\
        ...     encoding.Checksum.of(a)
        True
    """
    return write_slab_file(slab_path, pieces, slab_size=slab_size, dtype=dtype).checksum


#: Amplitudes kept from each end of a slab while it is written, compared with what HDF5 reads there once
#: the file is closed (:class:`WrittenSlab`): 4,096 (64 KiB of complex128).
PLACEMENT_AMPLITUDES = 1 << 12


@dataclass(frozen=True)
class WrittenSlab:
    """What :func:`write_slab_file` wrote, for its read-back check and its manifest entry.

    Attributes:
        checksum: ``"<algorithm>:<hex>"`` of the amplitudes' little-endian bytes, hashed in memory
            while they were written (:class:`~dqsim.io.encoding.Checksum`).
        data_offset: where the amplitudes start in the file (bytes; HDF5's own bytes before them).
        data_bytes: the amplitudes' bytes (``slab_size * itemsize``), contiguous from ``data_offset``.
        head: the first amplitudes written (up to :data:`PLACEMENT_AMPLITUDES`).
        tail: the last ones, ending at the slab's end.
    """

    checksum: str
    data_offset: int
    data_bytes: int
    head: np.ndarray
    tail: np.ndarray

    @property
    def algorithm(self) -> str:
        """The checksum's algorithm (``sha256``, ``xxh3_128``)."""
        return self.checksum.partition(":")[0]


def write_slab_file(slab_path: str | os.PathLike, pieces: Iterable[tuple[int, np.ndarray]], *,
                    slab_size: int, dtype: Any, between: Optional[Callable[[], None]] = None,
                    commit: Optional[str] = None) -> WrittenSlab:
    """:func:`write_state_slab`, returning what :class:`WrittenSlab` records.

    The dataset is contiguous, unfiltered and allocated when created (no
    fill), so its amplitudes are one block of the file at a place HDF5
    gives (``get_offset``); each piece is written there straight from its
    array (``os.pwrite``, :mod:`dqsim.io.rawfile`, no copy through HDF5),
    while a helper thread hashes it, and the kernel is asked to start
    writing it to the disk at once (``sync_file_range``), so that the
    final ``fsync`` finds most of it there. ``between``: called once the
    file is closed and once it is synced, before the rename
    (:func:`~dqsim.io.atomic.atomic_h5_write`); an exception it raises
    abandons the write. ``commit``: the ``dqsim_commit`` attribute (the
    writer of many ranks' slabs gives rank 0's, so that one rank asks git);
    default this process's :func:`~dqsim.io.provenance.code_commit`.
    """
    dtype = np.dtype(dtype)
    if dtype not in _STATE_DTYPES:
        raise ValueError(f"dtype = {dtype}: allowed complex64, complex128")
    if slab_size < 1:
        raise ValueError(f"slab_size = {slab_size}: must be >= 1")
    stored = dtype.newbyteorder("<")
    checksum = encoding.Checksum(background=True)
    found: dict[str, Any] = {}

    def fill(h5: h5py.File, fd: int) -> None:
        _, offset = allocate_contiguous(h5, SLAB_DATASET, slab_size, stored, f"{slab_path}: state slab")
        found["end"] = offset + slab_size * stored.itemsize  # the file's size at least (a file size limit's message)
        head, tail = write_pieces_at(fd, offset, host_pieces(pieces, slab_size=slab_size, dtype=dtype), stored,
                                     checksum)
        found.update(offset=offset, head=head, tail=tail)
        encoding.encode_attrs(h5.attrs, {
            "dqsim_file": "state-slab", "schema_version": dqsim.SCHEMA_VERSION,
            "dqsim_version": dqsim.__version__, "dqsim_commit": commit or provenance.code_commit(),
            "checksum": checksum.hexdigest()}, where="/")

    atomic_h5_write(slab_path, fill, between=between, with_fd=True,
                    needs_bytes=lambda: found.get("end", slab_size * stored.itemsize))
    return WrittenSlab(checksum.hexdigest(), found["offset"], slab_size * stored.itemsize, found["head"],
                       found["tail"])


def allocate_contiguous(h5: h5py.File, name: str, size: int, stored: np.dtype, what: str, *,
                        track_order: Optional[bool] = None) -> tuple[h5py.Dataset, int]:
    """Create the 1-D dataset ``name`` of ``size`` amplitudes of ``stored`` as one block HDF5 places now and
    never fills (contiguous, unfiltered, allocated early); return it and its bytes' offset in the file.

    Its amplitudes are then written beside HDF5 (:func:`write_pieces_at`).

    Raises:
        DqsimError: HDF5 gave the dataset no offset (``what`` names it).
    """
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)  # a place in the file now, never filled by HDF5
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    ds = h5.create_dataset(name, shape=(size,), dtype=stored, dcpl=dcpl, track_order=track_order)
    offset = ds.id.get_offset()
    if offset is None:  # not seen with HDF5 1.10-1.14; refused rather than written where HDF5 does not look
        raise DqsimError(f"{what}: HDF5 gave it no place in the file")
    return ds, offset


def write_pieces_at(fd: int, offset: int, pieces: Iterable[tuple[int, np.ndarray]], stored: np.dtype,
                    checksum: encoding.Checksum) -> tuple[np.ndarray, np.ndarray]:
    """Write ``(position, array)`` pieces (checked, in order: :func:`host_pieces`) at byte ``offset`` of ``fd``
    (+ ``position`` amplitudes), each from its own buffer (:func:`dqsim.io.rawfile.write_at`: ``pwrite``, then
    its writeback started), fed to ``checksum`` first (hashed on its helper thread while the piece is written).

    Returns:
        The first and last :data:`PLACEMENT_AMPLITUDES` amplitudes written (the read-back's check of placement).
    """
    head = tail = np.empty(0, dtype=stored)
    for position, piece in pieces:
        piece = np.ascontiguousarray(piece, dtype=stored)
        checksum.update(piece)  # hashed on a helper thread while the piece is written
        rawfile.write_at(fd, piece, offset + position * stored.itemsize)
        if position < PLACEMENT_AMPLITUDES:
            head = np.concatenate([head, piece[:PLACEMENT_AMPLITUDES - position]])
        tail = np.concatenate([tail, piece[-PLACEMENT_AMPLITUDES:]])[-PLACEMENT_AMPLITUDES:]
    return head, tail


@dataclass(frozen=True)
class StateSlabs:
    """Slab files that make up one state, in rank order.

    Attributes:
        paths: slab files (absolute, or relative to the current directory).
        checksums: what :func:`write_state_slab` returned for each (``"<algorithm>:<hex>"``).
        slab_size: amplitudes per slab (all equal).
        dtype: ``complex64`` or ``complex128``.
        file_entries: the run manifest's entry of each slab file
            (:func:`dqsim.io.manifest.parts_entry`: name, size in bytes, digests
            of its parts), computed by the rank that wrote it
            (:func:`dqsim.io.sharded.write_sharded_state`); empty: the run
            file's writer hashes the slab files itself.

    Raises:
        ValueError: ``file_entries`` given, but not one per path with the path's file name.
    """

    paths: Sequence[str | os.PathLike]
    checksums: Sequence[str]
    slab_size: int
    dtype: Any = field(default=np.complex128)
    file_entries: Sequence[Mapping[str, Any]] = ()

    def __post_init__(self) -> None:
        if self.file_entries and [entry.get("name") for entry in self.file_entries] != \
                [Path(path).name for path in self.paths]:
            raise ValueError(f"state slabs: file_entries name {[e.get('name') for e in self.file_entries]}, "
                             f"the paths {[Path(p).name for p in self.paths]}; give one entry per path, in order")


def check_slab_file(path: Path, slab_size: int, dtype: np.dtype, label: str) -> None:
    """Check that a slab file exists with dataset ``slab`` of ``slab_size`` amplitudes of ``dtype``.

    Reads no amplitudes. Raises :class:`DqsimError` (one line: ``label``, what is wrong, the path).
    """
    if not path.is_file():
        raise DqsimError(f"{label} is missing: {path}")
    try:
        with h5py.File(path, "r") as h5:
            ds = h5.get(SLAB_DATASET)
            if not isinstance(ds, h5py.Dataset):
                raise DqsimError(f"{label} has no dataset '{SLAB_DATASET}': {path}")
            if ds.shape != (slab_size,) or ds.dtype != dtype:
                raise DqsimError(f"{label} holds {ds.shape} {ds.dtype}, expected ({slab_size},) {dtype}: {path}")
    except OSError as exc:
        raise DqsimError(f"{label} is not a readable HDF5 file ({exc}): {path}") from None


def link_into(h5: h5py.File, main_dir: Path, slabs: StateSlabs, *,
              attrs: Optional[Mapping[str, Any]] = None) -> None:
    """Create the virtual dataset ``state`` over ``slabs`` in the open file ``h5``.

    ``main_dir`` is the folder the run file will live in; the slab paths are
    stored relative to it.
    """
    dtype = np.dtype(slabs.dtype)
    num_slabs = len(slabs.paths)
    if num_slabs < 1 or len(slabs.checksums) != num_slabs:
        raise ValueError(f"state slabs: {num_slabs} paths and {len(slabs.checksums)} checksums; "
                         "need one checksum per path, at least one path")
    for index, checksum in enumerate(slabs.checksums):
        try:
            hashing.split_digest(checksum)
        except ValueError as exc:
            raise ValueError(f"state slab {index}: {exc}") from None
    total = slabs.slab_size * num_slabs
    check_state_shape(total, dtype, what="state (slabs)")
    if "state" in h5:
        raise ValueError("the run file already has a 'state'")
    main_dir = Path(os.path.abspath(main_dir))
    relative = []
    layout = h5py.VirtualLayout(shape=(total,), dtype=dtype)
    for index, slab_path in enumerate(slabs.paths):
        absolute = Path(os.path.abspath(slab_path))
        check_slab_file(absolute, slabs.slab_size, dtype, f"state slab {index} of {num_slabs}")
        rel = os.path.relpath(absolute, main_dir)
        relative.append(rel)
        start = index * slabs.slab_size
        layout[start:start + slabs.slab_size] = h5py.VirtualSource(
            rel, SLAB_DATASET, shape=(slabs.slab_size,), dtype=dtype)
    ds = h5.create_virtual_dataset("state", layout)
    encoding.encode_attrs(ds.attrs, {
        **state_attrs(total), "layout": "slabs", "num_slabs": num_slabs,
        "slab_size": slabs.slab_size, "slab_files": relative,
        "slab_checksums": list(slabs.checksums), **(attrs or {})}, where="state")


def link_state_slabs(main_path: str | os.PathLike, slab_paths: Sequence[str | os.PathLike],
                     checksums: Sequence[str], *, slab_size: int, dtype: Any,
                     attrs: Optional[Mapping[str, Any]] = None) -> None:
    """Add the virtual dataset ``state`` over per-rank slab files to an existing run file.

    Opens ``main_path`` in append mode (not atomic: prefer passing
    ``state_slabs=`` to :func:`dqsim.io.writer.write_run_file`, which links
    before the rename). Slab paths are stored relative to the run file's folder,
    with the checksums, in the attributes ``slab_files`` and ``slab_checksums``.

    Args:
        main_path: a run file written by :func:`~dqsim.io.writer.write_run_file`.
        slab_paths: slab files in rank order.
        checksums: the checksum :func:`write_state_slab` returned for each.
        slab_size: amplitudes per slab; ``slab_size * len(slab_paths)`` must be a power of two.
        dtype: ``complex64`` or ``complex128``.
        attrs: extra attributes of ``state``.

    Raises:
        ValueError: mismatched lists, a bad size or dtype, or ``state`` already present.
        DqsimError: the run file or a slab file is missing or unreadable.

    Examples:
        >>> import tempfile
        >>> from dqsim.io.writer import write_run_file
        >>> from dqsim.io.reader import open_run
        >>> folder = tempfile.mkdtemp()
        >>> a = np.arange(8, dtype=np.complex128)
        >>> sums = [write_state_slab(f"{folder}/s{r}.h5", [(0, a[4 * r:4 * r + 4])], slab_size=4,
        ...                          dtype=a.dtype) for r in range(2)]
        >>> _ = write_run_file(f"{folder}/run.h5", attrs={}, tables={})
        >>> link_state_slabs(f"{folder}/run.h5", [f"{folder}/s0.h5", f"{folder}/s1.h5"], sums,
        ...                  slab_size=4, dtype=a.dtype)
        >>> open_run(f"{folder}/run.h5").state().real.tolist()
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    """
    main_path = Path(main_path)
    if not main_path.is_file():
        raise DqsimError(f"{main_path}: run file not found")
    try:
        with h5py.File(main_path, "a") as h5:
            link_into(h5, main_path.parent, StateSlabs(list(slab_paths), list(checksums), slab_size, dtype),
                      attrs=attrs)
    except OSError as exc:
        raise DqsimError(f"{main_path}: cannot add the state slabs ({exc})") from None

