"""E91's finite key from its CHSH value: a Hoeffding lower bound S_low on S from the block's four CHSH correlators
(W. Hoeffding, J. Am. Stat. Assoc. 58, 13 (1963)) in the collective-attack key length of V. Scarani and R. Renner,
PRL 100, 200501 (2008), with the H(X|E) bound of Acín et al., PRL 98, 230501 (2007):
ℓ = n(1 - h((1 + sqrt((S_low/2)² - 1))/2) - 7 sqrt(log2(2/ε̄)/n)) - 2 log2(1/ε_PA) - leak_EC - log2(2/ε_cor) —
not Tomamichel et al.'s bound with the phase error rate taken equal to the bit error rate, which assumed a symmetric
source that an eavesdropper need not leave.

Deterministic (fixed seeds); tolerances say where a sampled quantity is compared with its expectation.
"""

import dataclasses
import math
import pickle
from types import SimpleNamespace

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.errors import DqsimError
from dqsim.jobs import apply_overrides, load_job
from dqsim.protocols.qkd.bb84 import EveModel
from dqsim.protocols.qkd.classical_channel import ClassicalChannel
from dqsim.protocols.qkd.entangled import (EntangledSource, SiftedCounts, chsh_lower_bound, coincidence_counts,
                                           e91_batch, expected_chsh)
from dqsim.protocols.qkd.entangled_block import (entangled_block_key, entangled_finite_key_rates,
                                                 entangled_no_key_reason)
from dqsim.protocols.qkd.finite_key import (ChshFiniteKeyResult, EntangledFiniteKeyResult, e91_finite_key_length,
                                            entangled_finite_key_length)
from dqsim.protocols.qkd.nodes import EntangledAlice, LinkTally, refuse_old_e91_finite_key
from dqsim.protocols.qkd.theory import binary_entropy
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT
from test_qkd_e91_chsh_key import _coincidences as coincidences  # ``num`` pairs per setting pair, S = 4·correlation

ONE_BLOCK = ["qkd.pulses=2000000", "qkd.batch_pulses=500000", "qkd.block_pulses=2000000"]
FINITE = 'qkd.security="finite_key"'
EVE_X_HALF = 'qkd.eve={attack="intercept_resend", basis="X", fraction=0.5}'


def run(*overrides):
    job = apply_overrides(load_job(ROOT / "jobs" / "e91_chsh.toml"), [*ONE_BLOCK, *overrides])
    return job, qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))


def bound(s):
    """1 - h((1 + sqrt((S/2)² - 1))/2) written out (Acín et al. 2007, eq. (4)), for 2 < S <= 2√2."""
    return 1 - binary_entropy((1 + math.sqrt((s / 2) ** 2 - 1)) / 2)


# ------------------------------------------------------------------------- the attack the old bound missed
@pytest.mark.parametrize("werner", [1.0, 0.95])
def test_eve_measuring_x_on_half_the_pairs_gets_no_e91_finite_key(werner):
    """Eve measures Bob's photon in X on half the pairs: the QBER (6.2 % at w = 1) stays below the 11 % threshold
    and the symmetric-source finite key (phase errors = bit errors, Tomamichel et al.'s bound) kept 11,008 bits at
    w = 1 (seed 1, 2·10^6 pairs; at w = 0.95 the 8.4 % QBER left it none), of which Eve had measured a quarter;
    her attack leaves S = √2·w·1.5 (2.11, 2.00), whose lower bound S_low is below 2, so the finite key is 0 and
    says why, and so is the block-size curve at every N."""
    _job, out = run(FINITE, f"qkd.source.werner={werner}", EVE_X_HALF)
    (block,) = out.tables["blocks"]
    assert not block["aborted"] and block["qber_signal"] < 0.11
    assert abs(block["eve_known_fraction"] - 0.25) < 3 * math.sqrt(0.25 * 0.75 / block["sifted_bits"])
    assert abs(block["chsh_value"] - math.sqrt(2) * werner * 1.5) < 3 * block["chsh_standard_error"] + 0.01
    assert block["chsh_lower"] < 2 < block["chsh_value"]
    assert block["secret_key_bits"] == 0 and out.attrs["total_secret_key_bits"] == 0
    assert "finite key: CHSH S_low" in block["no_key_reason"] and "<= 2" in block["no_key_reason"]
    assert (out.tables["block_sizes"]["key_rate_bits_per_pulse"] == 0).all()


