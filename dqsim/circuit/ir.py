"""A small circuit representation: gates, measurements, resets, barriers, and
classical control (:class:`IfBits`: instructions run when measured bits hold a value).

Qubits and classical bits are flat integer indices; named registers (from
QASM) are kept as ``(name, size)`` pairs in declaration order, so register
``q[3]`` of the second register maps to ``offset + 3``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence, Union

import numpy as np

from dqsim.errors import CircuitError
from dqsim.state import gates as gate_table


@dataclass(frozen=True)
class Gate:
    """A named gate (see :data:`dqsim.state.gates.GATES`), controls first in ``qubits``.

    ``name == "unitary"`` carries a dense ``matrix`` on ``qubits`` (little-endian).
    """

    name: str
    qubits: tuple[int, ...]
    params: tuple[float, ...] = ()
    matrix: np.ndarray | None = field(default=None, compare=False, repr=False)

    def to_op(self) -> gate_table.GateOp:
        """The state engine's operation for this gate."""
        if self.name == "unitary":
            return gate_table.unitary_op(self.matrix, self.qubits)
        return gate_table.gate_op(self.name, self.qubits, self.params)


@dataclass(frozen=True)
class Measure:
    """Measure ``qubit`` in the Z basis into classical bit ``clbit``."""

    qubit: int
    clbit: int


@dataclass(frozen=True)
class Reset:
    """Reset ``qubit`` to |0⟩."""

    qubit: int


@dataclass(frozen=True)
class Barrier:
    """No operation; keeps an order for schedulers and for display."""

    qubits: tuple[int, ...]


@dataclass(frozen=True)
class IfBits:
    """Run ``body`` when the classical bits ``clbits`` read ``value``, else ``orelse`` (OpenQASM 3 ``if``).

    Bit ``j`` of ``value`` is compared with classical bit ``clbits[j]``
    (``if (c[1] == 1)``: ``clbits = (1,)``, ``value = 1``; ``if (c == 5)`` on
    a 3-bit register: its three bits, ``value = 5``).

    Examples:
        >>> IfBits((0, 2), 0b10, ()).holds(0b100), IfBits((0, 2), 0b10, ()).holds(0b101)
        (True, False)
    """

    clbits: tuple[int, ...]
    value: int
    body: tuple = ()
    orelse: tuple = ()

    def holds(self, bits: int) -> bool:
        """Whether the condition holds for the classical bits ``bits`` (bit i = classical bit i)."""
        read = sum(((bits >> b) & 1) << j for j, b in enumerate(self.clbits))
        return read == self.value


Instruction = Union[Gate, Measure, Reset, Barrier, IfBits]


