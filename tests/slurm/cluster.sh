#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for tests/test_slurm.py (Debian 12: SLURM 22.05).
#
#   tests/slurm/cluster.sh up        # install slurmctld/slurmd/slurm-client if missing, start both
#                                    # daemons, wait until the node is idle; prints `export SLURM_CONF=...`
#   eval "$(tests/slurm/cluster.sh up)"   # the same, and point sbatch/sinfo in this shell at it
#   tests/slurm/cluster.sh status    # exit 0 when the daemons run and the node answers; prints the export line
#   tests/slurm/cluster.sh down      # cancel its jobs, stop both daemons by their recorded PIDs
#
# Everything lives in one folder: DQSIM_SLURM_DIR (default ${TMPDIR:-/tmp}/dqsim-slurm-$UID) holds
# slurm.conf, state, spool, logs (slurmctld.log, slurmd.log, *.out) and the daemons' PIDs.
# The cluster is `dqsimtest`: no authentication (auth/none), no accounting, one node with all this
# machine's cores in partition `debug` (the default), and in `preemptable` and `urgent` for preemption:
# a job in `urgent` that needs CPUs a `preemptable` job holds preempts it (PreemptMode=REQUEUE, GraceTime=10 s),
# and one a `preemptcancel` job holds (PreemptMode=CANCEL, GraceTime=10 s); `debug` jobs are never preempted.
# For tests only: never on a shared machine.
#
# Settings (environment): DQSIM_SLURM_DIR; DQSIM_SLURM_PORT (slurmctld's port, default 6817;
# slurmd uses the next one); DQSIM_SLURM_WAIT_S (how long `up` waits for the idle node, default 30).
#
# Exit status: 0 up (or down); 1 the daemons did not come up (the reason and log tails on stderr);
# 3 SLURM cannot be installed or started here at all (not root, no apt-get, install failed):
# the tests skip on 3 and fail on 1. Messages go to stderr; stdout carries only the export line.
set -uo pipefail

DIR=${DQSIM_SLURM_DIR:-${TMPDIR:-/tmp}/dqsim-slurm-$(id -u)}
PORT=${DQSIM_SLURM_PORT:-6817}
WAIT_S=${DQSIM_SLURM_WAIT_S:-30}
CONF=$DIR/slurm.conf
EXIT_FAILED=1
EXIT_UNAVAILABLE=3
PACKAGES=(slurmctld slurmd slurm-client)

say() { echo "cluster.sh: $*" >&2; }
die() { local code=$1; shift; say "$*"; exit "$code"; }

# The PID recorded for daemon $1 if that process is still that daemon, else nothing.
live_pid() {
    local pid
    pid=$(cat "$DIR/$1.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
    echo "$pid"
}

node_state() { SLURM_CONF=$CONF sinfo -h -N -o '%t' 2>/dev/null | head -n 1; }

log_tails() {
    local f
    for f in "$DIR"/slurmctld.log "$DIR"/slurmd.log "$DIR"/slurmctld.out "$DIR"/slurmd.out; do
        [ -s "$f" ] && { echo "--- last lines of $f" >&2; tail -n 15 "$f" >&2; }
    done
}

install_slurm() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ] && command -v slurmctld >/dev/null && command -v sbatch >/dev/null; then
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die $EXIT_UNAVAILABLE "SLURM is not installed and installing it needs root (missing: ${missing[*]})"
    command -v apt-get >/dev/null || die $EXIT_UNAVAILABLE "SLURM is not installed and there is no apt-get to install it (missing: ${missing[*]})"
    say "installing ${missing[*]} with apt-get (about a minute)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get update -q >"$DIR/apt.log" 2>&1 \
        || ! apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >>"$DIR/apt.log" 2>&1; then
        tail -n 5 "$DIR/apt.log" >&2
        die $EXIT_UNAVAILABLE "apt-get could not install ${PACKAGES[*]} (log: $DIR/apt.log)"
    fi
}

write_conf() {
    local node cpus
    # The node name must be the one slurmd finds for itself (`slurmd -C`), else it will not register.
    node=$(slurmd -C 2>/dev/null | sed -n 's/^NodeName=\([^ ]*\).*/\1/p' | head -n 1)
    node=${node:-$(hostname -s)}
    cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys these (tests set OMP_NUM_THREADS=1)
    mkdir -p "$DIR/state" "$DIR/spool"
    cat >"$CONF.tmp" <<EOF
# Written by tests/slurm/cluster.sh: a one-node test cluster, no authentication, no accounting.
ClusterName=dqsimtest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
# A requeued job may start cred_expire + 1 s after its requeue, and the main scheduler looks at
# pending jobs every sched_interval s (defaults 120 and 60): a requeued test job starts ~6 s later.
AuthInfo=cred_expire=5
SchedulerParameters=sched_interval=1
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobRequeue=1
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
KillWait=5
MinJobAge=600
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.daemon.pid
SlurmdPidFile=$DIR/slurmd.daemon.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1024 State=UNKNOWN
# Preemption (tests/test_slurm.py): a job in partition urgent requeues one in preemptable that holds the CPUs
# it needs: SIGTERM to its ranks at once, the job requeued after GraceTime; one in preemptcancel is cancelled
# after GraceTime instead; debug jobs are never preempted.
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=OFF
PartitionName=preemptable Nodes=$node MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE GraceTime=10
PartitionName=preemptcancel Nodes=$node MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=CANCEL GraceTime=10
PartitionName=urgent Nodes=$node MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
EOF
    mv "$CONF.tmp" "$CONF"
}

