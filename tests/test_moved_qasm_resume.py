"""A project folder moved or copied between runs, for a job that reads a QASM file: ``dqsim resume``, the
checkpoints' names (the configuration hash) and a ``--set circuit.qasm=...`` override.

Before 2026-12-07 a resume read the QASM file at the absolute path the checkpoint recorded (a moved project
failed, a copied one read the original, edited file), the configuration hash held that absolute path (the same
job in a moved folder named its checkpoints otherwise) and the override was recorded as typed (a moved
project's output with it was not its finished results). A small ``dqc`` job (4 shots) runs in this process.
"""

import hashlib
import shutil

import pytest

from dqsim import io, jobs
from dqsim.cli.main import _stored_job
from dqsim.engine import checkpoint
from dqsim.errors import DqsimError
from dqsim.io import manifest
from mpi_helper import ROOT, run_here
from run_files import checkpoints, same_tables

#: A checkpoint every ms of simulated time, kept once the run finished.
SMALL = ["--quiet", "--set", "checkpoint.every_sim_s=0.001", "--set", "checkpoint.keep_when_done=true"]


def project_in(folder):
    """``jobs/dqc_teleport_feedforward.toml`` as ``folder/job.toml``, its circuit as ``folder/circuits/`` and another
    circuit (another angle) as ``folder/circuits/alt.qasm``, which the runs here pick with ``--set``."""
    (folder / "circuits").mkdir(parents=True)
    text = (ROOT / "jobs" / "circuits" / "teleport_feedforward.qasm").read_text()
    (folder / "circuits" / "teleport_feedforward.qasm").write_text(text)
    (folder / "circuits" / "alt.qasm").write_text(text.replace("ry(1.1) q[0];", "ry(0.7) q[0];"))
    shutil.copy(ROOT / "jobs" / "dqc_teleport_feedforward.toml", folder / "job.toml")


def args(folder):
    """``dqsim run`` arguments of the job in ``folder`` (output, checkpoints, the ``--set`` circuit there), 4 shots."""
    return [str(folder / "job.toml"), "-o", str(folder / "out.h5"),
            "--set", f'circuit.qasm="{folder}/circuits/alt.qasm"', "--set", f'checkpoint.directory="{folder / "ck"}"',
            "--set", "simulation.shots=4"]


def edit(qasm, angle):
    """Give the circuit ``qasm`` another angle (its SHA-256 changes)."""
    qasm.write_text(qasm.read_text().replace("ry(0.7) q[0];", f"ry({angle}) q[0];"))


def body_of(output):
    return manifest.read_manifest(manifest.run_manifest_path(output), kind="run")


def test_repro_a_moved_or_copied_project_resumes_its_checkpoint_with_its_own_circuit(tmp_path):
    before = tmp_path / "before"
    project_in(before)
    run_here(["run", *args(before), *SMALL])
    alt = "circuits/alt.qasm"
    original = (before / alt).read_text()
    assert body_of(before / "out.h5")["overrides_from_job"][0] == f'circuit.qasm="{alt}"'

    def job_of(folder):  # the job a resume of the folder's newest checkpoint would run
        newest = checkpoints(folder / "ck")[-1]
        return _stored_job(io.open_run(newest).attrs, None, newest)

    copied = tmp_path / "copied"
    shutil.copytree(before, copied)
    edit(before / alt, 2.5)  # the original changes: the copy resumes with its own circuit
    assert job_of(copied).circuit.qasm == str(copied / alt)
    edit(copied / alt, 2.5)  # both changed: refused in one line naming the copy's file
    with pytest.raises(DqsimError, match=rf"^{checkpoints(copied / 'ck')[-1]}: {copied / alt}, which the job reads, "
                                         r"changed since the checkpoint was written \(SHA-256 differs\); restore that "
                                         r"file or run the job again$"):
        job_of(copied)
    (before / alt).write_text(original)  # the original as it was: the copy's changed file gives way to it
    assert job_of(copied).circuit.qasm == str(before / alt)

    moved = tmp_path / "elsewhere" / "project"
    moved.parent.mkdir()
    before.rename(moved)
    resumed = moved / "resumed.h5"
    run_here(["resume", str(checkpoints(moved / "ck")[-1]), "-o", str(resumed), "--quiet"])
    sha = hashlib.sha256((moved / alt).read_bytes()).hexdigest()
    assert body_of(resumed)["input_sha256"] == {str(moved / alt): sha}
    skipped = run_here(["run", *args(moved), "--quiet", "--skip-finished"]).stderr.splitlines()
    assert len(skipped) == 1 and skipped[0].endswith("not running it again (--skip-finished)"), skipped


