"""Job files of the "dqc" scenario: network, links, nodes, distribution; one-line errors naming the key."""

import dataclasses
import math
from pathlib import Path

import pytest

from dqsim.errors import ConfigError, ResourceError
from dqsim.jobs import JOB_MODELS, CircuitJob, DqcJob, apply_overrides, load_job
from dqsim.jobs.circuit import CircuitSection, SimulationSection
from dqsim.jobs.dqc import DqcSimulationSection
from dqsim.jobs.network import DistributionSection, NetworkSection
from dqsim.network.link import LinkSpec
from dqsim.scenarios.dqc import job_network
from dqsim.network.node import NodeSpec
from job_helpers import bad, load

EXAMPLE = Path(__file__).resolve().parent.parent / "jobs" / "dqc_ghz_4qpu.toml"

LINE_NETWORK = """topology = "line"
num_nodes = 4"""
LINK = "distance_km = 10.0"
NODE = "num_data_qubits = 4"
CIRCUIT = """generator = "ghz"
num_qubits = 8"""


def dqc(network=LINE_NETWORK, link=LINK, node=NODE, circuit=CIRCUIT, distribution=None,
        simulation=None, run=""):
    """A dqc job's TOML text; ``None`` leaves a section out."""
    text = f"[run]\nname = \"t\"\nscenario = \"dqc\"\n{run}\n[network]\n{network}\n"
    for header, body in (("network.link", link), ("network.node", node), ("circuit", circuit),
                         ("distribution", distribution), ("simulation", simulation)):
        if body is not None:
            text += f"[{header}]\n{body}\n"
    return text


# --------------------------------------------------------------------------
# Valid jobs
# --------------------------------------------------------------------------

def test_scenario_is_registered():
    assert JOB_MODELS["dqc"] is DqcJob and DqcJob.scenario == "dqc"
    assert issubclass(DqcSimulationSection, SimulationSection)


def test_minimal_job_and_defaults():
    job = load(dqc())
    assert isinstance(job, DqcJob) and not isinstance(job, CircuitJob)
    assert job.run.scenario == "dqc" and job.run.output == "t.h5"
    assert isinstance(job.circuit, CircuitSection) and job.circuit.num_qubits == 8
    assert job.distribution == DistributionSection() and job.distribution.scheme == "telegate"
    assert job.distribution.assignment is None
    assert job.simulation.timeline is True and job.simulation.shots == 1000
    net = job.network
    assert net.node_names_list() == ["node0", "node1", "node2", "node3"]
    assert net.placement is None and list(job_network(net, 2).placement) == [0, 0, 1, 1]
    assert net.link_spec() == LinkSpec(distance_km=10.0)
    assert net.node_spec("node1") == NodeSpec(name="node1", num_data_qubits=4)
    assert net.data_capacity() == 16 and net.resolved_num_nodes() == 4


def test_example_job_file_loads():
    job = load_job(EXAMPLE)
    assert isinstance(job, DqcJob) and job.path == EXAMPLE
    assert job.run.name == "dqc_ghz_4qpu" and job.run.seed == 1
    assert job.circuit.generator == "ghz" and job.circuit.num_qubits == 8
    assert job.simulation.shots == 1000 and job.simulation.timeline
    assert job.distribution.scheme == "telegate"
    assert job.distribution.assignment == [0, 0, 1, 1, 2, 2, 3, 3]
    link = job.network.link_spec()
    assert link.distance_km == 10.0 and link.scheme == "double_click" and link.source_fidelity == 1.0
    assert link.delivered_fidelity == 1.0
    node = job.network.node_spec("qpu3")
    assert node.num_data_qubits == 4 and node.num_comm_qubits == 2 and node.t2_s == math.inf
    graph = job.network.build_graph()
    assert list(graph.edges) == [("qpu0", "qpu1"), ("qpu1", "qpu2"), ("qpu2", "qpu3")]
    assert "mpiexec -n 4" in job.text


