"""Entanglement purification of two pairs into one (BBPSSW and DEJMPS recurrence).

Both ends hold a *kept* pair half and a *sacrificed* pair half. Each end
applies CNOT(kept → sacrificed) — the bilateral CNOT — measures the
sacrificed qubit in Z and sends the bit to the other end; the kept pair
survives when the two bits agree (Bennett et al., PRL 76, 722 (1996)).
DEJMPS first rotates the kept and sacrificed qubits by Rx(π/2) at one end and
Rx(−π/2) at the other (Deutsch et al., PRL 77, 2818 (1996)). For Werner
inputs of fidelity F both give success probability
F² + 2F(1−F)/3 + 5((1−F)/3)² and output fidelity
(F² + ((1−F)/3)²) / (that probability)
(:func:`dqsim.network.werner.bbpssw_fidelity`).
"""

from __future__ import annotations

import math

from dqsim.state.gates import gate_op


def purify_end(ctx, peer: int, kept: int, sacrificed: int, tag, *, variant: str = "bbpssw",
               first: bool = True, gate_error: float = 0.0, measure_error: float = 0.0):
    """One end of a purification round; returns True when the kept pair survives.

    Args:
        peer: the node holding the other halves.
        kept, sacrificed: this end's qubits of the two pairs.
        variant: ``"bbpssw"`` or ``"dejmps"``.
        first: which end this is (DEJMPS rotates the two ends oppositely).
    """
    if variant not in ("bbpssw", "dejmps"):
        raise ValueError(f"variant = {variant!r}; allowed: bbpssw, dejmps")
    if variant == "dejmps":
        angle = math.pi / 2 if first else -math.pi / 2
        for q in (kept, sacrificed):
            ctx.apply(gate_op("rx", [q], [angle]), error_probability=gate_error)
    ctx.apply(gate_op("cx", [kept, sacrificed]), error_probability=gate_error)
    (mine,) = yield ctx.measure([sacrificed], error_probability=measure_error)
    ctx.reset([sacrificed])
    ctx.send(peer, ("purify", tag), mine)
    msg = yield ctx.receive(("purify", tag))
    success = mine == msg.payload
    if not success:
        ctx.reset([kept])
    ctx.count(("purify", "success" if success else "failure"), 1)
    ctx.log("purify", f"{variant} with node {peer}: {'kept' if success else 'discarded'}")
    return success
