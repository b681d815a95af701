"""Physics of dqsim.network against independent computations.

Every formula is checked against a hand computation at several values, its
limits, and where it describes a random process, a seeded Monte Carlo
simulation of that process. Statistical tolerance: the empirical mean must
lie within 3 standard errors of the formula (a false alarm rate of ~0.3% per
check for a correct formula, and with fixed seeds the outcome never
changes). Werner-state formulas are checked against explicit density-matrix
computations with NumPy.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from dqsim import units
from dqsim.errors import ConfigError, DqsimError
from dqsim.network import (
    LinkSpec,
    NodeSpec,
    attempt_period_ps,
    attenuation_per_km,
    bbpssw_fidelity,
    bbpssw_success_probability,
    bell_diagonal_hashing_yield,
    chsh_value,
    dark_count_probability,
    dead_time_efficiency,
    decohered_fidelity,
    delivered_fidelity,
    delivered_state,
    detection_probability,
    fibre_transmittance,
    fidelity_from_werner,
    herald_delay_ps,
    mean_attempts,
    mean_attempts_two_links,
    mean_time_to_success_ps,
    photon_energy_j,
    photon_rate_hz,
    photons_per_attempt,
    plob_bound,
    propagation_delay_ps,
    raman_backward_power_w,
    raman_forward_power_w,
    raman_noise_click_probability,
    raman_noise_counts_per_gate,
    station_distance_km,
    success_probability,
    swap_fidelity,
    teleportation_fidelity,
    total_transmittance,
    werner_from_fidelity,
    werner_hashing_yield,
    werner_key_fraction,
)

#: Monte Carlo tolerance in standard errors (see the module docstring).
NUM_STANDARD_ERRORS = 3.0


def assert_within_standard_errors(samples: np.ndarray, expected: float) -> None:
    """The mean of ``samples`` lies within NUM_STANDARD_ERRORS standard errors of ``expected``."""
    samples = np.asarray(samples, dtype=np.float64)
    standard_error = samples.std(ddof=1) / math.sqrt(samples.size)
    assert standard_error > 0.0
    deviation = abs(samples.mean() - expected)
    assert deviation <= NUM_STANDARD_ERRORS * standard_error, (
        f"empirical {samples.mean():.6g} vs formula {expected:.6g}: "
        f"{deviation / standard_error:.2f} standard errors"
    )


# --------------------------------------------------------------------------- fibre


@pytest.mark.parametrize(
    ("distance_km", "attenuation_db_per_km", "expected"),
    [
        (0.0, 0.2, 1.0),
        (50.0, 0.2, 0.1),
        (100.0, 0.2, 0.01),
        (10.0, 0.3, 10.0 ** -0.3),
        (25.0, 0.16, 10.0 ** -0.4),
        (7.0, 0.0, 1.0),
    ],
)
def test_fibre_transmittance_hand_values(distance_km, attenuation_db_per_km, expected):
    assert fibre_transmittance(distance_km, attenuation_db_per_km) == pytest.approx(
        expected, rel=1e-12)


@pytest.mark.parametrize("distance_km", [0.5, 3.0, 40.0, 250.0])
def test_fibre_transmittance_is_exponential_in_natural_units(distance_km):
    alpha_per_km = 0.2 * math.log(10.0) / 10.0
    assert attenuation_per_km(0.2) == pytest.approx(alpha_per_km, rel=1e-15)
    assert fibre_transmittance(distance_km, 0.2) == pytest.approx(
        math.exp(-alpha_per_km * distance_km), rel=1e-12)


def test_fibre_transmittance_limits():
    assert fibre_transmittance(0.0, 5.0) == 1.0
    assert fibre_transmittance(100.0, 1e-12) == pytest.approx(1.0, abs=1e-9)
    # Doubling the length squares the transmittance.
    assert fibre_transmittance(60.0, 0.2) == pytest.approx(fibre_transmittance(30.0, 0.2) ** 2)


@pytest.mark.parametrize("distance_km", [0.0, 0.001, 1.0, 10.0, 123.4, 1000.0])
@pytest.mark.parametrize("group_index", [1.0, 1.4682, 1.5])
def test_propagation_delay_hand_values(distance_km, group_index):
    seconds = group_index * distance_km * 1000.0 / 299_792_458.0
    assert propagation_delay_ps(distance_km, group_index) == round(seconds * units.PS_PER_S)
    assert isinstance(propagation_delay_ps(distance_km, group_index), int)


def test_propagation_delay_known_value():
    # 1 km of vacuum is 3.3356409519815204 us.
    assert propagation_delay_ps(1.0, 1.0) == 3_335_641
    assert propagation_delay_ps(0.0) == 0


@pytest.mark.parametrize(
    ("distance_km", "attenuation", "coupling_db", "efficiency"),
    [(0.0, 0.2, 0.0, 1.0), (10.0, 0.2, 1.0, 0.9), (80.0, 0.18, 3.0, 0.5), (5.0, 0.0, 0.0, 0.25)],
)
def test_total_transmittance_multiplies_losses(distance_km, attenuation, coupling_db, efficiency):
    expected = (10.0 ** (-attenuation * distance_km / 10.0)) * (10.0 ** (-coupling_db / 10.0)) \
        * efficiency
    assert total_transmittance(distance_km, attenuation, coupling_db, efficiency) == \
        pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- detectors


@pytest.mark.parametrize(
    ("mu", "eta", "y0"),
    [(0.5, 0.1, 0.0), (0.1, 1.0, 0.0), (1.0, 0.01, 1e-5), (0.0, 0.5, 3e-4), (5.0, 0.3, 0.01)],
)
def test_detection_probability_hand_values(mu, eta, y0):
    # Sum over the Poisson photon number of the yields Y_i = 1 - (1 - Y0)(1 - eta)^i.
    expected = sum(
        math.exp(-mu) * mu ** i / math.factorial(i) * (1.0 - (1.0 - y0) * (1.0 - eta) ** i)
        for i in range(80)
    )
    assert detection_probability(mu, eta, y0) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_detection_probability_monte_carlo():
    """Sample photon number, loss and dark count per pulse; compare the click rate."""
    rng = np.random.default_rng(20240601)
    mu, eta, y0, num_pulses = 0.6, 0.2, 2e-3, 400_000
    photons = rng.poisson(mu, num_pulses)
    arrived = rng.binomial(photons, eta)
    dark = rng.random(num_pulses) < y0
    clicks = (arrived > 0) | dark
    assert_within_standard_errors(clicks, detection_probability(mu, eta, y0))


@pytest.mark.parametrize(
    ("rate_hz", "width_ps"), [(0.0, 1000), (10.0, 1000), (100.0, 1000), (1e6, 1000), (5e4, 20_000)]
)
def test_dark_count_probability_hand_values(rate_hz, width_ps):
    x = rate_hz * width_ps / units.PS_PER_S
    # 1 - e^(-x) by its Taylor series (no cancellation for small x).
    expected = -sum((-x) ** k / math.factorial(k) for k in range(1, 30))
    assert dark_count_probability(rate_hz, width_ps) == pytest.approx(expected, rel=1e-12,
                                                                      abs=1e-300)
    # Small rate·width: the probability is the mean number of dark counts.
    if rate_hz * width_ps / units.PS_PER_S < 1e-6:
        assert dark_count_probability(rate_hz, width_ps) == pytest.approx(
            rate_hz * width_ps / units.PS_PER_S, rel=1e-6)


@pytest.mark.parametrize(("rate_hz", "dead_ps", "expected"),
                         [(0.0, 10**6, 1.0), (1e6, 0, 1.0), (1e6, 10**6, 0.5),
                          (2e5, 50_000, 1.0 / 1.01)])
def test_dead_time_efficiency_hand_values(rate_hz, dead_ps, expected):
    assert dead_time_efficiency(rate_hz, dead_ps) == pytest.approx(expected, rel=1e-12)


def test_dead_time_efficiency_monte_carlo():
    """Poisson events through a non-paralysable dead time; compare the registered fraction."""
    rng = np.random.default_rng(7)
    rate_hz, dead_ps, num_events = 2e6, 300_000, 200_000
    gaps_s = rng.exponential(1.0 / rate_hz, num_events)
    times_s = np.cumsum(gaps_s)
    dead_s = units.ps_to_seconds(dead_ps)
    registered = np.zeros(num_events, dtype=bool)
    blind_until = -1.0
    for i, t in enumerate(times_s.tolist()):
        if t >= blind_until:
            registered[i] = True
            blind_until = t + dead_s
    # Registered fraction of events vs 1/(1 + R tau); events are not independent,
    # so compare the rates over the whole run with a generous 1% relative tolerance
    # (the run holds ~1e5 registered events, relative noise ~0.3%).
    assert registered.mean() == pytest.approx(dead_time_efficiency(rate_hz, dead_ps), rel=0.01)


# --------------------------------------------------------------------------- Raman


RAMAN_CASES = [
    # launch dBm, L km, att dB/km, rho /(km nm), filter nm
    (0.0, 25.0, 0.2, 3e-9, 1.0),
    (-10.0, 50.0, 0.2, 1e-9, 0.6),
    (5.0, 1.0, 0.35, 5e-9, 0.1),
    (0.0, 120.0, 0.16, 2e-9, 0.8),
]


@pytest.mark.parametrize(("dbm", "length_km", "att", "rho", "band_nm"), RAMAN_CASES)
def test_raman_powers_match_eraerds_form(dbm, length_km, att, rho, band_nm):
    power_w = 1e-3 * 10.0 ** (dbm / 10.0)
    alpha = att * math.log(10.0) / 10.0
    out_w = power_w * math.exp(-alpha * length_km)
    # Eraerds et al. (2010), written with the output power P_out.
    forward_w = out_w * length_km * rho * band_nm
    backward_w = out_w * math.sinh(alpha * length_km) / alpha * rho * band_nm
    kwargs = dict(filter_bandwidth_nm=band_nm, attenuation_db_per_km=att,
                  raman_cross_section_per_km_per_nm=rho)
    assert raman_forward_power_w(dbm, length_km, **kwargs) == pytest.approx(forward_w, rel=1e-12)
    assert raman_backward_power_w(dbm, length_km, **kwargs) == pytest.approx(backward_w, rel=1e-12)


@pytest.mark.parametrize(("dbm", "length_km", "att", "rho", "band_nm"), RAMAN_CASES)
def test_raman_powers_match_numerical_integration(dbm, length_km, att, rho, band_nm):
    """Integrate the light scattered at each z, attenuated on its way to the receiver."""
    power_w = 1e-3 * 10.0 ** (dbm / 10.0)
    alpha = att * math.log(10.0) / 10.0
    z = np.linspace(0.0, length_km, 200_001)
    forward_density = (power_w * np.exp(-alpha * z) * rho * band_nm
                       * np.exp(-alpha * (length_km - z)))
    backward_density = power_w * np.exp(-alpha * z) * rho * band_nm * np.exp(-alpha * z)
    kwargs = dict(filter_bandwidth_nm=band_nm, attenuation_db_per_km=att,
                  raman_cross_section_per_km_per_nm=rho)
    assert raman_forward_power_w(dbm, length_km, **kwargs) == pytest.approx(
        np.trapezoid(forward_density, z), rel=1e-8)
    assert raman_backward_power_w(dbm, length_km, **kwargs) == pytest.approx(
        np.trapezoid(backward_density, z), rel=1e-8)


def test_raman_limits():
    kwargs = dict(filter_bandwidth_nm=1.0, raman_cross_section_per_km_per_nm=3e-9)
    # Zero length: no noise.
    assert raman_forward_power_w(0.0, 0.0, **kwargs) == 0.0
    assert raman_backward_power_w(0.0, 0.0, **kwargs) == 0.0
    # Lossless fibre: both grow linearly, P rho dlambda L.
    for length_km in (1.0, 10.0):
        expected = 1e-3 * 3e-9 * length_km
        assert raman_forward_power_w(0.0, length_km, attenuation_db_per_km=0.0, **kwargs) == \
            pytest.approx(expected, rel=1e-12)
        assert raman_backward_power_w(0.0, length_km, attenuation_db_per_km=0.0, **kwargs) == \
            pytest.approx(expected, rel=1e-12)
        assert raman_backward_power_w(0.0, length_km, attenuation_db_per_km=1e-12, **kwargs) == \
            pytest.approx(expected, rel=1e-9)
    # Long fibre: backward saturates at P rho dlambda / (2 alpha); forward vanishes.
    alpha = 0.2 * math.log(10.0) / 10.0
    assert raman_backward_power_w(0.0, 2000.0, **kwargs) == pytest.approx(
        1e-3 * 3e-9 / (2.0 * alpha), rel=1e-12)
    assert raman_forward_power_w(0.0, 2000.0, **kwargs) < 1e-40
    # Forward noise peaks at L = 1/alpha.
    peak_km = 1.0 / alpha
    assert raman_forward_power_w(0.0, peak_km, **kwargs) > raman_forward_power_w(
        0.0, 0.9 * peak_km, **kwargs)
    assert raman_forward_power_w(0.0, peak_km, **kwargs) > raman_forward_power_w(
        0.0, 1.1 * peak_km, **kwargs)


@pytest.mark.parametrize("wavelength_nm", [1310.0, 1550.0, 800.0])
@pytest.mark.parametrize(("power_w", "eta", "width_ps"),
                         [(1e-12, 0.5, 1000), (2.4e-11, 0.9, 1500), (0.0, 0.9, 1000)])
def test_raman_counts_per_gate(wavelength_nm, power_w, eta, width_ps):
    energy_j = 6.62607015e-34 * 299_792_458.0 / (wavelength_nm * 1e-9)
    assert photon_energy_j(wavelength_nm) == pytest.approx(energy_j, rel=1e-14)
    assert photon_rate_hz(power_w, wavelength_nm) == pytest.approx(power_w / energy_j, rel=1e-12)
    expected = power_w / energy_j * eta * width_ps / units.PS_PER_S
    counts = raman_noise_counts_per_gate(power_w, detector_efficiency=eta, gate_width_ps=width_ps,
                                         wavelength_nm=wavelength_nm)
    assert counts == pytest.approx(expected, rel=1e-12)
    assert raman_noise_click_probability(counts) == pytest.approx(1.0 - math.exp(-expected),
                                                                  rel=1e-12, abs=1e-300)


def test_raman_photon_rate_known_value():
    # 1 pW at 1550 nm is 7.80e6 photons per second.
    assert photon_rate_hz(1e-12, 1550.0) == pytest.approx(7.8028e6, rel=1e-4)


# --------------------------------------------------------------------------- entanglement


@pytest.mark.parametrize("distance_km", [0.0, 2.0, 50.0])
def test_station_distance(distance_km):
    assert station_distance_km("single_click", distance_km) == distance_km / 2
    assert station_distance_km("double_click", distance_km) == distance_km / 2
    assert station_distance_km("direct", distance_km) == distance_km


@pytest.mark.parametrize("eta", [0.0, 0.01, 0.3, 0.9, 1.0])
@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.5])
def test_success_probability_hand_values(eta, alpha):
    # single click, threshold detectors: some photon arrives, 1 - (1 - alpha eta)^2 (the leading-order
    # 2 alpha eta over-counts it by (alpha eta)^2: two photons bunch into one detector, one click)
    exact = 1.0 - (1.0 - alpha * eta) ** 2
    assert success_probability("single_click", eta, bright_state_alpha=alpha) == pytest.approx(exact, rel=1e-14)
    assert 2.0 * alpha * eta - success_probability("single_click", eta, bright_state_alpha=alpha) == \
        pytest.approx((alpha * eta) ** 2, abs=1e-15)
    assert success_probability("double_click", eta) == pytest.approx(eta * eta / 2.0, rel=1e-15)
    assert success_probability("direct", eta) == eta


def test_double_click_monte_carlo():
    """Barrett-Kok: sample spins, then photon loss per arm in each round."""
    rng = np.random.default_rng(1234)
    eta, num_attempts = 0.3, 400_000
    up_a = rng.random(num_attempts) < 0.5  # spin up emits in round 1, flipped to emit in round 2
    up_b = rng.random(num_attempts) < 0.5
    survive = rng.random((4, num_attempts)) < eta  # (arm a, arm b) x (round 1, round 2)
    click_round_1 = (up_a & survive[0]) | (up_b & survive[1])
    click_round_2 = (~up_a & survive[2]) | (~up_b & survive[3])
    success = click_round_1 & click_round_2
    assert_within_standard_errors(success, success_probability("double_click", eta))


def test_single_click_monte_carlo():
    """Sample emission (probability alpha) and loss per arm; one click heralds."""
    rng = np.random.default_rng(99)
    alpha, eta, num_attempts = 0.1, 0.02, 2_000_000
    emitted = rng.random((2, num_attempts)) < alpha
    arrived = emitted & (rng.random((2, num_attempts)) < eta)
    # Threshold detectors after a beam splitter: two photons bunch into one detector,
    # so the pattern "one detector clicks" occurs whenever any photon arrives.
    herald = arrived.any(axis=0)
    assert_within_standard_errors(herald, success_probability("single_click", eta,
                                                              bright_state_alpha=alpha))
    # The heralded state is the Bell state when exactly one node emitted, and |11>
    # (fidelity 0) when both did.
    good = (emitted.sum(axis=0) == 1)[herald]
    assert_within_standard_errors(good, delivered_fidelity("single_click", bright_state_alpha=alpha,
                                                           arm_transmittance=eta))


def _station_clicks(rng, photons: np.ndarray, p_dark: float) -> np.ndarray:
    """One round at a two-detector station: photons (bunched: all into one random detector) and independent
    dark counts; True where exactly one detector clicks."""
    size = photons.size
    to_first = rng.random(size) < 0.5
    first = ((photons > 0) & to_first) | (rng.random(size) < p_dark)
    second = ((photons > 0) & ~to_first) | (rng.random(size) < p_dark)
    return first ^ second


def _herald_fractions(herald: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples of the herald (per attempt) and of its being true (per herald)."""
    return herald, true[herald]