# ------------------------------------------------------------------------- an honest source
def test_honest_werner_finite_key_is_below_the_asymptotic_chsh_key():
    """No Eve, w = 0.95 (jobs/e91_chsh.toml), one block of 2·10^6 pairs: the finite key is positive, below the
    asymptotic CHSH key of the same block (same seed: the same counts, sample and leakage) and above zero by the
    formula written out; S_low is below the block's S by the sum of Hoeffding half-widths."""
    job, out = run(FINITE)
    _job, asym = run()
    (block,), (asym_block,) = out.tables["blocks"], asym.tables["blocks"]
    assert block["chsh_value"] == asym_block["chsh_value"] and block["leakage_bits"] == asym_block["leakage_bits"]
    assert 0 < block["secret_key_bits"] < asym_block["secret_key_bits"]
    assert 2 < block["chsh_lower"] < block["chsh_value"] - 3 * block["chsh_standard_error"]
    n, eps_sec, eps_cor = int(block["finite_key_bits_x"]), job.qkd.eps_sec, job.qkd.eps_cor
    expected = n * (bound(block["chsh_lower"]) - 7 * math.sqrt(math.log2(6 / eps_sec) / n)) \
        - 2 * math.log2(3 / eps_sec) - block["leakage_bits"] - math.log2(2 / eps_cor)
    assert block["secret_key_bits"] == math.floor(expected)
    assert block["no_key_reason"] == ""


def test_finite_key_rate_tends_to_the_asymptotic_chsh_key_as_blocks_grow():
    """At fixed statistics (S = 2.6, QBER 2 %, 20 % of the pairs sifted, a tenth of it sampled) ℓ/N rises with N
    and stays below the asymptotic key (n/N)(1 - h((1 + sqrt((S/2)² - 1))/2) - f_EC h(E)); the gap falls
    like 1/sqrt(N) (Hoeffding and δ_AEP both do): at N = 10^14 it is within 0.1 % of the limit, and the gaps at
    10^10 and 10^12 differ by a factor 10 within 5 %."""
    pairs = 10**7
    counts = SiftedCounts(pairs, 4 * 10**6, 2 * 10**6, 40_000, (10**6, 10**6), (20_000, 20_000))
    n_chsh = pairs // 9 * 4 // 10          # coincidences per CHSH setting pair (40 % coincidence probability)
    chsh = coincidences(0.65, n_chsh)
    sizes = [1e5, 1e6, 1e8, 1e10, 1e12, 1e14]
    rates = entangled_finite_key_rates(counts, "e91", sizes, f_ec=1.16, sample_fraction=0.1, coincidences=chsh)
    asymptotic = 0.9 * 0.2 * (bound(2.6) - 1.16 * binary_entropy(0.02))
    assert rates[0] == 0 and np.all(np.diff(rates) > 0) and rates[-1] < asymptotic
    assert rates[-1] == pytest.approx(asymptotic, rel=1e-3)
    gaps = [asymptotic - r for r in rates]
    assert gaps[3] / gaps[4] == pytest.approx(10, rel=0.05)
    # the old symmetric-source rate, (n/N)(1 - h(Q) - f_EC h(E)), is above the CHSH key: the finite key kept more
    assert 0.18 * (1 - 2.16 * binary_entropy(0.02)) > asymptotic * 1.2


# ------------------------------------------------------------------------- the lower bound on S
@pytest.mark.parametrize("eve", [None, EveModel(attack="intercept_resend", basis="X", fraction=0.5)],
                         ids=["honest", "eve-x-half"])
