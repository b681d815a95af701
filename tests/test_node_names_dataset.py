"""A ``dqc``, ``trotter`` or ``cloud`` run file's node names as a dataset written a piece at a time
(docs/architecture.md, "Outputs").

Until 2026-12-07 (morning) a ``dqc`` run file's names were the root attribute ``node_names``, a JSON list of every
name made whole when the file was written (2^20 Python strings for the largest networks), and the ``links``
table's names were taken from an array of every name; ``trotter`` and ``cloud`` run files kept the attribute
(``cloud``'s also ``qpu_names``) until 2026-12-07 (later). Now each has a ``node_names`` dataset made a piece at a
time from the nodes' indices by the rank that writes alone (:func:`dqsim.scenarios.output.add_node_names`), and the
readers take either layout: :meth:`dqsim.io.RunFile.node_names`, ``dqsim inspect``, ``dqsim merge`` and ``dqsim
plot`` of a ``cloud`` run.
"""

import json

import h5py
import numpy as np
import pytest

import dqsim.io.reader as reader
import dqsim.io.writer as writer
from dqsim.cli.merge import merge_files
from dqsim.io import encoding, open_run, write_run_file
from dqsim.network.node import NumberedNames, longest_name, names_at
from dqsim.scenarios import output
from dqsim.scenarios.output import TableInPieces
from mpi_helper import SCRIPTS, run_here, run_mpi


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


def _asked_pieces(monkeypatch) -> list:
    """The pieces of the ``node_names`` dataset the writer asks for (in pieces of 16 rows), as they are asked."""
    monkeypatch.setattr(writer, "TABLE_PIECE_ROWS", 16)
    asked = []
    made = output.node_names_table

    def counted(names):
        table = made(names)
        return TableInPieces(table.dtype, len(table),
                             lambda start, stop: asked.append((start, stop)) or table.table_rows(start, stop))

    monkeypatch.setattr(output, "node_names_table", counted)
    return asked


def test_a_dqc_run_file_holds_its_names_as_a_dataset_written_in_pieces(tmp_path, monkeypatch):
    """The names are a dataset (several pieces of 16 rows here), no root attribute, the same as the network's;
    the ``links`` table names the same nodes."""
    asked = _asked_pieces(monkeypatch)
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


#: A ``trotter`` and a ``cloud`` job over a network given as NETWORK (its ``[network]`` keys), QPUs of 2 data qubits.
SCENARIO_JOBS = {
    "trotter": ('[run]\nname = "names_trotter"\nscenario = "trotter"\nseed = 1\n[model]\nkind = "tfim"\nnum_sites = 4\n'
                "[evolution]\ntotal_time = 0.2\nnum_points = 1\nsteps_per_point = 1\n[network]\n{network}\n"
                "[network.link]\ndistance_km = 1.0\n[network.node]\nnum_data_qubits = 2\nnum_comm_qubits = 2\n"
                "[distribution]\nassignment = [0, 0, 1, 2]\n"),
    "cloud": ('[run]\nname = "names_cloud"\nscenario = "cloud"\nseed = 1\n[network]\n{network}\n'
              "[network.link]\ndistance_km = 1.0\n[network.node]\nnum_data_qubits = 2\nnum_comm_qubits = 2\n"
              '[[user_jobs]]\nname = "a"\ngenerator = "ghz"\nnum_qubits = 4\nshots = 20\n'),
}
#: A network of named nodes, in an order other than the names' own.
NAMED = 'topology = "line"\nnum_nodes = 4\nnode_names = ["left", "middle", "r", "far"]'


def _scenario_job(folder, scenario, network=NAMED):
    job = folder / f"{scenario}.toml"
    job.write_text(SCENARIO_JOBS[scenario].format(network=network))
    return job


@pytest.mark.parametrize("scenario", ["trotter", "cloud"])
def test_trotter_and_cloud_run_files_hold_their_names_as_a_dataset_written_in_pieces(tmp_path, monkeypatch,
                                                                                      scenario):
    """As a ``dqc`` run file's since 2026-12-07 (morning): a ``node_names`` dataset (pieces of 16 rows here), no
    root attribute of every name (``cloud``: nor ``qpu_names``), the names the network's, read back whole."""
    asked = _asked_pieces(monkeypatch)
    run_here(["run", str(_scenario_job(tmp_path, scenario, 'topology = "line"\nnum_nodes = 37')), "-o",
              str(tmp_path / "out.h5"), "--quiet"])
    run = open_run(tmp_path / "out.h5")
    assert "node_names" in run.tables and not {"node_names", "qpu_names"} & set(run.attrs)
    assert run.node_names() == [f"node{i}" for i in range(37)] and run.attrs["num_nodes" if scenario == "trotter"
                                                                              else "num_qpus"] == 37
    assert asked == [(0, 16), (16, 32), (32, 37)]


