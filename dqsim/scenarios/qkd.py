"""The ``qkd`` scenario: key distribution over fibre links on the event engine.

Every link ``(a, b)`` runs two processes, Alice on node ``a`` and Bob on node
``b`` (nodes on ranks as for ``dqc``; the lookahead is the smallest delay of
a link between ranks). The processes and their messages are those of
:mod:`dqsim.protocols.qkd.nodes`; this module builds their
:class:`~dqsim.protocols.qkd.nodes.QkdPlan` and each link's
:class:`~dqsim.protocols.qkd.nodes.LinkPhysics` from the job, runs them, and
turns their tallies into tables.

Memory is bounded by a batch in flight per link, whatever ``pulses`` is.
Randomness: pulse ``i`` depends on (seed, node, i) only, so results do not
depend on the batch size or the number of ranks.

A sweep runs the whole network once per distance. A network of several links
relays keys through trusted nodes (XOR of link keys), so the end-to-end key
between two nodes is the smallest link key on the route between them.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from dqsim.engine import Simulator
from dqsim.engine import checkpoint
from dqsim.engine.process import ResumableProcess
from dqsim.jobs.qkd import METRES_HINT_KM
from dqsim.network import raman
from dqsim.network.detectors import dark_count_probability, dead_time_pulses
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.network.fibre import fibre_transmittance, propagation_delay_ps, total_transmittance
from dqsim.network.werner import plob_bound
from dqsim.protocols.qkd import decoy_spread, entangled, nodes, spdc, theory
from dqsim.protocols.qkd.bb84 import ChannelModel, DecoySource, DetectorModel, EveModel
from dqsim.protocols.qkd.nodes import LinkPhysics, QkdPlan
from dqsim.protocols.qkd.entangled_block import entangled_finite_key_rates, entangled_no_key_reason
from dqsim.protocols.qkd.finite_key import ChshFiniteKeyResult, EntangledFiniteKeyResult
from dqsim.protocols.qkd.postprocess import finite_key_rates, no_key_reason
from dqsim.scenarios import qkd_auth, qkd_relay
from dqsim.scenarios.output import (WRITING_RANK, RecordPieces, ScenarioOutput, format_stderr, record_table,
                                    standard_error)
from dqsim.units import PS_PER_S, db_to_transmittance


class Bb84AliceBlockProcess(nodes.Bb84AliceBlock, ResumableProcess):
    """:class:`~dqsim.protocols.qkd.nodes.Bb84AliceBlock` (one key block's post-processing) as an engine process."""


class Bb84BobBlockProcess(nodes.Bb84BobBlock, ResumableProcess):
    """:class:`~dqsim.protocols.qkd.nodes.Bb84BobBlock` as an engine process."""


class EntangledAliceBlockProcess(nodes.EntangledAliceBlock, ResumableProcess):
    """:class:`~dqsim.protocols.qkd.nodes.EntangledAliceBlock` as an engine process."""


class EntangledBobBlockProcess(nodes.EntangledBobBlock, ResumableProcess):
    """:class:`~dqsim.protocols.qkd.nodes.EntangledBobBlock` as an engine process."""


class Bb84AliceProcess(nodes.Bb84Alice, ResumableProcess):
    """:class:`~dqsim.protocols.qkd.nodes.Bb84Alice` as a checkpointable engine process."""

    block_process = Bb84AliceBlockProcess


class Bb84BobProcess(nodes.Bb84Bob, ResumableProcess):
    """:class:`~dqsim.protocols.qkd.nodes.Bb84Bob` as a checkpointable engine process."""

    block_process = Bb84BobBlockProcess


class EntangledAliceProcess(nodes.EntangledAlice, ResumableProcess):
    """:class:`~dqsim.protocols.qkd.nodes.EntangledAlice` as a checkpointable engine process."""

    block_process = EntangledAliceBlockProcess


class EntangledBobProcess(nodes.EntangledBob, ResumableProcess):
    """:class:`~dqsim.protocols.qkd.nodes.EntangledBob` as a checkpointable engine process."""

    block_process = EntangledBobBlockProcess


#: The keys that set a QKD run's simulated time, for the engine's one line when a run would pass its clock limit,
#: 2**61 ps (:meth:`dqsim.engine.Simulator.refuse_past_clock`); a block whose Cascade would pass it names the
#: classical bit rate it needs (:func:`dqsim.protocols.qkd.nodes._check_cascade_end`).
CLOCK_ADVICE = ("lower [qkd].pulses, or raise [qkd.source].source_rate_hz or [qkd].classical_bit_rate_hz, or shorten "
                "the links")


def _pair_source(job) -> entangled.EntangledSource:
    s = job.qkd.source
    return entangled.EntangledSource(pair_rate_hz=s.source_rate_hz, werner=s.werner, position=s.position,
                                     mean_pair_number=s.mean_pair_number, z_basis_probability=s.z_basis_probability)


def build_plan(job) -> QkdPlan:
    """The processes' shared plan from a validated ``qkd`` job."""
    q = job.qkd
    s = q.source
    bb84 = q.protocol == "bb84_decoy"
    source = DecoySource(intensities=tuple(s.intensities), probabilities=tuple(s.probabilities),
                         z_basis_probability=s.z_basis_probability, source_rate_hz=s.source_rate_hz) if bb84 else None
    pair_source = None if bb84 else _pair_source(job)
    return QkdPlan(protocol=q.protocol, seed=job.run.seed, pulses=q.pulses, block_pulses=q.block_pulses,
                   batch_pulses=q.batch_pulses, source=source, entangled_source=pair_source, sampling=q.sampling,
                   error_correction=q.error_correction, cascade_order=q.cascade_order, security=q.security,
                   eps_sec=q.eps_sec, eps_cor=q.eps_cor, f_ec=q.f_ec, qber_threshold=q.qber_threshold, sample_fraction=q.sample_fraction,
                   classical_bit_rate_hz=q.classical_bit_rate_hz, ldpc_mode=q.ldpc_mode,
                   max_blocks_in_postprocessing=q.max_blocks_in_postprocessing, authentication=q.authentication,
                   eps_auth=q.eps_auth)


def raman_noise_probability(job, distance_km: float, side: str = "bob") -> float:
    """Noise click probability per gate and detector from the classical channels on the fibre.

    A ``"co"`` channel is launched at Alice's end and travels towards Bob
    (with BB84's photons), a ``"counter"`` one the other way. The receiver at
    the far end of a channel (``side``) sees its forward Raman light, the one
    at its launching end its backward light (Eraerds et al., NJP 12, 063027
    (2010); :mod:`dqsim.network.raman`): BB84's Bob the forward light of
    "co" and the backward light of "counter"; BBM92/E91's Alice, who
    measures too, the other one. The power is turned into detected photons
    per gate, split evenly over the two detectors of the measured basis,
    then into a click probability.
    """
    link = job.qkd.link
    mean_counts = 0.0
    for ch in job.qkd.classical_channels:
        kwargs = dict(filter_bandwidth_nm=ch.filter_bandwidth_nm, attenuation_db_per_km=link.attenuation_db_per_km)
        if ch.raman_cross_section_per_km_per_nm is not None:
            kwargs["raman_cross_section_per_km_per_nm"] = ch.raman_cross_section_per_km_per_nm
        forward = (ch.direction == "co") == (side == "bob")  # the channel runs towards this side
        power = (raman.raman_forward_power_w if forward else raman.raman_backward_power_w)(
            ch.launch_power_dbm, distance_km, **kwargs)
        power *= db_to_transmittance(link.coupling_loss_db)
        mean_counts += raman.raman_noise_counts_per_gate(
            power, detector_efficiency=link.detector_efficiency, gate_width_ps=link.gate_width_ps,
            wavelength_nm=ch.wavelength_nm)
    return raman.raman_noise_click_probability(mean_counts / 2.0) if mean_counts > 0 else 0.0


def link_physics(job, index: int, a: int, b: int, distance_km: float) -> LinkPhysics:
    """Channel, detector, Eve and noise of link ``index`` from the job's ``[qkd.link]``; Eve only where
    ``[qkd.eve]`` attacks that link (:meth:`dqsim.jobs.qkd.QkdSection.eve_attacks`: every link by default)."""
    link, source = job.qkd.link, job.qkd.source
    blind_pulses = dead_time_pulses(link.dead_time_ps, source.source_rate_hz)
    detector = DetectorModel(
        efficiency=link.detector_efficiency,
        dark_count_probability=dark_count_probability(link.dark_count_rate_hz, link.gate_width_ps),
        misalignment=link.misalignment, dead_time_pulses=blind_pulses,
        afterpulse_probability=link.afterpulse_probability)
    channel = ChannelModel(fibre_transmittance=fibre_transmittance(distance_km, link.attenuation_db_per_km),
                           coupling_transmittance=db_to_transmittance(link.coupling_loss_db))
    eve = None
    if job.qkd.eve_attacks(index):
        tap_km = job.qkd.eve.distance_km  # BB84: from Alice; BBM92/E91: from the source, on Bob's arm
        if job.qkd.protocol != "bb84_decoy":
            tap_km += source.position * distance_km
        position = tap_km / distance_km if distance_km > 0 else 0.0
        eve = EveModel(attack=job.qkd.eve.attack, fraction=job.qkd.eve.fraction, basis=job.qkd.eve.basis,
                       position=min(max(position, 0.0), 1.0))
    delay = max(1, propagation_delay_ps(distance_km, link.group_index))
    eta = total_transmittance(distance_km, link.attenuation_db_per_km, link.coupling_loss_db,
                              link.detector_efficiency)
    arms = (1.0, 1.0)
    if job.qkd.protocol != "bb84_decoy":
        t_a, t_b = entangled.arm_transmittances(_pair_source(job), distance_km, link.attenuation_db_per_km)
        arms = (t_a * channel.coupling_transmittance, t_b * channel.coupling_transmittance)
    alice_noise = None if job.qkd.protocol == "bb84_decoy" else raman_noise_probability(job, distance_km, "alice")
    return LinkPhysics(index, a, b, distance_km, delay, channel, detector, eve,
                       raman_noise_probability(job, distance_km), eta, arms, alice_noise)


def links_physics(job, links) -> list[LinkPhysics]:
    """:func:`link_physics` of every link ``(a, b, distance_km)`` of ``links``, worked out once per distinct length
    and Eve (attacked or not: ``[qkd.eve].links``): the links alike share their channel, detector and Eve (frozen),
    and each has its own indices only. Every rank builds them all (the tables' rows); a 65,536-link chain of one
    length took ~0.4 kB and 90 µs of models a link before 2026-12-07 (later that day)."""
    alike: dict[tuple[float, bool], LinkPhysics] = {}
    physics = []
    for index, (a, b, distance_km) in enumerate(links):
        kind = (distance_km, job.qkd.eve_attacks(index))
        model = alike.get(kind)
        if model is None:
            model = alike[kind] = link_physics(job, index, a, b, distance_km)
        physics.append(dataclasses.replace(model, link_index=index, alice=a, bob=b))
    return physics


# ----------------------------------------------------------------------- one network run
def _tree_route(star: bool, a: int, b: int) -> list[int]:
    """The only route from node ``a`` to node ``b`` of a trusted-node chain (nodes 0, 1, ... in a line), or between
    two outer nodes of a star (through its centre, node 0): what networkx's ``shortest_path`` found on the
    network's graph until 2026-12-07, without the graph."""
    return [a, 0, b] if star else list(range(a, b + 1)) if a <= b else list(range(a, b - 1, -1))


def _progress_units(job, num_distances: int) -> tuple[int, str]:
    """What a ``qkd`` run's progress counts, ``(units per distance, label)``: for a ``[qkd.network]``, whose links
    run at once, the pulses sent on each link (``pulses sent on each of 3 links (40%)``), else the distances. Before
    2026-12-07 (late night) a network's lines read ``distances 1/1`` (userwalk3 D6)."""
    if job.qkd.network is not None and num_distances == 1:
        return job.qkd.pulses, f"pulses sent on each of {len(job.qkd.network_links())} links"
    return 1, "distances"


def run_network(job, *, comm, backend, distance_km: float | None = None, checkpointing=None,
                on_window=None) -> dict:
    """Run every link of the job's network once (collective); returns per-link tallies (``"tallies"``) on the rank
    that writes the run file, ``None`` on the others (:func:`_gathered_tallies`).

    ``on_window(time_ps, num_windows, fraction)`` is the engine's call on rank 0 after each exchange.
    """
    links = job.qkd.network_links(distance_km) if distance_km is not None or job.qkd.sweep is None \
        else job.qkd.network_links(job.distances_km()[0])
    stored = checkpointing.stored_next() if checkpointing is not None else None
    if stored is not None:  # this distance was done when the checkpoint being resumed was written
        nodes.refuse_waiting_source_tallies(stored["tallies"].values())
        for tally in stored["tallies"].values():
            nodes.refuse_old_e91_finite_key(job.qkd.protocol, [row[7] for row in tally.blocks])
        if job.qkd.protocol in ("bbm92", "e91"):
            nodes.refuse_old_spdc_source(job.qkd.source.mean_pair_number, stored["tallies"].values())
        else:  # BB84: blocks whose decoy bound was taken before the two-decoy bound
            nodes.refuse_old_decoy_bound(build_plan(job).source, [(row[6], row[7]) for tally in
                                                                  stored["tallies"].values() for row in tally.blocks])
        return stored if comm.rank == WRITING_RANK else {**stored, "tallies": None}  # (the writer's, on resume)
    checkpointer = checkpoint.engine_checkpointer(checkpointing, comm)
    physics = links_physics(job, links)
    qlink = job.qkd.link
    specs: dict[float, LinkSpec] = {}  # one per distinct length, shared by its links
    for p in physics:
        if p.distance_km not in specs:
            specs[p.distance_km] = LinkSpec(
                distance_km=p.distance_km, attenuation_db_per_km=qlink.attenuation_db_per_km,
                coupling_loss_db=qlink.coupling_loss_db, group_index=qlink.group_index,
                detector_efficiency=qlink.detector_efficiency, dark_count_rate_hz=qlink.dark_count_rate_hz,
                dead_time_ps=qlink.dead_time_ps, gate_width_ps=qlink.gate_width_ps,
                source_rate_hz=job.qkd.source.source_rate_hz)
    names = job.qkd.node_name_sequence()  # no string per node (nor a NodeSpec: one, renamed when read)
    network = Network.from_links(NodeSpec(name=names[0]).renamed_all(names),
                                 [(p.alice, p.bob, specs[p.distance_km]) for p in physics],
                                 num_ranks=comm.size, min_link_delay_ps=1)  # a message takes >= 1 ps (delay_ps)
    placement = network.placement.tolist()
    sim = Simulator(network, comm=comm, state=None, qubit_owner=[], seed=job.run.seed, record_timeline=True,
                    checkpointer=checkpointer, backend=backend, on_window=on_window, clock_advice=CLOCK_ADVICE)
    plan = build_plan(job)
    bb84 = plan.protocol == "bb84_decoy"
    for p in physics:
        sim.spawn(p.alice, (Bb84AliceProcess if bb84 else EntangledAliceProcess)(plan, p))
        sim.spawn(p.bob, (Bb84BobProcess if bb84 else EntangledBobProcess)(plan, p))
    stats = sim.run()
    mine = {proc.phys.link_index: proc.tally for proc in sim.processes() if isinstance(proc, (nodes.Bb84Alice,
                                                                                             nodes.EntangledAlice))}
    result = {"links": links, "physics": physics, "tallies": _gathered_tallies(mine, comm), "engine": stats,
              "timeline": sim.gather_timeline(), "placement": placement}
    if checkpointing is not None:
        checkpointing.store_last(result)
        checkpointing.finished_run = sim.stop_point  # run_job's tables and the output write stop through it
    return result


def _gathered_tallies(mine: dict, comm) -> dict | None:
    """Collective: every link's tally ``{link index: tally}`` on the rank that writes the run file
    (:data:`~dqsim.scenarios.output.WRITING_RANK`), which alone makes the tables, attributes and summary
    (:func:`run_job`); ``None`` on the others. Until 2026-12-07 (afternoon) every rank gathered them all
    (``allgather``): ~15 kB a link on each of two ranks at 65,536 nodes
    (``bench/results/qkd-network-gather-vm-20261207p.md``)."""
    parts = comm.gather(mine, root=WRITING_RANK)
    if parts is None:
        return None
    merged = {}
    for part in parts:
        merged.update(part)
    return merged


# ------------------------------------------------------------------------ outputs
def _pair_channel(job, phys: LinkPhysics) -> dict:
    """The channel of a BBM92/E91 link as :func:`dqsim.protocols.qkd.spdc.pair_statistics` takes it."""
    return dict(transmittance_alice=phys.arm_transmittances[0], transmittance_bob=phys.arm_transmittances[1],
                efficiency=phys.detector.efficiency, misalignment=phys.detector.misalignment,
                dark_count_probability=phys.dark_count_probabilities(),
                werner=job.qkd.source.werner)


def _spdc_optimum(job, phys: LinkPhysics) -> tuple[float, float]:
    """(μ*, key bits per slot at μ*) of an SPDC source on a BBM92/E91 link; NaN for BB84."""
    if job.qkd.protocol == "bb84_decoy":
        return float("nan"), float("nan")
    return spdc.optimal_mean_pair_number(protocol=job.qkd.protocol, f_ec=job.qkd.f_ec,
                                         z_basis_probability=job.qkd.source.z_basis_probability,
                                         **_pair_channel(job, phys))


def slot_word(protocol: str) -> str:
    """What one of ``[qkd].pulses`` is called in summaries: ``"pulse"`` (BB84's weak coherent
    pulses) or ``"pair slot"`` (BBM92/E91: a time slot of the pair source)."""
    return "pulse" if protocol == "bb84_decoy" else "pair slot"


def _theory_rate_per_pulse(job, phys: LinkPhysics) -> float:
    if job.qkd.protocol != "bb84_decoy":
        return spdc.spdc_key_rate(job.qkd.source.mean_pair_number, protocol=job.qkd.protocol, f_ec=job.qkd.f_ec,
                                  z_basis_probability=job.qkd.source.z_basis_probability, **_pair_channel(job, phys))
    link, source = job.qkd.link, job.qkd.source
    per_signal = theory.theoretical_key_rate(
        phys.distance_km, attenuation_db_per_km=link.attenuation_db_per_km, coupling_loss_db=link.coupling_loss_db,
        detector_efficiency=link.detector_efficiency, dark_count_probability=phys.detector.dark_count_probability,
        noise_probability=phys.noise_probability, misalignment=link.misalignment, intensity=source.intensities[0],
        f_ec=job.qkd.f_ec, sifting_factor=theory.bb84_sifting_factor(source.z_basis_probability))
    return per_signal * source.probabilities[0]


def _block_rows(run, q, auth_of):
    """One row per key block of every link; ``distance_km`` is the block's own link's length.

    ``auth_of``: each link's blocks' ``(classical messages, tags)``
    (:func:`dqsim.scenarios.qkd_auth.link_authentication`).
    """
    rows = []
    protocol, qber_threshold = q.protocol, q.qber_threshold
    for index, tally in sorted(run["tallies"].items()):
        a, b, distance_km = run["links"][index]
        for k, (block, t0, t_pulses, t_sift, t_est, t_key, counts, result) in enumerate(tally.blocks):
            auth_columns = qkd_auth.block_columns(q, auth_of[index][k], result.secret_key_bits,
                                                  qkd_auth.block_pulses(q, block))
            times = (t0, t_key, tally.waits_ps.get(block, 0))  # block_start_ps, key_ready_ps, source_wait_ps
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
                             _binomial_se(counts.errors[0], counts.sifted[0]), _nan(result.qber_estimate),
                             result.qber_estimate_standard_error, result.num_estimation_bits, no_key_reason(result),
                             *(result.phase_error_upper[::-1] if result.phase_error_upper else (float("nan"),) * 2),
                             result.single_photon_secrecy_bits if decoy and result.finite_key is None
                             else float("nan"),  # the asymptotic secrecy; a finite-key block's is Lim et al.'s
                             float("nan"), float("nan"), float("nan"), *auth_columns, *times))
            else:
                pairs, sample = counts.num_pairs, result.estimate
                # BBM92: the Z–Z and X–X bits' QBERs; E91's key settings are not Z and X (both its QBER)
                per_basis = [e / n if n else float("nan")
                             for e, n in zip(counts.key_pair_errors, counts.key_pair_sifted)] \
                    if protocol == "bbm92" else [_nan(result.qber), float("nan")]
                rows.append((distance_km, index, a, b, block, pairs, counts.num_coincidences, 0, 0, counts.num_sifted,
                             *per_basis, _nan(result.qber), float("nan"), float("nan"),
                             counts.num_coincidences / pairs if pairs else float("nan"), float("nan"), float("nan"),
                             float("nan"), float("nan"), result.leakage_bits, result.secret_key_bits,
                             result.key_rate_bits_per_pulse, result.key_rate_bits_per_s, bool(result.aborted),
                             counts.eve_known_fraction, t_pulses - t0, t_sift - t_pulses, t_est - t_sift, t_key - t_est,
                             *_finite_columns(result.finite_key), *_postprocess_columns(result.postprocess),
                             _binomial_se(counts.num_errors, counts.num_sifted), _nan(sample.qber),
                             sample.standard_error, sample.num_sampled,
                             entangled_no_key_reason(result, protocol, qber_threshold), float("nan"), float("nan"),
                             float("nan"), *(result.chsh or (float("nan"), float("nan"))),
                             _chsh_lower(result.finite_key), *auth_columns, *times))
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
                ("classical_bits", "i8"), ("ec_frames", "i8"), ("ec_frame_errors", "i8"),
                ("qber_signal_standard_error", "f8"), ("qber_estimated", "f8"),
                ("qber_estimated_standard_error", "f8"), ("estimation_bits", "i8"), ("no_key_reason", "U"),
                ("e1_upper_z", "f8"), ("e1_upper_x", "f8"), ("single_photon_secrecy_bits", "f8"),
                ("chsh_value", "f8"), ("chsh_standard_error", "f8"),  # E91: the block's S, which its key uses
                ("chsh_lower", "f8"),  # E91 finite key: the Hoeffding lower bound S_low its key uses
                *qkd_auth.BLOCK_AUTH_FIELDS,  # the key spent on authentication and the key left
                ("block_start_ps", "i8"), ("key_ready_ps", "i8"),  # when its emission began; when its key exists
                ("source_wait_ps", "i8")]  # the source's wait before it (max_blocks_in_postprocessing blocks open)


