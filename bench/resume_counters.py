"""Randomised stop-and-resume trials: does a resumed run report exactly what the uninterrupted run reports?

Each trial runs one small example job (the list :data:`JOBS`) on 1, 2 or 4
ranks, stopped at a random point, resumes it from its last checkpoint and
compares every table's every column and every root attribute (but the
wall-clock ones, :data:`VOLATILE_ATTRS`, and the ``timing`` table) with the
same job's uninterrupted run on as many ranks. Three kinds of stop:

* ``stop``: a stop signal (what the SIGUSR1/SIGTERM handler does:
  :func:`dqsim.engine.checkpoint.request_stop`) arrives on one random rank
  just before it posts its N-th exchange (N random, between 1 and the
  number of exchanges the uninterrupted run made), and the run exits with
  status 75;
* ``periodic``: the job runs with ``[checkpoint].every_sim_s`` (a random
  fraction of the run's simulated time) to its end, the reference of this
  trial (the periodic cuts are the job's; how it differs from the run
  without is recorded as ``periodic_vs_plain``); a second such run is
  killed hard (``os._exit``) at its N-th exchange and resumed from its
  newest periodic checkpoint;
* ``periodic+stop``: both: a periodic run stopped by a signal.

The stops come from a small wrapper around ``python -m dqsim`` (this file
run as ``child``) that counts ``Checkpointer.requested`` calls (one per
exchange on each rank), so a trial is repeatable from its printed line
(exchanges on several ranks still fall where the ranks' speed puts them).

Usage (from the repository root)::

    PYTHONPATH=$PWD .venv/bin/python bench/resume_counters.py --trials 40 --seed 1 --ranks 1,2 \\
        --out bench/results/resume-counters.jsonl

Each trial prints one line: job, ranks, kind, stop point, and either
``same`` or the attributes and table columns that differ (uninterrupted ->
resumed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

#: The dqsim code the runs import (``--code``: another checkout's, e.g. ``git archive main`` unpacked).
CODE = {"root": ROOT}

#: Small sizes of example jobs: name -> dqsim run arguments (each runs in a few seconds on one rank).
JOBS = {
    "dqc_ghz": ["jobs/dqc_ghz_4qpu.toml", "--set", "simulation.shots=64"],
    "repeater": ["jobs/repeater_chain.toml", "--set", "chain.num_pairs=20"],
    "bb84": ["jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=400000", "--set", "qkd.batch_pulses=50000",
             "--set", "qkd.block_pulses=200000"],
    "trotter": ["jobs/ising_trotter_4qpu.toml", "--set", "evolution.num_points=3"],
    "cloud": ["jobs/cloud_queue.toml"],
}

#: Root attributes that differ between two runs of a job whatever the engine does (wall clock, command line).
VOLATILE_ATTRS = {"created_utc", "wall_time_s", "pulses_per_wall_second", "overrides", "job_path",
                  "engine_flush_seconds", "engine_state_seconds"}


# ------------------------------------------------------------------ the child: dqsim with a stop at exchange N
def child(argv: list[str]) -> int:
    """``child STOP_CALL KILL_CALL RANK COUNT_FILE -- DQSIM ARGS``: run dqsim, with a stop request on rank RANK
    just before its STOP_CALL-th exchange (0: none) and an ``os._exit(137)`` before its KILL_CALL-th (0: none);
    every rank writes its number of exchanges and the latest end of its engine runs (ps) to COUNT_FILE.RANK."""
    stop_call, kill_call, stop_rank, count_file = int(argv[0]), int(argv[1]), int(argv[2]), argv[3]
    dqsim_args = argv[argv.index("--") + 1:]
    from dqsim.cli import console_main  # noqa: PLC0415
    from dqsim.engine import checkpoint  # noqa: PLC0415

    from dqsim.engine.simulator import Simulator  # noqa: PLC0415

    # the launcher's rank (MPICH's hydra: PMI_RANK; Open MPI: OMPI_COMM_WORLD_RANK): trotter shares its engine
    # runs out over the ranks, each on a communicator of its own
    world_rank = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))
    calls, end_ps = [0], [0]
    original, original_run = checkpoint.Checkpointer.requested, Simulator.run

    def run(self, **kwargs):
        stats = original_run(self, **kwargs)
        end_ps[0] = max(end_ps[0], stats.end_time_ps)
        return stats

    def requested(self):
        calls[0] += 1
        if world_rank == stop_rank:
            if calls[0] == stop_call:
                checkpoint.request_stop()
            if calls[0] == kill_call:
                os._exit(137)
        return original(self)

    checkpoint.Checkpointer.requested = requested
    Simulator.run = run
    status = 1
    try:
        status = console_main(dqsim_args)
    finally:
        if count_file != "-":
            Path(f"{count_file}.{world_rank}").write_text(json.dumps([calls[0], end_ps[0]]))
    return status


# ------------------------------------------------------------------ the harness
def launch(ranks: int, args: list[str], *, timeout_s: float = 600) -> subprocess.CompletedProcess:
    python = sys.executable
    cmd = [python, str(Path(__file__).resolve()), "child", *args]
    if ranks > 1:
        cmd = [str(Path(python).parent / "mpiexec"), "-n", str(ranks), *cmd]
    env = {**os.environ, "PYTHONPATH": str(CODE["root"]), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)


def run_job(ranks, job_args, out: Path, ck: Path, *, stop=0, kill=0, stop_rank=0, extra=()):
    count = out.with_suffix(".count")
    args = [str(stop), str(kill), str(stop_rank), str(count), "--", "run", *job_args, *extra,
            "--set", f"checkpoint.directory=\"{ck}\"", "--set", "checkpoint.keep=100", "-o", str(out), "--quiet"]
    done = launch(ranks, args)
    counts = [json.loads(p.read_text()) for p in sorted(out.parent.glob(count.name + ".*"))]
    for p in out.parent.glob(count.name + ".*"):
        p.unlink()
    return done, counts


def resume(ranks, checkpoint: Path, out: Path):
    return launch(ranks, ["0", "0", "0", "-", "--", "resume", str(checkpoint), "-o", str(out), "--quiet"])


def complete_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints in ``folder`` (with their manifest), by engine run and cut time."""
    from dqsim.engine.checkpoint import parse_checkpoint_name  # noqa: PLC0415

    found = [p for p in folder.glob("*.h5") if ".slab" not in p.name
             and p.with_name(p.name[:-3] + ".manifest.json").exists()]
    return sorted(found, key=lambda p: (parse_checkpoint_name(p)["engine_run"], parse_checkpoint_name(p)["window_end_ps"]))


