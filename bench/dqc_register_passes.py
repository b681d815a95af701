"""A/B of whole dqc runs between two source trees (CPU time of the child process, alternated repeats).

    python bench/dqc_register_passes.py OLD_TREE NEW_TREE --repeats 3

Runs ``dqsim run jobs/dqc_ghz_4qpu.toml`` as a random circuit of 12 or 16 qubits (depth 20) and of 20 qubits
(depth 20, the lead's profile job), 4 QPUs, one rank, complex128, with each tree on PYTHONPATH in turn
(one untimed warm-up each, for numba's cache), and prints per run: tree, job, CPU seconds (user + system of
the child), wall seconds, the 1-minute load average before it, and the run's fidelity.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

JOBS = {
    "random12": (12, 3, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]),
    "random16": (16, 4, [q // 4 for q in range(16)]),
    "random20": (20, 5, [q // 5 for q in range(20)]),
}


def command(name: str, out: str) -> list[str]:
    """The ``dqsim run`` command line of job ``name`` writing ``out``."""
    qubits, per_node, assignment = JOBS[name]
    return [sys.executable, "-m", "dqsim", "run", "jobs/dqc_ghz_4qpu.toml", "--set", 'circuit.generator="random"',
            "--set", f"circuit.num_qubits={qubits}", "--set", f"network.node.num_data_qubits={per_node}",
            "--set", f"distribution.assignment={assignment}".replace(" ", ""), "--set", "circuit.depth=20",
            "--set", "simulation.shots=100", "-o", out, "--quiet"]


def one_run(tree: str, name: str, out: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one run with ``tree`` first on PYTHONPATH."""
    env = dict(os.environ, PYTHONPATH=tree, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.Popen(command(name, out), env=env, cwd=tree)
    _pid, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"{tree}: {name} failed with status {status}")
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - start


def fidelity(path: str) -> float:
    import h5py

    with h5py.File(path) as f:
        return float(f.attrs["fidelity"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", default="random12,random20")
    args = parser.parse_args()
    trees = {"old": os.path.abspath(args.old), "new": os.path.abspath(args.new)}
    for name in args.jobs.split(","):
        for label, tree in trees.items():
            one_run(tree, name, f"/tmp/dqc_passes_{label}_{name}.h5")  # warm-up (numba cache)
        for repeat in range(args.repeats):
            for label in (("old", "new") if repeat % 2 == 0 else ("new", "old")):
                out = f"/tmp/dqc_passes_{label}_{name}.h5"
                load = os.getloadavg()[0]
                cpu, wall = one_run(trees[label], name, out)
                print(f"{label} {name} cpu_s={cpu:.2f} wall_s={wall:.2f} load1={load:.2f} "
                      f"fidelity={fidelity(out)!r}", flush=True)


if __name__ == "__main__":
    main()