def test_repro_a_jobs_configuration_hash_counts_its_qasm_file_by_content_not_by_path(tmp_path):
    """The same job in two folders gives its checkpoints the same names; another circuit, other names."""
    for folder in ("a", "b"):
        project_in(tmp_path / folder)
    here, there = (jobs.load_job(tmp_path / folder / "job.toml") for folder in ("a", "b"))
    assert jobs.config_sha256(here) == jobs.config_sha256(there)
    assert jobs.config_sha256_by_path(here) != jobs.config_sha256_by_path(there)  # as before 2026-12-07
    edit(tmp_path / "b" / "circuits" / "alt.qasm", 2.5)
    alt = ['circuit.qasm="circuits/alt.qasm"']
    assert jobs.config_sha256(jobs.apply_overrides(here, alt, paths_from_job=True)) != \
        jobs.config_sha256(jobs.apply_overrides(there, alt, paths_from_job=True))


def test_checkpoints_named_by_the_former_configuration_hash_are_still_found_and_resume(tmp_path, monkeypatch):
    """Checkpoints written before 2026-12-07 (the hash of the QASM file's absolute path, written here with that
    hash): ``dqsim check`` prints their prefix for ``slurm/run_step.sh``, ``dqsim clean JOB`` finds them, they
    resume, and a run of the job from the start counts them as its earlier run's."""
    project_in(tmp_path)
    monkeypatch.setattr(jobs, "config_sha256", jobs.config_sha256_by_path)
    run_here(["run", *args(tmp_path), *SMALL])
    monkeypatch.undo()
    job = jobs.load_job(tmp_path / "job.toml", args(tmp_path)[4::2])
    former = checkpoint.checkpoint_prefix(job.run.name, jobs.config_sha256_by_path(job))
    assert former != checkpoint.checkpoint_prefix(job.run.name, jobs.config_sha256(job))
    written = checkpoints(tmp_path / "ck")
    assert written and all(path.name.startswith(former + ".ckpt") for path in written), written
    shown = run_here(["check", *args(tmp_path)]).stdout
    assert f"\n# checkpoint prefix before 2026-12-07: {former} (" in shown, shown
    cleaned = run_here(["clean", *args(tmp_path), "--dry-run"]).stdout
    assert f"would remove {len(written)} checkpoint" in cleaned, cleaned
    run_here(["resume", str(written[-1]), "-o", str(tmp_path / "resumed.h5"), "--quiet"])
    assert body_of(tmp_path / "resumed.h5")["config_sha256"].startswith(former.split(".")[-1])
    newest = checkpoints(tmp_path / "ck")[-1]  # the resumed run's, named as the checkpoint it resumed
    assert newest.name.startswith(former + ".ckpt")
    again = run_here(["run", *args(tmp_path), *SMALL]).stderr
    assert f"already holds checkpoints of this job (the newest: {newest};" in again, again
    now = checkpoints(tmp_path / "ck")  # the earlier run's, removed at this run's first checkpoint
    assert now and not any(path.name.startswith(former) for path in now), now


