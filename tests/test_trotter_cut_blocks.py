"""``[evolution].grouping = "bond"``: a bond's block between two QPUs as one teleported dense gate, and the layer
order that applies the cut bonds least often.

A block ``exp(−i dt J (XX + YY + ΔZZ))`` between QPUs was three TeleGates (one ``cp`` per rotation, three EPR
pairs); with ``[evolution].cut_blocks = "auto"`` (default) it is one dense two-qubit ``unitary`` whose first qubit
is teleported to the other QPU and back (TeleData, two pairs) where that takes fewer pairs;
``cut_blocks = "rotations"`` keeps the three TeleGates. Under order 2 the bond layers go in the order of
:func:`dqsim.circuit.hamiltonians.bond_layer_order`. The references here: the rotations' product (block matrix),
the plain-state run of the rotations' circuit (exactness), the cut bonds counted by hand (pairs), and two
depolarising channels on the moved qubit (noisy pairs).
"""

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.cli import check
from dqsim.circuit.hamiltonians import SpinModel, bond_layer_order, trotter_circuit, xxz_block_matrix
from dqsim.circuit.ir import Gate
from dqsim.errors import ConfigError
from dqsim.jobs import load_job_text
from dqsim.scenarios import trotter as scenario
from dqsim.state.sharded import ShardedState

from conftest import TEST_BACKEND
from job_helpers import lossless_link
from reference import pauli_matrix

pytest.importorskip("qiskit")  # the KAK decomposition that counts a dense gate's controlled gates

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")
#: State fidelity of the networked (and dense) evolution to the undistributed rotations' circuit, ideal links.
FIDELITY_TOL = 1e-12


def evolved(circuit):
    state = ShardedState(circuit.num_qubits, backend=BACKEND)
    state.apply_ops([g.to_op() for g in circuit.gates()])
    return state.gather()


# ----------------------------------------------------------------- the block and the layer order

def rotation(name, theta):
    """The 4 × 4 matrix of the two-qubit rotation ``name(θ)`` on qubits (0, 1), as the simulator applies it."""
    op = Gate(name, (0, 1), (theta,)).to_op()
    return np.diag(op.matrix) if op.diagonal else op.matrix


@pytest.mark.parametrize("xx,yy,zz", [(0.3, 0.3, 0.39), (-1.1, 0.7, 2.5), (0.25, 0.25, 0.0), (np.pi / 4, 0.1, -0.2)])
def test_block_matrix_is_the_product_of_the_three_rotations(xx, yy, zz):
    product = rotation("rxx", 2 * xx) @ rotation("ryy", 2 * yy) @ rotation("rzz", 2 * zz)
    assert np.max(np.abs(xxz_block_matrix(xx, yy, zz) - product)) < 1e-15
    hamiltonian = xx * pauli_matrix("XX", (0, 1), 2) + yy * pauli_matrix("YY", (0, 1), 2) + zz * pauli_matrix(
        "ZZ", (0, 1), 2)
    expm = pytest.importorskip("scipy.linalg").expm
    assert np.max(np.abs(xxz_block_matrix(xx, yy, zz) - expm(-1j * hamiltonian))) < 1e-14


def test_a_generic_block_has_operator_schmidt_rank_four():
    """Two Bell pairs are the fewest for it (the resource's Schmidt rank is at least the gate's: Stahlke and
    Griffiths, PRA 84, 032316 (2011)), so TeleData there and back (two pairs) is optimal; the rank is that of
    the matrix realigned to (row0 col0, row1 col1)."""
    def schmidt_rank(u):
        realigned = u.reshape(2, 2, 2, 2).transpose(1, 3, 0, 2).reshape(4, 4)  # (q1 out, q1 in) x (q0 out, q0 in)
        return int(np.sum(np.linalg.svd(realigned, compute_uv=False) > 1e-12))
    assert schmidt_rank(xxz_block_matrix(0.5, 0.5, 0.65)) == 4
    assert schmidt_rank(xxz_block_matrix(0.0, 0.0, 0.65)) == 2  # a ZZ rotation alone: one pair (a cp) suffices
    assert schmidt_rank(rotation("rxx", 0.3)) == 2


