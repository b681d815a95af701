"""CPU per shot of a dynamic DQC job, in one process after a warm-up run (imports and numba loads left out).

Each shot of a dynamic circuit is one engine run (:func:`dqsim.scenarios.dqc.run_trajectories`), so the
per-shot CPU is that of a whole run: planning, register, engine, results. The warm-up runs ``--warmup``
shots of the same job first; then ``process_time`` and ``perf_counter`` are read around ``run_job`` of
``--shots`` shots (``[simulation].timeline = false``, as a long run would set it), ``--repeat`` times.

Usage: ``PYTHONPATH=<tree> python bench/dqc_shots.py [JOB] [--shots N] [--repeat R]``; prints one line per
repeat: ``cpu_ms_per_shot=... wall_ms_per_shot=... load1=...``. For an A/B, run it alternately from two trees
(``git archive`` the old commit into a directory) and compare medians.
"""

from __future__ import annotations

import argparse
import os
import time

from dqsim import backend as backend_mod
from dqsim.comm import SingleComm
from dqsim.jobs import apply_overrides, load_job
from dqsim.scenarios import dqc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", nargs="?", default="jobs/dqc_teleport_feedforward.toml")
    parser.add_argument("--shots", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    def job_with(shots: int):
        return apply_overrides(load_job(args.job), [f"simulation.shots={shots}", "simulation.timeline=false"])

    comm, backend = SingleComm(), backend_mod.select("numpy")
    dqc.run_job(job_with(args.warmup), comm=comm, backend=backend)
    job = job_with(args.shots)
    for _ in range(args.repeat):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        dqc.run_job(job, comm=comm, backend=backend)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        print(f"cpu_ms_per_shot={1e3 * cpu / args.shots:.3f} wall_ms_per_shot={1e3 * wall / args.shots:.3f} "
              f"load1={os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
