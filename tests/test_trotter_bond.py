"""``[evolution].grouping = "bond"``: the XXZ Trotter circuit with one ``XX + YY + ΔZZ`` block per bond.

Each bond's block ``exp(−i J dt (XX + YY + ΔZZ))`` commutes with the total
magnetisation ``M = Σ Z_i``, and so does the field's layer, so the circuit
conserves ``M`` to rounding at any ``dt`` (the default ``"pauli"`` grouping
only up to the product formula's error). The references here are built
independently of :mod:`dqsim.circuit.hamiltonians`' groups: the layers by
hand, each layer's exponential by ``scipy.linalg.expm``. The 1/2/4-rank
comparison runs the grouping in tests/mpi_scripts/trotter_check.py (job
``xxz_bond``), compared in tests/test_trotter.py.
"""

import typing

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit.hamiltonians import GROUPINGS, SpinModel, exact_evolution, initial_state, trotter_circuit
from dqsim.errors import ConfigError, DqsimError
from dqsim.jobs import load_job_text
from dqsim.jobs.trotter import EvolutionSection
from dqsim.scenarios import trotter as scenario
from dqsim.state.sharded import ShardedState

from conftest import TEST_BACKEND
from job_helpers import lossless_link
from reference import pauli_matrix

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")
#: Total magnetisation of the bond grouping: conserved to rounding (measured <= 5e-15 on these sizes).
SZ_TOL = 1e-12
#: Networked evolution over ideal links equals the noiseless Trotter state to rounding.
EXACT_TOL = 1e-10


def hand_layers(model):
    """``[even bonds, (closing bond of an odd ring,) field, odd bonds]`` as dense matrices, written out by hand."""
    n, J, delta, h = model.num_sites, model.J, model.delta, model.h
    pairs = [(i, i + 1) for i in range(n - 1)]
    closing = [(n - 1, 0)] if model.boundary == "periodic" else []
    even, odd = pairs[0::2], pairs[1::2]
    if closing and n % 2 == 0:
        odd, closing = odd + closing, []

    def block_sum(bonds):
        return sum(J * (pauli_matrix("XX", b, n) + pauli_matrix("YY", b, n) + delta * pauli_matrix("ZZ", b, n))
                   for b in bonds)

    field = sum(h * pauli_matrix("Z", (i,), n) for i in range(n))
    layers = [block_sum(even)] + ([block_sum(closing)] if closing else []) + [field] + ([block_sum(odd)] if odd else [])
    return [layer for layer in layers if np.abs(layer).max() > 0]


def product_formula(layers, t, steps, order):
    """Lie–Trotter or Strang (Suzuki 1991) over ``layers`` (first acts first), each factor by ``expm``."""
    expm = pytest.importorskip("scipy.linalg").expm
    dt = t / steps
    step = np.eye(layers[0].shape[0], dtype=complex)
    if order == 1:
        for layer in layers:
            step = expm(-1j * dt * layer) @ step
    else:
        halves = [expm(-0.5j * dt * layer) for layer in layers[:-1]]
        for u in halves:
            step = u @ step
        step = expm(-1j * dt * layers[-1]) @ step
        for u in reversed(halves):
            step = u @ step
    return np.linalg.matrix_power(step, steps)


def evolved(circuit):
    state = ShardedState(circuit.num_qubits, backend=BACKEND)
    state.apply_ops([g.to_op() for g in circuit.gates()])
    return state.gather()


def total_sz(psi, n):
    """``⟨Σ Z_i⟩ / n`` of a state vector (site q = index bit q, |0⟩ = spin up)."""
    ones = np.array([bin(i).count("1") for i in range(1 << n)])
    return float(np.sum(np.abs(psi) ** 2 * (n - 2 * ones))) / n


# ----------------------------------------------------------------- the circuit

@pytest.mark.parametrize("num_sites,boundary", [(2, "open"), (5, "open"), (6, "open"), (3, "periodic"),
                                                (4, "periodic"), (5, "periodic"), (8, "periodic")])
def test_bond_layers_cover_every_bond_once_and_share_no_site(num_sites, boundary):
    model = SpinModel(kind="xxz", num_sites=num_sites, boundary=boundary)
    layers = model.bond_layers()
    assert sorted(b for layer in layers for b in layer) == sorted(model.bonds())
    for layer in layers:
        sites = [site for bond in layer for site in bond]
        assert len(sites) == len(set(sites)), layer
    assert len(layers) == (3 if boundary == "periodic" and num_sites % 2 else min(2, num_sites - 1))


