"""Small density-matrix states against dense references (DESIGN.md invariant 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dqsim.errors import ResourceError
from dqsim.state import noise
from dqsim.state.gates import gate_op, unitary_op
from dqsim.state.small import BELL_BASIS, SmallStates, bell_diagonal_of, bell_weights, op_matrix, preparation_unitary

PAULI = {"i": np.eye(2), "x": np.array([[0, 1], [1, 0]]), "y": np.array([[0, -1j], [1j, 0]]),
         "z": np.diag([1, -1])}


def embed(matrix, targets, n):
    """Dense n-qubit operator of ``matrix`` (little-endian on ``targets``) by brute force."""
    dim = 1 << n
    out = np.zeros((dim, dim), dtype=complex)
    k = len(targets)
    for col in range(dim):
        sub_in = sum(((col >> t) & 1) << j for j, t in enumerate(targets))
        for sub_out in range(1 << k):
            amp = matrix[sub_out, sub_in]
            if amp == 0:
                continue
            row = col
            for j, t in enumerate(targets):
                row = (row & ~(1 << t)) | (((sub_out >> j) & 1) << t)
            out[row, col] += amp
    return out


def random_unitary(rng, k):
    z = rng.normal(size=(1 << k, 1 << k)) + 1j * rng.normal(size=(1 << k, 1 << k))
    q, r = np.linalg.qr(z)
    return q * (np.diag(r) / abs(np.diag(r)))


def test_random_gates_match_dense_reference():
    rng = np.random.default_rng(5)
    qubits = [11, 3, 8, 20]          # arbitrary global ids; dense bit j <-> qubits[j]
    s = SmallStates()
    rho = np.zeros((16, 16), complex)
    rho[0, 0] = 1
    for _ in range(25):
        k = int(rng.integers(1, 3))
        chosen = list(rng.choice(4, size=k + 1, replace=False))
        u = random_unitary(rng, k)
        controls = [qubits[chosen[k]]] if rng.random() < 0.5 else []
        targets = [qubits[c] for c in chosen[:k]]
        op = unitary_op(u, targets, controls)
        s.apply(op)
        full, on = op_matrix(op)
        big = embed(full, [qubits.index(q) for q in on], 4)
        rho = big @ rho @ big.conj().T
        if rng.random() < 0.3:
            p = float(rng.random() * 0.2)
            a, b = rng.choice(4, size=2, replace=False)
            s.depolarize([qubits[a], qubits[b]], p)
            mixed = sum(np.kron(PAULI[y], PAULI[x]) for x in "ixyz" for y in "ixyz")
            terms = [embed(np.kron(PAULI[y], PAULI[x]), [a, b], 4) for x in "ixyz" for y in "ixyz"]
            rho = (1 - p) * rho + p / 15 * sum(t @ rho @ t.conj().T for t in terms[1:])
            del mixed
    got = s.density_matrix(qubits)
    assert np.allclose(got, rho, atol=1e-12)
    # reordered reads are permutations of the same matrix
    swapped = s.density_matrix([qubits[1], qubits[0]])
    ref = rho.reshape([2] * 8)
    reduced = np.einsum("abcdabeg->cdeg", ref).reshape(4, 4)   # keep bits 1 and 0 (qubits[1], qubits[0])
    # bit order of reduced: (bit1, bit0) big-endian = qubits[1] high; swapped wants qubits[1] as bit 0
    perm = reduced.reshape(2, 2, 2, 2).transpose(1, 0, 3, 2).reshape(4, 4)
    assert np.allclose(swapped, perm, atol=1e-12)


def test_idle_channel_matches_kraus_average():
    gamma, p = noise.idle_parameters(3e-6, 10e-6, 8e-6)
    s = SmallStates()
    s.apply(gate_op("h", [0])); s.apply(gate_op("cx", [0, 1])); s.apply(gate_op("ry", [1], [0.4]))
    before = s.density_matrix([0, 1])
    s.idle(0, gamma, p)
    k0 = np.diag([1, math.sqrt(1 - gamma)]); k1 = np.array([[0, math.sqrt(gamma)], [0, 0]])
    ref = sum(embed(k, [0], 2) @ before @ embed(k, [0], 2).conj().T for k in (k0, k1))
    z = embed(PAULI["z"], [0], 2)
    ref = (1 - p) * ref + p * z @ ref @ z
    assert np.allclose(s.density_matrix([0, 1]), ref, atol=1e-12)
    # populations relax as e^{-t/T1}, coherences as e^{-t/T2}
    s2 = SmallStates(); s2.apply(gate_op("h", [4])); s2.idle(4, gamma, p)
    rho = s2.density_matrix([4])
    assert rho[0, 1].real == pytest.approx(0.5 * math.exp(-3e-6 / 8e-6), rel=1e-12)


def test_werner_pair_is_exact_and_measurement_statistics():
    s = SmallStates()
    s.werner_pair(2, 5, 0.6)
    rho = s.density_matrix([2, 5])
    phi = np.array([1, 0, 0, 1]) / math.sqrt(2)
    assert np.allclose(rho, 0.6 * np.outer(phi, phi) + 0.4 * np.eye(4) / 4, atol=1e-12)
    assert s.bell_fidelity(2, 5) == pytest.approx(0.6 + 0.4 / 4, abs=1e-12)
    # ZZ correlation of a Werner pair: P(equal) = (1 + w)/2; 4000 pairs, 4 standard errors
    rng = np.random.default_rng(1)
    equal = 0
    for i in range(4000):
        t = SmallStates()
        t.werner_pair(0, 1, 0.6)
        a, = t.measure([0], [rng.random()])
        b, = t.measure([1], [rng.random()])
        equal += a == b
    p = 0.8
    assert abs(equal / 4000 - p) < 4 * math.sqrt(p * (1 - p) / 4000)


def test_measure_splits_and_reset_traces_out():
    s = SmallStates()
    s.apply(gate_op("h", [0])); s.apply(gate_op("cx", [0, 1])); s.apply(gate_op("cx", [1, 2]))
    assert s.measure([1], [0.99], basis="Z") == [1]
    assert s.group_of(1).qubits == [1]
    assert np.allclose(s.density_matrix([0, 2]), np.diag([0, 0, 0, 1]))
    s.reset(0)
    assert 0 not in s and s.group_of(2).qubits == [2]
    # X basis: post-measurement state is |+> or |->
    t = SmallStates(); t.apply(gate_op("h", [9]))
    assert t.measure([9], [0.7], basis="X") == [0]
    assert np.allclose(t.density_matrix([9]), np.full((2, 2), 0.5))


def _random_groups(rng, store: SmallStates) -> None:
    """Qubits 0-1 in a random mixed pair, 2 alone mixed, 3-5 in a random mixed triple, 6 fresh."""
    for qubits in ([0, 1], [2], [3, 4, 5]):
        d = 1 << len(qubits)
        a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
        rho = a @ a.conj().T
        store.install(qubits, rho / np.trace(rho).real)


def test_measure_z_and_reset_fast_paths_equal_the_general_ones_bit_for_bit():
    """measure_z (the engine's one-qubit Z case) and reset leave exactly the groups that measure/reset leave."""
    rng = np.random.default_rng(11)
    for trial in range(200):
        seed = int(rng.integers(1 << 30))
        for qubit in range(7):
            u = float(np.random.default_rng(seed).random())
            a, b = SmallStates(), SmallStates()
            _random_groups(np.random.default_rng(seed), a)
            _random_groups(np.random.default_rng(seed), b)
            assert a.measure_z(qubit, u) == b.measure([qubit], [u])[0]
            (a.reset if trial % 2 else (lambda q: None))((qubit + trial) % 7)
            (b.reset if trial % 2 else (lambda q: None))((qubit + trial) % 7)
            sa, sb = a.snapshot(), b.snapshot()
            assert [q for q, _ in sa] == [q for q, _ in sb]
            assert all(x.tobytes() == y.tobytes() for (_, x), (_, y) in zip(sa, sb))
    # a Werner pair written directly equals the gate-built one
    w = SmallStates(); w.werner_pair(0, 1, 0.7)
    g = SmallStates(); g.apply(gate_op("x", [1])); g.apply(gate_op("x", [1]))  # 1 held in |0>: generic path
    g.werner_pair(0, 1, 0.7)
    assert np.allclose(w.density_matrix([0, 1]), g.density_matrix([0, 1]), atol=1e-15)


def test_measuring_shared_werner_pairs_equals_measuring_a_private_copy_bit_for_bit():
    """A Werner pair's read-only ρ is shared, and so are its measured rests (cached): the same groups as a copy."""
    for werner in (0.9, 0.55, 1.0):
        for position in (0, 1):
            for u in (0.01, 0.3, 0.6, 0.99, 0.3, 0.99):  # each outcome twice: the second time from the cache
                shared, private = SmallStates(), SmallStates()
                shared.werner_pair(0, 1, werner)
                private.werner_pair(5, 6, werner)
                private.install([0, 1], private.remove(5))  # a writeable copy of the same ρ
                assert not shared.group_of(0).rho.flags.writeable and private.group_of(0).rho.flags.writeable
                q = (0, 1)[position]
                assert shared.measure_z(q, u) == private.measure_z(q, u)
                other = 1 - q
                a, b = shared.group_of(other).rho, private.group_of(other).rho
                assert a.tobytes() == b.tobytes() and not a.flags.writeable
                assert shared.measure_z(other, 0.5) == private.measure_z(other, 0.5)


def test_take_pure_average_gives_back_rho_and_preparation():
    s = SmallStates(); s.werner_pair(0, 1, 0.3)
    rho = s.density_matrix([0, 1])
    avg = np.zeros((4, 4), complex)
    n = 2000
    for u in (np.arange(n) + 0.5) / n:
        t = SmallStates(); t.werner_pair(0, 1, 0.3)
        qubits, v = t.take_pure(0, u)
        assert sorted(qubits) == [0, 1] and 0 not in t
        if qubits == [1, 0]:
            v = v.reshape(2, 2).T.reshape(4)
        avg += np.outer(v, v.conj()) / n
    assert np.allclose(avg, rho, atol=2e-3)
    v = np.array([0.1, 0.7j, -0.2, 0.3]); v = v / np.linalg.norm(v)
    u = preparation_unitary(v)
    assert np.allclose(u.conj().T @ u, np.eye(4)) and np.allclose(u[:, 0], v)


def test_cap_is_a_clear_error():
    s = SmallStates(max_qubits=3)
    s.apply(gate_op("h", [0])); s.apply(gate_op("cx", [0, 1])); s.apply(gate_op("cx", [1, 2]))
    with pytest.raises(ResourceError, match="cap 3"):
        s.apply(gate_op("cx", [2, 3]))


def test_bell_diagonal_weights_of_a_random_mixed_group():
    """Each weight is <B|rho_ab|B> of the reduced pair (dense reference); they sum to 1."""
    rng = np.random.default_rng(11)
    g = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    rho = g @ g.conj().T
    rho /= np.trace(rho)
    s = SmallStates()
    s.install([4, 9, 2], rho)                      # dense bit j <-> qubits [4, 9, 2][j]
    reduced = np.einsum("aibajc->ibjc", rho.reshape([2] * 6)).reshape(4, 4)  # trace out qubit 2 (bit 2)
    # reduced is big-endian (bit1, bit0) = (qubit 9, qubit 4); Bell states are symmetric under the swap
    root = 1 / math.sqrt(2)
    bell = [np.array([root, 0, 0, root]), np.array([root, 0, 0, -root]),
            np.array([0, root, root, 0]), np.array([0, root, -root, 0])]
    expected = [float(np.real(b.conj() @ reduced @ b)) for b in bell]
    got = s.bell_diagonal(4, 9)
    assert np.allclose(got, expected, atol=1e-12) and sum(got) == pytest.approx(1.0, abs=1e-12)
    assert got[0] == pytest.approx(s.bell_fidelity(4, 9), abs=1e-12)
    assert np.allclose(s.bell_diagonal(9, 4), got, atol=1e-12)



def test_bell_weights_and_the_bell_diagonal_are_one_diagonal_to_1e15():
    """:func:`bell_weights` (a Bell-diagonal ρ's weights, else ``None``) and :meth:`SmallStates.bell_diagonal` (any
    pair's twirled weights) both read :func:`bell_diagonal_of`, which is the diagonal of ρ turned into the Bell
    basis, ``B^† ρ B``, to 1e-15 on random Bell-diagonal states (also of trace < 1) and random full-rank ones."""
    rng = np.random.default_rng(5)
    for trial in range(400):
        if trial % 2:
            weights = rng.dirichlet(np.ones(4)) * (rng.random() if trial % 4 == 1 else 1.0)
            rho = BELL_BASIS @ np.diag(weights) @ BELL_BASIS.conj().T
        else:
            g = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
            rho = g @ g.conj().T / np.trace(g @ g.conj().T).real
        rotated = np.diag(BELL_BASIS.conj().T @ rho @ BELL_BASIS).real
        np.testing.assert_allclose(bell_diagonal_of(rho), rotated, rtol=0, atol=1e-15)
        if trial % 2:
            np.testing.assert_allclose(rotated, weights, rtol=0, atol=1e-15)
            assert bell_weights(rho).tolist() == list(bell_diagonal_of(rho))
        else:
            assert bell_weights(rho) is None
        states = SmallStates()
        states.install([3, 8], rho)
        np.testing.assert_allclose(states.bell_diagonal(3, 8), rotated, rtol=0, atol=1e-15)


def test_bell_weights_read_from_the_register_equal_the_small_state_ones():
    """The engine reads a pair's Bell weights from correlators when it sits in the data register and
    from the density matrix when it is a small state: the same pure state gives the same weights."""
    from dqsim.engine.quantum import QuantumMemory
    from dqsim.state.sharded import ShardedState

    rng = np.random.default_rng(3)
    u = random_unitary(rng, 2)
    register = ShardedState(2)
    register.apply(unitary_op(u, [0, 1], []))
    memory = QuantumMemory([0, 0, 1, 1], [math.inf] * 2, [math.inf] * 2, seed=1, num_data_qubits=2)
    memory.small.set_pure([2, 3], u[:, 0])
    from_register = memory.bell_diagonal(register, 0, 1)
    from_small = memory.bell_diagonal(register, 2, 3)
    assert np.allclose(from_register, from_small, atol=1e-12)
    assert from_register[0] == pytest.approx(memory.bell_fidelity(register, 0, 1), abs=1e-12)


def test_finish_dephases_held_pairs_by_t2_and_skips_qubits_in_no_small_state(monkeypatch):
    """At the end of a run every qubit idles up to the end time: a Werner pair held here dephases (T1 = inf,
    coherence exp(-t/T2) per qubit), so its Phi+ weight is (1 + w + 2 w exp(-2t/T2)) / 4, while qubits in
    no small state here (fresh, or held by another rank) only have their last touch moved: their damping
    and dephasing are never worked out."""
    from dqsim.engine import quantum
    from dqsim.engine.quantum import QuantumMemory

    t2_s, end_ps, werner = 0.5, 200_000_000_000, 0.9   # 0.2 s of idling
    memory = QuantumMemory([0, 0, 1, 1, 2, 2], [math.inf] * 3, [t2_s] * 3, seed=1, num_data_qubits=0)
    memory.small.werner_pair(0, 2, werner)             # qubits 1, 3, 4, 5: no small state here
    worked_out = []
    real = quantum._idle_channel                       # (the wait's γ and p, kept per wait since 2026-12-07 (night))
    monkeypatch.setattr(quantum, "_idle_channel", lambda *args: worked_out.append(args) or real(*args))
    memory.finish(None, end_ps)
    assert worked_out == [(end_ps, math.inf, t2_s)] * 2  # qubits 0 and 2 only
    assert list(memory.last_touch_ps) == [end_ps] * 6
    decay = math.exp(-2 * 0.2 / t2_s)                  # coherence factor of both qubits together
    assert memory.bell_fidelity(None, 0, 2) == pytest.approx((1 + werner * (1 + 2 * decay)) / 4, abs=1e-12)
    for q in (1, 3, 4, 5):
        assert memory.small.group_of(q) is None


def _random_rho(rng, k, zeros):
    """A random k-qubit density matrix; ``zeros``: with small entries set to exactly 0 (as pairs have)."""
    d = 1 << k
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    rho = a @ a.conj().T
    rho /= np.trace(rho)
    if zeros:
        rho[np.abs(rho) < 0.05] = 0
    return rho


def _mix_by_trace_and_outer(rho, k, positions, weight):
    """The depolarizing mix as the engine computed it before 2026-12-07 (night): per qubit ``ndarray.trace``,
    ``I/2`` put back by ``np.multiply.outer`` and ``np.moveaxis``."""
    mixed = rho.reshape((2,) * (2 * k))
    for p in positions:
        a = k - 1 - p
        traced = mixed.trace(axis1=a, axis2=k + a)
        mixed = np.moveaxis(np.multiply.outer(traced, np.eye(2, dtype=rho.dtype) / 2.0),
                            [2 * k - 2, 2 * k - 1], [a, k + a])
    return (1.0 - weight) * rho + weight * mixed.reshape(rho.shape)


def _damp_by_blocks(rho, k, position, gamma, dephase_p):
    """T1/T2 damping as the engine computed it before 2026-12-07 (night): each block of the qubit scaled in
    place."""
    out = rho.copy()
    v = out.reshape(1 << (k - 1 - position), 2, 1 << position, 1 << (k - 1 - position), 2, 1 << position)
    b00, b11, b01, b10 = v[:, 0, :, :, 0, :], v[:, 1, :, :, 1, :], v[:, 0, :, :, 1, :], v[:, 1, :, :, 0, :]
    b00 += gamma * b11
    b11 *= 1.0 - gamma
    b01 *= math.sqrt(1.0 - gamma) * (1.0 - 2.0 * dephase_p)
    b10 *= math.sqrt(1.0 - gamma) * (1.0 - 2.0 * dephase_p)
    return out


def test_depolarizing_and_damping_are_the_same_operations_as_before_bit_for_bit():
    """The depolarizing mix by diagonal blocks and the damping by a kept mask (2026-12-07 (night)) give every
    element bit for bit as the trace/outer and in-place block formulations did, on 1-5 qubits, every position
    (and ordered pair of positions), with exact zeros in ρ and γ = 0: a noisy chain's results did not move."""
    from dqsim.state.small import damp, depolarizing_mix

    rng = np.random.default_rng(11)
    for k in range(1, 6):
        for zeros in (False, True):
            rho = _random_rho(rng, k, zeros)
            for p in range(k):
                for gamma in (0.0, 0.13):
                    assert np.array_equal(damp(rho, k, p, gamma, 0.21), _damp_by_blocks(rho, k, p, gamma, 0.21))
                positions_list = [[p]] + [[p, q] for q in range(k) if q != p]
                for positions in positions_list:
                    weight = float(rng.random())
                    assert np.array_equal(depolarizing_mix(rho, k, positions, weight),
                                          _mix_by_trace_and_outer(rho, k, positions, weight)), (k, positions)


def _conjugate_by_products(rho, k, matrix, positions):
    """``M (M ρ)†`` by two tensor contractions (``np.tensordot``), as the engine computes a gate."""
    m = len(positions)
    axes = [k - 1 - positions[m - 1 - i] for i in range(m)]

    def left(r):
        out = np.tensordot(matrix.reshape((2,) * (2 * m)), r.reshape((2,) * k + (1 << k,)),
                           axes=(list(range(m, 2 * m)), axes))
        return np.moveaxis(out, list(range(m)), axes).reshape(r.shape)

    return left(left(rho).conj().T)


def test_a_cnot_conjugates_rho_by_one_gather_the_same_as_its_products_bit_for_bit():
    """The kept CNOT (and Toffoli) matrix permutes basis states: ρ's elements are gathered (2026-12-07
    (night)), every element bit for bit what the two products give, also for a ρ that is not exactly
    Hermitian; a CZ (a -1) takes the products."""
    from dqsim.state.small import _permutation_index, conjugate

    rng = np.random.default_rng(12)
    cx, ccx, cz = (op_matrix(gate_op(name, list(range(n))))[0] for name, n in (("cx", 2), ("ccx", 3), ("cz", 2)))
    assert _permutation_index(cz, 2, (0, 1)) is None
    for matrix in (cx, ccx, cz):
        m = matrix.shape[0].bit_length() - 1
        for k in range(m, 5):
            for zeros in (False, True):
                rho = _random_rho(rng, k, zeros) + 1e-17 * rng.normal(size=(1 << k, 1 << k))
                for positions in ([0, k - 1, 1][:m] if k > 2 else [0, 1, 2][:m], list(range(k))[::-1][:m]):
                    assert np.array_equal(conjugate(rho, k, matrix, positions),
                                          _conjugate_by_products(rho, k, matrix, positions)), (k, positions)


def test_a_controlled_gates_full_matrix_is_built_once_and_read_only():
    """Every CNOT of a run shares one read-only 4x4 (``op_matrix`` keeps it by the target matrix's bytes);
    another controlled gate gets its own."""
    first, qubits = op_matrix(gate_op("cx", [3, 5]))
    again, _ = op_matrix(gate_op("cx", [5, 3]))
    assert again is first and not first.flags.writeable and qubits == (5, 3)
    assert np.array_equal(first, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    cz, _ = op_matrix(gate_op("cz", [0, 1]))
    assert cz is not first and np.array_equal(cz, np.diag([1, 1, 1, -1]))
