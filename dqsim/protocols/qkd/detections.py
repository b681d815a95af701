"""Decoy-state BB84 sampled at the cost of detections, not of pulses.

:func:`dqsim.protocols.qkd.bb84.bob_detect` draws every pulse; at 50 km
fewer than one pulse in 100 clicks, so almost all of that work is thrown
away. :func:`detect_batch` draws the same process directly as the sequence
of *registered clicks* (the pulses Bob records) plus the per-class count of
the pulses he does not record. It is exact in distribution (same model,
same parameters as the per-pulse path, which stays as the reference and is
compared with it in ``tests/test_qkd_detections.py``); it does not reproduce
the per-pulse path's individual pulses.

**Why it is exact.** Pulses are independent and identically distributed
until Bob's receiver couples them (dead time, afterpulsing). Per pulse, a
*configuration* ``k`` is drawn first — the intensity class and, with Eve,
whether the pulse is attacked — with probability ``w_k``. Given ``k``:

* the photons reaching Bob's detectors (fibre, coupling, Eve, detector
  efficiency) number ``m ~ Poisson(μ_c·η)`` — binomial thinning of a Poisson
  photon number is Poisson — or, for a pulse Eve intercepts and resends,
  one photon with probability ``h·t_after`` where ``h = 1 - exp(-μ_c·T_to_eve)``
  is the probability that a photon reaches Eve; so the probability ``a_k``
  that at least one photon arrives is ``1 - exp(-μ_c·η)`` or ``h·t_after``;
* each photon fires a detector (the correct one with probability ``1 - e_d``
  in the matching basis, 1/2 otherwise), and each detector also fires from a
  background (dark or noise) count with probability ``p_b``, independently;
* so the pulse gives a raw click with ``q_k = 1 - (1 - a_k)(1 - p_b)^2``,
  independently of the bases and bits, and the click probability of a pulse
  is ``P = Σ_k w_k q_k``.

Between registered clicks the receiver is blind for ``d`` pulses (dead
time) and then watches pulses until one clicks: the gap is ``d + G`` with
``G ~ Geometric(P)`` (memoryless, so clicks hidden in the dead time need no
drawing). A registered click fires an afterpulse with probability
``p_ap``; the next registered click is then the first pulse after the dead
time (gap ``d + 1``), whatever that pulse holds (drawn unconditionally, plus
a click in a random detector), as in ``bob_detect``. For a normal click the
configuration is drawn from ``w_k q_k / P``, then whether photons arrived
(``a_k / q_k``) and which background counts fired, conditioned on at least
one click; then the bases, bits, Eve's basis and what she learned, the
photon number ``m >= 1`` (zero-truncated Poisson) and the photons' detectors.
Pulses not recorded are counted per class: blind ones from ``w``, watched
ones that did not click from ``w_k (1 - q_k) / (1 - P)`` (multinomial).

**Randomness.** A batch draws its clicks from the backend's generator
(:meth:`dqsim.backend.Backend.random_generator`: SFC64 on NumPy, three times
faster than Philox for the bulk draws; cuRAND's XORWOW on CuPy, drawn on the
GPU) seeded by four words of ``Stream(seed, node=node,
purpose=PURPOSE_DETECTIONS).generator(start_pulse)``, and the per-class
counts of the unrecorded pulses from that host Philox generator itself:
results do not depend on the number of ranks, the placement or a restart
from a checkpoint (taken between batches, with the :class:`ReceiverState`),
but unlike the per-pulse path they DO depend on how the pulses are cut into
batches (a different cut gives another sample of the same distribution).

**Backends.** The same code runs on NumPy and on CuPy (``backend``): the
event chain, the per-click draws and their bookkeeping are ``xp`` array
operations; the configuration tables (a few entries), the zero-truncated
Poisson tables and the per-class multinomial counts are host NumPy; the
returned :class:`DetectionBatch` is on the host. What is identical across
backends: the model, the seed words, the per-class counts' generator, the
receiver-state logic. What is equal only in distribution: the clicks
themselves (SFC64 and XORWOW give different numbers), so a seed gives
different registered clicks on a GPU than on the CPU. Its test
(``tests/test_qkd_detections.py``, skipped without CuPy) compares the two
backends' counts within 3 standard errors; it passed on an NVIDIA H200
(2026-12-04), where the sampler drew 3.1e10 pulses/s at 10 km and 2.7e11 at
50 km (``bench/results/gpu-h200-20261204``).

**Cost.** ``O(detections)`` random numbers and array operations per batch,
plus ``O(1)`` per batch for the counts; no per-pulse array is made.

**Compiled kernels (CPU).** With NumPy and numba (``use_kernel=None``, the
default) the chain, the uniforms and the per-click work run in the kernels of
:mod:`dqsim.backend.qkd_kernels` instead of some 60 array passes: they draw
the same numbers from the same SFC64 generator in the same order (numba's
``Generator`` runs NumPy's algorithms on the bit generator's state; the
uniforms run SFC64 inline) and so give the same batch bit for bit, which
``tests/test_qkd_detections.py`` checks against the NumPy path kept here as
the reference (``use_kernel=False``, ``DQSIM_FAST_KERNELS=0``) and the CuPy
path. Measured: ``bench/results/qkd_sampler-vm-20261205.md``.

**Memory.** The kernels draw a batch's per-click uniforms segment by segment
(:func:`dqsim.backend.qkd_kernels.detection_clicks`, the same numbers from the
SFC64 states at their rows' starts) and the chain's exponentials in pieces, so
drawing a batch holds its clicks' arrays (the :class:`DetectionBatch`, 12 bytes
a click) and the chain's index and afterpulse flags (5.5 bytes a click), about
14.5 bytes a click in all; until 2026-12-06 it held 77 (the ``(7, n)`` float64
uniforms besides), 21 bytes a pulse at 0 km
(``bench/results/qkd-batch-peak-vm-20261206.md``). The NumPy path (the reference
and CuPy) still draws the uniforms whole.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from dqsim.backend import Backend, qkd_kernels
from dqsim.checks import check_int
from dqsim.errors import DqsimError
from dqsim.protocols.qkd.bb84 import (
    BASIS_X,
    BASIS_Z,
    ChannelModel,
    DecoySource,
    DetectorModel,
    EveModel,
    ReceiverState,
    check_receiver,
)
from dqsim.protocols.qkd.packed_bits import PackedFields, PlanesBuilder, index_dtype
from dqsim.protocols.qkd.postprocess import BlockCounts
from dqsim.protocols.qkd.theory import receiver_gain_and_error
from dqsim.rng import Stream

__all__ = ["BYTES_PER_DETECTION", "PURPOSE_DETECTIONS", "DetectionBatch", "PackedDetectionBatch", "detect_batch",
           "detection_counts", "key_bits_per_detection", "packed_bytes_per_detection", "registered_clicks_per_pulse",
           "sifted_errors_per_detection"]

#: The default backend of :func:`detect_batch`: NumPy on the host.
NUMPY = Backend("numpy", np)

#: Purpose of the random stream of :func:`detect_batch` (Bob's node).
PURPOSE_DETECTIONS = "bb84_detections"

#: Batches of at most this many pulses hold their clicks' ``index`` as int32 (a local index below 2**31), larger
#: ones as int64 (a report in flight, or one a checkpoint holds, takes 4 bytes a click less).
INT32_INDEX_MAX_PULSES = 2**31

#: Bytes a :class:`DetectionBatch` of at most :data:`INT32_INDEX_MAX_PULSES` pulses (every batch of a job,
#: ``[qkd].batch_pulses`` <= 10**8) holds per registered click in its per-click arrays: ``index`` (int32, 4),
#: ``intensity_class``, ``alice_basis``, ``alice_bit``, ``bob_basis``, ``bob_bit`` (uint8, 1 each) and
#: ``double_click``, ``eve_knows``, ``afterpulse`` (bool, 1 each). ``tests/test_qkd_pending_memory.py`` checks it
#: against a drawn batch's arrays.
BYTES_PER_DETECTION = 4 + 5 * 1 + 3 * 1

#: Tail probability below which the zero-truncated Poisson table stops.
_POISSON_TAIL = 1e-17

# Rows of the uniforms drawn per registered click, in their fixed order.
_U_CONFIG, _U_ARRIVAL, _U_DARK, _U_ALICE_BASIS, _U_BOB_BASIS, _U_DETECTOR, _U_PHOTONS = range(7)
_NUM_UNIFORMS = 7
# Bits of the one random byte drawn per registered click (Backend.random_bytes).
_BIT_ALICE, _BIT_DOUBLE, _BIT_AFTERPULSE, _BIT_EVE_BASIS, _BIT_EVE_BIT = (np.uint8(1 << i) for i in range(5))


def _code_masks() -> np.ndarray:
    """``(32, 9)`` 0/1 matrix: which codes of :func:`detection_counts` (Alice's basis << 4 | sifted << 3 |
    error << 2 | Eve knows << 1 | double click) each :class:`BlockCounts` field after ``sent`` counts."""
    code = np.arange(32)
    basis, sifted, error, eve, double = ((code >> shift) & 1 for shift in (4, 3, 2, 1, 0))
    in_z, in_x = basis == BASIS_Z, basis == BASIS_X
    columns = (np.ones(32), sifted, sifted & error, sifted & in_z, sifted & error & in_z, sifted & in_x,
               sifted & error & in_x, sifted & eve, double)  # the order of BlockCounts' fields
    return np.stack([np.asarray(c, dtype=np.int64) for c in columns], axis=1)


#: The masks of :func:`_code_masks`.
_CODE_MASKS = _code_masks()


@dataclass(frozen=True, eq=False)
class DetectionBatch:
    """The registered clicks of a batch of pulses and the counts of all its pulses.

    The per-click arrays are host NumPy arrays, or the backend's device arrays
    when :func:`detect_batch` was called with ``on_host=False``.

    Attributes:
        start_pulse: global index of the batch's first pulse.
        num_pulses: pulses in the batch.
        sent: pulses sent per intensity class (all pulses of the batch).
        index: local index (from 0) of each registered click's pulse, increasing: int32 in a batch of at most
            2**31 pulses, else int64 (before 2026-12-06 always int64; a checkpoint's batches may hold that).
        intensity_class: class of each recorded pulse, uint8.
        alice_basis, alice_bit: Alice's preparation of each recorded pulse, uint8.
        bob_basis, bob_bit: Bob's basis and bit (random for a double click), uint8.
        double_click: both detectors clicked, bool.
        eve_knows: Eve learned Alice's bit, bool.
        afterpulse: the click is an afterpulse of the previous one, bool.
    """

    start_pulse: int
    num_pulses: int
    sent: tuple[int, ...]
    index: np.ndarray
    intensity_class: np.ndarray
    alice_basis: np.ndarray
    alice_bit: np.ndarray
    bob_basis: np.ndarray
    bob_bit: np.ndarray
    double_click: np.ndarray
    eve_knows: np.ndarray
    afterpulse: np.ndarray

    @property
    def num_detected(self) -> int:
        """Registered clicks in the batch."""
        return int(self.index.shape[0])


    def packed(self) -> PackedDetectionBatch:
        """The batch as a report in flight holds it (:class:`PackedDetectionBatch`); host arrays only."""
        return PackedDetectionBatch(self)


#: The per-click fields of a :class:`DetectionBatch` besides ``index``, in their order.
PER_CLICK_FIELDS = ("intensity_class", "alice_basis", "alice_bit", "bob_basis", "bob_bit", "double_click",
                    "eve_knows", "afterpulse")


class PackedDetectionBatch:
    """A :class:`DetectionBatch` as Bob's report holds it in flight (the engine's queue, a message between ranks,
    a checkpoint): the clicks' ``index`` in the narrowest unsigned type of the batch's length
    (:func:`~dqsim.protocols.qkd.packed_bits.index_dtype`: 2 bytes up to 2^16 pulses, else 4) and the eight
    other per-click fields in bit planes (:class:`~dqsim.protocols.qkd.packed_bits.PackedFields`: one bit each,
    the class in as many bits as its largest value). :meth:`unpacked` gives back the batch, every array and
    dtype as drawn. Until 2026-12-06 a report in flight was the :class:`DetectionBatch` itself,
    :data:`BYTES_PER_DETECTION` bytes a click; :func:`packed_bytes_per_detection` gives this one's.

    Examples:
        >>> det, _ = detect_batch(DecoySource(), channel=ChannelModel(0.5), detector=DetectorModel(),
        ...                       seed=2, start_pulse=0, num_pulses=10_000)
        >>> report = det.packed()
        >>> back = report.unpacked()
        >>> bool((back.index == det.index).all() and (back.bob_bit == det.bob_bit).all()), back.index.dtype
        (True, dtype('int32'))
        >>> report.nbytes <= packed_bytes_per_detection(3, 10_000) * det.num_detected + 9 < det.num_detected * 4
        True
    """

    __slots__ = ("start_pulse", "num_pulses", "sent", "index_dtype", "index", "fields")

    def __init__(self, batch: DetectionBatch | None):
        if batch is None:  # filled by from_parts
            return
        self.start_pulse, self.num_pulses, self.sent = batch.start_pulse, batch.num_pulses, batch.sent
        self.index_dtype = np.asarray(batch.index).dtype.str
        self.index = np.asarray(batch.index).astype(index_dtype(batch.num_pulses))
        self.fields = PackedFields({name: getattr(batch, name) for name in PER_CLICK_FIELDS})

    @classmethod
    def from_parts(cls, *, start_pulse: int, num_pulses: int, sent: tuple, index: np.ndarray,
                   fields: PackedFields) -> PackedDetectionBatch:
        """The packed batch of clicks at ``index`` (host, int32 or int64, as drawn) whose other per-click fields
        are ``fields`` (:data:`PER_CLICK_FIELDS`, packed as :meth:`DetectionBatch.packed` packs them): what
        :func:`detect_batch` builds a piece of clicks at a time. ``index`` is kept as it is where its values
        need no other type (no copy: an int32 index read as uint32)."""
        packed = cls(None)
        packed.start_pulse, packed.num_pulses, packed.sent = int(start_pulse), int(num_pulses), tuple(sent)
        packed.index_dtype = index.dtype.str
        narrow = index_dtype(num_pulses)
        packed.index = index.view(narrow) if narrow.itemsize == index.dtype.itemsize else index.astype(narrow)
        packed.fields = fields
        return packed

    def pieces(self, num_clicks: int):
        """The batch as :class:`DetectionBatch` pieces of ``num_clicks`` clicks (a positive multiple of 8), in
        order, each unpacked only when asked for: so reading a large report holds one piece's arrays. The
        first piece carries the batch's ``sent`` and the others none, so that their
        :func:`detection_counts` add up to the batch's. A batch without clicks is one empty piece."""
        if num_clicks <= 0 or num_clicks % 8:
            raise ValueError(f"PackedDetectionBatch.pieces: num_clicks must be a positive multiple of 8, "
                             f"got {num_clicks}")
        none = (0,) * len(self.sent)
        for first in range(0, max(self.num_detected, 1), num_clicks):
            last = min(first + num_clicks, self.num_detected)
            yield DetectionBatch(start_pulse=self.start_pulse, num_pulses=self.num_pulses,
                                 sent=self.sent if first == 0 else none,
                                 index=self.index[first:last].astype(self.index_dtype),
                                 **self.fields.unpacked(first, last))

    @property
    def num_detected(self) -> int:
        """Registered clicks in the batch."""
        return int(self.index.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of the per-click data: the indices and the fields' bit planes."""
        return int(self.index.nbytes) + self.fields.nbytes

    def unpacked(self) -> DetectionBatch:
        """The :class:`DetectionBatch` packed, its arrays of the dtypes drawn (host NumPy)."""
        return DetectionBatch(start_pulse=self.start_pulse, num_pulses=self.num_pulses, sent=self.sent,
                              index=self.index.astype(self.index_dtype), **self.fields.unpacked())

    def __getstate__(self):
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state) -> None:
        for name, value in state.items():
            setattr(self, name, value)


