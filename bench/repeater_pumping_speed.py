"""CPU time of noisy pumped repeater chains on two source trees, alternated, and whether they agree bit for bit.

    PYTHONPATH=$PWD .venv/bin/python bench/repeater_pumping_speed.py OLD_TREE NEW_TREE [repeats] [pairs]

Each measurement is one child process (``OMP_NUM_THREADS=1``) with ``PYTHONPATH`` set to a tree (e.g. a
``git archive main`` unpacked under /tmp, and this worktree) that runs

* ``chain L``: the simulated chain of ``tests/test_repeater_cutoff_link.py``'s
  ``test_the_estimated_makings_follow_simulated_chains_with_noisy_pumping`` (L = 2, 3, 4 links of 10 km, one
  BBPSSW round, T1 = 10 ms, T2 = 1 ms, gate errors 0.005 and 0.04, readout 0.03, cut-off least swap age + 4.5,
  7.5, 8.5 attempt periods under ``cutoff_policy = "link"``; ``pairs`` pairs, 150 in the test; seed 7) and
* ``job``: ``dqsim run`` of :data:`JOB` (2 and 3 links with that noise and one round, 30 pairs, seed 3),

and reports the child's CPU seconds (user + system, from ``resource.getrusage``; imports included; for the
chains also the process time of ``run_chain`` alone) and a
SHA-256 of every pair's fields and the records (``repr``: floats bit for bit) or of the job's tables. Old and new
alternate within each repeat, so both see the same load; the last column is old/new of the median.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile

CHAIN = r'''
import hashlib, sys, time
from dqsim import backend as backend_mod, comm as comm_mod
from dqsim.jobs import load_job_text
from dqsim.scenarios import repeater
links, spare, pairs = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
BASE = '[run]\nname = "c"\nscenario = "repeater"\n[chain]\n'
text = BASE + f"num_links = {links}\ntotal_distance_km = {10 * links}\npurification_rounds = 1\nnum_pairs = {pairs}\n"
tail = ("[chain.link]\nsource_fidelity = 0.9\n[chain.node]\nt1_s = 0.01\nt2_s = 0.001\n"
        "gate_1q_error_probability = 0.005\ngate_2q_error_probability = 0.04\nmeasure_error_probability = 0.03\n")
section = load_job_text(text + tail).chain
link = section.link_spec(links, 10.0 * links)
cutoff_s = (section._least_swap_age_ps(link, links) + spare * link.attempt_period_ps) * 1e-12
job = load_job_text(text + f'cutoff_s = {cutoff_s!r}\ncutoff_policy = "link"\n' + tail)
start = time.process_time()
out = repeater.run_chain(repeater.chain_spec(job, links, 10.0 * links), comm=comm_mod.SingleComm(),
                         backend=backend_mod.select("numpy"), seed=7)
print(time.process_time() - start)
print(hashlib.sha256("\n".join([*map(repr, out.pairs), repr(out.records)]).encode()).hexdigest())
'''

JOB = '''[run]
name = "pump_chain"
scenario = "repeater"
seed = 3

[chain]
num_links = [2, 3]
total_distance_km = [20.0, 30.0]
swapping = "swap_asap"
purification_rounds = 1
cutoff_s = 0.002
cutoff_policy = "link"
num_pairs = 30

[chain.link]
source_fidelity = 0.9

[chain.node]
t1_s = 0.01
t2_s = 0.001
gate_1q_error_probability = 0.005
gate_2q_error_probability = 0.04
measure_error_probability = 0.03
'''

TABLES = r'''
import hashlib, sys
import numpy as np
from dqsim.io import open_run
run = open_run(sys.argv[1])
digest = hashlib.sha256()
for name in ("pairs", "summary"):
    table = run.table(name)
    digest.update(np.ascontiguousarray(table).tobytes())
print(digest.hexdigest())
'''

SPARES = {2: 4.5, 3: 7.5, 4: 8.5}


def child(tree: str, args: list[str]) -> tuple[float, str, list[str]]:
    """(CPU seconds, last line of stdout, its other lines) of ``python args`` with ``PYTHONPATH=tree``."""
    env = dict(os.environ, PYTHONPATH=tree, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, *args], env=env, cwd=tree, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = done.stdout.strip().splitlines()
    return cpu, lines[-1], lines[:-1]


def job_case(tree: str, folder: str, tag: str) -> tuple[float, str]:
    path = os.path.join(folder, f"{tag}.toml")
    with open(path, "w") as handle:
        handle.write(JOB)
    out = os.path.join(folder, f"{tag}.h5")
    if os.path.exists(out):
        os.remove(out)
    cpu, _, _ = child(tree, ["-m", "dqsim", "run", path, "-o", out])
    return cpu, child(tree, ["-c", TABLES, out])[1], None


def main() -> None:
    old, new = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    pairs = sys.argv[4] if len(sys.argv) > 4 else "150"
    cases = [f"chain {links}" for links in SPARES] + ["job"]
    times: dict = {(case, tree): [] for case in cases for tree in (old, new)}
    runs: dict = {(case, tree): [] for case in cases for tree in (old, new)}
    digests: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(repeats):
            for case in cases:
                order = (old, new) if repeat % 2 == 0 else (new, old)
                for tree in order:
                    tag = "old" if tree == old else "new"
                    if case == "job":
                        cpu, digest, run_cpu = job_case(tree, folder, tag)
                    else:
                        links = int(case.split()[1])
                        cpu, digest, lines = child(tree, ["-c", CHAIN, str(links), str(SPARES[links]), pairs])
                        run_cpu = float(lines[-1])
                        runs[(case, tree)].append(run_cpu)
                    times[(case, tree)].append(cpu)
                    digests.setdefault((case, tag), set()).add(digest)
                    inside = "" if run_cpu is None else f" ({run_cpu:.2f} s in run_chain)"
                    print(f"# repeat {repeat} {case} {tag}: {cpu:.2f} s CPU{inside}, {digest[:12]}", flush=True)
    print(f"\n| case | old CPU s (median of {repeats}) | new CPU s | old/new | in run_chain old | new | old/new "
          "| same results |")
    print("|---|---|---|---|---|---|---|---|")
    for case in cases:
        a, b = statistics.median(times[(case, old)]), statistics.median(times[(case, new)])
        same = digests[(case, "old")] == digests[(case, "new")] and len(digests[(case, "old")]) == 1
        inner = "| – | – | –"
        if runs[(case, old)]:
            c, d = statistics.median(runs[(case, old)]), statistics.median(runs[(case, new)])
            inner = f"| {c:.2f} | {d:.2f} | {c / d:.2f}"
        print(f"| {case} | {a:.2f} | {b:.2f} | {a / b:.2f} {inner} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
