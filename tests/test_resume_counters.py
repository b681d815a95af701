"""A resumed run reports exactly what the uninterrupted run reports.

Every table and root attribute, the engine's counts of windows (exchanges)
and flushes included: a checkpoint is written right after an exchange the
run makes anyway (a stop's, at the first that ends at a cut; a periodic one,
at the multiple of the period, where every run of the job cuts), and a
resume on as many ranks goes on from there without one of its own
(DESIGN.md invariants 4 and 6). The stops come at chosen
exchanges, where ``bench/resume_counters.py`` found resumed runs of the code
before 2026-12-06 to differ (a stop cut the window it came in short, and the
resume began with an exchange of its own: 11 -> 14 windows, 12 -> 16 flushes
for the DQC job; a resume from a periodic checkpoint, 16 -> 18).
"""

import json
import time

import numpy as np
import pytest

from dqsim.engine import checkpoint, simulator
from dqsim.io import open_run
from mpi_helper import run_here, run_mpi
from run_files import checkpoints, same_tables

DQC = ["jobs/dqc_ghz_4qpu.toml", "--set", "simulation.shots=64"]
REPEATER = ["jobs/repeater_chain.toml", "--set", "chain.num_pairs=20"]
#: ``test_checkpoint_stops``'s BB84 job: 40 events (10 batches of 200,000 pulses) in 7 exchanges on one rank.
QKD = ["jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=2000000", "--set", "qkd.batch_pulses=200000",
       "--set", "qkd.block_pulses=1000000"]
#: Root attributes that differ between two runs whatever the engine does (wall clock, command line).
VOLATILE_ATTRS = {"created_utc", "wall_time_s", "pulses_per_wall_second", "overrides", "overrides_from_job",
                  "engine_flush_seconds", "engine_state_seconds"}


def dqsim(args, folder, out, *extra, check=True):
    """``dqsim ARGS -o FOLDER/OUT`` on one rank in this process, checkpoints in ``FOLDER/ck`` (all kept)."""
    if args[0] == "run":
        extra = (*extra, "--set", f"checkpoint.directory=\"{folder / 'ck'}\"", "--set", "checkpoint.keep=100")
    return run_here([*args, *extra, "-o", str(folder / out), "--quiet"], check=check)


def stop_at_exchange(monkeypatch, exchange: int) -> None:
    """A stop signal (what the SIGUSR1/SIGTERM handler does) comes just before the run's ``exchange``-th exchange."""
    original, calls = checkpoint.Checkpointer.requested, []

    def requested(self):
        calls.append(1)
        if len(calls) == exchange:
            checkpoint.request_stop()
        return original(self)

    monkeypatch.setattr(checkpoint.Checkpointer, "requested", requested)


