"""Independent reference computations for the physics audit (docs/physics-audit-20261206.md).

Nothing here imports dqsim: each function computes a textbook figure from its own derivation (numpy density
matrices, photon-number bookkeeping, closed forms written out again), so that tests/test_physics_audit.py can
hold dqsim's public API to it. Qubit order in this module is big-endian (qubit 0 is the most significant bit
of a basis index), unlike dqsim's little-endian pair matrices; the tests convert where they compare.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

I2 = np.eye(2, dtype=complex)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
Z = np.diag([1.0, -1.0]).astype(complex)
H = np.array([[1, 1], [1, -1]], dtype=complex) / math.sqrt(2.0)
PAULIS = (I2, X, Y, Z)
PHI_PLUS = np.array([1, 0, 0, 1], dtype=complex) / math.sqrt(2.0)
SPEED_OF_LIGHT_M_PER_S = 299_792_458.0
PLANCK_J_S = 6.62607015e-34


# --------------------------------------------------------------------------- fibre, detectors, Raman

def transmittance(length_km, alpha_db_per_km, coupling_db=0.0, detector_efficiency=1.0):
    """exp(-α L) with α = α_dB ln10/10 (Agrawal, Fiber-Optic Communication Systems, Sec. 2.5), times the rest."""
    return math.exp(-(alpha_db_per_km * length_km + coupling_db) * math.log(10.0) / 10.0) * detector_efficiency


def delay_ps(length_km, group_index):
    """n_g L / c in picoseconds, rounded to the nearest integer."""
    return round(group_index * length_km * 1000.0 / SPEED_OF_LIGHT_M_PER_S * 1e12)


def raman_power_w(power_mw, length_km, alpha_db_per_km, rho_per_km_per_nm, band_nm, forward, steps=20001):
    """Raman power in the passband by integrating the scattering along the fibre (Simpson's rule).

    Light scattered at z into Δλ, with probability ρ Δλ dz per unit of pump power, reaches the receiver
    attenuated by e^(-α z) (pump) · e^(-α (L - z)) (forward) or · e^(-α z) (backward, back to z = 0):
    Eraerds et al., New J. Phys. 12, 063027 (2010), eqs. (1)-(2) in integral form.
    """
    a = alpha_db_per_km * math.log(10.0) / 10.0
    z = np.linspace(0.0, length_km, steps)
    f = np.exp(-a * z) * (np.exp(-a * (length_km - z)) if forward else np.exp(-a * z))
    h = length_km / (steps - 1)
    integral = h / 3.0 * (f[0] + f[-1] + 4.0 * f[1:-1:2].sum() + 2.0 * f[2:-1:2].sum())
    return power_mw * 1e-3 * rho_per_km_per_nm * band_nm * integral


def photons_per_gate(power_w, wavelength_nm, efficiency, gate_ps):
    """P λ/(h c) · η · Δt."""
    return power_w * wavelength_nm * 1e-9 / (PLANCK_J_S * SPEED_OF_LIGHT_M_PER_S) * efficiency * gate_ps * 1e-12


# --------------------------------------------------------------------------- small density matrices

def kron(*ops):
    out = np.array([[1.0 + 0j]])
    for op in ops:
        out = np.kron(out, op)
    return out


def on(op, qubit, n):
    """``op`` (2x2) on ``qubit`` of ``n`` (big-endian)."""
    return kron(*[op if k == qubit else I2 for k in range(n)])


def cnot(control, target, n):
    p0, p1 = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    return kron(*[p0 if k == control else I2 for k in range(n)]) + \
        kron(*[p1 if k == control else (X if k == target else I2) for k in range(n)])


def werner(w):
    return w * np.outer(PHI_PLUS, PHI_PLUS.conj()) + (1.0 - w) * np.eye(4) / 4.0


def fidelity_phi_plus(rho2):
    return float(np.real(PHI_PLUS.conj() @ rho2 @ PHI_PLUS))


def depolarize(rho, qubits, p, n):
    """(1-p)ρ + p/(4^m - 1) Σ_{P≠I} PρP on ``qubits`` (m = 1 or 2; Nielsen & Chuang eq. 8.102 form)."""
    m = len(qubits)
    out = (1.0 - p) * rho
    for labels in itertools.product(range(4), repeat=m):
        if all(lab == 0 for lab in labels):
            continue
        op = np.eye(2 ** n, dtype=complex)
        for q, lab in zip(qubits, labels):
            op = op @ on(PAULIS[lab], q, n)
        out = out + p / (4 ** m - 1) * op @ rho @ op.conj().T
    return out


def t1_t2(rho, qubit, n, t_s, t1_s, t2_s):
    """Amplitude damping γ = 1 - e^(-t/T1) then pure dephasing so that coherences decay as e^(-t/T2).

    Nielsen & Chuang, Sec. 8.3.5-8.3.6: K0 = diag(1, √(1-γ)), K1 = √γ|0⟩⟨1|; the dephasing factor left after
    damping is e^(-t/T2)/√(1-γ) (T2 <= 2 T1).
    """
    gamma = 0.0 if math.isinf(t1_s) else 1.0 - math.exp(-t_s / t1_s)
    k0 = on(np.diag([1.0, math.sqrt(1.0 - gamma)]), qubit, n)
    k1 = on(np.array([[0.0, math.sqrt(gamma)], [0.0, 0.0]]), qubit, n)
    rho = k0 @ rho @ k0.conj().T + k1 @ rho @ k1.conj().T
    coherence = 1.0 if math.isinf(t2_s) else math.exp(-t_s / t2_s)
    left = coherence / math.sqrt(1.0 - gamma) if gamma < 1.0 else 0.0
    lam = (1.0 - left) / 2.0  # Z with probability lam multiplies coherences by 1 - 2 lam
    zq = on(Z, qubit, n)
    return (1.0 - lam) * rho + lam * zq @ rho @ zq


def project(rho, qubit, bit, n):
    p = on(np.diag([1.0 - bit, float(bit)]), qubit, n)
    return p @ rho @ p


def partial_trace_keep(rho, keep, n):
    """Reduced density matrix of qubits ``keep`` (in that order)."""
    t = rho.reshape([2] * (2 * n))
    drop = [q for q in range(n) if q not in keep]
    for count, q in enumerate(sorted(drop, reverse=True)):
        m = n - count
        t = np.trace(t, axis1=q, axis2=q + m)
    m = len(keep)
    remaining = [q for q in range(n) if q in keep]
    order = [remaining.index(q) for q in keep]
    t = t.transpose(order + [m + i for i in order])
    return t.reshape(2 ** m, 2 ** m)


def swap_average_state(rho1, rho2, *, p2=0.0, p1=0.0, pm=0.0):
    """Average state of (A, B) after a Bell measurement at R on pairs (A, R1) and (R2, B), with corrections.

    CNOT(R1→R2), two-qubit depolarising p2 on (R1, R2), H(R1), depolarising p1 on R1; R1 and R2 measured in Z,
    each reported bit flipped with pm; B applies X^(bit of R2) then Z^(bit of R1), each applied gate followed
    by depolarising p1 (Żukowski et al., PRL 71, 4287 (1993); gate noise as in Dür & Briegel, Rep. Prog.
    Phys. 70, 1381 (2007), Sec. 5).
    """
    n = 4  # A, R1, R2, B
    rho = np.kron(rho1, rho2)
    rho = cnot(1, 2, n) @ rho @ cnot(1, 2, n).conj().T
    if p2:
        rho = depolarize(rho, [1, 2], p2, n)
    rho = on(H, 1, n) @ rho @ on(H, 1, n)
    if p1:
        rho = depolarize(rho, [1], p1, n)
    out = np.zeros((4, 4), dtype=complex)
    for m1, m2 in itertools.product((0, 1), repeat=2):
        branch = project(project(rho, 1, m1, n), 2, m2, n)
        ab = partial_trace_keep(branch, [0, 3], n)
        for f1, f2 in itertools.product((0, 1), repeat=2):
            weight = (pm if f1 else 1.0 - pm) * (pm if f2 else 1.0 - pm)
            if weight == 0.0:
                continue
            r1, r2 = m1 ^ f1, m2 ^ f2
            state = ab
            if r2:
                state = np.kron(I2, X) @ state @ np.kron(I2, X)
                if p1:
                    state = depolarize(state, [1], p1, 2)
            if r1:
                state = np.kron(I2, Z) @ state @ np.kron(I2, Z)
                if p1:
                    state = depolarize(state, [1], p1, 2)
            out += weight * state
    return out


def rx(theta):
    return math.cos(theta / 2) * I2 - 1j * math.sin(theta / 2) * X


def purify_round(rho_kept, rho_spare, variant, *, p2=0.0, p1=0.0, pm=0.0):
    """One recurrence round on pairs (A1, B1) kept and (A2, B2) sacrificed: (success probability, kept state).

    ``"dejmps"``: Rx(π/2) on A's qubits, Rx(-π/2) on B's, then the bilateral CNOT (Deutsch et al., PRL 77,
    2818 (1996)); ``"bbpssw"``: the bilateral CNOT alone on already-Werner inputs (Bennett et al., PRL 76, 722
    (1996)), whose twirl rotations each carry depolarising p1. Each side then measures its sacrificed qubit in Z (bits flipped with pm); success when the
    reported bits agree. Depolarising p1 after each rotation, p2 after each CNOT.
    """
    n = 4  # A1, B1, A2, B2
    rho = np.kron(rho_kept, rho_spare)
    if variant == "bbpssw" and p1:  # the twirl's rotations carry the one-qubit error (a Werner pair stays one)
        for q in range(n):
            rho = depolarize(rho, [q], p1, n)
    if variant == "dejmps":
        for q, angle in ((0, math.pi / 2), (2, math.pi / 2), (1, -math.pi / 2), (3, -math.pi / 2)):
            u = on(rx(angle), q, n)
            rho = u @ rho @ u.conj().T
            if p1:
                rho = depolarize(rho, [q], p1, n)
    for c, t in ((0, 2), (1, 3)):
        g = cnot(c, t, n)
        rho = g @ rho @ g.conj().T
        if p2:
            rho = depolarize(rho, [c, t], p2, n)
    kept = np.zeros((4, 4), dtype=complex)
    for ma, mb in itertools.product((0, 1), repeat=2):
        branch = partial_trace_keep(project(project(rho, 2, ma, n), 3, mb, n), [0, 1], n)
        # the reported bits agree: both true or both flipped when the outcomes agree, one flipped when not
        agree = (1.0 - pm) ** 2 + pm ** 2 if ma == mb else 2.0 * pm * (1.0 - pm)
        kept += agree * branch
    p = float(np.real(np.trace(kept)))
    return p, kept / p


def bbpssw_werner(f):
    """Bennett et al. 1996 / Dür & Briegel 2007 eq. (17): (p, F') for two Werner pairs of fidelity F."""
    g = (1.0 - f) / 3.0
    p = f * f + 2.0 * f * g + 5.0 * g * g
    return p, (f * f + g * g) / p


def dejmps_bell_diagonal(a, b, c, d):
    """Deutsch et al. 1996: weights (A, B, C, D) of (Φ+, Ψ−, Ψ+, Φ−) → (N, A', B', C', D')."""
    n = (a + b) ** 2 + (c + d) ** 2
    return n, (a * a + b * b) / n, 2 * c * d / n, (c * c + d * d) / n, 2 * a * b / n


# --------------------------------------------------------------------------- heralded entanglement, optics

def _beam_splitter_round(n_a, n_b):
    """Output Fock amplitudes {(n_c, n_d): amp} of a†→(c†+d†)/√2, b†→(c†−d†)/√2 on |n_a, n_b⟩ (n <= 1)."""
    s = 1.0 / math.sqrt(2.0)
    if (n_a, n_b) == (0, 0):
        return {(0, 0): 1.0}
    if (n_a, n_b) == (1, 0):
        return {(1, 0): s, (0, 1): s}
    if (n_a, n_b) == (0, 1):
        return {(1, 0): s, (0, 1): -s}
    # a†b†|0⟩ = (c†² − d†²)/2 |0⟩ = (√2|2,0⟩ − √2|0,2⟩)/2
    return {(2, 0): s, (0, 2): -s}


def _click_probability(n_photons, clicks, p_dark):
    """Threshold detector: P(click) = 1 - (1 - p_d)·[n = 0]."""
    p_click = 1.0 - (1.0 - p_dark) * (1.0 if n_photons == 0 else 0.0)
    return p_click if clicks else 1.0 - p_click


def heralded_pair_optics(scheme, eta, p_dark, alpha=0.1):
    """(P_herald, ρ_AB) from photon-number optics, big-endian (A, B), target |Φ+⟩ after corrections.

    ``"single_click"`` (Cabrillo et al. 1999; Humphreys et al., Nature 558, 268 (2018)): each spin
    √(1-α)|0⟩|0_ph⟩ + √α|1⟩|1_ph⟩, loss as amplitude damping of the photon number (√η), one 50:50 beam
    splitter, herald = exactly one of two threshold detectors clicks (dark count p_d each); Z on A when d
    clicked, then X on B (Ψ+ → Φ+). ``"double_click"`` (Barrett & Kok, PRA 71, 060310 (2005)): spins
    (|0⟩+|1⟩)/√2, spin s emits in round s+1, a beam splitter per round, herald = exactly one click per
    round; Z on A when the rounds' detectors differ, then X on B.
    """
    if scheme == "single_click":
        modes_per_node = 1
        amp_spin = {0: math.sqrt(1.0 - alpha), 1: math.sqrt(alpha)}
        emit = {0: (0,), 1: (1,)}  # photon number of the node's one mode
    else:
        modes_per_node = 2
        amp_spin = {0: 1 / math.sqrt(2.0), 1: 1 / math.sqrt(2.0)}
        emit = {0: (1, 0), 1: (0, 1)}  # round 1 or round 2
    num_rounds = modes_per_node
    rho = np.zeros((4, 4), dtype=complex)
    # loss branches: each emitted photon survives (√η) or is lost to a distinct environment mode (√(1-η))
    env_branches = {}
    for sa, sb in itertools.product((0, 1), repeat=2):
        photons = [("A", r) for r in range(num_rounds) if emit[sa][r]] + \
                  [("B", r) for r in range(num_rounds) if emit[sb][r]]
        for fates in itertools.product((True, False), repeat=len(photons)):
            amp = amp_spin[sa] * amp_spin[sb]
            arrived = []
            lost = []
            for ph, ok in zip(photons, fates):
                amp *= math.sqrt(eta) if ok else math.sqrt(1.0 - eta)
                (arrived if ok else lost).append(ph)
            if amp == 0.0:
                continue
            # the environment's record: which node lost a photon in which round
            env = tuple(sorted(lost))
            # output Fock amplitudes, per round
            per_round = []
            for r in range(num_rounds):
                n_a = int(("A", r) in arrived)
                n_b = int(("B", r) in arrived)
                per_round.append(_beam_splitter_round(n_a, n_b))
            for outs in itertools.product(*[list(d.items()) for d in per_round]):
                fock = tuple(o[0] for o in outs)
                a = amp * np.prod([o[1] for o in outs])
                key = (env, fock)
                vec = env_branches.setdefault(key, np.zeros(4, dtype=complex))
                vec[2 * sa + sb] += a
    corr_z = np.kron(Z, I2)
    corr_x = np.kron(I2, X)
    for (env, fock), vec in env_branches.items():
        # herald patterns: in each round exactly one of (c, d) clicks
        for pattern in itertools.product(("c", "d"), repeat=num_rounds):
            weight = 1.0
            for r, which in enumerate(pattern):
                n_c, n_d = fock[r]
                weight *= _click_probability(n_c, which == "c", p_dark)
                weight *= _click_probability(n_d, which == "d", p_dark)
            if weight == 0.0:
                continue
            v = vec.copy()
            flip = (pattern[0] == "d") if num_rounds == 1 else (pattern[0] != pattern[1])
            if flip:
                v = corr_z @ v
            v = corr_x @ v
            rho += weight * np.outer(v, v.conj())
    total = float(np.real(np.trace(rho)))
    return total, rho / total


def big_to_little_endian_pair(rho):
    """Reorder a two-qubit matrix from big-endian (A is bit 1) to dqsim's little-endian (A is bit 0)."""
    perm = [0, 2, 1, 3]
    return rho[np.ix_(perm, perm)]


# --------------------------------------------------------------------------- waiting times

def restart_free_probability(p, m):
    """P(|N1 − N2| <= m) for independent geometric N1, N2 of success probability p.

    P(N1 = N2) = p/(2 − p), P(|N1 − N2| = j) = 2p(1 − p)^j/(2 − p) for j >= 1.
    """
    return (p + 2.0 * (1.0 - p) * (1.0 - (1.0 - p) ** m)) / (2.0 - p)


# --------------------------------------------------------------------------- QKD

def h2(x):
    return 0.0 if x <= 0.0 or x >= 1.0 else -x * math.log2(x) - (1 - x) * math.log2(1 - x)


def bb84_receiver(mu, eta, p_b, e_d):
    """(Q_μ, E_μ Q_μ) of two threshold detectors, double clicks a random bit (own derivation).

    Right detector: Poisson mean η μ (1 − e_d) plus dark p_b; wrong: η μ e_d plus dark p_b.
    """
    c = 1.0 - (1.0 - p_b) * math.exp(-eta * mu * (1.0 - e_d))
    w = 1.0 - (1.0 - p_b) * math.exp(-eta * mu * e_d)
    q = 1.0 - (1.0 - c) * (1.0 - w)
    return q, (1.0 - c) * w + 0.5 * c * w


def ma2005_y1_e1(mu, nu, q_mu, q_nu, e_nu, y0):
    """Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), eqs. (34) and (37), e0 = 1/2."""
    y1 = mu / (mu * nu - nu * nu) * (q_nu * math.exp(nu) - q_mu * math.exp(mu) * nu ** 2 / mu ** 2
                                     - (mu ** 2 - nu ** 2) / mu ** 2 * y0)
    e1 = (e_nu * q_nu * math.exp(nu) - 0.5 * y0) / (y1 * nu)
    return y1, e1


def lim2014_length(mu, p, nx, nz, mz, leak, eps_sec, eps_cor):
    """Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), eqs. (1)-(5), written out again."""
    mu1, mu2, mu3 = mu
    e1 = eps_sec / 21.0

    def dev(n):
        return math.sqrt(n / 2.0 * math.log(1.0 / e1))

    def bounds(counts):
        tot = sum(counts)
        d = dev(tot)
        npl = [math.exp(k) / pk * (c + d) for k, pk, c in zip(mu, p, counts)]
        nmi = [math.exp(k) / pk * (c - d) for k, pk, c in zip(mu, p, counts)]
        t0 = sum(pk * math.exp(-k) for k, pk in zip(mu, p))
        t1 = sum(pk * math.exp(-k) * k for k, pk in zip(mu, p))
        s0 = max(0.0, t0 * (mu2 * nmi[2] - mu3 * npl[1]) / (mu2 - mu3))
        s1 = t1 * mu1 * (nmi[1] - npl[2] - (mu2 ** 2 - mu3 ** 2) / mu1 ** 2 * (npl[0] - s0 / t0)) / \
            (mu1 * (mu2 - mu3) - mu2 ** 2 + mu3 ** 2)
        return s0, max(0.0, s1), t1

    sx0, sx1, t1 = bounds(nx)
    _, sz1, _ = bounds(nz)
    dm = dev(sum(mz))
    v = t1 * (math.exp(mu2) / p[1] * (mz[1] + dm) - math.exp(mu3) / p[2] * (mz[2] - dm)) / (mu2 - mu3)
    b = v / sz1
    gam = math.sqrt((sz1 + sx1) * (1 - b) * b / (sz1 * sx1 * math.log(2)) *
                    math.log2((sz1 + sx1) / (sz1 * sx1 * (1 - b) * b) * 21 ** 2 / eps_sec ** 2))
    phi = min(0.5, b + gam)
    return sx0 + sx1 * (1 - h2(phi)) - leak - 6 * math.log2(21 / eps_sec) - math.log2(2 / eps_cor)


def ma_fung_lo_2007(lam, eta_a, eta_b, e_d=0.0, y0_a=0.0, y0_b=0.0):
    """(Q_λ, E_λ) of a polarisation-entangled PDC source (two-mode squeezed vacuum, λ = half the mean pair number).

    X. Ma, C.-H. F. Fung, H.-K. Lo, PRA 76, 012307 (2007), gain and QBER of the coincidences in matched bases:
    Q = 1 − (1−Y0A)/(1+ηAλ)² − (1−Y0B)/(1+ηBλ)² + (1−Y0A)(1−Y0B)/(1+ηAλ+ηBλ−ηAηBλ)²,
    E·Q = Q/2 − 2(1/2 − e_d)·ηAηBλ(1+λ)/[(1+ηAλ)(1+ηBλ)(1+ηAλ+ηBλ−ηAηBλ)].
    """
    joint = 1 + eta_a * lam + eta_b * lam - eta_a * eta_b * lam
    q = 1 - (1 - y0_a) / (1 + eta_a * lam) ** 2 - (1 - y0_b) / (1 + eta_b * lam) ** 2 + \
        (1 - y0_a) * (1 - y0_b) / joint ** 2
    eq = 0.5 * q - 2 * (0.5 - e_d) * eta_a * eta_b * lam * (1 + lam) / ((1 + eta_a * lam) * (1 + eta_b * lam) * joint)
    return q, eq / q


def two_thermal_modes(lam, p_a, p_b):
    """(coincidence probability, QBER) in matched bases of two independent thermal modes of mean λ each
    (|00⟩ pairs and |11⟩ pairs), photons detected independently with p_a, p_b, threshold detectors, double
    clicks a random bit: the two-mode squeezed vacuum counted directly, no dark counts."""
    silent_both = 1 / (1 + lam * (1 - (1 - p_a) * (1 - p_b)))
    silent_a, silent_b = 1 / (1 + lam * p_a), 1 / (1 + lam * p_b)
    mode = {(0, 0): silent_both, (0, 1): silent_a - silent_both, (1, 0): silent_b - silent_both,
            (1, 1): 1 - silent_a - silent_b + silent_both}  # (A's detector fires, B's detector fires)
    coincidence = errors = 0.0
    for (a0, b0), (a1, b1) in itertools.product(mode, mode):
        prob = mode[(a0, b0)] * mode[(a1, b1)]
        alice = [k for k, f in ((0, a0), (1, a1)) if f]
        bob = [k for k, f in ((0, b0), (1, b1)) if f]
        if not alice or not bob:
            continue
        a_one = 0.5 if len(alice) == 2 else alice[0]
        b_one = 0.5 if len(bob) == 2 else bob[0]
        coincidence += prob
        errors += prob * (a_one * (1 - b_one) + (1 - a_one) * b_one)
    return coincidence, errors / coincidence


# --------------------------------------------------------------------------- SPDC source in Fock space
def _fock_pairs(max_total):
    """Basis (n_0, n_1), n_0 + n_1 <= max_total, of two modes, its index, and their annihilation matrices."""
    states = [(n0, n1) for n0 in range(max_total + 1) for n1 in range(max_total + 1 - n0)]
    index = {s: i for i, s in enumerate(states)}
    a0, a1 = np.zeros((len(states),) * 2), np.zeros((len(states),) * 2)
    for i, (n0, n1) in enumerate(states):
        if n0:
            a0[index[(n0 - 1, n1)], i] = math.sqrt(n0)
        if n1:
            a1[index[(n0, n1 - 1)], i] = math.sqrt(n1)
    return states, index, a0, a1


def _polarisation_rotation(a0, a1, bloch_angle):
    """exp((θ/2)(a0†a1 - a1†a0)): a polariser turned by θ/2 (Bloch angle θ), exact on each photon-number
    sector (the generator keeps n_0 + n_1)."""
    generator = a0.T @ a1 - a1.T @ a0
    w, v = np.linalg.eigh(1j * generator)
    return (v @ np.diag(np.exp(-1j * w * bloch_angle / 2)) @ v.conj().T).real


def _mode_loss(op, lower, t):
    """Heisenberg picture of loss (transmittance t) on one mode: Σ_l A_l† op A_l, A_l = Σ_n √(C(n,l) t^(n-l)
    (1-t)^l) |n-l⟩⟨n| built from the mode's annihilation matrix ``lower`` (its number operator is diagonal)."""
    numbers = np.rint(np.diag(lower.T @ lower)).astype(int)
    out = np.zeros_like(op)
    kraus = np.eye(len(op))
    for l in range(numbers.max() + 1):
        scale = np.array([math.sqrt(math.comb(n, l) * t ** (n - l) * (1 - t) ** l / max(math.perm(n, l), 1))
                          if n >= l else 0.0 for n in numbers])
        # A_l = lower^l·diag(scale) has one entry per column: (A_l† op A_l)[i, j] = v_i v_j op[row_i, row_j]
        rows = np.argmax(np.abs(kraus), axis=0)
        v = kraus[rows, np.arange(len(op))] * scale
        out += np.outer(v, v) * op[np.ix_(rows, rows)]
        kraus = lower @ kraus
    return out


def _threshold_patterns(k0, k1, wrong, dark):
    """Probabilities of (none, only detector 0, only detector 1, both) when k0 photons leave the analyser in
    mode 0 and k1 in mode 1, each going to the other mode's detector with probability ``wrong``, then dark
    counts ``dark`` per detector: counted photon by photon."""
    out = np.zeros(4)
    for r0 in range(k0 + 1):
        for r1 in range(k1 + 1):
            weight = math.comb(k0, r0) * wrong ** r0 * (1 - wrong) ** (k0 - r0) * \
                math.comb(k1, r1) * wrong ** r1 * (1 - wrong) ** (k1 - r1)
            det0, det1 = (k0 - r0) + r1, r0 + (k1 - r1)
            for dark0, dark1 in itertools.product((0, 1), repeat=2):
                p = weight * (dark if dark0 else 1 - dark) * (dark if dark1 else 1 - dark)
                fire0, fire1 = bool(det0 or dark0), bool(det1 or dark1)
                out[2 * fire1 + fire0] += p
    return out  # index 0 none, 1 only 0, 2 only 1, 3 both


def spdc_fock_patterns(lam, t_a, t_b, alpha, beta, *, wrong_a=0.0, wrong_b=0.0, dark_a=0.0, dark_b=0.0,
                       cutoff=8):
    """P[alice_pattern, bob_pattern] of a polarisation-entangled SPDC source in Fock space (patterns: 0 none,
    1 only detector 0, 2 only detector 1, 3 both).

    State: Σ_n (tanh r)^n/cosh² r ... the product of two two-mode squeezed vacua, H pairs and V pairs, each
    with P(n) = λ^n/(1+λ)^(n+1), n <= cutoff (X. Ma, C.-H. F. Fung, H.-K. Lo, PRA 76, 012307 (2007), eq. (1)),
    written in the H/V modes of both sides. Each side: loss t on each mode (Kraus operators), a polarising
    beam splitter at Bloch angle α (Alice) or β (Bob) built as a unitary on the truncated Fock space, threshold
    detectors whose photons go to the other detector with probability wrong_*, dark counts dark_*. The
    probabilities are ⟨ψ|Π_a ⊗ Π_b|ψ⟩ with the POVMs taken back through the analyser and the loss."""
    states, index, a0, a1 = _fock_pairs(2 * cutoff)
    q = lam / (1 + lam)
    psi = np.zeros((len(states), len(states)))
    for n0, n1 in itertools.product(range(cutoff + 1), repeat=2):
        psi[index[(n0, n1)], index[(n0, n1)]] = math.sqrt((1 - q) ** 2 * q ** (n0 + n1))

    def povms(t, angle, wrong, dark):
        u = _polarisation_rotation(a0, a1, angle)
        diag = np.array([_threshold_patterns(k0, k1, wrong, dark) for k0, k1 in states])
        return [_mode_loss(_mode_loss(u.T @ np.diag(diag[:, pattern]) @ u, a0, t), a1, t) for pattern in range(4)]

    alice, bob = povms(t_a, alpha, wrong_a, dark_a), povms(t_b, beta, wrong_b, dark_b)
    return np.array([[np.trace(psi.T @ pa @ psi @ pb.T) for pb in bob] for pa in alice])


def squashed_coincidences(patterns):
    """(P_c, P_c·Q, E) from P[alice_pattern, bob_pattern]: both sides click, a double click a random bit,
    Q the probability that the bits differ, E = 1 - 2Q the correlator of the coincidences."""
    bit_one = {1: 0.0, 2: 1.0, 3: 0.5}
    p_c = sum(patterns[a, b] for a in (1, 2, 3) for b in (1, 2, 3))
    err = sum(patterns[a, b] * (bit_one[a] * (1 - bit_one[b]) + (1 - bit_one[a]) * bit_one[b])
              for a in (1, 2, 3) for b in (1, 2, 3))
    return p_c, err, 1 - 2 * err / p_c
