"""The ``repeater`` scenario: end-to-end entanglement over repeater chains.

For every configuration of the job's sweep (number of links × total
distance; each link is ``total_distance_km / num_links`` long) the chain of
:mod:`dqsim.protocols.repeater` runs on the event engine until it has
delivered ``num_pairs`` end-to-end pairs. The nodes are placed on ranks as
for ``dqc`` (:func:`dqsim.network.network.place_on_ranks`). There is no
data register: the chain's ``2·num_links`` memories (twice that with
purification; column ``memory_qubits``, attribute ``max_memory_qubits``)
are network qubits in small states.

What is reported and compared, per configuration:

* *delivered rate* ``rate_hz``: raw end-to-end pairs per second of
  simulated time, whatever their fidelity: ``num_pairs / time of the last
  delivery`` (rounds run one after another from time 0, so this is one over
  the mean round time);
* *hashing yield*: ebits per delivered pair that the hashing protocol
  distils, ``1 − H(p̄)`` of the Bell-diagonal state whose weights ``p̄`` are
  the mean of the delivered pairs' exact Bell weights (Bennett, DiVincenzo,
  Smolin and Wootters, Phys. Rev. A 54, 3824 (1996);
  :func:`dqsim.network.werner.bell_diagonal_hashing_yield`): a lower bound
  on the distillable entanglement, since forgetting which pair is which and
  twirling are local operations. ``ebit_rate_hz`` = rate × yield;
* *secret-key fraction*: secret bits per delivered pair from
  entanglement-based BB84 on them, ``1 − h(e_Z) − h(e_X)`` with the error
  rates of those weights (Shor and Preskill 2000;
  :func:`dqsim.network.werner.bell_diagonal_key_fraction`).
  ``key_rate_hz`` = rate × fraction;
* *direct transmission*: one photon sent straight over the whole distance
  per channel use succeeds with the whole distance's transmittance η
  (fibre, coupling loss, detector efficiency of ``[chain.link]``), i.e.
  ``η × reference rate`` raw pairs per second;
* *PLOB bound*: ``−log2(1 − η_f)`` ebits (or secret bits) per channel use
  (Pirandola et al., Nat. Commun. 8, 15043 (2017)) ``× reference rate``,
  with ``η_f`` the transmittance of the fibre alone over the whole distance
  (``fibre_transmittance``), as the ``qkd`` scenario reports it: the bound
  is on the channel, so the detectors' efficiency and the coupling loss,
  which a repeaterless link could improve, do not lower it. No protocol
  without repeaters beats it. It bounds ``ebit_rate_hz`` and
  ``key_rate_hz``, not the raw rate of pairs of any fidelity.
  ``plob_with_detectors_rate_hz`` is the same bound at the full ``η``
  (coupling and detector efficiency included), the weaker comparison.

The *reference rate* (channel uses per second) is one value for every
configuration of the job: ``[chain].reference_rate_hz`` when given, else the
source rate of ``[chain.link]`` (``source_rate_hz`` or
``1/source_period_ps``; ``[chain.link]`` is the same for every
configuration), else :data:`DEFAULT_REFERENCE_RATE_HZ`. Its value and origin
are stored in the output (``reference_rate_hz``, ``reference_rate_from``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from itertools import groupby
from operator import attrgetter

import numpy as np

from dqsim.engine import RunStatistics, Simulator
from dqsim.engine import checkpoint
from dqsim.engine.process import ResumableProcess
from dqsim.network.fibre import fibre_transmittance
from dqsim.network.link import LinkSpec
from dqsim.network.werner import bell_diagonal_hashing_yield, bell_diagonal_key_fraction, plob_bound
from dqsim.protocols.repeater import Alarm, ChainNode, ChainRecords, ChainSpec, LinkSide, setup_node_data
from dqsim.scenarios.output import ScenarioOutput, format_stderr, record_table, standard_error
from dqsim.units import PS_PER_S, ps_to_seconds, seconds_to_ps

#: Channel uses per second of direct transmission when the job gives neither
#: ``[chain].reference_rate_hz`` nor a source rate: the order of today's
#: GHz-clocked QKD transmitters (Boaron et al., Phys. Rev. Lett. 121, 190502
#: (2018): 2.5 GHz).
DEFAULT_REFERENCE_RATE_HZ = 1.0e9


class LinkSideProcess(LinkSide, ResumableProcess):
    """:class:`~dqsim.protocols.repeater.LinkSide` as a resumable engine process."""


class AlarmProcess(Alarm, ResumableProcess):
    """:class:`~dqsim.protocols.repeater.Alarm` as a resumable engine process."""


class ChainNodeProcess(ChainNode, ResumableProcess):
    """:class:`~dqsim.protocols.repeater.ChainNode` as a resumable engine process (its children too).

    A checkpoint saves each node's processes as their protocol state, with no
    step log, and a resumed run re-executes none of their steps
    (:mod:`dqsim.engine.process`).
    """

    link_side = LinkSideProcess
    alarm = AlarmProcess


@dataclass(frozen=True)
class PairResult:
    """One delivered end-to-end pair.

    Attributes:
        pair_index: the round.
        round_start_ps: when the round started (every node), ps.
        delivery_ps: when B held the corrected pair, ps.
        fidelity: fidelity to |Φ+⟩ of the end qubits then (exact).
        restarts: chain attempts abandoned at the cut-off before this one.
        links_created_ps: latest emission time of the links' pairs in the
            delivering attempt, ps.
        link_attempts_max: most attempts any link spent in the delivering attempt (with the ``"link"`` pumping
            cut-off, its makings before a kept pair was cut while pumped included).
        link_attempts_total: attempts of all links in the round (abandoned attempts included).
        bell_weights: the pair's Bell weights ``(Φ+, Φ−, Ψ+, Ψ−)`` then (the first is ``fidelity``).
        memory_time_ps: the time the delivered pair's qubits spent in memories, summed over them, ps
            (:func:`memory_time_ps`); -1 where it is not known (a run resumed from a checkpoint written before
            swaps were recorded).
    """

    pair_index: int
    round_start_ps: int
    delivery_ps: int
    fidelity: float
    restarts: int
    links_created_ps: int
    link_attempts_max: int
    link_attempts_total: int
    bell_weights: tuple[float, float, float, float]
    memory_time_ps: int = -1


@dataclass
class ChainRun:
    """What one chain run produced (identical on every rank).

    Attributes:
        chain: the chain that ran.
        pairs: :class:`PairResult` per pair, in order.
        records: every rank's :class:`~dqsim.protocols.repeater.ChainRecords` merged.
        engine: :class:`~dqsim.engine.RunStatistics`.
        rank_of_node: rank of every node (the network's read-only placement array, not a copy).
    """

    chain: ChainSpec
    pairs: list[PairResult]
    records: ChainRecords
    engine: RunStatistics
    rank_of_node: np.ndarray

    @property
    def end_time_ps(self) -> int:
        """Time of the last delivery, ps."""
        return max(p.delivery_ps for p in self.pairs)

    @property
    def rate_hz(self) -> float:
        """Delivered pairs per second of simulated time."""
        return len(self.pairs) / ps_to_seconds(self.end_time_ps) if self.end_time_ps else math.inf

    @property
    def fidelities(self) -> np.ndarray:
        """Fidelity of every pair, in order."""
        return np.array([p.fidelity for p in self.pairs], dtype=np.float64)

    @property
    def mean_bell_weights(self) -> np.ndarray:
        """Mean Bell weights ``(Φ+, Φ−, Ψ+, Ψ−)`` over the pairs (those of their mixture), renormalised."""
        weights = np.clip(np.mean([p.bell_weights for p in self.pairs], axis=0), 0.0, 1.0)
        return weights / weights.sum()


#: A link record's attempts and creation time (C-level reads, mapped over a chain attempt's records in run_chain).
_ATTEMPTS, _CREATED_PS = attrgetter("attempts"), attrgetter("created_ps")


#: What the ``pairs`` table's ``memory_time_ps`` is (the table's attribute of that name; :func:`memory_time_ps`).
MEMORY_TIME_MEANING = (
    "the storage time of the memories that held the delivered pair's qubits, summed, ps: for each link of the "
    "delivering chain attempt its two memories from the emission of the link's kept pair until their node's swap "
    "(the end nodes: until the delivery); with purification the kept pair is the one that survived every pumping "
    "round (a failed round starts over from a new kept pair), counted from its own emission, so the time it "
    "waited for the spare pairs and the pumping is in, and the spare (sacrificed) pairs' own storage is not; "
    "F = (1 + exp(-t/T2))/2 at t = memory_time_ps for perfect pairs with T1 = inf, no gate or measurement errors "
    "and no purification only; -1 where not known")


def memory_time_ps(links: list, swap_ps: dict[int, int], delivery_ps: int, num_links: int) -> int:
    """The summed storage time of the memories that held a delivered pair, ps: for every link ``i`` (between
    nodes ``i`` and ``i + 1``) of the delivering chain attempt, each of its two memories from the emission of
    the link's kept pair (``created_ps``) until its node's Bell measurement (``swap_ps[node]``), or for the
    end nodes 0 and ``num_links`` until the delivery; -1 where a link record or a swap is missing.

    Each memory dephases as ``e^(-t/T2)`` (:func:`dqsim.network.werner.decohered_fidelity`) and swapping
    with a Pauli-frame correction passes every memory's phase error on to the end pair (an odd number of them
    flips it), so pairs created perfect, with ``T1 = ∞``, no gate or measurement errors and no purification,
    are delivered with ``F = (1 + e^(-t/T2))/2`` at ``t = memory_time_ps`` (``tests/test_repeater_memory_time.py``).
    With purification ``created_ps`` is the emission of the pair that survived every pumping round (a failed
    round starts the link over from a new kept pair), so the sum holds the time the kept pair waited for its spare
    pairs and the pumping, but not the spare (sacrificed) pairs' own storage: their dephasing enters the kept pair
    through the pumping, and the formula above does not hold then (:data:`MEMORY_TIME_MEANING`, the table's
    attribute).

    Examples:
        >>> from dqsim.protocols.repeater import LinkRecord
        >>> links = [LinkRecord(0, 0, 0, 1, 1, 100, 150, 0, 0), LinkRecord(0, 0, 1, 3, 1, 300, 350, 0, 0)]
        >>> memory_time_ps(links, {1: 400}, 500, 2)  # link 0: 300 + 400, link 1: 100 + 200
        1000
    """
    if len(links) != num_links:
        return -1
    total = 0
    for link in links:
        ends = []
        for node in (link.link_index, link.link_index + 1):
            end = delivery_ps if node in (0, num_links) else swap_ps.get(node)
            if end is None:
                return -1
            ends.append(end - link.created_ps)
        total += sum(ends)
    return total


def run_chain(chain: ChainSpec, *, comm, backend=None, seed: int = 0, placement: list[int] | None = None,
              timeline: bool = False, checkpointing=None, on_window=None, every_attempt: bool = False) -> ChainRun:
    """Run a repeater chain until it delivered ``chain.num_pairs`` pairs (collective).

    Every memory is a network qubit in a small exact density matrix
    (:mod:`dqsim.state.small`, complex128); there is no data register, so the
    chain's length is limited by time, not by memory.

    Args:
        chain: the chain (:class:`~dqsim.protocols.repeater.ChainSpec`).
        comm: communicator; backend: array backend processes see (``None``: NumPy).
        seed: the run's seed (see :mod:`dqsim.rng`).
        placement: rank of every node (default contiguous blocks).
        timeline: keep the engine's timeline (on each rank, not gathered).
        checkpointing: a :class:`dqsim.engine.checkpoint.CheckpointSession`
            (write checkpoints, or resume one), or ``None``.
        on_window: called on rank 0 after each of the engine's exchanges,
            ``on_window(time_ps, num_windows, fraction, abandoned)``; ``fraction`` is the
            pairs delivered so far over ``chain.num_pairs`` (0..1), ``abandoned`` the chain
            attempts abandoned at the cut-off so far as node A has heard of them (every
            abort reaches it, a light time after the cut), ``None`` where A is not on rank 0.
        every_attempt: keep the records of chain attempts abandoned at the cut-off in ``records`` (its
            ``links`` and ``restarts``; :class:`~dqsim.protocols.repeater.ChainRecords`). Off, they are
            folded into per-round sums as they are abandoned, and the run's memory does not grow with them.

    Returns:
        A :class:`ChainRun`, the same on every rank.

    Raises:
        ResourceError: a placement that does not give every node a rank.
        DqsimError: a pair abandoned more than ``chain.max_restarts`` times.
        ClockLimitError: the pairs would pass the engine's clock limit, 2**61 ps (cut-off restarts or
            purification failures can take a run past it after the job check of its mean time,
            :class:`dqsim.jobs.repeater.ChainSection`); one line naming ``[chain].num_pairs``.
    """
    num_nodes = chain.num_nodes
    network = chain.network(comm.size, placement)
    rank_of_node = network.placement
    last = num_nodes - 1

    def work_done() -> tuple[int, int]:  # B records every delivery: the engine sums (done, total) over the ranks
        if rank_of_node[last] != comm.rank:
            return 0, 0
        return len(sim.node_data(last)["records"].deliveries), chain.num_pairs

    # Every memory is a network qubit in a small state: no data register at all (DESIGN.md invariant 2).
    def on_exchange(time_ps: int, windows: int, fraction: float | None) -> None:  # rank 0: A's count of aborts
        abandoned = sim.node_data(0)["chain_run"].abandoned if rank_of_node[0] == comm.rank else None
        on_window(time_ps, windows, fraction, abandoned)

    sim = Simulator(network, comm=comm, state=None, qubit_owner=chain.qubit_owner(), num_data_qubits=0, seed=seed,
                    record_timeline=timeline, checkpointer=checkpoint.engine_checkpointer(checkpointing, comm),
                    on_window=on_exchange if on_window is not None else None, work_done=work_done,
                    clock_advice=f"lower [chain].num_pairs (here {chain.num_pairs}), shorten the links or lengthen "
                                 "the cut-off")
    sim.share(chain)
    local = np.flatnonzero(rank_of_node == comm.rank).tolist()
    for node in local:  # (spawn ignores the other ranks' nodes; their data would never be read)
        setup_node_data(sim.node_data(node), every_attempt)
        sim.spawn(node, ChainNodeProcess(chain))
    own: list[ChainRecords] = []

    def at_end() -> tuple:
        # the records and the probes of all ranks travel in the engine's end-of-run collective (no collective
        # of their own, nor gather_probes); records as plain tuples (ChainRecords.packed), this rank's stay here
        own[:] = [ChainRecords.merged([sim.node_data(i)["records"] for i in local])]
        return own[0].packed() if comm.size > 1 else None, sim.memory.probes

    sim.gather_at_end(at_end)
    engine = sim.run()
    parts = sim.gathered_at_end
    merged = ChainRecords.merged([own[0] if rank == comm.rank else ChainRecords.unpacked(part[0])
                                  for rank, part in enumerate(parts)])
    probes = Simulator.merged_probes(part[1] for part in parts)
    by_attempt: dict[tuple[int, int], list] = {}
    attempts_in_round: dict[int, int] = {}
    # merged.links is sorted by (pair_index, attempt, link_index): one group per chain attempt
    for (pair_index, attempt), group in groupby(merged.links, key=attrgetter("pair_index", "attempt")):
        links = by_attempt[(pair_index, attempt)] = list(group)
        attempts_in_round[pair_index] = attempts_in_round.get(pair_index, 0) + sum(map(_ATTEMPTS, links))
    for pair_index, attempts in merged.abandoned_link_attempts.items():  # (abandoned attempts' records, folded)
        attempts_in_round[pair_index] = attempts_in_round.get(pair_index, 0) + attempts
    swaps: dict[tuple[int, int], dict[int, int]] = {}
    for pair_index, attempt, node, time_ps in merged.swaps:
        swaps.setdefault((pair_index, attempt), {})[node] = time_ps
    pairs = []
    for delivery in merged.deliveries:
        links = by_attempt.get((delivery.pair_index, delivery.attempt), [])
        swap_ps = swaps.get((delivery.pair_index, delivery.attempt), {})
        pairs.append(PairResult(
            delivery.pair_index, delivery.round_start_ps, delivery.delivery_ps,
            probes[delivery.pair_index][0], delivery.attempt,
            max(map(_CREATED_PS, links), default=delivery.round_start_ps),
            max(map(_ATTEMPTS, links), default=0), attempts_in_round.get(delivery.pair_index, 0),
            tuple(probes[delivery.pair_index]),
            memory_time_ps(links, swap_ps, delivery.delivery_ps, chain.num_links)))
    if checkpointing is not None:  # the scenario's tables and the output write stop through it
        checkpointing.finished_run = sim.stop_point
    return ChainRun(chain, pairs, merged, engine, rank_of_node)


# ------------------------------------------------------------------- outputs
def reference_rate(section) -> tuple[float, str]:
    """Channel uses per second for the comparisons of a ``[chain]`` section, and where it comes from.

    One value for every configuration (module docstring): ``reference_rate_hz``
    of the section, else the source rate of ``[chain.link]``, else
    :data:`DEFAULT_REFERENCE_RATE_HZ`.
    """
    if section.reference_rate_hz is not None:
        return float(section.reference_rate_hz), "[chain].reference_rate_hz"
    source_period_ps = section.link_spec(1, 1.0).effective_source_period_ps
    if source_period_ps > 0:
        return PS_PER_S / source_period_ps, "source rate of [chain.link]"
    return DEFAULT_REFERENCE_RATE_HZ, "default (no source rate in [chain.link])"


def comparison(link: LinkSpec, total_distance_km: float, reference_rate_hz: float) -> dict[str, float]:
    """Direct transmission and the PLOB bound over ``total_distance_km`` with ``link``'s hardware.

    Args:
        link: the hardware (its length is replaced by ``total_distance_km``).
        total_distance_km: distance A–B, km.
        reference_rate_hz: channel uses per second (:func:`reference_rate`).

    Returns:
        ``transmittance`` (η over the whole distance: fibre, coupling, detector),
        ``direct_rate_hz`` (η × reference), ``fibre_transmittance`` (η_f, the
        fibre alone), ``plob_ebits_per_use`` (−log2(1−η_f), Pirandola et al.
        2017), ``plob_rate_hz`` (that × reference) and
        ``plob_with_detectors_rate_hz`` (−log2(1−η) × reference).
    """
    eta = dataclasses.replace(link, distance_km=float(total_distance_km)).transmittance
    eta_fibre = fibre_transmittance(float(total_distance_km), link.attenuation_db_per_km)
    plob = plob_bound(eta_fibre)
    return {"transmittance": eta, "direct_rate_hz": eta * reference_rate_hz, "fibre_transmittance": eta_fibre,
            "plob_ebits_per_use": plob, "plob_rate_hz": plob * reference_rate_hz,
            "plob_with_detectors_rate_hz": plob_bound(eta) * reference_rate_hz}


PAIR_FIELDS = [("config", "i8"), ("num_links", "i8"), ("total_distance_km", "f8"), ("pair_index", "i8"),
               ("delivery_time_ps", "i8"), ("round_start_ps", "i8"), ("waiting_time_ps", "i8"),
               ("fidelity", "f8"), ("restarts", "i8"), ("link_attempts_max", "i8"),
               ("link_attempts_total", "i8"), ("bell_phi_minus", "f8"), ("bell_psi_plus", "f8"),
               ("bell_psi_minus", "f8"), ("memory_time_ps", "i8")]

SUMMARY_FIELDS = [("config", "i8"), ("num_links", "i8"), ("total_distance_km", "f8"), ("link_distance_km", "f8"),
                  ("num_pairs", "i8"), ("simulated_time_ps", "i8"), ("rate_hz", "f8"), ("fidelity_mean", "f8"),
                  ("fidelity_stderr", "f8"), ("mean_waiting_time_s", "f8"), ("restarts", "i8"),
                  ("link_success_probability", "f8"), ("attempt_period_ps", "i8"), ("transmittance", "f8"),
                  ("fibre_transmittance", "f8"), ("plob_with_detectors_rate_hz", "f8"),
                  ("reference_rate_hz", "f8"), ("direct_rate_hz", "f8"), ("plob_ebits_per_use", "f8"),
                  ("plob_rate_hz", "f8"), ("hashing_yield", "f8"), ("ebit_rate_hz", "f8"),
                  ("key_fraction", "f8"), ("key_rate_hz", "f8"), ("memory_qubits", "i8")]


def chain_spec(job, num_links: int, total_distance_km: float) -> ChainSpec:
    """The :class:`~dqsim.protocols.repeater.ChainSpec` of one configuration of a ``repeater`` job."""
    c = job.chain
    link = c.link_spec(num_links, total_distance_km)
    return ChainSpec(links=[link] * num_links, node=c.node_spec(), swapping=c.swapping,
                     purification_rounds=c.purification_rounds, purification=c.purification,
                     cutoff_ps=seconds_to_ps(c.cutoff_s) if c.cutoff_s is not None else None,
                     cutoff_policy=c.cutoff_policy, pumping_cutoff=c.pumping_cutoff, num_pairs=c.num_pairs,
                     max_restarts=c.max_restarts)


def _fidelity_spread(fidelities: np.ndarray, stderr: float) -> str:
    """What follows ``F = mean`` in a summary line: ``± standard error``, or, when every pair (more than one)
    has the same fidelity to rounding (within 1e-12: a purified pair's twirl leaves differences of ~1e-16),
    that it is exact (a ``± 0.0000`` would read as a rounding artefact)."""
    if len(fidelities) > 1 and (stderr == 0.0 or np.ptp(fidelities) <= 1e-12):
        return "(exact: every pair has the same fidelity)"
    return f"± {format_stderr(stderr)}"


def _no_repeater_note(chain) -> str:
    """A one-link chain's note that its end B applied the cut-off: it has no repeater, which applies it in longer
    chains (:mod:`dqsim.protocols.repeater`, "Memory cut-off")."""
    if chain.cutoff_ps is None or chain.num_links != 1:
        return ""
    return ", cut-off applied at end B (no repeater in a 1-link chain)"


def _summary_row(index: int, run: ChainRun, total_km: float, reference_rate_hz: float) -> tuple[tuple, str]:
    """One configuration's ``summary`` row (:data:`SUMMARY_FIELDS`) and its line of the run summary."""
    chain, link = run.chain, run.chain.links[0]
    compare = comparison(link, total_km, reference_rate_hz)
    fidelities = run.fidelities
    mean = float(fidelities.mean())
    stderr = standard_error(fidelities)
    weights = run.mean_bell_weights
    hashing, key = bell_diagonal_hashing_yield(weights), bell_diagonal_key_fraction(weights)
    waits = [p.delivery_ps - p.round_start_ps for p in run.pairs]
    restarts = sum(p.restarts for p in run.pairs)
    row = (index, chain.num_links, total_km, link.distance_km, len(run.pairs), run.end_time_ps, run.rate_hz,
           mean, stderr, ps_to_seconds(float(np.mean(waits))), restarts, link.success_probability,
           link.attempt_period_ps, compare["transmittance"], compare["fibre_transmittance"],
           compare["plob_with_detectors_rate_hz"], reference_rate_hz, compare["direct_rate_hz"],
           compare["plob_ebits_per_use"], compare["plob_rate_hz"], hashing, run.rate_hz * hashing, key,
           run.rate_hz * key, chain.num_qubits)
    line = (f"  {chain.num_links} link(s) × {link.distance_km:g} km = {total_km:g} km: "
            f"{run.rate_hz:.3g} pairs/s, F = {mean:.4f} {_fidelity_spread(fidelities, stderr)}, "
            f"{hashing:.3f} ebit/pair "
            f"({run.rate_hz * hashing:.3g} ebit/s)" + (f", {restarts} cut-off restarts" if restarts else "")
            + _no_repeater_note(chain)
            + f"; direct {compare['direct_rate_hz']:.3g} pairs/s, PLOB {compare['plob_rate_hz']:.3g} ebit/s")
    return row, line


def progress_text(section, time_ps: int, abandoned: int | None) -> str:
    """The description of a repeater run's progress: the stage and, in parentheses (one stage whatever they say,
    :func:`dqsim.cli.progress.stage_of`), the configuration's simulated time (``this configuration:``, since
    2026-12-07 (late afternoon): each configuration's starts at 0, so the next line's is smaller) and, with a
    cut-off, the chain attempts abandoned so far; a run that delivers no pair still shows it advancing (or restarting).

    Examples:
        >>> from types import SimpleNamespace
        >>> progress_text(SimpleNamespace(cutoff_s=5e-5), 862_000_000, 1234)
        'chain configurations (this configuration: 0.000862 s simulated, 1,234 attempts abandoned at the cut-off)'
        >>> progress_text(SimpleNamespace(cutoff_s=None), 2 * 10**12, None)
        'chain configurations (this configuration: 2 s simulated)'
    """
    text = f"this configuration: {ps_to_seconds(time_ps):.3g} s simulated"  # each starts at 0 (not time backwards)
    if section.cutoff_s is not None and abandoned is not None:
        text += f", {abandoned:,} attempts abandoned at the cut-off"
    return f"chain configurations ({text})"


def num_engine_runs(job) -> int:
    """Engine runs a run of ``job`` takes: one per chain configuration of ``[chain]``."""
    return len(job.chain.configurations())


def run_job(job, *, comm, backend, on_progress=None, checkpointing=None) -> ScenarioOutput:
    """Run a ``repeater`` job (collective): every configuration of ``[chain]``, one after another.

    With ``checkpointing`` the chain runs write checkpoints, and a resumed job
    skips the configurations that had finished (their results are stored). A
    stop signal while a configuration's results are tabulated (after its
    rows, at the end; then before and during the output write,
    :mod:`dqsim.cli.main`) checkpoints its finished chain run
    (:meth:`~dqsim.engine.checkpoint.CheckpointSession.stop_point`, exit
    status 75): the resume runs no event again and redoes only this work.
    """
    stop_point = checkpoint.stop_point_of(checkpointing)
    c = job.chain
    configs = c.configurations()
    pair_rows, summary_rows, timing_rows = [], [], []
    engines = []
    summary = [f"  {c.swapping} swapping, "
               + (f"{c.purification_rounds} {c.purification.upper()} round(s) per link" if c.purification_rounds
                  else "no purification")
               + (f", cut-off {c.cutoff_s:g} s" if c.cutoff_s is not None else ", no cut-off")
               + f"; {c.num_pairs} pairs per configuration"]
    reference, reference_from = reference_rate(c)
    for index, (num_links, total_km) in enumerate(configs):
        started = time.perf_counter()
        chain = chain_spec(job, num_links, total_km)
        run = checkpointing.stored_next() if checkpointing is not None else None
        if run is None:  # not a configuration that had finished before the checkpoint being resumed
            def on_window(time_ps: int, _windows: int, fraction: float | None, abandoned: int | None,
                          index=index) -> None:
                if fraction is not None and fraction < 1:  # whole counts only when a configuration is done
                    on_progress(index + fraction, len(configs), progress_text(c, time_ps, abandoned))

            run = run_chain(chain, comm=comm, backend=backend, seed=job.run.seed, checkpointing=checkpointing,
                            on_window=on_window if on_progress else None)
            if checkpointing is not None:
                checkpointing.store_last(run)
        engines.append(run.engine)
        timing_rows.append((f"config{index}", time.perf_counter() - started))
        for p in run.pairs:
            pair_rows.append((index, num_links, total_km, p.pair_index, p.delivery_ps, p.round_start_ps,
                              p.delivery_ps - p.round_start_ps, p.fidelity, p.restarts, p.link_attempts_max,
                              p.link_attempts_total, *p.bell_weights[1:], p.memory_time_ps))
        row, line = _summary_row(index, run, total_km, reference)
        summary_rows.append(row)
        summary.append(line)
        stop_point()
        if on_progress:
            on_progress(index + 1, len(configs),
                        progress_text(c, run.end_time_ps if run.pairs else 0, sum(p.restarts for p in run.pairs)))
    summary.append(f"  (direct and PLOB per second at the reference rate {reference:.4g} Hz, "
                   f"{reference_from}, in every configuration)")
    tables = {
        "pairs": record_table(pair_rows, PAIR_FIELDS),
        "summary": record_table(summary_rows, SUMMARY_FIELDS),
        "timing": record_table(timing_rows, [("stage", "U"), ("seconds", "f8")]),
    }
    table_attrs = {
        "pairs": {"fidelity": "to |Phi+>, exact (memories are small density matrices)",
                  "bell_weights": "bell_phi_minus, bell_psi_plus, bell_psi_minus: the pair's other Bell "
                                  "weights <B|rho|B> (fidelity is the Phi+ weight)",
                  "waiting_time_ps": "delivery_time_ps - round_start_ps",
                  "memory_time_ps": MEMORY_TIME_MEANING},
        "summary": {"units": {"rate_hz": "pairs/s", "direct_rate_hz": "pairs/s", "ebit_rate_hz": "ebits/s",
                              "plob_rate_hz": "ebits/s", "plob_with_detectors_rate_hz": "ebits/s",
                              "key_rate_hz": "secret bits/s"},
                    "compared": "rate_hz: delivered end-to-end pairs of any fidelity per simulated second; "
                                "hashing_yield: 1 - H(p) of the pairs' mean Bell weights p, ebits per pair "
                                "(Bennett et al., PRA 54, 3824 (1996)); ebit_rate_hz = rate_hz x hashing_yield; "
                                "key_fraction: 1 - h(e_Z) - h(e_X) of those weights, secret bits per pair (Shor "
                                "and Preskill 2000); key_rate_hz = rate_hz x key_fraction; direct_rate_hz: "
                                "transmittance over the whole distance x reference rate; plob_rate_hz: "
                                "-log2(1-fibre_transmittance) x reference rate, a bound on ebit_rate_hz and "
                                "key_rate_hz of any repeaterless protocol over that fibre (Pirandola et al. "
                                "2017); plob_with_detectors_rate_hz: the same at the full transmittance "
                                "(coupling and detector efficiency included); the reference rate is the "
                                "same in every configuration"},
    }
    attrs = {
        "swapping": c.swapping,
        "purification": c.purification if c.purification_rounds else "none",
        "purification_rounds": c.purification_rounds,
        "cutoff_s": c.cutoff_s if c.cutoff_s is not None else math.inf,
        "num_pairs": c.num_pairs,
        "num_configurations": len(configs),
        "reference_rate_hz": reference,
        "reference_rate_from": reference_from,
        "max_memory_qubits": max(r[-1] for r in summary_rows),
        "total_restarts": int(sum(r[10] for r in summary_rows)),
        "engine_events": int(sum(e.num_events for e in engines)),
        "engine_messages": int(sum(e.num_messages for e in engines)),
        "engine_cross_rank_messages": int(sum(e.num_cross_rank_messages for e in engines)),
        "engine_flushes": int(sum(e.num_flushes for e in engines)),
        "engine_windows": int(sum(e.num_windows for e in engines)),
    }
    stop_point()
    return ScenarioOutput(attrs, tables, table_attrs, None, summary)
