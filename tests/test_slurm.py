"""The SLURM scripts under a real SLURM: a sweep as a job array, its dependent merge, a 2-rank srun run.

The session fixture starts a one-node test cluster with tests/slurm/cluster.sh (installing Debian's
SLURM if it is missing) and stops it at the end; where a cluster was already up, it is used and
left running. The tests skip only where SLURM cannot be installed or started at all (not root,
no apt-get, no network for apt): cluster.sh says so with exit status 3.
"""

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dqsim.io import open_run
from mpi_helper import ROOT, child_env, run_here
from run_files import checkpoints, same_tables

CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
#: cluster.sh's exit status where SLURM cannot be installed or started on this machine.
CLUSTER_UNAVAILABLE = 3
SMALL_QKD = ["--set", "qkd.pulses=200000", "--set", "qkd.batch_pulses=100000", "--set", "qkd.block_pulses=200000"]
#: The job array's good tasks (a fourth task, a negative distance, fails): with it four tasks, two at a time on the
#: test cluster's 2 CPUs (was a fourth distance, 25 km: a third round of tasks).
DISTANCES_KM = [0.0, 50.0, 100.0]


def _conf_from(stdout: str) -> str:
    found = re.search(r"^export SLURM_CONF=(\S+)$", stdout, re.MULTILINE)
    assert found, f"cluster.sh printed no export line: {stdout!r}"
    return found.group(1)


