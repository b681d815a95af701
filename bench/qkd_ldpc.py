"""Cascade against LDPC syndrome reconciliation: f_EC, throughput, messages, and a BB84 link's key rate.

A benchmark, not a test: it measures and records, it asserts nothing.

Part 1, keys through a binary symmetric channel (Alice's bits uniform, Bob's flipped
independently with probability Q; ``--bits`` bits, Q = 1, 2, 4, 8 %): Cascade
(:func:`dqsim.protocols.qkd.reconciliation.cascade`, tuned to the true Q, compiled passes) and LDPC
(:func:`dqsim.protocols.qkd.ldpc.reconcile`, rate for the true Q at the target efficiency of
``--targets``, compiled sum-product), one after the other in this process: f_EC = leak / (n h(Q_n)),
throughput = key bits per CPU second of the reconciliation alone (LDPC's code built before, as a run
builds each once), Cascade's rounds (each a round
trip over the fibre) against LDPC's one message, LDPC's frame errors, and f with the failed frames'
key bits charged as disclosed, as the key length charges them. Each figure is the mean (the counts: the
sum) of ``--repeats`` keys.

Part 1b, LDPC's memory at a key block's end: tracemalloc's peak inside
:func:`dqsim.protocols.qkd.reconciliation.postprocess_key` with the LDPC reconciler, above what was held
before, on packed keys (:class:`~dqsim.protocols.qkd.packed_bits.PackedKeyPair`, as a block's end holds
them), the codes built before (a run builds each once); a straight line through two key lengths gives
the bytes per key bit and the fixed bytes (:data:`dqsim.protocols.qkd.ldpc.END_BYTES_PER_KEY_BIT`,
:data:`~dqsim.protocols.qkd.ldpc.END_FIXED_BYTES`, which ``dqsim check`` prints).

Part 2, a decoy-state BB84 link (``jobs/bb84_decoy_50km.toml`` at 10 / 50 / 100 km, asymptotic
key, and finite key at 50-100x more pulses, one rank): the scenario run with ``error_correction =
"cascade"`` and ``"ldpc"`` (``f_ec`` the LDPC target), the secret key rate, the blocks' measured f_EC, frames failed, and the simulated
time of the error correction and privacy amplification (``time_key_ps``).

Usage: ``PYTHONPATH=$PWD python bench/qkd_ldpc.py --out bench/results/qkd-ldpc-vm-20261206b.md``
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
import tracemalloc

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import apply_overrides, load_job
from dqsim.protocols.qkd import ldpc
from dqsim.protocols.qkd.packed_bits import PackedKeyPair
from dqsim.protocols.qkd.reconciliation import cascade, postprocess_key
from dqsim.protocols.qkd.theory import binary_entropy
from dqsim.scenarios import qkd as qkd_scenario

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QBERS = (0.01, 0.02, 0.04, 0.08)
LINK_HEADER = ("| km | method | pulses | key bits corrected | f_EC | frames failed | rounds "
               "| EC+PA time (ms, simulated) | secret bits | key rate (bit/s) | CPU s |",
               "|---|---|---|---|---|---|---|---|---|---|---|")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def bsc_rows(bits: int, repeats: int, targets: dict) -> list[str]:
    rows = []
    for q in QBERS:
        figures = {"cascade": [], "ldpc": []}
        for r in range(repeats):
            rng = np.random.default_rng(1000 + r)
            alice = rng.integers(0, 2, bits, dtype=np.uint8)
            bob = alice ^ (rng.random(bits) < q).astype(np.uint8)
            h = binary_entropy(float(np.mean(alice != bob)))
            t = time.process_time()
            done = cascade(alice, bob, q, np.random.default_rng(r))
            dt = time.process_time() - t
            figures["cascade"].append((done.leakage_bits / (bits * h), bits / dt, done.rounds, 0, 0,
                                       int(np.count_nonzero(done.corrected != alice)), done.leakage_bits / (bits * h)))
            plan = ldpc.frame_plan(bits, ldpc.target_rate(q, targets[q]))
            ldpc.mother_code(r, plan.code_bits, plan.mother_rate)  # built once a run: not part of the throughput
            t = time.process_time()
            got = ldpc.reconcile(alice, bob, q, seed=r, efficiency=targets[q], rng=np.random.default_rng(r))
            dt = time.process_time() - t
            figures["ldpc"].append((got.leakage_bits / (bits * h), bits / dt, 1, got.frame_errors, got.num_frames,
                                    int(np.count_nonzero(got.corrected != alice[got.kept])),
                                    (got.leakage_bits + got.discarded_bits) / (bits * h)))
        for name, values in figures.items():
            v = np.array(values, dtype=float)
            what = name if name == "cascade" else f"ldpc (target f {targets[q]})"
            rows.append(f"| {q:.0%} | {what} | {v[:, 0].mean():.3f} | {v[:, 1].mean() / 1e6:.2f} | "
                        f"{v[:, 2].mean():.0f} | {int(v[:, 3].sum())}/{int(v[:, 4].sum())} | {int(v[:, 5].sum())} | "
                        f"{v[:, 6].mean():.3f} |")
    return rows


def end_memory_rows(sizes=(300_000, 3_000_000), qber: float = 0.04, target: float = 1.25) -> list[str]:
    """tracemalloc's peak of postprocess_key with LDPC on packed keys of each size (Part 1b); rows and the fit."""
    rows, peaks = [], []
    for bits in sizes:
        rng = np.random.default_rng(7)
        alice = rng.integers(0, 2, bits, dtype=np.uint8)
        keys = PackedKeyPair.of(alice, alice ^ (rng.random(bits) < qber).astype(np.uint8))
        del alice
        plan = ldpc.frame_plan(bits, ldpc.target_rate(qber, target))
        ldpc.mother_code(3, plan.code_bits, plan.mother_rate)
        ldpc.mother_code(3, plan.code_bits, plan.mother_rate).punctured_rank(plan.num_punctured)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        done = postprocess_key(keys, None, qber_estimate=qber, final_bits_of_leakage=lambda leak: bits // 2,
                               eps_cor=1e-15, rng=np.random.default_rng(1), reconcile=ldpc.reconciler(3, target))
        peak = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.stop()
        peaks.append(peak)
        rows.append(f"| {bits:,} | {keys.nbytes / bits:.3f} | {peak / 1e6:.2f} | {peak / bits:.2f} | "
                    f"{done.frames} | {done.frame_errors} |")
    slope = (peaks[-1] - peaks[0]) / (sizes[-1] - sizes[0])
    fixed = peaks[0] - slope * sizes[0]
    rows.append("")
    rows.append(f"Fit: {slope:.2f} bytes a key bit and {fixed / 1e6:.2f} MB (module constants: "
                f"{ldpc.END_BYTES_PER_KEY_BIT:g} bytes a key bit, {ldpc.END_FIXED_BYTES / 1e6:g} MB).")
    return rows


