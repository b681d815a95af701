"""The order in which the suite's files are handed to the pytest-xdist workers: the longest first.

``scripts/test.sh`` runs whole files per worker (``--dist loadfile``) in the order the tests were collected
(``--no-loadscope-reorder``; xdist's own order is by number of tests, which handed out files of a few long tests,
such as tests/test_warmup.py, last: one worker ran them alone while the other had nothing left). Handing out the
longest file first and each next file to the first free worker keeps both busy to the end (Graham's
longest-processing-time-first rule: within 4/3 of the best split, R. L. Graham, SIAM J. Appl. Math. 17, 416 (1969)).

A file's seconds come from its last run in this checkout (pytest's cache, written by the process that ran the
tests or, under xdist, the controller, which gets every worker's reports), else from :data:`SEED_PATH` (a
suite run's per-file seconds, committed). A file with neither is estimated at its number of tests times the
seconds per test of the files known. The order changes only which worker runs a file and when.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

#: The key of the per-file seconds in pytest's cache (``.pytest_cache``).
CACHE_KEY = "dqsim/file_seconds"
#: Per-file seconds of one whole-suite run (``{"tests/test_x.py": seconds}``): the order of a fresh checkout.
SEED_PATH = Path(__file__).resolve().parent / "file_seconds.json"


def file_of(nodeid: str) -> str:
    """The file of a test's node id (``tests/test_x.py::test_y[1]`` -> ``tests/test_x.py``)."""
    return nodeid.split("::", 1)[0]


def known_seconds(cache) -> dict[str, float]:
    """Seconds per file: :data:`SEED_PATH`'s, overlaid by those the cache holds (``cache``: pytest's, or None)."""
    seconds = json.loads(SEED_PATH.read_text()) if SEED_PATH.exists() else {}
    if cache is not None:
        seconds.update(cache.get(CACHE_KEY, {}))
    return seconds


def longest_files_first(items: list, seconds: dict[str, float]) -> None:
    """Sort the collected ``items`` in place: whole files, the longest (by ``seconds``, else estimated from the
    number of tests) first; within a file the collection's order; ties in the collection's order of files."""
    counts = Counter(file_of(item.nodeid) for item in items)
    known = [name for name in counts if name in seconds]
    per_test = sum(seconds[name] for name in known) / sum(counts[name] for name in known) if known else 1.0
    first_index: dict[str, int] = {}
    for index, item in enumerate(items):
        first_index.setdefault(file_of(item.nodeid), index)

    def estimate(name: str) -> float:
        return seconds[name] if name in seconds else counts[name] * per_test

    items.sort(key=lambda item: (-estimate(file_of(item.nodeid)), first_index[file_of(item.nodeid)]))


class FileSeconds:
    """Sums the seconds of each file's test reports (setup, call, teardown) as they come, for the cache."""

    def __init__(self):
        self.seconds: Counter = Counter()

    def add(self, report) -> None:
        self.seconds[file_of(report.nodeid)] += report.duration

    def save(self, cache) -> None:
        """Store this run's files' seconds in ``cache``, keeping the other files' earlier ones."""
        if cache is None or not self.seconds:
            return
        stored = cache.get(CACHE_KEY, {})
        stored.update({name: round(value, 2) for name, value in self.seconds.items()})
        cache.set(CACHE_KEY, stored)
