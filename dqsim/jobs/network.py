"""The ``[network]`` and ``[distribution]`` sections: networked QPUs, their links and hardware.

Shared by the scenarios that run on a network of QPUs: ``"dqc"``
(:mod:`dqsim.jobs.dqc`), ``"trotter"`` and ``"cloud"``. The keys of
``[network.link]`` and ``[network.node]`` are the fields of
:class:`~dqsim.network.link.LinkSpec` and :class:`~dqsim.network.node.NodeSpec`,
checked by building the spec (:func:`checked_spec_parameters`, also used by
the ``"repeater"`` scenario's ``[chain.link]`` and ``[chain.node]``).
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from typing import Any, Literal, Optional, Sequence

import networkx as nx
import numpy as np
from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from dqsim.errors import ConfigError, count_of, toml_repr
from dqsim.jobs.edges_file import EdgeList, EdgesFileError, line_fields, read_edges_file
from dqsim.jobs.errors import job_error, one_of, value_hint
from dqsim.jobs.schema import Section, input_file_path, is_number
from dqsim.network import topology as net_topology
from dqsim.network.link import LinkSpec
from dqsim.network.node import NodeSpec, NumberedNames
from dqsim.units import ps_to_seconds

__all__ = ["NetworkSection", "DistributionSection", "MAX_NETWORK_NODES", "MAX_SPARSE_NETWORK_NODES",
           "MAX_EDGES_NETWORK_NODES", "MAX_NETWORK_LINKS", "MAX_NODE_QUBITS", "MAX_PROCESSING_DELAY_PS",
           "MAX_NODE_DURATION_PS", "check_assignment",
           "checked_spec_parameters", "LINK_FIELDS", "NODE_FIELDS", "LINK_FLOAT_FIELDS", "NODE_FLOAT_FIELDS"]

#: Topologies of ``[network].topology``, each with the keys that size it.
_TOPOLOGY_KEYS: dict[str, tuple[str, ...]] = {
    "line": ("num_nodes",), "ring": ("num_nodes",), "star": ("num_nodes",),
    "all_to_all": ("num_nodes",), "grid": ("num_rows", "num_cols"),
    "edges": ("node_names", "edges", "edges_file"),
}
#: What sizes each topology, as an error that refuses another topology's key says it (userwalk2 D8: a grid's
#: ``num_nodes`` was refused without naming ``num_rows`` and ``num_cols``).
_SIZED_BY: dict[str, str] = {**{t: "num_nodes" for t in ("line", "ring", "star", "all_to_all")},
                             "grid": "num_rows and num_cols (num_rows × num_cols nodes)",
                             "edges": "its edges or edges_file"}

#: The node cap every topology had until :data:`MAX_SPARSE_NETWORK_NODES` (2026-12-06) and ``topology = "edges"``
#: until :data:`MAX_EDGES_NETWORK_NODES` (2026-12-07 (morning)); what an ``all_to_all``'s search for its largest size
#: under :data:`MAX_NETWORK_LINKS` starts from. It was 64 until 2026-12-06, which refused the networks of a thousand
#: nodes that the README promises.
MAX_NETWORK_NODES = 4096

#: Most nodes of a ``topology = "edges"`` network (``node_names``, or the names of ``edges_file``). Its links are
#: arrays (:class:`dqsim.jobs.edges_file.EdgeList`), a file's names one byte string
#: (:class:`dqsim.network.node.PackedNames`), and its routes are searched on the network's compact adjacency.
#: 2^20, as the generated topologies (:data:`MAX_SPARSE_NETWORK_NODES`): the largest size measured. A 4-qubit GHZ
#: ``dqc`` run over a Barabási–Albert graph's edge list (two links a new node: 2^20 nodes, 2,097,148 links, just
#: under :data:`MAX_NETWORK_LINKS`, which bounds the links), checkpointed and resumed 1 -> 2 and 2 -> 1 ranks to
#: the uninterrupted run's tables, peaked at 754 MB on one rank (45 CPU s) and 980 / 851 MB on two (67 / 57 CPU s)
#: at 2^20 nodes, 349 MB at 2^18 and 266 MB at 2^16: 0.42-0.52 kB a node (with its two links) from 2^16 up
#: (2026-12-07 (morning), load 15-25, bench/results/network-edges-file-vm-20261207.md). Where the links' lengths are
#: not all equal every link costs ~0.3 kB more in a run (:data:`dqsim.network.topology.BYTES_PER_LINK_LENGTH`: a 2^20-node run with a
#: length per link peaked at 1,365 MB on one rank; ~0.4-1.2 kB per distinct length, a
#: :class:`~dqsim.network.link.LinkSpec` each, until 2026-12-07 (later)). It was
#: :data:`MAX_NETWORK_NODES` (4,096) until 2026-12-07 (morning), when the edges were read one by one from the job
#: file only.
MAX_EDGES_NETWORK_NODES = 2**20

#: Most nodes of a ``line``, ``ring``, ``star`` or ``grid`` (``num_nodes``, ``num_rows * num_cols``): 2^20. Their
#: memory grows with the nodes (a link or two each), about 0.4-0.7 kB per node on every rank
#: (:data:`dqsim.network.topology.BYTES_PER_NODE`, :data:`dqsim.network.topology.BYTES_PER_FOREST_NODE`): a 4-qubit
#: GHZ ``dqc`` run over 2^20 nodes, checkpointed every 30 us of simulated time (3-4 checkpoints of ~30 kB, 0.22-0.43
#: CPU s each) and resumed from its middle checkpoint 1 -> 2 and 2 -> 1 ranks to the uninterrupted run's tables,
#: peaked on one rank at 667 MB (line), 692 MB (star), 669 MB (ring), 662 MB (1024 x 1024 grid) and on two at
#: 862 / 700, 895 / 766, 879 / 724 and 879 / 717 MB, in 14-34 CPU s a rank (2026-12-07, load 11-19,
#: bench/results/network-mega-vm-20261207.md). It was 262,144 until then, as no checkpoint at 2^20 nodes had been
#: measured (a 2^20-node line ran in 826 MB with the cap lifted; its checkpoints then held every qubit's last
#: touch twice, 21 MB each); 262,144 since 2026-12-06 (evening), when a 262,144-node line peaked at 436 MB; 65,536
#: before, when a node with nothing to do still cost 2.9-3.7 kB, and :data:`MAX_NETWORK_NODES` (4,096) for every
#: topology before that. An ``all_to_all`` stops at :data:`MAX_NETWORK_LINKS` first (2,048 nodes).
MAX_SPARSE_NETWORK_NODES = 2**20

#: Most links of a network: 2**21, an ``all_to_all`` of up to 2,048 nodes (2,096,128 links), about 0.08 GB for
#: the network (:func:`dqsim.network.topology.estimate_network_bytes`; 0.12 GB until 2026-12-07 (morning), with the
#: ``links`` table's write, now counted on the writing rank alone) besides ~0.22 GB of Python: a ``dqc`` run
#: over 2,048 nodes all to all peaked at 317 MB on one rank, 337 and 327 MB on two, since its writing rank makes
#: the ``links`` table in pieces (525, and 547 and 320, before; 793, and 815 and 528, before a link's delay was
#: its spec's, 2026-12-06; bench/results/network-rank-memory-vm-20261206c.md); more is refused with its estimate
#: before anything is built (an all_to_all of 4,096 nodes has 8.4 million links, some 0.3 GB per rank as
#: estimated). It was 2**20 (1,448 nodes, ~0.55 kB per link) until 2026-12-06, and 2**19 (1,024 nodes, ~1.6 kB
#: per link) before. Not raised with the memory the later changes saved: no run above 2,048 nodes was measured.
MAX_NETWORK_LINKS = 2**21

#: The links of each topology named by ``[network].topology`` and sized by ``num_nodes``, as node index pairs in
#: the order its graph builder adds them (:mod:`dqsim.network.topology`).
_EDGES = {"line": net_topology.line_edges, "ring": net_topology.ring_edges, "star": net_topology.star_edges,
          "all_to_all": net_topology.all_to_all_edges}

#: Most node names quoted in an error message.
_MAX_NAMES_SHOWN = 10

#: Most data and most communication qubits of one ``[network.node]`` (a register of 2**40 amplitudes is
#: already beyond any machine; the planner lays out every communication qubit of every node).
MAX_NODE_QUBITS = 1024

#: Longest ``[network.node].classical_processing_delay_ps``, ps: 1 s (real nodes take microseconds to
#: milliseconds). A run's int64 picosecond clock (2**63 ps, about 107 days) holds more than 9 million of them one
#: after the other: every herald and message on a run's critical path costs one.
MAX_PROCESSING_DELAY_PS = 10**12

#: Longest ``[network.node]`` gate or measurement duration (``gate_1q_duration_ps``, ``gate_2q_duration_ps``,
#: ``measure_duration_ps``), ps: 1 s (real gates take nanoseconds to microseconds, readouts microseconds to
#: milliseconds); 2**62 ps ran, then overflowed the int64 timeline after the run. The clock holds more than 9
#: million of them one after the other; a run that still passes it is refused, in one line, when a node would
#: schedule anything past 2**61 ps (:meth:`dqsim.engine.Simulator.refuse_past_clock`).
MAX_NODE_DURATION_PS = 10**12

#: Time keys of ``[network.node]`` and the longest value of each, ps (checked before the spec is built).
_NODE_TIME_LIMITS_PS = {"gate_1q_duration_ps": MAX_NODE_DURATION_PS, "gate_2q_duration_ps": MAX_NODE_DURATION_PS,
                        "measure_duration_ps": MAX_NODE_DURATION_PS,
                        "classical_processing_delay_ps": MAX_PROCESSING_DELAY_PS}

#: Fewest nodes of a ring (a cycle needs three).
_MIN_RING_NODES = 3

#: Keys of a ``[network.link]`` table: the fields of :class:`~dqsim.network.link.LinkSpec`.
LINK_FIELDS = tuple(f.name for f in dataclasses.fields(LinkSpec))
#: Keys of a ``[network.node]`` table: the fields of :class:`~dqsim.network.node.NodeSpec` but ``name``.
NODE_FIELDS = tuple(f.name for f in dataclasses.fields(NodeSpec) if f.name != "name")


def _float_fields(spec: type) -> frozenset[str]:
    """Fields of a dataclass annotated ``float`` (or ``float | None``)."""
    hints = typing.get_type_hints(spec)
    return frozenset(name for name, hint in hints.items()
                     if hint is float or float in typing.get_args(hint))


#: Fields of the specs annotated ``float`` (TOML integers given for them become floats).
LINK_FLOAT_FIELDS = _float_fields(LinkSpec)
NODE_FLOAT_FIELDS = _float_fields(NodeSpec)


def _spec_parameters(params: dict[str, Any], allowed: Sequence[str], float_fields: frozenset[str],
                     hints: dict[str, str]) -> dict[str, Any]:
    """``params`` with unknown keys refused and integers of float fields made floats."""
    for key in params:
        if key not in allowed:
            raise job_error(hints.get(key, ""), key=(key,), allowed_keys=allowed)
    return {key: float(value) if (key in float_fields and isinstance(value, int)
                                  and not isinstance(value, bool)) else value
            for key, value in params.items()}


def checked_spec_parameters(params: dict[str, Any], spec: type, allowed: Sequence[str],
                            float_fields: frozenset[str], hints: dict[str, str],
                            defaults: dict[str, Any]) -> dict[str, Any]:
    """The keys of a ``[...link]``/``[...node]`` table, checked by building ``spec(**defaults, **params)``."""
    params = _spec_parameters(params, allowed, float_fields, hints)
    try:
        spec(**{**defaults, **params})
    except ValueError as exc:
        raise _spec_problem(exc, spec, params, defaults) from None
    return params


def _spec_problem(exc: ValueError, spec: type, given: dict[str, Any],
                  defaults: dict[str, Any] | None = None) -> PydanticCustomError:
    """A ``LinkSpec``/``NodeSpec`` error as a job error naming the field.

    Their messages read ``"<Spec>: <field> must be ..., got <value>"``; the
    field is the first word, or else the first field the message mentions.
    """
    fields = [f.name for f in dataclasses.fields(spec)]
    text = str(exc)
    prefix = f"{spec.__name__}: "
    if text.startswith(prefix):
        text = text[len(prefix):]
    first_word = text.split(" ", 1)[0]
    if first_word in fields:
        field, message = first_word, text[len(first_word):].strip()
    else:
        mentioned = [(m.start(), name) for name in fields
                     if (m := re.search(rf"\b{re.escape(name)}\b", text))]
        if not mentioned:
            return job_error(text)
        field, message = min(mentioned)[1], text
    message = re.sub(r",? got .*$", "", message)
    if field in given:
        return job_error(message + value_hint(field, given[field]), key=(field,), value=given[field], has_value=True)
    default = (defaults or {}).get(field, next(f.default for f in dataclasses.fields(spec) if f.name == field))
    return job_error(f"{message} ({field} is not set: its default is {toml_repr(default)})",
                     key=(field,))


class NetworkSection(Section):
    """``[network]``: the QPUs, how they are linked, and their default hardware.

    Attributes:
        topology: ``"line"``, ``"ring"``, ``"star"``, ``"grid"``,
            ``"all_to_all"`` or ``"edges"`` (see :mod:`dqsim.network.topology`).
        num_nodes: node count, 2..1048576 (ring: 3..1048576; all_to_all: 2..2048,
            at most :data:`MAX_NETWORK_LINKS` links); required for line, ring,
            star and all_to_all, not allowed for grid and edges.
        num_rows: grid rows, 1..1048576 (grid only, with ``num_cols``).
        num_cols: grid columns, 1..1048576 (grid only); ``2 <= num_rows * num_cols <= 1048576``.
        node_names: node names in index order (default ``node0``, ``node1``,
            ...): unique, non-empty, no whitespace, one per node. Required for
            ``"edges"`` with ``edges``, where they also fix the node count (2..1048576,
            :data:`MAX_EDGES_NETWORK_NODES`); with ``edges_file`` the file's names in the order they first
            appear unless given (then every name of the file must be one of them).
        edges: ``"edges"`` only (at most :data:`MAX_NETWORK_LINKS`): ``[a, b]`` or ``[a, b, distance_km]`` with
            ``a``, ``b`` node names and ``distance_km > 0`` (this edge's
            length instead of ``[network.link].distance_km``).
        edges_file: ``"edges"`` only, instead of ``edges``: an edge-list file, in the job file relative to the job
            file's folder (as ``[circuit].qasm``), one link a line ``a,b`` or ``a,b,distance_km``
            (:mod:`dqsim.jobs.edges_file`); an input of the run, hashed into its checkpoints' names as a QASM
            file is (:func:`dqsim.jobs.input_file_hashes`).
        placement: MPI rank of each node (each >= 0, one per node); default
            contiguous blocks (:func:`dqsim.network.topology.place_nodes`).
            Checked against the rank count at run time, where the run's
            :class:`~dqsim.network.network.Network` is built
            (:func:`dqsim.network.network.place_on_ranks`).
        link: ``[network.link]``: keyword arguments of
            :class:`~dqsim.network.link.LinkSpec` for every link (integers of
            float fields stored as floats). ``distance_km`` is required unless
            every edge of ``"edges"`` gives its own.
        node: ``[network.node]``: keyword arguments of
            :class:`~dqsim.network.node.NodeSpec` except ``name``, for every node;
            ``num_data_qubits`` 0..1024, ``num_comm_qubits`` 1..1024,
            ``classical_processing_delay_ps`` 0..10**12 (1 s,
            :data:`MAX_PROCESSING_DELAY_PS`; default 0), the time a node takes
            to act on each herald and classical message it receives;
            ``gate_1q_duration_ps``, ``gate_2q_duration_ps`` and
            ``measure_duration_ps`` 0..10**12 each (1 s,
            :data:`MAX_NODE_DURATION_PS`; default 0).

    Examples:
        >>> net = NetworkSection(topology="ring", num_nodes=3, link={"distance_km": 2.0})
        >>> net.node_names_list(), net.link_spec().distance_km
        (['node0', 'node1', 'node2'], 2.0)
        >>> net.build_graph().number_of_edges()
        3
    """

    topology: Literal["line", "ring", "star", "grid", "all_to_all", "edges"]
    num_nodes: Optional[int] = Field(None, ge=2, le=MAX_SPARSE_NETWORK_NODES)
    num_rows: Optional[int] = Field(None, ge=1, le=MAX_SPARSE_NETWORK_NODES)
    num_cols: Optional[int] = Field(None, ge=1, le=MAX_SPARSE_NETWORK_NODES)
    node_names: Optional[list[str]] = None
    edges: Optional[list[list[Any]]] = None
    edges_file: Optional[str] = None
    placement: Optional[list[typing.Annotated[int, Field(ge=0)]]] = None
    link: dict[str, Any] = Field(default_factory=dict)
    node: dict[str, Any] = Field(default_factory=dict)
    #: The links of ``"edges"`` as arrays, from ``edges`` or ``edges_file`` (set by :meth:`_check_network`).
    _edge_list: Optional[EdgeList] = PrivateAttr(None)

    @field_validator("edges_file")
    @classmethod
    def _resolve_edges_file(cls, edges_file: str, info: ValidationInfo) -> str:
        return input_file_path(edges_file, info)

    @field_validator("link")
    @classmethod
    def _check_link(cls, link: dict[str, Any]) -> dict[str, Any]:
        return checked_spec_parameters(link, LinkSpec, LINK_FIELDS, LINK_FLOAT_FIELDS, {},
                                       {"distance_km": net_topology.DEFAULT_LINK.distance_km})

    @field_validator("node")
    @classmethod
    def _check_node(cls, node: dict[str, Any]) -> dict[str, Any]:
        for key, limit in _NODE_TIME_LIMITS_PS.items():  # 2**62 ps overflowed the int64 timeline after the run
            value = node.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
                raise job_error(f"must be an integer in [0, {limit:_}] (at most {ps_to_seconds(limit):g} s)"
                                + value_hint(key, value), key=(key,), value=value, has_value=True)
        node = checked_spec_parameters(node, NodeSpec, NODE_FIELDS, NODE_FLOAT_FIELDS,
                                       {"name": "node names come from [network].node_names"}, {"name": "node0"})
        for key, low in (("num_data_qubits", 0), ("num_comm_qubits", 1)):
            if node.get(key, 0) > MAX_NODE_QUBITS:  # 10**18 ran out of memory planning the register
                raise job_error(f"must be an integer in [{low}, {MAX_NODE_QUBITS}]", key=(key,), value=node[key],
                                has_value=True)
        return node

    @model_validator(mode="after")
    def _check_network(self) -> "NetworkSection":
        self._check_topology_keys()
        self._check_node_names()
        if self.topology == "edges":
            self._edge_list = self._inline_edges() if self.edges is not None else self._file_edges()
        self._check_size()
        if "distance_km" not in self.link and not self._every_edge_has_distance():
            raise job_error('required unless every edge of topology = "edges" gives its own distance',
                            key=("link", "distance_km"), missing=True)
        num_nodes = self.resolved_num_nodes()
        if self.placement is not None and len(self.placement) != num_nodes:
            raise job_error(f"lists {count_of(len(self.placement), 'rank')} but the network has {num_nodes} nodes",
                            key=("placement",), value=self.placement, has_value=True)
        try:
            self._check_graph()
        except ConfigError as exc:
            message = re.sub(r"^\w+: ", "", str(exc))
            if self.topology == "edges" and self.edges_file is not None:
                message = f"{self.edges_file}: {message}"
            raise job_error(message, key=(self._edges_key() if self.topology == "edges" else "topology",)) from None
        return self

    def _edges_key(self) -> str:
        """The key that gives an ``"edges"`` network's links: ``edges`` or ``edges_file``."""
        return "edges" if self.edges is not None else "edges_file"

    def _check_graph(self) -> None:
        """Refuse what :meth:`build_graph` would refuse, without building the graph (the run builds it, once).

        The other keys are checked by then, so a ``line``, ``ring``, ``star``, ``grid`` or ``all_to_all``
        builds; an ``"edges"`` network may still give an edge a length its link refuses, or be disconnected.

        Raises:
            ConfigError: as :meth:`build_graph` would.
        """
        if self.topology != "edges":
            return
        edges = self._edge_list
        if edges.distances_km is not None and not np.isnan(edges.distances_km).all():
            # the longest: LinkSpec takes every length from 0 up to where its delay leaves the int64 clock
            dataclasses.replace(self.link_spec(), distance_km=float(np.nanmax(edges.distances_km)))
        net_topology.check_connected(edges.names, edges.ends)

    def _check_topology_keys(self) -> None:
        used = _TOPOLOGY_KEYS[self.topology]
        for key in ("num_nodes", "num_rows", "num_cols", "edges", "edges_file"):
            value = getattr(self, key)
            if key in used and value is None and key not in ("edges", "edges_file"):
                raise job_error(f"required with topology = {toml_repr(self.topology)}",
                                key=(key,), missing=True)
            if key not in used and value is not None:
                users = [t for t, keys in _TOPOLOGY_KEYS.items() if key in keys]
                raise job_error(f"only used with topology = {' or '.join(toml_repr(t) for t in users)} "
                                f"(here topology = {toml_repr(self.topology)}, sized by "
                                f"{_SIZED_BY[self.topology]})", key=(key,), value=value, has_value=True)
        if self.topology != "edges":
            pass
        elif self.edges is None and self.edges_file is None:
            raise job_error('required with topology = "edges", or edges_file instead', key=("edges",), missing=True)
        elif self.edges is not None and self.edges_file is not None:
            raise job_error("give the links once: edges (inline) or edges_file, not both",
                            key=("edges_file",), value=self.edges_file, has_value=True)
        elif self.node_names is None and self.edges is not None:
            raise job_error('required with topology = "edges" and inline edges; an edges_file names its own nodes',
                            key=("node_names",), missing=True)
        if self.topology == "ring" and self.num_nodes < _MIN_RING_NODES:
            raise job_error(f'must be >= {_MIN_RING_NODES} for topology = "ring" '
                            f"(allowed {_MIN_RING_NODES}..{MAX_SPARSE_NETWORK_NODES})",
                            key=("num_nodes",), value=self.num_nodes, has_value=True)
        if self.topology == "grid" and self.num_rows * self.num_cols < 2:
            raise job_error(f"the grid must have at least 2 nodes "
                            f"(num_rows × num_cols = {self.num_rows} × {self.num_cols})",
                            key=("num_cols",), value=self.num_cols, has_value=True)

    def _check_size(self) -> None:
        """Refuse a grid of more than :data:`MAX_SPARSE_NETWORK_NODES` nodes and a network of more than
        :data:`MAX_NETWORK_LINKS` links, with the memory it would take, before its graph is built."""
        if self.topology == "grid" and self.num_rows * self.num_cols > MAX_SPARSE_NETWORK_NODES:
            raise job_error(f"the grid would have num_rows × num_cols = {self.num_rows} × {self.num_cols} = "
                            f"{self.num_rows * self.num_cols:,} nodes; allowed at most {MAX_SPARSE_NETWORK_NODES:,}",
                            key=("num_cols",), value=self.num_cols, has_value=True)
        num_links = self.num_links()
        if num_links <= MAX_NETWORK_LINKS:
            return
        need = net_topology.estimate_network_bytes(self.resolved_num_nodes(), num_links,
                                                   self.num_links_of_unequal_lengths(), self.topology)
        if self.topology == "edges":
            raise job_error(f"lists {num_links:,} links, about {need / 1e9:.1f} GB on every rank; allowed at most "
                            f"{MAX_NETWORK_LINKS:,}", key=(self._edges_key(),))
        most = max(n for n in range(2, MAX_NETWORK_NODES + 1)
                   if net_topology.num_links_of(self.topology, n) <= MAX_NETWORK_LINKS)
        raise job_error(f'topology = "{self.topology}" links every pair of nodes: {num_links:,} links, about '
                        f"{need / 1e9:.1f} GB on every rank; allowed at most {MAX_NETWORK_LINKS:,} links "
                        f"({self.topology} of up to {most:,} nodes; line, ring, star or grid of up to "
                        f"{MAX_SPARSE_NETWORK_NODES:,})", key=("num_nodes",), value=self.num_nodes, has_value=True)

    def _check_node_names(self) -> None:
        names = self.node_names
        if names is None:
            return
        if self.topology == "edges":
            if not 2 <= len(names) <= MAX_EDGES_NETWORK_NODES:
                raise job_error(f'lists {len(names):,} names; topology = "edges" needs '
                                f"2..{MAX_EDGES_NETWORK_NODES:,} nodes", key=("node_names",),
                                value=names, has_value=True)
        else:
            num_nodes = self.resolved_num_nodes()
            if len(names) != num_nodes:
                raise job_error(f"lists {len(names)} names but the network has {num_nodes} nodes",
                                key=("node_names",), value=names, has_value=True)
        first_index: dict[str, int] = {}
        for index, name in enumerate(names):
            if not name or any(c.isspace() for c in name):
                raise job_error("must be a non-empty name without whitespace",
                                key=("node_names", index), value=name, has_value=True)
            if name in first_index:
                raise job_error(f"appears twice (also node_names[{first_index[name]}])",
                                key=("node_names", index), value=name, has_value=True)
            first_index[name] = index

    def _inline_edges(self) -> EdgeList:
        """The links of ``edges``, checked one by one (the first bad one refused, naming its index)."""
        known = self.node_names
        position = {name: i for i, name in enumerate(known)}
        seen: dict[frozenset[str], int] = {}
        for index, edge in enumerate(self.edges):
            key = ("edges", index)
            if len(edge) not in (2, 3):
                raise job_error(f"must be [a, b] or [a, b, distance_km] (2 or 3 items), got {len(edge)}",
                                key=key, value=edge, has_value=True)
            for end in (0, 1):
                name = edge[end]
                if not isinstance(name, str):
                    raise job_error(f"expected a node name (a string), got {toml_repr(name)}",
                                    key=key + (end,))
                if name not in position:
                    raise job_error(f"unknown node {toml_repr(name)}; {_known_nodes(known)}",
                                    key=key + (end,), value=name, has_value=True)
            if edge[0] == edge[1]:
                raise job_error(f"links node {toml_repr(edge[0])} to itself",
                                key=key, value=edge, has_value=True)
            pair = frozenset(edge[:2])
            if pair in seen:
                raise job_error(f"repeats the link of edges[{seen[pair]}]",
                                key=key, value=edge, has_value=True)
            seen[pair] = index
            if len(edge) == 3:
                distance_km = edge[2]
                if not is_number(distance_km):
                    raise job_error(f"expected a number (distance_km), got {toml_repr(distance_km)}",
                                    key=key + (2,))
                if not (0 < distance_km < math.inf):
                    raise job_error("must be a distance in km > 0 (finite)",
                                    key=key + (2,), value=distance_km, has_value=True)
        ends = np.array([(position[edge[0]], position[edge[1]]) for edge in self.edges], dtype=np.int32).reshape(-1, 2)
        distances = None
        if any(len(edge) == 3 for edge in self.edges):
            distances = np.array([float(edge[2]) if len(edge) == 3 else math.nan for edge in self.edges])
        return EdgeList(names=tuple(known), ends=ends, distances_km=distances)

    def _file_edges(self) -> EdgeList:
        """The links of ``edges_file`` (:func:`dqsim.jobs.edges_file.read_edges_file`), on ``node_names`` where
        given; a refusal names the file's line.

        Raises:
            PydanticCustomError: a line the file cannot have, more nodes than :data:`MAX_EDGES_NETWORK_NODES`, a
                name not in ``node_names``.
        """
        path = self.edges_file
        try:
            edges = read_edges_file(path)
        except EdgesFileError as exc:  # (the path in the message: a value is cut short where it is long)
            where = f"{path} line {exc.line}: " if exc.line else f"{path}: "
            raise job_error(where + exc.message, key=("edges_file",)) from None
        except ConfigError as exc:  # (unreadable)
            raise job_error(str(exc), key=("edges_file",)) from None
        if len(edges.names) > MAX_EDGES_NETWORK_NODES:
            raise job_error(f"{path} names {len(edges.names):,} nodes; topology = \"edges\" allows at most "
                            f"{MAX_EDGES_NETWORK_NODES:,}", key=("edges_file",))
        if self.node_names is None:
            return edges
        return self._on_node_names(edges)

    def _on_node_names(self, edges: EdgeList) -> EdgeList:
        """A file's links with their ends renumbered as ``node_names`` orders the nodes.

        Raises:
            PydanticCustomError: a name of the file that ``node_names`` does not list, naming its first line.
        """
        index = {name: i for i, name in enumerate(self.node_names)}
        renumber = np.fromiter((index.get(name, -1) for name in edges.names), dtype=np.int64,
                               count=len(edges.names))
        unknown = np.flatnonzero(renumber < 0)
        if unknown.size:
            name = edges.names[int(unknown[0])]
            raise job_error(f"{self.edges_file} line {_first_line_naming(self.edges_file, name)}: unknown node "
                            f"{toml_repr(name)}, not in node_names; {_known_nodes(self.node_names)}",
                            key=("edges_file",))
        ends = renumber[edges.ends].astype(edges.ends.dtype)
        return EdgeList(names=tuple(self.node_names), ends=ends, distances_km=edges.distances_km)

    def _every_edge_has_distance(self) -> bool:
        return self.topology == "edges" and self._edge_list.every_link_has_distance()

    def resolved_num_nodes(self) -> int:
        """Number of nodes of the network, whichever keys set it."""
        if self.topology == "grid":
            return self.num_rows * self.num_cols
        if self.topology == "edges":
            return len(self._edge_list.names)
        return self.num_nodes

    def num_links(self) -> int:
        """Number of links of the network, counted without building its graph.

        Examples:
            >>> NetworkSection(topology="grid", num_rows=3, num_cols=4, link={"distance_km": 1.0}).num_links()
            17
        """
        if self.topology == "grid":
            return self.num_rows * (self.num_cols - 1) + self.num_cols * (self.num_rows - 1)
        if self.topology == "edges":
            return self._edge_list.num_links
        return net_topology.num_links_of(self.topology, self.num_nodes)

    def num_links_with_own_length(self) -> int:
        """Number of links of ``"edges"`` that give their own ``distance_km`` (0 for the other topologies)."""
        if self.topology != "edges" or self._edge_list.distances_km is None:
            return 0
        return int(np.count_nonzero(~np.isnan(self._edge_list.distances_km)))

    def num_links_of_unequal_lengths(self) -> int:
        """Number of links that each cost a run :data:`~dqsim.network.topology.BYTES_PER_LINK_LENGTH`: every link of
        ``"edges"`` where the links' lengths (an edge's own ``distance_km``, else ``[network.link]``'s) are not all
        equal, else 0. One link of another length makes every link pay (a length and a routing weight each, each
        node's lightest links), not only the links that give their own, as the estimate counted until 2026-12-07
        (later).

        Examples:
            >>> section = lambda ab: NetworkSection(topology="edges", node_names=["a", "b", "c"],
            ...                                     edges=[["a", "b", ab], ["b", "c", 2.0]], link={"distance_km": 1.0})
            >>> section(2.0).num_links_of_unequal_lengths(), section(3.0).num_links_of_unequal_lengths()
            (0, 2)
        """
        if self.topology != "edges" or self._edge_list.distances_km is None:
            return 0
        distances = self._edge_list.distances_km
        given = ~np.isnan(distances)
        if not given.any():
            return 0
        low, high = float(distances[given].min()), float(distances[given].max())
        if not given.all():
            default = self.link_spec().distance_km
            low, high = min(low, default), max(high, default)
        return len(distances) if low != high else 0

    def node_names_list(self) -> list[str]:
        """Node names in index order: ``node_names``, or ``node0``, ``node1``, ..."""
        return list(self.node_name_sequence())

    def node_name_sequence(self) -> Sequence[str]:
        """Node names in index order, as :meth:`node_names_list` gives them, without a string per node for a
        generated topology or an ``edges_file``: ``node_names`` as a tuple, ``node0``, ``node1``, ... as a
        :class:`~dqsim.network.node.NumberedNames` (each name made when read, its index read off the name), or
        an ``edges_file``'s names as a :class:`~dqsim.network.node.PackedNames`.

        Examples:
            >>> names = NetworkSection(topology="line", num_nodes=3, link={"distance_km": 1.0}).node_name_sequence()
            >>> names, names.index("node2")
            (('node0', 'node1', 'node2'), 2)
        """
        if self.topology == "edges":
            return self._edge_list.names
        if self.node_names is not None:
            return tuple(self.node_names)
        return NumberedNames("node", self.resolved_num_nodes())

    def link_spec(self) -> LinkSpec:
        """The default link of ``[network.link]`` (edges of ``"edges"`` may change its length)."""
        return LinkSpec(**{"distance_km": net_topology.DEFAULT_LINK.distance_km, **self.link})

    def node_spec(self, name: str) -> NodeSpec:
        """The node called ``name``, with the parameters of ``[network.node]``.

        Args:
            name: one of :meth:`node_names_list`.

        Raises:
            ConfigError: ``name`` is not a node of the network.
        """
        names = self.node_name_sequence()
        if name not in names:
            raise ConfigError(f"NetworkSection.node_spec: unknown node {name!r}; {_known_nodes(names)}")
        return NodeSpec(name=name, **self.node)

    def data_capacity(self) -> int:
        """Data qubits of the whole network: nodes × ``[network.node].num_data_qubits``."""
        return self.resolved_num_nodes() * self.node_spec(self.node_name_sequence()[0]).num_data_qubits

    def link_pairs(self) -> tuple[np.ndarray, list[LinkSpec], np.ndarray | None]:
        """The links without the graph: the node index pairs they join, their links and their lengths, as
        :meth:`build_graph` adds its edges (the graph's edges, in its order once
        :class:`~dqsim.network.network.Network` sorts them).

        The pairs of a ``line``, ``ring``, ``star``, ``grid`` or ``all_to_all`` are its builder's
        (:func:`dqsim.network.topology.line_edges` and the others: one enumeration of each topology's links,
        which :meth:`build_graph` uses too). Every link shares the one :class:`LinkSpec` of ``[network.link]``;
        where edges of ``"edges"`` give their own lengths, every link's length is in a float64 array (the
        network's ``lengths_km``, :meth:`dqsim.network.network.Network.from_pairs`): no :class:`LinkSpec` per
        distinct length (one each until 2026-12-07 (later), ~1.2 kB a length on every rank once a run had read
        its properties).

        Returns:
            An ``(m, 2)`` int64 array of node index pairs, the ``m`` links, and each link's length in km
            (``None``: no edge gives its own, every length is the link's ``distance_km``).

        Examples:
            >>> pairs, links, lengths = NetworkSection(topology="ring", num_nodes=3, link={"distance_km": 2.0}).link_pairs()
            >>> pairs.tolist(), len({id(link) for link in links}), lengths
            ([[0, 1], [1, 2], [2, 0]], 1, None)
        """
        link = self.link_spec()
        if self.topology == "edges":
            num_links = self._edge_list.num_links
            return self._edge_list.ends.astype(np.int64), [link] * num_links, self._edge_lengths(link)
        if self.topology == "grid":
            pairs = net_topology.grid_edges(self.num_rows, self.num_cols)
        else:
            pairs = _EDGES[self.topology](self.num_nodes)
        return pairs, [link] * len(pairs), None

    def _edge_lengths(self, link: LinkSpec) -> np.ndarray | None:
        """Each edge's length of ``"edges"``, km (``link``'s where an edge gives none), or ``None``: none gives one."""
        distances = self._edge_list.distances_km
        if distances is None:
            return None
        return np.where(np.isnan(distances), link.distance_km, distances)

    def _edge_links(self, link: LinkSpec) -> list[LinkSpec]:
        """The link of each edge of ``"edges"`` for :meth:`build_graph`: ``link``, or one copy of it per distinct
        length the edges give."""
        distances = self._edge_list.distances_km
        if distances is None:
            return [link] * self._edge_list.num_links
        given = ~np.isnan(distances)
        lengths, which = np.unique(distances[given], return_inverse=True)
        specs = link.with_lengths(lengths.tolist())
        links = [link] * len(distances)
        for edge, spec in zip(np.flatnonzero(given).tolist(), which.reshape(-1).tolist()):
            links[edge] = specs[spec]
        return links

    def build_graph(self) -> nx.Graph:
        """The topology as a graph (:mod:`dqsim.network.topology`).

        Every edge carries :meth:`link_spec`, except edges of ``"edges"``
        that give their own length: the default link with that ``distance_km``.

        Raises:
            ConfigError: a topology the builder refuses (e.g. disconnected edges).
        """
        link = self.link_spec()
        names = self.node_names_list()
        if self.topology == "grid":
            return net_topology.grid(self.num_rows, self.num_cols, link=link, names=names)
        if self.topology == "edges":
            ends = self._edge_list.ends.tolist()
            edges = [(names[a], names[b], spec) for (a, b), spec in zip(ends, self._edge_links(link))]
            return net_topology.from_edges(names, edges, link=link)
        builders = {"line": net_topology.line, "ring": net_topology.ring,
                    "star": net_topology.star, "all_to_all": net_topology.all_to_all}
        return builders[self.topology](self.num_nodes, link=link, names=names)


