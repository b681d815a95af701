"""Wall and CPU time (children's user+sys) of a test-style 2-rank launch, with and without the test-only
``sitecustomize`` that freezes the collector at exit (tests/exit_freeze/sitecustomize.py), alternated.

    PYTHONPATH=$PWD .venv/bin/python bench/teardown_launch.py --repeats 5

Prints one line per run (load, wall, CPU) and the medians, and their ratio old / new, of this one run.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FREEZE = ROOT / "tests" / "exit_freeze"
#: The default launch: a script of tests/mpi_scripts/ and its arguments ({out}: a file or folder of this run's).
SCRIPT = ["tests/mpi_scripts/alltoall_check.py", "{out}/out.npz"]


def launch(ranks: int, freeze: bool, script: list[str], out: Path) -> tuple[float, float]:
    """(wall s, children's user+sys s) of one ``mpiexec -n ranks python -m mpi4py *script``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([str(FREEZE)] if freeze else [])])
    cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), sys.executable, "-m", "mpi4py",
           *(word.replace("{out}", str(out)) for word in script)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("script", nargs="*", default=SCRIPT, help="script and its arguments ({out}: a folder)")
    args = parser.parse_args()
    print("launch:", " ".join(args.script), f"on {args.ranks} ranks")
    runs = {False: [], True: []}
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.repeats):
            for freeze in ((False, True) if i % 2 == 0 else (True, False)):
                load = os.getloadavg()[0]
                wall, cpu = launch(args.ranks, freeze, args.script, Path(folder))
                runs[freeze].append((load, wall, cpu))
                print(f"{'new' if freeze else 'old'} load {load:5.2f} wall {wall:6.2f} s cpu {cpu:6.2f} s",
                      flush=True)
    for freeze in (False, True):
        loads, walls, cpus = zip(*runs[freeze])
        print(f"{'new' if freeze else 'old'}: load {statistics.median(loads):.2f} wall {statistics.median(walls):.2f}"
              f" ({min(walls):.2f}-{max(walls):.2f}) cpu {statistics.median(cpus):.2f}"
              f" ({min(cpus):.2f}-{max(cpus):.2f})")
    wall_old, wall_new = (statistics.median(r[1] for r in runs[f]) for f in (False, True))
    cpu_old, cpu_new = (statistics.median(r[2] for r in runs[f]) for f in (False, True))
    print(f"old/new: wall {wall_old / wall_new:.2f}, cpu {cpu_old / cpu_new:.2f}")


if __name__ == "__main__":
    main()
