"""A state gathered into the run file: its write with a manifest against a raw early-writeback write, old vs new.

A benchmark, not a test. Each run (a fresh process, ``PYTHONPATH`` the
variant's ``dqsim``) writes 2^n complex128 amplitudes twice, after an
``os.sync()`` each: raw, in 64 MiB ``pwrite`` calls each followed by
``sync_file_range`` + ``fsync`` (:func:`checkpoint_bench.early_writeback_write`),
and as ``write_run_file(state=..., manifest=True)`` (a checkpoint of a small
replicated register, or an output's gathered state). It prints the wall time
ratio raw/write and the write's CPU seconds (all threads: the hashes and the
copies; less noisy than wall time on a loaded machine). Variants alternate
(ABBA) with ``--rounds``; the load average is printed beside every row.

    .venv/bin/python bench/gathered_state_write_bench.py --qubits 24 26 --before /tmp/base --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def worker(n: int, folder: Path) -> dict:
    sys.path.insert(0, str(BENCH))
    from checkpoint_bench import early_writeback_write
    from dqsim import io

    state = np.random.default_rng(n).standard_normal(2 << n).view(np.complex128)
    os.sync()
    t = time.perf_counter()
    early_writeback_write(folder / "raw.bin", state)
    raw_s = time.perf_counter() - t
    (folder / "raw.bin").unlink()
    os.sync()
    t, cpu = time.perf_counter(), time.process_time()
    io.write_run_file(folder / "g.h5", attrs={"bench": True}, tables={}, manifest=True, state=state)
    write_s, cpu_s = time.perf_counter() - t, time.process_time() - cpu
    return {"qubits": n, "raw_early_write_s": raw_s, "write_s": write_s, "write_cpu_s": cpu_s,
            "ratio": raw_s / write_s, "checksum": os.environ.get("DQSIM_CHECKSUM", "default"),
            "load_1min": os.getloadavg()[0]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[24])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", required=False, help="folder holding an older dqsim package")
    parser.add_argument("--checksum", nargs="+", default=["sha256", "xxh3_128"])
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print("RESULT " + json.dumps(worker(args.worker, Path(args.folder))), flush=True)
        return 0
    variants = {"after": str(ROOT)} if args.before is None else {"before": args.before, "after": str(ROOT)}
    print("| amplitudes | checksum | variant | raw early-writeback/write | write CPU s | load |\n"
          "|---|---|---|---|---|---|")
    for algorithm in args.checksum:
        for n in args.qubits:
            for round_index in range(args.rounds):
                order = list(variants) if round_index % 2 == 0 else list(variants)[::-1]
                for variant in order:
                    folder = tempfile.mkdtemp(dir=BENCH)
                    try:
                        out = subprocess.run([sys.executable, __file__, "--worker", str(n), "--folder", folder],
                                             env=dict(os.environ, PYTHONPATH=variants[variant], OMP_NUM_THREADS="1",
                                                      DQSIM_CHECKSUM=algorithm),
                                             capture_output=True, text=True, timeout=900)
                    finally:
                        shutil.rmtree(folder, ignore_errors=True)
                    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
                    if not line:
                        print(out.stderr[-2000:])
                        continue
                    row = json.loads(line[0][7:])
                    print(f"| 2^{n} | {algorithm} | {variant} | {row['ratio']:.2f} | {row['write_cpu_s']:.2f} | "
                          f"{row['load_1min']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
