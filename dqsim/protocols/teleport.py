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
"""

from __future__ import annotations

from dqsim.state.gates import GateOp, gate_op


def teleport_sender(ctx, peer: int, data_qubit: int, comm_here: int, tag, *, gate_error: float = 0.0,
                    measure_error: float = 0.0):
    """Teleport ``data_qubit`` to the peer's half of the pair; yields engine commands."""
    ctx.apply(gate_op("cx", [data_qubit, comm_here]), error_probability=gate_error)
    ctx.apply(gate_op("h", [data_qubit]), error_probability=gate_error)
    m_data, m_comm = yield ctx.measure([data_qubit, comm_here], error_probability=measure_error)
    ctx.send(peer, ("teleport", tag), (m_data, m_comm))
    ctx.reset([data_qubit, comm_here])
    ctx.log("teleport-send", f"to {ctx.name_of(peer)}: bits {m_data}{m_comm}")
    return m_data, m_comm


def teleport_receiver(ctx, peer: int, comm_here: int, tag, *, gate_error: float = 0.0):
    """Receive a teleported qubit into ``comm_here``; yields engine commands."""
    msg = yield ctx.receive(("teleport", tag))
    m_data, m_comm = msg.payload
    if m_comm:
        ctx.apply(gate_op("x", [comm_here]), error_probability=gate_error)
    if m_data:
        ctx.apply(gate_op("z", [comm_here]), error_probability=gate_error)
    ctx.log("teleport-receive", f"from {ctx.name_of(peer)}: corrections X^{m_comm} Z^{m_data}")
    return m_data, m_comm


def telegate_control(ctx, peer: int, control: int, comm_here: int, tag, *, gate_error: float = 0.0,
                     measure_error: float = 0.0):
    """Control side of a TeleGate (cat-entangler, then the Z correction); yields engine commands."""
    ctx.apply(gate_op("cx", [control, comm_here]), error_probability=gate_error)
    (m1,) = yield ctx.measure([comm_here], error_probability=measure_error)
    ctx.reset([comm_here])
    ctx.send(peer, ("telegate-m1", tag), m1)
    msg = yield ctx.receive(("telegate-m2", tag))
    if msg.payload:
        ctx.apply(gate_op("z", [control]), error_probability=gate_error)
    ctx.log("telegate-control", f"with {ctx.name_of(peer)}: bits {m1}{msg.payload}")
    return m1, msg.payload


def telegate_target(ctx, peer: int, comm_here: int, controlled: GateOp, tag, *, gate_error: float = 0.0,
                    measure_error: float = 0.0):
    """Target side of a TeleGate: ``controlled`` must have ``comm_here`` as its one control."""
    if controlled.controls != (comm_here,):
        raise ValueError(f"the controlled gate must be controlled by the communication qubit {comm_here}")
    msg = yield ctx.receive(("telegate-m1", tag))
    if msg.payload:
        ctx.apply(gate_op("x", [comm_here]), error_probability=gate_error)
    ctx.apply(controlled, error_probability=gate_error)
    (m2,) = yield ctx.measure([comm_here], basis="X", error_probability=measure_error)
    ctx.reset([comm_here])
    ctx.send(peer, ("telegate-m2", tag), m2)
    return msg.payload, m2
