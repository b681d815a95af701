"""Scheduling user jobs on a centre of networked QPUs (pure: no MPI, no state vectors).

A :class:`Centre` is the QPUs (indices ``0..n-1``), which QPU is linked to
which, and how many data qubits each holds. A job asks for ``num_qubits``
data qubits; :meth:`Centre.select` gives it a *connected* set of free QPUs
(so every route between its QPUs stays inside the set and jobs on disjoint
sets share no link), grown breadth-first from the lowest free index:

* visit QPUs breadth-first from the lowest free index, neighbours in
  ascending index order, through free QPUs only, adding each visited QPU
  until the set's data qubits reach ``num_qubits``; with equal capacities
  ``c`` that is exactly ``ceil(num_qubits / c)`` QPUs, with unequal ones it
  may be more;
* if the free QPUs reachable from that start do not hold enough, try the
  lowest free index of the next group of connected free QPUs; if none
  holds enough, the job does not fit now.

A job that would not fit even on the idle centre (more qubits than all QPUs
hold, or than any connected group holds), or that the caller refuses
(``QueuedJob.refusal``: its circuit cannot run on the centre), is *rejected*
when it arrives, with the reason, and never holds a place in the queue; the
other jobs run.

Policies (:data:`POLICIES`) order the queue by priority first (higher runs
first), then:

* ``"fifo"``: by submission time (then job id). Jobs start in this order
  while they fit; the first that does not fit blocks the ones behind it.
* ``"sjf"``: shortest job first, by the *estimated* duration
  (``QueuedJob.estimate_ps``, then submission time, then id); blocking as
  for FIFO.
* ``"backfill"``: EASY backfilling (Lifka 1995; Mu'alem & Feitelson, IEEE
  TPDS 12, 529 (2001)) over the FIFO order. Jobs start in FIFO order while
  they fit. The first one that does not (the *head*) gets a reservation:
  running jobs are released in order of their estimated end
  (``start_ps + estimate_ps``, at least ``now``), all jobs ending at one time
  together, until the head fits; that time is the *shadow time* and the set
  :meth:`Centre.select` then gives is the *reserved set*. Every later job in
  FIFO order then starts now if it fits on the free QPUs outside the
  reserved set (it cannot delay the head, however long it runs), or else if
  it fits on the free QPUs and ``now + estimate_ps <= shadow time``. With
  exact estimates the head starts at its shadow time or earlier; a job that
  runs longer than its estimate is not stopped and may delay the head.

No policy ages a job: under a sustained load a long job (``"sjf"``) or a
low-priority one (any policy) can wait without bound. Within the highest
waiting priority ``"fifo"`` starves none (the first waiting job blocks the
rest and starts once enough running jobs end), nor does ``"backfill"`` while
no job overruns its estimate; jobs that do can delay the head again and again.

:func:`simulate_queue` runs the queue as a discrete-event simulation in
integer picoseconds: at each event time, jobs that end are released first,
then arriving jobs join the queue (or are rejected), then the policy picks
which waiting jobs start. ``duration_of(job, qpus)`` gives each started
job's duration; it is called once per job, in start order. The waiting jobs
are kept indexed (:class:`~dqsim.scenarios.cloud_waiting.WaitingJobs`): a
pick looks at the jobs it starts, the head, and behind the head only the
jobs that could still start (of a size no selection has failed for, and for
the free QPUs short enough), so an event costs O(log n) per job looked at,
not O(n) for a backlog of n; the schedules are those of a walk over the
whole queue (``tests/test_cloud_queue_index.py`` keeps that walk and
compares). The running jobs are kept in order of estimated end
(:class:`RunningEnds`), and a reservation releases them into connected
groups of available QPUs (:class:`ConnectedGroups`, union-find) until one
holds the head: one selection per reservation, not one per estimated end,
and no sorting of the running jobs at each event.

Examples:
    >>> centre = Centre.from_edges(4, [(0, 1), (1, 2), (2, 3)], data_qubits=2)
    >>> centre.select(5, {0, 1, 2, 3}), centre.select(3, {0, 2, 3}), centre.select(5, {0, 2, 3})
    ((0, 1, 2), (2, 3), None)
    >>> jobs = [QueuedJob(0, "a", 6, submit_ps=0, estimate_ps=10), QueuedJob(1, "b", 2, submit_ps=1, estimate_ps=5)]
    >>> [(r.job.name, r.qpus, r.start_ps, r.end_ps) for r in
    ...  simulate_queue(jobs, "fifo", centre, lambda job, qpus: job.estimate_ps)]
    [('a', (0, 1, 2), 0, 10), ('b', (3,), 1, 6)]
"""

from __future__ import annotations

import bisect
import heapq
import math
from abc import ABC, abstractmethod
from array import array
from collections.abc import Sequence as SequenceABC
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Collection, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from dqsim.errors import count_of
from dqsim.network.node import ComputedSequence, RepeatedValue
from dqsim.scenarios.cloud_waiting import BackfillLimits, WaitingJobs

