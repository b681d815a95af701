"""The "cloud" scenario: hand-computed queues for FIFO, SJF and EASY backfilling, QPU-set selection,
rejections, isolation of concurrent jobs, shots as executions (time, EPR pairs and noise per shot), the
example job file, and one-line job-file errors."""

import math
from pathlib import Path

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit.generators import ghz, qft, random_circuit
from dqsim.circuit.ir import Circuit
from dqsim.errors import CircuitError, ConfigError
from dqsim.jobs import JOB_MODELS, apply_overrides, load_job, load_job_text
from dqsim.jobs.cloud import CloudJob
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios import cloud
from dqsim.scenarios.cloud_scheduler import (Centre, JobFailed, QueuedJob, Running, make_scheduler,
                                             queue_metrics, simulate_queue)
from dqsim.scenarios.dqc import run_dqc, trajectory_seed
from dqsim.units import PS_PER_US, ps_to_seconds
from conftest import TEST_BACKEND

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")
JOB_FILE = Path(__file__).resolve().parent.parent / "jobs" / "cloud_queue.toml"


def line_centre(num_qpus=4, data_qubits=1):
    return Centre.from_edges(num_qpus, [(i, i + 1) for i in range(num_qpus - 1)], data_qubits=data_qubits)


def queue(*specs):
    """Jobs from ``(name, num_qubits, submit_ps, duration_ps[, priority])``; the estimate is the duration."""
    return [QueuedJob(i, spec[0], spec[1], submit_ps=spec[2], estimate_ps=spec[3],
                      priority=spec[4] if len(spec) > 4 else 0) for i, spec in enumerate(specs)]


def schedule(jobs, policy, centre):
    """``name -> (qpus, start_ps, end_ps)`` with every job running exactly its estimate."""
    records = simulate_queue(jobs, policy, centre, lambda job, qpus: job.estimate_ps)
    return {r.job.name: (r.qpus, r.start_ps, r.end_ps) for r in records}


# --------------------------------------------------------------------------
# QPU sets
# --------------------------------------------------------------------------