def test_full_job():
    job = load(dqc(
        network=LINE_NETWORK + '\nnode_names = ["a", "b", "c", "d"]\nplacement = [0, 0, 1, 1]',
        link="distance_km = 5\nattenuation_db_per_km = 0.25\ncoupling_loss_db = 1\ngroup_index = 1.5\n"
             "detector_efficiency = 0.8\ndark_count_rate_hz = 100\ndead_time_ps = 10\n"
             "gate_width_ps = 500\nsource_period_ps = 1000\nscheme = \"single_click\"\n"
             "bright_state_alpha = 0.05\nsource_fidelity = 0.99",
        node="num_data_qubits = 3\nnum_comm_qubits = 2\nt1_s = 1.0\nt2_s = 0.5\n"
             "gate_1q_duration_ps = 10\ngate_2q_duration_ps = 100\nmeasure_duration_ps = 1000\n"
             "gate_1q_error_probability = 0.001\ngate_2q_error_probability = 0.01\n"
             "measure_error_probability = 0.02\nclassical_processing_delay_ps = 5",
        circuit="generator = \"random\"\nnum_qubits = 6\ndepth = 4",
        distribution="scheme = \"teledata\"\nassignment = [0, 1, 2, 3, 3, 3]",
        simulation="shots = 10\ntimeline = false\nobservables = [\"Z0 Z5\"]",
        run="seed = 7"))
    link = job.network.link_spec()
    assert link.distance_km == 5.0 and isinstance(link.distance_km, float)  # integers become floats
    assert isinstance(link.coupling_loss_db, float) and link.dead_time_ps == 10
    assert link.scheme == "single_click" and link.source_period_ps == 1000
    node = job.network.node_spec("c")
    assert node.t1_s == 1.0 and node.t2_s == 0.5 and node.gate_2q_error_probability == 0.01
    assert job.network.placement == [0, 0, 1, 1] and list(job_network(job.network, 2).placement) == [0, 0, 1, 1]
    assert job.distribution.scheme == "teledata" and job.simulation.timeline is False
    assert job.circuit.circuit_seed == 7  # defaults to [run].seed as in the circuit scenario


@pytest.mark.parametrize("network, names, num_edges", [
    ('topology = "line"\nnum_nodes = 2', ["node0", "node1"], 1),
    ('topology = "ring"\nnum_nodes = 5', [f"node{i}" for i in range(5)], 5),
    ('topology = "star"\nnum_nodes = 4\nnode_names = ["hub", "a", "b", "c"]', ["hub", "a", "b", "c"], 3),
    ('topology = "all_to_all"\nnum_nodes = 4', [f"node{i}" for i in range(4)], 6),
    ('topology = "grid"\nnum_rows = 2\nnum_cols = 3', [f"node{i}" for i in range(6)], 7),
    ('topology = "grid"\nnum_rows = 1\nnum_cols = 2', ["node0", "node1"], 1),
    ('topology = "edges"\nnode_names = ["x", "y", "z"]\nedges = [["x", "y"], ["y", "z", 25.0]]',
     ["x", "y", "z"], 2),
])
def test_every_topology(network, names, num_edges):
    job = load(dqc(network=network, node="num_data_qubits = 8", circuit="generator = \"qft\"\nnum_qubits = 3"))
    assert job.network.node_names_list() == names
    graph = job.network.build_graph()
    assert list(graph.nodes) == names and graph.number_of_edges() == num_edges
    assert graph.graph["kind"] == job.network.topology


def test_edges_with_their_own_distance_override_the_default_link():
    job = load(dqc(network='topology = "edges"\nnode_names = ["a", "b", "c"]\n'
                           'edges = [["a", "b"], ["b", "c", 25]]',
                   link="distance_km = 10.0\nsource_fidelity = 0.9"))
    graph = job.network.build_graph()
    assert graph.edges["a", "b"]["link"] == job.network.link_spec()
    other = graph.edges["b", "c"]["link"]
    assert other == dataclasses.replace(job.network.link_spec(), distance_km=25.0)
    assert graph.edges["b", "c"]["distance_km"] == 25.0 and other.source_fidelity == 0.9


def test_link_distance_may_be_left_out_when_every_edge_has_one():
    job = load(dqc(network='topology = "edges"\nnode_names = ["a", "b"]\nedges = [["a", "b", 3.5]]',
                   link=None))
    assert job.network.build_graph().edges["a", "b"]["distance_km"] == 3.5


