#!/usr/bin/env bash
# One prepared run on a GPU machine: the GPU tests (CuPy backend) and the GPU benchmark.
# Used with the device tool, which copies the working tree and sets $OUT:
#   carry .whl (wheels of mpich, mpi4py, pydantic, pyqasm and their needs, for the machine's Python)
# Writes logs and JSON under $OUT; prints a short summary last.
set -u
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }

log "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$OUT/summary.txt"
nproc | tee -a "$OUT/summary.txt"
command -v mpiexec && mpiexec --version 2>&1 | head -2

# The image's Python has CuPy/NumPy/numba/h5py/mpi4py (built for its Open MPI); the carried wheels add
# pydantic and pyqasm. Open MPI refuses root without these two variables.
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site \
    $(ls .whl/*.whl | grep -v -e mpich -e mpi4py) 2>&1 | tail -3
PY=python3
export PYTHONPATH=/tmp/site:$PWD DQSIM_MPIEXEC=$(command -v mpiexec)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
$PY - <<'EOF' 2>&1 | tee -a "$OUT/summary.txt"
import cupy, numpy, h5py, mpi4py, sys
print("python", sys.version.split()[0], "numpy", numpy.__version__, "cupy", cupy.__version__,
      "h5py", h5py.__version__, "mpi4py", mpi4py.__version__)
from dqsim import backend
b = backend.select("cupy")
print("device", b.kernel_name(), "compiled kernels", type(b.fast).__name__)
EOF

log "GPU tests (DQSIM_TEST_BACKEND=cupy)"
DQSIM_TEST_BACKEND=cupy timeout 300 $PY -m pytest -q -p no:cacheprovider -o addopts="" \
    tests/test_state_gates.py tests/test_state_mpi.py tests/test_cli.py tests/test_dqc_mpi.py \
    tests/test_qkd_physics.py tests/test_qkd_scenario.py tests/test_state_statistics.py > "$OUT/gpu_tests.log" 2>&1
echo "pytest exit $?" | tee -a "$OUT/summary.txt"
tail -15 "$OUT/gpu_tests.log" | tee -a "$OUT/summary.txt"

log "GPU benchmark"
if [ "${SKIP_STATE_BENCH:-0}" != 1 ]; then
timeout 200 $PY bench/state_bench.py --backend cupy --ranks 1 --qubits 24 26 28 30 --skip-aer \
    --repeats 5 --label gpu --results-dir "$OUT" > "$OUT/bench.log" 2>&1
echo "bench exit $?" | tee -a "$OUT/summary.txt"
tail -40 "$OUT/bench.log" | tee -a "$OUT/summary.txt"
fi

log "QKD benchmark (CuPy)"
timeout 150 $PY bench/qkd_bench.py --backend cupy --skip-sequence --pulses 50000000 --batch-pulses 4194304 \
    --label gpu --results-dir "$OUT" > "$OUT/qkd_bench.log" 2>&1
echo "qkd bench exit $?" | tee -a "$OUT/summary.txt"
tail -4 "$OUT/qkd_bench.log" | tee -a "$OUT/summary.txt"
