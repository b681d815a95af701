"""BBM92/E91 with an intercept-resend eavesdropper and BBM92 with biased bases, against their physics.

Statistical tolerance: each estimate lies within 3 standard errors of the
formula (fixed seeds, so the outcome never changes). Standard errors:
binomial ``sqrt(p(1 - p)/n)`` for QBERs and fractions, ``sqrt(Σ (1 - E²)/N)``
for CHSH (:func:`~dqsim.protocols.qkd.entangled.chsh_from_counts`).

Formulas (:mod:`dqsim.protocols.qkd.entangled`, *Eavesdropper*): the pairs
Eve attacks have correlation ``w·cos(α - θe)·cos(β - θe)``, so BBM92's sifted
QBER is ``(1 - w·(1 - f/2)·N)/2`` for a random basis (1/4 at f = 1, w = 1,
N = 1), with ``N = (1 - 2e_d)²·q_a·q_b/(c_a·c_b)`` the noise factor; E91's
CHSH value is ``√2·w·(2 - f)·N`` in every basis of Eve's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import TEST_BACKEND
from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.errors import DqsimError
from dqsim.jobs import apply_overrides, load_job
from dqsim.protocols.qkd import entangled
from dqsim.protocols.qkd.bb84 import EveModel
from dqsim.protocols.qkd.entangled import (
    EntangledSource,
    bbm92_batch,
    chsh_estimate,
    e91_batch,
    expected_chsh,
    expected_qber,
    expected_sifted_fraction,
    sifted_statistics,
)
from dqsim.protocols.qkd.entangled_block import entangled_block_key
from dqsim.rng import Stream
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT

#: A lossy, noisy channel: the attack's errors combine with misalignment and dark counts.
CHANNEL = dict(transmittance_alice=0.5, transmittance_bob=0.4, efficiency=0.8, dark_count_probability=2e-3,
               misalignment=0.02)
IDEAL = dict(transmittance_alice=1.0, transmittance_bob=1.0, efficiency=1.0, dark_count_probability=0.0)


def intercept(fraction, basis="random"):
    return EveModel(attack="intercept_resend", fraction=fraction, basis=basis)


def noise_factor(channel):
    """(1 - 2e_d)²·q_a·q_b/(c_a·c_b), written out from expected_qber's docstring."""
    factor = (1.0 - 2.0 * channel.get("misalignment", 0.0)) ** 2
    for t in (channel["transmittance_alice"], channel["transmittance_bob"]):
        p, d = t * channel["efficiency"], channel["dark_count_probability"]
        factor *= p * (1.0 - d) / (1.0 - (1.0 - p) * (1.0 - d) ** 2)
    return factor


def within(value, expected, standard_error, k=3.0):
    return abs(value - expected) <= k * standard_error


# ------------------------------------------------------------------ BBM92 QBER under intercept-resend
def test_bbm92_intercept_resend_of_every_pair_gives_a_qber_of_one_quarter():
    source = EntangledSource(werner=1.0)
    counts = sifted_statistics(bbm92_batch(np, source, seed=11, start_pair=0, num_pairs=400_000,
                                           eve=intercept(1.0), **IDEAL))
    assert within(counts.qber, 0.25, math.sqrt(0.25 * 0.75 / counts.num_sifted))
    assert expected_qber(source, eve=intercept(1.0), **IDEAL) == pytest.approx(0.25, abs=1e-15)


@pytest.mark.parametrize("fraction", [0.2, 0.5, 1.0])
@pytest.mark.parametrize("werner", [1.0, 0.9])
def test_bbm92_qber_is_f_over_4_combined_with_the_channel_errors(fraction, werner):
    """Q = (1 - w·(1 - f/2)·N)/2 ≈ (1 - w)/2 + w·f/4 for a small channel error (random basis)."""
    source = EntangledSource(werner=werner)
    eve = intercept(fraction)
    expected = 0.5 * (1.0 - werner * (1.0 - fraction / 2.0) * noise_factor(CHANNEL))
    assert expected_qber(source, eve=eve, **CHANNEL) == pytest.approx(expected, rel=1e-12)
    counts = sifted_statistics(bbm92_batch(np, source, seed=12, start_pair=0, num_pairs=1_000_000, eve=eve,
                                           **CHANNEL))
    assert within(counts.qber, expected, math.sqrt(expected * (1 - expected) / counts.num_sifted))


