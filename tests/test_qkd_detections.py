"""Sampling at the cost of detections (dqsim.protocols.qkd.detections) against the per-pulse reference.

Both paths simulate the same model; the fast one is equal in distribution only,
so every comparison is statistical: a rate (per pulse sent, or per sifted bit)
of the fast path must lie within 3 standard errors of the reference's, the
standard error of the difference being sqrt(r(1-r)/N) of each side added in
quadrature. With dead time the registered clicks are a renewal process whose
count varies less than a binomial one, so the binomial standard error is
conservative. Fixed seeds: a correct sampler fails one check with probability
~0.3%.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import TEST_BACKEND
from dqsim import backend as backend_mod
from dqsim.backend import qkd_kernels
from dqsim.errors import DqsimError
from dqsim.protocols.qkd import (
    ChannelModel,
    DecoySource,
    DetectorModel,
    EveModel,
    ReceiverState,
    alice_batch,
    block_counts,
    bob_detect,
)
from dqsim.protocols.qkd.detections import (
    PER_CLICK_FIELDS,
    DetectionBatch,
    PackedDetectionBatch,
    detect_batch,
    detection_counts,
)

NUM_STANDARD_ERRORS = 3.0


def reference_counts(source, channel, detector, eve, num_pulses, batch, seed, noise=0.0):
    counts, state = None, None
    for start in range(0, num_pulses, batch):
        size = min(batch, num_pulses - start)
        alice = alice_batch(np, source, seed, start, size)
        bob, state = bob_detect(np, alice, transmittance=channel, detector=detector, eve=eve, seed=seed,
                                noise_probability=noise, receiver_state=state)
        c = block_counts(np, alice, bob, source.num_classes)
        counts = c if counts is None else counts + c
    return counts


def fast_counts(source, channel, detector, eve, num_pulses, batch, seed, noise=0.0, backend=None, on_host=True):
    counts, state = None, None
    for start in range(0, num_pulses, batch):
        size = min(batch, num_pulses - start)
        det, state = detect_batch(source, channel=channel, detector=detector, eve=eve, seed=seed,
                                  start_pulse=start, num_pulses=size, noise_probability=noise,
                                  receiver_state=state, backend=backend, on_host=on_host)
        c = detection_counts(det, source.num_classes, backend=None if on_host else backend)
        counts = c if counts is None else counts + c
    return counts


def agree(k_ref, n_ref, k_fast, n_fast, what):
    """The two rates k/n agree within NUM_STANDARD_ERRORS (binomial s.e. of each, in quadrature)."""
    if n_ref == 0 or n_fast == 0:  # no rate on one side (a rare class): the counts above compared it
        return
    r_ref, r_fast = k_ref / n_ref, k_fast / n_fast
    pooled = (k_ref + k_fast) / (n_ref + n_fast)
    se = math.sqrt(max(pooled * (1.0 - pooled), 1e-300) * (1.0 / n_ref + 1.0 / n_fast))
    assert abs(r_ref - r_fast) <= NUM_STANDARD_ERRORS * se, (what, r_ref, r_fast, se)


def compare(ref, fast):
    """Sent, detected, sifted, errors, Eve's knowledge and double clicks per class."""
    n_ref, n_fast = sum(ref.sent), sum(fast.sent)
    assert n_ref == n_fast
    for c in range(ref.num_classes):
        agree(ref.sent[c], n_ref, fast.sent[c], n_fast, ("sent", c))
        for name in ("detected", "sifted", "double_clicks"):
            agree(getattr(ref, name)[c], ref.sent[c], getattr(fast, name)[c], fast.sent[c], (name, c))
        for name, sifted in (("errors", "sifted"), ("errors_z", "sifted_z"), ("errors_x", "sifted_x"),
                             ("eve_known", "sifted")):
            agree(getattr(ref, name)[c], getattr(ref, sifted)[c], getattr(fast, name)[c],
                  getattr(fast, sifted)[c], (name, c))


