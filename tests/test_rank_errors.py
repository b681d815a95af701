"""A user error found by one rank alone outside a process's step ends every rank alike.

Before 2026-12-06 such a :class:`~dqsim.errors.DqsimError` was raised on its rank only: the others went on to
their next collective and waited there, the failed rank waited ``FAILURE_AGREE_S`` (5 s) for them in
``dqsim.cli.main._fail``, and the job ended through ``MPI_Abort`` ("error on rank 1", then the launcher's "application
called MPI_Abort"). Now the rank holds the error until a collective every rank makes anyway and every rank raises it
there (``dqsim.comm.allgather_agreed``; in the engine, a refusal of the run carried by the next exchange or the run's
end): one line, the one a one-rank run prints, and exit status 2 on every rank. The places: a trotter job's runs
shared out over the ranks (each rank runs its own alone), a spawn only the node's rank looks at, a scenario's
``gather_at_end`` payload, and the engine's checks at an exchange or in a flush's resumptions.
"""

import subprocess
from pathlib import Path

import pytest

from dqsim import comm as comm_mod
from dqsim.engine import EngineError, Simulator
from dqsim.engine.process import ResumableProcess
from dqsim.errors import ConfigError, DqsimError, RankCountError
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from mpi_helper import run_here, run_mpi


def lines_of(done) -> list[str]:
    return (done.stdout + done.stderr).strip().splitlines()


def test_the_error_of_least_key_is_raised_on_every_rank_ties_to_the_lower_rank():
    held = [None, comm_mod.held_error(ConfigError("second"), (5,)), comm_mod.held_error(DqsimError("first"), (2,)),
            comm_mod.held_error(EngineError("tie"), (2,))]
    for rank in range(4):
        with pytest.raises(DqsimError) as info:
            comm_mod.raise_held(held, rank)
        assert str(info.value) == "first" and type(info.value) is DqsimError
    comm_mod.raise_held([None, None], 1)  # nothing held: nothing raised


def test_the_rank_that_found_it_raises_the_error_itself():
    own = ConfigError("[x].y = 3: must be in [0, 2]", problems=["a", "b"])
    held = [None, comm_mod.held_error(own, (0,))]
    with pytest.raises(ConfigError) as info:
        comm_mod.raise_held(held, 1, own)
    assert info.value is own and info.value.problems == ["a", "b"]
    with pytest.raises(ConfigError) as elsewhere:
        comm_mod.raise_held(held, 0)
    assert elsewhere.value is not own and str(elsewhere.value) == str(own)


def test_a_class_no_other_rank_can_import_travels_as_dqsim_error():
    local = type("LocalError", (DqsimError,), {})
    assert comm_mod.held_error(local("x"))[2] is DqsimError
    assert comm_mod.held_error(RankCountError("y", num_ranks=3, below=2, above=4))[2] is RankCountError
    with pytest.raises(RankCountError, match="^y$"):  # made without its __init__ on the other ranks
        comm_mod.raise_held([comm_mod.held_error(RankCountError("y", num_ranks=3, below=2, above=4))], 1)


def test_an_agreed_gather_on_one_rank_is_a_gather_or_the_error():
    comm = comm_mod.SingleComm()
    assert comm_mod.allgather_agreed(comm, {"a": 1}) == [{"a": 1}]
    with pytest.raises(ConfigError, match="^bad$"):
        comm_mod.allgather_agreed(comm, None, ConfigError("bad"), (3,))


class Idle(ResumableProcess):
    def run(self, ctx):
        yield ctx.wait(1)


def test_repro_a_spawn_the_engine_refuses_is_raised_by_run_before_any_event():
    """Only the node's rank looks at a spawn: it refuses the run, which raises it (the same line) on every rank."""
    network = Network.from_links([NodeSpec(name="a"), NodeSpec(name="b")], {(0, 1): LinkSpec(distance_km=1.0)},
                                 num_ranks=1)
    sim = Simulator(network, comm=comm_mod.SingleComm(), state=None, qubit_owner=[])
    ran = []

    def other(ctx):
        yield ctx.wait(0)
        ran.append(ctx.now_ps)

    sim.spawn(0, other)
    sim.spawn(1, Idle(), 7)  # not raised here
    with pytest.raises(EngineError, match="^node b: a ResumableProcess takes no spawn arguments$"):
        sim.run()
    assert ran == []


#: The cases of tests/mpi_scripts/rank_errors.py by rank count.
RANK_ERROR_CASES = {1: ["spawn", "payload"], 2: ["spawn", "payload", "horizon"]}


