"""The physics audit of distributed computing, 2026-12-06 (docs/physics-audit-dqc-20261206.md): dqsim's
TeleGate/TeleData, distributed circuits, Trotter evolution, ``[noise]`` channels and the cloud queue against
references computed independently in tests/physics_audit_dqc_reference.py (no dqsim import there) or by qiskit.

Exact figures must agree to 1e-10; sampled ones within NUM_STANDARD_ERRORS standard errors of the mean, or a
χ² below its 0.999 quantile (fixed seeds). Every test takes under 2 s on one core.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

import physics_audit_dqc_reference as ref
from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit.hamiltonians import SpinModel, hamiltonian_matrix, trotter_circuit
from dqsim.circuit.ir import Circuit
from dqsim.circuit.qasm import load_qasm
from dqsim.jobs import load_job_text
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios import registry
from dqsim.scenarios.cloud_scheduler import Centre, QueuedJob, queue_metrics, simulate_queue
from dqsim.scenarios.dqc import run_dqc
from conftest import TEST_BACKEND

NUM_STANDARD_ERRORS = 3.0
EXACT = 1e-10
CHI2_QUANTILE = 0.999
BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")
GATES = {"h": ref.H, "x": ref.X, "cx": ref.CNOT, "cz": ref.controlled(ref.Z)}


def assert_mean(samples, expected, what):
    samples = np.asarray(samples, dtype=float)
    se = samples.std(ddof=1) / math.sqrt(len(samples))
    assert abs(samples.mean() - expected) <= NUM_STANDARD_ERRORS * se + EXACT, (what, samples.mean(), expected, se)


def two_qpus(fidelity=1.0, *, data=1, **node):
    """Two QPUs, one 1 km direct link that always succeeds (no loss), Werner pairs of ``fidelity``.

    Returns the network and the link delay d in seconds.
    """
    link = LinkSpec(distance_km=1.0, scheme="direct", source_fidelity=fidelity, dark_count_rate_hz=0.0,
                    attenuation_db_per_km=0.0, detector_efficiency=1.0)
    graph = topology.line(2, link=link)
    specs = [NodeSpec(name=n, num_data_qubits=data, num_comm_qubits=2, **node) for n in graph.nodes]
    return Network(graph, specs), link.delay_ps * 1e-12


def fidelities(circuit, network, assignment, scheme, runs, seed0=0):
    """dqsim's fidelity to the ideal state, one engine run (trajectory) per seed."""
    return [run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, scheme=scheme,
                    assignment=assignment, seed=seed0 + s, shots=1, timeline=False).fidelity for s in range(runs)]


# ----------------------------------------------------------------- the references themselves

@pytest.mark.parametrize("pair_fidelity", [1.0, 0.9, 0.6])
def test_reference_telegate_is_a_depolarised_cnot(pair_fidelity):
    """The density-matrix TeleGate with a Werner pair equals its closed form on random inputs, and its process
    fidelity is the pair's fidelity F (average gate fidelity (4F + 1)/5)."""
    rng = np.random.default_rng(5)
    for _ in range(3):
        psi = rng.normal(size=4) + 1j * rng.normal(size=4)
        psi /= np.linalg.norm(psi)
        out = ref.telegate(np.outer(psi, psi.conj()), ref.X, ref.werner(pair_fidelity))
        assert ref.fidelity(out, ref.CNOT @ psi) == pytest.approx(
            ref.telegate_cnot_state_fidelity(ref.CNOT @ psi, pair_fidelity), abs=EXACT)
    # process fidelity on the Choi state of (r0 c)(t r1): qubits r0, c, t, r1
    choi = np.kron(ref.PHI_PLUS, ref.PHI_PLUS)
    n = 6
    rho = np.kron(np.outer(choi, choi.conj()), ref.werner(pair_fidelity))
    rho = ref.apply(rho, ref.CNOT, [1, 4], n)
    rho = ref.measure_and_correct(rho, 4, (ref.P0, ref.P1), (None, (ref.X, [5])), n)
    rho = ref.apply(rho, ref.CNOT, [5, 2], n)
    rho = ref.measure_and_correct(rho, 5, (ref.PLUS, ref.MINUS), (None, (ref.Z, [1])), n)
    ideal = ref.embed(ref.CNOT, [1, 2], 4) @ choi
    process = ref.fidelity(ref.partial_trace_keep(rho, [0, 1, 2, 3], n), ideal)
    assert process == pytest.approx(pair_fidelity, abs=EXACT)
    assert ref.average_gate_fidelity(process, 4) == pytest.approx((4 * pair_fidelity + 1) / 5, abs=EXACT)


