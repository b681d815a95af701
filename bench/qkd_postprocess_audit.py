"""Is the post-processing the bottleneck of ``jobs/bb84_decoy_50km.toml``? Pulse simulation against post-processing.

A benchmark, not a test: it measures and prints, it asserts nothing but that the keys it
post-processes end equal.

One process, one thread, numpy backend, CPU time (``time.process_time``), the 1-minute load average
printed beside every row. In the same run:

* **scenario**: the job as it is (``error_correction = "model"``: detection simulation and the
  key-length formula) and with ``error_correction = "cascade"``, alternated ``--repeats`` times after
  one warm-up each; the stages are timed by the wrappers of ``bench/qkd_postprocess_jobs.py``. The
  pulse simulation is the run less ``postprocess_block`` (estimation, QBER sample, Cascade; in the
  scenario neither the verification hashes nor the privacy-amplification product are computed when
  Cascade left no error: their outcome follows from linearity, see
  :func:`dqsim.protocols.qkd.reconciliation.postprocess_key`).
* **full post-processing**: what a real pair of devices computes per block, at each block's size and
  QBER from the cascade run (a binary symmetric channel of that QBER on uniform bits): the 10 % QBER
  sample, Cascade, *both* parties' 50-bit verification hashes and *both* parties' Toeplitz products
  to the block's ℓ, timed apart; throughput is kept sifted bits per CPU second. The verification
  hashes are also computed as before 2026-12-06 (NumPy rows on packed words,
  ``reconciliation._toeplitz_direct``; not in the total), for the before/after of
  :func:`dqsim.backend.qkd_kernels.toeplitz_rows`.

    PYTHONPATH=$PWD python bench/qkd_postprocess_audit.py --repeats 3
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR))

from qkd_postprocess_jobs import install_timers  # noqa: E402


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def scenario_rows(repeats: int, distance_km: float | None) -> list:
    from dqsim import backend as backend_mod
    from dqsim import comm as comm_mod
    from dqsim.jobs import apply_overrides, load_job
    from dqsim.scenarios import qkd as qkd_scenario

    totals: dict = {}
    install_timers(totals)
    backend = backend_mod.select("numpy")
    base = load_job(BENCH_DIR.parent / "jobs" / "bb84_decoy_50km.toml")
    extra = [] if distance_km is None else [f"qkd.link.distance_km={distance_km}"]
    jobs = {mode: apply_overrides(base, [f"qkd.error_correction={mode}", *extra]) for mode in ("model", "cascade")}
    for job in jobs.values():
        qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend)  # warm-up
    rows = []
    for repeat in range(repeats):
        for mode, job in jobs.items():
            totals.clear()
            before = load()
            cpu = time.process_time()
            out = qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend)
            cpu = time.process_time() - cpu
            blocks = out.tables["blocks"]
            post = totals.get("postprocess_block", 0.0)
            sifted = int(blocks["sifted_bits"].sum())
            kept = int(blocks["ec_key_bits"].sum()) if mode == "cascade" else sifted
            rows.append(dict(mode=mode, cpu=cpu, post=post, sifted=sifted, kept=kept, blocks=blocks))
            print(f"{before} | {mode:7s} run {cpu * 1e3:7.1f} ms CPU, pulse simulation {(cpu - post) * 1e3:7.1f} ms "
                  f"({sifted / (cpu - post) / 1e6:6.2f} M sifted bits/s), postprocess_block {post * 1e3:6.1f} ms"
                  + (f" ({kept / post / 1e6:6.2f} M kept bits/s, {100 * post / cpu:4.1f} % of the run)" if post else "")
                  + f", key {int(blocks['secret_key_bits'].sum())} bits", flush=True)
    return rows


def full_postprocess(num_bits: int, qber: float, final_bits: int, seed: int) -> dict:
    """Every stage a real pair of devices runs on one block, timed apart (CPU s)."""
    from dqsim.protocols.qkd.postprocess import disclose_sample
    from dqsim.protocols.qkd.reconciliation import _toeplitz_direct, cascade, toeplitz_hash
    from dqsim.rng import Stream

    data = np.random.default_rng([seed, num_bits])
    alice = data.integers(0, 2, num_bits, dtype=np.uint8)
    bob = alice ^ (data.random(num_bits) < qber).astype(np.uint8)
    public = Stream(seed, node=0, purpose="qkd_postprocess").generator(0)
    times = {}
    t = time.process_time()
    sample, kept_a, kept_b = disclose_sample(alice, bob, 0.1, public)
    times["sample"] = time.process_time() - t
    t = time.process_time()
    ec = cascade(kept_a, kept_b, sample.cascade_qber, public)
    times["cascade"] = time.process_time() - t
    n = kept_a.size
    seed_v = public.integers(0, 2, n + 49, dtype=np.uint8)
    t = time.process_time()
    equal = np.array_equal(toeplitz_hash(kept_a, seed_v, 50), toeplitz_hash(ec.corrected, seed_v, 50))
    times["verification (both)"] = time.process_time() - t
    t = time.process_time()
    before = np.array_equal(_toeplitz_direct(kept_a, seed_v, 50), _toeplitz_direct(ec.corrected, seed_v, 50))
    times["verification before (both, not in the total)"] = time.process_time() - t
    if before != equal:
        raise SystemExit("the NumPy rows and toeplitz_hash disagree")
    length = max(1, min(n, final_bits))
    seed_pa = public.integers(0, 2, n + length - 1, dtype=np.uint8)
    t = time.process_time()
    key_a = toeplitz_hash(kept_a, seed_pa, length)
    key_b = toeplitz_hash(ec.corrected, seed_pa, length)
    times["privacy amplification (both)"] = time.process_time() - t
    if not (equal and np.array_equal(key_a, key_b)):
        raise SystemExit(f"keys differ after post-processing (n = {n}, QBER {qber})")
    times["kept_bits"] = n
    times["length"] = length
    times["f_ec"] = ec.leakage_bits / (n * (-qber * math.log2(qber) - (1 - qber) * math.log2(1 - qber)))
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--distance-km", type=float, default=None, help="override the job's 50 km")
    args = parser.parse_args(argv)
    threads = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}
    print(f"{load()} | python {sys.version.split()[0]}, numpy {np.__version__}, {threads}")
    rows = scenario_rows(args.repeats, args.distance_km)
    model = [r for r in rows if r["mode"] == "model"]
    blocks = [r for r in rows if r["mode"] == "cascade"][-1]["blocks"]
    sim_rate = np.median([r["sifted"] / r["cpu"] for r in model])
    print(f"pulse simulation (model runs, median): {sim_rate / 1e6:.2f} M sifted bits per CPU s")
    full_postprocess(20_000, 0.01, 10_000, 99)  # compile/warm every path once
    for index, row in enumerate(blocks):
        for repeat in range(args.repeats):
            before = load()
            t = full_postprocess(int(row["sifted_bits"]), float(row["qber_signal"]), int(row["secret_key_bits"]),
                                 seed=1000 * index + repeat)
            stages = [k for k in t if k not in ("kept_bits", "length", "f_ec")]
            total = sum(t[k] for k in stages if "before" not in k)
            detail = ", ".join(f"{k} {t[k] * 1e3:.1f} ms" for k in stages)
            rate = t["kept_bits"] / total
            print(f"{before} | block {index}: {int(row['sifted_bits'])} sifted bits at QBER {row['qber_signal']:.4f}, "
                  f"{t['kept_bits']} kept, ℓ = {t['length']}, f_EC {t['f_ec']:.3f}: {detail}; "
                  f"total {total * 1e3:.1f} ms = {rate / 1e6:.2f} M kept bits/s "
                  f"(CPU per bit {sim_rate / rate:.2f}x the pulse simulation's)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
