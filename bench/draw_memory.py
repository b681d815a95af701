"""Peak memory of ``dqsim warmup``'s draw of a run (``scenarios/warmup.py``'s ``drawn_codes``: the job run on one
process with its reconciliation left out) against ``warmup.draw_memory_bytes``' estimate.

Each case runs in a fresh process (``DQSIM_CACHE_DIR=off``: nothing kept): after the imports and one tiny draw (the
kernels' and tables' first loads), the resident set (``VmRSS``) and tracemalloc's traced bytes are taken, then the
case's draw runs; printed are tracemalloc's peak above that point and the growth of the peak resident set
(``VmHWM``), MB, against the estimate.

    .venv/bin/python bench/draw_memory.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

#: (name, job file, --set overrides): BB84 and BBM92 links, batches of 0.25-4 million pulses, 1 to 1,024 links.
CASES = [
    ("bb84 batch 250k", "jobs/bb84_decoy_50km.toml", ["qkd.pulses=2000000", "qkd.batch_pulses=250000"]),
    ("bb84 batch 1M", "jobs/bb84_decoy_50km.toml", ["qkd.pulses=2000000", "qkd.batch_pulses=1000000"]),
    ("bb84 batch 4M", "jobs/bb84_decoy_50km.toml", ["qkd.pulses=8000000", "qkd.batch_pulses=4000000"]),
    ("bbm92 batch 250k", "jobs/bbm92_20km.toml", ["qkd.pulses=1000000", "qkd.batch_pulses=250000"]),
    ("bbm92 batch 1M", "jobs/bbm92_20km.toml", ["qkd.pulses=2000000", "qkd.batch_pulses=1000000"]),
    ("bbm92 batch 4M", "jobs/bbm92_20km.toml", ["qkd.pulses=4000000", "qkd.batch_pulses=4000000"]),
    ("bbm92 SPDC batch 1M", "jobs/bbm92_20km.toml", ["qkd.pulses=2000000", "qkd.batch_pulses=1000000",
                                                   "qkd.source.mean_pair_number=0.1"]),
    ("bb84 chain 64 links", "jobs/bb84_decoy_50km.toml", ["qkd.pulses=20000", "qkd.batch_pulses=20000",
                                                          'qkd.network={topology="chain", num_nodes=65}']),
    ("bb84 chain 256 links", "jobs/bb84_decoy_50km.toml", ["qkd.pulses=20000", "qkd.batch_pulses=20000",
                                                           'qkd.network={topology="chain", num_nodes=257}']),
    ("bb84 chain 1024 links", "jobs/bb84_decoy_50km.toml", ["qkd.pulses=20000", "qkd.batch_pulses=20000",
                                                            'qkd.network={topology="chain", num_nodes=1025}']),
]

CHILD = """
import json, sys, tracemalloc
from dqsim import jobs
from dqsim.scenarios import warmup

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

args = json.loads(sys.argv[1])
ldpc = ['qkd.error_correction="ldpc"']
tiny = jobs.apply_overrides(jobs.load_job(args[0]), [*ldpc, "qkd.pulses=1000", "qkd.batch_pulses=1000",
                                                                    "qkd.block_pulses=1000"])
warmup.drawn_codes(tiny)
block = "qkd.block_pulses=" + args[1][0].split("=")[1]           # one block: the case's pulses
job = jobs.apply_overrides(jobs.load_job(args[0]), [*ldpc, *args[1], block])
rss = status("VmRSS:")
tracemalloc.start()
warmup.drawn_codes(job)
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"traced": peak, "hwm": status("VmHWM:") - rss, "estimate": warmup.draw_memory_bytes(job)}))
"""


def main() -> None:
    env = dict(os.environ, DQSIM_CACHE_DIR="off")
    print("| case | tracemalloc peak MB | peak RSS growth MB | estimate MB | estimate / RSS growth |")
    print("|---|---|---|---|---|")
    for name, path, changes in CASES:
        out = subprocess.run([sys.executable, "-c", CHILD, json.dumps([path, changes])], env=env, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        found = json.loads(out)
        print(f"| {name} | {found['traced'] / 1e6:.1f} | {found['hwm'] / 1e6:.1f} | {found['estimate'] / 1e6:.1f} | "
              f"{found['estimate'] / found['hwm']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
