"""An independent review of dqsim's quantum cloud scenario (``scenario = "cloud"``): queue, policies, results.

Each check writes a job file, runs it with ``dqsim run`` as a user would (in this process through
``dqsim.cli.main.main``, or under ``mpiexec`` for the rank check), reads the output's tables with h5py and
compares them with what docs/running.md "Quantum cloud" and docs/outputs.md "cloud" promise, recomputed here without
dqsim: the scheduler's rules (a second implementation of the documented selection, FIFO, SJF and EASY
backfilling, replayed job by job on the tables' arrivals, estimates and durations), queueing theory, and the
user jobs' circuits (a numpy state vector and a density matrix of this file's own).

    PYTHONPATH=$PWD .venv/bin/python bench/review_cloud.py [--quick] [check ...]

Checks (default all): arrivals, md1, mg1, mdc, policies, timing, failures, fuzz, results, noisy, units, ranks,
resume.
PASS when |z| <= 3 (statistical figures; a mean wait's standard error by batch means over the jobs in
arrival order) or, for figures that the documented rules fix exactly, when they agree to 1e-9 relative (times
to 1 ps, counts exactly). ``--quick`` runs fewer jobs and shots (larger standard errors) and the rank check on
1 and 2 ranks only.

Sources of the formulas:
  Pollaczek (1930), Khinchine (1932): M/G/1 FIFO mean wait W_q = lambda E[S^2] / (2 (1 - rho)); M/D/1:
    W_q = rho S / (2 (1 - rho)) (Kleinrock, Queueing Systems I (1975), Sec. 5.6).
  Lindley, Proc. Camb. Phil. Soc. 48, 277 (1952): W_{n+1} = max(0, W_n + S_n - A_{n+1}); Kiefer & Wolfowitz
    (1955): FIFO on c servers, each arrival to the earliest free server.
  Little, Oper. Res. 9, 383 (1961): L = lambda W, exact over a horizon that every job leaves inside.
  Utilisation of a stable queue: rho = lambda E[k S] / c (k servers held per job; Kleinrock Sec. 2.1).
  Lifka (1995); Mu'alem & Feitelson, IEEE TPDS 12, 529 (2001): EASY backfilling.
  Eisert, Jacobs, Papadopoulos & Plenio, PRA 62, 052317 (2000): a TeleGate through a Bell-diagonal pair applies
    the pair's Pauli error as an X on the control's copy (-> the gate with the control flipped) and a Z on the
    control; Werner pair of fidelity F: Phi+ with F, the three others (1 - F)/3 each (Werner, PRA 40, 4277 (1989)).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque

import h5py
import numpy as np
from scipy import stats

from dqsim.cli.main import main as dqsim_main  # the command line, in this process (no interpreter start per run)
from dqsim.scenarios.cloud_scheduler import Centre, QueuedJob, simulate_queue  # the fuzz check's system under test

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from review_runner import parse_args  # noqa: E402

QUICK = "--quick" in sys.argv
C_KM_PER_S = 299_792.458
GROUP_INDEX = 1.468          # [network.link].group_index default (docs/running.md)
Z_MAX = 3.0
EXACT_REL = 1e-9
PS = 1e12
WORK = tempfile.mkdtemp(prefix="review-cloud-")
ROWS: list[tuple] = []


# ----------------------------------------------------------------------------- running dqsim as a user
def run_job(name: str, text: str, *extra: str, ranks: int = 1) -> str:
    """Write ``text`` as NAME.toml, run it (``dqsim run``; under mpiexec for ``ranks`` > 1), return the output."""
    job = os.path.join(WORK, f"{name}.toml")
    out = os.path.join(WORK, f"{name}.h5")
    with open(job, "w") as f:
        f.write(text)
    if ranks == 1:
        with contextlib.redirect_stdout(io.StringIO()):
            code = dqsim_main(["run", job, "-o", out, "--quiet", *extra])
        if code != 0:
            raise RuntimeError(f"dqsim run {job} exited {code}")
    else:
        venv = os.path.join(os.getcwd(), ".venv", "bin")
        subprocess.run([os.path.join(venv, "mpiexec"), "-n", str(ranks), os.path.join(venv, "python"), "-m",
                        "mpi4py", "-m", "dqsim", "run", job, "-o", out, "--quiet", *extra], check=True)
    return out


def tables(path: str) -> dict:
    """Every table of the file as numpy structured arrays (strings decoded), and ``attrs``, ``units``,
    ``qpu_names``."""
    out = {"units": {}}
    with h5py.File(path, "r") as f:
        attrs = {}
        listed = json.loads(f.attrs.get("json_attrs", "[]"))
        for key, value in f.attrs.items():
            attrs[key] = json.loads(value) if key in listed else value
        out["attrs"] = attrs
        # the QPUs' names: the node_names dataset (since 2026-12-07 (later)), else the qpu_names attribute
        names = f["node_names"][()] if "node_names" in f else attrs["qpu_names"]
        out["qpu_names"] = [v.decode() if isinstance(v, bytes) else str(v) for v in names]
        for name, obj in f.items():
            if isinstance(obj, h5py.Dataset) and obj.dtype.names:
                data = obj[()]
                cols = {}
                for col in data.dtype.names:
                    values = data[col]
                    if values.dtype == object:
                        values = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values])
                    cols[col] = values
                out[name] = cols
                out["units"][name] = json.loads(obj.attrs["units"]) if "units" in obj.attrs else {}
    return out


def ps(seconds) -> np.ndarray:
    """Seconds of a table -> integer ps (the queue's clock)."""
    return np.rint(np.nan_to_num(np.asarray(seconds, dtype=np.float64)) * PS).astype(np.int64)


def judged(sim: float, se: float | None, ref: float, limit: float) -> tuple[bool, str]:
    """(pass, z text): exact within ``limit`` when ``se`` is None (NaN = NaN), else |z| <= Z_MAX."""
    if se is not None:
        z_value = (sim - ref) / se if se > 0 else (0.0 if sim == ref else math.inf)
        return abs(z_value) <= Z_MAX, f"{z_value:+.2f}"
    both_nan = isinstance(sim, float) and math.isnan(sim) and math.isnan(ref)
    return bool(abs(sim - ref) <= limit) or both_nan, "exact"


def record(check: str, sim: float, se: float | None, ref: float, source: str, *, tol: float | None = None) -> bool:
    """One verdict row; ``se = None``: exact (relative 1e-9, or absolute ``tol``)."""
    ok, z = judged(sim, se, ref, tol if tol is not None else EXACT_REL * max(1.0, abs(ref)))
    shown = f"{sim:.6g}" if se is None else f"{sim:.6g} ± {se:.2g}"
    ROWS.append((check, shown, f"{ref:.6g}", z, "PASS" if ok else "FAIL", source))
    print(f"  {'PASS' if ok else 'FAIL'} {check}: sim {shown}  ref {ref:.6g}  z {z}  [{source}]", flush=True)
    return ok


def verdict(check: str, ok: bool, detail: str, source: str) -> bool:
    """A yes/no verdict row (job-by-job comparisons)."""
    ROWS.append((check, detail, "", "", "PASS" if ok else "FAIL", source))
    print(f"  {'PASS' if ok else 'FAIL'} {check}: {detail}  [{source}]", flush=True)
    return ok


def batch_se(values: np.ndarray, batches: int = 20) -> float:
    """Standard error of the mean of a correlated sequence by batch means (Law & Kelton, Sec. 9.5.3)."""
    size = len(values) // batches
    means = [values[i * size:(i + 1) * size].mean() for i in range(batches)]
    return float(np.std(means, ddof=1) / math.sqrt(batches))


# ----------------------------------------------------------------------------- job files
def header(name: str, seed: int = 11) -> str:
    return f'[run]\nname = "{name}"\nscenario = "cloud"\nseed = {seed}\n'


def network(num_nodes: int, *, topology: str = "line", data: int = 2, comm: int = 2, f: float = 1.0,
            km: float = 1.0, attenuation: float = 0.0, efficiency: float = 1.0, scheme: str = "direct",
            durations: bool = True) -> str:
    """A centre of ``num_nodes`` QPUs; default lossless direct links with Werner pairs of fidelity ``f``; gates of
    50 ns (one qubit) and 200 ns (two), measurements of 1 µs (``durations=False``: the defaults, 0)."""
    sections = {
        "network": {"topology": topology, "num_nodes": num_nodes},
        "network.link": {"distance_km": km, "scheme": scheme, "attenuation_db_per_km": attenuation,
                         "detector_efficiency": efficiency, "source_fidelity": f, "dark_count_rate_hz": 0.0},
        "network.node": {"num_data_qubits": data, "num_comm_qubits": comm, "t1_s": math.inf, "t2_s": math.inf,
                         **({"gate_1q_duration_ps": 50_000, "gate_2q_duration_ps": 200_000,
                             "measure_duration_ps": 1_000_000} if durations else {})},
    }
    return "".join(f"[{name}]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in keys.items())
                   for name, keys in sections.items())


def _toml(value) -> str:
    """A TOML value: strings quoted, infinity as ``inf``."""
    if isinstance(value, str):
        return f'"{value}"'
    return "inf" if value == math.inf else repr(value)


def arrivals(rate: float, num: int, low: int, high: int, *, generators=("ghz",), shots: int = 1,
             priority: int = 0, start: float = 0.0) -> str:
    gens = ", ".join(f'"{g}"' for g in generators)
    return f"""[arrivals]
rate_hz = {rate}
num_jobs = {num}
num_qubits = [{low}, {high}]
generators = [{gens}]
depth = 3
shots = {shots}
priority = {priority}
start_s = {start}
"""


# ----------------------------------------------------------------------------- the documented rules, again
def select(need: int, free: set, neighbours: list, capacity: list):
    """docs/running.md/cloud_scheduler docstring: breadth-first from the lowest free index (neighbours ascending, free
    QPUs only), adding each visited QPU until the data qubits reach ``need``; else from the lowest free index of
    the next connected group of free QPUs; None if none holds enough."""
    tried = set()
    for start in sorted(free):
        if start in tried:
            continue
        chosen, total, seen, todo = [], 0, {start}, deque([start])
        while todo:
            q = todo.popleft()
            chosen.append(q)
            total += capacity[q]
            if total >= need:
                return tuple(sorted(chosen))
            for o in sorted(neighbours[q]):
                if o in free and o not in seen:
                    seen.add(o)
                    todo.append(o)
        tried |= seen
    return None


def replay(jobs: list[dict], policy: str, neighbours: list, capacity: list, shadows: list | None = None) -> dict:
    """The queue as the docs describe it, from each job's ``id``, ``submit``, ``priority``, ``qubits``,
    ``estimate`` and actual ``duration`` (ps): {id: (start, qpus) or None when rejected}.

    At each event time: ends release QPUs, arrivals join (or are rejected when no connected group of the idle
    centre holds them), then the policy starts jobs. fifo: (-priority, submit, id), start in order while they
    fit, the first that does not blocks. sjf: (-priority, estimate, submit, id), the same. backfill: fifo order;
    the head gets a reservation (running jobs released by estimated end, at least now, those of one time
    together, until the head fits: shadow time, reserved set); every later job starts if it fits outside the
    reserved set, or fits on the free QPUs and now + estimate <= shadow time. ``shadows``: gets (head id, shadow
    time) of every reservation.
    """
    everything = set(range(len(capacity)))
    order = sorted(jobs, key=lambda j: (j["submit"], j["id"]))
    if policy == "sjf":
        key = lambda j: (-j["priority"], j["estimate"], j["submit"], j["id"])  # noqa: E731
    else:
        key = lambda j: (-j["priority"], j["submit"], j["id"])  # noqa: E731
    out, waiting, running, free, k = {}, [], [], set(everything), 0  # running: (end, est_end, id, qpus)
    while k < len(order) or running:
        now = min([r[0] for r in running] + ([order[k]["submit"]] if k < len(order) else []))
        for r in [r for r in running if r[0] == now]:
            running.remove(r)
            free |= set(r[3])
        while k < len(order) and order[k]["submit"] == now:
            job = order[k]
            k += 1
            if job.get("refused") or select(job["qubits"], everything, neighbours, capacity) is None:
                out[job["id"]] = None
            else:
                waiting.append(job)
        waiting.sort(key=key)
        started, head = [], None
        for job in waiting:
            qpus = select(job["qubits"], free, neighbours, capacity)
            if qpus is None:
                head = job
                break
            started.append((job, qpus))
            free -= set(qpus)
            running.append((now + job["duration"], now + job["estimate"], job["id"], qpus))
        if head is not None and policy == "backfill":
            ends = sorted({max(r[1], now) for r in running})
            available, shadow, reserved = set(free), None, None
            for end in ends:
                available |= {q for r in running if max(r[1], now) == end for q in r[3]}
                reserved = select(head["qubits"], available, neighbours, capacity)
                if reserved is not None:
                    shadow = end
                    break
            outside = free - set(reserved)
            if shadows is not None:
                shadows.append((head["id"], shadow))
            for job in waiting[waiting.index(head) + 1:]:
                qpus = select(job["qubits"], outside, neighbours, capacity)
                if qpus is None and now + job["estimate"] <= shadow:
                    qpus = select(job["qubits"], free, neighbours, capacity)
                if qpus is not None:
                    started.append((job, qpus))
                    free -= set(qpus)
                    outside -= set(qpus)
                    running.append((now + job["duration"], now + job["estimate"], job["id"], qpus))
        for job, qpus in started:
            waiting.remove(job)
            out[job["id"]] = (now, qpus)
    return out


def centre_of(t: dict, topology: str) -> tuple[list, list]:
    """Neighbours and capacities of the run's centre (line or ring over the attributes' QPU order)."""
    names = list(t["qpu_names"])
    n = len(names)
    edges = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if topology == "ring" and n > 2 else [])
    neighbours = [set() for _ in range(n)]
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    return neighbours, [int(c) for c in t["attrs"]["qpu_data_qubits"]]