def test_selection_grows_breadth_first_from_the_lowest_free_qpu():
    centre = line_centre(4, data_qubits=2)
    assert centre.select(5, {0, 1, 2, 3}) == (0, 1, 2)  # ceil(5 / 2) = 3 QPUs
    assert centre.select(2, {1, 3}) == (1,)
    assert centre.select(3, {0, 2, 3}) == (2, 3)  # qpu0 alone holds 2: next connected group
    assert centre.select(5, {0, 2, 3}) is None
    # 2x3 grid 0 1 2 / 3 4 5: BFS from 1 visits 1, then 2 and 4 (ascending), then 5
    grid = Centre.from_edges(6, [(0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (1, 4), (2, 5)], data_qubits=1)
    assert grid.select(3, {1, 2, 4, 5}) == (1, 2, 4)
    # unequal capacities: more QPUs than ceil(n / largest capacity) when the small ones come first
    mixed = Centre.from_edges(3, [(0, 1), (1, 2)], data_qubits=[1, 1, 4])
    assert mixed.qpus_needed(4) == 1 and mixed.select(4, {0, 1, 2}) == (0, 1, 2)


def test_jobs_that_fit_no_set_are_refused_with_a_reason():
    assert line_centre(4).rejection(4) is None
    assert line_centre(4).rejection(5) == "needs 5 data qubits; the centre has 4 (4 QPUs × 1)"
    assert Centre([set()], 3).rejection(4) == "needs 4 data qubits; the centre has 3 (1 QPU × 3)"
    split = Centre.from_edges(4, [(0, 1), (2, 3)], data_qubits=1)
    assert split.rejection(3) == ("needs 3 data qubits on connected QPUs; the largest connected group "
                                  "of QPUs holds 2")


# --------------------------------------------------------------------------
# Hand-computed queues (4 QPUs on a line, 1 data qubit each, exact estimates)
# --------------------------------------------------------------------------

# A needs 3 QPUs and takes qpu0-2, leaving qpu3 free; B (2 QPUs) cannot start until A ends at 10.
CASE_1 = [("A", 3, 0, 10), ("B", 2, 1, 5), ("C", 1, 2, 4), ("D", 1, 3, 20)]


def test_fifo_blocks_behind_the_first_job_that_does_not_fit():
    # B waits for A; C and D queue behind B; at 10 B, C and D start together.
    assert schedule(queue(*CASE_1), "fifo", line_centre()) == {
        "A": ((0, 1, 2), 0, 10), "B": ((0, 1), 10, 15), "C": ((2,), 10, 14), "D": ((3,), 10, 30)}


def test_sjf_starts_the_shortest_waiting_job_first():
    # at 2 the queue is C (4) before B (5): C takes qpu3; at 3 B (5) heads the queue again and blocks D (20).
    assert schedule(queue(*CASE_1), "sjf", line_centre()) == {
        "A": ((0, 1, 2), 0, 10), "B": ((0, 1), 10, 15), "C": ((3,), 2, 6), "D": ((2,), 10, 30)}


def test_backfill_uses_qpus_outside_the_head_reservation():
    # B's reservation: qpu0-1 from 10 (A's end). C (2..6) and D (6..26) run on qpu3, outside it:
    # D backfills although it ends long after 10, and B still starts at 10.
    assert schedule(queue(*CASE_1), "backfill", line_centre()) == {
        "A": ((0, 1, 2), 0, 10), "B": ((0, 1), 10, 15), "C": ((3,), 2, 6), "D": ((3,), 6, 26)}


# A holds qpu0-1 until 10; B needs all 4 QPUs, so its reservation is every QPU from 10.
CASE_2 = [("A", 2, 0, 10), ("B", 4, 1, 5), ("C", 1, 2, 8), ("D", 1, 3, 8), ("E", 1, 4, 3)]


def test_backfill_only_starts_jobs_that_end_before_the_shadow_time():
    # C: 2 + 8 = 10 <= 10, backfilled; D: 3 + 8 = 11 > 10, and again 7 + 8 > 10 at 7, waits;
    # E: 4 + 3 = 7 <= 10, backfilled. B starts exactly at its shadow time 10.
    assert schedule(queue(*CASE_2), "backfill", line_centre()) == {
        "A": ((0, 1), 0, 10), "B": ((0, 1, 2, 3), 10, 15), "C": ((2,), 2, 10), "D": ((0,), 15, 23),
        "E": ((3,), 4, 7)}
    assert schedule(queue(*CASE_2), "fifo", line_centre()) == {
        "A": ((0, 1), 0, 10), "B": ((0, 1, 2, 3), 10, 15), "C": ((0,), 15, 23), "D": ((1,), 15, 23),
        "E": ((2,), 15, 18)}
    assert schedule(queue(*CASE_2), "sjf", line_centre()) == {
        "A": ((0, 1), 0, 10), "B": ((0, 1, 2, 3), 10, 15), "C": ((0,), 15, 23), "D": ((1,), 15, 23),
        "E": ((2,), 4, 7)}


def test_backfill_reservation_counts_estimated_ends():
    centre = line_centre()
    scheduler = make_scheduler("backfill", centre)
    a, b, head = queue(("a", 1, 0, 7), ("b", 1, 0, 4), ("head", 3, 1, 1))
    running = [Running(a, (0,), 0), Running(b, (1,), 2)]  # estimated ends 7 and 6
    assert scheduler.reservation(head, {2, 3}, 3, running) == (6, (1, 2, 3))


def test_higher_priority_runs_first():
    jobs = queue(("A", 2, 0, 10), ("B", 2, 1, 5, 0), ("C", 2, 2, 5, 5))
    assert schedule(jobs, "fifo", Centre.from_edges(2, [(0, 1)], data_qubits=1)) == {
        "A": ((0, 1), 0, 10), "B": ((0, 1), 15, 20), "C": ((0, 1), 10, 15)}


def test_metrics_of_the_fifo_queue_by_hand():
    records = simulate_queue(queue(*CASE_1), "fifo", line_centre(), lambda job, qpus: job.estimate_ps)
    m = queue_metrics(records, 4)
    # busy = 3*10 + 2*5 + 1*4 + 1*20 = 64 QPU-ps over 4 QPUs x 30 ps; waits 0, 9, 8, 7
    assert m["makespan_ps"] == 30 and m["busy_qpu_ps"] == 64
    assert m["utilisation"] == pytest.approx(64 / 120)
    assert m["throughput_per_ps"] == pytest.approx(4 / 30)
    assert (m["mean_wait_ps"], m["median_wait_ps"], m["max_wait_ps"]) == (6.0, 7.5, 9.0)


def test_rejected_and_failed_jobs_do_not_stop_the_others():
    jobs = queue(("big", 5, 0, 10), ("bad", 2, 0, 10), ("ok", 2, 1, 3))

    def duration_of(job, qpus):
        if job.name == "bad":
            raise JobFailed("broken circuit")
        return job.estimate_ps

    records = {r.job.name: r for r in simulate_queue(jobs, "fifo", line_centre(), duration_of)}
    assert records["big"].status == "rejected" and "needs 5 data qubits" in records["big"].reason
    assert records["big"].start_ps is None and records["big"].wait_ps is None
    assert (records["bad"].status, records["bad"].reason, records["bad"].end_ps) == ("failed", "broken circuit", 0)
    assert (records["ok"].status, records["ok"].qpus, records["ok"].start_ps, records["ok"].end_ps) == \
        ("done", (0, 1), 1, 4)


def test_a_scheduler_handing_out_busy_qpus_is_caught():
    class Greedy(type(make_scheduler("fifo", line_centre()))):
        def pick(self, queue, free_qpus, now, *, running=()):
            return [(job, (0,)) for job in queue]

    with pytest.raises(ValueError, match="not all free"):
        simulate_queue(queue(("a", 1, 0, 5), ("b", 1, 0, 5)), Greedy(line_centre()), line_centre(),
                       lambda job, qpus: 5)


# --------------------------------------------------------------------------
# Distributed runs on QPU sets
# --------------------------------------------------------------------------

def centre_network(num_qpus=4, data=2, comm=2, **link):
    graph = topology.line(num_qpus, link=LinkSpec(distance_km=1.0, **link))
    names = list(graph.nodes)
    return graph, names, [NodeSpec(name=n, num_data_qubits=data, num_comm_qubits=comm) for n in names]


def run(jobs, **kw):
    graph, names, specs = centre_network(**{k: kw.pop(k) for k in ("source_fidelity",) if k in kw})
    return cloud.run_cloud(jobs, comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs), seed=5,
                           **kw)


def test_concurrent_jobs_on_disjoint_sets_match_each_alone():
    first = cloud.UserJob("first", random_circuit(4, 6, seed=3, measure=True), 200, 0)
    second = cloud.UserJob("second", qft(4, measure=True), 200, 0)
    huge = cloud.UserJob("huge", ghz(9, measure=True), 10, 0)
    together = run([first, second, huge], source_fidelity=0.6, user_latency_ps=1000)
    alone = {job.name: run([job], source_fidelity=0.6, user_latency_ps=1000) for job in (first, second)}
    a, b, c = together.records
    assert (a.qpus, b.qpus) == ((0, 1), (2, 3)) and a.start_ps == b.start_ps == 0  # concurrent, disjoint
    assert c.status == "rejected" and c.reason == "needs 9 data qubits; the centre has 8 (4 QPUs × 2)"
    assert alone["second"].records[0].qpus == (0, 1)  # alone it gets another set of the same shape
    for job_id, name in enumerate(["first", "second"]):
        mine, solo = together.results[job_id], alone[name].results[0]
        assert mine.counts == solo.counts and sum(mine.counts.values()) == 200
        assert mine.fidelity == solo.fidelity
        assert (mine.epr_pairs, mine.dqc_time_ps) == (solo.epr_pairs, solo.dqc_time_ps) and mine.epr_pairs > 0
        assert together.records[job_id].end_ps - together.records[job_id].start_ps == mine.dqc_time_ps + 1000
    assert together.results[0].fidelity < 0.9  # noisy pairs: the comparison is not trivial


