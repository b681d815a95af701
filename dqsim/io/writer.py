"""Write one run's HDF5 file, atomically, on rank 0.

Layout of a run file (``schema_version`` 1):

* root attributes: ``schema_version``, ``dqsim_version``, ``dqsim_commit``
  (the source tree's git commit, :mod:`dqsim.io.provenance`), ``created_utc``
  (ISO 8601, UTC), ``dqsim_file = "run"`` and the caller's attributes
  (dict/list/None values as JSON strings, named in ``json_attrs``);
* one dataset per table, at the table's name (``"a/b"`` makes group ``a``);
  compound datasets for record tables, string fields as variable-length
  UTF-8 strings; each record table has an attribute ``units`` (column ->
  unit, JSON) for every column that has a unit (:mod:`dqsim.io.units`);
* optionally ``state``: the final state vector, either a plain dataset
  (gathered on one rank), a virtual dataset over per-rank slab files (see
  :mod:`dqsim.io.slabs`), or a plain dataset written by every rank through
  parallel HDF5 (see :mod:`dqsim.io.sharded`). Its attributes say
  ``qubit_order``, ``num_qubits``, ``layout`` (``"contiguous"``, ``"slabs"``
  or ``"collective"``) and the checksum(s).

Nothing here uses MPI: the scenario gathers what rank 0 writes (a collective
state was written by every rank before; rank 0 completes its file here).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional

import h5py
import numpy as np

import dqsim
from dqsim.errors import DqsimError
from dqsim.io import encoding, provenance, slabs
from dqsim.io.atomic import atomic_h5_write
from dqsim.io.manifest import file_entry, parts_digests, parts_entry, run_manifest_path, write_run_manifest
from dqsim.io.sharded import CollectiveState, complete_collective
from dqsim.io.units import table_units

#: Root attributes dqsim writes itself; callers may not set them.
RESERVED_ATTRS = ("schema_version", "dqsim_version", "dqsim_commit", "created_utc", "dqsim_file", encoding.JSON_ATTRS_KEY)

#: Tables larger than this are written chunked and gzip-compressed.
COMPRESS_ABOVE_BYTES = 1 << 20

#: Rows of a table with string columns converted and written at a time: the conversion makes a Python string
#: and an HDF5 copy of every string (~0.6 kB a row of a ``dqc`` run's ``links`` table at its peak, which has a row
#: per link of the network: 499,500 for an ``all_to_all`` of 1,000 nodes). 16,384 rows since 2026-12-06: a piece
#: of 65,536 set the writing rank's peak, ~40 MB above the other ranks' (``dqsim check`` counts a piece's rows,
#: :data:`dqsim.cli.check.WRITE_BYTES_PER_ROW`, 25-36 MB at a full piece, 2026-12-07 (morning)).
TABLE_PIECE_ROWS = 1 << 14

#: Amplitudes of a gathered state written between two calls of ``between`` (:func:`write_run_file`).
STATE_PIECE_AMPLITUDES = slabs.STATE_PIECE_AMPLITUDES


#: Bytes of the run file hashed for its manifest between two calls of ``between`` (64 MiB).
HASH_LOOK_BYTES = 1 << 26


def _check_table_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip("/") or name.strip("/") == "state" or "//" in name:
        raise ValueError(f"table name {name!r} is empty, malformed or reserved ('state')")


def _has_strings(dtype: np.dtype) -> bool:
    """Whether a table of ``dtype`` has str (or object) data, which :func:`encoding.to_storable` converts."""
    if dtype.names is None:
        return dtype.kind in "UO"
    return any(dtype[name].base.kind in "UO" for name in dtype.names)


def _in_pieces(table) -> bool:
    """Whether ``table`` is a table made piece by piece (``table_rows(start, stop)``, ``dtype``, ``shape``,
    ``nbytes``: :class:`dqsim.scenarios.output.TableInPieces`), not an array."""
    return not isinstance(table, np.ndarray) and callable(getattr(table, "table_rows", None))


def _state_pieces(state: np.ndarray, between: Optional[Callable[[], None]]) -> Iterator[tuple[int, np.ndarray]]:
    """A gathered state's pieces of :data:`STATE_PIECE_AMPLITUDES`, ``between`` called before each but the first."""
    for start in range(0, state.shape[0], STATE_PIECE_AMPLITUDES):
        if start and between is not None:
            between()
        yield start, state[start:start + STATE_PIECE_AMPLITUDES]


