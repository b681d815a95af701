"""``python tests/mpi_scripts/no_room.py ARGS...``: ``dqsim ARGS...`` on a file system that reports no free space.

``dqsim.io.sharded.free_bytes`` returns 0, as ``statvfs`` does on a full disk, so every collective
(parallel-HDF5) state write is refused before HDF5 opens its file; the serial writes are unaffected.
"""

import runpy
import sys

from dqsim.io import sharded

sharded.free_bytes = lambda folder: 0
sys.argv = ["dqsim", *sys.argv[1:]]
runpy.run_module("dqsim", run_name="__main__")
