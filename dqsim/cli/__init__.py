"""The ``dqsim`` command line (:mod:`dqsim.cli.main`); :func:`console_main` is its entry point.

This module imports only ``gc``, ``os`` and ``sys`` (the interpreter has loaded them)
and ``signal`` (0.5 ms), so that :func:`console_main` holds the stop signals
of a ``run`` or ``resume`` under a millisecond after the interpreter's own
start (and ``site``), before it imports anything else: the parser (:mod:`dqsim.cli.parser`:
argparse, pathlib, json, 25-75 ms on a loaded node), then the command's
module (NumPy, numba, h5py, mpi4py: a second or more). A Ctrl-C while the
command is still starting is one line, as everywhere else, not a traceback
from inside an import, and ``dqsim --version`` or ``--help`` cost what
argparse costs.
"""

from __future__ import annotations

import gc
import os
import signal
import sys

#: Exit status after Ctrl-C (128 + SIGINT, as a shell reports it): while loading, or a second one during a run.
EXIT_INTERRUPTED = 130


#: Commands whose run takes SIGUSR1 and SIGTERM as "checkpoint and stop" (:func:`hold_stop_signals`).
STOPPABLE_COMMANDS = ("run", "resume")
#: The line of a Ctrl-C while a command still loads, or while a run's ranks start (before its first gate or event):
#: the run takes no checkpoint then, there is nothing to keep.
INTERRUPTED_AT_START = ("dqsim: interrupted while starting, before the first gate or event: nothing was run or "
                        "written (no checkpoint either); run the command again")
#: The line of a Ctrl-C while another command (inspect, check, plot, merge, clean, ...) still loads: it runs no gate
#: or event and takes no checkpoint (since 2026-12-07 (night); before, every command printed the run's line).
INTERRUPTED_WHILE_LOADING = "dqsim: interrupted while starting: nothing was done; run the command again"

_EARLY_STOPS: list[int] = []


def _hold(signum, frame) -> None:
    _EARLY_STOPS.append(signum)


def hold_stop_signals() -> None:
    """Keep a SIGUSR1 or SIGTERM that comes while a ``run`` or ``resume`` still loads its modules.

    Without it such a signal (1-3 s on a loaded node) ended the process by its default action: no
    checkpoint, no line, status 138 or 143. :func:`console_main` calls it first, before it imports the
    parser; what is left unheld is the interpreter's own start (see docs/architecture.md). The run's own handlers
    (:func:`dqsim.engine.checkpoint.install_signal_handlers`) replace these; :func:`take_held_stop_signal` then
    says whether one came, and the run takes it at its first cut.
    """
    for sig in (signal.SIGUSR1, signal.SIGTERM):
        signal.signal(sig, _hold)


#: Environment variable naming the folder where each rank of a ``run`` or ``resume`` says it holds the stop
#: signals (:func:`announce_held_stop_signals`); ``slurm/run_step.sh`` sets it for the ranks it launches.
READY_DIR_VARIABLE = "DQSIM_READY_DIR"


def announce_held_stop_signals() -> None:
    """Create an empty file ``HOST.PID`` in the folder ``DQSIM_READY_DIR`` names, once this process holds
    the stop signals (:func:`hold_stop_signals`); nothing where the variable is unset or empty.

    A signal that reaches a rank before the hold ends it by the signal's default action (the interpreter's
    own start, ~0.1 s from the launch on a loaded node). ``slurm/run_step.sh`` counts these files and
    passes a USR1 on to the ranks only once every rank has one, so none comes in that window. A file that
    cannot be written costs one warning line: run_step.sh then passes the signal on after its bounded wait
    (``DQSIM_READY_WAIT_S``).
    """
    folder = os.environ.get(READY_DIR_VARIABLE)
    if not folder:
        return
    path = os.path.join(folder, f"{os.uname().nodename}.{os.getpid()}")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
    except OSError as error:
        print(f"dqsim: warning: cannot write {path} ({error.strerror}; {READY_DIR_VARIABLE}): a stop signal "
              "reaches this rank only after run_step.sh's DQSIM_READY_WAIT_S", file=sys.stderr, flush=True)


