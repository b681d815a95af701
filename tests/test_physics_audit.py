"""The physics audit of 2026-12-06 (docs/physics-audit-20261206.md): dqsim's public API against references
computed independently in tests/physics_audit_reference.py (no dqsim import there).

Exact figures must agree to 1e-12 (absolute, or relative where stated); sampled ones within
NUM_STANDARD_ERRORS standard errors of the mean (fixed seeds; a correct model fails one check with
probability ~0.3 %). Every test takes well under 2 s on one core.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import physics_audit_reference as ref
from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import load_job_text
from dqsim.network import entanglement, raman
from dqsim.network.detectors import (dark_count_probability, dead_time_efficiency, dead_time_pulses,
                                     detection_probability)
from dqsim.network.fibre import fibre_transmittance, propagation_delay_ps, total_transmittance
from dqsim.network.link import LinkSpec
from dqsim.network.node import NodeSpec
from dqsim.network.werner import (bbpssw_fidelity, bbpssw_success_probability, chsh_value, decohered_fidelity,
                                  swap_fidelity)
from dqsim.protocols.qkd import (ChannelModel, DecoySource, DetectorModel, alice_batch, block_counts, bob_detect,
                                 estimate_block, theoretical_key_rate)
from dqsim.protocols.qkd.entangled import (E91_CHSH_TERMS, EntangledSource, bbm92_batch, chsh_estimate,
                                          coincidence_counts, e91_batch, sifted_statistics)
from dqsim.protocols.qkd.finite_key import entangled_finite_key_length, expected_counts, finite_key_length
from dqsim.protocols.qkd.spdc import expected_spdc_chsh, pair_statistics
from dqsim.protocols.qkd.theory import binary_entropy
from dqsim.protocols.repeater import ChainSpec
from dqsim.scenarios import repeater
from dqsim.scenarios.qkd import link_physics, raman_noise_probability
from dqsim.units import ps_to_seconds
from conftest import TEST_BACKEND

NUM_STANDARD_ERRORS = 3.0
EXACT = 1e-12
BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")


def run_chain(chain, seed):
    return repeater.run_chain(chain, comm=comm_mod.SingleComm(), backend=BACKEND, seed=seed)


def assert_mean(samples, expected, what):
    """Sample mean within NUM_STANDARD_ERRORS standard errors (+1e-12 for samples without spread)."""
    samples = np.asarray(samples, dtype=float)
    se = samples.std(ddof=1) / math.sqrt(len(samples))
    assert abs(samples.mean() - expected) <= NUM_STANDARD_ERRORS * se + EXACT, (what, samples.mean(), expected, se)


def qkd_job(sections: str):
    """A small ``bb84_decoy`` job with the given ``[qkd.*]`` sections."""
    return load_job_text('[run]\nname = "audit"\nscenario = "qkd"\n[qkd]\nprotocol = "bb84_decoy"\npulses = 1000\n'
                         + sections)


def assert_rate(successes, trials, expected, what):
    se = math.sqrt(max(expected * (1.0 - expected), 1e-300) / trials)
    assert abs(successes / trials - expected) <= NUM_STANDARD_ERRORS * se, (what, successes / trials, expected, se)


# --------------------------------------------------------------------------- fibre and detectors (exact)

@pytest.mark.parametrize(("length_km", "alpha_db"), [(0.0, 0.2), (13.7, 0.35), (50.0, 0.2), (100.0, 0.16)])
def test_fibre_loss_and_delay_against_the_exponential_law(length_km, alpha_db):
    """e^(-αL), α = α_dB·ln10/10 (Agrawal Sec. 2.5); delay n_g·L/c in integer ps."""
    assert fibre_transmittance(length_km, alpha_db) == pytest.approx(ref.transmittance(length_km, alpha_db),
                                                                     rel=EXACT, abs=0)
    for n_g in (1.0, 1.4682, 1.5):
        assert propagation_delay_ps(length_km, n_g) == ref.delay_ps(length_km, n_g)
    assert total_transmittance(length_km, alpha_db, 1.3, 0.85) == pytest.approx(
        ref.transmittance(length_km, alpha_db, 1.3, 0.85), rel=EXACT, abs=0)


@pytest.mark.parametrize("scheme", entanglement.SCHEMES)
def test_link_arm_transmittance_counts_fibre_coupling_and_detector_once(scheme):
    """Midpoint schemes: L/2 to the station; direct: L; coupling and η_det once per arm."""
    link = LinkSpec(distance_km=30.0, attenuation_db_per_km=0.25, coupling_loss_db=1.0, detector_efficiency=0.7,
                    scheme=scheme)
    arm_km = 30.0 if scheme == "direct" else 15.0
    assert link.arm_transmittance == pytest.approx(ref.transmittance(arm_km, 0.25, 1.0, 0.7), rel=EXACT, abs=0)
    assert link.delay_ps == ref.delay_ps(30.0, link.group_index)
    # the herald returns to both nodes after one node-station-node round trip
    assert link.herald_delay_ps == ref.delay_ps(2 * arm_km, link.group_index)


def test_dark_counts_detection_and_dead_time_formulas():
    """1 − e^(−R·Δt); 1 − (1 − Y0)e^(−ημ) (Ma et al. 2005, Sec. II); 1/(1 + Rτ) (Knoll Sec. 4.VII)."""
    for rate_hz, gate_ps in [(10.0, 1000), (1e5, 2500), (3e7, 1000)]:
        expected = 1.0 - math.exp(-rate_hz * gate_ps * 1e-12)
        assert dark_count_probability(rate_hz, gate_ps) == pytest.approx(expected, rel=1e-12)
    for mu, eta, y0 in [(0.5, 0.1, 0.0), (0.1, 0.01, 2e-6), (2.0, 0.9, 0.05)]:
        assert abs(detection_probability(mu, eta, y0) - (1.0 - (1.0 - y0) * math.exp(-eta * mu))) < EXACT
    assert dead_time_efficiency(2e6, 50_000) == pytest.approx(1.0 / (1.0 + 2e6 * 50e-9), rel=1e-12)


@pytest.mark.parametrize(("dead_time_ps", "rate_hz", "blind"), [
    (500, 1e9, 0),        # recovered before the next pulse
    (2_500, 1e9, 2),      # pulses at +1 ns and +2 ns lost, +3 ns seen
    (3_000, 1e9, 3),      # an integer τ·R: exactly τ·R pulses, as dead_time_efficiency counts them
    (25_000, 1e8, 2),
    (50_000, 1.25e9, 62),
])
def test_repro_dead_time_blinds_only_the_pulses_inside_it(dead_time_ps, rate_hz, blind):
    """A detector dead for τ loses the pulses j/R <= τ after a click: ⌊τR⌋ of them, not ⌈τR⌉ (the qkd scenario
    rounded up: a 0.5 ns dead time at 1 GHz lost the pulse after every click, a click rate p/(1 + p) for p)."""
    assert dead_time_pulses(dead_time_ps, rate_hz) == blind
    job = qkd_job(f"""