class DistributionSection(Section):
    """``[distribution]``: how the circuit is split over the nodes.

    Attributes:
        scheme: ``"telegate"`` (remote gates through shared pairs, default)
            or ``"teledata"`` (qubits teleported to where the gate runs).
        assignment: node index (0-based) holding each circuit qubit, one per
            qubit; at most ``[network.node].num_data_qubits`` qubits per node.
            Default None: the engine assigns.
        entanglement: when the QPUs make a nonlocal gate's EPR pairs:
            ``"on_demand"`` (default; the schedule of every run before
            2026-12-06): each QPU runs its steps in circuit order and requests a
            gate's pairs when it reaches the gate; ``"ahead"``: each QPU
            requests the pairs of its next nonlocal gates as soon as a
            communication qubit is free (the pair then waits in memory and
            decoheres), and nonlocal gates on disjoint data qubits overlap
            (:mod:`dqsim.protocols.ahead`).
    """

    scheme: Literal["telegate", "teledata"] = "telegate"
    assignment: Optional[list[typing.Annotated[int, Field(ge=0)]]] = None
    entanglement: Literal["on_demand", "ahead"] = "on_demand"


def _known_nodes(names: Sequence[str]) -> str:
    """``known nodes: "a", "b", ...`` as a refusal of an unknown node writes them: the first
    :data:`_MAX_NAMES_SHOWN` names, then how many more.

    Examples:
        >>> _known_nodes(["a", "b"]), _known_nodes([f"n{i}" for i in range(12)])[-24:]
        ('known nodes: "a", "b"', '"n8", "n9", ... (2 more)')
    """
    shown = one_of(names[:_MAX_NAMES_SHOWN])
    if len(names) > _MAX_NAMES_SHOWN:
        shown += f", ... ({len(names) - _MAX_NAMES_SHOWN} more)"
    return f"known nodes: {shown}"