def test_chsh_lower_bound_covers_the_true_s(eve):
    """Physics check of the Hoeffding bound: 200 seeded runs of 3,600 Werner pairs (w = 0.9, lossless, N_ij ≈ 400
    per CHSH setting pair); at ε_PE = 0.05 the bound S_low = |Ŝ| - Σ sqrt(2 ln(8/ε_PE)/N_ij) is at or below the
    true S (expected_chsh: 2√2·0.9 = 2.546, or √2·0.9·1.5 = 1.909 with Eve in X on half the pairs) in at least
    95 % of the runs (all 200 here: Hoeffding is conservative); the point estimate Ŝ alone, which the bound
    lowers, lies below S in about half of them (within 40-60 %)."""
    source = EntangledSource(werner=0.9)
    channel = dict(transmittance_alice=1.0, transmittance_bob=1.0, efficiency=1.0, dark_count_probability=0.0)
    s_true = expected_chsh(source, eve=eve, **channel)
    assert s_true == pytest.approx(2 * math.sqrt(2) * 0.9 * (1 if eve is None else 0.75), rel=1e-9)
    covered = point_covered = 0
    repeats = 200
    for seed in range(repeats):
        batch = e91_batch(np, source, seed=seed, start_pair=0, num_pairs=3600, eve=eve, **channel)
        s_low, s_hat, deviation = chsh_lower_bound(coincidence_counts(batch), 0.05)
        assert deviation == pytest.approx(s_hat - s_low) and 0.5 < deviation < 0.7  # 4·sqrt(2 ln 160/400) = 0.64
        covered += s_low <= s_true
        point_covered += s_hat <= s_true
    assert covered >= 0.95 * repeats
    assert 0.4 * repeats <= point_covered <= 0.6 * repeats


def test_chsh_lower_bound_by_hand_and_its_arguments():
    """S = 2.5 on 10^4 pairs per CHSH setting pair, ε = 10^-6: t = sqrt(2 ln(8·10^6)/10^4) = 0.0563826 per
    correlator, S_low = 2.5 - 4t; the bound is sign-blind (|Ŝ|) and refuses ε outside (0, 1) and a setting pair
    without coincidences."""
    t = math.sqrt(2 * math.log(8e6) / 1e4)
    s_low, s_hat, deviation = chsh_lower_bound(coincidences(0.625, 10_000), 1e-6)
    assert s_hat == pytest.approx(2.5, abs=1e-12) and deviation == pytest.approx(4 * t, rel=1e-12)
    assert s_low == pytest.approx(2.5 - 4 * 0.0563826, abs=1e-6)
    flipped = coincidences(0.625, 10_000)[:, :, ::-1, :]   # Alice's bits flipped: every E changes sign
    assert chsh_lower_bound(flipped, 1e-6)[0] == pytest.approx(s_low, abs=1e-12)
    for eps in (0.0, 1.0, -1e-3, math.nan):
        with pytest.raises(DqsimError, match="chsh_lower_bound: eps"):
            chsh_lower_bound(coincidences(0.625, 10_000), eps)
    empty = coincidences(0.625, 10_000)
    empty[0, 0] = 0
    with pytest.raises(DqsimError, match="no coincidences for settings"):
        chsh_lower_bound(empty, 1e-6)


# ------------------------------------------------------------------------- the length function
def test_e91_finite_key_length_by_hand():
    """n = 10^6 key bits, S = 2.5 on 10^5 pairs per CHSH setting pair, leakage 2·10^5 bits, ε_sec = 10^-10,
    ε_cor = 10^-15: S_low = 2.5 - 4 sqrt(2 ln(24·10^10)/10^5), then ℓ = floor(n(bound(S_low) - 7 sqrt(log2(6·10^10)
    /n)) - 2 log2(3·10^10) - leak - log2(2·10^15)); below the key at S itself and the Tomamichel bound's fields
    absent (a ChshFiniteKeyResult)."""
    counts = coincidences(0.625, 100_000)
    r = e91_finite_key_length(num_key_bits=10**6, coincidences=counts, leakage_bits=2e5)
    assert isinstance(r, ChshFiniteKeyResult)
    s_low = 2.5 - 4 * math.sqrt(2 * math.log(24e10) / 1e5)
    assert r.chsh_lower == pytest.approx(s_low, abs=1e-12) and r.chsh_value == pytest.approx(2.5, abs=1e-12)
    aep = 7 * math.sqrt(math.log2(6e10) / 1e6)
    assert r.aep_deviation == pytest.approx(aep, rel=1e-12)
    expected = 1e6 * (bound(s_low) - aep) - 2 * math.log2(3e10) - 2e5 - math.log2(2e15)
    assert r.unclipped_length == pytest.approx(expected, rel=1e-12)
    assert r.secret_key_bits == math.floor(expected) > 0
    assert r.secret_key_bits < 1e6 * bound(2.5) - 2e5
    # more key bits at the same statistics: more key per bit (δ_AEP falls), never more than the bound at S_low
    big = e91_finite_key_length(num_key_bits=10**9, coincidences=counts, leakage_bits=2e8)
    assert r.secret_key_bits / 1e6 < big.secret_key_bits / 1e9 < bound(s_low) - 0.2


