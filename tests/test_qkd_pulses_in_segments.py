"""The pulse-by-pulse sampler (``sampling = "pulses"``) drawn and folded a segment at a time (since 2026-12-06).

Until 2026-12-06 Bob unpacked Alice's whole message and drew the whole batch (7 + 5 bytes a pulse, some 17 at the
batch's peak, ``bench/results/qkd-batch-peak-vm-20261206.md``), and Alice unpacked both again to fold his report.
Now both go a segment (``bb84.segments``, 2^18 pulses) at a time: the same report, byte for byte, the same
receiver state, counts and key bits, and the peak of Bob's side bounded.
"""

from __future__ import annotations

import pickle
import tracemalloc

import numpy as np

from dqsim import backend as backend_mod
from dqsim.protocols.qkd import nodes
from dqsim.protocols.qkd.bb84 import (SEGMENT_PULSES, ChannelModel, DecoySource, DetectorModel, EveModel,
                                      alice_batch, bob_detect)
from dqsim.protocols.qkd.packed_bits import GrowingPlanes, PackedFields

FIELDS = ("basis", "bit", "intensity_class", "photons")


def _message(start: int, size: int):
    batch = alice_batch(np, DecoySource(), 5, start, size, node=0)
    return nodes.pulses_in_flight({name: getattr(batch, name) for name in FIELDS})


def _whole_report(message, start, size, receiver, args):  # the code until 2026-12-06
    arrays = message.unpacked() if isinstance(message, PackedFields) else message
    alice = nodes._alice_from_host(np, start, arrays)
    bob, receiver = bob_detect(np, alice, receiver_state=receiver, **args)
    return nodes.detections_in_flight({name: getattr(bob, name) for name in nodes.REPORT_FIELDS}), receiver


def test_report_drawn_in_segments_is_the_whole_batchs_byte_for_byte():
    """Batches across segment boundaries, starting off a byte and a segment, with dead time and afterpulses (the
    receiver state carried from segment to segment and batch to batch), Eve's intercept-resend and beam
    splitting, and batches under the packing threshold: the report's pickle and the receiver state equal."""
    numpy = backend_mod.select("numpy")
    detector = DetectorModel(dead_time_pulses=3, afterpulse_probability=0.2)
    cases = [(dict(transmittance=ChannelModel.from_fibre(1.0), detector=detector), SEGMENT_PULSES - 1003, 2011),
             (dict(transmittance=ChannelModel.from_fibre(5.0), detector=DetectorModel(),
                   eve=EveModel(attack="intercept_resend", fraction=0.5)), 2 * SEGMENT_PULSES - 5, 3000),
             (dict(transmittance=ChannelModel.from_fibre(5.0), detector=DetectorModel(),
                   eve=EveModel(attack="beam_splitting", fraction=1.0, position=0.2)), 2 * SEGMENT_PULSES, 40),
             (dict(transmittance=1.0, detector=detector), 7, 63)]
    for args, start, size in cases:
        args = dict(args, seed=5, node=1)
        message = _message(start, size)
        receiver = whole_receiver = None
        for first in (start, start + size):  # two batches: the receiver state carried over
            if first != start:
                message = _message(first, size)
            ours, receiver = nodes.pulses_report(numpy, message, first, size, receiver, args)
            theirs, whole_receiver = _whole_report(message, first, size, whole_receiver, args)
            assert pickle.dumps(ours) == pickle.dumps(theirs), (start, size)
            assert receiver == whole_receiver


def test_message_drawn_in_segments_is_the_whole_batchs_byte_for_byte():
    """Alice's message drawn and packed a segment at a time (``nodes.alice_pulses_message``) is the message of the
    batch drawn at once, pickle for pickle: batches across segment boundaries, off a byte, under the packing
    threshold, intense pulses (more photon-number planes)."""
    numpy = backend_mod.select("numpy")
    for source, start, size in ((DecoySource(), SEGMENT_PULSES - 13, SEGMENT_PULSES + 100),
                                (DecoySource(), 3, 40), (DecoySource(), 0, SEGMENT_PULSES),
                                (DecoySource(intensities=(2.0, 0.1, 0.0)), 5, 2 * SEGMENT_PULSES + 9)):
        batch = alice_batch(np, source, 5, start, size, node=0)
        whole = nodes.pulses_in_flight({name: getattr(batch, name) for name in FIELDS})
        ours = nodes.alice_pulses_message(numpy, source, 5, start, size, 0)
        assert pickle.dumps(ours) == pickle.dumps(whole), (start, size)