@pytest.fixture(scope="session")
def slurm_env():
    """Environment for sbatch: SLURM_CONF of the test cluster, the venv's Python, one thread per rank."""
    env = {key: value for key, value in child_env().items()
           if not key.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_"))}  # not an enclosing job's
    env["DQSIM_PYTHON"] = sys.executable
    env["SRUN_MPI"] = "pmi2"  # the PyPI MPICH wheel of the test venv speaks PMI-2 (the scripts' default: pmix)
    status = subprocess.run(["bash", str(CLUSTER), "status"], env=env, capture_output=True, text=True, timeout=60)
    started_here = status.returncode != 0
    if started_here:
        up = subprocess.run(["bash", str(CLUSTER), "up"], env=env, capture_output=True, text=True, timeout=600)
        if up.returncode == CLUSTER_UNAVAILABLE:
            reason = (up.stderr.strip().splitlines() or ["(no reason given)"])[-1]
            pytest.skip(f"no SLURM test cluster on this machine: {reason}")
        assert up.returncode == 0, f"tests/slurm/cluster.sh up exited {up.returncode}:\n{up.stderr}"
        env["SLURM_CONF"] = _conf_from(up.stdout)
    else:
        env["SLURM_CONF"] = _conf_from(status.stdout)
    yield env
    if started_here:
        subprocess.run(["bash", str(CLUSTER), "down"], env=env, capture_output=True, text=True, timeout=120)


def sbatch(env, logs, *args) -> str:
    """``sbatch --parsable ARGS`` from the repository root; the job id (the job is queued, not waited for)."""
    cmd = ["sbatch", "--parsable", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}{proc.stderr}{_show(logs)}")
    return proc.stdout.strip().split(";")[0]


#: The states of a job (or array task) that has ended.
ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT")


def job_records(env, job_id: str) -> list[tuple[str, str, int]]:
    """``(array task id or job id, state, exit status)`` of each record ``scontrol show job`` has for ``job_id``."""
    shown = subprocess.run(["scontrol", "-o", "show", "job", job_id], env=env, capture_output=True, text=True,
                           timeout=30).stdout
    records = []
    for line in shown.splitlines():
        task = re.search(r"\bArrayTaskId=(\S+)", line) or re.search(r"\bJobId=(\S+)", line)
        state, status = re.search(r"\bJobState=(\S+)", line), re.search(r"\bExitCode=(\d+):", line)
        if task and state and status:
            records.append((task.group(1), state.group(1), int(status.group(1))))
    return records


def wait_for_job(env, logs, job_id: str, timeout_s: float = 240) -> dict[str, int]:
    """Wait until job ``job_id`` (every task of an array job) has ended; the exit status of each task
    (keyed by array task id, or by the job id).

    Polls four times a second: ``sbatch --wait`` polls 2, 10, 42, 74... s after the submission, up to
    half a minute late. On a timeout the message shows the queue, with why a job still waits (a job
    the cluster can never run stays pending for ever, e.g. more CPUs than the node has), and the files
    in ``logs``; the job is cancelled.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        records = job_records(env, job_id)
        if records and all(state in ENDED for _, state, _ in records):
            return {task: status for task, _, status in records}
        if time.monotonic() > deadline:
            queue = subprocess.run(["squeue", "-o", "%i %T %r"], env=env, capture_output=True, text=True, timeout=30)
            subprocess.run(["scancel", job_id], env=env, capture_output=True, timeout=30)
            raise AssertionError(f"job {job_id} did not end in {timeout_s} s: {records}; queue:\n{queue.stdout}"
                                 f"{_show(logs)}")
        time.sleep(0.25)


def _show(folder) -> str:
    return "".join(f"\n--- {p}\n{p.read_text()}" for p in sorted(folder.iterdir()) if p.is_file())


@pytest.mark.timeout(600)
def test_sweep_as_a_job_array_then_merge(slurm_env, tmp_path):
    """Three good tasks and one that fails (a negative distance): the merge runs after all (afterany),
    merges the three and names the failed one."""
    sweep = tmp_path / "sweep.txt"
    sweep.write_text("# one distance per task\n\n" + "".join(
        f"--set qkd.sweep.distances_km=[{d:g}]\n" if i % 2 else f"qkd.sweep.distances_km=[{d:g}]\n"
        for i, d in enumerate(DISTANCES_KM)) + "qkd.sweep.distances_km=[-5]\n")
    out_dir, logs = tmp_path / "out", tmp_path / "logs"
    logs.mkdir()
    num_tasks = len(DISTANCES_KM) + 1
    array_id = sbatch(slurm_env, logs, f"--array=0-{num_tasks - 1}", f"--output={logs}/task-%A_%a.out",
                      "slurm/sweep.sbatch", "jobs/bb84_distance_sweep.toml", str(sweep), str(out_dir), *SMALL_QKD)
    statuses = wait_for_job(slurm_env, logs, array_id)  # task 4's negative distance: status 2 (bad input)
    assert statuses == {**{str(task): 0 for task in range(len(DISTANCES_KM))}, str(len(DISTANCES_KM)): 2}, (
        f"{statuses}{_show(logs)}")
    for task, distance in enumerate(DISTANCES_KM):
        run = open_run(out_dir / f"task-{task}.h5")
        assert run.attrs["num_ranks"] == 1
        assert run.table("sweep")["distance_km"].tolist() == [distance]
        assert run.table("blocks")["pulses"].sum() == 200000
        log = (logs / f"task-{array_id}_{task}.out").read_text()
        assert f"sweep task {task} (array job {array_id})" in log
        assert re.search(r"^dqsim: \[ *[0-9.]+ s\] distances 1/1 \(100%\)$", log, re.MULTILINE), log  # progress
    failed = (logs / f"task-{array_id}_{len(DISTANCES_KM)}.out").read_text()
    assert "dqsim: error:" in failed and "[qkd.sweep].distances_km" in failed

    # The documented dependent step: merge.sbatch after the array (already ended: it starts at once).
    merge_id = sbatch(slurm_env, logs, f"--dependency=afterany:{array_id}", f"--output={logs}/merge-%j.out",
                      "slurm/merge.sbatch", str(out_dir), str(num_tasks))
    assert wait_for_job(slurm_env, logs, merge_id) == {merge_id: 1}, _show(logs)  # 1: a task is missing
    merge_log = next(logs.glob("merge-*.out")).read_text()
    assert f"task {len(DISTANCES_KM)} not merged" in merge_log, merge_log
    assert f"1 of {num_tasks} task(s) failed" in merge_log, merge_log
    merged = open_run(out_dir / "merged.h5")
    assert merged.attrs["num_tasks"] == len(DISTANCES_KM) and merged.attrs["scenario"] == "qkd"
    assert merged.attrs["missing_tasks"] == [len(DISTANCES_KM)]
    table = merged.table("sweep")
    assert table["task"].tolist() == list(range(len(DISTANCES_KM)))
    assert table["distance_km"].tolist() == DISTANCES_KM
    assert np.all(np.diff(table["secret_key_bits"]) <= 0)  # less key the longer the fibre
    tasks = merged.table("tasks")
    assert tasks["file"].tolist() == [f"task-{i}.h5" for i in range(len(DISTANCES_KM))]
    assert "total_secret_key_bits" in tasks.dtype.names
    assert tasks["qkd.sweep.distances_km"].tolist() == DISTANCES_KM  # the swept key as a typed column

    # By hand: dqsim merge with a quoted pattern gives the same rows.
    by_hand = tmp_path / "by_hand.h5"
    run_here(["merge", str(by_hand), str(out_dir / "task-*.h5")])  # in this process; status 0 or the test fails
    by_hand_sweep = open_run(by_hand).table("sweep")
    assert by_hand_sweep.dtype == table.dtype
    for name in table.dtype.names:  # NaN (a key rate's error from one block) equals NaN here
        np.testing.assert_array_equal(by_hand_sweep[name], table[name], err_msg=name)


@pytest.mark.timeout(300)
def test_dqsim_sbatch_runs_two_ranks_with_srun(slurm_env, tmp_path):
    """slurm/dqsim.sbatch on one node, 2 ranks (no GPUs on the test cluster: --gpus-per-task=0)."""
    out = tmp_path / "ghz.h5"
    job_id = sbatch(slurm_env, tmp_path, "--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1",
                    "--gpus-per-task=0", f"--output={tmp_path}/dqsim-%j.out", "slurm/dqsim.sbatch",
                    "jobs/quickstart.toml", "--set", "simulation.shots=100", "--output", str(out))
    assert wait_for_job(slurm_env, tmp_path, job_id) == {job_id: 0}, _show(tmp_path)
    run = open_run(out)
    assert run.attrs["num_ranks"] == 2
    assert set(run.table("counts")["bitstring"]) == {"0" * 16, "1" * 16}
    log = next(tmp_path.glob("dqsim-*.out")).read_text()
    assert "2 rank(s) on 1 node(s)" in log
    assert re.search(r"^# memory per rank: [0-9.]+ MiB \(data register: 16 qubits", log, re.MULTILINE), log  # check
    assert "dqsim: [" in log and "] gates 16/16 (100%)" in log  # progress lines in the log
    # the kernel warm-up, once, before srun: the job's complex128 state kernels, then the cache folder
    assert re.search(r"^dqsim warmup: \[1/1\] state-vector kernels, complex128 \.\.\. [0-9.]+ s CPU \([0-9]+ "
                     r"compiled, [0-9]+ loaded from the cache\)\ndqsim warmup: .*; numba's cache: ", log,
                     re.MULTILINE), log
    assert log.index("dqsim warmup: [1/1]") < log.index("dqsim: [")
    assert not (ROOT / "checkpoints" / job_id).exists()  # no checkpoint: no folder (the readiness folder's is removed)


#: A QKD run long enough to be interrupted, checkpointing every 0.5 ms of simulated time.
LONG_QKD = ["jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=40000000", "--set", "qkd.batch_pulses=250000",
            "--set", "qkd.block_pulses=2000000", "--set", "checkpoint.every_sim_s=0.0005", "--quiet"]
#: For the jobs whose subject is not the kernel warm-up (the requeues, preemptions, cancels): run_step.sh starts no
#: `dqsim warmup` before the ranks (DQSIM_WARMUP=0), a Python process loading the job's kernels (~2 s of CPU) at each
#: start and restart, one at a time before srun. Their kernels are in numba's cache already (the install's warm-up,
#: long_qkd_reference's run of the same job). The warm-up is checked by test_dqsim_sbatch_runs_two_ranks_with_srun
#: and done by the job array's tasks.
NO_WARMUP = {"DQSIM_WARMUP": "0"}


@pytest.fixture(scope="module")
def long_qkd_reference(tmp_path_factory):
    """LONG_QKD run without interruption on one rank, the reference of both requeue tests (the results do
    not depend on the number of ranks: the requeued job runs on 2 ranks, the sweep task on one)."""
    folder = tmp_path_factory.mktemp("long_qkd")
    reference = folder / "reference.h5"
    run_here(["run", *LONG_QKD, "-o", str(reference),  # in this process; its checkpoints: not in the repository
              "--set", f"checkpoint.directory=\"{folder / 'reference-ck'}\""])
    return reference


def wait_for_checkpoint(checkpoints) -> None:
    """Wait (at most 180 s) for the first checkpoint in ``checkpoints``."""
    deadline = time.monotonic() + 180
    while not list(checkpoints.glob("*.h5")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(checkpoints.glob("*.h5")), "no checkpoint appeared"


def usr1_once_checkpointed(env, job_id: str, checkpoints, scancel=("--signal=USR1", "--batch")) -> None:
    """Wait for the first checkpoint in ``checkpoints``, then send USR1 to the job's batch script (or run
    ``scancel`` with the options ``scancel``)."""
    wait_for_checkpoint(checkpoints)
    subprocess.run(["scancel", *scancel, job_id], env=env, check=True)


def final_state(env, job_id: str, done=lambda: True, timeout_s: float = 300) -> str:
    """The job's state once it has ended (and ``done()`` holds), or its state at the timeout."""
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:
        shown = subprocess.run(["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True).stdout
        state = shown.split("JobState=")[1].split()[0] if "JobState=" in shown else ""
        if state in ENDED and done():
            break
        time.sleep(0.25)
    return state


def checkpoint_after(checkpoints, log_file, line: str, timeout_s: float = 180) -> None:
    """Wait (at most ``timeout_s``) for ``line`` in ``log_file``, then for a checkpoint in ``checkpoints`` that was not
    there when it appeared (one the run started after that line writes)."""
    deadline = time.monotonic() + timeout_s
    while line not in (log_file.read_text() if log_file.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert line in log_file.read_text(), f"no {line!r} in the log:\n{log_file.read_text()}"
    before = {path.name for path in checkpoints.glob("*.h5")}
    while not {path.name for path in checkpoints.glob("*.h5")} - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert {path.name for path in checkpoints.glob("*.h5")} - before, f"no checkpoint after {line!r}"


@pytest.fixture(scope="module")
def requeued_twice(slurm_env, tmp_path_factory, request):
    """One 2-rank job of LONG_QKD stopped twice: USR1 to the batch script once its first checkpoint is there, then,
    once its restart has written a checkpoint of its own, ``scancel --signal=TERM --batch``; each time dqsim
    checkpoints and the job requeues itself, and it ends after its second restart. (Was a job per signal: one job
    start, one check, one start of the ranks and one whole run less.) The job's final state, its log up to the
    SIGTERM and after it, and its output. The uninterrupted run (:func:`long_qkd_reference`) runs in this process
    after the SIGTERM, while the job checkpoints, waits for SLURM's requeue hold and resumes."""
    folder = tmp_path_factory.mktemp("requeued_twice")
    out, checkpoints = folder / "requeued.h5", folder / "ck"
    env = dict(slurm_env, DQSIM_CHECKPOINT_DIR=str(checkpoints), **NO_WARMUP)
    job_id = sbatch(env, folder, "--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1", "--gpus-per-task=0",
                    f"--output={folder}/requeue-%j.out", "slurm/dqsim.sbatch", *LONG_QKD, "--output", str(out))
    log_file = folder / f"requeue-{job_id}.out"
    usr1_once_checkpointed(env, job_id, checkpoints)
    checkpoint_after(checkpoints, log_file, "run_step.sh: restart 1: resuming from")
    before_term = log_file.read_text()
    subprocess.run(["scancel", "--signal=TERM", "--batch", job_id], env=env, check=True)
    request.getfixturevalue("long_qkd_reference")  # no signal left to send: the reference meanwhile
    state = final_state(env, job_id, out.exists)
    log = log_file.read_text()
    return state, before_term, log[len(before_term):], out


@pytest.mark.timeout(600)
def test_usr1_checkpoints_requeues_and_resumes(requeued_twice, long_qkd_reference):
    """USR1 to the batch script: dqsim checkpoints, the job requeues itself, resumes, and ends like
    a run without interruption (on one rank). (Its job: :func:`requeued_twice`, the log up to its SIGTERM here.)"""
    state, log, after, out = requeued_twice
    assert state == "COMPLETED", log + after
    assert "requeueing job" in log and "restart 1: resuming from" in log, log
    assert "still starting" not in log + after and "said they hold the stop signals" not in log + after, log + after
    assert "dqsim warmup:" not in log + after, log + after  # DQSIM_WARMUP=0: no warm-up at the start nor restarts
    same_tables(open_run(long_qkd_reference), open_run(out), ["blocks", "links"])


@pytest.mark.timeout(600)
def test_sigterm_to_the_batch_script_checkpoints_requeues_and_resumes(requeued_twice, long_qkd_reference):
    """``scancel --signal=TERM --batch``: a SIGTERM to the batch script alone, the job not ended (JobState
    RUNNING). It ended the script by the default action (status 143, no requeue). Now the script passes USR1 to
    srun, dqsim checkpoints, the job requeues itself and resumes to the uninterrupted run's results. (Its job:
    :func:`requeued_twice`, in its first restart; the log from the SIGTERM on here.)"""
    state, before, log, out = requeued_twice
    assert state == "COMPLETED", before + log
    assert "run_step.sh: SIGTERM (JobState=RUNNING Reason=None): asking dqsim to checkpoint" in log, before + log
    assert "checkpoint written after the SIGTERM; requeueing job" in log and "restart 2: resuming from" in log, log
    same_tables(open_run(long_qkd_reference), open_run(out), ["blocks", "links"])


@pytest.fixture(scope="module")
def preempted_jobs(slurm_env, tmp_path_factory):
    """A 1-rank job of LONG_QKD in each of the test cluster's partitions ``preemptable`` (PreemptMode=REQUEUE) and
    ``preemptcancel`` (PreemptMode=CANCEL), both GraceTime=10 s, submitted together (one CPU each of the node's
    two), both preempted by one job in ``urgent`` that needs every CPU of the node, submitted once both have
    written a checkpoint (was a pair of jobs per partition, one after the other). Per partition: env, job id,
    folder, checkpoint folder and output; ``urgent``: the urgent job's id and its exit status by task (it has
    ended); each preempted job's final state."""
    node_cpus = partition_cpus_or_skip(slurm_env, "preemptable")
    partition_cpus_or_skip(slurm_env, "preemptcancel")
    jobs = {}
    for partition, output, log in (("preemptable", "preempted.h5", "preempted"),
                                   ("preemptcancel", "never.h5", "cancelled")):
        folder = tmp_path_factory.mktemp(partition)
        checkpoints = folder / "ck"
        env = dict(slurm_env, DQSIM_CHECKPOINT_DIR=str(checkpoints), **NO_WARMUP)
        job_id = sbatch(env, folder, f"--partition={partition}", "--nodes=1", "--ntasks-per-node=1",
                        "--cpus-per-task=1", "--gpus-per-task=0", f"--output={folder}/{log}-%j.out",
                        "slurm/dqsim.sbatch", *LONG_QKD, "--output", str(folder / output))
        jobs[partition] = {"env": env, "job_id": job_id, "folder": folder, "checkpoints": checkpoints,
                           "out": folder / output}
    for job in jobs.values():
        wait_for_checkpoint(job["checkpoints"])
    folder = jobs["preemptable"]["folder"]
    urgent_id = sbatch(slurm_env, folder, "--partition=urgent", "--ntasks=1", f"--cpus-per-task={node_cpus}",
                       f"--output={folder}/urgent-%j.out", "--wrap", "echo urgent job ran")
    jobs["urgent"] = (urgent_id, wait_for_job(slurm_env, folder, urgent_id, 120))
    for partition, job in jobs.items():
        if partition != "urgent":
            job["state"] = final_state(job["env"], job["job_id"], job["out"].exists if partition == "preemptable"
                                       else lambda: True)
    return jobs


@pytest.mark.timeout(600)
def test_preempted_job_checkpoints_requeues_and_resumes(preempted_jobs, long_qkd_reference):
    """A job in the test cluster's partition ``preemptable`` (PreemptMode=REQUEUE, GraceTime=10 s) preempted by one
    in ``urgent`` that needs every CPU of the node. SLURM 22.05 sends SIGTERM to the ranks at once (not to the batch
    script; JobState stays RUNNING, PreemptTime is set), so dqsim checkpoints (75) and run_step.sh requeues the job,
    which resumes to the uninterrupted run's results after the urgent job. Should the checkpoint outlast the grace
    time, the batch script's SIGTERM at its end finds the job requeued by SLURM, and run_step.sh leaves it so.
    (Its job: ``preemptable`` of :func:`preempted_jobs`.)"""
    job = preempted_jobs["preemptable"]
    env, job_id, state = job["env"], job["job_id"], job["state"]
    urgent_id, urgent_statuses = preempted_jobs["urgent"]
    log = next(job["folder"].glob("preempted-*.out")).read_text()
    assert state == "COMPLETED" and urgent_statuses == {urgent_id: 0}, log
    assert ("checkpoint written while SLURM preempts the job (PreemptTime=" in log and "requeueing job" in log) or (
        "SLURM requeues the job itself (a preemption): not requeueing it again" in log), log
    assert "cancelled" not in log and "restart 1: resuming from" in log and restarts_of(env, job_id) == 1, log
    same_tables(open_run(long_qkd_reference), open_run(job["out"]), ["blocks", "links"])


@pytest.mark.timeout(600)
def test_job_preempted_under_preempt_mode_cancel_checkpoints_and_stays_cancelled(preempted_jobs, long_qkd_reference,
                                                                                   tmp_path):
    """A job in the test cluster's partition ``preemptcancel`` (PreemptMode=CANCEL, GraceTime=10 s) preempted by one
    in ``urgent``: its ranks get SIGTERM at once and checkpoint, as under REQUEUE, but SLURM cancels such a job, and a
    requeue asked for within the grace time would undo that. run_step.sh does not requeue it: the job ends with the
    checkpoint's status (75), its log names the checkpoint, and resuming from it gives the uninterrupted run's
    results. (Its job: ``preemptcancel`` of :func:`preempted_jobs`, which waited for the urgent job's end.)"""
    job = preempted_jobs["preemptcancel"]
    env, job_id, state, checkpoints = job["env"], job["job_id"], job["state"], job["checkpoints"]
    urgent_id, urgent_statuses = preempted_jobs["urgent"]
    assert urgent_statuses == {urgent_id: 0}
    log = next(job["folder"].glob("cancelled-*.out")).read_text()
    # ended by the script within GraceTime, with the checkpoint's status (PREEMPTED where SLURM's cancel came first)
    assert job_records(env, job_id) == [(job_id, "FAILED", 75)] and final_state(env, job_id, timeout_s=1) == state, log
    assert restarts_of(env, job_id) == 0 and "requeueing job" not in log and "restart 1" not in log, log
    named = re.search(r"^run_step\.sh: checkpoint written while SLURM preempts the job \(PreemptTime=\S+\), a "
                      r"preemption SLURM ends with a cancel \(its partition's PreemptMode=CANCEL\): not requeueing; to go "
                      rf"on from the checkpoint: scontrol requeue {job_id}, or by hand: dqsim resume (\S+)$", log,
                      re.MULTILINE)
    assert named and named.group(1).startswith(str(checkpoints)), log
    out = tmp_path / "resumed.h5"
    run_here(["resume", named.group(1), "-o", str(out), "--quiet"])
    same_tables(open_run(long_qkd_reference), open_run(out), ["blocks", "links"])


def partition_cpus_or_skip(env, partition: str) -> str:
    """The CPU count of the node in the test cluster's ``partition`` (as sinfo gives it), or a skip where the running
    cluster was started by an older cluster.sh without that partition."""
    shown = subprocess.run(["sinfo", "-h", "-N", "-p", partition, "-o", "%c"], env=env, capture_output=True, text=True,
                           timeout=30).stdout.split()
    if not shown:
        pytest.skip(f"the running test cluster has no partition {partition!r} (started by an older cluster.sh: "
                    "tests/slurm/cluster.sh down, then up)")
    return shown[0]


def restarts_of(env, job_id: str) -> int:
    shown = subprocess.run(["scontrol", "-o", "show", "job", job_id], env=env, capture_output=True, text=True).stdout
    return int(re.search(r"\bRestarts=(\d+)", shown).group(1))


@pytest.mark.timeout(420)
def test_scancel_is_not_undone_by_a_requeue(slurm_env, tmp_path):
    """``scancel JOBID`` while dqsim runs: SLURM sends SIGTERM to the batch script (and srun, and the ranks).
    The script logs it with the job's state (COMPLETING: SLURM ends the job) and does not requeue the job,
    which stays cancelled (before, the script died by the SIGTERM without a line)."""
    checkpoints = tmp_path / "ck"
    env = dict(slurm_env, DQSIM_CHECKPOINT_DIR=str(checkpoints), DQSIM_TERM_WAIT_S="3", **NO_WARMUP)  # KillWait=5 there
    job_id = sbatch(env, tmp_path, "--nodes=1", "--ntasks-per-node=1", "--cpus-per-task=1", "--gpus-per-task=0",
                    f"--output={tmp_path}/cancelled-%j.out", "slurm/dqsim.sbatch", *LONG_QKD,
                    "--output", str(tmp_path / "never.h5"))
    usr1_once_checkpointed(env, job_id, checkpoints, scancel=())
    # An ended state only once the batch script has ended (until then scontrol shows COMPLETING): a requeue it
    # asked for (`scontrol requeue` returns once slurmctld has requeued the job) has made the job PENDING by then,
    # and final_state waits on through the resumed run, which ends COMPLETED (a silent requeue in the script's
    # cancelled branch fails here so); no fixed wait after it.
    state = final_state(env, job_id)
    log = next(tmp_path.glob("cancelled-*.out")).read_text()
    assert state == "CANCELLED" and final_state(env, job_id, timeout_s=1) == "CANCELLED", log
    assert restarts_of(env, job_id) == 0, log
    assert "run_step.sh: SIGTERM (JobState=COMPLETING" in log and "SLURM is ending the job" in log, log
    assert "not requeueing" in log and "requeueing job" not in log, log


@pytest.mark.timeout(420)
@pytest.mark.skipif(os.environ.get("DQSIM_TEST_SLURM_TIME_LIMIT") != "1",
                    reason="waits ~90 s for SLURM's shortest time limit (1 min); DQSIM_TEST_SLURM_TIME_LIMIT=1 runs it "
                           "(the suite's fake-scontrol test checks the script's TimeLimit rule)")
def test_time_limit_sigterm_checkpoints_and_requeues(slurm_env, tmp_path):
    """A job that reaches its time limit without an early USR1 (here no --signal at all): SLURM sends SIGTERM to
    the batch script, srun and the ranks (JobState COMPLETING, Reason TimeLimit). The ranks checkpoint within
    KillWait and the script requeues the job, which resumes; then a scancel ends it for good.

    Opt-in (``DQSIM_TEST_SLURM_TIME_LIMIT=1``): SLURM's shortest limit is a minute, so it waits ~90 s, which the
    CI suite's ~10-minute budget does not hold; passed on the test cluster on 2026-12-06 (87 s)."""
    checkpoints = tmp_path / "ck"
    env = dict(slurm_env, DQSIM_CHECKPOINT_DIR=str(checkpoints), DQSIM_TERM_WAIT_S="3", **NO_WARMUP)  # KillWait=5 there
    job_id = sbatch(env, tmp_path, "--nodes=1", "--ntasks-per-node=1", "--cpus-per-task=1", "--gpus-per-task=0",
                    "--time=1", "--signal=B:23@1",  # SIGURG, which bash ignores, for the script's B:USR1@300
                    f"--output={tmp_path}/limit-%j.out", "slurm/dqsim.sbatch", "jobs/bb84_decoy_50km.toml",
                    "--set", "qkd.pulses=100000000000", "--set", "qkd.batch_pulses=1000000", "--set",
                    "qkd.block_pulses=10000000", "--set", "checkpoint.every_sim_s=1", "--quiet",
                    "--output", str(tmp_path / "never.h5"))
    log_file = tmp_path / f"limit-{job_id}.out"
    deadline = time.monotonic() + 240  # the limit (60 s) is enforced within 30 s; the requeued job starts ~6 s later
    while time.monotonic() < deadline and "restart 1: resuming from" not in (
            log_file.read_text() if log_file.exists() else ""):
        time.sleep(0.5)
    subprocess.run(["scancel", job_id], env=env, capture_output=True)  # an error where it ended already
    state = final_state(env, job_id)
    log = log_file.read_text()
    assert "run_step.sh: SIGTERM (JobState=COMPLETING Reason=TimeLimit: SLURM is ending the job): asking dqsim" in log, log
    assert "checkpoint written after the SIGTERM; requeueing job" in log and "restart 1: resuming from" in log, log
    assert state == "CANCELLED" and restarts_of(env, job_id) == 1, log  # the scancel after it: not requeued


@pytest.mark.timeout(420)
def test_restart_cap_stops_requeueing(slurm_env, tmp_path):
    """With DQSIM_MAX_RESTARTS=0 a checkpointed job is not requeued: it ends with status 75 and names
    the checkpoint to resume from."""
    checkpoints = tmp_path / "ck"
    env = dict(slurm_env, DQSIM_CHECKPOINT_DIR=str(checkpoints), DQSIM_MAX_RESTARTS="0", **NO_WARMUP)
    job_id = sbatch(env, tmp_path, "--nodes=1", "--ntasks-per-node=1", "--cpus-per-task=1", "--gpus-per-task=0",
                    f"--output={tmp_path}/capped-%j.out", "slurm/dqsim.sbatch", *LONG_QKD,
                    "--output", str(tmp_path / "never.h5"))
    usr1_once_checkpointed(env, job_id, checkpoints)
    state = final_state(env, job_id)
    log = next(tmp_path.glob("capped-*.out")).read_text()
    assert state == "FAILED", log
    assert "not requeueing; continue by hand with: dqsim resume " + str(checkpoints) in log, log
    assert "requeueing job" not in log and not (tmp_path / "never.h5").exists()


@pytest.mark.timeout(420)
def test_sweep_task_checkpoints_requeues_and_resumes(slurm_env, long_qkd_reference, tmp_path):
    """A sweep task (array task) interrupted by USR1 checkpoints into OUT_DIR/checkpoints/task-i,
    requeues itself and resumes to the same result as an uninterrupted run."""
    sweep = tmp_path / "sweep.txt"
    sweep.write_text("qkd.link.distance_km=50\n")  # the job's own distance: the reference's
    out_dir = tmp_path / "out"
    env = dict(slurm_env, **NO_WARMUP)
    array_id = sbatch(env, tmp_path, "--array=0-0", f"--output={tmp_path}/task-%A_%a.out",
                      "slurm/sweep.sbatch", LONG_QKD[0], str(sweep), str(out_dir), *LONG_QKD[1:])
    task_id = f"{array_id}_0"
    usr1_once_checkpointed(env, task_id, out_dir / "checkpoints" / "task-0")
    out = out_dir / "task-0.h5"
    state = final_state(env, task_id, out.exists)
    log = next(tmp_path.glob("task-*.out")).read_text()
    assert state == "COMPLETED", log
    assert "requeueing job" in log and "restart 1: resuming from" in log, log
    same_tables(open_run(long_qkd_reference), open_run(out), ["blocks", "links"])


def _prefix(*overrides):
    """The checkpoints' prefix of jobs/dqc_ghz_4qpu.toml with ``overrides``: its name and configuration hash."""
    from dqsim import jobs
    from dqsim.engine import checkpoint

    job = jobs.apply_overrides(jobs.load_job(ROOT / "jobs" / "dqc_ghz_4qpu.toml"), list(overrides))
    return checkpoint.checkpoint_prefix(job.run.name, jobs.config_sha256(job))


def test_repro_a_requeued_job_resumes_only_its_own_checkpoints(tmp_path):
    """A checkpoint folder shared by several jobs (DQSIM_CHECKPOINT_DIR exported for all): a requeued job
    resumed the newest checkpoint of any job there (by name: here 'zzz_other'), running another job; then of
    any job of its own [run].name (here another seed), running that one. Checkpoints now carry the name and a
    hash of the resolved job, which run_step.sh gets from `dqsim check`. run_step.sh's own functions, without
    a cluster (dqsim_step replaced by an echo). The first step asks `dqsim check` itself (checkpoint_prefix's own
    process); the others read what `dqsim check` printed in this process (:func:`mpi_helper.run_here`), given as
    check_job's output for the same arguments (DQSIM_PYTHON=false: no process; was a `dqsim check` process each,
    ~2 s of CPU for dqsim's imports)."""
    ck = tmp_path / "ck"
    ck.mkdir()
    mine, other, same_name = (_prefix('run.name="mine"'), _prefix('run.name="zzz_other"'),
                              _prefix('run.name="mine"', "run.seed=2"))
    assert len({mine, other, same_name}) == 3 and same_name.startswith("mine.")
    for prefix in (mine, other, same_name):
        for time_ps in ("00000000000000000001", "00000000000000000002", "00000000000000000003"):
            if prefix == mine and time_ps.endswith("3"):
                continue  # the other job of this name got further
            for suffix in (".h5", ".manifest.json"):
                (ck / f"{prefix}.ckpt000-{time_ps}{suffix}").write_bytes(b"")

    def steps(*sets, checked_here=True):
        given = " ".join(f"--set {s!r}" for s in sets)
        checked = ""  # checkpoint_prefix asks `dqsim check` (DQSIM_PYTHON) for its prefix
        if checked_here:  # check_job's output for the same arguments, from `dqsim check` run here
            shown = run_here(["check", "jobs/dqc_ghz_4qpu.toml", "-n", "1", "--set", f'checkpoint.directory="{ck}"',
                              *(word for s in sets for word in ("--set", s)), "-o", "out.h5"]).stdout
            (tmp_path / "checked.txt").write_text(shown)
            checked = (f"set_args {given} -o out.h5; CHECKED_ARGS=$(printf '%q ' jobs/dqc_ghz_4qpu.toml -n 1 --no-time "
                       f"\"${{SET_ARGS[@]}}\"); CHECKED_OUTPUT=$(cat {tmp_path / 'checked.txt'}); DQSIM_PYTHON=false; ")
        script = (f"set -euo pipefail; source slurm/run_step.sh; CHECKPOINT_DIR={ck}; DQSIM_PYTHON={sys.executable}; "
                  f"SLURM_RESTART_COUNT=1; dqsim_step() {{ echo \"STEP $*\"; STATUS=0; }}; {checked}"
                  f"run_or_resume jobs/dqc_ghz_4qpu.toml {given} -o out.h5 --quiet")
        proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        return [line for line in proc.stdout.splitlines() if line.startswith("STEP ")], proc.stdout

    assert steps('run.name="mine"', checked_here=False)[0] == [
        f"STEP resume {ck}/{mine}.ckpt000-00000000000000000002.h5 --fall-back -o out.h5 --quiet"]
    for name in (f"{mine}.ckpt999-00000000000000000009", f"{mine}.ckpt1000-00000000000000000001"):  # > 999 runs
        for suffix in (".h5", ".manifest.json"):
            (ck / f"{name}{suffix}").write_bytes(b"")
    assert steps('run.name="mine"')[0] == [
        f"STEP resume {ck}/{mine}.ckpt1000-00000000000000000001.h5 --fall-back -o out.h5 --quiet"]
    assert steps('run.name="mine"', "run.seed=2")[0] == [
        f"STEP resume {ck}/{same_name}.ckpt000-00000000000000000003.h5 --fall-back -o out.h5 --quiet"]
    fresh, said = steps('run.name="mine"', "run.seed=3")  # none of its own: a fresh run, not the others' of its name
    assert len(fresh) == 1 and fresh[0].startswith("STEP run jobs/dqc_ghz_4qpu.toml --set checkpoint.directory="), fresh
    assert "ignoring the checkpoints of 2 other job(s) named 'mine' (another configuration)" in said, said
    fresh, said = steps('run.name="new_job"')
    assert len(fresh) == 1 and fresh[0].startswith("STEP run ") and "ignoring" not in said, said


def test_a_requeued_qasm_job_resumes_its_checkpoints_named_by_the_former_configuration_hash(tmp_path):
    """A QASM job started before 2026-12-07, when the configuration hash held the QASM file's absolute path (now its
    SHA-256), and requeued after: ``dqsim check`` prints that prefix too, and run_step.sh resumes those checkpoints
    where the job has none of its own (without a cluster, as above; ``dqsim check`` runs here, and run_step.sh reads
    what it printed as it reads check_job's)."""
    from dqsim import jobs
    from dqsim.engine import checkpoint

    job = jobs.load_job(ROOT / "jobs" / "random_qasm.toml")
    now, former = (checkpoint.checkpoint_prefix(job.run.name, digest(job))
                   for digest in (jobs.config_sha256, jobs.config_sha256_by_path))
    assert now != former
    ck = tmp_path / "ck"
    ck.mkdir()
    checked = tmp_path / "checked.txt"
    folder = f'checkpoint.directory="{ck}"'  # as run_or_resume passes it
    checked.write_text(run_here(["check", "jobs/random_qasm.toml", "-n", "1", "--set", folder, "-o", "out.h5"]).stdout)

    def step():
        script = (f"set -euo pipefail; source slurm/run_step.sh; CHECKPOINT_DIR={ck}; "
                  "SLURM_RESTART_COUNT=1; dqsim_step() { echo \"STEP $*\"; STATUS=0; }; "
                  "CHECKED_ARGS=$(printf '%q ' jobs/random_qasm.toml -n 1 --no-time --set "
                  f"{shlex.quote(folder)} -o out.h5); "
                  f"CHECKED_OUTPUT=$(cat {checked}); DQSIM_PYTHON=false; "
                  "run_or_resume jobs/random_qasm.toml -o out.h5 --quiet")
        proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        return [line for line in proc.stdout.splitlines() if line.startswith("STEP ")]

    for prefix, time_ps in ((former, "00000000000000000002"), (now, "00000000000000000001")):
        for suffix in (".h5", ".manifest.json"):
            (ck / f"{prefix}.ckpt000-{time_ps}{suffix}").write_bytes(b"")
        assert step() == [f"STEP resume {ck}/{prefix}.ckpt000-{time_ps}.h5 --fall-back -o out.h5 --quiet"]


def test_repro_a_requeued_job_whose_run_had_finished_is_not_run_again(tmp_path):
    """A requeue (SLURM_RESTART_COUNT > 0) of a job whose run had finished, and removed its checkpoints (a
    preemption at its very end, which SLURM requeues itself), found no checkpoint and ran the job again from the
    start. Now such a run gets ``--skip-finished``: dqsim sees that the output is whole and holds this job's
    results, ends with status 0 and one line, and finish_step with it; the output stays as it was. A first run
    (no restart) does not get it, and an output of another configuration is run again. run_step.sh's own
    functions with mpiexec (DQSIM_LAUNCHER=mpiexec), without a cluster."""
    if not (Path(sys.executable).parent / "mpiexec").exists():
        pytest.skip("no mpiexec beside this Python; install the 'mpi' extra")
    ck, out = tmp_path / "ck", tmp_path / "out.h5"
    ghz = [str(ROOT / "jobs" / "dqc_ghz_4qpu.toml"), "-o", str(out), "--set", f'checkpoint.directory="{ck}"']
    run_here(["run", *ghz, "--quiet"])
    listed, written = (tmp_path / "out.h5.manifest.json").read_bytes(), out.stat().st_mtime_ns

    def requeue(restarts, stub=""):
        script = (f"set -euo pipefail; source slurm/run_step.sh; CHECKPOINT_DIR={ck}; DQSIM_PYTHON={sys.executable}; "
                  f"DQSIM_LAUNCHER=mpiexec; SLURM_RESTART_COUNT={restarts}; SLURM_NTASKS=1; {stub}"
                  f"run_or_resume jobs/dqc_ghz_4qpu.toml -o {out} --quiet; finish_step")
        return subprocess.run(["bash", "-c", script], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                              timeout=180)

    done = requeue(1)
    assert done.returncode == 0, done.stderr
    said = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    note = f"dqsim: note: {out} holds this job's finished results (whole as its manifest lists it, written "
    assert len(said) == 1 and said[0].startswith(note) and \
        said[0].endswith("): not running it again (--skip-finished)"), said
    assert (tmp_path / "out.h5.manifest.json").read_bytes() == listed and out.stat().st_mtime_ns == written
    echo = "checkpoint_prefix() { :; }; dqsim_step() { echo \"STEP $*\"; STATUS=0; }; "
    steps = [line for restarts in (0, 1) for line in requeue(restarts, echo).stdout.splitlines()]
    assert [line.split("--quiet")[-1] for line in steps] == ["", " --skip-finished --stop-if-edited"], steps
    again = run_here(["run", *ghz, "--set", "run.seed=2", "--skip-finished", "--quiet"])
    assert "not running it again" not in again.stderr and (tmp_path / "out.h5.manifest.json").read_bytes() != listed


def test_repro_a_resume_that_fails_after_its_checkpoint_was_read_is_not_run_again_from_an_older_one(tmp_path):
    """run_step.sh resumed the next older checkpoint after any status 2 of a resume: also after one that had run
    for hours and then failed (a stop checkpoint or the output that could not be written), running the job's
    tail again from further back. Now dqsim picks the checkpoint (``dqsim resume --fall-back``, which goes back
    only for a checkpoint it refuses) and run_step.sh launches one resume. run_step.sh's own functions, without a
    cluster (dqsim_step replaced by an echo that fails with status 2)."""
    ck = tmp_path / "ck"
    ck.mkdir()
    mine = _prefix()
    for time_ps in ("00000000000000000001", "00000000000000000002"):
        for suffix in (".h5", ".manifest.json"):
            (ck / f"{mine}.ckpt000-{time_ps}{suffix}").write_bytes(b"")
    script = (f"set -euo pipefail; source slurm/run_step.sh; CHECKPOINT_DIR={ck}; DQSIM_PYTHON={sys.executable}; "
              "SLURM_RESTART_COUNT=1; dqsim_step() { echo \"STEP $*\"; STATUS=2; }; "
              "run_or_resume jobs/dqc_ghz_4qpu.toml -o out.h5; echo \"STATUS $STATUS\"")
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("STEP ", "STATUS "))]
    assert lines == [f"STEP resume {ck}/{mine}.ckpt000-00000000000000000002.h5 --fall-back -o out.h5", "STATUS 2"]


def test_repro_a_usr1_before_dqsim_starts_requeues_the_job_instead_of_ending_the_batch_script(tmp_path):
    """A USR1 to the batch script before run_step.sh launched dqsim (SLURM's --signal=B:USR1 or ``scancel
    --signal=USR1 --batch`` while ``dqsim check`` or the warm-up ran) ended the script by the signal's default
    action: status 138, no requeue, the job failed. Now the script starts no dqsim and requeues the job, as
    after a checkpoint. run_step.sh's own functions, without a cluster (scontrol replaced by an echo); the
    signal comes as the step is about to start, after ``dqsim check`` ran (check_job, as dqsim.sbatch's first start
    runs it: run_or_resume reads the checkpoint prefix from its output; was a second ``dqsim check`` process)."""
    out = tmp_path / "out.h5"
    script = (f"set -euo pipefail; source slurm/run_step.sh; CHECKPOINT_DIR={tmp_path / 'ck'}; "
              f"DQSIM_PYTHON={sys.executable}; DQSIM_LAUNCHER=mpiexec; SLURM_JOB_ID=7; SLURM_RESTART_COUNT=0; "
              "scontrol() { echo \"SCONTROL $*\"; }; "
              f"check_job jobs/dqc_ghz_4qpu.toml -o {out} --quiet >/dev/null; kill -USR1 $$; "
              f"run_or_resume jobs/dqc_ghz_4qpu.toml -o {out} --quiet; finish_step")
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout.splitlines() == [
        "run_step.sh: USR1 before dqsim started: not starting it",
        "run_step.sh: stopped before dqsim started; requeueing job 7 (restart 1 of at most 5)",
        "SCONTROL requeue 7"], proc.stdout
    assert not out.exists() and not (tmp_path / "ck").exists()


def test_repro_a_stop_outside_slurm_ends_with_one_line_and_status_75(tmp_path):
    """userwalk3 D5: slurm/dqsim.sbatch run by hand outside SLURM (DQSIM_LAUNCHER=mpiexec, no SLURM_JOB_ID) ended its
    checkpoint path with a raw bash error (``SLURM_JOB_ID: parameter null or not set``) and status 1, from
    ``scontrol requeue ${SLURM_JOB_ID:?}``. Now it says it is not under SLURM, requeues nothing and ends with 75
    (scontrol replaced by an echo that would show a requeue); the USR1 comes before dqsim starts, as in the test
    above, so there is no checkpoint to name."""
    out = tmp_path / "out.h5"
    script = (f"set -euo pipefail; source slurm/run_step.sh; CHECKPOINT_DIR={tmp_path / 'ck'}; "
              f"DQSIM_PYTHON={sys.executable}; DQSIM_LAUNCHER=mpiexec; unset SLURM_JOB_ID; SLURM_RESTART_COUNT=0; "
              "scontrol() { echo \"SCONTROL $*\"; }; kill -USR1 $$; "
              f"run_or_resume jobs/dqc_ghz_4qpu.toml -o {out} --quiet; finish_step")
    env = {key: value for key, value in child_env().items() if key != "SLURM_JOB_ID"}
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 75, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout.splitlines() == ["run_step.sh: USR1 before dqsim started: not starting it"], proc.stdout
    assert proc.stderr.splitlines() == [
        "run_step.sh: stopped before dqsim started; not under SLURM (no SLURM_JOB_ID): not requeued; no checkpoint "
        "to resume: run the job again"], proc.stderr


def test_readme_names_every_setting_of_the_scripts():
    """Every variable the SLURM scripts read with a default (``${NAME:-...}``), but SLURM's own and the ones the
    scripts set for each other, is named in docs/slurm.md (README's "## SLURM" section until 2026-12-07 (night);
    DQSIM_VENV, DQSIM_SLURM_SCRIPTS and MERGED were not)."""
    scripts = "".join(path.read_text() for path in sorted((ROOT / "slurm").iterdir()) if path.suffix in (".sbatch", ".sh"))
    settings = set(re.findall(r"\$\{([A-Z_]+):-", scripts)) - {"CHECKPOINT_DIR", "CHECKPOINT_PREFIX"}
    settings = {name for name in settings if not name.startswith("SLURM_")}
    section = (ROOT / "docs" / "slurm.md").read_text()
    assert section.startswith("# SLURM\n") and "\n## Settings of the scripts\n" in section
    assert {"DQSIM_PYTHON", "SRUN_MPI", "DQSIM_WARMUP"} <= settings
    assert sorted(name for name in settings if f"`{name}`" not in section) == []


def test_a_first_start_asks_dqsim_check_once_for_the_log_and_the_checkpoint_prefix(tmp_path):
    """run_step.sh's check_job (the log's work and memory lines) and checkpoint_prefix (the checkpoints' names) each
    started ``dqsim check`` with the same arguments at a job's first start in dqsim.sbatch: two Python processes with
    dqsim's imports, one after the other, before the ranks. Now checkpoint_prefix reads check_job's output where the
    arguments are the same, and asks ``dqsim check`` itself otherwise (other arguments; a restart, which runs no
    check_job; a check that failed). A fake DQSIM_PYTHON, which fails for a job named "bad", counts the calls."""
    calls = tmp_path / "calls"
    fake = tmp_path / "python"
    fake.write_text(f'#!/usr/bin/env bash\necho "$*" >> {calls}\necho "# memory per rank: 1 MiB"\n'
                    'case "$*" in *bad*) echo "dqsim: error: bad" >&2; exit 2 ;; esac\n'
                    'echo "# work: 2 gates"; echo "# checkpoint prefix: fake.0123abcd (run.name and hash)"\n')
    fake.chmod(0o755)
    named = "--set 'run.name=\"a b\"' -o out.h5"
    script = (f"set -euo pipefail; source slurm/run_step.sh; CHECKPOINT_DIR={tmp_path / 'ck'}; DQSIM_PYTHON={fake}; "
              f"SLURM_NTASKS=2; check_job jobs/quickstart.toml {named}; "
              f"echo \"SAME $(checkpoint_prefix jobs/quickstart.toml {named})\"; "
              f"echo \"OTHER $(checkpoint_prefix jobs/quickstart.toml {named} --set run.seed=2)\"; "
              "check_job jobs/quickstart.toml --set run.name=bad || echo \"REFUSED $?\"; "
              "echo \"AFTER $(checkpoint_prefix jobs/quickstart.toml --set run.name=bad)\"")
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["# memory per rank: 1 MiB", "# work: 2 gates", "SAME fake.0123abcd",
                                        "OTHER fake.0123abcd", "# memory per rank: 1 MiB", "REFUSED 2", "AFTER "]
    asked = calls.read_text().splitlines()
    assert len(asked) == 4, asked  # check_job, the other arguments' prefix, the bad check_job and its prefix
    assert "run.name=\"a b\" -o out.h5" in asked[0] and asked[1].endswith("--set run.seed=2"), asked
    assert asked[0].startswith("-m dqsim check jobs/quickstart.toml -n 2 --no-time --set checkpoint.directory="), asked
    assert "dqsim: error: bad" in proc.stderr


FAKE_SRUN = """#!/usr/bin/env bash
# srun standing in for the ranks: USR1 asks for the stop (status 75, as dqsim after its checkpoint), unless
# FAKE_IGNORE_USR1=1; it says it holds the stop signals (its file in DQSIM_READY_DIR, as each dqsim rank) unless
# FAKE_NEVER_READY=1, and sends SIGTERM to the batch shell that launched it, as scancel would.
if [ "${FAKE_IGNORE_USR1:-0}" = 1 ]; then trap 'echo "FAKE srun: USR1 (ignored)"' USR1
else trap 'echo "FAKE srun: USR1"; exit 75' USR1; fi
[ "${FAKE_NEVER_READY:-0}" = 1 ] || touch "$DQSIM_READY_DIR/fake.$$"
[ -z "${FAKE_EXIT_STATUS:-}" ] || exit "$FAKE_EXIT_STATUS"  # a step that ends by itself, no SIGTERM to the shell
sleep 0.3  # the batch shell has noted this launch
kill -TERM "$PPID"
for _ in $(seq 300); do  # ends with the batch shell (then this process has another parent)
    sleep 0.1
    read -r _ _ _ parent _ < /proc/$$/stat
    [ "$parent" = "$PPID" ] || exit 0
done
exit 0
"""
FAKE_SCONTROL = """#!/usr/bin/env bash
# scontrol answering `scontrol -o show job ID` with FAKE_JOB_STATE (and FAKE_REASON, FAKE_REQUEUE, FAKE_RESTARTS,
# FAKE_PREEMPT_TIME), `scontrol -o show partition fakepart` with FAKE_PREEMPT_MODE (default REQUEUE) and
# `scontrol requeue ID` with a line.
case "$1 $2 $3" in
    "-o show job") echo "JobId=$4 JobName=fake UserId=u(1) JobState=$FAKE_JOB_STATE Reason=${FAKE_REASON:-None}" \\
                        "Requeue=${FAKE_REQUEUE:-1} Restarts=${FAKE_RESTARTS:-0}" \\
                        "PreemptTime=${FAKE_PREEMPT_TIME:-None} Partition=fakepart" ;;
    "-o show partition") echo "PartitionName=$4 GraceTime=10 PreemptMode=${FAKE_PREEMPT_MODE:-REQUEUE} State=UP" ;;
    requeue*) echo "SCONTROL requeue $2" ;;
esac
"""


def sigterm_during_step(tmp_path, job_state: str, **env):
    """run_step.sh's dqsim_step and finish_step with a fake srun that sends SIGTERM to the batch shell once it
    runs, and a fake scontrol that shows the job in ``job_state``: (exit status, stdout lines, stderr, seconds)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    child = child_env()
    child.update(env, FAKE_JOB_STATE=job_state, PATH=f"{bin_dir}:{child['PATH']}")
    script = (f"set -euo pipefail; source slurm/run_step.sh; CHECKPOINT_DIR={tmp_path / 'ck'}; "
              f"DQSIM_PYTHON={sys.executable}; SLURM_JOB_ID=7; SLURM_RESTART_COUNT=0; "
              "dqsim_step run jobs/quickstart.toml; finish_step")
    start = time.monotonic()
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=child, capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout.splitlines(), proc.stderr, time.monotonic() - start


def test_repro_a_sigterm_to_the_batch_script_is_passed_on_and_requeues_only_a_job_that_is_not_cancelled(tmp_path):
    """A SIGTERM to the batch script (SLURM's at a cancel, the time limit or the end of a preemption's grace time;
    ``scancel --signal=TERM --batch``) ended it by the default action: status 143, no line, no requeue decision.
    Now the trap asks scontrol for the job's state and passes USR1 to the step (srun would kill the ranks on a
    TERM); after the checkpoint (75) the job is requeued while it is RUNNING or at its time limit, never when it
    is cancelled (a user's scancel is not undone). Without a cluster: fake srun and scontrol on PATH."""
    status, out, err, _ = sigterm_during_step(tmp_path, "RUNNING")
    assert status == 0, (status, out, err)
    assert out == ["run_step.sh: SIGTERM (JobState=RUNNING Reason=None): asking dqsim to checkpoint",
                   "FAKE srun: USR1",
                   "run_step.sh: checkpoint written after the SIGTERM; requeueing job 7 (restart 1 of at most 5)",
                   "SCONTROL requeue 7"], (out, err)

    status, out, err, _ = sigterm_during_step(tmp_path, "COMPLETING", FAKE_REASON="TimeLimit")
    assert status == 0, (status, out, err)
    assert out == ["run_step.sh: SIGTERM (JobState=COMPLETING Reason=TimeLimit: SLURM is ending the job): asking "
                   "dqsim to checkpoint", "FAKE srun: USR1",
                   "run_step.sh: checkpoint written after the SIGTERM; requeueing job 7 (restart 1 of at most 5)",
                   "SCONTROL requeue 7"], (out, err)

    status, out, err, _ = sigterm_during_step(tmp_path, "COMPLETING")  # scancel JOBID: cancelled, stays so
    assert status == 75, (status, out, err)
    assert out == ["run_step.sh: SIGTERM (JobState=COMPLETING Reason=None: SLURM is ending the job): asking dqsim to "
                   "checkpoint", "FAKE srun: USR1"], (out, err)
    assert ("checkpoint written after the SIGTERM, but the job is cancelled (JobState=COMPLETING Reason=None: "
            "a scancel or a preemption): not requeueing; to go on from the checkpoint: scontrol requeue 7") in err, err

    # dqsim that does not stop in time: the wait ends after DQSIM_TERM_WAIT_S, before SLURM's KillWait.
    status, out, err, seconds = sigterm_during_step(tmp_path, "COMPLETING", FAKE_IGNORE_USR1="1",
                                                    DQSIM_TERM_WAIT_S="1")
    assert status == 143 and seconds < 10, (status, seconds, out, err)
    assert "FAKE srun: USR1 (ignored)" in out and "SCONTROL" not in "".join(out), out
    assert "dqsim still runs 1 s after the SIGTERM (DQSIM_TERM_WAIT_S); not waiting longer" in err, err
    assert "status 143 after the SIGTERM (no checkpoint of this stop), and the job is cancelled" in err, err


def test_repro_a_preempted_job_is_neither_called_cancelled_nor_requeued_twice(tmp_path):
    """A preemption (PreemptMode=REQUEUE) that outlasts its GraceTime: SLURM sends SIGTERM to the batch script at
    the grace time's end, when it has requeued the job already (on the test cluster, SLURM 22.05: JobState
    COMPLETING, Reason None, Restarts one above SLURM_RESTART_COUNT). run_step.sh took that for a scancel: "the
    job is cancelled ... not requeueing; ... scontrol requeue", status 75, where SLURM requeues the job itself.
    Now it says SLURM requeues it and ends with 0 after the checkpoint. Fake srun and scontrol, as above."""
    status, out, err, _ = sigterm_during_step(tmp_path, "COMPLETING", FAKE_RESTARTS="1", DQSIM_TERM_WAIT_S="5")
    assert status == 0, (status, out, err)
    assert out == ["run_step.sh: SIGTERM (JobState=COMPLETING Reason=None Restarts=1: SLURM ends the job and requeues "
                   "it (a preemption)): asking dqsim to checkpoint", "FAKE srun: USR1",
                   "run_step.sh: checkpoint written after the SIGTERM; SLURM requeues the job itself (a preemption): "
                   "not requeueing it again"], (out, err)
    assert "cancelled" not in err and "SCONTROL" not in "".join(out), err


def test_repro_a_rank_ended_by_a_preemptions_sigterm_at_its_start_is_requeued_not_failed(tmp_path):
    """SLURM's SIGTERM at a preemption goes to the ranks at once, not through run_step.sh; a rank still in its first
    ~0.1 s (before it holds the stop signals) ends by it, and the step with it (status 143 here). run_step.sh ended
    the job with that status: a failure, and SLURM, which requeues a preempted job that still runs at the end of
    its GraceTime, had no job left to requeue. Now, while ``scontrol show job`` shows the preemption (PreemptTime),
    the script requeues the job, which resumes from its newest checkpoint; without a preemption such a status stays
    a failure. Fake srun (a step that ends with 143 by itself) and scontrol."""
    status, out, err, _ = sigterm_during_step(tmp_path, "RUNNING", FAKE_EXIT_STATUS="143",
                                              FAKE_PREEMPT_TIME="2026-12-06T04:00:00")
    assert status == 0, (status, out, err)
    assert out == ["run_step.sh: dqsim ended with status 143 (no checkpoint of this stop: a rank still starting, ended "
                   "by SLURM's SIGTERM) while SLURM preempts the job (PreemptTime=2026-12-06T04:00:00); requeueing job 7 "
                   "(restart 1 of at most 5)", "SCONTROL requeue 7"], (out, err)
    status, out, err, _ = sigterm_during_step(tmp_path, "RUNNING", FAKE_EXIT_STATUS="143")
    assert status == 143 and out == [], (status, out, err)


def test_repro_a_job_preempted_under_preempt_mode_cancel_is_not_requeued(tmp_path):
    """PreemptMode=CANCEL: SLURM 22.05 sends SIGTERM to the ranks at once (``PreemptTime`` set, the job RUNNING) and
    cancels the job at the end of its GraceTime (JobState=PREEMPTED), as under REQUEUE but for the end. run_step.sh
    took the ranks' checkpoint for one of a REQUEUE preemption and requeued the job, which ``scontrol requeue``
    allows within GraceTime: the cancel was undone. Now it reads the PreemptMode of the job's partition and, under
    CANCEL or for a job that cannot be requeued (Requeue=0), ends with the checkpoint's status (75) and one line
    naming the checkpoint to resume from; under REQUEUE it requeues as before. Fake srun (a step that ends by
    itself: 75 after its checkpoint, 143 for a rank ended in its first moments) and scontrol."""
    checkpoints = tmp_path / "ck"
    checkpoints.mkdir()
    (checkpoints / "job.0123abcd.ckpt1-5.manifest.json").write_text("{}")
    preempted = dict(FAKE_PREEMPT_TIME="2026-12-06T04:00:00", CHECKPOINT_PREFIX="job.0123abcd")
    resume = ("to go on from the checkpoint: scontrol requeue 7, or by hand: dqsim resume "
              f"{checkpoints}/job.0123abcd.ckpt1-5.h5")
    status, out, err, _ = sigterm_during_step(tmp_path, "RUNNING", FAKE_EXIT_STATUS="75", FAKE_PREEMPT_MODE="CANCEL",
                                              **preempted)
    assert status == 75 and out == [], (status, out, err)
    assert err == ("run_step.sh: checkpoint written while SLURM preempts the job (PreemptTime=2026-12-06T04:00:00), a "
                   "preemption SLURM ends with a cancel (its partition's PreemptMode=CANCEL): not requeueing; "
                   f"{resume}\n"), err
    status, out, err, _ = sigterm_during_step(tmp_path, "RUNNING", FAKE_EXIT_STATUS="143", FAKE_PREEMPT_MODE="CANCEL",
                                              **preempted)
    assert status == 143 and out == [], (status, out, err)
    assert err == ("run_step.sh: dqsim ended with status 143 (no checkpoint of this stop) while SLURM preempts the job "
                   "(PreemptTime=2026-12-06T04:00:00), a preemption SLURM ends with a cancel (its partition's "
                   f"PreemptMode=CANCEL): not requeueing; {resume}\n"), err
    status, out, err, _ = sigterm_during_step(tmp_path, "RUNNING", FAKE_EXIT_STATUS="75", FAKE_REQUEUE="0", **preempted)
    assert status == 75 and out == [], (status, out, err)
    assert ("a cancel (the job cannot be requeued: Requeue=0, sbatch --no-requeue or JobRequeue=0): not "
            "requeueing") in err, err
    status, out, err, _ = sigterm_during_step(tmp_path, "RUNNING", FAKE_EXIT_STATUS="75", **preempted)  # REQUEUE
    assert status == 0 and out == [
        "run_step.sh: checkpoint written while SLURM preempts the job (PreemptTime=2026-12-06T04:00:00); requeueing "
        "job 7 (restart 1 of at most 5)", "SCONTROL requeue 7"], (status, out, err)


def test_a_stop_for_ranks_that_never_say_they_hold_the_signals_is_passed_on_after_the_bounded_wait(tmp_path):
    """Ranks that never write their readiness file (a DQSIM_READY_DIR they cannot write, a shared file system
    that shows the file late): the stop stays pending DQSIM_READY_WAIT_S after the launch, is then passed on (the
    ranks are past their start by then) and the job checkpoints and is requeued as always. Fake srun and
    scontrol, as above."""
    status, out, err, seconds = sigterm_during_step(tmp_path, "RUNNING", FAKE_NEVER_READY="1", DQSIM_READY_WAIT_S="2")
    assert status == 0 and seconds < 10, (status, seconds, out, err)
    assert out == ["run_step.sh: SIGTERM (JobState=RUNNING Reason=None): asking dqsim to checkpoint",
                   "run_step.sh: the ranks are still starting (not every one holds the stop signals yet): passing it "
                   "on once they do",
                   "run_step.sh: passing the stop on to dqsim", "FAKE srun: USR1",
                   "run_step.sh: checkpoint written after the SIGTERM; requeueing job 7 (restart 1 of at most 5)",
                   "SCONTROL requeue 7"], (out, err)
    assert ("run_step.sh: 0 of 1 rank(s) said they hold the stop signals 2 s after the launch (DQSIM_READY_WAIT_S); "
            "passing stops on now") in err, err
    assert not (tmp_path / "ck").exists()  # made for the readiness folder, left empty (no checkpoint): removed again


#: A ``sitecustomize`` (imported by ``site`` in every interpreter's start, before dqsim's first statement) that
#: makes a ``dqsim run`` or ``resume`` start DQSIM_TEST_SLOW_START_S seconds late: a rank's unheld first moments
#: (~0.1 s), stretched so that a stop signal surely comes within them.
SLOW_START = """
import os, time

if os.environ.get("DQSIM_TEST_SLOW_START_S"):
    with open("/proc/self/cmdline", "rb") as cmdline:
        words = cmdline.read().split(b"\\0")
    if b"dqsim" in words and (b"run" in words or b"resume" in words):
        time.sleep(float(os.environ["DQSIM_TEST_SLOW_START_S"]))
"""

#: A 2-rank DQC job of a few seconds, stopped at its first cut.
DQC = ["jobs/dqc_ghz_4qpu.toml", "--set", "simulation.store_shots=true", "--set", 'circuit.generator="random"',
       "--set", "circuit.depth=4"]


def slow_start_env(folder, seconds: float) -> dict:
    """Environment whose dqsim ranks start ``seconds`` late (:data:`SLOW_START`)."""
    (folder / "site").mkdir()
    (folder / "site" / "sitecustomize.py").write_text(SLOW_START)
    env = child_env()
    env.update(PYTHONPATH=os.pathsep.join([str(folder / "site"), env["PYTHONPATH"]]),
               DQSIM_TEST_SLOW_START_S=str(seconds))
    return env


@pytest.fixture(scope="module")
def dqc_reference(tmp_path_factory):
    """DQC without interruption, on one rank."""
    out = tmp_path_factory.mktemp("dqc_reference") / "full.h5"
    run_here(["run", *DQC, "-o", out, "--quiet"])
    return out


@pytest.mark.skipif(not os.path.exists("/proc/self/cmdline"), reason="the slow start reads /proc/self/cmdline")
def test_repro_a_usr1_while_the_ranks_start_is_passed_on_once_they_hold_it(tmp_path, dqc_reference):
    """A USR1 to the batch shell while the ranks' interpreters still started (before dqsim's first statement holds
    the stop signals: ~0.1 s from the launch, here stretched to 3 s by a sitecustomize) was passed on at once:
    it ended the ranks by its default action (no checkpoint, mpiexec's status not 75, the job not requeued).
    Now each rank says when it holds the signals (a file in DQSIM_READY_DIR) and run_step.sh passes the stop on
    only then: the run checkpoints (75), the job is requeued, and the checkpoint resumes to the uninterrupted
    run's results. run_step.sh's own functions with the mpiexec launcher, 2 ranks, no cluster (scontrol replaced
    by an echo); the signal comes 0.5 s after the launch."""
    ck = tmp_path / "ck"
    script = (f"set -euo pipefail; source slurm/run_step.sh; CHECKPOINT_DIR={ck}; DQSIM_PYTHON={sys.executable}; "
              "DQSIM_LAUNCHER=mpiexec; SLURM_NTASKS=2; SLURM_JOB_ID=7; SLURM_RESTART_COUNT=0; "
              "scontrol() { echo \"SCONTROL $*\"; }; (sleep 0.5; kill -USR1 $$) & "
              f"dqsim_step run {' '.join(repr(arg) for arg in DQC)} --set 'checkpoint.directory=\"{ck}\"' "
              f"-o {tmp_path / 'x.h5'} --quiet; finish_step")
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=slow_start_env(tmp_path, 3.0), capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout.splitlines() == [
        "run_step.sh: USR1: asking dqsim to checkpoint",
        "run_step.sh: the ranks are still starting (not every one holds the stop signals yet): passing it on once "
        "they do",
        "run_step.sh: passing the stop on to dqsim",
        "run_step.sh: checkpoint written; requeueing job 7 (restart 1 of at most 5)",
        "SCONTROL requeue 7"], (proc.stdout, proc.stderr)
    written = checkpoints(ck)
    assert len(written) == 1 and not (tmp_path / "x.h5").exists(), (written, proc.stderr)
    assert [p.name for p in ck.iterdir() if p.name.startswith(".")] == []  # the readiness folder is removed
    run_here(["resume", written[0], "-o", tmp_path / "resumed.h5", "--quiet"])
    same_tables(open_run(dqc_reference), open_run(tmp_path / "resumed.h5"), ["shots", "counts"], exact=False)


@pytest.mark.timeout(420)
@pytest.mark.skipif(os.environ.get("DQSIM_TEST_SLURM_SLOW_START") != "1",
                    reason="~50 s on the loaded test VM for what test_repro_a_usr1_while_the_ranks_start_is_passed_on_once_"
                           "they_hold_it checks with mpiexec; DQSIM_TEST_SLURM_SLOW_START=1 runs it under srun")
@pytest.mark.skipif(not os.path.exists("/proc/self/cmdline"), reason="the slow start reads /proc/self/cmdline")
def test_usr1_while_the_ranks_start_under_srun_checkpoints_requeues_and_resumes(slurm_env, dqc_reference, tmp_path):
    """``scancel --signal=USR1 --batch`` while srun's two ranks still start (3 s late, by the sitecustomize): the
    stop waits for both ranks' readiness files, then srun passes it on, the job checkpoints, requeues itself and
    resumes to the uninterrupted run's results. Opt-in (``DQSIM_TEST_SLURM_SLOW_START=1``); passed on the test
    cluster on 2026-12-06."""
    out = tmp_path / "out.h5"
    checkpoints = tmp_path / "ck"
    env = dict(slurm_env, DQSIM_CHECKPOINT_DIR=str(checkpoints), **NO_WARMUP)
    slow = slow_start_env(tmp_path, 3.0)
    env.update(PYTHONPATH=slow["PYTHONPATH"], DQSIM_TEST_SLOW_START_S=slow["DQSIM_TEST_SLOW_START_S"])
    job_id = sbatch(env, tmp_path, "--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1", "--gpus-per-task=0",
                    f"--output={tmp_path}/slow-%j.out", "slurm/dqsim.sbatch", *DQC, "--quiet", "--output", str(out))
    deadline = time.monotonic() + 180
    while not list(checkpoints.glob(".ready.*")) and time.monotonic() < deadline:  # srun launched the ranks
        time.sleep(0.05)
    subprocess.run(["scancel", "--signal=USR1", "--batch", job_id], env=env, check=True)
    state = final_state(env, job_id, out.exists)
    log = next(tmp_path.glob("slow-*.out")).read_text()
    assert state == "COMPLETED", log
    assert ("run_step.sh: the ranks are still starting (not every one holds the stop signals yet): passing it on once "
            "they do\nrun_step.sh: passing the stop on to dqsim\n") in log, log
    assert "checkpoint written; requeueing job" in log and "restart 1: resuming from" in log, log
    same_tables(open_run(dqc_reference), open_run(out), ["shots", "counts"], exact=False)


@pytest.mark.parametrize("script", ["dqsim.sbatch", "sweep.sbatch"])
def test_repro_a_script_submitted_from_another_folder_finds_run_step(tmp_path, script):
    """``sbatch /path/to/dqsim/slurm/dqsim.sbatch JOB`` from a study folder without a slurm/ of its own ended
    the job at once with bash's ``slurm/run_step.sh: No such file or directory`` (SLURM runs a copy of the
    script, so it cannot look beside itself). Now the script reads where it was submitted from
    (``scontrol show job``: ``Command=``) and sources run_step.sh there; where that fails too, one line says
    to export DQSIM_SLURM_SCRIPTS. Without a cluster: a fake ``scontrol``; the first step past the source
    (dqsim.sbatch's rank line, sweep.sbatch's check of the task number) shows the script got there."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "scontrol"
    fake.write_text(f"#!/bin/sh\necho \"JobId=$3 JobName=x\"\necho \"   Command={ROOT / 'slurm' / script} a b\"\n")
    fake.chmod(0o755)
    study = tmp_path / "study"
    study.mkdir()
    (study / "lines.txt").write_text("--set qkd.pulses=1000\n")
    args = ["job.toml"] + (["lines.txt", "out"] if script == "sweep.sbatch" else [])
    env = {key: value for key, value in child_env().items() if not key.startswith(("SLURM_", "DQSIM_SLURM"))}
    env.update(SLURM_JOB_ID="9", SLURM_ARRAY_TASK_ID="5", DQSIM_PYTHON="/bin/false",
               PATH=f"{bin_dir}:{env['PATH']}")
    found = subprocess.run(["bash", str(ROOT / "slurm" / script), *args], cwd=study, capture_output=True,
                           text=True, timeout=60, env=env)
    assert "run_step.sh: No such file" not in found.stderr, found.stderr
    if script == "dqsim.sbatch":
        assert found.stdout.startswith("dqsim: ? rank(s) on ? node(s)"), (found.stdout, found.stderr)
    else:
        assert "lines.txt has 1 task line(s): submit with --array=0-0" in found.stderr, found.stderr
    fake.write_text("#!/bin/sh\nexit 1\n")  # no answer: the one line
    lost = subprocess.run(["bash", str(ROOT / "slurm" / script), *args], cwd=study, capture_output=True,
                          text=True, timeout=60, env=env)
    assert lost.returncode == 2
    assert lost.stderr.strip() == (f"{script}: no run_step.sh in slurm (submit directory {study}): export "
                                   "DQSIM_SLURM_SCRIPTS=DIR (dqsim's slurm/ folder) before sbatch"), lost.stderr


def test_repro_a_sweep_task_with_a_bad_line_stops_at_the_check(tmp_path):
    """A sweep line that makes the job invalid (here more pulses per batch than pulses) went on to the kernel
    warm-up, which failed and said "the ranks compile the kernels they need", then launched the ranks, each
    of which failed with the same line. sweep.sbatch now runs ``dqsim check`` first, as dqsim.sbatch does:
    one ``dqsim: error:`` line, status 2, no launch (DQSIM_LAUNCHER names a launcher that would fail loudly)."""
    (tmp_path / "lines.txt").write_text("--set qkd.pulses=1000\n")
    env = {key: value for key, value in child_env().items() if not key.startswith("SLURM_")}
    env.update(SLURM_JOB_ID="9", SLURM_ARRAY_TASK_ID="0", DQSIM_PYTHON=sys.executable, DQSIM_LAUNCHER="none",
               DQSIM_SLURM_SCRIPTS=str(ROOT / "slurm"))
    proc = subprocess.run(["bash", str(ROOT / "slurm" / "sweep.sbatch"), str(ROOT / "jobs" / "bb84_decoy_50km.toml"),
                           "lines.txt", "out"], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("dqsim: error: ") and "[qkd].batch_pulses" in errors[0], errors
    assert not (tmp_path / "out" / "task-0.h5").exists()
