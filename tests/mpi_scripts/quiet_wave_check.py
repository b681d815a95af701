"""A quiet notice spreading down a line, on any number of ranks; saves the timeline and who ran it when (rank 0).

Usage: python quiet_wave_check.py OUT.npz

A line of 16 nodes (1 µs links, contiguous blocks on the ranks). Node 15
tells every other node, at t = 0, that the next round starts once the notice
has reached them all (15 µs); each node waits for it, then at 15 µs pings its
left neighbour, which logs the ping. Run twice: with the notice declared
quiet until 15 µs (``ctx.broadcast(..., quiet_until_ps=...)``) and without.
Saved: both timelines (equal on 1, 2 and 4 ranks), and for each node the
number of exchanges its rank had made when the node took the notice.
"""

import sys
import zlib

import numpy as np

from dqsim import comm as comm_mod

NUM_NODES = 16
START_PS = 15_000_000  # the notice reaches node 0, the farthest, after 15 links of 1 µs


def announcer(ctx, quiet):
    ctx.broadcast(range(NUM_NODES - 1), "notice", START_PS, quiet_until_ps=START_PS if quiet else 0)
    yield ctx.wait(0)


def listener(ctx, seen):
    msg = yield ctx.receive("notice")
    seen[ctx.node] = ctx._sim.stats.num_windows  # (the engine's count of exchanges on this rank)
    ctx.log("notice", str(msg.payload))
    yield ctx.wait(msg.payload - ctx.now_ps)
    if ctx.node > 0:
        ctx.send(ctx.node - 1, "ping", ctx.node)
    if ctx.node < NUM_NODES - 2:
        ping = yield ctx.receive("ping")
        ctx.log("ping", str(ping.payload))


def main(out_path):
    # beside this script (imported here: pytest's doctest pass imports this file as a module)
    from engine_horizon_check import line_simulator

    comm = comm_mod.init()
    arrays = {}
    for quiet in (True, False):
        sim = line_simulator(comm, [f"n{i}" for i in range(NUM_NODES)], qubit_owner=[], seed=5)
        sim.record_timeline = True
        seen = {}
        sim.spawn(NUM_NODES - 1, announcer, quiet)
        for node in range(NUM_NODES - 1):
            sim.spawn(node, listener, seen)
        stats = sim.run()
        timeline = sim.gather_timeline()
        windows = {}
        for part in comm.allgather(seen):
            windows.update(part)
        label = "quiet" if quiet else "plain"
        if comm.rank == 0:
            arrays[f"{label}_timeline"] = np.array([zlib.crc32(f"{t}:{n}:{k}:{d}".encode()) for t, n, k, d in timeline])
            arrays[f"{label}_counts"] = np.array([stats.end_time_ps, stats.num_events, stats.num_messages])
            arrays[f"{label}_windows"] = np.array([windows[n] for n in range(NUM_NODES - 1)])
    if comm.rank == 0:
        np.savez(out_path, **arrays)


if __name__ == "__main__":
    main(sys.argv[1])
