"""The most network qubits a distributed run's data register holds at once, from its plan alone (no state, no seed).

A communication qubit joins the data register when a protocol step first
couples it (or a qubit of its small state) to a register qubit, and leaves
when it is measured or reset (DESIGN.md invariant 2;
:meth:`dqsim.engine.quantum.QuantumMemory.apply`); the register adds a bit
when no scratch bit is free and never gives one back, so a run's
``register_qubits`` is its data qubits plus the larger of
:data:`~dqsim.scenarios.dqc.INITIAL_SCRATCH_QUBITS` and the most network
qubits in it at once. When that most happens depends on the timing of the
run's pairs and messages, so it is bounded here by what the plan's causal
order allows (:func:`network_qubits_bound`):

* *stable* counts, between the atomic actions of the nodes: each nonlocal
  gate leaves one network qubit in the register per teleported or mirrored
  qubit in flight (a TeleGate's target half from the control's
  cat-entangler to the target's measurement; a TeleData gate's control on
  the target, then on its way back; each side's qubit of a teleported SWAP),
  as events on each node's chain of steps (the ``"on_demand"`` schedule runs
  them one after the other) and the messages and pairs between the two
  sides (and a route's relays: the first one takes its qubits before the
  pair's near end holds it, every one before its far end does). The most over every cut of that partial order is a maximum-weight
  closure, found as a minimum cut (Picard, Management Science 22, 1268
  (1976));
* *transient* ones within one atomic action (the operations of one node at
  one time apply together, DESIGN.md invariant 4): a cat-entangler or a
  teleportation's CNOT brings both halves of its pair in before the measured
  one leaves (+1), the target of TeleData brings the return pair in while it
  holds the control (+2), and an intermediate node of a route swaps a pair
  whose near end is already in (+2). At most one action is in progress at a
  time, so the bound is the stable most plus the largest transient; and
  where no route is taken, also the most of the model in which each action's
  joins and leaves are separate events (no larger, sometimes smaller).

Either is at most the communication qubits of the nodes that take part
(every qubit in the register was taken from its node's pool and is given
back only once it left), which bounds the ``"ahead"`` schedule (nonlocal
gates of one node overlap there) and plans with nonlocal gates inside an
``if`` (a skipped gate orders nothing). Every run of the plan holds at least
its largest single gate's own peak (a TeleGate 2, a TeleData gate or a
teleported SWAP 3), so where the bound equals that, it is the run's value.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
from networkx.algorithms.flow import boykov_kolmogorov

from dqsim.circuit.distribute import RemoteControl, RemoteSwap, RemoteTarget, RouteStep

#: Each side's atomic actions of a nonlocal gate: ``(name, joins and leaves in order)``; the side's chain runs
#: them in order after its ``"enter"`` (taking its communication qubits). Network qubits in the register after
#: each change, counted from before the action: a TeleGate's cat-entangler brings both halves of the pair in
#: and measures its own out; a teleportation of a data qubit does the same, then resets the data qubit together
#: with the measured communication qubit, which joins again for that reset and leaves (a reset of network
#: qubits alone touches no register qubit).
_SIDES = {
    "telegate_control": (("entangle", (+2, -1)), ("disentangled", ())),
    "telegate_target": (("measure", (-1,)),),
    "teledata_control": (("send", (+2, -1, +1, -1)), ("back", (-1,))),
    "teledata_target": (("return", (+2, -2)),),
    "swap_first": (("send", (+2, -1, +1, -1)), ("receive", (-1,))),
    "swap_second": (("send", (+2, -1, +1, -1)), ("receive", (-1,))),
}

#: Per kind of gate: its two sides (the one that starts pair 0 first), the happens-before edges between their
#: actions (a message or a pair between them, ``(side, action) -> (side, action)``). Where pair 0 is made over
#: one link, side 1's ``"enter"`` (taking its qubit) also comes before side 0's first action (over a route the
#: near end holds its pair once the first link's is heralded: :func:`~dqsim.protocols.distributed.pair_part`).
_GATES = {
    "telegate": (("telegate_control", "telegate_target"),
                 (((0, "entangle"), (1, "measure")), ((1, "measure"), (0, "disentangled")))),
    "teledata": (("teledata_control", "teledata_target"),
                 (((0, "send"), (1, "return")), ((1, "return"), (0, "back")))),
    "swap": (("swap_first", "swap_second"),
             (((0, "send"), (1, "receive")), ((1, "send"), (0, "receive")), ((0, "enter"), (1, "send")))),
}

#: Per kind of gate and pair (0, 1): the side and action that uses the pair at its near end (the first link's pair
#: heralded, :func:`~dqsim.protocols.distributed.pair_part`) and at its far end (every swap of its route done).
_PAIR_STARTS = {"telegate": ((0, "entangle"),), "teledata": ((0, "send"), (1, "return")),
                "swap": ((0, "send"), (0, "send"))}
_PAIR_ENDS = {"telegate": ((1, "measure"),), "teledata": ((1, "return"), (0, "back")),
              "swap": ((1, "send"), (1, "send"))}

#: A single gate's own peak, which every run that applies it reaches (network qubits).
_GATE_PEAK = {"telegate": 2, "teledata": 3, "swap": 3}

#: The largest transient of an atomic action above the stable count after it: a pair brought in while the
#: measured qubit leaves (1), the return pair or a route's next pair brought in while a qubit is held (2).
_TRANSIENT = {"telegate": 1, "teledata": 2, "swap": 1, "route": 2}


@dataclass(frozen=True)
class NetworkQubits:
    """The most network qubits a run's register holds at once.

    Attributes:
        most: an upper bound (never less than the run's).
        exact: True where every run of the plan reaches ``most`` (the bound equals a gate's own peak).
    """

    most: int
    exact: bool


def gate_kind(step, scheme: str) -> tuple[str, int] | None:
    """``(kind, side)`` of a nonlocal ``step``: kind ``"telegate"``, ``"teledata"`` (also a dense gate under
    either scheme) or ``"swap"``, side 0 for the control or first qubit, 1 for the other; ``None`` for a step
    that is not one side of a nonlocal gate.

    Examples:
        >>> from dqsim.circuit.distribute import RemoteControl, RemoteSwap
        >>> gate_kind(RemoteControl(3, 1, 0), "telegate"), gate_kind(RemoteSwap(4, 0, 2, False), "telegate")
        (('telegate', 0), ('swap', 1))
    """
    if isinstance(step, RemoteSwap):
        return "swap", 0 if step.first else 1
    if isinstance(step, (RemoteControl, RemoteTarget)):
        kind = "teledata" if scheme == "teledata" or step.dense else "telegate"
        return kind, 0 if isinstance(step, RemoteControl) else 1
    return None


def network_qubits_bound(steps_by_node, scheme: str, comm_counts, *, entanglement: str = "on_demand",
                         routes_known: bool = True) -> NetworkQubits:
    """The most network qubits the data register of a run of a plan holds at once (see the module docstring).

    Args:
        steps_by_node: ``(node, steps)`` pairs (:meth:`dqsim.circuit.distribute.NodeSteps.items`).
        scheme: ``"telegate"`` or ``"teledata"``.
        comm_counts: communication qubits of each node (indexed by node).
        entanglement: ``"on_demand"`` (each node's steps one after the other: the causal bound) or ``"ahead"``
            (the communication qubits of the nodes that take part).
        routes_known: False where the run may route a gate's pairs through other nodes that the plan does not
            show (a ``cloud`` user job, planned on one QPU set and run on one the queue picks): every pair is
            then taken as possibly routed.

    Examples:
        >>> from dqsim.circuit.distribute import RemoteControl, RemoteTarget
        >>> from dqsim.state.gates import gate_op
        >>> cx = gate_op("cx", [0, 2])
        >>> one = {0: [RemoteControl(0, 1, 0)], 1: [RemoteTarget(0, 0, cx)]}
        >>> network_qubits_bound(one.items(), "telegate", [2, 2])
        NetworkQubits(most=2, exact=True)
        >>> two = {**one, 2: [RemoteControl(1, 3, 4)], 3: [RemoteTarget(1, 2, gate_op("cx", [4, 6]))]}
        >>> network_qubits_bound(two.items(), "telegate", [2] * 4)  # two at once on disjoint pairs
        NetworkQubits(most=3, exact=False)
    """
    steps_by_node = [(node, steps) for node, steps in steps_by_node]
    taking_part = [node for node, steps in steps_by_node
                   if any(isinstance(step, RouteStep) or gate_kind(step, scheme) for step in steps)]
    pool = sum(int(comm_counts[node]) for node in taking_part)
    least = 0
    guarded = routed = False
    for _node, steps in steps_by_node:
        for step in steps:
            if isinstance(step, RouteStep):
                routed = True
            kind = gate_kind(step, scheme)
            if kind is None:
                continue
            guarded = guarded or bool(step.guard)
            if not step.guard:
                least = max(least, _GATE_PEAK[kind[0]])
    if not routes_known and len(taking_part) > 2:
        routed = True
    most = pool
    if entanglement == "on_demand" and not guarded:
        stable, split, transient = _causal_bounds(steps_by_node, scheme, routed_all=not routes_known)
        largest = max(transient + ([_TRANSIENT["route"]] if routed else []), default=0)
        if stable is None and not routed:  # (a large plan without SciPy) at most one own qubit per node's step
            stable = len(taking_part)
        if stable is not None:
            most = min(most, stable + largest)
        if split is not None and not routed:
            most = min(most, split)
    return NetworkQubits(most, most <= least)


def _causal_bounds(steps_by_node, scheme: str, *, routed_all: bool) -> tuple[int | None, int | None, list[int]]:
    """``(stable most, most of the split model, the transients of the gates)`` of the on-demand schedule (``None``
    where not worked out: :meth:`_EventGraph.most`)."""
    stable, split = _EventGraph(), _EventGraph()
    sides: dict[int, dict[int, tuple[str, dict, dict]]] = {}  # gate index -> side -> (kind, events, split events)
    routed = set()
    relays = []  # (route step, its entry in the stable model, in the split model)
    kinds = []
    for node, steps in steps_by_node:
        chain_stable, chain_split = [], []
        for step in steps:
            if isinstance(step, RouteStep):  # the node takes its two qubits for the swap, then goes on
                routed.add(step.index)
                relays.append((step, stable.add(0, chain_stable), split.add(0, chain_split)))
                continue
            kind = gate_kind(step, scheme)
            if kind is None:
                continue
            name, side = kind
            kinds.append(name)
            events, split_events = {}, {}
            for graph, chain, found, whole in ((stable, chain_stable, events, True),
                                               (split, chain_split, split_events, False)):
                found["enter"] = graph.add(0, chain)
                for action, changes in _SIDES[_GATES[name][0][side]]:
                    if whole:
                        found[action] = graph.add(sum(changes), chain)
                        continue
                    first = None
                    for change in changes or (0,):
                        last = graph.add(change, chain)
                        first = last if first is None else first
                    found[action], found["_first_" + action] = last, first
            sides.setdefault(step.index, {})[side] = (name, events, split_events)
    for index, by_side in sides.items():
        if len(by_side) != 2:  # (a plan lists both sides of every nonlocal gate)
            continue
        name = by_side[0][0]
        edges = list(_GATES[name][1])
        direct = not routed_all and index not in routed
        if direct:
            edges.append(((1, "enter"), (0, _SIDES[_GATES[name][0][0]][0][0])))
        for graph, position in ((stable, 1), (split, 2)):
            for (side_a, action_a), (side_b, action_b) in edges:
                before = by_side[side_a][position][action_a]
                after_events = by_side[side_b][position]
                after = after_events.get("_first_" + action_b, after_events[action_b])
                graph.edge(before, after)
    for step, *entries in relays:  # a pair's near end needs the first relay's qubit, its far end every swap
        by_side = sides.get(step.index, {})
        if len(by_side) != 2:
            continue
        name = by_side[0][0]
        uses = [_PAIR_ENDS[name][step.pair]] + ([_PAIR_STARTS[name][step.pair]] if step.position == 1 else [])
        for graph, position, entry in ((stable, 1, entries[0]), (split, 2, entries[1])):
            for side, action in uses:
                events = by_side[side][position]
                graph.edge(entry, events.get("_first_" + action, events[action]))
    return stable.most(), split.most(), [_TRANSIENT[name] for name in kinds]


class _EventGraph:
    """Events with a change of the count each, and happens-before edges; :meth:`most` is the largest sum over
    a down-closed set of events (a cut of the run)."""

    def __init__(self):
        self.weights: list[int] = []
        self.edges: list[tuple[int, int]] = []

    def add(self, weight: int, chain: list[int]) -> int:
        """A new event of ``weight`` after the last one of ``chain`` (a node's events, in order)."""
        event = len(self.weights)
        self.weights.append(int(weight))
        if chain:
            self.edges.append((chain[-1], event))
        chain.append(event)
        return event

    def edge(self, before: int, after: int) -> None:
        self.edges.append((before, after))

    def most(self) -> int | None:
        """The largest total weight of a down-closed set of events (0 for none): a maximum-weight closure, as
        ``sum of positive weights - maximum flow`` (Picard 1976). The flow is networkx's for a graph of at most
        :data:`NETWORKX_FIRST_EVENTS` events (networkx is loaded anyway; importing SciPy's sparse graphs costs
        more than such a flow), SciPy's for a larger one; ``None`` for a graph of more than
        :data:`MAX_NETWORKX_EVENTS` events where SciPy is not installed (networkx's flow took ~4 s for 2,600).
        Every maximum flow has the same value, so which one runs does not change the bound."""
        weights = self.weights
        positive = sum(weight for weight in weights if weight > 0)
        if positive == 0:
            return 0
        if len(weights) > NETWORKX_FIRST_EVENTS:
            try:
                return positive - _scipy_flow(weights, self.edges, positive + 1)
            except ImportError:
                pass
            if len(weights) > MAX_NETWORKX_EVENTS:
                return None
        return positive - _networkx_flow(weights, self.edges)


#: The most events :meth:`_EventGraph.most` hands networkx's flow (pure Python) where SciPy is missing.
MAX_NETWORKX_EVENTS = 2000

#: The most events :meth:`_EventGraph.most` hands networkx's flow before SciPy's: ``dqsim check`` of the example
#: trotter, dqc and cloud jobs plans graphs of at most 450 events, whose 22 flows took networkx ~0.1 s together,
#: while importing ``scipy.sparse.csgraph`` took ~0.4 s (2-core shared VM, 2026-12-07 (late afternoon);
#: ``bench/results/check-cost-vm-20261207q.md``).
NETWORKX_FIRST_EVENTS = 600


def _networkx_flow(weights: list[int], edges: list[tuple[int, int]]) -> int:
    """The maximum flow of :meth:`_EventGraph.most`'s network by networkx's Boykov-Kolmogorov (pure Python)."""
    graph = nx.DiGraph()
    source, sink = len(weights), len(weights) + 1
    graph.add_nodes_from((source, sink))
    for event, weight in enumerate(weights):
        if weight > 0:
            graph.add_edge(source, event, capacity=weight)
        elif weight < 0:
            graph.add_edge(event, sink, capacity=-weight)
    # an event in the set needs the events before it: an arc after -> before with no capacity (no cut
    # crosses it)
    graph.add_edges_from((after, before) for before, after in edges)
    return int(nx.maximum_flow_value(graph, source, sink, flow_func=boykov_kolmogorov))


def _scipy_flow(weights: list[int], edges: list[tuple[int, int]], infinite: int) -> int:
    """The maximum flow of :meth:`_EventGraph.most`'s network by SciPy's (compiled; 0.2 s for 2,600 events).

    Raises:
        ImportError: SciPy is not installed (an optional dependency).
    """
    from scipy.sparse import csr_matrix  # noqa: PLC0415 (optional: networkx's flow where it is missing)
    from scipy.sparse.csgraph import maximum_flow  # noqa: PLC0415

    weights_array = np.asarray(weights, dtype=np.int64)
    arcs = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    num = len(weights_array)
    gains, losses = np.flatnonzero(weights_array > 0), np.flatnonzero(weights_array < 0)
    rows = np.concatenate((np.full(gains.size, num), losses, arcs[:, 1]))
    cols = np.concatenate((gains, np.full(losses.size, num + 1), arcs[:, 0]))
    caps = np.concatenate((weights_array[gains], -weights_array[losses], np.full(len(arcs), infinite)))
    graph = csr_matrix((caps.astype(np.int32), (rows, cols)), shape=(num + 2, num + 2))
    graph.sum_duplicates()
    return int(maximum_flow(graph, num, num + 1).flow_value)
