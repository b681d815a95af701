"""``dqsim run ARGS...`` with a stop requested on rank 0 after its first networked run (as a signal would).

Usage: python trotter_stop.py run JOB [--set ...]
The other ranks get no stop request: they finish their share of the runs
shared out over the ranks, and the first run left unfinished (on every rank)
writes the checkpoint, which must keep the results of the runs before it.
"""

import os
import sys

from dqsim.cli.main import main
from dqsim.engine import checkpoint
from dqsim.scenarios import trotter

ONE_RUN = trotter._run_once


def run_then_stop(*args, **kwargs):
    result = ONE_RUN(*args, **kwargs)
    if os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")) == "0":
        checkpoint.request_stop()
    return result


if __name__ == "__main__":
    trotter._run_once = run_then_stop
    raise SystemExit(main(sys.argv[1:]))
