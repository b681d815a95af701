"""userwalk2 D6: the local sweep of docs/running.md ("A sweep on one machine": runs with --set, one of them the
job's own value, then dqsim merge) read by examples/analyse_repeater.py; it refuses another scenario in one line."""

import re
import sys

import numpy as np

from dqsim.io import write_run_file
from mpi_helper import run_command, run_here

JOB = """[run]
name = "t2study"
scenario = "repeater"
seed = 7
[chain]
num_links = [1, 2]
total_distance_km = [20.0]
num_pairs = 6
cutoff_s = 0.05
[chain.link]
scheme = "double_click"
source_fidelity = 1.0
[chain.node]
t1_s = 1000.0
t2_s = 0.1
"""


def analyse(path):
    return run_command([sys.executable, "examples/analyse_repeater.py", str(path)], timeout_s=120, check=False)


def test_a_t2_sweep_on_one_machine_merged_and_analysed(tmp_path):
    job = tmp_path / "chain.toml"
    job.write_text(JOB)
    out = tmp_path / "out"
    run_here(["run", job, "-o", out / "t2-base.h5", "--quiet"])  # the job's own T2 (0.1 s)
    for t2 in ("0.01", "1.0"):
        run_here(["run", job, "--set", f"chain.node.t2_s={t2}", "-o", out / f"t2-{t2}.h5", "--quiet"])
    run_here(["merge", out / "merged.h5", out / "t2-base.h5", out / "t2-0.01.h5", out / "t2-1.0.h5"])
    proc = analyse(out / "merged.h5")
    assert proc.returncode == 0, proc.stderr
    assert "repeater run t2study: 6 chain(s); rate_hz in pairs/s" in proc.stdout
    header, *rows = proc.stdout.splitlines()[1:]
    assert header.split()[:2] == ["chain.node.t2_s", "num_links"] and "steady_rate_hz" in header
    t2s = [float(row.split()[0]) for row in rows]
    assert t2s == [0.1, 0.1, 0.01, 0.01, 1.0, 1.0]  # the baseline's from its job text: a typed column
    # one link: every pair waits alike, F = (1 + exp(-memory time / T2)) / 2 falls with T2
    one_link = {t2: float(row.split()[6]) for t2, row in zip(t2s, rows) if row.split()[1] == "1"}
    assert one_link[0.01] < one_link[0.1] < one_link[1.0]


def test_another_scenario_is_refused_in_one_line(tmp_path):
    write_run_file(tmp_path / "q.h5", attrs={"scenario": "qkd", "job_name": "q"},
                   tables={"links": np.array([(10.0, 5)], dtype=[("distance_km", "f8"), ("secret_key_bits", "i8")])})
    proc = analyse(tmp_path / "q.h5")
    assert proc.returncode == 2 and re.fullmatch(r"analyse_repeater\.py: error: .*not a repeater run "
                                                 r"\(scenario 'qkd'\).*\n", proc.stderr), proc.stderr
