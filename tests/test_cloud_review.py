"""Defects found by the independent review of the ``cloud`` scenario (``bench/review_cloud.py``,
``bench/results/review-cloud-vm-20261207.md``)."""

import pytest

from dqsim.cli.main import main
from dqsim.errors import ConfigError
from dqsim.jobs import load_job_text
from dqsim.jobs.cloud import MAX_CLOUD_QUEUE_PS
from dqsim.scenarios import cloud
from test_cloud import cloud_text

#: One Poisson job at 10**-6 Hz: the mean arrival, 10**6 s, is allowed at load, but with seed 5 the drawn arrival
#: is 3.9·10**6 s, past the queue's clock limit (2**61 ps, 2.3·10**6 s).
LATE_ARRIVAL = cloud_text(
    jobs='[[user_jobs]]\nname = "early"\ngenerator = "ghz"\nnum_qubits = 2\nshots = 1\n',
    extra='[arrivals]\nrate_hz = 1e-6\nnum_jobs = 1\nnum_qubits = [2, 2]\ngenerators = ["ghz"]\nshots = 1\n',
    network='topology = "line"\nnum_nodes = 2').replace("seed = 3", "seed = 5")


def test_a_poisson_arrival_past_the_queue_clock_is_refused_before_any_job_runs(tmp_path, monkeypatch, capsys):
    """Before the fix the run simulated the earlier jobs, then stopped with a message that blamed the job's shots
    and overheads ("lower its shots, [scheduler].shot_reset_s or job_setup_s, ...") for an arrival time."""
    job = load_job_text(LATE_ARRIVAL)
    with pytest.raises(ConfigError, match=r"\[arrivals\]\.rate_hz = 1e-06: the Poisson job 'poisson0' arrives at "
                                          r"3\.938e\+06 s .* past the 2\.306e\+06 s \(2\*\*61 ps\)"):
        cloud.user_jobs_of(job)
    path = tmp_path / "late.toml"
    path.write_text(LATE_ARRIVAL)
    ran = []
    monkeypatch.setattr(cloud, "run_dqc", lambda *a, **k: ran.append(1))
    assert main(["run", str(path), "-o", str(tmp_path / "late.h5"), "--quiet"]) == 2
    assert not ran, "refused before any engine run"
    assert "[arrivals].rate_hz" in capsys.readouterr().err


def test_poisson_arrivals_inside_the_clock_are_kept():
    """The same stream with the limit not reached: the job's arrival as drawn, nothing refused."""
    jobs = cloud.user_jobs_of(load_job_text(LATE_ARRIVAL.replace("seed = 5", "seed = 1")))
    assert [j.name for j in jobs] == ["early", "poisson0"]
    assert jobs[1].submit_ps <= MAX_CLOUD_QUEUE_PS


#: A job whose run fails (node1 would swap entanglement with one communication qubit), a job of no simulated time
#: (gate durations 0) and one that runs.
FAILED_JOB = cloud_text(
    link="dark_count_rate_hz = 0.0\n", extra='[scheduler]\npolicy = "backfill"\n',
    jobs=''.join(f'[[user_jobs]]\nname = "{name}"\ngenerator = "{kind}"\nnum_qubits = {size}\nshots = 2\n{at}'
                 for name, kind, size, at in (("q6", "qft", 6, ""), ("g2", "ghz", 2, ""),
                                              ("g8", "ghz", 8, "arrival_s = 1e-9\n")))
).replace("num_comm_qubits = 2", "num_comm_qubits = 1")


def test_the_occupancy_chart_leaves_out_failed_jobs(tmp_path):
    """plot_cloud's docstring: "Rejected and failed jobs hold no time and are left out"; before the fix a failed
    job (status "failed", its QPUs and a start time in the table) was drawn as a bar and counted."""
    plt = pytest.importorskip("matplotlib.pyplot")
    from dqsim.cli.plot_cloud import draw
    from dqsim.io import open_run

    path = tmp_path / "failed.toml"
    path.write_text(FAILED_JOB)
    out = tmp_path / "failed.h5"
    assert main(["run", str(path), "-o", str(out), "--quiet"]) == 0
    run = open_run(out)
    assert list(run.table("jobs")["status"]) == ["failed", "done", "done"]
    fig, ax = plt.subplots()
    assert draw(run, ax) == "QPU occupancy of 2 jobs on 4 QPUs"
    assert sorted({text.get_text() for text in ax.texts}) == ["g2", "g8"]
    plt.close(fig)
