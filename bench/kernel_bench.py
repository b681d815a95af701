"""Kernel and exchange rooflines of the sharded state, each ratio measured within one run.

A benchmark, not a test: it measures and records, it asserts nothing.

Two measurements, both on ``--ranks`` ranks at once (all ranks stream memory
together, as they do in a run), each repeat timed as the maximum over ranks:

* **kernels**: for every case (dense k = 1..5 target bits at the low, middle
  and top local bits, k = 3 and 4 on low and high bits mixed, ``cx``, ``x``,
  ``rz``, a fused diagonal on 8 bits; ``--only`` picks some) one
  repeat times ``xp.copyto`` of a shard-sized array and then the gate applied
  through :meth:`ShardedState.apply` (the engine's own dispatch), back to
  back. The ratio of that repeat is (least bytes the gate reads + writes) /
  kernel time over (2 × shard bytes) / copy time. The spread of the ratios
  over repeats is reported with their median, in both precisions.
* **exchange** (2 or more ranks): one repeat times an exchange of the top
  rank bit with the top local bit (contiguous halves) or with local bit 3
  (runs of 8 amplitudes, packed), every rank sending and receiving half its
  shard, by :mod:`dqsim.state.exchange` (in place between the shards when
  they lie in one node-shared window, the default on one node), and then
  a plain MPI Sendrecv of as many bytes between contiguous, already touched
  buffers; ratio = Sendrecv time / exchange time. In the same repeat, each
  rank alone moves the same bytes by a copy between contiguous buffers and by
  a NumPy strided copy in the exchange's pattern (every other run of
  ``2^local_bit`` amplitudes read, and written into every other run of a
  scratch shard): what the exchange's access pattern costs on the machine.

The driver starts this file under the ``mpiexec`` beside ``sys.executable``
and writes ``bench/results/kernel_bench-<label>-<YYYYMMDD>.json`` and a table.

Example (from the repository root)::

    .venv/bin/python bench/kernel_bench.py --ranks 2 --qubits 26 --repeats 5
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import state_bench  # noqa: E402  (shared launcher, machine description, random unitaries)

GB = state_bench.GB


def _timed_pair(comm, backend, first, second) -> tuple[float, float]:
    """Seconds of ``first()`` then ``second()``, each the maximum over ranks (collective)."""
    out = []
    for fn in (first, second):
        comm.barrier()
        start = time.perf_counter()
        fn()
        backend.synchronize()
        out.append(comm.allreduce_max(time.perf_counter() - start))
    return out[0], out[1]


def _summary(ratios: list[float]) -> dict:
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios), "samples": ratios}


#: Dense blocks on more places: low and high bits mixed (issue 14: k = 3 on any placement of the local
#: bits), and k = 4, 5 with every target >= 3 (the planar kernels).
MIXED_BLOCKS = {3: ((0, 5, 9), (1, 2, 14), (2, 3, 4)), 4: ((0, 3, 11, 19), (3, 4, 5, 6), (3, 8, 15, 22)),
                5: ((3, 7, 12, 18, 24),)}


def _cases(num_local: int, seed: int):
    """(name, physical target bits, physical control bits, op builder, bytes factor) per kernel case.

    The bytes factor is the least traffic of the gate in shards: 2 (read + write
    everything), 1 for ``cx`` (only the control = 1 half).
    """
    from dqsim.state.gates import GateOp, gate_op, unitary_op  # noqa: PLC0415

    cases = []
    for k in range(1, 6):
        u = state_bench.random_unitary(1 << k, seed + k)
        mid = num_local // 2 - k // 2
        for label, low in (("low", 0), ("mid", mid), ("top", num_local - k)):
            bits = tuple(range(low, low + k))
            cases.append((f"dense k={k} {label}", bits, (), lambda bits=bits, u=u: unitary_op(u, bits), 2.0))
        for bits in MIXED_BLOCKS.get(k, ()):
            if max(bits) >= num_local:  # a smaller shard (e.g. the GPU script's dry run at n = 20)
                continue
            cases.append((f"dense k={k} {bits}", bits, (), lambda bits=bits, u=u: unitary_op(u, bits), 2.0))
    for label, (c, t) in (("low", (1, 0)), ("top", (num_local - 1, num_local - 2))):
        cases.append((f"cx {label}", (t,), (c,), lambda c=c, t=t: gate_op("cx", [c, t]), 1.0))
    cases.append(("x mid", (num_local // 2,), (), lambda: gate_op("x", [num_local // 2]), 2.0))
    cases.append(("rz low", (0,), (), lambda: gate_op("rz", [0], [0.3]), 2.0))
    diag = np.exp(1j * np.linspace(0.1, 1.0, 1 << 8))
    cases.append(("diagonal m=8 low", tuple(range(8)), (),
                  lambda: GateOp(diag, tuple(range(8)), (), True, "fused"), 2.0))
    return cases


def measure(args, comm) -> dict:
    """Kernel ratios in both precisions and, on several ranks, exchange ratios (collective)."""
    from dqsim import backend as backend_mod  # noqa: PLC0415
    from dqsim.state.sharded import ShardedState  # noqa: PLC0415

    backend = backend_mod.select(args.backend, node_local_rank=comm.node_local_rank)
    xp = backend.xp
    record = {"status": "ok", "ranks": comm.size, "num_qubits": args.num_qubits, "device": backend.kernel_name(),
              "fast_kernels": getattr(backend.fast, "name", None), "kernels": [], "exchange": None}
    for precision in args.precisions:
        state = ShardedState(args.num_qubits, comm, precision=precision, backend=backend, seed=args.seed)
        state.amplitudes.fill(2.0 ** (-args.num_qubits / 2))
        shard_bytes = state.amplitudes.nbytes
        dst = xp.empty_like(state.amplitudes)
        copy = lambda: xp.copyto(dst, state.amplitudes)  # noqa: E731
        for name, bits, controls, build, factor in ([] if args.skip_kernels else _cases(state.num_local_qubits, args.seed)):
            if args.only and not any(part in name for part in args.only):
                continue
            op = build()
            state.apply(op)  # warm-up (compiles)
            ratios, kernel_s, copy_s = [], [], []
            for _ in range(args.repeats):
                c_s, k_s = _timed_pair(comm, backend, copy, lambda op=op: state.apply(op))
                copy_s.append(c_s)
                kernel_s.append(k_s)
                ratios.append((factor * shard_bytes / k_s) / (2 * shard_bytes / c_s))
            record["kernels"].append({"case": name, "precision": precision, "target_bits": list(bits),
                                      "control_bits": list(controls), "bytes_factor": factor,
                                      "kernel_s_median": statistics.median(kernel_s),
                                      "copy_gb_per_s_median": 2 * shard_bytes / statistics.median(copy_s) / GB,
                                      "ratio": _summary(ratios)})
        del dst
        if comm.size > 1 and precision == args.precisions[0]:
            top = state.num_local_qubits - 1
            record["exchange"] = [_exchange(comm, backend, xp, state, args.repeats, bit) for bit in (top, 3)]
        del state
    return record


def _exchange(comm, backend, xp, state, repeats: int, local_bit: int) -> dict:
    """Swap of the top rank bit with ``local_bit`` against a plain Sendrecv of the same bytes, interleaved.

    Collective. The top local bit gives contiguous halves of the shard; a lower
    one gives runs of ``2^local_bit`` amplitudes, packed before sending.
    """
    from dqsim.state.layout import BitSwaps  # noqa: PLC0415

    n = state.num_qubits
    before = state.bytes_exchanged
    swap = [BitSwaps(((n - 1, local_bit),))]

    def exchange():
        state.apply_ops(swap)

    exchange()  # warm-up: buffers allocated and touched
    sent = comm.allreduce_max(state.bytes_exchanged - before)
    elems = int(sent) // state.amplitudes.itemsize
    # The plain Sendrecv moves host memory unless MPI takes device buffers (CUDA-aware): a
    # device pointer handed to an MPI without CUDA support crashes it (seen on an H200 with
    # the image's Open MPI, 2026-12-04).
    plain_xp = xp if (not backend.is_gpu or getattr(comm, "cuda_aware", False)) else np
    send = plain_xp.ones(elems, dtype=state.amplitudes.dtype)
    recv = plain_xp.zeros_like(send)
    partner = comm.rank ^ 1
    per = (1 << 30) // send.itemsize

    def plain():
        for start in range(0, elems, per):
            comm.sendrecv_array(send[start : start + per], recv[start : start + per], partner)

    # The same bytes moved by this rank alone: a copy between the contiguous buffers, and a
    # strided copy in the exchange's pattern (every other run of 2^local_bit amplitudes read from
    # the shard and written into every other run of a scratch shard), which is what the
    # exchange's reads and writes cost on this machine without any partner.
    scratch = xp.zeros_like(state.amplitudes)
    run = 1 << local_bit
    strided_src = state.amplitudes.reshape(-1, 2, run)[:, 1, :]
    strided_dst = scratch.reshape(-1, 2, run)[:, 0, :]

    def memcpy():
        plain_xp.copyto(recv, send)

    def strided():
        xp.copyto(strided_dst, strided_src)

    plain()
    strided()
    ratios, exchange_s, plain_s, memcpy_s, strided_s = [], [], [], [], []
    for _ in range(repeats):
        e_s, p_s = _timed_pair(comm, backend, exchange, plain)
        c_s, s_s = _timed_pair(comm, backend, memcpy, strided)
        exchange_s.append(e_s)
        plain_s.append(p_s)
        memcpy_s.append(c_s)
        strided_s.append(s_s)
        ratios.append(p_s / e_s)
    del scratch, strided_src, strided_dst
    return {"local_bit": local_bit, "bytes_sent_per_rank": int(sent), "exchange_s_median": statistics.median(exchange_s),
            "plain_sendrecv_s_median": statistics.median(plain_s),
            "exchange_gb_per_s": sent / statistics.median(exchange_s) / GB,
            "plain_gb_per_s": sent / statistics.median(plain_s) / GB,
            "ratio_plain_over_exchange": _summary(ratios),
            "memcpy_s_median": statistics.median(memcpy_s), "strided_copy_s_median": statistics.median(strided_s),
            "ratio_plain_over_memcpy": _summary([p / c for p, c in zip(plain_s, memcpy_s)]),
            "ratio_plain_over_strided_copy": _summary([p / c for p, c in zip(plain_s, strided_s)])}


def table(record: dict) -> str:
    lines = [f"ranks={record['ranks']} n={record['num_qubits']} ({record['device']}, {record['fast_kernels']})",
             f"{'case':22s} {'precision':10s} {'copy GB/s':>9s} {'kernel ms':>9s}  ratio median [min-max]"]
    for k in record["kernels"]:
        r = k["ratio"]
        lines.append(f"{k['case']:22s} {k['precision']:10s} {k['copy_gb_per_s_median']:9.1f} "
                     f"{1e3 * k['kernel_s_median']:9.1f}  {r['median']:.2f} [{r['min']:.2f}-{r['max']:.2f}]")
    for ex in record.get("exchange") or []:
        r = ex["ratio_plain_over_exchange"]
        lines.append(f"exchange of one rank bit with local bit {ex['local_bit']}, "
                     f"{ex['bytes_sent_per_rank'] / 2**20:.0f} MiB per rank: "
                     f"{1e3 * ex['exchange_s_median']:.1f} ms ({ex['exchange_gb_per_s']:.2f} GB/s), plain Sendrecv "
                     f"{1e3 * ex['plain_sendrecv_s_median']:.1f} ms ({ex['plain_gb_per_s']:.2f} GB/s); "
                     f"Sendrecv/exchange {r['median']:.2f} [{r['min']:.2f}-{r['max']:.2f}]")
        if "memcpy_s_median" in ex:  # records written since 2026-12-06
            m, c = ex["ratio_plain_over_memcpy"], ex["ratio_plain_over_strided_copy"]
            lines.append(f"  same bytes on one rank: memcpy {1e3 * ex['memcpy_s_median']:.1f} ms, Sendrecv/memcpy "
                         f"{m['median']:.2f} [{m['min']:.2f}-{m['max']:.2f}]; strided copy in runs of "
                         f"{1 << ex['local_bit']} {1e3 * ex['strided_copy_s_median']:.1f} ms, Sendrecv/strided "
                         f"{c['median']:.2f} [{c['min']:.2f}-{c['max']:.2f}]")
    return "\n".join(lines)


def driver_main(args) -> int:
    script = str(Path(__file__).resolve())
    load_before = state_bench._loadavg_1min()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "record.json"
        cmd = [sys.executable, script, "--mode", "worker", "--num-qubits", str(args.qubits),
               "--repeats", str(args.repeats), "--backend", args.backend, "--seed", str(args.seed),
               "--precisions", *args.precisions, "--out", str(out)] + (["--skip-kernels"] if args.skip_kernels else []) \
            + (["--only", *args.only] if args.only else [])
        if args.ranks > 1:
            cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(args.ranks), *cmd]
        status, rc, tail, elapsed_s = state_bench._run(cmd, state_bench._env(1), args.timeout_s)
        if status != "ok" or not out.exists():
            print(f"[kernel_bench] worker {status} (rc {rc}) after {elapsed_s:.0f} s:\n{tail}", file=sys.stderr)
            return 1
        record = json.loads(out.read_text())
    record["command"] = shlex.join(cmd)
    record["loadavg_1min_before"] = load_before
    record["loadavg_1min_after"] = state_bench._loadavg_1min()
    args.label = args.label or "vm"
    result = {"benchmark": "kernel_bench", "machine": state_bench.machine_info(args, record["device"]),
              "config": {"ranks": args.ranks, "qubits": args.qubits, "repeats": args.repeats,
                         "precisions": args.precisions, "seed": args.seed},
              "notes": ["ratio (kernels) = (least bytes of the gate / kernel time) / (2 x shard bytes / copy time), "
                        "copy and kernel timed back to back in each repeat; each time is the maximum over ranks, "
                        "all ranks working at once with one thread each.",
                        "ratio (exchange) = plain MPI Sendrecv time / exchange time for the same bytes, "
                        "timed back to back in each repeat.", args.notes],
              "record": record}
    print(table(record))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M")
    path = Path(args.results_dir) / f"kernel_bench-{args.label}-{stamp}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("driver", "worker"), default="driver")
    parser.add_argument("--ranks", type=int, default=2, help="ranks working at once (default 2)")
    parser.add_argument("--qubits", type=int, default=26, help="qubits of the whole state (default 26)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of each copy/kernel pair (default 5)")
    parser.add_argument("--precisions", nargs="+", default=["complex128", "complex64"],
                        choices=("complex128", "complex64"))
    parser.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    parser.add_argument("--skip-kernels", action="store_true", help="measure the exchanges only")
    parser.add_argument("--only", nargs="+", default=None,
                        help="time only the kernel cases whose name contains one of these strings")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout-s", type=float, default=1200.0)
    parser.add_argument("--label", default=None, help="machine label in the file name (default vm)")
    parser.add_argument("--results-dir", default=str(state_bench.DEFAULT_RESULTS_DIR))
    parser.add_argument("--notes", default="", help="free text stored with the results")
    parser.add_argument("--num-qubits", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.mode == "worker":
        return state_bench.run_as_worker(args, measure)
    return driver_main(args)


if __name__ == "__main__":
    sys.exit(main())