def test_reference_teleportation_is_a_depolarising_channel():
    """Teleporting through a Werner pair of parameter w = (4F − 1)/3 is ρ → wρ + (1 − w)1/2 (Horodecki et al.,
    PRA 60, 1888 (1999)): average fidelity (2F + 1)/3."""
    rho = np.array([[0.3, 0.2 - 0.1j], [0.2 + 0.1j, 0.7]])
    for f in (1.0, 0.85, 0.5):
        w = (4 * f - 1) / 3
        assert np.allclose(ref.teleport(rho, ref.werner(f)), w * rho + (1 - w) * np.eye(2) / 2, atol=EXACT)


# ----------------------------------------------------------------- TeleGate / TeleData with Werner pairs

CHOI = Circuit(4, 0).gate("h", 0).gate("cx", 0, 1).gate("h", 3).gate("cx", 3, 2)


@pytest.mark.parametrize("pair_fidelity,seed0", [(0.8, 0), (0.55, 1000)])
def test_telegate_process_fidelity_is_the_pair_fidelity(pair_fidelity, seed0):
    """A remote CNOT on the Choi state (r0 c on QPU 0, t r1 on QPU 1): dqsim's fidelity to the ideal state is
    the process fidelity, F for a Werner pair (each trajectory gives 0 or 1: a binomial mean)."""
    network, _ = two_qpus(pair_fidelity, data=2)
    circuit = Circuit(4, 0)
    for instruction in CHOI:
        circuit.append(instruction)
    circuit.gate("cx", 1, 2)
    values = fidelities(circuit, network, [0, 0, 1, 1], "telegate", 120, seed0)
    assert set(np.round(values, 9)) <= {0.0, 1.0}
    assert_mean(values, pair_fidelity, "process fidelity")


def _product_input():
    """ry/rz-prepared product state on (c, t): the dqsim gates and the reference's matrices."""
    gates = [("ry", 0, 0.7), ("rz", 0, 0.3), ("ry", 1, 1.9), ("rz", 1, -0.4)]
    circuit = Circuit(2, 0)
    mats = []
    for name, q, angle in gates:
        circuit.gate(name, q, params=[angle])
        mats.append(((ref.ry if name == "ry" else ref.rz)(angle), [q]))
    return circuit, ref.statevector(2, mats)


@pytest.mark.parametrize("scheme,gate,pair_fidelity,seed0", [
    ("telegate", "cp", 0.7, 0), ("teledata", "cx", 0.8, 0), ("teledata", "cp", 0.9, 500)])
def test_remote_gate_state_fidelity_against_the_density_matrix(scheme, gate, pair_fidelity, seed0):
    """Remote cx / cp(1.3) on a product input, Werner pairs: mean fidelity against the density-matrix protocol
    (TeleGate: Eisert et al. 2000; TeleData: teleport out, gate, teleport back, two pairs)."""
    network, _ = two_qpus(pair_fidelity)
    circuit, psi = _product_input()
    phi = 1.3
    u = ref.X if gate == "cx" else np.diag([1.0, np.exp(1j * phi)])
    circuit.gate(gate, 0, 1, params=[phi] if gate == "cp" else [])
    rho = np.outer(psi, psi.conj())
    pair = ref.werner(pair_fidelity)
    out = ref.telegate(rho, u, pair) if scheme == "telegate" else ref.teledata(rho, u, pair, pair)
    expected = ref.fidelity(out, ref.controlled(u) @ psi)
    assert expected < 0.97  # the noise is visible
    assert_mean(fidelities(circuit, network, [0, 1], scheme, 150, seed0), expected, f"{scheme} {gate}")


def test_telegate_with_memory_decoherence_while_waiting():
    """Choi-state TeleGate over a direct link with T1 = 100 µs, T2 = 60 µs on both QPUs (d = link delay):
    handshake 2d, emission at 2d (a from 2d, b from the photon's arrival 3d), herald/acknowledgment 4d, m1 at
    B 5d, m2 at A 6d. Each qubit idles (amplitude damping, then dephasing to e^(−t/T2)) between its touches:
    c 4d then 2d, t 5d then d, a 2d, b 2d, the references r0, r1 6d."""
    t1, t2, f = 100e-6, 60e-6, 0.95
    network, d = two_qpus(f, data=2, t1_s=t1, t2_s=t2)
    circuit = Circuit(4, 0)
    for instruction in CHOI:
        circuit.append(instruction)
    circuit.gate("cx", 1, 2)
    n = 6  # r0, c, t, r1, a, b
    choi = np.kron(ref.PHI_PLUS, ref.PHI_PLUS)
    rho = np.kron(np.outer(choi, choi.conj()), ref.werner(f))
    for q, t in ((1, 4 * d), (4, 2 * d), (5, 2 * d), (2, 5 * d)):
        rho = ref.channel_on(rho, q, n, ref.idle_channel(t, t1, t2))
    rho = ref.apply(rho, ref.CNOT, [1, 4], n)
    rho = ref.measure_and_correct(rho, 4, (ref.P0, ref.P1), (None, (ref.X, [5])), n)
    rho = ref.apply(rho, ref.CNOT, [5, 2], n)
    rho = ref.measure_and_correct(rho, 5, (ref.PLUS, ref.MINUS), (None, (ref.Z, [1])), n)
    for q, t in ((1, 2 * d), (2, d), (0, 6 * d), (3, 6 * d)):
        rho = ref.channel_on(rho, q, n, ref.idle_channel(t, t1, t2))
    expected = ref.fidelity(ref.partial_trace_keep(rho, [0, 1, 2, 3], n), ref.embed(ref.CNOT, [1, 2], 4) @ choi)
    run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, assignment=[0, 0, 1, 1],
                  seed=0, shots=1)
    assert run.end_time_ps == 6 * round(d * 1e12)  # the timeline above
    assert expected < f - 0.05  # decoherence is visible
    assert_mean(fidelities(circuit, network, [0, 0, 1, 1], "telegate", 100), expected, "decohered process fidelity")


