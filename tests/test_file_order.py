"""tests/file_order.py: the suite's files handed to the xdist workers longest first, each file whole."""

import json
from types import SimpleNamespace

from file_order import CACHE_KEY, SEED_PATH, FileSeconds, known_seconds, longest_files_first


class FakeCache:
    """pytest's cache: get/set of JSON values."""

    def __init__(self, values=None):
        self.values = dict(values or {})

    def get(self, key, default):
        return json.loads(json.dumps(self.values.get(key, default)))

    def set(self, key, value):
        self.values[key] = value


def items(*nodeids):
    return [SimpleNamespace(nodeid=nodeid) for nodeid in nodeids]


def test_files_go_longest_first_whole_and_in_their_own_order():
    """xdist's own order (by number of tests) put the file of one long test last: here it goes first; an unknown
    file is estimated at its tests times the known seconds per test (2 x 106 s / 6: before a.py, after c.py)."""
    collected = items("tests/a.py::t1", "tests/a.py::t2", "tests/a.py::t3", "tests/b.py::t1", "tests/c.py::t[1]",
                      "tests/new.py::t1", "tests/new.py::t2", "tests/c.py::t[2]")
    longest_files_first(collected, {"tests/a.py": 6.0, "tests/b.py": 60.0, "tests/c.py": 40.0})
    assert [item.nodeid for item in collected] == [
        "tests/b.py::t1", "tests/c.py::t[1]", "tests/c.py::t[2]", "tests/new.py::t1", "tests/new.py::t2",
        "tests/a.py::t1", "tests/a.py::t2", "tests/a.py::t3"]


def test_with_no_seconds_known_the_files_go_by_number_of_tests_as_xdist_had_them():
    collected = items("tests/a.py::t1", "tests/b.py::t1", "tests/b.py::t2", "tests/c.py::t1")
    longest_files_first(collected, {})
    assert [item.nodeid for item in collected] == ["tests/b.py::t1", "tests/b.py::t2", "tests/a.py::t1",
                                                   "tests/c.py::t1"]


def test_a_run_s_seconds_go_to_the_cache_and_overlay_the_committed_ones():
    seed = json.loads(SEED_PATH.read_text())
    assert "tests/test_slurm.py" in seed and all(value >= 0 for value in seed.values())
    cache = FakeCache({CACHE_KEY: {"tests/old.py": 7.0, "tests/test_slurm.py": 1.0}})
    seconds = FileSeconds()
    for nodeid, duration in [("tests/test_slurm.py::a", 2.0), ("tests/test_slurm.py::b", 0.5),
                             ("dqsim/x.py::dqsim.x.f", 0.25)]:
        seconds.add(SimpleNamespace(nodeid=nodeid, duration=duration))
    seconds.save(cache)
    assert cache.values[CACHE_KEY] == {"tests/old.py": 7.0, "tests/test_slurm.py": 2.5, "dqsim/x.py": 0.25}
    known = known_seconds(cache)
    assert known["tests/test_slurm.py"] == 2.5 and known["tests/old.py"] == 7.0
    assert known["tests/test_warmup.py"] == seed["tests/test_warmup.py"]
    assert known_seconds(None) == seed
