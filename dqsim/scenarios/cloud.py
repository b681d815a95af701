"""The ``cloud`` scenario: a centre of networked QPUs serves a stream of user jobs.

User jobs (circuits with shots, a priority and an arrival time) come from
the job file's ``[[user_jobs]]`` list and/or a Poisson process
(``[arrivals]``). The centre queues them and a policy of
:mod:`dqsim.scenarios.cloud_scheduler` (FIFO, shortest-job-first or EASY
backfilling) starts each on a connected set of free QPUs. A started job is
run with :func:`dqsim.scenarios.dqc.run_dqc` on the network *induced by its
QPU set* (only those QPUs and the links between them).

A job of ``shots = N`` is N executions of its circuit, one after the other
on its QPUs (``shots = 0``: one execution, no counts): its duration is the
simulated time of its N executions plus the classical latency of the link
to its user (``[user]``), paid once at the end; its QPUs are held until the
user has the results; its EPR pairs are those of its N executions. The
QPUs' set-up before a job's first execution and reset between two are fixed
times the job file gives (``[scheduler].job_setup_s``, ``shot_reset_s``;
:func:`overhead_ps`), which hold the QPUs too; shots are not batched.
The queue's clock may not pass the engine's limit, 2**61 ps
(:data:`~dqsim.jobs.cloud.MAX_CLOUD_QUEUE_PS`): a job whose arrival and
overheads alone pass it is refused at load, one whose executions take the
queue past it stops the run in one line once its duration is known
(:func:`run_cloud`).
:func:`run_user_job` runs the engine as few times as that allows
(:func:`engine_runs`):

* on QPUs without noise (:func:`dqsim.scenarios.dqc.is_noisy` of its set),
  once: every execution ends in the same state, so the N shots are drawn
  from that one final state (exact), and the time and pairs of that one run
  count N times (the pairs of an execution do not vary there; its time does,
  with the heralding attempts, so the total's mean is right but its spread
  is that of one run scaled by N, not of N independent runs: the time of
  an execution is what the engine's schedule makes of all its pairs'
  attempts, concurrent pairs included, which has no closed form to draw N
  of from; and N times the mean of K < N runs has the standard deviation
  N·σ/√K, not the √N·σ of N independent executions (σ: one execution's));
* a dynamic circuit (mid-circuit measurements, resets, ``if``): once per
  shot, whatever the noise (its nodes measure and branch, so a run gives
  one shot, as in the ``dqc`` scenario);
* on noisy QPUs, ``[simulation].trajectories = T`` (default 10):
  ``min(T, N)`` engine runs (trajectories, seeded as the ``dqc`` scenario's,
  :func:`dqsim.scenarios.dqc.trajectory_seed`), the shots shared out among
  them (:func:`dqsim.scenarios.dqc.shot_share`), each run's time and pairs
  counted once per shot it gave; the fidelity is the mean over the runs,
  with its standard error;
* on noisy QPUs, ``trajectories = "per_shot"``: once per shot, every shot
  with its own draw of the link, memory and gate noise and its own time
  and pairs (exact, N engine runs).

The ``sampling`` column of the ``jobs`` table says which
(``final-state``, ``per-shot``, ``trajectories``).

Jobs that overlap in time run on disjoint QPU sets, and each set is
connected, so every route of a job stays inside its set: jobs share no QPU,
no communication qubit and no link, and exchange no message. The joint state
of the centre is then a product of the jobs' states and every job's events
are independent of the others'. Running each job on its own, one after the
other (as done here, so that every rank takes part in every run, each using
the whole communicator), therefore gives the same results as running them
concurrently in one simulation. Each job's seed is derived from the run's
seed and the job's name (never from its id, start time or neighbours), so a
job's counts and fidelity depend only on its circuit, its name, the seed and
the shape of its QPU set (the links between its QPUs in index order), not on
which other jobs ran or when: a job gives the same results alone in the
centre as among others, as long as it gets a set of the same shape
(``tests/test_cloud.py`` checks this).

SJF and backfilling use an *estimated* duration, computed before the job
runs (:func:`estimate_duration_ps`): N times the critical path of the
decomposed circuit with the node's gate times, each cut gate costing the
mean time one takes over a link of the centre (:func:`_pair_ps`: handshake,
attempts, herald and the scheme's messages; a ``swap`` between two QPUs with two
communication qubits each, two teleportations, :func:`_swap_ps`; a dense two-qubit
gate run as TeleData, its cost), and the user latency.

Randomness: the Poisson arrivals and every job's seed come from
:class:`dqsim.rng.Stream` (see :mod:`dqsim.rng` for what a seed reproduces).
"""

from __future__ import annotations

import math
import time
from array import array
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from dqsim.caches import kept
from dqsim.circuit import generators, qasm_file
from dqsim.circuit.decompose import decompose_for_distribution
from dqsim.circuit.ir import Circuit, Measure
from dqsim.circuit.partition import interaction_weights, partition_weights
from dqsim.engine import checkpoint
from dqsim.engine.simulator import clock_refusal
from dqsim.errors import CircuitError, ConfigError, DqsimError, count_of
from dqsim.jobs.cloud import DEFAULT_CLOUD_TRAJECTORIES, MAX_CLOUD_QUEUE_PS, PER_SHOT
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network, clock_limit_allowed_by
from dqsim.network.node import NodeSpec, NodeSpecs, RepeatedValue, longest_name, names_at
from dqsim.rng import Stream
from dqsim.scenarios.output import (WRITING_RANK, ScenarioOutput, TableInPieces, add_node_names, record_table,
                                    standard_error)
from dqsim.scenarios.cloud_scheduler import (Centre, JobFailed, JobRecord, QueueClockPassed, QueuedJob,
                                             qubit_column, queue_metrics, simulate_queue)
from dqsim.scenarios.circuit_run import clbits_refusal
from dqsim.scenarios.dqc import (INITIAL_SCRATCH_QUBITS, extra_register_qubits, is_noisy, job_network, plan_dqc,
                                 run_dqc, shot_share, trajectory_seed, with_teleported_gates)
from dqsim.units import PS_PER_MS, PS_PER_NS, PS_PER_S, PS_PER_US, ps_to_seconds, seconds_to_ps

__all__ = ["UserJob", "Execution", "JobTally", "JobResult", "CloudRun", "run_cloud", "run_user_job", "run_job",
           "user_jobs_of", "queued_jobs", "job_seed", "engine_runs", "sampling_of", "job_result", "estimate_duration_ps",
           "execution_estimate_ps", "circuit_refusal", "memory_bytes", "LargestRegister", "largest_register"]

#: Largest estimate, ps (an unreachable pair would otherwise make it infinite).
MAX_ESTIMATE_PS = 2**62
#: Bins of the ``wait_distribution`` table (fewer when fewer jobs started).
WAIT_BINS = 10
#: Jobs listed one by one in the summary.
SUMMARY_JOBS = 12
#: Memory a user job holds until the run ends, bytes, besides its circuit (:func:`memory_bytes`): its
#: ``UserJob``, ``QueuedJob``, record, result with its counts, scheduler index, checkpointed summary and table
#: rows; measured for streams of GHZ/QFT jobs of 2-4 qubits and 20 shots
#: (``bench/results/cloud_scale-vm-20261206b.md``: 3,000; 2,800 since the jobs, records and scheduler index hold
#: their fields in slots and arrays, 190-290 bytes less a job, ``bench/results/cloud-events-vm-20261206.md``).
BYTES_PER_USER_JOB = 2_800
#: Memory per instruction of a circuit (a gate with its parameters, a measurement), bytes (tracemalloc of 2,000
#: random circuits of 4 qubits and depth 10: 264).
BYTES_PER_INSTRUCTION = 270


@dataclass(frozen=True, slots=True)
class UserJob:
    """A job a user submits to the centre.

    Attributes:
        name: unique label (it also keys the job's seed, :func:`job_seed`).
        circuit: the circuit, with terminal measurements.
        shots: samples of its measured qubits, >= 0.
        submit_ps: when it reaches the centre, ps, >= 0.
        priority: higher runs first.
    """

    name: str
    circuit: Circuit
    shots: int
    submit_ps: int
    priority: int = 0


@dataclass
class Execution:
    """One engine run of a user job, standing for ``num_executions`` of its executions (folded into the job's
    :class:`JobTally`; checkpoints of earlier versions kept one per engine run).

    Attributes:
        counts: bit string -> shots drawn from this run's final state.
        fidelity: |⟨ideal|final⟩|² of this run.
        time_ps: simulated time of the run (one execution), ps.
        epr_pairs: pairs heralded on its links in the run.
        num_executions: executions of the job it stands for (the shots it gave; 1 for a job of 0 shots).
        num_nonlocal_gates: gates cut between its QPUs.
    """

    counts: dict[str, int]
    fidelity: float
    time_ps: int
    epr_pairs: int
    num_executions: int
    num_nonlocal_gates: int


@dataclass
class JobResult:
    """What a finished user job gave its user (:func:`job_result` of its engine runs).

    Attributes:
        counts: bit string -> shots (classical bit 0 rightmost).
        fidelity: |⟨ideal|final⟩|² with the monolithic run of its circuit, the mean over its engine runs.
        epr_pairs: pairs heralded on its links over all its executions.
        dqc_time_ps: simulated time of all its executions, one after the other, ps.
        num_nonlocal_gates: gates cut between its QPUs (per execution).
        num_executions: executions (its shots; 1 for a job of 0 shots).
        engine_runs: engine runs (trajectories) simulated.
        sampling: ``"final-state"``, ``"per-shot"`` or ``"trajectories"`` (:func:`sampling_of`).
        fidelity_stderr: standard error of ``fidelity`` (NaN with one engine run).
    """

    counts: dict[str, int]
    fidelity: float
    epr_pairs: int
    dqc_time_ps: int
    num_nonlocal_gates: int
    num_executions: int = 1
    engine_runs: int = 1
    sampling: str = "final-state"
    fidelity_stderr: float = math.nan

    @property
    def execution_ps(self) -> float:
        """Mean simulated time of one execution, ps."""
        return self.dqc_time_ps / self.num_executions


