"""``dqsim clean JOB`` / ``dqsim clean --checkpoints DIR``: remove the checkpoints that finished runs left.

Since 2026-12-06 a finished run removes the checkpoints it wrote
(:func:`dqsim.engine.checkpoint.remove_when_done`); runs before then, and runs
with ``[checkpoint].keep_when_done = true``, left their last ``keep`` in the
folder, a state's size each. Since 2026-12-06 too every checkpoint manifest
records its run's identity (:func:`dqsim.cli.finished.run_identity`: a random
run id drawn at the run's start, the output file, the ``--set`` overrides),
and so does the output's manifest. ``dqsim clean`` looks at

* with ``JOB`` (and the ``--set`` the run had): the job's checkpoints (its
  ``[run].name`` and configuration hash:
  :func:`dqsim.engine.checkpoint.stored_checkpoints`) in
  ``[checkpoint].directory`` and its ``dqsim-VERSION/`` folders (another
  version's, set aside), of any run;
* with ``--checkpoints DIR``: every job's checkpoints in ``DIR`` and its
  ``dqsim-VERSION/`` folders, job by job, each job's under its lock.

A checkpoint goes when its run finished: an output that one of the run's
checkpoints names (a resumed run's checkpoints name the resume's ``-o``) or,
with ``JOB``, the job's output is whole as its manifest lists it and records
the run's id; then the run's checkpoints are of no more use (any dqsim
version's). A checkpoint's output is looked for first at the path relative to
the checkpoint folder that its manifest records (since 2026-12-07), then at
its absolute path, so a project folder moved elsewhere still pairs; with
``JOB`` the run's checkpoints under another configuration tag (a QASM file's
absolute path, part of the configuration hash, changes with the move) are
found by the run id too. A merged file (``dqsim merge``) records no run id:
no checkpoint is paired with it. The others stay: a
later or stopped run's (another run id), or a run whose output is not whole
(``dqsim resume`` goes on from the newest). ``--all`` removes those too.
An output counts as whole only once every byte of its state slab files
matches its manifest (:func:`dqsim.cli.finished.damaged_slab`, read here in
this one process, since 2026-12-07; before, by their size): the checkpoints of
a run whose output was damaged in place stay, with the damage in their line,
since a resume of the newest is then the one way back to the run's state.
Checkpoints written before run ids record no output: with ``JOB`` they are
paired with the job's output (``[run].output``, after ``-o``; whole, of this
job's configuration: :mod:`dqsim.cli.finished`) by modification times (those
written before the output go), and their line says so; with ``--checkpoints``
they stay. Incomplete checkpoints (no manifest: a write that was killed, never
resumable) always go, as the job's next run would remove them. Nothing of a
job is removed while another run of it holds the folder's lock (with ``JOB``:
one line, exit 2; with ``--checkpoints``: that job is skipped, one line);
``dqsim clean`` holds it while it removes, each checkpoint manifest first.
A run resuming a checkpoint takes that lock in the checkpoint's own folder
(a ``dqsim-VERSION/`` one too): since 2026-12-07 (afternoon) the checkpoints
in such a folder whose lock another run holds there are left too (one line
with ``--checkpoints``), and ``dqsim clean`` holds that lock as well.
``--dry-run`` says what would go and removes nothing.

With ``JOB``, the job's checkpoints written when a file it reads (a QASM circuit) had other contents
(:func:`dqsim.cli.edited.edited_runs`: another configuration tag, or the tag before 2026-12-07 with another SHA-256
recorded; in the folder and, since 2026-12-07 (afternoon), in its ``dqsim-VERSION/`` folders) are listed too, each
run's in a line saying ``input FILE edited since`` (since 2026-12-07 (later); before, ``dqsim clean JOB`` did not
see them and the note of ``dqsim run`` said to ``rm`` them). Those of a run whose output is whole and records its
run id go, as any finished run's; the others stay (restoring the file resumes them) unless ``--edited``, which
removes them, finished or not. ``--edited`` never removes a checkpoint of the files as they are now (the job's own
tag: ``--all`` does, for an unfinished run), and ``--all`` alone leaves the other contents' ones. A tag of them
whose lock another run holds (a resume of the old contents, the file restored), in the folder or in the
``dqsim-VERSION/`` folder holding them, is left out, and with ``--edited`` refused in one line naming that folder
(exit 2), nothing removed, as for the job's own lock. ``--edited`` belongs to ``JOB``:
``--checkpoints DIR`` knows no job's files.

With ``JOB``, the checkpoints of its ``[run].name`` under another configuration tag (the job or its ``--set`` edited
since they were written, or another job of that name; :func:`dqsim.cli.edited.other_configurations`, which ``dqsim
run`` and ``dqsim check`` name in a note) are listed as kept, and ``--other-configs`` removes those of finished runs,
with ``--all`` also those of unfinished ones (since 2026-12-07 (night); before, it removed a resumable run's without
saying so), but those whose tag's lock another run holds (since 2026-12-07 (late afternoon); before, ``dqsim clean
JOB`` did not see them).
"""

