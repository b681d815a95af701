#!/usr/bin/env bash
# Run the whole test suite (unit, physics and 1/2/4-rank MPI tests) on the CPU.
# Extra arguments go to pytest, e.g. scripts/test.sh -k state -x
#
# The suite is CPU-bound and its files independent, so it runs on
# DQSIM_TEST_WORKERS pytest-xdist workers (default 2, one per core of the
# 2-core CI machine), each taking whole files (--dist loadfile: the SLURM
# test cluster of tests/test_slurm.py is started by one worker only), the
# longest first (the collection's order, tests/file_order.py; not xdist's
# own by number of tests, which left files of a few long tests to the end).
# DQSIM_TEST_WORKERS=0, or a venv without pytest-xdist, runs it in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# The suite's 2- and 4-rank runs outnumber the cores: a waiting rank sleeps after 200 empty polls
# (dqsim.comm.WAIT_SPIN_POLLS; four MPI test files 78-79 s against 92 s on the 2-core VM).
export DQSIM_WAIT_SPIN_POLLS="${DQSIM_WAIT_SPIN_POLLS:-200}"
# MPICH's own waits (collectives, Waitall) spin and sched_yield every so many polls; MPIR_CVAR_ENABLE_HEAVY_YIELD=1
# makes that yield a nanosleep (bench/mpich_heavy_yield.sh at load 13-25: waiting ranks' CPU 1.7-2.4 against
# 2.9-3.9 s, no wall gain). Not set here: two clean-clone CI runs on the 2-core dev VM (2026-12-07) took 11 min 29 s
# with it and 12 min 5 s without, per file 10-30 % either way (test_engine 37 against 30 s, test_checkpoint 65
# against 83 s): the VM's noise between runs is larger than its effect. Set it in the environment to try it.
workers="${DQSIM_TEST_WORKERS:-2}"
if ! [[ "$workers" =~ ^[0-9]+$ ]]; then
    echo "scripts/test.sh: DQSIM_TEST_WORKERS must be a whole number (0 = one process), got '$workers'" >&2
    exit 2
fi
parallel=()
if [ "$workers" -gt 0 ] && .venv/bin/python -c "import xdist" 2>/dev/null; then
    parallel=(-n "$workers" --dist loadfile --no-loadscope-reorder)
fi
exec .venv/bin/python -m pytest --durations=20 "${parallel[@]}" "$@"
