"""The engine's clock limit, 2**61 ps (``network.PROTOCOL_CLOCK_LIMIT_PS``): one refusal for every scenario.

Before 2026-12-06 the engine had none: an event past the limit ran on one rank (times past the int64 range
overflowed the tables after the run) and on several went wrong past 2**62 ps, where the promises between
ranks count a time as never ("would arrive at ... before inf ps"). Each scenario guarded its own clock, and a
guard raised on the one rank that found it, so a run on several ranks ended through ``MPI_Abort``. Now every
event scheduled past the limit (a wait, a message's arrival, a spawn) refuses the run; the refusal travels
with the next exchange, and every rank raises the same one line there.
"""

import pytest

from dqsim import comm as comm_mod
from dqsim.engine import ClockLimitError, Simulator
from dqsim.network.link import LinkSpec
from dqsim.network.network import PROTOCOL_CLOCK_LIMIT_PS, Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios.cloud_scheduler import Centre, QueueClockPassed, QueuedJob, simulate_queue
from job_helpers import bad, load
from mpi_helper import run_here, run_mpi

LIMIT = PROTOCOL_CLOCK_LIMIT_PS


def make_sim(names=("a", "b"), **kwargs):
    """Two nodes one 1 km link apart, no quantum state."""
    nodes = [NodeSpec(name=name) for name in names]
    network = Network.from_links(nodes, {(0, 1): LinkSpec(distance_km=1.0)}, num_ranks=1)
    return Simulator(network, comm=comm_mod.SingleComm(), state=None, qubit_owner=[], **kwargs)


def test_the_limit_is_half_of_never():
    assert LIMIT == 2**61


def test_repro_a_wait_past_the_limit_refuses_the_run_in_one_line():
    """Before: the wait ran, to 2**62 ps and past, on one rank; now no event runs after it."""
    sim = make_sim(clock_advice="shorten [x].y")
    ran = []

    def slow(ctx):
        yield ctx.wait(LIMIT - 10)
        ran.append(ctx.now_ps)
        yield ctx.wait(11)
        ran.append(ctx.now_ps)

    def other(ctx):
        yield ctx.wait(LIMIT)
        ran.append(("other", ctx.now_ps))  # at the limit itself: allowed, but runs after the refusal

    sim.spawn(0, slow)
    sim.spawn(1, other)
    with pytest.raises(ClockLimitError) as info:
        sim.run()
    message = str(info.value)
    assert message == ("node a would wait until 2305843 s of simulated time, past the 2.306e+06 s (2**61 ps) "
                       "the engine's int64 picosecond clock allows; shorten [x].y")
    assert ran == [LIMIT - 10]


def test_a_wait_to_the_limit_itself_runs():
    sim = make_sim()
    times = []

    def to_the_limit(ctx):
        yield ctx.wait(LIMIT)
        times.append(ctx.now_ps)

    sim.spawn(0, to_the_limit)
    assert sim.run().end_time_ps == LIMIT and times == [LIMIT]


@pytest.mark.parametrize("how", ["send", "broadcast", "spawn"])
def test_repro_a_message_or_a_spawn_past_the_limit_refuses_the_run(how):
    """A message whose arrival (latency and extra delay) passes the limit, one of a broadcast, or a process
    spawned past it; without advice from the scenario the line says what to shorten in general."""
    sim = make_sim()

    def sender(ctx):
        yield ctx.wait(LIMIT - 1)
        if how == "send":
            ctx.send(1, ("tag", 7), extra_delay_ps=0)
        else:
            ctx.broadcast([1], ("tag", 7))
        yield ctx.wait(0)

    if how == "spawn":
        sim.spawn(1, sender, at_ps=LIMIT + 1)
    else:
        sim.spawn(0, sender)
    with pytest.raises(ClockLimitError) as info:
        sim.run()
    message = str(info.value)
    if how == "spawn":
        assert message.startswith("node b would start a process at 2305843 s of simulated time"), message
    else:
        assert message.startswith("node a's message ('tag', 7) to b would arrive at 2305843 s"), message
    assert message.endswith("allows; shorten the job's durations or links, or lower its counts")


