"""``dqsim clean JOB`` / ``--checkpoints DIR``: the checkpoints that finished runs left go; an unfinished run's stay.

Before 2026-12-06 a finished run kept its last ``keep`` checkpoints, and nothing removed them later. Since then a
checkpoint's manifest records its run's id and output, as the output's manifest records the run id: ``dqsim clean``
pairs them by run id (not by modification times), also from the checkpoint folder alone (``--checkpoints``);
checkpoints written before run ids are paired with the job's output by modification time, and say so. One finished
2-distance BB84 sweep with ``keep_when_done = true`` (what every finished run left before then) is run once and
copied into each test, its checkpoints' manifests naming the copy's output.
"""

import json
import os
import shlex
import shutil

import pytest

from dqsim.engine import checkpoint
from dqsim.io import manifest
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


def edit_manifest(path, **changes):
    """Change (``None``: remove) facts of the manifest ``path`` (its body's digest made again), times kept."""
    times = (path.stat().st_atime, path.stat().st_mtime)
    document = json.loads(path.read_text())
    body = document["body"]
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    document["sha256"] = manifest._body_digest(body)
    path.write_text(json.dumps(document))
    os.utime(path, times)


def copy_of(finished, tmp_path):
    """``(args, ck)``: a copy of the finished run's files in ``tmp_path`` (times kept, the checkpoints naming the
    copy's output) and the job's arguments naming them; beside this job's, another job's checkpoint and a
    dqsim-0.0.1/ checkpoint of this job."""
    ck = tmp_path / "ck"
    shutil.copytree(finished / "ck", ck)
    for name in ("out.h5", "out.h5.manifest.json"):
        shutil.copy2(finished / name, tmp_path / name)
    for path in checkpoints(ck):
        edit_manifest(checkpoint.manifest_path(path), output=str(tmp_path / "out.h5"))
    args = [*SWEEP, "-o", str(tmp_path / "out.h5"), "--set", f'checkpoint.directory="{ck}"']
    oldest = checkpoints(ck)[0]
    other = ck / OTHER
    for ending in (".h5", ".manifest.json"):
        other.with_name(other.name + ending).write_text("another job's")
    aside = ck / "dqsim-0.0.1"
    aside.mkdir()
    shutil.copy2(oldest, aside / oldest.name)
    shutil.copy2(checkpoint.manifest_path(oldest), checkpoint.manifest_path(aside / oldest.name))
    edit_manifest(checkpoint.manifest_path(aside / oldest.name), dqsim_version="0.0.1")
    return args, ck


#: Another job's checkpoint of the same [run].name (another configuration tag), beside this job's (:func:`copy_of`).
OTHER = "bb84_distance_sweep.00000000.ckpt000-00000000000100000000"


def run_id_of(path):
    """The run id in the manifest of a checkpoint's or an output's ``path``."""
    listed = checkpoint.manifest_path(path) if ".ckpt" in path.name else path.with_name(path.name + ".manifest.json")
    return json.loads(listed.read_text())["body"]["run_id"]


def mine(ck):
    """This job's complete checkpoints in ``ck`` (not the other job's), oldest first."""
    return [path for path in checkpoints(ck) if ".00000000." not in path.name]


