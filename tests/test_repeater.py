"""Repeater chains: swapping, purification and waiting times against formulas, the example job,
rank independence, and job-file errors.

Statistical checks use fixed seeds and a tolerance of 3 standard errors of the sample mean.
"""

import dataclasses
import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.cli.progress import stage_of
from dqsim.engine import ClockLimitError
from dqsim.errors import ConfigError, DqsimError
from dqsim.jobs import repeater as repeater_jobs
from dqsim.jobs import JOB_MODELS, apply_overrides, load_job, load_job_text
from dqsim.network.entanglement import mean_attempts_two_links
from dqsim.network.link import LinkSpec as _LinkSpec
from dqsim.network.node import NodeSpec
from dqsim.network.werner import (bbpssw_fidelity, bbpssw_success_probability, bell_diagonal_hashing_yield,
                                  bell_diagonal_key_fraction, fidelity_from_werner, plob_bound, swap_fidelity,
                                  werner_from_fidelity, werner_hashing_yield, werner_key_fraction)
from dqsim.protocols.repeater import ChainSpec
from dqsim.scenarios import repeater
from dqsim.units import ps_to_seconds, seconds_to_ps
from mpi_helper import run_here, run_mpi_arrays
from conftest import TEST_BACKEND

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")

ROOT = Path(__file__).resolve().parent.parent
JOB = ROOT / "jobs" / "repeater_chain.toml"
IDEAL = NodeSpec(name="n")


def LinkSpec(**fields):
    """A link without dark counts unless a test sets them: these tests isolate swapping, purification, timing
    and memories (10 Hz of dark counts would move exact fidelities by ~1e-7; tests/test_network_physics.py
    checks the false heralds)."""
    fields.setdefault("dark_count_rate_hz", 0.0)
    return _LinkSpec(**fields)


def run(chain, seed, every_attempt=False):
    return repeater.run_chain(chain, comm=comm_mod.SingleComm(), backend=BACKEND, seed=seed,
                              every_attempt=every_attempt)


def assert_mean(samples, expected, what):
    samples = np.asarray(samples, dtype=float)
    error = samples.std(ddof=1) / math.sqrt(len(samples))
    # memories are exact density matrices: a per-pair value with no spread must match to rounding
    assert abs(samples.mean() - expected) < 3 * error + 1e-12, (what, samples.mean(), expected, error)


def test_swapped_fidelity_of_two_werner_pairs():
    """F1·F2 + (1−F1)(1−F2)/3 for Werner pairs of different fidelity, ideal memories and gates."""
    links = [LinkSpec(distance_km=2.0, source_fidelity=0.9), LinkSpec(distance_km=2.0, source_fidelity=0.8)]
    result = run(ChainSpec(links=links, node=IDEAL, num_pairs=500), seed=1)
    assert len(result.pairs) == 500
    assert_mean(result.fidelities, swap_fidelity(0.9, 0.8), "swap")


def test_repro_10_a_chain_of_128_links_runs_and_is_exact():
    """Beyond the old 8-link cap: w = w1^128 for every delivered pair, exactly (small states, no trajectories)."""
    link = LinkSpec(distance_km=1.0, source_fidelity=0.999)
    result = run(ChainSpec(links=[link] * 128, node=IDEAL, num_pairs=3), seed=4)
    expected = fidelity_from_werner(werner_from_fidelity(0.999) ** 128)
    np.testing.assert_allclose(result.fidelities, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("swapping", ["swap_asap", "nested"])
def test_four_links_multiply_werner_parameters(swapping):
    """Three swaps of Werner pairs: w = w1·w2·w3·w4, whatever the order of the swaps."""
    link = LinkSpec(distance_km=2.0, source_fidelity=0.95)
    result = run(ChainSpec(links=[link] * 4, node=IDEAL, swapping=swapping, num_pairs=250), seed=2)
    assert result.engine.counters[("swaps", 2)] == 250
    assert_mean(result.fidelities, fidelity_from_werner(werner_from_fidelity(0.95) ** 4), swapping)


@pytest.mark.parametrize("variant", ["bbpssw", "dejmps"])
def test_purification_matches_the_bbpssw_formulas(variant):
    """One round on two Werner pairs of F = 0.8: success probability and kept fidelity (3 s.e. each)."""
    link = LinkSpec(distance_km=2.0, source_fidelity=0.8)
    result = run(ChainSpec(links=[link], node=IDEAL, purification_rounds=1, purification=variant,
                           num_pairs=400), seed=3)
    outcomes = np.concatenate([[1] * r.purify_successes + [0] * r.purify_failures for r in result.records.links])
    assert outcomes.sum() == 400  # one kept pair per delivered pair
    assert_mean(outcomes, bbpssw_success_probability(0.8), "success probability")
    assert_mean(result.fidelities, bbpssw_fidelity(0.8), "kept fidelity")


def test_two_link_waiting_time_is_the_mean_of_the_larger_geometric():
    """Both links start in lockstep; time until both hold a pair, in attempt periods: E[max] = (3−2p)/(p(2−p))."""
    link = LinkSpec(distance_km=2.0)
    period, delay = link.attempt_period_ps, link.delay_ps
    result = run(ChainSpec(links=[link, link], node=IDEAL, num_pairs=500), seed=4)
    # attempts start after the reservation handshake (two delays); the last pair is emitted at attempt max(N1, N2)
    waits = np.array([(p.links_created_ps - p.round_start_ps - 2 * delay + period) / period for p in result.pairs])
    assert np.array_equal(waits, [p.link_attempts_max for p in result.pairs])
    assert_mean(waits, mean_attempts_two_links(link.success_probability), "E[max]")
    # delivery: the herald reaches the repeater one delay after the last emission, its bits B one more
    assert all(p.delivery_ps == p.links_created_ps + 2 * delay for p in result.pairs)


def test_end_memories_decohere_until_delivery():
    """One ideal link, memories with T2 only: both qubits dephase for the herald delay, F = (1 + e^(−2t/T2))/2."""
    link = LinkSpec(distance_km=20.0)
    t2_s = 2 * ps_to_seconds(link.delay_ps)
    result = run(ChainSpec(links=[link], node=NodeSpec(name="n", t2_s=t2_s), num_pairs=400), seed=5)
    waited_s = ps_to_seconds(link.delay_ps)
    assert_mean(result.fidelities, (1 + math.exp(-2 * waited_s / t2_s)) / 2, "dephased pair")


def test_cutoff_abandons_attempts_and_delivers_fresh_pairs_only():
    link = LinkSpec(distance_km=20.0)
    cutoff_ps = 3 * link.attempt_period_ps
    result = run(ChainSpec(links=[link, link], node=IDEAL, cutoff_ps=cutoff_ps, num_pairs=60), seed=6,
                 every_attempt=True)
    assert sum(p.restarts for p in result.pairs) > 0
    assert len(result.records.restarts) == sum(p.restarts for p in result.pairs)
    for pair in result.pairs:
        created = [r.created_ps for r in result.records.links
                   if (r.pair_index, r.attempt) == (pair.pair_index, pair.restarts)]
        assert len(created) == 2
        # the repeater swapped at the later herald, while the earlier pair was younger than the cut-off
        assert max(created) + link.delay_ps < min(created) + cutoff_ps


def test_too_many_restarts_stop_the_run():
    link = LinkSpec(distance_km=20.0)
    chain = ChainSpec(links=[link, link], node=IDEAL, cutoff_ps=1, num_pairs=1, max_restarts=3)
    with pytest.raises(DqsimError, match="abandoned 4 times"):
        run(chain, seed=7)


def test_chain_geometry():
    chain = ChainSpec(links=[LinkSpec(distance_km=1.0)] * 8, node=IDEAL, swapping="nested")
    assert [chain.level(i) for i in range(1, 8)] == [1, 2, 1, 3, 1, 2, 1]
    assert [chain.consumer(i) for i in range(1, 8)] == [2, 4, 2, 8, 6, 4, 6]
    pumped = ChainSpec(links=[LinkSpec(distance_km=1.0)] * 2, node=IDEAL, purification_rounds=2)
    qubits = [pumped.qubit(n, s, k) for n in range(3) for s in pumped.sides(n) for k in range(2)]
    assert qubits == list(range(pumped.num_qubits)) == list(range(8))
    assert pumped.qubit_owner() == [0, 0, 1, 1, 1, 1, 2, 2]
    with pytest.raises(DqsimError, match="power-of-two"):
        ChainSpec(links=[LinkSpec(distance_km=1.0)] * 6, node=IDEAL, swapping="nested")


def test_the_example_job_runs_at_a_small_size():
    job = apply_overrides(load_job(JOB), ["chain.num_pairs=3", "chain.total_distance_km=[100.0, 300.0]"])
    assert isinstance(job, repeater_jobs.RepeaterJob) and JOB_MODELS["repeater"] is repeater_jobs.RepeaterJob
    out = repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    summary, pairs = out.tables["summary"], out.tables["pairs"]
    assert summary["num_links"].tolist() == [1, 2, 4, 1, 2, 4]
    assert summary["link_distance_km"].tolist() == [100.0, 50.0, 25.0, 300.0, 150.0, 75.0]
    assert len(pairs) == 18 and np.all((pairs["fidelity"] > -1e-9) & (pairs["fidelity"] < 1 + 1e-9))
    assert np.all(summary["rate_hz"] > 0)
    assert np.all(summary["direct_rate_hz"] < summary["plob_rate_hz"])
    assert np.allclose(summary["reference_rate_hz"], 1e6)  # [chain.link].source_rate_hz
    assert out.attrs["reference_rate_from"] == "source rate of [chain.link]"
    assert np.allclose(summary["direct_rate_hz"], summary["transmittance"] * 1e6)
    # over 100 km direct transmission delivers more raw pairs than the 4-link chain
    assert summary["rate_hz"][2] < summary["direct_rate_hz"][2]
    last = pairs["delivery_time_ps"][pairs["config"] == 0].max()
    assert summary["rate_hz"][0] == pytest.approx(3 / ps_to_seconds(last))
    assert out.attrs["cutoff_s"] == 0.1 and out.attrs["swapping"] == "swap_asap"
    assert len(out.summary) == 8
    # two memories per link, in small states: no data register (the column was called register_qubits)
    assert summary["memory_qubits"].tolist() == [2 * n for n in summary["num_links"]]
    assert out.attrs["max_memory_qubits"] == 8 and "max_register_qubits" not in out.attrs


def test_repro_a_single_chain_configuration_reports_the_fraction_of_pairs_delivered():
    """One configuration (a 1,024-node chain in the workflow review) said only its stage name every 10 s until
    it ended; now each engine window brings the pairs delivered over num_pairs (so the log's heartbeat lines
    carry a percentage and an estimate). Whole counts still only when a configuration is done."""
    job = apply_overrides(load_job(JOB), ["chain.num_links=[32]", "chain.total_distance_km=[64.0]",
                                          "chain.num_pairs=10"])  # ~5,700 events: windows of 1,024 on one rank
    updates = []
    repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND,
                     on_progress=lambda done, total, what: updates.append((done, total, what)))
    partial = [done for done, total, what in updates if what.startswith("chain configurations (") and 0 < done < 1]
    assert len(set(partial)) >= 2 and partial == sorted(partial), updates
    assert set(partial) <= {k / 10 for k in range(1, 10)}, updates
    assert updates[-1][:2] == (1, 1) and len({stage_of(what) for _, _, what in updates}) == 1, updates


