"""Entanglement-based QKD (dqsim.protocols.qkd.entangled) against its physics.

Statistical tolerance: each estimate must lie within 3 standard errors of
the formula (a false-alarm rate of ~0.3 % per check for a correct model;
with fixed seeds the outcome never changes). Standard errors: binomial
``sqrt(p(1 - p)/n)`` for rates and QBERs, ``sqrt(Σ (1 - E²)/N)`` for CHSH
(:func:`chsh_from_counts`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import pickle
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import TEST_BACKEND
from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.errors import DqsimError
from dqsim.jobs import apply_overrides, load_job
from dqsim.protocols.qkd.classical_channel import ClassicalChannel
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT
from dqsim.network.werner import chsh_value
from dqsim.protocols.qkd.entangled import (
    CHUNK_PAIRS,
    E91_ALICE_ANGLES,
    E91_BOB_ANGLES,
    E91_CHSH_TERMS,
    EntangledSource,
    SiftedCounts,
    arm_transmittances,
    asymptotic_key_rate,
    bbm92_batch,
    chsh_estimate,
    chsh_from_counts,
    coincidence_counts,
    e91_batch,
    expected_coincidence_probability,
    expected_qber,
    sifted_statistics,
)
from dqsim.protocols.qkd.nodes import (OLD_SPDC_SOURCE_MODEL, SPDC_SOURCE_MODEL, EntangledAlice, LinkTally,
                                       refuse_old_spdc_source)
from dqsim.protocols.qkd.spdc import optimal_mean_pair_number, pair_statistics, spdc_key_rate

LOSSLESS = dict(transmittance_alice=1.0, transmittance_bob=1.0, efficiency=1.0, dark_count_probability=0.0)
FIELDS = ("alice_detected", "bob_detected", "alice_setting", "bob_setting", "alice_bit", "bob_bit")


def _h(p: float) -> float:
    return 0.0 if p in (0.0, 1.0) else -p * math.log2(p) - (1 - p) * math.log2(1 - p)


# --- angle convention -------------------------------------------------------------------------

def test_ekert_combination_is_two_root_two_w_by_density_matrix():
    """E(α, β) = Tr(ρ_w A(α)⊗A(β)) with A(θ) = cos θ Z + sin θ X, computed with matrices."""
    z = np.diag([1.0, -1.0])
    x = np.array([[0.0, 1.0], [1.0, 0.0]])
    phi = np.array([1.0, 0.0, 0.0, 1.0]) / math.sqrt(2)
    for w in (1.0, 0.9, 0.7):
        rho = w * np.outer(phi, phi) + (1 - w) * np.eye(4) / 4

        def corr(alpha, beta):
            a = math.cos(alpha) * z + math.sin(alpha) * x
            b = math.cos(beta) * z + math.sin(beta) * x
            return float(np.trace(rho @ np.kron(a, b)))

        s = sum(sign * corr(E91_ALICE_ANGLES[i], E91_BOB_ANGLES[j]) for i, j, sign in E91_CHSH_TERMS)
        assert s == pytest.approx(chsh_value(w), abs=1e-12)
        assert corr(E91_ALICE_ANGLES[1], E91_BOB_ANGLES[0]) == pytest.approx(w, abs=1e-12)
        assert corr(E91_ALICE_ANGLES[2], E91_BOB_ANGLES[1]) == pytest.approx(w, abs=1e-12)


# --- CHSH -------------------------------------------------------------------------------------

@pytest.mark.parametrize("werner, seed", [(1.0, 11), (0.9, 12), (0.7, 13)])
def test_chsh_matches_two_root_two_w(werner, seed):
    batch = e91_batch(np, EntangledSource(werner=werner), **LOSSLESS, seed=seed, start_pair=0, num_pairs=200_000)
    s, se = chsh_estimate(batch)
    assert 0 < se < 0.02
    assert abs(s - 2 * math.sqrt(2) * werner) < 3 * se


@pytest.mark.parametrize("werner", [1 / math.sqrt(2), 0.5, 0.0])
def test_no_chsh_violation_at_or_below_one_over_root_two(werner):
    batch = e91_batch(np, EntangledSource(werner=werner), **LOSSLESS, seed=21, start_pair=0, num_pairs=200_000)
    s, se = chsh_estimate(batch)
    assert s <= 2.0 + 3 * se


def test_chsh_from_counts_errors_and_values():
    counts = np.zeros((3, 3, 2, 2), dtype=np.int64)
    counts[..., 0, 1] = counts[..., 1, 0] = 10  # anticorrelated everywhere: E = -1, S = |-1 + 1 - 1 - 1| = 2
    assert chsh_from_counts(counts) == (2.0, 0.0)
    counts[0, 0] = 0
    with pytest.raises(ValueError, match="no coincidences"):
        chsh_from_counts(counts)
    with pytest.raises(ValueError, match="counts"):
        chsh_from_counts(np.zeros((3, 3, 2)))
    bbm = bbm92_batch(np, EntangledSource(), **LOSSLESS, seed=1, start_pair=0, num_pairs=10)
    with pytest.raises(ValueError, match="protocol"):
        chsh_estimate(bbm)


# --- QBER, sifting, key rate ------------------------------------------------------------------

@pytest.mark.parametrize("werner", [1.0, 0.98, 0.9, 0.7])
@pytest.mark.parametrize("batch_fn, sifted_per_coincidence", [(bbm92_batch, 1 / 2), (e91_batch, 2 / 9)])
def test_qber_is_one_minus_w_over_two(werner, batch_fn, sifted_per_coincidence):
    batch = batch_fn(np, EntangledSource(werner=werner), **LOSSLESS, seed=31, start_pair=0, num_pairs=200_000)
    counts = sifted_statistics(batch)
    assert counts.num_coincidences == 200_000
    q = (1 - werner) / 2
    if werner == 1.0:
        assert counts.num_errors == 0
    else:
        se = math.sqrt(q * (1 - q) / counts.num_sifted)
        assert abs(counts.qber - q) < 3 * se
    p = sifted_per_coincidence
    assert abs(counts.sifted_fraction - p) < 3 * math.sqrt(p * (1 - p) / counts.num_pairs)


def test_mismatched_bases_are_uncorrelated():
    batch = bbm92_batch(np, EntangledSource(werner=1.0), **LOSSLESS, seed=32, start_pair=0, num_pairs=100_000)
    counts = coincidence_counts(batch)
    for a, b in ((0, 1), (1, 0)):
        cell = counts[a, b]
        n = cell.sum()
        agree = (cell[0, 0] + cell[1, 1]) / n
        assert abs(agree - 0.5) < 3 * math.sqrt(0.25 / n)


@pytest.mark.parametrize("t_a, t_b, eta", [(0.3, 0.5, 0.8), (0.1, 0.1, 0.9), (1.0, 0.05, 0.6)])
def test_coincidence_rate_is_product_of_transmittances(t_a, t_b, eta):
    batch = bbm92_batch(np, EntangledSource(), transmittance_alice=t_a, transmittance_bob=t_b, efficiency=eta,
                        dark_count_probability=0.0, seed=41, start_pair=0, num_pairs=200_000)
    n = batch.num_pairs
    p = t_a * t_b * eta**2
    assert expected_coincidence_probability(transmittance_alice=t_a, transmittance_bob=t_b, efficiency=eta,
                                            dark_count_probability=0.0) == pytest.approx(p, rel=1e-12)
    rate = sifted_statistics(batch).coincidence_fraction
    assert abs(rate - p) < 3 * math.sqrt(p * (1 - p) / n)
    for detected, t in ((batch.alice_detected, t_a), (batch.bob_detected, t_b)):
        single = float(detected.mean())
        assert abs(single - t * eta) < 3 * math.sqrt(t * eta * (1 - t * eta) / n)
    # Bits of undetected sides are 0.
    assert not np.any(batch.alice_bit[~batch.alice_detected])
    assert not np.any(batch.bob_bit[~batch.bob_detected])


def test_arm_transmittances_follow_source_position():
    t_a, t_b = arm_transmittances(EntangledSource(position=0.25), 100.0, 0.2)
    assert t_a == pytest.approx(10 ** (-0.5), rel=1e-12)
    assert t_b == pytest.approx(10 ** (-1.5), rel=1e-12)
    assert arm_transmittances(EntangledSource(position=0.0), 50.0, 0.2) == pytest.approx((1.0, 0.1))


@pytest.mark.parametrize("batch_fn", [bbm92_batch, e91_batch])
def test_dark_counts_raise_qber(batch_fn):
    source = EntangledSource(werner=0.98)
    channel = dict(transmittance_alice=0.2, transmittance_bob=0.2, efficiency=0.5)
    clean = sifted_statistics(batch_fn(np, source, **channel, dark_count_probability=0.0,
                                       seed=51, start_pair=0, num_pairs=400_000))
    noisy = sifted_statistics(batch_fn(np, source, **channel, dark_count_probability=0.01,
                                       seed=51, start_pair=0, num_pairs=400_000))
    q_clean = expected_qber(source, **channel, dark_count_probability=0.0)
    q_noisy = expected_qber(source, **channel, dark_count_probability=0.01)
    assert q_clean == pytest.approx(0.01, abs=1e-12)
    assert q_noisy > 0.15
    assert abs(clean.qber - q_clean) < 3 * clean.qber_standard_error
    assert abs(noisy.qber - q_noisy) < 3 * math.sqrt(q_noisy * (1 - q_noisy) / noisy.num_sifted)
    assert noisy.qber - clean.qber > 3 * math.hypot(clean.qber_standard_error, noisy.qber_standard_error)
    c = expected_coincidence_probability(**channel, dark_count_probability=0.01)
    assert abs(noisy.coincidence_fraction - c) < 3 * math.sqrt(c * (1 - c) / noisy.num_pairs)


def test_lone_dark_counts_give_random_bits():
    batch = bbm92_batch(np, EntangledSource(werner=1.0), transmittance_alice=0.0, transmittance_bob=0.0,
                        efficiency=1.0, dark_count_probability=0.2, seed=52, start_pair=0, num_pairs=100_000)
    counts = sifted_statistics(batch)
    assert abs(counts.qber - 0.5) < 3 * math.sqrt(0.25 / counts.num_sifted)
    d = 0.2
    c = (1 - (1 - d) ** 2) ** 2
    assert abs(counts.coincidence_fraction - c) < 3 * math.sqrt(c * (1 - c) / counts.num_pairs)


def test_asymptotic_key_rate():
    perfect = sifted_statistics(bbm92_batch(np, EntangledSource(werner=1.0), **LOSSLESS, seed=61,
                                            start_pair=0, num_pairs=50_000))
    assert asymptotic_key_rate(perfect) == pytest.approx(perfect.sifted_fraction, rel=1e-12)
    noisy = SiftedCounts(num_pairs=1000, num_coincidences=500, num_sifted=250, num_errors=10)
    assert asymptotic_key_rate(noisy) == pytest.approx(0.25 * (1 - 2 * _h(0.04)), rel=1e-12)
    too_noisy = SiftedCounts(num_pairs=1000, num_coincidences=500, num_sifted=250, num_errors=30)  # Q = 12 %
    assert asymptotic_key_rate(too_noisy) == 0.0
    assert asymptotic_key_rate(SiftedCounts(0, 0, 0, 0)) == 0.0
    with pytest.raises(ValueError, match="counts"):
        asymptotic_key_rate(noisy.num_sifted)


# --- randomness -------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_fn", [bbm92_batch, e91_batch])
@pytest.mark.parametrize("start", [0, 1000, CHUNK_PAIRS - 1])
def test_batch_size_independence(batch_fn, start):
    source = EntangledSource(werner=0.9)
    channel = dict(transmittance_alice=0.5, transmittance_bob=0.3, efficiency=0.8, dark_count_probability=0.05)
    total = 2 * CHUNK_PAIRS + 123
    whole = batch_fn(np, source, **channel, seed=7, start_pair=start, num_pairs=total)
    sizes = [1, CHUNK_PAIRS - 2, 3, CHUNK_PAIRS + 17]
    sizes.append(total - sum(sizes))
    parts, first = [], start
    for size in sizes:
        parts.append(batch_fn(np, source, **channel, seed=7, start_pair=first, num_pairs=size))
        first += size
    for name in FIELDS:
        joined = np.concatenate([getattr(p, name) for p in parts])
        np.testing.assert_array_equal(joined, getattr(whole, name), err_msg=name)
    other_seed = batch_fn(np, source, **channel, seed=8, start_pair=start, num_pairs=total)
    other_node = batch_fn(np, source, **channel, seed=7, start_pair=start, num_pairs=total, node=1)
    assert not np.array_equal(other_seed.alice_setting, whole.alice_setting)
    assert not np.array_equal(other_node.alice_setting, whole.alice_setting)


@pytest.mark.parametrize("batch_fn", [bbm92_batch, e91_batch])
def test_a_one_pair_batch_draws_about_one_pairs_uniforms(batch_fn, monkeypatch):
    """Boundary runs (bench/boundary_runs.py, 2026-12-06): ``batch_pulses = 1`` drew a whole chunk (2^16 rows)
    per pair and side, 2 ms a pair, so 200,000 pairs ran past a minute (10^7, the default, some 6 hours)."""
    from dqsim.rng import Stream

    drawn = []
    make = Stream.generator

    def counting(self, event):
        generator = make(self, event)

        class Counted:
            bit_generator = generator.bit_generator

            def random(self, size=None, dtype=np.float64):
                drawn.append(int(np.prod(size)))
                return generator.random(size, dtype=dtype)
        return Counted()

    monkeypatch.setattr(Stream, "generator", counting)
    source = EntangledSource(werner=0.9)
    channel = dict(transmittance_alice=0.5, transmittance_bob=0.3, efficiency=0.8, dark_count_probability=0.05)
    one = batch_fn(np, source, **channel, seed=7, start_pair=CHUNK_PAIRS - 2, num_pairs=1)
    assert sum(drawn) <= 3 * 8, drawn  # three sides of a few columns, plus at most 3 words dropped each
    monkeypatch.undo()
    whole = batch_fn(np, source, **channel, seed=7, start_pair=CHUNK_PAIRS - 5, num_pairs=5)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(one, name), getattr(whole, name)[3:4], err_msg=name)


def test_empty_batch():
    batch = e91_batch(np, EntangledSource(), **LOSSLESS, seed=0, start_pair=5, num_pairs=0)
    assert all(getattr(batch, name).shape == (0,) for name in FIELDS)
    assert sifted_statistics(batch) == SiftedCounts(0, 0, 0, 0, (0, 0), (0, 0), num_bob_clicks=0)
    assert coincidence_counts(batch).shape == (3, 3, 2, 2)


@pytest.mark.parametrize("batch_fn", [bbm92_batch, e91_batch])
def test_backend_gives_same_outcomes_as_numpy(batch_fn):
    if TEST_BACKEND is None:
        pytest.skip("no GPU")
    xp = TEST_BACKEND.xp
    channel = dict(transmittance_alice=0.4, transmittance_bob=0.6, efficiency=0.9, dark_count_probability=0.01)
    ref = batch_fn(np, EntangledSource(werner=0.95), **channel, seed=3, start_pair=10, num_pairs=70_000)
    dev = batch_fn(xp, EntangledSource(werner=0.95), **channel, seed=3, start_pair=10, num_pairs=70_000)
    for name in FIELDS:
        np.testing.assert_array_equal(TEST_BACKEND.to_host(getattr(dev, name)), getattr(ref, name), err_msg=name)
    assert sifted_statistics(dev) == sifted_statistics(ref)


# --- argument checks --------------------------------------------------------------------------

GOOD = dict(**LOSSLESS, seed=0, start_pair=0, num_pairs=10)


@pytest.mark.parametrize("batch_fn", [bbm92_batch, e91_batch])
@pytest.mark.parametrize(
    "name, value",
    [
        ("transmittance_alice", 1.5),
        ("transmittance_bob", -0.1),
        ("efficiency", 2.0),
        ("efficiency", math.nan),
        ("dark_count_probability", -1e-3),
        ("seed", -1),
        ("start_pair", -1),
        ("num_pairs", -5),
        ("num_pairs", 1.5),
        ("node", -1),
    ],
)
def test_bad_batch_arguments_name_the_field(batch_fn, name, value):
    with pytest.raises(ValueError, match=name):
        batch_fn(np, EntangledSource(), **{**GOOD, name: value})


@pytest.mark.parametrize(
    "name, value", [("werner", 1.2), ("werner", -0.1), ("position", 1.5), ("pair_rate_hz", 0.0),
                    ("pair_rate_hz", math.inf)],
)
def test_bad_source_arguments_name_the_field(name, value):
    with pytest.raises(ValueError, match=name):
        EntangledSource(**{name: value})


def test_bad_source_object_and_channel():
    with pytest.raises(ValueError, match="source"):
        bbm92_batch(np, "source", **GOOD)
    with pytest.raises(ValueError, match="distance_km"):
        arm_transmittances(EntangledSource(), -1.0, 0.2)
    with pytest.raises(ValueError, match="dark_count_probability"):
        expected_qber(EntangledSource(), transmittance_alice=1.0, transmittance_bob=1.0, efficiency=1.0,
                      dark_count_probability=1.5)


def test_source_repr_rebuilds_it():
    source = EntangledSource(pair_rate_hz=2e7, werner=0.75, position=0.3, z_basis_probability=0.8)
    assert eval(repr(source)) == source  # noqa: S307 - our own repr
    assert dataclasses.asdict(source) == {"pair_rate_hz": 2e7, "werner": 0.75, "position": 0.3,
                                          "mean_pair_number": None, "z_basis_probability": 0.8}
    thermal = EntangledSource(werner=0.9, mean_pair_number=0.2)
    assert eval(repr(thermal)) == thermal  # noqa: S307 - our own repr
    with pytest.raises(DqsimError, match="mean_pair_number"):
        EntangledSource(mean_pair_number=3.0)


@pytest.mark.parametrize("batch_fn", [bbm92_batch, e91_batch])
def test_misalignment_raises_the_qber_as_the_formula_says(batch_fn):
    """QBER = (1 - w(1-2e_d)² q_a q_b/(c_a c_b))/2 within 3 binomial standard errors."""
    source = EntangledSource(werner=0.98)
    kwargs = dict(transmittance_alice=0.5, transmittance_bob=0.3, efficiency=0.8, dark_count_probability=1e-4)
    batch = batch_fn(np, source, seed=21, start_pair=0, num_pairs=400_000, misalignment=0.05, **kwargs)
    stats = sifted_statistics(batch)
    expected = expected_qber(source, misalignment=0.05, **kwargs)
    measured = stats.qber
    se = (expected * (1 - expected) / stats.num_sifted) ** 0.5
    assert abs(measured - expected) <= 3 * se, (measured, expected, se)
    assert expected > expected_qber(source, **kwargs) + 0.05


def test_repro_12_bbm92_job_uses_the_link_misalignment():
    qbers = []
    for e_d in ("0.01", "0.2"):
        job = apply_overrides(load_job(ROOT / "jobs" / "bbm92_20km.toml"),
                              ["qkd.pulses=400000", "qkd.batch_pulses=200000", f"qkd.link.misalignment={e_d}"])
        out = qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
        qbers.append(float(out.tables["blocks"]["qber_signal"][0]))
    assert qbers[1] > qbers[0] + 0.2, qbers


def test_spdc_source_detection_and_coincidence_rates_follow_the_two_mode_thermal_law():
    """SPDC with mean pair number μ, no dark counts: two independent thermal modes of λ = μ/2 on each side
    (the two-mode squeezed vacuum; Ma, Fung and Lo, PRA 76, 012307 (2007)): Alice clicks with
    1 - 1/(1+λ p_a)² and both sides with 1 - 1/(1+λ p_a)² - 1/(1+λ p_b)² + 1/(1+λ(p_a+p_b-p_a p_b))²;
    within 3 binomial standard errors."""
    mu, p_a, p_b, n = 0.4, 0.3 * 0.8, 0.5 * 0.8, 300_000
    lam = mu / 2
    source = EntangledSource(werner=0.97, mean_pair_number=mu)
    batch = bbm92_batch(np, source, transmittance_alice=0.3, transmittance_bob=0.5, efficiency=0.8,
                        dark_count_probability=0.0, seed=4, start_pair=0, num_pairs=n)
    alice, bob = np.asarray(batch.alice_detected), np.asarray(batch.bob_detected)
    none_a, none_b = 1 / (1 + lam * p_a) ** 2, 1 / (1 + lam * p_b) ** 2
    both = 1 - none_a - none_b + 1 / (1 + lam * (p_a + p_b - p_a * p_b)) ** 2
    for measured, expected in ((alice.mean(), 1 - none_a), ((alice & bob).mean(), both)):
        se = math.sqrt(expected * (1 - expected) / n)
        assert abs(measured - expected) <= 3 * se, (measured, expected, se)


def test_thermal_source_qber_rises_with_the_mean_pair_number():
    qbers = []
    for mu in (0.02, 0.2, 0.8):
        batch = bbm92_batch(np, EntangledSource(werner=0.99, mean_pair_number=mu), transmittance_alice=0.2,
                            transmittance_bob=0.2, efficiency=0.8, dark_count_probability=1e-6, seed=8,
                            start_pair=0, num_pairs=300_000)
        qbers.append(sifted_statistics(batch).qber)
    assert qbers[0] < qbers[1] < qbers[2] and qbers[2] > 0.15, qbers
    job = apply_overrides(load_job(ROOT / "jobs" / "bbm92_20km.toml"),
                          ["qkd.pulses=400000", "qkd.batch_pulses=200000", "qkd.source.mean_pair_number=0.5"])
    out = qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
    assert float(out.tables["blocks"]["qber_signal"][0]) > 0.1


def test_an_older_multi_pair_checkpoint_is_refused_in_one_line():
    """A tally pickled before the SPDC source became the two-mode squeezed vacuum (no spdc_source_model; its
    draws came from the older thermal model) is refused for a job with a mean pair number, whether it is a
    running link's (EntangledAlice) or a sweep's stored distance; one-pair jobs and new tallies resume. (Seen
    end to end: a checkpoint that main wrote of bbm92_20km.toml with mean_pair_number = 0.1 is refused by
    `dqsim resume`; one written now resumes to the uninterrupted tables.)"""
    old = LinkTally(pulses=7)
    del old.spdc_source_model  # what a tally pickled before 2026-12-06 holds
    old = pickle.loads(pickle.dumps(old))
    new = pickle.loads(pickle.dumps(LinkTally(pulses=7)))
    assert (old.spdc_source_model, new.spdc_source_model) == (OLD_SPDC_SOURCE_MODEL, SPDC_SOURCE_MODEL)
    refuse_old_spdc_source(None, [old])
    refuse_old_spdc_source(0.1, [new])
    with pytest.raises(DqsimError, match="older dqsim, whose SPDC source was a thermal count") as info:
        refuse_old_spdc_source(0.1, [new, old])
    assert "\n" not in str(info.value)
    for mu, tally, refused in ((0.1, old, True), (None, old, False), (0.1, new, False)):
        state = {"plan": SimpleNamespace(protocol="bbm92", entangled_source=EntangledSource(mean_pair_number=mu)),
                 "counts": None, "block_chsh": None, "chsh": None, "phase": "emit", "result": None, "tally": tally,
                 "awaiting": set(), "open_blocks": 0,
                 "channel": ClassicalChannel()}
        alice = object.__new__(EntangledAlice)
        if refused:
            with pytest.raises(DqsimError, match="SPDC source was a thermal count"):
                alice.__setstate__(dict(state))
        else:
            alice.__setstate__(dict(state))
        job = load_job(ROOT / "jobs" / "bbm92_20km.toml")
        if mu is not None:
            job = apply_overrides(job, [f"qkd.source.mean_pair_number={mu}"])
        stored = {"tallies": {0: tally}}
        session = SimpleNamespace(stored_next=lambda stored=stored: stored)
        if refused:
            with pytest.raises(DqsimError, match="SPDC source was a thermal count"):
                qkd_scenario.run_network(job, comm=comm_mod.SingleComm(), backend=None, checkpointing=session)
        else:
            assert qkd_scenario.run_network(job, comm=comm_mod.SingleComm(), backend=None,
                                            checkpointing=session) is stored


# --- dead time and afterpulsing (issue 12) ------------------------------------------------------

def _renewal_rate(p: float, dead_time_pulses: int, afterpulse_probability: float) -> tuple[float, float]:
    """Registered clicks per slot of a receiver with raw click probability p per slot, and its variance per slot.

    After a registered click the next one comes d + 1 slots later (an afterpulse, probability p_a)
    or d + G slots later, G ~ Geometric(p) on {1, 2, ...}: the gaps form a renewal process, whose
    count over N slots has mean N/E[gap] and variance N·Var(gap)/E[gap]³ (Cox, Renewal Theory,
    1962, ch. 3). Without afterpulses this is the dead-time loss 1 - 1/(1 + p·d) of the clicks.
    """
    d, pa = dead_time_pulses, afterpulse_probability
    mean = pa * (d + 1) + (1 - pa) * (d + 1 / p)
    second = pa * (d + 1) ** 2 + (1 - pa) * (d * d + 2 * d / p + (2 - p) / p ** 2)
    return 1 / mean, (second - mean ** 2) / mean ** 3


@pytest.mark.parametrize("batch_fn", [bbm92_batch, e91_batch])
@pytest.mark.parametrize("dead_time, afterpulse", [(20, 0.0), (5, 0.1), (0, 0.3)])
def test_dead_time_and_afterpulses_follow_the_renewal_rate(batch_fn, dead_time, afterpulse):
    """Each side's registered clicks per slot within 3 standard errors of the renewal rate; with
    dead time alone, the fraction of clicks lost is 1 - 1/(1 + p·d)."""
    num, t, dark = 300_000, 0.05, 1e-3
    batch = batch_fn(np, EntangledSource(werner=0.98), transmittance_alice=t, transmittance_bob=t, efficiency=1.0,
                     dark_count_probability=dark, seed=17, start_pair=0, num_pairs=num, dead_time_pulses=dead_time,
                     afterpulse_probability=afterpulse)
    p = 1 - (1 - t) * (1 - dark) ** 2
    rate, variance = _renewal_rate(p, dead_time, afterpulse)
    if afterpulse == 0.0:
        assert rate == pytest.approx(p / (1 + p * dead_time))
    for detected in (batch.alice_detected, batch.bob_detected):
        measured = float(np.asarray(detected).mean())
        assert abs(measured - rate) <= 3 * math.sqrt(variance / num), (measured, rate)
    assert float(np.asarray(batch.alice_detected).mean()) < p - 10 * math.sqrt(p / num) or afterpulse > 0


def test_dead_time_carries_over_batches_exactly():
    """Two batches with the receiver states carried give the outcomes of one batch, pair for pair."""
    kwargs = dict(transmittance_alice=0.6, transmittance_bob=0.4, efficiency=0.9, dark_count_probability=1e-3,
                  seed=5, dead_time_pulses=7, afterpulse_probability=0.2)
    source = EntangledSource(werner=0.95)
    whole = bbm92_batch(np, source, start_pair=0, num_pairs=50_000, **kwargs)
    first = bbm92_batch(np, source, start_pair=0, num_pairs=20_001, **kwargs)
    second = bbm92_batch(np, source, start_pair=20_001, num_pairs=29_999,
                         receiver_states=(first.alice_receiver, first.bob_receiver), **kwargs)
    for name in FIELDS:
        assert np.array_equal(np.concatenate([getattr(first, name), getattr(second, name)]), getattr(whole, name))
    assert (second.alice_receiver, second.bob_receiver) == (whole.alice_receiver, whole.bob_receiver)


def test_without_dead_time_or_afterpulses_the_outcomes_are_unchanged():
    kwargs = dict(transmittance_alice=0.6, transmittance_bob=0.4, efficiency=0.9, dark_count_probability=1e-3,
                  seed=5, start_pair=0, num_pairs=10_000)
    plain = bbm92_batch(np, EntangledSource(), **kwargs)
    zero = bbm92_batch(np, EntangledSource(), dead_time_pulses=0, afterpulse_probability=0.0, **kwargs)
    for name in FIELDS:
        assert np.array_equal(getattr(plain, name), getattr(zero, name))


def test_repro_12_bbm92_job_uses_the_link_dead_time_and_afterpulses():
    """The job's [qkd.link] dead_time_ps and afterpulse_probability reach BBM92: fewer coincidences
    with a dead time, more clicks (and a higher QBER) with afterpulses."""
    base = ["qkd.pulses=400000", "qkd.batch_pulses=100000", "qkd.link.distance_km=0.1",
            "qkd.link.detector_efficiency=0.5"]
    coincidences, qbers = [], []
    for extra in ([], ["qkd.link.dead_time_ps=20000"], ["qkd.link.afterpulse_probability=0.3"]):
        job = apply_overrides(load_job(ROOT / "jobs" / "bbm92_20km.toml"), base + extra)
        out = qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
        coincidences.append(int(out.tables["blocks"]["detections_signal"][0]))
        qbers.append(float(out.tables["blocks"]["qber_signal"][0]))
    assert coincidences[1] < 0.9 * coincidences[0], coincidences
    assert qbers[2] > qbers[0] + 0.01, qbers


# --- the SPDC model and its optimal mean pair number (issue 12) ----------------------------------

SPDC_CHANNEL = dict(transmittance_alice=0.3, transmittance_bob=0.2, efficiency=0.8, dark_count_probability=1e-3,
                    misalignment=0.02)


def _simulated_key_rate(mu, num_pairs=300_000, seed=3):
    batch = bbm92_batch(np, EntangledSource(werner=0.97, mean_pair_number=mu), seed=seed, start_pair=0,
                        num_pairs=num_pairs, **SPDC_CHANNEL)
    stats = sifted_statistics(batch)
    return stats, stats.sifted_fraction * max(0.0, 1 - 2.16 * _h(stats.qber))


def test_spdc_model_matches_the_simulated_source():
    """pair_statistics: one pair per slot gives expected_qber and the coincidence product exactly; a thermal
    source's sifted coincidences and QBER agree with bbm92_batch within 3 binomial standard errors."""
    p_c, q = pair_statistics(None, werner=0.97, **SPDC_CHANNEL)
    assert q == pytest.approx(expected_qber(EntangledSource(werner=0.97), **SPDC_CHANNEL), rel=1e-12)
    no_misalignment = {k: v for k, v in SPDC_CHANNEL.items() if k != "misalignment"}
    assert p_c == pytest.approx(expected_coincidence_probability(**no_misalignment), rel=1e-12)
    for mu in (0.1, 0.6):
        stats, _ = _simulated_key_rate(mu)
        p_c, q = pair_statistics(mu, werner=0.97, **SPDC_CHANNEL)
        sifted = 0.5 * p_c  # BBM92: matching settings in half of the slots
        assert abs(stats.num_sifted / stats.num_pairs - sifted) <= 3 * math.sqrt(sifted / stats.num_pairs)
        assert abs(stats.qber - q) <= 3 * math.sqrt(q * (1 - q) / stats.num_sifted), (mu, stats.qber, q)


