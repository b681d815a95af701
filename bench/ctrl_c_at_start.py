"""Ctrl-C while the ranks of ``dqsim run`` still start: statuses and stderr over a sweep of delays.

Sends one SIGINT to the launcher's process group (as a terminal's Ctrl-C does: ``mpiexec`` passes it on to the
ranks, which hydra starts in sessions of their own) at delays spread over the command's start (imports, MPI's
start), ``--trials`` times, and counts how each ended: status and whether stderr holds mpiexec's
"BAD TERMINATION" banner, a traceback, or only dqsim's own lines. The run is the ``qkd`` job of
``bench/checkpoint_faults.py`` (checkpoints in a temporary folder, removed after each trial).

Usage (from the repository root)::

    PYTHONPATH=$PWD .venv/bin/python bench/ctrl_c_at_start.py --trials 20 --first 0.3 --last 3.0

Each trial takes a few seconds on the loaded 2-core VM. Prints one line per trial and a table of counts.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
MPIEXEC = str(ROOT / ".venv" / "bin" / "mpiexec")
LAUNCH = {"mpi4py": ["-m", "mpi4py", "-m", "dqsim"], "dqsim": ["-m", "dqsim"]}


def trial(delay_s: float, ranks: int, launch: str, timeout_s: float) -> tuple[int | None, str]:
    """One launch, SIGINT to its process group after ``delay_s``; (status or None for a hang, stderr+stdout)."""
    folder = Path(tempfile.mkdtemp(prefix="ctrlc-"))
    args = ["run", str(ROOT / "jobs/bb84_decoy_50km.toml"), "-o", str(folder / "out.h5"), "--quiet",
            "--set", "qkd.pulses=2000000", "--set", "qkd.batch_pulses=250000",
            "--set", "qkd.block_pulses=1000000", "--set", "checkpoint.every_sim_s=0.001",
            "--set", f'checkpoint.directory="{folder / "ck"}"']
    cmd = [MPIEXEC, "-n", str(ranks), PYTHON, *LAUNCH[launch], *args] if ranks > 1 else [PYTHON, "-m", "dqsim", *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(delay_s)
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        status = proc.returncode
    except subprocess.TimeoutExpired:
        for pid in [proc.pid, *_descendants(proc.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        out, _ = proc.communicate()
        status = None
    shutil.rmtree(folder, ignore_errors=True)
    return status, out


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[ppid].append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children[todo.pop()]:
            found.append(child)
            todo.append(child)
    return found


#: How a trial should end: one line and 130 (interrupted while starting) or 75 (a checkpoint), or the run's end.
EXPECTED = ("130 clean (1 dqsim lines)", "75 clean (1 dqsim lines)", "0 clean (0 dqsim lines)")


def kind(status: int | None, out: str) -> str:
    """How a trial ended, in a few words."""
    if status is None:
        return "hang"
    marks = []
    if "BAD TERMINATION" in out:
        marks.append("banner")
    if "Traceback" in out or "Fatal Python error" in out:
        marks.append("traceback")
    dqsim_lines = [line for line in out.splitlines() if line.startswith("dqsim:")]
    return f"{status} {'+'.join(marks) or 'clean'} ({len(dqsim_lines)} dqsim lines)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--first", type=float, default=0.3, help="first delay, s")
    parser.add_argument("--last", type=float, default=3.0, help="last delay, s")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--launch", choices=sorted(LAUNCH), default="mpi4py")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--show", action="store_true", help="print the output of every trial that ends otherwise "
                        "than in EXPECTED")
    args = parser.parse_args()
    counts: collections.Counter = collections.Counter()
    began = time.monotonic()
    load = os.getloadavg()[0]
    for index in range(args.trials):
        delay = args.first + (args.last - args.first) * index / max(1, args.trials - 1)
        status, out = trial(delay, args.ranks, args.launch, args.timeout)
        what = kind(status, out)
        counts[what] += 1
        print(f"{delay:5.2f} s: {what}", flush=True)
        if args.show and what not in EXPECTED:
            print("    " + "\n    ".join(out.strip().splitlines()[-12:]), flush=True)
    how = args.launch if args.ranks > 1 else "python -m dqsim"
    print(f"\n{args.trials} trials on {args.ranks} ranks ({how}), delays {args.first}-{args.last} s, "
          f"{time.monotonic() - began:.0f} s; load before/after {load:.1f} / {os.getloadavg()[0]:.1f}")
    for what, count in sorted(counts.items()):
        print(f"  {count:3d}  {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