[qkd.source]
source_rate_hz = {rate_hz!r}
[qkd.link]
distance_km = 5.0
dead_time_ps = {dead_time_ps}
""")
    assert link_physics(job, 0, 0, 1, 5.0).detector.dead_time_pulses == blind


# --------------------------------------------------------------------------- Raman noise (exact)

@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("length_km", [0.0, 1.0, 50.0, 150.0])
def test_raman_power_against_integration_along_the_fibre(forward, length_km):
    """Eraerds et al. 2010 eqs. (1)-(2) against Simpson's rule over the scattering position (rel. 1e-9)."""
    function = raman.raman_forward_power_w if forward else raman.raman_backward_power_w
    simulated = function(2.0, length_km, filter_bandwidth_nm=0.5, attenuation_db_per_km=0.25,
                         raman_cross_section_per_km_per_nm=5e-9)
    expected = ref.raman_power_w(10 ** 0.2, length_km, 0.25, 5e-9, 0.5, forward)
    assert simulated == pytest.approx(expected, rel=1e-9, abs=0)


def test_raman_noise_per_detector_in_the_qkd_scenario():
    """Two classical channels (co: forward at Bob; counter: backward at Bob), each through Bob's coupling loss,
    photons P·λ/(hc)·η_det·Δt, split over two detectors, click 1 − e^(−n/2)."""
    job = qkd_job("""
[qkd.link]
distance_km = 25.0
coupling_loss_db = 1.5
gate_width_ps = 2000
detector_efficiency = 0.8
[[qkd.classical_channels]]
launch_power_dbm = 0.0
direction = "co"
filter_bandwidth_nm = 0.1
raman_cross_section_per_km_per_nm = 3e-9
[[qkd.classical_channels]]
launch_power_dbm = 3.0
direction = "counter"
filter_bandwidth_nm = 0.2
wavelength_nm = 1310.0
""")
    for side in ("bob", "alice"):
        mean = 0.0
        for power_mw, toward_bob, band_nm, wavelength_nm in [(1.0, True, 0.1, 1550.0), (10 ** 0.3, False, 0.2, 1310.0)]:
            forward = toward_bob == (side == "bob")
            power_w = ref.raman_power_w(power_mw, 25.0, 0.2, 3e-9, band_nm, forward) * 10 ** (-0.15)
            mean += ref.photons_per_gate(power_w, wavelength_nm, 0.8, 2000)
        assert raman_noise_probability(job, 25.0, side) == pytest.approx(1.0 - math.exp(-mean / 2.0), rel=1e-9)


# --------------------------------------------------------------------------- heralded entanglement (exact)