def test_repro_progress_shows_the_simulated_time_and_the_attempts_abandoned():
    """A run whose cut-off abandons most attempts said only ``repeater rep_scale`` every 10 s, with no simulated
    time and no restart count (docs/review-scale-20261206.md). Each engine window now brings both, also before
    the first pair (fraction 0); the configuration's last line counts all of its restarts."""
    job = apply_overrides(load_job(JOB), ["chain.num_links=[2]", "chain.total_distance_km=[300.0]",
                                          "chain.num_pairs=5"])  # ~25 restarts per pair, measured
    updates = []
    out = repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND,
                           on_progress=lambda done, total, what: updates.append((done, total, what)))
    # "this configuration:": each configuration's time starts at 0 (userwalk: 41 s -> 3.22 s read as time backwards)
    pattern = re.compile(r"chain configurations \(this configuration: ([0-9.e+-]+) s simulated, ([0-9,]+) attempts "
                         r"abandoned at the cut-off\)")
    seen = [(done, float(m.group(1)), int(m.group(2).replace(",", ""))) for done, _, what in updates
            if (m := pattern.fullmatch(what))]
    assert len(seen) == len(updates), updates
    times, counts = [t for _, t, _ in seen], [n for _, _, n in seen]
    assert times == sorted(times) and counts == sorted(counts), seen
    assert seen[-1][0] == 1 and counts[-1] == out.attrs["total_restarts"] > 5, (seen[-1], out.attrs)
    # a cut-off under which no pair comes (about 5,600 attempts per pair estimated): the lines advance all the same
    job = apply_overrides(load_job(JOB), ["chain.num_links=[4]", "chain.total_distance_km=[300.0]",
                                          "chain.cutoff_s=0.002", "chain.max_restarts=2000", "chain.num_pairs=1"])
    updates.clear()
    with pytest.raises(DqsimError, match="abandoned 2001 times"):
        repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND,
                         on_progress=lambda done, total, what: updates.append((done, total, what)))
    seen = [(done, float(m.group(1)), int(m.group(2).replace(",", ""))) for done, _, what in updates
            if (m := pattern.fullmatch(what))]
    assert len(seen) == len(updates) >= 3 and {done for done, _, _ in seen} == {0}, updates
    times, counts = [t for _, t, _ in seen], [n for _, _, n in seen]
    assert times == sorted(times) and len(set(times)) >= 3 and counts == sorted(counts) and counts[-1] > 1000, seen


def test_hashing_yield_and_key_fraction_of_swapped_werner_pairs():
    """Two links of Werner pairs: F = swap formula (3 s.e.), yields as functions of the mean fidelity.

    Each column is checked against its formula: ``hashing_yield`` = 1 − S of the Werner state of
    ``fidelity_mean`` (exactly), and against the yield at the expected fidelity within 3 standard
    errors propagated through the derivative dY/dF = log2(3F/(1 − F)).
    """
    job = load_job_text(BASE + "num_links = 2\ntotal_distance_km = 4\nnum_pairs = 400\n"
                        "[chain.link]\nsource_fidelity = 0.97\ndark_count_rate_hz = 0.0\n")
    summary = repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND).tables["summary"][0]
    mean, stderr = summary["fidelity_mean"], summary["fidelity_stderr"]
    expected = swap_fidelity(0.97, 0.97)
    assert abs(mean - expected) < 3 * stderr + 1e-12  # exact small states: no spread between pairs
    assert summary["hashing_yield"] == pytest.approx(werner_hashing_yield(mean), abs=1e-12)
    assert summary["key_fraction"] == pytest.approx(werner_key_fraction(mean), abs=1e-12)
    assert summary["ebit_rate_hz"] == pytest.approx(summary["rate_hz"] * summary["hashing_yield"], rel=1e-12)
    assert summary["key_rate_hz"] == pytest.approx(summary["rate_hz"] * summary["key_fraction"], rel=1e-12)
    slope = math.log2(3 * expected / (1 - expected))
    assert abs(summary["hashing_yield"] - werner_hashing_yield(expected)) < 3 * slope * stderr + 1e-12
    assert 0 < summary["hashing_yield"] < 1 and summary["ebit_rate_hz"] < summary["rate_hz"]


def test_dephased_pairs_report_their_exact_bell_weights_not_a_werner_bound():
    """Memories with T2 only dephase the pairs: the weight leaves Phi+ for Phi- alone, so the yields
    come from the pairs' own Bell weights (Z errors absent), above those of the Werner state of the
    same fidelity, and each column matches its formula to 1e-12."""
    job = load_job_text(BASE + "num_links = 2\ntotal_distance_km = 40\nnum_pairs = 20\n"
                        "[chain.link]\ndark_count_rate_hz = 0.0\n[chain.node]\nt2_s = 0.0005\n")
    out = repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    pairs, summary = out.tables["pairs"], out.tables["summary"][0]
    weights = np.stack([pairs["fidelity"], pairs["bell_phi_minus"], pairs["bell_psi_plus"],
                        pairs["bell_psi_minus"]], axis=1)
    assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(weights[:, 1] > 1e-3) and np.allclose(weights[:, 2:], 0.0, atol=1e-12)  # dephasing only
    mean = weights.mean(axis=0)
    assert summary["hashing_yield"] == pytest.approx(bell_diagonal_hashing_yield(mean), abs=1e-12)
    assert summary["key_fraction"] == pytest.approx(bell_diagonal_key_fraction(mean), abs=1e-12)
    f = summary["fidelity_mean"]
    assert summary["hashing_yield"] > werner_hashing_yield(f) + 1e-3
    assert summary["key_fraction"] == pytest.approx(1 + mean[0] * math.log2(mean[0]) + mean[1] * math.log2(mean[1]),
                                                    abs=1e-12)  # e_Z = 0: 1 - h(e_X)


@pytest.mark.parametrize("extra, rate, origin", [
    ("", repeater.DEFAULT_REFERENCE_RATE_HZ, "default (no source rate in [chain.link])"),
    ("reference_rate_hz = 2.5e6\n", 2.5e6, "[chain].reference_rate_hz"),
    ("[chain.link]\nsource_period_ps = 500_000\n", 2e6, "source rate of [chain.link]"),
])
def test_one_reference_rate_for_every_configuration(extra, rate, origin):
    """Direct transmission and PLOB at one stated rate, whatever the links' length (attempt rates differ)."""
    job = load_job_text(BASE + "num_links = [1, 2]\ntotal_distance_km = [10, 30]\nnum_pairs = 2\n" + extra)
    out = repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    summary = out.tables["summary"]
    assert len(set(summary["attempt_period_ps"].tolist())) > 1
    assert summary["reference_rate_hz"].tolist() == [rate] * 4
    assert (out.attrs["reference_rate_hz"], out.attrs["reference_rate_from"]) == (rate, origin)
    eta = summary["transmittance"]
    assert np.allclose(summary["direct_rate_hz"], eta * rate, rtol=1e-12)
    assert np.allclose(summary["plob_with_detectors_rate_hz"], [plob_bound(e) * rate for e in eta], rtol=1e-12)
    assert np.allclose(summary["plob_rate_hz"], [plob_bound(e) * rate for e in summary["fibre_transmittance"]],
                       rtol=1e-12)


def test_plob_is_the_bound_of_the_fibre_alone():
    """PLOB bounds the channel: −log2(1 − 10^(−αL/10)) per use over 100 km of 0.2 dB/km fibre (η_f = 0.01), not
    lowered by the 1 dB coupling loss and the detectors' 0.8 (η = 0.00635; the QKD scenario reports it so).
    Before, the bound used η and a chain beat it more easily (here by 1.57x)."""
    job = load_job_text(BASE + "num_links = 1\ntotal_distance_km = 100\nnum_pairs = 1\nreference_rate_hz = 1e6\n"
                        "[chain.link]\ncoupling_loss_db = 1.0\ndetector_efficiency = 0.8\n")
    summary = repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND).tables["summary"][0]
    assert summary["fibre_transmittance"] == pytest.approx(0.01, rel=1e-12)
    assert summary["transmittance"] == pytest.approx(0.01 * 10 ** -0.1 * 0.8, rel=1e-12)
    assert summary["plob_rate_hz"] == pytest.approx(-math.log2(1 - 0.01) * 1e6, rel=1e-12)
    assert summary["plob_ebits_per_use"] == pytest.approx(-math.log2(1 - 0.01), rel=1e-12)
    assert summary["plob_with_detectors_rate_hz"] == pytest.approx(-math.log2(1 - summary["transmittance"]) * 1e6,
                                                                   rel=1e-12)
    assert summary["direct_rate_hz"] < summary["plob_with_detectors_rate_hz"] < summary["plob_rate_hz"]


@pytest.mark.parametrize("scheme", ["double_click", "direct"])
def test_photons_per_pair_follow_the_scheme(scheme):
    """Photons counted = photons per attempt × attempts: Barrett-Kok 2 (each node emits in exactly one of the
    two rounds; 4 were counted), direct 1; per pair k/p on average (3 s.e.)."""
    link = LinkSpec(distance_km=10.0, scheme=scheme)
    result = run(ChainSpec(links=[link], node=IDEAL, num_pairs=300), seed=8)
    k = {"double_click": 2, "direct": 1}[scheme]
    counters = result.engine.counters
    assert counters[("photons", 0, 1)] == k * counters[("attempts", 0, 1)]
    assert_mean([k * r.attempts for r in result.records.links], k / link.success_probability, "photons per pair")


def test_single_click_photons_average_the_bright_population():
    """Single-click: each node's pulse holds a photon with probability α, so on average n attempts send 2nα
    photons (each pair drawn given its herald: test_network_physics.py's photon-level check): photons/attempts
    = 2α within 3 binomial s.e. (2 photons per attempt were counted, 10x at α = 0.1)."""
    link = LinkSpec(distance_km=10.0, scheme="single_click", bright_state_alpha=0.1)
    result = run(ChainSpec(links=[link], node=IDEAL, num_pairs=300), seed=8)
    counters = result.engine.counters
    trials = 2 * counters[("attempts", 0, 1)]
    alpha = 0.1
    assert abs(counters[("photons", 0, 1)] / trials - alpha) < 3 * math.sqrt(alpha * (1 - alpha) / trials)


