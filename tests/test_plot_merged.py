"""``dqsim plot`` of a merged repeater or QKD file: one series per task, labelled by the keys its tasks differ in;
tasks that differ only in the x axis's keys (a distance sweep split into tasks) stay one series."""

import numpy as np
import pytest

from dqsim.cli.merge import merge_files
from dqsim.io import open_run, write_run_file
from mpi_helper import run_here

REPEATER = ["jobs/repeater_chain.toml", "--set", "chain.num_links=[1,2]", "--set", "chain.num_pairs=5"]


@pytest.fixture
def axes():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def _labels(ax, ending):
    return sorted(line.get_label() for line in ax.lines if line.get_label().endswith(ending))


def _repeater_run(path, *settings):
    run_here(["run", *REPEATER, *[arg for setting in settings for arg in ("--set", setting)], "-o", path])
    return path


def test_merged_repeater_runs_of_two_purification_rounds_are_two_series_each(tmp_path, axes):
    """The old plot drew both tasks' rows of one chain length as one line (two points at each distance)."""
    from dqsim.cli.plot_repeater import draw

    tasks = [_repeater_run(tmp_path / f"p{rounds}.h5", "chain.total_distance_km=[50,100]",
                           f"chain.purification_rounds={rounds}") for rounds in (0, 1)]
    merge_files(tasks, tmp_path / "merged.h5")
    assert draw(open_run(tmp_path / "merged.h5"), axes).endswith("one series per task of the merged file")
    assert _labels(axes, "ebits (hashing)") == [f"purification_rounds = {r}: {n} link{s}: ebits (hashing)"
                                                for r in (0, 1) for n, s in ((1, ""), (2, "s"))]
    assert all(len(line.get_xdata()) == 2 for line in axes.lines)  # 50 and 100 km of one task each
    bounds = [line for line in axes.lines if "PLOB" in line.get_label() or "direct" in line.get_label()]
    assert {line.get_color() for line in bounds} == {"k"}  # the tasks' fibres agree: one black pair of lines


def _colour(line):
    import matplotlib.colors

    return matplotlib.colors.to_hex(line.get_color())


def test_merged_repeater_runs_of_two_fibre_losses_draw_each_tasks_bounds_in_its_colour(tmp_path, axes):
    """The old plot drew both tasks' PLOB and direct-transmission lines in black, the first one's alone named:
    tasks of different fibre loss could not be told apart (docs/review-research-20261206.md)."""
    from dqsim.cli.plot_repeater import draw

    tasks = [_repeater_run(tmp_path / f"a{loss}.h5", "chain.total_distance_km=[50,100]", "chain.num_links=[1]",
                           f"chain.link.attenuation_db_per_km={loss}") for loss in (0.2, 0.3)]
    merge_files(tasks, tmp_path / "merged.h5")
    draw(open_run(tmp_path / "merged.h5"), axes)
    plob = {line.get_label().split(":")[0]: line for line in axes.lines if "PLOB" in line.get_label()}
    direct = {line.get_label().split(":")[0]: line for line in axes.lines if "direct" in line.get_label()}
    ebits = {line.get_label().split(":")[0]: line for line in axes.lines if "hashing" in line.get_label()}
    names = ["attenuation_db_per_km = 0.2", "attenuation_db_per_km = 0.3"]
    assert sorted(plob) == sorted(direct) == sorted(ebits) == names
    for name in names:  # each task's bounds in its curves' colour
        assert _colour(plob[name]) == _colour(direct[name]) == _colour(ebits[name]) != "#000000"
    assert _colour(plob[names[0]]) != _colour(plob[names[1]])
    # the lines are the tasks' own: a 100 km fibre of 0.3 dB/km passes 10^-3, of 0.2 dB/km 10^-2
    assert plob[names[0]].get_ydata()[-1] > 5 * plob[names[1]].get_ydata()[-1]


def test_a_distance_sweep_split_into_tasks_stays_one_series_per_chain_length(tmp_path, axes):
    from dqsim.cli.plot_repeater import draw

    tasks = [_repeater_run(tmp_path / f"d{km}.h5", f"chain.total_distance_km=[{km}]") for km in (50, 100)]
    merge_files(tasks, tmp_path / "merged.h5")
    assert draw(open_run(tmp_path / "merged.h5"), axes) == "end-to-end rates vs distance"
    assert _labels(axes, "ebits (hashing)") == ["1 link: ebits (hashing)", "2 links: ebits (hashing)"]
    assert [len(line.get_xdata()) for line in axes.lines if line.get_label().endswith("(hashing)")] == [2, 2]


