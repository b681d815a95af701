"""The trotter scenario: spin-chain Hamiltonians, Trotter circuits, exact evolution, networked runs.

References used below:
* periodic TFIM ground-state energy from the free-fermion solution,
  P. Pfeuty, "The one-dimensional Ising model with a transverse field",
  Ann. Phys. 57, 79 (1970): ``E0 = −Σ_k sqrt(J² + h² − 2Jh cos k)`` over
  ``k = (2m+1)π/N``, ``m = 0..N−1`` (the even-parity, antiperiodic-fermion sector);
* open TFIM chain at ``J = h = 1``, same solution with modes
  ``k_m = (2m−1)π/(2N+1)``: ``E0 = −2 Σ_m sin(k_m/2) = 1 − 1/sin(π/(2(2N+1)))``.
"""

import math

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit.hamiltonians import (SpinModel, exact_evolution, ground_state_energy, hamiltonian_matrix,
                                        initial_state, trotter_circuit)
from dqsim.errors import ConfigError, DqsimError
from dqsim.jobs import apply_overrides, load_job, load_job_text
from dqsim.jobs.trotter import TrotterJob
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios import trotter as scenario
from dqsim.scenarios.dqc import run_dqc
from dqsim.state.sharded import ShardedState

from mpi_helper import ROOT, run_check_here, run_mpi_arrays
from conftest import TEST_BACKEND

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")
#: Networked evolution over ideal links must equal the monolithic one to rounding.
EXACT_TOL = 1e-10


def monolithic(circuit):
    state = ShardedState(circuit.num_qubits, backend=BACKEND)
    state.apply_ops([g.to_op() for g in circuit.gates()])
    return state


# ----------------------------------------------------------------- Hamiltonians and exact evolution

@pytest.mark.parametrize("num_sites", [3, 4, 6, 8])
@pytest.mark.parametrize("coupling,field", [(1.0, 1.0), (1.0, 0.5), (0.7, 1.3)])
def test_periodic_tfim_ground_energy_matches_free_fermions(num_sites, coupling, field):
    ks = [math.pi * (2 * m + 1) / num_sites for m in range(num_sites)]
    reference = -math.fsum(math.sqrt(coupling ** 2 + field ** 2 - 2 * coupling * field * math.cos(k)) for k in ks)
    model = SpinModel(kind="tfim", num_sites=num_sites, boundary="periodic", J=coupling, h=field)
    assert ground_state_energy(model) == pytest.approx(reference, abs=1e-10)


@pytest.mark.parametrize("num_sites", [2, 5, 10])
def test_open_critical_tfim_ground_energy(num_sites):
    reference = 1.0 - 1.0 / math.sin(math.pi / (2 * (2 * num_sites + 1)))
    assert ground_state_energy(SpinModel(kind="tfim", num_sites=num_sites)) == pytest.approx(reference, abs=1e-10)