@dataclass
class Circuit:
    """An ordered list of instructions on ``num_qubits`` qubits and ``num_clbits`` bits.

    Attributes:
        num_qubits: number of qubits (indices 0..num_qubits-1).
        num_clbits: number of classical bits.
        instructions: the program, in order.
        qregs: quantum registers ``(name, size)`` in declaration order.
        cregs: classical registers ``(name, size)`` in declaration order.
        name: a label for outputs.

    Examples:
        >>> c = Circuit(2, 2)
        >>> c.gate("h", 0).gate("cx", 0, 1).measure(0, 0).measure(1, 1)
        Circuit(name='circuit', num_qubits=2, num_clbits=2, instructions=4)
        >>> c.count_gates()
        {'h': 1, 'cx': 1}
    """

    num_qubits: int
    num_clbits: int = 0
    instructions: list[Instruction] = field(default_factory=list)
    qregs: list[tuple[str, int]] = field(default_factory=list)
    cregs: list[tuple[str, int]] = field(default_factory=list)
    name: str = "circuit"

    def __post_init__(self):
        if self.num_qubits < 1:
            raise CircuitError(f"num_qubits = {self.num_qubits}: a circuit needs at least 1 qubit")
        if self.num_clbits < 0:
            raise CircuitError(f"num_clbits = {self.num_clbits} must be >= 0")
        if not self.qregs:
            self.qregs = [("q", self.num_qubits)]
        if not self.cregs and self.num_clbits:
            self.cregs = [("c", self.num_clbits)]

    def __repr__(self) -> str:
        return (f"Circuit(name={self.name!r}, num_qubits={self.num_qubits}, "
                f"num_clbits={self.num_clbits}, instructions={len(self.instructions)})")

    def __iter__(self) -> Iterator[Instruction]:
        return iter(self.instructions)

    def __len__(self) -> int:
        return len(self.instructions)

    def _check_qubits(self, qubits: Sequence[int]) -> None:
        for q in qubits:
            if not 0 <= q < self.num_qubits:
                raise CircuitError(f"qubit index {q} is outside 0..{self.num_qubits - 1}")

    def append(self, instruction: Instruction) -> "Circuit":
        """Append an instruction after checking its indices; returns ``self``."""
        self._check(instruction)
        self.instructions.append(instruction)
        return self

    def _check(self, instruction: Instruction) -> None:
        if isinstance(instruction, IfBits):
            for b in instruction.clbits:
                if not 0 <= b < self.num_clbits:
                    raise CircuitError(f"if: classical bit {b} is outside 0..{self.num_clbits - 1}")
            if not instruction.clbits or not 0 <= instruction.value < 1 << len(instruction.clbits):
                raise CircuitError(f"if: value {instruction.value} does not fit {len(instruction.clbits)} bit(s)")
            for inner in (*instruction.body, *instruction.orelse):
                self._check(inner)
        elif isinstance(instruction, Gate):
            self._check_qubits(instruction.qubits)
            instruction.to_op()  # validates name, arity, parameters, unitarity
        elif isinstance(instruction, Measure):
            self._check_qubits([instruction.qubit])
            if not 0 <= instruction.clbit < self.num_clbits:
                raise CircuitError(f"classical bit {instruction.clbit} is outside 0..{self.num_clbits - 1}")
        elif isinstance(instruction, Reset):
            self._check_qubits([instruction.qubit])
        elif isinstance(instruction, Barrier):
            self._check_qubits(instruction.qubits)
        else:
            raise CircuitError(f"unknown instruction {instruction!r}")

    def gate(self, name: str, *qubits: int, params: Sequence[float] = ()) -> "Circuit":
        """Append a named gate; returns ``self``."""
        name = gate_table.canonical_gate_name(name)
        return self.append(Gate(name, tuple(int(q) for q in qubits), tuple(float(p) for p in params)))

    def unitary(self, matrix, *qubits: int) -> "Circuit":
        """Append a dense unitary on ``qubits`` (little-endian); returns ``self``."""
        m = np.asarray(matrix, dtype=np.complex128)
        return self.append(Gate("unitary", tuple(int(q) for q in qubits), (), m))

    def measure(self, qubit: int, clbit: int) -> "Circuit":
        """Append a Z measurement of ``qubit`` into ``clbit``; returns ``self``."""
        return self.append(Measure(int(qubit), int(clbit)))

    def measure_all(self) -> "Circuit":
        """Measure qubit i into bit i for every qubit, adding bits as needed."""
        if self.num_clbits < self.num_qubits:
            extra = self.num_qubits - self.num_clbits
            self.cregs.append(("meas", extra))
            self.num_clbits = self.num_qubits
        for q in range(self.num_qubits):
            self.measure(q, q)
        return self

    def reset(self, qubit: int) -> "Circuit":
        """Append a reset of ``qubit``; returns ``self``."""
        return self.append(Reset(int(qubit)))

    def barrier(self, *qubits: int) -> "Circuit":
        """Append a barrier (all qubits when none are named); returns ``self``."""
        return self.append(Barrier(tuple(qubits) if qubits else tuple(range(self.num_qubits))))

    def gates(self) -> list[Gate]:
        """The gate instructions, in order (not those inside an ``if``)."""
        return [ins for ins in self.instructions if isinstance(ins, Gate)]

    def all_gates(self) -> list[Gate]:
        """Every gate instruction, also those inside ``if`` blocks (both branches), in program order."""
        return _gates_in(self.instructions)

    def count_gates(self) -> dict[str, int]:
        """Number of gates of each name, in first-appearance order."""
        counts: dict[str, int] = {}
        for g in self.gates():
            counts[g.name] = counts.get(g.name, 0) + 1
        return counts

    def measurements_are_terminal(self) -> bool:
        """True when no gate, reset or measurement follows a measurement of the same qubit.

        Such a circuit's shots can be sampled from one final state.
        """
        measured: set[int] = set()
        for ins in self.instructions:
            if isinstance(ins, Measure):
                if ins.qubit in measured:
                    return False
                measured.add(ins.qubit)
            elif isinstance(ins, Gate):
                if measured.intersection(ins.qubits):
                    return False
            elif isinstance(ins, (Reset, IfBits)):
                return False
        return True

    def has_classical_control(self) -> bool:
        """True when the circuit holds an ``if`` on measured bits (:class:`IfBits`)."""
        return any(isinstance(ins, IfBits) for ins in self.instructions)


def _gates_in(instructions) -> list[Gate]:
    """The gates of ``instructions``, descending into ``if`` blocks."""
    out: list[Gate] = []
    for ins in instructions:
        if isinstance(ins, Gate):
            out.append(ins)
        elif isinstance(ins, IfBits):
            out += _gates_in((*ins.body, *ins.orelse))
    return out
