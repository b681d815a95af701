"""Benchmark: ``dqsim run`` of a trotter job on 1 and 2 ranks, interleaved: wall and CPU time per rank count.

A benchmark, not a test: it measures and records, it asserts nothing.

For every repeat it runs ``dqsim run JOB --quiet`` once per rank count of
``--ranks``, in that order (1, 2, 1, 2, ...), under the mpiexec beside
``sys.executable`` (``-n 1`` too, so every count pays the launcher), each
into its own output file in a temporary folder. Per run it records the wall
time of the whole command (interpreter start, imports and launcher
included), its CPU time (user + system of the command and every process it
started, from ``getrusage(RUSAGE_CHILDREN)``), the 1-minute load average
before it, the run's own ``wall_time_s`` attribute and its ``timing`` table
(seconds per stage, rank 0). It checks that the tables ``observables``,
``sites``, ``network`` and ``counts`` are identical across rank counts, prints
each repeat's time ratio to the 1-rank run of the same repeat with the median,
and writes ``bench/results/trotter_ranks-<label>-<YYYYMMDD>.json``.

Example (from the repository root)::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python bench/trotter_ranks.py --repeats 5 --label vm
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS_DIR = ROOT / "bench" / "results"
COMPARED_TABLES = ("observables", "sites", "network", "counts")


def one_run(job: str, ranks: int, output: Path) -> dict:
    """Run ``dqsim run`` on ``ranks`` ranks: wall and CPU seconds, the load before it, the run file's timings."""
    from dqsim import io

    launcher = Path(sys.executable).parent / "mpiexec"
    command = [str(launcher), "-n", str(ranks), sys.executable, "-m", "dqsim", "run", job,
               "--output", str(output), "--quiet"]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = io.open_run(output)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"ranks": ranks, "wall_s": wall, "cpu_s": cpu, "load_1min": load,
            "run_wall_time_s": float(run.attrs["wall_time_s"]),
            "stages_s": {str(stage): float(seconds) for stage, seconds in run.table("timing")}}


def same_tables(a: Path, b: Path) -> bool:
    from dqsim import io

    x, y = io.open_run(a), io.open_run(b)
    for name in COMPARED_TABLES:
        if name in x.tables or name in y.tables:
            p, q = x.table(name), y.table(name)
            for field in p.dtype.names:
                if not np.array_equal(p[field], q[field], equal_nan=p[field].dtype.kind == "f"):
                    return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", default="jobs/ising_trotter_4qpu.toml")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default="local")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR)
    args = parser.parse_args()
    runs, identical = [], True
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            for ranks in args.ranks:
                output = Path(folder) / f"r{repeat}-n{ranks}.h5"
                record = {"repeat": repeat, **one_run(args.job, ranks, output)}
                runs.append(record)
                if ranks != args.ranks[0]:
                    identical &= same_tables(Path(folder) / f"r{repeat}-n{args.ranks[0]}.h5", output)
                print(f"repeat {repeat} ranks {ranks}: wall {record['wall_s']:.2f} s, cpu {record['cpu_s']:.2f} s, "
                      f"load {record['load_1min']:.2f}, run wall_time_s {record['run_wall_time_s']:.2f} "
                      f"(network {record['stages_s'].get('network', float('nan')):.2f})", flush=True)
    base = {r["repeat"]: r for r in runs if r["ranks"] == args.ranks[0]}
    summary = {}
    for ranks in args.ranks[1:]:
        ratios = [r["wall_s"] / base[r["repeat"]]["wall_s"] for r in runs if r["ranks"] == ranks]
        inner = [r["run_wall_time_s"] / base[r["repeat"]]["run_wall_time_s"] for r in runs if r["ranks"] == ranks]
        summary[ranks] = {"wall_ratio": ratios, "wall_ratio_median": statistics.median(ratios),
                          "run_wall_ratio": inner, "run_wall_ratio_median": statistics.median(inner)}
        print(f"{ranks} ranks / {args.ranks[0]}: wall {statistics.median(ratios):.2f} (median; "
              f"{min(ratios):.2f}-{max(ratios):.2f}), run wall_time_s {statistics.median(inner):.2f} (median)")
    print(f"tables identical across rank counts: {identical}")
    stamp = datetime.datetime.now(datetime.timezone.utc)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    record = {"job": args.job, "ranks": args.ranks, "repeats": args.repeats, "runs": runs, "summary": summary,
              "tables_identical": identical, "machine": platform.node(), "cpus": os.cpu_count(),
              "python": platform.python_version(), "commit": commit, "utc": stamp.isoformat(timespec="seconds")}
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"trotter_ranks-{args.label}-{stamp:%Y%m%d}.json"
    path.write_text(json.dumps(record, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
