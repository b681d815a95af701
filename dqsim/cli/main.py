"""The ``dqsim`` command: ``run`` a job file, ``resume`` a checkpoint; :func:`main` runs any command.

The parser and the table of the commands' modules are in
:mod:`dqsim.cli.parser`; ``check``, ``inspect``/``plot``, ``merge`` and
``examples`` live in their own modules, which import only what they need.

Errors in the input (job file, QASM, sizes, a damaged checkpoint) print one
line, ``dqsim: error: …``, and exit with status 2, without a traceback. Under
MPI the ranks that fail first agree on it (:meth:`dqsim.comm.MPIComm.agree_on_failure`):
when every rank failed — an error in the job or a checkpoint, found by all —
rank 0 prints one line and every rank exits normally; only when some rank
does not join within :data:`FAILURE_AGREE_S` seconds (it is still working,
waits elsewhere or is gone) does the job end through ``MPI_Abort``. A user
error that one rank alone finds is made every rank's before it gets here,
in a collective the ranks make anyway (a process's step or the engine's
checks: :meth:`dqsim.engine.Simulator.refuse_after_error`; a scenario's own
work: :func:`dqsim.comm.allgather_agreed`), so every rank fails at once and
joins; what still ends through ``MPI_Abort`` is a bug (any other exception)
and an error raised on one rank while the others wait in a collective it
never enters.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

import dqsim
from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim import io
from dqsim import jobs
from dqsim.engine import checkpoint
from dqsim.io import provenance, sharded
from dqsim.engine.checkpoint import EXIT_CHECKPOINTED, EXIT_STOPPED, CheckpointStop, RunStopped, StopNotCheckpointed
from dqsim.errors import ConfigError, DqsimError, RankCountError, count_of
from dqsim.cli import (EXIT_INTERRUPTED, call_handler, ctrl_c_held, drop_held_ctrl_c, hold_ctrl_c,  # (130)
                       INTERRUPTED_AT_START, print_error, release_ctrl_c, set_signal_state, signal_state,
                       take_held_stop_signal)
from dqsim.cli import edited, moved, unfinished
from dqsim.cli.finished import (CheckpointNames, changed_input, checkpoint_names, damaged_slab, output_state,
                                 run_identity)
from dqsim.cli.parser import build_parser, handler
from dqsim.cli.progress import ProgressLog
from dqsim.scenarios.output import WRITING_RANK
from dqsim import scenarios

#: Exit status for bad input (job file, arguments, sizes).
EXIT_BAD_INPUT = 2
#: Exit status for an unexpected internal error.
EXIT_INTERNAL = 1
#: Seconds the ranks that failed wait for the others to fail too before ``MPI_Abort``.
FAILURE_AGREE_S = 5.0


def main(argv: list[str] | None = None) -> int:
    """The ``dqsim`` command called from Python: parse ``argv``, run the command; its exit status.

    For a process that goes on after it (a test, a notebook, a workflow script). On every way out (a
    return, an exception, argparse's ``SystemExit``) it sets back this thread's signal mask (a ``run``
    holds Ctrl-C while MPI starts, :func:`dqsim.cli.hold_ctrl_c`) and, in the main thread, the handlers
    of SIGINT, SIGTERM and SIGUSR1 the caller had (a ``run`` takes them as a checkpoint-and-stop), and
    forgets a stop the run was asked for: the caller's next Ctrl-C is its own, and a next call runs
    whole. A Ctrl-C held while the run started and not taken by it goes to the caller's handler.

    In another thread, Python lets no thread but the main one set handlers: a ``run`` or ``resume``
    there installs none and holds no Ctrl-C (:func:`dqsim.engine.checkpoint.takes_signals`); the
    caller's handlers stay, and a caller that wants a checkpoint-and-stop calls
    :func:`dqsim.engine.checkpoint.request_stop`.

    The console script (:func:`dqsim.cli.console_main`) does not come through here: its process ends
    with the command, and it keeps the stop signals held from its first statement and ignored through
    the interpreter's teardown.
    """
    state = signal_state()
    try:
        return run_command(build_parser().parse_args(argv))
    finally:
        set_signal_state(state, handlers=checkpoint.takes_signals())
        checkpoint.forget_stop()


def run_command(args) -> int:
    """Run the parsed command line's command (:func:`dqsim.cli.parser.handler`); its exit status."""
    return call_handler(handler(args.command), args)


def _init_comm():
    """The communicator, or ``None`` after printing why the launch is wrong (once per launch): a bad
    ``DQSIM_COLLECTIVE_CLOSE_S`` too (:func:`dqsim.io.sharded.close_timeout_s`), here rather than at the first
    parallel-HDF5 write, whose file it would leave open."""
    try:
        comm = comm_mod.init()
        sharded.close_timeout_s()
        return comm
    except DqsimError as exc:
        if comm_mod.launcher_rank() == 0:  # srun's and mpiexec's copies would each print it
            print_error(str(exc))
        return None


def _start_mpi():
    """Collective: MPI's start, with Ctrl-C held (:func:`dqsim.cli.hold_ctrl_c`; in the main thread, where the
    run takes signals) until the run's handlers: no rank leaves alone while MPI starts.

    Returns the communicator, or ``None`` after printing why the launch is wrong; Ctrl-C is released again
    then, and when MPI's start raises.
    """
    held = checkpoint.takes_signals()
    if held:
        hold_ctrl_c()
    try:
        comm = _init_comm()
    except BaseException:
        if held:
            release_ctrl_c()
        raise
    if comm is None and held:
        release_ctrl_c()
    return comm


def _take_stop_signals() -> None:
    """The run's own handlers of the stop signals (:func:`dqsim.engine.checkpoint.install_signal_handlers`),
    then the Ctrl-C held since MPI's start, and a stop signal held while the command loaded, as stops."""
    checkpoint.install_signal_handlers()
    if checkpoint.takes_signals():
        release_ctrl_c()
    _take_held_stop()


def cmd_run(args) -> int:
    comm = _start_mpi()
    if comm is None:
        return EXIT_BAD_INPUT

    def work() -> int:
        if _interrupted_while_starting(comm):
            return EXIT_INTERRUPTED
        _take_stop_signals()  # from the start: a stop while the job loads still checkpoints
        overrides = list(args.set)
        if args.output:
            overrides.append(f"run.output={json.dumps(args.output)}")
        job = jobs.load_job(args.job, overrides)
        if args.skip_finished and _finished_already(job, comm):
            return 0
        names = checkpoint_names(job)  # two configuration hashes: the session's and the edited inputs' look
        return _run(job, comm, quiet=args.quiet, session=_session(job, run_id=checkpoint.start_run_id(comm),
                                                                  names=names),
                    stop_if_edited=args.stop_if_edited, names=names, start_over=args.start_over)

    return guarded(comm, work)


def _finished_already(job, comm) -> bool:
    """Collective (``dqsim run --skip-finished``): whether the job's output holds its finished results
    (:func:`dqsim.cli.finished.output_state`, on rank 0); if so rank 0 says so in one line and the run is not
    started. ``slurm/run_step.sh`` asks it of a requeued job that has no checkpoint: its run had finished (and
    removed its checkpoints) when SLURM requeued it.

    A finished output that is stale (:attr:`dqsim.cli.finished.OutputState.stale`: another dqsim version wrote
    it, or a file the job reads changed since) is run again, with one line saying why; so is one whose state slab
    files differ from their manifest's digests (:func:`dqsim.cli.finished.damaged_slab`: every rank reads its
    share of them, every byte)."""
    words = None
    if comm.rank == 0:
        state = output_state(job)
        if state.finished and state.stale is not None:
            print(f"dqsim: note: {state.stale}: running the job again (--skip-finished skips only this version's "
                  "results of the job's files as they are)", file=sys.stderr, flush=True)
        words = state.words if state.finished and state.stale is None else None
    words = comm.bcast(words)
    if words is not None:
        damaged = comm.gather(damaged_slab(job.run.output, comm.rank, comm.size))
        if comm.rank == 0:
            damaged = next((line for line in damaged if line is not None), None)
            if damaged is not None:
                print(f"dqsim: note: {damaged}: running the job again (--skip-finished skips only an output whose "
                      "every file matches its manifest)", file=sys.stderr, flush=True)
                words = None
        words = comm.bcast(words)
    if words is not None and comm.rank == 0:
        print(f"dqsim: note: {words}: not running it again (--skip-finished)", file=sys.stderr, flush=True)
    return words is not None


def _interrupted_while_starting(comm) -> bool:
    """Collective, once MPI runs: whether a Ctrl-C came to any rank while the command loaded and MPI started
    (held since :func:`dqsim.cli.console_main`'s first statement, :func:`dqsim.cli.hold_ctrl_c`); if so every
    rank ends here, nothing written: rank 0 says so (:data:`dqsim.cli.INTERRUPTED_AT_START`), MPI is ended on every
    rank (so mpi4py's runner does not turn the 130 into ``MPI_Abort``) and every rank returns 130.

    The ranks hear a Ctrl-C at different moments of their start; before this hold, one still importing ended
    alone with 130 while another was past :func:`hold_ctrl_c`, in MPI's start: that one waited for it (a hang)
    or hydra ended it (its "BAD TERMINATION" banner, status 2 or 11; ``bench/results/ctrl-c-at-start-vm-20261206.md``).
    A Ctrl-C that comes after this look is a stop (a checkpoint at the first cut), as during the run.
    """
    if not comm.allreduce_max(int(checkpoint.takes_signals() and ctrl_c_held())):
        return False
    drop_held_ctrl_c()
    if comm.rank == 0:
        print(INTERRUPTED_AT_START, file=sys.stderr, flush=True)
    comm_mod.finalize()
    return True


def _take_held_stop() -> None:
    """A stop signal that came while the command loaded (:func:`dqsim.cli.take_held_stop_signal`) asks this run to
    stop, as one that comes now would."""
    if take_held_stop_signal():
        checkpoint.request_stop()


def _session(job, resume=None, *, run_id: str, names: CheckpointNames | None = None):
    """The checkpoint session of a run: the job's ``[checkpoint]``, signals, a resume if any, and the run's
    identity (:func:`dqsim.cli.finished.run_identity`, ``run_id`` its id: the same on every rank), which its
    checkpoints and its output's manifest record. ``names``: the job's :func:`dqsim.cli.finished.checkpoint_names`
    for a run from the start (``None``: computed here)."""
    plan = job.checkpoint
    directory = Path(plan.directory)
    if resume is not None:  # the resumed job's identity, whatever -o or a placement changed in the job
        prefix, config = resume.prefix, resume.config_sha256
        # beside the checkpoint it resumed (not [checkpoint].directory, which is relative to where dqsim was
        # started): keep counts and removes the job's older checkpoints there, and the next resume finds these
        directory = Path(resume.path).parent
        former = prefix
    else:
        config, prefix, _, former = names or checkpoint_names(job)
    identity = run_identity(job, run_id, config, checkpoint_directory=directory)
    return checkpoint.CheckpointSession(
        directory=directory, prefix=prefix, config_sha256=config, job_text=job.text, source=job.source,
        meta={"scenario": job.scenario, "job_name": job.run.name, "job_path": str(job.path or ""),
              "job_base_dir": str(job.base_dir), "overrides": list(job.overrides),
              # since 2026-12-07, for a project folder moved with its checkpoints (_stored_job)
              "job_base_dir_from_checkpoints": os.path.relpath(job.base_dir, os.path.abspath(directory)),
              "overrides_from_job": identity["overrides_from_job"],
              "seed": job.run.seed, "precision": job.run.precision, "backend": job.run.backend,
              "input_sha256": identity["input_sha256"]},
        every_wall_s=plan.every_wall_s, every_sim_s=plan.every_sim_s, keep=plan.keep,
        keep_when_done=checkpoint.keeps_when_done(plan.keep_when_done), resume=resume, identity=identity,
        former_prefix=former if former != prefix else None)


def cmd_resume(args) -> int:
    comm = _start_mpi()
    if comm is None:
        return EXIT_BAD_INPUT

    def work() -> int:
        if _interrupted_while_starting(comm):
            return EXIT_INTERRUPTED
        _take_stop_signals()  # before the checkpoint's bytes are checked (minutes for a large one)
        checkpoint_path = _resume_target(args.checkpoint, comm)
        while True:
            try:
                return _resume_one(args, comm, checkpoint_path)
            except checkpoint.RestoreRefused as refused:  # on every rank: a slab damaged, found as it was read
                refusal = refused.refusal
            except checkpoint.CheckpointRefused as refused:  # alike on every rank
                refusal = refused
            if not args.fall_back or refusal.previous is None:
                raise refusal
            if comm.rank == 0:
                print(f"dqsim: note: not resuming {refusal.reason}; resuming the previous checkpoint of the "
                      f"job, {refusal.previous}", file=sys.stderr, flush=True)
            checkpoint_path = refusal.previous

    return guarded(comm, work)


def _resume_target(path: str, comm) -> str:
    """Collective: the checkpoint ``dqsim resume PATH`` resumes (:func:`dqsim.cli.unfinished.resume_target`: a
    checkpoint's slab file or manifest names it, with a note line; a job file is refused naming its newest).

    Raises:
        DqsimError: on every rank, one line: ``path`` is a job file.
    """
    answer = None
    if comm.rank == 0:
        try:
            target, note = unfinished.resume_target(path)
            if note is not None:
                print(f"dqsim: note: {note}", file=sys.stderr, flush=True)
            answer = (target, None)
        except DqsimError as exc:
            answer = (None, str(exc))
    target, error = comm.bcast(answer)
    if error is not None:
        raise DqsimError(error)
    return target


def _resume_one(args, comm, checkpoint_path) -> int:
    """Collective: resume ``checkpoint_path`` (``dqsim resume``); its exit status.

    Raises:
        CheckpointRefused: on every rank, before the run: the checkpoint is refused (:func:`checkpoint.read_checkpoint`).
        checkpoint.RestoreRefused: on every rank, as the register is restored: a state slab whose amplitudes,
            hashed as they were read, differ from the manifest's (nothing was written; the run ends there).
    """
    attrs, resume = checkpoint.read_checkpoint(checkpoint_path, comm)
    job = _stored_job(attrs, args.output, checkpoint_path, job_folder=args.job_folder)
    original = None if args.output else _original_output(checkpoint_path)
    if original is not None and os.path.abspath(job.run.output) != original:  # started in another folder
        job = _stored_job(attrs, original, checkpoint_path, job_folder=args.job_folder)
    _check_engine_run(job, resume, checkpoint_path)
    network = getattr(job, "network", None)
    placement = getattr(network, "placement", None)
    if resume.num_ranks != comm.size and placement is not None and max(placement) >= comm.size:
        # placed for the checkpoint's rank count: on this one, the default placement (the results do not
        # depend on where nodes run, and a resume cannot change the stored job)
        job = job.model_copy(update={"network": network.model_copy(update={"placement": None})})
    if comm.rank == 0:
        _note_an_edited_job_file(attrs, job)
        _note_unchecked_inputs(attrs, job, checkpoint_path)
        _warn_of_other_code(resume)
    try:
        return _run(job, comm, quiet=args.quiet, session=_session(job, resume, run_id=checkpoint.start_run_id(
            comm, resume)))
    except RankCountError as exc:  # raised on every rank as the register is built, before any work
        raise DqsimError(_resume_rank_counts(checkpoint_path, resume, exc)) from None


def _original_output(checkpoint_path) -> str | None:
    """Where the run that wrote ``checkpoint_path`` was to write its output, as an absolute path: the manifest's
    ``output_from_checkpoints`` (the output relative to the checkpoint's folder, since 2026-12-07) taken from the
    checkpoint's folder as it is now, so a resume started in any folder writes beside the original output, as it
    writes its checkpoints beside the one it resumed (since 2026-12-07 (night); before, a relative output went to
    the folder ``dqsim resume`` was started in). ``None`` (older checkpoints, a run id as output): the stored
    ``run.output`` as it is, relative to the current folder. Where that is the same file (a resume started
    where the run was), the stored job is kept as it is (its ``overrides`` as the uninterrupted run's)."""
    body = checkpoint.manifest_body(checkpoint_path) or {}
    relative = body.get("output_from_checkpoints")
    if not isinstance(relative, str) or not relative:
        return None
    return os.path.normpath(os.path.join(os.path.abspath(Path(checkpoint_path).parent), relative))


def _stored_job(attrs: dict, output: str | None, checkpoint_path, *, job_folder: str | None = None):
    """The job a checkpoint stores (its text and overrides; ``output``: ``dqsim resume -o``), its files read in the
    job's folder as it is now (:func:`_job_folders`; ``job_folder``: ``dqsim resume --job-folder``, that folder
    first): the first folder where every file the job reads has the SHA-256 the checkpoint recorded, so the resume
    computes the same circuit.

    Raises:
        DqsimError: one line: a file the job reads changed since the checkpoint was written, or is missing (in the
            first folder of :func:`_job_folders`); the stored job text does not give the checkpoint's job (a damaged
            file).
    """
    refusals = []
    for folder in _job_folders(attrs, checkpoint_path, job_folder):
        try:
            job = _stored_job_in(folder, attrs, output, checkpoint_path)
            changed = _changed_input(job, attrs)
        except ConfigError as exc:  # a file the job reads is not in this folder
            refusals.append(f"{checkpoint_path}: its job cannot be read with its files ({exc}); restore the file, "
                            "or run the job again")
            continue
        if changed is None:
            return job
        refusals.append(f"{checkpoint_path}: {changed}, which the job reads, changed since the checkpoint was "
                        "written (SHA-256 differs); restore that file or run the job again")
    missing = None if _written_since_moves(attrs) or job_folder else moved.missing_input_line(attrs, checkpoint_path)
    raise DqsimError(missing or refusals[0])  # in the job's folder as it is now (--job-folder's), where that exists


def _written_since_moves(attrs: dict) -> bool:
    """Whether a checkpoint (root attributes ``attrs``) records its job's folder relative to its own
    (``job_base_dir_from_checkpoints``): written since 2026-12-07."""
    return isinstance(attrs.get("job_base_dir_from_checkpoints"), str)


def _job_folders(attrs: dict, checkpoint_path, job_folder: str | None = None) -> list[str]:
    """Where a checkpoint's job may read its files now, in order: ``job_folder`` where given (``dqsim resume
    --job-folder DIR``, since 2026-12-07 (morning): the folder that now holds the job file, for a checkpoint folder
    that did not move with the project, written before 2026-12-07 or not); else the job's folder at the path relative
    to the checkpoint's folder that the checkpoint records (``job_base_dir_from_checkpoints``, since 2026-12-07: a
    project folder moved or copied with its checkpoints), where that folder exists, or for a checkpoint written
    before, the folder near the checkpoint's that holds the files the job read inside its folder, at the same places
    and with the SHA-256 recorded (:func:`dqsim.cli.moved.folder_holding_inputs`); then the job's folder as it was
    (``job_base_dir``). Files the job read inside its old folder are read at the same places inside the folder
    tried, and each is checked against the SHA-256 recorded (:func:`_stored_job`)."""
    recorded = moved.recorded_folder(attrs)
    if job_folder is not None:
        found = os.path.abspath(job_folder)
    elif _written_since_moves(attrs):
        found = os.path.normpath(os.path.join(os.path.abspath(Path(checkpoint_path).parent),
                                              attrs["job_base_dir_from_checkpoints"]))
        found = found if os.path.isdir(found) else None
    else:
        found = moved.folder_holding_inputs(attrs, checkpoint_path)
    return [found, recorded] if found is not None and found != recorded else [recorded]


def _stored_job_in(folder: str, attrs: dict, output: str | None, checkpoint_path):
    """The job a checkpoint stores, with ``folder`` as the job file's folder (see :func:`_stored_job`).

    Raises:
        ConfigError: a file the job reads is not there (or the stored job is refused).
        DqsimError: the stored job text does not give the checkpoint's job (a damaged file).
    """
    job = jobs.load_job_text(attrs["job_text"], source=attrs.get("job_path") or "<checkpoint>",
                             base_dir=folder, path=attrs.get("job_path") or None)
    from_job = attrs.get("overrides_from_job")  # since 2026-12-07: circuit.qasm relative to the job's folder
    overrides = [str(item) for item in (from_job if from_job is not None else attrs.get("overrides") or [])]
    if from_job is None and folder != moved.recorded_folder(attrs):  # before: where the files were, in a moved folder
        from_job = overrides = jobs.overrides_relative_to(overrides, moved.recorded_folder(attrs))
    if output:  # replaces the run's -o (as dqsim run -o would have it: one run.output, the last)
        overrides = [item for item in overrides if jobs.override_value(item)[0] != "run.output"]
        overrides.append(f"run.output={json.dumps(output)}")
    if overrides:
        job = jobs.apply_overrides(job, overrides, paths_from_job=from_job is not None)
    if job.scenario != attrs.get("scenario") or job.run.name != attrs.get("job_name"):
        raise DqsimError(f"{checkpoint_path}: its job is {attrs.get('job_name')!r} ({attrs.get('scenario')}), "
                         f"the stored job text gives {job.run.name!r} ({job.scenario}); the file is damaged")
    return job


def _changed_input(job, attrs: dict) -> str | None:
    """A file ``job`` reads (QASM) whose SHA-256 differs from what the checkpoint recorded (``input_sha256``, by the
    absolute path it had; a file counts as the same at that path relative to the job's folder as recorded), or a
    recorded one it no longer reads; ``None``: all the same (or none recorded: checkpoints before 2026-12-06)."""
    recorded = attrs.get("input_sha256")
    if not isinstance(recorded, dict) or not recorded:
        return None
    base = os.path.abspath(attrs.get("job_base_dir") or ".")
    from_job = {os.path.relpath(path, base): digest for path, digest in recorded.items()}
    return changed_input(recorded, from_job, jobs.input_file_hashes(job), job.base_dir)


def _check_engine_run(job, resume, checkpoint_path) -> None:
    """Refuse, before the run, a checkpoint written in an engine run the job never reaches (it has
    :attr:`dqsim.scenarios.Scenario.engine_runs` of them; the same on every rank).

    Raises:
        CheckpointRefused: one line naming the file, its engine run and the job's count.
    """
    engine_runs = scenarios.SCENARIOS[job.scenario].engine_runs
    num_runs = engine_runs(job) if engine_runs is not None else None
    if num_runs is not None and resume.engine_run >= num_runs:
        raise checkpoint.CheckpointRefused(
            f"{checkpoint_path}: it was written in engine run {resume.engine_run}, but its job ({job.run.name}, "
            f"{job.scenario}) has only {count_of(num_runs, 'engine run')} (numbered from 0): the checkpoint "
            "does not belong to it; resume another checkpoint of the job, or run it again with dqsim run",
            checkpoint.previous_checkpoint(checkpoint_path))


def _warn_of_other_code(resume) -> None:
    """Rank 0: one warning line when the checkpoint was written by another commit of dqsim than this one
    (:func:`dqsim.io.provenance.code_commit`; the same version, else the checkpoint was refused): the resume goes
    on, with code that may differ from the code that wrote the state. Nothing where either commit is unknown."""
    written, this = resume.dqsim_commit, provenance.code_commit()
    if written is None or provenance.UNKNOWN in (written, this) or written == this:
        return
    print(f"dqsim: warning: {resume.path} was written by dqsim commit {written}, this is commit {this} (the same "
          f"version, {dqsim.__version__}); resuming it with this code", file=sys.stderr, flush=True)


def _note_an_edited_job_file(attrs: dict, job) -> None:
    """Say so when the job file of a resumed checkpoint (``job``: as resumed, in its folder now) changed since: the
    resume runs the stored job text."""
    if not attrs.get("job_path"):
        return
    job_file = Path(job.base_dir) / Path(attrs["job_path"]).name  # wherever dqsim starts
    try:
        edited = job_file.read_text(encoding="utf-8") != attrs["job_text"]
    except (OSError, UnicodeDecodeError):  # moved or removed: nothing to compare
        return
    if edited:
        print(f"dqsim: note: {job_file} changed since the checkpoint was written; resuming the job as the "
              f"checkpoint stores it (to run the edited job, start it again: dqsim run {job_file})",
              file=sys.stderr, flush=True)


def _note_unchecked_inputs(attrs: dict, job, checkpoint_path) -> None:
    """Say so when a resumed checkpoint (root attributes ``attrs``) records no SHA-256 of the files its ``job`` reads
    (``input_sha256``: written before 2026-12-06 (evening)): they are read as they are now, unchecked, where any other
    checkpoint's are checked (:func:`_stored_job`); the resume's own checkpoints and output record them as read now.
    Since 2026-12-07 (late afternoon); before, such a resume said nothing (the note's first version said "written
    before 2026-12-06", though those written on 2026-12-06 before the evening record none either)."""
    recorded = attrs.get("input_sha256")
    if isinstance(recorded, dict) and recorded:
        return
    now = sorted(jobs.input_file_hashes(job))
    if now:
        verb = "it is" if len(now) == 1 else "they are"
        print(f"dqsim: note: {checkpoint_path} records no SHA-256 of the files its job reads (written before "
              f"2026-12-06, evening): {', '.join(now)} read as {verb} now, unchecked; "
              "if one changed since the checkpoint was written, the resumed run mixes both contents (run the job "
              "again then)", file=sys.stderr, flush=True)


def _resume_rank_counts(path, resume, exc: RankCountError) -> str:
    """The one line for a checkpoint whose state vector cannot be split over ``exc.num_ranks`` ranks."""
    return (f"{path}: cannot resume on {exc.num_ranks} ranks: its state vector (written on "
            f"{count_of(resume.num_ranks, 'rank')}) is split over the ranks, so it resumes on a power-of-two "
            f"number of ranks (1, 2, 4, 8, ...); use {exc.below} or {exc.above}")


def _stop_line(stop: CheckpointStop) -> str:
    """The one line of a run stopped with a checkpoint: the checkpoint it wrote, or, for a stop right after a resume
    (nothing run since), the resumed one, which it did not write (before 2026-12-07 (late night) that line said
    "checkpoint written to" too)."""
    if stop.written:
        return f"dqsim: checkpoint written to {stop.path}; continue with: dqsim resume {stop.path}"
    return (f"dqsim: stopped before the resumed run went past its checkpoint: no new checkpoint written; "
            f"{stop.path} still continues it: dqsim resume {stop.path}")


def guarded(comm, work) -> int:
    """Run ``work()`` on every rank; an error on any rank is printed once and ends the whole job.

    Returns ``work()``'s exit status; :data:`EXIT_CHECKPOINTED` after a
    stop that wrote a checkpoint, :data:`~dqsim.engine.checkpoint.EXIT_STOPPED`
    after one that could not; :data:`EXIT_BAD_INPUT` for a
    :class:`DqsimError` and :data:`EXIT_INTERNAL` for anything else — on
    several ranks returned by every rank if all failed, else the job ends
    through ``MPI_Abort`` with that status (:func:`_fail`).
    """
    try:
        return work()
    except CheckpointStop as stop:
        if comm.rank == 0:
            print(_stop_line(stop), file=sys.stderr, flush=True)
        return EXIT_CHECKPOINTED
    except RunStopped as stop:  # raised on every rank at the same gate boundary
        if comm.rank == 0:
            print(f"dqsim: {stop}", file=sys.stderr, flush=True)
        return EXIT_STOPPED
    except (DqsimError, StopNotCheckpointed) as exc:
        return _fail(comm, str(exc), EXIT_BAD_INPUT)
    except BrokenPipeError:  # stdout piped into a program that stopped reading: main() handles it
        raise
    except KeyboardInterrupt as interrupt:  # a second Ctrl-C (the first asks for a checkpoint-and-stop): stop now
        return _interrupted(comm, interrupt)
    except Exception:  # noqa: BLE001 - print, then end every rank
        return _fail(comm, traceback.format_exc().rstrip(), EXIT_INTERNAL, prefix="internal error")


def _interrupted(comm, interrupt: KeyboardInterrupt) -> int:
    """A second Ctrl-C ended the run (:func:`guarded`): its one line and :data:`EXIT_INTERRUPTED`.

    Where every rank raised it alike (:class:`~dqsim.engine.checkpoint.SecondSignalAgreed`: the ranks agreed on
    it during a checkpoint's write) rank 0 alone says it and every rank ends MPI and returns (since 2026-12-07
    (night)); else the rank that took it says it and ends the others through ``MPI_Abort``, as they may wait for
    it in a collective (MPICH then adds an ``Abort(130)`` line of its own on each rank)."""
    agreed = isinstance(interrupt, checkpoint.SecondSignalAgreed)
    if not agreed or comm.rank == 0:
        where = "" if comm.rank == 0 else f" on rank {comm.rank}"
        resumable = getattr(interrupt, "resumable", False)  # (False: before the run, nothing known of checkpoints)
        way_on = ("" if resumable is False else "; no checkpoint of it to resume: run the job again"
                  if resumable is None else f"; its last checkpoint continues it: dqsim resume {resumable}")
        print(f"dqsim: interrupted{where} (a second Ctrl-C); this run wrote nothing more{way_on}", file=sys.stderr,
              flush=True)
    if agreed:  # every rank is here: MPI ends normally, so mpi4py's runner does not turn the 130 into MPI_Abort
        comm_mod.finalize()
    elif comm.size > 1:  # the other ranks may wait for this one in a collective
        comm.abort(EXIT_INTERRUPTED)
    return EXIT_INTERRUPTED


def _fail(comm, message: str, code: int, prefix: str = "error") -> int:
    """Print once and end the job: normally if every rank failed, else through ``MPI_Abort``."""
    if comm.size == 1:
        print(f"dqsim: {prefix}: {message}", file=sys.stderr, flush=True)
        return code
    messages = comm.agree_on_failure(message, FAILURE_AGREE_S)
    if messages is not None:  # every rank failed: leave normally, rank 0 speaks for all
        if comm.rank == 0:
            print(f"dqsim: {prefix}: {message}", file=sys.stderr, flush=True)
        return code
    where = "" if comm.rank == 0 else f" on rank {comm.rank}"
    print(f"dqsim: {prefix}{where}: {message}", file=sys.stderr, flush=True)
    comm.abort(code)
    return code


def _compile_note():
    """A heartbeat note for :class:`ProgressLog`: how many kernels numba compiled since the last line (a cold
    cache: a first run spends up to a minute there, with no fraction to show), and how to do it ahead.

    numba counts compiles from the process's start, so nothing is read before the first heartbeat (no
    work added to a run's start-up; the import is then a lookup: ``fast`` holds the kernels)."""
    seen = [0]

    def note() -> str:
        from dqsim.backend import warmup as backend_warmup  # noqa: PLC0415 (numba's registry, at a heartbeat)

        try:
            compiled = backend_warmup.cache_counts()[1]
        except RuntimeError:  # a dispatcher's statistics changed while read (it is compiling in the main thread)
            return ""
        new, seen[0] = compiled - seen[0], compiled
        if new <= 0:
            return ""
        return (f" [compiling: {count_of(new, 'kernel')} since the last line; `dqsim warmup` compiles them "
                "once ahead]")

    return note


def _progress(comm, enabled: bool, *, resumed: bool = False):
    """Rank 0's progress: a bar on a terminal, else lines (:mod:`dqsim.cli.progress`); nothing when quiet.

    ``resumed``: a resumed run, whose estimates leave out the work done before the checkpoint.

    Returns ``(display, update)``: ``display`` has ``start()``/``stop()``, ``update`` is the
    scenario's ``on_progress``; both None on other ranks and with ``--quiet``.
    """
    if comm.rank != 0 or not enabled:
        return None, None
    if not sys.stdout.isatty():
        log = ProgressLog(sys.stdout, resumed=resumed, note=_compile_note())
        return log, log.update
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn  # noqa: PLC0415

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                   TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), transient=True)
    task = bar.add_task("running", total=None)

    def update(done: float, total: float | None, what: str) -> None:
        bar.update(task, completed=done, total=total, description=what)

    return bar, update


