"""The sharded state on 1, 2 and 4 ranks against the one-process dense reference.

Each rank count runs tests/mpi_scripts/state_check.py once (mpiexec in a
subprocess with a timeout); the saved results must equal the reference within
1e-10 (complex128) and the random outcomes must be identical across rank counts.
"""

import numpy as np
import pytest

from mpi_helper import run_check_here, run_mpi_arrays
from mpi_scripts.state_check import random_ops
from reference import run_ops

RANKS = (1, 2, 4)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = {}
    folder = tmp_path_factory.mktemp("state_mpi")
    for n in RANKS:
        if n == 1:  # the script's main in this process (no interpreter to start)
            run_check_here("state_check", str(folder / "ranks1.npz"))
            out[n] = dict(np.load(folder / "ranks1.npz"))
        else:
            out[n] = run_mpi_arrays(n, "tests/mpi_scripts/state_check.py", folder / f"ranks{n}.npz", timeout_s=240)
    return out


@pytest.mark.parametrize("label,n,count,high", [("rand10", 10, 300, False), ("rand13", 13, 120, False),
                                                ("high8", 8, 200, True)])
@pytest.mark.parametrize("ranks", RANKS)
def test_final_state_matches_reference(results, label, n, count, high, ranks):
    ref = run_ops(n, random_ops(n, count, seed=n * 7 + high))
    got = results[ranks][f"{label}_state"]
    assert np.max(np.abs(got - ref)) < 1e-10
    if ranks > 1:
        assert results[ranks][f"{label}_exchanges"][0] > 0  # rank bits were really swapped


@pytest.mark.parametrize("ranks", RANKS[1:])
def test_random_outcomes_identical_across_rank_counts(results, ranks):
    one, many = results[1], results[ranks]
    for key in one:
        if key.endswith(("_shots", "_shots_sub", "_outcomes")):
            assert np.array_equal(one[key], many[key]), key
        elif key.endswith(("_after", "_probs", "_expect", "noise_state", "overlap")):
            assert np.max(np.abs(one[key] - many[key])) < 1e-10, key
    assert np.max(np.abs(one["c64_state"] - many["c64_state"])) < 1e-5


def test_expectations_match_reference(results):
    from reference import pauli_matrix

    for label, n, count, high in [("rand10", 10, 300, False), ("high8", 8, 200, True)]:
        psi = run_ops(n, random_ops(n, count, seed=n * 7 + high))
        expected = [
            0.5 * np.vdot(psi, pauli_matrix("XZ", (n - 1, 0), n) @ psi).real
            - np.vdot(psi, pauli_matrix("YY", (1, n - 2), n) @ psi).real,
            np.vdot(psi, pauli_matrix("ZZZ", (0, n - 1, 2), n) @ psi).real,
            np.vdot(psi, pauli_matrix("XYZ", (n - 1, n - 2, n - 3), n) @ psi).real,
        ]
        for ranks in RANKS:
            assert np.allclose(results[ranks][f"{label}_expect"], expected, atol=1e-10)


def test_overlap_matches_reference(results):
    ops = random_ops(9, 80, seed=5)
    expected = np.vdot(run_ops(9, ops), run_ops(9, ops[:60]))
    for ranks in RANKS:
        assert abs(results[ranks]["overlap"][0] - expected) < 1e-10


@pytest.mark.parametrize("ranks", RANKS)
def test_relayout_and_growth(results, ranks):
    r = results[ranks]
    np.testing.assert_array_equal(r["relayout_after"], r["relayout_before"])
    v = r["relayout_before"]
    w = np.concatenate([v, np.zeros_like(v)])          # new qubit 7 in |0>
    idx = np.arange(256)
    w = w[np.where(idx & 1, idx ^ 128, idx)]            # CX(0 -> 7)
    lo, hi = w[:128], w[128:]
    w = np.concatenate([lo + hi, lo - hi]) / np.sqrt(2)  # H on qubit 7
    np.testing.assert_allclose(r["grown"], w, atol=1e-12)
