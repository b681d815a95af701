"""How a ``cloud`` run grows with its stream: wall and CPU time per user job, peak RSS, checkpoint and output size.

A benchmark, not a test. It writes a job file of ``--jobs`` Poisson user jobs of ``--shots`` shots each on a
centre of ``--qpus`` QPUs (a ring, 2 data qubits each) with gate noise (every QPU noisy, so every job runs the
engine once per shot with ``trajectories = "per_shot"``), runs ``dqsim run`` under ``/usr/bin/time -v`` with a
periodic checkpoint every ``--every-wall-s`` wall seconds (``keep = 1``) and prints one line per size: engine
runs, wall and CPU seconds (and per user job), peak RSS, size of the newest checkpoint, size of the output.
``--ranks R`` runs it on R MPI ranks (the CPU seconds of all ranks together, the peak RSS of the largest).
``--stop-after-s`` instead sends SIGTERM after that many seconds and reports the stop's checkpoint.
``--noiseless`` drops the link and gate noise (one engine run per user job); ``--generators`` picks the circuit kinds.

``--pre-queue N ...`` runs, in a fresh process per size, what a run does before and around its engine runs:
the user jobs' circuits (``user_jobs_of``), their estimates (``queued_jobs``), the queue (``simulate_queue``,
each job's duration its estimate, no engine) and the tables (``cloud_tables`` with a small result per job),
and prints the seconds of each, the jobs scheduled per second, the peak RSS and the bytes per user job (the
peak RSS over the RSS after imports, divided by the jobs).

    .venv/bin/python bench/cloud_scale.py --jobs 5 20 80 --shots 20 --repo .
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOB = """[run]
name = "cloud_scale"
scenario = "cloud"
seed = 11

[network]
topology = "ring"
num_nodes = {qpus}

[network.link]
distance_km = 0.1
scheme = "double_click"
source_fidelity = {fidelity}
dark_count_rate_hz = 0.0

[network.node]
num_data_qubits = 2
num_comm_qubits = 2
gate_1q_duration_ps = 50_000
gate_2q_duration_ps = 200_000
measure_duration_ps = 1_000_000
gate_1q_error_probability = {gate_error}

[scheduler]
policy = "{policy}"
distribution = "telegate"

[user]
distance_km = 1.0

[arrivals]
rate_hz = {rate}
num_jobs = {jobs}
generators = {generators}
num_qubits = [{low}, {high}]
depth = 3
shots = {shots}

[simulation]
trajectories = "per_shot"

[checkpoint]
every_wall_s = {every}
keep = 1
directory = "{folder}/ck"
"""


def job_text(args, jobs: int, folder: Path) -> str:
    """The job file of ``jobs`` user jobs."""
    return JOB.format(qpus=args.qpus, policy=args.policy, rate=args.rate, jobs=jobs, low=args.qubits[0],
                      high=args.qubits[1], shots=args.shots, every=args.every_wall_s, folder=folder,
                      fidelity=1.0 if args.noiseless else 0.98, gate_error=0.0 if args.noiseless else 0.001,
                      generators="[" + ", ".join(f'"{kind}"' for kind in args.generators) + "]")


PRE_QUEUE = """
import os, resource, sys, time
from dqsim.jobs import load_job
from dqsim.scenarios import cloud
from dqsim.scenarios.cloud_scheduler import Centre, queue_metrics, simulate_queue
from dqsim.scenarios.dqc import job_network

def rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

job = load_job(sys.argv[1])
network = job_network(job.network, 1, source=job.source)
base = rss_bytes()
t0 = time.perf_counter()
users = cloud.user_jobs_of(job)
t1 = time.perf_counter()
centre = Centre.from_graph(network.graph, network.names, [spec.num_data_qubits for spec in network.nodes])
latency = job.user_latency_ps()
if hasattr(cloud, "queued_jobs"):
    queued = cloud.queued_jobs(users, network, centre, scheme=job.scheduler.distribution, user_latency_ps=latency)
else:  # main before 2026-12-06b: the estimates inside run_cloud, stopped at the queue
    captured = []
    def stop(queued, *args, **kwargs):
        captured.extend(queued)
        raise KeyboardInterrupt
    cloud.simulate_queue = stop
    try:
        cloud.run_cloud(users, comm=None, backend=None, network=network, policy=job.scheduler.policy,
                        user_latency_ps=latency)
    except KeyboardInterrupt:
        pass
    queued = captured
t2 = time.perf_counter()
records = simulate_queue(queued, job.scheduler.policy, centre, lambda q, qpus: q.estimate_ps)
t3 = time.perf_counter()
results = {q.job_id: cloud.JobResult({"00": 1}, 1.0, 1, 1, 0) for q in queued}
run = cloud.CloudRun(users, records, results, centre, queue_metrics(records, centre.num_qpus), job.scheduler.policy,
                     latency)
