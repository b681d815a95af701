"""Plan a circuit over networked QPUs: qubit slots and each node's list of steps.

Input: a circuit whose multi-qubit gates are all single-control
controlled-U gates, SWAPs or dense two-qubit gates between two QPUs, or local
(see :mod:`dqsim.circuit.decompose`), and an
``owner[q]`` QPU for every logical qubit (:mod:`dqsim.circuit.partition`).

Global qubit indices: first the data qubits of every node, node after node
(the data register, bit = index), then the communication qubits of every
node (network qubits: small states, DESIGN.md invariant 2). Logical qubit
``q`` sits on the next free data slot of its owner. Each node gets the circuit's instructions that touch its qubits,
in circuit order: a local gate, or one side of a nonlocal gate (the control
side or the target side; the control side starts the EPR pair). Both sides
of every nonlocal gate see it at the same position of the global order, so
the node programs cannot deadlock on each other (the lowest pending gate
always has both sides waiting for it).

Dynamic circuits (a measurement that is not terminal, a reset, an ``if`` on
measured bits) are run by the nodes themselves: every measurement is a
:class:`MeasureStep` of the measured qubit's owner, which keeps the bit; a
reset is a :class:`ResetStep` of the owner. Each classical bit has one
*holder* at each point of the program, known when planning: the node that
measured it last (a bit never measured reads 0 everywhere). An ``if``
becomes, on every node that has a step in one of its blocks (a
*participant*), a :class:`Condition` step, followed by its steps of both
blocks guarded by the decision; the holders of the condition bits get a
:class:`SendBits` step at the same position, which sends each bit to the
participants that do not hold it (a classical message: feed-forward takes
the route's latency). A bit measured inside a block gets, after the ``if``,
the holder of the block that measured it; that node receives the bit's
value from its old holder at the ``if`` (so it is right whichever block
ran). A bit measured on one QPU in one block and on another in the other
block has no single holder and is refused.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Callable, Sequence, Union

import numpy as np

from dqsim.circuit.ir import Barrier, Circuit, Gate, IfBits, Measure, Reset
from dqsim.errors import CircuitError
from dqsim.network.node import ComputedSequence
from dqsim.state.gates import GateOp


class QubitBlocks(ComputedSequence):
    """Per node, the global indices of its qubits: one run of consecutive indices per node, node after node
    (item ``i`` is ``tuple(range(start_i, start_i + count_i))``), held without a tuple per node.

    Equal to the tuple of those tuples (item by item, in its hash and its ``repr``). Every rank lays out the
    whole network's qubits, and most nodes of a large network hold no data qubit and take no part in the
    circuit: a tuple per node of its communication qubits took ~120 bytes a node on every rank (a 65,536-node
    line, 2026-12-06). So the blocks are held as one count for every node (the communication qubits of a job's
    nodes, alike: no memory per node) or as the nodes whose count is not zero, with their first qubit and count
    (24 bytes each; a node not among them has no qubit).

    Args:
        counts: the number of qubits of each node, >= 0.
        first: the global index of node 0's first qubit.

    Examples:
        >>> blocks = QubitBlocks([0, 2, 0, 1], first=5)
        >>> blocks, blocks[1], blocks.node_of(7), blocks.node_of(6), blocks.node_of(8)
        (((), (5, 6), (), (7,)), (5, 6), 3, 1, None)
        >>> QubitBlocks([2, 2, 2], first=4)[-1], QubitBlocks([2, 2, 2], first=4).num_qubits
        ((8, 9), 6)
    """

    __slots__ = ("first", "num_qubits", "_num_nodes", "_count", "_nodes", "_starts", "_counts")

    def __init__(self, counts: Sequence[int], *, first: int = 0):
        counts = np.asarray(counts, dtype=np.int64).reshape(-1)
        if counts.size and counts.min() < 0:
            raise CircuitError(f"QubitBlocks: counts must be >= 0, got {int(counts.min())}")
        self.first, self._num_nodes = int(first), int(counts.size)
        #: Number of qubits of all the blocks together.
        self.num_qubits = int(counts.sum())
        #: The count of every node where all are alike (``None``: see ``_nodes``).
        self._count: int | None = int(counts[0]) if counts.size and np.all(counts == counts[0]) else None
        self._nodes = self._starts = self._counts = array("q")
        if self._count is None:  # the nodes with qubits, their first qubits and counts (rising)
            held = np.flatnonzero(counts)
            starts = self.first + np.cumsum(counts) - counts
            self._nodes, self._starts, self._counts = (array("q", values.tolist()) for values in
                                                       (held, starts[held], counts[held]))

    def __len__(self) -> int:
        return self._num_nodes

    def _block(self, node: int) -> tuple[int, int]:
        """``(start, count)`` of ``node``'s block (``0 <= node < len(self)``)."""
        if self._count is not None:
            return self.first + node * self._count, self._count
        at = bisect_left(self._nodes, node)
        if at < len(self._nodes) and self._nodes[at] == node:
            return self._starts[at], self._counts[at]
        return 0, 0

    def _item(self, node: int) -> tuple[int, ...]:
        start, count = self._block(node)
        return tuple(range(start, start + count))

    def node_of(self, qubit: int) -> int | None:
        """The node whose block holds global qubit ``qubit`` (``None``: none does)."""
        if self._count is not None:
            offset = qubit - self.first
            if self._count == 0 or not 0 <= offset < self._num_nodes * self._count:
                return None
            return offset // self._count
        at = bisect_right(self._starts, qubit) - 1
        return self._nodes[at] if at >= 0 and qubit < self._starts[at] + self._counts[at] else None

    def owners(self) -> np.ndarray:
        """The node of each qubit of the blocks, in qubit order (int64): ``node_of(first)``,
        ``node_of(first + 1)``, ..."""
        if self._count is not None:
            return np.repeat(np.arange(self._num_nodes, dtype=np.int64), self._count)
        return np.repeat(np.array(self._nodes, dtype=np.int64), np.array(self._counts, dtype=np.int64))

    def _same(self, other: "QubitBlocks") -> bool:
        return (self._num_nodes == other._num_nodes and self.num_qubits == other.num_qubits
                and (not self.num_qubits or self.first == other.first)
                and np.array_equal(self.owners(), other.owners()))


