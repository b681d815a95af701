"""The GPU exchange path (pieces staged through reusable host buffers) on 2 and 4 ranks, run on NumPy.

tests/mpi_scripts/staged_exchange_check.py swaps rank bits twice from the same
shards: through the direct path and through the host-staged path of a GPU
without CUDA-aware MPI (a stand-in backend with NumPy arrays). The two must
give the same state, bit for bit; the staged run must really have staged.
"""

import numpy as np
import pytest

from mpi_helper import run_mpi_arrays


@pytest.mark.parametrize("ranks", [2, 4])
def test_staged_exchange_equals_direct(tmp_path, ranks):
    out = run_mpi_arrays(ranks, "tests/mpi_scripts/staged_exchange_check.py", tmp_path / "staged.npz",
                         timeout_s=120)
    labels = [k[: -len("_direct")] for k in out if k.endswith("_direct")]
    assert set(labels) == ({"top", "low"} if ranks == 2 else {"top", "low", "two"})
    for label in labels:
        np.testing.assert_array_equal(out[f"{label}_staged"], out[f"{label}_direct"])
        assert not np.array_equal(out[f"{label}_direct"], out["initial"])  # data really moved
        assert out[f"{label}_staged_sent"][0] == out[f"{label}_direct_sent"][0] > 0
    assert out["staged_copies"][0] >= 8  # many 512-byte pieces went through the host buffers