@pytest.mark.parametrize("scheme, eta, alpha, p_dark, num", [
    ("double_click", 0.05, 0.1, 0.01, 1_000_000),
    ("direct", 0.01, 0.1, 0.005, 400_000),
])
def test_dark_counts_monte_carlo(scheme, eta, alpha, p_dark, num):
    """Detector by detector: photons (emission, loss, bunching at the beam splitter) and dark counts with
    probability p_d per detector and gate; a round heralds when exactly one of the station's two detectors
    clicks (``direct``: the receiver's one detector). The herald rate is success_probability (3 s.e.), and the
    share of heralds whose clicks all came from photons is P_true/P (3 s.e.): for ``direct`` it sets the Werner
    parameter, w = w_true × P_true/P (false heralds at F = 1/4); for ``double_click`` it is the weight of Φ+
    less that of Φ− in delivered_state (only the true heralds' Φ+ tells them apart). The heralded states
    themselves: test_double_click_photon_by_photon_monte_carlo and
    test_single_click_photon_by_photon_monte_carlo."""
    rng = np.random.default_rng(2024)
    if scheme == "direct":
        arrived = rng.random(num) < eta
        herald, true = _herald_fractions(arrived | (rng.random(num) < p_dark), arrived)
    else:
        up_a, up_b = rng.random(num) < 0.5, rng.random(num) < 0.5  # bright in round 1; flipped for round 2
        survive = rng.random((4, num)) < eta
        round_1 = (up_a & survive[0]).astype(int) + (up_b & survive[1])
        round_2 = (~up_a & survive[2]).astype(int) + (~up_b & survive[3])
        clicks = _station_clicks(rng, round_1, p_dark) & _station_clicks(rng, round_2, p_dark)
        # true: one photon per round (one node bright in each), both detected
        herald, true = _herald_fractions(clicks, (up_a != up_b) & (round_1 == 1) & (round_2 == 1))
    assert_within_standard_errors(herald, success_probability(scheme, eta, bright_state_alpha=alpha,
                                                              dark_count_probability=p_dark))
    if scheme == "direct":
        f_true = delivered_fidelity(scheme, bright_state_alpha=alpha)
        f = delivered_fidelity(scheme, bright_state_alpha=alpha, arm_transmittance=eta, dark_count_probability=p_dark)
        share = werner_from_fidelity(f) / werner_from_fidelity(f_true)
    else:
        weights = bell_weights(delivered_state(scheme, arm_transmittance=eta, dark_count_probability=p_dark))
        share = weights[0] - weights[1]
    assert share < 0.9  # the dark counts matter here
    assert_within_standard_errors(true, share)


