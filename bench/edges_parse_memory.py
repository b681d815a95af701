"""Memory and CPU of reading an edge-list file (``dqsim.jobs.edges_file.read_edges_file``), old tree against new.

Each read runs in its own process (``--old``/``--new``: source trees, e.g. ``git archive`` copies), old and new
alternated: the process's peak RSS (``VmHWM``) above its RSS after the imports, tracemalloc's peak during the
read, and the read's CPU seconds; then the two reads' results are compared (names, links, lengths) by their
digest. The files are Barabási–Albert graphs as ``bench/network_checkpoint.py`` writes them (``--names numbered``
writes ``node0``-style names instead of networkx's integers), or (``--graph``, sized by ``--links``) a ring of as
many nodes as links, or a random graph of half as many nodes as links (distinct pairs drawn uniformly, NumPy seed
1, names in a random order). ``--ranks 2`` reads in two processes at once under ``mpiexec`` (as every rank of a
run reads the file), each rank's figures a row.

    PYTHONPATH=$PWD .venv/bin/python bench/edges_parse_memory.py --old /tmp/old --new . --nodes 262144 1048576
    PYTHONPATH=$PWD .venv/bin/python bench/edges_parse_memory.py --old /tmp/old --new . --graph ring random \
        --links 1048576 2097152 --ranks 1 2
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

from network_checkpoint import write_edges_file  # noqa: E402

#: Run in a fresh process with the tree on its path: reads the file, prints one JSON line.
READ = r"""
import hashlib, json, sys, time, tracemalloc
import numpy as np
from dqsim.jobs.edges_file import read_edges_file
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
def hwm():  # (the process's own peak: ru_maxrss keeps the forking parent's across exec)
    line = [row for row in open("/proc/self/status") if row.startswith("VmHWM:")][0]
    return int(line.split()[1]) * 1024
base = rss()
tracemalloc.start()
cpu = time.process_time()
edges = read_edges_file(sys.argv[1])
cpu = time.process_time() - cpu
held, traced_peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
digest = hashlib.sha256()
for name in edges.names:
    digest.update(name.encode() + b"\0")
digest.update(np.ascontiguousarray(edges.ends).tobytes())
if edges.distances_km is not None:
    digest.update(edges.distances_km.tobytes())
import dqsim, os
rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", 0)))
open(f"{sys.argv[2]}-{rank}.json", "w").write(json.dumps({"tree": dqsim.__file__, "rank": rank, "base_mb": base / 1e6,
                  "peak_mb": hwm() / 1e6,
                  "traced_peak_mb": traced_peak / 1e6, "traced_held_mb": held / 1e6, "cpu_s": cpu, "digest": digest.hexdigest(),
                  "names": len(edges.names), "links": len(edges.ends)}))
"""

#: As :data:`READ`, without tracemalloc (its bookkeeping slows a Python loop): the read's CPU seconds alone.
READ_UNTRACED = READ.replace("tracemalloc.start()", "").replace(
    "held, traced_peak = tracemalloc.get_traced_memory()", "held = traced_peak = 0").replace("tracemalloc.stop()", "")


def read_once(tree: Path, path: Path, traced: bool, ranks: int = 1) -> list[dict]:
    """Read ``path`` with the code of ``tree`` in a fresh process (``ranks`` processes under ``mpiexec``, each
    reading it): a row per process."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    prefix = path.with_suffix(".row")
    command = [sys.executable, "-c", READ if traced else READ_UNTRACED, str(path), str(prefix)]
    if ranks > 1:
        command = [str(Path(sys.executable).with_name("mpiexec")), "-n", str(ranks), sys.executable, "-m", "mpi4py",
                   *command[1:]]
    subprocess.run(command, env=env, cwd=path.parent, capture_output=True, text=True, check=True)
    rows = []
    for rank in range(ranks):
        row = Path(f"{prefix}-{rank}.json")
        rows.append(json.loads(row.read_text()))
        row.unlink()
    return rows


