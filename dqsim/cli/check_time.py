"""The wall-time estimate of ``dqsim check``: a short pilot of the job on this machine, extrapolated by its work.

Every scenario's run time grows, past a fixed cost, in proportion to one
measure of its work, which the job file fixes:

* ``qkd``: pulses (or pairs) per link and distance, times the links — the
  pilot runs every distance of the job with fewer ``[qkd].pulses`` (its
  batches and blocks cut to the pilot's pulses), on its first
  :data:`PILOT_MAX_QKD_LINKS` links where it has more (since 2026-12-07,
  later that day; every link before);
* ``repeater``: end-to-end pairs per chain configuration — every
  configuration with fewer ``[chain].num_pairs``;
* ``dqc``: engine runs (trajectories: one per shot for a dynamic circuit)
  where there are several — fewer of them; with one engine run (then
  sampling, whose cost hardly grows with the shots) the pilot is the job;
* ``trotter``: Trotter steps simulated, ``series x trajectories x sum over
  the points`` of the steps each runs (``k x steps_per_point`` for point
  ``k`` in the default mode, ``steps_per_point`` in ``"continued"``), plus one
  per engine run (:func:`trotter_steps`) — fewer points (the step kept), one
  trajectory, the job's own network (no sweep);
* ``cloud``: engine runs of the user jobs (:func:`dqsim.scenarios.cloud.num_engine_runs`)
  — the first user jobs of the list (or fewer Poisson arrivals);
* ``circuit``: for a noisy or dynamic circuit, shots (one trajectory each) —
  fewer shots; else (one pass of the gates, then sampling) the pilot is the
  job. A register of more than :data:`PILOT_MAX_QUBITS` qubits is not built
  here: a generated circuit is tried at fewer qubits and the work taken as
  gates x 2**qubits (the state-vector passes), a QASM circuit gets no estimate;
  nor does a ``dqc``, ``trotter`` or ``cloud`` job with a register that large.

The pilot (:func:`estimate`) runs the scaled-down job in this process on one
rank, at sizes growing :data:`GROWTH`-fold from one unit (the first size
twice), until a run takes :data:`PILOT_TARGET_S` longer than the smallest
warm one (the work, not a run's fixed cost, then shows in the slope) or
the next run would take the runs after the first past
:data:`PILOT_BUDGET_S` (or it has run the whole job). A least-squares line
``t = a + b·work`` through the runs after the first (:func:`fit_line`) is
taken to the job's work; the first run's excess over the second (the same
size) is the one-time cost of a process (the numba kernels loaded from their
cache, imports made on first use), added once; and the time this process
took to start and import (:func:`process_age_s`; the run's interpreter
imports as much). A job piloted whole is run once, its time taken as it is.

The pilot's wall time is bounded (a loaded machine makes every run slower, and
a check of 35 s was seen at a load of 15-21): no run after the first starts
once :data:`PILOT_WALL_S` has passed since the first ended, and one still
running then (and past :data:`OVERRUN` times the run before it) is abandoned; the estimate is made from the runs that finished,
and the line says the pilot stopped at its budget. Where only one run after
the first finished, its fixed cost and its work cannot be told apart: the
range spans a run that is all fixed cost to one that is all work. The first run is
bounded by :data:`FIRST_ABANDON_S` only (it may fill a numba cache that lacks
some kernels; a cache that holds none of the job's kernels gets no pilot: the
line names ``dqsim warmup``, :func:`cold_cache_words`), and
so is a job piloted whole at once (a circuit sampled from one pass of its
gates, a ``dqc`` job of one engine run: there is nothing smaller to run). A
first run abandoned gives a lower bound only. A first run that compiled kernels makes the
estimate high by that compile, which the run will not pay again. Nothing is
written, the caches aside, which the pilot fills as a run would: numba's (a cold one) and dqsim's disk cache
(``DQSIM_CACHE_DIR``) with the LDPC codes its key blocks build (a ``qkd`` job with LDPC).

The range is the central figure divided and multiplied by
:data:`EXTRAPOLATION_FACTOR` (the pilot ran a part of the work; the machine's
load may change; work the measure does not see: a repeater cut-off that
abandons attempts at random, a key block's post-processing), by
:data:`FAR_FACTOR` where the job is more than :data:`FAR` times the pilot's
largest run, by :data:`WHOLE_JOB_FACTOR` where the pilot ran the whole job.

On ``R > 1`` ranks (the pilot still runs on one) the one-rank time is taken
apart into its fixed part (start, imports, each run's own cost), which every
rank pays, and its work, which divides as the scenario divides it
(:mod:`dqsim.cli.check_ranks`: the busiest rank's share of the work), with
all ranks' CPU time over the cores as a floor (more ranks than cores run in
turns), the cores counted as those the machine's load leaves free
(:func:`~dqsim.cli.check_ranks.free_cores`: on a loaded machine the ranks
get no more CPU than the pilot did; the range's low end takes them all). The exchanges between ranks (event windows, amplitudes) are
counted where the pilot's engine messages and the placement give their number
(``repeater``, ``qkd``: messages on links between ranks), each taking
:func:`~dqsim.cli.check_ranks.exchange_s` at the machine's load (the low end
leaves them out); elsewhere the range's high end is
:data:`~dqsim.cli.check_ranks.EXCHANGE_ALLOWANCE` times higher. Compared with
``dqsim run`` on the shipped jobs and scaled-up variants in
``bench/results/check-time-vm-20261206.md`` (one rank) and
``bench/results/check-time-ranks-vm-20261206.md`` (1, 2 and 4 ranks).
"""

