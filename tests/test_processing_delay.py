"""A node's classical processing delay in the networked scenarios (dqc, trotter, cloud).

``[network.node].classical_processing_delay_ps`` (c) is the time a QPU takes to act on a classical message or
a heralding station's click. The engine adds it to every message's latency (``Network.latency_ps``); an EPR
initiator, which hears the station's click without a message of its own, waits it after the herald
(``EprInitiator``, since 2026-12-06: before, it acted at the herald itself, so every pair was used c early at
one end). The memories decohere meanwhile.
"""

import math

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit.generators import ghz
from dqsim.engine import Simulator
from dqsim.io import open_run
from dqsim.jobs.network import MAX_PROCESSING_DELAY_PS
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.protocols.epr import epr_initiator, epr_responder
from dqsim.scenarios import cloud
from dqsim.scenarios.dqc import run_dqc
from dqsim.units import ps_to_seconds
from conftest import TEST_BACKEND
from mpi_helper import run_here, run_mpi
from run_files import same_tables

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")

#: An ideal 1 km double-click link (no dark counts: every herald is a true one, the pair exactly |Φ+⟩).
LINK = LinkSpec(distance_km=1.0, dark_count_rate_hz=0.0)


def line_network(num_nodes, delay_ps, *, link=LINK, data=1, comm=2, **node):
    graph = topology.line(num_nodes, link=link)
    return Network(graph, [NodeSpec(name=name, num_data_qubits=data, num_comm_qubits=comm,
                                    classical_processing_delay_ps=delay_ps, **node) for name in graph.nodes])


def bell_run(network, *, seed, scheme="telegate", assignment=(0, 1)):
    """One run of the 2-qubit GHZ circuit (H, then a remote CNOT) with its qubits on ``assignment``'s nodes."""
    return run_dqc(ghz(2), comm=comm_mod.SingleComm(), backend=BACKEND, network=network, scheme=scheme,
                   assignment=list(assignment), seed=seed, shots=0, timeline=False)


# ------------------------------------------------------------------------------------------- timing


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_repro_a_telegate_ends_five_processing_delays_later(seed):
    """A TeleGate between two QPUs over one link (d = link delay, h = herald delay, P = attempt period, k the
    attempts drawn; gates and measurements take no time): the initiator's reservation request reaches the
    responder after d + c, the answer comes back d + c later, the k-th attempt is emitted (k − 1)·P after that,
    the initiator acts on the herald h + c after the emission (the responder's herald, a message, reaches it at
    the same time), the cat-entangler's bit reaches the target d + c later and the disentangler's bit comes back
    d + c later: the run ends at 4d + h + (k − 1)·P + 5c (it was 4c later: the initiator acted at the herald).
    The attempts do not depend on c (the initiator's stream is keyed by its draws, not by times)."""
    d, h, period = LINK.delay_ps, LINK.herald_delay_ps, LINK.attempt_period_ps
    for delay_ps in (0, 3_000_000, 123_457):
        run = bell_run(line_network(2, delay_ps), seed=seed)
        ((_a, _b, pairs, attempts, _photons),) = run.links
        assert pairs == 1
        assert run.end_time_ps == 4 * d + h + (attempts - 1) * period + 5 * delay_ps


@pytest.mark.parametrize("num_nodes, scheme, assignment, count", [
    (2, "teledata", (0, 1), 5),
    (3, "telegate", (0, 2), 5),
    (3, "teledata", (0, 2), 6),
])
def test_repro_every_herald_and_message_on_the_critical_path_takes_the_delay(num_nodes, scheme, assignment, count):
    """Same seed, same attempts: the run ends ``count``·c later with a processing delay c on every node.

    TeleData over one link: its two pairs requested at once (request, answer, herald at the initiator: 3c)
    then the teleportation's bits out and back (c each): 5c (8c before 2026-12-06, the pairs one after the
    other). Over two links (qpu1 swaps the two elementary pairs, whichever link is heralded last): the
    elementary pairs' 3c, then for the TeleGate the swap's bits or the cat-entangler's bit (c) and the
    disentangler's bit (c), 5c; for TeleData the swap's bits (c), then out and back: 6c. Before, the
    initiator acted at the herald itself: 4c and 6c.
    """
    delay_ps = 2_000_000
    for seed in (1, 2):
        plain = bell_run(line_network(num_nodes, 0), seed=seed, scheme=scheme, assignment=assignment)
        slow = bell_run(line_network(num_nodes, delay_ps), seed=seed, scheme=scheme, assignment=assignment)
        assert slow.links == plain.links  # the same pairs and attempts
        assert slow.end_time_ps - plain.end_time_ps == count * delay_ps


