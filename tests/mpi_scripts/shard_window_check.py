"""Rank-bit exchanges of shards in a node-shared window, against the slot and message paths.

Usage: python shard_window_check.py OUT.npz
The same random states and operations run three times, with
``DQSIM_SHARED_EXCHANGE`` = ``1`` (shards in one MPI-3 shared-memory window,
pieces swapped in place between them), ``slots`` (ordinary shards, pieces
through the shared slots) and ``0`` (messages). Rank 0 saves the gathered
states of every path; the test compares them bit for bit.
"""

import gc
import os
import sys

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.state.gates import gate_op
from dqsim.state.layout import BitSwaps
from dqsim.state.sharded import ShardedState
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guard import run_guarded  # noqa: E402
from state_check import random_ops  # noqa: E402

MODES = ("1", "slots", "0")


def random_vector(comm, n, seed, precision):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    return comm.bcast((v / np.linalg.norm(v)).astype(precision))


def run(comm, backend, mode, precision, results):
    os.environ["DQSIM_SHARED_EXCHANGE"] = mode
    L = 10
    g = comm.size.bit_length() - 1
    n = L + g
    out = {}
    # Single exchanges: top local bit (contiguous), bit 3 (runs of 8), bit 0, and two pairs at once.
    cases = [("top", [(n - 1, L - 1)]), ("bit3", [(n - 1, 3)]), ("bit0", [(L, 0)])]
    if g >= 2:
        cases.append(("two", [(L, 3), (L + 1, 0)]))
        cases.append(("twotop", [(L, L - 1), (L + 1, L - 2)]))
    for label, pairs in cases:
        s = ShardedState(n, comm, precision=precision, backend=backend, seed=1)
        out[f"{label}_windowed"] = np.array([s._shared is not None])
        s.set_state(random_vector(comm, n, 7, precision))
        out[f"{label}_initial"] = comm.gather_array(s.amplitudes)
        s.apply_ops([BitSwaps(tuple(pairs))])
        out[f"{label}_sent"] = np.array([s.bytes_exchanged])
        out[f"{label}_shard"] = comm.gather_array(s.amplitudes)  # physical order: the layout moved
        del s
    # A random circuit (many exchanges, small pieces for the other paths), then a register that
    # grows by a qubit which then takes part in exchanges.
    s = ShardedState(n, comm, precision=precision, backend=backend, seed=3,
                     exchange_chunk_bytes=4096, kernel_chunk_bytes=2048)
    s.apply_ops(random_ops(n, 150, seed=5))
    out["circuit"] = s.gather()
    out["circuit_exchanges"] = np.array([s.num_exchanges])
    new = s.add_qubit_()
    out["grown_windowed"] = np.array([s._shared is not None and s._shared.holds(s.amplitudes)])
    s.apply(gate_op("h", [new]))
    s.apply(gate_op("cx", [new, n - 1]))
    s.apply_ops(random_ops(n + 1, 60, seed=6))
    out["grown"] = s.gather()
    s.add_qubit_()
    s.apply_ops(random_ops(n + 2, 40, seed=8))
    out["grown2"] = s.gather()
    out["grown2_exchanges"] = np.array([s.num_exchanges])
    del s
    gc.collect()
    for key, value in out.items():
        results[f"{precision}_{mode}_{key}"] = value


def main(out_path):
    comm = comm_mod.init()
    backend = backend_mod.select("numpy")
    results = {}
    for precision in ("complex128", "complex64"):
        for mode in MODES:
            run(comm, backend, mode, precision, results)
    # Windows of dropped states are freed at the next allocation: many states, few windows alive.
    os.environ["DQSIM_SHARED_EXCHANGE"] = "1"
    for _ in range(6):
        s = ShardedState(12, comm, backend=backend)
        s.apply(gate_op("h", [11]))
        del s
    live = comm.allreduce_max(len(comm._windows)) if hasattr(comm, "_windows") else 0
    results["live_windows"] = np.array([live])
    if comm.rank == 0:
        np.savez(out_path, **{k: v for k, v in results.items() if v is not None})


if __name__ == "__main__":
    run_guarded(main, sys.argv[1])
