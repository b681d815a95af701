"""Batch simulation of decoy-state BB84 pulses: Alice's source, the fibre, Eve, Bob's receiver.

Two pure functions make the pulses of one batch; the event engine calls them
on different ranks (Alice's rank makes a batch and sends it as one message,
Bob's rank detects it):

* :func:`alice_batch` draws, for each pulse, the intensity class (decoy
  state), the basis (0 = Z, 1 = X), the bit and the photon number (Poisson
  with the class's mean photon number: a phase-randomised weak coherent
  pulse);
* :func:`bob_detect` sends those pulses through the channel (and Eve) to
  Bob's receiver and returns what Bob records.

Arrays live in the array module ``xp`` (NumPy or CuPy, :mod:`dqsim.backend`);
this module writes against the API the two share and never imports CuPy.

**Randomness does not depend on the batch size.** Every random number of
pulse ``i`` is a function of ``(seed, node, purpose, i)`` only (DESIGN.md
invariant 4; what a seed reproduces is said once in :mod:`dqsim.rng`).
Pulses are grouped in fixed chunks of :data:`CHUNK` = 2^16 pulses: pulse
``i`` belongs to chunk ``i // CHUNK``, and the draws of a chunk come from
``Stream(seed, node=node, purpose=...).generator(chunk_index)`` in a fixed
order, always for the whole chunk. A batch covering part of a chunk
generates that chunk and keeps its slice; a batch smaller than a chunk
keeps the chunk for the next batches (a few such chunks in all,
``_ChunkCache``), so batches far smaller than a chunk cost about what their
pulses cost. So splitting the same pulses into
batches of any sizes gives identical pulses, and draws whose consumption of
random bits varies from draw to draw (Poisson) stay reproducible. The
purposes are :data:`PURPOSE_ALICE` (Alice's node), :data:`PURPOSE_BOB` and
:data:`PURPOSE_EVE` (Bob's node). The draws are made on the host with NumPy
and moved to ``xp`` with ``xp.asarray``: the GPU path uses the very same
numbers as the CPU path, and the two give identical results (up to the
floating-point caveat of :mod:`dqsim.rng`: a uniform draw within ~1e-16 of
a probability computed slightly differently on the device could fall on
the other side).

Bob draws a fixed number of uniforms per pulse (:data:`NUM_BOB_DRAWS`,
:data:`NUM_EVE_DRAWS`), whatever the photon number, and turns them into
outcomes by inverse transform of exact probabilities (below). This keeps
his draws independent of Alice's data, so a batch may start in the middle of
a chunk.

**Memory.** A batch is processed in segments of :data:`SEGMENT_PULSES`
pulses aligned to multiples of it (so no chunk is generated twice within a
call). Apart from its outputs (a few arrays of ``num_pulses`` small
integers or booleans) a call holds only segment-sized temporaries.

**Physics.**

* *Source*: class ``c`` with probability ``probabilities[c]``; basis Z with
  ``z_basis_probability``; bit uniform; photons ``n ~ Poisson(μ_c)``.
* *Channel*: fibre of transmittance ``T`` (:class:`ChannelModel`), a lumped
  coupling transmittance at Bob, then Bob's detector efficiency; each photon
  survives independently (binomial thinning of ``n``). Eve, when present,
  sits at ``position`` (fraction of the fibre from Alice): the fibre before
  her has transmittance ``T^position``, after her ``T^(1-position)``.
* *Bob*: an active basis choice (Z with probability ``z_basis_probability``)
  followed by two threshold detectors, one per bit value. A photon that
  reaches a detector in the basis it was prepared in lands in the wrong
  detector with the misalignment probability ``e_d``, in the other basis in
  either detector with probability 1/2, independently per photon. With ``q_c``,
  ``q_w`` the per-photon probabilities of reaching and firing the correct
  and the wrong detector, the click pattern of ``n`` photons follows from
  ``P(no photon at a set S) = (1 - q_S)^n`` (inclusion-exclusion over the
  four patterns; one uniform per pulse). Each detector also clicks from a
  dark count or a noise photon with probability
  ``1 - (1 - p_dark)(1 - p_noise)`` (≈ ``p_dark + p_noise``; ``p_noise``
  given by the caller, e.g. Raman light, :mod:`dqsim.network.raman`). Double
  clicks get a random bit (squashing).
* *Dead time*: after a registered click the receiver (both detectors) is
  blind for ``dead_time_pulses`` pulses (non-paralysable: blocked clicks do
  not extend it). *Afterpulsing*: a registered click causes, with
  ``afterpulse_probability``, a click in the first pulse after its dead time
  (the next pulse when there is none), in either detector with probability
  1/2. Both carry across batches in :class:`ReceiverState`.
* *Intercept-resend* on a random ``fraction`` of the pulses: Eve detects the
  photons reaching her with a perfect detector, measures in her basis
  (random or fixed) and resends ONE photon in her result through the rest of
  the fibre; when no photon reaches her she sends nothing. She learns the bit
  (``eve_knows``) when her basis was Alice's.
* *Beam splitting* on a random ``fraction`` of the pulses: Eve replaces the
  fibre before her by a beam splitter of the same transmittance and keeps
  the reflected photons (in a memory, measured after the basis is
  announced). Bob's statistics are unchanged; Eve learns the bit when at
  least one photon of the pulse was reflected, which for a pulse Bob detects
  needs ``n >= 2`` (or a background click).

**Not modelled**: a passive basis choice with four detectors (multi-photon
pulses split across bases), detector efficiency mismatch and other side
channels, timing jitter, phase-coherent attacks, Eve's own noise, and
finite-key statistics (post-processing is asymptotic).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from dqsim import units
from dqsim.errors import DqsimError
from dqsim.checks import check_choice, check_int, check_real
from dqsim.network.fibre import DEFAULT_ATTENUATION_DB_PER_KM, fibre_transmittance
from dqsim.rng import Stream

__all__ = [
    "ATTACKS",
    "BASIS_X",
    "BASIS_Z",
    "CHUNK",
    "EVE_BASES",
    "NUM_BOB_DRAWS",
    "NUM_EVE_DRAWS",
    "PURPOSE_ALICE",
    "PURPOSE_BOB",
    "PURPOSE_EVE",
    "SEGMENT_PULSES",
    "AliceBatch",
    "BobBatch",
    "ChannelModel",
    "DecoySource",
    "DetectorModel",
    "EveModel",
    "ReceiverState",
    "alice_batch",
    "bob_detect",
    "check_receiver",
    "segments",
]

#: Pulses per random-number chunk: pulse ``i`` uses event ``i // CHUNK`` of each stream.
CHUNK = 2**16

#: Pulses per processing segment (a multiple of :data:`CHUNK`); bounds temporary memory.
SEGMENT_PULSES = 4 * CHUNK

#: Basis labels of :class:`AliceBatch` and :class:`BobBatch`.
BASIS_Z = 0
BASIS_X = 1

#: Purposes of the random streams (see :class:`dqsim.rng.Stream`).
PURPOSE_ALICE = "bb84_alice"
PURPOSE_BOB = "bb84_bob"
PURPOSE_EVE = "bb84_eve"

#: Eavesdropping strategies of :class:`EveModel`.
ATTACKS = ("none", "intercept_resend", "beam_splitting")

#: Eve's measurement basis choices for intercept-resend.
EVE_BASES = ("random", "Z", "X")

# Rows of Bob's uniforms per pulse, in their fixed order within a chunk.
_ROW_BASIS, _ROW_SIGNAL, _ROW_DARK0, _ROW_DARK1, _ROW_DOUBLE, _ROW_AFTERPULSE, _ROW_AP_DETECTOR = (
    range(7))
#: Uniforms drawn per pulse by Bob (basis, signal clicks, dark counts of the
#: two detectors, double-click bit, afterpulse trigger, afterpulse detector).
NUM_BOB_DRAWS = 7

# Rows of Eve's uniforms per pulse.
_ROW_ATTACK, _ROW_PHOTONS, _ROW_EVE_BASIS, _ROW_EVE_BIT = range(4)
#: Uniforms drawn per pulse for Eve (attack or not, photons at Eve, basis, bit).
NUM_EVE_DRAWS = 4

#: Largest number of intensity classes (classes are stored as uint8).
MAX_CLASSES = 255


# --------------------------------------------------------------------------- models


def _real_tuple(where: str, name: str, values, low: float, high: float) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise DqsimError(f"{where}: {name} must be a sequence of numbers, got {values!r}")
    if not 1 <= len(values) <= MAX_CLASSES:
        raise DqsimError(
            f"{where}: {name} must have 1 to {MAX_CLASSES} entries, got {len(values)}")
    return tuple(check_real(where, f"{name}[{i}]", v, low, high) for i, v in enumerate(values))


@dataclass(frozen=True)
class DecoySource:
    """Alice's weak-coherent-pulse source with decoy intensities.

    Class 0 is the signal; the intensities decrease strictly (the usual
    choice is signal, weak decoy, vacuum).

    Attributes:
        intensities: mean photon number of each class, >= 0, strictly
            decreasing, the first (signal) > 0.
        probabilities: probability of each class, in [0, 1], summing to 1 (±1e-9).
        z_basis_probability: probability that Alice prepares in Z, in [0, 1].
        source_rate_hz: pulse repetition rate, Hz, > 0.

    Raises:
        DqsimError: a field out of its range (the message names it).

    Examples:
        >>> DecoySource().num_classes
        3
        >>> DecoySource(z_basis_probability=1.5)
        Traceback (most recent call last):
            ...
        dqsim.errors.DqsimError: DecoySource: z_basis_probability must be in [0, 1], got 1.5
    """

    intensities: tuple[float, ...] = (0.5, 0.1, 0.0)
    probabilities: tuple[float, ...] = (0.8, 0.1, 0.1)
    z_basis_probability: float = 0.5
    source_rate_hz: float = 1.0e9

    def __post_init__(self) -> None:
        where = "DecoySource"
        intensities = _real_tuple(where, "intensities", self.intensities, 0.0, np.inf)
        probabilities = _real_tuple(where, "probabilities", self.probabilities, 0.0, 1.0)
        if intensities[0] <= 0.0:
            raise DqsimError(
                f"{where}: intensities[0] (the signal) must be > 0, got {intensities[0]!r}")
        if any(b >= a for a, b in zip(intensities, intensities[1:])):
            raise DqsimError(
                f"{where}: intensities must decrease strictly (signal first), got {intensities}")
        if len(probabilities) != len(intensities):
            raise DqsimError(
                f"{where}: probabilities must have one entry per intensity "
                f"({len(intensities)}), got {len(probabilities)}")
        if abs(sum(probabilities) - 1.0) > 1e-9:
            raise DqsimError(
                f"{where}: probabilities must sum to 1, got {probabilities} "
                f"(sum {sum(probabilities)!r})")
        check_real(where, "z_basis_probability", self.z_basis_probability, 0.0, 1.0)
        check_real(where, "source_rate_hz", self.source_rate_hz, 0.0, low_open=True)
        object.__setattr__(self, "intensities", intensities)
        object.__setattr__(self, "probabilities", probabilities)

    @property
    def num_classes(self) -> int:
        """Number of intensity classes."""
        return len(self.intensities)

    @property
    def signal_intensity(self) -> float:
        """Mean photon number μ of the signal class (class 0)."""
        return self.intensities[0]


@dataclass(frozen=True)
class DetectorModel:
    """Bob's receiver: two threshold detectors (one per bit value) behind an active basis choice.

    Attributes:
        efficiency: detection efficiency of each detector, in (0, 1].
        dark_count_probability: dark-count probability per gate and detector, in [0, 1].
        misalignment: probability e_d that a photon measured in its own basis
            reaches the wrong detector, in [0, 1].
        dead_time_pulses: pulses for which the receiver is blind after a click, >= 0.
        afterpulse_probability: probability that a click causes a click in the
            first pulse after the dead time, in [0, 1].

    Raises:
        DqsimError: a field out of its range (the message names it).

    Examples:
        >>> DetectorModel(efficiency=1.5)
        Traceback (most recent call last):
            ...
        dqsim.errors.DqsimError: DetectorModel: efficiency must be in (0, 1], got 1.5
    """

    efficiency: float = 0.8
    dark_count_probability: float = 1.0e-6
    misalignment: float = 0.01
    dead_time_pulses: int = 0
    afterpulse_probability: float = 0.0

    def __post_init__(self) -> None:
        where = "DetectorModel"
        check_real(where, "efficiency", self.efficiency, 0.0, 1.0, low_open=True)
        check_real(where, "dark_count_probability", self.dark_count_probability, 0.0, 1.0)
        check_real(where, "misalignment", self.misalignment, 0.0, 1.0)
        check_int(where, "dead_time_pulses", self.dead_time_pulses, 0)
        check_real(where, "afterpulse_probability", self.afterpulse_probability, 0.0, 1.0)

    def background_probability(self, noise_probability: float) -> float:
        """Probability that a detector clicks in a gate without a signal photon: a dark count or a noise
        photon (Raman), independent, ``1 - (1 - p_dark)(1 - p_noise)``.

        Examples:
            >>> round(DetectorModel(dark_count_probability=0.1).background_probability(0.2), 12)
            0.28
        """
        return 1.0 - (1.0 - self.dark_count_probability) * (1.0 - noise_probability)


@dataclass(frozen=True)
class EveModel:
    """An eavesdropper on the fibre.

    Attributes:
        attack: ``"none"``, ``"intercept_resend"`` or ``"beam_splitting"``.
        fraction: fraction of the pulses attacked (each independently), in [0, 1].
        basis: Eve's measurement basis for intercept-resend: ``"random"``
            (Z or X with probability 1/2 each), ``"Z"`` or ``"X"``.
        position: where Eve sits, as the fraction of the fibre length from
            Alice, in [0, 1].

    Raises:
        DqsimError: a field out of its range (the message names it).

    Examples:
        >>> EveModel(fraction=2.0)
        Traceback (most recent call last):
            ...
        dqsim.errors.DqsimError: EveModel: fraction must be in [0, 1], got 2.0
    """

    attack: str = "none"
    fraction: float = 0.0
    basis: str = "random"
    position: float = 0.5

    def __post_init__(self) -> None:
        where = "EveModel"
        check_choice(where, "attack", self.attack, ATTACKS)
        check_real(where, "fraction", self.fraction, 0.0, 1.0)
        check_choice(where, "basis", self.basis, EVE_BASES)
        check_real(where, "position", self.position, 0.0, 1.0)

    @property
    def is_active(self) -> bool:
        """True when some pulses can be attacked."""
        return self.attack != "none" and self.fraction > 0.0


@dataclass(frozen=True)
class ChannelModel:
    """Loss between Alice's source and Bob's detectors (detector efficiency excluded).

    Attributes:
        fibre_transmittance: transmittance T of the fibre, in [0, 1].
        coupling_transmittance: lumped coupling transmittance at Bob's end
            (connectors, receiver optics), in [0, 1].

    Raises:
        DqsimError: a field out of its range.

    Examples:
        >>> ch = ChannelModel.from_fibre(50.0)
        >>> round(ch.fibre_transmittance, 12), round(ch.to_eve(0.5), 6), round(ch.after_eve(0.5), 6)
        (0.1, 0.316228, 0.316228)
    """

    fibre_transmittance: float
    coupling_transmittance: float = 1.0

    def __post_init__(self) -> None:
        where = "ChannelModel"
        check_real(where, "fibre_transmittance", self.fibre_transmittance, 0.0, 1.0)
        check_real(where, "coupling_transmittance", self.coupling_transmittance, 0.0, 1.0)

    @classmethod
    def from_fibre(cls, distance_km: float, *,
                   attenuation_db_per_km: float = DEFAULT_ATTENUATION_DB_PER_KM,
                   coupling_loss_db: float = 0.0) -> ChannelModel:
        """The channel of ``distance_km`` of fibre and a coupling loss at Bob, dB.

        Uses :func:`dqsim.network.fibre.fibre_transmittance` for both.
        """
        fibre = fibre_transmittance(distance_km, attenuation_db_per_km)
        coupling = units.db_to_transmittance(check_real(
            "ChannelModel.from_fibre", "coupling_loss_db", coupling_loss_db, 0.0))
        return cls(fibre_transmittance=fibre, coupling_transmittance=coupling)

    @property
    def total_transmittance(self) -> float:
        """Transmittance from Alice to Bob's detectors: T × coupling."""
        return self.fibre_transmittance * self.coupling_transmittance

    def to_eve(self, position: float) -> float:
        """Fibre transmittance from Alice to Eve at ``position``: T^position."""
        return self.fibre_transmittance ** position

    def after_eve(self, position: float) -> float:
        """Transmittance from Eve at ``position`` to Bob's detectors: T^(1-position) × coupling."""
        return self.fibre_transmittance ** (1.0 - position) * self.coupling_transmittance


