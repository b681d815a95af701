"""Gate matrices and the operations the state engine applies.

Conventions (those of OpenQASM and qiskit):

* ``rz(θ) = diag(e^{-iθ/2}, e^{iθ/2})``, ``p(λ) = diag(1, e^{iλ})``,
  ``u(θ, φ, λ) = [[cos θ/2, -e^{iλ} sin θ/2], [e^{iφ} sin θ/2, e^{i(φ+λ)} cos θ/2]]``
  (OpenQASM 3 specification, "Built-in quantum instructions").
* ``rxx(θ) = exp(-iθ/2 X⊗X)``, ``rzz(θ) = exp(-iθ/2 Z⊗Z)``.
* A k-qubit matrix acting on target qubits ``(t_0, …, t_{k-1})`` is indexed
  little-endian: bit j of the row/column index is the value of ``t_j``.
* Controls are listed first in a gate's qubit list: ``cx(c, t)``,
  ``ccx(c0, c1, t)``, ``cswap(c, a, b)``.
"""

from __future__ import annotations

import cmath
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from dqsim.errors import CircuitError

#: Largest number of target qubits of a dense matrix gate.
MAX_DENSE_QUBITS = 5


@dataclass(frozen=True)
class GateOp:
    """A matrix applied to target qubits, conditioned on control qubits being 1.

    Attributes:
        matrix: complex128 array, shape ``(2^k, 2^k)``; for a diagonal gate
            shape ``(2^k,)`` holding the diagonal.
        targets: logical target qubits ``(t_0, …, t_{k-1})`` (little-endian).
        controls: logical control qubits (all must be 1).
        diagonal: ``matrix`` holds only a diagonal.
        name: gate name, for messages and statistics.
    """

    matrix: np.ndarray
    targets: tuple[int, ...]
    controls: tuple[int, ...] = ()
    diagonal: bool = False
    name: str = "unitary"

    @property
    def qubits(self) -> tuple[int, ...]:
        return self.controls + self.targets

    def named_fields(self) -> tuple[str, tuple[int, ...], tuple[int, ...]] | None:
        """``(name, targets, controls)`` of a named gate without parameters made by :func:`gate_op` (its matrix
        is the one of :data:`GATES`), from which :func:`_named_gate` makes it again; ``None`` for any other."""
        spec = GATES.get(self.name)
        if (spec is not None and spec.num_params == 0 and self.matrix is spec.matrix()
                and self.diagonal == spec.diagonal and len(self.controls) == spec.num_controls):
            return (self.name, self.targets, self.controls)
        return None

    def __reduce_ex__(self, protocol):
        """A named gate without parameters pickles as its name and qubits (:func:`_named_gate`), others as usual.

        Shared operations cross ranks at every exchange; the matrix is most
        of their pickle (about 10 of the 17 µs of a ``cx`` operation) and
        every rank has that matrix already (:data:`GATES`).
        """
        named = self.named_fields()
        if named is not None:
            return _named_gate, named
        return super().__reduce_ex__(protocol)


def _named_gate(name: str, targets: tuple[int, ...], controls: tuple[int, ...]) -> GateOp:
    """The :class:`GateOp` of the named gate ``name`` of :data:`GATES` (no parameters), as :func:`gate_op` makes it."""
    spec = GATES[name]
    op = object.__new__(GateOp)  # frozen: the fields go straight into the instance dict (__init__ is slower)
    op.__dict__.update(matrix=spec.matrix(), targets=targets, controls=controls, diagonal=spec.diagonal, name=name)
    return op


@dataclass(frozen=True)
class GateSpec:
    """How a named gate is built: its controls, targets, parameters and matrix."""

    name: str
    num_controls: int
    num_targets: int
    num_params: int
    matrix: Callable[..., np.ndarray]
    diagonal: bool = False

    @property
    def num_qubits(self) -> int:
        return self.num_controls + self.num_targets


def _c(rows) -> np.ndarray:
    return np.array(rows, dtype=np.complex128)


def rx_matrix(theta: float) -> np.ndarray:
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return _c([[c, -1j * s], [-1j * s, c]])


def ry_matrix(theta: float) -> np.ndarray:
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return _c([[c, -s], [s, c]])


def rz_diagonal(theta: float) -> np.ndarray:
    return _c([cmath.exp(-0.5j * theta), cmath.exp(0.5j * theta)])


def phase_diagonal(lam: float) -> np.ndarray:
    return _c([1.0, cmath.exp(1j * lam)])


