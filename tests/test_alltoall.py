"""Started all-to-alls (``MPIComm.start_alltoall``): the engine's exchanges, looked at while events run.

tests/mpi_scripts/alltoall_check.py keeps two all-to-alls in flight at once
and looks at the first with ``test`` until it has come, while the highest
rank posts late: the looks find some ranks' objects come and the late one's
not, and every object must still reach its rank, in its own all-to-all.
"""

import pytest

from mpi_helper import run_mpi_arrays


@pytest.mark.parametrize("ranks", [2, 3])
def test_started_alltoalls_deliver_every_object_to_its_rank_while_looked_at(tmp_path, ranks):
    out = run_mpi_arrays(ranks, "tests/mpi_scripts/alltoall_check.py", tmp_path / "alltoall.npz")
    assert out["good"].all()  # both all-to-alls: every rank's object for this rank, none swapped or lost
    early = slice(0, ranks - 1)
    # the ranks that posted first looked while the late rank's object had not come; at the end of their looks
    # only that rank was awaited (with 3 ranks: the other early rank's object had come meanwhile)
    assert (out["looks"][early] > 0).all()
    assert (out["fewest"][early] == 1).all()
    assert (out["most"][early] <= ranks - 1).all()
