"""Boundary-value campaign: every numeric job key at the ends of its range and at 0 and 1, one ``dqsim run`` each.

Not a test (minutes on a 2-core machine): a campaign a reviewer can rerun. For each job under
``jobs/`` (shrunk to seconds with the ``SMALL`` overrides, the sizes the tests use) it walks the
job's pydantic model (:data:`dqsim.jobs.registry.JOB_MODELS`) and lists every scalar int or float
key of every section the job has (or that has defaults). The bounds come from the fields' metadata:
:class:`dqsim.jobs.schema.Bounds` (``bounded_real``/``bounded_int``) or pydantic's ``ge``/``gt``/
``le``/``lt``. Each key is run at: its lower bound (the next float/int above it when open), its upper
bound (the next one below when open; the largest float, or 2**63 - 1 for an int, when there is none),
and 0 and 1 where allowed. ``[network.link]``/``[network.node]`` (and ``[chain.link]``/``[chain.node]``)
are free tables checked by the network's spec classes (``LinkSpec``, ``NodeSpec``), without bounds in
metadata: every numeric field of the spec is probed with the candidates 0, 5e-324, 1 and 1.8e308
(plus 1 - 2**-53 for probabilities, efficiencies, fidelities and alpha, 0.25 for a fidelity, inf for
T1/T2; ints: 0, 1, 2**63 - 1) and the spec checks decide; ``[network]``'s are probed once, on the first
job that has the section, as ``[network]`` is one model in the dqc, trotter and cloud scenarios;
their ``ideal``/``worst`` ends are the guesses of ``FREE_IDEAL``/``FREE_WORST``. Lists of numbers and ``[[...]]`` array entries are not varied.

Sampling: keys a job leaves out whose default is ``None`` are skipped (often a key of another
protocol); a key is run once per value, on the first job of its scenario (of its QKD protocol) in
``jobs/`` order that has it, so the BB84 keys run on ``bb84_decoy_50km``, those of ``[qkd.eve]``
on ``bb84_eve_intercept``, the BBM92 ones on ``bbm92_20km``, and so on; ``--all-jobs`` runs every
job instead.
Each job also runs its baseline and two combinations: every noise/loss key ideal at once, and every
one at its worst allowed value (unbounded ones at 1e6 of their unit).

Each run: ``nice -n 10``, one rank, a timeout (``--timeout``, 60 s), ``-o`` to a scratch file.
Outcomes: ``ok``; ``refused`` (exit 2, one line on stderr naming the key or the reason);
``timeout``; ``crash`` (exit 1, a traceback, a signal, or exit 2 with more than one line); ``bad_number``
(a table value NaN or inf where the baseline's column is finite, or a physically impossible figure:
a probability, QBER, transmittance, gain or fidelity outside [0, 1] (fidelity 1 + 1e-9), a negative
key length or key rate). Prints one line per run, a summary, and writes JSON lines to
``SCRATCH/boundary.jsonl``; exit status 1 when a run is a finding.

Example (from the repository root)::

    PYTHONPATH=$PWD .venv/bin/python bench/boundary_runs.py --scratch /tmp/boundary --workers 2
"""

import argparse
import concurrent.futures
import json
import math
import os
import subprocess
import sys
import time
import tomllib
import typing
from pathlib import Path

import annotated_types
import numpy as np
from pydantic import BaseModel

WT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(WT))
sys.path.insert(0, str(WT / "bench"))
from dqsim.io import open_run  # noqa: E402
from dqsim.jobs.registry import JOB_MODELS  # noqa: E402
from dqsim.jobs.network import LINK_FIELDS, LINK_FLOAT_FIELDS, NODE_FIELDS, NODE_FLOAT_FIELDS  # noqa: E402
from dqsim.jobs.schema import Bounds  # noqa: E402
from dqsim.network.link import LinkSpec  # noqa: E402
from dqsim.network.node import NodeSpec  # noqa: E402

ENV = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(WT))
FLOAT_MAX = sys.float_info.max
INT_MAX = 2**63 - 1

