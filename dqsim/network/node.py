"""One quantum processing node: its qubits, their memory times, gate times and errors."""

from __future__ import annotations

import math
import operator
from abc import abstractmethod
from array import array
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from operator import attrgetter, eq
from typing import Sequence

import numpy as np

from dqsim.errors import ConfigError
from dqsim.checks import check_int, check_real


@dataclass(frozen=True, kw_only=True)
class NodeSpec:
    """A quantum processor on the network.

    The defaults describe an ideal node (no decoherence, no errors,
    instantaneous operations); a job file sets the values of the hardware
    being modelled. All fields are validated on construction
    (:class:`dqsim.errors.ConfigError`, a ``ValueError``, naming the field,
    its value and the allowed range).

    Attributes:
        name: node name, a non-empty string without whitespace.
        num_data_qubits: qubits that hold computation data, >= 0.
        num_comm_qubits: communication qubits that hold halves of entangled
            pairs, >= 1.
        t1_s: energy relaxation time T1 of the memories, s, > 0 (``math.inf``
            allowed).
        t2_s: coherence time T2, s, in (0, 2·T1] (``math.inf`` allowed when
            T1 is infinite).
        gate_1q_duration_ps: duration of a one-qubit gate, ps, >= 0.
        gate_2q_duration_ps: duration of a two-qubit gate, ps, >= 0.
        measure_duration_ps: duration of a measurement, ps, >= 0. A
            ``[network.node]`` (dqc, trotter, cloud) allows at most 10**12
            (1 s, :data:`dqsim.jobs.network.MAX_NODE_DURATION_PS`) for each
            of the three.
        gate_1q_error_probability: depolarising error probability of a
            one-qubit gate, in [0, 1].
        gate_2q_error_probability: depolarising error probability of a
            two-qubit gate, in [0, 1].
        measure_error_probability: probability that a measurement reports
            the wrong outcome, in [0, 1].
        classical_processing_delay_ps: time the node takes to act on a
            classical message or a heralding station's click, ps, >= 0
            (:meth:`~dqsim.network.network.Network.latency_ps` adds it to
            every message; an EPR initiator waits it after the herald). A
            ``[network.node]`` (dqc, trotter, cloud) allows at most 10**12
            (1 s, :data:`dqsim.jobs.network.MAX_PROCESSING_DELAY_PS`).

    Examples:
        >>> node = NodeSpec(name="alice", num_data_qubits=4)
        >>> node.num_qubits
        5
        >>> NodeSpec(name="bob", t1_s=1.0, t2_s=3.0)
        Traceback (most recent call last):
            ...
        dqsim.errors.ConfigError: NodeSpec: t2_s must be at most 2*t1_s = 2 (T2 <= 2*T1), got 3.0
    """

    name: str
    num_data_qubits: int = 0
    num_comm_qubits: int = 1
    t1_s: float = math.inf
    t2_s: float = math.inf
    gate_1q_duration_ps: int = 0
    gate_2q_duration_ps: int = 0
    measure_duration_ps: int = 0
    gate_1q_error_probability: float = 0.0
    gate_2q_error_probability: float = 0.0
    measure_error_probability: float = 0.0
    classical_processing_delay_ps: int = 0

    def __post_init__(self) -> None:
        where = "NodeSpec"
        kw = {"error": ConfigError}
        _check_name(self.name)
        check_int(where, "num_data_qubits", self.num_data_qubits, 0, **kw)
        check_int(where, "num_comm_qubits", self.num_comm_qubits, 1, **kw)
        t1_s = check_real(where, "t1_s", self.t1_s, 0.0, low_open=True, allow_inf=True, **kw)
        t2_s = check_real(where, "t2_s", self.t2_s, 0.0, low_open=True, allow_inf=True, **kw)
        if t2_s > 2.0 * t1_s:
            raise ConfigError(
                f"{where}: t2_s must be at most 2*t1_s = {2.0 * t1_s:g} (T2 <= 2*T1), "
                f"got {self.t2_s!r}"
            )
        check_int(where, "gate_1q_duration_ps", self.gate_1q_duration_ps, 0, **kw)
        check_int(where, "gate_2q_duration_ps", self.gate_2q_duration_ps, 0, **kw)
        check_int(where, "measure_duration_ps", self.measure_duration_ps, 0, **kw)
        check_real(where, "gate_1q_error_probability", self.gate_1q_error_probability,
                   0.0, 1.0, **kw)
        check_real(where, "gate_2q_error_probability", self.gate_2q_error_probability,
                   0.0, 1.0, **kw)
        check_real(where, "measure_error_probability", self.measure_error_probability,
                   0.0, 1.0, **kw)
        check_int(where, "classical_processing_delay_ps", self.classical_processing_delay_ps,
                  0, **kw)

    def renamed(self, name: str) -> "NodeSpec":
        """The same hardware under another name; only the name is checked (the rest was, on construction).

        ``dataclasses.replace`` checks every field again: 20 ms for the 1,024
        nodes of a chain, 3 % of its run on one rank.

        Raises:
            ConfigError: an empty name or one with whitespace.

        Examples:
            >>> import dataclasses
            >>> spec = NodeSpec(name="n", t2_s=1.0)
            >>> spec.renamed("node7") == dataclasses.replace(spec, name="node7")
            True
        """
        return self.renamed_all([name])[0]

    def renamed_all(self, names: Sequence[str]) -> "NodeSpecs":
        """:meth:`renamed` under each of ``names``, the names checked in one pass: a :class:`NodeSpecs`, which
        holds this spec and the names and makes a node's spec when it is first read (the nodes of a job's
        ``[network]`` differ only in their names).

        Every rank of a run builds the network's nodes: a 1,024-node chain
        took ~9 M instructions in one :meth:`renamed` call per node (the
        name check, then a copy), ~2 M with one pass and a copy per node; a
        copy per node held 240 bytes (a 65,536-node line: 16 MB on every
        rank), a :class:`NodeSpecs` holds 8 bytes a node and a copy for the
        nodes read (2026-12-06).

        Raises:
            ConfigError: an empty name or one with whitespace (the first such, in order).

        Examples:
            >>> specs = NodeSpec(name="n", t2_s=1.0).renamed_all(["a", "b"])
            >>> [s.name for s in specs], specs[1] == NodeSpec(name="b", t2_s=1.0)
            (['a', 'b'], True)
            >>> NodeSpec(name="n").renamed_all(["a", "b c"])
            Traceback (most recent call last):
                ...
            dqsim.errors.ConfigError: NodeSpec: name must be a non-empty string without whitespace, got 'b c'
        """
        if isinstance(names, IndexedNames):  # checked when made (a prefix without whitespace and
            return NodeSpecs(self, names)  # digits; names read from a file split at whitespace)
        names = tuple(names)
        try:  # every name a non-empty string without whitespace: joined by spaces, they split back into themselves
            clean = " ".join(names).split() == list(names)
        except TypeError:  # a name that is not a string
            clean = False
        if not clean:
            for name in names:
                _check_name(name)  # raises at the first bad one
        return NodeSpecs(self, names)

    def _named(self, name: str) -> "NodeSpec":
        """A copy under ``name``, unchecked (a frozen dataclass: its fields are written into the instance dict)."""
        spec = object.__new__(NodeSpec)
        values = spec.__dict__
        values.update(self.__dict__)
        values["name"] = name
        return spec

    @property
    def num_qubits(self) -> int:
        """Data and communication qubits together."""
        return self.num_data_qubits + self.num_comm_qubits