class QubitOwners(ComputedSequence):
    """The node of each global qubit (:attr:`RegisterMap.node_of_qubit`): the data qubits' nodes, then the
    communication qubits', worked out from the two :class:`QubitBlocks` when read (no int per qubit).

    Equal to the tuple of those nodes (item by item, in its hash and its ``repr``); :meth:`__array__` gives
    them as one int64 array (the engine keeps them so).

    Examples:
        >>> owners = QubitOwners(QubitBlocks([1, 0, 1]), QubitBlocks([1, 1, 1], first=2))
        >>> owners, owners[-1], len(owners)
        ((0, 2, 0, 1, 2), 2, 5)
    """

    __slots__ = ("data", "comm")

    def __init__(self, data: QubitBlocks, comm: QubitBlocks):
        self.data, self.comm = data, comm

    def __len__(self) -> int:
        return self.data.num_qubits + self.comm.num_qubits

    def _item(self, qubit: int) -> int:
        return (self.data if qubit < self.data.num_qubits else self.comm).node_of(qubit)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        owners = np.concatenate((self.data.owners(), self.comm.owners()))
        return owners if dtype is None else owners.astype(dtype, copy=False)

    def __iter__(self):
        return iter(self.__array__().tolist())

    def _same(self, other: "QubitOwners") -> bool:
        return len(self) == len(other) and np.array_equal(self.__array__(), other.__array__())


@dataclass(frozen=True)
class RegisterMap:
    """Where logical qubits and communication qubits live in the global register.

    Attributes:
        num_qubits: number of global qubits (data and communication).
        data_qubits: per node, global indices of its data slots (a :class:`QubitBlocks`, equal to a tuple of
            tuples; no tuple per node).
        comm_qubits: per node, global indices of its communication qubits (a :class:`QubitBlocks`).
        qubit_of_logical: global index of each logical circuit qubit.
        owner: node of each logical circuit qubit.
        node_of_qubit: node of each global qubit (a :class:`QubitOwners`, equal to a tuple).
        num_data_qubits: data qubits (global indices ``0..num_data_qubits-1``).
    """

    num_qubits: int
    data_qubits: Sequence[tuple[int, ...]]
    comm_qubits: Sequence[tuple[int, ...]]
    qubit_of_logical: tuple[int, ...]
    owner: tuple[int, ...]
    node_of_qubit: Sequence[int]
    num_data_qubits: int = 0


