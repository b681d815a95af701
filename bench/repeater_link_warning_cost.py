"""CPU of the repeater ``cutoff_policy = "link"`` warning on a 64 × 64 sweep, two code trees alternated.

    PYTHONPATH=$PWD .venv/bin/python bench/repeater_link_warning_cost.py OLD_TREE [rounds] [case ...]

The sweep (the review's): ``num_links`` 2..65 × ``total_distance_km`` 200, 197, ..., 11, ``cutoff_policy =
"link"``; without pumping at ``cutoff_s = 0.0007``, with one pumping round at ``cutoff_s = 0.004``, and that with
noisy nodes (T1 = 10 ms, T2 = 1 ms, gate errors 0.005 and 0.04, readout 0.03: the noisy pumping odds, since
2026-12-07 (late afternoon)); ``case``: only the cases named. Each
measurement is a fresh process (``PYTHONPATH`` the tree) timing ``job.warnings()`` with ``time.process_time``;
OLD_TREE (e.g. ``git archive main`` unpacked) and this tree alternate, the load average printed before each.
Prints each CPU time, the ratio of the medians per case and whether the two trees' warning lines are the same.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

CASES = {"no pumping": ("", "0.0007"), "1 pumping round": ("purification_rounds = 1\n", "0.004"),
         "1 pumping round, noisy nodes": ("purification_rounds = 1\n[chain.node]\nt1_s = 0.01\nt2_s = 0.001\n"
                                          "gate_1q_error_probability = 0.005\ngate_2q_error_probability = 0.04\n"
                                          "measure_error_probability = 0.03\n", "0.004")}

MEASURE = r'''
import sys, time
from dqsim.jobs import load_job_text
extra, cutoff = sys.argv[1], sys.argv[2]
links, totals = list(range(2, 66)), [200.0 - 3 * k for k in range(64)]
job = load_job_text('[run]\nname = "c"\nscenario = "repeater"\n[chain]\n'
                    f"num_links = {links}\ntotal_distance_km = {totals}\ncutoff_s = {cutoff}\n"
                    'cutoff_policy = "link"\n' + extra)
started = time.process_time()
lines = [line for line in job.warnings() if "cutoff_policy" in line]
print(time.process_time() - started)
print(lines[0] if lines else "")
'''


def measure(tree: str, extra: str, cutoff: str) -> tuple[float, str]:
    """CPU seconds of ``job.warnings()`` in a fresh process on ``tree``, and the warning line."""
    env = {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", MEASURE, extra, cutoff], env=env, cwd=tree, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    return float(out[0]), out[1] if len(out) > 1 else ""


def main(argv: list[str]) -> None:
    old, new = os.path.abspath(argv[0]), os.getcwd()
    rounds = int(argv[1]) if len(argv) > 1 else 2
    for case, (extra, cutoff) in CASES.items():
        if len(argv) > 2 and case not in argv[2:]:
            continue
        times: dict = {"old": [], "new": []}
        lines: dict = {}
        for _ in range(rounds):
            for name, tree in (("old", old), ("new", new)):
                load = os.getloadavg()[0]
                seconds, lines[name] = measure(tree, extra, cutoff)
                times[name].append(seconds)
                print(f"{case}: {name} {seconds:.2f} s CPU (load {load:.1f})", flush=True)
        ratio = statistics.median(times["old"]) / statistics.median(times["new"])
        print(f"{case}: old/new median {ratio:.2f}; same line: {lines['old'] == lines['new']}")
        for name in ("old", "new"):
            print(f"  {name}: {lines[name][:260]}")


if __name__ == "__main__":
    main(sys.argv[1:])