def test_a_protocol_names_its_own_keys_through_check_clock():
    """``ctx.check_clock``: True within the limit; past it the run is refused with the protocol's words."""
    sim = make_sim(clock_advice="not this")
    seen = []

    def planner(ctx):
        seen.append(ctx.check_clock(LIMIT, "a plan would end at"))
        seen.append(ctx.check_clock(LIMIT + 1, "[k].rate = 1: the plan would end at", "raise [k].rate"))
        yield ctx.wait(1)
        seen.append("resumed")

    sim.spawn(0, planner)
    with pytest.raises(ClockLimitError, match=r"^\[k\]\.rate = 1: the plan would end at 2305843 s of simulated "
                                              r"time, past .* allows; raise \[k\]\.rate$"):
        sim.run()
    assert seen == [True, False]


def test_every_rank_reports_the_earliest_refusal_of_any_rank():
    """A rank keeps its earliest refusal (by the time of the event that found it, then node, then the order found)
    and stops running events; the exchange gives every rank the earliest of all ranks' (:func:`_info_columns`),
    so all raise the same line (tests/test_process_errors.py: the rule, for every user error)."""
    from dqsim.engine.simulator import _info_columns, _wire_info

    sim = make_sim()
    sim.refuse_past_clock(1, LIMIT + 9, "node b would wait until")
    sim.refuse_past_clock(0, LIMIT + 9, "node a would wait until")
    sim.refuse_past_clock(0, LIMIT + 50, "node a would wait until")
    assert sim._refusal[:3] == (0, 0, 1) and sim._send_limit == -float("inf")  # found at 0 ps, node a's first
    assert sim._refusal[3].startswith("node a would wait until") and sim._refusal[4] is ClockLimitError
    late, early = (9, 0, 0, "late", ClockLimitError), (2, 5, 0, "early", ClockLimitError)
    parts = [_wire_info([0, 0], [0, 0], 0, (0, 0), 0, 0, (False, False), None, refusal)
             for refusal in (late, None, early)]
    assert _info_columns(parts, 2)[-1] == early
    assert _info_columns(parts[1:2], 2)[-1] is None


def test_no_checkpoint_is_written_after_a_refusal():
    """Before a checkpoint's write every rank agrees on refusals found since the last exchange (in the
    checkpoint's flush, or in flight): a checkpoint without the dropped event would resume into a run that
    goes on. Nothing is raised without one."""
    sim = make_sim()
    sim._agree_on_refusal()
    sim.refuse_past_clock(1, LIMIT + 1, "node b would wait until")
    with pytest.raises(ClockLimitError, match="^node b would wait until"):
        sim._agree_on_refusal()


def test_repro_a_job_past_the_clock_ends_alike_on_one_and_two_ranks(tmp_path):
    """400 remote CNOTs over a 315 km link (7,600 s per pair on average): the pairs pass 2**61 ps near the 275th.
    Before, the node program's own check raised on the rank of the node that found it: on two ranks the run
    ended through ``MPI_Abort`` after "error on rank 1: ..." (5 s of waiting for the other rank first). Now both
    rank counts exit 2 with the same one line, printed once, and no abort."""
    (tmp_path / "cx400.qasm").write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\n' + "cx q[0],q[1];\n" * 400)
    job = tmp_path / "slow.toml"
    job.write_text('[run]\nname = "slow"\nscenario = "dqc"\nseed = 1\n'
                   '[network]\ntopology = "line"\nnum_nodes = 2\n[network.link]\ndistance_km = 315.0\n'
                   '[network.node]\nnum_data_qubits = 1\nnum_comm_qubits = 2\n'
                   '[circuit]\nqasm = "cx400.qasm"\n[distribution]\nassignment = [0, 1]\n[simulation]\nshots = 10\n')
    lines = []
    for num_ranks in (1, 2):
        out = tmp_path / f"out{num_ranks}.h5"
        args = ["run", str(job), "-o", str(out), "-q"]  # one rank in this process, two under mpiexec
        done = run_here(args, check=False) if num_ranks == 1 else run_mpi(2, ["-m", "dqsim", *args], check=False,
                                                                            timeout_s=300)
        assert done.returncode == 2, (num_ranks, done.stdout, done.stderr)
        both = (done.stdout + done.stderr).strip().splitlines()
        assert len(both) == 1 and both[0].startswith("dqsim: error: node node"), (num_ranks, both)
        assert not out.exists()
        lines.append(both[0])
    assert lines[0] == lines[1]
    assert "of simulated time, past the 2.306e+06 s (2**61 ps) the engine's int64 picosecond clock allows" in lines[0]
    assert "shorten [network.node]'s gate_1q_duration_ps" in lines[0]


