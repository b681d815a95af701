"""A user error raised in a process ends the run alike on every rank (``Simulator.refuse_after_error``).

Before 2026-12-06 a :class:`~dqsim.errors.DqsimError` raised inside a node's process (the repeater's "abandoned
N times at the memory cut-off", an engine rule a process broke) propagated on the one rank that ran the node:
the others waited in the next exchange, and after 5 s the command line ended the job through ``MPI_Abort``
("error on rank k", then the launcher's abort line). Now the engine keeps it, as it keeps a refusal at the
clock limit, and every rank raises the earliest one at the next exchange: one line, exit 2, no abort. A bug (any
other exception) still propagates at once, with its traceback.
"""

import pytest

from dqsim import comm as comm_mod
from dqsim.engine import ClockLimitError, EngineError, Simulator
from dqsim.engine.simulator import _info_columns, _wire_info
from dqsim.errors import ConfigError, DqsimError
from dqsim.network.link import LinkSpec
from dqsim.network.network import PROTOCOL_CLOCK_LIMIT_PS, Network
from dqsim.network.node import NodeSpec
from mpi_helper import run_here, run_mpi


def make_sim(names=("a", "b", "c")):
    """Three nodes on a line, 1 km links, one rank, no quantum state."""
    nodes = [NodeSpec(name=name) for name in names]
    links = {(i, i + 1): LinkSpec(distance_km=1.0) for i in range(len(names) - 1)}
    network = Network.from_links(nodes, links, num_ranks=1)
    return Simulator(network, comm=comm_mod.SingleComm(), state=None, qubit_owner=[])


def test_the_earliest_refusal_is_by_time_then_node_then_order_found():
    """The agreement rule: least (time of the event that found it, node, order on its rank); the message and
    class come along. Every rank reads the same list (the exchange's columns), so all pick the same one."""
    from dqsim.engine.simulator import _earliest_refusal

    late = (9, 0, 0, "late", DqsimError)
    later_node = (5, 3, 0, "node 3", EngineError)
    second = (5, 1, 7, "second on node 1", ConfigError)
    first = (5, 1, 6, "first on node 1", DqsimError)
    assert _earliest_refusal([late, None, later_node, second, first]) == first
    assert _earliest_refusal([late, later_node]) == later_node
    assert _earliest_refusal([None, None]) is None
    parts = [_wire_info([0, 0], [0, 0], 0, (0, 0), 0, 0, (False, False), None, refusal)
             for refusal in (late, None, second, later_node)]
    assert _info_columns(parts, 2)[-1] == second
    assert _info_columns(parts[1:2], 2)[-1] is None


def test_repro_a_process_error_stops_the_run_at_the_next_exchange_on_its_rank():
    """The error is raised by run() (the same object), after the step that raised it: no event runs after it,
    not even one at the same time on a later node."""
    sim = make_sim()
    ran = []

    def failing(ctx):
        yield ctx.wait(10)
        ran.append(("a", ctx.now_ps))
        raise ConfigError("[x].y = 3: must be in [0, 2]")

    def other(ctx):
        yield ctx.wait(10)
        ran.append(("b", ctx.now_ps))

    sim.spawn(0, failing)
    sim.spawn(1, other)
    with pytest.raises(ConfigError, match=r"^\[x\]\.y = 3: must be in \[0, 2\]$") as info:
        sim.run()
    assert ran == [("a", 10)]
    assert sim._refusal[:3] == (10, 0, 0) and sim._refused_error is info.value
    assert info.value.problems == ["[x].y = 3: must be in [0, 2]"]  # the rank that found it raises the error itself


def test_an_engine_rule_broken_by_a_process_is_refused_alike():
    """A process that yields what is not a command: the engine's EngineError, carried like a process's own."""
    sim = make_sim()

    def confused(ctx):
        yield ctx.wait(3)
        yield "wait"

    sim.spawn(2, confused)
    with pytest.raises(EngineError, match="^node c: a process yielded 'wait', not a command$"):
        sim.run()
    assert sim._refusal[:2] == (3, 2)


