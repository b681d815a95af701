"""Blind LDPC reconciliation's efficiency f_EC, old against new, alternated key by key in one process.

A benchmark, not a test: it measures and records, it asserts nothing.

Keys through a binary symmetric channel (Alice's bits uniform, Bob's flipped independently with probability Q;
``--bits`` bits, Q = 1, 2, 4, 8 %, ``--repeats`` keys of the seeds of ``bench/qkd_ldpc_blind.py``, one code
seed), the mother code and frames for the true Q at :func:`~dqsim.protocols.qkd.ldpc.least_efficiency`, as in
that bench. Every key goes through Cascade and each of :data:`VARIANTS` before the next key (the same keys for
all; Alice's punctured bits from the same generator seed):

* ``old``: blind mode as shipped until 2026-12-07: frames of at most 16,384 bits, the lowest-degree columns
  punctured in random order (``puncturing="degree"``), reveal steps of 0.03·h(Q)·k bits, at most 20 steps
  (``steps=(0.03, 20)``), the mother code of the frames' own size (``frame_code="frame"``), a stall limit of 20
  iterations, the acknowledgement's flag a frame not charged (its column "as counted then");
* ``main``: the defaults of 2026-12-07 (later; ``bench/results/qkd-ldpc-fec-vm-20261207.md``'s ``new`` row):
  untainted puncturing, reveal steps of 0.01·h(Q)·k, frames up to
  :func:`~dqsim.protocols.qkd.ldpc.longest_frame_bits`, with ``frame_code="frame"`` and a stall limit of 20;
* ``new, stall 20``: the lowest-rate mother code whose first syndrome the frames' punctured positions reach
  (``frame_code="start"``, the default since 2026-12-07, morning), the stall limit of before;
* ``new``: the defaults (that code choice and a stall limit of
  :data:`~dqsim.protocols.qkd.ldpc.BLIND_STALL_ITERATIONS`).

(The first run, ``bench/results/qkd-ldpc-fec-vm-20261207.md``, had the rows ``new, 16k frames`` and ``new, steps
of 0.03`` in place of ``main`` and ``new, stall 20``; its ``new`` row is this file's ``main``.)

Columns: f_EC = disclosed bits / (N·h(Q_N)) with every disclosed bit charged (syndromes less punctured ranks,
hashes, revealed values, Bob's request flags and his acknowledgement's flag a frame), its standard error over
the keys, f_EC as the code counted it at the time (old: without acknowledgements), frames failed (frame error
rate), round trips a key (mean, largest), key bits per CPU second of the reconciliation alone (codes and their
layers built before, as a run builds each once), revealed bits, request bits and decoder iterations (sums).

Usage: ``PYTHONPATH=$PWD python bench/qkd_ldpc_fec.py --out bench/results/qkd-ldpc-fec-vm-20261207b.md``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dqsim.protocols.qkd import ldpc
from qkd_ldpc_blind import CODE_SEED, QBERS, uptime   # bench/ is on the path when this script runs
from qkd_ldpc_layered import finish, header, key_and_cascade, tally

OLD_FRAME_BITS = 16384
#: (row name, keyword arguments of reconcile, acknowledgements charged?).
VARIANTS = (("old", {"frame_bits": OLD_FRAME_BITS, "steps": (0.03, 20), "puncturing": "degree", "frame_code": "frame",
                     "stall_iterations": 20}, False),
            ("main", {"frame_code": "frame", "stall_iterations": 20}, True),
            ("new, stall 20", {"stall_iterations": 20}, True), ("new", {}, True))


def rows_for(q: float, bits: int, repeats: int, variants) -> list[str]:
    least = ldpc.least_efficiency(q)
    rate = ldpc.target_rate(q, least)
    for _, options, _ in variants:           # the codes are built once a run: not timed
        start = ldpc.target_rate(q, ldpc.BLIND_START_EFFICIENCY) if options.get("frame_code") != "frame" else None
        plan = ldpc.frame_plan(bits, rate, frame_bits=options.get("frame_bits"), start_rate=start)
        ldpc.mother_code(CODE_SEED, plan.code_bits, plan.mother_rate, options.get("puncturing", "untainted"))
    names = ["cascade", *[each[0] for each in variants]]
    sums = {name: dict(f=[], f_then=[], failed=0, frames=0, cpu=0.0, revealed=0, requests=0, iterations=0,
                       rounds=[], code="") for name in names}
    for r in range(repeats):
        alice, bob, nh, cpu, f, rounds = key_and_cascade(bits, q, r)
        s = sums["cascade"]
        s["cpu"] += cpu
        s["f"].append(f)
        s["f_then"].append(f)
        s["rounds"].append(rounds)
        for name, options, acks in variants:
            t = time.process_time()
            done = ldpc.reconcile(alice, bob, q, seed=CODE_SEED, efficiency=least, mode="blind",
                                  rng=np.random.default_rng(r), **options)
            cpu = time.process_time() - t
            assert (done.corrected == alice[done.kept]).all()
            s = sums[name]
            s["cpu"] += cpu
            # leakage_bits has every bit charged; the old code did not count the acknowledgement's flag a frame
            then = done.leakage_bits - (0 if acks else done.num_frames * ldpc.ACK_BITS)
            s["f"].append((done.leakage_bits + done.discarded_bits) / nh)
            s["f_then"].append(then / nh)
            tally(s, done)
            s["code"] = f"{done.code_bits}, {done.mother_rate:.2f}"
    rows = []
    for name in names:
        s = sums[name]
        f = np.array(s["f"])
        se = f.std(ddof=1) / np.sqrt(f.size) if f.size > 1 else float("nan")
        frames = f"{s['failed']}/{s['frames']}" if name != "cascade" else "-"
        rows.append(f"| {q:.0%} | {name} | {s['code'] or '-'} | {f.mean():.3f} | {se:.3f} | "
                    f"{np.mean(s['f_then']):.3f} | {frames} | {np.mean(s['rounds']):.1f} (max {max(s['rounds'])}) | "
                    f"{bits * repeats / s['cpu'] / 1e6:.2f} | {s['revealed']:,} | {s['requests']:,} | "
                    f"{s['iterations']:,} |")
    return rows


#: The table's header (its column names and the separator line; the stall bench's too).
TABLE_COLUMNS = ("| code (n, R0) | f_EC (all charged) | s.e. | f_EC (as counted then) | frames failed | round trips a key "
                 "| Mbit per CPU s | bits revealed | request bits | decoder iterations |")


def arguments(description: str) -> argparse.Namespace:
    """The command line of this bench and of ``bench/qkd_ldpc_stall.py``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bits", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--qbers", type=float, nargs="*", default=list(QBERS))
    parser.add_argument("--skip", nargs="*", default=[], help="variant names to leave out")
    parser.add_argument("--out", default=None)
    return parser.parse_args()


def table(lines: list[str], first: str, columns: str, qbers, rows) -> None:
    """Append the table (a load line, then ``rows(q)``, for each QBER) to ``lines``, printing each QBER's part."""
    width = columns.count("|") + 1           # with QBER and the first column
    lines += [f"| QBER | {first} {columns}", "|---" * width + "|"]
    for q in qbers:
        lines.append(f"| | load `{uptime()}` " + "| " * (width - 2) + "|")
        part = rows(q)
        lines += part
        print("\n".join(lines[-len(part) - 1:]), flush=True)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    variants = [each for each in VARIANTS if each[0] not in args.skip]
    lines = header("Blind LDPC: f_EC old against new", "bench/qkd_ldpc_fec.py", args)
    table(lines, "method", TABLE_COLUMNS, args.qbers, lambda q: rows_for(q, args.bits, args.repeats, variants))
    finish(lines, args.out)


if __name__ == "__main__":
    main()