# Photon-number outcomes (n_c, n_d) at the station's two detectors, for the single-click Monte Carlo.
_FOCK_OUTCOMES = ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2))


def _beam_splitter_table() -> np.ndarray:
    """Amplitudes ``[n_a + 2 n_b, outcome]`` of |n_a, n_b⟩ (n ≤ 1 per input) after the 50:50 beam splitter
    a† → (c† + d†)/√2, b† → (c† − d†)/√2: expand the creation operators, (c†)^k|0⟩ = √k!|k⟩."""
    table = np.zeros((4, len(_FOCK_OUTCOMES)))
    for n_a in (0, 1):
        for n_b in (0, 1):
            poly = {(0, 0): 1.0}  # coefficient of c†^i d†^j
            for sign, present in ((1.0, n_a), (-1.0, n_b)):
                if present:
                    new = {}
                    for (i, j), coefficient in poly.items():
                        new[(i + 1, j)] = new.get((i + 1, j), 0.0) + coefficient / math.sqrt(2.0)
                        new[(i, j + 1)] = new.get((i, j + 1), 0.0) + sign * coefficient / math.sqrt(2.0)
                    poly = new
            for (i, j), coefficient in poly.items():
                table[n_a + 2 * n_b, _FOCK_OUTCOMES.index((i, j))] += coefficient * math.sqrt(
                    math.factorial(i) * math.factorial(j))
    return table


def _single_click_trajectories(rng, alpha: float, eta: float, p_dark: float, num: int):
    """Photon by photon: each node's spin ⊗ photon in √(1−α)|d,0⟩ + √α|b,1⟩; each photon lost with probability
    1 − η (a lost photon is a record in the environment: the trajectory projects that node onto bright, no
    photon; else the Kraus operator diag(1, √η) keeps the amplitudes); the beam splitter; a photon-number
    measurement of both output modes (threshold detectors see n > 0); an independent dark count per detector;
    a herald is exactly one clicking detector. Heralded trajectories get Z on node b when detector d clicked,
    then X on node b (Ψ+ → Φ+). Returns the herald flags (per attempt) and the heralded two-spin states as
    little-endian 4-vectors (index i_a + 2 i_b, bright = |1⟩ on a, |0⟩ on b after the X)."""
    table = _beam_splitter_table()
    amplitudes, photons = [], []
    for _node in range(2):
        amp = np.tile([math.sqrt(1.0 - alpha), math.sqrt(alpha)], (num, 1))  # (dark, bright)
        lost = rng.random(num) < np.abs(amp[:, 1]) ** 2 * (1.0 - eta)
        amp[:, 1] *= math.sqrt(eta)
        amp[lost] = (0.0, 1.0)
        amp /= np.linalg.norm(amp, axis=1, keepdims=True)
        amplitudes.append(amp)
        photons.append(np.stack([np.zeros(num, int), (~lost).astype(int)], axis=1))  # photon iff bright, not lost
    # spin configurations s = s_a + 2 s_b
    joint = (amplitudes[0][:, None, :] * amplitudes[1][:, :, None]).reshape(num, 4)
    fock = (photons[0][:, None, :] + 2 * photons[1][:, :, None]).reshape(num, 4)
    terms = joint[:, :, None] * table[fock]  # [trajectory, spins, photon outcome]
    weights = (np.abs(terms) ** 2).sum(axis=1)
    cumulative = np.cumsum(weights, axis=1)
    outcome = (rng.random((num, 1)) * cumulative[:, -1:] > cumulative).sum(axis=1)
    n_c = np.array([o[0] for o in _FOCK_OUTCOMES])[outcome]
    n_d = np.array([o[1] for o in _FOCK_OUTCOMES])[outcome]
    click_c = (n_c > 0) | (rng.random(num) < p_dark)
    click_d = (n_d > 0) | (rng.random(num) < p_dark)
    herald = click_c ^ click_d
    state = terms[np.arange(num), :, outcome][herald]
    state /= np.linalg.norm(state, axis=1, keepdims=True)
    state[click_d[herald], 2:] *= -1.0  # Z on node b (its bright spin is s_b = 1)
    state = state[:, [2, 3, 0, 1]]  # X on node b: s_b -> 1 - s_b
    return herald, state


_BELL_VECTORS = np.array([[1, 0, 0, 1], [1, 0, 0, -1], [0, 1, 1, 0], [0, -1, 1, 0]]) / math.sqrt(2.0)  # Φ± Ψ±


def bell_weights(rho: np.ndarray) -> np.ndarray:
    """``(p(Φ+), p(Φ−), p(Ψ+), p(Ψ−))`` of a 4x4 state, little-endian (real Bell vectors)."""
    return np.real(np.einsum("ki,ij,kj->k", _BELL_VECTORS, rho, _BELL_VECTORS))


