"""What a cloud run keeps from one user job for the next gives, bit for bit, what working it out again gives:
the fused blocks of gate fusion (by their inputs), the network a QPU set induces and the plan of a circuit on
it (by object), and the fidelity check's ideal register (by its plan, qubits, precision, backend and fusion)."""

import math

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit import fusion
from dqsim.circuit.generators import ghz, qft, random_circuit
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios import cloud, dqc
from dqsim.state.gates import gate_op
from dqsim.state.layout import Layout
from conftest import TEST_BACKEND

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")


def _fresh_block_op(block):
    """:func:`fusion._block_op` as before it kept blocks: the product worked out every time."""
    return block.ops[0] if len(block.ops) == 1 else fusion._block_product(block)


def _same_ops(got, expected) -> bool:
    return len(got) == len(expected) and all(
        a.name == b.name and a.targets == b.targets and a.controls == b.controls and a.diagonal == b.diagonal
        and a.matrix.dtype == b.matrix.dtype and np.array_equal(a.matrix, b.matrix) for a, b in zip(got, expected))


def test_kept_fused_blocks_are_the_products_of_their_own_gates(monkeypatch):
    """Blocks that differ only in an angle, a control, the order of their qubits or the dtype of a matrix are
    distinct; each kept block is the product of its own gates, bit for bit."""
    monkeypatch.setattr(fusion, "_BLOCKS", {})
    lists = [[gate_op("h", [0]), gate_op("cx", [0, 1]), gate_op("rz", [1], [angle])] for angle in (0.3, 0.4, 0.3)]
    lists.append([gate_op("h", [1]), gate_op("cx", [1, 0]), gate_op("rz", [0], [0.3])])  # qubits the other way
    lists.append([gate_op("h", [0]), gate_op("cx", [1, 0]), gate_op("rz", [1], [0.3])])  # control and target swapped
    lists.append([gate_op("rz", [0], [0.3]), gate_op("cz", [0, 1]), gate_op("t", [1])])  # diagonal run
    cast = [gate_op("h", [0]), gate_op("cx", [0, 1])]
    cast.append(type(cast[0])(cast[0].matrix.astype(np.complex64), (1,), name="h64"))
    lists.append(cast)
    kept = [fusion.fuse_ops(ops, layout=Layout(2, 2)) for ops in lists]
    assert len(fusion._BLOCKS) == 6 and kept[0][0] is kept[2][0]  # the third list asks for the first's block
    monkeypatch.setattr(fusion, "_block_op", _fresh_block_op)
    for ops, got in zip(lists, kept):
        assert _same_ops(got, fusion.fuse_ops(ops, layout=Layout(2, 2)))
    assert not np.array_equal(kept[0][0].matrix, kept[1][0].matrix)


def test_fused_blocks_kept_are_the_newest_few(monkeypatch):
    monkeypatch.setattr(fusion, "_BLOCKS", {})
    monkeypatch.setattr(fusion, "BLOCK_CACHE_SIZE", 3)
    blocks = [fusion.fuse_ops([gate_op("h", [0]), gate_op("rz", [0], [0.1 * k])], layout=Layout(1, 1))[0]
              for k in range(5)]
    assert len(fusion._BLOCKS) == 3
    assert fusion.fuse_ops([gate_op("h", [0]), gate_op("rz", [0], [0.4])], layout=Layout(1, 1))[0] is blocks[4]
    assert fusion.fuse_ops([gate_op("h", [0]), gate_op("rz", [0], [0.0])], layout=Layout(1, 1))[0] is not blocks[0]


def _ring(num_qpus: int, **link) -> Network:
    graph = topology.ring(num_qpus, link=LinkSpec(distance_km=0.1, dark_count_rate_hz=0.0, **link))
    return Network(graph, [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=2, gate_2q_duration_ps=5000,
                                    measure_duration_ps=20_000) for n in graph.nodes])


