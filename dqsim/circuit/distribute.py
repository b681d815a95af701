"""Plan a circuit over networked QPUs: qubit slots and each node's list of steps.

Input: a circuit whose multi-qubit gates are all single-control
controlled-U gates or local (see :mod:`dqsim.circuit.decompose`), and an
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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Union

from dqsim.circuit.ir import Barrier, Circuit, Gate, IfBits, Measure, Reset
from dqsim.errors import CircuitError
from dqsim.state.gates import GateOp


@dataclass(frozen=True)
class RegisterMap:
    """Where logical qubits and communication qubits live in the global register.

    Attributes:
        num_qubits: number of global qubits (data and communication).
        data_qubits: per node, global indices of its data slots.
        comm_qubits: per node, global indices of its communication qubits.
        qubit_of_logical: global index of each logical circuit qubit.
        owner: node of each logical circuit qubit.
        node_of_qubit: node of each global qubit.
        num_data_qubits: data qubits (global indices ``0..num_data_qubits-1``).
    """

    num_qubits: int
    data_qubits: tuple[tuple[int, ...], ...]
    comm_qubits: tuple[tuple[int, ...], ...]
    qubit_of_logical: tuple[int, ...]
    owner: tuple[int, ...]
    node_of_qubit: tuple[int, ...]
    num_data_qubits: int = 0


def register_map(owner: Sequence[int], num_data_qubits: Sequence[int], num_comm_qubits: Sequence[int]) -> RegisterMap:
    """Lay out the global qubits (see module docstring): all data slots first, then all communication qubits.

    Examples:
        >>> m = register_map([1, 0, 1], [2, 2], [1, 1])
        >>> m.qubit_of_logical, m.comm_qubits, m.num_data_qubits
        ((2, 0, 3), ((4,), (5,)), 4)
    """
    data, comm = [], []
    start = 0
    for d in num_data_qubits:
        data.append(tuple(range(start, start + d)))
        start += d
    num_data = start
    for c in num_comm_qubits:
        comm.append(tuple(range(start, start + c)))
        start += c
    node_of = [0] * start
    for node, qubits in enumerate(data + comm):
        for q in qubits:
            node_of[q] = node % len(data)
    used = [0] * len(data)
    mapped = []
    for q, node in enumerate(owner):
        if not 0 <= node < len(data):
            raise CircuitError(f"qubit {q} is assigned to node {node}, outside 0..{len(data) - 1}")
        if used[node] >= len(data[node]):
            raise CircuitError(f"node {node} has {len(data[node])} data qubits; qubit {q} does not fit")
        mapped.append(data[node][used[node]])
        used[node] += 1
    return RegisterMap(start, tuple(data), tuple(comm), tuple(mapped), tuple(owner), tuple(node_of), num_data)


@dataclass(frozen=True)
class LocalGate:
    """A gate whose qubits are all on this node (global indices)."""

    index: int
    op: GateOp


@dataclass(frozen=True)
class RemoteControl:
    """Control side of nonlocal gate ``index``: ``control`` is a global qubit of this node."""

    index: int
    peer: int
    control: int


@dataclass(frozen=True)
class RemoteTarget:
    """Target side of nonlocal gate ``index``: apply ``op`` with its control replaced by a comm qubit."""

    index: int
    peer: int
    op: GateOp


@dataclass(frozen=True)
class RouteStep:
    """Entanglement swapping at ``path[position]`` for pair ``pair`` of nonlocal gate ``index``.

    ``path`` runs from the node that starts the pair to the node that ends it.
    """

    index: int
    path: tuple[int, ...]
    position: int
    pair: int


Step = Union[LocalGate, RemoteControl, RemoteTarget, RouteStep]


def _global_op(gate: Gate, regmap: RegisterMap) -> GateOp:
    mapped = tuple(regmap.qubit_of_logical[q] for q in gate.qubits)
    return Gate(gate.name, mapped, gate.params, gate.matrix).to_op()


def plan_nodes(circuit: Circuit, regmap: RegisterMap, num_nodes: int, *,
               path: Callable[[int, int], list[int]] | None = None, scheme: str = "telegate") -> list[list[Step]]:
    """Each node's steps, in circuit order (see module docstring).

    With ``path`` (node route between two nodes), the intermediate nodes of a
    nonlocal gate's route get a :class:`RouteStep` at that gate's position,
    so they reserve their qubits for it in circuit order too; TeleData uses a
    second pair from the target's node back to the control's.

    Raises:
        CircuitError: a nonlocal gate that is not a single-control
            controlled-U, or a measurement/reset that is not terminal.
    """
    steps: list[list[Step]] = [[] for _ in range(num_nodes)]
    for index, ins in enumerate(circuit.instructions):
        if isinstance(ins, (Barrier, Measure)):
            continue
        if isinstance(ins, Reset):
            raise CircuitError("resets are not supported in distributed circuits yet")
        if isinstance(ins, IfBits):
            raise CircuitError("classical control ('if' on measured bits) is not supported in distributed "
                               "circuits yet; run the circuit with scenario = \"circuit\"")
        nodes = {regmap.owner[q] for q in ins.qubits}
        op = _global_op(ins, regmap)
        if len(nodes) == 1:
            steps[nodes.pop()].append(LocalGate(index, op))
            continue
        if len(op.controls) != 1 or len(op.targets) != 1:
            raise CircuitError(
                f"gate {ins.name} on qubits {ins.qubits} spans QPUs but is not a controlled gate on one "
                "target; decompose the circuit first (dqsim.circuit.decompose)"
            )
        control_node = regmap.owner[ins.qubits[0]]
        target_node = regmap.owner[ins.qubits[1]]
        steps[control_node].append(RemoteControl(index, target_node, op.controls[0]))
        steps[target_node].append(RemoteTarget(index, control_node, op))
        if path is not None:
            routes = [path(control_node, target_node)]
            if scheme == "teledata":
                routes.append(path(target_node, control_node))
            for pair, route in enumerate(routes):
                for position in range(1, len(route) - 1):
                    steps[route[position]].append(RouteStep(index, tuple(route), position, pair))
    return steps
