"""The ``dqc`` scenario: a circuit partitioned over QPUs joined by optical fibre.

Steps: decompose multi-qubit gates into controlled gates
(:mod:`dqsim.circuit.decompose`), assign qubits to QPUs
(:mod:`dqsim.circuit.partition`, or the user's assignment), lay out the
global register and each node's steps (:mod:`dqsim.circuit.distribute`), run
the node programs on the event engine (:mod:`dqsim.engine`,
:mod:`dqsim.protocols.distributed`), then sample the measured qubits of the
final state and compare it with the ideal, monolithic result of the original
circuit on the same register (the fidelity |⟨ideal|final⟩|²; communication
qubits are back in |0⟩ at the end).

A dynamic circuit (a measurement that is not terminal, a reset, an ``if`` on
measured bits) is measured by the nodes themselves, and its ``if`` blocks
wait for the bits measured on other nodes (:mod:`dqsim.circuit.distribute`):
each engine run is one shot, so ``shots`` trajectories run, each with its
own derived seed (:func:`run_trajectories`), and the counts gather their
classical bits. The fidelity to a monolithic state is not defined for such a
circuit (its final state depends on the outcomes): it is reported as NaN,
with a note in the attributes. In its place, for a circuit small enough to
follow every measurement branch (:mod:`dqsim.circuit.exact`), the counts'
total-variation distance to the ideal circuit's exact distribution, beside
the distance that sampling alone gives on average.

Gate durations are counted for local gates; the protocol steps themselves
(CNOTs and measurements inside TeleGate/teleportation/swapping) take no time
besides their classical messages and EPR generation. Terminal measurements
are sampled from the final state, each measured bit then flipped with the
``measure_error_probability`` of the node that owns the qubit
(:func:`_readout_errors`), and the run ends no earlier than each measuring
node's last step plus its ``measure_duration_ps``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import networkx as nx
import numpy as np

from dqsim.circuit.decompose import decompose_for_distribution, num_controlled_gates, with_qubits_reversed
from dqsim.circuit.distribute import (NodePlan, NodeSteps, RegisterMap, RemoteControl, RemoteSwap, RemoteTarget,
                                      RouteStep, plan_distributed, register_map)
from dqsim.circuit.fusion import FusionCosts, costs_for, fuse_ops
from dqsim.circuit.exact import exact_distribution, total_variation_of_counts
from dqsim.circuit.ir import Circuit, Gate, Measure
from dqsim.circuit.partition import cut_size, partition_qubits
from dqsim.engine import EngineError, RunStatistics, Simulator
from dqsim.engine import checkpoint
from dqsim.errors import CircuitError, ConfigError, ResourceError, count_of, toml_repr
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network, graph_copy_order
from dqsim.network.node import longest_name, names_at, node_values
from dqsim.engine.process import ResumableProcess
from dqsim.jobs.circuit import check_observables
from dqsim.protocols.ahead import AheadProgram, GateSide, PairPrefetch
from dqsim.protocols.distributed import CommPool, NodeProgram, PairEnd, SwapLink, Swapper, stages_of
from dqsim.rng import Stream, derived_seed
from dqsim.scenarios.link_counts import LinkCounts
from dqsim.circuit.register_peak import network_qubits_bound
from dqsim.scenarios.output import (WRITING_RANK, ScenarioOutput, TableInPieces, add_node_names, circuit_attributes,
                                     record_table, standard_error)
from dqsim.scenarios.circuit_run import build_circuit, common_tables, count_bitstrings, summary_lines
from dqsim.scenarios.shots import chunk_shots_for, count_chunks, terminal_chunks
from dqsim.comm import SingleComm
from dqsim.state.gates import adjoint
from dqsim.state.sharded import REPLICATED_MAX_QUBITS, ShardedState
from dqsim.units import PS_PER_US


#: Scratch register bits for communication qubits that join the data register (one EPR pair's two halves).
INITIAL_SCRATCH_QUBITS = 2

#: The keys that set the time of a dqc, trotter or cloud run (``[network]`` and the circuit), for the engine's
#: one line when a node would pass its clock limit, 2**61 ps (:meth:`dqsim.engine.Simulator.refuse_past_clock`):
#: millions of second-long gates, or hundreds of pairs over links that take hours each.
CLOCK_ADVICE = ("shorten [network.node]'s gate_1q_duration_ps, gate_2q_duration_ps, measure_duration_ps or "
                "classical_processing_delay_ps, the links, or the circuit (trotter: [evolution].steps_per_point)")


@dataclass
class DqcRun:
    """What a distributed run produced (identical on every rank unless noted).

    Attributes:
        circuit: the circuit as given; ``decomposed`` what the network ran.
        owner: QPU of each logical qubit; ``regmap`` the global qubits.
        state: final state of the data register (sharded, or whole on every rank when tiny:
            :func:`register_comm`): the data qubits,
            then scratch bits (back in |0⟩) that communication qubits used.
        counts / shots: sampled outcomes of the measured qubits (clbit 0 rightmost); ``shots`` (every
            shot's outcome, in order) is ``None`` where the run kept only the counts (``keep_shots``).
        fidelity: |⟨ideal|final⟩|² with the monolithic result.
        end_time_ps: simulated time when the last event happened, ps.
        links: per link ``(a, b, pairs, attempts, photons)`` summed over the run, ``a < b``, sorted
            (:class:`~dqsim.scenarios.link_counts.LinkCounts`: compact arrays, a sequence of those rows).
        timeline: ``(time_ps, node, kind, detail)`` on rank 0 (``None`` elsewhere).
        engine: :class:`dqsim.engine.RunStatistics`.
        rank_of_node: the rank each node ran on (the network's read-only placement array, int16).
        register_peak_qubits: the most qubits the data register held at once.
        fidelity_stderr: standard error of the mean fidelity over trajectories
            (``nan`` with one trajectory); ``trajectories`` how many ran.
        expectation_stderr: standard error of each ``expectation`` value (a mean
            over trajectories), same order; ``nan`` with one trajectory.
        dynamic: True for a dynamic circuit (one shot per engine run, no fidelity).
    """

    circuit: Circuit
    decomposed: Circuit
    owner: list[int]
    regmap: RegisterMap
    state: ShardedState
    counts: dict[str, int]
    shots: np.ndarray | None
    fidelity: float
    end_time_ps: int
    links: LinkCounts
    timeline: list | None
    engine: RunStatistics
    rank_of_node: np.ndarray
    num_nonlocal_gates: int
    expectation: list[tuple[str, str, float]] = field(default_factory=list)
    timing_s: dict[str, float] = field(default_factory=dict)
    register_peak_qubits: int = 0
    fidelity_stderr: float = math.nan
    expectation_stderr: list[float] = field(default_factory=list)
    trajectories: int = 1
    dynamic: bool = False
    #: The run's :meth:`~dqsim.engine.simulator.Simulator.stop_point`, for work on ``state`` after it (trotter's
    #: observables): a stop signal that came meanwhile checkpoints the finished engine run.
    stop_point: Callable[[], None] = field(default=lambda: None, repr=False)
    #: How the fidelity was found: ``"copy"``, ``"in_place"`` or ``"off"`` (:func:`run_dqc`).
    fidelity_check: str = "copy"


class PairEndProcess(PairEnd, ResumableProcess):
    """:class:`~dqsim.protocols.distributed.PairEnd` as a resumable engine process."""


class SwapLinkProcess(SwapLink, ResumableProcess):
    """:class:`~dqsim.protocols.distributed.SwapLink` as a resumable engine process."""


class SwapperProcess(Swapper, ResumableProcess):
    """:class:`~dqsim.protocols.distributed.Swapper` as a resumable engine process (its link sides too)."""

    link_side = SwapLinkProcess


class NodeProgramProcess(NodeProgram, ResumableProcess):
    """:class:`~dqsim.protocols.distributed.NodeProgram` as a resumable engine process (its swaps too).

    A checkpoint saves each node's processes as their protocol state, with no
    step log, and a resumed run re-executes none of their steps
    (:mod:`dqsim.engine.process`).
    """

    swapper = SwapperProcess
    pair_end = PairEndProcess


class PairPrefetchProcess(PairPrefetch, ResumableProcess):
    """:class:`~dqsim.protocols.ahead.PairPrefetch` as a resumable engine process (its pairs and swaps too)."""

    swapper = SwapperProcess
    pair_end = PairEndProcess


class GateSideProcess(GateSide, ResumableProcess):
    """:class:`~dqsim.protocols.ahead.GateSide` as a resumable engine process."""


class AheadProgramProcess(AheadProgram, ResumableProcess):
    """:class:`~dqsim.protocols.ahead.AheadProgram` as a resumable engine process (its gate sides too)."""

    gate_side = GateSideProcess


#: The schedules of a run's pairs (``[distribution].entanglement``, :func:`run_dqc`).
ENTANGLEMENT_SCHEDULES = ("on_demand", "ahead")


def entanglement_attributes(distribution) -> dict:
    """The output attribute ``distribution_entanglement`` of a job's ``[distribution]`` where it is ``"ahead"``;
    none for the default ``"on_demand"`` (outputs as before 2026-12-06)."""
    if distribution.entanglement == "on_demand":
        return {}
    return {"distribution_entanglement": distribution.entanglement}


def job_network(section, num_ranks: int, *, link_parameter: tuple[str, float] | None = None,
                source: str = "") -> Network:
    """The :class:`Network` of a job's ``[network]`` section on ``num_ranks`` ranks.

    Built from the section's links (:meth:`~dqsim.jobs.network.NetworkSection.link_pairs`) without a networkx
    graph: its routes are searched on the network's arrays (every rank builds the network), and its graph,
    ``section.build_graph()``, is built only if read.

    Args:
        section: the job's ``[network]`` (:class:`dqsim.jobs.config.NetworkSection`).
        num_ranks: ranks of the run.
        link_parameter: ``(parameter, value)``: every link with that :class:`~dqsim.network.link.LinkSpec`
            field set to ``value`` (a ``trotter`` sweep). Its network is the one made from a copy of the graph
            with the links changed, as until 2026-12-07 (:func:`with_link_parameter`): routes still weigh the
            links by the job's lengths (the copy kept them in its ``distance_km``), and break ties by the order
            the copy added its edges (:func:`~dqsim.network.network.graph_copy_order`).
        source: the job's ``job.source`` (its file, and any ``--set``), which
            starts an error message as every job error's does (``""``: none).

    Raises:
        ResourceError: a ``[network].placement`` with a rank the run does not
            have: ``<source>: [network].placement[i] = r: must be a rank in 0..P-1 ...``.
    """
    names = section.node_name_sequence()
    key = f"{source}: [network].placement" if source else "[network].placement"
    nodes = section.node_spec(names[0]).renamed_all(names)
    pairs, links, lengths = section.link_pairs()
    graph, weights = section.build_graph, None
    if link_parameter is not None:
        parameter, value = link_parameter
        swept: dict[int, LinkSpec] = {}  # one changed link per distinct link (a [network.link]'s links share one)
        for link in {id(link): link for link in links}.values():
            swept[id(link)] = dataclasses.replace(link, **{parameter: float(value)})
        copied = graph_copy_order(pairs, len(names))
        if copied is not None:
            pairs, links = pairs[copied], [links[i] for i in copied.tolist()]
            lengths = None if lengths is None else lengths[copied]
        weights = [link.distance_km for link in links] if lengths is None else lengths.tolist()
        links = [swept[id(link)] for link in links]
        if parameter == "distance_km":  # (every link at the swept length)
            lengths = None

        def graph() -> nx.Graph:
            return with_link_parameter(section.build_graph(), parameter, value)
    return Network.from_pairs(nodes, pairs, links, graph=graph, route_weights=weights, num_ranks=num_ranks,
                              placement=section.placement, placement_key=key, lengths_km=lengths)


def with_link_parameter(graph: nx.Graph, parameter: str, value: float) -> nx.Graph:
    """A copy of ``graph`` with ``parameter`` of every edge's link set to ``value`` (its ``distance_km`` kept)."""
    changed = graph.copy()
    for _u, _v, data in changed.edges(data=True):
        data["link"] = dataclasses.replace(data["link"], **{parameter: float(value)})
    return changed


def register_comm(comm, num_qubits: int, replicate_max_qubits: int = REPLICATED_MAX_QUBITS):
    """The communicator the data register of a run is sharded over: ``comm``, or one process for a tiny register.

    A register of at most ``replicate_max_qubits`` qubits is *replicated*: every
    rank holds all of it (a :class:`~dqsim.comm.SingleComm` state) and applies
    every operation itself, as the engine already has every rank apply every
    shared operation in the same order. Gates, measurements and expectation
    values then need no exchange and no reduction, and the arithmetic is that of
    a one-rank run (bit-identical results on any rank count). Measurement
    outcomes agree on every rank because the states and the random streams do.
    A checkpoint has each rank write its ``1/P`` of the register, so its files
    look like those of a sharded one (:class:`dqsim.engine.checkpoint.Checkpointer`).

    Examples:
        >>> from dqsim.comm import SingleComm
        >>> register_comm(SingleComm(), 10).size
        1
    """
    return SingleComm() if replicates(comm.size, num_qubits, replicate_max_qubits) else comm


def replicates(num_ranks: int, num_qubits: int, replicate_max_qubits: int = REPLICATED_MAX_QUBITS) -> bool:
    """Whether a register of ``num_qubits`` on ``num_ranks`` ranks is replicated, not sharded (:func:`register_comm`).

    Examples:
        >>> replicates(2, 10), replicates(1, 10), replicates(2, 13)
        (True, False, False)
    """
    return num_ranks > 1 and num_qubits <= replicate_max_qubits


@dataclass(frozen=True)
class DqcPlan:
    """What a distributed run of a circuit needs that depends on the job alone, not on the seed: built once by
    :func:`plan_dqc` and shared by all trajectories of a job (its node steps never change during a run,
    :meth:`dqsim.engine.simulator.Simulator.share`).

    Attributes:
        circuit: the circuit as given; ``decomposed`` what the network runs.
        network: the network it was planned on; ``scheme`` ``"telegate"`` or ``"teledata"``.
        owner: QPU of each logical qubit; ``regmap`` the global qubits; ``plan`` each node's steps.
        num_nonlocal_gates: gates of ``decomposed`` whose qubits lie on two QPUs
            (:func:`dqsim.circuit.partition.cut_size`): a SWAP between QPUs run as two teleportations, or a dense
            two-qubit gate run as TeleData, counts once (it uses two EPR pairs), one rewritten into three
            controlled gates counts three (:func:`with_teleported_gates`).
        references: the fidelity check's ideal registers of the runs made with this plan, kept where small
            (:func:`_kept_reference`); shared by the plans :func:`dataclasses.replace` makes of this one.
    """

    circuit: Circuit
    network: Network
    scheme: str
    decomposed: Circuit
    owner: tuple[int, ...]
    regmap: RegisterMap
    plan: NodePlan
    num_nonlocal_gates: int
    references: dict = field(default_factory=dict, compare=False, repr=False)


def comm_qubits_needed(steps, scheme: str) -> tuple[int, object]:
    """The communication qubits one node's ``steps`` hold at once, at most, and the step that holds the most.

    A step takes its communication qubits from the node's pool and gives them back before the node's next
    step (:func:`dqsim.protocols.distributed.stages_of`: one per ``"acquire"`` stage), so the most any one
    step takes is what the node needs (a TeleGate end, an end of a routed pair or the control of a TeleData gate
    with ``early_return`` False: 1; the target of a TeleData gate (or of a dense two-qubit gate, which runs as
    one under either scheme), which holds the pair that brought the control
    and the return pair, its control with ``early_return`` (the return pair requested at the gate's start),
    either side of a SWAP between QPUs, or an intermediate node that swaps entanglement: 2; local gates and
    measurements: 0). ``(0, None)`` for a node with no nonlocal step.

    Examples:
        >>> from dqsim.circuit.distribute import RemoteControl
        >>> comm_qubits_needed([RemoteControl(0, 1, 0)], "teledata")[0], comm_qubits_needed([], "telegate")
        (2, (0, None))
    """
    need, which = 0, None
    for step in steps:
        count = sum(1 for stage in stages_of(step, scheme) if stage[0] == "acquire")
        if count > need:
            need, which = count, step
    return need, which


def extra_register_qubits(prepared: DqcPlan, entanglement: str = "on_demand", *,
                          routes_known: bool = True) -> tuple[int, bool]:
    """``(extra, exact)``: qubits a run of ``prepared`` (:func:`plan_dqc`, the run's plan) adds to its register
    beyond the data qubits and :data:`INITIAL_SCRATCH_QUBITS`, at most, and whether every run adds exactly that
    many. The register holds the communication qubits that protocol steps couple to it at the moment (DESIGN.md
    invariant 2) and never shrinks, so this is the most network qubits in it at once
    (:func:`dqsim.circuit.register_peak.network_qubits_bound`: by the plan's causal order under
    ``entanglement`` ``"on_demand"``, by the nodes' communication qubits under ``"ahead"``; ``routes_known``
    False: every pair may be routed, as a ``cloud`` user job's on a QPU set the queue picks) less the scratch
    bits. ``dqsim check`` counts memory with it.

    Measured (``register_qubits``, 2026-12-07 late afternoon; ``tests/test_register_peak.py``):
    ``jobs/dqc_ghz_4qpu.toml`` 10 (exact); with ``scheme = "teledata"`` 11 (this gives at most 13: a return
    pair's last qubit may, by the causal order alone, wait while the next gates run), routed through two QPUs 11
    (at most 11); two TeleGates at once between disjoint QPU pairs over lossless links 11 (at most 11; before
    2026-12-07 (late afternoon) check counted 10 for it, one less than the run).

    Examples:
        >>> from dqsim.circuit.ir import Circuit
        >>> from dqsim.network.link import LinkSpec
        >>> from dqsim.network.node import NodeSpec
        >>> net = Network.from_links([NodeSpec(name=n, num_data_qubits=1, num_comm_qubits=2) for n in "ab"],
        ...                          [(0, 1, LinkSpec(distance_km=1.0))])
        >>> extra_register_qubits(plan_dqc(Circuit(2).gate("h", 0).gate("cx", 0, 1), net))
        (0, True)
        >>> extra_register_qubits(plan_dqc(Circuit(2).gate("h", 0).gate("cx", 0, 1), net, scheme="teledata"))
        (1, True)
    """
    bound = network_qubits_bound(prepared.plan.steps.items(), prepared.scheme,
                                 node_values(prepared.network.nodes, "num_comm_qubits"),
                                 entanglement=entanglement, routes_known=routes_known)
    extra = max(bound.most - INITIAL_SCRATCH_QUBITS, 0)
    return extra, bound.exact or extra == 0


def _late_return_pairs(plan: NodePlan, two_comm: Sequence[bool], scheme: str) -> NodePlan:
    """``plan`` with each TeleData gate (under ``scheme`` ``"teledata"``, or a ``dense`` one under either)
    whose control's node has one communication qubit on the schedule before
    2026-12-06 (``early_return`` False on both its sides: the return pair is requested once the control has
    arrived), so that node needs one communication qubit, not two; gates whose control's node has two keep
    the return pair requested at the gate's start."""
    def late(node, step):
        if not isinstance(step, (RemoteControl, RemoteTarget)) or not (scheme == "teledata" or step.dense):
            return step
        if isinstance(step, RemoteControl) and not two_comm[node]:
            return dataclasses.replace(step, early_return=False)
        if isinstance(step, RemoteTarget) and not two_comm[step.peer]:
            return dataclasses.replace(step, early_return=False)
        return step
    steps = {node: [late(node, step) for step in node_steps] for node, node_steps in plan.steps.items()}
    return dataclasses.replace(plan, steps=NodeSteps(len(plan.steps), steps))


#: EPR pairs of a two-qubit gate run by teleportation: a SWAP (each qubit across) or a dense gate (its first
#: qubit over and back, as TeleData).
TELEPORTED_GATE_PAIRS = 2


def with_teleported_gates(circuit: Circuit, decomposed: Circuit, owner: Sequence[int], two_comm: Sequence[bool], *,
                          scheme: str = "telegate", check: bool = True) -> Circuit:
    """``decomposed`` (:func:`~dqsim.circuit.decompose.decompose_for_distribution` of ``circuit``) with the
    two-qubit gates between QPUs that teleportation runs with fewer EPR pairs kept whole:

    * a ``swap`` between two QPUs that have two communication qubits each (``two_comm``, per QPU): two
      teleportations, two pairs, where three CX take three;
    * a dense two-qubit ``unitary`` whose rewrite takes more pairs than two
      (:func:`~dqsim.circuit.decompose.num_controlled_gates`, one pair each under ``scheme`` ``"telegate"``, two
      under ``"teledata"``: under TeleGate, the gates that need three CNOTs), between two QPUs of which one has
      two communication qubits: its first qubit is teleported to the other's QPU, the gate applied there,
      and the qubit teleported back (TeleData, two pairs: two teleportations, Bennett et al., PRL 70, 1895
      (1993), do any two-qubit gate). The qubit moves to a QPU with two communication qubits (the gate's
      qubits are reversed where only the first one's has), and the return pair is requested at the gate's
      start where its own QPU has two as well (6 link delays on an ideal link), else once it has arrived (10).

    ``owner`` (QPU of each qubit) is the placement of the fully rewritten form, so it does not depend on
    this; ``decomposed`` itself where nothing is kept. :func:`plan_dqc` runs it and the ``cloud`` scheduler's
    estimates count it so: one predicate for both.
    """
    if not any(two_comm) or not any(len(g.qubits) == 2 and g.name in ("swap", "unitary")
                                    for g in circuit.all_gates()):
        return decomposed
    return decompose_for_distribution(circuit, check=check,
                                      keep=lambda gate: teleported_form(gate, owner, two_comm, scheme=scheme))


def teleported_form(gate, owner: Sequence[int], two_comm: Sequence[bool], *, scheme: str = "telegate"):
    """The form in which :func:`with_teleported_gates` keeps the two-qubit ``swap`` or dense ``unitary`` ``gate``
    whole (teleported), ``gate`` itself or its qubits reversed so that the second is on a QPU with two
    communication qubits; ``None`` where it is rewritten as controlled gates. One predicate for the run and the
    counts that report it (``trotter_teleported_bonds``)."""
    a, b = (owner[q] for q in gate.qubits)
    if a == b:
        return None
    if gate.name == "swap":
        return gate if two_comm[a] and two_comm[b] else None
    pairs_per_gate = 2 if scheme == "teledata" else 1
    if not (two_comm[a] or two_comm[b]) or num_controlled_gates(gate) * pairs_per_gate <= TELEPORTED_GATE_PAIRS:
        return None
    return gate if two_comm[b] else with_qubits_reversed(gate)


def plan_dqc(circuit: Circuit, network: Network, *, scheme: str = "telegate",
             assignment: Sequence[int] | None = None, source: str = "") -> DqcPlan:
    """Decompose, partition and lay out ``circuit`` on ``network``: the part of :func:`run_dqc` that a job's
    trajectories share (no collective; the same on every rank).

    ``source``: the job's ``job.source``, which starts the message of a refusal (``""``: none).

    Raises:
        CircuitError: an unknown ``scheme``, or a circuit the network cannot run.
        ResourceError: a node with fewer communication qubits than its part of the circuit holds at once
            (:func:`comm_qubits_needed`; a node the circuit's nonlocal gates and routes leave out needs none).
    """
    if scheme not in ("telegate", "teledata"):
        raise CircuitError(f"scheme = {scheme!r}; allowed: telegate, teledata")
    node_names, node_specs, num_nodes = network.names, network.nodes, network.num_nodes
    decomposed = decompose_for_distribution(circuit)
    owner = partition_qubits(decomposed, node_values(node_specs, "num_data_qubits"), assignment=assignment)
    comm_counts = node_values(node_specs, "num_comm_qubits")
    two_comm = [count >= 2 for count in comm_counts]
    decomposed = with_teleported_gates(circuit, decomposed, owner, two_comm, scheme=scheme)
    # Only the data slots the circuit uses enter the register: capacity is a limit, not memory.
    held = Counter(owner)
    used = [held.get(i, 0) for i in range(num_nodes)]
    regmap = register_map(owner, used, comm_counts)
    plan = plan_distributed(decomposed, regmap, num_nodes, path=network.route, scheme=scheme)
    if not all(two_comm):
        plan = _late_return_pairs(plan, two_comm, scheme)
    for i, node_steps in plan.steps.items():  # (a node without steps needs no communication qubit)
        spec = node_specs[i]
        need, step = comm_qubits_needed(node_steps, scheme)
        if spec.num_comm_qubits < need:
            if isinstance(step, RouteStep):
                why = (f"it swaps entanglement for a nonlocal gate between {node_names[step.path[0]]} and "
                       f"{node_names[step.path[-1]]}, which have no link")
            elif isinstance(step, RemoteTarget) and scheme == "teledata" and not step.early_return:
                why = "it is the target of a teledata gate: it receives the control and teleports it back"
            elif scheme == "teledata" and not isinstance(step, RemoteSwap):
                why = ("it is an end of a teledata gate: it holds the pair that carries the control out and the "
                       "return pair, both requested at the gate's start")
            elif isinstance(step, RemoteSwap):  # pragma: no cover - swaps are teleported only with two of each
                why = "it takes part in a SWAP between QPUs: two teleportations, one pair each"
            else:
                why = "it takes part in a nonlocal gate"
            raise ResourceError(
                f"{source + ': ' if source else ''}[network.node].num_comm_qubits = {spec.num_comm_qubits}: node "
                f"{node_names[i]} needs {count_of(need, 'communication qubit')} at once for this circuit ({why}); "
                f"set num_comm_qubits = {need} or more"
                + ("" if isinstance(step, RouteStep) or scheme == "telegate" else
                   ', or the telegate scheme (one each)'))
    return DqcPlan(circuit, network, scheme, decomposed, tuple(owner), regmap, plan, cut_size(decomposed, owner))


def run_dqc(circuit: Circuit, *, comm, backend, network: Network, scheme: str = "telegate",
            assignment: Sequence[int] | None = None, seed: int = 0, precision: str = "complex128",
            shots: int = 1000, observables: Sequence[tuple[str, list]] = (), timeline: bool = True,
            on_window=None, checkpointing=None, replicate_max_qubits: int = REPLICATED_MAX_QUBITS,
            fidelity_check: str = "auto", prepared: DqcPlan | None = None,
            initial: ShardedState | None = None, fusion: bool = True, keep_shots: bool = True,
            on_shots: Callable[[int, int], None] | None = None, entanglement: str = "on_demand") -> DqcRun:
    """Run ``circuit`` distributed over the network (collective).

    Args:
        network: the QPUs, their links and their placement on ``comm.size`` ranks
            (:class:`~dqsim.network.network.Network`; :func:`job_network` from a job).
        scheme: ``"telegate"`` or ``"teledata"``.
        assignment: optional QPU index of every logical qubit.
        observables: ``(text, terms)`` Pauli sums on logical qubits.
        checkpointing: a :class:`dqsim.engine.checkpoint.CheckpointSession`
            (write checkpoints, or resume one), or ``None``.
        replicate_max_qubits: a data register of at most this many qubits at the start (data
            qubits plus scratch bits) is kept whole on every rank instead of sharded
            (:func:`register_comm`); ``0`` always shards.
        fidelity_check: how the fidelity to the monolithic circuit is found: ``"copy"`` applies the
            circuit to a second register (as much memory again), ``"in_place"`` applies its inverse
            and then the circuit to the final state itself (no memory, twice the gates; after the
            sampling and expectation values, which so see the state as the engine left it),
            ``"auto"`` (default) the copy where it fits, else in place, ``"off"`` none (NaN).
        prepared: :func:`plan_dqc` of this ``circuit``, ``network``, ``scheme`` and ``assignment``, made
            once for many runs (the trajectories of a job); ``None``: planned here.
        initial: the register to start from instead of |0…0⟩: the ``state`` of an earlier run of a
            circuit on the same qubits, network, scheme and assignment (the same register map), on
            the communicator this run's register gets (:func:`register_comm`), its scratch bits back
            in |0⟩; the run evolves it in place (the trotter scenario's ``"continued"`` mode). Its
            default random streams restart from ``seed``, as a new register's would. The fidelity
            is then that of the final state to the circuit applied to |0…0⟩, not to ``initial``:
            pass ``fidelity_check="off"`` and compare with the ideal state yourself. On a resume the
            checkpoint's register replaces it. ``None``: a new register in |0…0⟩.
        fusion: fuse the unitary register operations between two reads of the register (the job's
            ``[simulation].fusion``; :attr:`dqsim.engine.quantum.QuantumMemory.fusion_costs`), and the
            gates of the fidelity check on a second register: the same physics in fewer passes over the
            register, the same results up to floating-point rounding.
        keep_shots: keep every shot's outcome in the result's ``shots`` (8 bytes a shot); ``False``: only
            their ``counts`` (memory for the distinct outcomes, not the shots: :func:`draw_shots`), and
            ``shots`` is ``None``.
        on_shots: ``on_shots(done, shots)`` after each chunk of shots drawn from the final state
            (:func:`draw_shots`; progress while many are drawn).
        entanglement: ``"on_demand"`` (default): each node runs its steps one after the other and requests a
            nonlocal gate's pairs when it reaches the gate (:class:`~dqsim.protocols.distributed.NodeProgram`);
            ``"ahead"``: each node requests the pairs of its next nonlocal gates as soon as a communication
            qubit is free, and runs nonlocal gates on disjoint data qubits at once (:mod:`dqsim.protocols.ahead`).
            The same final state in the noiseless case; on the ideal links of the tests it never ended later
            (not shown in general).

    Raises:
        ValueError: ``initial`` has fewer qubits than the register needs, or lives on another
            communicator size.
    """
    if fidelity_check not in FIDELITY_CHECKS:
        raise ConfigError(f"fidelity_check = {fidelity_check!r}; allowed: {', '.join(FIDELITY_CHECKS)}")
    if entanglement not in ENTANGLEMENT_SCHEDULES:
        raise ConfigError(f"entanglement = {entanglement!r}; allowed: {', '.join(ENTANGLEMENT_SCHEDULES)}")
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    if prepared is None:
        prepared = plan_dqc(circuit, network, scheme=scheme, assignment=assignment)
    elif prepared.circuit is not circuit or prepared.network is not network or prepared.scheme != scheme:
        raise ValueError("run_dqc: prepared was planned for another circuit, network or scheme; pass "
                         "plan_dqc(circuit, network, scheme=scheme, assignment=assignment)")
    node_names, node_specs, num_nodes = network.names, network.nodes, network.num_nodes
    decomposed, owner, regmap, plan = prepared.decomposed, prepared.owner, prepared.regmap, prepared.plan
    steps = plan.steps
    if plan.engine_measures and shots > 1:
        raise CircuitError(f"shots = {shots}: a circuit with mid-circuit measurements, resets or 'if' gives one "
                           "shot per run of the network; the dqc scenario runs one per shot (run_trajectories), "
                           "as the cloud scenario does for such a user job")
    if network.num_ranks != comm.size:
        raise ResourceError(f"the network is placed on {count_of(network.num_ranks, 'rank')} but the run has "
                            f"{comm.size}")
    network.check_pairing_horizon()  # before any work: int64 ps must hold the run
    rank_of_node = network.placement
    # The data register holds the data qubits plus scratch bits (at least one bit per rank bit):
    # communication qubits are small states and take a scratch bit only while a protocol step couples
    # them to data. Two scratch bits (one pair) from the start, more added only when needed. A tiny
    # register is kept whole on every rank (register_comm).
    num_register = regmap.num_data_qubits + INITIAL_SCRATCH_QUBITS
    state_comm = register_comm(comm, num_register, replicate_max_qubits)
    num_start = max(num_register, comm.size.bit_length() - 1, 1)
    if initial is None:
        state = ShardedState(num_start, state_comm, precision=precision, backend=backend, seed=seed)
    elif initial.num_qubits < num_start or initial.comm.size != state_comm.size:
        raise ValueError(f"run_dqc: initial has {count_of(initial.num_qubits, 'qubit')} on "
                         f"{count_of(initial.comm.size, 'rank')}; this run's register needs at least {num_start} "
                         f"on {count_of(state_comm.size, 'rank')}")
    else:
        state = initial
        state.reseed_(seed)
    # the progress count, read at every exchange: over this rank's nodes with steps only (a 4-qubit circuit on a
    # 1,024-node network summed 1,024 nodes twice per exchange: a trotter run took 10.9 CPU s instead of 7.6-8.4)
    working = [i for i in steps.nodes_with_steps() if rank_of_node[i] == comm.rank]
    num_steps = sum(len(steps[i]) for i in working)
    sim = Simulator(network, comm=comm, state=state, qubit_owner=regmap.node_of_qubit, seed=seed,
                    record_timeline=timeline, on_window=on_window,
                    work_done=lambda: (sum(sim.node_data(i).get("steps_done", 0) for i in working), num_steps),
                    checkpointer=checkpoint.engine_checkpointer(checkpointing, comm),
                    num_data_qubits=regmap.num_data_qubits, clock_advice=CLOCK_ADVICE)
    if fusion:  # the register operations between two reads of the register, fused (QuantumMemory.fusion_costs)
        sim.memory.fusion_costs = costs_for(backend)
    sim.share(network)
    # every node's steps are shared, in node order on every rank (checkpoints save a program's place in its
    # steps by their position among the shared objects, which a resume on another rank count, or of a checkpoint
    # written before 2026-12-07, must find alike): a node without steps shares the one empty tuple (8 bytes a
    # node, no list of its own); a program and a communication-qubit pool only for a node with steps, on the rank
    # that runs it: a node with none has nothing to do (4 of a GHZ's 65,536 nodes of a line have steps), so it
    # gets no process, no event, no "done" row and, unless a message reaches it (a routed pair's swap is a step),
    # no engine record
    shared_steps = dict(steps.items())
    for node in range(num_nodes):
        sim.share(shared_steps.get(node, ()))
    for node in working:
        sim.node_data(node)["comm_pool"] = CommPool(list(regmap.comm_qubits[node]))
        if entanglement == "on_demand":
            sim.spawn(node, NodeProgramProcess(network, scheme, shared_steps[node]))
            continue
        # (the prefetch first: it starts the pairs of the first gates at time 0)
        sim.spawn(node, PairPrefetchProcess(network, scheme, shared_steps[node]))
        sim.spawn(node, AheadProgramProcess(network, scheme, shared_steps[node]))
    del shared_steps
    timing["setup"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = sim.run()
    timing["network"] = time.perf_counter() - t0
    # each rank's nodes that did not finish, and when those that read measured qubits out finished (not a
    # record per node of the network gathered on every rank)
    measured = sorted({owner[m.qubit] for m in circuit if isinstance(m, Measure)}) if not plan.engine_measures else []
    done_ps: dict[int, int] = {}
    missing_nodes: list[int] = []
    for part_done, part_missing in comm.allgather(
            ({i: sim.node_data(i).get("done_ps", 0) for i in measured if rank_of_node[i] == comm.rank},
             [i for i in working if not sim.node_data(i).get("done")])):
        done_ps.update(part_done)
        missing_nodes.extend(part_missing)
    if missing_nodes:
        missing = [node_names[i] for i in sorted(missing_nodes)]
        raise EngineError(f"nodes {missing} did not finish their part of the circuit (deadlock: too few "
                          "communication qubits for the routing this circuit needs?)")
    t0 = time.perf_counter()
    # The work on the final state can take as long as the engine run (the fidelity check applies every gate
    # again to a second register): a stop signal meanwhile checkpoints the finished engine run, whose resume
    # redoes only this (Simulator.stop_point; at each step, and every 64 gates of the fidelity check).
    sim.stop_point()
    method = "off" if plan.engine_measures else fidelity_check
    fidelity, ops = math.nan, None  # (the register's operations: made at most once)
    if method in ("auto", "copy"):
        fidelity = _kept_reference(prepared, state, fusion)
        if math.isnan(fidelity):
            ops = register_ops(circuit, regmap)
            ideal = _reference_state(state, seed, allow_in_place=method == "auto")
            if ideal is None:
                method = "in_place"  # run after the sampling, which then sees the state as the engine left it
            else:
                fidelity = _fidelity_to_copy(ops, ideal, state, between=sim.stop_point,
                                             costs=costs_for(backend) if fusion else None)
                _keep_reference(prepared, ideal, fusion)
        if method != "in_place":
            method = "copy"
    mapped_obs = [(text, [(c, p, tuple(regmap.qubit_of_logical[q] for q in qs)) for c, p, qs in terms])
                  for text, terms in observables]
    expectation = []
    for i, (text, terms) in enumerate(mapped_obs):
        sim.stop_point()
        expectation.append((f"obs{i}", text, state.expectation(terms)))
    sim.stop_point()
    if plan.engine_measures and circuit.num_clbits:
        outcomes = _held_bits(plan, sim, working, comm, shots)
        counts = count_bitstrings(outcomes, circuit.num_clbits)
    else:
        counts, outcomes = draw_shots(state, circuit, shots, regmap.qubit_of_logical, owner, node_specs, seed,
                                      keep_shots=keep_shots, between=sim.stop_point, on_shots=on_shots)
    outcomes = outcomes if keep_shots else None
    sim.stop_point()
    if method == "in_place":
        ops = register_ops(circuit, regmap) if ops is None else ops  # (made above where no copy fitted)
        fidelity = _fidelity_in_place(ops, state, stop_pending=sim.stop_pending, between=sim.stop_point)
    if checkpointing is not None:  # the scenario's tables and the output write stop through it (released when
        checkpointing.finished_run = sim.stop_point  # the next engine run starts, before its register is built)
    end_time_ps = engine.end_time_ps
    if not plan.engine_measures:  # each node reads its measured qubits out once it has finished its steps
        end_time_ps = max([end_time_ps] + [done_ps[node] + node_specs[node].measure_duration_ps
                                           for node in measured])
    timing["results"] = time.perf_counter() - t0
    links = LinkCounts.of_network(network, engine.counters)
    return DqcRun(circuit, decomposed, list(owner), regmap, state, counts, outcomes, float(fidelity),
                  end_time_ps, links, sim.gather_timeline() if timeline else None, engine,
                  rank_of_node, prepared.num_nonlocal_gates, expectation, timing, sim.memory.peak_register_qubits,
                  expectation_stderr=[math.nan] * len(expectation), dynamic=plan.engine_measures,
                  stop_point=sim.stop_point, fidelity_check=method)


def draw_shots(state: ShardedState, circuit: Circuit, shots: int, qubit_of: Sequence[int], owner: Sequence[int],
               node_specs: Sequence, seed: int, *, keep_shots: bool = True, between: Callable[[], None] = lambda: None,
               on_shots: Callable[[int, int], None] | None = None) -> tuple[dict[str, int], np.ndarray | None]:
    """The counts of ``shots`` terminal measurements of the final ``state``, with readout errors (collective).

    The shots are drawn :func:`~dqsim.scenarios.shots.chunk_shots_for` at a
    time (:func:`~dqsim.scenarios.shots.terminal_chunks`), each chunk's
    readout errors applied (:func:`_readout_errors`) and counted
    (:func:`~dqsim.scenarios.shots.count_chunks`): the same counts as
    one draw of all of them, in memory for a chunk and the distinct
    outcomes. Between chunks ``between()`` is called (a stop signal
    there checkpoints the finished engine run; the resume draws all the
    shots again, from the same stream event). With more than one chunk,
    ``on_shots(done, shots)`` is called before the first and after each.

    Returns:
        ``(counts, outcomes)``: the counts as bit strings, most frequent first
        (:func:`~dqsim.scenarios.circuit_run.count_bitstrings`), and every
        shot's outcome in order (``None`` unless ``keep_shots``).
    """
    chunk_shots = chunk_shots_for(state)
    chunks, width = terminal_chunks(state, circuit, shots, qubit_of, chunk_shots=chunk_shots)

    def readout(chunk: np.ndarray, first_shot: int) -> np.ndarray:
        return _readout_errors(chunk, circuit, owner, node_specs, seed, first_shot=first_shot, shots=shots)

    return count_chunks(chunks, width, shots, keep_shots=keep_shots, transform=readout, between=between,
                        on_shots=on_shots if shots > chunk_shots else None)


def _readout_errors(outcomes: np.ndarray, circuit: Circuit, owner: Sequence[int], node_specs: Sequence,
                    seed: int, *, first_shot: int = 0, shots: int | None = None) -> np.ndarray:
    """Terminal measurement outcomes with each node's readout error: every measured bit flips independently
    with the ``measure_error_probability`` of the node that owns the qubit (the dynamic path's measurements
    have it from the engine). The flips of node ``i`` come from the stream ``(seed, i, "dqc-readout")``
    (:mod:`dqsim.rng`), so they do not depend on the number of ranks.

    ``outcomes`` are shots ``first_shot ..`` of ``shots`` (default: all of them, ``len(outcomes)``): the
    ``k``-th measured bit of node ``i`` (in circuit order) takes uniforms ``k·shots + first_shot ..`` of that
    stream's first event, so the flips do not depend on how the shots are split into chunks either.
    """
    shots = outcomes.size if shots is None else shots
    streams: dict[int, Stream] = {}
    bits_drawn: dict[int, int] = {}
    flipped = outcomes.copy()
    last = {ins.clbit: ins for ins in circuit if isinstance(ins, Measure)}  # the write each bit keeps
    for ins in circuit:
        if not isinstance(ins, Measure) or last[ins.clbit] is not ins:
            continue
        node = owner[ins.qubit]
        p = node_specs[node].measure_error_probability
        if p > 0 and flipped.size:
            if node not in streams:
                streams[node] = Stream(seed, node=node, purpose="dqc-readout")
            k = bits_drawn.get(node, 0)
            bits_drawn[node] = k + 1
            uniforms = streams[node].uniforms_from(0, k * shots + first_shot, flipped.size)
            flipped ^= (uniforms < p).astype(np.int64) << ins.clbit
    return flipped


#: Gates of the fidelity check applied between two looks for a stop signal (:func:`_fidelity_to_copy`,
#: :func:`_fidelity_in_place`).
FIDELITY_PIECE_GATES = 64

#: ``[simulation].fidelity_check`` values (:func:`run_dqc`).
FIDELITY_CHECKS = ("auto", "copy", "in_place", "off")


def register_ops(circuit: Circuit, regmap: RegisterMap) -> list:
    """The circuit's gates as register operations (logical qubits mapped to register qubits), in order."""
    return [Gate(g.name, tuple(regmap.qubit_of_logical[q] for q in g.qubits), g.params, g.matrix).to_op()
            for g in circuit.gates()]


#: Largest register (qubits, scratch bits included) whose fidelity check's ideal register a plan keeps for its
#: later runs (:func:`_kept_reference`): 2^10 amplitudes, 16 KiB in complex128.
KEPT_REFERENCE_MAX_QUBITS = 10


def _reference_key(state: ShardedState, fusion: bool) -> tuple | None:
    """What the ideal register of a run's fidelity check depends on besides its plan (its circuit and register
    map): the register's qubits, precision and backend, and whether its gates are fused; ``None`` where it is
    not kept (a register over :data:`KEPT_REFERENCE_MAX_QUBITS`, or one sharded over ranks)."""
    if state.num_qubits > KEPT_REFERENCE_MAX_QUBITS or state.comm.size != 1:
        return None
    return state.num_qubits, state.precision, id(state.backend), bool(fusion)


def _kept_reference(prepared: DqcPlan, state: ShardedState, fusion: bool) -> float:
    """|⟨ideal|state⟩|² with the ideal register an earlier run of ``prepared`` made for its own check
    (:func:`_keep_reference`), or NaN where none is kept.

    The ideal register is the circuit applied to |0…0⟩ of a register of the same qubits, precision and backend,
    the same gates fused the same way: the same amplitudes, bit for bit, as this run's own would be (it draws
    no randomness; its seed keys only streams it never reads). The overlap leaves it canonical, as the
    first run's did.
    """
    key = _reference_key(state, fusion)
    kept = prepared.references.get(key) if key is not None else None
    if kept is None:
        return math.nan
    return float(kept[0].fidelity(state))


def _keep_reference(prepared: DqcPlan, ideal: ShardedState, fusion: bool) -> None:
    """Keep ``ideal``, the fidelity check's ideal register of a run of ``prepared``, for its later runs
    (:func:`_kept_reference`), where it is small (:func:`_reference_key`); with its backend, which its key names
    by identity."""
    key = _reference_key(ideal, fusion)
    if key is not None:
        prepared.references[key] = (ideal, ideal.backend)


def _reference_state(state: ShardedState, seed: int, *, allow_in_place: bool) -> ShardedState | None:
    """A second register like ``state`` in |0…0⟩ for the fidelity check (collective), or ``None`` when it does
    not fit beside ``state`` and ``allow_in_place`` (the check then runs in place, :func:`_fidelity_in_place`).

    Raises:
        ResourceError: it does not fit and ``allow_in_place`` is false (``fidelity_check = "copy"``).
    """
    try:
        return ShardedState(state.num_qubits, state.comm, precision=state.precision, backend=state.backend, seed=seed)
    except ResourceError as exc:
        if allow_in_place:
            return None
        raise ResourceError(f"{exc}; or set [simulation].fidelity_check = \"in_place\" (no second register, "
                            "twice the gates) or \"off\"") from None


def _fidelity_to_copy(ops: Sequence, ideal: ShardedState, state: ShardedState,
                      between: Callable[[], None] | None = None, costs: FusionCosts | None = None) -> float:
    """|⟨ideal|state⟩|² with ``ops`` applied to ``ideal`` (in |0…0⟩ on entry; collective).

    ``between()`` is called between pieces of :data:`FIDELITY_PIECE_GATES` gates (a stop check; unfused,
    the pieces get the exchanges one call would, :meth:`ShardedState.apply_ops`). ``costs``: each piece
    is fused by them first (:func:`~dqsim.circuit.fusion.fuse_ops`; ``None``: not fused).
    """
    for start in range(0, len(ops), FIDELITY_PIECE_GATES):
        if start and between is not None:
            between()
        if costs is None:
            ideal.apply_ops(ops, start=start, stop=start + FIDELITY_PIECE_GATES)
        else:
            ideal.apply_ops(fuse_ops(ops[start:start + FIDELITY_PIECE_GATES], layout=ideal.layout, costs=costs))
    return float(ideal.fidelity(state))


def _fidelity_in_place(ops: Sequence, state: ShardedState, *, stop_pending: Callable[[], bool] | None = None,
                       between: Callable[[], None] | None = None) -> float:
    """|⟨0…0|U†|state⟩|² = |⟨ideal|state⟩|² with ``U`` the product of ``ops``, on ``state`` itself (collective).

    No second register: ``U†`` is applied to ``state`` (the ops' adjoints in
    reverse order), the all-zeros amplitude read, and ``U`` applied again, so
    ``state`` comes back as it was up to rounding (~1e-15 per gate); twice the
    gates of :func:`_fidelity_to_copy`. Between pieces of
    :data:`FIDELITY_PIECE_GATES` gates of ``U†`` a stop signal
    (``stop_pending()``) first puts back what was undone, then calls
    ``between()`` (which checkpoints and stops); once the amplitude is read
    the state is put back whole before anything else.
    """
    inverse = [adjoint(op) for op in reversed(ops)]
    n = len(inverse)
    for start in range(0, n, FIDELITY_PIECE_GATES):
        if start and stop_pending is not None and stop_pending():
            state.apply_ops(ops, start=n - start)  # the final state again, for the checkpoint
            if between is not None:
                between()  # checkpoints and stops; should it come back, undo the first pieces again
            state.apply_ops(inverse, stop=start)
        state.apply_ops(inverse, start=start, stop=start + FIDELITY_PIECE_GATES)
    amplitude = state.zero_amplitude()
    state.apply_ops(ops)
    return abs(amplitude) ** 2


def _held_bits(plan: NodePlan, sim: Simulator, working: Sequence[int], comm, shots: int) -> np.ndarray:
    """The run's one shot (collective): each classical bit read from the node that holds it at the end (a node
    of ``working``, this rank's nodes with steps: one without steps holds no bit)."""
    node_bits: dict[int, int] = {}
    for part in comm.allgather({i: sim.node_data(i).get("clbits", 0) for i in working}):
        node_bits.update(part)
    outcome = sum(((node_bits.get(h, 0) >> c) & 1) << c for c, h in enumerate(plan.holder) if h is not None)
    return np.full(shots, outcome, dtype=np.int64)


def trajectory_seed(seed: int, index: int, trajectories: int) -> int:
    """Seed of trajectory ``index`` of ``trajectories``: the job's own ``seed`` when there is one, else
    :func:`dqsim.rng.derived_seed` ``(seed, "dqc", index)`` (:func:`run_trajectories`; the ``cloud`` scenario's
    user jobs follow the same rule).

    Examples:
        >>> trajectory_seed(7, 0, 1), trajectory_seed(7, 0, 2) == derived_seed(7, "dqc", 0)
        (7, True)
    """
    return seed if trajectories == 1 else derived_seed(seed, "dqc", index)


def shot_share(shots: int, trajectories: int, index: int) -> int:
    """Shots trajectory ``index`` draws: ``shots // trajectories``, one more for the first ``shots % trajectories``.

    Examples:
        >>> [shot_share(10, 4, t) for t in range(4)]
        [3, 3, 2, 2]
    """
    return shots // trajectories + (1 if index < shots % trajectories else 0)


def run_trajectories(one_run: Callable[[int, int, bool], DqcRun], *, seed: int, shots: int, trajectories: int,
                     timeline: bool, checkpointing=None, on_start: Callable[[int], None] | None = None) -> DqcRun:
    """Run the distributed circuit ``trajectories`` times and merge the runs (collective).

    Trajectory ``t`` runs with seed :func:`trajectory_seed` (the job's own
    seed when there is one trajectory) and draws :func:`shot_share` shots
    (``shots // trajectories``, the first ``shots % trajectories`` one more),
    so the counts sample the mixture of trajectories. The fidelity and
    observables are means over trajectories, each with its standard error
    (:func:`~dqsim.scenarios.output.standard_error`); link counts and the wall seconds of each stage
    (``timing_s``, the ``timing`` table; since 2026-12-07 (late night), before the last trajectory's alone) are
    summed; the state, timeline and engine statistics are those of the last (timeline: first) trajectory. A resumed
    job skips the trajectories that had finished (their summaries are stored
    in the checkpoints) and runs only the interrupted one and those after it.

    Args:
        one_run: ``one_run(seed, shots, timeline)`` runs the engine once.
        on_start: ``on_start(t)`` just before trajectory ``t`` (0-based) runs, e.g. for progress over
            all of them; not called for trajectories a resume takes from the checkpoints.
    """
    if trajectories == 1:
        return one_run(seed, shots, timeline)
    summaries, last = [], None
    for t in range(trajectories):
        summary = checkpointing.stored_next() if checkpointing is not None else None
        if summary is None:
            if on_start is not None:
                on_start(t)
            last = one_run(trajectory_seed(seed, t, trajectories), shot_share(shots, trajectories, t),
                           timeline and t == 0)
            summary = {"counts": last.counts, "shots": last.shots, "fidelity": last.fidelity,
                       "expectation": last.expectation, "links": last.links.sparse(), "end_time_ps": last.end_time_ps,
                       "timeline": last.timeline, "peak": last.register_peak_qubits, "timing": dict(last.timing_s)}
            if checkpointing is not None:
                checkpointing.store_last(summary)
        summaries.append(summary)
    # ``last`` is always set: checkpoints are written inside engine runs, so a resumed job
    # restarts at the latest in its last trajectory and runs that one (never a spare run).
    assert last is not None, "the last trajectory always runs"
    counts: dict[str, int] = {}
    for summary in summaries:
        for key, value in summary["counts"].items():
            counts[key] = counts.get(key, 0) + value
    counts = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    fidelities = np.array([summary["fidelity"] for summary in summaries])
    links = last.links.summed(summary["links"] for summary in summaries)
    values = [[summary["expectation"][i][2] for summary in summaries] for i in range(len(summaries[0]["expectation"]))]
    expectation = [(name, text, float(np.mean(values[i])))
                   for i, (name, text, _value) in enumerate(summaries[0]["expectation"])]
    kept = [summary["shots"] for summary in summaries]
    return dataclasses.replace(
        last, counts=counts, shots=None if any(shots is None for shots in kept) else np.concatenate(kept),
        fidelity=float(fidelities.mean()), fidelity_stderr=standard_error(fidelities),
        expectation=expectation, expectation_stderr=[standard_error(v) for v in values], links=links, end_time_ps=max(summary["end_time_ps"] for summary in summaries),
        timeline=summaries[0]["timeline"], trajectories=trajectories,
        register_peak_qubits=max(summary["peak"] for summary in summaries), timing_s=summed_timing(summaries))


def summed_timing(summaries: list[dict]) -> dict[str, float]:
    """Each stage's wall seconds summed over the trajectories' ``summaries`` (:func:`run_trajectories`), in the
    stages' order; a trajectory of a checkpoint written before 2026-12-07 (late night) records none and adds none.

    Examples:
        >>> summed_timing([{"timing": {"setup": 1.0, "network": 2.0}}, {"timing": {"setup": 0.5, "network": 1.0}}])
        {'setup': 1.5, 'network': 3.0}
    """
    timing: dict[str, float] = {}
    for summary in summaries:
        for stage, seconds in summary.get("timing", {}).items():
            timing[stage] = timing.get(stage, 0.0) + seconds
    return timing


#: The ``fidelity_note`` attribute of a dynamic circuit's run file.
DYNAMIC_FIDELITY_NOTE = ("not defined: a circuit with mid-circuit measurements, resets or 'if' ends in a state "
                         "that depends on its outcomes; see tvd_to_exact (the counts against the ideal circuit's "
                         "exact distribution) where the circuit is small enough to compute it")


def _dynamic_attributes(circuit: Circuit, run: DqcRun) -> dict:
    """A dynamic run's attributes: why there is no fidelity, and the counts' distance to the ideal circuit.

    ``tvd_to_exact`` is the total-variation distance of the counts to the
    exact distribution of the ideal circuit's classical bits, and
    ``tvd_sampling_level`` what exact sampling of as many shots gives on
    average (:func:`dqsim.circuit.exact.total_variation`); both are NaN where
    the exact distribution is not computed (more than 16 qubits or 1024
    branches, no classical bits or no shots).
    """
    exact = exact_distribution(circuit) if circuit.num_clbits and run.counts else None
    by_outcome = sorted((int(bits, 2), count) for bits, count in run.counts.items())  # total_variation's order
    distance, level = total_variation_of_counts(dict(by_outcome), exact) if exact is not None else (math.nan, math.nan)
    return {"fidelity_note": DYNAMIC_FIDELITY_NOTE, "tvd_to_exact": distance, "tvd_sampling_level": level}


def trajectories_for(job, circuit: Circuit) -> int:
    """Engine runs for a dqc job: ``[simulation].trajectories``, or one per shot for a dynamic circuit.

    A dynamic circuit (see module docstring) gives one shot per engine run,
    so it runs ``shots`` trajectories; a ``trajectories`` set in the job to
    another value contradicts that and is refused.

    Raises:
        ConfigError: ``trajectories`` set to a value other than ``shots`` for a dynamic circuit.
    """
    sim = job.simulation
    if circuit.measurements_are_terminal():
        return sim.trajectories
    if "trajectories" in sim.model_fields_set and sim.trajectories != sim.shots:
        raise ConfigError(f"{job.source}: [simulation].trajectories = {sim.trajectories} contradicts shots = "
                          f"{sim.shots}: a circuit with mid-circuit measurements, resets or 'if' runs one "
                          f"trajectory per shot; leave trajectories unset or set it to {sim.shots}")
    return max(sim.shots, 1)


def links_table(names: Sequence[str], network: Network, links: LinkCounts) -> TableInPieces:
    """The run file's ``links`` table: per link ``(a, b, pairs, attempts, photons)`` of a run (``a < b``, sorted),
    its nodes' names, its length and its counts, as a :class:`~dqsim.scenarios.output.TableInPieces`.

    The rows of the array :func:`~dqsim.scenarios.output.record_table` makes of the rows
    ``(names[a], names[b], network.link(a, b).distance_km, pairs, attempts, photons)``, each name column as
    wide as its longest name, made from the arrays of ``links`` and ``network`` a piece at a time as the writer
    asks for them (:func:`dqsim.io.write_run_file`): the table (88 bytes a row with 7-character names; an
    ``all_to_all`` of 2,048 nodes has 2,096,128 links) is never held whole, nor are the names: a piece's are made
    from its rows' node indices (:func:`~dqsim.network.node.names_at`; until 2026-12-07 (morning) an array of
    every name, built through a Python string per name). Only the rank that writes the run file makes it
    (:func:`run_job`).

    Examples:
        >>> from dqsim.network.link import LinkSpec
        >>> from dqsim.network.node import NodeSpec
        >>> net = Network.from_links([NodeSpec(name=n) for n in ("a", "bb", "c")],
        ...                          [(0, 1, LinkSpec(distance_km=2.0)), (2, 1, LinkSpec(distance_km=3.0))])
        >>> table = links_table(net.names, net, LinkCounts.of_network(net, {("pairs", 1, 0): 4,
        ...                                                                 ("attempts", 0, 1): 9, ("photons", 0, 1): 18}))
        >>> np.asarray(table).tolist(), table.table_rows(1, 2).tolist()
        ([('a', 'bb', 2.0, 4, 9, 18), ('bb', 'c', 3.0, 0, 0, 0)], [('bb', 'c', 3.0, 0, 0, 0)])
    """
    num_links = len(links)
    a, b = links.lows, links.highs
    widths = [max(longest_name(names, ends), 1) for ends in (a, b)]
    dtype = np.dtype([("node_a", f"U{widths[0]}"), ("node_b", f"U{widths[1]}"),
                      ("distance_km", "f8"), ("epr_pairs", "i8"), ("attempts", "i8"), ("photons", "i8")])
    ends = network.link_ends()
    in_order = (network.links_sorted() and len(ends) == num_links and np.array_equal(ends[:, 0], a)
                and np.array_equal(ends[:, 1], b))  # the network's links as the run lists them
    if in_order and network.own_lengths_km() is not None:  # the links' own lengths, in this order
        distances = network.own_lengths_km()
    elif in_order:  # a line, star or all_to_all: each piece's lengths from the links' spec indices
        spec_distances = np.array([spec.distance_km for spec in network.distinct_link_specs], dtype=np.float64)
        spec_of = network.link_spec_indices()
        distances = None
    else:  # the lengths in the run's order (8 bytes a link, held while the table is written)
        lows, highs = ends.min(axis=1), ends.max(axis=1)
        order = np.lexsort((highs, lows))  # the network's links as the run lists them: (a, b), a < b, sorted
        if len(order) == num_links and np.array_equal(lows[order], a) and np.array_equal(highs[order], b):
            distances = network.link_distances_km()[order]
        else:
            distances = np.array([network.link(x, y).distance_km for x, y in zip(a.tolist(), b.tolist())],
                                 dtype=np.float64)
        del lows, highs, order

    def rows(start: int, stop: int) -> np.ndarray:
        piece = np.empty(stop - start, dtype=dtype)
        piece["node_a"], piece["node_b"] = names_at(names, a[start:stop]), names_at(names, b[start:stop])
        piece["distance_km"] = (spec_distances[spec_of[start:stop]] if distances is None
                                else distances[start:stop])
        first, last = np.searchsorted(links.rows, [start, stop])  # the counted links among these rows
        for column, name in enumerate(("epr_pairs", "attempts", "photons")):
            piece[name] = 0
            piece[name][links.rows[first:last] - start] = links.counts[first:last, column]
        return piece

    return TableInPieces(dtype, num_links, rows)


def is_noisy(network: Network) -> bool:
    """Whether a run on ``network`` draws noise: a link's pairs below fidelity 1, memories with finite T1/T2,
    or gate and measurement errors. Then one trajectory's fidelity is one sample, not the mean.

    Examples:
        >>> from dqsim.network.link import LinkSpec
        >>> from dqsim.network.node import NodeSpec
        >>> nodes = [NodeSpec(name="a"), NodeSpec(name="b")]
        >>> is_noisy(Network.from_links(nodes, [(0, 1, LinkSpec(distance_km=1.0, dark_count_rate_hz=0.0))]))
        False
        >>> is_noisy(Network.from_links(nodes, [(0, 1, LinkSpec(distance_km=1.0, source_fidelity=0.9))]))
        True
    """
    if network.any_link(lambda link: link.delivered_fidelity < 1.0,
                        length_free=lambda link: not link.fidelity_depends_on_length):
        return True
    return any(not (math.isinf(n.t1_s) and math.isinf(n.t2_s)) or n.gate_1q_error_probability > 0
               or n.gate_2q_error_probability > 0 or n.measure_error_probability > 0 for n in network.nodes)


def num_engine_runs(job) -> int:
    """Engine runs a run of ``job`` takes: its trajectories (:func:`trajectories_for`; the circuit is built).

    Raises:
        DqsimError: the circuit cannot be built, or contradicts ``trajectories`` (as the run would).
    """
    return trajectories_for(job, build_circuit(job))


def plan_job(job, circuit: Circuit, num_ranks: int) -> tuple[Network, DqcPlan]:
    """The network of a ``dqc`` job on ``num_ranks`` ranks and its circuit's plan (:func:`plan_dqc`), refusing in
    one line naming the job file what the run would refuse: a QASM circuit that does not fit
    (:func:`check_qasm_fits`), a placement or link the network cannot run, a node with too few communication
    qubits. ``dqsim run`` and ``dqsim check`` both call it (no collective).

    Raises:
        DqsimError: the job cannot run on ``num_ranks`` ranks (one line).
    """
    if job.circuit.qasm is not None:
        check_qasm_fits(job, circuit)
    network = job_network(job.network, num_ranks, source=job.source)
    network.check_pairing_horizon(job.source)  # run_dqc checks again, without naming the job file
    prepared = plan_dqc(circuit, network, scheme=job.distribution.scheme, assignment=job.distribution.assignment,
                        source=job.source)
    return network, prepared


def check_qasm_fits(job, circuit: Circuit) -> None:
    """Refuse, in one line naming the job file and the key, a QASM circuit that the job's network or its
    ``[distribution].assignment`` or ``[simulation].observables`` cannot take.

    A generated circuit's size is checked when the job is loaded; a QASM file's qubits are known once
    the file is read (:func:`~dqsim.scenarios.circuit_run.build_circuit`).

    Raises:
        ConfigError: more qubits than the network's data capacity, an assignment of another length, or an
            observable on a qubit the circuit does not have.
    """
    network, num_qubits = job.network, circuit.num_qubits
    names = network.node_name_sequence()
    capacity = network.data_capacity()
    if num_qubits > capacity:
        raise ConfigError(f"{job.source}: [circuit].qasm = \"{job.circuit.qasm}\": the circuit has "
                          f"{count_of(num_qubits, 'qubit')}, more than the network's capacity of {capacity} data "
                          f"qubits ({len(names)} nodes × {network.node_spec(names[0]).num_data_qubits}); raise "
                          "[network.node].num_data_qubits or add nodes")
    assignment = job.distribution.assignment
    if assignment is not None and len(assignment) != num_qubits:
        raise ConfigError(f"{job.source}: [distribution].assignment = {toml_repr(list(assignment))}: lists "
                          f"{count_of(len(assignment), 'qubit')} but the circuit of [circuit].qasm has "
                          f"{num_qubits}")
    check_observables(job.simulation.observables, num_qubits, source=job.source)


def run_job(job, *, comm, backend, on_progress=None, checkpointing=None) -> ScenarioOutput:
    """Run a ``dqc`` job and shape its output (collective).

    With ``checkpointing``, a stop signal after the last trajectory's engine
    run (its fidelity check, expectation values and sampling, :func:`run_dqc`;
    then the tables, looked for between them, and the output write,
    :mod:`dqsim.cli.main`) checkpoints that finished run
    (:meth:`~dqsim.engine.checkpoint.CheckpointSession.stop_point`, exit
    status 75): its resume runs no event again and redoes only this work.
    """
    circuit = build_circuit(job)
    # planned once: the trajectories differ only in their seeds (a dynamic circuit runs one per shot)
    network, prepared = plan_job(job, circuit, comm.size)
    names = network.names
    observables = []
    if job.simulation.observables:
        observables = list(zip(job.simulation.observables, job.simulation.parsed_observables()))

    started = time.perf_counter()

    num_runs = trajectories_for(job, circuit)
    current = [0]  # the trajectory running (run_trajectories' on_start)

    def on_window(time_ps: int, windows: int, fraction: float | None) -> None:
        if not on_progress:
            return
        if num_runs > 1:  # over all the job's engine runs (a dynamic circuit runs one per shot)
            on_progress(current[0] + (fraction or 0.0), num_runs, "engine runs (trajectories)")
            return
        rate = windows / max(time.perf_counter() - started, 1e-9)
        on_progress(fraction or 0.0, 1.0, f"simulated {time_ps / PS_PER_US:.1f} µs, {rate:.0f} exchanges/s, circuit steps")

    def on_shots(done: int, shots: int) -> None:  # many shots: their own stage while they are drawn
        if on_progress:
            source = f"trajectory {current[0] + 1}'s final state" if num_runs > 1 else "the final state"
            on_progress(done, shots, f"shots drawn from {source}")

    def one_run(seed: int, shots: int, timeline: bool) -> DqcRun:
        return run_dqc(circuit, comm=comm, backend=backend, network=network, scheme=job.distribution.scheme,
                       assignment=job.distribution.assignment, seed=seed, precision=job.run.precision, shots=shots, observables=observables,
                       timeline=timeline, on_window=on_window, checkpointing=checkpointing,
                       fidelity_check=job.simulation.fidelity_check, prepared=prepared, fusion=job.simulation.fusion,
                       keep_shots=job.simulation.store_shots, on_shots=on_shots,
                       entanglement=job.distribution.entanglement)

    run = run_trajectories(one_run, seed=job.run.seed, shots=job.simulation.shots,
                           trajectories=num_runs, timeline=job.simulation.timeline,
                           checkpointing=checkpointing, on_start=lambda t: current.__setitem__(0, t))
    # a stop signal from here on (the tables, then the output write, dqsim.cli.main) checkpoints the last
    # trajectory's finished engine run (CheckpointSession.finished_run, set by run_dqc)
    stop_point = checkpoint.stop_point_of(checkpointing)
    stop_point()
    engine = run.engine
    attrs = {
        **circuit_attributes(circuit, job.simulation.shots),
        "sampling": "final-state" if run.trajectories == 1 and not run.dynamic else "trajectories",
        "trajectories": run.trajectories,
        "fidelity": run.fidelity,
        "fidelity_stderr": run.fidelity_stderr,
        "fidelity_check": run.fidelity_check,
        **(_dynamic_attributes(circuit, run) if run.dynamic else {}),
        "simulated_time_ps": run.end_time_ps,
        "distribution_scheme": job.distribution.scheme,
        **entanglement_attributes(job.distribution),
        "num_nodes": len(names),
        "rank_of_node": np.array(run.rank_of_node, dtype=np.int64),
        "num_nonlocal_gates": run.num_nonlocal_gates,
        "register_qubits": run.state.num_qubits,
        "register_peak_qubits": run.register_peak_qubits,
        "network_qubits": run.regmap.num_qubits - run.regmap.num_data_qubits,
        "engine_windows": engine.num_windows,
        "engine_flushes": engine.num_flushes,
        "engine_events": engine.num_events,
        "engine_messages": engine.num_messages,
        "engine_cross_rank_messages": engine.num_cross_rank_messages,
        "engine_flush_seconds": engine.flush_seconds,
        "engine_state_seconds": engine.state_seconds,
    }
    stop_point()  # after the distance of a dynamic circuit's counts to its exact distribution
    tables = common_tables(run, store_shots=job.simulation.store_shots, expectation_stderr=run.expectation_stderr)
    stop_point()
    if comm.rank == WRITING_RANK:  # (every rank holds the counts, the network's arrays)
        tables["links"] = links_table(names, network, run.links)
    add_node_names(tables, names, comm.rank)  # (made a piece at a time by the rank that writes)
    tables["assignment"] = record_table(
        [(q, names[run.owner[q]], run.regmap.qubit_of_logical[q]) for q in range(circuit.num_qubits)],
        [("qubit", "i8"), ("node", "U"), ("register_qubit", "i8")])
    table_attrs: dict[str, dict] = {}  # every unit is in a column's name (dqsim.io.units)
    stop_point()
    if run.timeline is not None and comm.rank == 0:
        tables["timeline"] = record_table([(t, names[n], kind, detail) for t, n, kind, detail in run.timeline],
                                          [("time_ps", "i8"), ("node", "U"), ("kind", "U"), ("detail", "U")])
    stop_point()
    pairs, attempts, _photons = run.links.totals()
    summary = [
        f"  {count_of(circuit.num_qubits, 'qubit')} on {count_of(len(names), 'QPU')} ({job.distribution.scheme}), "
        f"{count_of(run.num_nonlocal_gates, 'nonlocal gate')}, {count_of(pairs, 'EPR pair')} from "
        f"{count_of(attempts, 'attempt')}",
        (f"  {count_of(run.trajectories, 'trajectory', 'trajectories')}, one per shot (a dynamic circuit: no "
         f"fidelity to a monolithic state); total-variation distance to the exact distribution "
         f"{attrs['tvd_to_exact']:.4f} (sampling alone: about {attrs['tvd_sampling_level']:.4f})"
         if run.dynamic and job.simulation.shots else
         "  no shots: one run of the network (its simulated time and EPR pairs), no counts (a dynamic circuit: "
         "no fidelity to a monolithic state)"
         if run.dynamic else
         "  fidelity to the monolithic circuit: not computed ([simulation].fidelity_check = \"off\")"
         if run.fidelity_check == "off" else
         f"  fidelity to the monolithic circuit: {run.fidelity:.6f}"
         + (f" ± {run.fidelity_stderr:.6f} ({run.trajectories} trajectories)" if run.trajectories > 1
            else " (one trajectory of a noisy network: a single sample of the fidelity, not its mean; set "
                 "[simulation].trajectories for the mean and its standard error)" if is_noisy(network) else ""))
        + f"; simulated time {run.end_time_ps / PS_PER_US:.3f} µs",
        *summary_lines(run, expectation_stderr=run.expectation_stderr),
    ]
    stop_point()
    return ScenarioOutput(attrs, tables, table_attrs, run.state, summary)