def _edited_inputs(job, names: CheckpointNames, session, comm, *, stop: bool) -> None:
    """Collective, at a new run's start: where its checkpoint folder (or a ``dqsim-VERSION/`` folder of it, since
    2026-12-07 (late afternoon)) holds checkpoints of this job written when a file it reads had other contents
    (:func:`dqsim.cli.edited.edited_runs`; ``names``: the job's checkpoint names, as its ``session`` has them), rank
    0 says so in one line and the run starts from the start, leaving them (those in the folder named as before
    2026-12-07 are kept out of the session's earlier run: :attr:`CheckpointSession.edited`); with ``stop``
    (``--stop-if-edited``: a requeued SLURM job) an unfinished such run in the folder itself stops it instead, on
    every rank.

    Raises:
        DqsimError: with ``stop``, one line naming the file, the newest checkpoint and what to do.
    """
    refusal = None
    if comm.rank == 0:
        directory = job.checkpoint.directory
        found = edited.edited_runs(job, directory, names, set_aside=True)
        session.edited = frozenset(path.name for run in found if run.in_folder(directory) for path in run.paths)
        refusal = edited.refusal_line(found, directory, job) if found and stop else None
        if found and refusal is None:
            print(f"dqsim: note: {edited.note_line(found, directory, job)}", file=sys.stderr, flush=True)
        others = edited.other_configurations(job, directory, names, found)
        if others:  # the job edited since (not a file it reads): its checkpoints stay, under another tag
            print(f"dqsim: note: {edited.other_configurations_line(others, directory, job)}", file=sys.stderr,
                  flush=True)
    refusal = comm.bcast(refusal)
    if refusal is not None:
        raise DqsimError(refusal)


