"""The tiled GPU kernel's geometry, replayed in NumPy (runs everywhere), and the kernel itself on a GPU."""

import numpy as np
import pytest

from dqsim.backend import cuda_tiles
from dqsim.state.gates import unitary_op
from reference import run_ops
from conftest import TEST_BACKEND as BACKEND

N = 10
# (targets, control bits): lowest bits, highest bits, mixed and unsorted, with controls in and out of the tile.
PLACES = [([0], []), ([9], [0]), ([1, 0], []), ([8, 2], [5]), ([0, 1, 2], []), ([7, 3, 0], [1, 9]),
          ([2, 0, 4, 1], []), ([9, 8, 7, 6], [0]), ([4, 3, 2, 1, 0], []), ([0, 9, 5, 2, 7], [3])]


def _random(k, seed):
    rng = np.random.default_rng(seed)
    psi = rng.normal(size=1 << N) + 1j * rng.normal(size=1 << N)
    q, _ = np.linalg.qr(rng.normal(size=(1 << k, 1 << k)) + 1j * rng.normal(size=(1 << k, 1 << k)))
    return psi, q


def _expected(psi, targets, controls, matrix):
    return run_ops(N, [unitary_op(matrix, targets, controls)], psi.copy())


@pytest.mark.parametrize("targets, controls", PLACES)
def test_emulated_tiles_apply_the_gate(targets, controls):
    """The kernel's index arithmetic (emulate) equals the dense reference: every group once, members in order."""
    psi, matrix = _random(len(targets), len(targets) + sum(targets))
    plan = cuda_tiles.tile_plan(targets, N, tile_amplitudes=64)
    assert plan is not None and plan.num_tiles == 1 << (N - 6)
    got = psi.copy()
    cuda_tiles.emulate(got, plan, matrix, sum(1 << c for c in controls))
    np.testing.assert_allclose(got, _expected(psi, targets, controls, matrix), atol=1e-12)


def test_tile_plan_spans_runs_of_consecutive_amplitudes():
    """A tile spans every bit below its lowest gap, at least GB of them: reads come in runs of >= 2^GB."""
    for targets in ([0], [3], [9, 8], [5, 0, 2], [9, 1, 4, 6, 8]):
        plan = cuda_tiles.tile_plan(targets, 20)
        run = next(t for t, b in enumerate(plan.span + (-1,)) if b != t)
        assert run >= plan.group_bits and len(plan.span) == plan.k + plan.group_bits
        assert sorted(plan.span + plan.rest) == list(range(20))


def test_tile_plan_declines_what_it_cannot_tile():
    assert cuda_tiles.tile_plan([0, 1], 8) is None          # shard smaller than a tile
    assert cuda_tiles.tile_plan(list(range(6)), 20) is None  # more than MAX_TILE_TARGETS
    assert cuda_tiles.tile_plan([3, 3], 20) is None          # repeated target


@pytest.mark.skipif(BACKEND is None or not BACKEND.is_gpu, reason="needs DQSIM_TEST_BACKEND=cupy and a GPU")
@pytest.mark.parametrize("precision", ["complex128", "complex64"])
@pytest.mark.parametrize("targets, controls", PLACES)
def test_cuda_tiles_match_reference(targets, controls, precision):
    """The CUDA kernel on a GPU (tiles of 64 amplitudes: 16 tiles at N = 10) equals the dense reference."""
    psi, matrix = _random(len(targets), 7 + len(targets))
    launcher = cuda_tiles.TiledDense(BACKEND.xp, tile_amplitudes=64)
    device = BACKEND.xp.asarray(psi.astype(precision))
    assert launcher.apply(device, targets, matrix, sum(1 << c for c in controls))
    tol = 1e-12 if precision == "complex128" else 1e-5
    np.testing.assert_allclose(BACKEND.to_host(device), _expected(psi, targets, controls, matrix), atol=tol)