class NodeSpecs(SequenceABC):
    """The :class:`NodeSpec` of every node of a network whose nodes differ only in their names
    (:meth:`NodeSpec.renamed_all`): a sequence whose item ``i`` is ``spec`` named ``names[i]``.

    It holds the one spec, the names and a copy for each node read by index (a program reads its own node's;
    kept, so reads of a node give one object); iterating makes each node's copy and keeps none. A network of
    many nodes so holds 8 bytes a node (the name's place) instead of a :class:`NodeSpec` copy (240 bytes).

    Args:
        spec: the hardware of every node (its own name unused).
        names: the nodes' names, in index order (checked by :meth:`NodeSpec.renamed_all`, not here).

    Examples:
        >>> specs = NodeSpecs(NodeSpec(name="n", num_comm_qubits=2), ("a", "b", "c"))
        >>> len(specs), specs[2].name, specs[-1] is specs[2], specs[0].num_comm_qubits
        (3, 'c', True, 2)
        >>> [s.name for s in specs[1:]], specs == [NodeSpec(name=n, num_comm_qubits=2) for n in "abc"]
        (['b', 'c'], True)
    """

    __slots__ = ("spec", "names", "_read")

    def __init__(self, spec: NodeSpec, names: Sequence[str]):
        self.spec = spec
        #: The names in index order: a tuple, or a :class:`NumberedNames` or :class:`PackedNames` (kept as it is:
        #: no string per node).
        self.names: Sequence[str] = names if isinstance(names, IndexedNames) else tuple(names)
        self._read: dict[int, NodeSpec] = {}

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self.names)))]
        spec = self._read.get(index)
        if spec is None:
            name = self.names[index]  # (raises IndexError past the end)
            if index < 0:
                index += len(self.names)
            spec = self._read.get(index)
            if spec is None:
                spec = self._read[index] = self.spec._named(name)
        return spec

    def __iter__(self):
        return map(self.spec._named, self.names)

    def __eq__(self, other) -> bool:
        if not isinstance(other, SequenceABC) or isinstance(other, str) or len(other) != len(self):
            return NotImplemented if not isinstance(other, SequenceABC) else False
        return all(a == b for a, b in zip(self, other))

    __hash__ = None

    def __reduce__(self):
        return NodeSpecs, (self.spec, self.names)

    def __repr__(self) -> str:
        return f"NodeSpecs({self.spec!r}, <{len(self.names)} names>)"


