"""BB84 pulses per second: dqsim against SeQUeNCe, same link, same run.

A benchmark, not a test: it measures and records, it asserts nothing.

Link (the issue's comparison point): μ = 0.1, 80 MHz source, detector
efficiency 0.8, 10 Hz dark counts (1 ns gates), 0.2 dB/km, no misalignment,
at 10 and 50 km. dqsim runs decoy-state BB84 with a signal of μ = 0.1 plus
a weak decoy and vacuum (98 % / 1 % / 1 %), which SeQUeNCe's plain BB84 does
not have; the QBER compared is dqsim's signal class. Two dqsim figures:

* ``engine``: the whole ``qkd`` scenario (batches as messages over the event
  engine, sifting messages, decoy analysis, key length), one rank;
* ``kernel``: the array work that the engine drives, alone: with
  ``--sampling detections`` (the default, as in the scenario) the registered
  clicks of each batch drawn directly and counted where they were drawn
  (on a GPU no per-click array comes to the host:
  :mod:`dqsim.protocols.qkd.detections`, ``on_host=False``); with ``--sampling pulses`` Alice's
  batch + Bob's detection of every pulse + counting (the reference path).

SeQUeNCe 0.8.5 may live in its own virtual environment:
``--sequence-site-packages /work/venvs/sequence/lib/python3.11/site-packages``
appends that folder to ``sys.path`` *after* this interpreter's own packages
(so NumPy and dqsim's dependencies are this environment's).

SeQUeNCe (``bench/sequence_bb84.py``, the ``bench`` extra) runs in the same
process invocation, before dqsim. Output: ``bench/results/qkd_bench-<label>-<date>.json``.

    .venv/bin/python bench/qkd_bench.py                      # CPU, NumPy
    python bench/qkd_bench.py --backend cupy --skip-sequence # on a GPU machine
    .venv/bin/python bench/qkd_bench.py --sequence-site-packages /work/venvs/sequence/lib/python3.11/site-packages
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR))

JOB = """
[run]
name = "qkd_bench"
scenario = "qkd"
seed = 7
backend = "{backend}"

[qkd]
protocol = "bb84_decoy"
pulses = {pulses}
batch_pulses = {batch}
block_pulses = {pulses}
sampling = "{sampling}"

[qkd.source]
intensities = [0.1, 0.05, 0.0]
probabilities = [0.98, 0.01, 0.01]
source_rate_hz = 80e6

