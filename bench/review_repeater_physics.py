"""An independent review of dqsim's repeater physics: links, memories, swapping, purification, chains.

Each check runs dqsim's ``repeater`` scenario (``dqsim.scenarios.repeater.run_chain`` on one rank,
numpy, a fixed seed; the link check and the rank check go through a job file as a user would) and
compares a simulated figure with a formula written out again here from the literature. Nothing of
dqsim.network.werner, dqsim.network.entanglement or dqsim.protocols.purify is imported: every
expected value below is derived in this file (the derivations are in the docstrings).

    PYTHONPATH=$PWD .venv/bin/python bench/review_repeater_physics.py [--quick] [check ...]

Checks: link, dark, memory, swap, purify, purify_noisy, chain, damping, cutoff, cutoff_pumped, cutoff_deadline,
pump_decoherence, least_age, nested_cutoff, pumping_link, cutoff_link, summary, ranks (default: all). One line per
figure:
``sim ± s.e.  formula  z``; PASS when |z| <= 3 (statistical figures, s.e. from the sample) or, for
figures that are exact in dqsim's model (the memories are exact density matrices), when
|sim - formula| <= 1e-9. ``--quick`` runs fewer pairs (larger standard errors, same checks).

Sources of the formulas:
  Barrett & Kok, PRA 71, 060310(R) (2005): double-click heralding succeeds with eta^2/2.
  Cabrillo et al., PRA 59, 1025 (1999); Humphreys et al., Nature 558, 268 (2018): single-click,
    bright-state population alpha, p = 1 - (1 - alpha eta)^2 with threshold detectors, F = (1-alpha)/(1-alpha eta/2).
  Nielsen & Chuang, Sec. 8.3.5-8.3.6: amplitude damping and phase damping Kraus operators (T1, T2).
  Zukowski et al., PRL 71, 4287 (1993); Duer, Briegel, Cirac & Zoller, PRA 59, 169 (1999), Sec. III:
    swapping Werner pairs multiplies the Werner parameters; imperfect Bell measurement.
  Bennett, Brassard, Popescu, Schumacher, Smolin & Wootters, PRL 76, 722 (1996): BBPSSW.
  Deutsch, Ekert, Jozsa, Macchiavello, Popescu & Sanpera, PRL 77, 2818 (1996): DEJMPS.
  Shchukin, Schmidt & van Loock, PRA 100, 032322 (2019): E[max of two geometric] = (3-2p)/(p(2-p)).
  Rozpedek, Goodenough, Ribeiro, Kalb, Caprara Vivoli, Reiserer, Hanson, Wehner & Elkouss, PRA 98, 052330
    (2018): a memory cut-off frees a qubit older than the cut-off at that moment.
  Brand, Coopmans & Elkouss, IEEE JSAC 38, 619 (2020) and Kamin, Shchukin, Schmidt & van Loock,
    PRR 5, 023086 (2023): two-link swap-asap fidelity with dephasing, E[x^|N1-N2|] = p(1+qx)/((2-p)(1-qx)),
    and the cut-off's pass probability P(|N1-N2| <= m) = 1 - 2q^(m+1)/(2-p).
"""

from __future__ import annotations

import csv
import heapq
import io
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import apply_overrides, load_job
from dqsim.network.link import LinkSpec
from dqsim.network.node import NodeSpec
from dqsim.protocols.repeater import ChainSpec
from dqsim.rng import Stream
from dqsim.scenarios import repeater as repeater_scenario
from dqsim.scenarios.repeater import run_chain
from review_runner import run_checks

NUMPY = backend_mod.select("numpy")
C_M_PER_S = 299_792_458.0
PS_PER_S = 1e12
Z_MAX = 3.0
EXACT_TOL = 1e-9
QUICK = "--quick" in sys.argv
RESULTS: list[tuple[str, bool]] = []


# ------------------------------------------------------------------------------------------ reporting
def line(what: str, sim: float, se: float | None, formula: float, note: str = "") -> bool:
    """Print one comparison and record its verdict. ``se = None``: exact (|sim - formula| <= 1e-9)."""
    if se is None:
        ok = abs(sim - formula) <= EXACT_TOL
        zs = f"exact, diff {sim - formula:+.1e}"
    else:
        z = (sim - formula) / se if se > 0 else (0.0 if sim == formula else math.inf)
        ok = abs(z) <= Z_MAX
        zs = f"z {z:+.2f}"
    se_s = "" if se is None else f" ± {se:.3g}"
    print(f"  {'PASS' if ok else 'FAIL'} {what:46s} sim {sim:.10g}{se_s}  formula {formula:.10g}  {zs} {note}",
          flush=True)
    RESULTS.append((what, ok))
    return ok


def mean_se(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0


def var_se(values) -> tuple[float, float]:
    """Sample variance and its standard error sqrt((m4 - s^4)/n) (large-n delta method)."""
    v = np.asarray(values, dtype=float)
    c = v - v.mean()
    s2 = float(c @ c / (len(v) - 1))
    m4 = float(np.mean(c ** 4))
    return s2, math.sqrt(max(m4 - s2 * s2, 0.0) / len(v))


# ------------------------------------------------------------------------------------------ formulas
def delay_ps(distance_km: float, group_index: float) -> float:
    """Time of flight n_g L / c, ps."""
    return group_index * distance_km * 1e3 / C_M_PER_S * PS_PER_S


def arm_eta(link_km: float, alpha_db: float, coupling_db: float, eta_det: float) -> float:
    """Transmittance node -> midpoint station -> detector: fibre over L/2, one coupling loss, detector."""
    return 10 ** (-(alpha_db * link_km / 2 + coupling_db) / 10) * eta_det


def geometric_moments(p: float) -> tuple[float, float, float]:
    """Mean, variance and 4th central moment of the number of trials to the first success (support 1, 2, ...)."""
    q = 1 - p
    k = np.arange(1, int(60 / p) + 200)
    pmf = p * q ** (k - 1)
    mu = float(k @ pmf)
    var = float(((k - mu) ** 2) @ pmf)
    m4 = float(((k - mu) ** 4) @ pmf)
    return mu, var, m4


def werner(f: float) -> np.ndarray:
    """Werner state of fidelity f to |Phi+> = (|00> + |11>)/sqrt 2 (qubit order: first qubit is the high bit)."""
    phi = np.array([1, 0, 0, 1], dtype=complex) / math.sqrt(2)
    w = (4 * f - 1) / 3
    return w * np.outer(phi, phi.conj()) + (1 - w) * np.eye(4) / 4


def bell_basis() -> dict[str, np.ndarray]:
    s = 1 / math.sqrt(2)
    return {"phi+": np.array([s, 0, 0, s]), "phi-": np.array([s, 0, 0, -s]),
            "psi+": np.array([0, s, s, 0]), "psi-": np.array([0, s, -s, 0])}


def on_qubit(op: np.ndarray, index: int) -> np.ndarray:
    return np.kron(op, np.eye(2)) if index == 0 else np.kron(np.eye(2), op)


def stored_fidelity(f: float, t_s: float, t1_s: float, t2_s: float) -> float:
    """Fidelity of a Werner pair of fidelity f after both qubits wait t in memories with T1, T2.

    Each qubit: amplitude damping (Nielsen & Chuang eq. 8.108) with gamma = 1 - e^(-t/T1), then phase
    damping that brings the coherence to e^(-t/T2) in all (coherence after damping alone is sqrt(1-gamma)
    = e^(-t/2T1), so the phase-damping factor is lambda = e^(-t/T2 + t/2T1); Kraus sqrt((1+lambda)/2) I,
    sqrt((1-lambda)/2) Z). Evaluated on a 4x4 density matrix here, not by a closed form.
    """
    gamma = 1 - math.exp(-t_s / t1_s) if math.isfinite(t1_s) else 0.0
    lam = math.exp(-t_s / t2_s) / math.sqrt(1 - gamma) if math.isfinite(t2_s) else 1.0  # (T2 = inf needs T1 = inf)
    amp = [np.array([[1, 0], [0, math.sqrt(1 - gamma)]]), np.array([[0, math.sqrt(gamma)], [0, 0]])]
    phase = [math.sqrt((1 + lam) / 2) * np.eye(2), math.sqrt((1 - lam) / 2) * np.diag([1, -1])]
    rho = werner(f)
    for qubit in (0, 1):
        for kraus in (amp, phase):
            rho = sum(on_qubit(k, qubit) @ rho @ on_qubit(k, qubit).conj().T for k in kraus)
    phi = bell_basis()["phi+"]
    return float(np.real(phi @ rho @ phi))


def swapped_fidelity(*fidelities: float) -> float:
    """Swapping Werner pairs: the Werner parameters multiply (Duer et al. 1999). For two pairs this is
    F1 F2 + (1-F1)(1-F2)/3."""
    w = 1.0
    for f in fidelities:
        w *= (4 * f - 1) / 3
    return (1 + 3 * w) / 4


def recurrence(a1, a2) -> tuple[float, tuple[float, float, float, float]]:
    """One recurrence round on two Bell-diagonal pairs, weights (Phi+, Psi-, Psi+, Phi-) in DEJMPS order.

    Deutsch et al. 1996 (two different inputs, as in entanglement pumping): success N = (A1+B1)(A2+B2) +
    (C1+D1)(C2+D2); A' = (A1A2 + B1B2)/N, B' = (C1D2 + D1C2)/N, C' = (C1C2 + D1D2)/N, D' = (A1B2 + B1A2)/N.
    (The bilateral Rx rotations first exchange Phi- and Psi-; BBPSSW, whose inputs are twirled to Werner
    form, has B = C = D and the same numbers: Bennett et al. 1996, F' = (F1F2 + g1g2)/(F1F2 + F1g2 + g1F2 +
    5g1g2), g = (1-F)/3.)
    """
    A1, B1, C1, D1 = a1
    A2, B2, C2, D2 = a2
    n = (A1 + B1) * (A2 + B2) + (C1 + D1) * (C2 + D2)
    return n, ((A1 * A2 + B1 * B2) / n, (C1 * D2 + D1 * C2) / n, (C1 * C2 + D1 * D2) / n, (A1 * B2 + B1 * A2) / n)


def werner_weights(f: float) -> tuple[float, float, float, float]:
    g = (1 - f) / 3
    return (f, g, g, g)


# ------------------------------------------------------------------------------------------ running dqsim
def chain_run(links, node, *, pairs, seed=7, swapping="swap_asap", rounds=0, protocol="bbpssw", cutoff_ps=None):
    chain = ChainSpec(links=links, node=node, swapping=swapping, purification_rounds=rounds,
                      purification=protocol, cutoff_ps=cutoff_ps, num_pairs=pairs)
    return run_chain(chain, comm=comm_mod.SingleComm(), backend=NUMPY, seed=seed)


def job_tables(*overrides: str):
    job = apply_overrides(load_job("jobs/repeater_chain.toml"), list(overrides))
    out = repeater_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=NUMPY)
    return out.tables


