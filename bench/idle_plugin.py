"""A pytest plugin: how much of each test's wall time its process tree wants no CPU at all (every process asleep).

A worker whose test waits on something that sleeps (a SLURM job's start or requeue, a poll with a sleep, a fixed
``time.sleep``) leaves its core to whatever else runs; in the 2-worker suite on 2 cores that core idles. This
plugin tells those waits from CPU work independently of the machine's load: a process that wants the CPU is in
state ``R`` (running or runnable: on a loaded machine it queues, but stays ``R``), one that waits is ``S``/``D``.

Usage (from the repository root; works under pytest-xdist, one thread per worker)::

    IDLE_OUT=/tmp/idle.tsv PYTHONPATH=$PWD:$PWD/bench .venv/bin/python -m pytest -p no:cacheprovider \\
        -p idle_plugin tests/test_slurm.py

A thread samples every ``IDLE_PERIOD_S`` (default 0.1 s) the states of the test process's descendants (through
``/proc/PID/task/TID/children``) and of the process itself (its main thread, the one running the tests; the
sampling thread is not counted). For tests of ``tests/test_slurm.py`` the processes whose environment names the
test cluster's ``$DQSIM_SLURM_DIR/slurm.conf`` (tests/slurm/cluster.sh) count too, with their descendants: the
jobs run under slurmstepd, not under pytest.

Columns (tab-separated, one line per test, appended): test id, wall s, samples, samples with no process in state
R (idle), the idle share, the mean number of processes in state R (the tree's CPU demand), the 1-minute load at
the test's start. ``bench/idle_summary.py`` sums them per file.
"""

import os
import threading
import time
from pathlib import Path

import pytest

_OUT = os.environ.get("IDLE_OUT", "idle.tsv")
_PERIOD_S = float(os.environ.get("IDLE_PERIOD_S", "0.1"))


def _children(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            found += [int(child) for child in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except OSError:
            pass
    return found


def _state(pid: int) -> str:
    """The process's (its main thread's) state letter, '' where it has gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rindex(")") + 2]


def _running(roots: list[int]) -> int:
    """How many processes of the trees under ``roots`` (the roots included) are in state R."""
    running, todo, seen = 0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        running += _state(pid) == "R"
        todo += _children(pid)
    return running


def _slurm_job_pids() -> list[int]:
    """The processes whose environment names the test cluster's slurm.conf (``SLURM_CONF``, which sbatch passes on
    to a job): the jobs' batch scripts, sruns and ranks. slurmd's slurmstepd daemonizes (its parent is init), so
    the jobs are not slurmd's descendants."""
    folder = os.environ.get("DQSIM_SLURM_DIR", f"{os.environ.get('TMPDIR', '/tmp')}/dqsim-slurm-{os.getuid()}")
    wanted = f"SLURM_CONF={folder}/slurm.conf\0".encode()
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if wanted in Path(f"/proc/{name}/environ").read_bytes():
                    found.append(int(name))
            except OSError:
                pass
    return found


class _Sampler:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = None  # [samples, idle samples, sum of R counts] of the test running, None between tests
        self.roots: list[int] = []
        self.slurm = False
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            time.sleep(_PERIOD_S)
            with self.lock:
                counts, roots, slurm = self.counts, self.roots, self.slurm
            if counts is None:
                continue
            if slurm:
                roots = roots + _slurm_job_pids()
            running = _running(roots)
            with self.lock:
                if self.counts is counts:
                    counts[0] += 1
                    counts[1] += running == 0
                    counts[2] += running

    def start(self, roots: list[int], slurm: bool):
        with self.lock:
            self.counts, self.roots, self.slurm = [0, 0, 0], roots, slurm

    def stop(self) -> list[int]:
        with self.lock:
            counts, self.counts = self.counts, None
        return counts


_SAMPLER = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    global _SAMPLER
    if _SAMPLER is None:
        _SAMPLER = _Sampler()
    wall0, load = time.perf_counter(), os.getloadavg()[0]
    _SAMPLER.start([os.getpid()], "test_slurm" in item.nodeid)
    yield
    samples, idle, running = _SAMPLER.stop()
    share, demand = (idle / samples, running / samples) if samples else (0.0, 0.0)
    with open(_OUT, "a") as out:
        out.write(f"{item.nodeid}\t{time.perf_counter() - wall0:.2f}\t{samples}\t{idle}\t{share:.3f}\t"
                  f"{demand:.2f}\t{load:.1f}\n")
