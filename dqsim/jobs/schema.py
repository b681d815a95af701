"""Building blocks of the job-file models: the strict section base and bounded number types.

Every scenario's job model (:mod:`dqsim.jobs.circuit`, :mod:`dqsim.jobs.dqc`,
:mod:`dqsim.jobs.qkd`, ...) is made of :class:`Section` subclasses; fields
that need a range use :func:`bounded_real` and :func:`bounded_int`, whose
errors read as every job-file error (:mod:`dqsim.jobs.errors`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import typing
from pathlib import Path
from typing import Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo

from dqsim.jobs.errors import format_number, job_error

__all__ = ["Section", "NAME_PATTERN", "checked_name", "format_number", "bounded_real", "bounded_int", "is_number",
           "Bounds", "input_file_path"]


class Section(BaseModel):
    """Base of every job-file table: unknown keys are errors, types are strict."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


#: A name of ``[run].name`` and ``[[user_jobs]].name``: 1..64 letters, digits, ``_``, ``-``, ``.`` (not first).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def checked_name(name: str) -> str:
    """``name`` if it matches :data:`NAME_PATTERN`, else the job error that says what a name may be."""
    if not NAME_PATTERN.fullmatch(name):
        raise job_error("must be 1..64 characters of letters, digits, '_', '-', '.' "
                        "starting with a letter or digit", value=name, has_value=True)
    return name


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The interval a :func:`bounded_real` or :func:`bounded_int` field enforces, kept in its type's metadata.

    Read by tools that walk the job models (``bench/boundary_runs.py``); the check itself is the
    type's validator. ``high`` is ``math.inf`` when there is no upper bound.
    """

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False


def bounded_real(low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
                 high_open: bool = False) -> Any:
    """``float`` that must be finite and lie in the interval; the message names the interval.

    Errors read ``must be in (0, 1]`` (or ``must be a finite number in ...``
    for inf and nan), as for ``[network.link]``.
    """
    interval = (f"{'(' if low_open or math.isinf(low) else '['}{format_number(low)}, "
                f"{format_number(high)}{')' if high_open or math.isinf(high) else ']'}")

    def check(value: float) -> float:
        if not math.isfinite(value):
            raise job_error(f"must be a finite number in {interval}", value=value, has_value=True)
        if (value <= low if low_open else value < low) or (value >= high if high_open else value > high):
            raise job_error(f"must be in {interval}", value=value, has_value=True)
        return value

    return typing.Annotated[float, AfterValidator(check), Bounds(low, high, low_open, high_open)]


def bounded_int(low: int, high: int | None = None) -> Any:
    """``int`` in ``low..high`` (``None``: unbounded); errors read ``must be >= 1 (allowed 1..10_000)``."""
    allowed = "" if high is None else f" (allowed {format_number(low)}..{format_number(high)})"

    def check(value: int) -> int:
        if value < low:
            raise job_error(f"must be >= {format_number(low)}{allowed}", value=value, has_value=True)
        if high is not None and value > high:
            raise job_error(f"must be <= {format_number(high)}{allowed}", value=value, has_value=True)
        return value

    return typing.Annotated[int, AfterValidator(check), Bounds(low, math.inf if high is None else high)]


def is_number(value: Any) -> bool:
    """Whether ``value`` is an int or a float (not a bool), as TOML numbers are read."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def input_file_path(value: str, info: ValidationInfo) -> str:
    """The absolute path of a file the job reads (``[circuit].qasm``, ``[network].edges_file``): relative to the
    job file's folder (the validation context's ``base_dir``), ``~`` expanded.

    Raises:
        PydanticCustomError: no such file, or not a file (the job error names the path looked for).
    """
    base_dir = Path((info.context or {}).get("base_dir", "."))
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    path = Path(os.path.abspath(path))
    if not path.exists():
        raise job_error(f"file not found (looked for {path})", value=value, has_value=True)
    if not path.is_file():
        raise job_error(f"not a file ({path})", value=value, has_value=True)
    return str(path)
