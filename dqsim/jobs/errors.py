"""Error messages of job files: one line naming the file, the key, the value and what is allowed.

Validators raise :func:`job_error` (a pydantic error of type
:data:`JOB_ERROR` carrying our own wording); :func:`config_error` turns the
first error of a :class:`pydantic.ValidationError` into one
:class:`~dqsim.errors.ConfigError` line::

    jobs/x.toml: [circuit].num_qubits = -3: must be >= 1 (allowed 1..40)
    jobs/x.toml: [[qkd.classical_channels]][0].direction = "up": must be one of "co", "counter"
    jobs/x.toml: unknown key [simulation].shot; allowed keys: shots, save_state, ...
    jobs/x.toml: missing key [run].name
    jobs/x.toml: missing key [qkd.network].num_nodes (2..65536)
    jobs/x.toml: missing key [qkd.link].distance_km (km, >= 0; required unless [qkd.sweep] ... gives the distances)

A missing key's unit (from its name) and range (from its type's bounds) are said where known.
"""

from __future__ import annotations

import difflib
import math
import re
import typing
from types import SimpleNamespace
from typing import Any, Iterable, Sequence

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from dqsim import units
from dqsim.errors import ConfigError, toml_repr
from dqsim.checks import picosecond_hint

__all__ = ["JOB_ERROR", "job_error", "one_of", "format_key", "config_error", "describe_error", "unit_hint",
           "value_hint", "key_facts", "reads_as_number"]

#: Error type of the messages our own validators raise (:func:`job_error`).
JOB_ERROR = "dqsim_job"


def job_error(message: str, *, key: Sequence[str | int] = (), value: Any = None,
              has_value: bool = False, missing: bool = False,
              allowed_keys: Sequence[str] | None = None,
              run_on: bool = False) -> PydanticCustomError:
    """A validation error for ``key`` (relative to the model raising it) with our own wording.

    ``missing`` words it as a missing key; ``allowed_keys`` as an unknown key
    (the message is then a hint appended after the list of allowed keys, or
    empty); ``run_on`` writes ``key = value message`` without the colon.
    """
    return PydanticCustomError(JOB_ERROR, "{message}", {
        "message": message, "key": tuple(key), "value": value,
        "has_value": has_value, "missing": missing,
        "allowed_keys": None if allowed_keys is None else tuple(allowed_keys),
        "run_on": run_on})


def one_of(options: Iterable[Any]) -> str:
    """Options as a job file writes them, comma-separated: ``"co", "counter"``."""
    return ", ".join(toml_repr(o) for o in options)


#: Arrays of tables inside a section, written as ``[[section.table]]`` headers.
ARRAY_TABLES = {("qkd", "classical_channels"), ("user_jobs",)}

#: Tables inside a section, written as their own ``[section.table]`` header.
NESTED_TABLES = {("network", "link"), ("network", "node"), ("chain", "link"), ("chain", "node"),
                 ("qkd", "source"), ("qkd", "link"), ("qkd", "eve"), ("qkd", "sweep"),
                 ("qkd", "network")} | ARRAY_TABLES