def ignore_stop_signals() -> None:
    """Ignore SIGUSR1, SIGTERM and Ctrl-C (SIGINT) once a ``run`` or ``resume`` has its exit status.

    The interpreter gives them back their default action (end the process) as it starts tearing down,
    and the teardown (modules, MPI) took 1.3-2.5 s on a loaded VM: a stop signal then ended a finished
    run, its output or checkpoint complete, with status 138 or 143 (and ``mpiexec``'s "BAD TERMINATION"
    banner) instead of 0 or 75, which SLURM's run_step counts as a failure; a Ctrl-C, which a run takes as
    SIGTERM, with status -2 (130 from a shell) and no line (until 2026-12-06). Ignored signals stay ignored
    through it. A SIGINT that was ignored from the start (a job started with ``&`` from a script) or left
    to its default action stays so; a second Ctrl-C to ``mpiexec`` still ends the ranks (its "force abort").
    """
    for sig in (signal.SIGUSR1, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    if signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN, signal.SIG_DFL, None):  # Python's or the run's
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def skip_exit_collections() -> None:
    """Spare the interpreter's teardown its garbage collections, once the command has its exit status.

    :func:`console_main`'s last step (its process ends with the command): the objects alive now go to the
    collector's permanent generation (:func:`gc.freeze`), which the collections of the teardown leave
    alone. Those collections walked every object of the ~1,130 modules a run loads (NumPy, numba, llvmlite,
    h5py, mpi4py, dqsim): 0.6-1.1 s at load ~2 on the 2-core dev VM, 3.4-9.5 s at load 20-25 (``perf``:
    ``gc_collect_main``), nearly all the time between a stop's "checkpoint written" line and the process's
    end (bench/results/stop-exit-time-vm-20261207p.md), and as long after a finished run. What the teardown does besides is kept: ``atexit`` handlers, MPI's
    finalize (mpi4py's, at the interpreter's exit), stdout and stderr flushed, objects not in reference
    cycles freed. Only objects in cycles stay unfreed, which the process's end reclaims; every file a
    command writes is closed (and synced) before it returns.
    """
    gc.freeze()


def hold_ctrl_c() -> None:
    """Keep a Ctrl-C (SIGINT) pending while a ``run`` or ``resume`` loads and starts MPI, until
    :func:`release_ctrl_c` (or :func:`drop_held_ctrl_c`).

    :func:`console_main` calls it first, before any import. A ``KeyboardInterrupt`` while loading or
    between the collectives of :func:`dqsim.comm.init` ended one rank (``dqsim: interrupted``) while the
    others went on into MPI's start or its next collective and waited for it there (a hang), or were
    ended by ``mpiexec`` (its BAD TERMINATION banner, status 2 or 11). Held, it is looked at on every rank
    at once when MPI runs (:func:`dqsim.cli.main._interrupted_while_starting`: every rank ends, 130); one
    that comes later is taken by the run's own handlers, as a stop (a checkpoint at the first cut).
    """
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def ctrl_c_held() -> bool:
    """Whether a Ctrl-C (SIGINT) is pending here, held by :func:`hold_ctrl_c` (False where signals cannot be
    blocked)."""
    return hasattr(signal, "sigpending") and signal.SIGINT in signal.sigpending()


def drop_held_ctrl_c() -> None:
    """Ignore Ctrl-C from now on, and with it the one held by :func:`hold_ctrl_c`: for a command that ends
    now because of it (one that came later would end it again, without a word)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    release_ctrl_c()  # (setting SIG_IGN dropped a pending one)


def forget_held_ctrl_c() -> None:
    """Take Ctrl-C again as before :func:`hold_ctrl_c`, dropping one it holds: for a command that ends early
    (interrupted while loading by another way, or called in a process that goes on, as a test)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # ignored, a pending one is dropped
    release_ctrl_c()
    signal.signal(signal.SIGINT, previous)


def release_ctrl_c() -> None:
    """Deliver a Ctrl-C held by :func:`hold_ctrl_c` (to the handler in place now) and take later ones at once."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


#: The signals a ``run`` or ``resume`` takes as a stop (:func:`dqsim.engine.checkpoint.install_signal_handlers`).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)


def signal_state() -> tuple[dict, set | None]:
    """``(handlers, mask)``: the handlers of :data:`STOP_SIGNALS` and this thread's signal mask (``None`` where
    signals cannot be blocked), for :func:`set_signal_state`."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, []) if hasattr(signal, "pthread_sigmask") else None
    return {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}, mask