from __future__ import annotations

import glob
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Callable

import dqsim
from dqsim import io, jobs
from dqsim.cli import edited, print_error
from dqsim.cli.finished import (CheckpointNames, OutputState, checkpoint_names, damaged_slab, output_state,
                                 whole_output_run_id)
from dqsim.engine import checkpoint
from dqsim.errors import DqsimError, count_of
from dqsim.io.manifest import sync_folder
from dqsim.units import size_words

#: Exit status for bad input, and for a folder whose lock another run holds (as ``dqsim run``).
EXIT_BAD_INPUT = 2

#: Hex digits of a run id named in ``dqsim clean``'s lines.
RUN_ID_SHOWN = 8


def cmd_clean(args) -> int:
    """``dqsim clean JOB [--set ...] [-o OUTPUT] [--dry-run] [--all] [--edited]`` or ``dqsim clean --checkpoints DIR
    [--dry-run] [--all]``."""
    try:
        if (args.job is None) == (args.checkpoints is None):
            raise DqsimError("dqsim clean: give a job file (JOB) or a checkpoint folder (--checkpoints DIR), "
                             "one of the two")
        if args.checkpoints is not None:
            if args.set or args.output:
                raise DqsimError("dqsim clean --checkpoints: --set and -o belong to a job (dqsim clean JOB); "
                                 "each checkpoint names its own output")
            if getattr(args, "other_configs", False):
                raise DqsimError("dqsim clean --checkpoints: --other-configs belongs to a job (dqsim clean JOB "
                                 "--other-configs): its [run].name and configuration tell which are another's; "
                                 "--all removes every checkpoint in the folder")
            if args.edited:
                raise DqsimError("dqsim clean --checkpoints: --edited belongs to a job (dqsim clean JOB --edited): "
                                 "the files a job reads tell which checkpoints were written when they had other "
                                 "contents")
            lines = clean_folder(Path(args.checkpoints), dry_run=args.dry_run, everything=args.all)
        else:
            overrides = list(args.set) + ([f"run.output={json.dumps(args.output)}"] if args.output else [])
            job = jobs.load_job(args.job, overrides)
            lines = clean_job(job, dry_run=args.dry_run, everything=args.all, edited_too=args.edited,
                              other_configs=getattr(args, "other_configs", False))
    except DqsimError as exc:
        for problem in getattr(exc, "problems", None) or [str(exc)]:  # a job file's problems, all of them
            print_error(problem)
        return EXIT_BAD_INPUT
    print("\n".join(lines), flush=True)
    return 0


