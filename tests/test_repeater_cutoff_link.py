"""Repeater chains under ``cutoff_policy = "link"``: a pair past its cut-off costs its link (or the segment it was
swapped into), not the chain attempt. Timing of the discards, segments discarded through swapped repeaters, the
records, the job key and the warning's estimate. The physics (waiting time and fidelity against an exact two-link
Markov chain and an event model of longer chains) is checked in ``bench/review_repeater_physics.py``, check
``cutoff_link``.
"""

import dataclasses
import pickle
import re

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.errors import ConfigError, DqsimError
from dqsim.jobs import load_job_text
from dqsim.network.link import LinkSpec
from dqsim.network.node import NodeSpec
from dqsim.network import relink_estimate
from dqsim.network.relink_estimate import EventBudget, relink_makings_per_pair
from dqsim.protocols.repeater import ChainNode, ChainSpec, LinkSide, _NodeRun
from dqsim.scenarios import repeater
from conftest import TEST_BACKEND

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")
BASE = '[run]\nname = "c"\nscenario = "repeater"\n[chain]\n'
NODE = NodeSpec(name="n", t2_s=0.05, classical_processing_delay_ps=1000)
LINK = LinkSpec(distance_km=10.0, source_fidelity=0.97, dark_count_rate_hz=0.0)


def run(chain, seed, every_attempt=False):
    return repeater.run_chain(chain, comm=comm_mod.SingleComm(), backend=BACKEND, seed=seed,
                              every_attempt=every_attempt)


def chain(links, spare, swapping="swap_asap", pairs=40, policy="link", rounds=0):
    """``links`` 10-km links, a cut-off ``spare + 1/2`` attempt periods past the least age ``d + c``."""
    period = LINK.attempt_period_ps
    cutoff = LINK.delay_ps + NODE.classical_processing_delay_ps + spare * period + period // 2
    return ChainSpec(links=[LINK] * links, node=NODE, swapping=swapping, cutoff_ps=cutoff, num_pairs=pairs,
                     cutoff_policy=policy, purification_rounds=rounds)


def unswaps(out):
    return sum(value for key, value in out.engine.counters.items() if key[0] == "unswaps")


def test_repro_two_links_remake_only_the_cut_link_at_its_deadline():
    """Two links: the repeater discards a pair ``cutoff`` after its emission and makes that link alone again (its
    initiator starts then, the repeater for link 1, or A when told, ``d + c`` later), the other link keeping its
    pair: every discard comes ``cutoff`` after an emission on the grid of its link's latest making
    (``start + 2(d + c) + k·T``), no chain attempt is ever abandoned, and the delivered pair's links were emitted
    on those grids too. Before, the discard abandoned the whole attempt (every link made again)."""
    spec = chain(2, 1, pairs=60)
    out = run(spec, seed=3, every_attempt=True)
    period, cutoff, handshake = spec.links[0].attempt_period_ps, spec.cutoff_ps, 2 * spec.latency_ps(0, 1)
    assert sum(p.restarts for p in out.pairs) == 0 and out.records.restarts == []
    assert len(out.records.relinks) >= 10, out.records.relinks
    starts = {(p.pair_index, link): p.round_start_ps for p in out.pairs for link in (0, 1)}
    for pair_index, attempt, node, side, time_ps in out.records.relinks:
        assert (node, attempt) == (1, 0)
        link = 0 if side == "left" else 1
        offset = time_ps - starts[(pair_index, link)] - handshake - cutoff
        assert offset >= 0 and offset % period == 0, (pair_index, side, offset)
        starts[(pair_index, link)] = time_ps + (spec.latency_ps(1, 0) if link == 0 else 0)
    assert len(out.records.links) == 2 * len(out.pairs)
    for record in out.records.links:
        offset = record.created_ps - starts[(record.pair_index, record.link_index)] - handshake
        assert offset >= 0 and offset % period == 0, record


