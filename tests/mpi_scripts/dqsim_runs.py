"""Several ``dqsim`` command lines in one launch (one interpreter start and import per rank, not one per run).

Usage: python dqsim_runs.py ARGS... [--then ARGS...]...
(or, among other checks: python run_checks.py dqsim_runs+ARG+ARG... OUT ..., the ``ARG`` items without ``+``)

Each ``ARGS`` runs in turn on every rank through :func:`dqsim.cli.console_main`, as ``python -m dqsim ARGS``
would; the script ends with the first exit status other than the line's expected one (the runs after it are not
started), else 0. A command line may begin with ``@status:N`` (the status it must end with: 0 unless given) and
``@env:NAME=VALUE`` items (environment variables set for it and every line after it, on every rank).
An argument ``@middle-checkpoint:FOLDER`` stands for the middle one of the complete checkpoints in FOLDER
(tests/run_files.py's ``checkpoints``, oldest first, index ``len // 2``), chosen by rank 0 when its command line
starts (after the lines before it ran on every rank) and sent to the others: a run and the resume of its middle
checkpoint in one launch.
"""

import os
import sys
from pathlib import Path

from dqsim import comm
from dqsim.cli import console_main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from run_files import checkpoints  # noqa: E402

SEPARATOR = "--then"
MIDDLE = "@middle-checkpoint:"
STATUS = "@status:"
ENV = "@env:"


def command_lines(argv: list[str]) -> list[list[str]]:
    """``argv`` cut at each ``--then``."""
    lines = [[]]
    for arg in argv:
        if arg == SEPARATOR:
            lines.append([])
        else:
            lines[-1].append(arg)
    return lines


def middle_checkpoint(folder: str) -> str:
    """The middle one of the complete checkpoints in ``folder`` (none: the folder, for dqsim's own error)."""
    found = checkpoints(Path(folder))
    return str(found[len(found) // 2]) if found else folder


def with_checkpoints(args: list[str]) -> list[str]:
    """``args`` with each :data:`MIDDLE` argument replaced by rank 0's choice (after a barrier: every rank is done
    with the lines before)."""
    if not any(arg.startswith(MIDDLE) for arg in args):
        return args
    world = comm.init()
    world.barrier()
    chosen = None
    if world.rank == 0:
        chosen = [middle_checkpoint(arg[len(MIDDLE):]) if arg.startswith(MIDDLE) else arg for arg in args]
    return world.bcast(chosen)


def expected_status(args: list[str]) -> tuple[int, list[str]]:
    """The line's expected exit status (its leading :data:`STATUS` item, else 0) and the line without it, having
    set the environment variables of its leading :data:`ENV` items."""
    expected = 0
    while args and args[0].startswith((STATUS, ENV)):
        item, args = args[0], args[1:]
        if item.startswith(STATUS):
            expected = int(item[len(STATUS):])
        else:
            name, _, value = item[len(ENV):].partition("=")
            os.environ[name] = value
    return expected, args


def run_lines(argv: list[str]) -> None:
    """Each command line of ``argv`` in turn; SystemExit at the first that ends with another status than its own."""
    for line in command_lines(argv):
        expected, args = expected_status(line)
        status = console_main(with_checkpoints(args))
        if status != expected:
            raise SystemExit(status or f"dqsim {' '.join(args)} ended with status 0, not {expected}")


def main(out_path, items):
    """The command lines of ``items`` (``argv`` cut into the ``+ITEM`` arguments of tests/mpi_scripts/run_checks.py;
    no item may hold a ``+``) in a launch of other checks; ``out_path`` gets how many lines ran (rank 0)."""
    run_lines(items)
    if comm.init().rank == 0:
        Path(out_path).write_text(f"{len(command_lines(items))}\n")


if __name__ == "__main__":
    run_lines(sys.argv[1:])
    raise SystemExit(0)