@pytest.mark.parametrize("basis, zz_errors, xx_errors", [("Z", 0.0, 0.5), ("X", 0.5, 0.0)])
def test_bbm92_fixed_basis_eve_disturbs_only_the_other_basis(basis, zz_errors, xx_errors):
    counts = sifted_statistics(bbm92_batch(np, EntangledSource(werner=1.0), seed=13, start_pair=0,
                                           num_pairs=200_000, eve=intercept(1.0, basis), **IDEAL))
    for n, errors, expected in zip(counts.key_pair_sifted, counts.key_pair_errors, (zz_errors, xx_errors)):
        assert within(errors / n, expected, math.sqrt(max(expected * (1 - expected), 0.25 / n) / n))
    assert expected_qber(EntangledSource(werner=1.0), eve=intercept(1.0, basis), **IDEAL) == pytest.approx(0.25)


def test_eve_knows_the_bits_she_measured_in_the_key_basis():
    """Random basis on every pair: half the sifted bits, and her bit is Alice's there (w = 1)."""
    batch = bbm92_batch(np, EntangledSource(werner=1.0), seed=14, start_pair=0, num_pairs=200_000,
                        eve=intercept(1.0), **IDEAL)
    counts = sifted_statistics(batch)
    assert within(counts.eve_known_fraction, 0.5, math.sqrt(0.25 / counts.num_sifted))
    sifted = (batch.alice_setting == batch.bob_setting) & batch.alice_detected & batch.bob_detected
    assert not (batch.alice_bit != batch.bob_bit)[sifted & batch.eve_knows].any()
    assert counts.num_eve_known == int((sifted & batch.eve_knows).sum())


def test_eve_of_fraction_zero_changes_nothing():
    source = EntangledSource(werner=0.95)
    for make in (bbm92_batch, e91_batch):
        plain = make(np, source, seed=15, start_pair=1000, num_pairs=50_000, **CHANNEL)
        idle = make(np, source, seed=15, start_pair=1000, num_pairs=50_000, eve=intercept(0.0), **CHANNEL)
        for name in ("alice_detected", "bob_detected", "alice_setting", "bob_setting", "alice_bit", "bob_bit"):
            assert np.array_equal(getattr(plain, name), getattr(idle, name)), name
        assert sifted_statistics(idle).num_eve_known == 0


def test_eve_changes_no_detection_and_no_setting():
    """Her detector is perfect and she resends one photon: Bob detects with the untapped arm's probability."""
    source = EntangledSource(werner=1.0)
    plain = bbm92_batch(np, source, seed=16, start_pair=0, num_pairs=50_000, **CHANNEL)
    tapped = bbm92_batch(np, source, seed=16, start_pair=0, num_pairs=50_000, eve=intercept(1.0), **CHANNEL)
    for name in ("alice_detected", "bob_detected", "alice_setting", "bob_setting"):
        assert np.array_equal(getattr(plain, name), getattr(tapped, name)), name
    assert not np.array_equal(plain.bob_bit, tapped.bob_bit)


def test_attacked_pairs_do_not_depend_on_the_batching():
    source = EntangledSource(werner=0.9)
    whole = e91_batch(np, source, seed=17, start_pair=70_000, num_pairs=90_000, eve=intercept(0.5), **CHANNEL)
    first = e91_batch(np, source, seed=17, start_pair=70_000, num_pairs=40_000, eve=intercept(0.5), **CHANNEL)
    rest = e91_batch(np, source, seed=17, start_pair=110_000, num_pairs=50_000, eve=intercept(0.5), **CHANNEL)
    for name in ("alice_bit", "bob_bit", "eve_knows"):
        assert np.array_equal(getattr(whole, name), np.concatenate([getattr(first, name), getattr(rest, name)]))


