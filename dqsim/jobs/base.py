"""The sections of every job file, ``[run]`` and ``[checkpoint]``, and :class:`JobConfig`, the base of every job.

A scenario's job model (e.g. :class:`dqsim.jobs.circuit.CircuitJob`) subclasses
:class:`JobConfig`, sets its ``scenario`` name and adds its sections as fields;
:mod:`dqsim.jobs.registry` lists the models, :mod:`dqsim.jobs.loading` reads
job files into them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, PrivateAttr, field_validator, model_validator

from dqsim.errors import toml_repr
from dqsim.jobs.errors import job_error
from dqsim.jobs.schema import Section, bounded_real, checked_name

__all__ = ["RunSection", "CheckpointSection", "JobConfig", "MAX_SEED"]

#: Largest seed: seeds are stored in the output as unsigned 64-bit HDF5 attributes.
MAX_SEED = 2**64 - 1
#: Longest ``[checkpoint].every_sim_s``, s: 10**6 s (11.6 days) converts to picoseconds well inside the
#: engine's int64 clock (2**63 ps, about 107 days); a longer period never comes.
MAX_CHECKPOINT_SIM_S = 1e6


class RunSection(Section):
    """``[run]``: what the run is called, which scenario it runs, and where it writes.

    Attributes:
        name: label of the run; also the default output file name. 1..64
            characters: letters, digits, ``_``, ``-``, ``.`` (not first).
        scenario: key of :data:`dqsim.jobs.registry.JOB_MODELS` (default ``"circuit"``); the
            loader checks it and picks that scenario's model (:mod:`dqsim.jobs.loading`).
        seed: root seed of every random stream (0..2^64-1); see :mod:`dqsim.rng`.
        output: HDF5 file to write; relative paths are relative to the
            current directory. Default ``"<name>.h5"``.
        backend: ``"auto"`` (CuPy when a GPU is usable, else NumPy), ``"numpy"`` or ``"cupy"``.
        precision: ``"complex128"`` or ``"complex64"`` amplitudes.
    """

    name: str
    scenario: str = "circuit"
    seed: int = Field(0, ge=0, le=MAX_SEED)
    output: str = ""  # filled from name before validation
    backend: Literal["auto", "numpy", "cupy"] = "auto"
    precision: Literal["complex128", "complex64"] = "complex128"

    @model_validator(mode="before")
    @classmethod
    def _default_output(cls, data: Any) -> Any:
        if isinstance(data, dict) and "output" not in data and isinstance(data.get("name"), str):
            data = {**data, "output": f"{data['name']}.h5"}
        return data

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        return checked_name(name)

    @field_validator("output")
    @classmethod
    def _check_output(cls, output: str) -> str:
        if not output.strip():
            raise job_error("must be a file name, e.g. \"run.h5\"", value=output, has_value=True)
        return output


class CheckpointSection(Section):
    """``[checkpoint]``: when a run saves itself (the scenarios on the event engine at their cuts, ``circuit`` at
    gate boundaries, where ``every_sim_s`` is refused: it has no simulated time).

    Attributes:
        every_wall_s: write a checkpoint at the first window boundary after
            this many seconds of wall time since the last one (> 0), or none.
        every_sim_s: write one at the first window boundary after each
            multiple of this much simulated time, seconds (1e-12, the
            engine's 1 ps tick, ..1e6), or none.
        keep: checkpoints kept on disk, the newest first (1..100).
        keep_when_done: keep them once the run has finished and its output is
            whole; ``false`` (the default where it is not set, unless the
            environment sets ``DQSIM_KEEP_CHECKPOINTS_WHEN_DONE=1``): the run
            then removes the checkpoints it wrote and says so in its summary;
            a run that fails or stops keeps them
            (:func:`dqsim.engine.checkpoint.keeps_when_done`, :func:`~dqsim.engine.checkpoint.remove_when_done`).
        directory: folder of the checkpoint files; relative paths are
            relative to the current directory.

    SIGUSR1 or SIGTERM makes a run checkpoint at the next window boundary
    and exit with status 75, with or without this section.
    """

    every_wall_s: Optional[float] = Field(None, gt=0)
    every_sim_s: Optional[bounded_real(1e-12, MAX_CHECKPOINT_SIM_S)] = None
    keep: int = Field(2, ge=1, le=100)
    keep_when_done: Optional[bool] = None
    directory: str = "checkpoints"


class JobConfig(Section):
    """A validated job: ``[run]`` plus the sections of its scenario.

    Subclasses (one per scenario, see :data:`dqsim.jobs.registry.JOB_MODELS`) add their sections as
    fields. Besides the fields, a loaded job remembers where it came from.

    Attributes:
        run: the ``[run]`` section.
        text: the job file's text, unchanged (stored in outputs and checkpoints).
        path: the job file, or None when loaded from a string.
        source: the name used in error messages.
        base_dir: folder against which the job file's relative paths resolve.
        overrides: the ``--set`` assignments applied after loading, in order.
        raw: the parsed TOML table with the overrides applied (a copy).
    """

    #: Scenario key this model validates (set by subclasses).
    scenario: ClassVar[str] = ""

    run: RunSection
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection)

    _text: str = PrivateAttr("")
    _path: Optional[Path] = PrivateAttr(None)
    _source: str = PrivateAttr("<string>")
    _base_dir: Path = PrivateAttr(Path("."))
    _overrides: tuple[str, ...] = PrivateAttr(())
    _raw: dict = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_scenario_matches(self) -> "JobConfig":
        expected = type(self).scenario
        if expected and self.run.scenario != expected:
            raise job_error(f"must be {toml_repr(expected)} for {type(self).__name__}",
                            key=("run", "scenario"), value=self.run.scenario, has_value=True)
        return self

    def remember_origin(self, *, text: str, source: str, base_dir: Path, raw: dict, path: Optional[Path] = None,
                        overrides: tuple[str, ...] = ()) -> None:
        """Record where the job came from (:mod:`dqsim.jobs.loading` calls it once, right after validation).

        Args:
            text: the job file's text. source: the name used in error messages.
            base_dir: the folder relative paths resolved against. raw: the parsed
                TOML table with ``overrides`` applied (kept, not copied).
            path: the job file, or None. overrides: the ``--set`` assignments applied.
        """
        self._text, self._source, self._base_dir, self._raw = text, source, base_dir, raw
        self._path, self._overrides = path, tuple(overrides)

    @property
    def text(self) -> str:
        return self._text

    @property
    def path(self) -> Optional[Path]:
        return self._path

    @property
    def source(self) -> str:
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def overrides(self) -> tuple[str, ...]:
        return self._overrides

    @property
    def raw(self) -> dict:
        return copy.deepcopy(self._raw)

    def warnings(self) -> list[str]:
        """Lines on what the job allows but will likely regret (``dqsim check`` prints them, ``dqsim run`` says
        them on rank 0 before its work); none unless a scenario's job says so."""
        return []

    @property
    def output_path(self) -> Path:
        """``[run].output`` as a path (relative paths stay relative to the current directory)."""
        return Path(self.run.output)
