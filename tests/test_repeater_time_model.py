"""The time model of a repeater chain (docs/running.md, "Repeater chains"; README until 2026-12-07 (night)),
checked on one link.

A research review (docs/review-research-20261206.md) could not reconstruct a chain's rate or its memories'
decoherence from README alone; the docs now say when a pair exists and what a pumping round costs. These
tests hold the sentences to the runs: the delivery time of a 20 km link with one DEJMPS round, and the
dephasing of a delivered pair's two memories over one attempt period (exp(-t/T2) per memory).
"""

import math

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import load_job_text
from dqsim.scenarios import repeater

from conftest import TEST_BACKEND

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")

JOB = """
[run]
name = "time_model"
scenario = "repeater"
seed = {seed}
[chain]
num_links = 1
total_distance_km = 20.0
purification_rounds = {rounds}
{purification}
num_pairs = {pairs}
[chain.link]
scheme = "double_click"
source_fidelity = {fidelity}
dark_count_rate_hz = 0.0
source_rate_hz = 1.0e6
[chain.node]
t1_s = inf
t2_s = {t2}
"""


def _run(*, rounds=0, pairs=1, fidelity=0.85, t2="inf", seed=5):
    purification = 'purification = "dejmps"' if rounds else ""
    job = load_job_text(JOB.format(rounds=rounds, purification=purification, pairs=pairs, fidelity=fidelity,
                                   t2=t2, seed=seed))
    return repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)


def test_one_dejmps_round_on_one_link_takes_the_readme_time_per_pair():
    """Per pair: d (the round's start) + tries x (two handshakes 2d each, the bits' exchange d, N1 + N2 attempts of
    T), tries ~ Geometric(P) with P the purification's success probability (Deutsch et al., PRL 77, 2818 (1996))."""
    pairs = 300
    out = _run(rounds=1, pairs=pairs)
    summary = out.tables["summary"][0]
    p, period = summary["link_success_probability"], float(summary["attempt_period_ps"])
    delay = period  # midpoint station: the attempt period is the round trip to it, one link delay
    f = 0.85
    success = (f + (1 - f) / 3) ** 2 + (2 * (1 - f) / 3) ** 2
    per_try_mean = 5 * delay + 2 * period / p
    per_try_var = 2 * period ** 2 * (1 - p) / p ** 2
    tries_mean, tries_var = 1 / success, (1 - success) / success ** 2
    mean = delay + tries_mean * per_try_mean
    stderr = math.sqrt((tries_mean * per_try_var + tries_var * per_try_mean ** 2) / pairs)
    measured = summary["simulated_time_ps"] / pairs
    assert abs(measured - mean) < 4 * stderr, (measured, mean, stderr)
    assert summary["fidelity_mean"] == pytest.approx((f ** 2 + ((1 - f) / 3) ** 2) / success, abs=1e-12)


def test_a_one_link_pair_dephases_for_one_attempt_period_in_each_memory():
    """Werner F0 = 0.92, T2 = 10 ms, T1 infinite: F = (A + B)/2 + (A - B)/2 exp(-2T/T2), B = (1 - F0)/3."""
    f0, t2 = 0.92, 0.01
    out = _run(pairs=3, fidelity=f0, t2=t2)
    summary, pairs = out.tables["summary"][0], out.tables["pairs"]
    period_s = summary["attempt_period_ps"] * 1e-12
    b = (1 - f0) / 3
    expected = (f0 + b) / 2 + (f0 - b) / 2 * math.exp(-2 * period_s / t2)
    assert np.allclose(pairs["fidelity"], expected, atol=1e-9, rtol=0)
