"""Blind LDPC reconciliation against the one-way (rate-adaptive) kind and Cascade, in one process.

A benchmark, not a test: it measures and records, it asserts nothing.

Part 1, keys through a binary symmetric channel (Alice's bits uniform, Bob's flipped independently with
probability Q; ``--bits`` bits, Q = 1, 2, 4, 8 %, ``--repeats`` keys of fixed seeds, one code seed), the
rate chosen for the true Q (no estimate's margin):

* ``cascade``: :func:`dqsim.protocols.qkd.reconciliation.cascade` tuned to Q;
* ``ldpc one-way f 1.16``: :func:`dqsim.protocols.qkd.ldpc.reconcile` at the job's default ``f_ec`` as the
  target, which is what a job got before 2026-12-06 (night);
* ``ldpc one-way (least f)``: the same at :func:`~dqsim.protocols.qkd.ldpc.least_efficiency` (what the job's
  ``ldpc_mode = "rate_adaptive"`` now takes at the default ``f_ec``);
* ``ldpc blind``: ``mode="blind"`` (the mother code and frames of the line above; first syndrome at
  :data:`~dqsim.protocols.qkd.ldpc.BLIND_START_EFFICIENCY`, reveals of
  :data:`~dqsim.protocols.qkd.ldpc.BLIND_STEP_EFFICIENCY`·h(Q)·k bits a step), once per
  :data:`BLIND_VARIANTS`: ``cold`` restarts the decoder after each reveal (the old code), ``warm`` continues
  its messages, ``stall k`` gives up an attempt before the last after k iterations without fewer unsatisfied
  checks (the keys and punctured bits are the same for every row).

Columns: f_EC = disclosed bits / (N·h(Q_N)) (LDPC: syndromes less punctured ranks, hashes, revealed bits),
the same with the failed frames' key bits charged (as the key length charges them), frames failed, round
trips (Cascade: its rounds; blind: the most any frame of a key needed, mean and largest), key bits per CPU
second of the reconciliation alone (the codes built before, as a run builds each once), and the revealed
bits and the decoder iterations (LDPC; every frame's attempts). Sums over the keys for counts, means otherwise.

Part 2, a decoy-state BB84 link (``jobs/bb84_decoy_50km.toml`` at 10 / 50 / 100 km, two blocks, asymptotic
key, the job's default ``f_ec`` 1.16): Cascade, LDPC rate-adaptive and LDPC blind; the secret key, f_EC,
rounds, simulated time of error correction and privacy amplification.

Usage: ``PYTHONPATH=$PWD python bench/qkd_ldpc_blind.py --out bench/results/qkd-ldpc-blind-vm-20261206.md``
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time

import numpy as np

from dqsim.jobs import apply_overrides, load_job
from dqsim.protocols.qkd import ldpc
from dqsim.protocols.qkd.reconciliation import cascade
from dqsim.protocols.qkd.theory import binary_entropy
from qkd_ldpc import LINK_HEADER, link_row   # bench/ is on the path when this script runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QBERS = (0.01, 0.02, 0.04, 0.08)
CODE_SEED = 1
#: Blind rows: (restart, stall_iterations) of :func:`dqsim.protocols.qkd.ldpc.reconcile`; ("cold", 0) is blind
#: mode as it was before 2026-12-06 (night), the others the warm restart without and with giving up on a stall.
BLIND_VARIANTS = (("cold", 0), ("warm", 0), ("warm", 20), ("warm", 30), ("warm", 40))


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def keys(bits: int, qber: float, repeat: int):
    rng = np.random.default_rng(1000 + repeat)
    alice = rng.integers(0, 2, bits, dtype=np.uint8)
    return alice, alice ^ (rng.random(bits) < qber).astype(np.uint8)


def bsc_rows(bits: int, repeats: int) -> list[str]:
    rows = []
    for q in QBERS:
        least = ldpc.least_efficiency(q)
        methods = [("cascade", None, None, {}), ("ldpc one-way f 1.16", 1.16, "rate_adaptive", {}),
                   (f"ldpc one-way (least f {least:.2f})", least, "rate_adaptive", {}),
                   *[(f"ldpc blind {restart}" + (f", stall {stall}" if stall else "") + f" (codes of f {least:.2f})",
                      least, "blind", {"restart": restart, "stall_iterations": stall})
                     for restart, stall in BLIND_VARIANTS]]
        for name, target, mode, options in methods:
            leak = charged = failed = frames = revealed = iterations = 0.0
            rounds, cpu = [], 0.0
            for r in range(repeats):
                alice, bob = keys(bits, q, r)
                nh = bits * binary_entropy(float(np.mean(alice != bob)))
                if mode is None:
                    t = time.process_time()
                    done = cascade(alice, bob, q, np.random.default_rng(r))
                    cpu += time.process_time() - t
                    leak += done.leakage_bits / nh
                    charged += done.leakage_bits / nh
                    rounds.append(done.rounds)
                    continue
                plan = ldpc.frame_plan(bits, ldpc.target_rate(q, target))
                ldpc.mother_code(CODE_SEED, plan.code_bits, plan.mother_rate)   # built once a run: not timed
                t = time.process_time()
                done = ldpc.reconcile(alice, bob, q, seed=CODE_SEED, efficiency=target, mode=mode,
                                      rng=np.random.default_rng(r), **options)
                cpu += time.process_time() - t
                assert (done.corrected == alice[done.kept]).all()
                leak += done.leakage_bits / nh
                charged += (done.leakage_bits + done.discarded_bits) / nh
                failed += done.frame_errors
                frames += done.num_frames
                revealed += done.revealed_bits
                iterations += done.iterations
                rounds.append(done.rounds)
            rows.append(f"| {q:.0%} | {name} | {leak / repeats:.3f} | {charged / repeats:.3f} | "
                        f"{int(failed)}/{int(frames)} | {np.mean(rounds):.1f} (max {max(rounds)}) | "
                        f"{bits * repeats / cpu / 1e6:.2f} | {int(revealed):,} | {int(iterations):,} |")
    return rows


def link_rows(pulses: dict) -> list[str]:
    rows = []
    for distance, num in pulses.items():
        for ec, mode in (("cascade", None), ("ldpc", "rate_adaptive"), ("ldpc", "blind")):
            job = apply_overrides(load_job(os.path.join(ROOT, "jobs", "bb84_decoy_50km.toml")), [
                f"qkd.link.distance_km={distance}", f"qkd.pulses={num}", f"qkd.batch_pulses={min(num, 10**6)}",
                f"qkd.block_pulses={num // 2}", f'qkd.error_correction="{ec}"',
                *([f'qkd.ldpc_mode="{mode}"'] if ec == "ldpc" else [])])
            rows.append(link_row(job, distance, num, ec if ec == "cascade" else f"ldpc {mode}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-link", action="store_true", help="Part 1 only")
    parser.add_argument("--no-bsc", action="store_true", help="Part 2 only")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    ldpc.reconcile(np.zeros(300, np.uint8), np.zeros(300, np.uint8), 0.05, seed=0, efficiency=1.5)  # compile
    cascade(np.zeros(64, np.uint8), np.ones(64, np.uint8), 0.05, np.random.default_rng(0))
    lines = [f"# Blind LDPC reconciliation against one-way LDPC and Cascade "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Machine: {platform.node()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
             "one process, one thread (OMP/NUMBA/OPENBLAS_NUM_THREADS=1); `bench/qkd_ldpc_blind.py`.", "",
             f"Load before: `{uptime()}`", "",
             f"## Keys through a binary symmetric channel ({args.bits:,} bits, {args.repeats} keys, rate for the "
             "true QBER)", "",
             "| QBER | method | f_EC | f with failed frames charged | frames failed | round trips a key "
             "| Mbit per CPU s | bits revealed | decoder iterations |",
             "|---|---|---|---|---|---|---|---|---|"]
    if not args.no_bsc:
        lines += bsc_rows(args.bits, args.repeats)
        lines += ["", f"Load: `{uptime()}`", ""]
    if not args.no_link:
        lines += ["## BB84 decoy link (jobs/bb84_decoy_50km.toml, two blocks, asymptotic, f_ec 1.16 as shipped)",
                  "", *LINK_HEADER]
        lines += link_rows({10: 4_000_000, 50: 8_000_000, 100: 80_000_000})
        lines += ["", f"Load after: `{uptime()}`", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
