"""Time from the end of a sharded state's write to the run file's manifest on disk, two code trees alternated.

A benchmark, not a test. Each round launches ``--ranks`` ranks (the venv's
mpiexec) on one code tree (``PYTHONPATH``); every rank writes its slab of a
2^n-amplitude complex128 state with :func:`dqsim.io.write_sharded_state`
(slab files: the serial h5py) and rank 0 writes the run file with
``manifest=True``, as ``dqsim run`` does with ``save_state``. Times
(``time.monotonic``, one clock for every process of the machine):

* ``end_of_write``: the last rank's slab file written and renamed into place (the
  return of ``dqsim.io.sharded.write_slab_file``, wrapped here; the same step in every
  tree); what follows is the read-back check, the hashing, the gather, the run file
  and the manifest;
* ``run_file_done``: rank 0 calls ``write_run_manifest`` (its run file is renamed into place);
* ``manifest_on_disk``: ``write_run_file`` returned on rank 0 (manifest written, ``fsync``-ed, renamed).

It prints one JSON line per round, with ``tail_s = manifest_on_disk - end_of_write``
(old tree: rank 0 hashes the run file and every slab; new: each rank hashes its
own slab, rank 0 the run file), ``write_s`` (start to ``end_of_write``) and the
1-minute load average before and after.

    python bench/run_manifest_bench.py --tree old=/tmp/base new=. --rounds 5 --qubits 26 --ranks 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def worker(num_qubits: int, folder: Path) -> None:
    from dqsim import comm as comm_mod
    from dqsim import io
    from dqsim.io import sharded, writer

    comm = comm_mod.init()
    slab_size = (1 << num_qubits) // comm.size
    mine = np.random.default_rng(comm.rank).standard_normal(2 * slab_size).view(np.complex128)
    marks = {}
    write_slab_file, run_manifest = sharded.write_slab_file, writer.write_run_manifest

    def timed_write(*args, **kwargs):
        written = write_slab_file(*args, **kwargs)
        marks["write_end"] = time.monotonic()
        return written

    def timed_manifest(*args, **kwargs):
        marks["run_file_done"] = time.monotonic()
        return run_manifest(*args, **kwargs)

    sharded.write_slab_file, writer.write_run_manifest = timed_write, timed_manifest
    comm.barrier()
    start = time.monotonic()
    kwargs = io.write_sharded_state(folder / "run", [(0, mine)], comm=comm, slab_size=slab_size, dtype=mine.dtype)
    if comm.rank == 0:
        io.write_run_file(folder / "run.h5", attrs={"bench": True}, tables={"t": np.arange(10)}, manifest=True,
                          **kwargs)
        marks["manifest_on_disk"] = time.monotonic()
    ends = comm.gather(marks["write_end"])
    if comm.rank == 0:
        end_of_write = max(ends)
        print("RESULT " + json.dumps({
            "write_s": end_of_write - start, "tail_s": marks["manifest_on_disk"] - end_of_write,
            "to_run_file_s": marks["run_file_done"] - end_of_write,
            "manifest_step_s": marks["manifest_on_disk"] - marks["run_file_done"],
            "write_end_spread_s": max(ends) - min(ends),
            "files": sorted(p.name for p in folder.iterdir())}), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", nargs="+", default=[f"new={ROOT}"], help="LABEL=PATH of a code tree (PYTHONPATH)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--qubits", type=int, default=26)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--folder", default=None, help="where the files go (default: a temporary folder in /tmp)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.qubits, Path(args.folder))
        return 0
    trees = [tree.split("=", 1) for tree in args.tree]
    launcher = str(Path(sys.executable).parent / "mpiexec")
    for round_index in range(args.rounds):
        for label, tree in trees:
            with tempfile.TemporaryDirectory(dir=args.folder) as folder:
                env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                           PYTHONPATH=str(Path(tree).resolve()))
                load_before = os.getloadavg()[0]
                out = subprocess.run([launcher, "-n", str(args.ranks), sys.executable, __file__, "--worker",
                                      "--qubits", str(args.qubits), "--folder", folder], env=env,
                                     capture_output=True, text=True, timeout=600)
                line = [text for text in out.stdout.splitlines() if text.startswith("RESULT ")]
                if not line:
                    print(out.stdout[-2000:], out.stderr[-2000:], file=sys.stderr)
                    return 1
                row = {"round": round_index + 1, "tree": label, "utc": time.strftime("%H:%M:%S", time.gmtime()),
                       "load_before": load_before, "load_after": os.getloadavg()[0], **json.loads(line[0][7:])}
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
