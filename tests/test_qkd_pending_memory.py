"""``dqsim check`` states the memory and checkpoint size of a QKD key block's pending detection reports.

Alice reads Bob's detection reports (one :class:`DetectionBatch` per batch) only when the block's last batch is
sent, so a block holds all of them (docs/review-newuser-20261206.md: 1.85 GB at 4.26e8 pulses of a 1e9-pulse
block at 0 km). Before 2026-12-06 ``dqsim check`` said only "pulse batches of 1,000,000".
"""

import pickle

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.cli import check
from dqsim.jobs import apply_overrides, load_job
from dqsim.protocols.qkd import detections, nodes
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT

JOB = ROOT / "jobs" / "bb84_decoy_50km.toml"
# 5 km, a 10-pulse dead time and afterpulses (the rate formula's every term); two blocks of four batches.
SMALL = ["qkd.link.distance_km=5.0", "qkd.link.dead_time_ps=10000", "qkd.link.afterpulse_probability=0.02",
         "qkd.pulses=2000000", "qkd.batch_pulses=250000", "qkd.block_pulses=1000000"]


def _per_click_arrays(batch):
    return [getattr(batch, name) for name in ("index", "intensity_class", "alice_basis", "alice_bit", "bob_basis",
                                              "bob_bit", "double_click", "eve_knows", "afterpulse")]


def test_bytes_per_detection_is_what_a_batch_holds():
    batch, _ = detections.detect_batch(detections.DecoySource(), channel=detections.ChannelModel(0.5),
                                       detector=detections.DetectorModel(), seed=3, start_pulse=0,
                                       num_pulses=10_000)
    assert batch.num_detected > 0
    assert sum(a.nbytes for a in _per_click_arrays(batch)) == detections.BYTES_PER_DETECTION * batch.num_detected


def test_estimate_matches_the_reports_a_small_run_holds(monkeypatch):
    """The estimate of ``dqsim check`` against the reports Alice reads at each block's end: their arrays
    (memory) and their pickles (what a checkpoint inside the block writes), within 20 %."""
    job = apply_overrides(load_job(JOB), SMALL)
    held: dict[int, list[int]] = {}
    real = nodes.detection_counts

    def measured(batch, num_classes, backend=None):
        block = batch.start_pulse // job.qkd.block_pulses
        arrays, pickled = held.setdefault(block, [0, 0])
        held[block] = [arrays + sum(a.nbytes for a in _per_click_arrays(batch)),
                       pickled + len(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))]
        return real(batch, num_classes, backend)

    monkeypatch.setattr(nodes, "detection_counts", measured)
    qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
    ((link, distance, rate, estimate),) = check.pending_report_bytes(job)
    assert (link, distance) == (0, 5.0) and 0.05 < rate < 0.2
    assert sorted(held) == [0, 1]
    for arrays, pickled in held.values():
        assert abs(arrays / estimate - 1.0) < 0.2, (arrays, estimate)
        assert abs(pickled / estimate - 1.0) < 0.2, (pickled, estimate)
    lines = check.check_job(str(JOB), SMALL, 1)
    assert any(line.startswith("# key block of link 0 (5 km): Bob's detection reports held until the block ends")
               and "checkpoint taken inside the block" in line for line in lines), lines


def test_check_warns_when_the_block_reports_pass_a_share_of_memory(monkeypatch):
    big = ["qkd.link.distance_km=0.0", "qkd.pulses=1000000000", "qkd.block_pulses=1000000000"]
    job = apply_overrides(load_job(JOB), big)
    ((_link, _d, rate, held),) = check.pending_report_bytes(job)
    assert np.isclose(held, 1e9 * rate * 12)  # an int32 index, five uint8 fields, three bools
    monkeypatch.setattr(check, "machine_memory_bytes", lambda: int(held))  # the reports: all of the memory
    warnings = [line for line in check.check_job(str(JOB), big, 1) if "warning" in line]
    assert len(warnings) == 1 and "lower [qkd].block_pulses (now 1,000,000,000)" in warnings[0], warnings
    monkeypatch.setattr(check, "machine_memory_bytes", lambda: int(100 * held))
    assert not [line for line in check.check_job(str(JOB), big, 1) if "warning" in line]
