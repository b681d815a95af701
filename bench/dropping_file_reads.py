"""Reads per second of ``io/atomic.py``'s ``_DroppingFile`` after many dropped writes: this tree's against a
git revision's (default ``main``), alternated in one process.

Once a write of a run file failed (a full disk, a file size limit) every later write is dropped and kept (or
marked as zeros) for HDF5's reads of what it wrote. Before 2026-12-07 (afternoon) each dropped write was one entry
and every read walked all of them; now they are pieces sorted by start that do not overlap, found by bisection.

Patterns, each of ``--writes`` dropped writes after a first failed one:

* ``append``: writes of 512 B one after the other (raw data written in small chunks after the failure);
* ``rewrite``: writes of 512 B to 100 block positions over and over (HDF5 writing its metadata blocks again);
* ``mixed``: random positions in 64 MiB, 8-4,096 B (overlapping).

For each: the seconds to lay the writes, then reads of 512 B at random positions within what was written, in
rounds of at least ``--min-s`` seconds; old and new alternated ``--repeats`` times, medians printed with the
ratio.

Usage (from the repository root)::

    PYTHONPATH=$PWD .venv/bin/python bench/dropping_file_reads.py --writes 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_at(revision: str):
    """``dqsim/io/atomic.py`` as at git ``revision``, imported under another name (its imports are this tree's)."""
    text = subprocess.run(["git", "show", f"{revision}:dqsim/io/atomic.py"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="dropping-")) / "atomic_then.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("atomic_then", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Full(io.BytesIO):
    """A file on a full disk: every write fails."""

    def write(self, data):
        raise OSError(28, "No space left on device")


def positions(pattern: str, count: int, rng: random.Random) -> list[tuple[int, int]]:
    """``(position, length)`` of the dropped writes of ``pattern``."""
    if pattern == "append":
        return [(4096 + 512 * i, 512) for i in range(count)]
    if pattern == "rewrite":
        return [(4096 + 512 * (i % 100), 512) for i in range(count)]
    return [(rng.randrange(64 * 2**20), rng.randrange(8, 4097)) for _ in range(count)]


def measure(cls, writes: list[tuple[int, int]], reads: list[int], min_s: float) -> tuple[float, float]:
    """``(seconds to lay the writes, reads per second)`` of ``_DroppingFile`` class ``cls``."""
    fh = Full()
    view = cls(fh)
    view.write(b"x")  # the first failure
    block = bytes(range(256)) * 16
    began = time.perf_counter()
    for position, length in writes:
        fh.seek(position)
        view.write(block[:length])
    laid = time.perf_counter() - began
    buffer = bytearray(512)
    done, began = 0, time.perf_counter()
    while True:
        for position in reads:
            fh.seek(position)
            view.readinto(buffer)
        done += len(reads)
        elapsed = time.perf_counter() - began
        if elapsed >= min_s:
            return laid, done / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-s", type=float, default=1.0, help="least seconds of reads per measurement")
    parser.add_argument("--reads", type=int, default=50, help="reads per round")
    parser.add_argument("--old", default="main", help="git revision of the old atomic.py")
    parser.add_argument("--patterns", nargs="+", default=["append", "rewrite", "mixed"])
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from dqsim.io import atomic

    classes = {"old": module_at(args.old)._DroppingFile, "new": atomic._DroppingFile}
    print(f"load {os.getloadavg()[0]:.2f}; {args.writes:,} dropped writes; old = {args.old}", flush=True)
    for pattern in args.patterns:
        rng = random.Random(1)
        writes = positions(pattern, args.writes, rng)
        top = max(position + length for position, length in writes)
        reads = [rng.randrange(max(top - 512, 1)) for _ in range(args.reads)]
        got = {name: [] for name in classes}
        for _ in range(args.repeats):
            for name, cls in classes.items():
                got[name].append(measure(cls, writes, reads, args.min_s))
        laid = {name: statistics.median(each[0] for each in got[name]) for name in classes}
        rate = {name: statistics.median(each[1] for each in got[name]) for name in classes}
        print(f"{pattern:8s} lay old {laid['old']:.3f} s new {laid['new']:.3f} s; reads/s old {rate['old']:,.0f} "
              f"new {rate['new']:,.0f} (x{rate['new'] / rate['old']:,.0f})", flush=True)
    print(f"load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
