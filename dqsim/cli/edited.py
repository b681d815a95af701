"""Checkpoints of this job written when a file it reads had other contents: a QASM circuit edited in place.

A job's checkpoints are named by its configuration hash, which counts each file the job reads by its SHA-256
(:func:`dqsim.jobs.config_sha256`), so a file edited in place gives the job a new checkpoint prefix: ``dqsim run``
does not see the old checkpoints as this job's, and ``dqsim resume`` of one refuses it (the file changed). Before
2026-12-07 (morning) the run then started from the start without a word, and a requeued SLURM job
(``slurm/run_step.sh``, which looks for checkpoints by the new prefix) lost its progress silently.

:func:`edited_runs` finds them: in the job's checkpoint folder, the checkpoints named after the job's
``[run].name`` with another configuration tag whose manifest records, for every file the job reads now, a SHA-256
(by the file's absolute path, or its path relative to the job's folder: :func:`dqsim.cli.finished.recorded_sha256`)
with which this job's configuration hash (:func:`dqsim.jobs.config_sha256_with`) is the one the manifest records,
and at least one of those differs from the file's now. So the same job text, the same ``--set`` overrides and the
same dqsim defaults, with only a file's contents changed; another seed or ``--set`` is another job, as before.

Checkpoints named before 2026-12-07, when the configuration hash counted the file's path (the job's
``former_prefix``, :func:`dqsim.cli.finished.checkpoint_names`), keep their name when the file is edited in place:
those whose manifest records the job's former hash and another SHA-256 for a file it reads are named so too (since
2026-12-07 (later); before, a run from the start took them for its own earlier run's and removed them at its first
checkpoint). Manifests written before 2026-12-06 (evening) record no SHA-256: such checkpoints cannot be told
apart and are still taken for the job's own. Reads only the manifests of the job's checkpoints of other tags
(names first: :func:`dqsim.engine.checkpoint.tagged_checkpoints`), once per run's start, per ``dqsim check`` and
per ``dqsim clean JOB``.

What is done with them (:func:`note_line`, :func:`refusal_line`, the choice documented in docs/checkpoints.md,
"A job whose files or text changed"):

* ``dqsim run`` and ``dqsim check`` say so in one line (the file that changed, the newest checkpoint with when it
  was written, its engine run and simulated time) and the run starts from the start, leaving them: ``dqsim run``
  never resumes (its own checkpoints of the same inputs are not resumed either), and a user who edited the circuit
  on purpose asked for the edited job. No option is needed for that. Both look in the folder's ``dqsim-VERSION/``
  folders too (since 2026-12-07 (late afternoon); before, the checkpoint folder only), and the line names the
  folders that hold them and, for one of another dqsim version, that version as the one to resume it with.
* ``dqsim run --stop-if-edited`` (what ``slurm/run_step.sh`` passes to a requeued job) stops instead, status 2 and
  one line, where such a run is unfinished (its output does not hold a finished run of it, by run id): the job
  submitted was the one with the old contents, and starting it over would throw away its progress to compute
  another circuit. Restoring the file resumes it; removing those checkpoints lets the edited job start. Only the
  runs in the checkpoint folder itself stop it: one in a ``dqsim-VERSION/`` folder was set aside by a run of this
  version of the same tag, which went on from its own checkpoints (or finished), and this version cannot resume it.
* ``dqsim clean JOB`` lists them, each run's in one line saying why (``input FILE edited since``): those of a
  finished run go as any finished run's do; the others stay unless ``--edited`` (:mod:`dqsim.cli.clean`). It
  looks in the folder's ``dqsim-VERSION/`` folders too (another dqsim version's checkpoints, moved there; since
  2026-12-07 (afternoon): before, those stayed unseen, and those named before 2026-12-07 were taken for the job's
  own).
"""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import dqsim
from dqsim import jobs
from dqsim.cli.finished import CheckpointNames, recorded_sha256, whole_output_run_id
from dqsim.engine import checkpoint
from dqsim.errors import count_of
from dqsim.units import PS_PER_S