from __future__ import annotations

import contextlib
import io as _io
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim import jobs, scenarios
from dqsim.backend import warmup as backend_warmup
from dqsim.cli import check_ranks
from dqsim.cli.check_ranks import trotter_steps
from dqsim.errors import DqsimError, count_of, toml_repr
from dqsim.scenarios import cloud, dqc, qkd
from dqsim.scenarios import warmup as scenario_warmup
from dqsim.scenarios.circuit_run import build_circuit

#: Each pilot run is this many times the work of the one before.
GROWTH = 4
#: The pilot stops growing once a run takes this much longer than its smallest warm one, seconds.
PILOT_TARGET_S = 0.3
#: ... or once its next run would take its runs after the first past this, seconds.
PILOT_BUDGET_S = 1.0
#: The pilot's wall-time budget, seconds, after its first run (which pays the one-time costs, a cold numba cache's
#: compile among them, bounded by :data:`FIRST_ABANDON_S`): no later run starts past it, and one running at it is
#: abandoned (the estimate then from the runs before; the line says so).
PILOT_WALL_S = 3.0
#: A run that starts within the budget may run past it up to this many times the run before it (so that a machine
#: whose runs are slow still gives the line two points).
OVERRUN = 2.0
#: A pilot run longer than this is abandoned (SIGALRM), seconds: the job gets a lower bound, not an estimate.
PILOT_ABANDON_S = 10.0
#: ... the first run: it may compile the numba kernels into a cold cache, up to a minute (docs/install.md, warmup).
FIRST_ABANDON_S = 120.0
#: The range around the central figure where the pilot ran part of the work: central / f .. central x f.
EXTRAPOLATION_FACTOR = 2.0
#: ... where the job's work is more than :data:`FAR` times the pilot's largest run's.
FAR_FACTOR = 3.0
#: See :data:`FAR_FACTOR`.
FAR = 100
#: ... and where it ran the whole job: the load of a machine shared with other work changes between the check
#: and the run (1.5 left 3 of 8 such shipped jobs outside it on the shared dev VM at a load of 15-20,
#: bench/results/check-time-vm-20261206.md).
WHOLE_JOB_FACTOR = 2.0
#: The suggested SLURM ``--time`` is the range's high end times this, plus :data:`SLURM_EXTRA_S`.
SLURM_MARGIN = 1.5
#: Seconds added to the suggested ``--time`` for the launcher and the output write.
SLURM_EXTRA_S = 60.0
#: Largest register a pilot builds (a generated ``circuit`` is tried at fewer qubits above it; other scenarios'
#: jobs above it get no estimate).
PILOT_MAX_QUBITS = 20
#: Process start and imports where ``/proc`` does not say, seconds (CPU time of importing dqsim's run stack:
#: 1.2 s, bench/results/cli_startup-vm-20261205.md, 2026-12-05, the shared 2-core dev VM).
DEFAULT_STARTUP_S = 1.2
#: A process older than this, seconds, did not start for the check (:func:`process_age_s`).
MAX_STARTUP_S = 60.0


@dataclass(frozen=True)
class Plan:
    """How one job is piloted.

    Attributes:
        unit: the work measure, plural ("pulses", "pairs", "engine runs", "Trotter steps", "shots").
        full_work: the job's work in that unit.
        sizes: pilot sizes, smallest first (each a scenario-specific count, e.g. pulses).
        make: ``make(size) -> (job, work)``, the pilot job of that size and its work.
        whole: the size at which the pilot is the job itself (``None`` where it never is).
        note: how the work is counted, for the line.
        rounds: ``rounds(work)``: what the engine's messages grow with at that work (default the work itself;
            ``qkd``: batches of pulses), to take a pilot's message count to the job's.
    """

    unit: str
    full_work: float
    sizes: list[int]
    make: Callable[[int], tuple[object, float]]
    whole: int | None
    note: str = ""
    rounds: Callable[[float], float] = float


@dataclass
class Estimate:
    """A run's wall time on ``num_ranks`` ranks, seconds: ``central`` in ``[low, high]``; ``how`` says from what."""

    central: float
    low: float
    high: float
    how: str
    num_ranks: int = 1
    pilot: list[tuple[float, float]] = field(default_factory=list)  # (work, seconds) of each pilot run
    lower_bound_only: bool = False

    def slurm_time_s(self) -> float:
        """A ``--time`` for SLURM, seconds: the high end with :data:`SLURM_MARGIN` and :data:`SLURM_EXTRA_S`."""
        return self.high * SLURM_MARGIN + SLURM_EXTRA_S


