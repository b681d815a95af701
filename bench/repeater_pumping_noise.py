"""The pumped estimate's odds under the job's noise against simulated links and chains.

    PYTHONPATH=$PWD .venv/bin/python bench/repeater_pumping_noise.py [pairs]

Nodes with T1 = 10 ms, T2 = 1 ms, gate errors 0.005 (one qubit) and 0.04 (two), readout 0.03; 10-km links of
source fidelity 0.9 (``tests/test_pumping_odds.py``, ``tests/test_repeater_cutoff_link.py``). Prints

* one link without a cut-off (400 pairs, seed 3): the rounds' odds ``s_j`` as the estimate takes them now
  (``ChainSection._pumping_success``: :func:`dqsim.protocols.pumping_odds.mean_pumping`) and before (the ideal
  Werner odds), the kept fidelity after each round, and the simulated share of turns that pass every round
  against ``∏ s_j``, with its binomial standard error;
* chains of 2, 3 and 4 links under ``cutoff_policy = "link"`` (cut-off least swap age + 4.5, 7.5, 8.5 attempt
  periods; ``pairs`` pairs, seed 7): simulated makings of a link per delivered pair against the warning's estimate
  now (``_makings_estimate``, each round's odds from the kept pair's waits) and with the ideal odds, z of each.
"""

from __future__ import annotations

import math
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from repeater_pumping_estimate import simulated  # noqa: E402

from dqsim import backend as backend_mod  # noqa: E402
from dqsim import comm as comm_mod  # noqa: E402
from dqsim.jobs import load_job_text  # noqa: E402
from dqsim.network import relink_estimate  # noqa: E402
from dqsim.scenarios import repeater  # noqa: E402

BASE = '[run]\nname = "c"\nscenario = "repeater"\n[chain]\n'
LINK = "[chain.link]\nsource_fidelity = 0.9\n"
NODE = ("[chain.node]\nt1_s = 0.01\nt2_s = 0.001\ngate_1q_error_probability = 0.005\n"
        "gate_2q_error_probability = 0.04\nmeasure_error_probability = 0.03\n")


def one_link() -> None:
    print("| protocol, rounds | odds now | odds before (ideal) | kept fidelity now | simulated passing share | "
          "∏ s_j now | ∏ s_j before |")
    print("|---|---|---|---|---|---|---|")
    for variant, rounds in (("bbpssw", 1), ("bbpssw", 2), ("dejmps", 2)):
        text = (BASE + f'num_links = 1\ntotal_distance_km = 10\npurification_rounds = {rounds}\n'
                f'purification = "{variant}"\nnum_pairs = 400\n' + LINK)
        job = load_job_text(text + NODE)
        link = job.chain.link_spec(1, 10.0)
        odds, fidelities = job.chain._noisy_pumping(link)
        ideal = load_job_text(text).chain._pumping_success(link)
        out = repeater.run_chain(repeater.chain_spec(job, 1, 10.0), comm=comm_mod.SingleComm(),
                                 backend=backend_mod.select("numpy"), seed=3)
        turns = sum(record.purify_failures for record in out.records.links) + len(out.pairs)
        share = len(out.pairs) / turns
        error = math.sqrt(math.prod(odds) * (1 - math.prod(odds)) / turns)
        fmt = ", ".join
        print(f"| {variant}, {rounds} | {fmt(f'{x:.4f}' for x in odds)} | {fmt(f'{x:.4f}' for x in ideal)} | "
              f"{fmt(f'{x:.4f}' for x in fidelities)} | {share:.4f} ± {error:.4f} ({turns} turns) | "
              f"{math.prod(odds):.4f} | {math.prod(ideal):.4f} |", flush=True)


def chains(pairs: int) -> None:
    print("| links | cut-off (s) | simulated | estimate now | z | CPU s | ideal odds (before) | z |")
    print("|---|---|---|---|---|---|---|---|")
    for links, spare in ((2, 4.5), (3, 7.5), (4, 8.5)):
        text = BASE + f"num_links = {links}\ntotal_distance_km = {10 * links}\npurification_rounds = 1\n"
        section = load_job_text(text + LINK + NODE).chain
        link = section.link_spec(links, 10.0 * links)
        cutoff_s = (section._least_swap_age_ps(link, links) + spare * link.attempt_period_ps) * 1e-12
        job = load_job_text(text + f'cutoff_s = {cutoff_s!r}\ncutoff_policy = "link"\nnum_pairs = {pairs}\n'
                            + LINK + NODE)
        section, cutoff_ps = job.chain, round(cutoff_s * 1e12)
        timing = dict(delay_ps=link.delay_ps, processing_ps=0, herald_ps=link.herald_delay_ps,
                      attempt_period_ps=link.attempt_period_ps, cutoff_ps=cutoff_ps, with_error=True)
        start = time.process_time()
        now = relink_estimate.relink_makings_per_pair(link.success_probability, links,
                                                      pumping=section._pumping_success(link),
                                                      pumping_odds=section._pumping_odds(link), **timing)
        seconds = time.process_time() - start
        ideal = load_job_text(BASE + "num_links = 1\ntotal_distance_km = 10\npurification_rounds = 1\n"
                              + LINK).chain._pumping_success(link)
        before = relink_estimate.relink_makings_per_pair(link.success_probability, links, pumping=ideal, **timing)
        sim, spread = simulated(job, links, pairs, 7)
        print(f"| {links} | {cutoff_s:.4g} | {sim:.3f} ± {spread:.3f} | {now[0]:.3f} ± {now[1]:.3f} | "
              f"{(sim - now[0]) / math.hypot(spread, now[1]):+.2f} | {seconds:.2f} | {before[0]:.3f} ± "
              f"{before[1]:.3f} | {(sim - before[0]) / math.hypot(spread, before[1]):+.2f} |", flush=True)


if __name__ == "__main__":
    one_link()
    chains(int(sys.argv[1]) if len(sys.argv) > 1 else 150)