def format_key(loc: Sequence[str | int]) -> str:
    """``("circuit", "num_qubits")`` -> ``[circuit].num_qubits``; list indices as ``[i]``.

    Keys of a nested table name its header: ``("network", "link", "distance_km")``
    -> ``[network.link].distance_km``; entries of an array of tables are
    numbered from 0: ``("qkd", "classical_channels", 0, "direction")`` ->
    ``[[qkd.classical_channels]][0].direction``.
    """
    if not loc:
        return "the job file"
    head = 1
    while head + 1 < len(loc) and tuple(loc[:head + 1]) in NESTED_TABLES:
        head += 1
    text = "[" + ".".join(str(part) for part in loc[:head]) + "]"
    if tuple(loc[:head]) in ARRAY_TABLES:
        text = f"[{text}]"
    for part in loc[head:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def unknown_key(loc: Sequence[str | int], allowed: Sequence[str], hint: str = "") -> str:
    """``unknown key [section].key; allowed keys: ...`` with a close match suggested."""
    close = difflib.get_close_matches(str(loc[-1]), list(allowed), n=1)
    did_you_mean = f"; did you mean {close[0]}?" if close else ""
    hint = f" ({hint})" if hint else ""
    return f"unknown key {format_key(loc)}{hint}; allowed keys: {', '.join(allowed)}{did_you_mean}"


def _model_class(annotation: Any) -> type[BaseModel] | None:
    """The model class inside ``annotation`` (``Model``, ``Optional[Model]``, ``list[Model]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_class(arg)
        if found is not None:
            return found
    return None


def _model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class reached by following ``loc`` from ``root`` (list indices skipped)."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None
        model = _model_class(model.model_fields[part].annotation)
    return model


def _bounds(root: type[BaseModel], loc: Sequence[str | int]) -> tuple[Any, Any]:
    """``(lowest, highest)`` allowed for the field at ``loc`` (None where unbounded)."""
    low = high = None
    model = _model_at(root, loc[:-1]) if loc and isinstance(loc[-1], str) else None
    if model is not None and loc[-1] in model.model_fields:
        for meta in model.model_fields[loc[-1]].metadata:
            low = getattr(meta, "ge", low)
            high = getattr(meta, "le", high)
            if getattr(meta, "gt", None) is not None:
                low = f">{meta.gt}"
            if getattr(meta, "lt", None) is not None:
                high = f"<{meta.lt}"
    return low, high


def _annotated_bounds(annotation: Any, inside_list: bool = False) -> tuple[Any, bool, bool] | None:
    """``(bounds, integer, each)`` of the first :class:`~dqsim.jobs.schema.Bounds` in ``annotation``
    (``each``: it bounds the entries of an array), or ``None``."""
    for meta in getattr(annotation, "__metadata__", ()):
        if all(hasattr(meta, a) for a in ("low", "high", "low_open", "high_open")):
            return meta, typing.get_args(annotation)[0] is int, inside_list
    in_list = inside_list or typing.get_origin(annotation) in (list, tuple)
    for arg in typing.get_args(annotation):
        found = _annotated_bounds(arg, in_list)
        if found is not None:
            return found
    return None


def _field_bounds(field: Any) -> tuple[Any, bool, bool] | None:
    """``(bounds, integer, False)`` from pydantic's ``ge``/``gt``/``le``/``lt`` on a field, or ``None``."""
    low, high, low_open, high_open = -float("inf"), float("inf"), False, False
    for meta in field.metadata:
        for name, is_low, is_open in (("ge", True, False), ("gt", True, True), ("le", False, False),
                                      ("lt", False, True)):
            value = getattr(meta, name, None)
            if value is not None:
                low, low_open = (value, is_open) if is_low else (low, low_open)
                high, high_open = (value, is_open) if not is_low else (high, high_open)
    if low == -float("inf") and high == float("inf"):
        return None
    integer = field.annotation is int or int in typing.get_args(field.annotation)
    return SimpleNamespace(low=low, high=high, low_open=low_open, high_open=high_open), integer, False


def format_number(value: float) -> str:
    """A bound as written in messages: ``inf``, ``0.5``, ``1e-09``, ``10_000_000``."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if float(value).is_integer() and abs(value) >= 10**5:
        return f"{int(value):_}"
    return f"{value:g}"


def _range_text(bounds: Any, integer: bool) -> str:
    """``> 0``, ``>= 1``, ``2..64`` (integers), ``in [-60, 30]``, ``in (0, 100]``, or ``""`` when unbounded."""
    low, high = bounds.low, bounds.high
    if integer:
        return f">= {format_number(low)}" if high == float("inf") else f"{format_number(low)}..{format_number(high)}"
    if low == -float("inf") and high == float("inf"):
        return ""
    if high == float("inf"):
        return f"{'>' if bounds.low_open else '>='} {format_number(low)}"
    if low == -float("inf"):
        return f"{'<' if bounds.high_open else '<='} {format_number(high)}"
    return (f"in {'(' if bounds.low_open else '['}{format_number(low)}, {format_number(high)}"
            f"{')' if bounds.high_open else ']'}")


def key_facts(root: type[BaseModel], loc: Sequence[str | int]) -> str:
    """What a missing key at ``loc`` holds, as far as the models say: ``km, > 0``; ``2..64``; ``""``.

    The unit comes from the key's name (:func:`dqsim.units.column_unit`), the range from the
    :class:`~dqsim.jobs.schema.Bounds` of its type (``each`` for the entries of an array) or pydantic's
    ``ge``/``gt``/``le``/``lt`` on the field.

    Examples:
        >>> from dqsim.jobs.qkd import QkdJob
        >>> key_facts(QkdJob, ("qkd", "classical_channels", 0, "filter_bandwidth_nm"))
        'nm, in (0, 100]'
    """
    name = next((part for part in reversed(loc) if isinstance(part, str)), "")
    facts = [units.column_unit(name) or ""]
    model = _model_at(root, loc[:-1]) if loc and isinstance(loc[-1], str) else None
    if model is not None and loc[-1] in model.model_fields:
        field = model.model_fields[loc[-1]]
        found = (_annotated_bounds(typing.Annotated[(field.annotation, *field.metadata)]
                                   if field.metadata else field.annotation) or _field_bounds(field))
        if found is not None:
            bounds, integer, each = found
            text = _range_text(bounds, integer)
            facts.append(f"each {text}" if text and each else text)
    return ", ".join(fact for fact in facts if fact)


def _allowed_range(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f" (allowed {low}..{high})"
    return ""


#: A number with a unit after it, as a job file might give one: ``"10km"``, ``"1e9 Hz"``, ``"0.2 dB/km"``.
_NUMBER_WITH_UNIT = re.compile(r"\s*([-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\W\d_][\w/µ^.-]*)\s*")


def check_no_repeats(values: Sequence[Any], key: Sequence[str | int] = (),
                     why: str = "each configuration runs once: leave it out") -> None:
    """Raise a :func:`job_error` at ``key + (index,)`` for the first entry of ``values`` repeating an earlier one,
    saying ``why`` each entry may come once: by default a sweep's, which would run that configuration twice, with
    identical rows (review3 D6, 2026-12-07 (night)).

    Examples:
        >>> check_no_repeats([1.0, 2.0, 3.0])
        >>> check_no_repeats([1, 2, 1])
        Traceback (most recent call last):
        ...
        pydantic_core._pydantic_core.PydanticCustomError: repeats entry [0] (each configuration runs once: leave it out)
    """
    seen: dict[Any, int] = {}
    for index, value in enumerate(values):
        if value in seen:
            raise job_error(f"repeats entry [{seen[value]}] ({why})", key=(*key, index), value=value, has_value=True)
        seen[value] = index


def unit_hint(value: Any) -> str:
    """`` (write 10 without "km": the key's name carries its unit)`` for a string such as ``"10km"``, else ``""``.

    A string that reads as a number whole (``"1e6"``, ``"10"``) is a quoted number, not a number and a unit: before
    2026-12-07 (night) ``"1e6"`` got ``write 1 without "e6"`` (10^6 off, review3 D3).

    Examples:
        >>> print(unit_hint("10km"))
         (write 10 without "km": the key's name carries its unit)
        >>> print(unit_hint("1e6"))
         (write 1e6 without quotes: a TOML number)
        >>> unit_hint("ten"), unit_hint(10)
        ('', '')
    """
    if isinstance(value, str) and value.strip() and reads_as_number(value):
        return f" (write {value.strip()} without quotes: a TOML number)"
    match = _NUMBER_WITH_UNIT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return ""
    return f' (write {match.group(1)} without "{match.group(2)}": the key\'s name carries its unit)'


def value_hint(key: Any, value: Any) -> str:
    """What a bad number given to ``key`` most likely means: :func:`unit_hint` (``"10km"``) and
    :func:`~dqsim.checks.picosecond_hint` (seconds given to a ``*_ps`` key), each ``""`` where it does not apply.

    Examples:
        >>> print(value_hint("delay_ps", "10 ns"))
         (write 10 without "ns": the key's name carries its unit)
        >>> print(value_hint("delay_ps", 1e-8))
         (delay_ps is in picoseconds, an integer: 1 ns = 1_000, 1 µs = 1_000_000, 1 s = 1_000_000_000_000)
        >>> value_hint("distance_km", 10.0)
        ''
    """
    return unit_hint(value) + picosecond_hint(key, value)


def reads_as_number(text: str) -> bool:
    """Whether ``float(text)`` reads ``text`` (``"1e3"``, ``" 2.5"``, ``"inf"``; not ``"ten"``).

    Examples:
        >>> reads_as_number("1e3"), reads_as_number("far")
        (True, False)
    """
    try:
        float(text)
    except ValueError:
        return False
    return True


def array_hint(value: Any) -> str:
    """How to write, as a TOML array, a comma-separated word given where an array belongs (``""`` otherwise).

    Examples:
        >>> print(array_hint("0,25"))
         (an array is written in brackets: [0, 25]; with --set quote it for the shell: 'KEY=[0, 25]')
        >>> print(array_hint("alice, bob"))
         (an array is written in brackets: ["alice", "bob"]; with --set quote it for the shell: 'KEY=["alice", "bob"]')
        >>> array_hint(3)
        ''
    """
    if not isinstance(value, str) or "," not in value:
        return ""
    items = [item.strip() for item in value.split(",")]
    written = "[" + ", ".join(item if reads_as_number(item) else toml_repr(item) for item in items) + "]"
    return f" (an array is written in brackets: {written}; with --set quote it for the shell: 'KEY={written}')"


_TYPE_NAMES = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number",
    "string_type": "a string", "bool_type": "true or false", "bool_parsing": "true or false",
    "list_type": "an array", "tuple_type": "an array",
    "dict_type": "a table", "model_type": "a table", "model_attributes_type": "a table",
}


def describe_error(root: type[BaseModel], error: dict) -> str:
    """One pydantic error as ``[section].key = value: what is wrong (allowed ...)``."""
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    ctx = error.get("ctx") or {}
    if kind == JOB_ERROR:
        full = loc + tuple(ctx.get("key", ()))
        if ctx.get("missing"):
            facts = key_facts(root, full)
            return f"missing key {format_key(full)} ({facts + '; ' if facts else ''}{ctx['message']})"
        if ctx.get("allowed_keys") is not None:
            return unknown_key(full, ctx["allowed_keys"], ctx["message"])
        where = format_key(full)
        if ctx.get("has_value"):
            where += f" = {toml_repr(ctx['value'])}"
        return f"{where}{' ' if ctx.get('run_on') else ': '}{ctx['message']}"
    if kind == "missing":
        if len(loc) == 1:
            return f"missing section [{loc[0]}]"
        facts = key_facts(root, loc)
        return f"missing key {format_key(loc)}" + (f" ({facts})" if facts else "")
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        allowed = list(model.model_fields) if model is not None else []
        if len(loc) == 1:
            hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            did_you_mean = f"; did you mean {hint[0]}?" if hint else ""
            return (f"unknown section [{loc[0]}]; allowed sections: {', '.join(allowed)}"
                    f"{did_you_mean}")
        return unknown_key(loc, allowed)
    if kind in _TYPE_NAMES:
        whole = kind.startswith("int_") and isinstance(value, float) and value.is_integer() and abs(value) < 2**63
        hint = f" (TOML reads 1e6 or 5.0 as a float: write {int(value):_})" if whole else ""
        if kind.startswith(("int_", "float_")):
            hint += value_hint(loc[-1] if loc else None, value)
        if kind in ("list_type", "tuple_type"):
            hint += array_hint(value)
        return f"{format_key(loc)}: expected {_TYPE_NAMES[kind]}, got {toml_repr(value)}{hint}"
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        options = re.findall(r"'((?:[^'\\]|\\.)*)'", expected)
        if not options:  # a literal of numbers: pydantic writes them bare ("1 or 2")
            options = [int(o) if re.fullmatch(r"-?\d+", o) else o
                       for o in re.split(r",\s*|\s+or\s+", expected) if o]
        return f"{format_key(loc)} = {toml_repr(value)}: must be one of {one_of(options)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">",
              "less_than_equal": "<=", "less_than": "<"}[kind]
        limit = next(iter(ctx.values()), "?")
        low, high = _bounds(root, loc)
        return f"{format_key(loc)} = {toml_repr(value)}: must be {op} {limit}{_allowed_range(low, high)}"
    message = str(error.get("msg", kind))
    return f"{format_key(loc)} = {toml_repr(value)}: {message}"


def config_error(source: str, root: type[BaseModel], exc: ValidationError) -> ConfigError:
    """The first problem of ``exc`` (validating model ``root``) as one line prefixed by ``source``.

    The error's ``problems`` hold every problem, each as such a line.
    """
    lines = [f"{source}: {describe_error(root, error)}" for error in exc.errors()]
    first = lines[0]
    if len(lines) > 1:
        first += f" (and {len(lines) - 1} more problem{'s' if len(lines) > 2 else ''}: dqsim check lists them)"
    return ConfigError(first, problems=lines)
