"""A process on the node of the last rank raises mid-run; the job must end, not hang.

Usage: python engine_fault.py
"""

import math

from dqsim import comm as comm_mod
from dqsim.cli.main import guarded
from dqsim.engine import Simulator
from dqsim.state.sharded import ShardedState


def ping(ctx, peer, rounds):
    for i in range(rounds):
        ctx.send(peer, "ping", i)
        yield ctx.receive("ping")
        if ctx.node == 1 and i == 3:
            raise RuntimeError("injected failure on node 1")


def main(comm):
    state = ShardedState(2, comm)
    sim = Simulator(comm=comm, state=state, node_names=["a", "b"], rank_of_node=[0, comm.size - 1],
                    latency_ps=lambda a, b: 1000, cross_rank_latencies_ps=[1000], qubit_owner=[0, 1],
                    t1_s=[math.inf] * 2, t2_s=[math.inf] * 2)
    sim.spawn(0, ping, 1, 100)
    sim.spawn(1, ping, 0, 100)
    sim.run()
    return 0


if __name__ == "__main__":
    comm = comm_mod.init()
    raise SystemExit(guarded(comm, lambda: main(comm)))