#: Column index of each ``blocks`` field in a row.
BLOCK_FIELD_INDEX = {name: i for i, (name, _type) in enumerate(BLOCK_FIELDS)}


def _rate_standard_error(blocks) -> float:
    """Standard error of a link's key rate per pulse from the spread of its blocks' rates.

    ``std(r_b) / sqrt(k)`` over the k >= 2 blocks' rates r_b = key bits / pulses (equal-size
    blocks; the last may be shorter); NaN with one block (no spread to measure).
    """
    rates = [row[7].secret_key_bits / row[7].num_pulses_sent for row in blocks if row[7].num_pulses_sent]
    return standard_error(rates)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _binomial_se(errors: int, total: int) -> float:
    """Standard error sqrt(q(1-q)/n) of an error fraction q = errors/n (NaN without n)."""
    if not total:
        return float("nan")
    q = errors / total
    return math.sqrt(q * (1.0 - q) / total)


def _postprocess_columns(done) -> tuple:
    """The post-processing columns of a block row (zeros / NaN when leakage was modelled)."""
    if done is None:
        return 0, float("nan"), 0, 0, False, False, 0, 0, 0
    return (done.num_bits, done.f_ec_measured, done.rounds, done.residual_errors, done.verified, done.keys_equal,
            done.message_bits, done.frames, done.frame_errors)


