"""Dynamic circuits in the dqc scenario: mid-circuit measurement, reset and `if` on measured bits run by
the QPUs, with the bits sent over the network. Plans, one-line errors, and statistics against theory and
against the circuit scenario on the same QASM (each within 3 standard errors, fixed seeds)."""

import math
from pathlib import Path

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit import qasm
from dqsim.circuit.distribute import Condition, ResetStep, SendBits, plan_distributed, register_map
from dqsim.circuit.exact import exact_distribution
from dqsim.circuit.ir import Circuit, IfBits, Measure
from dqsim.cli import check
from dqsim.errors import CircuitError, ConfigError
from dqsim.io import open_run
from dqsim.jobs import load_job_text
from dqsim.network.link import LinkSpec
from dqsim.scenarios import circuit_run, dqc
from mpi_helper import run_dqsim
from mpi_scripts.dqc_dynamic_check import ASSIGNMENT, RESET
from run_files import checkpoints
from conftest import TEST_BACKEND

ROOT = Path(__file__).resolve().parent.parent
JOB = ROOT / "jobs" / "dqc_teleport_feedforward.toml"
THETA = 1.1  # the angle of ry in jobs/circuits/teleport_feedforward.qasm
BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")
COMM = comm_mod.SingleComm()


def _kinds(steps):
    return [type(step).__name__ for step in steps]


def test_teleportation_plan_sends_the_bits_to_the_qpu_that_corrects():
    circuit = qasm.load_qasm((ROOT / "jobs" / "circuits" / "teleport_feedforward.qasm").read_text())
    plan = plan_distributed(circuit, register_map([0, 1, 2], [1, 1, 1], [2, 2, 2]), 3)
    assert plan.engine_measures and plan.holder == (0, 1, 2)
    assert _kinds(plan.steps[0]) == ["LocalGate", "RemoteControl", "LocalGate", "MeasureStep", "SendBits",
                                     "ResetStep"]
    sends = [step for step in plan.steps[0] + plan.steps[1] if isinstance(step, SendBits)]
    assert [step.sends for step in sends] == [((0, (2,)),), ((1, (2,)),)]
    conditions = [step for step in plan.steps[2] if isinstance(step, Condition)]
    assert [(c.clbits, c.value, c.receive) for c in conditions] == [((1,), 1, (1,)), ((0,), 1, (0,))]
    guarded = [step for step in plan.steps[2] if step.guard]
    assert [step.guard for step in guarded] == [((conditions[0].index, True),), ((conditions[1].index, True),)]


def test_a_bit_measured_inside_a_block_moves_to_that_qpu():
    def line(a, b):
        return list(range(a, b + 1)) if a <= b else list(range(a, b - 1, -1))

    plan = plan_distributed(qasm.load_qasm(RESET), register_map(ASSIGNMENT["reset"], [2, 1, 1], [2, 2, 2]), 3,
                            path=line)
    assert plan.holder == (0, 0, 2, 2)
    first = next(step for step in plan.steps[2] if isinstance(step, Condition))
    assert first.clbits == (0,) and first.receive == (0, 2)  # c[2]'s old value, in case the block does not run
    routed = next(step for step in plan.steps[1] if step.guard)  # qpu1 swaps for the cx inside the block
    assert type(routed).__name__ == "RouteStep" and routed.guard == ((first.index, True),)
    assert any(isinstance(step, ResetStep) for step in plan.steps[2])
    nested = [step for step in plan.steps[2] if isinstance(step, Condition) and len(step.guard) == 1]
    assert len(nested) == 1 and nested[0].receive == (0,)  # c[2] is qpu2's own by then


def test_a_bit_measured_on_two_qpus_in_the_two_blocks_is_refused():
    circuit = Circuit(3, 2).measure(0, 0).append(IfBits((0,), 1, (Measure(1, 1),), (Measure(2, 1),)))
    with pytest.raises(CircuitError, match=r"classical bit 1 is measured on QPU 1 .* and on QPU 2") as info:
        plan_distributed(circuit, register_map([0, 1, 2], [1, 1, 1], [1, 1, 1]), 3)
    assert "\n" not in str(info.value)


def _dqc_job(shots, **sets):
    text = JOB.read_text().replace("shots = 500", f"shots = {shots}")
    text += "".join(f"{key} = {value}\n" for key, value in sets.items())  # [simulation] is the last section
    return load_job_text(text, source="jobs/dqc_teleport_feedforward.toml", base_dir=JOB.parent)


def _circuit_job(qasm_path, shots, seed):
    text = (f'[run]\nname = "reference"\nseed = {seed}\n[circuit]\nqasm = "{qasm_path}"\n'
            f"[simulation]\nshots = {shots}\nstore_shots = true\n")
    return load_job_text(text, source="reference.toml")


