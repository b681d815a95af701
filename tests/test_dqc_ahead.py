"""``[distribution].entanglement = "ahead"``: pairs made as soon as a communication qubit is free, nonlocal gates
on disjoint qubits overlapping (dqsim.protocols.ahead), against closed forms in the link delay d on a lossless
1 km direct link (every attempt heralds: request d, ready 2d, the photon arrives 3d, the herald 4d; a TeleGate's
bits then take d each way: 6d in all), the monolithic state, the memory's T2, and a checkpoint's resume."""

import math

import numpy as np
import pytest

from dqsim import comm as comm_mod
from dqsim.circuit.ir import Circuit
from dqsim.cli.main import main
from dqsim.errors import ConfigError
from dqsim.io import open_run
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.protocols.ahead import ahead_stages
from dqsim.circuit.distribute import RemoteTarget
from dqsim.scenarios.dqc import run_dqc, run_trajectories
from dqsim.units import ps_to_seconds
from mpi_helper import ROOT
from run_files import checkpoints, saved_node_indices, same_tables
from test_checkpoint_snapshot import saved_record
from test_dqc import BACKEND

COMM = comm_mod.SingleComm()
IDEAL = LinkSpec(distance_km=1.0, scheme="direct", attenuation_db_per_km=0.0, detector_efficiency=1.0)


def _network(num_nodes: int, comm: int, *, data: int = 2, link: LinkSpec = IDEAL, **node) -> Network:
    graph = topology.line(num_nodes, link=link)
    return Network(graph, [NodeSpec(name=n, num_data_qubits=data, num_comm_qubits=comm, **node) for n in graph.nodes])


def _both(circuit, network, assignment, scheme="telegate"):
    """``(on_demand, ahead)`` runs of ``circuit``."""
    return [run_dqc(circuit, comm=COMM, backend=BACKEND, network=network, assignment=assignment, scheme=scheme,
                    shots=4, entanglement=mode) for mode in ("on_demand", "ahead")]


@pytest.mark.parametrize("comm, on_demand, ahead", [(2, 12, 6), (1, 12, 12)])
def test_two_independent_telegates_overlap_where_the_qpus_have_two_communication_qubits(comm, on_demand, ahead):
    """CX(0,2) and CX(1,3), qubits 0, 1 on node0 and 2, 3 on node1: on demand the second gate's pair is requested
    when the first gate ends, 6d + 6d = 12d; ahead, with two communication qubits, both pairs are requested at 0
    and both gates end at 6d (half); with one, the second pair waits for the first gate's qubit: 12d."""
    circuit = Circuit(4).gate("h", 0).gate("ry", 1, params=[0.4]).gate("cx", 0, 2).gate("cx", 1, 3)
    network = _network(2, comm)
    d = network.latency_ps(0, 1)
    runs = _both(circuit, network, [0, 0, 1, 1])
    assert [run.end_time_ps for run in runs] == [on_demand * d, ahead * d]
    for run in runs:
        assert run.fidelity == pytest.approx(1.0, abs=1e-12)
        assert sum(row[2] for row in run.links) == 2


def _chain_end(num_gates: int, d: int) -> int:
    """End of ``num_gates`` dependent TeleGates, ahead with two communication qubits: gate j uses qubit j mod 2,
    whose pair is requested when gate j-2 ends (at 0 for the first two) and is ready 4d later; a gate starts
    when the one before it has ended and its pair is ready, and takes 2d (its two bits):
    end_j = max(end_{j-1}, end_{j-2} + 4d) + 2d (pairs 0 and 1 ready at 4d), so 6d, 8d, 12d, 14d, 18d, ...:
    3kd + 3d for k gates, k odd, 3kd + 2d, k even; on demand 6kd."""
    ends = []
    for j in range(num_gates):
        ready = ends[j - 2] + 4 * d if j >= 2 else 4 * d
        ends.append(max(ends[j - 1] if j else 0, ready) + 2 * d)
    return ends[-1]


