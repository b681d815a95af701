"""CPU seconds of ``dqsim check JOB --no-time`` in several source trees, alternated in one run.

Each round runs every tree once per job, in turn (so the machine's load falls on all alike), as a child process
``python -m dqsim check JOB --no-time`` with ``PYTHONPATH`` the tree; the CPU time is the child's user + system
time (``resource.getrusage(RUSAGE_CHILDREN)``), the load the 1-minute load average before the round. Each tree's
``dqsim`` is byte-compiled first (``compileall``), as an installed package is: without it a tree whose
``__pycache__`` is missing (``PYTHONDONTWRITEBYTECODE=1``, a fresh ``git archive``) compiles ~140 modules in every
run, ~1.4 CPU s. Prints each tree's range and median per job, and the ratio of medians to the first tree.

Usage (trees from ``git archive COMMIT | tar -x -C DIR``, each with a ``.venv`` link or run by one python)::

    python bench/check_cost.py --tree base=/tmp/base --tree new=. --rounds 3 jobs/ising_trotter_4qpu.toml
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys


def child_cpu_seconds(tree: str, job: str) -> float:
    """User + system CPU seconds of one ``dqsim check`` of ``job`` (a path relative to ``tree``) in ``tree``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "dqsim", "check", job, "--no-time"], cwd=tree, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> int:
    """Run the rounds and print the table (Markdown)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, help="NAME=DIR (the first one is the baseline)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("jobs", nargs="+", help="job files, relative to each tree")
    args = parser.parse_args(argv)
    trees = [tuple(item.split("=", 1)) for item in args.tree]
    for _name, folder in trees:
        compileall.compile_dir(os.path.join(folder, "dqsim"), quiet=1)
    seconds = {(name, job): [] for name, _dir in trees for job in args.jobs}
    loads = []
    for _round in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for job in args.jobs:
            for name, folder in trees:
                seconds[name, job].append(child_cpu_seconds(os.path.abspath(folder), job))
    print(f"load (1 min) before each round: {', '.join(f'{load:.1f}' for load in loads)}\n")
    print("| job | " + " | ".join(f"{name} CPU s (median)" for name, _ in trees)
          + " | " + " | ".join(f"{name}/{trees[0][0]}" for name, _ in trees[1:]) + " |")
    print("|---" * (1 + 2 * len(trees) - 1) + "|")
    for job in args.jobs:
        medians = [statistics.median(seconds[name, job]) for name, _ in trees]
        cells = [f"{min(seconds[name, job]):.2f}-{max(seconds[name, job]):.2f} ({median:.2f})"
                 for (name, _), median in zip(trees, medians)]
        ratios = [f"{median / medians[0]:.2f}" for median in medians[1:]]
        print(f"| {job} | " + " | ".join(cells + ratios) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
