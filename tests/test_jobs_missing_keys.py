"""A missing key's message says its unit (from the key's name) and its range (from its type), where known.

One key per job section, each removed from an example job under jobs/; the whole message is checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from job_helpers import bad

JOBS = Path(__file__).resolve().parent.parent / "jobs"

#: An [arrivals] table for the cloud example (which has only [[user_jobs]]).
ARRIVALS = "\n[arrivals]\nrate_hz = 10.0\nnum_jobs = 2\nnum_qubits = [2, 3]\n"


def without(job: str, header: str, key: str, extra: str = "") -> str:
    """The text of ``jobs/job`` (then ``extra``) without the line ``key = ...`` of its table ``header``."""
    text = "\n" + (JOBS / job).read_text() + extra
    start = text.index(f"\n{header}\n")
    end = text.find("\n[", start + 1)
    end = len(text) if end < 0 else end
    table, count = re.subn(rf"\n{re.escape(key)} *=[^\n]*", "", text[start:end], count=1)
    assert count == 1, (job, header, key)
    return text[:start] + table + text[end:]


@pytest.mark.parametrize("job, header, key, message", [
    ("ising_trotter_4qpu.toml", "[model]", "num_sites", "missing key [model].num_sites (2..24)"),
    ("ising_trotter_4qpu.toml", "[evolution]", "total_time", "missing key [evolution].total_time (> 0)"),
    ("cloud_queue.toml", "[arrivals]", "rate_hz", "missing key [arrivals].rate_hz (Hz, in (0, 100_000_000_000])"),
    ("cloud_queue.toml", "[arrivals]", "num_jobs", "missing key [arrivals].num_jobs (1..1_000_000)"),
    ("cloud_queue.toml", "[network.link]", "distance_km",
     'missing key [network.link].distance_km (km; required unless every edge of topology = "edges" gives its '
     "own distance)"),
    ("repeater_chain.toml", "[chain]", "total_distance_km", "missing key [chain].total_distance_km (km)"),
    ("bb84_raman_coexistence.toml", "[[qkd.classical_channels]]", "launch_power_dbm",
     "missing key [[qkd.classical_channels]][0].launch_power_dbm (dBm, in [-60, 30])"),
    ("bb84_raman_coexistence.toml", "[[qkd.classical_channels]]", "filter_bandwidth_nm",
     "missing key [[qkd.classical_channels]][0].filter_bandwidth_nm (nm, in (0, 100])"),
    ("qkd_trusted_chain.toml", "[qkd.network]", "num_nodes", "missing key [qkd.network].num_nodes (2..65536)"),
    ("bb84_decoy_50km.toml", "[qkd.link]", "distance_km",
     "missing key [qkd.link].distance_km (km, >= 0; required unless [qkd.sweep] or [qkd.network].distances_km "
     "gives the distances)"),
    ("quickstart.toml", "[circuit]", "num_qubits",
     'missing key [circuit].num_qubits (1..40; required with generator = "ghz")'),
    ("quickstart.toml", "[run]", "name", "missing key [run].name"),  # a string: nothing to add
])
def test_a_missing_key_says_its_unit_and_range(job, header, key, message):
    extra = ARRIVALS if header == "[arrivals]" else ""
    text = bad(without(job, header, key, extra), re.escape(message), base_dir=JOBS)
    assert text.split(": ", 1)[1].split(" (and ")[0] == message, text
