"""Rank invariance of larger networks: each job on 1 and 3 ranks (uneven splits), and checkpointed on 2 ranks with a
cut resumed on 1; every output compared with the uninterrupted 1-rank run's.

Not a test and not a benchmark (it asserts nothing in CI and measures no speed): the large form of
``tests/test_invariance_three_ranks.py``, whose jobs are seconds. The jobs (sizes from the options):

* ``line``: a noisy 4-qubit GHZ ``dqc`` over an N-node line (``--nodes``; the data qubits on nodes 0, N/3, 2N/3 and
  N-1, source fidelity 0.95, 100 Hz dark counts, T1 0.1 s, T2 10 ms, 2 trajectories: the test's ``LINE`` job);
* ``chain``: ``jobs/repeater_chain.toml`` as one chain of L links of 10 km (``--links``; 100 Hz dark counts,
  6 pairs) and, on 1 and 3 ranks only, the job's own three chains;
* ``qkd``: a BB84-decoy trusted chain of Q nodes (``--qkd-nodes``; links of 5, 10 and 20 km in turn, Cascade).

Each runs on 1 rank (the reference), on 3 ranks, and with ``--set checkpoint.every_sim_s`` (about 6 cuts) on
2 ranks; the middle and the last checkpoints of that run are resumed on 1 rank. Outputs are compared as
``bench/invariance_ranks.py`` compares them (:func:`invariance_ranks.compare`). One line per run; exit status
1 on a difference or a failed run.

    .venv/bin/python bench/invariance_large.py --scratch /tmp/invl --nodes 768 --links 64 --qkd-nodes 1024
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import invariance_ranks as ir  # noqa: E402
from invariance_ranks import WT, command, compare, checkpoints, simulated_end_ps  # noqa: E402

sys.path.insert(0, str(WT / "tests"))
from test_invariance_three_ranks import LINE  # noqa: E402  (its 24-node line, here N nodes)


def jobs(folder: Path, nodes: int, links: int, qkd_nodes: int) -> dict:
    """``{name: dqsim run arguments}`` of the jobs (the line's job file written into ``folder``)."""
    line = folder / "line.toml"
    line.write_text(LINE)
    distances = ", ".join(str((5.0, 10.0, 20.0)[i % 3]) for i in range(qkd_nodes - 1))
    sets = lambda *pairs: [arg for pair in pairs for arg in ("--set", pair)]  # noqa: E731
    repeater = str(WT / "jobs" / "repeater_chain.toml")
    return {
        "line": [str(line), *sets(f"network.num_nodes={nodes}",
                                  f"distribution.assignment=[0, {nodes // 3}, {2 * nodes // 3}, {nodes - 1}]")],
        "chain": [repeater, *sets(f"chain.num_links=[{links}]", f"chain.total_distance_km=[{10.0 * links}]",
                                  "chain.num_pairs=6", "chain.link.dark_count_rate_hz=100.0")],
        "chains": [repeater, *sets("chain.num_pairs=10", "chain.link.dark_count_rate_hz=100.0")],
        "qkd": [str(WT / "jobs" / "qkd_trusted_chain.toml"), *sets(
            "qkd.pulses=40000", "qkd.batch_pulses=20000", 'qkd.error_correction="cascade"',
            f'qkd.network={{topology="chain", num_nodes={qkd_nodes}, distances_km=[{distances}]}}')],
    }


def dqsim(ranks: int, args: list, folder: Path) -> tuple[int, str, float]:
    """``dqsim ARGS -q`` on ``ranks`` ranks in ``folder``: (exit status, output, wall s)."""
    start = time.time()
    done = ir.subprocess.run(command(ranks, args), env=ir.ENV, capture_output=True, text=True, timeout=1800,
                             cwd=str(folder))
    return done.returncode, done.stdout + done.stderr, time.time() - start


def one_job(name: str, args: list, folder: Path, resume: bool) -> list[dict]:
    """Run ``name`` on 1 and 3 ranks (and, with ``resume``, checkpointed on 2 with 2 cuts resumed on 1); compare."""
    rows = []
    ref = folder / f"{name}-1.h5"
    rc, text, secs = dqsim(1, ["run", *args, "-o", ref], folder)
    if rc:
        print(name, "reference FAILED", text[-400:], flush=True)
        return [{"job": name, "ranks": 1, "rc": rc, "err": text[-600:]}]
    rows.append({"job": name, "ranks": 1, "secs": round(secs, 1)})
    outs = [(3, folder / f"{name}-3.h5", ["run", *args, "-o", folder / f"{name}-3.h5"])]
    if resume:
        every_s = max(simulated_end_ps(ref) * 1e-12 / 6, 1e-9)
        ck = folder / f"ck-{name}"
        outs.append((2, folder / f"{name}-2.h5", ["run", *args, "-o", folder / f"{name}-2.h5",
                                                  "--set", f"checkpoint.every_sim_s={every_s!r}",
                                                  "--set", f"checkpoint.directory={json.dumps(str(ck))}",
                                                  "--set", "checkpoint.keep=100",
                                                  "--set", "checkpoint.keep_when_done=true"]))
    for ranks, out, run_args in outs:
        rc, text, secs = dqsim(ranks, run_args, folder)
        row = {"job": name, "ranks": ranks, "secs": round(secs, 1), "rc": rc}
        row["diffs"] = compare(ref, out) if rc == 0 else [text[-600:]]
        rows.append(row)
        print(name, f"{ranks} ranks", f"{secs:.1f}s", "OK" if not row["diffs"] else row["diffs"], flush=True)
    if resume and rows[-1]["rc"] == 0:
        found = checkpoints(ck)
        for cut in sorted({found[len(found) // 2], found[-1]}) if found else []:
            out = folder / f"{name}-2to1-{cut.name.rsplit('.ckpt', 1)[1]}"
            rc, text, secs = dqsim(1, ["resume", cut, "-o", out], folder)
            row = {"job": name, "resume": f"2->1 at {cut.name}", "of": len(found), "secs": round(secs, 1), "rc": rc,
                   "diffs": compare(ref, out) if rc == 0 else [text[-600:]]}
            rows.append(row)
            print(name, row["resume"], f"(of {len(found)})", f"{secs:.1f}s", "OK" if not row["diffs"] else
                  row["diffs"], flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scratch", type=Path, required=True, help="folder for the jobs and run files")
    parser.add_argument("--nodes", type=int, default=768, help="nodes of the line's GHZ job (default 768)")
    parser.add_argument("--links", type=int, default=64, help="links of the one-chain repeater job (default 64)")
    parser.add_argument("--qkd-nodes", type=int, default=1024, help="nodes of the QKD chain (default 1024)")
    parser.add_argument("--json", type=Path, help="write every row to this file")
    parser.add_argument("names", nargs="*", default=["line", "chain", "chains", "qkd"],
                        help="jobs (default: line chain chains qkd)")
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    every = jobs(args.scratch, args.nodes, args.links, args.qkd_nodes)
    rows = []
    for name in args.names:
        rows += one_job(name, every[name], args.scratch, resume=name != "chains")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    bad = [row for row in rows if row.get("rc") or row.get("diffs")]
    print(f"{len(bad)} of {len(rows)} runs failed or differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
