"""The trotter scenario's ``[evolution].mode = "continued"``: one networked evolution per series and trajectory.

The reference is the default mode (``"independent"``: every point run from
``t = 0``): on ideal links both give the same states, so the same observables
to rounding; on noisy links the same means within their standard errors (for
a model whose two modes run the same nonlocal gates: the TFIM, whose merged
Strang half steps are local ``rx``); the cost, read from the ``network``
table, grows linearly with the number of points instead of quadratically. The continued tables on 1 and 2 ranks
are compared in tests/test_trotter.py (``test_one_and_two_ranks_give_identical_continued_tables``), in the launches
of its 1/2/4-rank comparison.
"""

import os
import signal

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.engine import checkpoint
from dqsim.errors import ConfigError
from dqsim.io import open_run
from dqsim.jobs import apply_overrides, load_job, load_job_text
from dqsim.scenarios import trotter as scenario

from conftest import TEST_BACKEND
from mpi_helper import ROOT
from run_files import checkpoints, same_tables
from test_checkpoint_stops import dqsim, same_run, same_state, sigterm_during, stopped_then_resumed

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")
#: Networked evolution over ideal links: both modes apply the same gates (a merged half step split in two).
EXACT_TOL = 1e-10

#: A small XXZ ring (ideal links, one trajectory), swept over a second fibre length (the sweep's tables too).
SMALL_XXZ = ("jobs/xxz_ring_sweep.toml", ["evolution.num_points=4", "evolution.steps_per_point=2",
                                           "simulation.trajectories=1",
                                           'simulation.sweep={parameter = "distance_km", values = [20.0]}',
                                           'simulation.observables=["magnetization", "staggered_magnetization", '
                                           '"correlation", "energy", "loschmidt"]'])


def run(path, overrides=(), mode=None):
    sets = list(overrides) + ([f'evolution.mode="{mode}"'] if mode else [])
    return scenario.run_job(apply_overrides(load_job(ROOT / path), sets), comm=comm_mod.SingleComm(), backend=BACKEND)


def both(path, overrides=()):
    return run(path, overrides, "independent"), run(path, overrides, "continued")


@pytest.mark.parametrize("path,overrides", [("jobs/ising_trotter_4qpu.toml", []),
                                            ("jobs/ising_trotter_continued.toml", []), SMALL_XXZ],
                         ids=["ising_trotter_4qpu", "ising_trotter_continued", "small_xxz"])
def test_on_ideal_links_continued_equals_independent_at_every_point(path, overrides):
    independent, continued = both(path, overrides)
    assert continued.attrs["evolution_mode"] == "continued" and "evolution_mode" not in independent.attrs
    a, b = independent.tables["observables"], continued.tables["observables"]
    num_points = len(apply_overrides(load_job(ROOT / path), overrides).evolution.times())
    assert len(a) == len(b) == num_points * len(set(a["observable"]))
    assert list(a["time"]) == list(b["time"]) and list(a["observable"]) == list(b["observable"])
    for column in ("networked", "trotter"):
        assert np.max(np.abs(a[column] - b[column])) < EXACT_TOL, column
    assert np.array_equal(a["exact"], b["exact"], equal_nan=True)
    assert np.max(np.abs(b["networked"] - b["trotter"])) < EXACT_TOL  # ideal links: the Trotter state itself
    if "sites" in independent.tables:
        for column in ("networked", "trotter"):
            assert np.max(np.abs(independent.tables["sites"][column] - continued.tables["sites"][column])) < EXACT_TOL
    assert np.all(np.abs(continued.tables["network"]["fidelity_to_trotter"] - 1) < EXACT_TOL)
    if "sweep" in independent.tables:
        for column in ("networked", "trotter"):
            assert np.max(np.abs(independent.tables["sweep"][column] - continued.tables["sweep"][column])) < EXACT_TOL
        assert np.all(np.abs(continued.tables["sweep_network"]["fidelity_to_trotter"] - 1) < EXACT_TOL)
    assert np.ptp(b["trotter"][b["observable"] == "loschmidt"]) > 0.05  # the state moved