def node_values(nodes: Sequence[NodeSpec], field: str) -> list:
    """``[getattr(spec, field) for spec in nodes]``, a node's hardware field over the network, without a
    :class:`NodeSpec` copy per node where ``nodes`` is a :class:`NodeSpecs` (whose nodes share its spec's
    hardware: the one value, repeated; iterating it makes a copy per node under its name).

    Examples:
        >>> node_values(NodeSpecs(NodeSpec(name="n", num_comm_qubits=2), ("a", "b")), "num_comm_qubits")
        [2, 2]
        >>> node_values([NodeSpec(name="a"), NodeSpec(name="b", num_comm_qubits=3)], "num_comm_qubits")
        [1, 3]
    """
    if isinstance(nodes, NodeSpecs) and field != "name":
        return [getattr(nodes.spec, field)] * len(nodes)
    return [getattr(spec, field) for spec in nodes]


class ComputedSequence(SequenceABC):
    """A read-only sequence whose items are worked out when read, equal item by item to the plain sequence of them.

    The rules :class:`NumberedNames` and :class:`dqsim.circuit.distribute.QubitBlocks`, ``QubitOwners`` and
    ``NodeSteps`` share (each held once here, not written again in each): an index below 0 counts from the end,
    one out of range raises ``IndexError``, a slice gives the plain sequence (``_plain``: ``tuple``, or ``list``)
    of its items, iteration reads the items in order, and the sequence equals another of its own class by
    :meth:`_same` and a plain sequence of its ``_plain`` type item by item; a tuple-like one hashes and prints as
    the tuple of its items.

    A subclass gives ``__len__``, :meth:`_item` and :meth:`_same` (and may iterate faster than item by item).

    Examples:
        >>> class Squares(ComputedSequence):
        ...     def __len__(self): return 4
        ...     def _item(self, index): return index * index
        ...     def _same(self, other): return True
        >>> Squares()[-1], Squares()[1:3], Squares() == (0, 1, 4, 9), Squares()
        (9, (1, 4), True, (0, 1, 4, 9))
    """

    __slots__ = ()

    #: The plain sequence type the items are compared with and sliced into.
    _plain: type = tuple

    @abstractmethod
    def _item(self, index: int):
        """Item ``index``, ``0 <= index < len(self)``."""

    @abstractmethod
    def _same(self, other) -> bool:
        """Whether ``other``, of this class, holds the same items (without reading every one where it can)."""

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self._plain(map(self._item, range(*index.indices(len(self)))))
        index = operator.index(index)
        size = len(self)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError(f"{type(self).__name__} index out of range")
        return self._item(index)

    def __iter__(self):
        return map(self._item, range(len(self)))

    def __eq__(self, other) -> bool:
        if isinstance(other, type(self)):
            return self._same(other)
        if isinstance(other, self._plain):  # (a tuple-like one, as a tuple, never equals a list)
            return len(other) == len(self) and all(map(eq, self, other))
        return NotImplemented

    def __hash__(self) -> int:
        if self._plain is not tuple:
            raise TypeError(f"unhashable type: {type(self).__name__!r}")
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(self._plain(self))


