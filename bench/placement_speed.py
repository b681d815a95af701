"""Engine speed, old tree against new, alternated in one run: the 16-node ring and the 1,024-node chain on one rank.

For the change of ``Network.placement`` (a tuple) and ``Simulator.rank_of_node`` (a list) to one read-only int16
array read through a ``memoryview`` (2026-12-07 (afternoon)): the engine reads a node's rank on every message and
event. Each run is a fresh process of the tree's own bench script: ``bench/network_bench.py --mode worker`` (the
EPR ring, ``--repeats`` runs, its median; events per CPU second) and ``bench/chain_ranks.py --worker`` (one
repeater chain; events over the run's CPU seconds). Old and new alternate (old, new, new, old, ...); the ratio
old/new of each case's rate is printed per round, > 1 where new is faster. Results (simulated end time, events)
must be the same in both trees.

    PYTHONPATH=$PWD .venv/bin/python bench/placement_speed.py --old /tmp/old --new . --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def ring(tree: Path, out: Path, nodes: int, rounds: int) -> dict:
    """The tree's EPR-ring bench, one rank: events per CPU second of the median of 3 runs."""
    subprocess.run([sys.executable, str(tree / "bench" / "network_bench.py"), "--mode", "worker", "--out", str(out),
                    "--nodes", str(nodes), "--rounds", str(rounds), "--repeats", "3"],
                   env=_env(tree), cwd=tree, check=True, capture_output=True)
    record = json.loads(out.read_text())
    return {"rate": record["events_per_cpu_second"], "events": record["num_events"],
            "end_time_ps": record["end_time_ps"]}


def chain(tree: Path, out: Path, nodes: int, pairs: int) -> dict:
    """The tree's repeater-chain bench, one rank: events over the run's CPU seconds."""
    subprocess.run([sys.executable, str(tree / "bench" / "chain_ranks.py"), "--worker", "--out", str(out),
                    "--nodes", str(nodes), "--pairs", str(pairs)], env=_env(tree), cwd=tree, check=True,
                   capture_output=True)
    record = json.loads(out.read_text())
    return {"rate": record["events"] / record["cpu_s"], "events": record["events"],
            "end_time_ps": record["end_time_ps"], "fingerprint": record["fingerprint"]}


def _env(tree: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True)
    parser.add_argument("--new", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of old, new, new, old")
    parser.add_argument("--ring-nodes", type=int, default=16)
    parser.add_argument("--ring-rounds", type=int, default=200)
    parser.add_argument("--chain-nodes", type=int, default=1024)
    parser.add_argument("--chain-pairs", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cases = {"ring": lambda tree, out: ring(tree, out, args.ring_nodes, args.ring_rounds),
             "chain": lambda tree, out: chain(tree, out, args.chain_nodes, args.chain_pairs)}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            for case, run in cases.items():
                rates = {"old": [], "new": []}
                for label in ("old", "new", "new", "old"):
                    result = run(getattr(args, label).resolve(), Path(folder) / f"{case}.json")
                    rates[label].append(result["rate"])
                    rows.append({"round": round_, "case": case, "code": label, **result, "load": os.getloadavg()[0]})
                    print(f"round {round_} {case:5} {label}: {result['rate']:9.0f} events/CPU s, "
                          f"{result['events']} events, end {result['end_time_ps']} ps, load {rows[-1]['load']:.1f}",
                          flush=True)
                ratio = sum(rates["new"]) / sum(rates["old"])
                same = len({(r["events"], r["end_time_ps"]) for r in rows if r["case"] == case}) == 1
                print(f"round {round_} {case:5}: new/old rate {ratio:.3f} (> 1: new faster); "
                      f"{'same' if same else 'DIFFERENT'} events and end time", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
