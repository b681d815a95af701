"""Peak RSS and CPU time per rank of a QKD trusted chain (or star) of N nodes at a small pulse count, source trees
alternated (e.g. a ``git archive`` of the base commit, its ``MAX_QKD_NODES`` raised to take the sizes, and this
worktree).

Each run is ``dqsim run`` of decoy-state BB84 over ``[qkd.network]`` of N nodes, every link 30 km, ``--pulses``
pulses per link in one batch and one block, on 1 or 2 ranks, every rank under ``/usr/bin/time`` (its own peak
RSS, ``%M``, and user CPU seconds, ``%U``), with ``uptime`` printed before each run. Each run's tables (every one
but ``timing``) are compared with those of the first run of the same size (``same``; read with this process's
dqsim). ``--pairs NAME=VALUE`` gives tree NAME's runs ``[qkd.network].end_to_end_pairs = VALUE`` (a TOML
value; a tree from before 2026-12-07, late night, has no such key): its runs are compared with the first of their
size and pairs.

    PYTHONPATH=$PWD .venv/bin/python bench/qkd_network_scale.py --tree base=/tmp/base --tree new=$PWD \\
        --nodes 4096 16384 --ranks 1 2
    PYTHONPATH=$PWD .venv/bin/python bench/qkd_network_scale.py --tree new=$PWD --pairs 'new="none"' \\
        --topology star --nodes 16384 65536 --ranks 1 2
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from network_memory_peak import same_tables  # noqa: E402

JOB = """[run]
name = "qkdscale"
scenario = "qkd"
seed = 1
[qkd]
pulses = {pulses}
[qkd.link]
distance_km = 30.0
[qkd.network]
topology = "{topology}"
num_nodes = {nodes}
{pairs}"""


def one_run(tree: Path, job: Path, ranks: int, folder: Path, timeout_s: float) -> dict:
    """One ``dqsim run`` of ``job`` with ``tree``'s dqsim on ``ranks`` ranks: each rank's peak RSS and CPU."""
    python = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python")
    mpiexec = str(Path(python).with_name("mpiexec"))
    out = folder / f"out-{tree.name}-{ranks}.h5"
    out.unlink(missing_ok=True)
    if ranks == 1:
        command = ["/usr/bin/time", "-o", str(folder / "rank-0.txt"), "-f", "%M %U %S",
                   python, "-m", "dqsim", "run", str(job), "-o", str(out), "--quiet"]
    else:  # every rank under its own time (its own peak RSS)
        command = [mpiexec, "-n", str(ranks), "sh", "-c",
                   f'exec /usr/bin/time -o {folder}/rank-${{OMPI_COMM_WORLD_RANK:-$PMI_RANK}}.txt -f "%M %U %S" "$@"',
                   "sh", python, "-m", "mpi4py", "-m", "dqsim", "run", str(job), "-o", str(out), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    try:
        done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout_s)
        returncode, stderr = done.returncode, done.stderr[-400:]
    except subprocess.TimeoutExpired:
        returncode, stderr = "timeout", f"over {timeout_s} s"
    ranks_seen = []
    for path in sorted(folder.glob("rank-*.txt")):
        fields = path.read_text().split()
        if len(fields) >= 3:
            rss_kb, user_s, sys_s = fields[-3:]
            ranks_seen.append({"peak_rss_mb": int(rss_kb) / 1e3, "user_s": float(user_s), "sys_s": float(sys_s)})
        path.unlink()
    return {"uptime": load, "returncode": returncode, "stderr": stderr, "ranks": ranks_seen, "out": str(out)}


def _compare_with_first(row: dict, firsts: dict) -> None:
    """Set ``row["same"]``: whether its run file's tables equal those of the first run of its size (kept in
    ``firsts``, by size, renamed so that later runs do not overwrite it)."""
    out = Path(row.pop("out"))
    if row["returncode"] != 0:
        return
    size = (row["nodes"], row.get("pairs", ""))
    if size in firsts:
        row["same"] = same_tables(str(firsts[size]), str(out))
    else:
        firsts[size] = out.rename(out.with_name(f"first-{row['nodes']}-{len(firsts)}.h5"))
        row["same"] = True


def _print_row(row: dict, topology: str) -> None:
    """One line of a run's figures: each rank's peak RSS and user CPU, whether its tables match, the load."""
    figures = ", ".join(f"{r['peak_rss_mb']:.0f} MB {r['user_s']:.2f} s" for r in row["ranks"])
    load = row["uptime"].split("load average:")[-1].strip()
    pairs = f" pairs {row['pairs']}" if row.get("pairs") else ""
    print(f"{row['tree']:>5}{pairs} {topology} {row['nodes']:6d} nodes {len(row['ranks'])} rank(s): {figures}  "
          f"rc={row['returncode']}  same={row.get('same')}  [{load}]", flush=True)
    if row["returncode"]:
        print(row["stderr"], file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH of a dqsim source tree")
    parser.add_argument("--nodes", type=int, nargs="+", default=[4096])
    parser.add_argument("--topology", default="chain", choices=["chain", "star"])
    parser.add_argument("--pulses", type=int, default=1000)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds a run may take")
    parser.add_argument("--json", default=None, help="write every run's figures here")
    parser.add_argument("--pairs", action="append", default=[], help="NAME=VALUE: tree NAME's end_to_end_pairs")
    args = parser.parse_args()
    trees = [(name, Path(path).resolve()) for name, path in (tree.split("=", 1) for tree in args.tree)]
    pairs_of = dict(pairs.split("=", 1) for pairs in args.pairs)
    rows, firsts = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for nodes in args.nodes:
            for ranks in args.ranks:
                for name, tree in trees:
                    job = folder / f"{args.topology}{nodes}-{name}.toml"
                    pairs = f"end_to_end_pairs = {pairs_of[name]}\n" if name in pairs_of else ""
                    job.write_text(JOB.format(topology=args.topology, nodes=nodes, pulses=args.pulses, pairs=pairs))
                    row = {"tree": name, "nodes": nodes, "ranks": ranks, "pairs": pairs_of.get(name, ""),
                           **one_run(tree, job, ranks, folder, args.timeout)}
                    rows.append(row)
                    _compare_with_first(row, firsts)
                    _print_row(row, args.topology)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
