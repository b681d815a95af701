"""Independent physics review of dqsim's ``trotter`` scenario (spin-chain evolution split over networked QPUs).

Each check writes a job as a user would (TOML text), runs it through dqsim's job loader and
``dqsim.scenarios.trotter.run_job`` (the rank checks through ``mpiexec ... -m dqsim run`` and the
HDF5 file), and compares the tables with references this script builds itself from the
literature with numpy/scipy only (nothing of ``dqsim.circuit.hamiltonians`` is imported):

* the Hamiltonians as written in docs/running.md/``[model]``: TFIM ``H = −J Σ Z_i Z_j − h Σ X_i``, XXZ
  ``H = J Σ (X X + Y Y + Δ Z Z) + h Σ Z_i`` (Pauli matrices), dense, evolved by ``scipy.linalg.expm``;
* the product formulas: Lie–Trotter and Strang over the documented term groups (Suzuki, J. Math.
  Phys. 32, 400 (1991)), each group's exponential by ``expm``; the commutator error bounds of
  Childs, Su, Tran, Wiebe & Zhu, PRX 11, 011020 (2021) (first order: ``t²/(2n) Σ_γ ‖[Σ_{γ'>γ} H_γ', H_γ]‖``;
  second order: ``t³/(12n²) Σ_γ ‖[Σ_{γ'>γ} H, [Σ_{γ'>γ} H, H_γ]]‖ + t³/(24n²) Σ_γ ‖[H_γ, [H_γ, Σ_{γ'>γ} H]]‖``);
* closed forms: the 2-site TFIM from |00⟩ (by hand, below), the open TFIM chain's nearest-neighbour
  ⟨Z Z⟩ and energy from free fermions (Jordan–Wigner; Lieb, Schultz & Mattis 1961; Pfeuty 1970), exact
  and for the Trotter product (each factor a Gaussian unitary), at sizes beyond the dense matrices;
* noise: depolarising one-qubit gate errors (ρ → (1−p)ρ + p/3 Σ PρP, the Bloch vector shrinks by
  1 − 4p/3 per gate; Nielsen & Chuang eq. 8.102) and a TeleGate through a Werner pair (Eisert, Jacobs,
  Papadopoulos & Plenio, PRA 62, 052317 (2000): a Pauli error on the pair's half becomes a control flip (X)
  or a Z on the control (Z)), as density matrices here.

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD .venv/bin/python bench/review_trotter_physics.py [--quick] [CHECK ...]

PASS: |sim − reference| <= 1e-9 (figures dqsim computes from a state vector: exact to rounding),
|z| <= 3 for sampled figures (s.e. from the sample or the binomial), an inequality for bounds.
``--quick`` runs fewer sizes, trajectories and shots (same checks, larger standard errors).
"""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from scipy.linalg import expm
from scipy.stats import chi2

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import load_job_text
from dqsim.scenarios import trotter as scenario
from review_runner import run_checks

QUICK = "--quick" in sys.argv
TOL = 1e-9
Z_MAX = 3.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = tempfile.mkdtemp(prefix="review-trotter-")
BACKEND = backend_mod.select("numpy")
RESULTS: list[tuple[str, bool]] = []
ROWS: list[tuple] = []

I2 = np.eye(2, dtype=complex)
PAULI = {"I": I2, "X": np.array([[0, 1], [1, 0]], dtype=complex),
         "Y": np.array([[0, -1j], [1j, 0]], dtype=complex), "Z": np.diag([1.0, -1.0]).astype(complex)}


# ----------------------------------------------------------------------------- verdicts
def record(check: str, sim: float, ref: float, *, se: float | None = None, tol: float = TOL,
           source: str = "") -> bool:
    """One verdict: ``se`` given: |z| <= 3; else |sim − ref| <= tol."""
    if se is not None:
        z = (sim - ref) / se if se > 0 else (0.0 if abs(sim - ref) <= 1e-12 else math.inf)
        ok, how = abs(z) <= Z_MAX, f"z {z:+.2f}"
        sim_text = f"{sim:.6g} ± {se:.2g}"
    else:
        ok, how = abs(sim - ref) <= tol, f"|Δ| {abs(sim - ref):.2g} (tol {tol:.0e})"
        sim_text = f"{sim:.10g}"
    return _verdict(check, ok, sim_text, f"{ref:.10g}", how, source)


def record_bound(check: str, value: float, bound: float, source: str, *, at_least: float | None = None) -> bool:
    """``value <= bound`` (and ``value >= at_least`` when given)."""
    ok = value <= bound and (at_least is None or value >= at_least)
    how = f"<= {bound:.3g}" + (f", >= {at_least:.3g}" if at_least is not None else "")
    return _verdict(check, ok, f"{value:.4g}", how, "bound", source)


def _verdict(check, ok, sim_text, ref_text, how, source) -> bool:
    RESULTS.append((check, ok))
    ROWS.append((check, sim_text, ref_text, how, "PASS" if ok else "FAIL", source))
    print(f"{'PASS' if ok else 'FAIL'} {check}: dqsim {sim_text}  ref {ref_text}  {how}  [{source}]", flush=True)
    return ok


# ----------------------------------------------------------------------------- jobs
def job_text(*, kind="tfim", n=4, boundary="open", J=1.0, h=1.0, delta=None, initial="up", T=1.0, points=2,
             steps=2, order=2, nodes=2, data=None, assignment=None, observables=None, f=1.0, km=1.0,
             node_extra="", trajectories=1, shots=0, sweep=None, mode="independent", exact=None, seed=5,
             topology="line", grouping=None) -> str:
    """A ``trotter`` job on lossless direct links (every attempt heralds), pairs of Werner fidelity ``f``."""
    if assignment == "one node":  # every site on the first QPU: no nonlocal gate (the checks of the formulas)
        assignment, data = [0] * n, n
    data = data or -(-n // nodes)
    obs = observables or ["magnetization", "staggered_magnetization", "correlation", "energy", "loschmidt"]
    lines = ['[run]', 'name = "review"', 'scenario = "trotter"', f'seed = {seed}', '[model]', f'kind = "{kind}"',
             f'num_sites = {n}', f'boundary = "{boundary}"', f'J = {J!r}', f'h = {h!r}', f'initial = "{initial}"']
    if delta is not None:
        lines.append(f"delta = {delta!r}")
    lines += ['[evolution]', f'total_time = {T!r}', f'num_points = {points}', f'steps_per_point = {steps}',
              f'order = {order}', f'mode = "{mode}"']
    if grouping is not None:
        lines.append(f'grouping = "{grouping}"')
    if exact is not None:
        lines.append(f"exact = {'true' if exact else 'false'}")
    lines += ['[network]', f'topology = "{topology}"', f'num_nodes = {nodes}', '[network.link]',
              f'distance_km = {km!r}', 'scheme = "direct"', 'attenuation_db_per_km = 0.0',
              'detector_efficiency = 1.0', f'source_fidelity = {f!r}', 'dark_count_rate_hz = 0.0',
              '[network.node]', f'num_data_qubits = {data}', 'num_comm_qubits = 2', 't1_s = inf', 't2_s = inf',
              node_extra, '[distribution]', 'scheme = "telegate"']
    if assignment is not None:
        lines.append(f"assignment = {list(assignment)}")
    lines += ['[simulation]', f'observables = {obs!r}'.replace("'", '"'), f'trajectories = {trajectories}',
              f'shots = {shots}']
    if sweep is not None:
        lines.append(f'sweep = {{ parameter = "{sweep[0]}", values = {list(sweep[1])!r} }}')
    return "\n".join(lines) + "\n"


def run(text: str):
    """Run a job in this process on one rank: its ScenarioOutput."""
    job = load_job_text(text)
    return scenario.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)


def column(out, table: str, observable: str, name: str) -> np.ndarray:
    rows = out.tables[table]
    return np.array([r[name] for r in rows if r["observable"] == observable])


