"""A Bell-diagonal pair (a Werner pair) joins the data register as one of the four Bell states, drawn with its
Bell weight (the Pauli unravelling, Bennett et al., PRA 54, 3824 (1996)), not as whatever basis
``numpy.linalg.eigh`` picks for a degenerate eigenspace; other pairs' degenerate eigenspaces get a basis that
does not depend on LAPACK's choice (the means stay those of the density matrix: tests/test_engine.py)."""

import math

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.engine import quantum
from dqsim.jobs import load_job_text
from dqsim.scenarios import trotter
from dqsim.state import small as small_mod
from dqsim.state.small import BELL_BASIS, SmallStates, mixture_index, pure_mixture_of
from conftest import TEST_BACKEND

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")
PHI_PLUS = np.array([1, 0, 0, 1], dtype=np.complex128) / math.sqrt(2)
#: Φ+, Φ−, Ψ+, Ψ− written out (little-endian over (a, b): index a + 2b), not taken from the code under test.
_EIGH = np.linalg.eigh  # (the real one: a test below stands another in for it)
BELL = np.array([[1, 0, 0, 1], [1, 0, 0, -1], [0, 1, 1, 0], [0, 1, -1, 0]], dtype=np.complex128).T / math.sqrt(2)


def werner(w: float) -> np.ndarray:
    return w * np.outer(PHI_PLUS, PHI_PLUS.conj()) + (1 - w) * np.eye(4) / 4


