"""Distributed circuits in one process: exactness on 2-4 QPUs and several topologies, and bad setups."""

from pathlib import Path

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit.generators import qft, random_circuit
from dqsim.circuit.ir import Circuit, Gate
from dqsim.errors import CircuitError, ResourceError
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios.dqc import run_dqc
from conftest import TEST_BACKEND

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")


def network(kind, num_nodes, *, data=3, comm=2, **link):
    graph = getattr(topology, kind)(num_nodes, link=LinkSpec(distance_km=5.0, **link))
    names = list(graph.nodes)
    return graph, names, [NodeSpec(name=n, num_data_qubits=data, num_comm_qubits=comm) for n in names]


@pytest.mark.parametrize("kind,num_nodes,scheme", [("line", 2, "telegate"), ("ring", 3, "telegate"),
                                                   ("star", 4, "telegate"), ("line", 3, "teledata"),
                                                   ("all_to_all", 4, "teledata")])
@pytest.mark.parametrize("seed", [1, 2])
def test_ideal_network_reproduces_random_circuits(kind, num_nodes, scheme, seed):
    graph, names, specs = network(kind, num_nodes)
    circuit = random_circuit(2 * num_nodes, 4, seed=seed, measure=True)
    run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                  scheme=scheme, seed=seed, shots=50)
    assert run.num_nonlocal_gates > 0
    assert run.fidelity == pytest.approx(1.0, abs=1e-10)
    assert sum(run.counts.values()) == 50


def test_qft_with_user_assignment_and_observables():
    graph, names, specs = network("line", 3, data=2)
    circuit = qft(6)
    run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                  assignment=[2, 2, 1, 1, 0, 0], shots=20,
                  observables=[("X0", [(1.0, "X", (0,))])])
    assert run.owner == [2, 2, 1, 1, 0, 0]
    assert run.fidelity == pytest.approx(1.0, abs=1e-10)
    assert run.expectation[0][2] == pytest.approx(1.0, abs=1e-10)  # QFT|0> is |+>^n


def test_lossy_link_needs_more_attempts_than_pairs():
    graph, names, specs = network("line", 2, attenuation_db_per_km=2.0)
    run = run_dqc(random_circuit(4, 4, seed=3, measure=True), comm=comm_mod.SingleComm(), backend=BACKEND,
                  network=Network(graph, specs), shots=10)
    (_a, _b, pairs, attempts, photons), = run.links
    assert attempts > pairs > 0 and photons == 2 * attempts  # Barrett-Kok: each node emits in one of the two rounds


def test_teledata_needs_two_communication_qubits():
    graph, names, specs = network("line", 2, comm=1)
    with pytest.raises(ResourceError, match="communication qubit"):
        run_dqc(random_circuit(4, 2, seed=1), comm=comm_mod.SingleComm(), backend=BACKEND,
                network=Network(graph, specs), scheme="teledata")


def test_mid_circuit_measurement_gives_one_shot_per_engine_run():
    graph, names, specs = network("line", 2)
    circuit = Circuit(2, 2).gate("h", 0).measure(0, 0).gate("cx", 0, 1).measure(1, 1)
    run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                  assignment=[0, 1], shots=1)
    assert run.dynamic and np.isnan(run.fidelity) and len(run.shots) == 1
    assert run.shots[0] in (0, 3)  # the CX after the measurement copies the outcome
    with pytest.raises(CircuitError, match="one shot per run of the network"):
        run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                shots=5)


def test_more_qubits_than_capacity_is_refused():
    graph, names, specs = network("line", 2, data=1)
    with pytest.raises(CircuitError, match="capacity"):
        run_dqc(random_circuit(4, 2, seed=1), comm=comm_mod.SingleComm(), backend=BACKEND,
                network=Network(graph, specs))


def test_same_seed_same_run_other_seed_other_timing():
    graph, names, specs = network("line", 3)
    circuit = random_circuit(6, 4, seed=5, measure=True)
    runs = [run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                    seed=s, shots=100) for s in (1, 1, 2)]
    assert runs[0].end_time_ps == runs[1].end_time_ps
    assert np.array_equal(runs[0].shots, runs[1].shots)
    assert runs[0].end_time_ps != runs[2].end_time_ps


