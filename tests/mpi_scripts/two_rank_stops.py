"""Several ``dqsim`` runs stopped by a SIGTERM to one rank, one after another in one launch.

Usage: python two_rank_stops.py CASES.json

CASES.json is a list of ``{"name", "hook", "hook_args", "args", "out"}``: for each in turn, every rank installs the
case's hook (:data:`HOOKS`), runs ``dqsim ARGS`` through :func:`dqsim.cli.main.main` (which sets the signal
handlers and mask back and forgets the stop as it returns) with this process's stderr (file descriptor 2, what
MPI and Python print too) going to ``OUT.rank<R>.stderr``, removes the hook, and writes its exit status to
``OUT.rank<R>.status``. The hooks are those of tests/test_checkpoint_stops.py's ``DRIVER`` (a SIGTERM as a
function is called), ``DRIVER_WAITING_RANK`` (to rank 1 as it waits for rank 0's output write) and
``DRIVER_FILES`` (as a file of the run named ``stopped*`` is written, the state written in small pieces), each
ran in a launch of its own before: one interpreter start and import per rank instead of one per case.

Rank 0 then writes the names in each case's ``"folder"`` to ``OUT.listing.json`` (what the stop left there). Then,
in the same launch, each case with ``"resume": true`` whose run ended with status 75 on both ranks and left
exactly one checkpoint in ``FOLDER/ck`` (``"folder"``) is resumed on every rank through
:func:`dqsim.cli.console_main` (``python -m dqsim``'s entry point) to ``FOLDER/resumed.h5``, its stderr to
``OUT.rank<R>.resume.stderr`` and its exit status to ``OUT.rank<R>.resume.status`` (was a second launch, of
tests/mpi_scripts/dqsim_runs.py); the resumes stop at the first that does not exit 0, as that launch did.
"""

import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from dqsim import comm
from dqsim.cli import console_main
from dqsim.cli import main as cli_main
from dqsim.engine import checkpoint
from dqsim.io import sharded, writer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # a sibling script, also when pytest imports this one
from guard import with_output_to  # noqa: E402
from run_files import checkpoints  # noqa: E402

RANK = comm.init().rank  # here, on every rank (a collective): a hook may act on one rank only


def _sigterm():
    os.kill(os.getpid(), signal.SIGTERM)


def hook_call(spec: str):
    """``MODULE:FUNCTION[:CALL[:RANK]]``: SIGTERM to rank RANK (1) as call CALL (every call) of the function
    starts. Returns the undo."""
    module_name, name, *when = spec.split(":")
    call, rank = (int(when[0]) if when and when[0] else None), (int(when[1]) if len(when) > 1 else 1)
    module = importlib.import_module(module_name)
    original, calls = getattr(module, name), []

    def hooked(*args, **kwargs):
        calls.append(1)
        if RANK == rank and call in (None, len(calls)):  # one rank only: the ranks agree
            _sigterm()
        return original(*args, **kwargs)

    setattr(module, name, hooked)
    return lambda: setattr(module, name, original)


def hook_waiting_rank():
    """SIGTERM to rank 1 as it starts to wait for rank 0's output write; rank 0's first look in the write waits
    (up to 60 s) until rank 1's notice has come. Returns the undo. (The run's first wait, for rank 0's warnings
    and output check, passes no notice on: the signal comes at the first wait that would, the output write's,
    whose ``notify`` is :func:`dqsim.engine.checkpoint.stop_requested`.)"""
    wait, look = comm.RootTask.wait, cli_main._cut_on_stop

    def hooked_wait(self, notify):
        if RANK == 1 and notify is checkpoint.stop_requested:
            _sigterm()
        return wait(self, notify)

    def hooked_look(task):
        deadline = time.monotonic() + 60
        while not task.notified() and time.monotonic() < deadline:
            time.sleep(0.01)
        return look(task)

    comm.RootTask.wait, cli_main._cut_on_stop = hooked_wait, hooked_look

    def undo():
        comm.RootTask.wait, cli_main._cut_on_stop = wait, look
    return undo


