"""Pumping rounds under the chain's noise (:mod:`dqsim.protocols.pumping_odds`): the round against the Werner
formulas without noise, the averaged wait against the engine's channel, and the odds against simulated links."""

import math

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import load_job_text
from dqsim.network.werner import bbpssw_fidelity, bbpssw_success_probability
from dqsim.protocols import pumping_odds
from dqsim.protocols.pumping_odds import PumpingNoise, PumpingOdds, bell_fidelity_of, idle_pair, pumping_round
from dqsim.scenarios import repeater
from conftest import TEST_BACKEND

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")
BASE = '[run]\nname = "c"\nscenario = "repeater"\n[chain]\n'
#: Memories that lose a pumped link's coherence over its waits (T2 = 1 ms against waits of 0.2-0.5 ms) and gates
#: and readout a few per cent wrong: a BBPSSW round of 0.9 pairs succeeds with about 0.70, not 0.876.
NOISY_NODE = ("[chain.node]\nt1_s = 0.01\nt2_s = 0.001\ngate_1q_error_probability = 0.005\n"
              "gate_2q_error_probability = 0.04\nmeasure_error_probability = 0.03\n")


def werner(fidelity):
    w = (4 * fidelity - 1) / 3
    rho = (1 - w) / 4 * np.eye(4, dtype=complex)
    rho[0, 0] += w / 2
    rho[0, 3] += w / 2
    rho[3, 0] += w / 2
    rho[3, 3] += w / 2
    return rho


@pytest.mark.parametrize("variant", ["bbpssw", "dejmps"])
@pytest.mark.parametrize("fidelity", [0.6, 0.75, 0.9, 0.99])
def test_a_noiseless_round_of_werner_pairs_is_the_bbpssw_formula(variant, fidelity):
    """Without noise a round of two Werner pairs succeeds with F² + 2F(1−F)/3 + 5((1−F)/3)² and keeps
    (F² + ((1−F)/3)²)/that (Bennett et al. 1996; DEJMPS the same for Werner inputs)."""
    success, kept = pumping_round(werner(fidelity), werner(fidelity), PumpingNoise(variant))
    assert success == pytest.approx(bbpssw_success_probability(fidelity), abs=1e-12)
    assert bell_fidelity_of(kept) == pytest.approx(bbpssw_fidelity(fidelity), abs=1e-12)
    assert kept.trace().real == pytest.approx(success, abs=1e-12)


def test_noise_lowers_a_rounds_success_and_its_output():
    """Each noise on its own lowers the success probability and the kept fidelity of a round of 0.9 pairs."""
    ideal = pumping_round(werner(0.9), werner(0.9), PumpingNoise())
    for field in ("gate_1q_error_probability", "gate_2q_error_probability", "measure_error_probability"):
        success, kept = pumping_round(werner(0.9), werner(0.9), PumpingNoise(**{field: 0.05}))
        assert success < ideal[0] - 0.005 and bell_fidelity_of(kept) < bell_fidelity_of(ideal[1]) - 0.005, field
    decayed = idle_pair(werner(0.9), 3e8, 3e8, 0.01, 0.001)
    assert pumping_round(decayed, werner(0.9), PumpingNoise())[0] < ideal[0] - 0.03


@pytest.mark.parametrize("t1_s, t2_s, attempts", [(2e-3, 1e-3, 30), (2e-3, 1e-3, None), (math.inf, 1e-3, 7),
                                                   (1e-3, 2e-3, None)])
def test_the_averaged_wait_is_the_engines_channel_averaged(t1_s, t2_s, attempts):
    """``_mean_idle`` (one map for a geometric wait, summed exactly) against the engine's channel (``small.damp``)
    applied at each wait and averaged term by term, on a state that is not Bell diagonal, the responder's half held
    later; truncated and whole tails, T2 alone and T2 = 2·T1 (relaxation alone)."""
    rng = np.random.default_rng(3)
    root = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    rho = root @ root.conj().T
    rho /= rho.trace()
    noise = PumpingNoise(t1_s=t1_s, t2_s=t2_s)
    p, first, period, late = 0.3, 1e8, 6e7, 5e7
    terms = attempts or 120  # (0.7^120: 3e-19 of the whole left out)
    weights = p * (1 - p) ** np.arange(terms)
    weights /= weights.sum()
    expected = sum(w * idle_pair(rho, first + n * period, first + n * period - late, t1_s, t2_s)
                   for n, w in enumerate(weights))
    averaged = pumping_odds._mean_idle(rho, noise, first_ps=first, late_ps=late, success_probability=p,
                                       period_ps=period, attempts=attempts)
    assert np.abs(averaged - expected).max() < 1e-14