def _finite_columns(finite) -> tuple:
    """The finite-key columns of a block row (NaN / 0 for an asymptotic block).

    BBM92 (Tomamichel et al. 2012) and E91 (the CHSH bound) have no decoy
    bounds: NaN there; BBM92's ``finite_phase_error_upper`` is Q_tol + μ, E91
    bounds no phase error rate (NaN; its S_low is in ``chsh_lower``).
    """
    if finite is None:
        return 0, float("nan"), float("nan"), float("nan")
    if isinstance(finite, EntangledFiniteKeyResult):
        return finite.num_key_bits, float("nan"), float("nan"), finite.phase_error_upper
    if isinstance(finite, ChshFiniteKeyResult):
        return finite.num_key_bits, float("nan"), float("nan"), float("nan")
    return finite.num_key_bits, finite.vacuum_lower, finite.single_photon_lower, finite.phase_error_upper


def _chsh_lower(finite) -> float:
    """The ``chsh_lower`` column: E91's finite-key S_low, NaN for any other block."""
    return finite.chsh_lower if isinstance(finite, ChshFiniteKeyResult) else float("nan")


#: Block sizes (pulses) of the finite-key curve of a run: 10^5 .. 10^14, four per decade.
CURVE_BLOCK_PULSES = tuple(10.0 ** (5 + k / 4) for k in range(37))


