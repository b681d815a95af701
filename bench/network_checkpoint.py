"""What periodic checkpoints of a sparse big network cost: a 4-qubit GHZ ``dqc`` job over an N-node line or more.

A benchmark, not a test: it measures and records, it asserts nothing.

``--topology edges`` runs it over an edge-list file (``[network].edges_file``) of a Barabási–Albert graph
(``--distances``: every link its own length).

For each source tree (``--tree LABEL=PATH``, e.g. a worktree of the base commit and this one; alternated in each
round), each size (``--nodes``) and each rank count (``--ranks``):

1. ``dqsim run`` of the job (4 qubits on nodes 0-3 of the line, one data and two communication qubits a node,
   1 km links, 1,000 shots) with ``--set checkpoint.every_sim_s=...`` (``--every-s``), every checkpoint kept;
   every rank under ``/usr/bin/time`` (its peak RSS and user CPU seconds) and with
   ``Checkpointer.write`` timed inside it (CPU seconds of this process, ``time.process_time``, each write);
2. the size of the middle checkpoint's files (run file, slab files, manifest);
3. ``dqsim resume`` of that checkpoint on 1 and on 2 ranks (``--resume-ranks``), timed the same way
   (``read_checkpoint`` and ``Checkpointer.restore`` inside it, and the whole process), and whether its tables
   (every one but ``timing``, field by field) equal the 1-rank run's of the same tree and size.

A run that takes longer than ``--timeout`` seconds is killed (SIGKILL: SIGTERM would ask it for a checkpoint)
and recorded as such. ``--datasets N`` also times HDF5 alone writing N small datasets (N records of 200 bytes,
as the checkpoints before 2026-12-07 wrote one per node) against one table of their bytes, in this process.

    PYTHONPATH=$PWD .venv/bin/python bench/network_checkpoint.py --tree old=/tmp/old --tree new=$PWD \\
        --nodes 4096 65536 --ranks 1 2 --json bench/results/x.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from network_memory_peak import JOB as PEAK_JOB, same_tables  # noqa: E402

#: The job: network_memory_peak.py's GHZ (over a line unless ``--topology`` or ``--grid``).
JOB = PEAK_JOB


def job_text(topology: str, nodes: int, grid: list[int] | None) -> str:
    """The job over ``topology`` of ``nodes`` nodes, or over a ``grid`` of ROWS x COLS nodes; ``"edges"``: over the
    edge list ``edges.txt`` beside the job (:func:`write_edges_file`)."""
    if topology == "edges":
        return JOB.format(topology="edges", nodes=nodes).replace(f"num_nodes = {nodes}", 'edges_file = "edges.txt"')
    if grid:
        return JOB.format(topology="grid", nodes=nodes).replace(
            f"num_nodes = {nodes}", f"num_rows = {grid[0]}\nnum_cols = {grid[1]}")
    return JOB.format(topology=topology, nodes=nodes)

#: Runs dqsim (argv: timings file prefix, then dqsim's arguments) with the checkpoint write, read and restore timed
#: in CPU seconds of this process; each rank writes PREFIX-RANK.json at exit.
TIMED = """
import atexit, json, os, sys, time
import dqsim.engine.checkpoint as c
prefix, sys.argv = sys.argv[1], ['dqsim', *sys.argv[2:]]
spent = {'write': [], 'read_checkpoint': [], 'restore': []}
def timed(owner, name, key):
    inner = getattr(owner, name)
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[key].append(time.process_time() - start)
    setattr(owner, name, wrapper)
