#!/usr/bin/env bash
# One prepared run on a GPU machine: a check of the k-qubit CUDA kernels, the GPU tests (CuPy
# backend), the QKD detection sampler, the kernel rooflines and the state benchmark (fused circuits).
# Used with the device tool, which copies the working tree and sets $OUT:
#   carry .whl (wheels for the machine's Python 3.12: pydantic, pyqasm, qiskit and their needs;
#   mpich + mpi4py, installed only where the machine has no mpiexec)
# Every section has its own time limit and writes its log under $OUT; summary.txt gathers the ends.
# Knobs (environment): SKIP_CHECK=1, TESTS / VARIANT_TESTS (test files, "" skips), XDIST=N (pytest-xdist
# processes), SCENARIO_TESTS (more test files, run last with their own time limit SCENARIO_TESTS_S), TEST_VARIANTS (DQSIM_CUDA_DENSE values VARIANT_TESTS run under, default "tiled"), SKIP_QKD=1,
# KERNEL_VARIANTS and STATE_VARIANTS ("fixed tiled": DQSIM_CUDA_DENSE of each benchmark run; a variant
# that failed the kernel check is skipped), sizes (KQ, SQ, QKD_*), XCHG_RANKS=2 (exchanges of ranks
# sharing the GPU, n=XQ).
# Dry run on a CPU machine (NumPy backend, small sizes, checks the script itself):
#   GPU_DRY=1 OUT=/tmp/gpu_dry bash bench/gpu_run.sh
set -u
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
log() { echo "== $* ($(date -u +%H:%M:%S))" | tee -a "$OUT/summary.txt"; }
T0=$(date +%s)
rm -f /tmp/dqsim_gpu_check.log

if [ "${GPU_DRY:-0}" = 1 ]; then
    PY=${PY:-.venv/bin/python}; BK=numpy; export PYTHONPATH=$PWD
    QKD_PULSES=100000000; QKD_BATCH=50000000; QKD_ENGINE=10000000; QKD_ENGINE_BATCH=1000000
    KQ=20; SQ="16 18"; TESTS="tests/test_kernel_tiles.py tests/test_qkd_detections.py"; VARIANT_TESTS=""