def assert_state_matches_trajectories(rho: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rho`` is a density matrix, and every element (real and imaginary part) and every nonzero Bell weight
    of it lies within NUM_STANDARD_ERRORS standard errors of the mean over the heralded pure ``states``
    (rows: little-endian 4-vectors). Returns the overlaps ⟨B_k|ψ⟩ per state and the Bell weights."""
    assert np.allclose(rho, rho.conj().T) and abs(np.trace(rho) - 1) < 1e-12 and np.linalg.eigvalsh(rho).min() > -1e-12
    outer = states[:, :, None] * states[:, None, :].conj()
    for i in range(4):
        for j in range(4):
            for part in (np.real, np.imag):
                samples = part(outer[:, i, j])
                error = samples.std(ddof=1) / math.sqrt(samples.size)
                assert abs(samples.mean() - part(rho[i, j])) <= NUM_STANDARD_ERRORS * error + 1e-12, (i, j)
    overlaps = states @ _BELL_VECTORS.T  # ⟨B_k|ψ⟩ (real Bell vectors)
    weights = bell_weights(rho)
    for k in range(4):
        if weights[k] > 0:
            assert_within_standard_errors(np.abs(overlaps[:, k]) ** 2, weights[k])
    return overlaps, weights


@pytest.mark.parametrize("alpha, eta, p_dark, num", [
    (0.3, 0.8, 0.0, 60_000),     # αη = 0.24: p = 0.422 (2αη = 0.48), F = 0.795 (1 − α = 0.7)
    (0.5, 0.6, 0.05, 60_000),    # αη = 0.3 and dark counts
    (0.1, 0.1, 0.005, 300_000),  # αη = 0.01: a third of the heralds are false
])
def test_single_click_photon_by_photon_monte_carlo(alpha, eta, p_dark, num):
    """The module's single-click success probability, delivered density matrix (every element), Bell weights
    and the Ψ+/Ψ− coherence against trajectories of the physical model (_single_click_trajectories), 3 s.e.
    each; the leading-order formulas 2αη and 1 − α, and the Werner state of the same fidelity, fail here."""
    rng = np.random.default_rng(20261205)
    herald, states = _single_click_trajectories(rng, alpha, eta, p_dark, num)
    p = success_probability("single_click", eta, bright_state_alpha=alpha, dark_count_probability=p_dark)
    assert_within_standard_errors(herald, p)
    rho = delivered_state("single_click", bright_state_alpha=alpha, arm_transmittance=eta,
                          dark_count_probability=p_dark)
    overlaps, weights = assert_state_matches_trajectories(rho, states)
    fidelity = delivered_fidelity("single_click", bright_state_alpha=alpha, arm_transmittance=eta,
                                  dark_count_probability=p_dark)
    assert fidelity == pytest.approx(weights[0], abs=1e-14)
    assert_within_standard_errors(np.real(overlaps[:, 2] * overlaps[:, 3].conj()), rho_psi_coherence(rho))
    # the coherence makes it no Werner (nor Bell-diagonal) state: Φ− holds c_bd, Ψ± (1 − F − c_bd)/2 each
    assert abs(rho_psi_coherence(rho)) > 0.01


class _PhotonCountingContext:
    """Just what :func:`dqsim.protocols.epr.emit_pair` touches of a node's context: it records the photons it
    counts and draws from one NumPy generator (the binomial draw it made until 2026-12-07 (late night) too)."""

    node = 0

    def __init__(self, rng: np.random.Generator):
        self.rng, self.photons = rng, []

    def bell_pair(self, *args, **kwargs) -> None:
        pass

    def count(self, key, value) -> None:
        if key[0] == "photons":
            self.photons.append(value)

    def stream(self, purpose: str):
        return self

    def binomial(self, n: int, p: float) -> int:
        return int(self.rng.binomial(n, p))

    def next_transient_generator(self) -> np.random.Generator:
        return self.rng


def _single_click_pairs(rng, alpha: float, eta: float, p_dark: float, num_attempts: int):
    """``(attempts, photons)`` of each pair in a photon-level simulation of ``num_attempts`` single-click
    attempts: each node's pulse holds a photon with probability α, each photon reaches the station with
    probability η, the photons that arrive take one detector (_station_clicks: one photon a random one, two
    bunched), each detector dark-counts with probability p_d, and an attempt heralds when exactly one clicks;
    a pair is the attempts after the last herald up to and including the next."""
    sent = (rng.random((2, num_attempts)) < alpha).sum(axis=0)
    herald = _station_clicks(rng, rng.binomial(sent, eta), p_dark)
    ends = np.flatnonzero(herald)
    photons_to = np.cumsum(sent)[ends]
    return np.diff(ends, prepend=-1), np.diff(photons_to, prepend=0)


def test_single_click_photons_of_a_pair_follow_the_photon_level_model():
    """review6 R6-5: emit_pair drew a single-click pair's photons as Binomial(2n, α) over its n attempts, as if
    the herald told nothing about them; without dark counts a one-attempt pair then sent no photon with
    probability (1 − α)², though its herald needs one. Now its n − 1 failed attempts and the heralding one are
    drawn from their conditional laws (single_click_photon_laws). Against a photon-level simulation
    (_single_click_pairs, 3·10**6 attempts): the pairs of n = 1 and n = 3 attempts, and emit_pair's counts for
    20,000 pairs of each, agree in every photon total's frequency within 4 standard errors of the difference
    of two proportions (pooled); the binomial misses n = 1's P(0) = 0.11 by 0.38 (z ≈ 160)."""
    from dqsim.network.entanglement import single_click_photon_laws
    from dqsim.protocols.epr import emit_pair

    link = LinkSpec(distance_km=10.0, scheme="single_click", bright_state_alpha=0.3, dark_count_rate_hz=5e7)
    alpha, eta, p_dark = link.bright_state_alpha, link.arm_transmittance, link.dark_count_probability
    assert 0.5 < eta < 0.9 and 0.01 < p_dark < 0.1
    rng = np.random.default_rng(20261207)
    attempts, photons = _single_click_pairs(rng, alpha, eta, p_dark, 3_000_000)
    assert_within_standard_errors(attempts == 1, link.success_probability)
    heralded = single_click_photon_laws(alpha, eta, p_dark)[1]
    for n in (1, 3):
        simulated = photons[attempts == n]
        ctx = _PhotonCountingContext(np.random.default_rng(n))
        for _ in range(20_000):
            emit_pair(ctx, 1, link, 0, 1, n)
        drawn = np.array(ctx.photons)
        for total in range(2 * n + 1):
            p_sim, p_drawn = np.mean(simulated == total), np.mean(drawn == total)
            pooled = (p_sim * simulated.size + p_drawn * drawn.size) / (simulated.size + drawn.size)
            sigma = math.sqrt(pooled * (1 - pooled) * (1 / simulated.size + 1 / drawn.size))
            assert abs(p_drawn - p_sim) <= 4 * sigma, (n, total, p_drawn, p_sim, sigma)
            if n == 1:
                assert p_sim == pytest.approx(heralded[total], abs=4 * sigma)


def _barrett_kok_branches(eta: float) -> tuple[np.ndarray, np.ndarray]:
    """The loss branches of one Barrett-Kok attempt and their amplitudes, from the physical model.

    Each node's spin is (|0⟩ + |1⟩)/√2; spin s emits one photon in round s (0: the first, 1: the second, after
    the π flip). A node's photon survives with probability η (amplitudes kept) or is lost (probability 1 − η):
    the environment then holds its round, i.e. the spin is measured in Z, s = 0 or 1 with probability 1/2 each.
    So a node has three branches: kept (η), lost with s = 0 ((1 − η)/2), lost with s = 1 ((1 − η)/2). Per
    round the beam splitter acts on the photons of that round (_beam_splitter_table). Returns the nine joint
    branches' probabilities and amplitudes ``[branch, s_a + 2 s_b, outcome of round 1, outcome of round 2]``
    (outcomes: _FOCK_OUTCOMES; unnormalised within a branch: Σ |amplitude|² = 1)."""
    table = _beam_splitter_table()
    node_branches = [(eta, (1 / math.sqrt(2), 1 / math.sqrt(2)), True),
                     ((1 - eta) / 2, (1.0, 0.0), False), ((1 - eta) / 2, (0.0, 1.0), False)]
    probabilities, amplitudes = [], []
    for p_a, amp_a, kept_a in node_branches:
        for p_b, amp_b, kept_b in node_branches:
            terms = np.zeros((4, len(_FOCK_OUTCOMES), len(_FOCK_OUTCOMES)))
            for s_a in (0, 1):
                for s_b in (0, 1):
                    n = [[int(kept_a and s_a == r), int(kept_b and s_b == r)] for r in (0, 1)]  # photons per round
                    terms[s_a + 2 * s_b] = amp_a[s_a] * amp_b[s_b] * np.outer(table[n[0][0] + 2 * n[0][1]],
                                                                              table[n[1][0] + 2 * n[1][1]])
            probabilities.append(p_a * p_b)
            amplitudes.append(terms)
    return np.array(probabilities), np.array(amplitudes)


def _double_click_trajectories(rng, eta: float, p_dark: float, num: int):
    """Photon by photon: a loss branch (_barrett_kok_branches), the photon-number outcome of both detectors in
    both rounds drawn from its amplitudes, an independent dark count per detector and round (threshold
    detectors click on n > 0 or a dark count); a herald is exactly one clicking detector in each round.
    Heralded trajectories get Z on node b when the rounds' clicking detectors differ (Ψ− → Ψ+), then X on node
    b (Ψ+ → Φ+). Returns the herald flags (per attempt) and the heralded spin states (little-endian 4-vectors,
    index s_a + 2 s_b)."""
    probabilities, amplitudes = _barrett_kok_branches(eta)
    num_outcomes = len(_FOCK_OUTCOMES)
    joint = (np.abs(amplitudes) ** 2).sum(axis=1).reshape(len(probabilities), -1)  # [branch, (o1, o2)]
    assert np.allclose(joint.sum(axis=1), 1.0)
    branch = rng.choice(len(probabilities), size=num, p=probabilities)
    cumulative = np.cumsum(joint, axis=1)[branch]
    flat = np.minimum((rng.random((num, 1)) * cumulative[:, -1:] > cumulative).sum(axis=1), joint.shape[1] - 1)
    outcomes = np.array(_FOCK_OUTCOMES)
    clicks = []  # per round: (click c, click d)
    for o in (flat // num_outcomes, flat % num_outcomes):
        clicks.append(((outcomes[o, 0] > 0) | (rng.random(num) < p_dark),
                       (outcomes[o, 1] > 0) | (rng.random(num) < p_dark)))
    herald = (clicks[0][0] ^ clicks[0][1]) & (clicks[1][0] ^ clicks[1][1])
    state = amplitudes[branch[herald], :, flat[herald] // num_outcomes, flat[herald] % num_outcomes]
    state /= np.linalg.norm(state, axis=1, keepdims=True)
    differ = (clicks[0][0] != clicks[1][0])[herald]  # c then d, or d then c
    state[differ, 2:] *= -1.0  # Z on node b
    state = state[:, [2, 3, 0, 1]]  # X on node b
    return herald, state


@pytest.mark.parametrize("eta, p_dark, num", [
    (0.3, 0.0, 100_000),      # no dark counts: Φ+ every time, p = η²/2
    (0.3, 0.02, 300_000),     # a third of the heralds false, most with a photon lost
    (0.9, 0.05, 100_000),     # false heralds mostly two photons bunched in one round
    (0.05, 0.004, 1_000_000),  # false heralds as many as true ones
])
def test_double_click_photon_by_photon_monte_carlo(eta, p_dark, num):
    """The module's double-click success probability and delivered density matrix (every element, real and
    imaginary part) and its Bell weights against trajectories of the physical model
    (_double_click_trajectories), 3 s.e. each. The state is Bell diagonal and, with dark counts, no Werner
    state: Ψ+ and Ψ− hold the bunched false heralds, Φ− only a quarter of the mixed ones."""
    rng = np.random.default_rng(20261206)
    herald, states = _double_click_trajectories(rng, eta, p_dark, num)
    p = success_probability("double_click", eta, dark_count_probability=p_dark)
    assert_within_standard_errors(herald, p)
    rho = delivered_state("double_click", arm_transmittance=eta, dark_count_probability=p_dark)
    overlaps, weights = assert_state_matches_trajectories(rho, states)
    for k in range(4):
        if weights[k] == 0:
            assert np.abs(overlaps[:, k]).max() < 1e-12
    assert delivered_fidelity("double_click", arm_transmittance=eta, dark_count_probability=p_dark) == \
        pytest.approx(weights[0], abs=1e-14)
    # Bell diagonal: no coherence between Bell states
    off = _BELL_VECTORS @ np.real(rho) @ _BELL_VECTORS.T
    assert np.abs(off - np.diag(np.diag(off))).max() < 1e-14
    if p_dark > 0 and eta > 0.1:  # not Werner: the error weights differ (little at small η: few bunched photons)
        assert weights[2] - weights[1] > 0.1 * (1 - weights[0]) / 3


def _double_click_closed_form(eta: float, p_d: float) -> tuple[float, np.ndarray]:
    """(P, Bell weights) by hand from the module docstring: P = q²(η²/2 + c_mix + c_bun)."""
    q = 1 - p_d
    c_true, c_mix, c_bun = eta ** 2 / 2, 4 * p_d * (1 - eta) * (eta + p_d * (1 - eta)), p_d * eta ** 2
    n = c_true + c_mix + c_bun
    return q * q * n, np.array([c_true + c_mix / 4, c_mix / 4, c_mix / 4 + c_bun / 2, c_mix / 4 + c_bun / 2]) / n


@pytest.mark.parametrize("eta", [0.0, 0.01, 0.3, 0.7, 1.0])
@pytest.mark.parametrize("p_d", [1e-8, 1e-3, 0.05, 0.5])
def test_double_click_closed_forms_and_limits(eta, p_d):
    """success_probability (counted per round, _herald_probabilities) equals q²·N of the state's terms; the
    state's Bell weights are the closed forms; limits: p_d → 0 gives Φ+ (the old exact result, F = source
    fidelity) with p → η²/2, η → 0 the maximally mixed pair at p = 4p_d²q², η = 1 only bunching errors,
    Ψ± = p_d/(1 + 2p_d) each at p = q²(1/2 + p_d); an imperfect source mixes in its white noise."""
    p, weights = _double_click_closed_form(eta, p_d)
    assert success_probability("double_click", eta, dark_count_probability=p_d) == pytest.approx(p, rel=1e-12)
    rho = delivered_state("double_click", arm_transmittance=eta, dark_count_probability=p_d)
    np.testing.assert_allclose(bell_weights(rho), weights, rtol=0, atol=1e-14)
    if eta == 0.0:
        np.testing.assert_allclose(rho, np.eye(4) / 4, rtol=0, atol=1e-15)
        assert p == pytest.approx(4 * p_d ** 2 * (1 - p_d) ** 2, rel=1e-12)
    if eta == 1.0:
        np.testing.assert_allclose(weights, [1 / (1 + 2 * p_d), 0, p_d / (1 + 2 * p_d), p_d / (1 + 2 * p_d)],
                                   rtol=1e-12, atol=1e-15)
        assert p == pytest.approx((1 - p_d) ** 2 * (0.5 + p_d), rel=1e-12)
    w_s = werner_from_fidelity(0.9)
    mixed = delivered_state("double_click", arm_transmittance=eta, dark_count_probability=p_d, source_fidelity=0.9)
    np.testing.assert_allclose(mixed, w_s * rho + (1 - w_s) / 4 * np.eye(4), rtol=0, atol=1e-15)
    assert delivered_fidelity("double_click", arm_transmittance=eta, dark_count_probability=p_d,
                              source_fidelity=0.9) == pytest.approx(w_s * weights[0] + (1 - w_s) / 4, abs=1e-14)
    phi = np.outer(_BELL_VECTORS[0], _BELL_VECTORS[0])
    for f in (1.0, 0.9):  # without dark counts: the Werner state of the source, whatever η
        w = werner_from_fidelity(f)
        assert delivered_fidelity("double_click", arm_transmittance=eta, source_fidelity=f) == f
        np.testing.assert_allclose(delivered_state("double_click", arm_transmittance=eta, source_fidelity=f),
                                   w * phi + (1 - w) / 4 * np.eye(4), rtol=0, atol=1e-15)
    assert success_probability("double_click", eta) == pytest.approx(eta * eta / 2, rel=1e-15)


@pytest.mark.parametrize("eta", [0.01, 0.2, 0.6, 0.95])
def test_double_click_fidelity_first_order_in_dark_counts(eta):
    """To first order in p_d the false heralds (share p_d·η(4 − 3η)/(η²/2 + p_d·η(4 − 3η))) have mean fidelity
    (1 − η)/(4 − 3η), i.e. 1 − F ≈ p_d(6 − 4η)/η; the exact fidelity differs from that by O(p_d²): the
    difference shrinks 100-fold when p_d does 10-fold. The old model (false heralds as I/4) is off at first
    order, 1 − F ≈ p_d(6 − 4.5η)/η."""
    def first_order(p_d):
        false = p_d * eta * (4 - 3 * eta)
        return (eta ** 2 / 2 + false * (1 - eta) / (4 - 3 * eta)) / (eta ** 2 / 2 + false)

    p_small = 1e-4 * eta  # p_d/η small
    diffs = []
    for p_d in (p_small, p_small / 10):
        f = delivered_fidelity("double_click", arm_transmittance=eta, dark_count_probability=p_d)
        diffs.append(abs(f - first_order(p_d)))
        assert 1 - f == pytest.approx(p_d * (6 - 4 * eta) / eta, rel=20 * p_d / eta)
        assert abs((1 - f) - p_d * (6 - 4.5 * eta) / eta) > 0.05 * p_d  # the Werner model's first order is not it
    assert diffs[1] < diffs[0] / 50 + 1e-15


def rho_psi_coherence(rho: np.ndarray) -> float:
    """Re ⟨Ψ+|ρ|Ψ−⟩."""
    return float(np.real(_BELL_VECTORS[2] @ rho @ _BELL_VECTORS[3]))


def test_single_click_state_formulas():
    """delivered_state against the closed forms of the module docstring at one point, by hand: α = 0.2,
    η = 0.5, p_d = 0.01 (αη = 0.1): c₁ = 0.1·0.8, c_bb = 0.04·0.5·0.75 + 0.01·0.04·0.25, c_bd = 0.01·0.2·0.8·0.5
    each, c_dd = 0.01·0.64; N = 0.1·0.95 + 0.01·0.81 = 0.1031, their sum."""
    rho = delivered_state("single_click", bright_state_alpha=0.2, arm_transmittance=0.5, dark_count_probability=0.01)
    n = 0.1 * 0.95 + 0.01 * 0.9 ** 2
    assert n == pytest.approx(0.08 + 0.0151 + 2 * 0.0008 + 0.0064, rel=1e-14)
    expected = np.zeros((4, 4))
    expected[0, 0] = expected[3, 3] = (0.04 + 0.0008) / n
    expected[0, 3] = expected[3, 0] = 0.04 / n
    expected[1, 1], expected[2, 2] = 0.0151 / n, 0.0064 / n
    np.testing.assert_allclose(rho, expected, rtol=0, atol=1e-14)
    assert success_probability("single_click", 0.5, bright_state_alpha=0.2, dark_count_probability=0.01) == \
        pytest.approx(2 * 0.99 * n, rel=1e-14)
    assert rho_psi_coherence(rho) == pytest.approx((0.0064 - 0.0151) / (2 * n), rel=1e-12)
    # imperfect source: white noise mixed in
    w = werner_from_fidelity(0.9)
    mixed = delivered_state("single_click", bright_state_alpha=0.2, arm_transmittance=0.5,
                            dark_count_probability=0.01, source_fidelity=0.9)
    np.testing.assert_allclose(mixed, w * expected + (1 - w) / 4 * np.eye(4), rtol=0, atol=1e-14)
    # the other schemes: the Werner state of their fidelity
    f = delivered_fidelity("direct", arm_transmittance=0.1, dark_count_probability=0.01)
    w = werner_from_fidelity(f)
    phi = _BELL_VECTORS[0]
    np.testing.assert_allclose(delivered_state("direct", arm_transmittance=0.1, dark_count_probability=0.01),
                               w * np.outer(phi, phi) + (1 - w) / 4 * np.eye(4), rtol=0, atol=1e-14)


def test_dark_counts_are_negligible_below_the_photon_rate_and_dominate_above():
    """F → F_true as p_d/η → 0 and → 1/4 as η → 0 (single click: → α(1 − α), the share of its false heralds
    with one spin bright, mixed with the source's white noise); p → the dark-count floor (2p_d)²/2 + 2p_d·2p_d/2
    (double click), 2p_d (single click), p_d (direct) as η → 0."""
    for scheme in ("single_click", "double_click", "direct"):
        assert delivered_fidelity(scheme, source_fidelity=0.97, arm_transmittance=0.5,
                                  dark_count_probability=1e-9) == pytest.approx(
            delivered_fidelity(scheme, source_fidelity=0.97, arm_transmittance=0.5), abs=1e-7)
        w = werner_from_fidelity(0.97)
        dark = 0.1 * 0.9 if scheme == "single_click" else 0.25
        assert delivered_fidelity(scheme, source_fidelity=0.97, arm_transmittance=0.0, bright_state_alpha=0.1,
                                  dark_count_probability=1e-3) == pytest.approx(w * dark + (1 - w) / 4, abs=1e-12)
    p_d = 1e-4
    floor = {"double_click": 4 * p_d * p_d * (1 - p_d) ** 2, "single_click": 2 * p_d * (1 - p_d), "direct": p_d}
    for scheme, expected in floor.items():
        assert success_probability(scheme, 0.0, dark_count_probability=p_d) == pytest.approx(expected, rel=1e-12)


def test_direct_monte_carlo():
    rng = np.random.default_rng(5)
    link = LinkSpec(distance_km=30.0, scheme="direct", coupling_loss_db=1.0, dark_count_rate_hz=0.0)
    arrived = rng.random(200_000) < link.arm_transmittance
    assert_within_standard_errors(arrived, link.success_probability)
    assert link.success_probability == pytest.approx(
        10.0 ** (-(0.2 * 30.0 + 1.0) / 10.0) * 0.9, rel=1e-12)


def test_delivered_fidelity_hand_values():
    # single click without dark counts: (1 - alpha)/(1 - alpha eta/2), 1 - alpha to leading order (eta -> 0)
    for alpha in (0.01, 0.1, 0.3, 0.5):
        for eta in (0.0, 0.01, 0.5, 1.0):
            assert delivered_fidelity("single_click", bright_state_alpha=alpha, arm_transmittance=eta) == \
                pytest.approx((1.0 - alpha) / (1.0 - alpha * eta / 2.0), rel=1e-14)
    for f in (0.25, 0.7, 0.95, 1.0):
        assert delivered_fidelity("double_click", source_fidelity=f) == f
        assert delivered_fidelity("direct", source_fidelity=f) == f
    # Single click with an imperfect source: its white noise mixed in, F -> w_s F + (1 - w_s)/4.
    f = 0.9 / 0.99  # alpha = 0.1, eta = 0.2
    w = (4 * 0.95 - 1) / 3
    assert delivered_fidelity("single_click", bright_state_alpha=0.1, arm_transmittance=0.2, source_fidelity=0.95) \
        == pytest.approx(w * f + (1 - w) / 4, rel=1e-12)


@pytest.mark.parametrize("distance_km", [0.0, 0.3, 10.0, 100.0])
@pytest.mark.parametrize("group_index", [1.0, 1.468])
def test_attempt_period_covers_round_trip(distance_km, group_index):
    c = 299_792_458.0
    for scheme in ("single_click", "double_click"):
        # node -> midpoint -> node: L of fibre in all.
        round_trip_ps = round(group_index * distance_km * 1000.0 / c * units.PS_PER_S)
        assert attempt_period_ps(distance_km, scheme=scheme, group_index=group_index) == \
            round_trip_ps
        assert attempt_period_ps(distance_km, scheme=scheme, group_index=group_index) == \
            propagation_delay_ps(distance_km, group_index)
    round_trip_ps = round(2 * group_index * distance_km * 1000.0 / c * units.PS_PER_S)
    assert attempt_period_ps(distance_km, scheme="direct", group_index=group_index) == \
        round_trip_ps
    # A slow source sets the period when it is longer than the round trip.
    slow_ps = 10 * round_trip_ps + 1000
    assert attempt_period_ps(distance_km, group_index=group_index, source_period_ps=slow_ps) == \
        slow_ps
    fast_ps = 1
    assert attempt_period_ps(distance_km, group_index=group_index, source_period_ps=fast_ps) == \
        max(fast_ps, propagation_delay_ps(distance_km, group_index))



@pytest.mark.parametrize("distance_km", [0.0, 0.3, 10.0, 100.0])
@pytest.mark.parametrize("group_index", [1.0, 1.468])
def test_herald_delay_is_the_round_trip_to_the_station(distance_km, group_index):
    c = 299_792_458.0
    one_way_ps = group_index * distance_km * 1000.0 / c * units.PS_PER_S
    for scheme in ("single_click", "double_click"):  # L/2 to the midpoint, L/2 back: one link delay
        assert herald_delay_ps(distance_km, scheme=scheme, group_index=group_index) == round(one_way_ps)
    # direct: the far node detects after L and its acknowledgment takes L back
    assert herald_delay_ps(distance_km, scheme="direct", group_index=group_index) == round(2 * one_way_ps)
    link = LinkSpec(distance_km=distance_km, group_index=group_index, scheme="direct", source_rate_hz=1.0)
    assert link.herald_delay_ps == propagation_delay_ps(2 * distance_km, group_index)
    assert link.attempt_period_ps == units.PS_PER_S  # a slow source sets the period, not the herald


def test_photons_per_attempt():
    # single click: a pulse per node holding a photon with probability alpha; Barrett-Kok: each node's spin is
    # bright in exactly one of the two rounds, one photon per node; direct: one
    assert [photons_per_attempt(s, bright_state_alpha=0.05) for s in ("single_click", "double_click", "direct")] \
        == [0.1, 2, 1]
    assert [LinkSpec(distance_km=1.0, scheme=s, bright_state_alpha=0.05).photons_per_attempt
            for s in ("single_click", "double_click", "direct")] == [0.1, 2, 1]

def _first_success(rng: np.random.Generator, p: float, num_runs: int, max_attempts: int):
    """Attempts to the first success of independent Bernoulli(p) trials, simulated."""
    trials = rng.random((num_runs, max_attempts)) < p
    assert trials.any(axis=1).all()  # (1 - p)^max_attempts is negligible
    return trials.argmax(axis=1) + 1


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5, 0.9])
def test_mean_attempts_monte_carlo(p):
    rng = np.random.default_rng(int(p * 1000))
    attempts = _first_success(rng, p, 20_000, 1 + int(60 / p))
    assert_within_standard_errors(attempts, mean_attempts(p))
    assert mean_attempts(p) == 1.0 / p


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5, 0.9, 1.0])
def test_two_links_mean_attempts_monte_carlo(p):
    rng = np.random.default_rng(4242 + int(p * 1000))
    if p == 1.0:
        assert mean_attempts_two_links(p) == 1.0
        return
    max_attempts = 1 + int(60 / p)
    first = _first_success(rng, p, 20_000, max_attempts)
    second = _first_success(rng, p, 20_000, max_attempts)
    assert_within_standard_errors(np.maximum(first, second), mean_attempts_two_links(p))
    assert mean_attempts_two_links(p) == pytest.approx((3 - 2 * p) / (p * (2 - p)), rel=1e-15)
    # Between one link's wait and twice it.
    assert mean_attempts(p) <= mean_attempts_two_links(p) <= 2 * mean_attempts(p)