def test_growing_planes_are_packed_fields_of_the_pieces_joined():
    """Pieces of any length appended to GrowingPlanes give PackedFields of the arrays joined, pickle for pickle:
    a plane first needed in a later piece, a bool field, a field of zeros, empty pieces."""
    rng = np.random.default_rng(3)
    pieces = [{"n": rng.integers(0, top, size).astype(np.int32), "flag": rng.random(size) < 0.3,
               "zero": np.zeros(size, np.uint8)} for top, size in ((2, 13), (2, 0), (9, 70_001), (300, 5), (1, 8))]
    planes = GrowingPlanes()
    for piece in pieces:
        planes.append(piece)
    joined = {name: np.concatenate([piece[name] for piece in pieces]) for name in pieces[0]}
    assert pickle.dumps(planes.fields()) == pickle.dumps(PackedFields(joined))


def test_fold_in_segments_gives_the_whole_arrays():
    """Alice's message and Bob's report read a segment at a time (``nodes._pulse_pieces``) put together are the
    whole batch's arrays, for a batch that starts off a byte and a segment."""
    numpy = backend_mod.select("numpy")
    start, size = SEGMENT_PULSES - 13, SEGMENT_PULSES + 100
    message = _message(start, size)
    args = dict(transmittance=1.0, detector=DetectorModel(), seed=5, node=1)
    report, _state = nodes.pulses_report(numpy, message, start, size, None, args)
    pieces = list(nodes._pulse_pieces(message, report, size, start))
    assert [lo for lo, _a, _b in pieces] == [0, 13, SEGMENT_PULSES + 13]
    whole_alice, whole_bob = message.unpacked(), report.unpacked()
    for name, array in whole_alice.items():
        assert np.concatenate([a[name] for _lo, a, _b in pieces]).tolist() == array.tolist(), name
    for name, array in whole_bob.items():
        joined = np.concatenate([b[name] for _lo, _a, b in pieces])
        assert joined.dtype == array.dtype and joined.tolist() == array.tolist(), name


def test_a_report_is_packed_with_its_detections_index_or_a_dict_and_its_clicks_counted():
    """``nodes.report_clicks`` of Bob's reports (``pulses_report``, ``detections_in_flight``, under and over the
    packing threshold, across segments) is the count of his detections: a packed report always keeps the
    detected pulses' index (a packed report without one, which ``report_clicks`` read unpacked until
    2026-12-07 (later), is made by neither)."""
    numpy = backend_mod.select("numpy")
    args = dict(transmittance=0.3, detector=DetectorModel(), seed=5, node=1)
    for start, size in [(7, 63), (0, nodes.PACK_MIN_ENTRIES), (SEGMENT_PULSES - 13, 2000)]:
        message = _message(start, size)
        for report, _state in (nodes.pulses_report(numpy, message, start, size, None, args),
                               _whole_report(message, start, size, None, args)):
            packed = isinstance(report, PackedFields)
            assert packed == (size >= nodes.PACK_MIN_ENTRIES) and (not packed or report.index is not None)
            detected = (report.unpacked() if packed else report)["detected"]
            assert nodes.report_clicks(report) == int(np.count_nonzero(detected)) > 0, (start, size)


def test_bob_side_of_a_large_batch_holds_half_what_it_did():
    """tracemalloc's peak of Bob's side of a 2e6-pulse batch at 0 km (his report from Alice's packed message, the
    message held by the caller): under 24 bytes a pulse (17.0 measured: a segment's uniforms and temporaries,
    about 30 MiB whatever the batch, and the 5.4e5 detections packed as they come); until 2026-12-06 37.2 (the
    batch's per-pulse arrays besides)."""
    numpy = backend_mod.select("numpy")
    size = 2_000_000
    message = _message(0, size)
    args = dict(transmittance=1.0, detector=DetectorModel(), seed=5, node=1)
    nodes.pulses_report(numpy, _message(0, 1000), 0, 1000, None, args)
    tracemalloc.start()
    try:
        held = tracemalloc.get_traced_memory()[0]
        report, _state = nodes.pulses_report(numpy, message, 0, size, None, args)
        peak = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()
    assert report.num_kept > size // 10
    assert peak / size < 24.0, peak / size
