"""The ``trotter`` scenario: Trotterised evolution of a spin chain whose sites live on networked QPUs.

For every time point ``t_k = k·T/num_points`` (``k = 0..num_points``) the
circuit of ``k·steps_per_point`` Trotter steps
(:func:`dqsim.circuit.hamiltonians.trotter_circuit`) is run three ways:

* **networked**: through :func:`dqsim.scenarios.dqc.run_dqc`, with the sites
  split over the QPUs (``[distribution].assignment``, default contiguous
  blocks), so every bond between sites on different QPUs becomes a nonlocal
  gate (one TeleGate and one EPR pair per ``rzz``/``rxx``/``ryy``; with
  ``[evolution].grouping = "bond"`` a cut bond's block is one dense gate
  teleported there and back where that takes fewer pairs,
  :func:`teleported_bonds`). The
  observables are read from the final register state, site ``i`` being
  register qubit ``run.regmap.qubit_of_logical[i]``. With
  ``trajectories > 1`` the values are averaged over that many runs of
  independent seeds (the noise of imperfect pairs and memories is sampled
  per run). On several ranks, when the register is small enough to be
  replicated (:func:`shares_runs`), the runs (series × points ×
  trajectories) are shared out over the ranks, each run simulating the
  whole network in one process, and their results gathered in one
  collective: bit-identical to a one-rank job, in a fraction of its time.
  A larger register or periodic checkpoints run each run on all ranks
  together; a resume runs the run its checkpoint cut on all ranks (from
  the checkpoint) and shares out the runs that had not finished. A stop
  signal after the shared-out runs (their tables, the output write) runs
  one of them again on all ranks, which checkpoints it
  (:func:`_stop_by_a_run_again`);
* **trotter**: the same circuit on a plain state of the sites (the
  noiseless Trotter evolution): for a chain of at most
  :data:`~dqsim.state.sharded.REPLICATED_MAX_QUBITS` sites each circuit runs
  on one rank alone, the circuits shared out over the ranks; a longer chain's
  state is sharded over all of them;
* **exact**: ``e^{−iHt}|ψ0⟩`` by dense diagonalisation
  (:func:`dqsim.circuit.hamiltonians.exact_evolution`), when enabled (``num_sites <= 12``).

By default (``[evolution].mode = "independent"``) each point is evolved
from the initial state, so a run costs ``O(num_points² · steps_per_point)``
gates (and EPR pairs) in all: fine for the small chains this scenario is
for, and it keeps every point an independent, complete networked run (its
own simulated time and pair count).

``[evolution].mode = "continued"`` evolves each (series, trajectory) once
through all points: ``O(num_points · steps_per_point)`` gates and pairs.
Its circuits (:func:`evolution_circuits`) are the preparation (point 0)
and then one interval's ``steps_per_point`` steps per point; each is one
engine run of :func:`~dqsim.scenarios.dqc.run_dqc` that starts from the
register the previous one left (``run_dqc(initial=...)``, kept between
them by :class:`_Chain`), with its own seed (:func:`run_seed` of the same
(series, point, trajectory) as the default mode's run). The point is read
where one engine run ends and the next has not started: then every QPU has
done its part of the ``k·steps_per_point`` steps and none has begun the
next, and the communication qubits are back out of the register, so the
register holds exactly the state after those steps, read without
measuring it (a simulator's privilege). Within one engine run the QPUs do
not move in step (one may start the next step while another finishes
this one), so no engine window inside a run (the progress hook's "share
of the circuit's steps done") is a point to read; the end of a run is, and
it is also where :func:`~dqsim.engine.checkpoint.stop_point_of` and checkpoints
already stand. The boundary acts as a barrier: the next interval starts
when the slowest QPU has finished, its simulated clock from 0 again, and
the time a memory idles at the barrier is not charged to it (it is not in
the default mode either, where a run ends there). With the Strang formula
(order 2) the first term group's closing and opening half steps, merged
inside a run, are applied separately at each boundary: the state is the
same (to rounding; the values equal the default mode's to 1e-10 on ideal
links, ``tests/test_trotter_continued.py``), the gates are not — for
``"tfim"`` that group is the local ``rx`` field, for ``"xxz"`` the ``XX``
bonds, so an XXZ ring takes one more TeleGate (and pair) per cut bond per
boundary, and on noisy links their noise too. With ``[evolution].grouping =
"bond"`` it is the first bond layer, whose two half blocks of a bond merge
as exactly (the block's three rotations commute, and bonds of one layer
share no site): one more teleported block (two pairs, :func:`teleported_bonds`)
or three more TeleGates (``cut_blocks = "rotations"``; two when ``Δ = 0``,
none when ``J = 0``) per cut bond of that layer per boundary; the
total magnetisation stays conserved across the boundary, each half block
conserving it. The register is read where
the default mode reads it, so the per-point mean over trajectories of
every observable is the same unbiased estimate in both modes when they run
the same nonlocal gates (checked within 4 standard errors on noisy links);
but one trajectory's values at different points now come from one noisy
history, so they are correlated across points (each point's
``networked_stderr`` is still right for that point; a fit across points
must not treat them as independent). The noiseless **trotter** reference is
evolved the same way (one state, read after each segment, on rank 0 when
the chain is short), and the fidelity to the Trotter state is the overlap
with a noiseless twin of the register that follows it segment by segment
(one more register's memory). In this mode the ``network`` table's
``num_gates``, ``nonlocal_gates``, ``epr_pairs`` and ``simulated_time_ps``
are cumulative from ``t = 0`` to the point (means over trajectories of the
sums of that evolution's runs), ``fidelity_to_trotter`` that of the state
at the point, and the attributes ``total_epr_pairs`` and
``total_simulated_time_ps`` are the last point's (in the default mode: the
sum over the points' runs); the attribute ``evolution_mode`` is
``"continued"`` (absent in the default mode, whose output is unchanged).
``counts`` are drawn from the last segment's register at ``t = T`` (first
trajectory, the same seed as the default mode's last run). A sweep runs
one evolution per value and trajectory. On several ranks with a
replicated register the evolutions (not the single runs) are shared out
over the ranks, each on one rank in turn, with the same one collective:
bit-identical to one rank. A checkpoint (periodic, or a stop's) cuts one
engine run, whose register it holds: a resume continues that run from it,
rebuilds the noiseless twin from the circuits before, and goes on with the
evolution from there; a run needed again whose evolution's earlier runs
were taken from the checkpoint (the one whose state ``save_state`` keeps)
runs them again first, without checkpoints (same seeds, same register). A
stop signal while the evolutions are shared out takes effect after each
rank's current evolution (not run); one after them runs the first segment
of the evolution whose state the output keeps again on every rank, which
checkpoints it (:func:`_stop_by_a_run_again`).

With ``[simulation].sweep`` the networked evolution is repeated once per
value of the swept link parameter (``distance_km`` or ``source_fidelity`` of
every link), to show how the network degrades the dynamics.

Tables:

* ``observables``: ``time, observable, unit, networked, networked_stderr, trotter, exact`` (``exact`` NaN
  when off; ``networked_stderr`` the standard error of the mean over trajectories, NaN with one; ``unit``
  the row's values' unit, :data:`OBSERVABLE_UNITS`: ``energy`` in that of ``J`` and ``h``, the others
  ``"1"``; the ``units`` attribute gives ``time`` its unit and points the value columns at ``unit``);
* ``sites``: ``time, site, networked, trotter, exact`` (⟨Z_i⟩; with either magnetisation);
* ``network``: per point ``time, trotter_steps, num_gates, nonlocal_gates,
  epr_pairs, simulated_time_ps, fidelity_to_trotter, fidelity_to_trotter_stderr`` (means over
  trajectories, and the fidelity's standard error; ``time`` in 1/energy with ħ = 1, the others'
  units in their names; in ``"continued"`` mode the four cost columns are cumulative from ``t = 0``),
  ``trotter_fidelity_to_exact`` (|⟨ψ_exact|ψ_trotter⟩|² of the noiseless Trotter state, NaN when the
  exact series is off; :func:`_exact_observables`);
* ``sweep``: ``parameter, value, time, observable, unit, networked, networked_stderr, trotter``; and
  ``sweep_network``: ``parameter, value, time, epr_pairs, simulated_time_ps,
  fidelity_to_trotter, fidelity_to_trotter_stderr`` (with a sweep only);
* ``counts``: ``bitstring, count`` of ``[simulation].shots`` Z-basis samples
  of the sites at ``t = T`` (first trajectory, the job's network; site 0
  rightmost), when ``shots > 0``;
* ``timing``: ``stage, seconds`` (rank 0's: ``monolithic``, ``exact``,
  ``network``; with the runs shared out over the ranks the first two are
  rank 0's share and ``network`` ends with the one collective that gathers
  all three).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, Sequence

import numpy as np

from dqsim import comm as comm_mod
from dqsim.circuit import hamiltonians
from dqsim.circuit.hamiltonians import SpinModel
from dqsim.circuit.ir import Circuit
from dqsim.errors import DqsimError, count_of
from dqsim.rng import derived_seed
from dqsim.scenarios.output import ScenarioOutput, add_node_names, record_table, standard_error
from dqsim.scenarios.circuit_run import counts_table
from dqsim.engine import checkpoint
from dqsim.network.network import Network
from dqsim.network.node import node_values
from dqsim.scenarios.dqc import (INITIAL_SCRATCH_QUBITS, TELEPORTED_GATE_PAIRS, entanglement_attributes,
                                 extra_register_qubits, is_noisy, job_network, plan_dqc, register_ops, replicates,
                                 run_dqc, teleported_form)
from dqsim.state.sharded import ShardedState
from dqsim.units import PS_PER_US

__all__ = ["run_job", "observables_of", "Observables", "run_seed", "product_state"]

#: Observables of ``[simulation].observables``, in table order.
OBSERVABLE_ORDER = ("magnetization", "staggered_magnetization", "correlation", "energy", "loschmidt")

#: The unit of ``time`` in the tables: the inverse of the energy unit of ``J``, ``h`` (ħ = 1).
TIME_UNIT = "1/energy (hbar = 1)"
#: The unit of each observable's values, the ``unit`` column of the ``observables`` and ``sweep`` tables: ⟨H⟩ in
#: the energy unit of ``J`` and ``h``; the others (means of Pauli expectation values, a return probability) none.
OBSERVABLE_UNITS = {"magnetization": "1", "staggered_magnetization": "1", "correlation": "1",
                    "energy": "energy (the unit of J and h)", "loschmidt": "1"}
#: The ``units`` entry of the value columns of those tables: their unit is the row's.
PER_ROW_UNIT = "the row's unit column"


@dataclasses.dataclass
class Observables:
    """Observable values of one state.

    Attributes:
        values: observable name → value.
        sites: ⟨Z_i⟩ of each site (empty unless a magnetisation was asked for).
        trotter_fidelity: for a state of the exact series only, |⟨ψ_exact(t)|ψ_trotter(t)⟩|², the
            noiseless Trotter state's fidelity to it (the product formula's own error); NaN elsewhere.
    """

    values: dict[str, float]
    sites: list[float]
    trotter_fidelity: float = math.nan


def run_seed(seed: int, *indices: int) -> int:
    """The seed of one networked run: :func:`dqsim.rng.derived_seed` for (sweep value, time point, trajectory).

    Examples:
        >>> run_seed(1, 0, 2, 0) == run_seed(1, 0, 2, 0), run_seed(1, 0, 2, 0) != run_seed(1, 0, 3, 0)
        (True, True)
    """
    return derived_seed(seed, "trotter", *indices)


def product_state(num_qubits: int, qubits: Sequence[int], bits: Sequence[int], *, comm, backend,
                     precision: str) -> ShardedState:
    """The product state with ``bits`` on ``qubits`` (others |0⟩)."""
    state = ShardedState(num_qubits, comm, precision=precision, backend=backend)
    ops = [Circuit(num_qubits).gate("x", q).gates()[0].to_op() for q, b in zip(qubits, bits) if b]
    state.apply_ops(ops)
    return state


def observables_of(state: ShardedState, model: SpinModel, qubit_of_site: Sequence[int], names: Sequence[str],
                   reference: ShardedState | None) -> Observables:
    """The requested observables of ``state`` (collective).

    Args:
        state: the state holding the chain (possibly inside a larger register).
        model: the spin chain.
        qubit_of_site: register qubit of each site.
        names: observables to compute (see :data:`OBSERVABLE_ORDER`).
        reference: the initial state on the same register (for ``"loschmidt"``).

    Returns:
        :class:`Observables`.
    """

    def mapped(terms):
        return [(c, p, tuple(qubit_of_site[q] for q in qs)) for c, p, qs in terms]

    values: dict[str, float] = {}
    sites: list[float] = []
    if "magnetization" in names or "staggered_magnetization" in names:
        sites = [state.expectation(mapped(terms)) for terms in hamiltonians.site_magnetization_terms(model)]
    if "magnetization" in names:
        values["magnetization"] = math.fsum(sites) / model.num_sites
    if "staggered_magnetization" in names:
        values["staggered_magnetization"] = math.fsum((-1) ** i * z for i, z in enumerate(sites)) / model.num_sites
    if "correlation" in names:
        values["correlation"] = state.expectation(mapped(hamiltonians.correlation_terms(model)))
    if "energy" in names:
        values["energy"] = state.expectation(mapped(model.terms()))
    if "loschmidt" in names:
        values["loschmidt"] = reference.fidelity(state)
    return Observables(values, sites)


def _mean(items: list[Observables]) -> Observables:
    names = items[0].values
    return Observables({n: math.fsum(o.values[n] for o in items) / len(items) for n in names},
                       [math.fsum(v) / len(items) for v in zip(*[o.sites for o in items])])


def _trotter_observables(circuits: Sequence[Circuit], model: SpinModel, bits: Sequence[int], names: Sequence[str],
                         *, comm, backend, precision: str, gather: bool = True, continued: bool = False):
    """Observables of each circuit's noiseless evolution of the sites (collective).

    With ``continued`` the circuits are the segments of one evolution
    (:func:`evolution_circuits`): one state goes through them in turn and is
    read after each, all on one rank (rank 0) when the chain is short. Else
    each circuit runs from a fresh state. A chain of at most :data:`~dqsim.state.sharded.REPLICATED_MAX_QUBITS` sites is
    evolved on single-process states, the circuits shared out over the ranks
    (longest first, each to the least loaded rank) and the results gathered in
    one collective: the arithmetic of a one-rank run, so the values are
    bit-identical on any rank count. A longer chain runs each circuit on a state
    sharded over every rank, one after the other.

    Returns:
        A list of :class:`Observables`, one per circuit; with ``gather=False``
        (not collective then for a short chain), ``{index: Observables}`` of
        this rank's share, for the caller to gather with its other results
        (:func:`_gathered`).
    """
    if not replicates(comm.size, model.num_sites):
        values = _evolve_all(circuits, model, bits, names, comm=comm, backend=backend, precision=precision,
                             continued=continued)
        return values if gather else dict(enumerate(values))
    owner = ([0] * len(circuits) if continued  # one evolution: one rank
             else comm_mod.balance_items([len(circuit.gates()) + 1 for circuit in circuits], comm.size))
    mine = [k for k in range(len(circuits)) if owner[k] == comm.rank]
    values = _evolve_all([circuits[k] for k in mine], model, bits, names, comm=None, backend=backend,
                         precision=precision, continued=continued)
    return _gathered(comm.allgather(dict(zip(mine, values))), len(circuits)) if gather else dict(zip(mine, values))


def _gathered(parts: Sequence[dict], count: int) -> list:
    """The values of indices ``0..count-1`` from every rank's ``{index: value}``."""
    found = {index: value for part in parts for index, value in part.items()}
    return [found[index] for index in range(count)]