@pytest.mark.parametrize("cuts,expected", [
    ([0, 0, 0], (0, (2,), 1)),   # one QPU: the default (even, closing bond, odd)
    ([1, 0, 1], (0, (1,), 2)),   # a 5-ring split 3 + 2: the uncut odd layer in the middle, the closing bond last
    ([1, 1, 0], (0, (2,), 1)),   # the default is already the cheapest
    ([0, 2, 1], (2, (0,), 1)),
    ([0, 2], (0, (), 1)),        # even-length ring or chain: the cut layer last already
    ([2, 0], (1, (), 0)),        # ... or made last (n, not n + 1 applications)
    ([1, 1], (0, (), 1)),
    ([4], (0, (), None)),
])
def test_layer_order_applies_the_cut_bonds_least_often(cuts, expected):
    assert bond_layer_order(cuts) == expected
    first, middle, last = expected
    if last is not None:  # no order takes fewer cut blocks per step, nor fewer extra ones
        best = min((cuts[p[0]] + 2 * sum(cuts[i] for i in p[2:]) + cuts[p[1]], cuts[p[0]])
                   for p in __import__("itertools").permutations(range(len(cuts))))
        assert (cuts[first] + 2 * sum(cuts[i] for i in middle) + cuts[last], cuts[first]) == best


@pytest.mark.parametrize("order", [1, 2])
def test_dense_blocks_give_the_rotations_state(order):
    """The same layer order with and without dense blocks: the same state to rounding (global phase too)."""
    ring = SpinModel(kind="xxz", num_sites=5, boundary="periodic", J=0.8, delta=0.5, h=-0.3)
    cut = [(2, 3), (4, 0)]
    plain = evolved(trotter_circuit(ring, 0.9, 3, order=order, initial="neel", grouping="bond", cut_bonds=cut))
    dense = trotter_circuit(ring, 0.9, 3, order=order, initial="neel", grouping="bond", cut_bonds=cut,
                            dense_bonds=cut)
    assert dense.count_gates()["unitary"] == {1: 6, 2: 7}[order]  # order 2: (2,3) 4 times (first), (4,0) 3 (last)
    assert np.max(np.abs(evolved(dense) - plain)) < 1e-13


# ----------------------------------------------------------------- networked runs

def job(*, num_sites=5, boundary="periodic", num_nodes=2, assignment=None, order=2, mode="independent",
        cut_blocks=None, delta=1.3, fidelity=1.0, trajectories=1, points=2, steps=2, comm=2, scheme="telegate",
        per_node=3, initial="neel", total_time=1.0, h=0.2, grouping="bond", topology=None):
    """An XXZ chain on ``num_nodes`` QPUs (a line of two, or a ring: every two QPUs neighbours; or ``topology``)
    over lossless direct links (every attempt heralds)."""
    topology = topology or ("ring" if num_nodes >= 3 else "line")
    return load_job_text(f"""
[run]
name = "cut_blocks"
scenario = "trotter"
seed = 5
[model]
kind = "xxz"
num_sites = {num_sites}
boundary = "{boundary}"
J = 1.0
h = {h!r}
delta = {delta!r}
initial = "{initial}"
[network]
topology = "{topology}"
num_nodes = {num_nodes}
{lossless_link(fidelity)}
[network.node]
num_data_qubits = {per_node}
num_comm_qubits = {comm}
[distribution]
scheme = "{scheme}"
{f"assignment = {list(assignment)}" if assignment is not None else ""}
[simulation]
observables = ["magnetization", "staggered_magnetization", "energy", "loschmidt"]
trajectories = {trajectories}
[evolution]
grouping = "{grouping}"
{f'cut_blocks = "{cut_blocks}"' if cut_blocks else ""}
order = {order}
mode = "{mode}"
total_time = {total_time!r}
num_points = {points}
steps_per_point = {steps}
""")


