"""Rank and placement invariance campaign: random small network jobs on 1, 2 and 4 ranks, tables compared.

Not a test (minutes on a 2-core machine) and not a benchmark: a campaign a reviewer can rerun.
Each configuration is one of the network jobs in ``jobs/`` shrunk to seconds and varied at random:
seed, noisy links (source fidelity < 1, dark counts, single-click), memories (finite T1/T2),
gate and measurement errors, topology (line, ring, star, all-to-all, explicit edges of different
lengths) and, where the job allows it, ``[network].placement`` (random, or round-robin). The job
runs on 1 rank (the reference), on 2 and 4 ranks with the default placement and on 2 and 4 ranks
with a drawn one (``--set network.placement=[...]``). Every table of every output (``timing``
aside) and every root attribute except those naming ranks, timing, wall time, paths, the job text
and the per-rank ``engine_*`` counters must be equal to the reference's: exactly, or within 1e-12
(reported as ``close``).

Prints one line per run and appends one JSON line per configuration to ``SCRATCH/log-SEED.jsonl``;
exit status 1 on a mismatch or a failed run.

Example (from the repository root; the jobs are those of ``JOBS``)::

    .venv/bin/python bench/invariance_ranks.py --configs 6 --seed 3 --scratch /tmp/inv
"""

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

WT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(WT))
from dqsim.io import open_run  # noqa: E402

PY = sys.executable
MPIEXEC = os.environ.get("DQSIM_MPIEXEC", str(Path(sys.executable).parent / "mpiexec"))
ENV = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
           PYTHONPATH=str(WT))
JOBS = ["dqc_ghz_4qpu", "dqc_8node", "dqc_teleport_feedforward", "ising_trotter_4qpu", "ising_trotter_continued",
        "xxz_ring_sweep", "repeater_chain", "qkd_trusted_chain", "cloud_queue"]

IGNORE_ATTRS = {"created_utc", "wall_time_s", "job_path", "job_text", "overrides", "num_ranks", "rank_of_node",
                "device", "exchange_path", "compiled_kernels", "dqsim_version", "placement"}
IGNORE_TABLES = {"timing"}


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def dump(d, prefix=""):
    lines, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict) and not (prefix == "simulation" and k == "sweep"):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            tables.append((k, v))
        else:
            lines.append(f"{k} = {toml_value(v)}")
    out = "\n".join(lines) + "\n"
    for k, v in tables:
        name = f"{prefix}.{k}" if prefix else k
        if isinstance(v, list):
            for item in v:
                out += f"\n[[{name}]]\n" + dump(item, name)
        else:
            out += f"\n[{name}]\n" + dump(v, name)
    return out


def noisy_link(r, link):
    link["source_fidelity"] = r.choice([1.0, 0.99, 0.95, 0.9, 0.8])
    link["dark_count_rate_hz"] = r.choice([0.0, 0.0, 100.0, 1e4])
    if r.random() < 0.3:
        link["scheme"] = "single_click"
        link["bright_state_alpha"] = r.choice([0.05, 0.1])
    link["distance_km"] = r.choice([1.0, 5.0, 10.0, 20.0])


def noisy_node(r, node):
    if r.random() < 0.7:
        node["t1_s"] = r.choice([1e-3, 1e-2, 1.0])
        node["t2_s"] = min(node["t1_s"], r.choice([1e-4, 1e-3, 1e-1]))
    else:
        node["t1_s"], node["t2_s"] = math.inf, math.inf
    if r.random() < 0.7:
        node["gate_1q_error_probability"] = r.choice([0.0, 1e-3, 1e-2])
        node["gate_2q_error_probability"] = r.choice([0.0, 5e-3, 2e-2])
        node["measure_error_probability"] = r.choice([0.0, 1e-2])