# ----------------------------------------------------------------------------- references (own, dense)
def site_op(letters: str, sites, n: int) -> np.ndarray:
    """Pauli string on ``n`` sites, index bit q = site q (site 0 the least significant bit)."""
    mats = [I2] * n
    for p, q in zip(letters, sites):
        mats[q] = PAULI[p]
    out = np.array([[1.0 + 0j]])
    for q in reversed(range(n)):
        out = np.kron(out, mats[q])
    return out


def bonds(n: int, boundary: str) -> list[tuple[int, int]]:
    return [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if boundary == "periodic" else [])


def groups(kind, n, boundary, J, h, delta=1.0) -> list[np.ndarray]:
    """The Hamiltonian's documented term groups, first applied first: TFIM [field, bonds]; XXZ [XX, YY, ZZ + field]."""
    b = bonds(n, boundary)
    zero = np.zeros((2 ** n, 2 ** n), dtype=complex)
    if kind == "tfim":
        parts = [sum((-h * site_op("X", [i], n) for i in range(n)), zero),
                 sum((-J * site_op("ZZ", p, n) for p in b), zero)]
    else:
        parts = [sum((J * site_op("XX", p, n) for p in b), zero), sum((J * site_op("YY", p, n) for p in b), zero),
                 sum((J * delta * site_op("ZZ", p, n) for p in b), zero) + sum((h * site_op("Z", [i], n)
                                                                              for i in range(n)), zero)]
    return [g for g in parts if np.abs(g).max() > 0]


def bond_groups(n, boundary, J, h, delta, cut=(), order=1) -> tuple[list[np.ndarray], list[list[tuple[int, int]]]]:
    """``[evolution].grouping = "bond"`` as docs/running.md, ``[evolution]``, describe it: each bond's J
    (XX + YY + ΔZZ) one block, the bonds in layers of disjoint bonds (even ``(i, i+1)``, odd, and an odd ring's
    closing bond alone), the field a
    layer of its own: ``[even, (closing,) field, odd]``; under order 2 with bonds between QPUs (``cut``) the bond
    layers in the order that applies the cut bonds least (first ``n + 1`` times in ``n`` steps, middle ``2n``, last
    ``n``: the least ``cut_first + 2·cut_middle + cut_last``, then ``cut_first``; the default order on a tie).
    Returns the layers' matrices and each layer's bonds (``[]`` for the field), empty layers left out."""
    chain = [(i, i + 1) for i in range(n - 1)]
    even, odd = chain[0::2], chain[1::2]
    closing = [(n - 1, 0)] if boundary == "periodic" else []
    if closing and n % 2 == 0:  # (N−1, 0) shares no site with the odd bonds (1,2), (3,4), ... of an even ring
        odd, closing = odd + closing, []
    zero = np.zeros((2 ** n, 2 ** n), dtype=complex)

    def blocks(pairs):
        return sum((J * (site_op("XX", p, n) + site_op("YY", p, n) + delta * site_op("ZZ", p, n)) for p in pairs),
                   zero)

    bond_layers = [layer for layer in (even, odd, closing) if layer]
    first, middle, last = bond_layers[0], bond_layers[2:], bond_layers[1:2]
    if order == 2 and len(bond_layers) > 1:
        cuts = {tuple(layer): sum(frozenset(b) in {frozenset(c) for c in cut} for b in layer) for layer in bond_layers}

        def cost(arrangement):
            f, mid, la = arrangement
            return cuts[tuple(f)] + 2 * sum(cuts[tuple(m)] for m in mid) + cuts[tuple(la[0])], cuts[tuple(f)]
        arrangements = [(first, middle, last)] + [(p[0], list(p[2:]), [p[1]])
                                                   for p in itertools.permutations(bond_layers)]
        first, middle, last = min(arrangements, key=cost)
    field = sum((h * site_op("Z", [i], n) for i in range(n)), zero)
    layers = [(blocks(first), first)] + [(blocks(m), m) for m in middle] + [(field, [])] + [(blocks(la), la)
                                                                                           for la in last]
    kept = [(m, b) for m, b in layers if np.abs(m).max() > 0]
    return [m for m, _b in kept], [b for _m, b in kept]


def block_count(layer_bonds, steps: int, order: int, boundaries: int = 0) -> dict[tuple[int, int], int]:
    """How many times each bond's block is applied in ``steps`` steps: once per step and layer (order 1); order 2:
    the first layer ``steps + 1`` times (its half steps merged between steps), the middle ones ``2·steps``, the
    last ``steps``; ``boundaries`` more for the first layer (the continued mode's split half steps)."""
    count = {}
    for index, bonds_of in enumerate(layer_bonds):
        if order == 1 or len(layer_bonds) == 1:
            times = steps
        elif index == 0:
            times = steps + 1 + boundaries
        else:
            times = steps if index == len(layer_bonds) - 1 else 2 * steps
        for b in bonds_of:
            count[b] = count.get(b, 0) + times
    return count


def product(parts, t: float, steps: int, order: int) -> np.ndarray:
    """Lie–Trotter ``(e^{−iH_m dt} ⋯ e^{−iH_1 dt})^n`` or Strang
    ``(e^{−iH_1 dt/2} ⋯ e^{−iH_m dt} ⋯ e^{−iH_1 dt/2})^n``."""
    dim = parts[0].shape[0]
    if steps == 0 or t == 0:
        return np.eye(dim, dtype=complex)
    dt = t / steps
    step = np.eye(dim, dtype=complex)
    if order == 1:
        for g in parts:
            step = expm(-1j * g * dt) @ step
    else:
        halves = [expm(-1j * g * dt / 2) for g in parts[:-1]]
        for u in halves:
            step = u @ step
        step = expm(-1j * parts[-1] * dt) @ step
        for u in reversed(halves):
            step = u @ step
    return np.linalg.matrix_power(step, steps)


def basis_state(bits) -> np.ndarray:
    psi = np.zeros(2 ** len(bits), dtype=complex)
    psi[sum(b << q for q, b in enumerate(bits))] = 1.0
    return psi


def initial_bits(n, initial):
    return [q % 2 if initial == "neel" else 0 for q in range(n)]


def observables(psi, n, boundary, ham, psi0) -> dict:
    """The five observables as docs/running.md/``[simulation]`` define them, of the pure state ``psi``."""
    z = [float(np.real(psi.conj() @ site_op("Z", [q], n) @ psi)) for q in range(n)]
    b = bonds(n, boundary)
    return {"magnetization": sum(z) / n, "staggered_magnetization": sum((-1) ** q * v for q, v in enumerate(z)) / n,
            "correlation": sum(float(np.real(psi.conj() @ site_op("ZZ", p, n) @ psi)) for p in b) / len(b),
            "energy": float(np.real(psi.conj() @ ham @ psi)), "loschmidt": abs(np.vdot(psi0, psi)) ** 2, "sites": z}


def spectral(a: np.ndarray) -> float:
    return float(np.linalg.norm(a, 2))


def comm(a, b):
    return a @ b - b @ a


def childs_bound(parts, t: float, steps: int, order: int) -> float:
    """Childs et al. PRX 11, 011020 (2021): the product formula's operator-norm error over ``steps`` steps."""
    dt = t / steps
    if order == 1:
        per = sum(spectral(comm(sum(parts[g + 1:]), parts[g])) for g in range(len(parts) - 1))
        return steps * dt ** 2 / 2 * per
    per = 0.0
    for g in range(len(parts) - 1):
        rest = sum(parts[g + 1:])
        per += spectral(comm(rest, comm(rest, parts[g]))) / 12 + spectral(comm(parts[g], comm(parts[g], rest))) / 24
    return steps * dt ** 3 * per