__all__ = [
    "Centre", "QueuedJob", "Running", "JobRecord", "JobFailed", "Scheduler", "FifoScheduler",
    "ShortestJobFirstScheduler", "BackfillScheduler", "POLICIES", "make_scheduler", "simulate_queue",
    "queue_metrics", "RunningEnds", "ConnectedGroups",
]


class JobFailed(Exception):
    """Raised by ``duration_of`` when a started job cannot run; its QPUs are released at once.

    Args:
        reason: one line, stored in the job's record.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class QueueClockPassed(Exception):
    """Raised by :func:`simulate_queue` when a job would end past its ``limit_ps`` (the caller says why, in its
    words: which keys set the job's time).

    Attributes:
        job: the :class:`QueuedJob`; start_ps, end_ps: when it started and would end, ps.
    """

    def __init__(self, job: "QueuedJob", start_ps: int, end_ps: int):
        super().__init__(f"job {job.name!r} would end at {end_ps} ps")
        self.job, self.start_ps, self.end_ps = job, start_ps, end_ps


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A user job as the scheduler sees it.

    Attributes:
        job_id: unique id, >= 0 (ties in every order are broken by it).
        name: label for tables and messages.
        num_qubits: data qubits the job needs, >= 1.
        submit_ps: when it reaches the centre, ps, >= 0.
        estimate_ps: estimated duration, ps, >= 0 (SJF order and backfilling
            decisions; never its actual duration).
        priority: higher runs first (default 0).
        refusal: why the centre refuses the job on arrival whatever QPUs are
            free (its circuit cannot run there), one line; empty: it may run.
        payload: anything the caller needs back (e.g. the circuit); not compared.
    """

    job_id: int
    name: str
    num_qubits: int
    submit_ps: int
    estimate_ps: int
    priority: int = 0
    refusal: str = ""
    payload: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        for key, low in (("job_id", 0), ("num_qubits", 1), ("submit_ps", 0), ("estimate_ps", 0)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"QueuedJob {self.name!r}: {key} must be an integer >= {low}, got {value!r}")


class Running(NamedTuple):
    """A job holding its QPUs since ``start_ps`` (what a scheduler may know: not its actual end)."""

    job: QueuedJob
    qpus: tuple[int, ...]
    start_ps: int


@dataclass(slots=True)
class JobRecord:
    """What happened to one job.

    Attributes:
        job: the job.
        status: ``"done"``, ``"failed"`` (``duration_of`` raised :class:`JobFailed`)
            or ``"rejected"`` (it fits no connected set of the centre, or its
            ``refusal`` says why it cannot run).
        qpus: the QPU indices it ran on (empty when rejected).
        start_ps / end_ps: when it started and ended, ps (``None`` when rejected).
        reason: why it was rejected or failed (empty otherwise).
    """

    job: QueuedJob
    status: str
    qpus: tuple[int, ...] = ()
    start_ps: int | None = None
    end_ps: int | None = None
    reason: str = ""

    @property
    def wait_ps(self) -> int | None:
        """Time from submission to start, ps (``None`` when rejected)."""
        return None if self.start_ps is None else self.start_ps - self.job.submit_ps


def qubit_table(data_qubits: int | Sequence[int], num: int) -> Sequence[int]:
    """Every QPU's data qubits held compactly: a :class:`~dqsim.network.node.RepeatedValue` for one integer (or a
    :class:`~dqsim.network.node.RepeatedValue` given), else an ``array("q")`` (8 bytes a QPU; a tuple of every
    QPU's until 2026-12-07 (night)).

    Examples:
        >>> qubit_table(2, 3), qubit_table([2, 4], 2)
        ([2, 2, 2], array('q', [2, 4]))
    """
    if isinstance(data_qubits, RepeatedValue):
        return data_qubits
    if isinstance(data_qubits, (int, np.integer)):
        return RepeatedValue(int(data_qubits), num)
    return array("q", map(int, data_qubits))


def least_qubits(values: Sequence[int]) -> int:
    """The fewest data qubits of a table of :func:`qubit_table` (0 for none)."""
    if isinstance(values, RepeatedValue):
        return values.value if len(values) else 0
    return min(values, default=0)


def total_qubits(values: Sequence[int]) -> int:
    """The data qubits of every QPU of a table of :func:`qubit_table`, together."""
    return values.value * len(values) if isinstance(values, RepeatedValue) else sum(values)


def qubit_column(values: Sequence[int]) -> np.ndarray:
    """A table of :func:`qubit_table` as an int64 array (a view of an ``array("q")``, no copy)."""
    if isinstance(values, RepeatedValue):
        return np.full(len(values), values.value, dtype=np.int64)
    if isinstance(values, array) and values.typecode == "q":
        return np.frombuffer(values, dtype=np.int64) if len(values) else np.zeros(0, dtype=np.int64)
    return np.array(values, dtype=np.int64).reshape(-1)


class LinkedQpus(SequenceABC):
    """Each QPU's linked QPUs, sorted, as compressed sparse rows: QPU ``q``'s are ``far[start[q]:start[q + 1]]``
    (``start`` int64, ``far`` int32: ~16 bytes a link), made from the links' ends with NumPy. Until 2026-12-07
    (night) a centre held a tuple of every QPU's (~80 bytes a QPU of two links), made through a set per QPU
    (~220 bytes) from the network's links as tuples (~64 bytes a link).

    Examples:
        >>> linked = LinkedQpus(4, np.array([[0, 1], [2, 1], [1, 0]]))
        >>> len(linked), [list(n) for n in linked]
        (4, [[1], [0, 2], [1], []])

    Raises:
        ValueError: a link out of range or from a QPU to itself (naming the first).
    """

    __slots__ = ("start", "far")

    def __init__(self, num_qpus: int, ends: np.ndarray):
        ends = np.asarray(ends, dtype=np.int64).reshape(-1, 2)
        bad = np.flatnonzero((ends.min(axis=1, initial=0) < 0) | (ends.max(axis=1, initial=0) >= num_qpus)
                             | (ends[:, 0] == ends[:, 1])) if len(ends) else np.zeros(0, dtype=np.int64)
        if bad.size:
            q, n = ends[int(bad[0])].tolist()
            raise ValueError(f"Centre: link {q}-{n} is out of range, a self-loop or one-sided")
        keys = np.concatenate((ends[:, 0] * num_qpus + ends[:, 1], ends[:, 1] * num_qpus + ends[:, 0]))
        keys = np.unique(keys)  # (sorted by QPU, then neighbour; a link given twice kept once)
        owner, far = np.divmod(keys, num_qpus)
        del keys
        self.start, self.far = array("q"), array("i")
        self.start.frombytes(np.concatenate(([0], np.cumsum(np.bincount(owner, minlength=num_qpus)))).astype(
            np.int64).tobytes())
        self.far.frombytes(far.astype(np.int32).tobytes())

    def __len__(self) -> int:
        return len(self.start) - 1

    def __getitem__(self, qpu: int) -> array:
        if not 0 <= qpu < len(self):
            raise IndexError("LinkedQpus index out of range")
        return self.far[self.start[qpu]:self.start[qpu + 1]]


class Centre:
    """The QPUs of a centre: links between them and their data qubits.

    Args:
        neighbours: for each QPU index, the indices it is linked to (symmetric), or a :class:`LinkedQpus`
            (:meth:`from_edges`), kept as it is.
        data_qubits: data qubits of each QPU, >= 0; one integer (or a :class:`~dqsim.network.node.RepeatedValue`)
            means every QPU; held as :func:`qubit_table` holds it.
        names: QPU names (default ``qpu0``, ``qpu1``, ...).

    Raises:
        ValueError: sizes or indices that do not match, or an asymmetric link.

    Examples:
        >>> c = Centre.from_edges(3, [(0, 1)], data_qubits=[2, 2, 4])
        >>> c.qpus_needed(4), c.rejection(5)
        (1, 'needs 5 data qubits on connected QPUs; the largest connected group of QPUs holds 4')
    """

    def __init__(self, neighbours: Sequence[Iterable[int]], data_qubits: int | Sequence[int],
                 names: Sequence[str] | None = None):
        num = len(neighbours)
        if num < 1:
            raise ValueError("Centre: needs at least one QPU")
        linked = isinstance(neighbours, LinkedQpus)  # (made from links: sorted, symmetric, in range, checked)
        self.neighbours: Sequence[Sequence[int]] = (
            neighbours if linked else tuple(tuple(sorted(set(n))) for n in neighbours))
        self.data_qubits: Sequence[int] = qubit_table(data_qubits, num)
        self.names: Sequence[str] = (names if isinstance(names, (tuple, ComputedSequence)) else tuple(names)
                                     if names is not None else tuple(f"qpu{i}" for i in range(num)))
        if len(self.data_qubits) != num or len(self.names) != num:
            raise ValueError(f"Centre: {count_of(num, 'QPU')} but {len(self.data_qubits)} capacities and "
                             f"{len(self.names)} names")
        if least_qubits(self.data_qubits) < 0:
            raise ValueError(f"Centre: data_qubits must be >= 0, got {list(self.data_qubits)}")
        if linked:
            return
        for q, ns in enumerate(self.neighbours):
            for n in ns:
                if not 0 <= n < num or n == q or q not in self.neighbours[n]:
                    raise ValueError(f"Centre: link {q}-{n} is out of range, a self-loop or one-sided")

    @classmethod
    def from_edges(cls, num_qpus: int, edges: Iterable[tuple[int, int]] | np.ndarray, *,
                   data_qubits: int | Sequence[int], names: Sequence[str] | None = None) -> "Centre":
        """A centre of ``num_qpus`` QPUs linked by ``edges`` (index pairs, or an ``(m, 2)`` array of them, as
        :meth:`dqsim.network.network.Network.link_ends` gives): their neighbours as :class:`LinkedQpus` arrays.

        Raises:
            ValueError: a link out of range or from a QPU to itself.
        """
        ends = edges if isinstance(edges, np.ndarray) else np.array(list(edges), dtype=np.int64)
        return cls(LinkedQpus(num_qpus, ends.reshape(-1, 2)), data_qubits, names)

    @classmethod
    def from_graph(cls, graph, node_names: Sequence[str], data_qubits: int | Sequence[int]) -> "Centre":
        """A centre from a topology graph (:mod:`dqsim.network.topology`); QPU i is ``node_names[i]``."""
        index = {name: i for i, name in enumerate(node_names)}
        return cls.from_edges(len(node_names), [(index[u], index[v]) for u, v in graph.edges()],
                              data_qubits=data_qubits, names=node_names)

    @property
    def num_qpus(self) -> int:
        return len(self.neighbours)

    def __repr__(self) -> str:
        return f"Centre({[list(n) for n in self.neighbours]}, {list(self.data_qubits)}, {list(self.names)})"

    def select(self, num_qubits: int, free: Collection[int]) -> tuple[int, ...] | None:
        """The connected set of free QPUs a job of ``num_qubits`` gets now (sorted), or ``None``.

        Breadth-first growth from the lowest free index, as the module docstring says.
        """
        free_set = free if isinstance(free, (set, frozenset)) else set(free)  # read, never changed
        if not free_set:
            return None
        chosen, tried = self._grow(num_qubits, min(free_set), free_set)  # most selections end at the first start
        if chosen is not None:
            return chosen
        for start in sorted(free_set):
            if start not in tried:
                chosen, seen = self._grow(num_qubits, start, free_set)
                if chosen is not None:
                    return chosen
                tried |= seen
        return None

    def _grow(self, num_qubits: int, start: int, free: Collection[int]) -> tuple[tuple[int, ...] | None, set[int]]:
        """Breadth-first growth from ``start`` through ``free``: ``(the sorted set, None)`` once it holds
        ``num_qubits`` data qubits, else ``(None, the QPUs visited)`` (the whole connected group of ``start``)."""
        capacity, neighbours = self.data_qubits, self.neighbours
        chosen, total = [], 0
        seen = {start}
        todo = deque([start])
        while todo:
            qpu = todo.popleft()
            chosen.append(qpu)
            total += capacity[qpu]
            if total >= num_qubits:
                return tuple(sorted(chosen)), seen
            for other in neighbours[qpu]:
                if other in free and other not in seen:
                    seen.add(other)
                    todo.append(other)
        return None, seen

    def qpus_needed(self, num_qubits: int) -> int:
        """Fewest QPUs whose data qubits add up to ``num_qubits`` (``ceil(n / c)`` for equal capacities)."""
        if isinstance(self.data_qubits, RepeatedValue):  # (one capacity: no sorted list of every QPU's)
            each = self.data_qubits.value
            count = 1 if num_qubits <= each else self.num_qpus + 1 if each == 0 else -(-num_qubits // each)
            return min(count, self.num_qpus + 1)
        total = 0
        for count, capacity in enumerate(sorted(self.data_qubits, reverse=True), start=1):
            total += capacity
            if total >= num_qubits:
                return count
        return self.num_qpus + 1

    def rejection(self, num_qubits: int) -> str | None:
        """Why a job of ``num_qubits`` can never run on this centre, or ``None`` if it can."""
        total = total_qubits(self.data_qubits)
        if num_qubits > total:
            capacities = {self.data_qubits.value} if isinstance(self.data_qubits, RepeatedValue) else set(
                self.data_qubits)
            qpus = count_of(self.num_qpus, "QPU")
            how = f"{qpus} × {self.data_qubits[0]}" if len(capacities) == 1 else f"all {qpus} together"
            return f"needs {num_qubits} data qubits; the centre has {total} ({how})"
        if self.select(num_qubits, range(self.num_qpus)) is None:
            return (f"needs {num_qubits} data qubits on connected QPUs; the largest connected group "
                    f"of QPUs holds {self._largest_group()}")
        return None

    def _largest_group(self) -> int:
        best, seen = 0, set()
        for start in range(self.num_qpus):
            if start in seen:
                continue
            group, todo = {start}, [start]
            while todo:
                for other in self.neighbours[todo.pop()]:
                    if other not in group:
                        group.add(other)
                        todo.append(other)
            seen |= group
            best = max(best, sum(self.data_qubits[q] for q in group))
        return best


class Scheduler(ABC):
    """A queue policy: which waiting jobs start now, and on which QPUs.

    Args:
        centre: the centre whose QPUs it hands out.
    """

    #: Policy name (:data:`POLICIES` key).
    name: ClassVar[str] = ""

    def __init__(self, centre: Centre):
        self.centre = centre

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.centre!r})"

    @abstractmethod
    def order_key(self, job: QueuedJob) -> tuple:
        """Sort key of the queue (smallest first)."""

    def ordered(self, queue: Iterable[QueuedJob]) -> list[QueuedJob]:
        """The queue in this policy's order."""
        return sorted(queue, key=self.order_key)

    def waiting(self, queue: Iterable[QueuedJob]) -> WaitingJobs:
        """A :class:`~dqsim.scenarios.cloud_waiting.WaitingJobs` of ``queue`` in this policy's order, every job
        waiting."""
        queue = list(queue)
        waiting = WaitingJobs(queue, self.order_key)
        for job in queue:
            waiting.add(job)
        return waiting

    def pick(self, queue: Sequence[QueuedJob], free_qpus: Collection[int], now: int, *,
             running: Sequence[Running] = ()) -> list[tuple[QueuedJob, tuple[int, ...]]]:
        """Jobs to start at ``now`` with their QPU sets (disjoint, within ``free_qpus``).

        :meth:`pick_waiting` of the queue (:meth:`waiting`).

        Args:
            queue: the waiting jobs (any order).
            free_qpus: indices of the idle QPUs.
            now: the current time, ps.
            running: the jobs holding QPUs (for reservations).
        """
        return self.pick_waiting(self.waiting(queue), free_qpus, now, running=running)

    def pick_waiting(self, waiting: WaitingJobs, free_qpus: Collection[int], now: int, *,
                     running: Sequence[Running] | RunningEnds = ()) -> list[tuple[QueuedJob, tuple[int, ...]]]:
        """:meth:`pick` of the waiting jobs kept indexed in this policy's order (:func:`simulate_queue` keeps
        them so, instead of sorting or walking the whole queue at every event, and the running jobs in a
        :class:`RunningEnds`, instead of sorting them by estimated end at every reservation).

        The default: in that order, start jobs while they fit; the first that
        does not fit blocks the rest.
        """
        return self._start_in_order(waiting, set(free_qpus))[0]

    def _start_in_order(self, waiting: WaitingJobs, free: set[int]) -> tuple[list, QueuedJob | None]:
        """Start waiting jobs in order while they fit on ``free`` (taking their QPUs out of it): the starts and
        the first job that does not fit (``None``: every job started)."""
        starts, capacity = [], self.centre.data_qubits
        qubits = sum(map(capacity.__getitem__, free))  # in C: no Python step per QPU
        for job in waiting:
            # fewer free data qubits than it needs: no selection can succeed (a cheap test before the selection)
            qpus = self.centre.select(job.num_qubits, free) if job.num_qubits <= qubits else None
            if qpus is None:
                return starts, job
            starts.append((job, qpus))
            free.difference_update(qpus)
            qubits -= sum(map(capacity.__getitem__, qpus))
        return starts, None


