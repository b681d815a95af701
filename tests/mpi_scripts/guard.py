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
