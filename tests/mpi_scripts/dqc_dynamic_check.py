"""Run dynamic circuits over a 3-QPU line, shot by shot, and save what they produced (rank 0).

Usage: python dqc_dynamic_check.py OUT.npz [PLACEMENT ...]
Runs the circuits once per PLACEMENT, in one launch, and saves placement i's arrays as ``p<i>_<name>``;
a PLACEMENT, e.g. "1,0,1", puts nodes on ranks ("default", the only one where none is given: node i
on rank i, one block per rank on 2). The test compares the arrays of 1, 2 and 4 ranks with each other.
"""

import sys
from pathlib import Path

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit import qasm
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios.dqc import run_dqc, run_trajectories

ROOT = Path(__file__).resolve().parents[2]
TELEPORT = (ROOT / "jobs" / "circuits" / "teleport_feedforward.qasm").read_text()

#: Reset and reuse, a nonlocal gate inside an `if` (routed through qpu1), a bit measured inside a block on
#: another QPU than the one that held it (qpu2 takes c[2] over from qpu0), and a nested `if`.
#: Qubits 0 and 1 are on qpu0, 2 on qpu1, 3 on qpu2 (ASSIGNMENT).
RESET = """OPENQASM 3.0;
include "stdgates.inc";
qubit[4] q;
bit[4] c;
h q[0];
h q[1];
cx q[0], q[2];
c[0] = measure q[0];
reset q[0];
ry(0.7) q[0];
c[2] = measure q[0];
if (c[0] == 1) {
  cx q[1], q[3];
  c[2] = measure q[3];
} else {
  h q[3];
}
if (c[2] == 0) { x q[1]; }
reset q[3];
if (c[2] == 1) { if (c[0] == 1) { x q[3]; } }
c[1] = measure q[1];
c[3] = measure q[3];
"""
ASSIGNMENT = {"teleport": [0, 1, 2], "reset": [0, 0, 1, 2]}


def run_circuit(label, text, *, comm, backend, shots, seed, placement=None, link=None):
    """``shots`` trajectories of ``text`` over a 3-QPU line of 10 km links (collective)."""
    graph = topology.line(3, link=link or LinkSpec(distance_km=10.0))
    names = list(graph.nodes)
    specs = [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=2) for n in names]
    circuit = qasm.load_qasm(text)
    network = Network(graph, specs, num_ranks=comm.size, placement=placement)

    def one(run_seed, run_shots, timeline):
        return run_dqc(circuit, comm=comm, backend=backend, network=network, seed=run_seed, shots=run_shots,
                       assignment=ASSIGNMENT[label], timeline=timeline)

    return run_trajectories(one, seed=seed, shots=shots, trajectories=shots, timeline=True)


def main(out_path, placements):
    from guard import each_placement  # beside this script (not on the path of the doctest pass)

    comm = comm_mod.init()
    backend = backend_mod.select("auto", node_local_rank=comm.node_local_rank)
    results = {}
    for index, placement in each_placement(placements):
        for label, text in (("teleport", TELEPORT), ("reset", RESET)):
            run = run_circuit(label, text, comm=comm, backend=backend, shots=12, seed=5, placement=placement)
            results[f"p{index}_{label}_shots"] = run.shots
            results[f"p{index}_{label}_time_ps"] = np.array([run.end_time_ps])
            results[f"p{index}_{label}_links"] = np.array(run.links)
            if comm.rank == 0:
                results[f"p{index}_{label}_timeline"] = np.array([(t, n) for t, n, _k, _d in run.timeline])
                results[f"p{index}_{label}_kinds"] = np.array([k for _t, _n, k, _d in run.timeline])
    if comm.rank == 0:
        np.savez(out_path, **results)


if __name__ == "__main__":
    from guard import run_guarded  # beside this script

    run_guarded(main, sys.argv[1], sys.argv[2:])