def write_graph(path: Path, graph: str, links: int) -> dict:
    """A ring of ``links`` nodes, or a random graph of ``links`` distinct links over ``links // 2`` nodes (NumPy,
    seed 1, names in a random order), as an edge list with a header."""
    import numpy as np

    if graph == "ring":
        nodes = links
        ends = np.stack((np.arange(nodes), (np.arange(nodes) + 1) % nodes), axis=1)
    else:
        nodes, rng = links // 2, np.random.default_rng(1)
        keys = np.empty(0, dtype=np.int64)
        while len(keys) < links:
            low, high = np.sort(rng.integers(0, nodes, (2, 2 * links)), axis=0)
            keys = np.unique(np.concatenate((keys, (low * nodes + high)[low != high])))
        keys = rng.permutation(keys)[:links]
        ends = np.stack(np.divmod(keys, nodes), axis=1)
        ends = rng.permutation(nodes)[ends]
    with open(path, "w") as out:
        out.write("source,target\n")
        for start in range(0, links, 1 << 16):
            out.writelines(f"{a},{b}\n" for a, b in ends[start:start + (1 << 16)].tolist())
    return {"graph": graph, "links": links, "graph_nodes": nodes}


def renamed(path: Path) -> None:
    """Rewrite the edge list at ``path`` with every name ``n`` as ``node{n}``."""
    lines = path.read_text().splitlines(keepends=True)
    with open(path, "w") as out:
        out.write(lines[0])
        out.writelines("node" + line.replace(",", ",node", 1) for line in lines[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True)
    parser.add_argument("--new", type=Path, required=True)
    parser.add_argument("--nodes", type=int, nargs="+", default=[262144], help="Barabási–Albert graphs' nodes")
    parser.add_argument("--graph", choices=("ba", "ring", "random"), nargs="+", default=["ba"])
    parser.add_argument("--links", type=int, nargs="+", default=[1 << 20], help="rings' and random graphs' links")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1])
    parser.add_argument("--names", choices=("integers", "numbered"), default="integers")
    parser.add_argument("--distances", action="store_true")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of old, new, new, old")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    cases = [(graph, size) for graph in args.graph for size in (args.nodes if graph == "ba" else args.links)]
    with tempfile.TemporaryDirectory() as folder:
        for graph, size in cases:
            path = Path(folder) / f"edges-{graph}-{size}.txt"
            if graph == "ba":
                facts = {"graph": "ba", "graph_nodes": size, **write_edges_file(path, size, args.distances)}
                if args.names == "numbered":
                    renamed(path)
            else:
                facts = write_graph(path, graph, size)
            facts["file_bytes"] = path.stat().st_size
            for _ in range(args.repeats):
                for label in ("old", "new", "new", "old"):
                    for ranks in args.ranks:
                        for traced in (True, False):
                            for result in read_once(getattr(args, label), path, traced, ranks):
                                row = {"nodes": size, "code": label, "traced": traced, "ranks": ranks, **facts,
                                       **result, "load": os.getloadavg()[0]}
                                rows.append(row)
                                kind = "traced  " if traced else "untraced"
                                print(f"{graph:>6} {size:>8} {label} {ranks} rank(s), rank {row['rank']} {kind}: "
                                      f"peak {row['peak_mb']:6.0f} MB ({row['peak_mb'] - row['base_mb']:+6.0f} above "
                                      f"the imports), traced peak {row['traced_peak_mb']:6.1f} MB (held after "
                                      f"{row['traced_held_mb']:5.1f}), CPU "
                                      f"{row['cpu_s']:5.2f} s, {row['names']} names, digest {row['digest'][:12]}, "
                                      f"load {row['load']:.1f}", flush=True)
            digests = {row["digest"] for row in rows if (row["graph"], row["nodes"]) == (graph, size)}
            print(f"{graph:>6} {size:>8}: {'same' if len(digests) == 1 else 'DIFFERENT'} names, links and lengths",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
