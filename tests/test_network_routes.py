"""Route searches on the network's arrays against networkx (:meth:`Network._searched_route`, 2026-12-07).

Until 2026-12-07 a route that was not a link or a tree's only path was searched with networkx's
``shortest_path(graph, a, b, weight="distance_km")`` (its bidirectional Dijkstra) on the network's graph,
built on first use: ~0.8 kB a node of a ring or a grid (bench/results/network-node-memory-vm-20261206.md). The
search is now done on the network's arrays, step for step as networkx does it, so among routes of equal length
it returns the same one: checked here on rings (even and odd: antipodal ties), grids (many equal routes),
random networks of unequal links given in a shuffled order, networks made from a graph, and subnetworks. The
network under test never reads its graph; a twin of it does, for networkx.
"""

import random

import networkx as nx
import pytest

from dqsim.jobs import load_job_text
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios import dqc

LINK = LinkSpec(distance_km=1.0)


def _nodes(n: int) -> list[NodeSpec]:
    return [NodeSpec(name=f"node{i}") for i in range(n)]


def _expected(graph: nx.Graph, names, a: int, b: int) -> list[str]:
    """What ``Network.route`` returned until 2026-12-07 (node names)."""
    return nx.shortest_path(graph, names[a], names[b], weight="distance_km")


def _same_routes(make, pairs) -> int:
    """Every pair's searched route and :meth:`Network.route` on ``make()`` (no graph read) against networkx on
    the graph of a second ``make()``; the number of pairs compared."""
    lazy, twin = make(), make()
    graph, names = twin.graph, twin.names
    for a, b in pairs:
        expected = [twin.index_of(name) for name in _expected(graph, names, a, b)]
        assert lazy._searched_route(a, b) == expected, (a, b)
        lo, hi = min(a, b), max(a, b)
        assert lazy.route(lo, hi) == [twin.index_of(name) for name in _expected(graph, names, lo, hi)], (lo, hi)
    assert lazy._graph is None  # (a network made from a graph has one from the start)
    return len(pairs)


def _all_pairs(n: int) -> list[tuple[int, int]]:
    return [(a, b) for a in range(n) for b in range(n) if a != b]


@pytest.mark.parametrize("n", [8, 9, 12, 13])
def test_ring_routes_are_networkx_routes(n):
    """Even rings have two routes of equal length to the node opposite; the search takes networkx's."""
    def make():
        return Network.from_pairs(_nodes(n), topology.ring_edges(n), [LINK] * n,
                                  graph=lambda: topology.ring(n, link=LINK))
    assert _same_routes(make, _all_pairs(n)) == n * (n - 1)


@pytest.mark.parametrize(("rows", "cols", "km"), [(4, 5, 1.0), (5, 5, 0.1)])
def test_grid_routes_are_networkx_routes(rows, cols, km):
    """A grid has many routes of equal length between most pairs (0.1 km links: sums that round unequally)."""
    link = LinkSpec(distance_km=km)
    pairs = topology.grid_edges(rows, cols)

    def make():
        return Network.from_pairs(_nodes(rows * cols), pairs, [link] * len(pairs),
                                  graph=lambda: topology.grid(rows, cols, link=link))
    _same_routes(make, random.Random(rows).sample(_all_pairs(rows * cols), 120))


def _random_links(seed: int, n: int, extra: int, lengths) -> list[tuple[int, int, LinkSpec]]:
    """A connected network of ``n`` nodes: a random tree and ``extra`` more links, each of a length drawn from
    ``lengths`` (a few values: ties; else uniform in 0.1-5 km), in a shuffled order and orientation."""
    rng = random.Random(seed)
    links = {(rng.randrange(v), v) for v in range(1, n)}
    while len(links) < n - 1 + extra:
        a, b = rng.sample(range(n), 2)
        if (b, a) not in links:
            links.add((a, b))
    triples = []
    for a, b in sorted(links):
        km = rng.choice(lengths) if lengths else round(rng.uniform(0.1, 5.0), 3)
        triples.append((b, a, LinkSpec(distance_km=km)) if rng.random() < 0.5 else (a, b, LinkSpec(distance_km=km)))
    rng.shuffle(triples)
    return triples


