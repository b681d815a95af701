"""What each rank of a big ``dqc`` network run holds: its peak RSS above its imports and the structures behind it.

A benchmark, not a test: it measures and prints, it asserts nothing.

For each size (``--nodes``), rank count (``--ranks``) and source tree (``--tree NAME=PATH``, e.g. a ``git archive``
of the base commit and this worktree, run one after the other in each round), it runs ``dqsim run`` of
network_memory_peak.py's 4-qubit GHZ job (one data and two communication qubits a node, 1 km links, 1,000 shots)
over a line of N nodes (``--topology``), every rank under :data:`HOOK`: the rank's RSS once dqsim's modules are
imported (``VmRSS``, before the job is read) and its peak at the end (``VmHWM``), so "above the imports" is the
run's own. With ``--traced`` the runs are made again under tracemalloc (``--traced-only``: only so; tracemalloc
started after the imports), the traced bytes
held at the entry and exit of the run's stages (``job_network``, ``plan_dqc``, ``run_dqc``, the engine's
``__init__``, ``links_table``) with the peak since the mark before, and at the engine's start (``Simulator.run``)
each rank records the bytes of the structures named in :data:`PARTS` (deep sizes: NumPy arrays by ``nbytes``, Python
containers with the objects they hold, each object counted once) and the largest allocation sites (tracemalloc's
lines), then its traced peak at the end. Each run's tables (every one but ``timing``) are compared with those of the
first tree's run on the fewest ranks of the same size and round (``same``; read with this process's dqsim).

    PYTHONPATH=$PWD .venv/bin/python bench/network_rank_breakdown.py --tree base=/tmp/base --tree new=$PWD \\
        --nodes 65536 262144 1048576 --ranks 1 2 --traced --json /tmp/breakdown.json
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

from network_memory_peak import JOB, first_or_same  # noqa: E402

#: Named structures a rank holds at the engine's start: name -> attribute paths from the ``Simulator`` (``sim``);
#: a path missing in a tree counts 0 (the trees differ).
PARTS = {
    "link arrays (ends, lengths, specs, adjacency, delays)": [
        "sim.network._ends", "sim.network._lengths", "sim.network._spec_of", "sim.network._adjacent",
        "sim.network._all_delays", "sim.network._read_delays", "sim.network._search", "sim.network._weights",
        "sim.network._lightest"],
    "placement": ["sim.network.placement"],
    "rooted forest (tree of the routes)": ["sim.network._tree", "sim.network._preorder", "sim.network._first",
                                           "sim.network._subtree_end"],
    "node names and specs": ["sim.network.names", "sim.network.nodes"],
    "rank distances (lookahead table)": ["sim.network._rank_distances", "sim._dist", "sim._dist_home",
                                         "sim._by_distance"],
    "memory: T1/T2 per node": ["sim.memory.t1_s", "sim.memory.t2_s"],
    "memory: per qubit (owner, decays, last touch)": ["sim.memory.owner", "sim.memory._decays",
                                                       "sim.memory.last_touch_ps"],
    "engine: per qubit (rank, own)": ["sim._rank_of_qubit", "sim._own_network_qubit"],
    "engine: records, queues, latencies": ["sim.nodes", "sim._local", "sim._ready", "sim._blocked",
                                           "sim._latencies", "sim._outbox"],
}

#: Runs dqsim (argv: a file prefix, ``traced`` or ``plain``, then dqsim's arguments); writes PREFIX-RANK.json.
HOOK = r"""
import atexit, json, os, re, sys
prefix, mode, sys.argv = sys.argv[1], sys.argv[2], ['dqsim', *sys.argv[3:]]
import dqsim.cli, dqsim.scenarios.dqc, dqsim.engine.simulator as engine
def status(key):
    return int(re.search(key + r':\s+(\d+) kB', open('/proc/self/status').read()).group(1)) * 1024
seen = {'rss_imports': status('VmRSS'), 'hwm_imports': status('VmHWM')}
PARTS = json.loads(os.environ['BREAKDOWN_PARTS'])
def deep(obj, ids):
    import numpy as np
    from array import array
    todo, total = [obj], 0
    while todo:
        o = todo.pop()
        if o is None or id(o) in ids or isinstance(o, (type, type(sys))) or callable(o):
            continue
        ids.add(id(o))
        if isinstance(o, np.ndarray):
            total += o.nbytes + (0 if o.base is not None else 112)
            continue
        total += sys.getsizeof(o)
        if isinstance(o, (str, bytes, bytearray, array, memoryview, int, float, range)):
            continue
        if isinstance(o, dict):
            todo.extend(o.keys()); todo.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            todo.extend(o)
        elif hasattr(o, '__dict__') or hasattr(o, '__slots__'):
            for name in getattr(o, '__slots__', ()) or ():
                todo.append(getattr(o, name, None))
            todo.extend(getattr(o, '__dict__', {}).values())
    return total
inner = engine.Simulator.run
def run(self, *args, **kwargs):
    if 'parts' not in seen and mode == 'traced':
        import tracemalloc
        mark('engine start')
        seen['traced_at_start'] = tracemalloc.get_traced_memory()[0]
        top = tracemalloc.take_snapshot().statistics('lineno')[:12]
        seen['top'] = [(str(s.traceback[0]), s.size, s.count) for s in top]
        ids, parts = set(), {}
        for name, paths in PARTS.items():
            size = 0
            for path in paths:
                obj = self
                for attr in path.split('.')[1:]:
                    obj = getattr(obj, attr, None)
                if obj is not None:
                    size += deep(obj, ids)
            parts[name] = size
        seen['parts'] = parts
        del ids
        tracemalloc.reset_peak()  # (the walk's own bytes are no part of the run's peak)
    return inner(self, *args, **kwargs)
