"""Whether a job's output holds its finished results: ``dqsim clean`` and ``dqsim run --skip-finished`` ask it.

A run writes its output last, and the output's manifest after it
(:mod:`dqsim.io.manifest`); a run that starts removes the manifest of the
output it will replace (:func:`dqsim.io.prepare_output`). So an output that is
whole as its manifest lists it was written by the last run that started on it,
and that run finished. It is this job's when the job text and ``--set``
overrides it stores give this job's configuration hash
(:func:`dqsim.jobs.config_sha256`: what names the job's checkpoints, without
the output and ``[checkpoint]``), the stored text read with this job's folder
for relative paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dqsim import io, jobs
from dqsim.errors import DqsimError
from dqsim.io.manifest import run_manifest_path


@dataclass(frozen=True)
class OutputState:
    """What :func:`output_state` found.

    Attributes:
        finished: the output holds this job's finished results.
        words: a few words saying so, or why not (naming the output).
        written_s: when its manifest was written, s since the epoch (``None`` unless ``finished``).
    """

    finished: bool
    words: str
    written_s: float | None = None


def output_state(job) -> OutputState:
    """Whether ``job``'s output (``[run].output``, after ``-o``) holds its finished results (see the module).

    Reads the output's manifest, hashes the run file (not its state's slab files, checked by size:
    :func:`dqsim.io.whole_run_attrs`) and its stored job; writes nothing.
    """
    output = Path(job.run.output)
    if not output.exists():
        return OutputState(False, f"{output} does not exist")
    try:
        attrs = io.whole_run_attrs(output)
    except DqsimError as exc:
        return OutputState(False, f"{output} is not a finished run's output ({exc})")
    try:
        stored = jobs.load_job_text(str(attrs.get("job_text", "")), source=f"{output}: its job",
                                    base_dir=job.base_dir, path=job.path)
        overrides = [str(item) for item in attrs.get("overrides") or []]
        if overrides:
            stored = jobs.apply_overrides(stored, overrides)
        same = jobs.config_sha256(stored) == jobs.config_sha256(job)
    except DqsimError as exc:
        return OutputState(False, f"{output} holds a job this dqsim does not read ({exc})")
    if not same:
        return OutputState(False, f"{output} holds the results of another job or configuration "
                                  f"({attrs.get('job_name')!r}, {attrs.get('scenario')})")
    created = attrs.get("created_utc")
    when = f", written {created}" if isinstance(created, str) else ""
    written_s = run_manifest_path(output).stat().st_mtime
    return OutputState(True, f"{output} holds this job's finished results (whole as its manifest lists it{when})",
                       written_s)
