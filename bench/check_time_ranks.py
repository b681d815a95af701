"""``dqsim check -n R``'s wall-time estimate against ``dqsim run`` on ``R`` ranks (1, 2, 4), job by job.

The rows of :mod:`check_time_vs_run` (check, then at once the run on as many ranks, with the 1-minute load
average before each), for the cases below: shipped jobs of every scenario on 1, 2 and 4 ranks and a few scaled
up with ``--set`` on 1 and 2. Four ranks on a 2-core machine are oversubscribed. Also prints the check's own
wall time, which the pilot's budget bounds (``dqsim/cli/check_time.py``, ``PILOT_WALL_S``).

    python bench/check_time_ranks.py [--only LABEL ...] [--ranks 1 2 4] > table.md
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_time_vs_run import ROOT, VENV_BIN, _LINE, load, seconds_of, timed  # noqa: E402

#: (label, job, --set assignments, rank counts)
CASES = [
    ("bb84_decoy_50km", "jobs/bb84_decoy_50km.toml", [], (1, 2, 4)),
    ("qkd_trusted_chain", "jobs/qkd_trusted_chain.toml", [], (1, 2, 4)),
    ("repeater_chain", "jobs/repeater_chain.toml", [], (1, 2)),  # 4 ranks: 3 min at load 17, see the results
    ("dqc_ghz_4qpu", "jobs/dqc_ghz_4qpu.toml", [], (1, 2, 4)),
    ("cloud_queue", "jobs/cloud_queue.toml", [], (1, 2, 4)),
    ("ising_trotter_4qpu", "jobs/ising_trotter_4qpu.toml", [], (1, 2, 4)),
    ("xxz_ring_sweep, 2 trajectories", "jobs/xxz_ring_sweep.toml", ["simulation.trajectories=2"], (1, 2, 4)),
    ("qft_20q", "jobs/qft_20q.toml", [], (1, 2, 4)),
    ("bbm92_20km", "jobs/bbm92_20km.toml", [], (1, 2)),
    ("bb84_decoy_50km, 5x10^7 pulses", "jobs/bb84_decoy_50km.toml", ["qkd.pulses=50_000_000"], (1, 2)),
    ("repeater_chain, 8 links, 60 pairs", "jobs/repeater_chain.toml",
     ["chain.num_links=[8]", "chain.total_distance_km=[400.0]", "chain.num_pairs=60"], (1, 2)),
    ("ising_trotter_4qpu, 20 points", "jobs/ising_trotter_4qpu.toml",
     ["evolution.num_points=20", "evolution.total_time=4.0"], (1, 2)),
    ("quickstart, 22 qubits", "jobs/quickstart.toml", ["circuit.num_qubits=22", "simulation.observables=[]"], (1, 2)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="labels to run (default: all)")
    parser.add_argument("--ranks", nargs="*", type=int, help="rank counts to run (default: each case's)")
    args = parser.parse_args()
    python = [sys.executable, "-m", "dqsim"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"commit {commit}\n")
    print("| job | ranks | check's estimate: central (range) | check's own wall s | load before check | "
          "`dqsim run` wall s | load before run | measured / central | inside range |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, job, sets, counts in CASES:
            if args.only and label not in args.only:
                continue
            for ranks in counts:
                if args.ranks and ranks not in args.ranks:
                    continue
                setargs = [item for assignment in sets for item in ("--set", assignment)]
                out = str(Path(tmp) / "out.h5")
                load_check = load()
                check_s, text = timed([*python, "check", job, "-n", str(ranks), "-o", out, *setargs])
                match = _LINE.search(text)
                load_run = load()
                launch = python if ranks == 1 else [str(VENV_BIN / "mpiexec"), "-n", str(ranks), sys.executable,
                                                    "-m", "mpi4py", "-m", "dqsim"]
                run_s, _ = timed([*launch, "run", job, "-o", out, "--quiet", *setargs])
                if match is None:
                    line = next((row for row in text.splitlines() if row.startswith("# time:")), "no time line")
                    print(f"| {label} | {ranks} | {line[8:90]} | {check_s:.1f} | {load_check:.1f} | {run_s:.1f} | "
                          f"{load_run:.1f} | - | - |", flush=True)
                    continue
                central, low, high = (seconds_of(g) for g in match.groups())
                inside = "yes" if low <= run_s <= high else "**no**"
                print(f"| {label} | {ranks} | {match.group(1)} ({match.group(2)}-{match.group(3)}) | {check_s:.1f} | "
                      f"{load_check:.1f} | {run_s:.1f} | {load_run:.1f} | {run_s / central:.2f} | {inside} |",
                      flush=True)


if __name__ == "__main__":
    main()