@pytest.mark.parametrize("num_gates", [1, 4, 5])
def test_a_chain_of_dependent_telegates_saves_the_pair_s_making_on_every_other_gate(num_gates):
    """k CX(0,1) in a row (each needs the one before it): on demand 6d each; ahead, the next gate's pair is made
    (handshake 2d, photon and herald 2d) while the gate before it runs, so a gate whose pair is ready takes its
    two bits' 2d only (:func:`_chain_end`): 3d a gate in the long run, 4 gates 14d (on demand 24d). With one
    communication qubit ahead is on demand (the pair is requested when the gate before frees the qubit)."""
    circuit = Circuit(2).gate("h", 0)
    for _ in range(num_gates):
        circuit.gate("cx", 0, 1).gate("rz", 1, params=[0.3])
    network = _network(2, 2)
    d = network.latency_ps(0, 1)
    on_demand, ahead = _both(circuit, network, [0, 1])
    assert on_demand.end_time_ps == 6 * num_gates * d
    assert ahead.end_time_ps == _chain_end(num_gates, d) == (3 * num_gates + 3 - (num_gates + 1) % 2) * d
    assert ahead.fidelity == pytest.approx(1.0, abs=1e-12)
    one_each = _both(circuit, _network(2, 1), [0, 1])
    assert one_each[0].end_time_ps == one_each[1].end_time_ps == 6 * num_gates * d


def _mixed() -> Circuit:
    """Random-ish states, CX-class gates between all pairs of 3 QPUs (routed over the middle one between the
    ends), a SWAP and dense two-qubit gates (TeleData under either scheme) between QPUs, local gates between."""
    c = Circuit(6)
    for q in range(6):
        c.gate("ry", q, params=[0.3 + 0.5 * q]).gate("rz", q, params=[0.2 * q])
    for a, b in ((0, 2), (1, 4), (3, 5), (2, 0), (5, 1), (0, 1), (4, 3)):
        c.gate("cx", a, b).gate("rx", b, params=[0.1 * (a + 1)])
    c.gate("cp", 2, 5, params=[0.7]).gate("swap", 1, 3).gate("cz", 4, 0)
    dense = np.linalg.qr(np.arange(16).reshape(4, 4) + 1j * np.eye(4))[0]  # a unitary with no control
    return c.unitary(dense, 0, 3).unitary(dense, 5, 2).gate("cx", 3, 5)


@pytest.mark.parametrize("scheme, comm", [("telegate", 2), ("telegate", 3), ("teledata", 2), ("teledata", 3)])
def test_ahead_gives_the_monolithic_state_and_never_ends_later_on_an_ideal_link(scheme, comm):
    network = _network(3, comm)
    on_demand, ahead = _both(_mixed(), network, [0, 0, 1, 1, 2, 2], scheme)
    assert ahead.fidelity == pytest.approx(1.0, abs=1e-12)
    assert ahead.end_time_ps <= on_demand.end_time_ps
    assert [row[2] for row in ahead.links] == [row[2] for row in on_demand.links]


def test_a_pair_stored_ahead_decoheres_with_the_memory_s_t2():
    """H (lasting τ = 40d) on qubit 0, then CX(0,1) between two QPUs, ahead: the pair is requested at 0 (emitted
    2d, at node1 3d, heralded 4d) and waits until the H ends at τ; then the bits take 2d (end τ + 2d). Memories
    of T2 only (coherence e^(−t/T2)): every dephasing is a Z on the Bell state's path, so its fidelity is
    (1 + e^(−T/T2))/2 with T the summed dephasing times: qubit 0 from 0 to the end (τ + 2d), the pair's halves
    from 2d and 3d until node0's CNOT (τ) and node1's measurement (τ + d), qubit 1 after its CX (τ + d to
    τ + 2d): T = 3τ − d = 119d. On demand the pair is made after the H (T = τ + 11d = 51d, end τ + 6d): its
    fidelity, 0.15 higher, lies outside. 250 trajectories, within 4 standard errors."""
    d = IDEAL.delay_ps
    t2_s = ps_to_seconds(86 * d)
    network = _network(2, 1, data=1, t2_s=t2_s, gate_1q_duration_ps=40 * d)
    assert network.latency_ps(0, 1) == d
    circuit = Circuit(2).gate("h", 0).gate("cx", 0, 1)

    def one(seed, shots, timeline):
        return run_dqc(circuit, comm=COMM, backend=BACKEND, network=network, assignment=[0, 1], seed=seed,
                       shots=shots, timeline=timeline, entanglement="ahead")

    run = run_trajectories(one, seed=3, shots=2, trajectories=250, timeline=False)
    assert run.end_time_ps == 42 * d
    expected, on_demand = ((1 + math.exp(-ps_to_seconds(t * d) / t2_s)) / 2 for t in (119, 51))
    assert 0.6 < expected < 0.65 and on_demand - expected > 0.14
    assert abs(run.fidelity - expected) < 4 * run.fidelity_stderr, (run.fidelity, run.fidelity_stderr, expected)
    assert on_demand - run.fidelity > 2 * run.fidelity_stderr


