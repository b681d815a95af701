"""``[qkd.eve].links``: Eve on chosen links of a ``[qkd.network]`` (userwalk3 D1, 2026-12-07 (late night)).

Before, Eve attacked every link of a network and her ``distance_km`` was capped at the shortest link. Statistical
checks: fixed seeds, 3 standard errors (σ = sqrt(p(1-p)/n), n the signal's share of the sifted bits).
"""

import math

import pytest

from dqsim import comm as comm_mod
from dqsim.errors import ConfigError
from dqsim.jobs import apply_overrides, load_job
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT
from test_qkd_scenario import BACKEND

#: bb84_eve_intercept.toml on a chain of 20 and 40 km links, no misalignment nor dark counts: an Eve-free link has
#: QBER 0, an attacked one f/4 (intercept-resend in a random basis: half the resent photons in the wrong basis,
#: half of those wrong at Bob).
CHAIN = ["qkd.pulses=1000000", "qkd.batch_pulses=500000", "qkd.block_pulses=1000000", "qkd.link.misalignment=0",
         "qkd.link.dark_count_rate_hz=0", 'qkd.network={topology="chain", num_nodes=3, distances_km=[20.0, 40.0]}']


def job_with(*overrides):
    return apply_overrides(load_job(ROOT / "jobs" / "bb84_eve_intercept.toml"), [*CHAIN, *overrides])


def blocks_by_link(job):
    out = qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    return {int(row["link"]): row for row in out.tables["blocks"]}


def within_3_sigma(row, expected):
    n = row["sifted_bits"] * 0.8  # the signal's share of the sifted bits (probabilities [0.8, 0.1, 0.1])
    return abs(row["qber_signal"] - expected) <= 3 * math.sqrt(max(expected * (1 - expected), 1.0 / n) / n)


def test_repro_eve_attacks_only_the_links_she_is_given():
    fraction = 0.6
    rows = blocks_by_link(job_with(f"qkd.eve.fraction={fraction}", "qkd.eve.distance_km=30", "qkd.eve.links=[1]"))
    assert within_3_sigma(rows[0], 0.0) and rows[0]["eve_known_fraction"] == 0, rows[0]  # Eve-free
    assert within_3_sigma(rows[1], fraction / 4) and rows[1]["eve_known_fraction"] > 0, rows[1]
    assert rows[1]["qber_signal"] > 0.1  # not an Eve-free link's QBER


def test_without_links_eve_attacks_every_link_as_before():
    fraction = 0.6
    rows = blocks_by_link(job_with(f"qkd.eve.fraction={fraction}", "qkd.eve.distance_km=10"))
    for row in rows.values():
        assert within_3_sigma(row, fraction / 4) and row["eve_known_fraction"] > 0, row


@pytest.mark.parametrize("overrides, words", [
    (["qkd.eve.distance_km=30"], "[qkd.eve].distance_km = 30.0: must be in [0, 20] (Eve taps the fibre; the "
                                 "shortest link of [qkd.network] is 20.0)"),
    (["qkd.eve.distance_km=45", "qkd.eve.links=[1]"], "[qkd.eve].distance_km = 45.0: must be in [0, 40] (Eve taps "
                                                      "the fibre; the shortest link she attacks ([qkd.eve].links) "
                                                      "is 40.0)"),
    (["qkd.eve.links=[2]"], "[qkd.eve].links[0] = 2: must be a link index in [0, 1] (the chain of 3 nodes has 2 links, "
                            "0-based in [qkd.network] order)"),
    (["qkd.eve.links=[-1]"], "[qkd.eve].links[0] = -1: must be >= 0"),
    (["qkd.eve.links=[1, 1]"], "[qkd.eve].links[1] = 1: repeats entry [0] (each link once)"),
    (["qkd.eve.links=[]"], "[qkd.eve].links = []: must list at least one link index (leave the key out to attack "
                           "every link)"),
])
def test_eve_links_are_checked_in_one_line(overrides, words):
    with pytest.raises(ConfigError) as refused:
        job_with("qkd.eve.distance_km=10", *overrides)
    assert words in str(refused.value) and "\n" not in str(refused.value), str(refused.value)


def test_eve_links_need_a_network():
    with pytest.raises(ConfigError) as refused:
        apply_overrides(load_job(ROOT / "jobs" / "bb84_eve_intercept.toml"), ["qkd.eve.links=[0]"])
    assert "[qkd.eve].links = [0]: only used with [qkd.network]" in str(refused.value), str(refused.value)
