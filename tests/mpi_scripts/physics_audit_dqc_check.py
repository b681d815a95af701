"""Final data-qubit state of a QASM circuit split over a 4-QPU line, on however many ranks run this (the
physics audit of distributed computing, tests/test_physics_audit_dqc.py).

Usage: python physics_audit_dqc_check.py OUT.npz CIRCUIT.qasm SCHEME
Runs the circuit with the register sharded over the ranks (``replicate_max_qubits = 0``) and saves, on rank 0,
the data qubits' amplitudes in logical order (qubit 0 least significant) and the register's rank count.
"""

import sys

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit.qasm import load_qasm_file
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios.dqc import run_dqc


def main(out_path, qasm_path, scheme):
    comm = comm_mod.init()
    backend = backend_mod.select("auto", node_local_rank=comm.node_local_rank)
    graph = topology.line(4, link=LinkSpec(distance_km=1.0))
    specs = [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=2) for n in graph.nodes]
    run = run_dqc(load_qasm_file(qasm_path), comm=comm, backend=backend,
                  network=Network(graph, specs, num_ranks=comm.size), scheme=scheme, seed=5, shots=0,
                  timeline=False, replicate_max_qubits=0)
    register = run.state.gather()
    if comm.rank == 0:
        n = len(run.regmap.qubit_of_logical)
        index = np.zeros(1 << n, dtype=np.int64)
        for logical, qubit in enumerate(run.regmap.qubit_of_logical):
            index |= ((np.arange(1 << n) >> logical) & 1) << qubit
        np.savez(out_path, state=register[index], register_ranks=np.array([run.state.num_ranks]),
                 nonlocal_gates=np.array([run.num_nonlocal_gates]))


if __name__ == "__main__":
    from guard import run_guarded  # beside this script

    run_guarded(main, *sys.argv[1:])