@pytest.fixture(scope="module")
def rank_errors(tmp_path_factory) -> dict:
    """Each case of :data:`RANK_ERROR_CASES` run by tests/mpi_scripts/rank_errors.py, the cases of a rank count in
    one launch (``--cases``; was a launch per case): ``{(case, ranks): CompletedProcess}``, its status the one every
    rank returned (-1 where they differ; the launch's where a rank wrote none: the launch ended before), its output
    every rank's, then the launch's own (a line of the launcher's fails every case of the launch)."""
    root = tmp_path_factory.mktemp("rank_errors")
    found = {}
    for num_ranks, cases in RANK_ERROR_CASES.items():
        out = str(root / f"ranks{num_ranks}")
        launch = run_mpi(num_ranks, ["tests/mpi_scripts/rank_errors.py", "--cases", out, *cases], check=False,
                         timeout_s=120 * len(cases))
        for case in cases:
            files = [Path(f"{out}.{case}.rank{rank}") for rank in range(num_ranks)]
            printed = "".join(f.with_name(f.name + ".out").read_text() for f in files
                              if f.with_name(f.name + ".out").exists())
            statuses = {int(f.with_name(f.name + ".status").read_text()) if f.with_name(f.name + ".status").exists()
                        else None for f in files}
            status = launch.returncode if None in statuses else statuses.pop() if len(statuses) == 1 else -1
            found[case, num_ranks] = subprocess.CompletedProcess(launch.args, status, printed + launch.stdout,
                                                                 launch.stderr)
    return found


@pytest.mark.parametrize("case, line", [
    ("spawn", "dqsim: error: node b: a ResumableProcess takes no spawn arguments"),
    ("payload", "dqsim: error: [x].y = 3: node b's records need y <= 2"),
])
def test_repro_an_engine_run_error_of_one_rank_ends_every_rank_alike(case, line, rank_errors):
    """tests/mpi_scripts/rank_errors.py: node b runs on the last rank, which alone finds the error."""
    for num_ranks in (1, 2):
        done = rank_errors[case, num_ranks]
        both = lines_of(done)
        assert done.returncode == 2 and both == [line], (case, num_ranks, done.returncode, both)


def test_repro_the_exchange_check_of_one_rank_ends_every_rank_alike(rank_errors):
    """A message arriving before its rank's horizon (forced on the last rank): refused there, raised everywhere."""
    done = rank_errors["horizon", 2]
    both = lines_of(done)
    assert done.returncode == 2 and len(both) == 1, (done.returncode, both)
    assert both[0].startswith("dqsim: error: message 'ping' arrived at ") and "MPI_Abort" not in both[0]
    assert both[0].endswith(" ps, before 1000000000000 ps, which its rank may already have passed")


#: Two QPUs 310 km apart (double-click: about 5,900 s of simulated time a pair), two TeleGates a Trotter step:
#: the last of three points (240 steps) passes the engine's clock limit of 2**61 ps, the others do not. Shared out
#: over two ranks, rank 0 runs that one alone (the costliest) and rank 1 the other two.
CLOCK_TROTTER = '''
[run]
name = "trotter_clock"
scenario = "trotter"
seed = 1

[model]
kind = "tfim"
num_sites = 2
boundary = "open"
J = 1.0
h = 1.0
initial = "up"

[evolution]
total_time = 1.0
num_points = 3
steps_per_point = 120
order = 1
exact = false

[network]
topology = "line"
num_nodes = 2

[network.link]
distance_km = 310.0
scheme = "double_click"

[network.node]
num_data_qubits = 1
num_comm_qubits = 1

[distribution]
scheme = "telegate"
assignment = [0, 1]

[simulation]
observables = ["magnetization"]
'''


def test_repro_a_trotter_run_shared_out_to_one_rank_that_fails_ends_every_rank_alike(tmp_path):
    """The clock limit refuses the last point's run, which on two ranks runs on rank 0 alone (its share of the runs
    shared out, scenarios.trotter._shared_runs). Before, rank 1 waited in the gather after its share and the job
    ended through MPI_Abort; now both rank counts print the one-rank line once and exit 2, writing nothing."""
    job = tmp_path / "clock.toml"
    job.write_text(CLOCK_TROTTER)
    lines = []
    for num_ranks in (1, 2):
        out = tmp_path / f"out{num_ranks}.h5"
        args = ["run", str(job), "-o", str(out), "-q"]  # one rank in this process, two under mpiexec
        done = run_here(args, check=False) if num_ranks == 1 else run_mpi(2, ["-m", "dqsim", *args], check=False,
                                                                            timeout_s=300)
        both = lines_of(done)
        assert done.returncode == 2 and len(both) == 1, (num_ranks, done.returncode, both)
        assert not out.exists()
        lines.append(both[0])
    assert lines[0] == lines[1]
    assert lines[0].startswith("dqsim: error: node node0's message ('epr-herald', ") and "2**61 ps" in lines[0]