def _close(a: np.ndarray, b: np.ndarray, outcome: int) -> bool:
    """Frequencies of ``outcome`` in two samples agree within 3 standard errors of their difference."""
    p = (np.sum(a == outcome) + np.sum(b == outcome)) / (len(a) + len(b))
    stderr = math.sqrt(max(p * (1 - p), 1e-12) * (1 / len(a) + 1 / len(b)))
    return abs(np.mean(a == outcome) - np.mean(b == outcome)) <= 3 * stderr


def test_distributed_teleportation_reproduces_the_input_state_and_the_circuit_scenario():
    shots = 200
    out = dqc.run_job(_dqc_job(shots), comm=COMM, backend=BACKEND)
    assert out.attrs["sampling"] == "trajectories" and out.attrs["trajectories"] == shots
    assert np.isnan(out.attrs["fidelity"]) and "not defined" in out.attrs["fidelity_note"]
    got = out.tables["shots"]
    p = math.sin(THETA / 2) ** 2  # the teleported qubit reads 1 with sin^2(theta/2), whatever c[0], c[1]
    assert abs(np.mean((got >> 2) & 1) - p) < 3 * math.sqrt(p * (1 - p) / shots)
    for outcome in range(4):  # the Bell measurement: 00, 01, 10, 11 with probability 1/4 each
        assert abs(np.mean((got & 3) == outcome) - 0.25) < 3 * math.sqrt(0.25 * 0.75 / shots)
    reference = circuit_run.run_circuit_job(_circuit_job(JOB.parent / "circuits" / "teleport_feedforward.qasm",
                                                         shots, 4), comm=COMM, backend=BACKEND).shots
    assert all(_close(got, reference, outcome) for outcome in range(8))
    assert out.attrs["tvd_to_exact"] < 2 * out.attrs["tvd_sampling_level"]  # exact sampling averages the level


def test_feed_forward_waits_for_the_bits_to_cross_the_fibre():
    out = dqc.run_job(_dqc_job(1), comm=COMM, backend=BACKEND)
    rows = [(int(t), str(n), str(k), str(d)) for t, n, k, d in out.tables["timeline"]]
    sent = {d.split(" = ")[0]: t for t, n, k, d in rows if k == "send-bit"}
    decided = {d.split(":")[0]: t for t, n, k, d in rows if k == "if" and n == "qpu2"}
    delay_ps = LinkSpec(distance_km=10.0).delay_ps  # the job's links
    assert decided["#7"] >= sent["c[1]"] + delay_ps  # c[1] from qpu1: one 10 km link
    assert decided["#9"] >= sent["c[0]"] + 2 * delay_ps  # c[0] from qpu0: two links


def test_reset_and_nested_if_agree_with_the_circuit_scenario(tmp_path):
    shots = 160
    path = tmp_path / "reset.qasm"
    path.write_text(RESET)
    text = (JOB.read_text().replace("shots = 500", f"shots = {shots}")
            .replace("num_data_qubits = 1", "num_data_qubits = 2").replace("assignment = [0, 1, 2]", "assignment = [0, 0, 1, 2]")
            .replace('qasm = "circuits/teleport_feedforward.qasm"', f'qasm = "{path}"'))
    job = load_job_text(text, source="reset.toml")
    got = dqc.run_job(job, comm=COMM, backend=BACKEND).tables["shots"]
    reference = circuit_run.run_circuit_job(_circuit_job(path, shots, 8), comm=COMM, backend=BACKEND).shots
    assert all(_close(got, reference, outcome) for outcome in range(16))
    exact = exact_distribution(qasm.load_qasm(RESET))
    for outcome in range(16):
        p = exact.get(outcome, 0.0)
        assert abs(np.mean(got == outcome) - p) <= 3 * math.sqrt(p * (1 - p) / shots), outcome


def test_exact_distribution_of_teleportation_and_its_caps():
    exact = exact_distribution(qasm.load_qasm((ROOT / "jobs" / "circuits" / "teleport_feedforward.qasm").read_text()))
    assert sum(p for bits, p in exact.items() if bits >> 2 & 1) == pytest.approx(math.sin(THETA / 2) ** 2, abs=1e-12)
    for outcome in range(4):
        assert sum(p for bits, p in exact.items() if bits & 3 == outcome) == pytest.approx(0.25, abs=1e-12)
    assert exact_distribution(Circuit(17, 1).measure(0, 0)) is None
    many = Circuit(1, 11)
    for bit in range(11):
        many.gate("h", 0).measure(0, bit)
    assert exact_distribution(many, max_branches=1024) is None
    assert len(exact_distribution(many, max_branches=2048)) == 2048


