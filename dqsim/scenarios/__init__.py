"""Scenarios: what a job file asks for, run on the lower layers.

Each scenario module has ``run_job(job, *, comm, backend, on_progress)``
(plus ``checkpointing`` for those on the event engine) returning a
:class:`ScenarioOutput` (:mod:`dqsim.scenarios.output`), which the command
line writes to HDF5 and summarises. :func:`run_job` picks the scenario from
``[run].scenario`` in the table :data:`SCENARIOS` (:mod:`dqsim.scenarios.registry`).
"""

from dqsim.scenarios.output import ScenarioOutput, circuit_attributes, record_table
from dqsim.scenarios.registry import SCENARIOS, Scenario, run_job

__all__ = ["ScenarioOutput", "record_table", "circuit_attributes", "SCENARIOS", "Scenario", "run_job"]