def _run(job, comm, *, quiet: bool, session=None, stop_if_edited: bool = False,
         names: CheckpointNames | None = None, start_over: bool = False) -> int:
    """Collective: run ``job`` (``session``: its checkpoints; ``names``: its checkpoint names, for a run from the
    start: :func:`_edited_inputs` looks for checkpoints of its files' other contents first; ``start_over``: ``dqsim
    run --start-over``, see :func:`_refuse_unfinished`)."""
    if session is not None and names is not None:
        _edited_inputs(job, names, session, comm, stop=stop_if_edited)
    try:
        return _run_locked(job, comm, quiet=quiet, session=session, start_over=start_over)
    except KeyboardInterrupt as interrupt:  # a second Ctrl-C: guarded() names what resumes the run
        interrupt.resumable = _resumable(session)
        raise
    finally:
        checkpoint.release(session)  # the job's lock of its checkpoint folder (rank 0)


def _resumable(session) -> Path | None:
    """Rank 0: the newest complete checkpoint a resume of this run can start from (this run's newest, else the one
    it resumed), or ``None``: for the line of a second Ctrl-C, which writes none."""
    if session is None:
        return None
    written = [path for path in session.written if checkpoint.manifest_path(path).is_file()]
    if written:
        return written[-1]
    resume = session.resume
    return Path(resume.path) if resume is not None and checkpoint.manifest_path(resume.path).is_file() else None