@pytest.mark.parametrize(("seed", "lengths"), [(1, (1.0, 2.0, 0.5)), (2, ()), (3, (1.0, 3.0))])
def test_routes_over_unequal_links_given_out_of_order_are_networkx_routes(seed, lengths):
    triples = _random_links(seed, 24, 20, lengths)
    _same_routes(lambda: Network.from_links(_nodes(24), triples), random.Random(seed).sample(_all_pairs(24), 80))


def test_a_network_made_from_a_graph_searches_its_adjacency():
    """A graph whose nodes were added out of index order and whose edges each node lists in its own order."""
    triples = _random_links(4, 16, 14, (1.0, 2.0))
    graph = nx.Graph()
    graph.add_nodes_from(f"node{i}" for i in reversed(range(16)))
    for a, b, link in triples:
        graph.add_edge(f"node{a}", f"node{b}", link=link, distance_km=link.distance_km)
    network = Network(graph, _nodes(16))
    for a, b in _all_pairs(16):
        assert network._searched_route(a, b) == [network.index_of(n) for n in _expected(graph, network.names, a, b)]


def _old_subnetwork(network: Network, nodes) -> Network:
    """:meth:`Network.subnetwork` as it was until 2026-12-07: the parent graph's subgraph, copied."""
    names = [network.names[i] for i in nodes]
    graph = nx.Graph(kind="subnetwork")
    for index, name in enumerate(names):
        graph.add_node(name, index=index)
    for u, v, data in network.graph.subgraph(names).edges(data=True):
        graph.add_edge(u, v, **data)
    return Network(graph, [network.nodes[i] for i in nodes], num_ranks=network.num_ranks)


def test_subnetwork_routes_are_networkx_routes_and_those_of_the_subgraph_it_made():
    """A 6 x 6 grid's subnetworks: routes against networkx on their own graphs; where at least half the nodes
    are kept, the links, graph and routes of the subgraph the method made until 2026-12-07 (with fewer, that
    subgraph listed its edges in the order of a set of names, which differs from process to process)."""
    pairs = topology.grid_edges(6, 6)

    def grid():
        return Network.from_pairs(_nodes(36), pairs, [LINK] * len(pairs), graph=lambda: topology.grid(6, 6, link=LINK))
    parent = grid()
    few = [14, 7, 8, 13, 9, 15, 20, 21, 19]  # a 3 x 3 block, out of order
    many = [i for i in range(36) if i % 6 != 5 and i not in (0, 7)][::-1]
    for kept in (few, many):
        _same_routes(lambda: grid().subnetwork(kept), _all_pairs(len(kept))[::3])
    assert parent._graph is None
    new, old = parent.subnetwork(many), _old_subnetwork(grid(), many)
    assert new.links == old.links and new.link_specs == old.link_specs
    assert list(new.graph.nodes(data=True)) == list(old.graph.nodes(data=True))
    assert list(new.graph.edges(data=True)) == list(old.graph.edges(data=True))
    for a, b in _all_pairs(len(many))[::2]:
        assert new.route(a, b) == old.route(a, b)


def test_hops_from_is_networkx_hop_count():
    triples = _random_links(5, 20, 10, (1.0,))
    network = Network.from_links(_nodes(20), triples)
    graph = Network.from_links(_nodes(20), triples).graph
    for a in range(0, 20, 3):
        lengths = nx.single_source_shortest_path_length(graph, f"node{a}")
        assert network.hops_from(a) == [lengths[f"node{b}"] for b in range(20)]
    assert network._graph is None


def test_a_disconnected_network_has_no_route_between_its_parts():
    network = Network.from_links(_nodes(6), [(0, 1, LINK), (1, 2, LINK), (2, 0, LINK), (3, 4, LINK), (4, 5, LINK),
                                             (5, 3, LINK)])
    assert network._searched_route(0, 4) is None and network.hops_from(0)[3:] == [None] * 3
    with pytest.raises(Exception, match="no route joins nodes node1 and node5"):
        network.route(1, 5)


