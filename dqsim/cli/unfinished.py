"""An unfinished run's checkpoints of a job: nothing of them is lost by a hurried ``dqsim run`` (since 2026-12-07
(late night)).

Before, ``dqsim run`` of a job whose checkpoint folder held the checkpoints of an interrupted run (``kill -9``, a
node lost) started from the start with one ``dqsim: note:`` line and removed them at its first checkpoint, and
``dqsim resume JOB.toml`` (or a checkpoint's ``.slabNNNN.h5``) told the user to "run the job again", which did
that. Now:

- ``dqsim run`` refuses such a job in one line (status 2) naming the newest checkpoint and the two ways on:
  ``dqsim resume PATH``, or ``dqsim run --start-over`` (which starts from the start and removes them at its first
  checkpoint, as before); :func:`refusal_line`. A finished run's checkpoints (kept by
  ``[checkpoint].keep_when_done``) and another dqsim version's (moved aside, not removed) do not stop it.
- ``dqsim check`` names them in a ``# note:`` line (:func:`check_line`).
- ``dqsim resume`` given a checkpoint's slab file or manifest resumes that checkpoint, and given a job file names
  the job's newest checkpoint to pass (:func:`resume_target`).

"Unfinished" is what ``dqsim clean JOB`` keeps to resume from (:func:`dqsim.cli.clean.kept_to_resume`): no whole
output records the run's id.
"""

from __future__ import annotations

import re
from pathlib import Path

import dqsim
from dqsim import jobs
from dqsim.cli.clean import kept_to_resume
from dqsim.cli.finished import CheckpointNames, checkpoint_names
from dqsim.engine import checkpoint
from dqsim.errors import DqsimError

#: A file of a checkpoint other than its run file: ``STEM.slabNNNN.h5``, ``STEM.manifest.json`` (STEM:
#: ``PREFIX.ckptRRR-TTTT``), group 1 the stem.
_CHECKPOINT_PART = re.compile(r"^(.+\.ckpt\d{3,}-\d{20})\.(?:slab\d+\.h5|manifest\.json)$")


def is_unfinished(job, path: Path) -> bool:
    """Whether complete checkpoint ``path`` of ``job`` (in its ``[checkpoint].directory``) was written by a run that
    did not finish (:func:`dqsim.cli.clean.kept_to_resume`); reads manifests and the outputs they name."""
    directory = Path(job.checkpoint.directory)
    prefix = checkpoint.parse_checkpoint_name(path)["prefix"]
    stored = next((each for each in checkpoint.stored_checkpoints(directory, prefix)
                   if each.path.name == Path(path).name and each.path.parent == directory and each.complete), None)
    return stored is not None and kept_to_resume(job, stored)


def newest_of_job(job, names: CheckpointNames | None = None) -> Path | None:
    """The newest complete checkpoint of ``job`` in its folder written by this dqsim version (named by its prefix,
    else by its prefix before 2026-12-07), or ``None``; by names and manifests only (not verified)."""
    names = names or checkpoint_names(job)
    directory = Path(job.checkpoint.directory)
    for prefix in dict.fromkeys([names.prefix, names.former_prefix]):
        found = [path for path in checkpoint.tagged_checkpoints(directory, job.run.name).get(prefix, [])
                 if checkpoint.written_by(path) in (None, dqsim.__version__)]
        if found:
            return found[-1]
    return None


def refusal_line(directory, newest: Path) -> str:
    """``dqsim run``'s one line for a job whose folder holds its unfinished run's checkpoints (newest ``newest``)."""
    return (f"{directory} holds checkpoints of an unfinished run of this job (the newest: {newest}): continue it "
            f"with dqsim resume {newest}, or start over with dqsim run --start-over (which removes them at its "
            "first checkpoint)")


def check_line(job, names: CheckpointNames) -> str | None:
    """``dqsim check``'s note on the job's unfinished run's checkpoints, or ``None`` where there are none."""
    newest = newest_of_job(job, names)
    if newest is None or not is_unfinished(job, newest):
        return None
    return (f"note: {job.checkpoint.directory}/ holds checkpoints of an unfinished run of this job (the newest: "
            f"{newest}): dqsim resume {newest} continues it; dqsim run refuses to start over unless given "
            "--start-over")


def resume_target(path: str) -> tuple[str, str | None]:
    """What ``dqsim resume PATH`` resumes: ``(checkpoint, note)``; ``note`` is the line saying so where ``path`` is
    a file of a checkpoint other than its run file (a slab file, the manifest), else ``None``.

    Raises:
        DqsimError: ``path`` is a job file (``.toml``): one line naming its newest checkpoint to pass, or saying
            its folder holds none.
    """
    part = _CHECKPOINT_PART.match(Path(path).name)
    if part is not None:
        run_file = Path(path).with_name(part[1] + ".h5")
        if checkpoint.manifest_path(run_file).is_file() or run_file.is_file():
            return str(run_file), f"{path} is a file of checkpoint {run_file}: resuming that checkpoint"
    if Path(path).suffix.lower() == ".toml" and Path(path).is_file():
        raise DqsimError(_job_file_line(path))
    return path, None


def _job_file_line(path: str) -> str:
    """The one line for ``dqsim resume JOB.toml``: which checkpoint to pass."""
    head = f"{path}: a job file; dqsim resume takes a checkpoint"
    try:
        job = jobs.load_job(path, [])
        names = checkpoint_names(job)
    except DqsimError as exc:
        return f"{head} ({exc})"
    newest = newest_of_job(job, names)
    if newest is not None:
        return f"{head}: this job's newest is {newest} (dqsim resume {newest})"
    others = checkpoint.tagged_checkpoints(job.checkpoint.directory, job.run.name)
    if others:
        other = max((paths[-1] for paths in others.values()), key=lambda each: each.stat().st_mtime)
        return (f"{head}; {job.checkpoint.directory} holds none of this job as the file reads now "
                f"({names.prefix}), but holds [run].name '{job.run.name}' of another configuration (other --set "
                f"values, or the file edited since), the newest: {other} (dqsim resume {other})")
    return (f"{head}; {job.checkpoint.directory} holds none of this job ({names.prefix}.ckpt*): run it with "
            f"dqsim run {path}")
