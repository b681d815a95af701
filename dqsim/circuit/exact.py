"""The exact distribution of a small dynamic circuit's classical bits, by following every measurement branch.

A circuit with mid-circuit measurements, resets and ``if`` on measured bits
has no single final state; its outcome distribution is the sum over the
branches of its measurements, each branch a pure state weighted by the
probability of its outcomes (Born rule; a reset is a measurement followed by
X on outcome 1, Nielsen & Chuang §4.4). Here every branch is a dense state
vector on one process, so this is for small circuits (the cap is
``max_qubits`` qubits and ``max_branches`` live branches); the ``dqc``
scenario uses it to give the total-variation distance of its counts.
"""

from __future__ import annotations

import math

import numpy as np

from dqsim.circuit.ir import Barrier, Circuit, Gate, IfBits, Measure, Reset
from dqsim.state import kernels
from dqsim.state.gates import gate_op

#: Below this probability a measurement branch is dropped (its weight is rounding error).
_NEGLIGIBLE = 1e-14


class TooLarge(Exception):
    """The circuit needs more qubits or branches than the caps allow."""


def exact_distribution(circuit: Circuit, *, max_qubits: int = 16, max_branches: int = 1024) -> dict[int, float] | None:
    """Probability of every value of the classical bits (bit i = classical bit i) at the end of ``circuit``.

    Args:
        circuit: any circuit of :mod:`dqsim.circuit.ir`.
        max_qubits: largest register followed (dense state vector per branch), >= 1.
        max_branches: most branches alive at once, >= 1.

    Returns:
        ``{bits: probability}`` over the outcomes with nonzero probability
        (summing to 1 up to rounding), or ``None`` when a cap is exceeded.

    Examples:
        >>> c = Circuit(1, 2).gate("h", 0).measure(0, 0).reset(0).measure(0, 1)
        >>> {k: round(v, 12) for k, v in sorted(exact_distribution(c).items())}
        {0: 0.5, 1: 0.5}
    """
    n = circuit.num_qubits
    if n > max_qubits:
        return None
    psi = np.zeros(1 << n, dtype=np.complex128)
    psi[0] = 1.0
    try:
        branches = _walk(circuit.instructions, [(1.0, psi, 0)], n, max_branches)
    except TooLarge:
        return None
    out: dict[int, float] = {}
    for prob, _psi, bits in branches:
        out[bits] = out.get(bits, 0.0) + float(prob)
    return out


def _walk(instructions, branches: list, n: int, max_branches: int) -> list:
    for ins in instructions:
        if isinstance(ins, Barrier):
            continue
        if isinstance(ins, Gate):
            op = ins.to_op()
            for _prob, psi, _bits in branches:
                if op.diagonal:
                    kernels.apply_diagonal(np, psi, n, op.matrix, op.targets, op.controls)
                else:
                    kernels.apply_dense(np, psi, n, op.matrix, op.targets, op.controls)
        elif isinstance(ins, (Measure, Reset)):
            branches = [new for branch in branches for new in _measured(branch, ins, n)]
        elif isinstance(ins, IfBits):
            taken = [b for b in branches if ins.holds(b[2])]
            skipped = [b for b in branches if not ins.holds(b[2])]
            branches = (_walk(ins.body, taken, n, max_branches) if taken else []) + (
                _walk(ins.orelse, skipped, n, max_branches) if skipped else [])
        if len(branches) > max_branches:
            raise TooLarge(f"more than {max_branches} branches")
    return branches


def _measured(branch, ins, n: int) -> list:
    prob, psi, bits = branch
    p = kernels.probabilities_of_bits(np, psi, n, [ins.qubit])
    out = []
    for value in (0, 1):
        if p[value] <= _NEGLIGIBLE:
            continue
        new = psi.copy()
        kernels.zero_where(new, n, ins.qubit, 1 - value)
        new /= math.sqrt(p[value])
        if isinstance(ins, Reset):
            if value:
                op = gate_op("x", [ins.qubit])
                kernels.apply_dense(np, new, n, op.matrix, op.targets)
            out.append((prob * p[value], new, bits))
        else:
            out.append((prob * p[value], new, (bits & ~(1 << ins.clbit)) | (value << ins.clbit)))
    return out


def total_variation(outcomes: np.ndarray, exact: dict[int, float]) -> tuple[float, float]:
    """Total-variation distance of sampled ``outcomes`` to ``exact``, and its expected value from sampling alone
    (:func:`total_variation_of_counts` of their histogram).

    Examples:
        >>> total_variation(np.array([0, 1, 1, 1]), {0: 0.5, 1: 0.5})[0]
        0.25
    """
    values, numbers = np.unique(outcomes, return_counts=True)
    return total_variation_of_counts({int(v): int(c) for v, c in zip(values, numbers)}, exact)


def total_variation_of_counts(counts: dict[int, int], exact: dict[int, float]) -> tuple[float, float]:
    """Total-variation distance of sampled outcomes, given as ``{outcome: count}``, to ``exact``, and its
    expected value from sampling alone.

    The distance is ½ Σ_x |f(x) − p(x)| over the union of outcomes (f: the
    observed frequency). The second value is what N exact samples would give
    on average, ½ Σ_x √(2 p(1−p) / (π N)) (the mean absolute deviation of a
    binomial frequency in the normal approximation), so a distance well
    above it means the run differs from the ideal circuit. ``counts`` in
    ascending order of outcome gives the same sums, to the bit, as
    :func:`total_variation` of the outcomes.

    Examples:
        >>> total_variation_of_counts({0: 1, 1: 3}, {0: 0.5, 1: 0.5})[0]
        0.25
    """
    num = sum(counts.values())
    observed = {outcome: count / num for outcome, count in counts.items()}
    keys = set(observed) | set(exact)
    distance = 0.5 * sum(abs(observed.get(k, 0.0) - exact.get(k, 0.0)) for k in keys)
    floor = 0.5 * sum(math.sqrt(2.0 * p * (1.0 - p) / (math.pi * num)) for p in exact.values())
    return float(distance), float(floor)
