"""Checkpoints of this job written when a file it reads had other contents: a QASM circuit edited in place.

A job's checkpoints are named by its configuration hash, which counts each file the job reads by its SHA-256
(:func:`dqsim.jobs.config_sha256`), so a file edited in place gives the job a new checkpoint prefix: ``dqsim run``
does not see the old checkpoints as this job's, and ``dqsim resume`` of one refuses it (the file changed). Before
2026-12-07 (morning) the run then started from the start without a word, and a requeued SLURM job
(``slurm/run_step.sh``, which looks for checkpoints by the new prefix) lost its progress silently.

:func:`edited_runs` finds them: in the job's checkpoint folder, the checkpoints named after the job's
``[run].name`` with another configuration tag whose manifest records, for every file the job reads now, a SHA-256
(by the file's absolute path, or its path relative to the job's folder) with which this job's configuration hash
(:func:`dqsim.jobs.config_sha256_with`) is the one the manifest records, and at least one of those differs from the
file's now. So the same job text, the same ``--set`` overrides and the same dqsim defaults, with only a file's
contents changed; another seed or ``--set`` is another job, as before. Reads only the manifests of those
checkpoints (names first), once per run's start and per ``dqsim check``.

What is done with them (:func:`note_line`, :func:`refusal_line`, the choice documented in the README's
"Checkpoints"):

* ``dqsim run`` and ``dqsim check`` say so in one line (the file that changed, the newest checkpoint with when it
  was written, its engine run and simulated time) and the run starts from the start, leaving them: ``dqsim run``
  never resumes (its own checkpoints of the same inputs are not resumed either), and a user who edited the circuit
  on purpose asked for the edited job. No option is needed for that.
* ``dqsim run --stop-if-edited`` (what ``slurm/run_step.sh`` passes to a requeued job) stops instead, status 2 and
  one line, where such a run is unfinished (its output does not hold a finished run of it, by run id): the job
  submitted was the one with the old contents, and starting it over would throw away its progress to compute
  another circuit. Restoring the file resumes it; removing those checkpoints lets the edited job start.
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass
from pathlib import Path

from dqsim import jobs
from dqsim.cli.finished import CheckpointNames, whole_output_run_id
from dqsim.engine import checkpoint
from dqsim.errors import count_of
from dqsim.units import PS_PER_S


@dataclass(frozen=True)
class EditedRun:
    """The checkpoints of one configuration tag of this job written when a file it reads had other contents.

    Attributes:
        newest: the newest of them (its run file, ``PREFIX.ckptRRR-TTTT.h5``).
        prefix: their prefix (``NAME.HHHHHHHH``).
        count: how many complete ones there are.
        changed: the file the job reads (its absolute path now) whose SHA-256 differs from the one recorded.
        written_s: when the newest was written (its manifest's modification time), s since the epoch.
        engine_run: the newest's engine run (from 0).
        window_end_ps: the newest's cut, simulated time in its engine run, ps.
        finished: its run finished: its output is whole and records the same run id (checkpoints kept by
            ``keep_when_done``, no progress to lose).
    """

    newest: Path
    prefix: str
    count: int
    changed: str
    written_s: float
    engine_run: int
    window_end_ps: int
    finished: bool


def edited_runs(job, directory: str | os.PathLike, names: CheckpointNames) -> list[EditedRun]:
    """The runs of ``job`` whose checkpoints in ``directory`` were written when a file it reads had other contents
    (see the module), newest first; ``[]`` where the job reads no file or there are none.

    Args:
        job: the job as it runs (``--set`` and ``-o`` applied).
        directory: its checkpoint folder (``[checkpoint].directory``).
        names: its checkpoints' names now (:func:`dqsim.cli.finished.checkpoint_names`): those prefixes are its own.

    Raises:
        ConfigError: a file the job reads cannot be read.
    """
    now = jobs.input_file_hashes(job)
    if not now or not Path(directory).is_dir():
        return []
    found = []
    for prefix, newest, count in _other_tags(job.run.name, directory, {names.prefix, names.former_prefix}):
        body = checkpoint.manifest_body(newest) or {}
        then = _recorded_hashes(body, now, job.base_dir)
        if then is None or then == now or jobs.config_sha256_with(job, then) != body.get("config_sha256"):
            continue
        named = checkpoint.parse_checkpoint_name(newest)
        run_id = body.get("run_id")
        finished = isinstance(run_id, str) and run_id == whole_output_run_id(body.get("output") or job.run.output)
        found.append(EditedRun(newest, prefix, count, min(path for path in now if then[path] != now[path]),
                               checkpoint.manifest_path(newest).stat().st_mtime, named["engine_run"],
                               named["window_end_ps"], finished))
    return sorted(found, key=lambda run: run.written_s, reverse=True)


def _other_tags(name: str, directory: str | os.PathLike, own: set[str]) -> list[tuple[str, Path, int]]:
    """``(prefix, newest, count)`` of each configuration tag of the job named ``name`` in ``directory`` but its
    ``own`` prefixes, complete checkpoints only (with a manifest), by their names."""
    by_prefix: dict[str, list[tuple[tuple[int, int], Path]]] = {}
    for listed in Path(directory).glob(glob.escape(name) + ".*.ckpt*.manifest.json"):
        path = listed.with_name(listed.name[:-len(".manifest.json")] + ".h5")
        named = checkpoint.parse_checkpoint_name(path)
        if named is None or named["job_name"] != name or named["config"] is None or named["prefix"] in own:
            continue
        by_prefix.setdefault(named["prefix"], []).append(((named["engine_run"], named["window_end_ps"]), path))
    return [(prefix, max(cuts)[1], len(cuts)) for prefix, cuts in sorted(by_prefix.items())]


def _recorded_hashes(body: dict, now: dict[str, str], base_dir: str | os.PathLike) -> dict[str, str] | None:
    """The SHA-256 a checkpoint manifest's ``body`` records for each file of ``now`` (by absolute path, else by its
    path relative to the job's folder ``base_dir``); ``None`` where it records none for one of them."""
    by_path = body.get("input_sha256")
    by_path = by_path if isinstance(by_path, dict) else {}
    from_job = body.get("input_sha256_from_job")
    from_job = from_job if isinstance(from_job, dict) else {}
    then = {}
    for path in now:
        sha = by_path.get(path) or from_job.get(os.path.relpath(path, base_dir))
        if not isinstance(sha, str):
            return None
        then[path] = sha
    return then


def _facts(found: list[EditedRun], directory: str | os.PathLike) -> str:
    """The words both lines share: where, how many, which file, the newest checkpoint's when and where in the run."""
    newest = found[0]
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(newest.written_s))
    total = sum(run.count for run in found)
    return (f"{directory} holds {count_of(total, 'checkpoint')} of this job written when {newest.changed}, which it "
            f"reads, had other contents (SHA-256 differs; the newest, {newest.newest.name}, written {when}, at "
            f"{newest.window_end_ps / PS_PER_S:.6g} s of simulated time in engine run {newest.engine_run})")


