"""A dense two-qubit gate between QPUs runs as TeleData (its first qubit teleported over and back: two EPR pairs,
6 link delays on an ideal link) where its rewrite would take more pairs (three ``cp`` under TeleGate); gates of
one or two controlled gates keep their rewrite; the cloud scheduler prices it as a TeleData gate."""

import numpy as np
import pytest
from mpi_helper import run_mpi_arrays
from reference import run_ops

from dqsim import comm as comm_mod
from dqsim.circuit.decompose import num_controlled_gates
from dqsim.circuit.distribute import RemoteControl, RemoteTarget
from dqsim.circuit.ir import Circuit, Gate
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios import cloud
from dqsim.scenarios.cloud_scheduler import Centre
from dqsim.scenarios.dqc import plan_dqc, run_dqc
from dqsim.state import gates as gate_table
from test_dqc import BACKEND
from test_physics_audit_dqc import _logical_state

pytest.importorskip("qiskit")  # the KAK decomposition that counts a dense gate's controlled gates

#: A lossless 1 km link on which every attempt heralds (the link delay d sets every time).
IDEAL = dict(distance_km=1.0, scheme="direct", attenuation_db_per_km=0.0, detector_efficiency=1.0)


def _haar(seed: int, dim: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr((rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))) / np.sqrt(2))
    return q * (np.diag(r) / np.abs(np.diag(r)))


def _two_controlled() -> np.ndarray:
    """exp(i(0.4 XX + 0.25 YY)) between random one-qubit gates: KAK c = 0, two controlled gates (two CNOTs)."""
    inner = gate_table.rxx_matrix(-0.8) @ gate_table.ryy_matrix(-0.5)
    return np.kron(_haar(1, 2), _haar(2, 2)) @ inner @ np.kron(_haar(3, 2), _haar(4, 2))


def _controlled_phase_like() -> np.ndarray:
    """diag(1, 1, 1, e^{0.9i}) between random one-qubit gates: one controlled gate."""
    return np.kron(_haar(5, 2), _haar(6, 2)) @ np.diag([1, 1, 1, np.exp(0.9j)]) @ np.kron(_haar(7, 2), _haar(8, 2))


def _network(comm=(2, 2), **link) -> Network:
    graph = topology.line(2, link=LinkSpec(**(link or dict(distance_km=5.0))))
    return Network(graph, [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=c) for n, c in zip(graph.nodes, comm)])


def _circuit(matrix: np.ndarray, qubits=(0, 2)) -> Circuit:
    """Qubits 0, 1 on QPU 0 and 2, 3 on QPU 1 in distinct entangled states, then ``matrix`` between QPUs."""
    c = Circuit(4).gate("ry", 0, params=[0.7]).gate("h", 1).gate("cx", 1, 0).gate("rx", 2, params=[1.1])
    c.gate("ry", 3, params=[2.0]).gate("cx", 3, 2)
    return c.unitary(matrix, *qubits)


@pytest.mark.parametrize("comm, delays, reversed_", [((2, 2), 6, False),   # return pair requested at the start
                                                      ((1, 2), 10, False),  # the first qubit's QPU has one
                                                      ((2, 1), 10, True)])  # only the first's has two: reversed
def test_repro_a_dense_gate_between_qpus_takes_two_pairs_and_gives_the_monolithic_state(comm, delays, reversed_):
    """A Haar-random two-qubit unitary (three CNOTs: three ``cp`` in its rewrite, three TeleGates before this
    change) between two QPUs on a lossless 1 km link: its first qubit is teleported to the QPU with two
    communication qubits and back. Both pairs are requested at 0 and herald at 4d (handshake 2d, emission,
    photon d, acknowledgment d), the qubit's bits arrive at 5d, the gate is applied and the qubit returns at
    6d; where the moving qubit's QPU has one communication qubit the return pair is requested at 5d (herald
    9d, back at 10d). The final data state equals the undistributed circuit's amplitude by amplitude (1e-12)."""
    u = _haar(11)
    assert num_controlled_gates(Gate("unitary", (0, 1), (), u)) == 3
    network = _network(comm, **IDEAL)
    circuit = _circuit(u)
    run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, assignment=[0, 0, 1, 1],
                  shots=0)
    ideal = run_ops(4, [g.to_op() for g in circuit.gates()])
    np.testing.assert_allclose(_logical_state(run), ideal, rtol=0, atol=1e-12)
    assert sum(row[2] for row in run.links) == 2 and run.num_nonlocal_gates == 1
    assert run.end_time_ps == delays * network.latency_ps(0, 1)
    (kept,) = [g for g in run.decomposed.gates() if len(g.qubits) == 2 and g.name == "unitary"]
    assert kept.qubits == ((2, 0) if reversed_ else (0, 2))
    mover, host = (1, 0) if reversed_ else (0, 1)
    steps = plan_dqc(circuit, network, assignment=[0, 0, 1, 1]).plan.steps
    assert [type(s) for s in steps[mover] if s.__class__.__name__.startswith("Remote")] == [RemoteControl]
    assert [s.dense for s in steps[host] if isinstance(s, RemoteTarget)] == [True]