def test_repro_10_noisy_telegate_fidelity_is_the_pair_fidelity_over_trajectories():
    """A remote CNOT through a Werner pair of fidelity F makes a Bell state with fidelity F on average.

    Only the |Φ+⟩ component of the pair leaves the data intact (the other three
    Bell components put X, Z or Y errors on the data), so the mean over
    trajectories is F; 300 trajectories, within 4 standard errors.
    """
    from dqsim.circuit.generators import ghz
    from dqsim.scenarios.dqc import run_trajectories

    graph, names, specs = network("line", 2, data=1, comm=1, source_fidelity=0.8)

    def one(seed, shots, timeline):
        return run_dqc(ghz(2, measure=True), comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                       seed=seed, shots=shots, timeline=timeline)

    run = run_trajectories(one, seed=3, shots=600, trajectories=300, timeline=False)
    assert run.trajectories == 300 and sum(run.counts.values()) == 600 and run.shots.size == 600
    assert abs(run.fidelity - 0.8) < 4 * run.fidelity_stderr and 0 < run.fidelity_stderr < 0.05
    # the shots mix trajectories: bad ones give 01/10 about 2/3 of the time (X or Y errors)
    odd = run.counts.get("01", 0) + run.counts.get("10", 0)
    p = 0.2 * 2 / 3
    assert abs(odd / 600 - p) < 4 * np.sqrt(p * (1 - p) / 600)
    assert run.links[0][2] == 300  # one pair per trajectory, summed


def test_repro_10_register_holds_data_qubits_only():
    """16 data qubits on 8 QPUs with 2 communication qubits each: 32 qubits in all, a register of 16 + 2."""
    from dqsim.circuit.generators import ghz

    graph, names, specs = network("line", 8, data=2, comm=2)
    run = run_dqc(ghz(16, measure=True), comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                  seed=1, shots=100, timeline=False)
    assert run.fidelity == pytest.approx(1.0, abs=1e-10)
    assert run.regmap.num_qubits == 32 and run.state.num_qubits <= 18 and run.register_peak_qubits <= 18
    assert set(run.counts) == {"0" * 16, "1" * 16}


def test_repro_10_idle_qubits_decohere_until_the_end_of_the_run():
    """A data qubit left in |+⟩ while the network works dephases until the run ends: ⟨X⟩ = e^(−t_end/T2).

    Per run ⟨X0⟩ is ±1 (one dephasing trajectory); its mean over 200 seeds
    matches the mean of e^(−t_end/T2), within 4 standard errors.
    """
    from dqsim.units import ps_to_seconds

    t2_s = 100e-6
    graph = topology.line(2, link=LinkSpec(distance_km=2.0))
    names = list(graph.nodes)
    specs = [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=1, t2_s=t2_s) for n in names]
    circuit = Circuit(4)
    for name, qubits in (("h", (0,)), ("h", (2,)), ("cx", (2, 1))):
        circuit.append(Gate(name, qubits))
    values, expected = [], []
    for seed in range(1, 201):
        run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                      assignment=[0, 0, 1, 1], seed=seed, shots=0, timeline=False,
                      observables=[("X0", [(1.0, "X", (0,))])])
        values.append(run.expectation[0][2])
        expected.append(np.exp(-ps_to_seconds(run.end_time_ps) / t2_s))
    values = np.array(values)
    assert 0.2 < np.mean(expected) < 0.9, "pick T2 so that the idle time matters"
    assert abs(values.mean() - np.mean(expected)) < 4 * values.std(ddof=1) / np.sqrt(values.size)


class _TwoRanks:
    """A stand-in for a 2-rank communicator (only its size is read)."""

    size = 2
    rank = 0


def test_a_tiny_register_is_replicated_a_larger_one_sharded():
    from dqsim.scenarios.dqc import register_comm
    from dqsim.state.sharded import REPLICATED_MAX_QUBITS

    two = _TwoRanks()
    assert register_comm(two, REPLICATED_MAX_QUBITS).size == 1
    assert register_comm(two, REPLICATED_MAX_QUBITS + 1) is two
    assert register_comm(two, 4, replicate_max_qubits=0) is two
    single = comm_mod.SingleComm()
    assert register_comm(single, 4) is single


