"""``dqsim check``'s wall-time estimate (:mod:`dqsim.cli.check_time`): the model's pieces against hand-computed
values, the extrapolation with a fake pilot whose times follow a known line, and the ``# time:`` line of every
scenario from a real pilot and of every shipped job."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dqsim import jobs
from dqsim.cli import check_ranks, check_time
from dqsim.cli.check_time import estimate, fit_line, slurm_time, time_line, trotter_steps

from dqsim.backend import warmup as backend_warmup
from dqsim.scenarios import warmup as scenario_warmup

from mpi_helper import ROOT as REPO, run_here

ROOT = Path(__file__).resolve().parents[1]
JOBS = sorted((ROOT / "jobs").glob("*.toml"))
LINE = re.compile(r"^# time: about (\S+ \S+) \(range (\S+ \S+)-(\S+ \S+)\) on 1 rank\(s\) of this machine, from "
                  r".*; for SLURM: --time=\d+:\d\d:00 ", re.M)


def test_model_pieces_against_hand_values():
    # a line through (1, 1.5), (4, 3), (16, 9): t = 1 + 0.5 w exactly
    assert fit_line([(1, 1.5), (4, 3.0), (16, 9.0)]) == pytest.approx((1.0, 0.5))
    # least squares of (1, 2), (2, 2), (3, 5): slope 1.5, intercept 3 - 1.5*2 = 0
    assert fit_line([(1, 2.0), (2, 2.0), (3, 5.0)]) == pytest.approx((0.0, 1.5))
    assert fit_line([(1, 3.0), (4, 2.0)]) == (2.5, 0.0)  # falling with the work (noise): flat at the mean
    # independent points: point k runs k*spp steps, plus one per engine run: 3*(0+1+2+3+4) + 5 = 35
    assert trotter_steps(4, 3, "independent") == 35
    assert trotter_steps(4, 3, "continued") == 3 * 4 + 5
    assert check_time.growing(1, 100) == [1, 4, 16, 64, 100]
    assert slurm_time(59) == "0:01:00" and slurm_time(3601) == "1:01:00" and slurm_time(86400 + 120) == "1-00:02:00"


def _clocked(seconds_of, attrs_of=lambda job: {}):
    """A fake pilot: run ``n`` (1-based) of ``job`` takes ``seconds_of(job, n)`` on a fake wall clock
    (``run.clock``) that each run moves on by its time, and its output has the attributes ``attrs_of(job)``; a
    run longer than its limit is abandoned there."""
    calls, now = [], [0.0]

    def run(job, limit_s):
        calls.append(job)
        seconds = seconds_of(job, len(calls))
        now[0] += min(seconds, limit_s)
        if seconds > limit_s:
            raise check_time._PilotAbandoned
        return seconds, attrs_of(job)

    run.clock = lambda: now[0]
    return run, calls


def _fake_run(per_unit_s: float, per_run_s: float, once_s: float, work_of):
    """A pilot whose runs take ``per_run_s + per_unit_s x work`` seconds, the first ``once_s`` more."""
    return _clocked(lambda job, n: per_run_s + per_unit_s * work_of(job) + (once_s if n == 1 else 0.0))


def test_estimate_extrapolates_the_pilot_line_to_the_whole_job():
    job = jobs.load_job(ROOT / "jobs" / "bb84_decoy_50km.toml")  # 2e7 pulses
    run, calls = _fake_run(1e-6, 0.05, 0.7, lambda pilot: pilot.qkd.pulses)
    got = estimate(job, startup_s=1.5, run=run, clock=run.clock)
    central = 1.5 + 0.7 + 0.05 + 1e-6 * 2e7  # start, once, per run, per pulse x pulses
    assert got.central == pytest.approx(central)
    assert (got.low, got.high) == pytest.approx((central / 2, central * 2))
    assert got.slurm_time_s() == pytest.approx(central * 2 * 1.5 + 60)
    pulses = [pilot.qkd.pulses for pilot in calls]
    assert pulses[0] == pulses[1] == 20_000 and pulses == sorted(pulses) and pulses[-1] < 2e7
    assert all(pilot.checkpoint.every_wall_s is None for pilot in calls)
    assert "budget" not in got.how  # 0.05 s runs: far inside the 3 s budget


def test_on_two_ranks_the_work_divides_as_the_scenario_shares_it():
    """One link: its sender on rank 0, its receiver on rank 1, so the busiest rank runs half the pulses' work and
    all of the fixed part (start 1.5 + once 0.7 + per run 0.05 = 2.25 s); the ranks exchange (event windows), so
    the high end allows EXCHANGE_ALLOWANCE more; on one core the two ranks take turns: all their CPU over it."""
    job = jobs.load_job(ROOT / "jobs" / "bb84_decoy_50km.toml")
    fixed, work = 1.5 + 0.7 + 0.05, 1e-6 * 2e7

    def on(ranks, cores):
        run = _fake_run(1e-6, 0.05, 0.7, lambda pilot: pilot.qkd.pulses)[0]
        return estimate(job, ranks, startup_s=1.5, run=run, clock=run.clock, num_cores=cores, load=0.2)

    two = on(2, 2)
    assert two.central == pytest.approx(fixed + work / 2) and two.low == pytest.approx((fixed + work / 2) / 2)
    assert two.high == pytest.approx((fixed + work / 2) * 2 * check_ranks.EXCHANGE_ALLOWANCE)
    assert "the busiest rank runs 50% of the work" in two.how and "exchanges between ranks are not modelled" in two.how
    assert on(2, 1).central == pytest.approx(2 * fixed + work)  # both ranks' CPU on one core
    four = on(4, 2)  # two nodes: two of the four ranks hold none, but all four start and import
    assert four.central == pytest.approx((4 * fixed + work) / 2) and "oversubscribed" in four.how
    # a load of 15 on 2 cores leaves none free: the ranks share what the pilot had, all ranks' CPU on one core;
    # the low end still divides the work over both
    run = _fake_run(1e-6, 0.05, 0.7, lambda pilot: pilot.qkd.pulses)[0]
    loaded = estimate(job, 2, startup_s=1.5, run=run, clock=run.clock, num_cores=2, load=15.0)
    assert loaded.central == pytest.approx(2 * fixed + work) and loaded.low == pytest.approx(two.low)


def test_exchanges_between_ranks_counted_from_the_pilots_engine_messages():
    """A repeater chain's pilot sends 10 engine messages per end-to-end pair: 1,000 for the job's 100 pairs, of
    which the links between ranks carry 3/7 (chains of 1, 2, 4 links on 2 ranks: one link between them each), each
    an exchange of 0.56 ms x load/cores: at a load of 8 on 2 cores, 2.24 ms; the low end leaves them out (and
    takes both cores as free)."""
    job = jobs.load_job(ROOT / "jobs" / "repeater_chain.toml")
    run = _clocked(lambda pilot, n: 0.05 + 0.01 * pilot.chain.num_pairs,
                   lambda pilot: {"engine_messages": 10 * pilot.chain.num_pairs})[0]
    got = estimate(job, 2, startup_s=1.0, run=run, clock=run.clock, num_cores=2, load=8.0)
    busiest = (1 * 1 / 2 + 2 * 2 / 3 + 4 * 3 / 5) / 7
    divided = 1.0 + 0.05 + 0.01 * 100 * busiest  # the low end: both cores free
    loaded = 2 * (1.0 + 0.05) + 0.01 * 100  # a load of 8 on 2 cores: none free, both ranks' CPU on one
    added = 1000 * 3 / 7 * 0.56e-3 * 4
    assert got.central == pytest.approx(loaded + added) and got.low == pytest.approx(divided / 2)
    assert got.high == pytest.approx((loaded + added) * 2)
    assert "about 429 exchanges between ranks" in got.how and "2.2 ms each (at that load" in got.how


@pytest.mark.parametrize("path, ranks, busiest, total, exchanges", [
    ("bb84_decoy_50km.toml", 4, 1 / 2, 1, True),  # two nodes: ranks 2 and 3 hold none
    ("qkd_trusted_chain.toml", 2, 3 / 4, 1, True),  # nodes [0, 0, 1]: rank 0 holds 3 of the 4 link ends
    # chains of 1, 2, 4 links (x3 distances): nodes [1|1], [2|1], [3|2] on the busier rank, weighted by links
    ("repeater_chain.toml", 2, (1 * 1 / 2 + 2 * 2 / 3 + 4 * 3 / 5) / 7, 1, True),
    # points k = 0..10 of 2k + 1 steps each, longest first to the least loaded rank: 61 of 121 on rank 0
    ("ising_trotter_4qpu.toml", 2, 61 / 121, 1, False),
    ("qft_20q.toml", 4, 1 / 4, 1, True),  # the state vector sharded
    ("dqc_ghz_4qpu.toml", 2, 1, 2, True),  # a register of at most 12 qubits: replicated
])
def test_how_each_scenario_divides_its_work(path, ranks, busiest, total, exchanges):
    parts = check_ranks.split(jobs.load_job(ROOT / "jobs" / path), ranks)
    assert (parts.busiest, parts.total, parts.exchanges) == (pytest.approx(busiest), total, exchanges)


def test_the_pilot_stops_at_its_wall_time_budget():
    """On a loaded machine every run is slow: after its first run the pilot starts no run once PILOT_WALL_S has
    passed and abandons one running then, estimating from the runs before, and the line says so (a fake clock:
    no real time passes)."""
    job = jobs.load_job(ROOT / "jobs" / "bb84_decoy_50km.toml")  # 2e7 pulses
    # runs of 20k, 20k, 80k pulses: 0.3 s (0.2 of it once), 0.1, 0.12; the next, 320k, would take 0.2 s by that
    # line, but a burst of load makes it 10 s: abandoned 3 s after the first run, the estimate from the two
    times = {20_000: 0.1, 80_000: 0.12, 320_000: 10.0}
    run, calls = _clocked(lambda pilot, n: times[pilot.qkd.pulses] + (0.2 if n == 1 else 0.0))
    got = estimate(job, startup_s=1.0, run=run, clock=run.clock)
    assert [pilot.qkd.pulses for pilot in calls] == [20_000, 20_000, 80_000, 320_000]
    assert run.clock() == pytest.approx(0.3 + check_time.PILOT_WALL_S)
    slope = 0.02 / 60_000
    assert got.central == pytest.approx(1.0 + 0.2 + (0.1 - slope * 20_000) + slope * 2e7)
    assert "the pilot stopped at its 3 s budget" in got.how
    # runs of 2.5 s (0.5 once), 2.0, then 80k pulses of 5 s, abandoned at twice the run before (past the budget);
    # from one warm run the run's fixed cost and its work cannot be told apart: the range spans it all fixed to
    # all work
    times = {20_000: 2.0, 80_000: 5.0}
    run, calls = _clocked(lambda pilot, n: times[pilot.qkd.pulses] + (0.5 if n == 1 else 0.0))
    one = estimate(job, startup_s=1.0, run=run, clock=run.clock)
    assert [pilot.qkd.pulses for pilot in calls] == [20_000, 20_000, 80_000]
    assert "stopped at its 3 s budget after 2 runs, the last of 20,000" in one.how
    assert run.clock() == pytest.approx(2.5 + 2.0 + 2 * 2.0)
    assert one.low == pytest.approx((1.0 + 0.5 + 2.0) / 2)
    assert one.high == pytest.approx((1.0 + 0.5 + 2.0 * 2e7 / 20_000) * 2)
    assert one.central == pytest.approx(1.0 + 0.5 + 1.0 + 1.0 * 2e7 / 20_000)
    # a first run of 40 s (a cold numba cache's compile) does not count against the budget
    run, calls = _fake_run(1e-6, 0.05, 40.0, lambda pilot: pilot.qkd.pulses)
    cold = estimate(job, startup_s=1.0, run=run, clock=run.clock)
    assert "budget" not in cold.how and cold.central == pytest.approx(1.0 + 40.0 + 0.05 + 1e-6 * 2e7)


def test_a_pilot_that_compiled_kernels_says_so(monkeypatch):
    """On a cold numba cache the pilot's first run compiles the kernels (26.5 s once on the dev VM, against a
    3 s run): the line says so and by how much the figure may be high; a warm cache adds nothing."""
    job = jobs.load_job(ROOT / "jobs" / "bb84_decoy_50km.toml")
    counts = iter([10, 13])  # before the pilot, after it: 3 kernels compiled
    monkeypatch.setattr(check_time, "compiled_kernels", lambda: next(counts))
    run = _fake_run(1e-6, 0.05, 20.0, lambda pilot: pilot.qkd.pulses)[0]
    got = estimate(job, startup_s=1.5, run=run, clock=run.clock)
    assert got.how.endswith("; its first run compiled 3 numba kernels into the cache, which the run will load "
                            "instead: the figure is high by up to 20.0 s (`dqsim warmup` fills the cache ahead)")
    monkeypatch.setattr(check_time, "compiled_kernels", lambda: 10)
    run = _fake_run(1e-6, 0.05, 0.7, lambda pilot: pilot.qkd.pulses)[0]
    warm = estimate(job, startup_s=1.5, run=run, clock=run.clock)
    assert "compiled" not in warm.how


def test_a_job_small_enough_is_run_whole_and_a_slow_one_gets_a_lower_bound():
    job = jobs.load_job(ROOT / "jobs" / "repeater_chain.toml", ["chain.num_pairs=3"])
    run, calls = _fake_run(0.01, 0.0, 0.5, lambda pilot: pilot.chain.num_pairs)
    got = estimate(job, startup_s=1.0, run=run, clock=run.clock)
    assert [pilot.chain.num_pairs for pilot in calls] == [1, 1, 3] and calls[-1] is job
    assert got.central == pytest.approx(1.0 + 0.5 + 0.03) and got.high == pytest.approx(got.central * 2)

    def too_slow(pilot, limit_s):
        raise check_time._PilotAbandoned

    def broken(pilot, limit_s):
        raise ZeroDivisionError("x")

    assert estimate(job, startup_s=1.0, run=broken) == "the pilot failed (ZeroDivisionError: x)"
    bound = estimate(job, startup_s=1.0, run=too_slow)
    assert bound.lower_bound_only and bound.low == pytest.approx(check_time.FIRST_ABANDON_S * 3)
    assert time_line(job, 1, bound).startswith("time: more than 6.0 min on 1 rank(s)")  # 3 pairs x over 120 s


def test_an_abandoned_pilot_on_several_ranks_states_the_machines_load():
    """A review saw 'the ranks' CPU over the 2 cores a load of 0.0 leaves free' at a load of 17: the abandoned
    first pilot's line divided the work over ranks without the load (docs/review-research-20261206.md)."""
    job = jobs.load_job(ROOT / "jobs" / "repeater_chain.toml", ["chain.num_pairs=3"])

    def too_slow(pilot, limit_s):
        raise check_time._PilotAbandoned

    bound = estimate(job, 2, startup_s=1.0, run=too_slow, num_cores=2, load=17.0)
    assert bound.lower_bound_only and "a load of 17.0 leaves free" in bound.how, bound.how
    assert "the whole job" not in bound.how  # the pilot ran 1 of the 3 pairs: "more than that x 3"
    whole = jobs.load_job(ROOT / "jobs" / "repeater_chain.toml", ["chain.num_pairs=1",
                                                                   "chain.total_distance_km=100.0",
                                                                   "chain.num_links=1"])
    assert "was abandoned: the whole job" in estimate(whole, 1, startup_s=1.0, run=too_slow).how


