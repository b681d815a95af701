"""Job files of the ``"trotter"`` scenario: a spin chain's Trotter evolution on networked QPUs.

Sections: ``[run]`` (``scenario = "trotter"``), ``[model]``, ``[evolution]``,
``[network]`` with ``[network.link]`` and ``[network.node]`` (as for
``"dqc"``), ``[distribution]`` and ``[simulation]``. See
``jobs/ising_trotter_4qpu.toml``, ``jobs/xxz_ring_sweep.toml`` and
``jobs/ising_trotter_continued.toml`` (``[evolution].mode = "continued"``:
one evolution through every point instead of one run per point, its
``network`` table's cost columns cumulative from ``t = 0``;
:class:`EvolutionSection`); the scenario itself is
:mod:`dqsim.scenarios.trotter`. Errors are the same
one-line :class:`~dqsim.errors.ConfigError` messages as every job file
(:mod:`dqsim.jobs.errors`).

Examples:
    >>> from dqsim.jobs import load_job_text
    >>> job = load_job_text('''
    ... [run]
    ... name = "tfim"
    ... scenario = "trotter"
    ... [model]
    ... kind = "tfim"
    ... num_sites = 4
    ... [evolution]
    ... total_time = 1.0
    ... num_points = 4
    ... [network]
    ... topology = "line"
    ... num_nodes = 2
    ... [network.link]
    ... distance_km = 1.0
    ... [network.node]
    ... num_data_qubits = 2
    ... ''')
    >>> job.model.h, job.evolution.times(), job.use_exact(), job.site_assignment()
    (1.0, [0.0, 0.25, 0.5, 0.75, 1.0], True, [0, 0, 1, 1])
    >>> load_job_text(job.text.replace("num_sites = 4", "num_sites = 5"))
    Traceback (most recent call last):
    ...
    dqsim.errors.ConfigError: <string>: [model].num_sites = 5 exceeds the network's capacity of 4 data qubits (2 nodes × 2)
"""

from __future__ import annotations

import math
import sys

from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, field_validator, model_validator

from dqsim.circuit.hamiltonians import MAX_EXACT_SITES, MIN_RING_SITES, SpinModel
from dqsim.errors import toml_repr
from dqsim.jobs.base import JobConfig
from dqsim.jobs.errors import check_no_repeats, job_error
from dqsim.jobs.network import DistributionSection, NetworkSection, check_assignment
from dqsim.jobs.schema import Section, bounded_int, bounded_real
from dqsim.network import topology as net_topology

__all__ = ["TrotterJob", "ModelSection", "EvolutionSection", "TrotterSimulationSection",
           "TrotterSweepSection", "TROTTER_OBSERVABLES", "DEFAULT_OBSERVABLES", "EVOLUTION_MODES", "CUT_BLOCKS",
           "MAX_TROTTER_SITES", "MAX_TIME_POINTS"]

#: Observables of ``[simulation].observables``.
TROTTER_OBSERVABLES = ("magnetization", "staggered_magnetization", "correlation", "energy", "loschmidt")
#: Observables reported when ``[simulation].observables`` is not given.
DEFAULT_OBSERVABLES = ("magnetization", "correlation", "energy", "loschmidt")
#: Most sites of ``[model].num_sites``.
MAX_TROTTER_SITES = 24
#: Spacing of float64 angles (radians) above which a job's phases are warned of (:meth:`TrotterJob.warnings`):
#: results with less than about six decimal places of a radian.
PHASE_SPACING_WARN_RAD = 1e-6

#: The largest phase (radians) whose float64 spacing is at most :data:`PHASE_SPACING_WARN_RAD` (2^33 rad).
PHASE_WARN_RAD = float(2 ** 33)

