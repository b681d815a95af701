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
from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from dqsim.errors import ConfigError, count_of, toml_repr
from dqsim.jobs.errors import job_error, one_of, value_hint
from dqsim.jobs.schema import Section, is_number
from dqsim.network import topology as net_topology
from dqsim.network.link import LinkSpec
from dqsim.network.node import NodeSpec, NumberedNames
from dqsim.units import ps_to_seconds

__all__ = ["NetworkSection", "DistributionSection", "MAX_NETWORK_NODES", "MAX_SPARSE_NETWORK_NODES", "MAX_NETWORK_LINKS", "MAX_NODE_QUBITS", "MAX_PROCESSING_DELAY_PS",
           "MAX_NODE_DURATION_PS", "check_assignment",
           "checked_spec_parameters", "LINK_FIELDS", "NODE_FIELDS", "LINK_FLOAT_FIELDS", "NODE_FLOAT_FIELDS"]

#: Topologies of ``[network].topology``, each with the keys that size it.
_TOPOLOGY_KEYS: dict[str, tuple[str, ...]] = {
    "line": ("num_nodes",), "ring": ("num_nodes",), "star": ("num_nodes",),
    "all_to_all": ("num_nodes",), "grid": ("num_rows", "num_cols"),
    "edges": ("node_names", "edges"),
}

