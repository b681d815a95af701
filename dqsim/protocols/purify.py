"""Entanglement purification of two pairs into one (BBPSSW and DEJMPS recurrence).

Both ends hold a *kept* pair half and a *sacrificed* pair half. Each end
applies CNOT(kept → sacrificed) — the bilateral CNOT — measures the
sacrificed qubit in Z and sends the bit to the other end; the kept pair
survives when the two bits agree (Bennett et al., PRL 76, 722 (1996)).

BBPSSW first brings each pair to Werner form by a random bilateral rotation
(the *twirl*, Bennett et al. 1996): one end applies ``U``, the other ``U*``,
``U`` drawn from the twelve rotations of :func:`twirl_rotation`, the same
draw at both ends (shared randomness: :func:`purify_end`'s ``twirl``). On
average over the draw every pair becomes the Werner state of its fidelity,
so the round's success probability and output fidelity are the formulas
below for *any* input pairs of fidelity F — e.g. dephased ones, on which
the bilateral CNOT alone detects nothing (it only sees bit flips). Without
``twirl`` the round is the bilateral-CNOT step alone.

DEJMPS instead rotates the kept and sacrificed qubits by Rx(π/2) at one end
and Rx(−π/2) at the other (Deutsch et al., PRL 77, 2818 (1996)), which
trades Φ− for Ψ− so that phase errors are caught too; for Bell weights
``(A, B, C, D)`` of ``(Φ+, Ψ−, Ψ+, Φ−)`` it succeeds with
``N = (A + B)² + (C + D)²`` and keeps ``A' = (A² + B²)/N``. For Werner
inputs of fidelity F both give success probability
F² + 2F(1−F)/3 + 5((1−F)/3)² and output fidelity
(F² + ((1−F)/3)²) / (that probability)
(:func:`dqsim.network.werner.bbpssw_fidelity`).

Gate errors: the twirl's and DEJMPS's single-qubit rotations are followed by
the one-qubit depolarising ``gate_1q_error``, the CNOT by the two-qubit
``gate_error``; a measured bit flips with ``measure_error``.
"""

from __future__ import annotations

import math

import numpy as np

from dqsim.state.gates import GateOp, gate_op

#: Number of rotations of the Werner twirl (:func:`twirl_rotation`).
TWIRL_SIZE = 12

_PAULIS = (np.eye(2), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1, -1]))
#: C = S·H: conjugation by it cycles the Paulis X → Z → Y → X.
_CYCLE = np.diag([1, 1j]) @ np.array([[1, 1], [1, -1]]) / math.sqrt(2.0)
_TWIRL = tuple(np.asarray(pauli @ np.linalg.matrix_power(_CYCLE, power), dtype=np.complex128)
               for pauli in _PAULIS for power in range(3))


def twirl_rotation(index: int, *, conjugate: bool = False) -> np.ndarray:
    """Rotation ``index`` (0..11) of the Werner twirl: a Pauli times a power of C = S·H, or its conjugate.

    One end of a pair applies ``U``, the other ``U*``: ``U ⊗ U*`` leaves
    |Φ+⟩ unchanged, and the mean of ``(U ⊗ U*) ρ (U ⊗ U*)†`` over the twelve
    is the Werner state of ρ's fidelity (the Paulis remove the coherences
    between Bell states, the powers of C share the three error weights
    equally; Bennett, DiVincenzo, Smolin and Wootters, Phys. Rev. A 54, 3824
    (1996), Sec. III.B's random bilateral rotation).

    Examples:
        >>> phi = np.array([1, 0, 0, 1]) / math.sqrt(2)
        >>> u = twirl_rotation(7)
        >>> bool(np.allclose(np.kron(u, twirl_rotation(7, conjugate=True)) @ phi, phi))
        True
    """
    if not 0 <= index < TWIRL_SIZE:
        raise ValueError(f"twirl index = {index!r}; allowed 0..{TWIRL_SIZE - 1}")
    return _TWIRL[index].conj() if conjugate else _TWIRL[index]


def draw_twirl(stream) -> tuple[int, int]:
    """Two twirl indices (kept pair, sacrificed pair) from one event of a node's ``stream``."""
    u = stream.uniform(2)
    return int(u[0] * TWIRL_SIZE), int(u[1] * TWIRL_SIZE)


def purify_end(ctx, peer: int, kept: int, sacrificed: int, tag, *, variant: str = "bbpssw",
               first: bool = True, gate_error: float = 0.0, measure_error: float = 0.0,
               gate_1q_error: float = 0.0, twirl: tuple[int, int] | None = None):
    """One end of a purification round; returns True when the kept pair survives.

    Args:
        peer: the node holding the other halves.
        kept, sacrificed: this end's qubits of the two pairs.
        variant: ``"bbpssw"`` or ``"dejmps"``.
        first: which end this is (DEJMPS rotates the two ends oppositely; the
            twirl applies ``U`` at the first end, ``U*`` at the other).
        gate_error: depolarising probability after the CNOT (two-qubit channel).
        measure_error: flip probability of the measured bit.
        gate_1q_error: depolarising probability after each single-qubit rotation.
        twirl: BBPSSW only: the twirl indices (0..11) of the kept and the
            sacrificed pair, the same at both ends (:func:`draw_twirl` at one
            end, sent to the other); ``None``: no twirl.
    """
    purify_gates(ctx, kept, sacrificed, variant=variant, first=first, gate_error=gate_error,
                 gate_1q_error=gate_1q_error, twirl=twirl)
    (mine,) = yield ctx.measure([sacrificed], error_probability=measure_error)
    ctx.reset([sacrificed])
    ctx.send(peer, ("purify", tag), mine)
    msg = yield ctx.receive(("purify", tag))
    return purify_verdict(ctx, peer, kept, mine, msg.payload, variant=variant)


def purify_gates(ctx, kept: int, sacrificed: int, *, variant: str, first: bool, gate_error: float,
                 gate_1q_error: float, twirl: tuple[int, int] | None) -> None:
    """The gates of one end of a round before its measurement (:func:`purify_end`'s arguments)."""
    if variant not in ("bbpssw", "dejmps"):
        raise ValueError(f"variant = {variant!r}; allowed: bbpssw, dejmps")
    if variant == "dejmps":
        angle = math.pi / 2 if first else -math.pi / 2
        for q in (kept, sacrificed):
            ctx.apply(gate_op("rx", [q], [angle]), error_probability=gate_1q_error)
    elif twirl is not None:
        for q, index in zip((kept, sacrificed), twirl):
            ctx.apply(GateOp(twirl_rotation(index, conjugate=not first), (q,), (), False, "twirl"),
                      error_probability=gate_1q_error)
    ctx.apply(gate_op("cx", [kept, sacrificed]), error_probability=gate_error)


def purify_verdict(ctx, peer: int, kept: int, mine: int, theirs: int, *, variant: str) -> bool:
    """The end of one end of a round, once the other end's bit ``theirs`` is in: True if the kept pair survives
    (else this end's kept memory is reset)."""
    success = mine == theirs
    if not success:
        ctx.reset([kept])
    ctx.count(("purify", "success" if success else "failure"), 1)
    ctx.log("purify", f"{variant} with {ctx.name_of(peer)}: {'kept' if success else 'discarded'}")
    return success
