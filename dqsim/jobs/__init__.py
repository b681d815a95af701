"""Job files: TOML descriptions of a run, validated into typed, frozen configuration.

A job file has one table per section. ``[run]`` names the run and picks the
*scenario*, whose model (:data:`JOB_MODELS`) decides which other sections
exist. The modules, one job each:

* :mod:`dqsim.jobs.loading`: reading a file or a string, ``--set`` overrides;
* :mod:`dqsim.jobs.errors`: the one-line error messages;
* :mod:`dqsim.jobs.schema`: the strict section base and bounded number types;
* :mod:`dqsim.jobs.base`: ``[run]``, ``[checkpoint]`` and :class:`JobConfig`;
* :mod:`dqsim.jobs.network`: ``[network]`` and ``[distribution]``, shared by
  the networked scenarios;
* one module per scenario: :mod:`~dqsim.jobs.circuit`, :mod:`~dqsim.jobs.dqc`,
  :mod:`~dqsim.jobs.qkd`, :mod:`~dqsim.jobs.trotter`, :mod:`~dqsim.jobs.cloud`,
  :mod:`~dqsim.jobs.repeater`;
* :mod:`dqsim.jobs.registry`: every job model by scenario name.

This package exports the entry points and the job models.
"""

from dqsim.jobs.base import JobConfig
from dqsim.jobs.circuit import CircuitJob, check_observables
from dqsim.jobs.cloud import CloudJob
from dqsim.jobs.dqc import DqcJob
from dqsim.jobs.loading import (apply_overrides, config_sha256, config_sha256_by_path, config_sha256_with,
                                 file_sha256, input_file_hashes, load_job, load_job_text, override_value,
                                 overrides_from_job, overrides_relative_to, relative_inside)
from dqsim.jobs.qkd import QkdJob
from dqsim.jobs.registry import JOB_MODELS, Job
from dqsim.jobs.repeater import RepeaterJob
from dqsim.jobs.trotter import TrotterJob

__all__ = [
    "load_job", "load_job_text", "apply_overrides", "override_value", "input_file_hashes", "config_sha256",
    "config_sha256_by_path", "config_sha256_with", "file_sha256", "overrides_from_job", "overrides_relative_to",
    "relative_inside",
    "check_observables",
    "JOB_MODELS", "Job", "JobConfig",
    "CircuitJob", "DqcJob", "QkdJob", "TrotterJob", "CloudJob", "RepeaterJob",
]
