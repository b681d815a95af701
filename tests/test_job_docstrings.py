"""Every key of every job-file section is documented in its section's docstring, with the range the code enforces.

docs/running.md ("Every key of a job file") sends users to these docstrings for each key's
range and default; a key added without a line there, or a bound changed in
one place only, is caught here.
"""

import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pydantic
import pytest

import dqsim.jobs
from dqsim.errors import DqsimError
from dqsim.jobs import apply_overrides, load_job
from dqsim.jobs.schema import Section
from dqsim.network.link import LinkSpec
from dqsim.network.node import NodeSpec

ROOT = Path(__file__).resolve().parent.parent

MODULES = [importlib.import_module(f"dqsim.jobs.{m.name}") for m in pkgutil.iter_modules(dqsim.jobs.__path__)]
SECTIONS = sorted({c for m in MODULES for c in vars(m).values()
                   if isinstance(c, type) and issubclass(c, Section) and c is not Section and c.__module__ == m.__name__},
                  key=lambda c: (c.__module__, c.__qualname__))


def documented_keys(cls):
    """Keys named at the start of an ``Attributes:`` line of the docstring of ``cls`` or of a base it inherits."""
    keys = set()
    for klass in cls.__mro__:
        if klass in (Section, pydantic.BaseModel, object) or not issubclass(klass, Section):
            continue
        for line in (inspect.getdoc(klass) or "").splitlines():
            match = re.match(r"^ {4}([A-Za-z_]\w*(?:, [A-Za-z_]\w*)*):\s", line)
            if match:
                keys.update(match.group(1).split(", "))
    return keys


@pytest.mark.parametrize("cls", SECTIONS, ids=lambda c: f"{c.__module__.rsplit('.', 1)[-1]}.{c.__name__}")
def test_every_key_is_in_the_docstring(cls):
    keys = {field.alias or name for name, field in cls.model_fields.items()}
    if issubclass(cls, dqsim.jobs.base.JobConfig):
        keys -= {"run", "checkpoint"}  # the [run] and [checkpoint] of every job: RunSection, CheckpointSection
    assert keys - documented_keys(cls) == set(), f"{cls.__name__}: keys without a line in its docstring"


@pytest.mark.parametrize("spec", [LinkSpec, NodeSpec], ids=lambda c: c.__name__)
def test_every_link_and_node_key_is_in_the_docstring(spec):
    """The keys of ``[network.link]``, ``[network.node]`` and the chain's are these dataclasses' fields."""
    undocumented = [f.name for f in dataclasses.fields(spec)
                    if f.name != "name" and not re.search(rf"^ {{4}}{f.name}:", inspect.getdoc(spec), re.M)]
    assert undocumented == []


def test_the_section_list_is_complete():
    names = {c.__name__ for c in SECTIONS}
    assert {"RunSection", "ArrivalsSection", "ChainSection", "QkdSourceSection", "ModelSection"} <= names


def docstring_line(cls, key):
    """The docstring line (with its continuation lines) of ``key`` in ``cls`` or a base."""
    for klass in cls.__mro__:
        lines = (inspect.getdoc(klass) or "").splitlines() if issubclass(klass, Section) else []
        for i, line in enumerate(lines):
            if re.match(r"^ {4}(?:\w+, )*" + re.escape(key) + r"(?:, \w+)*:\s", line):
                more = [l for l in lines[i + 1:i + 4] if l.startswith(" " * 8)]
                return " ".join([line, *more])
    raise AssertionError(f"{cls.__name__}.{key} has no docstring line")


@pytest.mark.parametrize(("job", "key", "low", "high", "stated"), [
    ("quickstart.toml", "checkpoint.keep", 1, 100, "1..100"),
    ("quickstart.toml", "circuit.num_qubits", 1, 40, "1..40"),
    ("quickstart.toml", "simulation.exchange_chunk_mib", 1, 2047, "1..2047"),
    ("quickstart.toml", "simulation.max_gather_qubits", 1, 34, "1..34"),
    ("dqc_ghz_4qpu.toml", "simulation.trajectories", 1, 1000, "1..1000"),
    ("repeater_chain.toml", "chain.num_links", 1, 100_000, "1..100000"),
    ("repeater_chain.toml", "chain.purification_rounds", 0, 2, "0..2"),
    ("cloud_queue.toml", "simulation.trajectories", 1, 10**8, "1..10**8"),
    ("ising_trotter_4qpu.toml", "evolution.num_points", 1, 200, "1..200"),
])
def test_docstring_ranges_are_the_enforced_ones(job, key, low, high, stated):
    """The range the docstring states is what loading accepts: both ends pass, one beyond each fails."""
    base = load_job(ROOT / "jobs" / job)
    if key == "circuit.num_qubits":
        base = apply_overrides(base, ["simulation.observables=[]"])
    section, name = key.split(".")
    assert stated in docstring_line(type(getattr(base, section)), name)
    for ok in (low, high):
        apply_overrides(base, [f"{key}={ok}"])
    for bad in (low - 1, high + 1):
        with pytest.raises(DqsimError, match=f"{key.replace('.', '].', 1)} = {bad}: must be"):
            apply_overrides(base, [f"{key}={bad}"])
