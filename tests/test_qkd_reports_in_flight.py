"""BB84's messages in flight hold their per-pulse and per-click fields packed (since 2026-12-06).

Bob's detection report of a batch (``sampling = "detections"``) travelled as the :class:`DetectionBatch`, an int32
index and eight one-byte fields a click (12 bytes); it now travels as a :class:`PackedDetectionBatch` (the index
in the narrowest unsigned type, the fields a bit each, the class in two bits): 5.125 bytes a click in batches
above 2^16 pulses. With ``sampling = "pulses"`` Alice's pulses (7 bytes a pulse) and Bob's report (5 bytes a
pulse) travel as bit planes, his only for the pulses he detected. The tables are those of the code before, and a
checkpoint holding reports in the older form resumes to them.
"""

import pickle

import numpy as np
import pytest

from dqsim.cli.main import main
from dqsim.io import open_run
from dqsim.protocols.qkd import detections, nodes
from dqsim.protocols.qkd.bb84 import alice_batch, bob_detect
from dqsim.protocols.qkd.detections import PackedDetectionBatch
from dqsim.protocols.qkd.packed_bits import PackedFields
from mpi_helper import ROOT
from run_files import checkpoints, node_record_bytes, same_tables

JOB = str(ROOT / "jobs" / "bb84_decoy_50km.toml")
TABLES = ["blocks", "links", "end_to_end", "timeline"]
# 10 km (a round trip of 98 µs), batches of 50,000 pulses (50 µs), one block of eight batches, Cascade. (Four
# until 2026-12-07, evening: since, a report also takes its ~60,000 bits at 1 Gbit/s, so the first comes back
# some 210 µs after its batch and the source folds reports before the block's end only in a longer block.)
SMALL = ["--set", "qkd.link.distance_km=10.0", "--set", "qkd.pulses=400000", "--set", "qkd.batch_pulses=50000",
         "--set", "qkd.block_pulses=400000", "--set", 'qkd.error_correction="cascade"', "--quiet"]
EVERY = ["--set", "checkpoint.every_sim_s=0.00006", "--set", "checkpoint.keep=100"]


def _in_flight(path):
    """Alice's process (node 0) in a checkpoint and the payloads of the messages of her link in flight or
    waiting in a mailbox (on one rank both nodes' messages sit in the one record)."""
    record = pickle.loads(node_record_bytes(path, 0))
    messages = [m for box in record["mailbox"].values() for m in box]
    messages += [entry[4] for entry in record["queue"] if entry[3] == "deliver"]
    return record["processes"][0].process, [(m.tag[2], m.payload) for m in messages if m.tag[2] in
                                            ("report", "pulses")]


