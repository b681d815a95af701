"""The code that wrote a run file: ``dqsim_commit`` (git commit of the source tree, ``+dirty``, ``unknown``)."""

import subprocess

import pytest

from dqsim.cli.merge import merge_files
from dqsim.io import format_summary, open_run, provenance, summarize, write_run_file
from mpi_helper import ROOT


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