def _evolve_all(circuits: Sequence[Circuit], model: SpinModel, bits: Sequence[int], names: Sequence[str], *, comm,
                backend, precision: str, continued: bool = False) -> list[Observables]:
    """Observables of each circuit run on a fresh state of the sites (``comm=None``: on this rank alone), or with
    ``continued`` of one state that the circuits evolve in turn, read after each."""
    sites = range(model.num_sites)
    reference = product_state(model.num_sites, sites, bits, comm=comm, backend=backend, precision=precision)
    found, state = [], None
    for circuit in circuits:
        if state is None or not continued:
            state = None  # free the last one first
            state = ShardedState(model.num_sites, comm, precision=precision, backend=backend)
        state.apply_ops([g.to_op() for g in circuit.gates()])
        found.append(observables_of(state, model, sites, names, reference))
    return found


def _exact_observables(model: SpinModel, initial: str, times: Sequence[float], names: Sequence[str],
                       comm, gather: bool = True, circuits: Sequence[Circuit] = (),
                       continued: bool = False) -> list[Observables] | None:
    """Observables of the exact evolution (computed on rank 0, broadcast; ``gather=False``: ``None`` elsewhere).

    With the points' Trotter ``circuits`` (:func:`evolution_circuits`; ``continued``: applied in turn) each
    result's ``trotter_fidelity`` is |⟨ψ_exact(t_k)|ψ_trotter(t_k)⟩|², the noiseless Trotter state of point
    ``k`` (built again on rank 0 alone, on a plain state of the sites) against the exact one. It is the
    product formula's state error, which the observables can hide: from |0…0⟩ a Lie–Trotter evolution that
    ends on the diagonal ZZ terms differs from a Strang one only by a ZZ phase, invisible in ⟨Z⟩, ⟨ZZ⟩ and
    the return probability, so those err as O(dt²) while 1 − F falls as O(dt²), i.e. the state as O(dt)
    (Suzuki, J. Math. Phys. 32, 400 (1991); Childs et al., PRX 11, 011020 (2021), eq. (1)).
    """
    result = None
    if comm.rank == 0:
        vectors = hamiltonians.exact_evolution(model, initial, times)
        reference = ShardedState(model.num_sites)
        reference.set_state(hamiltonians.initial_state(model, initial))
        result = []
        trotter_state = None
        for k, vector in enumerate(vectors):
            state = ShardedState(model.num_sites)
            state.set_state(vector)
            found = observables_of(state, model, range(model.num_sites), names, reference)
            if k < len(circuits):
                if trotter_state is None or not continued:
                    trotter_state = ShardedState(model.num_sites)
                trotter_state.apply_ops([g.to_op() for g in circuits[k].gates()])
                found.trotter_fidelity = state.fidelity(trotter_state)
            result.append(found)
    return comm.bcast(result, root=0) if gather else result


