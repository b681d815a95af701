"""Checkpoint write and read throughput against the raw disk, in one run.

A benchmark, not a test. For each state size (2^n amplitudes, complex128) and
rank count it times, on every rank at once:

* the raw write of the same bytes: ``ndarray.tofile`` + ``fsync`` of a
  shard-sized array (the disk's own speed, measured now), and a second raw
  write of them in 64 MiB ``pwrite`` calls, each followed by
  ``sync_file_range(SYNC_FILE_RANGE_WRITE)``, + ``fsync`` (the disk written
  from the first piece on, as dqsim's slab writes do since 2026-12-06);
* dqsim's checkpoint write through :func:`dqsim.io.write_sharded_state`
  (pieces, checksums, the parts' checks) + the main file and its manifest
  (``manifest=True``, as a checkpoint writes one): one slab file per rank
  behind a virtual dataset with the serial h5py, one file written by all
  ranks with a parallel h5py;
* on one rank, the same bytes as a gathered state inside the run file
  (``write_run_file(state=..., manifest=True)``, as a checkpoint of a small
  replicated register writes it), against the early-writeback raw write;
* the raw read of the raw file (``readinto`` the state's own array: no
  fresh memory to fault in) and dqsim's read as a resume does it: each
  rank checks its share of the manifest's files (:func:`dqsim.io.manifest.verify_files`),
  then reads its slice and checks the checksums of the parts it read
  (:meth:`dqsim.io.RunFile.state_pieces`); both after dropping the files' pages
  from the page cache (``posix_fadvise(DONTNEED)``), so both come from the disk.

Every timed write starts after a ``sync``, so that no earlier dirty page
(ours or another process's) is written inside it. With ``--before DIR`` (a
copy of an older ``dqsim`` package, e.g. ``git archive COMMIT dqsim | tar -x -C
DIR``) each case runs ``--rounds`` times with that code and with this
checkout's, alternated (ABBA), each run with its own raw write; the ratios
are within one run. The load average is printed beside every row.

It prints the ratios write/raw and read/raw, their medians per case and
variant, and writes ``bench/results/checkpoint_bench-<label>-<date>.json``.

    .venv/bin/python bench/checkpoint_bench.py --qubits 22 24 26 --ranks 1 2 4
    .venv/bin/python bench/checkpoint_bench.py --qubits 25 26 27 --ranks 1 2 --rounds 2 --before /tmp/base
    .venv/bin/python bench/checkpoint_bench.py --qubits 24 26 --ranks 1 --checksum sha256 xxh3_128 --before /tmp/base
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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def drop_cached(paths) -> None:
    """Drop the page-cache pages of ``paths`` (synced first), so the next read comes from the disk."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def early_writeback_write(path: Path, array: np.ndarray) -> None:
    """``array`` written in 64 MiB ``pwrite`` calls, each range's writeback started at once, then ``fsync``."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    data = memoryview(array.reshape(-1).view(np.uint8))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for start in range(0, len(data), 1 << 26):
            block = data[start:start + (1 << 26)]
            done = 0
            while done < len(block):
                done += os.pwrite(fd, block[done:], start + done)
            libc.sync_file_range(fd, start, len(block), 2)
        os.fsync(fd)
    finally:
        os.close(fd)


def worker(n: int, folder: Path) -> dict:
    from dqsim import comm as comm_mod
    from dqsim import io
    from dqsim.io import manifest
    from dqsim.state.sharded import ShardedState

    comm = comm_mod.init()
    state = ShardedState(n, comm)
    rng = np.random.default_rng(comm.rank)
    state.amplitudes[...] = rng.standard_normal(state.amplitudes.size)
    nbytes = state.amplitudes.nbytes
    raw = folder / f"raw{comm.rank}.bin"
    os.sync()
    comm.barrier()
    t = time.perf_counter()
    with open(raw, "wb") as fh:
        state.amplitudes.tofile(fh)
        fh.flush()
        os.fsync(fh.fileno())
    comm.barrier()
    raw_s = comm.allreduce_max(time.perf_counter() - t)
    drop_cached([raw])
    expected = state.amplitudes.copy()
    comm.barrier()
    t = time.perf_counter()
    with open(raw, "rb", buffering=0) as fh:
        view, done = memoryview(state.amplitudes.reshape(-1).view(np.uint8)), 0
        while done < len(view):
            done += fh.readinto(view[done:])
    comm.barrier()
    raw_read_s = comm.allreduce_max(time.perf_counter() - t)
    assert np.array_equal(expected, state.amplitudes)
    del expected
    raw.unlink()
    os.sync()
    comm.barrier()
    t = time.perf_counter()
    early_writeback_write(raw, state.amplitudes)
    comm.barrier()
    raw_early_s = comm.allreduce_max(time.perf_counter() - t)
    raw.unlink()
    os.sync()
    comm.barrier()
    t = time.perf_counter()
    kwargs = io.write_sharded_state(folder / "ck", state.logical_slab_pieces(), comm=comm,
                                    slab_size=state.amplitudes.size, dtype=state.dtype)
    if comm.rank == 0:
        io.write_run_file(folder / "ck.h5", attrs={"bench": True}, tables={}, manifest=True, **kwargs)
    comm.barrier()
    write_s = comm.allreduce_max(time.perf_counter() - t)
    if comm.rank == 0:
        drop_cached(folder.glob("ck*.h5"))
    comm.barrier()
    t = time.perf_counter()
    body = manifest.read_manifest(manifest.run_manifest_path(folder / "ck.h5"), kind="run")
    start, stop = comm_mod.split_evenly(len(body["files"]), comm.size, comm.rank)
    manifest.verify_files(manifest.run_manifest_path(folder / "ck.h5"), body["files"][start:stop])
    comm.barrier()
    verify_s = comm.allreduce_max(time.perf_counter() - t)
    t = time.perf_counter()
    run = io.open_run(folder / "ck.h5")
    layout = run.state_info["layout"]
    size = state.amplitudes.size
    for offset, piece in run.state_pieces(comm.rank * size, (comm.rank + 1) * size, verify=True):
        state.amplitudes[offset:offset + piece.size] = piece
    comm.barrier()
    read_s = comm.allreduce_max(time.perf_counter() - t)
    checksum = run.attrs_of("state").get("slab_checksums", [""])[0].partition(":")[0]
    total = nbytes * comm.size
    gathered_s = float("nan")
    if comm.size == 1:  # the same bytes as a gathered state inside the run file (a small replicated register's)
        os.sync()
        t = time.perf_counter()
        io.write_run_file(folder / "gathered.h5", attrs={"bench": True}, tables={}, manifest=True,
                          state=state.amplitudes)
        gathered_s = time.perf_counter() - t
    return {"qubits": n, "ranks": comm.size, "layout": layout, "checksum": checksum, "bytes": total,
            "raw_write_s": raw_s, "raw_early_write_s": raw_early_s, "write_s": write_s, "raw_read_s": raw_read_s, "verify_s": verify_s,
            "read_s": read_s, "raw_write_gb_s": total / raw_s / 1e9, "write_gb_s": total / write_s / 1e9,
            "write_ratio": raw_s / write_s, "write_ratio_early": raw_early_s / write_s,
            "raw_early_write_gb_s": total / raw_early_s / 1e9, "resume_read_ratio": raw_read_s / (verify_s + read_s),
            "gathered_write_s": gathered_s, "gathered_ratio_early": raw_early_s / gathered_s,
            "load_1min": os.getloadavg()[0]}


def run_case(args, ranks: int, n: int, code: str, env: dict) -> dict | None:
    """One worker launch with ``code`` as PYTHONPATH; its result row, or None (printed why)."""
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as folder:
        cmd = [args.python, __file__, "--worker", str(n), "--folder", folder]
        if ranks > 1:
            cmd = [args.launcher or str(Path(args.python).parent / "mpiexec"), "-n", str(ranks), *cmd]
        out = subprocess.run(cmd, env=dict(env, PYTHONPATH=str(code)), capture_output=True, text=True, timeout=900)
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
    if not line:
        print(out.stderr[-2000:])
        return None
    return json.loads(line[0][7:])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[22, 24, 26])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=1, help="runs of each case and variant, alternated")
    parser.add_argument("--before", help="folder holding an older dqsim package, alternated with this checkout's")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=PATH",
                        help="a further variant: PATH put before this checkout on PYTHONPATH (e.g. a folder with "
                             "xxhash installed: pip install --target DIR xxhash)")
    parser.add_argument("--checksum", nargs="+", default=[""], metavar="ALGORITHM",
                        help="DQSIM_CHECKSUM of the writes (sha256, xxh3_128; default: dqsim's default), each a case")
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
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    variants = {"after": str(ROOT)} if args.before is None else {"before": args.before, "after": str(ROOT)}
    for item in args.variant:
        name, _, extra = item.partition("=")
        variants[name] = f"{ROOT}{os.pathsep}{extra}"
    rows = []
    cases = [(ranks, n, algorithm) for algorithm in args.checksum for ranks in args.ranks for n in args.qubits]
    for ranks, n, algorithm in cases:
        for round_index in range(args.rounds):
            order = list(variants) if round_index % 2 == 0 else list(variants)[::-1]  # ABBA, ABCCBA
            for variant in order:
                row = run_case(args, ranks, n, variants[variant],
                               dict(env, DQSIM_CHECKSUM=algorithm) if algorithm else env)
                if row is None:
                    continue
                row.update(variant=variant, round=round_index)
                rows.append(row)
                print(f"ranks {ranks} n {n} {variant:12s} ({row['layout']}, {row['checksum']}): raw write "
                      f"{row['raw_write_gb_s']:.2f} GB/s, raw early-writeback write "
                      f"{row['raw_early_write_gb_s']:.2f} GB/s, write {row['write_gb_s']:.2f} GB/s (ratio "
                      f"{row['write_ratio']:.2f}, to the early-writeback one {row['write_ratio_early']:.2f}); "
                      f"resume read {row['verify_s'] + row['read_s']:.2f} s "
                      f"(manifest {row['verify_s']:.2f} s + state {row['read_s']:.2f} s) against raw read "
                      f"{row['raw_read_s']:.2f} s (ratio {row['resume_read_ratio']:.2f}); gathered state in the "
                      f"run file: to the early-writeback write {row['gathered_ratio_early']:.2f}; load "
                      f"{row['load_1min']:.2f}", flush=True)
    print("\n| ranks | amplitudes | variant | checksum | write/raw (each run) | median | write/raw early-writeback "
          "(each run) | gathered in run file/raw early-writeback (each run) | resume read/raw read (each run) | "
          "median | load |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for ranks, n, algorithm in cases:
        for variant in variants:
            mine = [r for r in rows if r["ranks"] == ranks and r["qubits"] == n and r["variant"] == variant
                    and (not algorithm or r["checksum"] == algorithm)]
            if mine:
                w, rd = [r["write_ratio"] for r in mine], [r["resume_read_ratio"] for r in mine]
                early = [r["write_ratio_early"] for r in mine]
                gathered = [r.get("gathered_ratio_early", float("nan")) for r in mine]
                print(f"| {ranks} | 2^{n} | {variant} | {mine[0]['checksum']} | "
                      f"{', '.join(f'{x:.2f}' for x in w)} | {statistics.median(w):.2f} | "
                      f"{', '.join(f'{x:.2f}' for x in early)} | {', '.join(f'{x:.2f}' for x in gathered)} | "
                      f"{', '.join(f'{x:.2f}' for x in rd)} | {statistics.median(rd):.2f} | "
                      f"{', '.join(f'{load:.1f}' for load in (r['load_1min'] for r in mine))} |")
    date = datetime.datetime.now(datetime.timezone.utc)
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    result = {"benchmark": "checkpoint_bench", "python": args.python, "machine": {"cpu": cpu, "cores": os.cpu_count(),
              "python": platform.python_version(), "date_utc": date.isoformat(timespec="seconds"),
              "command": " ".join([sys.executable, *sys.argv]), "disk_folder": str(ROOT / "bench"),
              "commit": commit, "before": args.before}, "rows": rows}
    path = BENCH / "results" / f"checkpoint_bench-{args.label}-{date:%Y%m%d}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
