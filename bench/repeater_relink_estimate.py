"""The "link" cut-off policy's warning estimate against simulated chains: makings of a link per delivered pair.

    PYTHONPATH=$PWD .venv/bin/python bench/repeater_relink_estimate.py [pairs]

For each chain (10-km links of the default job, ``cutoff_policy = "link"``) it prints the simulated makings per
link per delivered pair (each delivering link record's ``elementary_pairs``, which count the link's discarded
makings, over ``pairs`` pairs, seeds 5 and 7; mean ± standard error over the rounds), the warning's estimate
(``ChainSection._makings_estimate``: :func:`dqsim.network.relink_estimate.relink_makings_per_pair`, the attempt
model sampled, with its standard error and CPU time) and the two-link closed form it replaced there
(``_makings_per_pair`` of ``_keep_estimates``), with the share of the pairs made that were discarded, ``1 − 1/m``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import load_job_text
from dqsim.network.relink_estimate import relink_makings_per_pair
from dqsim.scenarios import repeater

CHAINS = [("swap_asap", 2, 1.5e-4), ("swap_asap", 2, 3e-4), ("swap_asap", 3, 3e-4), ("swap_asap", 4, 2.5e-4),
          ("swap_asap", 4, 4e-4), ("nested", 4, 4e-4)]


def simulated(job, links, seed):
    """Makings per link per delivered pair of one simulated chain: mean and standard error over its rounds."""
    out = repeater.run_chain(repeater.chain_spec(job, links, 10.0 * links), comm=comm_mod.SingleComm(),
                             backend=backend_mod.select("numpy"), seed=seed)
    made = np.zeros(len(out.pairs))
    for record in out.records.links:
        made[record.pair_index] += record.elementary_pairs / links
    return made.mean(), made.std(ddof=1) / np.sqrt(made.size)


def main(pairs: int) -> None:
    print("| chain | cut-off (s) | simulated, seed 5 | simulated, seed 7 | estimate (sampled) | CPU s | closed form |")
    print("|---|---|---|---|---|---|---|")
    for swapping, links, cutoff_s in CHAINS:
        job = load_job_text('[run]\nname = "c"\nscenario = "repeater"\n[chain]\n'
                            f"num_links = {links}\ntotal_distance_km = {10 * links}\ncutoff_s = {cutoff_s!r}\n"
                            f'cutoff_policy = "link"\nswapping = "{swapping}"\nnum_pairs = {pairs}\n')
        section, cutoff_ps = job.chain, round(cutoff_s * 1e12)
        link = section.link_spec(links, 10.0 * links)
        start = time.process_time()
        mean, error = relink_makings_per_pair(
            link.success_probability, links, delay_ps=link.delay_ps,
            processing_ps=section.node_spec().classical_processing_delay_ps, herald_ps=link.herald_delay_ps,
            attempt_period_ps=link.attempt_period_ps, cutoff_ps=cutoff_ps, nested=swapping == "nested",
            with_error=True)
        seconds = time.process_time() - start
        closed = section._makings_per_pair(links, section._keep_estimates(link, links, cutoff_ps))
        sims = [simulated(job, links, seed) for seed in (5, 7)]
        cells = [f"{m:.3f} ± {s:.3f} ({1 - 1 / m:.3f})" for m, s in sims]
        print(f"| {links} {swapping} | {cutoff_s:g} | {cells[0]} | {cells[1]} | {mean:.3f} ± {error:.3f} "
              f"({1 - 1 / mean:.3f}) | {seconds:.2f} | {closed:.3f} ({1 - 1 / closed:.3f}) |", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