#: One networked run's summary (what the tables need; also what a checkpoint stores for a finished run):
#: ``(observables, epr_pairs, end_time_ps, fidelity, nonlocal_gates, register_qubits, counts or None)``.
RunSummary = tuple


class _References:
    """The initial product state on the register of the latest run, for ``"loschmidt"`` (one kept at a time)."""

    def __init__(self, bits: Sequence[int], *, backend, precision: str):
        self.bits, self.backend, self.precision = bits, backend, precision
        self.key, self.state = None, None

    def get(self, state: ShardedState, qubit_of_site: Sequence[int]) -> ShardedState:
        key = (state.num_qubits, tuple(qubit_of_site), state.comm.size)
        if key != self.key:
            self.key, self.state = key, None  # free the old one first
            self.state = product_state(state.num_qubits, qubit_of_site, self.bits, comm=state.comm,
                                       backend=self.backend, precision=self.precision)
        return self.state


def cut_bonds(model: SpinModel, assignment: Sequence[int]) -> list[tuple[int, int]]:
    """The bonds whose two sites sit on different QPUs (``assignment``: the node of each site), in
    :meth:`~dqsim.circuit.hamiltonians.SpinModel.bonds` order.

    Examples:
        >>> cut_bonds(SpinModel(kind="xxz", num_sites=5, boundary="periodic"), [0, 0, 0, 1, 1])
        [(2, 3), (4, 0)]
    """
    return [bond for bond in model.bonds() if assignment[bond[0]] != assignment[bond[1]]]


def teleported_bonds(job, model: SpinModel, network: Network) -> list[tuple[int, int]]:
    """The cut bonds whose ``"bond"`` block runs as one dense two-qubit gate teleported there and back
    (``[evolution].cut_blocks = "auto"``): where that takes fewer EPR pairs (:data:`TELEPORTED_GATE_PAIRS`,
    two) than the block's rotations, one controlled gate each (a pair each under ``scheme = "telegate"``, two
    under ``"teledata"``; ``rzz`` left out when ``Δ = 0``), and one of its two QPUs has two communication
    qubits (the TeleData target holds the pair that brought the qubit and the return pair).
    :func:`dqsim.scenarios.dqc.with_teleported_gates` decides the same by the gate's KAK decomposition, which
    at special angles has fewer controlled gates (a ``Δ ≠ 0`` block keeps three unless an angle is a
    multiple of π/2): such a block is then rewritten, with at most two pairs. ``[]`` for ``"pauli"``.

    A block of generic angles has operator Schmidt rank 4, and a deterministic exact implementation by local
    operations and classical communication needs a resource of Schmidt rank at least that (Stahlke and
    Griffiths, Phys. Rev. A 84, 032316 (2011)): two Bell pairs, so two is the fewest pairs.
    """
    evolution = job.evolution
    if evolution.grouping != "bond" or evolution.cut_blocks != "auto":
        return []
    rotations = (2 if model.J != 0.0 else 0) + (1 if float(model.J * model.delta) != 0.0 else 0)
    per_gate = 2 if job.distribution.scheme == "teledata" else 1
    if rotations * per_gate <= TELEPORTED_GATE_PAIRS:
        return []
    assignment = job.site_assignment()
    comm_counts = node_values(network.nodes, "num_comm_qubits")
    return [bond for bond in cut_bonds(model, assignment)
            if comm_counts[assignment[bond[0]]] >= 2 or comm_counts[assignment[bond[1]]] >= 2]


def teleport_extra_qubits(job, model: SpinModel, network: Network) -> tuple[int, bool]:
    """``(extra, exact)``: qubits the largest register of the networked runs holds beyond the sites and
    :data:`~dqsim.scenarios.dqc.INITIAL_SCRATCH_QUBITS`, at most, and whether the runs reach exactly that: the
    most over the circuits the run builds (:func:`evolution_circuits`, with the cut blocks it teleports,
    :func:`teleported_bonds`) of :func:`dqsim.scenarios.dqc.extra_register_qubits` of their plans on
    ``network`` (:func:`~dqsim.scenarios.dqc.plan_dqc`, as each run plans; a sweep changes the links' physics,
    not the plan; a continued evolution's segments after the first are one circuit, planned once). ``dqsim check``
    counts memory with it.
    Measured (``register_qubits``): 8 for a 5-site ring split 3 + 2 with teleported blocks or TeleData (exact),
    7 with ``cut_blocks = "rotations"`` under TeleGate (exact).

    Raises:
        DqsimError: a node with too few communication qubits for a circuit (as the run refuses it).
    """
    evolution = job.evolution
    assignment = job.site_assignment()
    cut = cut_bonds(model, assignment) if evolution.cut_blocks == "auto" else []
    circuits = evolution_circuits(model, evolution, job.model.initial, cut=cut,
                                  dense=teleported_bonds(job, model, network))
    extra, exact = 0, True
    for circuit in {id(circuit): circuit for circuit in circuits}.values():
        prepared = plan_dqc(circuit, network, scheme=job.distribution.scheme, assignment=assignment,
                            source=job.source)
        found = extra_register_qubits(prepared, job.distribution.entanglement)
        if found[0] > extra:
            extra, exact = found
        elif found[0] == extra:
            exact = exact or found[1]
    return extra, exact


