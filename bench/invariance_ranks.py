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
(reported as ``close``; a ``circuit`` run's ``expectation`` table and state may be close, :data:`CLOSE_TABLES`).
``--ranks`` names the rank counts besides 1 (default 2 and 4; ``--ranks 3`` splits the nodes unevenly).
``circuit`` (run only when named) is a random circuit job without a network (:func:`circuit_job`): its saved
state is compared too, and on a rank count that is not a power of two it must be refused in one line.
``qkd_raman_eve`` is a QKD network (or a single-link sweep) with Raman noise
from classical channels on the same fibre and/or an eavesdropper (:func:`qkd_raman_eve`); ``--four F``
runs the 4-rank variants for a fraction F of the configurations only.

With ``--resume`` each configuration instead runs on 1 rank (the reference), then on P ranks with
periodic checkpoints, stopped by SIGUSR1 or run to its end, and one of its cuts is resumed with
``dqsim resume`` on Q != P ranks (:func:`resume_variants`); the resumed output, and the P-rank output
when it ran to its end, are compared with the reference as above.

Prints one line per run and appends one JSON line per configuration to ``SCRATCH/log-SEED.jsonl``
(``log-resume-SEED.jsonl`` with ``--resume``); exit status 1 on a mismatch or a failed run.

Examples (from the repository root; the jobs are those of ``JOBS``)::

    .venv/bin/python bench/invariance_ranks.py --configs 6 --seed 3 --scratch /tmp/inv
    .venv/bin/python bench/invariance_ranks.py --configs 12 --seed 11 --four 0.34 --scratch /tmp/inv qkd_raman_eve
    .venv/bin/python bench/invariance_ranks.py --ranks 3 --configs 2 --seed 21 --scratch /tmp/inv dqc_ghz_4qpu circuit
    .venv/bin/python bench/invariance_ranks.py --resume --configs 2 --seed 12 --four 0.3 --scratch /tmp/inv
"""

import argparse
import json
import math
import os
import random
import shutil
import signal
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
        "xxz_ring_sweep", "repeater_chain", "qkd_trusted_chain", "cloud_queue", "qkd_raman_eve"]
#: Jobs run only when named: ``circuit`` (a random circuit job, :func:`circuit_job`; no network).
MORE_JOBS = ["circuit"]

IGNORE_ATTRS = {"created_utc", "wall_time_s", "job_path", "job_text", "overrides", "overrides_from_job", "num_ranks",
                "rank_of_node", "device", "exchange_path", "compiled_kernels", "dqsim_version", "placement",
                "num_exchanges", "bytes_exchanged_per_rank", "dqsim_commit"}
#: What of a ``circuit`` run may differ within 1e-12 ("close") without counting as a mismatch: its expectation
#: values are sums over the amplitudes, added up by shards and then reduced over the ranks, and its state's gates
#: are fused into blocks planned around the rank bits, so the products differ between rank counts (DESIGN.md
#: invariant 5, "up to floating-point reduction order").
CLOSE_TABLES = {"expectation", "state"}
#: Where a ``circuit`` run on a rank count that is not a power of two must end: status 2 and one line with this.
REFUSED_CIRCUIT = "power-of-two number of ranks"
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


def qkd_raman_eve(r, job):
    """A small QKD network (or a single-link sweep) with Raman noise from classical channels and/or an eavesdropper.

    From ``qkd_trusted_chain.toml``: BB84-decoy, BBM92 or E91 over a chain or star of 2-4 nodes (a quarter of
    the configurations: one link swept over 2-3 distances instead), 1-2 ``[[qkd.classical_channels]]`` (co- or
    counter-propagating, -20 to 3 dBm, 0.1 or 1 nm filter) and/or ``[qkd.eve]`` (intercept-resend in a random,
    Z or X basis, or, BB84 only, beam splitting; 10-100 % of the pulses, tapping at 0 to the shortest link's
    length, or Bob's arm for the entangled protocols); at least one of the two.
    """
    q = job["qkd"]
    q["protocol"] = r.choice(["bb84_decoy", "bb84_decoy", "bbm92", "e91"])
    entangled = q["protocol"] != "bb84_decoy"
    q["pulses"] = 100_000 if entangled else 200_000
    q["batch_pulses"] = r.choice([q["pulses"] // 4, q["pulses"] // 2])
    if r.random() < 0.5:
        q["block_pulses"] = q["batch_pulses"]
    distances = None
    if r.random() < 0.25:
        # a sweep's distances once each (a repeated one is refused); the same draws as before the refusal
        distances = list(dict.fromkeys(r.choice([2.0, 5.0, 10.0, 15.0]) for _ in range(r.choice([2, 3]))))
        q["sweep"] = {"distances_km": distances}
        q.pop("network", None)
        q["link"]["distance_km"] = 10.0
    else:
        n = r.choice([2, 3, 4])
        distances = [r.choice([2.0, 5.0, 10.0, 20.0]) for _ in range(n - 1)]
        q["network"] = {"topology": r.choice(["chain", "star"]), "num_nodes": n, "distances_km": distances}
    q["link"]["dark_count_rate_hz"] = r.choice([0.0, 10.0, 100.0])
    q["link"]["misalignment"] = r.choice([0.0, 0.01, 0.03])
    if entangled:
        position = r.choice([0.5, 0.5, 0.3])
        q["source"] = {"werner": r.choice([1.0, 0.98]), "position": position}
        arm = (1 - position) * min(distances)
    else:
        q["sampling"] = r.choice(["detections", "pulses"])
        arm = min(distances)
    q["error_correction"] = r.choice(["model", "cascade"])
    if r.random() < 0.25:
        q["security"] = "finite_key"
    kinds = r.choice([("raman",), ("eve",), ("raman", "eve")])
    if "raman" in kinds:
        q["classical_channels"] = [{"launch_power_dbm": r.choice([-20.0, -10.0, 0.0, 3.0]),
                                    "direction": r.choice(["co", "counter"]),
                                    "filter_bandwidth_nm": r.choice([0.1, 1.0])}
                                   for _ in range(r.choice([1, 1, 2]))]
    if "eve" in kinds:
        attack = r.choice(["intercept_resend", "intercept_resend"] + ([] if entangled else ["beam_splitting"]))
        eve = {"attack": attack, "fraction": r.choice([0.1, 0.3, 1.0]),
               "distance_km": round(r.random() * arm, 3)}
        if attack == "intercept_resend":
            eve["basis"] = r.choice(["random", "Z", "X"])
        q["eve"] = eve
    return job


def circuit_job(r, job):
    """A ``circuit`` job from ``random_circuit.toml``: a random, QFT or GHZ circuit of 4-10 qubits, 20-50 shots,
    three observables, the final state saved; in 60 % of them noise (trajectories: 2-qubit depolarizing, amplitude
    damping, readout errors)."""
    n = r.choice([4, 6, 8, 10])
    job["circuit"] = {"generator": r.choice(["random", "random", "qft", "ghz"]), "num_qubits": n,
                      "depth": r.choice([4, 8]), "circuit_seed": r.randrange(1, 10_000)}
    if job["circuit"]["generator"] != "random":  # (drawn all the same: the next draws stay those of a random one)
        del job["circuit"]["depth"], job["circuit"]["circuit_seed"]
    job["simulation"] = {"shots": r.choice([20, 50]), "save_state": True,
                         "observables": [f"Z0 Z{n - 1}", f"X{n // 2}", "0.5*Y1 Y2 - 0.25*Z3"]}
    if r.random() < 0.6:
        job["noise"] = {"depolarizing_2q": r.choice([0.01, 0.05]), "amplitude_damping": r.choice([0.0, 0.01]),
                        "readout_error": r.choice([0.0, 0.02])}
    return job


def make(jobname, r):
    base = {"dqc_8node": "dqc_ghz_4qpu", "qkd_raman_eve": "qkd_trusted_chain",
            "circuit": "random_circuit"}.get(jobname, jobname)
    job = tomllib.loads((WT / "jobs" / f"{base}.toml").read_text())
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
        # every num_links with every distance: each distance once (a repeated one is refused); the same draws
        ch["total_distance_km"] = list(dict.fromkeys(r.choice([20.0, 50.0, 100.0]) for _ in range(k)))
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
    elif jobname == "qkd_raman_eve":
        return qkd_raman_eve(r, job), None
    elif jobname == "circuit":
        return circuit_job(r, job), None
    vary_network(r, job, nodes)
    if jobname == "xxz_ring_sweep" and r.random() < 0.5:
        job["network"]["link"]["source_fidelity"] = 1.0
    return job, nodes


def command(ranks, args):
    """``dqsim ARGS -q`` on ``ranks`` ranks (under mpiexec from 2 on)."""
    cmd = [PY, "-m", "dqsim", *map(str, args), "-q"]
    return [MPIEXEC, "-n", str(ranks), PY, "-m", "mpi4py", *cmd[1:]] if ranks > 1 else cmd


def run(job_path, out, ranks, placement=None, extra=()):
    cmd = command(ranks, ["run", job_path, "-o", out, *extra])
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
        if d and not (d == "close" and t in CLOSE_TABLES and A.attrs.get("scenario") == "circuit"):
            diffs.append(f"table {t}: {d}")
    if A.has_state != B.has_state:
        diffs.append("a saved state in one file only")
    elif A.has_state:
        d = eq_arrays(A.state(), B.state())
        if d and not (d == "close" and "state" in CLOSE_TABLES and A.attrs.get("scenario") == "circuit"):
            diffs.append(f"state: {d}")
    return diffs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=6, help="configurations per job")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random variations")
    parser.add_argument("--scratch", type=Path, required=True, help="folder for the jobs and run files")
    parser.add_argument("--four", type=float, default=1.0,
                        help="fraction of the configurations that also run on 4 ranks (default 1: all)")
    parser.add_argument("--ranks", type=lambda text: [int(x) for x in text.split(",")], default=[2, 4],
                        help="rank counts compared with 1 rank, comma-separated (default 2,4; 4 is the one --four "
                             "thins out); a `circuit` job on a count that is not a power of two must be refused")
    parser.add_argument("--resume", action="store_true",
                        help="checkpoint on P ranks, resume on Q != P (resume_variants) instead of the rank runs")
    parser.add_argument("--second", type=float, default=0.0,
                        help="with --resume: fraction of the configurations whose resume is stopped and resumed "
                             "again on a third rank count (default 0)")
    parser.add_argument("jobs", nargs="*", default=JOBS, metavar="JOB",
                        help=f"jobs (default: all of {JOBS}; also {MORE_JOBS})")
    args = parser.parse_args()
    unknown = sorted(set(args.jobs) - {*JOBS, *MORE_JOBS})
    if unknown:
        parser.error(f"unknown job {unknown[0]!r}; choose from {', '.join([*JOBS, *MORE_JOBS])}")
    args.scratch.mkdir(parents=True, exist_ok=True)
    r = random.Random(args.seed)
    failed = 0
    log_name = f"log-{'resume-' if args.resume else ''}{args.seed}.jsonl"
    with open(args.scratch / log_name, "a") as log:
        for c in range(args.configs):
            for jobname in args.jobs:
                job, nodes = make(jobname, r)
                tag = f"{jobname}-s{args.seed}-c{c}"
                d = args.scratch / tag
                d.mkdir(parents=True, exist_ok=True)
                jp = d / "job.toml"
                jp.write_text(dump(job))
                # the 4-rank and resume choices draw from their own stream: the configurations of a seed stay
                # those of the runs before these options
                four = random.Random(f"four-{tag}").random() < args.four
                if args.resume:
                    results = resume_variants(random.Random(f"resume-{tag}"), tag, d, jp, nodes, four,
                                              args.second)
                else:
                    results = run_variants(r, tag, d, jp, nodes, four, args.ranks, jobname == "circuit")
                failed += sum(1 for x in results if x.get("rc") or x.get("diffs"))
                log.write(json.dumps({"tag": tag, "job": jobname, "results": results}) + "\n")
                log.flush()
    print(f"{failed} runs failed or differ")
    return 1 if failed else 0


def drawn_placement(r, ranks, nodes):
    """Each node on a random rank (or round-robin, ``i % ranks``), one node on the last rank."""
    pl = ([r.randrange(ranks) for _ in range(nodes)] if r.random() < 0.5
          else [i % ranks for i in range(nodes)])
    pl[r.randrange(nodes)] = ranks - 1
    return pl


def run_variants(r, tag, d, jp, nodes, four=True, ranks_list=(2, 4), circuit=False):
    """Run ``jp`` on 1 rank and on each of ``ranks_list`` (default 2, 4; and drawn placements where ``nodes``);
    compare with the 1-rank run. A ``circuit`` job on a count that is not a power of two must end with status 2
    and one line naming :data:`REFUSED_CIRCUIT` (``{"refused": ...}``).

    Without ``four`` the 4-rank runs are left out (their placements are still drawn, so that the next
    configurations stay those of a run with them)."""
    variants = [(1, None), *((ranks, None) for ranks in ranks_list)]
    if nodes:
        for ranks in ranks_list:
            variants.append((ranks, drawn_placement(r, ranks, nodes)))
    if not four:
        variants = [(ranks, pl) for ranks, pl in variants if ranks != 4]
    results = []
    ref = None
    for ranks, pl in variants:
        out = d / f"r{ranks}-{'-'.join(map(str, pl)) if pl else 'def'}.h5"
        rc, text, secs = run(jp, out, ranks, pl)
        if circuit and ranks & (ranks - 1):
            lines = text.strip().splitlines()
            good = rc == 2 and len(lines) == 1 and REFUSED_CIRCUIT in lines[0]
            results.append({"ranks": ranks, "refused": lines[-1] if lines else "",
                            **({} if good else {"rc": rc or -1})})
            print(tag, ranks, "refused" if good else "NOT REFUSED IN ONE LINE", text[-300:].strip(), flush=True)
            continue
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


#: Simulated time of one of ``cloud_queue``'s engine runs (an execution of a user job), about: 2-5 ms.
CLOUD_ENGINE_RUN_PS = 4_000_000_000


def checkpoints(folder):
    """The complete checkpoints in ``folder`` (run files with a manifest), oldest first."""
    return sorted(p for p in folder.glob("*.h5")
                  if ".slab" not in p.name and p.with_name(p.name[:-3] + ".manifest.json").exists())


def simulated_end_ps(path):
    """The latest simulated time a run file names (``simulated_time_ps`` or a table's time), ps; 0 if none."""
    A = open_run(path)
    if "simulated_time_ps" in A.attrs:
        return float(A.attrs["simulated_time_ps"])
    latest = 0.0
    for name in A.tables:
        table = A.table(name)
        for field in ("simulated_time_ps", "time_ps", "delivery_time_ps"):
            if table.dtype.names and field in table.dtype.names and len(table):
                latest = max(latest, float(np.nanmax(table[field])))
    return latest


def cut_of(path):
    """``(engine run, boundary ps)`` of a checkpoint from its name ``NAME.HASH.ckptRRR-TTTT.h5``."""
    run_index, boundary = path.name.rsplit(".ckpt", 1)[1].removesuffix(".h5").split("-")
    return int(run_index), int(boundary)


def stop_at(cmd, cwd, folder, ready):
    """Start ``cmd``, send SIGUSR1 once ``ready(checkpoints in folder)``; (exit status, output, stopped)."""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(cwd),
                            start_new_session=True)
    stopped = False
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        if ready(checkpoints(folder)):
            os.kill(proc.pid, signal.SIGUSR1)  # mpiexec (MPICH's hydra) forwards it to the ranks
            stopped = True
            break
        time.sleep(0.02)
    try:
        out, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return proc.returncode, out + err, stopped


def resume_variants(r, tag, d, jp, nodes, four=True, second=0.0):
    """Checkpoint ``jp`` on P ranks, resume a cut on Q != P ranks; compare both with the uninterrupted 1-rank run.

    P -> Q is 1 -> 2 or 2 -> 1, or with ``four`` one of 2 -> 4, 4 -> 2, 4 -> 1, 1 -> 4. The P-rank run
    writes a checkpoint every 1/3..1/8 of the reference's simulated time (``checkpoint.every_sim_s``) and
    either runs to its end, a random one of its checkpoints then resumed ("periodic"), or is stopped with
    SIGUSR1 once a random number of them exist (exit 75), its stop checkpoint resumed ("stop"). On P > 1
    ranks a network job's nodes get a drawn placement in a third of the configurations. In a fraction
    ``second`` of them the resume on Q ranks is itself stopped by SIGUSR1 once it has written a checkpoint
    past its cut, and that stop resumed on R != Q ranks (R one of 1, 2 and, with ``four``, 4); the output
    of that second resume is the one compared."""
    results = []
    ref = d / "ref-r1.h5"
    rc, text, secs = run(jp, ref, 1)
    if rc != 0:
        print(tag, "reference FAILED", text[-300:], flush=True)
        return [{"ranks": 1, "rc": rc, "err": text[-600:]}]
    results.append({"ranks": 1, "ref": True, "secs": secs})
    P, Q = r.choice([(2, 4), (4, 2), (4, 1), (1, 4)] if four else [(1, 2), (2, 1)])
    placement = drawn_placement(r, P, nodes) if nodes and P > 1 and r.random() < 1 / 3 else None
    mode = "stop" if r.random() < 0.4 else "periodic"
    parts = r.randint(3, 8)
    # a cloud run file names no simulated time (its user jobs' engine runs last a few ms each); at least 1 µs,
    # else a checkpoint at nearly every window (1 ps: 80 s for a cloud resume of 5 s, seed 12 of the campaign)
    end_ps = simulated_end_ps(ref) or CLOUD_ENGINE_RUN_PS
    every_s = max(end_ps / parts * 1e-12, 1e-6)
    folder = d / f"ck-{P}to{Q}"
    out_p = d / f"ck-r{P}.h5"
    case = {"from": P, "to": Q, "placement": placement, "mode": mode}
    count = r.randint(1, max(1, parts - 2)) if mode == "stop" else None
    # the reference's latest time can be several engine runs' (trotter's segments): no cut in a run shorter
    # than the interval; then once more with an interval 8 times shorter
    for every_s in (every_s, every_s / 8):
        shutil.rmtree(folder, ignore_errors=True)
        extra = ["--set", f"checkpoint.every_sim_s={every_s!r}", "--set",
                 f"checkpoint.directory={json.dumps(str(folder))}", "--set", "checkpoint.keep=100"]
        if placement is not None:
            extra += ["--set", f"network.placement={json.dumps(placement)}"]
        case["every_sim_s"] = every_s
        t = time.time()
        if mode == "periodic":
            rc, text, _ = run(jp, out_p, P, extra=extra)
            stopped = False
        else:
            rc, text, stopped = stop_at(command(P, ["run", jp, "-o", out_p, *extra]), jp.parent, folder,
                                        lambda found: len(found) >= count)
            case["stop_after"] = count
        case["secs_p"], case["rc_p"] = time.time() - t, rc
        if rc not in ((75, 0) if stopped else (0,)):
            print(tag, case, "checkpointed run FAILED", text[-300:], flush=True)
            return [*results, {**case, "rc": rc, "err": text[-600:]}]
        if rc == 0:  # ran to its end (a stop that came too late resumes a periodic checkpoint)
            case["diffs_p"] = compare(ref, out_p)
            case["mode"] = "periodic" if mode == "periodic" else "stop-too-late"
        found = checkpoints(folder)
        case["checkpoints"] = len(found)
        if found:
            break
        case["no_checkpoint_at"] = every_s
    if not found:
        print(tag, case, "no checkpoint written", flush=True)
        return [*results, {**case, "skipped": "no checkpoint"}]
    cut = found[-1] if rc == 75 else r.choice(found)
    case["cut_ps"] = int(open_run(cut).attrs["window_end_ps"])
    case["cut"] = cut.name
    out_q = d / f"resumed-r{Q}.h5"
    hop = r.random() < second  # drawn after the draws above: a seed's other choices stay those without --second
    t = time.time()
    if hop:
        R = r.choice([x for x in ((1, 2, 4) if four else (1, 2)) if x != Q])
        started, first = time.time(), cut_of(cut)
        rc, text, stopped = stop_at(command(Q, ["resume", cut, "-o", out_q]), jp.parent, folder,
                                    lambda found: any(cut_of(f) > first and f.stat().st_mtime >= started
                                                      for f in found))
        case["rc_q"] = rc
        if rc == 75:
            later = [f for f in checkpoints(folder) if f.stat().st_mtime >= started and cut_of(f) > first]
            cut2 = max(later, key=cut_of)
            case.update(to2=R, cut2=cut2.name)
            out_q = d / f"resumed-r{Q}-r{R}.h5"
            p = subprocess.run(command(R, ["resume", cut2, "-o", out_q]), env=ENV, capture_output=True, text=True,
                               timeout=600, cwd=str(jp.parent))
            rc, text = p.returncode, p.stdout + p.stderr
        elif rc == 0:
            case["second_stop"] = "too late"
    else:
        p = subprocess.run(command(Q, ["resume", cut, "-o", out_q]), env=ENV, capture_output=True, text=True,
                           timeout=600, cwd=str(jp.parent))
        rc, text = p.returncode, p.stdout + p.stderr
    case["secs_q"] = time.time() - t
    if rc != 0:
        print(tag, case, "resume FAILED", text[-300:], flush=True)
        return [*results, {**case, "rc": rc, "err": text[-600:]}]
    case["diffs"] = compare(ref, out_q) + [f"checkpointed run: {x}" for x in case.get("diffs_p", [])]
    hops = f"{P}->{Q}" + (f"->{case['to2']}" if "to2" in case else " (second stop too late)" if hop else "")
    print(tag, hops, case["mode"], f"cut {case['cut_ps']} ps of {case['checkpoints']}",
          "OK" if not case["diffs"] else case["diffs"], flush=True)
    return [*results, case]


if __name__ == "__main__":
    sys.exit(main())
