"""Defects found by the independent review of the ``cloud`` scenario (``bench/review_cloud.py``,
``bench/results/review-cloud-vm-20261207.md``)."""

import pytest

from dqsim.cli.main import main
from dqsim.errors import ConfigError
from dqsim.jobs import load_job_text
from dqsim.jobs.cloud import MAX_CLOUD_QUEUE_PS
from dqsim.scenarios import cloud

#: One Poisson job at 10**-6 Hz: the mean arrival, 10**6 s, is allowed at load, but with seed 5 the drawn arrival
#: is 3.9·10**6 s, past the queue's clock limit (2**61 ps, 2.3·10**6 s).
LATE_ARRIVAL = """[run]
name = "late"
scenario = "cloud"
seed = 5
[network]
topology = "line"
num_nodes = 2
[network.link]
distance_km = 1.0
[network.node]
num_data_qubits = 2
[[user_jobs]]
name = "early"
generator = "ghz"
num_qubits = 2
shots = 1
[arrivals]
rate_hz = 1e-6
num_jobs = 1
num_qubits = [2, 2]
generators = ["ghz"]
shots = 1
"""


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
