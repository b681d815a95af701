"""Distributed circuits over the network: ideal links reproduce the monolithic circuit,
and the run is the same on 1, 2 and 4 ranks, with one and with several nodes per rank
(bit-identical where the register is small enough to be whole on every rank). Dynamic circuits in the dqc
scenario too (teleportation with feed-forward over 3 QPUs; reset, a routed nonlocal gate inside an `if`, a bit
that changes QPU, a nested `if`): the same shots, times and timelines on 1, 2 and 4 ranks and for another
placement of the QPUs on ranks."""

import numpy as np
import pytest

from mpi_helper import run_placement_checks

CONFIGS = [(1, None), (2, None), (4, None), (2, "0,0,0,1"), (4, "3,2,1,0")]
#: The dynamic circuits' (ranks, placement) (tests/mpi_scripts/dqc_dynamic_check.py: 3 QPUs).
DYNAMIC_CONFIGS = [(1, None), (2, None), (4, None), (2, "1,0,1")]


@pytest.fixture(scope="module")
def both_checks(tmp_path_factory):
    """The arrays of dqc_check.py for each (ranks, placement) of CONFIGS and of dqc_dynamic_check.py for each of
    DYNAMIC_CONFIGS: one launch per rank count, running both scripts' placements (tests/mpi_scripts/run_checks.py)."""
    return run_placement_checks({"dqc_check": (CONFIGS, "big_"), "dqc_dynamic_check": (DYNAMIC_CONFIGS, None)},
                                tmp_path_factory.mktemp("dqc"))


@pytest.fixture(scope="module")
def results(both_checks):
    return both_checks["dqc_check"]


@pytest.fixture(scope="module")
def dynamic_results(both_checks):
    return both_checks["dqc_dynamic_check"]


@pytest.mark.parametrize("label", ["ghz", "random", "random_sharded", "teledata", "swap", "teledata_late", "ahead",
                                   "ahead_teledata"])
def test_ideal_links_reproduce_the_monolithic_circuit(results, label):
    for key, res in results.items():
        assert res[f"{label}_fidelity"][0] == pytest.approx(1.0, abs=1e-10), key
        assert res[f"{label}_nonlocal"][0] > 0


def test_noisy_run_has_fidelity_below_one(results):
    value = results[(1, None)]["qft_noisy_fidelity"][0]
    assert 0.0 < value < 0.999
    assert 0.0 < results[(1, None)]["ahead_noisy_fidelity"][0] < 0.999


def test_ahead_ends_no_later_than_on_demand_and_uses_the_same_pairs(results):
    """The pairs made ahead of need (``entanglement="ahead"``): the same pairs per link as on demand, an
    earlier end (random CX-class gates on disjoint qubits overlap); identical on every rank count and
    placement (test_identical_on_any_rank_count_and_placement)."""
    res = results[(1, None)]
    for ahead, on_demand in (("ahead", "random"), ("ahead_teledata", "teledata"), ("ahead_noisy", "qft_noisy")):
        assert res[f"{ahead}_time_ps"][0] <= res[f"{on_demand}_time_ps"][0], ahead
    assert res["ahead_time_ps"][0] < res["random_time_ps"][0]
    assert np.array_equal(res["ahead_links"], res["random_links"])


@pytest.mark.parametrize("label", ["random_sharded", "qft_noisy"])
def test_the_fidelity_check_in_place_equals_the_one_on_a_second_register(results, label):
    """Undoing the circuit on the final state (no second register) gives the same fidelity, and the shots,
    drawn before it, are the same; on every rank count, sharded registers included."""
    for key, res in results.items():
        assert res[f"{label}_fidelity_check"][0] == "copy" and res[f"{label}_inplace_fidelity_check"][0] == "in_place"
        assert abs(res[f"{label}_inplace_fidelity"][0] - res[f"{label}_fidelity"][0]) < 1e-12, key
        assert np.array_equal(res[f"{label}_inplace_shots"], res[f"{label}_shots"]), key


@pytest.mark.parametrize("config", CONFIGS[1:], ids=str)
def test_identical_on_any_rank_count_and_placement(results, config):
    one, other = results[(1, None)], results[config]
    for key in one:
        sharded = key.startswith(("random_sharded_", "big_"))  # the others' registers are whole on every rank
        if key.endswith("_register_ranks"):
            assert other[key][0] == (config[0] if sharded else 1), key
        elif key.endswith("_fidelity") and sharded:  # reductions summed over ranks: equal up to rounding
            assert abs(one[key][0] - other[key][0]) < 1e-10, key
        else:
            assert np.array_equal(one[key], other[key]), key


def test_link_statistics_are_consistent(results):
    links = results[(1, None)]["random_links"]
    # columns: a, b, pairs, attempts, photons; double-click (Barrett-Kok) sends two photons per attempt (one per node)
    assert np.all(links[:, 3] >= links[:, 2])
    assert np.array_equal(links[:, 4], 2 * links[:, 3])
    assert links[:, 2].sum() > 0


def test_repro_10_a_network_above_the_old_register_cap(results):
    """32 qubits in all (16 data, 16 communication): the register holds 16 + 2, on every rank count."""
    total, register, peak = results[(1, None)]["big_register"]
    assert total == 32 and register == 18 and peak == 18
    assert 0 <= results[(1, None)]["big_fidelity"][0] <= 1.0


@pytest.mark.parametrize("label", ["teleport", "reset"])
def test_dynamic_identical_on_any_rank_count_and_placement(dynamic_results, label):
    """(Until 2026-12-07 tests/test_dqc_dynamic_mpi.py, in launches of its own.)"""
    reference = dynamic_results[(1, None)]
    assert len(reference[f"{label}_shots"]) == 12 and len(set(reference[f"{label}_shots"])) > 1
    assert {"send-bit", "if", "measure", "reset"} <= set(reference[f"{label}_kinds"])
    for config, res in dynamic_results.items():
        for key in ("shots", "time_ps", "links", "timeline", "kinds"):
            np.testing.assert_array_equal(res[f"{label}_{key}"], reference[f"{label}_{key}"], err_msg=f"{config} {key}")