# ----------------------------------------------------------------- partitioned circuits

def _qiskit_random(num_qubits, depth, seed):
    qiskit = pytest.importorskip("qiskit")
    from qiskit.circuit.random import random_circuit
    from qiskit.quantum_info import Statevector
    qc = random_circuit(num_qubits, depth, max_operands=2, seed=seed)
    qc = qiskit.transpile(qc, basis_gates=["u3", "cx", "cz", "cp", "rzz", "swap", "h", "ry"], optimization_level=0,
                          seed_transpiler=seed)
    return qiskit.qasm2.dumps(qc), Statevector(qc).data  # qiskit: qubit 0 least significant, as dqsim


def _logical_state(run):
    """The data qubits' state in logical order (communication scratch bits must be |0⟩)."""
    register = run.state.gather()
    n = len(run.regmap.qubit_of_logical)
    index = np.zeros(1 << n, dtype=np.int64)
    for site, qubit in enumerate(run.regmap.qubit_of_logical):
        index |= ((np.arange(1 << n) >> site) & 1) << qubit
    return register[index]


@pytest.mark.parametrize("num_qpus,scheme,seed", [(2, "telegate", 11), (3, "teledata", 12), (4, "telegate", 13)])
def test_partitioned_qiskit_circuit_final_state_and_born_sampling(num_qpus, scheme, seed):
    """A qiskit random circuit (QASM 2 export, transpiled to u3/cx/cz/cp/rzz/swap) split over QPUs on an ideal
    line: the final data state equals qiskit's Statevector up to a global phase (1e-10), and 4000 terminal
    samples pass Pearson's χ² against the Born probabilities."""
    num_qubits = 2 * num_qpus
    text, psi = _qiskit_random(num_qubits, 4, seed)
    circuit = load_qasm(text)
    graph = topology.line(num_qpus, link=LinkSpec(distance_km=1.0))
    specs = [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=2) for n in graph.nodes]
    run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                  scheme=scheme, seed=seed, shots=0, timeline=False)
    assert run.num_nonlocal_gates > 0
    state = _logical_state(run)
    phase = np.vdot(psi, state)  # QASM 2 cannot carry the transpiled circuit's global phase
    assert abs(phase) == pytest.approx(1.0, abs=EXACT)
    np.testing.assert_allclose(state, phase * psi, atol=EXACT)
    measured = load_qasm(text)
    measured.measure_all()
    shots = 4000
    run = run_dqc(measured, comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                  scheme=scheme, seed=seed, shots=shots, timeline=False)
    probs = {format(i, f"0{num_qubits}b"): float(abs(a) ** 2) for i, a in enumerate(psi)}
    counts = {k[-num_qubits:]: v for k, v in run.counts.items()}
    stat, dof = ref.chi_square(counts, probs, shots)
    assert stat < scipy.stats.chi2.ppf(CHI2_QUANTILE, dof), (stat, dof)


def test_feed_forward_teleportation_statistics():
    """Dynamic circuit (measurements, `if` corrections on another QPU): c0, c1 uniform and independent,
    P(c2 = 1) = sin²(θ/2) whatever they read (Bennett et al. 1993). 240 shots, χ² over the 8 outcomes."""
    theta = 1.1
    text = ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nbit[3] c;\n'
            f'ry({theta}) q[0];\nh q[1];\ncx q[1], q[2];\ncx q[0], q[1];\nh q[0];\n'
            'c[0] = measure q[0];\nc[1] = measure q[1];\nif (c[1] == 1) { x q[2]; }\nif (c[0] == 1) { z q[2]; }\n'
            'c[2] = measure q[2];\n')
    circuit = load_qasm(text)
    graph = topology.line(3, link=LinkSpec(distance_km=1.0))
    network = Network(graph, [NodeSpec(name=n, num_data_qubits=1, num_comm_qubits=2) for n in graph.nodes])
    counts: dict[str, int] = {}
    shots = 240
    for s in range(shots):
        run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, assignment=[0, 1, 2],
                      seed=s, shots=1, timeline=False)
        for k, v in run.counts.items():
            counts[k] = counts.get(k, 0) + v
    p1 = math.sin(theta / 2) ** 2
    probs = {f"{c2}{c1}{c0}": 0.25 * (p1 if c2 else 1 - p1) for c0 in (0, 1) for c1 in (0, 1) for c2 in (0, 1)}
    stat, dof = ref.chi_square(counts, probs, shots)
    assert sum(counts.values()) == shots
    assert stat < scipy.stats.chi2.ppf(CHI2_QUANTILE, dof), (stat, dof, counts)


