"""The register ``dqsim check`` prices a networked run with is never smaller than the run's
(``register_qubits``): :func:`dqsim.circuit.register_peak.network_qubits_bound` over the run's plan, for the
``dqc``, ``trotter`` and ``cloud`` scenarios. Until 2026-12-07 (late afternoon) check counted one qubit more only
where a node held two communication qubits at once, so nonlocal gates that ran at once between disjoint QPU pairs
held more than it said (two TeleGates on 4 QPUs: run 11, check 10; ``jobs/ising_trotter_4qpu.toml``: run 11,
check 10), and the ``cloud`` scenario's check gave no register size at all (and, for a few hours, planned one
QPU set per set of links, so links of their own lengths that routed a set through a relay held more than it said:
:func:`test_cloud_sets_with_the_same_links_but_other_routes_are_planned_apart`)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dqsim import comm as comm_mod
from dqsim.circuit.generators import random_circuit
from dqsim.circuit.ir import Circuit
from dqsim.errors import ResourceError
from dqsim.circuit import register_peak
from dqsim.cli import check
from dqsim.jobs import load_job_text
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios import cloud, dqc, trotter

from conftest import TEST_BACKEND
from job_helpers import lossless_link

pytestmark = pytest.mark.skipif(TEST_BACKEND is None, reason="no GPU for the cupy backend")

JOBS = Path(__file__).resolve().parent.parent / "jobs"


def register_of_line(lines) -> tuple[int, bool]:
    """``(qubits, exact)`` of check's register line."""
    line = next(text for text in lines if text.startswith("memory per rank") and "register" in text)
    found = re.search(r": (at most )?(\d+) qubits,", line)
    assert found, line
    return int(found.group(2)), found.group(1) is None


def run_register(prepared, seed: int = 1) -> int:
    """The register qubits of one engine run of ``prepared`` (no fidelity check, one shot)."""
    run = dqc.run_dqc(prepared.circuit, comm=comm_mod.SingleComm(), backend=TEST_BACKEND, network=prepared.network,
                      scheme=prepared.scheme, seed=seed, shots=1, timeline=False, prepared=prepared,
                      fidelity_check="off")
    assert run.register_peak_qubits == run.state.num_qubits  # (the register never shrinks)
    return run.state.num_qubits


def network(num_nodes: int, topology: str, comm_qubits: int, *, data: int = 2, lossless: bool = True) -> Network:
    nodes = [NodeSpec(name=f"q{i}", num_data_qubits=data, num_comm_qubits=comm_qubits) for i in range(num_nodes)]
    link = (LinkSpec(distance_km=1.0, scheme="direct", attenuation_db_per_km=0.0, detector_efficiency=1.0,
                     dark_count_rate_hz=0.0) if lossless else LinkSpec(distance_km=1.0))
    pairs = {"line": [(i, i + 1) for i in range(num_nodes - 1)],
             "star": [(0, i) for i in range(1, num_nodes)],
             "all_to_all": [(i, j) for i in range(num_nodes) for j in range(i + 1, num_nodes)]}[topology]
    return Network.from_links(nodes, [(a, b, link) for a, b in pairs])


def test_two_telegates_at_once_are_counted():
    """Two TeleGates between disjoint QPU pairs over lossless links run at once: 3 network qubits at the second
    one's cat-entangler (the first's target half, both halves of the second's pair); check said 10 for 11."""
    circuit = Circuit(8).gate("h", 0).gate("h", 4).gate("cx", 0, 2).gate("cx", 4, 6)
    prepared = dqc.plan_dqc(circuit, network(4, "line", 2), assignment=[0, 0, 1, 1, 2, 2, 3, 3])
    assert run_register(prepared) == 11
    extra, exact = dqc.extra_register_qubits(prepared)
    assert (8 + dqc.INITIAL_SCRATCH_QUBITS + extra, exact) == (11, False)


def test_two_swaps_at_once_are_counted():
    """Two teleported SWAPs between disjoint QPU pairs, lossless: each holds two network qubits between the two
    teleportations' sends and receipts, and the register reaches data + 5 (check counted data + 3)."""
    circuit = Circuit(8).gate("swap", 0, 2).gate("swap", 4, 6)
    prepared = dqc.plan_dqc(circuit, network(4, "line", 2), assignment=[0, 0, 1, 1, 2, 2, 3, 3])
    ran = run_register(prepared)
    extra, _exact = dqc.extra_register_qubits(prepared)
    assert ran >= 11 and 8 + 2 + extra >= ran


CASES = [(seed, qpus, topology, scheme, comm_qubits)
         for seed, (qpus, topology) in enumerate([(2, "line"), (3, "line"), (3, "all_to_all"), (4, "line"),
                                                  (4, "star"), (4, "all_to_all")])
         for scheme in ("telegate", "teledata") for comm_qubits in (1, 2)]