# ----------------------------------------------------------------------------- references: free fermions
def tfim_majorana_generator(n: int, J: float, h: float, which: str = "all") -> np.ndarray:
    """A with ``H = (i/4) Σ A_ab γ_a γ_b`` for the open TFIM (Jordan–Wigner with X as the occupation axis).

    γ_{2i} = (Π_{j<i} X_j) Z_i, γ_{2i+1} = (Π_{j<i} X_j) Y_i, so X_i = i γ_{2i} γ_{2i+1} and
    Z_i Z_{i+1} = i γ_{2i+1} γ_{2i+2}: −h X_i gives A_{2i,2i+1} = −2h, −J Z_i Z_{i+1} gives
    A_{2i+1,2i+2} = −2J (antisymmetric). Lieb, Schultz & Mattis, Ann. Phys. 16, 407 (1961).
    """
    a = np.zeros((2 * n, 2 * n))
    if which in ("all", "field"):
        for i in range(n):
            a[2 * i, 2 * i + 1], a[2 * i + 1, 2 * i] = -2 * h, 2 * h
    if which in ("all", "bonds"):
        for i in range(n - 1):
            a[2 * i + 1, 2 * i + 2], a[2 * i + 2, 2 * i + 1] = -2 * J, 2 * J
    return a


def fermion_zz_energy(n: int, J: float, h: float, rotation: np.ndarray) -> tuple[float, float]:
    """Mean ⟨Z_i Z_{i+1}⟩ and ⟨H⟩ from |0…0⟩ after the Majorana rotation ``γ → R γ`` (Heisenberg picture).

    |0…0⟩ = (|GHZ+⟩ + |GHZ−⟩)/√2, two Gaussian states of opposite fermion parity; bilinears conserve parity,
    so their mean is that of the covariance M_ab = (i/2)⟨[γ_a, γ_b]⟩ averaged over both: M_{2i+1,2i+2} = 1
    (every Z_i Z_{i+1} = +1), the edge pair (γ_0, γ_{2N−1}) averaging to 0. ⟨γ_a γ_b⟩ = −i M_ab (a ≠ b), so
    ⟨Z_i Z_{i+1}⟩ = M(t)_{2i+1,2i+2}, ⟨X_i⟩ = M(t)_{2i,2i+1} with M(t) = R M R^T.
    """
    m0 = np.zeros((2 * n, 2 * n))
    for i in range(n - 1):
        m0[2 * i + 1, 2 * i + 2], m0[2 * i + 2, 2 * i + 1] = 1.0, -1.0
    m = rotation @ m0 @ rotation.T
    zz = [m[2 * i + 1, 2 * i + 2] for i in range(n - 1)]
    x = [m[2 * i, 2 * i + 1] for i in range(n)]
    return float(np.mean(zz)), float(-J * sum(zz) - h * sum(x))


def fermion_rotation(n, J, h, t, steps=None, order=2) -> np.ndarray:
    """R of e^{−iHt} (``steps=None``) or of dqsim's documented product formula ([field, bonds] groups)."""
    if steps is None:
        return expm(tfim_majorana_generator(n, J, h) * t)
    if steps == 0:
        return np.eye(2 * n)
    field, bond = tfim_majorana_generator(n, J, h, "field"), tfim_majorana_generator(n, J, h, "bonds")
    dt = t / steps
    if order == 1:  # U = U_A U_B (field B first): U† γ U = U_B† (U_A† γ U_A) U_B, so R = R_A R_B
        step = expm(bond * dt) @ expm(field * dt)
    else:
        half = expm(field * dt / 2)
        step = half @ expm(bond * dt) @ half
    return np.linalg.matrix_power(step, steps)


# ----------------------------------------------------------------------------- checks
CONFIGS = [  # kind, n, boundary, J, h, delta, initial, order
    ("tfim", 4, "open", 1.0, 0.7, None, "up", 2),
    ("tfim", 5, "periodic", 0.8, 1.3, None, "neel", 1),
    ("xxz", 4, "open", 1.0, 0.4, 0.5, "neel", 2),
    ("xxz", 5, "periodic", 0.9, -0.3, 1.7, "neel", 1),
    ("xxz", 4, "periodic", 1.0, 0.0, 1.0, "neel", 2),   # Heisenberg ring
    ("xxz", 3, "open", -0.6, 0.5, -0.4, "up", 2),
]


def check_exact():
    """Exact, Trotter and networked columns, sites table and trotter_fidelity_to_exact against own expm/products."""
    configs = CONFIGS[:4] if QUICK else CONFIGS
    for kind, n, boundary, J, h, delta, initial, order in configs:
        T, points, steps = 1.3, 3, 2
        name = f"{kind} N={n} {boundary} J={J} h={h}" + (f" Δ={delta}" if delta is not None else "") + \
            f" {initial} order {order}"
        out = run(job_text(kind=kind, n=n, boundary=boundary, J=J, h=h, delta=delta, initial=initial, T=T,
                           points=points, steps=steps, order=order, nodes=2))
        parts = groups(kind, n, boundary, J, h, 1.0 if delta is None else delta)
        ham = sum(parts)
        psi0 = basis_state(initial_bits(n, initial))
        times = [k * T / points for k in range(points + 1)]
        worst = {"exact": 0.0, "trotter": 0.0, "networked": 0.0, "sites": 0.0, "fid": 0.0}
        for k, t in enumerate(times):
            exact = expm(-1j * ham * t) @ psi0
            trot = product(parts, t, k * steps, order) @ psi0
            ref_e, ref_t = observables(exact, n, boundary, ham, psi0), observables(trot, n, boundary, ham, psi0)
            for obs in ("magnetization", "staggered_magnetization", "correlation", "energy", "loschmidt"):
                row = [r for r in out.tables["observables"] if r["observable"] == obs][k]
                assert abs(row["time"] - t) < 1e-12
                worst["exact"] = max(worst["exact"], abs(row["exact"] - ref_e[obs]))
                worst["trotter"] = max(worst["trotter"], abs(row["trotter"] - ref_t[obs]))
                worst["networked"] = max(worst["networked"], abs(row["networked"] - ref_t[obs]))
            for r in out.tables["sites"]:
                if abs(r["time"] - t) < 1e-12:
                    worst["sites"] = max(worst["sites"], abs(r["exact"] - ref_e["sites"][r["site"]]),
                                         abs(r["trotter"] - ref_t["sites"][r["site"]]))
            fid = abs(np.vdot(exact, trot)) ** 2
            worst["fid"] = max(worst["fid"], abs(out.tables["network"][k]["trotter_fidelity_to_exact"] - fid))
        src = "expm of the docs/running.md Hamiltonian, Suzuki product (own)"
        record(f"exact column, 5 observables × {points + 1} times: {name}", worst["exact"], 0.0, source=src)
        record(f"trotter column vs own product formula: {name}", worst["trotter"], 0.0, source=src)
        record(f"networked (ideal links) vs own product formula: {name}", worst["networked"], 0.0, source=src)
        record(f"sites table ⟨Z_i⟩ (exact, trotter): {name}", worst["sites"], 0.0, source=src)
        record(f"trotter_fidelity_to_exact = |⟨ψ_exact|ψ_trotter⟩|²: {name}", worst["fid"], 0.0, source=src)


def _slope(steps, errors) -> float:
    return float(np.polyfit(np.log(1.0 / np.asarray(steps)), np.log(np.asarray(errors)), 1)[0])