def test_direct_scheme_heralds_after_a_round_trip():
    """``direct``: the far node stores the photon after one delay, the sender learns after two; memories dephase
    that long: the sender's for 2 delays, the receiver's for 1 (the photon does not dephase in flight), so
    F = (1 + e^(−3d/T2))/2 (to rounding: exact density matrices). Both memories used to dephase for 2 delays,
    (1 + e^(−4d/T2))/2.
    """
    link = LinkSpec(distance_km=20.0, scheme="direct")
    herald_ps = link.herald_delay_ps
    assert abs(herald_ps - 2 * link.delay_ps) <= 1 and link.attempt_period_ps == herald_ps  # 1 ps: rounding
    t2_s = 2 * ps_to_seconds(herald_ps)
    result = run(ChainSpec(links=[link], node=NodeSpec(name="n", t2_s=t2_s), num_pairs=400), seed=9)
    assert all(p.delivery_ps == p.links_created_ps + herald_ps for p in result.pairs)
    sender_s, receiver_s = ps_to_seconds(herald_ps), ps_to_seconds(herald_ps - link.delay_ps)
    assert_mean(result.fidelities, (1 + math.exp(-(sender_s + receiver_s) / t2_s)) / 2, "dephased direct pair")


def test_identical_results_on_one_and_two_ranks(tmp_path):
    """Nested chain with cut-off restarts and an interleaved placement, purified chains (two whose kept pairs are
    cut off while pumped, its links' ends on different ranks: the attempt abandoned, or the link made again), two
    under ``cutoff_policy = "link"`` (segments discarded through repeaters on other ranks), the example job.

    The 2-rank runs overlap exchanges with events (``PIPELINED_EXCHANGE``, the
    default) but the last, the lockstep. One cuts its iterations by CPU time
    (``EXCHANGE_CPU_S`` = 0.1 ms, a few events each): where the exchanges
    fall depends on the machine's speed, the results do not. One runs without
    ``STARVED_PEERS_RULE`` (64 events per iteration whatever the other rank
    does): same results.
    """
    from mpi_scripts import repeater_check

    configs = ["0,1,0,1,0", "0,1,0,1,0:0.0001", "0,1,0,1,0:none:0", "0,1,0,1,0:none:1:0"]  # one 2-rank launch
    runs = run_mpi_arrays(2, "tests/mpi_scripts/repeater_check.py", tmp_path / "two.npz", *configs, timeout_s=300)
    # one rank: the script's runs in this process (what its main does with no CONFIG; no interpreter to start)
    one = {key: np.asarray(value) for key, value in repeater_check.run_all(comm_mod.SingleComm(), BACKEND,
                                                                           None).items()}
    results = [{key.removeprefix(f"c{i}_"): value for key, value in runs.items() if key.startswith(f"c{i}_")}
               for i in range(len(configs))]
    assert one["nested_restarts"].sum() > 0 and one["pumpcut_restarts"].sum() > 0
    assert one["nestlink_engine"][3] > 0 and one["asaplink_engine"][3] > 0  # segments discarded ("link" cut-off)
    assert all((one[f"{label}_memory_time"] > 0).all()
               for label in ("nested", "dejmps", "pumpcut", "pumplink", "nestlink", "asaplink", "single", "long"))
    for two in results:
        # B's rank counts the deliveries; rank 0 shows them (engine sums work_done): index + k/4 (4 pairs)
        partial = two.pop("progress_partial")
        assert len(partial) and np.all(np.diff(partial) >= 0) and np.all((partial % 1 * 4) % 1 == 0), partial
    one.pop("progress_partial")
    for two in results:
        assert one.keys() == two.keys()
        for key in one:
            if one[key].dtype.kind == "f":
                np.testing.assert_allclose(one[key], two[key], rtol=0, atol=1e-10, err_msg=key)
            else:
                assert np.array_equal(one[key], two[key]), key


BASE = '[run]\nname = "c"\nscenario = "repeater"\n[chain]\n'


@pytest.mark.parametrize("body, key", [
    ("num_links = 0\ntotal_distance_km = 10", "[chain].num_links = 0"),
    ('num_links = [2, 3]\ntotal_distance_km = 10\nswapping = "nested"', "[chain].num_links[1] = 3"),
    ("num_links = 100001\ntotal_distance_km = 10", "[chain].num_links = 100001"),
    ("num_links = 1\ntotal_distance_km = 350", "s per pair on average, more than the 9.01e+03 s"),
    ("num_links = 2\ntotal_distance_km = [10, -1]", "[chain].total_distance_km[1] = -1"),
    ("num_links = 2\ntotal_distance_km = 5000", "[chain].total_distance_km = 5000"),
    ('num_links = 2\ntotal_distance_km = 10\nswapping = "later"', "[chain].swapping"),
    ("num_links = 2\ntotal_distance_km = 10\npurification_rounds = 3", "[chain].purification_rounds"),
    ('num_links = 2\ntotal_distance_km = 10\npurification = "dejmps"', "[chain].purification"),
    ("num_links = 2\ntotal_distance_km = 10\ncutoff_s = 0", "[chain].cutoff_s"),
    # 1e300 s loaded, then ended in an OverflowError traceback converting it to picoseconds
    ("num_links = 2\ntotal_distance_km = 10\ncutoff_s = 1e300", "[chain].cutoff_s = 1e+300: must be in (0, 1_000_000]"),
    ("num_links = 2\ntotal_distance_km = 10\nreference_rate_hz = 0", "[chain].reference_rate_hz"),
    # the largest float: a fibre light cannot cross within the int64 picosecond clock (LinkSpec refuses it)
    ("num_links = 1\ntotal_distance_km = 1.7976931348623157e308",
     "[chain].total_distance_km = 1.7976931348623157e+308: links of 1.79769e+308 km (1 link(s)): distance_km must"),
    ("num_links = 2\ntotal_distance_km = 10\n[chain.link]\ngroup_index = 1e300", "[chain.link].group_index = 1e+300"),
    ("num_links = 2\ntotal_distance_km = 10\nnum_pairs = 0", "[chain].num_pairs"),
    ("num_links = 2\ntotal_distance_km = 10\nnum_pair = 3", "[chain].num_pair"),
    ("total_distance_km = 10", "[chain].num_links"),
    ("num_links = 2\ntotal_distance_km = 10\n[chain.link]\ndistance_km = 5", "[chain.link].distance_km"),
    ('num_links = 2\ntotal_distance_km = 10\n[chain.link]\nscheme = "x"', "[chain.link].scheme"),
    ("num_links = 2\ntotal_distance_km = 10\n[chain.node]\nt1_s = 1\nt2_s = 3", "[chain.node].t2_s"),
    ("num_links = 2\ntotal_distance_km = 10\n[chain.node]\nnum_comm_qubits = 2", "[chain.node].num_comm_qubits"),
])
def test_bad_inputs_name_the_key(body, key):
    with pytest.raises(ConfigError) as info:
        load_job_text(BASE + body, source="x.toml")
    message = str(info.value)
    assert "\n" not in message and message.startswith("x.toml: ") and key in message, message


def test_a_wrong_scenario_section_is_refused():
    with pytest.raises(ConfigError, match=r"unknown section \[circuit\]"):
        load_job_text(BASE + 'num_links = 2\ntotal_distance_km = 10\n[circuit]\ngenerator = "ghz"')


def test_job_values_reach_the_chain():
    job = load_job_text(BASE + "num_links = [4]\ntotal_distance_km = [40, 80]\nswapping = \"nested\"\n"
                        "purification_rounds = 1\npurification = \"dejmps\"\ncutoff_s = 0.25\nnum_pairs = 7\n"
                        "[chain.link]\nscheme = \"single_click\"\n[chain.node]\nt2_s = 2\n")
    chain = repeater.chain_spec(job, 4, 80.0)
    assert chain.links[0].distance_km == 20.0 and chain.links[0].scheme == "single_click"
    assert (chain.swapping, chain.purification_rounds, chain.purification) == ("nested", 1, "dejmps")
    assert chain.cutoff_ps == seconds_to_ps(0.25) and chain.num_pairs == 7 and chain.node.t2_s == 2.0
    assert chain.num_qubits == 16 and job.chain.configurations() == [(4, 40.0), (4, 80.0)]


