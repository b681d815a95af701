# Shared by slurm/dqsim.sbatch and slurm/sweep.sbatch (sourced from the submit directory):
# launch one dqsim run under srun (or mpiexec), pass USR1 on so that dqsim checkpoints (also on a
# SIGTERM to this shell), resume from the newest checkpoint after a requeue, and requeue at most
# DQSIM_MAX_RESTARTS times (after a SIGTERM not when the job is cancelled).
#
# The caller sets: DQSIM_PYTHON, CHECKPOINT_DIR; optionally DQSIM_LAUNCHER (srun | mpiexec),
# SRUN_MPI, SRUN_GPU_BIND, DQSIM_MAX_RESTARTS, DQSIM_WARMUP, DQSIM_TERM_WAIT_S (see the variables
# below), NUMBA_CACHE_DIR.
# Exit statuses of dqsim: 0 done (also when USR1 came after the simulation's last step, while the
# results were tabulated or written: the run finished them, and says so), 2 bad input (or no checkpoint
# it accepts, or another run of the job holds its checkpoint folder), 75 checkpoint written (also one of
# a finished engine run, taken during the work on its final state: the resume redoes only that).

DQSIM_LAUNCHER=${DQSIM_LAUNCHER:-srun}     # srun, or mpiexec: the one beside DQSIM_PYTHON (PyPI MPICH's)
SRUN_MPI=${SRUN_MPI:-pmix}                 # srun's MPI plugin: pmix (Open MPI, MPICH with PMIx); pmi2 for the PyPI MPICH
SRUN_GPU_BIND=${SRUN_GPU_BIND:-}           # srun --gpu-bind, e.g. closest or map_gpu:0,1,2,3 (empty: SLURM's default)
DQSIM_MAX_RESTARTS=${DQSIM_MAX_RESTARTS:-5}  # requeue at most this many times, then stop with the checkpoint
DQSIM_WARMUP=${DQSIM_WARMUP:-1}            # 0: no `dqsim warmup` before the ranks start (each compiles what it lacks)
DQSIM_TERM_WAIT_S=${DQSIM_TERM_WAIT_S:-20} # after a SIGTERM while SLURM ends the job: wait this long for dqsim (< KillWait)
DQSIM_READY_WAIT_S=${DQSIM_READY_WAIT_S:-60} # a stop that comes while the ranks start waits at most this long after the launch
EXIT_CHECKPOINTED=75

# A USR1 to this shell before dqsim starts (while `dqsim check` or the warm-up run: seconds; or
# `scancel --signal=USR1 --batch` by hand) ended the shell by the signal's default action (status 138,
# no requeue). It is kept from here on: dqsim_step then starts no dqsim and the job is requeued as after a
# checkpoint (a requeued job keeps its newest checkpoint; a first run starts again), within the cap.
STOPPED_BEFORE_START=0   # 1: a USR1 or SIGTERM came before dqsim_step started dqsim
NOT_STARTED=0            # 1: dqsim_step started no dqsim for it
trap 'echo "run_step.sh: USR1 before dqsim started: not starting it"; STOPPED_BEFORE_START=1' USR1

# A SIGTERM to this shell ended it by the default action (status 143: no line, no requeue decision). SLURM
# sends one to the batch script, to srun and to the ranks when it ends the job: `scancel JOBID`, the time
# limit (where no --signal=B:USR1 came early enough), the end of a preemption's GraceTime; `scancel
# --signal=TERM --batch JOBID` sends one without ending the job (--full: to srun and the ranks too). It is trapped from here on: the
# trap asks `scontrol show job` for the job's state and passes USR1 to a running dqsim, which checkpoints
# as on USR1 (a rank that got SIGTERM from slurmstepd too stops once: each signal only asks for the stop).
# Not TERM: srun answers a SIGTERM of its own by killing the ranks ("srun: forcing job termination"; on the
# test cluster that kill came through only where SLURM was not ending the job, `scancel --signal=TERM
# --full`). finish_step then requeues the job after the checkpoint, within the cap, where SLURM is not
# ending it (JobState=RUNNING: the SIGTERM was a signal) or ends it at its time limit (JobState=COMPLETING
# Reason=TimeLimit); never after a cancel (COMPLETING with another Reason: a user's scancel, a preemption
# with PreemptMode=CANCEL) or when scontrol does not answer: a scancel stays cancelled, and the log names
# `scontrol requeue JOBID` to go on. Where SLURM has requeued the job already (its Restarts above
# SLURM_RESTART_COUNT: the SIGTERM at the end of a PreemptMode=REQUEUE preemption's GraceTime, seen on the
# test cluster as JobState=COMPLETING Reason=None Restarts=1) it leaves the requeue to SLURM. SLURM kills
# what is left KillWait (default 30 s) after its SIGTERM, so while it ends the job dqsim_step waits at most
# DQSIM_TERM_WAIT_S for dqsim.
TERM_STATE=""            # the job's JobState when a SIGTERM came ("unknown": scontrol did not answer); "": none came
TERM_REASON=""           # and its Reason (TimeLimit at the time limit, None after a scancel)
TERM_REQUEUED=0          # 1: SLURM had requeued the job already (its Restarts above SLURM_RESTART_COUNT: a preemption)
TERM_DEADLINE=0          # SECONDS by which dqsim_step stops waiting for dqsim (0: no limit)
DQSIM_PID=""             # the running dqsim's launcher (srun or mpiexec); "" when none runs
STEP_ENDED=0             # 1: dqsim_step's dqsim has ended