@pytest.mark.parametrize("num_sites,boundary", [(4, "periodic"), (5, "periodic"), (5, "open")])
@pytest.mark.parametrize("order", [1, 2])
def test_bond_circuit_is_the_product_formula_of_the_layers(num_sites, boundary, order):
    model = SpinModel(kind="xxz", num_sites=num_sites, boundary=boundary, J=0.9, delta=1.3, h=0.4)
    psi0 = initial_state(model, "neel")
    for steps in (1, 3):
        reference = product_formula(hand_layers(model), 0.7, steps, order) @ psi0
        psi = evolved(trotter_circuit(model, 0.7, steps, order=order, initial="neel", grouping="bond"))
        assert abs(np.vdot(reference, psi)) ** 2 == pytest.approx(1.0, abs=1e-12)
        assert np.allclose(psi, reference, atol=1e-12)  # the global phase too: rotations are exact exponentials


@pytest.mark.parametrize("model", [
    SpinModel(kind="xxz", num_sites=4, boundary="periodic", J=1.0, delta=1.3, h=0.2),
    SpinModel(kind="xxz", num_sites=5, boundary="periodic", J=0.8, delta=0.5, h=-0.3),
    SpinModel(kind="xxz", num_sites=5, J=1.0, delta=0.0, h=0.6),
], ids=["ring4", "ring5", "chain5-xx"])
@pytest.mark.parametrize("initial", ["up", "neel"])
@pytest.mark.parametrize("order", [1, 2])
def test_bond_grouping_conserves_total_sz_where_pauli_grouping_drifts(model, initial, order):
    """The brief's case (a 4-site ring from ``up``, dt = 0.25, order 2, to t = 2) drifted by 0.056 with the Pauli
    grouping (docs/not-done-history.md, "Trotter physics review of 2026-12-07"); the bond grouping stays at the
    initial value to 1e-12 at every time."""
    n = model.num_sites
    m0 = total_sz(initial_state(model, initial), n)
    drift = {}
    for grouping in GROUPINGS:
        drift[grouping] = max(abs(total_sz(evolved(trotter_circuit(model, 0.25 * steps, steps, order=order,
                                                                    initial=initial, grouping=grouping)), n) - m0)
                              for steps in range(1, 9))
    assert drift["bond"] <= SZ_TOL
    assert drift["pauli"] > 1e-3  # the check can fail: the default grouping does not conserve it


@pytest.mark.parametrize("model", [
    SpinModel(kind="xxz", num_sites=4, boundary="periodic", J=1.0, delta=1.3, h=0.2),
    SpinModel(kind="xxz", num_sites=5, boundary="periodic", J=1.0, delta=0.5, h=0.3),
    SpinModel(kind="xxz", num_sites=6, J=1.0, delta=0.6, h=0.3),
], ids=["ring4", "ring5", "chain6"])
@pytest.mark.parametrize("order,steps", [(1, 16), (2, 8)])
def test_bond_grouping_converges_to_the_exact_evolution_at_its_order(model, order, steps):
    """Global error at fixed t ∝ dt^order: halving dt divides ‖ψ_trotter − ψ_exact‖ by 2^order. From Néel (from
    ``up``, an eigenstate of every block, the bond grouping is exact); measured within 1.5 % of 2^order, allowed 5 %."""
    exact = exact_evolution(model, "neel", [1.0])[0]
    errors = [np.linalg.norm(evolved(trotter_circuit(model, 1.0, n, order=order, initial="neel", grouping="bond"))
                             - exact) for n in (steps, 2 * steps)]
    assert errors[1] > 1e-6  # a Trotter error, not rounding
    assert errors[0] / errors[1] == pytest.approx(2.0 ** order, rel=0.05)


def test_gate_counts_of_one_step():
    ring5 = SpinModel(kind="xxz", num_sites=5, boundary="periodic", delta=0.5, h=0.2)
    # order 2 over [even (2 bonds), closing (1), field, odd (2)]: even's halves merge (2 blocks per step + 1 closing
    # half), the closing bond's and the field's halves twice per step, odd once
    counts = trotter_circuit(ring5, 1.0, 3, order=2, grouping="bond").count_gates()
    assert counts == {"rxx": 2 * 4 + 1 * 6 + 2 * 3, "ryy": 20, "rzz": 20, "rz": 5 * 6}
    assert trotter_circuit(ring5, 1.0, 3, order=1, grouping="bond").count_gates() == {
        "rxx": 15, "ryy": 15, "rzz": 15, "rz": 15}
    no_zz = SpinModel(kind="xxz", num_sites=4, delta=0.0, h=0.0)  # Δ = 0 and h = 0: no rzz, no field layer
    assert trotter_circuit(no_zz, 1.0, 2, order=2, grouping="bond").count_gates() == {"rxx": 8, "ryy": 8}