def vary_network(r, job, n):
    net = job["network"]
    topo = r.choice(["line", "ring", "star", "all_to_all", "edges"] if n >= 3 else ["line"])
    net["topology"] = topo
    names = net.get("node_names") or [f"node{i}" for i in range(n)]
    if topo == "edges":
        net.pop("num_nodes", None)
        net["node_names"] = names
        net["edges"] = [[names[i], names[i + 1], r.choice([1.0, 2.5, 7.0, 13.0])] for i in range(n - 1)]
        if r.random() < 0.5:
            net["edges"].append([names[0], names[-1], r.choice([3.0, 30.0])])
    noisy_link(r, net.setdefault("link", {}))
    noisy_node(r, net.setdefault("node", {}))


def make(jobname, r):
    job = tomllib.loads((WT / "jobs" / f"{'dqc_ghz_4qpu' if jobname == 'dqc_8node' else jobname}.toml").read_text())
    job["run"]["seed"] = r.randrange(1, 10_000)
    job["run"].pop("output", None)
    nodes = None
    if jobname == "dqc_8node":
        job = tomllib.loads((WT / "jobs" / "dqc_ghz_4qpu.toml").read_text())
        job["run"]["seed"] = r.randrange(1, 10_000)
        nq = 8
        job["network"]["num_nodes"] = 8
        job["network"]["node_names"] = [f"q{i}" for i in range(8)]
        job["circuit"] = {"generator": r.choice(["ghz", "qft", "random"]), "num_qubits": nq}
        if job["circuit"]["generator"] == "random":
            job["circuit"]["depth"] = 4
        job["network"]["node"]["num_data_qubits"] = 1
        job["distribution"]["assignment"] = list(range(8))
        job["distribution"]["scheme"] = r.choice(["telegate", "teledata"])
        job["simulation"]["shots"] = 100
        job["simulation"]["trajectories"] = r.choice([1, 2])
        vary_network(r, job, 8)
        return job, 8
    if jobname == "dqc_ghz_4qpu":
        nq = r.choice([4, 6, 8])
        job["circuit"] = {"generator": r.choice(["ghz", "ghz", "qft", "random"]), "num_qubits": nq}
        if job["circuit"]["generator"] == "random":
            job["circuit"]["depth"] = 3
        job["network"]["node"]["num_data_qubits"] = 2
        job["distribution"]["assignment"] = [i * 4 // nq for i in range(nq)]
        job["distribution"]["scheme"] = r.choice(["telegate", "teledata"])
        if job["distribution"]["scheme"] == "teledata":
            job["network"]["node"]["num_comm_qubits"] = 2
        job["simulation"]["shots"] = 200
        if r.random() < 0.4:
            job["simulation"]["trajectories"] = r.choice([2, 3])
        nodes = 4
    elif jobname == "dqc_teleport_feedforward":
        job["circuit"]["qasm"] = str(WT / "jobs" / "circuits" / "teleport_feedforward.qasm")
        job["simulation"]["shots"] = r.choice([20, 50])
        nodes = 3
    elif jobname == "ising_trotter_4qpu":
        job["model"]["num_sites"] = r.choice([4, 6, 8])
        ns = job["model"]["num_sites"]
        job["network"]["node"]["num_data_qubits"] = 2
        job["distribution"]["assignment"] = [i * 4 // ns for i in range(ns)]
        job["evolution"]["num_points"] = 3
        job["evolution"]["steps_per_point"] = 1
        if r.random() < 0.4:
            job["simulation"]["trajectories"] = 2
        nodes = 4
    elif jobname == "ising_trotter_continued":
        job["evolution"]["num_points"] = r.choice([3, 5])
        job["evolution"]["total_time"] = 1.0
        if r.random() < 0.4:
            job["simulation"]["trajectories"] = 2
        nodes = 3
    elif jobname == "xxz_ring_sweep":
        job["simulation"]["trajectories"] = r.choice([1, 2, 3])
        job["simulation"]["sweep"] = {"parameter": "source_fidelity", "values": [1.0, r.choice([0.95, 0.9])]}
        job["evolution"]["num_points"] = 3
        nodes = 3
    elif jobname == "cloud_queue":
        jobs = job["user_jobs"]
        for uj in jobs:
            uj["shots"] = r.choice([5, 10])
            if "qasm" in uj:
                uj["qasm"] = str(WT / "jobs" / "circuits" / Path(uj["qasm"]).name)
        job["user_jobs"] = r.sample(jobs, r.choice([3, 4, 5]))
        job["scheduler"]["policy"] = r.choice(["fifo", "backfill", "backfill"])
        job["scheduler"]["distribution"] = r.choice(["telegate", "teledata"])
        vary_network(r, job, 8)
        job["network"]["link"]["source_fidelity"] = r.choice([1.0, 0.95])
        job["network"]["node"].pop("t1_s", None)
        job["network"]["node"].pop("t2_s", None)
        return job, None
    elif jobname == "repeater_chain":
        ch = job["chain"]
        k = r.choice([1, 2])
        ch["num_links"] = r.sample([1, 2, 4], k)
        ch["total_distance_km"] = [r.choice([20.0, 50.0, 100.0]) for _ in range(k)]
        ch["num_pairs"] = r.choice([5, 10, 20])
        ch["swapping"] = r.choice(["swap_asap", "nested"])
        ch["purification_rounds"] = r.choice([0, 0, 1])
        ch["link"]["source_fidelity"] = r.choice([1.0, 0.99, 0.95])
        ch["link"]["dark_count_rate_hz"] = r.choice([0.0, 10.0, 100.0])
        ch["node"]["t1_s"] = r.choice([10.0, 1.0, 0.1])
        ch["node"]["t2_s"] = min(ch["node"]["t1_s"], r.choice([1.0, 0.1, 0.05]))
        return job, None
    elif jobname == "qkd_trusted_chain":
        q = job["qkd"]
        q["pulses"] = 200_000
        q["batch_pulses"] = r.choice([50_000, 100_000])
        n = r.choice([2, 3, 4])
        topo = r.choice(["chain", "star"])
        q["network"] = {"topology": topo, "num_nodes": n,
                        "distances_km": [r.choice([5.0, 10.0, 20.0]) for _ in range(n - 1)]}
        q["link"]["dark_count_rate_hz"] = r.choice([0.0, 100.0, 1e4])
        q["protocol"] = r.choice(["bb84_decoy", "bbm92", "e91"])
        if q["protocol"] != "bb84_decoy":
            q["source"] = {"werner": r.choice([1.0, 0.98, 0.95])}
            q["pulses"] = 100_000
            q["batch_pulses"] = r.choice([25_000, 50_000])
        else:
            q["sampling"] = r.choice(["detections", "pulses"])
        q["error_correction"] = r.choice(["model", "cascade"])
        if r.random() < 0.5:
            q["block_pulses"] = q["batch_pulses"]
        q["link"]["misalignment"] = r.choice([0.0, 0.01, 0.03])
        return job, None
    vary_network(r, job, nodes)
    if jobname == "xxz_ring_sweep" and r.random() < 0.5:
        job["network"]["link"]["source_fidelity"] = 1.0
    return job, nodes


def run(job_path, out, ranks, placement=None):
    cmd = [PY, "-m", "dqsim", "run", str(job_path), "-o", str(out), "-q"]
    if ranks > 1:
        cmd = [MPIEXEC, "-n", str(ranks), PY, "-m", "mpi4py", "-m", "dqsim", "run", str(job_path), "-o", str(out), "-q"]
    if placement is not None:
        cmd += ["--set", f"network.placement={json.dumps(placement)}"]
    t = time.time()
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600, cwd=str(job_path.parent))
    return p.returncode, p.stdout + p.stderr, time.time() - t


def eq_arrays(a, b):
    """'' if equal, 'close' if within 1e-12, else a description."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return f"dtype/shape {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
    if a.dtype.names:
        worst = ""
        for f in a.dtype.names:
            d = eq_arrays(a[f], b[f])
            if d and d != "close":
                return f"field {f}: {d}"
            worst = worst or d
        return worst
    if a.dtype.kind in "fc":
        if np.array_equal(a, b, equal_nan=True):
            return ""
        if np.allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True):
            return "close"
        idx = np.argwhere(~np.isclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True))
        i = tuple(idx[0])
        return f"{len(idx)} differ, first at {i}: {a[i]!r} vs {b[i]!r}"
    if np.array_equal(a, b):
        return ""
    idx = np.argwhere(a != b) if a.shape else [()]
    i = tuple(idx[0])
    return f"{len(idx)} differ, first at {i}: {a[i]!r} vs {b[i]!r}"


def eq_values(a, b):
    if isinstance(a, float) and isinstance(b, float):
        if a == b or (math.isnan(a) and math.isnan(b)):
            return ""
        return "close" if abs(a - b) <= 1e-12 * max(1, abs(a)) else f"{a!r} vs {b!r}"
    if isinstance(a, (list, np.ndarray)) or isinstance(b, (list, np.ndarray)):
        try:
            return eq_arrays(np.asarray(a), np.asarray(b))
        except Exception:
            pass
    return "" if a == b else f"{a!r} vs {b!r}"


def compare(ref, other):
    diffs = []
    A, B = open_run(ref), open_run(other)
    for k in sorted(set(A.attrs) | set(B.attrs)):
        if k in IGNORE_ATTRS or k.startswith("engine_") or "seconds" in k or "wall" in k:
            continue
        if k not in A.attrs or k not in B.attrs:
            diffs.append(f"attr {k} only in one")
            continue
        d = eq_values(A.attrs[k], B.attrs[k])
        if d:
            diffs.append(f"attr {k}: {d}")
    if set(A.tables) != set(B.tables):
        diffs.append(f"tables {A.tables} vs {B.tables}")
    for t in A.tables:
        if t in IGNORE_TABLES or t not in B.tables:
            continue
        d = eq_arrays(A.table(t), B.table(t))
        if d:
            diffs.append(f"table {t}: {d}")
    return diffs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=6, help="configurations per job")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random variations")
    parser.add_argument("--scratch", type=Path, required=True, help="folder for the jobs and run files")
    parser.add_argument("jobs", nargs="*", default=JOBS, help=f"jobs (default: all of {JOBS})")
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    r = random.Random(args.seed)
    failed = 0
    with open(args.scratch / f"log-{args.seed}.jsonl", "a") as log:
        for c in range(args.configs):
            for jobname in args.jobs:
                job, nodes = make(jobname, r)
                tag = f"{jobname}-s{args.seed}-c{c}"
                d = args.scratch / tag
                d.mkdir(parents=True, exist_ok=True)
                jp = d / "job.toml"
                jp.write_text(dump(job))
                results = run_variants(r, tag, d, jp, nodes)
                failed += sum(1 for x in results if x.get("rc") or x.get("diffs"))
                log.write(json.dumps({"tag": tag, "job": jobname, "results": results}) + "\n")
                log.flush()
    print(f"{failed} runs failed or differ")
    return 1 if failed else 0


def run_variants(r, tag, d, jp, nodes):
    """Run ``jp`` on 1, 2, 4 ranks (and drawn placements where ``nodes``); compare with the 1-rank run."""
    variants = [(1, None), (2, None), (4, None)]
    if nodes:
        for ranks in (2, 4):
            pl = ([r.randrange(ranks) for _ in range(nodes)] if r.random() < 0.5
                  else [i % ranks for i in range(nodes)])
            pl[r.randrange(nodes)] = ranks - 1
            variants.append((ranks, pl))
    results = []
    ref = None
    for ranks, pl in variants:
        out = d / f"r{ranks}-{'-'.join(map(str, pl)) if pl else 'def'}.h5"
        rc, text, secs = run(jp, out, ranks, pl)
        if rc != 0:
            results.append({"ranks": ranks, "placement": pl, "rc": rc, "err": text[-600:]})
            print(tag, ranks, pl, "FAILED", text[-300:], flush=True)
            continue
        if ref is None:
            ref = out
            results.append({"ranks": ranks, "placement": pl, "ref": True, "secs": secs})
            continue
        diffs = compare(ref, out)
        results.append({"ranks": ranks, "placement": pl, "diffs": diffs, "secs": secs})
        print(tag, ranks, pl, f"{secs:.1f}s", "OK" if not diffs else diffs, flush=True)
    return results


if __name__ == "__main__":
    sys.exit(main())