class FifoScheduler(Scheduler):
    """First come, first served (within a priority), blocking at the first job that does not fit."""

    name = "fifo"

    def order_key(self, job: QueuedJob) -> tuple:
        return (-job.priority, job.submit_ps, job.job_id)


class ShortestJobFirstScheduler(Scheduler):
    """Shortest estimated duration first (within a priority), blocking at the first job that does not fit."""

    name = "sjf"

    def order_key(self, job: QueuedJob) -> tuple:
        return (-job.priority, job.estimate_ps, job.submit_ps, job.job_id)


class BackfillScheduler(FifoScheduler):
    """EASY backfilling over the FIFO order (see the module docstring for the exact rule)."""

    name = "backfill"

    def reservation(self, head: QueuedJob, free_qpus: Collection[int], now: int,
                    running: Sequence[Running] | RunningEnds) -> tuple[int, tuple[int, ...]]:
        """``(shadow time, reserved set)`` of ``head``, from the running jobs' estimated ends."""
        qpus = self.centre.select(head.num_qubits, free_qpus)
        if qpus is not None:
            return now, qpus
        ends = running if isinstance(running, RunningEnds) else RunningEnds(running)
        return self._reservation(head, set(free_qpus), now, ends, ())

    def _reservation(self, head: QueuedJob, free: set[int], now: int, ends: RunningEnds,
                     started: Sequence[Running]) -> tuple[int, tuple[int, ...]]:
        """:meth:`reservation` of a head that does not fit on ``free`` now, the running jobs being ``ends`` and
        ``started`` (jobs this pick started).

        The running jobs are released in order of their estimated end (``ends`` keeps them so), those of one end
        together, into connected groups of available QPUs kept by union-find (:class:`ConnectedGroups`); a
        selection succeeds exactly when some group holds the head's data qubits (it grows from the lowest index
        of each group in turn through the whole group), so the shadow time is the first end at which one does,
        and the one selection made is the one that gives the reserved set.
        """
        available = set(free)
        groups = ConnectedGroups(self.centre, available)
        need = head.num_qubits
        released = heapq.merge(ends, sorted((job.start_ps + job.job.estimate_ps, job.job.job_id, job.qpus)
                                            for job in started)) if started else ends
        shadow_ps = None
        for end, _, qpus in released:
            end = max(end, now)
            if shadow_ps is not None and end != shadow_ps:
                break  # every job of the shadow time is released
            available.update(qpus)
            groups.add(qpus)
            if shadow_ps is None and groups.largest >= need:
                shadow_ps = end
        if shadow_ps is None:
            raise RuntimeError(f"job {head.name!r} fits nowhere even when every running job has ended")
        return shadow_ps, self.centre.select(need, available)

    def pick_waiting(self, waiting: WaitingJobs, free_qpus: Collection[int], now: int, *,
                     running: Sequence[Running] | RunningEnds = ()) -> list[tuple[QueuedJob, tuple[int, ...]]]:
        free = set(free_qpus)
        starts, head = self._start_in_order(waiting, free)
        if head is None:
            return starts
        started = [Running(job, qpus, now) for job, qpus in starts]
        ends = running if isinstance(running, RunningEnds) else RunningEnds(running)
        shadow_ps, reserved = self._reservation(head, free, now, ends, started)
        outside = free - set(reserved)
        # The walk behind the head: a job starts now if it fits outside the reserved set, or if it fits on the
        # free QPUs and ends (by its estimate) by the shadow time. A set of QPUs that holds no connected group of
        # n data qubits holds none of more, nor does any subset of it (the free QPUs only shrink here), and none
        # of more than its data qubits: the least size known to fail on each set is kept in the limits, and only
        # the jobs they admit are looked at (WaitingJobs.backfill_candidates), in queue order; every other job
        # a walk of the whole queue would pass by (it would try no selection, or one that fails).
        # A selection succeeds exactly when a connected group of the set holds the job, so the walk starts from the
        # largest groups' data qubits, not the sets' (no selection that fails for want of links); as jobs start,
        # the sets' data qubits bound them.
        capacity = self.centre.data_qubits
        qubits_outside, qubits_free = self._qubits(outside), self._qubits(free)
        limits = BackfillLimits(ConnectedGroups(self.centre, outside).largest + 1,
                                ConnectedGroups(self.centre, free).largest + 1, shadow_ps - now)
        for job in waiting.backfill_candidates(head, limits):
            size, qpus = job.num_qubits, None
            if size < limits.below_any:
                qpus = self.centre.select(size, outside)
                if qpus is None:
                    limits.below_any = size
            if qpus is None and size < limits.below_short and job.estimate_ps <= limits.max_estimate_ps:
                qpus = self.centre.select(size, free)
                if qpus is None:
                    limits.below_short = size
            if qpus is not None:
                starts.append((job, qpus))
                for qpu in qpus:
                    free.discard(qpu)
                    qubits_free -= capacity[qpu]
                    if qpu in outside:
                        outside.discard(qpu)
                        qubits_outside -= capacity[qpu]
                limits.below_any = min(limits.below_any, qubits_outside + 1)
                limits.below_short = min(limits.below_short, qubits_free + 1)
            if limits.below_any <= 1 and limits.below_short <= 1:
                break  # nothing fits anywhere
        return starts

    def _qubits(self, qpus: Iterable[int]) -> int:
        """Data qubits of ``qpus`` together."""
        return sum(map(self.centre.data_qubits.__getitem__, qpus))


