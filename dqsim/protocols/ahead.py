"""The ``"ahead"`` schedule of a distributed circuit: pairs made ahead of need, independent gates overlapping.

``[distribution].entanglement = "ahead"`` (the default ``"on_demand"`` is
:class:`~dqsim.protocols.distributed.NodeProgram`: one step after the other,
a nonlocal gate's pair requested when the gate is reached). Each node runs
three kinds of process over its steps (:mod:`dqsim.circuit.distribute`):

* a :class:`PairPrefetch` walks the node's steps in circuit order and, for
  each nonlocal gate, takes its communication qubits from the node's
  :class:`~dqsim.protocols.distributed.CommPool` as soon as one is free and
  starts its pairs at once (a :class:`~dqsim.protocols.distributed.PairEnd`
  process per pair; route steps start their :class:`~dqsim.protocols.distributed.Swapper`),
  then hands the qubits to the gate's side (a ``("held", index)`` message to
  its own node). So a node holds pairs for its next gates, as many as it has
  communication qubits, and a pair waits in memory, decohering with the
  node's T1/T2 (the engine's memory model), from its herald until its gate
  uses it;
* an :class:`AheadProgram` walks the steps in circuit order too: it runs
  local gates, measurements, resets and ``if`` decisions itself, and starts
  each nonlocal gate's side as a :class:`GateSide` process, once every earlier
  step of this node on the same data qubits has ended. It never waits for a
  nonlocal gate on other qubits, so gates on disjoint qubits overlap;
* a :class:`GateSide` runs one nonlocal gate's side from its pair (TeleGate,
  teleportation, a teleported SWAP: the stages of
  :func:`~dqsim.protocols.distributed.stages_of` less those the prefetch ran),
  gives the qubits back and tells the program (``("step-done", index)``).

Which pair serves which gate is fixed by the plan: a pair's tag is its gate's
index, and each node takes communication qubits in its steps' circuit order
(the prefetch is the only process that takes them), so the same pair serves
the same gate on any number of ranks. The programs cannot deadlock when each
node has the communication qubits one of its steps holds at once
(:func:`dqsim.scenarios.dqc.comm_qubits_needed`, as for ``"on_demand"``): the
earliest unfinished gate of the circuit finds every earlier step of every
node ended, so its communication qubits free and its data qubits idle.
Operations on a data qubit keep their circuit order (only its own node
touches it, and that node starts a step on it after the previous one
ended), so in the noiseless case the final state is the circuit's.

Steps inside an ``if`` block: the prefetch waits for the program's decision
of each ``if`` (a ``("decided", index)`` message) before it looks past it.
"""

from __future__ import annotations

from dqsim.circuit.distribute import (Condition, LocalGate, MeasureStep, RemoteControl, RemoteSwap, RemoteTarget,
                                      ResetStep, RouteStep, Step)
from dqsim.protocols.distributed import ReceiveValue, StepWalker, stages_of

#: Nonlocal steps: run by a :class:`GateSide` after the prefetch.
NONLOCAL_STEPS = (RemoteControl, RemoteTarget, RemoteSwap)


def ahead_stages(step: Step, scheme: str) -> tuple[tuple[tuple, ...], tuple[tuple, ...]]:
    """``(prefetch, side)``: the stages of ``step`` its node's :class:`PairPrefetch` runs, and those its
    :class:`GateSide` runs (``()``, ``()`` for a step the :class:`AheadProgram` runs itself).

    The prefetch takes every communication qubit of the step (``"acquire"``) and starts every pair both of
    whose ends the step's :func:`~dqsim.protocols.distributed.stages_of` make at its start: pair 0 and
    TeleData's early return pair, a teleported SWAP's two pairs (``"spawn_pair"``). The side waits for
    them (``"await_pair"``); a pair made later on a reused qubit (TeleData's return pair where the control's
    QPU has one communication qubit) stays in the side, where it was.

    Examples:
        >>> prefetch, side = ahead_stages(RemoteControl(0, 1, 0), "telegate")
        >>> [s[0] for s in prefetch], [s[0] for s in side]
        (['acquire', 'spawn_pair', 'send_held'], ['held', 'await_pair', 'telegate_control', 'release', 'count'])
    """
    stages = stages_of(step, scheme)
    if isinstance(step, RouteStep):
        return stages, ()
    if not isinstance(step, NONLOCAL_STEPS):
        return (), ()
    prefetch, side = [], [("held",)]
    for stage in stages:
        if stage[0] in ("acquire", "spawn_pair"):
            prefetch.append(stage)
        elif stage[0] in ("start", "end") and stage[2] == 0:
            prefetch.append(("spawn_pair", stage[1], stage[0], 0))
            side.append(("await_pair", 0))
        else:
            side.append(stage)
    prefetch.append(("send_held",))
    return tuple(prefetch), tuple(side)


def data_qubits(step: Step) -> tuple[int, ...]:
    """The data qubits (global register indices) of this node that ``step`` acts on (``()``: none).

    Examples:
        >>> data_qubits(RemoteControl(0, 1, 3)), data_qubits(MeasureStep(2, 5, 0))
        ((3,), (5,))
    """
    if isinstance(step, LocalGate):
        return step.op.qubits
    if isinstance(step, RemoteControl):
        return (step.control,)
    if isinstance(step, RemoteTarget):  # (a dense gate's first target is the peer's qubit, which arrives)
        return step.op.targets[1:] if step.dense else step.op.targets
    if isinstance(step, (RemoteSwap, MeasureStep, ResetStep)):
        return (step.qubit,)
    return ()