def differences(full_path: Path, other_path: Path) -> list[str]:
    """What differs between two run files: ``attr a->b`` and ``table.column`` entries (empty: the same)."""
    from dqsim.io import open_run  # noqa: PLC0415

    full, other = open_run(full_path), open_run(other_path)
    found = []
    for key in sorted(set(full.attrs) | set(other.attrs)):
        if key in VOLATILE_ATTRS:
            continue
        if key not in full.attrs or key not in other.attrs:
            found.append(f"{key} only in one")
            continue
        a, b = np.asarray(full.attrs[key]), np.asarray(other.attrs[key])
        nan = a.dtype.kind in "fc" and b.dtype.kind in "fc"
        if a.shape != b.shape or not np.array_equal(a, b, equal_nan=nan):
            found.append(f"{key} {full.attrs[key]!r}->{other.attrs[key]!r}" if a.size == 1 else key)
    names = [name for name in full.tables if name != "timing"]
    if sorted(names) != sorted(name for name in other.tables if name != "timing"):
        found.append("tables differ")
    for name in names:
        if name not in other.tables:
            continue
        x, y = full.table(name), other.table(name)
        if x.shape != y.shape or x.dtype != y.dtype:
            found.append(f"{name} shape/dtype")
            continue
        for field in x.dtype.names or (None,):
            cx, cy = (x, y) if field is None else (x[field], y[field])
            if not np.array_equal(cx, cy, equal_nan=cx.dtype.kind == "f"):
                found.append(f"{name}.{field}")
    return found