def _qkd_run(path, misalignment, distances, rates, loss=None):
    """A small ``qkd`` distance-sweep run file (the plot's fields only) as ``dqsim run --set`` writes it; with
    ``loss`` (dB/km) its PLOB bound that of such a fibre, else a made-up one shared by every such file."""
    plob = [-np.log2(1 - 10 ** (-loss * d / 10)) if loss else 1.0 / (1 + d) for d in distances]
    sweep = np.array([(d, r, b) for d, r, b in zip(distances, rates, plob)],
                     dtype=[("distance_km", "f8"), ("key_rate_bits_per_pulse", "f8"), ("plob_bits_per_pulse", "f8")])
    overrides = [f"qkd.link.misalignment={misalignment}", f"qkd.sweep.distances_km={list(distances)}"]
    if loss:
        overrides.append(f"qkd.link.attenuation_db_per_km={loss}")
    return write_run_file(path, attrs={"scenario": "qkd", "job_name": "sweep", "seed": 1,
                                       "protocol": "bb84_decoy", "overrides": overrides},
                          tables={"sweep": sweep})


def test_merged_qkd_sweeps_of_two_misalignments_are_two_series(tmp_path, axes):
    """The old plot drew the four rows as one line zigzagging between the tasks' rates."""
    from dqsim.cli.plot_qkd import draw

    tasks = [_qkd_run(tmp_path / "a.h5", 0.01, [50.0, 10.0], [1e-3, 1e-2]),
             _qkd_run(tmp_path / "b.h5", 0.03, [10.0, 50.0], [5e-3, 4e-4])]
    merge_files(tasks, tmp_path / "merged.h5")
    assert draw(open_run(tmp_path / "merged.h5"), axes).endswith("one series per task of the merged file")
    simulated = [line for line in axes.lines if "simulated" in line.get_label()]
    assert [line.get_label() for line in simulated] == ["misalignment = 0.01: simulated (decoy estimate)",
                                                        "misalignment = 0.03: simulated (decoy estimate)"]
    assert [list(line.get_xdata()) for line in simulated] == [[10.0, 50.0], [10.0, 50.0]]
    assert [list(line.get_ydata()) for line in simulated] == [[1e-2, 1e-3], [5e-3, 4e-4]]
    assert [line.get_color() for line in axes.lines if "PLOB" in line.get_label()] == ["k"]  # one fibre


def test_merged_qkd_sweeps_of_two_fibre_losses_draw_each_tasks_bound_in_its_colour(tmp_path, axes):
    """The old plot drew both tasks' PLOB bounds in black, the first one's alone named."""
    from dqsim.cli.plot_qkd import draw

    tasks = [_qkd_run(tmp_path / f"l{i}.h5", 0.01, [10.0, 50.0], [1e-2, 1e-3], loss)
             for i, loss in enumerate((0.2, 0.3))]
    merge_files(tasks, tmp_path / "merged.h5")
    draw(open_run(tmp_path / "merged.h5"), axes)
    plob = [line for line in axes.lines if "PLOB" in line.get_label()]
    simulated = [line for line in axes.lines if "simulated" in line.get_label()]
    assert [line.get_label() for line in plob] == [
        f"attenuation_db_per_km = {loss}: PLOB bound −log2(1−η) of the fibre" for loss in (0.2, 0.3)]
    assert [_colour(line) for line in plob] == [_colour(line) for line in simulated]
    assert len({_colour(line) for line in plob}) == 2
    assert plob[0].get_ydata()[-1] > 3 * plob[1].get_ydata()[-1]  # 50 km: 10^-1 against 10^-1.5 of the light


def test_merged_qkd_tasks_of_one_distance_each_are_one_series(tmp_path, axes):
    from dqsim.cli.plot_qkd import draw

    tasks = [_qkd_run(tmp_path / f"d{int(km)}.h5", 0.01, [km], [rate]) for km, rate in ((50.0, 1e-3), (10.0, 1e-2))]
    merge_files(tasks, tmp_path / "merged.h5")
    assert draw(open_run(tmp_path / "merged.h5"), axes) == "key rate vs distance"
    simulated = [line for line in axes.lines if "simulated" in line.get_label()]
    assert [list(line.get_xdata()) for line in simulated] == [[10.0, 50.0]]


def _finite_key_run(path, pulses):
    """A small finite-key ``qkd`` run file (the block-size plot's fields only): 10 km, one link."""
    sizes = np.array([(10.0, 0, n, 1e-3 * (1 - 1e4 / n)) for n in (1e5, 1e6)],
                     dtype=[("distance_km", "f8"), ("link", "i8"), ("block_pulses", "f8"),
                            ("key_rate_bits_per_pulse", "f8")])
    blocks = np.array([(10.0, 0, 50, pulses, 50 / pulses)],
                      dtype=[("distance_km", "f8"), ("link", "i8"), ("secret_key_bits", "i8"), ("pulses", "i8"),
                             ("key_rate_bits_per_pulse", "f8")])
    return write_run_file(path, attrs={"scenario": "qkd", "job_name": "fk", "seed": 1,
                                       "overrides": [f"qkd.block_pulses={pulses}"]},
                          tables={"block_sizes": sizes, "blocks": blocks})