def _refuse_unfinished(job, session, comm, *, start_over: bool) -> None:
    """Collective, for a run from the start once its folder is locked: where the folder holds checkpoints of an
    unfinished run of the job (:attr:`CheckpointSession.earlier`, :func:`dqsim.cli.unfinished.is_unfinished`), stop
    before any work unless ``start_over`` (``dqsim run --start-over``), since 2026-12-07 (late night): before, the run
    started from the start with one note line and removed them at its first checkpoint.

    Raises:
        DqsimError: on every rank, one line naming the newest checkpoint, ``dqsim resume`` and ``--start-over``.
    """
    refusal = None
    if comm.rank == 0 and not start_over and session.earlier is not None \
            and unfinished.is_unfinished(job, session.earlier):
        refusal = unfinished.refusal_line(session.directory, session.earlier)
    refusal = comm.bcast(refusal)
    if refusal is not None:
        raise DqsimError(refusal)


def _note_superseded(session) -> None:
    """Rank 0: say which checkpoints of an earlier run this run removes (or sets aside) at its first checkpoint."""
    if session.other_versions:  # this version cannot resume them: moved aside, not removed
        versions = sorted(set(session.other_versions.values()))
        folders = ", ".join(str(checkpoint.set_aside_folder(session.directory, version)) for version in versions)
        print(f"dqsim: note: {session.directory} holds "
              f"{count_of(len(session.other_versions), 'checkpoint')} of this job written by dqsim "
              f"{', '.join(versions)} (this is dqsim {dqsim.__version__}); this run moves them to {folders} when it "
              "writes its first checkpoint, where that version can still resume them", file=sys.stderr, flush=True)
    removed = [path for path in session.superseded if path not in session.other_versions]
    if session.earlier is not None:  # the job was interrupted before, and is now run again
        print(f"dqsim: note: {session.directory} already holds checkpoints of this job (the newest: "
              f"{session.earlier}; if its run was interrupted, dqsim resume {session.earlier} continues it); "
              "this run starts from the start and removes them when it writes its first checkpoint",
              file=sys.stderr, flush=True)
    elif removed:  # a resume of an older checkpoint: the later ones are another run's
        newest = removed[-1]  # oldest first (checkpoint.prepare_directory)
        print(f"dqsim: note: {session.directory} holds {count_of(len(removed), 'checkpoint')} of this "
              f"job later than the one resumed (up to {newest.name}); this run removes them when it writes its "
              "first checkpoint", file=sys.stderr, flush=True)


