"""Gate fusion: exact against unfused runs and qiskit, layout-respecting, on 1/2/4 ranks."""

import dataclasses

import numpy as np
import pytest

from conftest import TEST_BACKEND as BACKEND
from dqsim.circuit import fusion
from dqsim.circuit.qasm import load_qasm
from dqsim.state.gates import gate_op, unitary_op
from dqsim.state.layout import BitSwaps, Layout, plan_swaps
from dqsim.state.sharded import ShardedState
from mpi_helper import run_check_here, run_mpi
from mpi_scripts.state_check import random_ops

#: Fidelity of fused against unfused states must be this close to 1 (the issue's bound).
FIDELITY_TOL = 1e-12


def _state(n, ops, backend=BACKEND):
    if backend is None:
        pytest.skip("no GPU")
    s = ShardedState(n, backend=backend, seed=1)
    s.apply_ops(ops)
    return s.gather()


def _fidelity(a, b):
    return abs(np.vdot(a, b)) ** 2


def _random_mixed_ops(n, count, seed):
    """Named gates of every kind plus dense 3-qubit unitaries."""
    rng = np.random.default_rng(seed)
    ops = random_ops(n, count, seed)
    for i in range(0, count, 17):
        q, _ = np.linalg.qr(rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8)))
        qubits = [int(x) for x in rng.choice(n, 3, replace=False)]
        ops.insert(i, unitary_op(q, qubits))
    return ops


COST_TABLES = {
    "cpu": fusion.CPU_COSTS,
    "gpu": fusion.GPU_COSTS,
    "k2": fusion.FusionCosts(dense=(2.0, 2.0), diagonal=1.0, max_diagonal_qubits=3),
    "k5-eager": fusion.FusionCosts(dense=(1.0,) * 5, diagonal=1.0),
}


@pytest.mark.parametrize("table", sorted(COST_TABLES))
@pytest.mark.parametrize("seed", [1, 2])
def test_fused_equals_unfused(table, seed):
    n = 7
    ops = _random_mixed_ops(n, 150, seed)
    fused = fusion.fuse_ops(ops, layout=Layout(n, n), costs=COST_TABLES[table])
    assert len(fused) < len(ops)
    assert all(op.name != "exchange" for op in fused)  # one rank: nothing to exchange
    costs = COST_TABLES[table]
    assert all(len(op.targets) <= max(costs.max_qubits, costs.max_diagonal_qubits, 3) for op in fused)
    assert _fidelity(_state(n, ops), _state(n, fused)) > 1 - FIDELITY_TOL


def test_fused_blocks_respect_the_bound_on_qubits():
    n = 8
    ops = _random_mixed_ops(n, 200, 5)
    for op in fusion.fuse_ops(ops, layout=Layout(n, n), costs=fusion.CPU_COSTS):
        if op.name == fusion.FUSED_NAME:
            limit = fusion.CPU_COSTS.max_diagonal_qubits if op.diagonal else fusion.CPU_COSTS.max_qubits
            assert len(op.targets) <= limit


def test_two_qubit_layer_becomes_one_block():
    ops = [gate_op("u3", [0], [0.1, 0.2, 0.3]), gate_op("u3", [1], [0.4, 0.5, 0.6]), gate_op("cx", [0, 1]),
           gate_op("rz", [1], [0.7]), gate_op("cx", [1, 0])]
    fused = fusion.fuse_ops(ops, layout=Layout(2, 2))
    assert [(op.name, sorted(op.targets)) for op in fused] == [("fused", [0, 1])]
    assert _fidelity(_state(2, ops), _state(2, fused)) > 1 - FIDELITY_TOL


def test_diagonal_run_fuses_into_one_diagonal():
    ops = [gate_op("cp", [3, q], [0.1 * (q + 1)]) for q in range(3)] + [gate_op("rz", [5], [0.3]),
                                                                       gate_op("t", [4])]
    fused = fusion.fuse_ops(ops, layout=Layout(6, 6))
    assert len(fused) == 1 and fused[0].diagonal and set(fused[0].targets) == {0, 1, 2, 3, 4, 5}


def _walk(fused, layout):
    """Replay the engine's layout over a fused list; yield (op, layout) before each op."""
    lay = Layout(layout.num_qubits, layout.num_local, list(layout.physical_of))
    for op in fused:
        yield op, lay
        if isinstance(op, BitSwaps):
            for rank_bit, local_bit in op.pairs:
                lay.swap_physical(rank_bit, local_bit)
        elif op.name == "swap" and not op.controls:
            lay.swap_physical(lay.physical_of[op.targets[0]], lay.physical_of[op.targets[1]])


