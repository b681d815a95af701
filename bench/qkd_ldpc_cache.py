"""A QKD job with blind LDPC: CPU of a first run (codes built) against a second (codes from the disk cache).

A benchmark, not a test: it measures and records, it asserts nothing but that the tables are equal.

The job (``--job``, default ``jobs/bb84_decoy_50km.toml`` with ``error_correction = "ldpc"``, blind by default,
and its first block of 10 million pulses alone: two frames of ~50,000 key bits in the rate-0.85 code of 65,536 bits)
runs as ``python -m dqsim run`` in a child process, in turn (``--repeats`` rounds):

* ``off``: ``DQSIM_CACHE_DIR=off``, no disk cache (what every run did before 2026-12-07, later);
* ``first``: a fresh, empty cache folder: the run builds its codes and writes them;
* ``second``: the same folder again: the run loads them;

then, once each, ``first`` and ``second`` on ``--ranks`` ranks (``mpiexec``; every rank builds, or loads, each
code: ``first`` with an empty folder, where the ranks write the same entries at once), and ``dqsim warmup JOB`` into an empty
folder and again. The CPU is the children's user + system time (``resource.getrusage``), the ranks' summed. Every
run's ``blocks`` and ``links`` tables must equal the first ``off`` run's, bit for bit (columns of times included).

Usage: ``PYTHONPATH=$PWD python bench/qkd_ldpc_cache.py --out bench/results/qkd-ldpc-cache-vm-20261207.md``
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from dqsim.io import open_run
from qkd_ldpc_blind import uptime   # bench/ is on the path when this script runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOB = ["jobs/bb84_decoy_50km.toml", "--set", 'qkd.error_correction="ldpc"', "--set", "qkd.pulses=10000000"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cache: str) -> tuple[float, float, str]:
    """``(CPU s, wall s, stdout)`` of ``command`` run from the repository root with ``DQSIM_CACHE_DIR=cache``."""
    env = {**os.environ, "DQSIM_CACHE_DIR": cache, "PYTHONPATH": ROOT}
    cpu, wall = children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return children_cpu() - cpu, time.perf_counter() - wall, done.stdout + done.stderr


def tables(path: str) -> dict:
    run = open_run(path)
    return {name: run.table(name) for name in ("blocks", "links")}


def same(one: dict, other: dict) -> bool:
    for name, table in one.items():
        for column in table.dtype.names:
            a, b = table[column], other[name][column]
            if a.dtype.kind == "f" and not np.array_equal(a, b, equal_nan=True) or a.dtype.kind != "f" \
                    and not np.array_equal(a, b):
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", nargs="*", default=JOB, help="the job file and its --set assignments")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="dqsim-ldpc-cache-")
    python = sys.executable
    mpiexec = os.path.join(os.path.dirname(python), "mpiexec")
    rows, reference, count = [], None, 0
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    lines = [f"# A QKD job with blind LDPC: first run against second, disk cache of codes "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Machine: {os.uname().nodename}, {os.cpu_count()} CPUs; `bench/qkd_ldpc_cache.py --job "
             f"{' '.join(args.job)} --repeats {args.repeats} --ranks {args.ranks}`; commit {commit} (with the "
             f"working tree's changes, if any). Load before: `{uptime()}`.", "",
             "| run | ranks | cache | CPU s (all ranks) | wall s | tables equal to the first `off` run |",
             "|---|---|---|---|---|---|"]

    def run(label: str, ranks: int, cache: str) -> None:
        nonlocal reference, count
        count += 1
        out = os.path.join(work, f"run{count}.h5")
        command = [python, "-m", "dqsim", "run", *args.job, "-o", out, "--quiet"]
        if ranks > 1:
            command = [mpiexec, "-n", str(ranks), *command]
        cpu, wall, _ = timed(command, cache)
        got = tables(out)
        reference = got if reference is None else reference
        shown = "off" if cache == "off" else os.path.basename(cache)
        lines.append(f"| {label} | {ranks} | {shown} | {cpu:.1f} | {wall:.1f} | {same(reference, got)} |")
        print(lines[-1], flush=True)

    for r in range(args.repeats):
        folder = os.path.join(work, f"cache{r}")
        run("off", 1, "off")
        run("first", 1, folder)
        run("second", 1, folder)
    folder = os.path.join(work, "cache-ranks")
    run("first", args.ranks, folder)
    run("second", args.ranks, folder)
    folder = os.path.join(work, "cache-warmup")
    for label in ("warmup, empty folder", "warmup again"):
        cpu, wall, text = timed([python, "-m", "dqsim", "warmup", *args.job], folder)
        codes = "; ".join(line.split("dqsim warmup:")[1].strip() for line in text.splitlines() if " rate " in line)
        lines.append(f"| {label} | 1 | {os.path.basename(folder)} | {cpu:.1f} | {wall:.1f} | - ({codes}) |")
        print(lines[-1], flush=True)
    lines += ["", f"Load after: `{uptime()}`", ""]
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines))


if __name__ == "__main__":
    main()
