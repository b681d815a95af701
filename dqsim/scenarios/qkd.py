"""The ``qkd`` scenario: key distribution over fibre links on the event engine.

Every link ``(a, b)`` runs two processes, Alice on node ``a`` and Bob on node
``b`` (nodes on ranks as for ``dqc``; the lookahead is the smallest delay of
a link between ranks):

1. Alice makes a batch of pulses (:func:`dqsim.protocols.qkd.bb84.alice_batch`,
   or a batch of entangled pairs), waits while the source emits it
   (``batch_pulses / source_rate_hz``) and sends it as one message, which
   reaches Bob one fibre delay later.
2. Bob detects it (:func:`~dqsim.protocols.qkd.bb84.bob_detect`; the receiver
   state — dead time, afterpulse — carries over to the next batch) and sends
   his detection report back (the sifting announcement: bases and, as a
   simulation shortcut standing for error correction, his bits).
3. Alice counts the batch per intensity class and frees it. When the last
   report of a block is in, the block's classical post-processing runs as
   three more messages — sifting match (Alice → Bob), parameter estimation
   (Bob → Alice), error correction and privacy amplification (Alice → Bob) —
   each one fibre delay. Cascade's many rounds are modelled as that one
   exchange; leakage is ``f_EC·h(E)`` per sifted bit.

Memory is bounded by a batch in flight per link, whatever ``pulses`` is.
Randomness: pulse ``i`` depends on (seed, node, i) only, so results do not
depend on the batch size or the number of ranks.

A sweep runs the whole network once per distance. A network of several links
relays keys through trusted nodes (XOR of link keys), so the end-to-end key
between two nodes is the smallest link key on the route between them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from dqsim.engine import Simulator
from dqsim.engine.process import ResumableProcess
from dqsim.network import raman
from dqsim.network.detectors import dark_count_probability
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.network.fibre import fibre_transmittance, propagation_delay_ps, total_transmittance
from dqsim.network.werner import plob_bound
from dqsim.protocols.qkd import entangled, theory
from dqsim.protocols.qkd.bb84 import (
    BASIS_Z,
    ChannelModel,
    DecoySource,
    DetectorModel,
    EveModel,
    alice_batch,
    bob_detect,
)
from dqsim.protocols.qkd.detections import DetectionBatch, detect_batch, detection_counts
from dqsim.protocols.qkd.postprocess import BlockCounts, block_counts, estimate_block, postprocess_block
from dqsim.rng import Stream
from dqsim.scenarios import ScenarioOutput, record_table
from dqsim.scenarios.dqc import _checkpointer
from dqsim.units import PS_PER_S, db_to_transmittance


@dataclass(frozen=True)
class LinkPhysics:
    """Everything the processes of one link need."""

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


@dataclass
class LinkTally:
    """What one link produced (filled on Alice's rank)."""

    blocks: list = field(default_factory=list)
    pulses: int = 0
    key_bits: int = 0
    sifted: int = 0
    errors: int = 0
    aborted_blocks: int = 0
    chsh_counts: np.ndarray | None = None
    done_ps: int = 0


def raman_noise_probability(job, distance_km: float) -> float:
    """Noise click probability per gate and detector from the classical channels on the fibre.

    Forward (co-propagating) or backward (counter-propagating) Raman power at
    Bob (Eraerds et al., NJP 12, 063027 (2010); :mod:`dqsim.network.raman`),
    turned into detected photons per gate, split evenly over the two
    detectors of the measured basis, then into a click probability.
    """
    link = job.qkd.link
    mean_counts = 0.0
    for ch in job.qkd.classical_channels:
        kwargs = dict(filter_bandwidth_nm=ch.filter_bandwidth_nm, attenuation_db_per_km=link.attenuation_db_per_km)
        if ch.raman_cross_section_per_km_per_nm is not None:
            kwargs["raman_cross_section_per_km_per_nm"] = ch.raman_cross_section_per_km_per_nm
        power = (raman.raman_forward_power_w if ch.direction == "co" else raman.raman_backward_power_w)(
            ch.launch_power_dbm, distance_km, **kwargs)
        power *= db_to_transmittance(link.coupling_loss_db)
        mean_counts += raman.raman_noise_counts_per_gate(
            power, detector_efficiency=link.detector_efficiency, gate_width_ps=link.gate_width_ps,
            wavelength_nm=ch.wavelength_nm)
    return raman.raman_noise_click_probability(mean_counts / 2.0) if mean_counts > 0 else 0.0


def link_physics(job, index: int, a: int, b: int, distance_km: float) -> LinkPhysics:
    """Channel, detector, Eve and noise of one link from the job's ``[qkd.link]``."""
    link, source = job.qkd.link, job.qkd.source
    dead_time_pulses = math.ceil(link.dead_time_ps * source.source_rate_hz / PS_PER_S) if link.dead_time_ps else 0
    detector = DetectorModel(
        efficiency=link.detector_efficiency,
        dark_count_probability=dark_count_probability(link.dark_count_rate_hz, link.gate_width_ps),
        misalignment=link.misalignment, dead_time_pulses=dead_time_pulses,
        afterpulse_probability=link.afterpulse_probability)
    channel = ChannelModel(fibre_transmittance=fibre_transmittance(distance_km, link.attenuation_db_per_km),
                           coupling_transmittance=db_to_transmittance(link.coupling_loss_db))
    eve = None
    if job.qkd.eve is not None and job.qkd.eve.attack != "none":
        position = job.qkd.eve.distance_km / distance_km if distance_km > 0 else 0.0
        eve = EveModel(attack=job.qkd.eve.attack, fraction=job.qkd.eve.fraction, basis=job.qkd.eve.basis,
                       position=min(max(position, 0.0), 1.0))
    delay = max(1, propagation_delay_ps(distance_km, link.group_index))
    eta = total_transmittance(distance_km, link.attenuation_db_per_km, link.coupling_loss_db,
                              link.detector_efficiency)
    return LinkPhysics(index, a, b, distance_km, delay, channel, detector, eve,
                       raman_noise_probability(job, distance_km), eta)


def _source(job) -> DecoySource:
    s = job.qkd.source
    return DecoySource(intensities=tuple(s.intensities), probabilities=tuple(s.probabilities),
                       z_basis_probability=s.z_basis_probability, source_rate_hz=s.source_rate_hz)


def _batches(job):
    """(block index, first pulse, pulses) of every batch, blocks cut at block_pulses."""
    q = job.qkd
    start = 0
    while start < q.pulses:
        block = start // q.block_pulses
        block_end = min((block + 1) * q.block_pulses, q.pulses)
        size = min(q.batch_pulses, block_end - start)
        yield block, start, size
        start += size


# ----------------------------------------------------------------- BB84 processes
# The processes are ResumableProcess objects (dqsim.engine.process): a checkpoint saves them
# with their protocol state, and ``run`` re-enters any phase at its one ``yield``.
def _last_of_block(batches, i: int) -> bool:
    return i + 1 == len(batches) or batches[i + 1][0] != batches[i][0]


class Bb84Alice(ResumableProcess):
    """Alice's side of decoy-state BB84 on one link; her :class:`LinkTally` is ``self.tally``.

    Phases: ``emit`` (wait while the source emits batch ``self.batch``, then
    send it), ``reports`` (Bob's detection reports of the block's batches),
    ``estimate`` (parameter estimation answer), ``ack`` (key acknowledged), ``done``.
    """

    def __init__(self, job, phys: LinkPhysics):
        self.job, self.phys = job, phys
        self.tally = LinkTally()
        self.phase = "emit"
        self.batch = 0                 # next batch to emit
        self.pending: dict = {}        # batch index -> (host arrays sent, device batch or None)
        self.counts = None             # BlockCounts of the current block
        self.times: dict = {}          # block start, pulses done, sifted, estimated (ps)
        self.result = None             # the current block's key estimate
        self.keys = ([], [])           # the block's key bits, Alice's and Bob's (error_correction = cascade)
        self.ec_round = 0              # Cascade rounds answered in this block

    def __getstate__(self):
        state = dict(self.__dict__)
        state["pending"] = {i: (host, None) for i, (host, _batch) in self.pending.items()}
        return state

    def run(self, ctx):
        backend, q, phys = ctx.backend, self.job.qkd, self.phys
        source = _source(self.job)
        link_tag = ("qkd", phys.link_index)
        batches = list(_batches(self.job))
        if self.counts is None:
            self.counts = BlockCounts.zeros(source.num_classes)
            self.times["start"] = ctx.now_ps
        while self.phase != "done":
            block = batches[max(self.batch - 1, 0)][0]
            if self.phase == "emit":
                _block, start, size = batches[self.batch]
                yield ctx.wait(int(round(size * PS_PER_S / source.source_rate_hz)))
                if q.sampling == "detections":  # Bob draws the recorded pulses (detections.py)
                    host = batch = None
                else:
                    batch = alice_batch(backend.xp, source, self.job.run.seed, start, size, node=phys.alice)
                    host = {name: backend.to_host(getattr(batch, name))
                            for name in ("basis", "bit", "intensity_class", "photons")}
                ctx.send(phys.bob, link_tag + ("pulses",), (self.batch, start, size, host))
                self.pending[self.batch] = (host, batch)
                self.batch += 1
                if _last_of_block(batches, self.batch - 1):
                    self.times["pulses"] = ctx.now_ps
                    self.phase = "reports"
            elif self.phase == "reports":
                msg = yield ctx.receive(link_tag + ("report",))
                j, bob_arrays = msg.payload
                host, alice = self.pending.pop(j)
                if isinstance(bob_arrays, DetectionBatch):
                    self.counts = self.counts + detection_counts(bob_arrays, source.num_classes)
                    d = bob_arrays
                    fields = (d.intensity_class, d.alice_basis, d.bob_basis, d.alice_bit, d.bob_bit, None)
                else:
                    if alice is None:  # restored from a checkpoint: back onto the device
                        alice = _alice_from_host(backend.xp, batches[j][1], host)
                    bob = _bob_from_host(backend.xp, alice.start_pulse, bob_arrays)
                    self.counts = self.counts + block_counts(backend.xp, alice, bob, source.num_classes)
                    if q.error_correction == "cascade":
                        h = {name: backend.to_host(getattr(alice, name)) for name in ("intensity_class", "basis",
                                                                                     "bit")}
                        fields = (h["intensity_class"], h["basis"], bob_arrays["basis"], h["bit"], bob_arrays["bit"],
                                  bob_arrays["detected"])
                if q.error_correction == "cascade":
                    for keep, bits in zip(self.keys, _key_bits(q.security == "finite_key", *fields)):
                        keep.append(bits)
                if not self.pending:
                    self.times["sift"] = ctx.now_ps
                    ctx.send(phys.bob, link_tag + ("sift-match", block))
                    self.phase = "estimate"
            elif self.phase == "estimate":
                yield ctx.receive(link_tag + ("estimate", block))
                self.times["estimate"] = ctx.now_ps
                finite = (q.eps_sec, q.eps_cor) if q.security == "finite_key" else None
                if q.error_correction == "cascade":
                    rng = Stream(self.job.run.seed, node=phys.alice, purpose=PURPOSE_POSTPROCESS).generator(block)
                    self.result, done = postprocess_block(
                        self.counts, source, _joined(self.keys[0]), _joined(self.keys[1]), rng=rng, f_ec=q.f_ec,
                        qber_threshold=q.qber_threshold, finite_key=finite, eps_cor=q.eps_cor,
                        sample_fraction=q.sample_fraction)
                    self.keys = ([], [])
                    payload = (self.result.secret_key_bits, done.rounds, _round_delay_ps(done, q))
                else:
                    self.result = estimate_block(self.counts, source, f_ec=q.f_ec, qber_threshold=q.qber_threshold,
                                                 finite_key=finite)
                    payload = (self.result.secret_key_bits, 0, 0)
                ctx.send(phys.bob, link_tag + ("ec-pa", block), payload)
                self.ec_round = 0
                self.phase = "cascade" if payload[1] else "ack"
            elif self.phase == "cascade":  # answer Bob's parity messages, one per Cascade round
                yield ctx.receive(link_tag + ("cascade", block))
                ctx.send(phys.bob, link_tag + ("cascade-reply", block), extra_delay_ps=_round_delay_ps(
                    self.result.postprocess, q))
                self.ec_round += 1
                if self.ec_round == self.result.postprocess.rounds:
                    self.phase = "ack"
            elif self.phase == "ack":
                yield ctx.receive(link_tag + ("key-ack", block))
                counts, result, t, tally = self.counts, self.result, self.times, self.tally
                tally.blocks.append((block, t["start"], t["pulses"], t["sift"], t["estimate"], ctx.now_ps,
                                     counts, result))
                tally.pulses += result.num_pulses_sent
                tally.key_bits += result.secret_key_bits
                tally.sifted += counts.sifted[0]
                tally.errors += counts.errors[0]
                tally.aborted_blocks += int(result.aborted)
                ctx.log("qkd-block", f"link {phys.link_index} block {block}: {result.secret_key_bits} key bits"
                        + (" (aborted)" if result.aborted else ""))
                self.counts = BlockCounts.zeros(source.num_classes)
                self.times = {"start": ctx.now_ps}
                self.phase = "emit" if self.batch < len(batches) else "done"
        self.tally.done_ps = ctx.now_ps


#: Purpose of the shared public randomness of post-processing (Cascade shuffles, hash seeds).
PURPOSE_POSTPROCESS = "qkd_postprocess"


def _key_bits(finite: bool, cls, alice_basis, bob_basis, alice_bit, bob_bit, detected):
    """Alice's and Bob's key bits: sifted signal bits, or sifted Z bits of all classes (finite key)."""
    mask = alice_basis == bob_basis
    mask &= (alice_basis == BASIS_Z) if finite else (cls == 0)
    if detected is not None:
        mask &= detected
    return alice_bit[mask].astype(np.uint8), bob_bit[mask].astype(np.uint8)


def _joined(parts) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)


