"""Benchmark: memory a repeater run holds as its cut-off abandons chain attempts.

A benchmark, not a test: it measures and prints, it asserts nothing
(``tests/test_repeater_cutoff_memory.py`` is the test).

Workload: ``--links`` links of 1 km (no dark counts), ideal nodes, ``--purification-rounds`` pumping rounds,
a cut-off of ``--cutoff-periods`` attempt periods (short enough that nearly every chain attempt is
abandoned), one pair and ``--restarts`` as ``max_restarts``: the run ends with the "abandoned N times"
error. Python's allocations (``tracemalloc``, after ``gc.collect()``) are read at two counts of abandoned
attempts (node A's, at the engine's exchanges: a sixth and five sixths of ``--restarts``); printed: both, and
the growth per abandoned attempt between them. Run it with ``PYTHONPATH`` set to the checkout to measure.

Example (from the repository root)::

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD .venv/bin/python bench/cutoff_memory.py --links 32 --restarts 1200
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc


def main(argv=None) -> int:
    from dqsim import comm as comm_mod  # noqa: PLC0415
    from dqsim.errors import DqsimError  # noqa: PLC0415
    from dqsim.network.link import LinkSpec  # noqa: PLC0415
    from dqsim.network.node import NodeSpec  # noqa: PLC0415
    from dqsim.protocols.repeater import ChainSpec  # noqa: PLC0415
    from dqsim.scenarios import repeater  # noqa: PLC0415

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--links", type=int, default=32)
    p.add_argument("--restarts", type=int, default=1200)
    p.add_argument("--purification-rounds", type=int, default=0)
    p.add_argument("--cutoff-periods", type=float, default=2.0)
    args = p.parse_args(argv)
    link = LinkSpec(distance_km=1.0, dark_count_rate_hz=0.0)
    chain = ChainSpec(links=[link] * args.links, node=NodeSpec(name="n"), num_pairs=1,
                      cutoff_ps=int(args.cutoff_periods * link.attempt_period_ps), max_restarts=args.restarts,
                      purification_rounds=args.purification_rounds)
    marks = [args.restarts // 6, args.restarts * 5 // 6]
    traced: dict[int, int] = {}

    def on_window(_time_ps, _windows, _fraction, abandoned):
        for mark in marks:
            if abandoned is not None and abandoned >= mark and mark not in traced:
                gc.collect()
                traced[mark] = tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    started = time.process_time()
    try:
        repeater.run_chain(chain, comm=comm_mod.SingleComm(), seed=1, on_window=on_window)
    except DqsimError:
        pass
    first, last = traced[marks[0]], traced[marks[1]]
    print(f"{args.links} links, {args.purification_rounds} pumping round(s): traced {first / 1e6:.2f} MB after "
          f"{marks[0]} abandoned attempts, {last / 1e6:.2f} MB after {marks[1]}: "
          f"{(last - first) / (marks[1] - marks[0]):.0f} B per attempt (CPU {time.process_time() - started:.1f} s, "
          "tracemalloc on)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