def run(config):
    return scenario.run_job(config, comm=comm_mod.SingleComm(), backend=BACKEND)


def cut_applications(model, assignment, order, mode, num_points, steps, *, reordered=True):
    """Applications of cut blocks at each point, counted from the layers by hand (order 2: the first layer ``n + 1``
    times in ``n`` steps, plus one per point boundary in continued mode; middle layers ``2n``; the last ``n``;
    order 1: each layer ``n``). ``reordered``: the layer order is the one that applies them least; else the
    default [even, (closing,) field, odd] (``cut_blocks = "rotations"``)."""
    layers = model.bond_layers()
    cuts = [sum(assignment[a] != assignment[b] for a, b in layer) for layer in layers]
    rows = []
    for k in range(num_points + 1):
        n = k * steps
        if order == 1:
            rows.append(n * sum(cuts))
            continue
        extra = 0 if k == 0 else (k if mode == "continued" else 1)
        costs = []
        for first in range(len(layers)):
            for last in range(len(layers)):
                if last != first and (reordered or (first, last) == (0, 1)):
                    middle = [i for i in range(len(layers)) if i not in (first, last)]
                    costs.append((n + extra) * cuts[first] + 2 * n * sum(cuts[i] for i in middle) + n * cuts[last])
        rows.append(min(costs))
    return rows


CASES = [  # (num_sites, num_nodes, assignment): a 5-ring split 3 + 2, a 6-ring on 3 QPUs, a 5-ring interleaved
    (5, 2, None), (6, 3, None), (5, 2, (0, 1, 0, 1, 1)),
]


@pytest.mark.parametrize("num_sites,num_nodes,assignment", CASES)
@pytest.mark.parametrize("order,mode", [(2, "independent"), (2, "continued"), (1, "independent")])
def test_teleported_cut_blocks_are_exact_and_take_two_pairs_each(num_sites, num_nodes, assignment, order, mode):
    """Ideal links: the networked state has fidelity 1 − 1e-12 to the Trotter state, which is the undistributed
    circuit of rotations in the same layer order (its plain-state run: the ``trotter`` column, equal to the
    rotations' layered circuit's values to 1e-12, :func:`test_dense_blocks_give_the_rotations_state`); each cut
    block is one nonlocal gate of two pairs. ``cut_blocks = "rotations"``: three TeleGates (pairs) per cut block
    in the default layer order (the morning's circuits)."""
    outs = {blocks: run(job(num_sites=num_sites, num_nodes=num_nodes, assignment=assignment, order=order, mode=mode,
                            cut_blocks=blocks)) for blocks in ("auto", "rotations")}
    config = job(num_sites=num_sites, num_nodes=num_nodes, assignment=assignment)
    model, sites = config.model.spin_model(), config.site_assignment()
    applications = cut_applications(model, sites, order, mode, 2, 2)
    morning = cut_applications(model, sites, order, mode, 2, 2, reordered=False)
    auto, rotations = (outs[b].tables["network"] for b in ("auto", "rotations"))
    assert list(auto["nonlocal_gates"]) == applications
    assert list(auto["epr_pairs"]) == [2 * a for a in applications]
    assert list(rotations["nonlocal_gates"]) == list(rotations["epr_pairs"]) == [3 * a for a in morning]
    for table in (auto, rotations):
        assert np.all(table["fidelity_to_trotter"] >= 1 - FIDELITY_TOL)
    a = outs["auto"].tables["observables"]
    assert np.max(np.abs(a["networked"] - a["trotter"])) < FIDELITY_TOL
    cut = scenario.cut_bonds(model, sites)
    evolution = config.evolution.model_copy(update=dict(order=order, mode=mode))
    plain = [evolved(c) for c in scenario.evolution_circuits(model, evolution, "neel", cut=cut)]
    dense = [evolved(c) for c in scenario.evolution_circuits(model, evolution, "neel", cut=cut, dense=cut)]
    for p, d in zip(plain, dense):
        assert abs(np.vdot(p, d)) ** 2 >= 1 - FIDELITY_TOL
    assert outs["auto"].attrs["trotter_teleported_bonds"] == len(scenario.cut_bonds(model, sites))
    assert outs["rotations"].attrs["trotter_teleported_bonds"] == 0
    pairs = 2 * len(cut)  # every two QPUs neighbours here
    assert f"blocks teleported, {pairs} pairs for one of each, 2 a hop of the route" in outs["auto"].summary[1]