@pytest.mark.parametrize("scheme", ["single_click", "double_click"])
@pytest.mark.parametrize("eta", [0.02, 0.3, 1.0])
@pytest.mark.parametrize("p_dark", [0.0, 1e-3, 0.05])
def test_heralded_pair_against_photon_number_optics(scheme, eta, p_dark):
    """Herald probability and the whole heralded 4x4 state from an independent Fock-space model (beam
    splitter, loss as √η damping of the photon number, threshold detectors with dark counts, the corrections):
    Cabrillo et al. 1999 / Humphreys et al. 2018 (single click), Barrett & Kok 2005 (double click)."""
    for alpha in (0.05, 0.3):
        probability, rho = ref.heralded_pair_optics(scheme, eta, p_dark, alpha)
        kw = dict(bright_state_alpha=alpha, dark_count_probability=p_dark)
        assert abs(entanglement.success_probability(scheme, eta, **kw) - probability) < EXACT
        state = entanglement.delivered_state(scheme, arm_transmittance=eta, **kw)
        assert np.abs(state - ref.big_to_little_endian_pair(rho)).max() < EXACT
        assert abs(entanglement.delivered_fidelity(scheme, arm_transmittance=eta, **kw)
                   - ref.fidelity_phi_plus(rho)) < EXACT


@pytest.mark.parametrize("alpha", [0.02, 0.05, 0.1])
def test_single_click_leading_orders_of_humphreys_2018(alpha):
    """p ≈ 2αη and F ≈ 1 − α at small αη (Humphreys et al., Nature 558, 268 (2018), Methods): dqsim's exact
    values differ from them by at most (αη)² and αη/2 (the other node's bright photon lost, an undetected |bb⟩
    admixture); Barrett-Kok's p = η²/2 exactly."""
    eta = 1e-3
    p = entanglement.success_probability("single_click", eta, bright_state_alpha=alpha)
    assert abs(p - 2 * alpha * eta) <= (alpha * eta) ** 2 * 1.000001
    f = entanglement.delivered_fidelity("single_click", bright_state_alpha=alpha, arm_transmittance=eta)
    assert 0.0 < f - (1 - alpha) <= alpha * eta / 2
    assert entanglement.success_probability("double_click", 0.37) == pytest.approx(0.37 ** 2 / 2, rel=1e-15)


# --------------------------------------------------------------------------- Werner-state formulas (exact)

@pytest.mark.parametrize(("f1", "f2"), [(1.0, 0.9), (0.9, 0.8), (0.6, 0.3)])
def test_swap_formula_against_a_bell_measurement(f1, f2):
    """w = w1·w2 (Dür et al. 1999), from an explicit CNOT-H-measure-correct density-matrix computation."""
    w1, w2 = (4 * f1 - 1) / 3, (4 * f2 - 1) / 3
    rho = ref.swap_average_state(ref.werner(w1), ref.werner(w2))
    assert abs(swap_fidelity(f1, f2) - ref.fidelity_phi_plus(rho)) < EXACT


@pytest.mark.parametrize("fidelity", [0.3, 0.6, 0.8, 0.95])
def test_bbpssw_and_dejmps_formulas_against_the_circuits(fidelity):
    """Dür & Briegel 2007 eq. (17) (BBPSSW on Werner pairs); Deutsch et al. 1996 on Bell-diagonal pairs."""
    rho = ref.werner((4 * fidelity - 1) / 3)
    for variant in ("bbpssw", "dejmps"):
        p, kept = ref.purify_round(rho, rho, variant)
        assert abs(bbpssw_success_probability(fidelity) - p) < EXACT
        assert abs(bbpssw_fidelity(fidelity) - ref.fidelity_phi_plus(kept)) < EXACT
    # the reference DEJMPS circuit itself reproduces Deutsch et al.'s map on a non-Werner Bell-diagonal state
    weights = (0.8, 0.02, 0.13, 0.05)  # Φ+, Ψ−, Ψ+, Φ−
    bell = {"phi+": np.array([1, 0, 0, 1]), "phi-": np.array([1, 0, 0, -1]),
            "psi+": np.array([0, 1, 1, 0]), "psi-": np.array([0, 1, -1, 0])}
    rho = sum(w * np.outer(bell[k], bell[k]) / 2 for w, k in zip(weights, ("phi+", "psi-", "psi+", "phi-")))
    p, kept = ref.purify_round(rho, rho, "dejmps")
    n, a_out, *_ = ref.dejmps_bell_diagonal(*weights)
    assert abs(p - n) < EXACT and abs(ref.fidelity_phi_plus(kept) - a_out) < EXACT


@pytest.mark.parametrize(("t1_s", "t2_s"), [(math.inf, 1e-3), (1e-3, 2e-3), (1e-3, 5e-4), (3e-3, 1e-3)])
def test_decohered_fidelity_against_kraus_maps(t1_s, t2_s):
    """Amplitude damping + dephasing (Nielsen & Chuang 8.3.5-8.3.6) on both qubits of a Werner pair."""
    for wait_a_ps, wait_b_ps in [(400_000_000, 400_000_000), (100_000_000, 900_000_000)]:
        rho = ref.werner(0.9)
        rho = ref.t1_t2(rho, 0, 2, wait_a_ps * 1e-12, t1_s, t2_s)
        rho = ref.t1_t2(rho, 1, 2, wait_b_ps * 1e-12, t1_s, t2_s)
        value = decohered_fidelity(ref.fidelity_phi_plus(ref.werner(0.9)), wait_a_ps=wait_a_ps, wait_b_ps=wait_b_ps,
                                   t1_s=t1_s, t2_s=t2_s)
        assert abs(value - ref.fidelity_phi_plus(rho)) < EXACT