def _round_delay_ps(done, q) -> int:
    """Transmission time of one Cascade message: the block's classical bits over its rounds, both ways."""
    bits = done.message_bits / max(1, 2 * done.rounds)
    return int(math.ceil(bits * PS_PER_S / q.classical_bit_rate_hz))


def _alice_from_host(xp, start_pulse: int, arrays: dict):
    from dqsim.protocols.qkd.bb84 import AliceBatch  # noqa: PLC0415

    return AliceBatch(start_pulse, *(xp.asarray(arrays[name]) for name in ("basis", "bit", "intensity_class",
                                                                            "photons")))


def _bob_from_host(xp, start_pulse: int, arrays: dict):
    from dqsim.protocols.qkd.bb84 import BobBatch  # noqa: PLC0415

    return BobBatch(start_pulse, *(xp.asarray(arrays[name]) for name in
                                   ("detected", "basis", "bit", "double_click", "eve_knows")))


class _BobSide(ResumableProcess):
    """Bob's side of a link: ``detect`` each batch, then a block's classical post-processing.

    Post-processing phases: ``sift-match`` (answer with the estimate message)
    and ``ec-pa`` (acknowledge the key). Subclasses implement :meth:`detect`.
    """

    def __init__(self, job, phys: LinkPhysics):
        self.job, self.phys = job, phys
        self.phase = "detect"
        self.batch = 0
        self.ec_rounds = self.ec_round = self.ec_delay_ps = 0   # Cascade rounds of the current block

    def detect(self, ctx, msg) -> None:
        raise NotImplementedError

    def receive_tag(self, link_tag):
        raise NotImplementedError

    def run(self, ctx):
        phys = self.phys
        link_tag = ("qkd", phys.link_index)
        batches = list(_batches(self.job))
        while self.batch < len(batches) or self.phase != "detect":
            block = batches[max(self.batch - 1, 0)][0]
            if self.phase == "detect":
                msg = yield ctx.receive(self.receive_tag(link_tag))
                self.detect(ctx, msg)
                self.batch += 1
                if _last_of_block(batches, self.batch - 1):
                    self.phase = "sift-match"
            elif self.phase == "sift-match":
                yield ctx.receive(link_tag + ("sift-match", block))
                ctx.send(phys.alice, link_tag + ("estimate", block))
                self.phase = "ec-pa"
            elif self.phase == "ec-pa":
                msg = yield ctx.receive(link_tag + ("ec-pa", block))
                _key, self.ec_rounds, self.ec_delay_ps = msg.payload if isinstance(msg.payload, tuple) \
                    else (msg.payload, 0, 0)
                self.ec_round = 0
                self.phase = "cascade"
            elif self.phase == "cascade":  # one parity message per Cascade round, then the key is acknowledged
                if self.ec_round < self.ec_rounds:
                    ctx.send(phys.alice, link_tag + ("cascade", block), extra_delay_ps=self.ec_delay_ps)
                    yield ctx.receive(link_tag + ("cascade-reply", block))
                    self.ec_round += 1
                else:
                    ctx.send(phys.alice, link_tag + ("key-ack", block))
                    self.phase = "detect"