def test_repro_a_dynamic_circuit_runs_once_per_shot():
    """A dynamic circuit gives one shot per run of the network and a cloud job was one run: with shots > 1 it
    was rejected on arrival. Now a job is one execution per shot: it runs the engine once per shot (on an
    ideal centre too), its QPUs held for all of them; the shots' c0 is a fair coin (60 shots, 4 sigma)."""
    mid_measure = Circuit(2, 2).gate("h", 0).measure(0, 0).gate("cx", 0, 1)
    big = cloud.UserJob("big", ghz(8, measure=True), 10, 0)  # takes all 4 QPUs
    result = run([big, cloud.UserJob("mid", mid_measure, 60, 1), cloud.UserJob("ok", ghz(3, measure=True), 10, 2)],
                 trajectories=1)
    first, mid, ok = result.records
    assert mid.status == "done" and mid.start_ps == first.end_ps  # it waited for "big"
    assert ok.status == "done" and ok.start_ps == mid.start_ps  # beside it, on the other two QPUs
    done = result.results[1]
    assert done.engine_runs == done.num_executions == 60 and done.sampling == "per-shot"
    assert math.isnan(done.fidelity) and set(done.counts) <= {"00", "01"}
    assert abs(done.counts.get("01", 0) - 30) < 4 * np.sqrt(15), done.counts
    assert mid.end_ps - mid.start_ps == done.dqc_time_ps  # (0 here: one QPU of gates that take no time)
    line = next(line for line in cloud.cloud_summary(result, "telegate") if line.startswith("  mid "))
    assert "no fidelity (a dynamic circuit, 60 runs)" in line, line


def test_the_summary_counts_1_in_the_singular():
    """A 1-qubit user job: the summary said "(..., 1 qubits)"."""
    result = run([cloud.UserJob("one", Circuit(1, 1).gate("h", 0).measure(0, 0), 10, 0)])
    line = cloud.cloud_summary(result, "telegate")[-1]
    assert line.startswith("  one (circuit, 1 qubit) on node0: wait "), line


def test_a_user_job_with_more_classical_bits_than_a_shot_holds_is_rejected_with_the_reason(tmp_path):
    """A shot is one int64: the circuit scenario refuses a QASM circuit with 64 classical bits; the cloud
    loaded its QASM itself without that check. Now such a job is rejected on arrival, the others run."""
    (tmp_path / "wide.qasm").write_text('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[64] c;\n'
                                        "h q[0];\ncx q[0], q[1];\nc[0] = measure q[0];\nc[63] = measure q[1];\n")
    text = cloud_text(jobs='[[user_jobs]]\nname = "wide"\nqasm = "wide.qasm"\nshots = 10\n'
                           '[[user_jobs]]\nname = "ok"\ngenerator = "ghz"\nnum_qubits = 3\nshots = 10\n')
    (tmp_path / "c.toml").write_text(text)
    out = cloud.run_job(load_job(tmp_path / "c.toml"), comm=comm_mod.SingleComm(), backend=BACKEND)
    jobs = out.tables["jobs"]
    wide, ok = jobs[jobs["name"] == "wide"][0], jobs[jobs["name"] == "ok"][0]
    assert wide["status"] == "rejected" and wide["num_qpus"] == 0
    assert wide["reason"].startswith("the circuit has 64 classical bits, but a shot is recorded as one 64-bit")
    assert ok["status"] == "done" and ok["fidelity"] == pytest.approx(1.0)
    assert out.attrs["num_rejected"] == 1 and out.attrs["num_done"] == 1


# --------------------------------------------------------------------------
# The job file
# --------------------------------------------------------------------------

def test_a_user_jobs_bad_qasm_file_is_named_with_its_user_job(tmp_path):
    """A QASM file's error named the file alone ("bell_custom_gate.qasm line 1: ..."), not which ``[[user_jobs]]``
    entry reads it (review of 2026-12-07 (late afternoon)): ``dqsim check`` and ``run`` now say whose it is."""
    (tmp_path / "circuits").mkdir()
    (tmp_path / "circuits" / "bell_custom_gate.qasm").write_text("OPENQASM 2.0;\nqreg q[2];\nfoo q[0];\n")
    (tmp_path / "c.toml").write_text(JOB_FILE.read_text())
    with pytest.raises(CircuitError) as refused:
        cloud.user_jobs_of(load_job(tmp_path / "c.toml"))
    assert str(refused.value) == "user job 'qasm_bell': bell_custom_gate.qasm line 3: undefined gate 'foo'"


