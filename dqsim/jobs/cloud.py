"""Job files of the ``"cloud"`` scenario: a centre of networked QPUs serving a stream of user jobs.

Sections (see ``jobs/cloud_queue.toml``):

* ``[network]`` with ``[network.link]`` and ``[network.node]``: the centre,
  as for the ``"dqc"`` scenario (:class:`~dqsim.jobs.network.NetworkSection`);
  ``placement`` is not used (each user job's QPUs are placed on the ranks
  like a ``dqc`` run of its own).
* ``[scheduler]``: ``policy`` and the ``distribution`` scheme of every job.
* ``[[user_jobs]]``: jobs listed one by one, each a circuit
  (:class:`~dqsim.jobs.circuit.CircuitSection` keys: ``generator`` +
  ``num_qubits`` (+ ``depth``, ``circuit_seed``) or ``qasm``, relative to the
  job file) plus ``name``, ``shots``, ``priority`` and ``arrival_s``;
* ``[arrivals]``: jobs arriving as a Poisson process;
* ``[user]``: the classical link back to the users (``distance_km`` or ``latency_s``);
* ``[simulation]``: ``trajectories``, the engine runs of a user job on noisy QPUs.

Give ``[[user_jobs]]``, ``[arrivals]`` or both. Errors are one line naming
the key, as for every job file (:mod:`dqsim.jobs.errors`).

Examples:
    >>> from dqsim.jobs import load_job_text
    >>> job = load_job_text('''
    ... [run]
    ... name = "c"
    ... scenario = "cloud"
    ... [network]
    ... topology = "line"
    ... num_nodes = 4
    ... [network.link]
    ... distance_km = 1.0
    ... [network.node]
    ... num_data_qubits = 2
    ... num_comm_qubits = 2
    ... [scheduler]
    ... policy = "backfill"
    ... [[user_jobs]]
    ... generator = "ghz"
    ... num_qubits = 4
    ... [user]
    ... distance_km = 10.0
    ... ''')
    >>> type(job).__name__, job.user_jobs[0].name, job.scheduler.policy, job.user_latency_ps()
    ('CloudJob', 'job0', 'backfill', 48967209)
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from dqsim.jobs.base import JobConfig
from dqsim.jobs.circuit import MAX_GENERATOR_QUBITS, CircuitSection
from dqsim.jobs.errors import job_error
from dqsim.jobs.network import NetworkSection
from dqsim.jobs.schema import Section, bounded_int, bounded_real, checked_name, format_number
from dqsim.network.fibre import propagation_delay_ps
from dqsim.network.network import PROTOCOL_CLOCK_LIMIT_PS, clock_limit_allowed_by
from dqsim.units import ps_to_seconds, seconds_to_ps

__all__ = ["CloudJob", "SchedulerSection", "UserJobSection", "ArrivalsSection", "UserSection",
           "CloudSimulationSection", "CLOUD_POLICIES", "MAX_CLOUD_JOBS", "DEFAULT_CLOUD_TRAJECTORIES",
           "PER_SHOT"]

#: Policies of ``[scheduler].policy`` (:mod:`dqsim.scenarios.cloud_scheduler`).
CLOUD_POLICIES = ("fifo", "sjf", "backfill")
#: Most user jobs of one run (listed and Poisson together): 10**6. Each holds a few kB on every rank until the run
#: ends (its queue entry, record, result and table rows, and its circuit unless it shares one;
#: :func:`dqsim.scenarios.cloud.memory_bytes`, which ``dqsim check`` reports), so 10**6 jobs take a few GB.
MAX_CLOUD_JOBS = 10**6
#: Most shots of one user job.
MAX_CLOUD_SHOTS = 10**8
#: Largest priority magnitude.
MAX_PRIORITY = 10**6
#: Latest arrival and longest overhead or latency of the centre, s: 10**6 s (11.6 days), within the engine's clock
#: limit (2**61 ps, about 26.7 days), which the queue's times must fit too (:data:`MAX_CLOUD_QUEUE_PS`).
MAX_CLOUD_TIME_S = 10**6
#: Latest time the queue's clock may reach, ps: the engine's clock limit, 2**61 ps
#: (:data:`dqsim.network.network.PROTOCOL_CLOCK_LIMIT_PS`). A job whose arrival and QPU overheads alone pass it
#: (``arrival_s + job_setup_s + (shots - 1) * shot_reset_s``, plus the users' latency) is refused at load
#: (:meth:`CloudJob.least_end_ps`); one whose executions take it past is refused when the queue gets there
#: (:func:`dqsim.scenarios.cloud.run_cloud`).
MAX_CLOUD_QUEUE_PS = PROTOCOL_CLOCK_LIMIT_PS
#: Longest fibre to the users, km: light takes about 490 s through it.
MAX_USER_DISTANCE_KM = 10**8
#: Engine runs (trajectories) of a user job on noisy QPUs when ``[simulation].trajectories`` is not set.
DEFAULT_CLOUD_TRAJECTORIES = 10
#: Most trajectories of one user job (as many as it may have shots).
MAX_CLOUD_TRAJECTORIES = MAX_CLOUD_SHOTS
#: ``[simulation].trajectories`` value: one engine run per shot.
PER_SHOT = "per_shot"
#: Name prefix of Poisson jobs: ``poisson0``, ``poisson1``, ...
POISSON_PREFIX = "poisson"
#: Highest ``[arrivals].rate_hz``, Hz: a mean gap of 10 ps. The queue's clock counts whole ps, so each drawn gap
#: ``X`` (exponential of mean ``μ = 10**12 / rate_hz`` ps) becomes ``Y = round(X)``, whose mean is
#: ``Σ_{k>=1} P(X >= k - 1/2) = 1 / (2 sinh(1/(2μ))) = μ(1 - 1/(24μ²) + ...)`` and whose variance is
#: ``μ² + 1/6 + O(1/μ²)`` (summed over the rounded law). At ``μ >= 10`` ps both the mean and the standard
#: deviation of the rounded gaps are within 10**-3 of the exponential law's (9.9958 and 10.0083 ps at 10 ps); at
#: 1 ps they are 4 % and 7.5 % off and 39 % of the gaps are 0.
MAX_ARRIVAL_RATE_HZ = 1e11


class SchedulerSection(Section):
    """``[scheduler]``: how the centre runs its queue.

    Attributes:
        policy: ``"fifo"``, ``"sjf"`` (shortest estimated job first) or
            ``"backfill"`` (EASY backfilling); default ``"fifo"``. See
            :mod:`dqsim.scenarios.cloud_scheduler` for the exact rules.
        distribution: ``"telegate"`` (default) or ``"teledata"``: how each
            job's nonlocal gates are done.
        job_setup_s: time the QPUs of a job are held before its first
            execution (loading the compiled circuit, calibration), s, 0..10**6
            (default 0).
        shot_reset_s: time between two executions of a job on its QPUs
            (qubit reset, readout and re-initialisation: ~1-100 µs for active
            reset of superconducting qubits, ~1 ms for trapped ions), s, 0..10**6
            (default 0); a job of N shots adds it N − 1 times.
    """

    policy: Literal["fifo", "sjf", "backfill"] = "fifo"
    distribution: Literal["telegate", "teledata"] = "telegate"
    job_setup_s: bounded_real(0.0, MAX_CLOUD_TIME_S) = 0.0
    shot_reset_s: bounded_real(0.0, MAX_CLOUD_TIME_S) = 0.0


class UserJobSection(CircuitSection):
    """One ``[[user_jobs]]`` entry: a circuit (as ``[circuit]``) and how the user submits it.

    Attributes:
        name: label, unique among the run's jobs; 1..64 letters, digits,
            ``_``, ``-``, ``.``; default ``job<i>`` (i its position in the list).
        shots: samples of its measured qubits, 0..10**8 (default 1000); each
            is one execution of the circuit on the job's QPUs
            (:class:`CloudSimulationSection`).
        priority: higher runs first, -10**6..10**6 (default 0).
        arrival_s: when the job reaches the centre, s, 0..10**6 (default 0; the simulated
            clock counts int64 picoseconds).
    """

    name: str = ""  # filled with job<i> before validation
    shots: bounded_int(0, MAX_CLOUD_SHOTS) = 1000
    priority: bounded_int(-MAX_PRIORITY, MAX_PRIORITY) = 0
    arrival_s: bounded_real(0.0, MAX_CLOUD_TIME_S) = 0.0

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        return checked_name(name)


class ArrivalsSection(Section):
    """``[arrivals]``: user jobs arriving as a Poisson process (seeded by ``[run].seed``).

    Inter-arrival times are exponential with mean ``1 / rate_hz``; each job
    takes a generator uniformly from ``generators`` and a qubit count
    uniformly from ``num_qubits = [low, high]``. Jobs are named
    ``poisson0``, ``poisson1``, ... in arrival order.

    Attributes:
        process: ``"poisson"`` (the only one).
        rate_hz: mean arrivals per second, in (0, 10**11] (a mean gap of at least 10 ps: the gaps are
            rounded to whole ps, :data:`MAX_ARRIVAL_RATE_HZ`); ``start_s + num_jobs / rate_hz`` at most 10**6 s (a drawn
            arrival whose job would end past the queue's clock limit, 2**61 ps, is refused before any job runs:
            :func:`dqsim.scenarios.cloud.user_jobs_of`).
        num_jobs: how many jobs arrive, 1..10**6 (with ``[[user_jobs]]``, at most 10**6 in all).
        generators: circuit generators to draw from (``"ghz"``, ``"qft"``,
            ``"random"``; repeats weigh a generator more); default all three.
        num_qubits: ``[low, high]``, 1 <= low <= high <= 40.
        depth: layers of random circuits, 1..10_000 (default 10).
        shots: shots of every job, 0..10**8 (default 1000).
        priority: priority of every job (default 0).
        start_s: time of the process's start, s, 0..10**6 (default 0); the first
            job arrives one inter-arrival time later.
    """

    process: Literal["poisson"] = "poisson"
    rate_hz: bounded_real(0.0, MAX_ARRIVAL_RATE_HZ, low_open=True)
    num_jobs: bounded_int(1, MAX_CLOUD_JOBS)
    generators: list[Literal["ghz", "qft", "random"]] = Field(default_factory=lambda: ["ghz", "qft", "random"])
    num_qubits: list[bounded_int(1, MAX_GENERATOR_QUBITS)]
    depth: bounded_int(1, 10_000) = 10
    shots: bounded_int(0, MAX_CLOUD_SHOTS) = 1000
    priority: bounded_int(-MAX_PRIORITY, MAX_PRIORITY) = 0
    start_s: bounded_real(0.0, MAX_CLOUD_TIME_S) = 0.0

    @model_validator(mode="after")
    def _check_lists(self) -> "ArrivalsSection":
        if not self.generators:
            raise job_error('must list at least one generator ("ghz", "qft", "random")',
                            key=("generators",), value=self.generators, has_value=True)
        if len(self.num_qubits) != 2 or self.num_qubits[0] > self.num_qubits[1]:
            raise job_error(f"must be [low, high] with 1 <= low <= high <= {MAX_GENERATOR_QUBITS}",
                            key=("num_qubits",), value=self.num_qubits, has_value=True)
        span_s = self.start_s + self.num_jobs / self.rate_hz
        if span_s > MAX_CLOUD_TIME_S:
            raise job_error(f"{self.num_jobs} jobs at this rate arrive over {span_s:.3g} s on average (with "
                            f"start_s), more than the {format_number(MAX_CLOUD_TIME_S)} s a run allows (its clock "
                            "counts int64 picoseconds); raise the rate or lower num_jobs",
                            key=("rate_hz",), value=self.rate_hz, has_value=True)
        return self

    def names(self) -> list[str]:
        """Names of the Poisson jobs, in arrival order."""
        return [f"{POISSON_PREFIX}{index}" for index in range(self.num_jobs)]

    def index_of(self, name: str) -> int | None:
        """The arrival index of the Poisson job called ``name`` (``None``: no Poisson job is), without listing
        the names (there may be 10**6).

        Examples:
            >>> arrivals = ArrivalsSection(rate_hz=1.0, num_jobs=3, num_qubits=[1, 2])
            >>> arrivals.index_of("poisson2"), arrivals.index_of("poisson3"), arrivals.index_of("poisson02")
            (2, None, None)
        """
        digits = name[len(POISSON_PREFIX):]
        if not (name.startswith(POISSON_PREFIX) and digits.isascii() and digits.isdigit()):
            return None
        index = int(digits)
        return index if digits == str(index) and index < self.num_jobs else None


class UserSection(Section):
    """``[user]``: the classical link that brings results back to the users.

    Give at most one of the keys (neither: results arrive at once).

    Attributes:
        distance_km: fibre length to the users, km, 0..10**8; the latency is
            n_g·L/c with the group index of ``[network.link]``.
        latency_s: the latency itself, s, 0..10**6.
    """

    distance_km: Optional[bounded_real(0.0, MAX_USER_DISTANCE_KM)] = None
    latency_s: Optional[bounded_real(0.0, MAX_CLOUD_TIME_S)] = None

    @model_validator(mode="after")
    def _check_one(self) -> "UserSection":
        if self.distance_km is not None and self.latency_s is not None:
            raise job_error("give distance_km or latency_s, not both", key=("latency_s",),
                            value=self.latency_s, has_value=True)
        return self


class CloudSimulationSection(Section):
    """``[simulation]``: how the user jobs' shots sample the noise of the QPUs they run on.

    A user job of ``shots = N`` is N executions of its circuit on its QPUs
    (N times the time and the EPR pairs of one; ``shots = 0`` counts as one
    execution, which reports a fidelity and no counts). On QPUs without noise
    (:func:`dqsim.scenarios.dqc.is_noisy`) every execution ends in the same
    state, so the job runs the engine once and draws its N shots from that
    state, whatever this section says. On noisy QPUs each execution draws
    its own noise:

    Attributes:
        trajectories: ``"per_shot"``: one engine run per shot, every shot with
            its own draw of the noise (exact, N engine runs); or a number
            1..10**8 (default 10): ``min(trajectories, N)`` engine runs, the
            shots drawn across them (``N / trajectories`` each, as the ``dqc``
            scenario does), the fidelity their mean with its standard error
            (:func:`dqsim.scenarios.cloud.engine_runs`).
    """

    trajectories: Union[Literal["per_shot"], int] = DEFAULT_CLOUD_TRAJECTORIES

    @field_validator("trajectories", mode="before")
    @classmethod
    def _check_trajectories(cls, value: Any) -> Any:
        whole = isinstance(value, int) and not isinstance(value, bool)
        if value == PER_SHOT or (whole and 1 <= value <= MAX_CLOUD_TRAJECTORIES):
            return value
        raise job_error(f'must be "{PER_SHOT}" or an integer in 1..{format_number(MAX_CLOUD_TRAJECTORIES)}',
                        value=value, has_value=True)


def _fill_user_jobs(data: Any) -> Any:
    """Raw job table with ``[[user_jobs]]`` names and random circuits' seeds defaulted."""
    if not isinstance(data, dict) or not isinstance(data.get("user_jobs"), list):
        return data
    run = data.get("run") if isinstance(data.get("run"), dict) else {}
    seed = run.get("seed", 0)
    entries = []
    for index, entry in enumerate(data["user_jobs"]):
        if isinstance(entry, dict):
            entry = {"name": f"job{index}", **entry}
            if entry.get("generator") == "random" and "circuit_seed" not in entry:
                entry["circuit_seed"] = seed
        entries.append(entry)
    return {**data, "user_jobs": entries}


