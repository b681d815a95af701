"""CPU seconds of a network's lookahead tables, built for 2 ranks in this process: the rank distances and one
blocked node's least delays (``least_delay_column``), with the walk and links built first (not timed).

Run it with each source tree's ``PYTHONPATH`` (one after the other, alternated) to compare them:

    PYTHONPATH=/tmp/base .venv/bin/python bench/network_lookahead_cpu.py JOB.toml
    PYTHONPATH=$PWD .venv/bin/python bench/network_lookahead_cpu.py JOB.toml
"""

import sys
import time

from dqsim.jobs import load_job
from dqsim.scenarios import dqc


def main(job_file: str, num_ranks: int = 2) -> None:
    job = load_job(job_file)
    start = time.process_time()
    network = dqc.job_network(job.network, num_ranks)
    network._adjacency()
    built = time.process_time()
    network.rank_distance_columns()
    ranked = time.process_time()
    network.least_delay_column(min(3, network.num_nodes - 1))
    done = time.process_time()
    print(f"{job_file.split('/')[-1]:<20} network {built - start:5.2f}  rank distances {ranked - built:5.2f}  "
          f"least delays from 3 {done - ranked:5.2f} CPU s")


if __name__ == "__main__":
    main(sys.argv[1])
