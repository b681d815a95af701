"""Benchmark of dqsim's event engine on an EPR-heavy ring: events, windows, flushes, state updates.

A benchmark, not a test: it measures and records, it asserts nothing.

Workload. ``--nodes`` QPU nodes (default 16) sit on a ring joined by 5 km
links (``--distance-km``; every other field at the :class:`LinkSpec`
defaults, i.e. ``double_click``). Every node makes EPR pairs with its
clockwise neighbour (as the initiator, :func:`dqsim.protocols.epr.epr_initiator`)
and serves its anticlockwise neighbour (as the responder,
:func:`~dqsim.protocols.epr.epr_responder`). After each heralded pair both
ends measure their own half in Z (``--free measure``, the default: the
node blocks until a flush resolves the outcome) and reset it to |0⟩; with
``--free reset`` they only reset it (nothing blocks, so flushes happen at
window ends only). One *round* gives every link one pair, so a run makes
``nodes × rounds`` pairs and, with ``--free measure``, ``2 × nodes × rounds``
measurements.

Tiers. By default (``--tier small``) every communication qubit lives in a
small exact density matrix (DESIGN.md invariant 2) and there is no register,
so rings of thousands of nodes run. ``--tier register`` puts the whole
network in one state vector, the design before small states: a state vector
of ``2 × nodes`` communication qubits (32 for 16 nodes) does not fit, so the
default design (``--comm-qubits 1``) gives each
node one communication qubit and alternates its role: in phase ``p`` (two
phases per round) node ``i`` initiates to ``i + 1`` when ``i + p`` is even
and serves ``i − 1`` otherwise. Neighbours then always take opposite roles,
which needs an even number of nodes; the register is ``nodes`` qubits (16).
``--comm-qubits 2`` runs both roles at once on two qubits per node (one
initiator process, one responder process), a register of ``2 × nodes``
qubits; use it with at most 9 nodes. Registers above
``--max-register-qubits`` (18) are refused.

Driver (default mode): for every rank count in ``--ranks`` (1 2 4) it starts
this file in worker mode, under the ``mpiexec`` beside ``sys.executable`` (a
plain subprocess for one rank) with ``OMP_NUM_THREADS=1`` and
``NUMBA_NUM_THREADS=1``, each with its own timeout; then it checks that the
simulated results (end time, pairs per link) are identical across rank
counts, writes ``bench/results/network_bench-<label>-<YYYYMMDD>.json`` and
prints a table.

Worker (``--mode worker``): warms the state kernels up on a scratch register
(so numba's compile or cache load is not timed), then ``--repeats`` times
(3) builds the ring, a fresh :class:`~dqsim.state.sharded.ShardedState` and
:class:`~dqsim.engine.Simulator` (nodes on ranks in contiguous blocks, as
``dqsim.scenarios.dqc`` does; no timeline, no T1/T2), runs it and records
:class:`~dqsim.engine.RunStatistics` plus every rank's flush and state
seconds. Rank 0 writes the repeat of median wall time to ``--out``, with the
wall times of all repeats and whether the repeats agreed.

Examples (from the repository root)::

    .venv/bin/python bench/network_bench.py                          # 16 nodes, 50 rounds, ranks 1 2 4
    .venv/bin/python bench/network_bench.py --rounds 10 --ranks 1 2  # quick
    .venv/bin/python bench/network_bench.py --nodes 8 --comm-qubits 2
    .venv/bin/python bench/network_bench.py --free reset             # no blocking measurements
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import shlex
import socket
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:  # state_bench sits beside this file; importing it runs nothing
    sys.path.insert(0, str(BENCH_DIR))

from state_bench import _env, _run, machine_info, run_as_worker  # noqa: E402

ROOT = BENCH_DIR.parent
DEFAULT_RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_NODES = 16
DEFAULT_ROUNDS = 50
DEFAULT_RANKS = (1, 2, 4)
DEFAULT_DISTANCE_KM = 5.0
#: Largest register the benchmark builds by default: 2^18 complex128 amplitudes are 4 MiB.
DEFAULT_MAX_REGISTER_QUBITS = 18
SCHEMA_VERSION = 1


# --------------------------------------------------------------------------- workload
def ring_link_tag(left: int, index: int) -> tuple:
    """Tag of the ``index``-th pair on the link from node ``left`` to its clockwise neighbour."""
    return ("ring", left, index)


def free_qubit(ctx, qubit: int, free: str, record: list, key: tuple):
    """Measure ``qubit`` in Z (blocks the node) and reset it, or only reset it; yields engine commands."""
    if free == "measure":
        (outcome,) = yield ctx.measure([qubit])
        record.append((*key, int(outcome)))
    ctx.reset([qubit])


def alternating_node(ctx, *, num_nodes: int, num_rounds: int, link, qubit_of_node, free: str, record: list):
    """One communication qubit per node; in phase ``p`` it initiates to the right when ``node + p`` is even.

    Otherwise it serves its left neighbour. Two phases make one round.
    """
    from dqsim.protocols.epr import epr_initiator, epr_responder  # noqa: PLC0415

    me = ctx.node
    right, left = (me + 1) % num_nodes, (me - 1) % num_nodes
    qubit = qubit_of_node(me)
    for phase in range(2 * num_rounds):
        pair_index = phase // 2
        if (me + phase) % 2 == 0:
            yield from epr_initiator(ctx, right, link, qubit, ring_link_tag(me, pair_index))
            key = (me, pair_index, "initiator")
        else:
            yield from epr_responder(ctx, left, qubit, ring_link_tag(left, pair_index))
            key = (left, pair_index, "responder")
        yield from free_qubit(ctx, qubit, free, record, key)


def initiator_loop(ctx, *, num_nodes: int, num_rounds: int, link, qubit: int, free: str, record: list):
    """Two-qubit design: ``num_rounds`` pairs with the clockwise neighbour on ``qubit``."""
    from dqsim.protocols.epr import epr_initiator  # noqa: PLC0415

    me = ctx.node
    right = (me + 1) % num_nodes
    for pair_index in range(num_rounds):
        yield from epr_initiator(ctx, right, link, qubit, ring_link_tag(me, pair_index))
        yield from free_qubit(ctx, qubit, free, record, (me, pair_index, "initiator"))


def responder_loop(ctx, *, num_nodes: int, num_rounds: int, qubit: int, free: str, record: list):
    """Two-qubit design: serve ``num_rounds`` pairs of the anticlockwise neighbour on ``qubit``."""
    from dqsim.protocols.epr import epr_responder  # noqa: PLC0415

    left = (ctx.node - 1) % num_nodes
    for pair_index in range(num_rounds):
        yield from epr_responder(ctx, left, qubit, ring_link_tag(left, pair_index))
        yield from free_qubit(ctx, qubit, free, record, (left, pair_index, "responder"))


def register_qubits(num_nodes: int, comm_qubits: int) -> int:
    """Size of the global register: one or two communication qubits per node."""
    return num_nodes * comm_qubits


def check_design(num_nodes: int, comm_qubits: int, max_register_qubits: int, tier: str = "small") -> str | None:
    """Why (num_nodes, comm_qubits) cannot run, or ``None`` when it can."""
    if num_nodes < 3:
        return f"--nodes = {num_nodes}: a ring needs at least 3 nodes"
    if comm_qubits == 1 and num_nodes % 2:
        return (f"--nodes = {num_nodes} with --comm-qubits 1: neighbours alternate roles, "
                "which needs an even number of nodes")
    n = register_qubits(num_nodes, comm_qubits)
    if tier == "register" and n > max_register_qubits:
        return (f"register of {n} qubits ({num_nodes} nodes x {comm_qubits}) exceeds "
                f"--max-register-qubits = {max_register_qubits}")
    return None


def outcome_summary(entries: list[tuple]) -> dict:
    """Agreement of the two Z outcomes of every pair, and a fingerprint of all outcomes."""
    by_pair: dict[tuple, dict] = {}
    for left, pair_index, role, outcome in entries:
        by_pair.setdefault((left, pair_index), {})[role] = outcome
    complete = [p for p in by_pair.values() if len(p) == 2]
    agree = sum(p["initiator"] == p["responder"] for p in complete)
    digest = hashlib.sha256(repr(sorted(entries)).encode()).hexdigest()[:16]
    return {"num_measurements": len(entries), "num_pairs_measured": len(complete),
            "num_pairs_agreeing": agree,
            "agreement_fraction": agree / len(complete) if complete else None,
            "fingerprint": digest}


# --------------------------------------------------------------------------- worker
def warm_up_kernels(comm, backend, args) -> float:
    """Compile (or load from cache) the state kernels a run uses, outside the timed run (collective).

    Runs the operations of one pair (H, CX, Z measurement, reset) on a
    separate small register, so the first flush of the timed run does not pay
    the JIT. Returns the seconds it took (maximum over ranks).
    """
    from dqsim.state.gates import gate_op  # noqa: PLC0415
    from dqsim.state.sharded import ShardedState  # noqa: PLC0415

    started = time.perf_counter()
    if args.tier == "small":  # no register: communication qubits are small states
        return 0.0
    scratch = ShardedState(max(4, comm.size.bit_length() + 2), comm, precision=args.precision, backend=backend,
                           seed=args.seed)
    top = scratch.num_qubits - 1
    for a, b in ((0, 1), (0, top)):  # a local pair and one across a rank bit
        scratch.apply(gate_op("h", [a]))
        scratch.apply(gate_op("cx", [a, b]))
        scratch.measure([a, b])
        scratch.reset(a)
        scratch.reset(b)
    del scratch
    return comm.allreduce_max(time.perf_counter() - started)


def run_once(args, comm, backend) -> dict:
    """Build the ring, the state and the simulator, and run it once (collective).

    Returns the run's record on rank 0 and ``{}`` elsewhere.
    """
    from dqsim.engine import Simulator  # noqa: PLC0415
    from dqsim.network.link import LinkSpec  # noqa: PLC0415
    from dqsim.network.topology import ring  # noqa: PLC0415
    from dqsim.network.network import Network  # noqa: PLC0415
    from dqsim.network.node import NodeSpec  # noqa: PLC0415
    from dqsim.state.sharded import ShardedState  # noqa: PLC0415

    setup_start = time.perf_counter()
    num_nodes, num_rounds, comm_qubits = args.nodes, args.rounds, args.comm_qubits
    link = LinkSpec(distance_km=args.distance_km)
    graph = ring(num_nodes, link=link)
    names = sorted(graph.nodes, key=lambda name: graph.nodes[name]["index"])
    network = Network(graph, [NodeSpec(name=name) for name in names], num_ranks=comm.size)
    rank_of_node = network.placement.tolist()

    num_qubits = register_qubits(num_nodes, comm_qubits)
    owner = [q // comm_qubits for q in range(num_qubits)]
    if args.tier == "small":  # DESIGN.md invariant 2: every communication qubit in a small state
        state, num_data = None, 0
    else:  # the whole network in one state vector (the design before small states)
        state = ShardedState(num_qubits, comm, precision=args.precision, backend=backend, seed=args.seed)
        num_data = None
    sim = Simulator(network, comm=comm, state=state, qubit_owner=owner, seed=args.seed, record_timeline=False,
                    num_data_qubits=num_data)
    record_outcomes: list[tuple] = []
    common = dict(num_nodes=num_nodes, num_rounds=num_rounds, free=args.free, record=record_outcomes)
    for node in range(num_nodes):
        if comm_qubits == 1:
            sim.spawn(node, lambda ctx: alternating_node(ctx, link=link, qubit_of_node=lambda i: i, **common))
        else:
            sim.spawn(node, lambda ctx, q=2 * node: initiator_loop(ctx, link=link, qubit=q, **common))
            sim.spawn(node, lambda ctx, q=2 * node + 1: responder_loop(ctx, qubit=q, **common))
    setup_s = comm.allreduce_max(time.perf_counter() - setup_start)
    comm.barrier()
    cpu_started = time.process_time()
    stats = sim.run()
    cpu_seconds = time.process_time() - cpu_started
    per_rank = comm.gather({"rank": comm.rank, "wall_seconds": stats.wall_seconds, "cpu_seconds": cpu_seconds,
                            "flush_seconds": stats.flush_seconds, "state_seconds": stats.state_seconds,
                            "num_nodes": len(sim.local)})
    outcomes = comm.gather(record_outcomes)
    if comm.rank != 0:
        return {}
    counters = stats.counters
    links = []
    for i in range(num_nodes):
        right = (i + 1) % num_nodes
        links.append({"link": [i, right], "pairs": int(counters.get(("pairs", i, right), 0)),
                      "attempts": int(counters.get(("attempts", i, right), 0))})
    wall = max(p["wall_seconds"] for p in per_rank)
    for p in per_rank:
        p["flush_share"] = p["flush_seconds"] / p["wall_seconds"] if p["wall_seconds"] else None
        p["state_share"] = p["state_seconds"] / p["wall_seconds"] if p["wall_seconds"] else None

    def mean(key):
        values = [p[key] for p in per_rank if p[key] is not None]
        return sum(values) / len(values) if values else None

    return {
        "ranks": comm.size, "num_nodes": num_nodes, "rounds": num_rounds,
        "comm_qubits_per_node": comm_qubits, "tier": args.tier,
        "register_qubits": state.num_qubits if state is not None else 0, "free": args.free,
        "rank_of_node": rank_of_node, "lookahead_ps": sim.lookahead_ps if math.isfinite(sim.lookahead_ps) else None,
        "link": {"distance_km": link.distance_km, "scheme": link.scheme, "delay_ps": link.delay_ps,
                 "attempt_period_ps": link.attempt_period_ps, "success_probability": link.success_probability,
                 "delivered_fidelity": link.delivered_fidelity},
        "end_time_ps": stats.end_time_ps,
        "num_events": stats.num_events, "num_windows": stats.num_windows, "num_flushes": stats.num_flushes,
        "num_quantum_ops": stats.num_quantum_ops, "num_messages": stats.num_messages,
        "num_cross_rank_messages": stats.num_cross_rank_messages,
        "wall_seconds": wall, "events_per_second": stats.num_events / wall if wall else None,
        "cpu_seconds": max(p["cpu_seconds"] for p in per_rank),
        "events_per_cpu_second": (stats.num_events / per_rank[0]["cpu_seconds"]
                                  if comm.size == 1 and per_rank[0]["cpu_seconds"] else None),
        "flush_seconds_rank0": per_rank[0]["flush_seconds"], "state_seconds_rank0": per_rank[0]["state_seconds"],
        "flush_share_mean": mean("flush_share"), "state_share_mean": mean("state_share"),
        "flush_share_max": max(p["flush_share"] or 0.0 for p in per_rank),
        "state_share_max": max(p["state_share"] or 0.0 for p in per_rank),
        "per_rank": per_rank,
        "links": links, "num_pairs": sum(entry["pairs"] for entry in links),
        "num_attempts": sum(entry["attempts"] for entry in links),
        "outcomes": outcome_summary([e for part in outcomes for e in part]),
        "setup_seconds": setup_s,
    }


#: Fields of a run that must not change between repeats (the simulation is deterministic).
_DETERMINISTIC = ("end_time_ps", "num_events", "num_windows", "num_flushes", "num_quantum_ops", "num_messages",
                  "links", "outcomes")


def run_worker(args, comm) -> dict:
    """Warm up, then run ``--repeats`` times (collective); returns the record of the median run on rank 0.

    The record is that of the repeat with the median wall time; the wall
    times of all repeats are kept in ``wall_seconds_samples``.
    """
    from dqsim import backend as backend_mod  # noqa: PLC0415

    started = time.perf_counter()
    backend = backend_mod.select("numpy")
    warmup_s = warm_up_kernels(comm, backend, args)
    runs = [run_once(args, comm, backend) for _ in range(args.repeats)]
    worker_wall_s = comm.allreduce_max(time.perf_counter() - started)
    if comm.rank != 0:
        return {}
    order = sorted(range(len(runs)), key=lambda i: runs[i]["wall_seconds"])
    record = {"status": "ok", **runs[order[len(order) // 2]]}
    record["repeats"] = len(runs)
    record["wall_seconds_samples"] = [r["wall_seconds"] for r in runs]
    record["repeats_identical"] = all(all(r[k] == runs[0][k] for k in _DETERMINISTIC) for r in runs[1:])
    record["kernel_warmup_seconds"] = warmup_s
    record["worker_wall_s"] = worker_wall_s
    return record


def worker_main(args) -> int:
    """Worker mode: run the repeats, then rank 0 writes the record to ``--out``."""
    return run_as_worker(args, run_worker)


# --------------------------------------------------------------------------- driver
def run_configuration(args, ranks: int, tmp: Path) -> dict:
    """One rank count: start the worker and return its record (or why it failed)."""
    out = tmp / f"network-{ranks}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--mode", "worker", "--out", str(out),
           "--nodes", str(args.nodes), "--rounds", str(args.rounds), "--comm-qubits", str(args.comm_qubits),
           "--distance-km", str(args.distance_km), "--free", args.free, "--seed", str(args.seed),
           "--precision", args.precision, "--max-register-qubits", str(args.max_register_qubits),
           "--repeats", str(args.repeats), "--tier", args.tier]
    if ranks > 1:
        mpiexec = Path(sys.executable).parent / "mpiexec"
        if not mpiexec.exists():
            return {"ranks": ranks, "status": "skipped", "message": f"no mpiexec beside {sys.executable}"}
        cmd = [str(mpiexec), "-n", str(ranks), *cmd]
    status, rc, tail, elapsed_s = _run(cmd, _env(1), args.timeout_s)
    if status == "ok" and out.exists():
        record = json.loads(out.read_text())
    else:
        record = {"ranks": ranks, "status": status, "returncode": rc, "output_tail": tail,
                  "message": f"worker {status} after {elapsed_s:.0f} s (timeout {args.timeout_s:.0f} s)"}
    record["command"] = shlex.join(cmd)
    record["launcher_wall_s"] = elapsed_s
    return record


def compare_across_ranks(records: list[dict]) -> dict:
    """Whether the simulated results agree over every rank count that ran."""
    ok = [r for r in records if r.get("status") == "ok"]
    if len(ok) < 2:
        return {"compared_rank_counts": [r["ranks"] for r in ok], "identical": None,
                "message": "fewer than two rank counts ran"}
    ref = ok[0]

    def same(key_fn):
        return all(key_fn(r) == key_fn(ref) for r in ok[1:])

    pairs = same(lambda r: [(tuple(e["link"]), e["pairs"]) for e in r["links"]])
    end = same(lambda r: r["end_time_ps"])
    return {
        "compared_rank_counts": [r["ranks"] for r in ok],
        "identical": bool(pairs and end),
        "end_time_identical": end, "pairs_per_link_identical": pairs,
        "attempts_per_link_identical": same(lambda r: [e["attempts"] for e in r["links"]]),
        "measurement_outcomes_identical": same(lambda r: r["outcomes"]["fingerprint"]),
        "num_events_identical": same(lambda r: r["num_events"]),
        "num_quantum_ops_identical": same(lambda r: r["num_quantum_ops"]),
    }


def _fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}g}"


def summary_table(records: list[dict]) -> str:
    head = ("ranks | events | windows | flushes | wall s | events/s | events/CPU s | flush s (share) | "
            "state s (share) | end time ps | pairs")
    lines = [head, "-" * len(head)]
    for r in records:
        if r.get("status") != "ok":
            lines.append(f"{r['ranks']:>5} | {r.get('status')}: {r.get('message', '')[:100]}")
            continue
        lines.append(
            f"{r['ranks']:>5} | {r['num_events']:>6} | {r['num_windows']:>7} | {r['num_flushes']:>7} | "
            f"{r['wall_seconds']:>6.2f} | {r['events_per_second']:>8.0f} | "
            f"{_fmt(r.get('events_per_cpu_second'), 6):>12} | "
            f"{r['flush_seconds_rank0']:.2f} ({r['flush_share_mean']:.0%}) | "
            f"{r['state_seconds_rank0']:.2f} ({r['state_share_mean']:.0%}) | {r['end_time_ps']} | {r['num_pairs']}")
    return "\n".join(lines)


def _auto_notes(args, usable_cpus: int) -> list[str]:
    notes = [
        f"Each rank count runs the simulation {args.repeats} time(s) in one worker (a fresh state and Simulator "
        "each time) after one kernel warm-up (H, CX, measure, reset on a scratch register, so numba's compile "
        "or cache load is not in the first flush); the record is the repeat of median wall time. Every rank "
        "runs with OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1.",
        "wall_seconds is Simulator.run (max over ranks), excluding process start, imports and setup. "
        "cpu_seconds is the CPU time of the same call (process_time, max over ranks); on one rank "
        "events_per_cpu_second = events / cpu_seconds is less disturbed by other users of a shared machine "
        "than events_per_second (with several ranks MPI's busy waiting counts as CPU time, so it is left out). "
        "flush/state seconds in the table are rank 0's; shares are per rank (flush or state / that rank's "
        "wall), averaged over ranks; per_rank holds every rank's numbers.",
        "flush_seconds includes the allgather of new operations (and so any wait for slower ranks), the sort "
        "and state_seconds (applying operations to the state vector). The rest of the wall time is event "
        "processing in Python plus the per-window alltoall and allreduce.",
        "A flush resolves only the earliest pending measurement, so each measurement costs at least one "
        "collective flush.",
        f"Design: --comm-qubits {args.comm_qubits}, register {register_qubits(args.nodes, args.comm_qubits)} "
        "qubits; see the module docstring.",
    ]
    oversub = [r for r in args.ranks if r > usable_cpus]
    if oversub:
        notes.append(f"Rank counts {oversub} exceed the {usable_cpus} usable CPUs: ranks share cores "
                     "(oversubscribed), so their times measure contention, not scaling.")
    return notes


def driver_main(args) -> int:
    args.label = args.label or socket.gethostname()
    results_dir = Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    records = []
    with tempfile.TemporaryDirectory(prefix="network_bench-") as tmp:
        for ranks in args.ranks:
            print(f"[network_bench] ranks={ranks} ...", file=sys.stderr, flush=True)
            record = run_configuration(args, ranks, Path(tmp))
            records.append(record)
            print(f"[network_bench]   {record.get('status')} in {record['launcher_wall_s']:.1f} s",
                  file=sys.stderr, flush=True)
    machine = machine_info(SimpleNamespace(label=args.label, backend="numpy", notes=args.notes), "numpy:cpu")
    machine["notes"] = ([args.notes] if args.notes else []) + _auto_notes(args, machine["usable_cpus"])
    combined = {
        "benchmark": "network_bench", "schema_version": SCHEMA_VERSION, "machine": machine,
        "config": {"ranks": list(args.ranks), "nodes": args.nodes, "rounds": args.rounds,
                   "comm_qubits_per_node": args.comm_qubits,
                   "register_qubits": register_qubits(args.nodes, args.comm_qubits),
                   "distance_km": args.distance_km, "scheme": "double_click", "free": args.free,
                   "seed": args.seed, "precision": args.precision, "repeats": args.repeats, "timeout_s": args.timeout_s,
                   "max_register_qubits": args.max_register_qubits},
        "across_ranks": compare_across_ranks(records),
        "runs": records,
        "total_wall_s": time.perf_counter() - start,
    }
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
    path = results_dir / f"network_bench-{args.label}-{day}.json"
    if path.exists():
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%H%M%S")
        path = results_dir / f"network_bench-{args.label}-{day}-{stamp}.json"
    path.write_text(json.dumps(combined, indent=1) + "\n")
    print(summary_table(records))
    print(f"identical across rank counts (end time, pairs per link): {combined['across_ranks']['identical']}; "
          f"{json.dumps(combined['across_ranks'])}")
    print(f"Total {combined['total_wall_s']:.0f} s; wrote {path}")
    return 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("driver", "worker"), default="driver",
                        help="driver (default) launches workers; worker is internal")
    parser.add_argument("--ranks", type=int, nargs="+", default=list(DEFAULT_RANKS), help="rank counts (default 1 2 4)")
    parser.add_argument("--nodes", type=int, default=DEFAULT_NODES, help=f"ring size (default {DEFAULT_NODES})")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help=f"pairs per link (default {DEFAULT_ROUNDS})")
    parser.add_argument("--comm-qubits", type=int, choices=(1, 2), default=1,
                        help="communication qubits per node: 1 alternates roles (default), 2 runs both at once")
    parser.add_argument("--distance-km", type=float, default=DEFAULT_DISTANCE_KM, help="link length (default 5)")
    parser.add_argument("--free", choices=("measure", "reset"), default="measure",
                        help="free a used qubit by a Z measurement then reset (default; blocks) or by reset only")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per rank count; the table shows the run of median wall time (default 3)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--tier", choices=("small", "register"), default="small",
                        help="communication qubits in small states (default) or all in one register (old design)")
    parser.add_argument("--precision", choices=("complex128", "complex64"), default="complex128")
    parser.add_argument("--max-register-qubits", type=int, default=DEFAULT_MAX_REGISTER_QUBITS,
                        help=f"refuse larger registers (default {DEFAULT_MAX_REGISTER_QUBITS})")
    parser.add_argument("--timeout-s", type=float, default=240.0, help="per rank count (default 240)")
    parser.add_argument("--label", default=None, help="machine label in the file name (default hostname)")
    parser.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR))
    parser.add_argument("--notes", default="", help="free text stored in machine.notes")
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats = {args.repeats} must be >= 1")
    if args.rounds < 1:
        parser.error(f"--rounds = {args.rounds} must be >= 1")
    if any(r < 1 for r in args.ranks):
        parser.error(f"--ranks {args.ranks}: every rank count must be >= 1")
    problem = check_design(args.nodes, args.comm_qubits, args.max_register_qubits, args.tier)
    if problem:
        parser.error(problem)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.mode == "worker":
        return worker_main(args)
    return driver_main(args)


if __name__ == "__main__":
    sys.exit(main())