def register_map(owner: Sequence[int], num_data_qubits: Sequence[int], num_comm_qubits: Sequence[int]) -> RegisterMap:
    """Lay out the global qubits (see module docstring): all data slots first, then all communication qubits.

    Examples:
        >>> m = register_map([1, 0, 1], [2, 2], [1, 1])
        >>> m.qubit_of_logical, m.comm_qubits, m.num_data_qubits, m.node_of_qubit
        ((2, 0, 3), ((4,), (5,)), 4, (0, 0, 1, 1, 0, 1))
    """
    data = QubitBlocks(num_data_qubits)
    num_nodes, num_data = len(data), data.num_qubits
    comm = QubitBlocks(num_comm_qubits, first=num_data)
    if len(comm) != num_nodes:
        raise CircuitError(f"register_map: {num_nodes} nodes' data qubit counts but {len(comm)} nodes' "
                           "communication qubit counts")
    used: dict[int, int] = {}
    mapped = []
    for q, node in enumerate(owner):
        if not 0 <= node < num_nodes:
            raise CircuitError(f"qubit {q} is assigned to node {node}, outside 0..{num_nodes - 1}")
        start, count = data._block(node)  # (not a tuple of the node's slots per qubit)
        k = used.get(node, 0)
        if k >= count:
            raise CircuitError(f"node {node} has {count} data qubits; qubit {q} does not fit")
        mapped.append(start + k)
        used[node] = k + 1
    return RegisterMap(num_data + comm.num_qubits, data, comm, tuple(mapped), tuple(owner), QubitOwners(data, comm),
                       num_data)


#: The ``if`` decisions a step runs under: ``((if_index, branch), ...)``, branch True for the body.
Guard = tuple[tuple[int, bool], ...]


@dataclass(frozen=True)
class LocalGate:
    """A gate whose qubits are all on this node (global indices)."""

    index: int
    op: GateOp
    guard: Guard = ()


@dataclass(frozen=True)
class RemoteControl:
    """Control side of nonlocal gate ``index``: ``control`` is a global qubit of this node.

    ``early_return`` (TeleData only): the return pair is requested at the gate's start, which takes two
    communication qubits at the control's QPU; ``False`` where it has one: it is requested once the control
    has arrived at the target (the schedule before 2026-12-06).

    ``dense``: the gate is a dense two-qubit gate (no control), run as TeleData under either scheme:
    ``control`` is its first qubit, teleported to the peer, which applies the gate, and back (two pairs,
    where its rewrite would take three controlled gates).
    """

    index: int
    peer: int
    control: int
    guard: Guard = ()
    early_return: bool = True
    dense: bool = False


@dataclass(frozen=True)
class RemoteTarget:
    """Target side of nonlocal gate ``index``: apply ``op`` with its control replaced by a comm qubit.

    ``early_return``: as :class:`RemoteControl`'s (the control's QPU decides it). ``dense``: ``op`` is a
    dense two-qubit gate whose first qubit (the peer's) arrives in a comm qubit (:class:`RemoteControl`).
    """

    index: int
    peer: int
    op: GateOp
    guard: Guard = ()
    early_return: bool = True
    dense: bool = False


@dataclass(frozen=True)
class RemoteSwap:
    """One side of a SWAP between ``qubit`` (a global qubit of this node) and a qubit of node ``peer``.

    Run as two teleportations (Bennett et al., PRL 70, 1895 (1993)): each
    side teleports its qubit's state to the other side, which puts it into
    its own data slot; two EPR pairs and 2×2 classical bits, where three CX
    would take three. The ``first`` side (the gate's first qubit) starts
    both pairs, at once: pair 0 carries its qubit over, pair 1 the peer's back.
    """

    index: int
    peer: int
    qubit: int
    first: bool
    guard: Guard = ()


@dataclass(frozen=True)
class RouteStep:
    """Entanglement swapping at ``path[position]`` for pair ``pair`` of nonlocal gate ``index``.

    ``path`` runs from the node that starts the pair to the node that ends it.
    """

    index: int
    path: tuple[int, ...]
    position: int
    pair: int
    guard: Guard = ()