def test_chsh_of_a_werner_state_is_the_horodecki_maximum():
    """S = 2√2·w: max over measurement directions, from the correlation matrix T of ρ_w (Horodecki 1995)."""
    paulis = (ref.X, ref.Y, ref.Z)
    for w in (0.5, 0.8, 1.0):
        rho = ref.werner(w)
        t = np.array([[np.real(np.trace(rho @ np.kron(a, b))) for b in paulis] for a in paulis])
        singular = np.sort(np.linalg.svd(t, compute_uv=False))[::-1]
        assert abs(chsh_value(w) - 2 * math.sqrt(singular[0] ** 2 + singular[1] ** 2)) < EXACT


# --------------------------------------------------------------------------- repeater chains (engine runs)

@pytest.mark.parametrize(("p2", "p1", "pm"), [(0.0, 0.0, 0.0), (0.03, 0.0, 0.0), (0.03, 0.02, 0.04)])
def test_swap_with_gate_and_measurement_noise(p2, p1, pm):
    """Two Werner links (F = 0.95, 0.85) swapped by a noisy Bell measurement: the mean delivered fidelity against
    the reference circuit's average state (3 s.e.; exact pairs have no spread without measurement noise)."""
    node = NodeSpec(name="n", gate_2q_error_probability=p2, gate_1q_error_probability=p1,
                    measure_error_probability=pm)
    links = [LinkSpec(distance_km=2.0, source_fidelity=0.95, dark_count_rate_hz=0.0),
             LinkSpec(distance_km=2.0, source_fidelity=0.85, dark_count_rate_hz=0.0)]
    result = run_chain(ChainSpec(links=links, node=node, num_pairs=300), seed=11)
    expected = ref.swap_average_state(ref.werner((4 * 0.95 - 1) / 3), ref.werner((4 * 0.85 - 1) / 3),
                                      p2=p2, p1=p1, pm=pm)
    assert_mean(result.fidelities, ref.fidelity_phi_plus(expected), (p2, p1, pm))


@pytest.mark.parametrize(("t1_factor", "t2_factor"), [(math.inf, 2.0), (1.0, 2.0), (1.0, 0.5), (3.0, 1.0)])
def test_end_memories_decay_with_t1_and_t2(t1_factor, t2_factor):
    """One 20 km double-click link: both memories wait emission → herald (one link delay) under amplitude
    damping and dephasing; the delivered fidelity equals the Kraus-map reference exactly."""
    link = LinkSpec(distance_km=20.0, source_fidelity=0.97, dark_count_rate_hz=0.0)
    delay_s = ps_to_seconds(link.delay_ps)
    t1_s, t2_s = t1_factor * delay_s, t2_factor * delay_s
    result = run_chain(ChainSpec(links=[link], node=NodeSpec(name="n", t1_s=t1_s, t2_s=t2_s), num_pairs=20), seed=5)
    assert {p.delivery_ps - p.links_created_ps for p in result.pairs} == {link.delay_ps}
    rho = ref.werner((4 * 0.97 - 1) / 3)
    for q in (0, 1):
        rho = ref.t1_t2(rho, q, 2, delay_s, t1_s, t2_s)
    np.testing.assert_allclose(result.fidelities, ref.fidelity_phi_plus(rho), rtol=0, atol=EXACT)


def test_direct_link_memories_wait_from_emission_and_from_arrival():
    """Direct scheme, 10 km: the sender's memory decoheres from its emission to the acknowledgment's return
    (2 link delays), the receiver's from the photon's arrival (1 delay); T1 = T2 = one delay."""
    link = LinkSpec(distance_km=10.0, scheme="direct", source_fidelity=0.97, dark_count_rate_hz=0.0)
    delay_s = ps_to_seconds(link.delay_ps)
    result = run_chain(ChainSpec(links=[link], node=NodeSpec(name="n", t1_s=delay_s, t2_s=delay_s), num_pairs=10),
                       seed=1)
    assert {p.delivery_ps - p.links_created_ps for p in result.pairs} == {2 * link.delay_ps}
    rho = ref.t1_t2(ref.werner((4 * 0.97 - 1) / 3), 0, 2, 2 * delay_s, delay_s, delay_s)
    rho = ref.t1_t2(rho, 1, 2, delay_s, delay_s, delay_s)
    np.testing.assert_allclose(result.fidelities, ref.fidelity_phi_plus(rho), rtol=0, atol=EXACT)


