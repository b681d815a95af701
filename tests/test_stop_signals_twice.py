"""A second Ctrl-C, and the process's end after a stop (one rank, in this process; a second Ctrl-C to ``mpiexec``
is its own "force abort", bench/stop_exit_time.py).

The first Ctrl-C asks for a checkpoint at the next cut; a second one while that checkpoint is being written stops
at once (130), writes nothing more, and names the checkpoint that still continues the run; one that comes once it
is written changes nothing: the stop's line and its status 75. ``console_main`` spares the interpreter's teardown
its garbage collections (seconds on a loaded node between the stop's line and the process's end).
"""

import gc
import shutil
import signal
import subprocess
import sys
from types import SimpleNamespace

import pytest

from dqsim.cli import console_main, set_signal_state, signal_state
from dqsim.engine import checkpoint
from dqsim.state.sharded import ShardedState
from mpi_helper import ROOT, child_env, mpiexec_path, run_here
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


def a_cut_short_write(folder, ranks):
    """The files of a checkpoint write of ``ranks`` ranks cut short before its manifest: the run file, each rank's
    slab file, and this process's temporaries (run file, manifest, slab 0)."""
    path = folder / "job.0123abcd.ckpt000-00000000000000001000.h5"
    base = path.with_name(path.name[:-len(".h5")])
    files = [path, *(base.with_name(f"{base.name}.slab{rank:04d}.h5") for rank in range(ranks))]
    files += [checkpoint.temporary_path(file) for file in (path, checkpoint.manifest_path(path), files[1])]
    for file in files:
        file.write_bytes(b"x")
    return path


def cut_writer(rank, size, handed_over=None, gathered=None):
    """A checkpoint writer of rank ``rank`` of ``size`` whose write took a second Ctrl-C (``handed_over``: the
    checkpoint whose records it had handed to rank 0; ``gathered``: rank 0's, whose every part it had gathered)."""
    writer = checkpoint.Checkpointer.__new__(checkpoint.Checkpointer)
    writer.session, writer.comm = SimpleNamespace(written=[]), SimpleNamespace(rank=rank, size=size)
    writer.handed_over, writer.gathered = handed_over, gathered
    return writer


@pytest.mark.parametrize("rank", [0, 1])
def test_repro_a_second_ctrl_c_on_one_of_several_ranks_removes_only_that_rank_s_files(tmp_path, rank):
    """On several ranks each rank takes a second Ctrl-C alone: it removed every file of the checkpoint (every
    rank's slab, the run file) while the others might still write or rename theirs. Now each removes its own: its
    slab file, and rank 0 the run file and its temporaries; nothing once the manifest exists."""
    path = a_cut_short_write(tmp_path, 3)
    before = {file.name for file in tmp_path.iterdir()}
    writer = cut_writer(rank, 3)
    writer._interrupted(path)
    mine = {file.name for file in checkpoint._own_files(path, rank)}
    assert {file.name for file in tmp_path.iterdir()} == before - mine
    assert (path.exists(), checkpoint.temporary_path(path).exists()) == (rank != 0,) * 2
    checkpoint.manifest_path(path).write_text("{}")
    writer._interrupted(path)  # complete: nothing removed, the run's newest checkpoint
    assert {file.name for file in tmp_path.iterdir()} == before - mine | {checkpoint.manifest_path(path).name}
    assert writer.session.written == [path]


def test_a_second_ctrl_c_on_one_rank_removes_every_file_of_the_checkpoint(tmp_path):
    """One rank writes every file of a checkpoint: a second Ctrl-C before its manifest leaves none of them."""
    path = a_cut_short_write(tmp_path, 1)
    cut_writer(0, 1)._interrupted(path)
    assert not list(tmp_path.iterdir())