class Bb84Bob(_BobSide):
    """Bob's side of decoy-state BB84 on one link (his receiver state carries over between batches)."""

    def __init__(self, job, phys: LinkPhysics):
        super().__init__(job, phys)
        self.receiver = None

    def receive_tag(self, link_tag):
        return link_tag + ("pulses",)

    def detect(self, ctx, msg) -> None:
        backend, phys = ctx.backend, self.phys
        j, start, size, arrays = msg.payload
        if arrays is None:  # sampling at the cost of detections: the report is the DetectionBatch
            report, self.receiver = detect_batch(
                _source(self.job), channel=phys.channel, detector=phys.detector, eve=phys.eve,
                seed=self.job.run.seed, start_pulse=start, num_pulses=size,
                noise_probability=phys.noise_probability,
                z_basis_probability=self.job.qkd.source.z_basis_probability, receiver_state=self.receiver,
                node=phys.bob)
            ctx.send(phys.alice, ("qkd", phys.link_index, "report"), (j, report))
            return
        alice = _alice_from_host(backend.xp, start, arrays)
        bob, self.receiver = bob_detect(
            backend.xp, alice, transmittance=phys.channel, detector=phys.detector, eve=phys.eve,
            seed=self.job.run.seed, noise_probability=phys.noise_probability,
            z_basis_probability=self.job.qkd.source.z_basis_probability, receiver_state=self.receiver,
            node=phys.bob)
        ctx.send(phys.alice, ("qkd", phys.link_index, "report"), (j, {
            name: backend.to_host(getattr(bob, name))
            for name in ("detected", "basis", "bit", "double_click", "eve_knows")}))