def test_qasm_circuit_skips_the_qubit_checks(tmp_path):
    (tmp_path / "c.qasm").write_text("OPENQASM 2.0;\nqreg q[50];\n")
    job = load(dqc(circuit="qasm = \"c.qasm\"", distribution="assignment = [0, 1, 2, 3]",
                   simulation="observables = [\"Z40\"]"), base_dir=tmp_path)
    assert job.circuit.qasm == str(tmp_path / "c.qasm") and job.circuit.num_qubits is None


def test_models_are_frozen():
    job = load(dqc())
    with pytest.raises(ValueError):
        job.network.num_nodes = 5


# --------------------------------------------------------------------------
# Bad input: one line naming the key
# --------------------------------------------------------------------------

def test_scenario_selection():
    bad(dqc(run="").replace('scenario = "dqc"', 'scenario = "teleport"'),
        r"\[run\]\.scenario = \"teleport\": must be one of \"circuit\", \"dqc\", \"qkd\"")
    # without scenario = "dqc" the file is a circuit job, which has no [network]: one line that says which
    # scenario's sections they are (was "missing section [circuit]"-like lines for every section)
    bad(dqc().replace('scenario = "dqc"\n', ""),
        r'\[run\]\.scenario is not set, so this is a "circuit" job, which has no section \[network\]; these sections '
        r'are those of scenario "dqc": add scenario = "dqc" to \[run\]$')
    with pytest.raises(Exception, match=r"must be \"dqc\" for DqcJob"):
        DqcJob.model_validate({"run": {"name": "t"}, "network": {"topology": "line", "num_nodes": 2,
                                                                 "link": {"distance_km": 1.0}},
                               "circuit": {"generator": "ghz", "num_qubits": 1}})