def test_bad_groupings_are_refused():
    with pytest.raises(DqsimError, match="grouping must be one of 'pauli', 'bond', got 'bonds'"):
        trotter_circuit(SpinModel(kind="xxz", num_sites=3), 1.0, 1, grouping="bonds")
    with pytest.raises(DqsimError, match='grouping "bond" is for kind "xxz" only'):
        trotter_circuit(SpinModel(kind="tfim", num_sites=3), 1.0, 1, grouping="bond")
    # the default is the Pauli grouping, gate for gate
    model = SpinModel(kind="xxz", num_sites=4, boundary="periodic", delta=0.3, h=0.1)
    assert trotter_circuit(model, 1.0, 3, order=2).gates() == trotter_circuit(model, 1.0, 3, order=2,
                                                                              grouping="pauli").gates()


# ----------------------------------------------------------------- jobs and networked runs

def job(*, initial="neel", order=2, mode="independent", grouping="bond", assignment=(0, 0, 1, 1), fidelity=1.0,
        trajectories=1, points=2, steps=2, kind="xxz", cut_blocks="auto"):
    """A 4-site XXZ ring on 2 QPUs over a lossless direct link (every attempt heralds), t = 0..1."""
    return load_job_text(f"""
[run]
name = "bond"
scenario = "trotter"
seed = 3
[model]
kind = "{kind}"
num_sites = 4
boundary = "periodic"
J = 1.0
h = 0.2
{'delta = 1.3' if kind == 'xxz' else ''}
initial = "{initial}"
[network]
topology = "line"
num_nodes = 2
{lossless_link(fidelity)}
[network.node]
num_data_qubits = 2
num_comm_qubits = 2
[distribution]
assignment = {list(assignment)}
[simulation]
observables = ["magnetization", "staggered_magnetization", "energy", "loschmidt"]
trajectories = {trajectories}
[evolution]
grouping = "{grouping}"
cut_blocks = "{cut_blocks}"
order = {order}
mode = "{mode}"
total_time = 1.0
num_points = {points}
steps_per_point = {steps}
""")


def run(config):
    return scenario.run_job(config, comm=comm_mod.SingleComm(), backend=BACKEND)


def expected_nonlocal(order, mode, assignment, num_points, steps, per_block=3):
    """Nonlocal gates of each point: ``per_block`` per block of a bond between QPUs (``cut_blocks =
    "rotations"``: three TeleGates, one ``cp`` per rotation, the default layer order; ``"auto"``: one teleported
    dense gate, the layer with fewer cut bonds first, the even one on a tie). The ring's layers are even
    ``(0,1), (2,3)`` and odd ``(1,2), (3,0)``; under order 2 the first one's half steps merge, so ``n + 1`` blocks in ``n`` steps, and in continued
    mode one more per point, its closing and opening halves at each boundary; the other ``n``."""
    cut = [assignment[a] != assignment[b] for a, b in ((0, 1), (2, 3), (1, 2), (3, 0))]
    even, odd = sum(cut[:2]), sum(cut[2:])
    first, last = (even, odd) if even <= odd or per_block == 3 else (odd, even)  # "rotations": the default order
    rows = []
    for k in range(num_points + 1):
        n = k * steps
        extra = 0 if order == 1 or k == 0 else (k if mode == "continued" else 1)
        rows.append(per_block * ((n + extra) * first + n * last))
    return rows