# ----------------------------------------------------------------- the cloud queue's clock
CLOUD = ('[run]\nname = "q"\nscenario = "cloud"\nseed = 1\n[network]\ntopology = "line"\nnum_nodes = 2\n'
         '[network.link]\ndistance_km = {km}\n[network.node]\nnum_data_qubits = 1\nnum_comm_qubits = 2\n'
         '[scheduler]\nshot_reset_s = {reset}\n')
ONE_JOB = '[[user_jobs]]\nname = "many"\ngenerator = "ghz"\nnum_qubits = 2\nshots = {shots}\narrival_s = 5.0\n'
POISSON = '[arrivals]\nrate_hz = 1.0\nnum_jobs = 2\nnum_qubits = [2, 2]\nshots = {shots}\nstart_s = 5.0\n'


@pytest.mark.parametrize("section, key", [(ONE_JOB, r"\[\[user_jobs\]\]\[0\]\.shots"),
                                          (POISSON, r"\[arrivals\]\.shots")])
def test_repro_a_cloud_job_whose_resets_alone_pass_the_clock_is_refused_at_load(section, key):
    """10**7 shots with 1 s of reset between two: 1e7 s before any gate, past 2**61 ps (2.3e6 s). Before, the
    queue's clock (Python integers) ran to 1e7 s unchecked; now the job file is refused, naming the key. One
    shot fewer than the limit allows loads."""
    bad(CLOUD.format(km=1.0, reset=1.0) + section.format(shots=10**7),
        key + r" = 10000000: a job of 10_000_000 shots arriving at 5 s holds its QPUs until at least 1e\+07 s of "
              r"simulated time .* past the 2\.306e\+06 s \(2\*\*61 ps\) the run's clock allows; lower shots or "
              r"\[scheduler\]\.shot_reset_s")
    fits = (LIMIT // 10**12) - 5  # whole seconds of resets that fit after the arrival at 5 s
    load(CLOUD.format(km=1.0, reset=1.0) + section.format(shots=fits + 1))
    bad(CLOUD.format(km=1.0, reset=1.0) + section.format(shots=fits + 2), key)


def test_a_queue_that_passes_its_limit_stops_at_that_job():
    """:func:`simulate_queue` with ``limit_ps``: the job whose end passes it raises, with its start and end."""
    centre = Centre.from_edges(2, [(0, 1)], data_qubits=1)
    jobs = [QueuedJob(0, "a", 1, submit_ps=0, estimate_ps=10), QueuedJob(1, "b", 1, submit_ps=3, estimate_ps=10)]
    assert [r.end_ps for r in simulate_queue(jobs, "fifo", centre, lambda job, qpus: 10, limit_ps=13)] == [10, 13]
    with pytest.raises(QueueClockPassed) as info:
        simulate_queue(jobs, "fifo", centre, lambda job, qpus: 10, limit_ps=12)
    assert (info.value.job.name, info.value.start_ps, info.value.end_ps) == ("b", 3, 13)


def test_repro_a_cloud_queue_past_the_clock_is_refused_in_one_line(tmp_path):
    """1,000 shots of a GHZ pair over a 315 km link (~8,000 s per execution on QPUs without noise: one engine run,
    its time counted 1,000 times): the job would end near 8e6 s. Before, the run wrote its tables with that
    time; now it stops in one line naming the job, its times and the keys."""
    job = tmp_path / "slow_queue.toml"
    job.write_text(CLOUD.format(km=315.0, reset=0.0) + ONE_JOB.format(shots=1000))
    out = tmp_path / "out.h5"
    done = run_here(["run", job, "-o", out, "-q"], check=False)  # one rank: in this process
    assert done.returncode == 2, done.stderr
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dqsim: error: user job 'many' (1000 shots, started at 5 s: "
                                                   "1,000 executions of "), lines
    assert "past the 2.306e+06 s (2**61 ps)" in lines[0] and "lower its shots, [scheduler].shot_reset_s" in lines[0]
    assert not out.exists()
