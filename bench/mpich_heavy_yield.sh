#!/usr/bin/env bash
# MPICH's waits with and without MPIR_CVAR_ENABLE_HEAVY_YIELD=1, alternated: a benchmark, it checks nothing.
#
# MPICH 5.0.2 (ch4, the PyPI wheel) calls sched_yield every so many empty polls while a rank waits in a
# collective; MPIR_CVAR_ENABLE_HEAVY_YIELD=1 makes that yield a nanosleep (strace: clock_nanosleep calls where
# there were sched_yield ones). The CH4 progress throttle (MPIR_CVAR_CH4_PROGRESS_THROTTLE=1) added no sleep
# (strace) and MPIR_CVAR_POLLS_BEFORE_YIELD is ch3's only. Per repeat, each mode in turn:
#   micro: 4 ranks, each in turn counts to 10^6 (~0.1 s) while the others wait in Barrier, bcast and allreduce,
#          8 rounds: wall s of rank 0 and the ranks' CPU s summed;
#   dqsim: `dqsim run jobs/dqc_ghz_4qpu.toml` (random circuit, depth 20) on 4 and on 2 ranks: wall and CPU s
#          of the launch (/usr/bin/time), DQSIM_WAIT_SPIN_POLLS=200 as scripts/test.sh sets it.
# Usage: bash bench/mpich_heavy_yield.sh [REPEATS]   (from the repository root; default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=$PWD DQSIM_BACKEND=numpy
export DQSIM_WAIT_SPIN_POLLS=200
repeats=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/micro.py" <<'EOF'
import time
from mpi4py import MPI
c = MPI.COMM_WORLD
r = c.Get_rank()
c.Barrier()
t0, c0 = time.time(), time.process_time()
for step in range(8):
    if r == step % c.Get_size():
        x = 0
        for i in range(1_000_000):
            x += i
    c.Barrier()
    c.bcast(r if r == 0 else None)
    c.allreduce(r)
wall, cpu = time.time() - t0, c.reduce(time.process_time() - c0)
if r == 0:
    print(f"wall {wall:.2f} cpu_sum {cpu:.2f}")
EOF
for i in $(seq "$repeats"); do
    for mode in spin heavy; do
        heavy=0; [ "$mode" = heavy ] && heavy=1
        load=$(cut -d' ' -f1 /proc/loadavg)
        echo "repeat $i $mode micro n=4 load=$load: $(MPIR_CVAR_ENABLE_HEAVY_YIELD=$heavy \
            .venv/bin/mpiexec -n 4 .venv/bin/python "$work/micro.py")"
        for n in 4 2; do
            load=$(cut -d' ' -f1 /proc/loadavg)
            MPIR_CVAR_ENABLE_HEAVY_YIELD=$heavy /usr/bin/time -f "%e %U %S" -o "$work/time" \
                .venv/bin/mpiexec -n "$n" .venv/bin/python -m dqsim run jobs/dqc_ghz_4qpu.toml --quiet \
                --set simulation.store_shots=true --set 'circuit.generator="random"' --set circuit.depth=20 \
                -o "$work/run-$mode-$n.h5" >/dev/null
            read -r wall user sys < <(tail -1 "$work/time")
            echo "repeat $i $mode dqsim n=$n load=$load: wall $wall cpu $(echo "$user + $sys" | bc)"
            rm -f "$work"/run-*
        done
    done
done
