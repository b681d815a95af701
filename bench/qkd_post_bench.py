"""Speed and efficiency of the QKD post-processing (``error_correction = "cascade"``), stage by stage.

A benchmark, not a test: it measures and records, it asserts nothing.

Per block of n sifted bits (n = 1e4 .. 1e7) at a QBER Q (1, 2.5, 5, 8 %):
Alice's bits are uniform, Bob's differ from them independently with
probability Q (a binary symmetric channel, the model of the literature's
Cascade figures). Each block runs the stages of
:func:`dqsim.protocols.qkd.postprocess.postprocess_block`, timed apart
(one process, one thread; CPU time of the process and wall time):

* ``estimation``: :func:`~dqsim.protocols.qkd.postprocess.disclose_sample`
  (10 % of the bits disclosed and dropped);
* ``cascade``: :func:`~dqsim.protocols.qkd.reconciliation.cascade` on the kept
  bits, tuned to the sample's QBER, with the compiled passes
  (:mod:`dqsim.backend.qkd_kernels`) and, up to ``--reference-max-bits``, in
  Python (the reference: the code before 2026-12-05, same results);
* ``verification``: one party's verification hash (50 bits, ε_cor = 1e-15)
  of its key, :func:`~dqsim.protocols.qkd.reconciliation.toeplitz_hash`;
* ``privacy amplification``: one party's Toeplitz hash of the key to ℓ =
  n_kept (1 - h(Q)) - leak - 50 bits (the asymptotic length with e1 = Q and
  every bit single-photon: an upper end of ℓ, the largest product);
  ``..._before``: the same product as computed before 2026-12-05 (FFT of the
  power of two >= 2n + ℓ - 2).
* ``postprocess_key``: Cascade, verification and privacy amplification as the
  scenario calls them (the keys are compared by hashing their difference,
  which Cascade leaves zero in all but a few blocks).

Throughput is kept sifted bits per CPU second of the stage. The measured
reconciliation efficiency is f_EC = leak / (n h(Q_n)), Q_n the block's true
error fraction; "failed" counts blocks whose keys still differ after Cascade
(before the verification hash).

Literature: the original Cascade (Brassard & Salvail 1993: k_1 = 0.73/Q,
doubled each pass, four passes), which dqsim runs, reconciles at f_EC about
1.1-1.2 over QBERs of 1-10 %, worse at low QBER (J. Martinez-Mateo, C.
Pacher, M. Peev, A. Ciurana, V. Martin, "Demystifying the information
reconciliation protocol Cascade", Quantum Inf. Comput. 15, 453 (2015),
arXiv:1407.3257, whose figures compare it with their optimised block
sizes).

The simulated sifted-bit rate of a typical job: ``jobs/bb84_decoy_50km.toml``
(μ = 0.5/0.1/0, 1 GHz, 0.2 dB/km, η_det = 0.8, 1 % misalignment) at 10 and
50 km, 40 million pulses in blocks of 10 million, run with
``error_correction = "model"`` (the detection simulation and the key-length
formula) and ``"cascade"`` (the same with the post-processing): sifted bits
per second of each whole run, so the difference is what the post-processing
costs inside a run. (The link of ``bench/qkd_bench.py`` has no misalignment:
a QBER near 0, which Cascade corrects with one parity per pass.)

    PYTHONPATH=$PWD python bench/qkd_post_bench.py                  # everything (~15 min on the dev VM)
    PYTHONPATH=$PWD python bench/qkd_post_bench.py --sizes 10000 100000 --skip-scenario
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR))

from dqsim.protocols.qkd.postprocess import disclose_sample  # noqa: E402
from dqsim.protocols.qkd.reconciliation import cascade, postprocess_key, toeplitz_hash  # noqa: E402
from dqsim.protocols.qkd.theory import binary_entropy  # noqa: E402
from qkd_bench import cpu_model  # noqa: E402

#: Blocks per (size, QBER) by default: many small blocks for the failure fraction, few large for speed.
DEFAULT_BLOCKS = {10_000: 400, 100_000: 40, 1_000_000: 6, 10_000_000: 2}
VERIFICATION_BITS = 50


def toeplitz_before(bits: np.ndarray, seed_bits: np.ndarray, num_out: int) -> np.ndarray:
    """The Toeplitz product as computed before 2026-12-05: FFT of the power of two >= 2n + num_out - 2."""
    n = int(bits.size)
    size = 1 << (n + num_out - 1 + n - 1).bit_length()
    conv = np.fft.irfft(np.fft.rfft(seed_bits.astype(np.float64), size) * np.fft.rfft(bits.astype(np.float64), size),
                        size)
    return (np.rint(conv[n - 1:n - 1 + num_out]).astype(np.int64) & 1).astype(np.uint8)


def timed(function, *args, **kwargs):
    """``(result, cpu_s, wall_s)`` of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = function(*args, **kwargs)
    return out, time.process_time() - cpu, time.perf_counter() - wall


