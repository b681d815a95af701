"""Benchmark: one long repeater chain on 1, 2 and 4 ranks — identical results, wall time per rank count.

A benchmark, not a test: it measures and records, it asserts nothing.

Workload: a chain of ``--nodes`` nodes (``--nodes - 1`` links of ``--link-km``
km, double-click heralding, source fidelity ``--source-fidelity``, memories
with T2 = ``--t2-s``), swap-asap, ``--pairs`` end-to-end pairs delivered one
after another (:func:`dqsim.scenarios.repeater.run_chain`). Nodes sit on ranks
in contiguous blocks, so only the links between blocks cross ranks; every
memory is a small density matrix (DESIGN.md invariant 2).

Driver (default): runs this file in worker mode for every rank count of
``--ranks`` under the mpiexec beside ``sys.executable`` (a plain process for
one rank), compares the delivered pairs (delivery times, fidelities,
restarts) across rank counts, prints the wall time of each and its ratio to
one rank, and writes ``bench/results/chain_ranks-<label>-<YYYYMMDD>.json``.

Example (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/chain_ranks.py --nodes 1024 --pairs 2 --ranks 1 2 4
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS_DIR = ROOT / "bench" / "results"


def worker(args) -> int:
    """Run the chain once on this MPI world; rank 0 writes what it delivered and the wall time."""
    from dqsim import comm as comm_mod
    from dqsim.network.link import LinkSpec
    from dqsim.network.node import NodeSpec
    from dqsim.protocols.repeater import ChainSpec
    from dqsim.scenarios import repeater

    comm = comm_mod.init()
    link = LinkSpec(distance_km=args.link_km, source_fidelity=args.source_fidelity)
    node = NodeSpec(name="n", t2_s=args.t2_s)
    chain = ChainSpec(links=[link] * (args.nodes - 1), node=node, num_pairs=args.pairs)
    comm.barrier()
    started = time.perf_counter()
    run = repeater.run_chain(chain, comm=comm, seed=args.seed)
    wall_s = comm.allreduce_max(time.perf_counter() - started)
    if comm.rank == 0:
        pairs = [(p.delivery_ps, repr(p.fidelity), p.restarts) for p in run.pairs]
        record = {"ranks": comm.size, "wall_s": wall_s, "pairs": pairs,
                  "fingerprint": hashlib.sha256(repr(pairs).encode()).hexdigest()[:16],
                  "events": run.engine.num_events, "flushes": run.engine.num_flushes,
                  "windows": run.engine.num_windows, "end_time_ps": run.engine.end_time_ps}
        Path(args.out).write_text(json.dumps(record))
    return 0


def driver(args) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    mpiexec = Path(sys.executable).parent / "mpiexec"
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for ranks in args.ranks:
            out = Path(tmp) / f"r{ranks}.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--out", str(out),
                   "--nodes", str(args.nodes), "--pairs", str(args.pairs), "--link-km", str(args.link_km),
                   "--source-fidelity", str(args.source_fidelity), "--t2-s", str(args.t2_s), "--seed", str(args.seed)]
            if ranks > 1:
                cmd = [str(mpiexec), "-n", str(ranks), *cmd]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout_s)
            if proc.returncode != 0:
                print(f"{ranks} rank(s) failed:\n{proc.stderr[-2000:]}")
                records.append({"ranks": ranks, "status": "failed", "stderr": proc.stderr[-2000:]})
                continue
            records.append({"status": "ok", **json.loads(out.read_text())})
    ok = [r for r in records if r["status"] == "ok"]
    one = next((r for r in ok if r["ranks"] == 1), None)
    print(f"chain of {args.nodes} nodes, {args.pairs} pair(s), swap-asap")
    print("ranks | wall s | / 1 rank | events | flushes | fingerprint")
    for r in ok:
        ratio = r["wall_s"] / one["wall_s"] if one else float("nan")
        print(f"{r['ranks']:5d} | {r['wall_s']:6.2f} | {ratio:8.2f} | {r['events']:6d} | {r['flushes']:7d} | "
              f"{r['fingerprint']}")
    identical = len({r["fingerprint"] for r in ok}) == 1 and len(ok) == len(records)
    print(f"identical delivered pairs across rank counts: {identical}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = {"benchmark": "chain_ranks", "date": datetime.date.today().isoformat(),
              "machine": {"label": args.label, "platform": platform.platform(), "cpus": os.cpu_count(),
                          "load_average_at_end": load},
              "workload": {"nodes": args.nodes, "pairs": args.pairs, "link_km": args.link_km,
                           "source_fidelity": args.source_fidelity, "t2_s": args.t2_s, "swapping": "swap_asap",
                           "seed": args.seed},
              "identical_across_ranks": identical, "runs": records}
    folder = Path(args.results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"chain_ranks-{args.label}-{datetime.date.today():%Y%m%d}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=1024)
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--link-km", type=float, default=2.0)
    p.add_argument("--source-fidelity", type=float, default=0.999)
    p.add_argument("--t2-s", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--timeout-s", type=float, default=1200.0)
    p.add_argument("--label", default="vm")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    return worker(args) if args.worker else driver(args)


if __name__ == "__main__":
    raise SystemExit(main())