def _bench_module(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sequence_chain_bench_workload():
    """bench/sequence_chain.py: SeQUeNCe's swap order is dqsim's nested one on 2^k links; its job is valid."""
    bench = _bench_module("sequence_chain")
    # nested (protocols/repeater.py): repeater i joins the segments [i - 2^(l-1), i] and [i, i + 2^(l-1)]
    half = {i: (i & -i) for i in range(1, 8)}
    assert bench.swap_partners(9) == {i: (i - half[i], i + half[i]) for i in range(1, 8)}
    args = bench.parse(["--nodes", "9", "--pairs", "2", "--dqsim-swapping", "nested"])
    job = load_job_text(bench.dqsim_job_text(9, args))
    spec = repeater.chain_spec(job, 8, 16.0)
    assert (spec.num_links, spec.swapping, spec.num_pairs) == (8, "nested", 2)
    assert spec.links[0].scheme == "double_click" and spec.links[0].distance_km == 2.0
    assert spec.links[0].delay_ps == round(2e3 / bench.SEQUENCE_LIGHT_M_PER_PS)  # SeQUeNCe's 2e8 m/s


@pytest.mark.parametrize("scheme", ["double_click", "direct"])
def test_a_slow_source_bounds_the_rate_across_pairs(scheme):
    """A 1 kHz source on a 1 km link (round trip ~10 µs): consecutive successful emissions are a geometric
    number of source periods apart, mean T/p (3 s.e.), never closer than T, so the delivered rate stays below
    p × source rate. (Each pair's first attempt used to come right after the handshake: 4.1 pairs per source
    period at p = 1, and a mean gap of T/p − T + 4 link delays.)"""
    link = LinkSpec(distance_km=1.0, scheme=scheme, source_rate_hz=1e3)
    period, p = link.attempt_period_ps, link.success_probability
    assert period == 10**9 and link.herald_delay_ps < period // 50
    result = run(ChainSpec(links=[link], node=IDEAL, num_pairs=400), seed=12)
    gaps = np.diff([r.created_ps for r in result.records.links])
    assert gaps.min() >= period
    assert_mean(gaps / period, 1 / p, "emission gap in source periods")
    assert result.rate_hz < 1.02 * p * 1e3 * len(result.pairs) / (len(result.pairs) - 1)


def test_bbpssw_twirls_dephased_pairs_to_werner_form():
    """BBPSSW on dephased pairs (weights on Φ+ and Φ− only), with the exact timing of a lossless ``direct``
    link (one attempt per pair): before the round the kept pair's memories wait 2h + 2d = 6d (sender) and 5d
    (receiver: the photon lands one delay after its emission), the spare's h = 2d and d, so
    F_i = (1 + e^(−(t_a + t_b)/T2))/2. Twirled to Werner form, the round succeeds with
    F1F2 + F1g2 + g1F2 + 5g1g2 (g = (1 − F)/3; Bennett et al. 1996, two Werner pairs) and keeps
    F' = (F1F2 + g1g2)/p with Φ− weight D' = (F1g2 + g1F2)/p, which dephase for one more delay d until
    delivery: F = F'(1 − q) + D'q, q = (1 − e^(−2d/T2))/2 (3 s.e. each). Without the twirl the bilateral
    CNOT sees no bit flip: every round succeeded and F stayed F1F2 + (1 − F1)(1 − F2)."""
    link = LinkSpec(distance_km=2.0, scheme="direct", attenuation_db_per_km=0.0, detector_efficiency=1.0)
    d = link.delay_ps
    assert link.success_probability == 1.0 and link.herald_delay_ps == 2 * d
    t2_s = 11 * ps_to_seconds(d) / math.log(1 / 0.7)  # e^(−(6d + 5d)/T2) = 0.7
    result = run(ChainSpec(links=[link], node=NodeSpec(name="n", t2_s=t2_s), purification_rounds=1,
                           purification="bbpssw", num_pairs=1000), seed=13)
    f1, f2 = ((1 + math.exp(-ps_to_seconds(t) / t2_s)) / 2 for t in (11 * d, 3 * d))
    g1, g2 = (1 - f1) / 3, (1 - f2) / 3
    p = f1 * f2 + f1 * g2 + g1 * f2 + 5 * g1 * g2
    kept, phi_minus = (f1 * f2 + g1 * g2) / p, (f1 * g2 + g1 * f2) / p
    q = (1 - math.exp(-2 * ps_to_seconds(d) / t2_s)) / 2
    outcomes = np.concatenate([[1] * r.purify_successes + [0] * r.purify_failures for r in result.records.links])
    assert_mean(outcomes, p, "twirled success probability")
    assert_mean(result.fidelities, kept * (1 - q) + phi_minus * q, "twirled kept fidelity")


def test_dejmps_rotations_carry_the_one_qubit_gate_error():
    """DEJMPS's Rx(±π/2) are one-qubit gates: depolarising p1 after each on Werner pairs of F = 0.8 makes
    w → w(1 − 4p1/3)² per pair, then the Werner formulas hold (3 s.e.; no 2-qubit error, no correction in a
    1-link chain). They used to take the two-qubit gate's error probability (here 0: F' = 0.838, not 0.767)."""
    p1, fidelity = 0.05, 0.8
    link = LinkSpec(distance_km=2.0, source_fidelity=fidelity)
    result = run(ChainSpec(links=[link], node=NodeSpec(name="n", gate_1q_error_probability=p1),
                           purification_rounds=1, purification="dejmps", num_pairs=600), seed=3)
    effective = fidelity_from_werner(werner_from_fidelity(fidelity) * (1 - 4 * p1 / 3) ** 2)
    outcomes = np.concatenate([[1] * r.purify_successes + [0] * r.purify_failures for r in result.records.links])
    assert_mean(outcomes, bbpssw_success_probability(effective), "success probability")
    assert_mean(result.fidelities, bbpssw_fidelity(effective), "kept fidelity")


def test_dark_counts_herald_falsely_in_a_chain():
    """``direct`` over 50 km (η = 0.09) with 1e5 dark counts/s in 100 ns gates (p_d = 1 − e^(−0.01)): attempts
    per pair 1/P with P = 1 − (1 − η)(1 − p_d) (3 s.e.), and every pair at F = (η·1 + (P − η)/4)/P, the false
    heralds' unentangled share mixed in (they were ignored: F = 1, P = η)."""
    link = LinkSpec(distance_km=50.0, scheme="direct", dark_count_rate_hz=1e5, gate_width_ps=100_000)
    eta, p_d = 0.1 * 0.9, -math.expm1(-0.01)
    total = 1 - (1 - eta) * (1 - p_d)
    result = run(ChainSpec(links=[link], node=IDEAL, num_pairs=400), seed=14)
    assert_mean([r.attempts for r in result.records.links], 1 / total, "attempts per pair")
    np.testing.assert_allclose(result.fidelities, (eta + (total - eta) / 4) / total, rtol=0, atol=1e-12)


def _single_click_bell_weights(alpha, eta, p_dark, coherence=1.0):
    """Bell weights (Φ+, Φ−, Ψ+, Ψ−) of one single-click pair, from the closed form (dqsim.network.entanglement
    module docstring): c₁ = αη(1−α) on |Φ+⟩, c_bb = α²η(1 − η/2) + p_d·α²(1−η)² both bright, c_bd = p_d·α(1−α)(1−η)
    on each one-bright state (|00⟩ and |11⟩ in the Φ+ frame), c_dd = p_d(1−α)² both dark; ``coherence`` scales
    the one off-diagonal element ⟨00|ρ|11⟩ = c₁/2N (dephasing of the memories)."""
    c_1 = alpha * eta * (1 - alpha)
    c_bb = alpha ** 2 * eta * (1 - eta / 2) + p_dark * (alpha * (1 - eta)) ** 2
    c_bd = p_dark * alpha * (1 - alpha) * (1 - eta)
    c_dd = p_dark * (1 - alpha) ** 2
    n = c_1 + c_bb + 2 * c_bd + c_dd
    assert n == pytest.approx(alpha * eta * (1 - alpha * eta / 2) + p_dark * (1 - alpha * eta) ** 2, rel=1e-12)
    even = c_1 / 2 + c_bd
    return np.array([even + coherence * c_1 / 2, even - coherence * c_1 / 2, (c_bb + c_dd) / 2,
                     (c_bb + c_dd) / 2]) / n


@pytest.mark.parametrize("t2_factor", [None, 2.0])
def test_single_click_link_delivers_the_exact_heralded_state(t2_factor):
    """One single-click link with α·η = 0.28 and dark counts (p_d = 0.02): every delivered pair has the Bell
    weights of the closed form (1e-12: exact small states), which is no Werner state (Φ− holds only the
    dark-count term, Ψ± the both-bright and both-dark terms; F = 0.568 here, 1 − α = 0.5 to leading order); with
    memories that dephase (T2 only) for the herald delay d, the Φ+/Φ− coherence shrinks by e^(−2d/T2). The
    attempts per pair average 1/p with the exact p = q(s + 2p_d(1 − s)), s = 1 − (1 − αη)² (3 s.e.;
    the leading-order 2αη + 2p_d is 5 s.e. away)."""
    link = LinkSpec(distance_km=20.0, scheme="single_click", bright_state_alpha=0.5, dark_count_rate_hz=2e4,
                    gate_width_ps=1_000_000)
    alpha, eta, p_d = 0.5, link.arm_transmittance, link.dark_count_probability
    assert 0.27 < alpha * eta < 0.29 and p_d == pytest.approx(-math.expm1(-0.02), rel=1e-12)
    coherence, node = 1.0, IDEAL
    if t2_factor is not None:
        t2_s = t2_factor * ps_to_seconds(link.delay_ps)
        node = NodeSpec(name="n", t2_s=t2_s)
        coherence = math.exp(-2 * ps_to_seconds(link.delay_ps) / t2_s)
    result = run(ChainSpec(links=[link], node=node, num_pairs=400), seed=15)
    expected = _single_click_bell_weights(alpha, eta, p_d, coherence)
    np.testing.assert_allclose([p.bell_weights for p in result.pairs], np.tile(expected, (400, 1)), rtol=0,
                               atol=1e-12)
    np.testing.assert_allclose(result.fidelities, expected[0], rtol=0, atol=1e-12)
    if t2_factor is None:
        assert link.delivered_fidelity == pytest.approx(expected[0], abs=1e-14)
    s = 1 - (1 - alpha * eta) ** 2
    p = (1 - p_d) * (s + 2 * p_d * (1 - s))
    assert link.success_probability == pytest.approx(p, rel=1e-14)
    assert_mean([r.attempts for r in result.records.links], 1 / p, "attempts per pair")


def test_swapping_single_click_pairs_convolves_their_bell_weights():
    """Two single-click links of different α: a swap averaged over its outcomes is teleportation through one
    pair, a Pauli channel with that pair's Bell weights (Bowen and Bose, PRL 87, 267901 (2001)), so the mean
    delivered Bell weights are the XOR convolution of the links' weights over (x, z) bits, Φ+ = 00, Φ− = 01,
    Ψ+ = 10, Ψ− = 11 (3 s.e. each; a pair's own weights depend on its outcome, the pairs not being Bell
    diagonal). Werner pairs could not tell X from Z corrections apart; these pairs, with Φ− ≠ Ψ±, can."""
    links = [LinkSpec(distance_km=10.0, scheme="single_click", bright_state_alpha=alpha, dark_count_rate_hz=1e4,
                      gate_width_ps=1_000_000) for alpha in (0.3, 0.1)]
    weights = [_single_click_bell_weights(a, link.arm_transmittance, link.dark_count_probability)
               for a, link in zip((0.3, 0.1), links)]
    expected = np.array([sum(weights[0][i] * weights[1][i ^ k] for i in range(4)) for k in range(4)])
    result = run(ChainSpec(links=links, node=IDEAL, num_pairs=400), seed=16)
    delivered = np.array([p.bell_weights for p in result.pairs])
    assert delivered.std(axis=0).max() > 1e-3  # the outcomes differ
    for k, what in enumerate(("Φ+", "Φ−", "Ψ+", "Ψ−")):
        assert_mean(delivered[:, k], expected[k], what)


def test_qubit_owner_gives_every_memory_its_node():
    """The owner list (built by a C-level sort) names, for each register qubit, the node whose memory it is."""
    for num_links, rounds in ((1, 0), (2, 1), (5, 0), (8, 2)):
        chain = ChainSpec(links=[LinkSpec(distance_km=1.0)] * num_links, node=NodeSpec(name="n"),
                          purification_rounds=rounds)
        owner = chain.qubit_owner()
        assert len(owner) == chain.num_qubits
        assert sorted(chain.qubit(node, side, slot) for node in range(chain.num_nodes) for side in chain.sides(node)
                      for slot in range(chain.memories_per_side)) == list(range(chain.num_qubits))
        assert all(owner[chain.qubit(node, side, slot)] == node for node in range(chain.num_nodes)
                   for side in chain.sides(node) for slot in range(chain.memories_per_side))


@pytest.mark.parametrize("body, key", [
    # 50 km links: a repeater hears of its pair 245 us after the emission, past a 100 us cut-off: never swapped
    ("num_links = 2\ntotal_distance_km = 100\ncutoff_s = 0.0001", "[chain].cutoff_s = 0.0001"),
    ('num_links = [1, 4]\ntotal_distance_km = 100\ncutoff_s = 0.0002\n[chain.link]\nscheme = "direct"',
     "[chain].cutoff_s = 0.0002"),  # direct over 25 km: the acknowledgment returns after 2 x 122 us
    # one pumping round over 20 km links (d = 98 us): herald d, handshake 2d, herald d, bits d: 490 us at least
    ("num_links = 2\ntotal_distance_km = 40\npurification_rounds = 1\ncutoff_s = 0.0004", "[chain].cutoff_s = 0.0004"),
    # a cut-off of 1e9 s (1e21 ps) set timers past the int64 clock: with checkpoints on, an internal error
    ("num_links = 2\ntotal_distance_km = 10\ncutoff_s = 1e9", "[chain].cutoff_s = 1000000000.0: must be in (0, 1_000_000]"),
    # 300 km in one link: ~3,600 s per pair; 3,000 of them pass the engine's clock limit (2**61 ps, 2.3e6 s)
    ("num_links = 1\ntotal_distance_km = 300\nnum_pairs = 3000", "[chain].num_pairs = 3000"),
    # a handshake of two 1e6 s processing delays per pair: 3 pairs pass half the clock
    ("num_links = 1\ntotal_distance_km = 40\nnum_pairs = 3\n[chain.node]\n"
     "classical_processing_delay_ps = 1000000000000000000", "[chain].num_pairs = 3"),
])
def test_repro_jobs_that_cannot_finish_are_refused_before_the_run(body, key):
    """A cut-off shorter than the herald's round trip used to run 10,001 abandoned attempts per pair and then
    suggest raising max_restarts; pairs whose simulated time overflows the engine's int64 clock used to crash
    with an OverflowError after the whole run (3,000 pairs over one 300 km link)."""
    with pytest.raises(ConfigError) as info:
        load_job_text(BASE + body, source="x.toml")
    message = str(info.value)
    assert "\n" not in message and message.startswith("x.toml: ") and key in message, message


def test_the_pair_count_refusal_names_the_clock_limit_and_the_allowed_count():
    """The whole line of the 300 km case above: the clock limit in the words of the engine's refusal
    (:func:`dqsim.network.network.clock_limit_allowed_by`) and the pair count that fits half of it."""
    with pytest.raises(ConfigError) as info:
        load_job_text(BASE + "num_links = 1\ntotal_distance_km = 300\nnum_pairs = 3000", source="x.toml")
    assert str(info.value) == (
        "x.toml: [chain].num_pairs = 3000: over links of 300 km (1 link(s)) a pair takes at least 3.63e+03 s of "
        "simulated time on average, so 3000 pairs pass half the 2.306e+06 s (2**61 ps) the engine's clock allows; "
        "allowed here 1..317 (or shorter links)")


def test_cutoff_and_pair_count_limits_are_not_stricter_than_needed():
    """A cut-off above the least age of a pair a repeater can swap, or (a 1-link chain, whose end B applies it since
    2026-12-06; until then it went unused there) B can deliver (0.5 ms over one 100 km link, whose least age is
    0.49 ms; 0.6 ms with one pumping round over 20 km links), and 250 pairs over one 300 km link (~9e5 s of
    simulated time, under half the engine's clock limit of 2**61 ps), are accepted."""
    load_job_text(BASE + "num_links = 1\ntotal_distance_km = 100\ncutoff_s = 0.0005")
    load_job_text(BASE + "num_links = 2\ntotal_distance_km = 100\ncutoff_s = 0.0003")
    load_job_text(BASE + "num_links = 2\ntotal_distance_km = 40\npurification_rounds = 1\ncutoff_s = 0.0006")
    load_job_text(BASE + "num_links = 1\ntotal_distance_km = 300\nnum_pairs = 250")


def test_least_mean_attempts_bounds_the_slowest_link_from_below():
    """max(1/p, (ln n + γ)/λ) <= E[max of n geometrics]: exact formula for n = 2, a direct sum for n = 5."""
    from dqsim.network.entanglement import least_mean_attempts
    for p in (1e-4, 0.01, 0.3, 1.0):
        assert least_mean_attempts(p) == 1 / p
        assert least_mean_attempts(p, 2) <= mean_attempts_two_links(p) + 1e-12
    p, n = 0.01, 5
    k = np.arange(0, 20_000)
    exact = np.sum(1 - (1 - (1 - p) ** k) ** n)  # E[max] = sum over k >= 0 of P(max > k)
    assert 0.9 * exact < least_mean_attempts(p, n) <= exact


def test_repro_a_chain_past_the_engine_clock_is_refused_in_one_line_naming_num_pairs():
    """Processing delays of 2**60 ps (a NodeSpec takes any; only the job bounds them): the second pair's
    handshake passes 2**61 ps. Before, deliveries past the int64 clock were found only after the run, and on
    several ranks the engine's promises went wrong past 2**62 ps; now the engine refuses the first event past
    2**61 ps, naming the chain's keys."""
    chain = ChainSpec(links=[LinkSpec(distance_km=1.0)], node=NodeSpec(name="n", classical_processing_delay_ps=2**60),
                      num_pairs=3)
    with pytest.raises(ClockLimitError) as info:
        run(chain, seed=1)
    message = str(info.value)
    assert "\n" not in message and "past the 2.306e+06 s (2**61 ps)" in message, message
    assert "lower [chain].num_pairs (here 3)" in message


def _nested_level(node):
    return (node & -node).bit_length()


@pytest.mark.parametrize("swapping, num_links", [("swap_asap", 3), ("swap_asap", 6), ("nested", 4), ("nested", 8)])
def test_every_memory_dephases_for_exactly_the_time_it_held_its_pair(swapping, num_links):
    """Werner pairs (F = 0.97) in memories with T2 only. A Z error on any memory becomes one on the end pair, so
    F = (1 − q)·F_W + q·(1 − F_W)/3 with F_W = 1/4 + 3/4·w^n and q = (1 − e^(−Σt/T2))/2, Σt summed over all
    2n memories from their pair's emission e_j to their swap (repeaters) or to the delivery (ends). The swap
    and delivery times follow from the e_j alone: repeater i hears of a pair one delay d after its emission
    (the herald), nested repeaters also wait for the notices of the two segment swaps below them, and B
    delivers once its own pair is heralded and every repeater's bits (latency (n − i)·d) are in."""
    link = LinkSpec(distance_km=20.0, source_fidelity=0.97)
    d, t2_s, n = link.delay_ps, 2e-3, num_links
    result = run(ChainSpec(links=[link] * n, node=NodeSpec(name="n", t2_s=t2_s), swapping=swapping,
                           num_pairs=30), seed=num_links)
    created = {(r.pair_index, r.attempt, r.link_index): r.created_ps for r in result.records.links}
    w = werner_from_fidelity(0.97)
    f_w = 0.25 + 0.75 * w ** n
    for pair in result.pairs:
        e = [created[(pair.pair_index, pair.restarts, j)] for j in range(n)]
        swap = {}
        for level in range(1, n.bit_length() + 1):
            for i in range(1, n):
                if (_nested_level(i) if swapping == "nested" else 1) == level:
                    swap[i] = max(e[i - 1], e[i]) + d
                    if swapping == "nested" and level > 1:
                        half = 1 << (level - 2)
                        swap[i] = max(swap[i], swap[i - half] + half * d, swap[i + half] + half * d)
        delivery = max([e[n - 1] + d] + [swap[i] + (n - i) * d for i in range(1, n)])
        assert pair.delivery_ps == delivery
        held_ps = 2 * delivery - e[0] - e[n - 1] + sum(2 * swap[i] - e[i - 1] - e[i] for i in range(1, n))
        q = (1 - math.exp(-ps_to_seconds(held_ps) / t2_s)) / 2
        assert abs(pair.fidelity - ((1 - q) * f_w + q * (1 - f_w) / 3)) < 1e-12


def test_repro_an_abandoned_generation_frees_the_source_at_the_abort():
    """After a cut-off abort each link starts again after the new handshake: its first attempt comes two link
    delays after the initiator heard of the abort (or one after the responder did). The source used to stay
    booked until one source period after the *planned* success of the abandoned generation, an emission that
    never happened: 29 of 190 restarted links on this seed began 1 µs to 2 periods late, and over 150 km links
    (p = 4e-4) a restart waited ~2,500 periods (seconds) for its source."""
    link = LinkSpec(distance_km=20.0, source_rate_hz=1e6)  # source period 1 µs, far below the 98 µs round trip
    d, period = link.delay_ps, link.attempt_period_ps
    result = run(ChainSpec(links=[link] * 2, node=IDEAL, cutoff_ps=3 * period, num_pairs=40), seed=6,
                 every_attempt=True)
    aborts = {(pair_index, attempt): (node, t) for pair_index, attempt, node, t in result.records.restarts}
    restarted = [r for r in result.records.links if r.attempt > 0]
    assert len(restarted) > 100
    for record in restarted:
        node, t_abort = aborts[(record.pair_index, record.attempt - 1)]
        heard_initiator = t_abort + abs(node - record.link_index) * d
        heard_responder = t_abort + abs(node - record.link_index - 1) * d
        first_attempt = record.created_ps - (record.attempts - 1) * period
        assert first_attempt == max(heard_initiator + 2 * d, heard_responder + d), record


@pytest.mark.parametrize("scheme", ["double_click", "direct"])
def test_repro_both_ends_act_on_the_herald_after_their_processing_delay(scheme):
    """Every node acts on a classical message ``classical_processing_delay_ps`` (c) after it arrives, the herald
    too: a repeater swaps c after its later link's herald whichever side that link is on, and its bits reach B
    one delay and one c later: delivery = last emission + herald delay h + c + d + c. The initiator used to act
    on its herald at once (the responder c later), so the delivery came c earlier when the link to the repeater's
    right (which it initiates) was the last."""
    link = LinkSpec(distance_km=10.0, scheme=scheme)
    c = 30_000_000  # 30 µs
    d, h = link.delay_ps, link.herald_delay_ps
    result = run(ChainSpec(links=[link] * 2, node=NodeSpec(name="n", classical_processing_delay_ps=c),
                           num_pairs=60), seed=13)
    created = {(r.pair_index, r.link_index): r.created_ps for r in result.records.links}
    right_last = [p for p in result.pairs if created[(p.pair_index, 1)] > created[(p.pair_index, 0)]]
    assert 10 < len(right_last) < 50
    for pair in result.pairs:
        last = max(created[(pair.pair_index, 0)], created[(pair.pair_index, 1)])
        assert pair.delivery_ps == last + h + c + d + c, pair
    single = run(ChainSpec(links=[link], node=NodeSpec(name="n", classical_processing_delay_ps=c), num_pairs=5),
                 seed=14)
    assert all(p.delivery_ps == p.links_created_ps + h + c for p in single.pairs)
    assert all(r.ready_ps == r.created_ps + h + c for r in single.records.links)


def test_a_summary_line_says_the_fidelity_is_exact_when_every_pair_has_the_same():
    """One link without dark counts or memory noise: every pair has the source fidelity, so the standard
    error is 0 and the line says so instead of "± 0.0000"; two swapped links with dephasing memories
    differ pair to pair and keep "± s.e."."""
    one = load_job_text(BASE + "num_links = 1\ntotal_distance_km = 4\nnum_pairs = 5\n"
                        "[chain.link]\nsource_fidelity = 0.97\ndark_count_rate_hz = 0.0\n")
    out = repeater.run_job(one, comm=comm_mod.SingleComm(), backend=BACKEND)
    assert out.tables["summary"]["fidelity_stderr"][0] == 0.0
    line = out.summary[1]
    assert "F = 0.9700 (exact: every pair has the same fidelity), " in line and "±" not in line, out.summary
    assert line.startswith("  1 link(s) × 4 km = 4 km: ") and "ebit/pair" in line
    spread = load_job_text(BASE + "num_links = 2\ntotal_distance_km = 40\nnum_pairs = 20\n"
                           "[chain.link]\ndark_count_rate_hz = 0.0\n[chain.node]\nt2_s = 0.01\n")
    out = repeater.run_job(spread, comm=comm_mod.SingleComm(), backend=BACKEND)
    stderr = out.tables["summary"]["fidelity_stderr"][0]
    assert stderr > 0 and f"± {stderr:.4f}, " in out.summary[1] and "exact" not in out.summary[1], out.summary


def test_repro_a_one_link_chain_applies_the_cutoff_at_its_end():
    """A chain of [1, 2] links with one pumping round and a 2 ms cut-off. Before 2026-12-06 only repeaters applied
    it, so the 1-link configuration ran without one (its first pair waited for the second however long, past the
    cut-off, and its line said "no cut-off applied"). Now its end B applies it as a repeater would: the 1-link
    row has cut-off restarts, and against the same chain without a cut-off its pairs are those of the attempts
    that beat it, none stored longer: with T2 = 10 ms their fidelity is higher (0.93 against 0.78 on average here,
    the worst 0.83 against 0.54); the 2-link line (its repeater applies it) says nothing of it."""
    body = ("total_distance_km = 60\nnum_pairs = 4\npurification_rounds = 1\n[chain.link]\ndark_count_rate_hz = 0.0\n"
            "[chain.node]\nt2_s = 0.01\n")
    cut = repeater.run_job(load_job_text(BASE + "num_links = [1, 2]\ncutoff_s = 0.002\n" + body),
                           comm=comm_mod.SingleComm(), backend=BACKEND)
    free = repeater.run_job(load_job_text(BASE + "num_links = 1\n" + body), comm=comm_mod.SingleComm(),
                            backend=BACKEND)
    one, two = cut.summary[1], cut.summary[2]
    assert one.startswith("  1 link(s)") and two.startswith("  2 link(s)"), cut.summary
    summary = cut.tables["summary"]
    restarts = int(summary["restarts"][summary["num_links"] == 1][0])
    assert restarts > 0 and f", {restarts} cut-off restarts, cut-off applied at end B (no repeater in a 1-link " \
        "chain); direct " in one, one
    assert "no cut-off applied" not in one and "cut-off applied at end B" not in two, two
    free_waits = free.tables["pairs"]["waiting_time_ps"]
    assert max(free_waits) > seconds_to_ps(0.002)  # without it, pairs waited past the cut-off
    pairs = cut.tables["pairs"]
    cut_fidelity, free_fidelity = pairs["fidelity"][pairs["num_links"] == 1], free.tables["pairs"]["fidelity"]
    assert min(cut_fidelity) > min(free_fidelity) and cut_fidelity.mean() > free_fidelity.mean()  # T2 = 10 ms
    with pytest.raises(ConfigError, match=r"no pair could ever be delivered: over links of 60 km \(1 link\(s\)\) "
                                          r"with 1 pumping round\(s\) a chain end holds its pair"):
        load_job_text(BASE + "num_links = 1\ncutoff_s = 0.0001\n" + body)  # (B hears of it after 0.3 ms or more)


def test_repro_a_tiny_fidelity_spread_is_not_printed_as_zero():
    """One purified link with ideal memories: the pairs' fidelities differ by rounding only (the twirl's
    random rotations, ~1e-16), and the line said "F = 0.8382 ± 0.0000"; it now says the fidelity is exact.
    A real spread too small for four decimals (dephasing memories, a short link) is given to two
    significant digits instead of "± 0.0000"."""
    job = load_job_text(BASE + "num_links = 1\ntotal_distance_km = 10\nnum_pairs = 30\npurification_rounds = 1\n"
                        "[chain.link]\nsource_fidelity = 0.8\ndark_count_rate_hz = 0.0\n")
    out = repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    assert 0.0 < out.tables["summary"]["fidelity_stderr"][0] < 1e-15
    assert "F = 0.8382 (exact: every pair has the same fidelity), " in out.summary[1], out.summary
    small = load_job_text(BASE + "num_links = 1\ntotal_distance_km = 10\nnum_pairs = 30\npurification_rounds = 1\n"
                          "[chain.link]\nsource_fidelity = 0.8\ndark_count_rate_hz = 0.0\n[chain.node]\nt2_s = 100.0\n")
    out = repeater.run_job(small, comm=comm_mod.SingleComm(), backend=BACKEND)
    stderr = out.tables["summary"]["fidelity_stderr"][0]
    assert 1e-12 < stderr < 5e-5, stderr
    assert f" ± {stderr:.1e}, " in out.summary[1] and "± 0.0000" not in out.summary[1], out.summary


@pytest.mark.parametrize("links, rounds, periods, swapping, fidelity", [
    (3, 0, 3.5, "swap_asap", None), (2, 1, 6.5, "swap_asap", None), (2, 1, 6.5, "swap_asap", 0.9),
    (2, 2, 8.5, "swap_asap", 0.9), (4, 0, 2.5, "nested", 1.0)])
def test_a_rounds_first_attempt_passes_the_cutoff_as_estimated(links, rounds, periods, swapping, fidelity):
    """The share of pairs delivered at a round's first attempt (links in lockstep, as
    :func:`~dqsim.network.entanglement.cutoff_pass_probability` assumes) against the job's estimate, within 3
    standard errors (binomial), for a cut-off a few attempt periods past the least swap age. (With pumping the
    repeaters of a longer chain are not independent, their shared links' pumping ages both: on 3 links with one
    round the product gave 0.29 against 0.39 simulated, so one repeater here.)

    Since 2026-12-07 a kept pair is cut at its deadline while pumped, so a link whose purification fails makes
    its neighbours' pairs wait for a whole new kept pair: with source fidelity 0.9 (each round succeeds with
    ~0.88) the estimate left these failures out for repeaters and said 0.54 where 0.44 of the first attempts
    passed (2 links, one round; 0.41 against 0.28 with two rounds). Nested swapping: a level-2 repeater waits for its
    segments' notices as well, so its pairs are older at the swap than a level-1 repeater's (0.27 estimated, 0.18
    passed). The job's estimate now counts both (:meth:`~dqsim.jobs.repeater.ChainSection._pass_estimate`)."""
    total = 10.0 * links
    body = (f"num_links = {links}\ntotal_distance_km = {total}\nnum_pairs = 400\npurification_rounds = {rounds}\n"
            f'swapping = "{swapping}"\n')
    tail = f"[chain.link]\nsource_fidelity = {fidelity}\ndark_count_rate_hz = 0.0\n" if fidelity else ""
    section = load_job_text(BASE + body + tail).chain
    link = section.link_spec(links, total)
    cutoff_s = ps_to_seconds(section._least_swap_age_ps(link, links) + periods * link.attempt_period_ps)
    job = load_job_text(BASE + body + f"cutoff_s = {cutoff_s!r}\n" + tail)
    expected = job.chain.cutoff_pass_estimate(links, total)
    assert 0.2 < expected < 0.8, expected
    pairs = repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND).tables["pairs"]
    first = float(np.mean(pairs["restarts"] == 0))
    stderr = math.sqrt(expected * (1 - expected) / len(pairs))
    assert abs(first - expected) < 3 * stderr, (first, expected, stderr)