def _run_locked(job, comm, *, quiet: bool, session=None, start_over: bool = False) -> int:
    started = time.perf_counter()
    output = Path(job.run.output)
    # the run may write checkpoints (its folder is made now): a job ended in the state's write says to run it again
    # where it writes none (none to resume)
    checkpointed = session is not None and bool(job.checkpoint.every_wall_s or job.checkpoint.every_sim_s
                                                 or session.resume is not None)
    if session is not None:
        checkpoint.prepare_directory(session, comm, create=checkpointed)
        _refuse_unfinished(job, session, comm, start_over=start_over)
        _note_superseded(session)  # rank 0 only: the others know of none
    error = None
    # rank 0 alone; the others sleep between polls (a RootTask) rather than spin in a blocking bcast: the repeater
    # "link" policy's warning samples for 3-5 s of CPU on a 64 x 64 sweep
    task = comm.start_root_task(0)
    if comm.rank == 0:
        for line in job.warnings():  # allowed, but likely regretted (a cut-off that abandons most attempts)
            print(f"dqsim: warning: {line}", file=sys.stderr, flush=True)
        try:
            io.prepare_output(output)  # before the work: an output that cannot be written is found now
        except DqsimError as exc:
            error = str(exc)
        if error is None and output.suffix.lower() not in (".h5", ".hdf5"):
            print(f"dqsim: note: {output}: the output is an HDF5 run file, written under this name as given "
                  "(dqsim inspect, plot and merge read it whatever its name); name it .h5 to tell it apart",
                  file=sys.stderr, flush=True)
        error = task.finish(error)
    else:
        error = task.wait(notify=lambda: False)
    if error:
        raise DqsimError(error)
    backend = backend_mod.select(job.run.backend, node_local_rank=comm.node_local_rank,
                                 node_local_size=comm.node_local_size)
    resume = session.resume if session is not None else None
    bar, update = _progress(comm, not quiet, resumed=resume is not None)
    if bar is not None:
        bar.start()
        update(0, None, f"{job.scenario} {job.run.name}")
    try:
        result = scenarios.run_job(job, comm=comm, backend=backend, on_progress=update, checkpointing=session)
    finally:
        if bar is not None:
            bar.stop()
    if resume is not None and session.engine_runs <= resume.engine_run:
        raise DqsimError(f"{resume.path}: it was written in engine run {resume.engine_run}, but this job has "
                         f"{session.engine_runs}; the checkpoint does not belong to it")
    attrs = {**_common_attributes(job, comm, backend), **result.attrs}
    if session is not None:  # checkpoint writes that failed (the run went on without them), resumed ones' included
        attrs["num_failed_checkpoints"] = session.num_failed
    exchange_path = getattr(result.state, "exchange_path", None)
    if exchange_path is not None and comm.size > 1:  # a sharded state on several ranks
        attrs["exchange_path"] = exchange_path
    if session is not None:  # a stop during the scenario's last tables (qkd, repeater, cloud): checkpoint now
        session.stop_point()
    write_started = time.perf_counter()
    # the writes of the output are cut short by a stop signal where the scenario's finished engine run can be
    # checkpointed instead: a state above max_gather_qubits at the looks every rank takes in its write (each
    # rank's slab file goes), then rank 0's write of the run file, on a signal that rank 0 got or that another
    # rank got and told it of (comm.RootTask), between tables, pieces of a gathered state and the steps of the
    # file's end (the temporary file goes; state slab files, every rank its own)
    cuttable = session is not None and session.finished_run is not None
    try:
        state_kwargs = _state_for_output(job, comm, result.state, output, checkpointed=checkpointed,
                                         cut_on=checkpoint.stop_requested if cuttable else None)
    except io.StateWriteCut:  # on every rank, at the same look; no file of the write is left
        session.stop_point()  # every rank agrees, writes the checkpoint and stops
        state_kwargs = _state_for_output(job, comm, result.state, output)  # (not reached while the run checkpoints)
    timing = result.tables.get("timing")
    identity = session.identity if session is not None else {}
    attrs["wall_time_s"] = time.perf_counter() - started
    task = comm.start_root_task(WRITING_RANK)
    if comm.rank == WRITING_RANK:  # (the rank the scenarios make their writer-only tables on)
        if timing is not None:
            rows = [(str(stage), float(seconds)) for stage, seconds in timing]
            rows.append(("write", time.perf_counter() - write_started))
            result.tables["timing"] = scenarios.record_table(rows, [("stage", "U"), ("seconds", "f8")])
        error, cut = task.finish(_write_output(output, attrs, result, state_kwargs, identity=identity,
                                               cut_on_stop=task if cuttable else None))
    else:  # every rank: written, failed or cut
        error, cut = task.wait(notify=checkpoint.stop_requested)
    if cut:
        try:
            session.stop_point()  # a rank was asked to stop: every rank agrees, writes the checkpoint and stops
        except BaseException:
            _discard_state(job, comm, result.state, output)
            raise
        if comm.rank == WRITING_RANK:  # (not reached while the finished run checkpoints; else the write is done whole)
            error, _ = _write_output(output, attrs, result, state_kwargs, identity=identity, cut_on_stop=None)
        error = comm.bcast(error if comm.rank == WRITING_RANK else None, root=WRITING_RANK)
    damaged = _damaged_before_removal(session, output, comm) if error is None else None
    if comm.rank == 0:
        failed = _checkpoint_lines(session)  # (names the last good checkpoint, before they go)
        removed = checkpoint.remove_when_done(session, output, damaged) if error is None else None  # output whole
        if not quiet and error is None:
            head = (f"dqsim run {job.run.name} ({job.scenario}): {comm.size} rank(s), {attrs['device']}, "
                    f"{job.run.precision}")
            if "exchange_path" in attrs:
                head += f"; exchanges: {attrs['exchange_path']}"
            if resume is not None:
                head += f"; resumed from {resume.path}"
            tail = f"  wall time {attrs['wall_time_s']:.3f} s; wrote {output}"
            print("\n".join([head, *result.summary, *failed, *([removed] if removed else []),
                             tail]))
    if error is not None:
        raise DqsimError(_with_size_options(job, error, gathered=result.state is not None
                                            and not _saves_sharded(job, result.state)))
    if checkpoint.stop_agreed(comm) and comm.rank == 0:  # came after the scenario's last stop point
        print(f"dqsim: note: a stop signal came after the simulation's last step, while its results were "
              f"tabulated or written; the run finished that work instead of stopping: {output} is complete "
              "(exit status 0, nothing to resume)", file=sys.stderr, flush=True)
    return 0