@pytest.mark.parametrize("network, match", [
    ('topology = "tree"\nnum_nodes = 4', r"\[network\]\.topology = \"tree\": must be one of \"line\", \"ring\""),
    ("num_nodes = 4", r"missing key \[network\]\.topology$"),
    ('topology = "line"', r"missing key \[network\]\.num_nodes \(2\.\.1_048_576; required with topology = \"line\"\)"),
    ('topology = "line"\nnum_nodes = 1', r"\[network\]\.num_nodes = 1: must be >= 2 \(allowed 2\.\.1048576\)$"),
    ('topology = "star"\nnum_nodes = 1048577',
     r"\[network\]\.num_nodes = 1048577: must be <= 1048576 \(allowed 2\.\.1048576\)$"),
    ('topology = "all_to_all"\nnum_nodes = 2049', r"\[network\]\.num_nodes = 2049: topology = \"all_to_all\" links every pair "
     r"of nodes: 2,098,176 links, about 0\.1 GB on every rank; allowed at most 2,097,152 links \(all_to_all of up "
     r"to 2,048 nodes; line, ring, star or grid of up to 1,048,576\)$"),
    ('topology = "ring"\nnum_nodes = 2', r"\[network\]\.num_nodes = 2: must be >= 3 for topology = \"ring\""),
    ('topology = "line"\nnum_nodes = 4.0', r"\[network\]\.num_nodes: expected an integer, got 4\.0"),
    ('topology = "line"\nnum_nodes = 4\nnum_rows = 2',
     r"\[network\]\.num_rows = 2: only used with topology = \"grid\" \(here topology = \"line\", sized by "
     r"num_nodes\)$"),
    ('topology = "all_to_all"\nnum_nodes = 2\nedges = [["node0", "node1"]]',
     r"\[network\]\.edges = .*: only used with topology = \"edges\""),
    ('topology = "grid"\nnum_rows = 2', r"missing key \[network\]\.num_cols \(1\.\.1_048_576; required with topology = \"grid\"\)"),
    ('topology = "grid"\nnum_rows = 2\nnum_cols = 2\nnum_nodes = 4',
     r"\[network\]\.num_nodes = 4: only used with topology = \"line\" or \"ring\" or \"star\" or \"all_to_all\" "
     r"\(here topology = \"grid\", sized by num_rows and num_cols \(num_rows × num_cols nodes\)\)$"),
    ('topology = "grid"\nnum_rows = 1048577\nnum_cols = 1',
     r"\[network\]\.num_rows = 1048577: must be <= 1048576 \(allowed 1\.\.1048576\)"),
    ('topology = "grid"\nnum_rows = 1024\nnum_cols = 1025', r"\[network\]\.num_cols = 1025: the grid would have num_rows × "
     r"num_cols = 1024 × 1025 = 1,049,600 nodes; allowed at most 1,048,576$"),
    ('topology = "grid"\nnum_rows = 1\nnum_cols = 0', r"\[network\]\.num_cols = 0: must be >= 1"),
    ('topology = "grid"\nnum_rows = 1\nnum_cols = 1', r"\[network\]\.num_cols = 1: the grid must have at least 2 nodes"),
    ('topology = "edges"\nedges = []', r"missing key \[network\]\.node_names \(required with topology = \"edges\" and inline edges; an edges_file "
                                      r"names its own nodes\)"),
    ('topology = "edges"\nnode_names = ["a", "b"]', r"missing key \[network\]\.edges \(required with topology = \"edges\", or edges_file "
                                                  r"instead\)"),
    ('topology = "edges"\nnode_names = ["a", "b"]\nnum_nodes = 2\nedges = [["a", "b"]]',
     r"\[network\]\.num_nodes = 2: only used with"),
    ('topology = "edges"\nnode_names = ["a"]\nedges = []', r"\[network\]\.node_names = \[\"a\"\]: lists 1 names; "
                                                         r"topology = \"edges\" needs 2\.\.1,048,576 nodes"),
    ('topology = "line"\nnum_nodes = 4\nnode_names = ["a", "b", "c"]',
     r"\[network\]\.node_names = \[.*\]: lists 3 names but the network has 4 nodes"),
    ('topology = "line"\nnum_nodes = 3\nnode_names = ["a", "b", "a"]',
     r"\[network\]\.node_names\[2\] = \"a\": appears twice \(also node_names\[0\]\)"),
    ('topology = "line"\nnum_nodes = 2\nnode_names = ["a", "b c"]',
     r"\[network\]\.node_names\[1\] = \"b c\": must be a non-empty name without whitespace"),
    ('topology = "line"\nnum_nodes = 2\nnode_names = ["a", ""]', r"\[network\]\.node_names\[1\] = \"\": must be"),
    ('topology = "line"\nnum_nodes = 2\nnode_names = ["a", 2]', r"\[network\]\.node_names\[1\]: expected a string, got 2"),
    ('topology = "line"\nnum_nodes = 4\nplacement = [0, 0, 1]',
     r"\[network\]\.placement = \[0, 0, 1\]: lists 3 ranks but the network has 4 nodes"),
    ('topology = "line"\nnum_nodes = 4\nplacement = [0, 0, -1, 1]', r"\[network\]\.placement\[2\] = -1: must be >= 0$"),
    ('topology = "line"\nnum_nodes = 2\nplacement = [0, 1.0]', r"\[network\]\.placement\[1\]: expected an integer, got 1\.0"),
    ('topology = "line"\nnum_nodes = 2\nnodes = 3', r"unknown key \[network\]\.nodes; allowed keys: topology, .*; did you mean node"),
])
def test_bad_network(network, match):
    bad(dqc(network=network, node="num_data_qubits = 8", circuit="generator = \"ghz\"\nnum_qubits = 2"), match)


