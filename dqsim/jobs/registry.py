"""Every job model, by scenario name: what ``[run].scenario`` may be and which model validates the file.

This is the jobs layer's half of the scenario table: the model of each
scenario's job file. :data:`dqsim.scenarios.registry.SCENARIOS` pairs each
of these models with its run function and says whether it checkpoints (the
scenarios layer sits above this one, so the run functions cannot be named
here). Adding a scenario: write its job model (a :class:`JobConfig` subclass
with ``scenario`` set) in a module of its own here, add it to :data:`JOB_MODELS`,
and add its row to :data:`dqsim.scenarios.registry.SCENARIOS`.

Examples:
    >>> list(JOB_MODELS)
    ['circuit', 'dqc', 'qkd', 'trotter', 'cloud', 'repeater']
    >>> JOB_MODELS["qkd"].__name__
    'QkdJob'
"""

from __future__ import annotations

from typing import Union

from dqsim.jobs.base import JobConfig
from dqsim.jobs.circuit import CircuitJob
from dqsim.jobs.cloud import CloudJob
from dqsim.jobs.dqc import DqcJob
from dqsim.jobs.qkd import QkdJob
from dqsim.jobs.repeater import RepeaterJob
from dqsim.jobs.trotter import TrotterJob

__all__ = ["JOB_MODELS", "Job"]

#: Scenario name (``[run].scenario``) -> the model of its job file, in the order error messages list them.
JOB_MODELS: dict[str, type[JobConfig]] = {model.scenario: model for model in (
    CircuitJob, DqcJob, QkdJob, TrotterJob, CloudJob, RepeaterJob)}

#: A validated job of any scenario (the type :func:`dqsim.jobs.load_job` returns).
Job = Union[CircuitJob, DqcJob, QkdJob, TrotterJob, CloudJob, RepeaterJob]
