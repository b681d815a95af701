"""CPU time of the QKD post-processing inside whole runs of the QKD example jobs (``error_correction = "cascade"``).

A benchmark, not a test: it measures and records, it asserts nothing.

Each job runs in this process on one rank (numpy backend), once to warm up
(numba's cache, imports), then ``--repeats`` times, timed. The stages of the
post-processing are wrapped by timers (CPU time of the process,
``time.process_time``): the whole ``postprocess_key`` of each block
(Cascade, verification, privacy amplification), and inside it ``cascade``
(its permutations and passes) and ``toeplitz_hash`` (verification and
privacy amplification); ``disclose_sample`` (the QBER sample, before
``postprocess_key``) apart; ``postprocess_block`` (a BB84 block's whole
post-processing: estimation, QBER sample, ``postprocess_key``) and
``detect_batch`` (the detection sampler), where the BB84 nodes call them; and the compiled
kernels' entry points of :mod:`dqsim.backend.qkd_kernels` where a tree has them (a stage a tree
lacks reads 0): Cascade's ``permutations`` and ``cascade_passes`` (before 2026-12-05 evening),
``shuffled_places`` and ``cascade_on_errors`` (since), the QBER sample's ``split_sample``. The
jobs, with their blocks' sifted key bits:

* ``bb84_50km``: ``jobs/bb84_decoy_50km.toml`` as it is, ``error_correction = "cascade"``
  (2 blocks of 10 million pulses, about 0.16 M sifted signal bits each);
* ``bb84_10km``: the same at 10 km (about 0.92 M sifted bits a block);
* ``bbm92_fk``: ``jobs/bbm92_finite_key.toml`` as it is (Cascade, finite key);
* ``bbm92_20km``, ``e91``: ``jobs/bbm92_20km.toml``, ``jobs/e91_chsh.toml`` with Cascade in
  blocks of 5 million pairs.

Run it from the root of the tree whose ``dqsim`` is to be measured
(``PYTHONPATH=$PWD``); the code under test is whatever ``dqsim`` imports, so
the same script measures an older tree (an A/B comparison)::

    PYTHONPATH=$PWD python bench/qkd_postprocess_jobs.py --label new --output results.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

JOBS = {
    "bb84_50km": ("bb84_decoy_50km.toml", ["qkd.error_correction=cascade"]),
    "bb84_10km": ("bb84_decoy_50km.toml", ["qkd.error_correction=cascade", "qkd.link.distance_km=10"]),
    "bbm92_fk": ("bbm92_finite_key.toml", []),
    "bbm92_20km": ("bbm92_20km.toml", ["qkd.error_correction=cascade", "qkd.block_pulses=5000000"]),
    "e91": ("e91_chsh.toml", ["qkd.error_correction=cascade", "qkd.block_pulses=5000000"]),
}

STAGES = ("postprocess_key", "cascade", "toeplitz_hash", "disclose_sample", "postprocess_block", "detect_batch",
          "permutations", "cascade_passes", "shuffled_places", "cascade_on_errors", "split_sample")


def install_timers(totals: dict) -> None:
    """Wrap the post-processing stages where the scenario looks them up, adding their CPU seconds to ``totals``."""
    from dqsim.backend import qkd_kernels
    from dqsim.protocols.qkd import entangled_block, nodes, postprocess, reconciliation

    def wrap(function, name):
        def timed(*args, **kwargs):
            start = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                totals[name] = totals.get(name, 0.0) + time.process_time() - start
        return timed

    for module in (reconciliation, postprocess, entangled_block, nodes, qkd_kernels):
        for name in STAGES:
            if hasattr(module, name):
                setattr(module, name, wrap(getattr(module, name), name))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", nargs="*", default=list(JOBS), choices=list(JOBS))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--label", default="")
    parser.add_argument("--output", help="JSON file to write (default: print only)")
    args = parser.parse_args(argv)

    from dqsim import backend as backend_mod
    from dqsim import comm as comm_mod
    from dqsim.jobs import apply_overrides, load_job
    from dqsim.scenarios import qkd as qkd_scenario

    totals: dict = {}
    install_timers(totals)
    backend = backend_mod.select("numpy")
    root = Path(__file__).resolve().parent.parent
    rows = []
    for name in args.jobs:
        path, overrides = JOBS[name]
        job = apply_overrides(load_job(root / "jobs" / path), overrides)
        qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend)  # warm-up (numba, imports)
        for repeat in range(args.repeats):
            totals.clear()
            load = os.getloadavg()[0]
            cpu, wall = time.process_time(), time.perf_counter()
            output = qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            row = {"job": name, "repeat": repeat, "utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"), "load_1min": load, "run_cpu_s": cpu, "run_wall_s": wall,
                **{f"{stage}_cpu_s": totals.get(stage, 0.0) for stage in STAGES},
                "secret_key_bits": int(output.attrs["total_secret_key_bits"])}
            rows.append(row)
            print(json.dumps(row), flush=True)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    record = {"label": args.label, "commit": commit, "python": sys.version.split()[0],
              "command": " ".join([sys.executable, *sys.argv]), "rows": rows}
    if args.output:
        Path(args.output).write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