def u_matrix(theta: float, phi: float, lam: float) -> np.ndarray:
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return _c(
        [
            [c, -cmath.exp(1j * lam) * s],
            [cmath.exp(1j * phi) * s, cmath.exp(1j * (phi + lam)) * c],
        ]
    )


def rxx_matrix(theta: float) -> np.ndarray:
    c, s = math.cos(theta / 2), -1j * math.sin(theta / 2)
    return _c([[c, 0, 0, s], [0, c, s, 0], [0, s, c, 0], [s, 0, 0, c]])


def ryy_matrix(theta: float) -> np.ndarray:
    c, s = math.cos(theta / 2), 1j * math.sin(theta / 2)
    return _c([[c, 0, 0, s], [0, c, -s, 0], [0, -s, c, 0], [s, 0, 0, c]])


def rzz_diagonal(theta: float) -> np.ndarray:
    a, b = cmath.exp(-0.5j * theta), cmath.exp(0.5j * theta)
    return _c([a, b, b, a])


X = _c([[0, 1], [1, 0]])
Y = _c([[0, -1j], [1j, 0]])
Z_DIAG = _c([1, -1])
H = _c([[1, 1], [1, -1]]) / math.sqrt(2)
SX = _c([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]) / 2
SWAP = _c([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
ISWAP = _c([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]])


def _const(m: np.ndarray) -> Callable[[], np.ndarray]:
    return lambda: m


_SPECS = [
    GateSpec("id", 0, 1, 0, _const(_c([1, 1])), diagonal=True),
    GateSpec("x", 0, 1, 0, _const(X)),
    GateSpec("y", 0, 1, 0, _const(Y)),
    GateSpec("z", 0, 1, 0, _const(Z_DIAG), diagonal=True),
    GateSpec("h", 0, 1, 0, _const(H)),
    GateSpec("s", 0, 1, 0, _const(_c([1, 1j])), diagonal=True),
    GateSpec("sdg", 0, 1, 0, _const(_c([1, -1j])), diagonal=True),
    GateSpec("t", 0, 1, 0, _const(phase_diagonal(math.pi / 4)), diagonal=True),
    GateSpec("tdg", 0, 1, 0, _const(phase_diagonal(-math.pi / 4)), diagonal=True),
    GateSpec("sx", 0, 1, 0, _const(SX)),
    GateSpec("sxdg", 0, 1, 0, _const(SX.conj().T.copy())),
    GateSpec("rx", 0, 1, 1, rx_matrix),
    GateSpec("ry", 0, 1, 1, ry_matrix),
    GateSpec("rz", 0, 1, 1, rz_diagonal, diagonal=True),
    GateSpec("p", 0, 1, 1, phase_diagonal, diagonal=True),
    GateSpec("u1", 0, 1, 1, phase_diagonal, diagonal=True),
    GateSpec("u2", 0, 1, 2, lambda phi, lam: u_matrix(math.pi / 2, phi, lam)),
    GateSpec("u", 0, 1, 3, u_matrix),
    GateSpec("u3", 0, 1, 3, u_matrix),
    GateSpec("cx", 1, 1, 0, _const(X)),
    GateSpec("cy", 1, 1, 0, _const(Y)),
    GateSpec("cz", 1, 1, 0, _const(Z_DIAG), diagonal=True),
    GateSpec("ch", 1, 1, 0, _const(H)),
    GateSpec("csx", 1, 1, 0, _const(SX)),
    GateSpec("cp", 1, 1, 1, phase_diagonal, diagonal=True),
    GateSpec("cu1", 1, 1, 1, phase_diagonal, diagonal=True),
    GateSpec("crx", 1, 1, 1, rx_matrix),
    GateSpec("cry", 1, 1, 1, ry_matrix),
    GateSpec("crz", 1, 1, 1, rz_diagonal, diagonal=True),
    GateSpec("cu3", 1, 1, 3, u_matrix),
    GateSpec("swap", 0, 2, 0, _const(SWAP)),
    GateSpec("iswap", 0, 2, 0, _const(ISWAP)),
    GateSpec("rxx", 0, 2, 1, rxx_matrix),
    GateSpec("ryy", 0, 2, 1, ryy_matrix),
    GateSpec("rzz", 0, 2, 1, rzz_diagonal, diagonal=True),
    GateSpec("ccx", 2, 1, 0, _const(X)),
    GateSpec("ccz", 2, 1, 0, _const(Z_DIAG), diagonal=True),
    GateSpec("cswap", 1, 2, 0, _const(SWAP)),
]

#: Every named gate the state engine knows, by lower-case name.
GATES: dict[str, GateSpec] = {spec.name: spec for spec in _SPECS}
#: Aliases accepted on input.
ALIASES = {"cnot": "cx", "toffoli": "ccx", "fredkin": "cswap", "phase": "p", "i": "id",
           "cphase": "cp", "u0": "id"}


def canonical_gate_name(name: str) -> str:
    """Lower-case name after aliases (``CNOT`` → ``cx``)."""
    low = name.lower()
    return ALIASES.get(low, low)


def gate_op(name: str, qubits: Sequence[int], params: Sequence[float] = ()) -> GateOp:
    """Build the :class:`GateOp` of a named gate.

    Args:
        name: a name of :data:`GATES` (or an alias), case-insensitive.
        qubits: controls first, then targets.
        params: angles in radians.

    Raises:
        CircuitError: unknown gate, wrong number of qubits or parameters,
            repeated qubits.

    Examples:
        >>> op = gate_op("cx", [0, 3])
        >>> op.controls, op.targets
        ((0,), (3,))
    """
    key = canonical_gate_name(name)
    spec = GATES.get(key)
    if spec is None:
        raise CircuitError(
            f"gate {name!r} is not known; known gates: {', '.join(sorted(GATES))} "
            "(or a dense 'unitary')"
        )
    qubits = tuple(int(q) for q in qubits)
    if len(qubits) != spec.num_qubits:
        raise CircuitError(f"gate {key!r} acts on {spec.num_qubits} qubit(s), got {len(qubits)}: {qubits}")
    if len(params) != spec.num_params:
        raise CircuitError(f"gate {key!r} takes {spec.num_params} parameter(s), got {len(params)}")
    if len(set(qubits)) != len(qubits):
        raise CircuitError(f"gate {key!r} has a repeated qubit: {qubits}")
    matrix = spec.matrix(*[float(p) for p in params])
    return GateOp(
        matrix=matrix,
        targets=qubits[spec.num_controls :],
        controls=qubits[: spec.num_controls],
        diagonal=spec.diagonal,
        name=key,
    )


def unitary_op(matrix, targets: Sequence[int], controls: Sequence[int] = (), *, atol: float = 1e-10,
               name: str = "unitary") -> GateOp:
    """Build a :class:`GateOp` from a dense unitary on up to 5 target qubits.

    Args:
        matrix: ``(2^k, 2^k)`` unitary, little-endian in ``targets``.
        targets: logical target qubits, ``1 <= k <= 5``.
        controls: logical control qubits.
        atol: tolerance of the unitarity check ``‖U†U − I‖_max``.

    Raises:
        CircuitError: wrong shape, too many targets, repeated qubits, or a
            matrix that is not unitary.
    """
    m = np.asarray(matrix, dtype=np.complex128)
    targets = tuple(int(q) for q in targets)
    controls = tuple(int(q) for q in controls)
    k = len(targets)
    if not 1 <= k <= MAX_DENSE_QUBITS:
        raise CircuitError(f"a dense unitary acts on 1..{MAX_DENSE_QUBITS} target qubits, got {k}")
    if m.shape != (1 << k, 1 << k):
        raise CircuitError(f"matrix shape {m.shape} does not match {k} target qubit(s): need {(1 << k, 1 << k)}")
    if len(set(targets + controls)) != k + len(controls):
        raise CircuitError(f"unitary has a repeated qubit: controls {controls}, targets {targets}")
    err = float(np.max(np.abs(m.conj().T @ m - np.eye(1 << k))))
    if err > atol:
        raise CircuitError(f"matrix is not unitary: max|U†U - I| = {err:.3g} > {atol:g}")
    off = m - np.diag(np.diag(m))
    if not np.any(off):
        return GateOp(np.diag(m).copy(), targets, controls, diagonal=True, name=name)
    return GateOp(m, targets, controls, diagonal=False, name=name)


def dense_matrix(op: GateOp) -> np.ndarray:
    """The full ``(2^k, 2^k)`` matrix of an op's targets (diagonals expanded)."""
    return np.diag(op.matrix) if op.diagonal else op.matrix


def adjoint(op: GateOp) -> GateOp:
    """The inverse of a unitary op: the conjugate transpose of its matrix (conjugate of a diagonal), same qubits.

    Examples:
        >>> op = gate_op("s", [0])
        >>> bool(np.allclose(adjoint(op).matrix * op.matrix, 1))
        True
    """
    matrix = np.conj(op.matrix) if op.diagonal else np.conj(op.matrix).T.copy()
    return GateOp(matrix, op.targets, op.controls, diagonal=op.diagonal, name=f"{op.name}†")
