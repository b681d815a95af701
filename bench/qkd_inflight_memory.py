"""Peak traced memory of BB84 runs whose messages in flight are large, with two dqsim trees, in one run.

A benchmark, not a test. For each tree (``--trees A B``: e.g. a copy of the base commit's ``dqsim`` and this
checkout) and each case it runs the ``qkd`` scenario of ``jobs/bb84_decoy_50km.toml`` in a fresh process
(``PYTHONPATH=TREE``, started in TREE) under ``tracemalloc`` (NumPy's arrays are traced) and prints the peak of
traced memory and the process's peak RSS (``ru_maxrss``). Cases: ``sampling = "pulses"`` at 100 km (a round
trip of 1 ms: two batches of 1e6 or 5e6 pulses in flight) and at 0 km, and the detection sampler at 0 km with 1e7-pulse
batches. The trees alternate per case.

    .venv/bin/python bench/qkd_inflight_memory.py --trees /tmp/base .
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "pulses 100 km, batch 1e6": ['qkd.sampling="pulses"', "qkd.link.distance_km=100.0", "qkd.pulses=6000000",
                                 "qkd.batch_pulses=1000000", "qkd.block_pulses=6000000"],
    "pulses 100 km, batch 5e6": ['qkd.sampling="pulses"', "qkd.link.distance_km=100.0", "qkd.pulses=20000000",
                                 "qkd.batch_pulses=5000000", "qkd.block_pulses=20000000"],
    "pulses 0 km, batch 5e6": ['qkd.sampling="pulses"', "qkd.link.distance_km=0.0", "qkd.pulses=20000000",
                               "qkd.batch_pulses=5000000", "qkd.block_pulses=20000000"],
    "detections 0 km, batch 1e7": ["qkd.link.distance_km=0.0", "qkd.pulses=60000000", "qkd.batch_pulses=10000000",
                                   "qkd.block_pulses=60000000"],
}
CODE = """
import resource, sys, tracemalloc
from dqsim import backend, comm
from dqsim.jobs import apply_overrides, load_job
from dqsim.scenarios import qkd
job = apply_overrides(load_job(sys.argv[1]), sys.argv[2:])
tracemalloc.start()
qkd.run_job(job, comm=comm.SingleComm(), backend=backend.select("numpy"))
peak = tracemalloc.get_traced_memory()[1]
print(f"{peak / 2**20:.1f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", nargs=2, type=Path, required=True, metavar=("A", "B"))
    args = parser.parse_args(argv)
    print("load", " ".join(Path("/proc/loadavg").read_text().split()[:3]), flush=True)
    for name, sets in CASES.items():
        for tree in args.trees:
            env = dict(os.environ, PYTHONPATH=str(tree.resolve()), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
            out = subprocess.run([sys.executable, "-c", CODE, str(ROOT / "jobs" / "bb84_decoy_50km.toml"), *sets],
                                 cwd=tree, env=env, capture_output=True, text=True, check=True).stdout.split()
            print(f"{name}: {tree}: peak traced {out[0]} MiB, peak RSS {out[1]} MiB", flush=True)
    print("load", " ".join(Path("/proc/loadavg").read_text().split()[:3]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
