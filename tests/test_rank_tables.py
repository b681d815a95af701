"""What every rank holds per node for the engine: the lookahead's rank distances by column, this rank's nodes
nearest first, and T1/T2 as one value or an ``array("d")`` (2026-12-07 (late afternoon): lists per node before)."""

import math
import random
import tracemalloc
from array import array

import networkx as nx
import numpy as np
import pytest

from dqsim import comm as comm_mod
from dqsim.engine.quantum import QuantumMemory, _decaying_qubits
from dqsim.engine.simulator import Simulator, _nearest_first
from dqsim.network import network as network_module
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import UNREACHABLE_PS, Network
from dqsim.network.node import NodeSpec, NodeSpecs, RepeatedValue, node_table


class RankOf(comm_mod.SingleComm):
    """Pretends to be rank ``rank`` of ``size`` (the engine's constructor only)."""

    def __init__(self, rank: int, size: int):
        super().__init__()
        self.rank, self.size = rank, size


def _networks():
    """A chain in index order (NumPy passes), a tree (two passes) and a ring (a search), each on 3 ranks."""
    specs = NodeSpecs(NodeSpec(name="n"), [f"node{i}" for i in range(12)])
    chain = Network(topology.line(12), specs, num_ranks=3)
    tree = Network.from_pairs(specs, [(0, 1), (0, 2), (1, 3), (1, 4), (2, 5), (5, 6), (6, 7), (3, 8), (8, 9),
                                      (9, 10), (4, 11)],
                              [LinkSpec(distance_km=d) for d in (1, 2, 3, 1, 4, 2, 2, 5, 1, 1, 3)], num_ranks=3,
                              placement=[2, 0, 1, 1, 0, 2, 2, 0, 1, 0, 1, 2])
    ring = Network(topology.ring(12), specs, num_ranks=3, placement=[0, 1, 2] * 4)
    return {"chain": chain, "tree": tree, "ring": ring}


def test_rank_distance_columns_are_the_table_by_rank_as_int64_arrays():
    for name, net in _networks().items():
        columns, table = net.rank_distance_columns(), net.rank_distances_ps()
        assert isinstance(columns, tuple) and len(columns) == 3, name
        assert all(isinstance(c, array) and c.typecode == "q" for c in columns), name
        assert [list(row) for row in zip(*columns)] == table, name
        assert net.rank_distance_columns() is columns  # built once, kept
        assert all(table[n][net.placement[n]] == 0 for n in range(12)), name


def test_an_unreached_rank_is_unreachable_in_its_column():
    specs = [NodeSpec(name=n) for n in "abcd"]
    net = Network.from_pairs(specs, [(0, 1), (2, 3)], [LinkSpec(distance_km=1.0)] * 2, num_ranks=2,
                             placement=[0, 0, 1, 1])
    assert list(net.rank_distance_columns()[1])[:2] == [UNREACHABLE_PS] * 2


def test_a_rank_keeps_8_bytes_a_node_and_rank_for_the_lookahead_table():
    """A 2^14-node chain on 2 ranks: the list per node (kept until 2026-12-07 (late afternoon)) took ~160 bytes a
    node; the columns take 16, the engine's nearest-first order 8 a node of its own."""
    nodes = 2**14
    net = Network(topology.line(nodes), NodeSpecs(NodeSpec(name="n"), [f"node{i}" for i in range(nodes)]), num_ranks=2)
    net._adjacency()  # (what a run has built already)
    held, _peak = _traced(net.rank_distance_columns)
    assert held < 24 * nodes, held


def _traced(make) -> tuple[int, int]:
    """The bytes tracemalloc sees held after ``make()`` and its peak inside it (SciPy's search imported first)."""
    try:
        import scipy.sparse.csgraph  # noqa: F401 (its import's bytes are not the search's)
    except ImportError:
        pass
    tracemalloc.start()
    try:
        make()
        return tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()