def test_merged_finite_key_runs_of_two_block_sizes_are_two_curves(tmp_path, axes):
    """The old plot drew both tasks' bound rows as one line and both tasks' blocks as one set of points."""
    from dqsim.cli.plot_qkd import draw

    merge_files([_finite_key_run(tmp_path / f"b{n}.h5", n) for n in (100000, 1000000)], tmp_path / "merged.h5")
    assert draw(open_run(tmp_path / "merged.h5"), axes).endswith("one series per task of the merged file")
    blocks = [line for line in axes.lines if line.get_label().endswith("simulated blocks")]
    assert [(line.get_label(), list(line.get_xdata())) for line in blocks] == [
        ("block_pulses = 100000: 10 km link 0: simulated blocks", [100000.0]),
        ("block_pulses = 1000000: 10 km link 0: simulated blocks", [1000000.0])]
    assert all(len(line.get_xdata()) == 2 for line in axes.lines if "Lim" in line.get_label())


def _single_distance_run(path, distance, rate, misalignment=0.01, more=()):
    """A ``qkd`` run of one distance (its ``links`` table, the fields the plot and examples/analyse_sweep.py read),
    as ``dqsim run --set qkd.link.distance_km=D`` writes it: no ``sweep`` table."""
    links = np.array([(0, distance, rate, 1.0 / (1 + distance), 1e3 * rate, 0.01, 1e9 * rate)],
                     dtype=[("link", "i8"), ("distance_km", "f8"), ("key_rate_bits_per_pulse", "f8"),
                            ("plob_bits_per_pulse", "f8"), ("secret_key_bits", "f8"), ("qber_signal", "f8"),
                            ("key_rate_bits_per_s", "f8")])
    units = {"distance_km": "km", "key_rate_bits_per_s": "bit/s"}
    return write_run_file(path, attrs={"scenario": "qkd", "job_name": "one", "seed": 1, "protocol": "bb84_decoy",
                                       "overrides": [f"qkd.link.distance_km={distance}",
                                                     f"qkd.link.misalignment={misalignment}", *more]},
                          tables={"links": links}, groups_attrs={"links": {"units": units}})


def test_a_merge_of_single_distance_qkd_runs_is_drawn_and_analysed_from_its_links(tmp_path):
    """userwalk 4: three runs at 10, 30 and 60 km merged: `dqsim plot` said "nothing to plot ... a qkd run of one
    distance has no curve" and examples/analyse_sweep.py raised a traceback (no table 'sweep')."""
    import subprocess
    import sys

    pytest.importorskip("matplotlib")
    pytest.importorskip("pandas")
    pytest.importorskip("xarray")
    from dqsim.cli.plot import plot_run
    from mpi_helper import ROOT, child_env

    tasks = [_single_distance_run(tmp_path / f"task-{int(d)}.h5", d, r) for d, r in ((10.0, 4e-2), (30.0, 2e-2),
                                                                                      (60.0, 4e-3))]
    merged = tmp_path / "merged.h5"
    merge_files(tasks, merged)
    assert plot_run(open_run(merged), tmp_path / "m.png") == "key rate vs distance"
    script = [sys.executable, str(ROOT / "examples" / "analyse_sweep.py")]
    proc = subprocess.run([*script, str(merged)], env=child_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "3 distances (table links)" in proc.stdout and "most key at 10 km: 4.000e+07 bit/s" in proc.stdout
    # tasks at one distance, swept in misalignment: key rate against that key
    tasks = [_single_distance_run(tmp_path / f"m{i}.h5", 50.0, r, m) for i, (m, r) in enumerate(((0.01, 1e-3),
                                                                                                 (0.03, 4e-4)))]
    merge_files(tasks, tmp_path / "misaligned.h5")
    drawn = plot_run(open_run(tmp_path / "misaligned.h5"), tmp_path / "x.png")
    assert drawn == "key rate vs qkd.link.misalignment, one point per task of the merged file"
    # files it cannot analyse: one line, status 2, no traceback
    repeater = write_run_file(tmp_path / "rep.h5", attrs={"scenario": "repeater", "job_name": "r"},
                              tables={"rates": np.array([(1.0,)], dtype=[("distance_km", "f8")])})
    for path in (repeater, tasks[0]):
        proc = subprocess.run([*script, str(path)], env=child_env(), capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith(f"analyse_sweep.py: error: {path}: no key rates against distance to analyse")


def test_a_merge_of_tasks_differing_only_in_the_seed_is_drawn_per_task_not_against_the_seed(tmp_path):
    """review3 D8: tasks that differ only in run.seed (repetitions) were drawn as "key rate vs run.seed", the seed
    as a physical axis."""
    pytest.importorskip("matplotlib")
    from dqsim.cli.plot import plot_run

    tasks = []
    for seed, rate in ((1, 1e-3), (2, 1.1e-3), (3, 0.9e-3)):
        tasks.append(_single_distance_run(tmp_path / f"s{seed}.h5", 50.0, rate, more=[f"run.seed={seed}"]))
    merge_files(tasks, tmp_path / "seeds.h5")
    drawn = plot_run(open_run(tmp_path / "seeds.h5"), tmp_path / "s.png")
    assert drawn.startswith("key rate per task") and "only run.seed differs" in drawn, drawn
