"""Circuit generators: QFT, GHZ and random circuits (angles in radians)."""

from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

import numpy as np

from dqsim.circuit.ir import Circuit
from dqsim.errors import CircuitError
from dqsim.state import gates as gate_table

__all__ = ["qft", "ghz", "random_circuit", "GENERATORS", "DEFAULT_GATE_SET"]

#: Gates :func:`random_circuit` draws from by default.
DEFAULT_GATE_SET = ("h", "x", "y", "z", "s", "t", "sx", "rx", "ry", "rz", "u",
                    "cx", "cz", "cp", "crx", "swap", "iswap", "rzz", "rxx", "ccx")
#: Chance that a multi-qubit slot holds a 3-qubit gate (when one fits).
THREE_QUBIT_PROBABILITY = 0.1


def _check_num_qubits(num_qubits: int, minimum: int = 1) -> None:
    if not isinstance(num_qubits, (int, np.integer)) or num_qubits < minimum:
        raise CircuitError(f"num_qubits = {num_qubits!r} must be an integer >= {minimum}")


def qft(num_qubits: int, *, swaps: bool = True, measure: bool = False) -> Circuit:
    """The quantum Fourier transform, gate for gate as qiskit's ``synth_qft_full``.

    For ``j = n-1 … 0``: ``h(j)``, then ``cp(π / 2^(j-k), j, k)`` for ``k = j-1 … 0``;
    then, with ``swaps``, ``swap(i, n-1-i)`` for ``i < n/2``. The unitary is
    ``|x⟩ ↦ 2^(-n/2) Σ_y e^{2πi x y / 2^n} |y⟩`` with qubit 0 the least
    significant bit (Nielsen & Chuang §5.1), equal to
    ``qiskit.circuit.library.QFTGate(n)``.

    Args:
        num_qubits: number of qubits, >= 1.
        swaps: end with the swaps that reverse the qubit order; without them
            the circuit is the QFT followed by a bit reversal.
        measure: measure every qubit at the end (:meth:`Circuit.measure_all`).

    Examples:
        >>> qft(3).count_gates()
        {'h': 3, 'cp': 3, 'swap': 1}
        >>> qft(3).gates()[1]
        Gate(name='cp', qubits=(2, 1), params=(1.5707963267948966,))
    """
    _check_num_qubits(num_qubits)
    circuit = Circuit(num_qubits, name=f"qft_{num_qubits}")
    for j in reversed(range(num_qubits)):
        circuit.gate("h", j)
        for k in reversed(range(j)):
            circuit.gate("cp", j, k, params=[math.pi / 2 ** (j - k)])
    if swaps:
        for i in range(num_qubits // 2):
            circuit.gate("swap", i, num_qubits - 1 - i)
    return circuit.measure_all() if measure else circuit


def ghz(num_qubits: int, *, measure: bool = False) -> Circuit:
    """The GHZ state ``(|0…0⟩ + |1…1⟩)/√2``: ``h(0)``, then ``cx(i, i+1)`` along the chain.

    Args:
        num_qubits: number of qubits, >= 1.
        measure: measure every qubit at the end.

    Examples:
        >>> [(g.name, g.qubits) for g in ghz(3).gates()]
        [('h', (0,)), ('cx', (0, 1)), ('cx', (1, 2))]
    """
    _check_num_qubits(num_qubits)
    circuit = Circuit(num_qubits, name=f"ghz_{num_qubits}").gate("h", 0)
    for i in range(num_qubits - 1):
        circuit.gate("cx", i, i + 1)
    return circuit.measure_all() if measure else circuit


@functools.lru_cache(maxsize=64)
def _split_gate_set(gate_set: tuple[str, ...]) -> dict[int, tuple[str, ...]]:
    """The gate set's names by gate size (1, 2, 3 qubits), canonical, first appearance first; kept per gate set
    (a stream of random circuits splits its one set once)."""
    by_size: dict[int, list[str]] = {1: [], 2: [], 3: []}
    for raw in gate_set:
        name = gate_table.canonical_gate_name(raw)
        spec = gate_table.GATES.get(name)
        if spec is None or spec.num_qubits > 3:
            raise CircuitError(f"gate_set entry {raw!r} is not a 1-, 2- or 3-qubit gate of "
                               f"dqsim.state.gates.GATES: {', '.join(sorted(gate_table.GATES))}")
        if name not in by_size[spec.num_qubits]:
            by_size[spec.num_qubits].append(name)
    if not any(by_size.values()):
        raise CircuitError("gate_set is empty; give at least one gate name")
    return {size: tuple(names) for size, names in by_size.items()}


def random_circuit(num_qubits: int, depth: int, *, seed: int, gate_set: Sequence[str] | None = None,
                   two_qubit_fraction: float = 0.5, measure: bool = False) -> Circuit:
    """Layers of random gates on random qubits, reproducible from ``seed``.

    Each layer shuffles the qubits and covers them left to right: a slot
    holds a multi-qubit gate with probability ``two_qubit_fraction`` (a
    3-qubit gate such as ``ccx``, when ``gate_set`` has one and 3 qubits are
    left, with probability :data:`THREE_QUBIT_PROBABILITY`), else a 1-qubit
    gate. Gate names are uniform within their size; every angle is uniform
    in ``[0, 2π)`` radians.

    The draws come from ``numpy.random.Generator(PCG64(seed))``, so the
    circuit depends on the arguments only (not on ranks or time); NumPy does
    not promise the same stream across its major versions.

    Args:
        num_qubits: number of qubits, >= 1.
        depth: number of layers, >= 0.
        seed: non-negative integer seed.
        gate_set: names from :data:`dqsim.state.gates.GATES` (default
            :data:`DEFAULT_GATE_SET`).
        two_qubit_fraction: chance in ``[0, 1]`` that a slot holds a
            multi-qubit gate.
        measure: measure every qubit at the end.

    Raises:
        CircuitError: an argument is out of range or a gate name is unknown.

    Examples:
        >>> c = random_circuit(4, 3, seed=7)
        >>> c == random_circuit(4, 3, seed=7)
        True
        >>> c.instructions == random_circuit(4, 3, seed=8).instructions
        False
        >>> sum(len(g.qubits) for g in random_circuit(5, 2, seed=1).gates())
        10
    """
    _check_num_qubits(num_qubits)
    if not isinstance(depth, (int, np.integer)) or depth < 0:
        raise CircuitError(f"depth = {depth!r} must be an integer >= 0")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise CircuitError(f"seed = {seed!r} must be an integer >= 0")
    if not 0.0 <= two_qubit_fraction <= 1.0:
        raise CircuitError(f"two_qubit_fraction = {two_qubit_fraction!r} must be in [0, 1]")
    by_size = _split_gate_set(tuple(DEFAULT_GATE_SET if gate_set is None else gate_set))
    rng = np.random.Generator(np.random.PCG64(seed))
    circuit = Circuit(num_qubits, name=f"random_{num_qubits}q_d{depth}_s{seed}")
    for _ in range(depth):
        order = [int(q) for q in rng.permutation(num_qubits)]
        i = 0
        while i < num_qubits:
            left = num_qubits - i
            size = 1
            if rng.random() < two_qubit_fraction:
                if by_size[3] and left >= 3 and (not by_size[2] or rng.random() < THREE_QUBIT_PROBABILITY):
                    size = 3
                elif by_size[2] and left >= 2:
                    size = 2
            names = by_size[size]
            if not names:  # e.g. a gate set without 1-qubit gates: this qubit idles
                i += 1
                continue
            name = names[int(rng.integers(len(names)))]
            params = rng.uniform(0.0, 2 * math.pi, size=gate_table.GATES[name].num_params)
            circuit.gate(name, *order[i:i + size], params=[float(p) for p in params])
            i += size
    return circuit.measure_all() if measure else circuit


#: Generators by the name a job file uses.
GENERATORS: dict[str, Callable[..., Circuit]] = {"qft": qft, "ghz": ghz, "random": random_circuit}
