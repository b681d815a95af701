"""Run a command under the venv's own mpiexec, robustly (timeout, kill the group)."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "tests" / "mpi_scripts"


def mpiexec_path() -> str | None:
    """``$DQSIM_MPIEXEC``, else the mpiexec beside this Python (the MPICH wheel's), else None."""
    if os.environ.get("DQSIM_MPIEXEC"):
        return os.environ["DQSIM_MPIEXEC"]
    candidate = Path(sys.executable).parent / "mpiexec"
    if candidate.exists():
        return str(candidate)
    return None


def child_env() -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1", DQSIM_BACKEND=env.get("DQSIM_TEST_BACKEND", "numpy"))
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_mpi(num_ranks: int, args: list[str], *, timeout_s: float = 120, cwd=None,
            check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``args`` (a Python command line without the interpreter) on ``num_ranks`` ranks (``env``: set too).

    With one rank the command runs as a plain process (no launcher), which is
    how users run dqsim without MPI.
    """
    launcher = mpiexec_path()
    if num_ranks > 1 and launcher is None:
        pytest.skip("no mpiexec beside this Python; install the 'mpi' extra")
    cmd = [sys.executable, *args]
    if num_ranks > 1:
        cmd = [launcher, "-n", str(num_ranks), *cmd]
    return run_command(cmd, timeout_s=timeout_s, cwd=cwd, check=check, env=env)


def run_mpi_arrays(num_ranks: int, script: str, path, *extra: str, timeout_s: float = 120) -> dict:
    """Run ``script PATH *extra`` on ``num_ranks`` ranks (:func:`run_mpi`) and load the arrays it saved in ``path``.

    The MPI check scripts under ``tests/mpi_scripts`` take the ``.npz`` file
    rank 0 writes as their first argument.
    """
    run_mpi(num_ranks, [script, str(path), *extra], timeout_s=timeout_s)
    return dict(np.load(path))


def run_mpi_placements(configs, script: str, folder, *, shared_prefix: str | None = None,
                       timeout_s: float = 300) -> dict:
    """The arrays of ``script`` for each ``(num_ranks, placement)`` of ``configs``, in one launch per rank count.

    The script takes ``OUT.npz PLACEMENT...`` ("default" for ``None``) and saves placement i's arrays as
    ``p<i>_<name>``; arrays named ``<shared_prefix>...`` (computed once per launch) go to every placement.
    Returns ``{(num_ranks, placement): {name: array}}``.
    """
    name = Path(script).stem
    return run_placement_checks({name: (configs, shared_prefix)}, folder, timeout_s=timeout_s)[name]


def run_placement_checks(checks: dict, folder, *, timeout_s: float = 300) -> dict:
    """Several placement check scripts (:func:`run_mpi_placements`) in one launch per rank count
    (tests/mpi_scripts/run_checks.py): ``checks`` is ``{script name under tests/mpi_scripts: (configs,
    shared_prefix)}``, each script's ``main(OUT.npz, [PLACEMENT...])`` run in turn on every rank of a launch
    (those of 1 rank in this process, :func:`run_check_here`).
    Returns ``{script name: {(num_ranks, placement): {name: array}}}``.
    """
    out = {name: {} for name in checks}
    for num_ranks in sorted({ranks for configs, _ in checks.values() for ranks, _ in configs}):
        args, runs = [], []
        for name, (configs, shared_prefix) in checks.items():
            placements = [placement for ranks, placement in configs if ranks == num_ranks]
            if placements:
                path = Path(folder) / f"{name}-r{num_ranks}.npz"
                args += ["+".join([name, *(placement or "default" for placement in placements)]), str(path)]
                runs.append((name, shared_prefix, placements, path))
        if num_ranks == 1:  # what the 1-rank launch would run, in this process
            for name, _, placements, path in runs:
                run_check_here(name, str(path), [p or "default" for p in placements])
        elif len(runs) == 1:  # the script itself
            name, _, placements, path = runs[0]
            run_mpi(num_ranks, [f"tests/mpi_scripts/{name}.py", str(path), *(p or "default" for p in placements)],
                    timeout_s=timeout_s)
        else:
            run_mpi(num_ranks, ["tests/mpi_scripts/run_checks.py", *args], timeout_s=timeout_s)
        for name, shared_prefix, placements, path in runs:
            arrays = dict(np.load(path))
            shared = {key: value for key, value in arrays.items() if shared_prefix and key.startswith(shared_prefix)}
            for index, placement in enumerate(placements):
                prefix = f"p{index}_"
                out[name][(num_ranks, placement)] = {**{key.removeprefix(prefix): value for key, value in
                                                        arrays.items() if key.startswith(prefix)}, **shared}
    return out


def run_check_here(name: str, *args) -> None:
    """``main(*args)`` of the check script ``tests/mpi_scripts/NAME.py`` on one rank in this process: what a
    1-rank launch of it (or of tests/mpi_scripts/run_checks.py) runs, without an interpreter to start and dqsim to
    import. ``DQSIM_BACKEND`` is the launches' (:func:`child_env`) while it runs; an error fails the test. The
    scripts' folder goes on ``sys.path`` (last), as run_checks.py puts it (first): they import each other."""
    if str(SCRIPTS) not in sys.path:
        sys.path.append(str(SCRIPTS))
    module = importlib.import_module(f"mpi_scripts.{name}")
    saved = os.environ.get("DQSIM_BACKEND")
    os.environ["DQSIM_BACKEND"] = child_env()["DQSIM_BACKEND"]
    try:
        module.main(*args)
    finally:
        if saved is None:
            os.environ.pop("DQSIM_BACKEND", None)
        else:
            os.environ["DQSIM_BACKEND"] = saved


def run_command(cmd: list[str], *, timeout_s: float, cwd=None, check: bool = True,
                env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` in its own process group (killed on timeout) with the test environment."""
    proc = subprocess.Popen(cmd, cwd=cwd or ROOT, env={**child_env(), **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"{cmd} timed out after {timeout_s} s\nstdout:\n{out}\nstderr:\n{err}")
    result = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}")
    return result


def ctrl_c_trouble() -> str | None:
    """What would keep a ``dqsim run`` in this process from taking Ctrl-C (SIGINT) as a stop, or ``None``.

    SIGINT blocked in this thread (a ``main()`` that returned between :func:`dqsim.cli.hold_ctrl_c` and
    :func:`dqsim.cli.release_ctrl_c`), one pending (the next run would end with 130 at its start,
    ``dqsim.cli.main._interrupted_while_starting``), or a handler other than Python's own or the run's
    (:func:`dqsim.engine.checkpoint.install_signal_handlers` takes SIGINT only from Python's own: one left
    ignored, by :func:`dqsim.cli.ignore_stop_signals` or :func:`dqsim.cli.drop_held_ctrl_c`, stays ignored).
    """
    checkpoint = sys.modules.get("dqsim.engine.checkpoint")  # not imported: no run installed its handler
    problems = []
    if hasattr(signal, "pthread_sigmask") and signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []):
        problems.append("SIGINT is blocked in this thread")
    if hasattr(signal, "sigpending") and signal.SIGINT in signal.sigpending():
        problems.append("a SIGINT is pending")
    handler = signal.getsignal(signal.SIGINT)
    if handler is not signal.default_int_handler and handler is not getattr(checkpoint, "request_stop", None):
        problems.append(f"SIGINT's handler is {handler!r}, not Python's nor dqsim's")
    return "; ".join(problems) or None


def run_here(args: list[str], *, check: bool = True, time_estimate: bool = False) -> subprocess.CompletedProcess:
    """``dqsim ARGS`` on one rank in this process: the command line's ``main()`` (what ``python -m dqsim``
    runs), from the repository root, without starting an interpreter (about a second each).

    A ``dqsim check`` gets ``--no-time`` (its wall-time pilot takes another second) unless ``time_estimate``.

    stdout and stderr are captured. ``main()`` itself sets back, on every way out, the handlers a run installs
    (SIGUSR1, SIGTERM, SIGINT: a checkpoint-and-stop) and this thread's signal mask (a Ctrl-C it held,
    :func:`dqsim.cli.hold_ctrl_c`), and forgets a stop it was asked for. With ``check``, an exit status other
    than 0 fails the test.

    It first fails the test if this process would not take a Ctrl-C as the run's stop
    (:func:`ctrl_c_trouble`): what an earlier test left behind, named, instead of a run that exits 0 where a
    SIGINT should have stopped it.
    """
    from dqsim.cli.main import main

    if args and args[0] == "check" and not time_estimate:
        args = [*args, "--no-time"]

    trouble = ctrl_c_trouble()
    assert trouble is None, f"before dqsim {args}: {trouble}, left by an earlier test in this process"
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(arg) for arg in args])
    finally:
        os.chdir(cwd)
    if check and code != 0:
        raise AssertionError(f"dqsim {args} exited {code}\nstdout:\n{out.getvalue()}\nstderr:\n{err.getvalue()}")
    return subprocess.CompletedProcess(["dqsim", *map(str, args)], code, out.getvalue(), err.getvalue())


def run_dqsim(num_ranks: int, args: list[str], *, timeout_s: float = 240) -> subprocess.CompletedProcess:
    """``dqsim ARGS`` on ``num_ranks`` ranks, which must exit 0: one rank in this process (:func:`run_here`),
    several under mpiexec (:func:`run_mpi`)."""
    if num_ranks == 1:
        return run_here(args)
    return run_mpi(num_ranks, ["-m", "dqsim", *map(str, args)], timeout_s=timeout_s)


def have_mpi() -> bool:
    return mpiexec_path() is not None or shutil.which("mpiexec") is not None