class RepeatedValue(ComputedSequence):
    """One value at every index ``0..length-1`` (a list's equal): a per-node table whose nodes all share the value,
    held in O(1) bytes (``[value] * length`` holds 8 bytes an item).

    Examples:
        >>> times = RepeatedValue(2.5, 3)
        >>> len(times), times[-1], times == [2.5, 2.5, 2.5], times[1:], times.value
        (3, 2.5, True, [2.5, 2.5], 2.5)
        >>> times[3]
        Traceback (most recent call last):
        IndexError: RepeatedValue index out of range
    """

    __slots__ = ("value", "_length")
    _plain = list

    def __init__(self, value, length: int):
        self.value = value
        self._length = int(length)

    def __len__(self) -> int:
        return self._length

    def _item(self, index: int):
        return self.value

    def _same(self, other) -> bool:
        return self._length == other._length and self.value == other.value


def node_table(nodes: Sequence[NodeSpec], field: str) -> Sequence[float]:
    """A float hardware field of every node (:func:`node_values`) as a compact table: a :class:`RepeatedValue`
    where ``nodes`` is a :class:`NodeSpecs` (one value for all), else an ``array("d")`` (8 bytes a node, not a list
    of float objects).

    Examples:
        >>> node_table(NodeSpecs(NodeSpec(name="n", t1_s=2.0, t2_s=1.0), ("a", "b")), "t1_s")
        [2.0, 2.0]
        >>> node_table([NodeSpec(name="a", t1_s=1.0, t2_s=1.5), NodeSpec(name="b")], "t2_s")
        array('d', [1.5, inf])
    """
    if isinstance(nodes, NodeSpecs):
        return RepeatedValue(float(getattr(nodes.spec, field)), len(nodes))
    return array("d", map(attrgetter(field), nodes))


class IndexedNames(ComputedSequence):
    """Node names that find a name's index without a dictionary of every name: :meth:`index`, :meth:`count` and
    ``in`` from the subclass's :meth:`index_of` (:class:`NumberedNames` reads it off the name, :class:`PackedNames`
    bisects its sorted order)."""

    __slots__ = ()

    @abstractmethod
    def index_of(self, name) -> int | None:
        """The index of ``name`` among these names, ``None`` where it is not one of them."""

    def index(self, name, start: int = 0, stop: int | None = None) -> int:
        """The index of ``name`` (as ``tuple.index``).

        Raises:
            ValueError: ``name`` is not one of the names (in ``start:stop``).
        """
        index = self.index_of(name)
        lo, hi, _step = slice(start, stop).indices(len(self))
        if index is None or not lo <= index < hi:
            raise ValueError(f"{name!r} is not in {self._described()}")
        return index

    def _described(self) -> str:
        """How :meth:`index`'s error names these names."""
        return f"the {len(self)} {type(self).__name__}"

    def count(self, name) -> int:
        return 0 if self.index_of(name) is None else 1

    def __contains__(self, name) -> bool:
        return self.index_of(name) is not None


def _numbered_index(name, prefix: str) -> int | None:
    """The number ``i`` where ``name`` is ``f"{prefix}{i}"`` for an integer ``i >= 0``, else ``None``: ASCII decimal
    digits only (``str.isdigit`` also takes '²' and other scripts' digits), no leading zero, so one name a number.

    Examples:
        >>> [_numbered_index(name, "q") for name in ("q12", "q0", "q012", "q²")]
        [12, 0, None, None]
    """
    if type(name) is not str or not name.startswith(prefix):
        return None
    digits = name[len(prefix):]
    if not (digits.isascii() and digits.isdigit()) or (digits[0] == "0" and len(digits) > 1):
        return None
    return int(digits)


