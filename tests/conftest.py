import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Byte-code caching for the many Python processes the tests start (MPI ranks, `python -m dqsim`, SLURM jobs):
# where PYTHONDONTWRITEBYTECODE is set (as on the test VM), each of them compiled every dqsim module from its source
# again, about 0.2 s of CPU time a process. Cached outside the source tree (PYTHONPYCACHEPREFIX, checked against
# each source's mtime and size), as the setting intends: no __pycache__ folders in the checkout.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None or sys.dont_write_bytecode:
    _prefix = os.environ.setdefault("PYTHONPYCACHEPREFIX",
                                    str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "pycache"))
    sys.pycache_prefix, sys.dont_write_bytecode = _prefix, False

from dqsim import backend as _backend  # noqa: E402

#: Backend the state tests run on: numpy (CI) or cupy (set DQSIM_TEST_BACKEND=cupy on a GPU machine).
TEST_BACKEND_NAME = os.environ.get("DQSIM_TEST_BACKEND", "numpy")
#: The Backend object, or None where cupy was asked for but no GPU is visible.
TEST_BACKEND = (_backend.select(TEST_BACKEND_NAME)
                if TEST_BACKEND_NAME != "cupy" or _backend.cupy_available() else None)