def written_as_before_2026_12_07(monkeypatch):
    """Make this process's runs write their checkpoints as dqsim did before 2026-12-07: named by the configuration
    hash of the QASM file's absolute path, recording the job's folder, the overrides and the input files by their
    absolute paths only (no ``job_base_dir_from_checkpoints``, ``overrides_from_job``, ``input_sha256_from_job``
    nor ``output_from_checkpoints``)."""
    from dqsim.cli import main

    original = main._session

    def session_as_before(*args, **kwargs):
        session = original(*args, **kwargs)
        for key in ("job_base_dir_from_checkpoints", "overrides_from_job"):
            del session.meta[key]
        for key in ("overrides_from_job", "input_sha256_from_job", "output_from_checkpoints"):
            del session.identity[key]
        return session

    monkeypatch.setattr(jobs, "config_sha256", jobs.config_sha256_by_path)
    monkeypatch.setattr(main, "_session", session_as_before)


def test_repro_a_checkpoint_written_before_2026_12_07_resumes_in_a_moved_project(tmp_path, monkeypatch):
    """Such a checkpoint records only the QASM file's absolute path (and its SHA-256): before, a resume of a moved
    project read the file there, or failed where it was gone. Now the folder near the checkpoint's that holds the
    file at the same place in the job's folder, with that SHA-256, is the job's folder (its circuit is the one the
    run had); where none does, one line names the missing file, its path and what to do."""
    before = tmp_path / "before"
    project_in(before)
    with monkeypatch.context() as patch:
        written_as_before_2026_12_07(patch)
        run_here(["run", *args(before), *SMALL])
    newest = checkpoints(before / "ck")[-1]
    assert "job_base_dir_from_checkpoints" not in io.open_run(newest).attrs  # as before 2026-12-07
    moved = tmp_path / "elsewhere" / "project"
    moved.parent.mkdir()
    before.rename(moved)
    newest = checkpoints(moved / "ck")[-1]
    alt = "circuits/alt.qasm"
    assert _stored_job(io.open_run(newest).attrs, None, newest).circuit.qasm == str(moved / alt)
    (moved / alt).rename(moved / "alt.qasm")  # gone from where the job had it: refused, in one line
    with pytest.raises(DqsimError) as refused:
        _stored_job(io.open_run(newest).attrs, None, newest)
    assert str(refused.value) == (
        f"{newest}: {before / alt}, which its job reads, is missing, and neither {moved / 'ck'} nor a folder above it "
        f"holds {alt} with the SHA-256 the checkpoint recorded (written before 2026-12-07, the checkpoint names the "
        f"file only by that absolute path): put the file back at {before / alt}, or name the folder that now holds "
        f"the job and {alt} (dqsim resume {newest} --job-folder DIR), or run the job again")
    (moved / "alt.qasm").rename(moved / alt)
    resumed = moved / "resumed.h5"
    run_here(["resume", str(newest), "-o", str(resumed), "--quiet"])
    sha = hashlib.sha256((moved / alt).read_bytes()).hexdigest()
    assert body_of(resumed)["input_sha256"] == {str(moved / alt): sha}
    same_tables(io.open_run(moved / "out.h5"), io.open_run(resumed), ["counts", "shots"])


