"""``dqsim ARGS...`` that prints one line per networked run of the ``trotter`` scenario it runs.

Usage: python trotter_count.py LOG resume CHECKPOINT [-o OUT --quiet]
Each rank appends ``trotter-run rank=R seed=S ranks=N`` to ``LOG.rankR`` for
every networked run it starts (N: the ranks the run is simulated on, 1 for a
run shared out to this rank alone), so a test can tell which runs a resume
redid and where (a file per rank: the launcher may interleave the ranks' stdout).
"""

import os
import sys

from dqsim.cli.main import main
from dqsim.scenarios import trotter

ONE_RUN = trotter._run_once


def counted(*args, **kwargs):
    rank = os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0"))  # MPICH, Open MPI
    with open(f"{LOG}.rank{rank}", "a") as log:
        log.write(f"trotter-run rank={rank} seed={kwargs['seed']} ranks={kwargs['comm'].size}\n")
    return ONE_RUN(*args, **kwargs)


if __name__ == "__main__":
    LOG = sys.argv[1]
    trotter._run_once = counted
    raise SystemExit(main(sys.argv[2:]))
