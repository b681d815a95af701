"""Job files of the ``"qkd"`` scenario: quantum key distribution over fibre links.

Sections: ``[run]`` and ``[qkd]`` with ``[qkd.source]``, ``[qkd.link]``,
``[[qkd.classical_channels]]``, ``[qkd.eve]``, ``[qkd.sweep]`` and
``[qkd.network]``; see ``jobs/bb84_decoy_50km.toml``. The scenario itself is
:mod:`dqsim.scenarios.qkd`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Iterator, Literal, Optional, Sequence

from pydantic import Field, field_validator, model_validator

from dqsim.errors import ConfigError, toml_repr
from dqsim.jobs.base import JobConfig
from dqsim.jobs.errors import check_no_repeats, job_error
from dqsim.jobs.schema import Section, bounded_int, bounded_real, format_number
from dqsim.network.fibre import DEFAULT_ATTENUATION_DB_PER_KM, DEFAULT_GROUP_INDEX
from dqsim.network.link import DEFAULT_DARK_COUNT_RATE_HZ, DEFAULT_DETECTOR_EFFICIENCY, DEFAULT_GATE_WIDTH_PS
from dqsim.network.node import RoleNames
from dqsim.network.raman import DEFAULT_RAMAN_CROSS_SECTION_PER_KM_PER_NM, DEFAULT_WAVELENGTH_NM
from dqsim.units import M_PER_KM, PS_PER_S, SPEED_OF_LIGHT_M_PER_S

__all__ = ["QkdJob", "QkdSection", "QkdSourceSection", "QkdLinkSection", "ClassicalChannelSection",
           "EveSection", "SweepSection", "QkdNetworkSection", "QKD_PROTOCOLS"]

#: Protocols of ``[qkd].protocol``.
QKD_PROTOCOLS = ("bb84_decoy", "bbm92", "e91")

#: Protocols with an entangled-pair source in the fibre (``werner``, ``position``).
_ENTANGLED_PROTOCOLS = ("bbm92", "e91")

#: ``[qkd.source]`` keys used by only some protocols -> those protocols.
_SOURCE_KEY_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "intensities": ("bb84_decoy",), "probabilities": ("bb84_decoy",),
    "werner": _ENTANGLED_PROTOCOLS, "position": _ENTANGLED_PROTOCOLS, "mean_pair_number": _ENTANGLED_PROTOCOLS,
    "z_basis_probability": ("bb84_decoy", "bbm92"),
}

#: Defaults of the protocol-specific ``[qkd.source]`` keys, filled in for the protocols using them.
DEFAULT_DECOY_INTENSITIES = (0.5, 0.1, 0.0)
DEFAULT_DECOY_PROBABILITIES = (0.8, 0.1, 0.1)
DEFAULT_WERNER = 1.0
DEFAULT_SOURCE_POSITION = 0.5

#: Most pulses (pairs) per link of one run, and most per batch message.
MAX_QKD_PULSES = 10**13
MAX_QKD_BATCH_PULSES = 10**8
#: Default pulses per link, and default pulses per batch (at most ``pulses``).
DEFAULT_QKD_PULSES = 10_000_000
DEFAULT_QKD_BATCH_PULSES = 1_000_000
#: Most and default ``[qkd].max_blocks_in_postprocessing``, blocks (the default is
#: :data:`dqsim.protocols.qkd.nodes.MAX_BLOCKS_IN_POSTPROCESSING`; jobs do not import protocols).
MAX_BLOCKS_IN_POSTPROCESSING = 10**6
DEFAULT_BLOCKS_IN_POSTPROCESSING = 16
#: Largest signal mean photon number of ``[qkd.source].intensities``.
MAX_DECOY_INTENSITY = 10.0
#: How far ``[qkd.source].probabilities`` may sum from 1.
PROBABILITY_SUM_TOLERANCE = 1e-9
#: Widest ``[[qkd.classical_channels]].filter_bandwidth_nm``, nm. The Raman model takes the
#: cross-section as flat over the passband; silica's Raman spectrum spans some 200 nm around a
#: 1550 nm pump (Eraerds et al., New J. Phys. 12, 063027 (2010)), so a wider passband is outside the
#: model, and a value of 1e9 or more is a frequency in Hz typed into a key in nm.
MAX_FILTER_BANDWIDTH_NM = 100.0
#: Most distances of ``[qkd.sweep].distances_km``.
MAX_SWEEP_POINTS = 200
#: Most nodes of ``[qkd.network]``'s chain: a trusted chain of 65,536 nodes (1,000 pulses a link) is measured to
#: take 20-24 kB a link on one rank (16,384 nodes: 605 MB and 44 CPU s; 65,536: 1,509 MB and 136 CPU s;
#: bench/results/qkd-network-scale-vm-20261207.md); the work grows with links x pulses, which ``dqsim check``
#: reports with its memory. It was 64 until 2026-12-06 and 4,096 until 2026-12-07 (later that day), when the relay's
#: announcements, taken one by one (m(m - 1)/2 for m links), took 5.9 CPU s at 4,096 nodes and ~25 min at 65,536.
MAX_QKD_NODES = 65536
#: ... and of its star while every pair of its leaves gets an end-to-end row (``[qkd.network].end_to_end_pairs =
#: "all"``, the default): 4,096, as before, since a star's ``end_to_end`` table has a row per pair of leaves (and
#: ``relay_links`` two): 8.4 million at 4,096 nodes, ~1 kB a pair as the run built them (a 1,024-node star peaked
#: at 742 MB), so ~8 GB; ~0.35 kB since 2026-12-07 (late night), as arrays a piece at a time (~3 GB); ``dqsim
#: check`` reports it. Making those rows a piece at a time would bound the memory but
#: not the rest, which grows as the pairs do (2026-12-07, afternoon): the run file, 200 bytes a pair (a 72-byte
#: ``end_to_end`` row and two 64-byte ``relay_links`` rows), is 1.7 GB at 4,096 nodes, 27 GB at 16,384 and 429 GB
#: at 65,536; the rows' work, ~40 µs a pair (a 1,024-node star: 23.8 CPU s), ~6 min at 4,096, ~1.5 h at 16,384.
#: A star whose ``end_to_end_pairs`` is ``"none"`` or a list takes :data:`MAX_QKD_NODES`, as a chain (since
#: 2026-12-07, late night): 65,536 nodes of ``"none"`` (1,000 pulses a link, one rank) peaked at 1,459 MB and took
#: 308 CPU s (16,384: 542 MB, 30.5 CPU s; load 11-19, bench/results/qkdstar-vm-20261207s.md). Its hub runs a
#: process per link; until 2026-12-07 (late night) each one that ended was taken off the hub's list
#: (``Simulator._forget``, ``list.remove``), m²/2 steps for m links; now off a dict in O(1) (16,384 nodes, one rank:
#: 22.4-26.0 CPU s against 30.3-37.2, bench/results/hubforget-vm-20261207s.md; 65,536 not rerun).
MAX_QKD_STAR_NODES = 4096
#: Choices of ``[qkd.network].end_to_end_pairs`` besides a list of pairs of leaves.
END_TO_END_PAIR_CHOICES = ("all", "none")
#: Most pairs of leaves ``[qkd.network].end_to_end_pairs`` may list: each a row of ``end_to_end`` and two of
#: ``relay_links`` (~0.35 kB a pair while the run builds them), ~23 MB at most.
MAX_END_TO_END_PAIRS = 65_536
#: Longest time a run may take to emit its pulses, ps: 1/16 of the engine's int64 picosecond clock
#: (2**63 ps, about 107 days), about 6.7 days, the rest left for the post-processing's messages.
MAX_QKD_EMISSION_PS = 2**63 // 16
#: Longest time light may take through one link's fibre, ps: 2**63 ps / 2**20 (about 8.8 s, some
#: 1.8 million km of fibre), so that the post-processing's fibre crossings cannot overflow the clock.
MAX_QKD_FIBRE_DELAY_PS = 2**63 // 2**20
#: Lowest and highest ``[qkd].classical_bit_rate_hz``, bit/s. At 1e-6 one bit takes 1e6 s (1e18 ps), within the
#: 2**61 ps (2.3e6 s) a key block's Cascade messages may reach
#: (:data:`dqsim.protocols.qkd.nodes.CASCADE_END_MAX_PS`); below about 4.3e-7 not even one bit would fit.
#: Whether a run's Cascade fits is known only once its key is: a block that would not is refused then, in one
#: line naming the rate it needs. At 1e15 a message of a thousand bits takes 1 ps, the engine's tick.
MIN_CLASSICAL_BIT_RATE_HZ = 1e-6
MAX_CLASSICAL_BIT_RATE_HZ = 1e15
#: Default ``[qkd].authentication`` (the choices: :data:`dqsim.protocols.qkd.authentication.AUTHENTICATION_MODES`)
#: and ``[qkd].eps_auth``, the forgery probability allowed for each tag.
DEFAULT_AUTHENTICATION = "per_block"
DEFAULT_EPS_AUTH = 1e-10


def _protocol_list(protocols: Sequence[str]) -> str:
    """``"bbm92" or "e91"``."""
    return " or ".join(toml_repr(p) for p in protocols)


class QkdSourceSection(Section):
    """``[qkd.source]``: the photon source (weak coherent pulses or entangled pairs).

    Protocol-specific keys are filled in with their defaults for the
    protocols that use them and are ``None`` otherwise; giving one that the
    job's protocol does not use is an error.

    Attributes:
        intensities: ``"bb84_decoy"`` only: mean photon numbers of the signal,
            the decoy and optionally a second decoy or vacuum state (the asymptotic
            bounds of :mod:`dqsim.protocols.qkd.decoy`: vacuum + weak decoy, or two
            weak decoys where μ1 > μ2 + μ3, else the first decoy alone); 2 or 3
            values, strictly decreasing, each in [0, 10], the decoy (second) > 0. Default
            ``[0.5, 0.1, 0.0]``.
        probabilities: ``"bb84_decoy"`` only: probability of sending each
            intensity, one per intensity, each in (0, 1), summing to 1 (within
            1e-9). Default ``[0.8, 0.1, 0.1]``. Give both ``intensities``
            and ``probabilities``, or neither.
        z_basis_probability: ``"bb84_decoy"``/``"bbm92"`` only: probability
            of preparing (measuring) in the Z (key) basis, in (0, 1); default
            0.5. BBM92: Alice and Bob each measure Z with it (Lo, Chau and
            Ardehali's efficient BB84: p² + (1 - p)² of the coincidences are
            sifted, most of them Z–Z, the finite key's key bits). E91's
            settings are fixed (1/3 each), so it is refused there.
        source_rate_hz: pulse (pair) repetition rate, Hz, > 0; default 1e9. ``[qkd].pulses``
            at this rate must take at most :data:`MAX_QKD_EMISSION_PS` (about 6.7 days).
        werner: ``"bbm92"``/``"e91"`` only: Werner parameter of the emitted
            pairs, ``w·|Φ+⟩⟨Φ+| + (1-w)·I/4``, in [0, 1]; default 1.
        position: ``"bbm92"``/``"e91"`` only: where the pair source sits, as
            a fraction of the fibre from Alice, in [0, 1]; default 0.5.
        mean_pair_number: ``"bbm92"``/``"e91"`` only: mean pair number μ of an
            SPDC source (the two-mode squeezed vacuum, both polarisation modes
            together), in (0, 2]; default: exactly one pair per slot.
    """

    intensities: Optional[list[bounded_real(0.0, MAX_DECOY_INTENSITY)]] = None
    probabilities: Optional[list[bounded_real(0.0, 1.0, low_open=True, high_open=True)]] = None
    z_basis_probability: bounded_real(0.0, 1.0, low_open=True, high_open=True) = 0.5
    source_rate_hz: bounded_real(0.0, low_open=True) = 1e9
    werner: Optional[bounded_real(0.0, 1.0)] = None
    position: Optional[bounded_real(0.0, 1.0)] = None
    mean_pair_number: Optional[bounded_real(0.0, 2.0, low_open=True)] = None

    @model_validator(mode="after")
    def _check_decoy_states(self) -> "QkdSourceSection":
        intensities, probabilities = self.intensities, self.probabilities
        if intensities is not None:
            if len(intensities) not in (2, 3):
                raise job_error(f"must list 2 or 3 mean photon numbers (signal, decoy[, vacuum]), "
                                f"got {len(intensities)}", key=("intensities",),
                                value=intensities, has_value=True)
            for index in range(1, len(intensities)):
                if intensities[index] >= intensities[index - 1]:
                    raise job_error(f"must be < intensities[{index - 1}] = "
                                    f"{toml_repr(intensities[index - 1])} (strictly decreasing: "
                                    f"signal, decoy[, vacuum])", key=("intensities", index),
                                    value=intensities[index], has_value=True)
            if intensities[1] <= 0.0:  # strictly decreasing: with three, intensities[1] > intensities[2] >= 0
                raise job_error(f"must be > 0: the decoy-state estimate needs a weak decoy (signal, decoy[, vacuum]; "
                                f"e.g. [{toml_repr(intensities[0])}, 0.1, 0.0])", key=("intensities", 1),
                                value=intensities[1], has_value=True)
        if probabilities is not None:
            if intensities is not None and len(probabilities) != len(intensities):
                raise job_error(f"lists {len(probabilities)} probabilities but intensities lists "
                                f"{len(intensities)} (one per intensity)", key=("probabilities",),
                                value=probabilities, has_value=True)
            total = math.fsum(probabilities)
            if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
                raise job_error(f"must sum to 1 (within {PROBABILITY_SUM_TOLERANCE:g}); they sum to "
                                f"{total:.12g}", key=("probabilities",), value=probabilities,
                                has_value=True)
        return self


class QkdLinkSection(Section):
    """``[qkd.link]``: the fibre and the detectors of every link.

    Attributes:
        distance_km: fibre length from Alice to Bob, km, >= 0. Required unless
            ``[qkd.sweep]`` or ``[qkd.network].distances_km`` gives the
            distances (a sweep overrides it); ``None`` when left out.
            Light may take at most :data:`MAX_QKD_FIBRE_DELAY_PS` through a link
            (about 1.8 million km at the default group index), as for every
            distance of a sweep or a network.
        attenuation_db_per_km: fibre attenuation, dB/km, >= 0; default 0.2.
        coupling_loss_db: lumped coupling loss before the detectors, dB, >= 0; default 0.
        group_index: fibre group index n_g, >= 1; default 1.468.
        detector_efficiency: detector efficiency in (0, 1]; default 0.9.
        dark_count_rate_hz: dark count rate of each detector, Hz, >= 0; default 10.
        gate_width_ps: detection gate width, ps, >= 1; default 1000.
        dead_time_ps: detector dead time, ps, >= 0; default 0.
        misalignment: optical misalignment error e_d (probability that a photon
            lands in the wrong detector), in [0, 0.5]; default 0.01.
        afterpulse_probability: probability of an afterpulse after a click, in [0, 1); default 0.
    """

    distance_km: Optional[bounded_real(0.0)] = None
    attenuation_db_per_km: bounded_real(0.0) = DEFAULT_ATTENUATION_DB_PER_KM
    coupling_loss_db: bounded_real(0.0) = 0.0
    group_index: bounded_real(1.0) = DEFAULT_GROUP_INDEX
    detector_efficiency: bounded_real(0.0, 1.0, low_open=True) = DEFAULT_DETECTOR_EFFICIENCY
    dark_count_rate_hz: bounded_real(0.0) = DEFAULT_DARK_COUNT_RATE_HZ
    gate_width_ps: bounded_int(1) = DEFAULT_GATE_WIDTH_PS
    dead_time_ps: bounded_int(0) = 0
    misalignment: bounded_real(0.0, 0.5) = 0.01
    afterpulse_probability: bounded_real(0.0, 1.0, high_open=True) = 0.0


class ClassicalChannelSection(Section):
    """One ``[[qkd.classical_channels]]`` entry: classical light sharing the fibre.

    Its spontaneous Raman scattering adds noise counts to the quantum channel
    (:mod:`dqsim.network.raman`); it runs over the whole length of every link.

    Attributes:
        launch_power_dbm: classical launch power, dBm, in [-60, 30].
        direction: ``"co"`` (launched at Alice's end, travels with BB84's
            photons: forward Raman noise at Bob) or ``"counter"`` (launched at
            Bob's end: backward Raman noise at Bob). BBM92/E91, where Alice
            measures too, give her the other one.
        filter_bandwidth_nm: passband of the quantum receiver's filter, nm, in
            (0, 100] (:data:`MAX_FILTER_BANDWIDTH_NM`; a 100 GHz DWDM filter is
            0.8 nm at 1550 nm).
        raman_cross_section_per_km_per_nm: effective Raman cross-section,
            1/(km·nm), > 0; default
            :data:`~dqsim.network.raman.DEFAULT_RAMAN_CROSS_SECTION_PER_KM_PER_NM`.
        wavelength_nm: wavelength of the quantum channel, nm, in [400, 2000]; default 1550.
    """

    launch_power_dbm: bounded_real(-60.0, 30.0)
    direction: Literal["co", "counter"]
    filter_bandwidth_nm: bounded_real(0.0, MAX_FILTER_BANDWIDTH_NM, low_open=True)
    raman_cross_section_per_km_per_nm: bounded_real(0.0, low_open=True) = DEFAULT_RAMAN_CROSS_SECTION_PER_KM_PER_NM
    wavelength_nm: bounded_real(400.0, 2000.0) = DEFAULT_WAVELENGTH_NM


class EveSection(Section):
    """``[qkd.eve]``: an eavesdropper on the fibre (absent: none).

    Attributes:
        attack: ``"none"``, ``"intercept_resend"`` (measure and resend) or
            ``"beam_splitting"`` (keep the photons of multi-photon pulses).
            Required.
        fraction: fraction of the pulses (pairs) attacked, in [0, 1]; default 1.
        basis: ``"intercept_resend"`` only: Eve's measurement basis,
            ``"random"``, ``"Z"`` or ``"X"``; default ``"random"``.
        distance_km: where Eve taps the fibre, km; default 0. BB84: from
            Alice, from 0 to the shortest link (or sweep) distance.
            BBM92/E91: she taps Bob's arm (source to Bob), this far from the
            source, from 0 to that arm's length ``(1 - position)·L`` of the
            shortest link L; one pair per slot, her place changes no
            statistic (:mod:`dqsim.protocols.qkd.entangled`). In a network she
            taps each link she attacks (``links``) at this distance from its
            first node (its source), so it is at most the shortest of those links.
        links: ``[qkd.network]`` only: the indices of the links she attacks, in
            :meth:`QkdNetworkSection.links` order (0-based, each once); default
            every link. The others' pulses pass untouched (since 2026-12-07 (late
            night); before, she attacked every link of a network).
    """

    attack: Literal["none", "intercept_resend", "beam_splitting"]
    fraction: bounded_real(0.0, 1.0) = 1.0
    basis: Literal["random", "Z", "X"] = "random"
    distance_km: bounded_real(0.0) = 0.0
    links: Optional[list[bounded_int(0)]] = None

    @field_validator("links")
    @classmethod
    def _check_links(cls, links: list[int] | None) -> list[int] | None:
        if links is not None:
            if not links:
                raise job_error("must list at least one link index (leave the key out to attack every link)",
                                value=links, has_value=True)
            check_no_repeats(links, why="each link once")
        return links

    @model_validator(mode="after")
    def _check_basis(self) -> "EveSection":
        if "basis" in self.model_fields_set and self.attack == "beam_splitting":
            raise job_error(f'only used with attack = "intercept_resend" (here attack = '
                            f'{toml_repr(self.attack)})', key=("basis",), value=self.basis,
                            has_value=True)
        return self


class SweepSection(Section):
    """``[qkd.sweep]``: run the link once per distance.

    Attributes:
        distances_km: fibre lengths, km, each >= 0; 1..200 entries, in the
            order they are run. They override ``[qkd.link].distance_km``.
    """

    distances_km: list[bounded_real(0.0)]

    @field_validator("distances_km")
    @classmethod
    def _check_count(cls, distances_km: list[float]) -> list[float]:
        if not 1 <= len(distances_km) <= MAX_SWEEP_POINTS:
            raise job_error(f"must list 1..{MAX_SWEEP_POINTS} distances, got {len(distances_km)}",
                            value=distances_km, has_value=True)
        check_no_repeats(distances_km)
        return distances_km


class QkdNetworkSection(Section):
    """``[qkd.network]``: several links whose keys trusted nodes relay (XOR).

    Attributes:
        topology: ``"chain"`` (nodes 0, 1, ... in a line: links (i, i+1)) or
            ``"star"`` (node 0 the hub: links (0, i)).
        num_nodes: nodes, 2..65536 (:data:`MAX_QKD_NODES`; a star whose ``end_to_end_pairs`` is ``"all"`` 2..4096,
            :data:`MAX_QKD_STAR_NODES`).
        distances_km: length of each link in :meth:`links` order, km, each
            >= 0, ``num_nodes - 1`` entries; default: every link
            ``[qkd.link].distance_km``.
        end_to_end_pairs: which pairs of a star's leaves get rows in the ``end_to_end`` and ``relay_links`` tables:
            ``"all"`` (every pair, the default), ``"none"`` or a list of pairs ``[leaf_a, leaf_b]`` of leaves (nodes
            1..``num_nodes - 1``; unordered, each pair once, at most :data:`MAX_END_TO_END_PAIRS`), whose rows are
            those ``"all"`` gives them (``node_a`` the smaller, in ``"all"``'s order). A chain has one route, its
            ends': ``"all"`` only. The ``links`` table has every link's key either way, from which any pair's
            trusted-relay key follows (the smaller of its two links' keys).
    """

    topology: Literal["chain", "star"]
    num_nodes: bounded_int(2, MAX_QKD_NODES)
    distances_km: Optional[list[bounded_real(0.0)]] = None
    end_to_end_pairs: Any = "all"

    @model_validator(mode="after")
    def _check_distances(self) -> "QkdNetworkSection":
        self._check_pairs()
        if self.topology == "star" and self.end_to_end_pairs == "all" and self.num_nodes > MAX_QKD_STAR_NODES:
            pairs = (self.num_nodes - 1) * (self.num_nodes - 2) // 2
            raise job_error(f"must be <= {MAX_QKD_STAR_NODES:,} for a star whose end_to_end_pairs is \"all\" (its "
                            f"end_to_end table has a row per pair of leaves: {pairs:,} here); choose the pairs, "
                            f"[qkd.network].end_to_end_pairs = \"none\" or a list of [leaf_a, leaf_b] pairs, to take "
                            f"up to {MAX_QKD_NODES:,} nodes", key=("num_nodes",), value=self.num_nodes, has_value=True)
        num_links = self.num_nodes - 1
        if self.distances_km is not None and len(self.distances_km) != num_links:
            raise job_error(f"lists {len(self.distances_km)} distances but a {self.topology} of "
                            f"{self.num_nodes} nodes has {num_links} link{'s' if num_links != 1 else ''}",
                            key=("distances_km",), value=self.distances_km, has_value=True)
        return self

    def _check_pairs(self) -> None:
        """Refuse an ``end_to_end_pairs`` that is not ``"all"``, ``"none"`` or a list of distinct pairs of distinct
        leaves of the star (a chain: ``"all"`` only)."""
        pairs, key = self.end_to_end_pairs, ("end_to_end_pairs",)
        choice = isinstance(pairs, str) and pairs in END_TO_END_PAIR_CHOICES
        leaves = f"leaves 1..{self.num_nodes - 1:,}" if self.num_nodes > 2 else "leaf 1"
        if not choice and not isinstance(pairs, list):
            raise job_error(f"must be \"all\", \"none\" or a list of [leaf_a, leaf_b] pairs ({leaves})", key=key,
                            value=pairs, has_value=True)
        if self.topology == "chain" and pairs != "all":
            raise job_error("applies to a star only: a chain has one route, between its two ends (allowed: "
                            "\"all\")", key=key, value=pairs, has_value=True)
        if choice:
            return
        if len(pairs) > MAX_END_TO_END_PAIRS:
            raise job_error(f"lists {len(pairs):,} pairs, at most {MAX_END_TO_END_PAIRS:,} (\"all\" gives every pair "
                            f"up to {MAX_QKD_STAR_NODES:,} nodes)", key=key, value=f"[{len(pairs):,} pairs]",
                            has_value=True)
        seen: dict[tuple[int, int], int] = {}
        for index, pair in enumerate(pairs):
            if not (isinstance(pair, list) and len(pair) == 2
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in pair)):
                raise job_error(f"must be a pair [leaf_a, leaf_b] of {leaves}", key=(*key, index), value=pair,
                                has_value=True)
            if not all(1 <= v < self.num_nodes for v in pair):
                raise job_error(f"names a node that is not a leaf of this star: {leaves} (0 is the hub)",
                                key=(*key, index), value=pair, has_value=True)
            if pair[0] == pair[1]:
                raise job_error("names one leaf twice: a pair is two leaves", key=(*key, index), value=pair,
                                has_value=True)
            unordered = (min(pair), max(pair))
            if unordered in seen:
                raise job_error(f"repeats the pair of entry {seen[unordered]} (a pair is unordered)",
                                key=(*key, index), value=pair, has_value=True)
            seen[unordered] = index

    def star_pairs(self) -> Iterator[tuple[int, int]]:
        """The pairs of leaves ``(a, b)``, ``a < b``, whose end-to-end keys the run tabulates, in the order
        ``"all"`` gives them (a chain: none; its one route is its ends').

        Examples:
            >>> list(QkdNetworkSection(topology="star", num_nodes=4).star_pairs())
            [(1, 2), (1, 3), (2, 3)]
            >>> list(QkdNetworkSection(topology="star", num_nodes=4, end_to_end_pairs=[[3, 1], [1, 2]]).star_pairs())
            [(1, 2), (1, 3)]
        """
        pairs = self.end_to_end_pairs
        if self.topology != "star" or pairs == "none":
            return iter(())
        if pairs == "all":
            return ((i, j) for i in range(1, self.num_nodes) for j in range(i + 1, self.num_nodes))
        return iter(sorted((min(a, b), max(a, b)) for a, b in pairs))

    def num_star_pairs(self) -> int:
        """How many pairs :meth:`star_pairs` gives.

        Examples:
            >>> QkdNetworkSection(topology="star", num_nodes=5000, end_to_end_pairs=[[1, 2]]).num_star_pairs()
            1
        """
        if self.topology != "star" or self.end_to_end_pairs == "none":
            return 0
        if self.end_to_end_pairs == "all":
            return (self.num_nodes - 1) * (self.num_nodes - 2) // 2
        return len(self.end_to_end_pairs)

    def links(self) -> list[tuple[int, int]]:
        """The links as node pairs ``(a, b)``: chain ``(i, i+1)``, star ``(0, i)``.

        Examples:
            >>> QkdNetworkSection(topology="star", num_nodes=3).links()
            [(0, 1), (0, 2)]
        """
        if self.topology == "chain":
            return [(index, index + 1) for index in range(self.num_nodes - 1)]
        return [(0, index) for index in range(1, self.num_nodes)]


class QkdSection(Section):
    """``[qkd]``: the protocol, how many pulses, post-processing, and its tables.

    Attributes:
        protocol: ``"bb84_decoy"`` (BB84 with weak coherent pulses and decoy
            states), ``"bbm92"`` or ``"e91"`` (entangled pairs); default ``"bb84_decoy"``.
        pulses: pulses (pairs for bbm92/e91) per link, 1..10**13; default 10_000_000.
        batch_pulses: pulses per batch message, 1..10**8, <= ``pulses``;
            default ``min(1_000_000, pulses)``.
        block_pulses: pulses per key block (the post-processing unit; the last
            block may be shorter), ``batch_pulses..pulses``; default ``pulses``.
        f_ec: error-correction inefficiency, in [1, 2]; default 1.16.
        qber_threshold: abort when the estimated QBER is above it, in [0, 0.5]; default 0.11.
        sample_fraction: fraction of the sifted bits revealed for parameter
            estimation, in (0, 0.5]; default 0.1.
        sampling: how BB84 pulses are simulated: ``"detections"`` (draw only
            the pulses Bob records, at the cost of the detections;
            :mod:`dqsim.protocols.qkd.detections`) or ``"pulses"`` (every
            pulse, the reference; results also independent of ``batch_pulses``);
            default ``"detections"``.
        security: the key length of a block: ``"asymptotic"`` (GLLP with
            decoy bounds; bbm92/e91: Shor–Preskill) or ``"finite_key"`` (the
            block is ``block_pulses``; bb84_decoy: Lim et al., PRA 89, 022307
            (2014), with three intensities μ1 > μ2 + μ3, μ2 > μ3 >= 0;
            bbm92/e91: Tomamichel et al., Nat. Commun. 3, 634 (2012),
            :mod:`dqsim.protocols.qkd.entangled_block`); default ``"asymptotic"``.
        eps_sec: secrecy parameter of the finite-key analysis, in (0, 1); default 1e-10.
        eps_cor: correctness parameter of the finite-key analysis, in (0, 1); default 1e-15. It is
            not part of eps_sec: the key is eps_cor-correct and eps_sec-secret, so
            (eps_sec + eps_cor)-secure (Lim et al. 2014, Sec. II); with its authentication tags,
            (eps_sec + eps_cor + tags × eps_auth)-secure, the blocks' ``eps_total``. With ``error_correction =
            "cascade"`` the verification hash has ⌈log2(1/eps_cor)⌉ bits and lets keys that still
            differ through with probability 2^-⌈log2(1/eps_cor)⌉ <= eps_cor.
        error_correction: ``"model"`` (leakage f_EC·h(E) per key bit, one
            message each way) or ``"cascade"`` (every protocol: the sifted key
            bits are kept — bbm92/e91: the equal-angle pairs; ``sample_fraction``
            of them is disclosed to estimate the QBER (with finite_key,
            bb84_decoy's and bbm92's X basis instead), the rest corrected by
            Cascade, verified by a hash of ⌈log2(1/eps_cor)⌉ bits and shortened
            by Toeplitz hashing; :mod:`dqsim.protocols.qkd.reconciliation`) or ``"ldpc"``
            (the same, but one-way: Alice sends the syndromes of an LDPC code of rate
            1 - f_ec·h(E) for the QBER estimate E, Bob decodes by belief propagation; frames that
            fail are dropped and charged as disclosed; :mod:`dqsim.protocols.qkd.ldpc`. ``f_ec`` is
            then the target efficiency of the rate choice, not the leakage: the codes decode nearly every
            frame from about 1.15 at a QBER of 8 % and 1.2 at 4 % to 1.3-1.4 at 2 % and 1 %,
            ``bench/results/qkd-ldpc-vm-20261206b.md``); default ``"model"``.
        cascade_order: the order in which Cascade bisects (only with ``error_correction = "cascade"``):
            ``"parallel"`` (every odd block of a wave at once, a wave costing its deepest bisection's round
            trips) or ``"sequential"`` (Brassard and Salvail's order, EUROCRYPT 1993: the smallest odd block
            first, each parity a round trip of its own). Sequential discloses 1.0-1.4 % fewer parities (f_EC
            lower by 0.011-0.017 at QBERs of 1-8 %: 0.15-2 % more secret key) for 48-3 500 times the round
            trips (more the longer the block), and so that much more simulated time on the classical channel
            (``bench/results/cascade_order-vm-20261206.md``); :mod:`dqsim.protocols.qkd.reconciliation`.
            Default ``"parallel"`` (the results of dqsim before the option, bit for bit).
        authentication: which classical messages carry a Wegman–Carter tag, whose one-time pad is
            paid from the link's key (:mod:`dqsim.protocols.qkd.authentication`): ``"per_block"`` (each
            side tags its whole transcript of a key block once: two tags a block), ``"per_message"``
            (every message of the post-processing) or ``"none"`` (no key counted); default ``"per_block"``.
            The tables' ``auth_key_bits`` and ``net_key_bits`` columns give the cost and the key left;
            no other column changes.
        eps_auth: the forgery probability allowed for each tag, in (0, 1); default 1e-10. A tag is the
            shortest n bits with (⌈L/n⌉ + 1)·2^-n <= eps_auth for a message of L bits (polynomial
            hashing over GF(2^n)); the tags of a block add tags × eps_auth to its ε (Portmann, IEEE
            Trans. Inf. Theory 60, 4383 (2014)), with eps_sec + eps_cor in the blocks' ``eps_total``.
        classical_bit_rate_hz: bit rate of the classical channel, which sets
            the transmission time of Cascade's messages (error_correction = "cascade"),
            bit/s, in [1e-6, 1e15] (:data:`MIN_CLASSICAL_BIT_RATE_HZ`); default 1e9. It sets
            simulated time only: each message is one engine event however long it takes, so the
            run's work and results (but its times) are the same at any rate. A block whose
            Cascade messages would end after 2**61 ps (about 26.7 days of simulated time) is
            refused when its key is known, in one line giving the lowest rate that fits.
        ldpc_mode: only with ``error_correction = "ldpc"``: ``"blind"`` (blind
            reconciliation, Martinez-Mateo, Elkouss and Martin, QIC 12, 791 (2012): a frame's first syndrome
            is for the QBER estimate at f = 1.1; a frame that fails asks Alice for some of its punctured
            values, a round trip each (``ec_rounds``: the most any frame needed), until it decodes or all are
            revealed; ``f_ec`` then sets the mother code and the most a frame may disclose) or
            ``"rate_adaptive"`` (one syndrome a frame at the rate for ``f_ec``, no round trip; a rate is
            never chosen below what the codes need, ``ldpc.least_efficiency``: 1.4 at a QBER of 1 %, 1.3 at
            2 %, 1.2 at 4 %, 1.15 at 8 %). Blind disclosed less at every QBER (f_EC 1.22 / 1.18 / 1.15 /
            1.13 at 1 / 2 / 4 / 8 %, no frame of 35 failed, against 1.40 / 1.30 / 1.32 / 1.29 one-way with
            its failed frames charged) at up to 8 round trips a key of 7 frames and 3-38 times the
            decoding CPU; on the BB84 link at 1 % the key was 97 % of Cascade's against 91-93 %
            (``bench/results/qkd-ldpc-blind-vm-20261206.md``); default ``"blind"``.
        max_blocks_in_postprocessing: most key blocks of a link in post-processing at once (from the end of
            a block's emission to its key's acknowledgement), blocks, 1..10**6; default 16. The source emits
            block after block while earlier ones are post-processed, and waits while this many are (a
            post-processing engine's finite store of blocks; :class:`dqsim.protocols.qkd.nodes._AliceSource`).
        source: ``[qkd.source]`` (defaults when absent).
        link: ``[qkd.link]`` (defaults when absent, but see its ``distance_km``).
        classical_channels: the ``[[qkd.classical_channels]]`` entries (default none).
        eve: ``[qkd.eve]``, or None (no eavesdropper).
        sweep: ``[qkd.sweep]``, or None (one run at the link distance).
        network: ``[qkd.network]``, or None (one link between nodes 0 and 1).
            Not together with ``sweep``.
    """

    protocol: Literal["bb84_decoy", "bbm92", "e91"] = "bb84_decoy"
    pulses: bounded_int(1, MAX_QKD_PULSES) = DEFAULT_QKD_PULSES
    batch_pulses: bounded_int(1, MAX_QKD_BATCH_PULSES) = DEFAULT_QKD_BATCH_PULSES
    block_pulses: bounded_int(1, MAX_QKD_PULSES) = DEFAULT_QKD_PULSES
    f_ec: bounded_real(1.0, 2.0) = 1.16
    qber_threshold: bounded_real(0.0, 0.5) = 0.11
    sample_fraction: bounded_real(0.0, 0.5, low_open=True) = 0.1
    sampling: Literal["detections", "pulses"] = "detections"
    security: Literal["asymptotic", "finite_key"] = "asymptotic"
    eps_sec: bounded_real(0.0, 1.0, low_open=True, high_open=True) = 1e-10
    eps_cor: bounded_real(0.0, 1.0, low_open=True, high_open=True) = 1e-15
    error_correction: Literal["model", "cascade", "ldpc"] = "model"
    cascade_order: Literal["parallel", "sequential"] = "parallel"
    classical_bit_rate_hz: bounded_real(MIN_CLASSICAL_BIT_RATE_HZ, MAX_CLASSICAL_BIT_RATE_HZ) = 1e9
    authentication: Literal["per_block", "per_message", "none"] = DEFAULT_AUTHENTICATION
    eps_auth: bounded_real(0.0, 1.0, low_open=True, high_open=True) = DEFAULT_EPS_AUTH
    ldpc_mode: Literal["blind", "rate_adaptive"] = "blind"
    max_blocks_in_postprocessing: bounded_int(1, MAX_BLOCKS_IN_POSTPROCESSING) = DEFAULT_BLOCKS_IN_POSTPROCESSING
    source: QkdSourceSection = Field(default_factory=QkdSourceSection)
    link: QkdLinkSection = Field(default_factory=QkdLinkSection)
    classical_channels: list[ClassicalChannelSection] = Field(default_factory=list)
    eve: Optional[EveSection] = None
    sweep: Optional[SweepSection] = None
    network: Optional[QkdNetworkSection] = None

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        """Defaults that depend on other keys: batch and block sizes, the protocol's source keys."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        pulses = data.get("pulses", DEFAULT_QKD_PULSES)
        if isinstance(pulses, int) and not isinstance(pulses, bool) and 1 <= pulses <= MAX_QKD_PULSES:
            data.setdefault("batch_pulses", min(DEFAULT_QKD_BATCH_PULSES, pulses))
            data.setdefault("block_pulses", pulses)
        protocol = data.get("protocol", "bb84_decoy")
        source = data.get("source", {})
        if isinstance(source, dict):
            source = dict(source)
            if protocol == "bb84_decoy":
                if "intensities" not in source and "probabilities" not in source:
                    source["intensities"] = list(DEFAULT_DECOY_INTENSITIES)
                    source["probabilities"] = list(DEFAULT_DECOY_PROBABILITIES)
            elif protocol in _ENTANGLED_PROTOCOLS:
                source.setdefault("werner", DEFAULT_WERNER)
                source.setdefault("position", DEFAULT_SOURCE_POSITION)
            data["source"] = source
        return data

    @model_validator(mode="after")
    def _check_qkd(self) -> "QkdSection":
        if self.batch_pulses > self.pulses:
            raise job_error(f"must be <= pulses = {self.pulses}", key=("batch_pulses",),
                            value=self.batch_pulses, has_value=True)
        if self.block_pulses < self.batch_pulses:
            raise job_error(f"must be >= batch_pulses = {self.batch_pulses} (a block holds whole batches)",
                            key=("block_pulses",), value=self.block_pulses, has_value=True)
        if self.block_pulses > self.pulses:
            raise job_error(f"must be <= pulses = {self.pulses}", key=("block_pulses",),
                            value=self.block_pulses, has_value=True)
        if self.security == "finite_key" and self.protocol == "bb84_decoy":
            mu = self.source.intensities or []
            if len(mu) != 3 or not (mu[0] > mu[1] + mu[2] and mu[1] > mu[2] >= 0):
                raise job_error("with protocol = \"bb84_decoy\" needs three [qkd.source].intensities "
                                f"μ1 > μ2 + μ3, μ2 > μ3 >= 0 (Lim et al. 2014), got {list(mu)}",
                                key=("security",), value=self.security, has_value=True)
        given = self.source.model_fields_set
        for key, protocols in _SOURCE_KEY_PROTOCOLS.items():
            if self.protocol not in protocols and key in given:
                raise job_error(f"only used with protocol = {_protocol_list(protocols)} "
                                f"(here protocol = {toml_repr(self.protocol)})",
                                key=("source", key), value=getattr(self.source, key), has_value=True)
        if self.protocol == "bb84_decoy":
            for key, other in (("probabilities", "intensities"), ("intensities", "probabilities")):
                if getattr(self.source, key) is None:
                    raise job_error(f"required when {other} is given: give both or neither "
                                    "(one probability per intensity)", key=("source", key), missing=True)
        if "cascade_order" in self.model_fields_set and self.error_correction != "cascade":
            raise job_error(f"only used with error_correction = \"cascade\" (here error_correction = "
                            f"{toml_repr(self.error_correction)})", key=("cascade_order",), value=self.cascade_order,
                            has_value=True)
        if self.sweep is not None and self.network is not None:
            raise job_error("a sweep is not supported together with [qkd.network] "
                            "(sweep a single link, or run the network at its own distances)",
                            key=("sweep", "distances_km"), value=self.sweep.distances_km, has_value=True)
        if "ldpc_mode" in self.model_fields_set and self.error_correction != "ldpc":
            raise job_error(f"only used with error_correction = \"ldpc\" (here error_correction = "
                            f"{toml_repr(self.error_correction)})", key=("ldpc_mode",), value=self.ldpc_mode,
                            has_value=True)
        network_distances = self.network is not None and self.network.distances_km is not None
        if self.link.distance_km is None and self.sweep is None and not network_distances:
            raise job_error("required unless [qkd.sweep] or [qkd.network].distances_km gives the distances",
                            key=("link", "distance_km"), missing=True)
        if self.eve is not None:
            self._check_eve_links()
        if self.eve is not None and self.protocol in _ENTANGLED_PROTOCOLS:
            self._check_entangled_eve()
        elif self.eve is not None:
            shortest = min(self._attacked_distances_km())
            if self.eve.distance_km > shortest:
                where = ("the shortest of [qkd.sweep].distances_km" if self.sweep is not None
                         else self._attacked_words() if self.network is not None
                         else "[qkd.link].distance_km")
                raise job_error(f"must be in [0, {format_number(shortest)}] (Eve taps the fibre; "
                                f"{where} is {toml_repr(shortest)})", key=("eve", "distance_km"),
                                value=self.eve.distance_km, has_value=True)
        self._check_clock()
        return self

    def _distance_keys(self) -> list[tuple[tuple[str | int, ...], float]]:
        """Every fibre length of the job with the key that gives it (a sweep's, the network's, the link's)."""
        if self.sweep is not None:
            return [(("sweep", "distances_km", i), d) for i, d in enumerate(self.sweep.distances_km)]
        if self.network is not None and self.network.distances_km is not None:
            return [(("network", "distances_km", i), d) for i, d in enumerate(self.network.distances_km)]
        return [(("link", "distance_km"), self.link.distance_km)]

    def _check_clock(self) -> None:
        """Refuse a run whose simulated time the engine's int64 picoseconds cannot count: its pulses' emission
        (:data:`MAX_QKD_EMISSION_PS`) or one crossing of its longest fibre (:data:`MAX_QKD_FIBRE_DELAY_PS`)."""
        rate = self.source.source_rate_hz
        emission_ps = self.pulses / rate * PS_PER_S
        if emission_ps > MAX_QKD_EMISSION_PS:
            raise job_error(f"{format_number(self.pulses)} pulses take {emission_ps / PS_PER_S:.3g} s to emit at this "
                            f"rate, more than the {MAX_QKD_EMISSION_PS / PS_PER_S:.3g} s a run can simulate (its "
                            "clock counts int64 picoseconds); raise the rate or lower [qkd].pulses",
                            key=("source", "source_rate_hz"), value=rate, has_value=True)
        key, longest = max(self._distance_keys(), key=lambda item: item[1])
        delay_ps = longest * M_PER_KM * self.link.group_index / SPEED_OF_LIGHT_M_PER_S * PS_PER_S
        if delay_ps > MAX_QKD_FIBRE_DELAY_PS:
            limit_km = MAX_QKD_FIBRE_DELAY_PS / PS_PER_S * SPEED_OF_LIGHT_M_PER_S / M_PER_KM / self.link.group_index
            raise job_error(f"light takes {delay_ps / PS_PER_S:.3g} s through this fibre (group_index "
                            f"{toml_repr(self.link.group_index)}), more than the "
                            f"{MAX_QKD_FIBRE_DELAY_PS / PS_PER_S:.3g} s a run allows per crossing (its clock counts "
                            f"int64 picoseconds): at most {limit_km:.4g} km", key=key, value=longest, has_value=True)

    def _check_eve_links(self) -> None:
        """``[qkd.eve].links``: only with ``[qkd.network]``, each index one of its links."""
        chosen = self.eve.links
        if chosen is None:
            return
        if self.network is None:
            raise job_error("only used with [qkd.network] (a single link or a sweep has one link: leave it out)",
                            key=("eve", "links"), value=chosen, has_value=True)
        count = self.network.num_nodes - 1
        for i, index in enumerate(chosen):
            if not 0 <= index < count:
                raise job_error(f"must be a link index in [0, {count - 1}] (the {self.network.topology} of "
                                f"{self.network.num_nodes} nodes has {count} links, 0-based in [qkd.network] order)",
                                key=("eve", "links", i), value=index, has_value=True)

    def eve_attacks(self, index: int) -> bool:
        """Whether Eve (``[qkd.eve]``, an attack other than ``"none"``) attacks link ``index`` (0-based)."""
        if self.eve is None or self.eve.attack == "none":
            return False
        return self.eve.links is None or index in self.eve.links

    def _attacked_distances_km(self) -> list[float]:
        """The lengths, km, of the links Eve attacks (every run distance without ``[qkd.eve].links``)."""
        if self.eve is None or self.eve.links is None:
            return self.distances_km()
        lengths = self.distances_km()
        return [lengths[index] for index in self.eve.links]

    def _attacked_words(self) -> str:
        """Which link bounds Eve's distance in a network, for an error line."""
        if self.eve.links is None:
            return "the shortest link of [qkd.network]"
        return "the shortest link she attacks ([qkd.eve].links)"

    def _check_entangled_eve(self) -> None:
        """BBM92/E91: Eve intercepts and resends on Bob's arm; no beam splitting, no multi-pair source."""
        eve, protocol = self.eve, toml_repr(self.protocol)
        if eve.attack == "beam_splitting":
            raise job_error(f"is not modelled for protocol = {protocol} (a pair source: a photon Eve keeps never "
                            "reaches Bob); use \"intercept_resend\" or \"none\"", key=("eve", "attack"),
                            value=eve.attack, has_value=True)
        if eve.attack == "intercept_resend" and self.source.mean_pair_number is not None:
            raise job_error(f"with protocol = {protocol} is modelled for a one-pair source only: remove "
                            f"[qkd.source].mean_pair_number (= {toml_repr(self.source.mean_pair_number)})",
                            key=("eve", "attack"), value=eve.attack, has_value=True)
        shortest = min(self._attacked_distances_km())
        arm = (1.0 - self.source.position) * shortest
        if eve.distance_km > arm:
            raise job_error(f"must be in [0, {format_number(arm)}] (with protocol = {protocol} Eve taps Bob's arm, "
                            f"measured from the source at [qkd.source].position = {toml_repr(self.source.position)} "
                            f"of the shortest link, {toml_repr(shortest)} km)", key=("eve", "distance_km"),
                            value=eve.distance_km, has_value=True)

    def network_links(self, distance_km: float | None = None) -> list[tuple[int, int, float]]:
        """Every link as ``(a, b, distance_km)``: ``[(0, 1, d)]`` without ``[qkd.network]``.

        Args:
            distance_km: length, km, of links without a length of their own
                (e.g. one point of a sweep); default ``[qkd.link].distance_km``.

        Returns:
            One tuple per link, in :meth:`QkdNetworkSection.links` order.

        Raises:
            ConfigError: a link has no length (a sweep without
                ``[qkd.link].distance_km`` and no ``distance_km`` given).
        """
        if self.network is not None and self.network.distances_km is not None:
            return [(a, b, d) for (a, b), d in zip(self.network.links(), self.network.distances_km)]
        length = self.link.distance_km if distance_km is None else float(distance_km)
        if length is None:
            raise ConfigError("QkdSection.network_links: the link has no length: [qkd.link].distance_km "
                              "is not set (the job sweeps [qkd.sweep].distances_km); pass distance_km")
        pairs = self.network.links() if self.network is not None else [(0, 1)]
        return [(a, b, length) for a, b in pairs]

    def node_names(self) -> list[str]:
        """The nodes' names in index order, by their role: what timelines and summaries call them.

        One link: ``alice``, ``bob``; a chain: ``alice``, ``trusted1``, ...,
        ``bob``; a star: ``hub``, ``leaf1``, ... (the tables number them 0, 1, ...).

        Examples:
            >>> QkdSection(link={"distance_km": 10}, network={"topology": "chain", "num_nodes": 4}).node_names()
            ['alice', 'trusted1', 'trusted2', 'bob']
            >>> QkdSection(link={"distance_km": 10}, network={"topology": "star", "num_nodes": 3}).node_names()
            ['hub', 'leaf1', 'leaf2']
        """
        return list(self.node_name_sequence())

    def node_name_sequence(self) -> RoleNames:
        """The nodes' names in index order, as :meth:`node_names` gives them, without a string per node: a
        :class:`~dqsim.network.node.RoleNames` (each name made when read, its index read off the name).

        Examples:
            >>> names = QkdSection(link={"distance_km": 10}, network={"topology": "star", "num_nodes": 4000})
            >>> names = names.node_name_sequence()
            >>> names[3999], names.index("leaf17"), len(names)
            ('leaf3999', 17, 4000)
        """
        if self.network is None:
            return RoleNames("alice", "trusted", 2, last="bob")
        if self.network.topology == "star":
            return RoleNames("hub", "leaf", self.network.num_nodes)
        return RoleNames("alice", "trusted", self.network.num_nodes, last="bob")

    def distances_km(self) -> list[float]:
        """Fibre lengths to run, km: the sweep's distances, else each link's (one link: ``[d]``)."""
        if self.sweep is not None:
            return list(self.sweep.distances_km)
        return [d for _, _, d in self.network_links()]


#: Shortest fibre at which a length likely was typed in metres (``[qkd]`` lengths are in km): ``dqsim check`` and
#: ``dqsim run`` warn, and a link that passes no photon says so in the run's summary.
METRES_HINT_KM = 1000.0


class QkdJob(JobConfig):
    """Scenario ``"qkd"``: quantum key distribution over fibre links.

    One link from Alice (node 0) to Bob (node 1), optionally swept over
    distances (``[qkd.sweep]``) or replaced by a chain or star of links whose
    keys trusted nodes relay (``[qkd.network]``).

    Attributes:
        qkd: the ``[qkd]`` section with its tables.

    Examples:
        >>> from dqsim.jobs import apply_overrides, load_job_text
        >>> job = load_job_text('''
        ... [run]
        ... name = "bb84"
        ... scenario = "qkd"
        ... [qkd]
        ... pulses = 1000
        ... [qkd.link]
        ... distance_km = 50
        ... ''')
        >>> job.qkd.protocol, job.qkd.batch_pulses, job.qkd.source.intensities, job.distances_km()
        ('bb84_decoy', 1000, [0.5, 0.1, 0.0], [50.0])
        >>> apply_overrides(job, ["qkd.source.werner=0.9"])
        Traceback (most recent call last):
        ...
        dqsim.errors.ConfigError: <string> (with --set qkd.source.werner=0.9): [qkd.source].werner = 0.9: only used with protocol = "bbm92" or "e91" (here protocol = "bb84_decoy")
    """

    scenario: ClassVar[str] = "qkd"

    qkd: QkdSection

    def distances_km(self) -> list[float]:
        """Fibre lengths to run, km (:meth:`QkdSection.distances_km`)."""
        return self.qkd.distances_km()

    def warnings(self) -> list[str]:
        """Lines on what the job allows but will likely regret: a fibre of :data:`METRES_HINT_KM` or more, a
        length in metres written in a km key (``distances_km = [25000]`` for 25 km; the run would end with
        no key at that distance and, until 2026-12-07, ``dqsim check`` said nothing).

        Examples:
            >>> from dqsim.jobs import load_job_text
            >>> job = load_job_text('[run]\\nname = "s"\\nscenario = "qkd"\\n[qkd]\\npulses = 1000\\n'
            ...                     '[qkd.sweep]\\ndistances_km = [25, 25000]')
            >>> job.warnings()  # doctest: +NORMALIZE_WHITESPACE
            ['<string>: [qkd.sweep].distances_km[1] = 25000 km: 5000 dB of fibre loss, no photon arrives; lengths
              are in km, not m']
        """
        lines = []
        for key, distance in self.qkd._distance_keys():
            if distance >= METRES_HINT_KM:
                name = f"[qkd.{key[0]}].{key[1]}" + (f"[{key[2]}]" if len(key) > 2 else "")
                loss_db = distance * self.qkd.link.attenuation_db_per_km
                lines.append(f"{self.source}: {name} = {distance:g} km: {loss_db:.0f} dB of fibre loss, no photon "
                             "arrives; lengths are in km, not m")
        return lines

    def network_links(self, distance_km: float | None = None) -> list[tuple[int, int, float]]:
        """Every link as ``(a, b, distance_km)`` (:meth:`QkdSection.network_links`)."""
        return self.qkd.network_links(distance_km)

    def node_names(self) -> list[str]:
        """The nodes' names in index order (:meth:`QkdSection.node_names`)."""
        return self.qkd.node_names()