@pytest.mark.parametrize("fidelity, noted", [(0.9, True), (1.0, False)])
def test_one_trajectory_of_a_noisy_network_is_reported_as_a_sample(fidelity, noted):
    """With noisy pairs one trajectory's fidelity is 0 or 1 for a GHZ pair (here a sample, not F = 0.9): the
    summary says so and how to get the mean; an ideal network's single run is exact and says nothing."""
    from dqsim.jobs import load_job_text
    from dqsim.scenarios.dqc import run_job
    job = load_job_text(f"""[run]\nname = "t"\nscenario = "dqc"\nseed = 3\n[network]\ntopology = "line"
num_nodes = 2\n[network.link]\ndistance_km = 1.0\nsource_fidelity = {fidelity}\ndark_count_rate_hz = 0.0
[network.node]\nnum_data_qubits = 1\n[circuit]\ngenerator = "ghz"\nnum_qubits = 2\n[simulation]\nshots = 10\n""")
    out = run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    line = next(text for text in out.summary if "fidelity to the monolithic circuit" in text)
    assert ("a single sample of the fidelity" in line) == noted, line


def test_repro_terminal_measurements_have_the_nodes_readout_error_and_duration():
    """A GHZ pair over two QPUs whose measurements flip with p = 0.2 and take 1 µs: the counts give 01/10
    with probability 2p(1-p) = 0.32 (within 4 standard errors of 4,000 shots, about 0.03), and the run
    ends one measurement time after the last node finished its part (the TeleGate's last message)."""
    from dqsim.circuit.generators import ghz

    graph = topology.line(2, link=LinkSpec(distance_km=1.0, dark_count_rate_hz=0.0))
    names = list(graph.nodes)
    kwargs = dict(num_data_qubits=1, num_comm_qubits=1)
    ideal = [NodeSpec(name=n, **kwargs) for n in names]
    noisy = [NodeSpec(name=n, measure_error_probability=0.2, measure_duration_ps=1_000_000, **kwargs)
             for n in names]
    runs = [run_dqc(ghz(2, measure=True), comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                    seed=4, shots=4000, timeline=False) for specs in (ideal, noisy)]
    assert set(runs[0].counts) == {"00", "11"}
    odd = (runs[1].counts.get("01", 0) + runs[1].counts.get("10", 0)) / 4000
    p = 2 * 0.2 * 0.8
    assert abs(odd - p) < 4 * np.sqrt(p * (1 - p) / 4000)
    assert runs[1].end_time_ps == runs[0].end_time_ps + 1_000_000  # same seed: same pair, then the readout
    assert runs[1].fidelity == pytest.approx(1.0, abs=1e-10)  # the state is ideal; only its readout errs


def test_repro_a_classical_bit_measured_twice_holds_the_last_outcome():
    """``measure q[0] -> c[0]; measure q[1] -> c[0]`` with q0 = |1⟩, q1 = |0⟩: c[0] is 0, the second write
    (as in OpenQASM and qiskit), not the OR of both; with a readout error only the kept measurement flips it
    (p = 0.25 on q1's node: c[0] = 1 a quarter of the time, within 4 standard errors of 4,000 shots)."""
    graph = topology.line(2, link=LinkSpec(distance_km=1.0, dark_count_rate_hz=0.0))
    names = list(graph.nodes)
    circuit = Circuit(2, 1).gate("x", 0).measure(0, 0).measure(1, 0)
    for p0, p1, expected in ((0.0, 0.0, 0.0), (0.5, 0.25, 0.25)):
        specs = [NodeSpec(name=names[0], num_data_qubits=1, num_comm_qubits=1, measure_error_probability=p0),
                 NodeSpec(name=names[1], num_data_qubits=1, num_comm_qubits=1, measure_error_probability=p1)]
        run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                      assignment=[0, 1], seed=2, shots=4000, timeline=False)
        ones = run.counts.get("1", 0) / 4000
        assert abs(ones - expected) < 4 * np.sqrt(max(expected * (1 - expected), 1e-9) / 4000), (p0, p1, run.counts)


