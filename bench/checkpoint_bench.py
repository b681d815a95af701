"""Checkpoint write and read throughput against the raw disk, in one run.

A benchmark, not a test. For each state size (2^n amplitudes, complex128) and
rank count it times, on every rank at once:

* the raw write of the same bytes: ``ndarray.tofile`` + ``fsync`` of a
  shard-sized array (the disk's own speed, measured now);
* dqsim's checkpoint write through :func:`dqsim.io.write_sharded_state`
  (pieces, checksums, each rank reading its part back) + the main file: one
  slab file per rank behind a virtual dataset with the serial h5py, one file
  written by all ranks with a parallel h5py;
* dqsim's checkpoint read: each rank reading its slice back and checking the
  checksums of the parts it read (:meth:`dqsim.io.RunFile.state_pieces`).

It prints the ratios write/raw and read/raw (goal >= 0.5) and writes
``bench/results/checkpoint_bench-<label>-<date>.json``.

    .venv/bin/python bench/checkpoint_bench.py --qubits 22 24 26 --ranks 1 2 4
    # the parallel-HDF5 path (scripts/mpio_env.sh):
    .venv/bin/python bench/checkpoint_bench.py --python .venv-mpio/bin/python --launcher mpiexec.mpich
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def worker(n: int, folder: Path) -> dict:
    from dqsim import comm as comm_mod
    from dqsim import io
    from dqsim.state.sharded import ShardedState

    comm = comm_mod.init()
    state = ShardedState(n, comm)
    rng = np.random.default_rng(comm.rank)
    state.amplitudes[...] = rng.standard_normal(state.amplitudes.size)
    nbytes = state.amplitudes.nbytes
    raw = folder / f"raw{comm.rank}.bin"
    comm.barrier()
    t = time.perf_counter()
    with open(raw, "wb") as fh:
        state.amplitudes.tofile(fh)
        fh.flush()
        os.fsync(fh.fileno())
    comm.barrier()
    raw_s = comm.allreduce_max(time.perf_counter() - t)
    raw.unlink()
    t = time.perf_counter()
    kwargs = io.write_sharded_state(folder / "ck", state.logical_slab_pieces(), comm=comm,
                                    slab_size=state.amplitudes.size, dtype=state.dtype)
    if comm.rank == 0:
        io.write_run_file(folder / "ck.h5", attrs={"bench": True}, tables={}, **kwargs)
    for written in folder.glob("ck*.h5"):  # what the raw write got: data on the disk
        with open(written, "rb+") as fh:
            os.fsync(fh.fileno())
    comm.barrier()
    write_s = comm.allreduce_max(time.perf_counter() - t)
    os.system("sync")
    t = time.perf_counter()
    run = io.open_run(folder / "ck.h5")
    layout = run.state_info["layout"]
    size = state.amplitudes.size
    for offset, piece in run.state_pieces(comm.rank * size, (comm.rank + 1) * size, verify=True):
        state.amplitudes[offset:offset + piece.size] = piece
    comm.barrier()
    read_s = comm.allreduce_max(time.perf_counter() - t)
    total = nbytes * comm.size
    return {"qubits": n, "ranks": comm.size, "layout": layout, "bytes": total, "raw_write_s": raw_s,
            "write_s": write_s,
            "read_s": read_s, "raw_write_gb_s": total / raw_s / 1e9, "write_gb_s": total / write_s / 1e9,
            "read_gb_s": total / read_s / 1e9, "write_ratio": raw_s / write_s, "read_ratio": raw_s / read_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[22, 24, 26])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--label", default=socket.gethostname())
    parser.add_argument("--python", default=sys.executable, help="interpreter of the ranks (e.g. .venv-mpio/bin/python)")
    parser.add_argument("--launcher", help="MPI launcher (default: mpiexec beside --python)")
    args = parser.parse_args(argv)
    if args.worker is not None:
        result = worker(args.worker, Path(args.folder))
        if int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0"))) == 0:
            print("RESULT " + json.dumps(result), flush=True)
        return 0
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    rows = []
    for ranks in args.ranks:
        for n in args.qubits:
            with tempfile.TemporaryDirectory(dir=ROOT / "bench") as folder:
                cmd = [args.python, __file__, "--worker", str(n), "--folder", folder]
                if ranks > 1:
                    cmd = [args.launcher or str(Path(args.python).parent / "mpiexec"), "-n", str(ranks), *cmd]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
                line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
                if not line:
                    print(out.stderr[-2000:])
                    continue
                row = json.loads(line[0][7:])
                rows.append(row)
                print(f"ranks {ranks} n {n} ({row['layout']}): raw {row['raw_write_gb_s']:.2f} GB/s, write {row['write_gb_s']:.2f} "
                      f"GB/s (ratio {row['write_ratio']:.2f}), read {row['read_gb_s']:.2f} GB/s "
                      f"(ratio to raw write {row['read_ratio']:.2f})", flush=True)
    date = datetime.datetime.now(datetime.timezone.utc)
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    result = {"benchmark": "checkpoint_bench", "python": args.python, "machine": {"cpu": cpu, "cores": os.cpu_count(),
              "python": platform.python_version(), "date_utc": date.isoformat(timespec="seconds"),
              "command": " ".join([sys.executable, *sys.argv]), "disk_folder": str(ROOT / "bench")},
              "rows": rows}
    path = BENCH / "results" / f"checkpoint_bench-{args.label}-{date:%Y%m%d}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
