"""Measurements a node does not wait for (``measure_later``) and reads of their bits, on 1, 2 or 4 ranks.

Usage: python measure_later_check.py OUT.npz

A line a-b-c-d of 1 µs links (contiguous blocks: b and c are boundary nodes
on 2 ranks). b makes a perfect Bell pair with c at t = 0; at 1 µs c measures
its half without waiting and at once reads the bits (on several ranks the
measurement waits for a flush, so the read blocks c), then sends the outcome
to a, which reads it on arrival; b measures its half with a blocking
measurement at 3 µs; d ticks every 50 ns meanwhile. Saves the merged
timeline (rank 0); the test compares 1, 2 and 4 ranks.
"""

import sys

import numpy as np

from dqsim import comm as comm_mod


NAMES = ("a", "b", "c", "d")


def maker(ctx):
    ctx.bell_pair(1, 2, 1.0)
    yield ctx.wait(3_000_000)
    (bit,) = yield ctx.measure([1])
    ctx.log("b-bit", str(bit))


def later(ctx):
    yield ctx.wait(1_000_000)
    outcome = yield ctx.measure_later([2])
    (bits,) = yield ctx.read_outcomes([outcome])
    ctx.log("c-bits", str(bits))
    ctx.send(0, "outcome", outcome)


def reader(ctx):
    msg = yield ctx.receive("outcome")
    (bits,) = yield ctx.read_outcomes([msg.payload])
    ctx.log("a-bits", str(bits))


def ticker(ctx, period_ps, count):
    for i in range(count):
        yield ctx.wait(period_ps)
        ctx.log("tick", str(i))


def main(out_path):
    # beside this script (imported here: pytest's doctest pass imports this file as a module)
    from engine_horizon_check import line_simulator, save_timeline
    comm = comm_mod.init()
    sim = line_simulator(comm, NAMES, qubit_owner=[0, 1, 2, 3], seed=2)
    sim.spawn(1, maker)
    sim.spawn(2, later)
    sim.spawn(0, reader)
    sim.spawn(3, ticker, 50_000, 200)
    save_timeline(out_path, sim, sim.run(), bits=lambda timeline: np.array(
        [int(d.strip("(),")) for _t, _n, k, d in timeline if k.endswith("bits") or k == "b-bit"]))


if __name__ == "__main__":
    main(sys.argv[1])