@dataclass(frozen=True)
class MeasureStep:
    """Measure this node's (global) qubit ``qubit`` into classical bit ``clbit``, which the node keeps."""

    index: int
    qubit: int
    clbit: int
    guard: Guard = ()


@dataclass(frozen=True)
class ResetStep:
    """Reset this node's (global) qubit ``qubit`` to |0⟩."""

    index: int
    qubit: int
    guard: Guard = ()


@dataclass(frozen=True)
class SendBits:
    """For the ``if`` ``index``: send classical bits this node holds, ``sends = ((clbit, (node, ...)), ...)``."""

    index: int
    sends: tuple[tuple[int, tuple[int, ...]], ...]
    guard: Guard = ()


@dataclass(frozen=True)
class Condition:
    """Decide the ``if`` ``index``: receive the bits ``receive`` from their holders, then compare.

    Examples:
        >>> Condition(4, (0, 2), 0b10, ()).holds(0b100)
        True
    """

    index: int
    clbits: tuple[int, ...]
    value: int
    receive: tuple[int, ...]
    guard: Guard = ()

    def holds(self, bits: int) -> bool:
        """Whether the condition holds for this node's classical bits ``bits`` (bit i = classical bit i)."""
        return IfBits(self.clbits, self.value).holds(bits)


Step = Union[LocalGate, RemoteControl, RemoteTarget, RemoteSwap, RouteStep, MeasureStep, ResetStep, SendBits, Condition]


class NodeSteps(ComputedSequence):
    """Per node, its steps in circuit order (:attr:`NodePlan.steps`), held for the nodes that have any.

    Item ``i`` is node ``i``'s list of steps: the same list object on every read for a node with steps, a new
    empty list for a node without (most nodes of a large network: a GHZ over 4 of a 65,536-node line's nodes
    has 65,532 without; an empty list per node took ~64 bytes a node on every rank, 2026-12-06).

    Args:
        num_nodes: number of nodes, >= 0.
        by_node: the steps of the nodes that have any (``{node: [step, ...]}``; empty lists are dropped).

    Examples:
        >>> steps = NodeSteps(3, {1: [LocalGate(0, None)]})
        >>> len(steps), steps[0], [len(s) for s in steps], steps.nodes_with_steps()
        (3, [], [0, 1, 0], [1])
        >>> steps == [[], [LocalGate(0, None)], []]
        True
    """

    __slots__ = ("_num_nodes", "_by_node")
    _plain = list

    def __init__(self, num_nodes: int, by_node: dict[int, list[Step]]):
        self._num_nodes = num_nodes
        self._by_node = {node: by_node[node] for node in sorted(by_node) if by_node[node]}
        if self._by_node and not (0 <= min(self._by_node) and max(self._by_node) < num_nodes):
            raise CircuitError(f"NodeSteps: steps of node {max(self._by_node)} outside 0..{num_nodes - 1}")

    def __len__(self) -> int:
        return self._num_nodes

    def _item(self, node: int) -> list[Step]:
        steps = self._by_node.get(node)
        return [] if steps is None else steps

    def nodes_with_steps(self) -> list[int]:
        """The nodes that have steps, rising."""
        return list(self._by_node)

    def items(self):
        """``(node, steps)`` of each node that has steps, by rising node."""
        return self._by_node.items()

    def _same(self, other: "NodeSteps") -> bool:
        return self._num_nodes == other._num_nodes and self._by_node == other._by_node

    __hash__ = None

    def __repr__(self) -> str:
        return f"NodeSteps({self._num_nodes}, {self._by_node!r})"


@dataclass(frozen=True)
class NodePlan:
    """Each node's steps and where the classical bits end up.

    Attributes:
        steps: per node, its steps in circuit order (a :class:`NodeSteps`: a list for each node, empty for most).
        holder: per classical bit, the node holding its final value (``None``:
            never measured, reads 0); empty when measurements are sampled
            from the final state.
        engine_measures: True when the nodes measure (a dynamic circuit); False
            when every measurement is terminal and sampled from the final state.
    """

    steps: NodeSteps
    holder: tuple[int | None, ...]
    engine_measures: bool


