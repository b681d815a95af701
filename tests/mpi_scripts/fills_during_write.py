"""``python fills_during_write.py HOW ARGS...``: ``dqsim ARGS...`` on every rank of the launch, whose disk fills during
its first collective state write, after the free-space check and the block reservation (parallel HDF5, ``.venv-mpio``).

HOW is ``limit`` (every rank's per-file size limit, ``RLIMIT_FSIZE``, set to the temporary file's size once its blocks
are reserved: a write past them fails with ``EFBIG``; Python ignores ``SIGXFSZ``), ``nometa`` (the same, but HDF5's
metadata's blocks are not reserved, as before 2026-12-07 (late afternoon): its write fails inside the file's close),
``nofallocate`` (the same with no block reserved at all, as on a file system without ``fallocate``: the amplitudes'
write fails), ``filler`` (the file system of the temporary file, a small tmpfs, filled by rank 0 with a filler file
once the blocks are reserved: ``ENOSPC``) or ``before`` (that tmpfs filled so before the reservation, after the
free-space check). Each rank ends as ``python -m dqsim`` does."""

import os
import resource
import sys

from mpi4py import MPI  # noqa: F401 - MPI started before any limit (its shared-memory files)

from dqsim.cli import console_main, exit_status
from dqsim.io import sharded


def fill(tmp, how: str, rank: int) -> None:
    """Fill the disk under ``tmp`` the way ``how`` says, on this rank."""
    if how in ("limit", "nometa", "nofallocate"):
        size = os.stat(tmp).st_size
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
    elif how == "filler" and rank == 0:
        with open(os.path.join(os.path.dirname(tmp), "filler"), "wb", buffering=0) as fh:
            size = 1 << 20
            while size >= 512:
                try:
                    fh.write(bytes(size))
                except OSError:
                    size //= 2


def main() -> int:
    how = sys.argv[1]
    if how not in ("limit", "nometa", "nofallocate", "filler", "before"):
        raise SystemExit(f"fills_during_write.py: HOW = {how!r}: must be limit, nometa, nofallocate or filler")
    if how == "nometa":
        sharded._reserve_metadata = lambda tmp, offset, end: None
    if how == "nofallocate":
        sharded._FALLOCATE = None
    reserve = sharded._reserve_collectively
    done = []

    def reserve_then_fill(comm, ds, tmp, *args, **kwargs):
        if how == "before" and not done:
            done.append(True)
            fill(tmp, "filler", comm.rank)
            comm.barrier()
        reserve(comm, ds, tmp, *args, **kwargs)
        if not done:
            done.append(True)
            fill(tmp, how, comm.rank)
            comm.barrier()

    sharded._reserve_collectively = reserve_then_fill
    return exit_status(console_main(sys.argv[2:]))


if __name__ == "__main__":
    sys.exit(main())
