"""Benchmark: what periodic checkpoints of a long repeater chain cost as the pairs go up.

A benchmark, not a test: it measures and records, it asserts nothing.

Workload: a ``repeater`` job of one configuration, ``--nodes`` nodes
(``--nodes - 1`` links of ``--link-km`` km, double-click, source fidelity
0.999, T2 = 1 s), ``--pairs`` end-to-end pairs (each value of the list is one
measurement), options ``--cutoff-s``, ``--purification-rounds`` and
``--swapping`` as in the job file. For each number of pairs it runs, as
``dqsim`` command lines on one rank:

1. the job without checkpoints (wall time, peak RSS, simulated end time);
2. the job with ``[checkpoint] every_sim_s`` = that end time / ``--cuts``
   (wall time, peak RSS, the size of every checkpoint's files, and, in the
   last checkpoint, the process records: steps logged by plain processes and
   their pickled bytes);
3. ``dqsim resume`` of the middle and of the last checkpoint (wall time; the
   resumed output must equal the uninterrupted one's ``pairs`` table).

Peak RSS and CPU time (user + system) are each child's own (``os.wait4``);
on a loaded machine compare CPU times. Writes
``bench/results/chain_checkpoint-<label>-<YYYYMMDD>.json``.

Example (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/chain_checkpoint.py --nodes 128 --pairs 10 40 160 --label old
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def job_text(args, pairs: int) -> str:
    """The TOML of the workload with ``pairs`` pairs."""
    links = args.nodes - 1
    cutoff = f"cutoff_s = {args.cutoff_s!r}\n" if args.cutoff_s else ""
    return (f'[run]\nname = "chainckpt"\nscenario = "repeater"\nseed = {args.seed}\n\n'
            f"[chain]\nnum_links = [{links}]\ntotal_distance_km = [{links * args.link_km!r}]\n"
            f'swapping = "{args.swapping}"\npurification_rounds = {args.purification_rounds}\n{cutoff}'
            f"num_pairs = {pairs}\nmax_restarts = 1000\n\n"
            '[chain.link]\nscheme = "double_click"\nsource_fidelity = 0.999\n\n'
            "[chain.node]\nt2_s = 1.0\n")


def timed(cmd: list[str], env: dict) -> tuple[float, float, int]:
    """Run ``cmd``; its wall time (s), CPU time (user + system, s) and peak RSS (KiB). Raises on failure."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def process_records(path: Path) -> dict:
    """Steps logged by the plain processes of a checkpoint, and the bytes of its node records."""
    import h5py

    from dqsim.engine.checkpoint import unpickle

    steps = reads = handles = resumable = 0
    record_bytes = 0
    with h5py.File(path, "r") as f:
        group = f["engine"]
        for name in group:
            if not name.startswith("node"):
                continue
            data = group[name][()].tobytes()
            record_bytes += len(data)
            record = unpickle(data, [None] * 8)
            for handle in record["processes"]:
                handles += 1
                if handle.process is not None:
                    resumable += 1
                    continue
                steps += len(handle.log)
                reads += sum(len(entry[2]) for entry in handle.log)
    return {"process_handles": handles, "resumable_handles": resumable, "logged_steps": steps,
            "logged_reads": reads, "node_record_bytes": record_bytes}


def checkpoint_files(directory: Path) -> list[tuple[str, int]]:
    """``(name, bytes)`` of every checkpoint (its .h5 and slab files), oldest first."""
    out = []
    for path in sorted(directory.glob("*.h5"), key=lambda p: p.stat().st_mtime):
        out.append((path.name, path.stat().st_size))
    return out