def test_example_job_file_runs_in_one_process(tmp_path):
    job = load_job(JOB_FILE)
    assert JOB_MODELS["cloud"] is CloudJob and isinstance(job, CloudJob) and job.scheduler.policy == "backfill"
    job = apply_overrides(job, ["network.link.distance_km=0.5"])
    progress = []
    out = cloud.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND,
                        on_progress=lambda done, total, what: progress.append((done, total)))
    jobs = out.tables["jobs"]
    assert len(jobs) == 8 and set(jobs["status"]) == {"done"} and progress[-1] == (8, 8)
    assert np.allclose(jobs["fidelity"], 1.0)
    assert list(jobs["submit_s"]) == sorted(jobs["submit_s"])  # ids follow arrival order
    assert np.all(jobs["start_s"] >= jobs["submit_s"]) and np.allclose(jobs["wait_s"],
                                                                      jobs["start_s"] - jobs["submit_s"])
    latency_s = ps_to_seconds(job.user_latency_ps())
    assert np.allclose(jobs["end_s"] - jobs["start_s"], jobs["dqc_s"] + latency_s)
    # ideal links and nodes: one engine run per job, its time and pairs counted once per shot
    assert list(jobs["executions"]) == list(jobs["shots"]) and set(jobs["engine_runs"]) == {1}
    assert set(jobs["sampling"]) == {"final-state"} and np.all(np.isnan(jobs["fidelity_stderr"]))
    assert np.allclose(jobs["dqc_s"], jobs["executions"] * jobs["execution_s"])
    assert np.all(jobs["epr_pairs"] % jobs["executions"] == 0) and jobs["epr_pairs"].sum() > 0
    assert out.attrs["sampling"] == "final-state" and out.attrs["total_executions"] == jobs["shots"].sum()
    for row in jobs:  # jobs overlapping in time hold disjoint QPU sets
        for other in jobs:
            if row["id"] < other["id"] and row["start_s"] < other["end_s"] and other["start_s"] < row["end_s"]:
                assert not set(row["qpus"].split(",")) & set(other["qpus"].split(","))
    counts = out.tables["counts"]
    assert all(counts["count"][counts["job_id"] == i].sum() == jobs["shots"][i] for i in range(8))
    bell = jobs[jobs["name"] == "qasm_bell"][0]
    assert set(counts["bitstring"][counts["job_id"] == bell["id"]]) <= {"00", "11"}
    assert out.attrs["num_done"] == 8 and 0 < out.attrs["utilisation"] <= 1
    assert out.attrs["max_wait_s"] == pytest.approx(jobs["wait_s"].max())
    assert out.tables["wait_distribution"]["num_jobs"].sum() == 8
    assert any("utilisation" in line for line in out.summary)
    # written and drawn as a Gantt chart
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dqsim import io
    from dqsim.cli.plot_cloud import draw

    path = io.write_run_file(tmp_path / "cloud.h5", attrs={"scenario": "cloud", **out.attrs}, tables=out.tables,
                             groups_attrs=out.table_attrs)
    fig, ax = plt.subplots()
    assert draw(io.open_run(path), ax) == "QPU occupancy of 8 jobs on 8 QPUs"
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"qpu{i}" for i in range(8)]
    plt.close(fig)


def cloud_text(extra="", network='topology = "line"\nnum_nodes = 4', node="num_data_qubits = 2",
               jobs='[[user_jobs]]\ngenerator = "ghz"\nnum_qubits = 3\n', link=""):
    return (f'[run]\nname = "c"\nscenario = "cloud"\nseed = 3\n[network]\n{network}\n'
            f'[network.link]\ndistance_km = 1.0\n{link}[network.node]\n{node}\nnum_comm_qubits = 2\n{jobs}{extra}')


def test_poisson_arrivals_are_seeded_and_mixed():
    text = cloud_text(jobs="", extra='[arrivals]\nrate_hz = 1e5\nnum_jobs = 4\ngenerators = ["ghz", "random"]\n'
                                     'num_qubits = [2, 4]\ndepth = 2\nshots = 20\n')
    job = load_job_text(text)
    jobs = cloud.user_jobs_of(job)
    assert [j.name for j in jobs] == ["poisson0", "poisson1", "poisson2", "poisson3"]
    assert all(2 <= j.circuit.num_qubits <= 4 and j.shots == 20 for j in jobs)
    assert [j.submit_ps for j in jobs] == sorted(j.submit_ps for j in jobs) and jobs[0].submit_ps > 0
    again = cloud.user_jobs_of(load_job_text(text))
    assert [(j.submit_ps, j.circuit) for j in jobs] == [(j.submit_ps, j.circuit) for j in again]
    other = cloud.user_jobs_of(apply_overrides(job, ["run.seed=4"]))
    assert [j.submit_ps for j in other] != [j.submit_ps for j in jobs]
    out = cloud.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    assert list(out.tables["jobs"]["status"]) == ["done"] * 4


@pytest.mark.parametrize("extra,jobs,match", [
    ('[scheduler]\npolicy = "lifo"\n', None, r'\[scheduler\]\.policy = "lifo": must be one of "fifo", "sjf"'),
    ("", '[[user_jobs]]\ngenerator = "ghz"\nnum_qubits = 3\nshots = -1\n', r"user_jobs\]+\[0\]\.shots = -1"),
    ("", '[[user_jobs]]\ngenerator = "ghz"\nnum_qubits = 3\nshot = 1\n', r"unknown key .*user_jobs.*shot;"),
    ("", '[[user_jobs]]\nnum_qubits = 3\n', r"user_jobs\]+\[0\].*generator or qasm"),
    ("", '[[user_jobs]]\nqasm = "nowhere.qasm"\n', r"user_jobs\]+\[0\]\.qasm = \"nowhere.qasm\": file not found"),
    ("", '[[user_jobs]]\ngenerator = "ghz"\nnum_qubits = 3\narrival_s = -1.0\n', r"arrival_s = -1.0: must be in"),
    ("", '[[user_jobs]]\nname = "x"\ngenerator = "ghz"\nnum_qubits = 3\n[[user_jobs]]\nname = "x"\n'
         'generator = "qft"\nnum_qubits = 2\n', r'user_jobs\]+\[1\]\.name = "x": appears twice'),
    ("", "", r"missing key \[+user_jobs\]"),
    ("[arrivals]\nrate_hz = 10.0\nnum_jobs = 2\nnum_qubits = [5, 3]\n", "", r"\[arrivals\]\.num_qubits = \[5, 3\]"),
    ("[arrivals]\nrate_hz = 0.0\nnum_jobs = 2\nnum_qubits = [2, 3]\n", "", r"\[arrivals\]\.rate_hz = 0.0"),
    ("[arrivals]\nrate_hz = 1.0\nnum_jobs = 2\nnum_qubits = [2, 3]\ngenerators = [\"bell\"]\n", "",
     r"\[arrivals\]\.generators\[0\] = \"bell\""),
    ("[user]\ndistance_km = 1.0\nlatency_s = 1e-6\n", None, r"\[user\]\.latency_s = 1e-06: give distance_km or"),
    ("[user]\ndistance_km = -1.0\n", None, r"\[user\]\.distance_km = -1.0"),
    # times beyond the int64 picosecond clock: an OverflowError traceback after the job had loaded
    ("", '[[user_jobs]]\ngenerator = "ghz"\nnum_qubits = 3\narrival_s = 1e300\n',
     r"user_jobs\]+\[0\]\.arrival_s = 1e\+300: must be in \[0, 1_000_000\]$"),
    ("[scheduler]\nshot_reset_s = 1e20\n", None, r"\[scheduler\]\.shot_reset_s = 1e\+20: must be in \[0, 1_000_000\]$"),
    ("[scheduler]\njob_setup_s = 2e6\n", None, r"\[scheduler\]\.job_setup_s = 2000000\.0: must be in \[0, 1_000_000\]$"),
    ("[user]\nlatency_s = 1e300\n", None, r"\[user\]\.latency_s = 1e\+300: must be in \[0, 1_000_000\]$"),
    ("[user]\ndistance_km = 1e300\n", None, r"\[user\]\.distance_km = 1e\+300: must be in \[0, 100_000_000\]$"),
    ("[arrivals]\nrate_hz = 1.0\nnum_jobs = 2\nnum_qubits = [2, 3]\nstart_s = 1e300\n", "",
     r"\[arrivals\]\.start_s = 1e\+300: must be in \[0, 1_000_000\]$"),
    ("[arrivals]\nrate_hz = 1e-6\nnum_jobs = 2\nnum_qubits = [2, 3]\n", "",
     r"\[arrivals\]\.rate_hz = 1e-06: 2 jobs at this rate arrive over 2e\+06 s on average \(with start_s\), more "
     r"than the 1_000_000 s a run allows \(its clock counts int64 picoseconds\); raise the rate or lower num_jobs$"),
    ("[simulation]\ntrajectories = 0\n", None,
     r'\[simulation\]\.trajectories = 0: must be "per_shot" or an integer in 1\.\.100_000_000'),
    ('[simulation]\ntrajectories = "all"\n', None, r'\[simulation\]\.trajectories = "all": must be "per_shot"'),
])
def test_bad_job_files_give_one_line_naming_the_key(extra, jobs, match):
    kw = {} if jobs is None else {"jobs": jobs}
    with pytest.raises(ConfigError, match=match) as info:
        load_job_text(cloud_text(extra, **kw), source="jobs/x.toml")
    assert "\n" not in str(info.value) and str(info.value).startswith("jobs/x.toml: ")