@pytest.mark.parametrize("edges, match", [
    ('[["a", "q"]]', r"\[network\]\.edges\[0\]\[1\] = \"q\": unknown node \"q\"; known nodes: \"a\", \"b\", \"c\""),
    ('[["a", "b"], ["zz", "c"]]', r"\[network\]\.edges\[1\]\[0\] = \"zz\": unknown node \"zz\""),
    ('[["a", "b"], ["b"]]', r"\[network\]\.edges\[1\] = \[\"b\"\]: must be \[a, b\] or \[a, b, distance_km\] \(2 or 3 items\), got 1"),
    ('[["a", "b", 1.0, 2.0]]', r"\[network\]\.edges\[0\] = .*: must be \[a, b\] or .*got 4"),
    ('[["a", "b", -1.0]]', r"\[network\]\.edges\[0\]\[2\] = -1\.0: must be a distance in km > 0"),
    ('[["a", "b", 0]]', r"\[network\]\.edges\[0\]\[2\] = 0: must be a distance in km > 0"),
    ('[["a", "b", inf]]', r"\[network\]\.edges\[0\]\[2\] = inf: must be a distance in km > 0 \(finite\)"),
    ('[["a", "b", "far"]]', r"\[network\]\.edges\[0\]\[2\]: expected a number \(distance_km\), got \"far\""),
    ('[["a", "b", true]]', r"\[network\]\.edges\[0\]\[2\]: expected a number"),
    ('[[1, "b"]]', r"\[network\]\.edges\[0\]\[0\]: expected a node name \(a string\), got 1"),
    ('[["a", "a"]]', r"\[network\]\.edges\[0\] = \[\"a\", \"a\"\]: links node \"a\" to itself"),
    ('[["a", "b"], ["b", "a", 2.0]]', r"\[network\]\.edges\[1\] = .*: repeats the link of edges\[0\]"),
    ('[["a", "b"]]', r"\[network\]\.edges: the topology is disconnected: node\(s\) 'c' cannot reach 'a'"),
    ('["a", "b"]', r"\[network\]\.edges\[0\]: expected an array, got \"a\""),
])
def test_bad_edges(edges, match):
    bad(dqc(network=f'topology = "edges"\nnode_names = ["a", "b", "c"]\nedges = {edges}',
            circuit="generator = \"ghz\"\nnum_qubits = 2"), match)


@pytest.mark.parametrize("link, match", [
    ("distance_km = -1.0", r"\[network\.link\]\.distance_km = -1\.0: must be in \[0, inf\)$"),
    ("distance_km = \"10\"", r"\[network\.link\]\.distance_km = \"10\": must be a real number in \[0, inf\)$"),
    ("distance_km = 1\nattenuation_db_per_km = -0.2", r"\[network\.link\]\.attenuation_db_per_km = -0\.2: must be in"),
    ("distance_km = 1\ngroup_index = 0.5", r"\[network\.link\]\.group_index = 0\.5: must be in \[1, inf\)"),
    ("distance_km = 1\ndetector_efficiency = 0", r"\[network\.link\]\.detector_efficiency = 0\.0: must be in \(0, 1\]"),
    ("distance_km = 1\ndead_time_ps = 1.5", r"\[network\.link\]\.dead_time_ps = 1\.5: must be an integer in \[0, inf\)"),
    ("distance_km = 1\ngate_width_ps = 0", r"\[network\.link\]\.gate_width_ps = 0: must be an integer in \[1, inf\)"),
    ("distance_km = 1\nscheme = \"triple_click\"", r"\[network\.link\]\.scheme = \"triple_click\": must be one of "
                                                   r'"single_click", "double_click", "direct"$'),
    ("distance_km = 1\nsource_fidelity = 0.2", r"\[network\.link\]\.source_fidelity = 0\.2: must be in \[0\.25, 1\]"),
    ("distance_km = 1\nbright_state_alpha = 0.6", r"\[network\.link\]\.bright_state_alpha = 0\.6: must be in \(0, 0\.5\]"),
    ("distance_km = 1\nsource_rate_hz = 1e6\nsource_period_ps = 10",
     r"\[network\.link\]\.source_rate_hz = 1000000\.0: set at most one of source_rate_hz and source_period_ps$"),
    ("distance_km = 1\nsource_rate_hz = 0", r"\[network\.link\]\.source_rate_hz = 0\.0: must be in \(0, inf\)"),
    ("distance_km = 1\ndistance = 2", r"unknown key \[network\.link\]\.distance; allowed keys: distance_km, "
                                      r"attenuation_db_per_km, .*source_fidelity; did you mean distance_km\?$"),
    ("scheme = \"direct\"", r"missing key \[network\.link\]\.distance_km \(km; required unless every edge"),
])
def test_bad_link(link, match):
    bad(dqc(link=link), match)


def test_link_and_node_must_be_tables():
    bad(dqc(network=LINE_NETWORK + "\nlink = 3", link=None), r"\[network\]\.link: expected a table, got 3$")
    bad(dqc(network=LINE_NETWORK + "\nnode = [1]", node=None), r"\[network\]\.node: expected a table, got \[1\]$")