@pytest.mark.parametrize("links, swapping, spare", [(4, "swap_asap", 1), (3, "swap_asap", 1), (4, "nested", 2)])
def test_a_discarded_segment_is_made_again_through_the_repeaters_that_swapped_it(links, swapping, spare):
    """Longer chains: a repeater's pair past its cut-off may already be part of a longer segment (its other end
    swapped it): the discard runs through every repeater that swapped into it (each undoes its swap and makes
    both its links again; B forgets their bits) to the segment's other end. No attempt is abandoned; every pair
    is delivered with one link record per link (the initiators' records of the discarded makings folded into the
    delivering one: its attempts count them), its memories' times positive, its fidelity a fidelity."""
    out = run(chain(links, spare, swapping), seed=5)
    assert sum(p.restarts for p in out.pairs) == 0 and len(out.pairs) == 40
    assert unswaps(out) > 0 and sum(v for k, v in out.engine.counters.items() if k[0] == "link_cutoffs") > 0
    keys = [(r.pair_index, r.link_index) for r in out.records.links]
    assert sorted(keys) == [(pair, link) for pair in range(40) for link in range(links)]
    assert all(p.memory_time_ps > 0 and 0.25 < p.fidelity < 1 for p in out.pairs)
    assert all(p.link_attempts_total >= sum(r.attempts for r in out.records.links if r.pair_index == p.pair_index)
               for p in out.pairs)


def test_the_attempt_policy_is_unchanged_by_the_key():
    """``cutoff_policy = "attempt"`` (the default) abandons the attempt as before: the same pairs as a chain that
    does not name it, and no link made again."""
    named = run(chain(2, 1, policy="attempt"), seed=3)
    plain = run(dataclasses.replace(chain(2, 1, policy="attempt")), seed=3)
    assert sum(p.restarts for p in named.pairs) > 0 and not named.records.relinks
    assert [(p.delivery_ps, p.fidelity) for p in named.pairs] == [(p.delivery_ps, p.fidelity) for p in plain.pairs]


def test_the_policy_covers_pumped_pairs_and_rejects_a_contradicting_pumping_cutoff():
    assert chain(2, 1, rounds=1).pumping_cutoff == "link"
    assert chain(2, 1, policy="attempt", rounds=1).pumping_cutoff == "attempt"
    with pytest.raises(DqsimError, match=re.escape('ChainSpec: pumping_cutoff = "attempt" contradicts '
                                                   'cutoff_policy = "link"')):
        dataclasses.replace(chain(2, 1), pumping_cutoff="attempt")
    with pytest.raises(DqsimError, match="cutoff_policy must be one of"):
        chain(2, 1, policy="memory")


def test_a_link_cutoff_is_bounded_by_max_restarts():
    """No attempt is abandoned under the policy, so ``max_restarts`` bounds the pairs one node cuts for one pair
    (a cut-off that lets no pair be swapped would otherwise run without an end)."""
    with pytest.raises(DqsimError, match=r"pair \d+: node 1 cut pairs 2 times at the memory cut-off "
                                         r"\([0-9.e-]+ s\); raise the cut-off or max_restarts"):
        run(dataclasses.replace(chain(2, 0, pairs=20), max_restarts=1), seed=3)


BODY = "num_links = 2\ntotal_distance_km = 20\ncutoff_s = 0.0003\n"


def test_the_job_key_reaches_the_chain_and_needs_a_cutoff():
    job = load_job_text(BASE + BODY + 'cutoff_policy = "link"\n')
    spec = repeater.chain_spec(job, 2, 20.0)
    assert (spec.cutoff_policy, spec.pumping_cutoff) == ("link", "link")
    assert repeater.chain_spec(load_job_text(BASE + BODY), 2, 20.0).cutoff_policy == "attempt"
    old = load_job_text(BASE + BODY + 'purification_rounds = 1\npumping_cutoff = "link"\n')  # (a job of before)
    assert (repeater.chain_spec(old, 2, 20.0).cutoff_policy, repeater.chain_spec(old, 2, 20.0).pumping_cutoff) == (
        "attempt", "link")
    with pytest.raises(ConfigError, match=re.escape('[chain].cutoff_policy = "link": only used with a cutoff_s '
                                                    '(here no cutoff_s)')):
        load_job_text(BASE + BODY.replace("cutoff_s = 0.0003\n", "") + 'cutoff_policy = "link"\n')
    with pytest.raises(ConfigError, match=re.escape('[chain].pumping_cutoff = "attempt": contradicts cutoff_policy '
                                                    '= "link"')):
        load_job_text(BASE + BODY + 'purification_rounds = 1\ncutoff_policy = "link"\npumping_cutoff = "attempt"\n')


