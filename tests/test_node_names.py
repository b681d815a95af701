"""Node names made from a formula, and the per-node layout held for the nodes that have qubits or steps only.

A job's generated topology names its nodes ``node0``, ``node1``, ...; until 2026-12-07 every rank held each name
as a string and a dict from name to index (~120 bytes a node), and the run's register map and plan held a tuple
of communication qubits and a list of steps for every node (~280 bytes a node; bench/results/
network-node-memory-vm-20261207.md). :class:`~dqsim.network.node.NumberedNames` makes a name when read and reads
the index off the name; :class:`~dqsim.circuit.distribute.QubitBlocks` and
:class:`~dqsim.circuit.distribute.NodeSteps` hold formulas and the few nodes with something to do.
"""

import pickle
import tracemalloc

import pytest

from dqsim.circuit.distribute import QubitBlocks, QubitOwners, register_map
from dqsim.errors import ConfigError
from dqsim.jobs import load_job_text
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec, NumberedNames, RoleNames
from dqsim.scenarios import dqc
from test_network_memory import network_job


def test_numbered_names_are_the_tuple_of_the_names():
    names = NumberedNames("node", 1001)
    listed = tuple(f"node{i}" for i in range(1001))
    assert names == listed and listed == names and hash(names) == hash(listed) and repr(names) == repr(listed)
    assert names != list(listed) and names != listed[:-1] and names != NumberedNames("n", 1001)
    assert list(names) == list(listed) and list(reversed(names)) == list(reversed(listed))
    assert names[7:12] == listed[7:12] and names[::-100] == listed[::-100] and names[-1] == "node1000"
    assert all(names.index(name) == i for i, name in enumerate(listed))
    assert pickle.loads(pickle.dumps(names)) == names and len(names) == 1001
    with pytest.raises(IndexError):
        names[1001]
    assert NumberedNames("", 3) == ("0", "1", "2") and NumberedNames("x", 0) == ()


@pytest.mark.parametrize("name", ["node1001", "node01", "node00", "node", "node-1", "node+1", "node 1", "node1.0",
                                  "node\u0661", "node\u00b2", "Node1", "nod1", "1", "", None, 3, ("node1",)])
def test_a_name_that_is_not_one_of_them_has_no_index(name):
    names = NumberedNames("node", 1001)
    assert name not in names and names.index_of(name) is None and names.count(name) == 0
    with pytest.raises(ValueError):
        names.index(name)


def test_numbered_names_refuse_a_prefix_with_whitespace_or_a_negative_count():
    with pytest.raises(ConfigError, match="prefix"):
        NumberedNames("no de", 3)
    with pytest.raises(ConfigError, match="num_names"):
        NumberedNames("node", -1)


@pytest.mark.parametrize("first, prefix, last", [("bob", "trusted", "bob"), ("trusted2", "trusted", "bob"),
                                                  ("alice", "trusted", "trusted3"), ("leaf0", "leaf", None)])
def test_role_names_refuse_a_first_or_last_that_another_name_could_be(first, prefix, last):
    """Equal ``first`` and ``last``, or one that reads as the prefix and a number, would name two nodes alike."""
    with pytest.raises(ConfigError, match="RoleNames: (first and last must differ|(first|last) '.*' reads as)"):
        RoleNames(first, prefix, 4, last=last)
    names = RoleNames("t", "t1", 4, last="bob")  # digits at the prefix's end: unique all the same
    assert list(names) == ["t", "t11", "t12", "bob"] and [names.index_of(n) for n in names] == [0, 1, 2, 3]


def test_a_job_network_reads_a_node_index_off_its_name():
    """The network of a generated topology holds its names as a formula, and finds a name's index, or refuses an
    unknown name, as the dict it held before did."""
    job = load_job_text(network_job('topology = "line"\nnum_nodes = 300'))
    network = dqc.job_network(job.network, 2)
    assert isinstance(network.names, NumberedNames) and network.names == tuple(f"node{i}" for i in range(300))
    assert [network.index_of(f"node{i}") for i in (0, 17, 299)] == [0, 17, 299]
    assert network.nodes[17].name == "node17" and network.route(3, 0) == [3, 2, 1, 0]
    with pytest.raises(ConfigError, match=r"unknown node 'node300'; known nodes: node0, node1, .*node9 \.\.\."):
        network.index_of("node300")
    named = Network.from_pairs([NodeSpec(name=n) for n in "abc"], [(0, 1), (1, 2)], [LinkSpec(distance_km=1.0)] * 2)
    assert named.names == ("a", "b", "c") and named.index_of("c") == 2
    with pytest.raises(ConfigError, match="unknown node 'd'"):
        named.index_of("d")