def growing(first: int, last: int) -> list[int]:
    """``first, 4·first, 16·first, …`` below ``last``, then ``last`` (at least one size).

    Examples:
        >>> growing(1, 100), growing(1000, 1000), growing(5, 3)
        ([1, 4, 16, 64, 100], [1000], [3])
    """
    sizes, size = [], max(1, first)
    while size < last:
        sizes.append(size)
        size *= GROWTH
    return sizes + [max(1, last)]


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """``(a, b)`` of ``t = a + b·w``, least squares through the ``(w, t)`` points, with ``a, b >= 0`` (a line
    falling with the work, which timing noise can give, is taken flat at the mean time; a negative intercept
    as a line through the origin); one point: through the origin.

    Examples:
        >>> fit_line([(1, 1.5), (4, 3.0), (16, 9.0)])
        (1.0, 0.5)
        >>> fit_line([(1, 3.0), (4, 2.0)])
        (2.5, 0.0)
        >>> fit_line([(10, 1.0), (20, 3.0)])
        (0.0, 0.14)
        >>> fit_line([(5, 2.0)])
        (0.0, 0.4)
    """
    n = len(points)
    mean_w = sum(w for w, _ in points) / n
    mean_t = sum(t for _, t in points) / n
    spread = sum((w - mean_w) ** 2 for w, _ in points)
    if n == 1 or spread == 0:
        return 0.0, mean_t / mean_w
    b = sum((w - mean_w) * (t - mean_t) for w, t in points) / spread
    if b <= 0:
        return mean_t, 0.0
    a = mean_t - b * mean_w
    if a < 0:  # through the origin: b = sum(w t) / sum(w^2)
        return 0.0, sum(w * t for w, t in points) / sum(w * w for w, _ in points)
    return a, b


def toml_text(data: dict) -> str:
    """A parsed job table as TOML text, each section an inline table.

    Examples:
        >>> print(toml_text({"run": {"name": "a", "seed": 1}, "user_jobs": [{"name": "g", "shots": 2.5}]}))
        run = {name = "a", seed = 1}
        user_jobs = [{name = "g", shots = 2.5}]
    """
    return "\n".join(f"{key} = {toml_repr(value, limit=sys.maxsize)}" for key, value in data.items())


def _check_register(num_qubits: int, what: str) -> None:
    """Refuse to pilot (:class:`_NoPilot`) a job whose register has more than :data:`PILOT_MAX_QUBITS` qubits."""
    if num_qubits > PILOT_MAX_QUBITS:
        raise _NoPilot(f"its {what} of {num_qubits} qubits is too large to try here (more than "
                       f"{PILOT_MAX_QUBITS})")


def _with(job, assignments: list[str]):
    return jobs.apply_overrides(job, assignments + ["checkpoint.every_wall_s=", "checkpoint.every_sim_s="])


#: Most links of a ``qkd`` pilot: a larger network is piloted on its first links (a chain or star of that many), its
#: time taken to the job's links in proportion (every link runs the same processes; until 2026-12-07, later that
#: day, the pilot ran every link, and a 4,096-link chain's pilot passed its 120 s budget).
PILOT_MAX_QKD_LINKS = 64


def _qkd_plan(job) -> Plan:
    """The pilot of a ``qkd`` job: its pulses grown, a network of more than :data:`PILOT_MAX_QKD_LINKS` links cut to
    its first ones and its time taken to all links in proportion. A star's ``end_to_end`` and ``relay_links`` rows
    grow with its pairs of leaves (a 1,024-node star: 522,753 pairs, much of its 23.8 CPU s), which that scaling
    leaves out: the note says so. Piloting a star whole was tried on 2026-12-07 (later) and dropped: a 1,024-node
    star's first run at 20,000 pulses a link took 76 s (load ~10) and gave 5.3 h (41 s-21.2 h), where the 64-link
    pilot gave 10.1 min from 2.9 s."""
    q = job.qkd
    block = min(q.block_pulses, q.pulses)
    distances = job.distances_km() if q.sweep is not None else [None]
    links = job.network_links(distances[0])
    pilot_links = min(len(links), PILOT_MAX_QKD_LINKS)
    fewer = []  # the overrides that cut the network to its first pilot_links links
    if pilot_links < len(links):
        fewer = [f"qkd.network.num_nodes={pilot_links + 1}"]
        if q.network.distances_km is not None:
            fewer.append(f"qkd.network.distances_km={q.network.distances_km[:pilot_links]}")
        if q.network.end_to_end_pairs != "all":  # a list may name leaves past the pilot's (none counted, below)
            fewer.append("qkd.network.end_to_end_pairs=none")

    def make(pulses: int):
        if pulses >= q.pulses and not fewer:
            return job, len(links) * q.pulses
        pulses = min(pulses, q.pulses)
        return _with(job, [f"qkd.pulses={pulses}", f"qkd.batch_pulses={min(q.batch_pulses, pulses)}",
                           f"qkd.block_pulses={min(block, pulses)}", *fewer]), pilot_links * pulses

    def rounds(work: float) -> float:
        """Batches, all links: what the engine's messages grow with."""
        count = pilot_links if work <= pilot_links * q.pulses else len(links)
        per_link = work / count
        return count * math.ceil(per_link / min(q.batch_pulses, per_link))

    word = qkd.slot_word(q.protocol)
    piloted = f", piloted on the first {pilot_links}" if fewer else ""
    pairs = q.network.num_star_pairs() if fewer else 0  # the star's rows per chosen pair of leaves (a chain: 0)
    if pairs:  # all of them: quadratic in the links, not in a linear scaling
        piloted += (f"; not counted: the {pairs:,} pairs of leaves' end_to_end and relay_links rows"
                    + (", which grow with the square of the links" if q.network.end_to_end_pairs == "all" else ""))
    return Plan(f"link {word}s", len(links) * q.pulses, growing(20_000, q.pulses), make,
                None if fewer else q.pulses,
                f"{word}s, all links of a distance ({len(distances)} distance(s) x {len(links)} link(s) x "
                f"{q.pulses:,}{piloted})", rounds)


