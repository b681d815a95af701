"""A QKD network with Raman noise and an eavesdropper: the same tables on 1 and 2 ranks, and after a resume
on the other rank count.

A trusted chain of 3 nodes (10 and 20 km) shares its fibre with a counter-propagating classical channel
(0 dBm, 1 nm filter: backward Raman noise at Bob) and has Eve intercepting 10 % of the pulses 3 km from
each link's Alice; Cascade corrects the keys (its parity rounds cross ranks on 2 ranks). The job is run on
1 rank without checkpoints (the reference), on 1 and 2 ranks with a checkpoint every 0.15 ms of its ~0.8 ms,
and a middle checkpoint of each is resumed on the other rank count. ``bench/invariance_ranks.py`` varies
such jobs at random (``qkd_raman_eve``, ``--resume``); this is its fast fixed case.
"""

from dqsim.io import open_run
from mpi_helper import run_here, run_mpi
from run_files import checkpoints, same_tables

QUIET = ["--set", "qkd.pulses=200000", "--set", "qkd.batch_pulses=50000", "--set", "qkd.block_pulses=100000",
         "--set", 'qkd.error_correction="cascade"',
         "--set", 'qkd.network={topology="chain", num_nodes=3, distances_km=[10.0, 20.0]}']
NOISY = [*QUIET,
         "--set", 'qkd.classical_channels=[{launch_power_dbm=0.0, direction="counter", filter_bandwidth_nm=1.0}]',
         "--set", 'qkd.eve={attack="intercept_resend", fraction=0.1, distance_km=3.0}']
TABLES = ["links", "blocks", "end_to_end", "relay_links", "timeline"]  # authentication columns included


def checkpointed(folder):
    return ["--set", "checkpoint.every_sim_s=0.00015", "--set", f"checkpoint.directory=\"{folder}\"",
            "--set", "checkpoint.keep=100"]


def test_raman_and_eve_network_same_on_one_and_two_ranks_and_resumed_on_the_other(tmp_path):
    job = ["jobs/qkd_trusted_chain.toml", *NOISY]
    run_here(["run", *job, "-o", tmp_path / "ref.h5", "--quiet"])
    run_here(["run", "jobs/qkd_trusted_chain.toml", *QUIET, "-o", tmp_path / "quiet.h5", "--quiet"])
    run_here(["run", *job, "-o", tmp_path / "one.h5", "--quiet", *checkpointed(tmp_path / "ck1")])
    from_one = checkpoints(tmp_path / "ck1")
    assert len(from_one) >= 3 and open_run(from_one[0]).attrs["num_ranks"] == 1
    # one launch of 2 ranks: the job with checkpoints, then a 1-rank checkpoint resumed
    run_mpi(2, ["tests/mpi_scripts/dqsim_runs.py", "run", *job, "-o", str(tmp_path / "two.h5"), "--quiet",
                *checkpointed(tmp_path / "ck2"), "--then",
                "resume", str(from_one[len(from_one) // 2]), "-o", str(tmp_path / "one_to_two.h5"), "--quiet"],
            timeout_s=240)
    from_two = checkpoints(tmp_path / "ck2")
    assert len(from_two) >= 3 and open_run(from_two[0]).attrs["num_ranks"] == 2
    run_here(["resume", from_two[len(from_two) // 2], "-o", tmp_path / "two_to_one.h5", "--quiet"])

    ref, quiet = open_run(tmp_path / "ref.h5"), open_run(tmp_path / "quiet.h5")
    blocks = ref.table("blocks")
    assert len(blocks) == 4 and blocks["final_keys_equal"].all()
    assert (blocks["auth_key_bits"] > 0).all()  # the tags are paid with or without a key (this job makes none)
    assert (blocks["eve_known_fraction"] > 0).all() and (quiet.table("blocks")["eve_known_fraction"] == 0).all()
    # the Raman photons reach Bob in the vacuum slots too, where only dark counts click without them
    assert (blocks["gain_vacuum"] > 2 * quiet.table("blocks")["gain_vacuum"]).all()
    for name in ("one", "two", "one_to_two", "two_to_one"):
        other = open_run(tmp_path / f"{name}.h5")
        same_tables(ref, other, TABLES)
        assert other.attrs["total_secret_key_bits"] == ref.attrs["total_secret_key_bits"], name