def run_teleported_bonds(circuits: Sequence[Circuit], bonds: Sequence[tuple[int, int]], assignment: Sequence[int],
                         network: Network, scheme: str) -> list[tuple[int, int]]:
    """Those of ``bonds`` (:func:`teleported_bonds`) whose dense block the run teleports in at least one of
    ``circuits``: :func:`dqsim.scenarios.dqc.teleported_form`, the run's own predicate, which decides by the
    block's KAK decomposition, so at special angles (an interaction coordinate zero) a block is rewritten instead.
    Each distinct block (bond, matrix) is decided once."""
    wanted = {frozenset(bond): bond for bond in bonds}
    two_comm = [count >= 2 for count in node_values(network.nodes, "num_comm_qubits")]
    found, seen = set(), set()
    for circuit in circuits:
        for gate in circuit.gates():
            bond = wanted.get(frozenset(gate.qubits)) if gate.name == "unitary" else None
            key = (gate.qubits, gate.matrix.tobytes()) if bond is not None and bond not in found else None
            if key is None or key in seen:
                continue
            seen.add(key)
            if teleported_form(gate, assignment, two_comm, scheme=scheme) is not None:
                found.add(bond)
    return [bond for bond in bonds if bond in found]


def teleported_block_pairs(bonds: Sequence[tuple[int, int]], assignment: Sequence[int], network: Network) -> int:
    """EPR pairs that one application of each of ``bonds``' teleported blocks takes:
    :data:`TELEPORTED_GATE_PAIRS` (two) a hop of the route between the bond's QPUs (``network.route``; a bond
    routed through a middle QPU takes a pair a hop for each teleportation: four over two hops).
    """
    return sum(TELEPORTED_GATE_PAIRS * (len(network.route(assignment[a], assignment[b])) - 1) for a, b in bonds)


def evolution_circuits(model: SpinModel, evolution, initial: str, *, cut: Sequence[tuple[int, int]] = (),
                       dense: Sequence[tuple[int, int]] = ()) -> list[Circuit]:
    """The circuit of each time point: point ``k``'s ``k·steps_per_point`` steps from ``t = 0`` (``"independent"``),
    or, ``"continued"``, the preparation (point 0) and then the ``steps_per_point`` steps of one interval
    ``T/num_points`` (each later point), which applied in turn reach point ``k`` after ``k`` of them.

    Args:
        model: the spin chain; ``evolution``: the job's ``[evolution]``; ``initial``: ``"up"`` or ``"neel"``.
        cut: the bonds between QPUs (:func:`cut_bonds`), ``dense`` those whose block is one dense gate
            (:func:`teleported_bonds`): ``trotter_circuit``'s ``cut_bonds`` and ``dense_bonds``
            (``"bond"`` grouping only).

    Examples:
        >>> from dqsim.jobs.trotter import EvolutionSection
        >>> model = SpinModel(kind="tfim", num_sites=2)
        >>> [len(c.gates()) for c in evolution_circuits(model, EvolutionSection(total_time=1.0, num_points=3), "up")]
        [0, 5, 8, 11]
        >>> continued = EvolutionSection(total_time=1.0, num_points=3, mode="continued")
        >>> [len(c.gates()) for c in evolution_circuits(model, continued, "up")]
        [0, 5, 5, 5]
    """
    times = evolution.times()
    grouping = evolution.grouping
    bonds = dict(cut_bonds=cut, dense_bonds=dense) if grouping == "bond" else {}
    if evolution.mode == "independent":
        return [hamiltonians.trotter_circuit(model, t, k * evolution.steps_per_point, order=evolution.order,
                                             initial=initial, grouping=grouping, **bonds)
                for k, t in enumerate(times)]
    step = hamiltonians.trotter_circuit(model, evolution.total_time / evolution.num_points, evolution.steps_per_point,
                                        order=evolution.order, grouping=grouping, **bonds)
    return [hamiltonians.trotter_circuit(model, 0.0, 0, initial=initial)] + [step] * evolution.num_points


class _Chain:
    """One continued evolution (a series' trajectory, ``"continued"`` mode): the register between its engine runs
    and its noiseless twin.

    After segment ``k`` (:func:`evolution_circuits`) ran, :meth:`finish` keeps
    the run's final register (the next run starts from it, :meth:`start`) and
    applies the segment to the twin: the segments so far applied to |0…0⟩ on
    the same register, whose overlap with the register is the point's
    ``fidelity_to_trotter``. A twin that is not at hand (a run resumed from a
    checkpoint, or one that ran again) is rebuilt from the segments before.
    """

    def __init__(self, circuits: Sequence[Circuit]):
        self.circuits = circuits
        self.state: ShardedState | None = None
        self.ideal: ShardedState | None = None
        self.done = 0  # segments the kept state has been through

    def start(self, k: int) -> ShardedState | None:
        """The register segment ``k`` starts from (handed over, no longer kept), or ``None`` when it is not at hand."""
        state = self.state if self.done == k else None
        self.state = None
        return state

    def finish(self, k: int, run) -> float:
        """Keep ``run``'s final register as the state after segment ``k``; the fidelity to the twin (collective)."""
        state, ideal = run.state, self.ideal if self.done == k else None
        self.ideal = None
        if ideal is None:
            ideal = ShardedState(state.num_qubits, state.comm, precision=state.precision, backend=state.backend)
            ideal.apply_ops([op for circuit in self.circuits[:k] for op in register_ops(circuit, run.regmap)])
        while ideal.num_qubits < state.num_qubits:  # the register grew by scratch bits (in |0⟩)
            ideal.add_qubit_()
        ideal.apply_ops(register_ops(self.circuits[k], run.regmap))
        fidelity = ideal.fidelity(state)
        self.state, self.ideal, self.done = state, ideal, k + 1
        return fidelity


def _run_once(job, circuit: Circuit, network: Network, *, seed: int, shots: int, model: SpinModel,
              names: Sequence[str], references: _References, comm, backend,
              checkpointing, on_fraction: Callable[[float], None] | None = None,
              chain: tuple[_Chain, int] | None = None) -> tuple[RunSummary, ShardedState]:
    """One networked run of ``circuit`` (collective over ``comm``): its :data:`RunSummary` and final state.

    ``on_fraction(fraction)`` is called on rank 0 after each engine window
    with the share of the circuit's steps done (0..1, ends excluded).
    ``chain = (chain, k)``: segment ``k`` of a continued evolution, started
    from the chain's register (a new one for ``k = 0`` or when the checkpoint
    being resumed holds it) and kept there (:class:`_Chain`).
    """
    def on_window(_time_ps: int, _windows: int, fraction: float | None) -> None:
        if fraction is not None and 0 < fraction < 1:  # whole counts only when a run is done
            on_fraction(fraction)

    run = run_dqc(circuit, comm=comm, backend=backend, network=network, scheme=job.distribution.scheme,
                  assignment=job.site_assignment(), seed=seed, precision=job.run.precision, shots=shots,
                  timeline=False, checkpointing=checkpointing, on_window=on_window if on_fraction else None,
                  fidelity_check="auto" if chain is None else "off",
                  initial=None if chain is None else chain[0].start(chain[1]), keep_shots=False,
                  entanglement=job.distribution.entanglement)
    fidelity = run.fidelity if chain is None else chain[0].finish(chain[1], run)
    qubit_of_site = list(run.regmap.qubit_of_logical)
    reference = references.get(run.state, qubit_of_site) if "loschmidt" in names else None
    summary = (observables_of(run.state, model, qubit_of_site, names, reference), run.links.totals()[0],
               run.end_time_ps, fidelity, run.num_nonlocal_gates, run.state.num_qubits,
               run.counts if shots else None)
    run.stop_point()  # a stop signal during the observables: checkpoint the finished engine run (redone on resume)
    return summary, run.state


