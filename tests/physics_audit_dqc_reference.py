"""Independent references for the physics audit of distributed computing (docs/physics-audit-dqc-20261206.md).

Nothing here imports dqsim. Density matrices and state vectors are big-endian here (qubit 0 is the most
significant bit of a basis index); tests/test_physics_audit_dqc.py converts where it compares with dqsim,
whose registers are little-endian (qubit 0 the least significant bit).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

I2 = np.eye(2, dtype=complex)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
Z = np.diag([1.0, -1.0]).astype(complex)
H = np.array([[1, 1], [1, -1]], dtype=complex) / math.sqrt(2.0)
P0 = np.diag([1.0, 0.0]).astype(complex)
P1 = np.diag([0.0, 1.0]).astype(complex)
PLUS = np.full((2, 2), 0.5, dtype=complex)
MINUS = np.array([[0.5, -0.5], [-0.5, 0.5]], dtype=complex)
PHI_PLUS = np.array([1, 0, 0, 1], dtype=complex) / math.sqrt(2.0)


def ry(theta):
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array([[c, -s], [s, c]], dtype=complex)


def rz(theta):
    return np.diag([np.exp(-0.5j * theta), np.exp(0.5j * theta)])


def rx(theta):
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array([[c, -1j * s], [-1j * s, c]], dtype=complex)


# --------------------------------------------------------------------------- n-qubit operators

def embed(op, qubits, n):
    """The 2^n x 2^n matrix of ``op`` (on ``qubits``, in that order, big-endian) acting on n qubits."""
    k = len(qubits)
    op = np.asarray(op, dtype=complex).reshape([2] * (2 * k))
    full = np.eye(2 ** n, dtype=complex).reshape([2] * (2 * n))
    # contract op's input legs with the identity's output legs at ``qubits``
    out = np.tensordot(op, full, axes=(list(range(k, 2 * k)), list(qubits)))
    # out legs: op outputs (k), then the identity's remaining output legs, then its n input legs
    rest = [q for q in range(n) if q not in qubits]
    order = [None] * n
    for i, q in enumerate(qubits):
        order[q] = i
    for j, q in enumerate(rest):
        order[q] = k + j
    out = np.transpose(out, order + list(range(n, 2 * n)))
    return out.reshape(2 ** n, 2 ** n)


def controlled(u):
    """|0⟩⟨0| ⊗ 1 + |1⟩⟨1| ⊗ u (control first)."""
    return np.kron(P0, np.eye(len(u))) + np.kron(P1, u)


CNOT = controlled(X)


def apply(rho, op, qubits, n):
    m = embed(op, qubits, n)
    return m @ rho @ m.conj().T


def measure_and_correct(rho, qubit, projectors, corrections, n):
    """Σ_m C_m P_m ρ P_m C_m†: measure ``qubit`` (projectors P_0, P_1) and apply correction C_m = (op, qubits)."""
    out = np.zeros_like(rho)
    for proj, corr in zip(projectors, corrections):
        k = embed(proj, [qubit], n)
        if corr is not None:
            k = embed(corr[0], corr[1], n) @ k
        out += k @ rho @ k.conj().T
    return out


def partial_trace_keep(rho, keep, n):
    """Reduced density matrix of the qubits ``keep`` (in that order)."""
    t = rho.reshape([2] * (2 * n))
    drop = [q for q in range(n) if q not in keep]
    for count, q in enumerate(sorted(drop, reverse=True)):
        m = n - count  # qubits left before this trace
        t = np.trace(t, axis1=q, axis2=q + m)
    k = len(keep)
    kept_sorted = sorted(keep)
    order = [kept_sorted.index(q) for q in keep]
    t = np.transpose(t, order + [k + i for i in order])
    return t.reshape(2 ** k, 2 ** k)


def werner(fidelity):
    """Werner state F|Φ+⟩⟨Φ+| + (1 − F)/3 (1 − |Φ+⟩⟨Φ+|) (Werner, PRA 40, 4277 (1989))."""
    phi = np.outer(PHI_PLUS, PHI_PLUS.conj())
    return fidelity * phi + (1.0 - fidelity) / 3.0 * (np.eye(4) - phi)


def fidelity(rho, psi):
    return float(np.real(psi.conj() @ rho @ psi))


# --------------------------------------------------------------------------- TeleGate and TeleData

def telegate(rho_ct, u, pair):
    """Controlled-u from c to t by the cat-entangler/disentangler (Eisert et al., PRA 62, 052317 (2000), Fig. 2).

    Qubits c, t, a (the control's communication qubit), b (the target's); ``pair`` the state of (a, b).
    CNOT(c→a), measure a → X on b; controlled-u(b→t); measure b in the X basis → Z on c. Returns ρ(c, t).
    """
    n = 4
    rho = np.kron(rho_ct, pair)
    rho = apply(rho, CNOT, [0, 2], n)
    rho = measure_and_correct(rho, 2, (P0, P1), (None, (X, [3])), n)
    rho = apply(rho, controlled(u), [3, 1], n)
    rho = measure_and_correct(rho, 3, (PLUS, MINUS), (None, (Z, [0])), n)
    return partial_trace_keep(rho, [0, 1], n)


def teleport(rho_in, pair):
    """Teleport a one-qubit state through ``pair`` (Bennett et al., PRL 70, 1895 (1993)): ρ of the receiver's qubit."""
    n = 3
    rho = np.kron(rho_in, pair)
    rho = apply(rho, CNOT, [0, 1], n)
    rho = apply(rho, H, [0], n)
    rho = measure_and_correct(rho, 1, (P0, P1), (None, (X, [2])), n)
    rho = measure_and_correct(rho, 0, (P0, P1), (None, (Z, [2])), n)
    return partial_trace_keep(rho, [2], n)