def trial(rng: random.Random, name: str, ranks: int, kind: str, folder: Path, references: dict) -> dict:
    job_args = JOBS[name]
    ref_key = (name, ranks)
    if ref_key not in references:
        out = folder / f"ref-{name}-{ranks}.h5"
        done, counts = run_job(ranks, job_args, out, folder / f"ck-ref-{name}-{ranks}")
        if done.returncode != 0:
            raise RuntimeError(f"{name} on {ranks}: {done.stderr[-2000:]}")
        references[ref_key] = (out, max(c[0] for c in counts), max(c[1] for c in counts) * 1e-12)
    full, exchanges, end_s = references[ref_key]
    work = Path(tempfile.mkdtemp(dir=folder))
    ck = work / "ck"
    record = {"job": name, "ranks": ranks, "kind": kind, "exchanges": exchanges}
    extra: list[str] = []
    if kind.startswith("periodic"):
        every = end_s * rng.uniform(0.05, 0.5)
        extra = ["--set", f"checkpoint.every_sim_s={every!r}"]
        record["every_sim_s"] = every
        first = work / "periodic.h5"
        done, _ = run_job(ranks, job_args, first, work / "ck-first", extra=extra)
        if done.returncode != 0:
            raise RuntimeError(f"{name} periodic: {done.stderr[-2000:]}")
        # the periodic cuts are the job's: the run with them is the reference of its resumes (how it differs
        # from the run without, in the engine's counts on 2026-12-06's code, is recorded, not counted)
        record["periodic_vs_plain"] = differences(full, first)
        full = first
    point = rng.randint(1, max(1, exchanges))
    stop_rank = rng.randrange(ranks)
    record.update(point=point, stop_rank=stop_rank)
    stopped = work / "stopped.h5"
    if kind == "periodic":
        done, _ = run_job(ranks, job_args, stopped, ck, kill=point, stop_rank=stop_rank, extra=extra)
    else:
        done, _ = run_job(ranks, job_args, stopped, ck, stop=point, stop_rank=stop_rank, extra=extra)
    record["status"] = done.returncode
    written = complete_checkpoints(ck)
    if done.returncode == 0 or not written:
        record["result"] = "finished" if done.returncode == 0 else f"no checkpoint (status {done.returncode})"
        if done.returncode not in (0, 75, 137) and done.returncode > 0:
            record["stderr"] = done.stderr[-1500:]
        shutil.rmtree(work)
        return record
    from dqsim.engine.checkpoint import parse_checkpoint_name  # noqa: PLC0415

    named = parse_checkpoint_name(written[-1])
    record["cut"] = [named["engine_run"], named["window_end_ps"]]
    resumed = work / "resumed.h5"
    again = resume(ranks, written[-1], resumed)
    if again.returncode != 0:
        record["result"] = f"resume failed ({again.returncode}): {again.stderr.strip()[-400:]}"
    else:
        record["differences"] = differences(full, resumed)
        record["result"] = "same" if not record["differences"] else "differs"
    shutil.rmtree(work)
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ranks", default="1,2", help="rank counts to draw from, e.g. 1,2,4")
    parser.add_argument("--jobs", default=",".join(JOBS), help="job names to draw from (see JOBS)")
    parser.add_argument("--kinds", default="stop,periodic,periodic+stop")
    parser.add_argument("--out", help="append each trial's JSON line to this file")
    parser.add_argument("--code", help="root of the dqsim code to run (default: this checkout's)")
    args = parser.parse_args(argv)
    if args.code:
        CODE["root"] = Path(args.code).resolve()
    rng = random.Random(args.seed)
    ranks = [int(r) for r in args.ranks.split(",")]
    jobs, kinds = args.jobs.split(","), args.kinds.split(",")
    references: dict = {}
    tally = {"trials": 0, "same": 0, "differs": 0, "other": 0}
    with tempfile.TemporaryDirectory(prefix="resume-counters-") as tmp:
        folder = Path(tmp)
        for index in range(args.trials):
            name, count, kind = rng.choice(jobs), rng.choice(ranks), rng.choice(kinds)
            started = time.monotonic()
            record = trial(rng, name, count, kind, folder, references)
            record.update(trial=index, seed=args.seed, wall_s=round(time.monotonic() - started, 1))
            tally["trials"] += 1
            differs = record["result"] == "differs"
            key = "differs" if differs else ("same" if record["result"] in ("same", "finished") else "other")
            tally[key] += 1
            print(json.dumps(record), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(record) + "\n")
    print(json.dumps({"tally": tally, "seed": args.seed, "ranks": ranks, "jobs": jobs, "kinds": kinds}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        raise SystemExit(child(sys.argv[2:]))
    raise SystemExit(main())