# ------------------------------------------------------- entanglement-based processes
class EntangledAlice(ResumableProcess):
    """The source (at Alice's node) and Alice's side of BBM92/E91; her tally is ``self.tally``.

    Phases: ``emit`` (wait while the source emits batch ``self.batch``, send
    Bob his detections, sift), ``report`` (Bob's settings of that batch),
    ``estimate``, ``ack``, ``done``.
    """

    def __init__(self, job, phys: LinkPhysics):
        self.job, self.phys = job, phys
        self.tally = LinkTally()
        self.phase = "emit"
        self.batch = 0
        self.block_counts = np.zeros(4, dtype=np.int64)  # pairs, coincidences, sifted, errors
        self.chsh = None
        self.times: dict = {}
        self.result = None

    def run(self, ctx):
        backend, q, phys = ctx.backend, self.job.qkd, self.phys
        src = entangled.EntangledSource(pair_rate_hz=q.source.source_rate_hz, werner=q.source.werner,
                                        position=q.source.position, mean_pair_number=q.source.mean_pair_number)
        t_a, t_b = entangled.arm_transmittances(src, phys.distance_km, q.link.attenuation_db_per_km)
        coupling = db_to_transmittance(q.link.coupling_loss_db)
        make = entangled.bbm92_batch if q.protocol == "bbm92" else entangled.e91_batch
        link_tag = ("qkd", phys.link_index)
        batches = list(_batches(self.job))
        if "start" not in self.times:
            self.times["start"] = ctx.now_ps
        while self.phase != "done":
            block = batches[max(self.batch - 1, 0)][0]
            if self.phase == "emit":
                _block, start, size = batches[self.batch]
                yield ctx.wait(int(round(size * PS_PER_S / src.pair_rate_hz)))
                batch = make(backend.xp, src, transmittance_alice=t_a * coupling,
                             transmittance_bob=t_b * coupling, efficiency=q.link.detector_efficiency,
                             dark_count_probability=phys.detector.dark_count_probability + phys.noise_probability,
                             seed=self.job.run.seed, start_pair=start, num_pairs=size, node=phys.alice,
                             misalignment=q.link.misalignment)
                ctx.send(phys.bob, link_tag + ("photons",), (self.batch, backend.to_host(batch.bob_detected),
                                                              backend.to_host(batch.bob_setting)))
                stats = entangled.sifted_statistics(batch)
                self.block_counts += [stats.num_pairs, stats.num_coincidences, stats.num_sifted, stats.num_errors]
                if q.protocol == "e91":
                    counts = entangled.coincidence_counts(batch)
                    self.chsh = counts if self.chsh is None else self.chsh + counts
                self.batch += 1
                self.phase = "report"
            elif self.phase == "report":
                yield ctx.receive(link_tag + ("report", self.batch - 1))
                if _last_of_block(batches, self.batch - 1):
                    self.times["pulses"] = ctx.now_ps
                    ctx.send(phys.bob, link_tag + ("sift-match", block))
                    self.phase = "estimate"
                else:
                    self.phase = "emit"
            elif self.phase == "estimate":
                yield ctx.receive(link_tag + ("estimate", block))
                self.times["estimate"] = ctx.now_ps
                _pairs, _coincidences, sifted, errors = (int(v) for v in self.block_counts)
                qber = errors / sifted if sifted else None
                aborted = qber is None or qber > q.qber_threshold
                # Shor–Preskill with error-correction inefficiency: 1 − f_EC·h(Q) − h(Q) per sifted bit
                # (bit and phase error rates both Q for these symmetric sources).
                key = 0 if aborted else int(sifted * max(0.0, 1 - (q.f_ec + 1) * theory.binary_entropy(qber)))
                self.result = (qber, key, aborted)
                ctx.send(phys.bob, link_tag + ("ec-pa", block), key)
                self.phase = "ack"
            elif self.phase == "ack":
                yield ctx.receive(link_tag + ("key-ack", block))
                pairs, coincidences, sifted, errors = (int(v) for v in self.block_counts)
                qber, key, aborted = self.result
                t, tally = self.times, self.tally
                tally.blocks.append((block, t["start"], t["pulses"], t["pulses"], t["estimate"], ctx.now_ps,
                                     (pairs, coincidences, sifted, errors), (qber, key, aborted)))
                tally.pulses += pairs
                tally.key_bits += key
                tally.sifted += sifted
                tally.errors += errors
                tally.aborted_blocks += int(aborted)
                self.block_counts = np.zeros(4, dtype=np.int64)
                self.times = {"start": ctx.now_ps}
                self.phase = "emit" if self.batch < len(batches) else "done"
        self.tally.chsh_counts = self.chsh
        self.tally.done_ps = ctx.now_ps