def test_missing_link_section_needs_distance():
    bad(dqc(link=None), r"missing key \[network\.link\]\.distance_km")
    bad(dqc(network='topology = "edges"\nnode_names = ["a", "b", "c"]\nedges = [["a", "b", 1.0], ["b", "c"]]',
            link=None, circuit="generator = \"ghz\"\nnum_qubits = 2"), r"missing key \[network\.link\]\.distance_km")


@pytest.mark.parametrize("node, match", [
    ("num_data_qubits = -1", r"\[network\.node\]\.num_data_qubits = -1: must be an integer in \[0, inf\)$"),
    ("num_data_qubits = 4\nnum_comm_qubits = 0", r"\[network\.node\]\.num_comm_qubits = 0: must be an integer in \[1, inf\)"),
    # 10**18 ran out of memory planning the register (a MemoryError traceback)
    ("num_data_qubits = 4\nnum_comm_qubits = 1_000_000_000_000_000_000",
     r"\[network\.node\]\.num_comm_qubits = 1000000000000000000: must be an integer in \[1, 1024\]$"),
    ("num_data_qubits = 1025", r"\[network\.node\]\.num_data_qubits = 1025: must be an integer in \[0, 1024\]$"),
    ("num_data_qubits = 4\nt1_s = 0", r"\[network\.node\]\.t1_s = 0\.0: must be in \(0, inf\)"),
    ("num_data_qubits = 4\nt1_s = 1.0\nt2_s = 3.0",
     r"\[network\.node\]\.t2_s = 3\.0: must be at most 2\*t1_s = 2 \(T2 <= 2\*T1\)$"),
    ("num_data_qubits = 4\nt1_s = 1.0",
     r"\[network\.node\]\.t2_s: must be at most 2\*t1_s = 2 \(T2 <= 2\*T1\) \(t2_s is not set: its default is inf\)$"),
    ("num_data_qubits = 4\nt2_s = nan", r"\[network\.node\]\.t2_s = nan: must be a finite number"),
    ("num_data_qubits = 4\ngate_2q_error_probability = 1.5",
     r"\[network\.node\]\.gate_2q_error_probability = 1\.5: must be in \[0, 1\]"),
    ("num_data_qubits = 4\nmeasure_duration_ps = -3", r"\[network\.node\]\.measure_duration_ps = -3"),
    ("num_data_qubits = 4\nname = \"x\"", r"unknown key \[network\.node\]\.name \(node names come from "
                                          r"\[network\]\.node_names\); allowed keys: num_data_qubits, "),
    ("num_data_qubits = 4\nt3_s = 1.0", r"unknown key \[network\.node\]\.t3_s; allowed keys: .*; did you mean t"),
])
def test_bad_node(node, match):
    message = bad(dqc(node=node), match)
    assert "name," not in message.split("allowed keys:")[-1]  # name is not a [network.node] key


def test_capacity():
    bad(dqc(circuit="generator = \"qft\"\nnum_qubits = 40"),
        r"jobs/x.toml: \[circuit\]\.num_qubits = 40 exceeds the network's capacity of 16 data qubits "
        r"\(4 nodes × 4\)$")
    bad(dqc(node=None), r"\[circuit\]\.num_qubits = 8 exceeds the network's capacity of 0 data qubits \(4 nodes × 0\)")
    bad(dqc(network='topology = "grid"\nnum_rows = 2\nnum_cols = 2', node="num_data_qubits = 1"),
        r"capacity of 4 data qubits \(4 nodes × 1\)")
    assert load(dqc(circuit="generator = \"ghz\"\nnum_qubits = 16")).circuit.num_qubits == 16
    bad(dqc(circuit="generator = \"ghz\"\nnum_qubits = 41"), r"\[circuit\]\.num_qubits = 41: must be <= 40")