# ----------------------------------------------------------------- Trotter evolution

def _my_hamiltonian(kind, n, bonds, J, h, delta):
    """H from Kronecker products of Pauli matrices (big-endian), the conventions of dqsim's docs:
    tfim −J Σ ZZ − h Σ X; xxz J Σ (XX + YY + Δ ZZ) + h Σ Z (Pauli matrices, no factor 1/2 per spin)."""
    H = np.zeros((2 ** n, 2 ** n), dtype=complex)
    for i, j in bonds:
        if kind == "tfim":
            H -= J * ref.pauli_string({i: ref.Z, j: ref.Z}, n)
        else:
            H += J * (ref.pauli_string({i: ref.X, j: ref.X}, n) + ref.pauli_string({i: ref.Y, j: ref.Y}, n)
                      + delta * ref.pauli_string({i: ref.Z, j: ref.Z}, n))
    for i in range(n):
        H += (-h if kind == "tfim" else h) * ref.pauli_string({i: ref.X if kind == "tfim" else ref.Z}, n)
    return H


def _gate_matrix(gate):
    name, theta = gate.name, (gate.params[0] if gate.params else None)
    if name == "x":
        return ref.X
    one = {"rx": ref.rx, "rz": ref.rz, "ry": ref.ry}
    if name in one:
        return one[name](theta)
    pauli = {"rxx": ref.X, "ryy": ref.Y, "rzz": ref.Z}[name]
    return ref.scipy.linalg.expm(-0.5j * theta * np.kron(pauli, pauli))


def _run_gates(circuit):
    return ref.statevector(circuit.num_qubits, [(_gate_matrix(g), list(g.qubits)) for g in circuit.gates()])


MODELS = [("tfim", 5, "open", 1.0, 0.7, 1.0, "up"), ("xxz", 4, "periodic", -0.8, 0.3, 0.5, "neel")]


@pytest.mark.parametrize("kind,n,boundary,J,h,delta,initial", MODELS, ids=["tfim", "xxz"])
def test_hamiltonian_and_trotter_error_scaling(kind, n, boundary, J, h, delta, initial):
    """dqsim's Hamiltonian equals the Pauli-matrix sum of its docs; its Trotter circuits, run by the reference's
    own gates, approach expm(−iHt)|ψ0⟩ as O(dt) (order 1) and O(dt²) (order 2): halving dt divides the
    state error by 2 and 4 (within 10 %); errors equal the reference's own Lie–Trotter product."""
    model = SpinModel(kind=kind, num_sites=n, boundary=boundary, J=J, h=h, delta=delta)
    mine = _my_hamiltonian(kind, n, model.bonds(), J, h, delta)
    perm = [int(format(i, f"0{n}b")[::-1], 2) for i in range(2 ** n)]  # big-endian <-> little-endian
    np.testing.assert_allclose(hamiltonian_matrix(model), mine[np.ix_(perm, perm)], atol=EXACT)
    psi0 = np.zeros(2 ** n, dtype=complex)
    psi0[int("".join("1" if (initial == "neel" and q % 2) else "0" for q in range(n)), 2)] = 1.0
    t = 1.0
    exact = ref.exact_evolution(mine, psi0, t)
    for order in (1, 2):
        errors = [np.linalg.norm(_run_gates(trotter_circuit(model, t, steps, order=order, initial=initial))
                                 - exact) for steps in (8, 16)]
        assert errors[0] / errors[1] == pytest.approx(2.0 ** order, rel=0.10), (order, errors)
    # order 1 from the module docstring: groups in order, all of one kind each; equal to e^{-iH_m dt}...e^{-iH_1 dt}
    steps, dt = 4, t / 4
    step = np.eye(2 ** n, dtype=complex)
    for group in model.term_groups():
        Hg = np.zeros_like(mine)
        for c, letters, sites in group:
            Hg += c * ref.pauli_string({s: {"X": ref.X, "Y": ref.Y, "Z": ref.Z}[p] for p, s in zip(letters, sites)},
                                       n)
        step = ref.scipy.linalg.expm(-1j * dt * Hg) @ step
    np.testing.assert_allclose(_run_gates(trotter_circuit(model, t, steps, order=1, initial=initial)),
                               np.linalg.matrix_power(step, steps) @ psi0, atol=EXACT)