def test_with_one_communication_qubit_on_each_side_a_dense_gate_is_three_telegates():
    run = run_dqc(_circuit(_haar(11)), comm=comm_mod.SingleComm(), backend=BACKEND, network=_network((1, 1)),
                  assignment=[0, 0, 1, 1], shots=0)
    assert sum(row[2] for row in run.links) == 3 and run.num_nonlocal_gates == 3
    assert run.fidelity == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("scheme, matrix, controlled, pairs, nonlocal_gates", [
    ("telegate", _two_controlled(), 2, 2, 2),     # two TeleGates: as many pairs as TeleData, kept
    ("teledata", _two_controlled(), 2, 2, 1),     # two TeleData gates would take four pairs: teleported
    ("telegate", _controlled_phase_like(), 1, 1, 1),
    ("teledata", _controlled_phase_like(), 1, 2, 1),  # one TeleData cp: two pairs either way, the rewrite kept
])
def test_a_dense_gate_of_one_or_two_controlled_gates_keeps_the_cheaper_route(scheme, matrix, controlled, pairs,
                                                                             nonlocal_gates):
    assert num_controlled_gates(Gate("unitary", (0, 1), (), matrix)) == controlled
    run = run_dqc(_circuit(matrix), comm=comm_mod.SingleComm(), backend=BACKEND, network=_network(),
                  scheme=scheme, assignment=[0, 0, 1, 1], shots=0)
    assert sum(row[2] for row in run.links) == pairs and run.num_nonlocal_gates == nonlocal_gates
    kept = any(g.name == "unitary" and len(g.qubits) == 2 for g in run.decomposed.gates())
    assert kept == (scheme == "teledata" and controlled == 2)
    assert run.fidelity == pytest.approx(1.0, abs=1e-12)


def test_the_cloud_estimate_of_a_dense_gate_is_a_teledata_gate():
    """Scheduler's cost of a three-CNOT dense gate between two QPUs (telegate scheme), 1 km link of success
    probability p, attempt period T, link delay d (no processing delays): both pairs at once, the later one's
    attempts 2/p − 1/(p(2 − p)), so 2d + (2/p − 1/(p(2 − p)) − 1)·T + herald, then the qubit out and back
    (2d); with one communication qubit at the moving qubit's QPU, two pairs in turn: 2·(2d + (1/p − 1)·T +
    herald + d). A job of one such gate and its measurements: that plus the gate and measurement times."""
    network = _network((2, 2), distance_km=1.0)
    link, node = network.link(0, 1), network.nodes[0]
    p, d, period, herald = link.success_probability, link.delay_ps, link.attempt_period_ps, link.herald_delay_ps
    early = 2 * d + (2 / p - 1 / (p * (2 - p)) - 1) * period + herald + 2 * d
    late = 2 * (2 * d + (1 / p - 1) * period + herald + d)
    costs = (cloud._pair_ps(network, "teledata"), cloud._late_teledata_ps(network))
    assert costs == pytest.approx((early, late), rel=1e-12)
    circuit = Circuit(2, 2).unitary(_haar(11), 0, 1).measure(0, 0).measure(1, 1)
    kw = dict(capacities=[1, 1], node=node, pair_ps=cloud._pair_ps(network), swap_ps=cloud._swap_ps(network),
              teledata_ps=costs)
    gate, measure = node.gate_2q_duration_ps, node.measure_duration_ps
    assert cloud.execution_estimate_ps(circuit, **kw) == int(gate + early + measure)
    assert cloud.execution_estimate_ps(circuit, two_comm=[False, True], **kw) == int(gate + late + measure)
    # one communication qubit at both QPUs: three TeleGates, three cut gates (the one-qubit gates take no time)
    assert cloud.execution_estimate_ps(circuit, two_comm=[False, False], **kw) == \
        int(3 * (gate + cloud._pair_ps(network)) + measure)
    centre = Centre.from_graph(network.graph, network.names, [1, 1])
    (queued,) = cloud.queued_jobs([cloud.UserJob("dense", circuit, 1, 0)], network, centre)
    assert queued.estimate_ps == int(gate + early + measure)


def test_a_program_restored_from_a_checkpoint_older_than_dense_teledata_is_refused():
    from dqsim.errors import DqsimError
    from dqsim.protocols.distributed import NodeProgram
    program = NodeProgram(None, "telegate", [RemoteControl(0, 1, 0, dense=True)])
    del program.teleported_dense  # as unpickled from an older checkpoint: the class default
    with pytest.raises(DqsimError, match="written before a dense two-qubit gate between QPUs ran as TeleData"):
        next(program.run(None))


def test_one_and_two_ranks_give_the_same_run(tmp_path):
    """tests/mpi_scripts/dqc_dense_check.py on two ranks: the same circuit on one rank (rank 0 alone) and with
    the QPUs and the register sharded over both: identical states, shots, times and link counts."""
    arrays = run_mpi_arrays(2, "tests/mpi_scripts/dqc_dense_check.py", tmp_path / "out.npz")
    assert arrays["two_register_ranks"][0] == 2 and arrays["one_register_ranks"][0] == 1
    assert arrays["one_pairs"][0] == 4 and arrays["one_nonlocal"][0] == 2
    for key in ("time_ps", "links", "shots", "pairs", "nonlocal"):
        assert np.array_equal(arrays[f"one_{key}"], arrays[f"two_{key}"]), key
    np.testing.assert_allclose(arrays["two_state"], arrays["one_state"], rtol=0, atol=1e-12)
    assert abs(arrays["one_fidelity"][0] - 1) < 1e-12 and abs(arrays["two_fidelity"][0] - 1) < 1e-12