def shares_runs(num_sites: int, num_ranks: int, checkpointing=None) -> bool:
    """Whether the networked runs are shared out over the ranks rather than each run on all of them.

    They are when the run's register (the sites plus
    :data:`~dqsim.scenarios.dqc.INITIAL_SCRATCH_QUBITS` scratch bits) would be
    replicated on every rank anyway (:func:`~dqsim.scenarios.dqc.register_comm`),
    there are several ranks, and no periodic checkpoint is asked for
    (``checkpointing`` with ``every_wall_s``/``every_sim_s``: checkpoints are
    cuts of one engine run on all ranks, so such a job runs every run on
    every rank). A resume shares them out too, but for the run its
    checkpoint cut, which continues from the checkpoint on every rank
    (:func:`run_job`); running every remaining run on all ranks made a
    2-rank resume of ``jobs/xxz_ring_sweep.toml`` take 7x the CPU time of a
    fresh 2-rank run (bench/results/trotter_resume-vm-20261205.md).

    Examples:
        >>> shares_runs(8, 2), shares_runs(8, 1), shares_runs(11, 2)
        (True, False, False)
    """
    if not replicates(num_ranks, num_sites + INITIAL_SCRATCH_QUBITS):
        return False
    return checkpointing is None or not (checkpointing.every_wall_s or checkpointing.every_sim_s)


def _run_list(job, series: Sequence[tuple], circuits: Sequence[Circuit]) -> tuple[list[tuple[int, int, int]], int, int]:
    """The networked runs ``(series, point, trajectory)`` in order; the index of the one whose final state is kept
    (last trajectory of the job's network at the last point) and of the one that draws the shots (its first).

    The order is that of the engine runs (a checkpoint's run index):
    ``"independent"``: series, then point, then trajectory; ``"continued"``:
    series, then trajectory, then point (each evolution's segments in turn).
    """
    trajectories = job.simulation.trajectories
    if job.evolution.mode == "continued":
        runs = [(s, k, t) for s in range(len(series)) for t in range(trajectories) for k in range(len(circuits))]
    else:
        runs = [(s, k, t) for s in range(len(series)) for k in range(len(circuits)) for t in range(trajectories)]
    return runs, runs.index((0, len(circuits) - 1, trajectories - 1)), runs.index((0, len(circuits) - 1, 0))


def _networked_runs(job, series: Sequence[tuple], circuits: Sequence[Circuit], times: Sequence[float], *,
                    model: SpinModel, names: Sequence[str], bits: Sequence[int], comm, backend, checkpointing,
                    progress: Callable[[float, str], None], finished: dict[int, RunSummary] | None = None,
                    last_state: ShardedState | None = None) -> tuple[list[RunSummary], ShardedState | None]:
    """Every networked run's :data:`RunSummary`, in (series, point, trajectory) order, and the final state (collective).

    Run ``(s, k, t)`` has seed :func:`run_seed` ``(seed, s, k, t)``; the first
    trajectory of the job's network at the last point draws the shots; the
    returned state is the last trajectory's there (every rank holds it whole
    when the register is replicated). ``finished`` (and ``last_state``) are
    what the runs shared out over the ranks gave (:func:`_shared_runs`); the
    runs they did not finish (a stop signal) run here on every rank, each run
    collectively, with checkpoints, as do all runs of a job that does not
    share them out. A resumed job takes the runs that had finished from the
    checkpoint. In ``"continued"`` mode each run starts from the register the
    run before it in its evolution left (:class:`_Chain`); the run a resumed
    checkpoint cut starts from the checkpoint's register, and one whose
    evolution's earlier runs were taken from the checkpoint (the run whose
    state the output keeps, run again) first runs them again without
    checkpoints (:func:`_catch_up`).
    """
    runs, last, shots_run = _run_list(job, series, circuits)
    references = _References(bits, backend=backend, precision=job.run.precision)
    finished = finished or {}
    if checkpointing is not None:  # a checkpoint written below keeps every finished run, also those after it
        checkpointing.results.update(finished)
    summaries = []
    chains: dict[tuple[int, int], _Chain] = {}  # continued: (series, trajectory) -> its evolution
    resumed = checkpointing.resume.engine_run if checkpointing is not None and checkpointing.resume else None
    for index, (s, k, t) in enumerate(runs):
        done = index + sum(i > index for i in finished)
        label = f"{_label(series[s])}: t = {times[k]:.3g}"  # the progress line counts the runs after it
        summary = finished.get(index)
        if summary is not None:  # shared out: counted as this job's engine run, so a checkpoint keeps it
            if checkpointing is not None:
                checkpointing.next_engine_run()
                checkpointing.store_last(summary)
        else:
            progress(done, label)
            # the run whose final state the output keeps runs again for it (save_state; _resumed_runs)
            summary = (checkpointing.stored_next(rerun=index == last and job.simulation.save_state)
                       if checkpointing is not None else None)
        if summary is None:  # not a run that had finished before the checkpoint being resumed
            chain = None
            if job.evolution.mode == "continued":
                chain = (chains.setdefault((s, t), _Chain(circuits)), k)
                if chain[0].done != k and index != resumed:  # (the checkpoint being resumed holds the register)
                    _catch_up(job, series, circuits, chain, model=model, names=names, references=references,
                              comm=comm, backend=backend, trajectory=t, series_index=s)
            summary, state = _run_once(job, circuits[k], series[s][2], seed=run_seed(job.run.seed, s, k, t),
                                       shots=job.simulation.shots if index == shots_run else 0, model=model,
                                       names=names, references=references, comm=comm, backend=backend,
                                       checkpointing=checkpointing,
                                       on_fraction=lambda fraction, done=done, label=label:
                                       progress(done + fraction, label), chain=chain)
            if k == len(circuits) - 1:
                chains.pop((s, t), None)  # the evolution is done: its register goes with ``state``
            if checkpointing is not None:
                checkpointing.store_last(summary)
            if index == last:
                last_state = state
            del state
        summaries.append(summary)
    return summaries, last_state


def _catch_up(job, series, circuits, chain: tuple[_Chain, int], *, model, names, references, comm, backend,
              trajectory: int, series_index: int) -> None:
    """Collective: run the segments of ``chain``'s evolution before ``chain[1]`` that its register has not been
    through again (same seeds, so the same register; no checkpoints, results dropped)."""
    evolution, k = chain
    for j in range(evolution.done if evolution.state is not None else 0, k):
        _summary, state = _run_once(job, circuits[j], series[series_index][2],
                                    seed=run_seed(job.run.seed, series_index, j, trajectory), shots=0, model=model,
                                    names=names, references=references, comm=comm, backend=backend,
                                    checkpointing=None, chain=(evolution, j))
        del state


def _run_to_cut(job, series, circuits, resume) -> int | None:
    """The run that a stop after runs shared out over the ranks runs again to checkpoint (:func:`_stop_by_a_run_again`).

    The first of the evolution whose final state the output keeps (:func:`_run_list`'s ``last``;
    ``"independent"``: that run itself, ``"continued"``: its evolution's first segment), whose resume runs no
    other run but those a resume runs again for the kept state anyway (:func:`_resumed_runs`). It must come
    after a resumed checkpoint's run (:meth:`~dqsim.engine.checkpoint.CheckpointSession.run_again`), and
    ``"continued"`` start an evolution (a fresh register: no segment before it to run again); else the one
    of fewest gates that does. ``None`` when no run does.
    """
    runs, last, _shots_run = _run_list(job, series, circuits)
    continued = job.evolution.mode == "continued"
    first = last - runs[last][1] if continued else last
    after = resume.engine_run if resume is not None else -1
    eligible = [i for i in range(after + 1, len(runs)) if not continued or runs[i][1] == 0]
    return min(eligible, key=lambda i: (i != first, len(circuits[runs[i][1]].gates()), i), default=None)