def _block_size_rows(job, tally, distance_km, link_index) -> list[tuple]:
    """Key rate against block size at the link's measured statistics (finite key; BB84: ``finite_key_rates``,
    BBM92/E91: ``entangled_finite_key_rates``)."""
    counts = None
    for row in tally.blocks:
        counts = row[6] if counts is None else counts + row[6]
    if counts is None or not tally.pulses:
        return []
    q = job.qkd
    sizes = sorted(set(CURVE_BLOCK_PULSES) | {float(q.block_pulses)})
    if q.protocol == "bb84_decoy":
        rates = finite_key_rates(counts, build_plan(job).source, sizes, f_ec=q.f_ec, eps_sec=q.eps_sec,
                                 eps_cor=q.eps_cor)
    else:
        rates = entangled_finite_key_rates(counts, q.protocol, sizes, f_ec=q.f_ec, sample_fraction=q.sample_fraction,
                                           eps_sec=q.eps_sec, eps_cor=q.eps_cor, coincidences=tally.chsh_counts)
    return [(distance_km, link_index, n, r) for n, r in zip(sizes, rates)]


def num_engine_runs(job) -> int:
    """Engine runs a run of ``job`` takes: one per distance of ``[qkd.sweep]`` (every link at once), else one."""
    return len(job.distances_km()) if job.qkd.sweep is not None else 1


