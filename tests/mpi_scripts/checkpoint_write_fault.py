"""One rank cannot write a file (a full disk).

Usage: python checkpoint_write_fault.py WHAT DQSIM_ARGS...
WHAT: ``checkpoint`` (rank 0: the run file of a checkpoint, after the slabs), ``slab1`` (rank 1: its state
slab of a checkpoint) or ``output`` (rank 0: the run's output file);
DQSIM_ARGS: the arguments of ``dqsim``.
"""

import errno
import os
import sys

from dqsim import io
from dqsim.io import sharded
from dqsim.cli.main import main
from dqsim.engine import checkpoint
from dqsim.errors import DqsimError


def full_disk(*args, **kwargs):
    raise DqsimError("cannot write the file (No space left on device)")


def full_disk_on_rank_1(write):
    def slab(*args, **kwargs):
        if os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK")) == "1":
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(*args, **kwargs)

    return slab


if __name__ == "__main__":
    if sys.argv[1] == "checkpoint":
        checkpoint.Checkpointer._write_rank0 = full_disk  # rank 0 alone writes a checkpoint's run file
    elif sys.argv[1] == "slab1":
        sharded.write_slab_file = full_disk_on_rank_1(sharded.write_slab_file)
    else:
        io.write_run_file = full_disk  # rank 0 alone writes the output file
    raise SystemExit(main(sys.argv[2:]))