def packed_bytes_per_detection(num_classes: int, batch_pulses: int) -> float:
    """Bytes a :class:`PackedDetectionBatch` of ``batch_pulses`` pulses holds per registered click, at most.

    The index (:func:`~dqsim.protocols.qkd.packed_bits.index_dtype` of the batch's length) and one bit for
    each of the seven flags and bits, plus the bits of the largest intensity class (``num_classes - 1``);
    each bit plane rounds up to whole bytes (at most a byte a plane a batch, left out here).

    Examples:
        >>> packed_bytes_per_detection(3, 1_000_000), packed_bytes_per_detection(3, 65_536), BYTES_PER_DETECTION
        (5.125, 3.125, 12)
    """
    return index_dtype(batch_pulses).itemsize + (7 + (num_classes - 1).bit_length()) / 8


@dataclass(frozen=True)
class _Configurations:
    """Per configuration ``k`` (class, attacked): weight, arrival and click probabilities."""

    intensity_class: np.ndarray   # class of k, int
    attacked: np.ndarray          # k is an attacked configuration, bool
    weight: np.ndarray            # w_k
    arrival: np.ndarray           # a_k: at least one photon reaches Bob's detectors
    click: np.ndarray             # q_k
    mean_arriving: np.ndarray     # λ_k of the zero-truncated Poisson of arriving photons (0: one photon)
    eve_learns: np.ndarray        # P(Eve learns | no arrival) (intercept-resend: she caught a photon);
    #                               beam splitting: P(she keeps a photon), whatever arrived