def _repeater_plan(job) -> Plan:
    pairs = job.chain.num_pairs

    def make(size: int):
        return (job, pairs) if size >= pairs else (_with(job, [f"chain.num_pairs={size}"]), size)

    return Plan("pairs", pairs, growing(1, pairs), make, pairs,
                f"end-to-end pairs per configuration ({len(job.chain.configurations())} configuration(s))")


def _dqc_plan(job) -> Plan:
    circuit = build_circuit(job)
    _check_register(circuit.num_qubits, "data register")
    runs, shots = dqc.trajectories_for(job, circuit), job.simulation.shots
    if runs > 1:
        dynamic = not circuit.measurements_are_terminal()

        def make_runs(size: int):
            if size >= runs:
                return job, runs
            if dynamic:
                return _with(job, [f"simulation.shots={size}", "simulation.trajectories="]), size
            return _with(job, [f"simulation.trajectories={size}",
                               f"simulation.shots={max(size, shots * size // runs)}"]), size

        return Plan("engine runs", runs, growing(1, runs), make_runs, runs,
                    "engine runs (trajectories" + (", one per shot" if dynamic else "") + ")")

    def make_shots(size: int):
        return (job, shots) if size >= shots else (_with(job, [f"simulation.shots={size}"]), size)

    return Plan("shots", shots, [shots], make_shots, shots, "shots (one engine run, then sampling)")


def _trotter_plan(job) -> Plan:
    _check_register(job.model.num_sites, "site register")
    ev, sim = job.evolution, job.simulation
    series = 1 + (len(sim.sweep.values) if sim.sweep is not None else 0)
    full = series * sim.trajectories * trotter_steps(ev.num_points, ev.steps_per_point, ev.mode)
    alone = series == 1 and sim.trajectories == 1

    def make(points: int):
        if points >= ev.num_points and alone:
            return job, full
        points = min(points, ev.num_points)
        pilot = _with(job, [f"evolution.num_points={points}",
                            f"evolution.total_time={ev.total_time * points / ev.num_points!r}",
                            "simulation.trajectories=1", "simulation.sweep="])
        return pilot, trotter_steps(points, ev.steps_per_point, ev.mode)

    sizes = [2 ** i for i in range(ev.num_points.bit_length()) if 2 ** i < ev.num_points] + [ev.num_points]
    return Plan("Trotter steps", full, sizes, make, ev.num_points if alone else None,
                f"Trotter steps, one per engine run added ({series} network series x {sim.trajectories} "
                "trajectories; the pilot: fewer points, the job's own network, one trajectory)")


def _cloud_plan(job) -> Plan:
    noisy = dqc.is_noisy(dqc.job_network(job.network, 1, source=job.source))
    full = cloud.num_engine_runs(job, noisy=noisy)
    _check_register(max(user.circuit.num_qubits for user in cloud.user_jobs_of(job)), "largest user job's register")
    listed = list(job.raw.get("user_jobs", []))
    arrivals = job.arrivals.num_jobs if job.arrivals is not None else 0

    def make(size: int):
        if size >= len(listed) + arrivals:
            return job, full
        data = {**job.raw, "user_jobs": listed[:size]}
        if arrivals:
            data["arrivals"] = {**data["arrivals"], "num_jobs": max(1, size - len(listed))}
        if not data["user_jobs"]:
            del data["user_jobs"]
        pilot = _with(jobs.load_job_text(toml_text(data), source=f"{job.source} (pilot)", base_dir=job.base_dir), [])
        return pilot, cloud.num_engine_runs(pilot, noisy=noisy)

    total = len(listed) + arrivals
    return Plan("engine runs", full, growing(1, total), make, total,
                f"engine runs of the user jobs ({total} user job(s){', noiseless QPUs' if not noisy else ''}; "
                "the pilot: the first user jobs)")