@dataclass(frozen=True)
class ReceiverState:
    """What Bob's receiver carries from one batch to the next.

    Attributes:
        dead_time_left: pulses at the start of the next batch during which
            the receiver is still blind, >= 0.
        afterpulse_due: an afterpulse click falls on the first pulse after
            the dead time (pulse ``dead_time_left`` of the next batch).
    """

    dead_time_left: int = 0
    afterpulse_due: bool = False

    def __post_init__(self) -> None:
        check_int("ReceiverState", "dead_time_left", self.dead_time_left, 0)
        if not isinstance(self.afterpulse_due, (bool, np.bool_)):
            raise DqsimError(
                f"ReceiverState: afterpulse_due must be a bool, got {self.afterpulse_due!r}")


@dataclass(frozen=True, eq=False)
class AliceBatch:
    """The pulses Alice sent, pulse ``start_pulse`` onwards (arrays in ``xp``).

    Attributes:
        start_pulse: global index of the first pulse.
        basis: preparation basis per pulse, uint8 (0 = Z, 1 = X).
        bit: bit value per pulse, uint8.
        intensity_class: index into :attr:`DecoySource.intensities`, uint8.
        photons: photon number per pulse, int32.
    """

    start_pulse: int
    basis: Any
    bit: Any
    intensity_class: Any
    photons: Any

    @property
    def num_pulses(self) -> int:
        """Number of pulses in the batch."""
        return int(self.basis.shape[0])


