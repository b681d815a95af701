"""Blind LDPC reconciliation: when a failed decoding attempt gives up (the stall rule), alternated key by key.

A benchmark, not a test: it measures and records, it asserts nothing.

The keys of ``bench/qkd_ldpc_fec.py`` (through a binary symmetric channel; ``--bits`` bits, Q = 1, 2, 4, 8 %,
``--repeats`` keys of the seeds of ``bench/qkd_ldpc_blind.py``, one code seed; codes and frames for the true Q at
:func:`~dqsim.protocols.qkd.ldpc.least_efficiency`), each through every row of :data:`VARIANTS` before the next key
(Alice's punctured bits from the same generator seed). The rows differ only in ``stall_iterations``
(:class:`dqsim.backend.ldpc_kernels.StallRule`: an attempt with punctured values still to reveal gives up once
``limit`` iterations in a row found no fewer unsatisfied checks than its fewest and, with a ``window`` w, its count
has not fallen below the count w iterations before; or once ``most`` iterations found no new fewest):

* ``stall 8``: the default of 2026-12-07 (morning), ``StallRule(8)``;
* ``stall 20``: the default before it;
* ``stall 10``, ``stall 12``: a longer plain limit;
* ``8, no fall in 1 (20)``: ``StallRule(8, 1, 20)``: after 8, only on an iteration that did not fall from the one
  before; at most 20;
* ``8, no fall in 3 (20)``: ``StallRule(8, 3, 20)``;
* ``by rate``: 8 on frames whose mother code has rate >= 0.85 (the 65,536-bit frames at 1 %), 20 on the others.

Columns as ``bench/qkd_ldpc_fec.py``'s (every disclosed bit charged); the CPU column is the reconciliation alone
(codes built before) and moves with the load; the decoder iterations do not.

Usage: ``PYTHONPATH=$PWD python bench/qkd_ldpc_stall.py --out bench/results/qkd-ldpc-cache-vm-20261207.md``
"""

from __future__ import annotations

import time

import numpy as np

from dqsim.backend.ldpc_kernels import StallRule
from dqsim.protocols.qkd import ldpc
from dqsim.protocols.qkd.theory import binary_entropy
from qkd_ldpc_blind import CODE_SEED, keys   # bench/ is on the path when this script runs
from qkd_ldpc_fec import TABLE_COLUMNS, arguments, table
from qkd_ldpc_layered import finish, header, tally

#: (row name, stall_iterations of reconcile, or "by rate").
VARIANTS = (("stall 8", StallRule(8)), ("stall 20", StallRule(20)), ("stall 10", StallRule(10)),
            ("stall 12", StallRule(12)), ("8, no fall in 1 (20)", StallRule(8, 1, 20)),
            ("8, no fall in 3 (20)", StallRule(8, 3, 20)), ("by rate", "by rate"))


def stall_of(option, q: float, bits: int):
    """The row's rule for the keys of QBER q (``by rate``: from the mother code the frames take)."""
    if option != "by rate":
        return option
    least = ldpc.least_efficiency(q)
    plan = ldpc.frame_plan(bits, ldpc.target_rate(q, least),
                           start_rate=ldpc.target_rate(q, ldpc.BLIND_START_EFFICIENCY))
    return StallRule(8) if plan.mother_rate >= 0.85 else StallRule(20)


def rows_for(q: float, bits: int, repeats: int, variants) -> list[str]:
    least = ldpc.least_efficiency(q)
    plan = ldpc.frame_plan(bits, ldpc.target_rate(q, least), start_rate=ldpc.target_rate(q, ldpc.BLIND_START_EFFICIENCY))
    ldpc.mother_code(CODE_SEED, plan.code_bits, plan.mother_rate)      # built once a run: not timed
    sums = {name: dict(f=[], failed=0, frames=0, cpu=0.0, revealed=0, requests=0, iterations=0, rounds=[],
                       code=f"{plan.code_bits}, {plan.mother_rate:.2f}") for name, _ in variants}
    for r in range(repeats):
        alice, bob = keys(bits, q, r)
        nh = bits * binary_entropy(float(np.mean(alice != bob)))
        for name, option in variants:
            t = time.process_time()
            done = ldpc.reconcile(alice, bob, q, seed=CODE_SEED, efficiency=least, mode="blind",
                                  rng=np.random.default_rng(r), stall_iterations=stall_of(option, q, bits))
            s = sums[name]
            s["cpu"] += time.process_time() - t
            assert (done.corrected == alice[done.kept]).all()
            s["f"].append((done.leakage_bits + done.discarded_bits) / nh)
            tally(s, done)
    rows = []
    for name, _ in variants:
        s = sums[name]
        f = np.array(s["f"])
        se = f.std(ddof=1) / np.sqrt(f.size) if f.size > 1 else float("nan")
        rows.append(f"| {q:.0%} | {name} | {s['code']} | {f.mean():.4f} | {se:.4f} | "
                    f"{f.mean() - np.mean(sums[variants[0][0]]['f']):+.4f} | {s['failed']}/{s['frames']} | "
                    f"{np.mean(s['rounds']):.1f} (max {max(s['rounds'])}) | {bits * repeats / s['cpu'] / 1e6:.3f} | "
                    f"{s['revealed']:,} | {s['requests']:,} | {s['iterations']:,} |")
    return rows


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    variants = [each for each in VARIANTS if each[0] not in args.skip]
    lines = header("Blind LDPC: the stall rule", "bench/qkd_ldpc_stall.py", args)
    columns = TABLE_COLUMNS.replace("| f_EC (as counted then) |", "| against the first row (same keys) |")
    table(lines, "stall rule", columns, args.qbers, lambda q: rows_for(q, args.bits, args.repeats, variants))
    finish(lines, args.out)


if __name__ == "__main__":
    main()
