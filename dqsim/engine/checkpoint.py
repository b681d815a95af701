"""Checkpoints of engine runs: the whole engine state at a cut in simulated time.

A checkpoint is taken right after an exchange that ends at a cut: every
rank has run exactly the events before it and no message is in flight
(:meth:`dqsim.engine.simulator.Simulator.run` says where cuts fall); on one
rank, one asked for (a stop, the wall-clock period) also between two
instants of an iteration where no node waits for a flush. It
stores

* the state vector (one slab per rank, in logical order, with per-slab
  checksums — :mod:`dqsim.io`), the random-stream counters and last-touch
  times of the quantum memory;
* per node that holds an engine record (:meth:`~dqsim.engine.simulator.Simulator.node_snapshots`; a node
  nothing has reached has none, and none is saved), one pickled record with a SHA-256, all of them in one
  table with an index (:data:`NODE_INDEX`): the event queue (messages
  in flight to the node included), mailbox, waiting and blocked processes,
  clock and counters, random streams, ``node_data``, unflushed quantum
  operations, timeline entries and the live processes — resumable ones with
  their protocol state, plain generators as function, arguments and step log
  (:mod:`dqsim.engine.process`);
* a shared record: pending quantum operations (and which carried small
  states are installed already), statistics and engine counts so far
  (per-rank counts summed), the next periodic cut, and each rank's outcome
  of the exchange it follows (horizons, starved peers, event budget, and
  on one rank the events left of an iteration it was written inside: a
  resume on as many ranks goes on from there, with the uninterrupted run's
  exchanges and counts);
* the results of the scenario's engine runs that had finished (a sweep runs
  several), so a resumed sweep does not redo them;
* the simulated time of the cut, the job text and its hash, the dqsim
  version, ranks, backend and precision.

Resuming rebuilds the run from the stored job text, loads on each rank the
records of the nodes placed there that were saved (:func:`saved_node_records`, each
checked against its SHA-256; any power-of-two number of ranks: the
state is re-sliced and nodes re-placed; the engine's results do not depend
on where its exchanges fall, so a cut serves any rank count), re-executes
plain processes from their logs with every effect muted, and goes on from
the cut. No state-vector work and no
resumable process's work is redone; plain processes redo their own
classical steps only.

A checkpoint is the files ``NAME.HHHHHHHH.ckptRRR-TTTT.h5`` (NAME the job's
``[run].name``, HHHHHHHH its configuration hash, :func:`checkpoint_prefix`;
RRR the engine run, TTTT the cut in ps), its slab files
``….slabNNNN.h5`` (state not written through parallel HDF5) and, written
last and atomically, the manifest ``….manifest.json``
(:mod:`dqsim.io.manifest`): size and SHA-256 of every byte of every file,
the job's name, text hash and configuration hash, the dqsim version and
commit, the engine run, the cut and the number of ranks, and the run's
identity (:attr:`CheckpointSession.identity`: its run id, drawn at the run's
start by :func:`start_run_id` and kept by a resume, the ``--set`` overrides,
the output file and the input files' hashes), which the output's manifest
records too. The HDF5 attributes also hold the job file's folder, as an
absolute path and (since 2026-12-07) relative to the checkpoint's folder,
where ``dqsim resume`` of a moved project looks for the files the job reads
first. A resume by another commit of the same version warns in one
line (``dqsim resume``).
Resuming reads the manifest and checks every file against it (the ranks
share the hashing) *before* HDF5 opens any of them; then the HDF5 attributes
are checked against the manifest and the file name. A checkpoint without a
manifest is incomplete: it is refused, and the next run or resume of the same
job removes it (:func:`prepare_directory`). Older checkpoints beyond ``keep``
are deleted only after the new manifest is written, manifest first; a write
that fails for lack of room removes them sooner, all of this run's but the
newest whole one, and is tried once more (:meth:`Checkpointer.write`).

The ``circuit`` scenario (no engine) writes its gate boundaries through
:class:`Checkpointer` too (:mod:`dqsim.scenarios.circuit_checkpoint`): one
engine run, ``TTTT`` its position in the gate schedule, no nodes.

Records are unpickled through an allow-list (:data:`ALLOWED_GLOBALS`): only
the dqsim classes and functions listed there, a few builtins and NumPy's
array and scalar constructors can be named by a checkpoint, so a crafted
file cannot run code. SIGUSR1 or SIGTERM asks for a checkpoint at the next
cut, after which the run stops with :data:`EXIT_CHECKPOINTED`; after the
engine's last step, a scenario's work on the final state asks at its stop
points (:meth:`Checkpointer.stop_after_run`: a checkpoint of the finished
run), as do the tables and the output write of ``dqc``, ``trotter``, ``qkd``,
``repeater`` and ``cloud`` (:meth:`CheckpointSession.stop_point`; a state
every rank writes looks at the same collective places on every rank,
:func:`write_state` with ``cut_on``; rank 0's write hears of a signal that
reached only a rank waiting for it, :class:`dqsim.comm.RootTask`, as does
``qkd``'s writer while it makes the tables, :func:`dqsim.scenarios.qkd.writer_alone`). A
periodic checkpoint that cannot be written is a warning, and the run goes
on (:meth:`Checkpointer.write`).

One run of a job at a time uses its checkpoints in a folder (a ``flock``,
:func:`prepare_directory`; a run without periodic checkpoints whose folder
does not exist takes it at its first checkpoint, a stop's), and a run's
first checkpoint removes the checkpoints an earlier run of the job left
beyond where this one started (:func:`retire_superseded`), so the newest checkpoint of a job in a folder
is always its latest run's. Those written by another dqsim version are moved
into ``dqsim-VERSION/`` in the folder instead, names unchanged: that version
can still resume them. ``dqsim clean`` finds a job's (or every job's)
checkpoints there and in those folders (:func:`stored_checkpoints`) and
removes, holding the same lock (:func:`lock_folder`), those of runs whose
output is whole and records their run id (:mod:`dqsim.cli.clean`).
"""

from __future__ import annotations

import errno
import fcntl
import glob
import hashlib
import io as _bytes_io
import json
import math
import os
import pickle
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import dqsim
from dqsim import io
from dqsim import comm as comm_mod
from dqsim.errors import DamagedFileError, DqsimError, count_of, toml_repr
from dqsim.io import manifest, provenance
from dqsim.io.atomic import temporary_path
from dqsim.io.sharded import StateWriteCut, slab_path
from dqsim.units import PS_PER_S

#: Exit status of a run that stopped after writing a checkpoint (EX_TEMPFAIL).
EXIT_CHECKPOINTED = 75

#: Exit status of a run that a signal stopped where it could not checkpoint (a ``circuit`` run called
#: without a checkpoint session, :func:`dqsim.scenarios.circuit_run.run_circuit_job`): nothing was
#: written; run the job again (128 + SIGTERM, as a shell reports it).
EXIT_STOPPED = 143

_STOP = {"requested": False, "checkpointed": False, "rank_0_decides": False, "deferred": False, "again": False,
         "kept": None}


def request_stop(signum=None, frame=None) -> None:
    """Signal handler: checkpoint at the next cut, then stop; a second Ctrl-C (SIGINT) stops at once, unless
    the stop's checkpoint is written already (:func:`stop_checkpointed`): the run ends with status 75 then,
    and a ``KeyboardInterrupt`` would only turn its line and status into 130 and "wrote nothing more".

    A rank other than 0 that has handed its part of the stop's checkpoint to rank 0 (:func:`_rank_0_decides`)
    takes no second Ctrl-C (since 2026-12-07 (late afternoon)): rank 0 alone then either completes the checkpoint
    (every rank ends with 75) or, taking one itself, removes it and ends every rank (130). Before, such a rank,
    waiting for rank 0's manifest, ended every rank with 130 where rank 0 would have completed the checkpoint.

    While the ranks write their slabs of a checkpoint (:func:`_defer_second`) a second Ctrl-C is only noted
    (:func:`second_signal_noted`): the ranks agree on it at the write's next collective look and every rank
    ends alike, no file of that checkpoint left (since 2026-12-07 (night); before, the rank that took it ended
    every rank from there, and the others' slabs stayed without a manifest). One that rank 0 takes once its run
    file is written (as it removes older checkpoints, or at the write's last collective) is noted too, and at the
    write's end every rank ends with 130, naming that checkpoint, complete (since 2026-12-07 (night); before, it
    was forgotten there, and a periodic checkpoint's run went on to its stop and 75)."""
    if signum == signal.SIGINT and _STOP["requested"] and not _STOP["checkpointed"]:
        if _STOP["rank_0_decides"]:
            return
        if _STOP.get("deferred"):
            _STOP["again"] = True
            return
        raise KeyboardInterrupt
    _STOP["requested"] = True


def _rank_0_decides(deciding: bool) -> None:
    """From now on (``deciding``) until the write ends, a second Ctrl-C on this rank (not rank 0) is left to rank 0
    (:func:`request_stop`)."""
    _STOP["rank_0_decides"] = deciding


def _defer_second(deferring: bool) -> None:
    """From now on (``deferring``) a second Ctrl-C on this rank is noted, not raised (:func:`request_stop`), for
    the ranks to agree on (:func:`second_signal_noted`); off: raised again, and any noted one forgotten."""
    _STOP["deferred"] = deferring
    if not deferring:
        _STOP["again"] = False


def _take_deferred() -> None:
    """End the deferral (:func:`_defer_second`) and raise a second Ctrl-C noted during it, as one outside a
    checkpoint's write raises: nothing noted is lost between the look and the end (the deferral ends first).

    Raises:
        KeyboardInterrupt: a second Ctrl-C was noted.
    """
    _STOP["deferred"] = False
    if _STOP.get("again"):
        _STOP["again"] = False
        raise KeyboardInterrupt


def second_signal_noted() -> bool:
    """Whether a second Ctrl-C came to this rank while it was deferred (:func:`_defer_second`): the ``cut_on`` of a
    checkpoint's state write on several ranks (:func:`write_state`)."""
    return bool(_STOP.get("again"))


class SecondSignalAgreed(KeyboardInterrupt):
    """A second Ctrl-C during a checkpoint's write on several ranks, raised on every rank alike once they agreed
    on it (:meth:`Checkpointer.write`): no file of that checkpoint is left, and every rank can end normally (130)
    rather than through ``MPI_Abort`` (:func:`dqsim.cli.main.guarded`)."""


def stop_checkpointed() -> None:
    """The checkpoint a stop asked for is complete (its manifest written and synced): from now on a second
    Ctrl-C has nothing left to cut short, and :func:`request_stop` lets the run end as a stop (status 75); one
    noted since the ranks' last look (:func:`second_signal_noted`, on rank 0 after its run file) is forgotten."""
    _STOP["checkpointed"] = True
    _STOP["again"] = False


def takes_signals() -> bool:
    """Whether a run in this thread takes the stop signals (:func:`install_signal_handlers`): Python sets
    signal handlers in the main thread only."""
    return threading.current_thread() is threading.main_thread()


def install_signal_handlers() -> None:
    """Make SIGUSR1, SIGTERM and Ctrl-C (SIGINT) request a checkpoint-and-stop (call once per process).

    SIGINT is taken only where Python's own handler has it (not where the
    launcher made the process ignore it). ``mpiexec`` forwards Ctrl-C to every
    rank: as KeyboardInterrupt, one rank would leave while the others wait for
    it in a collective.

    Outside the main thread (:func:`takes_signals`: a run that a program starts in a thread of its own)
    nothing is installed, Python allowing no other: the program's handlers stay, and one that wants a
    checkpoint-and-stop calls :func:`request_stop`.
    """
    if not takes_signals():
        return
    for sig in (signal.SIGUSR1, signal.SIGTERM):
        signal.signal(sig, request_stop)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, request_stop)


def stop_requested() -> bool:
    return _STOP["requested"]


def forget_stop() -> None:
    """Forget a stop that was asked for (:func:`request_stop`), and its checkpoint: the run it was meant for
    has ended."""
    _STOP["requested"] = False
    _STOP["checkpointed"] = False
    _STOP["rank_0_decides"] = False
    _STOP["kept"] = None
    _defer_second(False)


def stop_agreed(comm) -> bool:
    """Collective: whether any rank was asked to stop (all ranks get the same answer)."""
    return bool(comm.allreduce_max(int(stop_requested())))


class RunStopped(Exception):
    """Raised on every rank when a signal stopped a run that writes no checkpoints (exit :data:`EXIT_STOPPED`)."""


def warn_on_stderr(line: str) -> None:
    """Print ``dqsim: warning: LINE`` on stderr (the default :attr:`CheckpointSession.warn`)."""
    print(f"dqsim: warning: {line}", file=sys.stderr, flush=True)


def _one_line(exc: BaseException) -> str:
    """An error's message as one line (its first)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def job_hash(job_text: str) -> str:
    """SHA-256 of a job file's text (identifies the job a checkpoint belongs to)."""
    return hashlib.sha256(job_text.encode()).hexdigest()


def start_run_id(comm, resume: "Resume | None" = None) -> str:
    """Collective, at a run's start: its run id (:func:`dqsim.io.provenance.new_run_id`), the same on every rank.

    A resume goes on with the run id its checkpoint records (the same run); a run from the start, or the resume
    of a checkpoint written before run ids (2026-12-06), draws a new one on rank 0 and sends it to the others.
    """
    if resume is not None and resume.run_id is not None:
        return resume.run_id
    return comm.bcast(provenance.new_run_id() if comm.rank == 0 else None)


class CheckpointRefused(DqsimError):
    """A checkpoint :func:`read_checkpoint` refused (raised on every rank, alike).

    ``str()`` is the one line (the reason, then the previous checkpoint to resume
    if there is one; where there is none, with ``folder``, that the job must run
    again: since 2026-12-07 (morning), before a damaged checkpoint alone in its
    folder was refused without a word of what to do); ``reason`` the reason alone;
    ``previous`` the newest older complete checkpoint of the same job in the same
    folder, or ``None``; ``folder``: the refused checkpoint's folder, where the
    checkpoint's files are there (not for a name that is no file or a folder).
    """

    def __init__(self, reason: str, previous: Path | None, *, folder: Path | None = None):
        if previous:
            hint = f"; the previous checkpoint of this job is {previous}: resume that one"
        elif folder is not None:
            hint = (f"; {folder} holds no older checkpoint of this job to resume instead: run the job again "
                    "(dqsim run with its job file)")
        else:
            hint = ""
        super().__init__(f"{reason}{hint}")
        self.reason = reason
        self.previous = previous


class RestoreRefused(Exception):
    """Raised on every rank by :meth:`Checkpointer.restore` when the register's slabs, hashed as they are read,
    differ from the checkpoint's manifest: ``refusal`` is the :class:`CheckpointRefused` that
    :func:`read_checkpoint` would have raised (``dqsim resume`` raises it, or with ``--fall-back`` resumes the
    previous checkpoint).

    Not a :class:`DqsimError`, which a scenario may take for a failure of its own work (a ``cloud`` user job
    that fails is recorded and the queue goes on): this ends the run.
    """

    def __init__(self, refusal: CheckpointRefused):
        super().__init__(str(refusal))
        self.refusal = refusal