def _stop_by_a_run_again(job, series, circuits, *, model, names, bits, comm, backend,
                         checkpointing) -> Callable[[], None] | None:
    """The stop point of the work after runs shared out over the ranks (collective), for
    :attr:`~dqsim.engine.checkpoint.CheckpointSession.finished_run`; ``None`` when no run can be cut.

    Each of those runs ran on one rank alone: none left an engine run of every rank to checkpoint. On a stop
    signal that any rank got, one run (:func:`_run_to_cut`) runs again on every rank with checkpoints, and the
    stop makes its engine checkpoint at its first cut (or, at the latest, after its last step): exit status 75,
    the checkpoint holding the results of every other run. The resume continues that run from it and takes the
    others from the checkpoint: the uninterrupted run's tables. The stop waits for the run's setup (its
    register, the circuit's plan) and its first engine window.
    """
    index = _run_to_cut(job, series, circuits, checkpointing.resume)
    if index is None:
        return None
    runs, _last, shots_run = _run_list(job, series, circuits)
    s, k, t = runs[index]

    def stop_point() -> None:
        if not checkpoint.stop_agreed(comm):
            return
        checkpointing.run_again(index)
        _run_once(job, circuits[k], series[s][2], seed=run_seed(job.run.seed, s, k, t),
                  shots=job.simulation.shots if index == shots_run else 0, model=model, names=names,
                  references=_References(bits, backend=backend, precision=job.run.precision), comm=comm,
                  backend=backend, checkpointing=checkpointing,
                  chain=(_Chain(circuits), k) if job.evolution.mode == "continued" else None)
        # (not reached: the stop, still asked for, checkpoints the run in run_dqc and raises CheckpointStop)

    return stop_point


def _resumed_runs(job, series, circuits, checkpointing) -> tuple[dict[int, RunSummary], frozenset]:
    """On a resume, the runs the checkpoint holds as finished ``{run index: summary}``, and the indices not to
    share out (those and the run the checkpoint cut, which continues from it on every rank); else ``({}, {})``.

    A checkpoint written while the runs were shared out holds every run
    finished on any rank, also those after the run it cut (rank 0 runs its
    longest first), so all of them are taken, not only those before it. The
    run whose final state the job keeps is taken only from before the cut and
    only when the output does not keep that state (``save_state``); else it is
    run again (same seed, same result) for its state: a checkpoint holds
    summaries, not the states of finished runs (before 2026-12-05 a resume
    from after that run, a sweep's, wrote no state).
    """
    resume = checkpointing.resume if checkpointing is not None else None
    if resume is None:
        return {}, frozenset()
    _runs, last, _shots_run = _run_list(job, series, circuits)
    stored = {index: summary for index, summary in resume.results.items()
              if index != resume.engine_run
              and (index != last or (index < resume.engine_run and not job.simulation.save_state))}
    return stored, frozenset(stored) | {resume.engine_run}


def _label(series_item: tuple) -> str:
    parameter, value, _network = series_item
    return "network" if parameter is None else f"{parameter} = {value:g}"


