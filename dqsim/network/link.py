"""One optical link between two nodes: its fibre, detectors, source and scheme."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Sequence

from dqsim import units
from dqsim.errors import ConfigError
from dqsim.network import entanglement
from dqsim.checks import check_choice, check_int, check_real
from dqsim.network.detectors import dark_count_probability
from dqsim.network.entanglement import DEFAULT_BRIGHT_STATE_ALPHA, SCHEMES
from dqsim.network.fibre import (
    DEFAULT_ATTENUATION_DB_PER_KM,
    DEFAULT_GROUP_INDEX,
    propagation_delay_ps,
    total_transmittance,
)

#: Detector efficiency of a superconducting nanowire detector (SNSPD) class
#: device; Marsili et al., Nat. Photonics 7, 210 (2013) report 93% at 1550 nm.
DEFAULT_DETECTOR_EFFICIENCY = 0.9

#: Dark count rate of an SNSPD-class detector, Hz (Marsili et al. 2013:
#: ~1 kHz at their highest efficiency, below 10 Hz at slightly lower bias).
DEFAULT_DARK_COUNT_RATE_HZ = 10.0

#: Detection gate (coincidence window) width, ps.
DEFAULT_GATE_WIDTH_PS = 1000

#: Longest mean time to a heralded pair a run accepts, ps: 2**63 ps (the engine's int64 clock,
#: about 107 days) shared by up to 1024 pairs in a row, about 2.5 h of simulated time per pair.
MAX_MEAN_PAIRING_TIME_PS = float(2**63 // 1024)

#: Latest simulated time the engine's int64 picosecond clock holds, ps (about 107 days).
ENGINE_CLOCK_MAX_PS = 2**63 - 1


@dataclass(frozen=True, kw_only=True)
class LinkSpec:
    """A fibre link between two nodes and how it makes entangled pairs.

    All fields are validated on construction (:class:`dqsim.errors.ConfigError`,
    a ``ValueError``, naming the field, its value and the allowed range).
    Derived quantities are properties.

    Attributes:
        distance_km: fibre length between the two nodes, km, >= 0.
        attenuation_db_per_km: fibre attenuation, dB/km, >= 0.
        coupling_loss_db: lumped coupling loss of each path from an emitter
            to a detector, dB, >= 0.
        group_index: fibre group index n_g, >= 1.
        detector_efficiency: detector efficiency in (0, 1].
        dark_count_rate_hz: detector dark count rate, Hz, >= 0; with
            ``gate_width_ps`` it gives the false heralds of
            :mod:`dqsim.network.entanglement`.
        dead_time_ps: detector dead time, ps, >= 0 (QKD only). Heralding ignores it: a click
            could blind a station detector for the next attempt only if the dead time exceeded
            the attempt period, which is at least the round trip n_g·L/c (4.9 us per km of
            link), so never for SNSPD-class dead times (tens of ns) on links over 20 m; the
            gap between Barrett-Kok's two rounds is not modelled.
        gate_width_ps: detection gate width, ps, > 0.
        source_rate_hz: repetition rate of the photon source, Hz, > 0, or
            ``None``; at most one of ``source_rate_hz`` and
            ``source_period_ps`` is set (neither: the source does not limit
            the attempt rate).
        source_period_ps: time between emissions of the source, ps, >= 1, or ``None``.
        scheme: ``"single_click"``, ``"double_click"`` or ``"direct"``
            (:mod:`dqsim.network.entanglement`).
        bright_state_alpha: bright-state population α in (0, 1/2]
            (single-click only).
        source_fidelity: fidelity of the pairs the hardware would make
            without loss, in [1/4, 1].

    Examples:
        >>> link = LinkSpec(distance_km=20.0)
        >>> link.delay_ps
        97934418
        >>> round(link.success_probability, 6)
        0.161233
        >>> round(link.delivered_fidelity, 6)  # 10 Hz dark counts in 1 ns gates: 1 - 6e-8
        1.0
        >>> LinkSpec(distance_km=-1.0)
        Traceback (most recent call last):
            ...
        dqsim.errors.ConfigError: LinkSpec: distance_km must be in [0, inf), got -1.0
    """

    distance_km: float
    attenuation_db_per_km: float = DEFAULT_ATTENUATION_DB_PER_KM
    coupling_loss_db: float = 0.0
    group_index: float = DEFAULT_GROUP_INDEX
    detector_efficiency: float = DEFAULT_DETECTOR_EFFICIENCY
    dark_count_rate_hz: float = DEFAULT_DARK_COUNT_RATE_HZ
    dead_time_ps: int = 0
    gate_width_ps: int = DEFAULT_GATE_WIDTH_PS
    source_rate_hz: float | None = None
    source_period_ps: int | None = None
    scheme: str = "double_click"
    bright_state_alpha: float = DEFAULT_BRIGHT_STATE_ALPHA
    source_fidelity: float = 1.0

    def __post_init__(self) -> None:
        where = "LinkSpec"
        kw = {"error": ConfigError}
        check_real(where, "distance_km", self.distance_km, 0.0, **kw)
        check_real(where, "attenuation_db_per_km", self.attenuation_db_per_km, 0.0, **kw)
        check_real(where, "coupling_loss_db", self.coupling_loss_db, 0.0, **kw)
        check_real(where, "group_index", self.group_index, 1.0, **kw)
        check_real(where, "detector_efficiency", self.detector_efficiency, 0.0, 1.0,
                   low_open=True, **kw)
        check_real(where, "dark_count_rate_hz", self.dark_count_rate_hz, 0.0, **kw)
        check_int(where, "dead_time_ps", self.dead_time_ps, 0, **kw)
        check_int(where, "gate_width_ps", self.gate_width_ps, 1, **kw)
        if self.source_rate_hz is not None and self.source_period_ps is not None:
            raise ConfigError(
                f"{where}: set at most one of source_rate_hz and source_period_ps, "
                f"got source_rate_hz={self.source_rate_hz!r} and "
                f"source_period_ps={self.source_period_ps!r}"
            )
        if self.source_rate_hz is not None:
            check_real(where, "source_rate_hz", self.source_rate_hz, 0.0, low_open=True, **kw)
        if self.source_period_ps is not None:
            check_int(where, "source_period_ps", self.source_period_ps, 1, **kw)
        check_choice(where, "scheme", self.scheme, SCHEMES, **kw)
        check_real(where, "bright_state_alpha", self.bright_state_alpha, 0.0, 0.5,
                   low_open=True, **kw)
        check_real(where, "source_fidelity", self.source_fidelity, 0.25, 1.0, **kw)
        # The fibre delay and the source period become int64 picoseconds of the engine's clock: a length
        # (1e308 km, or a group index of 1e308) or a rate (5e-324 Hz) whose time does not fit cannot be simulated.
        clock_s = units.ps_to_seconds(ENGINE_CLOCK_MAX_PS)
        delay_s = self.group_index * self.distance_km * units.M_PER_KM / units.SPEED_OF_LIGHT_M_PER_S
        if delay_s > clock_s:
            light_km = clock_s * units.SPEED_OF_LIGHT_M_PER_S / units.M_PER_KM  # at group index 1
            clock = f"light must cross the fibre within the {clock_s:.3g} s the engine's int64 picosecond clock holds"
            if self.distance_km > light_km:  # too long at any group index
                raise ConfigError(f"{where}: distance_km must be at most {light_km / self.group_index:.3g} at "
                                  f"group_index = {self.group_index!r} ({clock}), got {self.distance_km!r}")
            raise ConfigError(f"{where}: group_index must be at most {light_km / self.distance_km:.3g} at "
                              f"distance_km = {self.distance_km!r} ({clock}), got {self.group_index!r}")
        if self.source_rate_hz is not None and 1.0 / self.source_rate_hz > clock_s:
            raise ConfigError(f"{where}: source_rate_hz must be at least {1.0 / clock_s:.3g} (one emission per "
                              f"{clock_s:.3g} s, the engine's int64 picosecond clock), got {self.source_rate_hz!r}")

    def with_lengths(self, lengths: Sequence[float]) -> list["LinkSpec"]:
        """This link at each of ``lengths`` (km), checked at the shortest and the longest only: a ``distance_km``
        is refused below 0 or where the delay leaves the engine's clock, so every length between two accepted ones
        is accepted. One ``dataclasses.replace`` per length checked every field again, ~60 us each: 7.6 CPU s for
        the 131,068 lengths of a 65,536-node edge list with a length per link (2026-12-07 (morning),
        bench/results/network-edges-file-vm-20261207.md).

        Raises:
            ConfigError: the shortest or the longest length refused (its message).

        Examples:
            >>> specs = LinkSpec(distance_km=1.0, source_fidelity=0.9).with_lengths([2.0, 3.5])
            >>> specs == [LinkSpec(distance_km=km, source_fidelity=0.9) for km in (2.0, 3.5)]
            True
        """
        lengths = list(lengths)
        if not lengths:
            return []
        for length in {min(lengths), max(lengths)}:
            dataclasses.replace(self, distance_km=length)
        # the fields in the order __init__ writes them (distance_km first): the instances then share one table of
        # keys, as those __init__ makes do (~290 bytes a spec; ~560 with the keys in another order)
        rest = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                if field.name != "distance_km"}
        specs = []
        for length in lengths:
            spec = object.__new__(LinkSpec)  # a frozen dataclass: its fields live in the instance dict
            values = spec.__dict__
            values["distance_km"] = length
            values.update(rest)
            specs.append(spec)
        return specs

    @functools.cached_property  # frozen: computed once per link
    def transmittance(self) -> float:
        """End-to-end transmittance of the whole link, detector included."""
        return total_transmittance(self.distance_km, self.attenuation_db_per_km,
                                   self.coupling_loss_db, self.detector_efficiency)

    @functools.cached_property  # frozen: computed once per link
    def arm_transmittance(self) -> float:
        """Transmittance from one node to the station's detector (half the link for
        midpoint schemes, the whole link for ``"direct"``)."""
        arm_km = entanglement.station_distance_km(self.scheme, self.distance_km)
        return total_transmittance(arm_km, self.attenuation_db_per_km,
                                   self.coupling_loss_db, self.detector_efficiency)

    @functools.cached_property  # frozen: computed once per link
    def delay_ps(self) -> int:
        """One-way propagation delay from node to node, ps: n_g·L/c."""
        return propagation_delay_ps(self.distance_km, self.group_index)

    @functools.cached_property  # frozen: computed once per link
    def herald_delay_ps(self) -> int:
        """Time from an attempt's emission until both nodes know its outcome, ps
        (:func:`dqsim.network.entanglement.herald_delay_ps`: one link delay for
        midpoint schemes, two for ``"direct"``)."""
        return entanglement.herald_delay_ps(self.distance_km, scheme=self.scheme,
                                            group_index=self.group_index)

    @functools.cached_property  # frozen: computed once per link
    def photons_per_attempt(self) -> float:
        """Mean photons sent into the fibre per attempt
        (:func:`dqsim.network.entanglement.photons_per_attempt`: 2α, 2 or 1)."""
        return entanglement.photons_per_attempt(self.scheme, bright_state_alpha=self.bright_state_alpha)

    @functools.cached_property  # frozen: computed once per link
    def single_click_photon_laws(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """``(failed, heralded)``: the laws of the photons (0, 1, 2) sent in a failed and in the heralding
        single-click attempt (:func:`dqsim.network.entanglement.single_click_photon_laws`)."""
        return entanglement.single_click_photon_laws(self.bright_state_alpha, self.arm_transmittance,
                                                     self.dark_count_probability)

    @functools.cached_property  # frozen: computed once per link
    def dark_count_probability(self) -> float:
        """Probability of a dark count in one detection gate."""
        return dark_count_probability(self.dark_count_rate_hz, self.gate_width_ps)

    @functools.cached_property  # frozen: computed once per link
    def effective_source_period_ps(self) -> int:
        """Shortest time between emissions of the source, ps (0: no limit)."""
        if self.source_period_ps is not None:
            return self.source_period_ps
        if self.source_rate_hz is not None:
            return max(1, units.seconds_to_ps(1.0 / self.source_rate_hz))
        return 0

    @functools.cached_property  # frozen: computed once per link
    def success_probability(self) -> float:
        """Probability that one attempt heralds a pair
        (:func:`dqsim.network.entanglement.success_probability`)."""
        return entanglement.success_probability(
            self.scheme, self.arm_transmittance, bright_state_alpha=self.bright_state_alpha,
            dark_count_probability=self.dark_count_probability)

    @functools.cached_property  # frozen: computed once per link
    def attempt_period_ps(self) -> int:
        """Time per attempt, ps: the larger of the herald round trip and the
        source period, and at least 1 ps so that simulated time advances."""
        period_ps = entanglement.attempt_period_ps(
            self.distance_km, scheme=self.scheme, group_index=self.group_index,
            source_period_ps=self.effective_source_period_ps)
        return max(1, period_ps)

    @functools.cached_property  # frozen: computed once per link
    def mean_time_to_success_ps(self) -> float:
        """Mean time to the first heralded pair, ps (``math.inf`` if p = 0)."""
        return entanglement.mean_time_to_success_ps(self.success_probability,
                                                    self.attempt_period_ps)

    @functools.cached_property  # frozen: computed once per link
    def delivered_fidelity(self) -> float:
        """Fidelity of a heralded pair
        (:func:`dqsim.network.entanglement.delivered_fidelity`)."""
        return entanglement.delivered_fidelity(
            self.scheme, bright_state_alpha=self.bright_state_alpha,
            source_fidelity=self.source_fidelity, arm_transmittance=self.arm_transmittance,
            dark_count_probability=self.dark_count_probability)

    @functools.cached_property  # frozen: computed once per link
    def delivered_entangled(self) -> bool:
        """Whether a heralded pair is entangled (:func:`dqsim.network.entanglement.is_entangled_two_qubit` of
        :func:`dqsim.network.entanglement.delivered_state`): a single-click pair is not Bell-diagonal, so a
        fidelity at most 1/2 does not make it separable."""
        return entanglement.is_entangled_two_qubit(entanglement.delivered_state(
            self.scheme, bright_state_alpha=self.bright_state_alpha,
            source_fidelity=self.source_fidelity, arm_transmittance=self.arm_transmittance,
            dark_count_probability=self.dark_count_probability))

    @property
    def fidelity_depends_on_length(self) -> bool:
        """Whether :attr:`delivered_fidelity` depends on ``distance_km``: ``"single_click"`` always, the other
        schemes with dark counts only (without them a pair has ``source_fidelity``:
        :func:`dqsim.network.entanglement.delivered_fidelity`).

        Examples:
            >>> LinkSpec(distance_km=1.0, dark_count_rate_hz=0.0).fidelity_depends_on_length
            False
            >>> LinkSpec(distance_km=1.0, scheme="single_click").fidelity_depends_on_length
            True
        """
        return self.scheme == "single_click" or self.dark_count_probability > 0.0

    @functools.cached_property  # frozen: computed once per link
    def delivers_werner(self) -> bool:
        """Whether :attr:`delivered_state` is the Werner state of :attr:`delivered_fidelity`: ``"direct"``
        always, ``"double_click"`` without dark counts, ``"single_click"`` never (a protocol may then hand
        the engine the Werner parameter instead of the matrix)."""
        return self.scheme == "direct" or (self.scheme == "double_click" and self.dark_count_probability == 0.0)

    @functools.cached_property  # frozen: computed once per link
    def delivered_state(self):
        """Density matrix of a heralded pair, read only, 4x4, little-endian over (initiator, responder)
        (:func:`dqsim.network.entanglement.delivered_state`: exact for each scheme's model; not Bell diagonal
        for ``"single_click"``, Bell diagonal but not Werner for ``"double_click"`` with dark counts, the Werner
        state of :attr:`delivered_fidelity` for ``"direct"``)."""
        return entanglement.delivered_state(
            self.scheme, bright_state_alpha=self.bright_state_alpha,
            source_fidelity=self.source_fidelity, arm_transmittance=self.arm_transmittance,
            dark_count_probability=self.dark_count_probability)


def check_pairing_horizon(link: LinkSpec, where: str) -> None:
    """Refuse a link whose pairs would take longer than the simulated clock can count.

    The engine counts time in int64 picoseconds; a link whose mean time to a
    pair, ``attempt_period_ps / p`` (:attr:`LinkSpec.mean_time_to_success_ps`),
    exceeds :data:`MAX_MEAN_PAIRING_TIME_PS` (or whose success probability is
    0) would overflow it or never finish, so it is refused before the run.

    Raises:
        ConfigError: naming ``where``, the distance, the mean time and the limit.

    Examples:
        >>> check_pairing_horizon(LinkSpec(distance_km=10.0), "[network.link]")
        >>> check_pairing_horizon(LinkSpec(distance_km=500.0), "[network.link]")
        Traceback (most recent call last):
        ...
        dqsim.errors.ConfigError: [network.link]: distance_km = 500.0: a pair takes 6e+07 s on average (success probability 4.1e-11 per attempt), more than the 9.01e+03 s a run can simulate per pair; use shorter links or another scheme
    """
    mean_ps = link.mean_time_to_success_ps
    if mean_ps <= MAX_MEAN_PAIRING_TIME_PS:
        return
    limit_s = MAX_MEAN_PAIRING_TIME_PS / units.PS_PER_S
    taken = "never (success probability 0)" if mean_ps == float("inf") else \
        f"{mean_ps / units.PS_PER_S:.2g} s on average"
    raise ConfigError(f"{where}: distance_km = {link.distance_km}: a pair takes {taken} "
                      f"(success probability {link.success_probability:.2g} per attempt), more than the "
                      f"{limit_s:.3g} s a run can simulate per pair; use shorter links or another scheme")


def pairing_horizon_holds_below(link: LinkSpec, longest_km: float) -> bool:
    """Whether :func:`check_pairing_horizon` accepts ``link`` at every length up to ``longest_km``, judged from that
    length alone: ``True`` only where it provably does (``False``: ask each length).

    The mean time to a pair, ``attempt_period_ps / p``, never falls as the link lengthens while the dark-count
    probability ``p_d`` per gate is below 1/2: the attempt period (a round trip, rounded to ps) never shortens, the
    arm transmittance η falls, and the herald probability ``p`` of every scheme rises with η there
    (:func:`dqsim.network.entanglement.success_probability`: ``1 - (1 - η)q`` direct; ``q(s(1 - 2p_d) + 2p_d)``
    with ``s = αη(2 - αη)`` rising for ``αη <= 1`` single-click; ``(a² + tz)/2`` with ``a = q(η(1 - 2p_d) +
    2p_d)`` and ``t = q(1 - (1 - η)²(1 - 2p_d))`` rising double-click). So the longest length bounds every
    shorter one; a margin of 1e-9 (relative) keeps float rounding between nearby lengths from mattering.

    Examples:
        >>> pairing_horizon_holds_below(LinkSpec(distance_km=1.0), 50.0)
        True
        >>> pairing_horizon_holds_below(LinkSpec(distance_km=1.0), 500.0)  # refused there: ask each length
        False
    """
    if not link.dark_count_probability < 0.5:
        return False
    longest = link.with_lengths([longest_km])[0]
    return longest.mean_time_to_success_ps <= MAX_MEAN_PAIRING_TIME_PS * (1.0 - 1e-9)


def check_graph_pairing_horizon(graph) -> None:
    """:func:`check_pairing_horizon` for every edge of a network graph (edges carry ``link``), before any work."""
    for u, v, data in graph.edges(data=True):
        check_pairing_horizon(data["link"], f"[network] link {u}-{v}")