def test_mean_time_to_success():
    assert mean_time_to_success_ps(0.01, 1000) == pytest.approx(100_000.0)
    assert mean_time_to_success_ps(1.0, 48_967_209) == 48_967_209.0
    assert mean_time_to_success_ps(0.0, 1000) == math.inf
    assert mean_attempts(0.0) == math.inf
    assert mean_attempts_two_links(0.0) == math.inf


def test_link_spec_derived_properties():
    link = LinkSpec(distance_km=40.0, coupling_loss_db=0.5, detector_efficiency=0.8,
                    source_rate_hz=1e6)
    arm = 10.0 ** (-(0.2 * 20.0 + 0.5) / 10.0) * 0.8
    assert link.transmittance == pytest.approx(10.0 ** (-(0.2 * 40 + 0.5) / 10.0) * 0.8)
    assert link.arm_transmittance == pytest.approx(arm, rel=1e-12)
    assert link.success_probability == pytest.approx(arm * arm / 2, rel=1e-6)  # dark counts: + 2·arm·p_d
    assert dataclasses.replace(link, dark_count_rate_hz=0.0).success_probability == pytest.approx(arm * arm / 2,
                                                                                                  rel=1e-12)
    assert link.delay_ps == propagation_delay_ps(40.0)
    # 1 MHz source (1 us) is faster than the 196 us round trip to the midpoint.
    assert link.effective_source_period_ps == units.PS_PER_US
    assert link.attempt_period_ps == propagation_delay_ps(40.0)
    assert link.mean_time_to_success_ps == pytest.approx(
        link.attempt_period_ps / link.success_probability, rel=1e-12)
    # 10 Hz of dark counts in 1 ns gates (p_d = 1e-8): P = P_true·(1 + p_d(8 − 6η)/η) to first order, the false
    # heralds of mean fidelity (1 − η)/(4 − 3η), so F = 1 − p_d(6 − 4η)/η = 1 − 1.7e-7
    p_d = link.dark_count_probability
    assert p_d == pytest.approx(10.0 * 1000 / units.PS_PER_S, rel=1e-6)
    assert link.delivered_fidelity == pytest.approx(1 - p_d * (6 - 4 * arm) / arm, rel=0, abs=1e-13)
    assert not link.delivers_werner and dataclasses.replace(link, dark_count_rate_hz=0.0).delivers_werner

    slow = dataclasses.replace(link, source_rate_hz=1e3)  # 1 ms between emissions
    assert slow.attempt_period_ps == units.PS_PER_MS

    single = dataclasses.replace(link, scheme="single_click", bright_state_alpha=0.05)
    assert single.success_probability == pytest.approx(1 - (1 - 0.05 * arm) ** 2, rel=1e-5)
    assert single.delivered_fidelity == pytest.approx(0.95 / (1 - 0.05 * arm / 2), rel=1e-5)

    direct = dataclasses.replace(link, scheme="direct")
    assert direct.arm_transmittance == pytest.approx(direct.transmittance)
    assert direct.attempt_period_ps == propagation_delay_ps(80.0)

    zero = LinkSpec(distance_km=0.0)
    assert zero.transmittance == pytest.approx(0.9)
    assert zero.delay_ps == 0
    assert zero.attempt_period_ps == 1  # time always advances
    assert LinkSpec(distance_km=0.0, source_period_ps=500).attempt_period_ps == 500