def check_scaling():
    """Trotter error vs steps at fixed t: 1 − F ∝ dt^(2·order); Childs et al. bounds hold; energy error O(dt^order)."""
    step_list = [16, 32, 64] if QUICK else [8, 16, 32, 64, 128]
    cases = [("tfim", 4, "open", 1.0, 0.9, None, "up"), ("xxz", 4, "open", 1.0, 0.3, 0.6, "neel")]
    if not QUICK:
        cases.append(("tfim", 5, "periodic", 1.0, 0.6, None, "neel"))
    T = 1.0
    for kind, n, boundary, J, h, delta, initial in cases:
        parts = groups(kind, n, boundary, J, h, 1.0 if delta is None else delta)
        ham = sum(parts)
        psi0 = basis_state(initial_bits(n, initial))
        e_exact = float(np.real(psi0.conj() @ ham @ psi0))
        for order in (1, 2):
            infid, energy_err, op_err = [], [], []
            for s in step_list:
                out = run(job_text(kind=kind, n=n, boundary=boundary, J=J, h=h, delta=delta, initial=initial, T=T,
                                   points=1, steps=s, order=order, nodes=2, observables=["energy"],
                                   assignment="one node"))
                infid.append(1.0 - out.tables["network"][-1]["trotter_fidelity_to_exact"])
                energy_err.append(abs(column(out, "observables", "energy", "trotter")[-1] - e_exact))
                exact_u = expm(-1j * ham * T)
                op_err.append(spectral(product(parts, T, s, order) - exact_u))
                bound = childs_bound(parts, T, s, order)
                record_bound(f"{kind} N={n} {boundary} order {order}, {s} steps: sqrt(1 − F) <= Childs bound",
                             math.sqrt(max(infid[-1], 0.0)), bound, "Childs et al. PRX 11, 011020 (2021)")
                record_bound(f"{kind} N={n} {boundary} order {order}, {s} steps: |⟨H⟩_trotter − E0| <= 2‖H‖·bound",
                             energy_err[-1], 2 * spectral(ham) * bound, "Childs et al. 2021; |⟨A⟩−⟨B⟩| <= 2‖O‖‖U−V‖")
            if kind == "tfim" and order == 1:
                # docs/running.md, docs/outputs.md: from a computational basis state (an eigenstate of the ZZ bonds) the
                # first-order TFIM errs in ⟨Z⟩, ⟨ZZ⟩ and the Loschmidt echo as O(dt²), like second order
                diag_err = []
                for s in step_list[-2:]:
                    out = run(job_text(kind=kind, n=n, boundary=boundary, J=J, h=h, initial=initial, T=T, points=1,
                                       steps=s, order=1, nodes=2, assignment="one node",
                                       observables=["magnetization", "correlation", "loschmidt"]))
                    diag_err.append(max(abs(r["trotter"] - r["exact"]) for r in out.tables["observables"]))
                record(f"{kind} N={n} {boundary} {initial} order 1: local slope of the ⟨Z⟩, ⟨ZZ⟩, Loschmidt error",
                       _slope(step_list[-2:], diag_err), 2.0, tol=0.3,
                       source="L^n = e^{−iA dt/2} S^n e^{+iA dt/2}, A the diagonal ZZ bonds (Strang S)")
            slope = _slope(step_list, infid)
            record(f"{kind} N={n} {boundary} order {order}: slope of log(1 − F) vs log dt", slope, 2.0 * order,
                   tol=0.25, source="state error O(dt^order): Suzuki 1991")
            # first order's energy error has a large dt² part: its local slope nears 1 only at small dt
            # (own expm: 1.35, 1.21, 1.12, 1.06 from 8→16 to 64→128 steps for the TFIM case)
            e_slope = _slope(step_list[-2:], energy_err[-2:])
            if energy_err[-1] > 1e-11:
                record(f"{kind} N={n} {boundary} order {order}: local slope of log|ΔE| vs log dt "
                       f"({step_list[-2]}→{step_list[-1]} steps)", e_slope, float(order), tol=0.3,
                       source="observable error O(dt^order) (energy is not diagonal)")


def check_conservation():
    """Exact: ⟨H⟩ and total Sz (XXZ) constant; Trotter: within the bound; XXZ from |0…0⟩ (an eigenstate)."""
    cases = [("xxz", 5, "open", 1.0, 0.35, 0.7, "neel"), ("xxz", 4, "periodic", 1.0, 0.2, 1.3, "up"),
             ("xxz", 5, "open", 1.0, 0.0, 0.5, "up"), ("tfim", 5, "open", 1.0, 0.8, None, "up")]
    T, points, steps, order = 2.0, 4, 2, 2
    for kind, n, boundary, J, h, delta, initial in cases:
        out = run(job_text(kind=kind, n=n, boundary=boundary, J=J, h=h, delta=delta, initial=initial, T=T,
                           points=points, steps=steps, order=order, nodes=2, observables=["magnetization", "energy"],
                           assignment="one node"))
        parts = groups(kind, n, boundary, J, h, 1.0 if delta is None else delta)
        ham = sum(parts)
        psi0 = basis_state(initial_bits(n, initial))
        e0 = float(np.real(psi0.conj() @ ham @ psi0))
        m0 = sum(initial_bits(n, initial)[q] * -2 + 1 for q in range(n)) / n
        name = f"{kind} N={n} {boundary} h={h}" + (f" Δ={delta}" if delta is not None else "") + f" {initial}"
        e_exact = column(out, "observables", "energy", "exact")
        record(f"energy conserved by exact evolution: {name}", float(np.max(np.abs(e_exact - e0))), 0.0,
               tol=1e-10, source="[H, H] = 0")
        e_trot = column(out, "observables", "energy", "trotter")
        times = [k * T / points for k in range(points + 1)]
        worst_ratio = max(abs(e_trot[k] - e0) / (2 * spectral(ham) * childs_bound(parts, t, k * steps, order))
                          for k, t in enumerate(times) if k)
        record_bound(f"Trotter energy drift / (2‖H‖·Childs bound), max over times: {name}", worst_ratio, 1.0,
                     "Childs et al. 2021")
        if kind == "xxz":
            m_exact = column(out, "observables", "magnetization", "exact")
            record(f"total Sz conserved by exact evolution: {name}", float(np.max(np.abs(m_exact - m0))), 0.0,
                   tol=1e-10, source="[H, Σ Z_i] = 0 for XXZ")
            m_trot = column(out, "observables", "magnetization", "trotter")
            drift = float(np.max(np.abs(m_trot - m0)))
            ROWS.append((f"info: total Sz drift of the Trotter circuit (default grouping \"pauli\": XX, YY groups "
                         f"split bonds): {name}",
                         f"{drift:.3g}", "0 for a U(1)-conserving splitting", "", "info",
                         "grouping = \"bond\" conserves it: check bond_grouping"))
            print(f"info  total Sz drift of the Trotter circuit: {name}: {drift:.3g}", flush=True)
            worst = max(abs(m_trot[k] - m0) / (2 * childs_bound(parts, t, k * steps, order))
                        for k, t in enumerate(times) if k)
            record_bound(f"Trotter Sz drift / (2‖M‖·Childs bound), max over times: {name}", worst, 1.0,
                         "Childs et al. 2021, ‖M‖ = 1")