def _register_map_as_tuples(owner, num_data, num_comm):
    """The register map as it was laid out with a tuple per node (before 2026-12-07), the reference."""
    data, comm, start = [], [], 0
    for count in num_data:
        data.append(tuple(range(start, start + count)))
        start += count
    for count in num_comm:
        comm.append(tuple(range(start, start + count)))
        start += count
    node_of = [node % len(data) for node, qubits in enumerate(data + comm) for _q in qubits]
    used, mapped = [0] * len(data), []
    for node in owner:
        mapped.append(data[node][used[node]])
        used[node] += 1
    return start, tuple(data), tuple(comm), tuple(mapped), tuple(node_of)


@pytest.mark.parametrize(("owner", "num_data", "num_comm"), [
    ([1, 0, 1], [2, 2], [1, 1]),
    ([0, 3, 3, 7], [1, 0, 0, 2, 0, 0, 0, 1, 0], [2] * 9),
    ([2, 0], [1, 0, 1, 0], [1, 3, 0, 2]),
    ([], [0, 0, 0], [1, 1, 1]),
])
def test_the_register_map_is_the_one_laid_out_with_a_tuple_per_node(owner, num_data, num_comm):
    regmap = register_map(owner, num_data, num_comm)
    num_qubits, data, comm, mapped, node_of = _register_map_as_tuples(owner, num_data, num_comm)
    assert (regmap.num_qubits, regmap.qubit_of_logical, regmap.num_data_qubits) == (num_qubits, mapped, sum(num_data))
    assert regmap.data_qubits == data and regmap.comm_qubits == comm and regmap.node_of_qubit == node_of
    assert tuple(regmap.data_qubits) == data and tuple(regmap.comm_qubits) == comm
    assert tuple(regmap.node_of_qubit) == node_of
    assert [regmap.node_of_qubit[q] for q in range(num_qubits)] == list(node_of)
    assert regmap.comm_qubits[-1] == comm[-1] and regmap.node_of_qubit[-1:] == node_of[-1:]
    assert regmap == register_map(owner, num_data, num_comm)


def test_qubit_blocks_find_the_node_of_a_qubit():
    blocks = QubitBlocks([0, 3, 0, 0, 2], first=10)
    assert [blocks.node_of(q) for q in range(9, 16)] == [None, 1, 1, 1, 4, 4, None]
    assert QubitOwners(QubitBlocks([1, 0]), blocks).__array__().tolist() == [0, 1, 1, 1, 4, 4]
    with pytest.raises(IndexError):
        blocks[5]


def test_repro_a_plan_holds_nothing_for_the_nodes_without_qubits_or_steps():
    """Planning a 4-qubit GHZ over a 8,192-node line: the register map and the plan held ~280 bytes for each
    node (a tuple of communication qubits, the node of each qubit, an empty list of steps) before 2026-12-07;
    now a few hundred bytes in all. The names and their index (~120 bytes a node) went the same way."""
    job = load_job_text(network_job('topology = "line"\nnum_nodes = 8192'))
    circuit = dqc.build_circuit(job)
    tracemalloc.start()
    try:
        network = dqc.job_network(job.network, 1)
        network_bytes, _peak = tracemalloc.get_traced_memory()
        names = network.names
        tracemalloc.reset_peak()
        plan = dqc.plan_dqc(circuit, network)
        plan_bytes, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    plan_bytes -= network_bytes
    assert plan.plan.steps.nodes_with_steps() == [0, 1, 2, 3] and plan.regmap.comm_qubits[8191] == (16386, 16387)
    assert plan.regmap.node_of_qubit[16387] == 8191 and names[8191] == "node8191"
    assert plan_bytes / 8192 < 16, plan_bytes / 8192
    # what is left of the network per node: its rooted forest's lists (~160 bytes) and the placement (8)
    assert network_bytes / 8192 < 230, network_bytes / 8192