def _configurations(source: DecoySource, channel: ChannelModel, detector: DetectorModel, eve: EveModel,
                    p_background: float) -> _Configurations:
    mu = np.asarray(source.intensities, dtype=np.float64)
    w = np.asarray(source.probabilities, dtype=np.float64)
    eta = channel.total_transmittance * detector.efficiency
    num = len(mu)
    cls = np.arange(num)
    arrival = -np.expm1(-mu * eta)
    attacked = np.zeros(num, dtype=bool)
    lam = mu * eta
    learns = np.zeros(num)
    if eve.is_active:
        t_to_eve = channel.to_eve(eve.position)
        t_after = channel.after_eve(eve.position) * detector.efficiency
        cls = np.concatenate([cls, cls])
        attacked = np.concatenate([attacked, np.ones(num, dtype=bool)])
        w = np.concatenate([w * (1.0 - eve.fraction), w * eve.fraction])
        if eve.attack == "intercept_resend":
            hit = -np.expm1(-mu * t_to_eve)
            arrival_attacked = hit * t_after
            denominator = 1.0 - arrival_attacked
            learns_attacked = np.divide(hit * (1.0 - t_after), denominator,
                                        out=np.ones(num), where=denominator > 0.0)
            lam_attacked = np.zeros(num)
        else:  # beam splitting: reflected and transmitted photons are independent Poisson numbers
            arrival_attacked = arrival
            learns_attacked = -np.expm1(-mu * (1.0 - t_to_eve))
            lam_attacked = lam
        arrival = np.concatenate([arrival, arrival_attacked])
        lam = np.concatenate([lam, lam_attacked])
        learns = np.concatenate([learns, learns_attacked])
    click = 1.0 - (1.0 - arrival) * (1.0 - p_background) ** 2
    return _Configurations(cls, attacked, w, arrival, click, lam, learns)


def _truncated_poisson_cdf(lam: float) -> np.ndarray:
    """CDF of Poisson(λ) conditioned on >= 1, at m = 1, 2, ... up to a tail below 1e-17."""
    terms, pmf, m = [], lam * math.exp(-lam), 1
    total = -math.expm1(-lam)
    while True:
        terms.append(pmf)
        if (m > lam and pmf <= _POISSON_TAIL * total) or m >= 100_000:
            break
        m += 1
        pmf *= lam / m
    cdf = np.cumsum(terms) / total
    cdf[-1] = 1.0
    return cdf


@dataclass(frozen=True, eq=False)
class _Tables:
    """What a batch needs of its link that does not change between batches (:func:`_tables`)."""

    conf: _Configurations
    click_total: float            # P = Σ w_k q_k, at most 1
    cdfs: tuple                   # zero-truncated Poisson CDF of the photons of each configuration (lam > 0)
    kernel: dict                  # the same, as the arrays of qkd_kernels.detection_clicks