def test_expectation_values_over_trajectories_carry_their_standard_error():
    """⟨Z0 Z1⟩ of a GHZ pair made through a Werner pair of F = 0.8 is ±1 in each trajectory (the pair's
    Bell components put X, Y or Z on the data; X and Y flip Z0 Z1), so its mean m over n trajectories has
    the standard error √((1 − m²)/(n − 1)), and m is 1 − 2·(2/3)(1 − F) within 4 of them. The table's
    ``value_stderr`` and the summary's ± say it; one trajectory gives NaN and no ±."""
    import math

    from dqsim.jobs import load_job_text
    from dqsim.scenarios.dqc import run_job

    def job(trajectories):
        return load_job_text(f"""[run]\nname = "t"\nscenario = "dqc"\nseed = 3\n[network]\ntopology = "line"
num_nodes = 2\n[network.link]\ndistance_km = 1.0\nsource_fidelity = 0.8\ndark_count_rate_hz = 0.0
[network.node]\nnum_data_qubits = 1\n[circuit]\ngenerator = "ghz"\nnum_qubits = 2\n[simulation]\nshots = 120
trajectories = {trajectories}\ntimeline = false\nobservables = ["Z0 Z1"]\n""")

    out = run_job(job(120), comm=comm_mod.SingleComm(), backend=BACKEND)
    row = out.tables["expectation"][0]
    mean, err = row["value"], row["value_stderr"]
    assert 0 < err == pytest.approx(math.sqrt((1 - mean**2) / 119), rel=1e-9)
    assert abs(mean - (1 - 2 * (2 / 3) * 0.2)) < 4 * err
    assert f"  <Z0 Z1> = {mean:.6f} ± {err:.6f}" in out.summary
    single = run_job(job(1), comm=comm_mod.SingleComm(), backend=BACKEND)
    assert math.isnan(single.tables["expectation"]["value_stderr"][0])
    assert any(line.startswith("  <Z0 Z1> = ") and "±" not in line for line in single.summary)


def test_the_summary_counts_1_in_the_singular():
    """A GHZ pair over two QPUs cuts one gate: the summary said "1 nonlocal gates"."""
    from dqsim.jobs import load_job_text
    from dqsim.scenarios.dqc import run_job

    job = load_job_text("""[run]\nname = "t"\nscenario = "dqc"\nseed = 3\n[network]\ntopology = "line"
num_nodes = 2\n[network.link]\ndistance_km = 1.0\ndark_count_rate_hz = 0.0\n[network.node]\nnum_data_qubits = 1
[circuit]\ngenerator = "ghz"\nnum_qubits = 2\n[simulation]\nshots = 10\ntimeline = false\n""")
    out = run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    assert out.summary[0].startswith("  2 qubits on 2 QPUs (telegate), 1 nonlocal gate, "), out.summary
    # a dynamic circuit with shots = 0 runs the network once: it said "1 trajectories, one per shot ... nan"
    dynamic = load_job_text("""[run]\nname = "t"\nscenario = "dqc"\nseed = 3\n[network]\ntopology = "line"
num_nodes = 3\n[network.link]\ndistance_km = 1.0\n[network.node]\nnum_data_qubits = 1\nnum_comm_qubits = 2\n[circuit]
qasm = "circuits/teleport_feedforward.qasm"\n[simulation]\nshots = 0\ntimeline = false\n""",
                            base_dir=Path(__file__).parent.parent / "jobs")
    out = run_job(dynamic, comm=comm_mod.SingleComm(), backend=BACKEND)
    assert out.summary[1].startswith("  no shots: one run of the network"), out.summary