@dataclass
class CloudRun:
    """A whole queue (identical on every rank).

    Attributes:
        jobs: the user jobs, index = job id.
        records: one :class:`~dqsim.scenarios.cloud_scheduler.JobRecord` per job, same order.
        results: job id -> :class:`JobResult` (jobs that ran).
        centre: the QPUs.
        metrics: :func:`~dqsim.scenarios.cloud_scheduler.queue_metrics` (ps).
        policy: the policy's name.
        user_latency_ps: latency of results to their users, ps.
        timing_s: wall seconds per stage.
        job_setup_ps, shot_reset_ps: the QPUs' set-up time per job and reset time between two executions, ps
            (:func:`overhead_ps`).
    """

    jobs: list[UserJob]
    records: list[JobRecord]
    results: dict[int, JobResult]
    centre: Centre
    metrics: dict[str, float]
    policy: str
    user_latency_ps: int
    timing_s: dict[str, float] = field(default_factory=dict)
    job_setup_ps: int = 0
    shot_reset_ps: int = 0


@dataclass
class JobTally:
    """A user job's engine runs so far, folded (what :func:`job_result` needs of them; kept in checkpoints).

    Folding keeps a job's checkpointed summary the size of its counts and one fidelity per run, not one
    :class:`Execution` per run, and a finished job's summary is its :class:`JobResult`.

    Attributes:
        counts: bit string -> shots, summed over the runs, in the order the bit strings first came.
        fidelities: each run's fidelity, in run order (the mean and its standard error are taken at the end,
            over the same list as before folding, so they are the same to the bit).
        epr_pairs: pairs heralded over the executions so far (each run's pairs once per execution it stands for).
        dqc_time_ps: simulated time of the executions so far, ps.
        num_executions: executions so far.
        num_nonlocal_gates: gates cut between its QPUs (the first run's).
        through: index of the last engine run folded in (``-1``: none, or a run without checkpoints).
    """

    counts: dict[str, int] = field(default_factory=dict)
    fidelities: list[float] = field(default_factory=list)
    epr_pairs: int = 0
    dqc_time_ps: int = 0
    num_executions: int = 0
    num_nonlocal_gates: int = 0
    through: int = -1

    @property
    def runs(self) -> int:
        """Engine runs folded in."""
        return len(self.fidelities)

    def add(self, part: Execution, index: int = -1) -> None:
        """Fold in engine run ``index``'s :class:`Execution` (runs in order)."""
        if not self.fidelities:
            self.num_nonlocal_gates = part.num_nonlocal_gates
        counts = self.counts
        for bits, count in part.counts.items():
            counts[bits] = counts.get(bits, 0) + count
        self.fidelities.append(part.fidelity)
        self.epr_pairs += part.num_executions * part.epr_pairs
        self.dqc_time_ps += part.num_executions * part.time_ps
        self.num_executions += part.num_executions
        self.through = index


def overhead_ps(shots: int, job_setup_ps: int, shot_reset_ps: int) -> int:
    """Time a job of ``shots`` holds its QPUs besides its executions, ps: the set-up once, then a reset between
    each two of its ``max(shots, 1)`` executions.

    Examples:
        >>> overhead_ps(1000, 5_000_000, 100_000), overhead_ps(0, 5, 7), overhead_ps(1, 5, 7)
        (104900000, 5, 5)
    """
    return int(job_setup_ps) + (max(int(shots), 1) - 1) * int(shot_reset_ps)


def sampling_note(noisy: bool, trajectories: int | str = DEFAULT_CLOUD_TRAJECTORIES) -> str:
    """One sentence on how a centre's user jobs sample their shots (the ``sampling_note`` attribute and the
    summary): noiseless QPUs, noise per shot, or a number of trajectories (module docstring).

    Examples:
        >>> sampling_note(False)[:60]
        'a job of N shots is N executions; on noiseless QPUs the engi'
    """
    head = "a job of N shots is N executions"
    dynamic = "; a circuit with mid-circuit measurements, resets or 'if' runs the engine once per shot"
    if not noisy:
        return (f"{head}; on noiseless QPUs the engine runs it once and its N shots are drawn from that final "
                f"state (exact), that run's time and EPR pairs counted N times{dynamic}")
    if trajectories == PER_SHOT:
        return (f"{head}; on noisy QPUs every shot is its own engine run, with its own draw of the link, memory and "
                "gate noise, time and EPR pairs; a job's fidelity is the mean over its shots (fidelity_stderr: "
                "its standard error)")
    return (f"{head}; on noisy QPUs it runs min({trajectories}, N) trajectories (engine runs, each its own draw of "
            "the link, memory and gate noise), draws its shots across them and counts each run's time and EPR "
            "pairs once per shot it gave; its fidelity is the mean over trajectories (fidelity_stderr: its "
            f"standard error); [simulation].trajectories = \"per_shot\" draws the noise per shot{dynamic}")


def job_seed(seed: int, name: str) -> int:
    """Seed of the distributed run of the job called ``name`` (a draw of the stream ``cloud-job/<name>``).

    Examples:
        >>> job_seed(1, "a") == job_seed(1, "a") != job_seed(1, "b")
        True
    """
    return int(Stream(seed, node=0, purpose=f"cloud-job/{name}").next_generator().integers(0, 2**62))


def engine_runs(shots: int, noisy: bool, trajectories: int | str = DEFAULT_CLOUD_TRAJECTORIES, *,
                dynamic: bool = False) -> int:
    """Engine runs of a user job of ``shots`` on noisy or noiseless QPUs (module docstring).

    Args:
        shots: the job's shots, >= 0 (``max(shots, 1)`` executions).
        noisy: whether its QPUs draw noise (:func:`dqsim.scenarios.dqc.is_noisy`).
        trajectories: ``[simulation].trajectories``: ``"per_shot"`` or a number >= 1.
        dynamic: a circuit with mid-circuit measurements, resets or ``if``: one run per shot,
            whatever the noise (each run's nodes measure and branch: it gives one shot).

    Examples:
        >>> engine_runs(1000, False), engine_runs(1000, True), engine_runs(3, True), engine_runs(0, True)
        (1, 10, 3, 1)
        >>> engine_runs(1000, True, "per_shot"), engine_runs(1000, False, "per_shot")
        (1000, 1)
        >>> engine_runs(50, False, dynamic=True)
        50
    """
    executions = max(shots, 1)
    if dynamic:
        return executions
    if not noisy:
        return 1
    return executions if trajectories == PER_SHOT else min(int(trajectories), executions)


def sampling_of(runs: int, shots: int, draws: bool) -> str:
    """How a job's shots sample its executions: ``"final-state"`` (executions that draw nothing, on
    noiseless QPUs: one state gives every shot exactly), ``"per-shot"`` (one engine run per execution) or
    ``"trajectories"`` (fewer runs than executions, the shots drawn across them).

    Args:
        runs: the job's engine runs (:func:`engine_runs`).
        shots: its shots.
        draws: whether an execution draws anything of its own (noisy QPUs, or a dynamic circuit).

    Examples:
        >>> sampling_of(1, 100, False), sampling_of(100, 100, True), sampling_of(10, 100, True)
        ('final-state', 'per-shot', 'trajectories')
    """
    if not draws:
        return "final-state"
    return "per-shot" if runs == max(shots, 1) else "trajectories"


def job_result(parts: Sequence[Execution] | JobTally, sampling: str) -> JobResult:
    """A user job's result from its engine runs (or their :class:`JobTally`): counts summed; time and EPR
    pairs of each run counted once per execution it stands for; fidelity the mean over runs, with its
    standard error.

    Examples:
        >>> parts = [Execution({"00": 2}, 1.0, 10, 1, 2, 1), Execution({"11": 1}, 0.0, 20, 3, 1, 1)]
        >>> r = job_result(parts, "trajectories")
        >>> r.counts, r.dqc_time_ps, r.epr_pairs, r.num_executions, r.fidelity, round(r.fidelity_stderr, 3)
        ({'00': 2, '11': 1}, 40, 5, 3, 0.5, 0.5)
    """
    tally = parts
    if not isinstance(tally, JobTally):
        tally = JobTally()
        for part in parts:
            tally.add(part)
    counts = dict(tally.counts)
    if tally.runs > 1:
        counts = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    fidelities = tally.fidelities
    return JobResult(counts, float(np.mean(fidelities)), tally.epr_pairs, tally.dqc_time_ps,
                     tally.num_nonlocal_gates, tally.num_executions, tally.runs, sampling,
                     standard_error(fidelities))


