"""``dqsim check``'s memory estimate of a big network against the peak RSS of the run it estimates, per rank.

A benchmark, not a test: it measures and prints, it asserts nothing.

For each case (``--cases``: SCENARIO:TOPOLOGY:NODES:RANKS, a grid's NODES a square number; e.g.
``dqc:line:4096:1``) it writes a job (``dqc``: network_memory_peak.py's 4-qubit GHZ, 1,000 shots, checkpointed
every 30 us of simulated time with ``--checkpoint`` as network_mega's runs; ``trotter``: an 8-site Ising chain on
the network's first 4 nodes, 2 time points; ``cloud``: two 4-qubit GHZ user jobs of 100 shots on a network of
2-data-qubit QPUs; TOPOLOGY ``edges-ring`` or ``edges-random``, with ``+len`` each link its own length: ``dqc``
over an edge-list file, :func:`write_edges`, kept in ``--edges-folder``), runs ``dqsim run`` on RANKS ranks with every rank under ``/usr/bin/time`` (its peak RSS,
``%M``) and prints ``dqsim check``'s estimate of each rank's peak (:func:`dqsim.cli.check.network_peak_bytes`,
this process's dqsim) over the measured peak. ``--base`` first measures what the estimate's
:data:`~dqsim.cli.check.IMPORTS_RSS_BYTES` stands for: the peak RSS of a process that imports every module an
8-node ``dqc`` run imports (:func:`base_probe`), three times. The load average is printed with each run.

    PYTHONPATH=$PWD .venv/bin/python bench/check_memory_scale.py --base \\
        --cases dqc:line:4096:1 dqc:ring:65536:2 --json /tmp/x.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from network_memory_peak import JOB as DQC_JOB  # noqa: E402

#: The ``[network]`` of the ``trotter`` and ``cloud`` jobs: 1 km links, QPUs of two data and two communication qubits.
NETWORK = ('[network]\ntopology = "{topology}"\nnum_nodes = {nodes}\n[network.link]\ndistance_km = 1.0\n'
           "[network.node]\nnum_data_qubits = 2\nnum_comm_qubits = 2\n")

TROTTER_JOB = ('[run]\nname = "netmem_trotter"\nscenario = "trotter"\nseed = 1\n'
               '[model]\nkind = "tfim"\nnum_sites = 8\n'
               "[evolution]\ntotal_time = 0.2\nnum_points = 2\nsteps_per_point = 1\n"
               + NETWORK + "[distribution]\nassignment = [0, 0, 1, 1, 2, 2, 3, 3]\n")

CLOUD_JOB = ('[run]\nname = "netmem_cloud"\nscenario = "cloud"\nseed = 1\n' + NETWORK
             + "".join(f'[[user_jobs]]\nname = "ghz_{name}"\ngenerator = "ghz"\nnum_qubits = 4\nshots = 100\n'
                       f"arrival_s = {arrival}\n" for name, arrival in (("a", "0.0"), ("b", "1e-5"))))

TEMPLATES = {"dqc": DQC_JOB, "trotter": TROTTER_JOB, "cloud": CLOUD_JOB}
#: The checkpoints of a ``dqc`` case with ``--checkpoint`` (as bench/results/network-mega-vm-20261207.md).
CHECKPOINT_EVERY_S = 3e-5


#: Where the edge-list files of ``edges-*`` cases are written once and kept (``--edges-folder``).
EDGES_FOLDER = [Path("/tmp/check_memory_scale_edges")]


def edge_pairs(shape: str, nodes: int):
    """The links of an ``edges-ring`` (node i to i + 1, the last to the first) or ``edges-random`` network of
    ``nodes`` nodes (a random recursive tree, each node i > 0 linked to a node below it, and ``nodes`` more links
    between random pairs, repeats and loops dropped: about two links a node; NumPy, seed 1), as two int arrays."""
    import numpy as np

    if shape == "ring":
        first = np.arange(nodes)
        return first, (first + 1) % nodes
    rng = np.random.default_rng(1)
    child = np.arange(1, nodes)
    parent = (rng.random(nodes - 1) * child).astype(np.int64)
    a, b = rng.integers(0, nodes, nodes), rng.integers(0, nodes, nodes)
    low, high = np.minimum(a, b), np.maximum(a, b)
    extra = np.unique(low[low != high] * nodes + high[low != high])
    tree = np.minimum(parent, child) * nodes + np.maximum(parent, child)
    extra = extra[~np.isin(extra, tree)]
    return np.concatenate([parent, extra // nodes]), np.concatenate([child, extra % nodes])


def write_edges(shape: str, nodes: int, lengths: bool) -> Path:
    """The edge-list file of an ``edges-SHAPE`` case (``lengths``: each link a length drawn uniformly in 1-50 km,
    seed 1, every one its own), written once into :data:`EDGES_FOLDER`; nodes named ``n0``, ``n1``, ..."""
    import numpy as np

    path = EDGES_FOLDER[0] / f"{shape}-{nodes}{'-len' if lengths else ''}.csv"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    first, second = edge_pairs(shape, nodes)
    with open(path, "w") as out:
        out.write("source,target,distance_km\n" if lengths else "source,target\n")
        step = 1 << 16
        drawn = np.random.default_rng(1).uniform(1.0, 50.0, len(first)) if lengths else None
        for start in range(0, len(first), step):
            rows = zip(first[start:start + step].tolist(), second[start:start + step].tolist())
            if drawn is None:
                out.writelines(f"n{a},n{b}\n" for a, b in rows)
            else:
                out.writelines(f"n{a},n{b},{x!r}\n" for (a, b), x in zip(rows, drawn[start:start + step].tolist()))
    return path


def job_text(scenario: str, topology: str, nodes: int) -> str:
    """The job of ``scenario`` over ``topology`` of ``nodes`` nodes (a grid: a square of them; ``edges-SHAPE``,
    ``edges-SHAPE+len``: over :func:`write_edges`'s file)."""
    if topology.startswith("edges-"):
        shape, _, lengths = topology[len("edges-"):].partition("+")
        path = write_edges(shape, nodes, lengths == "len")
        return TEMPLATES[scenario].format(topology="edges", nodes=nodes).replace(
            f"num_nodes = {nodes}", f"edges_file = {json.dumps(str(path))}")
    text = TEMPLATES[scenario].format(topology=topology, nodes=nodes)
    if topology == "grid":
        side = math.isqrt(nodes)
        if side * side != nodes:
            raise SystemExit(f"grid case of {nodes} nodes: give a square number")
        text = text.replace(f"num_nodes = {nodes}", f"num_rows = {side}\nnum_cols = {side}")
    return text


#: Runs dqsim (argv: a file prefix, then dqsim's arguments) and, in a ``dqc`` run, resets the process's peak RSS
#: (``VmHWM``, by writing 5 to ``/proc/self/clear_refs``, Linux) once its trajectories are run, then records the RSS
#: then and the peak after it (the tables, the ``node_names`` attribute, the output's write) in PREFIX-RANK.json.
TAIL = """
import atexit, json, os, re, sys
import dqsim.scenarios.dqc as d
prefix, sys.argv = sys.argv[1], ['dqsim', *sys.argv[2:]]
seen = {}
def status(key):
    return int(re.search(key + r':\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)) * 1024
inner = d.run_trajectories
def wrapper(*args, **kwargs):
    run = inner(*args, **kwargs)
    seen['rss_after_sim'] = status('VmRSS')
    open('/proc/self/clear_refs', 'w').write('5')
    return run
d.run_trajectories = wrapper
def done():
    if seen:
        seen['peak_after_sim'] = status('VmHWM')
        rank = os.environ.get('OMPI_COMM_WORLD_RANK') or os.environ.get('PMI_RANK') or '0'
        open(f'{prefix}-{rank}.json', 'w').write(json.dumps(seen))
atexit.register(done)
from dqsim.cli import console_main, exit_status
raise SystemExit(exit_status(console_main()))
"""


def run_case(job: Path, ranks: int, folder: Path, extra: list[str]) -> dict:
    """``dqsim run JOB`` on ``ranks`` ranks, every rank under /usr/bin/time: its peak RSS (bytes) and user CPU s;
    in a ``dqc`` run also each rank's RSS once its trajectories are run and its peak after (:data:`TAIL`)."""
    python = str(ROOT / ".venv" / "bin" / "python")
    out = folder / "out.h5"
    out.unlink(missing_ok=True)
    dqsim = ["-c", TAIL, str(folder / "tail"), "run", str(job), "-o", str(out), "--quiet", *extra]
    if ranks == 1:
        command = ["/usr/bin/time", "-o", str(folder / "rank-0.txt"), "-f", "%M %U", python, *dqsim]
    else:
        command = [str(ROOT / ".venv" / "bin" / "mpiexec"), "-n", str(ranks), "sh", "-c",
                   f'exec /usr/bin/time -o {folder}/rank-${{OMPI_COMM_WORLD_RANK:-$PMI_RANK}}.txt -f "%M %U" "$@"',
                   "sh", python, "-m", "mpi4py", *dqsim]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.split("load average:")[-1].strip()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    peaks, cpu = [], []
    for path in sorted(folder.glob("rank-*.txt")):
        rss_kb, user_s = path.read_text().split()[-2:]
        peaks.append(int(rss_kb) * 1024)
        cpu.append(float(user_s))
        path.unlink()
    tails = []
    for path in sorted(folder.glob("tail-*.json")):
        tails.append(json.loads(path.read_text()))
        path.unlink()
    return {"load": load, "returncode": done.returncode, "stderr": done.stderr[-400:], "peak_rss": peaks,
            "user_s": cpu, "tail": tails}


#: Runs an 8-node ``dqc`` job in this process (argv: job, output, a file for the list of modules the run imported).
RUN_MODULES = """
import sys
from dqsim.cli import console_main
job, out, listing = sys.argv[1:4]
sys.argv = ['dqsim', 'run', job, '-o', out, '--quiet']
try:
    console_main()
except SystemExit:
    pass
open(listing, 'w').write('\\n'.join(sorted(name for name in sys.modules if not name.startswith('__'))))
"""

#: Imports the modules listed in a file (argv) and prints this process's peak RSS, bytes: ``VmHWM``, the peak of
#: its own memory map (``getrusage``'s ``ru_maxrss`` keeps the parent's RSS at the fork across the exec: a probe
#: started from a process of 217 MB read 217 MB).
IMPORT_MODULES = """
import importlib, re, sys
for name in open(sys.argv[1]).read().split():
    try:
        importlib.import_module(name)
    except Exception:
        pass
print(int(re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)) * 1024)
"""


def base_probe(folder: Path, times: int = 3) -> list[int]:
    """The peak RSS (bytes) of a process that imports every module an 8-node ``dqc`` run imports (the run's own
    imports and those it makes on the way: scipy, numba's compiler to load its cached kernels), ``times`` times:
    what :data:`dqsim.cli.check.IMPORTS_RSS_BYTES` stands for."""
    python = str(ROOT / ".venv" / "bin" / "python")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    job = folder / "base.toml"
    job.write_text(job_text("dqc", "line", 8))
    listing = folder / "modules.txt"
    subprocess.run([python, "-c", RUN_MODULES, str(job), str(folder / "base.h5"), str(listing)], env=env,
                   check=True, cwd=folder)
    return [int(subprocess.run([python, "-c", IMPORT_MODULES, str(listing)], env=env, check=True, cwd=folder,
                               capture_output=True, text=True).stdout) for _ in range(times)]


def estimate(job: Path, ranks: int, extra: list[str]) -> list[int]:
    """``dqsim check``'s estimate of each rank's peak RSS, bytes (rank 0 writes the run file)."""
    from dqsim import jobs
    from dqsim.cli import check

    overrides = [extra[i + 1] for i in range(0, len(extra), 2) if extra[i] == "--set"]
    return check.network_peak_bytes(jobs.load_job(str(job), overrides), ranks)


def case_job(folder: Path, case: str, checkpoint: bool) -> tuple[Path, list[str], int]:
    """The job file of ``case`` (SCENARIO:TOPOLOGY:NODES:RANKS) written in ``folder``, its ``--set`` arguments and
    its rank count."""
    scenario, topology, nodes, ranks = case.split(":")
    job = folder / f"{scenario}-{topology}-{nodes}.toml"
    job.write_text(job_text(scenario, topology, int(nodes)))
    extra = []
    if checkpoint and scenario == "dqc":
        extra = ["--set", f"checkpoint.every_sim_s={CHECKPOINT_EVERY_S}", "--set",
                 f"checkpoint.directory={json.dumps(str(folder / 'ckpt'))}", "--set", "checkpoint.keep=100"]
    return job, extra, int(ranks)


def show(case: str, want: list[int], got: dict, note: str = "") -> None:
    """One case's line: estimate, measured peak and their ratio per rank (and the RSS after the trajectories)."""
    scenario, topology, nodes, ranks = case.split(":")
    ratios = [w / g for w, g in zip(want, got["peak_rss"])]
    print(f"{scenario:>7} {topology:>4} {int(nodes):>9,} nodes {ranks} rank(s){note}: estimate "
          f"{' / '.join(f'{w / 1e6:.0f}' for w in want)} MB, measured "
          f"{' / '.join(f'{g / 1e6:.0f}' for g in got['peak_rss'])} MB, ratio "
          f"{' / '.join(f'{r:.2f}' for r in ratios)}  (CPU {' / '.join(f'{c:.1f}' for c in got['user_s'])}"
          f" s, rc {got['returncode']}, load {got['load']})", flush=True)
    if got.get("tail"):
        print("        after the trajectories: RSS " + " / ".join(
            f"{t['rss_after_sim'] / 1e6:.0f} MB, peak {t['peak_after_sim'] / 1e6:.0f} MB" for t in got["tail"]),
            flush=True)


def rescore(path: Path) -> None:
    """This dqsim's estimates against the peaks a ``--json`` file recorded (no run)."""
    with tempfile.TemporaryDirectory() as tmp:
        for line in path.read_text().splitlines():
            got = json.loads(line)
            if got["returncode"]:
                continue
            job, extra, ranks = case_job(Path(tmp), got["case"], got["checkpoint"])
            show(got["case"], estimate(job, ranks, extra), got,
                 ", checkpointed" if got["checkpoint"] and got["case"].startswith("dqc") else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=[], help="SCENARIO:TOPOLOGY:NODES:RANKS ...")
    parser.add_argument("--base", action="store_true", help="measure the base (the run's imports) first")
    parser.add_argument("--checkpoint", action="store_true", help="dqc cases checkpoint every 30 us (kept)")
    parser.add_argument("--edges-folder", type=Path, default=EDGES_FOLDER[0],
                        help="where the edges-* cases' files are written once and kept")
    parser.add_argument("--json", default=None, help="append every case's figures to this file (JSON lines)")
    parser.add_argument("--rescore", default=None, metavar="JSONL",
                        help="no runs: this dqsim's estimates against the peaks recorded in a --json file")
    args = parser.parse_args()
    EDGES_FOLDER[0] = args.edges_folder
    from dqsim.cli import check

    if args.rescore:
        rescore(Path(args.rescore))
        return

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.base:
            probes = base_probe(folder)
            print(f"base: a process importing what an 8-node dqc run imports peaks at "
                  f"{', '.join(f'{p / 1e6:.0f}' for p in probes)} MB; IMPORTS_RSS_BYTES "
                  f"{check.IMPORTS_RSS_BYTES / 1e6:.0f} MB (load "
                  f"{subprocess.run(['uptime'], capture_output=True, text=True).stdout.split('average:')[-1].strip()})",
                  flush=True)
        for case in args.cases:
            job, extra, ranks = case_job(folder, case, args.checkpoint)
            want = estimate(job, ranks, extra)
            got = run_case(job, ranks, folder, extra)
            show(case, want, got, ", checkpointed" if extra else "")
            if got["returncode"]:
                print(got["stderr"], file=sys.stderr)
            if args.json:
                with open(args.json, "a") as sink:
                    sink.write(json.dumps({"case": case, "checkpoint": args.checkpoint, "estimate": want,
                                           **got}) + "\n")


if __name__ == "__main__":
    main()