def _circuit_plan(job) -> Plan:
    circuit = build_circuit(job)
    shots = job.simulation.shots
    noisy = getattr(getattr(job, "noise", None), "active", False)
    terminal = circuit.measurements_are_terminal() and not noisy
    if circuit.num_qubits <= PILOT_MAX_QUBITS:
        def make(size: int):
            return (job, shots) if size >= shots else (_with(job, [f"simulation.shots={size}"]), size)

        if terminal:  # one pass of the gates, then sampling: the pilot is the job
            return Plan("shots", shots, [shots], make, shots, "shots (one pass of the gates, then sampling)")
        return Plan("shots", shots, growing(1, shots), make, shots, "shots (one trajectory each)")
    if job.circuit.generator is None:
        raise _NoPilot(f"a {circuit.num_qubits}-qubit QASM circuit: its register is too large to try here "
                       f"(more than {PILOT_MAX_QUBITS} qubits) and it cannot be made smaller")
    runs = 1 if terminal else max(shots, 1)  # trajectories: one per shot

    def passes(built) -> float:
        return max(1, len(built.gates())) * 2.0 ** built.num_qubits

    def make_small(qubits: int):
        pilot = _with(job, [f"circuit.num_qubits={qubits}", "simulation.shots=1", "simulation.observables=[]",
                            "simulation.save_state=false"])
        return pilot, passes(build_circuit(pilot))

    low = max(2, PILOT_MAX_QUBITS - 6)
    return Plan("gate passes over 2**qubits amplitudes", passes(circuit) * runs,
                list(range(low, PILOT_MAX_QUBITS + 1)), make_small, None,
                f"gates x 2**qubits{' x trajectories' if runs > 1 else ''} (the pilot: {low}-{PILOT_MAX_QUBITS} "
                "qubits, one shot; the full register's memory traffic, exchanges between ranks and sampling "
                "are not modelled)")


class _NoPilot(Exception):
    """The job cannot be piloted here (the message says why)."""


class _PilotAbandoned(Exception):
    """A pilot run passed :data:`PILOT_ABANDON_S`."""


_PLANS = {"qkd": _qkd_plan, "repeater": _repeater_plan, "dqc": _dqc_plan, "trotter": _trotter_plan,
          "cloud": _cloud_plan, "circuit": _circuit_plan}


def process_age_s() -> float:
    """Seconds since this process started (``/proc/self/stat`` and ``/proc/uptime``; Linux), called where a
    ``dqsim check`` has imported what a run imports: what a ``dqsim`` command takes to start and import before
    its work. :data:`DEFAULT_STARTUP_S` where ``/proc`` does not say or the process is older than
    :data:`MAX_STARTUP_S` (one that did not start for this command: a test calling ``main()``)."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            age = float(uptime.read().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return DEFAULT_STARTUP_S
    return age if 0 <= age <= MAX_STARTUP_S else DEFAULT_STARTUP_S


def _timed_run(job, limit_s: float = PILOT_ABANDON_S) -> tuple[float, dict]:
    """Run ``job`` here on one rank, quietly, and return its wall time, seconds (abandoned past ``limit_s``), and
    its output's attributes (``engine_messages``: the messages its event engine sent)."""

    def abandon(signum, frame):  # noqa: ARG001
        raise _PilotAbandoned

    timed = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    previous = signal.signal(signal.SIGALRM, abandon) if timed else None  # (signals: the main thread only)
    if timed:
        signal.setitimer(signal.ITIMER_REAL, limit_s)
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(_io.StringIO()), contextlib.redirect_stderr(_io.StringIO()):
            backend = backend_mod.select(job.run.backend)
            output = scenarios.run_job(job, comm=comm_mod.SingleComm(), backend=backend)
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    return time.perf_counter() - started, dict(output.attrs)


def _enough(points: list[tuple[float, float]], spent: float, make, sizes: list[int], index: int) -> bool:
    """Whether the pilot stops after its run ``index``: once the growth of the time over its smallest warm run
    reaches :data:`PILOT_TARGET_S` (the work, not the fixed cost of a run, dominates the slope), or the next
    run, as the line so far predicts it, would take the runs after the first past :data:`PILOT_BUDGET_S`."""
    if len(points) < 2:
        return False
    if points[-1][1] - points[0][1] >= PILOT_TARGET_S or index + 1 >= len(sizes):
        return True
    a, b = fit_line(points)
    following = sizes[index + 1]
    next_work = points[-1][0] * following / sizes[index]  # work grows with the size (near enough to choose)
    return spent + a + b * next_work > PILOT_BUDGET_S