@functools.lru_cache(maxsize=32)
def _tables(source: DecoySource, channel: ChannelModel, detector: DetectorModel, eve: EveModel,
            p_background: float) -> _Tables:
    """The configurations of a link and their derived tables, computed once per link (the models are frozen)."""
    conf = _configurations(source, channel, detector, eve, p_background)
    cdfs = tuple(_truncated_poisson_cdf(float(lam)) if lam > 0.0 else np.ones(1) for lam in conf.mean_arriving)
    width = max(len(c) for c in cdfs)
    cdf = np.ones((len(cdfs), width))
    for k, c in enumerate(cdfs):
        cdf[k, :len(c)] = c

    def edges(weight):
        cumulative = np.cumsum(weight)
        if cumulative[-1] <= 0.0:  # no configuration can be drawn: every index 0
            return np.zeros(0)
        return np.array((cumulative[:-1] / cumulative[-1]).tolist())

    ratio = np.divide(conf.arrival, conf.click, out=np.zeros_like(conf.arrival), where=conf.click > 0.0)
    kernel = {"edges_click": edges(conf.weight * conf.click), "edges_weight": edges(conf.weight), "ratio": ratio,
              "arrival": conf.arrival, "attacked": conf.attacked, "eve_learns": conf.eve_learns,
              "one_photon": np.array([c[0] if lam > 0.0 else 1.0 for c, lam in zip(cdfs, conf.mean_arriving)]),
              "cdf": cdf, "cdf_len": np.array([len(c) for c in cdfs], dtype=np.int64),
              "intensity_class": conf.intensity_class.astype(np.uint8)}
    for array in kernel.values():
        array.flags.writeable = False
    return _Tables(conf, min(float(np.dot(conf.weight, conf.click)), 1.0), cdfs, kernel)


def registered_clicks_per_pulse(source: DecoySource, *, channel: ChannelModel, detector: DetectorModel,
                                eve: EveModel | None = None, noise_probability: float = 0.0) -> float:
    """Expected registered clicks (Bob's detections, the entries of a :class:`DetectionBatch`) per pulse sent.

    The long-run rate of the renewal process of the module docstring: after a
    registered click the receiver is blind for ``d`` pulses, then the next
    click is the first pulse (an afterpulse, probability ``p_ap``) or comes
    after ``G ~ Geometric(P)`` pulses, ``P = Σ_k w_k q_k`` the click
    probability of a pulse (fibre, coupling, detector efficiency, dark and
    noise counts, Eve). The mean gap is ``d + p_ap + (1 - p_ap)/P`` pulses
    and the rate its inverse (renewal theorem).

    Args:
        source, channel, detector, eve, noise_probability: as :func:`detect_batch`.

    Returns:
        Registered clicks per pulse, in [0, 1].

    Examples:
        >>> rate = registered_clicks_per_pulse(DecoySource(), channel=ChannelModel(0.1), detector=DetectorModel())
        >>> 0.031 < rate < 0.0335
        True
    """
    eve = EveModel() if eve is None else eve
    click = _tables(source, channel, detector, eve, detector.background_probability(noise_probability)).click_total
    if click <= 0.0:
        return 0.0
    p_ap = detector.afterpulse_probability
    return 1.0 / (detector.dead_time_pulses + p_ap + (1.0 - p_ap) / click)


def key_bits_per_detection(source: DecoySource, *, channel: ChannelModel, detector: DetectorModel,
                           eve: EveModel | None = None, noise_probability: float = 0.0,
                           finite_key: bool = False) -> float:
    """Expected share of the registered clicks that give a key bit (what Alice keeps of a block with Cascade).

    A key bit is a sifted click (Alice's and Bob's bases equal, chosen
    independently of the click: ``p_z² + (1 - p_z)²``, Bob choosing Z with
    Alice's ``p_z``) of the signal class (asymptotic), or a click sifted in Z,
    ``p_z²``, of any class (``finite_key``, Lim et al. 2014). A click's class
    is drawn from ``w_k q_k / P`` (:func:`registered_clicks_per_pulse`), an
    afterpulse's from ``w_k``; a share ``p_ap`` of the registered clicks are
    afterpulses (each click is followed by one with that probability).

    Args:
        source, channel, detector, eve, noise_probability: as :func:`detect_batch`.
        finite_key: the key is the Z basis's sifted bits of all classes (else the signal class's sifted bits).

    Returns:
        Key bits per registered click, in [0, 1].

    Examples:
        >>> share = key_bits_per_detection(DecoySource(), channel=ChannelModel(0.1), detector=DetectorModel())
        >>> 0.4 < share < 0.5, key_bits_per_detection(DecoySource(), channel=ChannelModel(0.1),
        ...                                          detector=DetectorModel(), finite_key=True)
        (True, 0.25)
    """
    p_z = source.z_basis_probability
    if finite_key:
        return p_z * p_z
    eve = EveModel() if eve is None else eve
    conf = _tables(source, channel, detector, eve, detector.background_probability(noise_probability)).conf
    signal = conf.intensity_class == 0
    clicks = conf.weight * conf.click
    p_ap = detector.afterpulse_probability
    share = p_ap * conf.weight[signal].sum() / conf.weight.sum()
    if clicks.sum() > 0.0:
        share += (1.0 - p_ap) * clicks[signal].sum() / clicks.sum()
    return float((p_z * p_z + (1.0 - p_z) * (1.0 - p_z)) * share)


def _error_gains(conf: _Configurations, source: DecoySource, eta: float, detector: DetectorModel, eve: EveModel,
                 p_background: float, basis: int) -> tuple[np.ndarray, np.ndarray]:
    """``(Q_k, E_k·Q_k)`` of each configuration k in the matching ``basis`` (Alice's and Bob's), Bob's bit against
    Alice's: a pulse not intercepted (or beam-split: its arriving photons are the same) by
    :func:`dqsim.protocols.qkd.theory.receiver_gain_and_error`; one Eve intercepted and resent, her one photon
    arriving with ``a_k``, to Alice's detector with ``r(1 - e_d) + (1 - r)/2`` (r: Eve's basis is ``basis``, 1/2
    at random), to the other with the rest, each detector also firing on a background count (a double click a
    random bit): ``E_k·Q_k = p_c·p_b/2 + p_w·(1 - p_b/2) + (1 - a_k)·p_b·(1 - p_b/2)``."""
    e_d, p_b = detector.misalignment, p_background
    mu = np.asarray(source.intensities, dtype=np.float64)[conf.intensity_class]
    gains = np.array([receiver_gain_and_error(m, eta, p_b, e_d) for m in mu.tolist()]).reshape(-1, 2)
    q, eq = gains[:, 0], gains[:, 1]
    if eve.is_active and eve.attack == "intercept_resend":
        right = 0.5 if eve.basis == "random" else float((BASIS_Z if eve.basis == "Z" else BASIS_X) == basis)
        a = conf.arrival
        to_alice, to_other = a * (right * (1.0 - e_d) + (1.0 - right) / 2.0), a * (right * e_d + (1.0 - right) / 2.0)
        resent = to_alice * p_b / 2.0 + to_other * (1.0 - p_b / 2.0) + (1.0 - a) * p_b * (1.0 - p_b / 2.0)
        q, eq = np.where(conf.attacked, conf.click, q), np.where(conf.attacked, resent, eq)
    return q, eq


