"""Node programs that leave processes waiting when no event is left; every rank must end alike (exit 2, one line).

Cases (the first argument), on nodes a, b and c joined in a line (b and c on the last rank):

* ``receive``: a serves requests in a loop (``ctx.receive(tag, service=True)``) and ends the run still waiting
  there, which is allowed; b's client gets its reply and then waits for a message nobody sends; c waits for three
  messages of which one comes; and three more processes on c wait for messages nobody sends. Before 2026-12-06 the
  run ended silently with what it had.
* ``outcome``: a reads a made-up outcome of node b's (dated before a reads it, so not refused at the read) while b
  and c run events later on (held behind a, or past a's promise to their rank). Before 2026-12-06 the run never
  ended, on any number of ranks.
* ``future``: a reads a made-up outcome dated after its clock: refused at the read.
* ``service``: only the service loop is left waiting: the run ends normally (prints the count).

Prints what the command line prints (``guarded``): for several cases, those before the last print the line of
their error (rank 0) and the next one runs, so that one launch checks them all.

Usage: python stuck_processes.py CASE [CASE ...]
"""

import sys

from dqsim import comm as comm_mod
from dqsim.api import LinkSpec, counter, run_node_programs
from dqsim.cli.main import guarded
from dqsim.engine.simulator import Outcome
from dqsim.errors import DqsimError


def server(ctx):
    while True:
        request = yield ctx.receive("request", service=True)
        ctx.send(request.source, "reply", request.payload)


def client(ctx, peer, then_wait: bool):
    ctx.send(peer, "request", ctx.node)
    yield ctx.receive("reply")
    ctx.count("replies")
    if then_wait:
        yield ctx.receive("never")


def collect(ctx):
    yield ctx.receive("x", count=3)


def send_one(ctx, peer):
    yield ctx.wait(7)
    ctx.send(peer, "x")


def orphan(ctx, index):
    yield ctx.receive(("orphan", index))


def read_made_up(ctx, key):
    yield ctx.wait(10)
    yield ctx.read_outcomes([Outcome(key)])


def busy(ctx, rounds):
    for _ in range(rounds):
        yield ctx.wait(100_000)
    ctx.count("busy")


def programs(case: str) -> dict:
    if case == "service":
        return {0: [(server, ())], 1: [(client, (0, False)), (server, ())], 2: [(client, (1, False))]}
    if case == "receive":
        return {0: [(server, ())], 1: [(client, (0, True)), (send_one, (2,))],
                2: [(collect, ())] + [(orphan, (i,)) for i in range(3)]}
    key = (5, 1, 7) if case == "outcome" else (10**6, 1, 0)
    return {0: [(read_made_up, (key,)), (busy, (3,))], 1: [(busy, (5,))], 2: [(busy, (5,))]}


def main(comm, case: str) -> int:
    link = LinkSpec(distance_km=1.0)
    run = run_node_programs(programs(case), node_names=["a", "b", "c"], links={(0, 1): link, (1, 2): link},
                            qubits_per_node=1, comm=comm, placement=[0, comm.size - 1, comm.size - 1])
    if comm.rank == 0:
        print(f"replies {counter(run, 'replies')}")
    return 0


def main_cases(comm, cases: list[str]) -> int:
    for case in cases[:-1]:
        try:
            main(comm, case)
        except DqsimError as error:  # (raised on every rank alike)
            if comm.rank == 0:
                print(f"dqsim: error: {error}", flush=True)
    return main(comm, cases[-1])


if __name__ == "__main__":
    comm = comm_mod.init()
    raise SystemExit(guarded(comm, lambda: main_cases(comm, sys.argv[1:])))