_QKD = ["qkd.pulses=200000", "qkd.batch_pulses=200000"]
#: Per job: the ``--set`` overrides that make it run in about a second (the sizes the tests use).
SMALL = {
    "bb84_decoy_50km": _QKD + ["qkd.block_pulses=200000"],
    "bb84_distance_sweep": _QKD + ["qkd.sweep.distances_km=[0.0, 100.0]"],
    "bb84_eve_intercept": _QKD, "bb84_raman_coexistence": _QKD, "bbm92_20km": _QKD, "bbm92_eve_intercept": _QKD,
    "bbm92_finite_key": _QKD + ["qkd.block_pulses=200000"], "e91_chsh": _QKD, "qkd_trusted_chain": _QKD,
    "cloud_queue": ["simulation.trajectories=1"],
    "dqc_ghz_4qpu": ["simulation.shots=50"],
    "dqc_teleport_feedforward": ["simulation.shots=4"],
    "ising_trotter_4qpu": ["evolution.num_points=2"],
    "ising_trotter_continued": ["evolution.num_points=3"],
    "xxz_ring_sweep": ["evolution.num_points=1", "simulation.trajectories=1"],
    "qft_20q": ["circuit.num_qubits=10", 'simulation.observables=["X0"]', "simulation.shots=100"],
    "quickstart": ["circuit.num_qubits=6", 'simulation.observables=["Z0 Z5"]', "simulation.shots=100"],
    "random_circuit": ["circuit.num_qubits=6", 'simulation.observables=["Z0 Z5"]', "simulation.shots=100"],
    "random_qasm": ["simulation.shots=100"],
    "repeater_chain": ["chain.num_links=[1, 2]", "chain.total_distance_km=[20.0, 40.0]", "chain.num_pairs=10"],
    "teleport_feedforward": ["simulation.shots=100"],
}

#: Free tables (dicts checked by the network's spec classes) whose numeric keys are probed.
FREE_TABLES = {"network": ("link", "node"), "chain": ("link", "node")}
FREE_INTS = [0, 1, INT_MAX]

#: Noise/loss keys: name fragment -> which end is ideal ("low" or "high").
NOISE = [("error", "low"), ("misalignment", "low"), ("dark_count", "low"), ("afterpulse", "low"),
         ("attenuation", "low"), ("loss_db", "low"), ("depolarizing", "low"), ("amplitude_damping", "low"),
         ("dead_time", "low"), ("fidelity", "high"), ("efficiency", "high"), ("werner", "high"),
         ("t1_s", "high"), ("t2_s", "high")]


def toml_value(v):
    if isinstance(v, float):
        return ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    return str(v)


def numeric_type(annotation):
    """(int or float, [metadata]) of a scalar numeric annotation (Optional, Annotated unwrapped), else None."""
    metadata = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            metadata += list(annotation.__metadata__)
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union:
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return None
            annotation = args[0]
        else:
            break
    if annotation in (int, float):
        return annotation, metadata
    return None


def section_type(annotation):
    """The Section subclass of ``annotation`` (Optional unwrapped), else None."""
    if typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def bounds_of(kind, metadata):
    """(low, high, low_open, high_open) from Bounds or annotated_types metadata."""
    low, high, low_open, high_open = -math.inf, math.inf, False, False
    for m in metadata:
        if isinstance(m, Bounds):
            return m.low, m.high, m.low_open, m.high_open
        if isinstance(m, annotated_types.Ge):
            low = m.ge
        elif isinstance(m, annotated_types.Gt):
            low, low_open = m.gt, True
        elif isinstance(m, annotated_types.Le):
            high = m.le
        elif isinstance(m, annotated_types.Lt):
            high, high_open = m.lt, True
    return low, high, low_open, high_open


