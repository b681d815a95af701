"""Draw a distributed circuit's shots in chunks and in one piece, and save both (rank 0).

Usage: python many_shots_check.py OUT.npz

A random circuit on a 4-QPU line with readout errors, its register sharded over the ranks
(``replicate_max_qubits=0``), 5,000 shots: drawn in chunks of 777 (``chunk_<name>``) and in one
chunk (``whole_<name>``). The test compares them, and the arrays of 1 and 2 ranks.
"""

import sys

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit.generators import random_circuit
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios import dqc

SHOTS = 5000
CHUNK = 777


def run(comm, backend, chunk_shots: int) -> dict:
    graph = topology.line(4, link=LinkSpec(distance_km=10.0))
    specs = [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=2, measure_error_probability=0.1 * (i + 1))
             for i, n in enumerate(graph.nodes)]
    network = Network(graph, specs, num_ranks=comm.size)
    real = dqc.chunk_shots_for
    dqc.chunk_shots_for = lambda state: chunk_shots
    try:
        result = dqc.run_dqc(random_circuit(8, 5, seed=3, measure=True), comm=comm, backend=backend,
                             network=network, seed=7, shots=SHOTS, timeline=False, replicate_max_qubits=0)
    finally:
        dqc.chunk_shots_for = real
    return {"shots": result.shots, "counts": np.array([int(b, 2) for b in result.counts]),
            "numbers": np.array(list(result.counts.values())), "register_ranks": np.array([result.state.num_ranks])}


def main(out_path):
    comm = comm_mod.init()
    backend = backend_mod.select("auto", node_local_rank=comm.node_local_rank)
    results = {}
    for label, chunk_shots in (("chunk", CHUNK), ("whole", SHOTS)):
        for key, value in run(comm, backend, chunk_shots).items():
            results[f"{label}_{key}"] = value
    if comm.rank == 0:
        np.savez(out_path, **results)


if __name__ == "__main__":
    from guard import run_guarded  # beside this script

    run_guarded(main, sys.argv[1])