class EntangledBob(_BobSide):
    """Bob's side of BBM92/E91: announce his settings for each batch, then the post-processing."""

    def receive_tag(self, link_tag):
        return link_tag + ("photons",)

    def detect(self, ctx, msg) -> None:
        ctx.send(self.phys.alice, ("qkd", self.phys.link_index, "report", self.batch))


# ----------------------------------------------------------------------- one network run
def _graph(links, num_nodes):
    graph = nx.Graph()
    graph.add_nodes_from(range(num_nodes))
    for a, b, d in links:
        graph.add_edge(a, b, distance_km=d)
    return graph


def run_network(job, *, comm, backend, distance_km: float | None = None, checkpointing=None) -> dict:
    """Run every link of the job's network once (collective); returns per-link tallies on every rank."""
    links = job.qkd.network_links(distance_km) if distance_km is not None or job.qkd.sweep is None \
        else job.qkd.network_links(job.distances_km()[0])
    num_nodes = 1 + max(max(a, b) for a, b, _ in links)
    stored = checkpointing.stored_next() if checkpointing is not None else None
    if stored is not None:  # this distance was done when the checkpoint being resumed was written
        return stored
    checkpointer = _checkpointer(checkpointing, comm)
    physics = [link_physics(job, i, a, b, d) for i, (a, b, d) in enumerate(links)]
    qlink = job.qkd.link
    network = Network.from_links(
        [NodeSpec(name=f"node{i}") for i in range(num_nodes)],
        [(p.alice, p.bob, LinkSpec(distance_km=p.distance_km, attenuation_db_per_km=qlink.attenuation_db_per_km,
                                   coupling_loss_db=qlink.coupling_loss_db, group_index=qlink.group_index,
                                   detector_efficiency=qlink.detector_efficiency,
                                   dark_count_rate_hz=qlink.dark_count_rate_hz, dead_time_ps=qlink.dead_time_ps,
                                   gate_width_ps=qlink.gate_width_ps, source_rate_hz=job.qkd.source.source_rate_hz))
         for p in physics],
        num_ranks=comm.size, min_link_delay_ps=1)  # a message takes at least 1 ps (LinkPhysics.delay_ps)
    placement = list(network.placement)
    sim = Simulator(network, comm=comm, state=None, qubit_owner=[], seed=job.run.seed, record_timeline=True,
                    checkpointer=checkpointer, backend=backend)
    bb84 = job.qkd.protocol == "bb84_decoy"
    for p in physics:
        sim.spawn(p.alice, (Bb84Alice if bb84 else EntangledAlice)(job, p))
        sim.spawn(p.bob, (Bb84Bob if bb84 else EntangledBob)(job, p))
    stats = sim.run()
    mine = {proc.phys.link_index: proc.tally for proc in sim.processes() if isinstance(proc, (Bb84Alice,
                                                                                             EntangledAlice))}
    merged = {}
    for part in comm.allgather(mine):
        merged.update(part)
    result = {"links": links, "physics": physics, "tallies": merged, "engine": stats,
              "timeline": sim.gather_timeline(), "placement": placement}
    if checkpointing is not None:
        checkpointing.store_last(result)
    return result


