"""Network topologies, routing and the placement of nodes on MPI ranks.

A topology is a :class:`networkx.Graph` whose nodes are node names (strings)
and whose edges are links. Each node carries the attribute ``index`` (its
position 0..n-1, which fixes its rank under :func:`place_nodes`); each edge
carries ``link`` (a :class:`~dqsim.network.link.LinkSpec`) and
``distance_km`` (the link's length, the weight for routing). The graph
attribute ``kind`` names the builder.

Builders take the node count, and optionally ``names`` (default
``node0``, ``node1``, ...) and the ``link`` used for every edge (default
:data:`DEFAULT_LINK`, 1 km of standard fibre with the
:class:`~dqsim.network.link.LinkSpec` defaults).

Each builder's links are enumerated once, as an ``(m, 2)`` int64 array of
node index pairs in the order the builder adds them (:func:`line_edges`,
:func:`ring_edges`, :func:`star_edges`, :func:`grid_edges`,
:func:`all_to_all_edges`): the builder makes its graph's edges from it, and a
job's run takes its links from it without a graph
(:meth:`dqsim.jobs.network.NetworkSection.link_pairs`).
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Iterable, Sequence

import networkx as nx
import numpy as np

from dqsim import comm
from dqsim.errors import ConfigError, ResourceError, count_of
from dqsim.checks import check_int
from dqsim.network.link import LinkSpec

#: Link used by the builders when none is given: 1 km, all other fields at
#: their :class:`LinkSpec` defaults (an arbitrary lab-scale choice).
DEFAULT_LINK = LinkSpec(distance_km=1.0)

#: Longest list of node names quoted in an error message.
_MAX_NAMES_IN_MESSAGE = 10

#: Host memory each link of a run's network takes on every rank, bytes: the
#: :class:`~dqsim.network.network.Network`'s link arrays (ends, spec index, delay) and the routes' adjacency
#: (every rank builds the whole network). Measured, not derived: peak RSS of ``dqc`` runs of a 4-qubit GHZ over
#: ``all_to_all`` networks of 600, 1,000, 1,448 and 2,048 nodes (179,700 to 2,096,128 links: 249, 259, 273 and
#: 317 MB on one rank) against an 8-node line (217 MB): ~36 bytes a link between 600 and 2,048 nodes, plus the
#: ``links`` table's write on the writing rank (:data:`dqsim.cli.check.WRITE_BYTES_PER_ROW`; CPython 3.11,
#: bench/results/network-rank-memory-vm-20261206c.md). It was 140 until 2026-12-06 (the ``links`` table built
#: whole before its write, 88 bytes a row, and written 65,536 rows at a time: 123 bytes a link plus ~50 MB), ~280
#: before (a delay per link and per adjacency entry, int64 copies while building, the table's whole-column
#: temporaries), ~550 before that (a tuple per link in the network, in a run's counts and in its table rows),
#: ~1.6 kB before (docs/review-scale-20261206.md).
BYTES_PER_LINK = 36

#: Fewest nodes for which a search goes to SciPy (:func:`dqsim.network.network._scipy_least_delays`): importing
#: ``scipy.sparse.csgraph`` added 5-7 MB to a rank's peak RSS at 2^14-2^18 nodes (``bench/results/
#: netcpu-vm-20261207r.md``) and saved no CPU at 2^14; at 2^18 ~0.4-1 s a rank.
SCIPY_SEARCH_NODES = 1 << 17

#: What a rank takes besides its network's bytes a node and a link where its routes and lookahead are searched by
#: SciPy (a network with cycles of at least :data:`SCIPY_SEARCH_NODES` nodes), bytes: ``scipy.sparse``'s and
#: ``scipy.sparse.csgraph``'s import and the search's matrix. Fitted on 2026-12-07 (late night) with
#: :data:`BYTES_PER_NODE_OF`'s ring to 4-qubit GHZ ``dqc`` runs over rings of 2^17-2^20 nodes on one rank (SciPy
#: installed: 10-31 MB above a line of as many nodes, 2 MB at 2^16 without it; bench/results/
#: checkfit-vm-20261207s.md). Counted whether or not SciPy is installed (not measured without it).
SCIPY_SEARCH_BYTES = 12_000_000

#: Bytes on every rank per link of an ``"edges"`` network whose links' lengths (an edge's own, else
#: ``[network.link]``'s) are not all equal, in a run: every link then pays, not only those that give a length
#: (:meth:`dqsim.jobs.network.NetworkSection.num_links_of_unequal_lengths`, since 2026-12-07 (later)): its length in
#: the network's float64 array and in the job's edge list, its delay in the routes' adjacency (an int64 per entry
#: beyond 65,536 distinct delays), and what routes over links of unequal lengths keep (a weight per link, each node's
#: two lightest links: :meth:`dqsim.network.network.Network._link_is_shortest`). Fitted to the peaks of 4-qubit GHZ
#: ``dqc`` runs over Barabási–Albert edge lists with a length per link against the same lists without (2^18 nodes,
#: 524,284 links: +140 MB on one rank, +161 / +156 MB on two; 2^20, 2,097,148 links: +707 MB on one rank):
#: 270-340 bytes a link (the network's build alone: ~46 bytes a link, 292 against 268 MB at 2^18; 2026-12-07
#: (later), bench/results/network-memory-vm-20261207.md). It was 400 per distinct length until then, when each
#: distinct length was a :class:`~dqsim.network.link.LinkSpec` on every rank (~1.2 kB with its properties cached:
#: 1,060 against 338 MB at 2^18 on one rank). Refitted on 2026-12-07 (late night) with :data:`BYTES_PER_LINK_OF`'s
#: ``edges`` to a ring file and a random graph file of 2^18-2^20 nodes with a length per link (1-50 km) against the
#: same without: 305-422 bytes a link for the ring, 208-296 for the random graph (with lengths each rank's RSS also
#: rises ~90 bytes a link after the trajectories, rank 1's too); 430 (300 before, 0.79 of the 2^20 ring's peak):
#: 1.01-1.23 of one rank's peaks, 1.09-1.29 on two (bench/results/checkfit-vm-20261207s.md).
BYTES_PER_LINK_LENGTH = 430

#: Host memory each node of a run's network takes on every rank, bytes, besides its links'
#: (:data:`BYTES_PER_LINK`), where the links have cycles (a ring, a grid, ``all_to_all``, ``edges``): the engine's
#: per-node and per-qubit arrays, the routes' arrays (searched without a networkx graph). Fitted on 2026-12-07
#: (morning) to ``dqc`` GHZ runs' RSS once their trajectories are run above the base
#: (:data:`dqsim.cli.check.BASE_RSS_BYTES`, 218 MB: the run's imports and a small run's own), with their
#: links: lines, rings, stars and grids of 65,536 to 2^20 nodes took 180-260 bytes a node on one rank (the
#: marginal cost falls with size; a grid's the same per node with twice the links), and their peaks are within
#: 0.93-1.08 of the estimate (bench/results/check-memory-scale-vm-20261207.md). It was 700 until then, fitted to
#: peaks above an
#: 8-node run's that held the run file's ``node_names`` attribute (every name) and the ``links`` table's names
#: (an array of every name), and it erred about twice high at 2^20 nodes (812 against 396 MB); 1,500 before
#: 2026-12-07 (a networkx graph for the routes, a name and a plan entry per node), 3,300 before 2026-12-06
#: (evening: every node's engine record, process, first event, timeline row and ``NodeSpec``).
BYTES_PER_NODE = 150

#: Host memory each node of a network whose links make a tree (fewer links than nodes in a connected network: a
#: line, a star, an ``edges`` tree) takes on every rank, bytes, besides its link: as :data:`BYTES_PER_NODE`, with
#: its rooted forest in ``array("i")``, ``array("q")`` and ``range`` sequences (24-32 bytes a node) in place of
#: the route search's arrays. Fitted with :data:`BYTES_PER_NODE`, to which lines and stars came as close as rings and
#: grids (bench/results/check-memory-scale-vm-20261207.md). 700 until 2026-12-07 (morning) (see
#: :data:`BYTES_PER_NODE`), 800 before, 1,500 before that.
BYTES_PER_FOREST_NODE = 150

#: Host memory each node of a job's ``line``, ``ring``, ``star``, ``grid`` or ``all_to_all`` takes on every rank,
#: bytes, besides its links' (:data:`BYTES_PER_LINK`) and SciPy's search (:data:`SCIPY_SEARCH_BYTES`), in place of
#: :data:`BYTES_PER_NODE` / :data:`BYTES_PER_FOREST_NODE`: fitted on 2026-12-07 (night) to the peaks of 4-qubit GHZ
#: ``dqc`` runs over 65,536, 262,144 and 2^20 nodes on one rank above the base and the output's write
#: (:func:`dqsim.cli.check.network_peak_bytes`), the least that reaches every peak: 62-107 bytes a node measured for a
#: line (its forest written down, no adjacency), 92-133 for a ring and 107-137 for a star (their adjacency; a
#: star's walked forest), 90-117 for a grid (two links a node), the most at 2^18 (2^16 for a grid), and an 8-site
#: ``trotter`` run over a 65,536-node line 121 (its peak 253 MB against the ``dqc`` run's 249); estimates 1.00-1.10
#: of the peaks (bench/results/netscale-vm-20261207r.md). Refitted on 2026-12-07 (late night) to the same runs at
#: 2^17-2^20 nodes after the night's NumPy walk and SciPy search (SciPy installed; bench/results/
#: checkfit-vm-20261207s.md): a ring 186 / 152 / 131 / 121 bytes a node at 2^17 / 2^18 / 2^19 / 2^20 (10-31 MB
#: above a line; 120 with :data:`SCIPY_SEARCH_BYTES`, was 140 and 0.98 of its peak at 2^17), a star 138-141 (150,
#: was 140 and 1.00 of two peaks), a grid of 362 x 362 nodes (no SciPy search) 125 (130, was 125), a line 91-113
#: (128 kept: the ``trotter`` run); an ``all_to_all`` of 512, 1,024 and 2,048 nodes (each rank's peak ~1 and 15 MB
#: above the 0.15 kB of :data:`BYTES_PER_NODE` at 1,024 on one rank and at 2,048 on two: a search over its 2.1
#: million links, by Python below :data:`SCIPY_SEARCH_NODES`) 9,000. Estimates 1.01-1.10 of one rank's peaks and
#: 1.01-1.27 of each rank's on two at 2^16-2^20 nodes (2,048 for ``all_to_all``). ``edges`` 90, with its own
#: bytes a link (:data:`BYTES_PER_LINK_OF`).
BYTES_PER_NODE_OF = {"line": 128, "ring": 120, "star": 150, "grid": 130, "all_to_all": 9_000, "edges": 90}


#: Host memory each link of an ``edges`` network takes on every rank, bytes, in place of :data:`BYTES_PER_LINK`,
#: with :data:`BYTES_PER_NODE_OF`'s ``edges`` 90 a node: its file read (the names' table, each link's line), its
#: names kept packed, the links' arrays. Fitted on 2026-12-07 (late night) to 4-qubit GHZ ``dqc`` runs over a ring
#: file (a link a node) and a random graph file (a random tree and as many random pairs, ~2 links a node) of 2^18,
#: 2^19 and 2^20 nodes on one and two ranks: 1.01-1.09 of one rank's peaks, 1.11-1.29 of each rank's on two (the
#: 0.15 kB a node and 36 bytes a link before were 0.75 of a random graph's one-rank peak at 2^20: 475 against 635
#: MB; the peaks grow faster than the nodes, a ring's 296 / 360 / 502 MB; bench/results/checkfit-vm-20261207s.md).
BYTES_PER_LINK_OF = {"edges": 150}


def _quote_names(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:_MAX_NAMES_IN_MESSAGE])
    more = len(names) - _MAX_NAMES_IN_MESSAGE
    return shown + (f", ... ({more} more)" if more > 0 else "")


def _node_names(where: str, num_nodes: int, names: Sequence[str] | None) -> list[str]:
    if names is None:
        return [f"node{i}" for i in range(num_nodes)]
    names = list(names)
    if len(names) != num_nodes:
        raise ConfigError(f"{where}: names must list {num_nodes} node names, got {len(names)}")
    seen = set()
    for name in names:
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise ConfigError(
                f"{where}: node names must be non-empty strings without whitespace, got {name!r}"
            )
        if name in seen:
            raise ConfigError(f"{where}: node name {name!r} appears twice in names")
        seen.add(name)
    return names


def _check_link(where: str, link: LinkSpec | None) -> LinkSpec:
    if link is None:
        return DEFAULT_LINK
    if not isinstance(link, LinkSpec):
        raise ConfigError(f"{where}: link must be a LinkSpec, got {type(link).__name__}")
    return link


def _build(kind: str, names: list[str], index_edges: np.ndarray, link: LinkSpec) -> nx.Graph:
    graph = nx.Graph(kind=kind)
    for index, name in enumerate(names):
        graph.add_node(name, index=index)
    for a, b in index_edges.tolist():
        graph.add_edge(names[a], names[b], link=link, distance_km=link.distance_km)
    validate(graph)
    return graph


def _pairs(lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
    """Node index pairs as an ``(m, 2)`` int64 array: ``[lows[i], highs[i]]``."""
    return np.stack((lows, highs), axis=1).astype(np.int64, copy=False).reshape(-1, 2)


def line_edges(num_nodes: int) -> np.ndarray:
    """The links of :func:`line` as node index pairs, in its edge order: ``(i, i + 1)`` for i = 0..n-2.

    The one list of a line's links: :func:`line` adds them to its graph, a job's ``[network]`` builds its
    run's network from them (:meth:`dqsim.jobs.network.NetworkSection.link_pairs`) without a graph.

    Args:
        num_nodes: number of nodes, >= 1.

    Returns:
        An ``(n - 1, 2)`` int64 array.

    Examples:
        >>> line_edges(3).tolist()
        [[0, 1], [1, 2]]
    """
    num_nodes = check_int("line", "num_nodes", num_nodes, 1, error=ConfigError)
    return _pairs(np.arange(num_nodes - 1), np.arange(1, num_nodes))


def ring_edges(num_nodes: int) -> np.ndarray:
    """The links of :func:`ring` as node index pairs, in its edge order: ``(i, (i + 1) mod n)`` for i = 0..n-1.

    Args:
        num_nodes: number of nodes, >= 3.

    Returns:
        An ``(n, 2)`` int64 array.

    Examples:
        >>> ring_edges(3).tolist()
        [[0, 1], [1, 2], [2, 0]]
    """
    num_nodes = check_int("ring", "num_nodes", num_nodes, 3, error=ConfigError)
    nodes = np.arange(num_nodes)
    return _pairs(nodes, (nodes + 1) % num_nodes)


def star_edges(num_nodes: int) -> np.ndarray:
    """The links of :func:`star` as node index pairs, in its edge order: ``(0, i)`` for i = 1..n-1.

    Args:
        num_nodes: number of nodes including the centre, >= 1.

    Returns:
        An ``(n - 1, 2)`` int64 array.

    Examples:
        >>> star_edges(3).tolist()
        [[0, 1], [0, 2]]
    """
    num_nodes = check_int("star", "num_nodes", num_nodes, 1, error=ConfigError)
    return _pairs(np.zeros(num_nodes - 1, dtype=np.int64), np.arange(1, num_nodes))


def grid_edges(num_rows: int, num_cols: int) -> np.ndarray:
    """The links of :func:`grid` as node index pairs, in its edge order: node by node (``i = r·num_cols + c``),
    first the link to its right ``(i, i + 1)`` where ``c + 1 < num_cols``, then the one below
    ``(i, i + num_cols)`` where ``r + 1 < num_rows``.

    Args:
        num_rows: number of rows, >= 1.
        num_cols: number of columns, >= 1.

    Returns:
        An ``(m, 2)`` int64 array, ``m = rows·(cols - 1) + cols·(rows - 1)``.

    Examples:
        >>> grid_edges(2, 2).tolist()
        [[0, 1], [0, 2], [1, 3], [2, 3]]
    """
    num_rows = check_int("grid", "num_rows", num_rows, 1, error=ConfigError)
    num_cols = check_int("grid", "num_cols", num_cols, 1, error=ConfigError)
    nodes = np.arange(num_rows * num_cols)
    right = nodes[nodes % num_cols + 1 < num_cols]
    down = nodes[nodes + num_cols < nodes.size]
    lows = np.concatenate((right, down))
    highs = np.concatenate((right + 1, down + num_cols))
    order = np.argsort(2 * lows + np.repeat([0, 1], [right.size, down.size]), kind="stable")  # right, then down
    return _pairs(lows[order], highs[order])


def all_to_all_edges(num_nodes: int) -> np.ndarray:
    """The links of :func:`all_to_all` as node index pairs, in its edge order: ``(i, j)`` for every ``i < j``,
    ``i`` then ``j`` rising.

    Args:
        num_nodes: number of nodes, >= 1.

    Returns:
        An ``(n(n - 1)/2, 2)`` int64 array.

    Examples:
        >>> all_to_all_edges(3).tolist()
        [[0, 1], [0, 2], [1, 2]]
    """
    num_nodes = check_int("all_to_all", "num_nodes", num_nodes, 1, error=ConfigError)
    lows, highs = np.triu_indices(num_nodes, 1)
    return _pairs(lows, highs)


def line(num_nodes: int, *, link: LinkSpec | None = None,
         names: Sequence[str] | None = None) -> nx.Graph:
    """Nodes in a chain: 0 - 1 - ... - (n-1).

    Args:
        num_nodes: number of nodes, >= 1.
        link: link of every edge (default :data:`DEFAULT_LINK`).
        names: node names in index order (default ``node0``...).

    Returns:
        The topology graph.

    Raises:
        ConfigError: a bad count, name or link.

    Examples:
        >>> list(line(3).edges)
        [('node0', 'node1'), ('node1', 'node2')]
    """
    num_nodes = check_int("line", "num_nodes", num_nodes, 1, error=ConfigError)
    node_names = _node_names("line", num_nodes, names)
    return _build("line", node_names, line_edges(num_nodes), _check_link("line", link))


def ring(num_nodes: int, *, link: LinkSpec | None = None,
         names: Sequence[str] | None = None) -> nx.Graph:
    """Nodes in a cycle: 0 - 1 - ... - (n-1) - 0.

    Args:
        num_nodes: number of nodes, >= 3.
        link: link of every edge (default :data:`DEFAULT_LINK`).
        names: node names in index order (default ``node0``...).

    Returns:
        The topology graph.

    Raises:
        ConfigError: a bad count, name or link.

    Examples:
        >>> ring(4).number_of_edges()
        4
    """
    num_nodes = check_int("ring", "num_nodes", num_nodes, 3, error=ConfigError)
    node_names = _node_names("ring", num_nodes, names)
    return _build("ring", node_names, ring_edges(num_nodes), _check_link("ring", link))


def star(num_nodes: int, *, link: LinkSpec | None = None,
         names: Sequence[str] | None = None) -> nx.Graph:
    """Node 0 at the centre, linked to every other node.

    Args:
        num_nodes: number of nodes including the centre, >= 1.
        link: link of every edge (default :data:`DEFAULT_LINK`).
        names: node names in index order, the centre first (default ``node0``...).

    Returns:
        The topology graph.

    Raises:
        ConfigError: a bad count, name or link.

    Examples:
        >>> sorted(star(4).neighbors("node0"))
        ['node1', 'node2', 'node3']
    """
    num_nodes = check_int("star", "num_nodes", num_nodes, 1, error=ConfigError)
    node_names = _node_names("star", num_nodes, names)
    return _build("star", node_names, star_edges(num_nodes), _check_link("star", link))


def grid(num_rows: int, num_cols: int, *, link: LinkSpec | None = None,
         names: Sequence[str] | None = None) -> nx.Graph:
    """A rectangular grid; node ``r·num_cols + c`` sits at row ``r``, column ``c``.

    Each node also carries the attribute ``position = (r, c)``.

    Args:
        num_rows: number of rows, >= 1.
        num_cols: number of columns, >= 1.
        link: link of every edge (default :data:`DEFAULT_LINK`).
        names: node names in index order (default ``node0``...).

    Returns:
        The topology graph.

    Raises:
        ConfigError: a bad count, name or link.

    Examples:
        >>> g = grid(2, 3)
        >>> g.number_of_nodes(), g.number_of_edges()
        (6, 7)
        >>> g.nodes["node4"]["position"]
        (1, 1)
    """
    num_rows = check_int("grid", "num_rows", num_rows, 1, error=ConfigError)
    num_cols = check_int("grid", "num_cols", num_cols, 1, error=ConfigError)
    node_names = _node_names("grid", num_rows * num_cols, names)
    graph = _build("grid", node_names, grid_edges(num_rows, num_cols), _check_link("grid", link))
    for i, name in enumerate(node_names):
        graph.nodes[name]["position"] = divmod(i, num_cols)
    return graph


def all_to_all(num_nodes: int, *, link: LinkSpec | None = None,
               names: Sequence[str] | None = None) -> nx.Graph:
    """Every pair of nodes linked directly.

    Args:
        num_nodes: number of nodes, >= 1.
        link: link of every edge (default :data:`DEFAULT_LINK`).
        names: node names in index order (default ``node0``...).

    Returns:
        The topology graph.

    Raises:
        ConfigError: a bad count, name or link.

    Examples:
        >>> all_to_all(5).number_of_edges()
        10
    """
    num_nodes = check_int("all_to_all", "num_nodes", num_nodes, 1, error=ConfigError)
    node_names = _node_names("all_to_all", num_nodes, names)
    return _build("all_to_all", node_names, all_to_all_edges(num_nodes), _check_link("all_to_all", link))


def num_links_of(kind: str, num_nodes: int) -> int:
    """Links of a ``line``, ``ring``, ``star`` or ``all_to_all`` topology of ``num_nodes`` nodes.

    Counted without building the graph, so that a job can be refused before an
    ``all_to_all`` of many nodes (``n(n - 1)/2`` links) takes the host's memory.

    Args:
        kind: ``"line"``, ``"ring"``, ``"star"`` or ``"all_to_all"``.
        num_nodes: number of nodes, >= 1 (a ring of fewer than 3 is not built).

    Returns:
        The number of edges the builder of that name makes.

    Raises:
        ConfigError: another kind.

    Examples:
        >>> [num_links_of(kind, 1000) for kind in ("line", "ring", "star", "all_to_all")]
        [999, 1000, 999, 499500]
    """
    if kind in ("line", "star"):
        return max(num_nodes - 1, 0)
    if kind == "ring":
        return num_nodes
    if kind == "all_to_all":
        return num_nodes * (num_nodes - 1) // 2
    raise ConfigError(f"num_links_of: kind must be line, ring, star or all_to_all, got {kind!r}")


def bytes_per_node(num_nodes: int, num_links: int, kind: str | None = None) -> int:
    """The bytes per node :func:`estimate_network_bytes` counts: a ``line``'s, ``ring``'s, ``star``'s or
    ``grid``'s own (``kind``, :data:`BYTES_PER_NODE_OF`), else :data:`BYTES_PER_FOREST_NODE` for a network of
    fewer links than nodes (connected, as a job's is: a tree) and :data:`BYTES_PER_NODE` for one with cycles.

    Examples:
        >>> bytes_per_node(1000, 999), bytes_per_node(1000, 1000), bytes_per_node(1000, 999, "line")
        (150, 150, 128)
    """
    if kind in BYTES_PER_NODE_OF:
        return BYTES_PER_NODE_OF[kind]
    return BYTES_PER_FOREST_NODE if num_links < num_nodes else BYTES_PER_NODE


def bytes_per_link(kind: str | None = None) -> int:
    """The bytes per link :func:`estimate_network_bytes` counts: an ``edges`` network's own
    (:data:`BYTES_PER_LINK_OF`), else :data:`BYTES_PER_LINK`.

    Examples:
        >>> bytes_per_link("ring") == BYTES_PER_LINK, bytes_per_link("edges") == BYTES_PER_LINK_OF["edges"]
        (True, True)
    """
    return BYTES_PER_LINK_OF.get(kind, BYTES_PER_LINK)


def estimate_network_bytes(num_nodes: int, num_links: int, num_lengths: int = 0, kind: str | None = None) -> int:
    """Host memory a run's network of ``num_nodes`` nodes and ``num_links`` links takes on every rank, bytes:
    :func:`bytes_per_node` (a ``line``'s, ``ring``'s, ``star``'s or ``grid``'s own, ``kind``; else
    :data:`BYTES_PER_NODE`, or :data:`BYTES_PER_FOREST_NODE` for a tree) and
    :data:`BYTES_PER_LINK`, and :data:`BYTES_PER_LINK_LENGTH` for each of the ``num_lengths`` links that pay for
    lengths (every link of an ``"edges"`` network whose lengths are not all equal; distinct lengths until 2026-12-07
    (later)), and :data:`SCIPY_SEARCH_BYTES` for a network with cycles (as many links as nodes or more) of at least
    :data:`SCIPY_SEARCH_NODES` nodes (since 2026-12-07 (late night)), measured (not a bound). A rank's peak adds
    the run's imports, MPI's share on several ranks and, on the writing rank, the output's write
    (:func:`dqsim.cli.check.network_peak_bytes`; bench/results/netscale-vm-20261207r.md,
    bench/results/checkfit-vm-20261207s.md). Until 2026-12-07 (morning) it also held the
    ``links`` table's write from 100,000 links (40 MB, ``LINKS_TABLE_BYTES``), now the writing rank's alone.

    Examples:
        >>> estimate_network_bytes(1000, 499500) / 1e6
        18.132
    """
    searched = SCIPY_SEARCH_BYTES if num_links >= num_nodes >= SCIPY_SEARCH_NODES else 0
    return (num_nodes * bytes_per_node(num_nodes, num_links, kind) + num_links * bytes_per_link(kind)
            + num_lengths * BYTES_PER_LINK_LENGTH + searched)


def from_edges(names: Sequence[str], edges: Iterable[tuple], *,
               link: LinkSpec | None = None) -> nx.Graph:
    """A topology from explicit node names and edges.

    Args:
        names: node names; their order gives the node indices.
        edges: pairs ``(a, b)`` of node names, or triples ``(a, b, x)`` with
            ``x`` a :class:`LinkSpec` for that edge or a length in km (the
            default link with that ``distance_km``).
        link: link of edges given without one (default :data:`DEFAULT_LINK`).

    Returns:
        The topology graph.

    Raises:
        ConfigError: an edge naming an unknown node, a self-loop, a repeated
            edge, a bad link, or a disconnected graph.

    Examples:
        >>> g = from_edges(["a", "b", "c"], [("a", "b"), ("b", "c", 5.0)])
        >>> g.edges["b", "c"]["distance_km"]
        5.0
        >>> from_edges(["a", "b"], [("a", "x")])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        dqsim.errors.ConfigError: from_edges: edge ('a', 'x') names unknown node 'x'; ...
    """
    where = "from_edges"
    node_names = list(names)
    node_names = _node_names(where, len(node_names), node_names)
    if not node_names:
        raise ConfigError(f"{where}: names must list at least one node, got none")
    base = _check_link(where, link)
    known = set(node_names)
    graph = nx.Graph(kind="edges")
    for index, name in enumerate(node_names):
        graph.add_node(name, index=index)
    for edge in edges:
        edge = tuple(edge)
        if len(edge) not in (2, 3):
            raise ConfigError(f"{where}: an edge must be (a, b) or (a, b, link), got {edge!r}")
        a, b = edge[0], edge[1]
        for end in (a, b):
            if end not in known:
                raise ConfigError(
                    f"{where}: edge {(a, b)!r} names unknown node {end!r}; "
                    f"known nodes: {_quote_names(node_names)}"
                )
        if a == b:
            raise ConfigError(f"{where}: edge {(a, b)!r} links node {a!r} to itself")
        if graph.has_edge(a, b):
            raise ConfigError(f"{where}: edge {(a, b)!r} is given twice")
        edge_link = base
        if len(edge) == 3:
            spec = edge[2]
            if isinstance(spec, LinkSpec):
                edge_link = spec
            elif isinstance(spec, numbers.Real) and not isinstance(spec, bool):
                try:
                    edge_link = dataclasses.replace(base, distance_km=spec)
                except ConfigError as exc:
                    raise ConfigError(f"{where}: edge {(a, b)!r}: {exc}") from None
            else:
                raise ConfigError(
                    f"{where}: edge {(a, b)!r} has link {spec!r}; "
                    "give a LinkSpec or a length in km"
                )
        graph.add_edge(a, b, link=edge_link, distance_km=edge_link.distance_km)
    validate(graph)
    return graph


def validate(graph: nx.Graph) -> None:
    """Check that ``graph`` is a usable topology.

    Every node has a distinct integer ``index`` 0..n-1, every edge a
    ``link`` (:class:`LinkSpec`) whose length matches its ``distance_km``,
    there are no self-loops, and the graph is connected (:func:`check_connected`).

    Args:
        graph: the topology.

    Raises:
        ConfigError: the first problem found, naming the node or edge.

    Examples:
        >>> validate(line(2))
    """
    where = "validate"
    if graph.number_of_nodes() == 0:
        raise ConfigError(f"{where}: the topology has no nodes")
    indices = sorted(graph.nodes[name].get("index", -1) for name in graph.nodes)
    if indices != list(range(graph.number_of_nodes())):
        raise ConfigError(
            f"{where}: node indices must be 0..{graph.number_of_nodes() - 1}, got {indices}"
        )
    for a, b, data in graph.edges(data=True):
        if a == b:
            raise ConfigError(f"{where}: edge {(a, b)!r} links node {a!r} to itself")
        link = data.get("link")
        if not isinstance(link, LinkSpec):
            raise ConfigError(f"{where}: edge {(a, b)!r} has no LinkSpec in its 'link' attribute")
        if data.get("distance_km") != link.distance_km:
            raise ConfigError(
                f"{where}: edge {(a, b)!r} has distance_km {data.get('distance_km')!r} "
                f"but its link is {link.distance_km!r} km"
            )
    # connected: a union-find over the edges by node index (check_connected), not networkx's search, whose sets
    # of names took ~0.2 kB a node besides the graph
    names = [""] * graph.number_of_nodes()
    for name, index in graph.nodes(data="index"):
        names[index] = name
    index_of = graph.nodes(data="index")
    check_connected(names, ((index_of[a], index_of[b]) for a, b in graph.edges()), where=where)


def _disconnected(where: str, cut_off: Sequence[str], first: str, count: int | None = None) -> str:
    """The message refusing a disconnected topology: the nodes ``cut_off`` (the first of ``count``, where given)
    cannot reach node ``first``."""
    shown = _quote_names(cut_off)
    more = (count or 0) - len(cut_off)
    if more > 0:
        shown += f", ... ({more} more)"
    return f"{where}: the topology is disconnected: node(s) {shown} cannot reach {first!r}"


def component_roots(num_nodes: int, index_edges: np.ndarray) -> np.ndarray:
    """Per node, the lowest node of its connected component, in NumPy passes (every rank checks a job's network).

    Hooks every component's root to the lowest root it has an edge to, then halves every path to a root until
    each node points at its root (pointer jumping, Shiloach & Vishkin 1982), and again until no edge joins two
    roots: a few passes over the edges (about log2 of the diameter), where a union-find in Python took ~1 us an
    edge (2026-12-07: ~1 s for a million edges).

    Args:
        num_nodes: nodes ``0..num_nodes - 1``.
        index_edges: an ``(m, 2)`` int array of node index pairs.

    Examples:
        >>> component_roots(5, np.array([(3, 4), (1, 0), (4, 2)])).tolist()
        [0, 0, 2, 2, 2]
    """
    parent = np.arange(num_nodes, dtype=np.int64)
    ends = np.asarray(index_edges, dtype=np.int64).reshape(-1, 2)
    a, b = ends[:, 0], ends[:, 1]
    while True:
        root_a, root_b = parent[a], parent[b]
        apart = root_a != root_b
        if not apart.any():
            return parent
        low, high = np.minimum(root_a[apart], root_b[apart]), np.maximum(root_a[apart], root_b[apart])
        np.minimum.at(parent, high, low)
        while True:  # every node to its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand


def check_connected(names: Sequence[str], index_edges: Iterable[tuple[int, int]] | np.ndarray, *,
                    where: str = "validate") -> None:
    """Refuse a topology whose nodes are not all connected, without building its graph.

    The check and the message of :func:`validate` (node ``names[0]`` and the
    nodes it cannot reach, the first :data:`_MAX_NAMES_IN_MESSAGE` of them and their count), from the node names
    and the edges as index pairs: a job's ``[network]`` is checked so at load time, and its graph is built
    once, for the run (:func:`component_roots`).

    Args:
        names: node names in index order (at least one).
        index_edges: ``(a, b)`` node index pairs, each in ``0..len(names) - 1`` (or an ``(m, 2)`` int array).
        where: what the message names first.

    Raises:
        ConfigError: a node that cannot reach ``names[0]``, naming those nodes.

    Examples:
        >>> check_connected(["a", "b", "c"], [(0, 1), (1, 2)])
        >>> check_connected(["a", "b", "c"], [(0, 1)])
        Traceback (most recent call last):
            ...
        dqsim.errors.ConfigError: validate: the topology is disconnected: node(s) 'c' cannot reach 'a'
    """
    if not isinstance(index_edges, np.ndarray):
        index_edges = np.array(list(index_edges), dtype=np.int64)
    roots = component_roots(len(names), index_edges)
    cut_off = np.flatnonzero(roots != roots[0])
    if cut_off.size:
        raise ConfigError(_disconnected(where, [names[i] for i in cut_off[:_MAX_NAMES_IN_MESSAGE].tolist()],
                                        names[0], int(cut_off.size)))


def shortest_path(graph: nx.Graph, source: str, target: str) -> list[str]:
    """Route of least total fibre length from ``source`` to ``target``: the route
    :meth:`dqsim.network.network.Network.route` takes on the network of ``graph`` (its nodes in ``graph``'s order).

    Dijkstra's algorithm over the edges' ``distance_km``. Among routes of equal length, the one networkx's
    bidirectional Dijkstra (``nx.shortest_path(..., weight="distance_km")``) finds from the end listed first in
    ``graph`` to the other, reversed when ``source`` is listed after ``target``: one route both ways, the one a run
    takes (``Network.route`` searches the network's arrays step for step as that search does, without a networkx
    graph; tests/test_network_routes.py). Until 2026-12-07 this function ran networkx's one-way
    ``dijkstra_path`` from ``source``, which took another of equal routes than a run for 3 of an 8-node ring's 56
    ordered pairs. It searches ``graph`` (networkx): for a network's own routes, :meth:`Network.route` needs no graph.

    Args:
        graph: the topology.
        source: name of the first node.
        target: name of the last node.

    Returns:
        Node names from ``source`` to ``target`` inclusive.

    Raises:
        ConfigError: a node name not in the graph.

    Examples:
        >>> g = from_edges(["a", "b", "c"], [("a", "b", 1.0), ("b", "c", 1.0), ("a", "c", 5.0)])
        >>> shortest_path(g, "a", "c")
        ['a', 'b', 'c']
        >>> r = ring(4)
        >>> shortest_path(r, "node0", "node2"), shortest_path(r, "node2", "node0")
        (['node0', 'node1', 'node2'], ['node2', 'node1', 'node0'])
    """
    for name, node in (("source", source), ("target", target)):
        if node not in graph:
            raise ConfigError(
                f"shortest_path: {name} {node!r} is not a node of the topology; "
                f"known nodes: {_quote_names(graph.nodes)}"
            )
    if source == target:
        return [source]
    first = next(node for node in graph if node == source or node == target)
    if first == source:
        return nx.shortest_path(graph, source, target, weight="distance_km")
    return nx.shortest_path(graph, target, source, weight="distance_km")[::-1]


def path_distance_km(graph: nx.Graph, path: Sequence[str]) -> float:
    """Total fibre length along ``path``, km.

    Args:
        graph: the topology.
        path: node names, each linked to the next.

    Returns:
        Sum of the links' lengths (0 for a path of one node).

    Raises:
        ConfigError: consecutive nodes that are not linked.

    Examples:
        >>> path_distance_km(line(4), ["node0", "node1", "node2"])
        2.0
    """
    total_km = 0.0
    for a, b in zip(path, path[1:]):
        if not graph.has_edge(a, b):
            raise ConfigError(f"path_distance_km: no link between {a!r} and {b!r}")
        total_km += graph.edges[a, b]["distance_km"]
    return total_km


def place_nodes(num_nodes: int, num_ranks: int) -> list[int]:
    """Rank of each node: contiguous, balanced blocks in index order.

    Node ``i`` goes to the rank whose :func:`dqsim.comm.split_evenly` range
    holds ``i``; the first ``num_nodes % num_ranks`` ranks get one node more.

    Args:
        num_nodes: number of nodes, >= 1.
        num_ranks: number of MPI ranks, in [1, num_nodes].

    Returns:
        ``placement[i]`` = rank of node ``i``.

    Raises:
        ConfigError: a count below 1.
        ResourceError: more ranks than nodes.

    Examples:
        >>> place_nodes(7, 3)
        [0, 0, 0, 1, 1, 2, 2]
    """
    num_nodes = check_int("place_nodes", "num_nodes", num_nodes, 1, error=ConfigError)
    num_ranks = check_int("place_nodes", "num_ranks", num_ranks, 1, error=ConfigError)
    if num_ranks > num_nodes:
        raise ResourceError(
            f"place_nodes: num_ranks = {num_ranks} exceeds num_nodes = {num_nodes}; "
            f"each rank must hold at least one node, so run with at most {count_of(num_nodes, 'rank')}"
        )
    placement = []
    for rank in range(num_ranks):
        start, stop = comm.split_evenly(num_nodes, num_ranks, rank)
        placement.extend([rank] * (stop - start))
    return placement
