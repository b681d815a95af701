"""The QKD node processes: Alice and Bob of one link, driven by the event engine.

The processes use only the engine's process context ``ctx`` handed to
``run`` (``ctx.wait``, ``ctx.send``, ``ctx.receive``, ``ctx.log``,
``ctx.now_ps``, ``ctx.backend``); they do not import the engine (protocols
and engine are peers in DESIGN.md's layers). The scenario makes them engine
processes by mixing in :class:`dqsim.engine.process.ResumableProcess`, so a
checkpoint saves each with its protocol state and ``run`` re-enters any
phase at its one ``yield``. Every attribute is picklable (device arrays are
dropped in ``__getstate__``).

Each process holds its link's :class:`LinkPhysics` and the run's
:class:`QkdPlan` (what every link shares: protocol, pulse counts, source,
seeds, post-processing settings), never the job.

BB84 (:class:`Bb84Alice`, :class:`Bb84Bob`):

1. Alice makes a batch of pulses (:func:`dqsim.protocols.qkd.bb84.alice_batch`),
   waits while the source emits it (``batch_pulses / source_rate_hz``) and
   sends it as one message, which reaches Bob one fibre delay later (with
   ``sampling = "detections"`` the message only announces the batch and Bob
   draws the recorded pulses, :mod:`dqsim.protocols.qkd.detections`).
2. Bob detects it (his receiver state — dead time, afterpulse — carries over
   to the next batch) and sends his detection report back.
3. Alice folds each report into the block's counts per intensity class and
   (Cascade) its packed key bits, taking the reports that have come each time
   she sends a batch, so a block holds a round trip's reports, not all of
   them. When the last report of a block is in, the block's classical
   post-processing runs as messages —
   sifting match (Alice → Bob), parameter estimation (Bob → Alice), error
   correction and privacy amplification (Alice → Bob), each one fibre delay,
   and with Cascade one more round trip per round.

Every classical message (the reports included) takes its bits over ``[qkd].classical_bit_rate_hz`` on the
link's channel, a first-come-first-served queue per direction shared by the blocks in post-processing
(:mod:`dqsim.protocols.qkd.classical_channel`; the lengths: :mod:`dqsim.protocols.qkd.authentication`).

BBM92/E91 (:class:`EntangledAlice`, :class:`EntangledBob`): the pair source
sits on the fibre, ``[qkd.source].position`` of its length from Alice
(default midway), pumped without pause while a block lasts. Bob's photons
of a batch reach him ``(1 - position)`` of the link's fibre delay after they
left the source; his process then draws the batch's pairs, both sides, and
sends his report (his clicks' places and settings, its bits on his channel,
carrying the batch's outcomes that Alice's side folds) to Alice, one link
delay; she folds the reports that have come each time the source ends a
batch, as BB84's Alice does (until 2026-12-07 (morning) her process drew
each batch as the source ended it, and his report took no bits of its
own). When the block's
last report is in, its post-processing follows the same messages as
BB84's, Cascade's rounds included (:mod:`dqsim.protocols.qkd.entangled_block`).
(Until 2026-12-06 the source sat at Alice's node in the timing: she sent Bob
his photons over the whole link and waited for his report, a round trip
after every batch.)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from dqsim.backend import qkd_kernels
from dqsim.protocols.qkd import authentication, entangled, entangled_block, ldpc, reconciliation, theory
from dqsim.protocols.qkd.authentication import NO_TAGS, MessageTags, report_settings
from dqsim.protocols.qkd.bb84 import (
    BASIS_Z,
    AliceBatch,
    BobBatch,
    ChannelModel,
    DecoySource,
    DetectorModel,
    EveModel,
    alice_batch,
    bob_detect,
    segments,
)
from dqsim.protocols.qkd.detections import (
    PACK_PIECE_CLICKS,
    DetectionBatch,
    PackedDetectionBatch,
    detect_batch,
    detection_counts,
)
from dqsim.protocols.qkd.postprocess import (
    BlockCounts,
    block_counts,
    estimate_block,
    postprocess_block,
    sample_qber,
)
from dqsim.errors import DqsimError
from dqsim.network.network import PROTOCOL_CLOCK_LIMIT_PS
from dqsim.protocols.qkd.classical_channel import ERROR_CORRECTION_ONLY, EVERY_MESSAGE, ClassicalChannel
from dqsim.protocols.qkd.finite_key import EntangledFiniteKeyResult
from dqsim.protocols.qkd.packed_bits import GrowingPlanes, PackedBits, PackedFields, index_dtype
from dqsim.rng import Stream
from dqsim.units import PS_PER_S

#: Latest simulated time at which a key block's Cascade messages may end, ps: the protocols' clock limit, 2**61
#: (:data:`dqsim.network.network.PROTOCOL_CLOCK_LIMIT_PS`). The other half of the engine's range is left for
#: what may follow: the later blocks' emission (at most 2**59 ps in all, ``MAX_QKD_EMISSION_PS`` of
#: :mod:`dqsim.jobs.qkd`) and their fibre crossings.
CASCADE_END_MAX_PS = PROTOCOL_CLOCK_LIMIT_PS

#: The ``error_correction`` choices that run on the block's key bits (Alice keeps them, packed, until the block's
#: end): Cascade (:mod:`dqsim.protocols.qkd.reconciliation`) and LDPC (:mod:`dqsim.protocols.qkd.ldpc`).
KEYED_ERROR_CORRECTIONS = ("cascade", "ldpc")
#: Their names in messages.
EC_NAMES = {"cascade": "Cascade", "ldpc": "LDPC"}


#: Default of ``[qkd].max_blocks_in_postprocessing``: the most key blocks of one link in post-processing at once,
#: blocks (see :class:`_AliceSource`).
MAX_BLOCKS_IN_POSTPROCESSING = 16


@dataclass(frozen=True, kw_only=True)
class QkdPlan:
    """What the QKD processes of one run share (built once by the scenario from the job).

    Attributes:
        protocol: ``"bb84_decoy"``, ``"bbm92"`` or ``"e91"``.
        seed: the run's seed (:mod:`dqsim.rng`).
        pulses: pulses (or pair slots) per link.
        block_pulses: pulses per key block.
        batch_pulses: pulses per batch message.
        source: the decoy source (BB84), else ``None``.
        entangled_source: the pair source (BBM92/E91), else ``None``.
        sampling: ``"detections"`` or ``"pulses"`` (BB84).
        error_correction: ``"cascade"``, ``"ldpc"`` or ``"asymptotic"`` (the job's ``"model"``).
        cascade_order: Cascade's order of bisection, ``"parallel"`` or ``"sequential"``
            (:data:`~dqsim.protocols.qkd.reconciliation.CASCADE_ORDERS`).
        security: ``"finite_key"`` or ``"asymptotic"``.
        eps_sec: secrecy parameter (finite key).
        eps_cor: correctness parameter (finite key, verification hash).
        f_ec: error-correction inefficiency of the leakage model.
        qber_threshold: QBER above which a block is aborted.
        sample_fraction: fraction of the sifted key bits spent on the QBER estimate.
        classical_bit_rate_hz: rate of the classical channel (Cascade message times).
        ldpc_mode: ``"blind"`` or ``"rate_adaptive"`` (:data:`dqsim.protocols.qkd.ldpc.LDPC_MODES`).
        max_blocks_in_postprocessing: most key blocks of a link in post-processing at once, blocks (the source
            waits while that many are; :class:`_AliceSource`).
        authentication: ``[qkd].authentication`` (:data:`~dqsim.protocols.qkd.authentication.AUTHENTICATION_MODES`):
            which error-correction messages carry a tag's bits on the channel (:func:`ec_message_delays_ps`).
        eps_auth: the forgery probability allowed for each tag (its length).
    """

    protocol: str
    seed: int
    pulses: int
    block_pulses: int
    batch_pulses: int
    source: DecoySource | None
    entangled_source: entangled.EntangledSource | None = None
    sampling: str = "detections"
    error_correction: str = "asymptotic"
    cascade_order: str = "parallel"
    security: str = "asymptotic"
    eps_sec: float = 1e-10
    eps_cor: float = 1e-15
    f_ec: float = theory.DEFAULT_ERROR_CORRECTION_EFFICIENCY
    qber_threshold: float = 0.11
    sample_fraction: float = 0.0
    classical_bit_rate_hz: float = 1e9
    ldpc_mode: str = "blind"
    max_blocks_in_postprocessing: int = MAX_BLOCKS_IN_POSTPROCESSING
    authentication: str = "none"
    eps_auth: float = 1e-10

    def batches(self):
        """(block index, first pulse, pulses) of every batch; blocks are cut at ``block_pulses``."""
        start = 0
        while start < self.pulses:
            block = start // self.block_pulses
            block_end = min((block + 1) * self.block_pulses, self.pulses)
            size = min(self.batch_pulses, block_end - start)
            yield block, start, size
            start += size


@dataclass(frozen=True)
class LinkPhysics:
    """Everything the processes of one link need.

    ``arm_transmittances`` (entangled protocols): the source-to-Alice and
    source-to-Bob transmittances, fibre and coupling, before the detectors.
    ``noise_probability`` is the noise (Raman) click probability per gate of
    Bob's detectors, ``alice_noise_probability`` that of Alice's (entangled
    protocols; ``None``: the same as Bob's).
    """

    link_index: int
    alice: int
    bob: int
    distance_km: float
    delay_ps: int
    channel: ChannelModel
    detector: DetectorModel
    eve: EveModel | None
    noise_probability: float
    total_transmittance: float
    arm_transmittances: tuple[float, float] = (1.0, 1.0)
    alice_noise_probability: float | None = None

    def dark_count_probabilities(self) -> tuple[float, float]:
        """Alice's and Bob's background click probability per detector and gate: dark counts plus noise."""
        alice = self.noise_probability if self.alice_noise_probability is None else self.alice_noise_probability
        dark = self.detector.dark_count_probability
        return min(1.0, dark + alice), min(1.0, dark + self.noise_probability)


#: The model of BBM92/E91's multi-pair source (``[qkd.source].mean_pair_number``) a :class:`LinkTally` was made with.
SPDC_SOURCE_MODEL = "two-mode squeezed vacuum"
#: What a tally pickled before 2026-12-06 (no ``spdc_source_model``) was made with.
OLD_SPDC_SOURCE_MODEL = "thermal count of independent pairs"


#: The schedule of the source a :class:`LinkTally` was made with: block after block while earlier ones are
#: post-processed (:class:`_AliceSource`).
SOURCE_SCHEDULE = "emits on"
#: What a tally pickled before 2026-12-06 (no ``waits_ps``) was made with.
OLD_SOURCE_SCHEDULE = "waits for each block's post-processing"

#: The classical channel a :class:`LinkTally`'s times were made with: one FIFO queue per direction, shared by
#: the blocks in post-processing, every message of a block on it with its tag
#: (:mod:`~dqsim.protocols.qkd.classical_channel`).
CLASSICAL_CHANNEL = "fifo per direction, every message and tag timed, reports sized where drawn"
#: What a tally pickled before 2026-12-07 (morning) was made with: BBM92/E91's reports took their tags' bits only and
#: every report's click places the shorter of a bitmap and indices (:func:`refuse_unsized_reports_checkpoint`).
UNSIZED_REPORTS_CLASSICAL_CHANNEL = "fifo per direction, every message and tag timed"
#: What a tally pickled on 2026-12-07 before the reports, sifting and estimation messages were timed was made
#: with (:func:`refuse_untimed_messages_checkpoint`).
EC_ONLY_CLASSICAL_CHANNEL = "fifo per direction, tags timed"
#: What a tally pickled before 2026-12-07 (no ``classical_channel``) was made with.
OLD_CLASSICAL_CHANNEL = "each message the whole bit rate, tags untimed"


@dataclass
class LinkTally:
    """What one link produced (filled on Alice's rank).

    ``spdc_source_model`` names the multi-pair source model of its draws (:data:`SPDC_SOURCE_MODEL`); a tally
    restored from a checkpoint written before that model (2026-12-06) reads :data:`OLD_SPDC_SOURCE_MODEL`
    (:func:`refuse_old_spdc_source`).

    ``blocks`` holds a row per key block, in block order: ``(block, emission start, emission end, sifted,
    estimated, key acknowledged)`` times in ps, its counts and its result. ``waits_ps`` maps a block to the time
    the source waited before emitting it (``max_blocks_in_postprocessing`` blocks in post-processing,
    :class:`_AliceSource`), ps. ``done_ps`` is when the link ended: the later of the last emission's end and the
    last block's key. ``source_schedule`` reads :data:`OLD_SOURCE_SCHEDULE` for a tally pickled before the source
    emitted on (:func:`refuse_waiting_source_tallies`); ``classical_channel`` :data:`OLD_CLASSICAL_CHANNEL` for one
    pickled before the classical channel queued messages (:data:`CLASSICAL_CHANNEL`). ``channel_free_ps``: when
    the link's own messages last left Alice towards Bob and Bob towards Alice, ps (the trusted relay's
    announcements queue after them, :mod:`dqsim.scenarios.qkd_relay`; ``(0, 0)`` before the link's end).
    """

    blocks: list = field(default_factory=list)
    pulses: int = 0
    key_bits: int = 0
    sifted: int = 0
    errors: int = 0
    aborted_blocks: int = 0
    chsh_counts: np.ndarray | None = None
    done_ps: int = 0
    spdc_source_model: str = SPDC_SOURCE_MODEL
    waits_ps: dict = field(default_factory=dict)
    source_schedule: str = SOURCE_SCHEDULE
    classical_channel: str = CLASSICAL_CHANNEL
    channel_free_ps: tuple = (0, 0)

    def __setstate__(self, state):
        state.setdefault("spdc_source_model", OLD_SPDC_SOURCE_MODEL)
        state.setdefault("classical_channel", OLD_CLASSICAL_CHANNEL)
        if "waits_ps" not in state:  # pickled before 2026-12-06 (refuse_waiting_source_tallies)
            state.update(waits_ps={}, source_schedule=OLD_SOURCE_SCHEDULE)
        self.__dict__.update(state)

    def add_block(self, row: tuple) -> None:
        """Put a finished block's row among ``blocks`` in block order (blocks in post-processing at once may end
        in another order)."""
        at = len(self.blocks)
        while at and self.blocks[at - 1][0] > row[0]:
            at -= 1
        self.blocks.insert(at, row)


def refuse_waiting_source_tallies(tallies) -> None:
    """Refuse, in one line, link tallies made by a source that waited for every block's post-processing (before
    2026-12-06): a sweep's distances finished before the checkpoint would keep that schedule's times
    (``simulated_time_ps``, the blocks' times) beside the new ones (:func:`refuse_waiting_source_checkpoint`).

    So are tallies whose classical messages did not queue (:data:`OLD_CLASSICAL_CHANNEL`,
    :func:`refuse_unqueued_channel_checkpoint`), those whose reports, sifting and estimation messages took no
    channel time (:data:`EC_ONLY_CLASSICAL_CHANNEL`, :func:`refuse_untimed_messages_checkpoint`) and those whose
    reports were sized before 2026-12-07 (morning) (:data:`UNSIZED_REPORTS_CLASSICAL_CHANNEL`,
    :func:`refuse_unsized_reports_checkpoint`).

    Raises:
        DqsimError: a tally made with :data:`OLD_SOURCE_SCHEDULE`, :data:`OLD_CLASSICAL_CHANNEL`,
            :data:`EC_ONLY_CLASSICAL_CHANNEL` or :data:`UNSIZED_REPORTS_CLASSICAL_CHANNEL`.
    """
    if any(t.source_schedule != SOURCE_SCHEDULE for t in tallies):
        refuse_waiting_source_checkpoint()
    if any(t.classical_channel == OLD_CLASSICAL_CHANNEL for t in tallies):
        refuse_unqueued_channel_checkpoint({})
    if any(t.classical_channel == EC_ONLY_CLASSICAL_CHANNEL for t in tallies):
        refuse_untimed_messages_checkpoint()
    if any(t.classical_channel != CLASSICAL_CHANNEL for t in tallies):
        refuse_unsized_reports_checkpoint()


def refuse_old_spdc_source(mean_pair_number, tallies) -> None:
    """Refuse, in one line, the tallies of a multi-pair BBM92/E91 run checkpointed before 2026-12-06.

    Its SPDC source was one thermal count of independent pairs, drawn from the stream ``"<protocol>-pairs"``;
    it is now the two-mode squeezed vacuum (:mod:`dqsim.protocols.qkd.entangled`, *Multi-pair source*) with
    other draws, so such a run cannot resume the same. One-pair runs (``mean_pair_number`` None) are unchanged.

    Args:
        mean_pair_number: the job's ``[qkd.source].mean_pair_number``, or ``None``.
        tallies: :class:`LinkTally` objects restored from the checkpoint.

    Raises:
        DqsimError: ``mean_pair_number`` is set and a tally was made with the older source.
    """
    if mean_pair_number is not None and any(t.spdc_source_model != SPDC_SOURCE_MODEL for t in tallies):
        raise DqsimError("this checkpoint of a BBM92/E91 run with [qkd.source].mean_pair_number was written by an "
                         "older dqsim, whose SPDC source was a thermal count of independent pairs (now the two-mode "
                         "squeezed vacuum, Ma, Fung & Lo 2007); run the job again from the start (remove its "
                         "checkpoints)")


def refuse_old_e91_finite_key(protocol: str, results) -> None:
    """Refuse, in one line, E91 block results of a finite key taken before 2026-12-06.

    That finite key took the kept bits' phase error rate equal to their bit
    error rate (Tomamichel et al.'s bound, an
    :class:`~dqsim.protocols.qkd.finite_key.EntangledFiniteKeyResult`), which
    assumes a symmetric source; E91's finite key is now the CHSH bound
    (a :class:`~dqsim.protocols.qkd.finite_key.ChshFiniteKeyResult`). A
    checkpoint holding such blocks would mix the two keys, so it is refused.

    Args:
        protocol: the link's protocol (only ``"e91"`` is checked).
        results: block results (:class:`~dqsim.protocols.qkd.entangled_block.EntangledBlockResult`, or ``None``).

    Raises:
        DqsimError: an E91 result with a Tomamichel et al. finite key among ``results``.
    """
    if protocol == "e91" and any(isinstance(getattr(r, "finite_key", None), EntangledFiniteKeyResult)
                                 for r in results):
        raise DqsimError("this checkpoint of an E91 finite-key run was written by an older dqsim, whose E91 finite "
                         "key assumed a symmetric source (now the CHSH bound, Scarani & Renner 2008); run the job "
                         "again from the start (remove its checkpoints)")


def refuse_old_decoy_bound(source, blocks) -> None:
    """Refuse, in one line, BB84 block results whose decoy bound an older dqsim took, before the two-decoy bound.

    Until 2026-12-06 a source with a third intensity above 0 (a second weak decoy, e.g. Lim et al.'s ``[0.5, 0.1,
    0.0002]``) had its smallest positive intensity taken as the only decoy (Ma et al.'s one-decoy bound with
    ν = 0.0002, which certifies no single photon: an asymptotic key of 0 bits at every distance); now its second
    intensity is the decoy, and with μ > ν1 + ν2 the two-decoy bound
    (:func:`~dqsim.protocols.qkd.postprocess.estimate_block`). A checkpoint holding such blocks (a sweep's
    finished distances, or the running link's blocks) would resume with their old keys beside new ones. The blocks'
    key lengths cannot be worked out again from what is stored (with Cascade the leakage came from key bits that
    are gone), so the check is exact the other way: each block's stored decoy estimate must be the one its stored
    counts give now (the same method, and the same bounds to 1e-9 relative: another machine's ``libm`` may round
    a last bit otherwise, while the older bound's differ in their leading digits); one that differs is refused.
    Sources with two intensities or a vacuum third one are unchanged and not looked at.

    Args:
        source: the link's :class:`~dqsim.protocols.qkd.bb84.DecoySource`.
        blocks: ``(counts, result)`` pairs: a block's :class:`~dqsim.protocols.qkd.postprocess.BlockCounts` and its
            :class:`~dqsim.protocols.qkd.postprocess.BlockResult` (``None``: not estimated yet).

    Raises:
        DqsimError: a block whose decoy estimate the older bound made.
    """
    if source is None or source.num_classes < 3 or source.intensities[2] <= 0.0:
        return
    for counts, result in blocks:
        if result is None or counts is None:
            continue
        now = estimate_block(counts, source, f_ec=result.f_ec, qber_threshold=result.qber_threshold).decoy
        if not _same_decoy_estimate(now, result.decoy):
            raise DqsimError(
                f"this checkpoint of a BB84 run with a second weak decoy (intensities {list(source.intensities)}) "
                "was written by an older dqsim, whose decoy bound took the third intensity as the only decoy (an "
                "asymptotic key of 0 bits; the two-decoy bound since 2026-12-06), and its finished blocks keep "
                "that bound's keys; run the job again from the start (remove its checkpoints)")


def _same_decoy_estimate(a, b) -> bool:
    """Whether two :class:`~dqsim.protocols.qkd.decoy.DecoyEstimate` (or ``None``) are one estimate: the same method
    and bounds within 1e-9 relative (:func:`refuse_old_decoy_bound`)."""
    if a is None or b is None:
        return a is b
    return a.method == b.method and all(math.isclose(getattr(a, name), getattr(b, name), rel_tol=1e-9, abs_tol=1e-300)
                                        for name in ("y1_lower", "e1_upper", "q1_lower", "y0"))


# ----------------------------------------------------------------- BB84 processes
def _last_of_block(batches, i: int) -> bool:
    return i + 1 == len(batches) or batches[i + 1][0] != batches[i][0]


def refuse_waiting_source_checkpoint() -> None:
    """Refuse, in one line, a QKD process checkpointed by a dqsim whose source waited for each key block's
    post-processing before it emitted the next block (before 2026-12-06): its blocks' times followed that wait and
    one process held a block's emission and its post-processing together, so it cannot resume to what a run
    from the start gives now (the source emits on, :class:`_AliceSource`)."""
    raise DqsimError("this checkpoint of a QKD link was written by an older dqsim, whose source waited for each key "
                     "block's post-processing before it emitted the next block; it cannot be continued with the "
                     "source emitting on: run the job again from the start (remove its checkpoints)")


def refuse_unqueued_channel_checkpoint(state: dict) -> None:
    """Refuse, in one line, the state of a QKD process checkpointed before its link's classical channel queued
    the messages of the key blocks in post-processing at once (no ``channel`` in ``state``; before 2026-12-07):
    its messages in flight kept their own delays (:mod:`~dqsim.protocols.qkd.classical_channel`), so it cannot
    resume to what a run from the start gives now. One whose channel carried the error-correction messages only
    (:data:`~dqsim.protocols.qkd.classical_channel.ERROR_CORRECTION_ONLY`) is refused too
    (:func:`refuse_untimed_messages_checkpoint`), and one whose reports were sized before 2026-12-07 (morning)
    (:data:`~dqsim.protocols.qkd.classical_channel.REPORTS_UNSIZED`, :func:`refuse_unsized_reports_checkpoint`)."""
    if "channel" not in state:
        raise DqsimError("this checkpoint of a QKD link was written by an older dqsim, whose classical channel did "
                         "not queue the messages of the key blocks in post-processing at once (each had the whole "
                         "bit rate); run the job again from the start (remove its checkpoints)")
    if state["channel"].messages == ERROR_CORRECTION_ONLY:
        refuse_untimed_messages_checkpoint()
    if state["channel"].messages != EVERY_MESSAGE:
        refuse_unsized_reports_checkpoint()


def refuse_unsized_reports_checkpoint() -> None:
    """Refuse, in one line, a QKD process or tally checkpointed before 2026-12-07 (morning): BBM92/E91's Alice drew
    both sides of each pair and Bob's reports took their tags' bits only, and every report's click places took the
    shorter of a bitmap and a list of indices (now the enumerative code where shorter, and BBM92/E91's Bob draws
    the pairs and his reports carry their outcomes): its processes and times cannot resume to what a run from the
    start gives now."""
    raise DqsimError("this checkpoint of a QKD link was written by an older dqsim, whose detection reports were "
                     "sized otherwise (BBM92/E91's without their own bits, the click places without the "
                     "enumerative code); run the job again from the start (remove its checkpoints)")


def refuse_untimed_messages_checkpoint() -> None:
    """Refuse, in one line, a QKD process or tally checkpointed on 2026-12-07 before the reports, sifting and
    estimation messages took channel time: its messages in flight and its times left them out of the queue, so
    it cannot resume to what a run from the start gives now."""
    raise DqsimError("this checkpoint of a QKD link was written by an older dqsim, whose classical channel did not "
                     "carry the detection reports, sifting and estimation messages (they took no channel time); "
                     "run the job again from the start (remove its checkpoints)")


class _AliceSide:
    """What Alice's block processes share: sending a block's sifting answer and key message and answering
    Cascade's rounds.

    ``self.result`` is the block's result (its ``secret_key_bits`` and
    ``postprocess``, the :class:`~dqsim.protocols.qkd.reconciliation.PostprocessResult`
    or ``None`` when the leakage was modelled), worked out when the block's last report is in: the messages'
    lengths, which the channel times, follow from it (:func:`~dqsim.protocols.qkd.authentication.
    run_block_messages`). ``self.tags`` are its messages' tag bits and ``self.ec_delays_ps`` its error-correction
    messages' transmission times (:func:`ec_message_delays_ps`, worked out once a block).
    """

    plan: QkdPlan
    phys: LinkPhysics
    #: Not kept by the engine once ended (one per key block; its results are in the link's tally).
    kept_after_end = False

    def _send_sifting(self, ctx, link_tag, block) -> None:
        """Send the sifting answer (its bits and tag, :func:`sifting_delays_ps`; it carries the transmission time
        of Bob's estimation message, which his process cannot work out: Alice's process draws the block's
        post-processing for both); next phase ``estimate``."""
        q = self.plan
        messages = authentication.run_block_messages(q, block, self.counts, self.result)
        self.tags = authentication.message_tags(messages, q.authentication, q.eps_auth)
        sifting_ps, estimation_ps = sifting_delays_ps(messages, q, self.tags)
        self.times["sift"] = ctx.now_ps
        self.channel.send(ctx, self.phys.bob, link_tag + ("sift-match", block), estimation_ps,
                          transmission_ps=sifting_ps)
        self.phase = "estimate"

    def _send_key(self, ctx, link_tag, block) -> None:
        """Send the key message (with the rounds, their message times and the acknowledgement's,
        :func:`ec_message_delays_ps`); next phase ``cascade`` or ``ack``.

        Cascade's messages that would end after :data:`CASCADE_END_MAX_PS` refuse the run
        (:func:`_check_cascade_end`).
        """
        done, q = self.result.postprocess, self.plan
        rounds = done.rounds if done is not None else 0
        tags = self.tags if done is not None else NO_TAGS  # the leakage model's: no error-correction message
        if rounds:
            _check_cascade_end(ctx, done, q, self.phys, block,
                               [row[-1].postprocess for row in self.tally.blocks], tags)
        self.ec_delays_ps = ec_message_delays_ps(done, q, tags)
        key_ps, request_ps, _answer_ps, _last_ps, ack_ps = self.ec_delays_ps
        self.channel.send(ctx, self.phys.bob, link_tag + ("ec-pa", block),
                          (self.result.secret_key_bits, rounds, request_ps, ack_ps), transmission_ps=key_ps)
        self.ec_round = 0
        self.phase = "cascade" if rounds else "ack"

    def _answer_cascade(self, ctx, link_tag, block) -> None:
        """Answer one of Bob's Cascade parity messages or blind LDPC requests (received); ``ack`` after the last
        round."""
        last = self.ec_round + 1 == self.result.postprocess.rounds
        self.channel.send(ctx, self.phys.bob, link_tag + ("cascade-reply", block),
                          transmission_ps=self.ec_delays_ps[3 if last else 2])
        self.ec_round += 1
        if self.ec_round == self.result.postprocess.rounds:
            self.phase = "ack"

    def _block_done(self, ctx, link_tag, block) -> None:
        """The key acknowledgement is in: tell the source (a message to this node, no delay) that the block has
        left post-processing; the process ends."""
        self.tally.done_ps = max(self.tally.done_ps, ctx.now_ps)
        ctx.send(self.phys.alice, link_tag + ("block-done",), block)
        self.phase = "done"


class _AliceSource:
    """The source of a link, emitting key block after key block while earlier blocks are post-processed.

    The source emits the link's pulses (pair slots) back to back at the source rate; at the end of a block's
    last batch it hands the block (its counts, key bits and the reports still to come) to a process of its
    own (:attr:`block_process`: sifting, estimation, error correction, verification, privacy amplification,
    acknowledgement, each over the classical channel as before, :func:`message_delay_ps`) and emits the next
    block at once. Messages of different blocks are tagged with their block and interleave in arrival order;
    the error-correction messages of all of them queue on the link's classical channel, one FIFO queue per
    direction (:mod:`~dqsim.protocols.qkd.classical_channel`; until 2026-12-07 each kept its own delay, as if
    it had the channel to itself), Alice's kept by the source and shared with her block processes. A block's key
    exists when its acknowledgement reaches Alice; the link ends at the later of the last emission's end and
    the last block's key.

    The one limit: at most ``plan.max_blocks_in_postprocessing`` blocks (``[qkd].max_blocks_in_postprocessing``,
    default :data:`MAX_BLOCKS_IN_POSTPROCESSING`) are in post-processing at once, from the end of their
    emission to their acknowledgement. When a block's emission ends with that many open, the source waits
    until one is acknowledged (a ``qkd-source-wait`` entry in the timeline when it starts again, with how long it
    waited; the wait before each block is its ``source_wait_ps``). This models a post-processing engine with a finite store of
    blocks awaiting or in reconciliation: a deployed system post-processes while it transmits (e.g. Yuan et
    al., "10 Mb/s quantum key distribution", J. Lightwave Technol. 36, 3427 (2018), arXiv:1807.04484: sifting,
    error correction and privacy amplification modules run alongside the photonic layer, which delivers keys
    continuously for days), and when its store is full it must stop the source or drop detections; dqsim stops
    the source. The bound is a modelling choice, not a figure from that paper. It also bounds the run's memory:
    a block holds its key bits until its last report is in (then only its result), so at most the bound's
    worth of blocks hold key bits at once, and about 1 + H/T when fewer are open (:func:`blocks_holding_key_bits`).
    Until 2026-12-06 the source waited for every block's
    post-processing (``simulated_time_ps`` was the emission plus every block's post-processing).

    Subclasses keep ``self.batch`` (next batch), ``self.times`` (the current block's ``start``),
    ``self.open_blocks`` and ``self.wait_from_ps`` (``None``: not waiting).
    """

    #: The class of the block processes (the scenario's, a :class:`~dqsim.engine.process.ResumableProcess`).
    block_process = None

    def _hand_over(self, ctx, block_process) -> None:
        """Start the post-processing of the block just emitted, then go on (:meth:`_next_block`)."""
        ctx.spawn(block_process)
        self.open_blocks += 1

    def _next_block(self, ctx, done_tag, batches) -> None:
        """After a block's last batch or a block's acknowledgement: emit the next block, wait for a block to
        leave post-processing (``slot``), wait for the last ones (``drain``), or end (``done``)."""
        self.open_blocks -= len(ctx.take_arrived(done_tag))
        bound = self.plan.max_blocks_in_postprocessing
        if self.batch == len(batches):
            self.phase = "drain" if self.open_blocks else "done"
        elif self.open_blocks >= bound:
            if self.wait_from_ps is None:
                self.wait_from_ps = ctx.now_ps
            self.phase = "slot"
        else:
            waited = 0 if self.wait_from_ps is None else ctx.now_ps - self.wait_from_ps
            if waited:
                ctx.log("qkd-source-wait", f"link {self.phys.link_index}: the source waited {waited} ps, from "
                        f"{self.wait_from_ps} ps, with {bound} blocks in post-processing "
                        f"(max_blocks_in_postprocessing), before block {batches[self.batch][0]}")
            self.wait_from_ps = None
            self._start_block(ctx, batches[self.batch][0], waited)
            self.phase = "emit"

    def _start_block(self, ctx, block: int, waited_ps: int) -> None:
        """Block ``block``'s emission starts now, after the source waited ``waited_ps`` for it (its
        ``source_wait_ps``)."""
        self.times = {"start": ctx.now_ps}
        self.tally.waits_ps[block] = waited_ps

    def _end_link(self, ctx) -> None:
        """All blocks are acknowledged: the link ends now (``done_ps``), and its channel's last messages left
        Alice when her channel is free and Bob when his last acknowledgement left, a fibre delay before it came
        (Bob's last message: every earlier one of his is answered, in the end, by an acknowledgement after it,
        and his channel is first come first served) — ``channel_free_ps``."""
        self.tally.done_ps = max(self.tally.done_ps, ctx.now_ps)
        acks = [row[5] for row in self.tally.blocks]
        self.tally.channel_free_ps = (self.channel.free_ps, max(acks) - self.phys.delay_ps if acks else 0)

    def _between_blocks(self, ctx, done_tag):
        """The command of phases ``slot`` and ``drain``: the next block's acknowledgement (side-effect free)."""
        return ctx.receive(done_tag)


class _Bb84Folding:
    """Folding Bob's detection reports into a BB84 block's counts and (Cascade, LDPC) packed key bits."""

    def _fold_report(self, backend, payload, batches) -> None:
        """Fold Bob's report of one batch into the block's counts and (Cascade) packed key bits; the report and
        the batch's own arrays (``sampling = "pulses"``) are dropped after it."""
        q, source = self.plan, self.plan.source
        j, bob_arrays = payload
        host, alice = self.pending.pop(j)
        if isinstance(bob_arrays, (PackedDetectionBatch, DetectionBatch)):  # a DetectionBatch: a small batch's
            # report, or any before 2026-12-06; a packed one is read a piece at a time
            pieces = bob_arrays.pieces(PACK_PIECE_CLICKS) if isinstance(bob_arrays, PackedDetectionBatch) \
                else (bob_arrays,)
            for d in pieces:
                self.counts = self.counts + detection_counts(d, source.num_classes)
                if q.error_correction in KEYED_ERROR_CORRECTIONS:
                    for keep, bits in zip(self.keys, _key_bits(q.security == "finite_key", d.intensity_class,
                                                               d.alice_basis, d.bob_basis, d.alice_bit, d.bob_bit,
                                                               None)):
                        keep.append(bits)
            return
        start, size = batches[j][1], batches[j][2]
        for lo, alice_arrays, bob_piece in _pulse_pieces(host, bob_arrays, size, start, whole=alice is not None):
            # a segment at a time (the counts add up, the key bits append in order): not the batch's per-pulse
            # arrays (12 bytes a pulse until 2026-12-06)
            piece = _alice_from_host(backend.xp, start + lo, alice_arrays) if alice is None else alice
            bob = _bob_from_host(backend.xp, piece.start_pulse, bob_piece)
            self.counts = self.counts + block_counts(backend.xp, piece, bob, source.num_classes)
            if q.error_correction in KEYED_ERROR_CORRECTIONS:
                h = {name: backend.to_host(getattr(piece, name)) for name in ("intensity_class", "basis", "bit")}
                for keep, bits in zip(self.keys, _key_bits(q.security == "finite_key", h["intensity_class"],
                                                           h["basis"], bob_piece["basis"], h["bit"], bob_piece["bit"],
                                                           bob_piece["detected"])):
                    keep.append(bits)
            piece = bob = h = None


def _pending_state(state) -> dict:
    """A checkpoint's ``pending`` reports without the batches' device arrays."""
    return {i: (host, None) for i, (host, _batch) in state.items()}


class Bb84Alice(_AliceSource, _Bb84Folding):
    """The source and Alice's side of decoy-state BB84 on one link; her :class:`LinkTally` is ``self.tally``.

    Phases: ``emit`` (wait while the source emits batch ``self.batch``, fold
    the detection reports of the block that have come meanwhile, then send the
    batch; after a block's last batch its post-processing goes to a
    :class:`Bb84AliceBlock`, :class:`_AliceSource`), ``slot`` (the source
    waits for a block to leave post-processing), ``drain`` (all pulses sent:
    the last blocks' acknowledgements), ``done``.

    Each of Bob's detection reports is folded into what the block's
    post-processing needs as soon as Alice takes it (:meth:`_fold_report`):
    its counts per intensity class and outcome (:class:`BlockCounts`) and,
    with Cascade, its key bits, Alice's and Bob's, eight to a byte
    (:class:`~dqsim.protocols.qkd.packed_bits.PackedBits`). So a block holds
    the reports still in flight (sent within a round trip) and the packed key
    bits, not all of its reports (12 bytes per detection,
    :data:`~dqsim.protocols.qkd.detections.BYTES_PER_DETECTION`), as it did
    until 2026-12-06, when Alice read them only after the block's last batch.
    The order of the folds is the batches' order either way: the same counts
    and keys, bit for bit. The reports travel packed
    (:class:`~dqsim.protocols.qkd.detections.PackedDetectionBatch`,
    :func:`detections_in_flight`) and so do her pulses with ``sampling =
    "pulses"`` (:func:`pulses_in_flight`, which she keeps, not the batch's
    arrays, until the report); she unpacks each when she folds it, and takes
    the unpacked forms of checkpoints written before 2026-12-06 as they are.
    """

    def __init__(self, plan: QkdPlan, phys: LinkPhysics):
        self.plan, self.phys = plan, phys
        self.tally = LinkTally()
        self.phase = "emit"
        self.batch = 0                 # next batch to emit
        self.pending: dict = {}        # batch index -> (her packed pulses or None, None), until its report
        self.counts = None             # BlockCounts of the current block
        self.times: dict = {}          # the block's emission start (ps)
        self.keys = (PackedBits(), PackedBits())  # the block's key bits, Alice's and Bob's (cascade)
        self.open_blocks = 0           # blocks in post-processing (Bb84AliceBlock processes)
        self.wait_from_ps = None       # when the source began to wait for a block to leave post-processing
        self.channel = ClassicalChannel()  # Alice -> Bob, shared by her block processes

    def __getstate__(self):
        state = dict(self.__dict__)
        state["pending"] = _pending_state(self.pending)
        return state

    def __setstate__(self, state):
        """Restore from a checkpoint; one written before 2026-12-06 holds the block's key bits as lists of
        ``uint8`` arrays, packed here (:func:`packed_keys`): it resumes to the same keys. One whose blocks took
        the decoy bound of before the two-decoy bound (2026-12-06) is refused (:func:`refuse_old_decoy_bound`),
        and so is one whose source waited for every block's post-processing
        (:func:`refuse_waiting_source_checkpoint`)."""
        tally = state.get("tally")
        current = [(state.get("counts"), state.get("result"))] if state.get("phase") in ("cascade", "ack") else []
        refuse_old_decoy_bound(state["plan"].source,  # (the block's result, before it goes to the tally)
                               current + ([(row[6], row[7]) for row in tally.blocks] if tally else []))
        if "open_blocks" not in state:
            refuse_waiting_source_checkpoint()
        refuse_unqueued_channel_checkpoint(state)
        state["keys"] = packed_keys(state.get("keys"))
        self.__dict__.update(state)

    def run(self, ctx):
        backend, q, phys = ctx.backend, self.plan, self.phys
        source = self.plan.source
        link_tag = ("qkd", phys.link_index)
        done_tag = link_tag + ("block-done",)
        batches = list(self.plan.batches())
        if self.counts is None:
            self.counts = BlockCounts.zeros(source.num_classes)
            self._start_block(ctx, 0, 0)
        while self.phase != "done":
            if self.phase == "emit":
                block, start, size = batches[self.batch]
                yield ctx.wait(int(round(size * PS_PER_S / source.source_rate_hz)))
                for msg in ctx.take_arrived(link_tag + ("report", block)):  # the block's reports that came meanwhile
                    self._fold_report(backend, msg.payload, batches)
                if q.sampling == "detections":  # Bob draws the recorded pulses (detections.py)
                    host = batch = None
                else:  # her pulses travel packed, and she keeps that message till Bob's report (pulses_in_flight)
                    host = alice_pulses_message(backend, source, self.plan.seed, start, size, phys.alice)
                    batch = None
                ctx.send(phys.bob, link_tag + ("pulses",), (self.batch, start, size, host))
                self.pending[self.batch] = (host, batch)
                self.batch += 1
                if _last_of_block(batches, self.batch - 1):
                    self._hand_over(ctx, self.block_process(self.plan, phys, self.tally, block, self.counts,
                                                            self.keys, self.pending, {**self.times,
                                                                                      "pulses": ctx.now_ps},
                                                            channel=self.channel))
                    self.counts = BlockCounts.zeros(source.num_classes)
                    self.keys, self.pending = (PackedBits(), PackedBits()), {}
                    self._next_block(ctx, done_tag, batches)
            else:  # slot, drain: a block's acknowledgement
                yield self._between_blocks(ctx, done_tag)
                self.open_blocks -= 1
                self._next_block(ctx, done_tag, batches)
        self._end_link(ctx)


class Bb84AliceBlock(_AliceSide, _Bb84Folding):
    """Alice's post-processing of one BB84 key block, while the source emits on (:class:`_AliceSource`).

    Phases: ``reports`` (the block's remaining reports), ``estimate``
    (parameter estimation answer), ``cascade`` (Cascade's rounds), ``ack``
    (key acknowledged: the block's row goes to the link's tally), ``done``.
    """

    def __init__(self, plan: QkdPlan, phys: LinkPhysics, tally: LinkTally, block: int, counts, keys, pending: dict,
                 times: dict, *, channel: ClassicalChannel):
        self.plan, self.phys, self.tally, self.block = plan, phys, tally, block
        self.counts, self.keys, self.pending, self.times = counts, keys, pending, times
        self.channel = channel         # Alice -> Bob, shared with the link's other blocks
        self.phase = "reports"
        self.result = None             # the block's key estimate
        self.ec_round = 0              # Cascade rounds answered

    def __getstate__(self):
        state = dict(self.__dict__)
        state["pending"] = _pending_state(self.pending)
        return state

    def __setstate__(self, state):
        """Restore from a checkpoint (key bits as lists of ``uint8`` arrays packed, :func:`packed_keys`; a block
        of the decoy bound of before 2026-12-06 refused, :func:`refuse_old_decoy_bound`)."""
        if state.get("phase") in ("estimate", "cascade", "ack"):
            refuse_old_decoy_bound(state["plan"].source, [(state.get("counts"), state.get("result"))])
        refuse_unqueued_channel_checkpoint(state)
        state["keys"] = packed_keys(state.get("keys"))
        self.__dict__.update(state)

    def _postprocess(self, block: int) -> None:
        """The block's result (estimate, error correction, verification, privacy amplification) from its counts
        and key bits, which it drops (the same draws whenever it runs: the block's own generator)."""
        q, source = self.plan, self.plan.source
        finite = (q.eps_sec, q.eps_cor) if q.security == "finite_key" else None
        rng = Stream(q.seed, node=self.phys.alice, purpose=PURPOSE_POSTPROCESS).generator(block)
        if q.error_correction in KEYED_ERROR_CORRECTIONS:
            alice_key, bob_key = self.keys  # packed: Cascade takes them as they are, LDPC unpacks them
            self.keys = (PackedBits(), PackedBits())
            self.result, _done = postprocess_block(
                self.counts, source, alice_key, bob_key, rng=rng, f_ec=q.f_ec,
                qber_threshold=q.qber_threshold, finite_key=finite, eps_cor=q.eps_cor,
                sample_fraction=q.sample_fraction, reconcile=_reconciler(q))
        else:
            sample = None if finite else sample_qber(self.counts.sifted[0], self.counts.errors[0],
                                                     q.sample_fraction, rng)
            self.result = estimate_block(self.counts, source, f_ec=q.f_ec, qber_threshold=q.qber_threshold,
                                         finite_key=finite, sample=sample)

    def run(self, ctx):
        backend, q, phys, block = ctx.backend, self.plan, self.phys, self.block
        link_tag = ("qkd", phys.link_index)
        batches = list(self.plan.batches())
        while self.phase != "done":
            if self.phase == "reports":
                msg = yield ctx.receive(link_tag + ("report", block))
                self._fold_report(backend, msg.payload, batches)
                if not self.pending:
                    self._postprocess(block)
                    self._send_sifting(ctx, link_tag, block)
            elif self.phase == "estimate":
                yield ctx.receive(link_tag + ("estimate", block))
                self.times["estimate"] = ctx.now_ps
                self._send_key(ctx, link_tag, block)
            elif self.phase == "cascade":  # answer Bob's parity messages, one per Cascade round
                yield ctx.receive(link_tag + ("cascade", block))
                self._answer_cascade(ctx, link_tag, block)
            elif self.phase == "ack":
                yield ctx.receive(link_tag + ("key-ack", block))
                counts, result, t, tally = self.counts, self.result, self.times, self.tally
                tally.add_block((block, t["start"], t["pulses"], t["sift"], t["estimate"], ctx.now_ps, counts,
                                 result))
                tally.pulses += result.num_pulses_sent
                tally.key_bits += result.secret_key_bits
                tally.sifted += counts.sifted[0]
                tally.errors += counts.errors[0]
                tally.aborted_blocks += int(result.aborted)
                ctx.log("qkd-block", f"link {phys.link_index} block {block}: {result.secret_key_bits} key bits"
                        + (" (aborted)" if result.aborted else ""))
                self._block_done(ctx, link_tag, block)


#: Messages of fewer pulses (or clicks) than this travel as the arrays drawn: packing one costs some 0.04 ms of
#: CPU per batch (+11-16 % at ``batch_pulses = 1`` with the detection sampler, loaded dev VM, 2026-12-06) to save
#: at most a few hundred bytes.
PACK_MIN_ENTRIES = 64


def pulses_in_flight(alice_arrays: dict):
    """Alice's pulses of a batch as her message to Bob holds them (``sampling = "pulses"``), and as she keeps
    them until his report: basis, bit, class and photon number in bit planes (about a byte a pulse for three
    classes and weak pulses, against 7 as arrays until 2026-12-06); :meth:`PackedFields.unpacked` gives them
    back exactly. A batch of fewer than :data:`PACK_MIN_ENTRIES` pulses stays a dict of arrays."""
    if len(alice_arrays["bit"]) < PACK_MIN_ENTRIES:
        return alice_arrays
    return PackedFields(alice_arrays)


#: The fields of Bob's report of a batch with ``sampling = "pulses"`` (:func:`detections_in_flight`).
REPORT_FIELDS = ("detected", "basis", "bit", "double_click", "eve_knows")


def _pulses_piece(arrays, lo: int, hi: int) -> dict:
    """Pulses ``lo ... hi - 1`` of Alice's message (:func:`pulses_in_flight`: arrays, or
    :class:`~dqsim.protocols.qkd.packed_bits.PackedFields` unpacked from the byte that holds pulse ``lo``)."""
    if not isinstance(arrays, PackedFields):
        return {name: array[lo:hi] for name, array in arrays.items()}
    first = lo - lo % 8
    return {name: array[lo - first:] for name, array in arrays.unpacked(first, hi).items()}


#: The fields of Alice's pulses in her message (``sampling = "pulses"``, :func:`pulses_in_flight`).
PULSE_FIELDS = ("basis", "bit", "intensity_class", "photons")


def alice_pulses_message(backend, source, seed: int, start: int, size: int, node: int):
    """Alice's pulses ``start ... start + size - 1`` as her message (:func:`pulses_in_flight`), drawn
    (:func:`~dqsim.protocols.qkd.bb84.alice_batch`) and packed a segment at a time
    (:class:`~dqsim.protocols.qkd.packed_bits.GrowingPlanes`): the message of the whole batch drawn at once,
    byte for byte, without its per-pulse arrays (7 bytes a pulse until 2026-12-06)."""
    if size < PACK_MIN_ENTRIES:
        batch = alice_batch(backend.xp, source, seed, start, size, node=node)
        return pulses_in_flight({name: backend.to_host(getattr(batch, name)) for name in PULSE_FIELDS})
    planes = GrowingPlanes()
    for lo, hi in segments(start, size):
        batch = alice_batch(backend.xp, source, seed, start + lo, hi - lo, node=node, batch_pulses=size)
        planes.append({name: backend.to_host(getattr(batch, name)) for name in PULSE_FIELDS})
        batch = None
    return planes.fields()


def pulses_report(backend, arrays, start: int, size: int, receiver, receiver_args: dict):
    """Bob's report (:func:`detections_in_flight`) of Alice's pulses ``start ... start + size - 1``
    (``sampling = "pulses"``; ``arrays`` her message, :func:`pulses_in_flight`) and his receiver state after them.

    Her pulses are unpacked and his drawn (:func:`~dqsim.protocols.qkd.bb84.bob_detect` with ``receiver_args``,
    the receiver state carried on) a segment (:func:`~dqsim.protocols.qkd.bb84.segments`) at a time, and his
    detections packed as they come (:class:`~dqsim.protocols.qkd.packed_bits.GrowingPlanes`): the report of
    ``bob_detect`` on the whole batch, byte for byte, without the batch's per-pulse arrays (12 bytes a pulse, 17
    at the batch's peak, until 2026-12-06)."""
    kept = GrowingPlanes()
    index = []
    for lo, hi in (segments(start, size) if size >= PACK_MIN_ENTRIES else [(0, size)]):
        alice = _alice_from_host(backend.xp, start + lo, _pulses_piece(arrays, lo, hi))
        bob, receiver = bob_detect(backend.xp, alice, receiver_state=receiver, batch_pulses=size, **receiver_args)
        pulses = {name: backend.to_host(getattr(bob, name)) for name in REPORT_FIELDS}
        alice = bob = None
        if size < PACK_MIN_ENTRIES:  # one piece: the report is the arrays
            return detections_in_flight(pulses), receiver
        where = np.flatnonzero(pulses["detected"])
        index.append((where + lo).astype(index_dtype(size)))
        kept.append({name: pulses[name][where] for name in REPORT_FIELDS})
        pulses = where = None
    return kept.fields(size=size, index=np.concatenate(index)), receiver


def _pulse_pieces(host, report, size: int, start: int, *, whole: bool = False):
    """``(lo, alice_arrays, bob_arrays)`` of a batch's pulses ``lo ...`` (``sampling = "pulses"``): Alice's kept
    message (:func:`pulses_in_flight`) and Bob's report (:func:`detections_in_flight`) unpacked a segment
    (:func:`~dqsim.protocols.qkd.bb84.segments`) at a time where both are packed, else (or with ``whole``) the
    whole batch in one piece."""
    if whole or not (isinstance(host, PackedFields) and isinstance(report, PackedFields)
                     and report.index is not None):
        whole = host.unpacked() if isinstance(host, PackedFields) else host
        yield 0, whole, report.unpacked() if isinstance(report, PackedFields) else report
        return
    index, kept = report.unpacked_kept()
    for lo, hi in segments(start, size):
        first, last = np.searchsorted(index, [lo, hi])
        places = index[first:last].astype(np.int64) - lo
        bob = {}
        for name, values in kept.items():
            bob[name] = np.zeros(hi - lo, dtype=values.dtype)
            bob[name][places] = values[first:last]
        yield lo, _pulses_piece(host, lo, hi), bob


def detections_in_flight(bob_arrays: dict):
    """Bob's report of a batch as it travels (``sampling = "pulses"``): the pulses he detected (their indices in
    the narrowest unsigned type) and their basis, bit, double click and Eve's knowledge, a bit each (5 bytes a
    pulse as arrays until 2026-12-06). Unpacked, the other pulses read 0: Alice's counts and key bits take
    only detected pulses (:func:`~dqsim.protocols.qkd.postprocess.sift`), so they are the same. A batch of
    fewer than :data:`PACK_MIN_ENTRIES` pulses stays a dict of arrays."""
    if len(bob_arrays["detected"]) < PACK_MIN_ENTRIES:
        return bob_arrays
    return PackedFields(bob_arrays, where=bob_arrays["detected"])


#: Bytes Alice holds per key bit of a key block until its end (``error_correction = "cascade"``): her bit and
#: Bob's, eight to a byte (:class:`~dqsim.protocols.qkd.packed_bits.PackedBits`; 2 bytes until 2026-12-06).
KEY_BYTES_PER_KEY_BIT = 2 / 8

#: Bytes per key bit that a key block's end adds to what a run holds, with Cascade
#: (``error_correction = "cascade"``), beside :data:`CASCADE_END_FIXED_BYTES`: the keys taken packed
#: (:class:`~dqsim.protocols.qkd.packed_bits.PackedKeyPair`, Alice's bits and Bob's wrong positions) through
#: :func:`~dqsim.protocols.qkd.postprocess.postprocess_block` (the QBER sample, Cascade, the verification hash,
#: privacy amplification); its peak is while a Cascade shuffle is followed
#: (:func:`~dqsim.backend.qkd_kernels.shuffled_places`: a bit a key bit, a byte until 2026-12-06) with the
#: arrays that grow with the wrong bits (some 70 bytes each). Measured (tracemalloc's peak in
#: ``postprocess_block`` above what the run held before it, the kernels loaded by a run before, BB84, QBER 1 %,
#: dev VM, 2026-12-06, ``bench/results/qkd-blockend-vm-20261206.md``): 1.18 bytes a key bit at 2.64e6 key bits
#: (0 km), 1.27 at 3.1e5 (50 km), 1.37 at 2.6e5 (0 km, 2e6 pulses): 1.16 a key bit and 0.05 MB. With the
#: shuffle's byte a place: 1.82, 2.06, 2.16 (1.78 a key bit and 0.1 MB); until 2026-12-06 Cascade took the
#: keys unpacked: 12.8-15.2 bytes a key bit.
#: ``dqsim check`` gives it (``tests/test_qkd_pending_memory.py``).
CASCADE_END_BYTES_PER_KEY_BIT = 1.2

#: Bytes a key block's end adds with Cascade whatever its key's length (the shuffle's draws, a few arrays of
#: the sample and of Cascade; measured with :data:`CASCADE_END_BYTES_PER_KEY_BIT`).
CASCADE_END_FIXED_BYTES = 0.05e6


def max_reports_held(round_trip_ps: int, batch_ps: int, batches_per_block: int) -> int:
    """Most detection reports of one link that exist, not yet folded by :class:`Bb84Alice`, at any moment.

    Bob draws batch ``j``'s report when the batch reaches him and it reaches
    Alice a round trip ``R`` after she sent the batch; she sends one every
    ``T`` (the batch's emission time) and folds, before each send, every
    report that has come. So report ``j`` is folded at the send ``⌈R/T⌉``
    batches later, or at the next one where it comes at the same instant as
    that send, and at most ``⌈R/T⌉ + 1`` reports are held; never more than
    the block's batches (at the block's end the remaining ones are folded
    as they come).

    Args:
        round_trip_ps: Alice to Bob and back, ps, >= 0.
        batch_ps: emission time of one batch, ps, > 0.
        batches_per_block: batches of a key block, >= 1.

    Returns:
        The bound, in [1, ``batches_per_block``].

    Examples:
        >>> max_reports_held(500_000_000, 1_000_000_000, 10), max_reports_held(500_000_000, 200_000_000, 10)
        (2, 4)
    """
    return max(1, min(batches_per_block, -(-round_trip_ps // batch_ps) + 1))


def blocks_holding_key_bits(hold_ps: int, batch_ps: int, batches_per_block: int, bound: int,
                            num_blocks: int) -> float:
    """Most key blocks' worth of key bits one link holds at once (Cascade, LDPC), the source emitting on.

    A batch's key bits come into being when Alice folds it (BB84: Bob's report, a round trip 2d after she sent
    the batch) or Bob's process draws it (BBM92/E91: when its photons reach him; they travel in his report) and
    the block's stay until its last report is in (its result is worked out then, :class:`_AliceSide`), H
    (``hold_ps``) after its last batch's bits (BB84: 0, the last report brings them; BBM92/E91: the last report's
    crossing, and where the reports queue their wait; until 2026-12-07 (morning), when Alice drew them as the
    source ended each batch, :func:`entangled_sifting_ps`; until the evening before, 2d more, until the estimate
    message); then only its result is kept. With blocks
    of n batches of τ each (``batches_per_block``, ``batch_ps``), T = nτ apart, j batches into a block its
    j/n are held, and of the earlier blocks those whose last bits came less than H before: ``⌈(H - jτ)/T⌉``.
    The most, over j, is ``A + 1 + (⌈ρ/τ⌉ - 1)/n`` for H = AT + ρ, 0 < ρ < T (``A + (n - 1)/n`` for ρ = 0):
    about ``1 + H/T`` for many batches a block. The source starts a block only with fewer than ``bound``
    (``max_blocks_in_postprocessing``) blocks open (:class:`_AliceSource`), so never more than ``bound``
    blocks' worth; nor more than the run's ``num_blocks``; never less than one (the block Cascade or LDPC
    takes). Until 2026-12-06 the source waited for every block: one block's key bits.

    Examples:
        >>> blocks_holding_key_bits(196, 50, 2, 16, 20), blocks_holding_key_bits(196, 50, 2, 2, 20)
        (2.5, 2.0)
    """
    n, tau = max(1, batches_per_block), max(1, batch_ps)
    whole, rest = divmod(max(0, hold_ps), n * tau)
    most = whole + 1 + (-(-rest // tau) - 1) / n if rest else whole + (n - 1) / n
    return float(max(1.0, min(most, bound, num_blocks)))


def packed_keys(keys) -> tuple[PackedBits, PackedBits]:
    """Alice's and Bob's key bits of the current block as :class:`PackedBits`.

    ``keys`` is what a checkpoint holds: ``PackedBits`` (since 2026-12-06),
    lists of ``uint8`` arrays (one per batch, the older checkpoints: packed
    here, the same bits in the same order) or ``None`` (a fresh pair).
    """
    if keys is None:
        return PackedBits(), PackedBits()
    return tuple(key if isinstance(key, PackedBits) else PackedBits(_joined(key)) for key in keys)


#: Purpose of the shared public randomness of post-processing (Cascade shuffles, hash seeds).
PURPOSE_POSTPROCESS = "qkd_postprocess"


def _key_bits(finite: bool, cls, alice_basis, bob_basis, alice_bit, bob_bit, detected):
    """Alice's and Bob's key bits: sifted signal bits, or sifted Z bits of all classes (finite key)."""
    if finite:
        return qkd_kernels.select_key_bits(alice_basis, BASIS_Z, alice_basis, bob_basis, alice_bit, bob_bit, detected)
    return qkd_kernels.select_key_bits(cls, 0, alice_basis, bob_basis, alice_bit, bob_bit, detected)


def _joined(parts) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)


def _reconciler(q: QkdPlan):
    """The ``reconcile`` argument of the post-processing: ``None`` (Cascade, parallel order), Cascade's
    :class:`~dqsim.protocols.qkd.reconciliation.CascadeSettings` in another order, or LDPC's
    (:mod:`~dqsim.protocols.qkd.ldpc`, codes from the run's seed, rate for the target efficiency ``f_ec``)."""
    if q.error_correction != "ldpc":
        return None if q.cascade_order == "parallel" else reconciliation.CascadeSettings(order=q.cascade_order)
    return ldpc.reconciler(q.seed, q.f_ec, sample_fraction=q.sample_fraction, mode=q.ldpc_mode)


def message_delay_ps(bits: float, classical_bit_rate_hz: float) -> int:
    """Transmission time of a classical message of ``bits`` bits at ``classical_bit_rate_hz`` (bit/s), ps,
    rounded up (the link's fibre delay comes on top).

    Examples:
        >>> message_delay_ps(9256, 1e9), message_delay_ps(0, 1e9)
        (9256000, 0)
    """
    return int(math.ceil(bits * PS_PER_S / classical_bit_rate_hz))


def sifting_delays_ps(messages, q, tags: MessageTags = NO_TAGS) -> tuple[int, int]:
    """Transmission times of a block's sifting answer (Alice's) and parameter-estimation message (Bob's) at
    ``[qkd].classical_bit_rate_hz``, ps (:func:`message_delay_ps` of their bits,
    :class:`~dqsim.protocols.qkd.authentication.BlockMessages`, and tags; the fibre delay, and any wait for the
    channel, come on top; untimed until 2026-12-07, evening).

    Examples:
        >>> from dqsim.protocols.qkd.authentication import BlockMessages
        >>> m = BlockMessages(report_bits=(), sifting_bits=4_000, estimation_bits=1_500, key_message_bits=0)
        >>> sifting_delays_ps(m, QkdPlan(protocol="bb84_decoy", seed=0, pulses=1, block_pulses=1, batch_pulses=1,
        ...                                 source=None, classical_bit_rate_hz=1e9), MessageTags(sifting=40))
        (4040000, 1500000)
    """
    rate = q.classical_bit_rate_hz
    return (message_delay_ps(messages.sifting_bits + tags.sifting, rate),
            message_delay_ps(messages.estimation_bits + tags.estimation, rate))


def report_delay_ps(q, num_pulses: int, num_clicks: int) -> int:
    """Transmission time of Bob's detection report of a batch of ``num_pulses`` pulses (pair slots) with
    ``num_clicks`` clicks at ``[qkd].classical_bit_rate_hz``, ps: its bits
    (:func:`~dqsim.protocols.qkd.authentication.report_message_bits`, with his :func:`report_settings`) and its
    tag's (:func:`~dqsim.protocols.qkd.authentication.report_tag_bits`). Until 2026-12-07 (morning) BBM92/E91's
    took its tag's bits only, and the clicks' places were the shorter of a bitmap and a list of indices.

    Examples:
        >>> q = QkdPlan(protocol="bb84_decoy", seed=0, pulses=1, block_pulses=1, batch_pulses=1, source=None,
        ...             classical_bit_rate_hz=1e9)
        >>> report_delay_ps(q, 1_000_000, 5_000)  # 5,000 basis bits and 45,408 for the places (enumerative)
        50408000
    """
    return message_delay_ps(report_bits(q, num_pulses, num_clicks), q.classical_bit_rate_hz)


def report_bits(q, num_pulses: int, num_clicks: int) -> int:
    """Bits of Bob's detection report of a batch of ``num_pulses`` pulses (pair slots) with ``num_clicks`` clicks:
    the message (:func:`~dqsim.protocols.qkd.authentication.report_message_bits`, with his
    :func:`report_settings`) and its tag (:func:`~dqsim.protocols.qkd.authentication.report_tag_bits`); what
    :func:`report_delay_ps` sends and :func:`report_bits_per_pulse` counts.

    Examples:
        >>> q = QkdPlan(protocol="bb84_decoy", seed=0, pulses=1, block_pulses=1, batch_pulses=1, source=None)
        >>> report_bits(q, 1_000_000, 5_000)  # 5,000 basis bits and 45,408 for the places (enumerative), no tag
        50408
    """
    return (authentication.report_message_bits(num_pulses, num_clicks, report_settings(q.protocol))
            + authentication.report_tag_bits(num_pulses, q.authentication, q.eps_auth))


def ec_message_delays_ps(done, q, tags: MessageTags = NO_TAGS) -> tuple[int, int, int, int, int]:
    """Transmission times of a block's error-correction messages at ``[qkd].classical_bit_rate_hz``, ps
    (:func:`message_delay_ps`; the fibre delay, and any wait for the channel,
    :mod:`~dqsim.protocols.qkd.classical_channel`, come on top of each): ``(key message, each round's first
    message (Bob's), each round's answer (Alice's), the last round's answer, Bob's acknowledgement)``. Each of
    the block's ``message_bits`` is charged once, and each message's authentication tag (``tags``,
    :func:`~dqsim.protocols.qkd.authentication.message_tags`) travels with it (since 2026-12-07).

    Cascade (no LDPC frames): the key message and the acknowledgement carry none of them; every round's
    parity message and its answer carry an equal share, ``message_bits / 2R``.
    LDPC: the key message carries the syndromes, the frames' hashes, the verification hash and the seeds;
    blind, each of the R round trips carries the request flags (Bob's message) and the revealed values
    (Alice's answer), ``request_bits / R`` and ``revealed_bits / R`` (the frames' requests travel together;
    an even share a round); Bob's acknowledgement carries a flag a frame (decoded or dropped). Until
    2026-12-07 the key message carried all of LDPC's bits and the rounds their share again (blind rounds
    charged twice, about 20 µs of 490 µs a round trip at 50 km and 1 Gbit/s), and the flags rode on the key
    message. ``done`` ``None`` (leakage modelled): no message time.
    """
    if done is None:
        return 0, 0, 0, 0, 0
    rate = q.classical_bit_rate_hz
    if not done.frames:
        share = done.message_bits / max(1, 2 * done.rounds)
        key_bits, request, answer, ack = 0, share, share, 0
    else:
        rounds = max(1, done.rounds)
        request, answer, ack = done.request_bits / rounds, done.revealed_bits / rounds, done.frames
        key_bits = done.message_bits - done.request_bits - done.revealed_bits - done.frames
    return (message_delay_ps(key_bits + tags.key, rate), message_delay_ps(request + tags.request, rate),
            message_delay_ps(answer + tags.answer, rate),
            message_delay_ps(answer + tags.answer + tags.last_answer, rate), message_delay_ps(ack + tags.ack, rate))


def _check_cascade_end(ctx, done, q, phys: LinkPhysics, block: int, earlier: list,
                       tags: MessageTags = NO_TAGS) -> None:
    """Refuse the run, in one line, when this block's Cascade (or blind LDPC) messages would end after
    :data:`CASCADE_END_MAX_PS`.

    From the key message sent now (``ctx.now_ps``): it crosses the fibre (delay d, and its message time k),
    each of the R rounds is a message and its answer (each d, and their message times r_1 and r_2 of
    :func:`ec_message_delays_ps`), and the acknowledgement crosses back (d and its a): the block ends at
    ``now + 2d + 2Rd + k + R(r_1 + r_2) + a`` (``now + 2d + 2R(d + r)`` with Cascade).

    The refusal is the engine's (:meth:`~dqsim.engine.simulator.NodeContext.check_clock`): the run stops at
    the next exchange on every rank alike, before the messages are sent. The engine would refuse the first
    of them past the limit anyway; this check comes first so that its line can name the rate that would fit:
    the lowest at which the whole run's Cascade bits
    would fit: those of the ``earlier`` blocks (the link's
    :class:`~dqsim.protocols.qkd.reconciliation.PostprocessResult` of each,
    ``None`` without Cascade rounds), this one's, and as many again for each
    later block (an estimate: their keys are not drawn yet), sent in what is
    left of :data:`CASCADE_END_MAX_PS` besides the time that does not depend
    on the rate.

    Its line names ``[qkd].classical_bit_rate_hz``, its value, the link and block, and that rate (or that
    none would do, the rest of the run alone passing the limit).
    """
    now_ps = ctx.now_ps
    crossings_ps = 2 * phys.delay_ps * (1 + done.rounds)
    end_ps = now_ps + crossings_ps + _messages_ps(done, q, tags)
    if end_ps <= CASCADE_END_MAX_PS:
        return
    earlier = [each for each in earlier if each is not None and each.rounds]
    sent_ps = sum(_messages_ps(each, q) for each in earlier)  # rate-bound time so far
    later = -(-q.pulses // q.block_pulses) - block - 1
    bits = sum(each.message_bits for each in earlier) + done.message_bits * (1 + later)
    left_ps = CASCADE_END_MAX_PS - (now_ps - sent_ps) - crossings_ps
    need = (f"raise it to at least {bits * PS_PER_S / left_ps:.3g} Hz"
            + (f" (if the {later} later block(s) send as many bits as this one)" if later else "")
            + " or lower [qkd].pulses") if left_ps > 0 else \
        "no rate would do (the run's other simulated time alone passes it): lower [qkd].pulses"
    ctx.check_clock(end_ps, f"[qkd].classical_bit_rate_hz = {q.classical_bit_rate_hz:g}: Cascade's "
                            f"{done.message_bits:,} classical bits of link {phys.link_index} block {block} "
                            f"({done.rounds} rounds) would end at", need)


def _messages_ps(done, q, tags: MessageTags = NO_TAGS) -> int:
    """Transmission time of all of a block's error-correction messages, ps (:func:`ec_message_delays_ps`)."""
    key_ps, request_ps, answer_ps, last_ps, ack_ps = ec_message_delays_ps(done, q, tags)
    rounds = done.rounds
    return key_ps + rounds * (request_ps + answer_ps) + (last_ps - answer_ps if rounds else 0) + ack_ps


def _alice_from_host(xp, start_pulse: int, arrays: dict) -> AliceBatch:
    return AliceBatch(start_pulse, *(xp.asarray(arrays[name]) for name in ("basis", "bit", "intensity_class",
                                                                            "photons")))


def _bob_from_host(xp, start_pulse: int, arrays: dict) -> BobBatch:
    return BobBatch(start_pulse, *(xp.asarray(arrays[name]) for name in
                                   ("detected", "basis", "bit", "double_click", "eve_knows")))


class _BobSide:
    """Bob's side of a link: ``detect`` each batch; after a block's last batch its classical post-processing
    goes to a process of its own (:attr:`block_process`, a :class:`_BobBlock`) and he detects on.

    Subclasses implement :meth:`detect`.
    """

    #: The class of the block processes (the scenario's, a :class:`~dqsim.engine.process.ResumableProcess`).
    block_process = None

    def __init__(self, plan: QkdPlan, phys: LinkPhysics):
        self.plan, self.phys = plan, phys
        self.phase = "detect"
        self.batch = 0
        self.blocks_handed = 0   # blocks whose post-processing was handed to a _BobBlock (since 2026-12-06)
        self.channel = ClassicalChannel()  # Bob -> Alice, shared by his block processes

    def __setstate__(self, state):
        """Restore from a checkpoint; one of the source that waited for every block's post-processing (before
        2026-12-06) is refused (:func:`refuse_waiting_source_checkpoint`), and one without the queued classical
        channel (:func:`refuse_unqueued_channel_checkpoint`)."""
        if "blocks_handed" not in state:
            refuse_waiting_source_checkpoint()
        refuse_unqueued_channel_checkpoint(state)
        self.__dict__.update(state)

    def detect(self, ctx, msg, block: int, start: int, size: int) -> None:
        """Detect batch ``self.batch`` (pulses ``start ... start + size - 1``, of key block ``block``) and send its
        report."""
        raise NotImplementedError

    def receive_tag(self, link_tag):
        raise NotImplementedError

    def next_batch(self, ctx, link_tag, batches):
        """The command the ``detect`` phase waits on for the next batch (side-effect free): its message."""
        return ctx.receive(self.receive_tag(link_tag))

    def arrived(self, ctx, link_tag, msg) -> bool:
        """After :meth:`next_batch`'s command: whether the batch is here (a hook: always, here)."""
        return True

    def run(self, ctx):
        phys = self.phys
        link_tag = ("qkd", phys.link_index)
        batches = list(self.plan.batches())
        while self.batch < len(batches):
            msg = yield self.next_batch(ctx, link_tag, batches)
            if not self.arrived(ctx, link_tag, msg):
                continue
            self.detect(ctx, msg, *batches[self.batch])
            self.batch += 1
            if _last_of_block(batches, self.batch - 1):
                ctx.spawn(self.block_process(self.plan, phys, batches[self.batch - 1][0], self.channel))
                self.blocks_handed += 1


class _BobBlock:
    """Bob's classical post-processing of one key block, while he detects the later blocks.

    Phases: ``sift-match`` (answer with the estimate message), ``ec-pa`` (the
    key message: acknowledge it, or start Cascade's rounds), ``cascade`` (one
    parity message per round, each answered by Alice), ``done``.
    """

    #: Not kept by the engine once ended (one per key block).
    kept_after_end = False
    #: The acknowledgement's message time, ps (LDPC's frame flags; a checkpoint before 2026-12-07 has none).
    ack_delay_ps = 0

    def __init__(self, plan: QkdPlan, phys: LinkPhysics, block: int, channel: ClassicalChannel):
        self.plan, self.phys, self.block = plan, phys, block
        self.phase = "sift-match"
        self.ec_rounds = self.ec_round = self.ec_delay_ps = 0   # Cascade rounds of the block, each's message time
        self.ack_delay_ps = 0   # the acknowledgement's message time (LDPC's frame flags)
        self.channel = channel  # Bob -> Alice, shared with the link's other blocks

    def __setstate__(self, state):
        """Restore from a checkpoint (one without the queued classical channel refused,
        :func:`refuse_unqueued_channel_checkpoint`)."""
        refuse_unqueued_channel_checkpoint(state)
        self.__dict__.update(state)

    def acknowledged(self, ctx, link_tag, arrival_ps: int) -> None:
        """After the key acknowledgement, which reaches Alice at ``arrival_ps`` (a hook; nothing here)."""

    def run(self, ctx):
        phys, block = self.phys, self.block
        link_tag = ("qkd", phys.link_index)
        while self.phase != "done":
            if self.phase == "sift-match":  # Alice's answer carries his estimation message's time (_send_sifting)
                msg = yield ctx.receive(link_tag + ("sift-match", block))
                self.channel.send(ctx, phys.alice, link_tag + ("estimate", block), transmission_ps=msg.payload)
                self.phase = "ec-pa"
            elif self.phase == "ec-pa":
                msg = yield ctx.receive(link_tag + ("ec-pa", block))
                _key, self.ec_rounds, self.ec_delay_ps, *ack = msg.payload  # (3 items before 2026-12-07)
                self.ack_delay_ps = ack[0] if ack else 0
                self.ec_round = 0
                self._parity_or_ack(ctx, link_tag, block)
            elif self.phase == "cascade":  # the answer to this round's parity message
                yield ctx.receive(link_tag + ("cascade-reply", block))
                self.ec_round += 1
                self._parity_or_ack(ctx, link_tag, block)

    def _parity_or_ack(self, ctx, link_tag, block) -> None:
        """Send the next Cascade round's parity message (phase ``cascade``), or acknowledge the key (``done``).

        Sent after the phase's ``yield``, so a run resumed at that ``yield`` does not send it again.
        """
        if self.ec_round < self.ec_rounds:
            self.channel.send(ctx, self.phys.alice, link_tag + ("cascade", block), transmission_ps=self.ec_delay_ps)
            self.phase = "cascade"
        else:
            self.acknowledged(ctx, link_tag, self.channel.send(ctx, self.phys.alice, link_tag + ("key-ack", block),
                                                               transmission_ps=self.ack_delay_ps))
            self.phase = "done"


class Bb84Bob(_BobSide):
    """Bob's side of decoy-state BB84 on one link (his receiver state carries over between batches)."""

    def __init__(self, plan: QkdPlan, phys: LinkPhysics):
        super().__init__(plan, phys)
        self.receiver = None

    def receive_tag(self, link_tag):
        return link_tag + ("pulses",)

    def detect(self, ctx, msg, block: int, start: int, size: int) -> None:
        backend, phys = ctx.backend, self.phys
        j, _start, _size, arrays = msg.payload
        report_tag = ("qkd", phys.link_index, "report", block)
        if arrays is None:  # sampling at the cost of detections: the report is the DetectionBatch
            report, self.receiver = detect_batch(
                self.plan.source, channel=phys.channel, detector=phys.detector, eve=phys.eve,
                seed=self.plan.seed, start_pulse=start, num_pulses=size,
                noise_probability=phys.noise_probability,
                z_basis_probability=self.plan.source.z_basis_probability, receiver_state=self.receiver,
                node=phys.bob, backend=backend, pack_from_clicks=PACK_MIN_ENTRIES)
        else:
            report, self.receiver = pulses_report(backend, arrays, start, size, self.receiver, dict(
                transmittance=phys.channel, detector=phys.detector, eve=phys.eve, seed=self.plan.seed,
                noise_probability=phys.noise_probability,
                z_basis_probability=self.plan.source.z_basis_probability, node=phys.bob))
        self.channel.send(ctx, phys.alice, report_tag, (j, report),
                          transmission_ps=report_delay_ps(self.plan, size, report_clicks(report)))


def report_clicks(report) -> int:
    """Clicks in Bob's report of a batch (:func:`~dqsim.protocols.qkd.detections.detect_batch`'s, packed or not,
    or :func:`pulses_report`'s, packed with the detected pulses' index or a dict of arrays): the pulses he
    detected."""
    if isinstance(report, (PackedDetectionBatch, DetectionBatch)):
        return int(np.asarray(report.index).shape[0])
    if isinstance(report, PackedFields) and report.index is not None:
        return report.num_kept
    return int(np.count_nonzero(report["detected"]))


class Bb84BobBlock(_BobBlock):
    """Bob's post-processing of one BB84 key block (:class:`_BobBlock`)."""


# ------------------------------------------------------- entanglement-based processes
def emission_ps(pairs: int, rate_hz: float) -> int:
    """Time the source takes to emit ``pairs`` pulses or pair slots at ``rate_hz``, ps (rounded to 1 ps)."""
    return int(round(pairs * PS_PER_S / rate_hz))


def bob_flight_ps(phys: LinkPhysics, position: float) -> int:
    """Flight time of a BBM92/E91 photon from the pair source to Bob's detector, ps: his arm's length
    ``(1 - position)·L`` times ``n_g / c``, i.e. that share of the link's fibre delay ``phys.delay_ps``
    (L·n_g/c, :func:`dqsim.network.fibre.propagation_delay_ps`)."""
    return int(round((1.0 - position) * phys.delay_ps))


def entangled_sifting_ps(phys: LinkPhysics, position: float) -> int:
    """From the source's end of a block's last batch until Alice has Bob's report of it, ps: his photons'
    flight (:func:`bob_flight_ps`) and his report's, one link delay ``phys.delay_ps``. Her own photons
    (``position·L``) are in sooner, ``position <= 2 - position``. A block of N batches of T ps each
    then has all its reports at ``N·T + (2 - position)·L·n_g/c`` after it began."""
    return bob_flight_ps(phys, position) + phys.delay_ps


def refuse_paused_entangled_checkpoint() -> None:
    """Refuse, in one line, a BBM92/E91 process checkpointed by a dqsim whose source paused a round trip after
    every batch (before 2026-12-06): the times of its blocks followed that pause, and its processes wait on
    messages the pumped source no longer sends (Bob waited for his photons as a message from Alice), so it
    cannot resume to what a run from the start gives."""
    raise DqsimError("this checkpoint of a BBM92/E91 link was written by an older dqsim, whose pair source paused "
                     "a round trip after every batch; it cannot be continued with the source pumped without "
                     "pause: run the job again from the start (remove its checkpoints)")


class _EntangledFolding:
    """Folding Bob's BBM92/E91 reports (:func:`entangled_report`) into a block's counts, key bits and CHSH
    coincidences, in the order they come (FIFO: the batches' order); ``self.awaiting`` loses the batch."""

    def _fold_report(self, payload) -> None:
        j, stats, keys, coincidences = payload
        self.awaiting.discard(j)
        self.counts = stats if self.counts is None else self.counts + stats
        for keep, part in zip(self.keys, keys or ()):
            keep.extend(part)              # its bytes joined, not unpacked and packed again
        if coincidences is not None:
            self.block_chsh = coincidences if self.block_chsh is None else self.block_chsh + coincidences


def entangled_report(backend, q: QkdPlan, phys: LinkPhysics, start: int, size: int, receivers):
    """Bob's report of the BBM92/E91 batch of pairs ``start ... start + size - 1``, drawn by his process
    (:func:`entangled_batch`, both sides, the draws keyed by Alice's node as before): ``(payload, receivers)``,
    the payload ``(sifted counts, key bits or None, E91's coincidence counts or None)`` — what Alice's side folds
    (:class:`_EntangledFolding`; the counts hold his clicks, ``num_bob_clicks``, which size the report), the key
    bits (Cascade, LDPC) Alice's and Bob's packed, each :class:`~dqsim.protocols.qkd.packed_bits.PackedBits`."""
    batch = entangled_batch(backend.xp, q, phys, start, size, receivers)
    keys = None
    if q.error_correction in KEYED_ERROR_CORRECTIONS:
        pair = entangled_block.key_pair_of_block(q.protocol, q.security == "finite_key")
        keys = tuple(PackedBits(backend.to_host(bits)) for bits in entangled.sifted_key_bits(batch, key_pair=pair))
    coincidences = entangled.coincidence_counts(batch) if q.protocol == "e91" else None
    return (entangled.sifted_statistics(batch), keys, coincidences), (batch.alice_receiver, batch.bob_receiver)


class EntangledAlice(_AliceSource, _EntangledFolding):
    """The pair source and Alice's side of BBM92/E91; her tally is ``self.tally``.

    Phases: ``emit`` (wait while the source emits batch ``self.batch``, take
    Bob's reports of the block that have come, draw and fold the batch; after
    a block's last batch its post-processing goes to an
    :class:`EntangledAliceBlock`, :class:`_AliceSource`), ``slot``, ``drain``,
    ``done`` (as :class:`Bb84Alice`'s).

    Bob's process draws each batch of pairs, both sides, when its photons
    have reached him (:class:`EntangledBob`, :func:`bob_flight_ps`), and his
    report carries with his clicks' places and settings (its bits on the
    channel) the batch's outcomes that Alice's side holds in the run: she
    folds each report into the block's
    :class:`~dqsim.protocols.qkd.entangled.SiftedCounts`, its CHSH
    coincidences (E91) and, with Cascade, its key bits, Alice's and Bob's,
    eight to a byte (:class:`~dqsim.protocols.qkd.packed_bits.PackedBits`;
    :class:`_EntangledFolding`). The source emits on while Bob's reports
    travel; she takes those that have come each time the source ends a
    batch, so at most :func:`max_reports_held` of them (``round_trip_ps`` =
    :func:`entangled_sifting_ps`) are in flight at once (``self.awaiting``:
    the batches whose report has not come). Until 2026-12-06 she waited for
    Bob's report of each batch before the next, a round trip ``2L`` after
    every batch (+20 % on a block of 5 batches at 20 km), and until later
    that day for every block's post-processing before the next block; until
    2026-12-07 (morning) she drew each batch, both sides, as the source ended
    it, and Bob's report, which knew no click, took its tag's bits only.
    """

    def __init__(self, plan: QkdPlan, phys: LinkPhysics):
        self.plan, self.phys = plan, phys
        self.tally = LinkTally()
        self.phase = "emit"
        self.batch = 0
        self.awaiting: set = set()     # batches of the block whose report has not come
        self.counts = None             # SiftedCounts of the current block
        self.keys = (PackedBits(), PackedBits())  # the block's key bits, Alice's and Bob's (cascade)
        self.block_chsh = None         # E91: the current block's coincidence counts, for its CHSH bound
        self.times: dict = {}
        self.open_blocks = 0           # blocks in post-processing (EntangledAliceBlock processes)
        self.wait_from_ps = None       # when the source began to wait for a block to leave post-processing
        self.channel = ClassicalChannel()  # Alice -> Bob, shared by her block processes

    def __setstate__(self, state):
        """Restore from a checkpoint. One written before E91 kept its current block's CHSH coincidences
        (``block_chsh``, 2026-12-06) resumes at a block's start, but not inside a block: that block's
        CHSH value, which its key needs, is lost (one line). One of an E91 finite-key run holding a block
        keyed by the older symmetric-source finite key is refused (:func:`refuse_old_e91_finite_key`), and so is
        one of a multi-pair run made with the older SPDC source (:func:`refuse_old_spdc_source`), one
        whose source paused a round trip after every batch (:func:`refuse_paused_entangled_checkpoint`), and
        one whose source waited for every block's post-processing (:func:`refuse_waiting_source_checkpoint`)."""
        tally = state.get("tally")
        refuse_old_e91_finite_key(state["plan"].protocol,
                                  [state.get("result")] + ([row[7] for row in tally.blocks] if tally else []))
        source = getattr(state["plan"], "entangled_source", None)
        refuse_old_spdc_source(getattr(source, "mean_pair_number", None), [tally] if tally else [])
        if "block_chsh" not in state:
            if state.get("counts") is not None and state["plan"].protocol == "e91":
                raise DqsimError("this checkpoint of an E91 link was written by an older dqsim, inside a key "
                                 "block, without the block's CHSH counts its key now needs; run the job again "
                                 "from the start (remove its checkpoints)")
            state["block_chsh"] = None
        if "awaiting" not in state:  # before the source was pumped without pause (2026-12-06)
            refuse_paused_entangled_checkpoint()
        if "open_blocks" not in state:
            refuse_waiting_source_checkpoint()
        refuse_unqueued_channel_checkpoint(state)
        state["keys"] = packed_keys(state.get("keys"))  # lists of uint8 arrays before 2026-12-06
        self.__dict__.update(state)

    def run(self, ctx):
        phys = self.phys
        link_tag = ("qkd", phys.link_index)
        done_tag = link_tag + ("block-done",)
        batches = list(self.plan.batches())
        if "start" not in self.times and self.batch == 0:
            self._start_block(ctx, 0, 0)
        while self.phase != "done":
            if self.phase == "emit":
                block, _start, size = batches[self.batch]
                yield ctx.wait(emission_ps(size, self.plan.entangled_source.pair_rate_hz))
                self.awaiting.add(self.batch)
                for msg in ctx.take_arrived(link_tag + ("report", block)):  # Bob's reports that came meanwhile
                    self._fold_report(msg.payload)
                self.batch += 1
                if _last_of_block(batches, self.batch - 1):
                    self._hand_over(ctx, self.block_process(
                        self.plan, phys, self.tally, block, self.counts, self.keys, self.awaiting,
                        {**self.times, "pulses": ctx.now_ps}, self.block_chsh, channel=self.channel))
                    self.counts = self.block_chsh = None
                    self.keys, self.awaiting = (PackedBits(), PackedBits()), set()
                    self._next_block(ctx, done_tag, batches)
            else:  # slot, drain: a block's acknowledgement
                yield self._between_blocks(ctx, done_tag)
                self.open_blocks -= 1
                self._next_block(ctx, done_tag, batches)
        self._end_link(ctx)


class EntangledAliceBlock(_AliceSide, _EntangledFolding):
    """Alice's post-processing of one BBM92/E91 key block, while the source is pumped on (:class:`_AliceSource`).

    Phases: ``reports`` (Bob's remaining reports), ``estimate``, ``cascade``
    (error_correction = cascade), ``ack``, ``done``.
    """

    def __init__(self, plan: QkdPlan, phys: LinkPhysics, tally: LinkTally, block: int, counts, keys, awaiting: set,
                 times: dict, block_chsh, *, channel: ClassicalChannel):
        self.plan, self.phys, self.tally, self.block = plan, phys, tally, block
        self.counts, self.keys, self.awaiting, self.times, self.block_chsh = counts, keys, awaiting, times, block_chsh
        self.channel = channel         # Alice -> Bob, shared with the link's other blocks
        self.phase = "reports"
        self.result = None
        self.ec_round = 0

    def __setstate__(self, state):
        """Restore from a checkpoint (an E91 block keyed by the finite key of before 2026-12-06 refused,
        :func:`refuse_old_e91_finite_key`)."""
        refuse_old_e91_finite_key(state["plan"].protocol, [state.get("result")])
        refuse_unqueued_channel_checkpoint(state)
        state["keys"] = packed_keys(state.get("keys"))
        self.__dict__.update(state)

    def _postprocess(self, block: int) -> None:
        """The block's result from its counts, CHSH coincidences and key bits, which it drops (the same draws
        whenever it runs: the block's own generator)."""
        q = self.plan
        rng = Stream(q.seed, node=self.phys.alice, purpose=PURPOSE_POSTPROCESS).generator(block)
        settings = dict(protocol=q.protocol, pair_rate_hz=q.entangled_source.pair_rate_hz, rng=rng, f_ec=q.f_ec,
                        qber_threshold=q.qber_threshold, sample_fraction=q.sample_fraction,
                        finite_key=(q.eps_sec, q.eps_cor) if q.security == "finite_key" else None,
                        coincidences=self.block_chsh)
        if q.error_correction in KEYED_ERROR_CORRECTIONS:
            alice_key, bob_key = self.keys  # packed: Cascade takes them as they are, LDPC unpacks them
            self.keys = (PackedBits(), PackedBits())
            self.result = entangled_block.entangled_postprocess_block(
                self.counts, alice_key, bob_key, eps_cor=q.eps_cor, reconcile=_reconciler(q), **settings)
        else:
            self.result = entangled_block.entangled_block_key(self.counts, **settings)

    def run(self, ctx):
        phys, block = self.phys, self.block
        link_tag = ("qkd", phys.link_index)
        while self.phase != "done":
            if self.phase == "reports":
                msg = yield ctx.receive(link_tag + ("report", block))
                self._fold_report(msg.payload)
                if not self.awaiting:
                    self._postprocess(block)
                    self._send_sifting(ctx, link_tag, block)
            elif self.phase == "estimate":
                yield ctx.receive(link_tag + ("estimate", block))
                self.times["estimate"] = ctx.now_ps
                self._send_key(ctx, link_tag, block)
            elif self.phase == "cascade":  # answer Bob's parity messages, one per Cascade round
                yield ctx.receive(link_tag + ("cascade", block))
                self._answer_cascade(ctx, link_tag, block)
            elif self.phase == "ack":
                yield ctx.receive(link_tag + ("key-ack", block))
                counts, result, t, tally = self.counts, self.result, self.times, self.tally
                tally.add_block((block, t["start"], t["pulses"], t["sift"], t["estimate"], ctx.now_ps, counts,
                                 result))
                tally.pulses += counts.num_pairs
                tally.key_bits += result.secret_key_bits
                tally.sifted += counts.num_sifted
                tally.errors += counts.num_errors
                tally.aborted_blocks += int(result.aborted)
                if self.block_chsh is not None:  # E91: the link's coincidence counts, all blocks
                    tally.chsh_counts = self.block_chsh if tally.chsh_counts is None \
                        else tally.chsh_counts + self.block_chsh
                self._block_done(ctx, link_tag, block)


def entangled_batch(xp, q: QkdPlan, phys: LinkPhysics, start: int, size: int, receivers=None):
    """The BBM92/E91 batch of pairs ``start ... start + size - 1`` of a link (what :class:`EntangledAlice` draws);
    ``receivers``: Alice's and Bob's receiver states after the previous batch (``None``: fresh)."""
    make = entangled.bbm92_batch if q.protocol == "bbm92" else entangled.e91_batch
    t_a, t_b = phys.arm_transmittances
    return make(xp, q.entangled_source, transmittance_alice=t_a, transmittance_bob=t_b,
                efficiency=phys.detector.efficiency, dark_count_probability=phys.dark_count_probabilities(),
                seed=q.seed, start_pair=start, num_pairs=size, node=phys.alice,
                misalignment=phys.detector.misalignment, dead_time_pulses=phys.detector.dead_time_pulses,
                afterpulse_probability=phys.detector.afterpulse_probability, receiver_states=receivers, eve=phys.eve)


@functools.lru_cache(maxsize=64)
def _entangled_pilot(q: QkdPlan, phys: LinkPhysics, num_pairs: int) -> tuple[int, int]:
    """``(key bits, Bob's clicks)`` of a link's first ``num_pairs`` pairs, drawn as the run draws them: the one
    pilot draw of :func:`entangled_key_bits_per_pair` and :func:`entangled_bob_clicks_per_pair` (until 2026-12-07,
    later, each drew it; ``dqsim check`` asks both of every link)."""
    batch = entangled_batch(np, q, phys, 0, num_pairs)
    pair = entangled_block.key_pair_of_block(q.protocol, q.security == "finite_key")
    return int(entangled.sifted_key_bits(batch, key_pair=pair)[0].shape[0]), int(np.count_nonzero(batch.bob_detected))


def entangled_key_bits_per_pair(q: QkdPlan, phys: LinkPhysics, num_pairs: int = 1 << 16) -> float:
    """Key bits per pair slot that a BBM92/E91 block keeps for Cascade, from the link's first ``num_pairs`` pairs
    (drawn as the run draws them: a pilot sample, its relative error about ``1/sqrt(bits)``)."""
    return _entangled_pilot(q, phys, int(num_pairs))[0] / num_pairs


def entangled_bob_clicks_per_pair(q: QkdPlan, phys: LinkPhysics, num_pairs: int = 1 << 16) -> float:
    """Pair slots Bob's side clicks per slot (his report's clicks), from the link's first ``num_pairs`` pairs, the
    pilot draw of :func:`entangled_key_bits_per_pair`."""
    return _entangled_pilot(q, phys, int(num_pairs))[1] / num_pairs


def report_bits_per_pulse(q: QkdPlan, num_pulses: int, clicks_per_pulse: float) -> float:
    """Bits of Bob's report of a batch of ``num_pulses`` pulses (pair slots) per pulse, at ``clicks_per_pulse``
    (its places, settings and tag: :func:`report_bits`, as :func:`report_delay_ps` sends them).

    Examples:
        >>> q = QkdPlan(protocol="bb84_decoy", seed=0, pulses=1, block_pulses=1, batch_pulses=1, source=None)
        >>> round(report_bits_per_pulse(q, 1_000_000, 0.12), 3)  # 0.12 basis bits and 0.529 for the places
        0.649
    """
    return report_bits(q, num_pulses, min(num_pulses, round(clicks_per_pulse * num_pulses))) / num_pulses


def report_backlog_ps(bits_per_pulse: float, batch_pulses: int, num_pulses: int, pulse_rate_hz: float,
                      bit_rate_hz: float) -> int:
    """How much later than its own crossing the last report of a link's run reaches Alice, ps: the reports'
    queue on Bob's channel where they outrun it (:mod:`~dqsim.protocols.qkd.classical_channel`).

    Bob hands the channel a report every batch, T = ``batch_pulses / pulse_rate_hz`` apart, each taking
    τ = ``bits_per_pulse · batch_pulses / bit_rate_hz`` on it; where τ > T each report waits τ - T longer than
    the one before, so the last of ``n = ⌈num_pulses / batch_pulses⌉`` waits ``(n - 1)(τ - T)``: the reports
    alone, with the source emitting on (it waits while ``max_blocks_in_postprocessing`` blocks are open, which
    bounds the queue), their other messages left out. 0 where the channel keeps up.

    Examples:
        >>> report_backlog_ps(1.12, 1_000_000, 20_000_000, 1e9, 1e9)  # 19 x 0.12 ms
        2280000000
        >>> report_backlog_ps(0.65, 1_000_000, 20_000_000, 1e9, 1e9)
        0
    """
    batch_ps = batch_pulses * PS_PER_S / pulse_rate_hz
    report_ps = bits_per_pulse * batch_pulses * PS_PER_S / bit_rate_hz
    batches = -(-num_pulses // batch_pulses)
    return int(round(max(0.0, report_ps - batch_ps) * max(0, batches - 1)))


def pulses_in_flight_bytes(source, num_pulses: int) -> float:
    """Bytes of :func:`pulses_in_flight` for ``num_pulses`` pulses of ``source``, about: a bit for the basis and
    the bit, the bits of the largest class and those of the largest photon number expected among the pulses
    (the least ``n`` that fewer than one pulse passes at the strongest intensity, Poisson)."""
    mu, n, term, tail = max(source.intensities), 0, math.exp(-max(source.intensities)), 1.0
    tail -= term
    while num_pulses * tail >= 1.0 and n < 1000:
        n += 1
        term *= mu / n
        tail -= term
    return num_pulses * (2 + (source.num_classes - 1).bit_length() + n.bit_length()) / 8


class EntangledBob(_BobSide):
    """Bob's side of BBM92/E91: report each batch when its photons have reached him; each block's
    post-processing goes to an :class:`EntangledBobBlock`.

    The source is pumped without pause (:class:`EntangledAlice`), except while
    ``max_blocks_in_postprocessing`` blocks are in post-processing (:class:`_AliceSource`): batch ``j`` ends
    leaving the source at ``source_ps`` (the end of the batch before it, as Bob follows the source) plus its
    emission time, and its last photon reaches Bob :func:`bob_flight_ps` later, when his process draws the batch's
    pairs, both sides (:func:`entangled_report`), and sends his report: his clicks' places and settings, its bits
    on his channel (:func:`report_delay_ps`), carrying the outcomes Alice's side folds (until 2026-12-07 (morning)
    Alice drew the pairs and his report, the batch's index, took its tag's bits only). He knows when the source
    starts a block without a
    message: it waits for the blocks whose acknowledgements he sent (:meth:`block_start_ps`), each of which his
    block process tells him of (``acks_ps``: when each reaches Alice, in the order sent).
    """

    def __init__(self, plan: QkdPlan, phys: LinkPhysics):
        super().__init__(plan, phys)
        self.receivers = None    # Alice's and Bob's ReceiverState (dead time, afterpulse) after the last batch
        self.emitted_ps = 0      # the source's time since the run's start, ps (emission and waits)
        self.source_ps = None    # when the source ended the last batch he detected (None: the run's start)
        self.acks_ps: list = []  # when his acknowledgements reach Alice, in the order sent

    def __setstate__(self, state):
        """Restore from a checkpoint; one written while the source paused a round trip after every batch
        (before 2026-12-06) is refused (:func:`refuse_paused_entangled_checkpoint`), and one of the source that
        waited for every block's post-processing (:func:`refuse_waiting_source_checkpoint`)."""
        if "emitted_ps" not in state:
            refuse_paused_entangled_checkpoint()
        super().__setstate__(state)

    def block_start_ps(self, batches) -> int | None:
        """When the source starts batch ``self.batch``, ps, or ``None`` while an acknowledgement it waits for has
        not been sent.

        Within a block, at the end of the batch before it. A block ``k`` > 0 starts at the end ``e`` of block
        ``k - 1`` unless ``m`` = (blocks open at ``e``) - ``max_blocks_in_postprocessing`` + 1 > 0, open being
        the blocks whose acknowledgement reaches Alice after ``e``; then at the ``m``-th of those arrivals. An
        acknowledgement not yet sent arrives after every one sent (one delay each), and each reaching Alice by
        ``e`` was sent by ``e`` minus the link delay, before Bob detects the last batch of block ``k - 1``."""
        end = self.source_ps
        block, start, _size = batches[self.batch]
        if self.batch == 0 or batches[self.batch - 1][0] == block:
            return end
        later = [t for t in self.acks_ps if t > end]
        need = block - (len(self.acks_ps) - len(later)) - self.plan.max_blocks_in_postprocessing + 1
        if need <= 0:
            return end
        return later[need - 1] if len(later) >= need else None

    def next_batch(self, ctx, link_tag, batches):
        if self.source_ps is None:
            self.source_ps = ctx.now_ps
        start_ps = self.block_start_ps(batches)
        if start_ps is None:  # the source waits for a block whose acknowledgement he has yet to send
            return ctx.receive(link_tag + ("acked",))
        size = batches[self.batch][2]
        due = start_ps + emission_ps(size, self.plan.entangled_source.pair_rate_hz) \
            + bob_flight_ps(self.phys, self.plan.entangled_source.position)
        return ctx.wait(max(0, due - ctx.now_ps))

    def arrived(self, ctx, link_tag, msg) -> bool:
        """Take his block processes' word of the acknowledgements sent; whether the batch's photons are in (not
        when ``msg`` is such a word)."""
        if msg is not None:
            self.acks_ps.append(msg.payload)
        self.acks_ps += [m.payload for m in ctx.take_arrived(link_tag + ("acked",))]
        return msg is None

    def detect(self, ctx, msg, block: int, start: int, size: int) -> None:
        flight_ps = bob_flight_ps(self.phys, self.plan.entangled_source.position)
        self.emitted_ps += ctx.now_ps - flight_ps - self.source_ps  # (with the source's wait before the batch)
        self.source_ps = ctx.now_ps - flight_ps  # he detects the batch its flight after it left the source
        payload, self.receivers = entangled_report(ctx.backend, self.plan, self.phys, start, size, self.receivers)
        self.channel.send(ctx, self.phys.alice, ("qkd", self.phys.link_index, "report", block), (self.batch, *payload),
                          transmission_ps=report_delay_ps(self.plan, size, payload[0].num_bob_clicks))


class EntangledBobBlock(_BobBlock):
    """Bob's post-processing of one BBM92/E91 key block; after its acknowledgement he tells his detecting process
    when it reaches Alice (a message to his own node, no delay: :meth:`EntangledBob.block_start_ps`)."""

    def acknowledged(self, ctx, link_tag, arrival_ps: int) -> None:
        ctx.send(self.phys.bob, link_tag + ("acked",), arrival_ps)