timed(c.Checkpointer, 'write', 'write')
timed(c.Checkpointer, 'restore', 'restore')
timed(c, 'read_checkpoint', 'read_checkpoint')
rank = os.environ.get('OMPI_COMM_WORLD_RANK') or os.environ.get('PMI_RANK') or '0'
atexit.register(lambda: open(f'{prefix}-{rank}.json', 'w').write(json.dumps(spent)))
from dqsim.cli import console_main, exit_status
raise SystemExit(exit_status(console_main()))
"""


def write_edges_file(path: Path, nodes: int, distances: bool) -> dict:
    """A Barabási–Albert graph of ``nodes`` nodes, two links per new node (networkx, seed 1), as an edge list with
    a header (``distances``: each link a length drawn uniformly in 1-50 km, seed 1, every one distinct)."""
    import networkx as nx
    import numpy as np

    graph = nx.barabasi_albert_graph(nodes, 2, seed=1)
    lengths = np.random.default_rng(1).uniform(1.0, 50.0, graph.number_of_edges()).tolist() if distances else None
    with open(path, "w") as out:
        out.write("source,target,distance_km\n" if distances else "source,target\n")
        if lengths is None:
            out.writelines(f"{a},{b}\n" for a, b in graph.edges())
        else:
            out.writelines(f"{a},{b},{x!r}\n" for (a, b), x in zip(graph.edges(), lengths))
    return {"links": graph.number_of_edges(), "file_bytes": path.stat().st_size}


def launch(tree: Path, ranks: int, args: list[str], folder: Path, timeout: float) -> dict:
    """Run ``dqsim ARGS`` of ``tree`` on ``ranks`` ranks, each under /usr/bin/time and :data:`TIMED`."""
    python = str(ROOT / ".venv" / "bin" / "python")
    mpiexec = str(Path(python).with_name("mpiexec"))
    prefix = folder / "spent"
    dqsim = ["-c", TIMED, str(prefix), *args]
    if ranks == 1:
        command = ["/usr/bin/time", "-o", str(folder / "rank-0.txt"), "-f", "%M %U %S", python, *dqsim]
    else:
        command = [mpiexec, "-n", str(ranks), "sh", "-c",
                   f'exec /usr/bin/time -o {folder}/rank-${{OMPI_COMM_WORLD_RANK:-$PMI_RANK}}.txt -f "%M %U %S" "$@"',
                   "sh", python, "-m", "mpi4py", *dqsim]
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        _out, err = process.communicate(timeout=timeout)
        code = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # SIGTERM would ask the run for a checkpoint
        _out, err = process.communicate()
        code = "killed after timeout"
    wall = time.monotonic() - started
    ranks_seen = []
    for rank in range(ranks):
        entry = {}
        timing = folder / f"rank-{rank}.txt"
        if timing.exists():
            fields = timing.read_text().split()
            if len(fields) >= 3 and fields[-3].isdigit():
                entry.update(peak_rss_mb=int(fields[-3]) / 1e3, user_s=float(fields[-2]))
            timing.unlink()
        spent = Path(f"{prefix}-{rank}.json")
        if spent.exists():
            entry.update({f"{key}_cpu_s": [round(v, 3) for v in values]
                          for key, values in json.loads(spent.read_text()).items() if values})
            spent.unlink()
        ranks_seen.append(entry)
    return {"uptime": load, "returncode": code, "wall_s": round(wall, 1), "stderr": err[-300:], "ranks": ranks_seen}


def checkpoint_bytes(run_file: Path) -> int:
    """Bytes of a checkpoint's files (run file, slabs, manifest)."""
    stem = run_file.name[:-len(".h5")]
    return sum(f.stat().st_size for f in run_file.parent.glob(stem + ".*"))


