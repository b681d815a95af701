"""docs/outputs.md names every column of every table that the scenarios write, and the run attributes of the
``circuit``, ``trotter`` and ``cloud`` scenarios (and those every run file has).

Until 2026-12-06 no document listed the columns of a run file's tables: a researcher reading one with
h5py met ``finite_vacuum_lower``, ``link_attempts_max`` or ``time_key_ps`` with no word on what they hold.
Small runs in this process; a column added to a scenario without a line in docs/outputs.md fails here.
"""

from __future__ import annotations

import re

import h5py

from conftest import TEST_BACKEND
from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import load_job_text
from dqsim.io import open_run
from dqsim.scenarios import circuit_run, cloud, dqc, qkd, repeater, trotter
from mpi_helper import ROOT, run_here

BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")

QKD = '''[run]
name = "d"
scenario = "qkd"
[qkd]
protocol = "{protocol}"
pulses = 20_000
security = "finite_key"
error_correction = "cascade"
{extra}
'''

REPEATER = '''[run]
name = "d"
scenario = "repeater"
[chain]
num_links = [1, 2]
total_distance_km = 20
num_pairs = 2
'''


def _documented(section: str, heading: str | None = None) -> set[str]:
    """The `names` in backticks of docs/outputs.md's section ``## `SECTION` `` (or ``## HEADING``)."""
    text = (ROOT / "docs" / "outputs.md").read_text()
    title = heading if heading is not None else f"`{section}`"
    assert f"\n## {title}\n" in text, f"docs/outputs.md has no section '## {title}'"
    body = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([A-Za-z0-9_]+)`", body))


def _columns(outputs) -> dict[str, set[str]]:
    return {f"{name}.{column}": None for out in outputs for name, table in out.tables.items()
            for column in (table.dtype.names or ())}


def test_every_qkd_column_is_documented():
    jobs = [QKD.format(protocol="bb84_decoy", extra='[qkd.source]\nintensities = [0.5, 0.1, 0.0002]\n'
                       'probabilities = [0.8, 0.15, 0.05]\n[qkd.sweep]\ndistances_km = [0, 10]'),
            QKD.format(protocol="e91", extra="[qkd.link]\ndistance_km = 5")]
    outputs = [qkd.run_job(load_job_text(text), comm=comm_mod.SingleComm(), backend=BACKEND) for text in jobs]
    documented = _documented("qkd")
    tables = {name for out in outputs for name in out.tables}
    assert {"blocks", "sweep", "links", "end_to_end", "block_sizes", "timing"} <= tables, tables
    missing = sorted(c for c in _columns(outputs) if c.split(".")[1] not in documented)
    assert not missing, f"columns of qkd tables not named in docs/outputs.md: {missing}"


def test_every_repeater_column_is_documented():
    out = repeater.run_job(load_job_text(REPEATER), comm=comm_mod.SingleComm(), backend=BACKEND)
    documented = _documented("repeater")
    missing = sorted(c for c in _columns([out]) if c.split(".")[1] not in documented)
    assert not missing, f"columns of repeater tables not named in docs/outputs.md: {missing}"


#: Two QPUs of two data qubits on a line, 1 km apart (the dqc, trotter and cloud jobs below).
TWO_QPUS = '''[network]
topology = "line"
num_nodes = 2
[network.link]
distance_km = 1.0
[network.node]
num_data_qubits = 2'''

DQC = '''[run]
name = "d"
scenario = "dqc"
''' + TWO_QPUS + '''
[circuit]
generator = "ghz"
num_qubits = 4
[simulation]
shots = 10
store_shots = true
observables = ["Z0 Z3"]
'''


def test_every_dqc_column_is_documented():
    out = dqc.run_job(load_job_text(DQC), comm=comm_mod.SingleComm(), backend=BACKEND)
    assert {"counts", "expectation", "gate_counts", "timing", "shots", "links", "assignment", "timeline"} <= set(
        out.tables), out.tables.keys()
    documented = _documented("dqc")
    missing = sorted(c for c in _columns([out]) if c.split(".")[1] not in documented)
    assert not missing, f"columns of dqc tables not named in docs/outputs.md: {missing}"


CIRCUIT = '''[run]
name = "d"
[circuit]
generator = "ghz"
num_qubits = 3
[simulation]
shots = 10
store_shots = true
save_state = true
observables = ["Z0 Z2", "0.5*Z0 + 0.5*Z2"]
'''


def _missing(outputs, documented: set[str]) -> list[str]:
    """Columns of ``outputs``' tables and their root attributes that ``documented`` lacks."""
    columns = [c for c in _columns(outputs) if c.split(".")[1] not in documented]
    attrs = [f"attribute {a}" for out in outputs for a in out.attrs if a not in documented]
    return sorted(columns + attrs)


def test_every_circuit_column_and_attribute_is_documented(tmp_path):
    """A run file of ``dqsim run`` (every attribute it holds, common ones included), then a noisy run
    (trajectories: ``value_stderr``)."""
    job = tmp_path / "c.toml"
    job.write_text(CIRCUIT)
    run_here(["run", job, "-o", tmp_path / "c.h5", "--quiet"])
    run = open_run(tmp_path / "c.h5")
    documented = _documented("circuit") | _documented("", heading="Every run file")
    with h5py.File(tmp_path / "c.h5") as f:
        names = {name: f[name].dtype.names or () for name in f}
        attrs = set(f.attrs) | set(f["state"].attrs)
    assert {"counts", "expectation", "gate_counts", "timing", "shots", "state"} <= set(names), names
    assert run.attrs["sampling"] == "final-state"
    missing = sorted([f"{n}.{c}" for n, cs in names.items() for c in cs if c not in documented]
                     + [n for n in names if n not in documented]
                     + [f"attribute {a}" for a in attrs if a not in documented])
    noisy = circuit_run.run_job(load_job_text(CIRCUIT.replace("save_state = true", "") + "[noise]\n"
                                              "depolarizing_1q = 0.1\n"),
                                comm=comm_mod.SingleComm(), backend=BACKEND)
    assert noisy.attrs["sampling"] == "trajectories" and "value_stderr" in noisy.tables["expectation"].dtype.names
    missing += _missing([noisy], documented)
    missing = sorted(set(missing))
    assert not missing, f"circuit outputs not named in docs/outputs.md: {missing}"


TROTTER = '''[run]
name = "d"
scenario = "trotter"
[model]
kind = "tfim"
num_sites = 4
[evolution]
total_time = 0.5
num_points = 1
steps_per_point = 1
mode = "continued"
''' + TWO_QPUS + '''
[simulation]
observables = ["magnetization", "staggered_magnetization", "correlation", "energy", "loschmidt"]
shots = 4
sweep = { parameter = "distance_km", values = [2.0] }
'''


def test_every_trotter_column_and_attribute_is_documented():
    out = trotter.run_job(load_job_text(TROTTER), comm=comm_mod.SingleComm(), backend=BACKEND)
    assert {"observables", "sites", "network", "sweep", "sweep_network", "counts", "timing"} <= set(out.tables), \
        out.tables.keys()
    assert "evolution_mode" in out.attrs and "sweep_values" in out.attrs
    documented = _documented("trotter")
    observables = {str(name) for name in out.tables["observables"]["observable"]}
    missing = _missing([out], documented) + sorted(f"observable {o}" for o in observables - documented)
    assert not missing, f"trotter outputs not named in docs/outputs.md: {missing}"


CLOUD = '''[run]
name = "d"
scenario = "cloud"
''' + TWO_QPUS + '''
[scheduler]
policy = "backfill"
[[user_jobs]]
name = "bell"
generator = "ghz"
num_qubits = 2
shots = 5
[[user_jobs]]
name = "ghz4"
generator = "ghz"
num_qubits = 4
shots = 5
arrival_s = 1e-6
'''


def test_every_cloud_column_and_attribute_is_documented():
    out = cloud.run_job(load_job_text(CLOUD), comm=comm_mod.SingleComm(), backend=BACKEND)
    assert {"jobs", "counts", "centre", "wait_distribution", "timing"} <= set(out.tables), out.tables.keys()
    documented = _documented("cloud")
    missing = _missing([out], documented)
    assert not missing, f"cloud outputs not named in docs/outputs.md: {missing}"
