"""Scenarios: what a job file asks for, run on the lower layers.

Each scenario module has ``run_job(job, *, comm, backend, on_progress)``
returning a :class:`ScenarioOutput`, which the command line writes to HDF5
and summarises. :func:`run_job` picks the module from ``[run].scenario``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from dqsim.errors import DqsimError


@dataclass
class ScenarioOutput:
    """What a scenario hands to the output writer (identical on every rank).

    Attributes:
        attrs: scenario-specific root attributes of the output file.
        tables: name → NumPy array (structured for record tables).
        table_attrs: table name → its attributes (units).
        state: the final sharded state (written when ``save_state``), or ``None``.
        summary: lines printed for a person after the run.
    """

    attrs: dict[str, Any]
    tables: dict[str, np.ndarray]
    table_attrs: dict[str, dict] = field(default_factory=dict)
    state: Any = None
    summary: list[str] = field(default_factory=list)


def record_table(rows: list[tuple], fields: list[tuple[str, str]]) -> np.ndarray:
    """A structured array from rows; ``"U"`` fields get the width of their longest value.

    Examples:
        >>> record_table([("ab", 3)], [("name", "U"), ("count", "i8")]).dtype.descr
        [('name', '<U2'), ('count', '<i8')]
    """
    dtype = []
    for i, (name, kind) in enumerate(fields):
        if kind == "U":
            kind = f"U{max([len(str(r[i])) for r in rows] or [1]) or 1}"
        dtype.append((name, kind))
    return np.array(rows, dtype=dtype)


def circuit_attributes(circuit, shots: int) -> dict:
    """The run-file attributes naming a circuit and its size, with the shots sampled from it."""
    return {"circuit_name": circuit.name, "num_qubits": circuit.num_qubits, "num_clbits": circuit.num_clbits,
            "num_gates": len(circuit.gates()), "shots": shots}


def run_job(job, *, comm, backend, on_progress: Callable[[float, float | None, str], None] | None = None,
            checkpointing=None) -> ScenarioOutput:
    """Run the scenario of ``job`` (collective); see the module docstring.

    ``checkpointing`` (a :class:`dqsim.engine.checkpoint.CheckpointSession`)
    reaches the scenarios that write checkpoints (all on the event engine:
    dqc, qkd, trotter, cloud, repeater); asking ``circuit`` for checkpoints
    in ``[checkpoint]`` is an error.
    """
    from dqsim.scenarios import circuit_run, cloud, dqc, qkd, repeater, trotter  # noqa: PLC0415

    modules = {"circuit": circuit_run, "dqc": dqc, "qkd": qkd, "trotter": trotter, "cloud": cloud,
               "repeater": repeater}
    run = modules[job.scenario].run_job
    if checkpointing is not None and "checkpointing" in inspect.signature(run).parameters:
        return run(job, comm=comm, backend=backend, on_progress=on_progress, checkpointing=checkpointing)
    plan = getattr(job, "checkpoint", None)
    if plan is not None and (plan.every_wall_s or plan.every_sim_s):
        raise DqsimError(f"[checkpoint]: the {job.scenario} scenario does not write checkpoints (dqc, qkd, trotter, "
                         "cloud and repeater do); remove every_wall_s / every_sim_s from the job")
    return run(job, comm=comm, backend=backend, on_progress=on_progress)