@dataclass(frozen=True)
class EditedRun:
    """The checkpoints of one configuration tag of this job in one folder written when a file it reads had other
    contents (a tag's in a ``dqsim-VERSION/`` folder are another run of it, :func:`edited_runs`).

    Attributes:
        newest: the newest of them (its run file, ``PREFIX.ckptRRR-TTTT.h5``).
        prefix: their prefix (``NAME.HHHHHHHH``).
        count: how many complete ones there are.
        changed: the file the job reads (its absolute path now) whose SHA-256 differs from the one recorded.
        written_s: when the newest was written (its manifest's modification time), s since the epoch.
        engine_run: the newest's engine run (from 0).
        window_end_ps: the newest's cut, simulated time in its engine run, ps.
        run_id: the run id the newest's manifest records (``None``: none).
        output: the output its run was to write, as the newest's manifest names it (else the job's).
        paths: the run files of all of them, oldest first (``newest`` last).
        version: the dqsim version the newest's manifest names (``None``: none).
    """

    newest: Path
    prefix: str
    count: int
    changed: str
    written_s: float
    engine_run: int
    window_end_ps: int
    run_id: str | None
    output: str
    paths: tuple[Path, ...]
    version: str | None = None

    def resume_words(self, directory: str | os.PathLike) -> str:
        """How to go on with this run from its newest checkpoint: ``dqsim resume NEWEST`` where it lies in the
        checkpoint folder ``directory`` and this dqsim version wrote it, else ``resume NEWEST with dqsim VERSION``
        (a ``dqsim-VERSION/`` folder's: another version's, which this one refuses)."""
        if self.in_folder(directory) and self.version == dqsim.__version__:
            return f"dqsim resume {self.newest}"
        return f"resume {self.newest} with {f'dqsim {self.version}' if self.version else 'an unknown dqsim version'}"

    def in_folder(self, directory: str | os.PathLike) -> bool:
        """Whether its checkpoints lie in the checkpoint folder ``directory`` itself (not a ``dqsim-VERSION/``
        folder of it)."""
        return self.newest.parent == Path(directory)

    def finished(self) -> bool:
        """Whether its run finished: its output is whole and records the same run id (checkpoints kept by
        ``keep_when_done``, no progress to lose). Reads the output's manifest: only ``--stop-if-edited`` asks."""
        return isinstance(self.run_id, str) and self.run_id == whole_output_run_id(self.output)


def edited_runs(job, directory: str | os.PathLike, names: CheckpointNames, *,
                set_aside: bool = False) -> list[EditedRun]:
    """The runs of ``job`` whose checkpoints in ``directory`` were written when a file it reads had other contents
    (see the module), newest first; ``[]`` where the job reads no file or there are none.

    Args:
        job: the job as it runs (``--set`` and ``-o`` applied).
        directory: its checkpoint folder (``[checkpoint].directory``).
        names: its checkpoints' names now (:func:`dqsim.cli.finished.checkpoint_names`): ``prefix`` is its own,
            ``former_prefix`` its own where the manifests record the files' contents now.
        set_aside: look in its ``dqsim-VERSION/`` folders too (another dqsim version's checkpoints, moved there:
            :func:`dqsim.engine.checkpoint.set_aside_folder`), each folder's of a tag one run apart (``dqsim
            clean JOB``, since 2026-12-07 (afternoon); a run's start and ``dqsim check``, since 2026-12-07 (late
            afternoon)); else the folder alone.

    Raises:
        ConfigError: a file the job reads cannot be read.
    """
    now = jobs.input_file_hashes(job)
    if not now:
        return []
    found, hashes = [], {}
    for prefix, paths in _tagged(directory, job.run.name, set_aside=set_aside):
        if prefix == names.prefix:
            continue
        edited = []
        for path in paths:
            body = checkpoint.manifest_body(path) or {}
            changed = _changed_file(job, body, now, names.former_config_sha256 if prefix == names.former_prefix
                                    else None, hashes)
            if changed is not None:
                edited.append((path, body, changed))
        if edited:
            newest, body, changed = edited[-1]
            named = checkpoint.parse_checkpoint_name(newest)
            try:
                written_s = checkpoint.manifest_path(newest).stat().st_mtime
            except OSError:  # removed meanwhile (another run's end): not there to name
                continue
            found.append(EditedRun(newest, prefix, len(edited), changed, written_s, named["engine_run"],
                                   named["window_end_ps"],
                                   body["run_id"] if isinstance(body.get("run_id"), str) else None,
                                   body.get("output") or job.run.output, tuple(path for path, _, _ in edited),
                                   body["dqsim_version"] if isinstance(body.get("dqsim_version"), str) else None))
    return sorted(found, key=lambda run: run.written_s, reverse=True)


