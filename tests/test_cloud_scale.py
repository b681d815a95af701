"""The ``cloud`` scenario on long streams: what its checkpoints hold grows with the user jobs, not with the
engine runs (a per-shot job of N shots is N runs); a resume from any of them ends as the uninterrupted run;
checkpoints of the earlier layout (a summary per engine run) resume to the same result; the scheduler's and
the tables' work per event does not grow with the whole stream."""

import pytest

from dqsim.cli.main import main
from dqsim.engine import checkpoint
from dqsim.io import open_run
from dqsim.scenarios import cloud
from dqsim.scenarios.cloud_scheduler import Centre, QueuedJob, simulate_queue
from run_files import checkpoints, same_tables
from test_checkpoint_snapshot import saved_record

#: Three user jobs of 4 shots on a noisy pair of QPUs, one engine run per shot: 12 runs, 3 jobs.
PER_SHOT_JOB = """[run]
name = "cloud_scale"
scenario = "cloud"
seed = 5
[network]
topology = "line"
num_nodes = 2
[network.link]
distance_km = 1.0
source_fidelity = 0.9
dark_count_rate_hz = 0.0
[network.node]
num_data_qubits = 1
num_comm_qubits = 2
[scheduler]
policy = "fifo"
[simulation]
trajectories = "per_shot"
[[user_jobs]]
name = "a"
generator = "ghz"
num_qubits = 2
shots = 4
[[user_jobs]]
name = "b"
generator = "qft"
num_qubits = 2
shots = 4
arrival_s = 1e-6
[[user_jobs]]
name = "c"
generator = "ghz"
num_qubits = 2
shots = 4
arrival_s = 2e-6
"""
USER_JOBS, ENGINE_RUNS = 3, 12
TABLES = ["jobs", "counts", "centre", "wait_distribution"]


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    """The job run with a checkpoint every 10 µs of simulated time (a few in each engine run), all kept: (folder, output, checkpoints)."""
    folder = tmp_path_factory.mktemp("cloud_scale")
    job = folder / "job.toml"
    job.write_text(PER_SHOT_JOB)
    out = folder / "full.h5"
    assert main(["run", str(job), "-o", str(out), "--quiet", "--set", "checkpoint.every_sim_s=1e-5",
                 "--set", f"checkpoint.directory=\"{folder / 'ck'}\"", "--set", "checkpoint.keep=100"]) == 0
    return folder, open_run(out), checkpoints(folder / "ck")