REVIEW_SCALE = ["--set", "chain.num_links=[512]", "--set", "chain.total_distance_km=[512.0]", "--set",
                "chain.purification_rounds=1", "--set", "chain.cutoff_s=5e-5", "--set", "chain.num_pairs=2"]


def test_repro_check_and_run_warn_of_a_cutoff_that_abandons_most_attempts(tmp_path):
    """512 links of 1 km, one pumping round, cut-off 5e-5 s (above the least swap age, so allowed): the run went
    on for hours towards max_restarts with no word of why (docs/review-scale-20261206.md). ``dqsim check`` and
    the start of ``dqsim run`` now say, in one line naming the key and its value, that most attempts will be
    abandoned, and the cut-off at which half pass; the run is not refused. (0.000113 s with the ideal Werner
    pumping odds before 2026-12-07 (late afternoon): the job's gate and readout errors fail one round in 33 rather
    than one in 76, which over 511 repeaters takes a longer cut-off.)"""
    checked = run_here(["check", "jobs/repeater_chain.toml", *REVIEW_SCALE])
    warnings = [line for line in checked.stdout.splitlines() if line.startswith("# warning:")]
    assert len(warnings) == 1, checked.stdout
    assert "[chain].cutoff_s = 5e-05: over links of 1 km (512 links and 1 pumping round(s))" in warnings[0]
    assert "most attempts will be abandoned" in warnings[0] and "max_restarts = 10,000" in warnings[0]
    assert warnings[0].endswith("half the attempts pass with cutoff_s > 0.000122 s"), warnings[0]
    # the run starts (and here stops at its first abandoned attempt: max_restarts = 0), the warning first
    ran = run_here(["run", "jobs/repeater_chain.toml", *REVIEW_SCALE, "--set", "chain.max_restarts=0",
                    "-o", str(tmp_path / "scale.h5"), "--quiet"], check=False)
    lines = ran.stderr.splitlines()
    assert lines[0].startswith("dqsim: warning: jobs/repeater_chain.toml") and "[chain].cutoff_s = 5e-05" in lines[0]
    assert ran.returncode == 2 and "was abandoned 1 time at the memory cut-off" in ran.stderr, ran.stderr


