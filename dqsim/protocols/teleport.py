"""Teleportation (TeleData) and the remote controlled gate (TeleGate).

Both consume an EPR pair whose halves are ``comm_here`` and ``comm_there``.

* Teleportation (Bennett et al., PRL 70, 1895 (1993)): the sender applies
  CNOT(data → comm), H(data), measures both, and sends the two bits; the
  receiver applies X^m_comm then Z^m_data to its half, which then holds the
  data qubit's state. With a Werner pair of fidelity F the average
  teleportation fidelity is (2F+1)/3 (Horodecki et al., PRA 60, 1888 (1999)).
* TeleGate, a controlled-U between a control on one node and a target on
  another with one EPR pair and two classical bits (Eisert, Jacobs,
  Papadopoulos, Plenio, PRA 62, 052317 (2000)): *cat-entangler* —
  CNOT(control → comm_here), measure comm_here, send m1; the far side applies
  X^m1 to comm_there, which now copies the control in the computational
  basis, and applies controlled-U(comm_there → target); *cat-disentangler* —
  measure comm_there in the X basis, send m2; the control side applies Z^m2
  to the control.

Communication qubits are reset after use, so they return to |0⟩.

What a Werner pair of fidelity F (parameter w = (4F − 1)/3) does to the
data qubits, ideal gates and memories otherwise: teleportation is the
depolarising channel ρ → wρ + (1 − w)·1/2 on the teleported qubit, so
TeleData (out and back, two pairs) depolarises the control before and after
the gate. In a TeleGate a Pauli error on the target side's half turns into
an error on the data: Z into Z on the control (at the disentangler), X into
controlled-U acting on the control's other branch (for a CNOT: X on the
target after it), Y into both; a TeleGate CNOT is then the CNOT followed by
X_t, Z_c or Z_c X_t, each with probability (1 − F)/3: process fidelity F,
average gate fidelity (4F + 1)/5 (Horodecki et al. 1999; Nielsen, PLA 303,
249 (2002)). Checked against density-matrix references in
``tests/test_physics_audit_dqc.py`` (docs/physics-audit-dqc-20261206.md).

Gate errors: each two-qubit gate (the CNOTs, the controlled-U) is followed by
the two-qubit depolarizing channel of probability ``gate_error``, each
one-qubit gate (teleportation's H, the X and Z corrections) by the one-qubit
channel of probability ``gate_1q_error`` (the node's
``gate_1q_error_probability``; ``None``: ``gate_error``, as before
2026-12-05, which a checkpoint of that time restores).

Each side is a part (:mod:`dqsim.protocols.parts`: its state in attributes,
so a resumable process saves it in a checkpoint; :class:`TeleportSend`,
:class:`TeleportReceive`, :class:`TeleGateControl`, :class:`TeleGateTarget`)
and a generator that runs it (:func:`teleport_sender`, ...).
"""

from __future__ import annotations

from dqsim.protocols.parts import drive
from dqsim.state.gates import GateOp, gate_op


def teleport_sender(ctx, peer: int, data_qubit: int, comm_here: int, tag, *, gate_error: float = 0.0,
                    measure_error: float = 0.0, gate_1q_error: float | None = None):
    """Teleport ``data_qubit`` to the peer's half of the pair; yields engine commands, returns the two bits."""
    return (yield from drive(ctx, TeleportSend(peer, data_qubit, comm_here, tag, gate_error, measure_error,
                                               gate_1q_error)))


def teleport_receiver(ctx, peer: int, comm_here: int, tag, *, gate_1q_error: float = 0.0):
    """Receive a teleported qubit into ``comm_here``; yields engine commands, returns the two bits.

    ``gate_1q_error``: error probability of the one-qubit X and Z corrections, 0..1 (the node's
    ``gate_1q_error_probability``; the receiver applies no two-qubit gate).
    """
    return (yield from drive(ctx, TeleportReceive(peer, comm_here, tag, gate_1q_error)))


