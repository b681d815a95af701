"""A second Ctrl-C sent to the ranks themselves (srun, ``scancel --signal=INT``) during a stop's checkpoint write.

``dqsim run`` on every rank of the launch (``python -m mpi4py second_sigint.py WHO ARGS...``): a first SIGINT on
every rank at the first piece of gates asks for the stop's checkpoint; in its write, as each rank enters the
run-file step (every rank's records gathered by rank 0; rank 0 then writes the run file and manifest, the others
wait for it), rank 0 is held 1 s, and a second SIGINT is raised on rank 1 (``WHO`` = ``rank1``) or on every rank,
rank 0 once its hold is over (``every``). With ``WHO`` = ``gather``, the second SIGINT comes as each rank enters the
records' gather instead: rank 1 has handed its records over (rank 0 decides), rank 0 takes its own after 0.5 s,
before its gather returns. With ``WHO`` = ``slab0`` or ``slab1`` it comes to that rank alone while it writes its
state slab of the stop's checkpoint (once it has its first piece, 0.5 s on: the other rank's slab is written by
then); with ``range0`` or ``range1`` (parallel HDF5, ``.venv-mpio``) to that rank alone while it writes its range of
the stop's collective state file (once it has its first piece, 0.5 s on); with ``complete`` to rank 0 alone while it
completes that file with the run's tables (inside HDF5's open file); ``none`` sends no second one. With ``WHO`` =
``late`` the first SIGINT comes to every rank as the first periodic checkpoint's write starts (a job with
``[checkpoint].every_wall_s``), and the second to rank 0 alone once its run file and manifest of that checkpoint are
written (as it removes older ones, before the write's last collective). ``SIGNAL`` in the environment (``SIGTERM``)
sends that instead of SIGINT as the second signal. Each rank ends as ``python -m dqsim`` does
(:func:`dqsim.cli.exit_status`).
"""

import os
import signal
import sys
import time

from dqsim.cli import console_main, exit_status
from dqsim.comm import MPIComm
from dqsim.engine import checkpoint
from dqsim.io import sharded, writer
from dqsim.state.sharded import ShardedState


def main() -> int:
    who, argv = sys.argv[1], sys.argv[2:]
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a shell: the run's handler takes it from there
    apply_ops, run_file = ShardedState.apply_ops, checkpoint.Checkpointer._write_run_file
    pieces = []

    def apply_and_interrupt(self, ops, **kwargs):
        pieces.append(1)
        if len(pieces) == 1:
            signal.raise_signal(signal.SIGINT)
        return apply_ops(self, ops, **kwargs)

    def write_run_file(self, *args, **kwargs):
        if checkpoint.stop_requested():
            if self.comm.rank == 0:
                time.sleep(1.0)
            if self.comm.rank != 0 or who == "every":
                signal.raise_signal(signal.SIGINT)
        return run_file(self, *args, **kwargs)

    collectively, gather, armed = checkpoint._collectively, MPIComm.gather, []

    def collectively_and_arm(comm, read):  # (the stop's write: its records, then their gather)
        result = collectively(comm, read)
        if checkpoint.stop_requested():
            armed.append(1)
        return result

    def gather_and_interrupt(self, obj, root=0):
        if armed:
            armed.clear()
            if self.rank == 0:
                time.sleep(0.5)
            signal.raise_signal(signal.SIGINT)
        return gather(self, obj, root)

    write_slab, second = sharded.write_slab_file, getattr(signal, os.environ.get("SIGNAL", "SIGINT"))

    def interrupted_pieces(pieces):
        for count, piece in enumerate(pieces):
            if count == 0:
                time.sleep(0.5)
                signal.raise_signal(second)
            yield piece

    def write_slab_file(path, pieces, **kwargs):  # (the stop's write: this rank's slab, mid-write)
        rank = int(str(path).rsplit(".slab", 1)[1][:4])
        if checkpoint.stop_requested() and who == f"slab{rank}":
            pieces = interrupted_pieces(pieces)
        return write_slab(path, pieces, **kwargs)

    fill_range = sharded._fill_range

    def fill_range_interrupted(ds, start, pieces, slab_size, *args, **kwargs):  # (collective: this rank's range)
        if checkpoint.stop_requested() and who == f"range{start // slab_size}":
            pieces = interrupted_pieces(pieces)
        return fill_range(ds, start, pieces, slab_size, *args, **kwargs)

    complete = writer.complete_collective

    def complete_interrupted(*args, **kwargs):  # (rank 0: the collective file, open, gets the run's tables)
        if checkpoint.stop_requested():
            signal.raise_signal(second)
        return complete(*args, **kwargs)

    write, late = checkpoint.Checkpointer.write, []

    def periodic_write(self, sim, window_end_ps, *, stop=False):
        if not stop and not late:  # the first SIGINT, as the first periodic checkpoint's write starts
            late.append("first")
            signal.raise_signal(signal.SIGINT)
        return write(self, sim, window_end_ps, stop=stop)

    def run_file_then_interrupt(self, *args, **kwargs):
        failure = run_file(self, *args, **kwargs)
        if late == ["first"] and self.comm.rank == 0:  # the second, on rank 0 once the checkpoint is complete
            late.append("second")
            signal.raise_signal(signal.SIGINT)
        return failure

    if who == "late":
        checkpoint.Checkpointer.write, checkpoint.Checkpointer._write_run_file = periodic_write, run_file_then_interrupt
        return exit_status(console_main(argv))
    ShardedState.apply_ops = apply_and_interrupt
    if who.startswith("slab"):
        sharded.write_slab_file = write_slab_file
    elif who.startswith("range"):
        sharded._fill_range = fill_range_interrupted
    elif who == "complete":
        writer.complete_collective = complete_interrupted
    elif who == "gather":
        checkpoint._collectively, MPIComm.gather = collectively_and_arm, gather_and_interrupt
    elif who != "none":
        checkpoint.Checkpointer._write_run_file = write_run_file
    return exit_status(console_main(argv))


if __name__ == "__main__":
    sys.exit(main())