# ------------------------------------------------------------------ E91 CHSH under intercept-resend
def test_expected_chsh_by_hand():
    """Ekert's terms E(a1,b1) - E(a1,b3) + E(a3,b1) + E(a3,b3) with E = w·cos(α-θe)·cos(β-θe), averaged."""
    r = 1.0 / math.sqrt(2.0)
    by_basis = {"Z": r - (-r) + 0.0 + 0.0,            # cos α cos β: α ∈ {0, π/2}, β ∈ {π/4, 3π/4}
                "X": 0.0 - 0.0 + r + r,               # sin α sin β
                "random": (2 * math.sqrt(2.0)) / 2.0}  # cos(α - β)/2
    for basis, attacked in by_basis.items():
        for f in (0.0, 0.4, 1.0):
            expected = 0.9 * ((1 - f) * 2 * math.sqrt(2.0) + f * attacked)
            assert expected_chsh(EntangledSource(werner=0.9), eve=intercept(f, basis), **IDEAL) == \
                pytest.approx(expected, rel=1e-12)
    assert by_basis["Z"] == by_basis["X"] == pytest.approx(math.sqrt(2.0))


@pytest.mark.parametrize("basis", ["random", "Z", "X"])
@pytest.mark.parametrize("fraction", [0.5, 1.0])
def test_e91_chsh_drops_to_root_two_w_under_intercept_resend(basis, fraction):
    source = EntangledSource(werner=0.95)
    eve = intercept(fraction, basis)
    expected = math.sqrt(2.0) * 0.95 * (2.0 - fraction) * noise_factor(CHANNEL)
    assert expected_chsh(source, eve=eve, **CHANNEL) == pytest.approx(expected, rel=1e-12)
    s, se = chsh_estimate(e91_batch(np, source, seed=18, start_pair=0, num_pairs=1_500_000, eve=eve, **CHANNEL))
    assert within(s, expected, se)
    if fraction == 1.0:
        assert s + 3 * se < 2.0  # no violation: the attacked pairs are separable


@pytest.mark.parametrize("basis, key_correlation", [("random", 0.5), ("Z", 0.25), ("X", 0.75)])
def test_e91_key_qber_under_intercept_resend(basis, key_correlation):
    """Key pairs at π/4 and π/2 (equally often): Ē = mean of cos²(α - θe) over them and Eve's bases."""
    source = EntangledSource(werner=1.0)
    expected = 0.5 * (1.0 - key_correlation)
    assert expected_qber(source, eve=intercept(1.0, basis), protocol="e91", **IDEAL) == pytest.approx(expected)
    counts = sifted_statistics(e91_batch(np, source, seed=19, start_pair=0, num_pairs=600_000,
                                         eve=intercept(1.0, basis), **IDEAL))
    assert within(counts.qber, expected, math.sqrt(expected * (1 - expected) / counts.num_sifted))


@pytest.mark.parametrize("make, source", [(bbm92_batch, EntangledSource(werner=0.95, z_basis_probability=0.8)),
                                          (e91_batch, EntangledSource(werner=0.95))])
def test_backend_gives_the_same_attacked_pairs_as_numpy(make, source):
    if TEST_BACKEND is None:
        pytest.skip("needs DQSIM_TEST_BACKEND=cupy and a GPU")
    ref = make(np, source, seed=23, start_pair=10, num_pairs=70_000, eve=intercept(0.6), **CHANNEL)
    dev = make(TEST_BACKEND.xp, source, seed=23, start_pair=10, num_pairs=70_000, eve=intercept(0.6), **CHANNEL)
    for name in ("alice_detected", "bob_detected", "alice_setting", "bob_setting", "alice_bit", "bob_bit",
                 "eve_knows"):
        np.testing.assert_array_equal(TEST_BACKEND.to_host(getattr(dev, name)), getattr(ref, name), err_msg=name)
    assert sifted_statistics(dev) == sifted_statistics(ref)


def test_attacks_that_are_not_modelled_are_refused():
    with pytest.raises(DqsimError, match="eve.attack must be 'intercept_resend' or 'none'"):
        bbm92_batch(np, EntangledSource(), seed=0, start_pair=0, num_pairs=10,
                    eve=EveModel(attack="beam_splitting", fraction=1.0), **IDEAL)
    with pytest.raises(DqsimError, match="mean_pair_number must be None"):
        e91_batch(np, EntangledSource(mean_pair_number=0.1), seed=0, start_pair=0, num_pairs=10,
                  eve=intercept(1.0), **IDEAL)
    with pytest.raises(DqsimError, match="eve must be an EveModel"):
        bbm92_batch(np, EntangledSource(), seed=0, start_pair=0, num_pairs=10, eve="intercept", **IDEAL)


