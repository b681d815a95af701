"""A state slab file of the output damaged in place (an amplitude's byte flipped, the size kept) between the output's
write and the finished run's removal of its checkpoints.

Usage: python damaged_output_slab.py SLAB DQSIM_ARGS...
SLAB: the slab file to damage (rank 0 damages it as its write of the run file ends, before every rank reads its
share of the slab files); DQSIM_ARGS: the arguments of ``dqsim``.
"""

import sys
from pathlib import Path

import h5py

from dqsim.cli import main as cli_main
from dqsim.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for run_files
from run_files import flip_byte  # noqa: E402


def flip_an_amplitude(path):
    """Flip a byte of the amplitudes in the slab file ``path``, in place."""
    with h5py.File(path, "r") as h5:
        at = h5["slab"].id.get_offset() + 100
    flip_byte(path, at)


def damaged_once_written(write, slab):
    def write_then_damage(*args, **kwargs):
        written = write(*args, **kwargs)
        flip_an_amplitude(slab)
        return written

    return write_then_damage


if __name__ == "__main__":
    cli_main._write_output = damaged_once_written(cli_main._write_output, sys.argv[1])  # rank 0 alone writes it
    raise SystemExit(main(sys.argv[2:]))
