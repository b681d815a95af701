"""dqsim merge: a task column on every table, attributes split into common and per task, bad inputs refused."""

import argparse
import subprocess
import sys

import numpy as np
import pytest

import dqsim
from dqsim.cli.merge import cmd_merge, merge_files
from dqsim.errors import DqsimError
from dqsim.io import open_run, write_run_file
from mpi_helper import ROOT, child_env

SWEEP = [("distance_km", "f8"), ("node", "U"), ("key_bits", "i8")]


def sweep_table(rows):
    width = max(len(node) for _, node, _ in rows)
    return np.array(rows, dtype=[(name, f"U{width}" if kind == "U" else kind) for name, kind in SWEEP])


def write(path, *, rows=((10.0, "a", 5),), attrs=None, tables=None, groups_attrs=None):
    """A small run file: a `sweep` table and a `timing` table, scenario qkd."""
    base = {"scenario": "qkd", "job_name": "sweep", "seed": 1}
    all_tables = {"sweep": sweep_table(list(rows)),
                  "timing": np.array([("run", 0.5)], dtype=[("stage", "U3"), ("seconds", "f8")])}
    all_tables.update(tables or {})
    return write_run_file(path, attrs={**base, **(attrs or {})}, tables=all_tables,
                          groups_attrs=groups_attrs or {"timing": {"note": "run"}})


def test_every_table_gets_a_leading_task_column_and_the_rows_of_all_tasks(tmp_path):
    a = write(tmp_path / "a.h5", rows=[(0.0, "alice", 7), (25.0, "alice", 3)])
    b = write(tmp_path / "b.h5", rows=[(50.0, "b", 1)])
    summary = merge_files([a, b], tmp_path / "m.h5")
    run = open_run(tmp_path / "m.h5")
    sweep = run.table("sweep")
    assert sweep.dtype.names == ("task", "distance_km", "node", "key_bits")
    assert sweep.tolist() == [(0, 0.0, "alice", 7), (0, 25.0, "alice", 3), (1, 50.0, "b", 1)]
    assert run.table("timing").tolist() == [(0, "run", 0.5), (1, "run", 0.5)]
    assert summary["num_tasks"] == 2 and summary["tables"]["sweep"] == 3
    assert run.attrs_of("timing") == {"units": {"seconds": "s"}, "note": "run"}
    assert run.attrs_of("sweep")["units"] == {"distance_km": "km", "key_bits": "bit"}


def test_task_is_the_input_index_in_the_order_given(tmp_path):
    a = write(tmp_path / "a.h5", rows=[(0.0, "a", 1)])
    b = write(tmp_path / "b.h5", rows=[(9.0, "a", 2)])
    merge_files([b, a], tmp_path / "m.h5")
    run = open_run(tmp_path / "m.h5")
    assert run.table("sweep")[["task", "distance_km"]].tolist() == [(0, 9.0), (1, 0.0)]
    assert run.table("tasks")["file"].tolist() == ["b.h5", "a.h5"]


def test_equal_attributes_are_kept_and_differing_ones_go_to_the_tasks_table(tmp_path):
    a = write(tmp_path / "a.h5", attrs={"seed": 1, "wall_time_s": 2, "label": "near", "aborted": False,
                                         "options": {"k": 1}, "only_in_a": 3, "pulses": 100})
    b = write(tmp_path / "b.h5", attrs={"seed": 2, "wall_time_s": 1.5, "label": "far", "aborted": True,
                                         "options": {"k": 2}, "pulses": 100})
    summary = merge_files([a, b], tmp_path / "m.h5")
    run = open_run(tmp_path / "m.h5")
    assert run.attrs["scenario"] == "qkd" and run.attrs["job_name"] == "sweep" and run.attrs["pulses"] == 100
    assert run.attrs["num_tasks"] == 2
    differing = ["seed", "wall_time_s", "label", "aborted", "options", "only_in_a"]
    assert not set(differing) & set(run.attrs)
    tasks = run.table("tasks")
    assert tasks.dtype.names == ("task", "file", "created_utc", "dqsim_version", "dqsim_commit", *differing)
    assert summary["per_task_attrs"] == ["created_utc", "dqsim_version", "dqsim_commit", *differing]
    assert tasks["task"].tolist() == [0, 1]
    assert tasks["file"].tolist() == ["a.h5", "b.h5"]
    assert tasks["dqsim_version"].tolist() == [dqsim.__version__] * 2
    assert tasks["seed"].dtype.kind == "i" and tasks["seed"].tolist() == [1, 2]
    assert tasks["wall_time_s"].dtype.kind == "f" and tasks["wall_time_s"].tolist() == [2.0, 1.5]
    assert tasks["label"].tolist() == ["near", "far"]          # strings as str
    assert tasks["aborted"].dtype.kind == "b" and tasks["aborted"].tolist() == [False, True]
    assert tasks["options"].tolist() == ['{"k": 1}', '{"k": 2}']  # not scalar: JSON text
    assert tasks["only_in_a"].tolist() == ["3", ""]              # missing in b: ""