def _damaged_before_removal(session, output: Path, comm) -> str | None:
    """Collective, once the output is written: why a state slab file of ``output`` differs from its manifest (one
    line, on rank 0; ``None``: every byte matches), read only where the run is to remove its checkpoints
    (:func:`dqsim.engine.checkpoint.checkpoints_to_remove`, which rank 0 knows): every rank reads its share, every
    byte, with :func:`dqsim.cli.finished.damaged_slab`, as ``--skip-finished`` and ``dqsim clean`` do."""
    if session is None:  # (alike on every rank)
        return None
    if not comm.bcast(bool(checkpoint.checkpoints_to_remove(session)) if comm.rank == 0 else None):
        return None
    found = comm.gather(damaged_slab(output, comm.rank, comm.size))
    return next((line for line in found if line is not None), None) if comm.rank == 0 else None


class _OutputCut(Exception):
    """Raised in rank 0's output write by a stop signal (:func:`_cut_on_stop`): the write is abandoned."""


def _cut_on_stop(task) -> None:
    """Rank 0, between the tables of its output write: abandon the write when a stop signal came here, or came
    to a rank that waits for the write and told rank 0 of it (``task``, a :class:`dqsim.comm.RootTask`)."""
    if checkpoint.stop_requested() or task.notified():
        raise _OutputCut


