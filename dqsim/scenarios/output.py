"""What a scenario hands back: :class:`ScenarioOutput`, and helpers to build its tables and attributes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from dqsim.network.node import longest_name, names_at

__all__ = ["ScenarioOutput", "TableInPieces", "RecordPieces", "record_table", "circuit_attributes", "format_stderr",
           "standard_error", "node_names_table", "add_node_names"]

#: The rank that writes the run file (:mod:`dqsim.cli.main`): a table only the write reads is made there alone.
WRITING_RANK = 0


@dataclass
class ScenarioOutput:
    """What a scenario hands to the output writer (identical on every rank, but for the tables only the write
    reads, made by the rank that writes alone: :data:`WRITING_RANK`).

    Attributes:
        attrs: scenario-specific root attributes of the output file.
        tables: name → NumPy array (structured for record tables), or a :class:`TableInPieces` (a long
            record table the writer asks for a piece at a time).
        table_attrs: table name → its attributes (units).
        state: the final sharded state (written when ``save_state``), or ``None``.
        summary: lines printed for a person after the run.
    """

    attrs: dict[str, Any]
    tables: dict[str, "np.ndarray | TableInPieces"]
    table_attrs: dict[str, dict] = field(default_factory=dict)
    state: Any = None
    summary: list[str] = field(default_factory=list)


#: Rows made at a time when a Python-API caller iterates over a :class:`TableInPieces`.
ITER_PIECE_ROWS = 65_536


class TableInPieces:
    """A 1-D record table of ``size`` rows of ``dtype`` that is never held whole: ``make(start, stop)`` gives
    rows ``start:stop`` (a structured array of ``dtype``), e.g. from a network's arrays.

    The run file's writer (:func:`dqsim.io.write_run_file`) asks for it a piece at a time
    (:meth:`table_rows`) and writes each piece before it asks for the next, so a table of a row per link of
    an ``all_to_all`` of 2,048 nodes (2,096,128 rows, 88 bytes each with 7-character names) is never built
    whole. ``np.asarray`` of it builds it whole (for a reader that wants it so).

    Examples:
        >>> t = TableInPieces(np.dtype([("i", "i8")]), 5, lambda a, b: np.array([(i,) for i in range(a, b)],
        ...                                                                   dtype=[("i", "i8")]))
        >>> t.shape, t.nbytes, t.table_rows(3, 9)["i"].tolist(), np.asarray(t)["i"].tolist()
        ((5,), 40, [3, 4], [0, 1, 2, 3, 4])
        >>> [int(row["i"]) for row in t], t["i"].tolist(), t[1:3]["i"].tolist(), int(t[-1]["i"])
        ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [1, 2], 4)
    """

    __slots__ = ("dtype", "size", "_make")
    ndim = 1

    def __init__(self, dtype: np.dtype, size: int, make):
        self.dtype, self.size, self._make = np.dtype(dtype), int(size), make

    @property
    def shape(self) -> tuple[int]:
        return (self.size,)

    @property
    def nbytes(self) -> int:
        """Bytes of the table built whole (as :attr:`numpy.ndarray.nbytes`)."""
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.size

    def table_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (clipped to the table, as a slice is), a structured array of :attr:`dtype`."""
        start, stop = max(0, min(start, self.size)), max(0, min(stop, self.size))
        return self._make(start, max(start, stop))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self.table_rows(0, self.size)
        return whole if dtype is None else whole.astype(dtype)

    def __iter__(self):
        """The rows one by one, made :data:`ITER_PIECE_ROWS` at a time (a Python-API caller's loop)."""
        for start in range(0, self.size, ITER_PIECE_ROWS):
            yield from self.table_rows(start, start + ITER_PIECE_ROWS)

    def __getitem__(self, key):
        """As on the table built whole: a column by name, a row, a slice (a slice is made alone)."""
        if isinstance(key, slice) and key.step in (None, 1):
            start, stop, _ = key.indices(self.size)
            return self.table_rows(start, stop)
        return np.asarray(self)[key]

    def tolist(self) -> list[tuple]:
        """The rows as tuples (as :meth:`numpy.ndarray.tolist`)."""
        return np.asarray(self).tolist()


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean of ``values`` (sample standard deviation / √n); NaN for one value.

    The spread is taken of the values less the first ("shifted data", Chan, Golub & LeVeque, Am. Stat. 37, 242
    (1983)): equal values give exactly 0 (``np.std`` of them directly gives ~1e-17 where their float mean is
    not exactly their value; until 2026-12-07 (night) a repeater's ``fidelity_stderr`` was so).

    Examples:
        >>> standard_error([1.0, 3.0]), math.isnan(standard_error([2.0]))
        (1.0, True)
        >>> standard_error([0.980792] * 30)
        0.0
    """
    if len(values) < 2:
        return math.nan
    array = np.asarray(values, dtype=np.float64)
    return float(np.std(array - array[0], ddof=1) / math.sqrt(len(array)))


def format_stderr(value: float, decimals: int = 4) -> str:
    """A standard error for a summary line: ``decimals`` decimals, or two significant digits where those
    would show it as 0 (``± 0.0000`` reads as exact or as a rounding artefact).

    Examples:
        >>> format_stderr(0.0123), format_stderr(2.14e-5), format_stderr(0.0), format_stderr(float("nan"))
        ('0.0123', '2.1e-05', '0.0000', 'nan')
    """
    if value != 0.0 and abs(value) < 0.5 * 10.0 ** -decimals:
        return f"{value:.1e}"
    return f"{value:.{decimals}f}"


#: Rows a :class:`RecordPieces` holds as Python tuples before it makes them a structured array.
RECORD_PIECE_ROWS = 1 << 14


class RecordPieces:
    """The rows of a record table of numeric columns, made one by one and kept as structured arrays of at most
    :data:`RECORD_PIECE_ROWS` rows: a row is a Python tuple only until its piece is full (a ``qkd`` star's
    ``end_to_end`` row and its two ``relay_links`` rows take ~1 kB as tuples, 200 bytes as arrays; since
    2026-12-07, late night). :meth:`table` is what :func:`record_table` of every row gives, the same dtype and
    values, without the rows held whole as tuples.

    Examples:
        >>> rows = RecordPieces([("a", "i8"), ("b", "f8")], piece_rows=2)
        >>> rows.extend([(1, 0.5), (2, 1.5), (3, 2.5)]); len(rows), rows.head(2)
        (3, [(1, 0.5), (2, 1.5)])
        >>> more = RecordPieces([("a", "i8"), ("b", "f8")]); more.append((4, 3.5)); rows.add(more)
        >>> table = rows.table(); len(table), table["a"].tolist(), type(table).__name__
        (4, [1, 2, 3, 4], 'TableInPieces')
        >>> np.array_equal(np.asarray(table), record_table([(1, .5), (2, 1.5), (3, 2.5), (4, 3.5)],
        ...                                                 [("a", "i8"), ("b", "f8")]))
        True
        >>> [row for row in rows.rows()] == np.asarray(table).tolist()
        True
    """

    def __init__(self, fields: list[tuple[str, str]], piece_rows: int | None = None):
        self.dtype, self.piece_rows = np.dtype(fields), piece_rows or RECORD_PIECE_ROWS
        self._pieces: list[np.ndarray] = []
        self._open: list[tuple] = []

    def append(self, row: tuple) -> None:
        """One more row (a tuple in the columns' order)."""
        self._open.append(row)
        if len(self._open) >= self.piece_rows:
            self._close()

    def extend(self, rows) -> None:
        """More rows, in order."""
        for row in rows:
            self.append(row)

    def add(self, other: "RecordPieces") -> None:
        """``other``'s rows after these (its pieces taken over, not copied)."""
        self._close()
        other._close()
        self._pieces += other._pieces

    def _close(self) -> None:
        if self._open:
            self._pieces.append(np.array(self._open, dtype=self.dtype))
            self._open = []

    def __len__(self) -> int:
        return sum(len(piece) for piece in self._pieces) + len(self._open)

    def rows(self):
        """The rows as tuples, in order, a piece at a time."""
        for piece in self._pieces:
            yield from piece.tolist()
        yield from (np.array(self._open, dtype=self.dtype).tolist() if self._open else [])

    def head(self, count: int) -> list[tuple]:
        """The first ``count`` rows as tuples."""
        first = []
        for row in self.rows():
            if len(first) >= count:
                break
            first.append(row)
        return first

    def table(self) -> "np.ndarray | TableInPieces":
        """The table: the one piece itself, else a :class:`TableInPieces` over the pieces."""
        self._close()
        if len(self._pieces) <= 1:
            return self._pieces[0] if self._pieces else np.array([], dtype=self.dtype)
        starts = np.cumsum([0] + [len(piece) for piece in self._pieces])
        pieces = self._pieces

        def make(start: int, stop: int) -> np.ndarray:
            first = int(np.searchsorted(starts, start, side="right")) - 1
            parts = []
            while first < len(pieces) and starts[first] < stop:
                parts.append(pieces[first][max(0, start - starts[first]):stop - starts[first]])
                first += 1
            return np.concatenate(parts) if parts else np.array([], dtype=self.dtype)

        return TableInPieces(self.dtype, int(starts[-1]), make)


def record_table(rows: list[tuple], fields: list[tuple[str, str]]) -> np.ndarray:
    """A structured array from rows; ``"U"`` fields get the width of their longest value.

    Examples:
        >>> record_table([("ab", 3)], [("name", "U"), ("count", "i8")]).dtype.descr
        [('name', '<U2'), ('count', '<i8')]
    """
    dtype = []
    for i, (name, kind) in enumerate(fields):
        if kind == "U":
            kind = f"U{max([len(str(r[i])) for r in rows] or [1]) or 1}"
        dtype.append((name, kind))
    return np.array(rows, dtype=dtype)


def circuit_attributes(circuit, shots: int) -> dict:
    """The run-file attributes naming a circuit and its size, with the shots sampled from it."""
    return {"circuit_name": circuit.name, "num_qubits": circuit.num_qubits, "num_clbits": circuit.num_clbits,
            "num_gates": len(circuit.gates()), "shots": shots}


def node_names_table(names: Sequence[str]) -> TableInPieces:
    """The run file's ``node_names`` dataset: the nodes' names in index order (a 1-D ``str`` table), made a piece
    at a time as the writer asks for it (:func:`~dqsim.network.node.names_at`), so that a network's names, up to
    2^20 of them, are never all held as Python strings at once. Until 2026-12-07 (morning) a ``dqc`` run file's
    names, and until 2026-12-07 (later) a ``trotter`` or ``cloud`` one's, were the root attribute ``node_names``,
    a JSON list made whole (:meth:`dqsim.io.RunFile.node_names` reads both). Its dtype's width is the longest
    name's, which walks every name of a list (not of a :class:`~dqsim.network.node.NumberedNames`): made by the
    rank that writes alone (:func:`add_node_names`).

    Examples:
        >>> from dqsim.network.node import NumberedNames
        >>> table = node_names_table(NumberedNames("node", 12))
        >>> table.dtype, table.table_rows(9, 20).tolist(), node_names_table(("a", "bcd")).tolist()
        (dtype('<U6'), ['node9', 'node10', 'node11'], ['a', 'bcd'])
    """
    return TableInPieces(np.dtype(f"U{max(longest_name(names), 1)}"), len(names),
                         lambda start, stop: names_at(names, np.arange(start, stop)))


def add_node_names(tables: dict, names: Sequence[str], rank: int) -> None:
    """Put the network's node names in a scenario's ``tables`` as the ``node_names`` dataset
    (:func:`node_names_table`), on the rank that writes the run file (:data:`WRITING_RANK`) alone: ``dqc``,
    ``trotter`` and ``cloud`` runs. The other ranks' ``tables`` go unwritten and are left as they are.

    Examples:
        >>> tables = {}
        >>> add_node_names(tables, ("a", "bb"), rank=1), tables
        (None, {})
        >>> add_node_names(tables, ("a", "bb"), rank=0); tables["node_names"].tolist()
        ['a', 'bb']
    """
    if rank == WRITING_RANK:
        tables["node_names"] = node_names_table(names)  # (dqsim.io.reader.NODE_NAMES reads it)
