"""The user's workflow around a run: progress lines in logs, ``dqsim check``, tables for analysis,
example jobs shipped with the package."""

import io as _io
import time

from dqsim.cli.progress import ProgressLog
from test_cli import dqsim

QKD_SMALL = ["--set", "qkd.pulses=200000", "--set", "qkd.batch_pulses=100000", "--set", "qkd.block_pulses=200000"]


def test_progress_lines_in_a_log_every_sweep_point_and_quiet_silences_them(tmp_path):
    out = tmp_path / "sweep.h5"
    proc = dqsim("run", "jobs/bb84_distance_sweep.toml", "-o", str(out), *QKD_SMALL)  # stdout is a pipe
    lines = [line for line in proc.stdout.splitlines() if line.startswith("dqsim: [")]
    assert lines[0].endswith("qkd bb84_distance_sweep")
    points = [line for line in lines if " distances " in line]
    assert [p.split(" distances ")[1].split()[0] for p in points] == [f"{i}/9" for i in range(1, 10)]
    quiet = dqsim("run", "jobs/bb84_distance_sweep.toml", "-o", str(out), "--quiet", *QKD_SMALL)
    assert quiet.stdout == ""


def test_progress_heartbeat_during_a_silent_stage():
    now = [0.0]
    out = _io.StringIO()
    log = ProgressLog(out, heartbeat_s=10.0, clock=lambda: now[0])
    log.update(0, 1000, "gates")
    now[0] = 5.0
    log.update(500, 1000, "gates")  # a long count: a line, as a second has passed
    now[0] = 5.5
    log.update(600, 1000, "gates")  # within a second of the last line: none
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("dqsim: [    5.0 s] gates 500/1000 (50%), about 5 s left")
    log = ProgressLog(out := _io.StringIO(), heartbeat_s=0.05)
    log.update(0.25, 1.0, "simulated 1.0 µs, circuit steps")
    log.start()
    deadline = time.monotonic() + 30
    while out.getvalue().count("\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    log.stop()
    assert out.getvalue().count("(25%)") >= 3  # the same state, repeated by the heartbeat


def test_check_prints_the_resolved_job_memory_and_work():
    proc = dqsim("check", "jobs/quickstart.toml", "-n", "8", "--set", "circuit.num_qubits=34")
    assert "[simulation]\nshots = 2000\n" in proc.stdout  # defaults filled in
    assert "# circuit_seed: unset" in proc.stdout
    assert "# memory per rank: 32.69 GiB (data register: 34 qubits, complex128, shard 32.00 GiB" in proc.stdout
    assert "# work: 34 qubits, 34 gates, 2000 shots (final-state sampling)" in proc.stdout
    sweep = dqsim("check", "jobs/bb84_distance_sweep.toml", "-n", "3")
    assert "9 distance(s) x 1 link(s) x 5,000,000 pulses = 45,000,000 pulses" in sweep.stdout


def test_check_refuses_what_run_would_refuse_in_one_line():
    bad_value = dqsim("check", "jobs/quickstart.toml", "--set", "simulation.shots=-1", check=False)
    assert bad_value.returncode == 2 and bad_value.stdout == ""
    assert bad_value.stderr.startswith("dqsim: error: ") and "[simulation].shots = -1" in bad_value.stderr
    bad_ranks = dqsim("check", "jobs/quickstart.toml", "-n", "3", check=False)
    assert bad_ranks.returncode == 2 and bad_ranks.stderr.count("\n") == 1 and "power-of-two" in bad_ranks.stderr
