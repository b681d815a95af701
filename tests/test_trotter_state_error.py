"""The ``trotter`` scenario's ``trotter_fidelity_to_exact``: the product formula's own state error.

From |0…0⟩ a Lie–Trotter evolution of the transverse-field Ising chain differs from a Strang one only by
a diagonal ZZ phase at its end, so ⟨Z⟩, ⟨ZZ⟩ and the return probability err as O(dt²) at order 1 as
well as 2; the state itself (1 − F = O(dt²), i.e. an error O(dt) in norm) and ⟨H⟩, which is not diagonal
(its error O(dt)), show the first order
(Suzuki, J. Math. Phys. 32, 400 (1991); Childs et al., PRX 11, 011020 (2021)). A research review
(docs/review-research-20261206.md) read the observables alone and saw no first-order error.
"""

from functools import reduce

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import load_job_text
from dqsim.scenarios import trotter as scenario

from conftest import TEST_BACKEND

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")

JOB = """
[run]
name = "state_error"
scenario = "trotter"
[model]
kind = "tfim"
num_sites = 4
J = 1.0
h = 0.7
[evolution]
total_time = 1.0
num_points = {points}
steps_per_point = {steps}
order = {order}
mode = "{mode}"
[network]
topology = "line"
num_nodes = 2
[network.link]
distance_km = 1.0
dark_count_rate_hz = 0.0
[network.node]
num_data_qubits = 2
[simulation]
observables = ["magnetization", "loschmidt"]
"""


def _run(order, steps, points=1, mode="independent"):
    job = load_job_text(JOB.format(order=order, steps=steps, points=points, mode=mode))
    return scenario.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)


def _product_formula_fidelity(order, steps, time=1.0, num_sites=4, J=1.0, h=0.7):
    """|⟨e^{−iHt}ψ0|S(dt)^steps ψ0⟩|² with dense matrices (qubit 0 the least significant bit, as dqsim)."""
    eye, x, z = np.eye(2), np.array([[0.0, 1.0], [1.0, 0.0]]), np.diag([1.0, -1.0])

    def site(op, i):
        return reduce(np.kron, [op if k == i else eye for k in reversed(range(num_sites))])

    zz = -J * sum(site(z, i) @ site(z, i + 1) for i in range(num_sites - 1))
    xs = -h * sum(site(x, i) for i in range(num_sites))

    def expm(matrix, t):
        values, vectors = np.linalg.eigh(matrix)
        return (vectors * np.exp(-1j * values * t)) @ vectors.conj().T

    dt = time / steps
    step = expm(zz, dt) @ expm(xs, dt) if order == 1 else expm(xs, dt / 2) @ expm(zz, dt) @ expm(xs, dt / 2)
    psi0 = np.zeros(1 << num_sites)
    psi0[0] = 1.0
    trotter = np.linalg.matrix_power(step, steps) @ psi0
    return abs(np.vdot(expm(zz + xs, time) @ psi0, trotter)) ** 2


@pytest.mark.parametrize("order", [1, 2])
def test_trotter_fidelity_to_exact_is_the_product_formulas_overlap(order):
    out = _run(order, 4)
    net = out.tables["network"]
    assert net["trotter_fidelity_to_exact"][0] == pytest.approx(1.0, abs=1e-12)  # t = 0: the initial state
    expected = _product_formula_fidelity(order, 4)
    assert net["trotter_fidelity_to_exact"][-1] == pytest.approx(expected, abs=1e-10)
    assert out.attrs["final_trotter_fidelity_to_exact"] == net["trotter_fidelity_to_exact"][-1]
    assert any("fidelity to the exact state" in line for line in out.summary)