def test_on_noisy_links_continued_and_independent_means_agree_within_four_standard_errors():
    """Pairs of fidelity 0.9, 24 trajectories: the two modes sample the same channel at every point (each point's
    mean over trajectories is unbiased in both; the continued trajectories are correlated across points)."""
    overrides = ["model.num_sites=4", "network.num_nodes=2", "evolution.num_points=3", "evolution.steps_per_point=1",
                 "evolution.total_time=1.5", "network.link.source_fidelity=0.9", "simulation.trajectories=24",
                 "distribution.assignment=[0, 0, 1, 1]", 'network.node_names=["qpu0", "qpu1"]', "run.seed=11"]
    independent, continued = both("jobs/ising_trotter_4qpu.toml", overrides)
    a, b = independent.tables["observables"], continued.tables["observables"]
    later = a["time"] > 0
    assert np.all(a["networked_stderr"][later & (a["observable"] != "loschmidt")] > 1e-4)  # the noise acted
    assert np.all(b["networked_stderr"][later & (b["observable"] != "loschmidt")] > 1e-4)
    deviation = np.abs(a["networked"] - b["networked"])
    bound = 4 * np.sqrt(a["networked_stderr"] ** 2 + b["networked_stderr"] ** 2)
    assert np.all(deviation[later] <= bound[later]), (deviation, bound)
    assert np.max(np.abs(a["networked"] - a["trotter"])[later]) > 0.01  # far enough off the ideal to test something
    fa, fb = independent.tables["network"], continued.tables["network"]
    assert np.all(fb["fidelity_to_trotter"][1:] < 0.999)
    assert np.all(np.abs(fa["fidelity_to_trotter"] - fb["fidelity_to_trotter"])
                  <= 4 * np.hypot(fa["fidelity_to_trotter_stderr"], fb["fidelity_to_trotter_stderr"]))


def network_table(mode, num_points):
    return run("jobs/ising_trotter_continued.toml", ["model.num_sites=4", "distribution.assignment=[0, 0, 1, 2]",
                                                     f"evolution.num_points={num_points}", "evolution.exact=false"],
               mode).tables["network"]


def test_continued_cost_grows_linearly_with_the_points_independent_quadratically():
    """Per interval the TFIM step has the same gates: cumulative columns are arithmetic sequences in the point."""
    tables = {(mode, points): network_table(mode, points)
              for mode in ("independent", "continued") for points in (5, 10)}
    for points in (5, 10):
        continued, independent = tables[("continued", points)], tables[("independent", points)]
        for column in ("num_gates", "nonlocal_gates", "epr_pairs"):
            steps = np.diff(continued[column])
            assert steps[0] > 0 and np.all(steps == steps[0]), column  # cumulative: the same cost per point
        assert np.array_equal(continued["nonlocal_gates"], independent["nonlocal_gates"])  # the same cut bonds
        assert np.array_equal(continued["epr_pairs"], independent["epr_pairs"])  # one pair per nonlocal gate
        assert np.all(np.diff(continued["simulated_time_ps"]) > 0)
    pairs = {key: table["epr_pairs"] for key, table in tables.items()}
    # what the job costs: the last point's cumulative count, or every point's own run
    assert pairs[("continued", 10)][-1] == 2 * pairs[("continued", 5)][-1]
    per_step = pairs[("continued", 5)][1]
    assert pairs[("independent", 5)].sum() == per_step * 5 * 6 / 2
    assert pairs[("independent", 10)].sum() == per_step * 10 * 11 / 2  # 10·11/(5·6) = 3.67x for twice the points


def test_a_bad_mode_is_refused_in_one_line_naming_file_key_and_values():
    text = (ROOT / "jobs/ising_trotter_continued.toml").read_text().replace('mode = "continued"', 'mode = "resumed"')
    with pytest.raises(ConfigError) as error:
        load_job_text(text, source="jobs/x.toml")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("jobs/x.toml: [evolution].mode = ") and "resumed" in message
    assert "independent" in message and "continued" in message


def test_the_default_mode_is_independent():
    job = load_job(ROOT / "jobs/ising_trotter_4qpu.toml")
    assert job.evolution.mode == "independent"
    assert load_job(ROOT / "jobs/ising_trotter_continued.toml").evolution.mode == "continued"


# ----------------------------------------------------------------- checkpoints and stops

