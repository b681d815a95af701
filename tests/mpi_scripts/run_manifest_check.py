"""Write a sharded state and its run file with a manifest, recording which rank hashed which file.

Usage: python run_manifest_check.py FOLDER NUM_QUBITS [DQSIM ARGS...]
Every rank writes its slab of a seeded state (``write_sharded_state``, slab
files), rank 0 the run file with ``manifest=True``, as ``dqsim run`` does.
Each rank records the files whose bytes it read to hash them
(:func:`dqsim.io.manifest.file_digest`, a file whole, and
:func:`dqsim.io.manifest.bytes_digest`, a slab's HDF5 bytes around its
amplitudes: a name once for consecutive reads of one file); rank 0 gathers the records and prints one JSON line
``{"hashed": [[names of rank 0], [names of rank 1], ...]}``.
With ``DQSIM ARGS``, ``dqsim ARGS`` runs first in the same processes (as
``python -m dqsim ARGS`` would: one launch for both); the script ends there
with its exit status if that is not 0.
"""

import json
import sys
from pathlib import Path

import numpy as np

from dqsim import comm as comm_mod
from dqsim import io
from dqsim.io import manifest


def main(folder: str, num_qubits: int) -> None:
    comm = comm_mod.init()
    folder = Path(folder)
    rng = np.random.default_rng(11)
    vector = (rng.normal(size=1 << num_qubits) + 1j * rng.normal(size=1 << num_qubits)).astype(np.complex128)
    size = vector.size // comm.size
    mine = vector[comm.rank * size:(comm.rank + 1) * size]
    hashed = []
    plain_digest, plain_bytes = manifest.file_digest, manifest.bytes_digest

    def record(path):
        name = Path(path).name.split(".tmp-")[0]  # the run file is hashed before its rename
        if not hashed or hashed[-1] != name:
            hashed.append(name)

    def recording_digest(path, **kwargs):
        record(path)
        return plain_digest(path, **kwargs)

    def recording_bytes(path, *args):
        record(path)
        return plain_bytes(path, *args)

    manifest.file_digest, manifest.bytes_digest = recording_digest, recording_bytes
    kwargs = io.write_sharded_state(folder / "run", [(0, mine[:size // 2]), (size // 2, mine[size // 2:])],
                                    comm=comm, slab_size=size, dtype=vector.dtype)
    if comm.rank == 0:
        io.write_run_file(folder / "run.h5", attrs={"name": "manifest"}, tables={"t": np.arange(3)},
                          manifest=True, **kwargs)
    manifest.file_digest, manifest.bytes_digest = plain_digest, plain_bytes
    records = comm.gather(hashed)
    if comm.rank == 0:
        print(json.dumps({"hashed": records}), flush=True)


if __name__ == "__main__":
    if sys.argv[3:]:
        from dqsim.cli import console_main

        status = console_main(sys.argv[3:])
        if status:
            raise SystemExit(status)
    main(sys.argv[1], int(sys.argv[2]))