@pytest.mark.parametrize("sampling", ["detections", "pulses"])
def test_messages_in_flight_take_the_packed_bytes(tmp_path, sampling):
    """Checkpoints inside the block hold Bob's reports packed, at most :func:`packed_bytes_per_detection` bytes a
    click plus a byte per bit plane (before: :class:`DetectionBatch`, 12 bytes a click); pulse by pulse, Alice's
    pulses at most a byte a pulse (before 7) and Bob's report the detected pulses' indices and five bits each
    (before 5 bytes a pulse); and a checkpoint holding them resumes to the run's tables."""
    ck = tmp_path / "ck"
    assert main(["run", JOB, "-o", str(tmp_path / "run.h5"), *SMALL, *EVERY, "--set", f'checkpoint.directory="{ck}"',
                 "--set", f'qkd.sampling="{sampling}"']) == 0
    bound = detections.packed_bytes_per_detection(3, 50_000)
    assert bound == 3.125  # a uint16 index, 9 bits of fields
    with_reports = []
    for path in checkpoints(ck):
        for tag, payload in _in_flight(path)[1]:
            if tag == "pulses" and sampling == "pulses":  # Alice's pulses to Bob
                assert isinstance(payload[3], PackedFields) and payload[3].size == 50_000
                assert payload[3].nbytes <= 50_000 + 8
            elif tag == "report" and sampling == "pulses":
                report = payload[1]
                assert isinstance(report, PackedFields) and report.size == 50_000 and report.num_kept > 100
                assert report.nbytes <= report.num_kept * (2 + 5 / 8) + 5
                with_reports.append(path)
            elif tag == "report":
                report = payload[1]
                assert isinstance(report, PackedDetectionBatch), type(report)
                assert report.num_detected > 1000
                assert report.nbytes <= bound * report.num_detected + 9
                assert len(pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL)) < 4 * report.num_detected + 2048
                with_reports.append(path)
    assert len(with_reports) >= 3
    resumed = tmp_path / "resumed.h5"  # from a checkpoint holding packed messages
    assert main(["resume", str(with_reports[len(with_reports) // 2]), "-o", str(resumed), "--quiet"]) == 0
    same_tables(open_run(tmp_path / "run.h5"), open_run(resumed), TABLES)


def _old_messages(patch):
    """The code before 2026-12-06: reports and pulses travel as the arrays drawn."""
    draw = nodes.detect_batch
    patch.setattr(nodes, "detect_batch", lambda *args, **kwargs: draw(*args, **{**kwargs, "pack_from_clicks": None}))
    patch.setattr(nodes, "pulses_in_flight", lambda arrays: arrays)
    patch.setattr(nodes, "detections_in_flight", lambda arrays: arrays)

    def alice_arrays(backend, source, seed, start, size, node):  # drawn whole (since 2026-12-06 in segments)
        batch = alice_batch(backend.xp, source, seed, start, size, node=node)
        return {name: backend.to_host(getattr(batch, name)) for name in nodes.PULSE_FIELDS}

    def bob_arrays(backend, arrays, start, size, receiver, receiver_args):
        arrays = arrays.unpacked() if isinstance(arrays, PackedFields) else arrays
        bob, receiver = bob_detect(backend.xp, nodes._alice_from_host(backend.xp, start, arrays),
                                   receiver_state=receiver, **receiver_args)
        return {name: backend.to_host(getattr(bob, name)) for name in nodes.REPORT_FIELDS}, receiver

    patch.setattr(nodes, "alice_pulses_message", alice_arrays)
    patch.setattr(nodes, "pulses_report", bob_arrays)


@pytest.mark.parametrize("sampling", ["detections", "pulses"])
def test_a_checkpoint_with_reports_in_flight_in_the_older_form_resumes_to_the_same_tables(tmp_path, monkeypatch,
                                                                                          sampling):
    """A checkpoint inside a block whose messages in flight hold the unpacked arrays (a ``DetectionBatch``, or
    dicts of per-pulse arrays) resumes to the tables of the uninterrupted run with packed messages."""
    extra = [*SMALL, "--set", f'qkd.sampling="{sampling}"']
    full = tmp_path / "full.h5"
    assert main(["run", JOB, "-o", str(full), *extra]) == 0
    ck = tmp_path / "ck"
    with monkeypatch.context() as patch:
        _old_messages(patch)
        assert main(["run", JOB, "-o", str(tmp_path / "old.h5"), *extra, *EVERY,
                     "--set", f'checkpoint.directory="{ck}"']) == 0
    older = []
    for path in checkpoints(ck):
        alice, payloads = _in_flight(path)
        reports = [p[1] for tag, p in payloads if tag == "report"]
        if alice.phase == "emit" and reports and alice.keys[0].num_bits:
            assert not any(isinstance(r, (PackedDetectionBatch, PackedFields)) for r in reports)
            older.append(path)
    assert older, "no checkpoint inside a block with reports in flight"
    resumed = tmp_path / "resumed.h5"
    assert main(["resume", str(older[len(older) // 2]), "-o", str(resumed), "--quiet"]) == 0
    same_tables(open_run(full), open_run(resumed), TABLES)


def test_pulses_in_flight_take_about_a_byte_a_pulse():
    """Alice's pulses (three classes, μ = 0.5) in bit planes, and Bob's report of a batch at 50 km: only the
    detected pulses' indices and their four fields (before: 7 and 5 bytes a pulse)."""
    from dqsim.protocols.qkd.bb84 import DecoySource, DetectorModel, alice_batch, bob_detect

    alice = alice_batch(np, DecoySource(intensities=(0.5, 0.1, 0.0), probabilities=(0.8, 0.1, 0.1)), 3, 0, 100_000)
    arrays = {name: getattr(alice, name) for name in ("basis", "bit", "intensity_class", "photons")}
    sent = nodes.pulses_in_flight(arrays)
    assert sent.nbytes <= 100_000 * 8 / 8 + 8 and all(np.array_equal(v, arrays[k]) for k, v in sent.unpacked().items())
    bob, _ = bob_detect(np, alice, transmittance=0.1, detector=DetectorModel(), seed=3)
    report = {name: getattr(bob, name) for name in ("detected", "basis", "bit", "double_click", "eve_knows")}
    packed = nodes.detections_in_flight(report)
    clicks = int(bob.detected.sum())
    assert 100 < clicks < 10_000 and packed.nbytes <= clicks * (4 + 5 / 8) + 5
    back = packed.unpacked()
    for name, array in report.items():
        np.testing.assert_array_equal(back[name][bob.detected], array[bob.detected], err_msg=name)
