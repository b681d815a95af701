"""Fewer passes over the data register in a dqc run: queued register operations fused, measurements of leaving
network qubits collapsed straight into |0⟩ (QuantumMemory.fusion_costs, ShardedState.measure(reset=True))."""

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.backend import measure_kernels
from dqsim.circuit.generators import qft, random_circuit
from dqsim.errors import DqsimError
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.rng import Stream
from dqsim.scenarios.dqc import run_dqc
from dqsim.state import kernels
from dqsim.state.sharded import ShardedState
from conftest import TEST_BACKEND

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")
numba_only = pytest.mark.skipif(not measure_kernels.available(), reason="numba missing")


@numba_only
@pytest.mark.parametrize("precision", [np.complex128, np.complex64])
def test_collapse_reset_is_the_collapse_then_x_to_the_bit(precision):
    rng = np.random.default_rng(11)
    for n in (1, 2, 3, 5, 9, 13):
        for bit in sorted({0, n // 2, n - 1}):
            for value in (0, 1):
                psi = (rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)).astype(precision)
                want = psi.copy()
                measure_kernels.collapse(want, [bit], [value], 1.25)
                if value:  # X on the bit: the halves swapped (a copy)
                    view = want.reshape(-1, 2, 1 << bit)
                    view[:, [0, 1], :] = view[:, [1, 0], :]
                got = psi.copy()
                measure_kernels.collapse_reset(got, bit, value, 1.25)
                assert np.array_equal(got, want), (n, bit, value)
                assert not np.any(kernels.probabilities_of_bits(np, got, n, [bit])[1:])


@pytest.mark.parametrize("n,qubits", [(6, [5]), (6, [0]), (9, [3]), (9, [2, 7])])
def test_measure_with_reset_is_the_measurement_then_x(n, qubits):
    rng = np.random.default_rng(n)
    vector = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    vector /= np.linalg.norm(vector)
    for seed in range(4):
        plain, reset = (ShardedState(n, backend=BACKEND, seed=0) for _ in range(2))
        plain.set_state(vector)
        reset.set_state(vector)
        outcomes = plain.measure(qubits, stream=Stream(seed, node=0, purpose="m"))
        for q, m in zip(qubits, outcomes):
            if m:
                plain.apply_gate("x", [q])
        assert reset.measure(qubits, stream=Stream(seed, node=0, purpose="m"), reset=True) == outcomes
        assert np.array_equal(reset.gather(), plain.gather())
        assert reset.probabilities(qubits)[0] == pytest.approx(1.0, abs=1e-12)


def test_measure_with_reset_takes_the_z_basis_only():
    with pytest.raises(DqsimError, match="basis Z"):
        ShardedState(3).measure([0], basis="X", reset=True)


def _network(kind, num_nodes, *, data=3, comm=2, node=None, **link):
    graph = getattr(topology, kind)(num_nodes, link=LinkSpec(distance_km=5.0, **link))
    return Network(graph, [NodeSpec(name=n, num_data_qubits=data, num_comm_qubits=comm, **(node or {}))
                           for n in graph.nodes])


def _runs(circuit, network, **kwargs):
    return [run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, timeline=False,
                    fusion=fusion, **kwargs) for fusion in (False, True)]


NOISY = dict(t1_s=2e-3, t2_s=1e-3, gate_1q_error_probability=0.01, gate_2q_error_probability=0.02,
             measure_error_probability=0.01)


@pytest.mark.parametrize("kind,num_nodes,scheme,noisy", [("line", 3, "telegate", False), ("ring", 4, "teledata", False),
                                                         ("line", 3, "telegate", True), ("star", 4, "teledata", True)])
def test_fused_register_operations_give_the_unfused_run(kind, num_nodes, scheme, noisy):
    """Same outcomes, shots and final state up to rounding, with noisy pairs, gates, memories and readout."""
    network = _network(kind, num_nodes, source_fidelity=0.9 if noisy else 1.0, node=NOISY if noisy else None)
    circuit = random_circuit(3 * num_nodes, 6, seed=num_nodes, measure=True)
    plain, fused = _runs(circuit, network, scheme=scheme, seed=3, shots=200)
    assert fused.num_nonlocal_gates == plain.num_nonlocal_gates > 0
    assert abs(fused.fidelity - plain.fidelity) < 1e-10
    assert noisy or fused.fidelity == pytest.approx(1.0, abs=1e-10)
    assert np.array_equal(fused.shots, plain.shots)
    assert np.max(np.abs(fused.state.gather() - plain.state.gather())) < 1e-10


def test_a_noisy_qft_with_fusion_matches_and_takes_fewer_passes(monkeypatch):
    """Every kernel pass goes through ShardedState._apply_local or a measurement: fusion and the collapse into
    |0⟩ cut them by more than a third on a telegate QFT (counted, not timed)."""
    passes = {"n": 0}
    local = ShardedState._apply_local

    def counted(self, op, matrix=None):
        passes["n"] += 1
        return local(self, op, matrix)

    monkeypatch.setattr(ShardedState, "_apply_local", counted)
    network = _network("line", 3, data=2, comm=2, source_fidelity=0.9)
    counts = []
    for fusion in (False, True):
        passes["n"] = 0
        run = run_dqc(qft(6, measure=True), comm=comm_mod.SingleComm(), backend=BACKEND, network=network,
                      seed=5, shots=200, fidelity_check="off", timeline=False, fusion=fusion)
        counts.append((passes["n"], run))
    (plain_passes, plain), (fused_passes, fused) = counts
    assert fused_passes < 0.66 * plain_passes, (fused_passes, plain_passes)
    assert np.array_equal(fused.shots, plain.shots)
    assert np.max(np.abs(fused.state.gather() - plain.state.gather())) < 1e-10