# A USR1 that reaches a rank in its first moments (the interpreter's own start, ~0.1 s from the launch,
# before dqsim's first statement holds the stop signals) ends that rank by the default action: status 138,
# no checkpoint, and srun --kill-on-bad-exit ends the others. So each rank says when it holds them: it
# creates a file in the folder DQSIM_READY_DIR (dqsim.cli.announce_held_stop_signals; a fresh folder for
# each launch, in CHECKPOINT_DIR, which every node sees), and a stop that comes before every rank has one
# is kept pending and passed on (USR1 to srun or mpiexec, which pass it to every rank) as soon as they all
# have. A rank that never writes one (a folder it cannot write, a file system that shows it late): the stop
# is passed on DQSIM_READY_WAIT_S after the launch, when the ranks are past their start; a step that ends
# first (a rank failed) ends with its own status. Signals SLURM sends to the ranks themselves (its SIGTERM
# when it ends or preempts the job, `scancel --signal=USR1` without --batch) bypass this gate.
STOP_PENDING=0           # 1: a stop came for the running dqsim and is not passed on yet
READY_DIR=""             # the launch's readiness folder (DQSIM_READY_DIR of its ranks)
READY_RANKS=1            # how many readiness files mean every rank holds the stop signals
READY_DEADLINE=0         # SECONDS after which a pending stop is passed on without them
RANKS_READY=0            # 1: every rank holds the stop signals (or DQSIM_READY_WAIT_S has passed)
CHECKED_ARGS=""          # the arguments of check_job's `dqsim check` (printf %q) where it passed, else ""
CHECKED_OUTPUT=""        # and what it printed: checkpoint_prefix reads the prefix there for the same arguments

# `on_sigterm`: the SIGTERM trap (above).
# `show_job`: this job's `scontrol -o show job` line (empty outside SLURM or when scontrol does not answer
# within 5 s); `job_field LINE NAME [CHARS]`: the value of NAME=... in it (CHARS: a sed bracket expression
# for the value's characters, default [^ ]), or nothing.
show_job() {
    if [ -n "${SLURM_JOB_ID:-}" ]; then timeout 5 scontrol -o show job "$SLURM_JOB_ID" 2>/dev/null || true; fi
}
job_field() {
    printf '%s\n' "$1" | sed -n "s/^.* $2=\\(${3:-[^ ]}*\\).*\$/\\1/p" | sed -n 1p
}

on_sigterm() {
    local shown
    shown=$(show_job)
    TERM_STATE=$(job_field "$shown" JobState)
    [ -n "$TERM_STATE" ] || TERM_STATE=unknown
    TERM_REASON=$(job_field "$shown" Reason)
    local restarts
    restarts=$(job_field "$shown" Restarts '[0-9]')
    local why="JobState=$TERM_STATE${TERM_REASON:+ Reason=$TERM_REASON}"
    if [ -n "$restarts" ] && [ "$restarts" -gt "${SLURM_RESTART_COUNT:-0}" ]; then
        TERM_REQUEUED=1
        TERM_DEADLINE=$((SECONDS + DQSIM_TERM_WAIT_S))
        why="$why Restarts=$restarts: SLURM ends the job and requeues it (a preemption)"
    elif [ "$TERM_STATE" = unknown ]; then
        TERM_DEADLINE=$((SECONDS + DQSIM_TERM_WAIT_S))
        why="$why: scontrol did not answer; taken as SLURM ending the job"
    elif [ "$TERM_STATE" != RUNNING ]; then
        TERM_DEADLINE=$((SECONDS + DQSIM_TERM_WAIT_S))
        why="$why: SLURM is ending the job"
    fi
    if [ -n "$DQSIM_PID" ]; then
        echo "run_step.sh: SIGTERM ($why): asking dqsim to checkpoint"
        ask_to_stop
    elif [ "$STEP_ENDED" -eq 1 ]; then
        echo "run_step.sh: SIGTERM ($why) after dqsim ended (status $STATUS)"
    else
        echo "run_step.sh: SIGTERM before dqsim started ($why): not starting it"
        STOPPED_BEFORE_START=1
    fi
}
trap on_sigterm TERM

