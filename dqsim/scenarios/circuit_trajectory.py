"""One trajectory (one shot) of the ``circuit`` scenario, with gate boundaries inside it.

A trajectory walks the circuit's instructions once: runs of gates (fused
unless ``[noise]`` puts errors after each gate), mid-circuit measurements,
resets and ``if`` blocks deciding on the bits measured so far. Every
``batch`` operations (:func:`~dqsim.scenarios.circuit_checkpoint.ops_per_check`:
a gate, a noisy gate with its errors, a measurement or a reset each count
one) it calls ``look`` at a gate boundary: there the run may write a
checkpoint, or stop. The boundary's *position* says where the walk is:
the part (the body, or the terminal measurements after the observables
were read), the path through nested ``if`` blocks (index and branch taken
at each level), the instruction at which to go on, the fused gate pass in
progress (as the final-state mode stores it), the bits and observable
values so far. A walk started from a position (``resume``) goes on from
there: with the random streams' counters restored it draws the same noise
and outcomes (:mod:`dqsim.rng`).
"""

from __future__ import annotations

from typing import Callable

from dqsim.circuit import fusion
from dqsim.circuit.ir import Barrier, Gate, IfBits, Measure, Reset
from dqsim.errors import ConfigError
from dqsim.scenarios.circuit_checkpoint import resumed_pass


def fused_run(state, ops: list, costs) -> list:
    """One run of gate operations as it will be applied: fused unless ``costs`` is ``None``.

    Fusion starts from the state's layout at this moment (see :mod:`dqsim.circuit.fusion`),
    so call it just before applying the run.
    """
    return ops if costs is None else fusion.fuse_ops(ops, layout=state.layout, costs=costs)


class TrajectoryWalk:
    """One shot's walk over a circuit's instructions (its methods are collective).

    Args:
        state: the shot's state (fresh, or restored from a checkpoint cut inside this shot).
        stream: the ``trajectory-measure`` stream (measurements, resets).
        costs: the fusion cost table (``None``: unfused).
        gate_noise: a :class:`~dqsim.scenarios.circuit_noise.GateNoise`, or ``None``.
        batch: operations between two looks (>= 1).
        look: called as ``look(position, step, where)`` at a gate boundary: ``position`` (plain data) to
            continue from, ``step`` the operations of this shot before it (increasing along the shot),
            ``where`` the boundary for a person.
        resume: a ``position`` that ``look`` was given (in this shot), to go on from; ``None``: from the start.
        num_ranks_then: the rank count the resumed position was cut on.
    """

    def __init__(self, state, stream, costs, gate_noise, *, batch: int, look: Callable,
                 resume: dict | None = None, num_ranks_then: int = 0):
        self.state, self.stream, self.costs, self.gate_noise = state, stream, costs, gate_noise
        self.batch, self.look, self.num_ranks_then = max(1, int(batch)), look, num_ranks_then
        self.resume = resume
        self.part = resume["part"] if resume else 0
        self.bits = int(resume["bits"]) if resume else 0
        self.values = list(resume["values"]) if resume else []
        self.step = int(resume["pass_base"]) if resume else 0
        self.since = 0  # operations since the last look

    def run(self, body: list, terminal: list, observables=()) -> tuple[int, list[float]]:
        """The shot's classical bits and the value of each observable (a list of Pauli terms).

        ``body`` and ``terminal`` as :func:`~dqsim.scenarios.circuit_run.split_terminal_measurements`
        gives them: the observables are read after the body, before the terminal measurements.
        """
        if self.part == 0:
            self._walk(body, [])
            self.values = [self.state.expectation(terms) for terms in observables]
            self.part = 1
        self._walk(terminal, [])
        return self.bits, self.values

    def _walk(self, instructions, path: list) -> None:
        """Run ``instructions`` (the list reached by ``path``: ``[index, branch]`` per ``if`` level)."""
        index, carried = 0, None
        at = self.resume
        if at is not None and len(path) < len(at["path"]):  # the cut lies inside the if block at index i
            i, branch = at["path"][len(path)]
            self._walk(_branch(instructions[i], branch), [*path, [i, branch]])
            index = i + 1
        elif at is not None:  # the cut's own list: go on at its instruction (and pass)
            index, carried, self.resume = at["index"], at["pass"], None
        while index < len(instructions):
            ins = instructions[index]
            if isinstance(ins, Gate) and self.gate_noise is None:
                end = index
                while end < len(instructions) and isinstance(instructions[end], Gate):
                    end += 1
                self._gate_run([g.to_op() for g in instructions[index:end]], path, index, carried)
                carried, index = None, end
                continue
            if isinstance(ins, (Gate, Measure, Reset)):
                self._maybe_look(path, index, None, self.step)
                self._apply(ins)
                self.step += 1
                self.since += 1
            elif isinstance(ins, IfBits):
                holds = ins.holds(self.bits)
                self._walk(_branch(ins, holds), [*path, [index, holds]])
            elif not isinstance(ins, Barrier):
                raise ConfigError(f"instruction {ins!r} is not supported by the circuit scenario")
            index += 1

    def _apply(self, ins) -> None:
        """One noisy gate with its errors, a measurement (its readout error) or a reset."""
        state = self.state
        if isinstance(ins, Gate):
            state.apply_ops([ins.to_op()])
            self.gate_noise.after_gate(state, ins)
        elif isinstance(ins, Measure):
            value = state.measure([ins.qubit], stream=self.stream)[0]
            if self.gate_noise is not None:
                value = self.gate_noise.readout(value)
            self.bits = (self.bits & ~(1 << ins.clbit)) | (value << ins.clbit)
        else:
            state.reset(ins.qubit, stream=self.stream)

    def _gate_run(self, run: list, path: list, index: int, carried: dict | None) -> None:
        """A run of gate operations, fused once and applied in pieces with looks between them.

        ``carried``: the pass a resumed cut fell in (:func:`resumed_pass`: the same blocks again).
        """
        state = self.state
        if carried is not None:
            ops, origin, info = resumed_pass(state, run, carried, self.costs, self.num_ranks_then)
        else:
            info = {"fused_from": list(state.layout.physical_of), "num_local": state.num_local_qubits,
                    "skip": 0, "filtered": False, "op": 0}
            ops = fused_run(state, run, self.costs)
            origin = range(len(ops))
            info["num_ops"] = len(ops)
        base, op = self.step, info["op"]
        while op < len(ops):
            self._maybe_look(path, index, {**info, "op": op}, base + origin[op], pass_base=base)
            stop = min(len(ops), op + self.batch - self.since)
            state.apply_ops(ops, start=op, stop=stop)
            self.since += stop - op
            op = stop
        self.step = base + info["num_ops"]

    def _maybe_look(self, path: list, index: int, pass_info: dict | None, step: int, *,
                    pass_base: int | None = None) -> None:
        """Call ``look`` if ``batch`` operations were applied since the last one."""
        if self.since < self.batch:
            return
        self.since = 0
        position = {"part": self.part, "path": [list(p) for p in path], "index": index, "pass": pass_info,
                    "bits": self.bits, "values": list(self.values),
                    "pass_base": step if pass_base is None else pass_base}
        self.look(position, step, f"after {step} operations of it")


def _branch(ins: IfBits, holds: bool) -> tuple:
    """The instructions an ``if`` runs: its body when its condition held, else its ``else``."""
    return ins.body if holds else ins.orelse