#: Values of ``[evolution].mode`` (:class:`EvolutionSection`), the default first.
EVOLUTION_MODES = ("independent", "continued")
#: Values of ``[evolution].cut_blocks`` (:class:`EvolutionSection`), the default first.
CUT_BLOCKS = ("auto", "rotations")
#: Most time points of ``[evolution].num_points``.
MAX_TIME_POINTS = 200
#: Most Trotter steps per time interval.
MAX_STEPS_PER_POINT = 10_000
#: Most values of ``[simulation].sweep.values``.
MAX_SWEEP_VALUES = 50
#: Most networked runs averaged per point.
MAX_TRAJECTORIES = 1000
#: Default field ``h`` of each model kind.
DEFAULT_FIELD = {"tfim": 1.0, "xxz": 0.0}
#: Allowed range of each sweep parameter: ``(low, high)``, as for ``[network.link]``.
_SWEEP_RANGES = {"distance_km": (0.0, float("inf")), "source_fidelity": (0.25, 1.0)}


class ModelSection(Section):
    """``[model]``: the spin chain (:class:`dqsim.circuit.hamiltonians.SpinModel`).

    Attributes:
        kind: ``"tfim"`` (``H = −J Σ Z_i Z_j − h Σ X_i``) or ``"xxz"``
            (``H = J Σ (X X + Y Y + Δ Z Z) + h Σ Z_i``); X, Y, Z are Pauli matrices (not spin
            operators σ/2: a spin-operator coupling J' is J = J'/4 here, a field h' is h = h'/2).
        num_sites: sites, 2..24 (``"periodic"``: 3..24); one circuit qubit each.
        boundary: ``"open"`` (chain, default) or ``"periodic"`` (ring).
        J: coupling, finite; default 1.
        h: field, finite; default 1 for ``"tfim"``, 0 for ``"xxz"``.
        delta: anisotropy Δ, finite, ``"xxz"`` only; default 1.
        initial: ``"up"`` (``|0…0⟩``, default) or ``"neel"`` (``|0101…⟩``).

    The norm bound ``num_sites·(|J|·(2 + |Δ|) + |h|)`` (``"tfim"``: ``num_sites·(|J| + |h|)``) times
    ``2·[evolution].total_time`` must be a finite float (:meth:`TrotterJob._check_phases`).
    """

    kind: Literal["tfim", "xxz"]
    num_sites: bounded_int(2, MAX_TROTTER_SITES)
    boundary: Literal["open", "periodic"] = "open"
    J: bounded_real() = 1.0
    h: bounded_real() = 1.0
    delta: bounded_real() = 1.0
    initial: Literal["up", "neel"] = "up"

    @model_validator(mode="before")
    @classmethod
    def _default_field(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "h" in data:
            return data
        kind = data.get("kind")
        if isinstance(kind, str) and kind in DEFAULT_FIELD:  # a kind of another type is refused by its field
            data = {**data, "h": DEFAULT_FIELD[kind]}
        return data

    @model_validator(mode="after")
    def _check_model(self) -> "ModelSection":
        if self.boundary == "periodic" and self.num_sites < MIN_RING_SITES:
            raise job_error(f'must be >= {MIN_RING_SITES} for boundary = "periodic" '
                            f"(allowed {MIN_RING_SITES}..{MAX_TROTTER_SITES})",
                            key=("num_sites",), value=self.num_sites, has_value=True)
        if self.kind != "xxz" and "delta" in self.model_fields_set:
            raise job_error(f'only used with kind = "xxz" (here kind = {toml_repr(self.kind)})',
                            key=("delta",), value=self.delta, has_value=True)
        if self.J == 0 and self.h == 0:  # no term to exponentiate: the Trotter circuit builder had nothing to split
            raise job_error("the Hamiltonian is zero with h = 0.0 too: nothing evolves; give J or h a value other "
                            "than 0", key=("J",), value=self.J, has_value=True)
        return self

    def spin_model(self) -> SpinModel:
        """The model as a :class:`~dqsim.circuit.hamiltonians.SpinModel`."""
        return SpinModel(kind=self.kind, num_sites=self.num_sites, boundary=self.boundary,
                         J=self.J, h=self.h, delta=self.delta)


class EvolutionSection(Section):
    """``[evolution]``: the times and the product formula.

    Attributes:
        total_time: last time ``T``, > 0, in units of ħ over the energy unit
            of ``J`` and ``h`` (ħ = 1); with them, a finite float phase (see ``[model]``).
        num_points: time points after 0, 1..200: ``t_k = k·T/num_points`` for
            ``k = 0..num_points`` (``k = 0`` is the initial state).
        steps_per_point: Trotter steps per interval ``T/num_points``,
            1..10_000; point ``k`` runs ``k·steps_per_point`` steps from the
            initial state. Default 1.
        order: 1 (Lie–Trotter) or 2 (Strang splitting, default).
        grouping: how the Hamiltonian's terms are grouped into the product formula's factors
            (:data:`~dqsim.circuit.hamiltonians.GROUPINGS`): ``"pauli"`` (default) by Pauli kind
            (``"xxz"``: all ``XX`` bonds, all ``YY`` bonds, ``ZZ`` bonds with the field), which conserves
            the total magnetisation ``Σ Z_i`` only up to the product formula's error; ``"bond"``
            (``kind = "xxz"`` only) one ``XX + YY + ΔZZ`` block per bond, the bonds in even/odd layers
            (a third on a ring of odd length) and the field a layer of its own, which conserves it
            exactly. Each block is ``rxx``, ``ryy``, ``rzz`` on its bond; a block between QPUs is run as
            ``cut_blocks`` says. See :mod:`dqsim.circuit.hamiltonians`.
        cut_blocks: ``grouping = "bond"`` only (ignored otherwise): how the bonds between two QPUs are run
            (:data:`CUT_BLOCKS`). ``"auto"`` (default): under order 2 the bond layers go in the order that
            applies the cut bonds least often (:func:`~dqsim.circuit.hamiltonians.bond_layer_order`; the
            Trotter state then differs from the default order's by the product formula's error), and each
            cut bond's block runs as one dense two-qubit gate, one of its qubits
            teleported to the other's QPU and back (TeleData: two EPR pairs), where that takes fewer pairs than
            its rotations (``Δ ≠ 0`` under ``scheme = "telegate"``: three TeleGates; any ``J ≠ 0`` under
            ``"teledata"``: two per rotation) and one of the two QPUs has two communication qubits; else the
            rotations. A teleported block's target QPU holds two communication qubits in the register at
            once, so the largest register is one qubit larger (twice the state's memory then).
            ``"rotations"``: the default layer order and always the rotations, one TeleGate each: the
            circuits of 2026-12-07 (morning). See :mod:`dqsim.scenarios.trotter`.
        exact: compare with exact evolution by diagonalisation (``num_sites
            <= 12`` only); default: when ``num_sites <= 12``.
        mode: how the points are evolved (:data:`EVOLUTION_MODES`):
            ``"independent"`` (default) runs point ``k``'s ``k·steps_per_point``
            steps from ``t = 0`` in a networked run of its own
            (``O(num_points² · steps_per_point)`` gates and EPR pairs in all);
            ``"continued"`` evolves each trajectory once through all points,
            ``steps_per_point`` steps per engine run, each run starting from
            the register the previous one left, and reads point ``k`` off the
            register after ``k·steps_per_point`` steps
            (``O(num_points · steps_per_point)``). In that mode the
            ``network`` table's ``num_gates``, ``nonlocal_gates``,
            ``epr_pairs`` (counts) and ``simulated_time_ps`` (ps) are
            cumulative from ``t = 0`` up to the point (means over
            trajectories of each evolution's sums; ``time`` stays in
            1/energy, ħ = 1), its ``fidelity_to_trotter`` is that of the state
            at the point, and one trajectory's values at the different
            points are correlated (each point's mean over trajectories is
            still unbiased); checkpoints, stops, resumes, sweeps, shots and
            several ranks work as in the default mode. See
            :mod:`dqsim.scenarios.trotter`.
    """

    total_time: bounded_real(0.0, low_open=True)
    num_points: bounded_int(1, MAX_TIME_POINTS) = 10
    steps_per_point: bounded_int(1, MAX_STEPS_PER_POINT) = 1
    order: Literal[1, 2] = 2
    grouping: Literal["pauli", "bond"] = "pauli"
    cut_blocks: Literal["auto", "rotations"] = "auto"
    exact: Optional[bool] = None
    mode: Literal["independent", "continued"] = "independent"

    @field_validator("order", mode="before")
    @classmethod
    def _order_is_a_number(cls, order: Any) -> Any:
        if isinstance(order, bool):  # True == 1: a Literal[1, 2] would take it as 1
            raise job_error("must be one of 1, 2 (a number, not true or false)", value=order, has_value=True)
        return order

    def times(self) -> list[float]:
        """``[t_0 = 0, t_1, …, t_num_points = T]``."""
        return [k * self.total_time / self.num_points for k in range(self.num_points + 1)]


class TrotterSweepSection(Section):
    """``[simulation].sweep``: repeat the networked evolution for several link parameters.

    Attributes:
        parameter: ``"distance_km"`` (every link's fibre length, km, >= 0) or
            ``"source_fidelity"`` (every link's pair fidelity, in [0.25, 1]).
        values: 1..50 values, run in order; each replaces the parameter on
            every link of the network.
    """

    parameter: Literal["distance_km", "source_fidelity"]
    values: list[bounded_real()]

    @model_validator(mode="after")
    def _check_values(self) -> "TrotterSweepSection":
        if not 1 <= len(self.values) <= MAX_SWEEP_VALUES:
            raise job_error(f"must list 1..{MAX_SWEEP_VALUES} values, got {len(self.values)}",
                            key=("values",), value=self.values, has_value=True)
        low, high = _SWEEP_RANGES[self.parameter]
        for index, value in enumerate(self.values):
            if not low <= value <= high:
                interval = f"[{low:g}, {high:g}]" if high < float("inf") else f"[{low:g}, inf)"
                raise job_error(f"must be in {interval} (parameter = {toml_repr(self.parameter)})",
                                key=("values", index), value=value, has_value=True)
        check_no_repeats(self.values, ("values",))
        return self


class TrotterSimulationSection(Section):
    """``[simulation]`` of the ``"trotter"`` scenario.

    Attributes:
        observables: which to report, from ``"magnetization"`` (mean ⟨Z⟩;
            with either magnetisation ⟨Z_i⟩ per site goes to the ``sites``
            table), ``"staggered_magnetization"`` (``(1/N) Σ (−1)^i ⟨Z_i⟩``,
            for Néel initial states), ``"correlation"`` (mean
            nearest-neighbour ⟨Z_i Z_j⟩ over the bonds), ``"energy"`` (⟨H⟩)
            and ``"loschmidt"`` (``|⟨ψ0|ψ(t)⟩|²``); no repeats; default
            magnetization, correlation, energy, loschmidt.
        trajectories: networked runs averaged per time point, 1..1000 (default
            1); noise (imperfect pairs, decoherence) is sampled per run.
        shots: Z-basis samples of the sites' final networked state (``t = T``,
            first trajectory) for the ``counts`` table, 0..10**8; default 0 (none).
        sweep: optional ``{ parameter = ..., values = [...] }``
            (:class:`TrotterSweepSection`).
        save_state: write the last networked state (the whole register) to the output.
        max_gather_qubits: largest state gathered onto one rank, 1..34 (default 24).
    """

    observables: list[Literal["magnetization", "staggered_magnetization", "correlation", "energy",
                              "loschmidt"]] = Field(default_factory=lambda: list(DEFAULT_OBSERVABLES))
    trajectories: bounded_int(1, MAX_TRAJECTORIES) = 1
    shots: bounded_int(0, 10**8) = 0
    sweep: Optional[TrotterSweepSection] = None
    save_state: bool = False
    max_gather_qubits: bounded_int(1, 34) = 24

    @field_validator("observables")
    @classmethod
    def _check_unique(cls, observables: list[str]) -> list[str]:
        if not observables:
            raise job_error(f"must name at least one of {', '.join(map(toml_repr, TROTTER_OBSERVABLES))}",
                            value=observables, has_value=True)
        for index, name in enumerate(observables):
            if name in observables[:index]:
                raise job_error(f"appears twice (also observables[{observables.index(name)}])",
                                key=(index,), value=name, has_value=True)
        return observables


class TrotterJob(JobConfig):
    """Scenario ``"trotter"``: Trotterised time evolution of a spin chain split over networked QPUs.

    Attributes:
        model: ``[model]`` (:class:`ModelSection`).
        evolution: ``[evolution]`` (:class:`EvolutionSection`).
        network: ``[network]`` as for ``"dqc"`` (:class:`~dqsim.jobs.network.NetworkSection`).
        distribution: ``[distribution]``; ``assignment`` gives the node of each
            site (default: contiguous balanced blocks of sites, node 0 first).
        simulation: ``[simulation]`` (:class:`TrotterSimulationSection`).
    """

    scenario: ClassVar[str] = "trotter"

    model: ModelSection
    evolution: EvolutionSection
    network: NetworkSection
    distribution: DistributionSection = Field(default_factory=DistributionSection)
    simulation: TrotterSimulationSection = Field(default_factory=TrotterSimulationSection)

    @model_validator(mode="after")
    def _check_job(self) -> "TrotterJob":
        self._check_phases()
        if self.evolution.grouping == "bond" and self.model.kind != "xxz":
            raise job_error(f'is for kind = "xxz" only (one XX + YY + ΔZZ block per bond; here kind = '
                            f'{toml_repr(self.model.kind)}, whose ZZ bonds commute already): use "pauli"',
                            key=("evolution", "grouping"), value=self.evolution.grouping, has_value=True)
        network = self.network
        num_sites = self.model.num_sites
        num_nodes = network.resolved_num_nodes()
        names = network.node_name_sequence()
        per_node = network.node_spec(names[0]).num_data_qubits
        if num_sites > network.data_capacity():
            raise job_error(f"exceeds the network's capacity of {network.data_capacity()} data qubits "
                            f"({num_nodes} nodes × {per_node})",
                            key=("model", "num_sites"), value=num_sites, has_value=True, run_on=True)
        if self.evolution.exact and num_sites > MAX_EXACT_SITES:
            raise job_error(f"needs num_sites <= {MAX_EXACT_SITES} (dense diagonalisation); "
                            f"here [model].num_sites = {num_sites}",
                            key=("evolution", "exact"), value=True, has_value=True)
        assignment = self.distribution.assignment
        key = ("distribution", "assignment")
        if assignment is not None:
            check_assignment(assignment, count=num_sites, count_text=f"[model].num_sites = {num_sites}",
                             unit="sites", num_nodes=num_nodes, per_node=per_node, names=names)
        else:
            largest = max(self.site_assignment().count(node) for node in range(num_nodes))
            if largest > per_node:
                raise job_error(f"contiguous blocks would put {largest} sites on a node with "
                                f"{per_node} data qubits; give the node of each site",
                                key=key, missing=True)
        return self

    def phase_bound(self) -> float:
        """Largest total phase of the evolution, in radians (ħ = 1): ``2·‖H‖·total_time`` with
        ``‖H‖ <= num_sites·(|J|·(2 + |Δ|) + |h|)`` (``"xxz"``; ``num_sites·(|J| + |h|)`` for ``"tfim"``)."""
        model = self.model
        spread = abs(model.J) * ((2.0 + abs(model.delta)) if model.kind == "xxz" else 1.0) + abs(model.h)
        return 2.0 * model.num_sites * spread * self.evolution.total_time

    def warnings(self) -> list[str]:
        """Lines on what the job allows but will likely regret: phases so large that a float64 angle
        keeps no digits of them (:data:`PHASE_SPACING_WARN_RAD`).

        A float64 angle θ is known only to its spacing ``ulp(θ)`` (2.2e-16·θ), and the errors of the
        evolution's gate angles add up to about that much over the run, so results carry no figure
        finer than ``ulp(2·‖H‖·t)`` (e.g. ``h = 1e300`` loads, but its phases mod 2π are noise).
        """
        bound = self.phase_bound()
        spacing = math.ulp(bound)
        if spacing <= PHASE_SPACING_WARN_RAD:
            return []
        return [f"{self.source}: [model] and [evolution].total_time = {self.evolution.total_time:g} give phases up "
                f"to 2·‖H‖·t = {bound:.3g} rad, where float64 angles are {spacing:.2g} rad apart: the results "
                f"keep no figure finer than that; below {PHASE_WARN_RAD:.3g} rad they keep 1e-6 "
                "(smaller J, h or total_time)"]

    def _check_phases(self) -> None:
        """The phases must be finite floats: ``2·‖H‖·total_time``, with ``‖H‖`` bounded by
        ``num_sites·(|J|·(2 + |Δ|) + |h|)`` (``"xxz"``; ``num_sites·(|J| + |h|)`` for ``"tfim"``).

        Each coefficient alone may be any finite float, but with J or h at 1.8e308 the Trotter
        angles 2·h·dt overflowed to inf (``math domain error`` in the gate matrices) and the
        energies to ±inf and NaN; with total_time = 1.8e308 the circuit builder refused inf.
        """
        model = self.model
        spread = abs(model.J) * ((2.0 + abs(model.delta)) if model.kind == "xxz" else 1.0) + abs(model.h)
        norm = model.num_sites * spread
        if math.isfinite(norm) and math.isfinite(2.0 * norm * self.evolution.total_time):
            return
        if math.isfinite(norm):
            raise job_error(f"times 2·‖H‖ <= {2.0 * norm:.3g} (the Hamiltonian's coefficients) overflows a float: the "
                            f"phases e^(-iHt) cannot be computed; allowed at most {sys.float_info.max / (2.0 * norm):.3g}",
                            key=("evolution", "total_time"), value=self.evolution.total_time, has_value=True)
        terms = {"J": model.J, "h": model.h, **({"delta": model.delta} if model.kind == "xxz" else {})}
        key = max(terms, key=lambda name: abs(terms[name]))
        raise job_error(f"makes the Hamiltonian's norm bound num_sites·(|J|{'·(2 + |delta|)' if model.kind == 'xxz' else ''}"
                        f" + |h|) overflow a float: its energies and phases cannot be computed",
                        key=("model", key), value=terms[key], has_value=True)

    def use_exact(self) -> bool:
        """Whether to compute the exact evolution: ``[evolution].exact``, default ``num_sites <= 12``."""
        if self.evolution.exact is None:
            return self.model.num_sites <= MAX_EXACT_SITES
        return self.evolution.exact

    def site_assignment(self) -> list[int]:
        """Node index of each site: ``[distribution].assignment``, else contiguous balanced blocks.

        With fewer sites than nodes, site ``i`` goes to node ``i``.
        """
        if self.distribution.assignment is not None:
            return list(self.distribution.assignment)
        num_sites, num_nodes = self.model.num_sites, self.network.resolved_num_nodes()
        if num_sites < num_nodes:
            return list(range(num_sites))
        return net_topology.place_nodes(num_sites, num_nodes)