class StopNotCheckpointed(Exception):
    """Raised on every rank when the checkpoint a stop signal asked for cannot be written (one line; exit 2).

    Not a :class:`DqsimError`, which a scenario may take for a failure of its own work (a ``cloud`` user
    job that fails is recorded and the queue goes on): this ends the run.
    """


class CheckpointStop(Exception):
    """Raised on every rank after the checkpoint a stop request asked for was written.

    ``written``: false where the last :meth:`Checkpointer.write` wrote nothing, a stop right after a resume keeping
    the resumed checkpoint ``path`` as it is (:func:`kept_unwritten`), which the stop's line then says.
    """

    def __init__(self, path: Path):
        super().__init__(f"stopped after writing checkpoint {path}")
        self.path = path
        self.written = path is None or kept_unwritten() != path
        stop_checkpointed()  # (raised only once that checkpoint is complete, or kept as it was)


def kept_unwritten() -> Path | None:
    """The resumed checkpoint that this process's last :meth:`Checkpointer.write` returned without writing anything
    (a stop right after the resume, nothing run since: it stands as it is), or ``None``."""
    return _STOP.get("kept")


@dataclass
class Resume:
    """What a resumed run needs from its checkpoint (identical on every rank)."""

    path: Path
    engine_run: int
    window_end_ps: int
    streams: dict
    last_touched: dict
    has_state: bool
    shared: bytes | None = None
    num_ranks: int = 0
    num_amplitudes: int = 0
    record_checksums: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    num_failed: int = 0
    prefix: str = ""
    config_sha256: str | None = None
    run_id: str | None = None
    dqsim_commit: str | None = None


