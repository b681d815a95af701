"""Spare every Python process the tests start the garbage collections of the interpreter's teardown.

Python imports ``sitecustomize`` at start from the first folder of ``sys.path`` that holds one; tests/conftest.py
puts this folder first on ``PYTHONPATH`` for the processes the tests start (MPI ranks of tests/mpi_scripts/, ``-c``
scripts, scripts the tests write, bench scripts, SLURM jobs, ``python -m dqsim``). The venv has no
``sitecustomize`` of its own; a test that puts its own folder first (a ``sitecustomize`` of its own) goes without
this one.

:func:`gc.freeze` is registered first, so it runs last of the ``atexit`` handlers (they run last-in, first-out):
the objects alive then go to the collector's permanent generation, which the teardown's collections leave alone.
Those collections walk every object of the ~1,130 modules a dqsim process loads (NumPy, numba, llvmlite, h5py,
mpi4py): 0.6-1.1 s a process at load ~2 on the 2-core dev VM, several seconds at load 20
(bench/results/stop-exit-time-vm-20261207p.md, bench/results/suite-teardown-vm-20261207p.md). What the
teardown does besides is kept: the other ``atexit`` handlers, mpi4py's MPI_Finalize (a ``Py_AtExit`` function,
after the teardown), stdout and stderr flushed, objects outside reference cycles freed. The same as
:func:`dqsim.cli.skip_exit_collections` does at the end of ``console_main``.
"""
import atexit
import gc

atexit.register(gc.freeze)