def _drawn(cumulative: np.ndarray, vectors: np.ndarray, points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """The states that a grid of uniforms draws from a mixture, and how often each one (fraction of the grid)."""
    index = [mixture_index(cumulative, u) for u in (np.arange(points) + 0.5) / points]
    return np.bincount(index, minlength=vectors.shape[1]) / points, vectors


@pytest.mark.parametrize("w", [0.9, 0.6, 0.2])
def test_a_werner_pair_joins_as_a_bell_state_with_its_bell_weight(w):
    """Weights ((1 + 3w)/4, (1 − w)/4 three times) on Φ+, Φ−, Ψ+, Ψ−, exactly those vectors, whichever way the
    pair joins: as a small state (``take_pure``) or as an exact state prepared in the register
    (``_pair_preparations``). Before, the three (1 − w)/4 states were eigh's arbitrary basis of that eigenspace."""
    rho = werner(w)
    expected = np.array([(1 + 3 * w) / 4] + [(1 - w) / 4] * 3)
    weights, cumulative, vectors = pure_mixture_of(rho)
    np.testing.assert_allclose(weights, expected, rtol=0, atol=1e-15)
    assert np.array_equal(vectors, BELL)
    frequencies, _ = _drawn(cumulative, vectors)
    np.testing.assert_allclose(frequencies, expected, atol=1e-3)
    pair_cumulative, unitaries = quantum._pair_preparations(rho.dtype.str, rho.tobytes())
    for k in range(4):
        np.testing.assert_allclose(unitaries[k] @ np.eye(4)[:, 0], BELL[:, k], rtol=0, atol=1e-15)
    np.testing.assert_allclose(pair_cumulative, np.cumsum(expected), rtol=0, atol=1e-15)
    for uniform, k in ((0.0, 0), ((1 + 3 * w) / 4 + 1e-9, 1), (0.99, 3)):
        store = SmallStates()
        store.install([3, 4], rho)
        qubits, vector = store.take_pure(3, uniform)
        assert qubits == [3, 4] and np.allclose(vector, BELL[:, k], rtol=0, atol=1e-15)


def test_a_bell_diagonal_pair_within_the_tolerance_is_taken_as_one_and_beyond_it_is_not():
    rho = werner(0.8).astype(np.complex128)
    rho[0, 3] += 1e-14j  # a Φ+/Φ− coherence below 1e-12 · Tr ρ
    rho[3, 0] -= 1e-14j
    assert np.array_equal(pure_mixture_of(rho)[2], BELL)
    rho[0, 3] += 1e-6j
    rho[3, 0] -= 1e-6j
    weights, _cumulative, vectors = pure_mixture_of(rho)
    assert not np.array_equal(vectors, BELL)
    np.testing.assert_allclose(vectors @ np.diag(weights) @ vectors.conj().T, rho, rtol=0, atol=1e-15)


def _rotated_degenerate(rho: np.ndarray, seed: int):
    """``numpy.linalg.eigh`` as another LAPACK might answer: each degenerate eigenspace in another basis."""
    values, vectors = _EIGH(rho)
    rng = np.random.default_rng(seed)
    start = 0
    for stop in range(1, values.size + 1):
        if stop == values.size or values[stop] - values[stop - 1] > 1e-12:
            size = stop - start
            if size > 1:
                q, _ = np.linalg.qr(rng.normal(size=(size, size)) + 1j * rng.normal(size=(size, size)))
                vectors[:, start:stop] = vectors[:, start:stop] @ q
            start = stop
    return values, vectors


@pytest.mark.parametrize("spectrum, size", [([0.1, 0.3, 0.3, 0.3], 4), ([0.5, 0.25, 0.25, 0.0], 4),
                                            ([0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 8)])
def test_degenerate_eigenspaces_get_one_basis_whatever_eigh_returns(monkeypatch, spectrum, size):
    """A state that is not Bell-diagonal, with a degenerate eigenvalue: the states it is drawn as are the same
    (to 1e-12) when eigh returns another basis of the degenerate eigenspace, so ranks and machines with other
    LAPACK builds draw the same; and the mixture is still ρ."""
    rng = np.random.default_rng(size)
    q, _ = np.linalg.qr(rng.normal(size=(size, size)) + 1j * rng.normal(size=(size, size)))
    rho = q @ np.diag(spectrum).astype(np.complex128) @ q.conj().T
    reference = pure_mixture_of(rho)
    for seed in range(3):
        monkeypatch.setattr(small_mod.np.linalg, "eigh", lambda m, seed=seed: _rotated_degenerate(m, seed))
        weights, cumulative, vectors = pure_mixture_of(rho)
        monkeypatch.undo()
        np.testing.assert_allclose(vectors, reference[2], rtol=0, atol=1e-12)
        np.testing.assert_allclose(cumulative, reference[1], rtol=0, atol=1e-14)
    weights, _cumulative, vectors = reference
    np.testing.assert_allclose(vectors @ np.diag(weights) @ vectors.conj().T, rho, rtol=0, atol=1e-14)
    np.testing.assert_allclose(vectors.conj().T @ vectors, np.eye(size), rtol=0, atol=1e-14)


def test_a_degenerate_eigenspace_spanned_by_computational_states_is_drawn_as_them():
    """A 3-qubit ρ = diag(...) with repeated values: the computational basis states themselves."""
    rho = np.diag([0.3, 0.1, 0.1, 0.2, 0.1, 0.1, 0.1, 0.0]).astype(np.complex128)
    weights, _cumulative, vectors = pure_mixture_of(rho)
    assert np.allclose(np.abs(vectors), np.abs(vectors).round(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(vectors @ np.diag(weights) @ vectors.conj().T, rho, rtol=0, atol=1e-15)


def test_a_draw_never_lands_on_a_state_of_weight_zero():
    """A pure Φ+ in Bell order has weights (1, 0, 0, 0): the largest uniform below 1 still draws Φ+."""
    cumulative = np.cumsum([1 / 3, 0.0, 2 / 3, 0.0])
    for uniform in (0.0, 0.2, 0.5, np.nextafter(1.0, 0.0)):
        assert mixture_index(cumulative, uniform) in (0, 2)
    assert mixture_index(np.cumsum(pure_mixture_of(werner(1.0))[0]), np.nextafter(1.0, 0.0)) == 0


def _telegate_job(trajectories: int, fidelity: float) -> str:
    """2 TFIM sites on 2 QPUs, one first-order step: rx on both sites, then one TeleGate rzz through a pair of
    Werner fidelity ``fidelity`` (the trotter physics review's case, bench/review_trotter_physics.py)."""
    return f"""[run]\nname = "bell"\nscenario = "trotter"\nseed = 5\n[model]\nkind = "tfim"\nnum_sites = 2
boundary = "open"\nJ = 1.0\nh = 0.8\ninitial = "up"\n[evolution]\ntotal_time = 0.6\nnum_points = 1
steps_per_point = 1\norder = 1\n[network]\ntopology = "line"\nnum_nodes = 2\n[network.link]\ndistance_km = 1.0
scheme = "direct"\nattenuation_db_per_km = 0.0\ndetector_efficiency = 1.0\nsource_fidelity = {fidelity}
dark_count_rate_hz = 0.0\n[network.node]\nnum_data_qubits = 1\nnum_comm_qubits = 2\nt1_s = inf\nt2_s = inf
[distribution]\nscheme = "telegate"\n[simulation]\nobservables = ["magnetization", "correlation"]
trajectories = {trajectories}\nshots = 0\n"""


def test_a_telegate_through_a_werner_pair_gives_zz_with_the_spread_of_the_bell_branches():
    """⟨Z0 Z1⟩ and ⟨Z⟩ commute with rzz and with every Pauli error a Bell branch of the pair puts on the
    control (a flip of its copy, a Z), so every trajectory gives the ideal value: standard error 0 and the
    mean equal to the Trotter column. Under eigh's basis the per-trajectory ⟨ZZ⟩ spread by 0.20 (std)."""
    out = trotter.run_job(load_job_text(_telegate_job(24, 0.85)), comm=comm_mod.SingleComm(), backend=BACKEND)
    rows = [r for r in out.tables["observables"] if r["time"] > 0]
    assert {r["observable"] for r in rows} == {"magnetization", "correlation"}
    for row in rows:
        assert row["networked_stderr"] < 1e-12, (row["observable"], row["networked_stderr"])
        assert row["networked"] == pytest.approx(row["trotter"], abs=1e-12)
    net = out.tables["network"][-1]
    assert 0 < net["fidelity_to_trotter_stderr"] and net["fidelity_to_trotter"] < 1  # the fidelity does spread
