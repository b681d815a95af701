"""Dense two-qubit gates between two QPUs (each run as TeleData: two pairs) on one rank and on however many run
this (tests/test_dqc_dense.py).

Usage: python dqc_dense_check.py OUT.npz
Rank 0 first runs the circuit alone (a one-rank communicator and network: ``one_<name>``), then every rank runs it
with the QPUs and the register sharded over the ranks (``replicate_max_qubits = 0``: ``two_<name>``); rank 0 saves
both: the data qubits' amplitudes in logical order, the shots, the end time, the link counts and the fidelity.
"""

import sys

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit.ir import Circuit
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios.dqc import run_dqc


def _haar(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr((rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))) / np.sqrt(2))
    return q * (np.diag(r) / np.abs(np.diag(r)))


def _circuit() -> Circuit:
    """Qubits 0, 1 on QPU 0 and 2, 3 on QPU 1; two dense gates between the QPUs, one each way."""
    c = Circuit(4).gate("ry", 0, params=[0.7]).gate("h", 1).gate("cx", 1, 0).gate("rx", 2, params=[1.1])
    c.gate("ry", 3, params=[2.0]).unitary(_haar(11), 0, 2).gate("cx", 2, 3).unitary(_haar(12), 3, 1)
    return c.measure_all()


def _results(comm, backend) -> dict:
    graph = topology.line(2, link=LinkSpec(distance_km=5.0, source_fidelity=1.0))
    specs = [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=2) for n in graph.nodes]
    run = run_dqc(_circuit(), comm=comm, backend=backend, network=Network(graph, specs, num_ranks=comm.size),
                  assignment=[0, 0, 1, 1], seed=3, shots=50, timeline=False, replicate_max_qubits=0)
    register = run.state.gather()  # on rank 0 (None elsewhere)
    if register is None:
        return {}
    n = len(run.regmap.qubit_of_logical)
    index = np.zeros(1 << n, dtype=np.int64)
    for logical, qubit in enumerate(run.regmap.qubit_of_logical):
        index |= ((np.arange(1 << n) >> logical) & 1) << qubit
    return dict(state=register[index], shots=run.shots, time_ps=np.array([run.end_time_ps]),
                links=np.array(run.links), pairs=np.array([sum(row[2] for row in run.links)]),
                nonlocal_=np.array([run.num_nonlocal_gates]), fidelity=np.array([run.fidelity]),
                register_ranks=np.array([run.state.num_ranks]))


def main(out_path):
    comm = comm_mod.init()
    backend = backend_mod.select("auto", node_local_rank=comm.node_local_rank)
    results = {}
    if comm.rank == 0:
        results.update({f"one_{key.rstrip('_')}": value
                        for key, value in _results(comm_mod.SingleComm(), backend).items()})
    two = _results(comm, backend)
    if comm.rank == 0:
        results.update({f"two_{key.rstrip('_')}": value for key, value in two.items()})
        np.savez(out_path, **results)


if __name__ == "__main__":
    from guard import run_guarded  # beside this script

    run_guarded(main, sys.argv[1])