def boundary_values(kind, low, high, low_open, high_open):
    """The values to try: ends (next representable inside when open; the largest when unbounded), 0 and 1."""
    if kind is int:
        lo = (-INT_MAX if math.isinf(low) else int(low) + low_open)
        hi = (INT_MAX if math.isinf(high) else int(high) - high_open)
        values = [lo, hi, 0, 1]
        inside = [v for v in values if lo <= v <= hi]
    else:
        lo = -FLOAT_MAX if math.isinf(low) else (math.nextafter(low, math.inf) if low_open else float(low))
        hi = FLOAT_MAX if math.isinf(high) else (math.nextafter(high, -math.inf) if high_open else float(high))
        values = [lo, hi, 0.0, 1.0]
        inside = [v for v in values if lo <= v <= hi]
    out = []
    for v in inside:
        if v not in out:
            out.append(v)
    return out


def keys_of(model, raw, prefix=()):
    """(dotted key, kind, bounds or None) of every scalar numeric key of the sections the job has."""
    for name, field in model.model_fields.items():
        here = raw.get(name) if isinstance(raw, dict) else None
        sub = section_type(field.annotation)
        if sub is not None:
            if here is None and field.default is None:
                continue  # an optional section the job leaves out
            yield from keys_of(sub, here or {}, prefix + (name,))
            continue
        num = numeric_type(field.annotation)
        if num is not None:
            if here is None and field.default is None:
                continue  # an optional key the job leaves out (often one of another protocol or mode)
            kind, inner = num
            yield ".".join(prefix + (name,)), kind, bounds_of(kind, list(field.metadata) + inner)
            continue
        if prefix and prefix[-1] in FREE_TABLES and name in FREE_TABLES[prefix[-1]]:
            for key, kind in free_keys(name):
                if key == "distance_km" and prefix[-1] == "chain":
                    continue  # each chain link is total_distance_km / num_links
                yield ".".join(prefix + (name, key)), kind, None


def free_keys(table):
    """(key, int or float) of the numeric keys of a ``link`` or ``node`` free table (LinkSpec/NodeSpec fields)."""
    spec, fields, floats = (LinkSpec, LINK_FIELDS, LINK_FLOAT_FIELDS) if table == "link" else \
        (NodeSpec, NODE_FIELDS, NODE_FLOAT_FIELDS)
    hints = typing.get_type_hints(spec)
    for key in fields:
        if key in floats:
            yield key, float
        elif "int" in str(hints[key]) and "bool" not in str(hints[key]):
            yield key, int


def free_values(key, kind):
    """Probe values of a free-table key (the spec check decides which are allowed)."""
    if kind is int:
        return FREE_INTS
    values = [0.0, 5e-324, 1.0, FLOAT_MAX]
    if any(word in key for word in ("probability", "efficiency", "fidelity", "alpha")):
        values.append(1.0 - 2.0**-53)
    if "fidelity" in key:
        values.append(0.25)
    if key.endswith(("t1_s", "t2_s")):
        values.append(math.inf)
    return values


#: Free-table keys at once in the ``ideal`` and ``worst`` combinations (guessed ends; the spec checks decide).
FREE_IDEAL = {"attenuation_db_per_km": 0.0, "coupling_loss_db": 0.0, "detector_efficiency": 1.0,
              "dark_count_rate_hz": 0.0, "source_fidelity": 1.0, "t1_s": math.inf, "t2_s": math.inf,
              "gate_1q_error_probability": 0.0, "gate_2q_error_probability": 0.0, "measure_error_probability": 0.0}
FREE_WORST = {"attenuation_db_per_km": 10.0, "coupling_loss_db": 30.0, "detector_efficiency": 0.01,
              "dark_count_rate_hz": 1e6, "source_fidelity": 0.25, "t1_s": 1e-6, "t2_s": 1e-6,
              "gate_1q_error_probability": 1.0, "gate_2q_error_probability": 1.0, "measure_error_probability": 1.0}


def ideal_end(key):
    last = key.rsplit(".", 1)[-1]
    for fragment, end in NOISE:
        if fragment in last:
            return end
    return None


