"""CPU seconds of the LDPC code prediction (:func:`dqsim.scenarios.qkd_codes.code_probabilities`) over many
distinct link lengths: this tree against an earlier revision's (``--before``, default main, unpacked by ``git
archive`` into a temporary folder), each in a fresh process, alternated, on a trusted-node chain of the small
50 km job (``qkd_trusted_chain.toml``, one block of 500,000 pulses a link) whose links are all of different
lengths, 10-60 km, and on the example jobs with LDPC. Each line says whether both predict the same codes
(:func:`dqsim.scenarios.qkd_codes.predicted_codes`) and the largest difference of a code's probability.

    .venv/bin/python bench/qkd_codes_many_lengths.py --lengths 32 512 4095 --repeats 1
    .venv/bin/python bench/qkd_codes_many_lengths.py --lengths 32 --jobs sweep 50km --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

#: The small job's changes (tests/test_qkd_codes.py: two blocks of ~7,000 key bits at 50 km, here one a link).
SMALL = ["qkd.pulses=500000", "qkd.batch_pulses=500000", "qkd.block_pulses=500000", 'qkd.error_correction="ldpc"']
LDPC = ['qkd.error_correction="ldpc"']
#: Example jobs by name: (file, changes).
JOBS = {
    "50km": ("jobs/bb84_decoy_50km.toml", LDPC),
    "sweep": ("jobs/bb84_distance_sweep.toml", LDPC),
    "trusted-chain": ("jobs/qkd_trusted_chain.toml", LDPC),
    "bbm92": ("jobs/bbm92_20km.toml", LDPC),
    "e91": ("jobs/e91_chsh.toml", LDPC),
    "bb84-eve": ("jobs/bb84_eve_intercept.toml", LDPC),
    "bbm92-eve": ("jobs/bbm92_eve_intercept.toml", LDPC),
}

#: Run in a fresh process (argv: a job name or a number of lengths): prints its CPU seconds and probabilities.
CHILD = """
import json, sys, time
from dqsim import jobs
from dqsim.scenarios import qkd_codes
what, small, named = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
if what in named:
    job = jobs.load_job(named[what][0], named[what][1])
else:
    count = int(what)
    distances = [10.0 + 50.0 * i / count for i in range(count)]
    job = jobs.load_job("jobs/qkd_trusted_chain.toml", [*small, f"qkd.network.num_nodes={count + 1}",
                                                        f"qkd.network.distances_km={distances}"])
start = time.process_time()
if qkd_codes.uncovered_reason(job) is not None:
    print(json.dumps({"cpu": None, "codes": None, "p": {}}))
    sys.exit(0)
chances = qkd_codes.code_probabilities(job)
seconds = time.process_time() - start
print(json.dumps({"cpu": seconds, "codes": qkd_codes.predicted_codes(job),
                  "p": {f"{n} {r}": p for (n, r), p in chances.items()}}))
"""


def _measure(tree: str, what: str) -> dict:
    env = dict(os.environ, PYTHONPATH=tree, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", CHILD, what, json.dumps(SMALL), json.dumps(JOBS)], cwd=tree,
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _line(what: str, repeat: int, before: dict, after: dict) -> str:
    keys = set(before["p"]) | set(after["p"])
    diff = max((abs(before["p"].get(k, 0.0) - after["p"].get(k, 0.0)) for k in keys), default=0.0)

    def cpu(seconds) -> str:
        return "not predicted" if seconds is None else f"{seconds:.2f}"

    ratio = (f"{before['cpu'] / after['cpu']:.0f}" if before["cpu"] is not None and after["cpu"] else "-")
    same = "yes" if before["codes"] == after["codes"] else f"no: {before['codes']} -> {after['codes']}"
    count = len(after["codes"]) if after["codes"] is not None else "-"
    return (f"| {what} | {repeat} | {cpu(before['cpu'])} | {cpu(after['cpu'])} | {ratio} | {count} | {same} "
            f"| {diff:.1e} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="*", default=[32, 512, 4095])
    parser.add_argument("--jobs", nargs="*", default=[], choices=list(JOBS))
    parser.add_argument("--before", default="main", help="git revision measured against (default main)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    here = os.getcwd()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# load average {os.getloadavg()[0]:.1f}; after: {commit} (+ working tree), before: {args.before}")
    print("| lengths or job | repeat | before CPU s | after CPU s | before/after | codes predicted | same codes "
          "| largest probability difference |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        archive = subprocess.run(["git", "archive", args.before], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", scratch], input=archive, check=True)
        for repeat in range(args.repeats):
            for what in [str(count) for count in args.lengths] + args.jobs:
                first_before = repeat % 2 == 0
                results = {}
                for way in (("before", "after") if first_before else ("after", "before")):
                    results[way] = _measure(scratch if way == "before" else here, what)
                print(_line(what, repeat, results["before"], results["after"]), flush=True)
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