def _stream() -> list[cloud.UserJob]:
    """Jobs of a few shared circuits, bunched so that QPU sets recur, and one circuit of its own."""
    shared = [ghz(3, measure=True), qft(4, measure=True), ghz(4, measure=True), ghz(2, measure=True)]
    jobs = [cloud.UserJob(f"j{i}", shared[i % 4], 5 + i, 40_000_000 * (i // 3)) for i in range(14)]
    jobs.append(cloud.UserJob("own", random_circuit(4, 3, seed=9, measure=True), 7, 10**8))
    return jobs


@pytest.mark.parametrize("fidelity", [1.0, 0.9])
def test_a_run_reusing_networks_plans_and_references_equals_job_by_job_runs(monkeypatch, fidelity):
    """Every user job's result equals that of its own run on a network and plan made for it alone, with no
    fused block kept; noiseless (one run a job) and noisy (trajectories: a plan and reference reused within a
    job too). The jobs share circuits and QPU sets, so the run reuses each."""
    network = _ring(6, source_fidelity=fidelity)
    jobs = _stream()
    planned = []
    monkeypatch.setattr(cloud, "plan_dqc", lambda *a, **k: planned.append(a[0]) or dqc.plan_dqc(*a, **k))
    run = cloud.run_cloud(jobs, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, seed=3,
                          trajectories=3)
    assert len(planned) < len(jobs)  # plans were reused across user jobs
    monkeypatch.setattr(fusion, "_BLOCKS", {})
    monkeypatch.setattr(fusion, "_block_op", _fresh_block_op)
    for job_id, (job, record) in enumerate(zip(run.jobs, run.records)):
        alone = cloud.run_user_job(job, network.subnetwork(record.qpus), comm=comm_mod.SingleComm(), backend=BACKEND,
                                   seed=cloud.job_seed(3, job.name), trajectories=3)
        got = run.results[job_id]
        assert got.counts == alone.counts and got.engine_runs == alone.engine_runs
        assert (got.dqc_time_ps, got.epr_pairs) == (alone.dqc_time_ps, alone.epr_pairs)
        assert got.fidelity == alone.fidelity or (math.isnan(got.fidelity) and math.isnan(alone.fidelity))
    assert not fusion._BLOCKS  # the reference kept none
    if fidelity < 1:
        assert min(r.fidelity for r in run.results.values()) < 0.99  # noisy: fidelities differ from 1


def test_a_kept_reference_is_used_only_for_its_register(monkeypatch):
    """A plan's later runs take its kept ideal register where the register's qubits, precision and fusion are
    the same, and work the check out again where they differ: every fidelity equals that of a run with a plan
    of its own."""
    network = _ring(3, source_fidelity=0.95)
    circuit = random_circuit(5, 3, seed=4, measure=True)
    plan = dqc.plan_dqc(circuit, network)
    made = []
    original = dqc._reference_state
    monkeypatch.setattr(dqc, "_reference_state", lambda *a, **k: made.append(1) or original(*a, **k))
    cases = [("complex128", True), ("complex128", True), ("complex64", True), ("complex128", False),
             ("complex64", True)]
    for seed, (precision, fused) in enumerate(cases):
        kw = dict(comm=comm_mod.SingleComm(), backend=BACKEND, network=network, seed=seed, shots=3, timeline=False,
                  precision=precision, fusion=fused)
        shared = dqc.run_dqc(circuit, prepared=plan, **kw)
        alone = dqc.run_dqc(circuit, **kw)
        assert shared.fidelity == alone.fidelity and shared.counts == alone.counts
        assert shared.fidelity_check == alone.fidelity_check == "copy"
    assert len(made) == len(cases) + 3  # the plan made one per distinct register; the lone runs one each
    assert {key[1:] for key in plan.references} == {("complex128", id(BACKEND), True),
                                                  ("complex64", id(BACKEND), True),
                                                  ("complex128", id(BACKEND), False)}