def _removal(found: list[EditedRun], directory: str | os.PathLike) -> str:
    """How to remove them: one ``rm`` pattern per prefix."""
    return " ".join(f"rm {os.path.join(directory, glob.escape(run.prefix))}.ckpt*" for run in found)


def note_line(found: list[EditedRun], directory: str | os.PathLike) -> str:
    """``dqsim run``'s note (without ``dqsim: note:``): the run starts from the start and leaves them."""
    return (f"{_facts(found, directory)}; this run starts from the start with the file as it is now and leaves "
            f"them (to continue that run instead, restore the file and dqsim resume {found[0].newest}; to remove "
            f"them: {_removal(found, directory)})")


def check_line(found: list[EditedRun], directory: str | os.PathLike) -> str:
    """``dqsim check``'s note (without ``note:``)."""
    return (f"{_facts(found, directory)}; dqsim run starts from the start and leaves them, a requeued SLURM job "
            f"(dqsim run --stop-if-edited) stops instead (to continue that run, restore the file and dqsim resume "
            f"{found[0].newest})")


def refusal_line(found: list[EditedRun], directory: str | os.PathLike) -> str | None:
    """``dqsim run --stop-if-edited``'s error, where one of ``found`` is unfinished; ``None``: none is."""
    unfinished = [run for run in found if not run.finished]
    if not unfinished:
        return None
    return (f"{_facts(unfinished, directory)}; not starting the edited job from the start (--stop-if-edited, as "
            f"slurm/run_step.sh passes to a requeued job): restore the file and dqsim resume {unfinished[0].newest} "
            f"(or requeue the job), or remove them ({_removal(unfinished, directory)}) to run the edited job")
