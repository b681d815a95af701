"""Topologies, routing and placement of nodes on ranks (dqsim.network.topology)."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from dqsim import comm
from dqsim.errors import ConfigError, ResourceError
from dqsim.network import topology
from dqsim.network import (
    DEFAULT_LINK,
    LinkSpec,
    all_to_all,
    from_edges,
    grid,
    line,
    path_distance_km,
    place_nodes,
    ring,
    shortest_path,
    star,
    validate,
)


def _edge_set(graph):
    return {frozenset(edge) for edge in graph.edges}


def _names(n):
    return [f"node{i}" for i in range(n)]


# --------------------------------------------------------------------------- builders


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_line(n):
    g = line(n)
    assert list(g.nodes) == _names(n)
    assert _edge_set(g) == {frozenset((f"node{i}", f"node{i + 1}")) for i in range(n - 1)}
    assert g.graph["kind"] == "line"


@pytest.mark.parametrize("n", [3, 4, 9])
def test_ring(n):
    g = ring(n)
    assert g.number_of_edges() == n
    assert all(degree == 2 for _, degree in g.degree)
    assert frozenset(("node0", f"node{n - 1}")) in _edge_set(g)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_star_centre_is_node_zero(n):
    g = star(n)
    assert _edge_set(g) == {frozenset(("node0", f"node{i}")) for i in range(1, n)}
    assert g.degree["node0"] == n - 1


@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (1, 4), (3, 1), (2, 3), (4, 4)])
def test_grid(rows, cols):
    g = grid(rows, cols)
    assert g.number_of_nodes() == rows * cols
    assert g.number_of_edges() == rows * (cols - 1) + cols * (rows - 1)
    for r, c in itertools.product(range(rows), range(cols)):
        name = f"node{r * cols + c}"
        assert g.nodes[name]["position"] == (r, c)
        assert g.nodes[name]["index"] == r * cols + c
    # Same shape as networkx's own grid graph.
    assert nx.is_isomorphic(g, nx.grid_2d_graph(rows, cols))


@pytest.mark.parametrize("n", [1, 2, 4, 6])
def test_all_to_all(n):
    g = all_to_all(n)
    assert g.number_of_edges() == n * (n - 1) // 2
    assert nx.is_isomorphic(g, nx.complete_graph(n))


def test_builders_attach_links_and_indices():
    link = LinkSpec(distance_km=12.0, scheme="single_click")
    for g in (line(4, link=link), ring(4, link=link), star(4, link=link),
              grid(2, 2, link=link), all_to_all(4, link=link)):
        assert [g.nodes[n]["index"] for n in g.nodes] == list(range(4))
        for _, _, data in g.edges(data=True):
            assert data["link"] is link
            assert data["distance_km"] == 12.0
    for _, _, data in line(3).edges(data=True):
        assert data["link"] == DEFAULT_LINK
        assert data["distance_km"] == 1.0


def test_builders_take_names():
    g = star(3, names=["hub", "a", "b"])
    assert list(g.nodes) == ["hub", "a", "b"]
    assert g.degree["hub"] == 2


@pytest.mark.parametrize(("call", "match"), [
    (lambda: line(0), "num_nodes"),
    (lambda: ring(2), "num_nodes"),
    (lambda: star(0), "num_nodes"),
    (lambda: grid(0, 3), "num_rows"),
    (lambda: grid(2, -1), "num_cols"),
    (lambda: all_to_all(2.5), "num_nodes"),
    (lambda: line(3, names=["a", "b"]), "names"),
    (lambda: line(2, names=["a", "a"]), "'a'"),
    (lambda: line(2, names=["a", "b c"]), "'b c'"),
    (lambda: line(2, link=3.0), "link"),
])
def test_builders_reject_bad_input(call, match):
    with pytest.raises(ConfigError, match=match):
        call()


# --------------------------------------------------------------------------- explicit edges


def test_from_edges_links_and_lengths():
    long_link = LinkSpec(distance_km=40.0, scheme="direct")
    g = from_edges(["a", "b", "c", "d"],
                   [("a", "b"), ("b", "c", 7.5), ("c", "d", long_link)])
    assert g.edges["a", "b"]["link"] == DEFAULT_LINK
    assert g.edges["b", "c"]["distance_km"] == 7.5
    assert g.edges["b", "c"]["link"].scheme == DEFAULT_LINK.scheme
    assert g.edges["c", "d"]["link"] is long_link
    assert [g.nodes[n]["index"] for n in "abcd"] == [0, 1, 2, 3]


def test_from_edges_unknown_node_is_named():
    with pytest.raises(ConfigError, match="unknown node 'mars'"):
        from_edges(["earth", "moon"], [("earth", "moon"), ("moon", "mars")])


def test_from_edges_disconnected_names_the_cut_off_nodes():
    with pytest.raises(ConfigError, match="disconnected.*'c'.*'d'"):
        from_edges(["a", "b", "c", "d"], [("a", "b"), ("c", "d")])
    with pytest.raises(ConfigError, match="disconnected.*'c'"):
        from_edges(["a", "b", "c"], [("a", "b")])


@pytest.mark.parametrize(("edges", "match"), [
    ([("a", "a")], "itself"),
    ([("a", "b"), ("b", "a")], "twice"),
    ([("a",)], "edge"),
    ([("a", "b", "far")], "link"),
    ([("a", "b", -1.0)], "distance_km"),
])
def test_from_edges_rejects_bad_edges(edges, match):
    with pytest.raises(ConfigError, match=match):
        from_edges(["a", "b"], edges)


def test_from_edges_single_node():
    g = from_edges(["solo"], [])
    assert list(g.nodes) == ["solo"]


def test_validate_catches_edited_graphs():
    g = line(3)
    g.remove_edge("node1", "node2")
    with pytest.raises(ConfigError, match="disconnected.*'node2'"):
        validate(g)
    g = line(2)
    g.edges["node0", "node1"]["link"] = None
    with pytest.raises(ConfigError, match="LinkSpec"):
        validate(g)
    g = line(2)
    g.edges["node0", "node1"]["distance_km"] = 3.0
    with pytest.raises(ConfigError, match="distance_km"):
        validate(g)
    with pytest.raises(ConfigError, match="no nodes"):
        validate(nx.Graph())


# --------------------------------------------------------------------------- routing


def test_shortest_path_is_weighted_by_distance():
    g = from_edges(["a", "b", "c", "d"],
                   [("a", "d", 10.0), ("a", "b", 2.0), ("b", "c", 3.0), ("c", "d", 4.0)])
    assert shortest_path(g, "a", "d") == ["a", "b", "c", "d"]
    assert path_distance_km(g, shortest_path(g, "a", "d")) == 9.0
    # Make the detour longer than the direct link.
    g2 = from_edges(["a", "b", "c", "d"],
                    [("a", "d", 8.0), ("a", "b", 2.0), ("b", "c", 3.0), ("c", "d", 4.0)])
    assert shortest_path(g2, "a", "d") == ["a", "d"]
    assert shortest_path(g2, "c", "c") == ["c"]


@pytest.mark.parametrize(("rows", "cols"), [(3, 4), (5, 5)])
def test_shortest_path_on_grid_is_manhattan(rows, cols):
    link = LinkSpec(distance_km=2.5)
    g = grid(rows, cols, link=link)
    for a, b in itertools.combinations(g.nodes, 2):
        (ra, ca), (rb, cb) = g.nodes[a]["position"], g.nodes[b]["position"]
        path = shortest_path(g, a, b)
        assert path[0] == a and path[-1] == b
        assert path_distance_km(g, path) == pytest.approx(2.5 * (abs(ra - rb) + abs(ca - cb)))


def test_shortest_path_on_ring_goes_the_short_way():
    g = ring(6)
    assert shortest_path(g, "node0", "node4") == ["node0", "node5", "node4"]


def test_shortest_path_unknown_node():
    with pytest.raises(ConfigError, match="target 'node9'"):
        shortest_path(line(3), "node0", "node9")
    with pytest.raises(ConfigError, match="source 'x'"):
        shortest_path(line(3), "x", "node0")


def test_path_distance_rejects_unlinked_nodes():
    with pytest.raises(ConfigError, match="'node0' and 'node2'"):
        path_distance_km(line(3), ["node0", "node2"])


# --------------------------------------------------------------------------- placement


@pytest.mark.parametrize("num_nodes", [1, 2, 3, 4, 5, 7, 8, 16, 17])
@pytest.mark.parametrize("num_ranks", [1, 2, 3, 4, 8])
def test_place_nodes_contiguous_and_balanced(num_nodes, num_ranks):
    if num_ranks > num_nodes:
        with pytest.raises(ResourceError, match="num_ranks"):
            place_nodes(num_nodes, num_ranks)
        return
    placement = place_nodes(num_nodes, num_ranks)
    assert len(placement) == num_nodes
    assert placement == sorted(placement)  # contiguous blocks in index order
    counts = [placement.count(rank) for rank in range(num_ranks)]
    assert min(counts) >= 1
    assert max(counts) - min(counts) <= 1  # balanced
    assert counts == sorted(counts, reverse=True)  # larger blocks first, as split_evenly
    for rank in range(num_ranks):
        start, stop = comm.split_evenly(num_nodes, num_ranks, rank)
        assert [i for i, r in enumerate(placement) if r == rank] == list(range(start, stop))


def test_place_nodes_examples():
    assert place_nodes(7, 3) == [0, 0, 0, 1, 1, 2, 2]
    assert place_nodes(4, 4) == [0, 1, 2, 3]
    assert place_nodes(5, 1) == [0] * 5


def test_place_nodes_refuses_more_ranks_than_nodes():
    with pytest.raises(ResourceError, match="num_ranks = 5 exceeds num_nodes = 3") as info:
        place_nodes(3, 5)
    assert "at most 3 ranks" in str(info.value)
    with pytest.raises(ResourceError, match=r"so run with at most 1 rank$"):  # it said "1 ranks"
        place_nodes(1, 2)


@pytest.mark.parametrize(("args", "match"), [((0, 1), "num_nodes"), ((3, 0), "num_ranks"),
                                            ((3.0, 1), "num_nodes")])
def test_place_nodes_rejects_bad_counts(args, match):
    with pytest.raises(ConfigError, match=match):
        place_nodes(*args)


@pytest.mark.parametrize(("build", "edges"), [
    (lambda: line(6), lambda: topology.line_edges(6)), (lambda: ring(5), lambda: topology.ring_edges(5)),
    (lambda: star(5), lambda: topology.star_edges(5)), (lambda: grid(3, 4), lambda: topology.grid_edges(3, 4)),
    (lambda: all_to_all(6), lambda: topology.all_to_all_edges(6))], ids=["line", "ring", "star", "grid", "all_to_all"])
def test_a_builder_adds_its_edge_arrays_in_their_order(build, edges):
    """One enumeration of each topology's links: the builder adds the index pairs of its ``*_edges`` in their
    order (the graph reports them node by node, each node's in the order added: a ring's last link, (n-1, 0),
    second), and a job's ``[network]`` takes its run's links from the same arrays."""
    graph, pairs = build(), edges()
    index = {name: graph.nodes[name]["index"] for name in graph.nodes}
    assert pairs.dtype == np.int64 and pairs.shape == (graph.number_of_edges(), 2)
    added = sorted((tuple(sorted(pair)) for pair in pairs.tolist()), key=lambda pair: pair[0])  # (stable)
    assert [tuple(sorted((index[a], index[b]))) for a, b in graph.edges] == added