def telegate_control(ctx, peer: int, control: int, comm_here: int, tag, *, gate_error: float = 0.0,
                     measure_error: float = 0.0, gate_1q_error: float | None = None):
    """Control side of a TeleGate (cat-entangler, then the Z correction); yields engine commands."""
    return (yield from drive(ctx, TeleGateControl(peer, control, comm_here, tag, gate_error, measure_error,
                                                  gate_1q_error)))


def telegate_target(ctx, peer: int, comm_here: int, controlled: GateOp, tag, *, gate_error: float = 0.0,
                    measure_error: float = 0.0, gate_1q_error: float | None = None):
    """Target side of a TeleGate: ``controlled`` must have ``comm_here`` as its one control."""
    return (yield from drive(ctx, TeleGateTarget(peer, comm_here, controlled, tag, gate_error, measure_error,
                                                 gate_1q_error)))


def _one_qubit_error(part) -> float:
    """The error probability of a part's one-qubit gates: ``gate_1q_error``, else (``None``) ``gate_error``."""
    return part.gate_error if part.gate_1q_error is None else part.gate_1q_error


class TeleportSend:
    """Teleportation's sender as a part: CNOT(data → comm), H(data), measure both, send the bits, reset both.

    Args:
        peer: the receiver's node. data_qubit / comm_here: this node's qubits.
        tag: the message tag (unique in the run).
        gate_error / measure_error: error probabilities of the two-qubit gates / of each outcome, 0..1.
        gate_1q_error: error probability of the one-qubit gates, 0..1 (``None``: ``gate_error``).
    """

    #: (a part restored from a checkpoint written before this attribute existed reads ``None``)
    gate_1q_error = None

    def __init__(self, peer: int, data_qubit: int, comm_here: int, tag, gate_error: float = 0.0,
                 measure_error: float = 0.0, gate_1q_error: float | None = None):
        self.peer, self.data_qubit, self.comm_here, self.tag = peer, data_qubit, comm_here, tag
        self.gate_error, self.measure_error, self.gate_1q_error = gate_error, measure_error, gate_1q_error
        self.result = None

    def start(self, ctx) -> bool:
        ctx.apply(gate_op("cx", [self.data_qubit, self.comm_here]), error_probability=self.gate_error)
        ctx.apply(gate_op("h", [self.data_qubit]), error_probability=_one_qubit_error(self))
        return False

    def command(self, ctx):
        return ctx.measure([self.data_qubit, self.comm_here], error_probability=self.measure_error)

    def advance(self, ctx, value) -> bool:
        m_data, m_comm = value
        ctx.send(self.peer, ("teleport", self.tag), (m_data, m_comm))
        ctx.reset([self.data_qubit, self.comm_here])
        ctx.log("teleport-send", f"to {ctx.name_of(self.peer)}: bits {m_data}{m_comm}")
        self.result = (m_data, m_comm)
        return True


class TeleportReceive:
    """Teleportation's receiver as a part: wait for the two bits, apply X^m_comm then Z^m_data to ``comm_here``.

    Args:
        peer: the sender's node. comm_here: this node's half of the pair. tag: the message tag.
        gate_1q_error: error probability of the one-qubit X and Z corrections, 0..1.
    """

    def __init__(self, peer: int, comm_here: int, tag, gate_1q_error: float = 0.0):
        self.peer, self.comm_here, self.tag, self.gate_1q_error = peer, comm_here, tag, gate_1q_error
        self.result = None

    def __setstate__(self, state: dict) -> None:
        """Restore from a checkpoint; one written before 2026-12-06 names the attribute ``gate_error``."""
        state = dict(state)
        if "gate_error" in state:
            state.setdefault("gate_1q_error", state.pop("gate_error"))
        self.__dict__.update(state)

    def start(self, ctx) -> bool:
        return False

    def command(self, ctx):
        return ctx.receive(("teleport", self.tag))

    def advance(self, ctx, value) -> bool:
        m_data, m_comm = value.payload
        if m_comm:
            ctx.apply(gate_op("x", [self.comm_here]), error_probability=self.gate_1q_error)
        if m_data:
            ctx.apply(gate_op("z", [self.comm_here]), error_probability=self.gate_1q_error)
        ctx.log("teleport-receive", f"from {ctx.name_of(self.peer)}: corrections X^{m_comm} Z^{m_data}")
        self.result = (m_data, m_comm)
        return True


