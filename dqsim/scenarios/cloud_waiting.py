"""The waiting jobs of a centre's queue, indexed so that a pick never walks the whole queue.

:class:`WaitingJobs` ranks every job that may ever wait once, in a policy's
order (its ``order_key``, then the job id), and keeps two kinds of
:class:`FirstAtMost` trees over those ranks: one over all jobs (the next
waiting job after a given one: the FIFO and SJF picks), and one per job
size (data qubits) over that size's jobs, holding each waiting job's
estimated duration (EASY backfilling: the next waiting job behind the head
that may start, :meth:`WaitingJobs.backfill_candidates`). A job arriving or
starting sets one leaf in each, O(log n); the lookups are O(log n) each.

Pure Python, no MPI: every rank holds the same queue.
"""

from __future__ import annotations

import bisect
import heapq
import math
import sys
from array import array
from typing import Any, Callable, Iterable, Iterator

__all__ = ["FirstAtMost", "WaitingJobs", "BackfillLimits"]

#: The value of a position that holds no waiting job.
ABSENT = math.inf
#: A bound every waiting job's estimate meets (estimates are integers of ps, below 2**64).
ANY_ESTIMATE = sys.float_info.max


class FirstAtMost:
    """Values at positions ``0..n-1`` in a min segment tree: set one, or find the first position from ``start``
    whose value is at most a bound, each in O(log n) steps.

    Args:
        num_positions: n, >= 0; every value starts :data:`ABSENT` (infinite).

    Examples:
        >>> tree = FirstAtMost(5)
        >>> tree.set(1, 7); tree.set(3, 2)
        >>> tree.first(0, 5), tree.first(0, 9), tree.first(2, 9), tree.first(4, 9), tree.value(3)
        (3, 1, 3, None, 2)
    """

    def __init__(self, num_positions: int):
        size = 1
        while size < num_positions:
            size *= 2
        self._size, self._num = size, num_positions
        self._tree: list = [ABSENT] * (2 * size)

    def value(self, position: int):
        """The value at ``position``."""
        return self._tree[self._size + position]

    def set(self, position: int, value) -> None:
        """Set the value at ``position`` (``ABSENT``: none)."""
        tree = self._tree
        node = self._size + position
        tree[node] = value
        node >>= 1
        while node:
            left, right = tree[2 * node], tree[2 * node + 1]
            low = left if left <= right else right
            if tree[node] == low:
                break  # the minima above it are unchanged too
            tree[node] = low
            node >>= 1

    def first(self, start: int, bound) -> int | None:
        """The first position ``>= start`` whose value is ``<= bound``, or ``None``."""
        if start >= self._num:
            return None
        tree, node = self._tree, self._size + start
        if tree[node] <= bound:
            return start
        while node > 1:
            if not node & 1 and tree[node + 1] <= bound:  # a left child whose right sibling holds one
                node += 1
                while node < self._size:
                    node = 2 * node if tree[2 * node] <= bound else 2 * node + 1
                return node - self._size
            node //= 2
        return None


class BackfillLimits:
    """What a backfilling walk may still start (:meth:`WaitingJobs.backfill_candidates`), lowered as it goes.

    Attributes:
        below_any: jobs of fewer data qubits than this may start whatever their estimate.
        below_short: jobs of fewer data qubits than this may start if their estimate is at most ``max_estimate_ps``.
        max_estimate_ps: the longest estimate of a job that may start before the head's shadow time, ps.
    """

    __slots__ = ("below_any", "below_short", "max_estimate_ps")

    def __init__(self, below_any: float, below_short: float, max_estimate_ps: int):
        self.below_any, self.below_short, self.max_estimate_ps = below_any, below_short, max_estimate_ps

    def admits(self, size: int, estimate_ps: int) -> bool:
        """Whether a job of ``size`` data qubits and ``estimate_ps`` is one the walk must look at."""
        return size < self.below_any or (size < self.below_short and estimate_ps <= self.max_estimate_ps)

    def bound(self, size: int) -> float | None:
        """The largest estimate of a job of ``size`` the walk looks at (``None``: none of that size)."""
        if size < self.below_any:
            return ANY_ESTIMATE
        return self.max_estimate_ps if size < self.below_short else None