def _shared_runs(job, series, circuits, *, model, names, bits, comm, backend, stop_checks: bool, progress,
                 carry=None, skip: frozenset = frozenset()) -> tuple[dict[int, RunSummary], ShardedState | None, list]:
    """Collective: the runs shared out over the ranks, each by one rank alone.

    Each run (``"continued"``: each evolution, its runs in turn) goes to one
    rank (:func:`dqsim.comm.balance_items` on its circuits' gate count) and
    runs there as a one-process simulation of the whole network (a
    :class:`~dqsim.comm.SingleComm` and the network on one rank): the
    arithmetic of a one-rank job, so its summary is bit-identical to one.
    The summaries, the final state's amplitudes and every rank's
    ``carry`` (its other results) are gathered in one collective at the end,
    the only one: a rank waiting in a collective spins (MPICH) and takes CPU
    from the others on a busy machine, and a rank that was descheduled for a
    while catches up over the whole job instead of holding the others at
    each step. With ``stop_checks`` a rank that a signal asked to stop
    (:func:`dqsim.engine.checkpoint.stop_requested`) stops after its current
    run (``"continued"``: evolution); the caller runs what is left on every rank, where the engine writes
    the checkpoint the signal asked for. The runs of ``skip`` (indices in
    :func:`_run_list` order: on a resume, those the checkpoint holds and the
    one it cut; ``"continued"``: with every other run of their evolutions)
    are left to the caller. A user error in a run (a
    :class:`~dqsim.errors.DqsimError`: the engine's clock limit, say) is held
    until that collective, the rank running none of its runs of a greater
    index meanwhile, and every rank raises there the one of least run index
    (:func:`dqsim.comm.allgather_agreed`): the line a one-rank job, which
    runs them in that order, gives, exit status 2 on every rank.

    Returns:
        ``{run index: summary}`` of the runs finished on any rank, the final
        state (``None`` if its run did not finish), and every rank's ``carry``
        in rank order.
    """
    runs, last, shots_run = _run_list(job, series, circuits)
    references = _References(bits, backend=backend, precision=job.run.precision)
    cost = [len(circuits[k].gates()) + 1 for _s, k, _t in runs]
    # what one rank runs in one go: a run, or (continued) a whole evolution, none of whose runs is left to the caller
    evolutions = (list(range(start, start + len(circuits))) for start in range(0, len(runs), len(circuits)))
    units = ([[i] for i in range(len(runs)) if i not in skip] if job.evolution.mode == "independent" else
             [unit for unit in evolutions if not skip.intersection(unit)])
    owner = comm_mod.balance_items([sum(cost[i] for i in unit) for unit in units], comm.size)
    mine = sorted((unit for unit, rank in zip(units, owner) if rank == comm.rank),
                  key=lambda unit: (-sum(cost[i] for i in unit), unit[0]))
    num_mine = sum(map(len, mine))
    one_rank = [network.on_ranks(1) for _parameter, _value, network in series]  # every node on one rank
    found, amplitudes = {}, None
    what = f"{count_of(len(runs), 'networked run')} shared over {count_of(comm.size, 'rank')}"

    def on_fraction(fraction: float, count: int) -> None:  # rank 0's share stands for every rank's
        done = len(runs) * (count - 1 + fraction) / num_mine
        if not float(done).is_integer():  # whole counts only when a run is done
            progress(done, what)

    count = 0
    failed, failed_index = None, len(runs)  # this rank's user error of least run index, held for the gather
    for unit in mine:
        if stop_checks and checkpoint.stop_requested():
            break
        if unit[0] > failed_index:  # a run after one that failed: a one-rank job never gets to it
            continue
        chain = _Chain(circuits) if job.evolution.mode == "continued" else None
        for index in unit:
            count += 1
            s, k, t = runs[index]
            try:
                found[index], state = _run_once(job, circuits[k], one_rank[s], seed=run_seed(job.run.seed, s, k, t),
                                                shots=job.simulation.shots if index == shots_run else 0, model=model,
                                                names=names, references=references, comm=comm_mod.SingleComm(),
                                                backend=backend, checkpointing=None,
                                                on_fraction=lambda fraction, count=count: on_fraction(fraction, count),
                                                chain=None if chain is None else (chain, k))
            except DqsimError as error:  # raised on this rank alone: every rank raises it after the gather
                failed, failed_index = error, index
                break
            if index == last:
                amplitudes = (state.num_qubits, state.gather())
            del state
            progress(len(runs) * count // num_mine, what)
    # a user error in some rank's runs (the clock limit, say) is raised on every rank here: the one of least run
    # index, which a one-rank job, running them in that order, meets first
    gathered = comm_mod.allgather_agreed(comm, (found, amplitudes, carry), failed, (failed_index,))
    found = {index: summary for part, _amplitudes, _carry in gathered for index, summary in part.items()}
    final = [amplitudes for _part, amplitudes, _carry in gathered if amplitudes is not None]
    last_state = None
    if final:
        num_qubits, vector = final[0]
        last_state = ShardedState(num_qubits, comm_mod.SingleComm(), precision=job.run.precision, backend=backend)
        last_state.set_state(vector)
    return found, last_state, [carried for _part, _amplitudes, carried in gathered]


def num_engine_runs(job) -> int:
    """Engine runs a run of ``job`` takes: per network series (the job's network, then each sweep value),
    time point and trajectory, one (:func:`_run_list`; those shared out over the ranks count too)."""
    sweep = job.simulation.sweep
    series = 1 + (len(sweep.values) if sweep is not None else 0)
    return series * len(job.evolution.times()) * job.simulation.trajectories


def run_job(job, *, comm, backend, on_progress: Callable[[float, float | None, str], None] | None = None,
            checkpointing=None) -> ScenarioOutput:
    """Run a ``trotter`` job and shape its output (collective); see the module docstring.

    With ``checkpointing`` (a :class:`dqsim.engine.checkpoint.CheckpointSession`)
    the networked runs write checkpoints, and a resumed job skips the runs
    that had finished (their observables are stored in the checkpoint).
    Runs shared out over the ranks (:func:`shares_runs`: not with periodic
    checkpoints; on a resume all but the run its checkpoint cut) write none; a stop signal ends each rank's share
    after its current run, and the first unfinished run, on all ranks, writes
    the checkpoint, holding the results of the runs finished before it.
    A stop signal after the last networked run (its observables, the tables,
    looked for between them, and the output write, :mod:`dqsim.cli.main`)
    checkpoints that finished run when it ran on every rank with checkpoints
    (exit status 75); when the runs were shared out over the ranks, none of
    which left an engine run of every rank, it runs one again on every rank
    with checkpoints, which checkpoints it (:func:`_stop_by_a_run_again`,
    exit status 75 too).
    """
    timing = {"network": 0.0, "monolithic": 0.0, "exact": 0.0}
    model = job.model.spin_model()
    initial = job.model.initial
    evolution = job.evolution
    names = [n for n in OBSERVABLE_ORDER if n in job.simulation.observables]
    times = evolution.times()
    steps = [k * evolution.steps_per_point for k in range(len(times))]
    assignment = job.site_assignment()
    precision = job.run.precision
    trajectories = job.simulation.trajectories
    sweep = job.simulation.sweep
    swept = [(None, None)] + ([(sweep.parameter, value) for value in sweep.values] if sweep is not None else [])
    bits = hamiltonians.initial_bits(model, initial)
    # One network per series, placement and every sweep value's links checked before any work; no networkx graph
    series = [(parameter, value, job_network(job.network, comm.size, source=job.source,
                                             link_parameter=None if parameter is None else (parameter, value)))
              for parameter, value in swept]
    for _parameter, _value, series_network in series:
        series_network.check_pairing_horizon(job.source)
    node_names = series[0][2].names  # (the job's own network's: no Python string per node of a generated topology)
    total_runs = len(series) * len(times) * trajectories

    def progress(done: float, what: str) -> None:
        if on_progress:
            on_progress(done, total_runs, what)

    continued = evolution.mode == "continued"
    teleported = teleported_bonds(job, model, series[0][2])
    cut = cut_bonds(model, assignment) if evolution.cut_blocks == "auto" else []  # "rotations": the morning's order
    circuits = evolution_circuits(model, evolution, initial, cut=cut, dense=teleported)
    teleported = run_teleported_bonds(circuits, teleported, assignment, series[0][2], job.distribution.scheme)

    # Shared out over the ranks (shares_runs): each rank's part of everything below, one collective at the end.
    sharing = shares_runs(model.num_sites, comm.size, checkpointing)

    # Noiseless Trotter evolution on a plain state of the sites.
    t0 = time.perf_counter()
    trotter = _trotter_observables(circuits, model, bits, names, comm=comm, backend=backend, precision=precision,
                                   gather=not sharing, continued=continued)
    timing["monolithic"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    exact = (_exact_observables(model, initial, times, names, comm, gather=not sharing, circuits=circuits,
                                continued=continued) if job.use_exact() else None)
    timing["exact"] = time.perf_counter() - t0

    # Networked runs: per series (the job's network, then each sweep value), point and trajectory.
    t0 = time.perf_counter()
    finished, last_state = {}, None
    stored, skip = _resumed_runs(job, series, circuits, checkpointing)
    if sharing:
        finished, last_state, carried = _shared_runs(job, series, circuits, model=model, names=names, bits=bits,
                                                     comm=comm, backend=backend, progress=progress,
                                                     stop_checks=checkpointing is not None, carry=(trotter, exact),
                                                     skip=skip)
        trotter = _gathered([part for part, _exact in carried], len(circuits))
        exact = carried[0][1]  # rank 0's
    summaries, last_state = _networked_runs(job, series, circuits, times, model=model, names=names, bits=bits,
                                            comm=comm, backend=backend, checkpointing=checkpointing,
                                            progress=progress, finished={**stored, **finished},
                                            last_state=last_state)
    if sharing and checkpointing is not None and checkpointing.finished_run is None:
        # no run ran on every rank last: a stop runs one again on every rank, which checkpoints it
        checkpointing.finished_run = _stop_by_a_run_again(job, series, circuits, model=model, names=names,
                                                          bits=bits, comm=comm, backend=backend,
                                                          checkpointing=checkpointing)
    # a stop signal from here on (the tables, then the output write, dqsim.cli.main) checkpoints the last
    # networked run that ran on every rank, when it was the job's last, or runs one again to checkpoint it
    # (CheckpointSession.finished_run)
    stop_point = checkpoint.stop_point_of(checkpointing)
    stop_point()
    networked: list[list[Observables]] = []
    networked_stderr: list[list[dict[str, float]]] = []  # per series and point: observable -> standard error
    network_rows: list[list[tuple]] = []
    final_counts: dict[str, int] = {}
    register_qubits = 0
    position = {run: index for index, run in enumerate(_run_list(job, series, circuits)[0])}
    for series_index in range(len(series)):
        per_point, rows, errors = [], [], []
        so_far = [(0, 0, 0)] * trajectories  # continued: pairs, time (ps), nonlocal gates up to the point
        num_gates = 0
        for k, circuit in enumerate(circuits):
            found, pairs, time_ps, fidelity, nonlocal_gates = [], [], [], [], 0
            num_gates = num_gates + len(circuit.gates()) if continued else len(circuit.gates())
            for trajectory in range(trajectories):
                observed, pair_count, end_ps, run_fidelity, nonlocal_gates, num_qubits, counts = \
                    summaries[position[(series_index, k, trajectory)]]
                if continued:  # cumulative from t = 0: this evolution's runs up to this point
                    pair_count, end_ps, nonlocal_gates = (a + b for a, b in zip(so_far[trajectory],
                                                                               (pair_count, end_ps, nonlocal_gates)))
                    so_far[trajectory] = (pair_count, end_ps, nonlocal_gates)
                if counts is not None:
                    final_counts = counts
                found.append(observed)
                pairs.append(pair_count)
                time_ps.append(end_ps)
                fidelity.append(run_fidelity)
                register_qubits = max(register_qubits, num_qubits)
            per_point.append(_mean(found))
            errors.append({name: standard_error([o.values[name] for o in found]) for name in names})
            rows.append((times[k], steps[k], num_gates, nonlocal_gates, float(np.mean(pairs)),
                         float(np.mean(time_ps)), float(np.mean(fidelity)), standard_error(fidelity)))
        networked.append(per_point)
        networked_stderr.append(errors)
        network_rows.append(rows)
    timing["network"] = time.perf_counter() - t0
    progress(total_runs, "done")
    stop_point()

    nan = float("nan")
    tables: dict[str, np.ndarray] = {}
    tables["observables"] = record_table(
        [(times[k], name, OBSERVABLE_UNITS[name], networked[0][k].values[name], networked_stderr[0][k][name],
          trotter[k].values[name], exact[k].values[name] if exact is not None else nan)
         for k in range(len(times)) for name in names],
        [("time", "f8"), ("observable", "U"), ("unit", "U"), ("networked", "f8"), ("networked_stderr", "f8"),
         ("trotter", "f8"), ("exact", "f8")])
    if networked[0][0].sites:
        tables["sites"] = record_table(
            [(times[k], site, networked[0][k].sites[site], trotter[k].sites[site],
              exact[k].sites[site] if exact is not None else nan)
             for k in range(len(times)) for site in range(model.num_sites)],
            [("time", "f8"), ("site", "i8"), ("networked", "f8"), ("trotter", "f8"), ("exact", "f8")])
    trotter_fidelity = [exact[k].trotter_fidelity if exact is not None else nan for k in range(len(times))]
    tables["network"] = record_table(
        [row + (trotter_fidelity[k],) for k, row in enumerate(network_rows[0])],
        [("time", "f8"), ("trotter_steps", "i8"), ("num_gates", "i8"), ("nonlocal_gates", "i8"),
         ("epr_pairs", "f8"), ("simulated_time_ps", "f8"), ("fidelity_to_trotter", "f8"),
         ("fidelity_to_trotter_stderr", "f8"), ("trotter_fidelity_to_exact", "f8")])
    spin_time = {"time": TIME_UNIT}  # the network tables' other columns' units are in their names
    per_row = {"networked": PER_ROW_UNIT, "networked_stderr": PER_ROW_UNIT, "trotter": PER_ROW_UNIT}
    table_attrs = {"network": {"units": spin_time},
                   "observables": {"units": {**spin_time, **per_row, "exact": PER_ROW_UNIT}}}
    if sweep is not None:
        tables["sweep"] = record_table(
            [(sweep.parameter, value, times[k], name, OBSERVABLE_UNITS[name], networked[i + 1][k].values[name],
              networked_stderr[i + 1][k][name], trotter[k].values[name])
             for i, value in enumerate(sweep.values) for k in range(len(times)) for name in names],
            [("parameter", "U"), ("value", "f8"), ("time", "f8"), ("observable", "U"), ("unit", "U"),
             ("networked", "f8"), ("networked_stderr", "f8"), ("trotter", "f8")])
        tables["sweep_network"] = record_table(
            [(sweep.parameter, value, row[0], row[4], row[5], row[6], row[7])
             for i, value in enumerate(sweep.values) for row in network_rows[i + 1]],
            [("parameter", "U"), ("value", "f8"), ("time", "f8"), ("epr_pairs", "f8"),
             ("simulated_time_ps", "f8"), ("fidelity_to_trotter", "f8"), ("fidelity_to_trotter_stderr", "f8")])
        table_attrs["sweep"] = {"units": {**spin_time, **per_row}}
        table_attrs["sweep_network"] = {"units": spin_time}
    if final_counts:
        tables["counts"] = counts_table(final_counts)
    add_node_names(tables, node_names, comm.rank)  # (made a piece at a time by the rank that writes)
    stop_point()
    tables["timing"] = record_table(list(timing.items()), [("stage", "U"), ("seconds", "f8")])

    main_rows = network_rows[0]
    if continued:  # the last point's cumulative values
        total_pairs, total_time_ps = float(main_rows[-1][4]), float(main_rows[-1][5])
    else:
        total_pairs = float(sum(row[4] for row in main_rows))
        total_time_ps = float(sum(row[5] for row in main_rows))
    attrs = {
        "model_kind": model.kind,
        "model": model.describe(),
        "num_sites": model.num_sites,
        "boundary": model.boundary,
        "J": float(model.J),
        "h": float(model.h),
        "delta": float(model.delta),
        "initial_state": initial,
        "total_time": float(evolution.total_time),
        "num_points": evolution.num_points,
        "steps_per_point": evolution.steps_per_point,
        "trotter_order": evolution.order,
        "exact": exact is not None,
        "observables": list(names),
        "trajectories": trajectories,
        "distribution_scheme": job.distribution.scheme,
        **entanglement_attributes(job.distribution),
        "num_nodes": len(node_names),
        "site_assignment": np.array(assignment, dtype=np.int64),
        "register_qubits": register_qubits,
        "total_epr_pairs": total_pairs,
        "total_simulated_time_ps": total_time_ps,
        "final_fidelity_to_trotter": main_rows[-1][6],
        "final_fidelity_to_trotter_stderr": main_rows[-1][7],
        "final_nonlocal_gates": main_rows[-1][3],
        "final_trotter_fidelity_to_exact": trotter_fidelity[-1],
    }
    if continued:  # (absent in the default mode, whose output is as it was before the mode existed)
        attrs["evolution_mode"] = evolution.mode
    if evolution.grouping != "pauli":  # (absent for the default grouping, whose output is unchanged)
        attrs["trotter_grouping"] = evolution.grouping
        attrs["trotter_teleported_bonds"] = len(teleported)
    if sweep is not None:
        attrs["sweep_parameter"] = sweep.parameter
        attrs["sweep_values"] = np.array(sweep.values, dtype=np.float64)

    summary = _summary(model, job, names, times, networked, trotter, exact, main_rows, total_pairs, total_time_ps,
                       sweep, network_rows, noisy=any(is_noisy(network) for _p, _v, network in series),
                       teleported=len(teleported), teleported_pairs=teleported_block_pairs(teleported, assignment,
                                                                                            series[0][2]))
    stop_point()
    return ScenarioOutput(attrs, tables, table_attrs, last_state, summary)


def _summary(model, job, names, times, networked, trotter, exact, main_rows, total_pairs, total_time_ps, sweep,
             network_rows, *, noisy: bool, teleported: int = 0, teleported_pairs: int = 0) -> list[str]:
    evolution = job.evolution
    last = len(times) - 1
    teleported_note = (f"; {count_of(teleported, 'cut bond')}' blocks teleported, {teleported_pairs} pairs for one "
                       "of each, 2 a hop of the route" if teleported else "")
    lines = [
        f"  {model.describe()}, initial {job.model.initial}",
        f"  {count_of(len(times) - 1, 'point')} to T = {evolution.total_time:g}, "
        f"{count_of(evolution.steps_per_point, 'step')} per point, "
        f"order {evolution.order}" + (", one XX+YY+ΔZZ block per bond (grouping bond"
                                      + teleported_note + ")"
                                      if evolution.grouping == "bond" else "")
        + f"; sites on {count_of(job.network.resolved_num_nodes(), 'QPU')} "
        f"({job.distribution.scheme}), {count_of(main_rows[-1][3], 'nonlocal gate')} "
        + ("per trajectory in all (one evolution through every point: continued mode)"
           if evolution.mode == "continued" else "at the last point"),
        f"  {total_pairs:.0f} EPR pairs, {total_time_ps / PS_PER_US:.3f} µs simulated network time in all; "
        f"fidelity to the Trotter state at T: {main_rows[-1][6]:.6f}"
        + (f" ± {main_rows[-1][7]:.6f} ({job.simulation.trajectories} trajectories)"
           if job.simulation.trajectories > 1 else ""),
    ]
    if exact is not None:
        lines.append(f"  Trotter state's fidelity to the exact state at T: {exact[last].trotter_fidelity:.8f} "
                     f"(1 − F = {1 - exact[last].trotter_fidelity:.2e}: the product formula's own error)")
    if job.simulation.trajectories == 1 and noisy:
        lines.append("  note: one trajectory of a noisy network: each networked value is a single sample of the "
                     "noise, not its mean; set [simulation].trajectories for the mean and its standard error")
    for name in names:
        text = (f"  {name} at T: networked {networked[0][last].values[name]:+.6f}, "
                f"trotter {trotter[last].values[name]:+.6f}")
        if exact is not None:
            text += (f", exact {exact[last].values[name]:+.6f} "
                     f"(max |trotter − exact| {max(abs(trotter[k].values[name] - exact[k].values[name]) for k in range(len(times))):.2e})")
        lines.append(text)
    if sweep is not None:
        fidelities = ", ".join(f"{value:g}: {rows[-1][6]:.4f}" for value, rows in zip(sweep.values, network_rows[1:]))
        lines.append(f"  sweep of {sweep.parameter} → fidelity to the Trotter state at T: {fidelities}")
    return lines