def one_block(n: int, qber: float, seed: int, reference: bool, before: bool) -> dict:
    """Every stage on one block; times in seconds."""
    rng = np.random.default_rng(seed)
    alice = rng.integers(0, 2, n, dtype=np.uint8)
    bob = alice ^ (rng.random(n) < qber).astype(np.uint8)
    public = np.random.default_rng([seed, 1])
    row = {"n": n, "qber": qber, "seed": seed}
    (sample, ka, kb), row["estimation_cpu_s"], row["estimation_wall_s"] = timed(
        disclose_sample, alice, bob, 0.1, public)
    kept = int(ka.size)
    errors = int(np.count_nonzero(ka != kb))
    row.update(kept_bits=kept, kept_errors=errors)
    state = public.bit_generator.state
    ec, row["cascade_cpu_s"], row["cascade_wall_s"] = timed(cascade, ka, kb, sample.cascade_qber, public)
    if reference:
        public.bit_generator.state = state
        ref, row["cascade_reference_cpu_s"], row["cascade_reference_wall_s"] = timed(
            cascade, ka, kb, sample.cascade_qber, public, use_kernel=False)
        row["reference_identical"] = bool(np.array_equal(ref.corrected, ec.corrected)
                                          and (ref.leakage_bits, ref.rounds, ref.errors_corrected)
                                          == (ec.leakage_bits, ec.rounds, ec.errors_corrected))
    q_true = errors / kept if kept else 0.0
    h = binary_entropy(q_true) if 0.0 < q_true < 1.0 else 0.0
    row.update(leakage_bits=ec.leakage_bits, rounds=ec.rounds, f_ec=ec.leakage_bits / (kept * h) if h else math.nan,
               residual_errors=int(np.count_nonzero(ec.corrected != ka)))
    seed_bits = public.integers(0, 2, kept + VERIFICATION_BITS - 1, dtype=np.uint8)
    _, row["verification_cpu_s"], row["verification_wall_s"] = timed(toeplitz_hash, ka, seed_bits, VERIFICATION_BITS)
    length = max(0, int(kept * (1.0 - binary_entropy(qber)) - ec.leakage_bits - VERIFICATION_BITS))
    row["final_bits"] = length
    pa_seed = public.integers(0, 2, kept + length - 1, dtype=np.uint8) if length else np.zeros(0, np.uint8)
    key, row["privacy_amplification_cpu_s"], row["privacy_amplification_wall_s"] = timed(
        toeplitz_hash, ka, pa_seed, length)
    if before and length:
        old, row["privacy_amplification_before_cpu_s"], row["privacy_amplification_before_wall_s"] = timed(
            toeplitz_before, ka, pa_seed, length)
        row["privacy_amplification_identical"] = bool(np.array_equal(old, key))
        _, row["verification_before_cpu_s"], row["verification_before_wall_s"] = timed(
            toeplitz_before, ka, seed_bits, VERIFICATION_BITS)
    done, row["postprocess_key_cpu_s"], row["postprocess_key_wall_s"] = timed(
        postprocess_key, ka, kb, qber_estimate=sample.cascade_qber,
        final_bits_of_leakage=lambda leak: int(kept * (1.0 - binary_entropy(qber)) - leak - VERIFICATION_BITS),
        eps_cor=1e-15, rng=np.random.default_rng([seed, 2]))
    row.update(postprocess_verified=done.verified, postprocess_keys_equal=done.keys_equal)
    return row