def combinations(keys):
    """``ideal`` and ``worst``: every noise/loss key at its ideal end, and at its worst end, at once."""
    ideal, worst = [], []
    for key, kind, bounds in keys:
        end = ideal_end(key)
        if end is None:
            continue
        if bounds is None:
            last = key.rsplit(".", 1)[-1]
            if last in FREE_IDEAL:
                ideal.append(f"{key}={toml_value(FREE_IDEAL[last])}")
                worst.append(f"{key}={toml_value(FREE_WORST[last])}")
            continue
        low, high, low_open, high_open = bounds
        lo = math.nextafter(low, math.inf) if low_open and kind is float else (low + 1 if low_open else low)
        if math.isinf(high):
            hi = math.inf if key.endswith(("t1_s", "t2_s")) else 1e6
        else:
            hi = math.nextafter(high, -math.inf) if high_open and kind is float else (high - 1 if high_open else high)
        good, bad = (lo, hi) if end == "low" else (hi, lo)
        if kind is int:
            good, bad = int(good), int(bad) if not math.isinf(bad) else INT_MAX
        ideal.append(f"{key}={toml_value(good)}")
        worst.append(f"{key}={toml_value(bad)}")
    if "qkd.link.distance_km" in [k for k, _, _ in keys]:
        ideal.append("qkd.link.distance_km=0.0")
    return [("ideal", ideal), ("worst", worst)] if ideal else []


PROB_PREFIXES = ("qber", "gain_", "transmittance", "probability", "success_probability")


def check_tables(path, baseline):
    """Problems in the run file: new NaN/inf, impossible probabilities, fidelities and key lengths."""
    problems = []
    run = open_run(path)
    for name in run.tables:
        if name in ("timing", "timeline"):
            continue
        table = run.table(name)
        if table.dtype.names is None:
            continue
        for field in table.dtype.names:
            col = table[field]
            if col.dtype.kind not in "fi" or col.size == 0:
                continue
            col = col.astype(float)
            finite = np.isfinite(col)
            if not finite.all() and baseline is not None and baseline.get((name, field), False):
                problems.append(f"{name}.{field}: {col[~finite][:3].tolist()} (finite in the baseline)")
            vals = col[finite]
            if vals.size == 0:
                continue
            low, high = float(vals.min()), float(vals.max())
            f = field.lower()
            if (f.startswith(PROB_PREFIXES) or "probability" in f) and "standard_error" not in f:
                if low < 0.0 or high > 1.0 + 1e-12:
                    problems.append(f"{name}.{field} in [{low!r}, {high!r}], outside [0, 1]")
            if "fidelity" in f and (high > 1.0 + 1e-9 or low < -1e-12):
                problems.append(f"{name}.{field} in [{low!r}, {high!r}]")
            if ("key_bits" in f or "key_rate" in f or f in ("sifted_bits", "leakage_bits")) and low < 0.0 \
                    and "standard_error" not in f:
                problems.append(f"{name}.{field} min {low!r} < 0")
    return problems


def finite_columns(path):
    out = {}
    run = open_run(path)
    for name in run.tables:
        table = run.table(name)
        if table.dtype.names is None:
            continue
        for field in table.dtype.names:
            col = table[field]
            if col.dtype.kind in "fi" and col.size:
                out[(name, field)] = bool(np.isfinite(col.astype(float)).all())
    return out


def job_path(job, scratch):
    """The job file to run: ``jobs/JOB.toml``, or for ``cloud_queue`` (whose ``[[user_jobs]]`` ``--set`` cannot
    reach) a copy in ``scratch`` with its first two user jobs at 20 shots."""
    if job != "cloud_queue":
        return f"jobs/{job}.toml"
    from invariance_ranks import dump  # the TOML writer of the invariance campaign
    raw = tomllib.loads((WT / "jobs" / f"{job}.toml").read_text())
    raw["user_jobs"] = [dict(u, shots=20) for u in raw["user_jobs"][:2]]
    path = scratch / f"{job}.toml"
    path.write_text(dump(raw))
    return str(path)


