"""Run an MPI test script's ``main`` so that an error on one rank ends every rank (no hang)."""

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
