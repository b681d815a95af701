"""Quantum operations issued by nodes, and how a flush applies them to the two tiers.

Nodes never touch quantum state directly: they issue :class:`QOp` records that
carry their virtual time, node and per-node sequence number. A flush gathers
the records of all ranks, orders them by ``(time_ps, node, seq)`` and every
rank applies the same list (DESIGN.md, invariant 3).

Two tiers (DESIGN.md invariant 2). *Data qubits* (global indices below
``num_data_qubits``) live in the sharded data register, register bit = qubit
index. Every other qubit is a *network qubit* (communication qubit, memory)
and lives in a small exact density matrix (:mod:`dqsim.state.small`) shared
only with the qubits it is entangled with. An operation that touches a data
qubit — or a network qubit already in the register — brings its other
network qubits into the register for that protocol step: their whole small
state joins as one pure state drawn from its decomposition into pure states
(:func:`~dqsim.state.small.pure_mixture_of`: the Bell states for a
Bell-diagonal pair, else eigenvectors; a trajectory, exact on average), on scratch register bits that are reused and
added only when all are busy. A network qubit leaves the register when it is
measured or reset: its scratch bit returns to |0⟩ and it goes back to a small
state. So the register holds the data qubits plus the communication qubits
in use at that moment.

Decoherence: before an operation touches a qubit, the qubit's idle T1/T2
channel since it was last touched is applied (its node's times) — exactly on
small states, as a trajectory (:func:`dqsim.state.noise.idle`) in the
register — and :meth:`QuantumMemory.finish` brings every qubit to the end of
the run, so memories decay exactly for the time they waited.
"""

from __future__ import annotations

import functools
import math
from array import array
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from dqsim.circuit.fusion import FusionCosts, fuse_ops
from dqsim.errors import ResourceError
from dqsim.network.node import RepeatedValue
from dqsim.rng import Stream
from dqsim.state import noise
from dqsim.state.gates import MAX_DENSE_QUBITS, GateOp, _named_gate, gate_op
from dqsim.state.small import (DEFAULT_MAX_QUBITS, SmallStates, mixture_index, preparation_unitary,
                               pure_mixture_of)
from dqsim.units import ps_to_seconds

_H = np.array([[1, 1], [1, -1]], dtype=np.complex128) / math.sqrt(2.0)
#: Rotation taking each basis to Z before a measurement (as ``ShardedState.measure``).
_ROTATION = {"Z": np.eye(2, dtype=np.complex128), "X": _H, "Y": _H @ np.diag([1, -1j]).astype(np.complex128)}


