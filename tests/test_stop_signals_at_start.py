"""A SIGTERM or SIGUSR1 in a ``dqsim run``'s first moments: a checkpoint and status 75, whatever the launch.

SLURM sends SIGTERM (a preemption, ``scancel``) or the ``--signal`` of the job (USR1 in ``slurm/``) to a
step at any moment, also while its ranks still start; a requeued job must then end with a checkpoint and
status 75, not be killed by the signal (status 138 or 143, which ``slurm/run_step.sh`` does not requeue).
:func:`dqsim.cli.console_main` holds the signals before it imports anything; what is left unheld is the
interpreter's own start (and ``site``), measured here as the time from the launch until the kernel shows
a handler for SIGTERM in every rank (``SigCgt`` in ``/proc/PID/status``).

Each launch the project documents is covered: the ``dqsim`` console script, ``python -m dqsim`` (the
``slurm/`` scripts, under srun or mpiexec), ``python -m mpi4py -m dqsim`` and ``mpiexec -n 2``.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dqsim.engine import checkpoint
from dqsim.io import open_run
from mpi_helper import ROOT, child_env, mpiexec_path, run_command, run_here
from run_files import checkpoints, same_tables

DQC = ["jobs/dqc_ghz_4qpu.toml", "--set", "simulation.store_shots=true", "--set", "circuit.generator=\"random\"",
       "--set", "circuit.depth=4"]

#: A ``sitecustomize`` (imported by ``site`` at every interpreter's start, ranks included) that makes the
#: process send itself DQSIM_TEST_SIGNAL when it first looks for the module DQSIM_TEST_SIGNAL_AT.
SIGNAL_AT_IMPORT = """
import os, sys


class SignalAtImport:
    def find_spec(self, name, path, target=None):
        if name == os.environ["DQSIM_TEST_SIGNAL_AT"]:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), int(os.environ["DQSIM_TEST_SIGNAL"]))
        return None


sys.meta_path.insert(0, SignalAtImport())
"""


def launch(how: str) -> list[str]:
    """The command line that starts ``dqsim`` the way ``how`` names (skips where this install lacks it)."""
    python = sys.executable
    if how == "console script":
        script = Path(python).parent / "dqsim"
        if not script.exists():
            pytest.skip(f"no dqsim console script beside {python}")
        return [str(script)]
    if how == "python -m dqsim":
        return [python, "-m", "dqsim"]
    if how == "python -m mpi4py -m dqsim":
        return [python, "-m", "mpi4py", "-m", "dqsim"]
    launcher = mpiexec_path()
    if launcher is None:
        pytest.skip("no mpiexec beside this Python; install the 'mpi' extra")
    return [launcher, "-n", "2", python, "-m", "dqsim"]


def run_args(folder: Path, *extra: str) -> list[str]:
    return ["run", *DQC, *extra, "-o", str(folder / "x.h5"), "--quiet",
            "--set", f"checkpoint.directory=\"{folder / 'ck'}\""]


def assert_stopped_with_a_checkpoint(code: int, stderr: str, folder: Path) -> Path:
    """Status 75, its one line naming the checkpoint, no output file, one complete checkpoint: returned."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == checkpoint.EXIT_CHECKPOINTED, (code, stderr)
    assert len(lines) == 1 and lines[0].startswith("dqsim: checkpoint written to "), stderr
    assert not (folder / "x.h5").exists()
    written = checkpoints(folder / "ck")
    assert len(written) == 1, written
    return written[0]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("start_signal_full") / "full.h5"
    run_here(["run", *DQC, "-o", out, "--quiet"])
    return out


@pytest.mark.parametrize("how, signum", [("console script", signal.SIGTERM), ("python -m dqsim", signal.SIGUSR1),
                                         ("python -m mpi4py -m dqsim", signal.SIGTERM),
                                         ("mpiexec -n 2", signal.SIGUSR1)])