@pytest.mark.parametrize(("variant", "link_fields", "noise"), [
    ("bbpssw", dict(source_fidelity=0.8), (0.02, 0.01, 0.02)),
    ("dejmps", dict(source_fidelity=0.8), (0.02, 0.01, 0.02)),
    ("dejmps", dict(scheme="single_click", bright_state_alpha=0.2), (0.0, 0.0, 0.0)),
    ("dejmps", dict(dark_count_rate_hz=2e7), (0.0, 0.0, 0.0)),
])
def test_purification_round_against_the_reference_circuit(variant, link_fields, noise):
    """One pumping round: success probability (3 binomial s.e.) and kept fidelity (3 s.e.) against the reference
    circuit on the link's own heralded state (non-Bell-diagonal for single click, Bell-diagonal non-Werner with
    dark counts), with gate and measurement noise; BBPSSW twirls its inputs to Werner form first."""
    fields = dict(distance_km=2.0, dark_count_rate_hz=0.0)
    fields.update(link_fields)
    link = LinkSpec(**fields)
    p2, p1, pm = noise
    node = NodeSpec(name="n", gate_2q_error_probability=p2, gate_1q_error_probability=p1, measure_error_probability=pm)
    result = run_chain(ChainSpec(links=[link], node=node, purification_rounds=1, purification=variant,
                                 num_pairs=300), seed=3)
    rho = ref.big_to_little_endian_pair(np.asarray(link.delivered_state))
    if variant == "bbpssw":
        rho = ref.werner((4 * ref.fidelity_phi_plus(rho) - 1) / 3)
    probability, kept = ref.purify_round(rho, rho, variant, p2=p2, p1=p1, pm=pm)
    successes = sum(r.purify_successes for r in result.records.links)
    failures = sum(r.purify_failures for r in result.records.links)
    assert_rate(successes, successes + failures, probability, "success probability")
    assert_mean(result.fidelities, ref.fidelity_phi_plus(kept), "kept fidelity")


@pytest.mark.parametrize(("distance_km", "window"), [(2.0, 0), (2.0, 1)])
def test_cutoff_restarts_follow_the_geometric_law(distance_km, window):
    """Two midpoint links, cut-off c = d + (m + ½)·T (T = d, the attempt period): an attempt survives iff the
    repeater's older pair is at most m periods older at the swap. The first attempt of a round starts in lockstep
    (P0 = P(|N1 − N2| <= m)); after an abort the far initiator (node 0) hears it one link delay = one period
    later, so P' = P(−m−1 <= N0 − N1 <= m−1). Mean restarts per pair (1 − P0)/P' (3 s.e.)."""
    link = LinkSpec(distance_km=distance_km, dark_count_rate_hz=0.0)
    period, delay = link.attempt_period_ps, link.delay_ps
    assert period == delay
    p = link.success_probability
    cutoff_ps = delay + int((window + 0.5) * period)
    result = run_chain(ChainSpec(links=[link, link], node=NodeSpec(name="n"), cutoff_ps=cutoff_ps, num_pairs=250,
                                 max_restarts=10 ** 4), seed=7)

    def law(j):
        return p * (1 - p) ** abs(j) / (2 - p)

    first = sum(law(j) for j in range(-window, window + 1))
    later = sum(law(j) for j in range(-window - 1, window))
    assert_mean([pair.restarts for pair in result.pairs], (1 - first) / later, "restarts per pair")


# --------------------------------------------------------------------------- QKD

@pytest.mark.parametrize(("distance_km", "seed"), [(25.0, 7), (80.0, 8)])
def test_decoy_bb84_gains_qber_decoy_bounds_and_gllp(distance_km, seed):
    """Per-intensity gain and QBER against the two-detector receiver (3 binomial s.e.); the block's Y1^L, e1^U
    equal Ma et al. 2005 eqs. (34), (37) on its own counts; the asymptotic bounds bracket the true Y1, e1; the
    GLLP rate (Lo-Ma-Chen 2005) equals its formula."""
    detector = DetectorModel(dark_count_probability=5e-5)
    source = DecoySource()
    alice = alice_batch(np, source, seed, 0, 1_000_000)
    bob, _ = bob_detect(np, alice, transmittance=ChannelModel.from_fibre(distance_km), detector=detector, eve=None,
                        seed=seed)
    counts = block_counts(np, alice, bob, source.num_classes)
    eta = ref.transmittance(distance_km, 0.2, 0.0, detector.efficiency)
    p_b, e_d = detector.dark_count_probability, detector.misalignment
    exact = [ref.bb84_receiver(mu, eta, p_b, e_d) for mu in source.intensities]
    for k, (q, eq) in enumerate(exact):
        assert_rate(counts.detected[k], counts.sent[k], q, f"gain {k}")
        assert_rate(counts.errors[k], counts.sifted[k], eq / q, f"QBER {k}")
    gains = [d / s for d, s in zip(counts.detected, counts.sent)]
    qbers = [e / s for e, s in zip(counts.errors, counts.sifted)]
    result = estimate_block(counts, source)
    y1, e1 = ref.ma2005_y1_e1(0.5, 0.1, gains[0], gains[1], qbers[1], gains[2])
    assert abs(result.decoy.y1_lower - y1) < EXACT and abs(result.decoy.e1_upper - e1) < EXACT
    y1_true = 1 - (1 - eta) * (1 - p_b) ** 2
    e1_true = (eta * e_d * (1 - p_b / 2) + eta * (1 - e_d) * p_b / 2 + (1 - eta) * p_b * (1 - p_b / 2)) / y1_true
    y1_asym, e1_asym = ref.ma2005_y1_e1(0.5, 0.1, exact[0][0], exact[1][0], exact[1][1] / exact[1][0], exact[2][0])
    assert 0.95 * y1_true < y1_asym <= y1_true and e1_true <= e1_asym < e1_true + 0.01
    q_mu, e_mu = exact[0][0], exact[0][1] / exact[0][0]
    rate = 0.5 * (-q_mu * 1.16 * ref.h2(e_mu) + y1_true * 0.5 * math.exp(-0.5) * (1 - ref.h2(e1_true)))
    simulated = theoretical_key_rate(distance_km, dark_count_probability=p_b, detector_efficiency=detector.efficiency,
                                     misalignment=e_d)
    assert simulated == pytest.approx(max(rate, 0.0), rel=1e-12)


