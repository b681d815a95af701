"""Run distributed circuits over a 4-QPU line and save what they produced (rank 0).

Usage: python dqc_check.py OUT.npz [PLACEMENT ...]
Runs the 4-QPU workloads once per PLACEMENT, in one launch, and saves placement i's arrays as
``p<i>_<name>``; a PLACEMENT, e.g. "0,0,0,1", puts nodes on ranks ("default", the only one where none
is given: one block per rank). The 8-QPU network above the old register cap runs once, with the
default placement (``big_<name>``). The test compares the arrays of 1, 2 and 4 ranks with each other.
"""

import sys

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit.generators import ghz, qft, random_circuit
from dqsim.circuit.ir import Circuit
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios.dqc import run_dqc

# The last fields: replicate_max_qubits of run_dqc (None: its default, so these tiny registers are held
# whole on every rank; 0: sharded over the ranks, the path larger registers take), and its fidelity_check.
def swaps() -> Circuit:
    """Random states, then SWAPs between QPUs (two teleportations each: two communication qubits per node)."""
    circuit = random_circuit(8, 2, seed=5)
    for a, b in ((0, 7), (2, 3), (5, 1)):
        circuit.gate("swap", a, b)
    return circuit.measure_all()


def teledata_late() -> Circuit:
    """TeleData CNOTs whose control sits on node0 (one communication qubit: the return pair requested once the
    control has arrived) and others between nodes with two (requested at the gate's start); qubits 2i, 2i+1 on
    node i."""
    circuit = Circuit(8)
    for q in range(8):
        circuit.gate("ry", q, params=[0.3 + 0.4 * q]).gate("rz", q, params=[0.2 * q])
    for control, target in ((0, 2), (1, 7), (3, 5), (6, 2), (0, 4)):
        circuit.gate("cx", control, target)
    return circuit.measure_all()


#: Per workload that sets them: communication qubits per node (else two each), its qubits' QPUs and its
#: schedule of pairs (else on demand).
NODE_COMM_QUBITS = {"teledata_late": (1, 2, 2, 2)}
ASSIGNMENTS = {"teledata_late": [0, 0, 1, 1, 2, 2, 3, 3]}
ENTANGLEMENT = {"ahead": "ahead", "ahead_teledata": "ahead", "ahead_noisy": "ahead"}

WORKLOADS = [
    ("ghz", lambda: ghz(8, measure=True), "telegate", 1.0, {}, None, "auto"),
    ("random", lambda: random_circuit(8, 5, seed=3, measure=True), "telegate", 1.0, {}, None, "auto"),
    ("random_sharded", lambda: random_circuit(8, 5, seed=3, measure=True), "telegate", 1.0, {}, 0, "auto"),
    ("random_sharded_inplace", lambda: random_circuit(8, 5, seed=3, measure=True), "telegate", 1.0, {}, 0,
     "in_place"),
    ("teledata", lambda: random_circuit(8, 3, seed=4, measure=True), "teledata", 1.0, {}, None, "auto"),
    ("swap", swaps, "telegate", 1.0, {}, None, "auto"),
    ("teledata_late", teledata_late, "teledata", 1.0, {}, None, "auto"),
    ("ahead", lambda: random_circuit(8, 5, seed=3, measure=True), "telegate", 1.0, {}, None, "auto"),
    ("ahead_teledata", lambda: random_circuit(8, 3, seed=4, measure=True), "teledata", 1.0, {}, None, "auto"),
    ("ahead_noisy", lambda: qft(6, measure=True), "telegate", 0.97, dict(t1_s=0.02, t2_s=0.01), None, "auto"),
    ("qft_noisy", lambda: qft(6, measure=True), "telegate", 0.97, dict(t1_s=0.02, t2_s=0.01), None, "auto"),
    ("qft_noisy_inplace", lambda: qft(6, measure=True), "telegate", 0.97, dict(t1_s=0.02, t2_s=0.01), None,
     "in_place"),
]


def run_workloads(comm, backend, placement) -> dict:
    """The 4-QPU workloads' results (rank 0's view), nodes placed by ``placement`` (None: blocks)."""
    results = {}
    for label, make, scheme, source_fidelity, memory, replicate, fidelity_check in WORKLOADS:
        link = LinkSpec(distance_km=10.0, source_fidelity=source_fidelity)
        graph = topology.line(4, link=link)
        names = list(graph.nodes)
        comm_qubits = NODE_COMM_QUBITS.get(label, (2,) * len(names))
        specs = [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=c, **memory) for n, c in zip(names, comm_qubits)]
        network = Network(graph, specs, num_ranks=comm.size, placement=placement)
        run = run_dqc(make(), comm=comm, backend=backend, network=network, scheme=scheme, seed=7, shots=400,
                      assignment=ASSIGNMENTS.get(label), entanglement=ENTANGLEMENT.get(label, "on_demand"),
                      fidelity_check=fidelity_check, **({} if replicate is None else {"replicate_max_qubits": replicate}))
        results[f"{label}_register_ranks"] = np.array([run.state.num_ranks])
        results[f"{label}_fidelity"] = np.array([run.fidelity])
        results[f"{label}_fidelity_check"] = np.array([run.fidelity_check])
        results[f"{label}_shots"] = run.shots
        results[f"{label}_time_ps"] = np.array([run.end_time_ps])
        results[f"{label}_links"] = np.array(run.links)
        results[f"{label}_nonlocal"] = np.array([run.num_nonlocal_gates])
        if comm.rank == 0:
            results[f"{label}_timeline"] = np.array([(t, n) for t, n, _k, _d in run.timeline])
    return results


def main(out_path, placements):
    from guard import each_placement  # beside this script (not on the path of the doctest pass)

    comm = comm_mod.init()
    backend = backend_mod.select("auto", node_local_rank=comm.node_local_rank)
    results = {}
    for index, placement in each_placement(placements):
        for key, value in run_workloads(comm, backend, placement).items():
            results[f"p{index}_{key}"] = value
    # Above the old cap: 8 QPUs x (2 data + 2 communication qubits) = 32 qubits in all, noisy pairs; the
    # register holds the 16 data qubits plus scratch bits (default placement on every rank count).
    link = LinkSpec(distance_km=10.0, source_fidelity=0.95)
    graph = topology.line(8, link=link)
    names = list(graph.nodes)
    specs = [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=2) for n in names]
    run = run_dqc(ghz(16, measure=True), comm=comm, backend=backend, network=Network(graph, specs, num_ranks=comm.size),
                  seed=11, shots=200, timeline=False)
    results["big_fidelity"] = np.array([run.fidelity])
    results["big_shots"] = run.shots
    results["big_register"] = np.array([run.regmap.num_qubits, run.state.num_qubits, run.register_peak_qubits])
    if comm.rank == 0:
        np.savez(out_path, **results)


if __name__ == "__main__":
    from guard import run_guarded  # beside this script

    run_guarded(main, sys.argv[1], sys.argv[2:])
