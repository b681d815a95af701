"""Run an MPI test script's ``main`` so that an error on one rank ends every rank (no hang)."""

import os
import sys
import traceback

from dqsim import comm as comm_mod


def run_guarded(main, *args) -> None:
    """Call ``main(*args)``; on any exception print its traceback and abort the whole MPI job."""
    try:
        main(*args)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        comm_mod.init().abort(1)


def each_placement(specs):
    """``(index, placement)`` of each PLACEMENT argument of a check script that runs several in one launch:
    "1,0,1" puts node i on rank 1, 0, 1 (a list); "default" gives None (the default placement), and so
    does an empty ``specs`` (one run)."""
    for index, spec in enumerate(specs or ["default"]):
        yield index, None if spec == "default" else [int(x) for x in spec.split(",")]


def with_output_to(path: str, work, fds: tuple[int, ...] = (2,)):
    """``work()`` with this process's file descriptors ``fds`` (2: stderr, what MPI and Python print too; 1:
    stdout) going to the file ``path``, set back after it; its result (rank_errors.py, two_rank_stops.py)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in fds]
    try:
        with open(path, "w") as written:
            for fd in fds:
                os.dup2(written.fileno(), fd)
            try:
                return work()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                for fd, kept in zip(fds, saved):
                    os.dup2(kept, fd)
    finally:
        for kept in saved:
            os.close(kept)
