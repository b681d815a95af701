"""A user error that one rank alone finds outside a process's step; every rank must end alike (exit 2, one line).

Cases (the first argument):

* ``spawn``: a :class:`~dqsim.engine.process.ResumableProcess` spawned with arguments on node b, which the last
  rank runs: only that rank looks at the spawn (node set-up, before the run).
* ``payload``: the ``gather_at_end`` payload raises on the rank of node b only (a scenario's work at the run's end).
* ``horizon``: the engine's check of a message's arrival against its rank's horizon at an exchange, forced to fail on
  the last rank (its horizon is moved far ahead before the fourth exchange; an engine bug would do this). Only with
  several ranks: one rank exchanges no messages.

Prints what the command line prints (``guarded``). Before 2026-12-06 the other ranks waited in their next collective
and the job ended through ``MPI_Abort`` after 5 s.

Usage: python rank_errors.py CASE
       python rank_errors.py --cases OUT CASE...

With ``--cases`` each case runs in turn in this one launch (one interpreter start per rank for all of them), what
each rank prints (its stdout and stderr, file descriptors 1 and 2) going to ``OUT.CASE.rank<R>.out`` and its exit
status to ``OUT.CASE.rank<R>.status``; a case whose error ends the job through ``MPI_Abort`` ends the launch there.
"""

import sys

from dqsim import comm as comm_mod
from dqsim.cli.main import guarded
from dqsim.engine import Simulator
from dqsim.engine import simulator as simulator_mod
from dqsim.engine.process import ResumableProcess
from dqsim.errors import ConfigError
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec


class Idle(ResumableProcess):
    """Waits once."""

    def run(self, ctx):
        yield ctx.wait(1)


def ping(ctx, peer, rounds):
    for i in range(rounds):
        ctx.send(peer, "ping", i)
        yield ctx.receive("ping")


class ForcedHorizon(Simulator):
    """The last rank's horizon jumps far ahead before its fourth exchange completes (case ``horizon``)."""

    def _complete_exchange(self, posted):
        if self.comm.rank == self.comm.size - 1 and self.stats.num_windows == 3:
            self._horizons[self.comm.rank] = 10**12
        return super()._complete_exchange(posted)


def main(comm, case: str) -> int:
    # one event per exchange on every rank, whatever the machine's speed (no CPU budget)
    simulator_mod.EVENTS_PER_EXCHANGE = simulator_mod.EVENTS_PER_EXCHANGE_ONE_RANK = 1
    simulator_mod.EXCHANGE_CPU_S = None
    network = Network.from_links([NodeSpec(name="a"), NodeSpec(name="b")], {(0, 1): LinkSpec(distance_km=1.0)},
                                 num_ranks=comm.size, placement=[0, comm.size - 1])
    sim = (ForcedHorizon if case == "horizon" else Simulator)(network, comm=comm, state=None, qubit_owner=[])
    sim.spawn(0, ping, 1, 20)
    if case == "spawn":
        sim.spawn(1, Idle(), 7)
    else:
        sim.spawn(1, ping, 0, 20)
    if case == "payload":
        def payload():
            if sim.rank_of_node[1] == comm.rank:
                raise ConfigError("[x].y = 3: node b's records need y <= 2")
            return comm.rank

        sim.gather_at_end(payload)
    sim.run()
    comm.barrier()  # (a collective after the run: a rank that raised alone would leave the others waiting here)
    return 0


def run_case(comm, case: str, out: str) -> None:
    """``case`` as ``python rank_errors.py CASE`` runs it, this rank's output and exit status to its files."""
    from guard import with_output_to  # beside this script (not on the path of the doctest pass)

    status = with_output_to(f"{out}.{case}.rank{comm.rank}.out", lambda: guarded(comm, lambda: main(comm, case)),
                            fds=(1, 2))
    with open(f"{out}.{case}.rank{comm.rank}.status", "w") as written:
        written.write(str(status))


if __name__ == "__main__":
    comm = comm_mod.init()
    if sys.argv[1] == "--cases":
        for each in sys.argv[3:]:
            run_case(comm, each, sys.argv[2])
    else:
        raise SystemExit(guarded(comm, lambda: main(comm, sys.argv[1])))
