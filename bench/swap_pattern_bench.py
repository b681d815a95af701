"""The rank-bit exchange's swap with and without a partner, against a Sendrecv and a copy, in one run.

A benchmark, not a test: it measures and records, it asserts nothing.

Issue 14, item 3 asks for an exchange of a rank bit with a local bit at >= 0.7
of a plain MPI ``Sendrecv`` of the same bytes. With the shards in one
node-shared window the exchange is :func:`dqsim.backend.fast.cross_swap`
between two ranks' shards, each rank taking half of the pairs. This separates
the access pattern from the partner: on 2 ranks at once (each time the maximum
over ranks), every repeat times, back to back and in a rotating order,

* ``Sendrecv``: a plain MPI Sendrecv of the bytes a rank sends in the exchange
  (half its shard) between contiguous, already touched NumPy buffers;
* ``memcpy``: ``np.copyto`` of the same bytes on each rank;
* ``window top`` / ``window bit b``: the exchange's swap in the window
  (the shard and the partner's, each rank one half of the pairs; fences
  included), local bit = the top one (contiguous halves) or ``b`` (runs of
  ``2^b`` amplitudes, every other one swapped);
* ``private top`` / ``private bit b``: the same swap, the same bytes, between
  two NumPy arrays of the rank's own (64-byte aligned, huge pages where the
  kernel allows), with no partner and no window;

ratio = Sendrecv time / case time (median over repeats, with min-max). The
private swap at bit b against the private top swap is what the pattern of
short runs costs on the machine; the window against the private one, what the
partner's shard and the window's 4 KiB pages add.

Example (from the repository root)::

    .venv/bin/mpiexec -n 2 .venv/bin/python -m mpi4py bench/swap_pattern_bench.py --qubits 26 --bit 3
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

from dqsim import comm as comm_mod
from dqsim.backend import fast

RESULTS = Path(__file__).resolve().parent / "results"


def _aligned(num_elems: int, dtype) -> np.ndarray:
    """A zeroed array of ``num_elems`` starting on a 64-byte boundary (NumPy's own start 16 bytes past one)."""
    dtype = np.dtype(dtype)
    raw = np.zeros(num_elems * dtype.itemsize + 64, dtype=np.uint8)
    skip = -raw.ctypes.data % 64
    return raw[skip : skip + num_elems * dtype.itemsize].view(dtype)


def measure(comm, qubits: int, precision: str, bit: int, repeats: int) -> dict:
    """Per-case times (lists of seconds, maximum over ranks) for 2 ranks (collective)."""
    rank, partner = comm.rank, comm.rank ^ 1
    local = qubits - 1
    num = 1 << local
    shared = comm.node_shared_array(num, precision)
    if shared is None:
        raise SystemExit("needs 2 ranks on one node with the shared window (DQSIM_SHARED_EXCHANGE unset or 1)")
    mine, theirs = shared.array(rank), shared.array(partner)
    mine.fill(rank + 1)
    own_a, own_b = _aligned(num, precision), _aligned(num, precision)
    own_a.fill(1)
    own_b.fill(2)
    half = num >> 2  # each rank: half of the 2^(local-1) pairs of one swap
    start, stop = (0, half) if rank < partner else (half, 2 * half)
    send = _aligned(num >> 1, precision)
    send.fill(1)
    recv, dst = _aligned(num >> 1, precision), _aligned(num >> 1, precision)

    def window(b):
        def run():
            shared.fence()
            fast.cross_swap(mine, theirs, [b], (1 - rank) << b, rank << b, start, stop)
            shared.fence()
        return run

    def private(b):
        return lambda: fast.cross_swap(own_a, own_b, [b], (1 - rank) << b, rank << b, start, stop)

    cases = {"Sendrecv": lambda: comm.sendrecv_array(send, recv, partner), "memcpy": lambda: np.copyto(dst, send),
             "window top": window(local - 1), f"window bit {bit}": window(bit),
             "private top": private(local - 1), f"private bit {bit}": private(bit)}
    for run in cases.values():  # warm-up: compiled, pages touched
        comm.barrier()
        run()
    times = {name: [] for name in cases}
    names = list(cases)
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            comm.barrier()
            begin = time.perf_counter()
            cases[name]()
            times[name].append(comm.allreduce_max(time.perf_counter() - begin))
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qubits", type=int, default=26, help="qubits of the state over 2 ranks (default 26)")
    parser.add_argument("--precision", choices=("complex128", "complex64"), default="complex128")
    parser.add_argument("--bit", type=int, default=3, help="the low local bit (default 3: runs of 8 amplitudes)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--label", default="vm")
    parser.add_argument("--results-dir", default=str(RESULTS))
    args = parser.parse_args(argv)
    comm = comm_mod.MPIComm()
    if comm.size != 2:
        raise SystemExit("run on 2 ranks")
    load_before = os.getloadavg()[0]
    times = measure(comm, args.qubits, args.precision, args.bit, args.repeats)
    if comm.rank != 0:
        return 0
    plain = times["Sendrecv"]
    rows = {}
    for name, ts in times.items():
        ratios = [p / t for p, t in zip(plain, ts)]
        rows[name] = {"median_s": statistics.median(ts), "ratio_sendrecv_over_case": {
            "median": statistics.median(ratios), "min": min(ratios), "max": max(ratios), "samples": ratios}}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent).stdout.strip()
    with open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), None)
    sent = (1 << (args.qubits - 2)) * np.dtype(args.precision).itemsize
    record = {"benchmark": "swap_pattern_bench", "qubits": args.qubits, "precision": args.precision, "bit": args.bit,
              "repeats": args.repeats, "bytes_sent_per_rank": sent, "loadavg_1min_before": load_before,
              "loadavg_1min_after": os.getloadavg()[0], "commit": commit, "cpu": cpu, "cases": rows}
    print(f"n={args.qubits} {args.precision} bit {args.bit}, {record['bytes_sent_per_rank'] >> 20} MiB per rank, "
          f"load {load_before:.1f}-{record['loadavg_1min_after']:.1f}, commit {commit}; Sendrecv / case:")
    for name, row in rows.items():
        r = row["ratio_sendrecv_over_case"]
        print(f"  {name:16s} {1e3 * row['median_s']:7.1f} ms  {r['median']:.2f} [{r['min']:.2f}-{r['max']:.2f}]")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = Path(args.results_dir) / f"swap_pattern_bench-{args.label}-{args.precision}-bit{args.bit}-{stamp}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