def test_nearest_first_is_the_sorted_order_of_distance_and_index():
    rng = random.Random(5)
    for _ in range(50):
        size = rng.randint(0, 40)
        column = array("q", [rng.choice([0, 3, 7, 7, 12, UNREACHABLE_PS]) for _ in range(size)])
        ranks = np.array([rng.randrange(2) for _ in range(size)], dtype=np.int16)
        order = _nearest_first(column, ranks, 1)
        assert isinstance(order, array) and order.typecode == "q"
        expected = sorted((column[n], n) for n in range(size) if ranks[n] == 1 and column[n] < UNREACHABLE_PS)
        assert [(column[n], n) for n in order] == expected


def test_engine_reads_the_columns_and_orders_its_nodes_as_before():
    """The engine's tables on each rank of 3: the network's columns (no copy), and per other rank this rank's
    nodes in the order the tuples ``sorted((distance, node))`` gave."""
    for name, net in _networks().items():
        table = net.rank_distances_ps()
        for rank in range(3):
            sim = Simulator(net, comm=RankOf(rank, 3), state=None, qubit_owner=list(range(12)), num_data_qubits=0)
            assert sim._dist is net.rank_distance_columns() and sim._dist_home is sim._dist[rank], name
            own = [n for n in range(12) if net.placement[n] == rank]
            for other in range(3):
                if other == rank:
                    assert sim._by_distance[other] is None and sim._nearest[other] == math.inf
                    continue
                tuples = sorted((table[n][other], n) for n in own if table[n][other] < UNREACHABLE_PS)
                assert [(table[n][other], n) for n in sim._by_distance[other]] == tuples, (name, rank, other)
                assert sim._nearest[other] == (tuples[0][0] if tuples else math.inf)


def test_engine_memory_times_are_one_value_for_a_jobs_nodes_and_an_array_otherwise():
    names = [f"node{i}" for i in range(4)]
    shared = Network(topology.line(4), NodeSpecs(NodeSpec(name="n", t1_s=2.0, t2_s=1.0), names))
    sim = Simulator(shared, comm=comm_mod.SingleComm(), state=None, qubit_owner=[0, 1, 2, 3], num_data_qubits=0)
    assert isinstance(sim.memory.t1_s, RepeatedValue) and sim.memory.t1_s == [2.0] * 4 and sim.memory.t2_s[3] == 1.0
    own = Network(topology.line(2), [NodeSpec(name="node0", t1_s=2.0, t2_s=1.0), NodeSpec(name="node1")])
    sim = Simulator(own, comm=comm_mod.SingleComm(), state=None, qubit_owner=[0, 1], num_data_qubits=0)
    assert sim.memory.t1_s == array("d", [2.0, math.inf]) and list(sim.memory._decays) == [1, 0]
    assert node_table(own.nodes, "t2_s") == array("d", [1.0, math.inf])


def test_decaying_qubits_agree_for_repeated_values_arrays_and_lists():
    owner = array("q", [0, 0, 1, 2, 2, 2])
    for t1, t2, flags in ((math.inf, math.inf, [0] * 6), (math.inf, 4.0, [1] * 6), (3.0, 6.0, [1] * 6)):
        repeated = _decaying_qubits(owner, RepeatedValue(t1, 3), RepeatedValue(t2, 3))
        assert list(repeated) == list(_decaying_qubits(owner, [t1] * 3, array("d", [t2] * 3))) == flags
    assert list(_decaying_qubits([], [], [])) == []


def test_idle_noise_is_the_same_with_one_value_or_a_list_per_node():
    """decohere over a small state: the same density matrix bit for bit whatever holds the nodes' T1/T2."""
    rng = np.random.default_rng(2)
    pieces = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    rho = pieces @ pieces.conj().T
    rho /= np.trace(rho)
    results = []
    for t1_s, t2_s in (([2e-6] * 2, [1e-6] * 2), (RepeatedValue(2e-6, 2), RepeatedValue(1e-6, 2)),
                       (array("d", [2e-6] * 2), array("d", [1e-6] * 2))):
        memory = QuantumMemory(owner=[0, 1], t1_s=t1_s, t2_s=t2_s, seed=1, num_data_qubits=0)
        memory.small.install([0, 1], rho.copy())
        memory.decohere(None, [0, 1], 700_000)
        results.append(memory.small.density_matrix([0, 1]))
    assert not np.allclose(results[0], rho)
    assert all(np.array_equal(results[0], other) for other in results[1:])