class RunningEnds:
    """The running jobs in order of their estimated end (``start_ps + job.estimate_ps``, then job id), kept as
    jobs start and end (:func:`simulate_queue`), so that a reservation need not sort them at every event.

    Iterating gives ``(estimated end ps, job id, qpus)`` in that order; :meth:`add` and :meth:`remove` are a
    bisection and a list move each (at most one entry per QPU).

    Examples:
        >>> ends = RunningEnds([Running(QueuedJob(0, "a", 1, 0, 9), (0,), 2),
        ...                     Running(QueuedJob(1, "b", 1, 0, 3), (1,), 5)])
        >>> list(ends), len(ends)
        ([(8, 1, (1,)), (11, 0, (0,))], 2)
    """

    __slots__ = ("_keys", "_qpus")

    def __init__(self, running: Iterable[Running] = ()):
        self._keys: list[tuple[int, int]] = []
        self._qpus: dict[int, tuple[int, ...]] = {}
        for job in running:
            self.add(job)

    def add(self, running: Running) -> None:
        """A job starts."""
        bisect.insort(self._keys, (running.start_ps + running.job.estimate_ps, running.job.job_id))
        self._qpus[running.job.job_id] = running.qpus

    def remove(self, running: Running) -> None:
        """A job ends."""
        key = (running.start_ps + running.job.estimate_ps, running.job.job_id)
        del self._keys[bisect.bisect_left(self._keys, key)]
        del self._qpus[running.job.job_id]

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[tuple[int, int, tuple[int, ...]]]:
        qpus = self._qpus
        return ((end, job_id, qpus[job_id]) for end, job_id in self._keys)


