"""A file the job reads edited in place while checkpoints of the job exist (``dqsim.cli.edited``).

The edited QASM file gives the job a new checkpoint prefix. Before 2026-12-07 (morning) ``dqsim run`` and ``dqsim
check`` said nothing of the old checkpoints, and a requeued SLURM job started the edited job from the start. Now
both say so in one line (the file, the newest checkpoint, when it was written, where in the run), ``dqsim run``
starts afresh and leaves them, and ``dqsim run --stop-if-edited`` (``slurm/run_step.sh`` on a restart) stops in one
line where that run is unfinished. Since 2026-12-07 (later) ``dqsim clean JOB`` lists them (``--edited`` removes
them), and those named before 2026-12-07 (by the file's path, which an edit keeps) are told apart by the SHA-256
their manifests record instead of being removed as the job's own. A small ``dqc`` job (4 shots) runs in this
process.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dqsim import jobs
from dqsim.engine import checkpoint
from dqsim.cli import edited
from dqsim.cli.finished import checkpoint_names
from dqsim.errors import count_of
from mpi_helper import ROOT, child_env, run_here
from run_files import checkpoints
from test_clean import edit_manifest
from test_moved_qasm_resume import SMALL, args, body_of, edit, project_in


def names_of(folder):
    return {path.name for path in checkpoints(folder / "ck")}


def test_repro_an_edited_circuit_is_named_at_the_start_and_stops_a_requeued_job(tmp_path):
    project_in(tmp_path)
    run_here(["run", *args(tmp_path), *SMALL])
    old = names_of(tmp_path)
    newest = checkpoints(tmp_path / "ck")[-1]
    alt = tmp_path / "circuits" / "alt.qasm"
    original = alt.read_text()
    edit(alt, 2.5)
    head = (f"{tmp_path / 'ck'} holds {count_of(len(old), 'checkpoint')} of this job written when {alt}, which it "
            f"reads, had other contents (SHA-256 differs; the newest, {newest.name}, written ")
    # the run finished (its output whole, of its run id): no progress to keep, a requeue runs the edited job
    done = run_here(["run", *args(tmp_path), *SMALL, "-o", tmp_path / "edited.h5", "--stop-if-edited"]).stderr
    assert f"dqsim: note: {head}" in done and "this run starts from the start" in done, done
    assert old <= names_of(tmp_path)  # left as they were
    shown = run_here(["check", *args(tmp_path)]).stdout.splitlines()
    notes = [line for line in shown if line.startswith(f"# note: {head}")]
    assert len(notes) == 1 and "dqsim run --stop-if-edited) stops instead" in notes[0], shown
    (tmp_path / "out.h5").unlink()  # that run's output gone: unfinished, its progress in its checkpoints
    stopped = run_here(["run", *args(tmp_path), *SMALL, "--stop-if-edited"], check=False)
    err = stopped.stderr.strip().splitlines()
    assert stopped.returncode == 2 and len(err) == 1, err
    assert err[0].startswith(f"dqsim: error: {head}") and f"restore the file and dqsim resume {newest}" in err[0], err
    assert not (tmp_path / "out.h5").exists()
    alt.write_text(original)  # restored: that run resumes
    run_here(["resume", str(newest), "-o", str(tmp_path / "resumed.h5"), "--quiet"])


def test_another_seed_is_another_job_not_an_edit(tmp_path):
    project_in(tmp_path)
    run_here(["run", *args(tmp_path), *SMALL, "--set", "run.seed=5"])
    edit(tmp_path / "circuits" / "alt.qasm", 2.5)
    job = jobs.load_job(tmp_path / "job.toml", args(tmp_path)[4::2])
    assert edited.edited_runs(job, tmp_path / "ck", checkpoint_names(job)) == []
    assert "had other contents" not in run_here(["check", *args(tmp_path)]).stdout


def test_repro_a_requeued_slurm_job_whose_circuit_was_edited_stops_instead_of_starting_over(tmp_path):
    """``slurm/run_step.sh``'s own functions with mpiexec (no cluster): a restart (SLURM_RESTART_COUNT 1) of a job
    whose circuit was edited in place since its unfinished run checkpointed found no checkpoint of the new name and
    ran the edited job from the start (its log said only that checkpoints of another configuration were ignored).
    Now dqsim stops with status 2 and its one line, and finish_step does not requeue."""
    if not (Path(sys.executable).parent / "mpiexec").exists():
        pytest.skip("no mpiexec beside this Python; install the 'mpi' extra")
    project_in(tmp_path)
    run_here(["run", *args(tmp_path), *SMALL])
    (tmp_path / "out.h5").unlink()  # unfinished: as if the node had gone before the output was written
    edit(tmp_path / "circuits" / "alt.qasm", 2.5)
    sets = " ".join(f"--set '{item}'" for item in args(tmp_path)[3:] if item != "--set")
    script = (f"set -euo pipefail; source slurm/run_step.sh; CHECKPOINT_DIR={tmp_path / 'ck'}; "
              f"DQSIM_PYTHON={sys.executable}; DQSIM_LAUNCHER=mpiexec; SLURM_RESTART_COUNT=1; SLURM_NTASKS=1; "
              f"run_or_resume {tmp_path / 'job.toml'} -o {tmp_path / 'out.h5'} {sets} --quiet; finish_step")
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                          timeout=300)
    errors = [line for line in done.stderr.splitlines() if line.startswith("dqsim:")]
    assert done.returncode == 2 and len(errors) == 1, (done.stdout, done.stderr)
    assert errors[0].startswith(f"dqsim: error: {tmp_path / 'ck'} holds ") and "--stop-if-edited" in errors[0]
    assert not (tmp_path / "out.h5").exists()


def prefix_of(names):
    """The one checkpoint prefix of the run-file names ``names``."""
    (prefix,) = {checkpoint.parse_checkpoint_name(name)["prefix"] for name in names}
    return prefix


def test_repro_dqsim_clean_names_an_edited_files_checkpoints_and_removes_them_with_edited(tmp_path):
    """Before 2026-12-07 (later) ``dqsim clean JOB`` did not see the checkpoints of a file's other contents (another
    configuration tag): the notes said to ``rm`` them. Now it lists them in one line naming the edited file, keeps
    them unless ``--edited`` (``--all`` is the current contents' own), removes them with it, never those of an
    unfinished run of the file as it is now, and refuses in one line while another run holds their lock."""
    project_in(tmp_path)
    run_here(["run", *args(tmp_path), *SMALL])
    (tmp_path / "out.h5").unlink()  # that run unfinished: its progress in its checkpoints
    old = names_of(tmp_path)
    newest = checkpoints(tmp_path / "ck")[-1]
    alt = tmp_path / "circuits" / "alt.qasm"
    edit(alt, 2.5)
    run_here(["run", *args(tmp_path), *SMALL, "-o", str(tmp_path / "b.h5")])
    (tmp_path / "b.h5").unlink()  # the edited job's run unfinished too
    current = names_of(tmp_path) - old
    why = f"input {alt} edited since (its SHA-256 differs from the one they record)"

    def lines_of(*extra, check=True):
        return run_here(["clean", *args(tmp_path), *extra], check=check)

    for extra in (["--dry-run"], ["--dry-run", "--all"], []):
        shown = [line for line in lines_of(*extra).stdout.splitlines() if why in line]
        assert len(shown) == 1 and shown[0].startswith(f"  kept {count_of(len(old), 'checkpoint')} in "), shown
        assert f"restore the file and dqsim resume {newest}; --edited removes them" in shown[0], shown
    assert names_of(tmp_path) == old | current
    shown = [line for line in lines_of("--dry-run", "--edited").stdout.splitlines() if why in line]
    assert len(shown) == 1 and shown[0].startswith(f"  would remove {count_of(len(old), 'checkpoint')} in "), shown
    held, _ = checkpoint.lock_folder(tmp_path / "ck", prefix_of(old))
    try:
        refused = lines_of("--edited", check=False)
    finally:
        checkpoint.release_lock(held)
    err = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(err) == 1 and "is using its checkpoints there" in err[0], err
    assert names_of(tmp_path) == old | current
    removed = lines_of("--edited").stdout
    assert names_of(tmp_path) == current, removed  # the current contents' unfinished run's stay
    assert "not finished; dqsim resume goes on from the newest" in removed, removed
    folder = run_here(["clean", "--checkpoints", str(tmp_path / "ck"), "--edited"], check=False)
    assert folder.returncode == 2 and "--edited belongs to a job" in folder.stderr, folder.stderr


def test_repro_checkpoints_named_before_2026_12_07_of_an_edited_file_are_left_not_removed(tmp_path, monkeypatch):
    """Checkpoints named before 2026-12-07 carry the file's path in their configuration tag, which an edit in place
    keeps: a run from the start took them for its own earlier run's and removed them at its first checkpoint
    ("already holds checkpoints of this job"). Their manifests record the file's SHA-256 (since 2026-12-06): now
    they are named as the other contents' checkpoints, left, and ``dqsim clean --edited`` removes them."""
    project_in(tmp_path)
    with monkeypatch.context() as patch:  # named as before 2026-12-07
        patch.setattr(jobs, "config_sha256", jobs.config_sha256_by_path)
        run_here(["run", *args(tmp_path), *SMALL])
    (tmp_path / "out.h5").unlink()
    old = names_of(tmp_path)
    job = jobs.load_job(tmp_path / "job.toml", args(tmp_path)[4::2])
    assert prefix_of(old) == checkpoint_names(job).former_prefix != checkpoint_names(job).prefix
    alt = tmp_path / "circuits" / "alt.qasm"
    edit(alt, 2.5)
    again = run_here(["run", *args(tmp_path), *SMALL]).stderr
    assert "already holds checkpoints of this job" not in again, again
    assert f"dqsim: note: {tmp_path / 'ck'} holds {count_of(len(old), 'checkpoint')} of this job written when {alt}, " \
           "which it reads, had other contents" in again, again
    assert old < names_of(tmp_path)  # left, beside the edited job's
    shown = run_here(["check", *args(tmp_path)]).stdout
    assert f"had other contents (SHA-256 differs; the newest, {sorted(old)[-1]}, " in shown, shown
    current = names_of(tmp_path) - old
    (tmp_path / "out.h5").unlink()  # the edited job's run unfinished: its checkpoints stay
    run_here(["clean", *args(tmp_path), "--edited"])
    assert names_of(tmp_path) == current


def set_aside(folder, version="0.0.1"):
    """Move every checkpoint in ``folder`` into ``folder/dqsim-VERSION/`` (where a run of another dqsim version
    moves them), their manifests naming that version; returns their run files' names there."""
    aside = checkpoint.set_aside_folder(folder, version)
    aside.mkdir()
    for files in checkpoint.checkpoint_files_by_stem(folder).values():
        for file in files:
            file.rename(aside / file.name)
    for path in checkpoints(aside):
        edit_manifest(checkpoint.manifest_path(path), dqsim_version=version)
    return aside, {path.name for path in checkpoints(aside)}


def test_repro_dqsim_clean_finds_an_edited_files_checkpoints_in_the_dqsim_version_folders(tmp_path):
    """Before 2026-12-07 (afternoon) ``dqsim clean JOB`` looked for a file's other contents' checkpoints in the
    checkpoint folder only: those another dqsim version's run had moved into ``dqsim-VERSION/`` stayed unseen
    (not even a finished run's went). Now the same rules hold there: a finished run's go, an unfinished run's stay
    (the line says which version resumes them) unless ``--edited``, and a lock another run holds refuses it."""
    project_in(tmp_path)
    run_here(["run", *args(tmp_path), *SMALL])
    ck, alt = tmp_path / "ck", tmp_path / "circuits" / "alt.qasm"
    aside, old = set_aside(ck)
    edit(alt, 2.5)
    run_here(["run", *args(tmp_path), *SMALL, "-o", str(tmp_path / "b.h5")])
    (tmp_path / "b.h5").unlink()  # the edited job's run unfinished: its checkpoints stay
    current = names_of(tmp_path)
    why = f"input {alt} edited since (its SHA-256 differs from the one they record)"

    def shown(*extra, check=True):
        done = run_here(["clean", *args(tmp_path), *extra], check=check)
        return done, [line for line in done.stdout.splitlines() if why in line]

    _, lines = shown("--dry-run")  # that run finished: its output whole, of its run id
    assert len(lines) == 1 and lines[0].startswith(f"  would remove {count_of(len(old), 'checkpoint')} in {aside}/"), \
        lines
    assert "of dqsim 0.0.1" in lines[0] and f"whose output {tmp_path / 'out.h5'} is whole" in lines[0], lines
    (tmp_path / "out.h5").unlink()  # now unfinished: kept, resumed by that version
    _, lines = shown("--dry-run")
    assert len(lines) == 1 and lines[0].startswith(f"  kept {count_of(len(old), 'checkpoint')} in {aside}/"), lines
    assert f"restore the file and resume {aside / sorted(old)[-1]} with dqsim 0.0.1; --edited removes" in lines[0]
    held, _ = checkpoint.lock_folder(ck, prefix_of(old))
    try:
        refused, _ = shown("--edited", check=False)
    finally:
        checkpoint.release_lock(held)
    err = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(err) == 1 and "is using its checkpoints there" in err[0], err
    assert {path.name for path in checkpoints(aside)} == old
    _, lines = shown("--edited")
    assert len(lines) == 1 and lines[0].startswith(f"  removed {count_of(len(old), 'checkpoint')} in {aside}/")
    assert not aside.exists() and names_of(tmp_path) == current


def test_repro_run_and_check_name_an_edited_files_checkpoints_in_the_dqsim_version_folders(tmp_path):
    """Before 2026-12-07 (late afternoon) the notes of ``dqsim run`` and ``dqsim check`` looked in the checkpoint
    folder only: the checkpoints of a file's other contents that another dqsim version's run had moved into
    ``dqsim-VERSION/`` were not named (``dqsim clean JOB`` listed them). Now both name them in one line, the folder
    that holds them and the version that resumes them; a requeued job (``--stop-if-edited``) does not stop for them
    (this version cannot resume them) and the run leaves them."""
    project_in(tmp_path)
    run_here(["run", *args(tmp_path), *SMALL])
    ck, alt = tmp_path / "ck", tmp_path / "circuits" / "alt.qasm"
    aside, old = set_aside(ck)
    (tmp_path / "out.h5").unlink()  # that run unfinished
    edit(alt, 2.5)
    head = (f"{aside} holds {count_of(len(old), 'checkpoint')} of this job written when {alt}, which it reads, had "
            f"other contents (SHA-256 differs; the newest, {sorted(old)[-1]}, written ")
    resume = f"restore the file and resume {aside / sorted(old)[-1]} with dqsim 0.0.1; to remove them: dqsim clean "
    shown = run_here(["check", *args(tmp_path)]).stdout.splitlines()
    notes = [line for line in shown if line.startswith(f"# note: {head}")]
    assert len(notes) == 1 and resume in notes[0] and "so does a requeued SLURM job" in notes[0], shown
    done = run_here(["run", *args(tmp_path), *SMALL, "--stop-if-edited"])
    notes = [line for line in done.stderr.splitlines() if line.startswith(f"dqsim: note: {head}")]
    assert len(notes) == 1 and resume in notes[0] and "this run starts from the start" in notes[0], done.stderr
    assert {path.name for path in checkpoints(aside)} == old and (tmp_path / "out.h5").exists()
    job = jobs.load_job(tmp_path / "job.toml", args(tmp_path)[4::2])
    found = edited.edited_runs(job, ck, checkpoint_names(job), set_aside=True)
    assert [run.newest.name for run in found] == [sorted(old)[-1]] and not found[0].in_folder(ck)
    assert edited.refusal_line(found, ck, job) is None


def test_repro_dqsim_clean_edited_leaves_a_dqsim_version_folders_checkpoints_a_resume_there_uses(tmp_path):
    """A run resuming a checkpoint in ``dqsim-VERSION/`` (as ``dqsim clean``'s "kept" line says) takes its tag's
    lock in that folder (:func:`dqsim.cli.main._session`), but before 2026-12-07 (afternoon) ``dqsim clean JOB
    --edited`` looked at the lock in the checkpoint folder only and removed the checkpoints that run was using.
    Now it refuses, naming the folder, and removes nothing."""
    project_in(tmp_path)
    run_here(["run", *args(tmp_path), *SMALL])
    ck, alt = tmp_path / "ck", tmp_path / "circuits" / "alt.qasm"
    aside, old = set_aside(ck)
    (tmp_path / "out.h5").unlink()  # unfinished
    edit(alt, 2.5)
    held, _ = checkpoint.lock_folder(aside, prefix_of(old))  # as a resume of aside/PREFIX.ckpt…h5 takes it
    try:
        refused = run_here(["clean", *args(tmp_path), "--edited"], check=False)
    finally:
        checkpoint.release_lock(held)
    err = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(err) == 1, err
    assert err[0].startswith(f"dqsim: error: {aside}: another dqsim run"), err
    assert {path.name for path in checkpoints(aside)} == old, "removed while a run holds their lock"
    run_here(["clean", *args(tmp_path), "--edited"])
    assert not aside.exists()


def test_repro_dqsim_clean_leaves_the_jobs_own_checkpoints_in_a_dqsim_version_folder_a_resume_there_uses(tmp_path):
    """The job's own checkpoints set aside in ``dqsim-VERSION/`` of a finished run go with ``dqsim clean JOB``;
    before 2026-12-07 (afternoon) they went too while a resume of them (which locks that folder) ran. Now they are
    kept while that lock is held."""
    project_in(tmp_path)
    run_here(["run", *args(tmp_path), *SMALL])
    aside, old = set_aside(tmp_path / "ck")
    held, _ = checkpoint.lock_folder(aside, prefix_of(old))
    try:
        run_here(["clean", *args(tmp_path)])
    finally:
        checkpoint.release_lock(held)
    assert {path.name for path in checkpoints(aside)} == old, "removed while a run holds their lock"
    run_here(["clean", *args(tmp_path)])
    assert not aside.exists()


def test_repro_dqsim_clean_checkpoints_skips_a_dqsim_version_folders_checkpoints_a_resume_there_uses(tmp_path):
    """``dqsim clean --checkpoints FOLDER`` looked at each job's lock in ``FOLDER`` only, and removed a finished
    run's checkpoints in ``dqsim-VERSION/`` while a resume of them (locking that folder) ran. Now they are skipped,
    one line naming the folder."""
    project_in(tmp_path)
    run_here(["run", *args(tmp_path), *SMALL])
    ck = tmp_path / "ck"
    aside, old = set_aside(ck)
    held, _ = checkpoint.lock_folder(aside, prefix_of(old))
    try:
        done = run_here(["clean", "--checkpoints", str(ck)]).stdout
    finally:
        checkpoint.release_lock(held)
    assert f"  skipped {count_of(len(old), 'checkpoint')} of {prefix_of(old)} in {aside}/: another dqsim run" \
        in done, done
    assert {path.name for path in checkpoints(aside)} == old, "removed while a run holds their lock"
    run_here(["clean", "--checkpoints", str(ck)])
    assert not aside.exists()


def test_repro_checkpoints_named_before_2026_12_07_in_a_dqsim_version_folder_are_not_taken_for_the_jobs_own(
        tmp_path, monkeypatch):
    """Checkpoints named before 2026-12-07 (the file's path in their tag, which an edit keeps) of a file's other
    contents, in a ``dqsim-VERSION/`` folder: ``dqsim clean JOB --all`` took them for the job's own unfinished run's
    and removed them. Now they are the other contents' (their manifests' SHA-256), kept by ``--all``, removed by
    ``--edited``."""
    project_in(tmp_path)
    with monkeypatch.context() as patch:  # named as before 2026-12-07
        patch.setattr(jobs, "config_sha256", jobs.config_sha256_by_path)
        run_here(["run", *args(tmp_path), *SMALL])
    (tmp_path / "out.h5").unlink()  # unfinished
    ck, alt = tmp_path / "ck", tmp_path / "circuits" / "alt.qasm"
    aside, old = set_aside(ck)
    job = jobs.load_job(tmp_path / "job.toml", args(tmp_path)[4::2])
    assert prefix_of(old) == checkpoint_names(job).former_prefix
    edit(alt, 2.5)
    done = run_here(["clean", *args(tmp_path), "--all"]).stdout
    lines = [line for line in done.splitlines() if f"input {alt} edited since" in line]
    assert len(lines) == 1 and lines[0].startswith(f"  kept {count_of(len(old), 'checkpoint')} in {aside}/"), done
    assert {path.name for path in checkpoints(aside)} == old
    run_here(["clean", *args(tmp_path), "--edited"])
    assert not aside.exists()


def test_repro_a_requeued_job_does_not_resume_checkpoints_named_before_2026_12_07_of_an_edited_file(
        tmp_path, monkeypatch):
    """``slurm/run_step.sh``'s own functions with mpiexec (no cluster): a requeued job with no checkpoint of the new
    name resumed the newest named before 2026-12-07 (the file's path in the tag, which an edit keeps), also where
    its manifest records the file's other contents: ``dqsim resume`` then refused it in one line (the file
    changed), also where that run had finished. Now ``dqsim check`` marks that prefix ``other contents`` and the
    script runs the job with ``--stop-if-edited``, as for the new name: an unfinished run's stops in that rule's one
    line (status 2), a finished run's lets the edited job run from the start (status 0)."""
    if not (Path(sys.executable).parent / "mpiexec").exists():
        pytest.skip("no mpiexec beside this Python; install the 'mpi' extra")
    project_in(tmp_path)
    with monkeypatch.context() as patch:  # named as before 2026-12-07
        patch.setattr(jobs, "config_sha256", jobs.config_sha256_by_path)
        run_here(["run", *args(tmp_path), *SMALL])
    kept = tmp_path / "kept"
    kept.mkdir()
    for file in tmp_path.glob("out.h5*"):  # that run's output, put back below: finished again
        shutil.copy2(file, kept / file.name)
    (tmp_path / "out.h5").unlink()  # unfinished
    ck, alt = tmp_path / "ck", tmp_path / "circuits" / "alt.qasm"
    job = jobs.load_job(tmp_path / "job.toml", args(tmp_path)[4::2])
    former = checkpoint_names(job).former_prefix
    assert prefix_of(names_of(tmp_path)) == former
    edit(alt, 2.5)
    shown = run_here(["check", *args(tmp_path)]).stdout
    assert f"\n# checkpoint prefix before 2026-12-07, other contents: {former} (" in shown, shown
    sets = " ".join(f"--set '{item}'" for item in args(tmp_path)[3:] if item != "--set")
    script = (f"set -euo pipefail; source slurm/run_step.sh; CHECKPOINT_DIR={ck}; "
              f"DQSIM_PYTHON={sys.executable}; DQSIM_LAUNCHER=mpiexec; SLURM_RESTART_COUNT=1; SLURM_NTASKS=1; "
              f"run_or_resume {tmp_path / 'job.toml'} -o {tmp_path / 'out.h5'} {sets} --quiet; finish_step")

    def requeue():
        return subprocess.run(["bash", "-c", script], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                              timeout=300)

    done = requeue()
    errors = [line for line in done.stderr.splitlines() if line.startswith("dqsim:")]
    assert done.returncode == 2 and len(errors) == 1, (done.stdout, done.stderr)
    assert errors[0].startswith(f"dqsim: error: {ck} holds ") and "--stop-if-edited" in errors[0], errors
    assert "resuming from" not in done.stdout, done.stdout
    for file in kept.iterdir():  # that run finished after all: the edited job runs from the start
        shutil.copy2(file, tmp_path / file.name)
    done = requeue()
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "resuming from" not in done.stdout and "this run starts from the start" in done.stderr, done.stderr
    edited_job = jobs.load_job(tmp_path / "job.toml", args(tmp_path)[4::2])
    assert body_of(tmp_path / "out.h5")["config_sha256"] == jobs.config_sha256(edited_job)  # the edited job's results