class NumberedNames(IndexedNames):
    """The node names ``prefix0``, ``prefix1``, ..., ``prefix{n-1}``, made when read, with their index worked out
    from the name: the names a job's generated topology gives its nodes (``node0``, ``node1``, ...,
    :meth:`dqsim.jobs.network.NetworkSection.node_name_sequence`).

    A sequence equal to the tuple of those names (equal to it, item by item, in its hash and its ``repr``), that
    holds no string per node and no dictionary from name to index: every rank builds the whole network, and a
    65,536-node line's names and their index took ~120 bytes a node (2026-12-06). :meth:`index` parses the name
    instead: the prefix, then the index in decimal digits without a leading zero, below ``len(self)``.

    Args:
        prefix: what every name starts with, without whitespace (may be empty: the names are then ``0``, ``1``, ...).
        num_names: how many names, >= 0.

    Raises:
        ConfigError: a prefix with whitespace, a negative count.

    Examples:
        >>> names = NumberedNames("node", 12)
        >>> names[0], names[-1], len(names), names.index("node11"), "node12" in names, "node01" in names
        ('node0', 'node11', 12, 11, False, False)
        >>> names[1:3], names == tuple(f"node{i}" for i in range(12)), NumberedNames("q", 2)
        (('node1', 'node2'), True, ('q0', 'q1'))
    """

    __slots__ = ("prefix", "num_names")

    def __init__(self, prefix: str, num_names: int):
        if not isinstance(prefix, str) or (prefix and prefix.split() != [prefix]):
            raise ConfigError(f"NumberedNames: prefix must be a string without whitespace, got {prefix!r}")
        if isinstance(num_names, bool) or not isinstance(num_names, int) or num_names < 0:
            raise ConfigError(f"NumberedNames: num_names must be an integer >= 0, got {num_names!r}")
        self.prefix, self.num_names = prefix, num_names

    def __len__(self) -> int:
        return self.num_names

    def _item(self, index: int) -> str:
        return f"{self.prefix}{index}"

    def __iter__(self):
        return map(f"{self.prefix}{{}}".format, range(self.num_names))

    def __reversed__(self):
        return map(f"{self.prefix}{{}}".format, range(self.num_names - 1, -1, -1))

    def index_of(self, name) -> int | None:
        """The index of ``name`` among these names, ``None`` where it is not one of them (no search)."""
        index = _numbered_index(name, self.prefix)
        return index if index is not None and index < self.num_names else None

    def _described(self) -> str:
        return f"NumberedNames({self.prefix!r}, {self.num_names})"

    def _same(self, other: "NumberedNames") -> bool:
        return self.num_names == other.num_names and (self.prefix == other.prefix or not self.num_names)

    def __reduce__(self):
        return NumberedNames, (self.prefix, self.num_names)


class PackedNames(IndexedNames):
    """Node names read from a file (a job's ``[network].edges_file``), held as one UTF-8 byte string and arrays:
    a sequence equal to the tuple of the names (item by item, in its hash and its ``repr``) without a string per
    node or a dictionary from name to index.

    Name ``i`` is ``blob[offsets[i]:offsets[i + 1]]`` decoded, made when read. :meth:`index_of` searches the
    names in sorted order (``order``: the indices sorted by name; UTF-8 bytes sort as their strings do) by
    bisection, ~20 comparisons at 2^20 names. A name then costs its bytes and 12 (an int64 offset, an int32 place
    in the order), where a tuple of strings with a dictionary of their indices took ~120 bytes a node
    (bench/results/network-edges-file-vm-20261207.md).

    Args:
        names: the names in index order (unique, non-empty, without whitespace: checked where they are read).

    Examples:
        >>> names = PackedNames(["b", "a", "node7", "é"])
        >>> names[0], names[-1], len(names), names.index("node7"), "c" in names, names.index_of("a")
        ('b', 'é', 4, 2, False, 1)
        >>> names == ("b", "a", "node7", "é"), names[1:3], PackedNames(names) == names
        (True, ('a', 'node7'), True)
    """

    __slots__ = ("blob", "offsets", "order")

    def __init__(self, names: Sequence[str]):
        names = list(names)
        text = "".join(names)
        self.blob: bytes = text.encode()  # (no bytes object per name: ~40 MB at 2^20 names until 2026-12-07 (later))
        if len(self.blob) == len(text):  # ASCII: a byte a character
            lengths = np.fromiter(map(len, names), dtype=np.int64, count=len(names))
        else:
            lengths = np.fromiter((len(name.encode()) for name in names), dtype=np.int64, count=len(names))
        del text
        self.offsets: np.ndarray = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        del lengths
        dtype = np.int32 if len(names) < 2**31 else np.int64
        self.order: np.ndarray = np.array(sorted(range(len(names)), key=names.__getitem__), dtype=dtype)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def _item(self, index: int) -> str:
        return self.blob[self.offsets[index]:self.offsets[index + 1]].decode()

    def __iter__(self):
        blob, bounds = self.blob, self.offsets.tolist()
        return (blob[lo:hi].decode() for lo, hi in zip(bounds, bounds[1:]))

    def index_of(self, name) -> int | None:
        """The index of ``name`` among these names, ``None`` where it is not one of them (a bisection)."""
        if type(name) is not str:
            return None
        wanted = name.encode()
        blob, offsets, order = self.blob, self.offsets, self.order
        lo, hi = 0, len(order)
        while lo < hi:
            middle = (lo + hi) // 2
            at = int(order[middle])
            if blob[offsets[at]:offsets[at + 1]] < wanted:
                lo = middle + 1
            else:
                hi = middle
        if lo < len(order):
            at = int(order[lo])
            if blob[offsets[at]:offsets[at + 1]] == wanted:
                return at
        return None

    @classmethod
    def from_parts(cls, blob: bytes, offsets: np.ndarray, order: np.ndarray) -> "PackedNames":
        """The names from what they are held as (not sorted again): ``blob``, the UTF-8 bytes of every name in index
        order; ``offsets``, int64, where each starts (and the end); ``order``, the indices sorted by name.

        Examples:
            >>> PackedNames.from_parts(b"ba", np.array([0, 1, 2]), np.array([1, 0], dtype=np.int32)) == ("b", "a")
            True
        """
        names = object.__new__(cls)
        names.blob, names.offsets, names.order = blob, offsets, order
        return names

    def _same(self, other: "PackedNames") -> bool:
        return self.blob == other.blob and np.array_equal(self.offsets, other.offsets)

    def __reduce__(self):
        return _packed_names, (self.blob, self.offsets, self.order)


