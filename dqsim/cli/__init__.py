"""The ``dqsim`` command line (:mod:`dqsim.cli.main`); :func:`console_main` is its entry point.

This module imports nothing heavy, so that a Ctrl-C while the command is still
starting (loading NumPy, numba, h5py and mpi4py takes a second or more) is one
line, as everywhere else, not a traceback from inside an import.
"""

from __future__ import annotations

import sys

#: Exit status after Ctrl-C (128 + SIGINT, as a shell reports it): while loading, or a second one during a run.
EXIT_INTERRUPTED = 130


def console_main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dqsim`` console script and ``python -m dqsim``: :func:`dqsim.cli.main.main`.

    (Not named ``main``: importing :mod:`dqsim.cli.main` binds that name in this package to the module.)

    Returns:
        The exit status; 130 after a Ctrl-C while the command was still loading.
    """
    try:
        from dqsim.cli.main import main as run_command  # noqa: PLC0415 - the heavy imports, under the Ctrl-C guard
    except KeyboardInterrupt:
        print("dqsim: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    return run_command(argv)
