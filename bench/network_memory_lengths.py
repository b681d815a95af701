"""What an ``edges`` network of links with their own lengths costs each rank: a 4-qubit GHZ ``dqc`` run over a
Barabási–Albert edge list, one shared length against a length per link, source trees alternated.

A benchmark, not a test: it measures and records, it asserts nothing.

For each size (``--nodes``), each edge list (the links' one ``[network.link]`` length, and every link its own
length: ``--lengths one own``), each rank count (``--ranks``) and each source tree (``--tree LABEL=PATH``, e.g. a
``git archive`` of the base commit and this worktree; run one after the other, so their figures come from the same
minutes): ``dqsim run`` of :mod:`network_checkpoint`'s job over the file (no checkpoints), every rank under
``/usr/bin/time`` (its peak RSS and user CPU seconds), with ``uptime`` before each run; each run's tables (every
one but ``timing``, field by field) compared with the first tree's run on the fewest ranks of the same size and
file (``same``). The edge lists (:func:`network_checkpoint.write_edges_file`) are written once into ``--folder``.
``--estimates JSON`` instead prints, for each run of an earlier ``--json``, ``dqsim check``'s estimate of each rank's
peak (:func:`dqsim.cli.check.network_peak_bytes`, this process's dqsim) over the measured peak.

    PYTHONPATH=$PWD .venv/bin/python bench/network_memory_lengths.py --tree base=/tmp/base --tree new=$PWD \\
        --nodes 262144 1048576 --ranks 1 2 --json /tmp/lengths.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from network_checkpoint import job_text, launch, write_edges_file  # noqa: E402
from network_memory_peak import same_tables  # noqa: E402


def edge_list(folder: Path, nodes: int, lengths: str) -> Path:
    """The Barabási–Albert edge list of ``nodes`` nodes (``lengths == "own"``: every link its own length), written
    once into ``folder``."""
    path = folder / f"edges-{nodes}-{lengths}.txt"
    if not path.exists():
        write_edges_file(path, nodes, lengths == "own")
    return path


def one_run(label: str, tree: Path, edges: Path, ranks: int, folder: Path, timeout: float) -> dict:
    """``dqsim run`` of the job over ``edges`` with ``tree`` on ``ranks`` ranks: its figures and run file."""
    run_folder = folder / f"{edges.stem}-{label}-{ranks}"
    run_folder.mkdir(parents=True, exist_ok=True)
    (run_folder / "edges.txt").unlink(missing_ok=True)
    (run_folder / "edges.txt").symlink_to(edges)
    job = run_folder / "job.toml"
    job.write_text(job_text("edges", 0, None))
    out = run_folder / "out.h5"
    out.unlink(missing_ok=True)
    result = launch(tree, ranks, ["run", str(job), "-o", str(out), "--quiet"], run_folder, timeout)
    return {"tree": label, "edges": edges.name, "out": str(out), **result}  # (result's "ranks": one entry a rank)


def estimates(results_path: Path) -> None:
    """Print ``dqsim check``'s estimate of each rank's peak over the measured one for the runs in ``results_path``."""
    from dqsim.cli.check import network_peak_bytes
    from dqsim.jobs import load_job

    for entry in json.loads(results_path.read_text()):
        if entry["returncode"] != 0:
            continue
        job = load_job(Path(entry["out"]).with_name("job.toml"))
        measured = [r["peak_rss_mb"] for r in entry["ranks"]]  # (one entry a rank, launch's)
        estimated = network_peak_bytes(job, len(measured))
        print(f"{entry['nodes']} {entry['lengths']} {entry['tree']} {len(estimated)} rank(s): estimated MB "
              f"{[round(e / 1e6) for e in estimated]}, measured {measured}, ratio "
              f"{[round(e / 1e6 / m, 2) for e, m in zip(estimated, measured)]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", default=[], help="LABEL=PATH of a dqsim source tree")
    parser.add_argument("--nodes", type=int, nargs="+", default=[262144])
    parser.add_argument("--lengths", nargs="+", default=["one", "own"], choices=["one", "own"])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/network_memory_lengths"))
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--estimates", type=Path, help="a --json of earlier runs: print dqsim check's estimates")
    args = parser.parse_args()
    if args.estimates:
        estimates(args.estimates)
        return
    trees = [(label, Path(path)) for label, path in (item.split("=", 1) for item in args.tree)]
    args.folder.mkdir(parents=True, exist_ok=True)
    results = []
    for nodes in args.nodes:
        for lengths in args.lengths:
            edges = edge_list(args.folder, nodes, lengths)
            reference = None
            for ranks in sorted(args.ranks):
                for label, tree in trees:
                    entry = one_run(label, tree, edges, ranks, args.folder, args.timeout)
                    entry.update(nodes=nodes, lengths=lengths)
                    if entry["returncode"] == 0:
                        reference = reference or entry["out"]
                        entry["same"] = same_tables(reference, entry["out"])
                    figures = [(r.get("peak_rss_mb"), r.get("user_s")) for r in entry["ranks"]]
                    print(f"{nodes} {lengths} {label} {ranks} rank(s): (peak MB, user s) per rank {figures} "
                          f"same={entry.get('same')} rc={entry['returncode']} | {entry['uptime']}", flush=True)
                    results.append(entry)
                    if args.json:
                        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
