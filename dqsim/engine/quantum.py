"""Quantum operations issued by nodes, and how a flush applies them.

Nodes never touch the state directly: they issue :class:`QOp` records that
carry their virtual time, node and per-node sequence number. A flush gathers
the records of all ranks, orders them by ``(time_ps, node, seq)`` and every
rank applies the same list to its shard (DESIGN.md, invariant 3).

Before an operation touches a qubit, the qubit's idle decoherence since it was
last touched is applied (T1/T2 of its node, :func:`dqsim.state.noise.idle`),
so memories decay exactly for the time they waited.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dqsim.rng import Stream
from dqsim.state import noise
from dqsim.state.gates import GateOp, gate_op
from dqsim.units import ps_to_seconds


@dataclass(frozen=True)
class QOp:
    """One quantum operation of one node at one virtual time.

    Attributes:
        time_ps: virtual time of the operation, ps.
        node: index of the issuing node.
        seq: per-node sequence number (orders a node's operations at equal time).
        kind: ``"gate"``, ``"measure"``, ``"reset"`` or ``"bell"``.
        qubits: global qubit indices touched.
        payload: ``GateOp`` for gates; basis for measurements; Werner
            parameter for Bell pairs; ``None`` for resets.
        error_probability: depolarizing probability after a gate (per qubit
            for 1-qubit gates, two-qubit channel for 2-qubit gates), or the
            flip probability of a measurement outcome.
    """

    time_ps: int
    node: int
    seq: int
    kind: str
    qubits: tuple[int, ...]
    payload: Any = None
    error_probability: float = 0.0

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.time_ps, self.node, self.seq)


@dataclass
class QuantumMemory:
    """Decoherence parameters and last-touch times of every qubit (same on every rank).

    Attributes:
        owner: node index of each global qubit.
        t1_s / t2_s: per node, seconds (``math.inf``: no decay).
        last_touch_ps: virtual time each qubit was last operated on.
    """

    owner: list[int]
    t1_s: list[float]
    t2_s: list[float]
    seed: int
    last_touch_ps: list[int] = field(default_factory=list)
    streams: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.last_touch_ps:
            self.last_touch_ps = [0] * len(self.owner)

    def stream(self, node: int, purpose: str) -> Stream:
        key = (node, purpose)
        if key not in self.streams:
            self.streams[key] = Stream(self.seed, node=node, purpose=purpose)
        return self.streams[key]

    def decohere(self, state, qubits, time_ps: int) -> None:
        """Apply idle T1/T2 noise to ``qubits`` for the time since their last touch."""
        for q in qubits:
            waited = time_ps - self.last_touch_ps[q]
            node = self.owner[q]
            if waited > 0 and not (math.isinf(self.t1_s[node]) and math.isinf(self.t2_s[node])):
                noise.idle(state, q, duration_s=ps_to_seconds(waited), t1_s=self.t1_s[node],
                           t2_s=self.t2_s[node], stream=self.stream(node, "decoherence"))
            self.last_touch_ps[q] = max(self.last_touch_ps[q], time_ps)


def apply_qop(state, memory: QuantumMemory, op: QOp) -> list[int] | None:
    """Apply one operation to the sharded state (collective); returns outcomes of a measurement."""
    memory.decohere(state, op.qubits, op.time_ps)
    if op.kind == "gate":
        gate: GateOp = op.payload
        state.apply(gate)
        if op.error_probability > 0:
            stream = memory.stream(op.node, "gate-noise")
            if len(op.qubits) == 2:
                noise.depolarize2(state, op.qubits[0], op.qubits[1], op.error_probability, stream)
            else:
                for q in op.qubits:
                    noise.depolarize(state, q, op.error_probability, stream)
        return None
    if op.kind == "measure":
        outcomes = state.measure(list(op.qubits), basis=op.payload or "Z",
                                 stream=memory.stream(op.node, "measure"))
        if op.error_probability > 0:
            gen = memory.stream(op.node, "measure-error").next_generator()
            flips = gen.random(len(outcomes)) < op.error_probability
            outcomes = [o ^ int(f) for o, f in zip(outcomes, flips)]
        return outcomes
    if op.kind == "reset":
        for q in op.qubits:
            state.reset(q, stream=memory.stream(op.node, "reset"))
        return None
    if op.kind == "bell":
        a, b = op.qubits
        state.apply(gate_op("h", [a]))
        state.apply(gate_op("cx", [a, b]))
        werner = float(op.payload)
        if werner < 1.0:
            # ρ = w|Φ+⟩⟨Φ+| + (1−w) I/4: with probability 1−w a uniformly random
            # two-qubit Pauli (one of 16), i.e. 15(1−w)/16 for a non-identity one.
            noise.depolarize2(state, a, b, 15.0 * (1.0 - werner) / 16.0, memory.stream(op.node, "bell-noise"))
        return None
    raise ValueError(f"unknown quantum operation kind {op.kind!r}")
