"""A run that can go no further while processes still wait ends with one line, alike on every rank.

Before 2026-12-06 a process waiting for a message no node sends was left waiting and the run ended silently with
what it had, and one reading an outcome no measurement makes (``ctx.read_outcomes`` of a made-up
:class:`~dqsim.engine.simulator.Outcome`) blocked its node for ever: the run never ended, on any number of ranks
(each exchange found the same blocked node and nothing to run). Now two exchanges in a row at which no rank moved
end the run (``Simulator._stuck``, no collective of its own), and the run's end names the processes that still wait
(``StuckProcessError``, exit 2); a service loop's receive (``ctx.receive(tag, service=True)``) and a resumable
process whose work was called off (``ResumableProcess.may_end_waiting``) may be left waiting. A made-up outcome
dated after the reader's clock is refused at the read.
"""

import pytest

from dqsim import comm as comm_mod
from dqsim.api import LinkSpec, counter, run_node_programs
from dqsim.engine import EngineError, Simulator, StuckProcessError
from dqsim.engine.process import ResumableProcess
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from mpi_helper import run_mpi
from mpi_scripts import stuck_processes

SCRIPT = "tests/mpi_scripts/stuck_processes.py"

LINES = {
    "receive": "the run can go no further while 5 processes wait: node b: process client waits for a message "
               "'never'; node c: process collect waits for 3 messages 'x' (1 came); node c: process orphan waits "
               "for a message ('orphan', 0); and 2 more; a loop that serves requests until the run ends receives "
               "with ctx.receive(tag, service=True)",
    "outcome": "the run can go no further while 1 process waits: node a: process read_made_up waits for the "
               "outcome(s) (5 ps, node b, #7), which no measurement made",
    "future": "node a: process read_made_up reads outcome (1000000, 1, 0) at 10 ps, which no measurement made; read "
              "only the Outcome that yielding ctx.measure_later(...) returns",
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case, kind", [("receive", StuckProcessError), ("outcome", StuckProcessError),
                                        ("future", EngineError)])
def test_repro_a_run_that_can_go_no_further_names_who_waits_for_what(case, kind):
    """One rank, in this process (the ``outcome`` case never ended before: the timeout fails it)."""
    with pytest.raises(kind) as info:
        stuck_processes.main(comm_mod.SingleComm(), case)
    assert str(info.value) == LINES[case]


@pytest.mark.timeout(120)
def test_repro_two_ranks_end_alike_with_the_line_of_one():
    """Nodes b and c on rank 1, a on rank 0: the ranks print nothing but the one-rank lines (one launch, the
    cases in turn), and the last run's error ends every rank with exit status 2."""
    done = run_mpi(2, [SCRIPT, "receive", "outcome"], check=False, timeout_s=60)
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 2 and lines == ["dqsim: error: " + LINES[case] for case in ("receive", "outcome")], (
        done.returncode, lines)


@pytest.mark.timeout(30)
def test_a_service_loop_may_be_left_waiting():
    """Two servers (``service=True``) still wait when the run ends: no error, both clients got their reply."""
    link = LinkSpec(distance_km=1.0)
    run = run_node_programs(stuck_processes.programs("service"), node_names=["a", "b", "c"],
                            links={(0, 1): link, (1, 2): link}, qubits_per_node=1, comm=comm_mod.SingleComm())
    assert counter(run, "replies") == 2


def batch_server(ctx):
    while True:
        batch = yield ctx.receive("request", count=2, service=True)
        ctx.count("batches")
        ctx.count("payloads", sum(msg.payload for msg in batch))


def three_requests(ctx):
    for value in (1, 2, 3):
        ctx.send(1, "request", value)
        yield ctx.wait(5)


class CalledOff(ResumableProcess):
    """Waits for a message; says the run may end with it waiting once node_data's ``"off"`` is set."""

    def run(self, ctx):
        ctx.effect(ctx.node_data.__setitem__, "off", True)
        yield ctx.receive("never")

    def may_end_waiting(self, ctx) -> bool:
        return ctx.node_data.get("off", False)


@pytest.mark.timeout(30)
def test_a_counted_service_receive_and_a_called_off_process_end_quietly():
    """A service receive of two messages at a time gets the first two of three; the third is left in the
    mailbox; a resumable process whose ``may_end_waiting`` says so is not counted as stuck."""
    network = Network.from_links([NodeSpec(name="a"), NodeSpec(name="b")], {(0, 1): LinkSpec(distance_km=1.0)},
                                 num_ranks=1)
    sim = Simulator(network, comm=comm_mod.SingleComm(), state=None, qubit_owner=[])
    sim.spawn(0, three_requests)
    sim.spawn(1, batch_server)
    sim.spawn(1, CalledOff())
    stats = sim.run()
    assert stats.counters["batches"] == 1 and stats.counters["payloads"] == 3


def test_a_run_cut_at_until_ps_leaves_receives_waiting_without_error():
    """``run(until_ps=...)``: events are left, so a process waiting for a message is not stuck."""
    network = Network.from_links([NodeSpec(name="a"), NodeSpec(name="b")], {(0, 1): LinkSpec(distance_km=1.0)},
                                 num_ranks=1)
    sim = Simulator(network, comm=comm_mod.SingleComm(), state=None, qubit_owner=[])
    sim.spawn(0, three_requests)
    sim.spawn(1, stuck_processes.orphan, 0)
    sim.run(until_ps=3)