def test_an_abandoned_pilot_of_one_unit_names_the_unit_singular():
    """A review saw 'a pilot of 1 pairs' (docs/review-research-20261206.md)."""
    job = jobs.load_job(ROOT / "jobs" / "repeater_chain.toml", ["chain.num_pairs=3"])

    def too_slow(pilot, limit_s):
        raise check_time._PilotAbandoned

    assert "a pilot of 1 pair ran past" in estimate(job, 1, startup_s=1.0, run=too_slow).how


def test_an_abandoned_pilot_that_was_compiling_says_so_and_names_warmup(monkeypatch):
    """A review's cold cache: `dqsim check` spent 120 s compiling, and the line blamed the job
    (docs/review-research-20261206.md); a warm cache adds nothing."""
    job = jobs.load_job(ROOT / "jobs" / "repeater_chain.toml", ["chain.num_pairs=3"])

    def too_slow(pilot, limit_s):
        raise check_time._PilotAbandoned

    counts = iter([4, 11])  # before the pilot, at its abandon: 7 kernels compiled
    monkeypatch.setattr(check_time, "compiled_kernels", lambda: next(counts))
    how = estimate(job, 1, startup_s=1.0, run=too_slow).how
    assert ("ran past 120 s and was abandoned while compiling 7 numba kernels into a cold cache (the compile, not "
            "the job, may have taken that time: run `dqsim warmup`, then `dqsim check` again): more than") in how, how
    monkeypatch.setattr(check_time, "compiled_kernels", lambda: 4)
    assert "compil" not in estimate(job, 1, startup_s=1.0, run=too_slow).how


