"""The ``pairs`` table's ``memory_time_ps``: the summed storage time of the memories that held a delivered pair.

A research review (docs/review-research-20261206.md) could not check a multi-link chain's decoherence from its
outputs: the table gave no link creation or swap times. With perfect pairs, ``T1 = ∞`` and no gate errors, every
memory only dephases (``e^(-t/T2)`` of its coherence) and the swaps pass every phase error on, so a delivered
pair's fidelity is ``(1 + e^(-t/T2))/2`` at ``t = memory_time_ps``: exactly, since the memories are exact density
matrices. Checked for both swapping orders, with a cut-off that abandons attempts (their swaps must not count).
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
T2_S = 2e-3

JOB = """
[run]
name = "memory_time"
scenario = "repeater"
seed = 3
[chain]
num_links = [1, 2, 4]
total_distance_km = 40.0
swapping = "{swapping}"
num_pairs = 4
{cutoff}
[chain.link]
source_fidelity = 1.0
dark_count_rate_hz = 0.0
source_rate_hz = 1.0e6
[chain.node]
t1_s = inf
t2_s = {t2}
gate_1q_error_probability = 0.0
gate_2q_error_probability = 0.0
measure_error_probability = 0.0
"""


@pytest.mark.parametrize("swapping, cutoff", [("swap_asap", ""), ("nested", "cutoff_s = 5e-4")])
def test_a_dephased_pair_has_the_fidelity_of_its_memory_time(swapping, cutoff):
    job = load_job_text(JOB.format(swapping=swapping, cutoff=cutoff, t2=T2_S))
    pairs = repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND).tables["pairs"]
    assert set(pairs["num_links"]) == {1, 2, 4} and len(pairs) == 12
    t = pairs["memory_time_ps"] * 1e-12
    # no memory holds its pair longer than the round: at most 2 memories per link for the whole wait
    assert (t > 0).all() and (pairs["memory_time_ps"] <= 2 * pairs["num_links"] * pairs["waiting_time_ps"]).all()
    np.testing.assert_allclose(pairs["fidelity"], (1 + np.exp(-t / T2_S)) / 2, rtol=0, atol=1e-9)
    assert pairs["fidelity"].min() < 0.95  # the dephasing is large enough to test the times
    if cutoff:
        # attempts abandoned on 4 links too, some after a level-1 swap that must not count
        assert pairs["restarts"][pairs["num_links"] == 4].sum() > 0


def test_with_purification_it_counts_the_kept_pair_from_its_emission_and_the_table_says_so():
    """With pumping, ``memory_time_ps`` is the kept pair's storage from its own emission, the wait for its spare
    pair and the pumping included, the spare pair's storage left out; the table's attribute says so (before
    2026-12-06 the column's meaning with purification was not in the file). One link: its two memories hold the
    kept pair until the delivery, each at least the least age at which the chain's end could take it (the
    spare pair's handshake, herald and the bits' exchange, :meth:`dqsim.jobs.repeater.ChainSection._check_cutoff`)."""
    job = load_job_text(JOB.format(swapping="swap_asap", cutoff="", t2=T2_S).replace(
        "num_links = [1, 2, 4]", "num_links = [1]\npurification_rounds = 1"))
    out = repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    meaning = out.table_attrs["pairs"]["memory_time_ps"]
    assert "kept pair" in meaning and "spare (sacrificed) pairs' own storage is not" in meaning, meaning
    pairs = out.tables["pairs"]
    least_ps = job.chain._least_swap_age_ps(job.chain.link_spec(1, 40.0))
    assert (pairs["memory_time_ps"] % 2 == 0).all()  # the two memories from one emission to one delivery
    assert (pairs["memory_time_ps"] >= 2 * least_ps).all()
    assert (pairs["memory_time_ps"] <= 2 * pairs["waiting_time_ps"]).all()
    t = pairs["memory_time_ps"] * 1e-12
    # the kept pair dephased for t and pumped with a dephased spare: not the formula of an unpurified pair
    assert np.max(np.abs(pairs["fidelity"] - (1 + np.exp(-t / T2_S)) / 2)) > 1e-6