def test_placement_is_refused():
    with pytest.raises(ConfigError, match=r"\[network\]\.placement = \[0, 0, 1, 1\]: is not used"):
        load_job_text(cloud_text(network='topology = "line"\nnum_nodes = 4\nplacement = [0, 0, 1, 1]'))


def test_user_latency_from_distance_or_seconds():
    assert load_job_text(cloud_text()).user_latency_ps() == 0
    assert load_job_text(cloud_text("[user]\nlatency_s = 2e-6\n")).user_latency_ps() == 2 * PS_PER_US
    assert load_job_text(cloud_text("[user]\ndistance_km = 1.0\n")).user_latency_ps() == 4896721
    assert math.isclose(cloud.estimate_duration_ps(ghz(2), capacities=[2], node=NodeSpec(name="q"), pair_ps=1e9,
                                                   latency_ps=5), 5)


# --------------------------------------------------------------------------
# Several ranks: every rank takes part in every job's run
# --------------------------------------------------------------------------

MPI_SNIPPET = """
import sys
import numpy as np
from dqsim import backend, comm
from dqsim.jobs import load_job
from dqsim.scenarios import cloud
c = comm.init()
out = cloud.run_job(load_job(sys.argv[1]), comm=c, backend=backend.select("numpy"))
if c.rank == 0:
    np.savez(sys.argv[2], jobs=out.tables["jobs"], counts=out.tables["counts"])
"""


def test_two_ranks_give_the_single_process_result(tmp_path):
    from mpi_helper import run_mpi

    job_file = tmp_path / "small.toml"  # noisy pairs: trajectories (10 runs) and noise per shot (5 shots, 5 runs)
    job_file.write_text(cloud_text(jobs='[[user_jobs]]\ngenerator = "ghz"\nnum_qubits = 4\nshots = 200\n'
                                        '[[user_jobs]]\ngenerator = "random"\nnum_qubits = 4\ndepth = 3\n'
                                        'arrival_s = 1e-6\nshots = 200\n'
                                        '[[user_jobs]]\ngenerator = "ghz"\nnum_qubits = 3\nshots = 5\n',
                                   extra='[scheduler]\npolicy = "backfill"\n', link="source_fidelity = 0.9\n"))
    run_mpi(2, ["-c", MPI_SNIPPET, str(job_file), str(tmp_path / "two.npz")], timeout_s=120)
    two = np.load(tmp_path / "two.npz")
    one = cloud.run_job(load_job(job_file), comm=comm_mod.SingleComm(), backend=BACKEND)
    assert list(two["jobs"]["status"]) == ["done"] * 3
    runs = {name: (int(n), sampling) for name, n, sampling in two["jobs"][["name", "engine_runs", "sampling"]]}
    assert runs == {"job0": (10, "trajectories"), "job1": (10, "trajectories"), "job2": (5, "per-shot")}
    for table in ("jobs", "counts"):
        mine, theirs = one.tables[table], two[table]
        for name in mine.dtype.names:
            if mine.dtype[name].kind == "f":  # fidelities: equal up to the reduction order over ranks
                assert np.allclose(mine[name], theirs[name], rtol=0, atol=1e-12, equal_nan=True), (table, name)
            else:
                assert np.array_equal(mine[name], theirs[name]), (table, name)


def _fractions_inside_runs(updates, what_prefix):
    """The fractional ``done`` values of ``updates`` (inside one engine run), each checked to lie between the
    whole counts around it: ``k < done < k + 1`` where ``k`` is the last whole count reported before it."""
    from dqsim.cli.progress import stage_of

    partial, whole = [], 0
    for done, _total, what in updates:
        assert what.startswith(what_prefix), what
        if float(done).is_integer():
            assert done >= whole
            whole = done
        else:
            assert whole < done < whole + 1, (whole, done)
            partial.append(done)
    assert len({stage_of(what) for _done, _total, what in updates}) == 1, updates  # one stage: one estimate
    return partial