def run_job(job, *, comm, backend, on_progress=None, checkpointing=None) -> ScenarioOutput:
    """Run a ``qkd`` job (collective): every distance of the sweep, every link of the network.

    With ``checkpointing``, a stop signal while a distance's results are
    tabulated (looked for before and after its blocks' rows, after each
    link's finite-key curve and rows, after the end-to-end keys, at the end;
    then before and during the output write, :mod:`dqsim.cli.main`)
    checkpoints the distance's finished engine run
    (:meth:`~dqsim.engine.checkpoint.CheckpointSession.stop_point`, exit
    status 75): its resume runs no event again and redoes only this work.

    The rank that writes the run file (:data:`~dqsim.scenarios.output.WRITING_RANK`) alone holds the tallies and
    makes the tables, attributes and summary, and hands the attributes and summary to the others (the same on every
    rank); their tables are empty. Since 2026-12-07 (afternoon); every rank made every table before. The others
    wait for it without spinning and pass it a stop signal they get (:func:`writer_alone`; since 2026-12-07
    (afternoon): they waited in the stop points' reductions and a broadcast before).
    """
    started = time.perf_counter()
    stop_point = checkpoint.stop_point_of(checkpointing)
    writer = comm.rank == WRITING_RANK  # (the rank the tallies are gathered on, run_network)
    q = job.qkd
    distances = job.distances_km() if q.sweep is not None else [None]
    block_rows, sweep_rows, size_rows = [], [], []
    end_rows, relay_rows = RecordPieces(END_TO_END_FIELDS), RecordPieces(RELAY_LINKS_FIELDS)  # a star's: many
    chsh = None
    chsh_warnings, spread_warnings, auth_warnings = [], [], []
    decoy_source = build_plan(job).source if q.protocol == "bb84_decoy" and q.security == "asymptotic" else None
    timeline = None
    engine = None
    emission_ps = q.pulses * PS_PER_S / q.source.source_rate_hz  # every link emits its pulses in this time
    scale, stage = _progress_units(job, len(distances))
    for step, distance in enumerate(distances):
        def on_window(time_ps: int, _windows: int, _fraction, step=step) -> None:  # the fraction of pulses sent
            fraction = time_ps / emission_ps
            if 0 < fraction < 1:  # whole counts only when a distance is done, as before
                on_progress((step + fraction) * scale, len(distances) * scale, stage)

        run = run_network(job, comm=comm, backend=backend, distance_km=distance, checkpointing=checkpointing,
                          on_window=on_window if on_progress else None)
        engine = run["engine"]
        if timeline is None:
            timeline = run["timeline"]
        physics = run["physics"]
        stop_point()

        def distance_rows(look, run=run, physics=physics) -> tuple[dict, None]:
            """The writer: this distance's rows and warnings (``look``: its stop points)."""
            rows = {"block": [], "sweep": [], "size": [], "chsh": None,
                    "chsh_warnings": [], "spread_warnings": [], "auth_warnings": []}
            auth_of = {index: qkd_auth.link_authentication(q, tally) for index, tally in run["tallies"].items()}
            rows["block"] += _block_rows(run, q, auth_of)
            look()
            link_net = {}
            theory: dict[float, tuple] = {}  # per distinct length: the model's rate and the SPDC optimum (a search)

            def theory_of(p: LinkPhysics, theory=theory) -> tuple:
                if p.distance_km not in theory:
                    theory[p.distance_km] = (_theory_rate_per_pulse(job, p), _spdc_optimum(job, p))
                return theory[p.distance_km]

            for p in physics:
                tally = run["tallies"][p.link_index]
                link_auth = qkd_auth.link_columns(q, auth_of[p.link_index], tally.key_bits, tally.pulses, tally.blocks)
                link_net[p.link_index] = link_auth[1]
                rows["auth_warnings"] += qkd_auth.short_key_warning(f"{p.distance_km:g} km link {p.link_index}",
                                                                    q.authentication, link_auth[0], tally.key_bits)
                if decoy_source is not None:
                    rows["spread_warnings"] += _decoy_spread_warnings(tally, decoy_source, p.distance_km,
                                                                      p.link_index)
                if q.security == "finite_key":
                    rows["size"] += _block_size_rows(job, tally, p.distance_km, p.link_index)
                    look()
                link_chsh = (float("nan"), float("nan"))
                if tally.chsh_counts is not None:
                    link_chsh, missing = _chsh(tally.chsh_counts)
                    rows["chsh"] = link_chsh
                    if missing:
                        rows["chsh_warnings"].append(
                            f"{p.distance_km:g} km link {p.link_index}: CHSH S not measured, no coincidence in the "
                            f"setting pair(s) {missing} (more pairs or less loss)")
                rate = tally.key_bits / tally.pulses if tally.pulses else 0.0
                qber = tally.errors / tally.sifted if tally.sifted else float("nan")
                qber_se = math.sqrt(qber * (1.0 - qber) / tally.sifted) if tally.sifted else float("nan")
                rows["sweep"].append((p.distance_km, p.link_index, p.alice, p.bob, p.total_transmittance,
                                      tally.pulses, tally.key_bits, rate, rate * q.source.source_rate_hz, qber,
                                      plob_bound(p.channel.fibre_transmittance), theory_of(p)[0],
                                      tally.aborted_blocks, tally.done_ps, qber_se, plob_bound(p.total_transmittance),
                                      _rate_standard_error(tally.blocks), *theory_of(p)[1], *link_chsh,
                                      qber_upper_95(tally.errors, tally.sifted), *link_auth))
                look()
            ends, relays = _end_to_end(job, run, link_net)
            if len(run["links"]) > 1:
                names = job.qkd.node_name_sequence()
                for r in ends.rows():
                    rows["auth_warnings"] += qkd_auth.short_route_warning(
                        f"end to end {names[r[1]]}–{names[r[2]]}", q.authentication, r[3], r[7])
            rows["end"], rows["relay"] = ends, relays
            look()
            return rows, None

        rows, _ = writer_alone(comm, distance_rows, stop_point, checkpointing)
        if writer:  # the writer alone tabulates (its tallies) while the others wait for it (RootTask)
            block_rows += rows["block"]
            sweep_rows += rows["sweep"]
            end_rows.add(rows["end"])
            relay_rows.add(rows["relay"])
            size_rows += rows["size"]
            chsh = rows["chsh"] if rows["chsh"] is not None else chsh
            chsh_warnings += rows["chsh_warnings"]
            spread_warnings += rows["spread_warnings"]
            auth_warnings += rows["auth_warnings"]
        if on_progress:
            on_progress((step + 1) * scale, len(distances) * scale, stage)

    def output(look) -> tuple[tuple, tuple]:
        """The writer: the tables, and the attributes and summary every rank gets (``look``: its last stop point)."""
        tables, attrs, summary = _output_of(job, run, engine, distances, timeline, started, block_rows, sweep_rows,
                                            end_rows, relay_rows, size_rows, chsh, chsh_warnings, spread_warnings,
                                            auth_warnings, comm.rank)
        look()
        return tables, (attrs, summary)

    tables, (attrs, summary) = writer_alone(comm, output, stop_point, checkpointing)
    if not writer:
        return ScenarioOutput(attrs, {}, {}, None, summary)
    return ScenarioOutput(attrs, tables, {}, None, summary)