class ConnectedGroups:
    """The connected groups of a growing set of QPUs of a centre (union-find), and the most data qubits one holds.

    Args:
        centre: the centre (its links and data qubits).
        qpus: the QPUs in the set at first.

    Examples:
        >>> groups = ConnectedGroups(Centre.from_edges(4, [(0, 1), (1, 2), (2, 3)], data_qubits=2), [0, 2])
        >>> groups.largest, (groups.add([3]), groups.largest)[1], (groups.add([1]), groups.largest)[1]
        (2, 4, 8)
    """

    __slots__ = ("_capacity", "_neighbours", "_parent", "_qubits", "largest")

    def __init__(self, centre: Centre, qpus: Iterable[int] = ()):
        self._capacity, self._neighbours = centre.data_qubits, centre.neighbours
        self._parent: list[int] = [-1] * centre.num_qpus  # -1: not in the set; a root is its own parent
        self._qubits: dict[int, int] = {}  # root -> data qubits of its group
        #: the most data qubits a connected group holds
        self.largest = 0
        self.add(qpus)

    def add(self, qpus: Iterable[int]) -> None:
        """Put ``qpus`` in the set, joining each to the groups of its neighbours in the set."""
        parent, qubits, capacity = self._parent, self._qubits, self._capacity
        for qpu in qpus:
            if parent[qpu] >= 0:
                continue
            parent[qpu] = qpu
            total = capacity[qpu]
            for other in self._neighbours[qpu]:
                if parent[other] < 0:
                    continue
                while parent[other] != other:  # its root, halving the path
                    parent[other] = other = parent[parent[other]]
                if other != qpu:
                    total += qubits.pop(other)
                    parent[other] = qpu
            qubits[qpu] = total
            if total > self.largest:
                self.largest = total