@pytest.mark.parametrize("distribution, match", [
    ("scheme = \"teleport\"", r"\[distribution\]\.scheme = \"teleport\": must be one of \"telegate\", \"teledata\""),
    ("assignment = [0, 0, 1, 1, 2, 2, 3]",
     r"\[distribution\]\.assignment = \[.*\]: lists 7 qubits but the circuit has 8$"),
    ("assignment = [0, 0, 1, 4, 2, 2, 3, 3]",
     r"\[distribution\]\.assignment\[3\] = 4: must be a node index in 0\.\.3 \(the network has 4 nodes\)$"),
    ("assignment = [0, 0, 1, -1, 2, 2, 3, 3]", r"\[distribution\]\.assignment\[3\] = -1: must be >= 0$"),
    ("assignment = [0, 0, 0, 0, 0, 2, 3, 3]",
     r"\[distribution\]\.assignment\[4\] = 0: node 0 \(\"node0\"\) would hold 5 qubits but has 4 data qubits"),
    ("assignment = [0, 0, 1, 1.5, 2, 2, 3, 3]", r"\[distribution\]\.assignment\[3\]: expected an integer, got 1\.5"),
    ("assignments = []", r"unknown key \[distribution\]\.assignments; allowed keys: scheme, assignment"),
])
def test_bad_distribution(distribution, match):
    bad(dqc(distribution=distribution), match)


@pytest.mark.parametrize("simulation, match", [
    ("observables = [\"Z0 Z8\"]", r"\[simulation\]\.observables\[0\] = \"Z0 Z8\": qubit 8 is outside 0\.\.7"),
    ("observables = [\"X0 X0\"]", r"\[simulation\]\.observables\[0\] = \"X0 X0\": qubit 0 appears twice"),
    ("timeline = 1", r"\[simulation\]\.timeline: expected true or false, got 1"),
    ("shots = -1", r"\[simulation\]\.shots = -1: must be >= 0"),
    ("timelines = true", r"unknown key \[simulation\]\.timelines; allowed keys: shots, .*timeline.*; did you mean timeline\?"),
])
def test_bad_simulation(simulation, match):
    bad(dqc(simulation=simulation), match)


def test_missing_and_unknown_sections():
    bad(dqc().replace("[network]\n" + LINE_NETWORK + "\n", "").replace("[network.link]\n" + LINK + "\n", "")
        .replace("[network.node]\n" + NODE + "\n", ""), r"missing section \[network\]$")
    bad(dqc(circuit=None), r"missing section \[circuit\]$")
    bad(dqc() + "[distributions]\n", r"unknown section \[distributions\]; allowed sections: run, checkpoint, network, "
                                     r"circuit, distribution, simulation; did you mean distribution\?")


def test_several_problems_are_counted_on_one_line():
    message = bad(dqc(simulation="shots = -1\ntimeline = 3"), r"\[simulation\]\.shots = -1")
    assert message.endswith("(and 1 more problem: dqsim check lists them)")


# --------------------------------------------------------------------------
# Overrides and run-time helpers
# --------------------------------------------------------------------------

def test_overrides_with_nested_tables():
    job = load(dqc())
    new = apply_overrides(job, ["network.link.distance_km=5", "network.node.t2_s=0.5", "network.node.t1_s=1",
                                "network.num_nodes=2", "circuit.num_qubits=4", "simulation.timeline=false",
                                "distribution.scheme=teledata", "network.link.scheme=\"single_click\""])
    assert new.network.link_spec().distance_km == 5.0 and new.network.link["distance_km"] == 5.0
    assert new.network.node_spec("node1").t2_s == 0.5 and new.network.node_spec("node1").t1_s == 1.0
    assert new.network.resolved_num_nodes() == 2 and new.circuit.num_qubits == 4
    assert new.simulation.timeline is False and new.distribution.scheme == "teledata"
    assert new.network.link_spec().scheme == "single_click"
    assert job.network.link_spec().distance_km == 10.0  # the original is unchanged
    # an empty value removes a nested key
    with pytest.raises(ConfigError, match=r"\(with --set network\.link\.distance_km= network\.link\.scheme=direct\): "
                                          r"missing key \[network\.link\]\.distance_km"):
        apply_overrides(job, ["network.link.distance_km=", "network.link.scheme=direct"])
    assert apply_overrides(job, ["network.link.scheme=direct"]).network.link_spec().scheme == "direct"
    # a new nested table is created when the file has none
    job = load(dqc(network='topology = "edges"\nnode_names = ["a", "b"]\nedges = [["a", "b", 3.0]]',
                   link=None, circuit="generator = \"ghz\"\nnum_qubits = 2"))
    new = apply_overrides(job, ["network.link.scheme=direct"])
    assert new.network.link == {"scheme": "direct"} and new.network.link_spec().scheme == "direct"
    assert new.network.build_graph().edges["a", "b"]["link"].distance_km == 3.0


