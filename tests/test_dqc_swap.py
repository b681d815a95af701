"""A SWAP between QPUs runs as two teleportations (two EPR pairs, 5 link delays); TeleData requests its return
pair at the gate's start (6 link delays) where the control's QPU has two communication qubits, else once the
control has arrived (10); older checkpoints of either are refused."""

import numpy as np
import pytest

from dqsim import comm as comm_mod
from dqsim.circuit.distribute import RemoteControl, RemoteSwap
from dqsim.circuit.ir import Circuit
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios.dqc import plan_dqc, run_dqc
from test_dqc import BACKEND


def _network(num_nodes: int, comm: int, link: LinkSpec | None = None) -> Network:
    graph = topology.line(num_nodes, link=link or LinkSpec(distance_km=5.0))
    return Network(graph, [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=comm) for n in graph.nodes])


def _circuit() -> Circuit:
    """Four qubits in distinct states, two SWAPs between QPUs, a nonlocal CNOT and a local SWAP."""
    c = Circuit(4).gate("ry", 0, params=[0.7]).gate("rx", 1, params=[1.1]).gate("h", 2).gate("rz", 2, params=[0.4])
    c.gate("ry", 3, params=[2.0]).gate("cx", 0, 1)
    return c.gate("swap", 0, 2).gate("swap", 3, 1).gate("cx", 2, 1).gate("swap", 0, 1)


@pytest.mark.parametrize("num_nodes, comm, scheme, assignment, pairs, nonlocal_gates", [
    (2, 2, "telegate", [0, 0, 1, 1], 2 * 2 + 1, 3),          # two teleported SWAPs (2 pairs each), one TeleGate
    (2, 1, "telegate", [0, 0, 1, 1], 3 * 2 + 1, 7),          # one communication qubit: three CX per SWAP
    (3, 2, "teledata", [0, 0, 2, 2], 2 * (2 * 2 + 2), 3),    # routed over the middle node: each pair is 2 links
])
def test_a_swap_between_qpus_uses_two_pairs_and_gives_the_monolithic_state(num_nodes, comm, scheme, assignment,
                                                                           pairs, nonlocal_gates):
    run = run_dqc(_circuit(), comm=comm_mod.SingleComm(), backend=BACKEND, network=_network(num_nodes, comm),
                  scheme=scheme, assignment=assignment, shots=10)
    assert run.fidelity == pytest.approx(1.0, abs=1e-12)
    assert sum(row[2] for row in run.links) == pairs
    assert run.num_nonlocal_gates == nonlocal_gates
    assert sum(1 for g in run.decomposed.all_gates() if g.name == "swap") == (2 if comm == 2 else 0)


@pytest.mark.parametrize("source_period_ps", [None, 1_000_000, 20_000_000])
def test_a_teleported_swap_ends_at_5_link_delays_on_an_ideal_link(source_period_ps):
    """Lossless 1 km direct link (every attempt heralds), d = n_g·L/c: both pairs are requested at 0 and herald at
    4d (handshake 2d, photon d, acknowledgment d), the second a source period later where the source has one (the
    link's source emits for one generation at a time); both teleportations' bits arrive a link delay after that:
    5d + T_source. Three TeleGates one after the other end at 16d (6d, then 5d each)."""
    link = LinkSpec(distance_km=1.0, scheme="direct", attenuation_db_per_km=0.0, detector_efficiency=1.0,
                    source_period_ps=source_period_ps)
    circuit = Circuit(2).gate("ry", 0, params=[0.7]).gate("swap", 0, 1)
    for comm, delays in ((2, 5), (1, 16)):
        network = _network(2, comm, link)
        run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, assignment=[0, 1],
                      shots=1)
        if comm == 2:
            assert run.end_time_ps == 5 * network.latency_ps(0, 1) + (source_period_ps or 0)
        elif source_period_ps is None:
            assert run.end_time_ps == 16 * network.latency_ps(0, 1)
        assert run.fidelity == pytest.approx(1.0, abs=1e-12)


