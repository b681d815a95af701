"""Where a ``[qkd.network]`` run's per-link tallies go: to the rank that writes the run file alone, which makes the
tables, attributes and summary and hands the attributes and summary to the others (every rank gathered every
link's tally and made every row until 2026-12-07, afternoon: ~15 kB a link on each of two ranks at 65,536 nodes).
Figures: bench/results/qkd-network-gather-vm-20261207p.md. The tables' equality on 1, 2 and 4 ranks is checked by
tests/test_qkd_network_scale.py, tests/test_qkd_scenario.py and tests/test_qkd_classical_channel.py.
"""

import json

import pytest

from mpi_helper import run_mpi

#: Nodes of the chain (255 links of 200 pulses).
NUM_NODES = 256


@pytest.fixture(scope="module")
def ranks_report(tmp_path_factory) -> list[dict]:
    """tests/mpi_scripts/qkd_writer_check.py on two ranks: each rank's tallies, tables, attributes, summary and
    traced peak."""
    out = tmp_path_factory.mktemp("gather") / "ranks.json"
    run_mpi(2, ["tests/mpi_scripts/qkd_writer_check.py", str(out), str(NUM_NODES)], timeout_s=600)
    return json.loads(out.read_text())


def test_only_the_writing_rank_holds_the_tallies_and_tables(ranks_report):
    """Rank 0 (``WRITING_RANK``) gets every link's tally and makes the tables; rank 1 gets none (it had all 255)
    and its output has no table, but the same attributes and summary lines as rank 0's."""
    writer, other = ranks_report
    assert writer["tallies"] == NUM_NODES - 1 and {"blocks", "links", "end_to_end", "relay_links"} <= set(
        writer["tables"])
    assert other["tallies"] is None and other["tables"] == []
    assert other["attrs"] == writer["attrs"] and other["summary"] == writer["summary"]
    assert "total_secret_key_bits" in other["attrs"] and other["summary"]


def test_the_other_rank_s_memory_does_not_hold_every_link_s_rows(ranks_report):
    """While ``run_job`` runs, rank 1's traced peak (its half of the links' processes) stays below rank 0's (its
    half, every link's tally and every row) by more than 2 kB a link: measured 3.9 kB a link (3.41 against
    2.41 MB), and 0.4 kB (3.26 against 3.16 MB) when every rank gathered every tally and made every row."""
    writer, other = ranks_report
    assert writer["peak_bytes"] - other["peak_bytes"] > 2_000 * (NUM_NODES - 1), (writer["peak_bytes"],
                                                                                   other["peak_bytes"])