@pytest.mark.parametrize("cutoff_s", [1.5e-4, 3e-4])
def test_the_estimated_share_of_discarded_pairs_follows_two_simulated_links(cutoff_s):
    """The warning's estimate under the policy (``_keep_estimates``: the lockstep keep probability of the round's
    first pairs, a later one for links made again a handshake behind) against the share of pairs discarded in a
    simulated two-link chain (discards over pairs made), within 0.05 (an estimate; 0.418 against 0.444 and 0.119
    against 0.122 when written)."""
    job = load_job_text(BASE + BODY.replace("0.0003", repr(cutoff_s)) + 'cutoff_policy = "link"\nnum_pairs = 300\n')
    section = job.chain
    keeps = section._keep_estimates(section.link_spec(2, 20.0), 2, round(cutoff_s * 1e12))
    estimate = 1 - 1 / section._makings_per_pair(2, keeps)
    out = run(repeater.chain_spec(job, 2, 20.0), seed=5, every_attempt=True)
    cuts = len(out.records.relinks)
    assert abs(cuts / (cuts + 2 * len(out.pairs)) - estimate) < 0.05, (cuts, estimate)
    assert section.cutoff_keep_estimate(2, 20.0) == keeps[0] < 1


def sample_once(monkeypatch) -> None:
    """Each sample of the attempt model (``relink_estimate._sample``, seeded: the same inputs give the same rounds)
    drawn once per test: a call with inputs equal to an earlier call's (numbers compared as numbers; the rounds' odds,
    a :class:`~dqsim.protocols.pumping_odds.PumpingOdds`, pickled as they are when it is called: it keeps the odds it
    computes) gets that call's result. The estimates these tests compare, the warning's (``_makings_estimate``) and
    ``relink_makings_per_pair``'s with its error, are one sample taken twice (0.1-0.6 CPU s of a test's 0.4-3.9
    on the dev VM, 2026-12-07 (late night)); inputs that differ in anything (another seed, odds, cut-off, timing)
    are sampled anew, so the equality still fails where the warning samples other inputs. (Not in the noisy-pumping
    test: there the warning passes ``pumping`` as its odds' round count, the test the Werner odds, so no call
    repeats another.)"""
    done, sample = {}, relink_estimate._sample

    def once(*args):
        timing = dict(args[-1])
        odds = timing.pop("odds")
        key = (*args[:-1], tuple(sorted(timing.items())), None if odds is None else pickle.dumps(odds))
        if key not in done:
            done[key] = sample(*args)
        per_round, unfinished, events = done[key]
        return list(per_round), unfinished, events

    monkeypatch.setattr(relink_estimate, "_sample", once)


@pytest.mark.parametrize("swapping, links, cutoff_s", [("swap_asap", 2, 1.5e-4), ("swap_asap", 3, 3e-4),
                                                     ("swap_asap", 4, 2.5e-4), ("swap_asap", 4, 4e-4),
                                                     ("nested", 4, 4e-4)])
