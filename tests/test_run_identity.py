"""A run's identity in its checkpoints and its output: run id, ``--set`` overrides, output, input files' hashes.

Before 2026-12-06 a checkpoint's manifest recorded the job's configuration hash and the dqsim version and commit,
but not which run wrote it nor where that run wrote its output, and the output's manifest recorded only its files:
``dqsim clean`` told a finished run's checkpoints from a later run's by modification times, and
``dqsim run --skip-finished`` skipped an output of another dqsim version or of an edited QASM file. Now every
checkpoint manifest and the output's manifest record the run's identity
(:data:`dqsim.io.manifest.RUN_IDENTITY_KEYS`), the run id drawn once at the run's start (on rank 0, sent to the
others) and kept by a resume. A small ``dqc`` job with a QASM circuit (4 shots) runs in this process.
"""

import hashlib
import json
import os
import re
import shutil

import pytest

import dqsim
from dqsim.engine import checkpoint
from dqsim.io import manifest, provenance
from mpi_helper import ROOT, run_here, run_mpi
from run_files import checkpoints

#: The dqc job with a QASM circuit, 4 shots, a checkpoint every ms of simulated time, kept once it finished.
SMALL = ["--quiet", "--set", "simulation.shots=4", "--set", "checkpoint.every_sim_s=0.001", "--set",
         "checkpoint.keep_when_done=true"]


def job_in(folder):
    """A copy of ``jobs/dqc_teleport_feedforward.toml`` and its QASM circuit in ``folder``: ``(job, qasm)``."""
    (folder / "circuits").mkdir(parents=True)
    qasm = folder / "circuits" / "teleport_feedforward.qasm"
    shutil.copy(ROOT / "jobs" / "circuits" / "teleport_feedforward.qasm", qasm)
    job = folder / "job.toml"
    shutil.copy(ROOT / "jobs" / "dqc_teleport_feedforward.toml", job)
    return job, qasm


def body_of(path):
    """The manifest body of a checkpoint's or an output's ``path`` (checked as dqsim reads it)."""
    if ".ckpt" in path.name:
        return manifest.read_manifest(checkpoint.manifest_path(path), kind=checkpoint.MANIFEST_KIND)
    return manifest.read_manifest(manifest.run_manifest_path(path), kind="run")


def test_repro_a_runs_checkpoints_and_output_record_its_identity_and_a_resume_keeps_its_run_id(tmp_path):
    job, qasm = job_in(tmp_path)
    ck, out = tmp_path / "ck", tmp_path / "out.h5"
    run_here(["run", str(job), "-o", str(out), *SMALL, "--set", f'checkpoint.directory="{ck}"'])
    written = checkpoints(ck)
    assert written, "the run wrote no checkpoint"
    output = body_of(out)
    run_id = output["run_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", run_id), output
    assert {body_of(path)["run_id"] for path in written} == {run_id}
    sha = hashlib.sha256(qasm.read_bytes()).hexdigest()
    for body in [output, body_of(written[-1])]:
        assert body["output"] == str(out) and body["input_sha256"] == {str(qasm): sha}, body
        assert body["overrides"] == [*SMALL[2::2], f'checkpoint.directory="{ck}"', f'run.output="{out}"'], body
        assert body["dqsim_version"] == dqsim.__version__ and body["dqsim_commit"] == provenance.code_commit()
        assert body["config_sha256"].startswith(written[-1].name.split(".")[1]), body
    resumed = tmp_path / "resumed.h5"
    run_here(["resume", str(written[-1]), "-o", str(resumed), "--quiet"])
    assert body_of(resumed)["run_id"] == run_id and body_of(resumed)["output"] == str(resumed)
    again = tmp_path / "again.h5"
    run_here(["run", str(job), "-o", str(again), *SMALL, "--set", f'checkpoint.directory="{tmp_path / "ck2"}"'])
    assert body_of(again)["run_id"] != run_id  # another run: another id
    assert {body_of(path)["run_id"] for path in checkpoints(tmp_path / "ck2")} == {body_of(again)["run_id"]}