def replay_tables(label: str, t: dict, policy: str, topology: str) -> None:
    """Replay the run's queue from its ``jobs`` table and compare start times and QPU sets job by job."""
    jobs_t = t["jobs"]
    neighbours, capacity = centre_of(t, topology)
    names = list(t["qpu_names"])
    jobs = []
    for i in range(len(jobs_t["id"])):
        done = jobs_t["status"][i] != "rejected"
        jobs.append({"id": int(jobs_t["id"][i]), "submit": int(ps(jobs_t["submit_s"][i])),
                     "priority": int(jobs_t["priority"][i]), "qubits": int(jobs_t["num_qubits"][i]),
                     "estimate": int(ps(jobs_t["estimate_s"][i])),
                     "duration": int(ps(jobs_t["end_s"][i]) - ps(jobs_t["start_s"][i])) if done else 0,
                     "refused": jobs_t["status"][i] == "rejected" and "classical" in jobs_t["reason"][i]})
    expected = replay(jobs, policy, neighbours, capacity)
    bad = []
    for i, job in enumerate(jobs):
        got = None if jobs_t["status"][i] == "rejected" else (
            int(ps(jobs_t["start_s"][i])), tuple(sorted(names.index(q) for q in jobs_t["qpus"][i].split(","))))
        if got != expected[job["id"]]:
            bad.append((jobs_t["name"][i], got, expected[job["id"]]))
    waited = int(np.sum(np.nan_to_num(jobs_t["wait_s"]) > 0))
    verdict(f"{label}: start time and QPU set of every job = the documented {policy} rule replayed",
            not bad, f"{len(jobs)} jobs ({waited} waited), {len(bad)} differ" + (f", first {bad[0]}" if bad else ""),
            "docs/running.md 'Quantum cloud', cloud_scheduler docstring")


