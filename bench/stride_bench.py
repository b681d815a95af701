"""Eight read+write streams far apart in one shard: plain loops against the k = 3 kernel, each against a copy.

A benchmark, not a test: it measures and records, it asserts nothing.

Issue 14, item 2 asks for an uncontrolled 3-qubit dense block at >= 0.7 of a
copy's bandwidth with its targets on the top local bits, where the 8 segments
of a block lie 64-256 MiB apart (complex128, 25 local bits). This separates the
machine from the kernel: every case below reads and writes the whole shard once,
in place, visiting 8 segments ``D`` bytes apart (segment s at ``s * D`` inside
each group of ``8 D`` bytes):

* ``interleaved D``: 128 bytes of segment 0, then of segments 1..7, then the
  next 128 bytes of each (the order of :func:`dqsim.backend.fast._numba_segments3`,
  whose block of 8 complex128 amplitudes is 128 bytes); each real scaled by a
  runtime constant (no arithmetic to speak of);
* ``runs D``: the same bytes, 4 KiB of one segment, then 4 KiB of the next
  (``--run-bytes``: other lengths, named ``runs of <bytes> B D``);
* ``dense k=3 D``: the engine's kernel (:meth:`NumbaKernels.dense`) on the
  complex128 amplitudes, targets (b, b + 1, b + 2) with 16 * 2^b = D bytes.

Each repeat times ``np.copyto`` of the shard into another array and then the
case, back to back on every rank at once (each time the maximum over ranks, as
``bench/kernel_bench.py``), and also each rank's CPU time; ratio = copy time /
case time. With 2 or more ranks on one node the shard lies in dqsim's MPI-3
shared-memory window (:meth:`dqsim.comm.MPIComm.node_shared_array`: /dev/shm,
page-aligned, 4 KiB pages where /dev/shm has no huge pages), as in
``bench/kernel_bench.py``; on one rank, or with ``--memory numpy``, it is an
ordinary NumPy array (anonymous memory, huge pages where THP allows) 64-byte
aligned, or ``--offset`` bytes past that (NumPy's own large arrays start 16
bytes past a 64-byte boundary on this VM).

Example (from the repository root)::

    .venv/bin/mpiexec -n 2 .venv/bin/python -m mpi4py bench/stride_bench.py --local-qubits 25
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dqsim import comm as comm_mod  # noqa: E402
from dqsim.backend import fast  # noqa: E402

#: Bytes of one block of the interleaved sweep (8 complex128 amplitudes) and of one run.
BLOCK_BYTES = 128
RUN_BYTES = 4096


@numba.njit(cache=True, boundscheck=False)
def _sweep(x, seg, step, scale):
    """Scale every real of ``x`` by ``scale``: per group of 8 segments ``seg`` reals apart, ``step``
    reals of segment 0, then of segments 1..7, then the next ``step`` of each."""
    for g in range(0, x.size, 8 * seg):
        for j in range(0, seg, step):
            for s in range(8):
                b = g + s * seg + j
                for v in range(step):
                    x[b + v] = x[b + v] * scale


def _shard(comm, num_amplitudes: int, offset: int, memory: str):
    """The complex128 shard (``memory`` "window": in the shared window on 2+ ranks of one node) and its kind."""
    shared = comm.node_shared_array(num_amplitudes, np.complex128) if comm.size > 1 and memory == "window" else None
    if shared is not None:
        return shared, shared.array(comm.rank), "MPI-3 shared window (dqsim.comm), page-aligned"
    if memory == "shm":
        import tempfile  # noqa: PLC0415

        with tempfile.NamedTemporaryFile(dir="/dev/shm", prefix="stride_bench_") as fh:
            mapped = np.memmap(fh.name, dtype=np.complex128, mode="w+", shape=(num_amplitudes,))
        return mapped, mapped, "a file of its own in /dev/shm (np.memmap, shared mapping), page-aligned"
    raw = np.empty(num_amplitudes * 16 + 4096, dtype=np.uint8)
    start = (-raw.ctypes.data) % 64 + offset
    huge = "huge pages allowed" if _numpy_madvises() else "no huge pages asked"
    return None, raw[start:start + num_amplitudes * 16].view(np.complex128), \
        f"numpy ({huge}), {offset} bytes past 64-byte alignment"


def _numpy_madvises() -> bool:
    """Whether NumPy asks the kernel for transparent huge pages for its large arrays."""
    from numpy._core import multiarray  # noqa: PLC0415

    enabled = multiarray._set_madvise_hugepage(True)
    multiarray._set_madvise_hugepage(enabled)
    return bool(enabled)


def _cases(shard, distances_mib, run_bytes, seed: int):
    reals = shard.view(np.float64)
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    q, r = np.linalg.qr(z)
    u = q * (np.diag(r) / abs(np.diag(r)))
    kernels = fast.NumbaKernels()
    cases = []
    for mib in distances_mib:
        seg = (mib << 20) // 8
        if 8 * seg > reals.size:
            continue
        b = (mib << 20).bit_length() - 1 - 4
        cases.append((f"interleaved {mib} MiB", lambda seg=seg: _sweep(reals, seg, BLOCK_BYTES // 8, 1.0000001)))
        for size in run_bytes:
            name = f"runs {mib} MiB" if size == RUN_BYTES else f"runs of {size} B {mib} MiB"
            cases.append((name, lambda seg=seg, size=size: _sweep(reals, seg, size // 8, 1.0000001)))
        cases.append((f"dense k=3 {mib} MiB ({b}-{b + 2})", lambda b=b: kernels.dense(shard, [b, b + 1, b + 2], u, 0)))
    return cases


def _timed(comm, fn) -> tuple[float, float]:
    """(wall seconds, maximum over ranks; this rank's CPU seconds) of ``fn()`` (collective)."""
    comm.barrier()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return comm.allreduce_max(wall), cpu


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--local-qubits", type=int, default=25, help="amplitudes per rank as bits (default 25: 512 MiB)")
    parser.add_argument("--distances-mib", type=int, nargs="+", default=[1, 4, 16, 32, 64])
    parser.add_argument("--run-bytes", type=int, nargs="+", default=[RUN_BYTES],
                        help="bytes of one segment visited in a row in the 'runs' cases (multiples of 128; default 4096)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory", choices=("window", "numpy", "shm"), default="window",
                        help="the shard on 2+ ranks: dqsim's shared window (default, as kernel_bench), NumPy's, "
                             "or a file of this rank's own in /dev/shm mapped shared (np.memmap)")
    parser.add_argument("--no-huge-pages", action="store_true",
                        help="NumPy shards: do not let NumPy ask for transparent huge pages (4 KiB pages)")
    parser.add_argument("--offset", type=int, default=0, help="NumPy shards: bytes past 64-byte alignment (default 0)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--label", default="vm")
    parser.add_argument("--results-dir", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    comm = comm_mod.init()
    if args.no_huge_pages:
        from numpy._core import multiarray  # noqa: PLC0415

        multiarray._set_madvise_hugepage(False)
    window, shard, memory = _shard(comm, 1 << args.local_qubits, args.offset, args.memory)
    shard.fill(2.0 ** (-args.local_qubits / 2))
    dst = np.zeros_like(shard)
    cases = _cases(shard, args.distances_mib, args.run_bytes, args.seed)
    for _name, fn in cases:  # compiles, first touch
        fn()
    anon_huge_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                             if line.startswith("AnonHugePages")))
    load_before = _load()
    started = datetime.datetime.now(datetime.timezone.utc)
    ratios = {name: ([], []) for name, _ in cases}
    for _ in range(args.repeats):  # cases alternate within each repeat
        for name, fn in cases:
            copy_wall, copy_cpu = _timed(comm, lambda: np.copyto(dst, shard))
            wall, cpu = _timed(comm, fn)
            ratios[name][0].append(copy_wall / wall)
            ratios[name][1].append(copy_cpu / cpu)
    if comm.rank != 0:
        return 0
    rows = []
    for name, _ in cases:
        by_wall, by_cpu = ratios[name]
        rows.append({"case": name, "wall": {"median": statistics.median(by_wall), "min": min(by_wall), "max": max(by_wall)},
                     "cpu_rank0": {"median": statistics.median(by_cpu), "min": min(by_cpu), "max": max(by_cpu)}})
        print(f"{name:30s} copy/case wall {statistics.median(by_wall):.2f} [{min(by_wall):.2f}-{max(by_wall):.2f}]"
              f"  CPU {statistics.median(by_cpu):.2f} [{min(by_cpu):.2f}-{max(by_cpu):.2f}]")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    record = {"benchmark": "stride_bench", "utc_start": started.isoformat(timespec="seconds"), "commit": commit,
              "ranks": comm.size, "run_bytes": args.run_bytes, "local_qubits": args.local_qubits, "memory": memory, "repeats": args.repeats,
              "machine": {"cpu": _cpu_model(), "platform": platform.platform(), "numba": numba.__version__,
                          "threads": os.environ.get("NUMBA_NUM_THREADS")},
              "anon_huge_pages_kib_after_allocation": anon_huge_kib,
              "loadavg_1min_before": load_before, "loadavg_1min_after": _load(),
              "notes": "ratio = copy time / case time, both read and write the shard once; wall: maximum over ranks",
              "cases": rows}
    stamp = started.strftime("%Y%m%d-%H%M%S")
    path = Path(args.results_dir) / f"stride_bench-{args.label}-{stamp}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"load {load_before} -> {record['loadavg_1min_after']}; wrote {path}")
    del window
    return 0


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