def _after_measure(basis: str, outcome: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A network qubit measured in ``basis`` with ``outcome``, as it leaves the register
    (:meth:`QuantumMemory._leave`): its post-measurement state R†|m⟩, and the gate X^m R that brings its
    register bit back to |0⟩ (``None`` where that is the identity)."""
    rotation = _ROTATION[basis]
    ket = np.zeros(2, dtype=np.complex128)
    ket[outcome] = 1.0
    back = (np.array([[0, 1], [1, 0]], dtype=np.complex128) if outcome else np.eye(2)) @ rotation
    return rotation.conj().T @ ket, None if np.allclose(back, np.eye(2)) else np.asarray(back, dtype=np.complex128)


#: Distinct states whose preparations :func:`_preparation` and :func:`_pair_preparations` keep (a run of many
#: trajectories prepares the same few again and again).
PREPARATION_CACHE_SIZE = 256


def _preparation(vector: np.ndarray) -> np.ndarray:
    """:func:`~dqsim.state.small.preparation_unitary` of ``vector``, kept by its bytes (read only)."""
    return _preparation_of(np.ascontiguousarray(vector, dtype=np.complex128).tobytes())


@functools.lru_cache(maxsize=PREPARATION_CACHE_SIZE)
def _preparation_of(data: bytes) -> np.ndarray:
    return preparation_unitary(np.frombuffer(data, dtype=np.complex128))


@functools.lru_cache(maxsize=PREPARATION_CACHE_SIZE)
def _pair_preparations(dtype: str, data: bytes) -> tuple[np.ndarray, list[np.ndarray]]:
    """A pair's exact 4x4 state (its ``dtype`` and bytes) as a mixture of pure states: the cumulative
    weights and the unitary preparing each state (read only; :meth:`QuantumMemory._apply_register` draws one).
    The states are :func:`~dqsim.state.small.pure_mixture_of`'s: the four Bell states for a Bell-diagonal pair
    (the Pauli unravelling, Bennett et al., PRA 54, 3824 (1996)), else its eigenvectors with degenerate
    eigenspaces in a fixed basis."""
    _weights, cumulative, vectors = pure_mixture_of(np.frombuffer(data, dtype=dtype).reshape(4, 4))
    return cumulative, [preparation_unitary(vectors[:, k]) for k in range(4)]


#: Most unitary register operations :meth:`QuantumMemory.settle` waits for before it applies them.
MAX_QUEUED_OPS = 256

#: :func:`_after_measure` of every basis and outcome, worked out once (read only).
_AFTER_MEASURE = {(basis, outcome): _after_measure(basis, outcome) for basis in _ROTATION for outcome in (0, 1)}


@dataclass(frozen=True)
class BellDiagonalProbe:
    """Payload of a ``"probe"`` that reads the Bell weights ``(Φ+, Φ−, Ψ+, Ψ−)`` under ``key``."""

    key: object


@dataclass(frozen=True)
class QOp:
    """One quantum operation of one node at one virtual time.

    Attributes:
        time_ps: virtual time of the operation, ps.
        node: index of the issuing node.
        seq: per-node sequence number (orders a node's operations at equal time).
        kind: ``"gate"``, ``"measure"``, ``"reset"``, ``"bell"`` or ``"probe"``
            (read the Bell fidelity, or with a :class:`BellDiagonalProbe`
            payload the four Bell weights, of two qubits without changing them).
        qubits: global qubit indices touched.
        payload: ``GateOp`` for gates; basis for measurements; Werner
            parameter, or the exact 4x4 density matrix (little-endian over
            ``qubits``), for Bell pairs (or ``(werner, later_ps)``: the second
            qubit starts to decohere ``later_ps`` after the operation, when its
            half arrives); the key a probe's value is stored under;
            ``None`` for resets.
        error_probability: depolarizing probability after a gate (per qubit
            for 1-qubit gates, two-qubit channel for 2-qubit gates), or the
            flip probability of a measurement outcome.
        carry: small states that lived on the issuing rank only and that this
            operation brings into the shared (replicated) tier, as
            ``(qubits, rho, last_touch_ps)``; every rank installs them first.
        later: a measurement whose node did not wait for it
            (:class:`~dqsim.engine.simulator.MeasureLater`): every rank keeps
            its outcome for the nodes that read it.
    """

    time_ps: int
    node: int
    seq: int
    kind: str
    qubits: tuple[int, ...]
    payload: Any = None
    error_probability: float = 0.0
    carry: tuple = ()
    later: bool = False

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.time_ps, self.node, self.seq)

    def __reduce__(self):
        """Pickled as one call of :func:`qop` on the fields, a carried ρ as its bytes (:func:`_qop_carried`).

        Shared operations cross ranks at every exchange. The default
        pickling of a dataclass writes a class reference and a dict of the
        fields and reads them back through ``__setstate__``, and a NumPy
        array pickles with its dtype and a reconstructor: about 60 thousand
        instructions per operation of a 1,024-node chain, written on one
        rank and read on the other.
        """
        d = self.__dict__
        fields = (d["time_ps"], d["node"], d["seq"], d["kind"], d["qubits"], d["payload"], d["error_probability"])
        carry = d["carry"]
        if carry:
            return _qop_carried, fields + (_carry_bytes(carry), d["later"])
        return qop, fields + (carry, d["later"])

    def replaced(self, **changes) -> "QOp":
        """This operation with ``changes`` to its fields: ``dataclasses.replace`` without ``__init__`` (:func:`qop`)."""
        op = _new(QOp)
        op.__dict__.update(self.__dict__, **changes)
        return op


#: Make :class:`QOp` records without ``__init__`` and give them their instance dict (see :func:`qop`).
_new, _set_fields = object.__new__, object.__setattr__


def qop(time_ps: int, node: int, seq: int, kind: str, qubits: tuple[int, ...], payload=None,
        error_probability: float = 0.0, carry: tuple = (), later: bool = False) -> QOp:
    """The :class:`QOp` of these fields, made without ``__init__`` (unpickling calls it too).

    A frozen dataclass's ``__init__`` sets each of the nine fields through
    ``object.__setattr__``; the engine makes one record per shared operation
    and the receiving rank one per operation it unpickles. The records are
    equal (equality, hash, repr and pickling read the same fields).
    """
    op = _new(QOp)
    _set_fields(op, "__dict__", {"time_ps": time_ps, "node": node, "seq": seq, "kind": kind, "qubits": qubits,
                                 "payload": payload, "error_probability": error_probability, "carry": carry,
                                 "later": later})
    return op


def _qop_carried(time_ps: int, node: int, seq: int, kind: str, qubits: tuple[int, ...], payload,
                 error_probability: float, carry: tuple, later: bool) -> QOp:
    """:func:`qop` of a pickled operation whose carried states travel as :func:`_carry_bytes`."""
    return qop(time_ps, node, seq, kind, qubits, payload, error_probability, _carry_arrays(carry), later)


def _carry_bytes(carry: tuple) -> tuple:
    """:attr:`QOp.carry` with each complex128 ρ as its bytes (others as they are), for another rank."""
    return tuple((members, rho.tobytes() if rho.dtype == np.complex128 else rho, touched)
                 for members, rho, touched in carry)


def _carry_arrays(carry: tuple) -> tuple:
    """:func:`_carry_bytes` undone: read only views of the bytes (:meth:`SmallStates.install` copies them)."""
    states = []
    for members, rho, touched in carry:
        if type(rho) is bytes:
            dim = 1 << len(members)
            rho = np.frombuffer(rho, dtype=np.complex128).reshape(dim, dim)
        states.append((members, rho, touched))
    return tuple(states)


def wire_ops(ops: list) -> list[tuple]:
    """Shared operations as plain tuples of their fields, as they cross ranks at an exchange (:func:`ops_from_wire`).

    A named gate travels as ``(name, targets, controls)`` (:meth:`GateOp.named_fields`), a carried ρ as its
    bytes. Pickling a plain tuple is C code end to end; a :class:`QOp` calls its ``__reduce__`` to pickle
    and :func:`qop` to unpickle, and names that function in every exchange's pickle.
    """
    rows = []
    for op in ops:
        d = op.__dict__
        kind, payload, carry = d["kind"], d["payload"], d["carry"]
        if kind == "gate":
            payload = payload.named_fields() or payload
        if carry:
            carry = _carry_bytes(carry)
        rows.append((d["time_ps"], d["node"], d["seq"], kind, d["qubits"], payload, d["error_probability"], carry,
                     d["later"]))
    return rows


def ops_from_wire(rows: list[tuple]) -> list[QOp]:
    """The :class:`QOp` records of :func:`wire_ops`'s tuples (equal to the operations sent)."""
    ops = []
    for time_ps, node, seq, kind, qubits, payload, error_probability, carry, later in rows:
        if kind == "gate" and type(payload) is tuple:
            payload = _named_gate(*payload)
        ops.append(qop(time_ps, node, seq, kind, qubits, payload, error_probability,
                       _carry_arrays(carry) if carry else carry, later))
    return ops


@functools.lru_cache(maxsize=4096)
def _idle_channel(waited_ps: int, t1_s: float, t2_s: float) -> tuple[float, float]:
    """:func:`dqsim.state.noise.idle_parameters` of a wait of ``waited_ps`` picoseconds, kept: a chain's memories
    wait the same few durations (attempt periods, round trips) again and again."""
    return noise.idle_parameters(ps_to_seconds(waited_ps), t1_s, t2_s)


def _decaying_qubits(owner: Sequence[int], t1_s: Sequence[float], t2_s: Sequence[float]) -> bytearray:
    """Per qubit, 1 where its node's (``owner[q]``) memory decays (``t1_s`` or ``t2_s`` finite), else 0.

    In NumPy passes (a node's flag, then each qubit's), or one flag for all where both tables are
    :class:`~dqsim.network.node.RepeatedValue` (no item per node).

        >>> list(_decaying_qubits([0, 0, 1, 2], [math.inf, 1.0, math.inf], [math.inf, math.inf, 2.0]))
        [0, 0, 1, 1]
        >>> _decaying_qubits(array("q", [0, 1]), RepeatedValue(math.inf, 2), RepeatedValue(3.0, 2))
        bytearray(b'\\x01\\x01')
    """
    if isinstance(t1_s, RepeatedValue) and isinstance(t2_s, RepeatedValue):
        return bytearray([not (math.isinf(t1_s.value) and math.isinf(t2_s.value))]) * len(owner)
    node_decays = ~(np.isinf(np.asarray(t1_s, dtype=np.float64)) & np.isinf(np.asarray(t2_s, dtype=np.float64)))
    owners = np.asarray(owner, dtype=np.int64) if len(owner) else np.zeros(0, dtype=np.int64)
    return bytearray(node_decays[owners].astype(np.uint8).tobytes())


@dataclass
class QuantumMemory:
    """Both tiers of quantum state, decoherence times and last-touch times (same on every rank).

    Attributes:
        owner: node index of each global qubit (a list, or an ``array("q")`` as the engine keeps it: 8 bytes a qubit).
        t1_s / t2_s: per node, seconds (``math.inf``: no decay): a list, an ``array("d")`` or, where every node
            has the same, a :class:`~dqsim.network.node.RepeatedValue` (what the engine passes,
            :func:`~dqsim.network.node.node_table`).
        seed: the run's seed (streams are keyed by it, :mod:`dqsim.rng`).
        num_data_qubits: qubits ``0..num_data_qubits-1`` live in the data
            register (bit = index); the others are network qubits. ``None``:
            every qubit is in the register (the whole network in one state vector).
        max_small_qubits: largest small state (:class:`~dqsim.state.small.SmallStates`).
        last_touch_ps: virtual time each qubit was last operated on, ps (an ``array("q")``: 8 bytes a qubit;
            0, the default, until first touched; a list given is copied into one). A checkpoint saves only the
            qubits whose time is not 0 (:meth:`touched`; every qubit's before 2026-12-07).
        small: the small states of network qubits.
        slot_of: register bit of each network qubit while it is in the register.
        free_slots: scratch register bits in |0⟩, free for the next network qubit.
        probes: key → value of every ``"probe"`` operation applied (on the
            rank that applied it: gather with ``Simulator.gather_probes``).
        peak_register_qubits: the most register qubits used at once.
        shared_qubits: network qubits in *shared* small states, which every
            rank holds and changes only in flushes; every other small state is
            *local*: held and changed by the one rank that runs the nodes of
            all its qubits (DESIGN.md invariant 4).
        fusion_costs: ``None``: every unitary register operation is applied
            as it comes (one pass over the register each). Else the kernel
            costs (:func:`dqsim.circuit.fusion.costs_for`) by which the
            unitary register operations queued since the register was last
            read are fused (:func:`~dqsim.circuit.fusion.fuse_ops`) and
            applied together, once a measurement, reset, probe, noise
            channel or register growth reads or changes the register, when
            :data:`MAX_QUEUED_OPS` are queued and at the end of the run
            (:meth:`finish`, :meth:`settle`); a checkpoint saves the queue
            beside the register (:meth:`snapshot`), so a run checkpointed
            and resumed fuses as one that was not; and network qubits
            measured as they leave the register are rotated to Z (queued, so
            fused), measured in Z and left in |0⟩ by the collapse itself
            (``ShardedState.measure(reset=True)``: no rotation back and no
            return gate, up to three passes fewer, :meth:`_apply_register`).
            Exact: only the floating-point rounding changes.
    """

    owner: Sequence[int]
    t1_s: Sequence[float]
    t2_s: Sequence[float]
    seed: int
    num_data_qubits: int | None = None
    max_small_qubits: int = DEFAULT_MAX_QUBITS
    last_touch_ps: Sequence[int] = field(default_factory=list)
    streams: dict = field(default_factory=dict)
    slot_of: dict = field(default_factory=dict)
    free_slots: list = field(default_factory=list)
    probes: dict = field(default_factory=dict)
    peak_register_qubits: int = 0
    shared_qubits: set = field(default_factory=set)
    fusion_costs: FusionCosts | None = None

    def __post_init__(self):
        #: Unitary register operations not applied yet (register bits; :meth:`settle` applies them).
        self._queued: list[GateOp] = []
        self.last_touch_ps = array("q", self.last_touch_ps or bytes(8 * len(self.owner)))
        if self.num_data_qubits is None:
            self.num_data_qubits = len(self.owner)
        self.small = SmallStates(max_qubits=self.max_small_qubits)
        self.peak_register_qubits = max(self.peak_register_qubits, self.num_data_qubits)
        #: Per qubit: whether its node's memory decays (decided once: t1_s/t2_s do not change in a run).
        #: (bytes, 0 or 1: one per qubit of the network on every rank; :func:`_decaying_qubits`)
        self._decays = _decaying_qubits(self.owner, self.t1_s, self.t2_s)

    # ----------------------------------------------------------------- basics
    def stream(self, node: int, purpose: str) -> Stream:
        stream = self.streams.get((node, purpose))
        if stream is None:
            stream = self.streams[(node, purpose)] = Stream(self.seed, node=node, purpose=purpose)
        return stream

    def in_register(self, qubit: int) -> bool:
        """Whether ``qubit`` is in the data register now."""
        return qubit < self.num_data_qubits or qubit in self.slot_of

    def register_bit(self, qubit: int) -> int:
        """The register bit of a qubit that is in the register."""
        return qubit if qubit < self.num_data_qubits else self.slot_of[qubit]

    def decohere(self, state, qubits, time_ps: int) -> None:
        """Apply idle T1/T2 noise to ``qubits`` for the time since their last touch.

        A network qubit in no small state here (a fresh |0⟩, or on several
        ranks a qubit of another rank's node, whose state that rank holds)
        only has its last touch moved: idling leaves |0⟩ unchanged
        (:meth:`SmallStates.idle` does nothing for it), so its damping and
        dephasing are not worked out (at the end of a 1,024-node chain on 2
        ranks, :meth:`finish` skips ~1,020 qubits on each rank).
        """
        last_touch, decays, group_of = self.last_touch_ps, self._decays, self.small.group_of
        for q in qubits:
            waited = time_ps - last_touch[q]
            if waited <= 0:
                continue
            last_touch[q] = time_ps
            if not decays[q]:
                continue
            if self.in_register(q):
                node = self.owner[q]
                self.settle(state)
                noise.idle(state, self.register_bit(q), duration_s=ps_to_seconds(waited), t1_s=self.t1_s[node],
                           t2_s=self.t2_s[node], stream=self.stream(node, "decoherence"))
            elif group_of(q) is not None:
                node = self.owner[q]
                gamma, p = _idle_channel(waited, self.t1_s[node], self.t2_s[node])
                self.small.idle(q, gamma, p)

    def finish(self, state, end_ps: int) -> None:
        """Decohere every qubit up to ``end_ps`` (the end of the run), before results are read."""
        self.decohere(state, range(len(self.owner)), end_ps)
        self.settle(state)

    def _gate(self, state, op: GateOp) -> None:
        """Apply the unitary ``op`` (register bits) to the register, or queue it for :meth:`settle`."""
        if self.fusion_costs is None:
            state.apply(op)
            return
        self._queued.append(op)
        if len(self._queued) >= MAX_QUEUED_OPS:
            self.settle(state)

    def settle(self, state) -> None:
        """Apply the queued unitary register operations, fused by :attr:`fusion_costs` (collective when any).

        Every rank queues the same operations (in flushes), so every rank
        settles the same list at the same point. Operations queued in one
        flush may wait for a later one: nothing reads the register between
        flushes but a checkpoint, which saves the queue as it is
        (:meth:`snapshot`, :meth:`restore`), and the end of the run
        (:meth:`finish`).
        """
        queued = self._queued
        if not queued:
            return
        self._queued = []
        state.apply_ops(fuse_ops(queued, layout=state.layout, costs=self.fusion_costs))

    # ----------------------------------------------------------- the tiers
    def _free_slot(self, state) -> int:
        if self.free_slots:
            return self.free_slots.pop(0)
        if state is None:
            raise ResourceError("a network qubit must join the data register, but this run has none")
        self.settle(state)
        slot = state.add_qubit_()
        self.peak_register_qubits = max(self.peak_register_qubits, state.num_qubits)
        return slot

    def _join(self, state, qubit: int, time_ps: int) -> None:
        """Move ``qubit``'s small state into the register (a pure state drawn from its ρ)."""
        group = self.small.group_of(qubit)
        members = list(group.qubits) if group is not None else [qubit]
        self.decohere(state, members, time_ps)
        if len(members) > MAX_DENSE_QUBITS:
            raise ResourceError(
                f"network qubit {qubit} is entangled with {len(members) - 1} others; at most "
                f"{MAX_DENSE_QUBITS} network qubits can join the data register together"
            )
        uniform = float(self.stream(self.owner[qubit], "join").next_transient().random())
        members, vector = self.small.take_pure(qubit, uniform)
        self.shared_qubits.difference_update(members)
        slots = [self._free_slot(state) for _ in members]
        for q, slot in zip(members, slots):
            self.slot_of[q] = slot
        if abs(abs(vector[0]) - 1.0) > 1e-15:  # else |0…0⟩ up to a global phase: nothing to prepare
            self._gate(state, GateOp(_preparation(vector), tuple(slots), (), False, "join"))

    def _leave(self, state, qubit: int, outcome: int | None, basis: str, rotated: bool = False,
               reset: bool = False) -> None:
        """A measured (``outcome``) or reset (``None``) network qubit leaves the register.

        ``rotated``: it was measured in ``basis`` as a rotation to Z and a Z measurement, without the
        rotation back (its bit holds ``|outcome⟩``); ``reset``: the measurement left its bit in |0⟩ already.
        """
        slot = self.slot_of.pop(qubit)
        if outcome is None:
            self.small.forget(qubit)
            self.shared_qubits.discard(qubit)
        else:
            self.shared_qubits.add(qubit)
            post, back = _AFTER_MEASURE[basis, outcome]
            if rotated:
                back = None if reset else _AFTER_MEASURE["Z", outcome][1]
            self.small.set_pure([qubit], post)
            if back is not None:
                self._gate(state, GateOp(back, (slot,), (), False, "return"))
        self.free_slots.append(slot)
        self.free_slots.sort()

    @staticmethod
    def _gate_noise(qubits, error_probability: float, apply_depolarize, apply_depolarize2) -> None:
        if error_probability > 0:
            if len(qubits) == 2:
                apply_depolarize2(qubits[0], qubits[1])
            else:
                for q in qubits:
                    apply_depolarize(q)

    def _measurement_errors(self, node: int, seq: int, error_probability: float, outcomes: list[int]) -> list[int]:
        if error_probability > 0:
            gen = self.stream(node, "measure-error").transient_generator(seq)
            flips = gen.random(len(outcomes)) < error_probability
            outcomes = [o ^ int(f) for o, f in zip(outcomes, flips)]
        return outcomes

    def apply(self, state, op: QOp, *, shared: bool = True, record_probe: bool = True) -> list[int] | None:
        """Apply one operation; returns a measurement's outcomes.

        ``shared``: the operation is applied by every rank in a flush (collective
        when it touches the register), and the small states it touches become
        shared; otherwise it acts on local small states of this rank only.
        """
        for qubits, rho, touched in op.carry:
            self.small.install(qubits, rho)
            self.shared_qubits.update(qubits)
            for q, t in zip(qubits, touched):
                self.last_touch_ps[q] = t
        if op.kind == "probe":
            self.decohere(state, op.qubits, op.time_ps)
            if isinstance(op.payload, BellDiagonalProbe):
                key, value = op.payload.key, self.bell_diagonal(state, *op.qubits)
            else:
                key, value = op.payload, self.bell_fidelity(state, *op.qubits)
            if record_probe:
                self.probes[key] = value
            return None
        data, slot_of = self.num_data_qubits, self.slot_of
        if (data or slot_of) and any(q < data or q in slot_of for q in op.qubits):  # (in_register, inlined)
            for q in op.qubits:
                if not self.in_register(q):
                    self._join(state, q, op.time_ps)
            return self._apply_register(state, op)
        outcome = self.apply_local(op.time_ps, op.node, op.seq, op.kind, op.qubits, op.payload, op.error_probability)
        if shared:
            shared_qubits, group_of = self.shared_qubits, self.small.group_of
            for q in op.qubits:
                group = group_of(q)
                if group is None:
                    shared_qubits.discard(q)
                else:
                    shared_qubits.update(group.qubits)
        return outcome

    def carry_local(self, qubits) -> tuple:
        """Take the local small states of ``qubits`` out of this rank's store, for a shared operation.

        Returns ``((qubits, rho, last_touch_ps), ...)`` for :attr:`QOp.carry`;
        qubits in no small state (fresh |0⟩) or in shared ones need nothing.
        """
        carried, seen = [], set()
        for q in qubits:
            if q in seen or q in self.shared_qubits or self.in_register(q):
                continue
            group = self.small.group_of(q)
            if group is None:
                continue
            seen.update(group.qubits)
            members = list(group.qubits)
            carried.append((members, self.small.remove(q), [self.last_touch_ps[m] for m in members]))
        return tuple(carried)

    def apply_local(self, time_ps: int, node: int, seq: int, kind: str, qubits: tuple[int, ...], payload,
                    error_probability: float) -> list[int] | None:
        """Apply one operation on small states only, given by its fields (no :class:`QOp` is needed).

        :meth:`apply` calls it for an operation that touches no register
        qubit; the engine calls it directly for an operation on this rank's
        local small states (no carry, not a probe). Returns a measurement's
        outcomes.
        """
        small = self.small
        self.decohere(None, qubits, time_ps)
        if kind == "measure":
            # keyed by the operation (node, seq): the same draw whichever rank applies it
            generator = self.stream(node, "small-measure").transient_generator(seq)
            if len(qubits) == 1:
                # random() draws the same double as random(1)[0]
                if payload is None or payload == "Z":
                    outcomes = [small.measure_z(qubits[0], generator.random())]
                else:
                    outcomes = small.measure(qubits, [generator.random()], basis=(payload or "Z"))
            else:
                outcomes = small.measure(qubits, generator.random(len(qubits)).tolist(), basis=(payload or "Z"))
            if error_probability > 0:
                return self._measurement_errors(node, seq, error_probability, outcomes)
            return outcomes
        if kind == "reset":
            for q in qubits:
                small.reset(q)
            return None
        if kind == "bell":
            werner, later_ps = payload if isinstance(payload, tuple) else (payload, 0)
            if isinstance(werner, np.ndarray):  # the pair's exact 4x4 state
                small.pair_state(qubits[0], qubits[1], werner)
            else:
                small.werner_pair(qubits[0], qubits[1], float(werner))
            if later_ps:  # the second half arrives later (a photon in flight): its memory's clock starts then
                self.last_touch_ps[qubits[1]] = time_ps + later_ps
            return None
        if kind == "gate":
            small.apply(payload)
            if error_probability > 0:  # (:meth:`_gate_noise`, without its two closures per gate)
                if len(qubits) == 2:
                    small.depolarize(qubits, error_probability)
                else:
                    for q in qubits:
                        small.depolarize((q,), error_probability)
            return None
        raise ValueError(f"unknown quantum operation kind {kind!r}")

    def _apply_register(self, state, op: QOp) -> list[int] | None:
        self.decohere(state, op.qubits, op.time_ps)
        bits = [self.register_bit(q) for q in op.qubits]
        if op.kind == "gate":
            gate: GateOp = op.payload
            where = dict(zip(op.qubits, bits))
            self._gate(state, GateOp(gate.matrix, tuple(where[q] for q in gate.targets),
                                     tuple(where[q] for q in gate.controls), gate.diagonal, gate.name))
            if op.error_probability > 0:  # (the stream is made on first use: a noiseless run keys none)
                self.settle(state)
                stream = self.stream(op.node, "gate-noise")
                self._gate_noise(op.qubits, op.error_probability,
                                 lambda q: noise.depolarize(state, where[q], op.error_probability, stream),
                                 lambda a, b: noise.depolarize2(state, where[a], where[b], op.error_probability,
                                                                stream))
            return None
        if op.kind == "measure":
            basis = (op.payload or "Z").upper()
            # network qubits alone, which all leave: a rotation to Z is queued (fused with the gates before it)
            # and not undone; one qubit's collapse leaves its bit in |0⟩ (ShardedState.measure's reset), several
            # go back by X^m (queued)
            rotated = self.fusion_costs is not None and all(q >= self.num_data_qubits for q in op.qubits)
            if rotated and basis != "Z":
                for bit in bits:
                    self._gate(state, GateOp(_ROTATION[basis], (bit,), (), False, "basis"))
            self.settle(state)
            reset = rotated and len(bits) == 1
            outcomes = state.measure(bits, basis="Z" if rotated else basis, stream=self.stream(op.node, "measure"),
                                     reset=reset)
            for q, m in zip(op.qubits, outcomes):
                if q >= self.num_data_qubits:
                    self._leave(state, q, m, basis, rotated, reset)
            return self._measurement_errors(op.node, op.seq, op.error_probability, outcomes)
        if op.kind == "reset":
            self.settle(state)
            for q, bit in zip(op.qubits, bits):
                state.reset(bit, stream=self.stream(op.node, "reset"))
                if q >= self.num_data_qubits:
                    self._leave(state, q, None, "Z")
            return None
        if op.kind == "bell":
            a, b = bits
            werner, later_ps = op.payload if isinstance(op.payload, tuple) else (op.payload, 0)
            if later_ps:  # as in apply_local: the second qubit's memory clock starts on arrival
                self.last_touch_ps[op.qubits[1]] = op.time_ps + later_ps
            if isinstance(werner, np.ndarray):
                # the exact 4x4 state as a trajectory: the unitary preparing one of its eigenvectors, drawn with
                # its eigenvalue as probability (SmallStates.pair_state applies the same mixture exactly)
                cumulative, unitaries = _pair_preparations(werner.dtype.str, werner.tobytes())
                uniform = float(self.stream(op.node, "bell-noise").next_transient().random())
                self._gate(state, GateOp(unitaries[mixture_index(cumulative, uniform)], (a, b), (), False, "pair"))
                return None
            self._gate(state, gate_op("h", [a]))
            self._gate(state, gate_op("cx", [a, b]))
            werner = float(werner)
            if werner < 1.0:
                self.settle(state)
                # ρ = w|Φ+⟩⟨Φ+| + (1−w) I/4: with probability 1−w a uniformly random
                # two-qubit Pauli (one of 16), i.e. 15(1−w)/16 for a non-identity one.
                noise.depolarize2(state, a, b, 15.0 * (1.0 - werner) / 16.0, self.stream(op.node, "bell-noise"))
            return None
        raise ValueError(f"unknown quantum operation kind {op.kind!r}")

    # --------------------------------------------------------------- reading
    def bell_fidelity(self, state, qubit_a: int, qubit_b: int) -> float:
        """⟨Φ+|ρ|Φ+⟩ of two qubits, read without changing them (collective if in the register)."""
        return self.bell_diagonal(state, qubit_a, qubit_b)[0]

    def bell_diagonal(self, state, qubit_a: int, qubit_b: int) -> tuple[float, float, float, float]:
        """``(p(Φ+), p(Φ−), p(Ψ+), p(Ψ−))`` of two qubits, read without changing them (collective if in
        the register): from the correlators, ``p = (1 ± ⟨XX⟩ ∓ ⟨YY⟩ ± ⟨ZZ⟩)/4`` with the signs of each
        Bell state's stabilisers."""
        in_reg = [self.in_register(q) for q in (qubit_a, qubit_b)]
        if not any(in_reg):
            return self.small.bell_diagonal(qubit_a, qubit_b)
        if not all(in_reg):
            raise ResourceError(f"qubits {qubit_a} and {qubit_b} are in different tiers; cannot read their pair")
        pair = [self.register_bit(qubit_a), self.register_bit(qubit_b)]
        self.settle(state)
        xx, yy, zz = (float(state.expectation(p, pair)) for p in ("XX", "YY", "ZZ"))
        return ((1 + xx - yy + zz) / 4, (1 - xx + yy + zz) / 4, (1 + xx + yy - zz) / 4, (1 - xx - yy - zz) / 4)

    def snapshot(self) -> dict:
        """What a checkpoint saves besides streams and the register's amplitudes (this rank's view).

        :meth:`merged_snapshot` joins the views of all ranks.
        """
        return {"small": self.small.snapshot(), "slot_of": dict(self.slot_of), "free_slots": list(self.free_slots),
                "queued": list(self._queued), "shared_qubits": sorted(self.shared_qubits),
                "probes": dict(self.probes), "peak_register_qubits": self.peak_register_qubits,
                "last_touched": self.touched()}

    def touched(self) -> dict[int, int]:
        """``{qubit: last touch, ps}`` of the qubits whose last touch is not 0 (the default: untouched).

        A GHZ over 4 nodes of a 2^20-node line touches a handful of its 3 million qubits: a checkpoint saves
        those (a rank's snapshot, :meth:`snapshot`, too), not 8 bytes for each qubit.
        """
        times = np.frombuffer(self.last_touch_ps, dtype=np.int64)
        where = np.flatnonzero(times)
        return dict(zip(where.tolist(), times[where].tolist()))

    def set_touched(self, touched: dict[int, int]) -> None:
        """Every qubit's last touch 0 but those of ``touched`` (``{qubit: ps}``, as :meth:`touched` gives).

        Raises:
            IndexError: a qubit of ``touched`` outside ``0..len(owner)-1`` (the caller says whose).
        """
        self.last_touch_ps = array("q", bytes(8 * len(self.owner)))
        if touched:
            qubits = np.fromiter(touched.keys(), dtype=np.int64, count=len(touched))
            if qubits.min() < 0 or qubits.max() >= len(self.owner):
                bad = int(qubits.max() if qubits.max() >= len(self.owner) else qubits.min())
                raise IndexError(f"qubit {bad} is not one of this run's {len(self.owner):,} qubits")
            times = np.frombuffer(self.last_touch_ps, dtype=np.int64)
            times[qubits] = np.fromiter(touched.values(), dtype=np.int64, count=len(touched))

    @staticmethod
    def merged_snapshot(views: list[dict]) -> dict:
        """One snapshot from every rank's :meth:`snapshot`: all local small states, shared ones once."""
        merged = dict(views[0])
        groups, seen = [], set()
        for view in views:
            for qubits, rho in view["small"]:
                if qubits[0] not in seen:
                    seen.update(qubits)
                    groups.append((qubits, rho))
        merged["small"] = groups
        merged["probes"] = {k: v for view in views for k, v in view["probes"].items()}
        touched: dict[int, int] = {}
        for view in views:
            for q, t in view["last_touched"].items():
                if t > touched.get(q, 0):
                    touched[q] = t
        merged["last_touched"] = touched
        return merged

    def restore(self, saved: dict) -> None:
        """Take back a :meth:`merged_snapshot`; every small state is shared afterwards (any placement).

        The engine then hands the states that were local when the checkpoint was
        written back to the one rank that runs their nodes, where it may
        (:meth:`dqsim.engine.Simulator.load_snapshot`); the snapshot's
        ``shared_qubits`` (absent before 2026-12-06) says which those are. The last touches are
        ``last_touched``'s (a checkpoint keeps them in a table of their own, not in this record: left as they are
        when absent; ``last_touch_ps``, every qubit's, before 2026-12-07).
        """
        self.small.restore(saved["small"])
        self.shared_qubits = {q for qubits, _rho in saved["small"] for q in qubits}
        if "last_touched" in saved:
            self.set_touched(saved["last_touched"])
        elif "last_touch_ps" in saved:  # a checkpoint written before 2026-12-07: every qubit's time
            self.last_touch_ps = array("q", saved["last_touch_ps"])
        self.slot_of = dict(saved["slot_of"])
        self.free_slots = list(saved["free_slots"])
        self._queued = list(saved.get("queued", ()))
        self.probes = dict(saved["probes"])
        self.peak_register_qubits = int(saved["peak_register_qubits"])


def apply_qop(state, memory: QuantumMemory, op: QOp, **options) -> list[int] | None:
    """Apply one operation to the two tiers (:meth:`QuantumMemory.apply`); outcomes of a measurement."""
    return memory.apply(state, op, **options)


#: ``apply_local_op(memory, time_ps, node, seq, kind, qubits, payload, error_probability)``: apply one
#: operation on local small states from its fields (:meth:`QuantumMemory.apply_local`, called as a
#: function: the engine's hottest call, so without a wrapper's extra frame).
apply_local_op = QuantumMemory.apply_local
