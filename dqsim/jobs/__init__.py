"""Job files: TOML descriptions of a run, validated into typed configuration.

See :mod:`dqsim.jobs.config` for the format and the error messages.
"""

from dqsim.jobs.config import (
    CheckpointSection,
    QKD_PROTOCOLS,
    SCENARIOS,
    CircuitJob,
    CircuitSection,
    ClassicalChannelSection,
    DistributionSection,
    DqcJob,
    DqcSimulationSection,
    EveSection,
    JobConfig,
    NetworkSection,
    PauliTerm,
    QkdJob,
    QkdLinkSection,
    QkdNetworkSection,
    QkdSection,
    QkdSourceSection,
    RunSection,
    SimulationSection,
    SweepSection,
    apply_overrides,
    check_observables,
    load_job,
    load_job_text,
    override_value,
    parse_pauli_sum,
)
# Scenario modules register their job models in SCENARIOS when imported.
from dqsim.jobs.trotter import TrotterJob  # noqa: E402
from dqsim.jobs.cloud import CloudJob  # noqa: E402
from dqsim.jobs.repeater import RepeaterJob  # noqa: E402

__all__ = [
    "TrotterJob", "CloudJob", "RepeaterJob",
    "CheckpointSection",
    "QKD_PROTOCOLS", "SCENARIOS", "CircuitJob", "CircuitSection", "ClassicalChannelSection",
    "DistributionSection", "DqcJob", "DqcSimulationSection", "EveSection", "JobConfig",
    "NetworkSection", "PauliTerm", "QkdJob", "QkdLinkSection", "QkdNetworkSection", "QkdSection",
    "QkdSourceSection", "RunSection", "SimulationSection", "SweepSection", "apply_overrides",
    "check_observables", "load_job", "load_job_text", "override_value", "parse_pauli_sum",
]