def _write_output(output: Path, attrs: dict, result, state_kwargs: dict, *, identity: dict, cut_on_stop) -> tuple:
    """Rank 0: write the run file, its manifest recording the run's ``identity``
    (:attr:`dqsim.engine.checkpoint.CheckpointSession.identity`); ``(error, cut)``: why it failed (one line) or
    ``None``, and whether a stop
    signal cut it short (``cut_on_stop``: the :class:`dqsim.comm.RootTask` of the write, or ``None``: not cut;
    its temporary file is removed, ``output`` is left as it was)."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        between = None if cut_on_stop is None else lambda: _cut_on_stop(cut_on_stop)
        io.write_run_file(output, attrs=attrs, tables=result.tables, groups_attrs=result.table_attrs,
                          manifest=True, between=between, **state_kwargs,
                          manifest_facts={**identity, "dqsim_version": dqsim.__version__,
                                          "dqsim_commit": provenance.code_commit()})
    except _OutputCut:
        return None, True
    except (DqsimError, OSError) as exc:  # every rank raises it after the broadcast: none waits for rank 0
        return (str(exc) if isinstance(exc, DqsimError) else f"{output}: cannot write the file ({exc})"), False
    return None, False


def _checkpoint_lines(session) -> list[str]:
    """The summary's line on checkpoints that failed to write (none when every write succeeded)."""
    if session is None or not session.num_failed:
        return []
    kept = f"the last good one is {session.written[-1]}" if session.written else "none was kept"
    return [f"  checkpoints: {session.num_failed} failed to write (warnings above; the results are complete); "
            f"{kept}"]