def _noisy_run(**kwargs):
    """A random 6-qubit circuit on 3 QPUs through pairs of F = 0.9 (9 nonlocal gates), seed 4: a trajectory
    with a Pauli error that leaves fidelity 0.689. (A QFT from |0…0⟩ gives |+…+⟩, which a Pauli error, as the
    pairs' Bell branches give since 2026-12-07, leaves at fidelity 0 or 1.)"""
    graph, names, specs = network("line", 3, data=2, comm=2, source_fidelity=0.9)
    return run_dqc(random_circuit(6, 6, seed=3, measure=True), comm=comm_mod.SingleComm(), backend=BACKEND,
                   network=Network(graph, specs), seed=4, shots=200, observables=[("Z0", [(1.0, "Z", (0,))])],
                   **kwargs)


def test_the_fidelity_check_in_place_gives_the_copy_s_fidelity_and_puts_the_state_back():
    copy, in_place = _noisy_run(fidelity_check="copy"), _noisy_run(fidelity_check="in_place")
    assert copy.fidelity_check == "copy" and in_place.fidelity_check == "in_place"
    assert 0.3 < copy.fidelity < 0.999  # a noisy trajectory: the check has something to find
    assert abs(in_place.fidelity - copy.fidelity) < 1e-12
    assert np.array_equal(in_place.shots, copy.shots) and in_place.expectation == copy.expectation
    assert np.max(np.abs(in_place.state.gather() - copy.state.gather())) < 1e-12  # U†, then U again


def test_auto_checks_in_place_when_a_second_register_does_not_fit(monkeypatch):
    from dqsim.scenarios import dqc

    reference = _noisy_run()
    assert reference.fidelity_check == "copy"  # it fits

    made, real = [], dqc.ShardedState

    def room_for_one(*args, **kwargs):  # the run's register fits, a second one does not
        made.append(1)
        if len(made) > 1:
            raise ResourceError("12 qubits in complex128 on 1 rank(s) need more than some rank has free")
        return real(*args, **kwargs)

    def fresh_run(**kwargs):
        made.clear()
        return _noisy_run(**kwargs)

    monkeypatch.setattr(dqc, "ShardedState", room_for_one)
    run = fresh_run()
    assert run.fidelity_check == "in_place" and abs(run.fidelity - reference.fidelity) < 1e-12
    with pytest.raises(ResourceError, match=r'fidelity_check = "in_place" \(no second register'):
        fresh_run(fidelity_check="copy")
    off = fresh_run(fidelity_check="off")
    assert off.fidelity_check == "off" and np.isnan(off.fidelity) and np.array_equal(off.shots, reference.shots)


def _telegate_bell_fidelity(p2: float, p1: float) -> float:
    """Mean Bell fidelity of H, then a TeleGate CNOT through a perfect pair, by Pauli propagation (no dqsim).

    Control c (|+⟩), target t, pair (a, b): CNOT(c→a), E1 on (c, a); measure a (m1), X^m1 on b, e_b;
    CNOT(b→t), E2 on (b, t); measure b in X (m2), Z^m2 on c, e_c. E1, E2: two-qubit depolarizing with
    probability p2 (15 Paulis, p2/15 each); e_b, e_c (only when the correction is applied, m = 1 with
    probability 1/2): one-qubit depolarizing with probability p1. Each Pauli moves to the end as:
    E1 = P_c⊗Q_a → P_c, and X_t when Q_a has an X part (it flips m1); E2 = R_b⊗S_t → S_t, and Z_c when R_b
    has a Z part (it flips m2); e_b → X_t for its X part, Z_c for its Z part; e_c → itself on c. The
    result is |Φ+⟩ (fidelity 1) when the total Pauli on (c, t) is in its stabiliser {II, XX, YY, ZZ}.
    """
    import itertools
    bits = {"I": (0, 0), "X": (1, 0), "Y": (1, 1), "Z": (0, 1)}
    total = 0.0
    for pc, qa, rb, st, eb, ec in itertools.product("IXYZ", repeat=6):
        w = ((1 - p2) if pc + qa == "II" else p2 / 15) * ((1 - p2) if rb + st == "II" else p2 / 15)
        w *= (0.5 + 0.5 * (1 - p1) if eb == "I" else 0.5 * p1 / 3) * (0.5 + 0.5 * (1 - p1) if ec == "I" else 0.5 * p1 / 3)
        xc, zc = bits[pc]
        xt, zt = bits[qa][0] ^ bits[st][0] ^ bits[eb][0], bits[st][1]
        zc ^= bits[rb][1] ^ bits[eb][1] ^ bits[ec][1]
        xc ^= bits[ec][0]
        total += w * (xc == xt and zc == zt)
    return total