# ================================================================================================ checks
def check_link():
    """One link: p per attempt from the loss budget, the geometric attempts, and the waiting time's constant.

    Waiting time of a one-link round (my reading of the protocol: a reservation handshake, request and
    answer, each one link delay d plus the receiver's processing delay c; attempts every T = max(d, source
    period) for a midpoint station at L/2 whose herald takes the round trip to the station, d; B acts on
    the herald c later): W = 3(d + c) + (N - 1) T, N geometric(p). The next round starts when A hears of
    the delivery: d + c after it.
    """
    print("link: heralding probability, attempts to the first pair (geometric), waiting time", flush=True)
    n = 1500 if QUICK else 5000
    cases = (("double_click", 30.0, 0.22, 1.5, 0.85, 1.47, 5e3, 2000, None),
             ("single_click", 20.0, 0.2, 0.7, 0.9, 1.468, 1e6, 0, 0.1))
    for scheme, L, alpha, coupling, eta_det, ng, rate, c_ps, bright in cases:
        over = [f"chain.num_links=[1]", f"chain.total_distance_km=[{L}]", f"chain.num_pairs={n}",
                "chain.cutoff_s=1e6", f'chain.link.scheme="{scheme}"', f"chain.link.attenuation_db_per_km={alpha}",
                f"chain.link.coupling_loss_db={coupling}", f"chain.link.detector_efficiency={eta_det}",
                "chain.link.dark_count_rate_hz=0", f"chain.link.group_index={ng}", f"chain.link.source_rate_hz={rate}",
                "chain.link.source_fidelity=1.0", f"chain.node.classical_processing_delay_ps={c_ps}",
                "chain.node.t1_s=1e6", "chain.node.t2_s=1e6", "run.seed=11"]
        if bright is not None:
            over.append(f"chain.link.bright_state_alpha={bright}")
        tables = job_tables(*over)
        summary, pairs = tables["summary"][0], tables["pairs"]
        eta = arm_eta(L, alpha, coupling, eta_det)
        p = eta * eta / 2 if scheme == "double_click" else 1 - (1 - bright * eta) ** 2
        d = delay_ps(L, ng)
        period = max(d, PS_PER_S / rate)
        print(f" {scheme}: L = {L} km, {alpha} dB/km, coupling {coupling} dB, eta_det {eta_det}: arm eta {eta:.6g},"
              f" d = {d:.1f} ps, T = {period:.1f} ps, c = {c_ps} ps, {n} pairs", flush=True)
        line("p per attempt (summary column)", float(summary["link_success_probability"]), None, p,
             "(Barrett-Kok eta^2/2)" if scheme == "double_click" else "(1-(1-a eta)^2)")
        line("attempt period T, ps", float(summary["attempt_period_ps"]), 1.0, period, "(rounding to 1 ps)")
        attempts = pairs["link_attempts_total"].astype(float)
        mu, var, m4 = geometric_moments(p)
        m, se = mean_se(attempts)
        line("mean attempts to a pair (1/p)", m, se, mu)
        s2, se2 = var_se(attempts)
        line("variance of the attempts ((1-p)/p^2)", s2, se2, var)
        waits = pairs["waiting_time_ps"].astype(float)
        const = waits - (attempts - 1) * float(summary["attempt_period_ps"])
        line("W - (N-1)T, ps (mean; spread)", float(const.mean()), max(float(const.std()), 2.0),
             3 * (d + c_ps), f"(3(d+c); spread {const.std():.3g} ps)")
        m, se = mean_se(waits / PS_PER_S)
        line("mean waiting time, s", m, se, (3 * (d + c_ps) + (1 / p - 1) * period) / PS_PER_S)
        s2, se2 = var_se(waits / PS_PER_S)
        line("std of the waiting time, s", math.sqrt(s2), se2 / (2 * math.sqrt(s2)),
             period * math.sqrt(1 - p) / p / PS_PER_S, "(T sqrt(1-p)/p)")
        gaps = (pairs["round_start_ps"][1:] - pairs["delivery_time_ps"][:-1]).astype(float)
        line("next round start - delivery, ps", float(gaps.mean()), max(float(gaps.std()), 2.0), d + c_ps,
             "(d + c)")
        if scheme == "single_click":
            f = (1 - bright) / (1 - bright * eta / 2)
            fid = pairs["fidelity"].astype(float)
            line("heralded fidelity (single click, p_d = 0)", float(fid.mean()), None, f,
                 "((1-a)/(1-a eta/2); T1=T2=1e6 s: decay ~1e-10)" if np.ptp(fid) < 1e-9 else "(pairs differ!)")


def double_click_dark(eta: float, p_d: float):
    """Barrett-Kok with threshold detectors and dark counts p_d per detector and gate (derived here).

    Spins start in (|0> + |1>)/sqrt 2 each; a node emits in round 1 if its spin is up and in round 2 (after
    the flip) if it is down. Per round the herald needs exactly one of the two detectors to click; with
    q = 1 - p_d that happens with P0 = 2 p_d q (no photon), P1 = q (eta + 2 p_d (1 - eta)) (one photon),
    P2 = q (1 - (1 - eta)^2 + 2 p_d (1 - eta)^2) (two photons, which bunch, Hong-Ou-Mandel). |01>, |10>
    give one photon per round, |00>, |11> two then none. p = (P1^2 + P0 P2)/2. Only when both clicks come
    from the photons ((eta q)^2) is which-path erased (Psi+-, corrected to Phi+); otherwise the |01>/|10>
    events are dephased ((Phi+ + Phi-)/2 after the correction) and the |00>/|11> events give (Psi+ + Psi-)/2.
    Returns p and the Bell weights (Phi+, Phi-, Psi+, Psi-).
    """
    q = 1 - p_d
    P0, P1, P2 = 2 * p_d * q, q * (eta + 2 * p_d * (1 - eta)), q * (1 - (1 - eta) ** 2 + 2 * p_d * (1 - eta) ** 2)
    norm = P1 * P1 + P0 * P2
    true = (eta * q) ** 2
    mix = P1 * P1 - true
    return norm / 2, ((true + mix / 2) / norm, mix / 2 / norm, P0 * P2 / 2 / norm, P0 * P2 / 2 / norm)


def check_dark():
    """Double click with strong dark counts: p and the heralded pair's Bell weights (one link, ideal memories)."""
    print("dark counts: double click, 60 km link, 2e5 Hz dark counts in 1 ns gates", flush=True)
    L, rate, gate_ps = 60.0, 2e5, 1000
    link = LinkSpec(distance_km=L, dark_count_rate_hz=rate, gate_width_ps=gate_ps)
    run = chain_run([link], NodeSpec(name="n"), pairs=10)
    p_d = 1 - math.exp(-rate * gate_ps / PS_PER_S)
    p, weights = double_click_dark(arm_eta(L, 0.2, 0.0, 0.9), p_d)
    line("p per attempt (LinkSpec)", link.success_probability, None, p, f"(p_d = {p_d:.4g}, Poisson)")
    for name, index in (("F (Phi+)", 0), ("Phi-", 1), ("Psi+", 2), ("Psi-", 3)):
        worst = max(run.pairs, key=lambda pr: abs(pr.bell_weights[index] - weights[index]))
        line(f"heralded pair {name}", worst.bell_weights[index], None, weights[index], "(worst of 10 pairs)")


def check_memory():
    """Memory decoherence of a stored pair: fidelity after t = delivery - emission (d + c on one link)."""
    print("memory: F after both halves wait t with T1, T2 (Kraus evaluation here) on one 40 km link", flush=True)
    L, ng = 40.0, 1.468
    for f0, t1, t2, c_ps in ((1.0, math.inf, 3e-4, 0), (0.9, 4e-4, 5e-4, 0), (0.95, 2e-4, 4e-4, 50_000),
                             (1.0, 1e-4, 2e-4, 0)):
        link = LinkSpec(distance_km=L, group_index=ng, dark_count_rate_hz=0.0, source_fidelity=f0)
        node = NodeSpec(name="n", t1_s=t1, t2_s=t2, classical_processing_delay_ps=c_ps)
        run = chain_run([link], node, pairs=20)
        t_ps = delay_ps(L, ng) + c_ps
        for pair in run.pairs[:1]:
            line(f"F0={f0} T1={t1:g} T2={t2:g} t={t_ps / 1e6:.1f} us", pair.fidelity, None,
                 stored_fidelity(f0, t_ps / PS_PER_S, t1, t2), "(N&C Kraus)")
        fids = np.array([p.fidelity for p in run.pairs])
        mem = np.array([p.memory_time_ps for p in run.pairs], dtype=float)
        print(f"    all 20 pairs: F spread {np.ptp(fids):.1e}; memory_time_ps/2 = {mem.mean() / 2:.1f} ps"
              f" (model d + c = {t_ps:.1f})", flush=True)
        RESULTS.append(("memory: pairs equal", np.ptp(fids) < 1e-12))


def noisy_swap_levels(f1, f2, p1, p2, pm):
    """Per-pair fidelities of a two-link pair with a noisy Bell measurement and noisy corrections.

    Depolarising convention as dqsim documents it (Pauli form): 1-qubit p -> the qubit is replaced by I/2
    with weight 4p/3, 2-qubit p -> by I/4 with weight 16p/15. The CNOT's error replaces both measured qubits
    by noise: the end pair becomes I/4 (Werner parameter x (1 - 16p2/15)). The H's error on the left (phase)
    qubit just before its Z measurement makes that outcome uncorrelated with the pair with weight 4p1/3, i.e.
    a wrong phase bit with probability 2p1/3; being a channel on the state it is averaged in each pair. A
    readout error (pm) is a classical flip of a reported bit: a pair whose bit flipped gets a wrong
    correction (X error for the parity bit, Z error for the phase bit); whether it flipped is a per-pair
    event, so it splits the pairs. Each Pauli correction at B (applied only when its bit is 1: probability
    1/2 each, Bell-diagonal inputs give uniform outcomes) depolarises B's qubit: Werner parameter x (1 - 4p1/3).
    F = (1 - D)/4 + D (1 - a)(1 - b) for depolarising weight D and independent X/Z flip probabilities a, b.

    Returns ``{(corrections, parity_flipped, phase_flipped): (fidelity, probability)}``.
    """
    w = (4 * f1 - 1) / 3 * (4 * f2 - 1) / 3 * (1 - 16 * p2 / 15)
    h = 2 * p1 / 3
    levels = {}
    for n, pn in ((0, 0.25), (1, 0.5), (2, 0.25)):
        D = w * (1 - 4 * p1 / 3) ** n
        for ex in (0, 1):
            for ez in (0, 1):
                a, b = ex, (1 - h if ez else h)
                prob = pn * (pm if ex else 1 - pm) * (pm if ez else 1 - pm)
                levels[(n, ex, ez)] = ((1 - D) / 4 + D * (1 - a) * (1 - b), prob)
    return levels


def check_swap():
    """Swapping Werner pairs (perfect memories): F' = F1F2 + (1-F1)(1-F2)/3, Werner output; noisy swaps."""
    print("swap: Werner pairs through perfect Bell measurements (per pair: exact), then noisy gates", flush=True)
    node = NodeSpec(name="n")
    for fs, swapping in (((0.97, 0.88), "swap_asap"), ((0.97, 0.88, 0.93), "swap_asap"),
                         ((0.99, 0.9, 0.95, 0.85), "nested"), ((0.99, 0.9, 0.95, 0.85), "swap_asap")):
        links = [LinkSpec(distance_km=10.0, dark_count_rate_hz=0.0, source_fidelity=f) for f in fs]
        run = chain_run(links, node, pairs=30, swapping=swapping)
        expect = swapped_fidelity(*fs)
        worst = max(run.pairs, key=lambda p: abs(p.fidelity - expect))
        line(f"{len(fs)} links {swapping} F={fs}", worst.fidelity, None, expect, "(worst of 30 pairs)")
        other = (1 - expect) / 3
        worst_w = max(max(abs(x - other) for x in p.bell_weights[1:]) for p in run.pairs)
        line("  its Bell weights Phi-, Psi+, Psi- (worst dev.)", other + worst_w, None, other, "((1-F')/3 each)")
    # noisy Bell measurement and corrections, perfect memories
    f0, p1, p2, pm = 0.95, 0.03, 0.04, 0.08
    n = 600 if QUICK else 2000
    node = NodeSpec(name="n", gate_1q_error_probability=p1, gate_2q_error_probability=p2,
                    measure_error_probability=pm)
    link = LinkSpec(distance_km=10.0, dark_count_rate_hz=0.0, source_fidelity=f0)
    run = chain_run([link, link], node, pairs=n, seed=3)
    levels = noisy_swap_levels(f0, f0, p1, p2, pm)
    distinct: dict[float, list] = {}  # levels that coincide (a wrong parity bit: F = (1-D)/4 whatever b) merged
    for key, (value, prob) in levels.items():
        near = next((v for v in distinct if abs(v - value) < 1e-12), value)
        distinct.setdefault(near, []).append((key, prob))
    values = np.array(sorted(distinct))
    fids = np.array([p.fidelity for p in run.pairs])
    which = np.argmin(np.abs(fids[:, None] - values[None, :]), axis=1)
    off = float(np.max(np.abs(fids - values[which])))
    print(f" noisy: F0 {f0}, p1 {p1}, p2 {p2}, pm {pm}, {n} pairs; {len(values)} distinct levels (corrections 0-2 x"
          f" parity/phase bit flipped), least gap {float(np.min(np.diff(values))):.2e}", flush=True)
    line("  every pair on one of the levels (max dev)", values[0] + off, None, values[0])
    for index, value in enumerate(values):
        share = sum(prob for _key, prob in distinct[value])
        label = "+".join("".join(map(str, key)) for key, _prob in distinct[value])
        frac = float(np.mean(which == index))
        line(f"  share at F={value:.5f} (n,x,z = {label})", frac, math.sqrt(share * (1 - share) / n), share)
    m, se = mean_se(fids)
    line("  mean F (over the levels)", m, se, sum(f * q for f, q in levels.values()),
         "(Duer et al. 1999 form: w1 w2 (1-16p2/15)...)")


