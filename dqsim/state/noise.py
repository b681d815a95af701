"""Noise channels as quantum trajectories on a :class:`ShardedState`.

Each call draws one event of the given :class:`dqsim.rng.Stream` (see
:mod:`dqsim.rng`) and applies one Kraus branch, so averaging many
trajectories reproduces the channel's density matrix. Conventions:

* ``depolarize(p)``: ρ → (1−p)ρ + p/3 (XρX + YρY + ZρZ) — ``p`` is the
  probability of an error (Nielsen & Chuang, eq. 8.102 with p → 4p/3 absorbed).
* ``depolarize2(p)``: ρ → (1−p)ρ + p/15 Σ_{P≠II} PρP over two-qubit Paulis.
* ``dephase(p)``: ρ → (1−p)ρ + p ZρZ.
* ``amplitude_damp(γ)``: Kraus ``K0 = diag(1, √(1−γ))``, ``K1 = √γ |0⟩⟨1|``
  (Nielsen & Chuang, eq. 8.108); the jump probability γ·P(1) is computed
  exactly by a global reduction.
* ``idle(t, T1, T2)``: amplitude damping with γ = 1 − e^(−t/T1), then
  dephasing with p = (1 − e^(−t/T_φ))/2, 1/T_φ = 1/T2 − 1/(2T1), so that
  populations relax as e^(−t/T1) and coherences as e^(−t/T2).
"""

from __future__ import annotations

import math

import numpy as np

from dqsim.errors import DqsimError
from dqsim.rng import Stream
from dqsim.state.gates import gate_op

_PAULIS = ("x", "y", "z")


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise DqsimError(f"{name} = {value} must be in [0, 1]")


def depolarize(state, qubit: int, p: float, stream: Stream) -> str:
    """Single-qubit depolarizing channel; returns the Pauli applied ("i", "x", "y", "z")."""
    _check_probability("p", p)
    gen = stream.next_generator()
    if gen.random() >= p:
        return "i"
    name = _PAULIS[int(gen.integers(3))]
    state.apply(gate_op(name, [qubit]))
    return name


def depolarize2(state, qubit_a: int, qubit_b: int, p: float, stream: Stream) -> str:
    """Two-qubit depolarizing channel; returns the Pauli pair applied, e.g. ``"xz"``."""
    _check_probability("p", p)
    gen = stream.next_generator()
    if gen.random() >= p:
        return "ii"
    index = 1 + int(gen.integers(15))
    first, second = "ixyz"[index // 4], "ixyz"[index % 4]
    for name, q in ((first, qubit_a), (second, qubit_b)):
        if name != "i":
            state.apply(gate_op(name, [q]))
    return first + second


def dephase(state, qubit: int, p: float, stream: Stream) -> bool:
    """Dephasing channel; returns whether Z was applied."""
    _check_probability("p", p)
    if stream.next_generator().random() < p:
        state.apply(gate_op("z", [qubit]))
        return True
    return False


def amplitude_damp(state, qubit: int, gamma: float, stream: Stream) -> bool:
    """Amplitude damping with exact branch probabilities; returns whether the jump occurred."""
    _check_probability("gamma", gamma)
    u = stream.next_generator().random()
    if gamma == 0:
        return False
    p_one = float(state.probabilities([qubit])[1])
    p_jump = gamma * p_one
    if u < p_jump:
        k1 = np.array([[0, math.sqrt(gamma)], [0, 0]], dtype=np.complex128)
        state.apply_kraus_(k1, qubit, 1.0 / math.sqrt(p_jump))
        return True
    k0 = np.array([[1, 0], [0, math.sqrt(1 - gamma)]], dtype=np.complex128)
    state.apply_kraus_(k0, qubit, 1.0 / math.sqrt(1 - p_jump))
    return False


def idle_parameters(duration_s: float, t1_s: float, t2_s: float) -> tuple[float, float]:
    """Damping γ and dephasing p of an idle qubit for ``duration_s`` seconds.

    Args:
        duration_s: waiting time (s, >= 0).
        t1_s: energy relaxation time (s, > 0; ``math.inf`` for none).
        t2_s: coherence time (s, > 0, at most 2·T1; ``math.inf`` for none).

    Examples:
        >>> g, p = idle_parameters(1.0, math.inf, 2.0)
        >>> g, round(1 - 2 * p, 6) == round(math.exp(-0.5), 6)
        (0.0, True)
    """
    if duration_s < 0:
        raise DqsimError(f"duration_s = {duration_s} must be >= 0")
    if t1_s <= 0 or t2_s <= 0:
        raise DqsimError(f"t1_s = {t1_s} and t2_s = {t2_s} must be > 0")
    if t2_s > 2 * t1_s:
        raise DqsimError(f"t2_s = {t2_s} must be <= 2·t1_s = {2 * t1_s} (physical bound)")
    gamma = 0.0 if math.isinf(t1_s) else 1.0 - math.exp(-duration_s / t1_s)
    rate_phi = (0.0 if math.isinf(t2_s) else 1.0 / t2_s) - (0.0 if math.isinf(t1_s) else 0.5 / t1_s)
    p = 0.5 * (1.0 - math.exp(-duration_s * max(rate_phi, 0.0)))
    return gamma, p


def idle(state, qubit: int, *, duration_s: float, t1_s: float, t2_s: float, stream: Stream) -> None:
    """T1/T2 decoherence of a qubit that waited ``duration_s`` seconds (two stream events)."""
    gamma, p = idle_parameters(duration_s, t1_s, t2_s)
    amplitude_damp(state, qubit, gamma, stream)
    dephase(state, qubit, p, stream)
