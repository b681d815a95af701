import atexit
import gc
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
# a finished run keeps its checkpoints (dqsim.engine.checkpoint.keeps_when_done), in this process and in the ranks
# the tests start: many tests resume a finished run's checkpoints; tests/test_checkpoints_when_done.py sets it back
os.environ.setdefault("DQSIM_KEEP_CHECKPOINTS_WHEN_DONE", "1")
# arrays kept on disk (dqsim.caches.stored_arrays: the LDPC mother codes) go to a folder of this test run, not the
# user's cache (~/.cache/dqsim): set before any test, so the MPI ranks, dqsim processes and xdist workers the tests
# start inherit it (and share it); removed when the process that made it exits; tests set their own over it
if "DQSIM_CACHE_DIR" not in os.environ:
    os.environ["DQSIM_CACHE_DIR"] = tempfile.mkdtemp(prefix="dqsim-test-cache-")
    atexit.register(shutil.rmtree, os.environ["DQSIM_CACHE_DIR"], ignore_errors=True)
sys.path.insert(0, str(Path(__file__).resolve().parent))
# every Python process the tests start (and the xdist workers) skips the garbage collections of the interpreter's
# teardown, 0.6 s to several seconds a process (tests/exit_freeze/sitecustomize.py); not imported by pytest itself
EXIT_FREEZE = str(Path(__file__).resolve().parent / "exit_freeze")
if EXIT_FREEZE not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [EXIT_FREEZE, os.environ.get("PYTHONPATH")]))
collect_ignore = ["exit_freeze"]

# Byte-code caching for the many Python processes the tests start (MPI ranks, `python -m dqsim`, SLURM jobs):
# where PYTHONDONTWRITEBYTECODE is set (as on the test VM), each of them compiled every dqsim module from its source
# again, about 0.2 s of CPU time a process. The byte code goes to the __pycache__ folders beside the sources (ignored
# by git; numba's kernel cache is there too); the installed packages' own byte code is used as before.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
    sys.dont_write_bytecode = False

import pytest  # noqa: E402

from dqsim import backend as _backend  # noqa: E402
from file_order import FileSeconds, known_seconds, longest_files_first  # noqa: E402
from mpi_helper import ctrl_c_trouble  # noqa: E402

#: Backend the state tests run on: numpy (CI) or cupy (set DQSIM_TEST_BACKEND=cupy on a GPU machine).
TEST_BACKEND_NAME = os.environ.get("DQSIM_TEST_BACKEND", "numpy")
#: The Backend object, or None where cupy was asked for but no GPU is visible.
TEST_BACKEND = (_backend.select(TEST_BACKEND_NAME)
                if TEST_BACKEND_NAME != "cupy" or _backend.cupy_available() else None)


def pytest_configure(config):
    """Take Ctrl-C (SIGINT) as Python does in this process (the controller and every xdist worker), whatever it
    inherited: a suite started in the background by a script (``scripts/test.sh ... &``, no job control) starts
    with SIGINT ignored, which Python leaves so and every process the tests start inherits; the in-process
    runs (:func:`mpi_helper.run_here`) take SIGINT as a stop only from Python's own handler
    (:func:`dqsim.engine.checkpoint.install_signal_handlers`). :func:`ctrl_c_left_as_it_was` then warned at
    each worker's first test, as if a fixture's teardown had left it."""
    import signal  # noqa: PLC0415

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


#: The test this process ran last (named where a fixture's teardown after it left SIGINT unusable).
_LAST_TEST = {"nodeid": "no test"}


@pytest.fixture(autouse=True)
def collector_not_left_frozen():
    """Give the garbage collector back the objects a test froze: :func:`dqsim.cli.console_main` ends with
    :func:`gc.freeze` (:func:`dqsim.cli.skip_exit_collections`: its process ends with the command), so a test
    that calls it in this process (tests/test_cli.py, tests/test_reliability.py) left every object alive then
    uncollected for the rest of the xdist worker's tests."""
    frozen = gc.get_freeze_count()
    yield
    if gc.get_freeze_count() > frozen:
        gc.unfreeze()


@pytest.fixture(autouse=True)
def ctrl_c_left_as_it_was(request):
    """Fail the test that leaves this process unable to take Ctrl-C (SIGINT) as a run's stop
    (:func:`mpi_helper.ctrl_c_trouble`: SIGINT blocked, pending or ignored), naming it, and set SIGINT back
    to Python's own; a later in-process run (:func:`mpi_helper.run_here`) would otherwise exit 0 where a
    SIGINT should stop it, in whichever test the xdist worker happened to run next."""
    trouble = ctrl_c_trouble()
    if trouble is not None:  # left where no test's own check saw it (a module fixture's teardown): said, set back
        _take_ctrl_c_again()
        warnings.warn(f"found {trouble} before this test (a fixture's teardown left it, after "
                      f"{_LAST_TEST['nodeid']} in this process); SIGINT set back", RuntimeWarning, stacklevel=1)
    _LAST_TEST["nodeid"] = request.node.nodeid
    yield
    trouble = ctrl_c_trouble()
    if trouble is not None:
        _take_ctrl_c_again()
        pytest.fail(f"this test left {trouble}: later in-process runs would not stop on a Ctrl-C")


def _take_ctrl_c_again() -> None:
    """Python's own Ctrl-C handler, SIGINT unblocked here and none pending."""
    import signal  # noqa: PLC0415

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # drops a pending one
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.default_int_handler)


#: This run's seconds per test file (the controller's, under xdist), for the next run's order (tests/file_order.py).
_FILE_SECONDS = FileSeconds()


def pytest_collection_modifyitems(session, config, items):
    """The longest files first (:func:`file_order.longest_files_first`): the order xdist hands them out in
    (scripts/test.sh: ``--dist loadfile --no-loadscope-reorder``)."""
    longest_files_first(items, known_seconds(getattr(config, "cache", None)))


def pytest_runtest_logreport(report):
    _FILE_SECONDS.add(report)


def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput"):  # the controller, or a run without xdist: every file's reports
        _FILE_SECONDS.save(getattr(session.config, "cache", None))
