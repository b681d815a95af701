"""Two user errors on two ranks; the later one is found first. Every rank count must raise the earlier one.

Node a (rank 0) raises at 1,000 ps in its second event; node b (the last rank) raises at 300 ps after 300 waits
of 1 ps. Each rank runs one event per exchange, so on two ranks the exchange that carries a's error comes long
before b gets to 300 ps. Prints what the command line prints (``guarded``: one line, exit status 2).

Usage: python process_error_order.py
"""

from dqsim import comm as comm_mod
from dqsim.cli.main import guarded
from dqsim.engine import Simulator
from dqsim.engine import simulator as simulator_mod
from dqsim.errors import DqsimError
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec


def late(ctx):
    yield ctx.wait(1000)
    raise DqsimError("node a: an error at 1000 ps")


def early(ctx):
    for _ in range(300):
        yield ctx.wait(1)
    raise DqsimError("node b: an error at 300 ps")


def main(comm):
    # one event per exchange on every rank, whatever the machine's speed (no CPU budget)
    simulator_mod.EVENTS_PER_EXCHANGE = simulator_mod.EVENTS_PER_EXCHANGE_ONE_RANK = 1
    simulator_mod.EXCHANGE_CPU_S = None
    network = Network.from_links([NodeSpec(name="a"), NodeSpec(name="b")], {(0, 1): LinkSpec(distance_km=1.0)},
                                 num_ranks=comm.size, placement=[0, comm.size - 1])
    sim = Simulator(network, comm=comm, state=None, qubit_owner=[])
    sim.spawn(0, late)
    sim.spawn(1, early)
    sim.run()
    return 0


if __name__ == "__main__":
    comm = comm_mod.init()
    raise SystemExit(guarded(comm, lambda: main(comm)))