def estimate_duration_ps(circuit: Circuit, *, capacities: Sequence[int], node: NodeSpec, pair_ps: float,
                         latency_ps: int = 0, hops: Sequence[Sequence[int]] | None = None,
                         num_executions: int = 1, swap_ps: float | None = None,
                         two_comm: Sequence[bool] | None = None, late_pair_ps: float | None = None,
                         teledata_ps: tuple[float, float] | None = None, scheme: str = "telegate") -> int:
    """Estimated duration of a job before it runs, ps (the scheduler's SJF and backfilling input).

    ``num_executions`` times the estimate of one execution, then the user
    latency once. One execution's estimate is a list schedule of the
    decomposed circuit partitioned over QPUs of ``capacities``: each gate starts when its qubits are free and takes the
    node's 1- or 2-qubit gate time; a gate whose qubits lie on different QPUs
    also waits until both QPUs have finished their previous cut gate and adds
    ``pair_ps`` per hop between them (one cut gate at a time per QPU: EPR
    generation dominates; with ``swap_ps``, a ``swap`` between two QPUs that
    have two communication qubits each is one such gate of ``swap_ps`` per hop,
    not three CX, and a dense two-qubit gate run as TeleData one of ``teledata_ps``,
    not three ``cp``). Measurements add the node's measurement time, then
    the user latency. A heuristic: it ignores the communication-qubit count
    otherwise, and the timing of entanglement swaps.

    Args:
        circuit: the job's circuit.
        capacities: data qubits of the QPUs it would get.
        node: gate and measurement times (:class:`~dqsim.network.node.NodeSpec`).
        pair_ps: cost of one cut gate over one link, ps (the centre's mean, :func:`_pair_ps`).
        latency_ps: classical latency to the user, ps.
        hops: ``hops[a][b]``, links between QPUs ``a`` and ``b`` of the set (default 1).
        num_executions: executions of the circuit (the job's shots, at least 1).
        swap_ps, two_comm, late_pair_ps, teledata_ps, scheme: as for :func:`execution_estimate_ps` (a ``swap``
            between QPUs teleported; TeleData's earlier schedule where the control's QPU has one communication
            qubit; a dense two-qubit gate run as TeleData).

    Examples:
        >>> from dqsim.circuit.generators import ghz
        >>> estimate_duration_ps(ghz(4), capacities=[2, 2], node=NodeSpec(name="q"), pair_ps=100.0, latency_ps=7)
        107
        >>> estimate_duration_ps(ghz(4), capacities=[2, 2], node=NodeSpec(name="q"), pair_ps=100.0, latency_ps=7,
        ...                      num_executions=1000)
        100007
    """
    one = execution_estimate_ps(circuit, capacities=capacities, node=node, pair_ps=pair_ps, hops=hops,
                                swap_ps=swap_ps, two_comm=two_comm, late_pair_ps=late_pair_ps,
                                teledata_ps=teledata_ps, scheme=scheme)
    return min(one * num_executions, MAX_ESTIMATE_PS) + int(latency_ps)


def execution_estimate_ps(circuit: Circuit, *, capacities: Sequence[int], node: NodeSpec, pair_ps: float,
                          hops: Sequence[Sequence[int]] | None = None, placements: dict | None = None,
                          swap_ps: float | None = None, two_comm: Sequence[bool] | None = None,
                          late_pair_ps: float | None = None, teledata_ps: tuple[float, float] | None = None,
                          scheme: str = "telegate") -> int:
    """One execution's estimate in :func:`estimate_duration_ps` (its list schedule), ps, at most
    :data:`MAX_ESTIMATE_PS`.

    Args:
        circuit, capacities, node, pair_ps, hops: as for :func:`estimate_duration_ps`.
        placements: a dict the caller keeps over many calls: the qubits' placement
            (:func:`~dqsim.circuit.partition.partition_weights`) by the decomposed circuit's interaction weights
            and the capacities, which is all the placement depends on (circuits of a stream drawn from a few
            shapes share a few placements).
        swap_ps: cost of a ``swap`` between two QPUs over one link, ps (:func:`_swap_ps`: two teleportations,
            as :func:`~dqsim.scenarios.dqc.plan_dqc` runs it where both QPUs have two communication qubits),
            as one gate; ``None``: three CX, each a cut gate of ``pair_ps``. With it, the gates that
            :func:`~dqsim.scenarios.dqc.with_teleported_gates` keeps whole are priced as one gate each: SWAPs,
            and dense two-qubit gates run as TeleData (``teledata_ps``); ``None``: neither is kept.
        two_comm: per QPU of the set, whether it has two communication qubits or more (``None``: all have);
            a ``swap`` is teleported, and costs ``swap_ps``, only between two that have.
        late_pair_ps: TeleData only: the cost of a cut gate whose control's QPU has one communication qubit
            (``two_comm``), whose return pair is requested once the control has arrived
            (:func:`_late_teledata_ps`); ``None``: ``pair_ps`` for every cut gate.
        teledata_ps: the cost of a dense two-qubit gate run as TeleData over one link, ps: ``(both pairs
            requested at its start, the return pair requested once the first qubit has arrived)`` where the
            first qubit's QPU has two communication qubits or one (``two_comm``): ``(_pair_ps(network,
            "teledata"), _late_teledata_ps(network))``; ``None``: ``(pair_ps, late_pair_ps)``, which are those
            under the TeleData scheme.
        scheme: ``"telegate"`` or ``"teledata"``: the pairs each controlled gate of a dense gate's rewrite
            takes (one or two), which decides whether it runs as TeleData.

    Examples:
        >>> from dqsim.circuit.generators import ghz
        >>> execution_estimate_ps(ghz(4), capacities=[2, 2], node=NodeSpec(name="q"), pair_ps=100.0)
        100
    """
    decomposed = decompose_for_distribution(circuit, check=False)  # the job's circuit was checked when built
    if len(capacities) > 1:
        weights = interaction_weights(decomposed)
        key = (weights.shape[0], weights.tobytes(), tuple(capacities))
        owner = placements.get(key) if placements is not None else None
        if owner is None:
            owner = partition_weights(weights, list(capacities))
            if placements is not None:
                placements[key] = owner
    else:
        owner = [0] * decomposed.num_qubits
    if swap_ps is not None and len(capacities) > 1:  # as plan_dqc: such a SWAP is two teleportations
        decomposed = with_teleported_gates(circuit, decomposed, owner,
                                           [True] * len(capacities) if two_comm is None else two_comm,
                                           scheme=scheme, check=False)
    if teledata_ps is None:
        teledata_ps = (pair_ps, pair_ps if late_pair_ps is None else late_pair_ps)
    ready = [0.0] * decomposed.num_qubits
    qpu_ready = [0.0] * len(capacities)
    for gate in decomposed.gates():
        qubits = gate.qubits
        cost = float(node.gate_1q_duration_ps if len(qubits) == 1 else node.gate_2q_duration_ps)
        start = max(ready[q] for q in qubits)
        qpus = sorted({owner[q] for q in qubits})
        if len(qpus) > 1:
            start = max([start] + [qpu_ready[p] for p in qpus])
            per_hop = pair_ps
            if gate.name == "swap" and swap_ps is not None:
                per_hop = swap_ps
            elif gate.name == "unitary":  # kept whole: TeleData, its first qubit over and back
                per_hop = teledata_ps[0] if two_comm is None or two_comm[owner[qubits[0]]] else teledata_ps[1]
            elif late_pair_ps is not None and two_comm is not None and not two_comm[owner[qubits[0]]]:
                per_hop = late_pair_ps  # the control (first qubit) on a QPU with one communication qubit
            cost += per_hop * max((hops[a][b] if hops is not None else 1) for a in qpus for b in qpus)
            for p in qpus:
                qpu_ready[p] = start + cost
        for q in qubits:
            ready[q] = start + cost
    total = max(ready, default=0.0)
    if any(isinstance(ins, Measure) for ins in circuit):
        total += node.measure_duration_ps
    return int(min(total, MAX_ESTIMATE_PS))


def _pair_ps(network: Network, scheme: str = "telegate") -> float:
    """Mean over the centre's links of the time one cut gate over the link takes, ps.

    As :mod:`dqsim.protocols.epr` and :mod:`dqsim.protocols.distributed` run
    it: a pair is usable after the reservation handshake (two link delays),
    the attempts before the successful one (``1/p − 1`` attempt periods on
    average) and the herald; the TeleGate then sends the control side's bit
    to the target and the target's bit back (two link delays). TeleData
    requests its two pairs at once (the return pair from the target) and
    sends the control out and back (two link delays): the wait is that of
    the later of the two pairs, whose attempts are the larger of two
    independent geometric numbers, of mean 2/p − 1/(p(2 − p)) (Σ_k P(max > k)
    = Σ_k (2q^k − q^(2k)), q = 1 − p). Every message and the herald at the initiator
    also cost the acting node's classical processing delay (the mean of the
    link's two nodes': three per pair, one per message; for TeleData's two
    pairs, made meanwhile, three). Source periods and memory contention are left out.
    """
    # TeleData: the later of two pairs made at once, then the control out and back (two messages)
    return _mean_link_cost(network, 2 if scheme == "teledata" else 1, 2)


def _late_teledata_ps(network: Network) -> float:
    """Mean over the centre's links of the time a TeleData cut gate takes where the control's QPU has one
    communication qubit, ps: the schedule before 2026-12-06, two pairs one after the other (the return pair
    requested once the control has arrived), each followed by one message (as :func:`_pair_ps` counts them).
    """
    return 2 * _mean_link_cost(network, 1, 1)


def _swap_ps(network: Network) -> float:
    """Mean over the centre's links of the time a ``swap`` between the link's two QPUs takes, ps, where both
    have two communication qubits: two teleportations, one each way (Bennett et al., PRL 70, 1895 (1993)),
    whose two pairs the first side requests at once (:class:`~dqsim.circuit.distribute.RemoteSwap`): the
    later of two pairs as in :func:`_pair_ps`'s TeleData (handshake, 2/p − 1/(p(2 − p)) − 1 attempt periods,
    herald, three processing delays), then each side's teleportation bits to the other at once (one link
    delay and one processing delay). On a lossless link of one-way delay d: 5d, where three CX cost
    3 × 6d. Source periods are left out (the second pair's attempts share the first's source: one period more
    on a lossless link).
    """
    return _mean_link_cost(network, 2, 1)


