"""Rank 0 cannot write a checkpoint's run file (a full disk after the slabs): every rank must stop in one line.

Usage: python checkpoint_write_fault.py DQSIM_RUN_ARGS...   (the arguments of ``dqsim run``)
"""

import sys

from dqsim.cli.main import main
from dqsim.engine import checkpoint
from dqsim.errors import DqsimError


def full_disk(self, sim, path, *args):
    raise DqsimError(f"{path}: cannot write the file (No space left on device)")


if __name__ == "__main__":
    checkpoint.Checkpointer._write_rank0 = full_disk  # rank 0 alone writes the run file
    raise SystemExit(main(sys.argv[1:]))