def _output_of(job, run, engine, distances, timeline, started, block_rows, sweep_rows, end_rows, relay_rows,
               size_rows, chsh, chsh_warnings, spread_warnings, auth_warnings, rank) -> tuple[dict, dict, list]:
    """The writer: the run's tables, attributes and summary lines from every distance's rows (:func:`run_job`)."""
    q = job.qkd
    tables = {
        "blocks": record_table(block_rows, BLOCK_FIELDS),
        "sweep" if q.sweep is not None else "links": record_table(sweep_rows, [
            ("distance_km", "f8"), ("link", "i8"), ("node_a", "i8"), ("node_b", "i8"), ("transmittance", "f8"),
            ("pulses", "i8"), ("secret_key_bits", "i8"), ("key_rate_bits_per_pulse", "f8"),
            ("key_rate_bits_per_s", "f8"), ("qber_signal", "f8"), ("plob_bits_per_pulse", "f8"),
            ("theory_bits_per_pulse", "f8"), ("aborted_blocks", "i8"), ("simulated_time_ps", "i8"),
            ("qber_signal_standard_error", "f8"), ("plob_with_detectors_bits_per_pulse", "f8"),
            ("key_rate_standard_error_bits_per_pulse", "f8"), ("optimal_mean_pair_number", "f8"),
            ("optimal_theory_bits_per_pulse", "f8"), ("chsh_value", "f8"), ("chsh_standard_error", "f8"),
            ("qber_signal_upper_95", "f8"), *qkd_auth.LINK_AUTH_FIELDS]),
        "end_to_end": end_rows.table(),  # a piece at a time where many (a star's pairs of leaves)
        "relay_links": relay_rows.table(),
        "timing": record_table([("run", time.perf_counter() - started)], [("stage", "U"), ("seconds", "f8")]),
    }
    if size_rows:
        tables["block_sizes"] = record_table(size_rows, [("distance_km", "f8"), ("link", "i8"),
                                                         ("block_pulses", "f8"), ("key_rate_bits_per_pulse", "f8")])
    names = job.qkd.node_name_sequence()  # the engine's names of the nodes (run_network)
    if timeline is not None and rank == 0:
        tables["timeline"] = record_table([(t, names[n], k, d) for t, n, k, d in timeline],
                                          [("time_ps", "i8"), ("node", "U"), ("kind", "U"), ("detail", "U")])
    total_pulses = int(sum(r[5] for r in sweep_rows))
    total_key = int(sum(r[6] for r in sweep_rows))
    aborted = any(r[12] > 0 for r in sweep_rows)
    attrs = {"protocol": q.protocol, "pulses_per_link": q.pulses, "total_pulses": total_pulses,
             "total_secret_key_bits": total_key, "aborted": aborted, "num_links": len(run["links"]),
             "num_distances": len(distances), "engine_windows": engine.num_windows,
             "engine_events": engine.num_events, "engine_messages": engine.num_messages,
             "pulses_per_wall_second": total_pulses / max(time.perf_counter() - started, 1e-9)}
    total_auth = int(sum(r[22] for r in sweep_rows))
    preshared = int(max((r[-1] for r in sweep_rows), default=0))  # preshared_auth_key_bits, the last column
    attrs.update(authentication=q.authentication, eps_auth=q.eps_auth, total_auth_key_bits=total_auth,
                 total_net_key_bits=int(sum(r[23] for r in sweep_rows)), preshared_auth_key_bits=preshared)
    if chsh is not None:
        attrs["chsh_s"], attrs["chsh_standard_error"] = chsh
    warning_kinds = {"decoy": _decoy_warnings(block_rows) if q.protocol == "bb84_decoy" else [],
                     "decoy spread": spread_warnings, "CHSH": chsh_warnings, "authentication": auth_warnings}
    warnings = [w for kind in warning_kinds.values() for w in kind]
    if warnings:
        attrs["warnings"] = warnings_attribute(warning_kinds)
    slot = slot_word(q.protocol)
    summary = [f"  {q.protocol}: {len(distances)} distance(s) × {len(run['links'])} link(s), "
               f"{total_pulses:,} {slot}s, {total_key:,} secret key bits"
               + (f"; ABORTED: {sum(r[12] for r in sweep_rows)} block(s), why in column no_key_reason" if aborted
                  else "")]
    if q.authentication != "none":
        tags = sum(r[BLOCK_FIELD_INDEX["auth_tags"]] for r in block_rows)
        summary.append(f"  authentication ({q.authentication}, eps_auth {q.eps_auth:g} a tag): {tags:,} tags spent "
                       f"{total_auth:,} key bits; net key {attrs['total_net_key_bits']:,} bits; pre-shared key "
                       f"needed {preshared:,} bits (the most of a link)")
    reasons = _no_key_reasons(block_rows)
    for r in sweep_rows[:SUMMARY_LINKS]:
        qber = f"QBER {r[9]:.4f} ± {format_stderr(r[14])}" if r[9] == r[9] else "QBER n/a (no sifted bit)"
        if r[9] == 0.0:  # no error seen: its plug-in s.e. is 0, the one-sided 95 % upper limit says more
            qber = f"QBER 0 (no error seen; < {r[21]:.2g} at 95 %)"
        summary.append(f"  {r[0]:7.1f} km link {r[1]}: {qber}, key {r[7]:.3e} bits/{slot} "
                       f"({r[8]:.3e} bits/s), PLOB {r[10]:.3e} bits/{slot}")
        if (r[0], r[1]) in reasons:
            summary.append(f"      no key: {reasons[r[0], r[1]]}{_loss_hint(r[0], r[4], r[5])}")
        if q.protocol != "bb84_decoy" and not math.isnan(r[17]):
            if q.source.mean_pair_number is None:  # one pair per slot: the thermal optimum is another source
                summary.append(f"      model: {r[11]:.3e} bits/{slot} for the job's source (one pair per slot); a "
                               f"thermal SPDC source would give at most {r[18]:.3e} (at μ* = {r[17]:.3g})")
            else:
                summary.append(f"      SPDC model: {r[11]:.3e} bits/{slot} at the job's μ = "
                               f"{q.source.mean_pair_number:.3g}, {r[18]:.3e} at the optimal mean pair number "
                               f"μ* = {r[17]:.3g}")
    if chsh is not None and not math.isnan(chsh[0]):
        last = " (the last row; every row's in column chsh_value)" if len(sweep_rows) > 1 else ""
        summary.append(f"  CHSH S = {chsh[0]:.4f} ± {chsh[1]:.4f}{last}")
    summary += _links_not_shown(sweep_rows, reasons, "sweep" if q.sweep is not None else "links")
    summary += [f"  WARNING: {w}" for w in warnings[:SUMMARY_WARNINGS]]
    if len(warnings) > SUMMARY_WARNINGS:
        summary.append(f"  ... and {len(warnings) - SUMMARY_WARNINGS:,} more warnings (attribute warnings)")
    for r in end_rows.head(SUMMARY_ENDS):
        if len(run["links"]) > 1:
            net = f", {r[7]:,} net of authentication" if q.authentication != "none" else ""
            summary.append(f"  end to end {names[r[1]]}–{names[r[2]]}: {r[3]:,} bits ({r[4]:.3e} bits/s){net}, at "
                           f"both ends at {r[5] / 1e9:.4g} ms")
    if len(run["links"]) > 1 and len(end_rows) > SUMMARY_ENDS:
        summary.append(f"  ... and {len(end_rows) - SUMMARY_ENDS:,} more end-to-end keys (table end_to_end)")
    return tables, attrs, summary


class _TabulationCut(Exception):
    """Raised at a look of the writer's work (:func:`writer_alone`) by a stop signal: the work is abandoned."""


def writer_alone(comm, make, stop_point, checkpointing) -> tuple:
    """Collective: ``make(look)`` on the rank that writes the run file alone, while the others wait for it without
    spinning (a :class:`dqsim.comm.RootTask`: they sleep between polls, where a blocking broadcast or the stop
    points' reductions polled in MPI: rank 1's system CPU 8.9 -> 36.9 s at 65,536 nodes, 2026-12-07 afternoon).

    ``make`` returns ``(local, shared)``: ``local`` stays on the writer, ``shared`` (picklable) goes to every rank.
    ``look()`` is a stop point of the writer's work: where ``checkpointing`` can stop the finished engine run, a
    stop signal that came to the writer, or to a waiting rank (its notice), abandons the work there; then every
    rank agrees at ``stop_point`` (collective: the checkpoint and :class:`~dqsim.engine.checkpoint.CheckpointStop`),
    and where that does not stop the run the work is made again whole. Returns ``(local, shared)`` on the writer,
    ``(None, shared)`` elsewhere.
    """
    cuttable = checkpointing is not None and checkpointing.finished_run is not None
    while True:
        task = comm.start_root_task(WRITING_RANK)
        if comm.rank == WRITING_RANK:
            try:
                local, shared = make(_writer_look(task) if cuttable else _no_look)
                cut = False
            except _TabulationCut:
                local, shared, cut = None, None, True
            task.finish((cut, shared))
        else:
            local, (cut, shared) = None, _wait_for_writer(task)
        if not cut:
            return local, shared
        stop_point()  # every rank: a stop was asked on one: the checkpoint, and CheckpointStop
        cuttable = False  # (no checkpoint now: the work again, whole)