def _mean_link_cost(network: Network, pairs: int, messages: int) -> float:
    """Mean over the centre's links of: the wait for the later of ``pairs`` (1 or 2) pairs requested at once
    (handshake of two link delays, the attempts before the last one, herald, three processing delays), plus
    ``messages`` classical messages one after another (a link delay and a processing delay each), ps."""
    links: list[tuple[int, int]] = list(network.links)
    if not links:
        return 0.0
    costs = []
    for a, b in links:
        link: LinkSpec = network.link(a, b)
        processing = (network.nodes[a].classical_processing_delay_ps
                      + network.nodes[b].classical_processing_delay_ps) / 2
        attempts = 1 / link.success_probability if link.success_probability > 0 else math.inf
        if pairs == 2 and link.success_probability > 0:  # the later of two pairs made at once
            p = link.success_probability
            attempts = 2 / p - 1 / (p * (2 - p))
        pair = (2 * link.delay_ps + (attempts - 1) * link.attempt_period_ps + link.herald_delay_ps
                + 3 * processing)
        costs.append(pair + messages * (link.delay_ps + processing))
    return min(sum(costs) / len(costs), float(MAX_ESTIMATE_PS))


def circuit_refusal(circuit: Circuit) -> str | None:
    """Why the centre refuses a user job's circuit on arrival, one line, or ``None`` if it can run it.

    Refused: more classical bits than a shot records
    (:func:`dqsim.scenarios.circuit_run.clbits_refusal`). A dynamic circuit
    (mid-circuit measurement, reset or ``if``) runs, one engine run per shot
    (:func:`engine_runs`).

    Examples:
        >>> circuit_refusal(Circuit(2, 64).gate("h", 0).measure(0, 63))[:30]
        'the circuit has 64 classical b'
        >>> circuit_refusal(Circuit(2, 2).gate("h", 0).measure(0, 0).gate("cx", 0, 1)) is None
        True
    """
    return clbits_refusal(circuit)


def run_user_job(job: UserJob, network: Network, *, comm, backend, seed: int, scheme: str = "telegate",
                 precision: str = "complex128", trajectories: int | str = DEFAULT_CLOUD_TRAJECTORIES,
                 checkpointing=None, on_fraction: Callable[[float], None] | None = None,
                 plans: dict | None = None) -> JobResult:
    """Run a user job's executions on the network its QPUs induce (collective; module docstring).

    Each engine run (:func:`engine_runs` of them) is one
    :func:`~dqsim.scenarios.dqc.run_dqc`, folded into the job's :class:`JobTally`,
    which the checkpoints keep (``("tally", tally)``, under the index of the
    last run it holds, replacing the one before), until the job's last run makes it its
    :class:`JobResult` (``("job", result)``), or a failure
    (``("failed", reason)``): the checkpoints hold one summary per user job,
    not one per engine run, and a resumed job runs only the engine runs that had
    not finished.

    Args:
        job: the user job.
        network: its QPUs and the links between them.
        seed: the job's seed (:func:`job_seed`); run ``t`` of ``T`` uses
            :func:`~dqsim.scenarios.dqc.trajectory_seed` ``(seed, t, T)``.
        trajectories: ``[simulation].trajectories`` (``"per_shot"`` or a number >= 1).
        on_fraction: called after engine windows with the share of the job done (0..1, ends excluded).
        plans: a dict the caller keeps over many user jobs: the :func:`~dqsim.scenarios.dqc.plan_dqc` of each
            circuit object on each network object (:func:`plan_of`), with the ideal registers of their
            fidelity checks; ``None``: planned for this job alone.

    Raises:
        JobFailed: a run raised a :class:`~dqsim.errors.DqsimError` (the reason in one line).
    """
    noisy, dynamic = is_noisy(network), not job.circuit.measurements_are_terminal()
    runs = engine_runs(job.shots, noisy, trajectories, dynamic=dynamic)
    sampling = sampling_of(runs, job.shots, noisy or dynamic)
    tally, prepared, begin = JobTally(), None, 0
    if checkpointing is not None:
        stored = _stored_job(checkpointing, runs, sampling)
        if stored is not None:
            if stored[0] == "failed":
                raise JobFailed(stored[1])
            if stored[0] == "job":
                return stored[1]
            tally = stored[1]
            begin = tally.runs
    for index in range(begin, runs):
        runs_before = checkpointing.engine_runs if checkpointing is not None else 0
        if checkpointing is not None:
            checkpointing.finished_run = None  # the next run starts: the last one's engine may go

        def on_window(_time_ps: int, _windows: int, fraction: float | None, index=index) -> None:
            if fraction is not None and 0 < fraction < 1:  # whole counts only when a job is done
                on_fraction((index + fraction) / runs)

        try:
            if prepared is None:  # planned once for all the job's engine runs (they differ in their seeds)
                prepared = plan_of(job.circuit, network, scheme, plans)
            run = run_dqc(job.circuit, comm=comm, backend=backend, network=network, scheme=scheme,
                          seed=trajectory_seed(seed, index, runs), precision=precision,
                          shots=shot_share(job.shots, runs, index), timeline=False, checkpointing=checkpointing,
                          on_window=on_window if on_fraction is not None else None, prepared=prepared,
                          keep_shots=False)
            part = Execution(run.counts, run.fidelity, run.end_time_ps, run.links.totals()[0],
                             shot_share(max(job.shots, 1), runs, index), run.num_nonlocal_gates)
            del run  # run_dqc left its engine run as the session's finished_run: the scheduler's work and
            # the tables stop through it (run_job), until the next run releases it before its register
        except DqsimError as exc:  # raised alike on every rank: the checks before any collective
            if checkpointing is not None:
                if checkpointing.engine_runs == runs_before:
                    checkpointing.next_engine_run()  # failed before its engine started: use up its index
                checkpointing.store_last(("failed", str(exc)), replaces=tally.through if tally.runs else None)
            raise JobFailed(str(exc)) from None
        replaces = tally.through if tally.runs else None
        tally.add(part, checkpointing.engine_runs - 1 if checkpointing is not None else -1)
        if index == runs - 1:
            result = job_result(tally, sampling)
            if checkpointing is not None:
                checkpointing.store_last(("job", result), replaces=replaces)
            return result
        if checkpointing is not None:
            checkpointing.store_last(("tally", tally), replaces=replaces)
    return job_result(tally, sampling)  # a job resumed with all its runs folded but not summed up


#: Distinct QPU sets whose induced networks a run keeps (:func:`run_cloud`), and plans of a circuit on one of
#: them (:func:`plan_of`); the oldest go first.
KEPT_NETWORKS = 1024
KEPT_PLANS = 1024


def plan_of(circuit: Circuit, network: Network, scheme: str, plans: dict | None):
    """:func:`~dqsim.scenarios.dqc.plan_dqc` of ``circuit`` on ``network``, made once per circuit object, network
    object and scheme where ``plans`` keeps them (at most :data:`KEPT_PLANS`; ``None``: made now).

    A plan depends on nothing else (it draws nothing), and it holds its circuit and network, so the objects
    whose ids key it outlive it. User jobs sharing a circuit (:func:`user_jobs_of`) on the same QPU set (whose
    network :func:`run_cloud` keeps) share the plan: planned once, as a job's trajectories already were.

    Raises:
        DqsimError: what :func:`~dqsim.scenarios.dqc.plan_dqc` raises (nothing is kept then).
    """
    if plans is None:
        return plan_dqc(circuit, network, scheme=scheme)
    return kept(plans, (id(circuit), id(network), scheme), lambda: plan_dqc(circuit, network, scheme=scheme),
                KEPT_PLANS)


def _stored_job(checkpointing, runs: int, sampling: str) -> tuple | None:
    """What a resumed checkpoint holds of the user job whose ``runs`` engine runs come next, the runs it
    covers used up (:meth:`~dqsim.engine.checkpoint.CheckpointSession.skip_to`): ``("job", JobResult)``,
    ``("tally", JobTally)`` of its first runs, ``("failed", reason)``, or ``None`` (nothing stored).

    A checkpoint of this version holds one summary per job (:class:`JobTally` while it runs, then its
    :class:`JobResult`); one of an earlier version holds an :class:`Execution` per engine run, which are
    folded here, in run order, into the same tally (and replace those entries, so that later checkpoints
    are compact).
    """
    stored = checkpointing.stored_among(runs)
    if not stored:
        return None
    index, earliest = stored[0]
    if earliest[0] in ("job", "tally", "failed") and not isinstance(earliest[1], Execution):
        checkpointing.skip_to(index + 1)  # this job's one summary (entries after a failure are the next job's)
        return earliest
    tally, first = JobTally(), index
    for position, (index, (kind, value)) in enumerate(stored):
        if index != first + position or kind not in ("done", "failed"):
            raise DqsimError(f"{checkpointing.resume.path}: its stored results of engine runs {first}.."
                             f"{stored[-1][0]} do not follow one another; resume it with the dqsim version that "
                             "wrote it, or run the job again")
        if kind == "failed":
            checkpointing.skip_to(index + 1)
            for earlier, _ in stored[:position]:
                checkpointing.results.pop(earlier, None)
            return "failed", value
        tally.add(value, index)
    for earlier, _ in stored[:-1]:
        checkpointing.results.pop(earlier, None)
    checkpointing.skip_to(index + 1)
    folded = ("job", job_result(tally, sampling)) if tally.runs == runs else ("tally", tally)
    checkpointing.results[index] = folded
    return folded


def node_qubits(nodes: Sequence[NodeSpec]) -> Sequence[int]:
    """Every node's data qubits for the :class:`Centre`: one :class:`~dqsim.network.node.RepeatedValue` where
    ``nodes`` is a :class:`~dqsim.network.node.NodeSpecs` (one spec, no node's copy made), else an ``array("q")``
    (a list of every node's until 2026-12-07 (night), made through a copy of each node's spec).

    Examples:
        >>> node_qubits(NodeSpecs(NodeSpec(name="n", num_data_qubits=3), ("a", "b"))), node_qubits(
        ...     [NodeSpec(name="a", num_data_qubits=1), NodeSpec(name="b", num_data_qubits=2)])
        ([3, 3], array('q', [1, 2]))
    """
    if isinstance(nodes, NodeSpecs):
        return RepeatedValue(int(nodes.spec.num_data_qubits), len(nodes))
    return array("q", (spec.num_data_qubits for spec in nodes))