def clean_job(job, *, dry_run: bool = False, everything: bool = False, edited_too: bool = False,
              other_configs: bool = False) -> list[str]:
    """Remove (``dry_run``: only name) the checkpoints of ``job`` that its finished runs left (see the module);
    ``everything``: all of the job's of its files as they are now; ``edited_too``: all of those written when a file
    it reads had other contents; ``other_configs``: all of its ``[run].name``'s under another configuration
    (:func:`_other_configuration_groups`; without it they are listed as kept).
    Returns the lines to print: a head, the job's output's state, one line per group
    (folder, dqsim version, why) and a summary with sizes.

    Raises:
        DqsimError: one line: another run of the job holds the folder's lock (with ``edited_too``: or the lock of
            its checkpoints of a file's other contents), or it cannot be taken.
    """
    directory = Path(job.checkpoint.directory)
    names = checkpoint_names(job)
    prefix = names.prefix
    head = f"dqsim clean {job.run.name} ({job.scenario}): checkpoints {prefix}.ckpt* in {directory}/"
    if not directory.is_dir():
        return [head, "  no such folder: nothing to remove"]
    locks = _Locks(dry_run=dry_run)
    holder = locks.holder(directory, prefix)
    if holder is not None:
        raise DqsimError(f"{directory}: another dqsim run of this job ({prefix}) is using its checkpoints there "
                         f"({holder}); nothing removed: run dqsim clean once it has ended")
    try:
        runs = _edited_runs(job, directory, names, locks, edited_too=edited_too)
        edited_at = {path: run for run in runs for path in run.paths}
        state = output_state(job)
        every = checkpoint.stored_checkpoints(directory)  # the folder's manifests, read once
        stored = _by_prefix(every)
        found = _of_job(stored, prefix, names.config_sha256) + _named_before(directory, stored, names,
                                                                            {run.prefix for run in runs})
        found += [each for each in _moved_run(directory, every, job.run.name, prefix, state) if each not in found]
        found = [each for each in found if each.path not in edited_at]  # before 2026-12-07's name, other contents
        found = [each for each in found if locks.free_where_written(each.path, directory)]
        olds = [each for each in every if each.path in edited_at]
        judge = _Judge(directory, state, found + olds, os.path.abspath(job.run.output))
        state = judge.state  # not finished where a slab file of the output is damaged
        groups = _groups(found, judge, directory, everything=everything)
        groups.update(_edited_groups(olds, edited_at, judge.finished, directory, remove=edited_too))
        taken = {prefix, names.former_prefix, *(run.prefix for run in runs)}
        groups.update(_other_configuration_groups(every, job.run.name, taken, found + olds, locks, directory,
                                                  remove=other_configs, everything=everything))
        if not groups:
            return [head, f"  output: {state.words}", "  no checkpoint of this job there: nothing to remove"]
        left = []
        if not dry_run:
            left = _remove([stored for (_, remove, _), members in groups.items() if remove for stored in members],
                           directory, locks)
    finally:
        locks.release()
    return [head, f"  output: {state.words}", *_lines(groups, dry_run=dry_run), *_failed(left)]


def kept_to_resume(job, stored) -> bool:
    """Whether ``dqsim clean JOB`` keeps ``job``'s complete checkpoint ``stored`` (a
    :class:`dqsim.engine.checkpoint.StoredCheckpoint` in the job's folder) to resume from: its run did not finish (no
    whole output records its run id; see :class:`_Judge`). ``dqsim run`` refuses to start over from such a run
    (:mod:`dqsim.cli.unfinished`)."""
    judge = _Judge(Path(job.checkpoint.directory), output_state(job), [stored], os.path.abspath(job.run.output))
    return judge(stored)[2]