@pytest.mark.parametrize("initial,order,mode,assignment", [
    ("neel", 2, "independent", (0, 0, 1, 1)),
    ("neel", 2, "continued", (0, 1, 1, 0)),
    ("neel", 1, "independent", (0, 1, 1, 0)),
    ("neel", 1, "continued", (0, 0, 1, 1)),
    ("up", 2, "independent", (0, 1, 1, 0)),
])
@pytest.mark.parametrize("cut_blocks", ["rotations", "auto"])
def test_networked_bond_runs_conserve_sz_and_count_the_cut_blocks(initial, order, mode, assignment, cut_blocks):
    """Three TeleGates (pairs) per cut block with ``cut_blocks = "rotations"``, one teleported gate (two pairs)
    with ``"auto"`` (tests/test_trotter_cut_blocks.py)."""
    out = run(job(initial=initial, order=order, mode=mode, assignment=assignment, cut_blocks=cut_blocks))
    obs = out.tables["observables"]
    m = obs[obs["observable"] == "magnetization"]
    m0 = 1.0 if initial == "up" else 0.0
    for column in ("networked", "trotter", "exact"):
        assert np.max(np.abs(m[column] - m0)) <= SZ_TOL, column
    assert np.max(np.abs(obs["networked"] - obs["trotter"])) < EXACT_TOL
    net = out.tables["network"]
    per_block, pairs_per_gate = (3, 1) if cut_blocks == "rotations" else (1, 2)
    assert list(net["nonlocal_gates"]) == expected_nonlocal(order, mode, assignment, 2, 2, per_block)
    assert np.array_equal(net["epr_pairs"], pairs_per_gate * net["nonlocal_gates"])  # ideal links
    assert np.all(np.abs(net["fidelity_to_trotter"] - 1.0) < EXACT_TOL)
    assert out.attrs["trotter_grouping"] == "bond"
    assert "one XX+YY+ΔZZ block per bond (grouping bond" in out.summary[1]
    if initial == "neel":  # the state moved, and the Trotter error is there (not the exact evolution)
        assert np.ptp(obs["trotter"][obs["observable"] == "staggered_magnetization"]) > 0.05
        assert net["trotter_fidelity_to_exact"][-1] < 1 - 1e-4


def test_continued_bond_evolution_equals_the_independent_one_on_ideal_links():
    """Order 2: the continued mode applies the even layer's closing and opening half blocks at each boundary
    (the same state: each bond's two half blocks multiply to one, exactly), so the values agree to rounding."""
    a, b = (run(job(mode=mode, assignment=(0, 1, 1, 0), points=3)).tables["observables"]
            for mode in ("independent", "continued"))
    for column in ("networked", "trotter"):
        assert np.max(np.abs(a[column] - b[column])) < EXACT_TOL, column


def test_noisy_bond_runs_take_the_same_pairs_and_lose_fidelity():
    """Werner pairs of fidelity 0.9 (two trajectories): the same TeleGates and pairs as on ideal links, the state
    off the Trotter state, and the noisy magnetisation's mean moves off the conserved value (the pairs' Pauli
    errors do not conserve it)."""
    ideal, noisy = (run(job(fidelity=f, trajectories=2, assignment=(0, 1, 1, 0))) for f in (1.0, 0.9))
    assert np.array_equal(noisy.tables["network"]["epr_pairs"], ideal.tables["network"]["epr_pairs"])
    assert np.all(noisy.tables["network"]["fidelity_to_trotter"][1:] < 0.999)
    obs = noisy.tables["observables"]
    assert np.max(np.abs(obs["networked"] - obs["trotter"])) > 1e-3


def test_the_default_grouping_writes_what_it_wrote_before():
    """``grouping = "pauli"`` written out or left out: the same tables, bit for bit, and no ``trotter_grouping``
    attribute (the default output is unchanged)."""
    text = job(grouping="pauli").text
    explicit, default = run(load_job_text(text)), run(load_job_text(text.replace('grouping = "pauli"\n', "")))
    assert load_job_text(text.replace('grouping = "pauli"\n', "")).evolution.grouping == "pauli"
    for name in ("observables", "sites", "network"):
        for column in explicit.tables[name].dtype.names:
            assert np.array_equal(explicit.tables[name][column], default.tables[name][column],
                                  equal_nan=explicit.tables[name].dtype[column].kind == "f"), (name, column)
    assert "trotter_grouping" not in explicit.attrs and "trotter_grouping" not in default.attrs
    assert "grouping" not in explicit.summary[1]


def test_bad_grouping_values_are_refused_in_one_line():
    with pytest.raises(ConfigError) as error:
        job(grouping="bonds")
    message = str(error.value)
    assert "\n" not in message and '[evolution].grouping = "bonds": must be one of "pauli", "bond"' in message
    with pytest.raises(ConfigError) as error:
        job(kind="tfim")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith('<string>: [evolution].grouping = "bond": is for kind = "xxz" only'), message
    assert typing.get_args(EvolutionSection.model_fields["grouping"].annotation) == GROUPINGS