def work_of(work: float, unit: str) -> str:
    """``work`` in ``unit`` (a plural such as :attr:`Plan.unit`), the unit singular where the work is 1.

    Examples:
        >>> work_of(1, "pairs"), work_of(12000, "pulses"), work_of(1, "Trotter steps"), work_of(1, "pulses")
        ('1 pair', '12,000 pulses', '1 Trotter step', '1 pulse')
    """
    text = f"{work:,.0f}"
    return f"{text} {unit[:-1] if text == '1' and unit.endswith('s') else unit}"


def compiled_kernels() -> int:
    """How many numba kernel versions this process has compiled so far (cache misses; 0 without numba)."""
    try:
        return backend_warmup.cache_counts()[1]
    except RuntimeError:  # a dispatcher's statistics changed while read
        return 0


def _compile_words(compiled: int, first_s: float) -> str:
    """The end of the line's "how" when the pilot's first run compiled kernels into a cold cache."""
    if compiled <= 0:
        return ""
    return (f"; its first run compiled {count_of(compiled, 'numba kernel')} into the cache, which the run will load "
            f"instead: the figure is high by up to {first_s:.1f} s (`dqsim warmup` fills the cache ahead)")


def _abandoned_compile_words(compiled: int) -> str:
    """What an abandoned first pilot run spent compiling: on a cold numba cache the compile alone can take the
    whole :data:`FIRST_ABANDON_S` (about 120 s on the shared 2-core dev VM at a load of 17, review of 2026-12-06),
    so the bound may say more of the compile than of the job."""
    if compiled <= 0:
        return ""
    return (f" while compiling {count_of(compiled, 'numba kernel')} into a cold cache (the compile, not the job, "
            f"may have taken that time: run `dqsim warmup`, then `dqsim check` again)")


def _ends(fixed_s: float, work_s: float, high: tuple[float, float] | None = None) -> dict[str, tuple[float, float]]:
    """One rank's ``(fixed, work)`` seconds at the central figure and the range's ends, before any factor: the
    low end as the centre, the high end ``high`` (default as the centre)."""
    return {"central": (fixed_s, work_s), "low": (fixed_s, work_s), "high": high or (fixed_s, work_s)}


def _on_ranks(ends: dict[str, tuple[float, float]], factor: float, job, num_ranks: int, num_cores: int,
              messages: float | None = None, load: float = 0.0) -> tuple[float, float, float, str]:
    """``(central, low, high, words)`` on ``num_ranks`` ranks from one rank's :func:`_ends`: the work divided as
    :func:`dqsim.cli.check_ranks.split` says, over the cores the machine's ``load`` leaves free
    (:func:`~dqsim.cli.check_ranks.free_cores`; the low end: over ``min(R, cores)``), the range ``/ factor`` and
    ``x factor``. Where the ranks exchange during the work: with the job's engine ``messages`` known (from the
    pilot) and the share of them sent between ranks (:attr:`~dqsim.cli.check_ranks.Split.crossing`), one
    :func:`~dqsim.cli.check_ranks.exchange_s` at that load each added (but to the low end); else the high end
    :data:`~dqsim.cli.check_ranks.EXCHANGE_ALLOWANCE` times higher."""
    one = {key: fixed + work for key, (fixed, work) in ends.items()}
    if num_ranks <= 1:
        return one["central"], min(one["low"], one["central"]) / factor, one["high"] * factor, ""
    parts = check_ranks.split(job, num_ranks)
    free = check_ranks.free_cores(load, num_cores, num_ranks)
    on = {key: check_ranks.time_on_ranks(fixed, work, parts, num_ranks, free) for key, (fixed, work) in ends.items()}
    idle = {key: check_ranks.time_on_ranks(fixed, work, parts, num_ranks, num_cores)
            for key, (fixed, work) in ends.items() if key != "high"}
    low = min(idle["low"], idle["central"]) / factor
    words = (f"; on {num_ranks} ranks: {parts.note}, so the busiest rank runs {parts.busiest:.0%} of the work and "
             f"every rank the fixed part, the ranks' CPU over the {count_of(free, 'core')} a load of {load:.1f} "
             f"leaves free of {num_cores} (the low end: over {min(num_ranks, num_cores)})")
    if num_ranks > num_cores:
        words += f" ({num_ranks} ranks on {count_of(num_cores, 'core')}: oversubscribed)"
    words += f" (one rank: {duration(one['central'])})"
    if not parts.exchanges:
        return on["central"], low, on["high"] * factor, words
    if parts.crossing is not None and messages is not None:
        exchanges, each = messages * parts.crossing, check_ranks.exchange_s(load, num_cores)
        added = exchanges * each
        words += (f"; about {exchanges:,.0f} exchanges between ranks (the pilot's engine messages, "
                  f"{parts.crossing:.0%} of them between ranks) at {each * 1e3:.2g} ms each (at that load, as "
                  f"measured on the shared dev VM; the low end leaves them out): {duration(added)}")
        return on["central"] + added, low, (on["high"] + added) * factor, words
    words += (f"; the exchanges between ranks are not modelled: the high end allows "
              f"{check_ranks.EXCHANGE_ALLOWANCE:g} times the time without them")
    return on["central"], low, on["high"] * factor * check_ranks.EXCHANGE_ALLOWANCE, words