def test_a_register_too_large_to_try_gets_no_estimate():
    big = jobs.load_job(ROOT / "jobs" / "dqc_ghz_4qpu.toml", ["circuit.num_qubits=24", "network.node.num_data_qubits=6",
                                                               "distribution.assignment="])
    assert time_line(big, 1, estimate(big, startup_s=1.0, run=lambda pilot, limit_s: pytest.fail("no pilot run"))) == (
        "time: no estimate: its data register of 24 qubits is too large to try here (more than 20)")


@pytest.mark.parametrize("path", JOBS, ids=[p.stem for p in JOBS])
def test_every_shipped_job_gets_a_time_line(path):
    """Every shipped job's pilot jobs validate and its line is formed (a fake pilot: no run)."""
    job = jobs.load_job(path)
    line = time_line(job, 1, estimate(job, startup_s=1.0, run=lambda pilot, limit_s: (0.01, {}), clock=lambda: 0.0))
    assert LINE.match("# " + line), line


@pytest.mark.parametrize("job, small", [
    ("quickstart.toml", ["circuit.num_qubits=4", "simulation.shots=50", "simulation.observables=[]"]),
    ("dqc_teleport_feedforward.toml", ["simulation.shots=8"]),
    ("bb84_decoy_50km.toml", ["qkd.pulses=100_000", "qkd.batch_pulses=100_000", "qkd.block_pulses=100_000"]),
    ("ising_trotter_continued.toml", ["evolution.num_points=4", "evolution.total_time=0.4"]),
    ("cloud_queue.toml", ["scheduler.policy=\"fifo\""]),
    ("repeater_chain.toml", ["chain.num_links=[1, 2]", "chain.total_distance_km=[50.0]", "chain.num_pairs=5"]),
])
def test_check_prints_the_time_line_from_a_real_pilot(job, small, monkeypatch):
    """Each scenario's pilot runs here: dqsim check prints the line once, with a range around the centre (on a
    cold numba cache too: the pilot then compiles, as before the cold-cache line)."""
    monkeypatch.setattr(scenario_warmup, "cold_groups", lambda job: [])
    args = ["check", f"jobs/{job}", *(item for assignment in small for item in ("--set", assignment))]
    out = run_here(args, time_estimate=True).stdout
    found = LINE.findall(out)
    assert len(found) == 1, out
    assert "# time:" not in run_here(args).stdout  # --no-time (run_here's default for check)


