"""Distributed circuits in one process: exactness on 2-4 QPUs and several topologies, and bad setups."""

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit.generators import qft, random_circuit
from dqsim.circuit.ir import Circuit
from dqsim.errors import CircuitError, ResourceError
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.node import NodeSpec
from dqsim.scenarios.dqc import run_dqc
from conftest import TEST_BACKEND

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")


def network(kind, num_nodes, *, data=3, comm=2, **link):
    graph = getattr(topology, kind)(num_nodes, link=LinkSpec(distance_km=5.0, **link))
    names = list(graph.nodes)
    return graph, names, [NodeSpec(name=n, num_data_qubits=data, num_comm_qubits=comm) for n in names]


@pytest.mark.parametrize("kind,num_nodes,scheme", [("line", 2, "telegate"), ("ring", 3, "telegate"),
                                                   ("star", 4, "telegate"), ("line", 3, "teledata"),
                                                   ("all_to_all", 4, "teledata")])
@pytest.mark.parametrize("seed", [1, 2])
def test_ideal_network_reproduces_random_circuits(kind, num_nodes, scheme, seed):
    graph, names, specs = network(kind, num_nodes)
    circuit = random_circuit(2 * num_nodes, 4, seed=seed, measure=True)
    run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, graph=graph, node_names=names,
                  node_specs=specs, scheme=scheme, seed=seed, shots=50)
    assert run.num_nonlocal_gates > 0
    assert run.fidelity == pytest.approx(1.0, abs=1e-10)
    assert sum(run.counts.values()) == 50


def test_qft_with_user_assignment_and_observables():
    graph, names, specs = network("line", 3, data=2)
    circuit = qft(6)
    run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, graph=graph, node_names=names,
                  node_specs=specs, assignment=[2, 2, 1, 1, 0, 0], shots=20,
                  observables=[("X0", [(1.0, "X", (0,))])])
    assert run.owner == [2, 2, 1, 1, 0, 0]
    assert run.fidelity == pytest.approx(1.0, abs=1e-10)
    assert run.expectation[0][2] == pytest.approx(1.0, abs=1e-10)  # QFT|0> is |+>^n


def test_lossy_link_needs_more_attempts_than_pairs():
    graph, names, specs = network("line", 2, attenuation_db_per_km=2.0)
    run = run_dqc(random_circuit(4, 4, seed=3, measure=True), comm=comm_mod.SingleComm(), backend=BACKEND,
                  graph=graph, node_names=names, node_specs=specs, shots=10)
    (_a, _b, pairs, attempts, photons), = run.links
    assert attempts > pairs > 0 and photons == 4 * attempts  # Barrett-Kok: two rounds, two photons each


def test_teledata_needs_two_communication_qubits():
    graph, names, specs = network("line", 2, comm=1)
    with pytest.raises(ResourceError, match="communication qubit"):
        run_dqc(random_circuit(4, 2, seed=1), comm=comm_mod.SingleComm(), backend=BACKEND, graph=graph,
                node_names=names, node_specs=specs, scheme="teledata")


def test_mid_circuit_measurement_is_refused():
    graph, names, specs = network("line", 2)
    circuit = Circuit(2, 2).gate("h", 0).measure(0, 0).gate("cx", 0, 1)
    with pytest.raises(CircuitError, match="terminal"):
        run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, graph=graph, node_names=names,
                node_specs=specs)


def test_more_qubits_than_capacity_is_refused():
    graph, names, specs = network("line", 2, data=1)
    with pytest.raises(CircuitError, match="capacity"):
        run_dqc(random_circuit(4, 2, seed=1), comm=comm_mod.SingleComm(), backend=BACKEND, graph=graph,
                node_names=names, node_specs=specs)


def test_same_seed_same_run_other_seed_other_timing():
    graph, names, specs = network("line", 3)
    circuit = random_circuit(6, 4, seed=5, measure=True)
    runs = [run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, graph=graph, node_names=names,
                    node_specs=specs, seed=s, shots=100) for s in (1, 1, 2)]
    assert runs[0].end_time_ps == runs[1].end_time_ps
    assert np.array_equal(runs[0].shots, runs[1].shots)
    assert runs[0].end_time_ps != runs[2].end_time_ps