def cold_cache_words(job, cold: list[str]) -> str:
    """Why there is no estimate where numba's cache holds none of the kernels of the groups ``cold`` of
    :func:`dqsim.scenarios.warmup.cold_groups`: the pilot would first compile them, and the fix."""
    kinds = ", ".join(scenario_warmup.KERNEL_GROUPS[name].description for name in cold)
    folder = backend_warmup.cache_location()[0]
    return (f"numba's cache{f' ({folder})' if folder else ''} holds none of the kernels this job calls ({kinds}) "
            f"for this CPU and this dqsim, so the pilot would first compile them (about 120 s was seen on the "
            f"shared 2-core dev VM at a load of 17): run `dqsim warmup {job.source}` (with the same --set; once "
            f"per machine and dqsim version), then `dqsim check` again")


def estimate(job, num_ranks: int = 1, *, startup_s: float | None = None,
             run: Callable[[object, float], tuple[float, dict]] = _timed_run, clock: Callable[[], float] = time.monotonic,
             budget_s: float | None = None, num_cores: int | None = None, load: float | None = None,
             cold_groups: Callable[[object], list[str]] | None = None) -> Estimate | str:
    """The wall time of ``dqsim run`` of ``job`` on ``num_ranks`` ranks of this machine (see the module
    docstring), or a text saying why there is none. ``run(job, limit_s) -> (seconds, attrs)`` runs one pilot
    (:func:`_timed_run`: its wall time and its output's attributes) and ``clock()``
    reads the pilot's wall clock, seconds (tests pass fakes); ``budget_s``: the pilot's wall-time budget
    (:data:`PILOT_WALL_S`); ``startup_s``: the process start and imports (default :func:`process_age_s`);
    ``num_cores``: the cores the ranks share (default :func:`dqsim.cli.check_ranks.cores`); ``load``: the
    machine's 1-minute load average (default ``os.getloadavg()``, 0 where it is not known).

    ``cold_groups(job)``: the kernel groups numba's cache lacks (default
    :func:`dqsim.scenarios.warmup.cold_groups` for the real pilot, none for a fake ``run``). Where it names
    any there is no pilot and no estimate (:func:`cold_cache_words`: run ``dqsim warmup``): on a cold cache the
    first pilot run compiled for up to :data:`FIRST_ABANDON_S` before it gave up (docs/review-research-20261206.md).
    """
    if cold_groups is None:
        cold_groups = scenario_warmup.cold_groups if run is _timed_run else (lambda job: [])
    try:
        cold = cold_groups(job)
    except Exception:  # noqa: BLE001 (numba's cache index is read through its internals: a change costs the check)
        cold = []
    if cold:
        return cold_cache_words(job, cold)
    startup = process_age_s() if startup_s is None else startup_s
    budget_s = PILOT_WALL_S if budget_s is None else budget_s
    num_cores = check_ranks.cores() if num_cores is None else num_cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    try:
        plan = _PLANS[job.scenario](job)
    except _NoPilot as why:
        return str(why)
    points: list[tuple[float, float]] = []
    spent, whole, once, cut = 0.0, False, 0.0, False
    rate = None  # the engine's messages per round (Plan.rounds), in the last pilot run
    compiled_before = compiled_kernels()
    # the smallest size twice, the first run paying the one-time costs; a job piloted whole at once, once
    sizes = plan.sizes if plan.sizes == [plan.whole] else [plan.sizes[0], *plan.sizes]
    began = math.inf  # the budget's start: the end of the first run
    for index, size in enumerate(sizes):
        if index == 1:
            began = clock()
        left = budget_s - max(0.0, clock() - began)
        if index > 0 and left <= 0:  # the budget is spent: no run starts
            cut = True
            break
        pilot, work = plan.make(size)
        # the first run may fill a cold numba cache (a job piloted whole at once: nothing smaller to run); a later
        # one ends at the budget, or at OVERRUN times the run before it (a second point for the line)
        limit = FIRST_ABANDON_S if index == 0 else min(PILOT_ABANDON_S, max(left, OVERRUN * last))
        try:
            seconds, attrs = run(pilot, limit)
            rate = attrs["engine_messages"] / plan.rounds(work) if "engine_messages" in attrs else None
        except _PilotAbandoned:
            if index == 0:
                scale = plan.full_work / max(work, 1e-300)
                low, _, _, words = _on_ranks(_ends(0.0, limit * scale), 1.0, job, num_ranks, num_cores, load=load)
                times = "the whole job" if scale == 1 else f"more than that x {scale:,.3g}"
                return Estimate(low, low, math.inf, f"a pilot of {work_of(work, plan.unit)} ran past "
                                f"{limit:g} s and was abandoned"
                                f"{_abandoned_compile_words(compiled_kernels() - compiled_before)}: {times}{words}",
                                num_ranks, lower_bound_only=True)
            cut = True
            break
        except DqsimError as exc:
            return f"the pilot was refused ({exc})"
        except Exception as exc:  # noqa: BLE001 (check validates the job; a pilot's failure only costs the estimate)
            return f"the pilot failed ({type(exc).__name__}: {exc})"
        last = seconds
        if index == 0:
            first, first_work = seconds, work
            if len(sizes) > 1:
                continue
        if index == 1:
            once = max(0.0, first - seconds)
        spent += seconds
        points.append((work, seconds))
        whole = plan.whole is not None and size >= plan.whole
        if whole or _enough(points, spent, plan.make, sizes, index):
            break
    budget_words = f"; the pilot stopped at its {budget_s:g} s budget" if cut else ""
    if whole and len(sizes) == 1:
        ends = _ends(startup, first, (startup + first, 0.0))  # how much of it divides over ranks is not known
        factor = WHOLE_JOB_FACTOR
        how = (f"a pilot that ran the whole job here ({plan.note}): {first:.2f} s, plus {startup:.1f} s to start "
               "and import")
    elif whole:
        a = fit_line(points)[0]
        last = points[-1][1]
        ends = _ends(startup + once + min(a, last), max(0.0, last - a), (startup + once + last, 0.0))
        factor = WHOLE_JOB_FACTOR
        how = (f"a pilot that ran the whole job here: {points[-1][1]:.2f} s, plus {once:.2f} s once (the first "
               f"run's) and {startup:.1f} s to start and import")
    elif cut and len(points) <= 1:  # one run's time: its fixed cost and its work cannot be told apart
        (w1, t1), once = points[0] if points else (first_work, first), once if points else 0.0
        slope = t1 / max(w1, 1e-300)
        ends = {"central": (startup + once + t1 / 2, slope / 2 * plan.full_work), "low": (startup + once + t1, 0.0),
                "high": (startup + once, slope * plan.full_work)}
        factor = EXTRAPOLATION_FACTOR
        how = (f"a {first + spent:.2f} s pilot here that stopped at its {budget_s:g} s budget after "
               f"{count_of(len(points) + 1, 'run')}, the last of {w1:,.0f} of the job's {plan.full_work:,.0f} "
               f"{plan.note}: {t1:.2f} s, all of it a run's fixed cost (the low end) or all work (the high end), "
               f"+ {once:.2f} s once + {startup:.1f} s to start and import")
        budget_words = ""
    else:
        a, b = fit_line(points)
        ends = _ends(startup + once + a, b * plan.full_work)
        factor = EXTRAPOLATION_FACTOR if plan.full_work <= FAR * points[-1][0] else FAR_FACTOR
        how = (f"a {first + spent:.2f} s pilot of {len(points) + 1} run(s) here, up to {points[-1][0]:,.0f} of the "
               f"job's {plan.full_work:,.0f} {plan.note}: {b:.3g} s each + {a:.2f} s per run + {once:.2f} s once "
               f"+ {startup:.1f} s to start and import")
    how += budget_words + _compile_words(compiled_kernels() - compiled_before,
                                         once if len(sizes) > 1 and points else first)
    messages = None if rate is None else rate * plan.rounds(plan.full_work)
    central, low, high, words = _on_ranks(ends, factor, job, num_ranks, num_cores, messages, load)
    return Estimate(central, low, high, how + words, num_ranks, points)


