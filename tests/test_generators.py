"""Circuit generators: QFT against qiskit and the DFT formula, GHZ, random circuits."""

from __future__ import annotations

import numpy as np
import pytest
from reference import apply_op, run_ops

from dqsim.circuit.generators import DEFAULT_GATE_SET, GENERATORS, ghz, qft, random_circuit
from dqsim.circuit.ir import Circuit, Measure
from dqsim.errors import CircuitError
from dqsim.state.gates import GATES


def unitary(circuit: Circuit) -> np.ndarray:
    """Dense unitary of the gates (bit q of the index = qubit q), from tests/reference.py."""
    n = circuit.num_qubits
    ops = [g.to_op() for g in circuit.gates()]
    columns = []
    for j in range(1 << n):
        psi = np.zeros(1 << n, dtype=np.complex128)
        psi[j] = 1
        for op in ops:
            psi = apply_op(psi, n, op)
        columns.append(psi)
    return np.array(columns).T


@pytest.mark.parametrize("num_qubits", [1, 2, 3, 4])
def test_qft_is_the_discrete_fourier_transform(num_qubits):
    dim = 1 << num_qubits
    x, y = np.meshgrid(np.arange(dim), np.arange(dim))
    dft = np.exp(2j * np.pi * x * y / dim) / np.sqrt(dim)  # row y, column x
    np.testing.assert_allclose(unitary(qft(num_qubits)), dft, atol=1e-12)


@pytest.mark.parametrize("num_qubits", [1, 2, 3, 4])
def test_qft_matches_qiskit(num_qubits):
    pytest.importorskip("qiskit")
    from qiskit.circuit.library import QFTGate
    from qiskit.quantum_info import Operator
    from qiskit.synthesis.qft import synth_qft_full

    np.testing.assert_allclose(unitary(qft(num_qubits)), Operator(QFTGate(num_qubits)).data, atol=1e-12)
    no_swaps = Operator(synth_qft_full(num_qubits, do_swaps=False)).data
    np.testing.assert_allclose(unitary(qft(num_qubits, swaps=False)), no_swaps, atol=1e-12)


def test_qft_structure_and_measure():
    c = qft(5, measure=True)
    assert c.count_gates() == {"h": 5, "cp": 10, "swap": 2}
    assert c.num_clbits == 5 and c.measurements_are_terminal()
    assert [ins for ins in c if isinstance(ins, Measure)] == [Measure(q, q) for q in range(5)]


@pytest.mark.parametrize("num_qubits", [1, 2, 5])
def test_ghz(num_qubits):
    c = ghz(num_qubits)
    assert [(g.name, g.qubits) for g in c.gates()] == (
        [("h", (0,))] + [("cx", (i, i + 1)) for i in range(num_qubits - 1)])
    psi = run_ops(num_qubits, [g.to_op() for g in c.gates()])
    want = np.zeros(1 << num_qubits)
    want[[0, -1]] = 1 / np.sqrt(2)
    np.testing.assert_allclose(psi, want, atol=1e-12)
    measured = ghz(num_qubits, measure=True)
    assert measured.num_clbits == num_qubits and len(measured) == len(c) + num_qubits


def test_random_circuit_is_deterministic_per_seed():
    a = random_circuit(6, 8, seed=11)
    assert a == random_circuit(6, 8, seed=11)
    assert a.instructions != random_circuit(6, 8, seed=12).instructions
    assert a.instructions != random_circuit(6, 8, seed=11, two_qubit_fraction=0.2).instructions


def test_random_circuit_layers_cover_every_qubit():
    for seed in range(5):
        c = random_circuit(7, 4, seed=seed)
        assert sum(len(g.qubits) for g in c.gates()) == 7 * 4
        for g in c.gates():
            assert len(g.params) == GATES[g.name].num_params
            assert all(0 <= p < 2 * np.pi for p in g.params)


def test_random_circuit_uses_the_whole_default_gate_set():
    seen = set()
    for seed in range(10):
        seen.update(random_circuit(5, 10, seed=seed).count_gates())
    assert seen == set(DEFAULT_GATE_SET)
    assert "ccx" not in random_circuit(2, 50, seed=1, two_qubit_fraction=1.0).count_gates()


def test_random_circuit_options():
    only_one = random_circuit(4, 5, seed=3, two_qubit_fraction=0.0)
    assert all(len(g.qubits) == 1 for g in only_one.gates())
    only_two = random_circuit(4, 5, seed=3, gate_set=["cnot", "rzz"], two_qubit_fraction=1.0)
    assert set(only_two.count_gates()) <= {"cx", "rzz"} and len(only_two.gates()) == 10
    measured = random_circuit(3, 2, seed=0, measure=True)
    assert measured.num_clbits == 3 and measured.measurements_are_terminal()
    assert len(random_circuit(3, 0, seed=0)) == 0


@pytest.mark.parametrize("kwargs,parameter", [
    ({"num_qubits": 0}, "num_qubits"),
    ({"depth": -1}, "depth"),
    ({"seed": -5}, "seed"),
    ({"two_qubit_fraction": 1.5}, "two_qubit_fraction"),
    ({"gate_set": ["h", "nope"]}, "gate_set"),
    ({"gate_set": []}, "gate_set"),
])
def test_random_circuit_rejects_bad_arguments(kwargs, parameter):
    args = {"num_qubits": 3, "depth": 2, "seed": 1, **kwargs}
    with pytest.raises(CircuitError, match=parameter):
        random_circuit(**args)


def test_generators_table():
    assert GENERATORS == {"qft": qft, "ghz": ghz, "random": random_circuit}
    with pytest.raises(CircuitError, match="num_qubits"):
        qft(0)
    with pytest.raises(CircuitError, match="num_qubits"):
        ghz(0)