def test_a_table_missing_from_some_inputs_and_a_plain_dataset(tmp_path):
    a = write(tmp_path / "a.h5", tables={"shots": np.array([3, 1, 2], dtype=np.int64)})
    b = write(tmp_path / "b.h5")
    c = write(tmp_path / "c.h5", tables={"shots": np.array([5], dtype=np.int64)})
    merge_files([a, b, c], tmp_path / "m.h5")
    shots = open_run(tmp_path / "m.h5").table("shots")
    assert shots.dtype.names == ("task", "value")
    assert shots.tolist() == [(0, 3), (0, 1), (0, 2), (2, 5)]


def test_tables_with_other_fields_are_refused_naming_the_file_and_table(tmp_path):
    a = write(tmp_path / "a.h5")
    other = np.array([(10.0, 5)], dtype=[("distance_km", "f8"), ("key_bits", "i8")])
    b = write(tmp_path / "b.h5", tables={"sweep": other})
    with pytest.raises(DqsimError, match=r"b\.h5: table 'sweep' has fields \(distance_km:float, key_bits:int\) "
                                         r"but .*a\.h5 has \(distance_km:float, node:str, key_bits:int\)"):
        merge_files([a, b], tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()


def test_a_field_of_another_kind_is_refused(tmp_path):
    a = write(tmp_path / "a.h5")
    other = np.array([(10.0, "a", 5.5)], dtype=[("distance_km", "f8"), ("node", "U1"), ("key_bits", "f8")])
    b = write(tmp_path / "b.h5", tables={"sweep": other})
    with pytest.raises(DqsimError, match=r"b\.h5: table 'sweep' has fields .*key_bits:float"):
        merge_files([a, b], tmp_path / "m.h5")


def test_different_scenarios_are_refused_naming_the_file(tmp_path):
    a = write(tmp_path / "a.h5")
    b = write(tmp_path / "b.h5", attrs={"scenario": "dqc"})
    with pytest.raises(DqsimError, match=r"b\.h5: scenario = 'dqc' differs from 'qkd' of .*a\.h5"):
        merge_files([a, b], tmp_path / "m.h5")


def test_different_schema_versions_are_refused_naming_the_file(tmp_path, monkeypatch):
    a = write(tmp_path / "a.h5")
    monkeypatch.setattr(dqsim, "SCHEMA_VERSION", 0)
    b = write(tmp_path / "b.h5")
    c = write(tmp_path / "c.h5")
    monkeypatch.undo()
    with pytest.raises(DqsimError, match=r"b\.h5: schema_version = 0 differs from 1 of .*a\.h5"):
        merge_files([a, b], tmp_path / "m.h5")
    with pytest.raises(DqsimError, match=r"b\.h5: schema_version = 0, but this dqsim .* writes 1"):
        merge_files([b, c], tmp_path / "m.h5")


def test_a_merged_file_a_repeated_input_and_the_output_as_input_are_refused(tmp_path):
    a = write(tmp_path / "a.h5")
    b = write(tmp_path / "b.h5")
    merge_files([a, b], tmp_path / "m.h5")
    with pytest.raises(DqsimError, match=r"m\.h5: is already a merged file"):
        merge_files([a, tmp_path / "m.h5"], tmp_path / "m2.h5")
    with pytest.raises(DqsimError, match=r"a\.h5: given twice \(tasks 0 and 2\)"):
        merge_files([a, b, a], tmp_path / "m2.h5")
    with pytest.raises(DqsimError, match=r"b\.h5: is also the output"):
        merge_files([a, b], b)
    with pytest.raises(DqsimError, match=r"missing\.h5: file not found"):
        merge_files([a, tmp_path / "missing.h5"], tmp_path / "m2.h5")


def test_table_attributes_that_differ_are_left_out_and_reported(tmp_path):
    a = write(tmp_path / "a.h5", groups_attrs={"timing": {"units": {"stage": "none"}, "note": "x"}})
    b = write(tmp_path / "b.h5", groups_attrs={"timing": {"units": {"stage": "none"}, "note": "y"}})
    summary = merge_files([a, b], tmp_path / "m.h5")
    assert open_run(tmp_path / "m.h5").attrs_of("timing") == {"units": {"stage": "none", "seconds": "s"}}
    assert summary["dropped_table_attrs"] == ["timing:note"]


def merge_args(output, *inputs):
    return argparse.Namespace(output=str(output), inputs=[str(p) for p in inputs])


def test_cmd_merge_expands_a_pattern_in_task_order_and_prints_a_summary(tmp_path, capsys):
    for i in (0, 1, 2, 10):
        write(tmp_path / f"task-{i}.h5", rows=[(float(i), "a", i)])
    assert cmd_merge(merge_args(tmp_path / "merged.h5", tmp_path / "task-*.h5")) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"merged 4 task(s) into {tmp_path / 'merged.h5'}: rows per table sweep (4)")
    run = open_run(tmp_path / "merged.h5")
    assert run.table("tasks")["file"].tolist() == ["task-0.h5", "task-1.h5", "task-2.h5", "task-10.h5"]
    assert run.table("sweep")["distance_km"].tolist() == [0.0, 1.0, 2.0, 10.0]
    # The merged file matches a pattern over its folder; it is not merged into itself.
    assert cmd_merge(merge_args(tmp_path / "merged.h5", tmp_path / "*.h5")) == 0


