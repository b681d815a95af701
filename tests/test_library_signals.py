"""``dqsim`` called as a library (:func:`dqsim.cli.main.main`) in a process that goes on: the caller's signal
handlers and this thread's signal mask are as they were after every call, whatever way it ends; in a thread
other than the main one a run installs no handler and stops on :func:`dqsim.engine.checkpoint.request_stop`.
"""

import signal
import threading

import pytest

from dqsim import comm as comm_mod
from dqsim.cli import parser, set_signal_state, signal_state
from dqsim.cli.main import main
from dqsim.engine import checkpoint
from dqsim.state.sharded import ShardedState
from mpi_helper import ROOT
from run_files import checkpoints

#: 4 qubits, 200 layers unfused: a few gate boundaries (256 operations each), a fraction of a second.
SMALL = [str(ROOT / "jobs" / "random_circuit.toml"), "--set", "circuit.num_qubits=4", "--set", "circuit.depth=200",
         "--set", "simulation.fusion=false", "--set", "simulation.shots=20", "--set", "simulation.observables=[\"Z0 Z3\"]",
         "--quiet"]


def host_handler(signum, frame):
    """The calling program's own handler of SIGTERM and SIGUSR1."""


@pytest.fixture
def host_signals():
    """SIGTERM and SIGUSR1 taken by the caller's own handler (SIGINT keeps Python's, the only one a run takes
    it from); this thread's handlers and mask set back after the test."""
    saved = signal_state()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(sig, host_handler)
    yield
    set_signal_state(saved, handlers=True)
    checkpoint.forget_stop()


def as_the_caller_had_them():
    handlers, mask = signal_state()
    assert handlers == {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: host_handler,
                        signal.SIGUSR1: host_handler}
    assert signal.SIGINT not in mask


def stop_at_first_piece(monkeypatch, stop):
    """``stop()`` while the run applies its first piece of gates."""
    original = ShardedState.apply_ops
    calls = []

    def apply_and_stop(self, ops, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            stop()
        return original(self, ops, **kwargs)

    monkeypatch.setattr(ShardedState, "apply_ops", apply_and_stop)


def test_repro_main_called_twice_leaves_the_callers_handlers_and_forgets_the_stop(tmp_path, monkeypatch,
                                                                                   host_signals, capsys):
    """main() left the run's ``request_stop`` on SIGINT, SIGTERM and SIGUSR1 (the caller's next Ctrl-C was a
    stop), and the stop a signal asked for: a second run in the process stopped at its first boundary (75)."""
    stop_at_first_piece(monkeypatch, lambda: signal.raise_signal(signal.SIGUSR1))
    assert main(["run", *SMALL, "-o", str(tmp_path / "a.h5"), "--set",
                 f"checkpoint.directory=\"{tmp_path / 'ck'}\""]) == checkpoint.EXIT_CHECKPOINTED
    assert len(checkpoints(tmp_path / "ck")) == 1
    as_the_caller_had_them()
    monkeypatch.undo()
    assert main(["run", *SMALL, "-o", str(tmp_path / "b.h5")]) == 0
    assert (tmp_path / "b.h5").exists()
    as_the_caller_had_them()
    with pytest.raises(SystemExit):  # argparse's usage error
        main(["run", "--no-such-option"])
    as_the_caller_had_them()


@pytest.mark.parametrize("how", ["main", "cmd_run"])
def test_repro_mpi_start_that_raises_leaves_ctrl_c_unblocked(tmp_path, monkeypatch, how):
    """An MPI start that raised something other than a DqsimError left SIGINT blocked in the calling thread."""

    def broken_start(*args, **kwargs):
        raise RuntimeError("MPI_Init failed")

    monkeypatch.setattr(comm_mod, "init", broken_start)
    argv = ["run", *SMALL, "-o", str(tmp_path / "x.h5")]
    with pytest.raises(RuntimeError, match="MPI_Init failed"):
        if how == "main":
            main(argv)
        else:
            args = parser.build_parser().parse_args(argv)
            parser.handler(args.command)(args)
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_repro_main_in_another_thread_runs_and_stops_on_request_stop(tmp_path, monkeypatch, host_signals):
    """In a thread other than the main one the run raised ValueError (signal.signal) and exited 1 ("internal
    error"), with SIGINT left blocked in that thread. Now it installs no handler, holds no Ctrl-C, and stops
    (a checkpoint, 75) on request_stop() from anywhere."""
    results = {}

    def in_thread(name, argv):
        before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        results[name] = main(argv)
        results[f"{name} mask"] = signal.pthread_sigmask(signal.SIG_BLOCK, []) == before

    def run_in_thread(name, argv):
        thread = threading.Thread(target=in_thread, args=(name, argv))
        thread.start()
        thread.join(60)

    run_in_thread("whole", ["run", *SMALL, "-o", str(tmp_path / "a.h5")])
    stop_at_first_piece(monkeypatch, checkpoint.request_stop)
    run_in_thread("stopped", ["run", *SMALL, "-o", str(tmp_path / "b.h5"), "--set",
                              f"checkpoint.directory=\"{tmp_path / 'ck'}\""])
    assert results == {"whole": 0, "whole mask": True, "stopped": checkpoint.EXIT_CHECKPOINTED, "stopped mask": True}
    assert (tmp_path / "a.h5").exists() and len(checkpoints(tmp_path / "ck")) == 1
    as_the_caller_had_them()