def _edited_runs(job, directory: Path, names: CheckpointNames, locks: "_Locks", *, edited_too: bool) -> list:
    """The runs of ``job`` whose checkpoints in ``directory`` or its ``dqsim-VERSION/`` folders were written when a
    file it reads had other contents (:func:`dqsim.cli.edited.edited_runs`) but those of a tag whose lock another
    run holds, in ``directory`` or in the folder holding them (:meth:`_Locks.holder`: a run resuming one takes it
    there), the locks taken in ``locks``.

    Raises:
        DqsimError: one line: with ``edited_too``, another run holds the lock of one of those tags.
    """
    kept = []
    for run in edited.edited_runs(job, directory, names, set_aside=True):
        for folder in dict.fromkeys((directory, run.newest.parent)):
            holder = locks.holder(folder, run.prefix)
            if holder is not None:
                break
        if holder is not None and edited_too:
            raise DqsimError(f"{folder}: another dqsim run of this job ({run.prefix}, written when "
                             f"{run.changed} had other contents) is using its checkpoints there ({holder}); "
                             "nothing removed: run dqsim clean --edited once it has ended")
        if holder is None:
            kept.append(run)
    return kept


class _Locks:
    """The locks of checkpoint tags in their folders that ``dqsim clean JOB`` holds while it removes: each folder's
    and tag's asked once, taken where free (not for ``dry_run``), given back by :meth:`release`. A run takes its
    tag's lock in the folder it writes its checkpoints to: ``[checkpoint].directory``, or the folder of the
    checkpoint it resumed, a ``dqsim-VERSION/`` one too (:func:`dqsim.cli.main._session`)."""

    def __init__(self, *, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.taken: dict[tuple[Path, str], tuple] = {}
        self.holders: dict[tuple[Path, str], str | None] = {}

    def holder(self, folder: Path, prefix: str) -> str | None:
        """Who else holds the lock of ``prefix``'s checkpoints in ``folder`` (``None``: nobody; then taken here).

        Raises:
            DqsimError: one line: the lock cannot be taken (the folder's permissions).
        """
        key = (Path(folder), prefix)
        if key not in self.holders:
            holder, lock = _lock(key[0], prefix, dry_run=self.dry_run)
            if lock is not None:
                self.taken[key] = lock
            self.holders[key] = holder
        return self.holders[key]

    def free_where_written(self, path: Path, directory: Path) -> bool:
        """Whether no other run holds the lock of checkpoint ``path``'s tag in its own folder, where that is a
        ``dqsim-VERSION/`` folder of ``directory`` (those in ``directory`` its caller asks about itself)."""
        if path.parent == directory:
            return True
        return self.holder(path.parent, checkpoint.parse_checkpoint_name(path)["prefix"]) is None

    def release(self, folder: Path | None = None) -> None:
        """Give back the locks taken here in ``folder`` (``None``: every one)."""
        for key in [key for key in self.taken if folder is None or key[0] == folder]:
            checkpoint.release_lock(self.taken.pop(key))


def _edited_groups(olds: list, edited_at: dict, finished: dict[str, str], directory: Path, *,
                   remove: bool) -> dict:
    """The checkpoints ``olds`` (:func:`dqsim.engine.checkpoint.stored_checkpoints`'s, of the runs ``edited_at``
    gives by run file: :class:`dqsim.cli.edited.EditedRun`) by ``(folder, removed, why)``: those of a run whose
    output is whole and records its id (``finished``: run id -> that output, :attr:`_Judge.finished`) go, the
    others with ``remove`` (``--edited``)."""
    groups: dict[tuple[Path, bool, str], list] = defaultdict(list)
    for stored in olds:
        run = edited_at[stored.path]
        version = f"dqsim {stored.version}" if stored.version else "an unknown dqsim version"
        which = f"run {stored.run_id[:RUN_ID_SHOWN]}" if stored.run_id else "a run"
        edit = f"input {run.changed} edited since (its SHA-256 differs from the one they record)"
        if stored.run_id in finished:
            why, gone = f"of {version}, of {which}, whose output {finished[stored.run_id]} is whole; {edit}", True
        elif remove:
            why, gone = f"of {version}, of {which}, not finished: {edit} (--edited)", True
        else:
            why, gone = (f"of {version}, of {which}, not finished: {edit}; to go on with that run, restore the file "
                         f"and {run.resume_words(directory)}; --edited removes them"), False
        groups[(stored.path.parent, gone, why)].append(stored)
    return groups


def _other_configuration_groups(every: list, job_name: str, taken: set[str], seen: list, locks: "_Locks",
                                directory: Path, *, remove: bool, everything: bool = False) -> dict:
    """The checkpoints in ``every`` (:func:`dqsim.engine.checkpoint.stored_checkpoints`) of ``job_name`` under a
    configuration tag not in ``taken`` (the job's own, its former name's, its files' other contents') and not
    ``seen`` already: the job (or its ``--set``) as it was before an edit, or another job of that name. Those of a
    tag whose lock another run holds where they are are left out. By ``(folder, removed, why)``: those of a run
    whose output is whole and records its id (:class:`_Judge`) removed with ``remove`` (``--other-configs``), those
    of an unfinished run (a resume's only way on) only with ``everything`` too (``--all``; since 2026-12-07 (night):
    before, ``--other-configs`` removed them without saying so, review3 D7), else kept and named (before
    2026-12-07 (late afternoon) ``dqsim clean JOB`` said "no checkpoint of this job there" beside them)."""
    groups: dict = defaultdict(list)
    seen_paths = {each.path for each in seen}
    others = []
    for stored in every:
        named = checkpoint.parse_checkpoint_name(stored.path)
        if (named["job_name"] != job_name or named["config"] is None or named["prefix"] in taken
                or stored.path in seen_paths or locks.holder(stored.path.parent, named["prefix"]) is not None):
            continue
        others.append((stored, named["prefix"]))
    judge = _Judge(directory, None, [stored for stored, _ in others])
    newest = {prefix: stored.path for stored, prefix in others if stored.complete}
    for stored, prefix in others:
        why = (f"of [run].name {job_name!r} under another configuration ({prefix}: the job or its --set "
               f"differ from this one's)")
        if stored.run_id in judge.finished:
            why, gone = f"{why}, of a finished run (its output {judge.finished[stored.run_id]} is whole)", remove
            why += "; --other-configs" if gone else "; --other-configs removes them"
        else:
            gone = remove and everything
            resume = f"dqsim resume {newest[prefix]} goes on from it" if prefix in newest else "none complete"
            why = f"{why}, of an unfinished run ({resume})"
            why += "; --other-configs --all" if gone else "; --other-configs --all removes them"
        groups[(stored.path.parent, gone, why)].append(stored)
    return dict(groups)


def _by_prefix(stored: list) -> dict[str, list]:
    """The checkpoints ``stored`` (:func:`dqsim.engine.checkpoint.stored_checkpoints`, of every job) by the prefix
    their names carry (:func:`dqsim.engine.checkpoint.parse_checkpoint_name`), each job's in their order."""
    by_prefix: dict[str, list] = defaultdict(list)
    for each in stored:
        by_prefix[checkpoint.parse_checkpoint_name(each.path)["prefix"]].append(each)
    return by_prefix


def _of_job(stored: dict[str, list], prefix: str, config: str) -> list:
    """The checkpoints of ``prefix`` in ``stored`` (:func:`_by_prefix`) whose manifest records the configuration hash
    ``config`` or none: not another job's whose configuration hash starts alike."""
    return [each for each in stored.get(prefix, []) if each.config_sha256 in (None, config)]


def _named_before(directory: Path, stored: dict[str, list], names: CheckpointNames, held: set[str]) -> list:
    """The checkpoints of the job in ``stored`` (:func:`_by_prefix`, of ``directory``) named as before 2026-12-07,
    when its configuration hash held the absolute paths of the files it reads (``names.former_prefix``: now their
    SHA-256): none for a job that reads no file, or where another run holds their lock (``held``: prefixes whose
    lock this command took, or would take with ``--dry-run``)."""
    former = names.former_prefix
    if former == names.prefix or (former not in held and checkpoint.lock_holder(directory, former) is not None):
        return []
    return _of_job(stored, former, names.former_config_sha256)


def _moved_run(directory: Path, every: list, job_name: str, prefix: str, state: OutputState) -> list:
    """The checkpoints in ``every`` (:func:`dqsim.engine.checkpoint.stored_checkpoints` of ``directory``) of the run whose id the job's finished
    output records (``state``) that carry another configuration tag than ``prefix``'s: before 2026-12-07 the job's
    configuration hash held the absolute paths of the files it reads (a QASM circuit), so a project folder moved
    elsewhere gave the same job another tag; the run id (128 random bits) still names that run's checkpoints. Those
    of a tag whose lock another run holds are left out."""
    if not (state.finished and state.run_id is not None):
        return []
    found, free = [], {}
    for stored in every:
        named = checkpoint.parse_checkpoint_name(stored.path)
        if named["job_name"] != job_name or named["prefix"] == prefix or stored.run_id != state.run_id:
            continue
        if named["prefix"] not in free:
            free[named["prefix"]] = checkpoint.lock_holder(directory, named["prefix"]) is None
        if free[named["prefix"]]:
            found.append(stored)
    return found


def clean_folder(directory: Path, *, dry_run: bool = False, everything: bool = False) -> list[str]:
    """Remove (``dry_run``: only name) the checkpoints in ``directory`` (and its ``dqsim-VERSION/`` folders) that
    finished runs left, of every job, each paired with the output its manifest names by run id (see the module);
    ``everything``: all of them. A job whose lock another run holds is skipped (one line). Returns the lines to
    print: a head, one line per group (folder, job, dqsim version, why), the skipped jobs and a summary.

    Raises:
        DqsimError: one line: ``directory`` is not a folder.
    """
    head = f"dqsim clean --checkpoints {directory}: the checkpoints of every job in {directory}/"
    if not directory.is_dir():
        raise DqsimError(f"{directory}: no such folder (--checkpoints names a checkpoint folder)")
    by_job = _by_prefix(checkpoint.stored_checkpoints(directory))
    if not by_job:
        return [head, "  no checkpoint there: nothing to remove"]
    groups: dict = {}
    skipped, left = [], []
    for prefix, found in by_job.items():
        locks = _Locks(dry_run=dry_run)
        try:
            holder = locks.holder(directory, prefix)
            if holder is not None:
                skipped.append(f"  skipped {count_of(len(found), 'checkpoint')} of {prefix}: another dqsim run of "
                               f"this job is using them ({holder})")
                continue
            skipped += _in_use_where_written(found, directory, locks, prefix)
            found = [each for each in found if locks.free_where_written(each.path, directory)]
            if not found:
                continue
            mine = _groups(found, _Judge(directory, None, found), directory, everything=everything, job=prefix)
            if not dry_run:
                left += _remove([stored for (_, remove, _), members in mine.items() if remove
                                 for stored in members], directory, locks)
        finally:
            locks.release()
        groups.update(mine)
    *lines, summary = _lines(groups, dry_run=dry_run)
    return [head, *lines, *skipped, summary, *_failed(left)]


def _in_use_where_written(found: list, directory: Path, locks: "_Locks", prefix: str) -> list[str]:
    """The lines for the checkpoints of ``prefix`` in ``found`` in a ``dqsim-VERSION/`` folder of ``directory``
    whose lock there another run holds (:meth:`_Locks.free_where_written`: a resume of one of them), one a folder."""
    busy: dict[Path, int] = defaultdict(int)
    for each in found:
        if not locks.free_where_written(each.path, directory):
            busy[each.path.parent] += 1
    return [f"  skipped {count_of(count, 'checkpoint')} of {prefix} in {folder}/: another dqsim run of this job is "
            f"using them ({locks.holder(folder, prefix)})" for folder, count in busy.items()]


def _lock(directory: Path, prefix: str, *, dry_run: bool) -> tuple[str | None, tuple | None]:
    """``(holder, lock)``: another run's hold of the lock of ``prefix``'s checkpoints in ``directory`` (``None``:
    none), else the lock taken here (``None`` for ``dry_run``), released with :func:`checkpoint.release_lock`.

    Raises:
        DqsimError: one line: the lock cannot be taken (the folder's permissions).
    """
    lock, holder = None, checkpoint.lock_holder(directory, prefix)
    if holder is None and not dry_run:
        try:
            lock, holder = checkpoint.lock_folder(directory, prefix)
        except OSError as exc:
            raise DqsimError(f"{directory}: cannot take the lock of the checkpoints of {prefix} "
                             f"({io.folder_error(exc)}); nothing removed") from None
    return holder, lock


def _failed(left: list[str]) -> list[str]:
    """The line for files that could not be removed (none: ``[]``)."""
    return [f"  could not remove {count_of(len(left), 'checkpoint')} (files left: {', '.join(left)}); "
            "check the folder's permissions"] if left else []


class _Judge:
    """Whether a complete checkpoint goes, and why: by its run id, which a whole output records where the run
    finished, else (written before run ids) by the job's output ``state`` and modification times (``state``:
    ``None`` with ``--checkpoints``, where the job is not known: such a checkpoint stays).

    A run finished when an output that one of its checkpoints names (a resumed run's name the resume's ``-o``), or
    the job's own output (``state``, of the file ``output``), is whole and records its run id: then all its
    checkpoints go, whatever output each names.
    """

    def __init__(self, directory: Path, state: OutputState | None, found: list, output: str | None = None):
        self.directory = directory
        self.state = state
        self.recorded: dict[str, str | None] = {}  # output -> the run id its whole manifest records
        self.finished: dict[str, str] = {}  # run id -> a whole output that records it
        self.damaged: dict[str, str | None] = {}  # output -> why a slab file of it differs from its manifest
        if state is not None and state.finished and output is not None and self._damage(output) is not None:
            self.state = state = OutputState(False, f"{state.words}, but {self.damaged[output]}")
        if state is not None and state.finished and state.run_id is not None:
            self.finished[state.run_id] = output
        for stored in found:
            if stored.run_id is None or stored.run_id in self.finished:
                continue
            for where in self.outputs_of(stored):
                if where not in self.recorded:
                    run_id = whole_output_run_id(where)
                    self.recorded[where] = run_id if run_id is None or self._damage(where) is None else None
                if self.recorded[where] == stored.run_id:
                    self.finished[stored.run_id] = where
                    break

    def _damage(self, output: str) -> str | None:
        """Why a state slab file of the whole output ``output`` differs from its manifest (kept in
        :attr:`damaged`, so that each output is read once), one line; ``None``: every byte matches
        (:func:`damaged_slab`, every slab file read here)."""
        if output not in self.damaged:
            self.damaged[output] = damaged_slab(output)
        return self.damaged[output]

    def outputs_of(self, stored) -> list[str]:
        """Where the output of ``stored``'s run is (:func:`dqsim.cli.edited.output_places`, from
        ``dqsim clean``'s folder)."""
        return edited.output_places(stored, self.directory)

    def __call__(self, stored) -> tuple[bool, str, bool]:
        """``(remove, why, resumable)``: resumable: the checkpoint is kept for a resume (the line says how)."""
        version = f"dqsim {stored.version}" if stored.version else "an unknown dqsim version"
        if stored.run_id is not None:
            run = f"run {stored.run_id[:RUN_ID_SHOWN]}"
            if stored.run_id in self.finished:
                return True, f"of {version}, of {run}, whose output {self.finished[stored.run_id]} is whole", False
            places = self.outputs_of(stored)
            whole = next((where for where in places if self.recorded.get(where) is not None), None)
            if whole is not None:
                return False, (f"of {version}, of {run}; {whole} holds another run's results "
                               f"(run {self.recorded[whole][:RUN_ID_SHOWN]})"), True
            named = places[0] if places else None
            damaged = next((where for where in places if self.damaged.get(where) is not None), None)
            if damaged is not None:
                return False, (f"of {version}, of {run}, whose output {damaged} is damaged "
                               f"({self.damaged[damaged]}): kept to resume from"), True
            return False, f"of {version}, of {run}, whose output {named} is not whole: not finished", True
        state = self.state
        if state is None:
            return False, (f"of {version}, written before run ids: no output recorded (dqsim clean JOB, with the "
                           "run's --set and -o, pairs them with its output by modification time)"), True
        if state.finished and stored.written_s <= state.written_s:
            return True, f"of {version}, written before run ids and before the output (by modification time)", False
        if state.finished:
            return False, (f"of {version}, written before run ids and after the output (by modification time): "
                           "a later run of the job"), True
        return False, f"of {version}: the job is not finished", True


def _groups(found: list, judge: Callable, directory: Path, *, everything: bool,
            job: str = "") -> dict[tuple[Path, bool, str], list]:
    """The checkpoints ``found`` by ``(folder, removed, why)``, in the order found (``stored_checkpoints``'s);
    ``judge``: a :class:`_Judge`; ``job``: a job's prefix to start each ``why`` with (``--checkpoints``)."""
    groups: dict[tuple[Path, bool, str], list] = defaultdict(list)
    named = f"{job}: " if job else ""
    for stored in found:
        if not stored.complete:
            why = f"{named}incomplete (no manifest: a write that was stopped; never resumable)"
            groups[(stored.path.parent, True, why)].append(stored)
            continue
        remove, why, resumable = judge(stored)
        why = named + why
        if not remove and everything:
            why += " (--all)"
        elif resumable:
            own = stored.path.parent == directory and stored.version == dqsim.__version__
            version = f"dqsim {stored.version}" if stored.version else "that version"
            why += ("; dqsim resume goes on from the newest" if own else f"; {version} can resume them") + \
                "; --all removes them"
        groups[(stored.path.parent, remove or everything, why)].append(stored)
    return groups


def _remove(doomed: list, directory: Path, locks: "_Locks | None" = None) -> list[str]:
    """Remove ``doomed`` checkpoints, newest first, each manifest first; sync the folders; remove a
    ``dqsim-VERSION/`` folder left empty, once the locks taken there (``locks``) are given back (a lock file
    keeps it). Returns the names of files that could not be removed."""
    folders = {stored.path.parent for stored in doomed}
    left = []
    for stored in reversed(doomed):
        checkpoint.remove_checkpoint(stored.path)
        stem = stored.path.name[:-len(".h5")]
        left += [file.name for file in stored.path.parent.glob(glob.escape(stem) + ".*")]
    for folder in folders:
        sync_folder(folder)
        if folder != directory:
            if locks is not None:
                locks.release(folder)
            try:
                folder.rmdir()  # only where empty
            except OSError:
                pass
    if folders - {directory}:
        sync_folder(directory)
    return left


def _lines(groups: dict, *, dry_run: bool) -> list[str]:
    """One line per group, then the summary (sizes with :func:`dqsim.units.size_words`)."""
    lines, totals = [], {True: [0, 0], False: [0, 0]}
    for (folder, remove, why), members in groups.items():
        size = sum(stored.num_bytes for stored in members)
        totals[remove][0] += len(members)
        totals[remove][1] += size
        verb = ("would remove" if dry_run else "removed") if remove else "kept"
        newest = "" if remove else f" (the newest: {members[-1].path.name})"
        lines.append(f"  {verb} {count_of(len(members), 'checkpoint')} in {folder}/ ({size_words(size)}){newest}: "
                     f"{why}")
    (removed, freed), (kept, held) = totals[True], totals[False]
    if dry_run:
        summary = (f"  --dry-run: would remove {count_of(removed, 'checkpoint')} ({size_words(freed)}), keep "
                   f"{kept} ({size_words(held)}); nothing removed")
    else:
        summary = f"  removed {count_of(removed, 'checkpoint')} ({size_words(freed)} freed), kept {kept} " \
                  f"({size_words(held)})"
    return [*lines, summary]
