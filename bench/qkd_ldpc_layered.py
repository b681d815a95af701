"""Blind LDPC reconciliation's decoder schedules and reveal choices, alternated key by key in one process.

A benchmark, not a test: it measures and records, it asserts nothing.

Keys through a binary symmetric channel (Alice's bits uniform, Bob's flipped independently with probability Q;
``--bits`` bits, Q = 1, 2, 4, 8 %, ``--repeats`` keys of the seeds of ``bench/qkd_ldpc_blind.py``, one code
seed), the mother code and frames for the true Q at :func:`~dqsim.protocols.qkd.ldpc.least_efficiency`, as in
that bench. Every key is reconciled by each of :data:`VARIANTS` in turn before the next key (before and after
alternated; the same keys, codes and Alice's punctured bits for all), and by Cascade for reference:

* ``one-way flooding`` / ``one-way layered``: ``mode="rate_adaptive"`` with each schedule;
* ``blind flooding, stall 40``: blind as shipped until 2026-12-07 (warm restart, stall limit 40); ``stall 20``
  the same with a limit of 20 iterations;
* ``blind layered, stall s``: the layered schedule (:mod:`dqsim.backend.ldpc_kernels`, "Schedules"); stall 20
  is the default since 2026-12-07.

(The first run, ``bench/results/qkd-ldpc-layered-vm-20261207.md``, had a row more, the reveal of the least
reliable punctured positions, Kiktenko et al., arXiv:1612.03673, from an option of ``reconcile`` at commit
043b211 that was not kept: :mod:`dqsim.protocols.qkd.ldpc`'s docstring, "Blind".)

Columns: f_EC without Bob's request flags (as counted until 2026-12-07), f_EC with them, frames failed, round trips a key (mean, largest), key bits per CPU second of
the reconciliation alone (codes and their layers built before), revealed bits, request bits, and decoder
iterations (sums over the keys).

Usage: ``PYTHONPATH=$PWD python bench/qkd_ldpc_layered.py --out bench/results/qkd-ldpc-layered-vm-20261207.md``
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time

import numpy as np

from dqsim.protocols.qkd import ldpc
from dqsim.protocols.qkd.reconciliation import cascade
from dqsim.protocols.qkd.theory import binary_entropy
from qkd_ldpc_blind import CODE_SEED, QBERS, keys, uptime   # bench/ is on the path when this script runs
#: (row name, mode, keyword arguments of :func:`dqsim.protocols.qkd.ldpc.reconcile`).
VARIANTS = (
    ("one-way flooding", "rate_adaptive", {"schedule": "flooding"}),
    ("one-way layered", "rate_adaptive", {"schedule": "layered"}),
    ("blind flooding, stall 40", "blind", {"schedule": "flooding", "stall_iterations": 40}),
    ("blind flooding, stall 20", "blind", {"schedule": "flooding", "stall_iterations": 20}),
    ("blind layered, stall 40", "blind", {"schedule": "layered", "stall_iterations": 40}),
    ("blind layered, stall 20", "blind", {"schedule": "layered", "stall_iterations": 20}),
)


def tally(sums: dict, done) -> None:
    """Add an LdpcResult's frames, failures, revealed and request bits, iterations and round trips to ``sums``."""
    sums["failed"] += done.frame_errors
    sums["frames"] += done.num_frames
    sums["revealed"] += done.revealed_bits
    sums["requests"] += done.request_bits
    sums["iterations"] += done.iterations
    sums["rounds"].append(done.rounds)


def key_and_cascade(bits: int, q: float, repeat: int):
    """Key ``repeat`` of QBER q, ``N·h(Q_N)`` of it, and Cascade's CPU seconds, f_EC and rounds on it."""
    alice, bob = keys(bits, q, repeat)
    nh = bits * binary_entropy(float(np.mean(alice != bob)))
    t = time.process_time()
    done = cascade(alice, bob, q, np.random.default_rng(repeat))
    return alice, bob, nh, time.process_time() - t, done.leakage_bits / nh, done.rounds


def rows_for(q: float, bits: int, repeats: int) -> list[str]:
    least = ldpc.least_efficiency(q)
    plan = ldpc.frame_plan(bits, ldpc.target_rate(q, least))
    ldpc.mother_code(CODE_SEED, plan.code_bits, plan.mother_rate).layers()   # built once a run: not timed
    names = ["cascade", *[name for name, _, _ in VARIANTS]]
    sums = {name: dict(f=0.0, f_flags=0.0, failed=0, frames=0, cpu=0.0, revealed=0, requests=0, iterations=0,
                       rounds=[]) for name in names}
    for r in range(repeats):
        alice, bob, nh, cpu, f, rounds = key_and_cascade(bits, q, r)
        s = sums["cascade"]
        s["cpu"] += cpu
        s["f"] += f
        s["f_flags"] += f
        s["rounds"].append(rounds)
        for name, mode, options in VARIANTS:
            t = time.process_time()
            done = ldpc.reconcile(alice, bob, q, seed=CODE_SEED, efficiency=least, mode=mode,
                                  rng=np.random.default_rng(r), **options)
            s = sums[name]
            s["cpu"] += time.process_time() - t
            assert (done.corrected == alice[done.kept]).all()
            s["f"] += (done.leakage_bits - done.request_bits) / nh
            s["f_flags"] += done.leakage_bits / nh
            tally(s, done)
    rows = []
    for name in names:
        s = sums[name]
        rows.append(f"| {q:.0%} | {name} | {s['f'] / repeats:.3f} | {s['f_flags'] / repeats:.3f} | "
                    f"{s['failed']}/{s['frames']} | {np.mean(s['rounds']):.1f} (max {max(s['rounds'])}) | "
                    f"{bits * repeats / s['cpu'] / 1e6:.2f} | {s['revealed']:,} | {s['requests']:,} | "
                    f"{s['iterations']:,} |")
    return rows


def header(title: str, script: str, args: argparse.Namespace) -> list[str]:
    """The results file's title, machine, command and section lines (before the table), kernels compiled."""
    for schedule in ldpc.SCHEDULES:     # compile both kernels
        ldpc.reconcile(np.zeros(300, np.uint8), np.zeros(300, np.uint8), 0.05, seed=0, efficiency=1.5,
                       schedule=schedule)
    cascade(np.zeros(64, np.uint8), np.ones(64, np.uint8), 0.05, np.random.default_rng(0))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return [f"# {title} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
            "", f"Machine: {platform.node()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
            f"one process, one thread (OMP/NUMBA/OPENBLAS_NUM_THREADS=1); `{script}` "
            f"--bits {args.bits} --repeats {args.repeats}; commit {commit} (with the working tree's changes, if any).",
            "", f"## Keys through a binary symmetric channel ({args.bits:,} bits, {args.repeats} keys, codes for "
            "the true QBER at least_efficiency)", ""]


def finish(lines: list[str], out: str | None) -> None:
    """The load after, then the lines printed and written to ``out`` (if given)."""
    lines += ["", f"Load after: `{uptime()}`", ""]
    print("\n".join(lines))
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    lines = header("Blind LDPC: layered against flooding decoding", "bench/qkd_ldpc_layered.py", args)
    lines += ["| QBER | method | f_EC (no flags) | f_EC (flags charged) | frames failed | round trips a key "
              "| Mbit per CPU s | bits revealed | request bits | decoder iterations |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for q in QBERS:
        lines.append(f"| | load `{uptime()}` | | | | | | | | |")
        lines += rows_for(q, args.bits, args.repeats)
    finish(lines, args.out)


if __name__ == "__main__":
    main()
