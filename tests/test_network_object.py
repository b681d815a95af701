"""The Network object (dqsim.network.network): latencies, routes, placement, lookahead, and what the engine takes."""

import math
import random

import networkx as nx
import numpy as np
import pytest

from dqsim import comm as comm_mod
from dqsim.engine import Simulator
from dqsim.errors import ConfigError, ResourceError
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network, place_on_ranks
from dqsim.network.node import NodeSpec
from dqsim.protocols.repeater import ChainSpec
from dqsim.units import M_PER_KM, PS_PER_S, SPEED_OF_LIGHT_M_PER_S


def nodes(count, **spec):
    return [NodeSpec(name=f"n{i}", **spec) for i in range(count)]


def one_line(exc_info):
    message = str(exc_info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------ latency
@pytest.mark.parametrize("distance_km, group_index", [(1.0, 1.0), (20.0, 1.468), (123.4, 1.5)])
def test_latency_is_group_index_times_length_over_c(distance_km, group_index):
    net = Network.from_links(nodes(2), {(0, 1): LinkSpec(distance_km=distance_km, group_index=group_index)})
    expected_ps = round(group_index * distance_km * M_PER_KM / SPEED_OF_LIGHT_M_PER_S * PS_PER_S)
    assert net.latency_ps(0, 1) == net.latency_ps(1, 0) == expected_ps
    assert net.link_delay_ps(0, 1) == expected_ps


def test_latency_sums_the_links_of_the_route_and_adds_the_receivers_processing():
    specs = [NodeSpec(name="a"), NodeSpec(name="b", classical_processing_delay_ps=7),
             NodeSpec(name="c", classical_processing_delay_ps=1000)]
    ab, bc = LinkSpec(distance_km=10.0), LinkSpec(distance_km=30.0, group_index=1.5)
    net = Network.from_links(specs, {(0, 1): ab, (1, 2): bc})
    assert net.latency_ps(0, 2) == ab.delay_ps + bc.delay_ps + 1000
    assert net.latency_ps(2, 0) == ab.delay_ps + bc.delay_ps
    assert net.latency_ps(2, 1) == bc.delay_ps + 7
    assert net.latency_ps(1, 1) == 0


def test_latency_of_a_chain_is_the_chain_spec_latency():
    links = [LinkSpec(distance_km=d) for d in (3.0, 7.5, 11.0, 2.0)]
    chain = ChainSpec(links=links, node=NodeSpec(name="r", classical_processing_delay_ps=13))
    net = chain.network()
    assert net.names == tuple(f"node{i}" for i in range(5))
    for a in range(5):
        for b in range(5):
            if a != b:
                assert net.latency_ps(a, b) == chain.latency_ps(a, b)


def test_min_link_delay_applies_to_short_links():
    net = Network.from_links(nodes(3), {(0, 1): LinkSpec(distance_km=0.0), (1, 2): LinkSpec(distance_km=1.0)},
                             min_link_delay_ps=1)
    assert net.link_delay_ps(0, 1) == 1
    assert net.latency_ps(0, 2) == 1 + LinkSpec(distance_km=1.0).delay_ps


# ------------------------------------------------------------------- routes
def test_route_takes_the_least_fibre_not_the_fewest_hops():
    graph = topology.from_edges(["a", "b", "c"], [("a", "b", 1.0), ("b", "c", 1.0), ("a", "c", 5.0)])
    net = Network(graph, [NodeSpec(name=n) for n in "abc"])
    assert net.route(0, 2) == [0, 1, 2] and net.route(2, 0) == [2, 1, 0]
    assert net.latency_ps(0, 2) == 2 * LinkSpec(distance_km=1.0).delay_ps


@pytest.mark.parametrize("kind", ["ring", "grid", "all_to_all", "random"])
def test_routes_are_those_of_dijkstra_and_the_same_both_ways(kind):
    rng = random.Random(5)
    if kind == "grid":
        graph = topology.grid(3, 4)
    elif kind == "random":  # a connected graph with uneven lengths, and ties
        names = [f"node{i}" for i in range(12)]
        edges = [(names[i], names[i + 1], float(rng.choice([1, 2, 3]))) for i in range(11)]
        edges += [(names[a], names[b], float(rng.choice([1, 2, 3]))) for a, b in
                  {tuple(sorted(rng.sample(range(12), 2))) for _ in range(10)} if b != a + 1]
        graph = topology.from_edges(names, edges)
    else:
        graph = getattr(topology, kind)(7)
    names = sorted(graph.nodes, key=lambda n: graph.nodes[n]["index"])
    net = Network(graph, [NodeSpec(name=n) for n in names])
    for a in range(len(names)):
        for b in range(len(names)):
            lo, hi = min(a, b), max(a, b)
            expected = [names.index(n) for n in nx.shortest_path(graph, names[lo], names[hi], weight="distance_km")]
            assert net.route(a, b) == (expected if a == lo else expected[::-1])


def test_routes_between_neighbours_equal_dijkstra_routes_with_ties_and_shortcuts():
    """A link shorter than any detour is taken without a search; ties and longer links still search."""
    rng = random.Random(3)
    for trial in range(40):
        names = [f"node{i}" for i in range(rng.randint(3, 10))]
        pairs = {tuple(sorted(rng.sample(range(len(names)), 2))) for _ in range(3 * len(names))}
        graph = topology.from_edges(names, [(names[a], names[b], float(rng.choice([1, 2, 3, 5]))) for a, b in pairs])
        if not nx.is_connected(graph) or nx.is_forest(graph):
            continue
        net = Network(graph, [NodeSpec(name=n) for n in names])
        for a, b in pairs:
            expected = [names.index(n) for n in nx.shortest_path(graph, names[a], names[b], weight="distance_km")]
            assert net.route(a, b) == expected and net.route(b, a) == expected[::-1]


def test_tree_routes_equal_dijkstra_routes():
    rng = random.Random(11)
    tree = nx.random_labeled_tree(30, seed=3) if hasattr(nx, "random_labeled_tree") else nx.random_tree(30, seed=3)
    names = [f"node{i}" for i in range(30)]
    graph = topology.from_edges(names, [(names[a], names[b], float(rng.randint(1, 9))) for a, b in tree.edges])
    net = Network(graph, [NodeSpec(name=n, classical_processing_delay_ps=i) for i, n in enumerate(names)])
    for a in range(30):
        for b in range(30):
            path = nx.shortest_path(graph, names[a], names[b])
            assert net.route(a, b) == [names.index(n) for n in path]
            if a != b:  # the latency, from delays from the root, is the sum along the path
                fibre_ps = sum(graph.edges[u, v]["link"].delay_ps for u, v in zip(path, path[1:]))
                assert net.latency_ps(a, b) == fibre_ps + b


def test_tree_fast_path_exactly_on_forests():
    """The route fast path is taken on forests only (the link count test against networkx's is_forest)."""
    rng = random.Random(7)
    for trial in range(80):
        size = rng.randint(1, 9)
        pairs = {tuple(sorted(rng.sample(range(size), 2))) for _ in range(rng.randint(0, 2 * size))} \
            if size > 1 else set()
        net = Network.from_links(nodes(size), {pair: LinkSpec(distance_km=1.0) for pair in pairs})
        assert (net._tree is not None) == nx.is_forest(net.graph), sorted(pairs)



def _all_latencies_agree(net):
    """``latencies_from(a)`` equals ``latency_ps(a, b)`` for every pair (``None`` where that raises)."""
    for a in range(net.num_nodes):
        expected = []
        for b in range(net.num_nodes):
            try:
                expected.append(net.latency_ps(a, b))
            except ResourceError:
                expected.append(None)
        assert net.latencies_from(a) == expected, a


def _random_links(rng, size, num_links, lengths, group_indices=(1.468,)):
    pairs = {tuple(sorted(rng.sample(range(size), 2))) for _ in range(num_links)}
    return {pair: LinkSpec(distance_km=float(rng.choice(lengths)), group_index=rng.choice(group_indices))
            for pair in pairs}


def test_latencies_from_one_node_equal_latency_ps_on_chains_trees_rings_and_grids():
    rng = random.Random(21)
    specs = [NodeSpec(name=f"n{i}", classical_processing_delay_ps=rng.randint(0, 50)) for i in range(24)]
    chain = ChainSpec(links=[LinkSpec(distance_km=rng.uniform(0.5, 9.0)) for _ in range(23)],
                      node=NodeSpec(name="r", classical_processing_delay_ps=13))
    tree = nx.random_labeled_tree(24, seed=4) if hasattr(nx, "random_labeled_tree") else nx.random_tree(24, seed=4)
    networks = [chain.network(), chain.network(3),
                Network.from_links(specs, {(a, b): LinkSpec(distance_km=float(rng.randint(1, 9)))
                                           for a, b in tree.edges}),
                Network(topology.ring(9), [NodeSpec(name=f"node{i}") for i in range(9)]),  # ties: even and odd
                Network(topology.ring(10), [NodeSpec(name=f"node{i}") for i in range(10)]),
                Network(topology.grid(3, 4), [NodeSpec(name=f"node{i}") for i in range(12)])]
    for net in networks:
        _all_latencies_agree(net)
    assert networks[0].latencies_from(23) == [chain.latency_ps(23, b) if b != 23 else 0 for b in range(24)]


def test_latencies_from_one_node_equal_latency_ps_on_random_graphs_forests_and_links_only():
    """Uneven lengths and group indices (the shortest route is not the least delay), ties, components."""
    rng = random.Random(8)
    for trial in range(60):
        size = rng.randint(2, 14)
        links = _random_links(rng, size, rng.randint(0, 2 * size), [1, 2, 3, 2.5, 0.0],
                              group_indices=(1.0, 1.468, 2.0))
        specs = [NodeSpec(name=f"n{i}", classical_processing_delay_ps=rng.choice([0, 7])) for i in range(size)]
        net = Network.from_links(specs, links, routed=trial % 5 != 0, min_link_delay_ps=rng.choice([0, 3]))
        _all_latencies_agree(net)
        if trial % 3 == 0 and links:  # the same network with its graph built (weights read from the graph)
            net = Network(net.graph, specs)
            _all_latencies_agree(net)


def test_latencies_from_refers_ties_to_latency_ps():
    """A ring of equal links: the node opposite the sender is reached both ways, and route() decides."""
    net = Network.from_links(nodes(6), {(i, (i + 1) % 6): LinkSpec(distance_km=1.0, group_index=1.0 + i / 10)
                                        for i in range(6)})
    assert net._tree is None
    fibre = net._dijkstra_fibre(0, [0] + [None] * 5)
    assert fibre == [3]  # only the opposite node is unsure
    assert net.latencies_from(0)[3] == sum(net.link_delay_ps(u, v) for u, v in zip(net.route(0, 3),
                                                                                      net.route(0, 3)[1:]))

@pytest.mark.parametrize("extra_links", [{}, {(4, 5): LinkSpec(distance_km=1.0), (5, 6): LinkSpec(distance_km=1.0),
                                              (4, 6): LinkSpec(distance_km=1.0)}])
def test_no_route_between_components_is_one_line(extra_links):  # a forest, and a graph with a cycle
    net = Network.from_links(nodes(7), {(0, 1): LinkSpec(distance_km=1.0), (2, 3): LinkSpec(distance_km=1.0),
                                        **extra_links})
    with pytest.raises(ResourceError) as info:
        net.latency_ps(0, 3)
    assert one_line(info) == "no route joins nodes n0 and n3"


def test_links_only_network_refuses_messages_off_the_links():
    net = Network.from_links(nodes(3), {(0, 1): LinkSpec(distance_km=1.0), (1, 2): LinkSpec(distance_km=1.0)},
                             routed=False)
    assert net.route(0, 1) == [0, 1]
    with pytest.raises(ResourceError, match="node n0 sent to n2, but no link joins them"):
        net.latency_ps(0, 2)


def test_link_lookup_names_the_nodes():
    net = Network.from_links(nodes(3), {(0, 1): LinkSpec(distance_km=2.0), (1, 2): LinkSpec(distance_km=1.0)})
    assert net.link(1, 0).distance_km == 2.0 and net.has_link(2, 1) and not net.has_link(0, 2)
    with pytest.raises(ResourceError) as info:
        net.link(0, 2)
    assert one_line(info) == "no link joins nodes n0 and n2"


# ---------------------------------------------------------------- placement
def test_default_placement_is_contiguous_blocks_and_one_node_per_rank_beyond():
    assert place_on_ranks(7, 3) == [0, 0, 0, 1, 1, 2, 2]
    assert place_on_ranks(3, 8) == [0, 1, 2]
    net = Network(topology.line(5), [NodeSpec(name=f"node{i}") for i in range(5)], num_ranks=2)
    assert net.placement.tolist() == [0, 0, 0, 1, 1] and net.rank_of(3) == 1 and type(net.rank_of(3)) is int


def test_placement_is_one_read_only_int16_array_the_engine_shares():
    net = Network(topology.line(5), [NodeSpec(name=f"node{i}") for i in range(5)], num_ranks=2)
    assert isinstance(net.placement, np.ndarray) and net.placement.dtype == np.int16
    assert not net.placement.flags.writeable
    sim = Simulator(net.on_ranks(1), comm=comm_mod.SingleComm(), state=None, qubit_owner=[], num_data_qubits=0)
    assert sim.rank_of_node is sim.network.placement  # kept once: not a list per rank
    assert Network(topology.line(3), [NodeSpec(name=f"node{i}") for i in range(3)],
                   num_ranks=40000).placement.dtype == np.int32


@pytest.mark.parametrize("placement, num_ranks, message", [
    ([0, 1], 2, r"^\[network\]\.placement \[0, 1\] must give each of 3 nodes a rank in 0\.\.1 \(it lists 2\)$"),
    ([0, 1, 2], 2, r"^\[network\]\.placement\[2\] = 2: must be a rank in 0\.\.1 \(the run has 2 ranks\); it is "
                   r"written for 4 ranks: run under mpiexec -n 4, or remove \[network\]\.placement \(nodes placed "
                   r"by default\)$"),  # a job for 4 ranks run on 2 says how to run it (since 2026-12-07)
    ([0, 0, 1], 1, r"^\[network\]\.placement\[2\] = 1: must be a rank in 0\.\.0 \(the run has 1 rank\); it is "
                   r"written for 2 ranks: run under mpiexec -n 2"),
    ([0, -1, 0], 2, r"^\[network\]\.placement\[1\] = -1: must be a rank in 0\.\.1"),
    ([0, 1.0, 0], 2, r"^\[network\]\.placement\[1\] = 1\.0: must be a rank"),
])
def test_bad_placements_are_one_line_errors(placement, num_ranks, message):
    with pytest.raises(ResourceError, match=message) as info:
        Network(topology.line(3), [NodeSpec(name=f"node{i}") for i in range(3)], num_ranks=num_ranks,
                placement=placement, placement_key="[network].placement")
    one_line(info)


def test_zero_delay_link_across_ranks_is_a_one_line_error():
    with pytest.raises(ResourceError) as info:
        Network.from_links(nodes(2), {(0, 1): LinkSpec(distance_km=0.0)}, num_ranks=2)
    assert one_line(info).startswith("link n0-n1 has zero delay (0.0 km) but joins nodes on ranks 0 and 1")
    Network.from_links(nodes(2), {(0, 1): LinkSpec(distance_km=0.0)}, num_ranks=2, placement=[1, 1])  # one rank: fine


def test_nodes_and_topology_must_agree():
    with pytest.raises(ConfigError, match="not in the topology: \\['x'\\]"):
        Network(topology.line(2), [NodeSpec(name="node0"), NodeSpec(name="x")])
    with pytest.raises(ResourceError, match=r"link \(0, 2\) must join two different nodes of 0\.\.1"):
        Network.from_links(nodes(2), {(0, 2): LinkSpec(distance_km=1.0)})


# -------------------------------------------------------- lookahead, engine
def test_lookahead_is_the_shortest_link_whatever_the_placement():
    links = {(0, 1): LinkSpec(distance_km=5.0), (1, 2): LinkSpec(distance_km=2.0), (2, 3): LinkSpec(distance_km=9.0)}
    shortest = LinkSpec(distance_km=2.0).delay_ps
    for placement in ([0, 0, 0, 0], [0, 0, 1, 1], [0, 1, 1, 1], [0, 1, 0, 1]):
        net = Network.from_links(nodes(4), links, num_ranks=2 if 1 in placement else 1, placement=placement)
        assert net.lookahead_ps == shortest
        # never longer than a cross-rank link, so nothing sent across ranks arrives in its window
        assert all(net.lookahead_ps <= net.link_delay_ps(a, b) for a, b in net.cross_rank_links)
    assert Network.from_links(nodes(1), {}).lookahead_ps == math.inf
    assert Network.from_links(nodes(2), {(0, 1): LinkSpec(distance_km=0.0)}).lookahead_ps == 1


def test_boundary_nodes_are_the_ends_of_cross_rank_links():
    net = Network(topology.line(6), [NodeSpec(name=f"node{i}") for i in range(6)], num_ranks=3)
    assert net.placement.tolist() == [0, 0, 1, 1, 2, 2]
    assert net.cross_rank_links == [(1, 2), (3, 4)]
    assert net.boundary_nodes == {1, 2, 3, 4}
    indices = net.boundary_node_indices()
    assert indices.dtype.kind == "i" and indices.tolist() == [1, 2, 3, 4]


def test_a_walked_forest_keeps_node_indices_in_4_bytes_and_gives_the_same_routes():
    """A star's and a random tree's walk: parent, depth, root, walk order, positions and subtree ends as
    ``array("i")`` (``"q"`` until 2026-12-07 (night)); the routes those of networkx's search."""
    rng = random.Random(7)
    star = Network.from_pairs(nodes(12), [(0, j) for j in range(1, 12)], [LinkSpec(distance_km=1.0)] * 11)
    tree = Network.from_pairs(nodes(12), [(j, rng.randrange(j)) for j in range(1, 12)],
                              [LinkSpec(distance_km=1.0)] * 11)
    for net in (star, tree):
        parent, depth, root, from_root, _ancestors = net._tree
        assert [x.typecode for x in (parent, depth, root, net._preorder, net._first, net._subtree_end)] == ["i"] * 6
        assert from_root.typecode == "q"
        graph = nx.Graph(net.links)
        for a in range(12):
            for b in range(12):
                assert net.route(a, b) == nx.shortest_path(graph, a, b)
        assert _ancestors and all(level.typecode == "i" for level in _ancestors)  # (built by the routes)


class FourRanksOneProcess(comm_mod.SingleComm):
    """Pretends to be rank 0 of 4 (the engine's constructor only)."""

    size = 4


def test_simulator_takes_everything_about_the_network_from_it():
    specs = [NodeSpec(name=f"q{i}", t1_s=1.0 + i, t2_s=0.5 + i) for i in range(5)]
    links = {(0, 1): LinkSpec(distance_km=4.0), (1, 2): LinkSpec(distance_km=3.0), (2, 3): LinkSpec(distance_km=8.0),
             (3, 4): LinkSpec(distance_km=6.0)}
    net = Network.from_links(specs, links, num_ranks=4, placement=[0, 1, 1, 2, 3])
    sim = Simulator(net, comm=FourRanksOneProcess(), state=None, qubit_owner=[0, 1, 2, 3, 4], num_data_qubits=0)
    assert sim.lookahead_ps == LinkSpec(distance_km=3.0).delay_ps
    # a node gets its engine record when first reached (another rank's when a scenario asks for it)
    assert dict(sim.nodes) == {} and sim.own_nodes == [0]
    assert [sim.context(i).name for i in range(5)] == ["q0", "q1", "q2", "q3", "q4"]
    assert sim.rank_of_node.tolist() == [0, 1, 1, 2, 3] and [n.index for n in sim.local] == [0]
    assert list(sim.memory.t1_s) == [1.0, 2.0, 3.0, 4.0, 5.0] and list(sim.memory.t2_s) == [0.5, 1.5, 2.5, 3.5, 4.5]
    assert sim.context(0).send(4, "x") == net.latency_ps(0, 4)  # the message's arrival time from t = 0
    # q0..q4 are all boundary nodes here (every link crosses ranks): no qubit is rank-local
    assert all(rank == -1 for rank in sim._rank_of_qubit)


def test_subnetwork_keeps_the_chosen_nodes_in_order_and_their_links():
    specs = [NodeSpec(name=f"node{i}", num_data_qubits=i) for i in range(6)]
    net = Network(topology.ring(6, link=LinkSpec(distance_km=2.0)), specs, num_ranks=2)
    sub = net.subnetwork([4, 3, 5, 0])
    assert sub.names == ("node4", "node3", "node5", "node0")
    assert [spec.num_data_qubits for spec in sub.nodes] == [4, 3, 5, 0]
    assert sorted(tuple(sorted(pair)) for pair in sub.links) == [(0, 1), (0, 2), (2, 3)]
    assert sub.num_ranks == 2 and sub.placement.tolist() == [0, 0, 1, 1]
    assert sub.route(1, 3) == [1, 0, 2, 3] and sub.latency_ps(1, 3) == 3 * LinkSpec(distance_km=2.0).delay_ps


# ------------------------------------------------- bulk build (every rank builds the whole network)
def _internals(net):
    """Everything a network works out of its links when it is built or first asked (to compare two builds)."""
    return {"links": net.links, "specs": list(net.link_specs), "delays": net.link_delays_ps().tolist(),
            "by_pair": {(a, b): net.link(a, b) for a in range(net.num_nodes) for b in range(net.num_nodes)
                        if net.has_link(a, b)},
            "delay_by_pair": {(a, b): net.link_delay_ps(a, b) for a in range(net.num_nodes)
                              for b in range(net.num_nodes) if net.has_link(a, b)},
            "placement": net.placement.tolist(), "tree": net._tree,
            "walk": (net._preorder, net._first, net._subtree_end) if net._tree is not None else None,
            "adjacency": [list(net._adjacency()[node]) for node in range(net.num_nodes)],
            "rank_distances": net.rank_distances_ps(),
            "lookahead": net.lookahead_ps, "boundary": net.boundary_nodes,
            "latencies": [net.latencies_from(a) for a in range(net.num_nodes)]}


def _shuffled_triples(rng, size):
    """:func:`_random_links` (forests, cycles, components) as ``(a, b, link)``, each pair either way round, shuffled."""
    links = [(b, a, link) if rng.random() < 0.5 else (a, b, link)
             for (a, b), link in _random_links(rng, size, rng.randint(0, 2 * size), [0.5, 1, 2, 3.5], (1.4, 1.5)).items()]
    rng.shuffle(links)
    return links


def test_from_links_in_bulk_equals_the_graph_built_one_link_at_a_time():
    """from_links checks and orders the links in C-level passes; Network(graph) takes them from networkx's Graph
    (its edge order, one link at a time). Both must give the same network: links, delays, walk, distances."""
    rng = random.Random(11)
    cases = [(nodes(n), [(j, j + 1, LinkSpec(distance_km=1.0 + j % 3)) for j in range(n - 1)]) for n in (1, 2, 3, 17)]
    cases += [(nodes(9), [(j + 1, j, LinkSpec(distance_km=2.0)) for j in reversed(range(8))])]  # a chain backwards
    cases += [(nodes(size), _shuffled_triples(rng, size)) for size in [rng.randint(2, 14) for _ in range(40)]]
    for specs, triples in cases:
        for num_ranks in (1, 2, 3):
            placement = [rng.randrange(num_ranks) for _ in specs]
            options = {"num_ranks": num_ranks, "placement": placement, "min_link_delay_ps": rng.choice([0, 7])}
            graph = nx.Graph()
            graph.add_nodes_from(spec.name for spec in specs)
            for a, b, link in triples:
                graph.add_edge(specs[a].name, specs[b].name, link=link, distance_km=link.distance_km)
            bulk = Network.from_links(specs, triples, **options)
            mapping = Network.from_links(specs, {(a, b): link for a, b, link in triples}, **options)
            one_by_one = Network(graph, specs, **options)
            assert _internals(bulk) == _internals(one_by_one) == _internals(mapping), (triples, placement)
            assert sorted(bulk.graph.edges) == sorted(one_by_one.graph.edges)


@pytest.mark.parametrize("links, message", [
    ([(0, 1), (1, 2), (2, 1)], r"link \(2, 1\) is given twice"),
    ([(0, 1), (1, 1), (3, 2)], r"link \(1, 1\) must join two different nodes of 0\.\.3"),
    ([(0, 1), (1, 4), (1, 1)], r"link \(1, 4\) must join two different nodes of 0\.\.3"),
    ([(0, 1), (-1, 2)], r"link \(-1, 2\) must join two different nodes of 0\.\.3"),
])
def test_from_links_names_the_first_bad_link(links, message):
    with pytest.raises(ResourceError, match=message) as exc_info:
        Network.from_links(nodes(4), [(a, b, LinkSpec(distance_km=1.0)) for a, b in links])
    one_line(exc_info)


def test_a_chain_in_index_order_takes_the_written_down_walk_and_distances():
    """A chain 0-1-2-... has its walk, rank distances and latencies from one node written down, not searched for:
    the same as the walk of any forest and its two passes per rank (random placements, zero-length links, ranks
    without nodes)."""
    rng = random.Random(5)
    for size in (1, 2, 3, 10, 64):
        for num_ranks in (1, 2, 3, 5):
            placement = sorted(rng.randrange(num_ranks) for _ in range(size)) if size > 2 else [0] * size
            lengths = [rng.choice([0.0, 1.0, 2.5, 7.0]) if placement[j] == placement[j + 1] else rng.choice([1.0, 4.0])
                       for j in range(size - 1)]
            net = Network.from_links(nodes(size), [(j, j + 1, LinkSpec(distance_km=km)) for j, km in enumerate(lengths)],
                                     num_ranks=num_ranks, placement=placement)
            assert net._is_path
            walked = [list(x) for x in (*net._walked_forest(), net._preorder, net._first, net._subtree_end)]
            written = [list(x) for x in (*net._path_forest(), net._preorder, net._first, net._subtree_end)]
            assert walked == written
            assert net._path_rank_distances() == net._forest_rank_distances()
            for a in range(size):
                assert net.latencies_from(a) == [net.latency_ps(a, b) for b in range(size)]
    assert Network.from_links(nodes(3), [(2, 1, LinkSpec(distance_km=1.0)), (0, 1, LinkSpec(distance_km=1.0))])._is_path
    assert not Network.from_links(nodes(3), [(0, 2, LinkSpec(distance_km=1.0)), (2, 1, LinkSpec(distance_km=1.0))])._is_path


def test_renamed_all_is_renamed_of_each_name_and_refuses_the_first_bad_name():
    base = NodeSpec(name="n", t1_s=2.0, t2_s=1.0, num_data_qubits=3, gate_2q_error_probability=0.01)
    names = [f"node{i}" for i in range(5)]
    specs = base.renamed_all(names)
    assert specs == [base.renamed(name) for name in names] == [NodeSpec(**{**base.__dict__, "name": n}) for n in names]
    assert len({id(specs[i]) for i in range(5)}) == 5 and specs[3] is specs[3] and base.name == "n"
    for bad, shown in ((["a", "", "b c"], "''"), (["a", "b c", ""], "'b c'"), (["a", 7, "b c"], "7"),
                       (["a\tb"], "'a\\\\tb'")):
        with pytest.raises(ConfigError, match=f"name must be a non-empty string without whitespace, got {shown}"):
            base.renamed_all(bad)


def test_network_chain_is_from_links_of_consecutive_pairs():
    """Network.chain skips from_links' checks of the node pairs (a chain's cannot fail them): the same network."""
    rng = random.Random(2)
    for size in (1, 2, 5, 33):
        links = [LinkSpec(distance_km=rng.choice([0.5, 1.0, 3.0])) for _ in range(size - 1)]
        placement = sorted(rng.randrange(3) for _ in range(size))
        chain = Network.chain(nodes(size), links, num_ranks=3, placement=placement)
        reference = Network.from_links(nodes(size), [(j, j + 1, link) for j, link in enumerate(links)], num_ranks=3,
                                       placement=placement)
        assert _internals(chain) == _internals(reference) and chain._is_path
        assert chain.cross_rank_links == [(j, j + 1) for j in range(size - 1) if placement[j] != placement[j + 1]]
        assert sorted(chain.graph.edges(data="distance_km")) == sorted(reference.graph.edges(data="distance_km"))
    with pytest.raises(ConfigError, match=r"Network.chain: 3 nodes take 2 link\(s\), got 3") as exc_info:
        Network.chain(nodes(3), [LinkSpec(distance_km=1.0)] * 3)
    one_line(exc_info)
    with pytest.raises(ConfigError, match="node names must be unique"):
        Network.chain([NodeSpec(name="a")] * 2, [LinkSpec(distance_km=1.0)])


def test_link_delays_read_one_by_one_stay_bounded_then_kept_as_one_array(monkeypatch):
    from array import array

    from dqsim.network import network as network_mod
    monkeypatch.setattr(network_mod, "READ_DELAYS_KEPT", 8)
    lengths = np.random.default_rng(3).uniform(0.5, 80.0, 40)
    nodes = [NodeSpec(name=f"n{i}") for i in range(41)]
    net = Network.from_pairs(nodes, [(i, i + 1) for i in range(40)], [LinkSpec(distance_km=1.0)] * 40,
                             lengths_km=lengths)
    read = []
    for index in [*range(8), *range(39, -1, -1)]:  # (the ninth distinct link read turns the dictionary into the array)
        read.append(net._link_delay(index))
        assert len(net._read_delays) <= 8
    assert net._adjacent is None and isinstance(net._all_delays, array) and not net._read_delays
    assert read == net.link_delays_ps()[[*range(8), *range(39, -1, -1)]].tolist()
    assert all(type(delay) is int for delay in read)


def test_a_subnetwork_of_one_node_of_links_with_their_own_lengths():
    """Links of their own lengths (an edges file's ``distance_km``): a subnetwork without a link (one node, as a
    ``cloud`` user job on one QPU gets) raised IndexError in :meth:`Network.link_delays_ps`."""
    net = Network.from_pairs([NodeSpec(name=n) for n in "abc"], [(0, 1), (1, 2)], [LinkSpec(distance_km=1.0)] * 2,
                             lengths_km=[1.0, 2.0])
    alone = net.subnetwork((2,))
    assert (alone.names, alone.num_links, alone.link_delays_ps().tolist()) == (("c",), 0, [])
    assert alone.route(0, 0) == [0]