@pytest.mark.parametrize("scheme, count", [("telegate", 5), ("teledata", 5)])
def test_the_scheduler_counts_the_delays_of_a_cut_gate(scheme, count):
    """The cloud scheduler's cost of a cut gate (``_pair_ps``) grows by the processing delays the protocol takes
    (5 for a TeleGate, 5 for TeleData since its pairs are made at once, as the runs above), and a run of one
    remote CNOT by as much; a TeleData run by 4 where its return pair is heralded late enough that the
    control's bits wait for it (seed 4 here; the returned bits then leave c after its herald): an upper bound."""
    delay_ps = 4_000_000
    plain, slow = line_network(2, 0), line_network(2, delay_ps)
    assert cloud._pair_ps(slow, scheme) - cloud._pair_ps(plain, scheme) == pytest.approx(count * delay_ps, abs=1e-3)
    for seed, grows in ((4, count if scheme == "telegate" else 4), (1, count)):
        assert (bell_run(slow, seed=seed, scheme=scheme).end_time_ps
                - bell_run(plain, seed=seed, scheme=scheme).end_time_ps == grows * delay_ps), seed


# ------------------------------------------------------------------------------------------- physics


def test_repro_the_initiator_uses_its_pair_after_the_delay_and_the_memories_dephase_meanwhile():
    """Both ends of a heralded |Φ+⟩ pair in memories with T2 = 50 µs (T1 infinite): each end acts on the herald
    c after it arrives, h + c after the emission, and the pair it then holds has, exactly (dephasing
    p = (1 − e^(−t/T2))/2 on each memory, Φ+ → Φ− when one of them flips),

        F = (1 + e^(−2(h + c)/T2)) / 2,

    so the delay lowers the fidelity by the factor e^(−2c/T2) on F − 1/2. Exact small states: to 1e-12.
    Before, the initiator acted at the herald with the fidelity of c = 0 (0.838 instead of 0.755 here)."""
    t2_s, link = 50e-6, LinkSpec(distance_km=2.0, dark_count_rate_hz=0.0)
    fidelity = {}
    for delay_ps in (0, 7_000_000):
        nodes = [NodeSpec(name=name, t2_s=t2_s, classical_processing_delay_ps=delay_ps) for name in ("a", "b")]
        sim = Simulator(Network.from_links(nodes, [(0, 1, link)]), comm=comm_mod.SingleComm(), state=None,
                        qubit_owner=[0, 1], num_data_qubits=0, seed=3)
        acted = {}

        def initiator(ctx):
            result = yield from epr_initiator(ctx, 1, link, 0, "pair")
            acted["a"] = (ctx.now_ps, result)
            ctx.probe_bell_fidelity(0, 1, "a")

        def responder(ctx):
            result = yield from epr_responder(ctx, 0, 1, "pair")
            acted["b"] = (ctx.now_ps, result)
            ctx.probe_bell_fidelity(0, 1, "b")

        sim.spawn(0, initiator)
        sim.spawn(1, responder)
        sim.run()
        probes = sim.gather_probes()
        expected = (1 + math.exp(-2 * ps_to_seconds(link.herald_delay_ps + delay_ps) / t2_s)) / 2
        for end in ("a", "b"):
            now_ps, result = acted[end]
            assert now_ps == result.herald_ps + delay_ps and result.herald_ps - result.created_ps == link.herald_delay_ps
            assert probes[end] == pytest.approx(expected, abs=1e-12), end
        fidelity[delay_ps] = probes["a"]
    assert fidelity[7_000_000] - 0.5 == pytest.approx((fidelity[0] - 0.5) * math.exp(-2 * 7e-6 / t2_s), abs=1e-12)


def test_a_telegate_bell_state_dephases_for_every_processing_delay():
    """H then a remote CNOT over a 0.1 km link, every memory with T2 = 20 µs and c = 1 µs. A Z error on any qubit
    ends as one Z on the Bell state (through the CNOTs, or by flipping the disentangler's X-basis bit), so over
    trajectories F = (1 + e^(−τ/T2))/2 with τ the qubits' summed exposure: the control from the start to the
    end E, the target from the gate (d + c before E) to E, the control's memory from the emission until the
    cat-entangler (h + c), the target's until the disentangler (h + d + 2c): τ = E + 2d + 2h + 4c, 9c of it
    the delays' (E holds 5c). The mean over 600 trajectories (each F = 0 or 1, with its own attempts, so its
    own E) is the mean of that formula within 4 standard errors (about 0.07; with 3,000 trajectories
    0.746 ± 0.008 against 0.747 measured, 2026-12-06)."""
    t2_s, delay_ps = 20e-6, 1_000_000
    link = LinkSpec(distance_km=0.1, dark_count_rate_hz=0.0)
    network = line_network(2, delay_ps, link=link, comm=1, t2_s=t2_s)
    d, h = link.delay_ps, link.herald_delay_ps
    fidelities, expected = [], []
    for seed in range(600):
        run = bell_run(network, seed=seed)
        exposure_ps = run.end_time_ps + 2 * d + 2 * h + 4 * delay_ps
        fidelities.append(run.fidelity)
        expected.append((1 + math.exp(-ps_to_seconds(exposure_ps) / t2_s)) / 2)
    fidelities = np.array(fidelities)
    standard_error = fidelities.std(ddof=1) / math.sqrt(fidelities.size)
    assert 0.6 < np.mean(expected) < 0.9, "pick T2 so that the waits matter"
    assert abs(fidelities.mean() - np.mean(expected)) < 4 * standard_error