@pytest.mark.parametrize(("distance_km", "num_key_bits", "q_x"), [(20.0, 1e8, 0.8), (80.0, 1e9, 0.9)])
def test_lim2014_finite_key_length_against_its_equations(distance_km, num_key_bits, q_x):
    """Lim et al. 2014 eqs. (1)-(5), written out again, on the paper's expected counts (rel. 1e-12)."""
    mu, p = (0.5, 0.1, 2e-4), (0.7, 0.2, 0.1)
    _, key, key_err, test, test_err = expected_counts(distance_km, mu, p, q_x, num_key_bits)
    leak = 1.16 * binary_entropy(sum(key_err) / sum(key)) * num_key_bits
    result = finite_key_length(intensities=mu, probabilities=p, key_counts=key, test_counts=test,
                               test_errors=test_err, leakage_bits=leak)
    expected = ref.lim2014_length(mu, p, key, test, test_err, leak, 1e-10, 1e-15)
    assert expected > 0
    assert result.unclipped_length == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("n", "k", "errors"), [(10 ** 6, 10 ** 5, 3000), (10 ** 5, 10 ** 5, 500)])
def test_tomamichel2012_entangled_finite_key_against_its_equation(n, k, errors):
    """ℓ = n(1 − h(Q + μ)) − leak − log2(2/(ε_sec²ε_cor)), μ = √((n+k)/(nk)·(k+1)/k·ln(4/ε_sec)) (Tomamichel et
    al., Nat. Commun. 3, 634 (2012), eq. (2); ln(4/ε) as dqsim's docstring reads Lemma 3)."""
    result = entangled_finite_key_length(num_key_bits=n, num_test_bits=k, test_errors=errors, leakage_bits=1000.0)
    mu = math.sqrt((n + k) / (n * k) * (k + 1) / k * math.log(4 / 1e-10))
    expected = n * (1 - ref.h2(errors / k + mu)) - 1000.0 - math.log2(2 / (1e-20 * 1e-15))
    assert result.unclipped_length == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("werner", [1.0, 0.9, 0.75])
@pytest.mark.parametrize(("arm", "efficiency", "dark"), [(1.0, 1.0, 0.0), (0.3, 0.8, 1e-3)])
def test_bbm92_qber_and_e91_chsh_from_werner_pairs(werner, arm, efficiency, dark):
    """BBM92 QBER (1 − w·(q/c)²)/2 and E91 S = 2√2·w·(q/c)², c = 1 − (1 − Tη)(1 − d)² the click and
    q = Tη(1 − d) the 'photon decides the bit' probability per side (Bennett-Brassard-Mermin 1992; Ekert 1991;
    double clicks a random bit, Beaudry et al. 2008): 3 s.e. on 2e5 pairs."""
    p = arm * efficiency
    share = (p * (1 - dark) / (1 - (1 - p) * (1 - dark) ** 2)) ** 2
    kw = dict(transmittance_alice=arm, transmittance_bob=arm, efficiency=efficiency, dark_count_probability=dark,
              start_pair=0, num_pairs=200_000)
    stats = sifted_statistics(bbm92_batch(np, EntangledSource(werner=werner), seed=3, **kw))
    qber = (1 - werner * share) / 2
    if qber == 0.0:
        assert stats.num_errors == 0
    else:
        assert_rate(stats.num_errors, stats.num_sifted, qber, "BBM92 QBER")
    s, s_se = chsh_estimate(e91_batch(np, EntangledSource(werner=werner), seed=4, **kw))
    assert abs(abs(s) - 2 * math.sqrt(2) * werner * share) <= NUM_STANDARD_ERRORS * s_se


