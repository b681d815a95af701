"""What every rank holds to build a network from a job (docs/review-scale-20261206.md, "Not fixed").

Until 2026-12-06 the job's validation built the ``[network]`` graph and threw it away, and the run built it
again; the run's :class:`~dqsim.network.network.Network` kept a networkx graph and dictionaries keyed by node
pairs (~0.7 kB per link besides the graph). Now validation builds no graph, the run builds its network from
the section's links without one (networkx only if a route needs a search), and the network keeps compact
arrays.
"""

import tracemalloc

import networkx as nx
import pytest

from dqsim.io import open_run
from dqsim.jobs import load_job_text
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios import dqc
from mpi_helper import run_here, run_mpi
from run_files import same_tables


def network_job(network: str, assignment: str = "") -> str:
    """A 4-qubit GHZ ``dqc`` job over ``network`` (the body of ``[network]``), one data qubit per node."""
    distribution = f"[distribution]\nassignment = {assignment}\n" if assignment else ""
    return (f'[run]\nname = "mem"\nscenario = "dqc"\nseed = 1\n[network]\n{network}\n'
            "[network.link]\ndistance_km = 1.0\n[network.node]\nnum_data_qubits = 1\nnum_comm_qubits = 2\n"
            f'[circuit]\ngenerator = "ghz"\nnum_qubits = 4\n{distribution}[simulation]\nshots = 100\n')


class _CountedGraph(nx.Graph):
    built = 0

    def __init__(self, *args, **kwargs):
        type(self).built += 1
        super().__init__(*args, **kwargs)


@pytest.mark.parametrize(("network", "most"), [('topology = "all_to_all"\nnum_nodes = 40', 0),
                                               ('topology = "star"\nnum_nodes = 40', 0),
                                               ('topology = "edges"\nnode_names = ["a", "b", "c", "d"]\n'
                                                'edges = [["a", "b"], ["b", "c", 2.0], ["d", "c"]]', 0),
                                               ('topology = "ring"\nnum_nodes = 40', 0),
                                               ('topology = "grid"\nnum_rows = 4\nnum_cols = 4', 0)])