def test_least_delay_column_is_the_search_on_chains_of_own_lengths_and_on_a_ring():
    rng = random.Random(11)
    for size in (1, 2, 7, 40):
        specs = [NodeSpec(name=f"node{i}") for i in range(size)]
        lengths = [rng.choice([0.0, 0.3, 1.0, 2.5, 13.7]) for _ in range(size - 1)]
        pairs, links = [(i, i + 1) for i in range(size - 1)], [LinkSpec(distance_km=1.0)] * (size - 1)
        chain = Network.from_pairs(specs, pairs, links, lengths_km=lengths or None)
        for a in range(size):
            column = chain.least_delay_column(a)
            assert isinstance(column, array) and column.typecode == "q"
            assert list(column) == chain.least_delays_from(a), (size, a)
    ring = _networks()["ring"]
    assert all(list(ring.least_delay_column(a)) == ring.least_delays_from(a) for a in range(12))


def test_a_chains_least_delay_column_holds_no_python_int_per_node():
    """The engine keeps one per blocked node; along a 2^14-node chain its build holds ~8 bytes a node (the search's
    list of Python ints took ~52 while it ran, before 2026-12-07 (late afternoon))."""
    nodes = 2**14
    net = Network(topology.line(nodes), NodeSpecs(NodeSpec(name="n"), [f"node{i}" for i in range(nodes)]))
    net.least_delay_column(0)  # (the chain's delays from node 0: built once)
    tracemalloc.start()
    try:
        column = net.least_delay_column(nodes // 3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert column[0] == column[2 * (nodes // 3)] > 0 and peak < 28 * nodes, peak


def _random_forest(rng: random.Random, size: int, num_ranks: int) -> Network:
    """A random forest of ``size`` nodes: a star, a shuffled chain or a random tree, whole or cut in two, with
    a random placement (some ranks may hold no node) and links of 0-7 km (0 only within a rank)."""
    kind = rng.choice(["star", "chain", "tree"])
    labels = list(range(size))
    rng.shuffle(labels)
    if kind == "star":
        pairs = [(labels[0], labels[j]) for j in range(1, size)]
    elif kind == "chain":
        pairs = [(labels[j], labels[j + 1]) for j in range(size - 1)]
    else:
        pairs = [(labels[j], labels[rng.randrange(j)]) for j in range(1, size)]
    if size > 3 and rng.random() < 0.3:
        del pairs[rng.randrange(len(pairs))]  # two trees
    placement = [rng.randrange(num_ranks) for _ in range(size)]
    specs = [LinkSpec(distance_km=rng.choice([0.0, 1.0, 2.5, 7.0] if placement[a] == placement[b] else [1.0, 4.0]))
             for a, b in pairs]  # (a zero-length link joins nodes of one rank)
    return Network.from_pairs([NodeSpec(name=f"n{j}") for j in range(size)], pairs, specs, num_ranks=num_ranks,
                              placement=placement)


def _searched_columns(net: Network) -> list[list[int]]:
    """Each rank's column by networkx's multi-source Dijkstra from that rank's nodes (integer delays, exact)."""
    graph = nx.Graph()
    graph.add_nodes_from(range(net.num_nodes))
    graph.add_weighted_edges_from((a, b, net.link_delay_ps(a, b)) for a, b in net.links)
    columns = []
    for rank in range(net.num_ranks):
        sources = [n for n in range(net.num_nodes) if net.placement[n] == rank]
        reach = nx.multi_source_dijkstra_path_length(graph, sources) if sources else {}
        columns.append([reach.get(n, UNREACHABLE_PS) for n in range(net.num_nodes)])
    return columns


def test_a_forest_s_two_ways_to_its_rank_distances_give_the_searched_integers():
    """A level at a time in NumPy and node by node in Python: the least delays a search finds, on stars, shuffled
    chains and random trees (some cut in two, zero-length links, ranks without nodes)."""
    rng = random.Random(11)
    for trial in range(60):
        net = _random_forest(rng, rng.randint(1, 40), rng.choice([1, 2, 3, 5]))
        assert net._tree is not None, trial
        expected = _searched_columns(net)
        levels = int(max(net._tree[1], default=0))
        assert [list(c) for c in net._level_rank_distances(levels)] == expected, trial
        assert [list(c) for c in net._walked_rank_distances()] == expected, trial
        columns = net.rank_distance_columns()
        assert all(isinstance(c, array) and c.typecode == "q" for c in columns)
        assert [list(c) for c in columns] == expected, trial


def test_a_star_s_rank_distances_take_the_levels_and_a_shuffled_chain_the_walk(monkeypatch):
    specs = NodeSpecs(NodeSpec(name="n"), [f"node{i}" for i in range(64)])
    star = Network(topology.star(64), specs, num_ranks=2)
    order = [0, 2, 1, *range(3, 64)]  # a chain, not in index order: 63 levels deep
    chain = Network.from_pairs(specs, list(zip(order, order[1:])), [LinkSpec(distance_km=1.0)] * 63, num_ranks=2)
    assert not chain._is_path and chain._tree is not None
    taken = []
    monkeypatch.setattr(Network, "_level_rank_distances", lambda self, levels: taken.append("levels") or ())
    monkeypatch.setattr(Network, "_walked_rank_distances", lambda self: taken.append("walk") or ())
    star.rank_distance_columns(), chain.rank_distance_columns()
    assert taken == ["levels", "walk"]


def test_a_star_s_rank_distances_peak_under_80_bytes_a_node():
    """A 2^14-node star on 2 ranks: a tuple per node and a list of Python ints per rank peaked at ~300 bytes a
    node (2^18 nodes: 55 MB above the network) until 2026-12-07 (night); the NumPy levels ~60."""
    nodes = 2**14
    net = Network(topology.star(nodes), NodeSpecs(NodeSpec(name="n"), [f"node{i}" for i in range(nodes)]),
                  num_ranks=2)
    net._tree, net._adjacency()  # (what a run has built already)
    peak = _traced(net.rank_distance_columns)[1]
    assert peak < 80 * nodes, peak


def test_a_network_with_cycles_searches_from_each_rank_s_edge_to_the_searched_integers():
    """Rings, grids and random graphs with cycles (some in two parts, links of unequal lengths, ranks without
    nodes): the search from the nodes at each rank's edge finds the least delays networkx's multi-source search
    from all the rank's nodes finds."""
    rng = random.Random(3)
    for trial in range(60):
        net = _random_graph_with_cycles(rng, max_size=36, random_links=lambda size: 2 * size)
        if net._tree is not None:  # (a random graph may be a forest: searched all the same)
            continue
        columns = net.rank_distance_columns()
        assert all(isinstance(c, array) and c.typecode == "q" for c in columns)
        assert [list(c) for c in columns] == _searched_columns(net), (trial, net.num_nodes)


def test_a_ring_s_rank_distances_peak_under_56_bytes_a_node(monkeypatch):
    """A 2^14-node ring on 2 ranks: every node of a rank pushed on the search's heap and each column a list of
    Python ints peaked at ~110 bytes a node until 2026-12-07 (night); from the ranks' edges into array columns
    ~20; SciPy's compiled search (float64 link delays per entry, its distances, since 2026-12-07 (night)) ~48."""
    nodes = 2**14
    net = Network(topology.ring(nodes), NodeSpecs(NodeSpec(name="n"), [f"node{i}" for i in range(nodes)]),
                  num_ranks=2)
    net._adjacency()  # (what a run has built already)
    for smallest in (0, nodes + 1):  # SciPy's search, the Python one
        monkeypatch.setattr(network_module, "SCIPY_SEARCH_NODES", smallest)
        net._rank_distances = None
        peak = _traced(net.rank_distance_columns)[1]
        assert peak < 56 * nodes, (smallest, peak)


def _searched_from(net: Network, a: int) -> list[int]:
    """networkx's Dijkstra from node ``a`` (integer delays, exact), ``UNREACHABLE_PS`` where it reaches nothing."""
    graph = nx.Graph()
    graph.add_nodes_from(range(net.num_nodes))
    graph.add_weighted_edges_from((x, y, net.link_delay_ps(x, y)) for x, y in net.links)
    reach = nx.single_source_dijkstra_path_length(graph, a)
    return [reach.get(n, UNREACHABLE_PS) for n in range(net.num_nodes)]


def _no_python_search(monkeypatch):
    """Make the Python search (:func:`_settle`) fail: what must not run."""
    def refuse(*args):
        raise AssertionError("the Python search ran")
    monkeypatch.setattr(network_module, "_settle", refuse)


def test_a_forest_s_least_delay_column_is_networkx_s_dijkstra_without_a_search(monkeypatch):
    """Stars, shuffled chains and random trees (some cut in two, zero-length links): the NumPy slices of the
    walk's order (2026-12-07 (night); a Python search before) give networkx's least delays from every node."""
    rng = random.Random(17)
    forests = [_random_forest(rng, rng.randint(1, 40), 1) for _ in range(60)]
    assert all(net._tree is not None for net in forests)
    _no_python_search(monkeypatch)
    for trial, net in enumerate(forests):
        for a in range(net.num_nodes):
            column = net.least_delay_column(a)
            assert isinstance(column, array) and column.typecode == "q"
            assert list(column) == _searched_from(net, a), (trial, a)


def _random_graph_with_cycles(rng: random.Random, max_size: int = 30, random_links=lambda size: size + 3) -> Network:
    """A ring, a grid or a random graph (maybe in two parts; ``random_links(size)`` draws of a link) with links of
    0-4 km, on 1-5 ranks; ``max_size`` nodes at most, except a grid (up to 36)."""
    size = rng.randint(3, max_size)
    kind = rng.choice(["ring", "grid", "random"])
    if kind == "ring":
        pairs = [(j, (j + 1) % size) for j in range(size)]
    elif kind == "grid":
        cols = rng.randint(2, 6)
        size = cols * rng.randint(2, 6)
        pairs = [(j, j + 1) for j in range(size) if (j + 1) % cols] + [(j, j + cols) for j in range(size - cols)]
    else:
        pairs = sorted({tuple(sorted(rng.sample(range(size), 2))) for _ in range(random_links(size))})
    num_ranks = rng.choice([1, 2, 3, 5])
    placement = [rng.randrange(num_ranks) for _ in range(size)]
    specs = [LinkSpec(distance_km=rng.choice([0.0, 1.0, 2.5] if placement[a] == placement[b] else [1.0, 4.0]))
             for a, b in pairs]
    return Network.from_pairs([NodeSpec(name=f"n{j}") for j in range(size)], pairs, specs, num_ranks=num_ranks,
                              placement=placement)


def test_scipy_s_search_gives_networkx_s_least_delays_and_rank_distances(monkeypatch):
    """Graphs with cycles (zero-length links, two parts, ranks without nodes): SciPy's compiled search from one
    node and from each rank's nodes gives networkx's integers, with no Python search (SciPy is installed in the
    test environment: ``pyproject.toml``'s ``test`` extra)."""
    pytest.importorskip("scipy")
    monkeypatch.setattr(network_module, "SCIPY_SEARCH_NODES", 0)  # (small graphs: SciPy's search all the same)
    rng = random.Random(23)
    graphs = [net for net in (_random_graph_with_cycles(rng) for _ in range(80)) if net._tree is None]
    assert len(graphs) > 40
    _no_python_search(monkeypatch)
    for trial, net in enumerate(graphs):
        for a in range(net.num_nodes):
            assert list(net.least_delay_column(a)) == _searched_from(net, a), (trial, a)
        if net.num_ranks > 1:
            columns = net.rank_distance_columns()
            assert all(isinstance(c, array) and c.typecode == "q" for c in columns)
            assert [list(c) for c in columns] == _searched_columns(net), trial


def test_without_scipy_or_past_2_to_53_ps_the_python_search_gives_the_same_integers(monkeypatch):
    """Where SciPy is missing (an optional extra) or float64 sums could round, the Python search runs: the same
    least delays and rank distances."""
    rng = random.Random(29)
    graphs = [net for net in (_random_graph_with_cycles(rng) for _ in range(40)) if net._tree is None]
    monkeypatch.setattr(network_module, "_scipy_least_delays", lambda *args: None)
    for trial, net in enumerate(graphs):
        assert all(list(net.least_delay_column(a)) == _searched_from(net, a) for a in range(net.num_nodes)), trial
        assert [list(c) for c in net.rank_distance_columns()] == _searched_columns(net), trial
    monkeypatch.undo()
    monkeypatch.setattr(network_module, "SCIPY_SEARCH_NODES", 0)
    ring = Network(topology.ring(4), NodeSpecs(NodeSpec(name="n"), [f"node{i}" for i in range(4)]))
    monkeypatch.setattr(network_module, "EXACT_FLOAT_PS", ring.link_delay_ps(0, 1))  # (as if the sums were past 2^53)
    assert network_module._scipy_least_delays(ring._adjacency(), [0], 4) is None
    assert list(ring.least_delay_column(0)) == _searched_from(ring, 0)


def test_a_star_s_least_delay_column_holds_no_python_int_per_node():
    """The engine's lookahead keeps one per blocked node; a 2^14-node star's search built a list of Python ints
    and a heap (~100 bytes a node) until 2026-12-07 (night); the NumPy slices ~24."""
    nodes = 2**14
    net = Network(topology.star(nodes), NodeSpecs(NodeSpec(name="n"), [f"node{i}" for i in range(nodes)]))
    net._tree, net._adjacency()  # (what a run has built already)
    peak = _traced(lambda: net.least_delay_column(5))[1]
    column = net.least_delay_column(5)
    assert column[5] == 0 and column[6] == 2 * column[0] > 0 and isinstance(column, array)
    assert peak < 32 * nodes, peak


def _walked_node_by_node(net: Network) -> list | None:
    """:meth:`Network._walked_forest`'s sequences from its walk node by node (the level walk declined)."""
    net._level_walked_forest, walked = lambda: NotImplemented, None
    try:
        walked = net._walked_forest()
        return None if walked is None else [list(x) for x in (*walked, net._preorder, net._first, net._subtree_end)]
    finally:
        del net._level_walked_forest


def test_the_level_walk_of_a_forest_is_the_walk_node_by_node():
    """Stars, shuffled chains and random trees (some cut in two, zero-length links) and graphs with cycles: the
    NumPy walk a level at a time (2026-12-07 (night)) gives the parents, depths, roots, delays, walk order,
    positions and subtree ends of the walk node by node, or ``None`` for both (not a forest)."""
    rng = random.Random(41)
    taken = 0
    for trial in range(150):
        net = _random_forest(rng, rng.randint(1, 60), 2) if trial % 3 else _random_graph_with_cycles(rng)
        levelled = net._level_walked_forest()
        if levelled is NotImplemented:
            continue
        taken += 1
        got = None if levelled is None else [list(x) for x in (*levelled, net._preorder, net._first,
                                                                 net._subtree_end)]
        assert got == _walked_node_by_node(net), trial
    assert taken > 80
    specs = NodeSpecs(NodeSpec(name="n"), [f"node{i}" for i in range(4096)])
    order = [0, 2, 1, *range(3, 4096)]  # 4,095 levels deep: node by node
    assert Network.from_pairs(specs, list(zip(order, order[1:])), [LinkSpec(distance_km=1.0)] * 4095
                              )._level_walked_forest() is NotImplemented
    assert Network(topology.star(4096), specs)._level_walked_forest() is not NotImplemented
