"""``dqsim clean JOB``: remove the checkpoints of a job that its finished runs left in its checkpoint folder.

Since 2026-12-06 a finished run removes the checkpoints it wrote
(:func:`dqsim.engine.checkpoint.remove_when_done`); runs before then left their
last ``keep`` in the folder, a state's size each. A checkpoint does not record
where its run wrote its output, so ``dqsim clean`` is given the job as it ran
(its file, and the ``--set`` and ``-o`` the run had) and looks at

* the job's checkpoints (its ``[run].name`` and configuration hash:
  :func:`dqsim.engine.checkpoint.stored_checkpoints`) in ``[checkpoint].directory``
  and its ``dqsim-VERSION/`` folders (another version's, set aside), of any run;
* the job's output (:mod:`dqsim.cli.finished`: whole as its manifest lists it, and
  this job's configuration).

Where the output holds the job's finished results, every checkpoint written
before it goes (any version's: the job is done); those written after it are a
later run's (one with another ``-o``, or stopped) and stay, as do all of them
where the output is not finished: ``dqsim resume`` goes on from the newest.
``--all`` removes those too. Incomplete checkpoints (no manifest: a write that
was killed, never resumable) always go, as the job's next run would remove them.
Nothing is removed while another run of the job holds the folder's lock (one
line, exit 2); ``dqsim clean`` holds it while it removes, each checkpoint
manifest first. ``--dry-run`` says what would go and removes nothing.
"""

from __future__ import annotations

import glob
import json
from collections import defaultdict
from pathlib import Path

import dqsim
from dqsim import io, jobs
from dqsim.cli import print_error
from dqsim.cli.finished import OutputState, output_state
from dqsim.engine import checkpoint
from dqsim.errors import DqsimError, count_of
from dqsim.io.manifest import sync_folder
from dqsim.units import size_words

#: Exit status for bad input, and for a folder whose lock another run holds (as ``dqsim run``).
EXIT_BAD_INPUT = 2


def cmd_clean(args) -> int:
    """``dqsim clean JOB [--set ...] [-o OUTPUT] [--dry-run] [--all]``."""
    overrides = list(args.set) + ([f"run.output={json.dumps(args.output)}"] if args.output else [])
    try:
        job = jobs.load_job(args.job, overrides)
        lines = clean_job(job, dry_run=args.dry_run, everything=args.all)
    except DqsimError as exc:
        for problem in getattr(exc, "problems", None) or [str(exc)]:  # a job file's problems, all of them
            print_error(problem)
        return EXIT_BAD_INPUT
    print("\n".join(lines), flush=True)
    return 0


def clean_job(job, *, dry_run: bool = False, everything: bool = False) -> list[str]:
    """Remove (``dry_run``: only name) the checkpoints of ``job`` that its finished runs left (see the module);
    ``everything``: all of the job's. Returns the lines to print: a head, the output's state, one line per group
    (folder, dqsim version, why) and a summary with sizes.

    Raises:
        DqsimError: one line: another run of the job holds the folder's lock, or it cannot be taken.
    """
    directory = Path(job.checkpoint.directory)
    prefix = checkpoint.checkpoint_prefix(job.run.name, jobs.config_sha256(job))
    head = f"dqsim clean {job.run.name} ({job.scenario}): checkpoints {prefix}.ckpt* in {directory}/"
    if not directory.is_dir():
        return [head, "  no such folder: nothing to remove"]
    lock, holder = None, checkpoint.lock_holder(directory, prefix)
    if holder is None and not dry_run:
        try:
            lock, holder = checkpoint.lock_folder(directory, prefix)
        except OSError as exc:
            raise DqsimError(f"{directory}: cannot take the lock of this job's checkpoints "
                             f"({io.folder_error(exc)}); nothing removed") from None
    if holder is not None:
        raise DqsimError(f"{directory}: another dqsim run of this job ({prefix}) is using its checkpoints there "
                         f"({holder}); nothing removed: run dqsim clean once it has ended")
    try:
        state = output_state(job)
        groups = _groups(checkpoint.stored_checkpoints(directory, prefix), state, jobs.config_sha256(job),
                         directory, everything=everything)
        if not groups:
            return [head, f"  output: {state.words}", "  no checkpoint of this job there: nothing to remove"]
        left = []
        if not dry_run:
            left = _remove([stored for (_, remove, _), members in groups.items() if remove for stored in members],
                           directory)
    finally:
        checkpoint.release_lock(lock)
    failed = [f"  could not remove {count_of(len(left), 'checkpoint')} (files left: {', '.join(left)}); "
              "check the folder's permissions"] if left else []
    return [head, f"  output: {state.words}", *_lines(groups, dry_run=dry_run), *failed]


def _groups(found: list, state: OutputState, config: str, directory: Path, *,
            everything: bool) -> dict[tuple[Path, bool, str], list]:
    """The job's checkpoints by ``(folder, removed, why)``, in the order found (``stored_checkpoints``'s)."""
    groups: dict[tuple[Path, bool, str], list] = defaultdict(list)
    for stored in found:
        if stored.config_sha256 is not None and stored.config_sha256 != config:
            continue  # another job whose configuration hash starts alike: not this one's
        version = f"dqsim {stored.version}" if stored.version else "an unknown dqsim version"
        if not stored.complete:
            why = "incomplete (no manifest: a write that was stopped; never resumable)"
            groups[(stored.path.parent, True, why)].append(stored)
            continue
        if state.finished and stored.written_s <= state.written_s:
            groups[(stored.path.parent, True, f"of {version}, written before the output")].append(stored)
            continue
        own = stored.path.parent == directory and stored.version == dqsim.__version__
        if state.finished:
            why = f"of {version}, written after the output by a later run of the job"
        else:
            why = f"of {version}: the job is not finished"
        if everything:
            why += " (--all)"
        elif own:
            why += "; dqsim resume goes on from the newest; --all removes them"
        else:
            why += f"; {version} can resume them; --all removes them"
        groups[(stored.path.parent, everything, why)].append(stored)
    return groups


def _remove(doomed: list, directory: Path) -> list[str]:
    """Remove ``doomed`` checkpoints, newest first, each manifest first; sync the folders; remove a
    ``dqsim-VERSION/`` folder left empty. Returns the names of files that could not be removed."""
    folders = {stored.path.parent for stored in doomed}
    left = []
    for stored in reversed(doomed):
        checkpoint.remove_checkpoint(stored.path)
        stem = stored.path.name[:-len(".h5")]
        left += [file.name for file in stored.path.parent.glob(glob.escape(stem) + ".*")]
    for folder in folders:
        sync_folder(folder)
        if folder != directory:
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