def test_link_spec_repr_round_trips():
    link = LinkSpec(distance_km=12.5, scheme="single_click", source_period_ps=2000)
    assert eval(repr(link), {"LinkSpec": LinkSpec}) == link


# --------------------------------------------------------------------------- Werner states
# Explicit density matrices. Qubit order is the order of the Kronecker product.

I2 = np.eye(2, dtype=np.complex128)
X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
Y = np.array([[0, -1j], [1j, 0]], dtype=np.complex128)
Z = np.array([[1, 0], [0, -1]], dtype=np.complex128)
PAULIS = (I2, X, Y, Z)


def _ket(*amplitudes) -> np.ndarray:
    v = np.array(amplitudes, dtype=np.complex128)
    return v / np.linalg.norm(v)


PHI_PLUS = _ket(1, 0, 0, 1)
BELL_STATES = (PHI_PLUS, _ket(1, 0, 0, -1), _ket(0, 1, 1, 0), _ket(0, 1, -1, 0))


def _werner(fidelity: float) -> np.ndarray:
    """Bell-diagonal Werner state: F on |Phi+>, (1-F)/3 on each other Bell state."""
    rho = np.zeros((4, 4), dtype=np.complex128)
    for index, bell in enumerate(BELL_STATES):
        weight = fidelity if index == 0 else (1.0 - fidelity) / 3.0
        rho += weight * np.outer(bell, bell.conj())
    return rho


def _kron(*ops) -> np.ndarray:
    out = np.ones((1, 1), dtype=np.complex128)
    for op in ops:
        out = np.kron(out, op)
    return out


def _partial_trace(rho: np.ndarray, keep: list[int], num_qubits: int) -> np.ndarray:
    tensor = rho.reshape([2] * (2 * num_qubits))
    traced = [q for q in range(num_qubits) if q not in keep]
    letters = "abcdefghijklmnopqrstuvwxyz"
    rows = list(letters[:num_qubits])
    cols = list(letters[num_qubits:2 * num_qubits])
    for q in traced:
        cols[q] = rows[q]
    out_rows = "".join(rows[q] for q in keep)
    out_cols = "".join(cols[q] for q in keep)
    result = np.einsum("".join(rows) + "".join(cols) + "->" + out_rows + out_cols, tensor)
    dim = 2 ** len(keep)
    return result.reshape(dim, dim)


def _fidelity(rho: np.ndarray, ket: np.ndarray = PHI_PLUS) -> float:
    return float(np.real(ket.conj() @ rho @ ket))


def _cnot(control: int, target: int, num_qubits: int) -> np.ndarray:
    dim = 2 ** num_qubits
    u = np.zeros((dim, dim), dtype=np.complex128)
    for basis in range(dim):
        bits = [(basis >> (num_qubits - 1 - q)) & 1 for q in range(num_qubits)]
        if bits[control]:
            bits[target] ^= 1
        image = sum(b << (num_qubits - 1 - q) for q, b in enumerate(bits))
        u[image, basis] = 1.0
    return u


def _swap_by_density_matrix(f1: float, f2: float) -> float:
    """Bell measurement on (B1, B2) of pairs (A, B1), (B2, C); Pauli correction on C."""
    def swapped_states(rho_in):
        states = []
        for bell in BELL_STATES:
            projector = _kron(I2, np.outer(bell, bell.conj()), I2)
            post = projector @ rho_in @ projector
            probability = float(np.real(np.trace(post)))
            states.append((probability, _partial_trace(post, [0, 3], 4) / probability))
        return states

    # The correction for each outcome: the Pauli on C that restores Phi+ for perfect pairs.
    corrections = []
    for _, rho_ac in swapped_states(np.kron(_werner(1.0), _werner(1.0))):
        corrections.append(max(PAULIS, key=lambda p: _fidelity(_kron(I2, p) @ rho_ac
                                                                @ _kron(I2, p).conj().T)))
    total = 0.0
    for (probability, rho_ac), pauli in zip(swapped_states(np.kron(_werner(f1), _werner(f2))),
                                            corrections):
        u = _kron(I2, pauli)
        total += probability * _fidelity(u @ rho_ac @ u.conj().T)
    return total