def test_e91_finite_key_length_edge_cases():
    """No key bit, no violation shown (S_low <= 2, S = 2 exactly, or a CHSH setting pair without coincidences),
    or too few key bits: ℓ = 0 with the unclipped length negative; ε_sec and ε_cor enter as stated."""
    counts = coincidences(0.625, 100_000)
    none = e91_finite_key_length(num_key_bits=0, coincidences=counts, leakage_bits=0.0)
    assert none.secret_key_bits == 0 and none.aep_deviation == math.inf
    assert none.unclipped_length == pytest.approx(-(2 * math.log2(3e10) + math.log2(2e15)), rel=1e-12)
    classical = e91_finite_key_length(num_key_bits=10**9, coincidences=coincidences(0.5, 10**7), leakage_bits=0.0)
    assert classical.chsh_lower < 2 and classical.secrecy_fraction == 0 and classical.secret_key_bits == 0
    barely = e91_finite_key_length(num_key_bits=10**9, coincidences=coincidences(0.5025, 1000), leakage_bits=0.0)
    assert barely.chsh_value > 2 > barely.chsh_lower and barely.secret_key_bits == 0  # S = 2.01, too few pairs
    empty = counts.copy()
    empty[2, 2] = 0
    missing = e91_finite_key_length(num_key_bits=10**6, coincidences=empty, leakage_bits=0.0)
    assert math.isnan(missing.chsh_lower) and missing.chsh_deviation == math.inf and missing.secret_key_bits == 0
    small = e91_finite_key_length(num_key_bits=1000, coincidences=counts, leakage_bits=0.0)
    assert small.unclipped_length < 0 and small.secret_key_bits == 0  # δ_AEP = 7·sqrt(35.8/1000) > 1
    loose = e91_finite_key_length(num_key_bits=10**6, coincidences=counts, leakage_bits=0.0, eps_sec=1e-3)
    tight = e91_finite_key_length(num_key_bits=10**6, coincidences=counts, leakage_bits=0.0, eps_sec=1e-15)
    assert loose.chsh_lower > tight.chsh_lower and loose.secret_key_bits > tight.secret_key_bits
    cor = e91_finite_key_length(num_key_bits=10**6, coincidences=counts, leakage_bits=0.0, eps_cor=1e-5)
    ref = e91_finite_key_length(num_key_bits=10**6, coincidences=counts, leakage_bits=0.0)
    assert cor.unclipped_length - ref.unclipped_length == pytest.approx(math.log2(1e10), rel=1e-9)


@pytest.mark.parametrize("name, kwargs", [
    ("num_key_bits", {"num_key_bits": -1}),
    ("num_key_bits", {"num_key_bits": 1.5}),
    ("leakage_bits", {"leakage_bits": -1.0}),
    ("eps_sec", {"eps_sec": 0.0}),
    ("eps_sec", {"eps_sec": 1.0}),
    ("eps_cor", {"eps_cor": 0.0}),
    ("coincidences", {"coincidences": np.zeros((2, 2, 2, 2), dtype=np.int64)}),
    ("coincidences", {"coincidences": -coincidences(0.6, 100)}),
])
def test_e91_finite_key_length_refuses_bad_arguments(name, kwargs):
    args = {"num_key_bits": 1000, "coincidences": coincidences(0.6, 1000), "leakage_bits": 0.0, **kwargs}
    with pytest.raises(DqsimError, match=f"e91_finite_key_length: {name}"):
        e91_finite_key_length(**args)