@pytest.mark.parametrize("seed,qpus,topology,scheme,comm_qubits", CASES)
def test_the_bound_holds_the_run_s_register(seed, qpus, topology, scheme, comm_qubits):
    """Random circuits and placements on 2-4 QPUs, both schemes, one or two communication qubits, routed pairs
    (lines and stars of 3-4), lossy links (random attempt counts): the run's register is at most the bound, and
    equal to it where the bound says it is exact."""
    rng = np.random.default_rng(100 + seed)
    circuit = random_circuit(2 * qpus, depth=4, seed=seed)
    assignment = rng.permutation(np.repeat(np.arange(qpus), 2)).tolist()
    net = network(qpus, topology, comm_qubits, lossless=False)
    try:
        prepared = dqc.plan_dqc(circuit, net, scheme=scheme, assignment=assignment)
    except ResourceError:
        pytest.skip("the plan needs two communication qubits at a node")
    extra, exact = dqc.extra_register_qubits(prepared)
    most = 2 * qpus + dqc.INITIAL_SCRATCH_QUBITS + extra
    for run_seed in (1, 2):
        ran = run_register(prepared, run_seed)
        assert ran <= most
        assert not exact or ran == most


def test_the_ahead_schedule_is_bounded_by_the_communication_qubits():
    """``entanglement = "ahead"`` overlaps a node's nonlocal gates: bounded by the communication qubits of the
    QPUs that take part (here 8), said as "at most"."""
    text = (JOBS / "dqc_ghz_4qpu.toml").read_text().replace("shots = 1000", "shots = 10")
    text = text.replace("# entanglement = \"ahead\"", "entanglement = \"ahead\"")
    job = load_job_text(text)
    assert job.distribution.entanglement == "ahead"
    qubits, exact = register_of_line(check.work_lines(job, 1))
    assert (qubits, exact) == (16, False)
    out = dqc.run_job(job, comm=comm_mod.SingleComm(), backend=TEST_BACKEND)
    assert out.attrs["register_qubits"] <= qubits


@pytest.mark.parametrize("name", ["dqc_ghz_4qpu", "dqc_ghz_edges_file", "dqc_teleport_feedforward"])
def test_example_dqc_jobs(name):
    """The example jobs: check's register equals the run's, or is at most one more where it says "at most"."""
    text = (JOBS / f"{name}.toml").read_text()
    text = re.sub(r"\nshots = \d[\d_]*", "\nshots = 4", text).replace("timeline = true", "timeline = false")
    job = load_job_text(text, source=str(JOBS / f"{name}.toml"), base_dir=JOBS)
    qubits, exact = register_of_line(check.work_lines(job, 1))
    ran = dqc.run_job(job, comm=comm_mod.SingleComm(), backend=TEST_BACKEND).attrs["register_qubits"]
    assert ran == qubits if exact else ran <= qubits <= ran + 1


def test_example_trotter_job_counts_its_concurrent_blocks():
    """``jobs/ising_trotter_4qpu.toml``: its cut ZZ blocks between QPUs 0-1 and 2-3 run at once, and its run holds
    11 qubits; check said 10 before (one qubit where a node holds two at once: none here), now at most 11."""
    text = (JOBS / "ising_trotter_4qpu.toml").read_text()
    job = load_job_text(re.sub(r"\nnum_points = \d+", "\nnum_points = 1", text), base_dir=JOBS)
    qubits, exact = register_of_line(check.work_lines(job, 1))
    assert (qubits, exact) == (11, False)
    out = trotter.run_job(job, comm=comm_mod.SingleComm(), backend=TEST_BACKEND)
    assert out.attrs["register_qubits"] == 11


