"""Repeater chain, dqsim against SeQUeNCe 0.8.5: same line, same links and memories, one run.

A benchmark, not a test: it measures and records, it asserts nothing.

Workload. A line of ``N`` nodes (``N - 1`` links of ``--link-km`` each) makes
``--pairs`` end-to-end pairs between its ends, one after another, by heralded
Barrett-Kok generation at a station in the middle of each link and
entanglement swapping at every repeater. For each size the script prints
dqsim's wall time, SeQUeNCe's, their ratio (dqsim / SeQUeNCe; the issue's
goal is <= 0.1) and the mean delivered fidelity of each, and writes
``bench/results/sequence_chain-<label>-<date>.json``.

Same hardware on both sides:

* fibre: ``--attenuation-db-per-km`` (SeQUeNCe takes dB/m), light at 2e8 m/s
  (SeQUeNCe's constant; dqsim's group index is set to c / 2e8 = 1.499);
* stations: two detectors of efficiency ``--detector-efficiency``, no dark
  counts; the memories emit with efficiency 1, at most ``--source-rate-hz``;
* memories: one per link side, no decoherence (SeQUeNCe coherence time -1,
  dqsim T1 = T2 = inf), no cut-off;
* pairs of fidelity ``--raw-fidelity`` (default 1) and ideal swaps (SeQUeNCe
  memory ``fidelity`` = the raw fidelity and swap ``degradation`` 1; dqsim
  ``source_fidelity``, Werner pairs, no gate or measurement errors).
  SeQUeNCe 0.8.5 chains (``RouterNetTopo`` + ``RequestApp``) stall with
  purification on, because the app ignores ``PURIFIED`` pairs, so the
  request's target fidelity (1e-6) is below every delivered one and no
  purification rule fires; its rules give no way to set the swap degradation
  (``rsvp.py``: a TODO), so this script sets ``EntanglementSwappingA``'s
  default ``degradation`` to 1.

Fidelity with noisy pairs. The two simulators do not share a noise model,
so their fidelities differ by construction, and the script prints both
reference formulas beside them: SeQUeNCe 0.8.5 keeps a fidelity number per
memory and a swap multiplies them (``F = raw^n`` over ``n`` links), while
dqsim swaps exact density matrices, which for Werner pairs gives
``F = 1/4 + 3/4 w^n`` with ``w = (4 raw - 1)/3`` (``F`` Werner). The check is
that each matches its own formula; with ``--raw-fidelity 1`` all four agree.

What differs (and is recorded): SeQUeNCe swaps in a fixed doubling order
(``ResourceManager.generate_load_rules``); dqsim runs ``--dqsim-swapping``
(default ``swap_asap``, the issue's workload; ``nested`` is SeQUeNCe's order
and needs a power-of-two number of links). SeQUeNCe simulates each
Barrett-Kok round with its negotiation messages; dqsim draws the number of
attempts from the geometric distribution (``dqsim.protocols.epr``), so the
simulated times per pair differ and the comparison is wall time per
delivered pair.

dqsim side: the ``repeater`` scenario's public entry point
(:func:`dqsim.scenarios.repeater.run_job` on a job built with
:func:`dqsim.jobs.load_job_text`), the chain size a parameter. Every
memory is a small density matrix (issue 10), so any size runs; a size the
job refuses is recorded with its one-line error.

SeQUeNCe side: ``RouterNetTopo`` from a JSON configuration written here,
one ``RequestApp`` at node 0 asking for one memory with node ``N - 1``; the
run stops once the app has counted ``--pairs`` pairs. It runs in its own
venv (``--sequence-python``, default ``$SEQUENCE_VENV/bin/python`` or
``/work/venvs/sequence/bin/python``), built by ``scripts/sequence_env.sh``,
which this script calls when that interpreter is missing; each size runs in
a child process of that interpreter (this file, ``--sequence-worker``).
Sizes stop growing once one SeQUeNCe run took more than ``--budget-s``.

Timing: ``time.perf_counter()`` around dqsim's ``run_job`` (building the
chain included) and around SeQUeNCe's ``Timeline.init()`` + ``run()`` (the
topology built before). Keep runs short: the dev VM's 2 cores are shared.

Example (from the repository root)::

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD /work/main/.venv/bin/python bench/sequence_chain.py --label vm
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Speed of light in SeQUeNCe's fibre, m/ps (sequence.constants.SPEED_OF_LIGHT).
SEQUENCE_LIGHT_M_PER_PS = 2e-4

#: dqsim group index that gives SeQUeNCe's 2e8 m/s.
GROUP_INDEX = 299_792_458.0 / 2e8

#: Target fidelity of SeQUeNCe's request: below every delivered fidelity (raw_fidelity^links down to
#: 0.99^1023 = 3.4e-5), so no purification rule fires and the app counts every pair.
TARGET_FIDELITY = 1e-6


def werner_chain_fidelity(raw_fidelity: float, num_links: int) -> float:
    """Fidelity of a pair swapped over ``num_links`` Werner pairs of fidelity ``raw_fidelity``.

    Perfect Bell measurements multiply the Werner parameters ``w = (4F - 1)/3``
    (Dür, Briegel, Cirac, Zoller, PRA 59, 169 (1999)), so ``F = 1/4 + 3/4 w^n``:
    the exact figure for dqsim's depolarised pairs and ideal swaps.
    """
    w = (4.0 * raw_fidelity - 1.0) / 3.0
    return 0.25 + 0.75 * w ** num_links


def product_chain_fidelity(raw_fidelity: float, num_links: int) -> float:
    """SeQUeNCe 0.8.5's fidelity bookkeeping: each swap multiplies the fidelities
    (``EntanglementSwappingA.updated_fidelity``, degradation 1 here), so ``F = raw^n``."""
    return raw_fidelity ** num_links


# ------------------------------------------------------------------ SeQUeNCe
def swap_partners(num_nodes: int) -> dict[int, tuple[int, int]]:
    """Interior node -> the (left, right) nodes it swaps, in SeQUeNCe 0.8.5's order.

    The same halving of the path as ``ResourceManager.generate_load_rules``:
    while a node sits at an even position, keep the even positions and the
    last node; its neighbours there are its swap partners.
    """
    partners = {}
    for node in range(1, num_nodes - 1):
        path = list(range(num_nodes))
        while path.index(node) % 2 == 0:
            path = [n for i, n in enumerate(path) if i % 2 == 0 or i == len(path) - 1]
        index = path.index(node)
        partners[node] = (path[index - 1], path[index + 1])
    return partners


def sequence_config(num_nodes: int, args) -> dict[str, Any]:
    """The RouterNetTopo JSON of the chain: routers, meet-in-the-middle links, classical channels."""
    link_m = args.link_km * 1e3
    names = [f"r{i}" for i in range(num_nodes)]
    detector = {"efficiency": args.detector_efficiency, "dark_count": 0, "time_resolution": 150,
                "count_rate": 50e6}
    templates = {
        "router": {"MemoryArray": {"fidelity": args.raw_fidelity, "efficiency": 1.0, "frequency": args.source_rate_hz,
                                   "coherence_time": -1}},
        "station": {"SingleAtomBSM": {"detectors": [detector, detector]}},
    }
    nodes = [{"name": name, "type": "QuantumRouter", "seed": args.seed * 100_003 + i, "template": "router",
              "memo_size": 1 if i in (0, num_nodes - 1) else 2} for i, name in enumerate(names)]
    qconnections = [{"node1": names[i], "node2": names[i + 1], "attenuation": args.attenuation_db_per_km / 1e3,
                     "distance": link_m, "type": "meet_in_the_middle", "seed": args.seed * 100_003 + 50_000 + i,
                     "template": "station"} for i in range(num_nodes - 1)]
    pairs = {(i, i + 1) for i in range(num_nodes - 1)}
    for node, (left, right) in swap_partners(num_nodes).items():
        pairs |= {(left, node), (node, right), (left, right)}
    cconnections = [{"node1": names[a], "node2": names[b], "distance": abs(b - a) * link_m,
                     "delay": int(round(abs(b - a) * link_m / SEQUENCE_LIGHT_M_PER_PS))}
                    for a, b in sorted(pairs)]
    return {"templates": templates, "nodes": nodes, "qconnections": qconnections,
            "cconnections": cconnections, "stop_time": int(args.max_sim_time_s * 1e12)}


def run_sequence(num_nodes: int, args) -> dict[str, Any]:
    """Run SeQUeNCe on the chain until node 0's RequestApp counted ``args.pairs`` pairs."""
    import numpy as np
    from sequence.app.request_app import RequestApp
    from sequence.entanglement_management.swapping import EntanglementSwappingA
    from sequence.kernel.timeline import Timeline
    from sequence.topology.router_net_topo import RouterNetTopo

    # No way through the rules to set the swap degradation (rsvp.py TODO): the default, 0.95, becomes 1.
    EntanglementSwappingA.__init__.__defaults__ = (1, 1.0)
    np.random.seed(args.seed)
    Timeline.seed(args.seed)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(sequence_config(num_nodes, args), fh)
        path = fh.name
    built = time.perf_counter()
    try:
        topo = RouterNetTopo(path)
    finally:
        os.unlink(path)
    tl = topo.get_timeline()
    routers = {r.name: r for r in topo.get_nodes_by_type(RouterNetTopo.QUANTUM_ROUTER)}
    first, last = routers["r0"], routers[f"r{num_nodes - 1}"]
    app = RequestApp(first)
    RequestApp(last)
    fidelities: list[float] = []
    deliveries_ps: list[int] = []
    counted = app.get_memory

    def get_memory(info) -> None:
        before, fidelity = app.memory_counter, float(info.fidelity)  # read before the app frees the memory
        counted(info)
        if app.memory_counter > before:
            fidelities.append(fidelity)
            deliveries_ps.append(int(tl.now()))
            if app.memory_counter >= args.pairs:
                tl.stop()

    app.get_memory = get_memory
    link_delay_ps = args.link_km * 1e3 / SEQUENCE_LIGHT_M_PER_PS
    start_ps = int(4 * num_nodes * link_delay_ps) + 1_000_000  # after the reservation crossed the chain twice
    app.start(f"r{num_nodes - 1}", start_ps, int(args.max_sim_time_s * 1e12) - 1, 1, TARGET_FIDELITY)
    build_s = time.perf_counter() - built
    t0 = time.perf_counter()
    tl.init()
    tl.run()
    wall_s = time.perf_counter() - t0
    return {"num_nodes": num_nodes, "pairs": len(fidelities), "completed": len(fidelities) >= args.pairs,
            "wall_s": wall_s, "build_s": build_s, "events": int(tl.run_counter),
            "fidelity_mean": float(np.mean(fidelities)) if fidelities else None,
            "sim_time_s": tl.now() / 1e12, "first_delivery_s": deliveries_ps[0] / 1e12 if deliveries_ps else None,
            "reservation_start_s": start_ps / 1e12}