def link_rows(pulses: dict, target: float, security: str = "asymptotic") -> list[str]:
    rows = []
    for distance, num in pulses.items():
        batch = min(num, 10**6) if security == "asymptotic" else min(num // 40, 10**8)
        for ec in ("cascade", "ldpc"):
            job = apply_overrides(load_job(os.path.join(ROOT, "jobs", "bb84_decoy_50km.toml")), [
                f"qkd.link.distance_km={distance}", f"qkd.pulses={num}", f"qkd.batch_pulses={batch}",
                f'qkd.security="{security}"',
                f"qkd.block_pulses={num // 2}", f'qkd.error_correction="{ec}"',
                f"qkd.f_ec={target if ec == 'ldpc' else 1.16}"])
            rows.append(link_row(job, distance, num, ec))
    return rows


def link_row(job, distance: float, num: int, what: str) -> str:
    """Run ``job`` on one rank and give its row of :data:`LINK_HEADER` (CPU seconds of the whole run)."""
    t = time.process_time()
    out = qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
    dt = time.process_time() - t
    b = out.tables["blocks"]
    rate = b["secret_key_bits"].sum() / b["pulses"].sum() * job.qkd.source.source_rate_hz
    return (f"| {distance:g} | {what} | {num:.0e} | {int(b['ec_key_bits'].sum()):,} | "
            f"{np.nanmean(b['ec_f_measured']):.3f} | {int(b['ec_frame_errors'].sum())}/"
            f"{int(b['ec_frames'].sum())} | {int(b['ec_rounds'].sum())} | "
            f"{b['time_key_ps'].mean() / 1e9:.2f} | {int(b['secret_key_bits'].sum()):,} | "
            f"{rate:.4g} | {dt:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--targets", type=float, nargs=4, default=(1.4, 1.3, 1.2, 1.15),
                        help="LDPC target f at QBER 1, 2, 4, 8 %%")
    parser.add_argument("--link-target", type=float, default=1.4, help="LDPC target f of the link runs")
    parser.add_argument("--no-link", action="store_true", help="Part 1 and 1b only")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    targets = dict(zip(QBERS, args.targets))
    ldpc.reconcile(np.zeros(300, np.uint8), np.zeros(300, np.uint8), 0.05, seed=0, efficiency=1.5)  # compile
    cascade(np.zeros(64, np.uint8), np.ones(64, np.uint8), 0.05, np.random.default_rng(0))
    lines = [f"# Cascade against LDPC reconciliation ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Machine: {platform.node()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
             "one process, one thread (OMP/NUMBA/OPENBLAS_NUM_THREADS=1); `bench/qkd_ldpc.py`.", "",
             f"Load before: `{uptime()}`", "",
             f"## Keys through a binary symmetric channel ({args.bits:,} bits, mean of {args.repeats} keys)", "",
             "| QBER | method | f_EC | Mbit/s (CPU) | rounds / messages | frames failed | bits wrong after "
             "| f with failed frames charged |",
             "|---|---|---|---|---|---|---|---|"]
    lines += bsc_rows(args.bits, args.repeats, targets)
    lines += ["", f"Load: `{uptime()}`", "", "## LDPC's memory at a key block's end (postprocess_key, packed keys, "
              "QBER 4 %, target f 1.25)", "", "| key bits | packed keys, bytes a bit | peak (MB) | peak bytes a bit | "
              "frames | failed |", "|---|---|---|---|---|---|"]
    lines += end_memory_rows()
    if args.no_link:
        lines += ["", f"Load after: `{uptime()}`", ""]
        return finish(lines, args.out)
    lines += ["", f"Load: `{uptime()}`", "",
              f"## BB84 decoy link (jobs/bb84_decoy_50km.toml, two blocks, asymptotic; LDPC target f "
              f"{args.link_target}, Cascade's model f 1.16 unused)", "",
              *LINK_HEADER]
    lines += link_rows({10: 4_000_000, 50: 8_000_000, 100: 80_000_000}, args.link_target)
    lines += ["", f"Load: `{uptime()}`", "", "Finite key (Lim et al. 2014, eps_sec 1e-10, eps_cor 1e-15), two blocks:",
              "", *LINK_HEADER]
    lines += link_rows({10: 400_000_000, 50: 800_000_000, 100: 4_000_000_000}, args.link_target, "finite_key")
    lines += ["", f"Load after: `{uptime()}`", ""]
    finish(lines, args.out)


def finish(lines: list[str], out: str | None) -> None:
    text = "\n".join(lines)
    print(text)
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
