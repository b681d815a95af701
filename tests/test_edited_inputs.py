"""A file the job reads edited in place while checkpoints of the job exist (``dqsim.cli.edited``).

The edited QASM file gives the job a new checkpoint prefix. Before 2026-12-07 (morning) ``dqsim run`` and ``dqsim
check`` said nothing of the old checkpoints, and a requeued SLURM job started the edited job from the start. Now
both say so in one line (the file, the newest checkpoint, when it was written, where in the run), ``dqsim run``
starts afresh and leaves them, and ``dqsim run --stop-if-edited`` (``slurm/run_step.sh`` on a restart) stops in one
line where that run is unfinished. A small ``dqc`` job (4 shots) runs in this process.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from dqsim import jobs
from dqsim.cli import edited
from dqsim.cli.finished import checkpoint_names
from dqsim.errors import count_of
from mpi_helper import ROOT, child_env, run_here
from run_files import checkpoints
from test_moved_qasm_resume import SMALL, args, edit, project_in


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