def test_cloud_check_gives_the_largest_user_job_s_register():
    """``jobs/cloud_queue.toml``: check names the largest user job's register (its line said "at most the QPUs'
    data qubits" and gave no size); each job's run on the QPUs the idle centre gives it, and the largest job's on
    a set of every shape the queue may give it, holds at most that."""
    job = load_job_text((JOBS / "cloud_queue.toml").read_text(), base_dir=JOBS)
    lines = check.work_lines(job, 1)
    qubits, exact = register_of_line(lines)
    assert "the largest, user job qft8's data register" in next(line for line in lines if "largest" in line)
    users = cloud.user_jobs_of(job)
    net = dqc.job_network(job.network, 1)
    largest = cloud.largest_register(users, net, scheme="telegate")
    assert (largest.name, largest.num_qubits, largest.exact) == ("qft8", qubits, exact)
    for user in users:
        qpus = tuple(range(-(-user.circuit.num_qubits // 2)))  # (the idle centre's set: QPUs 0.., linked in a line)
        assert run_register(dqc.plan_dqc(user.circuit, net.subnetwork(qpus), scheme="telegate")) <= qubits
    qft8 = next(user for user in users if user.name == "qft8")
    centre = cloud.Centre.from_edges(net.num_nodes, net.links, data_qubits=2)
    for qpus in cloud._set_shapes(centre, net, 4):
        assert run_register(dqc.plan_dqc(qft8.circuit, net.subnetwork(qpus), scheme="telegate")) <= qubits


def test_the_sets_a_cloud_job_may_get():
    """One set of each shape of the connected sets of a size (a ring of 8: 8 sets of 4 QPUs, 4 shapes as the
    sorted sets number their routes); too many sets: ``None`` (the job's plan is then taken as routed anyhow)."""
    ring = network(8, "line", 2)
    ring = Network.from_links(list(ring.nodes), [(i, (i + 1) % 8, ring.distinct_link_specs[0]) for i in range(8)])
    centre = cloud.Centre.from_edges(8, ring.links, data_qubits=2)
    assert cloud._set_shapes(centre, ring, 4) == [(0, 1, 2, 3), (0, 1, 2, 7), (0, 1, 6, 7), (0, 5, 6, 7)]
    full = network(10, "all_to_all", 2)
    centre = cloud.Centre.from_edges(10, full.links, data_qubits=2)
    assert cloud._set_shapes(centre, full, 4) is None and cloud.MAX_REGISTER_SETS < 210


def test_cloud_sets_with_the_same_links_but_other_routes_are_planned_apart():
    """K4 with one 10 km link (q1-q3): the sets (0, 1, 3) and (1, 2, 3) route q1-q3's gates through the
    middle QPU and hold 9 qubits for a 6-qubit random circuit, (0, 1, 2) and (0, 2, 3) (same links: a triangle)
    route each pair directly and hold 8. A shape was the links alone, so check planned one triangle, (0, 1, 2), and said
    exactly 8 (as ``dqsim check`` of such a ``cloud`` job with links of their own lengths)."""
    nodes = [NodeSpec(name=f"q{i}", num_data_qubits=2, num_comm_qubits=2) for i in range(4)]
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    link = network(2, "line", 2).distinct_link_specs[0]
    net = Network.from_pairs(nodes, pairs, [link] * len(pairs), lengths_km=[1.0, 1.0, 1.0, 1.0, 10.0, 1.0])
    circuit = random_circuit(6, depth=6, seed=3)
    largest = cloud.largest_register([cloud.UserJob("r", circuit, 10, 0)], net, scheme="telegate")
    held = {qpus: run_register(dqc.plan_dqc(circuit, net.subnetwork(qpus), scheme="telegate"))
            for qpus in [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)]}
    assert held == {(0, 1, 2): 8, (0, 1, 3): 9, (0, 2, 3): 8, (1, 2, 3): 9}
    assert (largest.num_qubits, largest.exact) == (9, False)


def test_without_scipy_networkx_gives_the_same_bound(monkeypatch):
    """SciPy is optional: networkx's flow gives the same bound, and a plan of more events than it is handed
    (:data:`~dqsim.circuit.register_peak.MAX_NETWORKX_EVENTS`) a larger one, never a smaller."""
    prepared = dqc.plan_dqc(random_circuit(8, depth=6, seed=3), network(4, "all_to_all", 2),
                            assignment=[0, 0, 1, 1, 2, 2, 3, 3])
    monkeypatch.setattr(register_peak, "NETWORKX_FIRST_EVENTS", 0)  # every graph to SciPy's flow
    with_scipy = dqc.extra_register_qubits(prepared)

    def missing(*_args):
        raise ImportError("no scipy")

    monkeypatch.setattr(register_peak, "_scipy_flow", missing)
    assert dqc.extra_register_qubits(prepared) == with_scipy
    monkeypatch.setattr(register_peak, "MAX_NETWORKX_EVENTS", 0)
    assert dqc.extra_register_qubits(prepared)[0] >= with_scipy[0]


def test_small_plans_take_networkx_flow_with_scipys_bound(monkeypatch):
    """A plan's graphs of at most :data:`~dqsim.circuit.register_peak.NETWORKX_FIRST_EVENTS` events go to
    networkx's flow (``dqsim check`` then does not import SciPy's sparse graphs, ~0.4 s), with SciPy's bound."""
    prepared = dqc.plan_dqc(random_circuit(8, depth=6, seed=3), network(4, "all_to_all", 2),
                            assignment=[0, 0, 1, 1, 2, 2, 3, 3])
    monkeypatch.setattr(register_peak, "NETWORKX_FIRST_EVENTS", 0)
    with_scipy = dqc.extra_register_qubits(prepared)
    monkeypatch.undo()
    calls = []
    real = register_peak._scipy_flow
    monkeypatch.setattr(register_peak, "_scipy_flow", lambda *args: calls.append(len(args[0])) or real(*args))
    assert dqc.extra_register_qubits(prepared) == with_scipy
    assert calls == []


def test_check_of_an_example_trotter_job_imports_no_scipy_graphs():
    """``dqsim check`` of the example trotter job plans small graphs only: it leaves ``scipy.sparse.csgraph``
    unimported (importing it made check ~0.4 s slower, 2026-12-07 (late afternoon))."""
    root = Path(__file__).resolve().parents[1]
    code = ("import sys; from dqsim.cli import console_main; sys.argv = ['dqsim', 'check', "
            "'jobs/ising_trotter_4qpu.toml', '--no-time']; code = console_main(); "
            "print('csgraph' if 'scipy.sparse.csgraph' in sys.modules else 'none', code)")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.stdout.strip().splitlines()[-1] in ("none 0", "none None")