def test_the_example_job_and_longer_cutoffs_draw_no_warning():
    """``jobs/repeater_chain.toml`` (its 2 links of 150 km abandon ~25 attempts per pair, measured; ~19
    estimated: under the warning's 100) and the review's chain at cut-offs of 5e-4 and 2e-3 s (delivered with
    no restart) draw none."""
    checked = run_here(["check", "jobs/repeater_chain.toml"])
    assert "warning" not in checked.stdout and not checked.stderr
    for cutoff in ("5e-4", "2e-3"):
        args = [*REVIEW_SCALE, "--set", f"chain.cutoff_s={cutoff}"]
        assert "warning" not in run_here(["check", "jobs/repeater_chain.toml", *args]).stdout


def test_repro_a_cutoff_far_above_the_memories_coherence_time_is_warned_of():
    """A new user's walk of 2026-12-07 set ``cutoff_s = 100000`` (meant in ms) on memories of T2 = 1 s: accepted
    without a word, though every pair has dephased long before that age. ``dqsim check`` now says so in one
    line naming the key, its ratio to T2 and the value in seconds a cut-off meant in ms would be; a cut-off of
    10·T2 or less, and memories of infinite T1 and T2, draw no such line."""
    checked = run_here(["check", "jobs/repeater_chain.toml", "--set", "chain.cutoff_s=100000"])
    warnings = [line for line in checked.stdout.splitlines() if line.startswith("# warning:")]
    assert len(warnings) == 1, checked.stdout
    assert ("[chain].cutoff_s = 100000 s is 1e+05 times the memories' T2 = 1 s ([chain.node].t2_s): a pair that old "
            "has lost its coherence") in warnings[0], warnings[0]
    assert warnings[0].endswith("a cut-off meant in ms is cutoff_s = 100)"), warnings[0]
    assert "warning" not in run_here(["check", "jobs/repeater_chain.toml", "--set", "chain.cutoff_s=10"]).stdout
    perfect = load_job_text(ONE_LINK.format(km=20.0, pairs=4, rounds=0, cutoff="cutoff_s = 100000.0\n"))
    assert perfect.chain.coherence_warning("job.toml") is None


