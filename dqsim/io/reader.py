"""Read a run file back as Python values and NumPy arrays.

:func:`open_run` checks that the file is a dqsim run file of a schema this
version understands and reads its attributes and table names; the file is
then closed again, and each :meth:`RunFile.table` or :meth:`RunFile.state`
call reopens it, so a :class:`RunFile` holds no HDF5 handle.

:meth:`RunFile.state` never returns unverified data: a gathered state is
checked against its stored checksum; a state stored as per-rank slabs (slab
files or one collectively written dataset) is checked slab by slab
(existence, shape, checksum) because HDF5 would read a missing slab file as
zeros without any error. :meth:`RunFile.state_pieces` checks only the slabs
a range overlaps, so ranks reading their own parts verify in parallel
(:mod:`dqsim.io.stored_state`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import h5py
import numpy as np

import dqsim
from dqsim.errors import DqsimError
from dqsim.io import encoding, manifest
from dqsim.io.slabs import READ_CHUNK_AMPLITUDES
from dqsim.io.stored_state import STATE_DATASET, StateLayout, read_range

#: The dataset (since 2026-12-07 (morning) in ``dqc`` run files, since 2026-12-07 (later) in ``trotter`` and
#: ``cloud`` ones) or, in older files, the root attribute that holds the network's node names
#: (:meth:`RunFile.node_names`).
NODE_NAMES = "node_names"


def _open(path: Path) -> h5py.File:
    if not path.exists():
        raise DqsimError(f"{path}: file not found")
    if not path.is_file():
        raise DqsimError(f"{path}: not a file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        reason = str(exc).split("(", 1)[-1].rstrip(")") if "(" in str(exc) else str(exc)
        job = f": a job file? dqsim run {path} writes the output to read" if path.suffix == ".toml" else ""
        raise DqsimError(f"{path}: not a readable HDF5 file ({reason}){job}") from None


class RunFile:
    """A run file's contents, read lazily.

    Attributes:
        path: the file.
        attrs: root attributes (JSON-encoded values decoded back), including
            ``schema_version``, ``dqsim_version`` and ``created_utc``.
        tables: dataset paths other than ``state``, in file order.
        has_state: whether the file stores a final state vector.
        state_info: ``{"shape", "dtype", "num_qubits", "layout", "num_slabs"}``
            of the state, or None; ``layout`` is ``"contiguous"`` (gathered),
            ``"slabs"`` (slab files) or ``"collective"`` (parallel HDF5), and
            ``num_slabs`` is None for ``"contiguous"``.

    Examples:
        >>> import tempfile
        >>> from dqsim.io.writer import write_run_file
        >>> p = write_run_file(f"{tempfile.mkdtemp()}/r.h5", attrs={"options": {"shots": 10}},
        ...                    tables={"t": np.arange(3)}, state=np.array([1, 0], dtype=np.complex64))
        >>> run = open_run(p)
        >>> run.attrs["options"], run.tables, run.table("t").tolist(), run.state_info["num_qubits"]
        ({'shots': 10}, ('t',), [0, 1, 2], 1)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with _open(self.path) as h5:
            try:
                self.attrs: dict[str, Any] = encoding.decode_attrs(h5.attrs)
                names: list[str] = []
                h5.visititems(lambda name, obj: names.append(name)
                              if isinstance(obj, h5py.Dataset) and name != "state" else None)
                self.tables: tuple[str, ...] = tuple(names)
                self.state_info: Optional[dict[str, Any]] = None
                if isinstance(h5.get("state"), h5py.Dataset):
                    ds = h5["state"]
                    state_attrs = encoding.decode_attrs(ds.attrs)
                    layout = "slabs" if ds.is_virtual else str(state_attrs.get("layout", "contiguous"))
                    self.state_info = {
                        "shape": tuple(ds.shape), "dtype": str(ds.dtype),
                        "num_qubits": state_attrs.get("num_qubits"), "layout": layout,
                        "num_slabs": (len(state_attrs.get("slab_files", [])) if layout == "slabs" else
                                      state_attrs.get("num_slabs") if layout == "collective" else None),
                    }
            except (OSError, KeyError, ValueError) as exc:
                raise DqsimError(f"{self.path}: damaged HDF5 file ({exc})") from None
        kind = self.attrs.get("dqsim_file", "run")
        if kind == "state-slab":
            raise DqsimError(f"{self.path}: is a state slab of another run file; open the run file instead")
        version = self.attrs.get("schema_version")
        if not isinstance(version, int):
            raise DqsimError(f"{self.path}: not a dqsim run file (no integer schema_version attribute)")
        if version > dqsim.SCHEMA_VERSION:
            raise DqsimError(f"{self.path}: schema_version = {version} is newer than this dqsim "
                             f"{dqsim.__version__} reads (<= {dqsim.SCHEMA_VERSION}); upgrade dqsim")

    def __repr__(self) -> str:
        return f"open_run({str(self.path)!r})"

    def __enter__(self) -> "RunFile":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None

    @property
    def has_state(self) -> bool:
        return self.state_info is not None

    def _dataset(self, h5: h5py.File, name: str) -> h5py.Dataset:
        key = name.strip("/")
        if key not in self.tables:
            state = (f" ('{STATE_DATASET}' is the saved state vector, not a table: read it with "
                     f"dqsim.io.open_run(PATH).state())" if key == STATE_DATASET and self.has_state else "")
            raise DqsimError(f"{self.path}: no table {name!r}{state}; tables: {', '.join(self.tables) or '(none)'}")
        return h5[key]

    def table(self, name: str) -> np.ndarray:
        """The table ``name`` as a NumPy array, string fields as ``str``.

        Raises:
            DqsimError: no such table, or the file cannot be read.
        """
        return self._read(name, ())

    def table_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` (first axis) of the table ``name``, read alone (not the whole table).

        Raises:
            DqsimError: no such table, or the file cannot be read.
        """
        return self._read(name, slice(start, stop))

    def _read(self, name: str, selection) -> np.ndarray:
        """``selection`` (``()``: all of it) of the table ``name``, string fields as ``str``."""
        with _open(self.path) as h5:
            return self._read_open(self._dataset(h5, name), name, selection)

    def _read_open(self, ds: h5py.Dataset, name: str, selection) -> np.ndarray:
        """``selection`` of the dataset ``ds`` (the table ``name``) of the open file, string fields as ``str``."""
        try:
            return encoding.from_stored(ds[selection], ds.dtype)
        except OSError as exc:
            raise DqsimError(f"{self.path}: table {name!r} cannot be read ({exc})") from None

    def node_names(self) -> list[str] | None:
        """The names of the run's network nodes in index order (``dqc``, ``trotter``, ``cloud``), from either
        layout: the ``node_names`` dataset (a ``dqc`` run file since 2026-12-07 (morning), a ``trotter`` or
        ``cloud`` one since 2026-12-07 (later), written a piece at a time) or the root attribute ``node_names``
        (a file written before); ``None`` where the file has neither, or where it is a merged file whose tasks'
        networks differ (its ``node_names`` table then has a ``task`` column: read it with :meth:`table`). The
        file is opened once.

        Raises:
            DqsimError: the dataset cannot be read.

        Examples:
            >>> import tempfile
            >>> from dqsim.io.writer import write_run_file
            >>> folder = tempfile.mkdtemp()
            >>> new = write_run_file(f"{folder}/new.h5", attrs={}, tables={"node_names": np.array(["a", "bc"])})
            >>> old = write_run_file(f"{folder}/old.h5", attrs={"node_names": ["a", "bc"]}, tables={})
            >>> open_run(new).node_names(), open_run(old).node_names(), open_run(old).tables
            (['a', 'bc'], ['a', 'bc'], ())
        """
        if NODE_NAMES in self.tables:
            with _open(self.path) as h5:
                ds = self._dataset(h5, NODE_NAMES)
                return None if ds.dtype.names is not None else self._read_open(ds, NODE_NAMES, ()).tolist()
        names = self.attrs.get(NODE_NAMES)
        return None if names is None else [str(name) for name in names]

    def num_rows(self, name: str) -> int:
        """Length of the table's first axis (1 for a scalar), without reading it."""
        with _open(self.path) as h5:
            ds = self._dataset(h5, name)
            return int(ds.shape[0]) if ds.shape else 1

    def table_dtype(self, name: str) -> np.dtype:
        """The dtype :meth:`table` returns, without reading the data (strings as ``U``)."""
        with _open(self.path) as h5:
            ds = self._dataset(h5, name)
            return encoding.from_stored(np.empty((0,), dtype=ds.dtype), ds.dtype).dtype

    def attrs_of(self, name: str) -> dict[str, Any]:
        """Attributes of the dataset or group ``name`` (e.g. units), decoded.

        Raises:
            DqsimError: no such object.
        """
        with _open(self.path) as h5:
            key = name.strip("/") or "/"
            if key not in h5:
                raise DqsimError(f"{self.path}: no dataset or group {name!r}")
            return encoding.decode_attrs(h5[key].attrs)

    def units(self, name: str) -> dict[str, str]:
        """Column -> unit of the table ``name``, for every column that has a unit (:mod:`dqsim.io.units`)."""
        return dict(self.attrs_of(name).get("units") or {})

    def columns(self, name: str) -> dict[str, np.ndarray]:
        """The table ``name`` as 1-D columns, in order: a field of shape ``(k,)`` becomes ``field[0]`` ...
        ``field[k-1]``; a plain array's column is named after the table.

        Raises:
            DqsimError: no such table, or one of more than two dimensions.
        """
        table = self.table(name)
        if table.dtype.names is None:
            base = name.rsplit("/", 1)[-1]
            if table.ndim <= 1:
                return {base: table.reshape(-1)}
            if table.ndim == 2:
                return {f"{base}[{i}]": table[:, i] for i in range(table.shape[1])}
            raise DqsimError(f"{self.path}: table {name!r} has {table.ndim} dimensions; read it with table()")
        table = table.reshape(-1)
        out: dict[str, np.ndarray] = {}
        for field in table.dtype.names:
            values = table[field]
            if values.ndim == 1:
                out[field] = values
            else:
                flat = values.reshape(len(table), -1)
                out.update({f"{field}[{i}]": flat[:, i] for i in range(flat.shape[1])})
        return out

    def to_pandas(self, name: str):
        """The table ``name`` as a ``pandas.DataFrame``; its units in ``df.attrs["units"]``.

        Needs pandas (``pip install 'dqsim[analysis]'``). Strings are ``str``.

        Raises:
            DqsimError: pandas is missing, or as :meth:`columns`.
        """
        try:
            import pandas  # noqa: PLC0415 - optional: the analysis extra
        except ImportError:
            raise DqsimError("to_pandas needs pandas: pip install 'dqsim[analysis]'") from None
        frame = pandas.DataFrame(self.columns(name))
        frame.attrs["units"] = self.units(name)
        return frame

    def to_xarray(self, name: str):
        """The table ``name`` as an ``xarray.Dataset``: one variable per column along dimension ``row``,
        each with its ``units`` attribute; the table's other attributes on the dataset.

        Needs xarray (``pip install 'dqsim[analysis]'``).

        Raises:
            DqsimError: xarray is missing, or as :meth:`columns`.
        """
        try:
            import xarray  # noqa: PLC0415 - optional: the analysis extra
        except ImportError:
            raise DqsimError("to_xarray needs xarray: pip install 'dqsim[analysis]'") from None
        attrs = self.attrs_of(name)
        units = dict(attrs.pop("units", None) or {})
        variables = {column: ("row", values, {"units": units[column.split("[")[0]]}
                              if column.split("[")[0] in units else {})
                     for column, values in self.columns(name).items()}
        return xarray.Dataset(variables, attrs={k: v for k, v in attrs.items() if isinstance(v, (str, int, float))})

    def _check_has_state(self) -> dict[str, Any]:
        if self.state_info is None:
            raise DqsimError(f"{self.path}: no state stored (run with [simulation].save_state = true)")
        return self.state_info

    def _layout(self) -> StateLayout:
        self._check_has_state()
        with _open(self.path) as h5:
            try:
                return StateLayout.of(self.path, h5[STATE_DATASET])
            except (OSError, ValueError) as exc:
                raise DqsimError(f"{self.path}: damaged HDF5 file ({exc})") from None

    def check_state_files(self) -> None:
        """Cheap check that every part of the stored state is present, reading no amplitudes.

        Slab files: each exists with dataset ``slab`` of the right shape and
        dtype. Collective and gathered states: the dataset has the shape its
        attributes describe. Checksums are not computed (:meth:`verify_state`).

        Raises:
            DqsimError: one line naming the missing or malformed part.
        """
        self._layout().check_files()

    def _read_state(self, out: Optional[np.ndarray]) -> float:
        """Read and verify every slab, into ``out`` if given; return sum |amplitude|**2."""
        layout = self._layout()
        layout.check_files()
        norm_squared = 0.0
        for offset, chunk in read_range(layout, 0, layout.size, piece=READ_CHUNK_AMPLITUDES, verify=True):
            if out is not None:
                out[offset:offset + chunk.shape[0]] = chunk
            norm_squared += float(np.vdot(chunk, chunk).real)
        return norm_squared

    def state(self) -> np.ndarray:
        """The stored final state vector (little-endian qubit order), verified.

        For a state stored as slabs, first checks that every slab file exists
        with the right shape, then reads and checksums each one.

        Raises:
            DqsimError: no state stored, or a slab is missing or corrupt (the
                message names it), or the checksum of a gathered state differs.
        """
        info = self._check_has_state()
        out = np.empty(info["shape"], dtype=np.dtype(info["dtype"]))
        self._read_state(out)
        return out

    def state_pieces(self, start: int, stop: int, *, piece: int = 1 << 22, verify: bool = True,
                     into: Optional[np.ndarray] = None):
        """Yield ``(offset, array)`` pieces of amplitudes ``start … stop-1`` of the stored state.

        ``offset`` counts from ``start``; pieces have at most ``piece``
        amplitudes. A rank resuming a checkpoint reads its own shard. Every
        slab file is first checked to exist with the right shape
        (:meth:`check_state_files`). With ``verify`` the checksums of the
        slabs that overlap the range, and only those, are checked: each such
        slab is read once while hashing and the range is yielded from what
        was read, so ranks reading their own slabs verify in parallel and
        read their bytes once. A slab's checksum is compared after its last
        piece is read, before the iteration goes on: iterate to the end
        before trusting the data (a corrupt slab raises DqsimError mid-way).

        ``into``: a host array of ``stop - start`` amplitudes of the state's
        dtype to read into; the pieces are then views of it (:func:`read_range`).

        Raises:
            DqsimError: the range is outside the state, or an overlapping
                slab is missing or corrupt (one line, naming it).
        """
        info = self._check_has_state()
        if not 0 <= start <= stop <= info["shape"][0]:
            raise DqsimError(f"{self.path}: amplitudes {start}..{stop} are outside the stored state "
                             f"of {info['shape'][0]}")
        layout = self._layout()
        layout.check_files()
        for offset, chunk in read_range(layout, start, stop, piece=piece, verify=verify, into=into):
            yield offset - start, chunk

    def verify_state(self) -> float:
        """Check the stored state (every slab's checksum) without keeping it in memory.

        Returns:
            The state's norm, sqrt(sum |amplitude|**2).

        Raises:
            DqsimError: as :meth:`state`.
        """
        return float(np.sqrt(self._read_state(None)))


def open_run(path: str | os.PathLike) -> RunFile:
    """Open a run file written by :func:`dqsim.io.writer.write_run_file`.

    Args:
        path: the HDF5 file.

    Returns:
        A :class:`RunFile` (attributes and table names already read).

    Raises:
        DqsimError: one line: the file is missing, not HDF5 or truncated, is
            not a dqsim run file, or has a newer ``schema_version`` than this
            dqsim reads.
    """
    return RunFile(path)


def whole_run_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """The root attributes of a run file that is whole as its manifest lists it, its own bytes checked first.

    Whole as :func:`dqsim.io.manifest.run_file_unfinished` says (the manifest, written last, and every file it
    lists at its size); then the run file's bytes are hashed against the manifest before HDF5 opens it (its
    state's slab files, which may be large, only by size). For ``dqsim clean`` and ``dqsim run
    --skip-finished``: is the job's output a finished run's?

    Raises:
        DqsimError: one line: why the file is not whole, or is damaged, or is no dqsim run file.
    """
    path = Path(path)
    unfinished = manifest.run_file_unfinished(path)
    if unfinished is not None:
        raise DqsimError(unfinished)
    listed = manifest.run_manifest_path(path)
    manifest.verify_files(listed, manifest.read_manifest(listed, kind="run")["files"][:1])
    return open_run(path).attrs