def check_purify():
    """BBPSSW and DEJMPS on one link (perfect memories and gates, Werner pairs of F0 = 0.8)."""
    print("purify: one link, F0 = 0.8 Werner pairs, 1 and 2 pumping rounds", flush=True)
    f0 = 0.8
    n = 400 if QUICK else 1500
    link = LinkSpec(distance_km=5.0, dark_count_rate_hz=0.0, source_fidelity=f0)
    node = NodeSpec(name="n")
    w0 = werner_weights(f0)
    p1, out1 = recurrence(w0, w0)
    for protocol in ("bbpssw", "dejmps"):
        for rounds in (1, 2):
            run = chain_run([link], node, pairs=n, rounds=rounds, protocol=protocol, seed=5)
            fids = np.array([p.fidelity for p in run.pairs])
            fails = np.array([r.purify_failures for r in run.records.links], dtype=float)
            wins = np.array([r.purify_successes for r in run.records.links], dtype=float)
            tag = f"{protocol} {rounds} round(s)"
            if rounds == 1:
                line(f"{tag}: F' (worst pair)", float(fids[np.argmax(np.abs(fids - out1[0]))]), None, out1[0],
                     "((F^2+g^2)/N)")
                bw = np.array([p.bell_weights for p in run.pairs])  # (Phi+, Phi-, Psi+, Psi-)
                expect = (out1[0], out1[3], out1[2], out1[1])
                dev = float(np.max(np.abs(bw - np.array(expect)[None, :])))
                line(f"{tag}: Bell weights (worst dev.)", expect[1] + dev, None, expect[1],
                     "(Phi- 2Fg/N, Psi+- 2g^2/N)")
                m, se = mean_se(fails)
                line(f"{tag}: failures per pair (1/p - 1)", m, se, 1 / p1 - 1, f"(p = {p1:.6f})")
                continue
            if protocol == "bbpssw":  # round 2: kept pair twirled to Werner(F1'), spare Werner(F0)
                p2, out2 = recurrence(werner_weights(out1[0]), w0)
                m, se = mean_se(fids)
                line(f"{tag}: mean F'' (twirl: per pair 3 values)", m, se, out2[0])
            else:  # round 2: kept pair Bell diagonal (non Werner), spare Werner(F0); deterministic per pair
                p2, out2 = recurrence(out1, w0)
                line(f"{tag}: F'' (worst pair)", float(fids[np.argmax(np.abs(fids - out2[0]))]), None, out2[0])
            m, se = mean_se(fails)
            line(f"{tag}: failures per pair (1/(p1 p2) - 1)", m, se, 1 / (p1 * p2) - 1, f"(p2 = {p2:.6f})")
            m, se = mean_se(wins)
            line(f"{tag}: successes per pair (1/p2 + 1)", m, se, 1 / p2 + 1)


PAULI = (np.eye(2), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1.0, -1.0]))


def embed(op: np.ndarray, qubits: tuple[int, ...], num_qubits: int) -> np.ndarray:
    """``op`` on ``qubits`` (qubit 0 = highest bit; op's first qubit = its highest bit) of a register."""
    k = len(qubits)
    full = np.zeros((2 ** num_qubits, 2 ** num_qubits), dtype=complex)
    for col in range(2 ** num_qubits):
        bits = [(col >> (num_qubits - 1 - q)) & 1 for q in range(num_qubits)]
        sub = sum(bits[q] << (k - 1 - i) for i, q in enumerate(qubits))
        for out in range(2 ** k):
            amp = op[out, sub]
            if amp == 0:
                continue
            new = list(bits)
            for i, q in enumerate(qubits):
                new[q] = (out >> (k - 1 - i)) & 1
            full[sum(b << (num_qubits - 1 - q) for q, b in enumerate(new)), col] += amp
    return full


def depolarise(rho: np.ndarray, qubits: tuple[int, ...], p: float, num_qubits: int) -> np.ndarray:
    """Pauli-form depolarising channel: (1 - p) rho + p/(4^k - 1) sum of the non-identity Paulis P rho P."""
    paulis = [PAULI[i] for i in range(4)] if len(qubits) == 1 else \
        [np.kron(PAULI[i], PAULI[j]) for i in range(4) for j in range(4)]
    out = (1 - p) * rho
    for P in paulis[1:]:
        full = embed(P, qubits, num_qubits)
        out = out + p / (len(paulis) - 1) * full @ rho @ full.conj().T
    return out


def dejmps_noisy_levels(f0: float, p1: float, p2: float, pm: float):
    """One noisy DEJMPS round on two Werner pairs: kept-pair fidelity and acceptance per true outcome pair.

    Register (A_kept, A_spare, B_kept, B_spare). A applies Rx(pi/2) to both its qubits, B Rx(-pi/2)
    (Deutsch et al. 1996), each followed by a 1-qubit depolarising p1; then CNOT(kept -> spare) at each end
    followed by a 2-qubit depolarising p2 on the end's two qubits; both spares are measured in Z; each
    reported bit flips with pm, and the round is kept when the reported bits agree. Returns a list of
    ``(fidelity of the kept pair given the true outcomes, probability of that outcome and of a kept round)``.
    """
    n = 4
    rho = np.kron(werner(f0), werner(f0))  # (A_kept, B_kept, A_spare, B_spare)
    rho = rho.reshape([2] * 8).transpose(0, 2, 1, 3, 4, 6, 5, 7).reshape(16, 16)  # -> (A_kept, A_spare, B_kept, B_spare)
    def rx(theta):
        return np.array([[math.cos(theta / 2), -1j * math.sin(theta / 2)],
                         [-1j * math.sin(theta / 2), math.cos(theta / 2)]])
    cnot = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=complex)
    for kept, spare, theta in ((0, 1, math.pi / 2), (2, 3, -math.pi / 2)):
        for q in (kept, spare):
            u = embed(rx(theta), (q,), n)
            rho = depolarise(u @ rho @ u.conj().T, (q,), p1, n)
        u = embed(cnot, (kept, spare), n)
        rho = depolarise(u @ rho @ u.conj().T, (kept, spare), p2, n)
    phi = bell_basis()["phi+"]
    levels = []
    for ma in (0, 1):
        for mb in (0, 1):
            proj = embed(np.diag([1.0 - ma, ma]), (1,), n) @ embed(np.diag([1.0 - mb, mb]), (3,), n)
            post = proj @ rho @ proj
            prob = float(np.real(np.trace(post)))
            t = post.reshape([2] * 8)  # rows (A_kept, A_spare, B_kept, B_spare), then the columns
            kept = np.einsum("aibjcidj->abcd", t).reshape(4, 4) / prob
            accept = (1 - pm) ** 2 + pm ** 2 if ma == mb else 2 * pm * (1 - pm)
            levels.append((float(np.real(phi @ kept @ phi)), prob * accept))
    return levels


def check_purify_noisy():
    """One DEJMPS round with gate and readout errors: every kept pair against a 4-qubit evaluation here."""
    print("purify (noisy): DEJMPS, F0 = 0.85, p1 = 0.02, p2 = 0.05, pm = 0.05; 4-qubit evaluation here", flush=True)
    f0, p1, p2, pm = 0.85, 0.02, 0.05, 0.05
    n = 400 if QUICK else 1500
    link = LinkSpec(distance_km=5.0, dark_count_rate_hz=0.0, source_fidelity=f0)
    node = NodeSpec(name="n", gate_1q_error_probability=p1, gate_2q_error_probability=p2,
                    measure_error_probability=pm)
    run = chain_run([link], node, pairs=n, rounds=1, protocol="dejmps", seed=19)
    levels = dejmps_noisy_levels(f0, p1, p2, pm)
    p_keep = sum(q for _f, q in levels)
    values = sorted({round(f, 12) for f, _q in levels})
    fids = np.array([pr.fidelity for pr in run.pairs])
    off = float(max(min(abs(f - v) for v in values) for f in fids))
    line("every kept pair on a level (worst dev.)", values[-1] + off, None, values[-1], f"(levels {values})")
    m, se = mean_se(fids)
    line("mean F of kept pairs", m, se, sum(f * q for f, q in levels) / p_keep)
    fails = np.array([r.purify_failures for r in run.records.links], dtype=float)
    m, se = mean_se(fails)
    line("failures per pair (1/p - 1)", m, se, 1 / p_keep - 1, f"(p = {p_keep:.6f})")


def h2(x: float) -> float:
    return 0.0 if x <= 0 or x >= 1 else -x * math.log2(x) - (1 - x) * math.log2(1 - x)


def check_summary():
    """The summary columns of jobs/repeater_chain.toml (small) from its own pairs table and the formulas."""
    print("summary: rate, fidelity, hashing yield, key fraction, direct and PLOB columns of jobs/repeater_chain.toml",
          flush=True)
    tables = job_tables("chain.num_links=[1, 2]", "chain.total_distance_km=[100.0]", "chain.num_pairs=30")
    for row in tables["summary"]:
        pairs = tables["pairs"][tables["pairs"]["config"] == row["config"]]
        n = len(pairs)
        L = float(row["total_distance_km"])
        print(f" {int(row['num_links'])} link(s), {L} km, {n} pairs", flush=True)
        line("  rate_hz = pairs / last delivery", float(row["rate_hz"]), None,
             n / (float(pairs["delivery_time_ps"].max()) / PS_PER_S))
        fid = pairs["fidelity"].astype(float)
        line("  fidelity_mean", float(row["fidelity_mean"]), None, float(fid.mean()))
        line("  fidelity_stderr (ddof 1)", float(row["fidelity_stderr"]), None, float(fid.std(ddof=1) / math.sqrt(n)))
        line("  mean_waiting_time_s", float(row["mean_waiting_time_s"]), None,
             float(pairs["waiting_time_ps"].mean()) / PS_PER_S)
        weights = np.array([fid.mean(), pairs["bell_phi_minus"].mean(), pairs["bell_psi_plus"].mean(),
                            pairs["bell_psi_minus"].mean()])
        weights = weights / weights.sum()
        entropy = -sum(w * math.log2(w) for w in weights if w > 0)
        yield_ = max(0.0, 1 - entropy)
        line("  hashing_yield = 1 - H(Bell weights) (BDSW 1996)", float(row["hashing_yield"]), None, yield_)
        line("  ebit_rate_hz", float(row["ebit_rate_hz"]), None, yield_ * float(row["rate_hz"]))
        e_z, e_x = weights[2] + weights[3], weights[1] + weights[3]
        key = max(0.0, 1 - h2(e_z) - h2(e_x))
        line("  key_fraction = 1 - h(e_Z) - h(e_X) (Shor-Preskill)", float(row["key_fraction"]), None, key)
        eta_f = 10 ** (-0.2 * L / 10)
        line("  fibre_transmittance 10^(-aL/10)", float(row["fibre_transmittance"]), None, eta_f)
        line("  direct_rate_hz = eta_f 0.9 x 1 MHz", float(row["direct_rate_hz"]), None, eta_f * 0.9 * 1e6)
        line("  plob_rate_hz = -log2(1 - eta_f) x 1 MHz (PLOB 2017)", float(row["plob_rate_hz"]), None,
             -math.log2(1 - eta_f) * 1e6)
        line("  plob_with_detectors_rate_hz", float(row["plob_with_detectors_rate_hz"]), None,
             -math.log2(1 - 0.9 * eta_f) * 1e6)


def two_link_model(p, period, d, c):
    """Two links, swap-asap, synchronous start: N1, N2 geometric(p), M = max.

    Link j's pair is emitted at E_j = s + 2(d + c) + (N_j - 1)T (handshake first), heralded at E_j + d;
    the repeater swaps c after the later herald; B gets the bits d + c later: W = 4(d+c) + (M-1)T.
    Memories: link j's two from E_j to the swap (repeater) and to the delivery (ends):
    sum = 2|N1 - N2|T + 6(d + c).
    """
    q = 1 - p
    mean_max = (3 - 2 * p) / (p * (2 - p))
    return mean_max, 4 * (d + c) + (mean_max - 1) * period


def check_chain():
    """Two links, swap-asap, no cut-off: waiting time (max of two geometrics), memory time, F with dephasing."""
    print("chain: two links swap-asap, no cut-off, T1 = inf, T2 = 20 ms (dephasing only)", flush=True)
    L, ng, c_ps, t2, f0 = 25.0, 1.468, 1000, 0.02, 0.98
    n = 1000 if QUICK else 3000
    link = LinkSpec(distance_km=L, group_index=ng, dark_count_rate_hz=0.0, source_fidelity=f0,
                    attenuation_db_per_km=0.2, detector_efficiency=0.9)
    node = NodeSpec(name="n", t2_s=t2, classical_processing_delay_ps=c_ps)
    run = chain_run([link, link], node, pairs=n, seed=9)
    eta = arm_eta(L, 0.2, 0.0, 0.9)
    p = eta * eta / 2
    d = delay_ps(L, ng)
    period = d
    mean_max, mean_w = two_link_model(p, period, d, c_ps)
    print(f" L = {L} km per link, p = {p:.6f}, d = T = {d:.1f} ps, c = {c_ps} ps, {n} pairs", flush=True)
    mx = np.array([pr.link_attempts_max for pr in run.pairs], dtype=float)
    tot = np.array([pr.link_attempts_total for pr in run.pairs], dtype=float)
    m, se = mean_se(mx)
    line("E[max(N1,N2)] (Shchukin et al. 2019)", m, se, mean_max, "((3-2p)/(p(2-p)))")
    k = np.arange(1, int(80 / p))
    cdf = 1 - (1 - p) ** k
    pmf_max = np.diff(np.concatenate([[0.0], cdf ** 2]))
    var_max = float(((k - mean_max) ** 2) @ pmf_max)
    s2, se2 = var_se(mx)
    line("Var[max(N1,N2)]", s2, se2, var_max)
    w = np.array([pr.delivery_ps - pr.round_start_ps for pr in run.pairs], dtype=float)
    const = w - (mx - 1) * period
    line("W - (M-1)T, ps (mean; spread)", float(const.mean()), max(float(const.std()), 3.0), 4 * (d + c_ps),
         f"(4(d+c); spread {const.std():.3g} ps)")
    m, se = mean_se(w / PS_PER_S)
    line("mean waiting time, s", m, se, mean_w / PS_PER_S)
    delta = 2 * mx - tot  # |N1 - N2|
    d_int = float(round(d))  # (the engine's times are integer ps: d and T rounded once)
    mem_model = 2 * delta * d_int + 6 * (d_int + c_ps)
    mem = np.array([pr.memory_time_ps for pr in run.pairs], dtype=float)
    dev = float(np.max(np.abs(mem - mem_model)))
    line("memory time sum, ps (worst dev. from model)", float(mem_model[0]) + dev, None, float(mem_model[0]),
         "(2|N1-N2|T + 6(d+c), d and T in whole ps)")
    w0 = (4 * f0 - 1) / 3
    fids = np.array([pr.fidelity for pr in run.pairs])
    model_f = (1 + w0 * w0 + 2 * w0 * w0 * np.exp(-mem_model / PS_PER_S / t2)) / 4
    worst = int(np.argmax(np.abs(fids - model_f)))
    line("per-pair F = (1 + w^2 + 2w^2 e^(-t/T2))/4 (worst)", float(fids[worst]), None, float(model_f[worst]),
         "(t from the model)")
    x = math.exp(-2 * period / PS_PER_S / t2)
    q = 1 - p
    ex = p * (1 + q * x) / ((2 - p) * (1 - q * x))  # E[x^|N1-N2|]
    mean_f = (1 + w0 * w0 + 2 * w0 * w0 * math.exp(-6 * (d + c_ps) / PS_PER_S / t2) * ex) / 4
    m, se = mean_se(fids)
    line("mean F (Brand et al. / Kamin et al. closed form)", m, se, mean_f, "(E[x^|N1-N2|] = p(1+qx)/((2-p)(1-qx)))")


