"""Is the pumped estimate's z = -1.7 on 3 links at 5.1e-4 s chance or a bias? More seeds against a long model run.

    PYTHONPATH=$PWD .venv/bin/python bench/repeater_pumping_z.py [pairs] [seeds]

For each chain (10-km links, source fidelity 0.9, one pumping round, ``cutoff_policy = "link"``, the cut-off
``spare`` attempt periods past the least swap age, as ``bench/repeater_pumping_estimate.py``) it prints the
attempt model's makings of a link per delivered pair from 20,000 rounds and no event limit (its own mean to a few
per mille, so the z below is the simulation's spread against the model, not the warning's 2,000-round sample's),
then each seed's simulated makings (``pairs`` pairs, seeds 11, 13, ...) with its z against the model, and the
pooled mean's z. Seeds are independent chains: a bias shows as z of one sign growing with the pooled pairs, chance
as z spread about 0 with unit spread.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from dqsim.jobs import load_job_text
from dqsim.network import relink_estimate

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from repeater_pumping_estimate import cutoff_of, job_text, simulated  # noqa: E402

#: (swapping, links, spare attempt periods, pumping rounds)
CHAINS = [("swap_asap", 3, 5.5, 1), ("swap_asap", 3, 4.5, 1), ("swap_asap", 3, 7.5, 1), ("swap_asap", 2, 2.5, 1)]


def model(section, link, links, cutoff_ps, swapping, rounds=20_000):
    """The attempt model's mean and standard error over ``rounds`` rounds (no event limit), seed 12345."""
    return relink_estimate.relink_makings_per_pair(
        link.success_probability, links, delay_ps=link.delay_ps,
        processing_ps=section.node_spec().classical_processing_delay_ps, herald_ps=link.herald_delay_ps,
        attempt_period_ps=link.attempt_period_ps, cutoff_ps=cutoff_ps, nested=swapping == "nested",
        pumping=section._pumping_success(link), source_ps=link.effective_source_period_ps, rounds=rounds,
        max_events=10 ** 9, seed=12345, with_error=True)


def main(pairs: int, seeds: int) -> None:
    for swapping, links, spare, rounds in CHAINS:
        cutoff_s = cutoff_of(swapping, links, spare, rounds, None)
        job = load_job_text(job_text(swapping, links, rounds, None, f'cutoff_s = {cutoff_s!r}\n'
                                     f'cutoff_policy = "link"\nnum_pairs = {pairs}\n'))
        section = job.chain
        link = section.link_spec(links, 10.0 * links)
        start = time.process_time()
        mean, error = model(section, link, links, round(cutoff_s * 1e12), swapping)
        print(f"## {links} {swapping}, spare {spare}, cut-off {cutoff_s:.4g} s: model {mean:.3f} ± {error:.3f} "
              f"(20,000 rounds, {time.process_time() - start:.1f} s CPU)", flush=True)
        values, errors = [], []
        for index in range(seeds):
            seed = 11 + 2 * index
            start = time.process_time()
            sim, spread = simulated(job, links, pairs, seed)
            values.append(sim)
            errors.append(spread)
            z = (sim - mean) / math.hypot(spread, error)
            print(f"seed {seed}: {sim:.3f} ± {spread:.3f}, z = {z:+.2f} ({time.process_time() - start:.0f} s CPU)",
                  flush=True)
        pooled = float(np.mean(values))
        pooled_error = math.sqrt(sum(e * e for e in errors)) / len(errors)
        zs = [(v - mean) / math.hypot(e, error) for v, e in zip(values, errors)]
        print(f"pooled {pooled:.3f} ± {pooled_error:.3f} ({seeds} seeds x {pairs} pairs): "
              f"z = {(pooled - mean) / math.hypot(pooled_error, error):+.2f}; seeds' z mean {np.mean(zs):+.2f}, "
              f"spread {np.std(zs, ddof=1):.2f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300, int(sys.argv[2]) if len(sys.argv) > 2 else 6)
