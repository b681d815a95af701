#!/usr/bin/env bash
# Short GPU check of the scenarios added after the first GPU runs (Trotter, cloud, repeater,
# checkpoints), with DQSIM_TEST_BACKEND=cupy. Same setup as bench/gpu_run.sh.
set -u
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site \
    $(ls .whl/*.whl | grep -v -e mpich -e mpi4py) > /dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD DQSIM_MPIEXEC=$(command -v mpiexec) PYTHONUNBUFFERED=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 DQSIM_TEST_BACKEND=cupy
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/summary.txt"
timeout 200 python3 -m pytest -q -p no:cacheprovider -o addopts="" tests/test_trotter.py tests/test_cloud.py \
    tests/test_repeater.py tests/test_checkpoint.py > "$OUT/gpu_scenarios.log" 2>&1
echo "pytest exit $?" | tee -a "$OUT/summary.txt"
tail -5 "$OUT/gpu_scenarios.log" | tee -a "$OUT/summary.txt"