@pytest.mark.parametrize(("f1", "f2"), [(1.0, 1.0), (0.9, 0.9), (0.95, 0.7), (0.6, 0.8),
                                        (0.25, 0.9)])
def test_swap_fidelity_against_density_matrix(f1, f2):
    assert swap_fidelity(f1, f2) == pytest.approx(_swap_by_density_matrix(f1, f2), abs=1e-12)
    assert swap_fidelity(f1, f2) == pytest.approx(
        fidelity_from_werner(werner_from_fidelity(f1) * werner_from_fidelity(f2)), abs=1e-12)


@pytest.mark.parametrize("fidelity", [0.3, 0.5, 0.6, 0.75, 0.9, 0.99, 1.0])
def test_bbpssw_against_density_matrix(fidelity):
    """Bilateral CNOT (A1->A2, B1->B2), measure A2 and B2 in Z, keep when they agree."""
    # Qubit order: A1, B1, A2, B2.
    rho = np.kron(_werner(fidelity), _werner(fidelity))
    bilateral = _cnot(0, 2, 4) @ _cnot(1, 3, 4)
    rho = bilateral @ rho @ bilateral.conj().T
    keep = np.zeros((16, 16), dtype=np.complex128)
    for outcome in (0, 1):
        ket = np.zeros(4)
        ket[3 * outcome] = 1.0  # |00> or |11> on (A2, B2)
        keep += np.kron(np.eye(4), np.outer(ket, ket))
    post = keep @ rho @ keep
    probability = float(np.real(np.trace(post)))
    kept_pair = _partial_trace(post, [0, 1], 4) / probability
    assert bbpssw_success_probability(fidelity) == pytest.approx(probability, abs=1e-12)
    assert bbpssw_fidelity(fidelity) == pytest.approx(_fidelity(kept_pair), abs=1e-12)


def test_bbpssw_hand_values_and_fixed_points():
    f = 0.8
    g = (1 - f) / 3
    assert bbpssw_success_probability(f) == pytest.approx(f * f + 2 * f * g + 5 * g * g)
    assert bbpssw_fidelity(f) == pytest.approx((f * f + g * g) / (f * f + 2 * f * g + 5 * g * g))
    assert bbpssw_fidelity(1.0) == 1.0
    assert bbpssw_fidelity(0.5) == pytest.approx(0.5)
    for f in (0.55, 0.7, 0.9, 0.99):
        assert bbpssw_fidelity(f) > f
    assert bbpssw_fidelity(0.4) < 0.4


@pytest.mark.parametrize("w", [0.0, 0.5, 1 / math.sqrt(2), 0.9, 1.0])
def test_chsh_against_density_matrix(w):
    rho = _werner(fidelity_from_werner(w))
    # Optimal settings for Phi+: A0 = Z, A1 = X, B0,1 = (Z +- X)/sqrt(2).
    b0, b1 = (Z + X) / math.sqrt(2), (Z - X) / math.sqrt(2)
    def corr(a, b):
        return float(np.real(np.trace(rho @ np.kron(a, b))))
    s_settings = corr(Z, b0) + corr(Z, b1) + corr(X, b0) - corr(X, b1)
    # Horodecki criterion: 2 sqrt(t1^2 + t2^2) from the correlation matrix.
    t = np.array([[corr(a, b) for b in (X, Y, Z)] for a in (X, Y, Z)])
    singular = np.sort(np.linalg.svd(t, compute_uv=False))[::-1]
    s_max = 2 * math.sqrt(singular[0] ** 2 + singular[1] ** 2)
    assert chsh_value(w) == pytest.approx(s_settings, abs=1e-12)
    assert chsh_value(w) == pytest.approx(s_max, abs=1e-12)
    assert chsh_value(w) == pytest.approx(2 * math.sqrt(2) * w, abs=1e-15)


@pytest.mark.parametrize("fidelity", [0.25, 0.5, 0.8, 0.95, 1.0])
def test_teleportation_fidelity_against_density_matrix(fidelity):
    """Teleport the six octahedron states (a 2-design, so their mean is the Haar mean)."""
    inputs = [_ket(1, 0), _ket(0, 1), _ket(1, 1), _ket(1, -1), _ket(1, 1j), _ket(1, -1j)]
    resource = _werner(fidelity)
    # Corrections found from a perfect resource, as in the swap test.
    def outputs(rho_pair, psi):
        rho = np.kron(np.outer(psi, psi.conj()), rho_pair)
        result = []
        for bell in BELL_STATES:
            projector = _kron(np.outer(bell, bell.conj()), I2)
            post = projector @ rho @ projector
            probability = float(np.real(np.trace(post)))
            result.append((probability, _partial_trace(post, [2], 3) / probability))
        return result

    def best_pauli(rho_out, psi):
        return max(PAULIS, key=lambda p: float(np.real(psi.conj() @ p @ rho_out @ p.conj().T
                                                       @ psi)))

    mean = 0.0
    for psi in inputs:
        corrections = [best_pauli(r, psi) for _, r in outputs(_werner(1.0), psi)]
        total = 0.0
        for (probability, rho_out), pauli in zip(outputs(resource, psi), corrections):
            total += probability * float(np.real(psi.conj() @ pauli @ rho_out @ pauli.conj().T
                                                 @ psi))
        mean += total / len(inputs)
    assert teleportation_fidelity(fidelity) == pytest.approx(mean, abs=1e-12)


@pytest.mark.parametrize(("eta", "expected"),
                         [(0.0, 0.0), (0.5, 1.0), (0.75, 2.0), (0.9, math.log2(10.0)),
                          (0.99, math.log2(100.0))])
def test_plob_bound_hand_values(eta, expected):
    assert plob_bound(eta) == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_plob_bound_limits():
    assert plob_bound(1.0) == math.inf
    for eta in (1e-3, 1e-6):  # small eta: eta / ln 2
        assert plob_bound(eta) == pytest.approx(eta / math.log(2.0), rel=eta)
    # 100 km of 0.2 dB/km fibre: about 0.0144 bits per use.
    assert plob_bound(fibre_transmittance(100.0, 0.2)) == pytest.approx(0.0145, rel=0.01)



def _entropy_bits_of(rho: np.ndarray) -> float:
    """Von Neumann entropy -tr ρ log2 ρ from the eigenvalues."""
    values = np.linalg.eigvalsh(rho)
    values = values[values > 1e-15]
    return float(-(values * np.log2(values)).sum())


@pytest.mark.parametrize("fidelity", [0.25, 0.5, 0.755, 0.81, 0.82, 0.9, 0.95, 0.99, 1.0])
def test_werner_hashing_yield_against_von_neumann_entropy(fidelity):
    expected = max(0.0, 1.0 - _entropy_bits_of(_werner(fidelity)))
    assert werner_hashing_yield(fidelity) == pytest.approx(expected, abs=1e-12)


def test_hashing_yield_hand_values_and_threshold():
    # A Bell-diagonal pair with two components: 1 - h(p); a random Bell-diagonal state against its entropy.
    h = lambda x: -x * math.log2(x) - (1 - x) * math.log2(1 - x)  # noqa: E731
    assert bell_diagonal_hashing_yield([0.9, 0.1, 0.0, 0.0]) == pytest.approx(1 - h(0.1), abs=1e-15)
    weights = np.random.default_rng(8).dirichlet([8.0, 1.0, 1.0, 1.0])
    rho = sum(w * np.outer(b, b.conj()) for w, b in zip(weights, BELL_STATES))
    assert bell_diagonal_hashing_yield(weights) == pytest.approx(max(0.0, 1 - _entropy_bits_of(rho)), abs=1e-12)
    # Werner pairs distil nothing by hashing below F ~ 0.8107 (the F = 0.755 of the issue: zero)
    assert werner_hashing_yield(0.8106) == 0.0 < werner_hashing_yield(0.8108)
    assert werner_hashing_yield(0.755) == 0.0
    with pytest.raises(DqsimError, match="four Bell coefficients"):
        bell_diagonal_hashing_yield([0.5, 0.5])


def test_werner_key_fraction():
    # error rate 2(1-F)/3 in each basis (density matrix), key 1 - 2 h(e) (Shor-Preskill), zero above e ~ 11 %
    for fidelity in (0.9, 0.95, 0.99):
        rho = _werner(fidelity)
        error_z = float(np.real(rho[1, 1] + rho[2, 2]))  # outcomes 01 and 10 in Z
        assert error_z == pytest.approx(2 * (1 - fidelity) / 3, abs=1e-12)
        h = -error_z * math.log2(error_z) - (1 - error_z) * math.log2(1 - error_z)
        assert werner_key_fraction(fidelity) == pytest.approx(max(0.0, 1 - 2 * h), abs=1e-12)
    assert werner_key_fraction(1.0) == 1.0
    threshold_error = 0.110028  # h(e) = 1/2
    assert werner_key_fraction(1 - 1.5 * threshold_error - 1e-4) == 0.0 < werner_key_fraction(
        1 - 1.5 * threshold_error + 1e-4)

def test_werner_conversions():
    for w in (0.0, 0.3, 0.6, 1.0):
        assert werner_from_fidelity(fidelity_from_werner(w)) == pytest.approx(w, abs=1e-15)
        rho = w * np.outer(PHI_PLUS, PHI_PLUS.conj()) + (1 - w) * np.eye(4) / 4
        assert fidelity_from_werner(w) == pytest.approx(_fidelity(rho), abs=1e-15)
        assert np.allclose(rho, _werner(fidelity_from_werner(w)))


