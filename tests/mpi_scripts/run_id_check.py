"""Run ``dqsim ARGS`` on every rank, recording the run id each rank's run started with.

Usage: python run_id_check.py DQSIM ARGS...
:func:`dqsim.engine.checkpoint.start_run_id` (the collective that gives a run its id at its start) is wrapped on
every rank to record what it returned there; after the run rank 0 gathers the records and prints one JSON line
``{"run_ids": [[ids of rank 0], [ids of rank 1], ...], "status": STATUS}``.
"""

import json
import sys

from dqsim import comm as comm_mod
from dqsim.engine import checkpoint


def main(args: list[str]) -> int:
    from dqsim.cli import console_main

    seen = []
    plain = checkpoint.start_run_id

    def recording(comm, resume=None):
        seen.append(plain(comm, resume))
        return seen[-1]

    checkpoint.start_run_id = recording
    status = console_main(args)
    comm = comm_mod.init()
    records = comm.gather(seen)
    if comm.rank == 0:
        print(json.dumps({"run_ids": records, "status": status}), flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
