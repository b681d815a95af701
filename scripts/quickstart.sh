#!/usr/bin/env bash
# Install dqsim with MPI from PyPI into ./.venv and run the main example on 4 ranks.
# Usage: scripts/quickstart.sh            (PYTHON=python3.12 scripts/quickstart.sh to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[mpi,fast,fast-checksums,test]"
# One BLAS/OpenMP thread per rank: ranks already use the cores.
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# Compile the numba kernels once into numba's cache (about 70 s of CPU on the 2-core dev VM): without
# this, each first use of a kernel compiles it inside a run (and each process that starts before the
# cache holds it compiles it again).
.venv/bin/dqsim warmup
mkdir -p out
.venv/bin/mpiexec -n 4 .venv/bin/dqsim run jobs/quickstart.toml --output out/quickstart.h5
.venv/bin/dqsim inspect out/quickstart.h5