# ------------------------------------------------------------------ BBM92 with biased bases
@pytest.mark.parametrize("p", [0.5, 0.7, 0.9])
def test_biased_bases_sift_p2_plus_1_minus_p_squared(p):
    source = EntangledSource(werner=0.98, z_basis_probability=p)
    counts = sifted_statistics(bbm92_batch(np, source, seed=20, start_pair=0, num_pairs=400_000, **CHANNEL))
    s = p * p + (1 - p) ** 2
    assert expected_sifted_fraction("bbm92", p) == pytest.approx(s, rel=1e-15)
    n = counts.num_coincidences
    assert within(counts.num_sifted / n, s, math.sqrt(s * (1 - s) / n))
    zz = p * p / s  # the Z–Z share of the sifted bits
    assert within(counts.key_pair_sifted[0] / counts.num_sifted, zz, math.sqrt(zz * (1 - zz) / counts.num_sifted))
    expected = expected_qber(source, **CHANNEL)  # no Eve: the bias leaves the QBER alone
    assert within(counts.qber, expected, math.sqrt(expected * (1 - expected) / counts.num_sifted))


def test_unbiased_bases_are_the_old_draw():
    """p = 1/2 draws the settings as before the bias existed: ⌊2u⌋ of each side's setting uniform."""
    batch = bbm92_batch(np, EntangledSource(z_basis_probability=0.5), seed=21, start_pair=5, num_pairs=20_000,
                        **CHANNEL)
    for role, setting in (("alice", batch.alice_setting), ("bob", batch.bob_setting)):
        u = entangled._uniforms(Stream(21, node=0, purpose=f"bbm92-{role}"), 5, 20_000, entangled._NUM_SIDE_COLUMNS)
        old = np.minimum((u[:, entangled._SIDE_SETTING] * 2).astype(np.int8), 1)
        assert np.array_equal(setting, old), role


def test_biased_bases_raise_the_finite_key():
    """Tomamichel et al.'s key (Z–Z bits, X–X test) at the same pairs: p = 0.9 beats p = 0.5.

    At ~656,000 coincidences the X–X test keeps (1 - p)² ≈ 6,600 bits at p = 0.9;
    with far fewer coincidences the small test's statistical penalty wins
    instead (e.g. 256,000 coincidences of ``CHANNEL``: 4,265 bits at p = 0.9
    against 13,795 at p = 0.5).
    """
    keys = {}
    channel = dict(transmittance_alice=0.9, transmittance_bob=0.9, efficiency=0.9, dark_count_probability=1e-4,
                   misalignment=0.01)
    for p in (0.5, 0.9):
        source = EntangledSource(werner=0.98, z_basis_probability=p)
        counts = sifted_statistics(bbm92_batch(np, source, seed=22, start_pair=0, num_pairs=1_000_000, **channel))
        result = entangled_block_key(counts, protocol="bbm92", pair_rate_hz=1e9, rng=np.random.default_rng(0),
                                     f_ec=1.16, qber_threshold=0.11, sample_fraction=0.1,
                                     finite_key=(1e-10, 1e-15))
        assert not result.aborted
        keys[p] = result.secret_key_bits
    assert keys[0.9] > 1.5 * keys[0.5] > 0


def test_e91_refuses_biased_bases():
    with pytest.raises(DqsimError, match="z_basis_probability must be 0.5 for E91"):
        e91_batch(np, EntangledSource(z_basis_probability=0.8), seed=0, start_pair=0, num_pairs=10, **IDEAL)


# ------------------------------------------------------------------ in a job
def run(job_name, *overrides):
    job = apply_overrides(load_job(ROOT / "jobs" / f"{job_name}.toml"), list(overrides))
    return job, qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))


