"""A process on the node of the last rank raises mid-run; the job must end, not hang.

Usage: python engine_fault.py
"""

from dqsim import comm as comm_mod
from dqsim.cli.main import guarded
from dqsim.engine import Simulator
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.state.sharded import ShardedState


def ping(ctx, peer, rounds):
    for i in range(rounds):
        ctx.send(peer, "ping", i)
        yield ctx.receive("ping")
        if ctx.node == 1 and i == 3:
            raise RuntimeError("injected failure on node 1")


def main(comm):
    state = ShardedState(2, comm)
    network = Network.from_links([NodeSpec(name="a"), NodeSpec(name="b")], {(0, 1): LinkSpec(distance_km=0.2)},
                                 num_ranks=comm.size, placement=[0, comm.size - 1])
    sim = Simulator(network, comm=comm, state=state, qubit_owner=[0, 1])
    sim.spawn(0, ping, 1, 100)
    sim.spawn(1, ping, 0, 100)
    sim.run()
    return 0


if __name__ == "__main__":
    comm = comm_mod.init()
    raise SystemExit(guarded(comm, lambda: main(comm)))