def test_repro_a_network_job_builds_its_graph_at_most_once(monkeypatch, network, most):
    """Loading the job and planning its run (what every rank of ``dqsim run`` does before its first event) built
    the graph twice on main: once to validate the job, once for the run. Then none where every route is a link or
    the only path, and once for a ring or a grid, whose routes searched it (until 2026-12-07); now none: routes
    are searched on the network's arrays (tests/test_network_routes.py)."""
    monkeypatch.setattr(nx, "Graph", _CountedGraph)
    _CountedGraph.built = 0
    job = load_job_text(network_job(network))
    assert _CountedGraph.built == 0
    network_of_run, _plan = dqc.plan_job(job, dqc.build_circuit(job), 2)
    assert _CountedGraph.built <= most
    network_of_run.latency_ps(0, network_of_run.num_nodes // 2)  # (a ring's or grid's: a search)
    network_of_run.latency_ps(1, network_of_run.num_nodes - 1)
    assert _CountedGraph.built <= most


def test_repro_a_disconnected_edges_network_is_still_refused_at_load():
    with pytest.raises(Exception, match=r"\[network\]\.edges: the topology is disconnected: node\(s\) 'c', 'd' "
                                        r"cannot reach 'a'"):
        load_job_text(network_job('topology = "edges"\nnode_names = ["a", "b", "c", "d"]\n'
                                  'edges = [["a", "b"], ["c", "d", 3.0]]'))
    with pytest.raises(Exception, match=r"\[network\]\.edges: distance_km must be at most"):
        load_job_text(network_job('topology = "edges"\nnode_names = ["a", "b"]\nedges = [["a", "b", 1e300]]'))


def test_repro_a_network_of_many_links_takes_little_memory_per_link():
    """An all_to_all of 120 nodes (7,140 links) on 2 ranks, asked for what the engine asks (the lookahead table,
    latencies, a link, a route). On main the loaded job held ~260 bytes per link (what its validation's graph
    left), and the network took ~870 more (peak ~910); now ~2 bytes after loading and ~150 (peak ~240)."""
    job_text = network_job('topology = "all_to_all"\nnum_nodes = 120')
    tracemalloc.start()
    try:
        job = load_job_text(job_text)
        loaded, _peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        network = dqc.job_network(job.network, 2)
        network.check_pairing_horizon()
        network.rank_distances_ps()
        network.latencies_from(0)
        network.link(3, 1)
        network.route(2, 7)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    num_links = len(network.links)
    assert num_links == 7140
    assert loaded / num_links < 50
    assert (held - loaded) / num_links < 200 and (peak - loaded) / num_links < 320


@pytest.mark.parametrize("network", [
    'topology = "line"\nnum_nodes = 7', 'topology = "ring"\nnum_nodes = 7', 'topology = "star"\nnum_nodes = 6',
    'topology = "grid"\nnum_rows = 3\nnum_cols = 4', 'topology = "all_to_all"\nnum_nodes = 7',
    'topology = "edges"\nnode_names = ["e", "d", "c", "b", "a"]\n'
    'edges = [["c", "a", 2.5], ["e", "d"], ["b", "e", 0.5], ["d", "c"], ["a", "e", 2.5], ["b", "c", 4.0]]'])
@pytest.mark.parametrize("num_ranks", [1, 2])
def test_a_job_network_without_its_graph_is_the_one_built_from_its_graph(network, num_ranks):
    """The run's network, built from the section's links, against the one built from ``build_graph`` (as on
    main): the same links, link parameters, routes, latencies, lookahead table, and the same graph once read."""
    section = load_job_text(network_job(network)).network
    names = section.node_names_list()
    nodes = [section.node_spec(name) for name in names]
    built = Network(section.build_graph(), nodes, num_ranks=num_ranks)
    lazy = dqc.job_network(section, num_ranks)
    n = built.num_nodes
    assert lazy.links == built.links and lazy.link_specs == built.link_specs and lazy.nodes == built.nodes
    for a in range(n):
        assert lazy.latencies_from(a) == built.latencies_from(a)
        assert lazy.least_delays_from(a) == built.least_delays_from(a)
        for b in range(n):
            assert lazy.has_link(a, b) == built.has_link(a, b)
            assert lazy.route(a, b) == built.route(a, b) and lazy.latency_ps(a, b) == built.latency_ps(a, b)
    assert lazy.rank_distances_ps() == built.rank_distances_ps()
    assert lazy.boundary_nodes == built.boundary_nodes and lazy.lookahead_ps == built.lookahead_ps
    graph = section.build_graph()
    assert lazy.graph.graph == graph.graph and list(lazy.graph.nodes(data=True)) == list(graph.nodes(data=True))
    assert list(lazy.graph.edges(data=True)) == list(graph.edges(data=True))


#: Runs dqsim with the engine's node records and the communication-qubit pools counted on each rank (argv:
#: dqsim's arguments).
COUNTED = """
import sys
import dqsim.scenarios.dqc as dqc
from dqsim.comm import init
made = {"pools": 0, "sims": []}
class Pool(dqc.CommPool):
    def __init__(self, *args, **kwargs):
        made["pools"] += 1
        super().__init__(*args, **kwargs)
class Sim(dqc.Simulator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        made["sims"].append(self)
dqc.CommPool, dqc.Simulator = Pool, Sim
from dqsim.cli.main import main
status = main(sys.argv[1:])
records = sum(len(sim.nodes) for sim in made["sims"])
rank = init().rank
with open(sys.argv[sys.argv.index("-o") + 1] + f".rank{rank}.txt", "w") as out:  # (not stdout: mpiexec mixes it)
    out.write(f"{made['pools']} pools, {records} records")
raise SystemExit(status)
"""


def test_a_grid_job_gives_the_same_tables_on_one_and_two_ranks(tmp_path):
    """A GHZ over the corners of a 4 x 4 grid: routes searched (on the network's arrays), pairs swapped
    along them; one rank and two give the same tables (every link in the links table). Each of the two ranks
    made communication-qubit pools, and engine records, for those of its own 8 nodes with steps only: until
    2026-12-06 :func:`~dqsim.scenarios.dqc.run_dqc` made a pool, and so a record, for every node on every rank
    (16 and 16), and later a record for each of a rank's own nodes (8 and 8)."""
    job = tmp_path / "grid.toml"
    job.write_text(network_job('topology = "grid"\nnum_rows = 4\nnum_cols = 4', "[0, 3, 12, 15]"))
    run_here(["run", str(job), "-o", str(tmp_path / "one.h5"), "--quiet"])
    run_mpi(2, ["-m", "mpi4py", "-c", COUNTED, "run", str(job), "-o", str(tmp_path / "two.h5"), "--quiet"],
            timeout_s=300)
    counted = [(tmp_path / f"two.h5.rank{rank}.txt").read_text() for rank in (0, 1)]
    pools = [int(line.split()[0]) for line in counted]
    records = [int(line.split(", ")[1].split()[0]) for line in counted]
    assert records == pools and 0 < min(pools) and max(pools) < 8, \
        counted  # a pool and a record only for a node with steps (5 and 5 here: the corners and the routes between)
    one, two = open_run(tmp_path / "one.h5"), open_run(tmp_path / "two.h5")
    links = one.table("links")
    assert len(links) == 24 and links["epr_pairs"].sum() > 3
    assert one.attrs["fidelity"] == pytest.approx(1.0, abs=1e-12)
    same_tables(one, two, [name for name in one.tables if name != "timing"])


def _ask_as_the_engine(network):
    network.check_pairing_horizon()
    network.rank_distances_ps()
    network.latencies_from(0)
    network.link(3, 1)
    network.route(2, 7)


def test_repro_a_network_keeps_its_links_in_arrays_not_a_tuple_per_link():
    """An all_to_all of 200 nodes (19,900 links) on 2 ranks, asked what the engine asks (after a small one, so
    that what is made once per process is not counted). Until 2026-12-06 the network kept a tuple per link
    (``links``), a list of their specs and one of their delays, and was built through lists of tuples and a set of
    them: ~87 bytes per link held once built, ~133 after the engine's questions, ~294 at the peak. Now its links
    are arrays (ends, an index into the distinct specs, delays): ~24, ~71, ~157."""
    _ask_as_the_engine(dqc.job_network(load_job_text(network_job('topology = "all_to_all"\nnum_nodes = 12')).network, 2))
    job = load_job_text(network_job('topology = "all_to_all"\nnum_nodes = 200'))
    tracemalloc.start()
    try:
        loaded, _peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        network = dqc.job_network(job.network, 2)
        built, _peak = tracemalloc.get_traced_memory()
        _ask_as_the_engine(network)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    num_links = network.num_links
    assert num_links == 19900 and len(network.links) == num_links
    assert (built - loaded) / num_links < 45
    assert (held - loaded) / num_links < 100 and (peak - loaded) / num_links < 200


def test_repro_every_rank_holds_a_link_in_fewer_bytes():
    """The same network and questions as above. Until 2026-12-06 (later) every rank held per link its delay (8
    bytes), an int64 delay in each of its two adjacency entries (16) and a routing weight (8), and built its
    adjacency through int64 copies: ~24 bytes per link once built, ~70 after the engine's questions, ~157 at the
    peak. Now a link's delay is its spec's (one per ``[network.link]``), the adjacency holds two int32 per entry,
    and a route between linked nodes of equal links needs no weights: ~12, ~41 and ~52."""
    _ask_as_the_engine(dqc.job_network(load_job_text(network_job('topology = "all_to_all"\nnum_nodes = 12')).network, 2))
    job = load_job_text(network_job('topology = "all_to_all"\nnum_nodes = 200'))
    tracemalloc.start()
    try:
        loaded, _peak = tracemalloc.get_traced_memory()
        network = dqc.job_network(job.network, 2)
        built, _peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        _ask_as_the_engine(network)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    num_links = network.num_links
    assert (built - loaded) / num_links < 16
    assert (held - loaded) / num_links < 50 and (peak - loaded) / num_links < 70


@pytest.mark.parametrize(("network", "entry_bytes"), [('topology = "all_to_all"\nnum_nodes = 60', 8),
                                                      ('topology = "ring"\nnum_nodes = 60', 8),
                                                      ('topology = "edges"\nnode_names = ["a", "b", "c", "d"]\n'
                                                       'edges = [["a", "b", 1.0], ["b", "c", 2.0], ["c", "d", 3.0], '
                                                       '["d", "a", 1.0], ["a", "c", 5.0]]', 17)])
def test_repro_a_network_keeps_no_delay_per_link(network, entry_bytes):
    """A link's delay is its :class:`LinkSpec`'s: the network keeps one per distinct spec, its adjacency a neighbour
    and a link index per entry (int32 each; a copy sorted by neighbour where the links are not, as these edges) and,
    where the specs' delays differ, a one-byte spec index. Until 2026-12-06 (later) it kept an int64 delay per link
    and one per adjacency entry (16 or 24 bytes per entry and 8 per link). The delays read the same. (Each node's
    first entry is an int64 array too since 2026-12-06, evening: 8 bytes a node, a list of ints before.)"""
    network_of_run = dqc.job_network(load_job_text(network_job(network)).network, 2)
    adjacency = network_of_run._adjacency()
    num_entries = 2 * network_of_run.num_links
    arrays = [getattr(adjacency, name) for name in adjacency.__slots__ if hasattr(getattr(adjacency, name), "itemsize")]
    held = sum(a.itemsize * len(a) for a in {id(a): a for a in arrays}.values())
    assert held <= entry_bytes * num_entries + 8 * (network_of_run.num_nodes + 1)
    assert not [name for name in vars(network_of_run) if "delays" in name and hasattr(getattr(network_of_run, name),
                                                                                    "__len__")
                and len(getattr(network_of_run, name)) == network_of_run.num_links]
    for a, b in network_of_run.links:
        delay = network_of_run.link(a, b).delay_ps
        assert network_of_run.link_delay_ps(b, a) == delay
        assert (b, delay) in list(adjacency[a]) and (a, delay) in list(adjacency[b])


def test_link_counts_of_a_network_out_of_order():
    """A network whose links are not in the table's order (``edges`` in any order): the ends are sorted copies,
    the counts land on the same links as on a network in order (the links' views)."""
    nodes, links = [NodeSpec(name=name) for name in "abc"], [LinkSpec(distance_km=1.0)] * 3
    net, ring = Network.from_pairs(nodes, [(2, 1), (0, 2), (1, 0)], links), Network.from_pairs(nodes, [(0, 1), (1, 2), (0, 2)], links)
    assert not net.links_sorted() and ring.links_sorted()
    counters = {("pairs", 2, 1): 3, ("attempts", 0, 2): 5, ("photons", 1, 0): 1, ("pairs", 0, 7): 1}
    assert list(dqc.LinkCounts.of_network(net, counters)) == list(dqc.LinkCounts.of_network(ring, counters)) == [
        (0, 1, 0, 0, 1), (0, 2, 0, 5, 0), (1, 2, 3, 0, 0)]


def test_repro_a_dqc_run_counts_its_links_in_arrays():
    """A run's per-link counts (``DqcRun.links``, every link of the network: the run file's ``links`` table) were a
    tuple of five ints per link on every rank (~110 bytes each); now two int32 arrays of the links' ends and the
    counts of the links that have any. The rows read the same as the tuples built from the engine's counters.
    Since 2026-12-06 (later) the ends of a network whose links are already in the table's order (a line, a star,
    an all_to_all) are views of the network's own, and each counter's link is found by the network's lookup:
    no bytes per link held (8 before) and ~4 at the peak (~40 before: the sorted copies and their keys)."""
    section = load_job_text(network_job('topology = "all_to_all"\nnum_nodes = 200')).network
    network = dqc.job_network(section, 1)
    assert network.has_link(5, 2)  # (the run's routes have built the network's link lookup before)
    counters = {("pairs", 5, 2): 3, ("attempts", 2, 5): 4, ("attempts", 5, 2): 1, ("photons", 199, 0): 8,
                ("round_trip_ps", 0, 1): 7, "other": 1}
    tracemalloc.start()
    try:
        before, _peak = tracemalloc.get_traced_memory()
        counts = dqc.LinkCounts.of_network(network, counters)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (held - before) / network.num_links < 1 and (peak - before) / network.num_links < 8
    rows = sorted((min(u, v), max(u, v), *(counters.get((name, u, v), 0) + counters.get((name, v, u), 0)
                                            for name in ("pairs", "attempts", "photons"))) for u, v in network.links)
    assert list(counts) == rows and counts == rows and len(counts) == len(rows)
    assert counts[rows.index((2, 5, 3, 5, 0))] == (2, 5, 3, 5, 0) and counts[-1] == rows[-1]
    assert counts.totals() == (3, 5, 8)
    resumed = counts.summed([counts.sparse(), rows])  # a checkpoint's summary: arrays, or the rows (before)
    assert list(resumed) == [(a, b, 2 * p, 2 * t, 2 * f) for a, b, p, t, f in rows]


def test_repro_a_node_without_steps_holds_no_engine_record_process_or_spec_copy(monkeypatch):
    """A GHZ over the first 4 nodes of a 1,024-node line: only those 4 have steps. Until 2026-12-06 every node of
    a rank got an engine record with six containers, a ``NodeProgramProcess`` with its handle, context and first
    event, a "done" timeline row, and the network a ``NodeSpec`` copy per node (~1.9 kB a node of the 2.9 kB a
    65,536-node line took; bench/results/network-node-memory-vm-20261206.md). Now the nodes with steps have a
    record, a process and a row, the others none; the network holds one spec and the names
    (:class:`~dqsim.network.node.NodeSpecs`), with a copy for each node read; the simulator's own start costs
    under 200 bytes a node (~700 with the records)."""
    from dqsim import backend as backend_mod
    from dqsim import comm as comm_mod
    from dqsim.network.node import NodeSpecs

    made = []

    class Recorded(dqc.Simulator):
        def __init__(self, network, **kwargs):
            tracemalloc.start()
            try:
                before, _peak = tracemalloc.get_traced_memory()
                super().__init__(network, **kwargs)
                held, _peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            made.append((self, (held - before) / network.num_nodes))

    monkeypatch.setattr(dqc, "Simulator", Recorded)
    job = load_job_text(network_job('topology = "line"\nnum_nodes = 1024'))
    circuit = dqc.build_circuit(job)
    network, plan = dqc.plan_job(job, circuit, 1)
    run = dqc.run_dqc(circuit, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"), network=network,
                      prepared=plan, shots=10)
    (sim, start_bytes_per_node), = made
    working = [node for node, steps in enumerate(plan.plan.steps) if steps]
    assert working == [0, 1, 2, 3] and run.fidelity == pytest.approx(1.0, abs=1e-12)
    assert sorted(sim.nodes) == working and [node.index for node in sim.local] == working
    assert sim.processes() == [] and all(not node.processes for node in sim.local)  # (ended: not kept)
    assert sorted(n for _t, n, kind, _d in run.timeline if kind == "done") == working
    assert isinstance(network.nodes, NodeSpecs) and len(network.nodes) == 1024
    assert set(network.nodes._read) <= set(working) and network.nodes[1023].name == network.names[1023]
    assert start_bytes_per_node < 200, start_bytes_per_node


def _ideal_network_of_distinct_lengths(num_links: int, **link) -> Network:
    """A chain of ``num_links`` links, each of its own length (1 km + i mm)."""
    nodes = [NodeSpec(name=f"n{i}") for i in range(num_links + 1)]
    spec = LinkSpec(distance_km=1.0, dark_count_rate_hz=0.0, **link)
    return Network.from_pairs(nodes, [(i, i + 1) for i in range(num_links)], [spec] * num_links,
                              lengths_km=[1.0 + 1e-6 * i for i in range(num_links)])


def _count_with_lengths(monkeypatch) -> list:
    """Record the length lists LinkSpec.with_lengths is given (it calls dataclasses.replace per list)."""
    calls, original = [], LinkSpec.with_lengths
    monkeypatch.setattr(LinkSpec, "with_lengths", lambda self, lengths: calls.append(list(lengths)) or
                        original(self, lengths))
    return calls


@pytest.mark.parametrize("scheme", ["double_click", "direct"])
def test_repro_is_noisy_asks_an_ideal_link_of_many_lengths_once(monkeypatch, scheme):
    network = _ideal_network_of_distinct_lengths(10_000, scheme=scheme)
    calls = _count_with_lengths(monkeypatch)
    assert dqc.is_noisy(network) is False
    assert calls == []


def test_repro_links_of_many_lengths_are_judged_a_chunk_at_a_time(monkeypatch):
    network = _ideal_network_of_distinct_lengths(10_000)
    calls = _count_with_lengths(monkeypatch)
    assert not network.any_link(lambda link: link.delivered_fidelity < 1.0)
    assert len(calls) <= 3 and sum(map(len, calls)) == 10_000
    calls.clear()
    network.check_pairing_horizon()
    graph = network.graph
    assert len(calls) <= 4 and [graph.edges[f"n{i}", f"n{i + 1}"]["link"].distance_km for i in (0, 9_999)] == [
        1.0, 1.0 + 1e-6 * 9_999]


def test_is_noisy_still_asks_each_length_where_fidelity_depends_on_it():
    nodes = [NodeSpec(name=n) for n in "abc"]
    spec = LinkSpec(distance_km=1.0, scheme="direct", dark_count_rate_hz=1e6, source_fidelity=1.0)
    assert dqc.is_noisy(Network.from_pairs(nodes, [(0, 1), (1, 2)], [spec] * 2, lengths_km=[1.0, 200.0]))


@pytest.mark.parametrize("num_links", [50, 70_000])
def test_repro_a_link_of_its_own_length_works_out_its_delay_once(monkeypatch, num_links):
    """Until 2026-12-07 (later) every message over a link of its own length worked its delay out again (two range
    checks): now the routes' adjacency gives it (coded, or an int64 per entry beyond 65,536 distinct delays), or it
    is kept per link read. The same integers as link_delays_ps."""
    import dqsim.network.network as network_module

    nodes = [NodeSpec(name=f"n{i}") for i in range(num_links + 1)]
    lengths = [1.0 + 1e-3 * i for i in range(num_links)]
    pairs = [(i, i + 1) for i in range(num_links)]
    ring = Network.from_pairs(nodes, pairs + [(0, num_links)], [LinkSpec(distance_km=1.0)] * (num_links + 1),
                              lengths_km=lengths + [5.0])
    chain = Network.from_pairs(nodes, pairs, [LinkSpec(distance_km=1.0)] * num_links, lengths_km=lengths)
    calls, original = [], network_module.propagation_delay_ps
    monkeypatch.setattr(network_module, "propagation_delay_ps", lambda *a: calls.append(a) or original(*a))
    for network in (ring, chain):
        picks = [0, 1, num_links // 2, num_links - 1]
        ends, expected = network.link_ends()[picks].tolist(), network.link_delays_ps()[picks].tolist()
        for _ in range(3):
            assert [network.link_delay_ps(a, b) for a, b in ends] == expected
    assert len(calls) <= 4, len(calls)
