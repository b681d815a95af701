"""Rank-bit exchanges through the host-staged (GPU) path, on NumPy arrays, against the direct path.

Usage: python staged_exchange_check.py OUT.npz
A stand-in backend says it is a GPU but keeps NumPy arrays, so the exchange
pipeline stages every piece through its host buffers (``Backend.pinned_empty``,
``to_host_into``, ``copy_from_host``) exactly as on a GPU without CUDA-aware
MPI. Rank 0 saves the gathered states of both paths; the test compares them.
"""

import sys

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.state.exchange import swap_rank_bits


class StagedNumpy(backend_mod.Backend):
    """NumPy arrays behind the GPU branches of the exchange (host staging)."""

    staged_copies = 0

    @property
    def is_gpu(self) -> bool:
        return True

    def synchronize(self) -> None:
        pass

    def to_host_into(self, array, host):
        StagedNumpy.staged_copies += 1
        host.reshape(array.shape)[...] = array
        return host

    def to_host(self, array):
        return np.array(array)

    def copy_from_host(self, host, device) -> None:
        device[...] = host.reshape(device.shape)

    def pinned_empty(self, size, dtype):
        return np.empty(int(size), dtype=dtype)


def main(out_path):
    comm = comm_mod.init()
    direct = backend_mod.select("numpy")
    staged = StagedNumpy("cupy", np)
    num_local = 12
    rng = np.random.default_rng(100 + comm.rank)
    shard = rng.normal(size=1 << num_local) + 1j * rng.normal(size=1 << num_local)
    results = {}
    rank_bits = comm.size.bit_length() - 1
    for label, pairs in [("top", [(num_local + rank_bits - 1, num_local - 1)]), ("low", [(num_local, 3)]),
                         ("two", [(num_local, 0), (num_local + rank_bits - 1, 7)])]:
        if len({p for p, _ in pairs}) != len(pairs) or any(p >= num_local + rank_bits for p, _ in pairs):
            continue
        outs = []
        for backend in (direct, staged):
            psi = shard.copy()
            # Pieces of 512 bytes: many pieces, so the pipeline's buffers are reused in turn.
            sent = swap_rank_bits(np, backend, comm, psi, num_local, pairs, chunk_bytes=1024)
            outs.append(psi)
            results[f"{label}_{'staged' if backend is staged else 'direct'}_sent"] = np.array([sent])
        results[f"{label}_direct"], results[f"{label}_staged"] = (comm.gather_array(o) for o in outs)
    results["initial"] = comm.gather_array(shard)
    results["staged_copies"] = np.array([StagedNumpy.staged_copies])
    if comm.rank == 0:
        np.savez(out_path, **results)


if __name__ == "__main__":
    main(sys.argv[1])
