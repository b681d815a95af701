"""Node programs that run a distributed circuit, and end-to-end entanglement over paths.

Each node runs :func:`node_program` over its steps (:mod:`dqsim.circuit.distribute`):

* a local gate is issued, then the node waits the gate's duration;
* a nonlocal controlled-U uses one end-to-end EPR pair between the control's
  and the target's nodes, made by :func:`entangle_start` / :func:`entangle_end`,
  then either the TeleGate (cat-entangler/disentangler) or TeleData
  (teleport the control to the target's node, apply the gate there,
  teleport it back; two pairs);
* in a dynamic circuit, a measurement or reset of the node's own qubit, the
  sending of classical bits it holds, and the decision of an ``if`` once the
  bits measured elsewhere have arrived (:func:`classical_step`); steps
  inside an ``if`` block run only when the decision went their way.

End-to-end pairs over a path of several links: every link makes an
elementary pair (:mod:`dqsim.protocols.epr`); every intermediate node, once
both its pairs are heralded, measures them in the Bell basis (entanglement
swapping: CNOT, H, two measurements) and sends the two bits to the far end,
which applies X^(⊕m₂) Z^(⊕m₁) (Żukowski et al., PRL 71, 4287 (1993)).
Intermediate nodes take part through the route steps of their own program
(:class:`dqsim.circuit.distribute.RouteStep`), so every node reserves its
communication qubits in circuit order and the programs cannot deadlock on
them (given two communication qubits per node).

Communication qubits come from a per-node :class:`CommPool`, kept in the
node's ``ctx.node_data`` (so checkpoints save it); a process waits when none
is free. Processes change node data only through ``ctx.effect`` and read it
through ``ctx.record`` (:mod:`dqsim.engine.process`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from dqsim.circuit.distribute import (Condition, LocalGate, MeasureStep, RemoteControl, ResetStep, RouteStep,
                                      SendBits, Step)
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.protocols.epr import epr_initiator, epr_responder
from dqsim.protocols.teleport import (
    telegate_control,
    telegate_target,
    teleport_receiver,
    teleport_sender,
)
from dqsim.state.gates import GateOp, gate_op


@dataclass
class CommPool:
    """Free communication qubits of one node (touched only by that node's processes)."""

    free: list[int]
    waiters: int = 0

    @staticmethod
    def of(ctx) -> "CommPool":
        """The pool of the node ``ctx`` belongs to."""
        return ctx.node_data["comm_pool"]

    def _take(self) -> int | None:
        return self.free.pop(0) if self.free else None

    def _wait(self, change: int) -> None:
        self.waiters += change

    def acquire(self, ctx):
        """Take a free qubit, waiting for a release if none is free; yields engine commands."""
        while True:
            qubit = ctx.record(self._take)
            if qubit is not None:
                return qubit
            ctx.effect(self._wait, 1)
            yield ctx.receive(("comm-free", ctx.node))
            ctx.effect(self._wait, -1)

    def release(self, ctx, qubit: int) -> None:
        ctx.effect(self._release, ctx, qubit)

    def _release(self, ctx, qubit: int) -> None:
        self.free.append(qubit)
        self.free.sort()
        if self.waiters:
            ctx.send(ctx.node, ("comm-free", ctx.node))


def entangle_start(ctx, net: Network, dest: int, my_qubit: int, tag):
    """Start end of an end-to-end pair to ``dest`` (yields engine commands)."""
    path = net.route(ctx.node, dest)
    result = yield from epr_initiator(ctx, path[1], net.link(path[0], path[1]), my_qubit, (tag, 0))
    return result


def entangle_end(ctx, net: Network, source: int, my_qubit: int, tag):
    """Far end of an end-to-end pair from ``source``: wait, then apply the swap corrections."""
    path = net.route(source, ctx.node)
    result = yield from epr_responder(ctx, path[-2], my_qubit, (tag, len(path) - 2))
    flip_x = flip_z = 0
    for i in range(1, len(path) - 1):
        msg = yield ctx.receive(("swap-bits", tag, i))
        m_z, m_x = msg.payload
        flip_z ^= m_z
        flip_x ^= m_x
    gate_error = net.nodes[ctx.node].gate_1q_error_probability
    if flip_x:
        ctx.apply(gate_op("x", [my_qubit]), error_probability=gate_error)
    if flip_z:
        ctx.apply(gate_op("z", [my_qubit]), error_probability=gate_error)
    return result


def _link_side(ctx, net: Network, role: str, peer: int, qubit: int, tag, notify):
    if role == "respond":
        yield from epr_responder(ctx, peer, qubit, tag)
    else:
        yield from epr_initiator(ctx, peer, net.link(ctx.node, peer), qubit, tag)
    ctx.send(ctx.node, notify)


def swapper(ctx, net: Network, path: tuple[int, ...], i: int, tag, left: int, right: int):
    """Intermediate node ``path[i]``: make both elementary pairs on ``left``/``right``, then swap them."""
    pool = CommPool.of(ctx)
    ctx.spawn(_link_side, net, "respond", path[i - 1], left, (tag, i - 1), ("link-ready", tag, "left"))
    ctx.spawn(_link_side, net, "initiate", path[i + 1], right, (tag, i), ("link-ready", tag, "right"))
    yield ctx.receive(("link-ready", tag, "left"))
    yield ctx.receive(("link-ready", tag, "right"))
    spec = net.nodes[ctx.node]
    ctx.apply(gate_op("cx", [left, right]), error_probability=spec.gate_2q_error_probability)
    ctx.apply(gate_op("h", [left]), error_probability=spec.gate_1q_error_probability)
    m_z, m_x = yield ctx.measure([left, right], error_probability=spec.measure_error_probability)
    ctx.send(path[-1], ("swap-bits", tag, i), (m_z, m_x))
    ctx.reset([left, right])
    pool.release(ctx, left)
    pool.release(ctx, right)
    ctx.count(("swaps", ctx.node), 1)
    ctx.log("swap", f"for {ctx.name_of(path[0])}->{ctx.name_of(path[-1])}: bits {m_z}{m_x}")


def _controlled_from(op: GateOp, comm: int) -> GateOp:
    return GateOp(op.matrix, op.targets, (comm,), op.diagonal, op.name)


def _with_bit(bits: int, clbit: int, value: int) -> int:
    return (bits & ~(1 << clbit)) | (int(value) << clbit)


def classical_step(ctx, step: Step, bits: int, decided: dict, spec: NodeSpec):
    """A dynamic-circuit step (:mod:`dqsim.circuit.distribute`): measure, reset, send bits or decide an ``if``.

    Yields engine commands; returns this node's classical bits afterwards
    (bit i = classical bit i) and records a decision in ``decided[index]``.
    A measurement has the node's ``measure_error_probability`` and takes
    its ``measure_duration_ps``.
    A :class:`Condition` waits for the bits it does not hold, which travel
    as classical messages from their holders (the route's latency), so
    feed-forward takes simulated time; both ends log it in the timeline.
    """
    if isinstance(step, MeasureStep):
        (outcome,) = yield ctx.measure([step.qubit], error_probability=spec.measure_error_probability)
        ctx.log("measure", f"qubit {step.qubit} -> c[{step.clbit}] = {outcome}")
        if spec.measure_duration_ps:
            yield ctx.wait(spec.measure_duration_ps)
        return _with_bit(bits, step.clbit, outcome)
    if isinstance(step, ResetStep):
        ctx.reset([step.qubit])
        ctx.log("reset", f"qubit {step.qubit}")
        return bits
    if isinstance(step, SendBits):
        for clbit, dests in step.sends:
            for dest in dests:
                ctx.send(dest, ("clbit", step.index, clbit), (bits >> clbit) & 1)
            if ctx.logging:
                to = ", ".join(ctx.name_of(dest) for dest in dests)
                ctx.log("send-bit", f"c[{clbit}] = {(bits >> clbit) & 1} to {to} for if #{step.index}")
        return bits
    for clbit in step.receive:
        msg = yield ctx.receive(("clbit", step.index, clbit))
        bits = _with_bit(bits, clbit, msg.payload)
    decided[step.index] = step.holds(bits)
    shown = " ".join(f"c[{c}]={(bits >> c) & 1}" for c in step.clbits)
    ctx.log("if", f"#{step.index}: {shown} -> {'block' if decided[step.index] else 'else'}"
            + (f" (after waiting for c{list(step.receive)})" if step.receive else ""))
    return bits


def node_program(ctx, net: Network, scheme: str, steps: Sequence[Step]):
    """Run this node's steps in order (yields engine commands).

    ``net`` is the run's :class:`~dqsim.network.network.Network` (routes,
    links, node hardware; shared with the simulator, it does not change
    during the run) and ``scheme`` ``"telegate"`` or ``"teledata"``; the
    ``comm_pool`` (a :class:`CommPool`) in ``node_data`` is set up by the
    scenario.

    A step guarded by ``if`` decisions (``step.guard``) runs only when they
    went its way. Progress goes to ``ctx.node_data``: ``steps_done`` (steps
    started), ``clbits`` (this node's classical bits, bit i = classical bit i,
    of which it holds those :attr:`~dqsim.circuit.distribute.NodePlan.holder`
    names), ``done`` (True at the end) and ``done_ps`` (when this node finished its steps, ps: the
    scenario adds the terminal measurements' duration from there).
    """
    spec: NodeSpec = net.nodes[ctx.node]
    pool = CommPool.of(ctx)
    data = ctx.node_data
    err1, err2 = spec.gate_1q_error_probability, spec.gate_2q_error_probability
    errm = spec.measure_error_probability
    bits, decided = 0, {}
    for count, step in enumerate(steps):
        ctx.effect(data.__setitem__, "steps_done", count)
        if any(decided[index] != branch for index, branch in step.guard):
            continue
        if isinstance(step, (MeasureStep, ResetStep, SendBits, Condition)):
            bits = yield from classical_step(ctx, step, bits, decided, spec)
            ctx.effect(data.__setitem__, "clbits", bits)
            continue
        tag = ("gate", step.index)
        if isinstance(step, RouteStep):
            left = yield from pool.acquire(ctx)
            right = yield from pool.acquire(ctx)
            ctx.spawn(swapper, net, step.path, step.position, tag + ("pair", step.pair), left, right)
            continue
        if isinstance(step, LocalGate):
            two = len(step.op.qubits) >= 2
            ctx.apply(step.op, error_probability=err2 if two else err1)
            duration = spec.gate_2q_duration_ps if two else spec.gate_1q_duration_ps
            if duration:
                yield ctx.wait(duration)
            continue
        comm = yield from pool.acquire(ctx)
        if isinstance(step, RemoteControl):
            yield from entangle_start(ctx, net, step.peer, comm, tag + ("pair", 0))
            if scheme == "telegate":
                yield from telegate_control(ctx, step.peer, step.control, comm, tag,
                                            gate_error=err2, measure_error=errm)
            else:
                yield from teleport_sender(ctx, step.peer, step.control, comm, tag + ("out",),
                                           gate_error=err2, measure_error=errm)
                yield from entangle_end(ctx, net, step.peer, comm, tag + ("pair", 1))
                yield from teleport_receiver(ctx, step.peer, comm, tag + ("back",), gate_error=err1)
                ctx.apply(gate_op("swap", [comm, step.control]), error_probability=err2)
                ctx.reset([comm])  # it holds the control's reset |0⟩: leaves the register
        else:
            yield from entangle_end(ctx, net, step.peer, comm, tag + ("pair", 0))
            if scheme == "telegate":
                yield from telegate_target(ctx, step.peer, comm, _controlled_from(step.op, comm), tag,
                                           gate_error=err2, measure_error=errm)
            else:
                yield from teleport_receiver(ctx, step.peer, comm, tag + ("out",), gate_error=err1)
                ctx.apply(_controlled_from(step.op, comm), error_probability=err2)
                back = yield from pool.acquire(ctx)
                yield from entangle_start(ctx, net, step.peer, back, tag + ("pair", 1))
                yield from teleport_sender(ctx, step.peer, comm, back, tag + ("back",),
                                           gate_error=err2, measure_error=errm)
                pool.release(ctx, back)
        pool.release(ctx, comm)
        ctx.count("nonlocal_gates", 1 if isinstance(step, RemoteControl) else 0)
    ctx.effect(data.update, {"steps_done": len(steps), "done": True, "done_ps": ctx.now_ps})
    ctx.log("done", f"{len(steps)} steps")