def test_a_rare_links_averaged_wait_keeps_the_whole_geometric_tail():
    """A link of success probability 1e-6 without a cut-off waits 1e6 attempts on average: the kept |Φ+⟩ under T2
    alone keeps ``(1 + E[e^(−(2W − late)/T2)])/2``, the expectation summed in closed form here (0.5997). The earlier
    sum over at most 200,000 attempts (18 % of the tail), renormalised, kept too much: ``mean_pumping``'s round odds
    were 0.898 there against 0.733 now (a spare pair held as long)."""
    p, period, first, late, t2 = 1e-6, 1e5, 1e8, 5e7, 0.05  # (ps; T2 in s: the mean wait is 0.1 s)
    phi = np.zeros((4, 4), dtype=complex)
    phi[0, 0] = phi[0, 3] = phi[3, 0] = phi[3, 3] = 0.5
    noise = PumpingNoise(t2_s=t2)
    out = pumping_odds._mean_idle(phi, noise, first_ps=first, late_ps=late, success_probability=p, period_ps=period,
                                  attempts=None)
    decay = 2 / t2 * 1e-12  # (per ps, both memories)
    ratio = (1 - p) * math.exp(-decay * period)
    mean = p * math.exp(-(2 * first - late) / t2 * 1e-12) / (1 - ratio)
    assert abs(bell_fidelity_of(out) - (1 + mean) / 2) < 1e-10
    assert bell_fidelity_of(out) < 0.6


@pytest.mark.parametrize("variant", ["bbpssw", "dejmps"])
def test_the_odds_for_given_waits_chain_the_rounds(variant):
    """:class:`PumpingOdds` (BBPSSW by interpolation in the kept pair's fidelity) against the rounds computed one
    after another with the engine's channel: round 2's odds are its success given round 1's."""
    noise = PumpingNoise(variant, 0.01, 0.001, 0.005, 0.04, 0.03)
    odds = PumpingOdds(werner(0.9), noise, spare_ps=10**8, arrival_ps=3 * 10**7)
    spare = idle_pair(werner(0.9), 1e8, 7e7, noise.t1_s, noise.t2_s)
    first, kept = pumping_round(idle_pair(werner(0.9), 4e8, 3.7e8, noise.t1_s, noise.t2_s), spare, noise)
    second, _ = pumping_round(idle_pair(kept, 2e8, 2e8, noise.t1_s, noise.t2_s), spare, noise)
    assert odds((4e8,)) == pytest.approx(first, abs=1e-12)
    assert odds((4e8, 2e8)) == pytest.approx(second / first, abs=1e-12)
    assert odds((9e8,)) < odds((4e8,)) < 0.8


@pytest.mark.parametrize("variant, rounds", [("bbpssw", 1), ("bbpssw", 2), ("dejmps", 2)])
def test_a_links_pumping_succeeds_as_the_noisy_odds_say(variant, rounds):
    """One 10-km link without a cut-off, pumped with noisy memories and gates (:data:`NOISY_NODE`), 400 pairs:
    the simulated turns (a kept pair and its rounds, ``purify_failures`` + pairs of them) against the noisy odds
    ``s_j`` of ``ChainSection._pumping_success``: the share of turns that pass all rounds, ``∏ s_j``, and the
    rounds kept per turn, ``s_1 + s_1·s_2``, each within 3 binomial standard errors. The ideal Werner odds
    (what the estimate took before) are more than 6 standard errors off the passing share."""
    text = (BASE + f'num_links = 1\ntotal_distance_km = 10\npurification_rounds = {rounds}\n'
            f'purification = "{variant}"\nnum_pairs = 400\n[chain.link]\nsource_fidelity = 0.9\n')
    job = load_job_text(text + NOISY_NODE)
    section = job.chain
    link = section.link_spec(1, 10.0)
    odds = section._pumping_success(link)
    ideal = load_job_text(text).chain._pumping_success(link)
    out = repeater.run_chain(repeater.chain_spec(job, 1, 10.0), comm=comm_mod.SingleComm(), backend=BACKEND, seed=3)
    kept = sum(record.purify_successes for record in out.records.links)
    turns = sum(record.purify_failures for record in out.records.links) + len(out.pairs)
    passing, error = len(out.pairs) / turns, math.sqrt(math.prod(odds) * (1 - math.prod(odds)) / turns)
    assert abs(passing - math.prod(odds)) < 3 * error, (passing, odds, error)
    assert abs(math.prod(ideal) - passing) > 6 * error, (passing, ideal, error)
    per_turn = odds[0] + (odds[0] * odds[1] if rounds == 2 else 0.0)
    assert abs(kept / turns - per_turn) < 3 * math.sqrt(per_turn / turns), (kept / turns, per_turn)


def test_bbpssw_rounds_by_interpolation_are_the_rounds():
    """BBPSSW's rounds from its four corners (``_round``) against :func:`pumping_round` itself, on pairs that are
    not Werner (decayed, one unnormalised): the twirl leaves only the fidelities, affinely."""
    noise = PumpingNoise("bbpssw", 0.01, 0.001, 0.005, 0.04, 0.03)
    kept = 0.6 * idle_pair(werner(0.85), 4e8, 3e8, noise.t1_s, noise.t2_s)
    spare = idle_pair(werner(0.95), 1e8, 1e8, noise.t1_s, noise.t2_s)
    fast, direct = pumping_odds._round(kept, spare, noise), pumping_round(kept, spare, noise)
    assert fast[0] == pytest.approx(direct[0], abs=1e-13) and np.abs(fast[1] - direct[1]).max() < 1e-13