CONTINUED = ["jobs/ising_trotter_continued.toml", "--set", "evolution.num_points=3", "--set",
             "simulation.trajectories=2", "--set", "network.link.source_fidelity=0.8", "--set", "simulation.shots=50"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The output of :data:`CONTINUED` run without checkpoints or stops (one rank)."""
    folder = tmp_path_factory.mktemp("continued_full")
    dqsim(["run", *CONTINUED], folder, "full.h5")
    return open_run(folder / "full.h5")


def test_periodic_checkpoints_inside_every_run_resume_to_the_same_result(tmp_path, uninterrupted):
    """Checkpoints every simulated 0.2 ms cut the runs of both evolutions; resuming one cut in the middle of the
    second trajectory's evolution (its register from the checkpoint, the rest continued from it) gives the
    uninterrupted run's tables."""
    dqsim(["run", *CONTINUED, "--set", "checkpoint.every_sim_s=0.0002", "--set", "checkpoint.keep=100"],
          tmp_path, "periodic.h5")
    periodic = open_run(tmp_path / "periodic.h5")
    same_tables(uninterrupted, periodic, [name for name in uninterrupted.tables if name != "timing"])
    written = checkpoints(tmp_path / "ck")
    runs = sorted({checkpoint.parse_checkpoint_name(path)["engine_run"] for path in written})
    assert {1, 2, 5, 6} <= set(runs), runs  # (runs 0 and 4 prepare |0…0⟩: no event to cut)
    cut = [path for path in written if checkpoint.parse_checkpoint_name(path)["engine_run"] == 6][0]
    dqsim(["resume", str(cut)], tmp_path, "resumed.h5")
    resumed = open_run(tmp_path / "resumed.h5")
    same_tables(uninterrupted, resumed, [name for name in uninterrupted.tables if name != "timing"])
    assert uninterrupted.table("network")["fidelity_to_trotter"][-1] < 0.999  # the noise acted


def test_a_stop_in_the_middle_of_an_evolution_resumes_to_the_same_result(tmp_path, monkeypatch, uninterrupted):
    """SIGTERM as the observables of the second trajectory's third run are read: the checkpoint holds that
    finished run's register; the resume reads it (and rebuilds its noiseless twin) and continues the evolution."""
    run_once, observables_of, runs = scenario._run_once, scenario.observables_of, []

    def observed(*args, **kwargs):
        monkeypatch.setattr(scenario, "observables_of", observables_of)
        os.kill(os.getpid(), signal.SIGTERM)
        return observables_of(*args, **kwargs)

    def hooked(*args, **kwargs):  # the observables of run 6 (trajectory 1, point 2)
        runs.append(1)
        if len(runs) == 7:
            monkeypatch.setattr(scenario, "observables_of", observed)
        return run_once(*args, **kwargs)

    monkeypatch.setattr(scenario, "_run_once", hooked)
    stopped = dqsim(["run", *CONTINUED], tmp_path, "stopped.h5", check=False)
    assert stopped.returncode == 75, stopped.stderr
    [ckpt] = checkpoints(tmp_path / "ck")
    assert checkpoint.parse_checkpoint_name(ckpt)["engine_run"] == 6  # trajectory 1, point 2
    monkeypatch.undo()
    dqsim(["resume", str(ckpt)], tmp_path, "resumed.h5")
    resumed = open_run(tmp_path / "resumed.h5")
    same_tables(uninterrupted, resumed, [name for name in uninterrupted.tables if name != "timing"])


def test_a_sweep_resumed_after_the_evolution_whose_state_it_keeps_runs_that_evolution_again(tmp_path, monkeypatch):
    """The checkpoint of the last engine run (a sweep value's) holds summaries, not the job network's final
    register: the resume runs that evolution's runs again, from its first, and writes the uninterrupted state."""
    args = ["jobs/xxz_ring_sweep.toml", "--set", "evolution.num_points=2", "--set", "simulation.trajectories=1",
            "--set", "simulation.save_state=true", "--set", 'evolution.mode="continued"', "--set",
            'simulation.sweep={parameter = "source_fidelity", values = [0.9]}']
    dqsim(["run", *args], tmp_path / "full", "full.h5")
    full = open_run(tmp_path / "full" / "full.h5")
    ended = sigterm_during(monkeypatch, scenario, "_summary")
    ckpt, resumed = stopped_then_resumed(tmp_path, args)
    assert ended == [None]
    assert checkpoint.parse_checkpoint_name(ckpt)["engine_run"] == 5  # the last of 2 series x 3 points
    monkeypatch.undo()
    assert resumed.has_state
    same_run(full, resumed)
    same_state(full, resumed)
    assert full.table("sweep_network")["fidelity_to_trotter"][-1] < 0.999  # the sweep value's noise acted
