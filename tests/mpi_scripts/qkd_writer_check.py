"""Where a ``[qkd.network]`` run's per-link tallies and rows are held, rank by rank.

Usage: python qkd_writer_check.py OUT NUM_NODES  (rank 0 writes one JSON line to OUT)

A trusted chain of NUM_NODES nodes (30 km links, 200 pulses each) through :func:`dqsim.scenarios.qkd.run_network`
and :func:`dqsim.scenarios.qkd.run_job`, each rank under :mod:`tracemalloc`. Each rank reports whether
``run_network`` gave it the tallies and how many, the table names of its ``run_job`` output, its attributes and
summary (to compare with rank 0's), and the peak of its traced Python memory while a second ``run_job`` ran,
bytes (the first, untraced, loads modules and fills caches that would weigh the same on every rank).
"""

import json
import sys
import tracemalloc

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import apply_overrides, load_job
from dqsim.scenarios import qkd as qkd_scenario

JOB = "jobs/qkd_trusted_chain.toml"


def chain_job(num_nodes: int):
    """The example chain at ``num_nodes`` nodes, every link 30 km, 200 pulses a link in one batch."""
    return apply_overrides(load_job(JOB), [f"qkd.network.num_nodes={num_nodes}", "qkd.network.distances_km=",
                                           "qkd.link.distance_km=30.0", "qkd.pulses=200", "qkd.batch_pulses=200"])


def main(out_path: str, num_nodes: int) -> None:
    comm = comm_mod.init()
    backend = backend_mod.select("numpy")
    job = chain_job(num_nodes)
    tallies = qkd_scenario.run_network(job, comm=comm, backend=backend)["tallies"]
    qkd_scenario.run_job(job, comm=comm, backend=backend)  # once untraced: what it loads or caches the first time
    tracemalloc.start()
    out = qkd_scenario.run_job(job, comm=comm, backend=backend)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    mine = {"rank": comm.rank, "tallies": None if tallies is None else len(tallies), "tables": sorted(out.tables),
            "attrs": {key: repr(value) for key, value in out.attrs.items() if key != "pulses_per_wall_second"},
            "summary": out.summary, "peak_bytes": peak}
    every = comm.gather(mine, root=0)
    if comm.rank == 0:
        with open(out_path, "w") as handle:
            handle.write(json.dumps(every) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
