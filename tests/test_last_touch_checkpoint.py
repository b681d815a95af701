"""A checkpoint saves the last-touch times of only the network qubits that were touched (since 2026-12-07).

The engine keeps each network qubit's last touch (the start of its idle decoherence) in an ``array("q")``, 0 until
first touched. A checkpoint's ``last_touched`` table (:data:`dqsim.engine.checkpoint.LAST_TOUCHED`) lists the qubits
whose time is not 0; before, its ``last_touch`` table held every qubit's (8 bytes a qubit: 4.2 of a 262,144-node
line's 5.3 MB checkpoint). A run with decaying memories, resumed on 1 and 2 ranks, gives the uninterrupted run's
tables; the same checkpoint with its touches dropped does not (so the table is read); one rewritten in the older
layout resumes to the same tables.
"""

import h5py
import numpy as np
import pytest

from dqsim.cli.main import main
from dqsim.engine import checkpoint
from dqsim.engine.quantum import QuantumMemory
from dqsim.io import open_run
from run_files import same_tables
from test_network_checkpoint import (JOB as LINE_JOB, TABLES, copy_checkpoint, resumed_on_one_and_two_ranks,
                                     run_with_checkpoints)
from test_reliability import resign

NUM_NODES = 256

#: test_network_checkpoint's GHZ over a line, on fewer nodes and with memories that decay (so touches matter).
JOB = (LINE_JOB.replace('name = "sparse_line"', 'name = "touched"').replace("seed = 3", "seed = 5")
       .replace("num_nodes = 4096", f"num_nodes = {NUM_NODES}")
       .replace("num_comm_qubits = 2 }", "num_comm_qubits = 2, t1_s = 2e-4, t2_s = 1e-4 }"))
assert JOB.count("t2_s = 1e-4") == 1 and f"num_nodes = {NUM_NODES}\n" in JOB

@pytest.fixture(scope="module")
def decaying_line(tmp_path_factory):
    """The job run on one rank with checkpoints: (uninterrupted output, a middle checkpoint)."""
    out, ckpts = run_with_checkpoints(tmp_path_factory.mktemp("touched"), JOB, "ck")
    return out, ckpts[len(ckpts) // 2]


def _rewrite_touches(path, tables: dict) -> None:
    """Replace the checkpoint's last-touch tables by ``tables`` (name -> array) and re-sign its manifest."""
    with h5py.File(path, "r+") as h5:
        for name in ("last_touch", checkpoint.LAST_TOUCHED):
            if name in h5:
                del h5[name]
        for name, table in tables.items():
            h5[name] = table
    resign(path)


def test_a_checkpoint_lists_only_the_touched_qubits(decaying_line):
    _out, middle = decaying_line
    run = open_run(middle)
    assert "last_touch" not in run.tables
    table = run.table(checkpoint.LAST_TOUCHED)
    assert table.dtype == checkpoint.LAST_TOUCHED_DTYPE
    assert 0 < len(table) < 4 * 3  # some qubits of the GHZ's four nodes, none of the other 252 nodes' 756
    assert (table["time_ps"] > 0).all() and (np.diff(table["qubit"]) > 0).all()
    assert table["time_ps"].max() <= run.attrs["window_end_ps"]


def test_a_resume_with_the_touched_qubits_gives_the_uninterrupted_tables(decaying_line, tmp_path):
    out, middle = decaying_line
    full = open_run(out)
    resumed_on_one_and_two_ranks(full, middle, tmp_path)

    dropped = copy_checkpoint(middle, tmp_path / "c")  # every touch forgotten: the idle noise is not the same
    _rewrite_touches(dropped, {checkpoint.LAST_TOUCHED: np.zeros(0, dtype=checkpoint.LAST_TOUCHED_DTYPE)})
    assert main(["resume", str(dropped), "-o", str(tmp_path / "r3.h5"), "--quiet"]) == 0
    with pytest.raises(AssertionError):
        same_tables(full, open_run(tmp_path / "r3.h5"), ["counts"])


def test_a_checkpoint_with_every_qubits_time_still_resumes(decaying_line, tmp_path):
    """The layout before 2026-12-07: a ``last_touch`` table of every network qubit's time."""
    out, middle = decaying_line
    older = copy_checkpoint(middle, tmp_path / "old")
    touched = open_run(older).table(checkpoint.LAST_TOUCHED)
    every = np.zeros(NUM_NODES * 3, dtype=np.int64)
    every[touched["qubit"]] = touched["time_ps"]
    _rewrite_touches(older, {"last_touch": every})
    assert checkpoint.saved_touches(open_run(older)) == dict(zip(touched["qubit"].tolist(),
                                                                 touched["time_ps"].tolist()))
    assert main(["resume", str(older), "-o", str(tmp_path / "r.h5"), "--quiet"]) == 0
    same_tables(open_run(out), open_run(tmp_path / "r.h5"), TABLES)


def test_a_touch_of_a_qubit_the_run_does_not_have_is_refused(decaying_line, tmp_path, capsys):
    from test_reliability import cli, refused_in_one_line

    _out, middle = decaying_line
    other = copy_checkpoint(middle, tmp_path / "other")
    table = np.array([(NUM_NODES * 3, 5)], dtype=checkpoint.LAST_TOUCHED_DTYPE)
    _rewrite_touches(other, {checkpoint.LAST_TOUCHED: table})
    code, err = cli(capsys, "resume", other, "-o", tmp_path / "x.h5", "--quiet")
    assert refused_in_one_line(code, err) and f"qubit {NUM_NODES * 3} is not one of this run's" in err[0], err


def test_memory_touches_are_an_int64_array_saved_sparsely_and_merged_by_latest():
    memory = QuantumMemory(owner=[0, 0, 1, 1, 2], t1_s=[1.0] * 3, t2_s=[1.0] * 3, seed=1)
    assert memory.last_touch_ps.typecode == "q" and list(memory.last_touch_ps) == [0] * 5
    memory.last_touch_ps[3] = 70
    memory.last_touch_ps[1] = 20
    assert memory.touched() == {1: 20, 3: 70} and memory.snapshot()["last_touched"] == {1: 20, 3: 70}
    other = {**memory.snapshot(), "last_touched": {3: 50, 4: 90}}
    assert QuantumMemory.merged_snapshot([memory.snapshot(), other])["last_touched"] == {1: 20, 3: 70, 4: 90}
    memory.set_touched({0: 5})
    assert list(memory.last_touch_ps) == [5, 0, 0, 0, 0]
    with pytest.raises(IndexError, match="qubit 5 is not one of this run's 5 qubits"):
        memory.set_touched({5: 1})
    older = {**memory.snapshot(), "last_touch_ps": [1, 2, 3, 4, 5]}
    del older["last_touched"]
    memory.restore(older)  # a checkpoint's shared record written before 2026-12-07
    assert list(memory.last_touch_ps) == [1, 2, 3, 4, 5] and memory.last_touch_ps.typecode == "q"