def link_expectations(job, eve):
    phys = qkd_scenario.link_physics(job, 0, 0, 1, job.qkd.link.distance_km)
    channel = dict(transmittance_alice=phys.arm_transmittances[0], transmittance_bob=phys.arm_transmittances[1],
                   efficiency=phys.detector.efficiency, misalignment=phys.detector.misalignment,
                   dark_count_probability=phys.detector.dark_count_probability + phys.noise_probability)
    source = qkd_scenario._pair_source(job)
    return (expected_qber(source, protocol=job.qkd.protocol, eve=eve, **channel),
            expected_chsh(source, eve=eve, **channel))


SMALL = ("qkd.pulses=1000000", "qkd.batch_pulses=500000")


@pytest.mark.parametrize("fraction", [0.3, 1.0])
def test_bbm92_job_with_eve_has_her_qber_and_aborts_above_the_threshold(fraction):
    eve = f'qkd.eve={{attack="intercept_resend", fraction={fraction}, distance_km=4}}'
    job, out = run("bbm92_20km", *SMALL, eve)
    (block,) = out.tables["blocks"]
    expected, _ = link_expectations(job, intercept(fraction))
    assert within(block["qber_signal"], expected, math.sqrt(expected * (1 - expected) / block["sifted_bits"]))
    assert bool(block["aborted"]) == (expected > job.qkd.qber_threshold) and out.attrs["aborted"] == (fraction == 1)
    assert block["secret_key_bits"] == 0  # 0.3/4 on top of ~3 %: Shor–Preskill leaves nothing either
    assert within(block["eve_known_fraction"], fraction / 2, math.sqrt(0.25 / block["sifted_bits"]))
    _job, clean = run("bbm92_20km", *SMALL)
    assert clean.tables["blocks"]["qber_signal"][0] < expected - 0.05 * fraction
    assert clean.tables["blocks"]["eve_known_fraction"][0] == 0.0


def test_an_idle_eve_leaves_a_bbm92_job_unchanged():
    _job, clean = run("bbm92_20km", *SMALL)
    _job, idle = run("bbm92_20km", *SMALL, 'qkd.eve={attack="none"}')
    for field in ("qber_signal", "sifted_bits", "secret_key_bits"):
        assert np.array_equal(clean.tables["blocks"][field], idle.tables["blocks"][field]), field


def test_e91_job_with_eve_loses_the_chsh_violation_and_aborts():
    job, out = run("e91_chsh", "qkd.pulses=2000000", "qkd.batch_pulses=500000",
                   'qkd.eve={attack="intercept_resend", basis="X"}')
    qber, chsh = link_expectations(job, intercept(1.0, "X"))
    s, se = out.attrs["chsh_s"], out.attrs["chsh_standard_error"]
    assert within(s, chsh, se) and s + 3 * se < 2.0
    (block,) = out.tables["blocks"]
    assert within(block["qber_signal"], qber, math.sqrt(qber * (1 - qber) / block["sifted_bits"]))
    assert block["aborted"] and block["secret_key_bits"] == 0


def test_bbm92_job_with_biased_bases_sifts_more_and_keeps_a_larger_finite_key():
    results = {}
    for p in (0.5, 0.9):
        _job, out = run("bbm92_20km", "qkd.pulses=2000000", "qkd.batch_pulses=500000", 'qkd.security="finite_key"',
                        f"qkd.source.z_basis_probability={p}")
        (block,) = out.tables["blocks"]
        s = p * p + (1 - p) ** 2
        n = block["detections_signal"]  # the coincidences
        assert within(block["sifted_bits"] / n, s, math.sqrt(s * (1 - s) / n))
        results[p] = block["secret_key_bits"]
    assert results[0.9] > 1.2 * results[0.5] > 0


def test_bbm92_eve_intercept_job_file_aborts_at_a_qber_near_one_quarter():
    job, out = run("bbm92_eve_intercept", "qkd.pulses=1000000", "qkd.batch_pulses=500000",
                   "qkd.block_pulses=500000")
    assert job.qkd.eve.distance_km == 5.0 and job.qkd.eve.fraction == 1.0
    expected, _ = link_expectations(job, intercept(1.0))
    assert 0.26 < expected < 0.28
    blocks = out.tables["blocks"]
    assert len(blocks) == 2 and blocks["aborted"].all() and out.attrs["total_secret_key_bits"] == 0
    for block in blocks:
        assert within(block["qber_signal"], expected, math.sqrt(expected * (1 - expected) / block["sifted_bits"]))