@dataclass
class CheckpointSession:
    """Checkpoint settings and bookkeeping of one ``dqsim run`` / ``dqsim resume``.

    Args:
        directory: where checkpoints go.
        prefix: file name prefix (:func:`checkpoint_prefix`: the job's name and configuration hash).
        job_text: the job file's text (stored, and hashed to check a resume).
        meta: attributes stored with every checkpoint (scenario, backend, ...).
        every_wall_s / every_sim_s: triggers (``None``: off).
        keep: checkpoints kept.
        keep_when_done: keep this run's checkpoints once its output is whole (``[checkpoint].keep_when_done``);
            ``False``: :func:`remove_when_done` removes them then.
        resume: set when resuming.
        num_failed: checkpoint writes of the run that failed (counted on, from the checkpoint, when resuming).
        warn: called on rank 0 with one line when a checkpoint cannot be written (default: to stderr).
        config_sha256: the job's configuration hash (:func:`dqsim.jobs.config_sha256`), stored in the
            checkpoints (``None``: none, as in older ones).
        earlier: set on rank 0 by :func:`prepare_directory` for a run from the start: the newest
            complete checkpoint of the same job already in the folder (an earlier run's), else ``None``.
        superseded: set on rank 0 by :func:`prepare_directory`: the job's checkpoints in the folder beyond
            where this run starts (all of them for a run from the start; those after the resumed one), an
            earlier run's, oldest first (by engine run and cut), which :func:`retire_superseded` removes at
            this run's first checkpoint write.
        other_versions: set with ``superseded``: those of them that another dqsim version wrote (path ->
            version, :func:`written_by`), which that write moves into ``dqsim-VERSION/`` instead
            (:func:`set_aside_folder`): this version cannot resume them, that one still can.
        lock: rank 0's ``(descriptor, path)`` of the job's lock file in the folder (:func:`prepare_directory`),
            or ``None``.
        locked_out: set on rank 0 when another run of the job held that lock (its holder): this run, which
            writes no periodic checkpoints, writes none there (a stop's fails in one line).
        folder_deferred: set on rank 0 by :func:`prepare_directory` for a run without periodic checkpoints
            whose folder did not exist: it creates none, and its first checkpoint (a stop's) creates the
            folder and takes the lock first (:meth:`Checkpointer.write`), as :func:`prepare_directory`
            would have.
        source: the job's ``job.source`` (its file), which starts the job-file errors of the session
            (``""``: none).
        former_prefix: the job's prefix as checkpoints were named before 2026-12-07, where it differs
            (:func:`dqsim.jobs.config_sha256_by_path`: a job that reads a QASM file), else ``None``: a run
            from the start counts that prefix's complete checkpoints in the folder among the job's
            (``earlier``, ``superseded``) unless another run holds their lock, but those named in
            ``edited``.
        edited: names of run files of the job's checkpoints written when a file it reads had other contents
            (:mod:`dqsim.cli.edited`, which sets it on rank 0 before :func:`prepare_directory`): a run from the
            start leaves them, not an earlier run's. Only those of ``former_prefix`` matter here: a file edited
            in place keeps that prefix (it counted the file's path), where the prefix now counts its SHA-256.
            Before 2026-12-07 (later) they were taken for the job's own earlier run's and removed.
        identity: the run's identity (:data:`dqsim.io.manifest.RUN_IDENTITY_KEYS`: its run id, ``--set``
            overrides, output, input files' hashes), stored in every checkpoint manifest (:meth:`Checkpointer._facts`)
            besides the configuration hash and the dqsim version and commit; ``{}``: none (as older checkpoints).
        finished_run: the :meth:`~dqsim.engine.simulator.Simulator.stop_point` of the engine run that
            finished last, set by a scenario whose work after it (tables, summaries, the output write)
            should checkpoint that run on a stop signal (:meth:`stop_point`); released when the next
            engine run is about to start (:meth:`stored_next`, :meth:`next_engine_run`), so its engine
            and register go before the next run builds its own. Or a scenario's own collective call that
            checkpoints on a stop signal that any rank got (trotter after runs shared out over the ranks, none
            of which ran on every rank: it runs one of them again, :meth:`run_again`). ``None``: no such run.
    """

    directory: Path
    prefix: str
    job_text: str
    meta: dict
    every_wall_s: float | None = None
    every_sim_s: float | None = None
    keep: int = 2
    keep_when_done: bool = False
    resume: Resume | None = None
    engine_runs: int = 0
    written: list = field(default_factory=list)
    results: dict = field(default_factory=dict)
    last_wall: float = field(default_factory=time.monotonic)
    num_failed: int = 0
    warn: Callable[[str], None] = field(default=None)
    config_sha256: str | None = None
    earlier: Path | None = None
    superseded: list = field(default_factory=list)
    other_versions: dict = field(default_factory=dict)
    lock: tuple | None = None
    locked_out: str | None = None
    folder_deferred: bool = False
    source: str = ""
    former_prefix: str | None = None
    edited: frozenset = frozenset()
    identity: dict = field(default_factory=dict)
    finished_run: Callable[[], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.resume is not None:
            self.results = dict(self.resume.results)
            self.num_failed = self.resume.num_failed
        if self.warn is None:
            self.warn = warn_on_stderr

    def stored_next(self, default=None, *, rerun: bool = False):
        """The stored result of the next engine run, if it had finished before the resumed checkpoint.

        A scenario that runs the engine several times (a sweep, a series of
        time points, a queue of user jobs) calls this before each run: when
        it returns a result, the run's index is used up and the scenario
        skips the run; otherwise it returns ``default`` and the scenario runs
        it and hands a picklable summary to :meth:`store_last`. With
        ``rerun`` it returns ``default`` also for a run that had finished:
        one whose stored summary is not enough (trotter's run whose final
        state the output keeps), run again (its seed gives the same result).
        """
        self.finished_run = None  # the next run starts (or is skipped): the last one's engine may go
        index = self.engine_runs
        if rerun:
            return default
        if self.resume is not None and index < self.resume.engine_run and index in self.results:
            self.engine_runs += 1
            return self.results[index]
        return default

    def store_last(self, result, *, replaces: int | None = None) -> None:
        """Keep the summary of the engine run that just finished; later checkpoints save it.

        ``replaces``: the index of an earlier run whose summary ``result`` folds in (a cloud user job's
        runs so far), dropped, so the checkpoints hold one summary per fold and not one per engine run.
        """
        if self.engine_runs:
            if replaces is not None and replaces != self.engine_runs - 1:
                self.results.pop(replaces, None)
            self.results[self.engine_runs - 1] = result

    def stored_among(self, count: int) -> list[tuple[int, object]]:
        """The stored results of the next ``count`` engine runs that had finished when the resumed checkpoint
        was written, ``(index, result)`` in index order (empty when not resuming).

        Unlike :meth:`stored_next` it also gives the result of the checkpoint's own engine run when it was
        stored (that run had finished before the checkpoint: a stop after it), for scenarios whose stored
        summaries fold several runs (:meth:`store_last` with ``replaces``) and so need not run it again.
        Uses nothing up: the scenario calls :meth:`skip_to` for what it takes.
        """
        resume = self.resume
        first = self.engine_runs
        if resume is None or first > resume.engine_run or count < 1:
            return []
        last = min(first + count - 1, resume.engine_run)
        return [(index, self.results[index]) for index in range(first, last + 1) if index in self.results]

    def skip_to(self, index: int) -> None:
        """Make engine run ``index`` the next to start: the runs before it are taken from stored results
        (:meth:`stored_among`); the last run's engine, if any, may go."""
        self.finished_run = None
        self.engine_runs = max(self.engine_runs, int(index))

    def next_engine_run(self) -> int:
        """Index of the engine run about to start (scenarios may run several, e.g. a sweep)."""
        self.finished_run = None
        index = self.engine_runs
        self.engine_runs += 1
        return index

    def run_again(self, index: int) -> None:
        """Make engine run ``index`` the next to start, again, without its stored result: a checkpoint written in it
        holds the results of every other finished run, and its resume continues that run from there.

        For a stop signal after engine runs that wrote no checkpoints (trotter's runs shared out over the ranks,
        each on one rank alone): the scenario runs one of them again on every rank with checkpoints, and the stop
        makes its engine checkpoint at its first cut. ``index`` comes after a resumed checkpoint's run, so the run
        writes checkpoints and does not restore that one.

        Raises:
            ValueError: ``index`` is not after the resumed checkpoint's engine run.
        """
        if self.resume is not None and index <= self.resume.engine_run:
            raise ValueError(f"run_again: index must be after the resumed engine run {self.resume.engine_run}, "
                             f"got {index}")
        self.finished_run = None
        self.results.pop(index, None)
        self.engine_runs = index

    def stop_point(self) -> None:
        """Collective: a stop point of the work after the engine run that finished last (:attr:`finished_run`).

        Every rank calls it at the same places. When a stop signal came on any
        rank, it writes a checkpoint of that finished run (its resume runs no
        event again and redoes only the work after it) and raises
        :class:`CheckpointStop` on every rank (exit status 75); nothing
        without a finished run, or for one before a resumed checkpoint's.

        Raises:
            CheckpointStop: on every rank, after the checkpoint was written.
            StopNotCheckpointed: on every rank, when it cannot be written.
        """
        if self.finished_run is not None:
            self.finished_run()


def engine_checkpointer(session: "CheckpointSession | None", comm) -> "Checkpointer | None":
    """The :class:`Checkpointer` of ``session``'s next engine run on ``comm``; ``None`` without checkpoints."""
    if session is None:
        return None
    return Checkpointer(session, comm, session.next_engine_run())


def stop_point_of(session: "CheckpointSession | None") -> Callable[[], None]:
    """The stop point of a scenario's work after its engine runs.

    ``session.stop_point`` (a stop signal checkpoints the engine run that
    finished last, :attr:`CheckpointSession.finished_run`), or, without
    checkpoints, a call that does nothing (the CLI notes a stop then).
    """
    return session.stop_point if session is not None else _no_stop


def _no_stop() -> None:
    """Without checkpoints a stop signal after the engine is not acted on by the scenario."""


class Checkpointer:
    """Decides, writes and restores checkpoints for one :class:`Simulator` run."""

    def __init__(self, session: CheckpointSession, comm, engine_run: int):
        self.session = session
        self.comm = comm
        self.engine_run = engine_run
        #: the checkpoint whose records this rank has handed to rank 0 (``None``: none yet): rank 0 may complete it
        #: without this rank from then on, so a second Ctrl-C here keeps this rank's slab (:meth:`_interrupted`)
        self.handed_over: Path | None = None
        #: rank 0: the checkpoint whose every rank's slab is written and renamed (``None``: none; set once the
        #: exchange that follows every rank's slab, :func:`_collectively` of the node records, has returned, before
        #: the records' gather): no other rank writes a file of it from then on, so a second Ctrl-C here removes
        #: every rank's slab of it (:meth:`_interrupted`; from the gather's return until 2026-12-07 (late afternoon))
        self.gathered: Path | None = None
        every = session.every_sim_s
        self.every_sim_ps = int(round(every * PS_PER_S)) if every else None
        self.next_sim_ps = self.every_sim_ps

    def _next_multiple(self, time_ps: int) -> int:
        """The first multiple of ``every_sim_ps`` after ``time_ps`` (computed, not stepped to: a 1 ps
        period over a long window would otherwise take as many steps as picoseconds)."""
        return (int(time_ps) // self.every_sim_ps + 1) * self.every_sim_ps

    @property
    def resuming(self) -> Resume | None:
        """The resume data if this engine run is the one the checkpoint interrupted."""
        resume = self.session.resume
        if resume is not None and resume.engine_run == self.engine_run:
            return resume
        return None

    def _writes(self) -> bool:
        """Whether this engine run writes checkpoints (runs before a resumed one are being recomputed)."""
        return self.session.resume is None or self.engine_run >= self.session.resume.engine_run

    def requested(self) -> tuple[bool, bool]:
        """This rank's ``(write, stop)`` requests: the wall-clock period is over; a stop signal came.

        Not collective: the engine ORs every rank's requests at its next exchange.
        """
        if not self._writes():
            return False, False
        wall = bool(self.session.every_wall_s) and time.monotonic() - self.session.last_wall >= self.session.every_wall_s
        stop = stop_requested()
        return wall or stop, stop

    def looker(self):
        """A function of no arguments: whether a checkpoint is asked for now (the wall-clock period is over, or a
        stop signal came), as :meth:`requested`'s first answer, for the looks between two events of one rank
        (:meth:`Simulator._run_local <dqsim.engine.simulator.Simulator._run_local>`); ``None`` where this engine
        run writes none. Not a request: the exchanges still take those (a test counts them)."""
        if not self._writes():
            return None
        session = self.session
        if not session.every_wall_s:
            return lambda: _STOP["requested"]
        clock = time.monotonic
        return lambda: _STOP["requested"] or clock() - session.last_wall >= session.every_wall_s

    def next_sim_cut_ps(self) -> float:
        """Simulated time of the next checkpoint of the simulated-time period, ps (``inf``: none)."""
        if self.next_sim_ps is None or not self._writes():
            return math.inf
        return self.next_sim_ps

    def stop_after_run(self, sim) -> None:
        """Collective, after ``sim.run()`` (:meth:`Simulator.stop_point`): if a stop signal came on any rank,
        write a checkpoint of the finished run at its end (+1 ps) and raise :class:`CheckpointStop`.

        Nothing for an engine run that writes no checkpoints (one being recomputed before a resumed one).

        Raises:
            CheckpointStop: on every rank, after the checkpoint was written.
            StopNotCheckpointed: on every rank, when it cannot be written (:meth:`write` with ``stop``).
        """
        if not self.stop_pending():
            return
        raise CheckpointStop(self.write(sim, sim.stats.end_time_ps + 1, stop=True))

    def stop_pending(self) -> bool:
        """Collective: whether :meth:`stop_after_run` would write a checkpoint and stop now (nothing is written)."""
        return self._writes() and stop_agreed(self.comm)

    def passed(self, cut_ps: int, next_event_ps: float) -> None:
        """A checkpoint was written at ``cut_ps``; the simulated-time period resumes after it.

        The next one is the first multiple after both the cut and the next
        event (``next_event_ps``): a stretch without events gets no
        checkpoints of its own.
        """
        if self.next_sim_ps is not None and cut_ps >= self.next_sim_ps:
            after = cut_ps if not math.isfinite(next_event_ps) else max(cut_ps, int(next_event_ps))
            self.next_sim_ps = self._next_multiple(after)

    def write(self, sim, window_end_ps: int, *, stop: bool = False) -> Path | None:
        """Collective: write a checkpoint of ``sim`` at this boundary; returns its path, or ``None`` if it failed.

        Order: state slabs (every rank, each then hashes its own), the run
        file (rank 0), then the manifest (rank 0, atomically): a checkpoint
        is complete exactly when its manifest exists.

        A write that fails (a full disk, a folder made read-only: an
        ``OSError`` or a :class:`DqsimError` of the writing, on any rank) is
        not the end of the run: its files are removed, every rank learns of
        it, rank 0 gives one warning line (:attr:`CheckpointSession.warn`,
        naming the file, the reason and the last good checkpoint), the
        session counts it (:attr:`CheckpointSession.num_failed`) and the
        run goes on; the next periodic checkpoint is tried at the next
        period. Older checkpoints are rotated out (``keep``) only after a
        write that succeeded, so the last good one stays. A write that failed
        for lack of room (a full disk or quota, :func:`dqsim.io.lack_of_room`)
        first removes this run's older checkpoints but the newest whole one
        (:meth:`_make_room`) and is tried once more; rank 0's one warning line
        says what was removed, and, if it still failed, how much the newest
        whole checkpoint takes. With ``stop`` (a
        signal asked for this checkpoint and then a stop) a failed write
        raises a one-line :class:`StopNotCheckpointed` on every rank instead.

        Raises:
            DqsimError: on every rank, for a process or its data that cannot be saved.
            StopNotCheckpointed: on every rank, for a failed write with ``stop``.
            SecondSignalAgreed: on every rank, for a second Ctrl-C that came to a rank while the ranks wrote
                their slabs (several ranks; no file of the checkpoint left) or to rank 0 while it wrote the run file.
        """
        _STOP["kept"] = None  # (set by _write where it keeps the resumed checkpoint as it is)
        if self.comm.size > 1:  # a second Ctrl-C from here is noted, for the ranks to agree on (request_stop)
            _defer_second(True)
        try:
            path = self._write(sim, window_end_ps, stop=stop)
        except BaseException:
            _defer_second(False)  # (one noted meanwhile is forgotten: the write ends as it raised)
            raise
        finally:
            _rank_0_decides(False)
            self.gathered = None
        _take_deferred()  # one noted after the ranks' last look (a few lines before): taken now, as outside a write
        return path

    def _write(self, sim, window_end_ps: int, *, stop: bool) -> Path | None:
        """:meth:`write`'s work (a second Ctrl-C noted on several ranks, not raised: :func:`_defer_second`)."""
        session, comm = self.session, self.comm
        directory = Path(session.directory)
        base = directory / checkpoint_stem(session.prefix, self.engine_run, window_end_ps)
        path = base.with_name(base.name + ".h5")
        if session.resume is not None and path.name == Path(session.resume.path).name:
            # the cut this run resumed from, nothing run since (a stop right after the resume): the checkpoint
            # in the folder is this state already, and rewriting it would remove the good copy for a while.
            # It stands for this run's first checkpoint: an earlier run's later ones go, as at a write.
            if comm.rank == 0:
                retire_superseded(session)
            session.last_wall = time.monotonic()
            _STOP["kept"] = path  # written by the run resumed, not this one: a stop's line says so (CheckpointStop)
            return path
        failure, again = None, False
        if comm.rank == 0:
            # this run wrote this cut already and keeps it (a stop seen just after a periodic checkpoint, no
            # event run since): the same state, and removing it to write it again would leave none for a while
            again = path in session.written and manifest_path(path).is_file()
            if session.folder_deferred:  # a run without periodic checkpoints: the folder and lock now
                session.folder_deferred = False
                failure = _take_folder(session)
                if failure is None and session.locked_out is None and session.superseded:
                    _keep_further_along(session, (self.engine_run, window_end_ps))
            if failure is None and session.locked_out is not None:  # a run without periodic checkpoints
                failure = (f"another dqsim run of this job is using its checkpoints in {directory} "
                           f"({session.locked_out})")
            elif failure is None and not again:
                try:
                    directory.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    failure = f"{directory}: cannot create the folder ({io.folder_error(exc)})"
                # An earlier run's checkpoints of this job beyond this run's start go at its first write
                # (retire_superseded), and a checkpoint of this name from an earlier run (the job run again
                # from the start, or resumed from an older cut) goes first too, manifest first: its manifest
                # must not cover the files replaced below, or a kill before the new manifest left a
                # "complete" checkpoint whose bytes do not match.
                retire_superseded(session)
                _delete_checkpoint(path)
        failure, again = comm.bcast((failure, again))  # also: no rank writes a slab before rank 0 removed the old
        if again:
            session.last_wall = time.monotonic()
            return path
        try:
            return self._write_new(sim, base, path, window_end_ps, failure, stop=stop)
        except SecondSignalAgreed:  # every rank alike: the checkpoint's files are removed already
            raise
        except KeyboardInterrupt:  # a second Ctrl-C (one rank: a second one to mpiexec ends the ranks itself)
            self._interrupted(path)
            raise

    def _interrupted(self, path: Path) -> None:
        """A second Ctrl-C cut the write of checkpoint ``path`` short: none of its files stays, unless it is
        complete already (its manifest written), which is then this run's newest checkpoint (one that resumes it).

        Each rank decides alone (it aborts next: no collective call is possible), so on several ranks each removes
        only the files it writes itself (:func:`_own_files`), never another rank's, which may still be writing or
        renaming them; a rank other than 0 keeps its slab once it has handed its records to rank 0
        (:attr:`handed_over`), which may write the manifest without it from then on (and, for a stop's checkpoint,
        takes no second Ctrl-C from then on: :func:`request_stop`). Rank 0, once every rank's slab is written and
        renamed (:attr:`gathered`: from the exchange that follows the slabs, so also where its second Ctrl-C comes
        before the records' gather returns, as another rank may have handed its records over), removes every
        rank's slab too (since 2026-12-07 (late afternoon)). What another rank's abort cut short before that stays
        (slab files without a manifest): the next run of the job removes them (:func:`prepare_directory`), ``dqsim
        clean`` too."""
        if manifest_path(path).is_file():
            if path not in self.session.written:
                self.session.written.append(path)
        elif self.comm.size == 1:
            _delete_checkpoint(path)
        else:
            kept = self.handed_over == path and self.comm.rank != 0
            others = [file for rank in range(1, self.comm.size) for file in _own_files(path, rank)[:1]] \
                if self.comm.rank == 0 and self.gathered == path else []
            for target in _own_files(path, self.comm.rank)[1 if kept else 0:] + others:
                try:
                    os.remove(target)
                except OSError:
                    pass

    def _write_new(self, sim, base: Path, path: Path, window_end_ps: int, failure: str | None, *,
                   stop: bool) -> Path | None:
        """Collective, :meth:`write`'s work once the folder is ready: the state's slabs, the run file and the
        manifest of checkpoint ``path`` (``base``: its name without ``.h5``); its path, or ``None`` if it failed."""
        session, comm = self.session, self.comm
        state = sim.state
        layout = list(state.layout.physical_of) if state is not None else None
        state_kwargs = {}
        if failure is None:
            failure, state_kwargs = self._write_state(state, base)
        try:
            shared_ids = _shared_ids(sim)  # (kept on sim: a network's shared objects may grow with its nodes)
            mine = _collectively(comm, lambda: [(index, _pickle(snapshot, sim, shared_ids))
                                                for index, snapshot in sim.node_snapshots()])
            if comm.rank == 0:  # (its allgather follows every rank's slab, written and renamed: none writes more)
                self.gathered = path
        except DqsimError:  # a process that cannot be saved (on every rank): no slab of this checkpoint stays
            if comm.rank == 0:
                _delete_checkpoint(path)
            raise
        if comm.size > 1:
            self._agree_on_second_signal(path)
        self.handed_over = path  # before the gather: kept from when rank 0 may have them (a leftover at worst)
        if comm.rank != 0:  # from here rank 0 completes the checkpoint or removes it (since 2026-12-07 (night)
            _rank_0_decides(True)  # for periodic checkpoints too; before, for a stop's alone)
        node_records = comm.gather(mine)
        shared = sim.global_snapshot()
        if state is not None:  # writing made the layout canonical: the run goes on with its own layout
            shared["register_layout"] = layout
            state.relayout_(layout)
        blobs, fatal = None, None
        if comm.rank == 0:
            try:
                blobs = self._blobs(sim, node_records, shared)
            except DqsimError as exc:  # a process or its data that cannot be saved: not a write failure
                fatal = str(exc)
        failure = self._write_run_file(sim, path, state_kwargs, blobs, shared, window_end_ps, failure, fatal)
        room, lack = None, io.lack_of_room(failure or "")
        if lack is not None:  # a full disk or quota: this run's older checkpoints make room
            room = self._make_room(path, lack)
            if room.removed:
                self.gathered = None  # every rank writes its slab again
                failure, state_kwargs = self._write_state(state, base)
                if state is not None:
                    state.relayout_(layout)
                failure = self._write_run_file(sim, path, state_kwargs, blobs, shared, window_end_ps, failure, None)
        if failure is not None:
            return self._failed(path, failure, stop=stop, room=room)
        if stop:  # complete: a second Ctrl-C from here on ends the run as this stop (75), not as 130
            stop_checkpointed()
        session.written.append(path)
        session.last_wall = time.monotonic()
        if comm.rank == 0:
            if room is not None:  # written once older ones were removed: say so, once
                session.warn(room.written_line(path))
            while len(session.written) > session.keep:
                _delete_checkpoint(session.written.pop(0))
        # (in place of a barrier) a second Ctrl-C rank 0 noted since its run file: the checkpoint is complete, and
        # every rank ends with 130 naming it (since 2026-12-07 (night); before, it was forgotten at the write's end)
        if comm.bcast(second_signal_noted()):
            raise SecondSignalAgreed
        return path

    def _agree_on_second_signal(self, path: Path) -> None:
        """Collective, on several ranks, once every rank's slab of checkpoint ``path`` is written and renamed and
        before any rank hands its records to rank 0: whether a second Ctrl-C came to any rank since the slabs'
        last look (:func:`second_signal_noted`; one before it cut the slabs' write there, :meth:`_write_state`).
        If so every rank removes its own slab, rank 0 every file of the checkpoint, and every rank raises
        :class:`SecondSignalAgreed`. From here the other ranks leave a second Ctrl-C to rank 0
        (:func:`_rank_0_decides`), which notes one until its run file's write, then takes it at once
        (:meth:`_write_run_file`), and once that is written notes one again for the write's end
        (:meth:`_write_new`: every rank ends with 130, the checkpoint complete)."""
        agreed = self.comm.allreduce_max(int(second_signal_noted()))
        if not agreed:
            return
        for target in _own_files(path, self.comm.rank)[:2]:  # its slab file and that file's temporary
            try:
                os.remove(target)
            except OSError:
                pass
        if self.comm.rank == 0:
            _delete_checkpoint(path)
        raise SecondSignalAgreed

    def _write_state(self, state, base: Path) -> tuple[str | None, dict]:
        """Collective: the register's slabs of a checkpoint (:func:`write_state`): ``(failure, state_kwargs)``,
        the failure's one line (rank 0's words, on every rank) or ``None``.

        On several ranks the write looks for a second Ctrl-C noted on any rank (:func:`second_signal_noted`)
        between its 64 MiB pieces and at each slab file's close, sync and rename (since 2026-12-07 (night)): one
        found cuts it there on every rank, leaving no slab of it, and raises :class:`SecondSignalAgreed`."""
        failure, state_kwargs = None, {}
        cut_on = second_signal_noted if self.comm.size > 1 else None
        try:
            state_kwargs = write_state(state, base, comm=self.comm, cut_on=cut_on)
        except StateWriteCut:  # on every rank, no slab of it left (write_sharded_state)
            raise SecondSignalAgreed from None
        except (DqsimError, OSError) as exc:  # raised on every rank (write_sharded_state agrees)
            failure = _one_line(exc)
        return self.comm.bcast(failure), state_kwargs  # rank 0's words for it: the same line everywhere

    def _write_run_file(self, sim, path: Path, state_kwargs: dict, blobs: dict | None, shared, window_end_ps: int,
                        failure: str | None, fatal: str | None) -> str | None:
        """Collective: rank 0 writes the run file and manifest, unless the state's write failed (``failure``) or
        the records cannot be saved (``fatal``); on a failure it removes what was written of the checkpoint.

        Returns:
            The failure's one line (on every rank), or ``None`` once the checkpoint is whole.

        A second Ctrl-C on rank 0 during the write ends every rank with 130 (:class:`SecondSignalAgreed`) and
        removes the checkpoint, unless its manifest is written by then (the Ctrl-C came in the folder's sync after
        the manifest's rename): that checkpoint is complete, stays, and is counted as written
        (:attr:`CheckpointSession.written`), the newest one the line of the 130 names.

        Raises:
            DqsimError: on every rank, for ``fatal``.
            Exception: on rank 0 an unexpected error of the write itself (the others raise a DqsimError).
            SecondSignalAgreed: on every rank, for a second Ctrl-C on rank 0 during the write.
        """
        comm, unexpected, interrupted, kept = self.comm, None, False, False
        if comm.rank == 0:
            slabs = state_kwargs.get("state_slabs")  # each slab hashed by the rank that wrote it
            slab_entries = list(slabs.file_entries) if slabs is not None else []
            interrupted = second_signal_noted()  # (a slab write tried again after making room: its last look on)
            _defer_second(False)  # a second Ctrl-C cuts the run file's write at once
            if failure is None and fatal is None and not interrupted:
                try:
                    self._write_rank0(sim, path, sim.state is not None, state_kwargs, blobs, shared, window_end_ps,
                                      slab_entries)
                except KeyboardInterrupt:  # a second Ctrl-C: every rank ends alike (130), no file of it left,
                    interrupted = True  # unless its manifest is written (in the folder's sync after its rename)
                    kept = manifest_path(path).is_file()
                except (DqsimError, OSError) as exc:
                    failure = _one_line(exc)
                except Exception as exc:  # noqa: BLE001 - raised on every rank below, so none waits for rank 0
                    _delete_checkpoint(path)
                    unexpected = exc
                    fatal = f"cannot write checkpoint {path} ({type(exc).__name__}: {_one_line(exc)})"
                except BaseException:
                    _delete_checkpoint(path)
                    raise
            if kept:  # complete: the run's newest checkpoint, which the line of the 130 names (since 2026-12-07
                self.session.written.append(path)  # (night); before, it was removed whole)
            elif failure is not None or fatal is not None or interrupted:
                _delete_checkpoint(path)
            if comm.size > 1:  # noted from here to the write's end: the others learn of this write below
                _defer_second(True)
        fatal, failure, interrupted = comm.bcast((fatal, failure, interrupted))  # every rank: written or not
        if interrupted:
            raise SecondSignalAgreed
        if unexpected is not None:  # rank 0: the error itself (an internal error, with its traceback)
            raise unexpected
        if fatal is not None:
            raise DqsimError(fatal)
        return failure

    def _make_room(self, path: Path, lack: str) -> "_RoomMade":
        """Collective, after a write of ``path`` failed for lack of room (``lack``, :func:`dqsim.io.lack_of_room`): rank 0
        removes this run's older checkpoints of the job (:attr:`CheckpointSession.written`), all but the newest
        whole one, which stays whatever happens; every rank learns what went.

        The same checkpoints as the rotation (``keep``) removes, only sooner: those this run wrote, or for a
        resume its job's up to the resumed one (:func:`_own_checkpoints`); never another job's, another dqsim
        version's, nor another run's further along (:func:`_keep_further_along`).
        """
        session = self.session
        room = None
        if self.comm.rank == 0:
            doomed = [old for old in session.written[:-1] if old != path]
            newest = session.written[-1] if session.written else None
            sizes = [_checkpoint_bytes(old) for old in doomed]
            for old in doomed:
                _delete_checkpoint(old)
            if doomed:
                manifest.sync_folder(Path(session.directory))
            directory = Path(session.directory)
            full = lack == os.strerror(errno.ENOSPC)  # a quota is not seen in the free space (statvfs)
            room = _RoomMade(lack=lack, removed=[old.name for old in doomed], freed_bytes=sum(sizes), newest=newest,
                             newest_bytes=_checkpoint_bytes(newest) if newest is not None else None,
                             free_bytes=io.free_bytes(directory) if full else None, directory=directory)
        room = self.comm.bcast(room)
        session.written = [old for old in session.written if old.name not in room.removed]
        return room

    def _failed(self, path: Path, reason: str, *, stop: bool, room: "_RoomMade | None" = None) -> None:
        """Every rank: a write of ``path`` failed for ``reason``: count it, warn once, go on (with ``stop``: raise).

        ``room``: what :meth:`_make_room` removed before the write was tried again (a full disk), said too.
        """
        session = self.session
        session.num_failed += 1
        session.last_wall = time.monotonic()  # the wall-clock period starts again: no retry at every window
        good = f"the last good checkpoint is {session.written[-1]}" if session.written else "no checkpoint was kept"
        why = reason if room is None else f"{reason}; {room.failed_words()}"
        # a file size limit (EFBIG): also the options that make a checkpoint's files smaller
        options = f"; {TOO_LARGE_OPTIONS}" if io.file_too_large(reason) else ""
        self.comm.barrier()  # rank 0 has removed what it wrote of it
        if stop:
            raise StopNotCheckpointed(f"checkpoint {path} not written ({why}){options}; the run stops as the signal "
                                      f"asked, without it; {good}")
        if self.comm.rank == 0:
            session.warn(f"checkpoint {path} not written ({why}){options}; the run goes on and tries again at the "
                         f"next period; {good}")
        return None

    def _blobs(self, sim, node_records: list, shared) -> tuple[dict, dict]:
        """Rank 0: the pickled records of a checkpoint: ``(named, node tables)``, the results' and shared record by
        name, and :func:`node_tables` of the nodes' records gathered from every rank (raises DqsimError for what
        cannot be saved)."""
        memory = {key: value for key, value in shared["memory"].items() if key != "last_touched"}  # (a table)
        named = {"engine/results": pickle.dumps(self.session.results, protocol=pickle.HIGHEST_PROTOCOL),
                 "engine/shared": _pickle({**shared, "memory": memory}, sim)}
        return named, node_tables(item for part in node_records for item in part)

    def _write_rank0(self, sim, path: Path, has_state: bool, state_kwargs: dict, blobs: dict, shared,
                     window_end_ps: int, slab_entries: list) -> None:
        """Rank 0: the run file of the checkpoint, then its manifest."""
        session = self.session
        memory = sim.memory
        tables = {
            "streams": np.array([(node, purpose, stream.event) for (node, purpose), stream
                                 in sorted(memory.streams.items())],
                                dtype=[("node", "i8"), ("purpose", "U64"), ("event", "i8")]),
            LAST_TOUCHED: touched_table(shared["memory"]["last_touched"]),
        }
        named, nodes = blobs
        for name, blob in named.items():
            tables[name] = np.frombuffer(blob, dtype=np.uint8)
        tables.update(nodes)
        facts = self._facts(path, window_end_ps)
        attrs = {**session.meta, "checkpoint": True, "job_text": session.job_text,
                 "job_sha256": facts["job_sha256"], "num_ranks": self.comm.size,
                 "engine_run": self.engine_run, "window_end_ps": int(window_end_ps),
                 "num_windows": sim.stats.num_windows, "has_state": has_state,
                 "num_nodes": sim.num_nodes, "record_names": list(named),
                 "record_sha256": [_sha(blob) for blob in named.values()],
                 "num_node_records": len(nodes[NODE_INDEX]), "node_index_sha256": _node_index_sha(nodes[NODE_INDEX]),
                 "num_failed_checkpoints": session.num_failed}
        if session.config_sha256 is not None:
            attrs["config_sha256"] = session.config_sha256
        io.write_run_file(path, attrs=attrs, tables=tables, compress=False, **state_kwargs)
        if state_kwargs:  # every rank has read its part back and checked it
            io.open_run(path).check_state_files()
        manifest.write_manifest(manifest_path(path), facts, [path], entries=slab_entries)

    def _facts(self, path: Path, window_end_ps: int) -> dict:
        """What the manifest says of this checkpoint besides its files (checked on resume; ``dqsim_commit``: the
        code that wrote it, a resume by other code of the same version warns in one line; the run's identity,
        :attr:`CheckpointSession.identity`: for ``dqsim clean``, which pairs a run's checkpoints with its output
        by ``run_id``)."""
        session = self.session
        named = parse_checkpoint_name(path)
        facts = {"kind": MANIFEST_KIND, "checkpoint": path.name, "job_name": named["job_name"],
                 "job_sha256": job_hash(session.job_text), "dqsim_version": dqsim.__version__,
                 "dqsim_commit": provenance.code_commit(), "engine_run": self.engine_run,
                 "window_end_ps": int(window_end_ps), "num_ranks": self.comm.size}
        if session.config_sha256 is not None:  # older checkpoints resumed: none
            facts["config_sha256"] = session.config_sha256
        facts.update((key, value) for key, value in session.identity.items() if key not in facts)
        return facts

    def restore(self, sim) -> int:
        """Collective: load the checkpoint into ``sim``; returns the boundary's time (ps)."""
        resume = self.resuming
        state = sim.state
        if state is not None and resume.has_state:  # the register grew by scratch bits before the checkpoint
            while (1 << state.num_qubits) < resume.num_amplitudes:
                state.add_qubit_()
        if state is not None and resume.has_state and resume.num_amplitudes != 1 << state.num_qubits:
            stored = count_of(resume.num_amplitudes.bit_length() - 1, "qubit")
            raise DqsimError(f"{resume.path}: its register has {stored}, "
                             f"this run's {state.num_qubits} (small registers are padded with idle qubits to give "
                             f"every rank local qubits); resume with {count_of(resume.num_ranks, 'rank')}")
        run = _collectively(self.comm, lambda: io.open_run(resume.path))
        shared = _unpickle(resume.shared, sim)
        nodes = _collectively(self.comm, lambda: {
            index: _unpickle(data, sim) for index, data in saved_node_records(run, sim.own_nodes, resume).items()})
        sim.load_snapshot(nodes, shared)
        if self.every_sim_ps is not None and shared.get("next_sim_ps") is not None:
            self.next_sim_ps = shared["next_sim_ps"]  # as the run that wrote it went on (Checkpointer.passed)
        elif self.every_sim_ps is not None and self.next_sim_ps <= resume.window_end_ps:
            self.next_sim_ps = self._next_multiple(resume.window_end_ps)
        memory = sim.memory
        for (node, purpose), event in resume.streams.items():
            memory.stream(node, purpose).event = event
        try:
            memory.set_touched(resume.last_touched)
        except IndexError as exc:
            raise DqsimError(f"{resume.path}: its {LAST_TOUCHED} table names {exc}; the checkpoint belongs to "
                             "another job") from None
        if state is not None and resume.has_state:
            replicated = _replicated(state, self.comm)
            size = 1 << state.num_local_qubits
            start = 0 if replicated else self.comm.rank * size  # a replicated register: every rank reads it all
            state.layout.physical_of = list(range(state.num_qubits))

            amplitudes = state.amplitudes
            # a register in host memory of the stored dtype is read into straight (no piece copied into it)
            into = amplitudes[:size] if (isinstance(amplitudes, np.ndarray) and amplitudes.flags.c_contiguous
                                         and amplitudes.dtype == np.dtype(run.state_info["dtype"])) else None

            def load() -> None:  # each rank checks the checksums of the slabs it reads
                try:
                    for offset, piece in run.state_pieces(start, start + size, verify=True, into=into):
                        if into is None:
                            amplitudes[offset:offset + piece.size] = state.xp.asarray(piece, dtype=state.dtype)
                except io.CorruptSlab as exc:  # a slab file read_checkpoint left to this read: its words
                    if exc.path is None:
                        raise
                    raise DamagedFileError(manifest.damaged_line(exc.path, exc.algorithm)) from None

            # read_checkpoint checked every byte but the slab files' amplitudes, which each rank hashes here as
            # it reads them, once; one collective then tells every rank whether all matched, and a damaged slab
            # refuses the checkpoint as read_checkpoint would have, on every rank (dqsim resume --fall-back then
            # resumes the previous one)
            try:
                _collectively(self.comm, load)
            except DqsimError as exc:
                previous = self.comm.bcast(previous_checkpoint(resume.path) if self.comm.rank == 0 else None)
                raise RestoreRefused(CheckpointRefused(str(exc), previous, folder=Path(resume.path).parent)) from None
            layout = shared.get("register_layout")
            if (layout is not None and (resume.num_ranks == self.comm.size or replicated)
                    and len(layout) == state.num_qubits):
                state.relayout_(layout)  # the same layout as the run had: bit-identical from here on
        return resume.window_end_ps


def write_state(state, base: Path, *, comm, cut_on: Callable[[], bool] | None = None,
                checkpointed: bool = True) -> dict:
    """Collective: write the register's slabs (or, on rank 0, keep a small replicated one for the run file).

    Every rank writes its part of ``state`` for the file ``<base>.h5``
    (:func:`dqsim.io.write_sharded_state`): its slab, or its ``1/P`` of a
    register every rank holds whole (:func:`dqsim.scenarios.dqc.register_comm`);
    a replicated register that ``P`` ranks do not split into equal parts is
    rank 0's to store in the run file. Used by checkpoints and by the output
    of ``save_state`` (:mod:`dqsim.cli.main`).

    Returns rank 0's ``write_run_file`` arguments for the state (``{}``
    elsewhere). Slab files come with their manifest entries, each hashed
    by the rank that wrote it (``StateSlabs.file_entries``).

    ``cut_on``: this rank's wish to stop (``dqsim run``'s output: a stop signal
    came here), asked by every rank at the same looks inside the write
    (:func:`dqsim.io.write_sharded_state`, which raises
    :class:`dqsim.io.StateWriteCut` on every rank and leaves no file of the
    write); ``None`` (checkpoints): no look.

    ``checkpointed``: the run may have written checkpoints (False: a run's output where the run writes none, no
    periodic checkpoints and no resume; a job ended in the write then says to run it again, not to resume).
    """
    if state is None:
        return {}
    if _replicated(state, comm) and (1 << state.num_qubits) % comm.size:
        # every rank holds it whole, but P ranks (3, or more than its amplitudes) do not split it into
        # equal parts: rank 0 stores it in the run file (a replicated register is at most a few KiB)
        whole = np.concatenate([piece for _, piece in state.logical_slab_pieces()])  # on every rank, alike
        return {"state": whole} if comm.rank == 0 else {}
    # every rank: one collective file with parallel HDF5, else one slab file each
    if _replicated(state, comm):  # every rank holds it whole: each writes its 1/P of it
        pieces = state.logical_slab_pieces(share=(comm.rank, comm.size))
        slab_size = (1 << state.num_qubits) // comm.size
    else:
        # collective: done here, not at the first piece, so a rank whose write fails before its first piece
        # does not leave the others waiting in it
        state.canonicalize_()
        pieces, slab_size = state.logical_slab_pieces(), 1 << state.num_local_qubits
    return io.write_sharded_state(base, pieces, comm=comm, slab_size=slab_size, dtype=state.dtype, cut_on=cut_on,
                                  newest=_newest_of_write(Path(f"{base}.h5"), comm, checkpointed))


def _newest_of_write(path: Path, comm, checkpointed: bool) -> str | None:
    """What the one line of a job ended while writing ``path`` on several ranks names (``newest`` of
    :func:`dqsim.io.write_sharded_state`): ``None`` where the run writes no checkpoints (not ``checkpointed``),
    else :func:`_newest_whole`; ``""`` on one rank (no step is watched)."""
    if comm.size == 1:
        return ""
    return _newest_whole(path) if checkpointed else None


def _newest_whole(path: Path) -> str:
    """What a job ended while writing ``path`` resumes (:func:`dqsim.io.sharded.abort_collective`'s line): the
    newest whole checkpoint of its job before ``path``, when ``path`` is a checkpoint and there is one; else ""."""
    previous = previous_checkpoint(path)
    return "" if previous is None else str(previous)


def _replicated(state, comm) -> bool:
    """Whether every rank of ``comm`` holds ``state`` whole (a tiny register: :func:`dqsim.scenarios.dqc.register_comm`)."""
    return state.comm.size == 1 and comm.size > 1


def _collectively(comm, read):
    """Run ``read()`` on every rank; if it fails on any, raise that rank's one-line error on all."""
    result, error = None, None
    try:
        result = read()
    except DqsimError as exc:
        error = str(exc)
    except (KeyError, ValueError, TypeError, OSError, RuntimeError, pickle.UnpicklingError, EOFError) as exc:
        error = f"the checkpoint cannot be read ({exc})"
    errors = [e for e in comm.allgather(error) if e]
    if errors:
        raise DqsimError(errors[0])
    return result


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: A checkpoint's node records (since 2026-12-07; before, one dataset ``engine/nodeNNNNNN`` per node of the network,
#: an empty record for a node without one): one row per saved node (:meth:`Simulator.node_snapshots`: the nodes
#: that hold an engine record), in node order, in ``NODE_INDEX`` (the node, the offset and size of its pickle in
#: ``NODE_RECORDS``, the pickle's SHA-256), and the pickles end to end in ``NODE_RECORDS``. The index's own SHA-256
#: is the run file's attribute ``node_index_sha256``. A 262,144-node line running a 4-qubit GHZ saves 4 records, not
#: 262,144 datasets (bench/results/network-checkpoint-vm-20261207.md).
NODE_INDEX, NODE_RECORDS = "engine/node_index", "engine/node_records"
NODE_INDEX_DTYPE = np.dtype([("node", "<i8"), ("offset", "<i8"), ("size", "<i8"), ("sha256", "u1", (32,))])


def node_tables(records) -> dict[str, np.ndarray]:
    """The tables ``{NODE_INDEX: index, NODE_RECORDS: pickles}`` of ``records``, ``(node, pickle bytes)`` pairs
    (any order): :data:`NODE_INDEX`."""
    records = sorted(records, key=lambda item: item[0])
    index = np.zeros(len(records), dtype=NODE_INDEX_DTYPE)
    sizes = np.fromiter((len(blob) for _node, blob in records), dtype=np.int64, count=len(records))
    index["node"] = [node for node, _blob in records]
    index["size"] = sizes
    index["offset"] = np.cumsum(sizes) - sizes
    for row, (_node, blob) in enumerate(records):
        index["sha256"][row] = np.frombuffer(hashlib.sha256(blob).digest(), dtype=np.uint8)
    return {NODE_INDEX: index, NODE_RECORDS: np.frombuffer(b"".join(blob for _node, blob in records), dtype=np.uint8)}


#: A checkpoint's last-touch times of the network qubits (since 2026-12-07): one row per qubit whose time is not 0,
#: the default (:meth:`dqsim.engine.quantum.QuantumMemory.touched`), in qubit order. Before, the table
#: ``last_touch`` held every qubit's (8 bytes a qubit: 4.2 of a 262,144-node line's 5.3 MB checkpoint, the pickled
#: ``engine/shared`` the list again; a 2^20-node line's 21 MB, 29.5 kB since), still read.
LAST_TOUCHED = "last_touched"
LAST_TOUCHED_DTYPE = np.dtype([("qubit", "<i8"), ("time_ps", "<i8")])


def touched_table(touched: dict[int, int]) -> np.ndarray:
    """The :data:`LAST_TOUCHED` table of ``{qubit: last touch, ps}``."""
    table = np.zeros(len(touched), dtype=LAST_TOUCHED_DTYPE)
    table["qubit"] = np.fromiter(touched.keys(), dtype=np.int64, count=len(touched))
    table["time_ps"] = np.fromiter(touched.values(), dtype=np.int64, count=len(touched))
    return np.sort(table, order="qubit")


def saved_touches(run) -> dict[int, int]:
    """``{qubit: last touch, ps}`` of a checkpoint's qubits whose last touch is not 0: its :data:`LAST_TOUCHED`
    table, or, written before 2026-12-07, the non-zero entries of its ``last_touch`` table (every qubit's)."""
    if LAST_TOUCHED in run.tables:
        table = run.table(LAST_TOUCHED)
        return dict(zip(table["qubit"].tolist(), table["time_ps"].tolist()))
    times = np.asarray(run.table("last_touch"), dtype=np.int64)
    where = np.flatnonzero(times)
    return dict(zip(where.tolist(), times[where].tolist()))


def _node_index_sha(index: np.ndarray) -> str:
    """SHA-256 of a :data:`NODE_INDEX` table's rows (little-endian, as stored)."""
    return _sha(np.ascontiguousarray(index, dtype=NODE_INDEX_DTYPE).tobytes())


def saved_node_records(run, nodes, resume: "Resume | None" = None) -> dict[int, bytes]:
    """The pickled records a checkpoint holds of ``nodes`` (indices), by node, each checked against its SHA-256.

    A node without a saved record (one that held no engine record) is left out. One read of the span of
    :data:`NODE_RECORDS` that holds them. A checkpoint written before 2026-12-07 (one dataset a node,
    ``engine/nodeNNNNNN``, checked against ``resume.record_checksums``) is read too.

    Args:
        run: the checkpoint's run file (:func:`dqsim.io.open_run`).
        nodes: the node indices wanted (a rank's own nodes).
        resume: the checkpoint's :class:`Resume` (its record checksums; ``None``: read the attributes).

    Raises:
        DqsimError: one line naming the file and the node whose record (or the index) does not match its checksum.
    """
    where = resume.path if resume is not None else run.path
    if NODE_INDEX not in run.tables:  # written before 2026-12-07: every node of the network, one dataset each
        if resume is None:
            resume = Resume(run.path, 0, 0, {}, {}, False,
                            record_checksums=dict(zip(run.attrs["record_names"], run.attrs["record_sha256"])))
        return {index: _read_record(run, f"engine/node{index:06d}", resume) for index in nodes}
    index = run.table(NODE_INDEX)
    if index.dtype != NODE_INDEX_DTYPE or _node_index_sha(index) != run.attrs.get("node_index_sha256"):
        raise DqsimError(f"{where}: its node index {NODE_INDEX!r} is corrupt (checksum mismatch)")
    rows = index[np.isin(index["node"], np.asarray(list(nodes), dtype=np.int64))]
    if not rows.size:
        return {}
    ends = rows["offset"] + rows["size"]
    start, stop = int(rows["offset"].min()), int(ends.max())
    total = run.num_rows(NODE_RECORDS)
    if start < 0 or stop > total or (rows["size"] < 0).any():
        raise DqsimError(f"{where}: its node index {NODE_INDEX!r} points outside {NODE_RECORDS!r} "
                         f"({start}..{stop} of {total} bytes)")
    span = run.table_rows(NODE_RECORDS, start, stop).tobytes()
    records = {}
    for row in rows:
        node, offset, size = int(row["node"]), int(row["offset"]) - start, int(row["size"])
        data = span[offset:offset + size]
        if hashlib.sha256(data).digest() != row["sha256"].tobytes():
            raise DqsimError(f"{where}: the record of node {node} is corrupt (checksum mismatch)")
        records[node] = data
    return records


def _read_record(run, name: str, resume: Resume) -> bytes:
    """Read one pickled record of a checkpoint and check its SHA-256."""
    data = run.table(name).tobytes()
    if _sha(data) != resume.record_checksums.get(name):
        raise DqsimError(f"{resume.path}: the record {name!r} is corrupt (checksum mismatch)")
    return data


class _Pickler(pickle.Pickler):
    """Pickles objects the scenario shared with the simulator (``Simulator.share``) by reference."""

    def __init__(self, file, shared_ids: dict):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._shared = shared_ids

    def persistent_id(self, obj):
        index = self._shared.get(id(obj))
        return ("shared", index) if index is not None else None


#: Every global a checkpoint's pickles may name: module -> names (the one allow-list; see
#: :class:`_Unpickler`). A class or process function that a checkpoint saves must be listed
#: here, under the module that defines it; anything else in a checkpoint is refused.
ALLOWED_GLOBALS: dict[str, frozenset[str]] = {module: frozenset(names) for module, names in {
    "builtins": ("complex", "set", "frozenset", "slice", "range", "bytearray"),
    "collections": ("deque", "OrderedDict", "defaultdict", "Counter"),
    "pathlib": ("Path", "PosixPath", "PurePosixPath", "WindowsPath", "PureWindowsPath"),
    # NumPy arrays (complex ones included) and scalars, NumPy 1 and 2 spellings
    "numpy": ("ndarray", "dtype"),
    "numpy.core.multiarray": ("_reconstruct", "scalar"),
    "numpy._core.multiarray": ("_reconstruct", "scalar"),
    "numpy.core.numeric": ("_frombuffer",),
    "numpy._core.numeric": ("_frombuffer",),
    "dqsim.circuit.distribute": ("Condition", "LocalGate", "MeasureStep", "RemoteControl", "RemoteSwap",
                                 "RemoteTarget", "ResetStep", "RouteStep", "SendBits"),
    "dqsim.engine.process": ("ProcessHandle",),
    "dqsim.engine.quantum": ("BellDiagonalProbe", "QOp", "qop", "_qop_carried"),
    "dqsim.engine.simulator": ("Message", "RunStatistics", "Wait", "Receive", "MeasureCmd", "MeasureLater",
                                "Outcome", "ReadOutcomes", "_message"),
    # job sections (validated data, kept in scenario results)
    "dqsim.jobs.base": ("CheckpointSection", "RunSection"),
    "dqsim.jobs.circuit": ("CircuitJob", "CircuitSection", "SimulationSection"),
    "dqsim.jobs.dqc": ("DqcJob", "DqcSimulationSection"),
    "dqsim.jobs.network": ("DistributionSection", "NetworkSection"),
    "dqsim.jobs.qkd": ("ClassicalChannelSection", "EveSection", "QkdJob", "QkdLinkSection", "QkdNetworkSection",
                       "QkdSection", "QkdSourceSection", "SweepSection"),
    "dqsim.jobs.cloud": ("ArrivalsSection", "CloudJob", "CloudSimulationSection", "SchedulerSection", "UserJobSection",
                         "UserSection"),
    "dqsim.jobs.repeater": ("ChainSection", "RepeaterJob"),
    "dqsim.jobs.trotter": ("EvolutionSection", "ModelSection", "TrotterJob", "TrotterSimulationSection",
                           "TrotterSweepSection"),
    "dqsim.network.link": ("LinkSpec",),
    "dqsim.network.node": ("NodeSpec",),
    "dqsim.protocols.ahead": ("AwaitSteps",),
    "dqsim.protocols.distributed": ("Acquire", "AwaitPair", "CommPool", "EntangleEnd", "MeasureBit", "Pause",
                                    "ReceiveBits", "ReceiveValue"),
    "dqsim.protocols.epr": ("EprInitiator", "EprResponder", "EprResult"),
    "dqsim.protocols.qkd.authentication": ("MessageTags",),
    "dqsim.protocols.qkd.bb84": ("ChannelModel", "DecoySource", "DetectorModel", "EveModel", "ReceiverState"),
    "dqsim.protocols.qkd.classical_channel": ("ClassicalChannel",),
    "dqsim.protocols.qkd.decoy": ("DecoyEstimate",),
    "dqsim.protocols.qkd.detections": ("DetectionBatch", "PackedDetectionBatch"),
    "dqsim.protocols.qkd.entangled": ("EntangledSource", "EntangledBatch", "SiftedCounts"),
    "dqsim.protocols.qkd.entangled_block": ("EntangledBlockResult",),
    "dqsim.protocols.qkd.finite_key": ("ChshFiniteKeyResult", "EntangledFiniteKeyResult", "FiniteKeyResult"),
    "dqsim.protocols.qkd.nodes": ("LinkPhysics", "LinkTally", "QkdPlan"),
    "dqsim.protocols.qkd.packed_bits": ("PackedBits", "PackedFields"),
    "dqsim.protocols.qkd.postprocess": ("BlockCounts", "BlockResult", "QberSample"),
    "dqsim.protocols.qkd.reconciliation": ("CascadeResult", "PostprocessResult"),
    "dqsim.protocols.repeater": ("ChainRecords", "ChainSpec", "Delivery", "LinkRecord", "_NodeRun"),
    "dqsim.protocols.teleport": ("TeleGateControl", "TeleGateTarget", "TeleportReceive", "TeleportSend"),
    "dqsim.rng": ("Stream",),
    "dqsim.scenarios.cloud": ("Execution", "JobResult", "JobTally"),
    "dqsim.scenarios.dqc": ("AheadProgramProcess", "GateSideProcess", "NodeProgramProcess", "PairEndProcess",
                            "PairPrefetchProcess", "SwapLinkProcess", "SwapperProcess"),
    "dqsim.scenarios.qkd": ("Bb84AliceProcess", "Bb84BobProcess", "EntangledAliceProcess", "EntangledBobProcess",
                            "Bb84AliceBlockProcess", "Bb84BobBlockProcess", "EntangledAliceBlockProcess",
                            "EntangledBobBlockProcess"),
    "dqsim.scenarios.repeater": ("AlarmProcess", "ChainNodeProcess", "ChainRun", "LinkSideProcess", "PairResult"),
    "dqsim.scenarios.trotter": ("Observables",),
    "dqsim.state.gates": ("GateOp", "_named_gate"),
}.items()}

#: Process functions that checkpoints of earlier dqsim versions saved (plain generators with step logs) and
#: that are gone: ``(module, name)`` -> what replaced them. A checkpoint naming one is refused with this reason.
RETIRED_GLOBALS: dict[tuple[str, str], str] = {
    **{("dqsim.protocols.distributed", name): "the DQC node programs" for name in
       ("node_program", "swapper", "_link_side")},
    **{("dqsim.protocols.repeater", name): "the repeater chain's processes" for name in
       ("chain_node", "_link_side", "_alarm")},
}


class _Unpickler(pickle.Unpickler):
    """Unpickles only what :data:`ALLOWED_GLOBALS` lists; shared objects come from this run.

    A dqsim name must be defined in the module it is listed under (not merely
    imported there), so a listed module cannot be used to reach anything else.
    """

    def __init__(self, file, shared: list):
        super().__init__(file)
        self._shared = shared

    def find_class(self, module, name):
        if name not in ALLOWED_GLOBALS.get(module, ()):
            retired = RETIRED_GLOBALS.get((module, name))
            if retired is not None:
                raise pickle.UnpicklingError(
                    f"it was written before {retired} became resumable: it holds {module}.{name} and its step "
                    "log, which this dqsim cannot resume; run the job again from the start")
            raise pickle.UnpicklingError(f"it names {module}.{name}, which checkpoints may not contain")
        found = super().find_class(module, name)
        if module.startswith("dqsim.") and getattr(found, "__module__", None) != module:
            raise pickle.UnpicklingError(f"{module}.{name} is not defined in {module}")
        return found

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 2 and pid[0] == "shared" and type(pid[1]) is int
                and 0 <= pid[1] < len(self._shared)):
            raise pickle.UnpicklingError(f"shared object {pid!r} is unknown to this run")
        return self._shared[pid[1]]


def _shared_ids(sim) -> dict[int, int]:
    """``id(object) -> position`` of the objects ``sim`` shares (``Simulator.share``), for :class:`_Pickler`.

    Made once a run and kept on ``sim`` while its list of shared objects is the same list of the same length
    (shared objects never change and the list only grows): a ``dqc`` run shares one object a node, and making the map
    twice a checkpoint took ~0.3 CPU s of a 2^20-node line's write, 21 CPU s of 4 writes under cProfile (2026-12-07).
    """
    shared = sim.shared_objects
    cached = getattr(sim, "_checkpoint_shared_ids", None)
    if cached is None or cached[0] is not shared or cached[1] != len(shared):
        cached = (shared, len(shared), {id(obj): i for i, obj in enumerate(shared)})
        sim._checkpoint_shared_ids = cached
    return cached[2]


def _pickle(obj, sim, shared_ids: dict | None = None) -> bytes:
    """Pickle ``obj``, ``sim``'s shared objects by reference (``shared_ids``: :func:`_shared_ids` of ``sim``, made
    once for many records; ``None``: made here)."""
    buffer = _bytes_io.BytesIO()
    try:
        _Pickler(buffer, _shared_ids(sim) if shared_ids is None else shared_ids).dump(obj)
    except (TypeError, AttributeError, pickle.PicklingError) as exc:
        raise DqsimError(f"cannot write a checkpoint: a process or its data cannot be saved ({exc}); "
                         "give processes module-level functions and picklable arguments, or share() them") from None
    return buffer.getvalue()


def unpickle(data: bytes, shared: list | None = None, *, where: str = "checkpoint"):
    """Unpickle a checkpoint record through the allow-list (:data:`ALLOWED_GLOBALS`).

    Args:
        data: the record's bytes (already checked against the manifest).
        shared: the run's shared objects (``Simulator.shared_objects``).
        where: named in the error message.

    Raises:
        DqsimError: one line, if the record names anything not allowed or is malformed.
    """
    try:
        return _Unpickler(_bytes_io.BytesIO(data), list(shared or [])).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError, KeyError,
            IndexError, RecursionError, MemoryError) as exc:
        raise DqsimError(f"{where}: refused ({exc})") from None


