"""Rank 0 cannot write a file (a full disk): every rank must stop in one line.

Usage: python checkpoint_write_fault.py WHAT DQSIM_ARGS...
WHAT: ``checkpoint`` (the run file of a checkpoint, after the slabs) or ``output`` (the run's output file);
DQSIM_ARGS: the arguments of ``dqsim``.
"""

import sys

from dqsim import io
from dqsim.cli.main import main
from dqsim.engine import checkpoint
from dqsim.errors import DqsimError


def full_disk(*args, **kwargs):
    raise DqsimError("cannot write the file (No space left on device)")


if __name__ == "__main__":
    if sys.argv[1] == "checkpoint":
        checkpoint.Checkpointer._write_rank0 = full_disk  # rank 0 alone writes a checkpoint's run file
    else:
        io.write_run_file = full_disk  # rank 0 alone writes the output file
    raise SystemExit(main(sys.argv[2:]))
