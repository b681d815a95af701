"""The scenario table: for each ``[run].scenario``, its job model, its run function and whether it checkpoints.

:data:`SCENARIOS` is the one place that names a scenario's run function;
:func:`run_job` dispatches through it. The job models come from the jobs
layer below (:data:`dqsim.jobs.registry.JOB_MODELS`, which job loading uses
to validate a file; the jobs layer cannot name the run functions above it),
and every row's name is its model's ``scenario``.

Examples:
    >>> [(name, s.job_model.__name__, s.checkpoints) for name, s in SCENARIOS.items()][:2]
    [('circuit', 'CircuitJob', True), ('dqc', 'DqcJob', True)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from dqsim.errors import DqsimError
from dqsim.jobs import CircuitJob, CloudJob, DqcJob, JobConfig, QkdJob, RepeaterJob, TrotterJob
from dqsim.scenarios import circuit_run, cloud, dqc, qkd, repeater, trotter
from dqsim.scenarios.output import ScenarioOutput

__all__ = ["Scenario", "SCENARIOS", "run_job"]


@dataclass(frozen=True)
class Scenario:
    """One scenario.

    Attributes:
        job_model: the model of its job files (its ``scenario`` is the scenario's name).
        run: ``run(job, *, comm, backend, on_progress[, checkpointing]) -> ScenarioOutput``
            (collective); ``checkpointing`` only when ``checkpoints``.
        checkpoints: whether it writes checkpoints (``[checkpoint]``, SIGUSR1/SIGTERM,
            ``dqsim resume``): the scenarios on the event engine at its cuts, ``circuit`` at gate boundaries.
        engine_runs: ``engine_runs(job)``, the most engine runs (checkpoint run indices) a run of the job
            takes, so that ``dqsim resume`` refuses a checkpoint of a later run before it starts (``None``
            where the scenario writes no checkpoints).
        kernels: the families of numba kernels its runs call on the CPU, which ``dqsim warmup`` compiles
            (:mod:`dqsim.scenarios.warmup`): ``"state"`` (the state vector's, in the job's precision),
            ``"qkd"``; seen in the example jobs' runs (2026-12-05: ``repeater`` calls none).
    """

    job_model: type[JobConfig]
    run: Callable[..., ScenarioOutput]
    checkpoints: bool
    engine_runs: Callable[..., int] | None = None
    kernels: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """``[run].scenario`` of its jobs."""
        return self.job_model.scenario


#: Scenario name -> :class:`Scenario`, in the order of :data:`dqsim.jobs.registry.JOB_MODELS`.
SCENARIOS: dict[str, Scenario] = {scenario.name: scenario for scenario in (
    Scenario(CircuitJob, circuit_run.run_job, checkpoints=True, engine_runs=circuit_run.num_engine_runs,
             kernels=("state",)),
    Scenario(DqcJob, dqc.run_job, checkpoints=True, engine_runs=dqc.num_engine_runs, kernels=("state",)),
    Scenario(QkdJob, qkd.run_job, checkpoints=True, engine_runs=qkd.num_engine_runs, kernels=("qkd",)),
    Scenario(TrotterJob, trotter.run_job, checkpoints=True, engine_runs=trotter.num_engine_runs,
             kernels=("state",)),
    Scenario(CloudJob, cloud.run_job, checkpoints=True, engine_runs=cloud.num_engine_runs, kernels=("state",)),
    Scenario(RepeaterJob, repeater.run_job, checkpoints=True, engine_runs=repeater.num_engine_runs),
)}


def run_job(job, *, comm, backend, on_progress: Callable[[float, float | None, str], None] | None = None,
            checkpointing=None) -> ScenarioOutput:
    """Run the scenario of ``job`` (collective); see :data:`SCENARIOS`.

    ``checkpointing`` (a :class:`dqsim.engine.checkpoint.CheckpointSession`)
    reaches the scenarios that write checkpoints (all of them today); asking
    one that does not for checkpoints in ``[checkpoint]`` is an error.
    """
    scenario = SCENARIOS[job.scenario]
    if scenario.checkpoints:
        return scenario.run(job, comm=comm, backend=backend, on_progress=on_progress, checkpointing=checkpointing)
    plan = job.checkpoint
    if plan.every_wall_s or plan.every_sim_s:
        raise DqsimError(f"[checkpoint]: the {job.scenario} scenario does not write checkpoints; remove "
                         "every_wall_s / every_sim_s from the job")
    return scenario.run(job, comm=comm, backend=backend, on_progress=on_progress)