class TeleGateControl:
    """The control side of a TeleGate as a part: cat-entangler (CNOT, measure, send m1), then Z^m2 on the control.

    Args as :class:`TeleportSend`'s, ``control`` the data qubit that controls the gate.
    """

    gate_1q_error = None  # (as TeleportSend's)

    def __init__(self, peer: int, control: int, comm_here: int, tag, gate_error: float = 0.0,
                 measure_error: float = 0.0, gate_1q_error: float | None = None):
        self.peer, self.control, self.comm_here, self.tag = peer, control, comm_here, tag
        self.gate_error, self.measure_error, self.gate_1q_error = gate_error, measure_error, gate_1q_error
        self.m1 = None  # None until measured
        self.result = None

    def start(self, ctx) -> bool:
        ctx.apply(gate_op("cx", [self.control, self.comm_here]), error_probability=self.gate_error)
        return False

    def command(self, ctx):
        if self.m1 is None:
            return ctx.measure([self.comm_here], error_probability=self.measure_error)
        return ctx.receive(("telegate-m2", self.tag))

    def advance(self, ctx, value) -> bool:
        if self.m1 is None:
            (self.m1,) = value
            ctx.reset([self.comm_here])
            ctx.send(self.peer, ("telegate-m1", self.tag), self.m1)
            return False
        if value.payload:
            ctx.apply(gate_op("z", [self.control]), error_probability=_one_qubit_error(self))
        ctx.log("telegate-control", f"with {ctx.name_of(self.peer)}: bits {self.m1}{value.payload}")
        self.result = (self.m1, value.payload)
        return True


class TeleGateTarget:
    """The target side of a TeleGate as a part: X^m1 on ``comm_here``, ``controlled``, X-basis measurement, send m2.

    Args as :class:`TeleportSend`'s, ``controlled`` the gate (a two-qubit gate: ``gate_error`` follows it).

    Raises (from ``start``):
        ValueError: ``controlled`` is not controlled by ``comm_here`` alone.
    """

    gate_1q_error = None  # (as TeleportSend's)

    def __init__(self, peer: int, comm_here: int, controlled: GateOp, tag, gate_error: float = 0.0,
                 measure_error: float = 0.0, gate_1q_error: float | None = None):
        self.peer, self.comm_here, self.controlled, self.tag = peer, comm_here, controlled, tag
        self.gate_error, self.measure_error, self.gate_1q_error = gate_error, measure_error, gate_1q_error
        self.m1 = None  # None until it has come
        self.result = None

    def start(self, ctx) -> bool:
        if self.controlled.controls != (self.comm_here,):
            raise ValueError(f"the controlled gate must be controlled by the communication qubit {self.comm_here}")
        return False

    def command(self, ctx):
        if self.m1 is None:
            return ctx.receive(("telegate-m1", self.tag))
        return ctx.measure([self.comm_here], basis="X", error_probability=self.measure_error)

    def advance(self, ctx, value) -> bool:
        if self.m1 is None:
            self.m1 = value.payload
            if self.m1:
                ctx.apply(gate_op("x", [self.comm_here]), error_probability=_one_qubit_error(self))
            ctx.apply(self.controlled, error_probability=self.gate_error)
            return False
        (m2,) = value
        ctx.reset([self.comm_here])
        ctx.send(self.peer, ("telegate-m2", self.tag), m2)
        self.result = (self.m1, m2)
        return True
