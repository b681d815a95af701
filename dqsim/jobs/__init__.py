"""Job files: TOML descriptions of a run, validated into typed configuration.

See :mod:`dqsim.jobs.config` for the format and the error messages.
"""

from dqsim.jobs.config import (
    SCENARIOS,
    CircuitJob,
    CircuitSection,
    DistributionSection,
    DqcJob,
    DqcSimulationSection,
    JobConfig,
    NetworkSection,
    PauliTerm,
    RunSection,
    SimulationSection,
    apply_overrides,
    check_observables,
    load_job,
    load_job_text,
    parse_pauli_sum,
)

__all__ = [
    "SCENARIOS", "CircuitJob", "CircuitSection", "DistributionSection", "DqcJob",
    "DqcSimulationSection", "JobConfig", "NetworkSection", "PauliTerm", "RunSection",
    "SimulationSection", "apply_overrides", "check_observables", "load_job", "load_job_text",
    "parse_pauli_sum",
]