def test_cmd_merge_prints_one_line_per_error_and_exits_2(tmp_path, capsys):
    a = write(tmp_path / "a.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    code = cmd_merge(merge_args(tmp_path / "m.h5", a, tmp_path / "nothere-*.h5", tmp_path / "gone.h5",
                                tmp_path / "junk.h5"))
    assert code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    assert lines[0] == f"dqsim: error: {tmp_path / 'nothere-*.h5'}: no file matches"
    assert lines[1] == f"dqsim: error: {tmp_path / 'gone.h5'}: file not found"
    assert lines[2].startswith(f"dqsim: error: {tmp_path / 'junk.h5'}: not a readable HDF5 file")
    assert not (tmp_path / "m.h5").exists()


def test_dqsim_merge_command(tmp_path):
    a = write(tmp_path / "a.h5", rows=[(0.0, "a", 1)])
    b = write(tmp_path / "b.h5", rows=[(5.0, "a", 2)], attrs={"scenario": "dqc"})
    cmd = [sys.executable, "-m", "dqsim", "merge", str(tmp_path / "m.h5"), str(a), str(b)]
    proc = subprocess.run(cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "b.h5: scenario = 'dqc' differs" in proc.stderr
    write(b, rows=[(5.0, "a", 2)])
    proc = subprocess.run(cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "merged 2 task(s)" in proc.stdout
    assert open_run(tmp_path / "m.h5").table("sweep")["task"].tolist() == [0, 1]


def test_a_read_only_merged_file_is_not_replaced(tmp_path, monkeypatch):
    """merge writes by a rename, which a read-only file does not stop (the run's output is checked the same
    way). As root every file is writable, so os.access is patched to what another user gets."""
    import os

    a, b = write(tmp_path / "a.h5"), write(tmp_path / "b.h5")
    out = tmp_path / "kept.h5"
    out.write_bytes(b"results")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if os.fspath(path) == str(out) and
                        mode == os.W_OK else real_access(path, mode, **kw))
    with pytest.raises(DqsimError, match=r"kept\.h5: the output exists and is read-only; nothing was merged"):
        merge_files([a, b], out)
    assert out.read_bytes() == b"results"


def test_array_attributes_equal_or_differing_are_merged(tmp_path):
    """Trotter runs carry ndarray attributes (``site_assignment``, ``sweep_values``): merging two of them raised
    numpy's "truth value of an array ... is ambiguous" with a traceback (``_MISSING in values`` compared the
    arrays element by element; docs/review-research-20261206.md)."""
    a = write(tmp_path / "a.h5", attrs={"site_assignment": np.array([0, 0, 1, 1]), "sweep_values": np.array([1.0, 0.9]),
                                         "only_in_a": np.array([1, 2])})
    b = write(tmp_path / "b.h5", attrs={"site_assignment": np.array([0, 0, 1, 1]), "sweep_values": np.array([1.0, 0.8])})
    merge_files([a, b], tmp_path / "m.h5")
    run = open_run(tmp_path / "m.h5")
    assert run.attrs["site_assignment"].tolist() == [0, 0, 1, 1]
    tasks = run.table("tasks")
    assert tasks["sweep_values"].tolist() == ["[1.0, 0.9]", "[1.0, 0.8]"]
    assert tasks["only_in_a"].tolist() == ["[1, 2]", ""]


def test_an_existing_run_file_as_output_is_refused_unless_force_but_an_earlier_merge_is_replaced(tmp_path, capsys):
    """userwalk 1: `dqsim merge out/q1.h5 out/q2.h5` (the output forgotten) replaced the finished run q1.h5 with a
    merge of q2, status 0."""
    q1 = write(tmp_path / "q1.h5", rows=[(1.0, "a", 1)])
    q2 = write(tmp_path / "q2.h5", rows=[(2.0, "a", 2)])
    kept = q1.read_bytes()
    assert cmd_merge(merge_args(q1, q2)) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"dqsim: error: {q1}: the output exists and is not an earlier merge (a run's file?); nothing was "
                   "merged (the output comes first: dqsim merge OUT.h5 IN.h5 ...; give a new output file, or --force "
                   "to replace it)"]
    assert q1.read_bytes() == kept
    merged = tmp_path / "merged.h5"
    assert cmd_merge(merge_args(merged, q1, q2)) == 0
    assert cmd_merge(merge_args(merged, q1, q2)) == 0  # an earlier merge's output is replaced (merge.sbatch again)
    args = merge_args(q1, q2)
    args.force = True
    assert cmd_merge(args) == 0
    assert open_run(q1).attrs["num_tasks"] == 1


