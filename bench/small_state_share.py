"""Benchmark: how much of a repeater-chain run is small-state algebra (does a Bell-diagonal path pay?).

A benchmark, not a test: it measures and records, it asserts nothing.

Issue 10 asks for a Bell-diagonal fast path for network pairs only if a
measurement shows it pays. A Bell-diagonal representation would replace the
4×4 density-matrix work on pairs (creation, swaps, corrections, dephasing)
by work on four weights; it cannot remove the rest of a run (event loop,
processes, messages). This script runs one chain under ``cProfile`` and
reports the share of the profiled time spent inside
:mod:`dqsim.state.small` (time entered from outside that module, so nested
calls are not counted twice). Amdahl's law bounds the speed-up of any such
path by ``1 / (1 - share)``; amplitude damping (T1) does not keep a pair
Bell-diagonal, so a real path would also need a fallback to the matrices.

Example (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/small_state_share.py --nodes 1024 --pairs 2
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import json
import os
import platform
import pstats
import time
from pathlib import Path

from dqsim import comm as comm_mod
from dqsim.network.link import LinkSpec
from dqsim.network.node import NodeSpec
from dqsim.protocols.repeater import ChainSpec
from dqsim.scenarios import repeater

ROOT = Path(__file__).resolve().parent.parent
SMALL = "dqsim/state/small.py"


def small_state_seconds(stats: pstats.Stats) -> float:
    """Cumulative seconds in functions of :mod:`dqsim.state.small` entered from other modules."""
    total = 0.0
    for (filename, _line, _name), (_cc, _nc, _tt, _ct, callers) in stats.stats.items():
        if filename.endswith(SMALL):
            total += sum(v[3] for k, v in callers.items() if not k[0].endswith(SMALL))
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=1024)
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--source-fidelity", type=float, default=0.99)
    p.add_argument("--t2-s", type=float, default=1.0)
    p.add_argument("--label", default="vm")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    chain = ChainSpec(links=[LinkSpec(distance_km=2.0, source_fidelity=args.source_fidelity)] * (args.nodes - 1),
                      node=NodeSpec(name="n", t2_s=args.t2_s), num_pairs=args.pairs)
    profile = cProfile.Profile()
    started = time.process_time()
    profile.enable()
    repeater.run_chain(chain, comm=comm_mod.SingleComm(), seed=1)
    profile.disable()
    cpu_s = time.process_time() - started
    stats = pstats.Stats(profile)
    profiled = sum(v[2] for v in stats.stats.values())
    small = small_state_seconds(stats)
    share = small / profiled
    print(f"{args.nodes} nodes, {args.pairs} pairs: {profiled:.2f} s profiled (cProfile wall clock; {cpu_s:.2f} CPU s), small-state "
          f"algebra {small:.2f} s = {share:.1%}; any Bell-diagonal path: at most {1 / (1 - share):.2f}x faster")
    date = datetime.date.today().strftime("%Y%m%d")
    out = args.out or ROOT / "bench" / "results" / f"small_state_share-{args.label}-{date}.json"
    out.write_text(json.dumps({
        "benchmark": "small_state_share", "config": {k: str(v) if isinstance(v, Path) else v
                                                     for k, v in vars(args).items()},
        "machine": {"hostname": platform.node(), "logical_cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average": os.getloadavg(),
                    "date_utc": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()},
        "profiled_s": profiled, "cpu_s": cpu_s, "small_state_s": small, "share": share,
        "amdahl_bound": 1 / (1 - share)}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
