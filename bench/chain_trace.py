"""Model: how fast could the 1,024-node chain run on 2 ranks, per placement of its nodes?

A benchmark-side model, not a test: it measures and records, it asserts nothing.

1. *Trace* (one rank, a plain process): the chain of ``bench/chain_ranks.py``
   runs ``--trace-repeats`` times with every engine event timed in CPU time
   (``time.process_time``, so other users' load counts less); an event's cost
   is its median over the repeats. Every event is named by
   ``(node, time, origin, counter)``, which is the same for any number of
   ranks and any placement (the engine's results do not depend on them).
2. *Replay* (``--ranks`` ranks under mpiexec): the real engine runs the chain
   with each placement and each events-per-exchange budget, and records which
   events every rank ran in which iteration (one exchange each), plus the CPU
   time of each exchange's own work (promises before the ``alltoall``,
   delivering messages and applying shared operations after it). The
   iterations do not depend on timing (every rank acts on what the exchange
   gave it), so this is the engine's synchronisation rule replayed exactly.
3. *Estimate*: 2-rank time = sum over iterations of the busier rank's event
   cost (from the trace) + the larger exchange work + ``--exchange-latency-ms``
   per exchange (the ``alltoall`` between two otherwise idle processes), and
   its ratio to the trace's one-rank event cost plus one-rank exchanges.
   Beside it, *measured*: the same sum with each rank's own CPU time of its
   events and exchange work in that run (waiting inside the ``alltoall``
   left out), against the same instruments on one rank: what two idle cores
   would take, from runs on a loaded machine.

Before the replays, a *balance* table from the trace alone tells a global
imbalance from a per-window one, per placement: the busier rank's share of
the total event cost (what a better split could fix), and the sum over
windows of one lookahead (the smallest link delay) of the busier rank's
cost, over the total (a schedule in fixed windows: both ranks run each
window at once, then exchange). Both with the traced costs, with event
counts, and with every event at its kind's median cost (no timing noise);
the windows are grouped by their number of events. Beside it, *schedule
models* on the trace (:func:`schedule_models`): the engine's lockstep rule
for each event budget and each CPU budget (``--exchange-cpu-ms``, default
2 ms), the same with each exchange overlapped by events (``pipelined``, the
engine's ``PIPELINED_EXCHANGE``), and an asynchronous schedule (promises
seen at once), the bound for any conservative engine with this lookahead;
``--model-latency-ms`` adds a wall time per exchange. ``--trace-file`` keeps
the traces for the next call. ``--exchange-cpu-ms`` also
replays the engine with ``EXCHANGE_CPU_S`` at those budgets.

Placements: ``contiguous`` (today's blocks), ``cyclicB`` (blocks of ``B``
nodes dealt to ranks in turn), ``balanced`` (two contiguous blocks of equal
traced cost), ``split:K`` (rank 0 runs nodes ``0..K-1``), ``mirror:K`` (rank
0 runs the ``K`` nodes at each end, rank 1 the middle), ``alternate``
(node ``i`` on rank ``i mod ranks``).

Example (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/chain_trace.py --nodes 1024 --pairs 2 \\
        --placements contiguous balanced cyclic256 cyclic64 --budgets 64 1024
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chain_ranks import add_workload_arguments, chain_of, write_result  # noqa: E402  (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS_DIR = ROOT / "bench" / "results"


def placement_of(name: str, num_nodes: int, num_ranks: int, costs_by_node: list[float] | None) -> list[int] | None:
    """The rank of every node for placement ``name`` (``None``: the engine's default contiguous blocks)."""
    if name == "contiguous":
        return None
    if name == "alternate":
        return [i % num_ranks for i in range(num_nodes)]
    if name.startswith("cyclic"):
        block = int(name[len("cyclic"):])
        return [(i // block) % num_ranks for i in range(num_nodes)]
    if name.startswith("split:"):
        first = int(name.split(":")[1])
        if num_ranks != 2:
            raise SystemExit("split:K needs 2 ranks")
        return [0 if i < first else 1 for i in range(num_nodes)]
    if name.startswith("mirror:"):  # rank 0 runs both ends (K nodes each), rank 1 the middle
        outer = int(name.split(":")[1])
        if num_ranks != 2:
            raise SystemExit("mirror:K needs 2 ranks")
        return [0 if i < outer or i >= num_nodes - outer else 1 for i in range(num_nodes)]
    if name == "balanced":
        if costs_by_node is None:
            raise SystemExit("balanced needs the trace")
        total, done, ranks, rank = sum(costs_by_node), 0.0, [], 0
        for cost in costs_by_node:
            if done >= total * (rank + 1) / num_ranks and rank < num_ranks - 1:
                rank += 1
            ranks.append(rank)
            done += cost
        return ranks
    raise SystemExit(f"unknown placement {name!r}")


def window_balance(events: list, ranks: list[int], num_ranks: int, window_ps: int) -> dict:
    """Global against per-window balance of a placement, from the trace alone.

    Args:
        events: ``(node, time_ps, cost_s, kind)`` of every traced event.
        ranks: the rank of every node.
        num_ranks: ranks of the placement.
        window_ps: the synchronisation window (the lookahead), ps.

    Returns:
        For each weight (``cost``: traced CPU s; ``count``: 1 per event;
        ``kind_median``: the median traced cost of the event's kind),
        ``total_share`` (the busier rank's share of the whole run),
        ``window_share`` (sum over windows of the busier rank's weight, over
        the total) and ``excess_by_window_size`` (what each group of windows,
        by their number of events, adds to ``window_share`` above
        ``1 / num_ranks``).
    """
    by_kind: dict = {}
    for _node, _time, cost, kind in events:
        by_kind.setdefault(kind, []).append(cost)
    median = {kind: statistics.median(costs) for kind, costs in by_kind.items()}
    weights = {"cost": lambda e: e[2], "count": lambda e: 1.0, "kind_median": lambda e: median[e[3]]}
    sizes: dict = {}
    for _node, time_ps, _cost, _kind in events:
        sizes[time_ps // window_ps] = sizes.get(time_ps // window_ps, 0) + 1

    def size_class(count: int) -> str:
        return "1" if count == 1 else "2-9" if count < 10 else "10-99" if count < 100 else "100-999" \
            if count < 1000 else "1000+"

    out = {}
    for name, weight in weights.items():
        per_window: dict = {}
        totals = [0.0] * num_ranks
        for event in events:
            value = weight(event)
            per_window.setdefault(event[1] // window_ps, [0.0] * num_ranks)[ranks[event[0]]] += value
            totals[ranks[event[0]]] += value
        total = sum(totals)
        excess: dict = {}
        for window, loads in per_window.items():
            group = size_class(sizes[window])
            excess[group] = excess.get(group, 0.0) + (max(loads) - sum(loads) / num_ranks) / total
        out[name] = {"total_share": max(totals) / total,
                     "window_share": sum(max(loads) for loads in per_window.values()) / total,
                     "excess_by_window_size": excess}
    return out


def schedule_models(events: list, ranks: list[int], num_ranks: int, dist_ps: list[list[int]], budgets: list[int],
                    cpu_budgets_s: list[float], latency_s: float = 0.0) -> dict:
    """Event time of the busier rank under model schedules, over one rank's, from the trace alone.

    Every rank runs its events in ``(time, node)`` order with the traced
    costs; rank ``r`` may run an event at ``t`` only while ``t`` is below
    the least ``t' + d(n', r)`` over the other ranks' events not yet run
    (the engine's promises; the whole trace stands in for the events not yet
    created, which the triangle inequality makes the same bound).

    * ``lockstep``: the engine's rule. Per iteration every rank takes its
      horizon from the others' state at the exchange and runs events below
      it, at most ``budget`` of them (or, for ``cpu:S``, until it has spent
      ``S`` s, at least one event); the iteration lasts as long as the
      busier rank, plus ``latency_s``.
    * ``pipelined``: the engine with ``PIPELINED_EXCHANGE``. A rank runs
      its budget below its horizon, *posts* the exchange (the others'
      horizons come from what it has run by then), keeps running events
      below the same horizon while the exchange is in flight (``pipelined
      again``: at most the budget once more), and completes it when the
      last rank has posted (``+ latency_s``), finishing the event it is in;
      then its new horizon comes from the posted states. Ranks keep their
      own clocks; the result is the latest rank's finish.
    * ``async``: no iterations; a rank runs its next event as soon as the
      others' progress allows (promises seen at once): the bound for any
      conservative engine with this lookahead.

    Exchanges cost no CPU here (their own work, ~0.1 ms each on the chain,
    is the same in every schedule per exchange).

    Args:
        events: ``(node, time_ps, cost_s)`` of every traced event.
        ranks: the rank of every node.
        num_ranks: ranks of the placement.
        dist_ps: ``dist_ps[n][r]``, the least link delay from node ``n`` to rank ``r``.
        budgets: event budgets to model; cpu_budgets_s: CPU budgets, s.
        latency_s: wall time from the last rank's arrival to the end of an exchange, s.

    Returns:
        ``{"lockstep 64": (ratio, iterations), ..., "lockstep cpu:0.002": ..., "pipelined 64": ...,
        "pipelined again 64": ..., "async": (ratio, None)}``.
    """
    lists: list[list] = [[] for _ in range(num_ranks)]
    for node, time_ps, cost in events:
        lists[ranks[node]].append((time_ps, node, cost))
    for events_of_rank in lists:
        events_of_rank.sort()
    total = sum(cost for _node, _time, cost in events)
    # bound[o][r][i]: least t + d(n, r) over rank o's events from its i-th on
    bound = [[None] * num_ranks for _ in range(num_ranks)]
    for o in range(num_ranks):
        for r in range(num_ranks):
            if r == o:
                continue
            suffix = [math.inf] * (len(lists[o]) + 1)
            for i in range(len(lists[o]) - 1, -1, -1):
                time_ps, node, _cost = lists[o][i]
                suffix[i] = min(suffix[i + 1], time_ps + dist_ps[node][r])
            bound[o][r] = suffix

    def horizon(r: int, done: list[int]) -> float:
        return min((bound[o][r][done[o]] for o in range(num_ranks) if o != r), default=math.inf)

    def lockstep(budget: float, cpu_s: float) -> tuple[float, int]:
        done, elapsed, iterations = [0] * num_ranks, 0.0, 0
        while any(done[r] < len(lists[r]) for r in range(num_ranks)):
            limits = [horizon(r, done) for r in range(num_ranks)]
            spent = [0.0] * num_ranks
            for r in range(num_ranks):
                count = 0
                while (done[r] < len(lists[r]) and count < budget and lists[r][done[r]][0] < limits[r]
                       and (count == 0 or spent[r] < cpu_s)):
                    spent[r] += lists[r][done[r]][2]
                    done[r] += 1
                    count += 1
            elapsed += max(spent) + latency_s
            iterations += 1
        return elapsed / total, iterations

    def asynchronous() -> float:
        done, finish, now = [0] * num_ranks, [None] * num_ranks, 0.0
        while True:
            for r in range(num_ranks):
                if finish[r] is None and done[r] < len(lists[r]) and lists[r][done[r]][0] < horizon(r, done):
                    finish[r] = now + lists[r][done[r]][2]
            running = [f for f in finish if f is not None]
            if not running:
                return now / total
            now = min(running)
            for r in range(num_ranks):
                if finish[r] is not None and finish[r] <= now:
                    finish[r] = None
                    done[r] += 1

    def pipelined(budget: float, cpu_s: float, again: bool) -> tuple[float, int]:
        done, clock, iterations = [0] * num_ranks, [0.0] * num_ranks, 0
        limits = [horizon(r, done) for r in range(num_ranks)]
        while any(done[r] < len(lists[r]) for r in range(num_ranks)):
            posted, posted_at = [0] * num_ranks, [0.0] * num_ranks
            for r in range(num_ranks):  # before posting: the budget, below the horizon of the last exchange
                now, count, spent, events = clock[r], 0, 0.0, lists[r]
                while (done[r] < len(events) and count < budget and events[done[r]][0] < limits[r]
                       and (count == 0 or spent < cpu_s)):
                    now += events[done[r]][2]
                    spent += events[done[r]][2]
                    done[r] += 1
                    count += 1
                posted[r], posted_at[r] = done[r], now
            complete = max(posted_at) + latency_s
            for r in range(num_ranks):  # in flight: the same horizon, until the exchange completes
                now, count, spent, events = posted_at[r], 0, 0.0, lists[r]
                while (done[r] < len(events) and now < complete and events[done[r]][0] < limits[r]
                       and (not again or (count < budget and (count == 0 or spent < cpu_s)))):
                    now += events[done[r]][2]
                    spent += events[done[r]][2]
                    done[r] += 1
                    count += 1
                clock[r] = max(now, complete)
            limits = [horizon(r, posted) for r in range(num_ranks)]
            iterations += 1
        return max(clock) / total, iterations

    out = {f"lockstep {budget}": lockstep(budget, math.inf) for budget in budgets}
    out.update({f"lockstep cpu:{cpu_s:g}": lockstep(math.inf, cpu_s) for cpu_s in cpu_budgets_s})
    for again in (False, True):
        name = "pipelined" + (" again" if again else "")
        out.update({f"{name} {budget}": pipelined(budget, math.inf, again) for budget in budgets})
        out.update({f"{name} cpu:{cpu_s:g}": pipelined(math.inf, cpu_s, again) for cpu_s in cpu_budgets_s})
    out["async"] = (asynchronous(), None)
    return out


def _key(entry) -> tuple:
    """``(node, time, origin, counter)`` of a queue entry: a resumption is its own node's, a message its dest's."""
    node = entry[1] if entry[3] == "resume" else entry[4].dest
    return (node, entry[0], entry[1], entry[2])


def _watch_events(simulator, on_event) -> None:
    """Call ``on_event(entry)`` whenever the engine takes an event from a node's queue.

    The engine handles events inline in ``Simulator._run_local``; the only
    5-tuples it pops (with the module's ``heappop``) are the queue entries
    ``(time, origin, counter, action, arg)`` (the ready and blocked heaps hold
    pairs).
    """
    pop = simulator.heappop

    def watched(heap):
        entry = pop(heap)
        if len(entry) == 5:
            on_event(entry)
        return entry

    simulator.heappop = watched


def trace_worker(args) -> int:
    """One rank: time every event (CPU time) and write ``{key: cost}`` with the event's kind."""
    from dqsim import comm as comm_mod
    from dqsim.engine import simulator
    from dqsim.scenarios import repeater

    comm = comm_mod.init()
    original_run_local = simulator.Simulator._run_local
    costs: dict = {}
    kinds: dict = {}
    clock = time.process_time
    current: list = [None, 0.0]          # the event running and its start (CPU s)

    def close(now):
        if current[0] is not None:
            costs[current[0]] = now - current[1]
            current[0] = None

    def on_event(entry):
        # an event runs from its pop to the next event's pop (or the end of _run_local), ready-heap upkeep included
        now = clock()
        close(now)
        key = _key(entry)
        current[0], current[1] = key, now
        if entry[3] == "deliver":
            tag = entry[4].tag
            kinds[key] = f"deliver {tag[0] if isinstance(tag, tuple) else tag}"
        else:
            kinds[key] = "resume"

    def run_local(self, *args, **options):
        try:
            original_run_local(self, *args, **options)
        finally:
            close(clock())

    _watch_events(simulator, on_event)
    simulator.Simulator._run_local = run_local
    started, cpu_started = time.perf_counter(), clock()
    run = repeater.run_chain(chain_of(args), comm=comm, seed=args.seed)
    record = {"wall_s": time.perf_counter() - started, "cpu_s": clock() - cpu_started,
              "windows": run.engine.num_windows, "events": run.engine.num_events,
              "load_average_1min": os.getloadavg()[0],
              "events_list": [[*key, costs[key], kinds[key]] for key in costs]}
    Path(args.out).write_text(json.dumps(record))
    return 0


def replay_worker(args) -> int:
    """Several ranks: run the real engine, record each event's iteration and each exchange's own CPU time."""
    from dqsim import comm as comm_mod
    from dqsim.engine import simulator
    from dqsim.scenarios import repeater

    comm = comm_mod.init()
    placement = json.loads(Path(args.placement_file).read_text()) if args.placement_file else None
    simulator.EVENTS_PER_EXCHANGE = args.budget
    simulator.EXCHANGE_CPU_S = args.exchange_cpu_s
    # the replay sums the lockstep's iterations (one exchange each, through _exchange)
    simulator.PIPELINED_EXCHANGE = False
    clock = time.process_time
    ran: list = []                       # (iteration, key)
    exchanges: list = []                 # own CPU seconds of each exchange (before + after the alltoall)
    shared_ops = [0]
    state = {"iteration": 0}
    original_run_local = simulator.Simulator._run_local
    local_cpu: list = []                 # CPU seconds of each iteration's events (_run_local), this rank
    original_exchange = simulator.Simulator._exchange
    original_resolve = simulator.Simulator._resolve

    def run_local(self, *args, **options):
        started = clock()
        original_run_local(self, *args, **options)
        local_cpu.append(clock() - started)

    def on_event(entry):
        ran.append((state["iteration"], _key(entry)))

    class TimedComm:
        """The run's communicator with the alltoall's own time taken out of the exchange's CPU time."""

        def __init__(self, inner):
            self._inner = inner
            self.waited = 0.0

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def alltoall(self, objs):
            started = clock()
            out = self._inner.alltoall(objs)
            self.waited += clock() - started
            return out

    def exchange(self):
        if not isinstance(self.comm, TimedComm):
            self.comm = TimedComm(self.comm)
        self.comm.waited = 0.0
        started = clock()
        out = original_exchange(self)
        exchanges.append(clock() - started - self.comm.waited)
        state["iteration"] += 1
        return out

    def resolve(self, gathered, **options):
        shared_ops[0] += sum(len(ops) for ops in gathered)
        return original_resolve(self, gathered, **options)

    _watch_events(simulator, on_event)
    simulator.Simulator._exchange = exchange
    simulator.Simulator._resolve = resolve
    simulator.Simulator._run_local = run_local
    # the alltoall alone, between these otherwise idle ranks (empty lists, as most exchanges)
    comm.barrier()
    samples = []
    for _ in range(200):
        started = time.perf_counter()
        comm.alltoall([[] for _ in range(comm.size)])
        samples.append(time.perf_counter() - started)
    comm.barrier()
    started = time.perf_counter()
    run = repeater.run_chain(chain_of(args), comm=comm, seed=args.seed, placement=placement)
    wall_s = comm.allreduce_max(time.perf_counter() - started)
    parts = comm.gather({"ran": ran, "exchanges": exchanges, "shared_ops": shared_ops[0], "local_cpu": local_cpu,
                         "alltoall_median_s": statistics.median(samples)})
    if comm.rank == 0:
        fingerprint = [(p.delivery_ps, repr(p.fidelity), p.restarts) for p in run.pairs]
        Path(args.out).write_text(json.dumps({"ranks": parts, "wall_s": wall_s, "windows": run.engine.num_windows,
                                              "flushes": run.engine.num_flushes, "pairs": repr(fingerprint),
                                              "load_average_1min": os.getloadavg()[0],
                                              "cross_rank_messages": run.engine.num_cross_rank_messages}))
    return 0


def _run(cmd, env, timeout_s):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")


def driver(args) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    mpiexec = Path(sys.executable).parent / "mpiexec"
    common = ["--nodes", str(args.nodes), "--pairs", str(args.pairs), "--link-km", str(args.link_km),
              "--source-fidelity", str(args.source_fidelity), "--t2-s", str(args.t2_s), "--seed", str(args.seed)]
    me = [sys.executable, str(Path(__file__).resolve())]
    with tempfile.TemporaryDirectory() as tmp:
        traces = []
        if args.trace_file and Path(args.trace_file).exists():
            traces = json.loads(Path(args.trace_file).read_text())
            print(f"traces read from {args.trace_file}")
        for repeat in range(len(traces), args.trace_repeats):
            out = Path(tmp) / f"trace{repeat}.json"
            _run([*me, "--trace-worker", "--out", str(out), *common], env, args.timeout_s)
            traces.append(json.loads(out.read_text()))
        if args.trace_file and not Path(args.trace_file).exists():
            Path(args.trace_file).write_text(json.dumps(traces))
        per_event: dict = {}
        kinds: dict = {}
        for trace in traces:
            for *key, cost, kind in trace["events_list"]:
                per_event.setdefault(tuple(key), []).append(cost)
                kinds[tuple(key)] = kind
        cost = {key: statistics.median(values) for key, values in per_event.items()}
        one_rank_events_s = sum(cost.values())
        one_rank_cpu_s = statistics.median(t["cpu_s"] for t in traces)
        by_node = [0.0] * args.nodes
        by_kind: dict = {}
        for key, value in cost.items():
            by_node[key[0]] += value
            entry = by_kind.setdefault(kinds[key], [0, 0.0])
            entry[0] += 1
            entry[1] += value
        print(f"trace: {len(cost)} events, event cost {one_rank_events_s:.3f} s CPU, run {one_rank_cpu_s:.3f} s CPU "
              f"(median of {args.trace_repeats}); windows {traces[0]['windows']}")
        for kind, (count, total) in sorted(by_kind.items(), key=lambda kv: -kv[1][1]):
            print(f"  {kind:24s} {count:6d} events {total:7.3f} s  {1e6 * total / count:6.1f} us/event")
        last = args.nodes - 1
        print(f"  node {last} (B): {by_node[last]:.3f} s; node 0 (A): {by_node[0]:.3f} s; "
              f"nodes 0-{args.nodes // 2 - 1}: {sum(by_node[:args.nodes // 2]):.3f} s")

        window_ps = int(chain_of(args).network().lookahead_ps)
        traced = [(key[0], key[1], value, kinds[key]) for key, value in cost.items()]
        balance = {}
        print(f"balance from the trace (windows of one lookahead, {window_ps} ps): busier rank's share of the "
              "total / sum over windows of the busier rank, over the total")
        for name in args.placements:
            ranks_of = placement_of(name, args.nodes, args.ranks, by_node) or \
                placement_of("balanced", args.nodes, args.ranks, [1.0] * args.nodes)
            balance[name] = window_balance(traced, ranks_of, args.ranks, window_ps)
            dist_ps = chain_of(args).network(args.ranks, ranks_of).rank_distances_ps()
            models = {}
            for latency_ms in args.model_latency_ms:
                modelled = schedule_models([(n, t, c) for n, t, c, _kind in traced], ranks_of, args.ranks, dist_ps,
                                           args.budgets, [ms / 1e3 for ms in args.exchange_cpu_ms or [2.0]],
                                           latency_ms / 1e3)
                models.update({(f"{model} lat:{latency_ms:g}ms" if latency_ms else model): value
                               for model, value in modelled.items()
                               if not (latency_ms and model == "async")})
            balance[name]["schedule_models"] = models
            b = balance[name]
            excess = ", ".join(f"{group} {value:.3f}" for group, value in
                               sorted(b["cost"]["excess_by_window_size"].items(), key=lambda kv: -kv[1]))
            print(f"  {name:>11s}: cost {b['cost']['total_share']:.3f} / {b['cost']['window_share']:.3f}, "
                  f"count {b['count']['total_share']:.3f} / {b['count']['window_share']:.3f}, "
                  f"kind median {b['kind_median']['total_share']:.3f} / {b['kind_median']['window_share']:.3f}; "
                  f"excess over 1/{args.ranks} by events per window: {excess}")
            print("               schedule models (busier rank's event time / one rank's, iterations): " +
                  ", ".join(f"{model} {ratio:.3f}" + (f" ({iterations})" if iterations else "")
                            for model, (ratio, iterations) in models.items()))

        # One rank with the replay's own instruments: the reference of the measured critical paths below.
        one_measured = []
        for repeat in range(0 if args.balance_only else args.replay_repeats):
            out = Path(tmp) / f"one{repeat}.json"
            _run([*me, "--replay-worker", "--out", str(out), *common], env, args.timeout_s)
            part = json.loads(out.read_text())["ranks"][0]
            one_measured.append(sum(part["exchanges"]) + sum(part["local_cpu"]))
        if one_measured:
            one_measured_s = statistics.median(one_measured)
            print(f"one rank, measured CPU of events and exchanges: {one_measured_s:.3f} s "
                  f"(median of {args.replay_repeats}: {', '.join(f'{x:.3f}' for x in one_measured)})")

        def critical_s(replay) -> float:
            """Sum over iterations of the larger rank's measured CPU (exchange work + events)."""
            total = 0.0
            for i in range(max(len(part["exchanges"]) for part in replay["ranks"])):
                total += max((part["exchanges"][i] if i < len(part["exchanges"]) else 0.0)
                             + (part["local_cpu"][i] if i < len(part["local_cpu"]) else 0.0)
                             for part in replay["ranks"])
            return total

        rows = []
        for name in [] if args.balance_only else args.placements:
            placement = placement_of(name, args.nodes, args.ranks, by_node)
            placement_file = Path(tmp) / f"placement-{name}.json"
            placement_file.write_text(json.dumps(placement))
            for budget in [*args.budgets, *(f"cpu:{ms:g}ms" for ms in args.exchange_cpu_ms or [])]:
                chosen = (["--budget", str(budget)] if isinstance(budget, int) else
                          ["--exchange-cpu-s", str(float(budget[4:-2]) / 1e3)])
                measured = []
                for repeat in range(args.replay_repeats):
                    out = Path(tmp) / f"replay-{name}-{budget}-{repeat}.json"
                    _run([str(mpiexec), "-n", str(args.ranks), *me, "--replay-worker", "--out", str(out),
                          "--placement-file", str(placement_file), *chosen, *common], env,
                         args.timeout_s)
                    replay = json.loads(out.read_text())
                    measured.append(critical_s(replay))
                iterations = max(len(part["exchanges"]) for part in replay["ranks"])
                work = [[0.0] * iterations for _ in replay["ranks"]]
                events = [[0] * iterations for _ in replay["ranks"]]
                first_ps = [[None] * iterations for _ in replay["ranks"]]
                for rank, part in enumerate(replay["ranks"]):
                    for iteration, key in part["ran"]:
                        work[rank][iteration] += cost[tuple(key)]
                        events[rank][iteration] += 1
                        if first_ps[rank][iteration] is None:
                            first_ps[rank][iteration] = key[1]
                busiest = sum(max(w[i] for w in work) for i in range(iterations))
                busiest_events = sum(max(e[i] for e in events) for i in range(iterations))
                exchange_own = sum(max(part["exchanges"][i] if i < len(part["exchanges"]) else 0.0
                                       for part in replay["ranks"]) for i in range(iterations))
                latency_s = args.exchange_latency_ms / 1e3
                estimate = busiest + exchange_own + iterations * latency_s
                one = one_rank_events_s + traces[0]["windows"] * latency_s
                ranks_of = placement or placement_of("balanced", args.nodes, args.ranks, [1.0] * args.nodes)
                row = {"placement": name, "budget": budget, "iterations": iterations,
                       "rank_event_cost_s": [sum(w) for w in work],
                       "busiest_event_cost_s": busiest, "busiest_events": busiest_events,
                       "busiest_event_share": busiest_events / len(cost),
                       "exchange_own_cpu_s": exchange_own, "exchange_latency_s": iterations * latency_s,
                       "estimate_s": estimate, "ratio_to_one_rank": estimate / one,
                       "measured_critical_cpu_s": measured,
                       "measured_ratio": (statistics.median(measured) + iterations * latency_s)
                       / (one_measured_s + traces[0]["windows"] * latency_s),
                       "ratio_without_exchanges": busiest / one_rank_events_s,
                       "bound_ratio": max(sum(w) for w in work) / one_rank_events_s,
                       "shared_ops": sum(part["shared_ops"] for part in replay["ranks"]) // len(replay["ranks"]),
                       "cross_rank_messages": replay["cross_rank_messages"],
                       "boundaries": sum(1 for i in range(args.nodes - 1) if ranks_of[i] != ranks_of[i + 1]),
                       "measured_wall_s": replay["wall_s"], "load_average_1min": replay["load_average_1min"],
                       "alltoall_idle_median_s": [p["alltoall_median_s"] for p in replay["ranks"]],
                       "pairs": replay["pairs"],
                       "per_iteration": {"event_cost_s": work, "events": events, "first_event_ps": first_ps,
                                         "exchange_own_cpu_s": [part["exchanges"] for part in replay["ranks"]]}}
                rows.append(row)
                print(f"{name:>11s} budget {budget:>5}: {iterations:5d} exchanges, busiest-rank events "
                      f"{busiest:.3f} s ({row['busiest_event_share']:.2f} of events; ratio without exchanges "
                      f"{row['ratio_without_exchanges']:.2f}, bound {row['bound_ratio']:.2f}), exchange work "
                      f"{exchange_own:.3f} s, shared ops {row['shared_ops']}, estimate {estimate:.3f} s = "
                      f"{row['ratio_to_one_rank']:.2f}x one rank; measured critical path "
                      f"{statistics.median(measured):.3f} s CPU = {row['measured_ratio']:.2f}x "
                      f"(measured wall {replay['wall_s']:.2f} s, "
                      f"load {replay['load_average_1min']:.1f})", flush=True)
        identical = None
        if not args.balance_only:
            identical = len({row["pairs"] for row in rows}) <= 1
            print(f"identical delivered pairs across placements and budgets: {identical}")
    result = {"benchmark": "chain_trace", "date": datetime.date.today().isoformat(),
              "machine": {"label": args.label, "platform": platform.platform(), "cpus": os.cpu_count(),
                          "load_average_at_end": os.getloadavg()[0], "notes": args.notes},
              "workload": {"nodes": args.nodes, "pairs": args.pairs, "link_km": args.link_km,
                           "source_fidelity": args.source_fidelity, "t2_s": args.t2_s, "seed": args.seed},
              "model": {"ranks": args.ranks, "exchange_latency_ms": args.exchange_latency_ms,
                        "trace_repeats": args.trace_repeats},
              "one_rank": {"event_cost_s": one_rank_events_s, "run_cpu_s": one_rank_cpu_s,
                           "measured_cpu_s": one_measured,
                           "windows": traces[0]["windows"], "node_B_cost_s": by_node[-1],
                           "by_kind": {k: {"events": v[0], "cost_s": v[1]} for k, v in by_kind.items()},
                           "loads": [t["load_average_1min"] for t in traces]},
              "balance": balance,
              "identical_across_placements": identical, "rows": rows}
    write_result(args.results_dir, f"chain_trace-{args.label}", result)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_workload_arguments(p)
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--placements", nargs="+",
                   default=["contiguous", "balanced", "cyclic256", "cyclic128", "cyclic64", "cyclic32"])
    p.add_argument("--exchange-cpu-ms", type=float, nargs="+", default=None,
                   help="also replay with the engine's EXCHANGE_CPU_S at these CPU ms per exchange (and model "
                        "them; default model: 2 ms)")
    p.add_argument("--budgets", type=int, nargs="+", default=[64],
                   help="events per exchange (the engine's EVENTS_PER_EXCHANGE) to replay")
    p.add_argument("--exchange-latency-ms", type=float, default=0.05,
                   help="wall time of one alltoall between two idle processes, ms (added per exchange)")
    p.add_argument("--trace-repeats", type=int, default=3)
    p.add_argument("--trace-file", default=None,
                   help="read the traces from this JSON file when it exists, else write them there")
    p.add_argument("--model-latency-ms", type=float, nargs="+", default=[0.0],
                   help="wall time of an exchange in the schedule models, ms (each value: one set of models)")
    p.add_argument("--balance-only", action="store_true",
                   help="trace and balance table only: no one-rank reference, no replays")
    p.add_argument("--replay-repeats", type=int, default=1,
                   help="runs of each replay (and of the one-rank reference); measured figures take the median")
    p.add_argument("--timeout-s", type=float, default=600.0)
    p.add_argument("--label", default="vm")
    p.add_argument("--notes", default="")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR))
    p.add_argument("--trace-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--replay-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--placement-file", help=argparse.SUPPRESS)
    p.add_argument("--budget", type=int, default=64, help=argparse.SUPPRESS)
    p.add_argument("--exchange-cpu-s", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.trace_worker:
        return trace_worker(args)
    if args.replay_worker:
        return replay_worker(args)
    return driver(args)


if __name__ == "__main__":
    raise SystemExit(main())
