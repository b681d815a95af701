"""Lifetime and room of node-shared shard windows (MPIComm.node_shared_array) on several ranks.

Usage: python shard_window_life.py OUT.npz
Rank 0 saves, for tests/test_shard_window.py:

* ``grow_windows``: windows alive after ``add_qubit_`` twice (the old window is
  freed at once, not at the next allocation);
* ``small_*``: ``/dev/shm`` (its free-space query, ``os.statvfs``) made just
  large enough for the first shards: the grown register falls back to an
  ordinary array, its old window is freed, and the amplitudes equal those of
  ``DQSIM_SHARED_EXCHANGE=slots`` bit for bit; ``none_*``: no room at all;
* ``cycle_windowed``: with room for one state's window, a state kept only by a
  reference cycle (collector off) does not push the next state off the window;
* ``order_*``: states dropped in different orders on different ranks: only
  windows dropped everywhere are freed, and a state kept everywhere still
  exchanges correctly;
* ``nodes_*``: ranks reported on several nodes take the message path, same amplitudes;
* ``nonumba_*``: without numba's in-place swap no window is made; slots, same amplitudes;
* ``mixed_setting_windowed``: ``DQSIM_SHARED_EXCHANGE=slots`` on rank 0 only gives no window anywhere.

The script ends with a window alive (the job must still exit with 0).
"""

import gc
import os
import sys
from types import SimpleNamespace

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.state.gates import gate_op
from dqsim.state.sharded import ShardedState
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guard import run_guarded  # noqa: E402
from state_check import random_ops  # noqa: E402

_statvfs = os.statvfs


def window_bytes(comm):
    """Bytes of every rank's part of the windows ``comm`` holds now."""
    return sum(len(win.Shared_query(r)[0]) for win in comm._windows.values() for r in range(comm.size))


def limit_shm(comm, size_bytes):
    """Make the free-space query of /dev/shm report a ``size_bytes`` /dev/shm less the windows alive (None: real)."""
    def fake(path):
        if size_bytes is None or str(path) != "/dev/shm":
            return _statvfs(path)
        return SimpleNamespace(f_bavail=max(0, int(size_bytes) - window_bytes(comm)), f_frsize=1)
    os.statvfs = fake


def grown_run(comm, backend, n):
    """A random circuit, a qubit added, more gates, another qubit: the gathered states and window flags."""
    s = ShardedState(n, comm, backend=backend, seed=3, exchange_chunk_bytes=4096, kernel_chunk_bytes=2048)
    flags = [s._shared is not None]
    s.apply_ops(random_ops(n, 80, seed=5))
    new = s.add_qubit_()
    flags.append(s._shared is not None)
    flags.append(comm.allreduce_max(len(comm._windows)))  # windows alive after the first growth
    s.apply(gate_op("h", [new]))
    s.apply(gate_op("cx", [new, n - 1]))
    s.apply_ops(random_ops(n + 1, 40, seed=6))
    first = s.gather()
    s.add_qubit_()
    flags.append(s._shared is not None)
    s.apply_ops(random_ops(n + 2, 40, seed=8))
    return first, s.gather(), np.array(flags), s.num_exchanges