def damp_qubit(rho: np.ndarray, qubit: int, num_qubits: int, t_s: float, t1_s: float, t2_s: float) -> np.ndarray:
    """The T1/T2 memory channel of :func:`stored_fidelity` on one qubit (qubit 0 = highest bit) of a register."""
    gamma = 1 - math.exp(-t_s / t1_s) if math.isfinite(t1_s) else 0.0
    lam = math.exp(-t_s / t2_s) / math.sqrt(1 - gamma) if math.isfinite(t2_s) else 1.0
    for kraus in ([np.array([[1, 0], [0, math.sqrt(1 - gamma)]]), np.array([[0, math.sqrt(gamma)], [0, 0]])],
                  [math.sqrt((1 + lam) / 2) * np.eye(2), math.sqrt((1 - lam) / 2) * np.diag([1.0, -1.0])]):
        ops = [np.kron(np.kron(np.eye(2 ** qubit), k), np.eye(2 ** (num_qubits - qubit - 1))) for k in kraus]
        rho = sum(o @ rho @ o.conj().T for o in ops)
    return rho


def swapped_levels(f0: float, times_s: tuple[float, float, float, float], t1_s: float, t2_s: float) -> list[float]:
    """Fidelity of the end pair for each of the four Bell-measurement outcomes (those with probability > 1e-12).

    Qubits (A, R_left, R_right, B): Werner pairs (A, R_left) and (R_right, B); each memory decays for its
    own storage time (``times_s`` in that order; the ends' until the delivery, the repeater's until its
    swap); R_left, R_right are projected on a Bell state B_k (Phi+, Phi-, Psi+, Psi-), which leaves (A, B)
    in B_k for ideal pairs (Zukowski et al. 1993), and B's Pauli correction (I, Z, X, XZ) maps it back.
    """
    rho = np.kron(werner(f0), werner(f0))
    for qubit, t in enumerate(times_s):
        rho = damp_qubit(rho, qubit, 4, t, t1_s, t2_s)
    bell = bell_basis()
    x, z = np.array([[0, 1], [1, 0]]), np.diag([1.0, -1.0])
    out = []
    for name, fix in (("phi+", np.eye(2)), ("phi-", z), ("psi+", x), ("psi-", x @ z)):
        proj = np.kron(np.kron(np.eye(2), np.outer(bell[name], bell[name])), np.eye(2))
        post = proj @ rho @ proj
        prob = float(np.real(np.trace(post)))
        if prob < 1e-12:
            continue
        t = post.reshape([2] * 8)
        ab = np.einsum("aijbcijd->abcd", t).reshape(4, 4) / prob
        corr = np.kron(np.eye(2), fix)
        ab = corr @ ab @ corr.conj().T
        phi = bell["phi+"]
        out.append(float(np.real(phi @ ab @ phi)))
    return out


def check_chain_damping():
    """Two links with T1 and T2: every pair's fidelity against a 4-qubit density matrix evaluated here."""
    print("chain: two links swap-asap, T1 = 2 ms, T2 = 1.5 ms: per-pair F against a 4-qubit evaluation", flush=True)
    L, ng, c_ps, t1, t2, f0 = 10.0, 1.468, 500, 2e-3, 1.5e-3, 0.97
    n = 150 if QUICK else 400
    link = LinkSpec(distance_km=L, group_index=ng, dark_count_rate_hz=0.0, source_fidelity=f0)
    node = NodeSpec(name="n", t1_s=t1, t2_s=t2, classical_processing_delay_ps=c_ps)
    run = chain_run([link, link], node, pairs=n, seed=17)
    d = float(round(delay_ps(L, ng)))  # (times are integer ps)
    period, dc = d, d + c_ps
    worst, cache = 0.0, {}
    for pr in run.pairs:
        delta = 2 * pr.link_attempts_max - pr.link_attempts_total
        if delta not in cache:
            early_end, early_rep = (delta * period + 2 * dc) / PS_PER_S, (delta * period + dc) / PS_PER_S
            late_end, late_rep = 2 * dc / PS_PER_S, dc / PS_PER_S
            cache[delta] = (swapped_levels(f0, (early_end, early_rep, late_rep, late_end), t1, t2)
                            + swapped_levels(f0, (late_end, late_rep, early_rep, early_end), t1, t2))
        worst = max(worst, min(abs(pr.fidelity - level) for level in cache[delta]))
    line(f"per-pair F on a level of its |N1-N2| (worst, {n} pairs)", f0 + worst, None, f0,
         "(AD + dephasing, Bell projection, correction)")


def check_cutoff():
    """Two links with a memory cut-off tau: restarts.

    First chain attempt of a round: both links start together, the pair survives iff
    |N1 - N2| T + d + c < tau, i.e. |N1 - N2| <= m: P1 = 1 - 2 q^(m+1)/(2-p) (Kamin et al. 2023, Coopmans et
    al.). After a cut-off at the repeater (time a), the repeater's own link restarts at a, link 0 when node
    0 hears of it, at a + d + c: link 0's emissions lag by d + c; the attempt survives iff
    |(N0 - N1) T + d + c| + d + c < tau: P2 summed here over N0 - N1. Restarts per pair: P(r = 0) = P1,
    E[r] = (1 - P1)/P2.
    """
    print("cutoff: two links, memory cut-off (restarts of the whole chain attempt)", flush=True)
    L, ng, c_ps = 25.0, 1.468, 0
    n = 800 if QUICK else 3000
    link = LinkSpec(distance_km=L, group_index=ng, dark_count_rate_hz=0.0)
    node = NodeSpec(name="n", classical_processing_delay_ps=c_ps)
    d = delay_ps(L, ng)
    eta = arm_eta(L, 0.2, 0.0, 0.9)
    p, q = eta * eta / 2, 1 - eta * eta / 2
    for m in (1, 3, 6):
        tau = d + c_ps + (m + 0.5) * d
        run = chain_run([link, link], node, pairs=n, seed=13, cutoff_ps=int(round(tau)))
        restarts = np.array([pr.restarts for pr in run.pairs], dtype=float)
        p_first = 1 - 2 * q ** (m + 1) / (2 - p)
        lag = d + c_ps
        p_later = 0.0
        for delta in range(-400, 401):
            if abs(delta * d + lag) + d + c_ps < tau:
                p_later += (p / (2 - p)) * q ** abs(delta)
        print(f" m = {m}: tau = {tau / 1e6:.3f} us, P1 = {p_first:.5f}, P2 (lagged restart) = {p_later:.5f}", flush=True)
        frac0 = float(np.mean(restarts == 0))
        line(f"  m={m}: P(no restart)", frac0, math.sqrt(p_first * (1 - p_first) / n), p_first)
        mm, se = mean_se(restarts)
        line(f"  m={m}: mean restarts per pair", mm, se, (1 - p_first) / p_later)


def check_cutoff_pumped():
    """One link, one BBPSSW round, memory cut-off tau applied by B (no repeater).

    Timing (as in check_link's model): the kept pair is emitted at E_k, heralded at E_k + d and acted on c
    later; the spare pair's handshake takes 2(d + c), so it is emitted at E_s = E_k + 3(d + c) + (N_s - 1)T.
    After its herald (E_s + d) and the ends' gates, B holds the pumped pair once A's bit reaches it, d + c
    after A acted on its herald: B is told at E_k + 5(d + c) + (N_s - 1)T. The kept pair is discarded (the
    attempt restarted) when its age, counted from E_k, reaches tau (at that moment, since 2026-12-07): it is
    pumped in time iff (N_s - 1)T + 5(d + c) < tau, i.e. N_s <= M, probability P = 1 - q^M; then the round
    succeeds with s = F^2 + 2Fg + 5g^2 (g = (1-F)/3, Bennett et al. 1996) or fails and a new kept pair starts
    within the attempt (its age from its own emission). A kept pair's turn: pass P s, new turn P(1 - s),
    cut-off 1 - P, so an attempt passes with P1 = P s / (1 - P(1 - s)) (renewal) and restarts per delivered
    pair are geometric: P(r = 0) = P1, E[r] = (1 - P1)/P1. (Before 2026-12-07 the cut-off was applied once
    the pumped pair was complete, forgiving a late kept pair whose round then failed: P1 was 1 - q^M.)
    Every delivered pair is younger than tau at B.
    """
    print("cutoff (pumped, one link): B discards a purified pair older than the cut-off", flush=True)
    L, ng, c_ps, f0 = 10.0, 1.468, 2000, 0.9
    n = 600 if QUICK else 2000
    link = LinkSpec(distance_km=L, group_index=ng, dark_count_rate_hz=0.0, source_fidelity=f0)
    node = NodeSpec(name="n", classical_processing_delay_ps=c_ps)
    d = delay_ps(L, ng)
    eta = arm_eta(L, 0.2, 0.0, 0.9)
    p = eta * eta / 2
    q = 1 - p
    for m in (1, 3):
        tau = 5 * (d + c_ps) + (m - 0.5) * d
        run = chain_run([link], node, pairs=n, rounds=1, protocol="bbpssw", seed=23, cutoff_ps=int(round(tau)))
        restarts = np.array([pr.restarts for pr in run.pairs], dtype=float)
        g = (1 - f0) / 3
        s_round = f0 * f0 + 2 * f0 * g + 5 * g * g
        ok = (1 - q ** m) * s_round / (1 - (1 - q ** m) * (1 - s_round))
        print(f" M = {m}: tau = {tau / 1e6:.3f} us, p = {p:.5f}, s = {s_round:.5f}, P(survive) = {ok:.5f}, {n} pairs",
              flush=True)
        frac0 = float(np.mean(restarts == 0))
        line(f"  M={m}: P(no restart)", frac0, math.sqrt(ok * (1 - ok) / n), ok)
        mm, se = mean_se(restarts)
        line(f"  M={m}: mean restarts per pair", mm, se, (1 - ok) / ok)
        ages = []
        for pr in run.pairs:
            rec = [r for r in run.records.links if r.pair_index == pr.pair_index and r.attempt == pr.restarts]
            ages.append(pr.delivery_ps - rec[0].created_ps)
        line(f"  M={m}: oldest delivered pair at B / tau", max(ages) / tau, None, max(ages) / tau,
             "(must be < 1)" if max(ages) < tau else "(OLDER THAN THE CUT-OFF)")
        RESULTS[-1] = (RESULTS[-1][0], max(ages) < tau)