def test_repro_telegate_one_qubit_corrections_take_the_one_qubit_error():
    """The TeleGate's X and Z corrections are one-qubit gates: the node's gate_1q_error_probability follows them.

    With gate_1q = 0 and gate_2q = 0.3 only the two CNOTs are noisy: mean Bell fidelity 0.5968 by Pauli
    propagation (0.4720 if the corrections took the two-qubit probability, as they did before 2026-12-05);
    600 trajectories, within 4 standard errors (about 0.02 each).
    """
    from dqsim.circuit.generators import ghz
    from dqsim.scenarios.dqc import run_trajectories

    expected = _telegate_bell_fidelity(0.3, 0.0)
    assert expected == pytest.approx(0.5968, abs=1e-4)
    assert _telegate_bell_fidelity(0.3, 0.3) == pytest.approx(0.47195, abs=1e-4)
    graph = topology.line(2, link=LinkSpec(distance_km=2.0, dark_count_rate_hz=0.0))
    specs = [NodeSpec(name=n, num_data_qubits=1, num_comm_qubits=1, gate_2q_error_probability=0.3)
             for n in graph.nodes]
    network_ = Network(graph, specs)

    def one(seed, shots, timeline):
        return run_dqc(ghz(2), comm=comm_mod.SingleComm(), backend=BACKEND, network=network_,
                       seed=seed, shots=shots, timeline=timeline)

    run = run_trajectories(one, seed=5, shots=0, trajectories=600, timeline=False)
    assert 0 < run.fidelity_stderr < 0.03
    assert abs(run.fidelity - expected) < 4 * run.fidelity_stderr, (run.fidelity, run.fidelity_stderr)


def test_repro_one_communication_qubit_is_enough_where_the_circuit_routes_no_pair():
    """A node needs as many communication qubits as its own part of the circuit holds at once.

    On a line of three QPUs with one communication qubit each, a circuit on the first two (TeleGates over
    their link) runs, and so does a teledata job whose qubits all sit on one QPU; before 2026-12-05 both
    were refused because some other pair of nodes had no direct link. A route through node1 needs two
    there, and the refusal names the key, the node and the fix.
    """
    graph, names, specs = network("line", 3, data=2, comm=1)
    net = Network(graph, specs)
    circuit = random_circuit(4, 4, seed=2, measure=True)
    run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=net, assignment=[0, 0, 1, 1],
                  seed=1, shots=20, timeline=False)
    assert run.num_nonlocal_gates > 0 and run.fidelity == pytest.approx(1.0, abs=1e-10)
    local = run_dqc(random_circuit(2, 4, seed=2, measure=True), comm=comm_mod.SingleComm(), backend=BACKEND,
                    network=net, scheme="teledata", assignment=[2, 2], seed=1, shots=20, timeline=False)
    assert local.num_nonlocal_gates == 0 and local.fidelity == pytest.approx(1.0, abs=1e-10)
    with pytest.raises(ResourceError, match=r"\[network\.node\]\.num_comm_qubits = 1: node node1 needs 2 "
                                            r"communication qubits .*swaps entanglement.*num_comm_qubits = 2"):
        run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=net, assignment=[0, 0, 2, 2])
    with pytest.raises(ResourceError, match=r"node node[01] needs 2 communication qubits .*target of a teledata"):
        run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=net, scheme="teledata",
                assignment=[0, 0, 1, 1])


