"""decompose_for_distribution: allowed gate set and exact equality with the original."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from reference import run_ops

from dqsim.circuit.decompose import TELEGATE_GATES, decompose_for_distribution
from dqsim.circuit.ir import Barrier, Circuit, Gate, Measure, Reset
from dqsim.errors import CircuitError
from dqsim.state import gates as gate_table

#: State equality tolerance (max |Δψ|) of an exact rewrite, global phase included.
ATOL = 1e-10

MULTI_QUBIT_GATES = sorted(name for name, spec in gate_table.GATES.items() if spec.num_qubits >= 2)
ONE_QUBIT_GATES = sorted(name for name, spec in gate_table.GATES.items() if spec.num_qubits == 1)


def _random_state(rng: np.random.Generator, num_qubits: int) -> np.ndarray:
    psi = rng.normal(size=1 << num_qubits) + 1j * rng.normal(size=1 << num_qubits)
    return psi / np.linalg.norm(psi)


def _haar_unitary(rng: np.random.Generator, dim: int) -> np.ndarray:
    z = (rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))) / np.sqrt(2)
    q, r = np.linalg.qr(z)
    return q * (np.diag(r) / np.abs(np.diag(r)))


def _final_states(original: Circuit, rewritten: Circuit, psi: np.ndarray):
    n = original.num_qubits
    a = run_ops(n, [g.to_op() for g in original.gates()], psi)
    b = run_ops(n, [g.to_op() for g in rewritten.gates()], psi)
    return a, b


def _assert_allowed(circuit: Circuit) -> None:
    for g in circuit.gates():
        assert len(g.qubits) == 1 or g.name in TELEGATE_GATES, g


def test_telegate_set_is_every_single_control_single_target_gate():
    expected = {name for name, spec in gate_table.GATES.items()
                if spec.num_controls == 1 and spec.num_targets == 1}
    assert TELEGATE_GATES == expected


@pytest.mark.parametrize("num_qubits", [4, 5])
@pytest.mark.parametrize("name", MULTI_QUBIT_GATES)
def test_named_gate_rewrite_is_exact(name, num_qubits):
    spec = gate_table.GATES[name]
    rng = np.random.default_rng([num_qubits, MULTI_QUBIT_GATES.index(name)])
    for _ in range(4):
        qubits = [int(q) for q in rng.permutation(num_qubits)[: spec.num_qubits]]
        params = rng.uniform(-2 * np.pi, 2 * np.pi, size=spec.num_params)
        original = Circuit(num_qubits).gate(name, *qubits, params=params)
        rewritten = decompose_for_distribution(original)
        _assert_allowed(rewritten)
        if name in TELEGATE_GATES:
            assert rewritten.instructions == original.instructions
        for g in rewritten.gates():
            assert set(g.qubits) <= set(qubits)
        for _ in range(3):
            a, b = _final_states(original, rewritten, _random_state(rng, num_qubits))
            assert np.max(np.abs(a - b)) < ATOL


@pytest.mark.parametrize("name, num_two_qubit", [
    ("swap", 3), ("iswap", 2), ("rxx", 1), ("ryy", 1), ("rzz", 1),
    ("ccx", 6), ("ccz", 6), ("cswap", 8),
])
def test_number_of_controlled_gates(name, num_two_qubit):
    spec = gate_table.GATES[name]
    c = Circuit(3).gate(name, *range(spec.num_qubits), params=[0.3] * spec.num_params)
    assert sum(len(g.qubits) == 2 for g in decompose_for_distribution(c).gates()) == num_two_qubit


def test_random_circuit_of_all_gates_is_exact_and_keeps_other_instructions():
    rng = np.random.default_rng(7)
    n = 5
    c = Circuit(n, 2, name="mix", qregs=[("a", 2), ("b", 3)])
    names = MULTI_QUBIT_GATES + ONE_QUBIT_GATES
    for _ in range(60):
        name = names[rng.integers(len(names))]
        spec = gate_table.GATES[name]
        qubits = [int(q) for q in rng.permutation(n)[: spec.num_qubits]]
        c.gate(name, *qubits, params=rng.uniform(-np.pi, np.pi, size=spec.num_params))
    c.unitary(_haar_unitary(rng, 2), 3)
    d = decompose_for_distribution(c)
    assert (d.num_qubits, d.num_clbits, d.qregs, d.cregs, d.name) == (n, 2, c.qregs, c.cregs, "mix")
    _assert_allowed(d)
    for _ in range(3):
        a, b = _final_states(c, d, _random_state(rng, n))
        assert np.max(np.abs(a - b)) < ATOL


def test_one_qubit_gates_measures_resets_barriers_pass_through_unchanged():
    c = Circuit(3, 2)
    c.gate("h", 0).gate("rz", 1, params=[0.4]).gate("u", 2, params=[0.1, 0.2, 0.3])
    c.unitary(gate_table.SX, 1)
    c.barrier().measure(0, 0).reset(1).barrier(1, 2).measure(2, 1)
    d = decompose_for_distribution(c)
    assert len(d.instructions) == len(c.instructions)
    for old, new in zip(c.instructions, d.instructions):
        assert new is old
    assert d.instructions is not c.instructions
    assert [type(i) for i in d.instructions].count(Measure) == 2
    assert any(isinstance(i, Reset) for i in d.instructions)
    assert any(isinstance(i, Barrier) for i in d.instructions)


def test_operations_between_gates_keep_their_order():
    c = Circuit(3, 1).gate("swap", 0, 1).measure(1, 0).gate("ccx", 0, 1, 2)
    d = decompose_for_distribution(c)
    kinds = [type(i).__name__ for i in d.instructions]
    assert kinds.index("Measure") == 3  # after the three CX of the swap
    assert len(d.instructions) == 3 + 1 + 15


def _dense_cases():
    rng = np.random.default_rng(11)
    cx = np.eye(4, dtype=np.complex128)[[0, 3, 2, 1]]  # control qubit 0 (bit 0), target qubit 1
    local = np.kron(_haar_unitary(rng, 2), _haar_unitary(rng, 2))
    # (label, matrix, number of controlled gates needed: one per nonzero KAK coordinate)
    return [(f"haar{i}", _haar_unitary(rng, 4), 3) for i in range(6)] + [
        ("identity", np.eye(4, dtype=np.complex128) * np.exp(0.7j), 0),
        ("product", np.kron(_haar_unitary(rng, 2), _haar_unitary(rng, 2)), 0),
        ("cx", cx, 1),
        ("cx-dressed", local @ cx @ local.conj().T, 1),
        ("swap", gate_table.SWAP, 3),
        ("iswap", gate_table.ISWAP, 2),
        ("rzz", np.diag(gate_table.rzz_diagonal(0.9)), 1),
        ("diagonal", np.diag(np.exp(1j * rng.uniform(-np.pi, np.pi, size=4))), 1),
        ("rxx-tiny", gate_table.rxx_matrix(1e-7), 1),
        ("rxx-rzz-tiny", gate_table.rxx_matrix(np.pi / 2) @ np.diag(gate_table.rzz_diagonal(1e-6)), 2),
    ]


@pytest.mark.parametrize("label, matrix, num_controlled", _dense_cases(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_dense_two_qubit_unitary_rewrite_is_exact(label, matrix, num_controlled):
    pytest.importorskip("qiskit")
    rng = np.random.default_rng(3)
    for qubits in [(0, 1), (3, 1), (2, 4)]:
        original = Circuit(5).unitary(matrix, *qubits)
        rewritten = decompose_for_distribution(original)
        _assert_allowed(rewritten)
        assert sum(len(g.qubits) == 2 for g in rewritten.gates()) == num_controlled
        for _ in range(3):
            a, b = _final_states(original, rewritten, _random_state(rng, 5))
            assert np.max(np.abs(a - b)) < ATOL


def test_dense_unitary_on_three_qubits_is_refused():
    u = _haar_unitary(np.random.default_rng(5), 8)
    c = Circuit(4).unitary(u, 0, 2, 3)
    with pytest.raises(CircuitError, match="3-qubit unitary.*cannot be distributed; put their qubits on one QPU"):
        decompose_for_distribution(c)


def test_dense_unitary_without_qiskit_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "qiskit.synthesis", None)  # makes the import fail
    c = Circuit(2).unitary(_haar_unitary(np.random.default_rng(6), 4), 0, 1)
    with pytest.raises(CircuitError, match="cannot be distributed without qiskit"):
        decompose_for_distribution(c)


def test_one_qubit_dense_unitary_needs_no_qiskit(monkeypatch):
    monkeypatch.setitem(sys.modules, "qiskit.synthesis", None)
    c = Circuit(2).unitary(_haar_unitary(np.random.default_rng(8), 2), 1)
    d = decompose_for_distribution(c)
    assert isinstance(d.instructions[0], Gate) and d.instructions[0] is c.instructions[0]


def test_unchecked_decomposition_gives_the_same_instructions():
    """``check=False`` (the cloud's estimates) skips building each gate's operation, nothing else: the same
    instructions, registers and name as the checked decomposition, for random circuits over every named gate."""
    from dqsim.circuit.generators import random_circuit
    from dqsim.circuit.ir import IfBits

    names = sorted(gate_table.GATES)
    for seed in range(20):
        circuit = random_circuit(5, 6, seed=seed, gate_set=names, measure=True)
        circuit.num_clbits, circuit.cregs = 5, [("c", 5)]
        circuit.append(IfBits((0,), 1, (Gate("swap", (1, 2)),), (Gate("ccx", (0, 1, 3)),)))
        checked, unchecked = decompose_for_distribution(circuit), decompose_for_distribution(circuit, check=False)
        assert unchecked.instructions == checked.instructions and unchecked.num_clbits == checked.num_clbits
        assert (unchecked.qregs, unchecked.cregs, unchecked.name) == (checked.qregs, checked.cregs, checked.name)