def test_trotter_scenario_tables_against_expm():
    """The trotter scenario on a 4-site open TFIM over 2 QPUs (ideal links): its exact column is expm's energy,
    magnetisation (1/N)Σ⟨Z⟩ and Loschmidt echo |⟨ψ0|ψ(t)⟩|², and its networked column the reference's own
    Strang product (order 2)."""
    J, h, n, T = 0.9, 0.6, 4, 1.2
    job = load_job_text(
        '[run]\nname = "a"\nscenario = "trotter"\nseed = 1\n'
        f'[model]\nkind = "tfim"\nnum_sites = {n}\nJ = {J}\nh = {h}\n'
        f'[evolution]\ntotal_time = {T}\nnum_points = 2\nsteps_per_point = 2\norder = 2\nexact = true\n'
        '[network]\ntopology = "line"\nnum_nodes = 2\n[network.link]\ndistance_km = 1.0\n'
        'dark_count_rate_hz = 0.0\n[network.node]\nnum_data_qubits = 2\nnum_comm_qubits = 2\n'
        '[simulation]\nobservables = ["magnetization", "energy", "loschmidt"]\nshots = 0\n')
    out = registry.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    obs = out.tables["observables"]
    model = SpinModel(kind="tfim", num_sites=n, J=J, h=h)
    H = _my_hamiltonian("tfim", n, model.bonds(), J, h, 1.0)
    M = sum(ref.pauli_string({q: ref.Z}, n) for q in range(n)) / n
    psi0 = np.zeros(2 ** n, dtype=complex)
    psi0[0] = 1.0
    for k, t in enumerate((0.0, T / 2, T)):
        exact = ref.exact_evolution(H, psi0, t)
        trot = _run_gates(trotter_circuit(model, t, 2 * k, order=2)) if k else psi0
        values = {"energy": lambda v: np.vdot(v, H @ v).real, "magnetization": lambda v: np.vdot(v, M @ v).real,
                  "loschmidt": lambda v: abs(np.vdot(psi0, v)) ** 2}
        for name, f in values.items():
            row = obs[(np.isclose(obs["time"], t)) & (obs["observable"] == name)]
            assert len(row) == 1
            assert row["exact"][0] == pytest.approx(f(exact), abs=EXACT), (name, t)
            assert row["networked"][0] == pytest.approx(f(trot), abs=EXACT), (name, t)
            assert row["trotter"][0] == pytest.approx(f(trot), abs=EXACT), (name, t)


# ----------------------------------------------------------------- [noise] of the circuit scenario

def test_circuit_noise_channels_against_kraus_maps(tmp_path):
    """x q0; cx q0,q1; measure: depolarising (1q p1, 2q p2), amplitude damping γ on each qubit of a gate, readout
    flips r, against the Kraus maps (Nielsen & Chuang eqs. 8.102, 8.108 and the 15-Pauli two-qubit channel);
    Pearson's χ² over the four outcomes of 600 trajectories."""
    p1, p2, gamma, flip, shots = 0.2, 0.3, 0.15, 0.05, 600
    (tmp_path / "n.qasm").write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nx q[0];\n'
                                     'cx q[0],q[1];\nmeasure q[0] -> c[0];\nmeasure q[1] -> c[1];\n')
    job = load_job_text(f'[run]\nname = "n"\nseed = 3\nscenario = "circuit"\n[circuit]\nqasm = "{tmp_path}/n.qasm"\n'
                        f'[simulation]\nshots = {shots}\n[noise]\ndepolarizing_1q = {p1}\ndepolarizing_2q = {p2}\n'
                        f'amplitude_damping = {gamma}\nreadout_error = {flip}\n')
    table = registry.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND).tables["counts"]
    counts = {str(b): int(c) for b, c in zip(table["bitstring"], table["count"])}
    n = 2
    rho = np.zeros((4, 4), dtype=complex)
    rho[0, 0] = 1.0
    rho = ref.apply(rho, ref.X, [0], n)
    rho = ref.kraus(rho, ref.depolarizing_kraus(p1), [0], n)
    rho = ref.kraus(rho, ref.amplitude_damping_kraus(gamma), [0], n)
    rho = ref.apply(rho, ref.CNOT, [0, 1], n)
    rho = ref.kraus(rho, ref.depolarizing2_kraus(p2), [0, 1], n)
    for q in (0, 1):
        rho = ref.kraus(rho, ref.amplitude_damping_kraus(gamma), [q], n)
    probs = ref.readout_probabilities(rho, n, flip)
    stat, dof = ref.chi_square(counts, probs, shots)
    assert sum(counts.values()) == shots
    assert stat < scipy.stats.chi2.ppf(CHI2_QUANTILE, dof), (stat, dof, counts, probs)
    assert counts.get("11", 0) < 0.8 * shots  # the noise is visible (without it: always 11)


