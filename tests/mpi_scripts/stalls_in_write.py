"""``python stalls_in_write.py STEP ARGS...``: ``dqsim ARGS...`` on every rank of the launch, whose rank 1 stalls (sleeps
10 minutes) in the second collective state write (parallel HDF5, ``.venv-mpio``) at STEP: ``room`` (in its file size
limit's look, before the room check's collective), ``open`` (before the file's collective open), ``create`` (before
the state dataset's creation) or ``write`` (before its range's write); or in the second write of the state's slab
files (serial h5py, or ``DQSIM_PARALLEL_HDF5=0``) at ``slab`` (before its slab file's write), as on a file system
that stopped answering; the other ranks go on into the step and wait there for it. ``STEP:N`` stalls in the N-th
write instead (``slab:1``: the first, a run's output where it writes no checkpoint). Each rank ends as ``python -m
dqsim`` does."""

import sys
import time

import h5py
from mpi4py import MPI

from dqsim.cli import console_main, exit_status
from dqsim.io import sharded

STEPS = ("room", "open", "create", "write", "slab")


def main() -> int:
    step, _, nth = sys.argv[1].partition(":")
    if step not in STEPS or not (nth or "2").isdigit():
        raise SystemExit(f"stalls_in_write.py: STEP = {sys.argv[1]!r}: must be one of {', '.join(STEPS)}, "
                         "optionally with :N (the N-th write)")
    nth = int(nth or "2")
    rank, calls = MPI.COMM_WORLD.Get_rank(), {name: 0 for name in STEPS}

    def stall(name: str) -> None:
        calls[name] += 1
        if name == step and rank == 1 and calls[name] == nth:
            time.sleep(600)

    class StallingFile(h5py.File):
        def __init__(self, *args, **kwargs):
            if kwargs.get("driver") == "mpio":
                stall("open")
            super().__init__(*args, **kwargs)

    create_dataset, fill_range = h5py.Group.create_dataset, sharded._fill_range

    def create_then_stall(self, name, *args, **kwargs):
        if self.file.driver == "mpio" and name == sharded.STATE_DATASET:
            stall("create")
        return create_dataset(self, name, *args, **kwargs)

    def fill_then_stall(*args, **kwargs):
        stall("write")
        return fill_range(*args, **kwargs)

    size_limit, write_slab_file = sharded.file_size_limit, sharded.write_slab_file

    def size_limit_then_stall():
        stall("room")
        return size_limit()

    def slab_then_stall(*args, **kwargs):
        stall("slab")
        return write_slab_file(*args, **kwargs)

    h5py.File, h5py.Group.create_dataset, sharded._fill_range = StallingFile, create_then_stall, fill_then_stall
    sharded.file_size_limit, sharded.write_slab_file = size_limit_then_stall, slab_then_stall
    return exit_status(console_main(sys.argv[2:]))


if __name__ == "__main__":
    sys.exit(main())