def test_optimal_mean_pair_number_sits_at_the_largest_key_rate():
    """μ* beats every point of a fine grid of the model, and the simulated key rate at μ* beats the simulated
    rates at μ*/6 and 6μ* by more than 3 standard errors of their difference (binomial in the sifted pairs)."""
    mu_star, best = optimal_mean_pair_number(werner=0.97, **SPDC_CHANNEL)
    grid = np.geomspace(1e-4, 2.0, 400)
    rates = [spdc_key_rate(mu, werner=0.97, **SPDC_CHANNEL) for mu in grid]
    assert best >= max(rates) and 1e-3 < mu_star < 1.0
    assert grid[int(np.argmax(rates))] == pytest.approx(mu_star, rel=0.05)
    stats, at_best = _simulated_key_rate(mu_star)
    for mu in (mu_star / 6, mu_star * 6):
        other_stats, other = _simulated_key_rate(mu, seed=4)
        se = math.hypot(at_best / math.sqrt(stats.num_sifted), other / math.sqrt(max(other_stats.num_sifted, 1)))
        assert at_best - other > 3 * se, (mu, at_best, other, se)


def test_qkd_sweep_reports_the_optimal_mean_pair_number():
    job = apply_overrides(load_job(ROOT / "jobs" / "bbm92_20km.toml"),
                          ["qkd.pulses=200000", "qkd.batch_pulses=100000", "qkd.source.mean_pair_number=0.1",
                           "qkd.sweep.distances_km=[5, 40]"])
    out = qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
    sweep = out.tables["sweep"]
    assert np.all(sweep["optimal_mean_pair_number"] > 0)
    assert np.all(sweep["optimal_theory_bits_per_pulse"] >= sweep["theory_bits_per_pulse"])
    assert sweep["optimal_mean_pair_number"][1] < sweep["optimal_mean_pair_number"][0]  # less light, fewer pairs