def test_repro_skip_finished_runs_again_after_a_qasm_edit_or_another_dqsim_version(tmp_path, monkeypatch):
    """One note line each says why; an output written before its manifest recorded the input files (no
    ``input_sha256``) is still skipped."""
    job, qasm = job_in(tmp_path)
    out = tmp_path / "out.h5"
    args = ["run", str(job), "-o", str(out), "--quiet", "--set", "simulation.shots=4", "--skip-finished"]
    run_here(args)
    skipped = run_here(args).stderr.splitlines()
    assert len(skipped) == 1 and skipped[0].endswith("not running it again (--skip-finished)"), skipped
    qasm.write_text(qasm.read_text().replace("ry(1.1) q[0];", "ry(2.5) q[0];"))
    first = out.stat().st_mtime_ns
    rerun = run_here(args).stderr.splitlines()
    assert rerun == [f"dqsim: note: {qasm}, which the job reads, changed since {out} was written (SHA-256 differs): "
                     "running the job again (--skip-finished skips only this version's results of the job's files "
                     "as they are)"], rerun
    assert out.stat().st_mtime_ns != first and body_of(out)["input_sha256"] == {
        str(qasm): hashlib.sha256(qasm.read_bytes()).hexdigest()}
    monkeypatch.setattr(dqsim, "__version__", "0.1.0+next")
    rerun = run_here(args).stderr.splitlines()
    assert len(rerun) == 1 and rerun[0].startswith(f"dqsim: note: {out} was written by dqsim 0.1.0, this is dqsim "
                                                   "0.1.0+next: running the job again"), rerun
    older = manifest.run_manifest_path(out)  # as before 2026-12-06: no identity in the output's manifest
    document = json.loads(older.read_text())
    for key in ("run_id", "input_sha256", "overrides", "output", "config_sha256", "dqsim_version", "dqsim_commit"):
        document["body"].pop(key)
    files = document["body"].pop("files")
    manifest.write_manifest(older, document["body"], [], entries=files)
    qasm.write_text(qasm.read_text().replace("ry(2.5) q[0];", "ry(1.1) q[0];"))  # not compared: not recorded
    skipped = run_here(args).stderr.splitlines()
    assert len(skipped) == 1 and skipped[0].endswith("not running it again (--skip-finished)"), skipped


def test_every_rank_starts_a_run_with_the_run_id_its_files_record(tmp_path):
    """On 2 ranks: rank 0 draws the run id and sends it; each rank records what its run started with
    (tests/mpi_scripts/run_id_check.py), and the checkpoint and output manifests (rank 0's) hold the same."""
    job, _qasm = job_in(tmp_path)
    ck, out = tmp_path / "ck", tmp_path / "out.h5"
    done = run_mpi(2, ["tests/mpi_scripts/run_id_check.py", "run", str(job), "-o", str(out), *SMALL,
                       "--set", f'checkpoint.directory="{ck}"'], cwd=ROOT, timeout_s=180)
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said["status"] == 0 and len(said["run_ids"]) == 2, said
    (mine,), (theirs,) = said["run_ids"]
    assert mine == theirs == body_of(out)["run_id"], said
    assert {body_of(path)["run_id"] for path in checkpoints(ck)} == {mine}


def test_repro_a_moved_project_folder_is_still_finished_and_its_checkpoints_paired(tmp_path):
    """A project folder (job, QASM circuit, checkpoint folder, output) run once and moved elsewhere: before
    2026-12-07 ``--skip-finished`` took the QASM file at its new absolute path for a changed one and ran the job
    again, ``dqsim clean JOB`` found no checkpoint (the configuration hash holds the QASM file's absolute path) and
    ``dqsim clean --checkpoints`` kept them (their output's absolute path was gone). Now the manifests record the
    paths relative to the job's folder and to the checkpoint folder too."""
    before = tmp_path / "before"
    job_in(before)

    def args(folder):
        return [str(folder / "job.toml"), "-o", str(folder / "out.h5"), "--set", "simulation.shots=4", "--set",
                "checkpoint.every_sim_s=0.001", "--set", f'checkpoint.directory="{folder / "ck"}"']

    run_here(["run", *args(before), "--quiet", "--set", "checkpoint.keep_when_done=true"])
    recorded = body_of(before / "out.h5")
    qasm_sha = hashlib.sha256((before / "circuits" / "teleport_feedforward.qasm").read_bytes()).hexdigest()
    assert recorded["input_sha256_from_job"] == {"circuits/teleport_feedforward.qasm": qasm_sha}
    assert body_of(checkpoints(before / "ck")[-1])["output_from_checkpoints"] == os.path.join("..", "out.h5")
    moved = tmp_path / "elsewhere" / "project"
    moved.parent.mkdir()
    os.rename(before, moved)
    written = (moved / "out.h5").stat().st_mtime_ns
    skipped = run_here(["run", *args(moved), "--quiet", "--skip-finished"]).stderr.splitlines()
    assert len(skipped) == 1 and skipped[0].endswith("not running it again (--skip-finished)"), skipped
    assert (moved / "out.h5").stat().st_mtime_ns == written
    kept = checkpoints(moved / "ck")
    by_job = run_here(["clean", *args(moved), "--dry-run"]).stdout
    assert f"would remove 1 checkpoint in {moved / 'ck'}/" in by_job and \
        f"whose output {moved / 'out.h5'} is whole" in by_job, by_job
    by_folder = run_here(["clean", "--checkpoints", str(moved / "ck"), "--dry-run"]).stdout
    assert f"would remove 1 checkpoint in {moved / 'ck'}/" in by_folder and \
        f"whose output {moved / 'out.h5'} is whole" in by_folder, by_folder
    assert checkpoints(moved / "ck") == kept and len(kept) == 1  # --dry-run
    run_here(["clean", *args(moved)])
    assert checkpoints(moved / "ck") == []
    shown = run_here(["inspect", str(moved / "out.h5")]).stdout  # the run's identity, as its manifest records it
    assert "\nrun identity (its manifest)\n" in shown and re.search(rf"\n  run_id +{recorded['run_id']}\n", shown) \
        and re.search(r"\n  output_from_checkpoints +\.\./out\.h5\n", shown), shown
