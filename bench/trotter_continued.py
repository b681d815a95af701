"""Benchmark: a trotter job in ``[evolution].mode = "independent"`` and ``"continued"``, interleaved: wall and CPU time.

A benchmark, not a test: it measures and records, it asserts nothing.

In one process on one rank (``SingleComm``), after one warm-up run of each
mode (numba's kernels compiled), it runs the job for every ``--points`` value
in both modes, alternating (independent, continued, independent, ...) for
``--repeats`` rounds. Per run it records the wall time (``perf_counter``) and
the CPU time (``process_time``) of :func:`dqsim.scenarios.trotter.run_job`, the
1-minute load average before it, the EPR pairs and gates the run cost (the
sum of the ``network`` table's rows in the default mode, the last row's
cumulative count in the continued one) and the largest difference of the
networked observables between the two modes. Writes
``bench/results/trotter_continued-<label>-<YYYYMMDD>.json``.

Example (from the repository root)::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python bench/trotter_continued.py --label vm
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import apply_overrides, load_job
from dqsim.scenarios import trotter

ROOT = Path(__file__).resolve().parent.parent
MODES = ("independent", "continued")


def cost(out, mode: str) -> dict:
    """EPR pairs and gates the run did (per trajectory, summed over the points' runs)."""
    table = out.tables["network"]
    if mode == "continued":
        return {"epr_pairs": float(table["epr_pairs"][-1]), "num_gates": int(table["num_gates"][-1])}
    return {"epr_pairs": float(table["epr_pairs"].sum()), "num_gates": int(table["num_gates"].sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", default="jobs/ising_trotter_4qpu.toml")
    parser.add_argument("--points", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default="vm")
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    backend = backend_mod.select("numpy")
    comm = comm_mod.SingleComm()

    def job_for(mode: str, points: int):
        return apply_overrides(load_job(ROOT / args.job), [f"evolution.num_points={points}",
                                                          f'evolution.mode="{mode}"'])

    for mode in MODES:  # warm-up: numba compiles its kernels
        trotter.run_job(job_for(mode, 2), comm=comm, backend=backend)
    runs, observed = [], {}
    for repeat in range(args.repeats):
        for points in args.points:
            for mode in MODES:
                load = os.getloadavg()[0]
                job = job_for(mode, points)
                wall, cpu = time.perf_counter(), time.process_time()
                out = trotter.run_job(job, comm=comm, backend=backend)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                observed[(points, mode)] = out.tables["observables"]["networked"]
                runs.append({"repeat": repeat, "points": points, "mode": mode, "wall_s": wall, "cpu_s": cpu,
                             "loadavg_1min": load, **cost(out, mode)})
                print(f"repeat {repeat} points {points:3d} {mode:11s} wall {wall:7.3f} s cpu {cpu:7.3f} s "
                      f"load {load:.2f} pairs {runs[-1]['epr_pairs']:.0f} gates {runs[-1]['num_gates']}", flush=True)
    summary = []
    for points in args.points:
        row = {"points": points}
        for mode in MODES:
            mine = [r for r in runs if r["points"] == points and r["mode"] == mode]
            row[mode] = {"median_wall_s": statistics.median(r["wall_s"] for r in mine),
                         "median_cpu_s": statistics.median(r["cpu_s"] for r in mine),
                         "epr_pairs": mine[0]["epr_pairs"], "num_gates": mine[0]["num_gates"]}
        row["max_abs_networked_difference"] = float(np.max(np.abs(observed[(points, MODES[0])]
                                                                  - observed[(points, MODES[1])])))
        summary.append(row)
        print(json.dumps(row))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "dqsim"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip())
    record = {"job": args.job, "points": args.points, "repeats": args.repeats, "machine": platform.node(),
              "python": platform.python_version(), "commit": commit, "dqsim_dirty": dirty,
              "started_utc": started,
              "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "runs": runs, "summary": summary}
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
    path = ROOT / "bench" / "results" / f"trotter_continued-{args.label}-{stamp}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
