"""Every rank reading an edge-list file against rank 0 reading it and broadcasting its arrays (``comm.bcast``).

A benchmark, not a test: it measures and prints, it asserts nothing. Each mode runs on ``--ranks`` ranks under
``mpiexec`` (a fresh launch per mode, the modes alternated): ``read``: every rank calls
``dqsim.jobs.edges_file.read_edges_file`` (what a run does: every rank validates the job); ``bcast``: rank 0
reads it and sends the ``EdgeList``'s arrays and names' bytes to the others through ``dqsim.comm``'s ``bcast``
(pickled, as dqsim's collectives send objects), which rebuild it. Per rank: the peak RSS above the RSS after the
imports (``VmHWM``), the wall seconds from a barrier before to a barrier after, and the CPU seconds. The file is a
ring or random graph as ``bench/edges_parse_memory.py`` writes it.

    PYTHONPATH=$PWD .venv/bin/python bench/edges_read_or_bcast.py --graph ring --links 2097152 --ranks 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from edges_parse_memory import write_graph  # noqa: E402

#: Run on every rank (argv: the file, the mode, the result prefix).
RANK = r"""
import json, sys, time
from dqsim import comm
from dqsim.jobs.edges_file import EdgeList, read_edges_file
from dqsim.network.node import PackedNames
def status(key):
    line = [row for row in open("/proc/self/status") if row.startswith(key + ":")][0]
    return int(line.split()[1]) * 1024
c = comm.init()
base = status("VmRSS")
c.barrier()
wall, cpu = time.perf_counter(), time.process_time()
if sys.argv[2] == "read" or c.rank == 0:
    edges = read_edges_file(sys.argv[1])
if sys.argv[2] == "bcast":
    parts = None
    if c.rank == 0:
        parts = (edges.names.blob, edges.names.offsets, edges.names.order, edges.ends, edges.distances_km)
    parts = c.bcast(parts)
    if c.rank != 0:
        blob, offsets, order, ends, lengths = parts
        edges = EdgeList(names=PackedNames.from_parts(blob, offsets, order), ends=ends, distances_km=lengths)
    del parts
cpu = time.process_time() - cpu
c.barrier()
wall = time.perf_counter() - wall
open(f"{sys.argv[3]}-{c.rank}.json", "w").write(json.dumps({
    "rank": c.rank, "base_mb": base / 1e6, "peak_above_mb": (status("VmHWM") - base) / 1e6, "wall_s": wall,
    "cpu_s": cpu, "links": len(edges.ends), "names": len(edges.names)}))
"""


def launch(path: Path, mode: str, ranks: int) -> list[dict]:
    """One launch of :data:`RANK` on ``ranks`` ranks: a row per rank."""
    prefix = path.with_suffix(f".{mode}")
    python = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run([str(Path(python).with_name("mpiexec")), "-n", str(ranks), python, "-m", "mpi4py", "-c", RANK,
                    str(path), mode, str(prefix)], env=env, check=True, capture_output=True, text=True)
    rows = [json.loads(Path(f"{prefix}-{rank}.json").read_text()) for rank in range(ranks)]
    for rank in range(ranks):
        Path(f"{prefix}-{rank}.json").unlink()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", choices=("ring", "random"), nargs="+", default=["ring"])
    parser.add_argument("--links", type=int, nargs="+", default=[1 << 21])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="rounds of read, bcast, bcast, read")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for graph in args.graph:
            for links in args.links:
                path = Path(folder) / f"{graph}-{links}.txt"
                facts = write_graph(path, graph, links)
                for _ in range(args.repeats):
                    for mode in ("read", "bcast", "bcast", "read"):
                        for row in launch(path, mode, args.ranks):
                            row.update(facts, mode=mode, ranks=args.ranks, load=os.getloadavg()[0])
                            rows.append(row)
                            print(f"{graph:>6} {links:>8} {mode:>5} rank {row['rank']}: peak {row['peak_above_mb']:6.1f}"
                                  f" MB above the imports, wall {row['wall_s']:5.2f} s, CPU {row['cpu_s']:5.2f} s, "
                                  f"load {row['load']:.1f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