start_daemon() {  # $1 = slurmctld | slurmd, then its arguments
    local name=$1 pid
    shift
    # A background job of a script is not a process-group leader, so setsid runs the daemon in its
    # own session without forking and $! is the daemon's PID; should setsid fork after all, the
    # PID file the daemon writes itself names it.
    setsid "$name" "$@" >"$DIR/$name.out" 2>&1 </dev/null &
    echo "$!" >"$DIR/$name.pid"
    for _ in $(seq 20); do
        sleep 0.25
        live_pid "$name" >/dev/null && return 0
        pid=$(cat "$DIR/$name.daemon.pid" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] \
            && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && { echo "$pid" >"$DIR/$name.pid"; return 0; }
    done
    log_tails
    die $EXIT_FAILED "$name exited right after starting (see $DIR/$name.log)"
}

wait_ready() {  # until the node is in one of the states "$1" (a regex), at most WAIT_S seconds
    local deadline=$((SECONDS + WAIT_S)) state=""
    while [ $SECONDS -lt $deadline ]; do
        state=$(node_state)
        [[ $state =~ ^($1)$ ]] && return 0
        live_pid slurmctld >/dev/null || break
        live_pid slurmd >/dev/null || break
        sleep 0.5
    done
    log_tails
    SLURM_CONF=$CONF sinfo -R >&2 2>/dev/null
    live_pid slurmctld >/dev/null || say "slurmctld is not running"
    live_pid slurmd >/dev/null || say "slurmd is not running"
    die $EXIT_FAILED "the node is not ready after ${WAIT_S} s (state: ${state:-no answer}); see $DIR"
}

cmd_status() {
    live_pid slurmctld >/dev/null && live_pid slurmd >/dev/null && [ -n "$(node_state)" ] || return 1
    echo "export SLURM_CONF=$CONF"
}

cmd_up() {
    mkdir -p "$DIR" || die $EXIT_UNAVAILABLE "cannot create $DIR"
    if live_pid slurmctld >/dev/null && live_pid slurmd >/dev/null; then
        say "already running (conf $CONF)"
        wait_ready 'idle|mix|alloc|comp'
        echo "export SLURM_CONF=$CONF"
        return 0
    fi
    cmd_down 2>/dev/null  # one daemon left over from an earlier run: start both afresh
    install_slurm
    [ "$(id -u)" -eq 0 ] || die $EXIT_UNAVAILABLE "slurmd must run as root"
    command -v setsid >/dev/null || die $EXIT_UNAVAILABLE "setsid (util-linux) is missing"
    rm -rf "$DIR/state" "$DIR/spool"  # a fresh cluster: no jobs recovered from an earlier one
    write_conf
    start_daemon slurmctld -D -i -f "$CONF"
    start_daemon slurmd -D -f "$CONF"
    wait_ready idle
    say "up: node $(SLURM_CONF=$CONF sinfo -h -N -p debug -o '%N %c CPUs %t'), conf $CONF"
    echo "export SLURM_CONF=$CONF"
}

# SIGTERM to each daemon named ($@) that runs, then wait (at most 10 s) until all have ended; SIGKILL to any left.
stop_daemons() {
    local name pid names=()
    for name in "$@"; do
        pid=$(live_pid "$name") || { rm -f "$DIR/$name.pid"; continue; }
        kill -TERM "$pid" 2>/dev/null
        names+=("$name")
    done
    for _ in $(seq 50); do
        local left=0
        for name in "${names[@]}"; do live_pid "$name" >/dev/null && left=1; done
        [ "$left" -eq 0 ] && break
        sleep 0.2
    done
    for name in "${names[@]}"; do
        if pid=$(live_pid "$name"); then
            say "$name (PID $pid) ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
        rm -f "$DIR/$name.pid"
    done
}

cmd_down() {
    local jobs
    if live_pid slurmctld >/dev/null; then
        jobs=$(SLURM_CONF=$CONF squeue -h -o %A 2>/dev/null || true)
        if [ -n "$jobs" ]; then  # every job cancelled, and a second for slurmd to end their steps
            printf '%s\n' "$jobs" | xargs -r env SLURM_CONF="$CONF" scancel --quiet 2>/dev/null
            sleep 1
        fi
    fi
    stop_daemons slurmd slurmctld  # both at once (was one after the other: ~2 s each)
    return 0
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down && say "down (logs stay in $DIR)" ;;
    status) cmd_status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
