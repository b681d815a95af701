"""Run commands in ./.venv-mpio (parallel h5py) under Debian's MPICH launcher.

The environment is built by ``scripts/mpio_env.sh``; where it is missing or
its h5py is serial, :data:`MPIO_SKIP` gives the reason and the tests skip.
"""

from __future__ import annotations

import functools
import shutil
import subprocess

import pytest

from mpi_helper import ROOT, child_env, run_command

#: Python of the parallel-HDF5 environment.
MPIO_PYTHON = ROOT / ".venv-mpio" / "bin" / "python"
#: Debian MPICH's launcher (the one mpi4py and h5py in .venv-mpio were built against).
MPIO_LAUNCHER = "mpiexec.mpich"


@functools.lru_cache(maxsize=1)
def mpio_skip_reason() -> str | None:
    """Why the parallel-HDF5 tests cannot run here, or None."""
    if not MPIO_PYTHON.exists():
        return f"{MPIO_PYTHON.parent.parent} does not exist (build it with scripts/mpio_env.sh)"
    if shutil.which(MPIO_LAUNCHER) is None:
        return f"{MPIO_LAUNCHER} not found (apt-get install libhdf5-mpich-dev)"
    check = subprocess.run([str(MPIO_PYTHON), "-c", "import sys, h5py, mpi4py, dqsim; "
                            "sys.exit(0 if h5py.get_config().mpi else 3)"],
                           env=child_env(), capture_output=True, text=True, timeout=60)
    if check.returncode == 3:
        return f"{MPIO_PYTHON}: its h5py is not built with MPI (rerun scripts/mpio_env.sh)"
    if check.returncode != 0:
        return f"{MPIO_PYTHON} cannot import h5py, mpi4py and dqsim: {check.stderr.strip().splitlines()[-1:]}"
    return None


def run_mpio(num_ranks: int, args: list[str], *, timeout_s: float = 180, check: bool = True,
             env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``args`` (a Python command line without the interpreter) with .venv-mpio's Python.

    With more than one rank under ``mpiexec.mpich -n num_ranks``; the process
    group is killed on timeout.
    """
    cmd = [str(MPIO_PYTHON), *args]
    if num_ranks > 1:
        cmd = [MPIO_LAUNCHER, "-n", str(num_ranks), *cmd]
    return run_command(cmd, timeout_s=timeout_s, check=check, env=env)


def require_mpio() -> None:
    """Skip the calling test when .venv-mpio cannot run."""
    reason = mpio_skip_reason()
    if reason:
        pytest.skip(reason)