def test_block_key_and_rates_need_the_coincidences():
    """An E91 finite-key block uses its coincidences' S_low (S = 2.5: a key; S = 2: none, the reason names S_low);
    both it and the block-size curve refuse to run without them."""
    counts = SiftedCounts(10**7, 3 * 10**6, 10**6, 10_000, (500_000, 500_000), (5_000, 5_000))
    settings = dict(protocol="e91", pair_rate_hz=1e9, f_ec=1.16, qber_threshold=0.11, sample_fraction=0.1,
                    finite_key=(1e-10, 1e-15))
    r = entangled_block_key(counts, rng=np.random.default_rng(4), coincidences=coincidences(0.625, 10**5),
                            **settings)
    assert isinstance(r.finite_key, ChshFiniteKeyResult) and r.secret_key_bits == r.finite_key.secret_key_bits > 0
    assert r.finite_key.num_key_bits == r.num_key_bits and r.finite_key.leakage_bits == r.leakage_bits
    classical = entangled_block_key(counts, rng=np.random.default_rng(4), coincidences=coincidences(0.5, 10**5),
                                    **settings)
    assert classical.secret_key_bits == 0 and not classical.aborted
    reason = entangled_no_key_reason(classical, "e91", 0.11)
    assert reason.startswith("finite key: CHSH S_low = 2.0000 - ") and "<= 2" in reason and "\n" not in reason
    with pytest.raises(DqsimError, match="an E91 block needs its coincidences"):
        entangled_block_key(counts, rng=np.random.default_rng(4), **settings)
    with pytest.raises(DqsimError, match="an E91 block needs its coincidences"):
        entangled_finite_key_rates(counts, "e91", [1e6], f_ec=1.16, sample_fraction=0.1)


# ------------------------------------------------------------------------- checkpoints from before
def test_an_older_e91_finite_key_checkpoint_is_refused_in_one_line():
    """A checkpoint of an E91 run holding a block keyed by the symmetric-source finite key (an
    EntangledFiniteKeyResult, what E91's finite key was before) is refused, whether the block is in the link's
    tally, the current one or a sweep's stored distance; BBM92's (whose finite key that is) and E91's new results
    resume."""
    counts = SiftedCounts(10**7, 3 * 10**6, 10**6, 10_000, (500_000, 500_000), (5_000, 5_000))
    settings = dict(pair_rate_hz=1e9, f_ec=1.16, qber_threshold=0.11, sample_fraction=0.1, finite_key=(1e-10, 1e-15))
    new = entangled_block_key(counts, protocol="e91", rng=np.random.default_rng(4),
                              coincidences=coincidences(0.625, 10**5), **settings)
    bbm92 = entangled_block_key(counts, protocol="bbm92", rng=np.random.default_rng(4), **settings)
    assert isinstance(bbm92.finite_key, EntangledFiniteKeyResult)
    old = dataclasses.replace(new, finite_key=entangled_finite_key_length(  # what E91's finite key was
        num_key_bits=new.num_key_bits, num_test_bits=new.estimate.num_sampled, test_errors=new.estimate.num_errors,
        leakage_bits=new.leakage_bits))
    refuse_old_e91_finite_key("e91", [None, new])
    refuse_old_e91_finite_key("bbm92", [bbm92, old])
    with pytest.raises(DqsimError, match="older dqsim, whose E91 finite key assumed a symmetric source") as info:
        refuse_old_e91_finite_key("e91", [new, old])
    assert "\n" not in str(info.value)

    def restored(result, blocks):
        tally = LinkTally(blocks=[(0, 0, 0, 0, 0, 0, counts, b) for b in blocks])
        state = {"plan": SimpleNamespace(protocol="e91"), "counts": None, "block_chsh": None, "chsh": None,
                 "phase": "ack", "result": result, "tally": tally, "awaiting": set(), "open_blocks": 0,
                 "channel": ClassicalChannel()}
        alice = object.__new__(EntangledAlice)
        alice.__setstate__(dict(state))
        return alice

    assert restored(new, [new]).result is new
    # a sweep's distance finished before the checkpoint comes back as its stored run: refused the same way
    job = apply_overrides(load_job(ROOT / "jobs" / "e91_chsh.toml"), [FINITE])
    for blocks, refused in (([new], False), ([new, old], True)):
        stored = {"tallies": {0: LinkTally(blocks=[(0, 0, 0, 0, 0, 0, counts, b) for b in blocks])}}
        session = SimpleNamespace(stored_next=lambda stored=stored: stored)
        if refused:
            with pytest.raises(DqsimError, match="E91 finite key assumed a symmetric source"):
                qkd_scenario.run_network(job, comm=comm_mod.SingleComm(), backend=None, checkpointing=session)
        else:
            assert qkd_scenario.run_network(job, comm=comm_mod.SingleComm(), backend=None,
                                            checkpointing=session) is stored
    assert pickle.loads(pickle.dumps(new)).finite_key == new.finite_key   # the new result pickles whole
    for result, blocks in ((old, []), (None, [new, old])):
        with pytest.raises(DqsimError, match="E91 finite key assumed a symmetric source"):
            restored(result, blocks)