def run_cloud(user_jobs: Sequence[UserJob], *, comm, backend, network: Network, policy: str = "fifo", seed: int = 0, user_latency_ps: int = 0,
              scheme: str = "telegate", precision: str = "complex128",
              trajectories: int | str = DEFAULT_CLOUD_TRAJECTORIES,
              on_job: Callable[[int, int, str], None] | None = None,
              on_running: Callable[[float, int, str], None] | None = None, checkpointing=None,
              job_setup_ps: int = 0, shot_reset_ps: int = 0) -> CloudRun:
    """Queue ``user_jobs`` on the centre and run each when the policy starts it (collective).

    With ``checkpointing`` (a :class:`dqsim.engine.checkpoint.CheckpointSession`)
    each user job's engine runs write checkpoints; resumed, the queue is
    scheduled again (it is cheap and deterministic) and the engine runs that had
    finished take their stored results instead of running. A stop signal that
    comes after a user job's last engine run, before the next job starts,
    checkpoints that finished run (exit status 75), as one during the
    scheduler's work and the tables after the last job does (:func:`run_job`).

    Args:
        user_jobs: the jobs; job id = position in this list; names unique.
        network: the centre's QPUs and links (:class:`~dqsim.network.network.Network`);
            each user job runs on the network its QPUs induce
            (:meth:`~dqsim.network.network.Network.subnetwork`), its nodes
            placed on the ranks as a dqc run of its own.
        policy: ``"fifo"``, ``"sjf"`` or ``"backfill"``.
        seed: the run's seed (jobs' seeds derive from it, :func:`job_seed`).
        user_latency_ps: classical latency of results to their users, ps, >= 0.
        scheme: ``"telegate"`` or ``"teledata"``.
        trajectories: engine runs of a job on noisy QPUs: ``"per_shot"`` or a
            number >= 1 (:func:`engine_runs`, :func:`run_user_job`).
        job_setup_ps, shot_reset_ps: the QPUs' set-up time per job and reset time between two of its
            executions, ps, >= 0 (:func:`overhead_ps`): a job holds its QPUs for its executions' simulated
            time plus these, and the scheduler's estimate counts them too.
        on_job: called as ``on_job(jobs_run, num_jobs, name)`` after each run.
        on_running: called on rank 0 after each engine window of a user job's run as
            ``on_running(jobs_run + fraction, num_jobs, name)``, ``fraction`` (0..1, ends
            excluded) the share of that job's engine runs and circuit steps done (``run_dqc``'s ``on_window``).

    Returns:
        The :class:`CloudRun`. A job too large for the centre, or whose
        circuit it cannot run (:func:`circuit_refusal`), is rejected on
        arrival with the reason; a job whose distributed run raises a
        :class:`~dqsim.errors.DqsimError` fails; the others run.

    Raises:
        DqsimError: a job would end past :data:`~dqsim.jobs.cloud.MAX_CLOUD_QUEUE_PS` (2**61 ps), raised
            alike on every rank as soon as its duration is known (one line: the job, its times, the keys).
        ValueError: repeated job names or a negative latency.
    """
    names = [job.name for job in user_jobs]
    if len(set(names)) != len(names):
        raise ValueError("run_cloud: user job names must be unique (they key the jobs' seeds)")
    for name, value in (("user_latency_ps", user_latency_ps), ("job_setup_ps", job_setup_ps),
                        ("shot_reset_ps", shot_reset_ps)):
        if value < 0:
            raise ValueError(f"run_cloud: {name} = {value}; must be >= 0")
    started = time.perf_counter()
    node_names, node_specs = network.names, network.nodes
    centre = Centre.from_edges(len(node_names), network.link_ends(),  # (the network's link arrays, no tuples)
                               data_qubits=node_qubits(node_specs), names=node_names)
    queued = queued_jobs(user_jobs, network, centre, scheme=scheme, user_latency_ps=user_latency_ps,
                         job_setup_ps=job_setup_ps, shot_reset_ps=shot_reset_ps)
    results: dict[int, JobResult] = {}
    runs_s = 0.0
    stop_point = checkpoint.stop_point_of(checkpointing)
    networks: dict[tuple[int, ...], Network] = {}  # QPU set -> the network it induces (kept)
    plans: dict = {}  # plan_of's

    def duration_of(queued_job: QueuedJob, qpus: tuple[int, ...]) -> int:
        nonlocal runs_s
        job: UserJob = queued_job.payload
        t0 = time.perf_counter()

        def on_fraction(fraction: float, name=job.name) -> None:
            on_running(len(results) + fraction, len(queued), name)

        try:
            induced = kept(networks, qpus, lambda: network.subnetwork(qpus), KEPT_NETWORKS)
            result = run_user_job(job, induced, comm=comm, backend=backend,
                                  seed=job_seed(seed, job.name), scheme=scheme, precision=precision,
                                  trajectories=trajectories, checkpointing=checkpointing,
                                  on_fraction=on_fraction if on_running is not None else None, plans=plans)
        finally:
            runs_s += time.perf_counter() - t0
        results[queued_job.job_id] = result
        stop_point()  # a stop signal now checkpoints the job's last engine run, before the next job starts
        if on_job:
            on_job(len(results), len(queued), job.name)
        return int(result.dqc_time_ps) + overhead_ps(job.shots, job_setup_ps, shot_reset_ps) + int(user_latency_ps)

    try:
        records = simulate_queue(queued, policy, centre, duration_of, limit_ps=MAX_CLOUD_QUEUE_PS)
    except QueueClockPassed as passed:
        raise DqsimError(_queue_clock_refusal(passed, results[passed.job.job_id], job_setup_ps, shot_reset_ps,
                                              user_latency_ps)) from None
    timing = {"runs": runs_s, "scheduling": time.perf_counter() - started - runs_s}
    return CloudRun(list(user_jobs), records, results, centre, queue_metrics(records, centre.num_qpus), policy,
                    user_latency_ps, timing, int(job_setup_ps), int(shot_reset_ps))


def queued_jobs(user_jobs: Sequence[UserJob], network: Network, centre: Centre, *, scheme: str = "telegate",
                user_latency_ps: int = 0, job_setup_ps: int = 0, shot_reset_ps: int = 0) -> list[QueuedJob]:
    """The user jobs as the scheduler sees them (job id = position), each with its refusal
    (:func:`circuit_refusal`) and estimate (:func:`estimate_duration_ps` on the QPUs it would get on the idle
    centre, plus :func:`overhead_ps`; a job that fits nowhere or is refused: latency and overheads only).

    Work is done once per distinct thing, not per job: one refusal and one execution estimate per circuit
    object and QPU set (jobs of one circuit share the object, :func:`user_jobs_of`), one idle QPU set per
    size, one table of hops per set, one placement per interaction graph (:func:`execution_estimate_ps`); the
    estimates are those a job-by-job computation gives.
    """
    node_names, node_specs = network.names, network.nodes
    pair_ps, swap_ps = _pair_ps(network, scheme), _swap_ps(network)
    late_pair_ps = _late_teledata_ps(network) if scheme == "teledata" else None
    teledata_ps = (_pair_ps(network, "teledata"), _late_teledata_ps(network))  # a dense gate run as TeleData
    idle_sets: dict[int, tuple[int, ...] | None] = {}  # size -> QPUs it gets on the idle centre
    hops_of: dict[tuple[int, ...], list[list[int]]] = {}  # idle set -> hops
    refusals: dict[int, str] = {}  # id(circuit) -> refusal ("" none)
    executions: dict[tuple[int, tuple[int, ...]], int] = {}  # (id(circuit), idle set) -> one execution, ps
    placements: dict = {}
    queued = []
    for job_id, job in enumerate(user_jobs):
        circuit, size = job.circuit, job.circuit.num_qubits
        refusal = refusals.get(id(circuit))
        if refusal is None:
            refusal = refusals[id(circuit)] = circuit_refusal(circuit) or ""
        if size not in idle_sets:
            idle_sets[size] = centre.select(size, range(centre.num_qpus))
        idle_set = idle_sets[size]
        overhead = overhead_ps(job.shots, job_setup_ps, shot_reset_ps)
        estimate = user_latency_ps + overhead
        if idle_set is not None and not refusal:
            one = executions.get((id(circuit), idle_set))
            if one is None:
                hops = hops_of.get(idle_set)
                if hops is None:
                    induced = network.subnetwork(idle_set)  # (hop counts on its arrays: no networkx graph)
                    hops = hops_of[idle_set] = [induced.hops_from(a) for a in range(len(idle_set))]
                one = executions[(id(circuit), idle_set)] = execution_estimate_ps(
                    circuit, capacities=[centre.data_qubits[q] for q in idle_set], node=node_specs[idle_set[0]],
                    pair_ps=pair_ps, hops=hops, placements=placements, swap_ps=swap_ps,
                    two_comm=[node_specs[q].num_comm_qubits >= 2 for q in idle_set], late_pair_ps=late_pair_ps,
                    teledata_ps=teledata_ps, scheme=scheme)
            estimate = min(one * max(job.shots, 1), MAX_ESTIMATE_PS) + int(user_latency_ps) + overhead
        queued.append(QueuedJob(job_id, job.name, size, job.submit_ps, estimate, job.priority, refusal=refusal,
                                payload=job))
    return queued


