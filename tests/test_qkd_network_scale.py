"""A QKD trusted chain past the old cap of ``[qkd.network]`` (4,096 nodes until 2026-12-07, later that day), at a
few pulses per link: the same tables on 1 and 2 ranks, a relay row per hop, the nodes named by their role
without a string per node, and the run file's ``warnings`` attribute bounded (it listed a warning a link:
1.4 MB at 4,096 nodes). Sizes and costs: bench/results/qkd-network-scale-vm-20261207.md.
"""

import pytest

from dqsim.io import open_run
from dqsim.scenarios.qkd import MAX_WARNINGS_LISTED
from mpi_helper import run_here, run_mpi
from run_files import same_tables

#: Nodes of the chain: past the old cap of 4,096.
NUM_NODES = 4_200


def chain_args(out) -> list[str]:
    """``dqsim run`` of a 4,200-node trusted chain (4,199 links of 30 km, 200 pulses each) writing ``out``."""
    return ["run", "jobs/qkd_trusted_chain.toml", "--set", f"qkd.network.num_nodes={NUM_NODES}", "--set",
            "qkd.network.distances_km=", "--set", "qkd.link.distance_km=30.0", "--set", "qkd.pulses=200", "--set",
            "qkd.batch_pulses=200", "-o", str(out), "--quiet"]


@pytest.mark.timeout(900)  # two runs of 4,199 links (~25 CPU s on one rank, more on two)
def test_repro_a_trusted_chain_past_4096_nodes_runs_alike_on_one_and_two_ranks(tmp_path):
    """``[qkd.network].num_nodes = 4200`` was refused (must be <= 4096); it runs, with a key row per link, the
    relay's hops, the nodes ``alice``, ``trusted1`` ... in the timeline (each link's first node: its Alice), the
    same on 1 and 2 ranks (tests/mpi_scripts/dqsim_runs.py). Four ranks are compared with one at smaller sizes
    (tests/test_qkd_scenario.py, tests/test_qkd_classical_channel.py); a third run of 4,199 links on four ranks,
    on the CI's 2 cores, is left out for the suite's time."""
    run_here(chain_args(tmp_path / "one.h5"))
    for ranks in (2,):
        run_mpi(ranks, ["tests/mpi_scripts/dqsim_runs.py", *chain_args(tmp_path / f"r{ranks}.h5")], timeout_s=900)
    one = open_run(tmp_path / "one.h5")
    names = [name for name in one.tables if name != "timing"]
    assert len(one.table("links")) == NUM_NODES - 1 and len(one.table("relay_links")) == NUM_NODES - 1
    (end,) = one.table("end_to_end")
    assert (end["node_a"], end["node_b"]) == (0, NUM_NODES - 1)
    nodes = set(one.table("timeline")["node"].tolist())
    assert {"alice", f"trusted{NUM_NODES - 2}"} <= nodes and f"trusted{NUM_NODES - 1}" not in nodes  # (Alice's)
    warnings = one.attrs.get("warnings", "")
    assert warnings.count("; ") <= 4 * MAX_WARNINGS_LISTED, len(warnings)  # up to 64 of each of 4 kinds
    for ranks in (2,):
        other = open_run(tmp_path / f"r{ranks}.h5")
        assert other.attrs["num_ranks"] == ranks
        same_tables(one, other, names)
