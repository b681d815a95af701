"""The "link" cut-off policy's warning estimate with pumping against simulated chains: makings of a link per pair.

    PYTHONPATH=$PWD .venv/bin/python bench/repeater_pumping_estimate.py [pairs]
    PYTHONPATH=$PWD .venv/bin/python bench/repeater_pumping_estimate.py --stopped [samples]

For each chain (10-km links of the default job, source fidelity 0.9, one pumping round unless said, ``cutoff_policy
= "link"``, the cut-off ``spare`` attempt periods past the least swap age) it prints the simulated makings of a
link per delivered pair (1 and each time a link's initiator made it again, ``ChainNode._relink`` of its right
side, over ``pairs`` pairs, seeds 5 and 7; mean ± standard error over the rounds), the warning's estimate
(``ChainSection._makings_estimate``: :func:`dqsim.network.relink_estimate.relink_makings_per_pair` with the pumping
rounds' odds, with its standard error and CPU time), the z-score of the two seeds' mean against it and the closed
form the warning took for pumped chains before (``_makings_per_pair`` of ``_keep_estimates``).

``--stopped``: the mean over ``samples`` seeds of a sample stopped after 300, 1,000 and 3,000 events, its round in
progress dropped, counted as ended (the estimate's way) or renewal-reward (makings over the events per round
ended), against 6,000 rounds of the model.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import load_job_text
from dqsim.network import relink_estimate
from dqsim.protocols import repeater as protocol
from dqsim.scenarios import repeater

BASE = '[run]\nname = "c"\nscenario = "repeater"\n[chain]\n'

#: (swapping, links, spare attempt periods, pumping rounds, source rate in Hz or None)
CHAINS = [("swap_asap", 2, 4.5, 1, None), ("swap_asap", 2, 2.5, 1, None), ("swap_asap", 3, 7.5, 1, None),
          ("swap_asap", 3, 5.5, 1, None), ("swap_asap", 4, 8.5, 1, None), ("swap_asap", 4, 6.5, 1, None),
          ("nested", 4, 8.5, 1, None), ("swap_asap", 3, 6.5, 2, None), ("swap_asap", 2, 2.5, 1, 5000.0)]


def job_text(swapping, links, rounds, source_hz, extra=""):
    """The chain's job (``extra``: more ``[chain]`` keys)."""
    link = "[chain.link]\nsource_fidelity = 0.9\n" + (f"source_rate_hz = {source_hz}\n" if source_hz else "")
    return (BASE + f'num_links = {links}\ntotal_distance_km = {10 * links}\nswapping = "{swapping}"\n'
            f"purification_rounds = {rounds}\n{extra}{link}")


def cutoff_of(swapping, links, spare, rounds, source_hz):
    """The cut-off, s: ``spare`` attempt periods past the least swap age."""
    section = load_job_text(job_text(swapping, links, rounds, source_hz)).chain
    link = section.link_spec(links, 10.0 * links)
    return (section._least_swap_age_ps(link, links) + spare * link.attempt_period_ps) * 1e-12


def simulated(job, links, pairs, seed):
    """Makings of a link per delivered pair of one simulated chain: mean and standard error over its rounds."""
    made, relink = {}, protocol.ChainNode._relink

    def counted(self, ctx, side, making, *, tell, cut=False):
        if side == "right":
            made[self.pair_index] = made.get(self.pair_index, 0) + 1
        return relink(self, ctx, side, making, tell=tell, cut=cut)

    protocol.ChainNode._relink = counted
    try:
        repeater.run_chain(repeater.chain_spec(job, links, 10.0 * links), comm=comm_mod.SingleComm(),
                           backend=backend_mod.select("numpy"), seed=seed)
    finally:
        protocol.ChainNode._relink = relink
    per_pair = 1 + np.array([made.get(index, 0) for index in range(pairs)]) / links
    return per_pair.mean(), per_pair.std(ddof=1) / np.sqrt(pairs)