def test_hamiltonian_matrix_is_the_pauli_sum():
    # Independent construction with Kronecker products (qubit q = bit q: rightmost factor is site 0).
    paulis = {"X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]), "Z": np.diag([1, -1])}
    model = SpinModel(kind="xxz", num_sites=3, boundary="periodic", J=0.8, delta=0.3, h=0.4)
    dense = np.zeros((8, 8), dtype=complex)
    for coefficient, letters, sites in model.terms():
        factors = [np.eye(2)] * 3
        for letter, site in zip(letters, sites):
            factors[2 - site] = paulis[letter]
        dense += coefficient * np.kron(np.kron(factors[0], factors[1]), factors[2])
    assert np.allclose(hamiltonian_matrix(model), dense, atol=1e-14)


def test_exact_evolution_matches_matrix_exponential():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    model = SpinModel(kind="tfim", num_sites=4, boundary="periodic", J=1.0, h=0.7)
    psi0 = initial_state(model, "neel")
    states = exact_evolution(model, "neel", [0.0, 0.3, 1.1])
    for t, state in zip([0.0, 0.3, 1.1], states):
        expected = scipy_linalg.expm(-1j * t * hamiltonian_matrix(model)) @ psi0
        assert np.allclose(state, expected, atol=1e-12)


def test_exact_evolution_refuses_large_chains():
    with pytest.raises(DqsimError, match="num_sites <= 12"):
        exact_evolution(SpinModel(kind="tfim", num_sites=13), "up", [1.0])


@pytest.mark.parametrize("kwargs,match", [(dict(time=-1.0, steps=1), "time"), (dict(time=1.0, steps=-1), "steps"),
                                          (dict(time=1.0, steps=1, order=3), "order"),
                                          (dict(time=1.0, steps=1, initial="down"), "initial")])
def test_trotter_circuit_refuses_bad_arguments(kwargs, match):
    with pytest.raises(DqsimError, match=match):
        trotter_circuit(SpinModel(kind="tfim", num_sites=3), **kwargs)


def test_commuting_hamiltonian_is_exact_in_one_step():
    model = SpinModel(kind="tfim", num_sites=4, boundary="periodic", J=0.9, h=0.0)  # only ZZ terms
    state = monolithic(trotter_circuit(model, 1.7, 1, initial="neel")).gather()
    assert abs(np.vdot(exact_evolution(model, "neel", [1.7])[0], state)) ** 2 == pytest.approx(1.0, abs=1e-12)


# Global Trotter error at fixed time T: ‖ψ_trotter − ψ_exact‖ ∝ dt^order, so halving dt divides it
# by 2 (first order) or 4 (second order). Measured ratios are within 3 % of that; we allow 10 %.
@pytest.mark.parametrize("model,initial", [
    (SpinModel(kind="tfim", num_sites=6, J=1.0, h=0.8), "up"),
    (SpinModel(kind="xxz", num_sites=5, boundary="periodic", J=1.0, delta=0.5, h=0.3), "neel"),
], ids=["tfim", "xxz"])
@pytest.mark.parametrize("order,steps", [(1, 16), (2, 8)])
def test_trotter_error_shrinks_with_the_order(model, initial, order, steps):
    exact = exact_evolution(model, initial, [1.0])[0]
    errors = [np.linalg.norm(monolithic(trotter_circuit(model, 1.0, n, order=order, initial=initial)).gather()
                             - exact) for n in (steps, 2 * steps)]
    assert errors[0] / errors[1] == pytest.approx(2.0 ** order, rel=0.10)


# ----------------------------------------------------------------- networked runs

@pytest.mark.parametrize("model,kind,num_nodes,initial", [
    (SpinModel(kind="tfim", num_sites=6, boundary="periodic", J=1.0, h=0.6), "ring", 3, "up"),
    (SpinModel(kind="xxz", num_sites=4, J=1.0, delta=0.4, h=0.2), "line", 2, "neel"),
], ids=["tfim-ring", "xxz-chain"])
def test_ideal_links_reproduce_the_monolithic_trotter_state(model, kind, num_nodes, initial):
    graph = getattr(topology, kind)(num_nodes, link=LinkSpec(distance_km=2.0))
    names = list(graph.nodes)
    per_node = model.num_sites // num_nodes
    specs = [NodeSpec(name=n, num_data_qubits=per_node, num_comm_qubits=2) for n in names]
    circuit = trotter_circuit(model, 0.8, 3, order=2, initial=initial)
    assignment = [site // per_node for site in range(model.num_sites)]
    run = run_dqc(circuit, comm=comm_mod.SingleComm(), backend=BACKEND, network=Network(graph, specs),
                  assignment=assignment, shots=0, timeline=False)
    assert run.num_nonlocal_gates > 0
    assert run.fidelity == pytest.approx(1.0, abs=EXACT_TOL)
    mono = monolithic(circuit)
    # State fidelity, independently of run_dqc: embed the sites' state in the register (comm qubits |0⟩).
    register = run.state.gather()
    qubit_of_site = list(run.regmap.qubit_of_logical)
    index = np.zeros(1 << model.num_sites, dtype=np.int64)
    for site, qubit in enumerate(qubit_of_site):
        index |= ((np.arange(1 << model.num_sites) >> site) & 1) << qubit
    assert abs(np.vdot(mono.gather(), register[index])) ** 2 == pytest.approx(1.0, abs=EXACT_TOL)
    names_ = ["magnetization", "staggered_magnetization", "correlation", "energy", "loschmidt"]
    bits = [site % 2 if initial == "neel" else 0 for site in range(model.num_sites)]
    net = scenario.observables_of(
        run.state, model, qubit_of_site, names_,
        scenario.product_state(run.state.num_qubits, qubit_of_site, bits, comm=comm_mod.SingleComm(),
                               backend=BACKEND, precision="complex128"))
    ref = scenario.observables_of(
        mono, model, range(model.num_sites), names_,
        scenario.product_state(model.num_sites, range(model.num_sites), bits, comm=comm_mod.SingleComm(),
                               backend=BACKEND, precision="complex128"))
    for name in names_:
        assert net.values[name] == pytest.approx(ref.values[name], abs=EXACT_TOL), name
    assert np.allclose(net.sites, ref.sites, atol=EXACT_TOL)


def small(path, *overrides):
    return apply_overrides(load_job(ROOT / path), list(overrides))


def test_ising_job_file_runs_and_matches_trotter():
    job = small("jobs/ising_trotter_4qpu.toml", "evolution.num_points=3", "evolution.steps_per_point=1",
                "simulation.shots=50")
    assert isinstance(job, TrotterJob) and job.use_exact()
    out = scenario.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    obs = out.tables["observables"]
    assert set(obs["observable"]) == {"magnetization", "correlation", "energy", "loschmidt"}
    assert len(obs) == 4 * 4
    assert np.allclose(obs["networked"], obs["trotter"], atol=EXACT_TOL, rtol=0)
    # t = 0 is the initial state |0…0⟩: every observable is known exactly.
    first = {row["observable"]: row for row in obs[obs["time"] == 0.0]}
    assert first["magnetization"]["exact"] == pytest.approx(1.0)
    assert first["energy"]["exact"] == pytest.approx(-7.0)  # −J × 7 bonds
    assert first["loschmidt"]["networked"] == pytest.approx(1.0)
    net = out.tables["network"]
    assert np.allclose(net["fidelity_to_trotter"], 1.0, atol=EXACT_TOL)
    assert list(net["trotter_steps"]) == [0, 1, 2, 3]
    assert np.array_equal(net["epr_pairs"], net["nonlocal_gates"])  # one pair per TeleGate, ideal links
    assert net["nonlocal_gates"][1] == 3  # the three bonds between the four QPUs
    assert out.attrs["total_epr_pairs"] == net["epr_pairs"].sum()
    assert out.attrs["total_simulated_time_ps"] == pytest.approx(net["simulated_time_ps"].sum())
    assert len(out.tables["sites"]) == 4 * 8
    counts = out.tables["counts"]
    assert counts["count"].sum() == 50 and all(len(b) == 8 for b in counts["bitstring"])
    assert out.state is not None and out.summary
    # The initial state as the job file names it, like the other values of the summary (it printed 'up').
    assert out.summary[0].endswith(", 8-site open chain, initial up"), out.summary[0]


def test_sweep_of_source_fidelity_degrades_the_evolution():
    job = small("jobs/xxz_ring_sweep.toml", "evolution.num_points=2", "simulation.trajectories=1",
                'simulation.sweep={parameter = "source_fidelity", values = [1.0, 0.8]}')
    out = scenario.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    assert out.attrs["exact"] is True  # 6 sites: exact evolution on by default
    sweep, net = out.tables["sweep"], out.tables["sweep_network"]
    perfect = sweep[sweep["value"] == 1.0]
    assert np.allclose(perfect["networked"], perfect["trotter"], atol=EXACT_TOL, rtol=0)
    noisy = net[net["value"] == 0.8]
    assert noisy["fidelity_to_trotter"][0] == pytest.approx(1.0)  # t = 0: no gates
    # One trajectory per point (seeded): 15 and 27 pairs of fidelity 0.8, so errors are all but certain.
    assert noisy["fidelity_to_trotter"][1:].min() < 0.99
    assert set(out.tables["observables"]["observable"]) == {"staggered_magnetization", "correlation", "energy",
                                                            "loschmidt"}
    stag = out.tables["observables"][out.tables["observables"]["observable"] == "staggered_magnetization"]
    assert stag["exact"][0] == pytest.approx(1.0)  # Néel |0101…⟩: (1/N) Σ (−1)^i Z_i = 1


# ----------------------------------------------------------------- job files

BASE = """
[run]
name = "t"
scenario = "trotter"
[model]
kind = "tfim"
num_sites = 4
[evolution]
total_time = 1.0
[network]
topology = "line"
num_nodes = 2
[network.link]
distance_km = 1.0
[network.node]
num_data_qubits = 2
num_comm_qubits = 2
"""


def test_defaults():
    job = load_job_text(BASE)
    assert job.model.h == 1.0 and job.evolution.order == 2 and job.evolution.num_points == 10
    assert job.simulation.observables == ["magnetization", "correlation", "energy", "loschmidt"]
    assert job.site_assignment() == [0, 0, 1, 1]
    assert load_job_text(BASE.replace('kind = "tfim"', 'kind = "xxz"')).model.h == 0.0


@pytest.mark.parametrize("old,new,match", [
    ('kind = "tfim"', 'kind = "ising"', r"\[model\].kind"),
    ("num_sites = 4", "num_sites = 5", r"\[model\].num_sites = 5 exceeds"),
    ("num_sites = 4", "num_sites = 25", r"\[model\].num_sites = 25: must be <= 24"),
    ("num_sites = 4", 'num_sites = 2\nboundary = "periodic"', r"\[model\].num_sites = 2: must be >= 3"),
    ('kind = "tfim"', 'kind = "tfim"\ndelta = 0.5', r"\[model\].delta = 0.5: only used with kind = \"xxz\""),
    ('kind = "tfim"', "kind = []", r'\[model\].kind = \[\]: must be one of "tfim", "xxz"'),  # was a TypeError
    ("total_time = 1.0", "total_time = 0.0", r"\[evolution\].total_time = 0.0: must be in \(0, inf\)"),
    ("total_time = 1.0", "total_time = 1.0\norder = 3", r"\[evolution\].order = 3: must be one of 1, 2$"),
    ("total_time = 1.0", "total_time = 1.0\norder = true",  # was taken as order 1
     r"\[evolution\].order = true: must be one of 1, 2 \(a number, not true or false\)$"),
    ("total_time = 1.0", "total_time = 1.0\nnum_points = 201", r"\[evolution\].num_points = 201"),
    # a zero Hamiltonian loaded, then building the Trotter circuit ended in an IndexError traceback
    ('kind = "tfim"', 'kind = "tfim"\nJ = 0.0\nh = 0.0',
     r"\[model\]\.J = 0\.0: the Hamiltonian is zero with h = 0\.0 too: nothing evolves; give J or h a value other "
     r"than 0$"),
    ('kind = "tfim"', 'kind = "xxz"\nJ = 0.0', r"\[model\]\.J = 0\.0: the Hamiltonian is zero"),
    # boundary runs (bench/boundary_runs.py): h = 1.8e308 ended in a "math domain error" traceback (the angle 2·h·dt
    # overflowed), J = 1.8e308 wrote inf and NaN energies, total_time = 1.8e308 was refused only at run time
    ('kind = "tfim"', 'kind = "tfim"\nh = 1.7976931348623157e308',
     r"\[model\]\.h = 1\.7976931348623157e\+308: makes the Hamiltonian's norm bound .* overflow a float"),
    ('kind = "tfim"', 'kind = "tfim"\nJ = -1.7976931348623157e308', r"\[model\]\.J = -1\.7976931348623157e\+308: makes"),
    ('kind = "tfim"', 'kind = "xxz"\ndelta = 1e308', r"\[model\]\.delta = 1e\+308: makes"),
    ("total_time = 1.0", "total_time = 1.7976931348623157e308",
     r"\[evolution\]\.total_time = 1\.7976931348623157e\+308: times 2·‖H‖ <= .* overflows a float"),
])
def test_bad_job_values_name_their_key(old, new, match):
    with pytest.raises(ConfigError, match=match):
        load_job_text(BASE.replace(old, new))


def test_phases_beyond_float64_precision_are_warned_of():
    """h = 1e300 loads (finite phases), but a float64 angle of 1e300 rad says nothing of its value mod 2π
    (boundary runs, 2026-12-06): `dqsim check` and `dqsim run` warn; the shipped job and phases whose float64
    spacing is at most 1e-6 rad (below 2^33 rad) do not."""
    assert load_job_text(BASE).warnings() == []
    assert load_job(ROOT / "jobs/ising_trotter_4qpu.toml").warnings() == []
    (line,) = load_job_text(BASE.replace('kind = "tfim"', 'kind = "tfim"\nh = 1e300')).warnings()
    assert "phases up to 2·‖H‖·t = 8e+300 rad" in line and "keep no figure finer than" in line
    # ‖H‖ <= 4·(|J| + |h|) = 4·(1 + h), so 2‖H‖t = 8·(1 + h): just below and just above 2^33 rad
    below = 2.0 ** 30 - 1.0 - 2.0 ** -20
    assert load_job_text(BASE.replace('kind = "tfim"', f'kind = "tfim"\nh = {below!r}')).warnings() == []
    assert len(load_job_text(BASE.replace('kind = "tfim"', f'kind = "tfim"\nh = {2.0 ** 30!r}')).warnings()) == 1


def test_exact_evolution_only_for_small_chains():
    text = BASE.replace("num_sites = 4", "num_sites = 13").replace("num_data_qubits = 2", "num_data_qubits = 7")
    assert not load_job_text(text).use_exact()
    with pytest.raises(ConfigError, match=r"\[evolution\].exact = true: needs num_sites <= 12"):
        load_job_text(text.replace("total_time = 1.0", "total_time = 1.0\nexact = true"))


@pytest.mark.parametrize("extra,match", [
    ('observables = ["energy", "energy"]', r"\[simulation\].observables\[1\] = \"energy\": appears twice"),
    ('observables = ["spin"]', r"\[simulation\].observables\[0\]"),
    ('sweep = { parameter = "source_fidelity", values = [0.2] }', r"sweep.values\[0\] = 0.2: must be in \[0.25, 1\]"),
    ('sweep = { parameter = "loss", values = [1.0] }', r"sweep.parameter"),
    ("trajectories = 0", r"\[simulation\].trajectories = 0: must be >= 1"),
])
def test_bad_simulation_values_name_their_key(extra, match):
    with pytest.raises(ConfigError, match=match):
        load_job_text(BASE + "[simulation]\n" + extra + "\n")


def test_assignment_is_checked():
    with pytest.raises(ConfigError, match=r"\[distribution\].assignment\[2\] = 0: node 0"):
        load_job_text(BASE + "[distribution]\nassignment = [0, 0, 0, 1]\n")
    with pytest.raises(ConfigError, match=r"lists 3 sites"):
        load_job_text(BASE + "[distribution]\nassignment = [0, 0, 1]\n")


# ----------------------------------------------------------------- plot and ranks

def test_plot_draws_every_curve(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dqsim import io
    from dqsim.cli.plot_trotter import draw

    job = load_job_text(BASE.replace("total_time = 1.0", "total_time = 1.0\nnum_points = 2") +
                        '[simulation]\nsweep = { parameter = "distance_km", values = [1.0, 20.0] }\n')
    out = scenario.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    sweep = out.tables["sweep_network"]
    far, near = sweep[sweep["value"] == 20.0], sweep[sweep["value"] == 1.0]
    assert far["simulated_time_ps"][-1] > near["simulated_time_ps"][-1]  # longer fibre, slower pairs
    path = io.write_run_file(tmp_path / "t.h5", attrs={"scenario": "trotter", **out.attrs}, tables=out.tables)
    fig, ax = plt.subplots()
    assert draw(io.open_run(path), ax) == "magnetization vs time"
    assert len(ax.lines) == 3 + 2  # exact, trotter, networked, two sweep values
    assert draw(io.open_run(path), ax, "energy") == "energy vs time"
    with pytest.raises(DqsimError, match="not in the run"):
        draw(io.open_run(path), ax, "staggered_magnetization")
    plt.close(fig)


@pytest.fixture(scope="module")
def rank_tables(tmp_path_factory):
    """tests/mpi_scripts/trotter_check.py's arrays on 1, 2 and 4 ranks, ``{ranks: {mode: arrays}}``: the jobs' own
    mode ("default", independent) on each, and on 1 and 2 ranks also ``"continued"``, in the same launch."""
    folder = tmp_path_factory.mktemp("trotter_ranks")
    tables = {}
    for ranks in (1, 2, 4):
        modes = ["default", "continued"] if ranks < 4 else ["default"]
        if ranks == 1:  # the script's main in this process (no interpreter to start)
            run_check_here("trotter_check", str(folder / "r1.npz"), ",".join(modes))
            arrays = dict(np.load(folder / "r1.npz"))
        else:
            arrays = run_mpi_arrays(ranks, "tests/mpi_scripts/trotter_check.py", folder / f"r{ranks}.npz",
                                    ",".join(modes), timeout_s=240)
        if len(modes) == 1:
            tables[ranks] = {"default": arrays}
        else:
            tables[ranks] = {mode: {key.split("/", 1)[1]: value for key, value in arrays.items()
                                    if key.startswith(f"{mode}/")} for mode in modes}
    return tables


def test_one_two_and_four_ranks_give_identical_tables(rank_tables):
    """Trajectories, a sweep, shots: the runs shared out over the ranks give a 1-rank run's output, bit for bit."""
    results = {ranks: by_mode["default"] for ranks, by_mode in rank_tables.items()}
    one = results[1]
    assert "xxz_sweep_networked" in one and "ising_counts_count" in one and one["ising_counts_count"].sum() == 64
    for ranks in (2, 4):
        other = results[ranks]
        for key in one:  # registers of <= REPLICATED_MAX_QUBITS qubits: the arithmetic of one rank, bit for bit
            if "_state_rank" not in key:
                assert np.array_equal(one[key], other[key], equal_nan=True), (ranks, key)
        for label in ("ising", "xxz", "xxz_bond"):  # every rank holds the final state a 1-rank run ends with
            for rank in range(ranks):
                assert np.array_equal(one[f"{label}_state_rank0"], other[f"{label}_state_rank{rank}"]), (ranks, label)
    assert np.allclose(one["ising_observables_networked"], one["ising_observables_trotter"], atol=EXACT_TOL)
    assert one["xxz_sweep_network_fidelity_to_trotter"][-1] < 1 - 1e-6  # the noisy pairs did act
    # [evolution].grouping = "bond" from Néel (total Sz 0) on ideal links: conserved to rounding, split over 2 QPUs
    # (rows: magnetization, energy, loschmidt per point)
    for column in ("networked", "trotter"):
        assert np.max(np.abs(one[f"xxz_bond_observables_{column}"][0::3])) <= 1e-12, column
    assert one["xxz_bond_sweep_network_fidelity_to_trotter"][-1] < 1 - 1e-6


def test_one_and_two_ranks_give_identical_continued_tables(rank_tables):
    """``[evolution].mode = "continued"`` (tests/test_trotter_continued.py): the evolutions shared out over two
    ranks (trajectories, a sweep value, shots) give the 1-rank tables."""
    one, two = (rank_tables[ranks]["continued"] for ranks in (1, 2))
    assert "xxz_sweep_networked" in one and one["ising_counts_count"].sum() == 64
    for key in one:
        if "_state_rank" not in key:
            assert np.array_equal(one[key], two[key], equal_nan=True), key
    for label in ("ising", "xxz", "xxz_bond"):
        for rank in range(2):
            assert np.array_equal(one[f"{label}_state_rank0"], two[f"{label}_state_rank{rank}"]), label
    # and the same values as the default mode's (ideal Ising links; the XXZ sweep's noise differs per run)
    default = rank_tables[1]["default"]
    assert not np.array_equal(default["xxz_sweep_networked"], one["xxz_sweep_networked"])  # each mode's own runs
    assert np.max(np.abs(default["ising_observables_networked"] - one["ising_observables_networked"])) < EXACT_TOL
    assert np.max(np.abs(one["ising_network_epr_pairs"] - default["ising_network_epr_pairs"])) == 0


@pytest.mark.parametrize("num_ranks", [1, 2, 3, 4])
def test_time_points_are_shared_out_by_cost(num_ranks):
    """The noiseless reference's circuits (growing with the time point) split over ranks: loads within one circuit."""
    costs = [30 * k + 9 for k in range(11)]
    owner = comm_mod.balance_items(costs, num_ranks)
    assert sorted(set(owner)) == list(range(min(num_ranks, len(costs))))
    loads = [sum(c for c, r in zip(costs, owner) if r == rank) for rank in range(num_ranks)]
    assert max(loads) - min(loads) <= max(costs)
    assert owner == comm_mod.balance_items(costs, num_ranks)  # the same on every rank
    with pytest.raises(ValueError, match="num_ranks"):
        comm_mod.balance_items(costs, 0)


STOPPED = ["jobs/ising_trotter_4qpu.toml", "--set", "evolution.num_points=3", "--set", "evolution.steps_per_point=1",
           "--set", "simulation.trajectories=2", "--set", "simulation.shots=32", "--set", "simulation.save_state=true"]


def test_a_stop_during_shared_out_runs_checkpoints_and_resumes_to_the_one_rank_tables(tmp_path, monkeypatch):
    """2 ranks share the runs out; rank 0 is asked to stop after its first run, rank 1 finishes its share, the first
    run left (on both ranks) writes the checkpoint with the results of every run finished on any rank, also those
    after it, and the resumed job, on 2 ranks or 1, redoes only the runs left (the cut one from the checkpoint on
    every rank, the others shared out over 2 ranks) and ends with a 1-rank run's output."""
    import pickle

    from dqsim.io import open_run
    from mpi_helper import run_dqsim, run_here, run_mpi
    from mpi_scripts import trotter_count
    from run_files import checkpoints, same_tables

    ck = f"checkpoint.directory=\"{tmp_path / 'ck'}\""
    run_dqsim(1, ["run", *STOPPED, "-o", str(tmp_path / "full.h5"), "--quiet"])
    stopped = run_mpi(2, ["tests/mpi_scripts/trotter_stop.py", "run", *STOPPED, "-o", str(tmp_path / "stopped.h5"),
                          "--quiet", "--set", ck], timeout_s=120, check=False)
    assert stopped.returncode == 75, stopped.stderr
    assert not (tmp_path / "stopped.h5").exists()
    [saved] = checkpoints(tmp_path / "ck")
    attrs = open_run(saved).attrs
    # 8 runs (4 points x 2 trajectories): rank 0 ran 6 (t = T) and stopped, rank 1 ran 7, 5, 3 and 1; run 0, the
    # first left, is cut (at 1 ps, on both ranks) and writes the checkpoint, holding runs 1, 3, 5, 6 and 7, all
    # finished after it (before, they were dropped and a resume ran all 8 runs again, each on every rank).
    assert attrs["engine_run"] == 0 and attrs["num_ranks"] == 2
    assert sorted(pickle.loads(open_run(saved).table("engine/results").tobytes())) == [1, 3, 5, 6, 7]
    full = open_run(tmp_path / "full.h5")
    job = load_job(ROOT / STOPPED[0])
    index_of = {scenario.run_seed(job.run.seed, 0, k, t): 2 * k + t for k in range(4) for t in range(2)}
    for ranks in (2, 1):
        out = tmp_path / f"resumed{ranks}.h5"
        log = tmp_path / f"runs{ranks}"
        if ranks == 1:  # in this process: trotter_count.py's count of the runs around dqsim's main
            monkeypatch.setattr(trotter_count, "LOG", str(log), raising=False)
            monkeypatch.setattr(scenario, "_run_once", trotter_count.counted)
            run_here(["resume", str(saved), "-o", str(out), "--quiet"])
            monkeypatch.undo()
        else:
            run_mpi(ranks, ["tests/mpi_scripts/trotter_count.py", str(log), "resume", str(saved), "-o", str(out),
                            "--quiet"], timeout_s=120)
        lines = [line for rank in range(ranks)
                 for line in (tmp_path / f"runs{ranks}.rank{rank}").read_text().splitlines()]
        started = sorted((index_of[int(f["seed"])], int(f["rank"]), int(f["ranks"]))
                         for f in (dict(item.split("=") for item in line.split()[1:]) for line in lines))
        # left: run 0 (cut; from the checkpoint, on every rank), 2, 4, and 7 again for the final state it keeps
        # (same seed, same result); with 2 ranks 2, 4 and 7 are shared out, each to one rank, both ranks used
        if ranks == 1:
            assert started == [(0, 0, 1), (2, 0, 1), (4, 0, 1), (7, 0, 1)]
        else:
            assert [s[0] for s in started] == [0, 0, 2, 4, 7] and started[:2] == [(0, 0, 2), (0, 1, 2)]
            assert {s[2] for s in started[2:]} == {1} and {s[1] for s in started[2:]} == {0, 1}
        resumed = open_run(out)
        same_tables(full, resumed, ["observables", "sites", "network", "counts"])
        assert resumed.attrs["register_qubits"] == full.attrs["register_qubits"]
        assert np.array_equal(resumed.state(), full.state())


def test_repro_a_networked_run_reports_the_fraction_of_its_circuit_done():
    """A trotter run reported progress only between its networked runs; now each engine window of a run
    brings the fraction of its circuit steps done (index + fraction, as the repeater does), in the run's
    stage (its label), so the log's heartbeat lines carry it and an estimate."""
    from test_cloud import _fractions_inside_runs

    job = small("jobs/ising_trotter_4qpu.toml", "evolution.num_points=3", "evolution.steps_per_point=4")
    updates = []
    scenario.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND,
                     on_progress=lambda done, total, what: updates.append((done, total, what)))
    assert updates[-1] == (4, 4, "done")
    partial = _fractions_inside_runs(updates[:-1], "network: t = ")
    assert len(partial) >= 3 and len({math.floor(p) for p in partial}) >= 2, updates


def test_repro_networked_values_carry_their_standard_error_over_trajectories():
    """Noisy pairs (F = 0.8) and 4 trajectories: every networked value comes with the standard error of its
    mean, 0 at t = 0 (no gate yet: every trajectory is the initial state) and > 0 later; the ideal network's
    values (the first series) are exact, standard error 0; one trajectory gives NaN and a note in the summary."""
    job = small("jobs/xxz_ring_sweep.toml", "evolution.num_points=2", "simulation.trajectories=4",
                'simulation.sweep={parameter = "source_fidelity", values = [0.8]}')
    out = scenario.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    obs, sweep, net = out.tables["observables"], out.tables["sweep"], out.tables["sweep_network"]
    assert np.allclose(obs["networked_stderr"], 0.0, atol=1e-12)
    assert np.allclose(sweep["networked_stderr"][sweep["time"] == 0.0], 0.0, atol=1e-12)
    assert np.all(sweep["networked_stderr"][(sweep["time"] > 0) & (sweep["observable"] == "loschmidt")] > 0)
    assert net["fidelity_to_trotter_stderr"][0] == pytest.approx(0.0, abs=1e-12)
    assert np.all(net["fidelity_to_trotter_stderr"][1:] > 0)
    assert np.all(net["fidelity_to_trotter_stderr"][1:] <= 0.5 + 1e-12)  # values in [0, 1], 4 samples
    assert not any("single sample" in line for line in out.summary)
    one = scenario.run_job(small("jobs/xxz_ring_sweep.toml", "evolution.num_points=1", "simulation.trajectories=1",
                                 'simulation.sweep={parameter = "source_fidelity", values = [0.8]}'),
                           comm=comm_mod.SingleComm(), backend=BACKEND)
    assert np.all(np.isnan(one.tables["observables"]["networked_stderr"]))
    assert any("single sample" in line for line in one.summary), one.summary
    assert any(line.startswith("  1 point to T = ") for line in one.summary), one.summary  # it said "1 points"


def test_each_observable_row_names_its_unit_and_inspect_plot_and_pandas_show_it(tmp_path):
    """The ``observables`` table kept energies and dimensionless values in one column, its ``units`` attribute
    naming only ``time`` (docs/review-research-20261206.md): each row now names its values' unit (``energy``: that
    of J and h; the others: 1), the value columns' units point at it, and an older file without it still plots."""
    from dqsim.io import open_run, write_run_file
    from mpi_helper import run_here

    out = tmp_path / "t.h5"
    run_here(["run", "jobs/ising_trotter_4qpu.toml", "--set", "evolution.num_points=1", "--set",
              "evolution.steps_per_point=1", "--set", "simulation.shots=0", "-o", out])
    run = open_run(out)
    frame = run.to_pandas("observables")
    assert dict(zip(frame["observable"], frame["unit"])) == {
        "magnetization": "1", "correlation": "1", "loschmidt": "1", "energy": "energy (the unit of J and h)"}
    assert frame.attrs["units"] == {"time": "1/energy (hbar = 1)", **{column: "the row's unit column" for column in (
        "networked", "networked_stderr", "trotter", "exact")}}
    header = run_here(["inspect", out, "--table", "observables", "--csv"]).stdout.splitlines()[0]
    assert header == ("time [1/energy (hbar = 1)],observable,unit,networked [the row's unit column],"
                      "networked_stderr [the row's unit column],trotter [the row's unit column],"
                      "exact [the row's unit column]")
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dqsim.cli.plot_trotter import draw

    fig, ax = plt.subplots()
    draw(run, ax, "energy")
    assert ax.get_ylabel() == "energy ⟨H⟩ [energy (the unit of J and h)]"
    table = run.table("observables")
    old = tmp_path / "old.h5"  # as written before the unit column
    mine = {"created_utc", "dqsim_commit", "dqsim_file", "dqsim_version", "schema_version"}  # the writer sets them
    without_unit = table[[name for name in table.dtype.names if name != "unit"]]
    write_run_file(old, attrs={k: v for k, v in run.attrs.items() if k not in mine},
                   tables={"observables": without_unit})
    ax.clear()
    assert draw(open_run(old), ax, "energy") == "energy vs time" and ax.get_ylabel() == "energy ⟨H⟩"
    plt.close(fig)


def test_ising_job_with_pairs_made_ahead_gives_the_same_observables_sooner():
    """``[distribution].entanglement = "ahead"`` (dqsim.protocols.ahead): the three bonds between the QPUs are
    RZZ gates on disjoint qubits of each step, so their pairs are made at once and the steps end sooner; ideal
    links: the same observables and pairs, and the attribute that names the schedule."""
    outs = [scenario.run_job(small("jobs/ising_trotter_4qpu.toml", "evolution.num_points=2",
                                   "evolution.steps_per_point=1", "simulation.shots=10", "evolution.exact=false",
                                   f'distribution.entanglement="{mode}"'), comm=comm_mod.SingleComm(), backend=BACKEND)
            for mode in ("on_demand", "ahead")]
    on_demand, ahead = (out.tables["network"] for out in outs)
    assert np.allclose(outs[1].tables["observables"]["networked"], outs[0].tables["observables"]["networked"],
                       atol=EXACT_TOL, rtol=0)
    assert np.array_equal(ahead["epr_pairs"], on_demand["epr_pairs"])
    assert np.all(ahead["simulated_time_ps"][1:] < on_demand["simulated_time_ps"][1:])
    assert "distribution_entanglement" not in outs[0].attrs and outs[1].attrs["distribution_entanglement"] == "ahead"
