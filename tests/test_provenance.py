"""The code that wrote a run file: ``dqsim_commit`` (git commit of the source tree, ``+dirty``, ``unknown``)."""

import hashlib
import json
import re
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

import dqsim
from dqsim import jobs
from dqsim.cli import finished
from dqsim.cli.merge import merge_files
from dqsim.io import format_summary, manifest, open_run, provenance, summarize, write_run_file
from mpi_helper import ROOT, run_here


def git(folder, *args):
    return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A git checkout with one commit of one tracked file."""
    folder = tmp_path / "src"
    folder.mkdir()
    git(folder, "init", "-q")
    (folder / "a.py").write_text("x = 1\n")
    git(folder, "add", "a.py")
    git(folder, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    return folder


def test_a_clean_checkout_gives_its_head_and_an_untracked_file_keeps_it_clean(checkout):
    (checkout / "notes.txt").write_text("untracked\n")
    assert provenance.commit_of(checkout) == git(checkout, "rev-parse", "HEAD")


def test_a_changed_tracked_file_marks_the_commit_dirty(checkout):
    (checkout / "a.py").write_text("x = 2\n")
    assert provenance.commit_of(checkout) == git(checkout, "rev-parse", "HEAD") + "+dirty"


def test_no_checkout_or_no_git_gives_unknown_without_failing(checkout, tmp_path, monkeypatch):
    inside = checkout / "site-packages"  # a folder inside a checkout is not its root: an installed package
    inside.mkdir()
    assert provenance.commit_of(inside) == "unknown"
    assert provenance.commit_of(tmp_path / "nowhere") == "unknown"
    monkeypatch.setenv("PATH", str(tmp_path))  # no git
    assert provenance.commit_of(checkout) == "unknown"


def test_a_run_file_records_the_commit_and_inspect_shows_it(tmp_path):
    expected = provenance.commit_of(ROOT)
    assert expected.split("+")[0] == git(ROOT, "rev-parse", "HEAD")  # the tests run from a checkout
    run = open_run(write_run_file(tmp_path / "r.h5", attrs={"name": "t"}, tables={}))
    assert run.attrs["dqsim_commit"] == provenance.code_commit() == expected
    assert f"commit {expected}" in format_summary(summarize(run))


def test_merge_keeps_each_tasks_commit(tmp_path, monkeypatch):
    paths = []
    for name, commit in (("a", "1" * 40), ("b", "2" * 40 + "+dirty")):
        monkeypatch.setattr(provenance, "code_commit", lambda commit=commit: commit)
        paths.append(write_run_file(tmp_path / f"{name}.h5", attrs={"scenario": "qkd"}, tables={}))
    monkeypatch.undo()
    merge_files(paths, tmp_path / "m.h5")
    run = open_run(tmp_path / "m.h5")
    assert run.table("tasks")["dqsim_commit"].tolist() == ["1" * 40, "2" * 40 + "+dirty"]
    assert run.attrs["dqsim_commit"] == provenance.code_commit()  # the merge's own code


def test_repro_a_merged_files_manifest_records_its_inputs_and_the_merge(tmp_path):
    """Before 2026-12-07 a merged file's manifest listed its bytes only: nothing said which runs it came from.
    Now it records each input's path, SHA-256 and run id and the merge's dqsim version, commit and time;
    ``dqsim inspect`` shows them; ``--skip-finished`` and ``dqsim clean`` take it for no run's output."""
    run_ids = ["a" * 32, None]  # the second written before run ids: its manifest records none
    (tmp_path / "tasks").mkdir()
    paths = [write_run_file(tmp_path / "tasks" / f"t{task}.h5", attrs={"scenario": "qkd", "x": task}, tables={},
                            manifest=True, manifest_facts={"run_id": run_id} if run_id else {})
             for task, run_id in enumerate(run_ids)]
    merged = tmp_path / "m.h5"
    merge_files(paths, merged)
    body = manifest.read_manifest(manifest.run_manifest_path(merged), kind="run")
    assert body["merged_from"] == [{"task": task, "file": str(path), "file_from_merged": f"tasks/t{task}.h5",
                                    "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "run_id": run_id}
                                   for task, (path, run_id) in enumerate(zip(paths, run_ids))]
    assert body["dqsim_version"] == dqsim.__version__ and body["dqsim_commit"] == provenance.code_commit()
    assert abs(datetime.fromisoformat(body["merged_utc"]) - datetime.now(timezone.utc)) < timedelta(minutes=5)
    assert "run_id" not in body
    shown = run_here(["inspect", str(merged)]).stdout
    assert f"merge (its manifest): by dqsim {dqsim.__version__}, commit {provenance.code_commit()}, at " \
           f"{body['merged_utc']}, of 2 run files" in shown, shown
    assert re.search(rf"\n +0  {re.escape(str(paths[0]))}  {'a' * 32}  {body['merged_from'][0]['sha256'][:16]}\.\.\.",
                     shown), shown
    assert "(none recorded)" in shown
    assert json.loads(run_here(["inspect", str(merged), "--json"]).stdout)["identity"]["merged_from"] == \
        body["merged_from"]
    job = jobs.load_job_text('[run]\nname = "g"\n[circuit]\ngenerator = "ghz"\nnum_qubits = 3')
    state = finished.output_state(jobs.apply_overrides(job, [f'run.output="{merged}"']))
    assert not state.finished and state.words == f"{merged} is a merged file (dqsim merge of 2 run files), " \
                                                 "not a run's output", state
    assert finished.whole_output_run_id(merged) is None  # dqsim clean pairs no checkpoint with it