def _queue_clock_refusal(passed: QueueClockPassed, result: JobResult, job_setup_ps: int, shot_reset_ps: int,
                         user_latency_ps: int) -> str:
    """The one line of a run whose queue would pass the clock limit, 2**61 ps (:data:`MAX_CLOUD_QUEUE_PS`,
    the engine's, in the engine's words: :func:`~dqsim.engine.simulator.clock_refusal`): the job, its start,
    and the keys behind its time (its executions' simulated time, its QPU overheads, the users' latency)."""
    job: UserJob = passed.job.payload
    overhead = overhead_ps(job.shots, job_setup_ps, shot_reset_ps)
    what = (f"user job {job.name!r} ({count_of(job.shots, 'shot')}, started at {ps_to_seconds(passed.start_ps):.4g} s: "
            f"{result.num_executions:,} executions of {ps_to_seconds(result.execution_ps):.4g} s each, "
            f"{ps_to_seconds(overhead):.4g} s of set-up and resets, {ps_to_seconds(user_latency_ps):.4g} s to its "
            "user) would end at")
    return clock_refusal(what, passed.end_ps, "lower its shots, [scheduler].shot_reset_s or job_setup_s, or shorten "
                                              "[network.node]'s gate and measurement durations or the links")


def _recipe_of(section) -> tuple:
    """What the circuit of a ``[[user_jobs]]`` entry (a :class:`~dqsim.jobs.circuit.CircuitSection`) is made
    from: entries (and Poisson jobs) of one recipe share one circuit (:func:`user_jobs_of`)."""
    if section.qasm is not None:
        return ("qasm", section.qasm)
    if section.generator == "random":
        return ("random", section.num_qubits, section.depth, section.circuit_seed, section.measure)
    return (section.generator, section.num_qubits, section.measure)


def _circuit_of(recipe: tuple) -> Circuit:
    """The circuit of a recipe (:func:`_recipe_of`)."""
    kind = recipe[0]
    if kind == "qasm":
        return qasm_file.load_qasm_file(recipe[1])
    if kind == "random":
        _, num_qubits, depth, circuit_seed, measure = recipe
        return generators.random_circuit(num_qubits, depth, seed=circuit_seed, measure=measure)
    _, num_qubits, measure = recipe
    return generators.GENERATORS[kind](num_qubits, measure=measure)


def user_jobs_of(job) -> list[UserJob]:
    """The user jobs of a :class:`~dqsim.jobs.cloud.CloudJob`, by arrival (ties: listed, then Poisson order).

    Poisson jobs: exponential inter-arrival times of mean ``1/rate_hz`` from
    ``start_s``, each rounded to whole ps and added to a clock kept in integer ps (exact at any ``start_s``: a
    clock in float seconds has steps of 2**-34 s, about 58 ps, near 5·10**5 s, which swallowed or rounded the gaps
    of a fast stream; the rounding to ps is why ``rate_hz`` is at most
    :data:`~dqsim.jobs.cloud.MAX_ARRIVAL_RATE_HZ`), a generator drawn uniformly from ``generators``, a qubit count
    uniformly from ``num_qubits``, all from one event of the stream
    ``(seed, node 0, "cloud-arrivals")``; random circuits get a drawn seed. A Poisson job whose drawn arrival
    (with the QPUs' overheads and the users' latency) passes the queue's clock limit is refused here, before any
    job runs (:func:`_check_arrival`).

    Jobs of one circuit (the same generator and qubits, and for ``"random"`` the same depth and seed; the same
    QASM file) share one :class:`~dqsim.circuit.ir.Circuit` object, built once: a stream drawn from a few
    circuit kinds builds each once and holds it once (nothing changes a user job's circuit).
    """
    circuits: dict[tuple, Circuit] = {}

    def circuit_of(recipe: tuple) -> Circuit:
        circuit = circuits.get(recipe)
        if circuit is None:
            circuit = circuits[recipe] = _circuit_of(recipe)
        return circuit

    entries = []
    for section in job.user_jobs:
        try:
            circuit = circuit_of(_recipe_of(section))
        except CircuitError as exc:  # a QASM file's error names the file alone: say whose it is
            raise CircuitError(f"user job {section.name!r}: {exc}") from None
        entries.append(UserJob(section.name, circuit, section.shots, seconds_to_ps(section.arrival_s),
                               section.priority))
    arrivals = job.arrivals
    if arrivals is not None:
        rng = Stream(job.run.seed, node=0, purpose="cloud-arrivals").next_generator()
        low, high = arrivals.num_qubits
        now_ps = seconds_to_ps(arrivals.start_s)
        for name in arrivals.names():
            now_ps += seconds_to_ps(float(rng.exponential(1.0 / arrivals.rate_hz)))
            kind = arrivals.generators[int(rng.integers(len(arrivals.generators)))]
            num_qubits = int(rng.integers(low, high + 1))
            circuit_seed = int(rng.integers(0, 2**31))
            recipe = (("random", num_qubits, arrivals.depth, circuit_seed, True) if kind == "random"
                      else (kind, num_qubits, True))
            _check_arrival(job, name, now_ps)
            entries.append(UserJob(name, circuit_of(recipe), arrivals.shots, now_ps,
                                   arrivals.priority))
    order = sorted(range(len(entries)), key=lambda i: (entries[i].submit_ps, i))
    return [entries[i] for i in order]


def _check_arrival(job, name: str, arrival_ps: int) -> None:
    """Refuse a Poisson job whose drawn arrival, with the QPUs' set-up and resets and the users' latency, passes
    the queue's clock limit (:data:`~dqsim.jobs.cloud.MAX_CLOUD_QUEUE_PS`, 2**61 ps), before any job runs: the
    load check (:meth:`~dqsim.jobs.cloud.CloudJob.least_end_ps`) sees ``[arrivals].start_s`` and the mean span
    ``num_jobs / rate_hz`` only, and an exponential draw may pass the limit (one job at 10**-6 Hz does with
    probability e**-2.3, 10 %).

    Raises:
        ConfigError: one line naming ``[arrivals].rate_hz``, the job, its arrival and the limit.
    """
    end_ps = job.least_end_ps(arrival_ps, job.arrivals.shots)
    if end_ps <= MAX_CLOUD_QUEUE_PS:
        return
    prefix, limit = f"{job.source}: " if job.source else "", clock_limit_allowed_by("the run's clock")
    arrival_s = ps_to_seconds(arrival_ps)
    raise ConfigError(
        f"{prefix}[arrivals].rate_hz = {job.arrivals.rate_hz:g}: the Poisson job {name!r} arrives at {arrival_s:.4g} s "
        f"(drawn with [run].seed = {job.run.seed}) and holds its QPUs until at least {ps_to_seconds(end_ps):.4g} s "
        f"(with [scheduler].job_setup_s, shot_reset_s and [user]'s latency), past the "
        f"{limit}; raise rate_hz or lower num_jobs or start_s")


def _time_text(ps: float, *, like: float | None = None) -> str:
    """A duration for a person: ``12.3 µs``, in the unit that suits ``like`` (default: ``ps`` itself).

    Times shown side by side pass the largest as ``like``, so they share one unit
    (``wait 0 ms, start 0.01 ms, end 15.9 ms``, not ``wait 0 ps, start 10 µs, ...``).
    """
    if ps is None or not math.isfinite(ps):
        return "n/a"
    reference = ps if like is None or not math.isfinite(like) else like
    for unit, scale in (("s", PS_PER_S), ("ms", PS_PER_MS), ("µs", PS_PER_US), ("ns", PS_PER_NS)):
        if abs(reference) >= scale:
            return f"{ps / scale:.3g} {unit}"
    return f"{ps:.3g} ps"


def _seconds(ps: int | None) -> float:
    return math.nan if ps is None else ps_to_seconds(ps)


def cloud_tables(run: CloudRun, rank: int = WRITING_RANK) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """The output tables ``jobs``, ``counts``, ``centre``, ``wait_distribution``, ``timing`` and their units;
    ``centre`` on the rank that writes the run file alone (``rank``, :data:`~dqsim.scenarios.output.WRITING_RANK`:
    its width walks every QPU's name, as :func:`~dqsim.scenarios.output.node_names_table`'s does; on every rank
    until 2026-12-07 (later)).

    In ``jobs``: ``executions`` (the shots, at least 1), ``engine_runs`` and
    ``sampling`` (:func:`run_user_job`), ``dqc_s`` the simulated time of all
    the executions, ``overhead_s`` the set-up and resets between them
    (:func:`overhead_ps`; ``end_s - start_s`` is ``dqc_s + overhead_s`` plus
    the user latency),
    ``execution_s`` the mean time of one, ``epr_pairs`` those of all the
    executions, ``fidelity`` the mean over the engine runs and
    ``fidelity_stderr`` its standard error (NaN with one run).
    """
    names = run.centre.names
    job_rows, count_rows = [], []
    for job_id, (job, record) in enumerate(zip(run.jobs, run.records)):
        result = run.results.get(job_id)
        queued = record.job
        job_rows.append((
            job_id, job.name, job.circuit.name, ",".join(names[q] for q in record.qpus), len(record.qpus),
            job.circuit.num_qubits, job.shots, result.num_executions if result else 0,
            result.engine_runs if result else 0, result.sampling if result else "", job.priority,
            _seconds(queued.submit_ps), _seconds(record.start_ps), _seconds(record.end_ps),
            _seconds(record.wait_ps), _seconds(queued.estimate_ps),
            _seconds(result.dqc_time_ps) if result else math.nan,
            ps_to_seconds(overhead_ps(job.shots, run.job_setup_ps, run.shot_reset_ps)) if result else math.nan,
            ps_to_seconds(result.execution_ps) if result else math.nan,
            result.epr_pairs if result else 0, result.num_nonlocal_gates if result else 0,
            result.fidelity if result else math.nan, result.fidelity_stderr if result else math.nan,
            record.status, record.reason))
        if result:
            count_rows.extend((job_id, bits, count) for bits, count in result.counts.items())
    tables = {
        "jobs": record_table(job_rows, [
            ("id", "i8"), ("name", "U"), ("circuit", "U"), ("qpus", "U"), ("num_qpus", "i8"),
            ("num_qubits", "i8"), ("shots", "i8"), ("executions", "i8"), ("engine_runs", "i8"), ("sampling", "U"),
            ("priority", "i8"), ("submit_s", "f8"), ("start_s", "f8"), ("end_s", "f8"), ("wait_s", "f8"),
            ("estimate_s", "f8"), ("dqc_s", "f8"), ("overhead_s", "f8"), ("execution_s", "f8"), ("epr_pairs", "i8"),
            ("nonlocal_gates", "i8"), ("fidelity", "f8"), ("fidelity_stderr", "f8"), ("status", "U"),
            ("reason", "U")]),
        "counts": record_table(count_rows, [("job_id", "i8"), ("bitstring", "U"), ("count", "i8")]),
    }
    if rank == WRITING_RANK:
        tables["centre"] = centre_table(run)
    waits = np.array([ps_to_seconds(r.wait_ps) for r in run.records if r.wait_ps is not None], dtype=np.float64)
    rows = []
    if waits.size:
        top = float(waits.max())
        if top > 0:
            numbers, edges = np.histogram(waits, bins=min(WAIT_BINS, waits.size), range=(0.0, top))
            rows = [(float(edges[i]), float(edges[i + 1]), int(numbers[i])) for i in range(len(numbers))]
        else:
            rows = [(0.0, 0.0, int(waits.size))]
    tables["wait_distribution"] = record_table(rows, [("wait_from_s", "f8"), ("wait_to_s", "f8"),
                                                      ("num_jobs", "i8")])
    tables["timing"] = record_table(list(run.timing_s.items()), [("stage", "U"), ("seconds", "f8")])
    return tables, {}  # every unit is in a column's name (dqsim.io.units)