@pytest.mark.parametrize("extra,match", [
    ("[simulation]\nobservables = [\"Z5\"]\n", r'\[simulation\]\.observables\[0\] = "Z5": qubit 5 is outside 0\.\.2'),
    ("[distribution]\nassignment = [0, 1]\n", r"\[distribution\]\.assignment = \[0, 1\]: lists 2 qubits but the "
                                               r"circuit of \[circuit\]\.qasm has 3"),
    ("", r'\[circuit\]\.qasm = ".*three\.qasm": the circuit has 3 qubits, more than the network\'s capacity of 2 '
         r"data qubits \(2 nodes × 1\); raise \[network\.node\]\.num_data_qubits"),
])
def test_repro_a_qasm_circuit_that_does_not_fit_the_job_is_refused_naming_the_key(tmp_path, extra, match):
    """A QASM circuit's qubits are known at run time: an observable beyond them ended in an IndexError
    traceback, a wrong assignment length or too small a network in a line without the job file or key."""
    from dqsim.errors import ConfigError
    from dqsim.jobs import load_job_text
    from dqsim.scenarios.dqc import run_job

    (tmp_path / "three.qasm").write_text('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nh q[0];\n'
                                         'cx q[0], q[1];\ncx q[1], q[2];\n')
    nodes = 2 if not extra else 3
    job = load_job_text(f"""[run]\nname = "t"\nscenario = "dqc"\n[network]\ntopology = "line"\nnum_nodes = {nodes}
[network.link]\ndistance_km = 1.0\n[network.node]\nnum_data_qubits = 1\nnum_comm_qubits = 2
[circuit]\nqasm = "three.qasm"\n{extra}""", source="jobs/x.toml", base_dir=tmp_path)
    with pytest.raises(ConfigError, match="^jobs/x.toml: " + match) as info:
        run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name,params", [("cx", ()), ("cp", (0.7,)), ("crx", (0.9,)), ("cu3", (0.3, 0.5, 0.7))])
def test_a_noiseless_nonlocal_gate_is_exact_with_its_global_phase(name, params):
    # numpy's eigh gives the Bell pair as -(|00> + |11>)/sqrt(2); before phase_fixed every TeleGate left -1
    # on the register (fidelity 1, amplitudes the monolithic ones times -1; TeleData's two pairs hid it).
    from dqsim.state.sharded import ShardedState

    circuit = Circuit(2)
    circuit.gate("h", 0)
    circuit.gate("ry", 1, params=[0.4])
    circuit.gate(name, 0, 1, params=list(params))
    ideal = ShardedState(2, comm_mod.SingleComm(), backend=BACKEND)
    for gate in circuit.gates():
        ideal.apply_gate(gate.name, gate.qubits, gate.params)
    ideal = ideal.gather()
    graph, names, specs = network("line", 2, data=1, comm=2)
    for scheme in ("telegate", "teledata"):
        for seed in (1, 2):  # other measurement outcomes, other corrections
            run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                          scheme=scheme, assignment=[0, 1], seed=seed, shots=1, timeline=False)
            final = run.state.gather()
            assert np.max(np.abs(final[:4] - ideal)) < 1e-12, (scheme, seed)  # data bits low, scratch bits |0>
            assert np.max(np.abs(final[4:])) < 1e-12


def test_repro_the_timing_of_several_trajectories_sums_their_stages():
    """userwalk3 D4: the ``timing`` of a multi-trajectory run was the last trajectory's alone (0.3 s of a 6.6 s
    run of 20 trajectories). Each trajectory here reports its own stage seconds; the merged run sums them."""
    import dataclasses

    from dqsim.scenarios.dqc import run_trajectories

    graph, _names, specs = network("line", 2)
    base = run_dqc(random_circuit(4, 2, seed=3, measure=True), comm=comm_mod.SingleComm(), backend=BACKEND,
                   network=Network(graph, specs), seed=1, shots=10)
    seconds = iter([(1.0, 2.0, 0.25), (0.5, 4.0, 0.5), (2.0, 8.0, 1.0)])

    def one_run(_seed, _shots, _timeline):
        setup, network_s, results = next(seconds)
        return dataclasses.replace(base, timing_s={"setup": setup, "network": network_s, "results": results})

    merged = run_trajectories(one_run, seed=1, shots=30, trajectories=3, timeline=False)
    assert merged.timing_s == {"setup": 3.5, "network": 14.0, "results": 1.75}
    assert list(merged.timing_s) == ["setup", "network", "results"]