def channel_on(rho, qubit, n, one_qubit_channel):
    """Apply a one-qubit channel (a linear function of a 2x2 matrix) to ``qubit`` of an n-qubit ρ."""
    t = np.moveaxis(rho.reshape([2] * (2 * n)), [qubit, n + qubit], [0, n])
    shape = t.shape
    t = t.reshape(2, 2 ** (n - 1), 2, 2 ** (n - 1))
    out = np.zeros_like(t)
    for i in range(2):
        for j in range(2):
            eij = np.zeros((2, 2), dtype=complex)
            eij[i, j] = 1.0
            image = one_qubit_channel(eij)
            out += np.einsum("km,ab->kamb", image, t[i, :, j, :])
    out = np.moveaxis(out.reshape(shape), [0, n], [qubit, n + qubit])
    return out.reshape(2 ** n, 2 ** n)


def teledata(rho_ct, u, pair_out, pair_back):
    """Controlled-u by teleporting c to t's node, applying it there, and teleporting c back: ρ(c, t)."""
    # Teleportation is a one-qubit channel T(ρ) on the teleported qubit; apply T, controlled-u, T.
    def t_out(r):
        return teleport(r, pair_out)

    def t_back(r):
        return teleport(r, pair_back)

    rho = channel_on(rho_ct, 0, 2, t_out)
    rho = apply(rho, controlled(u), [0, 1], 2)
    return channel_on(rho, 0, 2, t_back)


def telegate_cnot_state_fidelity(psi_out, pair_fidelity):
    """Closed form for a Werner pair: the TeleGate CNOT is CNOT then X_t, Z_c, Z_cX_t each with (1 − F)/3.

    A Pauli error on the target's communication qubit: X flips the copied control (the gate acts on the
    other branch: X_t after a CNOT), Z turns into Z on the control at the disentangler, Y into both.
    Returns F + (1 − F)/3 Σ_P ⟨P⟩² over the three errors, in the ideal output ``psi_out`` (c, t).
    """
    f = pair_fidelity
    total = f
    for p in (np.kron(I2, X), np.kron(Z, I2), np.kron(Z, X)):
        total += (1 - f) / 3 * float(np.real(psi_out.conj() @ p @ psi_out)) ** 2
    return total


def average_gate_fidelity(process_fidelity, dim):
    """F_avg = (d F_pro + 1)/(d + 1) (Horodecki et al., PRA 60, 1888 (1999); Nielsen, PLA 303, 249 (2002))."""
    return (dim * process_fidelity + 1.0) / (dim + 1.0)


# --------------------------------------------------------------------------- state vectors

def statevector(num_qubits, gates):
    """|ψ⟩ of ``gates`` ``(matrix, qubits)`` applied to |0…0⟩ (big-endian)."""
    psi = np.zeros(2 ** num_qubits, dtype=complex)
    psi[0] = 1.0
    for m, qubits in gates:
        psi = embed(m, qubits, num_qubits) @ psi
    return psi


def to_little_endian(vec, num_qubits):
    """Reorder a big-endian vector so that qubit 0 is the least significant bit."""
    return np.transpose(np.asarray(vec).reshape([2] * num_qubits), list(range(num_qubits))[::-1]).ravel()


def chi_square(counts, probabilities, shots):
    """Pearson's χ² and its degrees of freedom over the outcomes of nonzero probability."""
    stat, dof = 0.0, -1
    for key, p in probabilities.items():
        if p <= 1e-12:
            continue
        stat += (counts.get(key, 0) - shots * p) ** 2 / (shots * p)
        dof += 1
    return stat, dof


# --------------------------------------------------------------------------- spin chains

def pauli_string(ops, num_qubits):
    """Kronecker product of {qubit: 2x2} (identity elsewhere), big-endian."""
    out = np.array([[1.0 + 0j]])
    for q in range(num_qubits):
        out = np.kron(out, ops.get(q, I2))
    return out


def exact_evolution(hamiltonian, psi0, t):
    return scipy.linalg.expm(-1j * t * hamiltonian) @ psi0


# --------------------------------------------------------------------------- queueing

def md1_mean_wait(arrival_rate, service_time):
    """Pollaczek–Khinchine mean wait of M/D/1: W_q = ρ s / (2(1 − ρ)), ρ = λ s (Kleinrock, Queueing Systems I, 5.7)."""
    rho = arrival_rate * service_time
    return rho * service_time / (2.0 * (1.0 - rho))