def test_the_estimated_makings_per_pair_follow_simulated_chains(monkeypatch, swapping, links, cutoff_s):
    """The warning's makings of a link per delivered pair (``_makings_estimate``: the attempt model sampled,
    which counts the segments a cut discards through swapped repeaters) against a simulated chain's (each link
    record's ``elementary_pairs`` counts its link's discarded makings too), within 3 standard errors of the two
    (the simulated rounds' spread is wide: 1.69 and 2.06 makings on four links at 2.5e-4 s with seeds 5 and 7).
    Before, the two-link closed form left the segments out: 1.21 there (a share of 0.17 of the pairs made
    discarded, against 0.41-0.52), and it stays where the sample is not used (pumping)."""
    sample_once(monkeypatch)
    job = load_job_text(BASE + f"num_links = {links}\ntotal_distance_km = {10 * links}\ncutoff_s = {cutoff_s!r}\n"
                        f'cutoff_policy = "link"\nswapping = "{swapping}"\nnum_pairs = 200\n')
    section, cutoff_ps = job.chain, round(cutoff_s * 1e12)
    link = section.link_spec(links, 10.0 * links)
    estimate = section._makings_estimate(link, links, cutoff_ps)
    c = section.node_spec().classical_processing_delay_ps
    error = relink_makings_per_pair(link.success_probability, links, delay_ps=link.delay_ps, processing_ps=c,
                                    herald_ps=link.herald_delay_ps, attempt_period_ps=link.attempt_period_ps,
                                    cutoff_ps=cutoff_ps, nested=swapping == "nested", with_error=True)
    assert error[0] == estimate
    out = run(repeater.chain_spec(job, links, 10.0 * links), seed=7)
    made = np.zeros(len(out.pairs))
    for record in out.records.links:
        made[record.pair_index] += record.elementary_pairs / links
    simulated, spread = made.mean(), made.std(ddof=1) / np.sqrt(made.size)
    assert simulated > 1.1 and abs(simulated - estimate) < 3 * np.hypot(spread, error[1]), (simulated, spread, error)


def count_makings(monkeypatch) -> dict:
    """A simulated chain's makings of a link beyond the first, per pair (filled as it runs): each time a link's
    initiator makes it again (``ChainNode._relink`` of its right side: cut, told or its segment discarded)."""
    made: dict = {}
    relink = ChainNode._relink

    def counted(self, ctx, side, making, *, tell, cut=False):
        if side == "right":
            made[self.pair_index] = made.get(self.pair_index, 0) + 1
        return relink(self, ctx, side, making, tell=tell, cut=cut)

    monkeypatch.setattr(ChainNode, "_relink", counted)
    return made


@pytest.mark.parametrize("swapping, links, spare, source_hz", [("swap_asap", 2, 4.5, None), ("swap_asap", 3, 7.5, None),
                                                               ("swap_asap", 4, 8.5, None), ("nested", 4, 8.5, None),
                                                               ("swap_asap", 2, 2.5, 5000.0)])
def test_the_estimated_makings_per_pair_follow_simulated_chains_with_pumping(monkeypatch, swapping, links, spare,
                                                                              source_hz):
    """With one pumping round (source fidelity 0.9: a round fails one time in eight) the warning's makings of a link
    per delivered pair (``_makings_estimate``: the attempt model sampled with the spare pairs, failed rounds and the
    kept pair cut while pumped) against a simulated chain's, within 3 standard errors of the two, the cut-off
    ``spare`` attempt periods past the least swap age; one chain with a source period (200 us) longer than a
    handshake. A link's makings in the simulation: 1 and each time its initiator made it again
    (``ChainNode._relink`` of its right side: cut, told or its segment discarded; ``elementary_pairs`` also counts
    the spare pairs). Before, pumped chains got the closed form: 1.2-4.3 here against 4-8 simulated."""
    made = count_makings(monkeypatch)
    sample_once(monkeypatch)
    text = (BASE + f"num_links = {links}\ntotal_distance_km = {10 * links}\nswapping = \"{swapping}\"\n"
            "purification_rounds = 1\nnum_pairs = 150\n")
    link_text = "[chain.link]\nsource_fidelity = 0.9\n" + (f"source_rate_hz = {source_hz}\n" if source_hz else "")
    section = load_job_text(text + link_text).chain
    link = section.link_spec(links, 10.0 * links)
    cutoff_s = (section._least_swap_age_ps(link, links) + spare * link.attempt_period_ps) * 1e-12
    job = load_job_text(text + f'cutoff_s = {cutoff_s!r}\ncutoff_policy = "link"\n' + link_text)
    section, cutoff_ps = job.chain, round(cutoff_s * 1e12)
    estimate = section._makings_estimate(link, links, cutoff_ps)
    c = section.node_spec().classical_processing_delay_ps
    error = relink_makings_per_pair(link.success_probability, links, delay_ps=link.delay_ps, processing_ps=c,
                                    herald_ps=link.herald_delay_ps, attempt_period_ps=link.attempt_period_ps,
                                    cutoff_ps=cutoff_ps, nested=swapping == "nested",
                                    pumping=section._pumping_success(link),
                                    source_ps=link.effective_source_period_ps, with_error=True)
    assert error[0] == estimate
    run(repeater.chain_spec(job, links, 10.0 * links), seed=7)
    per_pair = 1 + np.array([made.get(index, 0) for index in range(150)]) / links
    simulated, spread = per_pair.mean(), per_pair.std(ddof=1) / np.sqrt(per_pair.size)
    assert simulated > 3 and abs(simulated - estimate) < 3 * np.hypot(spread, error[1]), (simulated, spread, error)