# ------------------------------------------------------------------------------------------- jobs

#: Short versions of the networked example jobs, with a processing delay of 3 µs and memories with T2 = 1 ms.
DELAYED = ["--set", "network.node.classical_processing_delay_ps=3000000", "--set", "network.node.t2_s=0.001"]
SHORT = {
    "dqc": ["jobs/dqc_teleport_feedforward.toml", "--set", "simulation.shots=24"],
    "trotter": ["jobs/ising_trotter_4qpu.toml", "--set", "evolution.num_points=2", "--set",
                "simulation.trajectories=2"],
    "cloud": ["jobs/cloud_queue.toml", "--set", "simulation.trajectories=2"],
}


def test_jobs_with_the_delay_give_the_same_tables_on_one_and_two_ranks(tmp_path):
    """dqc, trotter and cloud jobs with c = 3 µs and T2 = 1 ms: every table of a 2-rank run (one launch,
    tests/mpi_scripts/dqsim_runs.py) equals the 1-rank run's (but the wall-clock ``timing``), and the delay
    shows in the simulated time (later than the same job with c = 0)."""
    lines = []
    for name, args in SHORT.items():
        lines += [*(["--then"] if lines else []), "run", *args, *DELAYED, "-o", str(tmp_path / f"{name}-2.h5"), "-q"]
    run_mpi(2, ["tests/mpi_scripts/dqsim_runs.py", *lines], timeout_s=300)
    for name, args in SHORT.items():
        run_here(["run", *args, *DELAYED, "-o", tmp_path / f"{name}-1.h5", "-q"])
        one, two = open_run(tmp_path / f"{name}-1.h5"), open_run(tmp_path / f"{name}-2.h5")
        assert list(one.tables) == list(two.tables)
        same_tables(one, two, [table for table in one.tables if table != "timing"])
        assert one.attrs["num_ranks"] == 1 and two.attrs["num_ranks"] == 2
    run_here(["run", *SHORT["dqc"], "--set", "network.node.t2_s=0.001", "-o", tmp_path / "dqc-0.h5", "-q"])
    assert (open_run(tmp_path / "dqc-1.h5").attrs["simulated_time_ps"]
            > open_run(tmp_path / "dqc-0.h5").attrs["simulated_time_ps"])


def test_a_delay_of_zero_is_the_default(tmp_path):
    """``classical_processing_delay_ps = 0`` written out gives the run without the key, table for table (the
    example jobs' outputs were compared with those of the code before the delay took effect at the initiator:
    equal but the wall-clock timing, 2026-12-06)."""
    for value in (None, 0):
        extra = [] if value is None else ["--set", f"network.node.classical_processing_delay_ps={value}"]
        run_here(["run", *SHORT["dqc"], *extra, "-o", tmp_path / f"dqc-{value}.h5", "-q"])
    plain, explicit = open_run(tmp_path / "dqc-None.h5"), open_run(tmp_path / "dqc-0.h5")
    same_tables(plain, explicit, [table for table in plain.tables if table != "timing"])
    assert plain.attrs["simulated_time_ps"] == explicit.attrs["simulated_time_ps"]


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("value", ["-1", str(MAX_PROCESSING_DELAY_PS + 1), str(2**62), "1.5", '"5ps"'])
def test_repro_a_delay_outside_its_range_is_refused_in_one_line(tmp_path, command, value):
    """A delay of 2**62 ps ran, then the timeline's int64 times overflowed (a traceback after the run); now any
    value outside 0..10**12 (1 s: the clock holds 9 million of them) is refused before any work, in one line
    naming the file, the key, the value and the range."""
    args = [command, "jobs/dqc_teleport_feedforward.toml", "--set", f"network.node.classical_processing_delay_ps={value}"]
    if command == "run":
        args += ["-o", tmp_path / "out.h5"]
    result = run_here(args, check=False)
    assert result.returncode != 0 and not (tmp_path / "out.h5").exists()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "jobs/dqc_teleport_feedforward.toml" in lines[0]
    assert f"[network.node].classical_processing_delay_ps = {value}: must be an integer in [0, 1_000_000_000_000]" \
        in lines[0]


@pytest.mark.parametrize("job", ["ising_trotter_4qpu.toml", "cloud_queue.toml"])
def test_the_trotter_and_cloud_jobs_bound_the_delay_too(job):
    """The ``[network]`` section is shared: the largest delay passes, one more is refused in one line."""
    ok = run_here(["check", f"jobs/{job}", "--set", f"network.node.classical_processing_delay_ps={MAX_PROCESSING_DELAY_PS}"])
    assert ok.returncode == 0
    bad = run_here(["check", f"jobs/{job}", "--set",
                    f"network.node.classical_processing_delay_ps={MAX_PROCESSING_DELAY_PS + 1}"], check=False)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1
    assert f"[network.node].classical_processing_delay_ps = {MAX_PROCESSING_DELAY_PS + 1}" in bad.stderr