def _unpickle(data: bytes, sim):
    return unpickle(data, sim.shared_objects)


def checkpoint_stem(prefix: str, engine_run: int, window_end_ps: int) -> str:
    """``PREFIX.ckptRRR-TTTT``: the name of a checkpoint's files without their endings."""
    return f"{prefix}.ckpt{engine_run:03d}-{window_end_ps:020d}"


#: ``kind`` of checkpoint manifests.
MANIFEST_KIND = "dqsim checkpoint"

#: Hex digits of the configuration hash in a checkpoint's name.
CONFIG_TAG_DIGITS = 8

_CHECKPOINT_NAME = re.compile(r"^(?P<prefix>(?P<name>.+?)(?:\.(?P<config>[0-9a-f]{%d}))?)"
                              r"\.ckpt(?P<run>\d{3,})-(?P<window>\d{20})\.h5$" % CONFIG_TAG_DIGITS)


def checkpoint_prefix(job_name: str, config_sha256: str) -> str:
    """``NAME.HHHHHHHH``: the prefix of a job's checkpoint files, its ``[run].name`` and configuration hash.

    The hash (:func:`dqsim.jobs.config_sha256`, its first
    :data:`CONFIG_TAG_DIGITS` hex digits) tells apart two jobs of one name
    in one folder: neither resumes, rotates nor removes the other's
    checkpoints, and their files never share a name.

    Examples:
        >>> checkpoint_prefix("ghz", "3fa2b1c0" + "0" * 56)
        'ghz.3fa2b1c0'
    """
    return f"{job_name}.{config_sha256[:CONFIG_TAG_DIGITS]}"