def test_a_clock_refusal_found_first_in_the_same_step_wins():
    """check_clock refuses, the process goes on and raises: the refusal found first is the one raised."""
    sim = make_sim()

    def planner(ctx):
        yield ctx.wait(1)
        ctx.check_clock(PROTOCOL_CLOCK_LIMIT_PS + 1, "the plan would end at")
        raise DqsimError("second")

    sim.spawn(0, planner)
    with pytest.raises(ClockLimitError, match="^the plan would end at"):
        sim.run()


def test_a_refused_run_is_not_checkpointed():
    """Before a checkpoint every rank agrees on refusals: a process error found since the last exchange raises."""
    sim = make_sim()
    sim._agree_on_refusal()
    sim.refuse_after_error(sim._node(1), DqsimError("cannot go on"))
    with pytest.raises(DqsimError, match="^cannot go on$"):
        sim._agree_on_refusal()


def test_a_bug_in_a_process_still_propagates_at_once():
    """Not a DqsimError: raised from the step itself (with its traceback), nothing kept for the exchange."""
    sim = make_sim()
    ran = []

    def buggy(ctx):
        yield ctx.wait(5)
        ran.append("before")
        1 / 0  # noqa: B018

    def other(ctx):
        yield ctx.wait(5)
        ran.append("other")

    sim.spawn(0, buggy)
    sim.spawn(1, other)
    with pytest.raises(ZeroDivisionError) as info:
        sim.run()
    assert ran == ["before"] and sim._refusal is None
    assert any(frame.name == "buggy" for frame in info.traceback)


CUT_OFF = ('[run]\nname = "cut"\nscenario = "repeater"\nseed = 1\n'
           '[chain]\nnum_links = 2\ntotal_distance_km = 100.0\ncutoff_s = 0.0007\nmax_restarts = 0\nnum_pairs = 5\n'
           '[chain.link]\nscheme = "double_click"\n')


def test_repro_a_repeater_out_of_restarts_ends_alike_on_one_and_two_ranks(tmp_path):
    """A 0.7 ms cut-off on two 50 km links and no restart allowed: the repeater abandons pair 0's first attempt
    and raises. Before, on two ranks, the job ended through MPI_Abort after 5 s ("application called MPI_Abort");
    now both rank counts exit 2 with the same one line, printed once, and write nothing."""
    job = tmp_path / "cut.toml"
    job.write_text(CUT_OFF)
    lines = []
    for num_ranks in (1, 2):
        out = tmp_path / f"out{num_ranks}.h5"
        args = ["run", str(job), "-o", str(out), "-q"]  # one rank in this process, two under mpiexec
        done = run_here(args, check=False) if num_ranks == 1 else run_mpi(2, ["-m", "dqsim", *args], check=False,
                                                                            timeout_s=120)
        both = (done.stdout + done.stderr).strip().splitlines()
        assert done.returncode == 2, (num_ranks, both)
        assert len(both) == 1, (num_ranks, both)
        assert "Abort" not in both[0] and "Traceback" not in both[0]
        assert not out.exists()
        lines.append(both[0])
    assert lines[0] == lines[1] == ("dqsim: error: repeater chain: pair 0 was abandoned 1 time at the memory "
                                    "cut-off (0.0007 s); raise the cut-off or max_restarts")


def test_repro_the_earliest_error_wins_even_when_a_later_one_is_found_first():
    """Node a (rank 0) raises at 1,000 ps at once, node b (rank 1) at 300 ps after 300 events, one event per
    exchange (tests/mpi_scripts/process_error_order.py). One rank raises b's error. Taking the earliest error
    *reported* at an exchange gave a's on two ranks; every rank now waits until each rank that has not refused
    the run has passed 1,000 ps, and all raise b's, as one rank does."""
    lines = []
    for num_ranks in (1, 2):
        done = run_mpi(num_ranks, ["tests/mpi_scripts/process_error_order.py"], check=False, timeout_s=120)
        both = (done.stdout + done.stderr).strip().splitlines()
        assert done.returncode == 2 and len(both) == 1, (num_ranks, done.returncode, both)
        lines.append(both[0])
    assert lines == ["dqsim: error: node b: an error at 300 ps"] * 2
