"""Run a fixed set of state-engine workloads and save the results (rank 0).

Usage: python state_check.py OUT.npz
Run under 1, 2 or 4 ranks; the test compares the files with each other and
with a one-process dense reference.
"""

import sys

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.state import noise
from dqsim.state.gates import GATES, gate_op
from dqsim.state.sharded import ShardedState


def random_ops(n, count, seed, *, high_only=False):
    rng = np.random.default_rng(seed)
    names = sorted(GATES)
    ops = []
    for _ in range(count):
        name = names[rng.integers(len(names))]
        spec = GATES[name]
        pool = np.arange(n - 3, n) if high_only and spec.num_qubits <= 3 else np.arange(n)
        qubits = rng.choice(pool, spec.num_qubits, replace=False)
        ops.append(gate_op(name, [int(q) for q in qubits], rng.uniform(0, 2 * np.pi, spec.num_params)))
    return ops


def main(out_path):
    comm = comm_mod.init()
    backend = backend_mod.select("auto", node_local_rank=comm.node_local_rank)
    results = {}
    small = dict(exchange_chunk_bytes=512, kernel_chunk_bytes=256)
    for label, n, count, high in [("rand10", 10, 300, False), ("rand13", 13, 120, False),
                                  ("high8", 8, 200, True)]:
        s = ShardedState(n, comm, seed=11 + n + 100 * high, backend=backend, **small)
        s.apply_ops(random_ops(n, count, seed=n * 7 + high))
        results[f"{label}_exchanges"] = np.array([s.num_exchanges])
        results[f"{label}_probs"] = s.probabilities([n - 1, 0, 3])
        results[f"{label}_expect"] = np.array([
            s.expectation([(0.5, "XZ", (n - 1, 0)), (-1.0, "YY", (1, n - 2))]),
            s.expectation("ZZZ", [0, n - 1, 2]), s.expectation("XYZ", [n - 1, n - 2, n - 3])])
        results[f"{label}_shots"] = s.sample(2000, stream=None)
        results[f"{label}_shots_sub"] = s.sample(500, [n - 1, 2])
        state = s.gather()
        if comm.rank == 0:
            results[f"{label}_state"] = state
        outcomes = s.measure([0, n - 1, 3])
        outcomes += s.measure([n - 2], basis="X") + s.measure([1], basis="Y")
        outcomes.append(s.reset(n - 1))
        results[f"{label}_outcomes"] = np.array(outcomes)
        after = s.gather()
        if comm.rank == 0:
            results[f"{label}_after"] = after
    # Relayout (checkpoint resume) and a register that grows by a scratch qubit (two tiers).
    e = ShardedState(7, comm, seed=8, backend=backend, **small)
    e.apply_ops(random_ops(7, 50, seed=6))
    before = e.gather()
    e.relayout_([6, 0, 5, 1, 4, 2, 3])
    relaid = e.gather()
    new = e.add_qubit_()
    e.apply(gate_op("cx", [0, new]))
    e.apply(gate_op("h", [new]))
    grown = e.gather()
    if comm.rank == 0:
        results["relayout_before"], results["relayout_after"], results["grown"] = before, relaid, grown
    # Overlap of two states with different layouts.
    a = ShardedState(9, comm, seed=3, backend=backend, **small)
    b = ShardedState(9, comm, seed=3, backend=backend, **small)
    ops = random_ops(9, 80, seed=5)
    a.apply_ops(ops)
    b.apply_ops(ops[:60])
    results["overlap"] = np.array([a.overlap(b)])
    # complex64
    c = ShardedState(10, comm, precision="complex64", seed=2, backend=backend)
    c.apply_ops(random_ops(10, 100, seed=9))
    state = c.gather()
    if comm.rank == 0:
        results["c64_state"] = state
    # Noise trajectories: outcomes of the draws must not depend on the rank count.
    d = ShardedState(8, comm, seed=21, backend=backend, **small)
    d.apply_ops(random_ops(8, 60, seed=4))
    stream = d.stream("noise")
    for q in range(8):
        noise.depolarize(d, q, 0.4, stream)
        noise.amplitude_damp(d, (q + 3) % 8, 0.3, stream)
    noise.depolarize2(d, 0, 7, 0.5, stream)
    noise.idle(d, 6, duration_s=1e-3, t1_s=2e-3, t2_s=1e-3, stream=stream)
    state = d.gather()
    if comm.rank == 0:
        results["noise_state"] = state
        np.savez(out_path, **results)


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        comm_mod.init().abort(1)