def test_repro_a_user_job_reports_the_fraction_of_its_circuit_done():
    """A cloud run reported progress only when a user job ended; now each engine window of a user job brings
    the fraction of its circuit steps done (done + fraction of the current job, as the repeater does)."""
    job = apply_overrides(load_job(JOB_FILE), ["network.link.distance_km=0.5"])
    updates = []
    cloud.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND,
                  on_progress=lambda done, total, what: updates.append((done, total, what)))
    partial = _fractions_inside_runs(updates, "user jobs (")
    assert len(partial) >= 3 and len({math.floor(p) for p in partial}) >= 2, updates
    assert updates[-1][:2] == (8, 8)


@pytest.mark.parametrize("fidelity, noisy", [(0.9, True), (1.0, False)])
def test_repro_a_noisy_centre_draws_the_noise_over_several_runs_of_each_job(fidelity, noisy):
    """Each user job ran once: on noisy links its fidelity was one draw of the noise (0 or 1 for a GHZ pair
    through a pair of F = 0.9, never 0.9) and all its shots shared that draw. Now it runs the default 10
    trajectories and reports their mean (a multiple of 1/10) with a standard error; the attributes and the
    summary say how the shots were drawn. An ideal centre still runs each job once (exact)."""
    job = load_job_text(f"""[run]\nname = "t"\nscenario = "cloud"\nseed = 3\n[network]\ntopology = "line"
num_nodes = 2\n[network.link]\ndistance_km = 1.0\nsource_fidelity = {fidelity}\ndark_count_rate_hz = 0.0
[network.node]\nnum_data_qubits = 1\n[[user_jobs]]\nname = "a"\ngenerator = "ghz"\nnum_qubits = 2\nshots = 50\n""")
    out = cloud.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    row = out.tables["jobs"][0]
    assert row["engine_runs"] == (10 if noisy else 1) and row["executions"] == 50
    assert row["sampling"] == out.attrs["sampling"] == ("trajectories" if noisy else "final-state")
    if noisy:
        assert abs(row["fidelity"] * 10 - round(row["fidelity"] * 10)) < 1e-9 and 0 < row["fidelity"] < 1
        assert row["fidelity_stderr"] == pytest.approx(np.sqrt(row["fidelity"] * (1 - row["fidelity"]) / 9))
        assert "min(10, N) trajectories" in out.attrs["sampling_note"]
    else:
        assert row["fidelity"] == pytest.approx(1.0) and np.isnan(row["fidelity_stderr"])
        assert "drawn from that final state" in out.attrs["sampling_note"]
    assert any(line.startswith("  shots: a job of N shots is N executions") for line in out.summary), out.summary


# --------------------------------------------------------------------------
# Shots are executions: QPU time, EPR pairs and noise per shot
# --------------------------------------------------------------------------

BELL = Circuit(2, 2).gate("h", 0).gate("cx", 0, 1).measure(0, 0).measure(1, 1)


def link_centre(num_qpus=2, data=1, source_fidelity=1.0):
    """QPUs on a line of 1 km links without dark counts: pairs of exactly ``source_fidelity`` (Werner)."""
    graph = topology.line(num_qpus, link=LinkSpec(distance_km=1.0, source_fidelity=source_fidelity,
                                                  dark_count_rate_hz=0.0))
    return Network(graph, [NodeSpec(name=n, num_data_qubits=data, num_comm_qubits=2, gate_2q_duration_ps=5000,
                                    measure_duration_ps=20_000) for n in graph.nodes])


def run_on(network, jobs, **kw):
    return cloud.run_cloud(jobs, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, seed=11, **kw)


def test_qpu_time_epr_pairs_and_queue_scale_with_shots_on_an_ideal_centre():
    """A job of N shots holds its QPUs for N executions and uses N executions' EPR pairs; a job behind it
    waits that long; the estimate counts N executions. On an ideal centre one engine run gives all N shots
    (exact), so shots = 1000 costs one run, not 1000."""
    network = link_centre(data=2)
    latency = 3000
    one = run_on(network, [cloud.UserJob("a", ghz(4, measure=True), 1, 0)], user_latency_ps=latency)
    many = run_on(network, [cloud.UserJob("a", ghz(4, measure=True), 1000, 0),
                            cloud.UserJob("b", ghz(4, measure=True), 1, 0)], user_latency_ps=latency)
    single, thousand = one.results[0], many.results[0]
    assert thousand.engine_runs == 1 and thousand.sampling == "final-state" and thousand.num_executions == 1000
    assert sum(thousand.counts.values()) == 1000 and set(thousand.counts) == {"0000", "1111"}
    assert single.dqc_time_ps > 0 and single.epr_pairs == single.num_nonlocal_gates == 1
    assert thousand.dqc_time_ps == 1000 * single.dqc_time_ps and thousand.epr_pairs == 1000 * single.epr_pairs
    a, b = many.records
    assert a.end_ps - a.start_ps == 1000 * single.dqc_time_ps + latency  # QPUs busy for 1000 executions
    assert b.wait_ps == a.end_ps and b.qpus == a.qpus  # the job behind it waits for all of them
    assert many.metrics["busy_qpu_ps"] == 2 * (a.end_ps - a.start_ps + b.end_ps - b.start_ps)
    estimate_one, estimate_many = one.records[0].job.estimate_ps, a.job.estimate_ps
    assert estimate_many - latency == 1000 * (estimate_one - latency) > 0


def test_noise_drawn_per_shot_matches_the_binomial_of_a_werner_pair():
    """Bell pair, its CNOT a TeleGate through a Werner pair of F = 0.8: the pair's X or Y component (2(1-F)/3)
    flips the parity, any error takes the fidelity to 0. With the noise drawn per shot the odd-parity
    count is Binomial(N, 2(1-F)/3) and the mean fidelity F with standard error sqrt(F(1-F)/N): both within 4
    standard errors (seed 11). One run for all shots (the old model) gives 0 or N odd shots: outside."""
    fidelity, shots = 0.8, 400
    result = run_on(link_centre(source_fidelity=fidelity), [cloud.UserJob("bell", BELL, shots, 0)],
                    trajectories="per_shot").results[0]
    assert result.engine_runs == shots and result.sampling == "per-shot"
    p = 2 * (1 - fidelity) / 3
    odd = result.counts.get("01", 0) + result.counts.get("10", 0)
    assert abs(odd - shots * p) < 4 * np.sqrt(shots * p * (1 - p)), result.counts
    sigma = np.sqrt(fidelity * (1 - fidelity) / shots)
    assert abs(result.fidelity - fidelity) < 4 * sigma and result.fidelity_stderr == pytest.approx(sigma, rel=0.15)
    assert result.epr_pairs == shots  # one pair per execution (no dark counts: no false heralds)