def _as_old_layout(new, old, scenario):
    """A copy of the run file ``new`` in the layout of before 2026-12-07 (later): its names in the root attribute
    ``node_names`` (a ``cloud`` file's also in ``qpu_names``), each a JSON list, no ``node_names`` dataset."""
    names = open_run(new).node_names()
    with h5py.File(new, "r") as source, h5py.File(old, "w") as target:
        for key, value in source.attrs.items():
            target.attrs[key] = value
        for name in source:
            if name != "node_names":
                source.copy(source[name], target, name=name)
        encoding.encode_attrs(target.attrs, {"node_names": names, **({"qpu_names": names} if scenario == "cloud"
                                                                      else {})}, where="/")
    return old


@pytest.mark.parametrize("scenario", ["trotter", "cloud"])
def test_the_readers_give_the_same_names_from_either_layout(tmp_path, scenario):
    """``RunFile.node_names``, ``dqsim inspect``, ``dqsim merge`` (one ``node_names`` dataset from an old and a new
    file of the same network) and, for ``cloud``, ``dqsim plot``'s rows read a file of the old layout as one of
    the new."""
    new = tmp_path / "new.h5"
    run_here(["run", str(_scenario_job(tmp_path, scenario)), "-o", str(new), "--quiet"])
    old = _as_old_layout(new, tmp_path / "old.h5", scenario)
    names = ["left", "middle", "r", "far"]
    assert open_run(new).node_names() == open_run(old).node_names() == names
    assert "node_names" not in open_run(old).tables
    assert json.loads(run_here(["inspect", str(old), "--json"]).stdout)["attrs"]["node_names"] == names
    assert "middle" in run_here(["inspect", str(new), "--table", "node_names"]).stdout
    merge_files([new, old], tmp_path / "merged.h5")
    merged = open_run(tmp_path / "merged.h5")
    assert merged.node_names() == names and not {"node_names", "qpu_names"} & set(merged.attrs)
    if scenario == "cloud":
        matplotlib = pytest.importorskip("matplotlib")
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from dqsim.cli.plot_cloud import draw

        rows = []
        for path in (new, old):
            fig, ax = plt.subplots()
            draw(open_run(path), ax)
            rows.append([label.get_text() for label in ax.get_yticklabels()])
            plt.close(fig)
        assert rows == [names, names]


def test_node_names_reads_the_file_once(tmp_path, monkeypatch):
    """``RunFile.node_names`` of a file with the dataset opens it once (it opened it twice: for the dtype, then
    for the names)."""
    path = write_run_file(tmp_path / "r.h5", attrs={}, tables={"node_names": np.array(["a", "bc"])})
    run = open_run(path)
    opened = []
    inner = reader._open
    monkeypatch.setattr(reader, "_open", lambda path: opened.append(path) or inner(path))
    assert run.node_names() == ["a", "bc"] and len(opened) == 1


def test_the_names_table_is_made_by_the_writing_rank_alone():
    """``add_node_names`` makes the dataset on the rank that writes (rank 0) alone: on another it does not even
    read the names (a list's longest name walks every one)."""

    class Untouchable(tuple):
        def __len__(self):
            raise AssertionError("the names were read on a rank that does not write")

        __getitem__ = __iter__ = __len__

    tables = {}
    output.add_node_names(tables, Untouchable(("a", "b")), rank=1)
    assert tables == {}
    output.add_node_names(tables, ("a", "bcd"), rank=0)
    assert tables["node_names"].dtype == np.dtype("U3") and tables["node_names"].tolist() == ["a", "bcd"]


def test_one_and_two_ranks_write_the_same_names_made_on_rank_0_alone(tmp_path):
    """``dqc``, ``trotter`` and ``cloud`` runs of a named network on 2 ranks (one launch,
    tests/mpi_scripts/names_ranks.py) write the same ``node_names`` dataset and tables as on 1 rank (but for the
    ``timing`` table), the dataset made by rank 0 alone (until 2026-12-07 (later) a ``dqc`` run made it on every
    rank)."""
    jobs = {scenario: _scenario_job(tmp_path, scenario) for scenario in SCENARIO_JOBS}
    jobs["dqc"] = _job(tmp_path, NAMED)
    argv = [str(tmp_path / "made.json")]
    for scenario, job in jobs.items():
        run_here(["run", str(job), "-o", str(tmp_path / f"{scenario}-1.h5"), "--quiet"])
        argv += [str(job), str(tmp_path / f"{scenario}-2.h5")]
    run_mpi(2, [str(SCRIPTS / "names_ranks.py"), *argv], timeout_s=240)
    assert json.loads((tmp_path / "made.json").read_text()) == [[4, 4, 4], []]
    for scenario in jobs:
        one, two = open_run(tmp_path / f"{scenario}-1.h5"), open_run(tmp_path / f"{scenario}-2.h5")
        assert one.node_names() == two.node_names() == ["left", "middle", "r", "far"], scenario
        assert one.tables == two.tables and "node_names" in one.tables, scenario
        for name in one.tables:
            if name != "timing":
                theirs = two.columns(name)
                for column, values in one.columns(name).items():  # (NaN equal to NaN)
                    np.testing.assert_array_equal(values, theirs[column], err_msg=f"{scenario}: {name}.{column}")