@pytest.mark.parametrize("assignment, match", [
    ("network.link.distance_km=-5", r"\(with --set network\.link\.distance_km=-5\): "
                                    r"\[network\.link\]\.distance_km = -5\.0: must be in \[0, inf\)"),
    ("network.link.distanc_km=5", r"unknown key \[network\.link\]\.distanc_km; .*did you mean distance_km\?"),
    ("network.node.t2_s=0", r"\[network\.node\]\.t2_s = 0\.0: must be in \(0, inf\)$"),
    ("network.node.num_data_qubits=1", r"\[circuit\]\.num_qubits = 8 exceeds the network's capacity of 4"),
    ("network.link.distance_km.x=1", r"\[network\.link\]\.distance_km is 10\.0, not a table"),
    ("distribution.assignment=[0, 9]", r"\[distribution\]\.assignment = \[0, 9\]: lists 2 qubits"),
])
def test_override_errors(assignment, match):
    with pytest.raises(ConfigError, match=match) as info:
        apply_overrides(load(dqc()), [assignment])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("assignment, match", [
    ("network.link.source_rate_hz=5e-324", r"\[network\.link\]\.source_rate_hz = 5e-324: must be at least 1\.08e-07 "),
    ("network.link.distance_km=1.7976931348623157e308",
     r"\[network\.link\]\.distance_km = 1\.7976931348623157e\+308: must be at most 1\.88e\+12 at group_index = 1\.468"),
    ("network.link.group_index=1.7976931348623157e308",
     r"\[network\.link\]\.group_index = 1\.7976931348623157e\+308: must be at most 2\.77e\+11 at distance_km = 10\.0"),
])
def test_a_link_whose_times_overflow_the_clock_is_refused_at_load(assignment, match):
    """Boundary runs (bench/boundary_runs.py, 2026-12-06): these crashed building the network, ``ValueError:
    seconds must be finite, got inf`` from the fibre delay or the source period in int64 picoseconds."""
    with pytest.raises(ConfigError, match=match) as info:
        apply_overrides(load(dqc()), [assignment])
    assert "\n" not in str(info.value)
    link = apply_overrides(load(dqc()), ["network.link.source_rate_hz=1.1e-7"]).network.link_spec()
    assert link.effective_source_period_ps == round(1.0 / 1.1e-7 * 10**12)  # the slowest source allowed still fits


def test_the_placement_is_checked_against_the_rank_count_when_the_network_is_built():
    job = load(dqc(network=LINE_NETWORK + "\nplacement = [0, 1, 2, 2]"))
    assert list(job_network(job.network, 3).placement) == [0, 1, 2, 2]
    with pytest.raises(ResourceError, match=r"\[network\]\.placement\[2\] = 2: must be a rank in 0\.\.1"):
        job_network(job.network, 2)


def test_node_spec_refuses_unknown_names():
    with pytest.raises(ConfigError, match=r"unknown node 'qpu9'"):
        load(dqc()).network.node_spec("qpu9")


def test_network_section_on_its_own():
    net = NetworkSection(topology="edges", node_names=["a", "b"], edges=[["a", "b", 2]])
    assert net.build_graph().edges["a", "b"]["link"].distance_km == 2.0
    assert net.node_spec("b") == NodeSpec(name="b")


def test_long_lists_of_known_nodes_are_shortened():
    names = [f"q{i}" for i in range(20)]
    edges = [[names[i], names[i + 1]] for i in range(19)] + [["q0", "zz"]]
    network = f'topology = "edges"\nnode_names = {names!r}\nedges = {edges!r}'.replace("'", '"')
    message = bad(dqc(network=network), r"\[network\]\.edges\[19\]\[1\] = \"zz\": unknown node \"zz\"")
    assert message.endswith('"q9", ... (10 more)')