class _Array:
    """A numba array type as a cache index key's first argument has it (its ``dtype``)."""

    def __init__(self, dtype):
        self.dtype = dtype


def test_cold_groups_are_those_of_which_the_cache_holds_no_kernel(monkeypatch):
    """A state group is cached where a state kernel has a version for a shard of its precision (complex128
    shards are viewed as float64), ``qkd`` where a QKD kernel has any; the cache is read, nothing compiled."""
    qkd = jobs.load_job(ROOT / "jobs" / "bb84_decoy_50km.toml", ['run.backend="numpy"'])
    single = jobs.load_job(ROOT / "jobs" / "quickstart.toml", ['run.backend="numpy"'])
    double = jobs.load_job(ROOT / "jobs" / "quickstart.toml", ['run.backend="numpy"', 'run.precision="complex64"'])
    if backend_warmup.fast.numba_kernels() is None:
        pytest.skip("numba is missing or DQSIM_FAST_KERNELS=0: no kernel is ever compiled")
    versions = {"fast.a": [], "fast.b": [], "qkd_kernels.c": []}
    monkeypatch.setattr(backend_warmup, "cached_versions", lambda: versions)
    assert [scenario_warmup.cold_groups(job) for job in (qkd, single, double)] == [
        ["qkd"], ["state-complex128"], ["state-complex64"]]
    versions["fast.b"] = [(_Array("float64"), "int64")]  # a complex128 shard's kernel
    versions["qkd_kernels.c"] = [("int64",)]
    assert [scenario_warmup.cold_groups(job) for job in (qkd, single, double)] == [[], [], ["state-complex64"]]
    assert scenario_warmup.cold_groups(jobs.load_job(ROOT / "jobs" / "repeater_chain.toml")) == []  # no kernels


