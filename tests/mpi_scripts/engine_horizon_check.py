"""Event order across ranks when ranks run to different horizons; saves the timeline (rank 0).

Usage: python engine_horizon_check.py OUT.npz

A line a-b-c-d-e-f of 1 µs links (nodes on ranks in contiguous blocks).
Node f pings a at t = 0 and ticks every 100 ns for 20 µs while a is idle
until the ping arrives (5 µs) and answers at once: the pong is back at f at
10 µs, between two of f's ticks. With several ranks f's rank has nothing to
wait for from a's rank at first (a has no event), so only the reply bound
of its own message keeps it from ticking past 10 µs. Node b relays a
message from c to e (a chain of messages through an idle middle), and e
ticks too. The test compares the timelines of 1, 2 and 4 ranks.
"""

import sys
import zlib

import numpy as np

from dqsim import comm as comm_mod
from dqsim.engine.simulator import Simulator
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec

NAMES = ("a", "b", "c", "d", "e", "f")


def ticker(ctx, period_ps, count):
    for i in range(count):
        yield ctx.wait(period_ps)
        ctx.log("tick", str(i))


def ping(ctx):
    ctx.send(0, "ping", ctx.now_ps)
    msg = yield ctx.receive("pong")
    ctx.log("pong", str(msg.payload))


def answer(ctx):
    msg = yield ctx.receive("ping")
    ctx.log("ping", str(msg.payload))
    ctx.send(msg.source, "pong", ctx.now_ps)


def relay_start(ctx):
    yield ctx.wait(1_500_000)
    ctx.send(1, "relay", [ctx.node])


def relay(ctx, dest):
    msg = yield ctx.receive("relay")
    ctx.log("relay", str(msg.payload))
    if dest is not None:
        ctx.send(dest, "relay", msg.payload + [ctx.node])


def main(out_path):
    comm = comm_mod.init()
    link = LinkSpec(distance_km=0.2, group_index=1.49896229)  # 1 µs one way
    nodes = [NodeSpec(name=name) for name in NAMES]
    network = Network.from_links(nodes, [(i, i + 1, link) for i in range(len(NAMES) - 1)], num_ranks=comm.size)
    sim = Simulator(network, comm=comm, state=None, qubit_owner=[], num_data_qubits=0, seed=3)
    sim.spawn(5, ping)
    sim.spawn(5, ticker, 100_000, 200)
    sim.spawn(0, answer)
    sim.spawn(2, relay_start)
    sim.spawn(1, relay, 4)
    sim.spawn(4, relay, None)
    sim.spawn(4, ticker, 330_000, 40)
    save_timeline(out_path, sim, sim.run())


def line_simulator(comm, names, *, qubit_owner, seed) -> Simulator:
    """A :class:`Simulator` on a line of nodes ``names`` joined by 1 µs links (contiguous blocks on the ranks)."""
    link = LinkSpec(distance_km=0.2, group_index=1.49896229)  # 1 µs one way
    nodes = [NodeSpec(name=name) for name in names]
    network = Network.from_links(nodes, [(i, i + 1, link) for i in range(len(names) - 1)], num_ranks=comm.size)
    return Simulator(network, comm=comm, state=None, qubit_owner=qubit_owner, num_data_qubits=0, seed=seed)


def save_timeline(out_path, sim, stats, **extra):
    """Collective: the merged timeline, end time and counts (and ``extra`` arrays) to ``out_path`` on rank 0."""
    timeline = sim.gather_timeline()
    if sim.comm.rank == 0:
        np.savez(out_path, time_ps=np.array([t for t, _n, _k, _d in timeline]),
                 node=np.array([n for _t, n, _k, _d in timeline]),
                 what=np.array([zlib.crc32(f"{k}:{d}".encode()) for _t, _n, k, d in timeline]),
                 end_ps=np.array([stats.end_time_ps, stats.num_events, stats.num_messages]),
                 **{key: value(timeline) for key, value in extra.items()})


if __name__ == "__main__":
    main(sys.argv[1])