@pytest.mark.parametrize("links, spare", [(2, 4.5), (3, 7.5), (4, 8.5)])
def test_the_estimated_makings_follow_simulated_chains_with_noisy_pumping(monkeypatch, links, spare):
    """With memories that decohere over a pumped link's waits and noisy gates and readout (T1 = 10 ms, T2 = 1 ms,
    gate errors 0.005 and 0.04, readout 0.03: a BBPSSW round of 0.9 pairs succeeds with about 0.69, not 0.876) the
    warning's makings of a link per delivered pair (the attempt model sampled with each round's odds from the kept
    pair's waits, ``ChainSection._pumping_odds``) against a simulated chain's (150 pairs, seed 7), within 3
    standard errors of the two; the estimate with the ideal Werner odds (before 2026-12-07 (late afternoon)) is
    more than 3 standard errors low on each (4.4, 3.9, 4.5 against 6.3, 5.7, 9.0 simulated)."""
    made = count_makings(monkeypatch)
    text = BASE + f"num_links = {links}\ntotal_distance_km = {10 * links}\npurification_rounds = 1\nnum_pairs = 150\n"
    tail = "[chain.link]\nsource_fidelity = 0.9\n[chain.node]\nt1_s = 0.01\nt2_s = 0.001\n" + (
        "gate_1q_error_probability = 0.005\ngate_2q_error_probability = 0.04\nmeasure_error_probability = 0.03\n")
    section = load_job_text(text + tail).chain
    link = section.link_spec(links, 10.0 * links)
    cutoff_s = (section._least_swap_age_ps(link, links) + spare * link.attempt_period_ps) * 1e-12
    job = load_job_text(text + f'cutoff_s = {cutoff_s!r}\ncutoff_policy = "link"\n' + tail)
    section, cutoff_ps = job.chain, round(cutoff_s * 1e12)
    timing = dict(delay_ps=link.delay_ps, processing_ps=0, herald_ps=link.herald_delay_ps,
                  attempt_period_ps=link.attempt_period_ps, cutoff_ps=cutoff_ps, with_error=True)
    error = relink_makings_per_pair(link.success_probability, links, pumping=section._pumping_success(link),
                                    pumping_odds=section._pumping_odds(link), **timing)
    assert error[0] == section._makings_estimate(link, links, cutoff_ps)
    ideal = relink_makings_per_pair(link.success_probability, links,
                                    pumping=load_job_text(BASE + "num_links = 1\ntotal_distance_km = 10\n"
                                                          "purification_rounds = 1\n[chain.link]\n"
                                                          "source_fidelity = 0.9\n").chain._pumping_success(link),
                                    **timing)
    run(repeater.chain_spec(job, links, 10.0 * links), seed=7)
    per_pair = 1 + np.array([made.get(index, 0) for index in range(150)]) / links
    simulated, spread = per_pair.mean(), per_pair.std(ddof=1) / np.sqrt(per_pair.size)
    assert abs(simulated - error[0]) < 3 * np.hypot(spread, error[1]), (simulated, spread, error)
    assert simulated - ideal[0] > 3 * np.hypot(spread, ideal[1]), (simulated, spread, ideal)


def _lossless(distance_km):
    """A link that makes its pair at its first attempt: a chain's timing without chance."""
    return LinkSpec(distance_km=distance_km, attenuation_db_per_km=0.0, detector_efficiency=1.0,
                    dark_count_rate_hz=0.0, scheme="direct")