def duration(seconds: float) -> str:
    """Seconds as ``12 s``, ``3.4 min``, ``2.1 h`` or ``1.5 days``.

    Examples:
        >>> duration(12.3), duration(204), duration(7560), duration(2.6e5)
        ('12 s', '3.4 min', '2.1 h', '3.0 days')
    """
    if seconds < 120:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def slurm_time(seconds: float) -> str:
    """A SLURM ``--time`` value for ``seconds``, rounded up to whole minutes: ``MM``-style ``H:MM:00`` or
    ``D-HH:MM:00``.

    Examples:
        >>> slurm_time(61), slurm_time(3600), slurm_time(90000)
        ('0:02:00', '1:00:00', '1-01:00:00')
    """
    minutes = max(1, math.ceil(seconds / 60))
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:00" if days else f"{hours}:{minutes:02d}:00"


def time_line(job, num_ranks: int, estimated: Estimate | str | None = None) -> str:
    """The ``time:`` line of ``dqsim check`` (without its ``# ``)."""
    if estimated is None:
        estimated = estimate(job, num_ranks)
    if isinstance(estimated, str):
        return f"time: no estimate: {estimated}"
    ranks = f"{num_ranks} rank(s) of this machine"
    if estimated.lower_bound_only:
        return f"time: more than {duration(estimated.low)} on {ranks}, from {estimated.how}"
    return (f"time: about {duration(estimated.central)} (range {duration(estimated.low)}-"
            f"{duration(estimated.high)}) on {ranks}, from {estimated.how}; "
            f"for SLURM: --time={slurm_time(estimated.slurm_time_s())} (the high end x {SLURM_MARGIN:g} "
            f"+ {SLURM_EXTRA_S:.0f} s)")