def same_run(full, other):
    """Every table but ``timing`` and every root attribute but :data:`VOLATILE_ATTRS` are equal."""
    same_tables(full, other, [name for name in full.tables if name != "timing"])
    assert sorted(full.attrs) == sorted(other.attrs)
    for key in set(full.attrs) - VOLATILE_ATTRS:
        a, b = np.asarray(full.attrs[key]), np.asarray(other.attrs[key])
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc" and b.dtype.kind in "fc"), (
            key, full.attrs[key], other.attrs[key])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The DQC, repeater and QKD jobs run without a stop on one rank, by name."""
    folder = tmp_path_factory.mktemp("counters_full")
    jobs = {"dqc": DQC, "repeater": REPEATER, "qkd": QKD}
    for name, args in jobs.items():
        dqsim(["run", *args], folder, f"{name}.h5")
    return {name: open_run(folder / f"{name}.h5") for name in jobs}


def at_event(monkeypatch, call: int, *, sleep_s: float = 0.0, stop: bool = False) -> list:
    """The ``call``-th step of a process (an event, or a resumption at a flush) first sleeps ``sleep_s`` of wall
    time (a process the machine's load holds back) and asks for a stop (what the signal handler does).

    Returns the list that gets one item per step, for counting them.
    """
    original, calls = simulator.Simulator._step, []

    def step(self, *args):
        calls.append(1)
        if len(calls) == call:
            time.sleep(sleep_s)
            if stop:
                checkpoint.request_stop()
        return original(self, *args)

    monkeypatch.setattr(simulator.Simulator, "_step", step)
    return calls


def test_repro_a_slow_event_changes_no_engine_count(tmp_path, monkeypatch, uninterrupted):
    """On one rank with a checkpointer, an iteration that took over a second of wall time halved the next one's
    event budget (to see a stop soon where events are slow), so a loaded machine made more exchanges and flushes:
    this BB84 job had 9 windows against 7 at load 11-19, and with one event held back 1.1 s, 8. Now the budgets
    follow the run alone, and the wall-clock period's checkpoint (here due during that event) is written between
    two events without an exchange: the counts are the idle run's, and so are its resume's."""
    at_event(monkeypatch, 3, sleep_s=1.1)
    dqsim(["run", *QKD, "--set", "checkpoint.every_wall_s=0.5"], tmp_path, "slow.h5")
    monkeypatch.undo()
    full = uninterrupted["qkd"]
    same_run(full, open_run(tmp_path / "slow.h5"))
    written = checkpoints(tmp_path / "ck")
    assert written  # (the period ends during the slow event)
    dqsim(["resume", str(written[0])], tmp_path, "resumed.h5")
    same_run(full, open_run(tmp_path / "resumed.h5"))


def test_repro_a_stop_inside_an_iteration_is_taken_at_the_next_cut_and_resumes_with_the_same_counts(
        tmp_path, monkeypatch, uninterrupted):
    """The 6,000th of the repeater chain's 14,083 steps falls in an iteration of 942: a stop asked there waited
    for the iteration's end (466 steps), or, where iterations took over a second, for a shorter one that the
    resumed run then went on from, with more windows than the uninterrupted run. Now the run looks between any
    two instants and writes the checkpoint at the first cut (no node waiting for a flush), with the events left
    of the iteration's budget, which the resume runs before its first exchange: the same counts."""
    calls = at_event(monkeypatch, 6000, stop=True)
    stopped = dqsim(["run", *REPEATER], tmp_path, "stopped.h5", check=False)
    assert stopped.returncode == 75, stopped.stderr
    assert len(calls) - 6000 <= 8  # a few steps of the same instant, not the rest of the iteration
    monkeypatch.undo()
    written = checkpoints(tmp_path / "ck")
    assert len(written) == 1
    dqsim(["resume", str(written[0])], tmp_path, "resumed.h5")
    same_run(uninterrupted["repeater"], open_run(tmp_path / "resumed.h5"))


@pytest.mark.parametrize("exchange", [1, 2, 7])
def test_repro_a_stop_at_an_exchange_resumes_with_the_uninterrupted_counts(tmp_path, monkeypatch, uninterrupted,
                                                                          exchange):
    stop_at_exchange(monkeypatch, exchange)
    stopped = dqsim(["run", *DQC], tmp_path, "stopped.h5", check=False)
    assert stopped.returncode == 75, stopped.stderr
    monkeypatch.undo()
    written = checkpoints(tmp_path / "ck")
    assert len(written) == 1
    full = uninterrupted["dqc"]
    assert open_run(written[0]).attrs["num_windows"] < full.attrs["engine_windows"]  # inside the run, not after
    dqsim(["resume", str(written[0])], tmp_path, "resumed.h5")
    same_run(full, open_run(tmp_path / "resumed.h5"))


@pytest.mark.parametrize(("name", "every_s"), [("dqc", 0.00035), ("repeater", 7198.0)])
def test_repro_a_resume_of_each_periodic_checkpoint_reports_what_the_periodic_run_does(tmp_path, name, every_s):
    """The periodic cuts are the job's (no event passes a multiple of the period before the checkpoint there is
    written, so the run makes more exchanges than one without): a resume of each goes on as the run did."""
    args = [*{"dqc": DQC, "repeater": REPEATER}[name], "--set", f"checkpoint.every_sim_s={every_s}"]
    dqsim(["run", *args], tmp_path, "periodic.h5")
    full = open_run(tmp_path / "periodic.h5")
    written = checkpoints(tmp_path / "ck")
    assert len(written) >= 2
    for index, path in enumerate(written[:3]):
        dqsim(["resume", str(path)], tmp_path, f"resumed{index}.h5")
        same_run(full, open_run(tmp_path / f"resumed{index}.h5"))


#: A 64-node chain with purification: at a stop, memories along it hold pairs in local small states.
LONG_CHAIN = ["jobs/repeater_chain.toml", "--set", "chain.num_links=64", "--set", "chain.total_distance_km=64.0",
              "--set", "chain.num_pairs=2", "--set", "chain.purification_rounds=1"]


def test_repro_a_resumed_chain_keeps_its_local_states_local(tmp_path, monkeypatch):
    """A restore shared every small state, so the resumed run sent each operation on one through a flush: on
    main a 64-node chain stopped at its 4th exchange resumed in many more exchanges and flushes than the run
    it continued made (a 512-node chain, 1,060 instead of 46, at 7x the CPU time; the same pairs)."""
    dqsim(["run", *LONG_CHAIN], tmp_path / "full", "full.h5")
    stop_at_exchange(monkeypatch, 4)
    stopped = dqsim(["run", *LONG_CHAIN], tmp_path, "stopped.h5", check=False)
    assert stopped.returncode == 75, stopped.stderr
    monkeypatch.undo()
    written = checkpoints(tmp_path / "ck")
    assert len(written) == 1
    full = open_run(tmp_path / "full" / "full.h5")
    dqsim(["resume", str(written[0])], tmp_path, "resumed.h5")
    same_run(full, open_run(tmp_path / "resumed.h5"))


def test_repro_a_stop_after_periodic_checkpoints_resumes_with_the_uninterrupted_counts(tmp_path, monkeypatch):
    periodic = ["--set", "checkpoint.every_sim_s=0.000144"]
    dqsim(["run", *DQC], tmp_path / "full", "full.h5", *periodic)
    stop_at_exchange(monkeypatch, 4)
    stopped = dqsim(["run", *DQC], tmp_path, "stopped.h5", *periodic, check=False)
    assert stopped.returncode == 75, stopped.stderr
    monkeypatch.undo()
    dqsim(["resume", str(checkpoints(tmp_path / "ck")[-1])], tmp_path, "resumed.h5")
    same_run(open_run(tmp_path / "full" / "full.h5"), open_run(tmp_path / "resumed.h5"))


#: The 256-link chain that a 2-rank checkpoint resumes on one rank from (``chain2`` of :data:`STOPS_AT_EXCHANGES`).
LONG_CHAIN_256 = ["jobs/repeater_chain.toml", "--set", "chain.num_links=256", "--set", "chain.total_distance_km=256.0",
                  "--set", "chain.num_pairs=2", "--set", "chain.purification_rounds=1"]
#: The runs stopped at an exchange (``tests/mpi_scripts/stop_at_exchange.py``): ``(ranks, exchange, rank, job, full)``
#: by name, ``full``: with the uninterrupted run on as many ranks (``chain2``'s test compares with a one-rank run of
#: its own: none); the 2-rank ones in one launch (:func:`stopped_at_exchanges`).
STOPS_AT_EXCHANGES = {
    "repeater2": (2, 263, 0, [*REPEATER, "--set", "checkpoint.every_sim_s=3968.24"], True),
    "repeater4": (4, 40, 3, ["jobs/repeater_chain.toml", "--set", "chain.num_pairs=4"], True),
    "chain2": (2, 4, 0, LONG_CHAIN_256, False),
}


@pytest.fixture(scope="module")
def stopped_at_exchanges(tmp_path_factory):
    """Each run of :data:`STOPS_AT_EXCHANGES` uninterrupted (where asked), stopped and resumed, in one launch per rank
    count (was a launch per run): its folder by name (``full.h5``, ``ck/``, ``resumed.h5``)."""
    root = tmp_path_factory.mktemp("stops_at_exchanges")
    folders = {}
    for num_ranks in sorted({case[0] for case in STOPS_AT_EXCHANGES.values()}):
        cases = []
        for name, (ranks, exchange, rank, job, full) in STOPS_AT_EXCHANGES.items():
            if ranks == num_ranks:
                folders[name] = root / name
                folders[name].mkdir()
                cases.append([str(folders[name]), exchange, rank, job, full])
        (root / f"cases{num_ranks}.json").write_text(json.dumps(cases))
        run_mpi(num_ranks, ["tests/mpi_scripts/stop_at_exchange.py", "--cases", str(root / f"cases{num_ranks}.json")],
                timeout_s=300 * len(cases))
    return folders


@pytest.mark.parametrize("name", ["repeater2", "repeater4"])
def test_repro_a_stop_on_several_ranks_resumes_with_the_uninterrupted_counts(stopped_at_exchanges, name):
    """The repeater chain on 2 ranks (stopped after periodic checkpoints; on main: 2,943 -> 2,958 windows) and on
    4, stopped at a chosen exchange on one rank and resumed on as many: one launch per rank count
    (``tests/mpi_scripts/stop_at_exchange.py``, :func:`stopped_at_exchanges`). On 4 ranks 4 pairs, not 20 (a fifth
    of the 4 oversubscribed ranks' CPU): the code before 2026-12-06 (7d12843) gave 807 -> 808 windows and 816 -> 818
    flushes there, as it gave 4,624 -> 4,625 windows with 20."""
    folder = stopped_at_exchanges[name]
    written = checkpoints(folder / "ck")
    full = open_run(folder / "full.h5")
    assert open_run(written[-1]).attrs["num_windows"] < full.attrs["engine_windows"]  # inside the engine runs
    same_run(full, open_run(folder / "resumed.h5"))


def test_repro_a_chain_checkpointed_on_two_ranks_resumes_on_one_without_a_flush_per_operation(tmp_path,
                                                                                              stopped_at_exchanges):
    """The operations a 2-rank checkpoint holds as pending left their small states shared after the first flush of
    a one-rank resume, and on one rank no flush handed a state back: every later operation on them went through a
    flush of its own, spreading along the chain (a 256-link chain: 56 windows against the one-rank run's 19; 512
    links: 121 against 26, 3.5 against 1.9 CPU s). Now such a resume hands them back as several ranks do: within
    the one-rank budget's ramp (1 to 1,024 events, 11 windows) of the uninterrupted run, with the same tables.
    (The 2-rank run stopped at its 4th exchange: ``chain2`` of :func:`stopped_at_exchanges`.)"""
    written = checkpoints(stopped_at_exchanges["chain2"] / "ck")
    dqsim(["run", *LONG_CHAIN_256], tmp_path / "one", "one.h5")
    dqsim(["resume", str(written[-1])], tmp_path, "resumed_on_one.h5")
    one, resumed = open_run(tmp_path / "one" / "one.h5"), open_run(tmp_path / "resumed_on_one.h5")
    same_tables(one, resumed, [name for name in one.tables if name != "timing"])
    assert resumed.attrs["engine_events"] == one.attrs["engine_events"]
    assert resumed.attrs["engine_windows"] <= one.attrs["engine_windows"] + 11