# ------------------------------------------------------------------------ outputs
def _theory_rate_per_pulse(job, phys: LinkPhysics) -> float:
    if job.qkd.protocol != "bb84_decoy":
        return float("nan")
    link, source = job.qkd.link, job.qkd.source
    per_signal = theory.theoretical_key_rate(
        phys.distance_km, attenuation_db_per_km=link.attenuation_db_per_km, coupling_loss_db=link.coupling_loss_db,
        detector_efficiency=link.detector_efficiency, dark_count_probability=phys.detector.dark_count_probability,
        noise_probability=phys.noise_probability, misalignment=link.misalignment, intensity=source.intensities[0],
        f_ec=job.qkd.f_ec)
    return per_signal * source.probabilities[0]


def _block_rows(run, distance_km, protocol):
    rows = []
    for index, tally in sorted(run["tallies"].items()):
        a, b, _ = run["links"][index]
        for block, t0, t_pulses, t_sift, t_est, t_key, counts, result in tally.blocks:
            if protocol == "bb84_decoy":
                gains = [g if g is not None else float("nan") for g in result.gains]
                qbers = [e if e is not None else float("nan") for e in result.qbers]
                decoy = result.decoy
                detections = list(counts.detected)
                errors_z = counts.errors_z[0] / counts.sifted_z[0] if counts.sifted_z[0] else float("nan")
                errors_x = counts.errors_x[0] / counts.sifted_x[0] if counts.sifted_x[0] else float("nan")
                rows.append((distance_km, index, a, b, block, result.num_pulses_sent,
                             *(detections + [0] * (3 - len(detections))),
                             sum(counts.sifted), errors_z, errors_x,
                             *(qbers + [float("nan")] * (3 - len(qbers))), *(gains + [float("nan")] * (3 - len(gains))),
                             decoy.y1_lower if decoy else float("nan"), decoy.e1_upper if decoy else float("nan"),
                             result.leakage_bits, result.secret_key_bits, result.key_rate_bits_per_pulse,
                             result.key_rate_bits_per_s, bool(result.aborted),
                             result.eve_known_fraction if result.eve_known_fraction is not None else float("nan"),
                             t_pulses - t0, t_sift - t_pulses, t_est - t_sift, t_key - t_est,
                             *_finite_columns(result.finite_key), *_postprocess_columns(result.postprocess),
                             _binomial_se(counts.errors[0], counts.sifted[0])))
            else:
                pairs, coincidences, sifted, errors = counts
                qber, key, aborted = result
                rows.append((distance_km, index, a, b, block, pairs, coincidences, 0, 0, sifted,
                             qber if qber is not None else float("nan"), float("nan"),
                             qber if qber is not None else float("nan"), float("nan"), float("nan"),
                             coincidences / pairs if pairs else float("nan"), float("nan"), float("nan"),
                             float("nan"), float("nan"), 0.0, key, key / pairs if pairs else 0.0, float("nan"),
                             bool(aborted), float("nan"), t_pulses - t0, t_sift - t_pulses, t_est - t_sift,
                             t_key - t_est, *_finite_columns(None), *_postprocess_columns(None),
                             _binomial_se(errors, sifted)))
    return rows