def sifted_errors_per_detection(source: DecoySource, *, channel: ChannelModel, detector: DetectorModel,
                                eve: EveModel | None = None, noise_probability: float = 0.0, basis: int | None = None,
                                signal_only: bool = False) -> tuple[float, float]:
    """Expected sifted bits and erroneous sifted bits per registered click (Bob's detections) of one basis (``None``:
    both) and the signal class (``signal_only``) or every class: the model :func:`detect_batch` draws from.

    A normal click is of configuration k (class, attacked) with ``w_k q_k / P``, sifted in basis b with ``p_b²``
    (Alice and Bob choose it with ``p_z`` or ``1 - p_z``), wrong with ``E_k Q_k / Q_k`` (:func:`_error_gains`). A
    share ``p_ap`` of the registered clicks are afterpulses (:func:`key_bits_per_detection`): configuration from
    ``w_k``, the pulse's own clicks plus one in a random detector, so one that would have fired Alice's detector
    alone (``C(1 - W)``) errs half the time, the other alone (``W(1 - C)``) three quarters, none or both half:
    ``1/2 - (C - W)/4 = 1/2 - (Q_k - 2 E_k Q_k)/4``.

    Args:
        source, channel, detector, eve, noise_probability: as :func:`detect_batch`.
        basis: ``BASIS_Z`` or ``BASIS_X`` (the sifted bits of that basis), ``None`` both.
        signal_only: the signal class's clicks only (the asymptotic key), else every class's.

    Returns:
        ``(sifted bits, erroneous ones)`` per registered click; their ratio is the QBER of those bits.

    Examples:
        >>> sifted, errors = sifted_errors_per_detection(DecoySource(), channel=ChannelModel(0.1),
        ...                                              detector=DetectorModel(), signal_only=True)
        >>> share = key_bits_per_detection(DecoySource(), channel=ChannelModel(0.1), detector=DetectorModel())
        >>> round(sifted, 6) == round(share, 6), 0.009 < errors / sifted < 0.0102
        (True, True)
    """
    eve = EveModel() if eve is None else eve
    p_b = detector.background_probability(noise_probability)
    tables = _tables(source, channel, detector, eve, p_b)
    conf = tables.conf
    kept = conf.intensity_class == 0 if signal_only else np.ones(conf.weight.size, dtype=bool)
    p_z, p_ap = source.z_basis_probability, detector.afterpulse_probability
    eta = channel.total_transmittance * detector.efficiency
    normal = (1.0 - p_ap) / tables.click_total if tables.click_total > 0.0 else 0.0
    after = p_ap / conf.weight.sum()
    sifted = errors = 0.0
    for each, share in ((BASIS_Z, p_z * p_z), (BASIS_X, (1.0 - p_z) * (1.0 - p_z))):
        if basis is not None and each != basis:
            continue
        q, eq = _error_gains(conf, source, eta, detector, eve, p_b, each)
        w = conf.weight[kept]
        sifted += share * (normal * float(np.dot(w, conf.click[kept])) + after * float(w.sum()))
        errors += share * (normal * float(np.dot(w, eq[kept]))
                           + after * float(np.dot(w, 0.5 - (q[kept] - 2.0 * eq[kept]) / 4.0)))
    return float(sifted), float(errors)


def _state_after(position: int, fires_last: bool, dead_time_pulses: int, num_pulses: int) -> ReceiverState:
    """The receiver state after a batch whose last registered click is at ``position``."""
    blocked_until = position + dead_time_pulses + 1
    return ReceiverState(dead_time_left=max(0, blocked_until - num_pulses),
                         afterpulse_due=bool(fires_last) and blocked_until >= num_pulses)


def _event_chain(xp, gen, num_pulses: int, click_probability: float, dead_time_pulses: int,
                 afterpulse_probability: float, state: ReceiverState):
    """Positions of the registered clicks, whether each is an afterpulse, whether each fires one (``xp`` arrays)."""
    d = dead_time_pulses
    position = state.dead_time_left - d - 1  # a virtual click whose dead time ends where the state says
    fires_last = bool(state.afterpulse_due)
    positions, forced, fires = [], [], []
    mean_gap = d + (1.0 / click_probability if click_probability > 0.0 else math.inf)
    while position + d + 1 < num_pulses:
        if click_probability <= 0.0 and not fires_last:
            break
        left = num_pulses - position
        size = int(min(max(64, 1.1 * left / mean_gap + 4.0 * math.sqrt(left / mean_gap) + 16), 1 << 24))
        if click_probability >= 1.0:
            gaps = xp.ones(size, dtype=xp.int64)
        elif click_probability > 0.0:  # Geometric(P) as 1 + floor(E / -ln(1 - P)), E exponential
            gaps = 1 + (gen.standard_exponential(size) * (-1.0 / math.log1p(-click_probability))).astype(xp.int64)
        else:
            gaps = xp.full(size, num_pulses + 1, dtype=xp.int64)
        fire = (gen.random(size) < afterpulse_probability) if afterpulse_probability > 0.0 \
            else xp.zeros(size, dtype=bool)
        forced_now = xp.empty(size, dtype=bool)
        forced_now[0] = fires_last
        forced_now[1:] = fire[:-1]
        steps = xp.where(forced_now, 1, gaps) if (fires_last or afterpulse_probability > 0.0) else gaps
        if d:
            steps = steps + d
        pos = xp.cumsum(steps)
        pos += position
        keep = int(xp.count_nonzero(pos < num_pulses))  # pos increases
        positions.append(pos[:keep])
        forced.append(forced_now[:keep])
        fires.append(fire[:keep])
        if keep < size:  # the chain left the batch: the first dropped click is beyond it
            if keep > 0:
                position, fires_last = int(pos[keep - 1]), bool(fire[keep - 1])
            break
        position, fires_last = int(pos[-1]), bool(fire[-1])
    new_state = _state_after(position, fires_last, d, num_pulses)
    cat = (lambda parts, dtype: xp.concatenate(parts) if parts else xp.zeros(0, dtype=dtype))
    return cat(positions, xp.int64), cat(forced, bool), cat(fires, bool), new_state


@functools.lru_cache(maxsize=64)
def _stream(seed: int, node: int) -> Stream:
    """The sampler's stream of a node (built once: its key is a hash; ``generator`` does not advance it)."""
    return Stream(seed, node=node, purpose=PURPOSE_DETECTIONS)


