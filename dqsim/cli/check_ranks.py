"""How a job's work divides over ``R`` ranks, for ``dqsim check``'s wall-time estimate (:mod:`dqsim.cli.check_time`).

The pilot runs on one rank and gives a run's time as a fixed part (start,
imports, one-time costs, each run's own cost) plus a part that grows with the
job's work. On ``R`` ranks every rank pays the fixed part; the work part is
shared as the scenario shares it (read from the scenarios):

* ``qkd``: each link's sender runs on its first node's rank and its receiver
  on the second's (nodes in contiguous blocks, :func:`dqsim.network.place_on_ranks`);
  distances run one after the other on all ranks. The busiest rank holds
  the largest share of the link ends (each end half its link's work).
* ``repeater``: each chain's nodes in contiguous blocks, chains one after
  the other; the busiest rank's share of the nodes, weighted by the links of
  each chain.
* ``dqc`` and ``cloud``: each engine run on all ranks, QPUs (nodes) in
  blocks; a register of at most :data:`~dqsim.state.sharded.REPLICATED_MAX_QUBITS`
  qubits is replicated (every rank applies every gate, its node programs
  alone divide), a larger one sharded over the ranks.
* ``trotter``: a replicated register's networked runs are shared out, each
  to one rank (:func:`dqsim.comm.balance_items` by Trotter steps; a
  ``"continued"`` evolution, all its points, to one rank), with one
  collective at the end; periodic checkpoints run each run on all ranks; a
  larger register is sharded.
* ``circuit``: the state vector sharded over the ranks, gates on the top
  ``log2 R`` qubits exchanging amplitudes.

What one rank's pilot cannot time is the exchanges between ranks (event
windows across ranks, amplitudes of the rank qubits). Where the placement
says which share of the engine's messages crosses between ranks
(:attr:`Split.crossing`: ``qkd`` links, repeater chains) and the pilot counts
the messages, each crossing message is taken as one exchange of
:func:`exchange_s` (a 2-rank repeater run makes about as many windows as
messages between ranks); elsewhere the estimate's range allows for them
(:data:`EXCHANGE_ALLOWANCE`).
A machine with fewer cores than ranks runs the ranks in turns: the run then
takes at least all ranks' CPU time over the cores (:func:`time_on_ranks`).
"""

from __future__ import annotations

from dataclasses import dataclass

from dqsim import comm as comm_mod
from dqsim.backend.fast import usable_cores as cores  # the cores this process may run on
from dqsim.errors import count_of
from dqsim.network.network import place_on_ranks
from dqsim.scenarios.circuit_run import build_circuit
from dqsim.scenarios.dqc import INITIAL_SCRATCH_QUBITS, replicates
from dqsim.scenarios.cloud import user_jobs_of
from dqsim.scenarios.trotter import shares_runs

#: The range's high end on ``R > 1`` ranks where the ranks exchange during the work and their number is not
#: estimated (amplitudes of a sharded register, a dqc run's windows): the run may take this many times the time
#: without them. On the shared 2-core dev VM such runs (dqc, cloud, circuit on 2 and 4 ranks) took at most 1.27
#: times the central figure without them (2026-12-06, bench/results/check-time-ranks-vm-20261206.md, run 4; that
#: run's check lines had 4 here), and a 2-rank qft_20q 1.9 times a 1-rank run at load 7.
EXCHANGE_ALLOWANCE = 2.0
#: Wall time of one exchange between ranks (an engine window), seconds, per unit of the machine's load per core
#: (the 1-minute load average over the cores, taken as at least 1): each exchange waits for every rank to be
#: scheduled, which takes longer the more runnable processes share a core. A 2-rank run of
#: jobs/repeater_chain.toml made 14,005 windows against 164 on one rank and took 1.2 ms (load 4), 2.0 ms
#: (load 8.5) and 4.6 ms (load 16) more per window than its divided work, about 0.28 ms per unit of load, on
#: the shared 2-core dev VM (2026-12-06, bench/results/check-time-ranks-vm-20261206.md); on idle cores with
#: shared-memory MPI an exchange takes far less, which the range's low end allows (it leaves them out).
EXCHANGE_S_PER_LOAD = 0.56e-3


def exchange_s(load: float, num_cores: int) -> float:
    """One exchange's wall time, seconds, at a 1-minute ``load`` average on ``num_cores`` cores
    (:data:`EXCHANGE_S_PER_LOAD`).

    Examples:
        >>> round(exchange_s(16.0, 2) * 1e3, 2), round(exchange_s(0.5, 2) * 1e3, 2)
        (4.48, 0.56)
    """
    return EXCHANGE_S_PER_LOAD * max(1.0, load / max(1, num_cores))