def measure(args, pairs: int, tmp: Path, env: dict) -> dict:
    py = [sys.executable, "-m", "dqsim"]
    job = tmp / f"chain{pairs}.toml"
    job.write_text(job_text(args, pairs))
    plain = tmp / f"plain{pairs}.h5"
    wall_plain, cpu_plain, rss_plain = timed([*py, "run", str(job), "-o", str(plain), "--quiet"], env)
    from dqsim.io import open_run

    end_ps = int(open_run(plain).table("summary")["simulated_time_ps"][0])
    every_s = end_ps / args.cuts * 1e-12
    ck = tmp / f"ck{pairs}"
    checked = tmp / f"checked{pairs}.h5"
    wall_ck, cpu_ck, rss_ck = timed([*py, "run", str(job), "-o", str(checked), "--quiet",
                             "--set", f"checkpoint.every_sim_s={every_s!r}", "--set", f'checkpoint.directory="{ck}"',
                             "--set", "checkpoint.keep=100"], env)
    files = checkpoint_files(ck)
    result = {"pairs": pairs, "end_time_ps": end_ps, "every_sim_s": every_s, "wall_s_plain": wall_plain,
              "cpu_s_plain": cpu_plain, "max_rss_kib_plain": rss_plain, "wall_s_checkpointed": wall_ck,
              "cpu_s_checkpointed": cpu_ck, "max_rss_kib_checkpointed": rss_ck,
              "num_checkpoints": len(files), "checkpoint_bytes": [size for _name, size in files],
              "last": process_records(ck / files[-1][0]), "middle": process_records(ck / files[len(files) // 2][0])}
    reference = open_run(plain).table("pairs")
    for which, index in (("middle", len(files) // 2), ("last", len(files) - 1)):
        out = tmp / f"resumed{pairs}-{which}.h5"
        wall, cpu, rss = timed([*py, "resume", str(ck / files[index][0]), "-o", str(out), "--quiet"], env)
        same = bool((open_run(out).table("pairs") == reference).all())
        result[f"resume_{which}"] = {"wall_s": wall, "cpu_s": cpu, "max_rss_kib": rss, "same_pairs": same}
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=128)
    p.add_argument("--pairs", type=int, nargs="+", default=[10, 40, 160])
    p.add_argument("--link-km", type=float, default=2.0)
    p.add_argument("--cutoff-s", type=float, default=None)
    p.add_argument("--purification-rounds", type=int, default=0)
    p.add_argument("--swapping", default="swap_asap")
    p.add_argument("--cuts", type=int, default=10, help="checkpoints per run (every end time / cuts)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--label", default="run")
    p.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for pairs in args.pairs:
            row = measure(args, pairs, Path(tmp), env)
            row["load_average_1min"] = os.getloadavg()[0]
            rows.append(row)
            last = row["last"]
            print(f"pairs {pairs:5d}: run {row['wall_s_plain']:.2f} s (CPU {row['cpu_s_plain']:.2f} s) / "
                  f"{row['max_rss_kib_plain'] / 1024:.0f} MiB, checkpointed {row['wall_s_checkpointed']:.2f} s "
                  f"(CPU {row['cpu_s_checkpointed']:.2f} s) / {row['max_rss_kib_checkpointed'] / 1024:.0f} MiB, "
                  f"{row['num_checkpoints']} checkpoints, last {row['checkpoint_bytes'][-1] / 1e6:.2f} MB "
                  f"(node records {last['node_record_bytes'] / 1e6:.2f} MB, {last['logged_steps']} logged steps, "
                  f"{last['process_handles']} processes), resume middle {row['resume_middle']['wall_s']:.2f} s "
                  f"(CPU {row['resume_middle']['cpu_s']:.2f} s) last {row['resume_last']['wall_s']:.2f} s "
                  f"(CPU {row['resume_last']['cpu_s']:.2f} s), same pairs "
                  f"{row['resume_middle']['same_pairs'] and row['resume_last']['same_pairs']}, "
                  f"load {row['load_average_1min']:.2f}", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    stamp = datetime.datetime.now(datetime.timezone.utc)
    out = args.results_dir / f"chain_checkpoint-{args.label}-{stamp:%Y%m%d}.json"
    out.write_text(json.dumps({"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                               "commit": commit, "utc": stamp.isoformat(timespec="seconds"), "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