class CloudJob(JobConfig):
    """Scenario ``"cloud"``: user jobs queued and run on a centre of networked QPUs.

    Attributes:
        network: the centre (``[network]``, ``[network.link]``, ``[network.node]``).
        scheduler: ``[scheduler]`` (defaults when absent).
        user_jobs: the ``[[user_jobs]]`` entries (default none).
        arrivals: ``[arrivals]``, or None.
        user: ``[user]`` (defaults when absent: no latency).
        simulation: ``[simulation]`` (defaults when absent: 10 trajectories on noisy QPUs).
    """

    scenario: ClassVar[str] = "cloud"

    network: NetworkSection
    scheduler: SchedulerSection = Field(default_factory=SchedulerSection)
    user_jobs: list[UserJobSection] = Field(default_factory=list)
    arrivals: Optional[ArrivalsSection] = None
    user: UserSection = Field(default_factory=UserSection)
    simulation: CloudSimulationSection = Field(default_factory=CloudSimulationSection)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        return _fill_user_jobs(data)

    @model_validator(mode="after")
    def _check_cloud(self) -> "CloudJob":
        if self.network.placement is not None:
            raise job_error("is not used by the cloud scenario (each user job's QPUs are placed on the "
                            "ranks like a dqc run of its own); remove it", key=("network", "placement"),
                            value=self.network.placement, has_value=True)
        if not self.user_jobs and self.arrivals is None:
            raise job_error("give at least one [[user_jobs]] entry or an [arrivals] section",
                            key=("user_jobs",), missing=True)
        total = len(self.user_jobs) + (self.arrivals.num_jobs if self.arrivals is not None else 0)
        if total > MAX_CLOUD_JOBS:
            limit = format_number(MAX_CLOUD_JOBS)
            if self.arrivals is None:
                raise job_error(f"lists {total:,} user jobs; at most {limit} in all", key=("user_jobs",))
            raise job_error(f"makes {total:,} user jobs with the {len(self.user_jobs):,} of [[user_jobs]]; at most "
                            f"{limit} in all", key=("arrivals", "num_jobs"), value=self.arrivals.num_jobs,
                            has_value=True)
        first: dict[str, int] = {}
        for index, entry in enumerate(self.user_jobs):
            if entry.name in first:
                raise job_error(f"appears twice (also [[user_jobs]][{first[entry.name]}])",
                                key=("user_jobs", index, "name"), value=entry.name, has_value=True)
            first[entry.name] = index
        if self.arrivals is not None:  # a listed name that is a Poisson job's (the first in Poisson order)
            clashes = sorted((self.arrivals.index_of(name), name) for name in first
                             if self.arrivals.index_of(name) is not None)
            for _, name in clashes[:1]:
                raise job_error(f"is also the name of a Poisson job of [arrivals] (named "
                                f"{POISSON_PREFIX}0, {POISSON_PREFIX}1, ...); rename it",
                                key=("user_jobs", first[name], "name"), value=name, has_value=True)
        self._check_queue_clock()
        return self

    def least_end_ps(self, arrival_ps: int, shots: int) -> int:
        """The earliest a user job arriving at ``arrival_ps`` (ps) with ``shots`` can end, ps: its arrival, the QPUs'
        set-up and resets (``job_setup_s + (max(shots, 1) - 1) * shot_reset_s``) and the users' latency, its
        executions taken as instant (:func:`dqsim.scenarios.cloud.overhead_ps`)."""
        return (arrival_ps + seconds_to_ps(self.scheduler.job_setup_s)
                + (max(shots, 1) - 1) * seconds_to_ps(self.scheduler.shot_reset_s) + self.user_latency_ps())

    def _check_queue_clock(self) -> None:
        """Refuse a user job that would end past :data:`MAX_CLOUD_QUEUE_PS` whatever its circuit takes
        (:meth:`least_end_ps`; a Poisson job from ``[arrivals].start_s``, before which none arrives)."""
        entries = [(("user_jobs", index, "shots"), entry.arrival_s, entry.shots, f"[[user_jobs]][{index}]")
                   for index, entry in enumerate(self.user_jobs)]
        if self.arrivals is not None:
            entries.append((("arrivals", "shots"), self.arrivals.start_s, self.arrivals.shots, "[arrivals]"))
        for key, arrival_s, shots, where in entries:
            end_ps = self.least_end_ps(seconds_to_ps(arrival_s), shots)
            if end_ps > MAX_CLOUD_QUEUE_PS:
                limit = clock_limit_allowed_by("the run's clock")
                raise job_error(
                    f"a job of {format_number(shots)} shots arriving at {arrival_s:g} s holds its QPUs until at least "
                    f"{ps_to_seconds(end_ps):.4g} s of simulated time ({where} arrival_s, then [scheduler].job_setup_s "
                    f"and shot_reset_s between shots, then [user]'s latency), past the {limit}; lower shots or "
                    "[scheduler].shot_reset_s", key=key, value=shots, has_value=True)

    def user_latency_ps(self) -> int:
        """Classical latency from the centre to the users, ps (``[user]``)."""
        if self.user.latency_s is not None:
            return seconds_to_ps(self.user.latency_s)
        if self.user.distance_km is not None:
            return propagation_delay_ps(self.user.distance_km, self.network.link_spec().group_index)
        return 0

