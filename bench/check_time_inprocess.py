"""``dqsim check``'s pilot model against the whole job run in the same process, the same minute.

For each ``JOB[@SECTION.KEY=VALUE...]`` argument: :func:`dqsim.cli.check_time.estimate` with no start-up
time, then the whole job through the same runner (warm: after the pilot), so that the ratio shows what the
extrapolation from the pilot misses, without the process start, imports and first-run costs that
``bench/check_time_vs_run.py`` includes.

    PYTHONPATH=. python bench/check_time_inprocess.py jobs/bbm92_20km.toml "jobs/repeater_chain.toml@chain.num_pairs=200"
"""

from __future__ import annotations

import os
import sys

from dqsim import jobs
from dqsim.cli import check_time


def main() -> None:
    check_time.PILOT_ABANDON_S = 600.0  # no pilot run abandoned here (the whole job gets its own limit below)
    check_time.PILOT_WALL_S = 600.0  # nor stopped by its budget
    for spec in sys.argv[1:]:
        path, *sets = spec.split("@")
        job = jobs.load_job(path, sets)
        got = check_time.estimate(job, startup_s=0.0)
        seconds = check_time._timed_run(job, 600.0)[0]
        print(f"{os.path.basename(path)} {sets}: estimate {got.central:.2f} s ({got.low:.2f}-{got.high:.2f}), "
              f"whole job {seconds:.2f} s, ratio {seconds / got.central:.2f}, load {os.getloadavg()[0]:.1f}; "
              f"{got.how}", flush=True)


if __name__ == "__main__":
    main()