def files_in(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_repro_clean_removes_the_checkpoints_a_finished_run_kept(finished, tmp_path):
    """A dry run names them and removes nothing; the clean removes this job's (its own 3, the dqsim-0.0.1/ one and
    an incomplete one: of the run whose id the output records), one line per group and a summary with sizes;
    another job's stay. The newest checkpoint's manifest is newer than the output's (a clock that runs ahead):
    paired by run id, it goes all the same (before run ids it stayed, as a later run's). The oldest names another
    output (as a stopped run's checkpoint does, once a resume with another -o finished the run): of the same run,
    it goes too."""
    args, ck = copy_of(finished, tmp_path)
    run = run_id_of(tmp_path / "out.h5")
    assert {run_id_of(path) for path in mine(ck)} == {run}
    edit_manifest(checkpoint.manifest_path(mine(ck)[0]), output=str(tmp_path / "stopped.h5"))
    later = os.stat(tmp_path / "out.h5.manifest.json").st_mtime + 60
    os.utime(checkpoint.manifest_path(mine(ck)[-1]), (later, later))
    stem = mine(ck)[-1].name.replace(".ckpt001-", ".ckpt002-")  # a write that was killed: no manifest
    (ck / stem).write_bytes(b"half")
    before = files_in(ck)
    dry = run_here(["clean", *args, "--dry-run"]).stdout.splitlines()
    assert files_in(ck) == before
    assert dry[1] == f"  output: {tmp_path / 'out.h5'} holds this job's finished results (whole as its manifest " \
                     f"lists it, written {dry[1].split('written ')[1]}", dry
    assert dry[2].startswith(f"  would remove 3 checkpoints in {ck}/ (") and \
        dry[2].endswith(f"): of dqsim 0.1.0, of run {run[:8]}, whose output {tmp_path / 'out.h5'} is whole"), dry
    assert dry[3] == f"  would remove 1 checkpoint in {ck}/ (0.0 KiB): incomplete (no manifest: a write that was " \
                     "stopped; never resumable)", dry
    assert dry[4].startswith(f"  would remove 1 checkpoint in {ck}/dqsim-0.0.1/ (") and "of dqsim 0.0.1" in dry[4]
    # another job's of the same [run].name (another configuration tag) stays, named (since 2026-12-07 (late afternoon))
    # (an unfinished run's since 2026-12-07 (night): --other-configs alone keeps it, review3 D7)
    assert dry[5] == (f"  kept 1 checkpoint in {ck}/ (0.0 KiB) (the newest: {OTHER}.h5): of [run].name "
                      "'bb84_distance_sweep' under another configuration (bb84_distance_sweep.00000000: the job or its "
                      f"--set differ from this one's), of an unfinished run (dqsim resume {ck / OTHER}.h5 goes on "
                      "from it); --other-configs --all removes them"), dry
    assert dry[6].startswith("  --dry-run: would remove 5 checkpoints (") and "keep 1 (0.0 KiB); nothing removed" \
        in dry[6] and len(dry) == 7, dry
    done = run_here(["clean", *args]).stdout.splitlines()
    assert [line.replace("would remove", "removed") for line in dry[2:5]] == done[2:5], done
    assert done[5] == dry[5] and done[6].startswith("  removed 5 checkpoints (") and \
        done[6].endswith(" freed), kept 1 (0.0 KiB)"), done
    assert files_in(ck) == ["bb84_distance_sweep.00000000.ckpt000-00000000000100000000.h5",
                            "bb84_distance_sweep.00000000.ckpt000-00000000000100000000.manifest.json"]
    again = run_here(["clean", *args]).stdout.splitlines()
    assert again[2] == dry[5], again


def test_an_unfinished_runs_checkpoints_are_kept_unless_all(finished, tmp_path):
    """A checkpoint of another run than the output's (another run id: a later run with another -o) is kept, the
    newest named; so is every checkpoint where the output is not whole (a later run started on it: its manifest
    goes at the start); ``--all`` removes them."""
    args, ck = copy_of(finished, tmp_path)
    newest, run = mine(ck)[-1], run_id_of(tmp_path / "out.h5")
    edit_manifest(checkpoint.manifest_path(newest), run_id="f" * 32)
    lines = run_here(["clean", *args]).stdout.splitlines()
    assert lines[3] == f"  kept 1 checkpoint in {ck}/ ({lines[3].split('(')[1].split(')')[0]}) (the newest: " \
                       f"{newest.name}): of dqsim 0.1.0, of run ffffffff; {tmp_path / 'out.h5'} holds another " \
                       f"run's results (run {run[:8]}); dqsim resume goes on from the newest; --all removes them", lines
    assert mine(ck) == [newest]
    args, ck = copy_of(finished, tmp_path / "unfinished")
    (tmp_path / "unfinished" / "out.h5.manifest.json").unlink()
    before = files_in(ck)
    lines = run_here(["clean", *args]).stdout.splitlines()
    assert files_in(ck) == before
    assert lines[1].startswith(f"  output: {tmp_path / 'unfinished' / 'out.h5'} is not a finished run's output ("), lines
    assert lines[2].endswith(f"(the newest: {mine(ck)[-1].name}): of dqsim 0.1.0, of run {run[:8]}, whose output "
                             f"{tmp_path / 'unfinished' / 'out.h5'} is not whole: not finished; dqsim resume goes on "
                             "from the newest; --all removes them"), lines
    assert lines[3].endswith("is not whole: not finished; dqsim 0.0.1 can resume them; --all removes them"), lines
    assert lines[4].endswith("--other-configs --all removes them") and \
        lines[5].startswith("  removed 0 checkpoints (0.0 KiB freed), kept 5 ("), lines
    everything = run_here(["clean", *args, "--all"]).stdout.splitlines()
    assert everything[2].endswith("is not whole: not finished (--all)") and \
        everything[5].startswith("  removed 4 checkpoints ("), everything
    assert mine(ck) == [] and not (ck / "dqsim-0.0.1").exists()


def test_checkpoints_written_before_run_ids_are_paired_by_modification_time(finished, tmp_path):
    """Manifests without the run's identity (as before 2026-12-06): those written before the output go, the one
    written after it stays (a later run's), and each line says the pairing was by modification time."""
    args, ck = copy_of(finished, tmp_path)
    for path in [*mine(ck), ck / "dqsim-0.0.1" / mine(ck)[0].name]:
        edit_manifest(checkpoint.manifest_path(path), run_id=None, output=None, overrides=None, input_sha256=None)
    newest = mine(ck)[-1]
    later = os.stat(tmp_path / "out.h5.manifest.json").st_mtime + 60
    os.utime(checkpoint.manifest_path(newest), (later, later))
    lines = run_here(["clean", *args]).stdout.splitlines()
    assert lines[2].startswith(f"  removed 2 checkpoints in {ck}/ (") and lines[2].endswith(
        "): of dqsim 0.1.0, written before run ids and before the output (by modification time)"), lines
    assert lines[3].endswith(f"(the newest: {newest.name}): of dqsim 0.1.0, written before run ids and after the "
                             "output (by modification time): a later run of the job; dqsim resume goes on from the "
                             "newest; --all removes them"), lines
    assert "dqsim-0.0.1" in lines[4] and "written before run ids and before the output" in lines[4], lines
    assert mine(ck) == [newest]


def test_repro_clean_from_the_checkpoint_folder_alone(finished, tmp_path):
    """``dqsim clean --checkpoints DIR`` needs no job: each checkpoint names its output and run id. A finished
    run's go (the dqsim-0.0.1/ copy too), another job's checkpoint written before run ids stays (no output
    recorded), as does every checkpoint of a run whose output is not whole; a job whose lock another run holds is
    skipped in one line."""
    args, ck = copy_of(finished, tmp_path)
    dry = run_here(["clean", "--checkpoints", str(ck), "--dry-run"]).stdout.splitlines()
    prefix = mine(ck)[0].name.split(".ckpt")[0]
    assert dry[0] == f"dqsim clean --checkpoints {ck}: the checkpoints of every job in {ck}/", dry
    assert dry[1].startswith("  kept 1 checkpoint in ") and dry[1].endswith(
        ": bb84_distance_sweep.00000000: of an unknown dqsim version, written before run ids: no output recorded "
        "(dqsim clean JOB, with the run's --set and -o, pairs them with its output by modification time); that "
        "version can resume them; --all removes them"), dry
    assert dry[2].startswith(f"  would remove 3 checkpoints in {ck}/ (") and dry[2].endswith(
        f": {prefix}: of dqsim 0.1.0, of run {run_id_of(tmp_path / 'out.h5')[:8]}, whose output "
        f"{tmp_path / 'out.h5'} is whole"), dry
    assert "dqsim-0.0.1" in dry[3] and dry[4].startswith("  --dry-run: would remove 4 checkpoints ("), dry
    lock, holder = checkpoint.lock_folder(ck, prefix)
    try:
        held = run_here(["clean", "--checkpoints", str(ck)]).stdout.splitlines()
    finally:
        checkpoint.release_lock(lock)
    assert held[2].startswith(f"  skipped 4 checkpoints of {prefix}: another dqsim run of this job is using them "
                              f"(pid {os.getpid()} on "), held
    done = run_here(["clean", "--checkpoints", str(ck)]).stdout.splitlines()
    assert done[-1].startswith("  removed 4 checkpoints (") and mine(ck) == [], done
    args, ck = copy_of(finished, tmp_path / "unfinished")
    (tmp_path / "unfinished" / "out.h5.manifest.json").unlink()
    kept = run_here(["clean", "--checkpoints", str(ck)]).stdout.splitlines()
    assert kept[-1].startswith("  removed 0 checkpoints (0.0 KiB freed), kept 5 (") and len(mine(ck)) == 3, kept
    refused = run_here(["clean", "--checkpoints", str(ck), *args[:1]], check=False)
    assert refused.returncode == 2 and refused.stderr == ("dqsim: error: dqsim clean: give a job file (JOB) or a "
                                                          "checkpoint folder (--checkpoints DIR), one of the two\n")


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


def test_checkpoints_of_the_same_name_from_another_configuration_are_noted_and_removed_on_request(finished, tmp_path):
    """userwalk 10: after the job was edited (another misalignment), its earlier configuration's checkpoints in the
    folder were not mentioned by dqsim run or check, and `dqsim clean JOB` said "no checkpoint of this job there";
    only `dqsim clean --checkpoints DIR` found them."""
    ck = tmp_path / "ck"
    shutil.copytree(finished / "ck", ck)
    earlier = checkpoints(ck)
    edited = [*SWEEP, "--set", "qkd.link.misalignment=0.02", "--set", f'checkpoint.directory="{ck}"',
              "-o", str(tmp_path / "edited.h5")]
    tag = earlier[-1].name.split(".ckpt")[0]
    sets = [*SWEEP[2::2], "qkd.link.misalignment=0.02", f'checkpoint.directory="{ck}"',
            f'run.output="{tmp_path / "edited.h5"}"']
    command = shlex.join(["dqsim", "clean", SWEEP[0], *(word for each in sets for word in ("--set", each)),
                          "--other-configs"])
    expected = (f"{ck} holds 3 checkpoints of [run].name 'bb84_distance_sweep' from another configuration ({tag}: "
                f"the job or its --set differ from this one's; the newest {earlier[-1].name}), of 1 finished run; "
                f"this job does not resume them; to remove them: {command}")
    check = run_here(["check", *edited]).stdout
    assert f"# note: {expected}" in check, check
    listed = run_here(["clean", *edited, "--dry-run"]).stdout.splitlines()
    assert listed[2].startswith(f"  kept 3 checkpoints in {ck}/ (") and listed[2].endswith(
        f"of [run].name 'bb84_distance_sweep' under another configuration ({tag}: the job or its --set differ "
        f"from this one's), of a finished run (its output {finished / 'out.h5'} is whole); --other-configs removes "
        "them"), listed
    run = run_here(["run", *edited, "--quiet"])
    assert f"dqsim: note: {expected}" in run.stderr, run.stderr
    assert set(earlier) <= set(checkpoints(ck))  # the run leaves them
    own = [path for path in checkpoints(ck) if path not in earlier]
    done = run_here(["clean", *edited, "--other-configs"]).stdout.splitlines()
    assert any(line.startswith(f"  removed 3 checkpoints in {ck}/ (") and line.endswith("; --other-configs")
               for line in done), done
    assert not set(earlier) & set(checkpoints(ck))


def test_an_unfinished_runs_checkpoints_of_another_configuration_stay_unless_all(finished, tmp_path):
    """review3 D7: `--other-configs` removed a stopped (resumable) run's checkpoints of another configuration without
    saying so, and the note of dqsim check did not tell finished from unfinished: now the note counts the unfinished
    run, `--other-configs` keeps its checkpoints (naming the resume) and `--other-configs --all` removes them."""
    ck = tmp_path / "ck"
    shutil.copytree(finished / "ck", ck)
    earlier = checkpoints(ck)
    for path in earlier:  # another run id than the whole output records: a run stopped before its end
        edit_manifest(checkpoint.manifest_path(path), run_id="f" * 32)
    edited = [*SWEEP, "--set", "qkd.link.misalignment=0.02", "--set", f'checkpoint.directory="{ck}"',
              "-o", str(tmp_path / "edited.h5")]
    check = run_here(["check", *edited]).stdout
    assert "of 1 unfinished run (" in check and "--other-configs keeps it); this job does not resume them; to " \
        "remove them, ending that run: dqsim clean" in check and check.count("--other-configs --all") == 1, check
    kept = run_here(["clean", *edited, "--other-configs"]).stdout.splitlines()
    assert any(line.startswith(f"  kept 3 checkpoints in {ck}/ (") and f"of an unfinished run (dqsim resume "
               f"{earlier[-1]} goes on from it); --other-configs --all removes them" in line for line in kept), kept
    assert set(earlier) <= set(checkpoints(ck))
    gone = run_here(["clean", *edited, "--other-configs", "--all"]).stdout.splitlines()
    assert any(line.startswith(f"  removed 3 checkpoints in {ck}/ (") and line.endswith("; --other-configs --all")
               for line in gone), gone
    assert not set(earlier) & set(checkpoints(ck))