def hook_files(spec: str, piece: str, marks: str):
    """``MODULE:FUNCTION:RANK``: SIGTERM to rank RANK as the first call of the function on a file named
    ``stopped*`` starts, the state written ``piece`` amplitudes (and the run file hashed 16 x ``piece`` bytes)
    between two looks for a stop; each rank writes into the folder ``marks`` how its sharded state write ended,
    and rank 0 whether its run file write was cut. Returns the undo."""
    module_name, name, rank = spec.split(":")
    saved_sizes = sharded.STATE_PIECE_AMPLITUDES, writer.HASH_LOOK_BYTES
    sharded.STATE_PIECE_AMPLITUDES, writer.HASH_LOOK_BYTES = int(piece), 16 * int(piece)
    mark_file = Path(marks) / f"rank{RANK}.txt"
    module = importlib.import_module(module_name)
    original, calls = getattr(module, name), []

    def hooked(path, *args, **kwargs):
        if RANK == int(rank) and not calls and Path(path).name.startswith("stopped"):
            calls.append(1)
            _sigterm()
        return original(path, *args, **kwargs)

    state_for_output, write_output = cli_main._state_for_output, cli_main._write_output

    def watched_state(*args, **kwargs):
        try:
            return state_for_output(*args, **kwargs)
        except BaseException as exc:
            with open(mark_file, "a") as fh:
                fh.write(f"rank {RANK}: the state write ended by {type(exc).__name__}\n")
            raise

    def watched_write(*args, **kwargs):
        error, cut = write_output(*args, **kwargs)
        with open(mark_file, "a") as fh:
            fh.write(f"rank {RANK}: the run file write cut: {cut}\n")
        return error, cut

    setattr(module, name, hooked)
    cli_main._state_for_output, cli_main._write_output = watched_state, watched_write

    def undo():
        setattr(module, name, original)
        cli_main._state_for_output, cli_main._write_output = state_for_output, write_output
        sharded.STATE_PIECE_AMPLITUDES, writer.HASH_LOOK_BYTES = saved_sizes
    return undo


#: The hooks by name.
HOOKS = {"call": hook_call, "waiting": hook_waiting_rank, "files": hook_files}


def run_case(case: dict) -> int:
    """The case's run with its hook, stderr to its file; its exit status (also written to its file)."""
    out = case["out"]
    undo = HOOKS[case["hook"]](*case["hook_args"])
    try:
        status = with_output_to(f"{out}.rank{RANK}.stderr", lambda: cli_main.main(case["args"]))
    finally:
        undo()
    Path(f"{out}.rank{RANK}.status").write_text(str(status))
    return status


def to_resume(case: dict) -> str | None:
    """The checkpoint of ``case`` to resume (rank 0's choice, sent to every rank after a barrier: every rank has
    written its status), or None: not a case to resume, a status other than 75 on a rank, not one checkpoint."""
    world = comm.init()
    world.barrier()
    chosen = None
    if world.rank == 0 and case.get("resume"):
        statuses = [Path(f"{case['out']}.rank{rank}.status") for rank in range(world.size)]
        written = checkpoints(Path(case["folder"]) / "ck")
        if all(path.exists() and path.read_text() == "75" for path in statuses) and len(written) == 1:
            chosen = str(written[0])
    return world.bcast(chosen)


def resume_case(case: dict, checkpoint: str) -> int:
    """``dqsim resume CHECKPOINT -o FOLDER/resumed.h5 --quiet``, stderr and exit status to the case's files."""
    out = case["out"]
    status = with_output_to(f"{out}.rank{RANK}.resume.stderr", lambda: console_main(
        ["resume", checkpoint, "-o", str(Path(case["folder"]) / "resumed.h5"), "--quiet"]))
    Path(f"{out}.rank{RANK}.resume.status").write_text(str(status))
    return status


if __name__ == "__main__":
    cases = json.loads(Path(sys.argv[1]).read_text())
    for each in cases:
        run_case(each)
    comm.init().barrier()
    if RANK == 0:  # what each stop left in its folder, before the resumes write there
        for each in cases:
            Path(f"{each['out']}.listing.json").write_text(json.dumps(sorted(p.name for p in
                                                                              Path(each["folder"]).iterdir())))
    for each in cases:
        checkpoint = to_resume(each)
        if checkpoint is not None and comm.init().allreduce_max(int(resume_case(each, checkpoint) != 0)):
            break  # on every rank alike