def run_one(job, sets, scratch, tag, timeout):
    out = scratch / f"{job}-{tag}.h5"
    out.unlink(missing_ok=True)
    cmd = ["nice", "-n", "10", sys.executable, "-m", "dqsim", "run", job_path(job, scratch), "-o", str(out),
           "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=WT, env=ENV, capture_output=True, text=True, timeout=timeout)
        rc, stderr = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as e:
        rc, stderr = None, (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
    return {"job": job, "tag": tag, "sets": sets, "rc": rc, "stderr": stderr[-3000:],
            "wall_s": round(time.perf_counter() - t0, 2), "out": str(out)}


def classify(result, baseline):
    rc, lines = result["rc"], [l for l in result["stderr"].splitlines() if l.strip()]
    if rc is None:
        return "timeout", "no end within the timeout"
    if rc == 0:
        try:
            problems = check_tables(result["out"], baseline)
        except Exception as exc:  # noqa: BLE001 - an unreadable output is itself a finding
            return "bad_number", f"output unreadable: {exc}"
        return ("bad_number", "; ".join(problems)) if problems else ("ok", "")
    if rc == 2 and len(lines) == 1 and "Traceback" not in result["stderr"]:
        return "refused", lines[0]
    return "crash", (lines[-1] if lines else f"exit {rc}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/boundary"))
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--all-jobs", action="store_true")
    parser.add_argument("--plan", action="store_true", help="list the runs and stop")
    parser.add_argument("jobs", nargs="*")
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    jobs = args.jobs or sorted(p.stem for p in (WT / "jobs").glob("*.toml"))
    plan, seen = [], set()
    for job in jobs:
        raw = tomllib.loads((WT / "jobs" / f"{job}.toml").read_text())
        scenario = raw.get("run", {}).get("scenario", "circuit")
        variant = (scenario, raw.get("qkd", {}).get("protocol"))
        keys = list(keys_of(JOB_MODELS[scenario], raw))
        plan.append((job, "baseline", []))
        for name, sets in combinations(keys):
            plan.append((job, name, sets))
        for key, kind, bounds in keys:
            if key == "run.seed":
                values = [0, INT_MAX]
            elif bounds is None:
                values = free_values(key, kind)
            else:
                values = boundary_values(kind, *bounds)
            for v in values:
                # [network] is one section model in dqc, trotter and cloud: its free tables are probed once.
                where = ("network",) if key.startswith("network.") and bounds is None else variant
                if not args.all_jobs and (where, key, v) in seen:
                    continue
                seen.add((where, key, v))
                plan.append((job, f"{key}={toml_value(v)}", [f"{key}={toml_value(v)}"]))
    print(f"{len(plan)} runs over {len(jobs)} jobs", flush=True)
    if args.plan:
        for job, tag, sets in plan:
            print(job, tag, " ".join(sets)[:150])
        return 0
    baselines, results = {}, []
    log = (args.scratch / "boundary.jsonl").open("w")
    # Baselines first (their finite columns judge the NaN of the others).
    for job in jobs:
        r = run_one(job, SMALL.get(job, []), args.scratch, "baseline", args.timeout)
        outcome, detail = classify(r, None)
        baselines[job] = finite_columns(r["out"]) if outcome == "ok" else None
        r.update(outcome=outcome, detail=detail)
        results.append(r)
        print(f"{outcome:10s} {r['wall_s']:6.1f}s {job} baseline {detail}", flush=True)
        log.write(json.dumps(r) + "\n")
    todo = [(job, tag, sets) for job, tag, sets in plan if tag != "baseline"]
    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run_one, job, SMALL.get(job, []) + sets, args.scratch,
                               f"{i}", args.timeout) for i, (job, tag, sets) in enumerate(todo)]
        for (job, tag, sets), fut in zip(todo, futures):
            r = fut.result()
            outcome, detail = classify(r, baselines.get(job))
            r.update(outcome=outcome, detail=detail, tag=tag)
            Path(r["out"]).unlink(missing_ok=True)
            results.append(r)
            print(f"{outcome:10s} {r['wall_s']:6.1f}s {job} {tag[:90]} {detail[:300]}", flush=True)
            log.write(json.dumps(r) + "\n")
            log.flush()
    counts = {}
    for r in results:
        counts.setdefault(r["job"], {}).setdefault(r["outcome"], 0)
        counts[r["job"]][r["outcome"]] += 1
    print(json.dumps(counts, indent=1))
    findings = [r for r in results if r["outcome"] in ("crash", "timeout", "bad_number")]
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