def test_the_prefetch_takes_the_qubits_and_the_pairs_made_at_the_gate_s_start():
    """TeleData's target where the control's QPU has one communication qubit: pair 0 ahead, the return pair
    (made once the control arrived, on the control's reused qubit) stays in the gate's side."""
    prefetch, side = ahead_stages(RemoteTarget(0, 1, None, early_return=False), "teledata")
    assert prefetch == (("acquire", "comm"), ("spawn_pair", "comm", "end", 0), ("acquire", "back"), ("send_held",))
    assert ("start", "back", 1) in side and side[:2] == (("held",), ("await_pair", 0))


def test_an_unknown_schedule_is_refused_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="entanglement = 'later'; allowed: on_demand, ahead"):
        run_dqc(Circuit(2).gate("cx", 0, 1), comm=COMM, backend=BACKEND, network=_network(2, 1), entanglement="later")
    job = tmp_path / "job.toml"
    job.write_text((ROOT / "jobs" / "dqc_ghz_4qpu.toml").read_text().replace(
        'scheme = "telegate"', 'scheme = "telegate"\nentanglement = "soon"'))
    assert main(["check", str(job)]) != 0


NOISY = ["--set", "network.link.source_fidelity=0.95", "--set", "network.node.gate_2q_error_probability=0.01",
         "--set", "network.node.measure_error_probability=0.01", "--set", "network.node.gate_1q_duration_ps=1000",
         "--set", "network.node.t2_s=0.001", "--set", "network.node.t1_s=0.002", "--set", "simulation.shots=50",
         "--set", 'distribution.entanglement="ahead"']


def test_an_ahead_run_resumed_mid_circuit_ends_as_the_uninterrupted_run(tmp_path):
    """The GHZ job, noisy, ahead: checkpoints hold the prefetch, the program and the gate sides in their parts
    (a free communication qubit, a pair's end, a TeleGate side, the wait for a gate on the same qubit); runs
    resumed from two of them give the uninterrupted run's tables and attributes bit for bit."""
    full = tmp_path / "full.h5"
    assert main(["run", str(ROOT / "jobs" / "dqc_ghz_4qpu.toml"), "-o", str(full), "--quiet", *NOISY,
                 "--set", "checkpoint.every_sim_s=0.00005", "--set", f"checkpoint.directory=\"{tmp_path / 'ck'}\"",
                 "--set", "checkpoint.keep=100"]) == 0
    ckpts = checkpoints(tmp_path / "ck")
    assert len(ckpts) >= 4, ckpts
    a = open_run(full)
    assert a.attrs["distribution_entanglement"] == "ahead"
    saved = set()
    for path in ckpts:
        for node in saved_node_indices(path):
            record = saved_record(path, node)
            saved.update((type(h.process).__name__, type(getattr(h.process, "part", None)).__name__)
                         for h in record["processes"] if h.started and not h.done)
    assert {("GateSideProcess", "TeleGateControl"), ("GateSideProcess", "TeleGateTarget")} & saved, saved
    assert {("AheadProgramProcess", "AwaitSteps"), ("PairPrefetchProcess", "Acquire")} & saved, saved
    # the later cut first: a resume from a cut removes the checkpoints after it when it writes its own
    for index, path in enumerate((ckpts[2 * len(ckpts) // 3], ckpts[len(ckpts) // 3])):
        out = tmp_path / f"resumed{index}.h5"
        assert main(["resume", str(path), "-o", str(out), "--quiet"]) == 0
        resumed = open_run(out)
        same_tables(a, resumed, ["links", "counts", "timeline"])
        for key in ("fidelity", "simulated_time_ps", "distribution_entanglement"):
            assert a.attrs[key] == resumed.attrs[key], key




def test_a_dynamic_circuit_ahead_measures_as_on_demand_in_less_time():
    """Teleportation with feed-forward, one qubit per QPU of a line of 3 (mid-circuit measurements, `if` blocks on
    bits measured elsewhere, a reset): the prefetch waits for each `if`'s decision before it looks past it; on
    ideal hardware every random draw is the same, so each seed's bits are those of the on-demand run, measured in
    less simulated time (the pairs of the routed gates are made at once)."""
    from dqsim.circuit import qasm

    circuit = qasm.load_qasm((ROOT / "jobs" / "circuits" / "teleport_feedforward.qasm").read_text())
    network = _network(3, 2, data=1)
    for seed in (1, 2):
        on_demand, ahead = (run_dqc(circuit, comm=COMM, backend=BACKEND, network=network, assignment=[0, 1, 2],
                                    seed=seed, shots=1, entanglement=mode) for mode in ("on_demand", "ahead"))
        assert ahead.counts == on_demand.counts and ahead.end_time_ps < on_demand.end_time_ps