def test_summary_of_a_one_pair_per_slot_source_names_the_thermal_optimum_as_another_source():
    """With no mean pair number the job's source beats every thermal source (no multi-pair events), so the
    summary must not present μ* as the optimum of the job's own source; with a μ it names the job's μ."""
    job = apply_overrides(load_job(ROOT / "jobs" / "bbm92_20km.toml"),
                          ["qkd.pulses=200000", "qkd.batch_pulses=100000", "qkd.block_pulses=200000"])
    out = qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
    sweep = out.tables["links"]
    assert sweep["theory_bits_per_pulse"][0] > sweep["optimal_theory_bits_per_pulse"][0]
    (line,) = [text for text in out.summary if "μ*" in text]
    assert "one pair per slot" in line and "thermal SPDC source would give at most" in line, line
    thermal = apply_overrides(job, ["qkd.source.mean_pair_number=0.05"])
    out = qkd_scenario.run_job(thermal, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
    (line,) = [text for text in out.summary if "μ*" in text]
    assert "at the job's μ = 0.05" in line, line


@pytest.mark.parametrize("protocol", ["bbm92", "e91"])
def test_repro_a_noiseless_pair_link_has_qber_zero_not_a_rounding_below_it(protocol):
    """w = 1, no misalignment, no dark counts: Q is 0, but the inclusion-exclusion sums of pair_statistics
    cancel to -1e-17..-2e-15 for some arm transmittances, and binary_entropy refused them: `dqsim run
    jobs/bbm92_20km.toml` at 4 km (and `e91_chsh.toml` at 5 km) with that source ended in "binary_entropy: x
    must be in [0, 1], got -1.3e-17" (found by bench/invariance_ranks.py --resume, seed 14). Q is now
    in [0, 1], and the key rate the sifted coincidences' s·P_c (BBM92: 1 - (1 + f_EC)·h(0) = 1)."""
    for km_a, km_b in itertools.product((0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 25.0), repeat=2):
        channel = dict(transmittance_alice=10 ** (-0.02 * km_a), transmittance_bob=10 ** (-0.02 * km_b),
                       efficiency=0.8, dark_count_probability=0.0, misalignment=0.0, werner=1.0)
        p_c, q = pair_statistics(None, **channel)
        assert 0.0 <= q <= 1e-15, (km_a, km_b, q)
        rate = spdc_key_rate(None, protocol=protocol, **channel)
        if protocol == "bbm92":
            assert rate == pytest.approx(0.5 * p_c, rel=1e-12), (km_a, km_b)
        else:
            assert 0.0 < rate <= p_c
    job = apply_overrides(load_job(ROOT / "jobs" / "bbm92_20km.toml"),
                          ["qkd.link.distance_km=4.0", "qkd.source.werner=1.0", "qkd.link.misalignment=0.0",
                           "qkd.link.dark_count_rate_hz=0.0", "qkd.pulses=100000", "qkd.batch_pulses=100000"])
    links = qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy")).tables["links"]
    assert links["qber_signal"][0] == 0.0 and links["secret_key_bits"][0] > 0
