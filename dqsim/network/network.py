"""The network as one object: nodes, links, topology, routes, latencies and the placement on ranks.

A :class:`Network` is built once per run from the job (or by a user) and
handed to the engine (:class:`dqsim.engine.Simulator`), which takes from it
the node names, the rank that runs each node, the message latency between
any two nodes, the boundary nodes (those with a link to another rank) and
its lookahead. Protocols read routes, links and node hardware from the same
object. Scenarios do not rebuild a view of the network for the engine
(DESIGN.md, "One network object").

Latency of a classical message from node ``a`` to node ``b``: the one-way
fibre delay ``n_g·L/c`` of every link along the route (each link's
:attr:`~dqsim.network.link.LinkSpec.delay_ps`, at least
``min_link_delay_ps``), summed, plus ``b``'s
:attr:`~dqsim.network.node.NodeSpec.classical_processing_delay_ps`. The
route is the one of least total fibre length (Dijkstra over the links'
``distance_km``). A heralding station's message travels its own link
instead (:meth:`Network.link_latency_ps`), whichever route is shorter.

The placement of nodes on ranks is checked in one place,
:func:`place_on_ranks`.
"""

from __future__ import annotations

import heapq
import math
import numbers
import operator
from array import array
from bisect import bisect_left
from itertools import accumulate, repeat
from operator import attrgetter, eq, itemgetter
from typing import Callable, Hashable, Iterable, Mapping, Sequence

import networkx as nx
import numpy as np

from dqsim.errors import ConfigError, ResourceError, count_of
from dqsim.units import ps_to_seconds
from dqsim.network.fibre import propagation_delay_ps, propagation_delays_ps
from dqsim.network.link import LinkSpec, check_pairing_horizon, pairing_horizon_holds_below
from dqsim.network.node import IndexedNames, NodeSpec, NodeSpecs, node_values
from dqsim.network.topology import SCIPY_SEARCH_NODES, place_nodes

#: :meth:`Network.rank_distances_ps` of a rank no route reaches (larger than any simulated time).
UNREACHABLE_PS = 1 << 62

#: The engine's clock limit, ps: 2**61 (about 26.7 days), half of :data:`UNREACHABLE_PS`, from which the
#: engine's arithmetic between ranks counts a time as never (a run on several ranks past it failed with a
#: misleading error; the tables' int64 picoseconds hold 2**63). No event may be scheduled past it: the engine
#: refuses the run in one line, alike on every rank (:meth:`dqsim.engine.Simulator.refuse_past_clock`).
#: QKD's Cascade check (:data:`dqsim.protocols.qkd.nodes.CASCADE_END_MAX_PS`) refuses through the engine,
#: naming the rate it needs; the repeater's job check (:class:`dqsim.jobs.repeater.ChainSection`) and the
#: cloud queue (:data:`dqsim.jobs.cloud.MAX_CLOUD_QUEUE_PS`) use the same limit.
PROTOCOL_CLOCK_LIMIT_PS = UNREACHABLE_PS // 2


#: Links whose own delays :meth:`Network._link_delay` keeps one by one, by link (a dictionary: ~100 bytes a link);
#: on reading one more it keeps every link's at once instead (8 bytes a link).
READ_DELAYS_KEPT = 4096

#: Lengths per :meth:`LinkSpec.with_lengths` call where links are made at their own lengths (:func:`_specs_at`).
SPEC_CHUNK = 4096

#: Nodes a forest has at least per level of depth for :meth:`Network._forest_rank_distances` to take its passes a
#: level at a time in NumPy (each level a few array operations, ~20 us, against ~0.5 us a node for a pass in
#: Python): a star of 2^20 nodes has one level, a chain in another order than its indices 2^20.
NODES_PER_FOREST_LEVEL = 32
#: Most trees a forest's walk takes a level at a time in NumPy (:meth:`Network._level_walked_forest`): each tree
#: costs a few NumPy calls and a scan for its lowest node, so a forest of many small trees is walked node by node.
FOREST_LEVEL_TREES = 64


def _specs_at(bases: Sequence[LinkSpec], lengths: Sequence[float]) -> Iterable[LinkSpec]:
    """Each ``bases[i]`` at ``lengths[i]``, made a chunk of :data:`SPEC_CHUNK` at a time: one
    :meth:`LinkSpec.with_lengths` per distinct base in a chunk (it checks the shortest and longest length only), not
    a ``dataclasses.replace`` per length (~100 us each: 55 s for 2^18 links of distinct lengths).

    Examples:
        >>> base = LinkSpec(distance_km=1.0)
        >>> [spec.distance_km for spec in _specs_at([base, base, LinkSpec(distance_km=2.0)], [3.0, 4.0, 5.0])]
        [3.0, 4.0, 5.0]
    """
    for start in range(0, len(lengths), SPEC_CHUNK):
        chunk_bases, chunk_lengths = bases[start:start + SPEC_CHUNK], lengths[start:start + SPEC_CHUNK]
        made: list = [None] * len(chunk_lengths)
        groups: dict[int, tuple[LinkSpec, list[int]]] = {}
        for i, base in enumerate(chunk_bases):
            groups.setdefault(id(base), (base, []))[1].append(i)
        for base, positions in groups.values():
            for i, spec in zip(positions, base.with_lengths([chunk_lengths[i] for i in positions])):
                made[i] = spec
        yield from made


def clock_limit_allowed_by(clock: str) -> str:
    """The clock limit as the refusals that name it write it: its seconds, ``(2**61 ps)`` and whose clock allows it.

    Used by the engine's :func:`~dqsim.engine.simulator.clock_refusal`, the cloud queue's bound
    (:data:`dqsim.jobs.cloud.MAX_CLOUD_QUEUE_PS`) and the repeater's load check (:class:`dqsim.jobs.repeater.ChainSection`).

    Args:
        clock: whose clock, as the message names it (``"the engine's clock"``).

    Examples:
        >>> clock_limit_allowed_by("the engine's clock")
        "2.306e+06 s (2**61 ps) the engine's clock allows"
    """
    return f"{ps_to_seconds(PROTOCOL_CLOCK_LIMIT_PS):.4g} s (2**61 ps) {clock} allows"

#: C-level reads of a node's name and of an edge ``(a, b, link)``'s pair and link.
_NAME, _PAIR, _LINK = attrgetter("name"), itemgetter(0, 1), itemgetter(2)


def place_on_ranks(num_nodes: int, num_ranks: int, placement: Sequence[int] | None = None, *,
                   key: str = "placement") -> list[int]:
    """The rank of each node: ``placement`` checked, or contiguous balanced blocks.

    The default is :func:`dqsim.network.topology.place_nodes` (contiguous
    blocks in index order); with more ranks than nodes node ``i`` runs on
    rank ``i`` and the other ranks hold no node.

    Args:
        num_nodes: number of nodes, >= 1.
        num_ranks: ranks of the run, >= 1.
        placement: the rank of every node (``None``: the default).
        key: what the placement is called in an error message (a job key
            such as ``"[network].placement"``, or an argument name).

    Returns:
        ``ranks[i]`` = rank of node ``i``.

    Raises:
        ResourceError: a placement that does not give every node one rank in
            ``0..num_ranks-1`` (one line naming ``key``, the entry, its value and the range).

    Examples:
        >>> place_on_ranks(5, 2)
        [0, 0, 0, 1, 1]
        >>> place_on_ranks(2, 4)
        [0, 1]
        >>> place_on_ranks(3, 2, [0, 2, 1], key="[network].placement")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        dqsim.errors.ResourceError: [network].placement[1] = 2: must be a rank in 0..1 (the run has 2 ranks); it is ...
    """
    if placement is None:
        return place_nodes(num_nodes, num_ranks) if num_nodes >= num_ranks else list(range(num_nodes))
    ranks = list(placement)
    if len(ranks) != num_nodes:
        raise ResourceError(f"{key} {ranks} must give each of {num_nodes} nodes a rank in 0..{num_ranks - 1} "
                            f"(it lists {len(ranks)})")
    for index, rank in enumerate(ranks):
        if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not 0 <= rank < num_ranks:
            raise ResourceError(f"{key}[{index}] = {rank!r}: must be a rank in 0..{num_ranks - 1} "
                                f"(the run has {count_of(num_ranks, 'rank')})"
                                f"{_more_ranks_hint(ranks, num_ranks, key)}")
    return [int(r) for r in ranks]


def placement_array(ranks: Sequence[int], num_ranks: int) -> np.ndarray:
    """``ranks`` (each node's rank, checked: :func:`place_on_ranks`) as a read-only NumPy array: int16 where the
    ranks fit (``num_ranks`` <= 32,768), else int32; 2 bytes a node where a tuple took 8.

    Examples:
        >>> placed = placement_array([0, 0, 1], 2)
        >>> placed.tolist(), placed.dtype.name, placed.flags.writeable, placement_array([1], 40000).dtype.name
        ([0, 0, 1], 'int16', False, 'int32')
    """
    placed = np.array(ranks, dtype=np.int16 if num_ranks <= 2**15 else np.int32)
    placed.flags.writeable = False
    return placed


def _more_ranks_hint(ranks: list, num_ranks: int, key: str) -> str:
    """How to run a placement written for more ranks than the run has: the rank count it needs, or no placement.

    Examples:
        >>> _more_ranks_hint([0, 1, 2, 3], 2, "[network].placement")
        '; it is written for 4 ranks: run under mpiexec -n 4, or remove [network].placement (nodes placed by default)'
        >>> _more_ranks_hint([0, -1], 2, "[network].placement")
        ''
        >>> _more_ranks_hint([0, 0, 1], 1, "job.toml: [network].placement").endswith(
        ...     "mpiexec -n 2, or remove [network].placement (nodes placed by default)")
        True
    """
    integral = [r for r in ranks if isinstance(r, numbers.Integral) and not isinstance(r, bool)]
    if len(integral) != len(ranks) or min(integral) < 0 or max(integral) < num_ranks:
        return ""
    needed = 1 << int(max(integral)).bit_length()  # the power of two above the highest rank named
    name = key.rsplit(": ", 1)[-1]  # a job's key comes as "FILE: [network].placement"
    return (f"; it is written for {count_of(needed, 'rank')}: run under mpiexec -n {needed}, or remove {name} "
            "(nodes placed by default)")


def _node_list(nodes: Sequence[NodeSpec], where: str, keep=list) -> Sequence[NodeSpec]:
    """``nodes`` as a :class:`NodeSpecs` (kept: its items are specs) or ``keep(nodes)``, every item a :class:`NodeSpec`.

    Raises:
        ConfigError: an item that is not a :class:`NodeSpec`, named with ``where``.
    """
    if isinstance(nodes, NodeSpecs):
        return nodes
    nodes = keep(nodes)
    if not all(map(isinstance, nodes, repeat(NodeSpec))):  # (C-level passes: every rank builds the network)
        spec = next(spec for spec in nodes if not isinstance(spec, NodeSpec))
        raise ConfigError(f"{where}: nodes must be NodeSpec, got {type(spec).__name__}")
    return nodes


def _names_unique(nodes: Sequence[NodeSpec]) -> bool:
    """Whether the nodes' names differ (numbered names do, by construction: no set of every name)."""
    if isinstance(nodes, NodeSpecs):
        return isinstance(nodes.names, IndexedNames) or len(set(nodes.names)) == len(nodes)
    return len(set(map(_NAME, nodes))) == len(nodes)


def _links_graph(nodes: Sequence[NodeSpec], items: Sequence[tuple[tuple[int, int], object]]) -> nx.Graph:
    """The topology of :meth:`Network.from_links`: node names, an edge per link with ``link`` and ``distance_km``.

    Raises:
        ResourceError: a link naming an unknown node or a node itself, a link given twice.
    """
    graph = nx.Graph(kind="links")
    names = nodes.names if isinstance(nodes, NodeSpecs) else [spec.name for spec in nodes]
    graph.add_nodes_from(names)
    given: set[frozenset] = set()
    for (a, b), link in items:
        _check_link(a, b, len(nodes), given, lambda: frozenset((names[a], names[b])))
        graph.add_edge(names[a], names[b], link=link,
                       distance_km=link.distance_km if isinstance(link, LinkSpec) else None)
    return graph


def _check_link(a: int, b: int, num_nodes: int, given: set, key: Callable[[], object]) -> None:
    """Refuse link ``(a, b)`` unless it joins two different nodes of ``0..num_nodes - 1`` and ``key()`` is new.

    ``given`` holds the keys of the links checked before (updated here):
    unordered node-index pairs in :meth:`Network.from_links`, unordered
    name pairs in :func:`_links_graph` (names may repeat there; the graph
    joins nodes by name).

    Raises:
        ResourceError: a link naming an unknown node or a node itself, a link given twice.
    """
    if not (0 <= a < num_nodes and 0 <= b < num_nodes) or a == b:
        raise ResourceError(f"link ({a}, {b}) must join two different nodes of 0..{num_nodes - 1}")
    pair = key()
    if pair in given:
        raise ResourceError(f"link ({a}, {b}) is given twice")
    given.add(pair)


def _all_of_length(items: list, length: int) -> bool:
    """Whether every item has ``len(item) == length`` (C-level; ``False`` where one has no length)."""
    try:
        return all(map(eq, map(len, items), repeat(length)))
    except TypeError:
        return False


def _all_distinct(keys: np.ndarray) -> bool:
    """Whether no two of ``keys`` (int64) are equal: a stable sort (timsort: near-linear on the nearly sorted keys
    of a topology's links, 3 ms for a 2^20-node ring's) and one comparison of neighbours. ``np.unique`` took
    1.3 s on that ring (NumPy 2's hashing) until 2026-12-07 (night).

        >>> _all_distinct(np.array([5, 1, 3])), _all_distinct(np.array([5, 1, 5]))
        (True, False)
    """
    ordered = np.sort(keys, kind="stable")
    return bool(np.all(ordered[1:] != ordered[:-1]))


