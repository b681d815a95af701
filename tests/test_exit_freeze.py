"""The processes the tests start skip the garbage collections of the interpreter's teardown
(tests/exit_freeze/sitecustomize.py, put on their ``PYTHONPATH`` by tests/conftest.py): 0.6 s to several
seconds a dqsim process on the 2-core VM (bench/results/suite-teardown-vm-20261207p.md)."""

import subprocess
import sys
from pathlib import Path

from mpi_helper import ROOT, run_command, run_mpi

#: Leaves a reference cycle whose finalizer writes a line: the teardown's collections would free it (and write the
#: line); frozen, it stays (the process's end reclaims its memory). Then names the ``sitecustomize`` imported.
PROBE = """
import gc, os, sys
class Cycle:
    def __del__(self):
        os.write(1, b"collected\\n")
gc.disable()  # no collection before the exit
cycle = Cycle()
cycle.me = cycle
del cycle
print(sys.modules["sitecustomize"].__file__, flush=True)
"""


def test_a_launched_python_process_skips_the_teardown_collections():
    out = run_command([sys.executable, "-c", PROBE], timeout_s=60).stdout.split()
    assert out == [str(ROOT / "tests" / "exit_freeze" / "sitecustomize.py")]
    # the same process without it: its teardown's collection frees the cycle
    bare = run_command([sys.executable, "-S", "-c", PROBE.replace('sys.modules["sitecustomize"].__file__', '1')],
                       timeout_s=60).stdout.split()
    assert bare == ["1", "collected"]


def test_a_plain_subprocess_inherits_it_too():
    out = subprocess.run([sys.executable, "-c", "import sys; print(sys.modules['sitecustomize'].__file__)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert Path(out) == ROOT / "tests" / "exit_freeze" / "sitecustomize.py"


def test_mpi_still_finalizes_cleanly_after_the_freeze():
    """mpi4py's ``MPI_Finalize`` runs after the ``atexit`` handlers (a ``Py_AtExit`` function): every rank
    prints and exits 0, with no abort or leak line from mpiexec."""
    code = ("from mpi4py import MPI; import atexit, os; atexit.register(lambda: os.write(1, "
            "f'{MPI.COMM_WORLD.Get_rank()} {MPI.Is_finalized()}\\n'.encode()))")
    proc = run_mpi(2, ["-c", code], timeout_s=120)
    assert sorted(proc.stdout.splitlines()) == ["0 False", "1 False"]
    assert "Abort" not in proc.stderr and "BAD TERMINATION" not in proc.stderr
