"""HDF5 run files: round trips, atomic writes, slab-backed states and their checks."""

import json
import os
import shutil

import h5py
import numpy as np
import pytest

import dqsim
from dqsim.errors import DqsimError
from dqsim.io import (QUBIT_ORDER, StateSlabs, format_summary, link_state_slabs, open_run, summarize,
                      write_run_file, write_state_slab)
from dqsim.io.slabs import SLAB_DATASET

COUNTS_DTYPE = [("bitstring", "U3"), ("count", "i8")]


def random_state(num_qubits, dtype=np.complex128, seed=1):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=2**num_qubits) + 1j * rng.normal(size=2**num_qubits)
    return (v / np.linalg.norm(v)).astype(dtype)


def write_slabs(folder, state, num_slabs, pieces_per_slab=3):
    """Write ``state`` as ``num_slabs`` slab files, each in several pieces; return (paths, checksums)."""
    slab_size = state.shape[0] // num_slabs
    paths, sums = [], []
    for rank in range(num_slabs):
        slab = state[rank * slab_size:(rank + 1) * slab_size]
        bounds = np.linspace(0, slab_size, pieces_per_slab + 1).astype(int)
        pieces = [(int(a), slab[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        path = folder / f"rank{rank}.h5"
        sums.append(write_state_slab(path, iter(pieces), slab_size=slab_size, dtype=state.dtype))
        paths.append(str(path))
    return paths, sums


def test_round_trip_attrs_tables_state(tmp_path):
    counts = np.array([("000", 10), ("111", 12), ("010", 1)], dtype=COUNTS_DTYPE)
    timeline = np.array([(5, 0.25, True), (7, 0.5, False)],
                        dtype=[("time_ps", "i8"), ("fidelity", "f8"), ("ok", "?")])
    state = random_state(3)
    path = write_run_file(tmp_path / "run.h5",
                          attrs={"name": "t", "seed": 7, "shots": 23, "rate_hz": 1.5e6, "measure": True,
                                 "options": {"a": [1, 2], "b": None}, "job_text": "[run]\nname = \"t\"\n",
                                 "angles": np.array([0.1, 0.2])},
                          tables={"counts": counts, "network/timeline": timeline,
                                  "plain": np.arange(5, dtype=np.int32), "names": np.array(["a", "bé"])},
                          groups_attrs={"network/timeline": {"units": {"time_ps": "ps"}, "note": "x"},
                                        "network": {"num_nodes": 2}},
                          state=state, state_attrs={"precision": "complex128"})
    run = open_run(path)
    assert run.attrs["schema_version"] == dqsim.SCHEMA_VERSION
    assert run.attrs["dqsim_version"] == dqsim.__version__
    assert run.attrs["created_utc"].endswith("+00:00")
    assert run.attrs["name"] == "t" and run.attrs["seed"] == 7 and run.attrs["measure"] is True
    assert run.attrs["rate_hz"] == 1.5e6 and run.attrs["options"] == {"a": [1, 2], "b": None}
    assert run.attrs["job_text"] == "[run]\nname = \"t\"\n"
    assert np.allclose(run.attrs["angles"], [0.1, 0.2])
    assert "json_attrs" not in run.attrs
    assert set(run.tables) == {"counts", "network/timeline", "plain", "names"}
    got = run.table("counts")
    assert got.dtype["bitstring"].kind == "U" and got["bitstring"].tolist() == ["000", "111", "010"]
    assert got["count"].tolist() == [10, 12, 1]
    np.testing.assert_array_equal(run.table("network/timeline"), timeline)
    np.testing.assert_array_equal(run.table("plain"), np.arange(5))
    assert run.table("names").tolist() == ["a", "bé"]
    assert run.attrs_of("network/timeline") == {"units": {"time_ps": "ps"}, "note": "x"}
    assert run.attrs_of("network") == {"num_nodes": 2}
    assert run.attrs_of("counts") == {}  # no column with a unit: no units attribute
    with h5py.File(path) as h5:  # strings are variable-length UTF-8: text to h5py's asstr(), pandas, xarray
        assert h5py.check_string_dtype(h5["names"].dtype).length is None
        assert h5["names"].asstr()[()].tolist() == ["a", "bé"]
        assert h5py.check_string_dtype(h5["counts"].dtype["bitstring"]).length is None
    np.testing.assert_array_equal(run.state(), state)
    assert run.state().dtype == np.complex128
    assert run.state_info["num_qubits"] == 3 and run.state_info["layout"] == "contiguous"
    state_attrs = run.attrs_of("state")
    assert state_attrs["qubit_order"] == QUBIT_ORDER and state_attrs["precision"] == "complex128"
    with pytest.raises(DqsimError, match="no table 'nope'"):
        run.table("nope")


def test_compound_strings_of_any_length_and_unicode(tmp_path):
    rows = np.array([("zz", "Z0 Z1", 0.5), ("long", "0.5*X0 X1 - 0.25*Z2 + " * 5, -1.0), ("ü", "Y0", 0.0)],
                    dtype=[("name", "U8"), ("observable", "U200"), ("value", "f8")])
    objects = np.array([("a", 1), ("ßß", 2)], dtype=[("label", "O"), ("n", "i4")])
    path = write_run_file(tmp_path / "r.h5", attrs={}, tables={"expectation": rows, "obj": objects})
    with h5py.File(path) as h5:  # stored as UTF-8 HDF5 strings, readable by other tools
        assert h5py.check_string_dtype(h5["expectation"].dtype["name"]).encoding == "utf-8"
    run = open_run(path)
    got = run.table("expectation")
    assert got["name"].tolist() == ["zz", "long", "ü"]
    assert got["observable"].tolist() == rows["observable"].tolist()
    assert run.table("obj")["label"].tolist() == ["a", "ßß"]
    empty = np.zeros(0, dtype=COUNTS_DTYPE)
    path2 = write_run_file(tmp_path / "e.h5", attrs={}, tables={"counts": empty})
    assert open_run(path2).table("counts").shape == (0,)


def test_atomic_write_leaves_no_temp_file_and_replaces(tmp_path):
    path = tmp_path / "run.h5"
    write_run_file(path, attrs={"v": 1}, tables={})
    write_run_file(path, attrs={"v": 2}, tables={})
    assert sorted(os.listdir(tmp_path)) == ["run.h5"]
    assert open_run(path).attrs["v"] == 2
    with pytest.raises(ValueError, match="schema_version"):
        write_run_file(path, attrs={"schema_version": 9}, tables={})
    with pytest.raises(ValueError, match="state"):  # a failure while writing removes the temporary
        write_run_file(path, attrs={}, tables={}, state=np.ones(3, dtype=np.complex128))
    assert sorted(os.listdir(tmp_path)) == ["run.h5"]
    assert open_run(path).attrs["v"] == 2


def test_failed_write_removes_temporary(tmp_path):
    path = tmp_path / "run.h5"
    with pytest.raises(ValueError, match="must hold str"):
        write_run_file(path, attrs={}, tables={"bad": np.array([1, "a"], dtype=object)})
    assert os.listdir(tmp_path) == []
    with pytest.raises(DqsimError, match="cannot write"):
        write_run_file(tmp_path / "no" / "such" / "dir.h5", attrs={}, tables={})


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_slabs_and_virtual_dataset_read_back(tmp_path, dtype):
    state = random_state(6, dtype)
    slab_dir = tmp_path / "run.slabs"
    slab_dir.mkdir()
    paths, sums = write_slabs(slab_dir, state, 4)
    main = write_run_file(tmp_path / "run.h5", attrs={"name": "big"}, tables={},
                          state_slabs=StateSlabs(paths, sums, slab_size=16, dtype=dtype))
    run = open_run(main)
    assert run.state_info["layout"] == "slabs" and run.state_info["num_slabs"] == 4
    got = run.state()
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, state)
    attrs = run.attrs_of("state")
    assert attrs["slab_files"] == [f"run.slabs/rank{r}.h5" for r in range(4)]
    assert attrs["slab_checksums"] == sums and attrs["num_qubits"] == 6
    # the folder can be moved: slab paths are relative; plain h5py reads the VDS too
    moved = shutil.move(str(tmp_path), str(tmp_path.parent / (tmp_path.name + "-moved")))
    np.testing.assert_array_equal(open_run(os.path.join(moved, "run.h5")).state(), state)
    cwd = os.getcwd()
    try:
        os.chdir("/")
        with h5py.File(os.path.join(moved, "run.h5")) as h5:
            np.testing.assert_array_equal(h5["state"][()], state)
    finally:
        os.chdir(cwd)


def test_link_state_slabs_into_existing_file(tmp_path):
    state = random_state(4)
    paths, sums = write_slabs(tmp_path, state, 2, pieces_per_slab=1)
    main = write_run_file(tmp_path / "run.h5", attrs={}, tables={})
    link_state_slabs(main, paths, sums, slab_size=8, dtype=np.complex128, attrs={"note": "linked"})
    run = open_run(main)
    np.testing.assert_array_equal(run.state(), state)
    assert run.attrs_of("state")["note"] == "linked"
    with pytest.raises(ValueError, match="already has a 'state'"):
        link_state_slabs(main, paths, sums, slab_size=8, dtype=np.complex128)


def test_slab_pieces_are_checked(tmp_path):
    a = np.zeros(8, dtype=np.complex128)
    with pytest.raises(ValueError, match="offset = 4, expected 2"):
        write_state_slab(tmp_path / "s.h5", [(0, a[:2]), (4, a[4:])], slab_size=8, dtype=a.dtype)
    with pytest.raises(ValueError, match="cover 6 amplitudes"):
        write_state_slab(tmp_path / "s.h5", [(0, a[:6])], slab_size=8, dtype=a.dtype)
    with pytest.raises(ValueError, match="dtype complex64"):
        write_state_slab(tmp_path / "s.h5", [(0, a.astype(np.complex64))], slab_size=8, dtype=a.dtype)
    assert os.listdir(tmp_path) == []


def test_missing_slab_is_named(tmp_path):
    state = random_state(5)
    paths, sums = write_slabs(tmp_path, state, 4)
    main = write_run_file(tmp_path / "run.h5", attrs={}, tables={},
                          state_slabs=StateSlabs(paths, sums, slab_size=8))
    os.remove(paths[2])
    run = open_run(main)  # opening works: only reading the state needs the slabs
    with pytest.raises(DqsimError, match=r"state slab 2 of 4 \(rank2.h5\) is missing") as info:
        run.state()
    assert "\n" not in str(info.value)
    summary = summarize(run)
    assert "rank2.h5" in summary["state"]["error"]
    assert "ERROR" in format_summary(summary)
    with pytest.raises(DqsimError, match="rank2.h5"):  # also refused when linking
        write_run_file(tmp_path / "again.h5", attrs={}, tables={},
                       state_slabs=StateSlabs(paths, sums, slab_size=8))
    assert not (tmp_path / "again.h5").exists()


def test_flipped_byte_in_slab_is_detected(tmp_path):
    state = random_state(5)
    paths, sums = write_slabs(tmp_path, state, 2)
    main = write_run_file(tmp_path / "run.h5", attrs={}, tables={},
                          state_slabs=StateSlabs(paths, sums, slab_size=16))
    with h5py.File(paths[1]) as h5:
        offset = h5[SLAB_DATASET].id.get_offset()
    with open(paths[1], "r+b") as fh:
        fh.seek(offset + 37)
        byte = fh.read(1)
        fh.seek(offset + 37)
        fh.write(bytes([byte[0] ^ 0x10]))
    with pytest.raises(DqsimError, match=r"state slab 1 of 2 \(rank1.h5\) is corrupt") as info:
        open_run(main).state()
    assert "\n" not in str(info.value)


def test_flipped_byte_in_gathered_state_is_detected(tmp_path):
    path = write_run_file(tmp_path / "run.h5", attrs={}, tables={}, state=random_state(3))
    with h5py.File(path) as h5:
        offset = h5["state"].id.get_offset()
    with open(path, "r+b") as fh:
        fh.seek(offset + 3)
        byte = fh.read(1)
        fh.seek(offset + 3)
        fh.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(DqsimError, match="state is corrupt"):
        open_run(path).state()


def test_newer_schema_is_refused(tmp_path):
    path = write_run_file(tmp_path / "run.h5", attrs={}, tables={})
    with h5py.File(path, "a") as h5:
        h5.attrs["schema_version"] = dqsim.SCHEMA_VERSION + 1
    with pytest.raises(DqsimError, match="schema_version = 2 is newer") as info:
        open_run(path)
    assert "\n" not in str(info.value)


def test_not_hdf5_truncated_missing_and_foreign_files(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("hello\n")
    with pytest.raises(DqsimError, match="notes.h5: not a readable HDF5 file"):
        open_run(text)
    path = write_run_file(tmp_path / "run.h5", attrs={}, tables={"t": np.arange(10000)},
                          state=random_state(8))
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(DqsimError, match="cut.h5: not a readable HDF5 file") as info:
        open_run(cut)
    assert "\n" not in str(info.value)
    with pytest.raises(DqsimError, match="missing.h5: file not found"):
        open_run(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "foreign.h5", "w") as h5:
        h5["x"] = 1
    with pytest.raises(DqsimError, match="not a dqsim run file"):
        open_run(tmp_path / "foreign.h5")
    write_state_slab(tmp_path / "slab.h5", [(0, np.zeros(2, np.complex128))], slab_size=2, dtype=np.complex128)
    with pytest.raises(DqsimError, match="is a state slab"):
        open_run(tmp_path / "slab.h5")


def test_summarize_and_format(tmp_path):
    rng = np.random.default_rng(3)
    bitstrings = [format(i, "05b") for i in range(32)]
    counts = np.array(list(zip(bitstrings, rng.integers(0, 100, 32))), dtype=[("bitstring", "U5"), ("count", "i8")])
    counts["count"][7] = 500
    expectation = np.array([("zz", "Z0 Z1", 0.875), ("x", "0.5*X0", -0.125)],
                           dtype=[("name", "U4"), ("observable", "U16"), ("value", "f8")])
    links = np.array([("a", "b", 12.5)], dtype=[("src", "U1"), ("dst", "U1"), ("distance_km", "f8")])
    path = write_run_file(tmp_path / "run.h5", attrs={"name": "demo", "job_text": "[run]\nname = 'demo'\n"},
                          tables={"counts": counts, "expectation": expectation, "links": links,
                                  "shots": np.arange(100)},
                          groups_attrs={"links": {"units": {"distance_km": "km"}}},
                          state=random_state(5))
    summary = summarize(open_run(path))
    json.dumps(summary, allow_nan=False)
    assert summary["attrs"]["name"] == "demo"
    assert summary["counts"]["total"] == int(counts["count"].sum())
    assert summary["counts"]["num_outcomes"] == 32
    top = summary["counts"]["top"]
    assert len(top) == 10 and top[0] == {"bitstring": "00111", "count": 500,
                                         "fraction": 500 / int(counts["count"].sum())}
    assert [e["count"] for e in top] == sorted((e["count"] for e in top), reverse=True)
    assert summary["expectations"] == [{"name": "zz", "observable": "Z0 Z1", "value": 0.875},
                                       {"name": "x", "observable": "0.5*X0", "value": -0.125}]
    assert summary["tables"]["links"]["rows"] == [{"src": "a", "dst": "b", "distance_km": 12.5}]
    assert summary["tables"]["links"]["attrs"] == {"units": {"distance_km": "km"}}
    assert "rows" not in summary["tables"]["shots"] and summary["tables"]["shots"]["num_rows"] == 100
    assert summary["state"]["num_qubits"] == 5 and summary["state"]["shape"] == [32]
    assert summary["state"]["norm"] == pytest.approx(1.0)
    text = format_summary(summary)
    for expected in ("run file", "demo", "top counts", "00111", "500", "expectation values",
                     "Z0 Z1", "0.875", "table links", "distance_km", "12.5", "32 amplitudes (5 qubits)",
                     "norm 1.0000"):
        assert expected in text, expected
    assert "\x1b" not in text  # no terminal colour codes
    assert "[run] ... (2 lines)" in text
    assert summarize(open_run(path), skip_state_norm=True)["state"]["norm"] is None


@pytest.mark.parametrize("compress_above", [1 << 20, 64])
def test_a_long_table_with_strings_is_written_in_pieces_with_the_same_rows(tmp_path, monkeypatch, compress_above):
    """A table of more than ``TABLE_PIECE_ROWS`` rows with string columns (a ``dqc`` run's ``links`` table has a row
    per link) has its strings converted and written a piece at a time, so that their Python and HDF5 copies are
    never all held at once; the file holds the same rows, units and layout (chunked and compressed where big) as
    the table written whole."""
    import dqsim.io.writer as writer

    rows = np.array([(f"node{i % 7}", "x" * (i % 3), float(i), i) for i in range(23)],
                    dtype=[("node_a", "U5"), ("node_b", "U2"), ("distance_km", "f8"), ("count", "i8")])
    monkeypatch.setattr(writer, "COMPRESS_ABOVE_BYTES", compress_above)
    whole = write_run_file(tmp_path / "whole.h5", attrs={}, tables={"links": rows})
    monkeypatch.setattr(writer, "TABLE_PIECE_ROWS", 5)
    pieces = write_run_file(tmp_path / "pieces.h5", attrs={}, tables={"links": rows})
    a, b = open_run(whole), open_run(pieces)
    assert a.table("links").dtype == b.table("links").dtype and a.table("links").tolist() == rows.tolist()
    assert b.table("links").tolist() == rows.tolist() and b.units("links") == a.units("links")
    with h5py.File(whole) as x, h5py.File(pieces) as y:
        assert (x["links"].chunks, x["links"].compression) == (y["links"].chunks, y["links"].compression)
        assert (y["links"].compression is not None) == (compress_above == 64)