def _batch_generators(backend, seed: int, node: int, start_pulse: int):
    """The batch's generators (module docstring): the backend's, seeded by four words of the
    batch's Philox event, and that host Philox generator itself (for the per-class counts: the
    stream's own object, reused from batch to batch, :meth:`dqsim.rng.Stream.own_generator`).

    (One SFC64 object reseeded for every batch, in a compiled call, cut the per-batch cost further
    but made the per-click kernels 7-8 % slower at 10 km in processes that used it throughout:
    ``bench/results/qkd_postprocess-vm-s10-20261205.md``.)
    """
    host = _stream(seed, node).own_generator(start_pulse)
    # host.integers(0, 2**63, size=4, dtype=np.int64): Lemire's method on 2^63 values gives the top
    # 63 bits of each raw 64-bit word, and draws them as random_raw does (tests/test_qkd_detections.py)
    words = (host.bit_generator.random_raw(4) >> np.uint64(1)).tolist()
    return backend.random_generator(words), host


def _categorical(xp, cumulative: np.ndarray, u):
    """Index drawn from the unnormalised ``cumulative`` weights (host) by the uniforms ``u`` (``xp``).

    A sum of comparisons (the tables are short): faster than ``searchsorted`` here.
    """
    index = xp.zeros(u.shape, dtype=xp.intp)
    if cumulative[-1] <= 0.0:  # no configuration can be drawn (no uniform reaches here)
        return index
    for edge in (cumulative[:-1] / cumulative[-1]).tolist():
        index += u >= edge
    return index


def detect_batch(
    source: DecoySource,
    *,
    channel: ChannelModel,
    detector: DetectorModel,
    eve: EveModel | None = None,
    seed: int,
    start_pulse: int,
    num_pulses: int,
    noise_probability: float = 0.0,
    z_basis_probability: float = 0.5,
    receiver_state: ReceiverState | None = None,
    node: int = 1,
    backend: Backend | None = None,
    on_host: bool = True,
    use_kernel: bool | None = None,
    pack_from_clicks: int | None = None,
) -> tuple[DetectionBatch | PackedDetectionBatch, ReceiverState]:
    """Bob's registered clicks of ``num_pulses`` pulses, drawn at the cost of the clicks.

    The same model as :func:`dqsim.protocols.qkd.bb84.alice_batch` followed by
    :func:`~dqsim.protocols.qkd.bb84.bob_detect` (same arguments), sampled
    as the module docstring says: equal in distribution, not pulse by pulse.

    Args:
        source: Alice's :class:`DecoySource`.
        channel: the :class:`ChannelModel` (fibre and coupling).
        detector: Bob's :class:`DetectorModel`.
        eve: the :class:`EveModel` (``None``: no eavesdropper).
        seed: the run's seed, >= 0.
        start_pulse: global index of the batch's first pulse, >= 0 (keys the random stream).
        num_pulses: pulses in the batch, >= 0.
        noise_probability: noise click probability per gate and detector, in [0, 1].
        z_basis_probability: probability that Bob measures in Z, in [0, 1].
        receiver_state: the :class:`ReceiverState` of the previous batch (``None``: fresh).
        node: Bob's node index (key of the random stream), >= 0.
        backend: the :class:`dqsim.backend.Backend` whose array module and
            generator draw the clicks (``None``: NumPy).
        on_host: return the batch's per-click arrays as host NumPy arrays
            (default); ``False`` leaves them on the backend's device (CuPy
            arrays on a GPU), for :func:`detection_counts` with the same
            backend, so that a GPU run moves no per-click data to the host.
        use_kernel: run the numba kernels (``None``: where they can run; ``False``: the NumPy path).
        pack_from_clicks: return the batch as a :class:`PackedDetectionBatch` (as Bob's report travels) when
            it has at least this many clicks (``None``: never; host batches only). The kernels then write
            each piece of :data:`PACK_PIECE_CLICKS` clicks straight into its bit planes, so the unpacked
            arrays of the whole batch never exist (the same report as ``batch.packed()``).

    Returns:
        ``(batch, state)``: the :class:`DetectionBatch` (or :class:`PackedDetectionBatch`) and the receiver
        state for the next batch.

    Raises:
        DqsimError: an argument out of its range (the message names it).

    Examples:
        >>> det, state = detect_batch(DecoySource(), channel=ChannelModel(0.1), detector=DetectorModel(),
        ...                           seed=1, start_pulse=0, num_pulses=10**6)
        >>> sum(det.sent), 31_000 < det.num_detected < 33_500, state
        (1000000, True, ReceiverState(dead_time_left=0, afterpulse_due=False))
    """
    where = "detect_batch"
    if not isinstance(source, DecoySource):
        raise DqsimError(f"{where}: source must be a DecoySource, got {type(source).__name__}")
    if not isinstance(channel, ChannelModel):
        raise DqsimError(f"{where}: channel must be a ChannelModel, got {channel!r}")
    check_int(where, "start_pulse", start_pulse, 0)
    check_int(where, "num_pulses", num_pulses, 0)
    eve, p_noise, z_bob, state = check_receiver(where, detector=detector, eve=eve, seed=seed,
                                                noise_probability=noise_probability,
                                                z_basis_probability=z_basis_probability,
                                                receiver_state=receiver_state, node=node)

    backend = NUMPY if backend is None else backend
    if use_kernel is None:
        use_kernel = not backend.is_gpu and qkd_kernels.has_detection_kernels()
    elif use_kernel and (backend.is_gpu or not qkd_kernels.has_detection_kernels()):
        raise DqsimError(f"{where}: use_kernel=True needs the NumPy backend and numba "
                         f"(DQSIM_FAST_KERNELS not 0), got backend {backend.name!r}; pass use_kernel=None")
    xp = backend.xp
    p_b = detector.background_probability(p_noise)
    tables = _tables(source, channel, detector, eve, p_b)
    conf = tables.conf
    d = detector.dead_time_pulses
    gen, host_gen = _batch_generators(backend, seed, node, start_pulse)
    packed = None
    if use_kernel:  # the chain, then the clicks' draws segment by segment (qkd_kernels.detection_clicks)
        index, forced, position, fires_last = qkd_kernels.detection_chain(
            gen, num_pulses, tables.click_total, d, detector.afterpulse_probability, state.dead_time_left,
            state.afterpulse_due, index_dtype=np.int32 if num_pulses <= INT32_INDEX_MAX_PULSES else np.int64)
        new_state = _state_after(position, fires_last, d, num_pulses)
        eve_mode = 0 if not eve.is_active else (1 if eve.attack == "intercept_resend" else 2)
        eve_basis = -1 if eve.basis == "random" else (BASIS_Z if eve.basis == "Z" else BASIS_X)
        pack = pack_from_clicks is not None and on_host and index.shape[0] >= pack_from_clicks
        pieces = qkd_kernels.detection_clicks(
            gen, index, forced, tables.kernel, p_background=p_b, z_alice=source.z_basis_probability, z_bob=z_bob,
            misalignment=detector.misalignment, eve_mode=eve_mode, eve_basis=eve_basis, num_pulses=num_pulses,
            dead_time_pulses=d, num_classes=source.num_classes, piece_clicks=PACK_PIECE_CLICKS if pack else None)
        if pack:  # each piece's fields go straight into the report's bit planes
            packed, sent_clicks, blind = _packed_fields(pieces, forced, source.num_classes)
            clicks = None
        else:
            clicks, sent_clicks, blind = _one_piece(pieces, source.num_classes)
    else:
        index, forced, _fires, new_state = _event_chain(xp, gen, num_pulses, tables.click_total, d,
                                                        detector.afterpulse_probability, state)
        n = int(index.shape[0])
        u = gen.random((_NUM_UNIFORMS, n))
        bits = backend.random_bytes(gen, n)
        u_learns = gen.random(n) if eve.is_active else None
        *clicks, sent_clicks, blind = _clicks_numpy(backend, gen, u, bits, u_learns, index, forced, tables,
                                                    source=source, detector=detector, eve=eve, p_b=p_b, z_bob=z_bob,
                                                    num_pulses=num_pulses)
    n = int(index.shape[0])
    num_classes = source.num_classes
    blind += min(state.dead_time_left, num_pulses)
    watched = num_pulses - n - blind
    sent = sent_clicks + _class_counts(host_gen, blind, conf.weight, conf.intensity_class, num_classes)
    if watched > 0:
        sent = sent + _class_counts(host_gen, watched, conf.weight * (1.0 - conf.click), conf.intensity_class,
                                    num_classes)
    sent = tuple(int(v) for v in sent)
    if packed is not None:
        return PackedDetectionBatch.from_parts(start_pulse=start_pulse, num_pulses=num_pulses, sent=sent,
                                               index=index, fields=packed), new_state
    cls, alice_basis, alice_bit, bob_basis, bob_bit, double, eve_knows = clicks
    host = backend.to_host if on_host else (lambda array: array)
    batch = DetectionBatch(start_pulse=int(start_pulse), num_pulses=int(num_pulses),
                           sent=sent, index=host(_narrow_index(index, num_pulses)),
                           intensity_class=host(cls),
                           alice_basis=host(alice_basis), alice_bit=host(alice_bit), bob_basis=host(bob_basis),
                           bob_bit=host(bob_bit), double_click=host(double), eve_knows=host(eve_knows),
                           afterpulse=host(forced))
    if pack_from_clicks is not None and on_host and batch.num_detected >= pack_from_clicks:
        return batch.packed(), new_state
    return batch, new_state