def former_of_other_contents(found: list[EditedRun], directory: str | os.PathLike,
                             names: CheckpointNames) -> EditedRun | None:
    """The run of ``found`` (:func:`edited_runs` of ``directory``) named as before 2026-12-07 (``names.former_prefix``,
    the files' paths in the tag, which an edit keeps) that holds the newest complete checkpoint of that name in
    ``directory``; ``None``: there is none, or the newest records the files as they are now (or no SHA-256).

    ``dqsim check`` then prints that prefix otherwise, and ``slurm/run_step.sh``, which resumes a requeued job's
    newest checkpoint of it where it has none of the new name, runs the job with ``--stop-if-edited`` instead (since
    2026-12-07 (afternoon); before, it resumed the old contents' checkpoint, refused in one line: the file changed).
    """
    if names.former_prefix == names.prefix or not any(run.prefix == names.former_prefix for run in found):
        return None
    named = checkpoint.tagged_checkpoints(directory, names.former_prefix.rsplit(".", 1)[0]).get(names.former_prefix)
    if not named:
        return None
    return next((run for run in found if run.prefix == names.former_prefix and run.newest == named[-1]), None)


def _tagged(directory: str | os.PathLike, job_name: str, *, set_aside: bool) -> list[tuple[str, list[Path]]]:
    """``(prefix, run files along the run)`` of the complete checkpoints of the job named ``job_name`` in
    ``directory`` (:func:`dqsim.engine.checkpoint.tagged_checkpoints`), then in each of its ``dqsim-VERSION/``
    folders with ``set_aside``."""
    folders = [Path(directory), *(checkpoint.set_aside_folders(directory) if set_aside else [])]
    return [item for folder in folders for item in checkpoint.tagged_checkpoints(folder, job_name).items()]


def _changed_file(job, body: dict, now: dict[str, str], former_config: str | None, hashes: dict) -> str | None:
    """The file of ``now`` (SHA-256 by absolute path) whose SHA-256 a checkpoint manifest's ``body`` records
    otherwise, where that checkpoint is this job's written with those contents: its configuration hash the one
    ``job`` has with the recorded SHA-256 (:func:`dqsim.jobs.config_sha256_with`; kept in ``hashes``), or
    ``former_config`` for a checkpoint named as before 2026-12-07 (the job's hash then, which counted the files'
    paths). ``None``: it records the files as they are now, none for one of them, or is another job's."""
    then = _recorded_hashes(body, now, job.base_dir)
    if then is None or then == now:
        return None
    if former_config is None:
        key = tuple(sorted(then.items()))
        if key not in hashes:
            hashes[key] = jobs.config_sha256_with(job, then)
        former_config = hashes[key]
    if body.get("config_sha256") != former_config:
        return None
    return min(path for path in now if then[path] != now[path])