def main(out_path):
    comm = comm_mod.init()
    backend = backend_mod.select("numpy")
    out = {}
    n = 10 + comm.size.bit_length() - 1
    shard_bytes = (1 << 10) * 16  # complex128 shard of the first register, per rank

    os.environ["DQSIM_SHARED_EXCHANGE"] = "slots"
    ref_first, ref_second, _flags, ref_exchanges = grown_run(comm, backend, n)
    os.environ["DQSIM_SHARED_EXCHANGE"] = "1"

    gc.collect()
    comm.free_released_windows()
    first, second, flags, _ = grown_run(comm, backend, n)
    out["grow_flags"] = flags
    out["grow_windows"] = np.array([comm.allreduce_max(len(comm._windows))])
    out["grow_equal"] = np.array([comm.rank != 0 or (np.array_equal(first, ref_first)
                                                     and np.array_equal(second, ref_second))])
    gc.collect()
    comm.free_released_windows()

    # Room for the first shards (and a page each) only, with the 90% margin: the grown ones do not fit.
    limit_shm(comm, comm.size * (shard_bytes + 4096) / 0.9 + 1)
    first, second, flags, exchanges = grown_run(comm, backend, n)
    out["small_flags"] = flags
    out["small_windows"] = np.array([comm.allreduce_max(len(comm._windows))])
    out["small_equal"] = np.array([comm.rank != 0 or (np.array_equal(first, ref_first)
                                                      and np.array_equal(second, ref_second))])
    out["small_exchanges"] = np.array([exchanges == ref_exchanges])
    limit_shm(comm, 0)
    first, second, flags, _ = grown_run(comm, backend, n)
    out["none_flags"] = flags
    out["none_equal"] = np.array([comm.rank != 0 or (np.array_equal(first, ref_first)
                                                     and np.array_equal(second, ref_second))])

    # Room for one state: a state in a reference cycle, dropped with the collector off.
    gc.collect()
    comm.free_released_windows()
    limit_shm(comm, comm.size * (shard_bytes + 4096) / 0.9 + 1)
    gc.disable()
    try:
        s = ShardedState(n, comm, backend=backend)
        s.me = s
        del s
        t = ShardedState(n, comm, backend=backend)
        out["cycle_windowed"] = np.array([t._shared is not None])
        del t
    finally:
        gc.enable()
    limit_shm(comm, None)

    # Different drop orders on different ranks.
    gc.collect()
    comm.free_released_windows()
    kept = ShardedState(n, comm, backend=backend, seed=2)
    kept.apply_ops(random_ops(n, 30, seed=9))
    a, b, c = (ShardedState(n, comm, backend=backend) for _ in range(3))
    _kept_i, a_i, b_i, c_i = sorted(comm._windows)[-4:]
    if comm.rank == 0:
        del a, b
    else:
        del c, b
    d = ShardedState(n, comm, backend=backend)  # alive at exit
    alive = sorted(comm._windows)
    out["order_new_windowed"] = np.array([d._shared is not None])
    out["order_freed"] = np.array([comm.allreduce_min(int(b_i not in alive))])  # b: dropped everywhere
    out["order_kept"] = np.array([comm.allreduce_min(int(a_i in alive and c_i in alive))])  # a, c
    kept.apply_ops(random_ops(n, 60, seed=10))
    os.environ["DQSIM_SHARED_EXCHANGE"] = "slots"
    ref = ShardedState(n, comm, backend=backend, seed=2)
    ref.apply_ops(random_ops(n, 30, seed=9))
    ref.apply_ops(random_ops(n, 60, seed=10))
    os.environ["DQSIM_SHARED_EXCHANGE"] = "1"
    got, want = kept.gather(), ref.gather()
    out["order_equal"] = np.array([comm.rank != 0 or np.array_equal(got, want)])

    # Ranks on several nodes (Split_type found fewer ranks on this node than in the job): no window, messages.
    comm.node_local_size = 1
    s = ShardedState(n, comm, backend=backend, seed=2)
    out["nodes_path"] = np.array([s._shared is None and s.exchange_path == "MPI messages"
                                  and comm.shared_exchange() == "messages" and comm.node_shared_slots(64) is None])
    s.apply_ops(random_ops(n, 30, seed=9))
    s.apply_ops(random_ops(n, 60, seed=10))
    got = s.gather()
    out["nodes_equal"] = np.array([comm.rank != 0 or np.array_equal(got, want)])
    comm.node_local_size = comm.size

    # Without numba (no in-place swap): no window, slots named with the reason, same amplitudes.
    from dqsim.backend import fast as backend_fast
    real_has = backend_fast.has_cross_swap
    backend_fast.has_cross_swap = lambda: False
    try:
        s = ShardedState(n, comm, backend=backend, seed=2)
        out["nonumba_path"] = np.array([s._shared is None and s.exchange_path ==
                                        "shared-memory slots (numba, which the in-place swap needs, is not installed)"])
        s.apply_ops(random_ops(n, 30, seed=9))
        s.apply_ops(random_ops(n, 60, seed=10))
        got = s.gather()
        out["nonumba_equal"] = np.array([comm.rank != 0 or np.array_equal(got, want)])
        del s
    finally:
        backend_fast.has_cross_swap = real_has

    # DQSIM_SHARED_EXCHANGE=slots on rank 0 only: every rank agrees on ordinary shards (no hang).
    os.environ["DQSIM_SHARED_EXCHANGE"] = "slots" if comm.rank == 0 else "1"
    s = ShardedState(n, comm, backend=backend)
    out["mixed_setting_windowed"] = np.array([comm.allreduce_max(int(s._shared is not None))])
    os.environ["DQSIM_SHARED_EXCHANGE"] = "1"
    if comm.rank == 0:
        np.savez(out_path, **out)
    # d, kept and a or c stay alive: their windows are still allocated when the interpreter exits.
    comm.barrier()


if __name__ == "__main__":
    run_guarded(main, sys.argv[1])
