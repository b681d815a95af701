"""Several ``dqsim`` command lines in one launch (one interpreter start and import per rank, not one per run).

Usage: python dqsim_runs.py ARGS... [--then ARGS...]...

Each ``ARGS`` runs in turn on every rank through :func:`dqsim.cli.console_main`, as ``python -m dqsim ARGS``
would; the script ends with the first nonzero exit status (the runs after it are not started), else 0.
"""

import sys

from dqsim.cli import console_main

SEPARATOR = "--then"


def command_lines(argv: list[str]) -> list[list[str]]:
    """``argv`` cut at each ``--then``."""
    lines = [[]]
    for arg in argv:
        if arg == SEPARATOR:
            lines.append([])
        else:
            lines[-1].append(arg)
    return lines


if __name__ == "__main__":
    for args in command_lines(sys.argv[1:]):
        status = console_main(args)
        if status:
            raise SystemExit(status)
    raise SystemExit(0)
