"""How a ``cloud`` run grows with its stream: wall and CPU time per user job, peak RSS, checkpoint and output size.

A benchmark, not a test. It writes a job file of ``--jobs`` Poisson user jobs of ``--shots`` shots each on a
centre of ``--qpus`` QPUs (a ring, 2 data qubits each) with gate noise (every QPU noisy, so every job runs the
engine once per shot with ``trajectories = "per_shot"``), runs ``dqsim run`` under ``/usr/bin/time -v`` with a
periodic checkpoint every ``--every-wall-s`` wall seconds (``keep = 1``) and prints one line per size: engine
runs, wall and CPU seconds (and per user job), peak RSS, size of the newest checkpoint, size of the output.
``--stop-after-s`` instead sends SIGTERM after that many seconds and reports the stop's checkpoint.

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
source_fidelity = 0.98
dark_count_rate_hz = 0.0

[network.node]
num_data_qubits = 2
num_comm_qubits = 2
gate_1q_duration_ps = 50_000
gate_2q_duration_ps = 200_000
measure_duration_ps = 1_000_000
gate_1q_error_probability = 0.001

[scheduler]
policy = "{policy}"
distribution = "telegate"

[user]
distance_km = 1.0

[arrivals]
rate_hz = {rate}
num_jobs = {jobs}
generators = ["ghz", "qft", "random"]
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


def measure(repo: Path, folder: Path, args, jobs: int) -> dict:
    text = JOB.format(qpus=args.qpus, policy=args.policy, rate=args.rate, jobs=jobs, low=args.qubits[0],
                      high=args.qubits[1], shots=args.shots, every=args.every_wall_s, folder=folder)
    job = folder / "job.toml"
    job.write_text(text)
    out = folder / "out.h5"
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    python = str(repo / ".venv" / "bin" / "python")
    command = ["/usr/bin/time", "-v", python, "-c", "import sys; from dqsim.cli import console_main; sys.argv[0] = 'dqsim'; sys.exit(console_main())", "run", str(job), "-o", str(out), "--quiet"]
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
    parser.add_argument("--label", default="")
    parser.add_argument("--write", type=Path, help="only write the job file of the first --jobs here")
    parser.add_argument("--queue-only", type=int, nargs="*", help="time the scheduler alone for these job counts")
    args = parser.parse_args()
    if args.queue_only:
        print(f"# {args.label} load: {os.getloadavg()}", flush=True)
        for num_jobs in args.queue_only:
            print(f"| {args.label} | {args.policy} | {num_jobs} jobs | {args.qpus} QPUs | "
                  f"{queue_only(num_jobs, args.qpus, args.policy):.2f} s |", flush=True)
        return
    if args.write:
        args.write.write_text(JOB.format(qpus=args.qpus, policy=args.policy, rate=args.rate, jobs=args.jobs[0],
                                         low=args.qubits[0], high=args.qubits[1], shots=args.shots,
                                         every=args.every_wall_s, folder=args.write.parent))
        return
    print(f"# {args.label} load: {os.getloadavg()}", flush=True)
    print("| side | user jobs | engine runs | rc | wall s | CPU s | CPU s / job | peak RSS MiB | newest checkpoint KiB "
          "| output KiB |")
    for jobs in args.jobs:
        with tempfile.TemporaryDirectory() as tmp:
            r = measure(args.repo.resolve(), Path(tmp), args, jobs)
        print(f"| {args.label} | {jobs} | {jobs * args.shots} | {r['rc']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
              f"{r['cpu_s'] / jobs:.2f} | {r['rss_mib']:.0f} | {r['ckpt_kib']:.0f} | {r['out_kib']:.0f} |", flush=True)
    print(f"# load after: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