@pytest.mark.parametrize("policy", ["attempt", "link"])
@pytest.mark.parametrize("lengths_km", [(1.0, 2.0), (2.0, 1.0)])
def test_a_herald_at_the_other_pairs_deadline_counts_as_a_cut(policy, lengths_km):
    """Ties: a repeater whose second pair is heralded at the very instant its first pair reaches the cut-off
    does not swap them; it cuts the first (the swap needs both pairs younger than the cut-off), whichever link is
    the later one (their heralds come from either side) and under either policy. Two lossless links of different
    lengths make their pairs at known times: a cut-off one picosecond longer than the first pair's age at the
    swap lets the pair through, that age itself has the repeater cut the first pair (``max_restarts = 0``: the
    run stops at that first cut)."""
    free = ChainSpec(links=[_lossless(km) for km in lengths_km], node=NODE)
    plain = run(free, seed=1)
    [(_, _, repeater_node, swap_ps)] = plain.records.swaps
    tie_ps = swap_ps - min(record.created_ps for record in plain.records.links)

    def with_cutoff(cutoff_ps, max_restarts):
        return ChainSpec(links=free.links, node=NODE, cutoff_ps=cutoff_ps, cutoff_policy=policy,
                         max_restarts=max_restarts)

    kept = run(with_cutoff(tie_ps + 1, 10), seed=1, every_attempt=True)
    assert kept.records.swaps == plain.records.swaps and not kept.records.relinks and not kept.records.restarts
    cut = "was abandoned 1 time" if policy == "attempt" else f"node {repeater_node} cut pairs 1 time"
    with pytest.raises(DqsimError, match=cut):
        run(with_cutoff(tie_ps, 0), seed=1)


def test_cuts_while_pumped_and_after_are_counted_apart():
    """The counters of cuts under the policy with pumping: ``pumping_cutoffs`` for a kept pair cut while it was
    pumped, ``link_cutoffs`` for a pumped pair cut after its pumping (before, every cut of a chain with pumping was
    counted as ``pumping_cutoffs``); both together are the cuts ``relinks`` lists. The ``"link"`` pumping cut-off
    alone makes links again only for pairs cut while pumped."""
    def counted(out, name):
        return sum(value for key, value in out.engine.counters.items() if key[0] == name)

    out = run(chain(3, 8, rounds=1, pairs=30), seed=5, every_attempt=True)
    pumping, linked = counted(out, "pumping_cutoffs"), counted(out, "link_cutoffs")
    assert pumping > 0 and linked > 0 and pumping + linked == len(out.records.relinks)
    alone = run(dataclasses.replace(chain(3, 8, rounds=1, pairs=30, policy="attempt"), pumping_cutoff="link"),
                seed=5, every_attempt=True)
    assert counted(alone, "link_cutoffs") == 0 and counted(alone, "pumping_cutoffs") == len(alone.records.relinks) > 0


def test_a_cutoff_that_discards_most_pairs_is_warned_of_in_pairs_not_attempts():
    """Under the policy the warning counts a link's makings per delivered pair (what is discarded is a pair, not
    an attempt); one link with the ``"link"`` pumping cut-off abandons no attempt either and is warned of so (the
    attempt estimate had counted each kept pair cut while pumped as an abandoned attempt)."""
    job = load_job_text(BASE + "num_links = 2\ntotal_distance_km = 200\ncutoff_s = 0.0007\ncutoff_policy = \"link\"\n")
    [line] = [w for w in job.warnings() if "cutoff_policy" in w]
    assert re.search(r'cutoff_s = 0.0007 with cutoff_policy = "link": over links of 100 km \(2 link\(s\)\) about '
                     r"[0-9.]+ of the pairs made are discarded, each link made about [0-9.e+]+ times per delivered pair",
                     line), line
    assert re.search(r"by the closed form, which leaves out segments discarded through swapped repeaters, a link's "
                     r"pair is swapped before its cut-off with probability about [0-9.e-]+ and half are with "
                     r"cutoff_s > [0-9.e-]+ s$", line), line
    assert not [w for w in load_job_text(BASE + BODY + 'cutoff_policy = "link"\n').warnings() if "cutoff_s" in w]
    text = BASE + "num_links = 1\ntotal_distance_km = 100\npurification_rounds = 2\n"
    section = load_job_text(text).chain
    link = section.link_spec(1, 100.0)
    cutoff_s = (section._least_swap_age_ps(link) + 2 * link.attempt_period_ps) * 0.999e-12  # one spare attempt
    one = load_job_text(text + f'cutoff_s = {cutoff_s!r}\npumping_cutoff = "link"\n')
    [line] = [w for w in one.warnings() if "cutoff_s =" in w]
    assert 'with pumping_cutoff = "link"' in line and "abandoned" not in line, line