@dataclass(frozen=True)
class Split:
    """How the work part of a run divides over the ranks.

    Attributes:
        busiest: the busiest rank's share of the work (``1/R``: evenly divided; 1: one rank, or every rank, does
            all of it).
        total: the ranks' shares summed (1: divided; ``R``: every rank does all of it).
        exchanges: whether the ranks exchange during the work (beyond one collective at its end).
        note: what divides, for the ``time:`` line.
        crossing: the share of the engine's messages sent between ranks, each taken as one exchange (a window),
            where the scenario's placement says it (``None``: the exchanges are not counted).
    """

    busiest: float
    total: float
    exchanges: bool
    note: str
    crossing: float | None = None


def _blocks(num_nodes: int, num_ranks: int) -> list[int]:
    """Nodes per rank in the default placement (contiguous blocks; a rank beyond the nodes holds none)."""
    counts = [0] * num_ranks
    for rank in place_on_ranks(num_nodes, num_ranks):
        counts[rank] += 1
    return counts


def idle_ranks_line(num_nodes: int, num_ranks: int, what: str) -> str | None:
    """``dqsim check``'s note where ranks would hold no node of a network placed in contiguous blocks (a repeater
    chain's, a QKD network's: :func:`_blocks`): they wait through the run. ``None``: every rank holds one.

    Examples:
        >>> idle_ranks_line(2, 8, "the longest chain")[:60]
        'note: 6 of 8 ranks hold no node (the longest chain has 2 nod'
        >>> idle_ranks_line(4, 4, "the network") is None
        True
    """
    idle = sum(count == 0 for count in _blocks(num_nodes, num_ranks))
    if not idle:
        return None
    return (f"note: {idle} of {num_ranks} ranks hold no node ({what} has {count_of(num_nodes, 'node')}): they wait "
            f"through the run; -n {num_nodes} or fewer uses every rank")


def _qkd(job, num_ranks: int) -> Split:
    links = job.network_links(job.distances_km()[0] if job.qkd.sweep is not None else None)
    rank_of = place_on_ranks(len(job.node_names()), num_ranks)
    ends = [0] * num_ranks
    for a, b, _ in links:
        ends[rank_of[a]] += 1
        ends[rank_of[b]] += 1
    crossing = sum(rank_of[a] != rank_of[b] for a, b, _ in links)
    return Split(max(ends) / (2 * len(links)), 1.0, crossing > 0,
                 f"the {2 * len(links)} link ends (senders, receivers) by node, {max(ends)} on the busiest rank",
                 crossing / len(links))


def _repeater(job, num_ranks: int) -> Split:
    configs = job.chain.configurations()
    weight = sum(links for links, _ in configs)
    busiest = sum(links * max(_blocks(links + 1, num_ranks)) / (links + 1) for links, _ in configs) / weight
    # blocks of a chain: a link crosses between ranks at each block's end (one fewer than the ranks holding nodes)
    crossing = sum(min(links + 1, num_ranks) - 1 for links, _ in configs) / weight
    return Split(busiest, 1.0, True, f"each chain's nodes in blocks, {busiest:.0%} of them on the busiest rank "
                 f"(weighted by links), {crossing:.0%} of the links between ranks", crossing)


def _register(num_qubits: int, num_ranks: int, what: str) -> Split:
    """How a network run's register of ``num_qubits`` at its start (data + scratch) divides: the run decides
    replication at the start, so this line names the start; the communication qubits the register takes on later
    are in the memory line, which counts its peak (so "6 qubits at its start" here, "at most 7" there; until
    2026-12-07 (night) this line said "of 6 qubits" without "at its start", userwalk2 D10)."""
    size = (f"{what} of {num_qubits} qubits at its start (data + {INITIAL_SCRATCH_QUBITS} scratch; "
            "the memory line: its peak)")
    if replicates(num_ranks, num_qubits):
        return Split(1.0, float(num_ranks), True, f"{size} replicated: every rank applies "
                     "every gate (only the node programs divide)")
    return Split(1.0 / num_ranks, 1.0, True, f"{size} sharded over the ranks")


def _dqc(job, num_ranks: int) -> Split:
    return _register(build_circuit(job).num_qubits + INITIAL_SCRATCH_QUBITS, num_ranks, "a data register")


def _cloud(job, num_ranks: int) -> Split:
    largest = max(user.circuit.num_qubits for user in user_jobs_of(job)) + INITIAL_SCRATCH_QUBITS
    return _register(largest, num_ranks, "each user job's register (the largest)")