def test_ma_fung_lo_reference_counts_two_thermal_modes():
    """The references of the next tests: Ma, Fung and Lo's closed forms equal a direct count over two independent
    thermal modes (the two-mode squeezed vacuum in a matched basis) and the Fock-space source."""
    for lam, p_a, p_b in [(0.005, 0.1, 0.1), (0.05, 0.3, 0.02), (0.25, 1.0, 0.5)]:
        direct = ref.two_thermal_modes(lam, p_a, p_b)
        closed = ref.ma_fung_lo_2007(lam, p_a, p_b)
        assert direct == pytest.approx(closed, rel=1e-9)
    p_c, err, _e = ref.squashed_coincidences(ref.spdc_fock_patterns(0.05, 0.3, 0.02, 0.0, 0.0, cutoff=6))
    assert (p_c, err / p_c) == pytest.approx(ref.ma_fung_lo_2007(0.05, 0.3, 0.02), rel=1e-6)  # the Fock-space one


@pytest.mark.parametrize(("mean_pair_number", "arm"), [(0.01, 0.1), (0.1, 0.1), (0.1, 1.0)])
def test_spdc_multi_pair_qber_of_a_polarisation_entangled_source(mean_pair_number, arm):
    """Coincidence probability and QBER of a polarisation-entangled PDC source against Ma, Fung and Lo 2007
    (λ = μ/2; rel. 1e-6). Failed before the source was the two-mode squeezed vacuum (defect 2: dqsim's thermal
    count of independent pairs gave about twice their accidental QBER at small μ)."""
    p_c, qber = pair_statistics(mean_pair_number, transmittance_alice=arm, transmittance_bob=arm, efficiency=1.0,
                                dark_count_probability=0.0)
    q_ref, e_ref = ref.ma_fung_lo_2007(mean_pair_number / 2, arm, arm)
    assert p_c == pytest.approx(q_ref, rel=1e-6) and qber == pytest.approx(e_ref, rel=1e-6)


@pytest.mark.parametrize(("mean_pair_number", "eta_a", "eta_b"),
                         [(0.1, 0.3, 0.3), (0.5, 0.1, 0.1), (0.5, 0.5, 0.05), (1.5, 0.6, 0.6)])
def test_spdc_simulated_bbm92_gain_and_qber_against_ma_fung_lo(mean_pair_number, eta_a, eta_b):
    """bbm92_batch with the SPDC source, no dark counts, w = 1: matched-basis coincidences per slot (gain Q_λ
    times the sifted fraction 1/2) and their QBER E_λ within 3 binomial s.e. of Ma, Fung and Lo 2007; 2e5 slots."""
    num = 200_000
    batch = bbm92_batch(np, EntangledSource(werner=1.0, mean_pair_number=mean_pair_number), transmittance_alice=eta_a,
                        transmittance_bob=eta_b, efficiency=1.0, dark_count_probability=0.0, seed=11, start_pair=0,
                        num_pairs=num)
    stats = sifted_statistics(batch)
    gain, qber = ref.ma_fung_lo_2007(mean_pair_number / 2, eta_a, eta_b)
    assert_rate(stats.num_sifted, num, 0.5 * gain, "sifted coincidences per slot")
    assert_rate(stats.num_errors, stats.num_sifted, qber, "QBER")


SPDC_FOCK = dict(mean_pair_number=0.3, werner=0.95, misalignment=0.03, dark=1e-3, t_a=0.6, t_b=0.4, efficiency=0.9)


def _spdc_fock(alpha, beta, cutoff=6):
    """The Fock-space reference at SPDC_FOCK: Alice's photons misrouted with e_d, Bob's with the Werner
    noise's (1 - w)/2 followed by e_d (two independent flips)."""
    c = SPDC_FOCK
    e_w = (1 - c["werner"]) / 2
    wrong_b = e_w * (1 - c["misalignment"]) + c["misalignment"] * (1 - e_w)
    return ref.squashed_coincidences(ref.spdc_fock_patterns(
        c["mean_pair_number"] / 2, c["t_a"] * c["efficiency"], c["t_b"] * c["efficiency"], alpha, beta,
        wrong_a=c["misalignment"], wrong_b=wrong_b, dark_a=c["dark"], dark_b=c["dark"], cutoff=cutoff))


def _spdc_channel():
    c = SPDC_FOCK
    return dict(transmittance_alice=c["t_a"], transmittance_bob=c["t_b"], efficiency=c["efficiency"],
                dark_count_probability=c["dark"], misalignment=c["misalignment"], werner=c["werner"])


