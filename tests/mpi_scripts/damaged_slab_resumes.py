"""A run on several ranks, a byte of rank 1's slab of its newer checkpoint flipped, then two resumes of that
checkpoint, in one launch (one interpreter start and import per rank for the three; was two launches).

Usage: python damaged_slab_resumes.py FOLDER JOB [--set ...]

1. ``dqsim run JOB ... -o FOLDER/full.h5 --quiet``, a checkpoint every 0.4 ms of simulated time into ``FOLDER/ck``,
   two kept; rank 0 prints the two checkpoints' paths, ``OLDER NEWER`` (oldest first, tests/run_files.py's
   ``checkpoints``);
2. rank 0 flips the bits 0x10 of the byte in the middle of the amplitudes of NEWER's ``slab0001`` file (rank 1's);
3. ``dqsim resume NEWER -o FOLDER/x.h5 --quiet``, which must end with status 2, then the same to ``FOLDER/y.h5``
   with ``--fall-back``, which must end with 0; what each rank prints to stderr (file descriptor 2) in these two
   goes to ``FOLDER/resumes.rank<R>.stderr``.

Ends with the first unexpected status (SystemExit naming the step).
"""

import os
import sys
from pathlib import Path

import h5py

from dqsim import comm
from dqsim.cli import console_main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from run_files import checkpoints, flip_byte  # noqa: E402


def damage_newer(ck: Path) -> None:
    """Rank 0: print ``OLDER NEWER`` and flip a byte in the middle of NEWER's second slab's amplitudes."""
    older, newer = checkpoints(ck)
    print(older, newer, flush=True)
    slab = ck / f"{newer.stem}.slab0001.h5"
    with h5py.File(slab, "r") as h5:
        middle = h5["slab"].id.get_offset() + h5["slab"].id.get_storage_size() // 2
    flip_byte(slab, middle, 0x10)


def resumes(folder: Path, newer: str) -> list[int]:
    """The refused resume of ``newer`` and the one with ``--fall-back``, stderr to this rank's file; their statuses."""
    world = comm.init()
    sys.stderr.flush()
    saved_fd = os.dup(2)
    statuses = []
    try:
        with open(folder / f"resumes.rank{world.rank}.stderr", "w") as err:
            os.dup2(err.fileno(), 2)
            try:
                statuses.append(console_main(["resume", newer, "-o", str(folder / "x.h5"), "--quiet"]))
                if statuses[-1] == 2:
                    statuses.append(console_main(["resume", newer, "-o", str(folder / "y.h5"), "--quiet",
                                                  "--fall-back"]))
            finally:
                sys.stderr.flush()
                os.dup2(saved_fd, 2)
    finally:
        os.close(saved_fd)
    return statuses


if __name__ == "__main__":
    folder, job = Path(sys.argv[1]), sys.argv[2:]
    world = comm.init()
    if console_main(["run", *job, "-o", str(folder / "full.h5"), "--quiet", "--set", "checkpoint.every_sim_s=0.0004",
                     "--set", f"checkpoint.directory=\"{folder / 'ck'}\"", "--set", "checkpoint.keep=2"]) != 0:
        raise SystemExit("the run failed")
    world.barrier()
    if world.rank == 0:
        damage_newer(folder / "ck")
    newer = world.bcast(str(checkpoints(folder / "ck")[-1]) if world.rank == 0 else None)
    world.barrier()  # the byte is flipped
    statuses = resumes(folder, newer)
    if statuses != [2, 0]:
        raise SystemExit(f"the resumes ended with statuses {statuses}, not [2, 0] (refused, then --fall-back)")