def test_the_odd_ring_takes_fewer_pairs_per_step_than_this_morning():
    """A 5-ring split 3 + 2, order 2, 4 steps: the morning's circuit (default layer order, three TeleGates a cut
    block) took (5 + 8)·3 = 39 pairs (bench/results/trotter-grouping-vm-20261207.md); now the closing bond is the
    last layer and each cut block two pairs: (5 + 4)·2 = 18."""
    out = run(job(points=1, steps=4, total_time=2.0))
    assert out.tables["network"]["epr_pairs"][-1] == 18
    rotations = run(job(points=1, steps=4, total_time=2.0, cut_blocks="rotations"))
    assert rotations.tables["network"]["epr_pairs"][-1] == 39  # cut_blocks = "rotations": the morning's circuits


@pytest.mark.parametrize("delta,scheme,comm,teleported", [
    (0.0, "telegate", 2, 0),   # XX + YY: two TeleGates, no fewer teleported
    (0.0, "teledata", 2, 2),   # two TeleData rotations take four pairs: teleported
    (1.3, "telegate", 1, 0),   # one communication qubit per QPU: no TeleData target
])
def test_blocks_are_teleported_only_where_that_takes_fewer_pairs(delta, scheme, comm, teleported):
    out = run(job(delta=delta, scheme=scheme, comm=comm, order=1, points=1, steps=1))
    assert out.attrs["trotter_teleported_bonds"] == teleported
    rotations_per_block = 2 if delta == 0.0 else 3
    per_gate = 2 if scheme == "teledata" else 1
    pairs = out.tables["network"]["epr_pairs"][-1]
    assert pairs == (2 * 2 if teleported else 2 * rotations_per_block * per_gate)  # 2 cut blocks, one step
    assert np.all(out.tables["network"]["fidelity_to_trotter"] >= 1 - FIDELITY_TOL)


def test_noisy_pairs_enter_twice_on_the_moved_qubit():
    """Werner pairs of fidelity F: a teleported block is two teleportations of its first qubit (site 0), each a
    depolarising channel ``ρ → wρ + (1 − w) I/2``, ``w = (4F − 1)/3`` (Bowen and Bose, PRL 87, 267901 (2001)),
    before and after the block. Two sites on 2 QPUs, one block from Néel: the mean fidelity to the Trotter state
    over 300 trajectories is the two channels' value (within 4 standard errors), not one channel's."""
    fidelity, dt, delta = 0.6, 0.5, 1.3
    out = run(job(num_sites=2, boundary="open", order=1, points=1, steps=1, total_time=dt, delta=delta, h=0.0,
                  fidelity=fidelity, trajectories=300, per_node=1))
    assert out.attrs["trotter_teleported_bonds"] == 1
    net = out.tables["network"]
    mean, stderr = net["fidelity_to_trotter"][-1], net["fidelity_to_trotter_stderr"][-1]
    w = (4 * fidelity - 1) / 3
    paulis = [pauli_matrix(p, (0,), 2) for p in "IXYZ"]

    def depolarised(rho):
        return w * rho + (1 - w) / 4 * sum(p @ rho @ p.conj().T for p in paulis)
    block = xxz_block_matrix(dt, dt, delta * dt)
    psi0 = np.zeros(4, dtype=complex)
    psi0[2] = 1.0  # Néel: site 1 down
    psi = block @ psi0
    twice = depolarised(block @ depolarised(np.outer(psi0, psi0.conj())) @ block.conj().T)
    once = depolarised(np.outer(psi, psi.conj()))
    expected, one_channel = (float(np.real(psi.conj() @ rho @ psi)) for rho in (twice, once))
    assert 0 < stderr < 0.04
    assert abs(mean - expected) < 4 * stderr, (mean, stderr, expected)
    assert abs(mean - one_channel) > 4 * stderr, (mean, stderr, one_channel)  # the check can fail


