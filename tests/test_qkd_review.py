"""An outside review of the QKD physics and post-processing: each test holds a figure to its formula.

Fixed seeds; tolerances are stated in standard errors (s.e.) of the simulated figure. Every test
here failed before the fix it comes with (see the commit that added it).
"""

from __future__ import annotations

import math

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import apply_overrides, load_job
from dqsim.protocols.qkd import entangled
from dqsim.protocols.qkd.reconciliation import postprocess_key
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT

NUMPY = backend_mod.select("numpy")


def run(job_name, *overrides):
    job = apply_overrides(load_job(ROOT / "jobs" / f"{job_name}.toml"), list(overrides))
    return job, qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=NUMPY)


def test_postprocess_key_of_an_empty_block_gives_an_empty_verified_key():
    """A block without a key bit (a far link, few pairs) is no crash: nothing to correct, ℓ = 0."""
    empty = np.zeros(0, dtype=np.uint8)
    done = postprocess_key(empty, empty, qber_estimate=0.5, final_bits_of_leakage=lambda leak: 100 - leak,
                           eps_cor=1e-15, rng=np.random.default_rng(1))
    assert done.num_bits == 0 and done.final_key_bits == 0 and done.leakage_bits == 0
    assert done.verified and done.keys_equal and done.residual_errors == 0
    assert math.isnan(done.f_ec_measured)


def test_e91_reports_chsh_per_distance_and_no_crash_where_a_setting_pair_saw_nothing():
    """S = 2√2·w·noise (expected_chsh) at each distance of a sweep within 3 s.e.; at 300 km 1,000 pairs give
    no coincidence: S is NaN with a warning saying why, not a crash of the run (chsh_from_counts raised)."""
    job, out = run("e91_chsh", "qkd.pulses=1000000", "qkd.batch_pulses=500000", "qkd.block_pulses=1000000",
                   "qkd.link.distance_km=0", "qkd.sweep.distances_km=[5, 40]")
    sweep = out.tables["sweep"]
    for row in sweep:
        t_a, t_b = entangled.arm_transmittances(qkd_scenario._pair_source(job), row["distance_km"], 0.2)
        expected = entangled.expected_chsh(
            qkd_scenario._pair_source(job), transmittance_alice=t_a, transmittance_bob=t_b, efficiency=0.8,
            dark_count_probability=qkd_scenario.link_physics(job, 0, 0, 1, row["distance_km"])
            .detector.dark_count_probability)
        assert abs(row["chsh_value"] - expected) < 3 * row["chsh_standard_error"], row
    assert out.attrs["chsh_s"] == sweep["chsh_value"][-1]
    _job, far = run("e91_chsh", "qkd.pulses=1000", "qkd.batch_pulses=1000", "qkd.block_pulses=1000",
                    "qkd.link.distance_km=300")
    assert math.isnan(far.tables["links"]["chsh_value"][0]) and math.isnan(far.attrs["chsh_s"])
    assert "CHSH S not measured" in far.attrs["warnings"] and far.attrs["total_secret_key_bits"] == 0
