"""Benchmark: a repeater chain checkpointed on P ranks and resumed on Q, against the Q-rank run's own checkpoint.

A benchmark, not a test: it measures and records, it asserts nothing (the
resumed tables are compared with the uninterrupted run's and the result is
printed).

Workload: the ``repeater`` job ``jobs/repeater_chain.toml`` with one
configuration of ``--links`` links of 1 km (purification 1 round, ``--pairs``
pairs), as ``tests/test_resume_counters.py``'s 256-link case, with periodic
checkpoints every ``--cuts``-th of the one-rank run's simulated time, so that
every rank count cuts at the same simulated times (the periodic cuts are the
job's: every run of it, on any rank count, cuts there). For each rank count
R of the pairs asked for (``--pairs-of-ranks 2:4 4:2 1:2``, P:Q):

1. the periodic run on R ranks to its end (each R once): ``engine_windows`` (exchanges), ``engine_flushes``,
   ``engine_events``, CPU s, and its checkpoint at the cut ``--cut`` (1: the first multiple of the period);
2. for P:Q, ``dqsim resume`` on Q ranks of P's checkpoint at that cut and, as the control, of Q's own (which
   goes on as the uninterrupted Q-rank run did, ``tests/test_resume_counters.py``): the windows, flushes and
   CPU s of the resumed part (windows: the resumed run's ``engine_windows`` less the checkpoint's
   ``num_windows``), and whether every table but ``timing`` equals the uninterrupted Q-rank run's
   (``bench/resume_counters.py``'s ``differences``, which also lists the root attributes that differ).

CPU s is the ranks' CPU time (``time.process_time``) inside dqsim's command, summed over the ranks (start-up
and imports left out; :func:`child`); on a loaded machine compare CPU, not wall, times, and within one run of
this script.

Example (from the repository root)::

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD .venv/bin/python bench/resume_rankcounts.py --links 256 \\
        --pairs-of-ranks 2:4 4:2 1:2 --out bench/results/resume-rankcounts.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import resume_counters  # noqa: E402  (bench/resume_counters.py: the stop wrapper and the comparison)

COUNTS = ("engine_windows", "engine_flushes", "engine_events", "engine_messages", "engine_cross_rank_messages")


def job_args(links: int, pairs: int) -> list[str]:
    return ["jobs/repeater_chain.toml", "--set", f"chain.num_links={links}", "--set",
            f"chain.total_distance_km={float(links)!r}", "--set", f"chain.num_pairs={pairs}", "--set",
            "chain.purification_rounds=1"]


def child(argv: list[str]) -> int:
    """``child CPU_FILE -- DQSIM ARGS``: run dqsim; every rank writes the CPU s it spent in dqsim's command (its
    imports and MPI start-up left out) to ``CPU_FILE.RANK``."""
    cpu_file, dqsim_args = argv[0], argv[argv.index("--") + 1:]
    from dqsim.cli import console_main  # noqa: PLC0415

    rank = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))
    started = time.process_time()
    try:
        return console_main(dqsim_args)
    finally:
        Path(f"{cpu_file}.{rank}").write_text(repr(time.process_time() - started))


def launch(ranks: int, args: list[str]) -> tuple[int, float, float, str]:
    """``dqsim ARGS`` (after ``"0", "0", "0", "-", "--"``) on ``ranks`` ranks: exit status, wall s, CPU s, stderr.

    CPU s: the ranks' CPU time in dqsim's command, summed (:func:`child`).
    """
    python = sys.executable
    handle, cpu_file = tempfile.mkstemp(suffix=".cpu")
    os.close(handle)
    cmd = [python, str(Path(__file__).resolve()), "child", cpu_file, *args[args.index("--"):]]
    if ranks > 1:
        cmd = [str(Path(python).parent / "mpiexec"), "-n", str(ranks), *cmd]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        err.seek(0)
        text = err.read().decode(errors="replace")
    cpu = 0.0
    for path in Path(cpu_file).parent.glob(Path(cpu_file).name + ".*"):
        cpu += float(path.read_text())
        path.unlink()
    os.unlink(cpu_file)
    return os.waitstatus_to_exitcode(status), wall, cpu, text


def counts_of(path: Path) -> dict:
    from dqsim.io import open_run  # noqa: PLC0415

    attrs = open_run(path).attrs
    return {key: int(attrs[key]) for key in COUNTS}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--links", type=int, default=256)
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--pairs-of-ranks", nargs="+", default=["2:4", "4:2", "1:2"], help="P:Q, cut on P, resumed on Q")
    p.add_argument("--cuts", type=int, default=3, help="periodic checkpoints every end time / cuts")
    p.add_argument("--cut", type=int, default=1, help="which of them is resumed (1: the first)")
    p.add_argument("--out", type=Path, default=None, help="JSON lines of the measurements")
    args = p.parse_args(argv)
    from dqsim.io import open_run  # noqa: PLC0415

    job = job_args(args.links, args.pairs)
    plans = [tuple(int(x) for x in pq.split(":")) for pq in args.pairs_of_ranks]
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        plain = tmp / "plain.h5"
        status, _wall, _cpu, err = launch(1, ["0", "0", "0", "-", "--", "run", *job, "-o", str(plain), "--quiet",
                                              "--set", f'checkpoint.directory="{tmp / "ckp"}"'])
        if status != 0:
            raise RuntimeError(f"the plain run failed: {err[-2000:]}")
        every_s = int(open_run(plain).table("summary")["simulated_time_ps"][0]) / args.cuts * 1e-12
        periodic = ["--set", f"checkpoint.every_sim_s={every_s!r}", "--set", "checkpoint.keep=100"]
        full: dict[int, dict] = {}

        def periodic_run(ranks: int) -> dict:
            if ranks not in full:
                out, ck = tmp / f"full{ranks}.h5", tmp / f"ck{ranks}"
                status, wall, cpu, err = launch(ranks, ["0", "0", "0", "-", "--", "run", *job, *periodic, "-o",
                                                        str(out), "--quiet", "--set", f'checkpoint.directory="{ck}"'])
                if status != 0:
                    raise RuntimeError(f"the periodic run on {ranks} failed: {err[-2000:]}")
                cut = resume_counters.complete_checkpoints(ck)[args.cut - 1]
                cut_attrs = open_run(cut).attrs
                full[ranks] = {"path": out, "wall_s": wall, "cpu_s": cpu, "checkpoint": cut,
                               "cut_ps": int(cut_attrs["window_end_ps"]),
                               "cut_windows": int(cut_attrs["num_windows"]),
                               **counts_of(out)}
                print(f"periodic run on {ranks}: {full[ranks]['engine_windows']} windows, "
                      f"{full[ranks]['engine_flushes']} flushes, {full[ranks]['engine_events']} events, "
                      f"CPU {cpu:.2f} s "
                      f"(wall {wall:.2f} s); cut {args.cut} at {full[ranks]['cut_ps']} ps after "
                      f"{full[ranks]['cut_windows']} windows; load {os.getloadavg()[0]:.1f}", flush=True)
            return full[ranks]

        resumed: dict[tuple[int, int], dict] = {}

        def resume(cut_ranks: int, ranks: int) -> dict:
            if (cut_ranks, ranks) not in resumed:
                source, reference = periodic_run(cut_ranks), periodic_run(ranks)
                out = tmp / f"resumed{cut_ranks}to{ranks}.h5"
                status, wall, cpu, err = launch(ranks, ["0", "0", "0", "-", "--", "resume", str(source["checkpoint"]),
                                                        "-o", str(out), "--quiet"])
                if status != 0:
                    raise RuntimeError(f"resume {cut_ranks} -> {ranks} failed: {err[-2000:]}")
                counts = counts_of(out)
                diff = resume_counters.differences(reference["path"], out)
                resumed[(cut_ranks, ranks)] = {
                    "cut_on": cut_ranks, "resumed_on": ranks, "cpu_s": cpu, "wall_s": wall,
                    "windows": counts["engine_windows"] - source["cut_windows"], **counts,
                    "tables_same": not [d for d in diff if "." in d or d == "tables differ"], "differences": diff,
                    "load_average_1min": os.getloadavg()[0]}
            return resumed[(cut_ranks, ranks)]

        for cut_ranks, ranks in plans:
            row, control = resume(cut_ranks, ranks), resume(ranks, ranks)
            rows.append({"links": args.links, "pairs": args.pairs, "every_sim_s": every_s, "cut": args.cut,
                         "resumed": row, "control": control,
                         "uninterrupted": {k: v for k, v in full[ranks].items() if k not in ("path", "checkpoint")}})
            print(f"{cut_ranks} -> {ranks}: resumed part {row['windows']} windows, CPU {row['cpu_s']:.2f} s "
                  f"(total {row['engine_windows']} windows, {row['engine_flushes']} flushes); control {ranks} -> "
                  f"{ranks}: {control['windows']} windows, CPU {control['cpu_s']:.2f} s (total "
                  f"{control['engine_windows']}, {control['engine_flushes']} flushes; uninterrupted "
                  f"{full[ranks]['engine_windows']}, {full[ranks]['engine_flushes']}); tables same: "
                  f"{row['tables_same']}; differences {row['differences']}; load {row['load_average_1min']:.1f}",
                  flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    if args.out is not None:
        with args.out.open("a") as f:
            for row in rows:
                f.write(json.dumps({**row, "commit": commit}, default=str) + "\n")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        sys.exit(child(sys.argv[2:]))
    sys.exit(main())