def test_cut_blocks_values_and_the_pauli_grouping():
    """``cut_blocks`` defaults to ``"auto"``; a bad value is refused in one line; the Pauli grouping ignores it
    and writes no ``trotter_*`` attribute."""
    assert job().evolution.cut_blocks == "auto"
    with pytest.raises(ConfigError) as error:
        job(cut_blocks="dense")
    message = str(error.value)
    assert "\n" not in message and '[evolution].cut_blocks = "dense": must be one of "auto", "rotations"' in message
    pauli = run(job(grouping="pauli", cut_blocks="auto", points=1, steps=1))
    assert "trotter_teleported_bonds" not in pauli.attrs and "trotter_grouping" not in pauli.attrs


def test_a_block_routed_through_a_middle_qpu_takes_two_pairs_a_hop():
    """A 6-site ring on a line of 3 QPUs (two sites each), order 1, one step: the closing bond (5, 0) joins the
    line's ends, so its teleported block takes two pairs on each of the two hops (4); the other two cut blocks 2
    each: 8 pairs, which the summary gives (it said "2 pairs each" before)."""
    out = run(job(num_sites=6, num_nodes=3, topology="line", per_node=2, order=1, points=1, steps=1))
    assert out.attrs["trotter_teleported_bonds"] == 3
    assert out.tables["network"]["epr_pairs"][-1] == 8
    assert "3 cut bonds' blocks teleported, 8 pairs for one of each, 2 a hop of the route" in out.summary[1]


@pytest.mark.parametrize("delta,scheme,cut_blocks,extra", [
    (1.3, "telegate", "auto", 1),        # teleported blocks: the target holds two communication qubits at once
    (1.3, "telegate", "rotations", 0),   # three TeleGates: one at each end
    (0.0, "telegate", "auto", 0),        # XX + YY: two TeleGates, nothing teleported
    (1.3, "teledata", "rotations", 1),   # TeleData gates: the target receives the control and sends it back
])
def test_check_counts_the_register_the_run_holds(delta, scheme, cut_blocks, extra):
    """``dqsim check``'s register line gives the qubits of the run's largest register (``register_qubits``): the
    sites, two scratch bits, and one more where a QPU holds two communication qubits at once (it said 7 for a
    5-site ring split 3 + 2 whose run held 8)."""
    config = job(delta=delta, scheme=scheme, cut_blocks=cut_blocks, points=1, steps=1)
    line = next(text for text in check.work_lines(config, 1) if text.startswith("memory per rank"))
    assert f"site register + {2 + extra} scratch: {5 + 2 + extra} qubits" in line, line
    assert run(config).attrs["register_qubits"] == 5 + 2 + extra


def test_the_attribute_counts_the_blocks_the_run_teleports():
    """Δ·dt = π/2 (order 1, one step of dt = 1): the block's ZZ coordinate is a multiple of π/2, so its KAK form
    has two controlled gates and the run rewrites it (two TeleGates, no teleportation) although the rotations'
    count (three) chose it: ``trotter_teleported_bonds`` is 0 (it was 2), the pairs 2 a block."""
    out = run(job(delta=np.pi / 2, order=1, points=1, steps=1, total_time=1.0))
    assert out.tables["network"]["epr_pairs"][-1] == 2 * 2  # 2 cut blocks, two TeleGates each
    assert out.attrs["trotter_teleported_bonds"] == 0
    assert "teleported" not in out.summary[1]
    assert np.all(out.tables["network"]["fidelity_to_trotter"] >= 1 - FIDELITY_TOL)