# ----------------------------------------------------------------- the cloud queue

def _one_qpu_queue(submits, service_ps, policy="fifo"):
    centre = Centre.from_edges(1, [], data_qubits=2)
    jobs = [QueuedJob(i, f"j{i}", 1, submit_ps=int(s), estimate_ps=service_ps) for i, s in enumerate(submits)]
    return simulate_queue(jobs, policy, centre, lambda job, qpus: service_ps)


def test_deterministic_queue_waits_makespan_and_utilisation():
    """D/D/1 with arrivals every a < s: job k waits k(s − a); makespan = N s; utilisation 1. With a > s: no
    waits, makespan (N − 1)a + s, utilisation N s / makespan."""
    s, a, num = 1000, 700, 50
    records = _one_qpu_queue([k * a for k in range(num)], s)
    assert [r.wait_ps for r in records] == [k * (s - a) for k in range(num)]
    metrics = queue_metrics(records, 1)
    assert metrics["makespan_ps"] == num * s and metrics["utilisation"] == pytest.approx(1.0, abs=EXACT)
    records = _one_qpu_queue([k * 1500 for k in range(num)], s)
    metrics = queue_metrics(records, 1)
    assert metrics["max_wait_ps"] == 0 and metrics["makespan_ps"] == (num - 1) * 1500 + s
    assert metrics["utilisation"] == pytest.approx(num * s / ((num - 1) * 1500 + s), abs=EXACT)


@pytest.mark.parametrize("load", [0.5, 0.8])
def test_md1_mean_wait_is_pollaczek_khinchine(load):
    """M/D/1 (Poisson arrivals, one QPU, fixed service s): the mean wait ρ s/(2(1 − ρ)) (Pollaczek–Khinchine).
    Waits are correlated: the standard error is from 22 batch means of 11 000 jobs (the first 1 000 dropped)."""
    s = 1_000_000
    rng = np.random.default_rng(17)
    gaps = rng.exponential(s / load, size=12_000)
    records = _one_qpu_queue(np.cumsum(gaps).round(), s)
    waits = np.array([r.wait_ps for r in records][1000:], dtype=float)
    batches = waits.reshape(22, -1).mean(axis=1)
    assert_mean(batches, ref.md1_mean_wait(load / s, s), f"M/D/1 wait at ρ = {load}")


def test_sharded_over_two_ranks_against_qiskit(tmp_path):
    """The one MPI launch of this file: a qiskit random circuit on a 4-QPU line, the register sharded over
    2 ranks (QPUs 0, 1 on rank 0; 2, 3 on rank 1): the final data state equals qiskit's Statevector up to a
    global phase (1e-10)."""
    from mpi_helper import run_mpi_arrays
    text, psi = _qiskit_random(8, 4, 21)
    (tmp_path / "c.qasm").write_text(text)
    arrays = run_mpi_arrays(2, "tests/mpi_scripts/physics_audit_dqc_check.py", tmp_path / "out.npz",
                            str(tmp_path / "c.qasm"), "telegate")
    assert arrays["register_ranks"][0] == 2 and arrays["nonlocal_gates"][0] > 0
    phase = np.vdot(psi, arrays["state"])
    assert abs(phase) == pytest.approx(1.0, abs=EXACT)
    np.testing.assert_allclose(arrays["state"], phase * psi, atol=EXACT)


def test_dqc_readout_error_flips_each_bit_with_its_nodes_probability():
    """Terminal readout on an ideal network: x on q0 (QPU 0, measure_error 0.1), q1 idle (QPU 1, 0.25): the four
    outcomes are the product of two bit flips; Pearson's χ² over 3000 shots."""
    link = LinkSpec(distance_km=1.0)
    graph = topology.line(2, link=link)
    specs = [NodeSpec(name=n, num_data_qubits=1, num_comm_qubits=2, measure_error_probability=p)
             for n, p in zip(graph.nodes, (0.1, 0.25))]
    circuit = Circuit(2, 2).gate("x", 0).gate("cx", 0, 1).gate("cx", 0, 1).measure(0, 0).measure(1, 1)
    shots = 3000
    run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                  assignment=[0, 1], seed=4, shots=shots, timeline=False)
    probs = {f"{b1}{b0}": (0.9 if b0 else 0.1) * (0.25 if b1 else 0.75) for b0 in (0, 1) for b1 in (0, 1)}
    stat, dof = ref.chi_square(run.counts, probs, shots)
    assert stat < scipy.stats.chi2.ppf(CHI2_QUANTILE, dof), (stat, dof, run.counts)


