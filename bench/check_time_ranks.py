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
from check_time_vs_run import HEADER, ROOT, row  # noqa: E402

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
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"commit {commit or '(not a git checkout)'}\n\n{HEADER}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, job, sets, counts in CASES:
            for ranks in counts:
                if (not args.only or label in args.only) and (not args.ranks or ranks in args.ranks):
                    print(row(label, job, sets, ranks, tmp), flush=True)


if __name__ == "__main__":
    main()