def _recorded_hashes(body: dict, now: dict[str, str], base_dir: str | os.PathLike) -> dict[str, str] | None:
    """The SHA-256 a checkpoint manifest's ``body`` records for each file of ``now`` (by absolute path, else by its
    path relative to the job's folder ``base_dir``: :func:`dqsim.cli.finished.recorded_sha256`); ``None`` where it
    records none for one of them."""
    then = {}
    for path in now:
        sha = next((each for each in recorded_sha256(path, body.get("input_sha256"), body.get("input_sha256_from_job"),
                                                     base_dir) if isinstance(each, str)), None)
        if sha is None:
            return None
        then[path] = sha
    return then


def _facts(found: list[EditedRun], directory: str | os.PathLike) -> str:
    """The words both lines share: where (the checkpoint folder ``directory``, or the ``dqsim-VERSION/`` folders
    of it that hold them), how many, which file, the newest checkpoint's when and where in the run."""
    newest = found[0]
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(newest.written_s))
    total = sum(run.count for run in found)
    folders = [str(directory) if folder == Path(directory) else str(folder)
               for folder in sorted({run.newest.parent for run in found}, key=lambda folder: folder != Path(directory))]
    where = f"{folders[0]} holds" if len(folders) == 1 else f"{', '.join(folders[:-1])} and {folders[-1]} hold"
    return (f"{where} {count_of(total, 'checkpoint')} of this job written when {newest.changed}, which it "
            f"reads, had other contents (SHA-256 differs; the newest, {newest.newest.name}, written {when}, at "
            f"{newest.window_end_ps / PS_PER_S:.6g} s of simulated time in engine run {newest.engine_run})")


def clean_command(job, flag: str = "--edited") -> str:
    """The ``dqsim clean JOB --edited`` command line that removes them (with the run's ``--set``, ``-o`` among them),
    quoted for a POSIX shell; ``flag``: ``--other-configs`` for :func:`other_configurations`'."""
    sets = [item for override in job.overrides for item in ("--set", override)]
    return shlex.join(["dqsim", "clean", str(job.path or "JOB"), *sets, flag])


def other_configurations(job, directory: str | os.PathLike, names: CheckpointNames,
                         edited: list[EditedRun]) -> dict[str, list[Path]]:
    """The complete checkpoints in ``directory`` of the job's ``[run].name`` under another configuration tag: not
    its own (``names.prefix``), not those named as before 2026-12-07 (``names.former_prefix``), not those of its
    files' other contents (``edited``, :func:`edited_runs`): the job (or its ``--set``) as it was, edited since, or
    another job of that name. A run does not resume them; ``dqsim clean JOB --other-configs`` removes them.

    Returns:
        prefix -> run files along its run (:func:`dqsim.engine.checkpoint.tagged_checkpoints`); ``{}``: none.
    """
    mine = {names.prefix, names.former_prefix, *(run.prefix for run in edited)}
    return {prefix: paths for prefix, paths in checkpoint.tagged_checkpoints(directory, job.run.name).items()
            if prefix not in mine}


def output_places(stored, directory: str | os.PathLike) -> list[str]:
    """Where the output of ``stored``'s run (:class:`dqsim.engine.checkpoint.StoredCheckpoint`) is: its path
    relative to the checkpoint folder (``directory``, then the checkpoint's own: a project folder moved or copied
    elsewhere), then its absolute path, as its manifest records them (none: ``[]``)."""
    places = []
    if stored.output_from_checkpoints is not None:
        places += [os.path.normpath(os.path.join(os.path.abspath(folder), stored.output_from_checkpoints))
                   for folder in (directory, stored.path.parent)]
    if stored.output is not None:
        places.append(stored.output)
    return list(dict.fromkeys(places))


def unfinished_configurations(others: dict[str, list[Path]], directory: str | os.PathLike) -> list[str]:
    """The prefixes of ``others`` (:func:`other_configurations`) whose run did not finish: no output of theirs
    (:func:`output_places`) is whole and records one of their run ids, so their checkpoints are that run's only
    way on (``dqsim resume``; review3 D7, 2026-12-07 (night)). Checkpoints without a run id count as unfinished."""
    paths = {path for run_files in others.values() for path in run_files}
    finished: set[str] = set()
    for stored in checkpoint.stored_checkpoints(directory):
        if stored.path not in paths or stored.run_id is None:
            continue
        if any(whole_output_run_id(where) == stored.run_id for where in output_places(stored, directory)):
            finished.add(checkpoint.parse_checkpoint_name(stored.path)["prefix"])
    return [prefix for prefix in others if prefix not in finished]


