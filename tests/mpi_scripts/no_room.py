"""``python tests/mpi_scripts/no_room.py WHAT ARGS...``: ``dqsim ARGS...`` with the disk full, seen one way.

WHAT is ``statvfs`` (``dqsim.io.sharded.free_bytes`` returns 0, as on a full disk: every collective
state write is refused before HDF5 opens its file) or ``reserve`` (the free space looks ample but
rank 1 cannot reserve its blocks, as with an exhausted quota or a disk filled since the check).
The serial writes are unaffected either way.
"""

import runpy
import sys

from dqsim.io import sharded


def main() -> None:
    what = sys.argv.pop(1)
    if what == "statvfs":
        sharded.free_bytes = lambda folder: 0
    elif what == "reserve":
        from dqsim import comm as comm_mod

        rank = comm_mod.init().rank
        sharded.free_bytes = lambda folder: None
        sharded.reserve_blocks = lambda path, offset, length: "Disk quota exceeded" if rank == 1 else None
    else:
        raise SystemExit(f"no_room.py: WHAT = {what!r}: must be statvfs or reserve")
    sys.argv = ["dqsim", *sys.argv[1:]]
    runpy.run_module("dqsim", run_name="__main__")


if __name__ == "__main__":  # pytest imports this file for its doctests
    main()
