"""Peak memory and speed of BB84 runs with large batches, with two dqsim trees alternated, in one run.

A benchmark, not a test. For each case and each tree (``--trees A B``: e.g. a ``git archive`` of the base
commit's ``dqsim`` and this checkout), in turn, it runs the ``qkd`` scenario of ``jobs/bb84_decoy_50km.toml``
in a fresh process (``PYTHONPATH=TREE``, started in TREE) twice: once plain, for the process's peak RSS
(``ru_maxrss``) and its CPU time (pulses per CPU second of the run, the process's start and imports left
out), and once under ``tracemalloc`` (NumPy's arrays are traced) for the peak of traced memory. The load
average is printed before and after each case.

    .venv/bin/python bench/qkd_batch_peak.py --trees /tmp/base . [--repeat 2] [--cases NAME ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: name -> --set overrides of jobs/bb84_decoy_50km.toml (one block, batches of 1e7 pulses, one rank)
CASES = {
    "detections 0 km": ["qkd.link.distance_km=0.0", "qkd.pulses=20000000", "qkd.batch_pulses=10000000",
                        "qkd.block_pulses=20000000"],
    "detections 50 km": ["qkd.link.distance_km=50.0", "qkd.pulses=20000000", "qkd.batch_pulses=10000000",
                         "qkd.block_pulses=20000000"],
    "detections 0 km cascade": ["qkd.link.distance_km=0.0", "qkd.pulses=20000000", "qkd.batch_pulses=10000000",
                                "qkd.block_pulses=20000000", "qkd.error_correction=cascade"],
    "pulses 0 km": ['qkd.sampling="pulses"', "qkd.link.distance_km=0.0", "qkd.pulses=20000000",
                    "qkd.batch_pulses=10000000", "qkd.block_pulses=20000000"],
    "pulses 50 km": ['qkd.sampling="pulses"', "qkd.link.distance_km=50.0", "qkd.pulses=20000000",
                     "qkd.batch_pulses=10000000", "qkd.block_pulses=20000000"],
}
CODE = """
import resource, sys, time, tracemalloc
from dqsim import backend, comm
from dqsim.jobs import apply_overrides, load_job
from dqsim.scenarios import qkd
job = apply_overrides(load_job(sys.argv[2]), sys.argv[3:])
if sys.argv[1] == "traced":
    tracemalloc.start()
cpu = time.process_time()
result = qkd.run_job(job, comm=comm.SingleComm(), backend=backend.select("numpy"))
cpu = time.process_time() - cpu
peak = tracemalloc.get_traced_memory()[1] if sys.argv[1] == "traced" else 0
print(f"{peak / 2**20:.1f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} {cpu:.3f}")
"""


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure(tree: Path, sets: list[str]) -> tuple[float, float, float]:
    """``(peak traced MiB, peak RSS MiB, CPU s)`` of one case with ``tree``'s dqsim (two fresh processes)."""
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    job = str(ROOT / "jobs" / "bb84_decoy_50km.toml")
    out = {}
    for mode in ("plain", "traced"):
        out[mode] = subprocess.run([sys.executable, "-c", CODE, mode, job, *sets], cwd=tree, env=env,
                                   capture_output=True, text=True, check=True).stdout.split()
    return float(out["traced"][0]), float(out["plain"][1]), float(out["plain"][2])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", nargs=2, type=Path, required=True, metavar=("A", "B"))
    parser.add_argument("--repeat", type=int, default=1, help="alternations per case")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    args = parser.parse_args(argv)
    for name in args.cases:
        sets = CASES[name]
        pulses = int(float(next(s for s in sets if s.startswith("qkd.pulses=")).split("=")[1]))
        print(f"{name}: load {_load()}", flush=True)
        for _ in range(args.repeat):
            for tree in args.trees:
                traced, rss, cpu = measure(tree, sets)
                print(f"  {tree}: peak traced {traced:.1f} MiB, peak RSS {rss:.1f} MiB, "
                      f"{pulses / cpu:.3g} pulses per CPU s ({cpu:.2f} s)", flush=True)
        print(f"  load {_load()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