def check_cutoff_deadline():
    """One link, one BBPSSW round of perfect pairs (every purification succeeds), cut-off tau applied by B at its
    deadline: the kept pair is discarded tau after its emission while the spare is still being made.

    Timing as in check_cutoff_pumped: an attempt starting at s (A's request) emits the kept pair at
    E_k = s + 2(d + c) + (N_k - 1)T; pumped in time iff (N_s - 1)T + 5(d + c) < tau, i.e. N_s <= M for
    tau = 5(d + c) + (M - 1/2)T, probability P = 1 - q^M (q = 1 - p); then B holds it at
    E_k + 5(d + c) + (N_s - 1)T. Otherwise B discards it at E_k + tau exactly (Rozpedek et al., PRA 98, 052330
    (2018): a memory older than the cut-off is freed at that moment) and the abort reaches A d + c later, when A
    starts again. Restarts per pair r are geometric (E[r] = q^M/P), and with N_k, N_s independent geometric:
      E[W] = E[r] (3(d + c) + (1/p - 1)T + tau) + 7(d + c) + (1/p - 1)T + (E[N_s | N_s <= M] - 1)T,
      E[N_s | N_s <= M] = sum_{k<=M} k p q^(k-1) / P.
    Applied once the pumped pair is complete instead (dqsim before 2026-12-07) an abandoned attempt would cost
    (1/p - 1/2)T more on average (memoryless N_s: it ends at E_k + 5(d + c) + (N_s - 1)T, E[N_s | N_s > M] =
    M + 1/p). Exact check: every cut-off at B comes tau after a kept emission, i.e. t - s - 2(d + c) - tau is a
    whole number of attempt periods.
    """
    print("cutoff at the deadline (pumped, one link, perfect pairs): restart times and mean waiting time", flush=True)
    L, ng, c_ps = 10.0, 1.468, 2000
    n = 500 if QUICK else 2000
    link = LinkSpec(distance_km=L, group_index=ng, dark_count_rate_hz=0.0, source_fidelity=1.0)
    node = NodeSpec(name="n", classical_processing_delay_ps=c_ps)
    d = float(round(delay_ps(L, ng)))  # (the engine's times are integer ps: d and T rounded once)
    period = d
    eta = arm_eta(L, 0.2, 0.0, 0.9)
    p = eta * eta / 2
    q = 1 - p
    for m in (1, 3):
        tau = int(round(5 * (d + c_ps) + (m - 0.5) * period))
        chain = ChainSpec(links=[link], node=node, purification_rounds=1, cutoff_ps=tau, num_pairs=n)
        run = run_chain(chain, comm=comm_mod.SingleComm(), backend=NUMPY, seed=29, every_attempt=True)
        ok = 1 - q ** m
        mean_r = q ** m / ok
        mean_ns = sum(k * p * q ** (k - 1) for k in range(1, m + 1)) / ok
        mean_w = mean_r * (3 * (d + c_ps) + (1 / p - 1) * period + tau) + 7 * (d + c_ps) + (1 / p - 1) * period \
            + (mean_ns - 1) * period
        print(f" M = {m}: tau = {tau / 1e6:.3f} us, p = {p:.5f}, P(pumped in time) = {ok:.5f}, {n} pairs", flush=True)
        restarts = np.array([pr.restarts for pr in run.pairs], dtype=float)
        mm, se = mean_se(restarts)
        line(f"  M={m}: mean restarts per pair", mm, se, mean_r, "(q^M / (1 - q^M))")
        w = np.array([pr.delivery_ps - pr.round_start_ps for pr in run.pairs], dtype=float)
        mw, sew = mean_se(w / PS_PER_S)
        line(f"  M={m}: mean waiting time, s", mw, sew, mean_w / PS_PER_S,
             f"(at completion instead: {(mean_w + mean_r * (1 / p - 0.5) * period) / PS_PER_S:.6g})")
        starts = {pr.pair_index: pr.round_start_ps for pr in run.pairs}
        worst = 0.0
        for pair_index, _attempt, _node, t in run.records.restarts:  # (in time order within a round)
            off = t - starts[pair_index] - 2 * (d + c_ps) - tau
            worst = max(worst, abs(off - period * round(off / period)) if off >= 0 else abs(off))
            starts[pair_index] = t + d + c_ps  # A starts the next attempt when the abort reaches it
        line(f"  M={m}: cut-offs tau after a kept emission (worst offset, ps)", worst, None, 0.0,
             f"({len(run.records.restarts)} cut-offs)")


def dephase_bell(weights, x: float) -> tuple[float, float, float, float]:
    """Bell weights (Phi+, Psi-, Psi+, Phi-) after phase damping of the pair's qubits with total coherence factor
    x = exp(-(t_a + t_b)/T2) (Nielsen & Chuang 8.3.6: a Z error on either qubit maps Phi+ <-> Phi-, Psi+ <-> Psi-)."""
    a, b, c, d = weights
    keep, flip = (1 + x) / 2, (1 - x) / 2
    return (keep * a + flip * d, keep * b + flip * c, keep * c + flip * b, keep * d + flip * a)


def check_pump_decoherence():
    """One link, one DEJMPS round, memories that dephase (T1 = inf, T2), no cut-off: every pair's fidelity.

    Timing as in check_cutoff_pumped (c the processing delay): the kept pair is emitted at E_k, the spare at
    E_s; the station's herald reaches both ends d later, and each applies its purification gates and measures
    when it acts on it, t = E_s + d + c; the bits cross d + c later, when B holds the pumped pair (its delivery,
    the fidelity read then) and A's record says ready: E_s + 2(d + c). Before the gates the kept pair has
    dephased for 2(t - E_k) (both memories), the spare for 2(d + c), each mixing Phi+ with Phi- and Psi- with
    Psi+ (dephase_bell); the DEJMPS recurrence (recurrence) gives the kept pair, which dephases again for
    2(d + c) until the delivery. E_k and E_s come from the delivering attempt's link record (created_ps;
    ready_ps - 2(d + c); after failed rounds, those of the last kept pair). Exact per pair; the mean is printed
    beside pumping without storage (what ignoring the decoherence during pumping would give).
    """
    print("pump decoherence: one link, DEJMPS, T2 = 1 ms memories, every pair against the recurrence", flush=True)
    L, ng, c_ps, f0, t2 = 10.0, 1.468, 2000, 0.9, 1e-3
    n = 150 if QUICK else 500
    link = LinkSpec(distance_km=L, group_index=ng, dark_count_rate_hz=0.0, source_fidelity=f0)
    node = NodeSpec(name="n", t2_s=t2, classical_processing_delay_ps=c_ps)
    d = float(round(delay_ps(L, ng)))
    run = chain_run([link], node, pairs=n, rounds=1, protocol="dejmps", seed=31)
    records = {(r.pair_index, r.attempt): r for r in run.records.links}
    w0 = werner_weights(f0)
    model, fids = [], []
    for pr in run.pairs:
        rec = records[(pr.pair_index, pr.restarts)]
        e_k, e_s = rec.created_ps, rec.ready_ps - 2 * (d + c_ps)
        t_a = t_b = e_s + d + c_ps  # (the two ends' gate times, written apart as the memories are)
        kept = dephase_bell(w0, math.exp(-((t_a - e_k) + (t_b - e_k)) / PS_PER_S / t2))
        spare = dephase_bell(w0, math.exp(-((t_a - e_s) + (t_b - e_s)) / PS_PER_S / t2))
        _n, out = recurrence(kept, spare)
        out = dephase_bell(out, math.exp(-((pr.delivery_ps - t_a) + (pr.delivery_ps - t_b)) / PS_PER_S / t2))
        model.append(out[0])
        fids.append(pr.fidelity)
    model, fids = np.array(model), np.array(fids)
    worst = int(np.argmax(np.abs(fids - model)))
    line("per-pair F (dephased inputs, DEJMPS, dephased output) (worst)", float(fids[worst]), None,
         float(model[worst]), f"({n} pairs)")
    m, se = mean_se(fids)
    _n, still = recurrence(w0, w0)
    print(f"  (mean F {m:.6f} ± {se:.2g}; without the storage during pumping it would be {still[0]:.6f})", flush=True)


def check_least_age():
    """The job's least swap age (its cut-off refusal and pass estimate) against lossless runs.

    On a lossless direct link (every attempt succeeds, every purification of perfect pairs too) the pair's age
    when a repeater swaps it (one link: when end B holds it) is fixed. My model (check_cutoff_pumped's, with
    the direct scheme's herald h = 2d): h + c without pumping; each pumping round adds a handshake of two
    messages (d + c each) after acting on the last herald (the first round) or after the bit exchange (later
    rounds), then the spare's herald and the bit exchange: R = 1 gives 2h + 3d + 5c.
    """
    print("least age: a lossless chain's swap/delivery age against the job's least swap age (c = 3 us)", flush=True)
    from dqsim.jobs import load_job_text
    c_ps, L = 3_000_000, 10.0
    d = float(round(delay_ps(L, 1.468)))
    for links, rounds in ((1, 0), (1, 1), (1, 2), (2, 1)):
        text = ('[run]\nname = "c"\nscenario = "repeater"\n[chain]\n'
                f"num_links = {links}\ntotal_distance_km = {L * links}\nnum_pairs = 3\npurification_rounds = {rounds}\n"
                '[chain.link]\nscheme = "direct"\nattenuation_db_per_km = 0.0\ndetector_efficiency = 1.0\n'
                "dark_count_rate_hz = 0.0\nsource_fidelity = 1.0\ngroup_index = 1.468\n[chain.node]\n"
                f"classical_processing_delay_ps = {c_ps}\n")
        job = load_job_text(text)
        link = job.chain.link_spec(links, L * links)
        run = chain_run([link] * links, job.chain.node_spec(), pairs=3, rounds=rounds)
        created = {(r.pair_index, r.attempt): r.created_ps for r in run.records.links}
        if links == 1:
            ages = [pr.delivery_ps - created[(pr.pair_index, pr.restarts)] for pr in run.pairs]
        else:
            ages = [t - created[(pi, a)] for pi, a, _node, t in run.records.swaps]
        h = 2 * d
        model = h + c_ps + sum((h + 2 * d + 3 * c_ps) if r == 0 else (h + 3 * d + 4 * c_ps) for r in range(rounds)) \
            + (d + c_ps if rounds else 0)
        line(f"{links} link(s), {rounds} round(s): observed age, ps", float(max(ages)), None, model, "(my model)")
        line(f"{links} link(s), {rounds} round(s): job's least swap age, ps", float(job.chain._least_swap_age_ps(link)),
             None, float(max(ages)), "(job check vs run)")


# ------------------------------------------------------------------ nested swapping with a memory cut-off
def chain_attempt_model(E, d, c, tau, nested):
    """One chain attempt of n equal links (n = E.shape[1]) from its links' emission times, my reading of the
    protocol (times in ps; each row one attempt; E = inf: a link that made no pair before the attempt ended).

    Link j's pair is emitted at E_j and both its ends act on the herald d + c later (H_j = E_j + d + c, the
    station at the midpoint: check_link). Repeater k holds the pairs of links k-1 and k and applies the cut-off
    to both, each from its emission (Rozpedek et al. 2018, cut-off per memory): it discards the older one at
    E_old + tau, at that moment, unless it swapped before. swap_asap: it swaps at S_k = max(H_{k-1}, H_k).
    Nested (Briegel et al. 1998, n = 2^L): repeater k at level l = 1 + (trailing zeros of k); a level-1 repeater
    swaps as swap_asap; a level-l > 1 repeater also needs the two segments [k - h, k] and [k, k + h]
    (h = 2^(l-1)), each complete when its middle, repeater k -+ h/2, swapped, whose notice travels h/2 link
    delays and takes the processing delay c: S_k = max(H_{k-1}, H_k, S_{k-h/2} + (h/2)d + c, S_{k+h/2} + (h/2)d
    + c). A repeater swaps iff S_k < E_old + tau (a child that cut sends no notice: S = inf); else it cuts at
    kappa_k = E_old + tau. Every repeater's two bits go to B (node n), (n - k)d + c away, and B holds its own link's
    pair at H_{n-1}: delivery D = max(H_{n-1}, max_k S_k + (n - k)d + c) when no repeater cut. A cut is told to every
    node (|k - j|d + c to node j), which starts the next attempt when the first abort reaches it (the cutter at
    once); whichever repeaters cut, node j therefore starts at a_j = min_k (kappa_k + |k - j|d + c) (kappa_k =
    inf for one that swapped; a repeater whose deadline comes after an abort reached it does not cut, but by
    the triangle inequality its term is never the least). Link j's pair is then emitted at a_j + 2(d + c) + (N_j
    - 1)T (its initiator's handshake, as in check_link).

    Memory time: link j's two memories from E_j until their nodes' swaps (ends: until D). Each dephases as
    e^(-t/T2) (T1 = inf), a Pauli channel with eigenvalues (x, x, 1) on (X, Y, Z); a Werner pair of parameter w
    has (w, w, w); swapping with the Pauli-frame correction composes the channels of all links and memories
    (their eigenvalues multiply), so F = (1 + w^n (1 + 2 e^(-t/T2)))/4 at the summed memory time t.

    Returns kappa (rows x n+1, inf where no cut), S (swap times, inf where none), D (inf unless it passed), the
    summed memory time t (nan unless it passed) and a (rows x n, the next attempt's start at each initiator).
    """
    rows, n = E.shape
    H = E + d + c
    S = np.full((rows, n + 1), np.inf)
    kappa = np.full((rows, n + 1), np.inf)
    levels = {k: (k & -k).bit_length() for k in range(1, n)}
    for k in sorted(range(1, n), key=lambda k: levels[k] if nested else 1):
        old = np.minimum(E[:, k - 1], E[:, k])
        s = np.maximum(H[:, k - 1], H[:, k])
        if nested and levels[k] > 1:
            half = 2 ** (levels[k] - 2)
            for child in (k - half, k + half):
                s = np.maximum(s, S[:, child] + half * d + c)
        ok = s < old + tau
        S[:, k] = np.where(ok, s, np.inf)
        kappa[:, k] = np.where(ok, np.inf, old + tau)
    passed = np.all(np.isinf(kappa), axis=1)
    bits = [S[:, k] + (n - k) * d + c for k in range(1, n)]
    D = np.where(passed, np.maximum.reduce([H[:, n - 1], *bits]), np.inf)
    with np.errstate(invalid="ignore"):
        t = sum((D if j == 0 else S[:, j]) + (D if j + 1 == n else S[:, j + 1]) - 2 * E[:, j] for j in range(n))
    t = np.where(passed, t, np.nan)
    a = np.full((rows, n), np.inf)
    for j in range(n):
        for k in range(1, n):
            a[:, j] = np.minimum(a[:, j], kappa[:, k] + (0 if k == j else abs(k - j) * d + c))
    return kappa, S, D, t, a