def test_spdc_closed_forms_against_the_fock_space_source():
    """spdc.pair_statistics (matched bases, here both at π/4) and expected_spdc_chsh (Ekert's four setting pairs,
    each computed at its own two angles, so the rotation invariance is checked too) against the two-mode
    squeezed vacuum in Fock space (6 pairs per mode, loss as Kraus operators, the analysers as unitaries,
    threshold detectors, misrouting, dark counts): rel. 1e-4 (the truncation leaves out ~2e-5)."""
    p_c, qber = pair_statistics(SPDC_FOCK["mean_pair_number"], **_spdc_channel())
    ref_c, ref_err, _e = _spdc_fock(math.pi / 4, math.pi / 4)
    assert p_c == pytest.approx(ref_c, rel=1e-4) and qber == pytest.approx(ref_err / ref_c, rel=1e-4)
    alice, bob = (0.0, math.pi / 4, math.pi / 2), (math.pi / 4, math.pi / 2, 3 * math.pi / 4)
    s_ref = abs(sum(sign * _spdc_fock(alice[a], bob[b])[2] for a, b, sign in E91_CHSH_TERMS))
    s = expected_spdc_chsh(SPDC_FOCK["mean_pair_number"], **_spdc_channel())
    assert s == pytest.approx(s_ref, rel=1e-4) and 2.0 < s < 2.5


def test_spdc_simulated_e91_correlators_against_the_fock_space_source():
    """e91_batch with the SPDC source (μ = 0.3, w = 0.95, e_d = 0.03, dark counts 1e-3): for each of the 9 setting
    pairs, coincidences per slot (binomial s.e.) and the correlator E (s.e. √((1 - E²)/N)) within 3 s.e. of the
    Fock-space reference at the pair's relative angle β - α (6 pairs per mode); 2e5 slots."""
    num = 200_000
    c = SPDC_FOCK
    batch = e91_batch(np, EntangledSource(werner=c["werner"], mean_pair_number=c["mean_pair_number"]),
                      misalignment=c["misalignment"], transmittance_alice=c["t_a"], transmittance_bob=c["t_b"],
                      efficiency=c["efficiency"], dark_count_probability=c["dark"], seed=12, start_pair=0,
                      num_pairs=num)
    counts = coincidence_counts(batch)
    alice, bob = (0.0, math.pi / 4, math.pi / 2), (math.pi / 4, math.pi / 2, 3 * math.pi / 4)
    reference = {}
    for a, b in itertools.product(range(3), range(3)):
        theta = round(bob[b] - alice[a], 12)
        if theta not in reference:
            reference[theta] = _spdc_fock(0.0, theta)
        p_c, _err, e = reference[theta]
        cell = counts[a, b]
        n = int(cell.sum())
        assert_rate(n, num, p_c / 9, f"coincidences at settings ({a}, {b})")
        measured = (cell[0, 0] + cell[1, 1] - cell[0, 1] - cell[1, 0]) / n
        assert abs(measured - e) <= NUM_STANDARD_ERRORS * math.sqrt((1 - e * e) / n), ((a, b), measured, e)
    assert len(reference) == 5


def test_default_qkd_sampler_with_dead_time_follows_the_renewal_law():
    """The scenario's default sampler (`detections`) with a 2.5 ns dead time at 1 GHz: ⌊τR⌋ = 2 blind pulses
    after each click, so registered clicks per pulse P/(1 + 2P) (renewal cycle 2 + Geometric(P), s.e.
    sqrt(N σ²/m³)/N) with P = Σ_k w_k Q_k over the classes; each class's share of the clicks w_k Q_k/P (3
    binomial s.e.). Q_k from the two-detector receiver."""
    from dqsim.protocols.qkd.detections import detect_batch, detection_counts

    source = DecoySource()
    blind = dead_time_pulses(2_500, 1e9)
    detector = DetectorModel(dark_count_probability=5e-5, dead_time_pulses=blind)
    num_pulses = 400_000
    # use_kernel=False: the NumPy path (the numba kernels give the same batch bit for bit, but compiling them
    # takes ~30 s; tests/test_qkd_detections.py covers that equality)
    batch, _ = detect_batch(source, channel=ChannelModel.from_fibre(5.0), detector=detector, seed=21, start_pulse=0,
                            num_pulses=num_pulses, use_kernel=False)
    counts = detection_counts(batch, source.num_classes)
    eta = ref.transmittance(5.0, 0.2, 0.0, detector.efficiency)
    gains = [ref.bb84_receiver(mu, eta, detector.dark_count_probability, detector.misalignment)[0]
             for mu in source.intensities]
    p = sum(w * q for w, q in zip(source.probabilities, gains))
    mean_cycle, var_cycle = blind + 1.0 / p, (1.0 - p) / p ** 2
    se = math.sqrt(num_pulses * var_cycle / mean_cycle ** 3) / num_pulses
    registered = sum(counts.detected)
    assert abs(registered / num_pulses - p / (1.0 + blind * p)) <= NUM_STANDARD_ERRORS * se
    for k, (w, q) in enumerate(zip(source.probabilities, gains)):
        assert_rate(counts.detected[k], registered, w * q / p, f"class {k} share")
