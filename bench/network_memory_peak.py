"""Peak RSS and CPU time per rank of a ``dqc`` GHZ run over an ``all_to_all`` network, two source trees alternated.

Each run is ``dqsim run`` of a 4-qubit GHZ job (one data qubit and two communication qubits per node, 1 km
links, 1,000 shots) over ``all_to_all`` of N nodes, on 1 or 2 ranks, every rank under ``/usr/bin/time`` (its
own peak RSS, ``%M``, and user CPU seconds, ``%U``). The trees (e.g. a ``git archive`` of the base commit and this
worktree) are run one after the other in each round, with ``uptime`` printed before each run, so that their
figures come from the same minutes. ``--lift`` raises ``MAX_NETWORK_LINKS`` for the run (to try sizes the job
check refuses). Each run's tables (every one but ``timing``, field by field) are compared with those of the
first tree's run on the fewest ranks of the same size and round (``same`` in the output; the file is read with
this process's dqsim).

    PYTHONPATH=$PWD .venv/bin/python bench/network_memory_peak.py --tree base=/tmp/base --tree new=$PWD \\
        --nodes 1000 --ranks 1 2 --rounds 2
    PYTHONPATH=$PWD .venv/bin/python bench/network_memory_peak.py --tree new=$PWD --grid 512 512 --ranks 1 2
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

JOB = """[run]
name = "netmem"
scenario = "dqc"
seed = 1
[network]
topology = "{topology}"
num_nodes = {nodes}
[network.link]
distance_km = 1.0
[network.node]
num_data_qubits = 1
num_comm_qubits = 2
[circuit]
generator = "ghz"
num_qubits = 4
[simulation]
shots = 1000
"""

#: Runs dqsim with the link cap lifted (argv: cap, then dqsim's arguments).
LIFTED = ("import sys, dqsim.jobs.network as n; n.MAX_NETWORK_LINKS = int(sys.argv[1]); "
          "from dqsim.cli import console_main, exit_status; sys.argv = ['dqsim', *sys.argv[2:]]; "
          "raise SystemExit(exit_status(console_main()))")


def one_run(tree: Path, job: Path, ranks: int, lift: int | None, folder: Path) -> dict:
    python = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python")
    mpiexec = str(Path(python).with_name("mpiexec"))
    out = folder / f"out-{tree.name}-{ranks}.h5"
    out.unlink(missing_ok=True)
    dqsim = ["-c", LIFTED, str(lift)] if lift else ["-m", "dqsim"]
    if ranks == 1:
        command = ["/usr/bin/time", "-o", str(folder / "rank-0.txt"), "-f", "%M %U %S",
                   python, *dqsim, "run", str(job), "-o", str(out), "--quiet"]
    else:  # every rank under its own time (its own peak RSS)
        command = [mpiexec, "-n", str(ranks), "sh", "-c",
                   f'exec /usr/bin/time -o {folder}/rank-${{OMPI_COMM_WORLD_RANK:-$PMI_RANK}}.txt -f "%M %U %S" "$@"', "sh",
                   python, "-m", "mpi4py", *dqsim, "run", str(job), "-o", str(out), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    ranks_seen = []
    for path in sorted(folder.glob("rank-*.txt")):
        rss_kb, user_s, sys_s = path.read_text().split()[-3:]
        ranks_seen.append({"peak_rss_mb": int(rss_kb) / 1e3, "user_s": float(user_s), "sys_s": float(sys_s)})
        path.unlink()
    return {"uptime": load, "returncode": done.returncode, "stderr": done.stderr[-400:], "ranks": ranks_seen,
            "out": str(out)}


def same_tables(first: str, other: str) -> bool:
    """Whether run files ``first`` and ``other`` hold the same tables, but ``timing`` (NaN equals NaN)."""
    import numpy as np
    from dqsim.io import open_run

    a, b = open_run(first), open_run(other)
    if sorted(a.tables) != sorted(b.tables):
        return False
    for name in a.tables:
        if name == "timing":
            continue
        x, y = a.table(name), b.table(name)
        for field in x.dtype.names or (None,):
            u, v = (x, y) if field is None else (x[field], y[field])
            if u.dtype != v.dtype or not np.array_equal(u, v, equal_nan=u.dtype.kind == "f"):
                return False
    return True


def first_or_same(out: Path, first: Path | None, nodes: int) -> tuple[Path, bool]:
    """The first run's file of a size (``out`` itself, renamed ``first-NODES.h5``, when ``first`` is ``None``) and
    whether ``out``'s tables are that run's (:func:`same_tables`; the first run's: ``True``)."""
    if first is None:
        first = out.with_name(f"first-{nodes}.h5")
        out.rename(first)
        return first, True
    return first, same_tables(str(first), str(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH of a dqsim source tree")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000])
    parser.add_argument("--topology", default="all_to_all")
    parser.add_argument("--grid", type=int, nargs=2, default=None, metavar=("ROWS", "COLS"),
                        help="a grid of ROWS x COLS nodes instead of --topology and --nodes")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--lift", type=int, default=None, help="MAX_NETWORK_LINKS for the run")
    parser.add_argument("--json", default=None, help="write every run's figures here")
    args = parser.parse_args()
    trees = [(name, Path(path).resolve()) for name, path in (tree.split("=", 1) for tree in args.tree)]
    rows = []
    if args.grid:
        args.topology, args.nodes = "grid", [args.grid[0] * args.grid[1]]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for nodes in args.nodes:
            job = folder / f"{args.topology}{nodes}.toml"
            text = JOB.format(topology=args.topology, nodes=nodes)
            if args.grid:
                text = text.replace(f"num_nodes = {nodes}", f"num_rows = {args.grid[0]}\nnum_cols = {args.grid[1]}")
            job.write_text(text)
            for round_index in range(args.rounds):
                first = None
                for ranks in args.ranks:
                    for name, tree in trees:
                        row = {"tree": name, "nodes": nodes, "ranks": ranks, "round": round_index,
                               **one_run(tree, job, ranks, args.lift, folder)}
                        rows.append(row)
                        out = Path(row.pop("out"))
                        if not row["returncode"]:
                            first, row["same"] = first_or_same(out, first, nodes)
                        figures = ", ".join(f"{r['peak_rss_mb']:.0f} MB {r['user_s']:.2f} s" for r in row["ranks"])
                        print(f"{name:>5} {nodes:5d} nodes {ranks} rank(s): {figures}  rc={row['returncode']}  "
                              f"same={row.get('same')}  [{row['uptime'].split('load average:')[-1].strip()}]",
                              flush=True)
                        if row["returncode"]:
                            print(row["stderr"], file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
