"""Physics checks of randomness: Born statistics and noise channels.

Tolerances are stated per test; every test uses a fixed seed.
"""

import math

import numpy as np
import pytest

from dqsim.rng import Stream
from dqsim.state import noise
from dqsim.state.gates import gate_op
from dqsim.state.sharded import ShardedState
from conftest import TEST_BACKEND as BACKEND


def chi2_critical(df: int, z: float = 3.09) -> float:
    """Upper critical value of χ² at significance ~0.001 (z = 3.09), Wilson–Hilferty approximation."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def prepared(n=4, seed=3):
    s = ShardedState(n, seed=seed, backend=BACKEND)
    rng = np.random.default_rng(seed)
    for q in range(n):
        s.apply(gate_op("u", [q], rng.uniform(0, np.pi, 3)))
    s.apply(gate_op("cx", [0, 1]))
    s.apply(gate_op("crx", [2, 3], [0.7]))
    return s


def test_sampled_counts_follow_born_rule():
    """χ² goodness of fit of 20 000 shots at significance 0.001."""
    s = prepared()
    probs = np.abs(s.gather()) ** 2
    shots = s.sample(20_000)
    counts = np.bincount(shots, minlength=probs.size)
    expected = probs * shots.size
    stat = float(np.sum((counts - expected) ** 2 / expected))
    assert stat < chi2_critical(probs.size - 1)


def test_measurement_with_collapse_follows_born_rule():
    """Repeated collapse measurements of fresh copies, χ² at significance 0.001."""
    ref = prepared()
    probs = ref.probabilities([1, 3])
    stream = Stream(5, purpose="measure")
    counts = np.zeros(4)
    trials = 3000
    for _ in range(trials):
        s = prepared()
        b = s.measure([1, 3], stream=stream)
        counts[b[0] + 2 * b[1]] += 1
        # post-measurement state is an eigenstate of the measured qubits
        assert s.probabilities([1, 3])[b[0] + 2 * b[1]] == pytest.approx(1.0, abs=1e-12)
    stat = float(np.sum((counts - probs * trials) ** 2 / (probs * trials)))
    assert stat < chi2_critical(3)


def test_sampling_subset_marginals():
    s = prepared()
    marg = s.probabilities([3, 0])
    shots = s.sample(20_000, [3, 0])
    counts = np.bincount(shots, minlength=4)
    stat = float(np.sum((counts - marg * 20_000) ** 2 / (marg * 20_000)))
    assert stat < chi2_critical(3)


def density(vec):
    return np.outer(vec, vec.conj())


def kraus_apply(rho, kraus, qubit, n):
    out = np.zeros_like(rho)
    for k in kraus:
        full = np.eye(1)
        for q in range(n - 1, -1, -1):
            full = np.kron(full, k if q == qubit else np.eye(2))
        out += full @ rho @ full.conj().T
    return out


X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]])
Z = np.diag([1.0 + 0j, -1.0])
I2 = np.eye(2)


def start_state(entangle):
    s = ShardedState(2, backend=BACKEND)
    s.apply(gate_op("u", [0], [1.1, 0.4, -0.3]))
    s.apply(gate_op("cx", [0, 1]) if entangle else gate_op("h", [1]))
    return s


def averaged(channel, trials=4000, seed=9, entangle=True):
    stream = Stream(seed, purpose="noise")
    acc = np.zeros((4, 4), dtype=complex)
    for _ in range(trials):
        s = start_state(entangle)
        channel(s, stream)
        acc += density(s.gather())
    return acc / trials, density(start_state(entangle).gather())


# Trajectory averages of 4000 runs: each density-matrix element has a standard
# error below 1/sqrt(4000) ≈ 0.016; we allow 0.05 (> 3 standard errors).
TOL = 0.05


def test_depolarizing_matches_kraus_map():
    p = 0.3
    avg, rho0 = averaged(lambda s, st: noise.depolarize(s, 0, p, st))
    kraus = [math.sqrt(1 - p) * I2, math.sqrt(p / 3) * X, math.sqrt(p / 3) * Y, math.sqrt(p / 3) * Z]
    assert np.max(np.abs(avg - kraus_apply(rho0, kraus, 0, 2))) < TOL


def test_dephasing_matches_kraus_map():
    p = 0.25
    avg, rho0 = averaged(lambda s, st: noise.dephase(s, 1, p, st))
    kraus = [math.sqrt(1 - p) * I2, math.sqrt(p) * Z]
    assert np.max(np.abs(avg - kraus_apply(rho0, kraus, 1, 2))) < TOL


def test_amplitude_damping_matches_kraus_map():
    g = 0.6
    avg, rho0 = averaged(lambda s, st: noise.amplitude_damp(s, 0, g, st))
    kraus = [np.array([[1, 0], [0, math.sqrt(1 - g)]]), np.array([[0, math.sqrt(g)], [0, 0]])]
    assert np.max(np.abs(avg - kraus_apply(rho0, kraus, 0, 2))) < TOL


def test_two_qubit_depolarizing_matches_kraus_map():
    p = 0.45
    avg, rho0 = averaged(lambda s, st: noise.depolarize2(s, 0, 1, p, st))
    paulis = [I2, X, Y, Z]
    expected = (1 - p) * rho0
    for a in range(4):
        for b in range(4):
            if a == b == 0:
                continue
            full = np.kron(paulis[b], paulis[a])  # qubit 1 ⊗ qubit 0
            expected += p / 15 * full @ rho0 @ full.conj().T
    assert np.max(np.abs(avg - expected)) < TOL


def test_idle_t1_t2_relaxation():
    """Populations decay as e^(-t/T1) and coherences as e^(-t/T2) (trajectory average)."""
    t, t1, t2 = 1.0, 2.0, 1.5

    def prep_plus_one(s, st):
        noise.idle(s, 0, duration_s=t, t1_s=t1, t2_s=t2, stream=st)

    avg, rho0 = averaged(prep_plus_one, entangle=False)
    # Reduced density matrix of qubit 0 from the averaged two-qubit state.
    def reduce(rho):
        r = rho.reshape(2, 2, 2, 2)  # (q1, q0, q1', q0')
        return np.einsum("aiaj->ij", r)
    r0, r = reduce(rho0), reduce(avg)
    assert abs(r0[0, 1]) > 0.3  # the test needs coherence to watch
    assert r[1, 1] == pytest.approx(r0[1, 1] * math.exp(-t / t1), abs=TOL)
    assert abs(r[0, 1]) == pytest.approx(abs(r0[0, 1]) * math.exp(-t / t2), abs=TOL)


def test_idle_rejects_unphysical_t2():
    with pytest.raises(ValueError, match="t2_s"):
        noise.idle_parameters(1.0, 1.0, 3.0)
