"""The constant-matrix GPU kernels: the lane kernel's shuffle arithmetic replayed in NumPy (runs
everywhere), and both kernels on a GPU against the dense reference."""

import numpy as np
import pytest

from dqsim.backend import cuda_dense
from dqsim.state.gates import unitary_op
from reference import run_ops
from conftest import TEST_BACKEND as BACKEND
from test_cuda_tiles import N, _expected, _random  # the same random states, gates and dense reference
# (targets in gate order, control bits). Lane placements: every target below bit 5.
LANE_PLACES = [([0], []), ([4], [0]), ([1, 0], []), ([3, 1], [7]), ([0, 1, 2], []), ([4, 0, 2], [1, 9]),
               ([2, 0, 4, 1], []), ([3, 4, 0, 1], [2])]
# Group placements: some target at bit 5 or above, or five targets.
GROUP_PLACES = [([9], [0]), ([8, 2], [5]), ([7, 3, 0], [1, 9]), ([9, 8, 7, 6], [0]), ([4, 3, 2, 1, 0], []),
                ([0, 9, 5, 2, 7], [3]), ([5, 6], [])]


@pytest.mark.parametrize("targets, controls", LANE_PLACES)
def test_emulated_lanes_apply_the_gate(targets, controls):
    """Each lane's row and XOR partners (emulate_lanes) give the dense reference, controls respected."""
    psi, matrix = _random(len(targets), 3 + sum(targets))
    got = cuda_dense.emulate_lanes(psi, targets, matrix, sum(1 << c for c in controls))
    np.testing.assert_allclose(got, _expected(psi, targets, controls, matrix), atol=1e-12)


def test_emulated_lanes_fail_with_a_wrong_partner():
    """The emulation is sensitive to the masks: swapping two targets' roles gives another state."""
    psi, matrix = _random(2, 5)
    wrong = cuda_dense.emulate_lanes(psi, [0, 1], matrix, 0)
    assert not np.allclose(wrong, _expected(psi, [1, 0], [], matrix), atol=1e-6)


def test_lane_choice():
    assert cuda_dense.uses_lanes((4, 0, 2, 1), 1 << 20)
    assert not cuda_dense.uses_lanes((4, 0, 2, 1, 3), 1 << 20)   # five targets: group kernel
    assert not cuda_dense.uses_lanes((5,), 1 << 20)              # beyond one warp's amplitudes
    assert not cuda_dense.uses_lanes((0,), 16)                   # shard smaller than a warp


def test_module_source_refuses_what_it_cannot_build():
    with pytest.raises(ValueError, match="1..5 targets"):
        cuda_dense.module_source(6, np.complex128)
    with pytest.raises(ValueError, match="complex64 or complex128"):
        cuda_dense.module_source(2, np.float64)
    assert "typedef float2 amp_t" in cuda_dense.module_source(3, np.complex64)


@pytest.mark.skipif(BACKEND is None or not BACKEND.is_gpu, reason="needs DQSIM_TEST_BACKEND=cupy and a GPU")
@pytest.mark.parametrize("lanes", [True, False])
@pytest.mark.parametrize("precision", ["complex128", "complex64"])
@pytest.mark.parametrize("targets, controls", LANE_PLACES + GROUP_PLACES)
def test_cuda_const_kernels_match_reference(targets, controls, precision, lanes):
    """Both CUDA kernels on a GPU equal the dense reference (lanes=False: the group kernel everywhere)."""
    psi, matrix = _random(len(targets), 11 + len(targets))
    launcher = cuda_dense.ConstDense(BACKEND.xp)
    device = BACKEND.xp.asarray(psi.astype(precision))
    launcher.apply(device, targets, matrix, sum(1 << c for c in controls), lanes=lanes)
    tol = 1e-12 if precision == "complex128" else 1e-5
    np.testing.assert_allclose(BACKEND.to_host(device), _expected(psi, targets, controls, matrix), atol=tol)


@pytest.mark.skipif(BACKEND is None or not BACKEND.is_gpu, reason="needs DQSIM_TEST_BACKEND=cupy and a GPU")
def test_cuda_const_kernels_in_sequence_keep_their_matrices():
    """Gates launched back to back (no synchronisation) each see their own matrix in constant memory."""
    rng = np.random.default_rng(3)
    psi = rng.normal(size=1 << N) + 1j * rng.normal(size=1 << N)
    launcher = cuda_dense.ConstDense(BACKEND.xp)
    device = BACKEND.xp.asarray(psi)
    expected = psi.copy()
    for step in range(12):
        targets = [[0, 1], [6, 2], [3]][step % 3]
        q, _ = np.linalg.qr(rng.normal(size=(1 << len(targets),) * 2) + 1j * rng.normal(size=(1 << len(targets),) * 2))
        launcher.apply(device, targets, q, 0)
        expected = run_ops(N, [unitary_op(q, targets, [])], expected)
    np.testing.assert_allclose(BACKEND.to_host(device), expected, atol=1e-12)
