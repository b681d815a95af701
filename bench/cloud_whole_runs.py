"""Whole ``cloud`` runs (every user job's engine runs) of two source trees, alternated: CPU s, jobs per CPU s, peak RSS.

A benchmark, not a test. For each size in ``--jobs`` and each rank count in ``--ranks`` it runs the job file of
``bench/cloud_scale.py`` (a ring of ``--qpus`` QPUs of 2 data qubits, a Poisson stream of 2-4-qubit user jobs
of ``--shots`` shots, backfilling; ``--noiseless``: one engine run a job) once with each tree of ``--trees``,
one after the other, ``--repeat`` times, so that the trees' rows come from the same minutes of a shared
machine; each row prints the 1-minute load average at its start and end. CPU seconds are user + system of all
processes (``/usr/bin/time``; on two ranks both), the peak RSS that of the largest process. The output files'
tables are fingerprinted per row (:func:`fingerprint`) so that equal results can be checked by eye (the last
column).

    .venv/bin/python bench/cloud_whole_runs.py --trees /tmp/old . --jobs 10000 --ranks 1 2 --noiseless \\
        --generators ghz qft --qpus 64
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cloud_scale  # noqa: E402 - the job file and the measured run, shared with cloud_scale.py


def fingerprint(tree: Path, out: Path) -> str:
    """12 hex digits of the table digests of ``bench/dqc_outputs.py``'s line for ``out``, read with ``tree``: every
    table but ``timing``. Not the attributes: they hold the job's text, whose checkpoint folder is each run's
    temporary folder."""
    if not out.exists():
        return "-"
    line = subprocess.run([str(tree / ".venv" / "bin" / "python"), str(Path(__file__).parent / "dqc_outputs.py"),
                           str(out)], env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True,
                          check=True).stdout.split()[1:]
    tables = " ".join(part for part in line if not part.startswith(("attrs=", "events=", "messages=")))
    return hashlib.sha256(tables.encode()).hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=Path, nargs="+", required=True, help="source trees, each with .venv")
    parser.add_argument("--labels", nargs="*", help="a label per tree (default: the folder names)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[10000])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--shots", type=int, default=20)
    parser.add_argument("--qpus", type=int, default=64)
    parser.add_argument("--qubits", type=int, nargs=2, default=[2, 4])
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--policy", default="backfill")
    parser.add_argument("--every-wall-s", type=float, default=600.0)
    parser.add_argument("--noiseless", action="store_true")
    parser.add_argument("--generators", nargs="+", default=["ghz", "qft"])
    args = parser.parse_args()
    args.stop_after_s = 0.0
    labels = args.labels or [tree.resolve().name for tree in args.trees]
    rank_counts = list(args.ranks)
    print("| tree | ranks | user jobs | rc | wall s | CPU s | jobs / CPU s | CPU ms / job | peak RSS MiB | output KiB "
          "| load start-end | outputs |", flush=True)
    for jobs in args.jobs:
        for ranks in rank_counts:
            for _ in range(args.repeat):
                for tree, label in zip(args.trees, labels):
                    args.ranks = ranks  # what cloud_scale.measure reads
                    load = os.getloadavg()[0]
                    with tempfile.TemporaryDirectory() as tmp:
                        r = cloud_scale.measure(tree.resolve(), Path(tmp), args, jobs)
                        digest = fingerprint(tree.resolve(), Path(tmp) / "out.h5")
                    print(f"| {label} | {ranks} | {jobs} | {r['rc']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                          f"{jobs / r['cpu_s']:,.0f} | {1000 * r['cpu_s'] / jobs:.2f} | {r['rss_mib']:.0f} | "
                          f"{r['out_kib']:,.0f} | {load:.1f}-{os.getloadavg()[0]:.1f} | {digest} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