def _packed_names(blob: bytes, offsets: np.ndarray, order: np.ndarray) -> PackedNames:
    """A :class:`PackedNames` from its parts (unpickling: the names are not sorted again)."""
    return PackedNames.from_parts(blob, offsets, order)


def names_at(names: Sequence[str], indices) -> np.ndarray:
    """``names[i]`` for each ``i`` of ``indices``, as a NumPy ``str`` array: for a :class:`NumberedNames` made from
    the indices' decimal digits, without a Python string per name (the run file's ``node_names`` and ``links``
    tables are written so, a piece at a time: :func:`dqsim.scenarios.dqc.node_names_table`).

    Examples:
        >>> names_at(NumberedNames("node", 12), [11, 0]).tolist(), names_at(("a", "bb"), [1, 1]).tolist()
        (['node11', 'node0'], ['bb', 'bb'])
        >>> names_at(NumberedNames("", 3), [2]).tolist(), names_at(NumberedNames("n", 3), []).tolist()
        (['2'], [])
    """
    indices = np.asarray(indices, dtype=np.int64)
    if isinstance(names, NumberedNames):
        digits = indices.astype(str)
        return np.char.add(names.prefix, digits) if names.prefix and digits.size else digits
    return np.array([names[i] for i in indices.tolist()], dtype=str)


def longest_name(names: Sequence[str], indices=None) -> int:
    """The length of the longest of ``names`` (of ``names[i]`` for ``i`` in ``indices``), 0 for none: for a
    :class:`NumberedNames` worked out from the largest index, without making a name.

    Examples:
        >>> longest_name(NumberedNames("node", 12)), longest_name(NumberedNames("node", 12), [3, 9])
        (6, 5)
        >>> longest_name(("a", "ccc", "bb"), [0, 2]), longest_name(NumberedNames("n", 0))
        (2, 0)
    """
    if isinstance(names, NumberedNames):
        largest = names.num_names - 1 if indices is None else int(np.max(indices, initial=-1))
        return len(names.prefix) + len(str(largest)) if largest >= 0 else 0
    picked = names if indices is None else (names[i] for i in np.unique(np.asarray(indices, dtype=np.int64)).tolist())
    return max(map(len, picked), default=0)


def _check_name(name) -> None:
    """A node name is a non-empty string without whitespace (:class:`ConfigError` otherwise)."""
    # str.split() cuts at exactly the characters str.isspace() accepts: one piece, the name, means none
    if not isinstance(name, str) or name.split() != [name]:
        raise ConfigError(f"NodeSpec: name must be a non-empty string without whitespace, got {name!r}")