def check_bond_grouping():
    """``[evolution].grouping = "bond"``: the trotter column against the own product formula over the bond layers,
    total Sz conserved to 1e-12 (trotter and networked over 2 QPUs, both modes), slope of 1 − F = 2·order,
    the Childs bound with these layers, per application of a cut bond's block one teleported gate of two EPR pairs
    (Δ ≠ 0: ``[evolution].cut_blocks = "auto"``) or two TeleGates of one pair each (Δ = 0, two rotations)."""
    cases = [("periodic", 4, 1.0, 0.2, 1.3, "up"), ("periodic", 4, 1.0, 0.2, 1.3, "neel"),
             ("periodic", 5, 0.8, -0.3, 0.5, "neel")]
    if not QUICK:
        cases.append(("open", 5, 1.0, 0.6, 0.0, "neel"))
    T, points, steps = 2.0, 4, 2  # dt = 0.25: the drift the Pauli grouping shows (docs/running.md)
    for boundary, n, J, h, delta, initial in cases:
        ham = sum(bond_groups(n, boundary, J, h, delta)[0])
        psi0 = basis_state(initial_bits(n, initial))
        m0 = sum(1 - 2 * b for b in initial_bits(n, initial)) / n
        times = [k * T / points for k in range(points + 1)]
        assignment = [0] * (n - n // 2) + [1] * (n // 2)
        cut = [b for b in bonds(n, boundary) if assignment[b[0]] != assignment[b[1]]]
        per_block, pairs_per_gate = (1, 2) if delta != 0 else (2, 1)  # teleported block, or the XX, YY TeleGates
        for order in (1, 2):
            parts, layer_bonds = bond_groups(n, boundary, J, h, delta, cut=cut, order=order)
            for mode in ("independent", "continued"):
                name = f"xxz N={n} {boundary} J={J} h={h} Δ={delta} {initial} order {order} {mode}"
                out = run(job_text(kind="xxz", n=n, boundary=boundary, J=J, h=h, delta=delta, initial=initial, T=T,
                                   points=points, steps=steps, order=order, nodes=2, mode=mode, grouping="bond",
                                   assignment=assignment, observables=["magnetization", "energy", "loschmidt"]))
                worst, drift = 0.0, 0.0
                for k, t in enumerate(times):
                    ref = observables(product(parts, t, k * steps, order) @ psi0, n, boundary, ham, psi0)
                    for obs in ("magnetization", "energy", "loschmidt"):
                        row = [r for r in out.tables["observables"] if r["observable"] == obs][k]
                        worst = max(worst, abs(row["trotter"] - ref[obs]), abs(row["networked"] - ref[obs]))
                        if obs == "magnetization":
                            drift = max(drift, abs(row["trotter"] - m0), abs(row["networked"] - m0))
                src = "own expm over the bond layers, Suzuki product"
                record(f"bond grouping: trotter and networked (2 QPUs) vs own product formula: {name}", worst, 0.0,
                       source=src)
                record(f"bond grouping: total Sz drift, trotter and networked: {name}", drift, 0.0, tol=1e-12,
                       source="[J(XX+YY+ΔZZ), Z_i+Z_j] = 0, [Z_i, Σ Z] = 0")
                net = out.tables["network"]
                expected = []
                for k in range(points + 1):
                    count = block_count(layer_bonds, k * steps, order,
                                        boundaries=k - 1 if mode == "continued" and k > 1 else 0) if k else {}
                    expected.append(sum(per_block * c for (a, b), c in count.items()
                                        if assignment[a] != assignment[b]))
                got = [int(v) for v in net["nonlocal_gates"]]
                mismatch = max(abs(g - e) for g, e in zip(got, expected)) + float(np.max(np.abs(
                    net["epr_pairs"] - pairs_per_gate * net["nonlocal_gates"])))
                record(f"bond grouping: nonlocal gates {expected} ({per_block} per cut block), EPR pairs "
                       f"{pairs_per_gate} per gate: {name}", mismatch, 0.0, tol=0.0,
                       source="a block teleported there and back: two pairs (Bennett 1993); Δ = 0: one TeleGate per "
                              "rotation, Eisert et al. 2000")
        if initial == "neel" and n == 4:
            parts = bond_groups(n, boundary, J, h, delta)[0]  # one node: no cut bond, the default order
            step_list = [16, 32, 64] if QUICK else [8, 16, 32, 64]
            for order in (1, 2):
                infid = []
                for s in step_list:
                    out = run(job_text(kind="xxz", n=n, boundary=boundary, J=J, h=h, delta=delta, initial=initial,
                                       T=1.0, points=1, steps=s, order=order, nodes=2, grouping="bond",
                                       assignment="one node", observables=["energy"]))
                    infid.append(1.0 - out.tables["network"][-1]["trotter_fidelity_to_exact"])
                    bound = childs_bound(parts, 1.0, s, order)
                    record_bound(f"bond grouping N={n} {boundary} order {order}, {s} steps: sqrt(1 − F) <= Childs "
                                 "bound", math.sqrt(max(infid[-1], 0.0)), bound, "Childs et al. PRX 11, 011020 (2021)")
                record(f"bond grouping N={n} {boundary} {initial} order {order}: slope of log(1 − F) vs log dt",
                       _slope(step_list, infid), 2.0 * order, tol=0.25, source="state error O(dt^order): Suzuki 1991")


def two_site_tfim(J, h, t) -> tuple[float, float, float]:
    """⟨Z_i⟩, ⟨Z_0 Z_1⟩ and |⟨00|ψ(t)⟩|² of H = −J Z Z − h (X_0 + X_1) from |00⟩ (derived by hand).

    In the basis A± = (|00⟩ ± |11⟩)/√2, S = (|01⟩ + |10⟩)/√2: A− decouples (energy −J), and {A+, S} has
    H = [[−J, −2h], [−2h, J]], Ω = √(J² + 4h²). |00⟩ = (A+ + A−)/√2 gives a+ = (cos Ωt + i (J/Ω) sin Ωt)/√2,
    a− = e^{iJt}/√2, s = i (2h/Ω) sin Ωt/√2, so ⟨Z⟩ = cos Ωt cos Jt + (J/Ω) sin Ωt sin Jt,
    ⟨ZZ⟩ = 1 − 4h² sin² Ωt/Ω², and the return amplitude (a+ + a−)/√2.
    """
    om = math.sqrt(J * J + 4 * h * h)
    z = math.cos(om * t) * math.cos(J * t) + J / om * math.sin(om * t) * math.sin(J * t)
    zz = 1 - 4 * h * h * math.sin(om * t) ** 2 / om ** 2
    amp = 0.5 * (complex(math.cos(om * t), J / om * math.sin(om * t)) + complex(math.cos(J * t), math.sin(J * t)))
    return z, zz, abs(amp) ** 2


def check_closed_forms():
    """2-site TFIM by hand; open TFIM ⟨ZZ⟩ and ⟨H⟩ from free fermions, exact (N <= 12) and Trotter (N > 12)."""
    J, h, T, points = 0.9, 0.6, 3.0, 6
    out = run(job_text(kind="tfim", n=2, J=J, h=h, T=T, points=points, steps=10, order=2, nodes=2,
                       observables=["magnetization", "correlation", "loschmidt"]))
    worst, worst_net = 0.0, 0.0
    for k in range(points + 1):
        t = k * T / points
        ref = two_site_tfim(J, h, t)
        for obs, value in zip(("magnetization", "correlation", "loschmidt"), ref):
            worst = max(worst, abs(column(out, "observables", obs, "exact")[k] - value))
            worst_net = max(worst_net, abs(column(out, "observables", obs, "networked")[k] - value))
    record("2-site TFIM from |00⟩: exact ⟨Z⟩, ⟨ZZ⟩, Loschmidt vs closed form", worst, 0.0, tol=1e-10,
           source="two-level reduction (this script)")
    parts = groups("tfim", 2, "open", J, h)
    bound = childs_bound(parts, T, 60, 2)
    record_bound("2-site TFIM: networked (10 steps per point) vs closed form, max <= 2·Childs bound", worst_net,
                 2 * bound, "Childs et al. 2021")
    # free fermions: own check of the Majorana reference against the dense one at N = 5
    n_small, t_small = 5, 0.8
    ham = sum(groups("tfim", n_small, "open", J, h))
    psi = expm(-1j * ham * t_small) @ basis_state([0] * n_small)
    dense = observables(psi, n_small, "open", ham, basis_state([0] * n_small))
    zz_f, e_f = fermion_zz_energy(n_small, J, h, fermion_rotation(n_small, J, h, t_small))
    if abs(dense["correlation"] - zz_f) > 1e-10 or abs(dense["energy"] - e_f) > 1e-10:
        raise AssertionError(f"this script's free-fermion reference disagrees with its dense one: "
                             f"{zz_f} vs {dense['correlation']}, {e_f} vs {dense['energy']}")
    n_exact = 8 if QUICK else 12
    points = 3
    out = run(job_text(kind="tfim", n=n_exact, J=J, h=h, T=T, points=points, steps=3, order=2, nodes=2,
                       observables=["correlation", "energy"], assignment="one node"))
    worst_zz, worst_e, worst_t = 0.0, 0.0, 0.0
    for k in range(points + 1):
        t = k * T / points
        zz, e = fermion_zz_energy(n_exact, J, h, fermion_rotation(n_exact, J, h, t))
        worst_zz = max(worst_zz, abs(column(out, "observables", "correlation", "exact")[k] - zz))
        worst_e = max(worst_e, abs(column(out, "observables", "energy", "exact")[k] - e))
        zz_t, e_t = fermion_zz_energy(n_exact, J, h, fermion_rotation(n_exact, J, h, t, k * 3, 2))
        worst_t = max(worst_t, abs(column(out, "observables", "correlation", "trotter")[k] - zz_t),
                      abs(column(out, "observables", "energy", "trotter")[k] - e_t))
    src = "Jordan–Wigner free fermions (Lieb–Schultz–Mattis 1961, Pfeuty 1970)"
    record(f"open TFIM N={n_exact}: exact ⟨Z_i Z_i+1⟩ vs free fermions", worst_zz, 0.0, source=src)
    record(f"open TFIM N={n_exact}: exact ⟨H⟩ vs free fermions", worst_e, 0.0, source=src)
    record(f"open TFIM N={n_exact}: Trotter ⟨ZZ⟩, ⟨H⟩ vs Gaussian product formula", worst_t, 0.0, source=src)
    n_big = 14 if QUICK else 16
    out = run(job_text(kind="tfim", n=n_big, J=J, h=h, T=2.0, points=2, steps=2, order=1, nodes=2,
                       observables=["correlation", "energy"], exact=False))
    worst_t, worst_n = 0.0, 0.0
    for k in range(3):
        zz_t, e_t = fermion_zz_energy(n_big, J, h, fermion_rotation(n_big, J, h, k * 1.0, k * 2, 1))
        worst_t = max(worst_t, abs(column(out, "observables", "correlation", "trotter")[k] - zz_t),
                      abs(column(out, "observables", "energy", "trotter")[k] - e_t))
        worst_n = max(worst_n, abs(column(out, "observables", "correlation", "networked")[k] - zz_t),
                      abs(column(out, "observables", "energy", "networked")[k] - e_t))
    record(f"open TFIM N={n_big} (beyond dense exact), order 1: Trotter ⟨ZZ⟩, ⟨H⟩ vs Gaussian product", worst_t, 0.0,
           source=src)
    record(f"open TFIM N={n_big}, order 1: networked ⟨ZZ⟩, ⟨H⟩ vs Gaussian product", worst_n, 0.0, source=src)
    record(f"open TFIM N={n_big}, exact off: trotter_fidelity_to_exact and the exact column NaN",
           float(np.all(np.isnan(out.tables["network"]["trotter_fidelity_to_exact"]))
                 and np.all(np.isnan(out.tables["observables"]["exact"]))), 1.0, tol=0, source="docs/running.md")


def check_noise():
    """Depolarising gate errors (fidelity and ⟨Z⟩ decay) and a TeleGate through a Werner pair, vs density matrices."""
    trajectories = 100 if QUICK else 600
    # (1) J = 0: only the field's rx gates, one per step per site, each followed by a depolarising error p
    p, h, T, steps = 0.04, 0.7, 1.0, 6
    out = run(job_text(kind="tfim", n=2, J=0.0, h=h, T=T, points=1, steps=steps, order=2, nodes=2,
                       observables=["magnetization"], trajectories=trajectories,
                       node_extra=f"gate_1q_error_probability = {p}"))
    shrink = (1 - 4 * p / 3) ** steps
    net = out.tables["network"][-1]
    record(f"depolarising p = {p}, {steps} rx per site: fidelity_to_trotter = ((1 + λ^n)/2)², λ = 1 − 4p/3",
           net["fidelity_to_trotter"], ((1 + shrink) / 2) ** 2, se=net["fidelity_to_trotter_stderr"],
           source="Nielsen & Chuang eq. 8.102 (Bloch vector shrinks by 1 − 4p/3)")
    row = [r for r in out.tables["observables"] if r["observable"] == "magnetization"][-1]
    record(f"depolarising p = {p}: ⟨Z⟩ = λ^n cos(2hT)", row["networked"], shrink * math.cos(2 * h * T),
           se=row["networked_stderr"], source="Nielsen & Chuang eq. 8.102")
    # (2) one nonlocal rzz through a Werner pair of fidelity f (2 sites, 1 step of order 1); (3) through an
    # ideal pair with measurement errors q in the cat-entangler (Z) and disentangler (X) measurements
    J, h, T = 1.0, 0.8, 0.6
    f, q = 0.85, 0.1
    for label, extra, fid_link, (p_x, p_z) in (
            (f"Werner F = {f} TeleGate rzz", "", f, _werner_flips(f)),
            (f"measure_error_probability = {q}, ideal pair: TeleGate rzz",
             f"measure_error_probability = {q}", 1.0, (q, q))):
        out = run(job_text(kind="tfim", n=2, J=J, h=h, T=T, points=1, steps=1, order=1, nodes=2, f=fid_link,
                           observables=["magnetization", "correlation"], trajectories=trajectories,
                           node_extra=extra))
        branches = telegate_branches(J, h, T, p_x, p_z)
        net = out.tables["network"][-1]
        src = "Eisert et al. 2000, Pauli/outcome errors as control flips and Z (own state vectors)"
        # A Werner pair joins the register as one of the four Bell states with its Bell weight (the Pauli
        # unravelling, Bennett et al. 1996; dqsim.state.small.pure_mixture_of), so its branches are these and
        # their spread is fixed, as a measurement error's (a classical event) is.
        _mean_and_stderr(f"{label}: fidelity_to_trotter", net["fidelity_to_trotter"],
                         net["fidelity_to_trotter_stderr"], [(p, b[0]) for p, b in branches], trajectories, src)
        for index, obs in ((1, "magnetization"), (2, "correlation")):
            row = [r for r in out.tables["observables"] if r["observable"] == obs][-1]
            _mean_and_stderr(f"{label}: {obs}", row["networked"], row["networked_stderr"],
                             [(p, b[index]) for p, b in branches], trajectories, src)
        record(f"{label}: EPR pairs per trajectory = 1", net["epr_pairs"], 1.0, source="one ebit per cp")


def _mean_and_stderr(label, mean, stderr, dist, n, source) -> None:
    """The mean within 3 s.e. of the branch mixture's (``dist``: the physical branches, which dqsim draws), or to
    1e-9 when every branch gives the same value (the errors commute with the observable); and the reported
    s.e. against sqrt(Var/n), with the s.e. of a sample standard deviation, sqrt((μ4 − σ⁴)/n)/(2σ) (delta
    method)."""
    mu = sum(p * v for p, v in dist)
    var = sum(p * (v - mu) ** 2 for p, v in dist)
    mu4 = sum(p * (v - mu) ** 4 for p, v in dist)
    if var < 1e-20:
        record(f"{label} (every branch the same value, {n} trajectories)", mean, mu, source=source)
        return
    record(f"{label} (mean over {n} trajectories)", mean, mu, se=stderr, source=source)
    se_ref = math.sqrt(var / n)
    se_of_se = math.sqrt(max(mu4 - var ** 2, 0.0) / n) / (2 * math.sqrt(var)) / math.sqrt(n)
    record(f"{label}: its standard error vs sqrt(Var/n) of the branch mixture", stderr, se_ref, se=se_of_se,
           source="standard error of the mean over trajectories")


def _werner_flips(f) -> tuple[float, float]:
    """The ``(p_x, p_z)`` of :func:`telegate_branches` that stand for a Werner pair of fidelity ``f``."""
    return f, -1.0


def telegate_branches(J, h, T, p_x, p_z) -> list[tuple[float, tuple[float, float, float]]]:
    """(probability, (fidelity to the ideal state, ⟨Z⟩ mean, ⟨ZZ⟩)) of each error branch of
    rx(−2hT) on both sites and a TeleGate rzz(−2JT).

    rzz(θ) = rz(θ)_0 p(θ)_1 cp(−2θ) (exact, one controlled gate; site 0 the control). In the cat-entangler/
    disentangler (Eisert et al. 2000) an X on the pair's half, or a wrong cat-entangler outcome, flips the
    control's copy (the cp acts as if control = 0); a Z on it, or a wrong disentangler outcome, becomes a Z on
    the control. ``p_z < 0`` means a Werner pair of fidelity ``p_x``: Pauli I with prob (1+3w)/4, X, Y, Z with
    (1−w)/4 each, w = (4f−1)/3 (Y = flip and Z); else independent flip ``p_x`` and Z ``p_z``.
    """
    if p_z < 0:
        w = (4 * p_x - 1) / 3
        probs = {(0, 0): (1 + 3 * w) / 4, (1, 0): (1 - w) / 4, (0, 1): (1 - w) / 4, (1, 1): (1 - w) / 4}
    else:
        probs = {(a, b): (p_x if a else 1 - p_x) * (p_z if b else 1 - p_z) for a in (0, 1) for b in (0, 1)}
    rx = expm(1j * h * T * PAULI["X"])          # rx(−2hT) = e^{+i h T X} = e^{−i(−h X)T}
    theta = -2 * J * T
    local = np.kron(np.diag([1, np.exp(1j * theta)]), np.diag([np.exp(-1j * theta / 2), np.exp(1j * theta / 2)]))
    phi = -2 * theta
    # index = 2·site1 + site0 (site 0 the least significant bit)
    cps = {0: np.diag([1, 1, 1, np.exp(1j * phi)]),
           1: np.diag([1, 1, np.exp(1j * phi), 1])}  # flipped: the phase when site 0 = 0 and site 1 = 1 (index 2)
    zs = {0: np.eye(4), 1: np.kron(I2, PAULI["Z"])}
    psi = np.kron(rx, rx) @ basis_state([0, 0])
    ideal = local @ cps[0] @ psi
    zsum = (site_op("Z", [0], 2) + site_op("Z", [1], 2)) / 2
    found = []
    for (flip, zerr), prob in probs.items():
        out = local @ zs[zerr] @ cps[flip] @ psi
        found.append((prob, (abs(np.vdot(ideal, out)) ** 2, float(np.real(out.conj() @ zsum @ out)),
                             float(np.real(out.conj() @ site_op("ZZ", [0, 1], 2) @ out)))))
    return found


def check_sampling():
    """counts at t = T: frequencies vs |ψ_trotter|² (χ²), ⟨Z_i⟩ from counts within 3 s.e., site 0 rightmost."""
    shots = 4000 if QUICK else 40000
    n, J, h, T = 3, 1.0, 0.6, 0.9
    out = run(job_text(kind="tfim", n=n, J=J, h=h, T=T, points=1, steps=3, order=2, nodes=2, initial="neel",
                       observables=["magnetization"], shots=shots, assignment=[0, 0, 1]))
    psi = product(groups("tfim", n, "open", J, h), T, 3, 2) @ basis_state(initial_bits(n, "neel"))
    probs = np.abs(psi) ** 2
    counts = {r["bitstring"]: int(r["count"]) for r in out.tables["counts"]}
    record("counts: total = shots", float(sum(counts.values())), float(shots), tol=0)
    observed = np.array([counts.get(format(i, f"0{n}b"), 0) for i in range(2 ** n)], dtype=float)
    stat = float(np.sum((observed - shots * probs) ** 2 / (shots * probs)))
    p_value = float(chi2.sf(stat, 2 ** n - 1))
    record_bound(f"counts vs |ψ|² with site 0 the rightmost bit: χ² p-value ({2 ** n - 1} d.o.f.) >= 0.001", p_value,
                 1.0, "Pearson χ², |ψ|² from own product formula", at_least=1e-3)
    for q in range(n):
        ones = sum(c for b, c in counts.items() if b[n - 1 - q] == "1")
        mean = 1 - 2 * ones / shots
        p1 = ones / shots
        se = 2 * math.sqrt(max(p1 * (1 - p1), 1e-12) / shots)
        row = [r for r in out.tables["sites"] if r["site"] == q][-1]
        record(f"⟨Z_{q}⟩ from counts vs the networked state's", mean, row["networked"], se=se,
               source="binomial s.e.")


def check_tables():
    """Sweep tables, units, the network table's counts (gates, nonlocal gates, pairs) and continued mode."""
    trajectories = 2 if QUICK else 4
    values = [1.0, 0.9]
    text = job_text(kind="xxz", n=6, boundary="periodic", J=1.0, h=0.0, delta=0.5, initial="neel", T=1.5,
                    points=3, steps=1, order=2, nodes=3, topology="ring", trajectories=trajectories,
                    observables=["staggered_magnetization", "correlation", "energy", "loschmidt"],
                    sweep=("source_fidelity", values))
    out = run(text)
    sweep, sweep_net = out.tables["sweep"], out.tables["sweep_network"]
    record("sweep: rows = values × points × observables", float(len(sweep)), float(len(values) * 4 * 4), tol=0)
    at_one = [r for r in sweep if r["value"] == 1.0]
    record("sweep at source_fidelity 1: networked = trotter", max(abs(r["networked"] - r["trotter"]) for r in at_one),
           0.0, source="ideal pairs: the noiseless circuit")
    record("sweep_network at 1: fidelity_to_trotter = 1",
           max(abs(r["fidelity_to_trotter"] - 1) for r in sweep_net if r["value"] == 1.0), 0.0)
    noisy = [r["fidelity_to_trotter"] for r in sweep_net if r["value"] == 0.9 and r["time"] > 0]
    record_bound("sweep_network at 0.9: fidelity_to_trotter < 1 at every t > 0", max(noisy), 1 - 1e-6,
                 "imperfect pairs")
    units = out.table_attrs
    record("units: time of every table = '1/energy (hbar = 1)'",
           float(all(units[t]["units"]["time"] == "1/energy (hbar = 1)"
                     for t in ("observables", "network", "sweep", "sweep_network"))), 1.0, tol=0)
    energy_units = {r["unit"] for r in out.tables["observables"] if r["observable"] == "energy"}
    others = {r["unit"] for r in out.tables["observables"] if r["observable"] != "energy"}
    record("units: energy rows in the unit of J and h, the others '1'",
           float(len(energy_units) == 1 and "J" in next(iter(energy_units)) and others == {"1"}), 1.0, tol=0)
    # the network table: gates counted from the documented circuit
    n, steps, points, cut = 6, 1, 3, 3   # ring over 3 nodes, 2 sites each: bonds (1,2), (3,4), (5,0) are cut
    network = out.tables["network"]
    for k, row in enumerate(network):
        s = k * steps
        xx = (s + 1) if s else 0          # Strang: XX outer (merged half steps), YY inner halves, ZZ+Z full
        nonlocal_gates = cut * (xx + 2 * s + s) if s else 0
        local_gates = 3 * (xx + 2 * s + s) if s else 0
        record(f"network t = {row['time']:.2f}: trotter_steps, num_gates, nonlocal_gates, epr_pairs",
               float(abs(row["trotter_steps"] - s) + abs(row["num_gates"] - (n // 2 + nonlocal_gates + local_gates))
                     + abs(row["nonlocal_gates"] - nonlocal_gates) + abs(row["epr_pairs"] - nonlocal_gates)),
               0.0, tol=0, source="Strang product over [XX, YY, ZZ] groups; 1 ebit per TeleGate")
    # continued mode: the same values as the independent mode (ideal links)
    for kind, delta in (("tfim", None), ("xxz", 0.8)):
        base = dict(kind=kind, n=5, boundary="open", J=1.0, h=0.5, delta=delta, initial="neel", T=1.2, points=4,
                    steps=2, order=2, nodes=2)
        ind, cont = run(job_text(**base)), run(job_text(**base, mode="continued"))
        if kind == "tfim":
            record("trotter_fidelity_to_exact at t = 0 is 1",
                   ind.tables["network"][0]["trotter_fidelity_to_exact"], 1.0)
        diff = max(abs(a[c] - b[c]) for a, b in zip(ind.tables["observables"], cont.tables["observables"])
                   for c in ("networked", "trotter", "exact"))
        diff = max(diff, max(abs(a["trotter_fidelity_to_exact"] - b["trotter_fidelity_to_exact"])
                             for a, b in zip(ind.tables["network"], cont.tables["network"])))
        record(f"continued = independent mode ({kind}): observables, trotter_fidelity_to_exact", diff, 0.0, tol=1e-10)
        cum = cont.tables["network"]["epr_pairs"]
        per = ind.tables["network"]["epr_pairs"]
        # one cut bond (sites 0-2 | 3-4). TFIM: ZZ the last group, one pair per step, nothing more at the
        # boundaries. XXZ: XX the outer group, whose half steps the continued mode applies separately at each
        # boundary: one more pair per cut bond per boundary after the first point (module docstring)
        extra = np.array([0.0] + [k - 1.0 for k in range(1, len(cum))]) if kind == "xxz" else np.zeros(len(cum))
        record(f"continued ({kind}): cumulative epr_pairs − independent mode's = cut bonds × (k − 1)",
               float(np.max(np.abs(cum - per - extra))), 0.0, tol=0, source="Strang: merged outer half steps")
    # distance sweep: every TeleGate waits at least for its classical message over the fibre, n_g·L/c
    steps, group_index, c_km_ps = 3, 1.468, 299_792.458e-12
    out = run(job_text(kind="tfim", n=4, J=1.0, h=0.5, T=0.6, points=1, steps=steps, order=2, nodes=2,
                       observables=["magnetization"], sweep=("distance_km", [1.0, 41.0])))
    rows = {r["value"]: r for r in out.tables["sweep_network"] if r["time"] > 0}
    added = rows[41.0]["simulated_time_ps"] - rows[1.0]["simulated_time_ps"]
    least = steps * group_index * 40.0 / c_km_ps
    record_bound(f"distance sweep 1 → 41 km: added simulated_time_ps >= {steps} TeleGates × n_g·40 km/c "
                 "(sequential on one cut bond)", added, math.inf, "one-way classical message per TeleGate (Eisert)",
                 at_least=least)
    record("distance sweep: epr_pairs the same at 1 and 41 km (lossless fibre)", rows[41.0]["epr_pairs"],
           rows[1.0]["epr_pairs"], tol=0)


#: The tables compared between rank counts (not ``timing``, nor the ``node_names`` a run's tables hold since
#: 2026-12-07 (later), which the file keeps as a dataset of its own).
COMPARED_TABLES = ("observables", "sites", "network", "sweep", "sweep_network", "counts")


def cli_tables(text: str, name: str, ranks: int) -> dict:
    """Run a job file with ``mpiexec -n ranks`` through the CLI; its tables read back from the HDF5 file."""
    import h5py
    job = os.path.join(WORK, f"{name}.toml")
    out = os.path.join(WORK, f"{name}-{ranks}.h5")
    with open(job, "w") as fh:
        fh.write(text)
    py = sys.executable
    cmd = [py, "-m", "dqsim", "run", job, "-o", out, "--quiet"]
    if ranks > 1:
        cmd = [os.path.join(os.path.dirname(py), "mpiexec"), "-n", str(ranks), py, "-m", "mpi4py", "-m", "dqsim",
               "run", job, "-o", out, "--quiet"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    found = {}
    with h5py.File(out, "r") as fh:
        for key in COMPARED_TABLES:
            path = f"tables/{key}" if "tables" in fh else key
            if path in fh:
                found[key] = fh[path][()]
    return found


def _table_diff(a: dict, b: dict) -> float:
    worst = 0.0
    if set(a) != set(b):
        return math.inf
    for key in a:
        if len(a[key]) != len(b[key]):
            return math.inf
        for name in a[key].dtype.names:
            col_a, col_b = a[key][name], b[key][name]
            if col_a.dtype.kind == "f":
                both_nan = np.isnan(col_a) & np.isnan(col_b)
                d = np.where(both_nan, 0.0, np.abs(col_a - col_b))
                worst = max(worst, float(np.max(d)) if len(d) else 0.0)
            elif [_text(v) for v in col_a] != [_text(v) for v in col_b]:
                return math.inf
    return worst


def _text(value):
    return value.decode() if isinstance(value, bytes) else (value.item() if hasattr(value, "item") else value)


def check_ranks():
    """1, 2 (and 4) ranks give the same tables: the shared-out mode (short chain) and the sharded mode (11 sites)."""
    ranks = [2] if QUICK else [2, 4]
    shared = job_text(kind="xxz", n=6, boundary="periodic", J=1.0, h=0.2, delta=0.5, initial="neel", T=1.0,
                      points=2, steps=1, order=2, nodes=3, topology="ring", trajectories=2 if QUICK else 3, f=0.95,
                      shots=500, sweep=("distance_km", [20.0] if QUICK else [1.0, 20.0]))
    sharded = job_text(kind="tfim", n=11, J=1.0, h=0.7, T=0.5, points=1, steps=1, order=2, nodes=2, data=6,
                       observables=["magnetization", "correlation", "energy", "loschmidt"], exact=False)
    for label, text, tol in (("shared-out runs (6 sites)", shared, 0.0),
                             ("sharded register (11 sites)", sharded, 1e-10)):
        if QUICK:  # one rank in this process (the same code path as the CLI's one-rank run)
            one = {k: v for k, v in run(text).tables.items() if k in COMPARED_TABLES}
        else:
            one = cli_tables(text, label.split()[0], 1)
        for r in ranks:
            other = cli_tables(text, label.split()[0], r)
            record(f"{label}: {r} ranks vs 1 rank, max |Δ| over every table", _table_diff(one, other), 0.0, tol=tol,
                   source="invariant 5 (rank-independent randomness)")


def check_shipped():
    """The shipped jobs' exact and trotter columns against own references (quick: fewer points)."""
    for path in ("jobs/ising_trotter_4qpu.toml", "jobs/ising_trotter_continued.toml", "jobs/xxz_ring_sweep.toml"):
        with open(os.path.join(ROOT, path)) as fh:
            text = fh.read()
        if QUICK:
            text = (text.replace("num_points = 30", "num_points = 6").replace("num_points = 10", "num_points = 2")
                    .replace("trajectories = 8", "trajectories = 1").replace("total_time = 3.0", "total_time = 0.6")
                    .replace("values = [1.0, 0.99, 0.98, 0.95]", "values = [0.95]"))
        job = load_job_text(text)
        out = scenario.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
        m = job.model
        parts = groups(m.kind, m.num_sites, m.boundary, m.J, m.h, m.delta)
        ham = sum(parts)
        psi0 = basis_state(initial_bits(m.num_sites, m.initial))
        ev = job.evolution
        worst_e = worst_t = 0.0
        for k, t in enumerate(ev.times()):
            ref_e = observables(expm(-1j * ham * t) @ psi0, m.num_sites, m.boundary, ham, psi0)
            trot = product(parts, t, k * ev.steps_per_point, ev.order) @ psi0
            ref_t = observables(trot, m.num_sites, m.boundary, ham, psi0)
            for name in job.simulation.observables:
                row = [r for r in out.tables["observables"] if r["observable"] == name][k]
                if not math.isnan(row["exact"]):
                    worst_e = max(worst_e, abs(row["exact"] - ref_e[name]))
                worst_t = max(worst_t, abs(row["trotter"] - ref_t[name]), abs(row["networked"] - ref_t[name])
                              if job.simulation.sweep is None and job.network.link.get("source_fidelity", 1) == 1
                              else 0.0)
        record(f"{path}: exact column vs own expm", worst_e, 0.0)
        record(f"{path}: trotter (and ideal networked) columns vs own product formula", worst_t, 0.0)


CHECKS = {"exact": check_exact, "scaling": check_scaling, "conservation": check_conservation,
          "bond_grouping": check_bond_grouping,
          "closed_forms": check_closed_forms, "noise": check_noise, "sampling": check_sampling,
          "tables": check_tables, "ranks": check_ranks, "shipped": check_shipped}


def main(argv: list[str]) -> int:
    failed = run_checks("review_trotter_physics", CHECKS, argv, QUICK, RESULTS, __doc__)
    print("\n| check | dqsim | reference | tolerance | verdict | source |\n|---|---|---|---|---|---|")
    for row in ROWS:
        print("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    for what in failed:
        print(f"  FAIL: {what}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