def test_noise_drawn_per_trajectory_shares_each_draw_among_its_shots():
    """The same pair with 20 trajectories for 400 shots: each trajectory's 20 shots share its draw (its final
    state is a Bell state, flipped or not), so the odd count is 20 x Binomial(20, 2(1-F)/3), within 4 of its
    standard errors, and the fidelity is a mean of 20 draws. Time and pairs count each run 20 times."""
    fidelity, shots, runs = 0.8, 400, 20
    result = run_on(link_centre(source_fidelity=fidelity), [cloud.UserJob("bell", BELL, shots, 0)],
                    trajectories=runs).results[0]
    assert result.engine_runs == runs and result.sampling == "trajectories" and result.num_executions == shots
    p = 2 * (1 - fidelity) / 3
    odd = result.counts.get("01", 0) + result.counts.get("10", 0)
    assert odd % runs == 0 and abs(odd - shots * p) < 4 * runs * np.sqrt(runs * p * (1 - p)), result.counts
    assert abs(result.fidelity * runs - round(result.fidelity * runs)) < 1e-9
    assert abs(result.fidelity - fidelity) < 4 * np.sqrt(fidelity * (1 - fidelity) / runs)
    assert result.epr_pairs == shots and result.dqc_time_ps % (shots // runs) == 0


def test_per_shot_time_is_the_sum_of_the_shots_own_runs():
    """With the noise drawn per shot, each shot's execution takes its own simulated time (its own heralding
    attempts): the job's QPU time is the sum of the 30 runs that run_dqc gives with the trajectory seeds."""
    network, shots = link_centre(source_fidelity=0.9), 30
    run = run_on(network, [cloud.UserJob("bell", BELL, shots, 0)], trajectories="per_shot")
    seed = cloud.job_seed(11, "bell")
    times = [run_dqc(BELL, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, shots=1, timeline=False,
                     seed=trajectory_seed(seed, t, shots)).end_time_ps for t in range(shots)]
    assert run.results[0].dqc_time_ps == sum(times) and len(set(times)) > 1
    assert run.records[0].end_ps - run.records[0].start_ps == sum(times)


@pytest.mark.parametrize("scheme", ["telegate", "teledata"])
def test_repro_the_estimated_cost_of_a_cut_gate_is_the_mean_time_the_protocol_takes(scheme):
    """One remote CNOT over a 1 km link: the mean simulated time of 200 seeded runs (handshake, attempts,
    herald, the TeleGate's two messages; TeleData: the later of two pairs made at once) is the scheduler's cost
    of one cut gate, within 4 standard errors (it was the mean time to herald plus one link delay: about half)."""
    from dqsim.scenarios.dqc import run_dqc

    graph, names, specs = centre_network(num_qpus=2, data=1)
    network = Network(graph, specs)
    circuit = Circuit(2).gate("cx", 0, 1)
    times = np.array([run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, scheme=scheme,
                              seed=seed, shots=0, timeline=False).end_time_ps for seed in range(200)], dtype=float)
    assert abs(times.mean() - cloud._pair_ps(network, scheme)) < 4 * times.std(ddof=1) / np.sqrt(times.size)


def test_set_up_and_reset_times_hold_the_qpus_and_count_in_the_estimate():
    """A job holds its QPUs for its executions plus the set-up once and a reset between each two of its shots;
    the job queued behind it on the same QPUs waits that long, and the scheduler's estimate counts it."""
    network = link_centre(num_qpus=2, data=1)
    jobs = [cloud.UserJob("a", ghz(2, measure=True), 50, 0), cloud.UserJob("b", ghz(2, measure=True), 20, 0)]
    plain = run_on(network, jobs, user_latency_ps=1000)
    setup, reset = 7_000_000, 30_000
    held = run_on(network, jobs, user_latency_ps=1000, job_setup_ps=setup, shot_reset_ps=reset)
    for job_id, shots in enumerate((50, 20)):
        before, after = plain.records[job_id], held.records[job_id]
        assert held.results[job_id].counts == plain.results[job_id].counts  # the physics is unchanged
        assert held.results[job_id].dqc_time_ps == plain.results[job_id].dqc_time_ps
        extra = setup + (shots - 1) * reset
        assert after.end_ps - after.start_ps == before.end_ps - before.start_ps + extra
        assert after.job.estimate_ps == before.job.estimate_ps + extra
    assert held.records[1].start_ps == held.records[0].end_ps  # b waits for a on the same two QPUs
    tables, _units = cloud.cloud_tables(held)
    overhead = tables["jobs"]["overhead_s"]
    assert np.allclose(overhead, [ps_to_seconds(setup + 49 * reset), ps_to_seconds(setup + 19 * reset)])
    assert "QPUs held 7 µs per job before its first shot and 30 ns between shots" in cloud.cloud_summary(held, "telegate")[0]
    with pytest.raises(ValueError, match="shot_reset_ps = -1"):
        run_on(network, jobs, shot_reset_ps=-1)


def test_set_up_and_reset_times_are_read_from_the_job_file():
    job = apply_overrides(load_job("jobs/cloud_queue.toml"), ["scheduler.job_setup_s=0.002",
                                                             "scheduler.shot_reset_s=1e-4"])
    assert (job.scheduler.job_setup_s, job.scheduler.shot_reset_s) == (0.002, 1e-4)
    with pytest.raises(ConfigError, match=r"\[scheduler\]\.shot_reset_s = -1"):
        apply_overrides(load_job("jobs/cloud_queue.toml"), ["scheduler.shot_reset_s=-1"])


