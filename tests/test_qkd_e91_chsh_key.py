"""E91's asymptotic key from its CHSH value (Acín, Brunner, Gisin, Massar, Pironio, Scarani, PRL 98, 230501 (2007)):
ℓ = n'·(1 - h((1 + sqrt((S/2)² - 1))/2)) - leak_EC, 0 for S <= 2 — not n'(1 - h(Q̂)), which assumed a symmetric
source that an eavesdropper need not leave.

Deterministic (fixed seeds); tolerances say where a sampled quantity is compared with its expectation.
"""

import math

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.errors import DqsimError
from dqsim.jobs import apply_overrides, load_job
from dqsim.protocols.qkd import spdc
from dqsim.protocols.qkd.classical_channel import ClassicalChannel
from dqsim.protocols.qkd.entangled import E91_CHSH_TERMS, SiftedCounts, chsh_secrecy_fraction
from dqsim.protocols.qkd.entangled_block import entangled_block_key, entangled_no_key_reason
from dqsim.protocols.qkd.theory import binary_entropy
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT

ONE_BLOCK = ["qkd.pulses=2000000", "qkd.batch_pulses=500000", "qkd.block_pulses=2000000"]


def run(*overrides):
    job = apply_overrides(load_job(ROOT / "jobs" / "e91_chsh.toml"), [*ONE_BLOCK, *overrides])
    return job, qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))


def bound(s):
    """1 - h((1 + sqrt((S/2)² - 1))/2) written out (Acín et al. 2007, eq. (4)), for 2 < S <= 2√2."""
    return 1 - binary_entropy((1 + math.sqrt((s / 2) ** 2 - 1)) / 2)


def test_chsh_secrecy_fraction_against_hand_values():
    """S = 2√2: sqrt(2 - 1) = 1, h(1) = 0, so 1 (the key rate is 1 - h(Q)); S = 2.5: sqrt(1.5625 - 1) = 0.75,
    h(0.875) = 0.875·0.192645 + 0.125·3 = 0.543564, so 0.456436; no violation (S <= 2, NaN) gives 0; above
    Tsirelson's bound (a fluctuation) counts as 2√2."""
    assert chsh_secrecy_fraction(2 * math.sqrt(2)) == pytest.approx(1.0, abs=1e-12)
    assert chsh_secrecy_fraction(2.5) == pytest.approx(0.456436, abs=1e-6)
    assert chsh_secrecy_fraction(2.0) == chsh_secrecy_fraction(1.2) == chsh_secrecy_fraction(math.nan) == 0.0
    assert chsh_secrecy_fraction(2.9) == 1.0
    assert chsh_secrecy_fraction(2.0 + 1e-9) < 1e-6  # continuous at S = 2


def _coincidences(correlation, num=10_000):
    """E91 coincidence counts with ``num`` pairs per setting pair at correlation ±``correlation`` in Ekert's CHSH
    terms (sign as the term's) and 0 elsewhere: S = 4·correlation exactly."""
    n = np.zeros((3, 3, 2, 2), dtype=np.int64)
    n[...] = num // 4
    for a, b, sign in E91_CHSH_TERMS:
        agree = round(num * (1 + sign * correlation) / 2)
        n[a, b, 0, 0], n[a, b, 1, 1] = agree // 2, agree - agree // 2
        n[a, b, 0, 1], n[a, b, 1, 0] = (num - agree) // 2, num - agree - (num - agree) // 2
    return n


def test_block_key_is_the_chsh_bound_at_the_blocks_own_s():
    """A block's key is n'·(1 - h((1 + sqrt((S/2)² - 1))/2)) - f_EC·h(E')·n' at the S of the coincidences passed
    (0.625 per CHSH pair: S = 2.5 exactly), to the bit; with S = 2 (0.5) none, the reason saying so; without
    coincidences an error."""
    counts = SiftedCounts(1_000_000, 300_000, 100_000, 1_000, (50_000, 50_000), (500, 500))
    settings = dict(protocol="e91", pair_rate_hz=1e9, f_ec=1.16, qber_threshold=0.11, sample_fraction=0.1)
    r = entangled_block_key(counts, rng=np.random.default_rng(4), coincidences=_coincidences(0.625), **settings)
    assert r.chsh[0] == pytest.approx(2.5, abs=1e-12) and not r.aborted
    n = r.num_key_bits
    e_kept = (counts.num_errors - r.estimate.num_errors) / n
    expected = n * 0.456436 - 1.16 * binary_entropy(e_kept) * n
    assert abs(r.secret_key_bits - expected) <= 1 + n * 1e-6
    classical = entangled_block_key(counts, rng=np.random.default_rng(4), coincidences=_coincidences(0.5),
                                    **settings)
    assert classical.secret_key_bits == 0 and not classical.aborted
    assert "CHSH S = 2.0000" in entangled_no_key_reason(classical, "e91", 0.11)
    with pytest.raises(DqsimError, match="an E91 block needs its coincidences"):
        entangled_block_key(counts, rng=np.random.default_rng(4), **settings)