def test_cloud_job_durations_and_fidelity_on_a_deterministic_centre():
    """Two 4-qubit GHZ jobs (10 shots) arriving together at a 2-QPU centre whose link always succeeds: the
    executions take a fixed time T (a lone run_dqc), so with FIFO job k starts at k·D, D = 10 T + set-up +
    9 resets + user latency, waits k·D; makespan 2D, utilisation 1 (D/D/1 exactly). On Werner pairs of
    F = 0.8 a job's fidelity is F: its one cut CNOT gets X_t, Z_c or Z_c X_t with (1 − F)/3 each, and each
    takes GHZ to an orthogonal state (40 trajectories, binomial standard error)."""
    from dqsim.circuit.generators import ghz
    from dqsim.scenarios.cloud import UserJob, run_cloud
    network, d = two_qpus(1.0, data=2)
    circuit = ghz(4, measure=True)
    lone = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, assignment=[0, 0, 1, 1],
                   seed=1, shots=1, timeline=False)
    setup, reset, latency = 3_000_000, 200_000, 7_000_000
    jobs = [UserJob(f"ghz{k}", circuit, 10, 0) for k in range(2)]
    run = run_cloud(jobs, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, policy="fifo",
                    user_latency_ps=latency, job_setup_ps=setup, shot_reset_ps=reset)
    duration = 10 * lone.end_time_ps + setup + 9 * reset + latency
    assert [(r.start_ps, r.end_ps, r.wait_ps) for r in run.records] == [(0, duration, 0),
                                                                      (duration, 2 * duration, duration)]
    assert run.metrics["makespan_ps"] == 2 * duration
    assert run.metrics["utilisation"] == pytest.approx(1.0, abs=EXACT)
    assert all(r.fidelity == pytest.approx(1.0, abs=EXACT) for r in run.results.values())
    noisy, _ = two_qpus(0.8, data=2)
    run = run_cloud([UserJob("ghz", circuit, 40, 0)], comm=comm_mod.SingleComm(), backend=BACKEND, network=noisy,
                    trajectories=40, seed=3)
    result = run.results[0]
    assert result.engine_runs == 40
    se = math.sqrt(0.8 * 0.2 / 40)
    assert abs(result.fidelity - 0.8) <= NUM_STANDARD_ERRORS * se, (result.fidelity, result.fidelity_stderr)


QELIB1_GATES = {
    "u3(0.3,0.5,0.7)": 1, "u2(0.5,0.7)": 1, "u1(0.7)": 1, "u0(1)": 1, "u(0.3,0.5,0.7)": 1, "p(0.7)": 1, "id": 1,
    "x": 1, "y": 1, "z": 1, "h": 1, "s": 1, "sdg": 1, "t": 1, "tdg": 1, "rx(0.7)": 1, "ry(0.7)": 1, "rz(0.7)": 1,
    "sx": 1, "sxdg": 1, "cx": 2, "cz": 2, "cy": 2, "swap": 2, "ch": 2, "crx(0.7)": 2, "cry(0.7)": 2, "crz(0.7)": 2,
    "cu1(0.7)": 2, "cp(0.7)": 2, "cu3(0.3,0.5,0.7)": 2, "csx": 2, "cu(0.3,0.5,0.7,0.2)": 2, "rxx(0.7)": 2,
    "rzz(0.7)": 2, "ccx": 3, "cswap": 3, "rccx": 3, "rc3x": 4, "c3x": 4, "c3sqrtx": 4, "c4x": 5,
}


@pytest.mark.parametrize("gate", list(QELIB1_GATES))
def test_qasm2_import_of_every_qelib1_gate_against_qiskit(gate):
    """Each qelib1.inc gate after a random ry/rz layer: dqsim's importer and simulator against qiskit's parser
    (the same text) and Statevector, up to a global phase (1e-10; cu, rccx, c3sqrtx, c4x differ from
    qiskit's matrices by one, which no measurement sees)."""
    qiskit = pytest.importorskip("qiskit")
    from qiskit.quantum_info import Statevector
    from dqsim.state.sharded import ShardedState
    n = QELIB1_GATES[gate]
    angles = np.random.default_rng(8).uniform(0, 3, (n, 2))
    layer = "".join(f"ry({a:.6f}) q[{q}];\nrz({b:.6f}) q[{q}];\n" for q, (a, b) in enumerate(angles))
    text = (f'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[{n}];\n{layer}'
            f'{gate} {",".join(f"q[{i}]" for i in range(n))};\n')
    state = ShardedState(n, backend=BACKEND)
    state.apply_ops([g.to_op() for g in load_qasm(text).gates()])
    mine = state.gather()
    theirs = Statevector(qiskit.qasm2.loads(text, custom_instructions=qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS)).data
    phase = np.vdot(theirs, mine)
    assert abs(phase) == pytest.approx(1.0, abs=EXACT)
    np.testing.assert_allclose(mine, phase * theirs, atol=EXACT)