def test_a_link_side_checkpointed_before_it_had_an_epoch_reads_its_links_first_making():
    """A link side pickled before the ``"link"`` pumping cut-off has no ``epoch`` in its ``__dict__`` (pickle restores
    that, not ``__init__``): it is its link's first making (the class default 0), stale once its node's link has
    been made again, and pickles again so."""
    fresh = LinkSide(chain(2, 1), 0, (0, 0), "right")
    old = LinkSide.__new__(LinkSide)
    old.__dict__.update({key: value for key, value in fresh.__dict__.items() if key != "epoch"})
    node_run = _NodeRun(current=(0, 0))
    for side in (fresh, old, pickle.loads(pickle.dumps(old))):
        node_run.epochs = {"right": 0}
        assert side.epoch == 0 and not side._stale(node_run)
        node_run.epochs = {"right": 1}
        assert side._stale(node_run)
    assert "epoch" not in pickle.loads(pickle.dumps(old)).__dict__


#: The chains of :func:`test_the_same_tables_on_one_two_and_four_ranks`: (swapping, num_links, cutoff_s).
RANK_CHAINS = [("nested", "[2, 4]", 0.0004), ("swap_asap", "[3, 4]", 0.0003)]


def rank_chain_args(swapping, links, cutoff_s):
    """The ``dqsim run`` arguments (no output) of one chain of :data:`RANK_CHAINS`: the example job under the
    link policy."""
    return ["run", "jobs/repeater_chain.toml", "--quiet", "--set", f"chain.num_links={links}", "--set",
            f"chain.total_distance_km=[{10.0 * int(links[-2])}]", "--set", f'chain.swapping="{swapping}"', "--set",
            f"chain.cutoff_s={cutoff_s}", "--set", 'chain.cutoff_policy="link"', "--set", "chain.num_pairs=6"]


@pytest.fixture(scope="module")
def rank_chain_runs(tmp_path_factory):
    """Every chain of :data:`RANK_CHAINS` on 2 and on 4 ranks, one launch per rank count (the chains one after the
    other, tests/mpi_scripts/dqsim_runs.py): ``{(chain, ranks): output path}``."""
    from mpi_helper import run_mpi

    folder = tmp_path_factory.mktemp("rank_chains")
    outputs = {}
    for ranks in (2, 4):
        lines = []
        for case in RANK_CHAINS:
            outputs[(case, ranks)] = folder / f"{case[0]}{ranks}.h5"
            lines += [*(["--then"] if lines else []), *rank_chain_args(*case), "-o", str(outputs[(case, ranks)])]
        run_mpi(ranks, ["tests/mpi_scripts/dqsim_runs.py", *lines], timeout_s=240)
    return outputs


@pytest.mark.parametrize("swapping, links, cutoff_s", RANK_CHAINS)
def test_the_same_tables_on_one_two_and_four_ranks(tmp_path, rank_chain_runs, swapping, links, cutoff_s):
    """The example job under the policy (links cut, segments discarded through repeaters on other ranks) gives
    the same pairs and summary tables on 1, 2 and 4 ranks."""
    from dqsim.io import open_run
    from mpi_helper import run_here
    from run_files import same_tables

    run_here([*rank_chain_args(swapping, links, cutoff_s), "-o", str(tmp_path / "r1.h5")])
    runs = [open_run(tmp_path / "r1.h5"), *(open_run(rank_chain_runs[((swapping, links, cutoff_s), ranks)])
                                            for ranks in (2, 4))]
    assert [run.attrs["num_ranks"] for run in runs] == [1, 2, 4]
    assert runs[0].attrs["total_restarts"] == 0
    for other in runs[1:]:
        same_tables(runs[0], other, ["pairs", "summary"])