def _first_line_naming(path: str, name: str) -> int:
    """The number of the first line of the edge-list file at ``path`` that names node ``name`` (0: none)."""
    with open(path, encoding="utf-8-sig") as handle:
        for number, raw in enumerate(handle, start=1):
            if name in line_fields(raw)[:2]:
                return number
    return 0


def check_assignment(assignment, *, count: int | None, count_text: str, unit: str, num_nodes: int,
                     per_node: int, names) -> None:
    """Check ``[distribution].assignment`` (node of each qubit or site) against the network.

    Raises a one-line :class:`ConfigError` naming the entry: wrong length
    (when ``count`` is known), a node index outside the network, or a node
    given more than its ``per_node`` data qubits.
    """
    key = ("distribution", "assignment")
    if count is not None and len(assignment) != count:
        raise job_error(f"lists {len(assignment)} {unit} but {count_text}", key=key, value=assignment,
                        has_value=True)
    held = [0] * num_nodes
    for index, node_index in enumerate(assignment):
        if node_index >= num_nodes:
            raise job_error(f"must be a node index in 0..{num_nodes - 1} (the network has {num_nodes} nodes)",
                            key=key + (index,), value=node_index, has_value=True)
        held[node_index] += 1
        if held[node_index] > per_node:
            raise job_error(f"node {node_index} ({toml_repr(names[node_index])}) would hold "
                            f"{held[node_index]} {unit} but has {per_node} data qubits "
                            f"([network.node].num_data_qubits)",
                            key=key + (index,), value=node_index, has_value=True)
