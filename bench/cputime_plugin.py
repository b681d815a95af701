"""A pytest plugin: each test's CPU seconds, the test process's and its waited-for children's (MPI launches, ``python
-m dqsim`` subprocesses), setup + call + teardown, one tab-separated line per test.

Usage (from the repository root)::

    CPUTIME_OUT=/tmp/cpu.tsv PYTHONPATH=$PWD:$PWD/bench .venv/bin/python -m pytest -p no:cacheprovider \\
        -p cputime_plugin tests/test_checkpoint.py

Columns: test id, this process's CPU s (``time.process_time``), children's CPU s (``getrusage(RUSAGE_CHILDREN)``
user + system), their sum, wall s, 1-minute load at the test's start. A child counts once it has been waited for:
ranks killed with their launcher (SIGKILL to the process group) are reaped by init and never count, nor do SLURM
jobs. A module fixture's CPU goes to the first test that asks for it.
"""

import os
import resource
import time

import pytest

_OUT = os.environ.get("CPUTIME_OUT", "cputime.tsv")


def _cpu():
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time(), children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    own0, children0 = _cpu()
    wall0, load = time.perf_counter(), os.getloadavg()[0]
    yield
    own1, children1 = _cpu()
    own, children = own1 - own0, children1 - children0
    with open(_OUT, "a") as out:
        out.write(f"{item.nodeid}\t{own:.2f}\t{children:.2f}\t{own + children:.2f}\t"
                  f"{time.perf_counter() - wall0:.1f}\t{load:.1f}\n")
