#!/bin/bash
# Peak memory (max RSS) and wall time of dqc_ghz_4qpu with many shots, one rank, for two checkouts.
#   bench/dqc_many_shots.sh BEFORE_TREE AFTER_TREE OUT_DIR
# Each tree needs .venv (a link to the shared one will do); results: bench/results/dqc-many-shots-*.md.
set -u
before=$1 after=$2 out=$3
mkdir -p "$out"
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
one() {
  label=$1 tree=$2; shift 2
  echo "=== $label $(date -u +%H:%M:%S) load: $(cut -d' ' -f1-3 /proc/loadavg)"
  (cd "$tree" && PYTHONPATH=$tree /usr/bin/time -f "maxrss_kb=%M wall_s=%e user_s=%U sys_s=%S" \
    .venv/bin/python -m dqsim run jobs/dqc_ghz_4qpu.toml --set simulation.timeline=false -o "$out/$label.h5" \
    --set "checkpoint.directory=\"$out/ck_$label\"" "$@" 2>&1 | grep -E "maxrss|wall time|top counts|shots drawn|error" | tail -6)
}
for shots in 1000 1000000; do
  one "before_$shots" "$before" --set simulation.shots=$shots
  one "after_$shots" "$after" --set simulation.shots=$shots
done
for rep in 1 2; do
  one "before_1e7_r$rep" "$before" --set simulation.shots=10000000
  one "after_1e7_r$rep" "$after" --set simulation.shots=10000000
done
one after_1e7_store "$after" --set simulation.shots=10000000 --set simulation.store_shots=true
one after_1e8 "$after" --set simulation.shots=100000000
echo "=== end $(date -u +%H:%M:%S) load: $(cut -d' ' -f1-3 /proc/loadavg)"
