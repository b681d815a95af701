"""How long a ``dqsim run`` takes to end after Ctrl-C: to the "checkpoint written" line, and from it to the process's end.

A QKD sweep of 8 distances with ``[checkpoint] every_wall_s = 2`` (the new user's walk of
``docs/review-userwalk-20261207.md``) is started with the ``dqsim`` console script beside this Python, on 1 rank
or under ``mpiexec -n 2``, with SIGINT's default action (as a terminal gives it); once its progress says the
second distance is done, 0.3 s later, SIGINT goes to the launcher (``mpiexec`` passes it on to the ranks), and
the script times the "checkpoint written" line and the launcher's end. Each tree (``--old``: the code before, e.g.
a ``git archive`` of it; ``--new``: this one unless given) runs in turn, alternated (old, new, then new, old, ...),
so both see the same load; the 1-minute load average is read before each run. It prints one line per run and a
Markdown table of medians (``--report`` writes it to a file too)::

    git archive BASE | tar -x -C /tmp/old
    PYTHONPATH=$PWD .venv/bin/python bench/stop_exit_time.py --old /tmp/old --repeats 5 --ranks 1 2

A run whose status is not 75 or that prints no checkpoint line is listed and left out of the medians.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The walk's job: 8 distances, a checkpoint every 2 s of wall time; 20 million pulses a distance (a few
#: seconds each on the loaded 2-core VM, so the Ctrl-C comes in the middle of the third).
JOB = """\
[run]
name = "stopwall"
scenario = "qkd"
seed = 1
output = "out/stopwall.h5"

[qkd]
protocol = "bb84_decoy"
pulses = 20_000_000
batch_pulses = 1_000_000

[qkd.source]
intensities = [0.5, 0.1, 0.0]
probabilities = [0.8, 0.1, 0.1]

[qkd.link]
detector_efficiency = 0.8
dark_count_rate_hz = 10.0
misalignment = 0.01

[qkd.sweep]
distances_km = [0, 10, 20, 30, 40, 50, 60, 70]

[checkpoint]
every_wall_s = 2
"""

#: The progress line after which the Ctrl-C is sent (``WAIT_S`` later).
TRIGGER = "distances 2/8"
WAIT_S = 0.3


#: ``--phases``: the console script's ``console_main`` with marks (wall-clock time, on stderr) where it returns, once
#: MPI is finalized (here, not at the interpreter's exit), and once the last ``atexit`` handler ran (registered
#: first, it runs last); what follows is the interpreter's teardown and the process's end.
PHASES = """\
import atexit, os, sys, time


def mark(what):
    os.write(2, f"PHASE {what} {time.time():.6f}\\n".encode())


atexit.register(mark, "atexit")
from dqsim.cli import console_main

status = console_main(sys.argv[1:])
mark("returned")
if "dqsim.comm" in sys.modules:
    sys.modules["dqsim.comm"].finalize()
mark("finalized")
sys.exit(status)
"""

#: ``--phases``: the stretches reported, each from the mark before it (the checkpoint line first).
STRETCHES = (("returned", "line → console_main returns"), ("finalized", "MPI_Finalize"),
             ("atexit", "atexit handlers"), ("end", "teardown and exit"))


def environment(tree: Path) -> dict:
    """The runs' environment: one thread per library, ``tree`` first on PYTHONPATH."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1"}


def command(ranks: int, phases: bool) -> list[str]:
    """The console script beside this Python (``phases``: :data:`PHASES`, ``phases.py``), under ``mpiexec -n
    RANKS`` for more than one rank."""
    binary = Path(sys.executable).parent
    dqsim = [*([sys.executable, "phases.py"] if phases else [str(binary / "dqsim")]), "run", "job.toml"]
    return dqsim if ranks == 1 else [str(binary / "mpiexec"), "-n", str(ranks), *dqsim]