def chain_monte_carlo(p, n, d, c, period, tau, nested, rounds, seed):
    """The rounds of check_nested_cutoff's model sampled (numpy, independent of dqsim): each round starts with
    every link at 0 (lockstep) and runs attempts until one passes; returns the waiting times D and memory times t."""
    rng = np.random.default_rng(seed)
    start = np.zeros((rounds, n))
    waits, times = np.empty(rounds), np.empty(rounds)
    todo = np.arange(rounds)
    while todo.size:
        N = rng.geometric(p, size=(todo.size, n))
        E = start[todo] + 2 * (d + c) + (N - 1) * period
        _kappa, _S, D, t, a = chain_attempt_model(E, d, c, tau, nested)
        done = np.isfinite(D)
        waits[todo[done]], times[todo[done]] = D[done], t[done]
        start[todo[~done]] = a[~done]
        todo = todo[~done]
    return waits, times


def first_attempt_exact(p, n, d, c, period, tau, nested, w, t2):
    """P(a round's first attempt passes) and E[F | it passes] of the model, by summing over every (N_1..N_n)
    up to K attempts each, one value of N_1 at a time (the tail beyond, n q^K, is returned third)."""
    q = 1 - p
    K = int(math.ceil(math.log(1e-8) / math.log(q)))
    grids = np.meshgrid(*[np.arange(1, K + 1)] * (n - 1), indexing="ij")
    rest = np.stack([g.ravel() for g in grids], axis=1).astype(float)
    rest_weight = np.prod(p * q ** (rest - 1.0), axis=1)
    pass_p = fid_sum = 0.0
    for first in range(1, K + 1):
        N = np.concatenate([np.full((len(rest), 1), float(first)), rest], axis=1)
        weight = p * q ** (first - 1) * rest_weight
        _kappa, _S, D, t, _a = chain_attempt_model(2 * (d + c) + (N - 1.0) * period, d, c, tau, nested)
        passed = np.isfinite(D)
        pass_p += float(weight[passed].sum())
        fid_sum += float(weight[passed] @ ((1 + w ** n * (1 + 2 * np.exp(-t[passed] / PS_PER_S / t2))) / 4))
    return pass_p, fid_sum / pass_p, n * q ** K


def attempt_timing_deviation(run, chain_links, d, c, period, tau, nested):
    """Exact check of the chain attempts of a run with every_attempt records against chain_attempt_model: the cut
    times of the repeaters that cut (kappa), the swap times and the delivery time, and each link's emission on
    its initiator's attempt grid (a_j + 2(d + c) + k T, a_j the predicted start; a round's first attempt: its
    start). An initiator that hears of the abort between its link's emission and herald keeps no record of the
    pair while the responder, a repeater that has not heard of it yet, may still swap with it (a swap of an
    abandoned attempt, which changes no start time: its own deadline no longer cuts): attempts with a link
    unrecorded are compared only where the model does not need the missing emission (the recorded cutters'
    times), and the next attempt's starts not at all. Returns the worst deviation, ps, the attempts compared in
    full, and the cut-offs."""
    n = chain_links
    created = {}
    for r in run.records.links:
        created.setdefault((r.pair_index, r.attempt), {})[r.link_index] = r.created_ps
    cuts, swaps = {}, {}
    for pair_index, attempt, node, t in run.records.restarts:
        cuts.setdefault((pair_index, attempt), {})[node] = t
    for pair_index, attempt, node, t in run.records.swaps:
        swaps.setdefault((pair_index, attempt), {})[node] = t
    worst, full = 0.0, 0
    for pr in run.pairs:
        start = np.full(n, float(pr.round_start_ps))
        for attempt in range(pr.restarts + 1):
            key = (pr.pair_index, attempt)
            E = np.array([[created.get(key, {}).get(j, np.inf) for j in range(n)]])
            complete = bool(np.all(np.isfinite(E)))
            for j in range(n):  # each made link's emission on its initiator's attempt grid from the predicted start
                if start is not None and np.isfinite(E[0, j]):
                    off = E[0, j] - start[j] - 2 * (d + c)
                    worst = max(worst, abs(off - period * round(off / period)) if off >= 0 else abs(off))
            kappa, S, D, _t, a = chain_attempt_model(E, d, c, tau, nested)
            full += complete
            if attempt < pr.restarts:
                seen = cuts.get(key, {})
                if not seen:
                    return math.inf, full, len(run.records.restarts)
                for node, t in seen.items():
                    if complete or np.isfinite(E[0, node - 1]) != np.isfinite(E[0, node]):
                        worst = max(worst, abs(t - kappa[0, node]))
                if complete:
                    worst = max(worst, abs(min(seen.values()) - float(np.min(kappa))))
                start = a[0] if complete else None
            else:
                worst = max(worst, abs(D[0] - pr.delivery_ps))
                for node, t in swaps.get(key, {}).items():
                    worst = max(worst, abs(t - S[0, node]))
    return worst, full, len(run.records.restarts)


def cutoff_chain_setup():
    """The chains of check_nested_cutoff and check_cutoff_link: 10-km links, T = 1.3 d (whole ps), c = 1 us, F0 =
    0.97, T2 = 5 ms. Returns (d, T, c, T2, p, w, link, node)."""
    L, ng, c_ps, f0, t2 = 10.0, 1.468, 1000, 0.97, 5e-3
    d = float(round(delay_ps(L, ng)))
    period = float(round(1.3 * d))
    link = LinkSpec(distance_km=L, group_index=ng, dark_count_rate_hz=0.0, source_fidelity=f0,
                    source_period_ps=int(period))
    node = NodeSpec(name="n", t2_s=t2, classical_processing_delay_ps=c_ps)
    eta = arm_eta(L, 0.2, 0.0, 0.9)
    return d, period, c_ps, t2, eta * eta / 2, (4 * f0 - 1) / 3, link, node


def check_nested_cutoff():
    """Nested (and swap-asap) swapping with a memory cut-off, 2 and 4 links: the model of chain_attempt_model.

    Exact: every attempt's cut times, swap times, delivery time and restart offsets (attempt_timing_deviation) and
    the first attempt's pass probability (summed over the attempt counts, first_attempt_exact: within 3 binomial
    s.e. of the share of rounds without restart). Statistical: the rate (pairs over the last delivery time; rounds
    follow one another a broadcast n d + c after each delivery) and the mean fidelity against the model's rounds
    sampled here (chain_monte_carlo, 200,000 rounds; its s.e. combined with the run's). The source period T = 1.3 d
    keeps a deadline off the attempt grid of the other links (ties of a cut and an abort change no start time).
    """
    print("nested cutoff: nested and swap-asap swapping with a memory cut-off, 2 and 4 links, T = 1.3 d", flush=True)
    n_pairs = 300 if QUICK else 1200
    d, period, c_ps, t2, p, w, link, node = cutoff_chain_setup()
    cases = ((2, "nested", 1.5), (4, "nested", 2.5), (4, "nested", 4.5), (4, "swap_asap", 2.5))
    for n, swapping, spare in cases:
        nested = swapping == "nested"
        top = (n.bit_length() - 1) if nested else 1  # the top level's least age: (d + c) + sum of notices
        least = (d + c_ps) + sum(2 ** (level - 2) * d + c_ps for level in range(2, top + 1))
        tau = int(round(least + spare * period))
        chain = ChainSpec(links=[link] * n, node=node, swapping=swapping, cutoff_ps=tau, num_pairs=n_pairs)
        run = run_chain(chain, comm=comm_mod.SingleComm(), backend=NUMPY, seed=41 + n, every_attempt=True)
        first, fid_first, tail = first_attempt_exact(p, n, d, c_ps, period, tau, nested, w, t2)
        print(f" {n} links, {swapping}: tau = least age {least / 1e6:.3f} us + {spare} T = {tau / 1e6:.3f} us,"
              f" p = {p:.5f}, P(first attempt passes) = {first:.5f} (tail {tail:.1e}), {n_pairs} pairs", flush=True)
        what = f"  {n} links {swapping} m={spare}:"
        worst, attempts, cut = attempt_timing_deviation(run, n, d, c_ps, period, tau, nested)
        line(f"{what} cut/swap/delivery/start times (worst dev, ps)", worst, None, 0.0,
             f"({attempts} attempts in full, {cut} cut-offs)")
        restarts = np.array([pr.restarts for pr in run.pairs])
        line(f"{what} P(no restart)", float(np.mean(restarts == 0)), math.sqrt(first * (1 - first) / n_pairs), first,
             "(exact sum over N_1..N_n)")
        fids = np.array([pr.fidelity for pr in run.pairs])
        f_first, se_first = mean_se(fids[restarts == 0])
        line(f"{what} mean F of first-attempt pairs", f_first, se_first, fid_first, "(exact sum)")
        waits, times = chain_monte_carlo(p, n, d, c_ps, period, tau, nested, 200_000, seed=5 + n)
        round_ps = waits + n * d + c_ps  # (the last round's broadcast is not in the run's end time)
        model_rate = 1 / (float(round_ps.mean()) / PS_PER_S)
        sim_round_ps = run.end_time_ps / n_pairs + (n * d + c_ps) / n_pairs
        w_sim = np.array([pr.delivery_ps - pr.round_start_ps for pr in run.pairs], dtype=float)
        se_round = math.hypot(float(w_sim.std(ddof=1)) / math.sqrt(n_pairs), float(waits.std()) / math.sqrt(waits.size))
        sim_rate = PS_PER_S / sim_round_ps
        line(f"{what} rate, pairs/s", sim_rate, sim_rate * se_round / sim_round_ps, model_rate,
             f"(model sampled: {waits.size} rounds; mean restarts sim {restarts.mean():.3f})")
        model_f = (1 + w ** n * (1 + 2 * np.exp(-times / PS_PER_S / t2))) / 4
        f_mean, f_se = mean_se(fids)
        line(f"{what} mean F", f_mean, math.hypot(f_se, float(model_f.std()) / math.sqrt(model_f.size)),
             float(model_f.mean()), "(model sampled)")


# ------------------------------------------------------------------ the "link" pumping cut-off
def link_making(rng, start, d, c, period, tau, p, cutter_initiates):
    """One link's makings, one BBPSSW round of perfect pairs (every purification succeeds), from its initiator's
    start: kept pair emitted at K = start + 2(d + c) + (N_k - 1)T, spare pair 3(d + c) + (N_s - 1)T after it
    (check_cutoff_pumped), the pumped pair complete at both ends 2(d + c) after the spare's emission. A kept pair
    whose pumping is not complete before K + tau is discarded then by the repeater (cut-off per memory) and the
    link made again: its initiator starts at once when the repeater is its initiator (link 1), else when the
    repeater's word reaches it, d + c later (link 0). Returns (K, C) of the making that completes."""
    while True:
        kept = start + 2 * (d + c) + (rng.geometric(p) - 1) * period
        done = kept + 5 * (d + c) + (rng.geometric(p) - 1) * period
        if done < kept + tau:
            return kept, done
        start = kept + tau + (0 if cutter_initiates else d + c)


def pumped_two_link_rounds(p, d, c, period, tau, rounds, seed):
    """Waiting times of two pumped links with the "link" pumping cut-off (my model): each link is made as
    link_making says; the repeater swaps at max(C_0, C_1) if the pair that completed first is younger than tau
    then, else it cuts that pair at K + tau and the whole attempt starts again (the repeater, link 1's initiator,
    at once; node 0 d + c later: check_cutoff); B has the swap's bits d + c after the swap."""
    rng = np.random.default_rng(seed)
    waits = np.empty(rounds)
    for index in range(rounds):
        starts = (0.0, 0.0)
        while True:
            (k0, c0), (k1, c1) = (link_making(rng, starts[0], d, c, period, tau, p, False),
                                  link_making(rng, starts[1], d, c, period, tau, p, True))
            swap = max(c0, c1)
            first_kept = k0 if c0 <= c1 else k1
            if swap < first_kept + tau:
                waits[index] = swap + d + c
                break
            cut = first_kept + tau
            starts = (cut + d + c, cut)
    return waits