def set_signal_state(state: tuple[dict, set | None], *, handlers: bool) -> None:
    """Set back what :func:`signal_state` returned: this thread's signal mask and, with ``handlers``
    (the main thread only: Python sets handlers nowhere else), the handlers, before the mask, so that a
    Ctrl-C held while a run started (:func:`hold_ctrl_c`) goes to the handler set back. A handler not
    set from Python (``None``) is left as it is."""
    saved, mask = state
    if handlers:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def command_named(argv: list[str]) -> str | None:
    """The command a ``dqsim`` command line names, read before argparse is imported: its first argument that
    is not an option. ``dqsim`` itself takes only ``--version`` and ``--help``, neither with a value, and
    argparse takes no abbreviation of a command, so this is the ``args.command`` it parses (or it stops
    the process: help, version, usage error)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def take_held_stop_signal() -> bool:
    """Whether a stop signal came while the command loaded (:func:`hold_stop_signals`); forgets it."""
    held = bool(_EARLY_STOPS)
    _EARLY_STOPS.clear()
    return held


def console_main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dqsim`` console script and ``python -m dqsim``: :func:`dqsim.cli.main.main`.

    A ``run`` or ``resume`` (:func:`command_named`) first holds the stop
    signals (:func:`hold_stop_signals`) and Ctrl-C (:func:`hold_ctrl_c`),
    before anything is imported, and says so
    (:func:`announce_held_stop_signals`). The
    command line is then parsed before any command's module is imported
    (:mod:`dqsim.cli.parser`): ``--version``, ``--help`` and usage errors
    exit there; then only the module of the command given is imported.
    (Not named ``main``: importing :mod:`dqsim.cli.main` binds that name in this package to the module.)

    Returns:
        The exit status; 130 after a Ctrl-C while the command was still loading.
    """
    argv = sys.argv[1:] if argv is None else argv
    held = command_named(argv) in STOPPABLE_COMMANDS
    if held:  # first: every import below (the parser's too) comes after it
        hold_stop_signals()
        hold_ctrl_c()  # and Ctrl-C: the run takes it once MPI runs on every rank (dqsim.cli.main)
        announce_held_stop_signals()  # then say so to slurm/run_step.sh, which passes signals on only now
    try:
        from dqsim.cli import parser  # noqa: PLC0415 - after the hold (argparse, pathlib, json)

        args = parser.build_parser().parse_args(argv)
        command = parser.handler(args.command)  # the heavy imports, under the Ctrl-C guard
    except KeyboardInterrupt:
        if held:
            forget_held_ctrl_c()
        print(INTERRUPTED_AT_START if held else INTERRUPTED_WHILE_LOADING, file=sys.stderr, flush=True)
        skip_exit_collections()
        return EXIT_INTERRUPTED
    status = call_handler(command, args)
    if args.command in STOPPABLE_COMMANDS:
        ignore_stop_signals()
    skip_exit_collections()
    return status


def exit_status(status: int) -> int:
    """``status``, once MPI has ended where the process's exit would turn it into ``MPI_Abort``.

    The last step of ``python -m dqsim`` (``dqsim/__main__.py``): under
    ``python -m mpi4py -m dqsim`` on several ranks a stop (75) or a refusal
    (2), which every rank returns alike (:func:`dqsim.cli.main.guarded`),
    came out with an ``Abort(75) on node 1 ...`` line per rank after
    dqsim's one line (:func:`dqsim.comm.finalize`). A Ctrl-C's 130, which
    one rank may return alone (a second Ctrl-C), is left to mpi4py's
    ``MPI_Abort``: it ends the ranks that still wait for that one; the 130
    of a Ctrl-C while the ranks started, which they agree on, comes with MPI
    ended already (:func:`dqsim.cli.main._interrupted_while_starting`).
    """
    if status not in (0, EXIT_INTERRUPTED) and "dqsim.comm" in sys.modules:  # a command that used MPI, if any
        sys.modules["dqsim.comm"].finalize()  # loaded already; this module imports only os, sys and signal
    return status


def print_error(message: str) -> None:
    """Print the one line of an error a user sees: ``dqsim: error: MESSAGE`` on stderr."""
    print(f"dqsim: error: {message}", file=sys.stderr, flush=True)


def call_handler(command, args) -> int:
    """``command(args)``'s exit status; a Ctrl-C outside a run, or output piped into a program that stopped
    reading (``| head``), end it quietly (130 and 0)."""
    try:
        return command(args)
    except KeyboardInterrupt:  # Ctrl-C outside a run (inspect, plot, merge, or before the run starts)
        print("dqsim: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into a program that stopped reading (e.g. head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
