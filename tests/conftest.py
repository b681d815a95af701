import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dqsim import backend as _backend  # noqa: E402

#: Backend the state tests run on: numpy (CI) or cupy (set DQSIM_TEST_BACKEND=cupy on a GPU machine).
TEST_BACKEND_NAME = os.environ.get("DQSIM_TEST_BACKEND", "numpy")
#: The Backend object, or None where cupy was asked for but no GPU is visible.
TEST_BACKEND = (_backend.select(TEST_BACKEND_NAME)
                if TEST_BACKEND_NAME != "cupy" or _backend.cupy_available() else None)