@pytest.mark.parametrize("num_rank_bits", [1, 2])
def test_fused_blocks_find_their_qubits_local(num_rank_bits):
    """With rank bits, every dense op meets local targets, and no block makes a rank bit dense."""
    n = 9
    ops = _random_mixed_ops(n, 200, 7)
    start = Layout(n, n - num_rank_bits)
    fused = fusion.fuse_ops(ops, layout=start)
    rounds = 0
    for op, lay in _walk(fused, start):
        if isinstance(op, BitSwaps):
            rounds += 1
            continue
        if not op.diagonal:
            assert all(lay.is_local(q) for q in op.targets), op
        if op.name == fusion.FUSED_NAME and not op.diagonal:
            assert all(lay.is_local(q) for q in op.qubits)
    assert rounds > 0


def test_fusion_keeps_the_unfused_exchange_rounds():
    """Fusion predicts the engine's exchanges: the same number of rounds as the unfused run."""
    n = 9
    ops = _random_mixed_ops(n, 200, 8)
    unfused = Layout(n, n - 2)
    expected = 0
    for index, op in enumerate(ops):
        if op.name == "swap" and not op.controls:
            unfused.swap_physical(unfused.physical_of[op.targets[0]], unfused.physical_of[op.targets[1]])
            continue
        if not op.diagonal and any(not unfused.is_local(q) for q in op.targets):
            expected += 1
            for rank_bit, local_bit in plan_swaps(unfused, ops, index):
                unfused.swap_physical(rank_bit, local_bit)
    fused = fusion.fuse_ops(ops, layout=Layout(n, n - 2))
    assert sum(isinstance(op, BitSwaps) for op in fused) == expected


def test_blocks_on_high_physical_bits_take_their_own_cost():
    """A 3-qubit block (1.35) and a 2-qubit unitary (1.15) joining a fourth qubit merge when the 4-qubit pass
    costs at most their 2.5: on physical bits >= high_bit (2.0) they do, with one on bit 0 (3.6)
    they do not. The physical bits decide, not the logical ones."""
    costs = fusion.FusionCosts(dense=(1.1, 1.15, 1.35, 3.6), diagonal=2.0, dense_high=(1.1, 1.15, 1.35, 2.0),
                               high_bit=3)
    rng = np.random.default_rng(11)
    u, _ = np.linalg.qr(rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8)))
    v, _ = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))
    n = 8
    ops = [unitary_op(u, [0, 1, 2]), unitary_op(v, [2, 3])]
    high = Layout(n, n, [4, 5, 6, 7, 0, 1, 2, 3])  # logical 0-3 on physical bits 4-7
    for layout, blocks in ((high, [[0, 1, 2, 3]]), (Layout(n, n), [[0, 1, 2], [2, 3]])):
        fused = fusion.fuse_ops(ops, layout=layout, costs=costs)
        assert [sorted(op.targets + op.controls) for op in fused] == blocks
    assert costs.block_cost([3, 4, 5, 6]) == 2.0 and costs.block_cost([0, 4, 5, 6]) == 3.6
    fused = fusion.fuse_ops(ops, layout=high, costs=costs)
    assert _fidelity(_state(n, ops), _state(n, fused)) > 1 - FIDELITY_TOL
    with pytest.raises(ValueError, match="dense_high"):
        fusion.FusionCosts(dense=(1.0, 1.0), diagonal=1.0, dense_high=(1.0,))


def test_costs_are_checked():
    with pytest.raises(ValueError, match="dense costs"):
        fusion.FusionCosts(dense=(), diagonal=1.0)


@pytest.mark.parametrize("precision", ["complex64", "complex128"])
@pytest.mark.parametrize("k", [3, 4, 5])
def test_compiled_dense_kernel_matches_generic(k, precision):
    if BACKEND is None or BACKEND.fast is None or not hasattr(BACKEND.fast, "dense"):
        pytest.skip("no compiled kernels")
    if k > BACKEND.fast.max_dense_qubits:
        pytest.skip("larger than the compiled kernel takes")
    rng = np.random.default_rng(k)
    n = 11
    q, _ = np.linalg.qr(rng.normal(size=(1 << k, 1 << k)) + 1j * rng.normal(size=(1 << k, 1 << k)))
    psi = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    psi /= np.linalg.norm(psi)
    for targets, controls in [(list(range(k)), []), ([10, 2, 7, 0, 5, 9][:k], [4]), ([9, 1, 8, 3, 6, 10][:k], [])]:
        op = unitary_op(q, targets, controls)
        results = []
        for backend in (BACKEND, dataclasses.replace(BACKEND, fast=None)):
            s = ShardedState(n, backend=backend, precision=precision)
            s.set_state(psi)
            s.apply(op)
            results.append(s.gather())
        tol = 1e-5 if precision == "complex64" else 1e-12
        assert np.max(np.abs(results[0] - results[1])) < tol