def test_a_cold_cache_gets_no_pilot_and_the_line_names_warmup():
    """On a cold numba cache the review's `dqsim check` spent about 120 s compiling in its first pilot run before
    it gave up (docs/review-research-20261206.md): now it reads the cache's index, runs no pilot and says to warm
    up. A fresh NUMBA_CACHE_DIR in a process of its own: afterwards the cache holds no kernel (nothing compiled)."""
    import os
    import subprocess
    import sys
    import tempfile

    if backend_warmup.fast.numba_kernels() is None:
        pytest.skip("numba is missing or DQSIM_FAST_KERNELS=0: no kernel is ever compiled")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(REPO)}
        proc = subprocess.run([sys.executable, "-m", "dqsim", "check", "jobs/quickstart.toml", "--set",
                               'run.backend="numpy"'], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
        [line] = [line for line in proc.stdout.splitlines() if line.startswith("# time:")]
        assert line.startswith(f"# time: no estimate: numba's cache ({cache}{os.sep}"), line
        assert line.split(")", 1)[1] == (
            " holds none of the kernels this job calls (state-vector kernels, complex128) for this CPU and this "
            "dqsim, so the pilot would first compile them (about 120 s was seen on the shared 2-core dev VM at a "
            "load of 17): run `dqsim warmup jobs/quickstart.toml` (with the same --set; once per machine and dqsim "
            "version), then `dqsim check` again"), line
        assert not [name for _, _, names in os.walk(cache) for name in names if name.endswith(".nbi")]


def test_a_fake_pilot_never_finds_a_cold_cache_and_a_cold_one_runs_no_pilot():
    job = jobs.load_job(ROOT / "jobs" / "repeater_chain.toml", ["chain.num_pairs=3"])
    got = estimate(job, startup_s=1.0, run=lambda pilot, limit_s: pytest.fail("no pilot run"),
                   cold_groups=lambda job: ["qkd"])
    assert got.startswith("numba's cache") and "(QKD detection and Cascade kernels)" in got
    assert "`dqsim warmup " in got and str(job.source) in got


def test_a_qkd_network_of_many_links_is_piloted_on_its_first_links():
    """A 200-link trusted chain of 10^6 pulses a link is piloted on its first 64 links (``PILOT_MAX_QKD_LINKS``), its
    lengths cut to theirs; the work is links x pulses, so the pilot's time is taken to the job's 200 links; the
    engine's messages grow with the batches of every link. Until 2026-12-07 (later that day) the pilot ran every
    link: a 4,096-link chain's passed its 120 s budget."""
    distances = [10.0 + i % 3 for i in range(200)]
    job = jobs.load_job(REPO / "jobs" / "qkd_trusted_chain.toml", ["qkd.network.num_nodes=201",
                                                                  f"qkd.network.distances_km={distances}"])
    plan = check_time._PLANS["qkd"](job)
    assert plan.full_work == 200 * 10_000_000 and plan.whole is None and "piloted on the first 64" in plan.note
    pilot, work = plan.make(20_000)
    assert work == 64 * 20_000 and pilot.qkd.pulses == 20_000 and pilot.qkd.network.num_nodes == 65
    assert pilot.qkd.network.distances_km == distances[:64]
    assert plan.rounds(work) == 64 and plan.rounds(plan.full_work) == 200 * 10  # batches of 10^6 pulses
    small = jobs.load_job(REPO / "jobs" / "qkd_trusted_chain.toml")  # 2 links: the job itself at its pulses
    assert check_time._PLANS["qkd"](small).make(10_000_000) == (small, 2 * 10_000_000)


def test_a_qkd_star_pilot_says_its_pairs_of_leaves_are_not_counted():
    """A 200-node star is piloted on its first 64 links as a chain is; its ``end_to_end`` and ``relay_links`` rows
    grow with its 199 * 198 / 2 = 19,701 pairs of leaves, quadratic, which the linear scaling leaves out: the
    plan's note says so (a chain's does not)."""
    job = jobs.load_job(REPO / "jobs" / "qkd_trusted_chain.toml",
                        ["qkd.network=", 'qkd.network={topology="star", num_nodes=200}', "qkd.link.distance_km=10.0"])
    plan = check_time._PLANS["qkd"](job)
    pilot, work = plan.make(20_000)
    assert work == 64 * 20_000 and pilot.qkd.network.num_nodes == 65 and pilot.qkd.network.topology == "star"
    assert "not counted: the 19,701 pairs of leaves' end_to_end and relay_links rows" in plan.note
    chain = jobs.load_job(REPO / "jobs" / "qkd_trusted_chain.toml", ["qkd.network.num_nodes=201",
                                                                    f"qkd.network.distances_km={[10.0] * 200}"])
    assert "not counted" not in check_time._PLANS["qkd"](chain).note


def test_the_time_line_names_the_register_at_its_start_and_the_memory_line_its_peak():
    """userwalk2 D10: "a data register of 6 qubits replicated" beside "memory per rank: ... at most 7 qubits" read as
    two answers; the register is 6 at the start (where the run decides replication) and 7 at its peak."""
    job = jobs.load_job(ROOT / "jobs" / "dqc_ghz_4qpu.toml")
    note = check_ranks.split(job, 2).note
    start = job.circuit.num_qubits + 2
    assert note.startswith(f"a data register of {start} qubits at its start (data + 2 scratch; the memory line: "
                           "its peak) replicated"), note
