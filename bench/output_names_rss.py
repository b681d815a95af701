"""What a big ``trotter`` or ``cloud`` run's output takes: its tables, attributes and write, old code against new.

A benchmark, not a test: it measures and prints, it asserts nothing.

For each case (``--cases``: SCENARIO:TOPOLOGY:NODES, ``trotter`` or ``cloud``, bench/check_memory_scale.py's jobs:
an 8-site Ising chain on the network's first 4 nodes, or two 4-qubit GHZ user jobs) it runs ``dqsim run`` on one
rank under ``/usr/bin/time`` with the dqsim of each tree in turn (``--old``: a tree of the code before, e.g.
``git archive`` of it; ``--new``: this one unless given), alternated (old, new, then new, old, ...), and prints per run:

* the peak RSS of the whole run (``/usr/bin/time``'s ``%M``) and its user CPU seconds;
* the RSS once the network's runs are done (``trotter``: ``_networked_runs``; ``cloud``: ``run_cloud``) and the
  peak from then to the end (the process's ``VmHWM`` reset by writing 5 to ``/proc/self/clear_refs``, Linux):
  ``write`` is their difference, what the output's tables, attributes and HDF5 write take above the run;
* the seconds from then to the end, and the load average before the run.

    PYTHONPATH=$PWD .venv/bin/python bench/output_names_rss.py --old /tmp/old \\
        --cases trotter:line:262144 cloud:line:262144 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from check_memory_scale import job_text  # noqa: E402

#: The function whose return ends the network's runs, per scenario (module, name).
HOOKS = {"trotter": ("dqsim.scenarios.trotter", "_networked_runs"), "cloud": ("dqsim.scenarios.cloud", "run_cloud")}

#: Runs dqsim (argv: a result file, the hook's module and name, then dqsim's arguments): once the hook returns it
#: records the RSS and resets the peak (``VmHWM``); at exit it records the peak since and the seconds since.
TAIL = """
import atexit, importlib, json, re, sys, time
result, module, name = sys.argv[1:4]
sys.argv = ['dqsim', *sys.argv[4:]]
seen = {}
def status(key):
    return int(re.search(key + r':\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)) * 1024
target = importlib.import_module(module)
inner = getattr(target, name)
def wrapper(*args, **kwargs):
    out = inner(*args, **kwargs)
    seen['rss_after_runs'] = status('VmRSS')
    open('/proc/self/clear_refs', 'w').write('5')
    seen['since'] = time.perf_counter()
    return out
setattr(target, name, wrapper)
def done():
    if seen:
        seen['peak_after_runs'] = status('VmHWM')
        seen['seconds_after_runs'] = time.perf_counter() - seen.pop('since')
        open(result, 'w').write(json.dumps(seen))
atexit.register(done)
from dqsim.cli import console_main, exit_status
raise SystemExit(exit_status(console_main()))
"""


def load() -> str:
    """The load averages (1, 5, 15 min)."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.split("load average:")[-1].strip()


def run_once(tree: Path, scenario: str, job: Path, folder: Path) -> dict:
    """One ``dqsim run`` of ``job`` with the dqsim of ``tree``: peak RSS, CPU, and the figures of :data:`TAIL`."""
    python = sys.executable  # (this venv's, whichever tree's dqsim it runs)
    out, times, result = folder / "out.h5", folder / "time.txt", folder / "tail.json"
    for path in (out, times, result):
        path.unlink(missing_ok=True)
    module, name = HOOKS[scenario]
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    before = load()
    done = subprocess.run(["/usr/bin/time", "-o", str(times), "-f", "%M %U", python, "-c", TAIL, str(result),
                           module, name, "run", str(job), "-o", str(out), "--quiet"],
                          cwd=folder, env=env, capture_output=True, text=True)
    if done.returncode:
        return {"returncode": done.returncode, "stderr": done.stderr[-600:], "load": before}
    rss_kb, user_s = times.read_text().split()[-2:]
    tail = json.loads(result.read_text())
    return {"returncode": 0, "load": before, "peak_rss": int(rss_kb) * 1024, "user_s": float(user_s),
            "file_bytes": out.stat().st_size, **tail}


def show(case: str, which: str, got: dict) -> None:
    """One run's line."""
    if got["returncode"]:
        print(f"{case} {which}: rc {got['returncode']}: {got['stderr']}", flush=True)
        return
    write = got["peak_after_runs"] - got["rss_after_runs"]
    print(f"{case:>22} {which}: peak {got['peak_rss'] / 1e6:6.0f} MB, after the runs RSS "
          f"{got['rss_after_runs'] / 1e6:6.0f} MB, peak {got['peak_after_runs'] / 1e6:6.0f} MB (write "
          f"{write / 1e6:+6.1f} MB, {got['seconds_after_runs']:5.2f} s), CPU {got['user_s']:5.1f} s, file "
          f"{got['file_bytes'] / 1e6:.2f} MB, load {got['load']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="root of a tree of the old code (on PYTHONPATH for its runs)")
    parser.add_argument("--new", default=str(ROOT), help="root of a tree of the new code (default: this one)")
    parser.add_argument("--cases", nargs="+", required=True, help="SCENARIO:TOPOLOGY:NODES ...")
    parser.add_argument("--repeats", type=int, default=2, help="old/new pairs per case (alternated)")
    parser.add_argument("--folder", default="/tmp/output-names-rss", help="where the jobs and outputs go")
    parser.add_argument("--json", default=None, help="append every run's figures to this file (JSON lines)")
    args = parser.parse_args()
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    trees = {"old": Path(args.old).resolve(), "new": Path(args.new).resolve()}
    for case in args.cases:
        scenario, topology, nodes = case.split(":")
        if scenario not in HOOKS:
            raise SystemExit(f"--cases {case}: scenario {scenario!r}; allowed: {', '.join(HOOKS)}")
        job = folder / f"{scenario}-{topology}-{nodes}.toml"
        job.write_text(job_text(scenario, topology, int(nodes)))
        for repeat in range(args.repeats):
            for which in (("old", "new") if repeat % 2 == 0 else ("new", "old")):
                got = run_once(trees[which], scenario, job, folder)
                show(case, which, got)
                if args.json:
                    with open(args.json, "a") as sink:
                        sink.write(json.dumps({"case": case, "code": which, **got}) + "\n")


if __name__ == "__main__":
    main()