class WaitingJobs:
    """The waiting jobs among ``jobs`` in the order of ``order_key`` (then job id), indexed (module docstring).

    Args:
        jobs: every job that may wait (unique ids); none waits until :meth:`add`.
        order_key: ``order_key(job)``, smallest first (:meth:`~dqsim.scenarios.cloud_scheduler.Scheduler.order_key`).
        size_of: a job's size (default its ``num_qubits``).

    Examples:
        >>> from dqsim.scenarios.cloud_scheduler import QueuedJob
        >>> jobs = [QueuedJob(i, f"j{i}", 1 + i % 2, submit_ps=i, estimate_ps=10 * i) for i in range(4)]
        >>> waiting = WaitingJobs(jobs, lambda job: (job.submit_ps,))
        >>> for job in jobs[1:]:
        ...     waiting.add(job)
        >>> waiting.remove(jobs[2])
        >>> [job.name for job in waiting], len(waiting)
        (['j1', 'j3'], 2)
    """

    def __init__(self, jobs: Iterable, order_key: Callable[[Any], tuple], size_of: Callable[[Any], int] | None = None):
        self._size_of = size_of or (lambda job: job.num_qubits)
        self._jobs = sorted(jobs, key=lambda job: (order_key(job), job.job_id))
        ids = [job.job_id for job in self._jobs]
        if ids and len(ids) == max(ids) + 1:  # ids 0..n-1 (a cloud run's: positions): ranks in an array, 8 bytes a job
            self._rank: Any = array("q", bytes(8 * len(ids)))
            for rank, job_id in enumerate(ids):
                self._rank[job_id] = rank
        else:
            self._rank = {job_id: rank for rank, job_id in enumerate(ids)}
        self._all = FirstAtMost(len(self._jobs))
        #: size -> (ranks of the jobs of that size ascending, their tree of estimates), and each rank's size and
        #: position in its size's ranks: made at the first backfilling walk (FIFO and SJF need neither); arrays,
        #: not lists of ints and tuples (memory: 8 bytes an entry)
        self._by_size: dict[int, tuple[Any, FirstAtMost]] | None = None
        self._size_of_rank: Any = array("q")
        self._position_of_rank: Any = array("q")
        self._count = 0

    def _rank_of(self, job) -> int | None:
        """``job``'s rank, or ``None`` for a job not among those that may wait."""
        if isinstance(self._rank, dict):
            return self._rank.get(job.job_id)
        return self._rank[job.job_id] if 0 <= job.job_id < len(self._rank) else None

    def _index_sizes(self) -> dict[int, tuple[list[int], FirstAtMost]]:
        """The trees by size (made now if not yet, with the jobs waiting now)."""
        if self._by_size is None:
            ranks_of: dict[int, Any] = {}
            for rank, job in enumerate(self._jobs):
                size = self._size_of(job)
                ranks = ranks_of.get(size)
                if ranks is None:
                    ranks = ranks_of[size] = array("q")
                self._size_of_rank.append(size)
                self._position_of_rank.append(len(ranks))
                ranks.append(rank)
            self._by_size = {size: (ranks, FirstAtMost(len(ranks))) for size, ranks in sorted(ranks_of.items())}
            for job in self:
                rank = self._rank[job.job_id]
                self._by_size[self._size_of_rank[rank]][1].set(self._position_of_rank[rank], job.estimate_ps)
        return self._by_size

    def __len__(self) -> int:
        return self._count

    def __contains__(self, job) -> bool:
        rank = self._rank_of(job)
        return rank is not None and self._all.value(rank) is not ABSENT

    def add(self, job) -> None:
        """``job`` waits from now on."""
        self._set(job, job.estimate_ps)

    def remove(self, job) -> None:
        """``job`` waits no longer (it started)."""
        self._set(job, ABSENT)

    def _set(self, job, value) -> None:
        rank = self._rank[job.job_id]
        was = self._all.value(rank) is not ABSENT
        self._all.set(rank, value)
        if self._by_size is not None:
            self._by_size[self._size_of_rank[rank]][1].set(self._position_of_rank[rank], value)
        self._count += (value is not ABSENT) - was

    def __iter__(self) -> Iterator:
        """The waiting jobs in order (lazily: a pick that stops early looks at no more)."""
        return self.after(None)

    def after(self, job) -> Iterator:
        """The waiting jobs after ``job`` in order (``None``: all), lazily."""
        rank = -1 if job is None else self._rank[job.job_id]
        while True:
            rank = self._all.first(rank + 1, ANY_ESTIMATE)
            if rank is None:
                return
            yield self._jobs[rank]

    def backfill_candidates(self, head, limits: BackfillLimits) -> Iterator:
        """The waiting jobs after ``head`` in order that ``limits`` admits (:meth:`BackfillLimits.admits`),
        ``limits`` read anew at each step: the caller may lower it between two steps, never raise it.

        Every other job after ``head`` is one a backfilling walk over the whole queue would pass by
        unchanged, so walking these gives the same starts. Each bucket of one size keeps its next
        admitted job in a heap by rank; a heap entry that lowered limits no longer admit is looked up again
        from where it was (limits only fall, so no job before it can have become admitted).
        """
        by_size = self._index_sizes()
        start = self._rank[head.job_id] + 1
        heap: list[tuple[int, int, int]] = []  # (rank, size, position in its bucket)

        def push(size: int, position: int) -> None:
            bound = limits.bound(size)
            if bound is None:
                return
            ranks, tree = by_size[size]
            found = tree.first(position, bound)
            if found is not None:
                heapq.heappush(heap, (ranks[found], size, found))

        for size, (ranks, _) in by_size.items():  # ascending sizes
            if limits.bound(size) is None:
                break
            push(size, bisect.bisect_left(ranks, start))
        while heap:
            rank, size, position = heapq.heappop(heap)
            job = self._jobs[rank]
            if limits.admits(size, job.estimate_ps):
                yield job
                push(size, position + 1)
            else:
                push(size, position)