def idle_channel(t, t1, t2):
    """T1/T2 idling for time t as a one-qubit map: amplitude damping γ = 1 − e^(−t/T1), then dephasing so that
    the coherence ends at e^(−t/T2) in all (Nielsen & Chuang, Secs. 8.3.5-8.3.6)."""
    gamma = 1.0 - math.exp(-t / t1)
    coherence = math.exp(-t / t2)

    def channel(r):
        out = np.empty((2, 2), dtype=complex)
        out[1, 1] = (1.0 - gamma) * r[1, 1]
        out[0, 0] = r[0, 0] + gamma * r[1, 1]
        out[0, 1] = coherence * r[0, 1]
        out[1, 0] = coherence * r[1, 0]
        return out

    return channel


# --------------------------------------------------------------------------- gate noise (Kraus maps)

def depolarizing_kraus(p):
    """ρ → (1 − p)ρ + p/3 Σ PρP, p the error probability (Nielsen & Chuang eq. 8.102)."""
    return [math.sqrt(1 - p) * I2] + [math.sqrt(p / 3) * m for m in (X, Y, Z)]


def depolarizing2_kraus(p):
    """ρ → (1 − p)ρ + p/15 Σ_{P ≠ II} PρP over the 15 two-qubit Paulis."""
    paulis = [np.kron(a, b) for a in (I2, X, Y, Z) for b in (I2, X, Y, Z)]
    return [math.sqrt(1 - p) * paulis[0]] + [math.sqrt(p / 15) * m for m in paulis[1:]]


def amplitude_damping_kraus(gamma):
    """K0 = diag(1, √(1 − γ)), K1 = √γ |0⟩⟨1| (Nielsen & Chuang eq. 8.108)."""
    return [np.diag([1.0, math.sqrt(1 - gamma)]).astype(complex),
            np.array([[0, math.sqrt(gamma)], [0, 0]], dtype=complex)]


def kraus(rho, operators, qubits, n):
    return sum(apply(rho, k, qubits, n) for k in operators)


def readout_probabilities(rho, n, flip):
    """Probabilities of the recorded bit strings (qubit i → bit i, written with bit 0 rightmost), each bit
    flipped independently with probability ``flip``."""
    born = np.real(np.diag(rho))  # big-endian index: qubit 0 the most significant bit
    out = {}
    for index in range(2 ** n):
        bits = [(index >> (n - 1 - q)) & 1 for q in range(n)]
        for recorded in range(2 ** n):
            rbits = [(recorded >> q) & 1 for q in range(n)]  # bit q of the recorded string = qubit q
            weight = 1.0
            for b, r in zip(bits, rbits):
                weight *= flip if b != r else 1 - flip
            key = "".join(str(rbits[q]) for q in reversed(range(n)))
            out[key] = out.get(key, 0.0) + born[index] * weight
    return out


def flip_measure_and_correct(rho, qubit, projectors, correction, flip, correction_kraus, n):
    """Measure ``qubit``; the recorded bit is wrong with probability ``flip``; a recorded 1 applies ``correction``
    (op, qubits) followed by the Kraus maps ``correction_kraus`` (on the correction's qubits)."""
    out = np.zeros_like(rho)
    for outcome, proj in enumerate(projectors):
        k = embed(proj, [qubit], n)
        branch = k @ rho @ k.conj().T
        for recorded, weight in ((outcome, 1.0 - flip), (1 - outcome, flip)):
            if weight == 0.0:
                continue
            part = branch
            if recorded:
                part = apply(part, correction[0], correction[1], n)
                part = kraus(part, correction_kraus, correction[1], n)
            out += weight * part
    return out


def noisy_telegate(rho_ct, u, pair, p2, p1, pm):
    """:func:`telegate` with hardware errors: the two-qubit depolarising channel p2 after each CNOT and the
    controlled-u, the one-qubit channel p1 after each correction that is applied, each outcome flipped with pm."""
    n = 4
    rho = np.kron(rho_ct, pair)
    rho = kraus(apply(rho, CNOT, [0, 2], n), depolarizing2_kraus(p2), [0, 2], n)
    rho = flip_measure_and_correct(rho, 2, (P0, P1), (X, [3]), pm, depolarizing_kraus(p1), n)
    rho = kraus(apply(rho, controlled(u), [3, 1], n), depolarizing2_kraus(p2), [3, 1], n)
    rho = flip_measure_and_correct(rho, 3, (PLUS, MINUS), (Z, [0]), pm, depolarizing_kraus(p1), n)
    return partial_trace_keep(rho, [0, 1], n)


def swapped_werner_fidelity(f1, f2):
    """Fidelity of the pair a Bell measurement makes of two Werner pairs: w = w1 w2 (Dür et al., PRA 59, 169
    (1999)), F = (1 + 3w)/4."""
    w = (4 * f1 - 1) / 3 * (4 * f2 - 1) / 3
    return (1 + 3 * w) / 4