def _writer_look(task):
    """The writer's stop point while the others wait: raise :class:`_TabulationCut` on a stop signal here or on a
    waiting rank (``task``'s notices)."""
    def look() -> None:
        if checkpoint.stop_requested() or task.notified():
            raise _TabulationCut
    return look


def _no_look() -> None:
    """A look of the writer's work where no stop can be checkpointed."""


def _wait_for_writer(task):
    """A rank that does not write: the writer's ``(cut, shared)``, telling it of a stop signal meanwhile."""
    return task.wait(notify=checkpoint.stop_requested)


#: Most warnings of one kind (decoy, decoy spread, CHSH, authentication) the run file's ``warnings`` attribute
#: lists; past them it counts the rest of that kind (a warning a link or a block: a 4,096-link chain's 9,303 made a
#: 1.4 MB attribute until 2026-12-07; a cap on all kinds together hid the authentication warnings behind the
#: decoy ones until 2026-12-07 (later)).
MAX_WARNINGS_LISTED = 64


def warnings_attribute(kinds: dict[str, list[str]]) -> str:
    """The run's ``warnings`` attribute: each kind's warnings (in ``kinds``' order) joined by ``"; "``, the first
    :data:`MAX_WARNINGS_LISTED` of each kind, then, where a kind has more, a count of the others per kind (each is
    worked out again from the tables it comes from: the ``blocks`` table's decoy detections and key bits, the
    ``links`` table's key and tags). With at most :data:`MAX_WARNINGS_LISTED` of each kind it lists them all.

    Examples:
        >>> warnings_attribute({"decoy": ["a"], "authentication": ["b"]})
        'a; b'
        >>> many = warnings_attribute({"decoy": [f"d{i}" for i in range(1066)], "CHSH": [], "authentication": ["x"]})
        >>> many.count("; "), many[many.index("d63"):]
        (65, 'd63; x; and 1,002 more decoy warnings (of 1,066) not listed (the tables hold their figures)')
    """
    shown = [w for kind in kinds.values() for w in kind[:MAX_WARNINGS_LISTED]]
    more = [f"{len(kind) - MAX_WARNINGS_LISTED:,} more {name} warnings (of {len(kind):,})"
            for name, kind in kinds.items() if len(kind) > MAX_WARNINGS_LISTED]
    if more:
        shown.append(f"and {', '.join(more)} not listed (the tables hold their figures)")
    return "; ".join(shown)


def _loss_hint(distance_km: float, transmittance: float, pulses: int) -> str:
    """`` (fewer than one photon ...)`` where ``pulses × transmittance < 1``, with a word on km at 1000 km or more.

    Examples:
        >>> print(_loss_hint(25000.0, 0.0, 1_000_000))
         (fewer than one photon expected through 25000 km of fibre in 1,000,000 pulses: transmittance 0; distances are in km, not m)
        >>> _loss_hint(50.0, 0.08, 1_000_000)
        ''
    """
    if pulses * transmittance >= 1.0:
        return ""
    metres = "; distances are in km, not m" if distance_km >= METRES_HINT_KM else ""
    return (f" (fewer than one photon expected through {distance_km:g} km of fibre in {pulses:,} pulses: "
            f"transmittance {transmittance:.1e}{metres})".replace("transmittance 0.0e+00", "transmittance 0"))


#: The links the summary shows one by one, the warnings and end-to-end pairs it prints, the links without key
#: beyond those it names with their reason and those it names by number (:func:`_links_not_shown`).
SUMMARY_LINKS, SUMMARY_WARNINGS, SUMMARY_ENDS, SUMMARY_NO_KEY_LINES, SUMMARY_NO_KEY_NAMED = 12, 4, 4, 4, 20


def _links_not_shown(sweep_rows, reasons: dict, table: str) -> list[str]:
    """Summary lines for the links past the first :data:`SUMMARY_LINKS`: how many, and the ones without key (they
    decide an end-to-end key): the first few with their ``no key:`` reason, then the others by number, capped.
    Until 2026-12-07 (night) a network of more links left them out without a word."""
    rest = sweep_rows[SUMMARY_LINKS:]
    if not rest:
        return []
    lines = [f"  ... and {len(rest):,} more links (table {table})"]
    no_key = [r for r in rest if (r[0], r[1]) in reasons]
    lines += [f"  {r[0]:7.1f} km link {r[1]}: no key: {reasons[r[0], r[1]]}" for r in no_key[:SUMMARY_NO_KEY_LINES]]
    others = no_key[SUMMARY_NO_KEY_LINES:]
    if others:
        named = ", ".join(str(r[1]) for r in others[:SUMMARY_NO_KEY_NAMED])
        more = f" and {len(others) - SUMMARY_NO_KEY_NAMED:,} more" if len(others) > SUMMARY_NO_KEY_NAMED else ""
        lines.append(f"  no key on {len(others):,} more links: {named}{more} (table blocks, column no_key_reason)")
    return lines


def _no_key_reasons(block_rows) -> dict:
    """``{(distance_km, link): line}`` for the links none of whose blocks gave a key: the first block's reason,
    with how many blocks there were."""
    fields = [name for name, _ in BLOCK_FIELDS]
    at = {name: fields.index(name) for name in ("distance_km", "link", "secret_key_bits", "no_key_reason")}
    found: dict = {}
    for r in block_rows:
        key = (r[at["distance_km"]], r[at["link"]])
        found.setdefault(key, []).append((r[at["secret_key_bits"]], r[at["no_key_reason"]]))
    return {key: rows[0][1] + (f" (and {len(rows) - 1} more block(s) without key)" if len(rows) > 1 else "")
            for key, rows in found.items() if all(bits == 0 for bits, _ in rows)}


def _chsh(counts) -> tuple[tuple[float, float], list[tuple[int, int]]]:
    """``((S, standard error), [])`` of an E91 link's coincidence counts, or ``((NaN, NaN), missing)``
    where Ekert's setting pairs ``missing`` (1-based, as in E91's a_i, b_j) have no coincidence."""
    counts = np.asarray(counts)
    missing = [(a + 1, b + 1) for a, b, _ in entangled.E91_CHSH_TERMS if counts[a, b].sum() == 0]
    if missing:
        return (float("nan"), float("nan")), missing
    return entangled.chsh_from_counts(counts), []


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


#: z of a one-sided 95 % limit of the normal distribution.
Z_ONE_SIDED_95 = 1.6448536269514722


