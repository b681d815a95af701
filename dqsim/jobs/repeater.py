"""Job files of the ``"repeater"`` scenario: ``[chain]``, ``[chain.link]``, ``[chain.node]``.

Errors are the one-line :class:`~dqsim.errors.ConfigError` of every job file
(:mod:`dqsim.jobs.errors`, which names ``[chain.link]`` and ``[chain.node]``
as nested tables)::

    jobs/x.toml: [chain].num_links[1] = 3: must be a power of two with swapping = "nested" (1, 2, 4, 8, ...)
    jobs/x.toml: unknown key [chain.link].distance_km (each link is [chain].total_distance_km / num_links
        long); allowed keys: ...

Examples:
    >>> from dqsim.jobs import load_job_text
    >>> job = load_job_text('''
    ... [run]
    ... name = "chain"
    ... scenario = "repeater"
    ... [chain]
    ... num_links = [1, 2, 4]
    ... total_distance_km = 100
    ... swapping = "nested"
    ... [chain.link]
    ... scheme = "double_click"
    ... ''')
    >>> job.chain.configurations()
    [(1, 100.0), (2, 100.0), (4, 100.0)]
    >>> job.chain.link_spec(4, 100.0).distance_km
    25.0
    >>> load_job_text('[run]\\nname = "c"\\nscenario = "repeater"\\n[chain]\\nnum_links = 0\\ntotal_distance_km = 10')
    Traceback (most recent call last):
    ...
    dqsim.errors.ConfigError: <string>: [chain].num_links = 0: must be >= 1 (allowed 1..100000)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, field_validator, model_validator

from dqsim.errors import ConfigError, toml_repr
from dqsim.jobs.base import JobConfig
from dqsim.jobs.errors import check_no_repeats, job_error, unit_hint
from dqsim.jobs.network import LINK_FIELDS, LINK_FLOAT_FIELDS, NODE_FLOAT_FIELDS, checked_spec_parameters
from dqsim.jobs.schema import Section, bounded_int, bounded_real
from dqsim.network.entanglement import cutoff_pass_probability, least_mean_attempts
from dqsim.network.link import MAX_MEAN_PAIRING_TIME_PS, LinkSpec
from dqsim.network.network import PROTOCOL_CLOCK_LIMIT_PS, clock_limit_allowed_by
from dqsim.network.node import NodeSpec
from dqsim.network.relink_estimate import (RELINK_ESTIMATE_MAX_EVENTS, RELINK_ESTIMATE_SCREEN_EVENTS,
                                          RELINK_ESTIMATE_TOTAL_EVENTS, EventBudget, relink_makings_per_pair)
from dqsim.protocols.pumping_odds import PumpingNoise, PumpingOdds, mean_pumping
from dqsim.units import ps_to_seconds, seconds_to_ps

__all__ = ["ChainSection", "RepeaterJob", "MAX_CHAIN_LINKS"]

#: Most links of a chain. Memories are small states (no register), so the
#: limit is time and host memory (a few kB per node), not the state vector.
MAX_CHAIN_LINKS = 100_000

#: Most entries of ``num_links`` and of ``total_distance_km``.
MAX_SWEEP_ENTRIES = 64

#: Most end-to-end pairs per configuration.
MAX_CHAIN_PAIRS = 1_000_000

#: Longest memory cut-off, s: 10**6 s (11.6 days) converts to picoseconds well inside the engine's int64
#: clock (2**63 ps, about 107 days); a longer one is no cut-off (leave the key out).
MAX_CUTOFF_S = 10**6

#: Estimated chain attempts per delivered pair above which ``dqsim check`` and ``dqsim run`` warn of the
#: cut-off (:meth:`ChainSection.cutoff_warning`): more than 99% of attempts abandoned.
CUTOFF_WARN_ATTEMPTS_PER_PAIR = 100

#: The second pass of the ``"link"`` policy's warning samples again a configuration whose first, stopped sample
#: gives at least 1/this of the most makings found or of :data:`CUTOFF_WARN_ATTEMPTS_PER_PAIR`
#: (:meth:`ChainSection._link_cutoff_warning`).
LINK_CUTOFF_RESAMPLE_RATIO = 2

#: Cut-off, in units of the memories' shorter coherence time min(T1, T2), above which ``dqsim check`` and
#: ``dqsim run`` warn that it discards nothing useful (:meth:`ChainSection.coherence_warning`): a pair that old
#: keeps at most about e^-10 of its coherence.
COHERENCE_WARN_FACTOR = 10.0

#: Most failed pumping turns per link that the cut-off pass estimate sums over
#: (:meth:`ChainSection._pass_estimate`; a turn passes with at least 1/4, so the terms left are below 0.75**200).
MAX_ESTIMATED_FAILURES = 200

#: Smallest link success probability per attempt that a run may need (below it
#: a pair takes more than 10^9 attempts on average).
MIN_SUCCESS_PROBABILITY = 1e-9

#: Keys of ``[chain.link]``: every LinkSpec field but the length.
_CHAIN_LINK_FIELDS = tuple(f for f in LINK_FIELDS if f != "distance_km")

#: Keys of ``[chain.node]``: the NodeSpec fields the chain protocol uses.
_CHAIN_NODE_FIELDS = ("t1_s", "t2_s", "gate_1q_error_probability", "gate_2q_error_probability",
                      "measure_error_probability", "classical_processing_delay_ps")

_NODE_HINTS = {
    "num_data_qubits": "the chain protocol sets the memories: one per link side, two with purification",
    "num_comm_qubits": "the chain protocol sets the memories: one per link side, two with purification",
    "gate_1q_duration_ps": "protocol gates take no time in the repeater scenario",
    "gate_2q_duration_ps": "protocol gates take no time in the repeater scenario",
    "measure_duration_ps": "protocol measurements take no time in the repeater scenario",
    "name": "nodes are named node0 (A) ... nodeN (B)",
}


def _spare_attempts(cutoff_ps: int, least_ps: int, period_ps: int) -> int:
    """Spare attempts a repeater's links may spend before its pair reaches a cut-off of ``cutoff_ps``: ``m =
    ⌈(cutoff − a)/T⌉ − 1`` (``a = least_ps`` its least swap age, ``T = period_ps`` the attempt period), at least −1
    (a pair past the cut-off when it could first be swapped: none passes; :meth:`ChainSection.cutoff_warning`).

    Examples:
        >>> _spare_attempts(1000, 100, 300), _spare_attempts(1000, 100, 450), _spare_attempts(50, 100, 300)
        (2, 1, -1)
    """
    return max(-1, math.ceil((cutoff_ps - least_ps) / period_ps) - 1)


def _without_dark_counts(link: LinkSpec) -> LinkSpec:
    """``link`` with ``dark_count_rate_hz = 0``."""
    return dataclasses.replace(link, dark_count_rate_hz=0.0)


def _dark_counts_matter(link: LinkSpec) -> bool:
    """Whether ``link``'s dark counts, not its length, put its success probability below
    :data:`MIN_SUCCESS_PROBABILITY`: without them it would be above (review3 D5: a dark count in nearly every gate
    was reported as links too long)."""
    return (link.dark_count_probability > 0.0
            and _without_dark_counts(link).success_probability >= MIN_SUCCESS_PROBABILITY)


def _half_cutoff_phrase(cutoff_ps: int | None) -> str:
    """The end of a cut-off warning: where :meth:`ChainSection._half_cutoff_ps` found half passing, or that even the
    longest cut-off allowed does not (its ``None``).

    Examples:
        >>> _half_cutoff_phrase(2_500_000_000)
        'with cutoff_s > 0.0025 s'
        >>> _half_cutoff_phrase(None)
        'with no cutoff_s up to the longest allowed, 1e+06 s (leave cutoff_s out for no cut-off)'
    """
    if cutoff_ps is None:
        return f"with no cutoff_s up to the longest allowed, {MAX_CUTOFF_S:.3g} s (leave cutoff_s out for no cut-off)"
    return f"with cutoff_s > {ps_to_seconds(cutoff_ps):.3g} s"


def _number_list(value: Any, *, integer: bool, low: float, high: float | None = None,
                 low_open: bool = False) -> list:
    """A number or an array of numbers as a list, each checked; errors name the entry when an array, with
    :func:`~dqsim.jobs.errors.unit_hint`'s hint for a quoted one (since 2026-12-07 (night)), and refuse an entry
    repeating an earlier one (a sweep would run it twice: review3 D6)."""
    is_list = isinstance(value, list)
    items = value if is_list else [value]
    what = "an integer" if integer else "a number"
    if is_list and not 1 <= len(items) <= MAX_SWEEP_ENTRIES:
        raise job_error(f"must list 1..{MAX_SWEEP_ENTRIES} values, got {len(items)}", value=value,
                        has_value=True)
    out = []
    for index, item in enumerate(items):
        key = (index,) if is_list else ()
        numeric = isinstance(item, (int, float)) and not isinstance(item, bool)
        if not numeric or (integer and not isinstance(item, int)):
            raise job_error(f"expected {what} or an array of them, got {toml_repr(item)}{unit_hint(item)}", key=key)
        if not math.isfinite(item):
            raise job_error("must be finite", key=key, value=item, has_value=True)
        if integer:
            if item < low:
                raise job_error(f"must be >= {low:g} (allowed {low:g}..{high:g})", key=key, value=item,
                                has_value=True)
            if high is not None and item > high:
                raise job_error(f"must be <= {high:g} (allowed {low:g}..{high:g})", key=key, value=item,
                                has_value=True)
            out.append(int(item))
        else:
            if item < low or (low_open and item == low):
                raise job_error(f"must be in {'(' if low_open else '['}{low:g}, inf)", key=key, value=item,
                                has_value=True)
            out.append(float(item))
    if is_list:
        check_no_repeats(out)
    return out


def _entry_key(name: str, values: list, index: int) -> tuple:
    return (name, index) if len(values) > 1 else (name,)


def _difference_cdf(p: float, n: int) -> float:
    """``P(K <= n)`` for ``K = N1 − N2`` of two independent geometric(``p``) attempt counts: ``P(K = k) =
    p·q^|k|/(2 − p)``, so ``1 − q^(n+1)/(2 − p)`` for ``n >= 0`` and ``q^(−n)/(2 − p)`` below.

    Examples:
        >>> round(_difference_cdf(0.5, 0) - _difference_cdf(0.5, -1), 12)  # P(K = 0) = p/(2 - p)
        0.333333333333
    """
    q = 1 - p
    return 1 - q ** (n + 1) / (2 - p) if n >= 0 else q ** (-n) / (2 - p)


class ChainSection(Section):
    """``[chain]``: the repeater chains to run, their protocol and their hardware.

    Every combination of ``num_links`` and ``total_distance_km`` is one
    configuration (:meth:`configurations`), run one after another.

    Attributes:
        num_links: links of the chain, 1..100000, or an array of them.
        total_distance_km: length A–B, km, > 0, or an array; each link is
            ``total_distance_km / num_links`` long.
        swapping: ``"swap_asap"`` (default) or ``"nested"`` (num_links a power of two).
        purification_rounds: entanglement-pumping rounds per elementary link, 0..2 (default 0).
        purification: ``"bbpssw"`` (default) or ``"dejmps"``; only with purification_rounds >= 1.
        cutoff_s: memory cut-off, s, in (0, 10**6] (absent: none); see :mod:`dqsim.protocols.repeater`.
        cutoff_policy: what a pair that reaches the cut-off costs: ``"attempt"`` (default) the whole chain
            attempt, ``"link"`` only its link, made again while the other links keep their pairs (a pair already
            swapped into a longer segment: that segment, its links made again); only with cutoff_s (since
            2026-12-07 (morning)).
        pumping_cutoff: what a kept pair that reaches the cut-off while it is pumped costs: ``"attempt"``
            (default with ``cutoff_policy = "attempt"``) the whole chain attempt, ``"link"`` only its link, made
            again while the other links keep their pairs; only with purification_rounds >= 1 and cutoff_s, and
            with ``cutoff_policy = "link"`` only ``"link"`` (its default then: the policy covers pumped pairs).
        num_pairs: end-to-end pairs per configuration, 1..10**6 (default 100).
        max_restarts: chain attempts abandoned at the cut-off per pair before the run
            stops with an error, 0..10**9 (default 10_000).
        reference_rate_hz: channel uses per second at which direct transmission and
            the PLOB bound are compared, Hz, > 0 (absent: the source rate of
            ``[chain.link]``, else :data:`dqsim.scenarios.repeater.DEFAULT_REFERENCE_RATE_HZ`);
            one value for every configuration.
        link: ``[chain.link]``: keyword arguments of :class:`~dqsim.network.link.LinkSpec`
            except ``distance_km``, for every link.
        node: ``[chain.node]``: ``t1_s``, ``t2_s``, ``gate_1q_error_probability``,
            ``gate_2q_error_probability``, ``measure_error_probability``,
            ``classical_processing_delay_ps`` of :class:`~dqsim.network.node.NodeSpec`, for every node.
    """

    num_links: list[int]
    total_distance_km: list[float]
    swapping: Literal["swap_asap", "nested"] = "swap_asap"
    purification_rounds: bounded_int(0, 2) = 0
    purification: Literal["bbpssw", "dejmps"] = "bbpssw"
    cutoff_s: Optional[bounded_real(0.0, MAX_CUTOFF_S, low_open=True)] = None
    cutoff_policy: Literal["attempt", "link"] = "attempt"
    pumping_cutoff: Optional[Literal["attempt", "link"]] = None
    num_pairs: bounded_int(1, MAX_CHAIN_PAIRS) = 100
    max_restarts: bounded_int(0, 10**9) = 10_000
    reference_rate_hz: Optional[bounded_real(0.0, low_open=True)] = None
    link: dict[str, Any] = Field(default_factory=dict)
    node: dict[str, Any] = Field(default_factory=dict)

    @field_validator("num_links", mode="before")
    @classmethod
    def _check_num_links(cls, value: Any) -> list[int]:
        return _number_list(value, integer=True, low=1, high=MAX_CHAIN_LINKS)

    @field_validator("total_distance_km", mode="before")
    @classmethod
    def _check_total_distance(cls, value: Any) -> list[float]:
        return _number_list(value, integer=False, low=0.0, low_open=True)

    @field_validator("link")
    @classmethod
    def _check_link(cls, link: dict[str, Any]) -> dict[str, Any]:
        return checked_spec_parameters(
            link, LinkSpec, _CHAIN_LINK_FIELDS, LINK_FLOAT_FIELDS,
            {"distance_km": "each link is [chain].total_distance_km / num_links long"}, {"distance_km": 1.0})

    @field_validator("node")
    @classmethod
    def _check_node(cls, node: dict[str, Any]) -> dict[str, Any]:
        return checked_spec_parameters(node, NodeSpec, _CHAIN_NODE_FIELDS, NODE_FLOAT_FIELDS, _NODE_HINTS,
                                       {"name": "node0"})

    @model_validator(mode="after")
    def _check_chain(self) -> "ChainSection":
        if "purification" in self.model_fields_set and self.purification_rounds == 0:
            raise job_error("only used with purification_rounds >= 1 (here purification_rounds = 0)",
                            key=("purification",), value=self.purification, has_value=True)
        if "pumping_cutoff" in self.model_fields_set and (self.purification_rounds == 0 or self.cutoff_s is None):
            raise job_error("only used with purification_rounds >= 1 and a cutoff_s (here "
                            + ("purification_rounds = 0)" if self.purification_rounds == 0 else "no cutoff_s)"),
                            key=("pumping_cutoff",), value=self.pumping_cutoff, has_value=True)
        if "cutoff_policy" in self.model_fields_set and self.cutoff_s is None:
            raise job_error("only used with a cutoff_s (here no cutoff_s)", key=("cutoff_policy",),
                            value=self.cutoff_policy, has_value=True)
        if self.cutoff_policy == "link" and self.pumping_cutoff == "attempt":
            raise job_error('contradicts cutoff_policy = "link" (a kept pair cut while pumped then makes its link '
                            'alone again); leave pumping_cutoff out', key=("pumping_cutoff",),
                            value=self.pumping_cutoff, has_value=True)
        for index, links in enumerate(self.num_links):
            key = _entry_key("num_links", self.num_links, index)
            if self.swapping == "nested" and links & (links - 1):
                raise job_error('must be a power of two with swapping = "nested" (1, 2, 4, 8, ...)',
                                key=key, value=links, has_value=True)
        for index, total in enumerate(self.total_distance_km):
            for links in self.num_links:
                try:
                    link = self.link_spec(links, total)
                except ConfigError as exc:  # e.g. a fibre light cannot cross within the engine's clock
                    raise job_error(f"links of {total / links:g} km ({links} link(s)): "
                                    f"{str(exc).removeprefix('LinkSpec: ')}",
                                    key=_entry_key("total_distance_km", self.total_distance_km, index),
                                    value=total, has_value=True) from None
                probability = link.success_probability
                if probability < MIN_SUCCESS_PROBABILITY and _dark_counts_matter(link):
                    raise job_error(
                        f"a dark count in {link.dark_count_probability:.3g} of the detection gates (gate_width_ps = "
                        f"{link.gate_width_ps}) makes links of {total / links:g} km ({links} link(s)) succeed with "
                        f"probability {probability:.3g} per attempt, below {MIN_SUCCESS_PROBABILITY:g} (without dark "
                        f"counts {_without_dark_counts(link).success_probability:.3g}); lower dark_count_rate_hz",
                        key=("link", "dark_count_rate_hz"), value=link.dark_count_rate_hz, has_value=True)
                if probability < MIN_SUCCESS_PROBABILITY:
                    raise job_error(
                        f"links of {total / links:g} km ({links} link(s)) succeed with probability "
                        f"{probability:.3g} per attempt, below {MIN_SUCCESS_PROBABILITY:g}; too long to simulate",
                        key=_entry_key("total_distance_km", self.total_distance_km, index),
                        value=total, has_value=True)
                mean_ps = link.mean_time_to_success_ps
                if mean_ps > MAX_MEAN_PAIRING_TIME_PS:  # the engine's int64 picoseconds must hold the run
                    raise job_error(
                        f"links of {total / links:g} km ({links} link(s)) take {ps_to_seconds(mean_ps):.2g} s per "
                        f"pair on average, more than the {ps_to_seconds(MAX_MEAN_PAIRING_TIME_PS):.3g} s a run can "
                        "simulate per pair; use more links or shorter distances",
                        key=_entry_key("total_distance_km", self.total_distance_km, index),
                        value=total, has_value=True)
                self._check_cutoff(links, total)
                self._check_run_time(links, total)
        return self

    def _check_cutoff(self, links: int, total: float) -> None:
        """A cut-off no longer than the least age at which a repeater can swap a pair discards every pair first
        (a chain of 1 link has no repeater, and its end B, which applies the cut-off instead since 2026-12-06,
        learns of its pair as late as a repeater would). (Its bound MAX_CUTOFF_S keeps every timer inside the
        engine's int64 picosecond clock.)

        The repeater holds its link's pair a herald delay ``h`` after its emission, and acts on it the node's
        classical processing delay ``c`` later (as on every classical message); each pumping round adds the
        spare pair (a handshake of two messages, ``d + c`` each, after acting on the last herald, or one source
        period after the last emission if longer: ``max(h + 2d + 3c, P)`` after the kept pair,
        ``max(h + 3d + 4c, P)`` after a spare pair, whose bits were exchanged first) and its herald and bit
        exchange (``h + c + d + c``). Before 2026-12-07 the ``c`` terms were left out (the estimate added one),
        so a cut-off a few ``c`` above that age was accepted though no pair could pass it. (Since 2026-12-07 a
        pumped kept pair is discarded at its deadline while it is pumped, not once complete; no pair younger
        than this age can be complete either way, so this bound is unchanged.) With nested swapping the top
        repeater also waits for its segments' notices (:meth:`_least_swap_age_ps`).
        """
        if self.cutoff_s is None:
            return
        age_ps = self._least_swap_age_ps(self.link_spec(links, total), links)
        least_s = ps_to_seconds(age_ps)
        if self.cutoff_s <= least_s:
            rounds = f" with {self.purification_rounds} pumping round(s)" if self.purification_rounds else ""
            nested = self.swapping == "nested" and links > 2
            holder = "the top nested repeater" if nested else "a repeater" if links > 1 else "a chain end"
            raise job_error(
                f"no pair could ever be {'swapped' if links > 1 else 'delivered'}: over links of {total / links:g} "
                f"km ({links} link(s)){rounds} {holder} holds its pair "
                f"{least_s:.3g} s after the emission at the earliest (heralds, handshakes, bit exchanges, "
                f"{'segment notices, ' if nested else ''}processing delays); allowed cutoff_s > {least_s:.3g}",
                key=("cutoff_s",), value=self.cutoff_s, has_value=True)

    def _least_swap_age_ps(self, link: LinkSpec, links: int = 1, level: int | None = None) -> int:
        """The least age of a repeater's pair when it could swap it, ps, its processing delays included
        (:meth:`_check_cutoff`; ``tests/test_repeater.py`` checks it against lossless runs), for the repeaters of
        nested ``level`` (``None``: the largest a chain of ``links`` links has; 1 with ``swap_asap``).

        A level-``l > 1`` repeater of nested swapping also waits for the notices that its two segments are
        complete, each from the segment's middle repeater, ``2^(l-2)`` link delays and a processing delay away,
        whose pairs are as old as its own in a lossless chain: each level adds ``2^(l-2)·d + c`` (before
        2026-12-07 the level-1 age was taken for every repeater, so a cut-off the top repeater could never meet
        was accepted: ``bench/review_repeater_physics.py``, check ``nested_cutoff``)."""
        delay, herald, source = link.delay_ps, link.herald_delay_ps, link.effective_source_period_ps
        c = self.node_spec().classical_processing_delay_ps
        age_ps = 0
        for round_index in range(self.purification_rounds):
            first = round_index == 0
            age_ps += max(herald + (2 if first else 3) * delay + (3 if first else 4) * c, source)
        age_ps += herald + c + (delay + c if self.purification_rounds else 0)
        if level is None:
            level = self._top_level(links)
        return age_ps + sum(2 ** (upper - 2) * delay + c for upper in range(2, level + 1))

    def _level_ages_ps(self, link: LinkSpec, links: int) -> list[int]:
        """:meth:`_least_swap_age_ps` of each nested level's repeaters, level 1 first (swap-asap: level 1 alone), ps:
        the ages :meth:`_pass_estimate` and :meth:`_keep_estimates` count spare attempts from."""
        return [self._least_swap_age_ps(link, links, level) for level in range(1, self._top_level(links) + 1)]

    def _top_level(self, links: int) -> int:
        """The swap level of the chain's last repeater: log2(links) with nested swapping, else 1."""
        return (links.bit_length() - 1) if self.swapping == "nested" else 1

    def _pumping_noise(self, spec: NodeSpec | None = None) -> PumpingNoise:
        """The noise a pumping round meets: the nodes' (``spec``, else :meth:`node_spec`) T1, T2 and error
        probabilities, and the protocol."""
        spec = self.node_spec() if spec is None else spec
        return PumpingNoise(self.purification, spec.t1_s, spec.t2_s, spec.gate_1q_error_probability,
                            spec.gate_2q_error_probability, spec.measure_error_probability)

    def _ideal_pumping(self, link: LinkSpec, noise: PumpingNoise | None = None) -> bool:
        """Whether the Werner formulas of :meth:`_pumping_success` are exact: memories and gates ideal (``noise``,
        else :meth:`_pumping_noise`), and the kept pair Werner at every round (BBPSSW twirls it; DEJMPS's one round
        of Werner pairs)."""
        noise = self._pumping_noise() if noise is None else noise
        return noise.noiseless and (self.purification == "bbpssw" or (
            self.purification_rounds == 1 and link.delivers_werner))

    def _pumping_success(self, link: LinkSpec) -> tuple[float, ...]:
        """Success probability of each pumping round given the rounds before succeeded (:meth:`cutoff_pass_estimate`,
        the scalar odds of :meth:`_makings_estimate`).

        Memories and gates ideal (and the kept pair Werner at each round, :meth:`_ideal_pumping`): Werner pairs of
        the link's fidelity ``F``; round ``j`` pumps a spare pair of fidelity ``F`` into the kept pair of fidelity
        ``F_j`` (``F_1 = F``) and succeeds with ``F_j·F + F_j·g + g_j·F + 5·g_j·g`` (``g = (1 − F)/3``, ``g_j = (1 −
        F_j)/3``), after which the kept pair has ``F_(j+1) = (F_j·F + g_j·g)/`` that (Bennett et al., PRL 76, 722
        (1996), two Werner pairs of different fidelities; DEJMPS, Deutsch et al., PRL 77, 2818 (1996), gives the
        same for Werner inputs). Round 1 is ``F² + 2F·g + 5g²``
        (:func:`~dqsim.network.werner.bbpssw_success_probability`), to a rounding (before 2026-12-07 that function
        was called for it: the estimate may differ in its last bit).

        Otherwise (since 2026-12-07 (late afternoon); before, the Werner odds above, which err low where memories
        decohere or gates are noisy): :func:`~dqsim.protocols.pumping_odds.mean_pumping`, the round as the
        simulation applies it (the link's delivered pair, the engine's T1/T2 channel over the kept pair's wait,
        the gates' depolarising errors, readout flips; Dür & Briegel, PRL 98, 190503 (2007) for the pumping
        scheme), averaged over the spare pairs' attempts (the waits of :meth:`_pumping_waits_ps`), each round's
        at most the attempts the cut-off leaves one link (all without a cut-off)."""
        spec = self.node_spec()
        if self._ideal_pumping(link, self._pumping_noise(spec)):
            fidelity = link.delivered_fidelity
            g = (1 - fidelity) / 3
            odds, kept = [], fidelity
            for _round in range(self.purification_rounds):
                g_kept = (1 - kept) / 3
                success = kept * fidelity + kept * g + g_kept * fidelity + 5 * g_kept * g
                odds.append(success)
                kept = (kept * fidelity + g_kept * g) / success
            return tuple(odds)
        return self._noisy_pumping(link, spec)[0]

    def _noisy_pumping(self, link: LinkSpec, spec: NodeSpec | None = None) -> tuple[tuple[float, ...],
                                                                                    tuple[float, ...]]:
        """:meth:`_pumping_success`'s noisy odds and the kept pair's fidelity after each round
        (:func:`~dqsim.protocols.pumping_odds.mean_pumping`; ``spec``: the nodes', else :meth:`node_spec`)."""
        spec = self.node_spec() if spec is None else spec
        spare_ps, arrival_ps = self._spare_wait_ps(link, spec)
        most = None
        if self.cutoff_s is not None:
            most = max(_spare_attempts(seconds_to_ps(self.cutoff_s), self._least_swap_age_ps(link),
                                       link.attempt_period_ps) + 1, 1)
        return mean_pumping(link.delivered_state, self._pumping_noise(spec), self.purification_rounds,
                            success_probability=link.success_probability, attempt_period_ps=link.attempt_period_ps,
                            first_waits_ps=self._pumping_waits_ps(link, spec), spare_ps=spare_ps,
                            arrival_ps=arrival_ps, max_attempts=most)

    def _spare_wait_ps(self, link: LinkSpec, spec: NodeSpec) -> tuple[int, int]:
        """``(g + c, arrival)``: a spare pair's wait from its emission to the round's gates (herald, then the node's
        processing delay), and how much later the responder's memory holds its half (``d`` on a ``"direct"`` link,
        whose photon flies to it; 0 for midpoint schemes, whose memories hold their spins from the emission)."""
        return link.herald_delay_ps + spec.classical_processing_delay_ps, (
            link.delay_ps if link.scheme == "direct" else 0)

    def _pumping_waits_ps(self, link: LinkSpec, spec: NodeSpec) -> tuple[int, ...]:
        """The kept pair's least wait before each round's gates, ps (its spare pair at its first attempt): round 1
        from the kept pair's emission, ``max(g + c + 2(d + c), P) + g + c`` (held ``g + c`` after it, the spare's
        handshake, or the source's period ``P`` after the kept pair's emission); round ``j > 1`` from the gates
        before, ``max(3(d + c), P − g − c) + g + c`` (the outcome's bits, then the handshake), as
        :meth:`_least_swap_age_ps` counts them."""
        held, _arrival = self._spare_wait_ps(link, spec)
        h = link.delay_ps + spec.classical_processing_delay_ps
        source = link.effective_source_period_ps
        first = max(held + 2 * h, source) + held
        later = max(3 * h, source - held) + held
        return (first,) + (later,) * (self.purification_rounds - 1)

    def _pumping_odds(self, link: LinkSpec) -> PumpingOdds | None:
        """The rounds' success probabilities from the kept pair's waits for :meth:`_makings_estimate`'s sample
        (:class:`~dqsim.protocols.pumping_odds.PumpingOdds`), or ``None`` where :meth:`_pumping_success`'s
        Werner odds are exact (:meth:`_ideal_pumping`)."""
        spec = self.node_spec()
        noise = self._pumping_noise(spec)
        if not self.purification_rounds or self._ideal_pumping(link, noise):
            return None
        spare_ps, arrival_ps = self._spare_wait_ps(link, spec)
        return PumpingOdds(link.delivered_state, noise, self.purification_rounds, spare_ps=spare_ps,
                           arrival_ps=arrival_ps)

    def cutoff_pass_estimate(self, links: int, total: float) -> float:
        """Estimated probability that a chain attempt of ``links`` links over ``total`` km, its links in
        lockstep (a round's first attempt), passes every repeater's cut-off, or for one link end B's (1.0
        without a cut-off, and for one link without pumping): :meth:`_pass_estimate` at the job's cut-off."""
        if self.cutoff_s is None:
            return 1.0
        return self._pass_estimate(self.link_spec(links, total), links, seconds_to_ps(self.cutoff_s))

    def _pass_estimate(self, link: LinkSpec, links: int, cutoff_ps: int) -> float:
        """Estimated probability that a chain attempt passes a cut-off of ``cutoff_ps`` (:meth:`cutoff_warning`).

        Each repeater of nested level ``l`` (swap-asap: all at level 1) may spend ``m_l = ⌈(cutoff − a_l)/T⌉ − 1``
        spare attempts (``a_l`` its least swap age, :meth:`_least_swap_age_ps`), and the ``R_l`` of them pass with
        :func:`~dqsim.network.entanglement.cutoff_pass_probability` ``(p, m_l, R_l, purification_rounds)``.

        Failed purifications (since 2026-12-07; before, repeaters left them out and erred high where they are
        frequent): a link's kept pair passes its ``r`` rounds with ``S = ∏ s_j`` (:meth:`_pumping_success`). A
        failed round is known when the pumped pair would have been complete, so the link starts a new kept pair
        (a handshake, ``2(d + c)``, and its own least age ``a_1``: ``u = a_1 + 2(d + c)`` more) while its neighbours'
        pairs, complete then, wait: after ``f`` failed turns the attempt survives only if the new pairs and their
        pumping fit the top level's spare time less ``f·u``, ``w_f = P(Y_(f(r+1)) <= ⌈(cutoff − a_top − f·u)/T⌉ −
        1)`` (``Y_k`` the failed attempts of ``k`` pairs, negative binomial), and the last turn succeeds. Each link
        then passes its pumping with ``Σ_f S·∏_(i<=f) (1 − S)·w_i`` (at most :data:`MAX_ESTIMATED_FAILURES` terms;
        1 for an unbounded cut-off), a factor per link. One link (no repeater) keeps its exact
        renewal (``cutoff_pass_probability``'s ``purify_success``: its end B does not wait for another link). With
        ``pumping_cutoff = "link"`` a kept pair cut while pumped only makes its link again: over repeaters the
        estimate counts such a cut as the attempt's end (it is one when the other links' pairs expire while the
        link is made again), so it errs low there; over one link no attempt ends so, and the warning counts the
        link's makings instead (:meth:`_keep_estimates`, since 2026-12-07 (morning)), as for ``cutoff_policy =
        "link"``, where what is discarded is a link's pair, not an attempt.
        Checked against simulated chains in ``tests/test_repeater.py``
        (``test_a_rounds_first_attempt_passes_the_cutoff_as_estimated``)."""
        return self._pass_estimator(link, links)(cutoff_ps)

    def _pass_estimator(self, link: LinkSpec, links: int) -> Callable[[int], float]:
        """:meth:`_pass_estimate` as a function of the cut-off in ps alone, what does not depend on the cut-off
        (the levels' least ages, the pumping's success, the redo time) computed once: :meth:`_half_cutoff_ps`
        calls it at each step of its search (before 2026-12-07 (later) each step computed them again)."""
        p, period = link.success_probability, link.attempt_period_ps
        rounds = self.purification_rounds
        if links == 1:
            least_ps, odds = self._least_swap_age_ps(link), self._pumping_success(link)
            return lambda cutoff_ps: cutoff_pass_probability(p, _spare_attempts(cutoff_ps, least_ps, period), 0,
                                                             rounds, odds)
        ages_ps = self._level_ages_ps(link, links)
        counts = [links >> level if self.swapping == "nested" else links - 1 for level in range(1, len(ages_ps) + 1)]
        kept = redo_ps = 0
        if rounds:
            kept = math.prod(self._pumping_success(link))
            redo_ps = ages_ps[0] + 2 * (link.delay_ps + self.node_spec().classical_processing_delay_ps)

        def estimate(cutoff_ps: int) -> float:
            passing = 1.0
            for age_ps, count in zip(ages_ps, counts):
                passing *= cutoff_pass_probability(p, _spare_attempts(cutoff_ps, age_ps, period), count, rounds)
            if rounds:
                link_pass, term = kept, kept  # f failed turns before the one that passes: S·∏_(i<=f) (1 − S)·w_i
                for failures in range(1, MAX_ESTIMATED_FAILURES + 1):
                    left = _spare_attempts(cutoff_ps, ages_ps[-1] + failures * redo_ps, period)
                    if left < 0:
                        break
                    term *= (1 - kept) * cutoff_pass_probability(p, left, 0, failures * (rounds + 1))
                    link_pass += term
                    if term < 1e-17 * link_pass:
                        break
                passing *= link_pass ** links
            return passing

        return estimate

    def abandons_no_attempt(self, links: int) -> bool:
        """Whether a pair past the cut-off over ``links`` links costs its link (or segment), never the chain
        attempt: ``cutoff_policy = "link"``, or one link with ``pumping_cutoff = "link"`` (B then cuts only kept
        pairs while pumped, and makes the link again). Not :attr:`~dqsim.protocols.repeater.ChainSpec.remakes_links`
        (the policy alone; named ``remakes_links`` here too before 2026-12-07 (later))."""
        return self.cutoff_policy == "link" or (links == 1 and self.pumping_cutoff == "link")

    def cutoff_keep_estimate(self, links: int, total: float) -> float:
        """``"link"`` policy (:meth:`abandons_no_attempt`): estimated probability ``P`` that a link's pair (its kept
        pair, pumped) is swapped before the cut-off rather than discarded, at the level of repeaters where it is least
        (1.0 without a cut-off): :meth:`_keep_estimate` at the job's cut-off."""
        if self.cutoff_s is None:
            return 1.0
        return self._keep_estimate(self.link_spec(links, total), links, seconds_to_ps(self.cutoff_s))

    def _keep_estimate(self, link: LinkSpec, links: int, cutoff_ps: int) -> float:
        """The ``"link"`` policy's ``P`` (:meth:`cutoff_keep_estimate`): :meth:`_keep_estimates`' first."""
        return self._keep_estimates(link, links, cutoff_ps)[0]

    def _keep_estimates(self, link: LinkSpec, links: int, cutoff_ps: int) -> tuple[float, float]:
        """The ``"link"`` policy's keep probabilities ``(P1, P2)``: of a round's first pairs, and of the pairs made
        after a discard.

        One link: B discards a kept pair whose pumping is not complete before its deadline and the link is made
        again, a renewal: ``P1 = P2`` is the one-link pass probability of :meth:`_pass_estimate` (exact there).
        Repeaters: each level's one-repeater pass probability ``P_l = cutoff_pass_probability(p, m_l, 1, r)``
        (:meth:`_pass_estimate`'s ``m_l``, links in lockstep), ``P1`` the least of them. Two links (the model behind
        ``P_l``): from both links making, the next event is a swap, or one link holds a pair, which is discarded
        unless the other link's pair comes within ``cutoff − a`` (``a`` the least swap age); the discarded link
        and the other, still making, are memoryless again, so a cycle ends in a discard with ``1 − P``. But a link
        made again starts with a handshake when its initiator acts (at the cut, or told ``d + c`` later): its first
        pair can come ``δ = 3(d + c) + (d + c)/2 − T/2`` after the other link's next attempt (on average over the
        two ends and the other link's grid), so a later cycle passes with ``P2 = P(|K·T + δ| < cutoff − a)``,
        ``P(K = k) = p·q^|k|/(2 − p)`` (without pumping; with pumping ``P2 = P1``). Then the discards per delivered
        pair are ``(1 − P1)/P2`` (:meth:`_makings_per_pair`). An estimate: it leaves out segments discarded over
        longer chains (their links made again), so over repeaters the warning counts the makings with
        :meth:`_makings_estimate`'s sample instead (``bench/review_repeater_physics.py``, check ``cutoff_link``, has the
        exact two-link chain and the measured rates; ``tests/test_repeater_cutoff_link.py`` compares the estimates
        with simulated discards)."""
        return self._keep_estimator(link, links)(cutoff_ps)

    def _keep_estimator(self, link: LinkSpec, links: int) -> Callable[[int], tuple[float, float]]:
        """:meth:`_keep_estimates` as a function of the cut-off in ps alone, the levels' least ages and the
        handshake time computed once (for :meth:`_half_cutoff_ps`'s search; since 2026-12-07 (later))."""
        if links == 1:
            passing = self._pass_estimator(link, 1)

            def one_link(cutoff_ps: int) -> tuple[float, float]:
                keep = passing(cutoff_ps)
                return keep, keep

            return one_link
        p, period = link.success_probability, link.attempt_period_ps
        rounds = self.purification_rounds
        h = link.delay_ps + self.node_spec().classical_processing_delay_ps
        ages_ps = self._level_ages_ps(link, links)

        def estimates(cutoff_ps: int) -> tuple[float, float]:
            first = later = 1.0
            for least in ages_ps:
                keep = cutoff_pass_probability(p, _spare_attempts(cutoff_ps, least, period), 1, rounds)
                first = min(first, keep)
                if rounds or cutoff_ps <= least:
                    later = min(later, keep)
                    continue
                window, offset = cutoff_ps - least, 3.5 * h - period / 2
                high = math.ceil((window - offset) / period) - 1   # the K with |K·T + δ| < window
                low = math.floor((-window - offset) / period) + 1
                later = min(later, _difference_cdf(p, high) - _difference_cdf(p, low - 1))
            return first, later

        return estimates

    def _makings_per_pair(self, links: int, keeps: tuple[float, float]) -> float:
        """Makings of a link per delivered pair under the ``"link"`` policy with keep probabilities ``(P1, P2)``
        (:meth:`_keep_estimates`): ``1/P`` over one link, ``1 + (1 − P1)/(2·P2)`` with repeaters (each discard
        makes one of the two links again; ``inf`` for ``P2 = 0``)."""
        first, later = keeps
        if later <= 0:
            return math.inf
        return 1 / later if links == 1 else 1 + (1 - first) / (2 * later)

    def _makings_estimate(self, link: LinkSpec, links: int, cutoff_ps: int, budget: EventBudget | None = None,
                          max_events: int = RELINK_ESTIMATE_MAX_EVENTS, closed: float | None = None) -> float:
        """Estimated makings of a link per delivered pair where no attempt is abandoned (:meth:`abandons_no_attempt`).

        Repeaters (without pumping since 2026-12-07 (later), with pumping since 2026-12-07 (afternoon)):
        :func:`~dqsim.network.relink_estimate.relink_makings_per_pair`, the protocol's attempt model sampled
        (2,000 rounds, seeded, at most ``max_events`` events: about 0.2 s), which counts the segments a cut discards
        through swapped repeaters and, with pumping, the pumped pair's spare pairs, failed rounds (a new kept pair)
        and the kept pair cut while pumped (:meth:`_pumping_success`' odds, or with noisy nodes each round's odds
        from the kept pair's waits, :meth:`_pumping_odds`, since 2026-12-07 (late afternoon)); the closed form
        (:meth:`_makings_per_pair`
        of :meth:`_keep_estimates`) left them out and erred low over more than two links (on four 10-km links at
        2.5e-4 s a share of 0.17 of the pairs made discarded against 0.41-0.52 simulated; the sample gives 0.47;
        with pumping it was 1.8-21 times low on 2-4 links, ``bench/repeater_pumping_estimate.py``).
        ``tests/test_repeater_cutoff_link.py`` checks it on 2, 3 and 4 links, with and without pumping, within 3
        standard errors of simulated chains. Where the sample was
        stopped by its events (chains of tens of thousands of links, nearly every pair discarded, or ``budget``
        spent) it errs low: the larger of it and the closed form (since 2026-12-07 (afternoon); before, only where
        no round had ended). One link: the closed form (exact). ``budget``: events shared with the other
        configurations' estimates (:meth:`_link_cutoff_warning`), of which this one samples at most ``max_events``;
        ``closed``: the closed form's makings where the caller has them (none: computed here).
        """
        if closed is None:
            closed = self._makings_per_pair(links, self._keep_estimates(link, links, cutoff_ps))
        if links == 1:
            return closed
        c = self.node_spec().classical_processing_delay_ps
        events = EventBudget(max(min(max_events, budget.left if budget is not None else max_events), 0))
        odds = self._pumping_odds(link) if self.purification_rounds else None
        sampled = relink_makings_per_pair(link.success_probability, links, delay_ps=link.delay_ps, processing_ps=c,
                                          herald_ps=link.herald_delay_ps, attempt_period_ps=link.attempt_period_ps,
                                          cutoff_ps=cutoff_ps, nested=self.swapping == "nested",
                                          pumping=self._pumping_success(link) if odds is None else odds.rounds,
                                          pumping_odds=odds, source_ps=link.effective_source_period_ps,
                                          budget=events)
        if budget is not None:
            budget.take(events.spent)
        return max(sampled, closed) if events.left <= 0 else sampled  # (stopped: both err low)

    def _link_cutoff_warning(self, source: str) -> str | None:
        """:meth:`cutoff_warning` under the ``"link"`` policy: what is discarded is a link's pair, not an attempt,
        so the warning counts the makings of a link per delivered pair (:meth:`_makings_estimate`), above
        :data:`CUTOFF_WARN_ATTEMPTS_PER_PAIR`, and names the cut-off at which ``P`` reaches 1/2.

        The samples of all configurations share :data:`~dqsim.network.relink_estimate.RELINK_ESTIMATE_TOTAL_EVENTS`
        events (since 2026-12-07 (later): before, each of a sweep's configurations was sampled, up to about 14
        minutes for 64 × 64 at the start of ``dqsim run`` and in ``dqsim check``), in two passes
        (:meth:`_sampled_makings`). The first samples every configuration, in the order of the closed form's makings,
        most first, each at most an equal share of the first pass's events left
        (:data:`~dqsim.network.relink_estimate.RELINK_ESTIMATE_SCREEN_EVENTS`; one or two configurations: their
        whole sample). The second samples again, with the events left, the configurations that can decide the
        warning: those whose first sample was stopped by its share and gives at least
        1/:data:`LINK_CUTOFF_RESAMPLE_RATIO` of the most makings found or of
        :data:`CUTOFF_WARN_ATTEMPTS_PER_PAIR` (a stopped sample errs low, by up to about a quarter after 300
        events, ``bench/results/repeater-pumping-estimate-vm-20261207p.md``), most first, each the whole sample
        a configuration gets alone (:data:`~dqsim.network.relink_estimate.RELINK_ESTIMATE_MAX_EVENTS`) while the
        events last (two or three of them: equal shares of a few thousand events would name the configuration
        whose short sample came out highest by chance, of 2 links of 95.5 km against 100 km 136-632 makings at
        22,727 events); one whose second share would not exceed its first keeps its first sample. A configuration
        the first pass ranks low whose whole sample would be the highest (chains of many links, whose first
        sample ends no round, fall back to the closed form, which ranks them low) is missed: a 64 × 64 sweep's
        first-pass share, about 61 events, ends no round of 10-km links at 6e-4 s from about 16 links without
        pumping (50 events a round) or 4 with one round (118), where the closed form gives 1.02 and 1.31 makings for any
        number of links and the model 1.5-3.3 and 6-85 (``bench/results/repeater-pumping-estimate-vm-20261207q.md``; no cheap estimate
        that is not low was found). Since 2026-12-07 (afternoon); before, one pass of
        1,000,000 events sampled every configuration (7-10 s of CPU for 64 × 64 on the shared VM), and before
        that, once they were spent the rest got the closed form alone, which errs low over more than two links.
        Every count is of events, never of time, so every run and rank gives the same line.
        A sample stopped by its share is at least the closed form (:meth:`_makings_estimate`). ``P`` and the
        cut-off named are the closed form's (:meth:`_keep_estimates`), and the
        line says so: the share discarded and the makings are the estimate's."""
        cutoff_ps = seconds_to_ps(self.cutoff_s)
        ranked = []
        for links, total in self.configurations():
            if self.abandons_no_attempt(links):
                link = self.link_spec(links, total)
                keeps = self._keep_estimates(link, links, cutoff_ps)
                ranked.append((self._makings_per_pair(links, keeps), keeps[0], links, total, link))
        ranked.sort(key=lambda entry: -entry[0])
        screen = EventBudget(RELINK_ESTIMATE_SCREEN_EVENTS)
        first = self._sampled_makings(ranked, cutoff_ps, screen, [0] * len(ranked))
        makings = [sampled for sampled, _, _ in first]
        bar = max([CUTOFF_WARN_ATTEMPTS_PER_PAIR, *makings]) / LINK_CUTOFF_RESAMPLE_RATIO
        again = sorted((index for index, (sampled, share, stopped) in enumerate(first)
                        if stopped and share < RELINK_ESTIMATE_MAX_EVENTS and sampled >= bar),
                       key=lambda index: -makings[index])
        second = self._sampled_makings([ranked[index] for index in again], cutoff_ps,
                                       EventBudget(RELINK_ESTIMATE_TOTAL_EVENTS - screen.spent),
                                       [first[index][1] for index in again], equal=False)
        for index, (sampled, share, _) in zip(again, second):
            if share > first[index][1]:
                makings[index] = sampled
        worst = None
        for value, (_, keep, links, total, _link) in zip(makings, ranked):
            if value > CUTOFF_WARN_ATTEMPTS_PER_PAIR and (worst is None or value > worst[0]):
                worst = (value, keep, links, total)
        if worst is None:
            return None
        makings, keep, links, total = worst
        link = self.link_spec(links, total)
        keeps = self._keep_estimator(link, links)
        needed = _half_cutoff_phrase(self._half_cutoff_ps(link, links, lambda cutoff_ps: keeps(cutoff_ps)[0]))
        share = 1 - 1 / makings  # (the pairs made per delivered pair that were not delivered)
        policy = "cutoff_policy" if self.cutoff_policy == "link" else "pumping_cutoff"
        return (f"{source}: [chain].cutoff_s = {self.cutoff_s:g} with {policy} = \"link\": over links of "
                f"{total / links:g} km ({links} link(s)) about {share:.3g} of the pairs made are discarded, each link "
                f"made about {makings:.3g} times per delivered pair (the run stops with an error once one node cuts "
                f"more than max_restarts = {self.max_restarts:,} pairs for one pair); by the closed form, which "
                f"leaves out segments discarded through swapped repeaters, a link's pair is swapped before its "
                f"cut-off with probability about {keep:.2g} and half are {needed}")

    def _sampled_makings(self, ranked: list, cutoff_ps: int, budget: EventBudget, least: list,
                         equal: bool = True) -> list[tuple[float, int, bool]]:
        """One pass of :meth:`_link_cutoff_warning`: ``(makings, share, stopped)`` of each of ``ranked``'s
        configurations (``(closed form, P1, links, total km, link)``), in order, each sampled with at most
        :data:`~dqsim.network.relink_estimate.RELINK_ESTIMATE_MAX_EVENTS` events and at most an equal share of
        ``budget``'s events left (``equal``) or at most all of them (not ``equal``); ``stopped``: its share ran
        out. One whose share is at most its ``least`` is not sampled (makings ``nan``, not used)."""
        results = []
        for index, (closed, _, links, _total, link) in enumerate(ranked):
            share = min(RELINK_ESTIMATE_MAX_EVENTS, budget.left // (len(ranked) - index) if equal else budget.left)
            if share <= least[index]:
                results.append((math.nan, share, False))
                continue
            before = budget.spent
            makings = self._makings_estimate(link, links, cutoff_ps, budget, share, closed)
            results.append((makings, share, links > 1 and budget.spent - before >= share))
        return results

    def _half_cutoff_ps(self, link: LinkSpec, links: int, estimate: Callable[[int], float]) -> int | None:
        """The least cut-off ``a + m·T`` (``a`` the least swap age) at which ``estimate(cutoff_ps)``
        (:meth:`_pass_estimator`'s, or the first of :meth:`_keep_estimator`'s) reaches 1/2 just above it:
        doubling, then bisection; ``None`` where even :data:`MAX_CUTOFF_S` does not reach it (since 2026-12-07
        (night) the doubling stops there: before, an estimate that never reached 1/2 looped for ever, in
        ``dqsim run`` while the stop signals were held, review3 D1)."""
        least_ps, period_ps = self._least_swap_age_ps(link, links), link.attempt_period_ps
        longest = (seconds_to_ps(MAX_CUTOFF_S) - least_ps) // period_ps
        if longest < 0 or estimate(least_ps + longest * period_ps + 1) < 0.5:
            return None
        low, high = 0, 1
        while high < longest and estimate(least_ps + high * period_ps + 1) < 0.5:
            low, high = high, min(2 * high, longest)
        while low < high:
            middle = (low + high) // 2
            low, high = (middle + 1, high) if estimate(least_ps + middle * period_ps + 1) < 0.5 else (low, middle)
        return least_ps + low * period_ps

    def cutoff_warning(self, source: str) -> str | None:
        """One line where the cut-off lets most chain attempts be abandoned (the chain with the fewest passing),
        else ``None``: a warning (``dqsim check`` and the start of ``dqsim run``), not a refusal.

        A repeater's pair is at least ``a`` old when the repeater could swap it (the least age of
        :meth:`_check_cutoff`: herald, pumping handshakes and bit exchanges, each with the node's classical
        processing delay; with nested swapping the top repeater's, which also waits for its segments' notices), and
        it ages by an attempt period ``T`` for each attempt its own link (pumping) or the other link spends more, so
        the links may spend at most ``m = ⌈(cutoff − a)/T⌉ − 1`` spare attempts. An attempt passes all repeaters
        with about :meth:`_pass_estimate` (:func:`~dqsim.network.entanglement.cutoff_pass_probability` per nested
        level, and the failed purifications) and a pair takes about its inverse in attempts, each abandoned one
        an abort broadcast to every node. The warning comes where that is more than
        :data:`CUTOFF_WARN_ATTEMPTS_PER_PAIR` (docs/review-scale-20261206.md: 512 links of 1 km, one pumping
        round, cut-off 5e-5 s, ran for hours towards ``max_restarts``; ``jobs/repeater_chain.toml``'s 2 links of
        150 km, about 19 estimated and 25 measured, do not warn), and names the cut-off at which half the
        attempts pass, ``a + m½·T`` (``m½`` the least ``m`` passing half).

        A chain of one link has no repeater: its end B applies the cut-off to its pair, which is ``a`` old when
        B learns of it and ages by ``T`` for each attempt its pumping spends more; it passes with ``P(Y <= m)``
        (``Y`` the pumping's failed attempts, ``cutoff_pass_probability`` with no repeater), 1 without pumping
        (a fixed age: a cut-off below it is refused, :meth:`_check_cutoff`). Before 2026-12-06 one link got no
        estimate. Since 2026-12-07 an attempt is abandoned at its kept pair's deadline, also while the pair is
        being pumped (:mod:`dqsim.protocols.repeater`), so a kept pair whose pumping fails after its deadline no
        longer starts again: the estimate counts the rounds' success probabilities (:meth:`_pumping_success`,
        Werner pairs of the link's fidelity where memories and gates are ideal, else since 2026-12-07 (late
        afternoon) the round under the nodes' noise averaged over its waits), for one link exactly
        (``purify_success`` of
        ``cutoff_pass_probability``), for repeaters as :meth:`_pass_estimate` says (since 2026-12-07; before, it
        left them out and erred high where they are frequent).
        """
        if self.cutoff_s is None:
            return None
        if self.cutoff_policy == "link":
            return self._link_cutoff_warning(source)
        rounds = self.purification_rounds
        worst = None
        for links, total in self.configurations():
            if self.abandons_no_attempt(links):  # (one link, "link" pumping cut-off: no attempt ends; its own warning)
                continue
            passing = self.cutoff_pass_estimate(links, total)
            if passing * CUTOFF_WARN_ATTEMPTS_PER_PAIR < 1 and (worst is None or passing < worst[0]):
                worst = (passing, links, total)
        if worst is None:
            return self._link_cutoff_warning(source)
        passing, links, total = worst
        link = self.link_spec(links, total)
        p, period_ps = link.success_probability, link.attempt_period_ps
        least_ps = self._least_swap_age_ps(link, links)
        needed = _half_cutoff_phrase(self._half_cutoff_ps(link, links, self._pass_estimator(link, links)))
        per_pair = f"about {1 / passing:.3g}" if passing > 0 else "more than 1e300"
        pumping = f" and {rounds} pumping round(s)" if rounds else ""
        if links == 1:
            held = (f"over one link of {total:g} km with {rounds} pumping round(s) chain end B's pair is "
                    f"{ps_to_seconds(least_ps):.3g} s old at the earliest delivery and ages "
                    f"{ps_to_seconds(period_ps):.3g} s per attempt its pumping spends more (p = {p:.3g}), so an "
                    f"attempt passes B's cut-off")
        else:
            whose = "the top nested repeater's" if self.swapping == "nested" and links > 2 else "a repeater's"
            held = (f"over links of {total / links:g} km ({links} links{pumping}) {whose} pair is "
                    f"{ps_to_seconds(least_ps):.3g} s old at the earliest swap and ages "
                    f"{ps_to_seconds(period_ps):.3g} s per attempt its links spend more (p = {p:.3g} each), so an "
                    f"attempt passes all {links - 1} repeaters' cut-offs")
        return (f"{source}: [chain].cutoff_s = {self.cutoff_s:g}: {held} with probability about {passing:.2g}: "
                f"most attempts will be abandoned ({per_pair} per pair; the run stops with an error once one pair "
                f"passes max_restarts = {self.max_restarts:,}) and grows slow and large meanwhile; half the attempts pass "
                f"{needed}")

    def fidelity_warning(self, source: str) -> str | None:
        """One line where a link of some configuration delivers pairs of fidelity at most 1/2, naming the worst,
        else ``None``: a warning (since 2026-12-07 (night); review3 D5: 1 km links with dark_count_rate_hz = 1e9
        delivered 0.39 and nothing said so). It says "not entangled" only where the pair's partial transpose is
        positive (:attr:`~dqsim.network.link.LinkSpec.delivered_entangled`; a Bell-diagonal pair of fidelity at most
        1/2 is separable, and no swapping or pumping makes an entangled end-to-end pair of separable ones: Bennett
        et al., Phys. Rev. A 54, 3824 (1996)); a single-click pair is not Bell-diagonal and can be entangled below
        1/2 (review5). The link's ``delivered_fidelity`` is its closed form (no simulation); the end-to-end pair is
        lower still."""
        worst = None
        for links, total in self.configurations():
            link = self.link_spec(links, total)
            fidelity = link.delivered_fidelity
            if fidelity <= 0.5 and (worst is None or fidelity < worst[0]):
                worst = (fidelity, links, total, link)
        if worst is None:
            return None
        fidelity, links, total, link = worst
        cause = (f"a dark count in {link.dark_count_probability:.3g} of the detection gates ([chain.link]."
                 f"dark_count_rate_hz = {link.dark_count_rate_hz:g}; without dark counts "
                 f"{_without_dark_counts(link).delivered_fidelity:.3g})" if link.dark_count_probability > 0.0
                 else f"[chain.link].source_fidelity = {link.source_fidelity:g}")
        verdict = ("still entangled (a negative partial transpose), but no closer to a Bell pair than a separable "
                   "state can be" if link.delivered_entangled else "not entangled, so no end-to-end pair is")
        return (f"{source}: links of {total / links:g} km ({links} link(s)) deliver pairs of fidelity "
                f"{fidelity:.3g}, at most 1/2: {verdict} ({cause})")

    def coherence_warning(self, source: str) -> str | None:
        """One line where the cut-off is more than :data:`COHERENCE_WARN_FACTOR` times the memories' shorter
        coherence time min(T1, T2), else ``None`` (a warning, not a refusal; a new user's walk of 2026-12-07 gave
        ``cutoff_s = 100000`` meant in ms). A pair stored for t in two memories keeps its coherence (the
        off-diagonal elements in the Bell basis) as exp(-2t/T2) (Nielsen & Chuang, section 8.3.6, phase
        damping on each qubit; T2 <= 2·T1), so a pair older than 10·min(T1, T2) keeps at most about e^-10 of it
        whatever the cut-off does: such a cut-off discards nothing that was still useful.
        """
        if self.cutoff_s is None:
            return None
        spec = self.node_spec()
        coherence_s = min(spec.t1_s, spec.t2_s)
        if not math.isfinite(coherence_s) or self.cutoff_s <= COHERENCE_WARN_FACTOR * coherence_s:
            return None
        which = "T2" if spec.t2_s <= spec.t1_s else "T1"
        return (f"{source}: [chain].cutoff_s = {self.cutoff_s:g} s is {self.cutoff_s / coherence_s:.3g} times the "
                f"memories' {which} = {coherence_s:g} s ([chain.node].{which.lower()}_s): a pair that old has lost its "
                f"coherence before the cut-off discards it; cutoff_s is in seconds (a cut-off meant in ms is "
                f"cutoff_s = {self.cutoff_s / 1000:g})")

    def _check_run_time(self, links: int, total: float) -> None:
        """``num_pairs`` rounds must fit the engine's clock limit (2**61 ps, about 26.7 days:
        :data:`~dqsim.network.network.PROTOCOL_CLOCK_LIMIT_PS`, where the engine refuses the run), with a factor 2
        to spare for restarts and chance: each round
        takes at least the handshake (two link delays and processing delays), the slowest link's attempts (at least
        :func:`~dqsim.network.entanglement.least_mean_attempts` on average, and ``1 + purification_rounds``
        elementary pairs per link) and the herald."""
        link = self.link_spec(links, total)
        probability = link.success_probability
        attempts = max(least_mean_attempts(probability, links), (1 + self.purification_rounds) / probability)
        handshake_ps = 2 * (link.delay_ps + self.node_spec().classical_processing_delay_ps)
        round_ps = handshake_ps + (attempts - 1.0) * link.attempt_period_ps + link.herald_delay_ps
        limit_ps = PROTOCOL_CLOCK_LIMIT_PS / 2
        if self.num_pairs * round_ps > limit_ps:
            clock_limit = clock_limit_allowed_by("the engine's clock")
            raise job_error(
                f"over links of {total / links:g} km ({links} link(s)) a pair takes at least "
                f"{ps_to_seconds(round_ps):.3g} s of simulated time on average, so {self.num_pairs} pairs pass half "
                f"the {clock_limit}; allowed here 1..{max(1, int(limit_ps // round_ps))} (or shorter links)",
                key=("num_pairs",), value=self.num_pairs, has_value=True)

    def configurations(self) -> list[tuple[int, float]]:
        """``(num_links, total_distance_km)`` of every run, distances outermost, in the given order."""
        return [(links, total) for total in self.total_distance_km for links in self.num_links]

    def link_spec(self, num_links: int, total_distance_km: float) -> LinkSpec:
        """The :class:`LinkSpec` of every link of a chain of ``num_links`` over ``total_distance_km``."""
        return LinkSpec(distance_km=float(total_distance_km) / num_links, **self.link)

    def node_spec(self, name: str = "node") -> NodeSpec:
        """The :class:`NodeSpec` of every node."""
        return NodeSpec(name=name, **self.node)


class RepeaterJob(JobConfig):
    """Scenario ``"repeater"``: end-to-end entanglement over repeater chains.

    Attributes:
        chain: the ``[chain]`` section with ``[chain.link]`` and ``[chain.node]``.
    """

    scenario: ClassVar[str] = "repeater"

    chain: ChainSection

    def warnings(self) -> list[str]:
        """Lines on what the job allows but will likely regret (:meth:`ChainSection.fidelity_warning`,
        :meth:`ChainSection.coherence_warning`, :meth:`ChainSection.cutoff_warning`)."""
        lines = (self.chain.fidelity_warning(self.source), self.chain.coherence_warning(self.source),
                 self.chain.cutoff_warning(self.source))
        return [line for line in lines if line]