[qkd.link]
distance_km = {distance}
attenuation_db_per_km = 0.2
detector_efficiency = 0.8
dark_count_rate_hz = 10.0
gate_width_ps = 1000
misalignment = 0.0
"""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_dqsim(distance_km: float, pulses: int, batch: int, backend_name: str, sampling: str,
              engine_pulses: int | None = None, engine_batch: int | None = None) -> dict:
    from dqsim import backend as backend_mod
    from dqsim import comm as comm_mod
    from dqsim.jobs import load_job_text
    from dqsim.protocols.qkd.bb84 import alice_batch, bob_detect
    from dqsim.protocols.qkd.detections import detect_batch, detection_counts
    from dqsim.protocols.qkd.postprocess import BlockCounts, block_counts
    from dqsim.scenarios import qkd as qkd_scenario

    backend = backend_mod.select(backend_name)
    engine_pulses = pulses if engine_pulses is None else engine_pulses
    engine_batch = min(batch if engine_batch is None else engine_batch, engine_pulses)
    job = load_job_text(JOB.format(backend=backend_name, pulses=engine_pulses, batch=engine_batch,
                                   distance=distance_km, sampling=sampling))
    qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend)  # warm-up (numba, CUDA)
    started, started_cpu = time.perf_counter(), time.process_time()
    out = qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend)
    engine_s, engine_cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
    block = out.tables["blocks"][0]
    phys = qkd_scenario.link_physics(job, 0, 0, 1, distance_km)
    source = qkd_scenario.build_plan(job).source
    xp = backend.xp
    if sampling == "detections":  # warm-up of the kernel alone (CUDA kernels compile on first use)
        detect_batch(source, channel=phys.channel, detector=phys.detector, seed=job.run.seed, start_pulse=0,
                     num_pulses=min(batch, 1_000_000), backend=backend, on_host=False)
        backend.synchronize()
    counts = BlockCounts.zeros(source.num_classes)
    state = None
    started = time.perf_counter()
    for start in range(0, pulses, batch):
        size = min(batch, pulses - start)
        if sampling == "detections":
            det, state = detect_batch(source, channel=phys.channel, detector=phys.detector, seed=job.run.seed,
                                      start_pulse=start, num_pulses=size, receiver_state=state, backend=backend,
                                      on_host=False)
            counts = counts + detection_counts(det, source.num_classes, backend=backend)
        else:
            alice = alice_batch(xp, source, job.run.seed, start, size)
            bob, state = bob_detect(xp, alice, transmittance=phys.channel, detector=phys.detector,
                                    seed=job.run.seed, receiver_state=state)
            counts = counts + block_counts(xp, alice, bob, source.num_classes)
    backend.synchronize()
    kernel_s = time.perf_counter() - started
    sifted = int(block["sifted_bits"])
    kernel_qber = counts.errors[0] / counts.sifted[0] if counts.sifted[0] else float("nan")
    return {"distance_km": distance_km, "pulses": pulses, "batch_pulses": batch, "sampling": sampling,
            "backend": backend.kernel_name(), "engine_pulses": engine_pulses, "engine_batch_pulses": engine_batch,
            "engine_wall_s": engine_s, "engine_pulses_per_s": engine_pulses / engine_s,
            "engine_cpu_s": engine_cpu_s, "engine_pulses_per_cpu_s": engine_pulses / engine_cpu_s,
            "kernel_wall_s": kernel_s, "kernel_pulses_per_s": pulses / kernel_s,
            "qber_signal": float(block["qber_signal"]), "sifted_bits": sifted,
            "sifted_bits_per_pulse": sifted / engine_pulses,
            "kernel_detections": int(sum(counts.detected)), "kernel_qber_signal": kernel_qber,
            "kernel_sifted_bits_per_pulse": sum(counts.sifted) / pulses,
            "secret_key_bits": int(block["secret_key_bits"])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distances-km", type=float, nargs="+", default=[10.0, 50.0])
    parser.add_argument("--pulses", type=int, default=20_000_000)
    parser.add_argument("--batch-pulses", type=int, default=1_000_000)
    parser.add_argument("--engine-pulses", type=int, default=None,
                        help="pulses of the whole-scenario run (default: --pulses); the kernel runs --pulses")
    parser.add_argument("--engine-batch-pulses", type=int, default=None,
                        help="[qkd].batch_pulses of the scenario run (default: --batch-pulses)")
    parser.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    parser.add_argument("--sampling", choices=["detections", "pulses"], default="detections",
                        help="[qkd].sampling of dqsim's job (default: detections)")
    parser.add_argument("--skip-sequence", action="store_true", help="do not run SeQUeNCe")
    parser.add_argument("--sequence-site-packages", default=None,
                        help="site-packages of a separate SeQUeNCe venv, appended to sys.path")
    parser.add_argument("--sequence-keys", type=int, nargs="+", default=[30, 12],
                        help="SeQUeNCe keys of 1024 bits per distance (sets its run length)")
    parser.add_argument("--label", default=socket.gethostname())
    parser.add_argument("--results-dir", default=str(BENCH_DIR / "results"))
    args = parser.parse_args(argv)
    if args.sequence_site_packages:
        sys.path.append(args.sequence_site_packages)
    rows = []
    for i, distance in enumerate(args.distances_km):
        row = {"distance_km": distance}
        if not args.skip_sequence:
            try:
                from sequence_bb84 import run_sequence_bb84

                keys = args.sequence_keys[min(i, len(args.sequence_keys) - 1)]
                seq = run_sequence_bb84(distance, num_keys=keys, mean_photon_number=0.1, source_rate_hz=80e6,
                                        detector_efficiency=0.8, dark_count_rate_hz=10.0,
                                        attenuation_db_per_km=0.2, seed=7)
                row["sequence"] = seq
            except ImportError as exc:
                row["sequence"] = {"status": f"not available ({exc})"}
        row["dqsim"] = run_dqsim(distance, args.pulses, args.batch_pulses, args.backend, args.sampling,
                                 args.engine_pulses, args.engine_batch_pulses)
        seq = row.get("sequence", {})
        if "pulses_sent" in seq:
            seq_rate = seq["pulses_sent"] / seq["wall_s"]
            row["speedup_engine"] = row["dqsim"]["engine_pulses_per_s"] / seq_rate
            row["speedup_kernel"] = row["dqsim"]["kernel_pulses_per_s"] / seq_rate
            # CPU time of both (less sensitive to other load on a shared machine).
            row["speedup_engine_cpu"] = (row["dqsim"]["engine_pulses_per_cpu_s"]
                                         / (seq["pulses_sent"] / seq["cpu_s"]))
        rows.append(row)
        print(json.dumps(row, default=str), flush=True)
    print(f"{'km':>6} {'SeQUeNCe p/s':>14} {'QBER':>8} | {'dqsim engine p/s':>17} {'kernel p/s':>12} "
          f"{'QBER':>8} | {'x engine':>9} {'x kernel':>9} {'x cpu':>9}")
    for row in rows:
        seq, dq = row.get("sequence", {}), row["dqsim"]
        seq_rate = seq["pulses_sent"] / seq["wall_s"] if "pulses_sent" in seq else float("nan")
        print(f"{row['distance_km']:6.1f} {seq_rate:14.3e} {seq.get('qber', float('nan')):8.5f} | "
              f"{dq['engine_pulses_per_s']:17.3e} {dq['kernel_pulses_per_s']:12.3e} {dq['qber_signal']:8.5f} | "
              f"{row.get('speedup_engine', float('nan')):9.1f} {row.get('speedup_kernel', float('nan')):9.1f} "
              f"{row.get('speedup_engine_cpu', float('nan')):9.1f}")
    date = datetime.datetime.now(datetime.timezone.utc)
    result = {"benchmark": "qkd_bench", "machine": {
        "cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
        "platform": platform.platform(), "date_utc": date.isoformat(timespec="seconds"),
        "command": " ".join([sys.executable, *sys.argv]), "label": args.label}, "rows": rows}
    out = Path(args.results_dir) / f"qkd_bench-{args.backend}-{args.label}-{date:%Y%m%d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