def qber_upper_95(errors: int, sifted: int) -> float:
    """One-sided 95 % upper confidence limit of a QBER from ``errors`` among ``sifted`` bits (NaN without a bit).

    With no error, the exact (Clopper-Pearson) limit ``1 - 0.05^(1/n)``, about the "rule of three" 3/n
    (J. A. Hanley and A. Lippman-Hand, JAMA 249, 1743 (1983)); otherwise the Wilson score limit with
    z = 1.645 (E. B. Wilson, JASA 22, 209 (1927)).

    Examples:
        >>> round(qber_upper_95(0, 300), 5), round(3 / 300, 5), round(qber_upper_95(10, 1000), 4)
        (0.00994, 0.01, 0.0167)
    """
    if sifted <= 0:
        return float("nan")
    if errors == 0:
        return 1.0 - 0.05 ** (1.0 / sifted)
    z, n, p = Z_ONE_SIDED_95, sifted, errors / sifted
    return min(1.0, (p + z * z / (2 * n) + z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n))


def _decoy_spread_warnings(tally, source, distance_km: float, link: int) -> list[str]:
    """One line per asymptotic BB84 block whose key loses more than :data:`~dqsim.protocols.qkd.decoy_spread.
    KEY_DROP_WARN` of itself when each basis's weak-decoy error count m is raised by
    :data:`~dqsim.protocols.qkd.decoy_spread.DECOY_ERROR_STANDARD_ERRORS` standard errors √(m + 1)
    (:func:`~dqsim.protocols.qkd.decoy_spread.raised_decoy_key`): its e1^U rests on the decoy's counting noise."""
    lines = []
    k, share = decoy_spread.DECOY_ERROR_STANDARD_ERRORS, decoy_spread.KEY_DROP_WARN
    for block, *_times, counts, result in tally.blocks:
        keys = decoy_spread.raised_decoy_key(counts, source, result)
        if result.secret_key_bits <= 0 or keys is None or keys[0] <= 0 or keys[1] >= (1.0 - share) * keys[0]:
            continue
        lines.append(f"{distance_km:g} km link {link} block {block}: the asymptotic key, {result.secret_key_bits} "
                     f"bits, falls to {math.floor(keys[1])} with the decoy's error counts (Z {counts.errors_z[1]}, "
                     f"X {counts.errors_x[1]} of {counts.sifted_z[1]}, {counts.sifted_x[1]} sifted decoy bits) raised "
                     f"by {k:g} standard errors √(m+1): e1^U (Z {result.phase_error_upper[1]:.3f}, X "
                     f"{result.phase_error_upper[0]:.3f}) rests on their counting noise, the key may be above the "
                     f"GLLP rate; security = \"finite_key\" gives bounds at this block size")
    return lines


#: Columns of the ``end_to_end`` table (:func:`_end_to_end`) ...
END_TO_END_FIELDS = [("distance_km", "f8"), ("node_a", "i8"), ("node_b", "i8"), ("secret_key_bits", "i8"),
                     ("key_rate_bits_per_s", "f8"), ("key_available_ps", "i8"), *qkd_auth.ROUTE_AUTH_FIELDS]
#: ... and of the ``relay_links`` table.
RELAY_LINKS_FIELDS = [("distance_km", "f8"), ("node_a", "i8"), ("node_b", "i8"), ("hop", "i8"), ("link", "i8"),
                      ("key_left_bits", "i8"), *qkd_auth.HOP_AUTH_FIELDS]


def _end_to_end(job, run, link_net_bits: dict) -> tuple[RecordPieces, RecordPieces]:
    """Trusted-relay keys: the smallest link key on the route between two end nodes.

    ``distance_km`` of a row is the route's fibre length, the sum of its links' lengths.

    Every link sends ``pulses`` at the source rate, so the rate in bits/s is the key over that emission
    time: the smallest of the route's links' ``key_rate_bits_per_s`` (the links table's definition; the
    post-processing latency after the last pulse is not counted, as it is not for a link). In a star each
    pair of leaves is given the key it would get alone: pairs through one leaf's link share that link's
    key (a one-time pad is used once), so together they get at most that link's key. A star's pairs are those its
    ``[qkd.network].end_to_end_pairs`` chooses (:meth:`~dqsim.jobs.qkd.QkdNetworkSection.star_pairs`: every pair,
    none or a list; since 2026-12-07, late night), each row the same whichever others are chosen.

    ``key_available_ps`` is when both end nodes hold the key (each trusted node announces the XOR of its two
    link keys over the next hop once both exist; :func:`~dqsim.scenarios.qkd_relay.relayed_key_time_ps`).
    Returns the ``end_to_end`` rows and the ``relay_links`` rows: one per hop of each route, from ``node_a`` to
    ``node_b``, with the hop's ``link`` and ``key_left_bits``, what it keeps after the relay (link key -
    ``secret_key_bits``; in a star, if this pair alone is relayed). A table of its own (long form), so runs
    whose routes have different numbers of hops still merge (``dqsim merge``).

    Authentication (``link_net_bits``: each link's key less its blocks' tags): ``end_to_end`` adds
    ``relay_auth_key_bits`` (the tags of the relay's announcements, all hops), ``net_key_bits`` and its rate,
    ``relay_links`` each hop's ``auth_key_bits`` and ``net_key_left_bits``
    (:func:`~dqsim.scenarios.qkd_auth.route_columns`). ``secret_key_bits`` and ``key_left_bits`` are as before.
    """
    links = run["links"]
    index = {(min(a, b), max(a, b)): i for i, (a, b, _) in enumerate(links)}
    seconds = job.qkd.pulses / job.qkd.source.source_rate_hz
    num_nodes = 1 + max(max(a, b) for a, b, _ in links)
    star = job.qkd.network is not None and job.qkd.network.topology == "star"
    pairs = job.qkd.network.star_pairs() if star else [(0, num_nodes - 1)]  # a star's: its end_to_end_pairs
    length_of = {(min(a, b), max(a, b)): d for a, b, d in links}
    rows, relays = RecordPieces(END_TO_END_FIELDS), RecordPieces(RELAY_LINKS_FIELDS)  # tuples a piece at a time
    for a, b in pairs:
        route = _tree_route(star, a, b)
        hops = list(zip(route, route[1:]))
        on_route = [index[(min(u, v), max(u, v))] for u, v in hops]
        bits = min(run["tallies"][i].key_bits for i in on_route)
        length_km = sum(length_of[(min(u, v), max(u, v))] for u, v in hops)
        left = qkd_relay.key_left_bits([run["tallies"][i].key_bits for i in on_route], bits)
        route_auth, hop_auth = qkd_auth.route_columns(job.qkd, [link_net_bits[i] for i in on_route], seconds)
        towards_b = [run["tallies"][i].channel_free_ps[0 if links[i][0] == u else 1]
                     for i, (u, _v) in zip(on_route, hops)]  # each hop's own messages in the relay's direction
        ready_ps = qkd_relay.relayed_key_time_ps([run["tallies"][i].done_ps for i in on_route],
                                                 [run["physics"][i].delay_ps for i in on_route], bits,
                                                 job.qkd.classical_bit_rate_hz, hop_free_ps=towards_b,
                                                 hop_tags_bits=qkd_auth.announcement_tags(job.qkd.authentication,
                                                                                          hop_auth))
        rows.append((length_km, a, b, bits, bits / seconds if seconds else float("nan"), ready_ps, *route_auth))
        relays.extend((length_km, a, b, hop, link, kept, *spent) for hop, (link, kept, spent)
                      in enumerate(zip(on_route, left, hop_auth)))
    return rows, relays