def _global_op(gate: Gate, regmap: RegisterMap) -> GateOp:
    mapped = tuple(regmap.qubit_of_logical[q] for q in gate.qubits)
    return Gate(gate.name, mapped, gate.params, gate.matrix).to_op()


class _Planner:
    """Walks the circuit once, numbering instructions in order (blocks of an ``if`` after it)."""

    def __init__(self, regmap: RegisterMap, num_nodes: int, path, scheme: str, engine_measures: bool):
        self.regmap = regmap
        self.num_nodes = num_nodes
        self.path = path
        self.scheme = scheme
        self.engine_measures = engine_measures
        self.next_index = 0

    def block(self, instructions, guard: Guard, holder: dict) -> tuple[dict[int, list[Step]], set]:
        """Steps per node for ``instructions`` (``{node: steps}``, the nodes that have any); updates ``holder``;
        returns the steps and the bits written."""
        steps: dict[int, list[Step]] = defaultdict(list)
        written: set = set()
        for ins in instructions:
            index = self.next_index
            self.next_index += 1
            if isinstance(ins, Barrier):
                continue
            if isinstance(ins, (Measure, Reset)):
                if not self.engine_measures:
                    continue  # terminal: sampled from the final state
                node = self.regmap.owner[ins.qubit]
                qubit = self.regmap.qubit_of_logical[ins.qubit]
                if isinstance(ins, Reset):
                    steps[node].append(ResetStep(index, qubit, guard))
                    continue
                steps[node].append(MeasureStep(index, qubit, ins.clbit, guard))
                holder[ins.clbit] = node
                written.add(ins.clbit)
            elif isinstance(ins, IfBits):
                written |= self._if(ins, index, guard, holder, steps)
            else:
                self._gate(ins, index, guard, steps)
        return steps, written

    def _gate(self, ins: Gate, index: int, guard: Guard, steps: dict[int, list[Step]]) -> None:
        owner = self.regmap.owner
        nodes = {owner[q] for q in ins.qubits}
        op = _global_op(ins, self.regmap)
        if len(nodes) == 1:
            steps[nodes.pop()].append(LocalGate(index, op, guard))
            return
        if ins.name == "swap" and len(nodes) == 2:
            (a, b), (qa, qb) = (owner[q] for q in ins.qubits), op.targets
            steps[a].append(RemoteSwap(index, b, qa, True, guard))
            steps[b].append(RemoteSwap(index, a, qb, False, guard))
            self._route_steps(index, guard, steps, [(a, b), (a, b)])
            return
        dense = not op.controls and len(op.targets) == 2  # its first qubit goes over and back (TeleData)
        if not dense and (len(op.controls) != 1 or len(op.targets) != 1):
            raise CircuitError(
                f"gate {ins.name} on qubits {ins.qubits} spans QPUs but is not a controlled gate on one "
                "target; decompose the circuit first (dqsim.circuit.decompose)"
            )
        control_node, target_node = owner[ins.qubits[0]], owner[ins.qubits[1]]
        steps[control_node].append(RemoteControl(index, target_node, op.qubits[0], guard, dense=dense))
        steps[target_node].append(RemoteTarget(index, control_node, op, guard, dense=dense))
        teledata = self.scheme == "teledata" or dense
        ends = [(control_node, target_node)] + ([(target_node, control_node)] if teledata else [])
        self._route_steps(index, guard, steps, ends)

    def _route_steps(self, index: int, guard: Guard, steps: dict[int, list[Step]], ends) -> None:
        """The route steps of gate ``index``'s pairs, pair k from ``ends[k][0]`` to ``ends[k][1]``."""
        if self.path is None:
            return
        for pair, (start, end) in enumerate(ends):
            route = self.path(start, end)
            for position in range(1, len(route) - 1):
                steps[route[position]].append(RouteStep(index, tuple(route), position, pair, guard))

    def _if(self, ins: IfBits, index: int, guard: Guard, holder: dict, steps: dict[int, list[Step]]) -> set:
        """Plan an ``if`` (see module docstring); updates ``holder``; returns the bits its blocks may write."""
        before = dict(holder)
        after_body, after_else = dict(holder), dict(holder)
        body, wrote_body = self.block(ins.body, guard + ((index, True),), after_body)
        orelse, wrote_else = self.block(ins.orelse, guard + ((index, False),), after_else)
        participants = sorted(n for n in body.keys() | orelse.keys() if body.get(n) or orelse.get(n))
        wanted: dict[int, set] = {n: {c for c in ins.clbits if before.get(c) not in (None, n)} for n in participants}
        for c in sorted(wrote_body | wrote_else):
            if c in wrote_body and c in wrote_else and after_body[c] != after_else[c]:
                raise CircuitError(
                    f"classical bit {c} is measured on QPU {after_body[c]} in one block of an 'if' and on QPU "
                    f"{after_else[c]} in the other; distributed circuits need one QPU to hold each bit")
            new = after_body[c] if c in wrote_body else after_else[c]
            if before.get(c) not in (None, new):
                wanted[new].add(c)  # the old value, for when the block that measures it does not run
            holder[c] = new
        sends: dict[int, dict[int, list[int]]] = {}
        for n in participants:
            for c in wanted[n]:
                sends.setdefault(before[c], {}).setdefault(c, []).append(n)
        for n in sorted(sends.keys() | wanted.keys()):  # (the participants are wanted's keys)
            if n in sends:
                steps[n].append(SendBits(index, tuple((c, tuple(sorted(dests)))
                                                      for c, dests in sorted(sends[n].items())), guard))
            if n in wanted:
                steps[n].append(Condition(index, ins.clbits, ins.value, tuple(sorted(wanted[n])), guard))
                steps[n].extend(body.get(n, []) + orelse.get(n, []))
        return wrote_body | wrote_else