def test_first_order_state_error_shows_where_the_observables_hide_it():
    """Halving dt: 1 − F falls 4x at order 1 (state error O(dt)), 16x at order 2; ⟨Z⟩ falls 4x at both."""
    infidelity, magnetization_error = {}, {}
    for order in (1, 2):
        for steps in (8, 16):
            out = _run(order, steps)
            infidelity[order, steps] = 1 - out.tables["network"]["trotter_fidelity_to_exact"][-1]
            obs = out.tables["observables"]
            row = obs[(obs["observable"] == "magnetization") & (obs["time"] == 1.0)][0]
            magnetization_error[order, steps] = abs(row["trotter"] - row["exact"])
    assert infidelity[1, 8] / infidelity[1, 16] == pytest.approx(4.0, rel=0.1)
    assert infidelity[2, 8] / infidelity[2, 16] == pytest.approx(16.0, rel=0.1)
    for order in (1, 2):
        assert magnetization_error[order, 8] / magnetization_error[order, 16] == pytest.approx(4.0, rel=0.1)


def test_continued_mode_gives_the_same_fidelities():
    independent = _run(1, 2, points=3)
    continued = _run(1, 2, points=3, mode="continued")
    assert np.allclose(independent.tables["network"]["trotter_fidelity_to_exact"],
                       continued.tables["network"]["trotter_fidelity_to_exact"], atol=1e-12, rtol=0)


def test_plot_of_a_merged_file_draws_one_curve_set_per_task(tmp_path):
    """``dqsim merge`` of runs at 4 and 8 Trotter steps, then ``dqsim plot``: the old plot joined both tasks'
    points into one zigzag line with one label (docs/review-research-20261206.md)."""
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dqsim import io
    from dqsim.cli.merge import merge_files
    from dqsim.cli.plot_trotter import draw

    paths = []
    for steps in (4, 8):
        out = _run(1, steps, points=2)
        attrs = {"scenario": "trotter", **out.attrs, "overrides": [f"evolution.steps_per_point={steps}"]}
        paths.append(io.write_run_file(tmp_path / f"s{steps}.h5", attrs=attrs, tables=out.tables))
    merge_files(paths, tmp_path / "merged.h5")
    fig, ax = plt.subplots()
    assert draw(io.open_run(tmp_path / "merged.h5"), ax).endswith("one curve per task of the merged file")
    labels = [line.get_label() for line in ax.lines]
    assert "steps_per_point = 4: Trotter" in labels and "steps_per_point = 8: networked" in labels
    assert all(len(line.get_xdata()) in (0, 3) for line in ax.lines)  # t = 0, 0.5, 1 of one task each
    plt.close(fig)


ONE_NODE = JOB.replace("num_data_qubits = 2", "num_data_qubits = 4\n[distribution]\nassignment = [0, 0, 0, 0]") \
    .replace('observables = ["magnetization", "loschmidt"]', 'observables = ["magnetization", "energy"]')


def test_first_order_energy_error_is_first_order_where_the_magnetisation_is_second():
    """⟨H⟩ is not diagonal: the ZZ phase that separates Lie–Trotter from Strang shifts it by O(dt) (the
    commutator of the bonds with the field), so the `energy` rows show the first order too, while ⟨Z⟩ errs as
    O(dt²) (docs/running.md, docs/outputs.md; bench/review_trotter_physics.py, check ``scaling``). Doubling the steps
    halves the energy's error (its dt² part still shows at 32 → 64 steps: a ratio near 2.2) and quarters ⟨Z⟩'s."""
    errors = {}
    for steps in (32, 64):
        job = load_job_text(ONE_NODE.format(order=1, steps=steps, points=1, mode="independent"))
        rows = scenario.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND).tables["observables"]
        errors[steps] = {r["observable"]: abs(r["trotter"] - r["exact"]) for r in rows if r["time"] > 0}
    energy = errors[32]["energy"] / errors[64]["energy"]
    magnetization = errors[32]["magnetization"] / errors[64]["magnetization"]
    assert 1.8 < energy < 2.5, energy
    assert 3.6 < magnetization < 4.4, magnetization