def sequence_python(args) -> Path:
    """The SeQUeNCe venv's interpreter, built with scripts/sequence_env.sh when missing."""
    python = Path(args.sequence_python)
    if not python.exists():
        print(f"{python} is missing: running scripts/sequence_env.sh", file=sys.stderr, flush=True)
        env = dict(os.environ, SEQUENCE_VENV=str(python.parent.parent))
        subprocess.run(["bash", str(ROOT / "scripts" / "sequence_env.sh")], check=True, env=env)
    return python


def run_sequence_child(python: Path, num_nodes: int, argv: list[str], timeout_s: float) -> dict[str, Any]:
    """One size in a child process of the SeQUeNCe venv (its result as JSON on the last line)."""
    command = [str(python), str(Path(__file__).resolve()), *argv, "--sequence-worker", str(num_nodes)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {"num_nodes": num_nodes, "status": f"stopped after {timeout_s:g} s (--timeout-s)"}
    if proc.returncode != 0:
        return {"num_nodes": num_nodes, "status": f"failed: {proc.stderr.strip().splitlines()[-1:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------- dqsim
def dqsim_job_text(num_nodes: int, args) -> str:
    """The ``repeater`` job of the same chain."""
    links = num_nodes - 1
    return f"""[run]
name = "sequence_chain_{num_nodes}"
scenario = "repeater"
seed = {args.seed}

[chain]
num_links = {links}
total_distance_km = {links * args.link_km!r}
swapping = "{args.dqsim_swapping}"
num_pairs = {args.pairs}

[chain.link]
scheme = "double_click"
attenuation_db_per_km = {args.attenuation_db_per_km!r}
detector_efficiency = {args.detector_efficiency!r}
dark_count_rate_hz = 0.0
group_index = {GROUP_INDEX!r}
source_rate_hz = {args.source_rate_hz!r}
source_fidelity = {args.raw_fidelity!r}
"""


def run_dqsim(num_nodes: int, args) -> dict[str, Any]:
    """The chain through :func:`dqsim.scenarios.repeater.run_job` on one rank (NumPy)."""
    from dqsim import backend as backend_mod
    from dqsim import comm as comm_mod
    from dqsim.errors import DqsimError
    from dqsim.jobs import load_job_text
    from dqsim.scenarios import repeater

    try:
        job = load_job_text(dqsim_job_text(num_nodes, args), source=f"sequence_chain[{num_nodes} nodes]")
    except DqsimError as exc:
        return {"num_nodes": num_nodes, "status": f"not run: {exc} (larger chains await the small-state "
                                                  "engine of issue 10)"}
    t0 = time.perf_counter()
    out = repeater.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
    wall_s = time.perf_counter() - t0
    summary = out.tables["summary"][0]
    return {"num_nodes": num_nodes, "pairs": int(summary["num_pairs"]), "completed": True, "wall_s": wall_s,
            "events": int(out.attrs["engine_events"]), "fidelity_mean": float(summary["fidelity_mean"]),
            "fidelity_stderr": float(summary["fidelity_stderr"]),
            "sim_time_s": float(summary["simulated_time_ps"]) / 1e12,
            "register_qubits": int(summary["register_qubits"])}


# ---------------------------------------------------------------------- main
def machine_info(argv: list[str]) -> dict[str, Any]:
    cpu_model = None
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    return {"hostname": platform.node(), "cpu_model": cpu_model, "logical_cpus": os.cpu_count(),
            "os": platform.platform(), "python": platform.python_version(),
            "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "command": " ".join([sys.executable] + argv),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()}


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, nargs="+", default=[3, 5, 9, 16, 32, 64, 128, 256, 512, 1024],
                   help="chain sizes in nodes (>= 3)")
    p.add_argument("--pairs", type=int, default=5, help="end-to-end pairs per size")
    p.add_argument("--link-km", type=float, default=2.0)
    p.add_argument("--attenuation-db-per-km", type=float, default=0.2)
    p.add_argument("--detector-efficiency", type=float, default=0.9)
    p.add_argument("--source-rate-hz", type=float, default=80e6)
    p.add_argument("--dqsim-swapping", choices=["swap_asap", "nested"], default="swap_asap")
    p.add_argument("--raw-fidelity", type=float, default=1.0,
                   help="fidelity of each heralded pair (dqsim: Werner pairs; SeQUeNCe: memory fidelity)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-sim-time-s", type=float, default=100.0, help="SeQUeNCe's simulated-time cap")
    p.add_argument("--budget-s", type=float, default=30.0,
                   help="no larger sizes for SeQUeNCe once one run took longer (wall s)")
    p.add_argument("--timeout-s", type=float, default=300.0, help="wall limit of one SeQUeNCe run")
    p.add_argument("--sequence-python", default=os.environ.get(
        "SEQUENCE_VENV", "/work/venvs/sequence").rstrip("/") + "/bin/python")
    p.add_argument("--label", default="vm", help="machine label in the results file name")
    p.add_argument("--out", type=Path, default=None, help="results file (default bench/results/...)")
    p.add_argument("--sequence-worker", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if min(args.nodes) < 3 or args.pairs < 1:
        p.error("--nodes must be >= 3 and --pairs >= 1")
    if not 0.5 < args.raw_fidelity <= 1.0:
        p.error(f"--raw-fidelity {args.raw_fidelity} is outside (0.5, 1]")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.sequence_worker is not None:  # child process in the SeQUeNCe venv
        print(json.dumps(run_sequence(args.sequence_worker, args)), flush=True)
        return 0
    python = sequence_python(args)
    shared = ["--pairs", str(args.pairs), "--link-km", repr(args.link_km), "--attenuation-db-per-km",
              repr(args.attenuation_db_per_km), "--detector-efficiency", repr(args.detector_efficiency),
              "--source-rate-hz", repr(args.source_rate_hz), "--seed", str(args.seed),
              "--raw-fidelity", repr(args.raw_fidelity), "--max-sim-time-s", repr(args.max_sim_time_s)]
    rows, over_budget = [], False
    run_dqsim(3, argparse.Namespace(**{**vars(args), "pairs": 1}))  # warm-up (imports, first kernels): not timed
    print(f"{'nodes':>6} {'dqsim s':>9} {'SeQUeNCe s':>11} {'ratio':>7} {'F dqsim':>16} {'F SeQUeNCe':>11} "
          f"{'F Werner':>9} {'F product':>10}", flush=True)
    for num_nodes in sorted(set(args.nodes)):
        dq = run_dqsim(num_nodes, args)
        if over_budget:
            seq = {"num_nodes": num_nodes, "status": f"not run: a smaller size took over --budget-s "
                                                     f"{args.budget_s:g} s"}
        else:
            seq = run_sequence_child(python, num_nodes, shared, args.timeout_s)
            over_budget = seq.get("wall_s", math.inf) > args.budget_s
        ratio = dq["wall_s"] / seq["wall_s"] if "wall_s" in dq and seq.get("wall_s") else None
        f_werner = werner_chain_fidelity(args.raw_fidelity, num_nodes - 1)
        f_product = product_chain_fidelity(args.raw_fidelity, num_nodes - 1)
        rows.append({"num_nodes": num_nodes, "dqsim": dq, "sequence": seq, "wall_ratio_dqsim_over_sequence": ratio,
                     "fidelity_werner_formula": f_werner, "fidelity_product_formula": f_product})
        f_dq = (f"{dq['fidelity_mean']:.4f}±{dq['fidelity_stderr']:.4f}" if "fidelity_mean" in dq else "-")
        print(f"{num_nodes:>6} {dq.get('wall_s', math.nan):>9.3f} {seq.get('wall_s', math.nan):>11.3f} "
              f"{ratio if ratio is not None else math.nan:>7.3f} {f_dq:>16} "
              f"{seq.get('fidelity_mean') or math.nan:>11.4f} {f_werner:>9.4f} {f_product:>10.4f}", flush=True)
        for side in (dq, seq):
            if "status" in side:
                print(f"        {side['status']}", flush=True)
    date = datetime.date.today().strftime("%Y%m%d")
    out = args.out or ROOT / "bench" / "results" / f"sequence_chain-{args.label}-{date}.json"
    version = subprocess.run([str(python), "-c", "from importlib.metadata import version; print(version('sequence'))"],
                             capture_output=True, text=True).stdout.strip()
    doc = {"benchmark": "sequence_chain", "schema_version": 1, "machine": machine_info([__file__, *argv]),
           "sequence_version": version,
           "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                      if k != "sequence_worker"},
           "notes": NOTES, "runs": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


NOTES = [
    "Both sides: Barrett-Kok links with a midpoint station, 0.2 dB/km, detectors of efficiency 0.9 without dark "
    "counts, light at 2e8 m/s, one memory per link side without decoherence or cut-off, pairs of fidelity "
    "config.raw_fidelity and ideal swaps (SeQUeNCe memory fidelity = raw fidelity, EntanglementSwappingA "
    "degradation set to 1; its RequestApp ignores PURIFIED pairs, so the request's target fidelity 1e-6 keeps "
    "purification off).",
    "Noisy pairs: SeQUeNCe 0.8.5 multiplies fidelity numbers at each swap (fidelity_product_formula = raw^links); "
    "dqsim swaps exact density matrices of Werner pairs (fidelity_werner_formula = 1/4 + 3/4 w^links, "
    "w = (4 raw - 1)/3). Each side is to be compared with its own formula; the models differ.",
    "SeQUeNCe 0.8.5 swaps in its fixed doubling order (ResourceManager.generate_load_rules); dqsim in "
    "--dqsim-swapping order. SeQUeNCe simulates every Barrett-Kok round; dqsim draws the attempts from the "
    "geometric distribution. The comparison is wall time for the same number of delivered pairs.",
    "dqsim wall_s: time.perf_counter() around dqsim.scenarios.repeater.run_job (one rank, NumPy), after one untimed "
    "warm-up run of 3 nodes. SeQUeNCe wall_s: around Timeline.init() + run() in a fresh process per size; build_s: "
    "building RouterNetTopo (its static routing runs Dijkstra from every router) and the apps.",
    "dqsim keeps every memory in a small exact density matrix (no state vector), so every size runs.",
    "Runs kept short; wall times carry whatever else ran on the 2-core dev VM (load_average_at_start).",
]

if __name__ == "__main__":
    raise SystemExit(main())
