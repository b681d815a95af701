"""A shared small state handed back to its rank while that rank has operations on it in flight.

Usage: python engine_handback_check.py OUT.npz [PIPELINED_EXCHANGE [OUT2.npz PIPELINED_EXCHANGE2 ...]]
(several runs in one launch, each saved to its own file; or ``main(OUT.npz, PIPELINED_EXCHANGE)`` through
run_checks.py)

A line a-b-c-d of 1 µs links (on 2 ranks a, b on rank 0, c, d on rank 1: b
and c are boundary nodes, a is not). b makes a perfect Bell pair with a's
qubit at t = 0 (shared: b is a boundary node), measures its half at 10 ns
without waiting and reads the bit 1 µs later. a ticks every nanosecond, flips its qubit at 150 ns and
measures it without waiting at 300 ns, then sends the outcome to c, which
reads it. c first sleeps 0.3 s of real time, so on 2 ranks rank 0 posts the
exchange that resolves b's measurement (at 64 events, about 60 ns) and,
with ``PIPELINED_EXCHANGE``, runs a's events up to 300 ns while it is in
flight: the flip and the measurement are issued while a's qubit is shared,
and the exchange hands the group back to rank 0 (all its qubits on a
non-boundary node of rank 0) before they are sent. The flip must then carry
the state back to every rank, or rank 1 reads a bit of a state it dropped.
PIPELINED_EXCHANGE "0": the lockstep. Saves the merged timeline (rank 0);
the test compares 1, 2 (both ways) and 4 ranks.
"""

import sys
import time

import numpy as np

from dqsim import comm as comm_mod
from dqsim.engine import simulator
from dqsim.state.gates import gate_op

NAMES = ("a", "b", "c", "d")


def maker(ctx):
    ctx.bell_pair(1, 0, 1.0)
    yield ctx.wait(10_000)
    outcome = yield ctx.measure_later([1])
    yield ctx.wait(1_000_000)  # reading at once would block b, and so rank 0, at 10 ns
    (bits,) = yield ctx.read_outcomes([outcome])
    ctx.log("b-bits", str(bits))


def flipper(ctx):
    for i in range(1, 301):
        yield ctx.wait(1_000)
        if i == 150:
            ctx.apply(gate_op("x", [0]))
        ctx.log("tick", str(i))
    outcome = yield ctx.measure_later([0])
    ctx.send(2, "outcome", outcome)
    (bits,) = yield ctx.read_outcomes([outcome])
    ctx.log("a-bits", str(bits))


def sleeper(ctx):
    time.sleep(0.3)
    outcome = (yield ctx.receive("outcome")).payload
    ctx.log("c-bits", str((yield ctx.read_outcomes([outcome]))[0]))


def bits_of(timeline) -> np.ndarray:
    """The logged bits, in timeline order."""
    return np.array([int(detail.strip("(),")) for _t, _n, kind, detail in timeline if kind.endswith("bits")])


def main(out_path, mode="1"):
    """One run with ``PIPELINED_EXCHANGE`` on (``mode`` "1") or off ("0"), put back as it was afterwards."""
    # beside this script (imported here: pytest's doctest pass imports this file as a module)
    from engine_horizon_check import line_simulator, save_timeline
    saved, simulator.PIPELINED_EXCHANGE = simulator.PIPELINED_EXCHANGE, mode != "0"
    try:
        sim = line_simulator(comm_mod.init(), NAMES, qubit_owner=[0, 1, 2, 3], seed=1)
        for node, process in ((1, maker), (0, flipper), (2, sleeper)):
            sim.spawn(node, process)
        save_timeline(out_path, sim, sim.run(), bits=bits_of)
    finally:
        simulator.PIPELINED_EXCHANGE = saved


if __name__ == "__main__":
    args = sys.argv[1:] if len(sys.argv) > 2 else [*sys.argv[1:], "1"]
    for path, mode in zip(args[::2], args[1::2]):
        main(path, mode)