ONE_LINK = (BASE + "num_links = 1\ntotal_distance_km = {km}\nnum_pairs = {pairs}\npurification_rounds = {rounds}\n"
            "{cutoff}[chain.link]\nsource_fidelity = 1.0\ndark_count_rate_hz = 0.0\n[chain.node]\nt1_s = inf\n"
            "t2_s = inf\ngate_1q_error_probability = 0.0\ngate_2q_error_probability = 0.0\n"
            "measure_error_probability = 0.0\n")


def test_one_links_cutoff_passes_as_estimated(rounds=2, periods=6.5):
    """A chain of one link has no repeater: its end B applies the cut-off, and its kept pair ages by an attempt
    period for each failed attempt of its pumping, so an attempt passes with P(Y <= m), Y negative binomial
    (:func:`~dqsim.network.entanglement.cutoff_pass_probability` with no repeater). Perfect pairs and memories:
    no purification fails (which would start a new kept pair). Before 2026-12-06 the estimate was 1 for one
    link, whatever the cut-off."""
    body = dict(km=20.0, pairs=300, rounds=rounds)
    section = load_job_text(ONE_LINK.format(**body, cutoff="")).chain
    link = section.link_spec(1, 20.0)
    cutoff_s = ps_to_seconds(section._least_swap_age_ps(link) + periods * link.attempt_period_ps)
    job = load_job_text(ONE_LINK.format(**body, cutoff=f"cutoff_s = {cutoff_s!r}\n"))
    expected = job.chain.cutoff_pass_estimate(1, 20.0)
    assert 0.2 < expected < 0.9, expected
    pairs = repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND).tables["pairs"]
    first = float(np.mean(pairs["restarts"] == 0))
    stderr = math.sqrt(expected * (1 - expected) / len(pairs))
    assert abs(first - expected) < 3 * stderr, (first, expected, stderr)


def test_one_links_cutoff_estimate_counts_the_purifications_that_fail(periods=1.5):
    """Since 2026-12-07 a kept pair is cut at its deadline while it is pumped: one whose spare pair comes late is
    cut even where its purification would have failed (before, that failure started a new kept pair and forgave
    its age). With source fidelity 0.9 one round succeeds with s = F^2 + 2Fg + 5g^2 (g = (1 - F)/3), a kept
    pair is pumped in time with P = P(Y <= m), and an attempt passes with P s / (1 - P (1 - s)) (renewal over
    the kept pairs), not P: the job's estimate says so, and the simulated first attempts agree within 3
    standard errors (binomial)."""
    text = ONE_LINK.replace("source_fidelity = 1.0", "source_fidelity = 0.9")
    body = dict(km=20.0, pairs=250, rounds=1)
    section = load_job_text(text.format(**body, cutoff="")).chain
    link = section.link_spec(1, 20.0)
    cutoff_s = ps_to_seconds(section._least_swap_age_ps(link) + periods * link.attempt_period_ps)
    job = load_job_text(text.format(**body, cutoff=f"cutoff_s = {cutoff_s!r}\n"))
    p, f = link.success_probability, link.delivered_fidelity
    pumped = 1 - (1 - p) ** 2  # m = 1 spare attempt: the spare pair at the first or second attempt
    s = bbpssw_success_probability(f)
    expected = pumped * s / (1 - pumped * (1 - s))
    assert job.chain.cutoff_pass_estimate(1, 20.0) == pytest.approx(expected, rel=1e-12)
    pairs = repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND).tables["pairs"]
    first = float(np.mean(pairs["restarts"] == 0))
    stderr = math.sqrt(expected * (1 - expected) / len(pairs))
    assert abs(first - expected) < 3 * stderr, (first, expected, stderr)


def test_one_link_with_pumping_and_a_short_cutoff_is_warned_of_and_without_pumping_never():
    """The warning covered chains with repeaters only (docs/review-workflow-20261206.md): one link pumping twice
    under a cut-off that allows one failed attempt passes P(Y <= 1) = p^2 + 2p^2 q, about once in 20,000
    attempts (p = 0.00405 per attempt at 100 km), now warned of; without pumping its pair's age is fixed, so a
    cut-off the job allows always passes and draws no warning."""
    section = load_job_text(ONE_LINK.format(km=100.0, pairs=4, rounds=2, cutoff="")).chain
    link = section.link_spec(1, 100.0)
    least = section._least_swap_age_ps(link)
    cutoff_s = ps_to_seconds(least + 2 * link.attempt_period_ps) * 0.999
    job = load_job_text(ONE_LINK.format(km=100.0, pairs=4, rounds=2, cutoff=f"cutoff_s = {cutoff_s!r}\n"))
    p = link.success_probability
    assert job.chain.cutoff_pass_estimate(1, 100.0) == pytest.approx(p ** 2 * (1 + 2 * (1 - p)))
    [line] = job.warnings()
    assert "over one link of 100 km with 2 pumping round(s) chain end B's pair is" in line, line
    assert "passes B's cut-off with probability about" in line and "most attempts will be abandoned" in line
    plain = load_job_text(ONE_LINK.format(km=100.0, pairs=4, rounds=0, cutoff="cutoff_s = 0.0011\n"))
    assert plain.chain.cutoff_pass_estimate(1, 100.0) == 1.0 and plain.warnings() == []


@pytest.mark.parametrize("links, pairs, spare", [(1, 12, 0), (2, 4, 3)])
def test_repro_a_pumped_pair_is_discarded_at_its_cutoff_not_once_pumped(links, pairs, spare):
    """One pumping round of perfect pairs (every purification succeeds), a cut-off ``spare + 1/2`` attempt periods
    past the least age, so many attempts lose their kept pair while the spare pair is still being made. Before
    2026-12-07 the cut-off was looked at only once the pumped pair was complete: an attempt was abandoned
    ``5(d + c) + (N_s - 1)T`` after the kept pair's emission (one link), past the cut-off, its memories busy
    and the restart late. Now the node applying it (end B of one link, the repeater of two) discards the kept
    pair at its deadline: each cut-off comes exactly ``cutoff`` after an emission of the link, which after the
    attempt's start ``s`` (a handshake, ``2(d + c)``, then whole attempt periods ``T``) is
    ``s + 2(d + c) + k·T + cutoff``; the abort reaches the initiator(s) ``d + c`` later, who start again."""
    c = 2_000_000
    section = load_job_text(ONE_LINK.format(km=10.0, pairs=1, rounds=1, cutoff="").replace(
        "[chain.node]\n", f"[chain.node]\nclassical_processing_delay_ps = {c}\n")).chain
    link = section.link_spec(1, 10.0)
    period = link.attempt_period_ps
    cutoff = section._least_swap_age_ps(link) + spare * period + period // 2
    chain = ChainSpec(links=[link] * links, node=section.node_spec(), purification_rounds=1, num_pairs=pairs,
                      cutoff_ps=cutoff)
    out = run(chain, seed=3, every_attempt=True)
    restarts = out.records.restarts
    assert len(restarts) > len(out.pairs), restarts  # (p ~ 0.26: about 3 cut-offs per pair)
    starts = {(pair.pair_index, 0): {pair.round_start_ps} for pair in out.pairs}  # the links' starts
    handshake = 2 * chain.latency_ps(0, 1)
    for pair_index, attempt, node, time_ps in restarts:
        assert node == 1  # (B of one link; the repeater of two)
        offsets = [time_ps - start - handshake - cutoff for start in starts[(pair_index, attempt)]]
        assert any(offset >= 0 and offset % period == 0 for offset in offsets), (pair_index, attempt, offsets)
        # the initiator of link 0 starts the next attempt when the abort reaches it, node 1 (link 1's) at once
        starts[(pair_index, attempt + 1)] = {time_ps + chain.latency_ps(1, 0)} | ({time_ps} if links > 1 else set())
    if links == 1:  # every abandoned attempt had made its kept pair (>= 1 attempt): counted in the round's total
        folded = run(chain, seed=3).pairs  # (records folded as a job does)
        assert [pair.delivery_ps for pair in folded] == [pair.delivery_ps for pair in out.pairs]
        assert all(pair.link_attempts_total - pair.link_attempts_max >= pair.restarts for pair in folded), folded


LOSSLESS = (BASE + "num_links = {links}\ntotal_distance_km = {km}\nnum_pairs = 3\npurification_rounds = {rounds}\n"
            "{cutoff}[chain.link]\nscheme = \"direct\"\nattenuation_db_per_km = 0.0\ndetector_efficiency = 1.0\n"
            "dark_count_rate_hz = 0.0\nsource_fidelity = 1.0\n[chain.node]\n"
            "classical_processing_delay_ps = 3000000\n")