# ----------------------------------------------------------------------------- checks on any run's tables
def bookkeeping(label: str, t: dict, submitted: int, *, latency_ps: int = 0, setup_ps: int = 0,
                reset_ps: int = 0) -> None:
    """Conservation, the time columns' identities, the metrics, the centre table, Little's law on the tables."""
    j, a = t["jobs"], t["attrs"]
    n = len(j["id"])
    status = list(j["status"])
    counted = a["num_done"] + a["num_failed"] + a["num_rejected"]
    ok = (n == submitted == a["num_jobs"] == counted and set(status) <= {"done", "failed", "rejected"}
          and len(set(j["name"])) == n and sorted(j["id"]) == list(range(n))
          and all(status.count(s) == a[f"num_{s}"] for s in ("done", "failed", "rejected")))
    verdict(f"{label}: every submitted job is in the jobs table once: done, failed or rejected", ok,
            f"{submitted} submitted, {n} rows, {a['num_done']} done + {a['num_failed']} failed + "
            f"{a['num_rejected']} rejected", "docs/outputs.md jobs, attributes")
    started = np.isfinite(j["start_s"])
    sub, st, en = ps(j["submit_s"]), ps(np.where(started, j["start_s"], 0)), ps(np.where(started, j["end_s"], 0))
    done = np.array(status) == "done"
    execs = np.maximum(j["shots"], 1)
    over = setup_ps + (execs - 1) * reset_ps
    worst = 0
    worst = max(worst, int(np.max(np.abs((en - st) - (ps(j["dqc_s"]) + ps(j["overhead_s"]) + latency_ps))[done],
                                  initial=0)))
    worst = max(worst, int(np.max(np.abs(ps(j["overhead_s"]) - over)[done], initial=0)))
    worst = max(worst, int(np.max(np.abs(ps(j["wait_s"]) - (st - sub))[started], initial=0)))
    worst = max(worst, int(np.max(np.abs(ps(j["execution_s"]) * execs - ps(j["dqc_s"]))[done], initial=0)
                        // max(1, int(np.max(execs)))))
    same_counts = all(j["executions"][i] == execs[i] for i in np.flatnonzero(done))
    record(f"{label}: end−start = dqc_s+overhead_s+latency, overhead = setup+(N−1)reset, wait = start−submit, "
           "execution_s = dqc_s/N (worst, ps)", float(worst), None, 0.0, "docs/outputs.md jobs", tol=1.0)
    verdict(f"{label}: executions = max(shots, 1); rejected rows NaN/empty", same_counts and all(
        (not math.isfinite(j["start_s"][i])) and j["qpus"][i] == "" and j["num_qpus"][i] == 0
        for i in range(n) if status[i] == "rejected"), "", "docs/outputs.md jobs")
    # counts: each done job's counts add up to its shots
    c = t["counts"]
    per_job = {}
    for job_id, count in zip(c["job_id"], c["count"]):
        per_job[int(job_id)] = per_job.get(int(job_id), 0) + int(count)
    bad = [int(j["id"][i]) for i in np.flatnonzero(done) if per_job.get(int(j["id"][i]), 0) != j["shots"][i]]
    verdict(f"{label}: counts table sums to each done job's shots", not bad, f"{len(bad)} jobs differ",
            "docs/outputs.md counts")
    # metrics
    first, last = int(sub.min()), int(en[started].max()) if started.any() else int(sub.min())
    makespan = last - first
    busy = int(np.sum((en - st)[started] * j["num_qpus"][started]))
    nq = a["num_qpus"]
    waits = (st - sub)[started]
    record(f"{label}: makespan_s = last end − first submission", a["makespan_s"], None, makespan / PS,
           "docs/running.md 'Quantum cloud'")
    record(f"{label}: utilisation = Σ QPUs×(end−start) / (QPUs × makespan)", a["utilisation"], None,
           busy / (nq * makespan), "docs/running.md 'Quantum cloud'")
    record(f"{label}: throughput_jobs_per_s = done / makespan", a["throughput_jobs_per_s"], None,
           done.sum() / (makespan / PS), "docs/running.md 'Quantum cloud'")
    record(f"{label}: mean_wait_s", a["mean_wait_s"], None, waits.mean() / PS, "docs/running.md 'Quantum cloud'")
    record(f"{label}: median_wait_s", a["median_wait_s"], None, float(np.median(waits)) / PS, "docs/running.md")
    record(f"{label}: max_wait_s", a["max_wait_s"], None, waits.max() / PS, "docs/running.md")
    record(f"{label}: total_epr_pairs = Σ epr_pairs", a["total_epr_pairs"], None, float(j["epr_pairs"].sum()),
           "docs/outputs.md attributes")
    # centre table
    ce = t["centre"]
    names = list(t["qpu_names"])
    held, busy_q = np.zeros(nq, int), np.zeros(nq, np.int64)
    for i in np.flatnonzero(started):
        for q in j["qpus"][i].split(","):
            held[names.index(q)] += 1
            busy_q[names.index(q)] += en[i] - st[i]
    worst = max(np.max(np.abs(ps(ce["busy_s"]) - busy_q)), 0)
    record(f"{label}: centre busy_s per QPU = Σ end−start of its jobs (worst, ps)", float(worst), None, 0.0,
           "docs/outputs.md centre", tol=1.0)
    record(f"{label}: centre utilisation per QPU = busy_s / makespan (worst |diff|)",
           float(np.max(np.abs(ce["utilisation"] - busy_q / makespan))), None, 0.0, "docs/outputs.md centre",
           tol=1e-12)
    verdict(f"{label}: centre num_jobs = jobs that ran on each QPU", list(ce["num_jobs"]) == list(held), "",
            "docs/outputs.md centre")
    # wait distribution
    w = t["wait_distribution"]
    ws = waits / PS
    bins = min(10, len(ws))
    edges = np.linspace(0, ws.max(), bins + 1) if ws.max() > 0 else None
    if edges is None:
        ok = list(w["num_jobs"]) == [len(ws)] and list(w["wait_to_s"]) == [0.0]
    else:
        numbers = [int(np.sum((ws >= edges[b]) & ((ws < edges[b + 1]) if b < bins - 1 else (ws <= edges[b + 1]))))
                   for b in range(bins)]
        ok = list(w["num_jobs"]) == numbers and np.allclose(w["wait_from_s"], edges[:-1], rtol=1e-12)
    verdict(f"{label}: wait_distribution = ≤10 equal bins from 0 to the longest wait", bool(ok),
            f"{len(w['num_jobs'])} bins, {int(np.sum(w['num_jobs']))} jobs", "docs/outputs.md wait_distribution")
    # Little's law on the tables: time averages by an event sweep against lambda W
    horizon = makespan
    arrivals_n = n
    for what, begin, end in (("queue", sub[started], st[started]), ("system", sub[started], en[started])):
        events = sorted([(int(b), 1) for b in begin] + [(int(e), -1) for e in end])
        area, level, prev = 0, 0, first
        for time_ps, step in events:
            area += level * (time_ps - prev)
            level, prev = level + step, time_ps
        time_avg = area / horizon
        lam = len(begin) / horizon
        mean_w = (a["mean_wait_s"] * PS) if what == "queue" else float(np.mean(end - begin))
        record(f"{label}: Little's law L = λW in the {what} (time-average number by a sweep vs λ × mean "
               f"{'wait_s' if what == 'queue' else 'sojourn'})", time_avg, None, lam * mean_w, "Little 1961")
    busy_avg = busy / horizon
    record(f"{label}: time-average busy QPUs (sweep) = utilisation × QPUs", busy_avg, None, a["utilisation"] * nq,
           "Little 1961 (servers)")
    del arrivals_n


# ----------------------------------------------------------------------------- checks
def check_arrivals():
    """[arrivals]: exponential inter-arrival times of mean 1/rate from start_s, generators and sizes uniform."""
    n = 1000 if QUICK else 6000
    rate, start = 2000.0, 0.25
    text = (header("arrivals", 17) + network(4, data=2) + '[scheduler]\npolicy = "fifo"\n'
            + arrivals(rate, n, 1, 2, generators=("ghz", "qft", "ghz"), shots=0, start=start))
    t = tables(run_job("arrivals", text))
    j = t["jobs"]
    submit = np.sort(j["submit_s"])
    gaps = np.diff(np.concatenate([[start], submit]))
    ks = stats.kstest(gaps * rate, "expon")
    record("arrivals: KS p-value of the inter-arrival times (from start_s) vs Exp(rate) (PASS if p > 0.001)",
           ks.pvalue, None, ks.pvalue if ks.pvalue > 1e-3 else 1.0, "Poisson process")
    record("arrivals: mean inter-arrival time × rate", gaps.mean() * rate, 1 / math.sqrt(n), 1.0, "Exp mean")
    sizes = np.bincount(j["num_qubits"], minlength=3)[1:]
    chi = stats.chisquare(sizes)
    record("arrivals: χ² p-value of num_qubits uniform on [1, 2] (PASS if p > 0.001)", chi.pvalue, None,
           chi.pvalue if chi.pvalue > 1e-3 else 1.0, "uniform")
    ghz = np.mean([c.startswith("ghz") for c in j["circuit"]])
    record("arrivals: share of ghz with generators = [ghz, qft, ghz] (repeats weigh)", ghz,
           math.sqrt(2 / 9 / n), 2 / 3, "docs/running.md [arrivals]")
    names = list(j["name"])
    order_ok = names == [f"poisson{i}" for i in range(n)]
    verdict("arrivals: named poisson0, poisson1, ... in arrival order", order_ok, "", "dqsim.jobs.cloud docstring")


def check_md1():
    """M/D/1: two QPUs of two data qubits on a lossless link, every job a 4-qubit GHZ (both QPUs, one server)
    and a fixed set-up: deterministic service."""
    n = 800 if QUICK else 4000
    setup, rate = 1e-3, 600.0
    text = (header("md1", 3) + network(2, data=2) + f'[scheduler]\npolicy = "fifo"\njob_setup_s = {setup}\n'
            + arrivals(rate, n, 4, 4, shots=1))
    t = tables(run_job("md1", text))
    j = t["jobs"]
    service = ps(j["end_s"]) - ps(j["start_s"])
    verdict("md1: deterministic service (every job's end−start the same ps)", service.min() == service.max(),
            f"S = {service[0] / PS * 1e3:.6f} ms", "model")
    s = service[0] / PS
    rho = rate * s
    bookkeeping("md1", t, n, setup_ps=int(setup * PS))
    # Lindley's recursion, job by job, on the table's arrival times
    order = np.argsort(j["submit_s"], kind="stable")
    sub = ps(j["submit_s"])[order]
    w, worst = 0, 0
    waits = ps(j["wait_s"])[order]
    for k in range(len(sub)):
        if k:
            w = max(0, w + int(service[0]) - int(sub[k] - sub[k - 1]))
        worst = max(worst, abs(int(waits[k]) - w))
    record("md1: every job's wait = Lindley's recursion on the table's arrivals (worst, ps)", float(worst), None,
           0.0, "Lindley 1952", tol=1.0)
    wq = rho * s / (2 * (1 - rho))
    waits_s = j["wait_s"][order]
    record(f"md1: mean wait vs Pollaczek–Khinchine ρS/(2(1−ρ)), ρ = {rho:.3f}", waits_s.mean(), batch_se(waits_s),
           wq, "Pollaczek 1930, Khinchine 1932")
    record("md1: utilisation vs ρ = λS (one QPU; s.e. of n exponential gaps)", t["attrs"]["utilisation"],
           rho / math.sqrt(n), rho, "Kleinrock Sec. 2.1")


def check_mg1():
    """M/G/1: two QPUs of one data qubit, every job a Bell pair over a lossy direct link: the heralding
    attempts make the service time random (geometric); Pollaczek–Khinchine with the sample's E[S], E[S²]."""
    n = 600 if QUICK else 3000
    text = (header("mg1", 5) + network(2, data=1, comm=1, km=5.0, attenuation=2.0)
            + '[scheduler]\npolicy = "fifo"\n' + arrivals(1.0, n, 2, 2, shots=1))
    # the rate is set from one run's mean service: a first short run gives E[S]
    probe = tables(run_job("mg1_probe", text.replace("num_jobs = " + str(n), "num_jobs = 40")
                           .replace("rate_hz = 1.0", "rate_hz = 1.0")))
    mean_s = float(np.mean(probe["jobs"]["end_s"] - probe["jobs"]["start_s"]))
    rate = 0.6 / mean_s
    text = text.replace("rate_hz = 1.0", f"rate_hz = {rate:.6g}")
    t = tables(run_job("mg1", text))
    j = t["jobs"]
    service = (j["end_s"] - j["start_s"])
    e1, e2 = service.mean(), np.mean(service ** 2)
    rho = rate * e1
    bookkeeping("mg1", t, n)
    replay_tables("mg1", t, "fifo", "line")
    cv2 = service.var() / e1 ** 2
    ROWS.append(("mg1: service time CV² (info: geometric attempts)", f"{cv2:.3f}", "", "", "info", ""))
    order = np.argsort(j["submit_s"], kind="stable")
    waits = j["wait_s"][order]
    wq = rate * e2 / (2 * (1 - rho))
    record(f"mg1: mean wait vs Pollaczek–Khinchine λE[S²]/(2(1−ρ)), ρ = {rho:.3f}", waits.mean(), batch_se(waits),
           wq, "Pollaczek 1930, Khinchine 1932")
    record("mg1: EPR pairs = 1 per Bell job (lossless heralds counted once)", float(j["epr_pairs"].sum()), None,
           float(n), "docs/running.md: a TeleGate uses one EPR pair")


def check_mdc():
    """M/D/c: four QPUs on a line, every job fits one QPU: FIFO with c = 4 servers, each job to the lowest
    free index; replayed job by job (Kiefer–Wolfowitz), utilisation vs λS/c, Little's law."""
    n = 800 if QUICK else 4000
    setup, c = 1e-3, 4
    rate = 0.75 * c / setup
    text = (header("mdc", 9) + network(c, data=2) + f'[scheduler]\npolicy = "fifo"\njob_setup_s = {setup}\n'
            + arrivals(rate, n, 1, 2, shots=1))
    t = tables(run_job("mdc", text))
    j = t["jobs"]
    bookkeeping("mdc", t, n, setup_ps=int(setup * PS))
    replay_tables("mdc", t, "fifo", "line")
    ks = np.array([1] * n)
    mean_ks = float(np.mean(ks * (j["end_s"] - j["start_s"])))
    rho = rate * mean_ks / c
    record(f"mdc: utilisation vs ρ = λE[kS]/c (c = {c})", t["attrs"]["utilisation"], rho / math.sqrt(n), rho,
           "Kleinrock Sec. 2.1")


def policy_job(policy: str, n: int, seed: int = 21) -> str:
    """A ring of 6 QPUs of 2 data qubits, Poisson jobs of 1-7 qubits (GHZ/QFT, 1-12 shots drawn per generator
    via listed jobs), a listed high-priority job, a job too large for the centre, one with too many bits."""
    listed = ""
    for k, (size, shots, prio, at) in enumerate([(5, 30, 0, 0.0), (6, 5, 2, 1e-4), (3, 40, 0, 1e-4),
                                                 (14, 5, 0, 2e-4), (2, 200, 1, 3e-4), (4, 3, 0, 3e-4)]):
        listed += (f'[[user_jobs]]\nname = "L{k}"\ngenerator = "{"qft" if k % 2 else "ghz"}"\nnum_qubits = {size}\n'
                   f"shots = {shots}\npriority = {prio}\narrival_s = {at}\n")
    return (header(f"pol_{policy}", seed) + network(6, topology="ring", data=2)
            + f'[scheduler]\npolicy = "{policy}"\nshot_reset_s = 2e-6\n[user]\ndistance_km = 3.0\n'
            + arrivals(4000.0, n, 1, 7, generators=("ghz", "qft"), shots=8, start=0.0) + listed)


def check_policies():
    """fifo, sjf and backfill on one stream: every job's start and QPUs replayed from the tables; the orders
    the docs promise checked pairwise; the estimate's form."""
    n = 40 if QUICK else 150
    runs = {}
    for policy in ("fifo", "sjf", "backfill"):
        t = runs[policy] = tables(run_job(f"pol_{policy}", policy_job(policy, n)))
        latency = int(round(GROUP_INDEX * 3.0 / C_KM_PER_S * PS))
        record(f"{policy}: user_latency_ps = n_g L / c for 3 km", float(t["attrs"]["user_latency_ps"]), None,
               float(latency), "docs/running.md [user]", tol=1.0)
        bookkeeping(policy, t, n + 6, latency_ps=int(t["attrs"]["user_latency_ps"]), reset_ps=2_000_000)
        replay_tables(policy, t, policy, "ring")
        j = t["jobs"]
        started = np.flatnonzero(np.isfinite(j["start_s"]))
        if policy in ("fifo", "sjf"):
            key = (lambda i: (-j["priority"][i], j["submit_s"][i], i)) if policy == "fifo" else (
                lambda i: (-j["priority"][i], j["estimate_s"][i], j["submit_s"][i], i))
            bad = [(j["name"][a], j["name"][b]) for a in started for b in started
                   if key(a) < key(b) and j["submit_s"][a] <= j["start_s"][b] and j["start_s"][a] > j["start_s"][b]]
            verdict(f"{policy}: no job starts before one ahead of it in the {policy} order that was waiting "
                    "(blocking)", not bad, f"{len(bad)} pairs" + (f", first {bad[0]}" if bad else ""),
                    "docs/running.md: the first that does not fit blocks the ones behind it")
        rejected = [j["name"][i] for i in range(len(j["id"])) if j["status"][i] == "rejected"]
        verdict(f"{policy}: the 14-qubit job (12 data qubits in the centre) is rejected with a reason",
                rejected == ["L3"] and "12" in j["reason"][list(j["name"]).index("L3")], str(rejected),
                "docs/running.md: rejected when it arrives")
        # estimates: jobs of one circuit on the idle centre: (estimate − latency − overhead) / N is one number
        per_circuit = {}
        for i in started:
            execs = max(int(j["shots"][i]), 1)
            one = (ps(j["estimate_s"][i]) - t["attrs"]["user_latency_ps"] - ps(j["overhead_s"][i])) / execs
            per_circuit.setdefault(j["circuit"][i], []).append(one)
        spread = max(max(v) - min(v) for v in per_circuit.values())
        record(f"{policy}: estimate_s = N × one execution's estimate + overheads + latency (spread per circuit, ps)",
               float(spread), None, 0.0, "docs/running.md: the estimate counts N executions", tol=1.0)
    shape_invariance(runs)


def _shape(qpus: str, names: list, neighbours: list) -> tuple:
    """The links between a QPU set's members in index order (what a job's results may depend on)."""
    idx = sorted(names.index(q) for q in qpus.split(","))
    return tuple((a, b) for a in range(len(idx)) for b in range(a + 1, len(idx)) if idx[b] in neighbours[idx[a]])


def shape_invariance(runs: dict) -> None:
    """docs/running.md, cloud.py: a job's counts, fidelity, time and pairs depend on its circuit, name, the seed and
    the shape of its QPU set only, not on which other jobs ran or when: the same job under two policies on sets of one
    shape gives the same results."""
    compared, bad = 0, []
    cols = ("dqc_s", "epr_pairs", "nonlocal_gates", "fidelity", "engine_runs")
    for p1, p2 in (("fifo", "sjf"), ("fifo", "backfill"), ("sjf", "backfill")):
        t1, t2 = runs[p1], runs[p2]
        neighbours, _ = centre_of(t1, "ring")
        names = list(t1["qpu_names"])
        for i in range(len(t1["jobs"]["id"])):
            if t1["jobs"]["status"][i] != "done" or t2["jobs"]["status"][i] != "done":
                continue
            if _shape(t1["jobs"]["qpus"][i], names, neighbours) != _shape(t2["jobs"]["qpus"][i], names, neighbours):
                continue
            compared += 1
            same = all(t1["jobs"][c][i] == t2["jobs"][c][i] for c in cols)
            same = same and _counts_of(t1, i) == _counts_of(t2, i)
            if not same:
                bad.append((p1, p2, t1["jobs"]["name"][i]))
    verdict("policies: a job on QPU sets of one shape under two policies: same counts, fidelity, dqc_s, pairs",
            compared > 0 and not bad, f"{compared} pairs compared, {len(bad)} differ" + (f", first {bad[0]}" if bad
                                                                                        else ""),
            "cloud.py docstring; docs/running.md 'Jobs on disjoint sets do not interact'")


def check_timing():
    """A Bell job on two QPUs over a lossless 1 km direct link, zero gate times: one execution is a TeleGate,
    6 one-way delays d = n_g L / c (docs/running.md), N executions N × 6d, and the estimate the same; a GHZ-2 on
    one QPU with gate times: h + cx + measurement."""
    d = GROUP_INDEX * 1.0 / C_KM_PER_S
    text = (header("timing", 2) + network(2, data=1, comm=1, durations=False)
            + '[scheduler]\npolicy = "fifo"\n'
            + '[[user_jobs]]\nname = "bell"\ngenerator = "ghz"\nnum_qubits = 2\nshots = 10\n')
    t = tables(run_job("timing", text))
    j = t["jobs"]
    d_ps = round(d * PS)  # the link's delay on the integer ps clock
    record("timing: one TeleGate execution on a lossless link = 6d, d = n_g L / c in whole ps",
           float(ps(j["execution_s"][0])), None, 6 * d_ps, "docs/running.md: a TeleGate ends at 6d", tol=0.5)
    record("timing: the job's estimate = 10 × 6d (lossless link: the estimate is exact) (ps)",
           float(ps(j["estimate_s"][0])), None, 60 * d_ps, "docs/running.md: the estimate", tol=0.5)
    text = (header("timing_local", 2) + network(2, data=2) + '[scheduler]\npolicy = "fifo"\n'
            + '[[user_jobs]]\nname = "g"\ngenerator = "ghz"\nnum_qubits = 2\nshots = 3\n')
    t = tables(run_job("timing_local", text))
    record("timing: a local GHZ-2 execution = h + cx + measurement (ps)", float(ps(t["jobs"]["execution_s"][0])),
           None, 50_000 + 200_000 + 1_000_000, "docs/running.md [network.node] durations", tol=0.5)


def check_failures():
    """A job the centre cannot run (64 classical bits) is rejected on arrival; one whose run fails (a QPU with
    one communication qubit asked to swap entanglement) is `failed`, holds its QPUs for no time, and the queue
    goes on; both are counted once."""
    bits = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[1];\ncreg c[64];\nh q[0];\nmeasure q[0] -> c[63];\n"
    with open(os.path.join(WORK, "bits.qasm"), "w") as f:
        f.write(bits)
    text = (header("failures", 3) + network(4, data=2, comm=1) + '[scheduler]\npolicy = "backfill"\n'
            + '[[user_jobs]]\nname = "q6"\ngenerator = "qft"\nnum_qubits = 6\nshots = 5\n'
            + '[[user_jobs]]\nname = "bits"\nqasm = "bits.qasm"\nshots = 5\n'
            + '[[user_jobs]]\nname = "g2"\ngenerator = "ghz"\nnum_qubits = 2\nshots = 5\n'
            + '[[user_jobs]]\nname = "g8"\ngenerator = "ghz"\nnum_qubits = 8\nshots = 5\narrival_s = 1e-9\n')
    t = tables(run_job("failures", text))
    j = t["jobs"]
    status = dict(zip(j["name"], j["status"]))
    verdict("failures: 64 classical bits rejected, a swap on one communication qubit failed, the rest done",
            status == {"q6": "failed", "bits": "rejected", "g2": "done", "g8": "done"}
            and "classical" in j["reason"][list(j["name"]).index("bits")]
            and "num_comm_qubits" in j["reason"][list(j["name"]).index("q6")], str(status),
            "docs/running.md: rejected on arrival; docs/outputs.md status")
    i = list(j["name"]).index("q6")
    verdict("failures: the failed job holds its QPUs for no time (end = start)", j["end_s"][i] == j["start_s"][i],
            f"start {j['start_s'][i]}, end {j['end_s'][i]}", "cloud_scheduler: released at once")
    bookkeeping("failures", t, 4)
    replay_tables("failures", t, "backfill", "line")


def check_fuzz():
    """The scheduler itself (simulate_queue) against this file's replay of the documented rules on random
    centres (lines, rings, trees, unequal capacities) and random streams: every start and QPU set."""
    cases = 150 if QUICK else 1500
    rng = random.Random(1)
    bad = []
    for case in range(cases):
        n = rng.randint(1, 9)
        edges = set()
        shape = rng.choice(["line", "ring", "tree", "random"])
        for q in range(1, n):
            if shape in ("line", "ring"):
                edges.add((q - 1, q))
            elif shape == "tree":
                edges.add((rng.randrange(q), q))
            elif rng.random() < 0.7:
                edges.add((rng.randrange(q), q))
        if shape == "ring" and n > 2:
            edges.add((0, n - 1))
        capacity = [rng.choice([0, 1, 2, 2, 3]) if shape == "random" else rng.choice([2, 2, 3]) for _ in range(n)]
        centre = Centre.from_edges(n, sorted(edges), data_qubits=capacity)
        neighbours = [set(centre.neighbours[q]) for q in range(n)]
        jobs, durations = [], {}
        t = 0
        for i in range(rng.randint(1, 30)):
            t += rng.choice([0, 0, rng.randint(1, 50)])
            est = rng.randint(1, 100)
            durations[i] = max(0, est + rng.choice([0, 0, rng.randint(-50, 50)]))
            jobs.append(QueuedJob(i, f"j{i}", rng.randint(1, sum(capacity) + 1), t, est, rng.choice([0, 0, 1])))
        for policy in ("fifo", "sjf", "backfill"):
            records = simulate_queue(jobs, policy, centre, lambda job, qpus: durations[job.job_id])
            got = {r.job.job_id: (None if r.status == "rejected" else (r.start_ps, tuple(r.qpus))) for r in records}
            mine = replay([{"id": q.job_id, "submit": q.submit_ps, "priority": q.priority, "qubits": q.num_qubits,
                            "estimate": q.estimate_ps, "duration": durations[q.job_id]} for q in jobs],
                          policy, neighbours, capacity)
            if got != mine:
                bad.append((case, policy))
    late = _exact_estimates(rng, cases)
    verdict("fuzz: backfill with exact estimates and one priority: every head starts by each of its shadow times",
            not late, f"{cases} streams, {len(late)} late" + (f", first {late[0]}" if late else ""),
            "docs/running.md/cloud_scheduler: with exact estimates the head starts at its shadow time or earlier")
    verdict("fuzz: simulate_queue = the documented rules replayed (fifo, sjf, backfill)", not bad,
            f"{cases} random centres and streams × 3 policies, {len(bad)} differ"
            + (f", first {bad[:3]}" if bad else ""), "cloud_scheduler docstring")


def _exact_estimates(rng: random.Random, cases: int) -> list:
    """Backfilling's promise with exact estimates (durations = estimates, one priority), on random centres: the
    heads of all reservations of simulate_queue's schedule (this file's replay, which agrees with it, gives the
    shadow times) start by their shadow times. Returns the late ones (case, job, start, shadow)."""
    late = []
    for case in range(cases):
        n = rng.randint(2, 8)
        centre = Centre.from_edges(n, [(rng.randrange(q), q) for q in range(1, n)],
                                   data_qubits=[rng.choice([1, 2, 3]) for _ in range(n)])
        neighbours = [set(centre.neighbours[q]) for q in range(n)]
        jobs, t = [], 0
        for i in range(rng.randint(5, 40)):
            t += rng.choice([0, rng.randint(1, 30)])
            jobs.append(QueuedJob(i, f"j{i}", rng.randint(1, sum(centre.data_qubits)), t, rng.randint(0, 100)))
        records = simulate_queue(jobs, "backfill", centre, lambda job, qpus: job.estimate_ps)
        start = {r.job.job_id: r.start_ps for r in records}
        shadows: list = []
        replay([{"id": q.job_id, "submit": q.submit_ps, "priority": 0, "qubits": q.num_qubits,
                 "estimate": q.estimate_ps, "duration": q.estimate_ps} for q in jobs], "backfill", neighbours,
               list(centre.data_qubits), shadows)
        late += [(case, job, start[job], shadow) for job, shadow in shadows if start[job] > shadow]
    return late


# ----------------------------------------------------------------------------- the user jobs' results
QASM_A = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
creg c[3];
ry(0.7) q[0];
ry(1.9) q[2];
cx q[0],q[1];
h q[1];
cz q[1],q[2];
rx(0.4) q[0];
cx q[2],q[0];
measure q[0] -> c[0];
measure q[1] -> c[1];
measure q[2] -> c[2];
"""
QASM_B = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'
#: The circuits' gates for this file's simulator: (name, qubits, angle).
GATES_A = [("ry", (0,), 0.7), ("ry", (2,), 1.9), ("cx", (0, 1), None), ("h", (1,), None), ("cz", (1, 2), None),
           ("rx", (0,), 0.4), ("cx", (2, 0), None)]
GATES_B = [("h", (0,), None), ("cx", (0, 1), None)]


def _one(name, angle):
    if name == "h":
        return np.array([[1, 1], [1, -1]], dtype=complex) / math.sqrt(2)
    c, s = math.cos(angle / 2), math.sin(angle / 2)
    if name == "ry":
        return np.array([[c, -s], [s, c]], dtype=complex)
    if name == "rx":
        return np.array([[c, -1j * s], [-1j * s, c]], dtype=complex)
    raise ValueError(name)


def _full(ops: dict, n: int) -> np.ndarray:
    """Kronecker product, qubit k at bit k of the index (qubit 0 least significant)."""
    out = np.array([[1.0 + 0j]])
    for k in reversed(range(n)):
        out = np.kron(out, ops.get(k, np.eye(2)))
    return out


PX = np.array([[0, 1], [1, 0]], dtype=complex)
PZ = np.diag([1.0, -1.0]).astype(complex)


def _gate(name, qubits, angle, n):
    if len(qubits) == 1:
        return _full({qubits[0]: _one(name, angle)}, n)
    c, t = qubits
    zero, one = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    u = PX if name == "cx" else PZ
    return _full({c: zero}, n) + _full({c: one, t: u}, n)


def density(gates, n: int, f: float) -> tuple[np.ndarray, np.ndarray]:
    """(ideal state, density matrix) of the circuit with each two-qubit gate a TeleGate through a Werner pair of
    fidelity f (every qubit on its own QPU): the pair's Bell component Phi+ (F), Psi+ (X), Phi- (Z), Psi- (XZ),
    (1 − F)/3 each; an X on the pair makes the gate act on the flipped control (= the gate then X on the target
    for cx, Z on the target for cz), a Z gives a Z on the control (Eisert et al. 2000)."""
    psi = np.zeros(2 ** n, dtype=complex)
    psi[0] = 1
    rho = np.outer(psi, psi.conj())
    for name, qubits, angle in gates:
        g = _gate(name, qubits, angle, n)
        psi = g @ psi
        rho = g @ rho @ g.conj().T
        if len(qubits) == 2:
            c, t = qubits
            xt = _full({t: PX if name == "cx" else PZ}, n)
            zc = _full({c: PZ}, n)
            out = f * rho
            for err in (xt, zc, xt @ zc):
                out = out + (1 - f) / 3 * err @ rho @ err.conj().T
            rho = out
    return psi, rho


def _distribution(rho: np.ndarray, n: int) -> dict:
    return {format(k, f"0{n}b"): float(np.real(rho[k, k])) for k in range(2 ** n)}


def _chi2(counts: dict, probs: dict, shots: int) -> float:
    """p-value of Pearson's χ² of the counts against the probabilities (cells of expected count < 5 merged)."""
    keys = sorted(probs, key=lambda k: probs[k])
    obs, exp, o, e = [], [], 0, 0.0
    for k in keys:
        o += counts.get(k, 0)
        e += probs[k] * shots
        if e >= 5:
            obs.append(o)
            exp.append(e)
            o, e = 0, 0.0
    if e > 0 and exp:
        obs[-1] += o
        exp[-1] += e
    extra = sum(v for k, v in counts.items() if k not in probs)
    if extra or len(obs) < 2:
        return 0.0 if extra else 1.0
    return float(stats.chisquare(obs, exp).pvalue)


def _counts_of(t, job_id):
    c = t["counts"]
    return {b: int(k) for i, b, k in zip(c["job_id"], c["bitstring"], c["count"]) if i == job_id}


def check_results():
    """Ideal centre (a triangle of QPUs with one data qubit each): counts vs this file's state vector (χ²),
    fidelity 1, EPR pairs = shots × cut gates (telegate 1 per gate, teledata 2), nonlocal_gates = the
    circuit's two-qubit gates (every qubit on its own QPU)."""
    shots = 2000 if QUICK else 20000
    for name, text in (("a.qasm", QASM_A), ("b.qasm", QASM_B)):
        with open(os.path.join(WORK, name), "w") as f:
            f.write(text)
    for scheme, per_gate in (("telegate", 1), ("teledata", 2)):
        text = (header(f"res_{scheme}", 4) + network(3, topology="ring", data=1, comm=2)
                + f'[scheduler]\npolicy = "fifo"\ndistribution = "{scheme}"\n'
                + f'[[user_jobs]]\nname = "A"\nqasm = "a.qasm"\nshots = {shots}\n'
                + f'[[user_jobs]]\nname = "B"\nqasm = "b.qasm"\nshots = {shots}\narrival_s = 1e-6\n'
                + '[[user_jobs]]\nname = "Z"\nqasm = "a.qasm"\nshots = 0\narrival_s = 2e-6\n')
        t = tables(run_job(f"res_{scheme}", text))
        j = t["jobs"]
        for i, (gates, n) in enumerate(((GATES_A, 3), (GATES_B, 2))):
            psi, rho = density(gates, n, 1.0)
            p = _chi2(_counts_of(t, i), _distribution(rho, n), shots)
            record(f"results {scheme}: job {j['name'][i]} counts χ² p-value vs numpy state vector (PASS if > 0.001)",
                   p, None, p if p > 1e-3 else 1.0, "this file's simulator")
            record(f"results {scheme}: job {j['name'][i]} fidelity (ideal centre)", float(j["fidelity"][i]), None,
                   1.0, "F = 1 on ideal links", tol=1e-9)
            verdict(f"results {scheme}: job {j['name'][i]} sampling final-state, 1 engine run, fidelity_stderr NaN",
                    j["sampling"][i] == "final-state" and j["engine_runs"][i] == 1
                    and math.isnan(j["fidelity_stderr"][i]), "", "docs/outputs.md jobs")
            cut = sum(len(q) == 2 for _, q, _ in gates)
            record(f"results {scheme}: job {j['name'][i]} nonlocal_gates = two-qubit gates (one qubit per QPU)",
                   float(j["nonlocal_gates"][i]), None, float(cut), "triangle: every pair adjacent")
            record(f"results {scheme}: job {j['name'][i]} epr_pairs = shots × cut × {per_gate}",
                   float(j["epr_pairs"][i]), None, float(shots * cut * per_gate),
                   "docs/running.md: a TeleGate uses one pair, TeleData two")
        z = 2
        verdict(f"results {scheme}: shots = 0 → 1 execution, no counts, a fidelity",
                j["executions"][z] == 1 and not _counts_of(t, z) and abs(j["fidelity"][z] - 1) < 1e-9
                and j["epr_pairs"][z] == 3 * per_gate, f"executions {j['executions'][z]}, epr {j['epr_pairs'][z]}",
                "docs/running.md: shots = 0 counts as one execution with no counts")


def check_noisy():
    """Werner pairs of F = 0.8 on the triangle, one engine run per shot: fidelity and counts vs this file's
    density matrix of TeleGates through Werner pairs."""
    shots = 300 if QUICK else 2000
    f = 0.8
    with open(os.path.join(WORK, "a.qasm"), "w") as fh:
        fh.write(QASM_A)
    text = (header("noisy", 8) + network(3, topology="ring", data=1, comm=2, f=f)
            + '[scheduler]\npolicy = "fifo"\n[simulation]\ntrajectories = "per_shot"\n'
            + f'[[user_jobs]]\nname = "A"\nqasm = "a.qasm"\nshots = {shots}\n')
    t = tables(run_job("noisy", text))
    j = t["jobs"]
    psi, rho = density(GATES_A, 3, f)
    ref = float(np.real(psi.conj() @ rho @ psi))
    record(f"noisy: fidelity of job A (3 TeleGates through Werner F = {f}), per shot", float(j["fidelity"][0]),
           float(j["fidelity_stderr"][0]), ref, "Eisert et al. 2000; this file's density matrix")
    p = _chi2(_counts_of(t, 0), _distribution(rho, 3), shots)
    record("noisy: counts χ² p-value vs the density matrix's diagonal (PASS if > 0.001)", p, None,
           p if p > 1e-3 else 1.0, "this file's density matrix")
    verdict("noisy: per_shot sampling = one engine run per shot", j["engine_runs"][0] == shots
            and j["sampling"][0] == "per-shot", f"{j['engine_runs'][0]} runs, {j['sampling'][0]}",
            "docs/running.md: one engine run per shot")


def check_units():
    """Every column and attribute that holds a time says its unit in its name (``_s``/``_ps``), and the
    tables' ``units`` attribute names exactly those columns, in seconds."""
    path = os.path.join(WORK, "pol_backfill.h5")
    if not os.path.exists(path):
        run_job("pol_backfill", policy_job("backfill", 20))
    t = tables(path)
    bad = []
    for name in ("jobs", "counts", "centre", "wait_distribution", "timing"):
        units = t["units"][name]
        for col, values in t[name].items():
            timed = col.endswith("_s") or col == "seconds"
            if timed and units.get(col) != "s":
                bad.append(f"{name}.{col} has unit {units.get(col)!r}")
            if not timed and col in units:
                bad.append(f"{name}.{col} has a unit but no _s")
    for key, value in t["attrs"].items():
        if key.endswith("_ps") and not isinstance(value, (int, np.integer)):
            bad.append(f"attr {key} not integer ps")
    timed_words = ("makespan", "wait", "latency", "setup", "reset")
    for key in t["attrs"]:
        if any(w in key for w in timed_words) and not (key.endswith("_s") or key.endswith("_ps")):
            bad.append(f"attr {key} names no unit")
    verdict("units: time columns end in _s with unit s, time attributes in _s/_ps", not bad,
            "; ".join(bad) or "all", "docs/outputs.md 'every unit is in a column's name'")


def _same(a: dict, b: dict, names=("jobs", "counts", "centre", "wait_distribution")) -> list[str]:
    diff = []
    for name in names:
        for col in a[name]:
            x, y = a[name][col], b[name][col]
            if x.dtype.kind == "f":
                if not (x.shape == y.shape and np.array_equal(x, y, equal_nan=True)):
                    diff.append(f"{name}.{col}")
            elif not (x.shape == y.shape and np.array_equal(x, y)):
                diff.append(f"{name}.{col}")
    return diff


def ranks_job() -> str:
    with open(os.path.join(WORK, "a.qasm"), "w") as fh:
        fh.write(QASM_A)
    return (header("ranks", 13) + network(4, topology="ring", data=2, comm=2, f=0.9)
            + '[scheduler]\npolicy = "backfill"\n[simulation]\ntrajectories = 3\n'
            + arrivals(20000.0, 3 if QUICK else 6, 2, 6, generators=("ghz", "qft"), shots=6)
            + '[[user_jobs]]\nname = "A"\nqasm = "a.qasm"\nshots = 5\narrival_s = 1e-5\n')


def check_ranks():
    """The same stream (noisy: trajectories) on 1, 2 and 4 ranks: identical tables (timing aside)."""
    text = ranks_job()
    base = tables(run_job("ranks1", text))
    j = base["jobs"]
    # noisy links (F = 0.9), ideal nodes: a job on two QPUs or more draws noise, one on a single QPU does not
    expected = [("trajectories", min(3, max(int(j["shots"][i]), 1))) if j["num_qpus"][i] > 1 else ("final-state", 1)
                for i in range(len(j["id"]))]
    verdict("ranks job: trajectories = 3 on noisy links: min(3, N) engine runs with a standard error; a job on one "
            "QPU (no link, ideal nodes) one run, final-state",
            [(str(a), int(b)) for a, b in zip(j["sampling"], j["engine_runs"])] == expected
            and all(math.isfinite(j["fidelity_stderr"][i]) == (expected[i][1] > 1) for i in range(len(j["id"]))),
            f"engine_runs {[int(x) for x in j['engine_runs']]}", "docs/running.md: depends on the QPUs the job gets")
    for r in ((2,) if QUICK else (2, 4)):
        other = tables(run_job(f"ranks{r}", text, ranks=r))
        diff = _same(base, other)
        verdict(f"ranks: jobs, counts, centre, wait_distribution identical on 1 and {r} ranks", not diff,
                ", ".join(diff) or f"{len(base['jobs']['id'])} jobs", "DESIGN invariant 5")


def check_resume():
    """A stream checkpointed inside its user jobs, resumed from a checkpoint in the middle: the same tables."""
    text = ranks_job()
    folder = os.path.join(WORK, "ck")
    full = tables(run_job("resume_full", text, "--set", "checkpoint.every_sim_s=2e-5", "--set",
                          f'checkpoint.directory="{folder}"', "--set", "checkpoint.keep=100",
                          "--set", "checkpoint.keep_when_done=true"))
    files = sorted((os.path.join(folder, p) for p in os.listdir(folder) if re.search(r"\.ckpt\d+-\d+\.h5$", p)),
                   key=os.path.getmtime)
    if not files:
        verdict("resume: checkpoints written", False, "none", "[checkpoint]")
        return
    picks = sorted({files[len(files) // 2]} if QUICK else {files[len(files) // 3], files[len(files) // 2],
                                                           files[(2 * len(files)) // 3]})
    # a resume removes the checkpoints after its own: the latest first; the earliest also on two ranks
    for k, path in enumerate(sorted(picks, key=os.path.getmtime, reverse=True) + [min(picks, key=os.path.getmtime)]):
        with h5py.File(path, "r") as f:
            engine_run = int(f.attrs.get("engine_run", -1))
        ranks = 2 if k == len(picks) else 1
        if QUICK and ranks == 2:
            break  # the full run resumes on two ranks too
        out = os.path.join(WORK, f"resumed{k}_{os.path.basename(path)}")
        if ranks == 1:
            with contextlib.redirect_stdout(io.StringIO()):
                code = dqsim_main(["resume", path, "-o", out, "--quiet"])
        else:
            venv = os.path.join(os.getcwd(), ".venv", "bin")
            code = subprocess.run([os.path.join(venv, "mpiexec"), "-n", "2", os.path.join(venv, "python"), "-m",
                                   "mpi4py", "-m", "dqsim", "resume", path, "-o", out, "--quiet"]).returncode
        diff = _same(full, tables(out)) if code == 0 else ["exit code"]
        verdict(f"resume: from checkpoint {os.path.basename(path)} (engine run {engine_run} of "
                f"{full['attrs']['total_engine_runs']}) on {ranks} rank(s) → identical tables", not diff,
                ", ".join(diff) or "same", "DESIGN invariant 6; docs/checkpoints.md")
    shutil.rmtree(folder, ignore_errors=True)


CHECKS = {"arrivals": check_arrivals, "md1": check_md1, "mg1": check_mg1, "mdc": check_mdc,
          "policies": check_policies, "timing": check_timing, "failures": check_failures, "fuzz": check_fuzz, "results": check_results, "noisy": check_noisy,
          "units": check_units, "ranks": check_ranks, "resume": check_resume}


def main(argv: list[str]) -> int:
    names = parse_args("review_cloud.py", CHECKS, argv, __doc__)
    start = time.time()
    os.chdir(os.environ.get("REVIEW_CLOUD_CWD", os.getcwd()))
    print(f"review_cloud: {'quick' if QUICK else 'full'}; load {os.getloadavg()}; work {WORK}", flush=True)
    for name in names:
        t0 = time.time()
        print(f"[{name}]", flush=True)
        CHECKS[name]()
        print(f"  ({name}: {time.time() - t0:.1f} s)", flush=True)
    failed = [r for r in ROWS if r[4] == "FAIL"]
    passed = sum(r[4] == "PASS" for r in ROWS)
    print(f"\n{passed} PASS, {len(failed)} FAIL in {time.time() - start:.0f} s; load {os.getloadavg()}")
    print("\n| check | dqsim | reference | z | verdict | source |\n|---|---|---|---|---|---|")
    for row in ROWS:
        print("| " + " | ".join(str(c) for c in row) + " |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