engine.Simulator.run = run
seen['marks'] = []
def marked(owner, name):
    inner = getattr(owner, name)
    def wrapper(*args, **kwargs):
        mark('enter ' + name)
        try:
            return inner(*args, **kwargs)
        finally:
            mark('leave ' + name)
    setattr(owner, name, wrapper)
def mark(what):
    if mode == 'traced':
        import tracemalloc
        current, peak = tracemalloc.get_traced_memory()
        seen['marks'].append((what, current, peak))
        tracemalloc.reset_peak()
for name in ('job_network', 'plan_dqc', 'run_dqc', 'links_table'):
    if hasattr(dqsim.scenarios.dqc, name):
        marked(dqsim.scenarios.dqc, name)
marked(engine.Simulator, '__init__')
if mode == 'traced':
    import tracemalloc
    tracemalloc.start()
def done():
    seen['hwm_end'] = status('VmHWM')
    if mode == 'traced':
        mark('end')
        seen['traced_peak'] = max(peak for _what, _current, peak in seen['marks'])
    rank = os.environ.get('OMPI_COMM_WORLD_RANK') or os.environ.get('PMI_RANK') or '0'
    open(f'{prefix}-{rank}.json', 'w').write(json.dumps(seen))
atexit.register(done)
from dqsim.cli import console_main, exit_status
raise SystemExit(exit_status(console_main()))
"""


def one_run(tree: Path, job: Path, ranks: int, traced: bool, folder: Path) -> dict:
    """``dqsim run JOB`` of ``tree`` on ``ranks`` ranks under :data:`HOOK`: every rank's figures and the output."""
    python = str(ROOT / ".venv" / "bin" / "python")
    out = folder / "out.h5"
    out.unlink(missing_ok=True)
    dqsim = ["-c", HOOK, str(folder / "seen"), "traced" if traced else "plain", "run", str(job), "-o", str(out),
             "--quiet"]
    command = ([python, *dqsim] if ranks == 1 else
               [str(ROOT / ".venv" / "bin" / "mpiexec"), "-n", str(ranks), python, "-m", "mpi4py", *dqsim])
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "BREAKDOWN_PARTS": json.dumps(PARTS)}
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.split("load average:")[-1].strip()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seen = []
    for path in sorted(folder.glob("seen-*.json")):
        seen.append(json.loads(path.read_text()))
        path.unlink()
    return {"load": load, "returncode": done.returncode, "stderr": done.stderr[-600:], "ranks": seen, "out": str(out)}


def show(name: str, nodes: int, ranks: int, traced: bool, row: dict) -> None:
    """One run's lines: per rank its peak above the imports (and with ``traced`` its parts and top sites)."""
    cells = []
    for r in row["ranks"]:
        cell = f"{(r['hwm_end'] - r['rss_imports']) / 1e6:.0f} MB above imports (peak {r['hwm_end'] / 1e6:.0f})"
        if traced:
            cell += f", traced peak {r['traced_peak'] / 1e6:.0f} MB"
        cells.append(cell)
    print(f"{name:>5} {nodes:>9,} nodes {ranks} rank(s) {'traced' if traced else 'plain'}: {'; '.join(cells)}  "
          f"rc={row['returncode']} same={row.get('same')} [load {row['load']}]", flush=True)
    if row["returncode"]:
        print(row["stderr"], file=sys.stderr)
    if traced:
        for rank, r in enumerate(row["ranks"]):
            if "parts" not in r:
                continue
            print(f"      rank {rank}: traced at the engine's start {r['traced_at_start'] / 1e6:.1f} MB "
                  f"({r['traced_at_start'] / nodes:.0f} B/node)")
            for part, size in sorted(r["parts"].items(), key=lambda item: -item[1]):
                print(f"        {size / 1e6:8.2f} MB {size / nodes:7.1f} B/node  {part}")
            for where, size, count in r["top"][:8]:
                print(f"        site {size / 1e6:8.2f} MB {count:>9,} blocks  {where}")
            print("        traced: " + ", ".join(f"[peak {peak / 1e6:.1f}] {what} {current / 1e6:.1f} MB"
                                              for what, current, peak in r.get("marks", [])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH of a dqsim source tree")
    parser.add_argument("--nodes", type=int, nargs="+", default=[65536])
    parser.add_argument("--topology", default="line")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--traced", action="store_true", help="also run each case under tracemalloc")
    parser.add_argument("--traced-only", action="store_true", help="run each case under tracemalloc only")
    parser.add_argument("--json", default=None, help="write every run's figures here")
    args = parser.parse_args()
    trees = [(name, Path(path).resolve()) for name, path in (tree.split("=", 1) for tree in args.tree)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for nodes in args.nodes:
            job = folder / f"{args.topology}{nodes}.toml"
            job.write_text(JOB.format(topology=args.topology, nodes=nodes))
            for round_index in range(args.rounds):
                first = None
                for traced in (True,) if args.traced_only else (False, True) if args.traced else (False,):
                    for ranks in args.ranks:
                        for name, tree in trees:
                            row = {"tree": name, "nodes": nodes, "ranks": ranks, "round": round_index,
                                   "traced": traced, **one_run(tree, job, ranks, traced, folder)}
                            out = Path(row.pop("out"))
                            if not row["returncode"]:
                                first, row["same"] = first_or_same(out, first, nodes)
                            rows.append(row)
                            show(name, nodes, ranks, traced, row)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
