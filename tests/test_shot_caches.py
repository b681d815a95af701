"""What a run of many trajectories keeps between shots gives, bit for bit, what working it out again gives:
the permutation check of a gate matrix, the tile geometry, a pair's and a joining state's preparation, the
pure states of a small state, the gate that returns a measured network qubit to |0⟩, and ``Stream.uniform``."""

import math

import numpy as np
import pytest

from dqsim.backend import fast
from dqsim.engine import quantum
from dqsim.rng import Stream
from dqsim.state.small import SmallStates, phase_fixed, preparation_unitary, pure_mixture_of

H = np.array([[1, 1], [1, -1]], dtype=np.complex128) / math.sqrt(2)
CX = np.eye(4, dtype=np.complex128)[[0, 3, 2, 1]]


@pytest.mark.parametrize("matrix, expected", [
    (np.array([[0, 1], [1, 0]], dtype=np.complex128), [1, 0]),
    (CX, [0, 3, 2, 1]),
    (np.eye(4)[[1, 0, 3, 2]], [1, 0, 3, 2]),
    (H, None),
    (np.array([[0, 1j], [1, 0]]), None),
    (np.diag([1, -1]).astype(np.complex64), None),
])
def test_permutation_check_is_the_same_asked_twice_and_for_equal_bytes(matrix, expected):
    first = fast.permutation_of(matrix)
    again = fast.permutation_of(matrix.copy())  # another array, the same bytes
    worked_out = fast._permutation_of(matrix)
    for got in (first, again):
        assert (got is None and expected is None) or got.tolist() == expected == worked_out.tolist()
    assert fast.permutation_of(np.array([[0, 1], [1, 0]], dtype=np.float32)).tolist() == [1, 0]  # dtype in the key


def test_tile_geometry_kept_equals_worked_out():
    kept = fast._tile_geometry([2, 0], 0b10, 64)
    fresh = fast._tile_geometry_of.__wrapped__((2, 0), 2, 64)
    assert all(np.array_equal(a, b) for a, b in zip(kept, fresh))
    assert fast._tile_geometry((2, 0), 2, 64)[1] is kept[1]


def _noisy_pair() -> np.ndarray:
    phi = np.array([1, 0, 0, 1], dtype=np.complex128) / math.sqrt(2)
    rho = 0.9 * np.outer(phi, phi) + 0.1 * np.eye(4) / 4  # a Werner state of w = 0.9
    rho[0, 3] += 0.01j  # not Bell-diagonal
    rho[3, 0] -= 0.01j
    return rho


def test_pair_preparations_are_those_of_the_worked_out_mixture_bit_for_bit():
    rho = _noisy_pair()
    weights, unitaries = quantum._pair_preparations(rho.dtype.str, rho.tobytes())
    _weights, cumulative, vectors = pure_mixture_of(rho)
    assert np.array_equal(weights, cumulative)
    for k in range(4):
        assert np.array_equal(unitaries[k], preparation_unitary(vectors[:, k]))
        assert np.allclose(unitaries[k][:, 0], vectors[:, k])
    # the mixture's states: eigh's eigenvectors (each phase fixed: a pair joins as +Φ+, not eigh's −Φ+) where
    # their eigenvalue is not degenerate; the degenerate (1 − w)/4 eigenspace, here spanned by Ψ+ and Ψ−, as those
    values, eigenvectors = np.linalg.eigh(rho)
    eigenvectors = phase_fixed(eigenvectors)
    assert np.allclose(cumulative, np.cumsum(np.clip(values, 0.0, None)), rtol=0, atol=1e-15)
    for k in (0, 3):
        assert np.allclose(vectors[:, k], eigenvectors[:, k], rtol=0, atol=1e-14)
    psi = np.array([[0, 1, 1, 0], [0, 1, -1, 0]], dtype=np.complex128).T / math.sqrt(2)
    assert np.allclose(vectors[:, 1:3], psi, rtol=0, atol=1e-11)  # (eigh: 1e-16 over the 1e-4 gap to λ_0)


def test_take_pure_draws_the_state_it_would_work_out():
    rho = _noisy_pair()
    _weights, cumulative, vectors = pure_mixture_of(rho)
    for uniform in (0.0, 0.05, 0.5, 0.999):
        got = []
        for _ in range(2):  # the second one from the kept decomposition
            small = SmallStates()
            small.install([3, 4], rho)
            qubits, vector = small.take_pure(3, uniform)
            got.append(vector)
        index = min(int(np.searchsorted(cumulative, uniform * cumulative[-1], side="right")), 3)
        assert qubits == [3, 4] and all(np.array_equal(v, vectors[:, index]) for v in got)
    got[0][0] = 99  # a copy: the kept decomposition does not change
    small = SmallStates()
    small.install([3, 4], rho)
    assert np.array_equal(small.take_pure(3, 0.999)[1], vectors[:, 3])


@pytest.mark.parametrize("basis", ["Z", "X", "Y"])
@pytest.mark.parametrize("outcome", [0, 1])
def test_a_measured_network_qubit_returns_to_zero(basis, outcome):
    post, back = quantum._AFTER_MEASURE[basis, outcome]
    rotation = quantum._ROTATION[basis]
    ket = np.eye(2, dtype=np.complex128)[outcome]
    assert np.array_equal(post, rotation.conj().T @ ket)
    gate = np.eye(2) if back is None else back
    assert np.allclose(gate @ post, np.array([1, 0]) * np.exp(1j * np.angle((gate @ post)[0])))
    assert (back is None) == (basis == "Z" and outcome == 0)


def test_uniform_draws_what_a_new_generator_draws():
    a, b = Stream(5, node=2, purpose="measure"), Stream(5, node=2, purpose="measure")
    for size in (None, 1, 3):
        got, want = a.uniform(size), b.next_generator().random(size)
        assert np.array_equal(got, want) and a.event == b.event