@pytest.mark.parametrize("links, rounds", [(1, 0), (1, 1), (1, 2), (2, 1)])
def test_repro_least_swap_age_counts_the_processing_delays(links, rounds):
    """Every classical step on the way to a usable pair takes the node's processing delay c: the herald, each
    pumping handshake's two messages and each bit exchange. On lossless direct links (every attempt succeeds,
    every purification of perfect pairs too) a repeater's (one link: end B's) pair is exactly the least age
    when it is swapped (delivered): with one pumping round 5 link delays + 6c here (direct herald: 2d), not the
    5d + c the job's check and estimate used (bench/review_repeater_physics.py, 2026-12-07): a cut-off between
    the two was accepted though every attempt would be abandoned, until max_restarts stopped the run."""
    km = 10.0 * links
    text = LOSSLESS.format(links=links, km=km, rounds=rounds, cutoff="")
    section = load_job_text(text).chain
    link = section.link_spec(links, km)
    assert link.success_probability == 1.0
    result = run(repeater.chain_spec(load_job_text(text), links, km), seed=1)
    created = {(r.pair_index, r.attempt): r.created_ps for r in result.records.links}
    if links == 1:
        ages = {p.delivery_ps - created[(p.pair_index, p.restarts)] for p in result.pairs}
    else:
        ages = {time_ps - created[(pair, attempt)] for pair, attempt, _node, time_ps in result.records.swaps}
    least = section._least_swap_age_ps(link)
    assert ages == {least}, (ages, least)
    # a cut-off a picosecond shorter is refused (no pair could ever be swapped or delivered)
    with pytest.raises(ConfigError, match=r"\[chain\]\.cutoff_s"):
        load_job_text(LOSSLESS.format(links=links, km=km, rounds=rounds,
                                      cutoff=f"cutoff_s = {ps_to_seconds(least - 1)!r}\n"))


@pytest.mark.parametrize("rounds", [0, 1])
def test_repro_nested_least_swap_age_waits_for_the_segments(rounds):
    """Nested swapping: a repeater of level l > 1 swaps only once both its segments are complete, and each
    segment's notice comes from its middle repeater, ``2^(l-2)`` link delays and a processing delay away. On
    lossless direct links of 8 nested links the top repeater's pairs are ``(d + c) + (2d + c)`` older at its swap
    than a level-1 repeater's. The job's least swap age was the level-1 one (bench/review_repeater_physics.py,
    check ``nested_cutoff``, 2026-12-07): a cut-off between the two was accepted though the top repeater cut
    every attempt, until max_restarts stopped the run. Now the largest swap age is the least age, and a cut-off
    1 ps shorter is refused."""
    links, km = 8, 80.0
    text = LOSSLESS.format(links=links, km=km, rounds=rounds, cutoff="").replace(
        "purification_rounds", 'swapping = "nested"\npurification_rounds')
    section = load_job_text(text).chain
    link = section.link_spec(links, km)
    result = run(repeater.chain_spec(load_job_text(text), links, km), seed=1)
    created = {(r.pair_index, r.attempt, r.link_index): r.created_ps for r in result.records.links}
    ages = {time_ps - created[(pair, attempt, node)] for pair, attempt, node, time_ps in result.records.swaps
            if node == links // 2}
    least = section._least_swap_age_ps(link, links)
    assert ages == {least}, (ages, least)
    d, c = link.delay_ps, section.node_spec().classical_processing_delay_ps
    assert least == section._least_swap_age_ps(link, links, level=1) + 3 * d + 2 * c
    with pytest.raises(ConfigError, match=r"\[chain\]\.cutoff_s"):
        load_job_text(LOSSLESS.format(links=links, km=km, rounds=rounds,
                                      cutoff=f"cutoff_s = {ps_to_seconds(least - 1)!r}\n").replace(
            "purification_rounds", 'swapping = "nested"\npurification_rounds'))
    # at the least age plus one attempt period every pair passes: the run delivers without a restart
    job = load_job_text(LOSSLESS.format(links=links, km=km, rounds=rounds,
                                        cutoff=f"cutoff_s = {ps_to_seconds(least + link.attempt_period_ps)!r}\n")
                        .replace("purification_rounds", 'swapping = "nested"\npurification_rounds'))
    assert [p.restarts for p in run(repeater.chain_spec(job, links, km), seed=1).pairs] == [0, 0, 0]


def _pumped_chain(links, policy, pairs, spare, fidelity=1.0):
    """A chain of ``links`` 10-km links pumping once with the ``policy`` pumping cut-off, a cut-off ``spare + 1/2``
    attempt periods past the least swap age, processing delay 2 us."""
    text = ONE_LINK.format(km=10.0, pairs=1, rounds=1, cutoff="").replace(
        "[chain.node]\n", "[chain.node]\nclassical_processing_delay_ps = 2000000\n").replace(
        "source_fidelity = 1.0", f"source_fidelity = {fidelity}")
    section = load_job_text(text).chain
    link = section.link_spec(1, 10.0)
    period = link.attempt_period_ps
    cutoff = section._least_swap_age_ps(link, links) + spare * period + period // 2
    return ChainSpec(links=[link] * links, node=section.node_spec(), purification_rounds=1, num_pairs=pairs,
                     cutoff_ps=cutoff, pumping_cutoff=policy)


def test_repro_a_link_pumping_cutoff_makes_one_link_again_at_the_same_times_as_a_restart():
    """One link: B cutting its kept pair while pumped and telling A makes the link again as the abort of the whole
    attempt did (A starts when B's message reaches it, B at once): the same draws at the same times give the same
    pairs at the same times, with no chain attempt abandoned, one re-made link per abandoned attempt instead."""
    whole = run(_pumped_chain(1, "attempt", 12, 0, fidelity=0.9), seed=3, every_attempt=True)
    local = run(_pumped_chain(1, "link", 12, 0, fidelity=0.9), seed=3, every_attempt=True)
    assert [(p.delivery_ps, p.fidelity) for p in local.pairs] == [(p.delivery_ps, p.fidelity) for p in whole.pairs]
    assert all(p.restarts == 0 for p in local.pairs) and len(local.records.restarts) == 0
    assert [(t[0], t[2], t[3]) for t in whole.records.restarts] == [(t[0], t[2], t[4]) for t in local.records.relinks]
    assert len(local.records.relinks) > len(local.pairs)  # (p ~ 0.26, one spare attempt: most kept pairs are cut)
    # the link record of the delivering making counts the attempts of the round's earlier makings too, as the
    # round's sum counts those of its abandoned attempts (records folded, as a job keeps them)
    folded = run(_pumped_chain(1, "attempt", 12, 0, fidelity=0.9), seed=3).pairs
    assert [p.link_attempts_total for p in local.pairs] == [p.link_attempts_total for p in folded]
    assert [p.link_attempts_max for p in local.pairs] == [p.link_attempts_total for p in folded]


def test_repro_a_link_pumping_cutoff_remakes_only_that_link_at_its_deadline():
    """Two links, one pumping round of perfect pairs, the ``"link"`` pumping cut-off: the repeater discards a kept
    pair still being pumped exactly ``cutoff`` after its emission and makes that link again (its initiator starts
    then, or when the repeater's message reaches it, ``d + c`` later), while the other link keeps its pair: each
    cut comes ``cutoff`` after an emission on the attempt grid of the link's latest making
    (``start + 2(d + c) + k·T``), and the delivering making's kept pair is on it too. A whole chain attempt is
    abandoned only by a pumped pair that waits too long for the other link (then every link starts again)."""
    chain = _pumped_chain(2, "link", 12, 3)
    out = run(chain, seed=3, every_attempt=True)
    period, cutoff, handshake = chain.links[0].attempt_period_ps, chain.cutoff_ps, 2 * chain.latency_ps(0, 1)
    assert len(out.records.relinks) >= len(out.pairs), out.records.relinks
    starts = {}  # (pair_index, attempt, link) -> when the link's initiator started its latest making
    for pair in out.pairs:
        for attempt in range(pair.restarts + 1):
            for link in (0, 1):
                starts[(pair.pair_index, attempt, link)] = pair.round_start_ps
    for pair_index, attempt, node, time_ps in out.records.restarts:  # an abort: node 1 at once, node 0 d + c later
        starts[(pair_index, attempt + 1, 0)] = time_ps + chain.latency_ps(1, 0)
        starts[(pair_index, attempt + 1, 1)] = time_ps
    for pair_index, attempt, node, side, time_ps in out.records.relinks:
        assert node == 1
        link = 0 if side == "left" else 1
        offset = time_ps - starts[(pair_index, attempt, link)] - handshake - cutoff
        assert offset >= 0 and offset % period == 0, (pair_index, attempt, side, offset)
        starts[(pair_index, attempt, link)] = time_ps + (chain.latency_ps(1, 0) if link == 0 else 0)
    for record in out.records.links:
        if any(p.pair_index == record.pair_index and p.restarts == record.attempt for p in out.pairs):
            offset = record.created_ps - starts[(record.pair_index, record.attempt, record.link_index)] - handshake
            assert offset >= 0 and offset % period == 0, record


def test_the_pumping_cutoff_policy_reaches_the_chain_and_needs_pumping_and_a_cutoff():
    body = "num_links = 2\ntotal_distance_km = 20\npurification_rounds = 1\ncutoff_s = 0.01\n"
    job = load_job_text(BASE + body + 'pumping_cutoff = "link"\n')
    assert repeater.chain_spec(job, 2, 20.0).pumping_cutoff == "link"
    assert repeater.chain_spec(load_job_text(BASE + body), 2, 20.0).pumping_cutoff == "attempt"
    for text, why in ((body.replace("cutoff_s = 0.01\n", ""), "no cutoff_s"),
                      (body.replace("purification_rounds = 1", "purification_rounds = 0"), "purification_rounds = 0")):
        with pytest.raises(ConfigError, match=re.escape(f'[chain].pumping_cutoff = "link": only used with '
                                                        f"purification_rounds >= 1 and a cutoff_s (here {why})")):
            load_job_text(BASE + text + 'pumping_cutoff = "link"\n')


def test_a_link_pumping_cutoff_is_bounded_by_max_restarts():
    """With the ``"link"`` pumping cut-off no chain attempt of one link is ever abandoned, so ``max_restarts``
    bounds the kept pairs a node cuts while pumped for one pair instead (a cut-off that lets no pumping finish
    would otherwise run without an end)."""
    chain = dataclasses.replace(_pumped_chain(1, "link", 4, 0, fidelity=0.9), max_restarts=1)
    with pytest.raises(DqsimError, match=r"pair \d+: node 1 cut kept pairs while pumped 2 times at the memory "
                                         r"cut-off \([0-9.e-]+ s\); raise the cut-off or max_restarts"):
        run(chain, seed=3)


def test_pairs_of_one_state_have_a_fidelity_stderr_of_exactly_zero():
    """userwalk2 D4: 30 pairs of one fidelity (1 link, pure source, dephasing only over the same wait) gave
    fidelity_stderr 2.06e-17 (np.std of equal values), while docs/outputs.md says 0."""
    job = load_job_text('[run]\nname = "one"\nscenario = "repeater"\nseed = 7\n[chain]\nnum_links = [1]\n'
                        'total_distance_km = [40.0]\ncutoff_s = 0.05\nnum_pairs = 30\n[chain.link]\n'
                        'scheme = "double_click"\nsource_fidelity = 1.0\n[chain.node]\nt1_s = 1000.0\nt2_s = 0.01\n')
    out = repeater.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
    fidelities = out.tables["pairs"]["fidelity"]
    assert np.ptp(fidelities) == 0.0 and fidelities.mean() != fidelities[0]  # the case np.std gets wrong
    assert out.tables["summary"]["fidelity_stderr"].tolist() == [0.0]