def test_telegate_with_gate_and_measurement_errors():
    """TeleGate cx on a product input with F = 0.9 pairs and node errors (two-qubit depolarising 0.08 after the
    CNOT and the controlled gate, one-qubit 0.05 after each preparation gate and each applied correction,
    readout flips 0.06) against the density-matrix protocol with the same channels."""
    p2, p1, pm, f = 0.08, 0.05, 0.06, 0.9
    network, _ = two_qpus(f, gate_2q_error_probability=p2, gate_1q_error_probability=p1,
                          measure_error_probability=pm)
    circuit, psi = _product_input()
    circuit.gate("cx", 0, 1)
    rho = np.outer(psi, psi.conj())
    ideal_pair_only = ref.fidelity(ref.telegate(rho, ref.X, ref.werner(f)), ref.CNOT @ psi)
    # the preparation's ry and rz are local gates, each followed by the one-qubit channel (which commutes with
    # the rotations: twice on each qubit after them)
    for q in (0, 1):
        for _ in range(2):
            rho = ref.kraus(rho, ref.depolarizing_kraus(p1), [q], 2)
    expected = ref.fidelity(ref.noisy_telegate(rho, ref.X, ref.werner(f), p2, p1, pm), ref.CNOT @ psi)
    assert expected < ideal_pair_only - 0.05
    assert_mean(fidelities(circuit, network, [0, 1], "telegate", 150, 300), expected, "noisy telegate")


def test_telegate_across_a_swap_has_the_swapped_pair_fidelity():
    """Choi-state remote CNOT between the ends of a 3-QPU line (F = 0.9 on each link, the middle QPU swaps): the
    process fidelity is the end-to-end pair's, (1 + 3 w1 w2)/4."""
    link = LinkSpec(distance_km=1.0, scheme="direct", source_fidelity=0.9, dark_count_rate_hz=0.0,
                    attenuation_db_per_km=0.0, detector_efficiency=1.0)
    graph = topology.line(3, link=link)
    network = Network(graph, [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=2) for n in graph.nodes])
    circuit = Circuit(4, 0)
    for instruction in CHOI:
        circuit.append(instruction)
    circuit.gate("cx", 1, 2)
    values = fidelities(circuit, network, [0, 0, 2, 2], "telegate", 120, 50)
    assert set(np.round(values, 9)) <= {0.0, 1.0}
    assert_mean(values, ref.swapped_werner_fidelity(0.9, 0.9), "process fidelity across a swap")


@pytest.mark.parametrize("program,expected", [
    ("ctrl(2) @ gphase(0.4) q[0], q[1];", [(np.diag([1, 1, 1, np.exp(0.4j)]), [0, 1])]),
    ("ctrl @ gphase(0.4) q[0];", [(np.diag([1, np.exp(0.4j)]), [0])]),
    ("inv @ ctrl @ gphase(0.4) q[1];", [(np.diag([1, np.exp(-0.4j)]), [1])]),
    ("gate g a { ctrl @ gphase(0.4) a; }\nctrl @ g q[2], q[0];", [(np.diag([1, 1, 1, np.exp(0.4j)]), [2, 0])]),
    ("ctrl(3) @ gphase(-0.7) q[0], q[1], q[2];", [(np.diag([1] * 7 + [np.exp(-0.7j)]), [0, 1, 2])]),
])
def test_controlled_global_phase_is_a_phase_on_the_controls(program, expected):
    """OpenQASM 3 (spec, "Quantum gate modifiers"): ``ctrl @ gphase(γ)`` is the phase e^{iγ} on the control's |1⟩,
    exactly (not only up to a global phase, which matters once the gate is itself controlled). Main refused two
    controls ("Duplicate qubit 'q[0]' arg in gate cx") and made one control ``h; rx(γ); h``."""
    from dqsim.state.sharded import ShardedState
    angles = [(0.4, 1.1), (2.0, -0.3), (1.3, 0.8)]
    layer = "".join(f"ry({a}) q[{q}];\nrz({b}) q[{q}];\n" for q, (a, b) in enumerate(angles))
    definitions, _, call = program.rpartition("\n")
    text = f'OPENQASM 3.0;\ninclude "stdgates.inc";\n{definitions}\nqubit[3] q;\n{layer}{call}\n'
    state = ShardedState(3, backend=BACKEND)
    state.apply_ops([g.to_op() for g in load_qasm(text).gates()])
    prep = [(ref.rz(b) @ ref.ry(a), [q]) for q, (a, b) in enumerate(angles)]
    mine = ref.to_little_endian(ref.statevector(3, prep + expected), 3)
    np.testing.assert_allclose(state.gather(), mine, atol=EXACT)
