"""Node programs of the user's own on a network of nodes and links (:func:`run_node_programs`).

The built-in scenarios run their protocols (EPR generation, swapping,
purification, QKD) as node processes on the event engine; this module runs
processes a user writes, in the same API (:mod:`dqsim.api` documents it):
generator functions ``program(ctx, *args)`` that yield ``ctx.wait``,
``ctx.receive`` and ``ctx.measure`` commands and call ``ctx.send``,
``ctx.apply``, ``ctx.bell_pair``, ``ctx.reset``, ``ctx.count``, ``ctx.log``.
It places the nodes on the ranks, gives each node ``qubits_per_node``
qubits of one sharded register, derives the engine's lookahead from the
links and runs to the end. Results do not depend on the number of ranks
(DESIGN.md invariant 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from dqsim.engine import RunStatistics, Simulator
from dqsim.errors import ResourceError
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec


@dataclass(frozen=True)
class ProgramRun:
    """The outcome of :func:`run_node_programs`, the same on every rank.

    Attributes:
        statistics: the engine's :class:`~dqsim.engine.RunStatistics`;
            ``statistics.counters`` holds every ``ctx.count`` summed over ranks.
        end_time_ps: simulated time at the end, ps.
        placement: the rank of each node.
        timeline: ``(time_ps, node, kind, detail)`` of every ``ctx.log`` on
            rank 0 when ``timeline`` was asked for (``None`` on other ranks).
        probes: ``key`` -> the value of every ``ctx.probe_bell_fidelity`` (a float) and
            ``ctx.probe_bell_diagonal`` (the four Bell weights) of the run, from all ranks, on every rank
            (``Simulator.gather_probes``; since 2026-12-07 (night): before, a run's probes could not be read).
    """

    statistics: RunStatistics
    end_time_ps: int
    placement: list[int]
    timeline: list | None
    probes: dict = field(default_factory=dict)


def qubit_of(node: int, slot: int, qubits_per_node: int) -> int:
    """The global index of a node's ``slot``-th qubit (node ``i`` holds ``i*q ... i*q + q - 1``).

    Examples:
        >>> qubit_of(1, 0, 2), qubit_of(1, 1, 2)
        (2, 3)
    """
    if not 0 <= slot < qubits_per_node:
        raise ValueError(f"slot must be in 0..{qubits_per_node - 1}, got {slot}")
    return node * qubits_per_node + slot


def run_node_programs(programs: Mapping[int, Sequence[tuple[Callable, tuple]]], *, node_names: Sequence[str],
                      links: Mapping[tuple[int, int], LinkSpec], qubits_per_node: int, comm, seed: int = 0,
                      placement: Sequence[int] | None = None, backend=None,
                      t1_s: float = math.inf, t2_s: float = math.inf, timeline: bool = False) -> ProgramRun:
    """Collective: run the user's node programs on the engine until no event is left.

    Args:
        programs: node index -> ``[(program, args), ...]``; each starts at time 0
            as ``program(ctx, *args)`` (a generator function, see :mod:`dqsim.api`).
        node_names: the nodes' names; node ``i`` is ``node_names[i]``.
        links: ``(a, b)`` -> the :class:`~dqsim.network.link.LinkSpec` of the
            fibre between nodes a and b; messages between them take its
            ``delay_ps``. Messages go only along links (both directions).
        qubits_per_node: qubits of each node (>= 1), small exact density
            matrices (no state vector); see :func:`qubit_of`.
        comm: communicator from :func:`dqsim.comm.init`.
        seed: the run's seed (see :mod:`dqsim.rng`).
        placement: the rank of each node (default: contiguous blocks).
        backend: from :func:`dqsim.backend.select` (``None``: NumPy).
        t1_s, t2_s: memory times of every qubit, s (``math.inf``: none).
        timeline: keep ``ctx.log`` entries (gathered on rank 0).

    Returns:
        A :class:`ProgramRun`.

    Raises:
        ResourceError: a placement that does not give every node a rank, a
            link to an unknown node, or messages between nodes with no link.
        ConfigError: a node name with whitespace, ``t2_s > 2·t1_s``
            (:class:`~dqsim.network.node.NodeSpec`).
    """
    if qubits_per_node < 1:
        raise ResourceError(f"qubits_per_node must be >= 1, got {qubits_per_node}")
    num_nodes = len(node_names)
    network = Network.from_links([NodeSpec(name=name, t1_s=t1_s, t2_s=t2_s) for name in node_names], links,
                                 num_ranks=comm.size, placement=placement, routed=False)
    # Every qubit is a network qubit in a small exact density matrix (no state vector, DESIGN.md invariant 2).
    owner = [q // qubits_per_node for q in range(num_nodes * qubits_per_node)]
    sim = Simulator(network, comm=comm, state=None, qubit_owner=owner, seed=seed, record_timeline=timeline,
                    backend=backend, num_data_qubits=0)
    for node, entries in programs.items():
        for program, args in entries:
            sim.spawn(node, program, *args)
    statistics = sim.run()
    gathered = sim.gather_timeline() if timeline else None
    return ProgramRun(statistics, statistics.end_time_ps, network.placement.tolist(), gathered, sim.gather_probes())


def counter(run: ProgramRun, key: Any) -> int:
    """A summed ``ctx.count`` of the run (0 if never counted)."""
    return int(run.statistics.counters.get(key, 0))
