"""``python slow_slab_write.py SECONDS ARGS...``: ``dqsim ARGS...`` on every rank of the launch, whose rank 1 sleeps
SECONDS before each write of its state slab file (serial h5py, or ``DQSIM_PARALLEL_HDF5=0``): a rank slow to write
(a loaded file system), not stalled. Each rank ends as ``python -m dqsim`` does (review 7, R7-1)."""

import sys
import time

from mpi4py import MPI

from dqsim.cli import console_main, exit_status
from dqsim.io import sharded


def main() -> int:
    seconds, rank, write_slab_file = float(sys.argv[1]), MPI.COMM_WORLD.Get_rank(), sharded.write_slab_file

    def slow_slab(*args, **kwargs):
        if rank == 1:
            time.sleep(seconds)
        return write_slab_file(*args, **kwargs)

    sharded.write_slab_file = slow_slab
    return exit_status(console_main(sys.argv[2:]))


if __name__ == "__main__":
    sys.exit(main())