CASES = {
    # name: (source, channel, detector, eve, noise)
    "50km": (DecoySource(), ChannelModel.from_fibre(50.0), DetectorModel(misalignment=0.02), None, 0.0),
    "noisy_10km_double_clicks": (DecoySource(intensities=(0.8, 0.2, 0.0)), ChannelModel.from_fibre(10.0),
                                 DetectorModel(misalignment=0.03, dark_count_probability=2e-3), None, 1e-3),
    "dead_time_afterpulsing": (DecoySource(), ChannelModel.from_fibre(5.0),
                               DetectorModel(dead_time_pulses=25, afterpulse_probability=0.1), None, 0.0),
    "intercept_resend": (DecoySource(), ChannelModel.from_fibre(20.0), DetectorModel(),
                         EveModel(attack="intercept_resend", fraction=0.6, position=0.3), 0.0),
    "intercept_resend_fixed_basis": (DecoySource(), ChannelModel.from_fibre(20.0), DetectorModel(),
                                     EveModel(attack="intercept_resend", fraction=1.0, basis="X"), 0.0),
    "beam_splitting": (DecoySource(intensities=(0.9, 0.2, 0.0)), ChannelModel.from_fibre(30.0),
                       DetectorModel(dead_time_pulses=3), EveModel(attack="beam_splitting", fraction=0.7), 0.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_path_matches_per_pulse_reference(name):
    source, channel, detector, eve, noise = CASES[name]
    num_pulses = 1_200_000
    ref = reference_counts(source, channel, detector, eve, num_pulses, 400_000, seed=11, noise=noise)
    fast = fast_counts(source, channel, detector, eve, num_pulses, 300_000, seed=12, noise=noise)
    compare(ref, fast)
    assert sum(fast.detected) > 1000


def test_dead_time_losses_match_across_seeds():
    """The fraction of raw clicks lost to dead time agrees over several seeds (mean of 4 each)."""
    source, channel = DecoySource(), ChannelModel.from_fibre(2.0)
    free, dead = DetectorModel(), DetectorModel(dead_time_pulses=40)
    num_pulses = 400_000
    for seed in range(4):
        ref_free = sum(reference_counts(source, channel, free, None, num_pulses, num_pulses, seed).detected)
        ref_dead = sum(reference_counts(source, channel, dead, None, num_pulses, num_pulses, seed).detected)
        fast_free = sum(fast_counts(source, channel, free, None, num_pulses, num_pulses, 100 + seed).detected)
        fast_dead = sum(fast_counts(source, channel, dead, None, num_pulses, num_pulses, 100 + seed).detected)
        # Losses per pulse: free - dead; compare the kept fraction dead/free (ratio of counts).
        agree(ref_dead, ref_free, fast_dead, fast_free, ("kept fraction", seed))
        assert fast_dead < fast_free


def test_dead_time_and_afterpulses_carry_across_batches_exactly():
    """Every pulse clicks (P = 1): registered clicks fall every dead_time + 1 pulses whatever the cut."""
    source = DecoySource(intensities=(30.0, 20.0), probabilities=(0.5, 0.5))
    detector = DetectorModel(efficiency=1.0, dead_time_pulses=6)
    channel = ChannelModel(fibre_transmittance=1.0)
    positions, state, start = [], None, 0
    for size in (5, 17, 1, 40, 3, 100):
        det, state = detect_batch(source, channel=channel, detector=detector, seed=3, start_pulse=start,
                                  num_pulses=size, receiver_state=state)
        positions += (det.index + start).tolist()
        assert sum(det.sent) == size
        start += size
    assert positions == list(range(0, start, 7))
    assert state == ReceiverState(dead_time_left=(7 - start % 7) % 7, afterpulse_due=False)
    # Afterpulses with probability 1: every registered click after the first is one.
    always = DetectorModel(efficiency=1.0, dead_time_pulses=2, afterpulse_probability=1.0,
                           dark_count_probability=0.0)
    dark = ChannelModel(fibre_transmittance=0.0)
    det, state = detect_batch(source, channel=dark, detector=always, seed=3, start_pulse=0, num_pulses=10,
                              receiver_state=ReceiverState(dead_time_left=1, afterpulse_due=True))
    assert det.index.tolist() == [1, 4, 7] and det.afterpulse.all()
    assert state == ReceiverState(dead_time_left=0, afterpulse_due=True)


def test_same_batch_same_draws_and_bad_arguments():
    source, channel, detector = DecoySource(), ChannelModel.from_fibre(25.0), DetectorModel()
    a, _ = detect_batch(source, channel=channel, detector=detector, seed=5, start_pulse=1000, num_pulses=50_000)
    b, _ = detect_batch(source, channel=channel, detector=detector, seed=5, start_pulse=1000, num_pulses=50_000)
    assert np.array_equal(a.index, b.index) and np.array_equal(a.bob_bit, b.bob_bit) and a.sent == b.sent
    empty, state = detect_batch(source, channel=channel, detector=detector, seed=5, start_pulse=0, num_pulses=0)
    assert empty.num_detected == 0 and sum(empty.sent) == 0 and state == ReceiverState()
    with pytest.raises(DqsimError, match="num_pulses"):
        detect_batch(source, channel=channel, detector=detector, seed=5, start_pulse=0, num_pulses=-1)
    with pytest.raises(DqsimError, match="channel"):
        detect_batch(source, channel=0.5, detector=detector, seed=5, start_pulse=0, num_pulses=1)


def test_numpy_backend_is_the_default_and_draws_identically():
    """Passing the NumPy backend gives exactly the default's clicks (same code, same generator)."""
    source, channel, detector, eve, noise = CASES["dead_time_afterpulsing"]
    kwargs = dict(channel=channel, detector=detector, eve=eve, seed=3, start_pulse=10, num_pulses=200_000,
                  noise_probability=noise)
    default, state = detect_batch(source, **kwargs)
    explicit, state2 = detect_batch(source, backend=backend_mod.select("numpy"), **kwargs)
    assert state == state2 and default.sent == explicit.sent
    for name in ("index", "intensity_class", "alice_basis", "alice_bit", "bob_basis", "bob_bit", "double_click",
                 "eve_knows", "afterpulse"):
        assert np.array_equal(getattr(default, name), getattr(explicit, name)), name
        assert isinstance(getattr(explicit, name), np.ndarray)


@pytest.mark.skipif(TEST_BACKEND is None or not TEST_BACKEND.is_gpu,
                    reason="needs DQSIM_TEST_BACKEND=cupy and a GPU")
@pytest.mark.parametrize("name", sorted(CASES))
def test_cupy_sampler_matches_numpy_in_distribution(name):
    """On CuPy the clicks come from cuRAND (equal in distribution only): every rate within 3 s.e. of NumPy's."""
    source, channel, detector, eve, noise = CASES[name]
    host = fast_counts(source, channel, detector, eve, 1_200_000, 300_000, seed=12, noise=noise)
    device = fast_counts(source, channel, detector, eve, 1_200_000, 300_000, seed=12, noise=noise,
                         backend=TEST_BACKEND)
    compare(host, device)
    # Counted on the GPU (no per-click array leaves it): the very same counts.
    resident = fast_counts(source, channel, detector, eve, 1_200_000, 300_000, seed=12, noise=noise,
                           backend=TEST_BACKEND, on_host=False)
    assert resident == device


def test_counts_of_a_batch_left_on_the_device_equal_the_host_counts():
    """``on_host=False`` with NumPy returns the same arrays; counting them with the backend gives equal counts."""
    source, channel, detector, eve, noise = CASES["dead_time_afterpulsing"]
    backend = backend_mod.select("numpy")
    kwargs = dict(channel=channel, detector=detector, eve=eve, seed=4, start_pulse=0, num_pulses=300_000,
                  noise_probability=noise, backend=backend)
    host, _ = detect_batch(source, **kwargs)
    resident, _ = detect_batch(source, on_host=False, **kwargs)
    assert detection_counts(resident, source.num_classes, backend=backend) == detection_counts(host,
                                                                                              source.num_classes)


# ------------------------------------------------------------------ the compiled kernels against NumPy
needs_numba = pytest.mark.skipif(not qkd_kernels.has_detection_kernels(), reason="needs numba")

BATCH_FIELDS = ("index", "intensity_class", "alice_basis", "alice_bit", "bob_basis", "bob_bit", "double_click",
                "eve_knows", "afterpulse")

KERNEL_CASES = {
    **CASES,
    "10km_one_class": (DecoySource(intensities=(0.1,), probabilities=(1.0,)), ChannelModel.from_fibre(10.0),
                       DetectorModel(misalignment=0.0, dark_count_probability=1e-8), None, 0.0),
    "0km_several_photons": (DecoySource(intensities=(3.0, 0.5, 0.0)), ChannelModel.from_fibre(0.0),
                            DetectorModel(misalignment=0.05), None, 0.0),
    "100km_dark_counts_afterpulses": (DecoySource(), ChannelModel.from_fibre(100.0),
                                      DetectorModel(dark_count_probability=1e-3, afterpulse_probability=0.5), None,
                                      1e-4),
    "intercept_resend_several_photons_dead_time": (
        DecoySource(intensities=(2.0, 0.3, 0.0)), ChannelModel.from_fibre(10.0),
        DetectorModel(dead_time_pulses=7, afterpulse_probability=0.2, misalignment=0.02),
        EveModel(attack="intercept_resend", fraction=0.5, position=0.2), 2e-3),
    "every_pulse_clicks": (DecoySource(intensities=(50.0,), probabilities=(1.0,)), ChannelModel(1.0),
                           DetectorModel(efficiency=1.0, dark_count_probability=1.0), None, 0.0),
    "no_pulse_clicks_but_afterpulses": (DecoySource(intensities=(0.1, 0.0), probabilities=(0.5, 0.5)),
                                        ChannelModel(0.0), DetectorModel(dark_count_probability=0.0,
                                                                         afterpulse_probability=1.0), None, 0.0),
}


def assert_same_batches(case, seed, sizes, state=None):
    """Batches of ``sizes`` pulses in a row, kernel and NumPy path: every array, dtype, count and state equal."""
    source, channel, detector, eve, noise = case
    states = {False: state, True: state}
    start = 0
    for size in sizes:
        got = {}
        for use_kernel in (False, True):
            got[use_kernel], states[use_kernel] = detect_batch(
                source, channel=channel, detector=detector, eve=eve, seed=seed, start_pulse=start, num_pulses=size,
                noise_probability=noise, receiver_state=states[use_kernel], use_kernel=use_kernel)
        ref, fast = got[False], got[True]
        assert fast.sent == ref.sent and states[True] == states[False], (start, fast.sent, ref.sent)
        for name in BATCH_FIELDS:
            a, b = getattr(ref, name), getattr(fast, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), (start, name)
        assert detection_counts(fast, source.num_classes) == block_counts_reference(ref, source.num_classes)
        start += size
    return ref


def block_counts_reference(batch, num_classes):
    """detection_counts' NumPy bincount (DQSIM_FAST_KERNELS=0 path), called directly."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DQSIM_FAST_KERNELS", "0")
        return detection_counts(batch, num_classes)


@needs_numba
@pytest.mark.parametrize("name", sorted(KERNEL_CASES))
@pytest.mark.parametrize("seed", [3, 2026])
def test_kernel_draws_the_numpy_paths_clicks_bit_for_bit(name, seed):
    """The compiled sampler is the NumPy sampler, draw for draw: the same clicks in every field (and the
    same per-class counts and receiver state) across batches of several sizes, the state carried over."""
    last = assert_same_batches(KERNEL_CASES[name], seed, (40_000, 1, 63, 25_000, 0, 40_000))
    if name == "0km_several_photons":  # the binomial draws of several-photon clicks were exercised
        assert last.double_click.any()
    if name in ("dead_time_afterpulsing", "100km_dark_counts_afterpulses"):
        assert last.afterpulse.any()


@needs_numba
@pytest.mark.parametrize("state", [ReceiverState(5, True), ReceiverState(0, True), ReceiverState(100_000, False),
                                   ReceiverState(2, False)])
def test_kernel_starts_from_a_receiver_state_as_numpy_does(state):
    for name in ("dead_time_afterpulsing", "every_pulse_clicks", "no_pulse_clicks_but_afterpulses"):
        assert_same_batches(KERNEL_CASES[name], 11, (1, 2, 1000, 70_000), state=state)


@needs_numba
def test_kernel_row_starts_give_numpys_uniforms_and_leave_the_generator_where_numpy_does():
    def generator():
        return np.random.Generator(np.random.SFC64(np.random.SeedSequence([1, 2, 3, 4])))

    ours, theirs = generator(), generator()
    ours.standard_exponential(5), theirs.standard_exponential(5)
    starts = qkd_kernels.sfc64_row_starts(ours, 1001, 7)
    expected = theirs.random((7, 1001))
    for row, start in zip(expected, starts):  # each row from its start, in two pieces
        words, drawn = start.copy(), np.empty(1001)
        qkd_kernels.sfc64_uniforms(words, drawn[:400])
        qkd_kernels.sfc64_uniforms(words, drawn[400:])
        assert np.array_equal(drawn, row)
    assert ours.bytes(13) == theirs.bytes(13)  # the 32-bit buffer and the state are carried over
    qkd_kernels.sfc64_row_starts(ours, 3, 1), theirs.random(3)
    assert ours.random() == theirs.random()
    with pytest.raises(ValueError, match="SFC64"):
        qkd_kernels.sfc64_row_starts(np.random.Generator(np.random.Philox(5)), 4, 1)


@needs_numba
def test_repro_batch_peak_kernel_draws_do_not_hold_the_uniforms_of_every_click():
    """A batch's peak of traced memory at 0 km (a click every 3.7 pulses) is the clicks' arrays: 12 bytes a
    click and the chain's index, not also 7 float64 uniforms a click (77 bytes a click until 2026-12-06)."""
    import tracemalloc

    args = dict(channel=ChannelModel(1.0), detector=DetectorModel(efficiency=0.8), seed=4, start_pulse=0)
    detect_batch(DecoySource(), num_pulses=1000, **args)  # the kernels loaded outside the measure
    tracemalloc.start()
    try:
        det, _ = detect_batch(DecoySource(), num_pulses=1_000_000, **args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert det.num_detected > 250_000
    assert peak < 20 * det.num_detected + 2**20, peak / det.num_detected


@needs_numba
def test_kernel_detection_counts_refuse_a_class_beyond_num_classes():
    det, _ = detect_batch(DecoySource(), channel=ChannelModel(0.5), detector=DetectorModel(), seed=2, start_pulse=0,
                          num_pulses=20_000)
    assert detection_counts(det, 3) == block_counts_reference(det, 3)
    assert det.intensity_class.max() == 1  # (the vacuum class did not click)
    with pytest.raises(DqsimError, match="num_classes"):
        detection_counts(det, 1)


def test_use_kernel_true_without_the_kernels_is_refused(monkeypatch):
    monkeypatch.setenv("DQSIM_FAST_KERNELS", "0")
    with pytest.raises(DqsimError, match="use_kernel"):
        detect_batch(DecoySource(), channel=ChannelModel(0.5), detector=DetectorModel(), seed=1, start_pulse=0,
                     num_pulses=10, use_kernel=True)
    det, _ = detect_batch(DecoySource(), channel=ChannelModel(0.5), detector=DetectorModel(), seed=1, start_pulse=0,
                          num_pulses=10_000)  # the default falls back to NumPy
    assert sum(det.sent) == 10_000


@pytest.mark.parametrize("kernels", ["1", "0"])
def test_detection_counts_are_the_counts_of_the_clicks(monkeypatch, kernels):
    """Every count of detection_counts (kernel table or NumPy bincount) against the clicks counted one by one."""
    monkeypatch.setenv("DQSIM_FAST_KERNELS", kernels)
    source, channel, detector, eve, noise = KERNEL_CASES["intercept_resend_several_photons_dead_time"]
    det, _ = detect_batch(source, channel=channel, detector=detector, eve=eve, seed=5, start_pulse=0,
                          num_pulses=200_000, noise_probability=noise)
    counts = detection_counts(det, source.num_classes)
    sifted = det.alice_basis == det.bob_basis
    error = sifted & (det.alice_bit != det.bob_bit)
    in_z, in_x = det.alice_basis == 0, det.alice_basis == 1
    assert det.double_click.any() and det.eve_knows.any() and error.any()
    for c in range(source.num_classes):
        mine = det.intensity_class == c
        expected = {"detected": mine, "sifted": mine & sifted, "errors": mine & error, "sifted_z": mine & sifted & in_z,
                    "errors_z": mine & error & in_z, "sifted_x": mine & sifted & in_x, "errors_x": mine & error & in_x,
                    "eve_known": mine & sifted & det.eve_knows, "double_clicks": mine & det.double_click}
        for name, mask in expected.items():
            assert getattr(counts, name)[c] == int(mask.sum()), (name, c)
    assert counts.sent == det.sent


@pytest.mark.parametrize("start_pulse", [0, 1_000_000, 2**40 + 7])
def test_batch_generators_draw_what_new_generators_draw(start_pulse):
    """_batch_generators' seed words are host.integers(0, 2^63, 4)'s, so its backend generator draws the same,
    and its reused host generator is left as integers leaves it."""
    from dqsim.protocols.qkd import detections
    from dqsim.rng import Stream

    numpy = backend_mod.select("numpy")
    gen, host = detections._batch_generators(numpy, 5, 2, start_pulse)
    reference_host = Stream(5, node=2, purpose=detections.PURPOSE_DETECTIONS).generator(start_pulse)
    words = reference_host.integers(0, 2**63, size=4, dtype=np.int64)
    reference = numpy.random_generator(words.tolist())
    assert gen.random(5).tolist() == reference.random(5).tolist()
    weights = [0.5, 0.3, 0.2]
    assert host.multinomial(1000, weights).tolist() == reference_host.multinomial(1000, weights).tolist()


@pytest.mark.parametrize("eve", [None, EveModel(attack="intercept_resend", fraction=0.5)])
def test_a_batch_drawn_packed_is_the_batch_packed_and_its_pieces_add_up_to_it(eve):
    """``pack_from_clicks``: the report written piece by piece into its bit planes is ``batch.packed()`` (its
    pickle byte for byte); read back in pieces, their arrays are the batch's and their counts add up to its."""
    import pickle

    args = dict(channel=ChannelModel(1.0), detector=DetectorModel(dead_time_pulses=2), eve=eve, seed=6,
                start_pulse=11, num_pulses=800_000)
    batch, state = detect_batch(DecoySource(), **args)
    packed, packed_state = detect_batch(DecoySource(), pack_from_clicks=64, **args)
    assert isinstance(packed, PackedDetectionBatch) and packed_state == state and batch.num_detected > 2 * 65_536, batch.num_detected
    assert pickle.dumps(packed.__getstate__()) == pickle.dumps(batch.packed().__getstate__())
    pieces = list(packed.pieces(8 * 1001))
    for name in ("index", *PER_CLICK_FIELDS):
        joined = np.concatenate([getattr(piece, name) for piece in pieces])
        assert joined.dtype == getattr(batch, name).dtype and np.array_equal(joined, getattr(batch, name)), name
    total = detection_counts(pieces[0], 3)
    for piece in pieces[1:]:
        total = total + detection_counts(piece, 3)
    assert total == detection_counts(batch, 3)
    few, _ = detect_batch(DecoySource(), pack_from_clicks=64, **{**args, "num_pulses": 100})
    assert isinstance(few, DetectionBatch)  # fewer clicks than pack_from_clicks: the arrays drawn
