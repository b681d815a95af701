"""CPU time of short ``dqsim`` commands (``--version``, ``--help``, ...): what their imports cost.

Runs ``python -m dqsim ARGS`` ``--repeat`` times for each tree given (a
source tree holding ``dqsim/``, put first on ``PYTHONPATH``), alternating the
trees run by run so that a change in the machine's load hits both alike, and
prints each command's user+system CPU seconds per run (median and total over
the runs) and the 1-minute load average before and after.

    python bench/cli_startup.py --tree before=/tmp/old --tree after=. --repeat 10
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys

COMMANDS = (["--version"], ["--help"], ["run", "--help"], ["examples", "--help"])


def cpu_seconds(tree: str, args: list[str]) -> float:
    """User + system CPU seconds of one ``python -m dqsim ARGS`` run from ``tree``."""
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "dqsim", *args], env=env, check=True, stdout=subprocess.DEVNULL,
                   cwd=os.path.abspath(tree))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, metavar="LABEL=PATH")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--inspect", metavar="FILE", help="also time dqsim inspect FILE (an absolute path)")
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.tree)
    commands = [*COMMANDS, *([["inspect", args.inspect]] if args.inspect else [])]
    print(f"load before: {os.getloadavg()[0]:.2f}; {args.repeat} runs of each command per tree, alternating")
    times = {(label, tuple(cmd)): [] for label in trees for cmd in commands}
    for _ in range(args.repeat):
        for cmd in commands:
            for label, tree in trees.items():
                times[(label, tuple(cmd))].append(cpu_seconds(tree, cmd))
    for cmd in commands:
        for label in trees:
            runs = times[(label, tuple(cmd))]
            print(f"dqsim {' '.join(cmd)[:24]:24s} {label:8s} median {statistics.median(runs):.3f} s CPU, "
                  f"total {sum(runs):.2f} s over {len(runs)} runs")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