def centre_table(run: CloudRun) -> TableInPieces:
    """The run file's ``centre`` table, one row per QPU in index order: ``qpu`` (its name), ``data_qubits``,
    ``num_jobs`` (jobs started on it), ``busy_s`` (Σ ``end - start`` of those jobs, s) and ``utilisation``
    (``busy_s`` over the makespan, NaN for a zero makespan), as a
    :class:`~dqsim.scenarios.output.TableInPieces`: the per-QPU counts are two arrays (8 bytes a QPU each, one
    pass over the jobs), and the rows, names included (:func:`~dqsim.network.node.names_at`), are made a piece at
    a time as the writer asks for them. Until 2026-12-07 (later) a Python tuple per QPU, and the table built whole
    from them, on every rank. The seconds are the integer picoseconds over 10^12, as
    :func:`~dqsim.units.ps_to_seconds` gives them (the same float below 2^53 ps).

    Examples:
        >>> from types import SimpleNamespace
        >>> centre = Centre.from_edges(3, [(0, 1), (1, 2)], data_qubits=[2, 2, 4], names=("a", "bb", "c"))
        >>> held = SimpleNamespace(start_ps=0, end_ps=2 * PS_PER_S, qpus=(0, 2))
        >>> run = SimpleNamespace(centre=centre, records=[held, SimpleNamespace(start_ps=None, qpus=())],
        ...                       metrics={"makespan_ps": 4 * PS_PER_S})
        >>> centre_table(run).tolist()
        [('a', 2, 1, 2.0, 0.5), ('bb', 2, 0, 0.0, 0.0), ('c', 4, 1, 2.0, 0.5)]
    """
    names, makespan = run.centre.names, run.metrics["makespan_ps"]
    num_qpus = len(names)
    held, busy_ps = np.zeros(num_qpus, dtype=np.int64), np.zeros(num_qpus, dtype=np.int64)
    for record in run.records:  # one pass over the jobs, not one per QPU
        if record.start_ps is not None:
            for qpu in record.qpus:
                held[qpu] += 1
                busy_ps[qpu] += record.end_ps - record.start_ps
    data_qubits = run.centre.data_qubits
    dtype = np.dtype([("qpu", f"U{max(longest_name(names), 1)}"), ("data_qubits", "i8"), ("num_jobs", "i8"),
                      ("busy_s", "f8"), ("utilisation", "f8")])

    def rows(start: int, stop: int) -> np.ndarray:
        piece = np.empty(stop - start, dtype=dtype)
        piece["qpu"] = names_at(names, np.arange(start, stop))
        piece["data_qubits"], piece["num_jobs"] = qubit_column(data_qubits[start:stop]), held[start:stop]
        piece["busy_s"] = busy_ps[start:stop] / PS_PER_S
        piece["utilisation"] = busy_ps[start:stop] / makespan if makespan > 0 else math.nan
        return piece

    return TableInPieces(dtype, num_qpus, rows)


def cloud_attrs(run: CloudRun) -> dict:
    """Root attributes: the centre's metrics in seconds (NaN where undefined). The QPUs' names are the run file's
    ``node_names`` dataset (:func:`~dqsim.scenarios.output.add_node_names`); until 2026-12-07 (later) they were
    the root attributes ``qpu_names`` and ``node_names``, each a JSON list of every name."""
    m = run.metrics
    per_s = m["throughput_per_ps"] * PS_PER_S
    return {
        "policy": run.policy,
        "num_qpus": run.centre.num_qpus,
        "qpu_data_qubits": qubit_column(run.centre.data_qubits),
        "user_latency_ps": int(run.user_latency_ps),
        "job_setup_ps": int(run.job_setup_ps),
        "shot_reset_ps": int(run.shot_reset_ps),
        "num_jobs": len(run.jobs),
        "num_done": int(m["num_done"]),
        "num_failed": int(m["num_failed"]),
        "num_rejected": int(m["num_rejected"]),
        "makespan_s": ps_to_seconds(m["makespan_ps"]),
        "utilisation": float(m["utilisation"]),
        "throughput_jobs_per_s": float(per_s),
        "mean_wait_s": ps_to_seconds(m["mean_wait_ps"]),
        "median_wait_s": ps_to_seconds(m["median_wait_ps"]),
        "max_wait_s": ps_to_seconds(m["max_wait_ps"]),
        "total_epr_pairs": int(sum(r.epr_pairs for r in run.results.values())),
        "total_executions": int(sum(r.num_executions for r in run.results.values())),
        "total_engine_runs": int(sum(r.engine_runs for r in run.results.values())),
    }


def cloud_summary(run: CloudRun, scheme: str, *, note: str = "") -> list[str]:
    """Lines for a person: the centre, the metrics, how shots are sampled (``note``, :func:`sampling_note`),
    then the first jobs."""
    m = run.metrics
    names = run.centre.names
    lines = [
        f"  centre: {count_of(run.centre.num_qpus, 'QPU')}, policy {run.policy}, {scheme}; results reach users "
        f"{_time_text(run.user_latency_ps)} after a run"
        + (f"; QPUs held {_time_text(run.job_setup_ps)} per job before its first shot and "
           f"{_time_text(run.shot_reset_ps)} between shots" if run.job_setup_ps or run.shot_reset_ps else ""),
        f"  jobs: {int(m['num_done'])} done, {int(m['num_failed'])} failed, {int(m['num_rejected'])} rejected; "
        f"makespan {_time_text(m['makespan_ps'])}, utilisation {m['utilisation']:.3f}, "
        f"throughput {m['throughput_per_ps'] * PS_PER_S:.4g} jobs/s",
        f"  wait: mean {_time_text(m['mean_wait_ps'], like=m['max_wait_ps'])}, "
        f"median {_time_text(m['median_wait_ps'], like=m['max_wait_ps'])}, max {_time_text(m['max_wait_ps'])}",
    ]
    if note:
        lines.append(f"  shots: {note}")
    for job_id, (job, record) in enumerate(zip(run.jobs, run.records)):
        if job_id == SUMMARY_JOBS:
            lines.append(f"  ... {count_of(len(run.jobs) - SUMMARY_JOBS, 'more job')} in the 'jobs' table")
            break
        head = f"  {job.name} ({job.circuit.name}, {count_of(job.circuit.num_qubits, 'qubit')})"
        if record.status == "rejected":
            lines.append(f"{head}: rejected: {record.reason}")
            continue
        where = ",".join(names[q] for q in record.qpus)
        if record.status == "failed":
            lines.append(f"{head} on {where}: failed: {record.reason}")
            continue
        result = run.results[job_id]
        fidelity = f"F={result.fidelity:.6f}"
        if math.isnan(result.fidelity):
            fidelity = f"no fidelity (a dynamic circuit, {count_of(result.engine_runs, 'run')})"
        elif result.engine_runs > 1:
            fidelity += f" ± {result.fidelity_stderr:.6f} ({result.sampling}, {count_of(result.engine_runs, 'run')})"
        lines.append(f"{head} on {where}: wait {_time_text(record.wait_ps, like=record.end_ps)}, "
                     f"start {_time_text(record.start_ps, like=record.end_ps)}, end {_time_text(record.end_ps)}, "
                     f"{count_of(result.num_executions, 'execution')} of {_time_text(result.execution_ps)}, "
                     f"{fidelity}, {count_of(result.epr_pairs, 'EPR pair')}")
    return lines


def memory_bytes(user_jobs: Sequence[UserJob]) -> int:
    """Memory a run of ``user_jobs`` holds for them on every rank by its end, bytes, estimated:
    :data:`BYTES_PER_USER_JOB` per job and :data:`BYTES_PER_INSTRUCTION` per instruction of each distinct
    circuit (jobs of one circuit share it, :func:`user_jobs_of`). Besides it: the interpreter and its libraries,
    one user job's register at a time, and the networks of QPU sets and plans the run keeps (:func:`plan_of`;
    at most :data:`KEPT_NETWORKS` and :data:`KEPT_PLANS` whatever the jobs: about 15 kB a 2-QPU network with
    a plan of a 4-qubit circuit, tracemalloc, 2026-12-06, and a plan's ideal registers, 16 KiB at most each,
    :data:`~dqsim.scenarios.dqc.KEPT_REFERENCE_MAX_QUBITS`).

    Examples:
        >>> from dqsim.circuit.generators import ghz
        >>> circuit = ghz(3, measure=True)
        >>> memory_bytes([UserJob(f"j{i}", circuit, 10, 0) for i in range(1000)]) == 1000 * BYTES_PER_USER_JOB + 6 * 270
        True
    """
    circuits = {id(job.circuit): job.circuit for job in user_jobs}
    return (len(user_jobs) * BYTES_PER_USER_JOB
            + BYTES_PER_INSTRUCTION * sum(len(circuit.instructions) for circuit in circuits.values()))


