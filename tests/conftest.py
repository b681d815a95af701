import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Byte-code caching for the many Python processes the tests start (MPI ranks, `python -m dqsim`, SLURM jobs):
# where PYTHONDONTWRITEBYTECODE is set (as on the test VM), each of them compiled every dqsim module from its source
# again, about 0.2 s of CPU time a process. The byte code goes to the __pycache__ folders beside the sources (ignored
# by git; numba's kernel cache is there too); the installed packages' own byte code is used as before.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
    sys.dont_write_bytecode = False

from dqsim import backend as _backend  # noqa: E402

#: Backend the state tests run on: numpy (CI) or cupy (set DQSIM_TEST_BACKEND=cupy on a GPU machine).
TEST_BACKEND_NAME = os.environ.get("DQSIM_TEST_BACKEND", "numpy")
#: The Backend object, or None where cupy was asked for but no GPU is visible.
TEST_BACKEND = (_backend.select(TEST_BACKEND_NAME)
                if TEST_BACKEND_NAME != "cupy" or _backend.cupy_available() else None)