def summarise(rows: list[dict]) -> list[dict]:
    """Per (n, QBER): f_EC mean/min/max, failed blocks, throughputs (kept bits per CPU second, summed over blocks)."""
    out = []
    for n in sorted({r["n"] for r in rows}):
        for qber in sorted({r["qber"] for r in rows}):
            group = [r for r in rows if r["n"] == n and r["qber"] == qber]
            if not group:
                continue
            bits = sum(r["kept_bits"] for r in group)
            f = np.array([r["f_ec"] for r in group])
            entry = {"n": n, "qber": qber, "blocks": len(group), "f_ec_mean": float(np.nanmean(f)),
                     "f_ec_min": float(np.nanmin(f)), "f_ec_max": float(np.nanmax(f)),
                     "failed_blocks": sum(r["residual_errors"] > 0 for r in group),
                     "rounds_mean": float(np.mean([r["rounds"] for r in group])),
                     "final_fraction": float(np.mean([r["final_bits"] / r["kept_bits"] for r in group]))}
            for stage in ("estimation", "cascade", "cascade_reference", "verification", "verification_before",
                          "privacy_amplification", "privacy_amplification_before", "postprocess_key"):
                timed_rows = [r for r in group if f"{stage}_cpu_s" in r]
                if timed_rows:
                    cpu = sum(r[f"{stage}_cpu_s"] for r in timed_rows)
                    wall = sum(r[f"{stage}_wall_s"] for r in timed_rows)
                    stage_bits = sum(r["kept_bits"] for r in timed_rows)
                    entry[f"{stage}_bits_per_cpu_s"] = stage_bits / cpu if cpu > 0 else math.inf
                    entry[f"{stage}_bits_per_wall_s"] = stage_bits / wall if wall > 0 else math.inf
            entry["reference_identical"] = all(r.get("reference_identical", True) for r in group)
            entry["kept_bits"] = bits
            out.append(entry)
    return out


