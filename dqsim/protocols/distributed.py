"""Node programs that run a distributed circuit, and end-to-end entanglement over paths.

Each node runs one :class:`NodeProgram` over its steps (:mod:`dqsim.circuit.distribute`):

* a local gate is issued, then the node waits the gate's duration;
* a nonlocal controlled-U uses one end-to-end EPR pair between the control's
  and the target's nodes, made by :class:`~dqsim.protocols.epr.EprInitiator` over the first link
  and :class:`EntangleEnd`,
  then either the TeleGate (cat-entangler/disentangler) or TeleData
  (teleport the control to the target's node, apply the gate there,
  teleport it back; two pairs, both requested at the gate's start: the
  return pair, from the target's node, by a :class:`PairEnd` process while
  the program makes the first; where the control's node has one
  communication qubit, the return pair is requested once the control has
  arrived, ``early_return`` False);
* a dense two-qubit gate between QPUs (``dense`` steps) runs as TeleData under
  either scheme: its first qubit is teleported to the other's node, the gate
  applied there, and the qubit teleported back (two pairs, not the three
  controlled gates of its rewrite);
* a SWAP between two QPUs (:class:`~dqsim.circuit.distribute.RemoteSwap`)
  uses two pairs, both started by the first qubit's node at the gate's
  start (the second by a :class:`PairEnd` process): each side then teleports its data qubit's state to the other
  (pair 0 carries the first side's, pair 1 the second's) and swaps the
  arrived state from its communication qubit into its data slot;
* in a dynamic circuit, a measurement or reset of the node's own qubit, the
  sending of classical bits it holds, and the decision of an ``if`` once the
  bits measured elsewhere have arrived; steps
  inside an ``if`` block run only when the decision went their way.

End-to-end pairs over a path of several links: every link makes an
elementary pair (:mod:`dqsim.protocols.epr`); every intermediate node, once
both its pairs are heralded, measures them in the Bell basis (entanglement
swapping: CNOT, H, two measurements) and sends the two bits to the far end,
which applies X^(⊕m₂) Z^(⊕m₁) (Żukowski et al., PRL 71, 4287 (1993)).
Intermediate nodes take part through the route steps of their own program
(:class:`dqsim.circuit.distribute.RouteStep`), each of which starts a
:class:`Swapper` (and it a :class:`SwapLink` per link), so every node reserves its
communication qubits in circuit order and the programs cannot deadlock on
them (given two communication qubits per node).

Communication qubits come from a per-node :class:`CommPool`, kept in the
node's ``ctx.node_data`` (so checkpoints save it); a process waits when none
is free (:class:`Acquire`).

These processes are *resumable* (the scenario mixes in
:class:`dqsim.engine.process.ResumableProcess`, which this module does not
import: protocols and engine are peers): everything a process carries from
one ``yield`` to the next is an attribute — the step it is at, the stage of
that step, the sub-protocol part it waits in (:mod:`dqsim.protocols.parts`),
its classical bits — so a checkpoint saves the object, with no step log, and
a resumed run calls ``run`` again, which goes, without acting, to the
``yield`` it was saved at. The node's steps and the network are the
scenario's shared objects (saved by reference, not in every checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from dqsim.circuit.distribute import (Condition, LocalGate, MeasureStep, RemoteControl, RemoteSwap, RemoteTarget,
                                      ResetStep, RouteStep, SendBits, Step)
from dqsim.errors import DqsimError
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.protocols.epr import EprInitiator, EprResponder
from dqsim.protocols.teleport import TeleGateControl, TeleGateTarget, TeleportReceive, TeleportSend
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

    def take(self) -> int | None:
        """The lowest free qubit, taken; ``None`` when none is free (:class:`Acquire` waits for one)."""
        return self.free.pop(0) if self.free else None

    def release(self, ctx, qubit: int) -> None:
        """Give ``qubit`` back; a process of this node waiting for one is told (a ``comm-free`` message)."""
        self.free.append(qubit)
        self.free.sort()
        if self.waiters:
            ctx.send(ctx.node, ("comm-free", ctx.node))


class Acquire:
    """A free communication qubit of this node's :class:`CommPool` as a part (:mod:`dqsim.protocols.parts`).

    Taken at once when one is free; otherwise the part waits for a release
    (a ``comm-free`` message the releasing process sends to its own node)
    and tries again. ``result``: the qubit. It reads and changes the pool
    directly, as a resumable process may (a plain generator would need
    ``ctx.record`` and ``ctx.effect`` for its step log).
    """

    def __init__(self):
        self.result = None

    def start(self, ctx) -> bool:
        return self._take(ctx)

    def _take(self, ctx) -> bool:
        pool = CommPool.of(ctx)
        self.result = pool.take()
        if self.result is None:
            pool.waiters += 1
            return False
        return True

    def command(self, ctx):
        return ctx.receive(("comm-free", ctx.node))

    def advance(self, ctx, value) -> bool:
        CommPool.of(ctx).waiters -= 1
        return self._take(ctx)


class EntangleEnd:
    """Far end of an end-to-end pair from ``source`` as a part: the last link's responder, then the swaps' corrections.

    Every intermediate node of the route swaps and sends its two bits here;
    this end applies X^(⊕m_x) Z^(⊕m_z) to ``my_qubit`` once it holds them all.
    ``result``: the last link's :class:`~dqsim.protocols.epr.EprResult`.

    Args:
        net: the run's network (routes, node hardware).
        source: the node that starts the pair. my_qubit: this node's memory.
        tag: the pair's message tag (unique in the run).
    """

    def __init__(self, net: Network, source: int, my_qubit: int, tag):
        self.net, self.source, self.my_qubit, self.tag = net, source, my_qubit, tag
        self.epr = None           # the last link's responder part, until its herald
        self.swaps = 0            # intermediate nodes of the route
        self.index = 0            # the swap whose bits come next (1..swaps)
        self.flip_x = self.flip_z = 0
        self.result = None

    def start(self, ctx) -> bool:
        path = self.net.route(self.source, ctx.node)
        self.swaps = len(path) - 2
        self.epr = EprResponder(path[-2], self.my_qubit, (self.tag, self.swaps))
        return self.epr.start(ctx)

    def command(self, ctx):
        if self.epr is not None:
            return self.epr.command(ctx)
        return ctx.receive(("swap-bits", self.tag, self.index))

    def advance(self, ctx, value) -> bool:
        if self.epr is not None:
            if not self.epr.advance(ctx, value):
                return False
            self.result, self.epr, self.index = self.epr.result, None, 1
        else:
            m_z, m_x = value.payload
            self.flip_z ^= m_z
            self.flip_x ^= m_x
            self.index += 1
        if self.index <= self.swaps:
            return False
        gate_error = self.net.nodes[ctx.node].gate_1q_error_probability
        if self.flip_x:
            ctx.apply(gate_op("x", [self.my_qubit]), error_probability=gate_error)
        if self.flip_z:
            ctx.apply(gate_op("z", [self.my_qubit]), error_probability=gate_error)
        return True


class Pause:
    """A wait until ``until_ps`` as a part (a local gate's duration)."""

    def __init__(self, until_ps: int):
        self.until_ps = until_ps
        self.result = None

    def start(self, ctx) -> bool:
        return False

    def command(self, ctx):
        return ctx.wait(self.until_ps - ctx.now_ps)

    def advance(self, ctx, value) -> bool:
        return True


class MeasureBit:
    """A mid-circuit measurement of this node's ``qubit`` into ``clbit`` as a part; ``result``: the outcome.

    It takes ``duration_ps`` after the outcome (the node's ``measure_duration_ps``).
    """

    def __init__(self, qubit: int, clbit: int, error_probability: float, duration_ps: int):
        self.qubit, self.clbit = qubit, clbit
        self.error_probability, self.duration_ps = error_probability, duration_ps
        self.until_ps = 0
        self.result = None        # None until measured

    def start(self, ctx) -> bool:
        return False

    def command(self, ctx):
        if self.result is None:
            return ctx.measure([self.qubit], error_probability=self.error_probability)
        return ctx.wait(self.until_ps - ctx.now_ps)

    def advance(self, ctx, value) -> bool:
        if self.result is not None:
            return True
        (self.result,) = value
        ctx.log("measure", f"qubit {self.qubit} -> c[{self.clbit}] = {self.result}")
        if self.duration_ps:
            self.until_ps = ctx.now_ps + self.duration_ps
            return False
        return True


class ReceiveBits:
    """The classical bits ``clbits`` of ``if`` number ``index``, from their holders, as a part.

    ``result``: ``bits`` (bit i = classical bit i) with the received bits written in.
    """

    def __init__(self, index: int, clbits: tuple[int, ...], bits: int):
        self.index, self.clbits, self.bits = index, clbits, bits
        self.position = 0         # the bit that comes next
        self.result = None if clbits else bits

    def start(self, ctx) -> bool:
        return not self.clbits

    def command(self, ctx):
        return ctx.receive(("clbit", self.index, self.clbits[self.position]))

    def advance(self, ctx, value) -> bool:
        self.bits = _with_bit(self.bits, self.clbits[self.position], value.payload)
        self.position += 1
        if self.position < len(self.clbits):
            return False
        self.result = self.bits
        return True


class SwapLink:
    """One elementary pair of a swap as a process: its end (``role`` ``"respond"`` or ``"initiate"``), then ``notify``.

    ``notify`` is a message tag the process sends to its own node once the
    pair is heralded (:class:`Swapper` waits for it).
    """

    #: The engine forgets it once it has ended.
    kept_after_end = False

    def __init__(self, net: Network, role: str, peer: int, qubit: int, tag, notify):
        self.net, self.role, self.peer, self.qubit, self.tag, self.notify = net, role, peer, qubit, tag, notify
        self.part = None          # the pair's end, once started

    def run(self, ctx):
        """The process body (yields engine commands; restartable at every ``yield``, see the module docstring)."""
        part, done = self.part, False
        if part is None:
            if self.role == "respond":
                part = EprResponder(self.peer, self.qubit, self.tag)
            else:
                part = EprInitiator(self.peer, self.net.link(ctx.node, self.peer), self.qubit, self.tag)
            self.part = part
            done = part.start(ctx)
        while not done:
            value = yield part.command(ctx)
            done = part.advance(ctx, value)
        ctx.send(ctx.node, self.notify)


def pair_part(net: Network, node: int, role: str, peer: int, qubit: int, tag):
    """The part that makes this ``node``'s end of the end-to-end pair ``tag`` with ``peer`` in ``qubit``:
    ``role`` ``"start"``, the first link's initiator (:class:`~dqsim.protocols.epr.EprInitiator`, tag
    ``(tag, 0)``), or ``"end"`` (:class:`EntangleEnd`)."""
    if role == "start":
        path = net.route(node, peer)
        return EprInitiator(path[1], net.link(path[0], path[1]), qubit, (tag, 0))
    return EntangleEnd(net, peer, qubit, tag)


def home_qubit(step) -> int:
    """The data qubit of this node that a nonlocal step teleports out and takes back (TeleData's control,
    a SWAP's own qubit)."""
    return step.qubit if isinstance(step, RemoteSwap) else step.control


class PairEnd:
    """One end of a nonlocal gate's end-to-end pair as a process of its own: ``role`` ``"start"`` (the
    first link's initiator) or ``"end"`` (:class:`EntangleEnd`), then a ``("pair-ready", tag)`` message to
    its own node (:class:`AwaitPair`). A TeleData gate requests its return pair with it at the gate's start,
    so the pair is made while the control travels (the node program goes on meanwhile).
    """

    #: The engine forgets it once it has ended.
    kept_after_end = False

    def __init__(self, net: Network, role: str, peer: int, qubit: int, tag):
        self.net, self.role, self.peer, self.qubit, self.tag = net, role, peer, qubit, tag
        self.part = None          # the pair's end, once started

    def run(self, ctx):
        """The process body (yields engine commands; restartable at every ``yield``, see the module docstring)."""
        part, done = self.part, False
        if part is None:
            part = self.part = pair_part(self.net, ctx.node, self.role, self.peer, self.qubit, self.tag)
            done = part.start(ctx)
        while not done:
            value = yield part.command(ctx)
            done = part.advance(ctx, value)
        ctx.send(ctx.node, ("pair-ready", self.tag))


class ReceiveValue:
    """The payload of the next message of ``tag`` to this node, as a part (:mod:`dqsim.protocols.parts`)."""

    def __init__(self, tag):
        self.tag = tag
        self.result = None

    def start(self, ctx) -> bool:
        return False

    def command(self, ctx):
        return ctx.receive(self._message_tag())

    def _message_tag(self):
        return self.tag

    def advance(self, ctx, value) -> bool:
        self.result = value.payload
        return True


class AwaitPair(ReceiveValue):
    """The wait for a :class:`PairEnd` of this node to hold its pair ``tag``, as a part."""

    def _message_tag(self):
        return ("pair-ready", self.tag)


# Where a Swapper stands: each phase is one ``yield``.
_LEFT, _RIGHT, _BELL = range(3)


class Swapper:
    """Intermediate node ``path[position]`` of an end-to-end pair as a process: both elementary pairs, then the swap.

    It starts a :attr:`link_side` process per link (on the qubits ``left``
    and ``right``, taken from the pool by the node's program), waits for
    both heralds, measures the two qubits in the Bell basis, sends the bits
    to the route's end and gives the qubits back to the pool.
    """

    #: Process class of a link side (the scenario's resumable one).
    link_side = SwapLink
    #: The engine forgets it once it has ended.
    kept_after_end = False

    def __init__(self, net: Network, path: tuple[int, ...], position: int, tag, left: int, right: int):
        self.net, self.path, self.position, self.tag = net, path, position, tag
        self.left, self.right = left, right
        self.phase = None         # None: not started

    def run(self, ctx):
        """The process body (yields engine commands; restartable at every ``yield``, see the module docstring)."""
        path, i, tag, left, right = self.path, self.position, self.tag, self.left, self.right
        spec = self.net.nodes[ctx.node]
        if self.phase is None:
            ctx.spawn(self.link_side(self.net, "respond", path[i - 1], left, (tag, i - 1), ("link-ready", tag, "left")))
            ctx.spawn(self.link_side(self.net, "initiate", path[i + 1], right, (tag, i),
                                     ("link-ready", tag, "right")))
            self.phase = _LEFT
        if self.phase == _LEFT:
            yield ctx.receive(("link-ready", tag, "left"))
            self.phase = _RIGHT
        if self.phase == _RIGHT:
            yield ctx.receive(("link-ready", tag, "right"))
            ctx.apply(gate_op("cx", [left, right]), error_probability=spec.gate_2q_error_probability)
            ctx.apply(gate_op("h", [left]), error_probability=spec.gate_1q_error_probability)
            self.phase = _BELL
        m_z, m_x = yield ctx.measure([left, right], error_probability=spec.measure_error_probability)
        ctx.send(path[-1], ("swap-bits", tag, i), (m_z, m_x))
        ctx.reset([left, right])
        pool = CommPool.of(ctx)
        pool.release(ctx, left)
        pool.release(ctx, right)
        ctx.count(("swaps", ctx.node), 1)
        ctx.log("swap", f"for {ctx.name_of(path[0])}->{ctx.name_of(path[-1])}: bits {m_z}{m_x}")


def _controlled_from(op: GateOp, comm: int) -> GateOp:
    """``op`` with the qubit that arrived in (TeleData) or is mirrored by (TeleGate) the communication qubit
    ``comm`` replaced by it: its control, or the first qubit of a dense two-qubit gate (``dense`` steps)."""
    if not op.controls:
        return GateOp(op.matrix, (comm,) + op.targets[1:], (), op.diagonal, op.name)
    return GateOp(op.matrix, op.targets, (comm,), op.diagonal, op.name)


def _with_bit(bits: int, clbit: int, value: int) -> int:
    return (bits & ~(1 << clbit)) | (int(value) << clbit)


#: The stages of each kind of step, in order (:func:`stages_of`): ``(what, slot or qubit, ...)``. A stage
#: either acts at once or is a part (:mod:`dqsim.protocols.parts`) the program waits in. Slots name the
#: communication qubits a step holds (``comm``, ``back``; ``left``, ``right`` of a swap).
_STAGES = {
    LocalGate: (("gate",),),
    RouteStep: (("acquire", "left"), ("acquire", "right"), ("swap",)),
    MeasureStep: (("measure",), ("clbits",)),
    ResetStep: (("reset",), ("clbits",)),
    SendBits: (("send_bits",), ("clbits",)),
    Condition: (("receive_bits",), ("decide",), ("clbits",)),
}
_NONLOCAL_STAGES = {
    # control side: pair 0 from here; TeleGate, or teleport the control out and back (pair 1 from the target)
    (True, "telegate"): (("acquire", "comm"), ("start", "comm", 0), ("telegate_control",), ("release", "comm"),
                         ("count",)),
    # TeleData: the return pair (1, from the target) is requested at the gate's start (a PairEnd process), so
    # both ends hold two communication qubits: ``comm`` for pair 0, ``back`` for pair 1
    (True, "teledata"): (("acquire", "comm"), ("acquire", "back"), ("spawn_pair", "back", "end", 1),
                         ("start", "comm", 0), ("send", "control", "comm", "out"), ("await_pair", 1),
                         ("receive", "back", "back"), ("swap_back", "back"), ("release", "back"),
                         ("release", "comm"), ("count",)),
    # target side: pair 0 from the control; TeleGate, or receive the control, apply the gate, send it back
    (False, "telegate"): (("acquire", "comm"), ("end", "comm", 0), ("telegate_target",), ("release", "comm"),
                          ("count",)),
    (False, "teledata"): (("acquire", "comm"), ("acquire", "back"), ("spawn_pair", "back", "start", 1),
                          ("end", "comm", 0), ("receive", "comm", "out"), ("controlled",), ("await_pair", 1),
                          ("send", "comm", "back", "back"), ("release", "back"), ("release", "comm"), ("count",)),
}
#: TeleData where the control's QPU has one communication qubit (``early_return`` False): the return pair is
#: requested by the target once the control has arrived and the gate is applied (10d on an ideal link, not 6d).
_LATE_RETURN_STAGES = {
    True: (("acquire", "comm"), ("start", "comm", 0), ("send", "control", "comm", "out"), ("end", "comm", 1),
           ("receive", "comm", "back"), ("swap_back",), ("release", "comm"), ("count",)),
    False: (("acquire", "comm"), ("end", "comm", 0), ("receive", "comm", "out"), ("controlled",),
            ("acquire", "back"), ("start", "back", 1), ("send", "comm", "back", "back"), ("release", "back"),
            ("release", "comm"), ("count",)),
}
#: Both sides of a SWAP between QPUs (any scheme): each holds two communication qubits, ``comm`` for pair 0
#: and ``back`` for pair 1, teleports its ``data`` qubit over its own pair and takes the peer's from the other.
_SWAP_STAGES = {
    True: (("acquire", "comm"), ("acquire", "back"), ("spawn_pair", "back", "start", 1), ("start", "comm", 0),
           ("await_pair", 1), ("send", "data", "comm", "out"), ("receive", "back", "back"), ("swap_back", "back"),
           ("release", "back"), ("release", "comm"), ("count",)),
    False: (("acquire", "comm"), ("acquire", "back"), ("spawn_pair", "back", "end", 1), ("end", "comm", 0),
            ("await_pair", 1), ("send", "data", "back", "back"), ("receive", "comm", "out"), ("swap_back", "comm"),
            ("release", "back"), ("release", "comm"), ("count",)),
}


def stages_of(step: Step, scheme: str) -> tuple[tuple, ...]:
    """The stages a :class:`NodeProgram` goes through for ``step`` under ``scheme`` (``"telegate"``/``"teledata"``).

    Examples:
        >>> [stage[0] for stage in stages_of(RemoteControl(0, 1, 0), "telegate")]
        ['acquire', 'start', 'telegate_control', 'release', 'count']
    """
    stages = _STAGES.get(type(step))
    if isinstance(step, RemoteSwap):
        return _SWAP_STAGES[step.first]
    if stages is None:
        if step.dense:  # a dense two-qubit gate: its first qubit goes over and back under either scheme
            scheme = "teledata"
        if scheme == "teledata" and not step.early_return:
            return _LATE_RETURN_STAGES[isinstance(step, RemoteControl)]
        stages = _NONLOCAL_STAGES[isinstance(step, RemoteControl), scheme]
    return stages


class StepWalker:
    """Walks steps through their stages (:func:`stages_of`), each stage acting at once or waiting in a part.

    The base of :class:`NodeProgram` and of the processes of the ``"ahead"`` schedule
    (:mod:`dqsim.protocols.ahead`). Subclasses choose the stages of a step (:meth:`_stages`), whether a step
    runs (:meth:`_enter`) and what happens after the last one (:meth:`_end`). Everything carried from one
    ``yield`` to the next is an attribute (see the module docstring).
    """

    #: Process class of a route step's swap (the scenario's resumable one).
    swapper = Swapper
    #: Process class of a pair requested ahead of its use (TeleData's return pair; the scenario's resumable one).
    pair_end = PairEnd
    #: The engine forgets it once it has ended (its results are in ``node_data``).
    kept_after_end = False

    def __init__(self, net: Network, scheme: str, steps: Sequence[Step]):
        self.net, self.scheme, self.steps = net, scheme, steps
        self.count = 0            # the step it is at
        self.stage = None         # the stage of that step (index into stages_of); None: not begun
        self.part = None          # the part it waits in
        self.held: dict[str, int] = {}   # slot -> communication qubit the step holds
        self.bits = 0             # this node's classical bits
        self.decided: dict[int, bool] = {}   # if index -> whether its block runs
        self.begun = False

    def run(self, ctx):
        """The process body (yields engine commands; restartable at every ``yield``, see the module docstring)."""
        if not self.begun:
            self.begun = True
            self._go(ctx)
        while self.part is not None:
            part = self.part
            value = yield part.command(ctx)
            if part.advance(ctx, value):
                self.part = None
                if self.stage is not None:  # (None: the wait of :meth:`_end`)
                    self._finished(part)
                    self.stage += 1
                self._go(ctx)

    def _stages(self, step: Step) -> tuple[tuple, ...]:
        """The stages this walker runs for ``step``."""
        return stages_of(step, self.scheme)

    def _enter(self, ctx, step: Step) -> bool:
        """Whether ``step`` (the next one) runs: ``False`` when its ``if`` decisions went the other way."""
        return all(self.decided[index] == branch for index, branch in step.guard)

    def _end(self, ctx):
        """After the last step: a part to wait in first, or ``None`` (the walker ends)."""
        return None

    def _go(self, ctx) -> None:
        """Run stages from the current one until one waits in a part (``self.part``) or the steps end."""
        steps = self.steps
        while True:
            if self.stage is None:
                if self.count == len(steps):
                    part = self._end(ctx)
                    if part is not None and not part.start(ctx):
                        self.part = part
                    return
                if not self._enter(ctx, steps[self.count]):
                    self.count += 1
                    continue
                self.stage = 0
            step = steps[self.count]
            stages = self._stages(step)
            if self.stage == len(stages):
                self.stage = None
                self.count += 1
                continue
            part = self._begin(ctx, step, stages[self.stage])
            if part is not None:
                if not part.start(ctx):
                    self.part = part
                    return
                self._finished(part)
            self.stage += 1

    def _finished(self, part) -> None:
        """Keep what a finished part of the current stage found."""
        step = self.steps[self.count]
        stage = self._stages(step)[self.stage]
        if stage[0] == "acquire":
            self.held[stage[1]] = part.result
        elif stage[0] == "measure":
            self.bits = _with_bit(self.bits, step.clbit, part.result)
        elif stage[0] == "receive_bits":
            self.bits = part.result

    def _begin(self, ctx, step: Step, stage: tuple):
        """Begin ``stage`` of ``step``: its effects, and the part to wait in (``None``: the stage is done)."""
        kind, net, held = stage[0], self.net, self.held
        spec: NodeSpec = net.nodes[ctx.node]
        err1, err2 = spec.gate_1q_error_probability, spec.gate_2q_error_probability
        errm = spec.measure_error_probability
        tag = ("gate", step.index)
        if kind == "acquire":
            return Acquire()
        if kind in ("start", "end"):
            return pair_part(net, ctx.node, kind, step.peer, held[stage[1]], tag + ("pair", stage[2]))
        if kind == "await_pair":
            return AwaitPair(tag + ("pair", stage[1]))
        if kind == "telegate_control":
            return TeleGateControl(step.peer, step.control, held["comm"], tag, err2, errm, err1)
        if kind == "telegate_target":
            comm = held["comm"]
            return TeleGateTarget(step.peer, comm, _controlled_from(step.op, comm), tag, err2, errm, err1)
        if kind == "send":
            data = home_qubit(step) if stage[1] in ("control", "data") else held[stage[1]]
            return TeleportSend(step.peer, data, held[stage[2]], tag + (stage[3],), err2, errm, err1)
        if kind == "receive":
            return TeleportReceive(step.peer, held[stage[1]], tag + (stage[2],), err1)
        if kind == "gate":
            two = len(step.op.qubits) >= 2
            ctx.apply(step.op, error_probability=err2 if two else err1)
            duration = spec.gate_2q_duration_ps if two else spec.gate_1q_duration_ps
            return Pause(ctx.now_ps + duration) if duration else None
        if kind == "measure":
            return MeasureBit(step.qubit, step.clbit, errm, spec.measure_duration_ps)
        if kind == "receive_bits":
            return ReceiveBits(step.index, step.receive, self.bits)
        if kind == "swap_back":  # the state arrived in a comm qubit: swap it home; the comm qubit then holds |0⟩
            comm = held[stage[1] if len(stage) > 1 else "comm"]
            ctx.apply(gate_op("swap", [comm, home_qubit(step)]), error_probability=err2)
            ctx.reset([comm])  # it holds the teleported qubit's reset |0⟩: leaves the register
        elif kind == "controlled":
            ctx.apply(_controlled_from(step.op, held["comm"]), error_probability=err2)
        elif kind == "release":
            CommPool.of(ctx).release(ctx, held.pop(stage[1]))
        elif kind == "count":
            ctx.count("nonlocal_gates", 1 if isinstance(step, RemoteControl) or getattr(step, "first", False) else 0)
        elif kind == "spawn_pair":
            ctx.spawn(self.pair_end(net, stage[2], step.peer, held[stage[1]], tag + ("pair", stage[3])))
        elif kind == "swap":
            ctx.spawn(self.swapper(net, step.path, step.position, tag + ("pair", step.pair), held.pop("left"),
                                   held.pop("right")))
        elif kind == "reset":
            ctx.reset([step.qubit])
            ctx.log("reset", f"qubit {step.qubit}")
        elif kind == "send_bits":
            self._send_bits(ctx, step)
        elif kind == "decide":
            self._decide(ctx, step)
        else:  # "clbits"
            ctx.node_data["clbits"] = self.bits
        return None

    def _send_bits(self, ctx, step: SendBits) -> None:
        bits = self.bits
        for clbit, dests in step.sends:
            for dest in dests:
                ctx.send(dest, ("clbit", step.index, clbit), (bits >> clbit) & 1)
            if ctx.logging:
                to = ", ".join(ctx.name_of(dest) for dest in dests)
                ctx.log("send-bit", f"c[{clbit}] = {(bits >> clbit) & 1} to {to} for if #{step.index}")

    def _decide(self, ctx, step: Condition) -> None:
        """Decide the ``if`` (its bits are all here), logged with the bits and whether it waited for some."""
        bits = self.bits
        self.decided[step.index] = step.holds(bits)
        shown = " ".join(f"c[{c}]={(bits >> c) & 1}" for c in step.clbits)
        ctx.log("if", f"#{step.index}: {shown} -> {'block' if self.decided[step.index] else 'else'}"
                + (f" (after waiting for c{list(step.receive)})" if step.receive else ""))


class NodeProgram(StepWalker):
    """One node's steps of the distributed circuit, in order, as a process (see the module docstring).

    ``net`` is the run's :class:`~dqsim.network.network.Network` (routes,
    links, node hardware; shared with the simulator, it does not change
    during the run) and ``scheme`` ``"telegate"`` or ``"teledata"``; the
    ``comm_pool`` (a :class:`CommPool`) in ``node_data`` is set up by the
    scenario. Each step goes through its stages (:func:`stages_of`), one step
    after the other: the ``"on_demand"`` schedule (``[distribution].entanglement``;
    :mod:`dqsim.protocols.ahead` has the ``"ahead"`` one).

    A step guarded by ``if`` decisions (``step.guard``) runs only when they
    went its way. Progress goes to ``ctx.node_data``: ``steps_done`` (steps
    started), ``clbits`` (this node's classical bits, bit i = classical bit i,
    of which it holds those :attr:`~dqsim.circuit.distribute.NodePlan.holder`
    names), ``done`` (True at the end) and ``done_ps`` (when this node finished its steps, ps: the
    scenario adds the terminal measurements' duration from there).
    """

    #: True for a program planned with SWAPs between QPUs as two teleportations (2026-12-06); a program restored
    #: from an older checkpoint reads this ``False``: its place in steps that now hold a ``RemoteSwap`` is refused.
    teleported_swaps = False
    #: True for a program whose TeleData gates request the return pair at their start (2026-12-06); one restored
    #: from an older checkpoint reads ``False``, and its place in a TeleData plan's stages is refused.
    early_return_pairs = False
    #: True for a program planned with dense two-qubit gates between QPUs as TeleData (2026-12-06, not three
    #: ``cp``); one restored from an older checkpoint reads ``False``: its place in steps with one is refused.
    teleported_dense = False

    def __init__(self, net: Network, scheme: str, steps: Sequence[Step]):
        super().__init__(net, scheme, steps)
        self.teleported_swaps = self.early_return_pairs = self.teleported_dense = True

    def run(self, ctx):
        """The process body (yields engine commands; restartable at every ``yield``, see the module docstring)."""
        if not self.teleported_swaps and any(isinstance(step, RemoteSwap) for step in self.steps):
            raise DqsimError("this checkpoint was written before a SWAP between QPUs ran as two teleportations "
                             "(2026-12-06): its node programs cannot resume on the new plan; rerun the job from "
                             "the start")
        if not self.early_return_pairs and self.scheme == "teledata" and any(
                isinstance(step, (RemoteControl, RemoteTarget)) and step.early_return for step in self.steps):
            raise DqsimError("this checkpoint was written before TeleData requested its return pair at the gate's "
                             "start (2026-12-06): its node programs cannot resume on the new schedule; rerun the job "
                             "from the start")
        if not self.teleported_dense and any(isinstance(step, (RemoteControl, RemoteTarget)) and step.dense
                                              for step in self.steps):
            raise DqsimError("this checkpoint was written before a dense two-qubit gate between QPUs ran as TeleData "
                             "(2026-12-06): its node programs cannot resume on the new plan; rerun the job from the "
                             "start")
        yield from super().run(ctx)

    def _enter(self, ctx, step: Step) -> bool:
        ctx.node_data["steps_done"] = self.count
        return super()._enter(ctx, step)

    def _end(self, ctx):
        steps = self.steps
        ctx.node_data.update({"steps_done": len(steps), "done": True, "done_ps": ctx.now_ps})
        ctx.log("done", f"{len(steps)} steps")
        return None
