"""Dynamic circuits in the dqc scenario give the same shots, times and timelines on 1, 2 and 4 ranks and
for another placement of the QPUs on ranks (teleportation with feed-forward over 3 QPUs; reset, a routed
nonlocal gate inside an `if`, a bit that changes QPU, a nested `if`)."""

import numpy as np
import pytest

from mpi_helper import run_mpi_placements

CONFIGS = [(1, None), (2, None), (4, None), (2, "1,0,1")]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The arrays of each (ranks, placement) of CONFIGS: one launch per rank count, running its placements."""
    return run_mpi_placements(CONFIGS, "tests/mpi_scripts/dqc_dynamic_check.py", tmp_path_factory.mktemp("dqc_dynamic"))


@pytest.mark.parametrize("label", ["teleport", "reset"])
def test_identical_on_any_rank_count_and_placement(results, label):
    reference = results[(1, None)]
    assert len(reference[f"{label}_shots"]) == 12 and len(set(reference[f"{label}_shots"])) > 1
    assert {"send-bit", "if", "measure", "reset"} <= set(reference[f"{label}_kinds"])
    for config, res in results.items():
        for key in ("shots", "time_ps", "links", "timeline", "kinds"):
            np.testing.assert_array_equal(res[f"{label}_{key}"], reference[f"{label}_{key}"], err_msg=f"{config} {key}")