@pytest.mark.parametrize("werner", [1.0, 0.95])
def test_eve_measuring_x_on_half_the_pairs_gets_no_e91_key(werner):
    """Eve measures Bob's photon in X on half the pairs: the QBER (~6 % at w = 1) stays below the 11 % threshold
    and n'(1 - h(Q̂)) - leak kept 28,333 bits (w = 1; 10,856 at w = 0.95; seed 1, 2·10^6 pairs) of which Eve had
    measured a quarter; her attack leaves S = √2·w·1.5 (2.11, 2.01), and the CHSH bound then keeps nothing."""
    _job, out = run(f"qkd.source.werner={werner}", 'qkd.eve={attack="intercept_resend", basis="X", fraction=0.5}')
    (block,) = out.tables["blocks"]
    assert not block["aborted"] and block["qber_signal"] < 0.11
    assert abs(block["eve_known_fraction"] - 0.25) < 3 * math.sqrt(0.25 * 0.75 / block["sifted_bits"])
    assert block["secret_key_bits"] == 0 and out.attrs["total_secret_key_bits"] == 0
    assert abs(block["chsh_value"] - math.sqrt(2) * werner * 1.5) < 3 * block["chsh_standard_error"] + 0.01
    assert "CHSH S = " in block["no_key_reason"] and "does not exceed the leakage" in block["no_key_reason"]


def test_honest_werner_key_follows_the_chsh_bound_and_the_theory_curve():
    """No Eve, w = 0.95 (jobs/e91_chsh.toml): the block's S is 2√2·0.95 less dark counts (spdc.expected_spdc_chsh)
    within 3 s.e.; its key is n'·bound(S_block) - leak to the bit; with the expected S instead of the block's the
    key differs by at most 3 s.e. of S times n'·|d bound/dS|; and the links table's theory curve
    (spdc_key_rate, the same bound at the expected S) times 1 - sample_fraction is the simulated rate within that
    tolerance plus the QBER's 3 s.e. (f_EC·h'(Q)·3·se_Q per key bit)."""
    job, out = run()
    (block,), (link,) = out.tables["blocks"], out.tables["links"]
    channel = qkd_scenario._pair_channel(job, qkd_scenario.link_physics(job, 0, 0, 1, job.qkd.link.distance_km))
    s_expected = spdc.expected_spdc_chsh(None, **channel)
    assert s_expected == pytest.approx(2 * math.sqrt(2) * 0.95, rel=1e-6)
    s, se = block["chsh_value"], block["chsh_standard_error"]
    assert abs(s - s_expected) < 3 * se and 0 < se < 0.01
    n = int(block["sifted_bits"] - block["estimation_bits"])
    leak = block["leakage_bits"]
    assert abs(block["secret_key_bits"] - (n * bound(s) - leak)) <= 1
    slope = (bound(s_expected + 1e-4) - bound(s_expected - 1e-4)) / 2e-4
    tolerance = 3 * se * slope * n
    assert abs(block["secret_key_bits"] - (n * bound(s_expected) - leak)) <= tolerance
    theory = (1 - job.qkd.sample_fraction) * link["theory_bits_per_pulse"]
    q, f_ec = block["qber_signal"], job.qkd.f_ec
    dh = math.log2((1 - q) / q)
    per_bit = 3 * se * slope + f_ec * dh * 3 * math.sqrt(q * (1 - q) / block["sifted_bits"])
    sifted_fraction = block["sifted_bits"] / block["pulses"]
    assert abs(link["key_rate_bits_per_pulse"] - theory) <= per_bit * sifted_fraction + 3 * theory / math.sqrt(n)
    assert 0 < link["key_rate_bits_per_pulse"] < (1 - job.qkd.sample_fraction) * sifted_fraction * (
        1 - (1 + f_ec) * binary_entropy(q))  # below the old symmetric-source key


def test_an_older_checkpoint_inside_an_e91_block_is_refused_in_one_line():
    """A checkpoint written before E91 kept each block's CHSH counts resumes at a block's start (the block's
    counts begin empty) but is refused inside a block, whose CHSH value is lost; BBM92's resumes either way."""
    import pickle
    from types import SimpleNamespace

    from dqsim.protocols.qkd.nodes import EntangledAlice

    def restored(protocol, counts):
        state = {"plan": SimpleNamespace(protocol=protocol), "counts": counts, "chsh": None, "phase": "emit",
                 "awaiting": set(), "open_blocks": 0,
                 "channel": ClassicalChannel()}  # (a state older than awaiting is refused whatever its
        # block_chsh; one older than open_blocks, of the source that waited for every block, too)
        alice = object.__new__(EntangledAlice)
        alice.__setstate__(dict(state))
        return alice

    assert restored("e91", None).block_chsh is None
    assert restored("bbm92", object()).block_chsh is None
    with pytest.raises(DqsimError, match="older dqsim, inside a key block") as info:
        restored("e91", object())
    assert "\n" not in str(info.value)
    fresh = object.__new__(EntangledAlice)
    fresh.__dict__.update(plan=SimpleNamespace(protocol="e91"), counts=None, block_chsh=[1, 2], awaiting=set(),
                          open_blocks=0, channel=ClassicalChannel())
    assert pickle.loads(pickle.dumps(fresh)).block_chsh == [1, 2]
