"""Post-processing run on sifted keys: Cascade, verification hash, Toeplitz privacy amplification.

Deterministic (fixed seeds). f_EC bounds: Cascade with four passes discloses
somewhat more than the Shannon limit n·h(E) (f_EC >= 1 up to the sampling of
E) and, for QBERs of 1-10 %, well under 1.5 n·h(E) (Brassard & Salvail 1993).
"""

from __future__ import annotations

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.errors import DqsimError
from dqsim.jobs import apply_overrides, load_job
from dqsim.protocols.qkd.reconciliation import cascade, postprocess_key, toeplitz_hash
from dqsim.protocols.qkd.theory import binary_entropy
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT


@pytest.mark.parametrize("qber", [0.01, 0.03, 0.08])
def test_cascade_corrects_every_error_at_a_measured_f_ec(qber):
    rng = np.random.default_rng(int(qber * 1000))
    n = 40_000
    alice = rng.integers(0, 2, n, dtype=np.uint8)
    bob = alice ^ (rng.random(n) < qber).astype(np.uint8)
    errors = int(np.count_nonzero(alice != bob))
    result = cascade(alice, bob, errors / n, np.random.default_rng(5))
    assert np.array_equal(result.corrected, alice)
    assert result.errors_corrected >= errors  # every error flipped (flips are only ever of wrong bits)
    f_ec = result.leakage_bits / (n * binary_entropy(errors / n))
    assert 1.0 <= f_ec <= 1.5, f_ec
    assert result.rounds > 4 and result.first_block_bits == int(np.ceil(0.73 / (errors / n)))


def test_toeplitz_hash_is_the_matrix_product_mod_2():
    rng = np.random.default_rng(3)
    for n, m in ((1, 1), (7, 3), (64, 64), (300, 17)):
        x = rng.integers(0, 2, n, dtype=np.uint8)
        seed = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
        matrix = np.array([[seed[i - j + n - 1] for j in range(n)] for i in range(m)], dtype=np.int64)
        assert toeplitz_hash(x, seed, m).tolist() == ((matrix @ x) % 2).tolist()
    with pytest.raises(DqsimError, match="seed_bits"):
        toeplitz_hash(np.zeros(4, np.uint8), np.zeros(3, np.uint8), 2)


def test_postprocess_key_gives_equal_final_keys_of_the_asked_length():
    rng = np.random.default_rng(9)
    alice = rng.integers(0, 2, 20_000, dtype=np.uint8)
    bob = alice ^ (rng.random(20_000) < 0.02).astype(np.uint8)
    done = postprocess_key(alice, bob, qber_estimate=0.02, final_bits_of_leakage=lambda leak: 15_000 - leak,
                           eps_cor=1e-15, rng=np.random.default_rng(1))
    assert done.verified and done.keys_equal and done.residual_errors == 0
    assert done.final_key_bits == 15_000 - done.leakage_bits and done.verification_bits == 50
    # Cascade tuned for no error (one block per pass) leaves errors: the verification fails, no key.
    failed = postprocess_key(alice, bob, qber_estimate=0.0, final_bits_of_leakage=lambda leak: 10_000,
                             eps_cor=1e-15, rng=np.random.default_rng(1))
    assert failed.residual_errors > 0 and not failed.verified and failed.final_key_bits == 0


def test_scenario_runs_cascade_and_privacy_amplification():
    job = apply_overrides(load_job(ROOT / "jobs" / "bb84_decoy_50km.toml"),
                          ["qkd.pulses=4000000", "qkd.batch_pulses=1000000", "qkd.block_pulses=2000000",
                           "qkd.error_correction=\"cascade\""])
    out = qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
    blocks = out.tables["blocks"]
    assert blocks["ec_verified"].all() and blocks["final_keys_equal"].all()
    assert (blocks["ec_residual_errors"] == 0).all() and (blocks["secret_key_bits"] > 0).all()
    assert ((blocks["ec_f_measured"] > 1.0) & (blocks["ec_f_measured"] < 1.5)).all()
    assert (blocks["estimation_bits"] > 0).all() and (blocks["qber_estimated_standard_error"] > 0).all()
    # Cascade's rounds are round trips over the fibre: post-processing takes at least 2·rounds·delay.
    delay_ps = qkd_scenario.link_physics(job, 0, 0, 1, 50.0).delay_ps
    assert (blocks["time_key_ps"] >= 2 * blocks["ec_rounds"] * delay_ps).all()
    # Same counts, modelled leakage: the key lengths agree to within the sampled fraction and f_EC difference.
    model = qkd_scenario.run_job(apply_overrides(load_job(ROOT / "jobs" / "bb84_decoy_50km.toml"), [
        "qkd.pulses=4000000", "qkd.batch_pulses=1000000", "qkd.block_pulses=2000000"]),
        comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy")).tables["blocks"]
    ratio = blocks["secret_key_bits"] / model["secret_key_bits"]
    assert ((ratio > 0.75) & (ratio < 1.0)).all(), ratio