def test_fused_diagonal_pass_matches_generic():
    if BACKEND is None or BACKEND.fast is None:
        pytest.skip("no compiled kernels")
    rng = np.random.default_rng(3)
    n = 10
    diag = np.exp(1j * rng.uniform(0, 2 * np.pi, 1 << 5))
    op = dataclasses.replace(unitary_op(np.diag(diag), [7, 0, 3, 9, 4]), name=fusion.FUSED_NAME)
    psi = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    out = []
    for backend in (BACKEND, dataclasses.replace(BACKEND, fast=None)):
        s = ShardedState(n, backend=backend)
        s.set_state(psi)
        s.apply(op)
        out.append(s.gather())
    assert np.allclose(out[0], out[1], atol=1e-12)


# ------------------------------------------------------------------ qiskit-made circuits
BASIS = ["u3", "cx", "rz", "h", "cp", "swap"]


def qiskit_circuits(n):
    """QFT and a random circuit made by qiskit, transpiled to the benchmark's basis, as QASM 2."""
    qiskit = pytest.importorskip("qiskit")
    from qiskit import qasm2, transpile  # noqa: PLC0415
    from qiskit.circuit.library import QFTGate  # noqa: PLC0415
    from qiskit.circuit.random import random_circuit  # noqa: PLC0415

    qft = qiskit.QuantumCircuit(n)
    qft.append(QFTGate(n), range(n))
    rand = random_circuit(n, 20, max_operands=2, seed=42)
    out = []
    for qc in (qft, rand):
        t = transpile(qc, basis_gates=BASIS, optimization_level=0, seed_transpiler=1)
        out.append((qasm2.dumps(t), t))
    return out


def qiskit_state(qc):
    from qiskit.quantum_info import Statevector  # noqa: PLC0415

    return np.asarray(Statevector(qc).data)


def test_qiskit_circuits_fused_match_qiskit():
    n = 8
    for text, qc in qiskit_circuits(n):
        circuit = load_qasm(text)
        ops = [g.to_op() for g in circuit.gates()]
        fused = fusion.fuse_ops(ops, layout=Layout(n, n))
        assert len(fused) < len(ops)
        assert _fidelity(qiskit_state(qc), _state(n, fused)) > 1 - FIDELITY_TOL


@pytest.mark.parametrize("num_ranks", [1, 2, 4])
def test_fusion_across_ranks_matches_qiskit(num_ranks, tmp_path):
    n = 9
    paths = []
    states = []
    for i, (text, qc) in enumerate(qiskit_circuits(n)):
        path = tmp_path / f"c{i}.qasm"
        path.write_text(text)
        paths.append(str(path))
        states.append(qiskit_state(qc))
    out = tmp_path / "out.npz"
    if num_ranks == 1:  # the script's main in this process
        run_check_here("fusion_check", str(out), paths)
    else:
        run_mpi(num_ranks, ["tests/mpi_scripts/fusion_check.py", str(out), *paths], timeout_s=240)
    data = np.load(out)
    for i, expected in enumerate(states):
        for label in ("fused", "plain"):
            assert _fidelity(expected, data[f"c{i}_{label}_state"]) > 1 - FIDELITY_TOL, (i, label)
        # Fusion keeps the exchange rounds of the unfused run (it places them itself).
        assert data[f"c{i}_fused_exchanges"][0] == data[f"c{i}_plain_exchanges"][0]


JOB = """
[run]
name = "t"
seed = 5
[circuit]
generator = "random"
num_qubits = 6
depth = 6
measure = true
[simulation]
shots = 300
fusion = {flag}
observables = ["Z0 X3", "Y2"]
"""


def test_circuit_job_fusion_key():
    """[simulation].fusion (default true) turns fusion off; results agree either way."""
    from dqsim import comm as comm_mod  # noqa: PLC0415
    from dqsim.jobs import load_job_text  # noqa: PLC0415
    from dqsim.scenarios.circuit_run import run_circuit_job  # noqa: PLC0415

    if BACKEND is None:
        pytest.skip("no GPU")
    assert load_job_text(JOB.replace("fusion = {flag}\n", ""), source="t.toml").simulation.fusion is True
    progress = {"true": [], "false": []}
    runs = [run_circuit_job(load_job_text(JOB.format(flag=flag), source="t.toml"), comm=comm_mod.SingleComm(),
                            backend=BACKEND, on_progress=lambda done, total, what, flag=flag:
                            progress[flag].append((done, total)) if what == "gates" else None)
            for flag in ("true", "false")]
    total = len(runs[0].circuit.gates())
    assert progress["true"][-1] == progress["false"][-1] == (total, total)
    assert _fidelity(runs[0].state.gather(), runs[1].state.gather()) > 1 - FIDELITY_TOL
    assert runs[0].counts == runs[1].counts
    assert np.allclose([e[2] for e in runs[0].expectation], [e[2] for e in runs[1].expectation], atol=1e-12)