def _edges_in_graph_order(pairs: Sequence, num_nodes: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The links of :meth:`Network.from_links` (node index pairs, ``pairs[i]`` joined by link ``i``) as
    ``(a, b)`` with ``a < b``, in the order networkx's ``Graph.edges`` reports a graph's edges when added in this
    order: the nodes in order, each one's links to higher nodes in the order given (a stable sort by the lower
    node). A chain's links, ``(j, j + 1)`` in order, stay as they are.

    Returns:
        The pairs as an ``(m, 2)`` int32 array (int64 from 2**31 nodes) in that order, and the permutation that puts the given links in
        it (``None``: the given order).

    Raises:
        ResourceError: a link naming an unknown node or a node itself, a link given twice (the first such, in
            order, as :func:`_check_link` finds it).
    """
    try:  # the checks of _check_link for every link at once, in NumPy passes (every rank builds the network)
        ends = np.asarray(pairs)
        if ends.size == 0:
            ends = ends.reshape(0, 2)
        fine = ends.ndim == 2 and ends.shape[1] == 2 and ends.dtype.kind in "iu"
    except (TypeError, ValueError, OverflowError):
        fine = False
    if fine:
        if ends.dtype == np.int64 and np.all(ends[:, 0] < ends[:, 1]):  # (low, high) already: views, no copies
            lows, highs = ends[:, 0], ends[:, 1]
        else:
            lows, highs = ends.min(axis=1).astype(np.int64), ends.max(axis=1).astype(np.int64)
        fine = not np.any(lows == highs) and (not len(ends) or (lows.min() >= 0 and highs.max() < num_nodes))
        if fine:  # no pair twice: keys rising already (a topology's edges), else their sort
            keys = lows * num_nodes + highs
            fine = bool(np.all(keys[1:] > keys[:-1])) or _all_distinct(keys)
            del keys
    if not fine:  # one link at a time: the first bad one raises
        given: set[tuple[int, int]] = set()
        for a, b in pairs:
            _check_link(a, b, num_nodes, given, lambda: (a, b) if a < b else (b, a))
        lows = np.array([min(a, b) for a, b in pairs], dtype=np.int64)
        highs = np.array([max(a, b) for a, b in pairs], dtype=np.int64)
    dtype = np.int32 if num_nodes < 2**31 else np.int64  # (what Network keeps)
    if np.all(lows[1:] >= lows[:-1]):  # already in order
        return np.stack((lows, highs), axis=1, dtype=dtype), None
    order = np.argsort(lows, kind="stable")
    return np.stack((lows[order], highs[order]), axis=1, dtype=dtype), order


def graph_copy_order(pairs: Sequence | np.ndarray, num_nodes: int) -> np.ndarray | None:
    """The order in which a copy of a graph (networkx's ``Graph.copy``) adds its edges, where the graph added the
    links ``pairs`` (node index pairs, checked as :meth:`Network.from_links` does) in the order given and its
    nodes in index order: the order ``Graph.edges`` reports them, each node's links to higher nodes in the order
    given. A route search breaks ties by the order a graph added its edges (:meth:`Network._search_adjacency`),
    so a network made of a copied graph searches its links in this order.

    Returns:
        The permutation that puts ``pairs`` in that order (``None``: they are in it).

    Examples:
        >>> graph_copy_order([(0, 1), (1, 2), (2, 0)], 3).tolist()
        [0, 2, 1]
    """
    return _edges_in_graph_order(pairs, num_nodes)[1]


def _distinct(links: Sequence) -> tuple[tuple, np.ndarray]:
    """The distinct objects of ``links`` (by identity, in the order of their first link) and, per link, the index
    of its object among them: a network's links as one small tuple and an int32 array (4 bytes per link)."""
    num_links = len(links)
    if not num_links:
        return (), np.zeros(0, dtype=np.int32)
    first = links[0]
    if all(map(operator.is_, links, repeat(first))):  # (C-level: the links of one [network.link] share it)
        return (first,), np.zeros(num_links, dtype=np.int32)
    ids = np.fromiter(map(id, links), dtype=np.uint64, count=num_links)
    _ids, firsts, inverse = np.unique(ids, return_index=True, return_inverse=True)
    by_first = np.argsort(firsts)
    position = np.empty_like(by_first)
    position[by_first] = np.arange(by_first.size)
    return tuple(links[i] for i in firsts[by_first].tolist()), position[inverse.reshape(-1)].astype(np.int32)


def _int64s(values: Iterable[int]) -> Sequence[int]:
    """``values`` as an ``array("q")`` (8 bytes each), or a list where one passes int64 (delays past 2^63 ps)."""
    values = list(values) if not isinstance(values, (list, tuple)) else values
    try:
        return array("q", values)
    except OverflowError:
        return values


def _compact_index(index: np.ndarray, num_values: int) -> np.ndarray:
    """``index`` (per link, an index into ``num_values`` distinct objects) in the narrowest form that holds it.

    One value: a read-only view of one zero broadcast to every link (no memory per link: the links of one
    ``[network.link]`` table share one :class:`LinkSpec`); else the smallest unsigned integer type (1 byte a link
    for up to 256 distinct objects, 2 up to 65,536, else 4).

    Examples:
        >>> _compact_index(np.zeros(5, dtype=np.int32), 1).strides, _compact_index(np.array([0, 1, 1]), 2).dtype
        ((0,), dtype('uint8'))
    """
    if num_values <= 1:
        return np.broadcast_to(np.uint8(0), (len(index),))
    dtype = np.uint8 if num_values <= 1 << 8 else np.uint16 if num_values <= 1 << 16 else np.uint32
    compact = np.asarray(index).astype(dtype)
    compact.flags.writeable = False
    return compact


def _index_code(num_nodes: int) -> str:
    """The ``array`` typecode of node indices (and depths, subtree sizes) of ``num_nodes`` nodes: ``"i"`` (a C
    int, 4 bytes) below 2^31 nodes, else ``"q"``.

    Examples:
        >>> _index_code(2**20), _index_code(2**31)
        ('i', 'q')
    """
    return "i" if num_nodes < 2**31 and array("i").itemsize == 4 else "q"


def _typed_array(values: np.ndarray, typecode: str) -> array:
    """``values`` as an :class:`array.array` of ``typecode`` (one copy from the NumPy buffer, none through bytes)."""
    out = array(typecode)
    out.frombytes(memoryview(np.ascontiguousarray(values, dtype=np.dtype(typecode))).cast("B"))
    return out


def _settle(adjacent: "_Adjacency", best, frontier: list) -> None:
    """Dijkstra's search in place: pop ``(delay, node)`` from the heap ``frontier`` (ps), relax each link of the
    node (``adjacent[node]``), lowering ``best[other]`` (a list or ``array("q")``, indexed by node) and pushing
    each node reached sooner, until the heap is empty; then ``best`` holds each node's least delay from the sources
    (a node's is final once popped)."""
    heappop, heappush = heapq.heappop, heapq.heappush
    while frontier:
        distance, node = heappop(frontier)
        if distance > best[node]:
            continue
        for other, delay in adjacent[node]:
            reach = distance + delay
            if reach < best[other]:
                best[other] = reach
                heappush(frontier, (reach, other))


#: Sums of link delays (ps) below this are exact in float64 (2^53): SciPy's search, in floats, gives the integers.
EXACT_FLOAT_PS = 1 << 53


def _scipy_least_delays(adjacent: "_Adjacency", sources: Sequence[int], num_nodes: int) -> np.ndarray | None:
    """Least summed link delay (ps, whole float64s; ``UNREACHABLE_PS``: none) from the nearest of ``sources``
    to every node, by SciPy's Dijkstra (``scipy.sparse.csgraph.dijkstra``, compiled); ``None`` where SciPy is
    missing (an optional extra), the network has under :data:`SCIPY_SEARCH_NODES` nodes or the delays of all
    links together reach 2^53 ps (~2.5 h of fibre: float64 sums no longer exact), for :func:`_settle` to search
    instead. The same integers as the Python search (tested): every sum of delays below 2^53 is exact in
    float64, as is 2^62. Zero-delay links are links (explicit zeros of the matrix)."""
    if num_nodes < SCIPY_SEARCH_NODES:
        return None
    try:
        from scipy.sparse import csr_matrix  # noqa: PLC0415 (optional: the Python search where it is missing)
        from scipy.sparse.csgraph import dijkstra  # noqa: PLC0415
    except ImportError:
        return None
    if not len(sources):
        return np.full(num_nodes, float(UNREACHABLE_PS))
    if adjacent.longest_delay() * len(adjacent.neighbours) >= EXACT_FLOAT_PS:  # (bounds every route's sum)
        return None
    indptr = np.frombuffer(adjacent.start, dtype=np.int64)
    graph = csr_matrix((adjacent.entry_delays(np.float64), np.frombuffer(adjacent.neighbours, dtype=np.int32),
                        indptr), shape=(num_nodes, num_nodes))
    reach = dijkstra(graph, directed=True, indices=np.asarray(sources, dtype=np.int64), min_only=True)
    del graph
    reach[np.isinf(reach)] = UNREACHABLE_PS  # (2^62: exact in float64)
    return reach


class _Adjacency:
    """Every node's links as compact arrays (compressed sparse rows): what routes and latencies walk and look up.

    Node ``v``'s entries are ``start[v]:start[v + 1]``, one per link of ``v`` in the order of
    :attr:`Network.links`: the neighbour and the link's index in :attr:`Network.links` (int32 each). A link's
    delay is not stored per entry: it is the delay of the link's :class:`LinkSpec` (``spec_delays[k]`` for the
    ``k``-th distinct spec), so one value where every link has the same delay (a job's ``[network.link]``) and a
    1-byte spec index per entry for up to 256 distinct specs. Links with their own lengths (``link_delays``, per
    link) are coded by their distinct delays the same way up to 65,536 of them, and beyond hold an int64 delay per
    entry. Looking up the link of a pair searches ``v``'s
    entries sorted by neighbour (the same arrays where they are so sorted already, as in every builder's
    topology). 16 bytes per link (two entries of two int32), against 32 with an int64 delay per entry (before
    2026-12-06) and ~500 for the lists of tuples and the dictionaries keyed by node pairs before that (every
    rank builds the network: an ``all_to_all`` of 1,000 nodes has 499,500 links).
    """

    __slots__ = ("start", "neighbours", "links", "_delay", "_codes", "_code_delays", "_sorted_neighbours",
                 "_sorted_links")

    def __init__(self, num_nodes: int, ends: np.ndarray, spec_of: np.ndarray, spec_delays: Sequence[int],
                 link_delays: np.ndarray | None = None):
        num_links = len(ends)
        flat = np.ascontiguousarray(ends, dtype=np.int32).reshape(-1)  # link j's ends at 2j and 2j + 1
        # per node, its entries in the order of the flat ends, so of the links (a link never joins a node to itself)
        order = np.argsort(flat, kind="stable")
        order ^= 1  # the entry's other end (in place: no copy of the int64 order)
        far = flat[order]
        order >>= 1  # its link
        link_of = order.astype(np.int32)
        del order
        degrees = np.bincount(flat, minlength=num_nodes)
        self.start: array = _typed_array(np.concatenate(([0], np.cumsum(degrees))), "q")  # (8 bytes a node)
        self.neighbours = _typed_array(far, "i")
        self.links = _typed_array(link_of, "i")
        delays, coded = tuple(spec_delays), link_delays is None
        if link_delays is not None:  # links of their own lengths: their delays coded as the specs' are, where few
            distinct, codes = np.unique(link_delays, return_inverse=True)
            if len(distinct) <= 1 << 16:
                delays, spec_of = tuple(distinct.tolist()), _compact_index(codes.reshape(-1), len(distinct))
                coded = True
            del distinct, codes
        if not coded:  # more distinct delays than a 2-byte code tells apart: a delay per entry (8 bytes), no table
            self._delay, self._code_delays = None, None
            self._codes = _typed_array(np.asarray(link_delays)[link_of], "q")
        elif len(set(delays)) <= 1:  # one delay for every link: no entry needs its own
            self._delay, self._codes, self._code_delays = (delays[0] if delays else 0), None, ()
        else:
            codes = np.asarray(spec_of)[link_of]
            self._delay, self._code_delays = None, delays
            self._codes = _typed_array(codes, {1: "B", 2: "H"}.get(codes.dtype.itemsize, "I"))
        # sorted by neighbour within each node: where far rises but at each node's first entry, it already is
        firsts = np.zeros(2 * num_links, dtype=bool)
        firsts[np.array(self.start[:-1], dtype=np.int64)[degrees > 0]] = True
        if np.all((far[1:] > far[:-1]) | firsts[1:]):
            self._sorted_neighbours, self._sorted_links = self.neighbours, self.links
        else:
            node_of = np.repeat(np.arange(num_nodes, dtype=np.int32), degrees)
            by_neighbour = np.lexsort((far, node_of))
            self._sorted_neighbours = _typed_array(far[by_neighbour], "i")
            self._sorted_links = _typed_array(link_of[by_neighbour], "i")

    def _delays(self, lo: int, hi: int):
        """The delays (ps) of entries ``lo:hi``, an iterable."""
        if self._codes is None:
            return repeat(self._delay, hi - lo)
        if self._code_delays is None:  # the delays themselves
            return self._codes[lo:hi]
        return map(self._code_delays.__getitem__, self._codes[lo:hi])

    def entry_delays(self, dtype=np.int64) -> np.ndarray:
        """The delay (ps) of every entry in entry order, as ``dtype`` (8 bytes an entry, built on each call)."""
        num_entries = len(self.neighbours)
        if self._codes is None:
            return np.full(num_entries, self._delay, dtype=dtype)
        codes = np.frombuffer(self._codes, dtype=np.dtype(self._codes.typecode)) if num_entries else np.zeros(0, int)
        if self._code_delays is None:
            return codes.astype(dtype)
        return np.asarray(self._code_delays, dtype=dtype)[codes]

    def entry_delays_at(self, entries: np.ndarray) -> np.ndarray | int:
        """The delays (ps, int64) of entries ``entries`` (an integer array; one int where every link has one)."""
        if self._codes is None:
            return self._delay
        codes = np.frombuffer(self._codes, dtype=np.dtype(self._codes.typecode))[entries]
        return codes.astype(np.int64) if self._code_delays is None else np.asarray(self._code_delays, np.int64)[codes]

    def longest_delay(self) -> int:
        """The largest delay (ps) of any entry (0: no entry)."""
        if self._codes is None:
            return self._delay if len(self.neighbours) else 0
        return int(max(self._codes if self._code_delays is None else self._code_delays, default=0))

    def link_delay(self, node: int, link: int) -> int:
        """The delay (ps) of link ``link`` (an index of :attr:`Network.links`), one of whose ends is ``node``: its
        entry found by bisection (a node's entries are in the order of the links)."""
        if self._codes is None:
            return self._delay
        entry = bisect_left(self.links, link, self.start[node], self.start[node + 1])
        return self._codes[entry] if self._code_delays is None else self._code_delays[self._codes[entry]]

    def __getitem__(self, node: int):
        """``(neighbour, delay in ps)`` of each of ``node``'s links, in the order of :attr:`Network.links`."""
        lo, hi = self.start[node], self.start[node + 1]
        return zip(self.neighbours[lo:hi], self._delays(lo, hi))

    def with_links(self, node: int):
        """``(neighbour, delay in ps, link index)`` of each of ``node``'s links, in the order of :attr:`Network.links`."""
        lo, hi = self.start[node], self.start[node + 1]
        return zip(self.neighbours[lo:hi], self._delays(lo, hi), self.links[lo:hi])

    def degree(self, node: int) -> int:
        """Number of ``node``'s links."""
        return self.start[node + 1] - self.start[node]

    def find(self, a: int, b: int) -> int:
        """Index in :attr:`Network.links` of the link joining nodes ``a`` and ``b`` (-1: none)."""
        if not (0 <= a < len(self.start) - 1):
            return -1
        lo, hi = self.start[a], self.start[a + 1]
        at = bisect_left(self._sorted_neighbours, b, lo, hi)
        return self._sorted_links[at] if at < hi and self._sorted_neighbours[at] == b else -1


class Network:
    """Nodes, links, topology, routes, latencies and placement on ranks: the network of one run.

    Args:
        graph: the topology: nodes named as ``nodes``, every edge with a
            ``link`` attribute (:class:`LinkSpec`) and a ``distance_km``
            attribute (its length, the weight of routes). The builders of
            :mod:`dqsim.network.topology` and :meth:`from_links` make such
            graphs. It need not be connected; routes exist within components.
        nodes: the :class:`NodeSpec` of every node; node ``i`` is
            ``nodes[i]`` (its index in the engine).
        num_ranks: MPI ranks of the run, >= 1.
        placement: the rank of every node (``None``: :func:`place_on_ranks`'s default).
        placement_key: what the placement is called in error messages.
        routed: ``True``: messages between nodes without a link follow the
            shortest route; ``False``: messages go along links only.
        min_link_delay_ps: least delay of a link, ps, >= 0 (a link shorter
            than this still takes it).

    Raises:
        ConfigError: a node of ``nodes`` not in ``graph`` (or the reverse),
            an edge without a :class:`LinkSpec`.
        ResourceError: a bad placement; a link of zero delay between nodes on
            different ranks (the engine's windows need a positive lookahead).

    Examples:
        >>> from dqsim.network import topology
        >>> net = Network.from_links([NodeSpec(name="a"), NodeSpec(name="b"), NodeSpec(name="c")],
        ...                          {(0, 1): LinkSpec(distance_km=10.0), (1, 2): LinkSpec(distance_km=20.0)},
        ...                          num_ranks=2)
        >>> net.route(0, 2), net.latency_ps(0, 2), net.placement.tolist()
        ([0, 1, 2], 146901627, [0, 0, 1])
        >>> net.lookahead_ps, sorted(net.boundary_nodes)
        (48967209, [1, 2])
    """

    def __init__(self, graph: nx.Graph, nodes: Sequence[NodeSpec], *, num_ranks: int = 1,
                 placement: Sequence[int] | None = None, placement_key: str = "placement", routed: bool = True,
                 min_link_delay_ps: int = 0):
        self._set_nodes(nodes)
        if set(graph.nodes) != set(self.names):
            extra = sorted(set(graph.nodes) - set(self.names), key=str)
            missing = sorted(set(self.names) - set(graph.nodes))
            raise ConfigError(f"Network: the topology's nodes must be the nodes' names; "
                              f"not in the topology: {missing}, not among the nodes: {extra}")
        self._graph: nx.Graph | None = graph
        self._graph_source: Callable[[], nx.Graph] | None = None
        index = self._index_of
        edges = [((index(u), index(v)), data.get("link")) for u, v, data in graph.edges(data=True)]
        ends = np.array([pair for pair, _link in edges], dtype=np.int64).reshape(-1, 2)
        self._set_links(ends, *_distinct([link for _pair, link in edges]),
                        num_ranks=num_ranks, placement=placement, placement_key=placement_key, routed=routed,
                        min_link_delay_ps=min_link_delay_ps)

    def _set_nodes(self, nodes: Sequence[NodeSpec]) -> None:
        """Check the nodes and keep them, their names and the index of each name (:class:`Network`'s arguments)."""
        where = "Network"
        #: Every node's :class:`NodeSpec` (a :class:`~dqsim.network.node.NodeSpecs` where they differ in their
        #: names only, as a job's do: no copy per node).
        self.nodes: Sequence[NodeSpec] = _node_list(nodes, where, keep=tuple)
        #: The nodes' names in index order: a tuple, or a :class:`~dqsim.network.node.NumberedNames` (``node0``,
        #: ``node1``, ... of a job's generated topology) or :class:`~dqsim.network.node.PackedNames` (read from a
        #: job's ``edges_file``): no string per node, each made when read.
        self.names: Sequence[str] = (self.nodes.names if isinstance(self.nodes, NodeSpecs)
                                     else tuple(map(_NAME, self.nodes)))
        #: Index of each name (``None``: numbered names, whose index is read off the name, or packed names, which
        #: search their sorted order: no dict of every name, ~60 bytes a node on every rank).
        self._index: dict[str, int] | None = None
        if not isinstance(self.names, IndexedNames):
            self._index = dict(zip(self.names, range(len(self.names))))
            if len(self._index) != len(self.names):
                raise ConfigError(f"{where}: node names must be unique, got {list(self.names)}")
        if not self.names:
            raise ConfigError(f"{where}: the network has no nodes")

    def _set_links(self, ends: np.ndarray, specs: tuple, spec_of: np.ndarray, *, num_ranks: int = 1,
                   placement: Sequence[int] | None = None, placement_key: str = "placement", routed: bool = True,
                   min_link_delay_ps: int = 0, added: np.ndarray | None = None,
                   lengths_km: np.ndarray | None = None) -> None:
        """Check and keep the links and the options: the node index pairs ``ends[i]`` (an ``(m, 2)`` int array,
        the topology's edge order) joined by the links ``specs[spec_of[i]]`` (the distinct link objects), each
        ``lengths_km[i]`` long where given (see :meth:`from_pairs`); ``added[i]``: the position of link ``i`` in
        the order the graph adds its edges (``None``: this order; see :meth:`_search_adjacency`)."""
        where = "Network"
        if isinstance(num_ranks, bool) or not isinstance(num_ranks, int) or num_ranks < 1:
            raise ConfigError(f"{where}: num_ranks must be an integer >= 1, got {num_ranks!r}")
        if isinstance(min_link_delay_ps, bool) or not isinstance(min_link_delay_ps, int) or min_link_delay_ps < 0:
            raise ConfigError(f"{where}: min_link_delay_ps must be an integer >= 0, got {min_link_delay_ps!r}")
        self.num_ranks = num_ranks
        self.routed = bool(routed)
        self.min_link_delay_ps = min_link_delay_ps
        #: The rank of every node: a read-only NumPy array, int16 (int32 past 32,767 ranks), kept once (the
        #: engine reads it, :attr:`dqsim.engine.Simulator.rank_of_node`); a tuple until 2026-12-07 (afternoon).
        self.placement: np.ndarray = placement_array(place_on_ranks(len(self.names), num_ranks, placement,
                                                                    key=placement_key), num_ranks)
        ends = np.asarray(ends).reshape(-1, 2)
        ends = ends.astype(np.int32 if len(self.names) < 2**31 else np.int64, copy=False)  # (built here)
        for k, spec in enumerate(specs):  # (in the order of their first links: the first bad link is refused)
            if not isinstance(spec, LinkSpec):
                a, b = ends[int(np.flatnonzero(spec_of == k)[0])].tolist()
                raise ConfigError(f"{where}: link {self.names[a]}-{self.names[b]} has no LinkSpec in its 'link' "
                                  "attribute")
        spec_delays = [max(spec.delay_ps, min_link_delay_ps) for spec in specs]
        #: Per link, its length, km (float64, read-only), where the links give their own lengths
        #: (:meth:`from_pairs`'s ``lengths_km``): a link's :class:`LinkSpec` is then its spec's parameters at that
        #: length, made when asked for (:meth:`_link_spec`), its delay worked out from its length.
        #: ``None``: every link's length is its spec's. A :class:`LinkSpec` per distinct length took ~1.2 kB a
        #: length on every rank with the properties a run reads cached (until 2026-12-07 (later)). The delays are
        #: worked out from the lengths where asked for (:meth:`link_delays_ps`), not kept per link; their least,
        #: ``_least_delay``, is.
        self._lengths: np.ndarray | None = None
        self._least_delay: int | None = None
        self._length_specs: dict[tuple[int, float], LinkSpec] = {}  # see _link_spec
        if lengths_km is not None:
            self._lengths = self._checked_lengths(lengths_km, ends, specs, spec_of)
        #: The linked node pairs, an ``(m, 2)`` array in the topology's edge order (:attr:`links` as tuples), and
        #: per link the index of its :class:`LinkSpec` in ``_specs`` (the distinct link objects): compact arrays,
        #: since every rank builds the whole network (an ``all_to_all`` of 1,000 nodes has 499,500 links).
        self._ends = ends
        self._ends.flags.writeable = False
        #: Per link, the index of its spec in ``_specs`` (:func:`_compact_index`: no memory per link where every
        #: link shares one spec), and each spec's delay (at least ``min_link_delay_ps``), ps: a link's delay is
        #: its spec's (``_spec_delays[_spec_of[j]]``), not stored per link (8 bytes a link until 2026-12-06).
        self._specs, self._spec_of = tuple(specs), _compact_index(spec_of, len(specs))
        self._spec_delays: tuple[int, ...] = tuple(spec_delays)
        if self._lengths is not None and len(self._lengths):
            self._least_delay = int(self.link_delays_ps().min())
        if spec_delays and (min(spec_delays) if self._least_delay is None else self._least_delay) <= 0:
            placement = np.asarray(self.placement, dtype=np.int64)
            crossing = placement[self._ends[:, 0]] != placement[self._ends[:, 1]]
            zero = self.link_delays_ps() <= 0
            for j in np.flatnonzero(crossing & zero)[:1].tolist():
                a, b = self._ends[j].tolist()
                raise ResourceError(
                    f"link {self.names[a]}-{self.names[b]} has zero delay ({self._link_spec(j).distance_km} "
                    f"km) but joins nodes on ranks {self.placement[a]} and {self.placement[b]}; give it a length > 0 "
                    "km or place both nodes on one rank")
        #: Whether the links are ``(0, 1), (1, 2), ...``: a chain in index order (see :meth:`_rooted_forest`).
        num_nodes = len(self.names)
        self._is_path = (self.num_links == num_nodes - 1 and np.array_equal(self._ends[:, 0], np.arange(num_nodes - 1))
                         and np.array_equal(self._ends[:, 1], np.arange(1, num_nodes)))
        self._routes: dict[tuple[int, int], list[int]] = {}
        self._latency: dict[tuple[int, int], int] = {}
        self._adjacent: _Adjacency | None = None  # see _adjacency
        self._read_delays: dict[int, int] = {}  # see _link_delay
        self._all_delays: array | None = None  # see _link_delay
        self._tree = self._rooted_forest()
        self._lightest: list[list[tuple]] | None = None  # see _link_is_shortest
        self._weights: list[float] | None = None  # see _routing_weights
        self._rank_distances: tuple[array, ...] | None = None  # see rank_distance_columns
        self._sorted_links: bool | None = None  # see links_sorted
        #: Per link, its position in the order the network's graph adds its edges (``None``: the order of
        #: :attr:`links`), and the adjacency in networkx's order that route searches walk (see
        #: :meth:`_search_adjacency`).
        self._added: np.ndarray | None = None if added is None else np.asarray(added, dtype=np.int64)
        self._search: tuple | None = None
        self._weights_given = False  # _weights given by from_pairs's route_weights (see _uniform_weight)

    @staticmethod
    def _checked_lengths(lengths_km, ends: np.ndarray, specs: tuple, spec_of: np.ndarray) -> np.ndarray:
        """The links' own lengths, km, as a read-only float64 array.

        Raises:
            ConfigError: not one length per link; a length its spec refuses (each spec's shortest and longest
                checked: a :class:`LinkSpec` refuses a length below 0 or where its delay leaves the engine's
                clock, so every length between two accepted ones is accepted).
        """
        lengths = np.array(lengths_km, dtype=np.float64).reshape(-1)
        if len(lengths) != len(ends):
            raise ConfigError(f"Network: lengths_km must give each of the {len(ends)} links a length, got "
                              f"{len(lengths)}")
        index = np.asarray(spec_of)
        for k, spec in enumerate(specs):
            own = lengths[index == k] if len(specs) > 1 else lengths
            if own.size and not np.isfinite(own).all():
                raise ConfigError(f"Network: lengths_km must be finite km, got {own[~np.isfinite(own)][0]!r}")
            if own.size:
                spec.with_lengths([float(own.min()), float(own.max())])  # (raises for a length refused)
        lengths.flags.writeable = False
        return lengths

    def _link_spec(self, index: int) -> LinkSpec:
        """The :class:`LinkSpec` of link ``index`` of :attr:`links`: its spec, at its own length where the links give
        theirs (made on first use and kept, one per distinct parameters and length: a rank keeps the links it
        reads, not every link of the network)."""
        spec_index = int(self._spec_of[index])
        spec = self._specs[spec_index]
        if self._lengths is None:
            return spec
        length = float(self._lengths[index])
        if length == spec.distance_km:
            return spec
        made = self._length_specs.get((spec_index, length))
        if made is None:
            made = self._length_specs[(spec_index, length)] = spec.with_lengths([length])[0]
        return made

    def _each_distinct_link(self, spec_indices: Sequence[int] | None = None) -> Iterable[tuple[int, LinkSpec]]:
        """``(link index, LinkSpec)`` of the first link of each distinct :class:`LinkSpec` (parameters and length), in
        the order of :attr:`links`: every link's spec judged once. Where the links give their own lengths the specs
        are made a chunk at a time and not kept (:func:`_specs_at`; a run keeps those its ranks read,
        :meth:`_link_spec`). ``spec_indices``: only the links of those specs (``None``: every link)."""
        if self._lengths is None:
            if len(self._specs) == 1:
                return iter([(0, self._specs[0])]) if self.num_links else iter(())
            _specs, firsts = np.unique(self._spec_of, return_index=True)
            return zip(firsts.tolist(), self._specs)
        keys = np.stack((np.asarray(self._spec_of, dtype=np.float64), self._lengths), axis=1)
        _keys, firsts = np.unique(keys, axis=0, return_index=True)
        firsts.sort()
        del keys, _keys
        if spec_indices is not None:
            firsts = firsts[np.isin(np.asarray(self._spec_of)[firsts], np.asarray(spec_indices, dtype=np.int64))]
        bases = list(map(self._specs.__getitem__, np.asarray(self._spec_of)[firsts].tolist()))
        return zip(firsts.tolist(), _specs_at(bases, self._lengths[firsts].tolist()))

    @property
    def graph(self) -> nx.Graph:
        """The topology: a networkx graph of the node names, each edge with ``link`` and ``distance_km``.

        A network made by :meth:`from_links` builds it on first use (its
        routes and latencies do not need it on a forest, such as a chain).
        """
        if self._graph is None:
            self._graph = self._graph_source()
        return self._graph

    @property
    def num_links(self) -> int:
        """Number of links."""
        return len(self._ends)

    @property
    def links(self) -> tuple[tuple[int, int], ...]:
        """The linked node pairs ``(a, b)``, in the topology's edge order.

        Made on each read from the network's compact arrays (:meth:`link_ends`): every rank builds the whole
        network, and its tuples took ~64 bytes per link.
        """
        return tuple(map(tuple, self._ends.tolist()))

    def link_ends(self) -> np.ndarray:
        """The linked node pairs as an ``(m, 2)`` int array (read-only), in the order of :attr:`links`."""
        return self._ends

    @property
    def link_specs(self) -> tuple[LinkSpec, ...]:
        """The :class:`LinkSpec` of every link, in the order of :attr:`links` (links with the same parameters
        may share one object). Made on each read; :attr:`distinct_link_specs` lists each object once."""
        if self._lengths is not None:
            return tuple(map(self._link_spec, range(self.num_links)))
        return tuple(map(self._specs.__getitem__, self._spec_of.tolist()))

    @property
    def distinct_link_specs(self) -> tuple[LinkSpec, ...]:
        """Each :class:`LinkSpec` object the network holds once, in the order of its first link: every link's
        where :meth:`own_lengths_km` is ``None``, else the links' parameters (each link is its spec at its own
        length: :meth:`link`, :meth:`any_link`)."""
        return self._specs

    def any_link(self, predicate: Callable[[LinkSpec], bool],
                 length_free: Callable[[LinkSpec], bool] | None = None) -> bool:
        """Whether ``predicate`` holds for some link's :class:`LinkSpec`, asked once per distinct spec (parameters
        and length; where the links give their own lengths, each made for the question and not kept).

        ``length_free``: where it holds for a spec, ``predicate``'s answer does not depend on the spec's length, so
        its links are asked once, at the spec itself (a network of 2^20 links each of its own length made a
        LinkSpec per length otherwise, ~1 us each).

        Examples:
            >>> net = Network.from_pairs([NodeSpec(name=n) for n in "abc"], [(0, 1), (1, 2)],
            ...                          [LinkSpec(distance_km=1.0)] * 2, lengths_km=[1.0, 30.0])
            >>> net.any_link(lambda link: link.distance_km > 20), net.any_link(lambda link: link.distance_km > 40)
            (True, False)
        """
        if self._lengths is None or length_free is None:
            return any(predicate(spec) for _index, spec in self._each_distinct_link())
        used = np.unique(np.asarray(self._spec_of)).tolist()
        free = [k for k in used if length_free(self._specs[k])]
        if any(predicate(self._specs[k]) for k in free):
            return True
        rest = sorted(set(used) - set(free))
        return bool(rest) and any(predicate(spec) for _index, spec in self._each_distinct_link(rest))

    def own_lengths_km(self) -> np.ndarray | None:
        """Per link, in the order of :attr:`links`, its length where the links give their own (float64, read-only:
        :meth:`from_pairs`'s ``lengths_km``), else ``None`` (each link's length is its spec's)."""
        return self._lengths

    def link_distances_km(self) -> np.ndarray:
        """The length of every link, km, in the order of :attr:`links` (float64)."""
        if self._lengths is not None:
            return self._lengths.copy()
        return np.array([spec.distance_km for spec in self._specs], dtype=np.float64)[self._spec_of]

    def link_spec_indices(self) -> np.ndarray:
        """Per link, in the order of :attr:`links`, the index of its spec in :attr:`distinct_link_specs`
        (read-only; a view of one zero where every link shares one spec)."""
        return self._spec_of

    def link_delays_ps(self) -> np.ndarray:
        """The delay of every link, ps (its :class:`LinkSpec`'s ``delay_ps``, at least ``min_link_delay_ps``),
        in the order of :attr:`links` (int64; made on each call: the network keeps one per distinct spec, and
        where the links give their own lengths works each out from the link's length, as :attr:`LinkSpec.delay_ps`
        does, keeping them in the routes' adjacency only: :class:`_Adjacency`)."""
        if self._lengths is not None and not len(self._lengths):  # (no link: a subnetwork of one node has no spec)
            return np.zeros(0, dtype=np.int64)
        if self._lengths is not None:  # each link's delay_ps at its length: the same float operations, in one pass
            group_index = np.array([spec.group_index for spec in self._specs], dtype=np.float64)
            delays = propagation_delays_ps(self._lengths, group_index[self._spec_of] if len(self._specs) > 1
                                           else group_index[0])
            return np.maximum(delays, self.min_link_delay_ps, out=delays)
        return np.array(self._spec_delays, dtype=np.int64)[self._spec_of]

    def _link_delay(self, index: int) -> int:
        """The delay of link ``index`` of :attr:`links`, ps: where the links give their own lengths, read from the
        routes' adjacency where built (:meth:`_adjacency`: the integers :meth:`link_delays_ps` gives), else worked
        out once per link read and kept, for the first :data:`READ_DELAYS_KEPT` links read; past those, every
        link's delay at once in an ``array("q")`` (8 bytes a link; the same integers, tested) and the first ones
        dropped. A chain builds no adjacency: every call worked it out until 2026-12-07 (later), and until
        2026-12-07 (afternoon) the dictionary grew by ~100 bytes a link read."""
        if self._lengths is not None:
            if self._adjacent is not None:
                return self._adjacent.link_delay(int(self._ends[index, 0]), index)
            if self._all_delays is not None:
                return self._all_delays[index]
            delay = self._read_delays.get(index)
            if delay is None:
                if len(self._read_delays) >= READ_DELAYS_KEPT:
                    self._all_delays = array("q", self.link_delays_ps().tobytes())
                    self._read_delays = {}
                    return self._all_delays[index]
                group_index = self._specs[self._spec_of[index]].group_index
                delay = self._read_delays[index] = max(propagation_delay_ps(float(self._lengths[index]), group_index),
                                                       self.min_link_delay_ps)
            return delay
        return self._spec_delays[self._spec_of[index]]

    def links_sorted(self) -> bool:
        """Whether every link is ``(a, b)`` with ``a < b`` and the links are in ``(a, b)`` order (then
        :attr:`links` is the order a run's ``links`` table lists them in: a ``line``, ``star`` or ``all_to_all``).

        Examples:
            >>> net = Network.from_pairs([NodeSpec(name=n) for n in "abc"], [(0, 1), (1, 2)], [LinkSpec(distance_km=1.0)] * 2)
            >>> net.links_sorted(), Network.from_pairs(net.nodes, [(0, 2), (0, 1)], [LinkSpec(distance_km=1.0)] * 2).links_sorted()
            (True, False)
        """
        if self._sorted_links is None:
            lows, highs = self._ends[:, 0], self._ends[:, 1]
            self._sorted_links = bool(np.all(lows < highs) and np.all(
                (lows[1:] > lows[:-1]) | ((lows[1:] == lows[:-1]) & (highs[1:] > highs[:-1]))))
        return self._sorted_links

    def link_index(self, a: int, b: int) -> int:
        """Index in :attr:`links` of the link joining nodes ``a`` and ``b``, either way round (-1: none).

        Examples:
            >>> net = Network.from_pairs([NodeSpec(name=n) for n in "abc"], [(0, 1), (2, 1)], [LinkSpec(distance_km=1.0)] * 2)
            >>> net.link_index(1, 2), net.link_index(0, 2)
            (1, -1)
        """
        return self._link_index(a, b)

    def _link_index(self, a: int, b: int) -> int:
        """Index in :attr:`links` of the link joining nodes ``a`` and ``b``, either way round (-1: none).

        A chain's link ``j`` joins nodes ``j`` and ``j + 1`` (a chain's run on the engine builds no
        lookup: every rank builds the network); any other network's is found in :meth:`_adjacency`.
        """
        if self._is_path:
            low = a if a < b else b
            return low if (a - b == 1 or b - a == 1) and 0 <= low < self.num_links else -1
        return self._adjacency().find(a, b)

    def _rooted_forest(self) -> tuple | None:
        """Parent, depth, root, delay from the root and ancestor table of every node of a forest (else ``None``):
        integer sequences indexed by node (``range``, ``array("i")`` of 4-byte indices, ``array("q")`` of delays:
        24-32 bytes a node, see :meth:`_path_forest` and :meth:`_walked_forest`).

        On a forest the route between two nodes is the only path, found
        without a search; its delay is ``D[a] + D[b] − 2·D[lca]`` with ``D``
        the delay from the root and ``lca`` the lowest common ancestor. The
        walk's order (``_preorder``: parents before children, every subtree
        one run of it) tells in O(1) whether one node is the other's ancestor,
        which is every pair of a chain; other pairs take binary lifting
        (O(log n) each) on an ancestor table built on first use.
        """
        if self._is_path:
            return self._path_forest()
        if self.num_links >= len(self.names):  # a forest has fewer links than nodes: no need to walk it
            return None
        return self._walked_forest()

    def _path_forest(self) -> tuple:
        """:meth:`_rooted_forest` of a chain in index order, written down: the walk from node 0 visits 0, 1, 2, ...

        The same sequences as :meth:`_walked_forest` makes (tested), held as formulas where they are ones
        (``range`` objects: parent, depth, walk order, position) and as ``array("q")`` where not (root, subtree
        end, delay from the root: 24 bytes a node, against ~156 in lists before 2026-12-07).
        """
        num_nodes = len(self.names)
        order = range(num_nodes)
        self._preorder, self._first, self._subtree_end = order, order, array("q", [num_nodes]) * num_nodes
        delays = (self.link_delays_ps().tolist() if self._lengths is not None
                  else map(self._spec_delays.__getitem__, self._spec_of.tolist()))
        return (range(-1, num_nodes - 1), order, array("q", bytes(8 * num_nodes)),
                _int64s(accumulate(delays, initial=0)), [])

    def _walked_forest(self) -> tuple | None:
        """:meth:`_rooted_forest` of any network: a walk of every tree from its lowest node (``None``: not a forest).

        The delays from the roots an ``array("q")`` (8 bytes a node; a list if one passes 2^63 ps), the node
        indices and depths ``array("i")`` (4 bytes a node each, :func:`_index_code`; ``array("q")`` until
        2026-12-07 (night), 24 bytes a node more; lists, ~156 bytes a node in all, before 2026-12-07).
        """
        levelled = self._level_walked_forest()
        if levelled is not NotImplemented:
            return levelled
        num_nodes = len(self.names)
        code = _index_code(num_nodes)
        parent, root = array(code, [-1]) * num_nodes, array(code, [-1]) * num_nodes
        depth = array(code, [0]) * num_nodes
        from_root: Sequence[int] = array("q", bytes(8 * num_nodes))
        adjacent = self._adjacency()
        order = array(code)
        for start in range(num_nodes):
            if root[start] != -1:
                continue
            root[start], frontier = start, [start]
            while frontier:
                node = frontier.pop()
                order.append(node)
                for other, delay in adjacent[node]:
                    if root[other] == -1:
                        root[other], parent[other], depth[other] = start, node, depth[node] + 1
                        try:
                            from_root[other] = from_root[node] + delay
                        except OverflowError:  # past int64 ps (no run gets this far): Python ints
                            from_root = list(from_root)
                            from_root[other] = from_root[node] + delay
                        frontier.append(other)
        # a forest has one link fewer than nodes per tree (nx.is_forest's test, 3 ms of a 1,024-node chain)
        if self.num_links != num_nodes - sum(1 for v in range(num_nodes) if root[v] == v):
            return None
        size = array(code, [1]) * num_nodes
        for node in reversed(order):
            above = parent[node]
            if above != -1:
                size[above] += size[node]
        first = array(code, [0]) * num_nodes
        for position, node in enumerate(order):
            first[node] = position
        #: Per node: its position in ``_preorder``, and the end of its subtree's run there.
        self._preorder, self._first = order, first
        self._subtree_end = array(code, map(operator.add, first, size))
        return parent, depth, root, from_root, []  # (the ancestor table: see _lowest_common_ancestor)

    def _level_walked_forest(self):
        """:meth:`_walked_forest` a depth level at a time in NumPy: the same sequences (tested), or ``NotImplemented``
        where the walk node by node is the better way: more than :data:`FOREST_LEVEL_TREES` trees, more levels
        than one a :data:`NODES_PER_FOREST_LEVEL` nodes (a deep tree), or links whose delays together could pass
        int64.

        Each level's children are the unvisited ends of its parents' entries, in entry order (a tree's only
        path reaches each node once; a network with cycles is told by its link count after, as the walk does).
        The walk node by node pops a node and pushes its links' ends in entry order, so it visits a node's
        children last entry first and each subtree as one run: a child's position is its parent's plus one plus
        the sizes of the children of later entries (suffix sums, per level). A 2^20-node star's walk took ~2 s of
        Python until 2026-12-07 (night)."""
        num_nodes = len(self.names)
        adjacent = self._adjacency()
        if adjacent.longest_delay() * len(adjacent.neighbours) >= UNREACHABLE_PS:
            return NotImplemented
        starts = np.frombuffer(adjacent.start, dtype=np.int64)
        ends = np.frombuffer(adjacent.neighbours, dtype=np.dtype(adjacent.neighbours.typecode))
        index = np.int32 if _index_code(num_nodes) == "i" else np.int64
        parent, root = np.full(num_nodes, -1, dtype=index), np.full(num_nodes, -1, dtype=index)
        depth, from_root = np.zeros(num_nodes, dtype=index), np.zeros(num_nodes, dtype=np.int64)
        levels, budget, tops = [], num_nodes // NODES_PER_FOREST_LEVEL + 2 * FOREST_LEVEL_TREES, []
        unvisited = 0
        while num_nodes:
            unvisited += int(np.argmax(root[unvisited:] == -1))
            if root[unvisited] != -1:
                break
            if len(tops) == FOREST_LEVEL_TREES:
                return NotImplemented
            top, frontier = unvisited, np.array([unvisited], dtype=index)
            root[top] = top
            tops.append(top)
            while frontier.size:
                budget -= 1
                if budget < 0:
                    return NotImplemented
                counts = starts[frontier + 1] - starts[frontier]
                above = np.repeat(frontier, counts)
                entry = np.arange(len(above), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
                entry += np.repeat(starts[frontier], counts)
                below = ends[entry]
                new = root[below] == -1
                above, entry, below = above[new], entry[new], below[new]
                parent[below] = above
                once = parent[below] == above  # (a node reached twice: not a forest, told by the link count)
                if not once.all():
                    above, entry, below = above[once], entry[once], below[once]
                root[below], depth[below] = top, depth[above] + 1
                from_root[below] = from_root[above] + adjacent.entry_delays_at(entry)
                if len(below):
                    levels.append((below, above))
                frontier = below
        if self.num_links != num_nodes - len(tops):
            return None
        size = np.ones(num_nodes, dtype=index)
        for below, above in reversed(levels):  # (a broad level counted in one pass over every node)
            if len(below) * NODES_PER_FOREST_LEVEL >= num_nodes:
                size += np.bincount(above, weights=size[below], minlength=num_nodes).astype(index)
            else:
                np.add.at(size, above, size[below])
        first = np.zeros(num_nodes, dtype=index)
        first[tops] = np.cumsum(size[tops]) - size[tops]
        for below, above in levels:  # grouped by parent (contiguous), in entry order within each
            sizes = size[below].astype(np.int64)
            group = np.flatnonzero(np.r_[True, above[1:] != above[:-1]])
            totals = np.add.reduceat(sizes, group)
            within = np.cumsum(sizes)
            within -= np.repeat(within[group] - sizes[group], np.diff(np.r_[group, len(below)]))
            first[below] = first[above] + 1 + np.repeat(totals, np.diff(np.r_[group, len(below)])) - within
        del levels
        order = np.empty(num_nodes, dtype=index)
        order[first] = np.arange(num_nodes, dtype=index)
        code = _index_code(num_nodes)
        self._preorder, self._first = _typed_array(order, code), _typed_array(first, code)
        self._subtree_end = _typed_array(first + size, code)
        return (_typed_array(parent, code), _typed_array(depth, code), _typed_array(root, code),
                _typed_array(from_root, "q"), [])

    def _adjacency(self) -> _Adjacency:
        """Per node, ``(neighbour, link delay in ps)`` of each of its links, in the order of :attr:`links`
        (``adjacency[node]``; built on first use)."""
        if self._adjacent is None:
            self._adjacent = _Adjacency(len(self.names), self._ends, self._spec_of, self._spec_delays,
                                        None if self._lengths is None else self.link_delays_ps())
        return self._adjacent

    def _forest_rank_distances(self) -> tuple[array, ...]:
        """:meth:`rank_distance_columns` on a forest: two passes over its rooted trees per rank, no search.

        The only path between two nodes of a tree is the shortest, so the
        nearest node of rank ``r`` is found by passing the least distance up
        each tree (children before parents: the nearest in every subtree) and
        then down (parents before children: the nearest anywhere). The same
        table as the Dijkstra search, in about half its time on a 1,024-node
        chain. A shallow forest (at most one level a :data:`NODES_PER_FOREST_LEVEL` nodes: a star, a
        broad tree) takes the passes a level at a time in NumPy (:meth:`_level_rank_distances`), a deep one
        node by node (:meth:`_walked_rank_distances`); both the same integers (tested).
        """
        depth = self._tree[1]
        num_levels = int(np.max(np.asarray(depth), initial=0))
        from_root = self._tree[3]
        if num_levels * NODES_PER_FOREST_LEVEL <= len(depth) and max(from_root, default=0) < UNREACHABLE_PS:
            return self._level_rank_distances(num_levels)
        return self._walked_rank_distances()

    def _walked_rank_distances(self) -> tuple[array, ...]:
        """:meth:`_forest_rank_distances` node by node along the walk's order, each column an ``array("q")`` as it
        is built (8 bytes a node and rank; until 2026-12-07 (night) a tuple per node for the passes and a list of
        Python ints per rank: ~300 bytes a node at its peak on a 2^18-node star)."""
        parent, _depth, _root, from_root, _ancestors = self._tree
        order = self._preorder  # parents before children
        placement = np.asarray(self.placement)
        columns = []
        for rank in range(self.num_ranks):
            best = _typed_array(np.where(placement == rank, 0, UNREACHABLE_PS), "q")
            for node in reversed(order):  # up: children before parents
                above = parent[node]
                if above != -1:
                    reach = best[node] + from_root[node] - from_root[above]
                    if reach < best[above]:
                        best[above] = reach
            for node in order:  # down: parents before children
                above = parent[node]
                if above != -1:
                    reach = best[above] + from_root[node] - from_root[above]
                    if reach < best[node]:
                        best[node] = reach
            columns.append(best)
        return tuple(columns)

    def _level_rank_distances(self, num_levels: int) -> tuple[array, ...]:
        """:meth:`_forest_rank_distances` a depth at a time in NumPy: up from the deepest level (each node's least
        distance passed to its parent, ``np.minimum.at``), then down from the roots' children; ``2 * num_levels``
        passes of int64 arrays per rank (a 2^20-node star: two). The delays from the roots are below
        :data:`UNREACHABLE_PS`, so no sum passes int64."""
        parent, depth, _root, from_root, _ancestors = self._tree
        parent, depth = np.asarray(parent), np.asarray(depth)  # (views of the walk's arrays: no copy)
        from_root = np.asarray(from_root, dtype=np.int64)
        children = np.flatnonzero(parent >= 0)
        children = children[np.argsort(depth[children], kind="stable")]  # by depth: level d is one run
        bounds = np.searchsorted(depth[children], np.arange(1, num_levels + 2))
        levels = [children[bounds[d - 1]:bounds[d]] for d in range(1, num_levels + 1)]
        del children
        delay = from_root - from_root[np.maximum(parent, 0)]  # (each node's link to its parent; a root's: none)
        placement = np.asarray(self.placement)
        columns = []
        for rank in range(self.num_ranks):
            best = np.where(placement == rank, 0, UNREACHABLE_PS).astype(np.int64)
            for level in reversed(levels):  # up: children before parents
                np.minimum.at(best, parent[level], best[level] + delay[level])
            for level in levels:  # down: parents before children
                best[level] = np.minimum(best[level], best[parent[level]] + delay[level])
            columns.append(_typed_array(best, "q"))
        return tuple(columns)

    def _path_rank_distances(self) -> tuple[array, ...]:
        """:meth:`rank_distance_columns` of a chain in index order, in NumPy passes (every rank builds the table).

        Along the chain the delay from node 0 never decreases, so the nearest
        node of rank ``r`` is the nearest one of ``r`` on the left or on the
        right: running maxima and minima of their indices. The same integers
        as :meth:`_forest_rank_distances` (tested), ~0.2 M instructions
        instead of ~5 M on a 1,024-node chain on 2 ranks.
        """
        from_root = np.array(self._tree[3], dtype=np.int64)
        placement = np.array(self.placement, dtype=np.int64)
        num_nodes = len(placement)
        index = np.arange(num_nodes)
        columns = []
        for rank in range(self.num_ranks):
            mine = placement == rank
            left = np.maximum.accumulate(np.where(mine, index, -1))  # the nearest node of rank at or before each
            right = np.minimum.accumulate(np.where(mine, index, num_nodes)[::-1])[::-1]  # ... at or after it
            from_left = np.where(left >= 0, from_root - from_root[np.maximum(left, 0)], UNREACHABLE_PS)
            from_right = np.where(right < num_nodes, from_root[np.minimum(right, num_nodes - 1)] - from_root,
                                  UNREACHABLE_PS)
            columns.append(_typed_array(np.minimum(from_left, from_right), "q"))
        return tuple(columns)

    def _lowest_common_ancestor(self, a: int, b: int) -> int:
        """The lowest common ancestor of nodes ``a`` and ``b`` of one tree (see :meth:`_rooted_forest`)."""
        first, end = self._first, self._subtree_end
        if first[a] <= first[b] < end[a]:
            return a
        if first[b] <= first[a] < end[b]:
            return b
        parent, depth, _root, _from_root, ancestors = self._tree
        if not ancestors:  # built once, in place (binary lifting: the 2^k-th ancestor of every node)
            code = _index_code(len(parent))
            ancestors.append(array(code, (p if p != -1 else v for v, p in enumerate(parent))))
            while (1 << len(ancestors)) <= max(depth):
                previous = ancestors[-1]
                ancestors.append(array(code, map(previous.__getitem__, previous)))
        if depth[a] < depth[b]:
            a, b = b, a
        for level in range(len(ancestors) - 1, -1, -1):
            if depth[a] - (1 << level) >= depth[b]:
                a = ancestors[level][a]
        if a == b:
            return a
        for level in range(len(ancestors) - 1, -1, -1):
            if ancestors[level][a] != ancestors[level][b]:
                a, b = ancestors[level][a], ancestors[level][b]
        return ancestors[0][a]

    def _tree_route(self, a: int, b: int) -> list[int] | None:
        parent, _depth, root, _from_root, _ancestors = self._tree
        if root[a] != root[b]:
            return None
        top = self._lowest_common_ancestor(a, b)
        up, down = [a], [b]
        while up[-1] != top:
            up.append(parent[up[-1]])
        while down[-1] != top:
            down.append(parent[down[-1]])
        return up + down[-2::-1]

    # ------------------------------------------------------------- builders
    @classmethod
    def from_links(cls, nodes: Sequence[NodeSpec],
                   links: Mapping[tuple[int, int], LinkSpec] | Iterable[tuple[int, int, LinkSpec]],
                   **options) -> "Network":
        """A network from its nodes and the links between them, given by node index.

        Args:
            nodes: the :class:`NodeSpec` of every node, in index order.
            links: ``{(a, b): LinkSpec}`` or ``(a, b, LinkSpec)`` triples.
            **options: keyword arguments of :class:`Network` (``num_ranks``,
                ``placement``, ``routed``, ...).

        Raises:
            ResourceError: a link naming an unknown node or a node itself, a link given twice.

        Examples:
            >>> net = Network.from_links([NodeSpec(name="a"), NodeSpec(name="b")],
            ...                          [(0, 1, LinkSpec(distance_km=1.0))])
            >>> net.link(1, 0).distance_km
            1.0
        """
        nodes = _node_list(nodes, "Network.from_links")
        if isinstance(links, Mapping):
            pairs, link_list = list(links), list(links.values())
            if not _all_of_length(pairs, 2):  # (unpacked one by one: raises as it always did)
                pairs = [(a, b) for a, b in pairs]
        else:
            triples = list(links)
            if _all_of_length(triples, 3):
                pairs, link_list = list(map(_PAIR, triples)), list(map(_LINK, triples))
            else:  # (unpacked one by one: what is not a triple raises as it always did)
                pairs, link_list = [(a, b) for a, b, _link in triples], [link for _a, _b, link in triples]
        return cls.from_pairs(nodes, pairs, link_list, **options)

    @classmethod
    def from_pairs(cls, nodes: Sequence[NodeSpec], pairs: Sequence[tuple[int, int]] | np.ndarray,
                   links: Sequence[LinkSpec], *,
                   graph: Callable[[], nx.Graph] | None = None, route_weights: Sequence[float] | None = None,
                   lengths_km: Sequence[float] | np.ndarray | None = None, **options) -> "Network":
        """A network from its nodes, the node index pairs ``(a, b)`` its links join and their links: ``links[i]``
        joins ``pairs[i]``. :meth:`from_links` without the mapping or the triples.

        No networkx graph is built unless :attr:`graph` is read (routes on a forest or along a direct link
        need none), so a network of many links costs its compact tables only
        (:class:`~dqsim.network.topology` builders' graphs took ~0.3 kB per link, every rank building one).

        Args:
            nodes: the :class:`NodeSpec` of every node, in index order.
            pairs: the node index pairs of the links (tuples, or an ``(m, 2)`` int array such as a topology's
                ``*_edges``).
            links: the :class:`LinkSpec` of each link (links with the same parameters may share one object).
            graph: what builds :attr:`graph` on first use (default: a graph of the node names with an edge,
                ``link`` and ``distance_km``, per link), e.g. a job's ``NetworkSection.build_graph``; its edges
                must be the links, added in the order of ``pairs`` (routes break ties as networkx does on it:
                :meth:`_search_adjacency`).
            route_weights: per link, in the order of ``pairs``, the length routes weigh it by, km (default: its
                ``distance_km``): what the graph's ``distance_km`` holds where a builder gives it other lengths
                than the links' (a ``trotter`` sweep of ``distance_km`` keeps the job's lengths there).
            lengths_km: per link, in the order of ``pairs``, its length, km (``None``: its spec's ``distance_km``):
                link ``i`` is then ``links[i]`` at that length. Links that each give their own length (an ``edges``
                network's) share their specs: a float64 length each in the network, a delay in the routes'
                adjacency, and where the lengths differ a routing weight and each node's lightest links, ~300 bytes a
                link in a run (:data:`dqsim.network.topology.BYTES_PER_LINK_LENGTH`, measured), instead of a
                :class:`LinkSpec` per distinct length on every rank; a link's spec is made when read (:meth:`link`).
            **options: keyword arguments of :class:`Network` (``num_ranks``, ``placement``, ``routed``, ...).

        Raises:
            ResourceError: a link naming an unknown node or a node itself, a link given twice.

        Examples:
            >>> net = Network.from_pairs([NodeSpec(name="a"), NodeSpec(name="b"), NodeSpec(name="c")],
            ...                          [(0, 1), (2, 0)], [LinkSpec(distance_km=1.0)] * 2)
            >>> net.links, net.link(0, 2).distance_km
            (((0, 1), (0, 2)), 1.0)
        """
        nodes = _node_list(nodes, "Network.from_pairs")
        if graph is None and lengths_km is not None:  # each link's spec at its length, made with the graph
            given = np.asarray(lengths_km, dtype=np.float64).reshape(-1)

            def graph() -> nx.Graph:
                return _links_graph(nodes, list(zip(pairs, _specs_at(links, given.tolist()))))
        if graph is None:
            def graph() -> nx.Graph:
                return _links_graph(nodes, list(zip(pairs, links)))
        if not _names_unique(nodes):  # refused by
            # Network, after the graph's checks
            return cls(graph(), nodes, **options)
        # Without networkx (its graph is built on first use, Network.graph): the same checks, and the links in
        # the order networkx's Graph.edges would report them, in C-level passes (every rank builds the network:
        # one Python loop per link took ~9 M instructions for a 1,024-node chain)
        ends, order = _edges_in_graph_order(pairs, len(nodes))
        specs, spec_of = _distinct(links)
        network = cls.__new__(cls)
        network._set_nodes(nodes)
        network._graph, network._graph_source = None, graph
        if lengths_km is not None:
            lengths_km = np.asarray(lengths_km, dtype=np.float64).reshape(-1)
            if order is not None and len(lengths_km) == len(order):
                lengths_km = lengths_km[order]
        network._set_links(ends, specs, spec_of if order is None else spec_of[order], added=order,
                           lengths_km=lengths_km, **options)
        if route_weights is not None:  # (in the order of links, as _routing_weights keeps them)
            weights = list(route_weights)
            network._weights = weights if order is None else [weights[i] for i in order.tolist()]
            network._weights_given = True
        return network

    @classmethod
    def chain(cls, nodes: Sequence[NodeSpec], links: Sequence[LinkSpec], **options) -> "Network":
        """A chain: node ``j`` and node ``j + 1`` joined by ``links[j]`` (one link fewer than nodes).

        The network :meth:`from_links` makes of ``(j, j + 1, links[j])``,
        without its checks of the node pairs (a chain's cannot fail them):
        every rank builds the network of a run, and those checks were ~3 M
        instructions of a 1,024-node chain.

        Raises:
            ConfigError: a count of links other than one fewer than the nodes; what :meth:`from_links` raises
                for the nodes, links and options.

        Examples:
            >>> net = Network.chain([NodeSpec(name="a"), NodeSpec(name="b"), NodeSpec(name="c")],
            ...                     [LinkSpec(distance_km=10.0), LinkSpec(distance_km=20.0)], num_ranks=2)
            >>> net.links, net.latency_ps(0, 2), net.placement.tolist()
            (((0, 1), (1, 2)), 146901627, [0, 0, 1])
        """
        nodes, links = list(nodes), list(links)
        if len(links) != len(nodes) - 1:
            raise ConfigError(f"Network.chain: {count_of(len(nodes), 'node')} take {len(nodes) - 1} link(s), "
                              f"got {len(links)}")
        if not all(map(isinstance, nodes, repeat(NodeSpec))) or len(set(map(_NAME, nodes))) < len(nodes):
            return cls.from_links(nodes, [(j, j + 1, link) for j, link in enumerate(links)], **options)  # (raises)
        pairs = list(zip(range(len(links)), range(1, len(nodes))))
        network = cls.__new__(cls)
        network._set_nodes(nodes)
        network._graph = None
        network._graph_source = lambda: _links_graph(nodes, list(zip(pairs, links)))
        ends = np.stack((np.arange(len(links)), np.arange(1, len(nodes))), axis=1).astype(np.int64).reshape(-1, 2)
        network._set_links(ends, *_distinct(links), **options)
        return network

    def subnetwork(self, nodes: Sequence[int], **options) -> "Network":
        """The network induced by some of the nodes: those nodes, in this order, and the links between them.

        Built from this network's arrays, without a networkx graph (:meth:`from_pairs`; its :attr:`graph`, made
        on first use, is the one this method made before 2026-12-07). The links keep this network's order
        (:attr:`links`), which is the order its graph's subgraph reports them in when at least half the nodes
        are kept; with fewer, networkx's subgraph lists them in the order of a set of node names, which Python
        hashes differently in every process (so a route among equal ones could differ between ranks), and the
        induced network now keeps this network's order there too. A network whose routes weigh links by its
        graph's ``distance_km`` passes those weights on.

        Args:
            nodes: indices of the nodes to keep; node ``nodes[i]`` becomes node ``i``.
            **options: keyword arguments of :class:`Network`; ``num_ranks``,
                ``routed`` and ``min_link_delay_ps`` default to this network's,
                the placement to contiguous blocks.

        Examples:
            >>> from dqsim.network import topology
            >>> ring = Network(topology.ring(4), [NodeSpec(name=f"node{i}") for i in range(4)])
            >>> sub = ring.subnetwork([2, 1])
            >>> sub.names, sub.links
            (('node2', 'node1'), ((0, 1),))
        """
        kept = [int(node) for node in nodes]
        renumbered = np.full(len(self.names), -1, dtype=np.int64)
        renumbered[kept] = np.arange(len(kept))
        ends = renumbered[self._ends]
        inside = np.flatnonzero((ends >= 0).all(axis=1))
        pairs = ends[inside]
        links = list(map(self._specs.__getitem__, self._spec_of[inside].tolist()))
        parent_weights = self._routing_weights() if self._graph is not None else None
        names = [self.names[i] for i in kept]

        def graph() -> nx.Graph:
            """The induced graph as this method built it before 2026-12-07: its kind, each node's ``index``, the
            parent graph's edge data (``link`` and ``distance_km`` where the parent has no graph)."""
            induced = nx.Graph(kind="subnetwork")
            for index, name in enumerate(names):
                induced.add_node(name, index=index)
            parent = self._graph
            for (a, b), j in zip(pairs.tolist(), inside.tolist()):
                u, v = self._ends[j].tolist()
                link = self._link_spec(j) if parent is None else None
                data = parent.edges[self.names[u], self.names[v]] if parent is not None else {
                    "link": link, "distance_km": link.distance_km}
                induced.add_edge(names[a], names[b], **data)
            return induced

        options = {"num_ranks": self.num_ranks, "routed": self.routed, "min_link_delay_ps": self.min_link_delay_ps,
                   **options}
        return Network.from_pairs([self.nodes[i] for i in kept], pairs, links, graph=graph, **options,
                                  route_weights=None if parent_weights is None else
                                  [parent_weights[j] for j in inside.tolist()],
                                  lengths_km=None if self._lengths is None else self._lengths[inside])

    def on_ranks(self, num_ranks: int, placement: Sequence[int] | None = None) -> "Network":
        """This network (its nodes, links, routes and options) placed on ``num_ranks`` ranks, without a graph.

        Shares this network's arrays, its checked nodes, names and name index, and its graph (or what builds it)
        instead of building a network from the graph, as a ``trotter`` job's one-rank runs did until 2026-12-07.

        Args:
            num_ranks: ranks, >= 1.
            placement: the rank of every node (``None``: :func:`place_on_ranks`'s default).

        Examples:
            >>> net = Network.chain([NodeSpec(name=n) for n in "abc"], [LinkSpec(distance_km=1.0)] * 2, num_ranks=2)
            >>> one = net.on_ranks(1)
            >>> one.placement.tolist(), one.route(0, 2), one.latency_ps(0, 2) == net.latency_ps(0, 2)
            ([0, 0, 0], [0, 1, 2], True)
        """
        network = Network.__new__(Network)
        network.nodes, network.names, network._index = self.nodes, self.names, self._index  # (checked: shared)
        network._graph, network._graph_source = self._graph, self._graph_source
        network._set_links(self._ends, self._specs, np.asarray(self._spec_of), num_ranks=num_ranks,
                           placement=placement, routed=self.routed, min_link_delay_ps=self.min_link_delay_ps,
                           added=self._added, lengths_km=self._lengths)
        network._length_specs = self._length_specs  # (the specs made for links read: shared)
        network._weights, network._weights_given = self._weights, self._weights_given
        return network

    # ---------------------------------------------------------------- nodes
    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    def index_of(self, name: str) -> int:
        """Index of the node called ``name``.

        Raises:
            ConfigError: no such node.
        """
        index = self._index_of(name)
        if index is None:
            raise ConfigError(f"Network: unknown node {name!r}; known nodes: {', '.join(self.names[:10])}"
                              + (" ..." if len(self.names) > 10 else ""))
        return index

    def _index_of(self, name) -> int | None:
        """Index of the node called ``name`` (``None``: no such node)."""
        if self._index is None:
            return self.names.index_of(name)
        return self._index.get(name) if isinstance(name, Hashable) else None

    def rank_of(self, node: int) -> int:
        """The rank that runs node ``node``."""
        return int(self.placement[node])

    # ---------------------------------------------------------------- links
    def link(self, a: int, b: int) -> LinkSpec:
        """The :class:`LinkSpec` of the link between nodes ``a`` and ``b``.

        Raises:
            ResourceError: no link joins them.
        """
        return self._link_spec(self._joining_link(a, b))

    def has_link(self, a: int, b: int) -> bool:
        return self._link_index(a, b) >= 0

    def link_delay_ps(self, a: int, b: int) -> int:
        """One-way delay of the link between ``a`` and ``b``, ps: ``n_g·L/c``, at least ``min_link_delay_ps``.

        Raises:
            ResourceError: no link joins them.
        """
        return self._link_delay(self._joining_link(a, b))

    def _joining_link(self, a: int, b: int) -> int:
        """:meth:`_link_index` of a link that must exist (:class:`ResourceError` naming the nodes where none does)."""
        index = self._link_index(a, b)
        if index < 0:
            raise ResourceError(f"no link joins nodes {self.names[a]} and {self.names[b]}")
        return index

    @property
    def cross_rank_links(self) -> list[tuple[int, int]]:
        """The links whose two nodes run on different ranks."""
        return list(map(tuple, self._ends[self._crossing()].tolist()))

    def _crossing(self) -> np.ndarray:
        """Per link, whether its two nodes run on different ranks (a bool array)."""
        placement = np.asarray(self.placement, dtype=np.int64)
        return placement[self._ends[:, 0]] != placement[self._ends[:, 1]]

    @property
    def boundary_nodes(self) -> frozenset[int]:
        """Nodes with a link to a node on another rank (a protocol there may touch a far node's qubit)."""
        return frozenset(self.boundary_node_indices().tolist())

    def boundary_node_indices(self) -> np.ndarray:
        """:attr:`boundary_nodes` as a sorted integer array (the links' ends' type), what the engine reads: the
        set of a 2^18-node star on 2 ranks, half its nodes, held ~12 MB more at the engine's start until 2026-12-07
        (night)."""
        return np.unique(self._ends[self._crossing()])

    @property
    def lookahead_ps(self) -> float:
        """The smallest link delay, ps, at least 1 ps (``math.inf``: no links).

        No message between ranks arrives sooner than this after it is sent
        (it travels at least one link that crosses ranks), whatever the
        placement. The engine works from the finer
        :meth:`rank_distances_ps` (how far each node is from each rank).
        """
        if not self.num_links:
            return math.inf
        if self._least_delay is not None:
            return max(1, self._least_delay)
        return max(1, min(self._spec_delays))  # (every spec of _specs is some link's)

    def rank_distances_ps(self) -> list[list[int]]:
        """Least delay from every node to the nearest node of every rank, ps (``UNREACHABLE_PS``: none).

        Row ``n`` holds, for each rank ``r``, the shortest path (summed link
        delays) from node ``n`` to any node placed on ``r``; 0 for ``n``'s own
        rank. A list per node made at each call from :meth:`rank_distance_columns`
        (what the network keeps and the engine reads: ~160 bytes a node on
        two ranks as lists, 16 as columns). Every message is at least this late: :meth:`latency_ps` follows
        a route of links (or one link, with ``routed=False``) and adds a
        processing delay >= 0. Shortest paths obey the triangle inequality,
        so no chain of messages relayed through other nodes reaches rank
        ``r`` from ``n`` sooner either. The engine builds each rank's
        lookahead from this table (multi-source Dijkstra from each rank's
        nodes: O(ranks · links · log nodes)).
        """
        return [list(row) for row in zip(*self.rank_distance_columns())]

    def rank_distance_columns(self) -> tuple[array, ...]:
        """:meth:`rank_distances_ps` by rank: column ``r`` (an ``array("q")``): each node's least delay to ``r``, ps.

        Built once and kept (8 bytes a node and rank; the list per node that
        :meth:`rank_distances_ps` returns was kept until 2026-12-07 (late
        afternoon): ~160 bytes a node on two ranks, on every rank). Items
        read back as Python ints, the same integers.

            >>> net = Network.from_pairs([NodeSpec(name=n) for n in "abcd"], [(0, 1), (1, 2), (2, 3)],
            ...                          [LinkSpec(distance_km=1.0)] * 3, num_ranks=2)
            >>> [list(column) for column in net.rank_distance_columns()], net.rank_distances_ps()[3]
            ([[0, 0, 4896721, 9793442], [9793442, 4896721, 0, 0]], [9793442, 0])
        """
        if self._rank_distances is None and self._tree is not None:
            self._rank_distances = (self._path_rank_distances() if self._is_path and self._tree[3][-1] < UNREACHABLE_PS
                                    else self._forest_rank_distances())
        if self._rank_distances is None:
            self._rank_distances = self._searched_rank_distances()
        return self._rank_distances

    def _searched_rank_distances(self) -> tuple[array, ...]:
        """:meth:`rank_distance_columns` by a search per rank (Dijkstra's, from all the rank's nodes at once), for
        networks with cycles (a ring, a grid, ``all_to_all``, ``edges``).

        Every node of rank ``r`` is at 0 and its links to nodes of ``r`` reach nothing nearer, so the search
        starts from the nodes of ``r`` with a link off it (their neighbours elsewhere at their link's delay),
        the same least delays as one that pops every node of ``r`` first (until 2026-12-07 (night), with the
        column a list of Python ints: ~110 bytes a node at its peak on a 2^18-node ring on 2 ranks). Each column
        is an ``array("q")`` as it is searched (8 bytes a node and rank).
        """
        adjacent = self._adjacency()
        placement = np.asarray(self.placement)
        searched = []  # SciPy's compiled search from the rank's nodes, where it is installed and exact
        for rank in range(self.num_ranks if self.num_ranks > 1 else 0):
            column = _scipy_least_delays(adjacent, np.flatnonzero(placement == rank), len(placement))
            if column is None:
                break
            searched.append(_typed_array(column, "q"))
            del column
        if searched and len(searched) == self.num_ranks:
            return tuple(searched)
        del searched
        crossing = self._ends[self._crossing()]
        columns = []
        for rank in range(self.num_ranks):
            best = _typed_array(np.where(placement == rank, 0, UNREACHABLE_PS), "q")
            frontier = []
            for node in np.unique(crossing[placement[crossing] == rank]).tolist():  # the rank's nodes at its edge
                for other, delay in adjacent[node]:
                    if delay < best[other]:
                        best[other] = delay
                        frontier.append((delay, other))
            heapq.heapify(frontier)
            _settle(adjacent, best, frontier)
            columns.append(best)  # (each node's best is final once popped; unreached: unreachable)
        return tuple(columns)

    def check_pairing_horizon(self, source: str = "") -> None:
        """Refuse, before any work, a link whose pairs take longer than a run can simulate.

        Args:
            source: the job's ``job.source`` (its file, and any ``--set``), which starts the message as
                every job error's does (``""``: none).

        Raises:
            ConfigError: from :func:`dqsim.network.link.check_pairing_horizon`.
        """
        prefix = f"{source}: " if source else ""
        if self._lengths is not None and all(self._horizon_holds_for_lengths(k) for k in range(len(self._specs))):
            return  # (every length judged from the longest of its spec's links, not a LinkSpec a length)
        # each distinct link once, at its first link (links of one table share one)
        for first, link in self._each_distinct_link():
            a, b = self._ends[first].tolist()
            check_pairing_horizon(link, f"{prefix}[network] link {self.names[a]}-{self.names[b]}")

    def _horizon_holds_for_lengths(self, spec_index: int) -> bool:
        """Whether every link of spec ``spec_index`` passes the pairing horizon at its own length, judged from the
        longest (:func:`~dqsim.network.link.pairing_horizon_holds_below`; ``False``: ask each length)."""
        own = self._lengths[np.asarray(self._spec_of) == spec_index] if len(self._specs) > 1 else self._lengths
        return not own.size or pairing_horizon_holds_below(self._specs[spec_index], float(own.max()))

    # --------------------------------------------------------------- routes
    def route(self, a: int, b: int) -> list[int]:
        """Node indices from ``a`` to ``b`` along the route of least fibre length.

        Among routes of equal length the one networkx's Dijkstra finds
        first from the lower index (the same route both ways).

        Raises:
            ResourceError: no route joins them (different components, or a
                network with ``routed=False`` and no link between them).
        """
        lo, hi = min(a, b), max(a, b)
        route = self._routes.get((lo, hi))
        if route is None:
            if lo == hi:
                route = [lo]
            elif not self.routed:
                if self._link_index(lo, hi) < 0:
                    raise ResourceError(f"node {self.names[a]} sent to {self.names[b]}, but no link joins them (messages "
                                        f"here go over one link only): add a link between them, or relay the "
                                        f"message through a node linked to both")
                route = [lo, hi]
            elif self._tree is not None:  # the only simple path: what Dijkstra would find
                route = self._tree_route(lo, hi)
            elif self._link_is_shortest(lo, hi):  # the one shortest route: what Dijkstra would find
                route = [lo, hi]
            else:
                route = self._searched_route(lo, hi)
            if route is None:
                raise ResourceError(f"no route joins nodes {self.names[a]} and {self.names[b]}")
            self._routes[(lo, hi)] = route
        return list(route) if a == lo else list(reversed(route))

    def _searched_route(self, source: int, target: int) -> list[int] | None:
        """The route networkx's ``shortest_path(graph, source, target, weight="distance_km")`` returns, found on
        the network's arrays without its graph (``None``: no route).

        That call is networkx's bidirectional Dijkstra (``bidirectional_dijkstra``, networkx 3.x): a search from
        each end in turn, one settled node a step, each with its own heap of ``(length, counter, node)`` (one
        counter for both), each walking a node's neighbours in the graph's adjacency order
        (:meth:`_search_adjacency`), stopping at the first node settled from both ends; the route passes through
        the node where the shortest sum of the two lengths was first found. Done here step for step, with the
        same float sums of the links' ``distance_km`` (:meth:`_routing_weights`), it returns the same route among
        equal ones (tested against networkx on rings, grids and networks of unequal links). A search keeps only
        the nodes it reaches (dictionaries, as networkx does), and the network no networkx graph: ~0.8 kB a node
        of a ring or grid until 2026-12-07 (bench/results/network-routes-memory-vm-20261207.md).
        """
        start, neighbours, links = self._search_adjacency()
        uniform = self._uniform_weight()
        weights = self._routing_weights() if uniform is None else None
        heappop, heappush = heapq.heappop, heapq.heappush
        settled: tuple[dict, dict] = ({}, {})
        before: tuple[dict, dict] = ({source: None}, {target: None})
        seen: tuple[dict, dict] = ({source: 0}, {target: 0})
        fringe: tuple[list, list] = ([(0, 0, source)], [(0, 1, target)])
        counter = 2
        best = meet = None
        direction = 1
        while fringe[0] and fringe[1]:
            direction = 1 - direction
            length, _count, node = heappop(fringe[direction])
            done = settled[direction]
            if node in done:
                continue
            done[node] = length
            if node in settled[1 - direction]:
                forward, backward = [], []
                at = meet
                while at is not None:
                    forward.append(at)
                    at = before[0][at]
                at = before[1][meet]
                while at is not None:
                    backward.append(at)
                    at = before[1][at]
                return forward[::-1] + backward
            reached, others, came, heap = seen[direction], seen[1 - direction], before[direction], fringe[direction]
            for entry in range(start[node], start[node + 1]):
                cost = uniform if weights is None else weights[links[entry]]
                if cost is None:  # (networkx skips an edge whose weight is None)
                    continue
                other = neighbours[entry]
                reach = length + cost
                if other in done:
                    continue  # (networkx raises here for a shorter route only: a negative length)
                if other not in reached or reach < reached[other]:
                    reached[other] = reach
                    heappush(heap, (reach, counter, other))
                    counter += 1
                    came[other] = node
                    if other in others:
                        total = reach + others[other]
                        if best is None or best > total:
                            best, meet = total, other
        return None

    def _search_adjacency(self) -> tuple[array, array, array]:
        """Every node's links in networkx's adjacency order of the network's graph: ``(start, neighbours, links)``,
        node ``v``'s entries at ``start[v]:start[v + 1]`` (its neighbours, and the index of each link in
        :attr:`links`); built on first use.

        networkx keeps a node's neighbours in the order its edges were added to the graph, which route searches
        follow when they break ties (:meth:`_searched_route`). A network made from node pairs
        (:meth:`from_pairs`, :meth:`chain`, :meth:`subnetwork`) has a graph that adds its edges in the order the
        pairs are given; :attr:`links` lists them in the order ``Graph.edges`` reports them
        (:func:`_edges_in_graph_order`), which differs where a node's links were given out of that order (a
        ring's node ``n - 1``: links ``(n - 2, n - 1)`` then ``(n - 1, 0)``): each node's entries of
        :meth:`_adjacency` are sorted by the position of their link among the pairs as given (two int32 arrays,
        16 bytes a link, where that order differs, else :meth:`_adjacency`'s own). A network made from a graph
        reads each node's neighbours from it.
        """
        if self._search is None:
            adjacent = self._adjacency()
            if self._graph_source is None:  # made from a graph: its adjacency as it is
                start, neighbours, links = array("q", [0]), array("i"), array("i")
                index, graph_adjacency = self._index, self._graph._adj
                for node, name in enumerate(self.names):
                    for other in map(index.__getitem__, graph_adjacency[name]):
                        neighbours.append(other)
                        links.append(adjacent.find(node, other))
                    start.append(len(neighbours))
                self._search = (start, neighbours, links)
            elif self._added is None:  # the pairs were given in the order of links
                self._search = (adjacent.start, adjacent.neighbours, adjacent.links)
            else:
                starts = np.frombuffer(adjacent.start, dtype=np.int64)
                node_of = np.repeat(np.arange(len(self.names), dtype=np.int64), np.diff(starts))
                link_of = np.frombuffer(adjacent.links, dtype=np.int32)
                order = np.lexsort((self._added[link_of], node_of))
                neighbours = np.frombuffer(adjacent.neighbours, dtype=np.int32)
                self._search = (adjacent.start, _typed_array(neighbours[order], "i"), _typed_array(link_of[order], "i"))
        return self._search

    def hops_from(self, a: int) -> list[int | None]:
        """The fewest links from node ``a`` to every node (``None``: no route), a breadth-first search on the
        network's arrays: what networkx's ``single_source_shortest_path_length`` gives on its graph.

        Examples:
            >>> ring = Network.from_links([NodeSpec(name=n) for n in "abcde"],
            ...                           [(j, (j + 1) % 5, LinkSpec(distance_km=1.0)) for j in range(5)])
            >>> ring.hops_from(0)
            [0, 1, 2, 2, 1]
        """
        adjacent = self._adjacency()
        hops: list[int | None] = [None] * len(self.names)
        hops[a] = 0
        frontier = [a]
        while frontier:
            following = []
            for node in frontier:
                here = hops[node] + 1
                for other, _delay in adjacent[node]:
                    if hops[other] is None:
                        hops[other] = here
                        following.append(other)
            frontier = following
        return hops

    def _link_is_shortest(self, a: int, b: int) -> bool:
        """Whether a link joins ``a`` and ``b`` and is shorter than every other route between them.

        Lengths are the routing weights (``distance_km`` of the graph's
        edges, 1 where absent, as networkx reads them). Every other route
        leaves ``a`` and enters ``b`` by two other links, so it is at least
        as long as the lightest of each; a link strictly shorter than their
        sum is the only shortest route. Saves a search for most messages
        between neighbours.
        """
        link = self._link_index(a, b)
        if link < 0:
            return False
        uniform = self._uniform_weight()
        if uniform is not None:  # every link weighs the same: the lightest other link at an end is one, if any
            adjacent = self._adjacency()
            detour = sum(uniform if adjacent.degree(node) > 1 else math.inf for node in (a, b))
            return uniform < detour
        weights = self._routing_weights()
        if self._lightest is None:  # per node, its two lightest links as (weight, neighbour)
            adjacent = self._adjacency()
            self._lightest = [heapq.nsmallest(2, [(weights[j], other) for other, _delay, j in adjacent.with_links(node)])
                              for node in range(len(self.names))]
        detour = 0.0
        for node, avoid in ((a, b), (b, a)):  # the lightest other link at each end
            detour += next((weight for weight, other in self._lightest[node] if other != avoid), math.inf)
        return weights[link] < detour

    def _uniform_weight(self) -> float | None:
        """The one routing weight of every link (``distance_km``) where the network has no graph yet, was given
        no other weights (:meth:`from_pairs`'s ``route_weights``) and its links' specs share one length
        (``None``: otherwise): :meth:`_link_is_shortest` then needs no weight per link and no list of each node's
        lightest links (~300 bytes a node; a ring's route search left it built until 2026-12-07), nor
        :meth:`_searched_route` a weight per link."""
        if self._weights_given or self._graph is not None or not self._specs:
            return None
        if self._lengths is not None:
            low, high = float(self._lengths.min()), float(self._lengths.max())
            return low if low == high else None
        lengths = {spec.distance_km for spec in self._specs}
        return lengths.pop() if len(lengths) == 1 else None

    def _routing_weights(self) -> list[float]:
        """The length of every link as routes weigh it, in the order of :attr:`links`: its ``distance_km``.

        The graph's ``distance_km`` of each edge (1 where absent, as networkx
        reads it); a network made without its graph built (:meth:`from_pairs`)
        takes its links' ``distance_km``, which its graph would hold.
        """
        if self._weights is None:
            if self._graph is None:
                self._weights = array("d", self.link_distances_km().tobytes())
            else:  # (the graph's edges are the links, in this order: Network builds its links from them)
                self._weights = [data.get("distance_km", 1) for _u, _v, data in self._graph.edges(data=True)]
        return self._weights

    def latencies_from(self, a: int) -> list[int | None]:
        """:meth:`latency_ps` from node ``a`` to every node at once, ps: ``[latency_ps(a, b) for b in nodes]``.

        The same integers as :meth:`latency_ps`, worked out in one pass
        instead of one search (or lowest-common-ancestor walk) per node: on a
        forest one walk of ``a``'s tree; on another graph one Dijkstra search
        from ``a`` over the routes' lengths (``distance_km``), the link
        delays summed along each shortest route. Where two routes to a node
        come within a relative 1e-9 of each other in length (a tie, which
        :meth:`route` breaks as networkx does, or a difference that the order
        of summation could reverse), that node and those reached through it
        take :meth:`latency_ps`. With ``routed=False`` only ``a``'s
        neighbours are reached. An end node of a 1,024-node chain telling the
        1,023 others a pair was delivered needs them all
        (:meth:`dqsim.engine.Simulator` fills its latency table so).

        Args:
            a: the sending node's index.

        Returns:
            Per node ``b``, the latency from ``a`` to ``b`` (0 for ``a``
            itself), or ``None`` where no route joins them (where
            :meth:`latency_ps` raises).

        Examples:
            >>> net = Network.from_links([NodeSpec(name="a"), NodeSpec(name="b"), NodeSpec(name="c")],
            ...                          {(0, 1): LinkSpec(distance_km=10.0), (1, 2): LinkSpec(distance_km=20.0)})
            >>> net.latencies_from(1) == [net.latency_ps(1, b) for b in range(3)]
            True
        """
        num_nodes = len(self.names)
        fibre: list = [None] * num_nodes
        fibre[a] = 0
        unsure: list[int] = []
        if self.routed and self._is_path:  # a chain in index order: the delays from node 0 never decrease along it
            from_root = self._tree[3]
            here = from_root[a]
            fibre = [abs(delay - here) for delay in from_root]
        elif not self.routed:
            for other, delay in self._adjacency()[a]:
                fibre[other] = delay
        elif self._tree is not None:  # the only path to each node of a's tree
            adjacent = self._adjacency()
            frontier = [a]
            while frontier:
                node = frontier.pop()
                here = fibre[node]
                for other, delay in adjacent[node]:
                    if fibre[other] is None:
                        fibre[other] = here + delay
                        frontier.append(other)
        else:
            unsure = self._dijkstra_fibre(a, fibre)
        latencies = [None if f is None else f + processing
                     for f, processing in zip(fibre, node_values(self.nodes, "classical_processing_delay_ps"))]
        latencies[a] = 0
        for b in unsure:
            latencies[b] = self.latency_ps(a, b)
        return latencies

    def least_delays_from(self, a: int) -> list[int]:
        """Least summed link delay from node ``a`` to every node, ps (``UNREACHABLE_PS``: none).

        A lower bound on how soon anything ``a`` does can reach each node
        (every message's latency is at least this: :meth:`latency_ps` sums
        the delays along one route and adds a processing delay). A Dijkstra
        search over the link delays.

        Examples:
            >>> ring = Network.from_links([NodeSpec(name=n) for n in "abcd"],
            ...                           {(0, 1): LinkSpec(distance_km=10.0), (1, 2): LinkSpec(distance_km=10.0),
            ...                            (2, 3): LinkSpec(distance_km=10.0), (3, 0): LinkSpec(distance_km=10.0)})
            >>> delay = ring.link_delay_ps(0, 1)
            >>> [d // delay for d in ring.least_delays_from(0)]
            [0, 1, 2, 1]
        """
        adjacent = self._adjacency()
        best = [UNREACHABLE_PS] * len(self.names)
        best[a] = 0
        _settle(adjacent, best, [(0, a)])
        return best

    def least_delay_column(self, a: int) -> array:
        """:meth:`least_delays_from` as an ``array("q")`` (8 bytes a node): what the engine keeps per blocked node.

        Along a chain in index order it is ``|D[n] − D[a]|`` with ``D`` the delay from node 0 (the prefix sums of
        the link delays, :meth:`_path_forest`), the same integers as the search (tested) in NumPy passes: no
        search over the whole chain and no Python int per node (~50 bytes a node while the search's list is held,
        since 2026-12-07 (late afternoon)).

            >>> links = [LinkSpec(distance_km=1.0), LinkSpec(distance_km=2.0), LinkSpec(distance_km=1.0)]
            >>> net = Network.from_pairs([NodeSpec(name=n) for n in "abcd"], [(0, 1), (1, 2), (2, 3)], links)
            >>> list(net.least_delay_column(1)) == net.least_delays_from(1)
            True
        """
        if self._is_path and self._tree is not None and self._tree[3][-1] < UNREACHABLE_PS:
            from_root = np.asarray(self._tree[3], dtype=np.int64)
            return _typed_array(np.abs(from_root - from_root[a]), "q")
        if self._tree is not None and isinstance(self._tree[3], array) \
                and 2 * int(np.frombuffer(self._tree[3], dtype=np.int64).max(initial=0)) < UNREACHABLE_PS:
            return _typed_array(self._forest_least_delays(a), "q")
        if self._tree is None:
            searched = _scipy_least_delays(self._adjacency(), [a], len(self.names))
            if searched is not None:
                return _typed_array(searched, "q")
        return array("q", self.least_delays_from(a))

    def _forest_least_delays(self, a: int) -> np.ndarray:
        """:meth:`least_delays_from` on a forest (int64): ``D[n] + D[a] − 2·D[lca(a, n)]`` for every node ``n`` of
        ``a``'s tree (``D`` the delay from the root), ``UNREACHABLE_PS`` elsewhere, in NumPy slices of the walk's
        order: each ancestor ``x`` of ``a`` is the lowest common ancestor of the nodes of its subtree's run less
        its child's (towards ``a``) run, so one pass up ``a``'s ancestors fills ``D[a] − 2·D[x]`` run by run.
        Depth(a) + 1 steps and O(n) element work, no Python int per node (the search of a 2^20-node star took
        ~1.5 s a call on the engine's lookahead, 2026-12-07 (night)). The delays from the roots are below 2^61
        (checked by the caller), so no sum passes int64."""
        parent, _depth, _root, from_root, _ancestors = self._tree
        first, end, order = self._first, self._subtree_end, self._preorder
        delays = np.frombuffer(from_root, dtype=np.int64)
        here = delays[a]
        by_position = np.full(len(self.names), UNREACHABLE_PS, dtype=np.int64)
        by_position[first[a]:end[a]] = -here
        child, above = a, parent[a]
        while above != -1:
            mark = here - 2 * delays[above]
            by_position[first[above]:first[child]] = mark
            by_position[end[child]:end[above]] = mark
            child, above = above, parent[above]
        lo, hi = first[child], end[child]  # (child: a's root)
        walk = np.asarray(order[lo:hi], dtype=np.int64)
        by_position[lo:hi] += delays[walk]
        out = np.full(len(self.names), UNREACHABLE_PS, dtype=np.int64)
        out[walk] = by_position[lo:hi]
        return out

    def _dijkstra_fibre(self, a: int, fibre: list) -> list[int]:
        """:meth:`latencies_from` on a graph with cycles: fill ``fibre`` (the summed link delays), ps.

        Returns the nodes whose shortest route is not clear-cut (see
        :meth:`latencies_from`), in the order the search settled them.
        """
        weights, adjacent = self._routing_weights(), self._adjacency()
        heappop, heappush = heapq.heappop, heapq.heappush
        best = [math.inf] * len(self.names)
        before = [-1] * len(self.names)
        best[a], settled, frontier = 0.0, [], [(0.0, a)]
        while frontier:
            length, node = heappop(frontier)
            if length > best[node]:  # an entry left behind by a shorter route found since
                continue
            settled.append(node)
            here = fibre[node]
            for other, delay, link in adjacent.with_links(node):
                reach = length + weights[link]
                if reach < best[other]:
                    best[other], before[other], fibre[other] = reach, node, here + delay
                    heappush(frontier, (reach, other))
        unsure: set[int] = set()
        for node in settled[1:]:
            parent = before[node]
            limit = best[node] * (1.0 + 1e-9) + 1e-12
            if parent in unsure or any(other != parent and best[other] + weights[link] <= limit
                                       for other, _delay, link in adjacent.with_links(node)):
                unsure.add(node)
        return [node for node in settled if node in unsure]

    def latency_ps(self, a: int, b: int) -> int:
        """Delay of a classical message from node ``a`` to node ``b``, ps (0 to itself).

        The link delays along :meth:`route`, plus ``b``'s classical processing delay.

        Raises:
            ResourceError: no route joins them.
        """
        latency = self._latency.get((a, b))
        if latency is None:
            if a == b:
                return 0
            if self._tree is not None and self.routed:  # the sum along the only path, without listing it
                _parent, _depth, root, from_root, _ancestors = self._tree
                if root[a] != root[b]:
                    self.route(a, b)  # raises: no route
                fibre_ps = from_root[a] + from_root[b] - 2 * from_root[self._lowest_common_ancestor(a, b)]
            else:
                route = self.route(a, b)
                delay, index = self._link_delay, self._link_index
                fibre_ps = sum(delay(index(route[i], route[i + 1])) for i in range(len(route) - 1))
            latency = fibre_ps + self.nodes[b].classical_processing_delay_ps
            self._latency[(a, b)] = latency
        return latency

    def link_latency_ps(self, a: int, b: int) -> int:
        """Delay of a message from node ``a`` to node ``b`` along the link joining them, ps: the link's
        :meth:`link_delay_ps` plus ``b``'s classical processing delay, whatever :meth:`route` takes.

        A heralding station sits on its link, and its herald travels that
        link's fibre: where a detour is shorter than the link (``a``-``b``
        100 km, ``a``-``c``-``b`` 2 km), :meth:`latency_ps` follows the detour
        and would bring the herald ~480 µs early. Never less than the least
        delay between ``a`` and ``b`` (the link is one path between them), so
        the engine's lookahead (:meth:`rank_distances_ps`) bounds it too.

        Raises:
            ResourceError: no link joins them.

        Examples:
            >>> net = Network.from_links([NodeSpec(name=n) for n in "abc"],
            ...                          {(0, 1): LinkSpec(distance_km=100.0), (0, 2): LinkSpec(distance_km=1.0),
            ...                           (2, 1): LinkSpec(distance_km=1.0)})
            >>> net.route(0, 1), net.latency_ps(0, 1), net.link_latency_ps(0, 1)
            ([0, 2, 1], 9793442, 489672092)
        """
        return self.link_delay_ps(a, b) + self.nodes[b].classical_processing_delay_ps

    def __repr__(self) -> str:
        return (f"Network({self.num_nodes} nodes, {self.num_links} links, {self.num_ranks} ranks, "
                f"placement={self.placement.tolist()})")