@dataclass(frozen=True, eq=False)
class BobBatch:
    """What Bob's receiver recorded for the pulses of an :class:`AliceBatch` (arrays in ``xp``).

    Attributes:
        start_pulse: global index of the first pulse.
        detected: at least one detector registered a click, bool.
        basis: Bob's measurement basis, uint8 (0 = Z, 1 = X).
        bit: Bob's bit (random for a double click; 0 where nothing was detected), uint8.
        double_click: both detectors clicked, bool.
        eve_knows: Eve learned Alice's bit of this pulse, bool.
    """

    start_pulse: int
    detected: Any
    basis: Any
    bit: Any
    double_click: Any
    eve_knows: Any

    @property
    def num_pulses(self) -> int:
        """Number of pulses in the batch."""
        return int(self.detected.shape[0])


# --------------------------------------------------------------------------- random chunks


def segments(start_pulse: int, num_pulses: int):
    """Local ``(lo, hi)`` ranges of a batch of ``num_pulses`` pulses from ``start_pulse``, cut at global multiples of
    :data:`SEGMENT_PULSES`: the pieces :func:`alice_batch` and :func:`bob_detect` draw one at a time (a piece of a
    batch drawn alone gives the same numbers).

    Examples:
        >>> list(segments(SEGMENT_PULSES - 2, 5))
        [(0, 2), (2, 5)]
    """
    lo = 0
    while lo < num_pulses:
        absolute = start_pulse + lo
        hi = min(num_pulses, (absolute // SEGMENT_PULSES + 1) * SEGMENT_PULSES - start_pulse)
        yield lo, hi
        lo = hi


def _chunk_spans(start_pulse: int, num_pulses: int):
    """``(chunk_index, first, last, offset)``: pulses ``first:last`` of the chunk go to
    ``offset`` onwards of the batch."""
    pos = start_pulse
    end = start_pulse + num_pulses
    while pos < end:
        chunk_index = pos // CHUNK
        base = chunk_index * CHUNK
        last = min(end - base, CHUNK)
        yield chunk_index, pos - base, last, pos - start_pulse
        pos = base + last


def _host_uniforms(stream: Stream, start_pulse: int, num_pulses: int, num_rows: int, *,
                   keep: bool = False) -> np.ndarray:
    """Uniforms in [0, 1) of pulses ``start_pulse ...``: row ``r`` is draw ``r`` of each pulse.

    Each chunk draws ``num_rows × CHUNK`` uniforms in row-major order from its own generator; with ``keep``
    (a batch smaller than :data:`CHUNK`) the chunks are drawn once and kept for the next batches
    (:data:`_PARTIAL_CHUNKS`).
    """
    out = np.empty((num_rows, num_pulses), dtype=np.float64)
    for chunk_index, first, last, offset in _chunk_spans(start_pulse, num_pulses):
        def draw(chunk_index=chunk_index):
            return (stream.generator(chunk_index).random((num_rows, CHUNK)),)
        (draws,) = _PARTIAL_CHUNKS.chunk(("uniforms", stream.seed, stream.node, stream.purpose, num_rows,
                                          chunk_index), keep, draw)
        out[:, offset:offset + last - first] = draws[:, first:last]
    return out


class _ChunkCache:
    """The chunks of random numbers that batches smaller than a chunk used, the latest ``size`` of them.

    Batches smaller than :data:`CHUNK` (down to ``batch_pulses = 1``) would
    otherwise draw a whole chunk each: a batch of one pulse cost as much as
    2^16 pulses. The numbers are the same either way (a chunk's draws are a
    function of its stream and index only), so the results do not depend on
    the cache. Larger batches keep nothing: they redraw
    at most the one chunk they share with the next batch, and the kept chunks
    (Bob's uniforms: 3.7 MB each) would add to their peak memory.
    """

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict = OrderedDict()

    def chunk(self, key, keep: bool, draw) -> tuple:
        """The arrays ``draw()`` returns for chunk ``key``: kept for later calls where ``keep`` (a batch smaller
        than a chunk), and then taken from there while they are among the latest ``size``."""
        if not keep:
            entry = self._entries.get(key)
            return draw() if entry is None else entry
        entry = self._entries.get(key)
        if entry is None:
            entry = draw()
            for array in entry:
                array.flags.writeable = False
            self._entries[key] = entry
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return entry


#: Chunks kept for batches smaller than a chunk (:class:`_ChunkCache`): Alice's draws (0.46 MB a chunk) and Bob's
#: and Eve's uniforms (3.7 and 2.1 MB), the latest 8 of all, so that a few links of one rank interleaving small
#: batches each keep theirs.
_PARTIAL_CHUNKS = _ChunkCache(8)


def _to_host(array) -> np.ndarray:
    """A NumPy copy of an ``xp`` array (CuPy arrays have ``.get()``; NumPy arrays pass through)."""
    get = getattr(array, "get", None)
    return get() if callable(get) else np.asarray(array)


# --------------------------------------------------------------------------- Alice


def _alice_host(stream: Stream, source: DecoySource, start_pulse: int, num_pulses: int, *, keep: bool = False):
    cumulative = np.cumsum(np.asarray(source.probabilities, dtype=np.float64))
    intensities = np.asarray(source.intensities, dtype=np.float64)
    last_class = source.num_classes - 1
    basis = np.empty(num_pulses, dtype=np.uint8)
    bit = np.empty(num_pulses, dtype=np.uint8)
    intensity_class = np.empty(num_pulses, dtype=np.uint8)
    photons = np.empty(num_pulses, dtype=np.int32)
    for chunk_index, first, last, offset in _chunk_spans(start_pulse, num_pulses):
        def draw(chunk_index=chunk_index):
            gen = stream.generator(chunk_index)
            # Fixed order for the whole chunk: class, basis, bit, photon number.
            u_class = gen.random(CHUNK)
            u_basis = gen.random(CHUNK)
            chunk_bit = gen.integers(0, 2, CHUNK, dtype=np.uint8)
            chunk_class = np.minimum(np.searchsorted(cumulative, u_class, side="right"), last_class)
            return (chunk_class.astype(np.uint8), (u_basis >= source.z_basis_probability).view(np.uint8),
                    chunk_bit, gen.poisson(intensities[chunk_class]).astype(np.int32))

        chunk_class, chunk_basis, chunk_bit, chunk_photons = _PARTIAL_CHUNKS.chunk(
            ("alice", stream.seed, stream.node, stream.purpose, source, chunk_index), keep, draw)
        span = slice(offset, offset + last - first)
        intensity_class[span] = chunk_class[first:last]
        basis[span] = chunk_basis[first:last]
        bit[span] = chunk_bit[first:last]
        photons[span] = chunk_photons[first:last]
    return basis, bit, intensity_class, photons


def alice_batch(xp, source: DecoySource, seed: int, start_pulse: int, num_pulses: int, *,
                node: int = 0, batch_pulses: int | None = None) -> AliceBatch:
    """Alice's pulses ``start_pulse ... start_pulse + num_pulses - 1``.

    Args:
        xp: array module of the result (``numpy`` or ``cupy``).
        source: the :class:`DecoySource`.
        seed: the run's seed, >= 0.
        start_pulse: global index of the first pulse, >= 0.
        num_pulses: number of pulses, >= 0.
        node: Alice's node index (key of her random stream), >= 0.
        batch_pulses: the pulses of the batch these are a piece of (:func:`segments`; ``None``: ``num_pulses``):
            a batch smaller than :data:`CHUNK` keeps the chunks it drew for the next (the same numbers either way).

    Returns:
        The :class:`AliceBatch`; pulse ``i``'s values depend only on
        ``(seed, node, i)`` and the source (module docstring).

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> whole = alice_batch(np, DecoySource(), 7, 0, 10)
        >>> part = alice_batch(np, DecoySource(), 7, 4, 6)
        >>> bool((whole.photons[4:] == part.photons).all())
        True
    """
    where = "alice_batch"
    if not isinstance(source, DecoySource):
        raise DqsimError(f"{where}: source must be a DecoySource, got {type(source).__name__}")
    check_int(where, "seed", seed, 0)
    check_int(where, "start_pulse", start_pulse, 0)
    check_int(where, "num_pulses", num_pulses, 0)
    check_int(where, "node", node, 0)
    keep_chunks = (num_pulses if batch_pulses is None
                   else check_int(where, "batch_pulses", batch_pulses, num_pulses)) < CHUNK
    basis = xp.empty(num_pulses, dtype=xp.uint8)
    bit = xp.empty(num_pulses, dtype=xp.uint8)
    intensity_class = xp.empty(num_pulses, dtype=xp.uint8)
    photons = xp.empty(num_pulses, dtype=xp.int32)
    stream = Stream(seed, node=node, purpose=PURPOSE_ALICE)
    for lo, hi in segments(start_pulse, num_pulses):
        h_basis, h_bit, h_class, h_photons = _alice_host(stream, source, start_pulse + lo, hi - lo,
                                                         keep=keep_chunks)
        basis[lo:hi] = xp.asarray(h_basis)
        bit[lo:hi] = xp.asarray(h_bit)
        intensity_class[lo:hi] = xp.asarray(h_class)
        photons[lo:hi] = xp.asarray(h_photons)
    return AliceBatch(start_pulse=int(start_pulse), basis=basis, bit=bit,
                      intensity_class=intensity_class, photons=photons)


# --------------------------------------------------------------------------- Bob


def register_clicks(raw_index: np.ndarray, u_afterpulse: np.ndarray, num_pulses: int,
                     dead_time_pulses: int, afterpulse_probability: float,
                     state: ReceiverState):
    """Apply dead time and afterpulsing to a segment's raw clicks (host, sequential).

    A registered click blinds the receiver (both its detectors) for the next
    ``dead_time_pulses`` pulses; with ``afterpulse_probability`` it fires once
    more on the first pulse after that (an afterpulse, registered like a click).
    Used by :func:`bob_detect` and by the entangled protocols' receivers.

    Args:
        raw_index: sorted local indices of pulses with a raw click (NumPy or CuPy).
        u_afterpulse: afterpulse-trigger uniform of each pulse of the segment.
        num_pulses: pulses in the segment.
        dead_time_pulses: pulses blinded after each registered click, >= 0.
        afterpulse_probability: probability of an afterpulse after a click, in [0, 1].
        state: the :class:`ReceiverState` at the segment's start.

    Returns:
        ``(registered, afterpulses, state)``: local indices of registered
        clicks, the subset of those that carry an afterpulse click (landing
        there), and the receiver state at the segment's end.
    """
    raw = _to_host(raw_index).tolist()
    num_raw = len(raw)
    registered: list[int] = []
    afterpulses: list[int] = []
    step = dead_time_pulses + 1
    blocked_until = state.dead_time_left
    afterpulse_at = state.dead_time_left if state.afterpulse_due else -1
    pos = 0
    while True:
        while pos < num_raw and raw[pos] < blocked_until:
            pos += 1
        pulse = raw[pos] if pos < num_raw else num_pulses
        if 0 <= afterpulse_at < pulse:
            pulse = afterpulse_at
        if pulse >= num_pulses:
            break
        registered.append(pulse)
        if pulse == afterpulse_at:
            afterpulses.append(pulse)
        if pos < num_raw and raw[pos] == pulse:
            pos += 1
        blocked_until = pulse + step
        fires = afterpulse_probability > 0.0 and u_afterpulse[pulse] < afterpulse_probability
        afterpulse_at = blocked_until if fires else -1
    new_state = ReceiverState(dead_time_left=max(0, blocked_until - num_pulses),
                              afterpulse_due=afterpulse_at >= num_pulses)
    return (np.asarray(registered, dtype=np.int64), np.asarray(afterpulses, dtype=np.int64),
            new_state)


def _click_probabilities(xp, n, transmittance, r_correct, r_wrong):
    """``(1-q)^n`` for no photon at either, the correct, the wrong detector (q = t·r)."""
    z_none = xp.power(1.0 - transmittance, n)
    z_no_correct = xp.power(1.0 - transmittance * r_correct, n)
    z_no_wrong = xp.power(1.0 - transmittance * r_wrong, n)
    return z_none, z_no_correct, z_no_wrong


def check_receiver(where: str, *, detector, eve, seed, noise_probability, z_basis_probability, receiver_state,
                   node) -> tuple[EveModel, float, float, ReceiverState]:
    """Check the receiver arguments shared by :func:`bob_detect` and the detection sampler.

    Returns:
        ``(eve, noise_probability, z_basis_probability, state)`` with ``None``
        replaced by no eavesdropper and a fresh :class:`ReceiverState`.

    Raises:
        DqsimError: an argument of the wrong type or out of its range, named after ``where``.
    """
    if not isinstance(detector, DetectorModel):
        raise DqsimError(f"{where}: detector must be a DetectorModel, got {detector!r}")
    eve = EveModel() if eve is None else eve
    if not isinstance(eve, EveModel):
        raise DqsimError(f"{where}: eve must be an EveModel or None, got {eve!r}")
    check_int(where, "seed", seed, 0)
    p_noise = check_real(where, "noise_probability", noise_probability, 0.0, 1.0)
    z_bob = check_real(where, "z_basis_probability", z_basis_probability, 0.0, 1.0)
    state = ReceiverState() if receiver_state is None else receiver_state
    if not isinstance(state, ReceiverState):
        raise DqsimError(f"{where}: receiver_state must be a ReceiverState, got {state!r}")
    check_int(where, "node", node, 0)
    return eve, p_noise, z_bob, state


def bob_detect(
    xp,
    alice: AliceBatch,
    *,
    transmittance: ChannelModel | float,
    detector: DetectorModel,
    eve: EveModel | None = None,
    seed: int,
    start_pulse: int | None = None,
    noise_probability: float = 0.0,
    z_basis_probability: float = 0.5,
    receiver_state: ReceiverState | None = None,
    node: int = 1,
    batch_pulses: int | None = None,
) -> tuple[BobBatch, ReceiverState]:
    """Send Alice's pulses through the channel (and Eve) to Bob's receiver.

    Physics, randomness and memory: module docstring.

    Args:
        xp: array module of ``alice``'s arrays and of the result.
        alice: the :class:`AliceBatch`.
        transmittance: the :class:`ChannelModel`, or a number in [0, 1]: the
            fibre transmittance with no coupling loss.
        detector: Bob's :class:`DetectorModel`.
        eve: the :class:`EveModel` (``None``: no eavesdropper).
        seed: the run's seed, >= 0.
        start_pulse: global index of the batch's first pulse; must equal
            ``alice.start_pulse`` (``None``: take it from ``alice``).
        noise_probability: noise click probability per gate and detector
            (e.g. Raman), in [0, 1].
        z_basis_probability: probability that Bob measures in Z, in [0, 1].
        receiver_state: the :class:`ReceiverState` left by the previous batch
            (``None``: a fresh receiver).
        node: Bob's node index (key of his and Eve's random streams), >= 0.
        batch_pulses: the pulses of the batch that ``alice`` is a piece of (:func:`segments`; ``None``: her
            pulses): a batch smaller than :data:`CHUNK` keeps the chunks of random numbers it drew for the
            next (the same numbers either way).

    Returns:
        ``(bob, state)``: the :class:`BobBatch` and the :class:`ReceiverState`
        to pass to the next batch (or piece).

    Raises:
        DqsimError: an argument out of its range (the message names it).

    Examples:
        >>> alice = alice_batch(np, DecoySource(), 1, 0, 1000)
        >>> bob, state = bob_detect(np, alice, transmittance=1.0, detector=DetectorModel(), seed=1)
        >>> 0 < int(bob.detected.sum()) < 1000, state
        (True, ReceiverState(dead_time_left=0, afterpulse_due=False))
    """
    where = "bob_detect"
    if not isinstance(alice, AliceBatch):
        raise DqsimError(f"{where}: alice must be an AliceBatch, got {type(alice).__name__}")
    if isinstance(transmittance, ChannelModel):
        channel = transmittance
    else:
        channel = ChannelModel(fibre_transmittance=check_real(
            where, "transmittance", transmittance, 0.0, 1.0))
    if start_pulse is None:
        start_pulse = alice.start_pulse
    check_int(where, "start_pulse", start_pulse, alice.start_pulse, alice.start_pulse)
    eve, p_noise, z_bob, state = check_receiver(where, detector=detector, eve=eve, seed=seed,
                                                noise_probability=noise_probability,
                                                z_basis_probability=z_basis_probability,
                                                receiver_state=receiver_state, node=node)

    num_pulses = alice.num_pulses
    keep_chunks = (num_pulses if batch_pulses is None
                   else check_int(where, "batch_pulses", batch_pulses, num_pulses)) < CHUNK
    e_d = detector.misalignment
    p_background = detector.background_probability(p_noise)
    t_to_eve = channel.to_eve(eve.position)
    t_after_eve = channel.after_eve(eve.position) * detector.efficiency
    t_total = channel.total_transmittance * detector.efficiency
    sequential = (detector.dead_time_pulses > 0 or detector.afterpulse_probability > 0.0
                  or state.dead_time_left > 0 or state.afterpulse_due)

    detected = xp.empty(num_pulses, dtype=xp.bool_)
    basis = xp.empty(num_pulses, dtype=xp.uint8)
    bit = xp.empty(num_pulses, dtype=xp.uint8)
    double_click = xp.empty(num_pulses, dtype=xp.bool_)
    eve_knows = xp.zeros(num_pulses, dtype=xp.bool_)
    bob_stream = Stream(seed, node=node, purpose=PURPOSE_BOB)
    eve_stream = Stream(seed, node=node, purpose=PURPOSE_EVE)

    for lo, hi in segments(start_pulse, num_pulses):
        size = hi - lo
        host_u = _host_uniforms(bob_stream, start_pulse + lo, size, NUM_BOB_DRAWS, keep=keep_chunks)
        u = xp.asarray(host_u)
        n = alice.photons[lo:hi]
        a_basis = alice.basis[lo:hi]
        a_bit = alice.bit[lo:hi]
        bob_basis = (u[_ROW_BASIS] >= z_bob).astype(xp.uint8)

        # The state arriving at Bob: Alice's, or Eve's resent photon.
        state_basis, state_bit, n_bob, t_bob = a_basis, a_bit, n, t_total
        if eve.is_active:
            ue = xp.asarray(_host_uniforms(eve_stream, start_pulse + lo, size, NUM_EVE_DRAWS, keep=keep_chunks))
            attacked = ue[_ROW_ATTACK] < eve.fraction
        if eve.is_active and eve.attack == "intercept_resend":
            if eve.basis == "random":
                eve_basis = (ue[_ROW_EVE_BASIS] >= 0.5).astype(xp.uint8)
            else:
                eve_basis = xp.full(size, BASIS_Z if eve.basis == "Z" else BASIS_X,
                                    dtype=xp.uint8)
            hit = attacked & (ue[_ROW_PHOTONS] >= xp.power(1.0 - t_to_eve, n))
            right_basis = eve_basis == a_basis
            eve_bit = xp.where(right_basis, a_bit, (ue[_ROW_EVE_BIT] >= 0.5).astype(xp.uint8))
            state_basis = xp.where(hit, eve_basis, a_basis)
            state_bit = xp.where(hit, eve_bit, a_bit)
            n_bob = xp.where(attacked, hit.astype(xp.int32), n)
            t_bob = xp.where(attacked, t_after_eve, t_total)
            eve_knows[lo:hi] = hit & right_basis

        match = bob_basis == state_basis
        r_correct = xp.where(match, 1.0 - e_d, 0.5)
        r_wrong = xp.where(match, e_d, 0.5)
        z_none, z_no_correct, z_no_wrong = _click_probabilities(xp, n_bob, t_bob, r_correct,
                                                                r_wrong)
        if eve.is_active and eve.attack == "beam_splitting":
            # Eve's beam splitter of transmittance t_to_eve keeps the reflected photons.
            all_pass = xp.power(t_to_eve, n)
            knows = attacked & (ue[_ROW_PHOTONS] >= all_pass)
            passed = attacked & ~knows
            t_eve_bob = t_to_eve * t_after_eve
            denominator = xp.where(knows, 1.0 - all_pass, 1.0)
            zs = []
            for z, r in ((z_none, 1.0), (z_no_correct, r_correct), (z_no_wrong, r_wrong)):
                z_passed = xp.power(1.0 - t_after_eve * r, n)
                z_knows = (xp.power(1.0 - t_eve_bob * r, n)
                           - xp.power(xp.maximum(t_to_eve - t_eve_bob * r, 0.0), n)) / denominator
                zs.append(xp.where(knows, z_knows, xp.where(passed, z_passed, z)))
            z_none, z_no_correct, z_no_wrong = zs
            eve_knows[lo:hi] = knows

        # One uniform picks the pattern: [0, z_none) none, [z_none, z_no_wrong) correct
        # only, [z_no_wrong, z_no_wrong + z_no_correct - z_none) wrong only, else both.
        u_signal = u[_ROW_SIGNAL]
        wrong_click = u_signal >= z_no_wrong
        correct_click = (u_signal >= z_none) & (
            (u_signal < z_no_wrong) | (u_signal >= z_no_wrong + z_no_correct - z_none))
        is_one = state_bit == 1
        click1 = xp.where(is_one, correct_click, wrong_click) | (u[_ROW_DARK1] < p_background)
        click0 = xp.where(is_one, wrong_click, correct_click) | (u[_ROW_DARK0] < p_background)

        if sequential:
            raw_index = _to_host(xp.flatnonzero(click0 | click1))
            registered, afterpulses, state = register_clicks(
                raw_index, host_u[_ROW_AFTERPULSE], size, detector.dead_time_pulses,
                detector.afterpulse_probability, state)
            keep = xp.zeros(size, dtype=xp.bool_)
            keep[xp.asarray(registered)] = True
            click0 &= keep
            click1 &= keep
            to_one = host_u[_ROW_AP_DETECTOR][afterpulses] >= 0.5
            click1[xp.asarray(afterpulses[to_one])] = True
            click0[xp.asarray(afterpulses[~to_one])] = True

        both = click0 & click1
        detected[lo:hi] = click0 | click1
        double_click[lo:hi] = both
        basis[lo:hi] = bob_basis
        bit[lo:hi] = xp.where(both, u[_ROW_DOUBLE] >= 0.5, click1).astype(xp.uint8)

    bob = BobBatch(start_pulse=int(start_pulse), detected=detected, basis=basis, bit=bit,
                   double_click=double_click, eve_knows=eve_knows)
    return bob, state