CHAIN_JOB = ('[run]\nname = "c"\nscenario = "repeater"\n[chain]\nnum_links = [1]\ntotal_distance_km = [10.0]\n'
             'num_pairs = 5\n[chain.node]\nt2_s = 0.1\n')


def test_a_task_without_the_swept_set_gets_its_jobs_own_value_and_the_column_stays_typed(tmp_path):
    """userwalk2 D1: a baseline run (no ``--set``) beside its variants made the swept column text with ''."""
    base = {"job_text": CHAIN_JOB}
    a = write(tmp_path / "a.h5", attrs={**base, "overrides": ["chain.node.t2_s=0.01"]})
    b = write(tmp_path / "b.h5", attrs={**base, "overrides": []})
    c = write(tmp_path / "c.h5", attrs={**base, "overrides": ["chain.max_restarts=5"]})
    merge_files([a, b, c], tmp_path / "m.h5")
    tasks = open_run(tmp_path / "m.h5").table("tasks")
    assert tasks["chain.node.t2_s"].dtype == np.float64
    assert tasks["chain.node.t2_s"].tolist() == [0.01, 0.1, 0.1]  # b's from the job text
    assert tasks["chain.max_restarts"].dtype.kind == "i"  # a and b: the job's default, filled in
    assert tasks["chain.max_restarts"].tolist() == [10000, 10000, 5]
