"""docs/outputs.md names every column of every table that the ``qkd``, ``repeater`` and ``dqc`` scenarios write.

Until 2026-12-06 no document listed the columns of a run file's tables: a researcher reading one with
h5py met ``finite_vacuum_lower``, ``link_attempts_max`` or ``time_key_ps`` with no word on what they hold.
Small runs in this process; a column added to a scenario without a line in docs/outputs.md fails here.
"""

from __future__ import annotations

import re

from conftest import TEST_BACKEND
from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import load_job_text
from dqsim.scenarios import dqc, qkd, repeater
from mpi_helper import ROOT

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


def _documented(section: str) -> set[str]:
    """The `names` in backticks of docs/outputs.md's section ``## SECTION``."""
    text = (ROOT / "docs" / "outputs.md").read_text()
    body = text.split(f"\n## `{section}`\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([a-z0-9_]+)`", body))


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


DQC = '''[run]
name = "d"
scenario = "dqc"
[network]
topology = "line"
num_nodes = 2
[network.link]
distance_km = 1
[network.node]
num_data_qubits = 2
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
