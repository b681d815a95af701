"""A ``dqc`` run file's node names as a dataset written a piece at a time (docs/architecture.md, "Networks at scale").

Until 2026-12-07 (morning) the names were the root attribute ``node_names``, a JSON list of every name made whole
when the file was written (2^20 Python strings for the largest networks), and the ``links`` table's names were
taken from an array of every name. Now the run file has a ``node_names`` dataset made a piece at a time from the
nodes' indices (:func:`dqsim.scenarios.dqc.node_names_table`), and the readers take either layout:
:meth:`dqsim.io.RunFile.node_names`, ``dqsim inspect`` and ``dqsim merge``.
"""

import json

import numpy as np
import pytest

import dqsim.io.writer as writer
from dqsim.cli.merge import merge_files
from dqsim.io import open_run, write_run_file
from dqsim.network.node import NumberedNames, longest_name, names_at
from dqsim.scenarios import dqc
from dqsim.scenarios.output import TableInPieces
from mpi_helper import run_here


def _job(folder, body='topology = "line"\nnum_nodes = 37', name="names"):
    job = folder / f"{name}.toml"
    job.write_text(f'[run]\nname = "{name}"\nscenario = "dqc"\nseed = 1\n[network]\n{body}\n'
                   "[network.link]\ndistance_km = 1.0\n[network.node]\nnum_data_qubits = 1\nnum_comm_qubits = 2\n"
                   '[circuit]\ngenerator = "ghz"\nnum_qubits = 4\n[simulation]\nshots = 10\n')
    return job


@pytest.mark.parametrize("names", [NumberedNames("node", 1013), NumberedNames("", 120), ("e", "dd", "c", "alpha")])
def test_names_at_and_the_longest_name_are_the_names_themselves(names):
    """Any indices (repeated, out of order) give the names ``names[i]``, and the longest of them, as the plain
    tuple of names does."""
    plain = tuple(names)
    indices = np.array([len(plain) - 1, 0, 3, 3, 1, len(plain) // 2], dtype=np.int64)
    assert names_at(names, indices).tolist() == [plain[i] for i in indices]
    assert longest_name(names) == max(map(len, plain))
    assert longest_name(names, indices[1:3]) == max(len(plain[i]) for i in indices[1:3])


def test_a_dqc_run_file_holds_its_names_as_a_dataset_written_in_pieces(tmp_path, monkeypatch):
    """The names are a dataset (several pieces of 16 rows here), no root attribute, the same as the network's;
    the ``links`` table names the same nodes."""
    monkeypatch.setattr(writer, "TABLE_PIECE_ROWS", 16)
    asked = []
    made = dqc.node_names_table

    def counted(names):
        table = made(names)
        return TableInPieces(table.dtype, len(table),
                             lambda start, stop: asked.append((start, stop)) or table.table_rows(start, stop))

    monkeypatch.setattr(dqc, "node_names_table", counted)
    run_here(["run", str(_job(tmp_path)), "-o", str(tmp_path / "out.h5"), "--quiet"])
    run = open_run(tmp_path / "out.h5")
    assert "node_names" not in run.attrs and "node_names" in run.tables
    assert run.node_names() == [f"node{i}" for i in range(37)]
    assert asked == [(0, 16), (16, 32), (32, 37)]
    links = run.table("links")
    assert links["node_a"].tolist() == [f"node{i}" for i in range(36)]
    assert links["node_b"].tolist() == [f"node{i}" for i in range(1, 37)]


def _old_layout(path, names):
    """A run file of the layout before 2026-12-07 (morning): the names in the root attribute."""
    return write_run_file(path, attrs={"scenario": "dqc", "node_names": list(names)},
                          tables={"counts": np.array([("00", 5)], dtype=[("bitstring", "U2"), ("count", "i8")])})


def test_a_file_of_the_old_layout_still_reads(tmp_path):
    old = _old_layout(tmp_path / "old.h5", ["a", "bb", "c"])
    assert open_run(old).node_names() == ["a", "bb", "c"]
    shown = json.loads(run_here(["inspect", str(old), "--json"]).stdout)
    assert shown["attrs"]["node_names"] == ["a", "bb", "c"]


def test_inspect_shows_the_names_dataset(tmp_path):
    run_here(["run", str(_job(tmp_path)), "-o", str(tmp_path / "out.h5"), "--quiet"])
    shown = json.loads(run_here(["inspect", str(tmp_path / "out.h5"), "--json"]).stdout)
    assert "node_names" not in shown["attrs"]
    table = run_here(["inspect", str(tmp_path / "out.h5"), "--table", "node_names"]).stdout
    assert "node0" in table and "node36" in table


def test_merge_keeps_equal_names_once_from_either_layout_and_per_task_where_they_differ(tmp_path):
    """An old-layout file and a new one of the same network merge to one ``node_names`` dataset (not a task
    column and a root attribute); files of different networks to a table of ``task`` and ``name``."""
    run_here(["run", str(_job(tmp_path, 'topology = "line"\nnum_nodes = 5')), "-o", str(tmp_path / "new.h5"),
              "--quiet"])
    old = _old_layout(tmp_path / "old.h5", [f"node{i}" for i in range(5)])
    merge_files([tmp_path / "new.h5", old], tmp_path / "same.h5")
    same = open_run(tmp_path / "same.h5")
    assert same.node_names() == [f"node{i}" for i in range(5)] and "node_names" not in same.attrs
    other = _old_layout(tmp_path / "other.h5", ["a", "b"])
    merge_files([tmp_path / "new.h5", other], tmp_path / "differ.h5")
    differ = open_run(tmp_path / "differ.h5")
    assert differ.node_names() is None and "node_names" not in differ.attrs
    assert differ.table("node_names").tolist() == [*((0, f"node{i}") for i in range(5)), (1, "a"), (1, "b")]