def _entry_around_state(tmp: Path, state: np.ndarray, placed: Mapping[str, Any],
                        each_block: Callable[[int, memoryview], None]) -> dict[str, Any] | None:
    """The run file's manifest entry in three parts, its gathered ``state``'s bytes not read again; or ``None``.

    The state was hashed in memory while it was written (``placed``: its
    ``checksum`` and the ``offset`` HDF5 gave its bytes). When the closed
    file ``tmp`` holds it there as one plain block (contiguous, unfiltered,
    little-endian, the first and last :data:`~dqsim.io.slabs.PLACEMENT_AMPLITUDES`
    amplitudes as written), the entry is HDF5's bytes before it and after it,
    read and hashed here, and the state's own digest: the same entry a hash
    of the whole file in three parts gives, without hashing the state twice
    (as :func:`dqsim.io.sharded.write_sharded_state` does for slab files).
    ``None`` (the caller hashes the whole file) for a state laid out otherwise.
    """
    start, nbytes = placed.get("offset"), state.nbytes
    algorithm, _, digest = placed.get("checksum", "").partition(":")
    if start is None or not digest:
        return None
    ends = slabs.PLACEMENT_AMPLITUDES
    with h5py.File(tmp, "r") as h5:
        ds = h5["state"]
        plain = (ds.id.get_offset() == start and ds.chunks is None and not ds.id.get_create_plist().get_nfilters()
                 and ds.dtype.str == state.dtype.newbyteorder("<").str and ds.shape == state.shape)
        if not (plain and np.array_equal(ds[:ends], state[:ends], equal_nan=True)
                and np.array_equal(ds[-ends:], state[-ends:], equal_nan=True)):
            return None
    lengths = [start, nbytes, tmp.stat().st_size - start - nbytes]
    if lengths[2] < 0:
        return None
    digests = parts_digests(tmp, algorithm, lengths, skip={1}, each_block=each_block)
    digests[1] = digest
    return parts_entry(tmp.name, algorithm, list(zip(lengths, digests)))