def one_size(label: str, tree: Path, nodes: int, ranks: int, args, folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    job = folder / "job.toml"
    job.write_text(job_text(args.topology, nodes, args.grid))
    edges = folder / "edges.txt"
    graph = {}
    if args.topology == "edges":
        if not edges.exists():
            write_edges_file(edges, nodes, args.distances)
        graph = {"links": sum(1 for _ in open(edges)) - 1, "file_bytes": edges.stat().st_size}
    ck = folder / f"ck-{label}-{ranks}"
    out = folder / f"out-{label}-{ranks}.h5"
    run = launch(tree, ranks, ["run", str(job), "-o", str(out), "--quiet",
                               "--set", f"checkpoint.every_sim_s={args.every_s}", "--set", "checkpoint.keep=100",
                               "--set", "checkpoint.keep_when_done=true", "--set", f'checkpoint.directory="{ck}"'],
                 folder, args.timeout)
    result = {"tree": label, "topology": args.topology, "nodes": nodes, "ranks": ranks, "run": run, **graph}
    written = sorted(ck.glob("*.ckpt*-*.h5"))
    written = [p for p in written if ".slab" not in p.name and Path(str(p)[:-3] + ".manifest.json").exists()]
    result["checkpoints"] = len(written)
    if run["returncode"] != 0 or not written:
        return result
    middle = written[len(written) // 2]
    result["middle"] = middle.name
    result["middle_bytes"] = checkpoint_bytes(middle)
    resumes = []
    for count in args.resume_ranks:
        if args.cross_only and count == ranks:
            continue
        copy = folder / f"ck-{label}-{ranks}-to-{count}"
        copy.mkdir(exist_ok=True)
        for f in ck.glob(middle.name[:-3] + ".*"):
            (copy / f.name).write_bytes(f.read_bytes())
        resumed = folder / f"resumed-{label}-{ranks}-{count}.h5"
        entry = launch(tree, count, ["resume", str(copy / middle.name), "-o", str(resumed), "--quiet"], folder,
                       args.timeout)
        entry["ranks_resumed_on"] = count
        if entry["returncode"] == 0:
            reference = folder / f"out-{label}-1.h5"
            entry["same_as_1_rank_run"] = same_tables(str(reference if reference.exists() else out), str(resumed))
        resumes.append(entry)
    result["resumes"] = resumes
    return result


def hdf5_datasets(count: int, size: int = 200) -> dict:
    """CPU seconds HDF5 takes to write ``count`` datasets of ``size`` bytes, against one table of their bytes."""
    import numpy as np

    from dqsim import io

    blob = np.frombuffer(os.urandom(size), dtype=np.uint8)
    timings = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, tables in (("one_dataset_a_node", {f"engine/node{i:06d}": blob for i in range(count)}),
                             ("one_table", {"engine/node_records": np.tile(blob, count)})):
            start = time.process_time()
            io.write_run_file(Path(folder) / f"{name}.h5", attrs={}, tables=tables, compress=False)
            timings[name] = {"cpu_s": round(time.process_time() - start, 2),
                             "bytes": (Path(folder) / f"{name}.h5").stat().st_size}
    return {"datasets": count, "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
            **timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", default=[], help="LABEL=PATH of a dqsim source tree")
    parser.add_argument("--nodes", type=int, nargs="+", default=[4096])
    parser.add_argument("--topology", default="line",
                        help="line, ring or star (sized by --nodes); edges: a Barabási–Albert graph's edge list "
                             "(write_edges_file)")
    parser.add_argument("--distances", action="store_true", help="--topology edges: every link its own length")
    parser.add_argument("--grid", type=int, nargs=2, default=None, metavar=("ROWS", "COLS"),
                        help="a grid of ROWS x COLS nodes instead of --topology and --nodes")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--resume-ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cross-only", action="store_true",
                        help="resume only on a rank count other than the run's (1 -> 2 and 2 -> 1)")
    parser.add_argument("--every-s", type=float, default=3e-5, help="checkpoint.every_sim_s (the run: ~132 us)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--datasets", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    if args.datasets:
        results.append(hdf5_datasets(args.datasets))
        print(json.dumps(results[-1]), flush=True)
    if args.grid:
        args.topology, args.nodes = "grid", [args.grid[0] * args.grid[1]]
    trees = [(label, Path(path).resolve()) for label, path in (item.split("=", 1) for item in args.tree)]
    with tempfile.TemporaryDirectory(prefix="netckpt-") as folder:
        for rounds in range(args.rounds):
            for nodes in args.nodes:
                for ranks in args.ranks:
                    for label, tree in trees:
                        result = one_size(label, tree, nodes, ranks, args, Path(folder) / f"{nodes}-{rounds}")
                        result["round"] = rounds
                        results.append(result)
                        print(json.dumps(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
