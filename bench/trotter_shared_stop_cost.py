"""How long a stop after trotter runs shared out over the ranks takes to checkpoint.

Runs ``dqsim run JOB --quiet`` on every rank (output and checkpoints in a temporary folder); rank 1 alone sends
itself SIGTERM as trotter's ``_summary`` starts (after the runs, in the tables), and each rank measures the
seconds from there to the end of ``dqsim run`` (the stop runs one run again on every rank, which checkpoints it;
exit status 75). Rank 0 prints one JSON line: the status, each rank's seconds, the 1-minute load.

    mpiexec -n 2 python bench/trotter_shared_stop_cost.py jobs/ising_trotter_4qpu.toml [--set KEY=VALUE ...]
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time

from dqsim import comm as comm_mod
from dqsim.cli import main as cli_main
from dqsim.scenarios import trotter
comm = comm_mod.init()
original, sent = trotter._summary, []
def hooked(*args, **kwargs):
    if comm.rank == 1:
        os.kill(os.getpid(), signal.SIGTERM)
    sent.append(time.perf_counter())
    return original(*args, **kwargs)
trotter._summary = hooked
folder = comm.bcast(tempfile.mkdtemp(prefix="stop_cost-") if comm.rank == 0 else None)
status = cli_main.main(["run", *sys.argv[1:], "--quiet", "-o", os.path.join(folder, "out.h5"),
                        "--set", f"checkpoint.directory={json.dumps(os.path.join(folder, 'ck'))}"])
ended = time.perf_counter()
cost = comm.gather(ended - sent[0])
if comm.rank == 0:
    shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps({"args": sys.argv[1:], "status": status, "stop_to_checkpointed_s": cost,
                      "loadavg_1min": os.getloadavg()[0]}), flush=True)