def write_run_file(path: str | os.PathLike, *, attrs: Mapping[str, Any],
                   tables: Mapping[str, np.ndarray],
                   groups_attrs: Optional[Mapping[str, Mapping[str, Any]]] = None,
                   state: Optional[np.ndarray] = None,
                   state_attrs: Optional[Mapping[str, Any]] = None,
                   state_slabs: Optional[slabs.StateSlabs] = None,
                   collective_state: Optional[CollectiveState] = None, manifest: bool = False,
                   compress: bool = True, between: Optional[Callable[[], None]] = None,
                   manifest_facts: Optional[Mapping[str, Any]] = None) -> Path:
    """Write a run's results as one self-describing HDF5 file (rank 0 only, no MPI).

    The file is written to ``<path>.tmp-<pid>`` and renamed over ``path`` once
    complete, so readers never see half a file.

    Args:
        path: the output file.
        attrs: run attributes (name, seed, job text, timings...). Values: str,
            int, float, bool, NumPy arrays; dict/list/None are stored as JSON.
            The names in :data:`RESERVED_ATTRS` are set by dqsim.
        tables: name -> NumPy array (1-D structured for record tables), or a 1-D
            record table made piece by piece (an object with ``dtype``, ``shape``,
            ``nbytes`` and ``table_rows(start, stop)``, e.g.
            :class:`dqsim.scenarios.output.TableInPieces`: asked for
            :data:`TABLE_PIECE_ROWS` rows at a time, each piece written before
            the next is made; the file is the same as of the table built whole). A name
            with ``/`` puts the dataset in a group. ``str`` fields read back as ``str``.
        groups_attrs: dataset or group path -> its attributes; a path that
            is not a table becomes an (empty) group. A record table's
            ``units`` (column -> unit) adds to the units its column names carry.
        state: the gathered final state, 1-D complex64/complex128 of length
            2**num_qubits (little-endian qubit order, as in qiskit). Written as
            a slab's amplitudes are (:func:`dqsim.io.slabs.write_pieces_at`: one
            block HDF5 places, each 64 MiB piece ``pwrite`` from the array with
            its writeback started, hashed on a helper thread meanwhile); with
            ``manifest`` its bytes are not hashed again (:func:`_entry_around_state`).
        state_attrs: extra attributes of ``state`` (either layout).
        state_slabs: instead of ``state``: per-rank slab files written by
            :func:`dqsim.io.slabs.write_state_slab`, linked as a virtual
            dataset ``state`` before the rename.
        collective_state: instead of ``state``: the temporary file every rank
            wrote the state into (:func:`dqsim.io.sharded.write_sharded_state`);
            it is completed with the rest and renamed to ``path``.
        manifest: also write ``<path>.manifest.json`` (:func:`dqsim.io.manifest.write_run_manifest`):
            the size and SHA-256 of the run file and of its state's slab files, checked
            before anything parses them (``dqsim inspect``, ``plot``, ``merge``). Slab
            files with ``state_slabs.file_entries`` are not read again here: those
            entries (hashed by the rank that wrote each slab) are listed as they are.
        manifest_facts: with ``manifest``, facts stored in it besides the files (the run's identity,
            :data:`dqsim.io.manifest.RUN_IDENTITY_KEYS`).
        compress: gzip tables over :data:`COMPRESS_ABOVE_BYTES` (portable to every
            HDF5 reader). Checkpoints pass False: gzip took 8.4 s of a 9.9 s
            checkpoint of a 50 MB QKD record (2026-12-05, one rank, under load),
            time a run that SLURM warned of its end does not have; uncompressed
            the write runs at the disk's speed.
        between: called before each table, before the state, between pieces
            of :data:`STATE_PIECE_AMPLITUDES` amplitudes of a gathered ``state``,
            once HDF5 has closed the file, between pieces of
            :data:`HASH_LOOK_BYTES` of the manifest's hash of it (taken before
            the rename) and once it is synced, before the rename; an exception
            it raises abandons the write: the temporary file is removed,
            ``path`` is left as it was and the exception goes on (``dqsim run``
            cuts its output write short on a stop signal this way). The slab
            files of ``state_slabs`` are the caller's to remove. Not looked at:
            the rename and the manifest's own write (a few KiB, synced).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: a reserved attribute or table name, a bad state array, or
            more than one of ``state``, ``state_slabs``, ``collective_state``.
        DqsimError: the file cannot be written, or a slab file is missing.

    Examples:
        >>> import tempfile, numpy as np
        >>> from dqsim.io.reader import open_run
        >>> folder = tempfile.mkdtemp()
        >>> counts = np.array([("00", 7), ("11", 9)], dtype=[("bitstring", "U2"), ("count", "i8")])
        >>> p = write_run_file(f"{folder}/r.h5", attrs={"name": "bell"}, tables={"counts": counts})
        >>> run = open_run(p)
        >>> run.attrs["name"], run.table("counts")["bitstring"].tolist()
        ('bell', ['00', '11'])
    """
    reserved = sorted(set(attrs) & set(RESERVED_ATTRS))
    if reserved:
        raise ValueError(f"attrs {', '.join(reserved)} are set by dqsim; allowed: any other name")
    if sum(x is not None for x in (state, state_slabs, collective_state)) > 1:
        raise ValueError("give one of state, state_slabs, collective_state")
    for name in tables:
        _check_table_name(name)
    if state is not None:
        state = np.asarray(state)
        slabs.check_state_shape(state.shape[0] if state.ndim == 1 else -1, state.dtype, what="state")
    path = Path(path)
    extra_attrs = {name.strip("/"): dict(values) for name, values in (groups_attrs or {}).items()}
    if "" in extra_attrs:
        raise ValueError("groups_attrs key '/' is not allowed; give root attributes in attrs")
    record_tables = {name.strip("/") for name, array in tables.items()
                     if (array.dtype if _in_pieces(array) else np.asarray(array).dtype).names}

    def fill(h5: h5py.File, fd: int) -> None:
        root_attrs = {
            "schema_version": dqsim.SCHEMA_VERSION,
            "dqsim_version": dqsim.__version__,
            "dqsim_commit": provenance.code_commit(),
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "dqsim_file": "run",
            **attrs,
        }
        encoding.encode_attrs(h5.attrs, root_attrs, where="/")
        for name, array in tables.items():
            if between is not None:
                between()
            if _in_pieces(array) and array.shape[0] <= TABLE_PIECE_ROWS:
                array = array.table_rows(0, array.shape[0])  # one piece: written as an array is
            made = _in_pieces(array)  # rows asked for a piece at a time, never built whole
            array = array if made else np.asarray(array)
            pieces = made or (array.ndim == 1 and array.size > TABLE_PIECE_ROWS and _has_strings(array.dtype))

            def rows(start: int) -> np.ndarray:
                stop = start + TABLE_PIECE_ROWS
                return encoding.to_storable(array.table_rows(start, stop) if made else array[start:stop], where=name)

            size = array.shape[0] if made else array.size
            data = rows(0) if pieces else encoding.to_storable(array, where=name)
            big = compress and data.itemsize * size > COMPRESS_ABOVE_BYTES and size > 0
            layout = dict(chunks=True, compression="gzip", compression_opts=4, shuffle=True) if big else {}
            if pieces:  # strings made in pieces: each a Python str and an HDF5 copy, ~0.3 kB a row at once
                ds = h5.create_dataset(name.strip("/"), shape=(size,), dtype=data.dtype, track_order=True,
                                       **layout)
                for start in range(0, size, TABLE_PIECE_ROWS):
                    piece = data if not start else rows(start)
                    ds[start:start + piece.size] = piece
                data = data[:0]
            else:
                ds = h5.create_dataset(name.strip("/"), data=data, track_order=True, **layout)
            if data.dtype.names:
                units = table_units(data.dtype, extra_attrs.get(name.strip("/"), {}).get("units"), where=name)
                if units:
                    encoding.encode_attrs(ds.attrs, {"units": units}, where=name)
        if between is not None:
            between()
        if state is not None:
            stored = state.dtype.newbyteorder("<")
            ds, offset = slabs.allocate_contiguous(h5, "state", state.shape[0], stored, f"{path}: state",
                                                   track_order=True)
            checksum = encoding.Checksum(background=True)  # each piece hashed while it is written
            slabs.write_pieces_at(fd, offset, _state_pieces(state, between), stored, checksum)
            placed.update(offset=offset, checksum=checksum.hexdigest())
            encoding.encode_attrs(ds.attrs, {
                **slabs.state_attrs(state.shape[0]), "layout": "contiguous",
                "checksum": placed["checksum"], **(state_attrs or {})}, where="state")
        if state_slabs is not None:
            slabs.link_into(h5, path.parent, state_slabs, attrs=state_attrs)
        if collective_state is not None:
            complete_collective(h5, collective_state, attrs=state_attrs)
        for key, values in extra_attrs.items():
            if key in record_tables:
                values = {k: v for k, v in values.items() if k != "units"}  # merged into the table's units
            target = h5[key] if key in h5 else h5.require_group(key)
            encoding.encode_attrs(target.attrs, values, where=key)

    run_entry: dict[str, Any] = {}
    placed: dict[str, Any] = {}  # a gathered state's offset in the file and checksum (taken in memory)

    def hash_closed(tmp: Path) -> None:  # the manifest's entry of the run file: its bytes before the rename
        looked = [0]

        def each_block(position: int, block: memoryview) -> None:
            while between is not None and position + len(block) >= (looked[0] + 1) * HASH_LOOK_BYTES:
                looked[0] += 1
                between()

        entry = _entry_around_state(tmp, state, placed, each_block) if state is not None else None
        run_entry.update(entry or file_entry(tmp, each_block=each_block), name=path.name)

    def needs_bytes() -> int:  # at least: the state's and the uncompressed tables' bytes
        tables_bytes = [array.nbytes if _in_pieces(array) else np.asarray(array).nbytes for array in tables.values()]
        return sum(n for n in tables_bytes if not compress or n <= COMPRESS_ABOVE_BYTES) + \
            (state.nbytes if state is not None else 0)

    written = atomic_h5_write(path, fill, started=collective_state.tmp_path if collective_state is not None else None,
                              stale=[run_manifest_path(path)] if manifest else [], between=between,
                              closed=hash_closed if manifest else None, needs_bytes=needs_bytes, with_fd=True)
    if manifest:
        try:
            if state_slabs is not None and state_slabs.file_entries:  # hashed by the ranks that wrote them
                write_run_manifest(written, entries=state_slabs.file_entries, run_entry=run_entry,
                                   facts=manifest_facts)
            else:
                write_run_manifest(written, state_slabs.paths if state_slabs is not None else (), run_entry=run_entry,
                                   facts=manifest_facts)
        except DqsimError as exc:
            raise DqsimError(f"{written}: written whole, but not its manifest: {exc}; dqsim inspect, plot and "
                             "merge read it unverified, with a note") from None
    return written