else
    PY=python3; BK=cupy
    log "machine"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader \
        | tee -a "$OUT/summary.txt"
    nproc | tee -a "$OUT/summary.txt"
    # The image's Python has CuPy/NumPy/numba/h5py/mpi4py; the wheels add the rest. Where there is
    # no MPI runtime, the MPICH wheel and its mpi4py come too (multi-rank tests need mpiexec).
    if command -v mpiexec > /dev/null; then
        WHEELS=$(ls .whl/*.whl | grep -v -e mpich -e mpi4py)
        export DQSIM_MPIEXEC=$(command -v mpiexec)
    else
        WHEELS=$(ls .whl/*.whl)
        export DQSIM_MPIEXEC=/tmp/site/bin/mpiexec
    fi
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site $WHEELS 2>&1 | tail -3
    export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
    echo "mpiexec: $DQSIM_MPIEXEC" | tee -a "$OUT/summary.txt"
    QKD_PULSES=${QKD_PULSES:-40000000000}; QKD_BATCH=${QKD_BATCH:-4000000000}
    QKD_ENGINE=${QKD_ENGINE:-400000000}; QKD_ENGINE_BATCH=${QKD_ENGINE_BATCH:-100000000}
    KQ=${KQ:-30}; SQ=${SQ:-"26 28 30"}
    TESTS=${TESTS-"tests/test_kernel_tiles.py tests/test_cuda_tiles.py tests/test_cuda_dense.py tests/test_fusion.py
        tests/test_qkd_detections.py tests/test_state_gates.py tests/test_qkd_entangled.py
        tests/test_backend_staging.py tests/test_state_mpi.py"}
    VARIANT_TESTS=${VARIANT_TESTS-"tests/test_cuda_tiles.py tests/test_cuda_dense.py tests/test_kernel_tiles.py
        tests/test_state_gates.py tests/test_fusion.py"}
fi

log "versions and the k-qubit CUDA kernel check"
[ "${SKIP_CHECK:-0}" = 1 ] && echo "DENSE_OK skipped" > /tmp/dqsim_gpu_check.log
[ "${SKIP_CHECK:-0}" = 1 ] || timeout 120 $PY - "$BK" <<'EOF' 2>&1 | tee -a "$OUT/summary.txt" /tmp/dqsim_gpu_check.log
import os, sys, time
import numpy, h5py
print("python", sys.version.split()[0], "numpy", numpy.__version__, "h5py", h5py.__version__)
from dqsim import backend
from dqsim.backend import fast
b = backend.select(sys.argv[1])
print("device", b.kernel_name(), "kernels", type(b.fast).__name__)
if b.is_gpu:
    import cupy
    print("cupy", cupy.__version__, "CUDA runtime", cupy.cuda.runtime.runtimeGetVersion())
    rng = numpy.random.default_rng(1)
    n, ok = 20, {}
    psi = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    for variant in fast.CUDA_DENSE_VARIANTS:
        os.environ["DQSIM_CUDA_DENSE"] = variant
        kern = fast.CupyKernels(cupy)
        good, worst = True, 0.0
        for k in (1, 2, 3, 4, 5):
            m, _ = numpy.linalg.qr(rng.normal(size=(1 << k, 1 << k)) + 1j * rng.normal(size=(1 << k, 1 << k)))
            for bits in (tuple(range(k)), tuple(range(2, 2 + k))[::-1], tuple(range(n - k, n))):
                ref = numpy.moveaxis(psi.reshape([2] * n), [n - 1 - q for q in bits][::-1], range(k))
                ref = (m @ ref.reshape(1 << k, -1)).reshape([2] * n)
                ref = numpy.moveaxis(ref, range(k), [n - 1 - q for q in bits][::-1]).reshape(-1)
                try:
                    d = cupy.asarray(psi)
                    kern.dense(d, bits, m, 0)
                    worst = max(worst, float(numpy.max(numpy.abs(cupy.asnumpy(d) - ref))))
                except Exception as exc:  # report and fall back below
                    print(f"  {variant} k={k} bits={bits}: FAILED {type(exc).__name__}: {str(exc)[:400]}")
                    good = False
        print(f"  {variant}: max error {worst:.2e} over k = 1..5, low / middle / top bits")
        ok[variant] = good and worst < 1e-10
    print("DENSE_OK", " ".join(f"{v}={int(g)}" for v, g in ok.items()))
EOF
if grep -q " fixed=0" /tmp/dqsim_gpu_check.log && grep -q "generic=1" /tmp/dqsim_gpu_check.log; then
    export DQSIM_CUDA_DENSE=generic
    echo "unrolled kernel failed its check: DQSIM_CUDA_DENSE=generic for the rest" | tee -a "$OUT/summary.txt"
elif grep -q " tiled=0" /tmp/dqsim_gpu_check.log; then
    export DQSIM_CUDA_DENSE=fixed
    echo "tiled kernel failed its check: DQSIM_CUDA_DENSE=fixed for the rest" | tee -a "$OUT/summary.txt"
fi
# A variant runs below only if it passed the kernel check (or the check was skipped: the tests check it).
variant_ok() {
    [ "$BK" = numpy ] && { [ "$1" = fixed ] || [ "$1" = auto ]; } && return 0
    [ "$BK" = numpy ] && return 1
    [ "${SKIP_CHECK:-0}" = 1 ] && return 0
    grep -q " $1=1" /tmp/dqsim_gpu_check.log
}

# pytest-xdist, where installed, spreads the tests over XDIST processes (they share the GPU).
XDIST_ARGS=""
$PY -c "import xdist" 2> /dev/null && [ "${XDIST:-0}" -gt 1 ] && XDIST_ARGS="-n $XDIST"
log "GPU tests (DQSIM_TEST_BACKEND=$BK) $XDIST_ARGS"
[ -n "$TESTS" ] && DQSIM_TEST_BACKEND=$BK timeout ${TESTS_S:-150} $PY -m pytest -q -p no:cacheprovider -o addopts="" --timeout 90 \
    -rfE $XDIST_ARGS $TESTS > "$OUT/gpu_tests.log" 2>&1
echo "pytest exit $?" | tee -a "$OUT/summary.txt"
grep -E "passed|failed|FAILED|ERROR" "$OUT/gpu_tests.log" | tail -12 | tee -a "$OUT/summary.txt"
for V in ${TEST_VARIANTS-tiled}; do
    variant_ok "$V" && [ -n "${VARIANT_TESTS:-}" ] || continue
    log "GPU tests with DQSIM_CUDA_DENSE=$V"
    DQSIM_CUDA_DENSE=$V DQSIM_TEST_BACKEND=$BK timeout ${VARIANT_TESTS_S:-100} $PY -m pytest -q -p no:cacheprovider \
        -o addopts="" --timeout 90 -rfE $XDIST_ARGS $VARIANT_TESTS > "$OUT/gpu_tests_$V.log" 2>&1
    echo "pytest exit $?" | tee -a "$OUT/summary.txt"
    grep -E "passed|failed|FAILED|ERROR" "$OUT/gpu_tests_$V.log" | tail -12 | tee -a "$OUT/summary.txt"
done

if [ "${SKIP_QKD:-0}" != 1 ]; then
log "QKD detection sampler ($BK)"
timeout ${QKD_S:-100} $PY bench/qkd_bench.py --backend $BK --skip-sequence --pulses $QKD_PULSES \
    --batch-pulses $QKD_BATCH --engine-pulses $QKD_ENGINE --engine-batch-pulses $QKD_ENGINE_BATCH \
    --label gpu --results-dir "$OUT" > "$OUT/qkd_bench.log" 2>&1
echo "qkd bench exit $?" | tee -a "$OUT/summary.txt"
tail -4 "$OUT/qkd_bench.log" | tee -a "$OUT/summary.txt"
fi

for V in ${KERNEL_VARIANTS-fixed}; do
    variant_ok "$V" || continue
    log "kernel rooflines ($BK, n=$KQ, DQSIM_CUDA_DENSE=$V)"
    DQSIM_CUDA_DENSE=$V timeout ${KERNEL_S:-90} $PY bench/kernel_bench.py --backend $BK --ranks 1 --qubits $KQ \
        --repeats 5 --label gpu-$V --results-dir "$OUT" --timeout-s 85 > /tmp/kernel_bench_$V.log 2>&1
    echo "kernel bench exit $?" | tee -a "$OUT/summary.txt"
    tail -32 /tmp/kernel_bench_$V.log | tee -a "$OUT/summary.txt"
done

for SV in ${STATE_VARIANTS-fixed}; do
    variant_ok "$SV" || continue
    log "state benchmark ($BK, fused circuits, DQSIM_CUDA_DENSE=$SV)"
    DQSIM_CUDA_DENSE=$SV timeout ${STATE_S:-110} $PY bench/state_bench.py --backend $BK --ranks 1 --qubits $SQ \
        --skip-aer --repeats 3 --label gpu-$SV --results-dir "$OUT" --max-total-s 100 > /tmp/state_bench.log 2>&1
    echo "state bench exit $?" | tee -a "$OUT/summary.txt"
    tail -30 /tmp/state_bench.log | tee -a "$OUT/summary.txt"
done
if [ "${XCHG_RANKS:-0}" -gt 1 ] && [ "$BK" = cupy ]; then
    # The benchmarks start ranks with the mpiexec beside the Python: link the machine's one there.
    [ -e "$(dirname "$(command -v python3)")/mpiexec" ] || ln -s "$DQSIM_MPIEXEC" "$(dirname "$(command -v python3)")/mpiexec"
    log "exchanges: $XCHG_RANKS ranks on one GPU (host-staged), n=${XQ:-28}"
    timeout ${XCHG_S:-120} $PY bench/kernel_bench.py --backend $BK --ranks $XCHG_RANKS --qubits ${XQ:-28} \
        --repeats 3 --skip-kernels --label gpu-${XCHG_RANKS}ranks --results-dir "$OUT" --timeout-s 110 \
        > /tmp/kernel_bench_xchg.log 2>&1
    echo "exchange bench exit $?" | tee -a "$OUT/summary.txt"
    grep -v "^\[vm" /tmp/kernel_bench_xchg.log | head -60 | tee -a "$OUT/summary.txt"
fi
if [ -n "${SCENARIO_TESTS:-}" ]; then
    log "scenario tests on $BK (DQSIM_TEST_BACKEND=$BK) $XDIST_ARGS"
    DQSIM_TEST_BACKEND=$BK timeout ${SCENARIO_TESTS_S:-200} $PY -m pytest -q -p no:cacheprovider -o addopts="" \
        --timeout 150 -rfE $XDIST_ARGS $SCENARIO_TESTS > "$OUT/gpu_scenario_tests.log" 2>&1
    echo "pytest exit $?" | tee -a "$OUT/summary.txt"
    grep -E "passed|failed|FAILED|ERROR" "$OUT/gpu_scenario_tests.log" | tail -12 | tee -a "$OUT/summary.txt"
fi
log "done in $(( $(date +%s) - T0 )) s"