#: Clicks per piece of :func:`detect_batch`'s packed report, and of a report read back (a multiple of 8).
PACK_PIECE_CLICKS = 1 << 16


def _one_piece(pieces, num_classes: int):
    """The clicks' arrays, counts per class and blinded pulses of :func:`qkd_kernels.detection_clicks` in one
    piece (empty arrays for a batch without clicks)."""
    for _first, arrays, sent, blind in pieces:
        return arrays, sent, blind
    empty = np.zeros(0, dtype=np.uint8)
    return (empty,) * 5 + (np.zeros(0, dtype=bool),) * 2, np.zeros(num_classes, dtype=np.int64), 0


def _packed_fields(pieces, forced: np.ndarray, num_classes: int):
    """The :class:`PackedFields` of the clicks that the pieces of :func:`qkd_kernels.detection_clicks` draw
    (each piece's bit planes written as it comes by a :class:`PlanesBuilder`, the layout
    :meth:`DetectionBatch.packed` packs the whole arrays in), the clicks per class and the blinded pulses."""
    n = int(forced.shape[0])
    class_bits = max(1, (num_classes - 1).bit_length())
    builder = PlanesBuilder(n, {name: (bool if name in ("double_click", "eve_knows", "afterpulse") else np.uint8,
                                       class_bits if name == "intensity_class" else 1)
                                for name in PER_CLICK_FIELDS})
    sent, blind = np.zeros(num_classes, dtype=np.int64), 0
    for first, arrays, piece_sent, piece_blind in pieces:
        sent, blind = sent + piece_sent, blind + piece_blind
        last = first + int(arrays[0].shape[0])
        builder.add(first, dict(zip(PER_CLICK_FIELDS, (*arrays, forced[first:last]))))
    return PackedFields.from_planes(n, builder.planes()), sent, blind


def _narrow_index(index, num_pulses: int):
    """The clicks' local pulse indices (int64, below ``num_pulses``) as int32 where they fit (4 bytes a click
    less in the reports a key block holds, :data:`BYTES_PER_DETECTION`); the values are unchanged."""
    return index.astype("int32", copy=False) if num_pulses <= INT32_INDEX_MAX_PULSES else index


