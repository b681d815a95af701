"""The QKD speed figure (``bench/qkd_bench.py``'s whole-scenario rate) of two dqsim trees, alternated in one run.

A benchmark, not a test: it measures and prints, it asserts nothing. Made for the change that put every
classical message of a key block on the link's FIFO channel (2026-12-07, evening: the reports, sifting and
estimation messages take their bits, ``bench/results/qkd-channel-speed-vm-20261207.md``), which changes simulated
times only; the question is whether the engine's pulses per CPU second moved.

Each round runs ``bench/qkd_bench.py --skip-sequence`` (docs/performance.md, "QKD": BB84, μ = 0.1, 80 MHz, η 0.8,
10 and 50 km, 2e7 pulses in batches of 1e6, the scenario once to warm up, then timed) with the old tree's code,
then the new tree's (``PYTHONPATH=TREE``, each its own ``bench/qkd_bench.py``), in separate processes, and prints
each run's engine pulses per CPU second and per wall second and, per distance, the ratio new / old of each
round's pair and their median.

    python bench/qkd_channel_speed.py OLD_TREE NEW_TREE [--rounds 3] [--pulses 20000000]

``OLD_TREE`` is a ``git archive`` of the base commit (with ``.venv`` beside it or this interpreter's packages).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def one_run(tree: Path, pulses: int, out_dir: Path) -> dict:
    """``bench/qkd_bench.py --skip-sequence`` with ``tree``'s dqsim: ``{distance_km: (cpu p/s, wall p/s)}``."""
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    for old in out_dir.glob("*.json"):
        old.unlink()
    subprocess.run([sys.executable, str(tree / "bench" / "qkd_bench.py"), "--skip-sequence", "--pulses", str(pulses),
                    "--results-dir", str(out_dir), "--label", "speed"], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    rows = json.loads(next(out_dir.glob("*.json")).read_text())["rows"]
    return {row["distance_km"]: (row["dqsim"]["engine_pulses_per_cpu_s"], row["dqsim"]["engine_pulses_per_s"])
            for row in rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pulses", type=int, default=20_000_000)
    args = parser.parse_args(argv)
    ratios: dict[float, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            got = {}
            for name, tree in (("old", args.old.resolve()), ("new", args.new.resolve())):
                got[name] = one_run(tree, args.pulses, Path(tmp))
                load = os.getloadavg()[0]
                print(f"round {r} {name}: " + ", ".join(f"{km:g} km {cpu:.3e} p/cpu-s {wall:.3e} p/s"
                                                      for km, (cpu, wall) in got[name].items())
                      + f" (load {load:.1f})", flush=True)
            for km in got["new"]:
                ratios.setdefault(km, []).append(got["new"][km][0] / got["old"][km][0])
    for km, each in ratios.items():
        print(f"{km:g} km: new/old engine pulses per CPU s {', '.join(f'{x:.3f}' for x in each)}; "
              f"median {statistics.median(each):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
