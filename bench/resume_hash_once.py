"""Resume time of a large register's checkpoint: this tree against another (``--old``), alternating, same minutes.

A ``circuit`` run of ``--qubits`` qubits (a random circuit, two layers) is stopped by SIGUSR1 once every rank
holds the stop signals, which writes a checkpoint of its register (slab files, one per rank). Then, ``--repeats``
times and alternating between the two trees (``PYTHONPATH``), ``dqsim resume`` of that checkpoint runs until
the register is restored, and rank 0 prints the seconds of ``read_checkpoint`` (the manifest's checks) and of
``Checkpointer.restore`` (the register read from the slabs); the run ends there (``os._exit``). The files are in
the page cache for every run after the first (reading a cold disk was not measured: dropping the cache needs
root). The load average (``uptime``) is printed with each pair.

Usage (from the repository root)::

    git archive BASE dqsim | tar -x -C /tmp/old
    PYTHONPATH=$PWD .venv/bin/python bench/resume_hash_once.py --old /tmp/old --qubits 24 --ranks 1 2 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
MPIEXEC = ROOT / ".venv" / "bin" / "mpiexec"

#: Runs ``dqsim resume CHECKPOINT`` up to the register's restore; rank 0 prints ``RESUME read_s restore_s``.
DRIVER = """
import os, sys, time
from dqsim.engine import checkpoint
from dqsim.cli import console_main
seconds = {}
read_checkpoint, restore = checkpoint.read_checkpoint, checkpoint.Checkpointer.restore
def timed_read(*args, **kwargs):
    started = time.perf_counter()
    found = read_checkpoint(*args, **kwargs)
    seconds["read"] = time.perf_counter() - started
    return found
def timed_restore(self, sim):
    started = time.perf_counter()
    restore(self, sim)
    self.comm.barrier()
    seconds["restore"] = time.perf_counter() - started
    if self.comm.rank == 0:
        print(f"RESUME {seconds['read']:.4f} {seconds['restore']:.4f}", flush=True)
    os._exit(0)
checkpoint.read_checkpoint, checkpoint.Checkpointer.restore = timed_read, timed_restore
console_main(["resume", sys.argv[1], "-o", sys.argv[2], "--quiet"])
"""


def launch(ranks: int, args: list[str]) -> list[str]:
    if ranks == 1:
        return [str(PYTHON), *args]
    return [str(MPIEXEC), "-n", str(ranks), str(PYTHON), "-m", "mpi4py", *args]


def env_for(tree: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
                OPENBLAS_NUM_THREADS="1", DQSIM_BACKEND="numpy")


def make_checkpoint(folder: Path, ranks: int, qubits: int) -> Path:
    """A checkpoint of a ``qubits``-qubit register written by ``ranks`` ranks (a stop signal's)."""
    ready = folder / "ready"
    ready.mkdir(parents=True)
    job = ["-m", "dqsim", "run", str(ROOT / "jobs" / "random_circuit.toml"), "--set", f"circuit.num_qubits={qubits}",
           "--set", "circuit.depth=2", "--set", "simulation.fusion=false", "--set", "simulation.shots=1",
           "--set", "simulation.observables=[\"Z0 Z1\"]", "--set", f"checkpoint.directory=\"{folder / 'ck'}\"",
           "-o", str(folder / "x.h5"), "--quiet"]
    proc = subprocess.Popen(launch(ranks, job), cwd=ROOT, env={**env_for(ROOT), "DQSIM_READY_DIR": str(ready)},
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    while len(list(ready.iterdir())) < ranks and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(3.0)  # into the gates
    os.kill(proc.pid, signal.SIGUSR1)
    _out, err = proc.communicate(timeout=900)
    if proc.returncode != 75:
        raise SystemExit(f"the run to checkpoint ended with {proc.returncode}: {err[-2000:]}")
    [path] = [p for p in (folder / "ck").glob("*.ckpt*.h5") if ".slab" not in p.name]
    return path


def resume_seconds(tree: Path, ranks: int, path: Path, out: Path) -> tuple[float, float]:
    script = out.parent / "driver.py"
    script.write_text(DRIVER)
    done = subprocess.run(launch(ranks, [str(script), str(path), str(out)]), cwd=ROOT, env=env_for(tree),
                          capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESUME ")]
    if not lines:
        raise SystemExit(f"{tree}: no timing ({done.returncode}): {done.stderr[-2000:]}")
    read_s, restore_s = map(float, lines[0].split()[1:])
    return read_s, restore_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="a tree holding the dqsim to compare with")
    parser.add_argument("--qubits", type=int, default=24)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="resume_hash_once_"))
    for ranks in args.ranks:
        path = make_checkpoint(work / f"r{ranks}", ranks, args.qubits)
        size = sum(f.stat().st_size for f in path.parent.iterdir())
        print(f"## {args.qubits} qubits, {ranks} rank(s): checkpoint {path.name}, {size / 2**20:,.1f} MiB", flush=True)
        times = {"old": [], "new": []}
        for repeat in range(args.repeats + 1):  # the first pair warms the page cache and is not counted
            pair = (("old", args.old), ("new", ROOT))
            for name, tree in pair if repeat % 2 == 0 else pair[::-1]:
                read_s, restore_s = resume_seconds(tree, ranks, path, work / "out.h5")
                load = os.getloadavg()[0]
                print(f"  {'warm-up' if repeat == 0 else f'run {repeat}'} {name}: read_checkpoint {read_s:.3f} s, "
                      f"restore {restore_s:.3f} s, sum {read_s + restore_s:.3f} s (load {load:.1f})", flush=True)
                if repeat:
                    times[name].append(read_s + restore_s)
        old, new = statistics.median(times["old"]), statistics.median(times["new"])
        print(f"  median read+restore: old {old:.3f} s, new {new:.3f} s, new/old {new / old:.2f}", flush=True)


if __name__ == "__main__":
    main()