def parse_checkpoint_name(path: str | os.PathLike) -> dict | None:
    """What a checkpoint's run-file name says, or ``None`` for another name.

    Returns:
        ``prefix``, ``job_name``, ``config`` (the configuration tag; ``None``
        in names of older checkpoints, ``NAME.ckptRRR-TTTT.h5``),
        ``engine_run`` and ``window_end_ps``.

    Examples:
        >>> parse_checkpoint_name("runs/a.b.3fa2b1c0.ckpt002-00000000000000001000.h5")["job_name"]
        'a.b'
        >>> parse_checkpoint_name("a.h5") is None
        True
    """
    match = _CHECKPOINT_NAME.match(Path(path).name)
    if match is None:
        return None
    return {"prefix": match["prefix"], "job_name": match["name"], "config": match["config"],
            "engine_run": int(match["run"]), "window_end_ps": int(match["window"])}


def manifest_path(path: str | os.PathLike) -> Path:
    """The manifest of the checkpoint ``path`` (``PREFIX.ckptRRR-TTTT.manifest.json``)."""
    path = Path(path)
    return path.with_name(path.name[:-len(".h5")] + ".manifest.json" if path.name.endswith(".h5")
                          else path.name + ".manifest.json")


def looks_like_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named as a checkpoint's run file (``PREFIX.ckptRRR-TTTT.h5``, :func:`parse_checkpoint_name`)."""
    return _CHECKPOINT_NAME.match(Path(path).name) is not None