class RoleNames(IndexedNames):
    """The node names ``first``, ``prefix1``, ..., and ``last`` (or ``prefix{n-1}`` without one), made when read,
    with their index worked out from the name: the names of a QKD network's nodes by their role
    (:meth:`dqsim.jobs.qkd.QkdSection.node_name_sequence`: ``alice``, ``trusted1``, ..., ``bob`` along a trusted
    chain, ``hub``, ``leaf1``, ... in a star). As :class:`NumberedNames`, no string per node and no dictionary from
    name to index (a 65,536-node chain: no 4 MB of names and their index on every rank).

    Args:
        first: node 0's name, without whitespace.
        prefix: what the numbered names start with, without whitespace (digits at its end are fine: a numbered
            name is the prefix and then the number, so ``t1`` names ``t11``, ``t12``, ... without doubt).
        num_names: how many names, >= 1 (>= 2 with ``last``).
        last: the last node's name, without whitespace, or ``None`` (it is numbered too).

    Raises:
        ConfigError: a name or prefix with whitespace, a count below the least, ``first`` equal to ``last``, or
            ``first`` or ``last`` that reads as the prefix and a number (``trusted3``): the names must be unique,
            as :meth:`index_of` takes them to be.

    Examples:
        >>> chain = RoleNames("alice", "trusted", 4, last="bob")
        >>> list(chain), chain.index("trusted2"), "trusted3" in chain, chain.index_of("bob"), chain == ("alice",
        ...     "trusted1", "trusted2", "bob")
        (['alice', 'trusted1', 'trusted2', 'bob'], 2, False, 3, True)
        >>> list(RoleNames("hub", "leaf", 3)), RoleNames("hub", "leaf", 3).index_of("leaf02")
        (['hub', 'leaf1', 'leaf2'], None)
    """

    __slots__ = ("first", "prefix", "num_names", "last")

    def __init__(self, first: str, prefix: str, num_names: int, *, last: str | None = None):
        for key, name in (("first", first), ("prefix", prefix), ("last", last)):
            if name is not None or key != "last":
                _check_name(name)
        least = 1 if last is None else 2
        if isinstance(num_names, bool) or not isinstance(num_names, int) or num_names < least:
            raise ConfigError(f"RoleNames: num_names must be an integer >= {least}, got {num_names!r}")
        if first == last:
            raise ConfigError(f"RoleNames: first and last must differ, both are {first!r}")
        for key, name in (("first", first), ("last", last)):
            if _numbered_index(name, prefix) is not None:
                raise ConfigError(f"RoleNames: {key} {name!r} reads as the prefix {prefix!r} and a number; give it a "
                                  f"name that does not start with {prefix!r} and digits")
        self.first, self.prefix, self.num_names, self.last = first, prefix, num_names, last

    def __len__(self) -> int:
        return self.num_names

    def _item(self, index: int) -> str:
        if index == 0:
            return self.first
        if self.last is not None and index == self.num_names - 1:
            return self.last
        return f"{self.prefix}{index}"

    def _numbered(self) -> range:
        """The indices of the numbered names."""
        return range(1, self.num_names - (self.last is not None))

    def index_of(self, name) -> int | None:
        """The index of ``name`` among these names, ``None`` where it is not one of them (no search)."""
        if name == self.first:
            return 0
        if self.last is not None and name == self.last:
            return self.num_names - 1
        index = _numbered_index(name, self.prefix)
        return index if index is not None and index in self._numbered() else None

    def _described(self) -> str:
        return f"RoleNames({self.first!r}, {self.prefix!r}, {self.num_names}, last={self.last!r})"

    def _same(self, other: "RoleNames") -> bool:
        return (self.first, self.prefix, self.num_names, self.last) == (other.first, other.prefix, other.num_names,
                                                                        other.last)

    def __reduce__(self):
        return _role_names, (self.first, self.prefix, self.num_names, self.last)


def _role_names(first: str, prefix: str, num_names: int, last: str | None) -> RoleNames:
    """A :class:`RoleNames` from its parts (unpickling: ``last`` is keyword-only)."""
    return RoleNames(first, prefix, num_names, last=last)