def test_both_sides_of_a_swap_are_planned_on_their_qpus():
    run = run_dqc(Circuit(2).gate("swap", 0, 1), comm=comm_mod.SingleComm(), backend=BACKEND,
                  network=_network(2, 2), assignment=[0, 1], shots=1)
    assert run.num_nonlocal_gates == 1 and sum(row[2] for row in run.links) == 2
    plan = plan_dqc(Circuit(2).gate("swap", 0, 1), _network(2, 2), assignment=[0, 1])
    assert [type(s) for s in plan.plan.steps[0]] == [RemoteSwap] == [type(s) for s in plan.plan.steps[1]]
    assert plan.plan.steps[0][0].first and not plan.plan.steps[1][0].first


def test_a_program_restored_from_a_checkpoint_older_than_teleported_swaps_is_refused():
    """A checkpoint's node program saves its place in the steps, which are rebuilt from the job on resume: one
    written before SWAPs were teleported (no ``teleported_swaps`` attribute) cannot resume on a plan that has one."""
    from dqsim.errors import DqsimError
    from dqsim.protocols.distributed import NodeProgram
    program = NodeProgram(None, "telegate", [RemoteSwap(0, 1, 0, True)])
    del program.teleported_swaps  # as unpickled from an older checkpoint: the class default
    with pytest.raises(DqsimError, match="written before a SWAP between QPUs ran as two teleportations"):
        next(program.run(None))
    teledata = NodeProgram(None, "teledata", [RemoteControl(0, 1, 0)])
    del teledata.early_return_pairs  # a TeleData program from before the return pair was requested early
    with pytest.raises(DqsimError, match="before TeleData requested its return pair at the gate's start"):
        next(teledata.run(None))
    older = NodeProgram(None, "telegate", [])
    del older.teleported_swaps  # no SWAP in the plan: the plan is the one it was written with
    assert list(older.run(_Done())) == []


class _Done:
    """Just enough of a process context for a program with no steps."""

    now_ps = 0
    node_data: dict = {}

    def log(self, *args):
        pass


@pytest.mark.parametrize("link_scheme", ["direct", "double_click"])
def test_teledata_requests_its_return_pair_at_the_start_and_ends_at_6_link_delays(link_scheme):
    """Lossless 1 km link, d = n_g·L/c: both pairs are requested at 0 (pair 0 by the control, the return pair by
    the target) and herald at 4d (handshake 2d, emission, photon or station d, acknowledgment d); the control's
    bits reach the target at 5d, the gate is applied and the control teleported back: 6d (before 2026-12-06
    the return pair was requested at 5d: 10d). Both pairs are counted, and the state is the monolithic one."""
    link = LinkSpec(distance_km=1.0, scheme=link_scheme, attenuation_db_per_km=0.0, detector_efficiency=1.0,
                    **({"dark_count_rate_hz": 0.0} if link_scheme == "double_click" else {}))
    network = _network(2, 2, link)
    circuit = Circuit(2).gate("ry", 0, params=[0.7]).gate("cx", 0, 1).gate("rx", 1, params=[0.3]).gate("cx", 1, 0)
    run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, scheme="teledata",
                  assignment=[0, 1], shots=1)
    if link_scheme == "direct":  # every attempt heralds. The second gate's control (node1) ended its part of the
        # first at 5d and requests pair 0 then; node0, free at 6d, answers then (herald 9d) and requests the
        # return pair (herald 10d); the control's bits arrive at 10d, the returned ones at 11d
        assert run.end_time_ps == 11 * network.latency_ps(0, 1)
    assert sum(row[2] for row in run.links) == 4 and run.num_nonlocal_gates == 2
    assert run.fidelity == pytest.approx(1.0, abs=1e-12)
    first = run_dqc(Circuit(2).gate("h", 0).gate("cx", 0, 1), comm=comm_mod.SingleComm(), backend=BACKEND,
                    network=_network(2, 2, LinkSpec(distance_km=1.0, scheme="direct", attenuation_db_per_km=0.0,
                                                    detector_efficiency=1.0)),
                    scheme="teledata", assignment=[0, 1], shots=1)
    assert first.end_time_ps == 6 * network.latency_ps(0, 1)


