#!/bin/bash
# First-run CPU of a job on 2 ranks with numba's cache empty (cold: every rank compiles) and after
# `dqsim warmup JOB` into an empty cache (warm), alternated TRIALS times. From the repository root:
#   bash bench/warmup_bench.sh [JOB] [TRIALS]      (default jobs/random_circuit.toml, 3)
# Per run: wall s, 1-minute load, each rank's CPU s (bench/kernel_cache_probe.py), kernels compiled.
# Per warm-up: user+sys CPU s of `dqsim warmup JOB`. Scratch files in OUT (default /tmp/warmup_bench).
set -u
JOB=${1:-jobs/random_circuit.toml}
TRIALS=${2:-3}
OUT=${OUT:-/tmp/warmup_bench}
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=$PWD DQSIM_BACKEND=numpy
PY=${DQSIM_PYTHON:-$(command -v python)}
MPI=$(dirname "$PY")/mpiexec
run2() {  # run2 CACHE_DIR LABEL
    local t0 t1
    t0=$(date +%s.%N)
    NUMBA_CACHE_DIR=$1 "$MPI" -n 2 "$PY" bench/kernel_cache_probe.py run "$JOB" -o "$OUT/$2.h5" -q > "$OUT/$2.txt" 2>&1
    t1=$(date +%s.%N)
    echo "$2 wall $(echo "$t1 - $t0" | bc) load $(cut -d' ' -f1 /proc/loadavg) ::" \
         "$(grep -h '^rc' "$OUT/$2.txt" | tr '\n' ' ') :: kernels compiled (summed over ranks):" \
         "$(grep -h ' miss [1-9]' "$OUT/$2.txt" | wc -l), loaded: $(grep -h ' hits [1-9]' "$OUT/$2.txt" | wc -l)"
}
for trial in $(seq 1 "$TRIALS"); do
    rm -rf "$OUT/cold$trial" "$OUT/warm$trial"
    run2 "$OUT/cold$trial" "cold$trial"
    cpu=$( { /usr/bin/time -f "%U %S" env NUMBA_CACHE_DIR="$OUT/warm$trial" "$PY" -m dqsim warmup "$JOB" \
             > "$OUT/warmup$trial.txt"; } 2>&1 )
    echo "warmup$trial user+sys $cpu :: $(tail -1 "$OUT/warmup$trial.txt" | cut -c1-70)"
    run2 "$OUT/warm$trial" "warm$trial"
done