#: Policy name -> scheduler class.
POLICIES: dict[str, type[Scheduler]] = {
    "fifo": FifoScheduler, "sjf": ShortestJobFirstScheduler, "backfill": BackfillScheduler}


def make_scheduler(policy: str, centre: Centre) -> Scheduler:
    """The scheduler of ``policy`` (``"fifo"``, ``"sjf"`` or ``"backfill"``) for ``centre``.

    Raises:
        ValueError: an unknown policy.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy = {policy!r}; allowed: {', '.join(POLICIES)}")
    return POLICIES[policy](centre)


def simulate_queue(jobs: Iterable[QueuedJob], policy: str | Scheduler, centre: Centre,
                   duration_of: Callable[[QueuedJob, tuple[int, ...]], int], *,
                   limit_ps: int | None = None) -> list[JobRecord]:
    """Run the centre's queue in simulated time (see the module docstring).

    Args:
        jobs: the jobs, unique ``job_id``.
        policy: a :data:`POLICIES` name or a :class:`Scheduler`.
        centre: the QPUs.
        duration_of: ``duration_of(job, qpus)`` -> the job's duration, integer
            ps >= 0, called when it starts (in start order); it may raise
            :class:`JobFailed` (the job ends at once, status ``"failed"``).
        limit_ps: latest time the queue's clock may reach, ps (``None``: no limit).

    Returns:
        One :class:`JobRecord` per job, in the order of ``jobs``.

    Raises:
        QueueClockPassed: a job would end after ``limit_ps`` (as soon as its duration is known).
        ValueError: repeated job ids, a bad duration, or a scheduler that hands
            out busy or unknown QPUs.
    """
    jobs = list(jobs)
    scheduler = policy if isinstance(policy, Scheduler) else make_scheduler(policy, centre)
    ids = [job.job_id for job in jobs]
    if len(set(ids)) != len(ids):
        raise ValueError("simulate_queue: job ids must be unique")
    arrivals = sorted(jobs, key=lambda job: (job.submit_ps, job.job_id))
    records: dict[int, JobRecord] = {}
    queue: dict[int, QueuedJob] = {}  # the waiting jobs by id
    # The waiting jobs indexed in the policy's order (WaitingJobs): a scheduler that keeps the default pick is
    # handed them so, and sorts and walks no more of the queue at an event than its pick looks at.
    indexed = type(scheduler).pick is Scheduler.pick
    waiting = WaitingJobs(jobs, scheduler.order_key) if indexed else None
    rejections: dict[int, str | None] = {}  # size -> why the centre can never run it (one selection per size)
    running: dict[int, Running] = {}
    by_estimate = RunningEnds()  # the running jobs by estimated end, for the reservations of backfilling
    ends: list[tuple[int, int]] = []  # heap of (end_ps, job_id)
    free = set(range(centre.num_qpus))
    next_arrival = 0
    while next_arrival < len(arrivals) or ends:
        candidates = [ends[0][0]] if ends else []
        if next_arrival < len(arrivals):
            candidates.append(arrivals[next_arrival].submit_ps)
        now = min(candidates)
        while ends and ends[0][0] == now:
            _, job_id = heapq.heappop(ends)
            ended = running.pop(job_id)
            by_estimate.remove(ended)
            free.update(ended.qpus)
        while next_arrival < len(arrivals) and arrivals[next_arrival].submit_ps == now:
            job = arrivals[next_arrival]
            next_arrival += 1
            if job.num_qubits not in rejections:
                rejections[job.num_qubits] = centre.rejection(job.num_qubits)
            reason = job.refusal or rejections[job.num_qubits]
            if not reason:
                queue[job.job_id] = job
                if indexed:
                    waiting.add(job)
            else:
                records[job.job_id] = JobRecord(job, "rejected", reason=reason)
        if not queue:
            continue
        if indexed:
            picked = scheduler.pick_waiting(waiting, frozenset(free), now, running=by_estimate)
        else:
            picked = scheduler.pick(tuple(queue.values()), frozenset(free), now, running=tuple(running.values()))
        for job, qpus in picked:
            qpus = tuple(sorted(qpus))
            if job.job_id not in queue or not qpus or not set(qpus) <= free:
                raise ValueError(f"simulate_queue: {type(scheduler).__name__} started {job.name!r} on QPUs "
                                 f"{list(qpus)}, which are not all free or the job is not waiting")
            del queue[job.job_id]
            if indexed:
                waiting.remove(job)
            free -= set(qpus)
            try:
                duration_ps = duration_of(job, qpus)
                status, reason = "done", ""
            except JobFailed as exc:
                duration_ps, status, reason = 0, "failed", exc.reason
            if isinstance(duration_ps, bool) or not isinstance(duration_ps, int) or duration_ps < 0:
                raise ValueError(f"simulate_queue: duration_of({job.name!r}) = {duration_ps!r}; "
                                 "must be an integer number of ps >= 0")
            if limit_ps is not None and now + duration_ps > limit_ps:
                raise QueueClockPassed(job, now, now + duration_ps)
            records[job.job_id] = JobRecord(job, status, qpus, now, now + duration_ps, reason)
            running[job.job_id] = Running(job, qpus, now)
            by_estimate.add(running[job.job_id])
            heapq.heappush(ends, (now + duration_ps, job.job_id))
        if queue and not running and next_arrival == len(arrivals):
            raise ValueError(f"simulate_queue: {type(scheduler).__name__} started nothing on an idle centre; "
                             f"{len(queue)} job(s) would wait forever")
    return [records[job.job_id] for job in jobs]


def queue_metrics(records: Sequence[JobRecord], num_qpus: int) -> dict[str, float]:
    """Centre metrics of a finished queue, times in ps.

    ``makespan_ps``: from the first submission to the last end;
    ``utilisation``: busy QPU-time / (``num_qpus`` × makespan), busy time being
    each started job's QPUs × its duration; ``throughput_per_ps``: completed
    (``"done"``) jobs / makespan; waits (start − submission) over started jobs.
    Values are ``nan`` where nothing defines them (no started job, zero makespan).

    Examples:
        >>> job = QueuedJob(0, "a", 1, submit_ps=0, estimate_ps=4)
        >>> queue_metrics([JobRecord(job, "done", (0,), 2, 6)], 2)["utilisation"]
        0.3333333333333333
    """
    started = [r for r in records if r.start_ps is not None]
    waits = sorted(r.wait_ps for r in started)
    first = min((r.job.submit_ps for r in records), default=0)
    last = max((r.end_ps for r in started), default=first)
    makespan = last - first
    busy = sum(len(r.qpus) * (r.end_ps - r.start_ps) for r in started)
    done = sum(r.status == "done" for r in records)
    nan = math.nan
    if waits:
        mid = len(waits) // 2
        median = waits[mid] if len(waits) % 2 else (waits[mid - 1] + waits[mid]) / 2
    return {
        "makespan_ps": float(makespan),
        "busy_qpu_ps": float(busy),
        "utilisation": busy / (num_qpus * makespan) if makespan > 0 else nan,
        "throughput_per_ps": done / makespan if makespan > 0 else nan,
        "mean_wait_ps": sum(waits) / len(waits) if waits else nan,
        "median_wait_ps": float(median) if waits else nan,
        "max_wait_ps": float(waits[-1]) if waits else nan,
        "num_done": done,
        "num_failed": sum(r.status == "failed" for r in records),
        "num_rejected": sum(r.status == "rejected" for r in records),
    }