def compare(pairs: int) -> None:
    print("| chain | pumping rounds | cut-off (s) | simulated, seed 5 | simulated, seed 7 | estimate | CPU s | z | "
          "closed form (before) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for swapping, links, spare, rounds, source_hz in CHAINS:
        cutoff_s = cutoff_of(swapping, links, spare, rounds, source_hz)
        job = load_job_text(job_text(swapping, links, rounds, source_hz, f'cutoff_s = {cutoff_s!r}\n'
                                     f'cutoff_policy = "link"\nnum_pairs = {pairs}\n'))
        section, cutoff_ps = job.chain, round(cutoff_s * 1e12)
        link = section.link_spec(links, 10.0 * links)
        start = time.process_time()
        estimate, error = relink_estimate.relink_makings_per_pair(
            link.success_probability, links, delay_ps=link.delay_ps,
            processing_ps=section.node_spec().classical_processing_delay_ps, herald_ps=link.herald_delay_ps,
            attempt_period_ps=link.attempt_period_ps, cutoff_ps=cutoff_ps, nested=swapping == "nested",
            pumping=section._pumping_success(link), source_ps=link.effective_source_period_ps, with_error=True)
        seconds = time.process_time() - start
        closed = section._makings_per_pair(links, section._keep_estimates(link, links, cutoff_ps))
        sims = [simulated(job, links, pairs, seed) for seed in (5, 7)]
        both = (sims[0][0] + sims[1][0]) / 2
        z = (both - estimate) / math.hypot(math.hypot(sims[0][1], sims[1][1]) / 2, error)
        name = f"{links} {swapping}" + (f", source {1e6 / source_hz:g} us" if source_hz else "")
        cells = " | ".join(f"{mean:.3f} ± {spread:.3f}" for mean, spread in sims)
        print(f"| {name} | {rounds} | {cutoff_s:.4g} | {cells} | {estimate:.3f} ± {error:.3f} | {seconds:.2f} | "
              f"{z:+.2f} | {closed:.3f} |", flush=True)


def stopped(samples: int) -> None:
    print("| chain | events | dropped | counted as ended | renewal-reward | 6,000 rounds |")
    print("|---|---|---|---|---|---|")
    for swapping, links, spare, rounds, source_hz in [("swap_asap", 2, 2.5, 1, None), ("swap_asap", 3, 5.5, 1, None)]:
        section = load_job_text(job_text(swapping, links, rounds, source_hz)).chain
        link = section.link_spec(links, 10.0 * links)
        timing = dict(delay_ps=link.delay_ps, processing_ps=section.node_spec().classical_processing_delay_ps,
                      herald_ps=link.herald_delay_ps, period_ps=link.attempt_period_ps,
                      cutoff_ps=round(cutoff_of(swapping, links, spare, rounds, source_hz) * 1e12),
                      nested=False, pumping=section._pumping_success(link), source_ps=0)
        long = relink_estimate._sample(link.success_probability, links, 6000, 10 ** 9, 99, timing)[0]
        reference = f"{np.mean(long):.3f} ± {np.std(long) / np.sqrt(len(long)):.3f}"
        for events in (300, 1000, 3000):
            values = []
            for seed in range(samples):
                per_round, unfinished, _ = relink_estimate._sample(link.success_probability, links, 100_000,
                                                                   events, seed, timing)
                if per_round:
                    total = math.fsum(per_round) + unfinished / links
                    ended = len(per_round)
                    values.append((math.fsum(per_round) / ended, total / (ended + 1), total / ended))
            values = np.array(values)
            cells = " | ".join(f"{values[:, k].mean():.3f} ± {values[:, k].std() / np.sqrt(len(values)):.3f}"
                               for k in range(3))
            print(f"| {links} {swapping}, spare {spare} | {events:,} | {cells} | {reference} |", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--stopped":
        stopped(int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
    else:
        compare(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
