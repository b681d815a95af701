"""Physics of decoy-state BB84 (dqsim.protocols.qkd) against its closed forms.

Statistical tolerance: a simulated rate must lie within 3 standard errors of
the formula (binomial standard error of the count, or the renewal/Markov
standard error where pulses are correlated, as stated per test). Every test
uses a fixed seed, so the outcome never changes; a correct model fails a
single check with probability ~0.3%.

Tests run on the backend of ``DQSIM_TEST_BACKEND`` (numpy by default); the
last test compares CuPy with NumPy bit for bit and is skipped without a GPU.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import TEST_BACKEND
from dqsim import units
from dqsim.errors import DqsimError
from dqsim.network import dead_time_efficiency, detection_probability, plob_bound
from dqsim.network.fibre import total_transmittance
from dqsim.protocols.qkd.postprocess import QberSample, sample_qber
from dqsim.protocols.qkd import (
    CHUNK,
    SEGMENT_PULSES,
    BlockCounts,
    ChannelModel,
    DecoySource,
    DetectorModel,
    EveModel,
    ReceiverState,
    alice_batch,
    background_yield,
    binary_entropy,
    block_counts,
    bob_detect,
    error_gain,
    estimate_block,
    gain,
    one_decoy,
    qber,
    sift,
    single_photon_error,
    single_photon_yield,
    theoretical_key_rate,
    vacuum_weak_decoy,
)

#: Tolerance of every statistical check, in standard errors.
NUM_STANDARD_ERRORS = 3.0

#: Array module of the tests (numpy unless DQSIM_TEST_BACKEND=cupy on a GPU).
XP = TEST_BACKEND.xp if TEST_BACKEND is not None else np

ATTENUATION_DB_PER_KM = 0.2


def host(array) -> np.ndarray:
    get = getattr(array, "get", None)
    return get() if callable(get) else np.asarray(array)


def simulate(distance_km, num_pulses, seed, *, source=None, detector=None, eve=None,
             start_pulse=0, xp=XP, estimate=True):
    """One batch over ``distance_km`` of fibre; returns alice, bob, counts, result
    (``None`` without ``estimate``)."""
    source = source or DecoySource()
    detector = detector or DetectorModel()
    alice = alice_batch(xp, source, seed, start_pulse, num_pulses)
    bob, _ = bob_detect(xp, alice, transmittance=ChannelModel.from_fibre(distance_km),
                        detector=detector, eve=eve, seed=seed)
    counts = block_counts(xp, alice, bob, source.num_classes)
    return alice, bob, counts, (estimate_block(counts, source) if estimate else None)


def eta_of(distance_km, detector):
    return total_transmittance(distance_km, ATTENUATION_DB_PER_KM, 0.0, detector.efficiency)


def assert_rate(successes, trials, expected, what):
    """successes/trials within NUM_STANDARD_ERRORS binomial standard errors of expected."""
    assert trials > 0
    se = math.sqrt(max(expected * (1.0 - expected), 1e-300) / trials)
    measured = successes / trials
    assert abs(measured - expected) <= NUM_STANDARD_ERRORS * se, (
        f"{what}: simulated {measured:.6g} vs formula {expected:.6g} "
        f"({(measured - expected) / se:+.2f} standard errors, {successes}/{trials})")


# --------------------------------------------------------------------------- theory


def test_binary_entropy_values():
    assert binary_entropy(0.0) == 0.0
    assert binary_entropy(1.0) == 0.0
    assert binary_entropy(0.5) == 1.0
    assert binary_entropy(0.25) == pytest.approx(0.811278124459133, rel=1e-12)
    assert binary_entropy(0.1) == pytest.approx(binary_entropy(0.9), rel=1e-15)


def test_theory_formulas_hand_values():
    eta, y0, e_d = 0.1, 2e-6, 0.01
    assert gain(0.5, eta, y0) == pytest.approx(y0 + 1.0 - math.exp(-0.05), rel=1e-14)
    assert error_gain(0.5, eta, y0, e_d) == pytest.approx(
        0.5 * y0 + e_d * (1.0 - math.exp(-0.05)), rel=1e-14)
    assert qber(0.0, eta, y0, e_d) == 0.5
    assert single_photon_yield(eta, y0) == pytest.approx(y0 + eta - y0 * eta, rel=1e-15)
    assert single_photon_error(eta, y0, e_d) == pytest.approx(
        (0.5 * y0 + e_d * eta) / (y0 + eta - y0 * eta), rel=1e-14)
    # The exact click probability 1-(1-Y0)e^(-ημ) agrees to first order in Y0.
    assert gain(0.5, eta, y0) == pytest.approx(detection_probability(0.5, eta, y0), abs=1e-7)
    assert background_yield(1e-6) == pytest.approx(2e-6, rel=1e-6)


# --------------------------------------------------------------------------- gains and QBER


@pytest.mark.parametrize(("distance_km", "seed"), [(10.0, 101), (50.0, 102)])
def test_gains_and_qber_follow_theory(distance_km, seed):
    """Gain and QBER of every intensity within 3 binomial s.e. of Ma et al. 2005 (3e6 pulses).

    Dark counts 5e-5 per detector so that the vacuum class has counts to compare.
    """
    detector = DetectorModel(dark_count_probability=5e-5)
    source = DecoySource()
    _, _, counts, result = simulate(distance_km, 3_000_000, seed, source=source,
                                    detector=detector)
    eta = eta_of(distance_km, detector)
    y0 = background_yield(detector.dark_count_probability)
    for k, mu in enumerate(source.intensities):
        assert_rate(counts.detected[k], counts.sent[k], gain(mu, eta, y0), f"gain of μ={mu}")
        assert_rate(counts.errors[k], counts.sifted[k], qber(mu, eta, y0, detector.misalignment),
                    f"QBER of μ={mu}")
    assert result.qber_signal < 0.02 and not result.aborted
    # Sifting keeps half of the detections (both bases chosen 50/50).
    assert_rate(counts.sifted[0], counts.detected[0], 0.5, "sifting ratio")


# --------------------------------------------------------------------------- decoy bounds


@pytest.mark.parametrize("distance_km", [10.0, 50.0, 100.0, 150.0])
def test_decoy_bounds_are_valid_and_tight_asymptotically(distance_km):
    """From the exact gains and QBERs: Y1^L <= Y1, e1^U >= e1, and both close."""
    detector = DetectorModel()
    eta = eta_of(distance_km, detector)
    y0 = background_yield(detector.dark_count_probability)
    mu, nu, e_d = 0.5, 0.1, detector.misalignment
    data = dict(signal_intensity=mu, decoy_intensity=nu, gain_signal=gain(mu, eta, y0),
                qber_signal=qber(mu, eta, y0, e_d), gain_decoy=gain(nu, eta, y0),
                qber_decoy=qber(nu, eta, y0, e_d))
    y1, e1 = single_photon_yield(eta, y0), single_photon_error(eta, y0, e_d)
    vw = vacuum_weak_decoy(**data, gain_vacuum=y0)
    assert 0.95 * y1 <= vw.y1_lower <= y1
    assert e1 <= vw.e1_upper <= 1.25 * e1
    assert vw.q1_lower == pytest.approx(vw.y1_lower * mu * math.exp(-mu), rel=1e-12)
    od = one_decoy(**data)
    assert 0.7 * y1 <= od.y1_lower <= vw.y1_lower
    assert e1 <= od.e1_upper <= 3.0 * e1
    assert 0.0 <= od.y0 <= y0


def test_decoy_bounds_from_simulation():
    """Decoy bounds from 3e6 simulated pulses at 10 km bracket the true Y1 and e1.

    More decoy pulses (40%) and e_d = 3% give the decoy class enough errors;
    the simulated bounds agree with the asymptotic ones within 3 s.e.
    (propagated from the binomial errors of Q_ν and of the decoy error count).
    """
    source = DecoySource(probabilities=(0.5, 0.4, 0.1))
    detector = DetectorModel(misalignment=0.03, dark_count_probability=5e-5)
    distance_km = 10.0
    _, _, counts, result = simulate(distance_km, 3_000_000, 103, source=source,
                                    detector=detector)
    eta = eta_of(distance_km, detector)
    y0 = background_yield(detector.dark_count_probability)
    mu, nu = source.intensities[0], source.intensities[1]
    y1 = single_photon_yield(eta, y0)
    e1 = single_photon_error(eta, y0, detector.misalignment)
    exact = vacuum_weak_decoy(
        signal_intensity=mu, decoy_intensity=nu, gain_signal=gain(mu, eta, y0),
        qber_signal=qber(mu, eta, y0, detector.misalignment), gain_decoy=gain(nu, eta, y0),
        qber_decoy=qber(nu, eta, y0, detector.misalignment), gain_vacuum=y0)
    est = result.decoy
    assert est is not None and est.method == "vacuum_weak"
    # Y1^L = μ/(μν-ν²)·[Q_ν e^ν - ...]: dominated by the binomial error of Q_ν.
    q_nu = gain(nu, eta, y0)
    se_y1 = mu / (mu * nu - nu * nu) * math.exp(nu) * math.sqrt(q_nu * (1 - q_nu) / counts.sent[1])
    assert abs(est.y1_lower - exact.y1_lower) <= NUM_STANDARD_ERRORS * se_y1
    assert est.y1_lower <= y1 + NUM_STANDARD_ERRORS * se_y1
    # e1^U ∝ (decoy error count): relative s.e. 1/sqrt(errors).
    se_e1 = exact.e1_upper * math.sqrt(1.0 / counts.errors[1] + (se_y1 / exact.y1_lower) ** 2)
    assert abs(est.e1_upper - exact.e1_upper) <= NUM_STANDARD_ERRORS * se_e1
    assert est.e1_upper >= e1 - NUM_STANDARD_ERRORS * se_e1
    assert 0.9 * y1 <= est.y1_lower and est.e1_upper <= 1.5 * e1


# --------------------------------------------------------------------------- key rate


def test_theoretical_key_rate_cutoff_and_plob():
    detector = DetectorModel()
    rates = {}
    for distance_km in range(0, 301, 10):
        rate = theoretical_key_rate(float(distance_km))
        eta = eta_of(distance_km, detector)
        assert 0.0 <= rate <= plob_bound(eta), distance_km
        rates[distance_km] = rate
    assert rates[10] > 0.0 and rates[200] > 0.0
    assert rates[250] == 0.0 and rates[300] == 0.0
    # Key rate falls with distance.
    assert all(rates[d] >= rates[d + 10] for d in range(0, 300, 10))


def test_simulated_key_rate_positive_and_below_plob():
    """10 km: a positive key within 5% of the asymptotic GLLP rate, below the PLOB bound."""
    detector = DetectorModel()
    source = DecoySource()
    _, _, _, result = simulate(10.0, 2_000_000, 104, source=source, detector=detector)
    eta = eta_of(10.0, detector)
    assert result.secret_key_bits > 0 and not result.aborted
    assert result.key_rate_bits_per_pulse <= plob_bound(eta)
    assert result.key_rate_bits_per_signal_pulse == pytest.approx(theoretical_key_rate(10.0),
                                                                  rel=0.05)
    assert result.key_rate_bits_per_s == pytest.approx(
        result.key_rate_bits_per_pulse * source.source_rate_hz)


def test_simulated_key_is_zero_beyond_cutoff():
    """Noisy detectors (1e-3 per gate): theory cuts off at ~73 km; at 100 km no key,
    both from the decoy-state bound alone (abort disabled) and by the QBER abort.

    (Close beyond the cutoff the asymptotic estimate of a finite block can
    fluctuate above zero: finite-key effects are not modelled.)
    """
    detector = DetectorModel(dark_count_probability=1e-3)
    assert theoretical_key_rate(60.0, dark_count_probability=1e-3) > 0.0
    assert theoretical_key_rate(80.0, dark_count_probability=1e-3) == 0.0
    source = DecoySource()
    _, _, counts, result = simulate(100.0, 2_000_000, 105, source=source, detector=detector)
    assert counts.sifted[0] > 1000
    assert result.aborted and result.secret_key_bits == 0
    no_abort = estimate_block(counts, source, qber_threshold=0.5)
    assert not no_abort.aborted and no_abort.decoy is not None
    assert no_abort.secret_key_bits == 0
    assert no_abort.key_rate_bits_per_pulse <= plob_bound(eta_of(100.0, detector))


# --------------------------------------------------------------------------- eavesdropping


@pytest.mark.parametrize(("fraction", "seed"), [(0.3, 106), (1.0, 107)])
def test_intercept_resend_gives_qber_fraction_over_four(fraction, seed):
    """QBER = f/4 within 3 s.e.; abort above the 11% threshold; Eve knows ~f/2 of the bits.

    e_d = 0 and no dark counts. Eve sits just before Bob (position 1) at 50
    km, so her resent photon is detected as often as Alice's pulse (exact
    for one photon, 1% low for two), as the f/4 law assumes.
    """
    detector = DetectorModel(misalignment=0.0, dark_count_probability=0.0)
    eve = EveModel(attack="intercept_resend", fraction=fraction, position=1.0)
    _, _, counts, result = simulate(50.0, 1_000_000, seed, detector=detector, eve=eve)
    assert_rate(sum(counts.errors), sum(counts.sifted), fraction / 4.0, "intercept-resend QBER")
    assert_rate(sum(counts.eve_known), sum(counts.sifted), fraction / 2.0, "Eve's share")
    assert result.aborted == (fraction / 4.0 > 0.11)
    if result.aborted:
        assert result.secret_key_bits == 0


def test_no_eve_no_abort_at_short_distance():
    _, bob, counts, result = simulate(10.0, 500_000, 108)
    assert not result.aborted and result.secret_key_bits > 0
    assert sum(counts.eve_known) == 0 and not bool(host(bob.eve_knows).any())


def test_beam_splitting_learns_multiphoton_bits_without_errors():
    """Eve keeps the light lost before her: she learns 1 - e^(-μ(1-T_Eve)) of the
    detected signal bits (Poisson splitting), ≈ P(n >= 2 | detected), and the QBER
    stays that of the formula."""
    detector = DetectorModel()
    source = DecoySource()
    distance_km = 50.0
    eve = EveModel(attack="beam_splitting", fraction=1.0, position=1.0)
    alice, bob, counts, result = simulate(distance_km, 2_000_000, 109, source=source,
                                          detector=detector, eve=eve)
    mu = source.intensities[0]
    t_eve = ChannelModel.from_fibre(distance_km).to_eve(1.0)
    expected = 1.0 - math.exp(-mu * (1.0 - t_eve))
    assert_rate(counts.eve_known[0], counts.sifted[0], expected, "Eve's share of signal bits")
    eta = eta_of(distance_km, detector)
    y0 = background_yield(detector.dark_count_probability)
    multi_given_detected = 1.0 - mu * math.exp(-mu) * single_photon_yield(eta, y0) / gain(
        mu, eta, y0)
    assert result.eve_known_fraction == pytest.approx(multi_given_detected, rel=0.1)
    # Simulation truth: Eve knows only multi-photon pulses (single photons she takes are lost).
    sifted = host(sift(alice, bob) & (alice.intensity_class == 0))
    knows = host(bob.eve_knows)[sifted]
    assert (host(alice.photons)[sifted][knows] >= 2).mean() > 0.999
    assert_rate(counts.errors[0], counts.sifted[0],
                qber(mu, eta, y0, detector.misalignment), "QBER under beam splitting")


# --------------------------------------------------------------------------- batches


def split_run(xp, sizes, *, source, detector, eve, start, seed=7, channel=0.9):
    alices, bobs, states = [], [], []
    state = ReceiverState()
    pos = start
    for size in sizes:
        alice = alice_batch(xp, source, seed, pos, size)
        bob, state = bob_detect(xp, alice, transmittance=channel, detector=detector, eve=eve,
                                seed=seed, start_pulse=pos, receiver_state=state)
        alices.append(alice)
        bobs.append(bob)
        states.append(state)
        pos += size
    return alices, bobs, states


def concat(batches, name):
    return np.concatenate([host(getattr(b, name)) for b in batches])


@pytest.mark.parametrize("attack", ["intercept_resend", "beam_splitting"])
def test_results_do_not_depend_on_batch_sizes(attack):
    """Identical arrays and counts for one batch and for 1000 + 333 + rest, and for a split
    right after a click (dead time and a pending afterpulse carried across)."""
    source = DecoySource()
    detector = DetectorModel(dark_count_probability=1e-3, dead_time_pulses=3,
                             afterpulse_probability=0.3)
    eve = EveModel(attack=attack, fraction=0.5)
    total = 5000
    start = SEGMENT_PULSES - 1500  # crosses a chunk and a segment boundary
    assert (start // CHUNK) != ((start + total) // CHUNK)
    whole_a, whole_b, whole_s = split_run(XP, [total], source=source, detector=detector, eve=eve,
                                          start=start)
    clicks = np.flatnonzero(host(whole_b[0].detected))
    assert clicks.size > 500
    first = int(clicks[clicks > 1400][0]) + 1  # a batch ending right after a click
    small = [1 + k % 5 for k in range(60)]  # many short batches: every carry case occurs
    splits = [[1000, 333, total - 1333], [first, 2, total - first - 2],
              small + [total - sum(small)]]
    whole_counts = block_counts(XP, whole_a[0], whole_b[0], source.num_classes)
    split_states = []
    for sizes in splits:
        alices, bobs, states = split_run(XP, sizes, source=source, detector=detector, eve=eve,
                                         start=start)
        for name in ("basis", "bit", "intensity_class", "photons"):
            np.testing.assert_array_equal(concat(alices, name), host(getattr(whole_a[0], name)))
        for name in ("detected", "basis", "bit", "double_click", "eve_knows"):
            np.testing.assert_array_equal(concat(bobs, name), host(getattr(whole_b[0], name)))
        counts = BlockCounts.zeros(source.num_classes)
        for a, b in zip(alices, bobs):
            counts = counts + block_counts(XP, a, b, source.num_classes)
        assert counts == whole_counts
        assert states[-1] == whole_s[-1]
        split_states.append(states)
    # The split after a click carried dead time into the next batch; the short
    # batches carried pending afterpulses and plain dead time.
    assert split_states[1][0].dead_time_left == detector.dead_time_pulses
    assert any(s.afterpulse_due for s in split_states[2])
    assert any(s.dead_time_left > 0 and not s.afterpulse_due for s in split_states[2])


# --------------------------------------------------------------------------- detector effects


def test_dead_time_follows_non_paralysable_formula():
    """Registered clicks per pulse = p/(1 + p·D) (non-paralysable, Knoll), within 3 s.e.

    Raw clicks are independent per pulse with probability p (mixture of the
    intensity classes); the registered count is a renewal process with cycle
    D + Geometric(p), whose s.e. is sqrt(N·σ²/m³) (m, σ² the cycle's mean
    and variance).
    """
    source = DecoySource()
    dead_time_pulses = 10
    detector = DetectorModel(dead_time_pulses=dead_time_pulses)
    num_pulses = 300_000
    _, bob, _, _ = simulate(0.0, num_pulses, 110, source=source, detector=detector)
    eta = eta_of(0.0, detector)
    y0 = background_yield(detector.dark_count_probability)
    p = sum(prob * detection_probability(mu, eta, y0)
            for mu, prob in zip(source.intensities, source.probabilities))
    period_ps = units.seconds_to_ps(1.0 / source.source_rate_hz)
    expected = p * dead_time_efficiency(p * source.source_rate_hz,
                                        dead_time_pulses * period_ps)
    assert expected == pytest.approx(p / (1.0 + p * dead_time_pulses), rel=1e-9)
    mean_cycle = dead_time_pulses + 1.0 / p
    var_cycle = (1.0 - p) / p ** 2
    se = math.sqrt(num_pulses * var_cycle / mean_cycle ** 3) / num_pulses
    measured = float(host(bob.detected).mean())
    assert abs(measured - expected) <= NUM_STANDARD_ERRORS * se, (measured, expected, se)
    # No two registered clicks closer than the dead time.
    assert np.diff(np.flatnonzero(host(bob.detected))).min() > dead_time_pulses


def test_afterpulsing_raises_the_click_rate():
    """Without dead time a click adds one in the next pulse with probability a: the
    stationary click rate is p/(1 - (1-p)·a) (two-state Markov chain), within 3 s.e.
    (Markov-corrected: variance × (1+ρ)/(1-ρ), ρ = (1-p)·a)."""
    source = DecoySource(intensities=(0.5,), probabilities=(1.0,))
    afterpulse = 0.2
    detector = DetectorModel(afterpulse_probability=afterpulse)
    num_pulses = 300_000
    _, bob, _, _ = simulate(20.0, num_pulses, 111, source=source, detector=detector,
                            estimate=False)
    eta = eta_of(20.0, detector)
    p = detection_probability(0.5, eta, background_yield(detector.dark_count_probability))
    rho = (1.0 - p) * afterpulse
    expected = p / (1.0 - rho)
    se = math.sqrt(expected * (1 - expected) / num_pulses * (1 + rho) / (1 - rho))
    measured = float(host(bob.detected).mean())
    assert abs(measured - expected) <= NUM_STANDARD_ERRORS * se, (measured, expected, se)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: DecoySource(intensities=(0.1, 0.5)), "intensities"),
        (lambda: DecoySource(intensities=(0.5, -0.1, 0.0)), "intensities"),
        (lambda: DecoySource(probabilities=(0.5, 0.1, 0.1)), "probabilities"),
        (lambda: DecoySource(probabilities=(0.9, 0.1)), "probabilities"),
        (lambda: DecoySource(z_basis_probability=1.5), "z_basis_probability"),
        (lambda: DecoySource(source_rate_hz=0.0), "source_rate_hz"),
        (lambda: DetectorModel(efficiency=0.0), "efficiency"),
        (lambda: DetectorModel(dark_count_probability=-1e-6), "dark_count_probability"),
        (lambda: DetectorModel(misalignment=2.0), "misalignment"),
        (lambda: DetectorModel(dead_time_pulses=-1), "dead_time_pulses"),
        (lambda: DetectorModel(dead_time_pulses=1.5), "dead_time_pulses"),
        (lambda: DetectorModel(afterpulse_probability=1.1), "afterpulse_probability"),
        (lambda: EveModel(attack="pns"), "attack"),
        (lambda: EveModel(fraction=1.5), "fraction"),
        (lambda: EveModel(basis="Y"), "basis"),
        (lambda: EveModel(position=-0.1), "position"),
        (lambda: ChannelModel(fibre_transmittance=1.2), "fibre_transmittance"),
        (lambda: ReceiverState(dead_time_left=-2), "dead_time_left"),
        (lambda: alice_batch(np, DecoySource(), -1, 0, 10), "seed"),
        (lambda: alice_batch(np, DecoySource(), 1, 0, -10), "num_pulses"),
        (lambda: bob_detect(np, alice_batch(np, DecoySource(), 1, 0, 10), transmittance=0.5,
                            detector=DetectorModel(), seed=1, noise_probability=-0.1),
         "noise_probability"),
        (lambda: bob_detect(np, alice_batch(np, DecoySource(), 1, 0, 10), transmittance=1.5,
                            detector=DetectorModel(), seed=1), "transmittance"),
        (lambda: bob_detect(np, alice_batch(np, DecoySource(), 1, 5, 10), transmittance=0.5,
                            detector=DetectorModel(), seed=1, start_pulse=0), "start_pulse"),
        (lambda: vacuum_weak_decoy(signal_intensity=0.5, decoy_intensity=0.5, gain_signal=0.1,
                                   qber_signal=0.01, gain_decoy=0.05, qber_decoy=0.01,
                                   gain_vacuum=1e-6), "decoy_intensity"),
        (lambda: one_decoy(signal_intensity=0.5, decoy_intensity=0.1, gain_signal=0.0,
                           qber_signal=0.01, gain_decoy=0.05, qber_decoy=0.01), "gain_signal"),
        (lambda: one_decoy(signal_intensity=0.5, decoy_intensity=0.1, gain_signal=0.1,
                           qber_signal=0.01, gain_decoy=0.0, qber_decoy=0.01), "gain_decoy"),
        (lambda: estimate_block(BlockCounts.zeros(1), DecoySource(intensities=(0.5,),
                                                                  probabilities=(1.0,))),
         "intensities"),
        (lambda: estimate_block(BlockCounts.zeros(3), DecoySource(), f_ec=0.5), "f_ec"),
        (lambda: binary_entropy(1.5), "x"),
    ],
)
def test_bad_parameters_raise_value_error_naming_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


def test_empty_batch():
    alice = alice_batch(np, DecoySource(), 1, 10, 0)
    bob, state = bob_detect(np, alice, transmittance=0.5, detector=DetectorModel(), seed=1)
    assert bob.num_pulses == 0 and state == ReceiverState()
    assert block_counts(np, alice, bob, 3) == BlockCounts.zeros(3)


# --------------------------------------------------------------------------- GPU


@pytest.mark.skipif(TEST_BACKEND is None or not TEST_BACKEND.is_gpu,
                    reason="needs DQSIM_TEST_BACKEND=cupy and a GPU")
def test_cupy_matches_numpy_bit_for_bit():
    source = DecoySource()
    detector = DetectorModel(dark_count_probability=1e-4, dead_time_pulses=2,
                             afterpulse_probability=0.1)
    for eve in (None, EveModel(attack="intercept_resend", fraction=0.4),
                EveModel(attack="beam_splitting", fraction=1.0, position=0.3)):
        results = []
        for xp in (np, XP):
            alice = alice_batch(xp, source, 5, 1000, 300_000)
            bob, state = bob_detect(xp, alice, transmittance=ChannelModel.from_fibre(25.0),
                                    detector=detector, eve=eve, seed=5)
            results.append((alice, bob, state, block_counts(xp, alice, bob, 3)))
        (a0, b0, s0, c0), (a1, b1, s1, c1) = results
        for name in ("basis", "bit", "intensity_class", "photons"):
            np.testing.assert_array_equal(host(getattr(a0, name)), host(getattr(a1, name)))
        for name in ("detected", "basis", "bit", "double_click", "eve_knows"):
            np.testing.assert_array_equal(host(getattr(b0, name)), host(getattr(b1, name)))
        assert s0 == s1 and c0 == c1


def test_sample_qber_has_the_law_of_marking_bits_one_by_one():
    """sample_qber (binomial size, hypergeometric errors) against marking each of n bits with
    probability f: mean sample size and mean errors agree within 3 standard errors over 400 draws."""
    n, errors, f, draws = 5_000, 400, 0.2, 400
    rng = np.random.default_rng(3)
    fast = [sample_qber(n, errors, f, rng) for _ in range(draws)]
    bits = np.zeros(n, dtype=bool)
    bits[:errors] = True
    slow = [(int(m.sum()), int(bits[m].sum())) for m in (rng.random((draws, n)) < f)]
    for fast_values, slow_values in (([s.num_sampled for s in fast], [m for m, _ in slow]),
                                     ([s.num_errors for s in fast], [k for _, k in slow])):
        se = math.sqrt(np.var(fast_values) / draws + np.var(slow_values) / draws)
        assert abs(np.mean(fast_values) - np.mean(slow_values)) <= 3 * se
    assert abs(np.mean([s.qber for s in fast]) - errors / n) <= 3 * np.std([s.qber for s in fast]) / math.sqrt(draws)


def test_estimate_block_keys_only_the_bits_left_after_the_sample():
    c = BlockCounts(3, sent=(800_000, 100_000, 100_000), detected=(31_000, 800, 1), sifted=(15_500, 400, 0),
                    errors=(155, 4, 0), sifted_z=(7_750, 200, 0), errors_z=(77, 2, 0), sifted_x=(7_750, 200, 0),
                    errors_x=(78, 2, 0), eve_known=(0, 0, 0), double_clicks=(0, 0, 0))
    whole = estimate_block(c, DecoySource())
    sampled = estimate_block(c, DecoySource(), sample=QberSample(15_500, 3_100, 31))
    assert sampled.num_single_photon_bits_lower == pytest.approx(0.8 * whole.num_single_photon_bits_lower)
    assert sampled.leakage_bits < whole.leakage_bits and 0 < sampled.secret_key_bits < whole.secret_key_bits
    assert (sampled.qber_estimate, sampled.num_estimation_bits) == (0.01, 3_100)
    assert sampled.qber_estimate_standard_error == pytest.approx(math.sqrt(0.01 * 0.99 / 3_100))
    assert estimate_block(c, DecoySource(), sample=QberSample(15_500, 100, 50)).aborted  # estimate 0.5
    with pytest.raises(DqsimError, match="sample"):
        estimate_block(c, DecoySource(), sample=QberSample(100, 10, 1))