def test_a_rank_that_handed_its_records_to_rank_0_keeps_its_slab_on_a_second_ctrl_c(tmp_path):
    """Rank 0 may write the manifest without rank 1 once it has rank 1's records: rank 1 removing its slab then
    would leave a checkpoint whose manifest names a slab file that is gone; it keeps it (a leftover at worst)."""
    path = a_cut_short_write(tmp_path, 2)
    before = {file.name for file in tmp_path.iterdir()}
    cut_writer(1, 2, handed_over=path)._interrupted(path)
    slab, temporary = checkpoint._own_files(path, 1)
    assert {file.name for file in tmp_path.iterdir()} == before - {temporary.name} and slab.is_file()


def test_rank_0_removes_every_rank_s_slab_on_a_second_ctrl_c_once_it_has_gathered_them(tmp_path):
    """Once rank 0 has every rank's part of a checkpoint (the other ranks only wait for its manifest), a second
    Ctrl-C there removes every file of it but the other ranks' temporaries (renamed by then): nothing stays behind."""
    path = a_cut_short_write(tmp_path, 3)
    cut_writer(0, 3, handed_over=path, gathered=path)._interrupted(path)
    assert not list(tmp_path.iterdir())


def launch_second_sigint(tmp_path, who: str, command=None, env=None) -> subprocess.CompletedProcess:
    """``tests/mpi_scripts/second_sigint.py WHO`` on 2 ranks: :data:`SMALL` run with its checkpoints in ``tmp_path/ck``
    (or ``command``, a ``dqsim`` command line), a stop, and a second Ctrl-C in the stop's write on rank 1 (``rank1``),
    on every rank (``every``, ``gather``), on one rank in its slab's write (``slab0``, ``slab1``) or none (``none``);
    ``env``: set in the ranks' environment too."""
    launcher = mpiexec_path()
    if launcher is None:
        pytest.skip("no mpiexec beside this Python; install the 'mpi' extra")
    script = ROOT / "tests" / "mpi_scripts" / "second_sigint.py"
    command = command or ["run", *SMALL, "-o", str(tmp_path / "x.h5"), "--set",
                          f'checkpoint.directory="{tmp_path / "ck"}"']
    return subprocess.run([launcher, "-n", "2", sys.executable, "-m", "mpi4py", str(script), who, *command],
                          cwd=ROOT, env={**child_env(), **(env or {})}, capture_output=True, text=True, timeout=240)


def checkpoint_files_in(folder):
    return sorted(path.name for path in folder.iterdir() if ".ckpt" in path.name) if folder.is_dir() else []


@pytest.mark.parametrize("who", ["rank1", "every"])
def test_repro_a_second_ctrl_c_sent_to_the_ranks_in_the_stop_s_write_ends_them_alike(tmp_path, who):
    """A second Ctrl-C sent to the ranks themselves (srun, ``scancel --signal=INT``) while rank 0 writes the stop's
    run file and manifest, the other ranks waiting for it. Before 2026-12-07 (late afternoon) rank 1 took it as
    ``KeyboardInterrupt`` and ended every rank with 130 and its line, also where rank 0 alone would have completed
    the checkpoint (cut short then: rank 1's slab left without a manifest, and rank 0's). Now rank 1 leaves it to
    rank 0: with rank 1 alone signalled, the checkpoint completes, status 75 and the one line, and it resumes; with
    every rank signalled, rank 0 removes every file of the checkpoint and every rank ends with 130, its one line."""
    done = launch_second_sigint(tmp_path, who)
    lines = [line for line in done.stderr.splitlines() if line.startswith("dqsim")]
    if who == "rank1":
        assert done.returncode == 75 and len(lines) == 1, done.stderr
        assert lines[0].startswith("dqsim: checkpoint written to "), lines
        (written,) = checkpoints(tmp_path / "ck")
        run_here(["resume", str(written), "-o", str(tmp_path / "resumed.h5"), "--quiet"])
        return
    assert done.returncode == 130, done.stderr
    assert lines == ["dqsim: interrupted (a second Ctrl-C); this run wrote nothing more; no checkpoint of it to "
                     "resume: run the job again"], done.stderr
    assert checkpoint_files_in(tmp_path / "ck") == []