def test_checkpoints_hold_one_summary_per_user_job_not_one_per_engine_run(checkpointed):
    """Before, a checkpoint written in engine run k held k summaries (one per finished engine run)."""
    _folder, full, ckpts = checkpointed
    assert full.attrs["total_engine_runs"] == ENGINE_RUNS
    runs = [open_run(p).attrs["engine_run"] for p in ckpts]
    assert max(runs) >= ENGINE_RUNS - 4, "a checkpoint in the last user job"
    held = [saved_record(path, "engine/results") for path in ckpts]
    sizes = [(len(results), engine_run // 4 + 1) for results, engine_run in zip(held, runs)]
    assert all(size <= user_jobs_begun for size, user_jobs_begun in sizes), sizes
    for results in held:
        kinds = [kind for kind, _ in results.values()]
        assert kinds.count("tally") <= 1 and set(kinds) <= {"job", "tally"}


def test_a_resume_from_any_checkpoint_of_the_stream_ends_as_the_uninterrupted_run(checkpointed, tmp_path,
                                                                                 monkeypatch):
    """Resumed from a checkpoint inside each user job: the same tables; only the interrupted engine run and
    those after it run again."""
    _folder, full, ckpts = checkpointed
    started = []
    original = cloud.run_dqc
    monkeypatch.setattr(cloud, "run_dqc", lambda *a, **k: started.append(1) or original(*a, **k))
    by_job = {}
    for path in ckpts:
        by_job.setdefault(open_run(path).attrs["engine_run"] // 4, path)
    assert len(by_job) == USER_JOBS
    for job, path in sorted(by_job.items()):
        started.clear()
        out = tmp_path / f"resumed{job}.h5"
        assert main(["resume", str(path), "-o", str(out), "--quiet"]) == 0
        assert len(started) == ENGINE_RUNS - open_run(path).attrs["engine_run"]
        same_tables(full, open_run(out), TABLES)


def _session(results, engine_run):
    resume = checkpoint.Resume(path="old.h5", engine_run=engine_run, window_end_ps=0, streams={}, last_touched={},
                               has_state=False, results=results)
    return checkpoint.CheckpointSession(directory=".", prefix="p", job_text="", meta={}, resume=resume)


def _part(bits, fidelity, time_ps, pairs):
    return cloud.Execution({bits: 1}, fidelity, time_ps, pairs, 1, 1)


def test_a_checkpoint_of_the_earlier_layout_folds_its_runs_into_the_same_results():
    """Engine-run summaries (``("done", Execution)`` per run, as checkpoints held before): a job whose runs all
    finished gives the result of its runs summed up, a job stopped in its runs goes on from a tally of them,
    and a failure ends its job; the folded entries replace the per-run ones."""
    parts = [_part("00", 1.0, 10, 1), _part("11", 0.5, 20, 2), _part("00", 0.25, 30, 3)]
    old = {0: ("done", parts[0]), 1: ("done", parts[1]), 2: ("done", parts[2]),  # job 1: 3 runs, all done
           3: ("done", parts[1]), 4: ("done", parts[0])}  # job 2 (4 runs): 2 done, run 5 interrupted
    session = _session(dict(old), engine_run=5)
    kind, result = cloud._stored_job(session, 3, "per-shot")
    assert kind == "job" and session.engine_runs == 3
    assert result == cloud.job_result(parts, "per-shot")
    kind, tally = cloud._stored_job(session, 4, "per-shot")
    assert kind == "tally" and session.engine_runs == 5 and tally.runs == 2 and tally.through == 4
    assert tally.counts == {"11": 1, "00": 1} and tally.dqc_time_ps == 30 and tally.epr_pairs == 3
    assert sorted(session.results) == [2, 4]
    failed = _session({0: ("done", parts[0]), 1: ("failed", "no route"), 2: ("done", parts[2])}, engine_run=3)
    assert cloud._stored_job(failed, 5, "per-shot") == ("failed", "no route") and failed.engine_runs == 2


def test_stored_runs_that_do_not_follow_one_another_are_refused_in_one_line():
    from dqsim.errors import DqsimError

    part = _part("00", 1.0, 10, 1)
    session = _session({0: ("done", part), 2: ("done", part)}, engine_run=3)
    with pytest.raises(DqsimError, match=r"^old\.h5: its stored results of engine runs 0\.\.2 do not follow one "
                                         r"another; resume it with the dqsim version that wrote it, or run the job "
                                         r"again$"):
        cloud._stored_job(session, 4, "per-shot")


def test_a_job_s_fold_gives_the_result_of_its_runs_to_the_bit():
    fidelities = [0.1 * k + 1e-17 * k * k for k in range(1, 40)]
    parts = [_part(f"{k % 5:03b}", f, 7 * k, k % 3) for k, f in enumerate(fidelities)]
    tally = cloud.JobTally()
    for index, part in enumerate(parts):
        tally.add(part, index)
    folded, listed = cloud.job_result(tally, "per-shot"), cloud.job_result(parts, "per-shot")
    assert folded == listed and list(folded.counts) == list(listed.counts)


def test_the_scheduler_compares_no_queued_jobs_when_it_starts_one(monkeypatch):
    """Starting a job took it out of the waiting list by comparing it with every job before it (``list.remove``,
    dataclass equality): quadratic in a backlog of 10^4 jobs when jobs start out of order (backfilling, SJF).
    Now equality is never called. Jobs of the whole centre (8 qubits, 100 ps) alternate with jobs of one QPU
    (2 qubits, 10 ps): behind each large head, backfilling starts small jobs that end before its shadow time."""
    compared = []
    original = QueuedJob.__eq__
    monkeypatch.setattr(QueuedJob, "__eq__", lambda a, b: compared.append(1) or original(a, b))
    centre = Centre.from_edges(4, [(0, 1), (1, 2), (2, 3)], data_qubits=2)
    jobs = [QueuedJob(i, f"j{i}", 8 if i % 2 == 0 else 2, submit_ps=0, estimate_ps=100 if i % 2 == 0 else 10)
            for i in range(200)]
    for policy in ("fifo", "sjf", "backfill"):
        records = simulate_queue(jobs, policy, centre, lambda job, qpus: job.estimate_ps)
        assert all(r.status == "done" for r in records)
        if policy == "backfill":  # j1 starts at 100 with j3, j5, j7 beside it (all end by 110, the shadow time of j2)
            assert [r.start_ps for r in records[:9]] == [0, 100, 110, 100, 210, 100, 310, 100, 410]
    assert not compared


@pytest.mark.parametrize("overrides, total", [
    ([], "8 in all (noiseless QPUs)"),  # one per user job: the run's total_engine_runs
    (["network.link.source_fidelity=0.9"], "at most 1,600 in all"),  # 8 jobs x 200 shots, one per shot
])
def test_dqsim_check_counts_a_cloud_job_s_engine_runs(overrides, total):
    """``dqsim check`` said how a user job's engine runs are counted but not how many a run takes: on a per-shot
    stream that number (the run's cost and what its checkpoints used to grow with) is the one to know."""
    from dqsim.cli.check import check_job
    from mpi_helper import ROOT

    lines = check_job(str(ROOT / "jobs" / "cloud_queue.toml"),
                      ['simulation.trajectories="per_shot"', *overrides], 1)
    work = [line for line in lines if "engine runs per job" in line]
    assert len(work) == 1 and total in work[0], lines


# --------------------------------------------------------------------------
# Streams of 10^4-10^6 user jobs: circuits, estimates, the cap, dqsim check's memory
# --------------------------------------------------------------------------

def stream_job(num_jobs, generators='["ghz", "qft", "random"]', rate_hz=1e6, extra=""):
    """A Poisson stream on a ring of 8 QPUs of 2 data qubits, with two listed jobs (one QASM, one too large)."""
    from dqsim.jobs import load_job_text
    from mpi_helper import ROOT

    return load_job_text(f"""[run]
name = "stream"
scenario = "cloud"
seed = 7
[network]
topology = "ring"
num_nodes = 8
[network.link]
distance_km = 1.0
[network.node]
num_data_qubits = 2
num_comm_qubits = 2
[scheduler]
policy = "backfill"
[[user_jobs]]
qasm = "{ROOT / 'jobs' / 'circuits' / 'bell_custom_gate.qasm'}"
shots = 3
[[user_jobs]]
generator = "ghz"
num_qubits = 40
[arrivals]
rate_hz = {rate_hz}
num_jobs = {num_jobs}
generators = {generators}
num_qubits = [1, 5]
depth = 3
shots = 7
{extra}""")


def test_jobs_of_one_circuit_share_it_and_get_the_estimates_a_job_by_job_computation_gives():
    """Each user job built its circuit and its estimate (a partition of the decomposed circuit) again: about
    1.2 ms a job. Now jobs of one generator and size (or seed, or QASM file) share one circuit, equal to the
    one built alone, and the estimates, made once per circuit and QPU set, equal those of estimate_duration_ps
    job by job."""
    from dqsim.circuit import generators
    from dqsim.scenarios.dqc import job_network

    job = stream_job(160)
    users = cloud.user_jobs_of(job)
    kinds = {(user.circuit.name, user.circuit.num_qubits) for user in users}
    assert len({id(user.circuit) for user in users}) == len(kinds) < len(users)
    for user in users:
        if user.circuit.name.startswith(("ghz", "qft")):
            fresh = generators.GENERATORS[user.circuit.name.split("_")[0]](user.circuit.num_qubits, measure=True)
            assert user.circuit == fresh
    network = job_network(job.network, 1, source=job.source)
    centre = Centre.from_graph(network.graph, network.names, [spec.num_data_qubits for spec in network.nodes])
    queued = cloud.queued_jobs(users, network, centre, user_latency_ps=11, job_setup_ps=5, shot_reset_ps=2)
    pair_ps = cloud._pair_ps(network)
    for user, entry in zip(users, queued):
        overhead = cloud.overhead_ps(user.shots, 5, 2)
        qpus = centre.select(user.circuit.num_qubits, range(centre.num_qpus))
        refusal = cloud.circuit_refusal(user.circuit) or ""
        expected = 11 + overhead
        if qpus is not None and not refusal:
            hops = [[min(abs(a - b), 8 - abs(a - b)) for b in qpus] for a in qpus]  # a ring's hops
            expected = cloud.estimate_duration_ps(user.circuit, capacities=[2] * len(qpus), node=network.nodes[0],
                                                  pair_ps=pair_ps, latency_ps=11, hops=hops,
                                                  num_executions=max(user.shots, 1), swap_ps=cloud._swap_ps(network),
                                                  two_comm=[network.nodes[q].num_comm_qubits >= 2 for q in qpus]
                                                  ) + overhead
        assert (entry.name, entry.num_qubits, entry.estimate_ps, entry.refusal) == \
            (user.name, user.circuit.num_qubits, expected, refusal), user.name
    assert sum(entry.refusal != "" or entry.num_qubits > 16 for entry in queued) >= 1


def test_a_stream_of_more_than_10_000_jobs_loads_and_the_cap_is_one_line(monkeypatch):
    """``[arrivals].num_jobs`` stopped at 10,000; now at 10**6 (memory and time per job measured in
    bench/results/cloud_scale-vm-20261206b.md), refused above in one line naming the key and the limit. A file
    of [[user_jobs]] alone past the cap met an AttributeError (it named [arrivals].num_jobs, absent)."""
    from dqsim.jobs import cloud as cloud_jobs
    from dqsim.jobs.errors import ConfigError

    assert stream_job(20_000).arrivals.num_jobs == 20_000
    with pytest.raises(ConfigError, match=r"^<string>: \[arrivals\]\.num_jobs = 1000001: must be <= 1_000_000"):
        stream_job(10**6 + 1)
    with pytest.raises(ConfigError, match=r"^<string>: \[arrivals\]\.num_jobs = 999999: makes 1,000,001 user jobs "
                                          r"with the 2 of \[\[user_jobs\]\]; at most 1_000_000 in all$"):
        stream_job(10**6 - 1)
    from dqsim.jobs import load_job_text

    monkeypatch.setattr(cloud_jobs, "MAX_CLOUD_JOBS", 1)  # the listed jobs alone past a cap of 1
    with pytest.raises(ConfigError, match=r"^<string>: \[\[user_jobs\]\]: lists 2 user jobs; at most 1 in all$"):
        load_job_text('[run]\nname = "c"\nscenario = "cloud"\n[network]\ntopology = "line"\nnum_nodes = 2\n'
                      '[network.link]\ndistance_km = 1.0\n[network.node]\nnum_data_qubits = 2\n'
                      + '[[user_jobs]]\ngenerator = "ghz"\nnum_qubits = 2\n' * 2)


def test_dqsim_check_gives_a_cloud_stream_s_memory():
    """``dqsim check`` said a run holds a row per user job, not how much: with 10**6 jobs allowed, the
    estimate (bytes per job and per instruction of each distinct circuit, measured) is what tells a
    user whether the stream fits."""
    from dqsim.cli.check import work_lines

    job = stream_job(5000, generators='["ghz", "qft"]')
    line = next(line for line in work_lines(job, 1) if line.startswith("memory per rank: one user job"))
    users = cloud.user_jobs_of(job)
    assert cloud.memory_bytes(users) == 5002 * cloud.BYTES_PER_USER_JOB + cloud.BYTES_PER_INSTRUCTION * sum(
        len(c.instructions) for c in {id(u.circuit): u.circuit for u in users}.values())
    assert f"about {cloud.memory_bytes(users) / 2**20:,.1f} MiB for the 5,002 user job(s) and their 12 distinct" \
           in line, line