def check_pumping_link():
    """The "link" pumping cut-off (a kept pair cut while pumped makes its link alone again), one BBPSSW round.

    One link: its end B cuts and A starts again when told, as an abandoned attempt did, so the two policies give
    the same pairs at the same times (exact). Two links of perfect pairs: every cut of a kept pair comes tau after
    an emission on the attempt grid of its link's latest making, and the mean waiting time and rate against
    pumped_two_link_rounds (my model, sampled here; s.e. combined); the "attempt" policy's rate printed beside.
    """
    print("pumping_link: the \"link\" pumping cut-off, one BBPSSW round", flush=True)
    L, ng, c_ps = 10.0, 1.468, 2000
    n = 300 if QUICK else 1200
    d = float(round(delay_ps(L, ng)))
    period = d
    eta = arm_eta(L, 0.2, 0.0, 0.9)
    p = eta * eta / 2
    node = NodeSpec(name="n", classical_processing_delay_ps=c_ps)
    noisy = LinkSpec(distance_km=L, group_index=ng, dark_count_rate_hz=0.0, source_fidelity=0.9)
    tau1 = int(round(5 * (d + c_ps) + 1.5 * period))
    runs = {policy: run_chain(ChainSpec(links=[noisy], node=node, purification_rounds=1, cutoff_ps=tau1,
                                        num_pairs=n // 3, pumping_cutoff=policy),
                              comm=comm_mod.SingleComm(), backend=NUMPY, seed=23) for policy in ("attempt", "link")}
    same = [(pr.delivery_ps, pr.fidelity) for pr in runs["attempt"].pairs] == \
        [(pr.delivery_ps, pr.fidelity) for pr in runs["link"].pairs]
    line("1 link, F0 = 0.9: pairs differing between the policies", float(not same), None, 0.0,
         f"({n // 3} pairs, {sum(pr.restarts for pr in runs['attempt'].pairs)} abandoned attempts against "
         f"{sum(pr.restarts for pr in runs['link'].pairs)})")
    perfect = LinkSpec(distance_km=L, group_index=ng, dark_count_rate_hz=0.0, source_fidelity=1.0)
    for spare in (3, 6):
        tau = int(round(5 * (d + c_ps) + (spare + 0.5) * period))
        chains = {policy: ChainSpec(links=[perfect] * 2, node=node, purification_rounds=1, cutoff_ps=tau,
                                    num_pairs=n, pumping_cutoff=policy) for policy in ("attempt", "link")}
        out = run_chain(chains["link"], comm=comm_mod.SingleComm(), backend=NUMPY, seed=31, every_attempt=True)
        whole = run_chain(chains["attempt"], comm=comm_mod.SingleComm(), backend=NUMPY, seed=31)
        starts = {}
        for pr in out.pairs:
            for attempt in range(pr.restarts + 1):
                starts[(pr.pair_index, attempt, 0)] = starts[(pr.pair_index, attempt, 1)] = pr.round_start_ps
        for pair_index, attempt, _node, t in out.records.restarts:
            starts[(pair_index, attempt + 1, 0)], starts[(pair_index, attempt + 1, 1)] = t + d + c_ps, t
        worst = 0.0
        for pair_index, attempt, _node, side, t in out.records.relinks:
            link = 0 if side == "left" else 1
            off = t - starts[(pair_index, attempt, link)] - 2 * (d + c_ps) - tau
            worst = max(worst, abs(off - period * round(off / period)) if off >= 0 else abs(off))
            starts[(pair_index, attempt, link)] = t + (d + c_ps if link == 0 else 0)
        print(f" 2 links, tau = 5(d + c) + {spare + 0.5} T = {tau / 1e6:.3f} us, p = {p:.5f}, {n} pairs", flush=True)
        line(f"  m={spare}: relinks tau after a kept emission (worst offset, ps)", worst, None, 0.0,
             f"({len(out.records.relinks)} relinks, {len(out.records.restarts)} abandoned attempts)")
        waits = pumped_two_link_rounds(p, d, c_ps, period, tau, 20_000 if QUICK else 60_000, seed=7 + spare)
        w = np.array([pr.delivery_ps - pr.round_start_ps for pr in out.pairs], dtype=float)
        m, se = mean_se(w / PS_PER_S)
        line(f"  m={spare}: mean waiting time, s", m, math.hypot(se, waits.std() / PS_PER_S / math.sqrt(waits.size)),
             float(waits.mean()) / PS_PER_S, f"(model sampled; \"attempt\" policy: "
             f"{np.mean([pr.delivery_ps - pr.round_start_ps for pr in whole.pairs]) / PS_PER_S:.6g} s)")
        print(f"  rate: \"link\" {out.rate_hz:.4g} pairs/s, \"attempt\" {whole.rate_hz:.4g} pairs/s", flush=True)


# ------------------------------------------------------------------ the "link" cut-off policy (per memory)
def two_link_relink_exact(p, d, c, period, tau, w, t2_s, tol=1e-13):
    """Two links, swap-asap, cutoff_policy = "link": the mean waiting time and mean delivered fidelity, exact (a
    Markov chain on the links' relative offset, its probability mass propagated until less than ``tol`` is left).

    My reading of the protocol (times in ps, h = d + c): a link's making that starts at S (its initiator acts) emits
    its pair on the grid S + 2h + (N - 1)T, N geometric(p); the repeater holds it from the herald, E + h, and
    discards it at E + tau unless it swapped before (cut-off per memory: Rozpedek et al. 2018; Collins et al.,
    PRL 98, 060502 (2007); Kamin et al., PRR 5, 023086 (2023) for the lockstep version). It swaps at max(E0, E1) + h
    iff |E0 - E1| < tau - h; B holds the corrected pair h later. A discarded link alone is made again: link 1's
    initiator is the repeater (S = the cut), link 0's is A, told h later (S = cut + h: lag_0 = h, lag_1 = 0).

    State (u, delta): link u's first possible emission at the reference time, link v = 1 - u's delta later, both
    geometric from there: E_u = (N_u - 1)T, E_v = delta + (N_v - 1)T, K = N_v - N_u with P(K = k) = p q^|k|/(2 - p).
    Overlap (|delta + kT| < tau - h): delivered at E_max + 2h, memory time 2|E_v - E_u| + 6h (check_chain), so
    F = (1 + w^2 (1 + 2 e^(-t/T2)))/4 (T1 = inf). Else the earlier pair (link x) is cut at E_x + tau and the other
    link y, which had not emitted by E_x + tau - h, by memorylessness emits geometrically from its first grid point
    after that, rho = ((E_y-grid phase) - (E_x + tau - h)) mod T in (0, T] later; link x's first possible emission
    is E_x + tau + lag_x + 2h: the new state (y, lag_x + 3h - rho), reached E_x + tau - h + rho after the old
    reference. The conditional moments over K are closed forms: with s = q^2, E[(N_u - 1); K = k] =
    p^2 q^|k| (s/(1 - s)^2 + max(0, -k)/(1 - s)), and E[(N_v - 1); K = k] likewise with max(0, k).
    A tie (the later pair heralded at the earlier one's deadline, |E_v - E_u| = tau - h: these times are sums of
    tau, h and T with small integer coefficients, so some histories meet exactly) counts as a cut here; the
    largest mass of such ties is returned and printed (its effect on the means is at most that share of them).
    Returns (E[W], E[F], the largest mass found on a tie)."""
    q, h = 1 - p, d + c
    s = q * q
    kmax = int(60 / p) + 10
    k = np.arange(-kmax, kmax + 1)
    pk = p * q ** np.abs(k) / (2 - p)
    base = p * p * q ** np.abs(k) * s / (1 - s) ** 2
    e_u = (base + p * p * q ** np.abs(k) * np.maximum(0, -k) / (1 - s)) * period  # E[E_u; K = k]
    e_v_grid = (base + p * p * q ** np.abs(k) * np.maximum(0, k) / (1 - s)) * period  # E[E_v - delta; K = k]
    lag = (h, 0.0)
    wait = fid = tie = 0.0
    states = {(0, 0.0): [1.0, 2 * h]}  # (u, delta) -> [mass, mass x reference time]
    while states:
        nxt = {}
        for (u, delta), (mass, mass_t) in states.items():
            gap = delta + k * period
            over = np.abs(gap) < tau - h
            tie = max(tie, mass * float(pk[np.abs(np.abs(gap) - (tau - h)) < 0.5].sum()))
            p_over = float(pk[over].sum())
            e_max = float((e_u + pk * np.maximum(0.0, gap))[over].sum())
            wait += mass_t * p_over + mass * (e_max + 2 * h * p_over)
            t_mem = 2 * np.abs(gap) + 6 * h
            fid += mass * float((pk * (1 + w * w * (1 + 2 * np.exp(-t_mem / PS_PER_S / t2_s))) / 4)[over].sum())
            for cut, sign in ((gap >= tau - h, 1), (gap <= -(tau - h), -1)):  # u's pair cut first, or v's
                p_cut = float(pk[cut].sum())
                if p_cut * mass < tol * 1e-3:
                    continue
                x, y = (u, 1 - u) if sign == 1 else (1 - u, u)
                phase_y = delta if sign == 1 else -delta  # y's grid offset from x's emission grid, mod T
                rho = (phase_y - (tau - h)) % period
                rho = rho if rho > 0 else period
                e_x = float(e_u[cut].sum()) if sign == 1 else float((e_v_grid + pk * delta)[cut].sum())
                key = (y, round(lag[x] + 3 * h - rho, 6))
                entry = nxt.setdefault(key, [0.0, 0.0])
                entry[0] += mass * p_cut
                entry[1] += mass_t * p_cut + mass * (e_x + (tau - h + rho) * p_cut)
        states = {key: v for key, v in nxt.items() if v[0] > tol}
    return wait, fid, tie


class _RelinkChain:
    """One round of the "link" cut-off policy over n equal links (my reading of the protocol; check_cutoff_link),
    an event simulation independent of dqsim, times in ps, h = d + c, a message from node i to j |i - j|d + c.

    A link's making started by its initiator (node j for link j) at S emits at S + 2h + (N - 1)T; both ends hold
    the pair from E + h if that link has not been made again since (its making number, kept by each end). Repeater
    k cuts a pair it holds at E + tau unless it swapped before: that link is made again (its making number + 1),
    the other end told (ignored there if it cut at the same instant). An end told while it had swapped the pair
    into a longer segment undoes its swap (B, told, forgets its bits), makes both its links again and tells the
    node beyond, so the discard runs through the segment to its other end. A repeater swaps once it holds two live
    pairs (nested, level l > 1: and both segments' notices, each valid while the making of its own link it names
    is current); its bits reach B (n - k)d + c later, a notice its consumer |consumer - k|d + c later. B delivers
    once it holds its pair and bits of all n - 1 repeaters."""

    def __init__(self, rng, n, p, d, c, period, tau, nested, order="engine", draws=None):
        self.rng, self.n, self.p, self.d, self.c, self.T, self.tau, self.nested = rng, n, p, d, c, period, tau, nested
        self.order = order
        self.draws = draws  # link -> attempts of its next making (replayed_rounds); None: geometric from rng
        self.h = d + c
        self.making = {(j, s): 0 for j in range(n + 1) for s in ("left", "right")}
        self.held = {}          # (node, side) -> emission of the pair it holds
        self.swapped = {}       # node -> swap time
        self.segments = {}      # (node, side) -> (left-end making, right-end making)
        self.bits = set()
        self.events, self.seq, self.done = [], 0, None
        self.cuts = self.unswaps = 0  # pairs cut at a deadline, swaps undone (compared with dqsim's counters)

    def level(self, k):
        return (k & -k).bit_length()

    def consumer(self, k):
        half = k & -k
        left, right = k - half, k + half
        if left == 0 and right == self.n:
            return self.n
        return left if left > 0 and self.level(left) == self.level(k) + 1 else right

    def push(self, t, origin, *event):
        """An event at ``t`` sent by node ``origin`` (a node's own herald and deadline: itself). Events at one
        instant come in dqsim's engine order (``dqsim.engine.simulator``: time, then the sending node, then the
        order sent), ``order = "engine"``: at a repeater a discard notice from its left neighbour comes before a
        herald that ties with it, one from its right neighbour after (the herald then lets it swap, and the
        notice undoes that swap at the same instant, discarding the new pair too). ``order = "pushed"`` (this
        model until 2026-12-07 (later)): a deadline first, the others in the order pushed. The two gave the same
        rounds on the chains of check_cutoff_link (600 four-link rounds replayed with dqsim's draws, and 50,000
        sampled with the same draws: mean F 0.809496 and 0.809510; bench/results/repeater-z-vm-20261207.md). A
        herald at a deadline is a cut either way (``check``: a pair is swapped only while both are younger than
        tau)."""
        self.seq += 1
        rank = origin if self.order == "engine" else event[0] != "deadline"
        heapq.heappush(self.events, (t, rank, self.seq, event))

    def start(self, link, t):
        attempts = self.rng.geometric(self.p) if self.draws is None else self.draws(link)
        e = t + 2 * self.h + (attempts - 1) * self.T
        making = self.making[(link, "right")]
        self.push(e + self.h, link, "pair", link, "right", making, e)
        self.push(e + self.h, link + 1, "pair", link + 1, "left", making, e)

    def relink(self, t, node, side, making, tell):
        self.making[(node, side)] = making
        self.held.pop((node, side), None)
        self.segments.pop((node, side), None)
        if side == "right":
            self.start(node, t)
        if tell:
            peer, peer_side = (node + 1, "left") if side == "right" else (node - 1, "right")
            self.push(t + self.h, node, "relink", peer, peer_side, making)

    def run(self, t0=0.0):
        for link in range(self.n):
            self.start(link, t0)
        while self.done is None:
            t, _, _, event = heapq.heappop(self.events)
            kind = event[0]
            if kind == "pair":
                node, side, making, e = event[1:]
                if self.making[(node, side)] == making:
                    self.held[(node, side)] = e
                    if 0 < node < self.n:
                        self.push(e + self.tau, node, "deadline", node, side, making)
                    self.check(t, node)
            elif kind == "deadline":
                node, side, making = event[1:]
                if node not in self.swapped and self.making[(node, side)] == making and (node, side) in self.held:
                    self.cuts += 1
                    self.relink(t, node, side, making + 1, True)
            elif kind == "relink":
                node, side, making = event[1:]
                if making > self.making[(node, side)]:
                    if node in self.swapped:
                        self.unswaps += 1
                        del self.swapped[node]
                        self.push(t + (self.n - node) * self.d + self.c, node, "void", node)
                        other = "right" if side == "left" else "left"
                        self.relink(t, node, side, making, False)
                        self.relink(t, node, other, self.making[(node, other)] + 1, True)
                    else:
                        self.relink(t, node, side, making, False)
            elif kind == "segment":
                node, side, ends = event[1:]
                if ends[1 if side == "left" else 0] == self.making[(node, side)]:
                    self.segments[(node, side)] = ends
                    self.check(t, node)
            elif kind == "bits":
                self.bits.add(event[1])
                self.check(t, self.n)
            elif kind == "void":
                self.bits.discard(event[1])
        return self.done

    def check(self, t, node):
        n = self.n
        if node == n:
            if (n, "left") in self.held and len(self.bits) == n - 1:
                self.done = t
            return
        if node == 0 or node in self.swapped:
            return
        left, right = self.held.get((node, "left")), self.held.get((node, "right"))
        if left is None or right is None or t >= min(left, right) + self.tau:
            return
        if self.nested and self.level(node) > 1:
            if (node, "left") not in self.segments or (node, "right") not in self.segments:
                return
            ends = (self.segments[(node, "left")][0], self.segments[(node, "right")][1])
        else:
            ends = (self.making[(node, "left")], self.making[(node, "right")])
        self.swapped[node] = t
        self.push(t + (n - node) * self.d + self.c, node, "bits", node)
        if self.nested:
            consumer = self.consumer(node)
            if consumer != n:
                self.push(t + abs(consumer - node) * self.d + self.c, node, "segment", consumer,
                          "left" if node < consumer else "right", ends)

    def memory_time(self):
        """Summed storage time of the delivered pair's memories: link j's two from its emission to their nodes'
        swaps (ends: to the delivery)."""
        total = 0.0
        for j in range(self.n):
            e = self.held[(j + 1, "left")]
            total += (self.done if j == 0 else self.swapped[j]) - e
            total += (self.done if j + 1 == self.n else self.swapped[j + 1]) - e
        return total


def relink_chain_rounds(p, n, d, c, period, tau, nested, rounds, seed, order="engine"):
    """Rounds of _RelinkChain sampled: waiting times and summed memory times."""
    rng = np.random.default_rng(seed)
    waits, times = np.empty(rounds), np.empty(rounds)
    for index in range(rounds):
        chain = _RelinkChain(rng, n, p, d, c, period, tau, nested, order)
        waits[index] = chain.run()
        times[index] = chain.memory_time()
    return waits, times


def replayed_rounds(run, n, p, d, c, period, tau, nested, seed):
    """The rounds of a dqsim run whose waiting time and summed memory time _RelinkChain gives exactly when driven
    by dqsim's own attempt draws (the random stream of each link's initiator, ``dqsim.rng.Stream(seed, node=j,
    purpose="epr-attempts-{j + 1}")``, one event per making, in order), and the most they differ by, ps. An exact
    check of the model's reading of the protocol round by round, which the sampled means test only in the mean."""
    streams = [Stream(seed, node=j, purpose=f"epr-attempts-{j + 1}") for j in range(n)]
    events = [0] * n

    def draws(link):
        events[link] += 1
        return int(streams[link].transient_generator(events[link] - 1).geometric(p))

    same, worst = 0, 0.0
    for pr in run.pairs:
        chain = _RelinkChain(None, n, p, d, c, period, tau, nested, draws=draws)
        waited = chain.run()
        gap = max(abs(waited - (pr.delivery_ps - pr.round_start_ps)), abs(chain.memory_time() - pr.memory_time_ps))
        same += gap < 0.5
        worst = max(worst, gap)
    return same, worst


def check_cutoff_link():
    """cutoff_policy = "link" (a pair past its cut-off discards its link alone, or its segment): two links against
    two_link_relink_exact (mean waiting time and mean fidelity, within 3 s.e.), 3 and 4 links (swap-asap) and 4
    links (nested) against _RelinkChain sampled (rate and mean fidelity, s.e. combined), and each of their rounds
    against _RelinkChain driven by dqsim's own draws (replayed_rounds, exact); the "attempt" policy's rate beside.
    T = 1.3 d keeps deadlines off the other link's first attempt grid (after discards some histories still tie:
    two_link_relink_exact)."""
    print('cutoff_link: cutoff_policy = "link", 2 links (exact chain), 3-4 links (event model), T = 1.3 d', flush=True)
    n_pairs = 400 if QUICK else 1500
    d, period, c_ps, t2, p, w, link, node = cutoff_chain_setup()
    h = d + c_ps
    for spare in (0.5, 1.5, 3.5):
        tau = int(round(h + spare * period))
        runs = {policy: run_chain(ChainSpec(links=[link] * 2, node=node, cutoff_ps=tau, num_pairs=n_pairs,
                                            cutoff_policy=policy), comm=comm_mod.SingleComm(), backend=NUMPY,
                                  seed=61) for policy in ("link", "attempt")}
        out = runs["link"]
        wait, fid, tie = two_link_relink_exact(p, d, c_ps, period, tau, w, t2)
        print(f" 2 links: tau = d + c + {spare} T = {tau / 1e6:.3f} us, p = {p:.5f}, {n_pairs} pairs"
              f" (largest mass on a tie {tie:.1e})", flush=True)
        what = f"  2 links m={spare}:"
        waits = np.array([pr.delivery_ps - pr.round_start_ps for pr in out.pairs], dtype=float)
        m, se = mean_se(waits / PS_PER_S)
        line(f"{what} mean waiting time, s", m, se, wait / PS_PER_S, "(exact Markov chain)")
        m, se = mean_se(out.fidelities)
        line(f"{what} mean F", m, se, fid, "(exact Markov chain)")
        line(f"{what} abandoned attempts", float(sum(pr.restarts for pr in out.pairs)), None, 0.0,
             f"(rate \"link\" {out.rate_hz:.5g} pairs/s, \"attempt\" {runs['attempt'].rate_hz:.5g} pairs/s)")
    for n, swapping, spare in ((3, "swap_asap", 1.5), (4, "swap_asap", 2.5), (4, "nested", 2.5)):
        nested = swapping == "nested"
        top = (n.bit_length() - 1) if nested else 1
        least = h + sum(2 ** (level - 2) * d + c_ps for level in range(2, top + 1))
        tau = int(round(least + spare * period))
        chains = {policy: ChainSpec(links=[link] * n, node=node, swapping=swapping, cutoff_ps=tau,
                                    num_pairs=n_pairs, cutoff_policy=policy) for policy in ("link", "attempt")}
        out = run_chain(chains["link"], comm=comm_mod.SingleComm(), backend=NUMPY, seed=43 + n)
        whole = run_chain(chains["attempt"], comm=comm_mod.SingleComm(), backend=NUMPY, seed=43 + n)
        waits, times = relink_chain_rounds(p, n, d, c_ps, period, tau, nested, 6000 if QUICK else 20000, seed=9 + n)
        print(f" {n} links, {swapping}: tau = least age {least / 1e6:.3f} us + {spare} T = {tau / 1e6:.3f} us,"
              f" {n_pairs} pairs, model {waits.size} rounds", flush=True)
        what = f"  {n} links {swapping} m={spare}:"
        w_sim = np.array([pr.delivery_ps - pr.round_start_ps for pr in out.pairs], dtype=float)
        m, se = mean_se(w_sim / PS_PER_S)
        whole_wait_s = np.mean([pr.delivery_ps - pr.round_start_ps for pr in whole.pairs]) / PS_PER_S
        line(f"{what} mean waiting time, s", m, math.hypot(se, float(waits.std()) / PS_PER_S / math.sqrt(waits.size)),
             float(waits.mean()) / PS_PER_S, f"(model sampled; \"attempt\": {whole_wait_s:.5g} s)")
        model_f = (1 + w ** n * (1 + 2 * np.exp(-times / PS_PER_S / t2))) / 4
        f_mean, f_se = mean_se(out.fidelities)
        line(f"{what} mean F", f_mean, math.hypot(f_se, float(model_f.std()) / math.sqrt(model_f.size)),
             float(model_f.mean()), "(model sampled)")
        same, worst = replayed_rounds(out, n, p, d, c_ps, period, tau, nested, seed=43 + n)
        line(f"{what} rounds the model replays with dqsim's draws", float(same), None, float(len(out.pairs)),
             f"(waiting and memory times to the ps; largest gap {worst:.0f} ps)")
        print(f"  rate: \"link\" {out.rate_hz:.5g} pairs/s, \"attempt\" {whole.rate_hz:.5g} pairs/s", flush=True)


RANK_JOB = """[run]
name = "review_ranks"
scenario = "repeater"
seed = 4

[chain]
num_links = [2, 4]
total_distance_km = [100.0]
swapping = "swap_asap"
cutoff_s = 0.002
num_pairs = 40

[chain.link]
scheme = "double_click"
source_fidelity = 0.97

[chain.node]
t1_s = 1.0
t2_s = 0.1
gate_1q_error_probability = 0.001
gate_2q_error_probability = 0.01
measure_error_probability = 0.01
classical_processing_delay_ps = 3000
"""


def check_ranks():
    """The pairs table of one job on 1 and 2 ranks (dqsim run + dqsim inspect, as a user)."""
    print("ranks: jobs pairs table (2 and 4 links, cut-off, noisy nodes) on 1 and 2 ranks", flush=True)
    work = tempfile.mkdtemp(prefix="review-repeater-")
    job = os.path.join(work, "ranks.toml")
    with open(job, "w") as f:
        f.write(RANK_JOB)
    py = sys.executable
    texts = []
    for ranks in (1, 2):
        out = os.path.join(work, f"r{ranks}.h5")
        launch = [py] if ranks == 1 else [os.path.join(os.path.dirname(py), "mpiexec"), "-n", "2", py, "-m", "mpi4py"]
        subprocess.run([*launch, "-m", "dqsim", "run", job, "-o", out, "--quiet"], check=True)
        texts.append(subprocess.run([py, "-m", "dqsim", "inspect", out, "--table", "pairs", "--csv"], check=True,
                                    capture_output=True, text=True).stdout)
    rows = list(csv.DictReader(io.StringIO(texts[0])))
    same = texts[0] == texts[1]
    print(f"  {'PASS' if same else 'FAIL'} pairs table identical on 1 and 2 ranks ({len(rows)} rows,"
          f" mean F {np.mean([float(r[next(k for k in r if k.startswith('fidelity'))]) for r in rows]):.6f})",
          flush=True)
    RESULTS.append(("ranks: identical", same))


CHECKS = {"link": check_link, "dark": check_dark, "memory": check_memory, "swap": check_swap, "purify": check_purify,
          "purify_noisy": check_purify_noisy, "chain": check_chain, "damping": check_chain_damping,
          "cutoff": check_cutoff, "cutoff_pumped": check_cutoff_pumped, "cutoff_deadline": check_cutoff_deadline,
          "pump_decoherence": check_pump_decoherence, "least_age": check_least_age,
          "nested_cutoff": check_nested_cutoff, "pumping_link": check_pumping_link, "cutoff_link": check_cutoff_link,
          "summary": check_summary,
          "ranks": check_ranks}


def main(argv):
    failed = run_checks("review_repeater_physics", CHECKS, argv, QUICK, RESULTS, __doc__)
    for what in failed:
        print(f"  FAIL: {what}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