# `ranks_ready`: status 0 when every rank of the running dqsim holds the stop signals (READY_RANKS files in
# READY_DIR), or DQSIM_READY_WAIT_S has passed since the launch (said once in the log).
ranks_ready() {
    local files
    if [ "$RANKS_READY" -eq 1 ]; then return 0; fi
    files=()
    if [ -n "$READY_DIR" ]; then files=("$READY_DIR"/*); fi
    if [ "${#files[@]}" -gt 0 ] && [ ! -e "${files[0]}" ]; then files=(); fi   # no match: the pattern itself
    if [ "${#files[@]}" -ge "$READY_RANKS" ]; then RANKS_READY=1; return 0; fi
    if [ "$SECONDS" -ge "$READY_DEADLINE" ]; then
        echo "run_step.sh: ${#files[@]} of $READY_RANKS rank(s) said they hold the stop signals" \
             "$DQSIM_READY_WAIT_S s after the launch (DQSIM_READY_WAIT_S); passing stops on now" >&2
        RANKS_READY=1
        return 0
    fi
    return 1
}

# `ask_to_stop`: pass USR1 on to the running dqsim (srun or mpiexec passes it to every rank), now if every
# rank holds the stop signals, else once they do (dqsim_step's loop).
ask_to_stop() {
    STOP_PENDING=1
    if ranks_ready; then
        STOP_PENDING=0
        kill -USR1 "$DQSIM_PID" 2>/dev/null || true
    else
        echo "run_step.sh: the ranks are still starting (not every one holds the stop signals yet): passing it on once they do"
    fi
}

# The newest complete checkpoints (with a manifest) of the job whose checkpoints' prefix is PREFIX
# (NAME.HHHHHHHH: its [run].name and the hash of its resolved job) in CHECKPOINT_DIR first (names
# sort by engine run and simulated time, as numbers: run 1000 after run 999); only that job's, as
# the folder may hold other jobs' checkpoints, also of jobs with the same name.
newest_checkpoints() {
    ls "$CHECKPOINT_DIR/$1".ckpt*.manifest.json 2>/dev/null | sed 's/\.manifest\.json$/.h5/' | sort -rV
}

# `other_jobs_named PREFIX`: how many other jobs of PREFIX's [run].name (another configuration hash)
# have complete checkpoints in CHECKPOINT_DIR.
other_jobs_named() {
    local name=${1%.*}
    { ls "$CHECKPOINT_DIR" 2>/dev/null || true; } \
        | sed -n "s/^\(.*\)\.\([0-9a-f]\{8\}\)\.ckpt[0-9]*-[0-9]*\.manifest\.json$/\1 \2/p" \
        | awk -v name="$name" -v own="${1##*.}" '$1 == name && $2 != own {print $2}' | sort -u | wc -l
}

# The arguments of ARGS that `dqsim check` takes, into the array SET_ARGS: the --set assignments (as
# `--set X` pairs) and the output (-o), after the checkpoint folder run_or_resume gives `dqsim run`, so
# that check judges the folders the run will write.
set_args() {
    local args=("$@") i
    SET_ARGS=()
    if [ -n "${CHECKPOINT_DIR:-}" ]; then SET_ARGS+=(--set "checkpoint.directory=\"$CHECKPOINT_DIR\""); fi
    for ((i = 0; i < ${#args[@]}; i++)); do
        case "${args[i]}" in
            --set|-o|--output) SET_ARGS+=("${args[i]}" "${args[i+1]:-}"); i=$((i + 1)) ;;
            --set=*|--output=*) SET_ARGS+=("${args[i]}") ;;
        esac
    done
}

# `checkpoint_prefix JOB ARGS...`: the prefix of the job's checkpoints (with the --set of ARGS), as
# `dqsim check` prints it: NAME.HHHHHHHH, its [run].name and the hash of its resolved job (without the
# output file and [checkpoint], which a requeue passes again), so two jobs of one name in one folder
# keep apart (--no-time: no wall-time pilot for it); empty, with status 0, for a job `dqsim check` refuses
# (under `set -euo pipefail` a failing pipeline here would end the step silently; `dqsim run` then prints the one-line error).
# Checked for the step's SLURM_NTASKS ranks, as check_job: a job placed on 2 ranks is refused on 1. Where check_job
# has asked `dqsim check` the same (a job's first start in dqsim.sbatch), its output is read again instead (one
# Python process with dqsim's imports less before the ranks start). For a job that reads a QASM file a second line
# gives the prefix its checkpoints had before 2026-12-07 (the hash held the file's absolute path, now its SHA-256),
# which an edit of the file in place keeps: where the newest checkpoint of that name was written when the file had
# other contents (the SHA-256 its manifest records), `dqsim check` marks that line "other contents" and none is read
# from it, so the requeue runs the job with --stop-if-edited (below) rather than resume the old contents' checkpoint
# (refused in one line, the file changed: what it did before 2026-12-07 (afternoon)).
checkpoint_prefix() {
    local job_file=$1
    shift
    set_args "$@"
    local args=("$job_file" -n "${SLURM_NTASKS:-1}" --no-time "${SET_ARGS[@]}")
    if [ -n "$CHECKED_ARGS" ] && [ "$(printf '%q ' "${args[@]}")" = "$CHECKED_ARGS" ]; then
        printf '%s\n' "$CHECKED_OUTPUT"
    else
        "$DQSIM_PYTHON" -m dqsim check "${args[@]}" 2>/dev/null
    fi | sed -n 's/^# checkpoint prefix\( before 2026-12-07\)\{0,1\}: \([^ ]*\).*$/\2/p' | head -n 2 || true
}

# Run `dqsim ARGS...` on the job's ranks in the background, so that the USR1 and SIGTERM traps can pass
# USR1 on; sets STATUS to its exit status. Each rank holds USR1 and TERM from the first thing dqsim
# does (before it imports anything) and says so (a file in DQSIM_READY_DIR); a stop that comes before
# every rank has said so is passed on once they have (see STOP_PENDING above), so it checkpoints (75)
# however early it comes. After a SIGTERM while SLURM ends the job it waits at most DQSIM_TERM_WAIT_S
# for dqsim (status 143 when dqsim still runs then: SLURM's SIGKILL follows).
dqsim_step() {
    local launch
    if [ "$STOPPED_BEFORE_START" -eq 1 ]; then NOT_STARTED=1; STATUS=$EXIT_CHECKPOINTED; return; fi
    case $DQSIM_LAUNCHER in
        srun) launch=(srun --mpi="$SRUN_MPI" --kill-on-bad-exit=1)
              if [ -n "$SRUN_GPU_BIND" ]; then launch+=(--gpu-bind="$SRUN_GPU_BIND"); fi ;;
        mpiexec) launch=("$(dirname "$DQSIM_PYTHON")/mpiexec" -n "${SLURM_NTASKS:-1}") ;;
        *) echo "run_step.sh: DQSIM_LAUNCHER=$DQSIM_LAUNCHER: allowed srun, mpiexec" >&2; STATUS=2; return ;;
    esac
    local made_folder=0   # 1: CHECKPOINT_DIR made here, for the readiness folder (removed again if left empty)
    if [ ! -d "$CHECKPOINT_DIR" ] && mkdir -p "$CHECKPOINT_DIR" 2>/dev/null; then made_folder=1; fi
    if [ -n "${SLURM_JOB_ID:-}" ]; then rm -rf "$CHECKPOINT_DIR/.ready.$SLURM_JOB_ID".*; fi   # left by a killed step
    READY_DIR=$(mktemp -d "$CHECKPOINT_DIR/.ready.${SLURM_JOB_ID:-none}.XXXXXX" 2>/dev/null) || {
        echo "run_step.sh: cannot create a readiness folder in $CHECKPOINT_DIR: a stop while the ranks start is" \
             "passed on DQSIM_READY_WAIT_S after the launch" >&2; READY_DIR=""; }
    READY_RANKS=${SLURM_NTASKS:-1} RANKS_READY=0 STOP_PENDING=0 READY_DEADLINE=$((SECONDS + DQSIM_READY_WAIT_S))
    DQSIM_READY_DIR=$READY_DIR "${launch[@]}" "$DQSIM_PYTHON" -m dqsim "$@" &
    local pid=$!
    DQSIM_PID=$pid
    trap 'echo "run_step.sh: USR1: asking dqsim to checkpoint"; ask_to_stop' USR1
    if [ "$STOPPED_BEFORE_START" -eq 1 ]; then   # USR1 or TERM came between the test above and the traps
        echo "run_step.sh: asking dqsim to checkpoint"; ask_to_stop
    fi
    while true; do
        if [ "$STOP_PENDING" -eq 1 ] && ranks_ready; then
            echo "run_step.sh: passing the stop on to dqsim"
            STOP_PENDING=0
            kill -USR1 "$pid" 2>/dev/null || true
        fi
        if [ "$STOP_PENDING" -eq 0 ] && [ "$TERM_DEADLINE" -eq 0 ]; then
            STATUS=0
            wait "$pid" || STATUS=$?
            kill -0 "$pid" 2>/dev/null || break   # it ended; else wait was cut short by a trap
            continue
        fi
        # A stop waits for the ranks, or SLURM ends the job (its SIGKILL comes KillWait after its SIGTERM): poll.
        if ! kill -0 "$pid" 2>/dev/null; then
            STATUS=0
            wait "$pid" || STATUS=$?
            break
        fi
        if [ "$TERM_DEADLINE" -gt 0 ] && [ "$SECONDS" -ge "$TERM_DEADLINE" ]; then
            echo "run_step.sh: dqsim still runs $DQSIM_TERM_WAIT_S s after the SIGTERM (DQSIM_TERM_WAIT_S); not waiting longer" >&2
            STATUS=143
            break
        fi
        sleep 0.05
    done
    if [ "$STOP_PENDING" -eq 1 ]; then
        echo "run_step.sh: dqsim ended (status $STATUS) before its ranks held the stop signals; the stop was not passed on" >&2
    fi
    if [ -n "$READY_DIR" ]; then rm -rf "$READY_DIR"; fi
    if [ "$made_folder" -eq 1 ]; then rmdir "$CHECKPOINT_DIR" 2>/dev/null || true; fi   # a run without checkpoints
    DQSIM_PID=""
    STOP_PENDING=0
    STEP_ENDED=1
    trap 'echo "run_step.sh: USR1 after dqsim ended (status $STATUS): nothing to stop"' USR1
}

# Run the job (`dqsim run JOB --set checkpoint.directory=... ARGS...`) or, after a requeue, resume
# from the newest checkpoint that dqsim accepts (`dqsim resume --fall-back`: an older one if the newest is
# refused, damaged or incomplete; a resume that fails later, e.g. writing its output, is not run again
# from an older one); of ARGS a resume takes the output and --quiet (the rest is stored in the
# checkpoint). A requeued job with no checkpoint of its own may be one whose run had finished (and removed its
# checkpoints) when SLURM requeued it (a preemption at its very end, a node lost after dqsim ended): its run
# gets --skip-finished, so dqsim ends at once with status 0 and one line where the output already holds this
# job's finished results, and runs it from the start otherwise; and --stop-if-edited, so that a job whose input
# file was edited in place since its unfinished run's checkpoints were written stops (status 2, one line naming
# the file and the checkpoint: restore the file and requeue to resume) instead of losing that progress. Sets STATUS.
run_or_resume() {
    local job_file=$1 restarts=${SLURM_RESTART_COUNT:-0} checkpoint i
    shift
    local args=("$@") resume_args=()
    for ((i = 0; i < ${#args[@]}; i++)); do
        case "${args[i]}" in
            -o|--output) resume_args+=("${args[i]}" "${args[i+1]:-}"); i=$((i + 1)) ;;
            -q|--quiet) resume_args+=("${args[i]}") ;;
        esac
    done
    local prefixes
    prefixes=$(checkpoint_prefix "$job_file" "$@")
    CHECKPOINT_PREFIX=$(printf '%s\n' "$prefixes" | sed -n 1p)   # finish_step names the newest checkpoint
    local former
    former=$(printf '%s\n' "$prefixes" | sed -n 2p)
    if [ -n "$former" ] && [ -z "$(newest_checkpoints "$CHECKPOINT_PREFIX")" ] \
            && [ -n "$(newest_checkpoints "$former")" ]; then
        CHECKPOINT_PREFIX=$former   # a run started before 2026-12-07: its resume goes on with those names
    fi
    if [ "$restarts" -gt 0 ] && [ -n "$CHECKPOINT_PREFIX" ] && [ -n "$(newest_checkpoints "$CHECKPOINT_PREFIX")" ]; then
        checkpoint=$(newest_checkpoints "$CHECKPOINT_PREFIX" | sed -n 1p)   # sed reads all: no SIGPIPE under pipefail
        echo "run_step.sh: restart $restarts: resuming from $checkpoint (or the newest older one dqsim accepts)"
        dqsim_step resume "$checkpoint" --fall-back "${resume_args[@]}"
    else
        local others=0
        if [ "$restarts" -gt 0 ] && [ -n "$CHECKPOINT_PREFIX" ]; then
            others=$(other_jobs_named "$CHECKPOINT_PREFIX")
        fi
        if [ "$others" -gt 0 ]; then
            echo "run_step.sh: restart $restarts: no checkpoint of this job ($CHECKPOINT_PREFIX) in $CHECKPOINT_DIR;" \
                 "ignoring the checkpoints of $others other job(s) named '${CHECKPOINT_PREFIX%.*}' (another configuration);" \
                 "running it from the start (dqsim stops instead where they are this job's, written when a file" \
                 "it reads had other contents: --stop-if-edited)"
        fi
        local skip=()
        # its run may have finished: see above; and where a file the job reads (its QASM circuit) was edited in
        # place since its checkpoints were written (they are named by the file's SHA-256: none of this name), dqsim
        # stops in one line (status 2, not requeued) rather than run the edited job from the start
        if [ "$restarts" -gt 0 ]; then skip=(--skip-finished --stop-if-edited); fi
        dqsim_step run "$job_file" --set "checkpoint.directory=\"$CHECKPOINT_DIR\"" "$@" ${skip[@]+"${skip[@]}"}
    fi
}

# After run_or_resume: requeue this job (or array task) when dqsim checkpointed, the cap allows and
# the job is not cancelled (after a SIGTERM: JobState RUNNING, or Reason TimeLimit; during a preemption:
# PreemptMode REQUEUE and Requeue=1, see read_preemption), then exit with a status SLURM shows (0 requeued
# or done; 75 checkpointed but not requeued).
finish_step() {
    local restarts=${SLURM_RESTART_COUNT:-0}
    local what="checkpoint written"
    if [ "$NOT_STARTED" -eq 1 ]; then what="stopped before dqsim started"; fi
    if [ -n "$TERM_STATE" ]; then what="$what after the SIGTERM"; fi
    if [ "$TERM_REQUEUED" -eq 1 ]; then   # a preemption (PreemptMode=REQUEUE) at the end of its GraceTime
        if [ "$STATUS" -eq "$EXIT_CHECKPOINTED" ]; then
            echo "run_step.sh: $what; SLURM requeues the job itself (a preemption): not requeueing it again"
            exit 0
        fi
        if [ "$STATUS" -ne 0 ]; then
            echo "run_step.sh: dqsim ended with status $STATUS after the SIGTERM (no checkpoint of this stop); SLURM" \
                 "requeues the job itself (a preemption): it resumes from the newest checkpoint, if any" >&2
        fi
        exit "$STATUS"
    fi
    if [ -n "$TERM_STATE" ] && [ "$TERM_STATE" != RUNNING ] && [ "$TERM_REASON" != TimeLimit ]; then
        if [ "$STATUS" -eq "$EXIT_CHECKPOINTED" ]; then
            echo "run_step.sh: $what, but the job is cancelled (JobState=$TERM_STATE${TERM_REASON:+ Reason=$TERM_REASON}:" \
                 "a scancel or a preemption): not requeueing; to go on from the checkpoint:" \
                 "scontrol requeue ${SLURM_JOB_ID:-JOBID}, or by hand: dqsim resume $(newest_checkpoints "${CHECKPOINT_PREFIX:-}" | sed -n 1p)" >&2
        elif [ "$STATUS" -ne 0 ]; then
            echo "run_step.sh: dqsim ended with status $STATUS after the SIGTERM (no checkpoint of this stop), and the job is" \
                 "cancelled (JobState=$TERM_STATE${TERM_REASON:+ Reason=$TERM_REASON}): not requeueing" >&2
        fi
        exit "$STATUS"
    fi
    local preempted=""
    if [ "$STATUS" -ne 0 ]; then read_preemption; fi
    if [ -n "$PREEMPT_TIME" ]; then preempted=" while SLURM preempts the job (PreemptTime=$PREEMPT_TIME)"; fi
    if [ -n "$preempted" ] && { [[ $PREEMPT_MODE != *REQUEUE* ]] || [ "$PREEMPT_REQUEUE" = 0 ]; }; then
        # SLURM cancels this preempted job at the end of its GraceTime (PreemptMode=CANCEL, or a job that cannot be
        # requeued): a requeue asked for here would undo that cancel (`scontrol requeue` succeeds within GraceTime).
        local how="its partition's PreemptMode=$PREEMPT_MODE"
        if [ -z "$PREEMPT_MODE" ]; then how="its partition's PreemptMode unknown: scontrol show partition did not answer"; fi
        if [ "$PREEMPT_REQUEUE" = 0 ]; then how="the job cannot be requeued: Requeue=0, sbatch --no-requeue or JobRequeue=0"; fi
        local resume="to go on from the checkpoint: scontrol requeue ${SLURM_JOB_ID:-JOBID}, or by hand: dqsim resume"
        resume="$resume $(newest_checkpoints "${CHECKPOINT_PREFIX:-}" | sed -n 1p)"
        if [ "$STATUS" -eq "$EXIT_CHECKPOINTED" ]; then
            echo "run_step.sh: $what$preempted, a preemption SLURM ends with a cancel ($how):" \
                 "not requeueing; $resume" >&2
        elif [ "$STATUS" -ne 2 ]; then
            echo "run_step.sh: dqsim ended with status $STATUS (no checkpoint of this stop)$preempted, a preemption SLURM" \
                 "ends with a cancel ($how): not requeueing; $resume" >&2
        fi
        exit "$STATUS"
    fi
    if [ "$STATUS" -ne "$EXIT_CHECKPOINTED" ] && [ "$STATUS" -ne 0 ] && [ "$STATUS" -ne 2 ] && [ -n "$preempted" ]; then
        # SLURM's SIGTERM at the preemption reached a rank before it held the stop signals (its first ~0.1 s):
        # the step ended without a checkpoint of this stop. Ending the job here would end it for good (SLURM
        # requeues a preempted job only where it still runs at the end of GraceTime); requeue it instead.
        what="dqsim ended with status $STATUS (no checkpoint of this stop: a rank still starting, ended by SLURM's SIGTERM)"
        STATUS=$EXIT_CHECKPOINTED
    fi
    if [ "$STATUS" -eq "$EXIT_CHECKPOINTED" ] && [ -z "${SLURM_JOB_ID:-}" ]; then
        # run by hand outside SLURM (DQSIM_LAUNCHER=mpiexec, a local test): nothing to requeue; before 2026-12-07
        # (late night) `scontrol requeue ${SLURM_JOB_ID:?}` ended the script with a raw bash error and status 1
        local newest
        newest=$(newest_checkpoints "${CHECKPOINT_PREFIX:-}" | sed -n 1p) || true   # none: ls fails (pipefail)
        echo "run_step.sh: $what; not under SLURM (no SLURM_JOB_ID): not requeued;" \
             "${newest:+continue with: dqsim resume $newest}${newest:-no checkpoint to resume: run the job again}" >&2
        exit "$STATUS"
    fi
    if [ "$STATUS" -eq "$EXIT_CHECKPOINTED" ]; then
        if [ "$restarts" -lt "$DQSIM_MAX_RESTARTS" ]; then
            echo "run_step.sh: $what$preempted; requeueing job ${SLURM_JOB_ID:-?} (restart $((restarts + 1)) of at most $DQSIM_MAX_RESTARTS)"
            if scontrol requeue "${SLURM_JOB_ID:?}"; then exit 0; fi
            echo "run_step.sh: scontrol requeue failed (above; SLURM may have requeued or ended the job itself);" \
                 "to go on by hand: dqsim resume $(newest_checkpoints "${CHECKPOINT_PREFIX:-}" | sed -n 1p)" >&2
            exit "$STATUS"
        fi
        echo "run_step.sh: $what, but the job was requeued $restarts time(s) (DQSIM_MAX_RESTARTS=$DQSIM_MAX_RESTARTS):" \
             "not requeueing; continue by hand with: dqsim resume $(newest_checkpoints "${CHECKPOINT_PREFIX:-}" | head -n 1)" >&2
    elif [ -n "$TERM_STATE" ] && [ "$STATUS" -ne 0 ]; then   # e.g. killed by srun after its own SIGTERM (--full)
        echo "run_step.sh: dqsim ended with status $STATUS after the SIGTERM (no checkpoint of this stop): not requeueing" >&2
    fi
    exit "$STATUS"
}

# `read_preemption`: where `scontrol show job` shows a preemption under way, PREEMPT_TIME (its PreemptTime),
# PREEMPT_MODE (the PreemptMode `scontrol show partition` gives the job's partition: its own or the cluster's; empty
# when scontrol does not answer) and PREEMPT_REQUEUE (the job's Requeue: 0 where it cannot be requeued); else all
# three empty. At a preemption SLURM sends SIGTERM to the ranks at once but not to this script (SLURM 22.05 on the
# test cluster, PreemptMode REQUEUE and CANCEL alike; the script gets it only at the end of GraceTime), so dqsim
# checkpoints and finish_step learns of the preemption only here. Under REQUEUE SLURM requeues a job that still runs
# at the end of GraceTime, and finish_step requeues one that ends earlier; under CANCEL SLURM cancels it then
# (JobState=PREEMPTED), and finish_step leaves it so. A QOS's own PreemptMode (PreemptType=preempt/qos) is not
# read: scontrol does not show it.
PREEMPT_TIME="" PREEMPT_MODE="" PREEMPT_REQUEUE=""
read_preemption() {
    local shown partition
    PREEMPT_TIME="" PREEMPT_MODE="" PREEMPT_REQUEUE=""
    if [ -z "${SLURM_JOB_ID:-}" ]; then return 0; fi
    shown=$(show_job)
    PREEMPT_TIME=$(job_field "$shown" PreemptTime)
    if [ -z "$PREEMPT_TIME" ] || [ "$PREEMPT_TIME" = None ]; then PREEMPT_TIME=""; return 0; fi
    PREEMPT_REQUEUE=$(job_field "$shown" Requeue)
    partition=$(job_field "$shown" Partition)
    if [ -n "$partition" ]; then
        shown=$(timeout 5 scontrol -o show partition "$partition" 2>/dev/null || true)
        PREEMPT_MODE=$(job_field " $shown" PreemptMode)
    fi
}

# `dqsim check JOB -n SLURM_NTASKS` with the --set assignments of ARGS, on one process: prints the
# memory per rank and the work to the log (not its time estimate: --no-time, no pilot run on the
# node); a job that would not run fails here (status 2). Keeps the check's arguments and output for
# checkpoint_prefix (CHECKED_ARGS, CHECKED_OUTPUT) where it passed.
check_job() {
    local job_file=$1 shown status=0
    shift
    set_args "$@"
    local args=("$job_file" -n "${SLURM_NTASKS:-1}" --no-time "${SET_ARGS[@]}")
    shown=$("$DQSIM_PYTHON" -m dqsim check "${args[@]}") || status=$?
    if [ "$status" -eq 0 ]; then CHECKED_ARGS=$(printf '%q ' "${args[@]}") CHECKED_OUTPUT=$shown; fi
    printf '%s\n' "$shown" | grep '^# \(work\|memory\)' || return  # no such line: grep's status
    return "$status"
}

# `warm_up_kernels JOB ARGS...`: `dqsim warmup JOB` with the --set assignments of ARGS, on this one process, on
# the job's first node, before the ranks start: it compiles the numba kernels the job calls into numba's cache
# (NUMBA_CACHE_DIR if set), so that the ranks load them instead of each compiling the same ones at once (seconds
# of CPU each on a fresh install, and numba's processes race on the cache); for a QKD job with LDPC it also builds
# the job's LDPC codes into dqsim's cache (DQSIM_CACHE_DIR, else $NUMBA_CACHE_DIR/dqsim, else ~/.cache/dqsim; up to
# 25 s of CPU each, which every rank spent before). Done once per install and CPU type; later jobs find the kernels
# (and codes) there (well under a second). A warm-up that fails (a NUMBA_CACHE_DIR that cannot
# be written: its one line is in the log) does not stop the job: the ranks compile what they lack.
warm_up_kernels() {
    local job_file=$1 args=("${@:2}") sets=() i
    if [ "$DQSIM_WARMUP" = 0 ]; then return 0; fi
    for ((i = 0; i < ${#args[@]}; i++)); do
        case "${args[i]}" in
            --set) sets+=(--set "${args[i+1]:-}"); i=$((i + 1)) ;;
            --set=*) sets+=("${args[i]}") ;;
            -o|--output) i=$((i + 1)) ;;
        esac
    done
    "$DQSIM_PYTHON" -m dqsim warmup "$job_file" "${sets[@]}" \
        || echo "run_step.sh: the kernel warm-up failed (above); the ranks compile the kernels they need" >&2
}
