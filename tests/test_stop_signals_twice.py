"""A second Ctrl-C, and the process's end after a stop (one rank, in this process; a second Ctrl-C to ``mpiexec``
is its own "force abort", bench/stop_exit_time.py).

The first Ctrl-C asks for a checkpoint at the next cut; a second one while that checkpoint is being written stops
at once (130), writes nothing more, and names the checkpoint that still continues the run; one that comes once it
is written changes nothing: the stop's line and its status 75. ``console_main`` spares the interpreter's teardown
its garbage collections (seconds on a loaded node between the stop's line and the process's end).
"""

import gc
import signal

import pytest

from dqsim.cli import console_main, set_signal_state, signal_state
from dqsim.engine import checkpoint
from dqsim.state.sharded import ShardedState
from mpi_helper import ROOT, run_here
from run_files import checkpoints

#: 4 qubits, 600 layers unfused: several gate boundaries (256 operations each), a fraction of a second.
SMALL = [str(ROOT / "jobs" / "random_circuit.toml"), "--set", "circuit.num_qubits=4", "--set", "circuit.depth=600",
         "--set", "simulation.fusion=false", "--set", "simulation.shots=20", "--set", "simulation.observables=[\"Z0 Z3\"]",
         "--quiet"]


@pytest.fixture
def ctrl_c():
    """SIGINT taken by Python's own handler (as in an interactive shell, the one a run takes it from); this
    thread's handlers and mask set back after the test."""
    saved = signal_state()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    set_signal_state(saved, handlers=True)
    checkpoint.forget_stop()


def first_ctrl_c_at_first_piece(monkeypatch):
    """A Ctrl-C while the run applies its first piece of gates (a stop at the next boundary)."""
    original, calls = ShardedState.apply_ops, []

    def apply_and_interrupt(self, ops, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)
        return original(self, ops, **kwargs)

    monkeypatch.setattr(ShardedState, "apply_ops", apply_and_interrupt)


def second_ctrl_c_in_the_stop_s_write(monkeypatch, *, after: bool):
    """A second Ctrl-C in the stop's checkpoint write: once the state's slab files are written, before the run
    file (``after``: once the write has returned)."""
    original, run_file = checkpoint.Checkpointer.write, checkpoint.Checkpointer._write_run_file

    def write(self, *args, stop=False, **kwargs):
        path = original(self, *args, stop=stop, **kwargs)
        if stop and after:
            signal.raise_signal(signal.SIGINT)
        return path

    def write_run_file(self, *args, **kwargs):
        if not after:
            signal.raise_signal(signal.SIGINT)
        return run_file(self, *args, **kwargs)

    monkeypatch.setattr(checkpoint.Checkpointer, "write", write)
    monkeypatch.setattr(checkpoint.Checkpointer, "_write_run_file", write_run_file)


def test_repro_a_second_ctrl_c_once_the_stop_s_checkpoint_is_written_keeps_its_line_and_status_75(
        tmp_path, monkeypatch, ctrl_c):
    """A second Ctrl-C that came after the stop's checkpoint was complete, before the process ended, raised
    KeyboardInterrupt: status 130 and "this run wrote nothing more", the checkpoint's line never printed."""
    first_ctrl_c_at_first_piece(monkeypatch)
    second_ctrl_c_in_the_stop_s_write(monkeypatch, after=True)
    stopped = run_here(["run", *SMALL, "-o", str(tmp_path / "x.h5"), "--set",
                        f"checkpoint.directory=\"{tmp_path / 'ck'}\""], check=False)
    assert stopped.returncode == checkpoint.EXIT_CHECKPOINTED, stopped.stderr
    written = checkpoints(tmp_path / "ck")
    assert stopped.stderr.strip().splitlines() == [f"dqsim: checkpoint written to {written[0]}; continue with: "
                                                   f"dqsim resume {written[0]}"]


def test_a_ctrl_c_in_dqsim_resume_then_a_second_one_in_its_write_names_the_checkpoint_that_continues_it(
        tmp_path, monkeypatch, ctrl_c):
    """A Ctrl-C during ``dqsim resume`` checkpoints and stops (75), as during ``dqsim run``; a second one while
    that resume's stop writes its checkpoint ends it at once (130), leaving no file of that write, and names the
    checkpoint it resumed, which then finishes the run."""
    first_ctrl_c_at_first_piece(monkeypatch)
    assert run_here(["run", *SMALL, "-o", str(tmp_path / "x.h5"), "--set",
                     f"checkpoint.directory=\"{tmp_path / 'ck'}\""], check=False).returncode == 75
    first = checkpoints(tmp_path / "ck")[0]
    monkeypatch.undo()
    first_ctrl_c_at_first_piece(monkeypatch)
    resumed = run_here(["resume", str(first), "-o", str(tmp_path / "x.h5")], check=False)
    assert resumed.returncode == 75, resumed.stderr
    second = checkpoints(tmp_path / "ck")[-1]
    assert second != first and resumed.stderr.strip().endswith(f"dqsim resume {second}")
    files = sorted(path.name for path in (tmp_path / "ck").iterdir())
    monkeypatch.undo()
    first_ctrl_c_at_first_piece(monkeypatch)
    second_ctrl_c_in_the_stop_s_write(monkeypatch, after=False)
    twice = run_here(["resume", str(second), "-o", str(tmp_path / "x.h5")], check=False)
    assert twice.returncode == 130, twice.stderr
    assert twice.stderr.strip().splitlines() == [
        "dqsim: interrupted (a second Ctrl-C); this run wrote nothing more; its last checkpoint continues it: "
        f"dqsim resume {second}"]
    assert sorted(path.name for path in (tmp_path / "ck").iterdir()) == files
    monkeypatch.undo()
    assert run_here(["resume", str(second), "-o", str(tmp_path / "x.h5")]).returncode == 0
    assert (tmp_path / "x.h5").is_file()


def test_repro_console_main_spares_the_teardown_its_garbage_collections(tmp_path):
    """The interpreter's teardown collected every object of the modules a run loads: 0.6-3 s between a stop's
    line and the process's end on the loaded VM (bench/results/stop-exit-time-vm-20261207p.md)."""
    frozen = gc.get_freeze_count()
    try:
        assert console_main(["inspect", str(tmp_path / "none.h5")]) == 2
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