def one_run(tree: Path, ranks: int, folder: Path, phases: bool = False) -> dict:
    """One run stopped by Ctrl-C: seconds from the signal to the checkpoint line and to the launcher's end (and with
    ``phases`` each of :data:`STRETCHES`, the latest rank's marks)."""
    subprocess.run(["rm", "-rf", str(folder / "out"), str(folder / "checkpoints")], check=True)
    load = os.getloadavg()[0]
    proc = subprocess.Popen(command(ranks, phases), cwd=folder, env=environment(tree), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    times: dict = {}
    marks: dict = {}
    offset = time.time() - time.perf_counter()  # the marks' wall clock onto perf_counter

    def read() -> None:
        for line in proc.stdout:
            now = time.perf_counter()
            if line.startswith("PHASE "):
                _, what, at = line.split()
                marks[what] = max(marks.get(what, 0.0), float(at) - offset)
            elif "signal" not in times and TRIGGER in line:
                time.sleep(WAIT_S)
                times["signal"] = time.perf_counter()
                proc.send_signal(signal.SIGINT)
            elif "checkpoint written to" in line and "line" not in times:
                times["line"] = now

    reader = threading.Thread(target=read)
    reader.start()
    try:
        proc.wait(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    ended = time.perf_counter()
    reader.join()
    sent = times.get("signal")
    line = times.get("line")
    row = {"status": proc.returncode, "load": load,
           "to_line": None if sent is None or line is None else line - sent,
           "line_to_end": None if line is None else ended - line,
           "to_end": None if sent is None else ended - sent}
    if phases:
        marks["end"] = ended
        before = line
        for what, _ in STRETCHES:
            row[what] = None if before is None or what not in marks else marks[what] - before
            before = marks.get(what)
    return row


def median(rows: list[dict], key: str) -> str:
    values = [row[key] for row in rows if row[key] is not None]
    return f"{statistics.median(values):.2f}" if values else "-"


def spread(rows: list[dict], key: str) -> str:
    values = [row[key] for row in rows if row[key] is not None]
    return f"{min(values):.2f}-{max(values):.2f}" if values else "-"


def phase_table(results: dict) -> str:
    """Markdown medians of each of :data:`STRETCHES` per rank count and tree (``--phases``)."""
    lines = ["| ranks | code | runs | load (median) | " + " | ".join(f"{name}, s" for _, name in STRETCHES) + " |",
             "|---|---|---|---|" + "---|" * len(STRETCHES)]
    for (ranks, name), rows in sorted(results.items()):
        good = [row for row in rows if row["status"] == 75 and row["to_line"] is not None]
        lines.append(f"| {ranks} | {name} | {len(good)} of {len(rows)} | {median(rows, 'load')} | "
                     + " | ".join(f"{median(good, what)} ({spread(good, what)})" for what, _ in STRETCHES) + " |")
    return "\n".join(lines)


def table(results: dict) -> str:
    """Markdown medians per rank count and tree, with the range and the ratio old/new of signal-to-end."""
    lines = ["| ranks | code | runs (status 75) | load (median) | signal → line, s | line → end, s (range) "
             "| signal → end, s (range) |", "|---|---|---|---|---|---|---|"]
    for (ranks, name), rows in sorted(results.items()):
        good = [row for row in rows if row["status"] == 75 and row["to_line"] is not None]
        lines.append(f"| {ranks} | {name} | {len(good)} of {len(rows)} | {median(rows, 'load')} | "
                     f"{median(good, 'to_line')} | {median(good, 'line_to_end')} ({spread(good, 'line_to_end')}) | "
                     f"{median(good, 'to_end')} ({spread(good, 'to_end')}) |")
    for ranks in sorted({ranks for ranks, _ in results}):
        old = [row["to_end"] for row in results.get((ranks, "old"), []) if row["status"] == 75 and row["to_end"]]
        new = [row["to_end"] for row in results.get((ranks, "new"), []) if row["status"] == 75 and row["to_end"]]
        if old and new:
            lines.append(f"\n{ranks} rank(s): signal → end, median old / median new = "
                         f"{statistics.median(old) / statistics.median(new):.2f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="root of a tree of the old code (on PYTHONPATH for its runs)")
    parser.add_argument("--new", default=str(ROOT), help="root of the new code (default: this tree)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each tree per rank count")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--report", help="also write the table to this file")
    parser.add_argument("--phases", action="store_true",
                        help="time the stretches after the line (console_main's return, MPI_Finalize, atexit, "
                             "teardown) through a wrapper of console_main instead of the console script")
    args = parser.parse_args()
    trees = {"old": Path(args.old).resolve(), "new": Path(args.new).resolve()}
    results: dict = {}
    keys = ("to_line", "line_to_end", "to_end", *(what for what, _ in STRETCHES if args.phases))
    with tempfile.TemporaryDirectory(prefix="stop-exit-") as scratch:
        folder = Path(scratch)
        (folder / "job.toml").write_text(JOB)
        (folder / "phases.py").write_text(PHASES)
        for ranks in args.ranks:
            for repeat in range(args.repeats):
                for name in (("old", "new") if repeat % 2 == 0 else ("new", "old")):
                    row = one_run(trees[name], ranks, folder, args.phases)
                    results.setdefault((ranks, name), []).append(row)
                    print(f"{ranks} rank(s) {name}: status {row['status']}, load {row['load']:.1f}, "
                          + ", ".join(f"{key} {row[key]:.2f} s" for key in keys if row.get(key) is not None),
                          flush=True)
    text = phase_table(results) if args.phases else table(results)
    print(text)
    if args.report:
        Path(args.report).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
