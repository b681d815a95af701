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
With ``--repeats N`` it measures every rank count N times, interleaved (1, 2,
4, 1, 2, 4, ...), takes each ratio against the 1-rank run of the same repeat
and prints the median and spread: on a shared machine back-to-back runs see
similar load. Each run records the 1-minute load average and its CPU time.

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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS_DIR = ROOT / "bench" / "results"


def add_workload_arguments(p: argparse.ArgumentParser) -> None:
    """The options that define the chain (shared with ``bench/chain_trace.py``)."""
    p.add_argument("--nodes", type=int, default=1024)
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--link-km", type=float, default=2.0)
    p.add_argument("--source-fidelity", type=float, default=0.999)
    p.add_argument("--t2-s", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)


def chain_of(args):
    """The :class:`~dqsim.protocols.repeater.ChainSpec` of the workload options."""
    from dqsim.network.link import LinkSpec
    from dqsim.network.node import NodeSpec
    from dqsim.protocols.repeater import ChainSpec

    link = LinkSpec(distance_km=args.link_km, source_fidelity=args.source_fidelity)
    node = NodeSpec(name="n", t2_s=args.t2_s)
    return ChainSpec(links=[link] * (args.nodes - 1), node=node, num_pairs=args.pairs)


def worker(args) -> int:
    """Run the chain once on this MPI world; rank 0 writes what it delivered and the wall time."""
    from dqsim import comm as comm_mod
    from dqsim.engine import simulator
    from dqsim.scenarios import repeater

    if args.exchange_cpu_ms is not None:
        simulator.EXCHANGE_CPU_S = args.exchange_cpu_ms / 1e3
    if args.lockstep:
        simulator.PIPELINED_EXCHANGE = False
    if args.no_quiet:
        simulator.QUIET_MESSAGES = False
    comm = comm_mod.init()
    chain = chain_of(args)
    comm.barrier()
    started, cpu_started = time.perf_counter(), time.process_time()
    run = repeater.run_chain(chain, comm=comm, seed=args.seed)
    wall_s = comm.allreduce_max(time.perf_counter() - started)
    cpu_s = comm.allreduce_max(time.process_time() - cpu_started)  # with MPI, busy waiting counts too
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if comm.rank == 0:
        pairs = [(p.delivery_ps, repr(p.fidelity), p.restarts) for p in run.pairs]
        record = {"ranks": comm.size, "wall_s": wall_s, "cpu_s": cpu_s, "load_average_1min": load, "pairs": pairs,
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
        for repeat in range(args.repeats):  # rank counts interleaved: each repeat measures them back to back
            for ranks in args.ranks:
                out = Path(tmp) / f"r{ranks}-{repeat}.json"
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--out", str(out),
                       "--nodes", str(args.nodes), "--pairs", str(args.pairs), "--link-km", str(args.link_km),
                       "--source-fidelity", str(args.source_fidelity), "--t2-s", str(args.t2_s),
                       "--seed", str(args.seed)]
                if args.exchange_cpu_ms is not None:
                    cmd += ["--exchange-cpu-ms", str(args.exchange_cpu_ms)]
                if args.lockstep:
                    cmd += ["--lockstep"]
                if args.no_quiet:
                    cmd += ["--no-quiet"]
                if ranks > 1:
                    cmd = [str(mpiexec), "-n", str(ranks), *cmd]
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout_s)
                if proc.returncode != 0:
                    print(f"{ranks} rank(s) failed:\n{proc.stderr[-2000:]}")
                    records.append({"ranks": ranks, "repeat": repeat, "status": "failed",
                                    "stderr": proc.stderr[-2000:]})
                    continue
                records.append({"status": "ok", "repeat": repeat, **json.loads(out.read_text())})
    ok = [r for r in records if r["status"] == "ok"]
    one = {r["repeat"]: r for r in ok if r["ranks"] == 1}
    print(f"chain of {args.nodes} nodes, {args.pairs} pair(s), swap-asap")
    print("repeat | ranks | wall s | / 1 rank (same repeat) | load | events | flushes | windows | fingerprint")
    ratios: dict[int, list[float]] = {}
    for r in ok:
        base = one.get(r["repeat"])
        ratio = r["wall_s"] / base["wall_s"] if base else float("nan")
        r["ratio_to_one_rank"] = ratio
        ratios.setdefault(r["ranks"], []).append(ratio)
        load = r.get("load_average_1min")
        print(f"{r['repeat']:6d} | {r['ranks']:5d} | {r['wall_s']:6.2f} | {ratio:22.2f} | "
              f"{'-' if load is None else f'{load:4.1f}'} | {r['events']:6d} | {r['flushes']:7d} | "
              f"{r['windows']:7d} | {r['fingerprint']}")
    summary = {ranks: {"median": statistics.median(values), "min": min(values), "max": max(values)}
               for ranks, values in ratios.items()}
    for ranks, spread in summary.items():
        print(f"{ranks} rank(s) / 1 rank: median {spread['median']:.2f} (min {spread['min']:.2f}, "
              f"max {spread['max']:.2f}) over {len(ratios[ranks])} repeat(s)")
    identical = len({r["fingerprint"] for r in ok}) == 1 and len(ok) == len(records)
    print(f"identical delivered pairs across rank counts: {identical}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = {"benchmark": "chain_ranks", "date": datetime.date.today().isoformat(),
              "machine": {"label": args.label, "platform": platform.platform(), "cpus": os.cpu_count(),
                          "load_average_at_end": load, "notes": args.notes},
              "workload": {"nodes": args.nodes, "pairs": args.pairs, "link_km": args.link_km,
                           "source_fidelity": args.source_fidelity, "t2_s": args.t2_s, "swapping": "swap_asap",
                           "seed": args.seed, "exchange_cpu_ms": args.exchange_cpu_ms,
                           "lockstep": args.lockstep, "no_quiet": args.no_quiet},
              "repeats": args.repeats, "ratio_to_one_rank": {str(k): v for k, v in summary.items()},
              "identical_across_ranks": identical, "runs": records}
    write_result(args.results_dir, f"chain_ranks-{args.label}", result)
    return 0


def write_result(results_dir: str, stem: str, result: dict) -> Path:
    """Write ``result`` to ``<results_dir>/<stem>-<YYYYMMDD>.json`` (with the UTC time if that exists)."""
    folder = Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}-{datetime.date.today():%Y%m%d}.json"
    if path.exists():
        path = folder / f"{stem}-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_workload_arguments(p)
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--timeout-s", type=float, default=1200.0)
    p.add_argument("--repeats", type=int, default=1,
                   help="runs of every rank count, interleaved; ratios use the same repeat's 1-rank run")
    p.add_argument("--exchange-cpu-ms", type=float, default=None,
                   help="the engine's EXCHANGE_CPU_S in ms (CPU time per exchange on several ranks; default: "
                        "EVENTS_PER_EXCHANGE events)")
    p.add_argument("--no-quiet", action="store_true",
                   help="promises count quiet messages at their arrival (the engine's QUIET_MESSAGES off)")
    p.add_argument("--lockstep", action="store_true",
                   help="exchanges in lockstep (the engine's PIPELINED_EXCHANGE off): one blocking alltoall each")
    p.add_argument("--label", default="vm")
    p.add_argument("--notes", default="", help="free text stored in machine.notes")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    return worker(args) if args.worker else driver(args)


if __name__ == "__main__":
    raise SystemExit(main())