def _common_attributes(job, comm, backend) -> dict:
    return {
        "scenario": job.scenario,
        "job_name": job.run.name,
        "job_text": job.text,
        "job_path": str(job.path) if job.path else "",
        "overrides": list(job.overrides),
        "overrides_from_job": jobs.overrides_from_job(job),
        "seed": job.run.seed,
        "num_ranks": comm.size,
        "backend": backend.name,
        "device": backend.kernel_name(),
        "compiled_kernels": backend.fast.name if backend.fast is not None else "none",
        "precision": job.run.precision,
    }


def _saves_sharded(job, state) -> bool:
    """Whether ``save_state`` writes the final state sharded (every rank its part, :func:`_state_for_output`)."""
    simulation = getattr(job, "simulation", None)
    return (state is not None and simulation is not None and bool(simulation.save_state)
            and state.num_qubits > simulation.max_gather_qubits)


def _discard_state(job, comm, state, output: Path) -> None:
    """Every rank: remove the state slab file it wrote for ``output`` (its run file's write was abandoned)."""
    if _saves_sharded(job, state):
        io.discard_sharded_state(output.with_suffix(""), comm=comm)


def _state_for_output(job, comm, state, output: Path, *, cut_on=None, checkpointed: bool = True) -> dict:
    """Collective: gather the final state, or write it sharded, when ``save_state``.

    Up to ``max_gather_qubits`` rank 0 gets the whole vector; above, every
    rank writes its slab, or its ``1/P`` of a register every rank holds whole
    (:func:`dqsim.engine.checkpoint.write_state`, :func:`dqsim.io.write_sharded_state`:
    one collective file with parallel HDF5, else ``<output stem>.slabNNNN.h5`` files),
    looking for a stop with ``cut_on`` (:func:`dqsim.engine.checkpoint.stop_requested`;
    :class:`dqsim.io.StateWriteCut` on every rank when one came). ``checkpointed``: the run may have written
    checkpoints (:func:`dqsim.engine.checkpoint.write_state`).
    Returns rank 0's extra ``write_run_file`` arguments.
    """
    simulation = getattr(job, "simulation", None)
    if state is None or simulation is None or not simulation.save_state:  # cloud: a [simulation] without save_state
        return {}
    if not _saves_sharded(job, state):
        vector = state.gather()
        return {"state": vector} if comm.rank == 0 else {}
    # (a register every rank holds whole, dqc.register_comm, is written once: each rank its 1/P of it)
    try:
        return checkpoint.write_state(state, output.with_suffix(""), comm=comm, cut_on=cut_on,
                                      checkpointed=checkpointed)
    except DqsimError as exc:  # on every rank
        raise DqsimError(_with_size_options(job, str(exc), gathered=False)) from None


def _with_size_options(job, error: str, *, gathered: bool) -> str:
    """``error``, a failed write of the output, with what makes its files smaller where one was larger than a file
    may be (``EFBIG``, :func:`dqsim.io.file_too_large`); else as it is.

    ``gathered``: the state went into the run file (up to ``max_gather_qubits``), else every rank wrote its part.
    """
    if not io.file_too_large(error):
        return error
    simulation = getattr(job, "simulation", None)
    limit = getattr(simulation, "max_gather_qubits", None)
    if gathered and limit is not None:
        return (f"{error}; the output goes to -o ([run].output), and a state of more than "
                f"[simulation].max_gather_qubits = {limit} qubits goes to slab files beside it, one per rank")
    if not gathered:
        return f"{error}; the output goes to -o ([run].output), and each rank's slab file holds its 1/P of the state"
    return f"{error}; the output goes to -o ([run].output)"

if __name__ == "__main__":
    raise SystemExit(main())