@dataclass(frozen=True)
class LargestRegister:
    """The largest register of a ``cloud`` run's user jobs (:func:`largest_register`).

    Attributes:
        name: the user job that holds it; ``num_data_qubits`` its circuit's qubits; ``num_qubits`` the register's
            qubits at most (data, scratch and communication qubits); ``exact``: every run of it holds that many.
    """

    name: str
    num_data_qubits: int
    num_qubits: int
    exact: bool


#: The most connected QPU sets of one size whose plans :func:`largest_register` compares (more: every pair of a
#: user job taken as possibly routed, on the one set the idle centre gives it).
MAX_REGISTER_SETS = 32


def largest_register(user_jobs: Sequence[UserJob], network: Network, *, scheme: str = "telegate"
                     ) -> LargestRegister | None:
    """The largest register a user job's engine run holds, at most: for each distinct circuit that the centre
    does not refuse (:func:`circuit_refusal`) and that fits, its qubits plus
    :data:`~dqsim.scenarios.dqc.INITIAL_SCRATCH_QUBITS` and the most
    :func:`~dqsim.scenarios.dqc.extra_register_qubits` of its plans on the QPU sets the queue may give it (every
    QPU alike, so always as many QPUs, breadth-first: any connected set of that size; those of one shape, the
    routes between the set's QPUs in index order and their qubits, share one plan); where there are more than
    :data:`MAX_REGISTER_SETS` of them, its plan on the set the idle centre gives it with every pair taken as
    possibly routed. ``None``: no job runs. ``dqsim check`` counts memory with it.

    Examples:
        >>> from dqsim.circuit.generators import ghz
        >>> from dqsim.network.link import LinkSpec
        >>> nodes = [NodeSpec(name=f"q{i}", num_data_qubits=2, num_comm_qubits=2) for i in range(3)]
        >>> net = Network.from_links(nodes, [(0, 1, LinkSpec(distance_km=1.0)), (1, 2, LinkSpec(distance_km=1.0))])
        >>> largest_register([UserJob("a", ghz(4), 10, 0), UserJob("b", ghz(6), 10, 0)], net)
        LargestRegister(name='b', num_data_qubits=6, num_qubits=9, exact=False)
    """
    centre = Centre.from_edges(network.num_nodes, network.link_ends(), data_qubits=node_qubits(network.nodes),
                               names=network.names)  # (arrays, no tuples: dqsim check builds it at full size)
    largest, seen, shapes = None, set(), {}
    for job in user_jobs:
        circuit = job.circuit
        if id(circuit) in seen or circuit_refusal(circuit):
            continue
        seen.add(id(circuit))
        idle = centre.select(circuit.num_qubits, range(centre.num_qpus))
        if idle is None:
            continue
        if len(idle) not in shapes:
            shapes[len(idle)] = _set_shapes(centre, network, len(idle))
        candidates = shapes[len(idle)] or [idle]
        bounds = []
        for qpus in candidates:
            try:
                prepared = plan_dqc(circuit, network.subnetwork(qpus), scheme=scheme)
            except DqsimError:  # (the run fails the job before its register is made)
                continue
            bounds.append(extra_register_qubits(prepared, routes_known=shapes[len(idle)] is not None))
        if not bounds:
            continue
        extra = max(found for found, _exact in bounds)
        exact = all(found == extra and is_exact for found, is_exact in bounds)
        found = LargestRegister(job.name, circuit.num_qubits, circuit.num_qubits + INITIAL_SCRATCH_QUBITS + extra,
                                exact)
        if largest is None or found.num_qubits > largest.num_qubits:
            largest = found
    return largest


def _set_shapes(centre: Centre, network: Network, size: int) -> list[tuple[int, ...]] | None:
    """One connected set of ``size`` QPUs of each shape, or ``None`` where the centre has more than
    :data:`MAX_REGISTER_SETS` connected sets of that size (enumerated as Wernicke's ESU does, Bioinformatics 22,
    1152 (2006): each set once). A shape (:func:`_shape`) is all that :func:`~dqsim.scenarios.dqc.plan_dqc` reads
    of the set's subnetwork: its nodes' qubits and the route between each pair of its QPUs (by their positions in
    the sorted set); the routes follow the links' lengths, so sets with the same links may route differently
    (until 2026-12-07 (late afternoon) a shape was the links alone, and check could count fewer qubits than the
    run held)."""
    neighbours = centre.neighbours
    found: set[tuple[int, ...]] = set()

    def extend(chosen: set[int], candidates: set[int], root: int) -> bool:
        if len(chosen) == size:
            found.add(tuple(sorted(chosen)))
            return len(found) <= MAX_REGISTER_SETS
        candidates = set(candidates)
        while candidates:
            qpu = candidates.pop()
            near = {n for q in chosen for n in neighbours[q]} | chosen
            more = {n for n in neighbours[qpu] if n > root and n not in near}
            if not extend(chosen | {qpu}, candidates | more, root):
                return False
        return True

    for root in range(centre.num_qpus):
        if not extend({root}, {n for n in neighbours[root] if n > root}, root):
            return None
    shapes = {}
    for qpus in sorted(found):
        shapes.setdefault(_shape(network.subnetwork(qpus)), qpus)
    return list(shapes.values())


def _shape(induced: Network) -> tuple:
    """What :func:`~dqsim.scenarios.dqc.plan_dqc` reads of ``induced`` (a QPU set's subnetwork), so sets of
    one shape share one plan: each node's data and communication qubits, and the route between each pair of
    nodes (node positions in ``induced``)."""
    qubits = tuple((spec.num_data_qubits, spec.num_comm_qubits) for spec in induced.nodes)
    count = induced.num_nodes
    return qubits, tuple(_route_or_none(induced, a, b) for a in range(count) for b in range(a + 1, count))


def _route_or_none(induced: Network, a: int, b: int) -> tuple[int, ...] | None:
    """The route from ``a`` to ``b`` in ``induced``, or ``None`` where it has none (``routed=False`` and no
    link: the plan refuses a gate between them alike on every such set)."""
    try:
        return tuple(induced.route(a, b))
    except DqsimError:
        return None


def num_engine_runs(job, *, noisy: bool = True, user_jobs: Sequence[UserJob] | None = None) -> int:
    """The most engine runs a run of ``job`` takes: each user job's :func:`engine_runs` as on noisy QPUs
    (on noiseless ones a job without mid-circuit measurements takes one; a job that fails stops early).
    ``user_jobs``: the job's :func:`user_jobs_of`, if the caller has them.
    With ``noisy=False`` (a centre that draws no noise anywhere,
    :func:`~dqsim.scenarios.dqc.is_noisy` of its network) the runs as on noiseless QPUs.

    Raises:
        DqsimError: a user job's circuit cannot be built (as the run would refuse it).
    """
    trajectories = job.simulation.trajectories
    return sum(engine_runs(user.shots, noisy, trajectories, dynamic=not user.circuit.measurements_are_terminal())
               for user in (user_jobs_of(job) if user_jobs is None else user_jobs))


def run_job(job, *, comm, backend, on_progress=None, checkpointing=None) -> ScenarioOutput:
    """Run a ``cloud`` job (a :class:`dqsim.jobs.cloud.CloudJob`) and shape its output (collective).

    With ``checkpointing``, a stop signal during the work after the last user
    job's last engine run (the rest of the queue's scheduling, the tables, the
    summary; then before and during the output write, :mod:`dqsim.cli.main`)
    checkpoints that finished run
    (:meth:`~dqsim.engine.checkpoint.CheckpointSession.stop_point`, exit
    status 75): the resume runs no event again, redoes that run's fidelity
    check and sampling, and the work after it.
    """
    network = job_network(job.network, comm.size, source=job.source)
    network.check_pairing_horizon(job.source)  # before any user job runs
    names = network.names
    user_jobs = user_jobs_of(job)

    def on_job(done: int, total: int, name: str) -> None:
        if on_progress:
            on_progress(done, total, f"user jobs (ran {name})")

    def on_running(done: float, total: int, name: str) -> None:  # one stage with on_job's (progress.stage_of)
        on_progress(done, total, f"user jobs (running {name})")

    trajectories = job.simulation.trajectories
    run = run_cloud(user_jobs, comm=comm, backend=backend, network=network, policy=job.scheduler.policy,
                    seed=job.run.seed, user_latency_ps=job.user_latency_ps(),
                    scheme=job.scheduler.distribution, precision=job.run.precision, trajectories=trajectories,
                    on_job=on_job,
                    on_running=on_running if on_progress else None, checkpointing=checkpointing,
                    job_setup_ps=seconds_to_ps(job.scheduler.job_setup_s),
                    shot_reset_ps=seconds_to_ps(job.scheduler.shot_reset_s))
    stop_point = checkpoint.stop_point_of(checkpointing)
    stop_point()
    tables, table_attrs = cloud_tables(run, comm.rank)
    add_node_names(tables, names, comm.rank)  # (made a piece at a time by the rank that writes)
    stop_point()
    attrs = {**cloud_attrs(run), "distribution_scheme": job.scheduler.distribution,
             "topology": job.network.topology}
    noisy = is_noisy(network)
    note = sampling_note(noisy, trajectories)
    attrs.update(sampling="final-state" if not noisy else "per-shot" if trajectories == PER_SHOT else "trajectories",
                 trajectories=trajectories, sampling_note=note)
    summary = cloud_summary(run, job.scheduler.distribution, note=note)
    stop_point()
    return ScenarioOutput(attrs, tables, table_attrs, None, summary)
