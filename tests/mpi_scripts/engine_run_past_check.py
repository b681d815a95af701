"""Nodes of a rank run past a node that waits for a measurement (``RUN_PAST_BLOCKED``), a pair held back.

Usage: python engine_run_past_check.py OUT.npz [RUN_PAST_BLOCKED [OUT2.npz RUN_PAST_BLOCKED2 ...]]
(several runs in one launch, each saved to its own file; RUN_PAST_BLOCKED "0" or "1"; or
``main(OUT.npz, RUN_PAST_BLOCKED)`` through run_checks.py)

A line 0-1-...-7 of 1 µs links (on 2 ranks 0-3 on rank 0, 4-7 on rank 1:
3 and 4 are boundary nodes). Each round ``k`` (every 20 µs): node 3 makes a
perfect pair with node 4's qubit (shared: it spans the ranks), node 4
measures its half 5 µs later and waits for the outcome; node 5 makes a
perfect pair with node 6's qubit, and both measure their half 6.5 µs after
the round's start. Node 0 ticks every 10 ns for the first 6 µs of each
round, so on 2 ranks rank 0 passes node 4's measurement time late, while
its promise to rank 1 (its ticks plus 3 µs) lets rank 1 run past 6.5 µs.
With ``RUN_PAST_BLOCKED`` rank 1 then runs node 6's measurement while node 5
waits (6.5 µs is 1.5 µs after node 4's time, and node 5 is 1 µs from node 4):
node 6's measurement must wait for node 5's, which comes first in the
global order, or the pair's two outcomes come from node 6's draw instead of
node 5's. Saves the merged timeline (rank 0) and the number of small states
installed ahead of the operation that carries them (:meth:`Simulator._carry_first`);
the test compares 1, 2 (both ways) and 4 ranks.
"""

import sys

import numpy as np

from dqsim import comm as comm_mod
from dqsim.engine import simulator

NAMES = tuple(f"n{i}" for i in range(8))
ROUNDS = 12
ROUND_PS = 20_000_000


def pair_maker(ctx, here, there):
    for k in range(ROUNDS):
        yield ctx.wait(k * ROUND_PS - ctx.now_ps)
        ctx.bell_pair(here, there, 1.0)


def measurer(ctx, qubit, offset_ps):
    for k in range(ROUNDS):
        yield ctx.wait(k * ROUND_PS + offset_ps - ctx.now_ps)
        (bit,) = yield ctx.measure([qubit])
        ctx.log("bits", str(bit))
        ctx.reset([qubit])


def ticker(ctx):
    for k in range(ROUNDS):
        yield ctx.wait(k * ROUND_PS - ctx.now_ps)
        for _ in range(600):
            yield ctx.wait(10_000)


def bits_of(timeline) -> np.ndarray:
    """The logged bits, in timeline order."""
    return np.array([int(detail) for _t, _n, kind, detail in timeline if kind == "bits"])


def main(out_path, mode="1"):
    """One run with ``RUN_PAST_BLOCKED`` on (``mode`` "1") or off ("0"), put back as it was afterwards."""
    saved, simulator.RUN_PAST_BLOCKED = simulator.RUN_PAST_BLOCKED, mode != "0"
    try:
        _run(out_path)
    finally:
        simulator.RUN_PAST_BLOCKED = saved


def _run(out_path):
    # beside this script (imported here: pytest's doctest pass imports this file as a module)
    from engine_horizon_check import line_simulator, save_timeline
    comm = comm_mod.init()
    sim = line_simulator(comm, NAMES, qubit_owner=list(range(8)), seed=7)
    installed = [0]
    carry_first = sim._carry_first

    def counted(op):  # how often a state was installed ahead of the operation that carries it
        before = len(sim._installed)
        applied = carry_first(op)
        installed[0] += len(sim._installed) > before
        return applied

    sim._carry_first = counted
    sim.spawn(0, ticker)
    sim.spawn(3, pair_maker, 3, 4)
    sim.spawn(4, measurer, 4, 5_000_000)
    sim.spawn(5, pair_maker, 5, 6)
    sim.spawn(5, measurer, 5, 6_500_000)
    sim.spawn(6, measurer, 6, 6_500_000)
    stats = sim.run()
    total = comm.allreduce_sum(installed[0])
    save_timeline(out_path, sim, stats, bits=bits_of, installed=lambda _timeline: np.array([total]))


if __name__ == "__main__":
    args = sys.argv[1:] if len(sys.argv) > 2 else [*sys.argv[1:], "1"]
    for path, mode in zip(args[::2], args[1::2]):
        main(path, mode)