def _clicks_numpy(backend, gen, u, bits, u_learns, index, forced, tables, *, source, detector, eve, p_b, z_bob,
                  num_pulses):
    """What Bob records at each registered click, as ``xp`` array operations (the reference of
    :func:`dqsim.backend.qkd_kernels.detection_clicks`, and the CuPy path).

    Returns ``(cls, alice_basis, alice_bit, bob_basis, bob_bit, double, eve_knows, sent, blind)``:
    ``sent`` the clicks per class (host), ``blind`` the pulses these clicks blind inside the batch.
    """
    xp = backend.xp
    conf = tables.conf
    n = int(index.shape[0])
    any_forced = bool(forced.any())
    # Configuration: normal clicks from w·q/P, afterpulse pulses from w.
    config = _categorical(xp, np.cumsum(conf.weight * conf.click), u[_U_CONFIG])
    if any_forced:
        config = xp.where(forced, _categorical(xp, np.cumsum(conf.weight), u[_U_CONFIG]), config)
    p_arrival = xp.asarray(tables.kernel["ratio"])[config]  # a/q
    if any_forced:
        p_arrival = xp.where(forced, xp.asarray(conf.arrival)[config], p_arrival)
    arrived = u[_U_ARRIVAL] < p_arrival
    # Background clicks of the correct and the wrong detector from one uniform v: both below p²,
    # the correct one alone in [p², p), the wrong one alone in [p, 2p - p²). A normal click
    # without photons has at least one: v is scaled into [0, 1 - (1-p)²).
    v = u[_U_DARK]
    v[xp.flatnonzero(~(forced | arrived))] *= 1.0 - (1.0 - p_b) ** 2
    dark_correct = xp.zeros(n, dtype=bool)
    dark_wrong = xp.zeros(n, dtype=bool)
    some = xp.flatnonzero(v < 2.0 * p_b - p_b * p_b)  # at least one background click (rare unless forced)
    dark_correct[some] = v[some] < p_b
    dark_wrong[some] = (v[some] < p_b * p_b) | (v[some] >= p_b)

    alice_basis = (u[_U_ALICE_BASIS] >= source.z_basis_probability).view(xp.uint8)
    alice_bit = (bits & _BIT_ALICE).astype(bool).view(xp.uint8)
    bob_basis = (u[_U_BOB_BASIS] >= z_bob).view(xp.uint8)
    state_basis, state_bit = alice_basis, alice_bit
    eve_knows = xp.zeros(n, dtype=bool)
    if eve.is_active:
        attacked = xp.asarray(conf.attacked)[config]
        eve_learns = xp.asarray(conf.eve_learns)[config]
    if eve.is_active and eve.attack == "intercept_resend":
        if eve.basis == "random":
            eve_basis = (bits & _BIT_EVE_BASIS).astype(bool).view(xp.uint8)
        else:
            eve_basis = xp.full(n, BASIS_Z if eve.basis == "Z" else BASIS_X, dtype=xp.uint8)
        right = eve_basis == alice_basis
        eve_bit = xp.where(right, alice_bit, (bits & _BIT_EVE_BIT).astype(bool).view(xp.uint8))
        hit = attacked & (arrived | (u_learns < eve_learns))
        state_basis = xp.where(hit, eve_basis, alice_basis)
        state_bit = xp.where(hit, eve_bit, alice_bit)
        eve_knows = hit & right
    elif eve.is_active:
        eve_knows = attacked & (u_learns < eve_learns)
    # Several photons (rare for weak pulses): the arrival uniform beyond P(m = 1 | m >= 1) of its configuration.
    several = xp.flatnonzero(arrived & (u[_U_PHOTONS] >= xp.asarray(tables.kernel["one_photon"])[config]))
    num_several = int(several.shape[0])
    photons = xp.empty(num_several, dtype=xp.int64)  # photon numbers of the events in ``several``
    if num_several:
        config_several = config[several]
        for k in backend.to_host(xp.unique(config_several)).tolist():
            chosen = config_several == k
            cdf = xp.asarray(tables.cdfs[k])
            photons[chosen] = 1 + xp.searchsorted(cdf, u[_U_PHOTONS][several[chosen]], side="right")

    # Photons to the correct detector: one photon by a uniform, several by a binomial draw.
    match = bob_basis == state_basis
    u_detector = u[_U_DETECTOR]
    correct = xp.where(match, u_detector < 1.0 - detector.misalignment, u_detector < 0.5) & arrived
    if num_several:
        r_correct = xp.where(match[several], 1.0 - detector.misalignment, 0.5)
        num_correct = gen.binomial(photons, r_correct)
        correct[several] = num_correct > 0
        wrong = arrived & ~correct
        wrong[several] = photons - num_correct > 0
    else:
        wrong = arrived & ~correct
    click_correct = correct | dark_correct
    click_wrong = wrong | dark_wrong
    if any_forced:  # the afterpulse fires detector 1 or 0: the correct one when it is the state's bit
        to_correct = (bits & _BIT_AFTERPULSE).astype(bool).view(xp.uint8) == state_bit
        click_correct |= forced & to_correct
        click_wrong |= forced & ~to_correct
    double = click_correct & click_wrong
    # One click: the state's bit from the correct detector, the other bit from the wrong one.
    bob_bit = xp.where(double, (bits & _BIT_DOUBLE).astype(bool).view(xp.uint8),
                       state_bit ^ (~click_correct).view(xp.uint8) & np.uint8(1))

    cls = xp.asarray(conf.intensity_class.astype(np.uint8))[config]
    sent = backend.to_host(xp.bincount(cls, minlength=source.num_classes)).astype(np.int64)
    blind = int(xp.minimum(detector.dead_time_pulses, num_pulses - 1 - index).sum())
    return cls, alice_basis, alice_bit, bob_basis, bob_bit, double, eve_knows, sent, blind


def _class_counts(gen: np.random.Generator, num: int, weight: np.ndarray, intensity_class: np.ndarray,
                  num_classes: int) -> np.ndarray:
    """Per-class counts of ``num`` pulses whose configuration is drawn from ``weight`` (multinomial)."""
    if num <= 0 or weight.sum() <= 0.0:
        return np.zeros(num_classes, dtype=np.int64)
    counts = gen.multinomial(num, weight / weight.sum())
    return np.bincount(intensity_class, weights=counts, minlength=num_classes).astype(np.int64)


def detection_counts(batch: DetectionBatch, num_classes: int, backend: Backend | None = None) -> BlockCounts:
    """The :class:`~dqsim.protocols.qkd.postprocess.BlockCounts` of a :class:`DetectionBatch`.

    One ``bincount`` over a 5-bit code per recorded pulse (Alice's basis,
    sifted, error, Eve knows, double click) and the class, on the device
    that holds the batch's arrays; only the table (32 entries per class)
    comes to the host.

    Args:
        batch: the batch's registered clicks.
        num_classes: number of intensity classes, in [1, 255].
        backend: the backend whose arrays the batch holds (``None``: NumPy;
            the batch of ``detect_batch(..., on_host=False)`` on a GPU needs
            its CuPy backend).

    Returns:
        The counts, as :func:`dqsim.protocols.qkd.postprocess.block_counts` gives them.

    Examples:
        >>> det, _ = detect_batch(DecoySource(), channel=ChannelModel(0.5), detector=DetectorModel(),
        ...                       seed=2, start_pulse=0, num_pulses=1000)
        >>> c = detection_counts(det, 3)
        >>> sum(c.sent), sum(c.detected) == det.num_detected
        (1000, True)
    """
    num_classes = check_int("detection_counts", "num_classes", num_classes, 1, 255)
    backend = NUMPY if backend is None else backend
    xp = backend.xp
    if not backend.is_gpu and qkd_kernels.has_detection_kernels():  # the same bincount in one pass
        code_counts = qkd_kernels.detection_table(batch.intensity_class, batch.alice_basis, batch.bob_basis,
                                                  batch.alice_bit, batch.bob_bit, batch.eve_knows,
                                                  batch.double_click)
        used = np.flatnonzero(code_counts.reshape(-1, 32).any(axis=1))  # classes seen
        rows = max(num_classes, int(used[-1]) + 1 if used.size else 0)
        table = code_counts[:rows * 32].reshape(-1, 2, 2, 2, 2, 2)
    else:
        sifted = (batch.alice_basis == batch.bob_basis).view(xp.uint8)
        error = sifted & (batch.alice_bit ^ batch.bob_bit)
        low = (batch.alice_basis << 4) | (sifted << 3) | (error << 2) | (batch.eve_knows.view(xp.uint8) << 1) \
            | batch.double_click.view(xp.uint8)
        code = (batch.intensity_class.astype(xp.uint16) << 5) | low
        table = backend.to_host(xp.bincount(code, minlength=num_classes * 32)).reshape(-1, 2, 2, 2, 2, 2)
    if table.shape[0] != num_classes:
        raise DqsimError(
            f"detection_counts: num_classes must exceed every intensity class, got {num_classes}")
    # One product with the 0/1 masks of the codes that each count adds up (_CODE_MASKS).
    sums = (table.reshape(num_classes, 32) @ _CODE_MASKS).T.tolist()
    return BlockCounts(num_classes, batch.sent, *map(tuple, sums))
