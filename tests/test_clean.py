"""``dqsim clean JOB``: the checkpoints that a job's finished runs left in its folder go; an unfinished run's stay.

Before 2026-12-06 a finished run kept its last ``keep`` checkpoints, and nothing removed them later: a
checkpoint does not record where its run wrote its output. ``dqsim clean`` is given the job as it ran (``--set``,
``-o``), finds its checkpoints (this version's, ``dqsim-VERSION/``'s and incomplete ones) and removes them where
the output holds the job's finished results. One finished 2-distance BB84 sweep with ``keep_when_done = true``
(what every finished run left before then) is run once and copied into each test.
"""

import json
import os
import shutil

import pytest

from dqsim.engine import checkpoint
from mpi_helper import ROOT, run_here
from run_files import checkpoints

#: A 2-distance BB84 sweep, a checkpoint every 0.1 ms of simulated time (3 kept), as tests/test_checkpoints_when_done.py.
SWEEP = [str(ROOT / "jobs" / "bb84_distance_sweep.toml"), "--set", "qkd.pulses=200000", "--set",
         "qkd.batch_pulses=100000", "--set", "qkd.sweep.distances_km=[10, 20]", "--set",
         "checkpoint.every_sim_s=0.0001", "--set", "checkpoint.keep=3"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run's folder: ``ck/`` with the 3 checkpoints it kept, ``out.h5`` and its manifest."""
    base = tmp_path_factory.mktemp("finished")
    run_here(["run", *SWEEP, "-o", str(base / "out.h5"), "--set", f'checkpoint.directory="{base / "ck"}"',
              "--set", "checkpoint.keep_when_done=true", "--quiet"])
    assert len(checkpoints(base / "ck")) == 3
    return base


def copy_of(finished, tmp_path):
    """``(args, ck)``: a copy of the finished run's files in ``tmp_path`` (times kept) and the job's arguments
    naming them; beside this job's, another job's checkpoint and a dqsim-0.0.1/ checkpoint of this job."""
    ck = tmp_path / "ck"
    shutil.copytree(finished / "ck", ck)
    for name in ("out.h5", "out.h5.manifest.json"):
        shutil.copy2(finished / name, tmp_path / name)
    args = [*SWEEP, "-o", str(tmp_path / "out.h5"), "--set", f'checkpoint.directory="{ck}"']
    oldest = checkpoints(ck)[0]
    other = ck / "bb84_distance_sweep.00000000.ckpt000-00000000000100000000"
    for ending in (".h5", ".manifest.json"):
        other.with_name(other.name + ending).write_text("another job's")
    aside = ck / "dqsim-0.0.1"
    aside.mkdir()
    shutil.copy2(oldest, aside / oldest.name)
    listed = json.loads(checkpoint.manifest_path(oldest).read_text())
    listed["body"]["dqsim_version"] = "0.0.1"
    checkpoint.manifest_path(aside / oldest.name).write_text(json.dumps(listed))
    os.utime(checkpoint.manifest_path(aside / oldest.name), (oldest.stat().st_mtime,) * 2)
    return args, ck


def mine(ck):
    """This job's complete checkpoints in ``ck`` (not the other job's), oldest first."""
    return [path for path in checkpoints(ck) if ".00000000." not in path.name]


def files_in(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_repro_clean_removes_the_checkpoints_a_finished_run_kept(finished, tmp_path):
    """A dry run names them and removes nothing; the clean removes this job's (its own 3, the dqsim-0.0.1/ one and
    an incomplete one), one line per group and a summary with sizes; another job's stay."""
    args, ck = copy_of(finished, tmp_path)
    stem = mine(ck)[-1].name.replace(".ckpt001-", ".ckpt002-")  # a write that was killed: no manifest
    (ck / stem).write_bytes(b"half")
    before = files_in(ck)
    dry = run_here(["clean", *args, "--dry-run"]).stdout.splitlines()
    assert files_in(ck) == before
    assert dry[1] == f"  output: {tmp_path / 'out.h5'} holds this job's finished results (whole as its manifest " \
                     f"lists it, written {dry[1].split('written ')[1]}", dry
    assert dry[2].startswith(f"  would remove 3 checkpoints in {ck}/ (") and \
        dry[2].endswith("): of dqsim 0.1.0, written before the output"), dry
    assert dry[3] == f"  would remove 1 checkpoint in {ck}/ (0.0 KiB): incomplete (no manifest: a write that was " \
                     "stopped; never resumable)", dry
    assert dry[4].startswith(f"  would remove 1 checkpoint in {ck}/dqsim-0.0.1/ (") and "of dqsim 0.0.1" in dry[4]
    assert dry[5].startswith("  --dry-run: would remove 5 checkpoints (") and "keep 0 (0.0 KiB); nothing removed" \
        in dry[5] and len(dry) == 6, dry
    done = run_here(["clean", *args]).stdout.splitlines()
    assert [line.replace("would remove", "removed") for line in dry[2:5]] == done[2:5], done
    assert done[5].startswith("  removed 5 checkpoints (") and done[5].endswith(" freed), kept 0 (0.0 KiB)"), done
    assert files_in(ck) == ["bb84_distance_sweep.00000000.ckpt000-00000000000100000000.h5",
                            "bb84_distance_sweep.00000000.ckpt000-00000000000100000000.manifest.json"]
    again = run_here(["clean", *args]).stdout.splitlines()
    assert again[2] == "  no checkpoint of this job there: nothing to remove", again


def test_an_unfinished_runs_checkpoints_are_kept_unless_all(finished, tmp_path):
    """An output that is not whole (a later run started on it: its manifest goes at the start) keeps every
    checkpoint, the newest named; so does a checkpoint written after a finished output (a later run's, with
    another -o); ``--all`` removes them."""
    args, ck = copy_of(finished, tmp_path)
    newest = mine(ck)[-1]
    later = os.stat(tmp_path / "out.h5.manifest.json").st_mtime + 60
    os.utime(checkpoint.manifest_path(newest), (later, later))
    lines = run_here(["clean", *args]).stdout.splitlines()
    assert lines[3] == f"  kept 1 checkpoint in {ck}/ ({lines[3].split('(')[1].split(')')[0]}) (the newest: " \
                       f"{newest.name}): of dqsim 0.1.0, written after the output by a later run of the job; dqsim " \
                       "resume goes on from the newest; --all removes them", lines
    assert mine(ck) == [newest]
    args, ck = copy_of(finished, tmp_path / "unfinished")
    (tmp_path / "unfinished" / "out.h5.manifest.json").unlink()
    before = files_in(ck)
    lines = run_here(["clean", *args]).stdout.splitlines()
    assert files_in(ck) == before
    assert lines[1].startswith(f"  output: {tmp_path / 'unfinished' / 'out.h5'} is not a finished run's output ("), lines
    assert lines[2].endswith(f"(the newest: {mine(ck)[-1].name}): of dqsim 0.1.0: the job is not finished; "
                             "dqsim resume goes on from the newest; --all removes them"), lines
    assert lines[3].endswith("of dqsim 0.0.1: the job is not finished; dqsim 0.0.1 can resume them; --all removes "
                             "them"), lines
    assert lines[4].startswith("  removed 0 checkpoints (0.0 KiB freed), kept 4 ("), lines
    everything = run_here(["clean", *args, "--all"]).stdout.splitlines()
    assert everything[2].endswith("of dqsim 0.1.0: the job is not finished (--all)") and \
        everything[4].startswith("  removed 4 checkpoints ("), everything
    assert mine(ck) == [] and not (ck / "dqsim-0.0.1").exists()


def test_clean_refuses_while_another_run_holds_the_folder(finished, tmp_path):
    """One line, status 2, nothing removed, dry run or not, while a run of the job holds its lock."""
    args, ck = copy_of(finished, tmp_path)
    before = files_in(ck)
    prefix = mine(ck)[0].name.split(".ckpt")[0]
    lock, holder = checkpoint.lock_folder(ck, prefix)
    assert holder is None and lock is not None
    try:
        for extra in ([], ["--dry-run"]):
            refused = run_here(["clean", *args, *extra], check=False)
            assert refused.returncode == 2 and refused.stdout == "", refused
            assert refused.stderr.splitlines() == [
                f"dqsim: error: {ck}: another dqsim run of this job ({prefix}) is using its checkpoints there "
                f"(pid {os.getpid()} on {refused.stderr.split(' on ')[1].split(',')[0]}, since "
                f"{refused.stderr.split('since ')[1].split(')')[0]}); nothing removed: run dqsim clean once it has "
                "ended"], refused.stderr
    finally:
        checkpoint.release_lock(lock)
    assert files_in(ck) == before