def test_teledata_bell_fidelity_counts_the_return_pair_s_storage():
    """TeleData CNOT on |+⟩|0⟩ over the lossless 1 km direct link with perfect pairs, memories of T2 only
    (coherence e^(−t/T2)). Every dephasing is a Z on the control's path or on the target, so the Bell fidelity
    is (1 + e^(−T/T2))/2, T the summed dephasing times: the control's data qubit 0-4d, pair 0's halves 2d-4d
    (control, from the emission) and 3d-5d (target, from the photon's arrival), the return pair's 2d-5d
    (target, emitting) and 3d-6d (control), the target after the CNOT 5d-6d: T = 15d (the schedule before
    2026-12-06: 17d, the target waiting 5d for the return pair). 400 trajectories, within 4 standard errors."""
    from dqsim.scenarios.dqc import run_trajectories
    from dqsim.units import ps_to_seconds

    t2_s = 110e-6
    link = LinkSpec(distance_km=1.0, scheme="direct", attenuation_db_per_km=0.0, detector_efficiency=1.0)
    graph = topology.line(2, link=link)
    network = Network(graph, [NodeSpec(name=n, num_data_qubits=1, num_comm_qubits=2, t2_s=t2_s) for n in graph.nodes])
    circuit = Circuit(2).gate("h", 0).gate("cx", 0, 1)

    def one(seed, shots, timeline):
        return run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, scheme="teledata",
                       assignment=[0, 1], seed=seed, shots=shots, timeline=timeline)

    run = run_trajectories(one, seed=5, shots=10, trajectories=400, timeline=False)
    expected = (1 + np.exp(-15 * ps_to_seconds(network.latency_ps(0, 1)) / t2_s)) / 2
    assert 0.7 < expected < 0.85
    assert abs(run.fidelity - expected) < 4 * run.fidelity_stderr, (run.fidelity, run.fidelity_stderr, expected)


@pytest.mark.parametrize("control_comm, delays", [(1, 10), (2, 6)])
def test_teledata_with_one_communication_qubit_at_the_control_requests_the_return_pair_once_it_arrived(
        control_comm, delays):
    """Lossless 1 km direct link, d = n_g·L/c. The control's QPU has ``control_comm`` communication qubits, the
    target's two. With one, the return pair is requested by the target once the control has arrived (5d) and
    the gate is applied: it heralds at 9d and the control is back at 10d (the schedule before 2026-12-06); with
    two, at the gate's start: 6d. Either way the state is the monolithic one and two pairs are made."""
    link = LinkSpec(distance_km=1.0, scheme="direct", attenuation_db_per_km=0.0, detector_efficiency=1.0)
    graph = topology.line(2, link=link)
    specs = [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=c) for n, c in zip(graph.nodes, (control_comm, 2))]
    network = Network(graph, specs)
    circuit = Circuit(3).gate("ry", 0, params=[0.7]).gate("rx", 1, params=[1.3]).gate("cx", 0, 2)
    run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=network, scheme="teledata",
                  assignment=[0, 0, 1], shots=1)
    assert run.end_time_ps == delays * network.latency_ps(0, 1)
    assert run.fidelity == pytest.approx(1.0, abs=1e-12)
    assert sum(row[2] for row in run.links) == 2 and run.num_nonlocal_gates == 1
    steps = plan_dqc(circuit, network, scheme="teledata", assignment=[0, 0, 1]).plan.steps
    assert [s.early_return for s in steps[0] + steps[1] if hasattr(s, "early_return")] == [control_comm == 2] * 2


def test_teledata_with_one_communication_qubit_at_the_target_is_refused():
    """The target holds the pair that brought the control and the return pair whatever the schedule."""
    from dqsim.errors import ResourceError

    graph = topology.line(2, link=LinkSpec(distance_km=1.0))
    network = Network(graph, [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=1) for n in graph.nodes])
    with pytest.raises(ResourceError, match="node1 needs 2 communication qubits.*it is the target of a teledata"):
        plan_dqc(Circuit(2).gate("cx", 0, 1), network, scheme="teledata", assignment=[0, 1])
