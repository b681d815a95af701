"""Benchmark: what periodic checkpoints of a DQC run cost as the circuit gets deeper.

A benchmark, not a test: it measures and records, it asserts nothing.

Workload: the ``dqc`` job ``jobs/dqc_ghz_4qpu.toml`` with a random circuit
(``circuit.generator = "random"``) of ``--depth`` layers on its 8 qubits,
two per QPU on a line of 4 (nonlocal gates between neighbours and, over a
swapped pair, between distant QPUs), ``--scheme`` telegate or teledata,
without a timeline unless ``--timeline`` (it grows with the run, in every
checkpoint too). For
each depth it runs, as ``dqsim`` command lines on one rank:

1. the job without checkpoints (wall and CPU time, peak RSS, simulated end time);
2. the job with ``[checkpoint] every_sim_s`` = that end time / ``--cuts``
   (the size of the last checkpoint's files; in it, the bytes of the node
   records and the steps logged by plain processes);
3. ``dqsim resume`` of the middle and of the last checkpoint (wall and CPU
   time; ``same`` says whether the resumed ``shots``, ``links``, ``counts``
   and ``timeline`` tables and its fidelity equal the uninterrupted run's).

Which dqsim runs is the one on ``PYTHONPATH`` (run it once per version to
compare them). CPU time (user + system) and peak RSS are each child's own
(``os.wait4``); on a loaded machine compare CPU times. Writes
``bench/results/dqc_checkpoint-<label>-<YYYYMMDD-HHMMSS>.json`` and prints a table.

Example (from the repository root)::

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD .venv/bin/python bench/dqc_checkpoint.py --depth 8 32 128 --label new
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

#: The job's options besides the depth and the scheme.
OPTIONS = ["--set", "circuit.generator=\"random\"", "--set", "distribution.assignment=[0, 0, 1, 1, 2, 2, 3, 3]",
           "--set", "simulation.store_shots=true", "--set", "simulation.shots=100", "--quiet"]

#: Tables a resumed run must give as the uninterrupted one.
TABLES = ("shots", "links", "counts", "timeline")


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """Run ``cmd`` in ``cwd``; its wall time (s), CPU time (user + system, s) and peak RSS (KiB). Raises on failure.

    ``cwd`` is not the repository: ``python -m dqsim`` imports the ``dqsim`` of its working folder before
    ``PYTHONPATH``'s, which would run this checkout's dqsim whatever version was asked for.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def records(path: Path) -> dict:
    """The bytes of a checkpoint's node records, its process handles and the steps plain processes logged."""
    import h5py

    from dqsim.engine.checkpoint import unpickle

    handles = steps = record_bytes = 0
    with h5py.File(path, "r") as f:
        for name in f["engine"]:
            if not name.startswith("node"):
                continue
            data = f["engine"][name][()].tobytes()
            record_bytes += len(data)
            for handle in unpickle(data, [None] * 64)["processes"]:
                handles += 1
                steps += len(handle.log) if handle.process is None else 0
    return {"node_record_bytes": record_bytes, "process_handles": handles, "logged_steps": steps}


def same(a: Path, b: Path) -> bool:
    from dqsim.io import open_run

    x, y = open_run(a), open_run(b)
    return (all(np.array_equal(x.table(t), y.table(t)) for t in TABLES if t in x.tables or t in y.tables)
            and x.attrs["fidelity"] == y.attrs["fidelity"])


def measure(args, depth: int, tmp: Path) -> dict:
    from dqsim.io import open_run

    py = [sys.executable, "-m", "dqsim"]
    job = [str(ROOT / "jobs" / "dqc_ghz_4qpu.toml"), *OPTIONS, "--set", f"circuit.depth={depth}",
           "--set", f"distribution.scheme=\"{args.scheme}\"",
           "--set", f"simulation.timeline={str(args.timeline).lower()}"]
    plain = tmp / f"plain{depth}.h5"
    wall_plain, cpu_plain, rss_plain = timed([*py, "run", *job, "-o", str(plain)], tmp)
    end_ps = int(open_run(plain).attrs["simulated_time_ps"])
    every_s = end_ps / args.cuts * 1e-12
    ck = tmp / f"ck{depth}"
    checked = tmp / f"checked{depth}.h5"
    wall_ck, cpu_ck, rss_ck = timed([*py, "run", *job, "-o", str(checked),
                                     "--set", f"checkpoint.every_sim_s={every_s!r}",
                                     "--set", f'checkpoint.directory="{ck}"', "--set", "checkpoint.keep=100"], tmp)
    ckpts = sorted((p for p in ck.glob("*.h5") if ".slab" not in p.name), key=lambda p: p.name)
    last = ckpts[-1]
    files = [p for p in ck.iterdir() if p.name.startswith(last.name[:-3])]
    result = {"depth": depth, "scheme": args.scheme, "end_time_ps": end_ps, "checkpoints": len(ckpts),
              "engine_events": int(open_run(plain).attrs["engine_events"]),
              "run_wall_s": wall_plain, "run_cpu_s": cpu_plain, "run_max_rss_kib": rss_plain,
              "checkpointed_wall_s": wall_ck, "checkpointed_cpu_s": cpu_ck, "checkpointed_max_rss_kib": rss_ck,
              "last_checkpoint_bytes": sum(p.stat().st_size for p in files), **records(last)}
    for which, path in (("mid", ckpts[len(ckpts) // 2]), ("last", last)):
        out = tmp / f"resumed{depth}{which}.h5"
        wall, cpu, rss = timed([*py, "resume", str(path), "-o", str(out), "--quiet"], tmp)
        result.update({f"resume_{which}_wall_s": wall, f"resume_{which}_cpu_s": cpu,
                       f"resume_{which}_max_rss_kib": rss, f"resume_{which}_same": same(plain, out)})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--scheme", choices=("telegate", "teledata"), default="telegate")
    parser.add_argument("--cuts", type=int, default=10)
    parser.add_argument("--label", default="vm")
    parser.add_argument("--timeline", action="store_true", help="keep the run's timeline (in every checkpoint too)")
    args = parser.parse_args()
    import dqsim

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for depth in args.depth:
            row = measure(args, depth, Path(folder))
            row["load_1min"] = os.getloadavg()[0]
            rows.append(row)
            print(f"depth {depth:4d} | {row['checkpoints']:3d} cuts | last ckpt {row['last_checkpoint_bytes']:9d} B "
                  f"(node records {row['node_record_bytes']:8d} B, logged steps {row['logged_steps']:6d}) | CPU run "
                  f"{row['run_cpu_s']:.2f} s ckpt {row['checkpointed_cpu_s']:.2f} s resume mid "
                  f"{row['resume_mid_cpu_s']:.2f} s last {row['resume_last_cpu_s']:.2f} s | same "
                  f"{row['resume_mid_same']} {row['resume_last_same']} | load {row['load_1min']:.1f}", flush=True)
    stamp = datetime.datetime.now(datetime.timezone.utc)
    out = ROOT / "bench" / "results" / f"dqc_checkpoint-{args.label}-{stamp:%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({"time_utc": stamp.isoformat(timespec="seconds"), "python": sys.version.split()[0],
                               "argv": sys.argv[1:], "dqsim": dqsim.__file__, "rows": rows}, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