def plan_distributed(circuit: Circuit, regmap: RegisterMap, num_nodes: int, *,
                     path: Callable[[int, int], list[int]] | None = None, scheme: str = "telegate") -> NodePlan:
    """Each node's steps in circuit order, and the holders of the classical bits (see module docstring).

    With ``path`` (node route between two nodes), the intermediate nodes of a
    nonlocal gate's route get a :class:`RouteStep` at that gate's position,
    so they reserve their qubits for it in circuit order too; TeleData uses a
    second pair from the target's node back to the control's. A ``swap``
    between two QPUs becomes a :class:`RemoteSwap` on each (two pairs, both
    from the first qubit's node), any other two-qubit gate without a control
    (a dense ``unitary``) a TeleData gate of its first qubit under either scheme
    (``dense``); every other nonlocal gate must be a
    single-control controlled-U. A circuit
    whose measurements are all terminal has no measurement steps (its shots
    are sampled from the final state); any other circuit is planned as a
    dynamic circuit.

    Raises:
        CircuitError: a nonlocal gate that is not a single-control
            controlled-U or a two-qubit gate, or a classical bit measured on two QPUs in the two
            blocks of one ``if``.

    Examples:
        >>> from dqsim.circuit.ir import Circuit, IfBits, Gate
        >>> c = Circuit(2, 1).measure(0, 0).append(IfBits((0,), 1, (Gate("x", (1,)),)))
        >>> plan = plan_distributed(c, register_map([0, 1], [1, 1], [1, 1]), 2)
        >>> [type(s).__name__ for s in plan.steps[0]], [type(s).__name__ for s in plan.steps[1]]
        (['MeasureStep', 'SendBits'], ['Condition', 'LocalGate'])
        >>> plan.holder, plan.steps[1][0].receive
        ((0,), (0,))
    """
    engine_measures = not circuit.measurements_are_terminal()
    planner = _Planner(regmap, num_nodes, path, scheme, engine_measures)
    holder: dict = {}
    steps, _written = planner.block(circuit.instructions, (), holder)
    final = tuple(holder.get(c) for c in range(circuit.num_clbits)) if engine_measures else ()
    return NodePlan(NodeSteps(num_nodes, steps), final, engine_measures)


def plan_nodes(circuit: Circuit, regmap: RegisterMap, num_nodes: int, *,
               path: Callable[[int, int], list[int]] | None = None, scheme: str = "telegate") -> NodeSteps:
    """Each node's steps, in circuit order: :func:`plan_distributed`'s ``steps``."""
    return plan_distributed(circuit, regmap, num_nodes, path=path, scheme=scheme).steps