def test_repro_a_stop_signal_while_the_command_line_parser_loads_checkpoints(tmp_path, uninterrupted, how, signum):
    """A stop signal while the parser loaded (argparse, pathlib, json: 25-75 ms on the loaded VM) ended the
    process by the signal's default action (status -15 or -10 here, 143 or 138 from a shell; mpiexec
    exited 11): the handlers came after it. Each process (each rank) sends the signal to itself as it
    first looks for the parser's module; the run stops at its first cut with a checkpoint, and that
    checkpoint resumes to the uninterrupted run's results."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SIGNAL_AT_IMPORT)
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), child_env()["PYTHONPATH"]]),
           "DQSIM_TEST_SIGNAL_AT": "dqsim.cli.parser", "DQSIM_TEST_SIGNAL": str(int(signum))}
    proc = run_command([*launch(how), *run_args(tmp_path)], timeout_s=300, check=False, env=env)
    written = assert_stopped_with_a_checkpoint(proc.returncode, proc.stderr, tmp_path)
    run_here(["resume", written, "-o", tmp_path / "resumed.h5", "--quiet"])
    same_tables(open_run(uninterrupted), open_run(tmp_path / "resumed.h5"), ["shots", "counts"],
                exact=how != "mpiexec -n 2")


def handler_installed(pid: int, signum: int) -> bool:
    """Whether process ``pid`` catches ``signum`` (the kernel's ``SigCgt`` mask); False once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) >> (signum - 1) & 1)


def python_descendants(pid: int) -> list[int]:
    """The Python processes below ``pid`` (mpiexec's ranks, under its proxy)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    pythons = []
    for child in found:
        try:
            argv0 = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if "python" in Path(argv0.decode(errors="replace")).name:
            pythons.append(child)
    return pythons


def wait_for_handlers(proc: subprocess.Popen, num_ranks: int, signum: int, started: float) -> float:
    """Seconds from ``started`` until every rank of ``proc`` catches ``signum`` (polled every 0.2 ms)."""
    while time.perf_counter() - started < 120:
        ranks = [proc.pid] if num_ranks == 1 else python_descendants(proc.pid)
        if len(ranks) == num_ranks and all(handler_installed(pid, signum) for pid in ranks):
            return time.perf_counter() - started
        assert proc.poll() is None, f"dqsim ended (status {proc.returncode}) before it caught signal {signum}"
        time.sleep(0.0002)
    raise AssertionError(f"no handler for signal {signum} after 120 s")


#: A depth whose engine run (seconds of CPU) outlasts the longest delay on any machine: the signal never comes
#: after the run's last step (which would finish the run, status 0). A stopped run never runs it.
LONG = ["--set", "circuit.depth=200"]

#: (launch, signal, delays in seconds after the handlers are installed, each one run).
TIMED = [("console script", signal.SIGTERM, (0.0, 0.05, 0.5)), ("python -m dqsim", signal.SIGUSR1, (0.02, 0.2)),
         ("mpiexec -n 2", signal.SIGTERM, (0.0, 0.1))]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the signal masks in /proc")
@pytest.mark.parametrize("how, signum, delays", TIMED)
def test_a_stop_signal_any_time_after_the_handlers_checkpoints(tmp_path, capsys, how, signum, delays):
    """From the moment the kernel shows the process (every rank) catching the signal, a signal sent after
    any delay — while the parser, NumPy, numba, h5py, mpi4py, MPI_Init or the job load — stops the run at
    its first cut with a checkpoint and status 75 (to mpiexec: it forwards the signal to every rank).
    Prints the unheld time from the launch to the handlers, as measured on this machine."""
    windows = []
    for delay in delays:
        folder = tmp_path / f"d{delay}"
        folder.mkdir()
        started = time.perf_counter()
        proc = subprocess.Popen([*launch(how), *run_args(folder, *LONG)], cwd=ROOT, env=child_env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            windows.append(wait_for_handlers(proc, 2 if how.startswith("mpiexec") else 1, signum, started))
            time.sleep(delay)
            proc.send_signal(signum)
            _out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert_stopped_with_a_checkpoint(proc.returncode, err, folder)
    with capsys.disabled():
        print(f"\n{how}: launch to handlers {', '.join(f'{w * 1000:.0f}' for w in windows)} ms "
              f"(load {os.getloadavg()[0]:.1f})")


def test_a_run_says_it_holds_the_stop_signals_in_dqsim_ready_dir(tmp_path, monkeypatch, capsys):
    """``announce_held_stop_signals``: an empty file HOST.PID in DQSIM_READY_DIR (what slurm/run_step.sh counts
    before it passes a stop on); nothing without the variable; a folder it cannot write costs one warning line."""
    from dqsim import cli

    monkeypatch.delenv(cli.READY_DIR_VARIABLE, raising=False)
    cli.announce_held_stop_signals()
    monkeypatch.setenv(cli.READY_DIR_VARIABLE, str(tmp_path))
    cli.announce_held_stop_signals()
    assert [p.name for p in tmp_path.iterdir()] == [f"{os.uname().nodename}.{os.getpid()}"]
    assert (tmp_path / f"{os.uname().nodename}.{os.getpid()}").stat().st_size == 0
    monkeypatch.setenv(cli.READY_DIR_VARIABLE, str(tmp_path / "missing"))
    cli.announce_held_stop_signals()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"dqsim: warning: cannot write {tmp_path / 'missing'}/"), err
    assert "DQSIM_READY_WAIT_S" in err[0], err
