"""``python -m mpi4py late_stop_collective.py RANK ARGS...``: ``dqsim ARGS...`` on every rank of a parallel-HDF5
launch (``.venv-mpio``), a SIGTERM raised on rank RANK alone as it starts writing its range of the output's state
into the collective file, after the engine's last step (a late stop: the ranks take it at the write's next look,
abandon the file and checkpoint the finished engine run). Each rank ends as ``python -m dqsim`` does."""

import signal
import sys

from dqsim.cli import console_main, exit_status
from dqsim.engine import checkpoint
from dqsim.io import sharded


def main() -> int:
    rank, argv = int(sys.argv[1]), sys.argv[2:]
    fill_range = sharded._fill_range

    def fill_range_then_stop(ds, start, pieces, slab_size, *args, **kwargs):
        if start // slab_size == rank and not checkpoint.stop_requested():  # the output's write: no stop yet
            signal.raise_signal(signal.SIGTERM)
        return fill_range(ds, start, pieces, slab_size, *args, **kwargs)

    sharded._fill_range = fill_range_then_stop
    return exit_status(console_main(argv))


if __name__ == "__main__":
    sys.exit(main())
