"""Run QASM circuits with and without gate fusion and save the final states (rank 0).

Usage: python fusion_check.py OUT.npz CIRCUIT.qasm [CIRCUIT.qasm ...]
Run under 1, 2 or 4 ranks; the test compares the states with qiskit's.
"""

import sys

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit import fusion, qasm
from dqsim.state.sharded import ShardedState


def main(out_path, qasm_paths):
    comm = comm_mod.init()
    backend = backend_mod.select("auto", node_local_rank=comm.node_local_rank)
    results = {}
    for index, path in enumerate(qasm_paths):
        circuit = qasm.load_qasm_file(path)
        ops = [g.to_op() for g in circuit.gates()]
        for label in ("fused", "plain"):
            # Small exchange pieces: several pieces per round, so the pipeline overlaps.
            s = ShardedState(circuit.num_qubits, comm, backend=backend, exchange_chunk_bytes=1024)
            if label == "fused":
                run = fusion.fuse_ops(ops, layout=s.layout, costs=fusion.costs_for(backend))
                results[f"c{index}_{label}_num_ops"] = np.array([len(run)])
            else:
                run = ops
            s.apply_ops(run)
            results[f"c{index}_{label}_exchanges"] = np.array([s.num_exchanges])
            state = s.gather()
            if comm.rank == 0:
                results[f"c{index}_{label}_state"] = state
    if comm.rank == 0:
        np.savez(out_path, **results)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
