"""The end of a run on several ranks: one collective carries the counts, the statistics and a scenario's payload.

Usage: python end_gather_check.py  (rank 0 prints one JSON line; ``main(OUT)`` through run_checks.py writes it
to OUT instead)

Node ``a`` (rank 0) and node ``b`` (the last rank) ping each other once and count; ``a`` then flips data
qubit 0, an operation no measurement resolves during the run: the run's last flush applies it, before the
payload (``Simulator.gather_at_end``) is made on every rank.
"""

import json

from dqsim import comm as comm_mod
from dqsim.engine import Simulator
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.state.gates import gate_op
from dqsim.state.sharded import ShardedState


def ping(ctx, peer, flip):
    ctx.send(peer, "ping", ctx.node)
    yield ctx.receive("ping")
    ctx.count("pings", 1)
    ctx.count(("node", ctx.name), 1)
    if flip:
        ctx.apply(gate_op("x", [0]))


def main(out_path=None):
    comm = comm_mod.init()
    state = ShardedState(3, comm)  # (one local qubit on 4 ranks)
    network = Network.from_links([NodeSpec(name="a"), NodeSpec(name="b")], {(0, 1): LinkSpec(distance_km=0.2)},
                                 num_ranks=comm.size, placement=[0, comm.size - 1])
    sim = Simulator(network, comm=comm, state=state, qubit_owner=[0, 1, 1])
    sim.spawn(0, ping, 1, True)
    sim.spawn(1, ping, 0, False)
    sim.gather_at_end(lambda: (comm.rank, sim.stats.num_quantum_ops, [node.name for node in sim.local]))
    stats = sim.run()
    if comm.rank == 0:
        line = json.dumps({"gathered": sim.gathered_at_end, "counters": sorted([repr(key), value] for key, value in stats.counters.items()),
                           "quantum_ops": stats.num_quantum_ops, "end_ps": stats.end_time_ps,
                           "latency_ps": network.latency_ps(0, 1)})
        if out_path is None:
            print(line)
        else:
            with open(out_path, "w") as out:
                out.write(line + "\n")


if __name__ == "__main__":
    main()
