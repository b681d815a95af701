"""Delivered rate and mean fidelity of repeater chains under the two cut-off policies, a few cut-offs.

``cutoff_policy = "attempt"`` abandons the whole chain attempt when a pair passes its cut-off; ``"link"``
discards that pair (or the segment it was swapped into) and makes its link(s) again (dqsim.protocols.repeater,
"Memory cut-off"). One rank, numpy, fixed seeds; 10-km links (p = 0.256, T = 1.3 d), c = 1 us, F0 = 0.97,
T2 = 5 ms. Prints one line per chain and cut-off: rate (pairs over the last delivery), mean F with its s.e.,
the ratio of the rates and, under "link", the pairs cut per delivered pair.

    PYTHONPATH=$PWD .venv/bin/python bench/repeater_cutoff_policy_rates.py [PAIRS]
"""

from __future__ import annotations

import math
import sys

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.network.link import LinkSpec
from dqsim.network.node import NodeSpec
from dqsim.protocols.repeater import ChainSpec
from dqsim.scenarios.repeater import run_chain

CHAINS = ((2, "swap_asap"), (4, "swap_asap"), (4, "nested"))
SPARE_PERIODS = (1.5, 3.5, 7.5)  # cut-off = the top repeater's least swap age + this many attempt periods


def main(pairs: int) -> None:
    numpy = backend_mod.select("numpy")
    link0 = LinkSpec(distance_km=10.0, dark_count_rate_hz=0.0)
    period = round(1.3 * link0.delay_ps)
    link = LinkSpec(distance_km=10.0, dark_count_rate_hz=0.0, source_fidelity=0.97, source_period_ps=period)
    node = NodeSpec(name="n", t2_s=5e-3, classical_processing_delay_ps=1000)
    h = link.delay_ps + node.classical_processing_delay_ps
    print(f"p = {link.success_probability:.4f}, d = {link.delay_ps / 1e6:.3f} us, T = {period / 1e6:.3f} us, "
          f"{pairs} pairs per run")
    print(f"{'links':>5} {'swapping':>9} {'cutoff us':>9} | {'rate attempt':>12} {'F attempt':>16} | "
          f"{'rate link':>10} {'F link':>16} | {'link/attempt':>12} {'cuts/pair':>9}")
    for links, swapping in CHAINS:
        top = links.bit_length() - 1 if swapping == "nested" else 1
        least = h + sum(2 ** (level - 2) * link.delay_ps + node.classical_processing_delay_ps
                        for level in range(2, top + 1))
        for spare in SPARE_PERIODS:
            cutoff = int(least + spare * period)
            out = {}
            for policy in ("attempt", "link"):
                chain = ChainSpec(links=[link] * links, node=node, swapping=swapping, cutoff_ps=cutoff,
                                  num_pairs=pairs, cutoff_policy=policy, max_restarts=10**6)
                out[policy] = run_chain(chain, comm=comm_mod.SingleComm(), backend=numpy, seed=17,
                                        every_attempt=policy == "link")
            f = {k: (float(np.mean(v.fidelities)), float(np.std(v.fidelities, ddof=1)) / math.sqrt(pairs))
                 for k, v in out.items()}
            cuts = len(out["link"].records.relinks) / pairs
            print(f"{links:>5} {swapping:>9} {cutoff / 1e6:>9.2f} | {out['attempt'].rate_hz:>12.1f} "
                  f"{f['attempt'][0]:>9.5f}±{f['attempt'][1]:.5f} | {out['link'].rate_hz:>10.1f} "
                  f"{f['link'][0]:>9.5f}±{f['link'][1]:.5f} | {out['link'].rate_hz / out['attempt'].rate_hz:>12.3f} "
                  f"{cuts:>9.2f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