#: Most nodes of a network given by its ``node_names`` (``topology = "edges"``, whose edges are read one by one from
#: the job file). Network qubits live in small states (DESIGN.md invariant 2), so a node costs a few kB on every
#: rank (:data:`dqsim.network.topology.BYTES_PER_NODE`). It was 64 until 2026-12-06, which refused the networks of a
#: thousand nodes that the README promises, and the cap of every topology until :data:`MAX_SPARSE_NETWORK_NODES`.
MAX_NETWORK_NODES = 4096

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
            ``"edges"``, where they also fix the node count (2..4096).
        edges: ``"edges"`` only (at most :data:`MAX_NETWORK_LINKS`): ``[a, b]`` or ``[a, b, distance_km]`` with
            ``a``, ``b`` node names and ``distance_km > 0`` (this edge's
            length instead of ``[network.link].distance_km``).
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
    placement: Optional[list[typing.Annotated[int, Field(ge=0)]]] = None
    link: dict[str, Any] = Field(default_factory=dict)
    node: dict[str, Any] = Field(default_factory=dict)

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
        self._check_size()
        self._check_node_names()
        if self.topology == "edges":
            self._check_edges()
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
            raise job_error(message, key=("edges" if self.topology == "edges" else "topology",)) from None
        return self

    def _check_graph(self) -> None:
        """Refuse what :meth:`build_graph` would refuse, without building the graph (the run builds it, once).

        The other keys are checked by then, so a ``line``, ``ring``, ``star``, ``grid`` or ``all_to_all``
        builds; an ``"edges"`` network may still give an edge a length its link refuses, or be disconnected.

        Raises:
            ConfigError: as :meth:`build_graph` would.
        """
        if self.topology != "edges":
            return
        link = self.link_spec()
        for distance_km in dict.fromkeys(float(edge[2]) for edge in self.edges if len(edge) == 3):  # (in order)
            dataclasses.replace(link, distance_km=distance_km)
        index = {name: i for i, name in enumerate(self.node_names)}
        net_topology.check_connected(self.node_names, [(index[edge[0]], index[edge[1]]) for edge in self.edges])

    def _check_topology_keys(self) -> None:
        used = _TOPOLOGY_KEYS[self.topology]
        for key in ("num_nodes", "num_rows", "num_cols", "edges"):
            value = getattr(self, key)
            if key in used and value is None:
                raise job_error(f"required with topology = {toml_repr(self.topology)}",
                                key=(key,), missing=True)
            if key not in used and value is not None:
                users = [t for t, keys in _TOPOLOGY_KEYS.items() if key in keys]
                raise job_error(f"only used with topology = {' or '.join(toml_repr(t) for t in users)} "
                                f"(here topology = {toml_repr(self.topology)})",
                                key=(key,), value=value, has_value=True)
        if self.topology == "edges" and self.node_names is None:
            raise job_error('required with topology = "edges"', key=("node_names",), missing=True)
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
        need = net_topology.estimate_network_bytes(self.resolved_num_nodes(), num_links)
        if self.topology == "edges":
            raise job_error(f"lists {num_links:,} links, about {need / 1e9:.1f} GB on every rank; allowed at most "
                            f"{MAX_NETWORK_LINKS:,}", key=("edges",))
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
            if not 2 <= len(names) <= MAX_NETWORK_NODES:
                raise job_error(f'lists {len(names)} names; topology = "edges" needs '
                                f"2..{MAX_NETWORK_NODES} nodes", key=("node_names",),
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

    def _check_edges(self) -> None:
        known = self.node_names_list()
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
                if name not in known:
                    shown = one_of(known[:_MAX_NAMES_SHOWN])
                    if len(known) > _MAX_NAMES_SHOWN:
                        shown += f", ... ({len(known) - _MAX_NAMES_SHOWN} more)"
                    raise job_error(f"unknown node {toml_repr(name)}; known nodes: {shown}",
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

    def _every_edge_has_distance(self) -> bool:
        return self.topology == "edges" and all(len(edge) == 3 for edge in self.edges)

    def resolved_num_nodes(self) -> int:
        """Number of nodes of the network, whichever keys set it."""
        if self.topology == "grid":
            return self.num_rows * self.num_cols
        if self.topology == "edges":
            return len(self.node_names)
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
            return len(self.edges)
        return net_topology.num_links_of(self.topology, self.num_nodes)

    def node_names_list(self) -> list[str]:
        """Node names in index order: ``node_names``, or ``node0``, ``node1``, ..."""
        return list(self.node_name_sequence())

    def node_name_sequence(self) -> Sequence[str]:
        """Node names in index order, as :meth:`node_names_list` gives them, without a string per node for a
        generated topology: ``node_names`` as a tuple, or ``node0``, ``node1``, ... as a
        :class:`~dqsim.network.node.NumberedNames` (each name made when read, its index read off the name).

        Examples:
            >>> names = NetworkSection(topology="line", num_nodes=3, link={"distance_km": 1.0}).node_name_sequence()
            >>> names, names.index("node2")
            (('node0', 'node1', 'node2'), 2)
        """
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
            raise ConfigError(f"NetworkSection.node_spec: unknown node {name!r}; "
                              f"known nodes: {one_of(names)}")
        return NodeSpec(name=name, **self.node)

    def data_capacity(self) -> int:
        """Data qubits of the whole network: nodes × ``[network.node].num_data_qubits``."""
        return self.resolved_num_nodes() * self.node_spec(self.node_name_sequence()[0]).num_data_qubits

    def link_pairs(self) -> tuple[np.ndarray, list[LinkSpec]]:
        """The links without the graph: the node index pairs they join and their links, as :meth:`build_graph`
        adds its edges (the graph's edges, in its order once :class:`~dqsim.network.network.Network` sorts them).

        The pairs of a ``line``, ``ring``, ``star``, ``grid`` or ``all_to_all`` are its builder's
        (:func:`dqsim.network.topology.line_edges` and the others: one enumeration of each topology's links,
        which :meth:`build_graph` uses too). Every link of ``[network.link]`` shares one :class:`LinkSpec`; an
        edge of ``"edges"`` with its own length has its own (one per distinct length).

        Returns:
            An ``(m, 2)`` int64 array of node index pairs and the ``m`` links.

        Examples:
            >>> pairs, links = NetworkSection(topology="ring", num_nodes=3, link={"distance_km": 2.0}).link_pairs()
            >>> pairs.tolist(), len({id(link) for link in links})
            ([[0, 1], [1, 2], [2, 0]], 1)
        """
        link = self.link_spec()
        if self.topology == "edges":
            index = {name: i for i, name in enumerate(self.node_names)}
            lengths: dict[float, LinkSpec] = {}
            links = [link if len(edge) == 2 else lengths.setdefault(float(edge[2]), dataclasses.replace(
                link, distance_km=float(edge[2]))) for edge in self.edges]
            pairs = np.array([(index[edge[0]], index[edge[1]]) for edge in self.edges], dtype=np.int64)
            return pairs.reshape(-1, 2), links
        if self.topology == "grid":
            pairs = net_topology.grid_edges(self.num_rows, self.num_cols)
        else:
            pairs = _EDGES[self.topology](self.num_nodes)
        return pairs, [link] * len(pairs)

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
            edges = [(edge[0], edge[1]) if len(edge) == 2
                     else (edge[0], edge[1], dataclasses.replace(link, distance_km=float(edge[2])))
                     for edge in self.edges]
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
