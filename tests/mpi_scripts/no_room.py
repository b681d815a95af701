"""``python tests/mpi_scripts/no_room.py WHAT ARGS...``: ``dqsim ARGS...`` with the disk full, seen one way.

WHAT is ``statvfs`` (``dqsim.io.sharded.free_bytes`` returns 0, as on a full disk: every collective
state write is refused before HDF5 opens its file) or ``reserve`` (the free space looks ample but
rank 1 cannot reserve its blocks, as with an exhausted quota or a disk filled since the check).
The serial writes are unaffected either way.

``python tests/mpi_scripts/no_room.py --cases CASES.json``: several such runs one after another in one launch
(one interpreter start and import per rank for all of them). CASES.json is a list of ``{"what", "args", "out"}``:
for each in turn, every rank fills the disk as WHAT says, runs ``dqsim ARGS`` through
:func:`dqsim.cli.console_main` (``python -m dqsim``'s entry point) with this process's stderr (file descriptor 2)
going to ``OUT.rank<R>.stderr``, empties the disk again and writes the run's exit status to ``OUT.rank<R>.status``.
"""

import functools
import json
import os
import runpy
import sys
from pathlib import Path

from dqsim.io import sharded


def fill_disk(what: str):
    """Make the disk look full the way ``what`` says, on this rank; returns the undo."""
    saved = sharded.free_bytes, sharded.reserve_blocks
    if what == "statvfs":
        sharded.free_bytes = lambda folder: 0
    elif what == "reserve":
        from dqsim import comm as comm_mod

        rank = comm_mod.init().rank
        sharded.free_bytes = lambda folder: None
        sharded.reserve_blocks = lambda path, offset, length: "Disk quota exceeded" if rank == 1 else None
    else:
        raise SystemExit(f"no_room.py: WHAT = {what!r}: must be statvfs or reserve")

    def undo():
        sharded.free_bytes, sharded.reserve_blocks = saved
    return undo


def run_cases(cases_path: str) -> None:
    """Each case of the file ``cases_path`` in turn (the module docstring)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from guard import with_output_to
    from two_rank_stops import RANK

    from dqsim.cli import console_main

    for case in json.loads(Path(cases_path).read_text()):
        undo = fill_disk(case["what"])
        try:
            status = with_output_to(f"{case['out']}.rank{RANK}.stderr", functools.partial(console_main, case["args"]))
        finally:
            undo()
        Path(f"{case['out']}.rank{RANK}.status").write_text(str(status))


def main() -> None:
    if sys.argv[1] == "--cases":
        run_cases(sys.argv[2])
        return
    fill_disk(sys.argv.pop(1))
    sys.argv = ["dqsim", *sys.argv[1:]]
    runpy.run_module("dqsim", run_name="__main__")


if __name__ == "__main__":  # pytest imports this file for its doctests
    main()
