"""Memory and CPU of reading an edge-list file (``dqsim.jobs.edges_file.read_edges_file``), old tree against new.

Each read runs in its own process (``--old``/``--new``: source trees, e.g. ``git archive`` copies), old and new
alternated: the process's peak RSS (``VmHWM``) above its RSS after the imports, tracemalloc's peak during the
read, and the read's CPU seconds; then the two reads' results are compared (names, links, lengths) by their
digest. The files are Barabási–Albert graphs as ``bench/network_checkpoint.py`` writes them (``--names numbered``
writes ``node0``-style names instead of networkx's integers).

    PYTHONPATH=$PWD .venv/bin/python bench/edges_parse_memory.py --old /tmp/old --new . --nodes 262144 1048576
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
traced_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
digest = hashlib.sha256()
for name in edges.names:
    digest.update(name.encode() + b"\0")
digest.update(np.ascontiguousarray(edges.ends).tobytes())
if edges.distances_km is not None:
    digest.update(edges.distances_km.tobytes())
import dqsim
print(json.dumps({"tree": dqsim.__file__, "base_mb": base / 1e6,
                  "peak_mb": hwm() / 1e6,
                  "traced_peak_mb": traced_peak / 1e6, "cpu_s": cpu, "digest": digest.hexdigest(),
                  "names": len(edges.names), "links": len(edges.ends)}))
"""

#: As :data:`READ`, without tracemalloc (its bookkeeping slows a Python loop): the read's CPU seconds alone.
READ_UNTRACED = READ.replace("tracemalloc.start()", "").replace(
    "traced_peak = tracemalloc.get_traced_memory()[1]", "traced_peak = 0").replace("tracemalloc.stop()", "")


def read_once(tree: Path, path: Path, traced: bool) -> dict:
    """Read ``path`` with the code of ``tree`` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", READ if traced else READ_UNTRACED, str(path)], env=env,
                         cwd=path.parent, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


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
    parser.add_argument("--nodes", type=int, nargs="+", default=[262144])
    parser.add_argument("--names", choices=("integers", "numbered"), default="integers")
    parser.add_argument("--distances", action="store_true")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of old, new, new, old")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for nodes in args.nodes:
            path = Path(folder) / f"edges-{nodes}.txt"
            facts = write_edges_file(path, nodes, args.distances)
            if args.names == "numbered":
                renamed(path)
            facts["file_bytes"] = path.stat().st_size
            for _ in range(args.repeats):
                for label in ("old", "new", "new", "old"):
                    for traced in (True, False):
                        result = read_once(getattr(args, label), path, traced)
                        row = {"nodes": nodes, "code": label, "traced": traced, **facts, **result,
                               "load": os.getloadavg()[0]}
                        rows.append(row)
                        kind = "traced  " if traced else "untraced"
                        print(f"{nodes:>8} {label} {kind}: peak {row['peak_mb']:6.0f} MB"
                              f" ({row['peak_mb'] - row['base_mb']:+6.0f} above the imports), traced peak "
                              f"{row['traced_peak_mb']:6.1f} MB, CPU {row['cpu_s']:5.2f} s, {row['names']} names, "
                              f"digest {row['digest'][:12]}, load {row['load']:.1f}, {row['tree']}", flush=True)
            digests = {row["digest"] for row in rows if row["nodes"] == nodes}
            print(f"{nodes:>8}: {'same' if len(digests) == 1 else 'DIFFERENT'} names, links and lengths", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
