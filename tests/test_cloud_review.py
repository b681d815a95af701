"""Defects found by the independent review of the ``cloud`` scenario (``bench/review_cloud.py``,
``bench/results/review-cloud-vm-20261207.md``)."""

import math

import numpy as np
import pytest

from dqsim.cli.main import main
from dqsim.errors import ConfigError
from dqsim.jobs import load_job_text
from dqsim.jobs.cloud import MAX_ARRIVAL_RATE_HZ, MAX_CLOUD_QUEUE_PS
from dqsim.units import seconds_to_ps
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


def fast_stream(rate_hz: float, start_s: float, num_jobs: int = 3000) -> str:
    """A cloud job of ``num_jobs`` Poisson jobs at ``rate_hz`` from ``start_s`` (one circuit kind: cheap to list)."""
    return cloud_text(jobs="", network='topology = "line"\nnum_nodes = 2', extra=(
        f'[arrivals]\nrate_hz = {rate_hz!r}\nnum_jobs = {num_jobs}\nnum_qubits = [2, 2]\ngenerators = ["ghz"]\n'
        f'shots = 1\nstart_s = {start_s!r}\n'))


@pytest.mark.parametrize("start_s", [0.0, 5e5])
def test_fast_poisson_gaps_keep_the_exponential_law_far_from_t0(start_s):
    """review6 R6-1: the arrival clock ran in float seconds, whose step near 5·10**5 s is 2**-34 s (58 ps), so at
    10**11 Hz (mean gap 10 ps) 95 % of the gaps were 0 and their mean 3.2 ps. Now the clock counts whole ps:
    each gap is an exponential of mean μ = 10 ps rounded to whole ps, whatever ``start_s``, so a gap is 0 with
    probability 1 - e**(-1/(2μ)) (4.88 %) and the mean gap is 1/(2 sinh(1/(2μ))) = 9.9958 ps
    (:data:`~dqsim.jobs.cloud.MAX_ARRIVAL_RATE_HZ`); both within 4 standard errors (3,000 gaps, seed 3)."""
    jobs = cloud.user_jobs_of(load_job_text(fast_stream(MAX_ARRIVAL_RATE_HZ, start_s)))
    gaps = np.diff([seconds_to_ps(start_s)] + [job.submit_ps for job in jobs])
    mu = 1e12 / MAX_ARRIVAL_RATE_HZ
    p_zero = 1.0 - math.exp(-0.5 / mu)
    zero_sigma = math.sqrt(p_zero * (1.0 - p_zero) / gaps.size)
    assert abs(np.mean(gaps == 0) - p_zero) < 4 * zero_sigma, np.mean(gaps == 0)
    mean = 1.0 / (2.0 * math.sinh(0.5 / mu))
    assert abs(gaps.mean() - mean) < 4 * math.sqrt(mu * mu + 1 / 6) / math.sqrt(gaps.size), gaps.mean()


def test_a_rate_whose_whole_ps_gaps_would_distort_the_law_is_refused():
    """Past 10**11 Hz (mean gap under 10 ps) the rounding of each gap to whole ps moves its mean and spread by more
    than 10**-3: refused at load, in one line naming the key and the allowed range."""
    with pytest.raises(ConfigError, match=r"^<string>: \[arrivals\]\.rate_hz = 200000000000\.0: must be in "
                                          r"\(0, 100_000_000_000\]$"):
        load_job_text(fast_stream(2e11, 0.0))
    assert load_job_text(fast_stream(1e11, 0.0)).arrivals.rate_hz == 1e11


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