def _checkpoint_files(path: Path, *, temporaries: bool = False) -> list[Path]:
    """The files of checkpoint ``path``, whether they exist or not: its manifest first, its run file, its slab
    files, and with ``temporaries`` the temporary files of a write of it."""
    path = Path(path)
    stem = path.name[:-len(".h5")] if path.name.endswith(".h5") else path.name
    found = [manifest_path(path), path, *path.parent.glob(glob.escape(stem) + ".slab*.h5")]
    return found + list(path.parent.glob(glob.escape(stem) + ".*tmp-*")) if temporaries else found


def _own_files(path: Path, rank: int) -> list[Path]:
    """The files of checkpoint ``path`` that rank ``rank`` of this write writes itself, whether they exist or not:
    its state slab file and that file's temporary (:func:`dqsim.io.sharded.slab_path`), and on rank 0 the run file,
    the run file's and the manifest's temporaries (a collective state's too: rank 0 names it) as well. Written by
    this process: temporaries carry its pid (:func:`dqsim.io.atomic.temporary_path`)."""
    path = Path(path)
    slab = slab_path(path.with_name(path.name[:-len(".h5")]), rank)
    own = [slab, temporary_path(slab)]
    return own + [path, temporary_path(path), temporary_path(manifest_path(path))] if rank == 0 else own


def _checkpoint_bytes(path: Path) -> int:
    """Bytes the files of checkpoint ``path`` take (:func:`_checkpoint_files`; 0 where none is left)."""
    total = 0
    for file in _checkpoint_files(path):
        try:
            total += file.stat().st_size if file.is_file() else 0
        except OSError:  # gone meanwhile
            pass
    return total


@dataclass
class _RoomMade:
    """What :meth:`Checkpointer._make_room` did after a checkpoint's write failed for lack of room (rank 0's
    account, sent to every rank).

    Attributes:
        lack: the OS's words for it (:func:`dqsim.io.lack_of_room`: a full disk or a quota).
        removed: the names of the older checkpoints it removed (oldest first; empty: none to remove).
        freed_bytes: the bytes their files took.
        newest: the newest whole checkpoint, kept (``None``: none).
        newest_bytes: the bytes its files take, about the room the new one needs (``None``: no checkpoint).
        free_bytes: free bytes in the folder after the removal, on a full disk (``None``: a quota, or unknown).
        directory: the checkpoint folder.
    """

    lack: str
    removed: list
    freed_bytes: int
    newest: Path | None
    newest_bytes: int | None
    free_bytes: int | None
    directory: Path

    def _removed_words(self) -> str:
        names = ", ".join(self.removed)
        freed = io.size_words(self.freed_bytes)
        return f"{count_of(len(self.removed), 'older checkpoint')} of this job ({names}; {freed})"

    def _need_words(self) -> str:
        if self.newest is None:
            return ""
        free = "" if self.free_bytes is None else f", and {io.size_words(self.free_bytes)} are free in {self.directory}"
        return f"; the newest whole one, {self.newest.name}, takes {io.size_words(self.newest_bytes)}{free}"

    def failed_words(self) -> str:
        """Words for a write that failed anyway: what was removed first, and the room a checkpoint takes."""
        if self.removed:
            return f"also after removing {self._removed_words()}{self._need_words()}"
        return f"no older checkpoint of this job to remove for room{self._need_words()}"

    def written_line(self, path: Path) -> str:
        """The one warning line of a checkpoint ``path`` written once older ones were removed for room."""
        return (f"checkpoint {path.name} did not fit in {self.directory} ({self.lack}): removed "
                f"{self._removed_words()} to make room and wrote it ({io.size_words(_checkpoint_bytes(path))}); "
                f"kept {self.newest.name if self.newest is not None else 'no other'}")


#: What a checkpoint's user can change when one of its files is larger than a file may be (``EFBIG``, said
#: after :func:`dqsim.io.limits.too_large_words`): where they go, and the register's part in each slab file.
TOO_LARGE_OPTIONS = ("checkpoints go to [checkpoint].directory, and each rank's slab file holds its 1/P of the "
                     "register (more ranks: smaller files)")


def _delete_checkpoint(path: Path) -> None:
    """Remove a checkpoint: its manifest first (so a half-removed one reads as incomplete), then its files."""
    for target in _checkpoint_files(path, temporaries=True):
        try:
            os.remove(target)
        except OSError:
            pass


def prepare_directory(session: CheckpointSession, comm, *, create: bool) -> None:
    """Collective: check that the checkpoint folder can be written, lock it for this job, remove its leftovers.

    Rank 0 (with ``create``, or if the folder exists) creates the folder,
    writes and removes a probe file and takes the job's lock
    (``.PREFIX.lock``, :func:`_lock`): one run of a job at a time uses its
    checkpoints in a folder. Holding it, it removes the files of this job's
    checkpoints that have no manifest (a write that was killed) and the
    temporary files of its checkpoints, and notes the checkpoints an
    earlier run left beyond where this one starts
    (:attr:`CheckpointSession.superseded`). Called at the start of ``dqsim
    run`` and ``dqsim resume``, before any work; ``create`` when the job
    asks for checkpoints or resumes one. Without ``create`` and without the
    folder nothing is created: the run's first checkpoint (a stop's) does
    all this then (:attr:`CheckpointSession.folder_deferred`,
    :meth:`Checkpointer.write`). :func:`release` gives the lock back.

    Raises:
        DqsimError: on every rank, if the folder cannot be created or written, or (with ``create``)
            another run of the job holds its lock there.
    """
    error = None
    directory = Path(session.directory)
    if comm.rank == 0 and (create or directory.exists()):
        error = _take_folder(session)
        if error is None and create and session.locked_out is not None:
            error = (f"{directory}: another dqsim run of this job ({session.prefix}) is using its "
                     f"checkpoints there ({session.locked_out}); wait for it to end, or give this one another "
                     f"folder ([checkpoint].directory, or a copy of the checkpoint to resume)")
    elif comm.rank == 0:
        session.folder_deferred = True
    error = comm.bcast(error)
    if error:
        raise DqsimError(error)


def _take_folder(session: CheckpointSession) -> str | None:
    """Rank 0: create and probe the checkpoint folder, take the job's lock, tidy it (:func:`prepare_directory`).

    Sets :attr:`CheckpointSession.locked_out` when another run of the job
    holds the lock (then nothing there is touched), else the session's
    ``lock``, ``written`` (a resume), ``superseded``, ``other_versions`` and
    ``earlier``.

    Returns:
        ``None``, or the one line saying why the folder cannot be written.
    """
    directory = Path(session.directory)
    probe = directory / f".{session.prefix}.probe-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
        session.lock, holder = _lock(directory, session.prefix)
        if holder is not None:  # another run of this job works here: touch none of its files
            session.locked_out = holder
            return None
        _remove_leftovers(directory, session.prefix)
        found = sorted(_complete_checkpoints(directory, session.prefix))
        if session.resume is not None:  # keep counts the job's checkpoints up to the resumed one
            session.written = _own_checkpoints(directory, session.prefix, job_hash(session.job_text),
                                               Path(session.resume.path).name)
            resumed = parse_checkpoint_name(session.resume.path)
            start = _cut_of(resumed)
            session.superseded = [path for order, path in found if order > start]
        else:  # a run from the start: an earlier run's checkpoints of this job (named as before 2026-12-07 too,
            # but those of the file's other contents, which that prefix does not tell apart)
            if session.former_prefix is not None and lock_holder(directory, session.former_prefix) is None:
                found = sorted(found + [(order, path) for order, path in
                                        _complete_checkpoints(directory, session.former_prefix)
                                        if path.name not in session.edited])
            session.superseded = [path for _order, path in found]
        versions = {path: written_by(path) for path in session.superseded}
        session.other_versions = {path: version for path, version in versions.items()
                                  if version is not None and version != dqsim.__version__}
        if session.resume is None:  # the newest that this run could have resumed
            session.earlier = next((path for path in reversed(session.superseded)
                                    if path not in session.other_versions), None)
    except OSError as exc:
        if session.resume is not None:  # a resumed run writes beside the checkpoint it resumes
            return (f"{directory}: the resumed run writes its checkpoints beside the one it resumes, and "
                    f"cannot write there ({io.folder_error(exc)}); copy the checkpoint's files "
                    f"({Path(session.resume.path).name[:-len('.h5')]}.*) to a folder that can be written "
                    "and resume that copy")
        return unwritable_directory(session.source, directory, io.folder_error(exc))
    return None


def unwritable_directory(source: str | None, directory: Path, reason: str) -> str:
    """The one line for a ``[checkpoint].directory`` where checkpoints cannot be written, and why."""
    where = f"{source}: " if source else ""
    shown = toml_repr(str(directory), limit=4096)  # the whole path
    return (f"{where}[checkpoint].directory = {shown}: cannot write checkpoints there ({reason}); give a folder "
            """you can write: --set checkpoint.directory='"DIR"' or [checkpoint].directory in the job""")


#: Seconds a run waits for the lock of its job's checkpoint folder before it is refused (:func:`_lock`): the
#: ranks of a run just killed (its launcher SIGKILLed) can take a moment to end and let go of it.
LOCK_WAIT_S = 10.0


def lock_path(directory: str | os.PathLike, prefix: str) -> Path:
    """The lock file of ``prefix``'s checkpoints in ``directory``: ``.PREFIX.lock`` (:func:`_lock`)."""
    return Path(directory) / f".{prefix}.lock"


def _holder_of(fd: int) -> str:
    """Who holds the lock on the open lock file ``fd``, as the holder wrote it (:func:`_lock`)."""
    return os.read(fd, 256).decode(errors="replace").strip() or "a process that has not said which"


def _lock(directory: Path, prefix: str, *, wait_s: float | None = None) -> tuple[tuple[int, Path] | None, str | None]:
    """Rank 0: take the lock of ``prefix``'s checkpoints in ``directory`` (``flock`` on ``.PREFIX.lock``).

    A lock held by another process is tried again for up to ``wait_s`` seconds (``None``: :data:`LOCK_WAIT_S`,
    read at the call; ``dqsim clean`` waits for none, :func:`lock_folder`).

    Returns:
        ``((descriptor, path), None)`` when taken (the file then names this process);
        ``(None, who)`` when another process holds it (its host, pid and start,
        as it wrote them); ``(None, None)`` where the file system has no
        ``flock`` (Lustre mounted without ``-o flock``): no lock, as before.
        The kernel drops the lock when its process ends, also after ``SIGKILL``.
    """
    path = lock_path(directory, prefix)
    deadline = time.monotonic() + (LOCK_WAIT_S if wait_s is None else wait_s)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _holder_of(fd)
            os.close(fd)
            if time.monotonic() >= deadline:
                return None, who
            time.sleep(0.1)
            continue
        except OSError:  # ENOLCK, ENOSYS, EOPNOTSUPP: this file system does not lock
            os.close(fd)
            return None, None
        try:  # the holder removes the file as it lets go (release): a lock on a removed file is none
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {started}\n".encode())
    return (fd, path), None