def test_a_trotter_sweep_network_and_its_one_rank_copy_are_the_networks_built_from_the_copied_graph():
    """A ``trotter`` sweep of ``distance_km`` over an ``edges`` network of unequal links: the network of each sweep
    value, built from the job's links without a graph, against ``Network`` of the graph copied with the swept link
    (as until 2026-12-07: its ``distance_km`` kept, so routes weigh the job's lengths), and its one-rank copy
    (:meth:`Network.on_ranks`) against ``Network`` of the graph on one rank: the same links, specs, routes and
    latencies."""
    text = ('[run]\nname = "sweep"\nscenario = "dqc"\nseed = 1\n[network]\ntopology = "edges"\n'
            'node_names = ["a", "b", "c", "d", "e"]\n'
            'edges = [["c", "a", 2.5], ["e", "d"], ["b", "e", 0.5], ["d", "c"], ["a", "e", 2.5], ["b", "c", 4.0]]\n'
            '[network.link]\ndistance_km = 1.0\n[network.node]\nnum_data_qubits = 1\nnum_comm_qubits = 2\n'
            '[circuit]\ngenerator = "ghz"\nnum_qubits = 4\n')
    section = load_job_text(text).network
    nodes = [section.node_spec(name) for name in section.node_names_list()]
    for parameter, value in (("distance_km", 0.3), ("source_fidelity", 0.9)):
        swept = dqc.job_network(section, 2, link_parameter=(parameter, value))
        built = Network(dqc.with_link_parameter(section.build_graph(), parameter, value), nodes, num_ranks=2)
        for lazy, graph_built in ((swept, built), (swept.on_ranks(1), Network(built.graph, nodes, num_ranks=1))):
            assert lazy.links == graph_built.links and lazy.link_specs == graph_built.link_specs
            assert lazy.placement.tolist() == graph_built.placement.tolist()
            for a, b in _all_pairs(5):
                assert lazy.route(a, b) == graph_built.route(a, b)
                assert lazy.latency_ps(a, b) == graph_built.latency_ps(a, b)
            assert lazy.rank_distances_ps() == graph_built.rank_distances_ps()
        assert swept._graph is None


@pytest.mark.parametrize("make_graph", [lambda: topology.ring(8), lambda: topology.ring(9),
                                        lambda: topology.grid(4, 5), lambda: topology.line(6),
                                        lambda: topology.star(5)])
def test_the_public_shortest_path_is_the_networks_route_both_ways(make_graph):
    """:func:`topology.shortest_path` (a networkx graph) takes the route :meth:`Network.route` takes among equal ones,
    and one route both ways (until 2026-12-07 networkx's one-way ``dijkstra_path`` from the source: on an 8-node ring
    from node1 to node5 it went by node0, node7 and node6, the network's route by node2, node3 and node4: 3 of the
    ring's 56 ordered pairs differed)."""
    graph = make_graph()
    names = list(graph)
    net = Network(graph, [NodeSpec(name=name) for name in names])
    for a, b in _all_pairs(len(names)):
        assert topology.shortest_path(graph, names[a], names[b]) == [names[i] for i in net.route(a, b)], (a, b)


def test_a_network_on_other_ranks_shares_its_checked_nodes_names_and_index():
    """:meth:`Network.on_ranks` keeps the nodes, names and name index it was given as they are (checked once, not
    made again: a dict of every name for an ``edges`` network)."""
    names = ["c", "a", "e", "b", "d"]
    net = Network.from_pairs([NodeSpec(name=n) for n in names], [(0, 1), (1, 2), (2, 3), (3, 4)], [LINK] * 4,
                             num_ranks=2)
    one = net.on_ranks(1)
    assert one.nodes is net.nodes and one.names is net.names and one._index is net._index
    assert [one.index_of(n) for n in names] == list(range(5)) and one.placement.tolist() == [0] * 5