def test_repro_a_checkpoint_written_before_2026_12_07_outside_the_moved_project_resumes_with_its_job_folder(
        tmp_path, monkeypatch):
    """Its checkpoint folder left behind (scratch) while the project moved: no folder near the checkpoint holds the
    job's files, so the resume needed them at their old paths. ``dqsim resume --job-folder DIR`` names the folder that
    now holds the job: its files are read there at their old places, checked against the SHA-256 recorded."""
    before, scratch = tmp_path / "before", tmp_path / "scratch"
    project_in(before)
    with monkeypatch.context() as patch:
        written_as_before_2026_12_07(patch)
        run_here(["run", *args(before)[:-4], "--set", f'checkpoint.directory="{scratch}"', *args(before)[-2:],
                  *SMALL])
    newest = checkpoints(scratch)[-1]
    moved = tmp_path / "elsewhere" / "project"
    moved.parent.mkdir()
    before.rename(moved)
    refused = run_here(["resume", str(newest), "-o", str(tmp_path / "x.h5"), "--quiet"], check=False)
    assert refused.returncode == 2 and "--job-folder DIR" in refused.stderr, refused.stderr
    resumed = tmp_path / "resumed.h5"
    run_here(["resume", str(newest), "--job-folder", str(moved), "-o", str(resumed), "--quiet"])
    alt = "circuits/alt.qasm"
    sha = hashlib.sha256((moved / alt).read_bytes()).hexdigest()
    assert body_of(resumed)["input_sha256"] == {str(moved / alt): sha}
    same_tables(io.open_run(moved / "out.h5"), io.open_run(resumed), ["counts", "shots"])
    edit(moved / alt, 2.5)  # another circuit there: refused in one line naming it
    wrong = run_here(["resume", str(newest), "--job-folder", str(moved), "-o", str(tmp_path / "y.h5"), "--quiet"],
                     check=False)
    lines = wrong.stderr.strip().splitlines()
    assert wrong.returncode == 2 and len(lines) == 1 and f"{moved / alt}, which the job reads, changed" in lines[0]


def written_as_before_2026_12_06(monkeypatch):
    """As :func:`written_as_before_2026_12_07`, and no SHA-256 of the input files recorded (``input_sha256``, in the
    run file and the manifest): as dqsim wrote checkpoints before 2026-12-06 (evening)."""
    from dqsim.cli import main

    written_as_before_2026_12_07(monkeypatch)
    before = main._session

    def session_as_before(*args, **kwargs):
        session = before(*args, **kwargs)
        del session.meta["input_sha256"], session.identity["input_sha256"]
        return session

    monkeypatch.setattr(main, "_session", session_as_before)


def test_repro_a_resume_of_a_checkpoint_recording_no_input_sha256_says_its_files_are_unchecked(tmp_path, monkeypatch):
    """A checkpoint written before 2026-12-06 (evening) records no SHA-256 of the QASM file its job reads, so a
    resume cannot tell whether the file changed since: it read the file as it is now and said nothing, also where
    it had been edited (the resumed run then mixes both circuits). Now rank 0 says so in one note naming the file;
    the resume still runs (the same tables where the file is unchanged), and its own checkpoints record the file's
    SHA-256, so the next resume checks it (an edit after that is refused in one line)."""
    project_in(tmp_path)
    with monkeypatch.context() as patch:
        written_as_before_2026_12_06(patch)
        run_here(["run", *args(tmp_path), *SMALL, "--set", "checkpoint.keep=100", "--set",
                  "checkpoint.every_sim_s=0.0002"])
    first, *later = checkpoints(tmp_path / "ck")
    assert later, "one checkpoint only: the resume would write none"
    assert "input_sha256" not in io.open_run(first).attrs
    assert "input_sha256" not in checkpoint.manifest_body(first)
    alt = tmp_path / "circuits" / "alt.qasm"
    note = (f"dqsim: note: {first} records no SHA-256 of the files its job reads (written before 2026-12-06, "
            f"evening): {alt} read as it is now, unchecked; if one changed since the checkpoint was written, the "
            "resumed run mixes both contents (run the job again then)")
    done = run_here(["resume", str(first), "-o", str(tmp_path / "resumed.h5"), "--quiet"])
    assert note in done.stderr.splitlines(), done.stderr
    same_tables(io.open_run(tmp_path / "out.h5"), io.open_run(tmp_path / "resumed.h5"), ["counts", "shots"])
    newest = checkpoints(tmp_path / "ck")[-1]
    sha = hashlib.sha256(alt.read_bytes()).hexdigest()
    assert io.open_run(newest).attrs["input_sha256"] == {str(alt): sha}  # the resume's own: checked from now on
    edit(alt, 2.5)
    refused = run_here(["resume", str(newest), "-o", str(tmp_path / "again.h5"), "--quiet"], check=False)
    assert refused.returncode == 2 and "changed since the checkpoint was written" in refused.stderr, refused.stderr
