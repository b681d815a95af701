"""An independent dense state-vector reference for tests (one process, NumPy).

Gates are applied by building the full 2^n × 2^n-free tensor contraction on
the (2,)*n tensor, with no shards, layouts or chunking: a deliberately
different implementation from dqsim.state.
"""

from __future__ import annotations

import numpy as np

from dqsim.state.gates import GateOp, dense_matrix


def apply_op(psi: np.ndarray, num_qubits: int, op: GateOp) -> np.ndarray:
    """Return op·psi for a full logical-order state (bit q of the index = qubit q)."""
    n = num_qubits
    k = len(op.targets)
    full_k = k + len(op.controls)
    u = dense_matrix(op)
    # Build the controlled matrix on (targets..., controls...) little-endian.
    dim = 1 << full_k
    big = np.eye(dim, dtype=np.complex128)
    ctrl_mask = ((1 << len(op.controls)) - 1) << k
    rows = [i for i in range(dim) if (i & ctrl_mask) == ctrl_mask]
    big[np.ix_(rows, rows)] = u
    qubits = list(op.targets) + list(op.controls)
    tensor = psi.reshape((2,) * n)  # axis a <-> qubit n-1-a
    g = big.reshape((2,) * (2 * full_k))  # out bits full_k-1..0, in bits full_k-1..0
    axes_psi = [n - 1 - qubits[full_k - 1 - i] for i in range(full_k)]
    out = np.tensordot(g, tensor, axes=(list(range(full_k, 2 * full_k)), axes_psi))
    out = np.moveaxis(out, list(range(full_k)), axes_psi)
    return out.reshape(-1)


def run_ops(num_qubits: int, ops, psi: np.ndarray | None = None) -> np.ndarray:
    if psi is None:
        psi = np.zeros(1 << num_qubits, dtype=np.complex128)
        psi[0] = 1
    for op in ops:
        psi = apply_op(psi, num_qubits, op)
    return psi


def pauli_matrix(paulis: str, qubits, num_qubits: int) -> np.ndarray:
    single = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]),
              "Y": np.array([[0, -1j], [1j, 0]]), "Z": np.diag([1, -1])}
    factors = {q: single[p] for p, q in zip(paulis, qubits)}
    m = np.eye(1, dtype=np.complex128)
    for q in range(num_qubits - 1, -1, -1):
        m = np.kron(m, factors.get(q, np.eye(2)))
    return m