def test_trajectories_contradicting_shots_is_one_line():
    circuit = qasm.load_qasm((ROOT / "jobs" / "circuits" / "teleport_feedforward.qasm").read_text())
    assert dqc.trajectories_for(_dqc_job(30), circuit) == 30
    assert dqc.trajectories_for(_dqc_job(30, trajectories=30), circuit) == 30
    with pytest.raises(ConfigError, match=r"trajectories = 7 contradicts shots = 30") as info:
        dqc.trajectories_for(_dqc_job(30, trajectories=7), circuit)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"trajectories = 7 contradicts"):  # dqsim check says the same
        check.work_lines(_dqc_job(30, trajectories=7), 1)


def test_resume_in_a_trajectory_gives_the_uninterrupted_shots(tmp_path):
    args = ["run", str(JOB), "--quiet", "--set", "simulation.shots=3",
            "--set", "checkpoint.every_sim_s=0.0002", "--set", f'checkpoint.directory="{tmp_path / "ck"}"',
            "--set", "checkpoint.keep=50"]
    run_dqsim(1, [*args, "-o", str(tmp_path / "full.h5")])
    last = [path for path in checkpoints(tmp_path / "ck") if ".ckpt001-" in path.name][-1]  # after the `if`s
    run_dqsim(1, ["resume", str(last), "-o", str(tmp_path / "resumed.h5"), "--quiet"])
    full, resumed = open_run(tmp_path / "full.h5"), open_run(tmp_path / "resumed.h5")
    np.testing.assert_array_equal(full.table("shots"), resumed.table("shots"))


NOISY = {"network.link": "source_fidelity = 0.93\ndark_count_rate_hz = 100.0\n",
         "network.node": "t1_s = 0.01\nt2_s = 0.005\nmeasure_error_probability = 0.02\n"}


def _noisy_job(shots):
    text = JOB.read_text().replace("shots = 500", f"shots = {shots}").replace("timeline = true", "timeline = false")
    for section, lines in NOISY.items():
        text = text.replace(f"[{section}]\n", f"[{section}]\n{lines}", 1)
    text = text.replace("source_fidelity = 1.0\n", "").replace("dark_count_rate_hz = 0.0   # ideal detectors: no "
                                                               "false heralds\n", "")
    return load_job_text(text, source="noisy.toml", base_dir=JOB.parent)


def test_a_job_plans_its_circuit_once_and_each_trajectory_is_the_run_planned_alone(monkeypatch):
    job = _noisy_job(6)
    plans = []
    real_plan = dqc.plan_dqc
    monkeypatch.setattr(dqc, "plan_dqc", lambda *a, **k: plans.append(1) or real_plan(*a, **k))
    out = dqc.run_job(job, comm=COMM, backend=BACKEND)
    assert len(plans) == 1 and out.attrs["trajectories"] == 6
    monkeypatch.undo()
    circuit = circuit_run.build_circuit(job)
    network = dqc.job_network(job.network, 1)
    assert network.link(0, 1).delivered_fidelity < 1  # noisy pairs: drawn pure states join the register
    alone = [dqc.run_dqc(circuit, comm=COMM, backend=BACKEND, network=network, assignment=[0, 1, 2],
                         seed=dqc.trajectory_seed(job.run.seed, t, 6), shots=1, timeline=False) for t in range(6)]
    assert out.tables["shots"].tolist() == [int(run.shots[0]) for run in alone]
    links = [(a, b, *(sum(run.links[i][k] for run in alone) for k in (2, 3, 4)))
             for i, (a, b, *_rest) in enumerate(alone[0].links)]
    assert [tuple(row)[3:] for row in out.tables["links"]] == [link[2:] for link in links]
    assert out.attrs["simulated_time_ps"] == max(run.end_time_ps for run in alone)


def test_a_plan_made_for_another_circuit_is_refused():
    job = _dqc_job(1)
    circuit = circuit_run.build_circuit(job)
    network = dqc.job_network(job.network, 1)
    prepared = dqc.plan_dqc(circuit, network, assignment=[0, 1, 2])
    with pytest.raises(ValueError, match="prepared"):
        dqc.run_dqc(circuit_run.build_circuit(job), comm=COMM, backend=BACKEND, network=network, shots=1,
                    prepared=prepared)


def test_progress_counts_the_engine_runs_of_a_dynamic_circuit():
    """A dynamic circuit runs the engine once per shot: progress is over all of them (runs done plus the
    running one's share), not the running one's circuit steps alone, which restarted at 0 every shot, so a
    long job never showed how far it was."""
    job = _dqc_job(6)
    updates = []
    dqc.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND,
                on_progress=lambda done, total, what: updates.append((done, total, what)))
    runs = [(done, total) for done, total, what in updates if what.startswith("engine runs")]
    assert runs and all(total == 6 for _, total in runs), updates
    dones = [done for done, _ in runs]
    assert dones == sorted(dones) and dones[0] == 0 and max(dones) >= 5, dones