class AwaitSteps:
    """The wait for the :class:`GateSide` processes of the steps ``indices`` to end, as a part."""

    def __init__(self, indices: list[int]):
        self.indices = list(indices)
        self.position = 0         # the step whose end comes next
        self.result = None

    def start(self, ctx) -> bool:
        return not self.indices

    def command(self, ctx):
        return ctx.receive(("step-done", self.indices[self.position]))

    def advance(self, ctx, value) -> bool:
        self.position += 1
        return self.position == len(self.indices)


class PairPrefetch(StepWalker):
    """A node's communication qubits and pairs for its nonlocal steps, taken and started in circuit order as soon
    as a qubit is free (see the module docstring; :func:`ahead_stages`)."""

    def _stages(self, step: Step) -> tuple[tuple, ...]:
        if isinstance(step, Condition):
            return (("await_decision",),)
        return ahead_stages(step, self.scheme)[0]

    def _begin(self, ctx, step: Step, stage: tuple):
        if stage[0] == "await_decision":
            return ReceiveValue(("decided", step.index))
        if stage[0] == "send_held":
            ctx.send(ctx.node, ("held", step.index), dict(self.held))
            self.held.clear()
            return None
        return super()._begin(ctx, step, stage)

    def _finished(self, part) -> None:
        step = self.steps[self.count]
        if self._stages(step)[self.stage][0] == "await_decision":
            self.decided[step.index] = part.result
        else:
            super()._finished(part)


class GateSide(StepWalker):
    """One nonlocal step's side, from the communication qubits the node's :class:`PairPrefetch` holds for it
    (see :func:`ahead_stages`), as a process; ends with a ``("step-done", index)`` message to its own node."""

    def __init__(self, net, scheme: str, step: Step):
        super().__init__(net, scheme, (step,))

    def _stages(self, step: Step) -> tuple[tuple, ...]:
        return ahead_stages(step, self.scheme)[1]

    def _enter(self, ctx, step: Step) -> bool:
        return True   # (the program decided its guard)

    def _end(self, ctx):
        ctx.send(ctx.node, ("step-done", self.steps[0].index))
        return None

    def _begin(self, ctx, step: Step, stage: tuple):
        if stage[0] == "held":
            return ReceiveValue(("held", step.index))
        return super()._begin(ctx, step, stage)

    def _finished(self, part) -> None:
        if self._stages(self.steps[0])[self.stage][0] == "held":
            self.held = dict(part.result)
        else:
            super()._finished(part)


class AheadProgram(StepWalker):
    """One node's steps under the ``"ahead"`` schedule, as a process (see the module docstring).

    Local gates, measurements, resets, bit sends and ``if`` decisions run here in circuit order, as in
    :class:`~dqsim.protocols.distributed.NodeProgram`; a nonlocal step starts a :attr:`gate_side` process once
    the steps before it on its data qubits (:func:`data_qubits`) have ended; route steps are the prefetch's.
    ``ctx.node_data`` gets what a ``NodeProgram`` writes there, ``done_ps`` once every side has ended.
    """

    #: Process class of a nonlocal step's side (the scenario's resumable one).
    gate_side = GateSide

    def __init__(self, net, scheme: str, steps):
        super().__init__(net, scheme, steps)
        self.busy: dict[int, int] = {}    # data qubit -> the last nonlocal step started on it
        self.running: list[int] = []      # nonlocal steps started whose end is not yet received

    def _stages(self, step: Step) -> tuple[tuple, ...]:
        if isinstance(step, RouteStep):
            return ()
        if isinstance(step, NONLOCAL_STEPS):
            return (("after",), ("side",))
        return (("after",),) + stages_of(step, self.scheme)

    def _enter(self, ctx, step: Step) -> bool:
        ctx.node_data["steps_done"] = self.count
        return super()._enter(ctx, step)

    def _end(self, ctx):
        if self.running:
            return self._wait_for(self.running)
        steps = self.steps
        ctx.node_data.update({"steps_done": len(steps), "done": True, "done_ps": ctx.now_ps})
        ctx.log("done", f"{len(steps)} steps")
        return None

    def _wait_for(self, indices) -> AwaitSteps:
        """A part that waits for the ends of the running steps ``indices`` (no longer counted as running)."""
        indices = sorted(set(indices))
        self.running = [i for i in self.running if i not in indices]
        return AwaitSteps(indices)

    def _begin(self, ctx, step: Step, stage: tuple):
        kind = stage[0]
        if kind == "after":
            before = [self.busy[q] for q in data_qubits(step) if self.busy.get(q) in self.running]
            return self._wait_for(before) if before else None
        if kind == "side":
            ctx.spawn(self.gate_side(self.net, self.scheme, step))
            self.running.append(step.index)
            for q in data_qubits(step):
                self.busy[q] = step.index
            return None
        part = super()._begin(ctx, step, stage)
        if kind == "decide":
            ctx.send(ctx.node, ("decided", step.index), self.decided[step.index])
        return part