BLOCK_FIELDS = [("distance_km", "f8"), ("link", "i8"), ("node_a", "i8"), ("node_b", "i8"), ("block", "i8"),
                ("pulses", "i8"), ("detections_signal", "i8"), ("detections_decoy", "i8"),
                ("detections_vacuum", "i8"), ("sifted_bits", "i8"), ("qber_z_signal", "f8"),
                ("qber_x_signal", "f8"), ("qber_signal", "f8"), ("qber_decoy", "f8"), ("qber_vacuum", "f8"),
                ("gain_signal", "f8"), ("gain_decoy", "f8"), ("gain_vacuum", "f8"), ("y1_lower", "f8"),
                ("e1_upper", "f8"), ("leakage_bits", "f8"), ("secret_key_bits", "i8"),
                ("key_rate_bits_per_pulse", "f8"), ("key_rate_bits_per_s", "f8"), ("aborted", "?"),
                ("eve_known_fraction", "f8"), ("time_pulses_ps", "i8"), ("time_sifting_ps", "i8"),
                ("time_estimation_ps", "i8"), ("time_key_ps", "i8"), ("finite_key_bits_x", "i8"),
                ("finite_vacuum_lower", "f8"), ("finite_single_photon_lower", "f8"),
                ("finite_phase_error_upper", "f8"), ("ec_key_bits", "i8"), ("ec_f_measured", "f8"),
                ("ec_rounds", "i8"), ("ec_residual_errors", "i8"), ("ec_verified", "?"), ("final_keys_equal", "?"),
                ("classical_bits", "i8"), ("qber_signal_standard_error", "f8")]


def _rate_standard_error(blocks) -> float:
    """Standard error of a link's key rate per pulse from the spread of its blocks' rates.

    ``std(r_b) / sqrt(k)`` over the k >= 2 blocks' rates r_b = key bits / pulses (equal-size
    blocks; the last may be shorter); NaN with one block (no spread to measure).
    """
    rates = []
    for row in blocks:
        counts, result = row[6], row[7]
        pulses = sum(counts.sent) if isinstance(counts, BlockCounts) else counts[0]
        key = result.secret_key_bits if isinstance(counts, BlockCounts) else result[1]
        if pulses:
            rates.append(key / pulses)
    if len(rates) < 2:
        return float("nan")
    return float(np.std(rates, ddof=1) / math.sqrt(len(rates)))


def _binomial_se(errors: int, total: int) -> float:
    """Standard error sqrt(q(1-q)/n) of an error fraction q = errors/n (NaN without n)."""
    if not total:
        return float("nan")
    q = errors / total
    return math.sqrt(q * (1.0 - q) / total)


def _postprocess_columns(done) -> tuple:
    """The post-processing columns of a block row (zeros / NaN when leakage was modelled)."""
    if done is None:
        return 0, float("nan"), 0, 0, False, False, 0
    return (done.num_bits, done.f_ec_measured, done.rounds, done.residual_errors, done.verified, done.keys_equal,
            done.message_bits)


def _finite_columns(finite) -> tuple:
    """The finite-key columns of a block row (NaN / 0 for an asymptotic block)."""
    if finite is None:
        return 0, float("nan"), float("nan"), float("nan")
    return finite.num_key_bits, finite.vacuum_lower, finite.single_photon_lower, finite.phase_error_upper


