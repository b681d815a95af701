"""The SLURM scripts under a real SLURM: a sweep as a job array, its dependent merge, a 2-rank srun run.

The session fixture starts a one-node test cluster with tests/slurm/cluster.sh (installing Debian's
SLURM if it is missing) and stops it at the end; where a cluster was already up, it is used and
left running. The tests skip only where SLURM cannot be installed or started at all (not root,
no apt-get, no network for apt): cluster.sh says so with exit status 3.
"""

import re
import subprocess
import sys
import time

import numpy as np
import pytest

from dqsim.io import open_run
from mpi_helper import ROOT, child_env, run_mpi
from run_files import same_tables

CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
#: cluster.sh's exit status where SLURM cannot be installed or started on this machine.
CLUSTER_UNAVAILABLE = 3
SMALL_QKD = ["--set", "qkd.pulses=200000", "--set", "qkd.batch_pulses=100000", "--set", "qkd.block_pulses=200000"]
DISTANCES_KM = [0.0, 25.0, 50.0, 100.0]


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


def sbatch(env, logs, *args, timeout_s=240) -> str:
    """``sbatch --parsable ARGS`` from the repository root; the job id.

    On failure or timeout the message shows the files in ``logs`` and, for a job still queued, why
    it waits (a job the cluster can never run stays pending for ever, e.g. more CPUs than the node has).
    """
    cmd = ["sbatch", "--parsable", *args]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        job_id = (exc.stdout or b"").decode().strip().split(";")[0]
        queue = subprocess.run(["squeue", "-o", "%i %T %r"], env=env, capture_output=True, text=True, timeout=30)
        if job_id:
            subprocess.run(["scancel", job_id], env=env, capture_output=True, timeout=30)
        raise AssertionError(f"{' '.join(cmd)} did not finish in {timeout_s} s; queue:\n{queue.stdout}"
                             f"{_show(logs)}") from None
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}{proc.stderr}{_show(logs)}")
    return proc.stdout.strip().split(";")[0]


def _show(folder) -> str:
    return "".join(f"\n--- {p}\n{p.read_text()}" for p in sorted(folder.iterdir()) if p.is_file())


@pytest.mark.timeout(600)
def test_sweep_as_a_job_array_then_merge(slurm_env, tmp_path):
    sweep = tmp_path / "sweep.txt"
    sweep.write_text("# one distance per task\n\n" + "".join(
        f"--set qkd.sweep.distances_km=[{d:g}]\n" if i % 2 else f"qkd.sweep.distances_km=[{d:g}]\n"
        for i, d in enumerate(DISTANCES_KM)))
    out_dir, logs = tmp_path / "out", tmp_path / "logs"
    logs.mkdir()
    array_id = sbatch(slurm_env, logs, "--wait", f"--array=0-{len(DISTANCES_KM) - 1}",
                      f"--output={logs}/task-%A_%a.out", "slurm/sweep.sbatch", "jobs/bb84_distance_sweep.toml",
                      str(sweep), str(out_dir), *SMALL_QKD)
    for task, distance in enumerate(DISTANCES_KM):
        run = open_run(out_dir / f"task-{task}.h5")
        assert run.attrs["num_ranks"] == 1
        assert run.table("sweep")["distance_km"].tolist() == [distance]
        assert run.table("blocks")["pulses"].sum() == 200000
        assert f"sweep task {task} (array job {array_id})" in (logs / f"task-{array_id}_{task}.out").read_text()

    # The documented dependent step: merge.sbatch after the array (already done: it starts at once).
    sbatch(slurm_env, logs, "--wait", f"--dependency=afterok:{array_id}", f"--output={logs}/merge-%j.out",
           "slurm/merge.sbatch", str(out_dir), str(len(DISTANCES_KM)))
    merged = open_run(out_dir / "merged.h5")
    assert merged.attrs["num_tasks"] == len(DISTANCES_KM) and merged.attrs["scenario"] == "qkd"
    table = merged.table("sweep")
    assert table["task"].tolist() == list(range(len(DISTANCES_KM)))
    assert table["distance_km"].tolist() == DISTANCES_KM
    assert np.all(np.diff(table["secret_key_bits"]) <= 0)  # less key the longer the fibre
    tasks = merged.table("tasks")
    assert tasks["file"].tolist() == [f"task-{i}.h5" for i in range(len(DISTANCES_KM))]
    assert "total_secret_key_bits" in tasks.dtype.names

    # By hand: dqsim merge with a quoted pattern gives the same rows.
    by_hand = tmp_path / "by_hand.h5"
    proc = subprocess.run([sys.executable, "-m", "dqsim", "merge", str(by_hand), str(out_dir / "task-*.h5")],
                          cwd=ROOT, env=slurm_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert open_run(by_hand).table("sweep").tolist() == table.tolist()


@pytest.mark.timeout(300)
def test_dqsim_sbatch_runs_two_ranks_with_srun(slurm_env, tmp_path):
    """slurm/dqsim.sbatch on one node, 2 ranks (no GPUs on the test cluster: --gpus-per-task=0)."""
    out = tmp_path / "ghz.h5"
    sbatch(slurm_env, tmp_path, "--wait", "--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1", "--gpus-per-task=0",
           f"--output={tmp_path}/dqsim-%j.out", "slurm/dqsim.sbatch", "jobs/quickstart.toml",
           "--set", "simulation.shots=100", "--output", str(out))
    run = open_run(out)
    assert run.attrs["num_ranks"] == 2
    assert set(run.table("counts")["bitstring"]) == {"0" * 16, "1" * 16}
    assert "2 rank(s) on 1 node(s)" in next(tmp_path.glob("dqsim-*.out")).read_text()


@pytest.mark.timeout(420)
def test_usr1_checkpoints_requeues_and_resumes(slurm_env, tmp_path):
    """USR1 to the batch script: dqsim checkpoints, the job requeues itself, resumes, and ends like
    a run without interruption."""
    job = ["jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=8000000", "--set", "qkd.batch_pulses=250000",
           "--set", "qkd.block_pulses=2000000", "--set", "checkpoint.every_sim_s=0.0005", "--quiet"]
    reference = tmp_path / "reference.h5"
    run_mpi(2, ["-m", "dqsim", "run", *job, "-o", str(reference)], timeout_s=240)
    out = tmp_path / "requeued.h5"
    checkpoints = tmp_path / "ck"
    env = dict(slurm_env, DQSIM_CHECKPOINT_DIR=str(checkpoints))
    job_id = sbatch(env, tmp_path, "--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1", "--gpus-per-task=0",
                    f"--output={tmp_path}/requeue-%j.out", "slurm/dqsim.sbatch", *job, "--output", str(out))
    deadline = time.monotonic() + 180
    while not list(checkpoints.glob("*.h5")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(checkpoints.glob("*.h5")), "no checkpoint appeared"
    subprocess.run(["scancel", "--signal=USR1", "--batch", job_id], env=env, check=True)
    deadline = time.monotonic() + 300
    state = ""
    while time.monotonic() < deadline:
        shown = subprocess.run(["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True).stdout
        state = shown.split("JobState=")[1].split()[0] if "JobState=" in shown else ""
        if state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT") and out.exists():
            break
        time.sleep(1)
    log = next(tmp_path.glob("requeue-*.out")).read_text()
    assert state == "COMPLETED", log
    assert "requeueing job" in log and "restart 1: resuming from" in log, log
    same_tables(open_run(reference), open_run(out), ["blocks", "links"])
