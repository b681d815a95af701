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

``dqsim run --skip-finished`` runs the job again when the finished output is
stale (:attr:`OutputState.stale`): another dqsim version wrote it, or a file
the job reads (a QASM circuit) changed since (its SHA-256, which the output's
manifest records, differs; outputs written before 2026-12-06 record none and
are not compared), or a state slab file of the output (``save_state`` above
``max_gather_qubits``) differs from its manifest's digest
(:func:`damaged_slab`: every byte is read, each rank its share of the slab
files). ``dqsim clean`` pairs a run's checkpoints with its output
by the run id both record (:func:`run_identity`), and falls back on this
module's answer and modification times only for checkpoints without one.

A project folder moved or copied elsewhere (the job file, its QASM files,
the checkpoint folder and the output moved together) still matches: since
2026-12-07 a run's identity records, beside the absolute paths, the output
relative to the checkpoint folder (``output_from_checkpoints``), the
files the job reads relative to the job file's folder
(``input_sha256_from_job``) and the ``--set`` overrides with a
``circuit.qasm`` inside the job's folder relative to it
(``overrides_from_job``, :func:`dqsim.jobs.overrides_from_job`; also in the
output's attributes, which the stored job is read back with); a file the job reads matches a recorded one when
its SHA-256 is the same and either its absolute path or its path relative to
the job's folder is (:func:`changed_input`). Manifests written before then
have only the absolute paths, compared as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import dqsim
from dqsim import io, jobs
from dqsim.errors import DqsimError
from dqsim.io import manifest
from dqsim.cli.merge import NUM_TASKS_ATTR
from dqsim.engine import checkpoint
from dqsim.io.manifest import run_manifest_path


class CheckpointNames(NamedTuple):
    """How a job's checkpoints are named (:func:`checkpoint_names`).

    Attributes:
        config_sha256: the job's configuration hash (:func:`dqsim.jobs.config_sha256`).
        prefix: its checkpoints' prefix (:func:`dqsim.engine.checkpoint.checkpoint_prefix`).
        former_config_sha256: the hash as before 2026-12-07 (:func:`dqsim.jobs.config_sha256_by_path`).
        former_prefix: the prefix of its checkpoints written then (``prefix`` for a job that reads no file).
    """

    config_sha256: str
    prefix: str
    former_config_sha256: str
    former_prefix: str


def checkpoint_names(job) -> CheckpointNames:
    """The names of ``job``'s checkpoints, now and before 2026-12-07: what ``dqsim check`` prints, ``dqsim clean``
    looks for and a run (``slurm/run_step.sh``'s too) finds as an earlier run's.

    Raises:
        ConfigError: a file the job reads cannot be read.
    """
    config, former = jobs.config_sha256(job), jobs.config_sha256_by_path(job)
    return CheckpointNames(config, checkpoint.checkpoint_prefix(job.run.name, config), former,
                           checkpoint.checkpoint_prefix(job.run.name, former))


def run_identity(job, run_id: str, config_sha256: str | None = None, *,
                 checkpoint_directory: str | os.PathLike | None = None) -> dict:
    """The identity of a run of ``job`` (:data:`dqsim.io.manifest.RUN_IDENTITY_KEYS` but the dqsim version and
    commit, which the writer of each manifest adds on rank 0: git runs on one rank), recorded in its checkpoint
    manifests and its output's manifest.

    Args:
        job: the job as it runs (its ``--set`` and ``-o`` applied).
        run_id: the run's id (:func:`dqsim.engine.checkpoint.start_run_id`).
        config_sha256: its configuration hash (default: :func:`dqsim.jobs.config_sha256` of ``job``; a resume
            passes its checkpoint's).
        checkpoint_directory: the folder its checkpoints go to; ``output_from_checkpoints`` is the output's path
            relative to it (``None``: not recorded).

    Raises:
        ConfigError: a file the job reads cannot be read (:func:`dqsim.jobs.input_file_hashes`).
    """
    output = os.path.abspath(job.run.output)
    inputs = jobs.input_file_hashes(job)
    identity = {"run_id": run_id, "config_sha256": config_sha256 or jobs.config_sha256(job),
                "overrides": list(job.overrides), "overrides_from_job": jobs.overrides_from_job(job),
                "output": output, "input_sha256": inputs,
                "input_sha256_from_job": {os.path.relpath(path, job.base_dir): sha for path, sha in inputs.items()}}
    if checkpoint_directory is not None:
        identity["output_from_checkpoints"] = os.path.relpath(output, os.path.abspath(checkpoint_directory))
    return identity


def changed_input(recorded: dict, recorded_from_job: dict | None, now: dict, base_dir: str | os.PathLike) -> str | None:
    """A file the job reads now (``now``: SHA-256 by absolute path, :func:`dqsim.jobs.input_file_hashes`) that does
    not match what a manifest recorded, or one recorded that the job no longer reads; ``None``: all match.

    A file matches a recorded one of the same SHA-256 at its absolute path (``recorded``, ``input_sha256``) or at its
    path relative to the job's folder ``base_dir`` (``recorded_from_job``, ``input_sha256_from_job``; ``None`` in
    manifests written before 2026-12-07): a project folder moved elsewhere still matches.

    Examples:
        >>> changed_input({"/a/c.qasm": "1"}, {"c.qasm": "1"}, {"/b/c.qasm": "1"}, "/b")  # moved: matches
        >>> changed_input({"/a/c.qasm": "1"}, None, {"/b/c.qasm": "1"}, "/b")  # no relative paths recorded
        '/b/c.qasm'
        >>> changed_input({"/a/c.qasm": "1"}, {"c.qasm": "1"}, {"/b/c.qasm": "2"}, "/b")
        '/b/c.qasm'
    """
    for path, sha in sorted(now.items()):
        if sha not in recorded_sha256(path, recorded, recorded_from_job, base_dir):
            return path
    if len(recorded) != len(now):  # a recorded file the job no longer reads
        return sorted(set(recorded) - set(now) or recorded)[0]
    return None


def recorded_sha256(path: str, recorded, recorded_from_job, base_dir: str | os.PathLike) -> tuple:
    """The SHA-256 a manifest records for the file the job reads at ``path`` (absolute): by that path (``recorded``,
    ``input_sha256``) and by its path relative to the job's folder ``base_dir`` (``recorded_from_job``,
    ``input_sha256_from_job``, since 2026-12-07); ``None`` where it records none that way (or the record is no
    mapping). :func:`changed_input` and :mod:`dqsim.cli.edited` look files up so.

    Examples:
        >>> recorded_sha256("/b/c.qasm", {"/a/c.qasm": "1"}, {"c.qasm": "1"}, "/b")
        (None, '1')
    """
    by_path = recorded if isinstance(recorded, dict) else {}
    from_job = recorded_from_job if isinstance(recorded_from_job, dict) else {}
    return by_path.get(path), from_job.get(os.path.relpath(path, base_dir))


def damaged_slab(output: str | os.PathLike, rank: int = 0, num_ranks: int = 1) -> str | None:
    """Why one of this rank's share of the state slab files of the finished output ``output`` differs from the
    digests its manifest records, in one line; ``None``: they match (or there are none).

    The manifest lists the run file first, then the slab files; rank ``rank`` of ``num_ranks`` reads every byte
    of the slab files listed ``rank``-th, ``rank + num_ranks``-th, ... (with the run's own ranks, each its own
    slab, in parallel) and hashes them with the manifest's algorithm (:func:`dqsim.io.manifest.verify_files`;
    manifests of format 1: SHA-256 of the whole file). Cost: one read of the state; on the review VM (one core,
    page cache, load 2.5) XXH3-128 hashed 3.3 GiB/s and SHA-256 0.5 GiB/s (``docs/outputs.md``).
    ``dqsim run --skip-finished`` asks it once :func:`output_state` found the output finished (slab files there
    checked by size only), ``dqsim clean`` before it pairs checkpoints with a whole output, and a finished run
    before it removes its checkpoints (:func:`dqsim.cli.main._damaged_before_removal`, since 2026-12-07).
    """
    listed = run_manifest_path(output)
    try:
        body = manifest.read_manifest(listed, kind="run")
        manifest.verify_files(listed, body["files"][1:][rank::num_ranks])
    except DqsimError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class OutputState:
    """What :func:`output_state` found.

    Attributes:
        finished: the output holds this job's finished results (whole, of this job's configuration).
        words: a few words saying so, or why not (naming the output).
        written_s: when its manifest was written, s since the epoch (``None`` unless ``finished``).
        run_id: the run id its manifest records (``None``: not whole, or written before run ids).
        stale: why a finished output is not this dqsim's results of the job's files as they are now (another
            dqsim version, or an input file changed), in a few words; ``None``: it is, or nothing to compare.
    """

    finished: bool
    words: str
    written_s: float | None = None
    run_id: str | None = None
    stale: str | None = None


def whole_output_run_id(output: str | os.PathLike) -> str | None:
    """The run id that the manifest of ``output`` records when the output is whole as it lists it
    (:func:`dqsim.io.manifest.run_file_unfinished`, sizes only); ``None``: not whole, or written before run ids."""
    if manifest.run_file_unfinished(output) is not None:
        return None
    try:
        body = manifest.read_manifest(run_manifest_path(output), kind="run")
    except DqsimError:
        return None
    return body["run_id"] if isinstance(body.get("run_id"), str) else None


def output_state(job) -> OutputState:
    """Whether ``job``'s output (``[run].output``, after ``-o``) holds its finished results (see the module).

    Reads the output's manifest, hashes the run file (not its state's slab files, checked by size:
    :func:`dqsim.io.whole_run_attrs`; :func:`damaged_slab` reads them) and its stored job, and the files the job
    reads (for :attr:`OutputState.stale`); writes nothing. A merged file (``dqsim merge``) is not finished: no run
    wrote it.
    """
    output = Path(job.run.output)
    if not output.exists():
        return OutputState(False, f"{output} does not exist")
    try:
        attrs = io.whole_run_attrs(output)
        body = manifest.read_manifest(run_manifest_path(output), kind="run")
    except DqsimError as exc:
        return OutputState(False, f"{output} is not a finished run's output ({exc})")
    if isinstance(body.get("merged_from"), list) or NUM_TASKS_ATTR in attrs:  # dqsim merge's; before 2026-12-07: attrs
        return OutputState(False, f"{output} is a merged file (dqsim merge of {attrs.get(NUM_TASKS_ATTR)} run files), "
                                  "not a run's output")
    try:
        stored = jobs.load_job_text(str(attrs.get("job_text", "")), source=f"{output}: its job",
                                    base_dir=job.base_dir, path=job.path)
        from_job = attrs.get("overrides_from_job")  # since 2026-12-07: circuit.qasm relative to the job's folder
        overrides = [str(item) for item in (from_job if from_job is not None else attrs.get("overrides") or [])]
        if overrides:
            stored = jobs.apply_overrides(stored, overrides, paths_from_job=from_job is not None)
        same = jobs.config_sha256(stored) == jobs.config_sha256(job)
    except DqsimError as exc:
        return OutputState(False, f"{output} holds a job this dqsim does not read ({exc})")
    if not same:
        return OutputState(False, f"{output} holds the results of another job or configuration "
                                  f"({attrs.get('job_name')!r}, {attrs.get('scenario')})")
    created = attrs.get("created_utc")
    when = f", written {created}" if isinstance(created, str) else ""
    written_s = run_manifest_path(output).stat().st_mtime
    run_id = body["run_id"] if isinstance(body.get("run_id"), str) else None
    return OutputState(True, f"{output} holds this job's finished results (whole as its manifest lists it{when})",
                       written_s, run_id, _stale(job, output, attrs, body))


def _stale(job, output: Path, attrs: dict, body: dict) -> str | None:
    """Why ``output``, a finished output of ``job``, is not what this dqsim would compute from the job's files now
    (``attrs``: its root attributes; ``body``: its manifest's), or ``None``."""
    version = attrs.get("dqsim_version")
    if version != dqsim.__version__:
        return f"{output} was written by dqsim {version}, this is dqsim {dqsim.__version__}"
    recorded = body.get("input_sha256")
    if not isinstance(recorded, dict):  # written before 2026-12-06: nothing to compare
        return None
    try:
        now = jobs.input_file_hashes(job)
    except DqsimError as exc:
        return f"a file the job reads cannot be read ({exc})"
    changed = changed_input(recorded, body.get("input_sha256_from_job"), now, job.base_dir)
    if changed is not None:
        return f"{changed}, which the job reads, changed since {output} was written (SHA-256 differs)"
    return None