def trotter_steps(num_points: int, steps_per_point: int, mode: str) -> int:
    """Trotter steps one trajectory of one series runs, plus one per engine run (the run's own cost): points
    ``k = 0..num_points``, point ``k`` running ``k·steps_per_point`` steps from ``t = 0`` (``"independent"``) or
    ``steps_per_point`` from the previous point (``"continued"``, none for ``k = 0``); see
    :class:`dqsim.jobs.trotter.EvolutionSection`.

    Examples:
        >>> trotter_steps(10, 2, "independent")  # 2·(0+1+...+10) + 11 runs
        121
        >>> trotter_steps(30, 1, "continued")  # 30 + 31 runs
        61
    """
    if mode == "continued":
        return steps_per_point * num_points + num_points + 1
    return steps_per_point * num_points * (num_points + 1) // 2 + num_points + 1


def _trotter(job, num_ranks: int) -> Split:
    sites, ev, sim = job.model.num_sites, job.evolution, job.simulation
    periodic = bool(job.checkpoint.every_wall_s or job.checkpoint.every_sim_s)
    # the run decides sharing and replication at the register's start (sites + scratch), with the run's function;
    # the network qubits a run adds later (trotter.teleport_extra_qubits) are counted in the memory line
    if not shares_runs(sites, num_ranks, job.checkpoint):
        split = _register(sites + INITIAL_SCRATCH_QUBITS, num_ranks, "the register")
        return Split(split.busiest, split.total, split.exchanges,
                     split.note + (" (periodic checkpoints: each run on all ranks)" if periodic else ""))
    series = 1 + (len(sim.sweep.values) if sim.sweep is not None else 0)
    if ev.mode == "continued":  # each evolution (series x trajectory), all its points, to one rank
        costs = [trotter_steps(ev.num_points, ev.steps_per_point, ev.mode)] * (series * sim.trajectories)
    else:
        costs = [k * ev.steps_per_point + 1 for k in range(ev.num_points + 1)] * (series * sim.trajectories)
    load = [0.0] * num_ranks
    for cost, rank in zip(costs, comm_mod.balance_items(costs, num_ranks)):
        load[rank] += cost
    busiest = max(load) / sum(load)
    return Split(busiest, 1.0, False, f"{len(costs)} runs shared out, {busiest:.0%} of their Trotter steps on the "
                 "busiest rank")


def _circuit(job, num_ranks: int) -> Split:
    return Split(1.0 / num_ranks, 1.0, True, f"the state vector of {build_circuit(job).num_qubits} qubits sharded "
                 "over the ranks")


_SPLITS = {"qkd": _qkd, "repeater": _repeater, "dqc": _dqc, "cloud": _cloud, "trotter": _trotter,
           "circuit": _circuit}


def split(job, num_ranks: int) -> Split:
    """How ``job``'s work divides over ``num_ranks`` ranks (see the module docstring); one rank: all on it."""
    if num_ranks <= 1:
        return Split(1.0, 1.0, False, "one rank")
    return _SPLITS[job.scenario](job, num_ranks)


def free_cores(load: float, num_cores: int, num_ranks: int) -> int:
    """Cores the ranks of a run started now may use, at least 1: those the 1-minute ``load`` average leaves free
    (the check's own process counted out), at most ``min(R, num_cores)``. On a loaded machine the ranks then get
    no more CPU than the pilot's one process did: Linux shares the CPU fairly between sessions (autogroup, on on
    the dev VM), so the ranks of one run share one session's part, and on the shared 2-core dev VM at a load of
    12-19 a 2-rank run was no faster than a 1-rank one for 7 of 13 jobs, the others taking 0.69-0.89 of its time
    (2026-12-06, bench/results/check-time-ranks-vm-20261206.md, run 3).

    Examples:
        >>> free_cores(0.3, 2, 4), free_cores(1.2, 4, 2), free_cores(15.0, 2, 2), free_cores(2.6, 4, 4)
        (2, 2, 1, 2)
    """
    return max(1, min(num_ranks, num_cores, int(num_cores + 1 - load)))


def time_on_ranks(fixed_s: float, work_s: float, parts: Split, num_ranks: int, num_cores: int) -> float:
    """A run's wall time on ``num_ranks`` ranks, seconds, from one rank's ``fixed_s + work_s``: the busiest rank's
    ``fixed_s + busiest x work_s``, but at least all ranks' CPU, ``(R x fixed_s + total x work_s)``, over
    ``min(R, num_cores)`` cores. Exchanges between ranks are not counted.

    Examples:
        >>> time_on_ranks(1.0, 8.0, Split(0.5, 1.0, False, ""), 2, 2)  # divided in two on two cores
        5.0
        >>> time_on_ranks(1.0, 8.0, Split(0.25, 1.0, False, ""), 4, 2)  # four ranks taking turns on two cores
        6.0
        >>> time_on_ranks(1.0, 8.0, Split(1.0, 2.0, False, ""), 2, 1)  # replicated, one core
        18.0
    """
    own = fixed_s + parts.busiest * work_s
    return max(own, (num_ranks * fixed_s + parts.total * work_s) / max(1, min(num_ranks, num_cores)))
