"""Job files: TOML text validated into typed, frozen configuration objects.

A job file has one table per section. ``[run]`` names the run and picks the
*scenario*; the scenario decides which other sections exist (today only
``"circuit"``: ``[circuit]`` and ``[simulation]``). Every model forbids
unknown keys and checks types strictly (TOML is typed: ``shots = "10"`` is an
error, not 10).

Every problem becomes a :class:`~dqsim.errors.ConfigError` with one line that
names the file, the key, the value and what is allowed::

    jobs/x.toml: [circuit].num_qubits = -3: must be >= 1 (allowed 1..40)
    jobs/x.toml: unknown key [simulation].shot; allowed keys: shots, save_state, ...
    jobs/x.toml: [simulation].shots: expected an integer, got "ten"
    jobs/x.toml: missing key [run].name
    jobs/x.toml: TOML syntax error: Expected '=' after a key ... (at line 3, column 7)

Adding a scenario: write a subclass of :class:`JobConfig` with its sections
as fields and register it in :data:`SCENARIOS`.

Examples:
    >>> job = load_job_text('''
    ... [run]
    ... name = "ghz8"
    ... [circuit]
    ... generator = "ghz"
    ... num_qubits = 8
    ... ''')
    >>> job.run.output, job.simulation.shots, job.circuit.measure
    ('ghz8.h5', 1000, True)
    >>> apply_overrides(job, ["simulation.shots=10"]).simulation.shots
    10
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Any, ClassVar, Iterable, Literal, Optional, Sequence

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError,
                      ValidationInfo, field_validator, model_validator)
from pydantic_core import PydanticCustomError

from dqsim.errors import ConfigError

__all__ = [
    "JobConfig", "CircuitJob", "RunSection", "CircuitSection", "SimulationSection",
    "SCENARIOS", "load_job", "load_job_text", "apply_overrides",
    "parse_pauli_sum", "check_observables", "PauliTerm",
]

#: One term of a Pauli sum: ``(coefficient, letters, qubits)``, e.g. ``(0.5, "XX", (0, 1))``.
PauliTerm = tuple[float, str, tuple[int, ...]]

#: Most qubits a generated circuit may have.
MAX_GENERATOR_QUBITS = 40

# Error type of the messages our own validators raise; see `_job_error`.
_JOB_ERROR = "dqsim_job"


def _job_error(message: str, *, key: Sequence[str | int] = (), value: Any = None,
               has_value: bool = False, missing: bool = False) -> PydanticCustomError:
    """A validation error for ``key`` (relative to the model raising it) with our own wording."""
    return PydanticCustomError(_JOB_ERROR, "{message}", {
        "message": message, "key": tuple(key), "value": value,
        "has_value": has_value, "missing": missing})


# --------------------------------------------------------------------------
# Pauli sums
# --------------------------------------------------------------------------

_PAULI_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<factor>[A-Za-z]\d*)
  | (?P<sign>[+-])
  | (?P<star>\*)
""", re.VERBOSE)


class _PauliSyntax(ValueError):
    """Internal: why a Pauli-sum string does not parse (no text prefix)."""


