"""What a large BB84 key block holds until it ends, with two dqsim trees, in one run: peak RSS and a mid-block stop.

A benchmark, not a test. For each tree (``--trees A B``: e.g. a ``git archive`` of the base commit and this
checkout) it runs ``jobs/bb84_decoy_50km.toml`` at 0 km with one key block of ``--pulses`` pulses (so every
report of the run belongs to one block) on one rank, ``PYTHONPATH=TREE``:

* the whole run: peak RSS of the process (``ru_maxrss`` of ``os.wait4``) and its wall time;
* the same run with a periodic checkpoint at ``--stop-fraction`` of the block's emission (simulated time), and
  SIGTERM as soon as that checkpoint is written: the stop's own checkpoint comes a few batches later, inside the
  block, at about the same place for both trees whatever the load. Measured: the time from the signal to the
  process's exit (the checkpoint's write, mostly), the stop checkpoint's size, and Alice's batch and the
  reports in her node's mailbox and queue in it.

The trees alternate (A, B, A, B) so that a change of the machine's load hits both; ``uptime``'s load is printed
before and after. Prints one line per measurement and a JSON record (``--json PATH``).

    .venv/bin/python bench/qkd_pending.py --trees /tmp/base . --pulses 200000000 --batch 1000000
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

ROOT = Path(__file__).resolve().parent.parent


def load() -> str:
    """The 1, 5 and 15 minute load averages (``uptime``'s)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def command(tree: Path, out: Path, pulses: int, batch: int, ck: Path | None) -> list[str]:
    args = [sys.executable, "-m", "dqsim", "run", "jobs/bb84_decoy_50km.toml", "-o", str(out), "-q",
            "--set", "qkd.link.distance_km=0.0", "--set", f"qkd.pulses={pulses}",
            "--set", f"qkd.block_pulses={pulses}", "--set", f"qkd.batch_pulses={batch}"]
    if ck is not None:
        args += ["--set", f'checkpoint.directory="{ck}"']
    return args


def env_for(tree: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
                OPENBLAS_NUM_THREADS="1", DQSIM_BACKEND="numpy")


def whole_run(tree: Path, work: Path, pulses: int, batch: int) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(command(tree, work / "whole.h5", pulses, batch, None), cwd=tree, env=env_for(tree))
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{tree}: the run failed ({status})")
    return {"peak_rss_mib": usage.ru_maxrss / 1024, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime}


def held_in(checkpoint: Path, tree: Path) -> dict:
    """Alice's batch, the reports her node holds and the bytes of their per-click arrays, read with ``tree``."""
    code = (
        "import pickle, sys, numpy as np\n"
        "from dqsim.io import open_run\n"
        "try:  # one table of the nodes' records since 2026-12-07\n"
        "    from dqsim.engine.checkpoint import saved_node_records\n"
        "    record = pickle.loads(saved_node_records(open_run(sys.argv[1]), [0])[0])\n"
        "except ImportError:\n"
        "    record = pickle.loads(open_run(sys.argv[1]).table('engine/node000000').tobytes())\n"
        "msgs = [m for box in record['mailbox'].values() for m in box]\n"
        "msgs += [e[4] for e in record['queue'] if e[3] == 'deliver']\n"
        "reports = [m.payload[1] for m in msgs if m.tag[2:3] == ('report',)]\n"
        "nbytes = sum(r.nbytes if hasattr(r, 'nbytes') else sum(a.nbytes for a in vars(r).values() if isinstance(a, np.ndarray)) for r in reports)  # packed since 2026-12-06\n"
        "alice = record['processes'][0].process\n"
        "print(alice.phase, alice.batch, len(reports), nbytes)\n")
    out = subprocess.run([sys.executable, "-c", code, str(checkpoint)], cwd=ROOT, env=env_for(ROOT),
                         capture_output=True, text=True, check=True).stdout.split()
    return {"alice_phase": out[0], "alice_batch": int(out[1]), "reports_held": int(out[2]),
            "report_mib": int(out[3]) / 2**20}


def stopped_run(tree: Path, work: Path, pulses: int, batch: int, sim_s: float) -> dict:
    """The run with a periodic checkpoint every ``sim_s`` of simulated time; SIGTERM once the first is written
    (its manifest exists), so the stop's checkpoint comes a few batches after ``sim_s`` whatever the load."""
    ck = work / "ck"
    proc = subprocess.Popen(command(tree, work / "stopped.h5", pulses, batch, ck)
                            + ["--set", f"checkpoint.every_sim_s={sim_s}", "--set", "checkpoint.keep=10"],
                            cwd=tree, env=env_for(tree), stderr=subprocess.PIPE, text=True)
    started = time.perf_counter()
    while not list(ck.glob("*.manifest.json")):
        if proc.poll() is not None:
            raise SystemExit(f"{tree}: the run ended before its first checkpoint: {proc.stderr.read()[-500:]}")
        time.sleep(0.01)
    after_s = time.perf_counter() - started
    signalled = time.perf_counter()
    os.kill(proc.pid, signal.SIGTERM)  # (not proc.send_signal, which reaps a child that has ended)
    _pid, status, _usage = os.wait4(proc.pid, 0)
    stop_s = time.perf_counter() - signalled
    err = proc.stderr.read()
    written = sorted((p for p in ck.glob("*.h5") if ".slab" not in p.name), key=lambda p: p.stat().st_mtime)
    if os.waitstatus_to_exitcode(status) != 75 or not written:
        raise SystemExit(f"{tree}: no checkpoint after SIGTERM at {after_s:.1f} s (exit {status}): {err[-500:]}")
    if len(written) < 2:
        raise SystemExit(f"{tree}: the stop wrote no checkpoint of its own: {err[-500:]}")
    record = {"signal_after_s": after_s, "stop_s": stop_s, "checkpoint_mib": written[-1].stat().st_size / 2**20,
              "periodic_checkpoint_mib": written[0].stat().st_size / 2**20}
    record.update(held_in(written[-1], ROOT))
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", nargs=2, type=Path, required=True, metavar=("A", "B"))
    parser.add_argument("--pulses", type=int, default=200_000_000)
    parser.add_argument("--batch", type=int, default=1_000_000)
    parser.add_argument("--stop-fraction", type=float, default=0.6,
                        help="stop after this fraction of the block's emission (simulated time)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    trees = [tree.resolve() for tree in args.trees]
    results: dict = {"pulses": args.pulses, "batch_pulses": args.batch, "load_before": load(), "trees": {}}
    print(f"load before: {results['load_before']}", flush=True)
    with tempfile.TemporaryDirectory(prefix="qkd_pending_") as tmp:
        for tree in trees:
            work = Path(tmp) / f"{trees.index(tree)}-whole"
            work.mkdir()
            results["trees"][str(tree)] = {"whole": whole_run(tree, work, args.pulses, args.batch)}
            print(tree, "whole:", results["trees"][str(tree)]["whole"], flush=True)
        sim_s = args.stop_fraction * args.pulses / 1e9  # the job's source emits 1e9 pulses per second
        for tree in trees:
            work = Path(tmp) / f"{trees.index(tree)}-stopped"
            work.mkdir()
            results["trees"][str(tree)]["stopped"] = stopped_run(tree, work, args.pulses, args.batch, sim_s)
            print(tree, "stopped:", results["trees"][str(tree)]["stopped"], flush=True)
    results["load_after"] = load()
    print(f"load after: {results['load_after']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
