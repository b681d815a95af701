"""``dqsim check``'s wall-time estimate against ``dqsim run``'s measured wall time, job by job.

For each case (a job file, ``--set`` assignments, a rank count) it runs
``dqsim check`` (its ``# time:`` line: the central figure and range, and the
check's own wall time), then ``dqsim run`` of the same job on as many ranks
(the whole command's wall time, process start to exit, as SLURM counts it),
with the 1-minute load average before each, and prints a Markdown table row
per case: measured / central, and whether the measured time is inside the range.

    python bench/check_time_vs_run.py [--only NAME ...] > table.md
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

#: (label, job, --set assignments, ranks): every shipped job on one rank, scaled-up variants, a few on two.
CASES = [(path.stem, str(path.relative_to(ROOT)), [], 1) for path in sorted((ROOT / "jobs").glob("*.toml"))] + [
    ("repeater_chain, 8-16 links, 200 pairs", "jobs/repeater_chain.toml",
     ["chain.num_links=[8, 16]", "chain.total_distance_km=[400.0]", "chain.num_pairs=200"], 1),
    ("quickstart, 24 qubits", "jobs/quickstart.toml", ["circuit.num_qubits=24", "simulation.observables=[]"], 1),
    ("bb84_decoy_50km, 10^8 pulses", "jobs/bb84_decoy_50km.toml", ["qkd.pulses=100_000_000"], 1),
    ("bbm92_finite_key, 5x10^7 pairs", "jobs/bbm92_finite_key.toml", ["qkd.pulses=50_000_000"], 1),
    ("cloud_queue + 40 Poisson arrivals", "jobs/cloud_queue.toml",
     ['arrivals.rate_hz=20000.0', "arrivals.num_jobs=40", 'arrivals.generators=["ghz", "qft", "random"]',
      "arrivals.num_qubits=[4, 8]", "arrivals.shots=200", "arrivals.depth=4"], 1),
    ("dqc_teleport_feedforward, 2000 shots", "jobs/dqc_teleport_feedforward.toml", ["simulation.shots=2000"], 1),
    ("repeater_chain", "jobs/repeater_chain.toml", [], 2),
    ("bbm92_20km", "jobs/bbm92_20km.toml", [], 2),
    ("cloud_queue", "jobs/cloud_queue.toml", [], 2),
]

_UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0, "days": 86400.0}
_LINE = re.compile(r"# time: about (\S+ \S+) \(range (\S+ \S+)-(\S+ \S+)\)")


def seconds_of(text: str) -> float:
    """``"12 s"``, ``"3.4 min"``, ``"2.1 h"`` as seconds."""
    value, unit = text.split()
    return float(value) * _UNITS[unit]


def load() -> float:
    return os.getloadavg()[0]


def timed(args: list[str]) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    started = time.perf_counter()
    proc = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return time.perf_counter() - started, proc.stdout


HEADER = ("| job | ranks | check's estimate: central (range) | check's own wall s | load before check | "
          "`dqsim run` wall s | load before run | measured / central | inside range |\n"
          "|---|---|---|---|---|---|---|---|---|")


def row(label: str, job: str, sets: list[str], ranks: int, tmp: str) -> str:
    """One case's table row: ``dqsim check -n ranks``, then at once ``dqsim run`` on ``ranks`` ranks."""
    python = [sys.executable, "-m", "dqsim"]
    setargs = [item for assignment in sets for item in ("--set", assignment)]
    out = str(Path(tmp) / "out.h5")
    load_check = load()
    check_s, text = timed([*python, "check", job, "-n", str(ranks), "-o", out, *setargs])
    match = _LINE.search(text)
    load_run = load()
    launch = python if ranks == 1 else [str(VENV_BIN / "mpiexec"), "-n", str(ranks), sys.executable,
                                        "-m", "mpi4py", "-m", "dqsim"]
    run_s, _ = timed([*launch, "run", job, "-o", out, "--quiet", *setargs])
    if match is None:  # no estimate, or a lower bound: the line as printed
        line = next((row for row in text.splitlines() if row.startswith("# time:")), "no time line")
        return (f"| {label} | {ranks} | {line[8:90]} | {check_s:.1f} | {load_check:.1f} | {run_s:.1f} | "
                f"{load_run:.1f} | - | - |")
    central, low, high = (seconds_of(g) for g in match.groups())
    inside = "yes" if low <= run_s <= high else "**no**"
    return (f"| {label} | {ranks} | {match.group(1)} ({match.group(2)}-{match.group(3)}) | {check_s:.1f} | "
            f"{load_check:.1f} | {run_s:.1f} | {load_run:.1f} | {run_s / central:.2f} | {inside} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="labels to run (default: all)")
    args = parser.parse_args()
    print(HEADER)
    with tempfile.TemporaryDirectory() as tmp:
        for label, job, sets, ranks in CASES:
            if not args.only or label in args.only:
                print(row(label, job, sets, ranks, tmp), flush=True)


if __name__ == "__main__":
    main()