def scenario_rates(distances_km, pulses: int, block_pulses: int, repeats: int) -> list[dict]:
    """Sifted bits per second of ``jobs/bb84_decoy_50km.toml`` at each distance, ``error_correction`` model and cascade."""
    from dqsim import backend as backend_mod
    from dqsim import comm as comm_mod
    from dqsim.jobs import apply_overrides, load_job
    from dqsim.scenarios import qkd as qkd_scenario

    backend = backend_mod.select("numpy")
    out = []
    for distance in distances_km:
        for mode in ("model", "cascade"):
            job = apply_overrides(load_job(BENCH_DIR.parent / "jobs" / "bb84_decoy_50km.toml"), [
                f"qkd.pulses={pulses}", f"qkd.block_pulses={block_pulses}", f"qkd.link.distance_km={distance}",
                f'qkd.error_correction="{mode}"'])
            qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend)  # warm-up (numba)
            for rep in range(repeats):
                load = os.getloadavg()[0]
                result, cpu_s, wall_s = timed(qkd_scenario.run_job, job, comm=comm_mod.SingleComm(), backend=backend)
                blocks = result.tables["blocks"]
                sifted = int(np.sum(blocks["sifted_bits"]))
                row = {"distance_km": distance, "error_correction": mode, "pulses": pulses,
                       "block_pulses": block_pulses, "repeat": rep, "sifted_bits": sifted, "cpu_s": cpu_s,
                       "wall_s": wall_s, "sifted_bits_per_cpu_s": sifted / cpu_s,
                       "sifted_bits_per_wall_s": sifted / wall_s,
                       "qber_signal_mean": float(np.mean(blocks["qber_signal"])),
                       "secret_key_bits": int(np.sum(blocks["secret_key_bits"])), "load_1min": load,
                       "utc": datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S")}
                if mode == "cascade":
                    row.update(ec_f_measured=[float(v) for v in blocks["ec_f_measured"]],
                               ec_residual_errors=[int(v) for v in blocks["ec_residual_errors"]])
                print(json.dumps(row), flush=True)
                out.append(row)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=sorted(DEFAULT_BLOCKS))
    parser.add_argument("--qbers", type=float, nargs="+", default=[0.01, 0.025, 0.05, 0.08])
    parser.add_argument("--blocks", type=int, default=None, help="blocks per (size, QBER) (default: by size)")
    parser.add_argument("--reference-max-bits", type=int, default=1_000_000,
                        help="largest block also run by the Python reference Cascade")
    parser.add_argument("--reference-blocks", type=int, default=2, help="blocks per (size, QBER) with the reference")
    parser.add_argument("--skip-scenario", action="store_true")
    parser.add_argument("--distances-km", type=float, nargs="+", default=[10.0, 50.0])
    parser.add_argument("--scenario-pulses", type=int, default=40_000_000)
    parser.add_argument("--scenario-block-pulses", type=int, default=10_000_000)
    parser.add_argument("--scenario-repeats", type=int, default=2)
    parser.add_argument("--keep-blocks", action="store_true", help="store every block's row in the JSON file too")
    parser.add_argument("--label", default=socket.gethostname())
    parser.add_argument("--results-dir", default=str(BENCH_DIR / "results"))
    args = parser.parse_args(argv)
    cascade(np.zeros(8, np.uint8), np.ones(8, np.uint8), 0.25, np.random.default_rng(0))  # numba compile/load
    rows = []
    for n in args.sizes:
        for qber in args.qbers:
            blocks = args.blocks or DEFAULT_BLOCKS.get(n, 2)
            for b in range(blocks):
                rows.append(one_block(n, qber, seed=1_000_003 * b + int(qber * 1e4) + n,
                                      reference=n <= args.reference_max_bits and b < args.reference_blocks,
                                      before=b < args.reference_blocks))
            print(json.dumps(summarise([r for r in rows if r["n"] == n and r["qber"] == qber])[0]), flush=True)
    summary = summarise(rows)
    scenario = [] if args.skip_scenario else scenario_rates(args.distances_km, args.scenario_pulses,
                                                           args.scenario_block_pulses, args.scenario_repeats)
    date = datetime.datetime.now(datetime.timezone.utc)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=BENCH_DIR, check=False).stdout.strip()
    except OSError:
        commit = "unknown"
    result = {"benchmark": "qkd_post_bench", "machine": {
        "cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "platform": platform.platform(), "date_utc": date.isoformat(timespec="seconds"),
        "load_1min_end": os.getloadavg()[0], "commit": commit,
        "command": " ".join([sys.executable, *sys.argv]), "label": args.label},
        "summary": summary, "scenario": scenario, "blocks": rows if args.keep_blocks else []}
    out = Path(args.results_dir) / f"qkd_post_bench-{args.label}-{date:%Y%m%d-%H%M}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    for row in scenario:
        print(f"scenario {row['distance_km']:5.1f} km {row['error_correction']:>7}: {row['sifted_bits']:,} sifted bits, "
              f"{row['sifted_bits_per_cpu_s']:.3e} per CPU s, {row['sifted_bits_per_wall_s']:.3e} per wall s "
              f"(load {row['load_1min']:.1f})")
    print(f"{'n':>9} {'QBER':>6} {'blocks':>6} {'f_EC mean [min,max]':>22} {'failed':>6} | bits per CPU s: "
          f"{'estim.':>9} {'cascade':>9} {'(python)':>9} {'verif.':>9} {'(before)':>9} {'PA':>9} {'(before)':>9} "
          f"{'total':>9}")
    for e in summary:
        def rate(key):
            v = e.get(f"{key}_bits_per_cpu_s")
            return f"{v:9.2e}" if v is not None else f"{'-':>9}"
        print(f"{e['n']:9d} {e['qber']:6.3f} {e['blocks']:6d} {e['f_ec_mean']:7.3f} [{e['f_ec_min']:.3f},"
              f"{e['f_ec_max']:.3f}] {e['failed_blocks']:6d} | {rate('estimation')} {rate('cascade')} "
              f"{rate('cascade_reference')} {rate('verification')} {rate('verification_before')} "
              f"{rate('privacy_amplification')} {rate('privacy_amplification_before')} {rate('postprocess_key')}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