def _tokenize_pauli(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    pos = 0
    while pos < len(text):
        m = _PAULI_TOKEN.match(text, pos)
        if m is None:
            raise _PauliSyntax(f"unexpected character {text[pos]!r} at column {pos + 1}")
        if m.lastgroup != "space":
            tokens.append((m.lastgroup, m.group(), pos + 1))
        pos = m.end()
    return tokens


def _parse_pauli_terms(text: str) -> list[tuple[float, list[tuple[str, int]]]]:
    """Parse into ``(coefficient, [(letter, qubit), ...])`` keeping identity factors."""
    if not isinstance(text, str):
        raise _PauliSyntax(f"expected a string, got {_toml_repr(text)}")
    tokens = _tokenize_pauli(text)
    if not tokens:
        raise _PauliSyntax("empty; give terms like 0.5*X0 X1 - Z2")
    terms: list[tuple[float, list[tuple[str, int]]]] = []
    i = 0

    def peek(kind: str) -> bool:
        return i < len(tokens) and tokens[i][0] == kind

    sign = 1.0
    if peek("sign"):
        sign = -1.0 if tokens[i][1] == "-" else 1.0
        i += 1
    while True:
        if i >= len(tokens):
            raise _PauliSyntax("a term is missing after the last sign")
        coefficient = 1.0
        has_coefficient = False
        if peek("number"):
            kind, tok, col = tokens[i]
            coefficient = float(tok)
            if not math.isfinite(coefficient):
                raise _PauliSyntax(f"coefficient {tok} at column {col} is not finite")
            has_coefficient = True
            i += 1
            if peek("star"):
                i += 1
                if not peek("factor"):
                    raise _PauliSyntax(f"expected Pauli factors like X0 after '*' at column {tokens[i - 1][2]}")
            elif peek("factor"):
                raise _PauliSyntax(f"expected '*' between coefficient {tok} and {tokens[i][1]} "
                                   f"at column {tokens[i][2]}")
        factors: list[tuple[str, int]] = []
        seen: dict[int, int] = {}
        while peek("factor"):
            _, tok, col = tokens[i]
            letter, digits = tok[0], tok[1:]
            if letter not in "IXYZ":
                raise _PauliSyntax(f"bad Pauli letter {letter!r} in {tok!r} at column {col} "
                                   "(allowed I, X, Y, Z followed by a qubit index)")
            if not digits:
                raise _PauliSyntax(f"Pauli factor {tok!r} at column {col} has no qubit index (write e.g. {letter}0)")
            qubit = int(digits)
            if qubit in seen:
                raise _PauliSyntax(f"qubit {qubit} appears twice in one term (column {seen[qubit]} and {col})")
            seen[qubit] = col
            factors.append((letter, qubit))
            i += 1
            if peek("star") and i + 1 < len(tokens) and tokens[i + 1][0] == "factor":
                i += 1  # allow X0*X1 as well as X0 X1
        if not has_coefficient and not factors:
            kind, tok, col = tokens[i]
            raise _PauliSyntax(f"expected a term at column {col}, got {tok!r}")
        terms.append((sign * coefficient, factors))
        if i >= len(tokens):
            return terms
        if not peek("sign"):
            _, tok, col = tokens[i]
            raise _PauliSyntax(f"expected + or - before {tok!r} at column {col}")
        sign = -1.0 if tokens[i][1] == "-" else 1.0
        i += 1


def parse_pauli_sum(text: str) -> list[PauliTerm]:
    """Parse a real linear combination of Pauli strings.

    Terms are separated by ``+`` or ``-``. A term is an optional real
    coefficient followed by ``*`` and Pauli factors (a letter ``I``, ``X``,
    ``Y`` or ``Z`` and a qubit index, separated by spaces or ``*``), or just
    a coefficient (a multiple of the identity). Identity factors are dropped
    from the result.

    Args:
        text: the sum, e.g. ``"0.5*X0 X1 - 0.25*Z2 + 1"``.

    Returns:
        One ``(coefficient, letters, qubits)`` tuple per term, in order.

    Raises:
        ConfigError: bad syntax, a letter other than I/X/Y/Z, a factor with no
            qubit index, or a qubit repeated within one term.

    Examples:
        >>> parse_pauli_sum("0.5*X0 X1 - Z2")
        [(0.5, 'XX', (0, 1)), (-1.0, 'Z', (2,))]
        >>> parse_pauli_sum("-2.5 + Y3*Z12")
        [(-2.5, '', ()), (1.0, 'YZ', (3, 12))]
        >>> parse_pauli_sum("X0 X0")
        Traceback (most recent call last):
        ...
        dqsim.errors.ConfigError: Pauli sum "X0 X0": qubit 0 appears twice in one term (column 1 and 4)
    """
    try:
        terms = _parse_pauli_terms(text)
    except _PauliSyntax as exc:
        raise ConfigError(f"Pauli sum {_toml_repr(text)}: {exc}") from None
    out: list[PauliTerm] = []
    for coefficient, factors in terms:
        kept = [(p, q) for p, q in factors if p != "I"]
        out.append((coefficient, "".join(p for p, _ in kept), tuple(q for _, q in kept)))
    return out


def _observable_range_problem(text: str, num_qubits: int) -> str | None:
    """Why ``text`` (already known to parse) touches a qubit >= num_qubits, or None."""
    for _, factors in _parse_pauli_terms(text):
        for _, qubit in factors:
            if qubit >= num_qubits:
                return (f"qubit {qubit} is outside 0..{num_qubits - 1} "
                        f"(the circuit has {num_qubits} qubits)")
    return None


def check_observables(observables: Iterable[str], num_qubits: int, *, source: str | None = None) -> None:
    """Check that every observable parses and acts only on qubits ``0..num_qubits-1``.

    For generated circuits this runs when the job is loaded; for QASM circuits
    call it once the circuit's qubit count is known.

    Args:
        observables: Pauli-sum strings, as in ``[simulation].observables``.
        num_qubits: the circuit's qubit count (>= 1).
        source: the job file, used as the message prefix when given.

    Raises:
        ConfigError: one line naming ``[simulation].observables[i]``.

    Examples:
        >>> check_observables(["Z0 Z1"], 2)
        >>> check_observables(["Z0", "X0 Z5"], 4, source="job.toml")
        Traceback (most recent call last):
        ...
        dqsim.errors.ConfigError: job.toml: [simulation].observables[1] = "X0 Z5": qubit 5 is outside 0..3 (the circuit has 4 qubits)
    """
    prefix = f"{source}: " if source else ""
    for index, text in enumerate(observables):
        where = f"[simulation].observables[{index}] = {_toml_repr(text)}"
        try:
            problem = _observable_range_problem(text, num_qubits)
        except _PauliSyntax as exc:
            raise ConfigError(f"{prefix}{where}: {exc}") from None
        if problem:
            raise ConfigError(f"{prefix}{where}: {problem}")


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

class _Section(BaseModel):
    """Base of every job-file table: unknown keys are errors, types are strict."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class RunSection(_Section):
    """``[run]``: what the run is called, which scenario it runs, and where it writes.

    Attributes:
        name: label of the run; also the default output file name. 1..64
            characters: letters, digits, ``_``, ``-``, ``.`` (not first).
        scenario: key of :data:`SCENARIOS` (``"circuit"``).
        seed: root seed of every random stream (>= 0); see :mod:`dqsim.rng`.
        output: HDF5 file to write; relative paths are relative to the
            current directory. Default ``"<name>.h5"``.
        backend: ``"auto"`` (CuPy when a GPU is usable, else NumPy), ``"numpy"`` or ``"cupy"``.
        precision: ``"complex128"`` or ``"complex64"`` amplitudes.
    """

    name: str
    scenario: str = "circuit"
    seed: int = Field(0, ge=0)
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
        if not _NAME_PATTERN.fullmatch(name):
            raise _job_error("must be 1..64 characters of letters, digits, '_', '-', '.' "
                             "starting with a letter or digit", value=name, has_value=True)
        return name

    @field_validator("scenario")
    @classmethod
    def _check_scenario(cls, scenario: str) -> str:
        if scenario not in SCENARIOS:
            raise _job_error(f"must be one of {_one_of(SCENARIOS)}", value=scenario, has_value=True)
        return scenario

    @field_validator("output")
    @classmethod
    def _check_output(cls, output: str) -> str:
        if not output.strip():
            raise _job_error("must be a file name, e.g. \"run.h5\"", value=output, has_value=True)
        return output


class CircuitSection(_Section):
    """``[circuit]``: the circuit to run, generated or read from OpenQASM.

    Give exactly one of ``generator`` and ``qasm``.

    Attributes:
        generator: ``"ghz"``, ``"qft"`` or ``"random"``.
        num_qubits: qubits of the generated circuit, 1..40 (generators only).
        depth: layers of the random circuit, 1..10000 (``"random"`` only, default 10).
        circuit_seed: seed of the random circuit (``"random"`` only, default ``[run].seed``).
        qasm: OpenQASM file; in the job file relative to the job file's folder.
            Stored resolved to an absolute path; it must exist.
        measure: append a measurement of every qubit to a generated circuit
            (default true; QASM circuits keep their own measurements).
    """

    generator: Optional[Literal["ghz", "qft", "random"]] = None
    num_qubits: Optional[int] = Field(None, ge=1, le=MAX_GENERATOR_QUBITS)
    depth: int = Field(10, ge=1, le=10_000)
    circuit_seed: Optional[int] = Field(None, ge=0)
    qasm: Optional[str] = None
    measure: bool = True

    @field_validator("qasm")
    @classmethod
    def _resolve_qasm(cls, qasm: str, info: ValidationInfo) -> str:
        base_dir = Path((info.context or {}).get("base_dir", "."))
        path = Path(qasm).expanduser()
        if not path.is_absolute():
            path = base_dir / path
        path = Path(os.path.abspath(path))
        if not path.exists():
            raise _job_error(f"file not found (looked for {path})", value=qasm, has_value=True)
        if not path.is_file():
            raise _job_error(f"not a file ({path})", value=qasm, has_value=True)
        return str(path)

    @model_validator(mode="after")
    def _check_source(self) -> "CircuitSection":
        given = self.model_fields_set
        if self.generator is not None and self.qasm is not None:
            raise _job_error("give exactly one of generator or qasm, not both", key=("qasm",),
                             value=self.qasm, has_value=True)
        if self.generator is None and self.qasm is None:
            raise _job_error("missing key generator or qasm (give exactly one)")
        if self.generator is not None:
            if self.num_qubits is None:
                raise _job_error(f"required with generator = {_toml_repr(self.generator)}",
                                 key=("num_qubits",), missing=True)
            if self.generator != "random":
                for key in ("depth", "circuit_seed"):
                    if key in given:
                        raise _job_error(f"only used with generator = \"random\" "
                                         f"(here generator = {_toml_repr(self.generator)})",
                                         key=(key,), value=getattr(self, key), has_value=True)
        else:
            for key in ("num_qubits", "depth", "circuit_seed", "measure"):
                if key in given:
                    raise _job_error("only used with generator, not with qasm "
                                     "(the QASM file sets qubits and measurements)",
                                     key=(key,), value=getattr(self, key), has_value=True)
        return self


class SimulationSection(_Section):
    """``[simulation]``: what to compute from the circuit and how to move data.

    Attributes:
        shots: measurement samples, 0..10**8 (default 1000).
        save_state: write the final state vector to the output (default false).
        store_shots: store every shot's outcome, not only the counts (default false).
        observables: Pauli sums whose expectation values to report, e.g.
            ``"0.5*X0 X1 - 0.25*Z2"`` (see :func:`parse_pauli_sum`).
        exchange_chunk_mib: largest MPI message when ranks swap amplitudes,
            1..2047 MiB (default 256; MPI messages must stay below 2 GiB).
        max_gather_qubits: largest state gathered onto one rank, 1..34
            (default 24); larger states are written as per-rank slabs.
    """

    shots: int = Field(1000, ge=0, le=10**8)
    save_state: bool = False
    store_shots: bool = False
    observables: list[str] = Field(default_factory=list)
    exchange_chunk_mib: int = Field(256, ge=1, le=2047)
    max_gather_qubits: int = Field(24, ge=1, le=34)

    @field_validator("observables")
    @classmethod
    def _parse_observables(cls, observables: list[str]) -> list[str]:
        for index, text in enumerate(observables):
            try:
                _parse_pauli_terms(text)
            except _PauliSyntax as exc:
                raise _job_error(str(exc), key=(index,), value=text, has_value=True) from None
        return observables

    def parsed_observables(self) -> list[list[PauliTerm]]:
        """Each observable parsed by :func:`parse_pauli_sum`, in order."""
        return [parse_pauli_sum(text) for text in self.observables]


class JobConfig(_Section):
    """A validated job: ``[run]`` plus the sections of its scenario.

    Subclasses (one per scenario, see :data:`SCENARIOS`) add their sections as
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

    _text: str = PrivateAttr("")
    _path: Optional[Path] = PrivateAttr(None)
    _source: str = PrivateAttr("<string>")
    _base_dir: Path = PrivateAttr(Path("."))
    _overrides: tuple[str, ...] = PrivateAttr(())
    _raw: dict = PrivateAttr(default_factory=dict)

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

    @property
    def output_path(self) -> Path:
        """``[run].output`` as a path (relative paths stay relative to the current directory)."""
        return Path(self.run.output)


class CircuitJob(JobConfig):
    """Scenario ``"circuit"``: run one circuit, sample shots, evaluate observables.

    Attributes:
        circuit: the ``[circuit]`` section.
        simulation: the ``[simulation]`` section (all defaults when absent).
    """

    scenario: ClassVar[str] = "circuit"

    circuit: CircuitSection
    simulation: SimulationSection = Field(default_factory=SimulationSection)

    @model_validator(mode="before")
    @classmethod
    def _default_circuit_seed(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        run, circuit = data.get("run"), data.get("circuit")
        if (isinstance(run, dict) and isinstance(circuit, dict)
                and circuit.get("generator") == "random" and "circuit_seed" not in circuit):
            seed = run.get("seed", RunSection.model_fields["seed"].default)
            data = {**data, "circuit": {**circuit, "circuit_seed": seed}}
        return data

    @model_validator(mode="after")
    def _check_observable_qubits(self) -> "CircuitJob":
        if self.circuit.num_qubits is not None:
            for index, text in enumerate(self.simulation.observables):
                problem = _observable_range_problem(text, self.circuit.num_qubits)
                if problem:
                    raise _job_error(problem, key=("simulation", "observables", index),
                                     value=text, has_value=True)
        return self


#: Scenario name (``[run].scenario``) -> the model of its job file.
SCENARIOS: dict[str, type[JobConfig]] = {"circuit": CircuitJob}


# --------------------------------------------------------------------------
# Error messages
# --------------------------------------------------------------------------

def _toml_repr(value: Any, limit: int = 60) -> str:
    """A value as it would be written in TOML, shortened to ``limit`` characters."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(_toml_repr(v, limit) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k} = {_toml_repr(v, limit)}" for k, v in value.items()) + "}"
    else:
        text = repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _one_of(options: Iterable[Any]) -> str:
    return ", ".join(_toml_repr(o) for o in options)


def _format_key(loc: Sequence[str | int]) -> str:
    """``("circuit", "num_qubits")`` -> ``[circuit].num_qubits``; list indices as ``[i]``."""
    if not loc:
        return "the job file"
    text = f"[{loc[0]}]"
    for part in loc[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


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


def _allowed_range(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f" (allowed {low}..{high})"
    return ""


_TYPE_NAMES = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number",
    "string_type": "a string", "bool_type": "true or false", "bool_parsing": "true or false",
    "list_type": "an array", "tuple_type": "an array",
    "dict_type": "a table", "model_type": "a table", "model_attributes_type": "a table",
}


def _describe_error(root: type[BaseModel], error: dict) -> str:
    """One pydantic error as ``[section].key = value: what is wrong (allowed ...)``."""
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    ctx = error.get("ctx") or {}
    if kind == _JOB_ERROR:
        full = loc + tuple(ctx.get("key", ()))
        if ctx.get("missing"):
            return f"missing key {_format_key(full)} ({ctx['message']})"
        where = _format_key(full)
        if ctx.get("has_value"):
            where += f" = {_toml_repr(ctx['value'])}"
        return f"{where}: {ctx['message']}"
    if kind == "missing":
        if len(loc) == 1:
            return f"missing section [{loc[0]}]"
        return f"missing key {_format_key(loc)}"
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        allowed = list(model.model_fields) if model is not None else []
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        did_you_mean = f"; did you mean {hint[0]}?" if hint else ""
        if len(loc) == 1:
            return (f"unknown section [{loc[0]}]; allowed sections: {', '.join(allowed)}"
                    f"{did_you_mean}")
        return f"unknown key {_format_key(loc)}; allowed keys: {', '.join(allowed)}{did_you_mean}"
    if kind in _TYPE_NAMES:
        return f"{_format_key(loc)}: expected {_TYPE_NAMES[kind]}, got {_toml_repr(value)}"
    if kind == "literal_error":
        options = re.findall(r"'((?:[^'\\]|\\.)*)'", ctx.get("expected", ""))
        return f"{_format_key(loc)} = {_toml_repr(value)}: must be one of {_one_of(options)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">",
              "less_than_equal": "<=", "less_than": "<"}[kind]
        limit = next(iter(ctx.values()), "?")
        low, high = _bounds(root, loc)
        return f"{_format_key(loc)} = {_toml_repr(value)}: must be {op} {limit}{_allowed_range(low, high)}"
    message = str(error.get("msg", kind))
    return f"{_format_key(loc)} = {_toml_repr(value)}: {message}"


def _config_error(source: str, root: type[BaseModel], exc: ValidationError) -> ConfigError:
    errors = exc.errors()
    line = _describe_error(root, errors[0])
    if len(errors) > 1:
        line += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ConfigError(f"{source}: {line}")


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

def _validate(data: dict, *, source: str, base_dir: Path) -> JobConfig:
    """Pick the scenario's model and validate ``data`` with it."""
    run = data.get("run")
    if run is None:
        raise ConfigError(f"{source}: missing section [run]")
    if not isinstance(run, dict):
        raise ConfigError(f"{source}: [run]: expected a table, got {_toml_repr(run)}")
    scenario = run.get("scenario", RunSection.model_fields["scenario"].default)
    if scenario not in SCENARIOS:
        if not isinstance(scenario, str):
            raise ConfigError(f"{source}: [run].scenario: expected a string, got {_toml_repr(scenario)}")
        raise ConfigError(f"{source}: [run].scenario = {_toml_repr(scenario)}: "
                          f"must be one of {_one_of(SCENARIOS)}")
    model = SCENARIOS[scenario]
    try:
        return model.model_validate(data, context={"base_dir": str(base_dir)})
    except ValidationError as exc:
        raise _config_error(source, model, exc) from None


def _parse_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: TOML syntax error: {exc}") from None


def load_job_text(text: str, *, source: str = "<string>", base_dir: str | os.PathLike = ".") -> JobConfig:
    """Validate a job given as TOML text.

    Args:
        text: the job file's contents.
        source: name used as the prefix of error messages.
        base_dir: folder against which relative paths in the job resolve
            (``[circuit].qasm``).

    Returns:
        The validated job: an instance of the scenario's :class:`JobConfig` subclass.

    Raises:
        ConfigError: one line naming the key, its value and what is allowed.

    Examples:
        >>> load_job_text('[run]\\nname = "x"\\n[circuit]\\ngenerator = "qft"\\nnum_qubits = 50')
        Traceback (most recent call last):
        ...
        dqsim.errors.ConfigError: <string>: [circuit].num_qubits = 50: must be <= 40 (allowed 1..40)
    """
    data = _parse_toml(text, source)
    job = _validate(data, source=source, base_dir=Path(base_dir))
    job._text = text
    job._source = source
    job._base_dir = Path(os.path.abspath(base_dir))
    job._raw = data
    return job


def load_job(path: str | os.PathLike) -> JobConfig:
    """Read and validate a job file.

    Relative paths inside the file (``[circuit].qasm``) resolve against the
    file's folder; ``[run].output`` stays relative to the current directory.

    Args:
        path: the TOML job file.

    Returns:
        The validated job, with ``job.text`` (the file's text) and ``job.path``.

    Raises:
        ConfigError: the file is missing or unreadable, is not valid TOML, or
            a key is unknown, missing, of the wrong type or out of range.
    """
    source = str(path)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: job file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: is a folder, not a job file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the job file ({exc.strerror or exc})") from None
    job = load_job_text(text, source=source, base_dir=file.parent)
    job._path = file
    return job


#: Keys whose relative paths resolve against the job file's folder; given
#: through ``--set`` they resolve against the current directory instead.
_JOB_RELATIVE_PATH_KEYS = {("circuit", "qasm")}


_REMOVE = object()  # marks an override that deletes its key


def _parse_override(assignment: str) -> tuple[list[str], Any]:
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment}: expected SECTION.KEY=VALUE, e.g. simulation.shots=10")
    key, value_text = assignment.split("=", 1)
    key, value_text = key.strip(), value_text.strip()
    parts = [p.strip() for p in key.split(".")]
    if len(parts) < 2 or not all(parts):
        raise ConfigError(f"--set {assignment}: key {key!r} must be SECTION.KEY, e.g. simulation.shots")
    if not value_text:
        return parts, _REMOVE
    try:
        value = tomllib.loads(f"value = {value_text}")["value"]
    except tomllib.TOMLDecodeError:
        value = value_text  # a bare word: take it as a string
    return parts, value


def apply_overrides(job: JobConfig, assignments: Iterable[str]) -> JobConfig:
    """Return a copy of ``job`` with ``SECTION.KEY=VALUE`` assignments applied and revalidated.

    Values are TOML values (``10``, ``true``, ``"text"``, ``["Z0", "X1"]``);
    a value that is not valid TOML is taken as a string, so ``run.name=big``
    works, and an empty value removes the key (back to its default), so
    ``circuit.generator= circuit.num_qubits= circuit.qasm=c.qasm`` switches a
    generated circuit to a QASM file. A relative ``circuit.qasm`` given here resolves against the current
    directory, not the job file's folder. Defaults that depend on other keys
    (``[run].output``, ``[circuit].circuit_seed``) are recomputed.

    Args:
        job: a loaded job.
        assignments: e.g. ``["simulation.shots=10", "circuit.num_qubits=8"]``.

    Returns:
        A new validated job; ``job`` is unchanged. ``text`` and ``path`` are kept,
        and ``overrides`` lists every assignment applied so far.

    Raises:
        ConfigError: a malformed assignment, or a value the job rejects, in the
            same one-line format as :func:`load_job`.

    Examples:
        >>> job = load_job_text('[run]\\nname = "a"\\n[circuit]\\ngenerator = "ghz"\\nnum_qubits = 4')
        >>> apply_overrides(job, ["circuit.num_qubits=80"])
        Traceback (most recent call last):
        ...
        dqsim.errors.ConfigError: <string> (with --set circuit.num_qubits=80): [circuit].num_qubits = 80: must be <= 40 (allowed 1..40)
    """
    assignments = list(assignments)
    data = copy.deepcopy(job._raw)
    for assignment in assignments:
        parts, value = _parse_override(assignment)
        if tuple(parts) in _JOB_RELATIVE_PATH_KEYS and isinstance(value, str):
            value = os.path.abspath(os.path.expanduser(value))
        table = data
        for depth, part in enumerate(parts[:-1]):
            child = table.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {assignment}: {_format_key(parts[:depth + 1])} "
                                  f"is {_toml_repr(child)}, not a table")
            table = child
        if value is _REMOVE:
            table.pop(parts[-1], None)
        else:
            table[parts[-1]] = value
    source = f"{job.source} (with --set {' '.join(assignments)})" if assignments else job.source
    new = _validate(data, source=source, base_dir=job.base_dir)
    new._text = job._text
    new._path = job._path
    new._source = job._source
    new._base_dir = job._base_dir
    new._overrides = job._overrides + tuple(assignments)
    new._raw = data
    return new