tables, _ = cloud.cloud_tables(run)
t4 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(len(users), t1 - t0, t2 - t1, t3 - t2, t4 - t3, peak, base, sep=",")
"""


def pre_queue(repo: Path, folder: Path, args, jobs: int) -> dict:
    """:data:`PRE_QUEUE` of ``jobs`` user jobs in a fresh interpreter of ``repo``."""
    job = folder / "job.toml"
    job.write_text(job_text(args, jobs, folder))
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([str(repo / ".venv" / "bin" / "python"), "-c", PRE_QUEUE, str(job)], cwd=repo, env=env,
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    num, circuits, estimates, queue, tables, peak, base = (float(x) for x in out.split(","))
    return {"jobs": int(num), "circuits_s": circuits, "estimates_s": estimates, "queue_s": queue,
            "tables_s": tables, "peak_mib": peak / 2**20, "bytes_per_job": (peak - base) / num}


def measure(repo: Path, folder: Path, args, jobs: int) -> dict:
    text = job_text(args, jobs, folder)
    job = folder / "job.toml"
    job.write_text(text)
    out = folder / "out.h5"
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    python = str(repo / ".venv" / "bin" / "python")
    ranks = ([str(repo / ".venv" / "bin" / "mpiexec"), "-n", str(args.ranks)] if args.ranks > 1 else [])
    command = ["/usr/bin/time", "-v", *ranks, python, *(["-m", "mpi4py"] if ranks else []), "-c",
               "import sys; from dqsim.cli import console_main; sys.argv[0] = 'dqsim'; sys.exit(console_main())",
               "run", str(job), "-o", str(out), "--quiet"]
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if args.stop_after_s:
        time.sleep(args.stop_after_s)
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        for child in children:  # the python under /usr/bin/time
            os.kill(int(child), 15)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1))
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", stderr).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", stderr).group(1))
    ckpts = sorted(glob.glob(str(folder / "ck" / "*.h5")), key=os.path.getmtime)
    ckpt_bytes = sum(os.path.getsize(p) for p in glob.glob(ckpts[-1][:-3] + "*")) if ckpts else 0
    runs = re.search(r"(\d+) engine runs", stdout)
    return {"jobs": jobs, "rc": proc.returncode, "wall_s": wall, "cpu_s": user + system, "rss_mib": rss / 1024,
            "ckpt_kib": ckpt_bytes / 1024, "out_kib": os.path.getsize(out) / 1024 if out.exists() else 0.0,
            "ckpt_name": Path(ckpts[-1]).name if ckpts else "", "tail": stderr.strip().splitlines()[:1]}


def queue_only(num_jobs: int, num_qpus: int, policy: str) -> float:
    """Seconds :func:`simulate_queue` takes for ``num_jobs`` jobs (1-16 qubits, all submitted within the first
    job's duration: a backlog) on a ring of ``num_qpus`` QPUs of 2 data qubits, durations = estimates."""
    import random

    from dqsim.scenarios.cloud_scheduler import Centre, QueuedJob, simulate_queue

    rng = random.Random(1)
    centre = Centre.from_edges(num_qpus, [(i, (i + 1) % num_qpus) for i in range(num_qpus)], data_qubits=2)
    jobs = [QueuedJob(i, f"j{i}", rng.randint(1, 16), submit_ps=rng.randint(0, 10**6),
                      estimate_ps=rng.randint(10**5, 10**7)) for i in range(num_jobs)]
    started = time.perf_counter()
    records = simulate_queue(jobs, policy, centre, lambda job, qpus: job.estimate_ps)
    assert len(records) == num_jobs
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[5, 20, 80])
    parser.add_argument("--shots", type=int, default=20)
    parser.add_argument("--qpus", type=int, default=16)
    parser.add_argument("--qubits", type=int, nargs=2, default=[2, 4])
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--policy", default="backfill")
    parser.add_argument("--every-wall-s", type=float, default=3.0)
    parser.add_argument("--stop-after-s", type=float, default=0.0)
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--ranks", type=int, default=1, help="MPI ranks of a whole run (mpiexec of --repo's venv); "
                        "CPU seconds are the ranks' sum, the peak RSS the largest rank's")
    parser.add_argument("--label", default="")
    parser.add_argument("--write", type=Path, help="only write the job file of the first --jobs here")
    parser.add_argument("--queue-only", type=int, nargs="*", help="time the scheduler alone for these job counts")
    parser.add_argument("--pre-queue", type=int, nargs="*", help="circuits, estimates, queue and tables, no engine")
    parser.add_argument("--noiseless", action="store_true", help="no link or gate noise: one engine run a job")
    parser.add_argument("--generators", nargs="+", default=["ghz", "qft", "random"])
    args = parser.parse_args()
    if args.pre_queue:
        print(f"# {args.label} load: {os.getloadavg()}", flush=True)
        for num_jobs in args.pre_queue:
            with tempfile.TemporaryDirectory() as tmp:
                r = pre_queue(args.repo.resolve(), Path(tmp), args, num_jobs)
            print(f"| {args.label} | {r['jobs']} | {args.qpus} | {r['circuits_s']:.2f} | {r['estimates_s']:.2f} | "
                  f"{r['queue_s']:.2f} | {r['jobs'] / r['queue_s']:,.0f} | {r['tables_s']:.2f} | {r['peak_mib']:.0f} | "
                  f"{r['bytes_per_job']:,.0f} | {os.getloadavg()[0]:.1f} |", flush=True)
        return
    if args.queue_only:
        print(f"# {args.label} load: {os.getloadavg()}", flush=True)
        for num_jobs in args.queue_only:
            print(f"| {args.label} | {args.policy} | {num_jobs} jobs | {args.qpus} QPUs | "
                  f"{queue_only(num_jobs, args.qpus, args.policy):.2f} s |", flush=True)
        return
    if args.write:
        args.write.write_text(job_text(args, args.jobs[0], args.write.parent))
        return
    print(f"# {args.label} load: {os.getloadavg()}", flush=True)
    print("| side | user jobs | engine runs | rc | wall s | CPU s | CPU s / job | peak RSS MiB | newest checkpoint KiB "
          "| output KiB |")
    for jobs in args.jobs:
        with tempfile.TemporaryDirectory() as tmp:
            r = measure(args.repo.resolve(), Path(tmp), args, jobs)
        runs = jobs if args.noiseless else jobs * args.shots
        print(f"| {args.label} | {jobs} | {runs} | {r['rc']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
              f"{r['cpu_s'] / jobs:.2f} | {r['rss_mib']:.0f} | {r['ckpt_kib']:.0f} | {r['out_kib']:.0f} |", flush=True)
    print(f"# load after: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
