"""Afterpulsing in the BBM92/E91 receivers against the renewal formulas (docs/review-qkd-networks-20261206.md).

Each side's receiver is an independent renewal process (one pair per slot: the two sides' photon and
dark clicks are independent): a cycle of p_a(D + 1) + (1 - p_a)(D + 1/c) slots (Knoll, *Radiation
Detection and Measurement*, Sec. 4.VII, the afterpulse a renewal), so r^2 coincidences per pair. A click
carries the pair's bit when its cycle ended in a photon click (1 - p_a) or its afterpulse fell on the
detector that the photon also fired (p_a c / 2; else a double click, a random bit): g = 1 - p_a + p_a c/2,
QBER = 1/2 - g^2 (1/2 - E0) and S = 2 sqrt(2) w g^2. Fixed seed; tolerance 4 standard errors.
"""

from __future__ import annotations

import math

import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import apply_overrides, load_job
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT

PAIRS = 200_000


def _run(job_name, *overrides):
    job = apply_overrides(load_job(ROOT / "jobs" / f"{job_name}.toml"),
                          [f"qkd.pulses={PAIRS}", f"qkd.batch_pulses={PAIRS}", f"qkd.block_pulses={PAIRS}", *overrides])
    return job, qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))


def _side_click_probability(job) -> float:
    """c = 1 - (1 - Tη)(1 - p_d)^2: a side's photon or dark click per slot (one pair per slot, Bob's arm)."""
    link = job.qkd.link
    arm_km = job.qkd.source.position * link.distance_km
    t_eta = 10 ** (-(link.attenuation_db_per_km * arm_km + link.coupling_loss_db) / 10) * link.detector_efficiency
    p_d = 1 - math.exp(-link.dark_count_rate_hz * link.gate_width_ps * 1e-12)
    return 1 - (1 - t_eta) * (1 - p_d) ** 2


def _genuine(c: float, p_a: float) -> float:
    return 1 - p_a + p_a * c / 2


@pytest.mark.parametrize("dead_time_ps, p_a", [(0, 0.3), (3000, 0.2)])
def test_bbm92_coincidences_and_qber_with_afterpulses_follow_the_renewal_formulas(dead_time_ps, p_a):
    job, out = _run("bbm92_20km", f"qkd.link.dead_time_ps={dead_time_ps}", f"qkd.link.afterpulse_probability={p_a}")
    c = _side_click_probability(job)
    dead = int(dead_time_ps * job.qkd.source.source_rate_hz // 10**12)
    rate = 1 / (p_a * (dead + 1) + (1 - p_a) * (dead + 1 / c))
    row = out.tables["blocks"][0]
    coincidences = row["detections_signal"] / PAIRS
    assert abs(coincidences - rate**2) < 4 * math.sqrt(rate**2 * (1 - rate**2) / PAIRS)
    e_d, w = job.qkd.link.misalignment, job.qkd.source.werner
    e0 = (1 - w * (1 - 2 * e_d) ** 2) / 2
    g = _genuine(c, p_a)
    qber = 0.5 - g * g * (0.5 - e0)
    assert abs(row["qber_signal"] - qber) < 4 * math.sqrt(qber * (1 - qber) / row["sifted_bits"])


def test_e91_chsh_with_afterpulses_is_scaled_by_the_genuine_share_squared():
    job, out = _run("e91_chsh", "qkd.link.afterpulse_probability=0.2")
    g = _genuine(_side_click_probability(job), 0.2)
    expected = 2 * math.sqrt(2) * job.qkd.source.werner * g * g
    assert abs(out.attrs["chsh_s"] - expected) < 4 * out.attrs["chsh_standard_error"]