def run_job(job, *, comm, backend, on_progress=None, checkpointing=None) -> ScenarioOutput:
    """Run a ``qkd`` job (collective): every distance of the sweep, every link of the network."""
    started = time.perf_counter()
    q = job.qkd
    distances = job.distances_km() if q.sweep is not None else [None]
    block_rows, sweep_rows, end_rows = [], [], []
    chsh = None
    timeline = None
    engine = None
    for step, distance in enumerate(distances):
        run = run_network(job, comm=comm, backend=backend, distance_km=distance, checkpointing=checkpointing)
        engine = run["engine"]
        if timeline is None:
            timeline = run["timeline"]
        physics = run["physics"]
        label = distance if distance is not None else physics[0].distance_km
        block_rows += _block_rows(run, label, q.protocol)
        for p in physics:
            tally = run["tallies"][p.link_index]
            rate = tally.key_bits / tally.pulses if tally.pulses else 0.0
            qber = tally.errors / tally.sifted if tally.sifted else float("nan")
            qber_se = math.sqrt(qber * (1.0 - qber) / tally.sifted) if tally.sifted else float("nan")
            sweep_rows.append((p.distance_km, p.link_index, p.alice, p.bob, p.total_transmittance, tally.pulses,
                               tally.key_bits, rate, rate * q.source.source_rate_hz, qber,
                               plob_bound(p.channel.fibre_transmittance), _theory_rate_per_pulse(job, p),
                               tally.aborted_blocks, tally.done_ps, qber_se, plob_bound(p.total_transmittance),
                               _rate_standard_error(tally.blocks)))
            if tally.chsh_counts is not None:
                s_value, s_error = entangled.chsh_from_counts(tally.chsh_counts)
                chsh = (s_value, s_error)
        end_rows += _end_to_end(job, run, label)
        if on_progress:
            on_progress(step + 1, len(distances), "distances")
    tables = {
        "blocks": record_table(block_rows, BLOCK_FIELDS),
        "sweep" if q.sweep is not None else "links": record_table(sweep_rows, [
            ("distance_km", "f8"), ("link", "i8"), ("node_a", "i8"), ("node_b", "i8"), ("transmittance", "f8"),
            ("pulses", "i8"), ("secret_key_bits", "i8"), ("key_rate_bits_per_pulse", "f8"),
            ("key_rate_bits_per_s", "f8"), ("qber_signal", "f8"), ("plob_bits_per_pulse", "f8"),
            ("theory_bits_per_pulse", "f8"), ("aborted_blocks", "i8"), ("simulated_time_ps", "i8"),
            ("qber_signal_standard_error", "f8"), ("plob_with_detectors_bits_per_pulse", "f8"),
            ("key_rate_standard_error_bits_per_pulse", "f8")]),
        "end_to_end": record_table(end_rows, [("distance_km", "f8"), ("node_a", "i8"), ("node_b", "i8"),
                                              ("secret_key_bits", "i8"), ("key_rate_bits_per_s", "f8")]),
        "timing": record_table([("run", time.perf_counter() - started)], [("stage", "U"), ("seconds", "f8")]),
    }
    table_attrs: dict[str, dict] = {}  # every unit is in a column's name (dqsim.io.units)
    if timeline is not None and comm.rank == 0:
        tables["timeline"] = record_table([(t, f"node{n}", k, d) for t, n, k, d in timeline],
                                          [("time_ps", "i8"), ("node", "U"), ("kind", "U"), ("detail", "U")])
    total_pulses = int(sum(r[5] for r in sweep_rows))
    total_key = int(sum(r[6] for r in sweep_rows))
    aborted = any(r[12] > 0 for r in sweep_rows)
    attrs = {"protocol": q.protocol, "pulses_per_link": q.pulses, "total_pulses": total_pulses,
             "total_secret_key_bits": total_key, "aborted": aborted, "num_links": len(run["links"]),
             "num_distances": len(distances), "engine_windows": engine.num_windows,
             "engine_messages": engine.num_messages,
             "pulses_per_wall_second": total_pulses / max(time.perf_counter() - started, 1e-9)}
    if chsh is not None:
        attrs["chsh_s"], attrs["chsh_standard_error"] = chsh
    warnings = _decoy_warnings(block_rows) if q.protocol == "bb84_decoy" else []
    if warnings:
        attrs["warnings"] = "; ".join(warnings)
    summary = [f"  {q.protocol}: {len(distances)} distance(s) × {len(run['links'])} link(s), "
               f"{total_pulses:,} pulses, {total_key:,} secret key bits"
               + ("; ABORTED (QBER above threshold)" if aborted else "")]
    for r in sweep_rows[:12]:
        summary.append(f"  {r[0]:7.1f} km link {r[1]}: QBER {r[9]:.4f} ± {r[14]:.4f}, key {r[7]:.3e} bits/pulse "
                       f"({r[8]:.3e} bits/s), PLOB {r[10]:.3e}")
    if chsh is not None:
        summary.append(f"  CHSH S = {chsh[0]:.4f} ± {chsh[1]:.4f}")
    summary += [f"  WARNING: {w}" for w in warnings[:4]]
    for r in end_rows[:4]:
        if len(run["links"]) > 1:
            summary.append(f"  end to end node{r[1]}–node{r[2]}: {r[3]:,} bits ({r[4]:.3e} bits/s)")
    return ScenarioOutput(attrs, tables, table_attrs, None, summary)


#: Fewest weak-decoy detections per block for which Y1's bound is trusted without a warning
#: (relative standard error of the decoy gain 1/sqrt(n) at most 10 %).
MIN_DECOY_DETECTIONS = 100


def _decoy_warnings(block_rows) -> list[str]:
    """One line per block whose key rests on too few decoy detections to bound Y1 reliably."""
    fields = [name for name, _ in BLOCK_FIELDS]
    at = {name: fields.index(name) for name in ("distance_km", "link", "block", "detections_decoy",
                                                 "secret_key_bits")}
    return [f"{r[at['distance_km']]:g} km link {r[at['link']]} block {r[at['block']]}: "
            f"{r[at['secret_key_bits']]} key bits from {r[at['detections_decoy']]} decoy detections "
            f"(< {MIN_DECOY_DETECTIONS}: the Y1 bound has a relative error > 10 %, the key is not reliable)"
            for r in block_rows if r[at["detections_decoy"]] < MIN_DECOY_DETECTIONS and r[at["secret_key_bits"]] > 0]


def _end_to_end(job, run, distance_km) -> list[tuple]:
    """Trusted-relay keys: the smallest link key on the route between two end nodes."""
    links = run["links"]
    key = {(min(a, b), max(a, b)): run["tallies"][i].key_bits for i, (a, b, _) in enumerate(links)}
    done = max(t.done_ps for t in run["tallies"].values())
    seconds = done / PS_PER_S if done else float("nan")
    num_nodes = 1 + max(max(a, b) for a, b, _ in links)
    if job.qkd.network is not None and job.qkd.network.topology == "star":
        pairs = [(i, j) for i in range(1, num_nodes) for j in range(i + 1, num_nodes)]
    else:
        pairs = [(0, num_nodes - 1)]
    graph = _graph(links, num_nodes)
    rows = []
    for a, b in pairs:
        route = nx.shortest_path(graph, a, b)
        bits = min(key[(min(u, v), max(u, v))] for u, v in zip(route, route[1:]))
        rows.append((distance_km, a, b, bits, bits / seconds if seconds else float("nan")))
    return rows
