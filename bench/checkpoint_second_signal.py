"""Trials of a second signal sent to one rank while 2 ranks write their slabs of a stop's checkpoint, and of a rank
stalled in a parallel-HDF5 checkpoint write: outcomes, not timings (``bench/results/checkpoint-signals-*.md``).

``python bench/checkpoint_second_signal.py signals N``: a 2-rank run of a 4-qubit ``random_circuit`` stopped by a
first SIGINT (``tests/mpi_scripts/second_sigint.py none``) gives a checkpoint; then N times each, a resume of it whose
first SIGINT asks for a stop and whose second signal (SIGINT or SIGTERM) comes to rank 0 or rank 1 alone 0.5 s into
its slab's write (``slab0``, ``slab1``). ``python bench/checkpoint_second_signal.py stalls N``: N 2-rank ``dqc`` runs
under ``.venv-mpio`` for each step (``tests/mpi_scripts/stalls_in_write.py``: rank 1 stalled before the open, the
dataset's creation or the write of the second collective checkpoint), ``DQSIM_COLLECTIVE_CLOSE_S=5``, a 150 s limit.
Each trial prints its exit status, its ``dqsim`` lines and other stderr lines counted, and the checkpoint files left
against those before (signals) or the complete checkpoints (stalls); run from the repository root.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["jobs/random_circuit.toml", "--set", "circuit.num_qubits=4", "--set", "circuit.depth=600", "--set",
         "simulation.fusion=false", "--set", "simulation.shots=20", "--set", 'simulation.observables=["Z0 Z3"]',
         "--quiet"]
DQC = ["jobs/dqc_ghz_4qpu.toml", "--set", "simulation.store_shots=true", "--set", 'circuit.generator="random"',
       "--set", "circuit.depth=4", "--set", "distribution.assignment=[0, 0, 1, 1, 2, 2, 3, 3]"]


def env(**extra) -> dict:
    """The ranks' environment: one thread each, this checkout first on the path."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "PYTHONPATH": str(ROOT), **extra}


def launch(cmd: list[str], limit_s: float, **extra) -> tuple[int | str, str, float]:
    """Run ``cmd`` in its own process group: (exit status or "timeout", stderr, seconds)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env(**extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=limit_s)
        status = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        _, err = proc.communicate()
        status = "timeout"
    return status, err, time.monotonic() - start


def ckpt_files(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir() if ".ckpt" in path.name} if folder.is_dir() else set()


def complete(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.h5") if ".slab" not in path.name
                  and path.with_name(path.name[:-3] + ".manifest.json").exists())


def described(status, err: str, seconds: float) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    mine = [line for line in lines if line.startswith("dqsim")]
    return f"status {status}, {len(mine)} dqsim line(s), {len(lines) - len(mine)} other line(s), {seconds:.1f} s"


def signals(trials: int) -> None:
    mpiexec = str(Path(sys.executable).with_name("mpiexec"))
    script = str(ROOT / "tests" / "mpi_scripts" / "second_sigint.py")
    work = Path(tempfile.mkdtemp(prefix="second-signal-"))
    base = [mpiexec, "-n", "2", sys.executable, "-m", "mpi4py", script]
    status, err, _ = launch([*base, "none", "run", *SMALL, "-o", str(work / "x.h5"), "--set",
                             f'checkpoint.directory="{work / "ck"}"'], 240)
    (first,) = complete(work / "ck")
    print(f"base run: status {status}, checkpoint {first}")
    for signal_name in ("SIGINT", "SIGTERM"):
        for who in ("slab0", "slab1"):
            for trial in range(trials):
                folder = work / f"{signal_name}-{who}-{trial}"
                shutil.copytree(work / "ck", folder)
                before = ckpt_files(folder)
                status, err, seconds = launch([*base, who, "resume", str(folder / first), "-o",
                                               str(folder / "x.h5")], 240, SIGNAL=signal_name)
                after = ckpt_files(folder)
                whole = [name for name in complete(folder) if name != first]
                lines = [line for line in err.splitlines() if line.startswith("dqsim")]
                print(f"{signal_name} {who} #{trial}: {described(status, err, seconds)}; files: "
                      f"{len(after - before)} new ({len(whole)} whole checkpoint(s) among them), "
                      f"{len(before - after)} gone; dqsim lines: {lines}")
    shutil.rmtree(work)


def stalls(trials: int) -> None:
    python = str(ROOT / ".venv-mpio" / "bin" / "python")
    for step in ("open", "create", "write"):
        for trial in range(trials):
            work = Path(tempfile.mkdtemp(prefix="stall-"))
            status, err, seconds = launch(["mpiexec.mpich", "-n", "2", python, "tests/mpi_scripts/stalls_in_write.py",
                                           step, "run", *DQC, "-o", str(work / "out.h5"), "--quiet", "--set",
                                           "checkpoint.every_sim_s=0.0008", "--set",
                                           f'checkpoint.directory="{work / "ck"}"'], 150,
                                          DQSIM_COLLECTIVE_CLOSE_S="5")
            lines = [line for line in err.splitlines() if line.startswith("dqsim")]
            print(f"stall {step} #{trial}: {described(status, err, seconds)}; complete checkpoints "
                  f"{complete(work / 'ck')}; dqsim lines: {[line.split('.h5: ', 1)[-1][:110] for line in lines]}")
            shutil.rmtree(work)


if __name__ == "__main__":
    what, count = sys.argv[1], int(sys.argv[2])
    {"signals": signals, "stalls": stalls}[what](count)