def test_the_estimated_cost_of_a_swap_between_qpus_is_two_teleportations():
    """A SWAP between two QPUs with two communication qubits each over a 1 km link: the scheduler's cost
    (``_swap_ps``) is the handshake (2d), the attempts of the later of two pairs made at once
    (2/p − 1/(p(2 − p)) − 1 periods), the herald and one message (d), where three CX cost three cut gates;
    the mean simulated time of 200 seeded runs is within 4 standard errors of it, and the job estimate counts
    one such gate (three CX where a QPU has one communication qubit)."""
    from dqsim.scenarios.dqc import run_dqc

    graph, names, specs = centre_network(num_qpus=2, data=1)
    network = Network(graph, specs)
    link = network.link(0, 1)
    p = link.success_probability
    formula = (3 * link.delay_ps + (2 / p - 1 / (p * (2 - p)) - 1) * link.attempt_period_ps + link.herald_delay_ps)
    assert cloud._swap_ps(network) == pytest.approx(formula, rel=1e-12)
    circuit = Circuit(2).gate("swap", 0, 1)
    times = np.array([run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=network,
                              seed=seed, shots=0, timeline=False).end_time_ps for seed in range(200)], dtype=float)
    assert abs(times.mean() - formula) < 4 * times.std(ddof=1) / np.sqrt(times.size), (times.mean(), formula)
    node = network.nodes[0]
    kw = dict(capacities=[1, 1], node=node, pair_ps=cloud._pair_ps(network))
    three_cx = cloud.execution_estimate_ps(circuit, **kw)
    assert three_cx == int(3 * (node.gate_2q_duration_ps + cloud._pair_ps(network)))
    assert cloud.execution_estimate_ps(circuit, swap_ps=cloud._swap_ps(network), **kw) == \
        int(node.gate_2q_duration_ps + formula)
    assert cloud.execution_estimate_ps(circuit, swap_ps=cloud._swap_ps(network), two_comm=[True, False],
                                       **kw) == three_cx


def test_a_teledata_cut_gate_whose_control_s_qpu_has_one_communication_qubit_costs_two_pairs_in_turn():
    """One remote CNOT over a 1 km link, the control's QPU with one communication qubit: TeleData requests its
    return pair once the control has arrived, so the scheduler's cost (``_late_teledata_ps``) is two pairs one
    after the other, each followed by one message; the mean simulated time of 200 seeded runs is within 4
    standard errors of it, and the estimate uses it for that gate only (``pair_ps`` where the control's QPU has
    two)."""
    from dqsim.scenarios.dqc import run_dqc

    graph, names, specs = centre_network(num_qpus=2, data=1)
    specs[0] = NodeSpec(name=names[0], num_data_qubits=1, num_comm_qubits=1)
    network = Network(graph, specs)
    link = network.link(0, 1)
    one_pair = 2 * link.delay_ps + (1 / link.success_probability - 1) * link.attempt_period_ps + link.herald_delay_ps
    formula = 2 * (one_pair + link.delay_ps)
    assert cloud._late_teledata_ps(network) == pytest.approx(formula, rel=1e-12)
    circuit = Circuit(2).gate("cx", 0, 1)
    times = np.array([run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=network,
                              scheme="teledata", seed=seed, shots=0, timeline=False).end_time_ps
                      for seed in range(200)], dtype=float)
    assert abs(times.mean() - formula) < 4 * times.std(ddof=1) / np.sqrt(times.size), (times.mean(), formula)
    kw = dict(capacities=[1, 1], node=network.nodes[1], pair_ps=1e6, late_pair_ps=formula, hops=[[0, 1], [1, 0]])
    gate = network.nodes[1].gate_2q_duration_ps
    assert cloud.execution_estimate_ps(circuit, two_comm=[False, True], **kw) == int(gate + formula)
    assert cloud.execution_estimate_ps(circuit, two_comm=[True, False], **kw) == int(gate + 1e6)


def test_repro_the_centre_table_is_made_on_the_writing_rank_alone(monkeypatch):
    """Its width walks every QPU's name (up to 2^20): until 2026-12-07 (later) every rank made it, as the node
    names table is made by the writing rank alone."""
    from dqsim.scenarios.output import WRITING_RANK

    run = run_on(link_centre(num_qpus=2, data=1), [cloud.UserJob("a", ghz(2, measure=True), 5, 0)])
    made = []
    monkeypatch.setattr(cloud, "centre_table", lambda run: made.append(run) or "centre")
    assert "centre" not in cloud.cloud_tables(run, WRITING_RANK + 1)[0] and made == []
    assert cloud.cloud_tables(run, WRITING_RANK)[0]["centre"] == "centre" and made == [run]


def test_a_one_qpu_user_job_on_links_of_their_own_lengths_is_checked_and_run(tmp_path):
    """An edges file whose links give their own lengths (K4, one of 10 km): ``dqsim check`` and the run
    crashed with an IndexError where a user job got one QPU (its subnetwork had no link)."""
    from dqsim.cli import check
    (tmp_path / "k4.csv").write_text("source,target,distance_km\n" + "".join(
        f"q{a},q{b},{10.0 if (a, b) == (1, 3) else 1.0}\n" for a in range(4) for b in range(a + 1, 4)))
    jobs = ('[[user_jobs]]\nname = "small"\ngenerator = "ghz"\nnum_qubits = 2\nshots = 20\n'
            '[[user_jobs]]\nname = "ghz6"\ngenerator = "ghz"\nnum_qubits = 6\nshots = 4\n')
    (tmp_path / "c.toml").write_text(cloud_text(network='topology = "edges"\nedges_file = "k4.csv"', jobs=jobs,
                                                link='scheme = "double_click"\ndark_count_rate_hz = 0.0\n'))
    job = load_job(tmp_path / "c.toml")
    assert any("user job ghz6's data register" in line for line in check.work_lines(job, 1))
    out = cloud.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    jobs = out.tables["jobs"]
    assert list(jobs["status"]) == ["done", "done"] and list(jobs["num_qpus"]) == [1, 3]