def test_rank_0_removes_every_slab_on_a_second_ctrl_c_before_its_gather_returns(tmp_path):
    """Rank 1 has handed its records over (rank 0 decides), rank 0 takes a second Ctrl-C before its records'
    gather returns: it removed rank 1's slab only once the gather had returned, so rank 1's slab stayed without a
    manifest (status 130). Every slab is written and renamed once the exchange before the gather has returned:
    rank 0 removes them all from then on, and no file of the checkpoint stays."""
    done = launch_second_sigint(tmp_path, "gather")
    assert done.returncode == 130, done.stderr
    assert checkpoint_files_in(tmp_path / "ck") == []


@pytest.fixture(scope="module")
def stopped_on_two_ranks(tmp_path_factory):
    """A checkpoint of :data:`SMALL` on 2 ranks (a stop, no second signal): ``(its folder, the checkpoint)``."""
    folder = tmp_path_factory.mktemp("stopped")
    done = launch_second_sigint(folder, "none")
    assert done.returncode == 75, done.stderr
    (written,) = checkpoints(folder / "ck")
    return folder, written


@pytest.mark.parametrize("rank", [0, 1])
def test_repro_a_second_ctrl_c_to_one_rank_while_the_ranks_write_their_slabs_ends_every_rank_alike(
        tmp_path, stopped_on_two_ranks, rank):
    """A second Ctrl-C sent to one rank (srun, ``scancel --signal=INT``) while the ranks write their slabs of the
    stop's checkpoint, the other rank's slab written and renamed by then. Before 2026-12-07 (night) that rank ended
    every rank from there (``MPI_Abort``): the other rank's slab stayed without a manifest, and MPICH added its own
    ``Abort(130)`` lines. Now the rank notes it, the ranks agree at the write's next look, every rank leaves no
    slab of it and ends with 130, rank 0 alone saying so in one line that names the checkpoint the run resumed
    (the newest whole one), which still resumes."""
    folder, first = stopped_on_two_ranks
    copied = tmp_path / "ck"
    shutil.copytree(folder / "ck", copied)
    first = copied / first.name
    before = checkpoint_files_in(copied)
    done = launch_second_sigint(tmp_path, f"slab{rank}", ["resume", str(first), "-o", str(tmp_path / "x.h5")])
    assert checkpoint_files_in(copied) == before, done.stderr
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"dqsim: interrupted (a second Ctrl-C); this run wrote nothing more; its last checkpoint continues it: "
        f"dqsim resume {first}"], done.stderr
    if rank == 1:
        run_here(["resume", str(first), "-o", str(tmp_path / "resumed.h5"), "--quiet"])
        assert (tmp_path / "resumed.h5").is_file()


def test_a_second_ctrl_c_on_rank_0_once_a_periodic_checkpoint_is_complete_ends_every_rank_naming_it(tmp_path):
    """A first Ctrl-C sent to the ranks as a periodic checkpoint's write starts, and a second to rank 0 once its run
    file and manifest are written (as it removes older checkpoints, before the write's last collective): rank 0
    noted it there and forgot it at the write's end, so the run went on to the stop's checkpoint and 75 (review4;
    until 2026-12-07 (night)). Now every rank ends with 130, rank 0 alone saying so in one line that names that
    checkpoint, complete, which resumes."""
    done = launch_second_sigint(tmp_path, "late", ["run", *SMALL, "-o", str(tmp_path / "x.h5"), "--set",
                                                   f'checkpoint.directory="{tmp_path / "ck"}"', "--set",
                                                   "checkpoint.every_wall_s=0.000001"])
    assert done.returncode == 130, done.stderr
    written = [path for path in checkpoints(tmp_path / "ck") if checkpoint.manifest_path(path).is_file()]
    assert written and done.stderr.strip().splitlines() == [
        "dqsim: interrupted (a second Ctrl-C); this run wrote nothing more; its last checkpoint continues it: "
        f"dqsim resume {written[-1]}"], done.stderr
    run_here(["resume", str(written[-1]), "-o", str(tmp_path / "resumed.h5"), "--quiet"])
    assert (tmp_path / "resumed.h5").is_file()
