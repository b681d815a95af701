"""Benchmark of dqsim's sharded state vector: gate times, bandwidth roofline, exchanges, qiskit-aer.

A benchmark, not a test: it measures and records, it asserts nothing.

Driver (default mode): for every rank count in ``--ranks`` and every size in
``--qubits`` it starts this file in worker mode, under the ``mpiexec`` beside
``sys.executable`` (a plain subprocess for one rank), each configuration with
its own timeout. It then runs qiskit-aer on the same circuits in a separate
subprocess with as many threads as dqsim had ranks, and writes one JSON file
``bench/results/state_bench-<backend>-<label>-<YYYYMMDD>.json`` plus a table
on stdout.

Worker (``--mode worker``): on one configuration (ranks, n) it measures

* the memory copy bandwidth (``xp.copyto`` of a shard-sized array; bytes read
  plus written, median of repeats, all ranks at once);
* seconds per gate (median after one warm-up, device synchronised before the
  clock is read, maximum over ranks) of ``h`` (1-qubit dense), ``rz``
  (1-qubit diagonal), ``cx`` and a random 2-qubit unitary (2-qubit dense) on
  a low, a middle and the top physical bit(s); targets are chosen by
  *physical* bit at call time (``layout.logical_at``), because the engine
  never swaps a rank bit back, so every repetition on the top bit starts
  with that bit on a rank bit and pays one exchange;
* the roofline ratio of gates that need no exchange: (least bytes the gate
  must read and write) / time, over the copy bandwidth;
* exchange rounds alone (``ShardedState.localize`` of 1 and 2 top bits):
  seconds, bytes sent per rank (``bytes_exchanged`` deltas) against the bound
  ``S·(1 − 2^-k)`` of :mod:`dqsim.state.exchange`;
* one run of a QFT and of a random circuit (``--depth`` layers), after an untimed
  run of each at 10 qubits that compiles the kernels they take.

Rank 0 writes the worker's JSON to ``--out``.

Examples (from the repository root)::

    .venv/bin/python bench/state_bench.py                       # 1, 2, 4 ranks; n = 20 22 24 26
    .venv/bin/python bench/state_bench.py --quick --ranks 1 2   # n = 20 22
    .venv/bin/python bench/state_bench.py --backend cupy --ranks 1 --qubits 26 28 30
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DEFAULT_RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_QUBITS = (20, 22, 24, 26)
QUICK_QUBITS = (20, 22)
DEFAULT_RANKS = (1, 2, 4)
#: Size of the small cross-check of final states against qiskit-aer.
CROSSCHECK_QUBITS = 10
#: Fewest timed repetitions of a measurement, whatever the time budget.
MIN_REPEATS = 3
SCHEMA_VERSION = 1
GB = 1e9  # bandwidths are reported in GB/s (10^9 bytes per second)


# --------------------------------------------------------------------------- circuits
# A gate is (name, qubits, params, matrix): controls first in qubits (dqsim and
# qiskit agree), matrix only for name == "unitary" (little-endian, as qiskit).


def builtin_qft(num_qubits: int) -> list[tuple]:
    """QFT as h, cp and the final swaps (qiskit's ``QFT`` order, little-endian)."""
    gates = []
    for j in reversed(range(num_qubits)):
        gates.append(("h", (j,), (), None))
        for k in reversed(range(j)):
            gates.append(("cp", (j, k), (math.pi / 2 ** (j - k),), None))
    for i in range(num_qubits // 2):
        gates.append(("swap", (i, num_qubits - 1 - i), (), None))
    return gates


def builtin_random(num_qubits: int, depth: int, seed: int) -> list[tuple]:
    """``depth`` layers: ``u`` with random angles on every qubit, then a random
    pairing of the qubits, each pair getting one of cx, cz, rzz."""
    rng = np.random.default_rng(seed)
    two_qubit = ("cx", "cz", "rzz")
    gates = []
    for _ in range(depth):
        for q in range(num_qubits):
            gates.append(("u", (q,), tuple(float(a) for a in rng.uniform(0, 2 * math.pi, 3)), None))
        order = [int(q) for q in rng.permutation(num_qubits)]
        for a, b in zip(order[0::2], order[1::2]):
            name = two_qubit[int(rng.integers(len(two_qubit)))]
            params = (float(rng.uniform(0, 2 * math.pi)),) if name == "rzz" else ()
            gates.append((name, (a, b), params, None))
    return gates


def circuit_gates(kind: str, num_qubits: int, depth: int, seed: int, source: str) -> tuple[list[tuple], str]:
    """The gates of the ``kind`` ("qft" or "random") benchmark circuit and where they came from.

    ``source`` "generators" uses :mod:`dqsim.circuit.generators`, "builtin"
    this file's constructions, "auto" the former when it imports.
    """
    if source in ("auto", "generators"):
        try:
            from dqsim.circuit import generators  # noqa: PLC0415 - optional, may not exist yet

            if kind == "qft":
                circuit = generators.qft(num_qubits)
            else:
                circuit = generators.random_circuit(num_qubits, depth, seed=seed)
            gates = [(g.name, tuple(g.qubits), tuple(g.params), g.matrix) for g in circuit.gates()]
            return gates, "dqsim.circuit.generators"
        except (ImportError, AttributeError):
            if source == "generators":
                raise
    if kind == "qft":
        return builtin_qft(num_qubits), "bench builtin (h, cp, swap)"
    return builtin_random(num_qubits, depth, seed), "bench builtin (u + cx/cz/rzz layers)"


#: Circuits made by qiskit (not by dqsim), read through dqsim's QASM importer.
QISKIT_KINDS = ("qiskit_qft", "qiskit_random")
#: Basis the qiskit-made circuits are transpiled to (the issue's choice).
QISKIT_BASIS = ["u3", "cx", "rz", "h", "cp", "swap"]
#: Depth of ``qiskit.circuit.random.random_circuit``.
QISKIT_RANDOM_DEPTH = 20


def qasm_path(qasm_dir: str, kind: str, num_qubits: int) -> Path:
    return Path(qasm_dir) / f"{kind}-{num_qubits}.qasm"


def write_qiskit_qasm(qasm_dir: Path, num_qubits: int, seed: int) -> dict:
    """Write the qiskit-made QFT and random circuit of ``num_qubits`` as QASM 2 files.

    QFT: ``QFTGate`` synthesised by ``transpile``; random:
    ``random_circuit(n, 20, max_operands=2, seed)``; both transpiled at
    optimization level 0 to :data:`QISKIT_BASIS`. Returns what was made (or why not).
    """
    try:
        import qiskit  # noqa: PLC0415 - optional
        from qiskit import qasm2, transpile  # noqa: PLC0415
        from qiskit.circuit.library import QFTGate  # noqa: PLC0415
        from qiskit.circuit.random import random_circuit  # noqa: PLC0415
    except ImportError as exc:
        return {"status": "not available", "message": str(exc)}
    qft = qiskit.QuantumCircuit(num_qubits)
    qft.append(QFTGate(num_qubits), range(num_qubits))
    made = {"status": "ok", "qiskit": qiskit.__version__, "basis": QISKIT_BASIS}
    for kind, qc in (("qiskit_qft", qft),
                     ("qiskit_random", random_circuit(num_qubits, QISKIT_RANDOM_DEPTH, max_operands=2, seed=seed))):
        t = transpile(qc, basis_gates=QISKIT_BASIS, optimization_level=0, seed_transpiler=seed)
        path = qasm_path(str(qasm_dir), kind, num_qubits)
        path.write_text(qasm2.dumps(t))
        made[kind] = {"ops": dict(t.count_ops()), "path": path.name}
    return made


def load_circuit(kind: str, args, num_qubits: int) -> tuple[list[tuple], str, str]:
    """(gates, source, fingerprint) of a benchmark circuit of any kind."""
    if kind in QISKIT_KINDS:
        from dqsim.circuit import qasm  # noqa: PLC0415

        path = qasm_path(args.qasm_dir, kind, num_qubits)
        circuit = qasm.load_qasm_file(str(path))
        gates = [(g.name, tuple(g.qubits), tuple(g.params), g.matrix) for g in circuit.gates()]
        return gates, f"qiskit via QASM ({path.name})", hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    gates, source = circuit_gates(kind, num_qubits, args.depth, args.seed, args.circuits)
    return gates, source, gates_fingerprint(gates)


def gates_fingerprint(gates: list[tuple]) -> str:
    """Short hash of names, qubits, parameters (and matrices), to show both simulators ran the same gates."""
    digest = hashlib.sha256()
    for name, qubits, params, matrix in gates:
        digest.update(repr((name, tuple(qubits), tuple(round(p, 12) for p in params))).encode())
        if matrix is not None:
            digest.update(np.asarray(matrix, dtype=np.complex128).tobytes())
    return digest.hexdigest()[:16]


def dqsim_ops(gates: list[tuple]) -> list:
    """dqsim :class:`GateOp` list of ``gates``."""
    from dqsim.state.gates import gate_op, unitary_op  # noqa: PLC0415

    ops = []
    for name, qubits, params, matrix in gates:
        if name == "unitary":
            ops.append(unitary_op(matrix, qubits))
        else:
            ops.append(gate_op(name, qubits, params))
    return ops


def qiskit_circuit(num_qubits: int, gates: list[tuple]):
    """The same gates as a qiskit ``QuantumCircuit`` (imports qiskit; raises ImportError without it)."""
    from qiskit import QuantumCircuit  # noqa: PLC0415 - qiskit is optional
    from qiskit.circuit import library as lib  # noqa: PLC0415

    def u2(phi, lam):
        return lib.UGate(math.pi / 2, phi, lam)

    def cu3(theta, phi, lam):
        return lib.CUGate(theta, phi, lam, 0.0)

    table = {
        "id": lib.IGate, "x": lib.XGate, "y": lib.YGate, "z": lib.ZGate, "h": lib.HGate,
        "s": lib.SGate, "sdg": lib.SdgGate, "t": lib.TGate, "tdg": lib.TdgGate,
        "sx": lib.SXGate, "sxdg": lib.SXdgGate, "rx": lib.RXGate, "ry": lib.RYGate,
        "rz": lib.RZGate, "p": lib.PhaseGate, "u1": lib.PhaseGate, "u2": u2, "u": lib.UGate,
        "u3": lib.UGate, "cx": lib.CXGate, "cy": lib.CYGate, "cz": lib.CZGate, "ch": lib.CHGate,
        "csx": lib.CSXGate, "cp": lib.CPhaseGate, "cu1": lib.CPhaseGate, "crx": lib.CRXGate,
        "cry": lib.CRYGate, "crz": lib.CRZGate, "cu3": cu3, "swap": lib.SwapGate,
        "iswap": lib.iSwapGate, "rxx": lib.RXXGate, "ryy": lib.RYYGate, "rzz": lib.RZZGate,
        "ccx": lib.CCXGate, "ccz": lib.CCZGate, "cswap": lib.CSwapGate,
    }
    qc = QuantumCircuit(num_qubits)
    for name, qubits, params, matrix in gates:
        if name == "unitary":
            qc.append(lib.UnitaryGate(np.asarray(matrix)), list(qubits))
            continue
        if name not in table:
            raise ValueError(f"gate {name!r} has no qiskit equivalent in this benchmark")
        qc.append(table[name](*params), list(qubits))
    return qc


def random_unitary(dim: int, seed: int) -> np.ndarray:
    """A Haar-like random unitary from the QR of a complex Gaussian matrix (fixed seed)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    q, r = np.linalg.qr(z)
    return q * (np.diag(r) / np.abs(np.diag(r)))


# --------------------------------------------------------------------------- worker
def _timed(comm, backend, fn, *, repeats: int, budget_s: float) -> list[float]:
    """Seconds of ``fn()`` after one warm-up: each sample is the maximum over ranks.

    Stops after ``MIN_REPEATS`` samples once ``budget_s`` is spent (samples
    are equal on every rank, so every rank stops together). Collective.
    """
    fn()
    backend.synchronize()
    samples: list[float] = []
    for _ in range(repeats):
        comm.barrier()
        start = time.perf_counter()
        fn()
        backend.synchronize()
        elapsed_s = comm.allreduce_max(time.perf_counter() - start)
        samples.append(elapsed_s)
        if len(samples) >= MIN_REPEATS and sum(samples) > budget_s:
            break
    return samples


def _gate_cases(n: int, num_local: int, u2q: np.ndarray):
    """(gate, kind, position, physical bits, physical control bits, builder) per measurement.

    The builder takes the current layout and returns the op, its qubits picked
    by physical bit at call time (the layout changes after every exchange).
    """
    from dqsim.state.gates import gate_op, unitary_op  # noqa: PLC0415

    mid = n // 2
    top_label = "rank" if num_local < n else "top"
    positions_1q = [("low", 0), ("mid", mid), (top_label, n - 1)]
    positions_2q = [("low", (1, 0)), ("mid", (mid + 1, mid)), (top_label, (n - 2, n - 1))]
    cases = []
    for label, p in positions_1q:
        cases.append(("h", "1q dense", label, (p,), (), lambda lay, p=p: gate_op("h", [lay.logical_at[p]])))
        cases.append(("rz", "1q diagonal", label, (p,), (),
                      lambda lay, p=p: gate_op("rz", [lay.logical_at[p]], [0.3])))
    for label, (c, t) in positions_2q:
        cases.append(("cx", "2q controlled (control, target)", label, (c, t), (c,),
                      lambda lay, c=c, t=t: gate_op("cx", [lay.logical_at[c], lay.logical_at[t]])))
        cases.append(("u2q", "2q dense (random unitary)", label, (c, t), (),
                      lambda lay, c=c, t=t: unitary_op(u2q, [lay.logical_at[t], lay.logical_at[c]])))
    return cases


def _plain_sendrecv(comm, backend, xp, state, num_bytes: int, repeats: int, budget_s: float) -> dict:
    """One plain MPI Sendrecv of ``num_bytes`` between ranks ``r`` and ``r ^ 1`` (same run, same bytes).

    Contiguous buffers allocated and touched once before timing, in messages
    below 2 GiB; what an exchange would cost if packing, pieces and the copy
    back into the shard were free.
    """
    elems = max(1, num_bytes // state.amplitudes.itemsize)
    send = xp.ones(elems, dtype=state.amplitudes.dtype)
    recv = xp.zeros_like(send)
    partner = comm.rank ^ 1
    per = max(1, (1 << 30) // send.itemsize)

    def once():
        for start in range(0, elems, per):
            kwargs = {"to_host": backend.to_host, "from_host": backend.copy_from_host} if backend.is_gpu else {}
            comm.sendrecv_array(send[start : start + per], recv[start : start + per], partner, **kwargs)

    samples = _timed(comm, backend, once, repeats=repeats, budget_s=budget_s)
    seconds = statistics.median(samples)
    return {"what": "comm.sendrecv_array (MPI Sendrecv) of contiguous buffers, rank r with r^1",
            "bytes_per_rank": elems * send.itemsize, "seconds": seconds, "samples_s": samples,
            "gb_per_s_sent_per_rank": elems * send.itemsize / seconds / GB}


def _kernel_rooflines(comm, backend, xp, n_local: int, copy_gb_per_s: dict, repeats: int, budget_s: float) -> list:
    """Seconds of one dense pass on k = 1..5 target bits and one fused-diagonal pass, both precisions.

    Targets are the middle bits of the shard (random unitary); ratio = 2 × shard bytes /
    time / copy bandwidth of the same precision.
    """
    fast = backend.fast
    if fast is None or not hasattr(fast, "dense"):
        return []
    out = []
    for precision, copy_bw in copy_gb_per_s.items():
        psi = xp.full(1 << n_local, 2.0 ** (-n_local / 2), dtype=precision)
        mid = n_local // 2
        for k in range(1, 6):
            matrix = random_unitary(1 << k, k)
            bits = list(range(mid - k // 2, mid - k // 2 + k))
            if k == 1:
                call = lambda: fast.dense1(psi, bits[0], matrix, 0)  # noqa: E731
            elif k == 2:
                call = lambda: fast.dense2(psi, bits[0], bits[1], matrix, 0)  # noqa: E731
            else:
                call = lambda: fast.dense(psi, bits, matrix, 0)  # noqa: E731
            seconds = statistics.median(_timed(comm, backend, call, repeats=repeats, budget_s=budget_s))
            out.append({"kernel": f"dense k={k}", "precision": precision, "bits": bits, "seconds": seconds,
                        "roofline_ratio": 2 * psi.nbytes / seconds / GB / copy_bw})
        diag = np.exp(1j * np.linspace(0, 1, 1 << 8))
        seconds = statistics.median(_timed(comm, backend, lambda: fast.diagonal_pass(psi, list(range(8)), diag),
                                           repeats=repeats, budget_s=budget_s))
        out.append({"kernel": "diagonal m=8 (bits 0..7)", "precision": precision, "seconds": seconds,
                    "roofline_ratio": 2 * psi.nbytes / seconds / GB / copy_bw})
        del psi
    return out


def _min_bytes(gate: str, shard_bytes: int) -> int:
    """Least bytes a gate with local controls must read plus write on one shard."""
    if gate == "cx":
        return shard_bytes  # only the control = 1 half is read and written
    return 2 * shard_bytes


def _warm_up(args, comm, backend, state_kwargs: dict, num_qubits: int) -> None:
    """Run every circuit kind once, fused and unfused, at :data:`CROSSCHECK_QUBITS` (collective, untimed).

    The timed runs then find the compiled kernels they take (numba compiles each kernel
    family at its first call, seconds with a cold cache); the small circuits place blocks
    of the same sizes on low and high bits alike, and numba compiles per argument types,
    not per bit.
    """
    from dqsim.circuit import fusion  # noqa: PLC0415
    from dqsim.state.sharded import ShardedState  # noqa: PLC0415

    small = min(num_qubits, CROSSCHECK_QUBITS)
    for kind in args.kinds:
        ops = dqsim_ops(load_circuit(kind, args, small)[0])
        for run in (fusion.fuse_ops(ops, layout=ShardedState(small, comm, **state_kwargs).layout,
                                    costs=fusion.costs_for(backend)), ops):
            state = ShardedState(small, comm, **state_kwargs)
            state.apply_ops(run)
            backend.synchronize()
    comm.barrier()


def run_worker(args, comm) -> dict:
    """Measure one configuration (collective); returns the record (meaningful on rank 0)."""
    from dqsim import backend as backend_mod  # noqa: PLC0415
    from dqsim.errors import ResourceError  # noqa: PLC0415
    from dqsim.state.sharded import ShardedState  # noqa: PLC0415

    wall_start = time.perf_counter()
    backend = backend_mod.select(args.backend, node_local_rank=comm.node_local_rank)
    xp = backend.xp
    n = args.num_qubits
    fast = getattr(backend, "fast", None)  # compiled 1-/2-qubit kernels, where this dqsim has them
    record = {"status": "ok", "ranks": comm.size, "num_qubits": n, "precision": args.precision,
              "backend": backend.name, "device": backend.kernel_name(),
              "fast_kernels": getattr(fast, "name", type(fast).__name__) if fast is not None else None}
    state_kwargs = dict(precision=args.precision, backend=backend, seed=args.seed)
    try:
        state = ShardedState(n, comm, **state_kwargs)
    except ResourceError as exc:
        record.update(status="skipped", message=str(exc))
        return record
    shard_bytes = int(state.amplitudes.nbytes)
    num_local = state.num_local_qubits
    record.update(num_local_qubits=num_local, shard_bytes=shard_bytes,
                  state_bytes=shard_bytes * comm.size)
    state.amplitudes.fill(2.0 ** (-n / 2))  # uniform superposition: every amplitude non-zero
    repeats, budget_s = args.repeats, args.point_budget_s

    # Memory copy bandwidth on every rank at once, shard-sized arrays.
    dst = xp.empty_like(state.amplitudes)
    samples = _timed(comm, backend, lambda: xp.copyto(dst, state.amplitudes), repeats=repeats, budget_s=budget_s)
    del dst
    copy_s = statistics.median(samples)
    copy_gb_per_s = 2 * shard_bytes / copy_s / GB
    record["copy"] = {"what": "xp.copyto(dst, shard)", "seconds": copy_s, "bytes_moved_per_rank": 2 * shard_bytes,
                      "gb_per_s_per_rank": copy_gb_per_s, "samples_s": samples}

    # One pass of each compiled kernel, in both precisions (copy bandwidth of each measured here).
    copy_bw = {args.precision: copy_gb_per_s}
    other = "complex64" if args.precision == "complex128" else "complex128"
    src = xp.ones(1 << num_local, dtype=other)
    dst = xp.empty_like(src)
    other_s = statistics.median(_timed(comm, backend, lambda: xp.copyto(dst, src), repeats=repeats, budget_s=budget_s))
    copy_bw[other] = 2 * src.nbytes / other_s / GB
    del src, dst
    record["copy"]["gb_per_s_per_rank_by_precision"] = copy_bw
    record["kernels"] = _kernel_rooflines(comm, backend, xp, num_local, copy_bw, repeats, budget_s)

    # Per-gate times. Exchanges permute the layout; every case picks its qubits by
    # physical bit at call time, so the order of the cases does not matter.
    u2q = random_unitary(4, args.seed + 1)
    gates = []
    for gate, kind, position, bits, control_bits, build in _gate_cases(n, num_local, u2q):
        before = {"bytes": state.bytes_exchanged, "exchanges": state.num_exchanges, "calls": 0}
        swapped: list[int] = []

        def call(build=build):
            op = build(state.layout)
            swapped.append(0 if op.diagonal else sum(not state.layout.is_local(q) for q in op.targets))
            state.apply(op)
            before["calls"] += 1

        samples = _timed(comm, backend, call, repeats=repeats, budget_s=budget_s)
        calls = before["calls"]
        sent_bytes = (state.bytes_exchanged - before["bytes"]) / calls
        sent_bytes_max = comm.allreduce_max(sent_bytes)
        exchanges = (state.num_exchanges - before["exchanges"]) / calls
        seconds = statistics.median(samples)
        entry = {"gate": gate, "kind": kind, "position": position, "physical_bits": list(bits),
                 "seconds": seconds, "samples_s": samples, "exchanges_per_call": exchanges,
                 "bytes_exchanged_per_rank_per_call": sent_bytes_max}
        k = max(swapped) if swapped else 0
        entry["bits_swapped"] = k
        if exchanges:
            bound = shard_bytes * (1 - 2.0 ** -k)
            entry["exchange_bound_bytes"] = bound
            entry["exchange_bytes_over_bound"] = sent_bytes_max / bound if bound else None
        controls_local = all(b < num_local for b in control_bits)
        if not exchanges and controls_local:
            need = _min_bytes(gate, shard_bytes)
            entry["min_bytes_per_rank"] = need
            entry["gb_per_s_per_rank"] = need / seconds / GB
            entry["roofline_ratio"] = need / seconds / GB / copy_gb_per_s
        gates.append(entry)
    record["gates"] = gates

    # Exchange rounds alone: localize the top k physical bits (k = 1, 2).
    exchanges_out = []
    for k in range(1, min(2, n - num_local) + 1):
        before_bytes = state.bytes_exchanged
        before_calls = [0]

        def localize(k=k):
            state.localize([state.layout.logical_at[n - 1 - j] for j in range(k)])
            before_calls[0] += 1

        samples = _timed(comm, backend, localize, repeats=repeats, budget_s=budget_s)
        sent = comm.allreduce_max((state.bytes_exchanged - before_bytes) / before_calls[0])
        seconds = statistics.median(samples)
        bound = shard_bytes * (1 - 2.0 ** -k)
        entry = {"bits_swapped": k, "seconds": seconds, "samples_s": samples,
                 "bytes_sent_per_rank": sent, "bound_bytes": bound,
                 "bytes_over_bound": sent / bound,
                 "gb_per_s_sent_per_rank": sent / seconds / GB}
        if k == 1:
            entry["plain_sendrecv"] = _plain_sendrecv(comm, backend, xp, state, int(sent), repeats, budget_s)
            entry["exchange_over_plain_sendrecv"] = entry["plain_sendrecv"]["seconds"] / seconds
        exchanges_out.append(entry)
    record["exchange"] = exchanges_out
    del state

    # Circuits: one run each on a fresh |0…0⟩, fused (the default) and unfused.
    from dqsim.circuit import fusion  # noqa: PLC0415
    from dqsim.state.layout import BitSwaps  # noqa: PLC0415

    _warm_up(args, comm, backend, state_kwargs, n)
    circuits = {}
    for kind in args.kinds:
        gates_list, source, fingerprint = load_circuit(kind, args, n)
        ops = dqsim_ops(gates_list)
        entry = {"source": source, "num_gates": len(ops), "fingerprint": fingerprint,
                 "depth": args.depth if kind == "random" else None}
        for label in ("fused", "unfused"):
            if label == "unfused" and n > args.unfused_max_qubits:
                entry[label] = {"status": "not run", "message": f"n > --unfused-max-qubits {args.unfused_max_qubits}"}
                continue
            state = ShardedState(n, comm, **state_kwargs)
            comm.barrier()
            start = time.perf_counter()
            run = fusion.fuse_ops(ops, layout=state.layout, costs=fusion.costs_for(backend)) if label == "fused" else ops
            fuse_s = time.perf_counter() - start
            state.apply_ops(run)
            backend.synchronize()
            seconds = comm.allreduce_max(time.perf_counter() - start)
            amp0 = complex(backend.to_host(state.amplitudes[:1])[0]) if comm.rank == 0 else 0j
            norm = state.norm()
            passes = sum(1 for op in run if not isinstance(op, BitSwaps) and not (op.name == "swap" and not op.controls))
            bound_s = passes * 2 * shard_bytes / (copy_gb_per_s * GB)
            entry[label] = {"seconds": seconds, "fuse_s": comm.allreduce_max(fuse_s), "num_ops": len(run),
                            "passes": passes, "max_block_qubits": max((len(op.qubits) for op in run), default=0),
                            "pass_bound_s": bound_s, "seconds_over_pass_bound": seconds / bound_s if bound_s else None,
                            "num_exchanges": state.num_exchanges,
                            "bytes_exchanged_per_rank": comm.allreduce_max(state.bytes_exchanged),
                            "amp0": [amp0.real, amp0.imag], "norm_error": abs(norm - 1.0)}
            del state
        fused = entry["fused"]
        entry.update(seconds=fused["seconds"], amp0=fused["amp0"], num_exchanges=fused["num_exchanges"])
        circuits[kind] = entry
    record["circuits"] = circuits
    record["worker_wall_s"] = comm.allreduce_max(time.perf_counter() - wall_start)
    return record


def worker_main(args) -> int:
    """Worker mode: measure, then rank 0 writes the record to ``--out``."""
    return run_as_worker(args, run_worker)


def run_as_worker(args, measure) -> int:
    """Run ``measure(args, comm)`` on every rank; rank 0 writes its record to ``--out`` (also network_bench)."""
    from dqsim import comm as comm_mod  # noqa: PLC0415

    comm = comm_mod.init()
    try:
        record = measure(args, comm)
    except Exception:  # noqa: BLE001 - report, then end every rank (a lone failure would hang the others)
        traceback.print_exc()
        if comm.size > 1:
            comm.abort(1)
        return 1
    if comm.rank == 0:
        Path(args.out).write_text(json.dumps(record))
    return 0


# --------------------------------------------------------------------------- aer
def _aer_circuit(kind: str, args, num_qubits: int):
    """(qiskit circuit, record entry) of a benchmark circuit; qiskit kinds read from the same QASM file."""
    if kind in QISKIT_KINDS:
        from qiskit import qasm2  # noqa: PLC0415

        path = qasm_path(args.qasm_dir, kind, num_qubits)
        qc = qasm2.load(str(path), custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
        return qc, {"source": f"qiskit via QASM ({path.name})", "num_gates": qc.size(),
                    "fingerprint": hashlib.sha256(path.read_bytes()).hexdigest()[:16]}
    gates_list, source = circuit_gates(kind, num_qubits, args.depth, args.seed, args.circuits)
    entry = {"source": source, "num_gates": len(gates_list), "fingerprint": gates_fingerprint(gates_list)}
    return qiskit_circuit(num_qubits, gates_list), entry


def aer_main(args) -> int:
    """Run the circuits on qiskit-aer (one process, ``--threads`` threads); write JSON to ``--out``."""
    record = {"threads": args.threads, "num_qubits": args.num_qubits}
    try:
        import qiskit  # noqa: PLC0415
        import qiskit_aer  # noqa: PLC0415
        from qiskit import transpile  # noqa: PLC0415
        from qiskit_aer import AerSimulator  # noqa: PLC0415
    except ImportError as exc:
        record.update(status="not available", message=str(exc))
        Path(args.out).write_text(json.dumps(record))
        return 0
    record.update(status="ok", qiskit=qiskit.__version__, qiskit_aer=qiskit_aer.__version__)
    n = args.num_qubits
    sim = AerSimulator(method="statevector", precision="double", max_parallel_threads=args.threads)
    circuits = {}
    for kind in args.kinds:
        try:
            qc, entry = _aer_circuit(kind, args, n)
        except ValueError as exc:
            circuits[kind] = {"status": "not available", "message": str(exc)}
            continue
        # Aer drops a circuit that saves nothing; one saved amplitude forces the
        # full simulation and costs nothing (no measurement).
        qc.save_amplitudes([0])
        tqc = transpile(qc, sim, optimization_level=0)
        entry["transpiled_ops"] = dict(tqc.count_ops())
        for label, fusion in (("fusion", True), ("no_fusion", False)):
            if label == "no_fusion" and n > args.aer_no_fusion_max_qubits:
                entry[label] = {"status": "not run", "message": f"n > --aer-no-fusion-max-qubits "
                                                                 f"{args.aer_no_fusion_max_qubits}"}
                continue
            start = time.perf_counter()
            result = sim.run(tqc, shots=1, fusion_enable=fusion).result()
            wall_s = time.perf_counter() - start
            exp = result.results[0]
            amp = complex(exp.data.amplitudes[0]) if hasattr(exp.data, "amplitudes") else None
            meta = exp.metadata
            entry[label] = {"seconds": float(exp.time_taken), "wall_s": wall_s, "success": bool(result.success),
                            "amp0": None if amp is None else [amp.real, amp.imag],
                            "parallel_state_update": meta.get("parallel_state_update"),
                            "fusion": meta.get("fusion")}
        circuits[kind] = entry
    record["circuits"] = circuits
    Path(args.out).write_text(json.dumps(record))
    return 0


# --------------------------------------------------------------------------- driver
def _env(threads: int) -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(cmd: list[str], env: dict, timeout_s: float) -> tuple[str, int | None, str, float]:
    """Run ``cmd`` in its own session; returns (status, rc, stderr tail, seconds). Kills the group on timeout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return "timeout", None, (out + err)[-2000:], time.perf_counter() - start
    status = "ok" if proc.returncode == 0 else "error"
    return status, proc.returncode, (out + err)[-2000:], time.perf_counter() - start


def _common_args(args) -> list[str]:
    return ["--precision", args.precision, "--backend", args.backend, "--depth", str(args.depth),
            "--seed", str(args.seed), "--circuits", args.circuits, "--kinds", *args.kinds,
            "--qasm-dir", str(args.qasm_dir), "--unfused-max-qubits", str(args.unfused_max_qubits)]


def run_configuration(args, ranks: int, n: int, tmp: Path) -> dict:
    """One (ranks, n): the dqsim worker, then qiskit-aer; returns the merged record."""
    script = str(Path(__file__).resolve())
    out = tmp / f"dqsim-{ranks}-{n}.json"
    cmd = [sys.executable, script, "--mode", "worker", "--num-qubits", str(n), "--repeats", str(args.repeats),
           "--point-budget-s", str(args.point_budget_s), "--out", str(out), *_common_args(args)]
    if ranks > 1:
        mpiexec = Path(sys.executable).parent / "mpiexec"
        if not mpiexec.exists():
            return {"ranks": ranks, "num_qubits": n, "status": "skipped",
                    "message": f"no mpiexec beside {sys.executable}; install the 'mpi' extra"}
        cmd = [str(mpiexec), "-n", str(ranks), *cmd]
    status, rc, tail, elapsed_s = _run(cmd, _env(1), args.timeout_s)
    if status == "ok" and out.exists():
        record = json.loads(out.read_text())
    else:
        record = {"ranks": ranks, "num_qubits": n, "status": status, "returncode": rc,
                  "message": f"worker {status} after {elapsed_s:.0f} s (timeout {args.timeout_s:.0f} s)",
                  "output_tail": tail}
    record["command"] = shlex.join(cmd)
    record["launcher_wall_s"] = elapsed_s
    if args.skip_aer or record.get("status") == "skipped":
        record["aer"] = {"status": "not run"}
        return record
    aer_out = tmp / f"aer-{ranks}-{n}.json"
    aer_cmd = [args.aer_python, script, "--mode", "aer", "--num-qubits", str(n), "--threads", str(ranks),
               "--out", str(aer_out), *_common_args(args)]
    aer_cmd += ["--aer-no-fusion-max-qubits", str(args.aer_no_fusion_max_qubits)]
    status, rc, tail, elapsed_s = _run(aer_cmd, _env(ranks), args.timeout_s)
    if status == "ok" and aer_out.exists():
        record["aer"] = json.loads(aer_out.read_text())
    else:
        record["aer"] = {"status": status, "returncode": rc, "output_tail": tail,
                         "message": f"aer {status} after {elapsed_s:.0f} s"}
    record["aer"]["command"] = shlex.join(aer_cmd)
    record["aer"]["launcher_wall_s"] = elapsed_s
    return record


def crosscheck(args) -> dict:
    """Fidelity of dqsim's final states (fused and unfused) with qiskit's at a small size (one process).

    The reference is ``qiskit.quantum_info.Statevector`` of the same circuit
    (qiskit-made kinds: the same QASM file).
    """
    from dqsim.circuit import fusion  # noqa: PLC0415
    from dqsim.state.sharded import ShardedState  # noqa: PLC0415

    n = CROSSCHECK_QUBITS
    out = {"num_qubits": n}
    try:
        from qiskit.quantum_info import Statevector  # noqa: PLC0415
    except ImportError as exc:
        return {"num_qubits": n, "status": "not available", "message": str(exc)}
    for kind in args.kinds:
        try:
            qc, _entry = _aer_circuit(kind, args, n)
        except ValueError as exc:
            out[kind] = {"status": "not available", "message": str(exc)}
            continue
        theirs = np.asarray(Statevector(qc).data)
        gates_list, _source, _fp = load_circuit(kind, args, n)
        ops = dqsim_ops(gates_list)
        for label in ("fused", "unfused"):
            state = ShardedState(n, precision="complex128")
            state.apply_ops(fusion.fuse_ops(ops, layout=state.layout) if label == "fused" else ops)
            mine = state.gather()
            out[f"{kind}_{label}"] = {"fidelity": float(abs(np.vdot(theirs, mine)) ** 2),
                                      "max_abs_diff": float(np.max(np.abs(theirs - mine)))}
    return out


def machine_info(args, device: str | None) -> dict:
    cpu_model, physical_cores, cache = None, None, None
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("model name") and cpu_model is None:
                cpu_model = line.split(":", 1)[1].strip()
            if line.startswith("cache size") and cache is None:
                cache = line.split(":", 1)[1].strip()
            if line.startswith("cpu cores") and physical_cores is None:
                physical_cores = int(line.split(":", 1)[1])
    except OSError:
        pass
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * 1024
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not available"

    try:
        mpi = subprocess.run([str(Path(sys.executable).parent / "mpiexec"), "--version"], capture_output=True,
                             text=True, timeout=20).stdout
        mpi_version = next((ln.split(":", 1)[1].strip() for ln in mpi.splitlines() if "Version" in ln), None)
    except (OSError, subprocess.SubprocessError):
        mpi_version = None
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    digest = hashlib.sha256()
    for path in sorted((ROOT / "dqsim").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return {
        "dqsim_source_sha256": digest.hexdigest()[:16],
        "hostname": socket.gethostname(), "label": args.label, "cpu_model": cpu_model,
        "logical_cpus": os.cpu_count(), "usable_cpus": affinity, "cores_per_socket": physical_cores,
        "cpu_cache_size": cache,
        "memory_total_bytes": mem_total, "os": platform.platform(), "python": platform.python_version(),
        "numpy": np.__version__, "mpi4py": version("mpi4py"), "mpich_hydra": mpi_version,
        "qiskit": version("qiskit"), "qiskit_aer": version("qiskit-aer"), "backend": args.backend,
        "device": device, "command": shlex.join([sys.executable, *sys.argv]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "notes": args.notes,
    }


def _auto_notes(args, usable_cpus: int) -> list[str]:
    notes = [
        "Times are medians over repeats after one warm-up, each repeat the maximum over ranks; "
        "dqsim ranks run with OMP_NUM_THREADS=1.",
        "Roofline ratio = (least bytes the gate reads + writes on one shard) / time / "
        "(copy bandwidth measured on the same ranks at the same time).",
        "Gates at position 'rank' pay one exchange per call (the engine never swaps back); "
        "their time includes it. 'exchange' entries time ShardedState.localize alone.",
        "qiskit-aer: AerSimulator(method='statevector', precision='double', "
        "max_parallel_threads=<ranks>), transpile(optimization_level=0), one save_amplitudes([0]) "
        "so Aer does not skip the circuit; 'fusion' is Aer's default (gate fusion on), "
        f"'no_fusion' runs gate by gate (only for n <= {args.aer_no_fusion_max_qubits}). "
        "Aer time is result.results[0].time_taken (excludes transpile).",
        "Circuits run once per configuration from |0...0>, after an untimed run of each at "
        f"{CROSSCHECK_QUBITS} qubits (kernels compiled).",
        "fast_kernels in a run names dqsim's compiled 1-/2-qubit kernels when the backend used them "
        "(DQSIM_FAST_KERNELS=0 turns them off); numba runs with NUMBA_NUM_THREADS=1 per rank.",
        "dqsim_source_sha256 hashes every dqsim/**/*.py file, to tie the numbers to the code measured.",
    ]
    oversub = [r for r in args.ranks if r > usable_cpus]
    if oversub:
        notes.append(f"Rank counts {oversub} exceed the {usable_cpus} usable CPUs: ranks share cores "
                     "(oversubscribed), so their times measure contention, not scaling.")
    return notes


def _fmt(value, scale=1.0, digits=3):
    """``value * scale`` with ``digits`` significant digits, "-" for None."""
    if value is None:
        return "-"
    return f"{value * scale:.{digits}g}"


def _gate(record: dict, gate: str, position: str) -> dict | None:
    for g in record.get("gates", []):
        if g["gate"] == gate and g["position"] == position:
            return g
    return None


def summary_table(records: list[dict]) -> str:
    """A fixed-width summary of the records (one line per configuration)."""
    head = ("ranks  n  copy GB/s | h low ms (roof) | rz low ms (roof) | u2q mid ms (roof) | "
            "h top ms [xchg ms, bytes/bound, plain Sendrecv/xchg]")
    lines = [head, "-" * len(head)]
    for r in records:
        if r.get("status") != "ok":
            lines.append(f"{r['ranks']:>5} {r['num_qubits']:>2}  {r.get('status')}: {r.get('message', '')[:100]}")
            continue
        cells = [f"{r['ranks']:>5} {r['num_qubits']:>2} {r['copy']['gb_per_s_per_rank']:>10.1f}"]
        for gate, pos in (("h", "low"), ("rz", "low"), ("u2q", "mid")):
            g = _gate(r, gate, pos)
            cells.append(f"{_fmt(g['seconds'], 1e3)} ({_fmt(g.get('roofline_ratio'), 1, 2)})" if g else "-")
        top = _gate(r, "h", "rank") or _gate(r, "h", "top")
        if top and top.get("exchanges_per_call"):
            xchg = r["exchange"][0] if r.get("exchange") else {}
            cells.append(f"{_fmt(top['seconds'], 1e3)} [{_fmt(xchg.get('seconds'), 1e3)}, "
                         f"{_fmt(top.get('exchange_bytes_over_bound'), 1, 2)}, "
                         f"{_fmt(xchg.get('exchange_over_plain_sendrecv'), 1, 2)}]")
        elif top:
            cells.append(f"{_fmt(top['seconds'], 1e3)} [no exchange]")
        else:
            cells.append("-")
        lines.append(" | ".join(cells))
    lines.append("")
    head = ("ranks  n  circuit        gates passes | dqsim fused s (/pass bound) | dqsim unfused s | "
            "aer fusion s | aer no-fusion s | dqsim best / aer best")
    lines += [head, "-" * len(head)]
    for r in records:
        if r.get("status") != "ok":
            continue
        aer = r.get("aer", {})
        for kind, mine in r["circuits"].items():
            theirs = aer.get("circuits", {}).get(kind, {}) if aer.get("status") == "ok" else {}
            a_f = theirs.get("fusion", {}).get("seconds")
            a_n = theirs.get("no_fusion", {}).get("seconds")
            fused, plain = mine.get("fused", {}), mine.get("unfused", {})
            best_mine = min(x for x in (fused.get("seconds"), plain.get("seconds")) if x is not None)
            aers = [x for x in (a_f, a_n) if x is not None]
            ratio = best_mine / min(aers) if aers else None
            lines.append(f"{r['ranks']:>5} {r['num_qubits']:>2}  {kind:<13} {mine['num_gates']:>5} "
                         f"{fused.get('passes', '-'):>6} | {_fmt(fused.get('seconds'))} "
                         f"({_fmt(fused.get('seconds_over_pass_bound'), 1, 2)}) | {_fmt(plain.get('seconds'))} | "
                         f"{_fmt(a_f)} | {_fmt(a_n)} | {_fmt(ratio, 1, 2)}")
    kernels = next((r.get("kernels") for r in records if r.get("kernels")), None)
    if kernels:
        lines.append("")
        lines.append("kernel passes (first configuration; ratio to copy bandwidth): " + ", ".join(
            f"{k['kernel']} {k['precision']} {k['roofline_ratio']:.2f}" for k in kernels))
    return "\n".join(lines)


def _amp0_agreement(record: dict) -> None:
    """Add |amp0(dqsim) − amp0(aer)| per circuit to the record (a cheap same-result check)."""
    aer = record.get("aer", {})
    if record.get("status") != "ok" or aer.get("status") != "ok":
        return
    for kind, mine in record["circuits"].items():
        theirs = aer["circuits"].get(kind, {})
        fused = theirs.get("fusion", {}).get("amp0")
        if fused is not None:
            mine["amp0_abs_diff_vs_aer"] = abs(complex(*mine["amp0"]) - complex(*fused))
        mine["same_gates_as_aer"] = theirs.get("fingerprint") == mine["fingerprint"]


def _loadavg_1min() -> float | None:
    """The 1-minute load average of the host (None where unknown)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _estimate_s(last: tuple[int, float] | None, num_qubits: int) -> float | None:
    """Guess the seconds of a configuration from the last one run on as many ranks.

    Up to 3 s are taken as fixed start-up (processes, imports); the rest
    grows as 2^n per gate and about n^2 in gates (the QFT), with a safety
    margin of 1.25. ``None`` when nothing was measured yet.
    """
    if last is None:
        return None
    n_last, seconds = last
    fixed_s = min(seconds, 3.0)
    return fixed_s + 1.25 * (seconds - fixed_s) * 2.0 ** (num_qubits - n_last) * (num_qubits / n_last) ** 2


def driver_main(args) -> int:
    qubits = list(QUICK_QUBITS) if args.quick and args.qubits is None else list(args.qubits or DEFAULT_QUBITS)
    args.label = args.label or socket.gethostname()
    results_dir = Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    started_utc = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load = _loadavg_1min()
    if load is not None and load > 0.5:
        print(f"[state_bench] warning: load average {load:.2f} before the start; other processes "
              "share the CPUs and memory bandwidth, times will be noisy", file=sys.stderr, flush=True)
    records = []
    last_cost: dict[int, tuple[int, float]] = {}  # ranks -> (n, seconds) of the last configuration run
    with tempfile.TemporaryDirectory(prefix="state_bench-") as tmp:
        args.qasm_dir = args.qasm_dir or tmp
        made = {}
        if any(kind in QISKIT_KINDS for kind in args.kinds):
            for n in sorted(set(qubits) | {CROSSCHECK_QUBITS}):
                made[n] = write_qiskit_qasm(Path(args.qasm_dir), n, args.seed)
                if made[n]["status"] != "ok":
                    print(f"[state_bench] qiskit circuits not made: {made[n]['message']}", file=sys.stderr)
                    args.kinds = [k for k in args.kinds if k not in QISKIT_KINDS]
                    break
        for n in sorted(qubits):
            for ranks in args.ranks:
                elapsed_s = time.perf_counter() - start
                estimate_s = _estimate_s(last_cost.get(ranks), n)
                if args.max_total_s and estimate_s is not None and elapsed_s + estimate_s > args.max_total_s:
                    records.append({"ranks": ranks, "num_qubits": n, "status": "skipped",
                                    "message": f"time budget: {elapsed_s:.0f} s spent, this configuration "
                                               f"estimated at {estimate_s:.0f} s, --max-total-s {args.max_total_s:.0f}"})
                    print(f"[state_bench] ranks={ranks} n={n} skipped (time budget)", file=sys.stderr, flush=True)
                    continue
                print(f"[state_bench] ranks={ranks} n={n} ...", file=sys.stderr, flush=True)
                begun = time.perf_counter()
                load_before = _loadavg_1min()
                record = run_configuration(args, ranks, n, Path(tmp))
                cost_s = time.perf_counter() - begun
                record["configuration_wall_s"] = cost_s
                # Our own processes raise the load too; more than our ranks means someone else ran.
                record["loadavg_1min"] = {"before": load_before, "after": _loadavg_1min()}
                if record.get("status") == "ok":
                    last_cost[ranks] = (n, cost_s)
                _amp0_agreement(record)
                records.append(record)
                print(f"[state_bench]   {record.get('status')} in {cost_s:.1f} s", file=sys.stderr, flush=True)
        try:
            check = crosscheck(args) if not args.skip_aer else {"status": "not run"}
        except Exception as exc:  # noqa: BLE001 - a benchmark records failures and goes on
            check = {"status": "error", "message": repr(exc)}
    device = next((r.get("device") for r in records if r.get("device")), None)
    machine = machine_info(args, device)
    machine["loadavg_1min_at_start"] = load
    machine["date_utc"] = started_utc
    machine["finished_utc"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    machine["notes"] = ([args.notes] if args.notes else []) + _auto_notes(args, machine["usable_cpus"])
    combined = {
        "benchmark": "state_bench", "schema_version": SCHEMA_VERSION, "machine": machine,
        "config": {"ranks": list(args.ranks), "qubits": qubits, "precision": args.precision,
                   "backend": args.backend, "depth": args.depth, "seed": args.seed, "repeats": args.repeats,
                   "min_repeats": MIN_REPEATS, "point_budget_s": args.point_budget_s,
                   "timeout_s": args.timeout_s, "max_total_s": args.max_total_s,
                   "aer_no_fusion_max_qubits": args.aer_no_fusion_max_qubits, "circuits": args.circuits,
                   "kinds": list(args.kinds), "unfused_max_qubits": args.unfused_max_qubits,
                   "aer_python": args.aer_python, "qiskit_circuits": {str(k): v for k, v in made.items()}},
        "crosscheck_vs_aer": check,
        "runs": records,
        "total_wall_s": time.perf_counter() - start,
    }
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
    path = results_dir / f"state_bench-{args.backend}-{args.label}-{day}.json"
    if path.exists():
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%H%M%S")
        path = results_dir / f"state_bench-{args.backend}-{args.label}-{day}-{stamp}.json"
    path.write_text(json.dumps(combined, indent=1) + "\n")
    print(summary_table(records))
    print(f"crosscheck vs aer at n={CROSSCHECK_QUBITS}: {json.dumps(check)}")
    print(f"(roof) = achieved / copy bandwidth; times per gate in ms; circuits in s. Total {combined['total_wall_s']:.0f} s")
    print(f"wrote {path}")
    return 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("driver", "worker", "aer"), default="driver",
                        help="driver (default) launches workers; worker/aer are internal")
    parser.add_argument("--ranks", type=int, nargs="+", default=list(DEFAULT_RANKS), help="rank counts (default 1 2 4)")
    parser.add_argument("--qubits", type=int, nargs="+", default=None,
                        help=f"state sizes (default {' '.join(map(str, DEFAULT_QUBITS))})")
    parser.add_argument("--quick", action="store_true",
                        help=f"sizes {' '.join(map(str, QUICK_QUBITS))} (unless --qubits is given)")
    parser.add_argument("--precision", choices=("complex128", "complex64"), default="complex128")
    parser.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    parser.add_argument("--depth", type=int, default=10, help="layers of the random circuit (default 10)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--circuits", choices=("auto", "generators", "builtin"), default="auto",
                        help="where the QFT/random circuits come from (auto: dqsim.circuit.generators if present)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per point (default 5)")
    parser.add_argument("--point-budget-s", type=float, default=4.0,
                        help=f"stop repeating a point after this many seconds (at least {MIN_REPEATS} repeats)")
    parser.add_argument("--timeout-s", type=float, default=900.0,
                        help="per-configuration timeout for the worker and for aer (default 900)")
    parser.add_argument("--skip-aer", action="store_true", help="do not run qiskit-aer")
    parser.add_argument("--kinds", nargs="+", default=["qft", "random", *QISKIT_KINDS],
                        choices=["qft", "random", *QISKIT_KINDS],
                        help="circuits to run: the project's qft/random and the qiskit-made ones (default all)")
    parser.add_argument("--unfused-max-qubits", type=int, default=22,
                        help="also run dqsim with fusion off up to this size (default 22)")
    default_aer = Path("/work/venvs/aer/bin/python")
    parser.add_argument("--aer-python", default=str(default_aer) if default_aer.exists() else sys.executable,
                        help="Python with qiskit-aer for the aer runs (default /work/venvs/aer/bin/python "
                             "where it exists, else this Python)")
    parser.add_argument("--aer-no-fusion-max-qubits", type=int, default=22,
                        help="also run aer with fusion off up to this size (default 22; 0: never)")
    parser.add_argument("--max-total-s", type=float, default=600.0,
                        help="skip a configuration whose estimated time would end the run after this many "
                             "seconds (default 600; 0: no limit); sizes run smallest first, all rank counts each")
    parser.add_argument("--label", default=None, help="machine label in the file name (default hostname)")
    parser.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR))
    parser.add_argument("--notes", default="", help="free text stored in machine.notes")
    # internal
    parser.add_argument("--num-qubits", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--qasm-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < MIN_REPEATS:
        parser.error(f"--repeats = {args.repeats} must be >= {MIN_REPEATS}")
    if any(r < 1 for r in args.ranks):
        parser.error(f"--ranks {args.ranks}: every rank count must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.mode == "worker":
        return worker_main(args)
    if args.mode == "aer":
        return aer_main(args)
    return driver_main(args)


if __name__ == "__main__":
    sys.exit(main())