def other_configurations_line(others: dict[str, list[Path]], directory: str | os.PathLike, job) -> str:
    """The note of ``dqsim run`` and ``dqsim check`` (without ``dqsim: note:``) on :func:`other_configurations`:
    how many of those configurations' runs finished and how many did not (resumable: ``--other-configs`` keeps
    them unless ``--all`` is given too, since 2026-12-07 (night))."""
    total = sum(len(paths) for paths in others.values())
    newest = max((paths[-1] for paths in others.values()), key=lambda path: path.stat().st_mtime
                 if path.exists() else 0.0)
    unfinished = unfinished_configurations(others, directory)
    done = len(others) - len(unfinished)
    states = [count_of(done, "finished run")] if done else []
    if unfinished:
        states.append(f"{count_of(len(unfinished), 'unfinished run')} ({', '.join(unfinished)}: dqsim resume "
                      f"CHECKPOINT continues it; --other-configs keeps it)")
    if not unfinished:
        remove = f"to remove them: {clean_command(job, '--other-configs')}"
    elif done:
        remove = (f"to remove the finished runs': {clean_command(job, '--other-configs')} (add --all to remove the "
                  f"unfinished too)")
    else:
        remove = f"to remove them, ending that run: {clean_command(job, '--other-configs')} --all"
    return (f"{directory} holds {count_of(total, 'checkpoint')} of [run].name {job.run.name!r} from another "
            f"configuration ({', '.join(others)}: the job or its --set differ from this one's; the newest "
            f"{newest.name}), of {' and '.join(states)}; this job does not resume them; {remove}")


def note_line(found: list[EditedRun], directory: str | os.PathLike, job) -> str:
    """``dqsim run``'s note (without ``dqsim: note:``): the run starts from the start and leaves them."""
    return (f"{_facts(found, directory)}; this run starts from the start with the file as it is now and leaves "
            f"them (to continue that run instead, restore the file and {found[0].resume_words(directory)}; to "
            f"remove them: {clean_command(job)})")


def check_line(found: list[EditedRun], directory: str | os.PathLike, job) -> str:
    """``dqsim check``'s note (without ``note:``): a requeued job stops for those in ``directory`` itself
    (:func:`refusal_line`), not for those in its ``dqsim-VERSION/`` folders."""
    requeued = ("a requeued SLURM job (dqsim run --stop-if-edited) stops instead"
                if any(run.in_folder(directory) for run in found) else
                "so does a requeued SLURM job (dqsim run --stop-if-edited: another dqsim version's, set aside)")
    return (f"{_facts(found, directory)}; dqsim run starts from the start and leaves them, {requeued} (to continue "
            f"that run, restore the file and {found[0].resume_words(directory)}; to remove them: "
            f"{clean_command(job)})")


def refusal_line(found: list[EditedRun], directory: str | os.PathLike, job) -> str | None:
    """``dqsim run --stop-if-edited``'s error, where one of ``found`` is unfinished (:meth:`EditedRun.finished`);
    ``None``: none is. Those in a ``dqsim-VERSION/`` folder of ``directory`` do not count (see the module)."""
    unfinished = [run for run in found if run.in_folder(directory) and not run.finished()]
    if not unfinished:
        return None
    return (f"{_facts(unfinished, directory)}; not starting the edited job from the start (--stop-if-edited, as "
            f"slurm/run_step.sh passes to a requeued job): restore the file and dqsim resume {unfinished[0].newest} "
            f"(or requeue the job), or remove them ({clean_command(job)}) to run the edited job")
