#!/usr/bin/env bash
# Run the whole test suite (unit, physics and 1/2/4-rank MPI tests) on the CPU.
# Extra arguments go to pytest, e.g. scripts/test.sh -k state -x
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
exec .venv/bin/python -m pytest --durations=20 "$@"
