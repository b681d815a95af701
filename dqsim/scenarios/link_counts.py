"""A distributed run's counts per link (EPR pairs, attempts, photons) as compact arrays.

The engine counts per node pair what the links did (``("pairs", a, b)``,
``("attempts", a, b)``, ``("photons", a, b)``: :meth:`dqsim.engine.NodeContext.count`,
summed over the ranks at the run's end), for the links it used only. A run
reports every link of its network, ``(a, b, pairs, attempts, photons)`` with
``a < b`` in sorted order (the run file's ``links`` table): every rank holds
the whole network, so :class:`LinkCounts` keeps the links' ends as two int32
arrays and the counts of the links that have any, not a tuple per link (an
``all_to_all`` of 1,000 nodes has 499,500 links; their tuples took ~110 bytes
each on every rank).
"""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping

import numpy as np

#: The engine's counter names of a link's counts, in the order of a row's last three columns.
COUNTED = ("pairs", "attempts", "photons")


class LinkCounts:
    """Per link of a network, ``(a, b, pairs, attempts, photons)`` with ``a < b``, rows sorted by ``(a, b)``.

    A sequence of those rows (``len``, indexing and iteration give tuples of
    ints, as the list it replaced), held as arrays: ``lows``/``highs`` (the
    links' ends, int32, sorted), and the ``rows`` (sorted indices, int64) of
    the links with counts and their ``counts`` (one row of ``pairs,
    attempts, photons`` each, int64); the other links' counts are 0.

    Examples:
        >>> counts = LinkCounts(np.array([0, 1]), np.array([1, 2]), np.array([1]), np.array([[2, 5, 9]]))
        >>> list(counts), counts[0], counts.totals()
        ([(0, 1, 0, 0, 0), (1, 2, 2, 5, 9)], (0, 1, 0, 0, 0), (2, 5, 9))
    """

    __slots__ = ("lows", "highs", "rows", "counts")

    def __init__(self, lows: np.ndarray, highs: np.ndarray, rows: np.ndarray, counts: np.ndarray):
        self.lows, self.highs = np.asarray(lows, dtype=np.int32), np.asarray(highs, dtype=np.int32)
        self.rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        self.counts = np.asarray(counts, dtype=np.int64).reshape(-1, len(COUNTED))

    @classmethod
    def of_network(cls, network, counters: Mapping) -> "LinkCounts":
        """The counts of every link of ``network`` (:class:`~dqsim.network.network.Network`) from a run's
        ``counters`` (:attr:`dqsim.engine.RunStatistics.counters`): per link ``(a, b)``, each of
        :data:`COUNTED` under ``(name, a, b)`` plus ``(name, b, a)``; counters of node pairs with no link
        are left out. Where the network's links are already in that order
        (:meth:`~dqsim.network.network.Network.links_sorted`: a ``line``, ``star``, ``all_to_all``), the ends
        are views of the network's own (no bytes per link) and each counter's link is the network's lookup."""
        num_nodes = network.num_nodes
        ends = network.link_ends()
        if network.links_sorted():  # the network's own ends (views: no copy per link) and its link lookup
            lows, highs = ends[:, 0], ends[:, 1]
            row_of = network.link_index
        else:
            lows, highs = ends.min(axis=1), ends.max(axis=1)
            order = np.lexsort((highs, lows))
            lows, highs = lows[order], highs[order]
            keys = lows.astype(np.int64) * num_nodes + highs

            def row_of(low: int, high: int) -> int:
                at = int(np.searchsorted(keys, low * num_nodes + high))
                return at if at < len(keys) and keys[at] == low * num_nodes + high else -1
        found: dict[int, list[int]] = {}
        for key, value in counters.items():
            if not (isinstance(key, tuple) and len(key) == 3 and key[0] in COUNTED):
                continue
            _name, a, b = key
            low, high = (a, b) if a < b else (b, a)
            if not (0 <= low and high < num_nodes):
                continue
            at = row_of(low, high)
            if at >= 0:
                found.setdefault(at, [0] * len(COUNTED))[COUNTED.index(key[0])] += value
        rows = sorted(found)
        return cls(lows, highs, np.array(rows, dtype=np.int64), np.array([found[row] for row in rows], dtype=np.int64))

    # ------------------------------------------------------------- rows
    def __len__(self) -> int:
        return len(self.lows)

    def dense(self) -> np.ndarray:
        """The counts of every link, an ``(m, 3)`` int64 array (``pairs, attempts, photons`` per row)."""
        dense = np.zeros((len(self.lows), len(COUNTED)), dtype=np.int64)
        dense[self.rows] = self.counts
        return dense

    def __getitem__(self, index: int) -> tuple[int, ...]:
        index = range(len(self))[index]  # (an int; IndexError past the end, as a list's)
        at = int(np.searchsorted(self.rows, index))
        counts = self.counts[at].tolist() if at < len(self.rows) and self.rows[at] == index else [0] * len(COUNTED)
        return (int(self.lows[index]), int(self.highs[index]), *counts)

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        return zip(self.lows.tolist(), self.highs.tolist(), *self.dense().T.tolist())

    def __eq__(self, other) -> bool:
        if isinstance(other, LinkCounts):
            return (np.array_equal(self.lows, other.lows) and np.array_equal(self.highs, other.highs)
                    and np.array_equal(self.dense(), other.dense()))
        if isinstance(other, (list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"LinkCounts({len(self)} links, {len(self.rows)} with counts, totals {self.totals()})"

    def totals(self) -> tuple[int, ...]:
        """``(pairs, attempts, photons)`` summed over the links (Python ints)."""
        return tuple(int(total) for total in self.counts.sum(axis=0))

    # ------------------------------------------------- across trajectories
    def sparse(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, counts)``: what a checkpoint keeps of a finished trajectory (the links' ends are the network's)."""
        return self.rows, self.counts

    def summed(self, parts: Iterable) -> "LinkCounts":
        """These links with the counts of ``parts`` summed: each a :meth:`sparse` tuple of this network's links,
        or (from a checkpoint written before 2026-12-06) a list of every link's ``(a, b, pairs, attempts, photons)``.

        Examples:
            >>> counts = LinkCounts(np.array([0, 1]), np.array([1, 2]), np.array([1]), np.array([[2, 5, 9]]))
            >>> list(counts.summed([counts.sparse(), [(0, 1, 1, 1, 0), (1, 2, 0, 0, 0)]]))
            [(0, 1, 1, 1, 0), (1, 2, 2, 5, 9)]
        """
        rows, counts = [], []
        for part in parts:
            if isinstance(part, list):  # the rows themselves (a checkpoint written before 2026-12-06)
                table = np.array(part, dtype=np.int64).reshape(-1, 2 + len(COUNTED))[:, 2:]
                used = table.any(axis=1)
                part = (np.flatnonzero(used), table[used])
            rows.append(np.asarray(part[0], dtype=np.int64))
            counts.append(np.asarray(part[1], dtype=np.int64).reshape(-1, len(COUNTED)))
        if not rows:
            return LinkCounts(self.lows, self.highs, np.zeros(0, dtype=np.int64), np.zeros((0, len(COUNTED)), dtype=np.int64))
        every, where = np.unique(np.concatenate(rows), return_inverse=True)
        total = np.zeros((len(every), len(COUNTED)), dtype=np.int64)
        np.add.at(total, where.reshape(-1), np.concatenate(counts))
        return LinkCounts(self.lows, self.highs, every, total)