def lock_holder(directory: str | os.PathLike, prefix: str) -> str | None:
    """Who holds the lock of ``prefix``'s checkpoints in ``directory`` now, as its holder wrote it (:func:`_lock`).

    ``None`` where nobody does, there is no lock file, or the file system has
    no ``flock``. Creates and writes nothing (``dqsim check``): the file is
    opened read-only and a shared lock, where free, is given back at once (a
    run starting meanwhile tries its own again for :data:`LOCK_WAIT_S`).
    """
    try:
        fd = os.open(lock_path(directory, prefix), os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder_of(fd)
        except OSError:  # this file system does not lock
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def release(session: CheckpointSession) -> None:
    """Give back the session's lock of its checkpoint folder (:func:`prepare_directory`), if it holds it.

    The lock file is removed while still locked, then closed (which drops the lock): a run that opened it
    meanwhile finds its lock on a removed file and takes a new one (:func:`_lock`).
    """
    if session is not None and session.lock is not None:
        lock, session.lock = session.lock, None
        release_lock(lock)


def lock_folder(directory: str | os.PathLike, prefix: str) -> tuple[tuple[int, Path] | None, str | None]:
    """Take the lock of ``prefix``'s checkpoints in ``directory`` now, or say who holds it (``dqsim clean``).

    As a run takes it (:func:`_lock`), without waiting for its holder.

    Returns:
        ``(lock, None)`` when taken (give it back with :func:`release_lock`); ``(None, who)`` when another process
        holds it; ``(None, None)`` where the file system has no ``flock``.

    Raises:
        OSError: the lock file cannot be created.
    """
    return _lock(Path(directory), prefix, wait_s=0.0)


def release_lock(lock: tuple[int, Path] | None) -> None:
    """Give back a lock :func:`lock_folder` took (``None``: none was taken). Removed while still held, then closed
    (which drops it): a run that opened it meanwhile finds its lock on a removed file and takes a new one."""
    if lock is None:
        return
    fd, path = lock
    try:
        os.unlink(path)
    except OSError:
        pass
    os.close(fd)


#: Environment variable that makes every run keep its checkpoints once it has finished where its job does not say
#: (``[checkpoint].keep_when_done`` unset): ``1``. The test suite sets it (its tests resume finished runs' checkpoints).
KEEP_WHEN_DONE_ENV = "DQSIM_KEEP_CHECKPOINTS_WHEN_DONE"


def keeps_when_done(setting: bool | None) -> bool:
    """Whether a finished run keeps its checkpoints: the job's ``[checkpoint].keep_when_done`` where it sets it,
    else whether :data:`KEEP_WHEN_DONE_ENV` is ``1`` (default: no, :func:`remove_when_done` removes them).

    Examples:
        >>> keeps_when_done(True), keeps_when_done(False)
        (True, False)
    """
    if setting is not None:
        return bool(setting)
    return os.environ.get(KEEP_WHEN_DONE_ENV, "0") == "1"


def checkpoints_to_remove(session: CheckpointSession | None) -> list[Path]:
    """Rank 0: the checkpoints :func:`remove_when_done` removes once the run's output is whole (oldest first): those
    of :attr:`CheckpointSession.written` with a manifest; none without a session, with ``keep_when_done`` or for a
    run locked out of the folder."""
    if session is None or session.keep_when_done or session.locked_out is not None:
        return []
    return [path for path in session.written if manifest_path(path).is_file()]


def remove_when_done(session: CheckpointSession | None, output: str | os.PathLike, damaged: str | None) -> str | None:
    """Rank 0, once a run has written its output: remove the checkpoints of this run, unless the job keeps them.

    A finished run needs none of them, and they take a state's size each (a
    sweep of jobs on a cluster filled its disk with them). Removed only when
    the output is whole as its manifest lists it
    (:func:`dqsim.io.manifest.run_file_unfinished`: the manifest, written
    last and synced, and every file it lists at its size) and every byte of
    its state slab files matches the manifest's digests (``damaged``, the
    caller's reading of them: :func:`dqsim.cli.finished.damaged_slab`, the
    verdict ``dqsim clean`` and ``--skip-finished`` use; since 2026-12-07,
    before by their size only), and only those of
    :attr:`CheckpointSession.written` (:func:`checkpoints_to_remove`): the ones this run wrote (a resumed run:
    also the job's up to the one it resumed, :func:`_own_checkpoints`), the
    list the rotation (``keep``) takes from, so never another job's, another
    dqsim version's (in ``dqsim-VERSION/``) nor another run's further along.
    The run still holds the job's lock of the folder (:func:`release` comes
    after), and a run locked out of it wrote none there. Oldest first, each
    manifest first, then the folder is synced. A run that fails or stops
    before its output is whole never gets here: its checkpoints stay, for
    ``dqsim resume`` and the SLURM scripts' requeue.

    Args:
        session: the run's session (``None``: a run without checkpoints).
        output: the run file written (``[run].output``, ``-o``).
        damaged: why a state slab file of ``output`` differs from its manifest, one line; ``None``: none does.

    Returns:
        The summary's line saying what was removed and the room freed, or why
        they stay when the output is not whole or damaged; ``None`` when there was none
        to remove, or ``[checkpoint].keep_when_done = true``.
    """
    doomed = checkpoints_to_remove(session)
    if not doomed:
        return None
    directory = Path(session.directory)
    unfinished = manifest.run_file_unfinished(output)
    if unfinished is not None:  # not seen whole from here (a slab file on another node's disk): nothing goes
        return (f"  checkpoints: kept {count_of(len(doomed), 'checkpoint')} of this run in {directory} "
                f"({output} is not whole as its manifest lists it: {unfinished})")
    if damaged is not None:  # written, then damaged in place (the disk): the checkpoints are the way back
        return (f"  checkpoints: kept {count_of(len(doomed), 'checkpoint')} of this run in {directory} "
                f"({output} is damaged: {damaged}; dqsim resume {doomed[-1]} writes it again)")
    freed = sum(_checkpoint_bytes(path) for path in doomed)
    for path in doomed:
        _delete_checkpoint(path)
    manifest.sync_folder(directory)
    freed -= sum(_checkpoint_bytes(path) for path in doomed)  # a file that could not be removed freed nothing
    session.written = []
    return (f"  checkpoints: removed the {count_of(len(doomed), 'checkpoint')} of this run in {directory}/ "
            f"({io.size_words(freed)} freed) as {output} is whole ([checkpoint].keep_when_done = true keeps them)")


def _keep_further_along(session: CheckpointSession, cut: tuple[int, int]) -> None:
    """Rank 0, at a deferred first checkpoint at ``cut`` (engine run, window end in ps): sort out another run's.

    The folder did not exist when this run started (no periodic
    checkpoints: :attr:`CheckpointSession.folder_deferred`), so every
    checkpoint of the job in it now was written by another run since. A run
    of the same job text follows the same events (DESIGN.md invariant 5), so
    those at or before ``cut`` hold states this checkpoint supersedes and go,
    as at any first write (:func:`retire_superseded`; so do another dqsim
    version's, into ``dqsim-VERSION/``), while those further along are kept: resuming the newest of them (what ``slurm/run_step.sh``
    does after a requeue) loses less work than resuming this one. Each group
    gets one warning line naming its newest.
    """
    directory = Path(session.directory)
    behind, ahead = [], []
    for path in session.superseded:  # oldest first (each named as a checkpoint: _complete_checkpoints)
        further = _cut_of(parse_checkpoint_name(path)) > cut
        (ahead if further and path not in session.other_versions else behind).append(path)
    session.superseded = behind  # (another dqsim version's go aside as at any first write: this one cannot go on)
    if behind:
        session.warn(f"{directory} holds {count_of(len(behind), 'checkpoint')} of this job that another run "
                     f"wrote after this one started (the newest: {behind[-1].name}); this checkpoint "
                     "replaces them")
    if ahead:
        session.warn(f"{directory} holds {count_of(len(ahead), 'checkpoint')} of this job further along than "
                     f"this one that another run wrote after this one started; they are kept: "
                     f"dqsim resume {ahead[-1]} goes on from the newest")


def retire_superseded(session: CheckpointSession) -> None:
    """Rank 0, before this run's first checkpoint: remove an earlier run's checkpoints of the job beyond its start.

    They are :attr:`CheckpointSession.superseded` (all of the job's for a
    run from the start, those after the resumed one for a resume), removed
    newest first and each manifest first, so that the folder holds one run's
    checkpoints: a later ``dqsim resume`` of the newest, ``--fall-back`` and
    the SLURM scripts never go on from the earlier run's instead of this one's,
    and ``keep`` counts everything of the job there.
    """
    doomed, session.superseded = session.superseded, []
    aside, session.other_versions = session.other_versions, {}
    for path in reversed(doomed):  # newest first: the list is oldest first (prepare_directory)
        if path in aside:
            _set_aside(path, aside[path], session.warn)
        else:
            _delete_checkpoint(path)


def written_by(path: str | os.PathLike) -> str | None:
    """The dqsim version named in checkpoint ``path``'s manifest, read leniently (``None``: none readable).

    Lenient on purpose: a manifest of another dqsim version may be of another manifest format, which
    :func:`dqsim.io.manifest.read_manifest` refuses; its ``body.dqsim_version`` is all this needs.
    """
    version = (manifest_body(path) or {}).get("dqsim_version")
    return version if isinstance(version, str) else None


def manifest_body(path: str | os.PathLike) -> dict | None:
    """The ``body`` of checkpoint ``path``'s manifest as JSON, unchecked (``None``: none readable)."""
    try:
        body = json.loads(manifest_path(path).read_text())["body"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return body if isinstance(body, dict) else None


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint of one job found in its folder by :func:`stored_checkpoints` (``dqsim clean``).

    Attributes:
        path: its run file (``PREFIX.ckptRRR-TTTT.h5``; perhaps missing where it is incomplete).
        complete: whether it has a manifest (one without is a write that was killed: never resumable).
        version: the dqsim version its manifest names (``None``: incomplete, or not readable).
        config_sha256: the configuration hash its manifest names (``None``: as ``version``).
        num_bytes: the bytes its files take.
        written_s: when it was written (the modification time of its manifest, else of its newest file), s
            since the epoch.
        run_id: the run id its manifest names (:func:`start_run_id`; ``None``: written before run ids, or as
            ``version``).
        output: the output file its run was to write, as its manifest names it (``None``: as ``run_id``).
        output_from_checkpoints: that output's path relative to the checkpoint folder its run wrote into, as its
            manifest names it (``None``: written before 2026-12-07, or as ``run_id``): where the output is when the
            project folder moved.
    """

    path: Path
    complete: bool
    version: str | None
    config_sha256: str | None
    num_bytes: int
    written_s: float
    run_id: str | None = None
    output: str | None = None
    output_from_checkpoints: str | None = None


def checkpoint_files_by_stem(folder: str | os.PathLike, prefix: str | None = None) -> dict[str, list[Path]]:
    """The files of the checkpoints in ``folder`` by the stem of their names (``PREFIX.ckptRRR-TTTT``): run file,
    manifest, slab files and the temporary files of a write (``….tmp-PID``), complete checkpoints or not.

    Args:
        folder: a checkpoint folder (not its sub-folders); none there: ``{}``.
        prefix: a job's name and configuration tag (:func:`checkpoint_prefix`): only its checkpoints; ``None``:
            every job's.

    Used by :func:`stored_checkpoints` (``dqsim clean``: all of them) and by :func:`prepare_directory`'s removal of
    a job's leftovers (:func:`_remove_leftovers`: the temporary files, and the stems without a manifest).
    """
    head = re.escape(prefix) if prefix is not None else ".+"
    own = re.compile(r"^(" + head + r"\.ckpt\d{3,}-\d{20})\.")
    found: dict[str, list[Path]] = {}
    for candidate in Path(folder).glob((glob.escape(prefix) if prefix is not None else "*") + ".ckpt*"):
        match = own.match(candidate.name)
        if match is not None and candidate.is_file():
            found.setdefault(match.group(1), []).append(candidate)
    return found


def _temporary(path: Path) -> bool:
    """Whether ``path`` is a temporary file of a checkpoint's write (``….tmp-PID``)."""
    return ".tmp-" in path.name


def stored_checkpoints(directory: str | os.PathLike, prefix: str | None = None) -> list[StoredCheckpoint]:
    """The checkpoints of ``prefix`` (a job's name and configuration tag, :func:`checkpoint_prefix`; ``None``: of
    every job) in ``directory`` and in its ``dqsim-VERSION/`` folders (another version's, set aside:
    :func:`set_aside_folder`), complete or not, in folder order and then by job and along the job's run (engine
    run, cut). Reads only names, sizes and manifests (not checked: nothing is resumed); ``[]`` where the folder
    does not exist.
    """
    directory = Path(directory)
    folders = [directory, *set_aside_folders(directory)] if directory.is_dir() else []
    found = []
    for folder in folders:
        for stem, files in checkpoint_files_by_stem(folder, prefix).items():
            path = folder / (stem + ".h5")
            complete = manifest_path(path).is_file()
            body = (manifest_body(path) if complete else None) or {}

            def text(key: str) -> str | None:
                return body[key] if isinstance(body.get(key), str) else None

            written = manifest_path(path) if complete else max(files, key=lambda file: file.stat().st_mtime)
            found.append(StoredCheckpoint(path, complete, text("dqsim_version"), text("config_sha256"),
                                          sum(file.stat().st_size for file in files), written.stat().st_mtime,
                                          run_id=text("run_id"), output=text("output"),
                                          output_from_checkpoints=text("output_from_checkpoints")))

    def order(stored: StoredCheckpoint) -> tuple:
        named = parse_checkpoint_name(stored.path)
        return stored.path.parent != directory, str(stored.path.parent), named["prefix"], _cut_of(named)

    return sorted(found, key=order)


def remove_checkpoint(path: str | os.PathLike) -> None:
    """Remove checkpoint ``path``'s files, complete or not: its manifest first (a half-removed one reads as
    incomplete), its run file, slab files and temporary files (``dqsim clean``; the caller holds the job's lock)."""
    _delete_checkpoint(Path(path))


def set_aside_folders(directory: str | os.PathLike) -> list[Path]:
    """The ``dqsim-VERSION/`` folders in checkpoint folder ``directory`` (:func:`set_aside_folder`), sorted by name;
    ``[]`` where there are none or ``directory`` does not exist."""
    return sorted(path for path in Path(directory).glob("dqsim-*") if path.is_dir())


def set_aside_folder(directory: str | os.PathLike, version: str) -> Path:
    """Where a superseded checkpoint of dqsim ``version`` goes: ``dqsim-VERSION/`` in its folder."""
    return Path(directory) / ("dqsim-" + re.sub(r"[^A-Za-z0-9._+-]", "_", version))


def _set_aside(path: Path, version: str, warn: Callable[[str], None]) -> None:
    """Move checkpoint ``path`` of another dqsim ``version`` into :func:`set_aside_folder`, names unchanged.

    Its data files first, its manifest last, then both folders synced: that
    version can still resume it there (a checkpoint's manifest names its
    files, not their folder). A move that fails warns and leaves the rest
    where it is (this version refuses to resume it, in one line).
    """
    path = Path(path)
    stem = path.name[:-len(".h5")]
    target = set_aside_folder(path.parent, version)
    try:
        target.mkdir(exist_ok=True)
        moving = sorted(path.parent.glob(glob.escape(stem) + ".*"), key=lambda f: f == manifest_path(path))
        for source in moving:  # the manifest sorts last (False < True)
            os.replace(source, target / source.name)
        manifest.sync_folder(target)
        manifest.sync_folder(path.parent)
    except OSError as exc:
        warn(f"could not move {path.name} (written by dqsim {version}) into {target}: "
             f"{io.folder_error(exc)}; it stays in {path.parent}")


def _own_checkpoints(directory: Path, prefix: str, job_sha256: str, newest: str) -> list[Path]:
    """The complete checkpoints of this job (``prefix`` and job hash, from their manifests) in ``directory``
    named up to ``newest`` (the one resumed), oldest first: those the rotation of a resumed run counts.

    Later ones (a damaged newest that a SLURM restart skipped), other jobs' and other dqsim versions' are
    left alone.
    """
    own = re.compile(r"^" + re.escape(prefix) + r"\.ckpt(\d{3,})-(\d{20})\.h5$")

    def order(name: str) -> tuple[int, int]:  # (engine run, time): more than 999 runs make names longer
        match = own.match(name)
        return (int(match.group(1)), int(match.group(2))) if match else (-1, -1)

    found = []
    for candidate in directory.glob(glob.escape(prefix) + ".ckpt*.h5"):
        if not own.match(candidate.name) or order(candidate.name) > order(newest):
            continue
        body = manifest_body(candidate)
        if body is not None and body.get("job_sha256") == job_sha256 and \
                body.get("dqsim_version") == dqsim.__version__:  # another version's: not this run's to rotate
            found.append(candidate)
    return sorted(found, key=lambda path: order(path.name))


def _remove_leftovers(directory: Path, prefix: str) -> None:
    """Remove files of ``prefix``'s checkpoints without a manifest, and their temporary files
    (:func:`checkpoint_files_by_stem`)."""
    for stem, files in checkpoint_files_by_stem(directory, prefix).items():
        main = directory / (stem + ".h5")
        if not manifest_path(main).exists():
            _delete_checkpoint(main)  # its temporary files too
            continue
        for file in files:
            if _temporary(file):
                file.unlink(missing_ok=True)


def read_checkpoint(path, comm) -> tuple[dict, Resume]:
    """Collective: check a checkpoint against its manifest, then open it.

    Rank 0 reads the manifest and checks it against the file's name and this
    dqsim; every rank then hashes its share of the files (sizes first); only
    if every byte matches does rank 0 open the run file with HDF5 and check
    its attributes against the manifest. Everyone gets the result. The
    amplitudes of the state's slab files are left out (their size and HDF5's
    bytes around them are checked): :meth:`Checkpointer.restore` hashes them
    as it reads them into the register, and raises :class:`RestoreRefused`
    on every rank for a damaged one.

    Returns:
        ``(attrs, resume)``.

    Raises:
        CheckpointRefused: on every rank, one line: not a checkpoint, renamed,
            incomplete (no manifest), damaged, truncated, a missing slab,
            another dqsim version or a record naming a global that is not allowed;
            it ends naming the previous complete checkpoint of the job in the same
            folder, if there is one (:func:`previous_checkpoint`).
    """
    path = Path(path)
    try:
        return _read_checked(path, comm)
    except DqsimError as exc:  # on every rank: name the newest older checkpoint of the job, if there is one
        previous, folder = comm.bcast((previous_checkpoint(path), _refused_folder(path)) if comm.rank == 0 else None)
        raise CheckpointRefused(str(exc), previous, folder=folder) from None


def _refused_folder(path: Path) -> Path | None:
    """The folder of a refused checkpoint ``path`` whose run file or manifest is there (a damaged checkpoint, not a
    name that is no checkpoint's file); ``None`` otherwise."""
    return path.parent if path.is_file() or manifest_path(path).is_file() else None


def _read_checked(path: Path, comm) -> tuple[dict, Resume]:
    """Collective: :func:`read_checkpoint`'s work, without the hint its errors get."""
    facts, error = None, None
    if comm.rank == 0:
        try:
            facts = _checked_manifest(path)
        except DqsimError as exc:
            error = str(exc)
    error, facts = comm.bcast((error, facts))
    if error:
        raise DqsimError(error)
    files = facts["files"]
    start, stop = comm_mod.split_evenly(len(files), comm.size, comm.rank)
    deferred = _slabs_hashed_on_restore(files)  # their amplitudes: hashed once, as restore reads them
    _collectively(comm, lambda: manifest.verify_files(manifest_path(path), files[start:stop], deferred=deferred))
    payload = None
    if comm.rank == 0:
        try:
            payload = _open_verified(path, facts)
        except DqsimError as exc:
            error = str(exc)
        except (KeyError, ValueError, TypeError, OSError, RuntimeError) as exc:
            error = f"{path}: not a complete dqsim checkpoint ({exc})"
    error = comm.bcast(error)
    if error:
        raise DqsimError(error)
    return comm.bcast(payload)


def _slabs_hashed_on_restore(files: list) -> set[str]:
    """The state slab files of a checkpoint's manifest entries (``files``: the run file first) whose amplitudes
    :func:`read_checkpoint` leaves to :meth:`Checkpointer.restore`, which hashes them as it reads them into the
    register: those listed in three parts (HDF5's bytes, the amplitudes, HDF5's bytes), whose amplitudes' digest
    is the slab checksum the run file records (:func:`_open_verified` checks that they agree)."""
    return {entry["name"] for entry in files[1:] if len(entry["parts"]) == 3}


def previous_checkpoint(path: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint (one with a manifest) of the same job before ``path``, in its folder.

    Named by the file names only (the prefix: the job's name and configuration hash; then engine run and
    cut); not verified. ``None`` when there is none, or ``path`` is not named as a checkpoint.
    """
    path = Path(path)
    named = parse_checkpoint_name(path)
    if named is None:
        return None
    here = _cut_of(named)
    return max(((order, candidate) for order, candidate in _complete_checkpoints(path.parent, named["prefix"])
                if order < here), default=(None, None))[1]


def _complete_checkpoints(directory: Path, prefix: str) -> list[tuple[tuple[int, int], Path]]:
    """``((engine run, cut ps), run file)`` of every checkpoint of ``prefix`` in ``directory`` with a manifest."""
    return [(_cut_of(named), path) for named, path in _complete_named(directory, glob.escape(prefix) + ".ckpt*.h5")
            if named["prefix"] == prefix]


def tagged_checkpoints(directory: str | os.PathLike, job_name: str) -> dict[str, list[Path]]:
    """The run files of the complete checkpoints (with a manifest) of the job named ``job_name`` in ``directory``
    (not its ``dqsim-VERSION/`` folders), by prefix (:func:`checkpoint_prefix`: each configuration tag; names
    without a tag, of older checkpoints, left out), each prefix's along its run (engine run, cut), by names only
    (:mod:`dqsim.cli.edited` reads their manifests); ``{}`` where the folder does not exist."""
    found: dict[str, list[tuple[tuple[int, int], Path]]] = {}
    for named, path in _complete_named(directory, glob.escape(job_name) + ".*.ckpt*.h5"):
        if named["job_name"] == job_name and named["config"] is not None:
            found.setdefault(named["prefix"], []).append((_cut_of(named), path))
    return {prefix: [path for _cut, path in sorted(cuts)] for prefix, cuts in sorted(found.items())}


def _complete_named(directory: str | os.PathLike, pattern: str) -> list[tuple[dict, Path]]:
    """``(name's parts, run file)`` (:func:`parse_checkpoint_name`) of the files in ``directory`` that ``pattern``
    (a glob) matches, named as checkpoints' run files and with a manifest: complete checkpoints."""
    found = []
    for candidate in Path(directory).glob(pattern):
        named = parse_checkpoint_name(candidate)
        if named is not None and manifest_path(candidate).is_file():
            found.append((named, candidate))
    return found


def _cut_of(named: dict) -> tuple[int, int]:
    """``(engine run, cut ps)`` of a checkpoint name as :func:`parse_checkpoint_name` reads it: the order of a
    job's checkpoints along its run."""
    return named["engine_run"], named["window_end_ps"]


def verify_checkpoint(path: str | os.PathLike) -> dict:
    """Check every byte of a checkpoint against its manifest, on one process, before HDF5 reads it.

    For ``dqsim inspect``: like :func:`read_checkpoint`'s first steps, but a
    checkpoint of another dqsim version is accepted.

    Returns:
        The manifest's body.

    Raises:
        DqsimError: one line: renamed, incomplete, damaged or truncated.
    """
    path = Path(path)
    facts = _checked_manifest(path, check_version=False)
    manifest.verify_files(manifest_path(path), facts["files"])
    return facts


def _checked_manifest(path: Path, *, check_version: bool = True) -> dict:
    """Rank 0: the manifest of ``path``, checked against the file's name and this dqsim."""
    if path.is_dir():
        named = [(parse_checkpoint_name(candidate), candidate) for candidate in path.glob("*.ckpt*.h5")
                 if manifest_path(candidate).is_file()]
        newest = max(((found["engine_run"], found["window_end_ps"], str(candidate)) for found, candidate in named
                      if found is not None), default=None)  # the furthest in its job's runs
        raise DqsimError(f"{path}: a folder; give one of its checkpoints" +
                         (f", e.g. the newest: {newest[2]}" if newest else " (it has none)"))
    if path.exists() and not path.is_file():
        raise DqsimError(f"{path}: not a file")
    named = parse_checkpoint_name(path)
    if named is None and not path.exists():  # a mistyped path: say so, not that the name is wrong
        raise DqsimError(f"{path}: no such checkpoint")
    if named is None:
        raise DqsimError(f"{path}: not named as a dqsim checkpoint (NAME.HHHHHHHH.ckptRRR-TTTTTTTTTTTTTTTTTTTT.h5, "
                         "in the job's [checkpoint].directory; a run's output cannot be resumed, and checkpoints may "
                         "not be renamed)")
    if not path.exists() and not manifest_path(path).exists():
        raise DqsimError(f"{path}: no such checkpoint")
    facts = manifest.read_manifest(manifest_path(path), kind=MANIFEST_KIND)
    if check_version and facts.get("dqsim_version") != dqsim.__version__:
        commit = f" (commit {facts['dqsim_commit']})" if isinstance(facts.get("dqsim_commit"), str) else ""
        raise DqsimError(f"{path}: written by dqsim {facts.get('dqsim_version')}{commit}, this is dqsim "
                         f"{dqsim.__version__}; resume it with that version")
    expected = {"checkpoint": path.name, "job_name": named["job_name"], "engine_run": named["engine_run"],
                "window_end_ps": named["window_end_ps"]}
    config = facts.get("config_sha256")
    if (config[:CONFIG_TAG_DIGITS] if isinstance(config, str) else None) != named["config"]:
        raise DqsimError(f"{path}: its manifest says config_sha256 = {config!r}, the file name "
                         f"{named['config']!r}; checkpoints may not be renamed")
    for key, value in expected.items():
        if facts.get(key) != value:
            raise DqsimError(f"{path}: its manifest says {key} = {facts.get(key)!r}, the file name "
                             f"{value!r}; checkpoints may not be renamed")
    if type(facts.get("num_ranks")) is not int or facts["num_ranks"] < 1 or \
            not isinstance(facts.get("job_sha256"), str) or not isinstance(facts.get("dqsim_version"), str):
        raise DqsimError(f"{path}: damaged manifest (num_ranks, job_sha256 or dqsim_version)")
    if facts["files"][0]["name"] != path.name:
        raise DqsimError(f"{path}: its manifest does not list it first")
    return facts


def _open_verified(path: Path, facts: dict) -> tuple[dict, Resume]:
    """Rank 0: open a checkpoint whose bytes matched its manifest; check its attributes against it."""
    run = io.open_run(path)
    attrs = run.attrs
    if not attrs.get("checkpoint"):
        raise DqsimError(f"{path}: not a dqsim checkpoint (written by 'dqsim run' with checkpoints)")
    checks = {"job_sha256": facts["job_sha256"], "job_name": facts["job_name"], "engine_run": facts["engine_run"],
              "window_end_ps": facts["window_end_ps"], "num_ranks": facts["num_ranks"],
              "dqsim_version": facts["dqsim_version"]}
    for key, value in checks.items():
        if attrs.get(key) != value:
            raise DqsimError(f"{path}: {key} = {attrs.get(key)!r}, its manifest says {value!r}")
    if attrs.get("config_sha256") != facts.get("config_sha256"):
        raise DqsimError(f"{path}: config_sha256 = {attrs.get('config_sha256')!r}, its manifest says "
                         f"{facts.get('config_sha256')!r}")
    if job_hash(attrs["job_text"]) != attrs.get("job_sha256"):
        raise DqsimError(f"{path}: the stored job text does not match its hash; the file is damaged")
    listed = {entry["name"] for entry in facts["files"]}
    if attrs.get("has_state"):
        info = run.state_info or {}
        if info.get("layout") == "slabs":
            slab_files = run.attrs_of("state").get("slab_files", [])
            unlisted = [name for name in slab_files if Path(name).name != name or name not in listed]
            if unlisted or len(slab_files) != facts["num_ranks"]:
                raise DqsimError(f"{path}: its state slabs {slab_files} are not the {facts['num_ranks']} "
                                 "files its manifest lists")
            entries = {entry["name"]: entry for entry in facts["files"]}
            deferred = _slabs_hashed_on_restore(facts["files"])
            for name, recorded in zip(slab_files, run.attrs_of("state").get("slab_checksums", [])):
                entry = entries[name]
                if name in deferred and recorded != f"{entry['hash']}:{entry['parts'][1][1]}":
                    raise DqsimError(f"{path}: its state slab {name} records the checksum {recorded}, its manifest "
                                     f"{entry['hash']}:{entry['parts'][1][1]} for the amplitudes; the files do not "
                                     "belong together")
        run.check_state_files()  # every slab there; each rank checks its checksums when it reads
    streams = {(int(r["node"]), str(r["purpose"])): int(r["event"]) for r in run.table("streams")}
    resume = Resume(path, int(attrs["engine_run"]), int(attrs["window_end_ps"]), streams,
                    saved_touches(run), bool(attrs.get("has_state")),
                    record_checksums=dict(zip(attrs["record_names"], attrs["record_sha256"])),
                    num_ranks=int(attrs["num_ranks"]),
                    num_amplitudes=int(run.state_info["shape"][0]) if attrs.get("has_state") else 0)
    resume.num_failed = int(attrs.get("num_failed_checkpoints", 0))
    resume.prefix = parse_checkpoint_name(path)["prefix"]
    resume.config_sha256 = facts.get("config_sha256")
    resume.run_id = facts["run_id"] if isinstance(facts.get("run_id"), str) else None  # none before 2026-12-06
    resume.dqsim_commit = facts["dqsim_commit"] if isinstance(facts.get("dqsim_commit"), str) else None
    resume.results = unpickle(_read_record(run, "engine/results", resume), where=f"{path}: engine/results")
    resume.shared = _read_record(run, "engine/shared", resume)  # unpickled by each rank's run
    return attrs, resume