def test_a_sweeps_link_cutoff_warning_samples_a_bounded_number_of_events(monkeypatch):
    """A 64 × 64 sweep under the policy: the samples of all 4,096 configurations share
    ``RELINK_ESTIMATE_TOTAL_EVENTS`` events (before 2026-12-07 (later), each was sampled up to 100,000 events:
    about 14 minutes at the start of ``dqsim run``), counted here, not timed, and every configuration is sampled,
    each with an equal share of the first pass's events left at most (before 2026-12-07 (afternoon), the first ten
    or so took 100,000 each and the rest got the closed form alone), then the worst of the first pass a whole
    sample each (100,000 events, as alone; on main after reppump every one had about 244 events and 1,000,000 were
    spent). The worst chains (two links, the longest) warn: 2 links of 98.5 km (309 makings) and of 100 km (288)
    differ by less than their samples' noise (s.e. about 15% at 100,000 events)."""
    handled, run_round = [0], relink_estimate._Round.run

    def counted(self, budget):
        over = run_round(self, budget)
        handled[0] += self.handled
        assert handled[0] <= relink_estimate.RELINK_ESTIMATE_TOTAL_EVENTS, "past the shared events"
        return over

    monkeypatch.setattr(relink_estimate._Round, "run", counted)
    sampled, sample = [], relink_estimate._sample

    def each(probability, links, rounds, max_events, seed, timing):
        sampled.append(max_events)
        return sample(probability, links, rounds, max_events, seed, timing)

    monkeypatch.setattr(relink_estimate, "_sample", each)
    links, totals = list(range(2, 66)), [200.0 - 3 * k for k in range(64)]
    job = load_job_text(BASE + f"num_links = {links}\ntotal_distance_km = {totals}\ncutoff_s = 0.0007\n"
                        'cutoff_policy = "link"\n')
    [line] = [w for w in job.warnings() if "cutoff_policy" in w]
    assert 0 < handled[0] <= relink_estimate.RELINK_ESTIMATE_TOTAL_EVENTS
    assert re.search(r"over links of (100|98\.5) km \(2 link\(s\)\)", line), line
    assert len(sampled) > 4096 and min(sampled[:4096]) > 0, "a configuration got the closed form alone"
    assert sampled[4096:4098] == [relink_estimate.RELINK_ESTIMATE_MAX_EVENTS] * 2, "the worst not sampled whole"


def test_a_sample_with_no_round_ended_falls_back_to_the_closed_form():
    """Where no round ends within the sample's events (chains of tens of thousands of links) the sample is a lower
    bound (the makings begun by then), which need not warn: the estimate is then at least the closed form's (before, the warning the
    closed form gave was lost). Here the events are cut to 50 (a shared budget spent)."""
    job = load_job_text(BASE + "num_links = 2\ntotal_distance_km = 200\ncutoff_s = 0.0007\ncutoff_policy = \"link\"\n")
    section, cutoff_ps = job.chain, round(0.0007e12)
    link = section.link_spec(2, 200.0)
    closed = section._makings_per_pair(2, section._keep_estimates(link, 2, cutoff_ps))
    c = section.node_spec().classical_processing_delay_ps
    lower, error = relink_makings_per_pair(link.success_probability, 2, delay_ps=link.delay_ps, processing_ps=c,
                                           herald_ps=link.herald_delay_ps, attempt_period_ps=link.attempt_period_ps,
                                           cutoff_ps=cutoff_ps, max_events=50, with_error=True)
    assert error == float("inf") and lower < 100 < closed
    budget = EventBudget(50)
    assert section._makings_estimate(link, 2, cutoff_ps, budget) == closed and budget.spent <= 50 == budget.spent