def _decay(rho: np.ndarray, qubit: int, wait_s: float, t1_s: float, t2_s: float) -> np.ndarray:
    """Amplitude damping (T1) then pure dephasing to total coherence e^(-t/T2)."""
    gamma = 1.0 - math.exp(-wait_s / t1_s)
    amplitude = [np.array([[1, 0], [0, math.sqrt(1 - gamma)]]),
                 np.array([[0, math.sqrt(gamma)], [0, 0]])]
    extra = math.exp(-wait_s / t2_s) / math.sqrt(1.0 - gamma)  # coherence left to remove
    lam = 1.0 - extra ** 2
    phase = [np.array([[1, 0], [0, math.sqrt(1 - lam)]]), np.array([[0, 0], [0, math.sqrt(lam)]])]
    for kraus_set in (amplitude, phase):
        out = np.zeros_like(rho)
        for k in kraus_set:
            op = np.kron(k, I2) if qubit == 0 else np.kron(I2, k)
            out += op @ rho @ op.conj().T
        rho = out
    return rho


@pytest.mark.parametrize(("fidelity", "wait_a_ps", "wait_b_ps", "t1_s", "t2_s"), [
    (1.0, units.PS_PER_MS, 0, 0.01, 0.005),
    (0.9, units.PS_PER_MS, 3 * units.PS_PER_MS, 0.01, 0.02),
    (0.8, 5 * units.PS_PER_US, 5 * units.PS_PER_US, 1e-5, 1e-5),
    (0.95, units.PS_PER_S, units.PS_PER_S, math.inf, 2.0),
    (0.7, 10**12, 0, 0.5, 1.0),
])
def test_decohered_fidelity_against_density_matrix(fidelity, wait_a_ps, wait_b_ps, t1_s, t2_s):
    rho = _werner(fidelity)
    rho = _decay(rho, 0, units.ps_to_seconds(wait_a_ps), t1_s, t2_s)
    rho = _decay(rho, 1, units.ps_to_seconds(wait_b_ps), t1_s, t2_s)
    assert decohered_fidelity(fidelity, wait_a_ps=wait_a_ps, wait_b_ps=wait_b_ps, t1_s=t1_s,
                              t2_s=t2_s) == pytest.approx(_fidelity(rho), abs=1e-12)


def test_decohered_fidelity_limits():
    assert decohered_fidelity(0.9, wait_a_ps=0, t1_s=1e-3, t2_s=1e-3) == pytest.approx(0.9)
    assert decohered_fidelity(0.9, wait_a_ps=10**15, t1_s=1e-3, t2_s=1e-3) == \
        pytest.approx(0.25)
    assert decohered_fidelity(0.9, wait_a_ps=10**15) == pytest.approx(0.9)  # ideal memory


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("call", "name"), [
    (lambda: fibre_transmittance(-1.0, 0.2), "distance_km"),
    (lambda: fibre_transmittance(1.0, -0.2), "attenuation_db_per_km"),
    (lambda: fibre_transmittance(math.nan, 0.2), "distance_km"),
    (lambda: fibre_transmittance(math.inf, 0.2), "distance_km"),
    (lambda: fibre_transmittance("10", 0.2), "distance_km"),
    (lambda: propagation_delay_ps(1.0, group_index=0.5), "group_index"),
    (lambda: total_transmittance(1.0, 0.2, detector_efficiency=1.5), "detector_efficiency"),
    (lambda: total_transmittance(1.0, 0.2, coupling_loss_db=-1.0), "coupling_loss_db"),
    (lambda: detection_probability(-0.1, 0.5), "mean_photon_number"),
    (lambda: detection_probability(0.1, 1.5), "transmittance"),
    (lambda: detection_probability(0.1, 0.5, 2.0), "dark_count_probability"),
    (lambda: dark_count_probability(-1.0, 1000), "dark_count_rate_hz"),
    (lambda: dark_count_probability(10.0, 0), "gate_width_ps"),
    (lambda: dark_count_probability(10.0, 1.5), "gate_width_ps"),
    (lambda: dead_time_efficiency(1e6, -1), "dead_time_ps"),
    (lambda: raman_forward_power_w(0.0, -1.0, filter_bandwidth_nm=1.0), "distance_km"),
    (lambda: raman_backward_power_w(0.0, 1.0, filter_bandwidth_nm=-1.0), "filter_bandwidth_nm"),
    (lambda: raman_forward_power_w(0.0, 1.0, filter_bandwidth_nm=1.0,
                                   raman_cross_section_per_km_per_nm=-1e-9),
     "raman_cross_section_per_km_per_nm"),
    (lambda: photon_energy_j(0.0), "wavelength_nm"),
    (lambda: raman_noise_counts_per_gate(1e-12, detector_efficiency=2.0, gate_width_ps=1000),
     "detector_efficiency"),
    (lambda: success_probability("two_click", 0.5), "scheme"),
    (lambda: success_probability("single_click", 0.5, bright_state_alpha=0.0),
     "bright_state_alpha"),
    (lambda: success_probability("single_click", 0.5, bright_state_alpha=0.6),
     "bright_state_alpha"),
    (lambda: success_probability("direct", -0.1), "arm_transmittance"),
    (lambda: delivered_fidelity("double_click", source_fidelity=0.2), "source_fidelity"),
    (lambda: attempt_period_ps(-1.0), "distance_km"),
    (lambda: attempt_period_ps(1.0, source_period_ps=-5), "source_period_ps"),
    (lambda: mean_attempts(1.5), "success_probability"),
    (lambda: mean_time_to_success_ps(0.5, -1), "attempt_period_ps"),
    (lambda: swap_fidelity(1.1, 0.9), "fidelity_a"),
    (lambda: swap_fidelity(0.9, 0.1), "fidelity_b"),
    (lambda: bbpssw_fidelity(0.2), "fidelity"),
    (lambda: chsh_value(1.2), "werner_parameter"),
    (lambda: plob_bound(-0.1), "transmittance"),
    (lambda: werner_hashing_yield(1.1), "fidelity"),
    (lambda: werner_key_fraction(0.1), "fidelity"),
    (lambda: bell_diagonal_hashing_yield([1.2, 0, 0, 0]), "probabilities"),
    (lambda: herald_delay_ps(-1.0), "distance_km"),
    (lambda: photons_per_attempt("two_click"), "scheme"),
    (lambda: decohered_fidelity(0.9, wait_a_ps=-1), "wait_a_ps"),
    (lambda: decohered_fidelity(0.9, wait_a_ps=0, t1_s=1.0, t2_s=3.0), "t2_s"),
    (lambda: decohered_fidelity(0.9, wait_a_ps=0, t1_s=0.0), "t1_s"),
])
def test_bad_function_input_names_the_parameter(call, name):
    with pytest.raises(DqsimError, match=name):
        call()
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize(("field", "value"), [
    ("distance_km", -1.0),
    ("distance_km", math.nan),
    ("attenuation_db_per_km", -0.1),
    ("coupling_loss_db", -3.0),
    ("group_index", 0.9),
    ("detector_efficiency", 0.0),
    ("detector_efficiency", 1.01),
    ("dark_count_rate_hz", -1.0),
    ("dead_time_ps", -1),
    ("dead_time_ps", 1.5),
    ("gate_width_ps", 0),
    ("source_rate_hz", 0.0),
    ("source_period_ps", 0),
    ("scheme", "triple_click"),
    ("bright_state_alpha", 0.0),
    ("bright_state_alpha", 0.51),
    ("source_fidelity", 0.2),
    ("source_fidelity", 1.1),
])
def test_link_spec_rejects_bad_fields(field, value):
    kwargs = {"distance_km": 10.0, field: value}
    with pytest.raises(ConfigError, match=f"LinkSpec: {field}"):
        LinkSpec(**kwargs)


def test_link_spec_rejects_both_source_rate_and_period():
    with pytest.raises(ConfigError, match="source_rate_hz"):
        LinkSpec(distance_km=1.0, source_rate_hz=1e6, source_period_ps=1000)


def test_link_spec_error_is_one_line_with_value_and_range():
    with pytest.raises(ConfigError) as info:
        LinkSpec(distance_km=1.0, detector_efficiency=1.5)
    message = str(info.value)
    assert "\n" not in message
    assert "detector_efficiency" in message and "1.5" in message and "(0, 1]" in message


def test_link_spec_is_frozen():
    link = LinkSpec(distance_km=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        link.distance_km = 2.0


@pytest.mark.parametrize(("field", "value"), [
    ("name", ""),
    ("name", "a b"),
    ("num_data_qubits", -1),
    ("num_comm_qubits", 0),
    ("t1_s", 0.0),
    ("t1_s", -1.0),
    ("t2_s", math.nan),
    ("gate_1q_duration_ps", -1),
    ("gate_2q_duration_ps", 2.5),
    ("measure_duration_ps", -10),
    ("gate_1q_error_probability", -0.01),
    ("gate_2q_error_probability", 1.5),
    ("measure_error_probability", 2.0),
    ("classical_processing_delay_ps", -1),
])
def test_node_spec_rejects_bad_fields(field, value):
    kwargs = {"name": "alice", field: value}
    with pytest.raises(ConfigError, match=f"NodeSpec: {field}"):
        NodeSpec(**kwargs)


def test_node_spec_t2_at_most_twice_t1():
    NodeSpec(name="a", t1_s=1.0, t2_s=2.0)
    NodeSpec(name="a", t1_s=math.inf, t2_s=5.0)
    NodeSpec(name="a", t1_s=math.inf, t2_s=math.inf)
    with pytest.raises(ConfigError, match="t2_s"):
        NodeSpec(name="a", t1_s=1.0, t2_s=2.5)
    with pytest.raises(ConfigError, match="t2_s"):
        NodeSpec(name="a", t1_s=1.0, t2_s=math.inf)


def test_node_spec_defaults_and_repr():
    node = NodeSpec(name="qpu0", num_data_qubits=8, num_comm_qubits=2, t1_s=10.0, t2_s=1.0,
                    gate_2q_duration_ps=500_000, gate_2q_error_probability=0.01)
    assert node.num_qubits == 10
    assert eval(repr(node), {"NodeSpec": NodeSpec, "inf": math.inf}) == node
    ideal = NodeSpec(name="ideal")
    assert ideal.t1_s == math.inf and ideal.t2_s == math.inf
    assert ideal.gate_1q_error_probability == 0.0 and ideal.num_comm_qubits == 1
