"""Runs in which one rank cannot write a file (a full disk), one after another in one launch.

Usage: python checkpoint_write_fault.py CASES.json
CASES.json is a list of ``{"name", "hook": "fault", "hook_args": [WHAT], "args", "out"}``, run as
tests/mpi_scripts/two_rank_stops.py runs its cases (each rank's stderr to ``OUT.rank<R>.stderr``, its exit status
to ``OUT.rank<R>.status``), the hook :func:`fault`. WHAT: ``checkpoint`` (rank 0: the run file of a checkpoint,
after the slabs), ``slab1`` (rank 1: its state slab of a checkpoint) or ``output`` (rank 0: the run's output file).
One interpreter start and import per rank instead of one per case.
"""

import errno
import json
import os
import sys
from pathlib import Path

from dqsim import io
from dqsim.io import sharded
from dqsim.engine import checkpoint
from dqsim.errors import DqsimError

sys.path.insert(0, str(Path(__file__).resolve().parent))  # a sibling script, also when pytest imports this one
import two_rank_stops  # noqa: E402


def full_disk(*args, **kwargs):
    raise DqsimError("cannot write the file (No space left on device)")


def full_disk_on_rank_1(write):
    def slab(*args, **kwargs):
        if os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK")) == "1":
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(*args, **kwargs)

    return slab


def fault(what: str):
    """Make the write of WHAT fail (see the module's docstring). Returns the undo."""
    if what == "checkpoint":
        owner, name, replacement = checkpoint.Checkpointer, "_write_rank0", full_disk  # rank 0 alone writes it
    elif what == "slab1":
        owner, name, replacement = sharded, "write_slab_file", full_disk_on_rank_1(sharded.write_slab_file)
    elif what == "output":
        owner, name, replacement = io, "write_run_file", full_disk  # rank 0 alone writes the output file
    else:
        raise SystemExit(f"checkpoint_write_fault.py: unknown fault {what!r}; use checkpoint, slab1 or output")
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    return lambda: setattr(owner, name, original)


two_rank_stops.HOOKS["fault"] = fault

if __name__ == "__main__":
    for each in json.loads(Path(sys.argv[1]).read_text()):
        two_rank_stops.run_case(each)
