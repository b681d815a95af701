"""Job files: TOML text validated into typed, frozen configuration objects.

A job file has one table per section. ``[run]`` names the run and picks the
*scenario*; the scenario decides which other sections exist: ``"circuit"``
(the default: ``[circuit]`` and ``[simulation]``), ``"dqc"``, a circuit
distributed over networked QPUs (``[network]`` with ``[network.link]`` and
``[network.node]``, ``[circuit]``, ``[distribution]``, ``[simulation]``; see
:class:`DqcJob` and ``jobs/dqc_ghz_4qpu.toml``), and ``"qkd"``, quantum key
distribution over fibre links (``[qkd]`` with ``[qkd.source]``,
``[qkd.link]``, ``[[qkd.classical_channels]]``, ``[qkd.eve]``,
``[qkd.sweep]``, ``[qkd.network]``; see :class:`QkdJob` and
``jobs/bb84_decoy_50km.toml``). Every model forbids
unknown keys and checks types strictly (TOML is typed: ``shots = "10"`` is an
error, not 10).

Every problem becomes a :class:`~dqsim.errors.ConfigError` with one line that
names the file, the key, the value and what is allowed::

    jobs/x.toml: [circuit].num_qubits = -3: must be >= 1 (allowed 1..40)
    jobs/x.toml: [network.link].distance_km = -1.0: must be in [0, inf)
    jobs/x.toml: [[qkd.classical_channels]][0].direction = "up": must be one of "co", "counter"
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
import dataclasses
import difflib
import json
import math
import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Any, ClassVar, Iterable, Literal, Optional, Sequence

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError,
                      ValidationInfo, field_validator, model_validator)
import networkx as nx
from pydantic_core import PydanticCustomError

from dqsim.errors import ConfigError, ResourceError
from dqsim.network import topology as net_topology
from dqsim.network.fibre import DEFAULT_ATTENUATION_DB_PER_KM, DEFAULT_GROUP_INDEX
from dqsim.network.link import (DEFAULT_DARK_COUNT_RATE_HZ, DEFAULT_DETECTOR_EFFICIENCY,
                                DEFAULT_GATE_WIDTH_PS, LinkSpec)
from dqsim.network.node import NodeSpec
from dqsim.network.raman import DEFAULT_RAMAN_CROSS_SECTION_PER_KM_PER_NM, DEFAULT_WAVELENGTH_NM
from dqsim.state import gates as gate_table

__all__ = [
    "JobConfig", "CircuitJob", "RunSection", "CircuitSection", "SimulationSection",
    "DqcJob", "NetworkSection", "DistributionSection", "DqcSimulationSection",
    "QkdJob", "QkdSection", "QkdSourceSection", "QkdLinkSection", "ClassicalChannelSection",
    "EveSection", "SweepSection", "QkdNetworkSection", "QKD_PROTOCOLS",
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
               has_value: bool = False, missing: bool = False,
               allowed_keys: Sequence[str] | None = None,
               run_on: bool = False) -> PydanticCustomError:
    """A validation error for ``key`` (relative to the model raising it) with our own wording.

    ``missing`` words it as a missing key; ``allowed_keys`` as an unknown key
    (the message is then a hint appended after the list of allowed keys, or
    empty); ``run_on`` writes ``key = value message`` without the colon.
    """
    return PydanticCustomError(_JOB_ERROR, "{message}", {
        "message": message, "key": tuple(key), "value": value,
        "has_value": has_value, "missing": missing,
        "allowed_keys": None if allowed_keys is None else tuple(allowed_keys),
        "run_on": run_on})


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
        scenario: key of :data:`SCENARIOS` (``"circuit"``, ``"dqc"`` or ``"qkd"``; default ``"circuit"``).
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
        fusion: fuse runs of gates into few-qubit blocks before applying
            them (default true; see :mod:`dqsim.circuit.fusion`). Used by
            the ``circuit`` scenario.
    """

    shots: int = Field(1000, ge=0, le=10**8)
    save_state: bool = False
    store_shots: bool = False
    observables: list[str] = Field(default_factory=list)
    exchange_chunk_mib: int = Field(256, ge=1, le=2047)
    max_gather_qubits: int = Field(24, ge=1, le=34)
    fusion: bool = True

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


class NoiseSection(_Section):
    """``[noise]`` of the ``circuit`` scenario: errors after gates and at readout (trajectories).

    A job with any noise runs one trajectory per shot (channels from
    :mod:`dqsim.state.noise`). After a gate on one qubit comes a
    depolarizing error with probability ``depolarizing_1q``, after a gate on
    two qubits a two-qubit depolarizing error with ``depolarizing_2q`` (on
    three or more qubits: ``depolarizing_1q`` on each); ``gates`` sets the
    probability of a gate kind instead (``{ cx = 0.02, h = 0.0 }``). Then
    amplitude damping with ``amplitude_damping`` (γ) on every qubit of the
    gate. Each measured bit is flipped with probability ``readout_error``.

    Attributes:
        depolarizing_1q, depolarizing_2q: error probabilities, 0..1 (default 0).
        amplitude_damping: γ per gate and qubit, 0..1 (default 0).
        readout_error: flip probability of a measured bit, 0..1 (default 0).
        gates: gate name -> depolarizing probability, 0..1, for that kind of gate.
    """

    depolarizing_1q: float = Field(0.0, ge=0.0, le=1.0)
    depolarizing_2q: float = Field(0.0, ge=0.0, le=1.0)
    amplitude_damping: float = Field(0.0, ge=0.0, le=1.0)
    readout_error: float = Field(0.0, ge=0.0, le=1.0)
    gates: dict[str, float] = Field(default_factory=dict)

    @field_validator("gates")
    @classmethod
    def _check_gates(cls, gates: dict[str, float]) -> dict[str, float]:
        out = {}
        for name, p in gates.items():
            key = gate_table.canonical_gate_name(name)
            if key not in gate_table.GATES:
                raise _job_error(f"is not a gate name; allowed: {', '.join(sorted(gate_table.GATES))}",
                                 key=(name,), value=p, has_value=True)
            if not 0.0 <= p <= 1.0:
                raise _job_error("must be in [0, 1]", key=(name,), value=p, has_value=True)
            out[key] = float(p)
        return out

    @property
    def active(self) -> bool:
        """Whether any noise is set."""
        return bool(self.depolarizing_1q or self.depolarizing_2q or self.amplitude_damping
                    or self.readout_error or any(self.gates.values()))


class CheckpointSection(_Section):
    """``[checkpoint]``: when a run on the event engine saves itself (any scenario on the engine).

    Attributes:
        every_wall_s: write a checkpoint at the first window boundary after
            this many seconds of wall time since the last one (> 0), or none.
        every_sim_s: write one at the first window boundary after each
            multiple of this much simulated time, seconds (>= 1e-12, the
            engine's 1 ps tick), or none.
        keep: checkpoints kept on disk, the newest first (1..100).
        directory: folder of the checkpoint files; relative paths are
            relative to the current directory.

    SIGUSR1 or SIGTERM makes a run checkpoint at the next window boundary
    and exit with status 75, with or without this section.
    """

    every_wall_s: Optional[float] = Field(None, gt=0)
    every_sim_s: Optional[float] = Field(None, ge=1e-12)
    keep: int = Field(2, ge=1, le=100)
    directory: str = "checkpoints"


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
            raise _job_error(f"must be {_toml_repr(expected)} for {type(self).__name__}",
                             key=("run", "scenario"), value=self.run.scenario, has_value=True)
        return self

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


def _with_default_circuit_seed(data: Any) -> Any:
    """Raw job table with ``[circuit].circuit_seed`` defaulted to ``[run].seed`` for random circuits."""
    if not isinstance(data, dict):
        return data
    run, circuit = data.get("run"), data.get("circuit")
    if (isinstance(run, dict) and isinstance(circuit, dict)
            and circuit.get("generator") == "random" and "circuit_seed" not in circuit):
        seed = run.get("seed", RunSection.model_fields["seed"].default)
        data = {**data, "circuit": {**circuit, "circuit_seed": seed}}
    return data


def _check_observable_qubits(circuit: CircuitSection, simulation: SimulationSection) -> None:
    """Observables act only on the generated circuit's qubits (QASM: checked at run time)."""
    if circuit.num_qubits is not None:
        for index, text in enumerate(simulation.observables):
            problem = _observable_range_problem(text, circuit.num_qubits)
            if problem:
                raise _job_error(problem, key=("simulation", "observables", index),
                                 value=text, has_value=True)


class CircuitJob(JobConfig):
    """Scenario ``"circuit"``: run one circuit, sample shots, evaluate observables.

    Attributes:
        circuit: the ``[circuit]`` section.
        simulation: the ``[simulation]`` section (all defaults when absent).
        noise: the ``[noise]`` section (no noise when absent).
    """

    scenario: ClassVar[str] = "circuit"

    circuit: CircuitSection
    simulation: SimulationSection = Field(default_factory=SimulationSection)
    noise: NoiseSection = Field(default_factory=NoiseSection)

    @model_validator(mode="before")
    @classmethod
    def _default_circuit_seed(cls, data: Any) -> Any:
        return _with_default_circuit_seed(data)

    @model_validator(mode="after")
    def _check_observable_qubits(self) -> "CircuitJob":
        _check_observable_qubits(self.circuit, self.simulation)
        return self


# --------------------------------------------------------------------------
# Scenario "dqc": a circuit distributed over networked QPUs
# --------------------------------------------------------------------------

#: Topologies of ``[network].topology``, each with the keys that size it.
_TOPOLOGY_KEYS: dict[str, tuple[str, ...]] = {
    "line": ("num_nodes",), "ring": ("num_nodes",), "star": ("num_nodes",),
    "all_to_all": ("num_nodes",), "grid": ("num_rows", "num_cols"),
    "edges": ("node_names", "edges"),
}

#: Most nodes of a network given by ``num_nodes`` or by ``node_names`` with ``topology = "edges"``.
MAX_NETWORK_NODES = 64

#: Most node names quoted in an error message.
_MAX_NAMES_SHOWN = 10

#: Fewest nodes of a ring (a cycle needs three).
_MIN_RING_NODES = 3

_LINK_FIELDS = tuple(f.name for f in dataclasses.fields(LinkSpec))
_NODE_FIELDS = tuple(f.name for f in dataclasses.fields(NodeSpec) if f.name != "name")


def _float_fields(spec: type) -> frozenset[str]:
    """Fields of a dataclass annotated ``float`` (or ``float | None``)."""
    hints = typing.get_type_hints(spec)
    return frozenset(name for name, hint in hints.items()
                     if hint is float or float in typing.get_args(hint))


_LINK_FLOAT_FIELDS = _float_fields(LinkSpec)
_NODE_FLOAT_FIELDS = _float_fields(NodeSpec)


def _spec_parameters(params: dict[str, Any], allowed: Sequence[str], float_fields: frozenset[str],
                     hints: dict[str, str]) -> dict[str, Any]:
    """``params`` with unknown keys refused and integers of float fields made floats."""
    for key in params:
        if key not in allowed:
            raise _job_error(hints.get(key, ""), key=(key,), allowed_keys=allowed)
    return {key: float(value) if (key in float_fields and isinstance(value, int)
                                  and not isinstance(value, bool)) else value
            for key, value in params.items()}


def _checked_spec_parameters(params: dict[str, Any], spec: type, allowed: Sequence[str],
                             float_fields: frozenset[str], hints: dict[str, str],
                             defaults: dict[str, Any]) -> dict[str, Any]:
    """The keys of a ``[...link]``/``[...node]`` table, checked by building ``spec(**defaults, **params)``."""
    params = _spec_parameters(params, allowed, float_fields, hints)
    try:
        spec(**{**defaults, **params})
    except ValueError as exc:
        raise _spec_problem(exc, spec, params) from None
    return params


def _spec_problem(exc: ValueError, spec: type, given: dict[str, Any]) -> PydanticCustomError:
    """A ``LinkSpec``/``NodeSpec`` error as a job error naming the field.

    Their messages read ``"<Spec>: <field> must be ..., got <value>"``; the
    field is the first word, or else the first field the message mentions.
    """
    fields = [f.name for f in dataclasses.fields(spec)]
    text = str(exc)
    prefix = f"{spec.__name__}: "
    if text.startswith(prefix):
        text = text[len(prefix):]
    first_word = text.split(" ", 1)[0]
    if first_word in fields:
        field, message = first_word, text[len(first_word):].strip()
    else:
        mentioned = [(m.start(), name) for name in fields
                     if (m := re.search(rf"\b{re.escape(name)}\b", text))]
        if not mentioned:
            return _job_error(text)
        field, message = min(mentioned)[1], text
    message = re.sub(r",? got .*$", "", message)
    if field in given:
        return _job_error(message, key=(field,), value=given[field], has_value=True)
    default = next(f.default for f in dataclasses.fields(spec) if f.name == field)
    return _job_error(f"{message} ({field} is not set: its default is {_toml_repr(default)})",
                      key=(field,))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class NetworkSection(_Section):
    """``[network]``: the QPUs, how they are linked, and their default hardware.

    Attributes:
        topology: ``"line"``, ``"ring"``, ``"star"``, ``"grid"``,
            ``"all_to_all"`` or ``"edges"`` (see :mod:`dqsim.network.topology`).
        num_nodes: node count, 2..64 (ring: 3..64); required for line, ring,
            star and all_to_all, not allowed for grid and edges.
        num_rows: grid rows, 1..16 (grid only, with ``num_cols``).
        num_cols: grid columns, 1..16 (grid only); ``num_rows * num_cols >= 2``.
        node_names: node names in index order (default ``node0``, ``node1``,
            ...): unique, non-empty, no whitespace, one per node. Required for
            ``"edges"``, where they also fix the node count (2..64).
        edges: ``"edges"`` only: ``[a, b]`` or ``[a, b, distance_km]`` with
            ``a``, ``b`` node names and ``distance_km > 0`` (this edge's
            length instead of ``[network.link].distance_km``).
        placement: MPI rank of each node (each >= 0, one per node); default
            contiguous blocks (:func:`dqsim.network.topology.place_nodes`).
            Checked against the rank count at run time (:meth:`placement_for`).
        link: ``[network.link]``: keyword arguments of
            :class:`~dqsim.network.link.LinkSpec` for every link (integers of
            float fields stored as floats). ``distance_km`` is required unless
            every edge of ``"edges"`` gives its own.
        node: ``[network.node]``: keyword arguments of
            :class:`~dqsim.network.node.NodeSpec` except ``name``, for every node.

    Examples:
        >>> net = NetworkSection(topology="ring", num_nodes=3, link={"distance_km": 2.0})
        >>> net.node_names_list(), net.link_spec().distance_km
        (['node0', 'node1', 'node2'], 2.0)
        >>> net.build_graph().number_of_edges()
        3
    """

    topology: Literal["line", "ring", "star", "grid", "all_to_all", "edges"]
    num_nodes: Optional[int] = Field(None, ge=2, le=MAX_NETWORK_NODES)
    num_rows: Optional[int] = Field(None, ge=1, le=16)
    num_cols: Optional[int] = Field(None, ge=1, le=16)
    node_names: Optional[list[str]] = None
    edges: Optional[list[list[Any]]] = None
    placement: Optional[list[typing.Annotated[int, Field(ge=0)]]] = None
    link: dict[str, Any] = Field(default_factory=dict)
    node: dict[str, Any] = Field(default_factory=dict)

    @field_validator("link")
    @classmethod
    def _check_link(cls, link: dict[str, Any]) -> dict[str, Any]:
        return _checked_spec_parameters(link, LinkSpec, _LINK_FIELDS, _LINK_FLOAT_FIELDS, {},
                                        {"distance_km": net_topology.DEFAULT_LINK.distance_km})

    @field_validator("node")
    @classmethod
    def _check_node(cls, node: dict[str, Any]) -> dict[str, Any]:
        return _checked_spec_parameters(node, NodeSpec, _NODE_FIELDS, _NODE_FLOAT_FIELDS,
                                        {"name": "node names come from [network].node_names"}, {"name": "node0"})

    @model_validator(mode="after")
    def _check_network(self) -> "NetworkSection":
        self._check_topology_keys()
        self._check_node_names()
        if self.topology == "edges":
            self._check_edges()
        if "distance_km" not in self.link and not self._every_edge_has_distance():
            raise _job_error('required unless every edge of topology = "edges" gives its own distance',
                             key=("link", "distance_km"), missing=True)
        num_nodes = self.resolved_num_nodes()
        if self.placement is not None and len(self.placement) != num_nodes:
            raise _job_error(f"lists {len(self.placement)} ranks but the network has {num_nodes} nodes",
                             key=("placement",), value=self.placement, has_value=True)
        try:
            self.build_graph()
        except ConfigError as exc:
            message = re.sub(r"^\w+: ", "", str(exc))
            raise _job_error(message, key=("edges" if self.topology == "edges" else "topology",)) from None
        return self

    def _check_topology_keys(self) -> None:
        used = _TOPOLOGY_KEYS[self.topology]
        for key in ("num_nodes", "num_rows", "num_cols", "edges"):
            value = getattr(self, key)
            if key in used and value is None:
                raise _job_error(f"required with topology = {_toml_repr(self.topology)}",
                                 key=(key,), missing=True)
            if key not in used and value is not None:
                users = [t for t, keys in _TOPOLOGY_KEYS.items() if key in keys]
                raise _job_error(f"only used with topology = {' or '.join(_toml_repr(t) for t in users)} "
                                 f"(here topology = {_toml_repr(self.topology)})",
                                 key=(key,), value=value, has_value=True)
        if self.topology == "edges" and self.node_names is None:
            raise _job_error('required with topology = "edges"', key=("node_names",), missing=True)
        if self.topology == "ring" and self.num_nodes < _MIN_RING_NODES:
            raise _job_error(f'must be >= {_MIN_RING_NODES} for topology = "ring" '
                             f"(allowed {_MIN_RING_NODES}..{MAX_NETWORK_NODES})",
                             key=("num_nodes",), value=self.num_nodes, has_value=True)
        if self.topology == "grid" and self.num_rows * self.num_cols < 2:
            raise _job_error(f"the grid must have at least 2 nodes "
                             f"(num_rows × num_cols = {self.num_rows} × {self.num_cols})",
                             key=("num_cols",), value=self.num_cols, has_value=True)

    def _check_node_names(self) -> None:
        names = self.node_names
        if names is None:
            return
        if self.topology == "edges":
            if not 2 <= len(names) <= MAX_NETWORK_NODES:
                raise _job_error(f'lists {len(names)} names; topology = "edges" needs '
                                 f"2..{MAX_NETWORK_NODES} nodes", key=("node_names",),
                                 value=names, has_value=True)
        else:
            num_nodes = self.resolved_num_nodes()
            if len(names) != num_nodes:
                raise _job_error(f"lists {len(names)} names but the network has {num_nodes} nodes",
                                 key=("node_names",), value=names, has_value=True)
        first_index: dict[str, int] = {}
        for index, name in enumerate(names):
            if not name or any(c.isspace() for c in name):
                raise _job_error("must be a non-empty name without whitespace",
                                 key=("node_names", index), value=name, has_value=True)
            if name in first_index:
                raise _job_error(f"appears twice (also node_names[{first_index[name]}])",
                                 key=("node_names", index), value=name, has_value=True)
            first_index[name] = index

    def _check_edges(self) -> None:
        known = self.node_names_list()
        seen: dict[frozenset[str], int] = {}
        for index, edge in enumerate(self.edges):
            key = ("edges", index)
            if len(edge) not in (2, 3):
                raise _job_error(f"must be [a, b] or [a, b, distance_km] (2 or 3 items), got {len(edge)}",
                                 key=key, value=edge, has_value=True)
            for end in (0, 1):
                name = edge[end]
                if not isinstance(name, str):
                    raise _job_error(f"expected a node name (a string), got {_toml_repr(name)}",
                                     key=key + (end,))
                if name not in known:
                    shown = _one_of(known[:_MAX_NAMES_SHOWN])
                    if len(known) > _MAX_NAMES_SHOWN:
                        shown += f", ... ({len(known) - _MAX_NAMES_SHOWN} more)"
                    raise _job_error(f"unknown node {_toml_repr(name)}; known nodes: {shown}",
                                     key=key + (end,), value=name, has_value=True)
            if edge[0] == edge[1]:
                raise _job_error(f"links node {_toml_repr(edge[0])} to itself",
                                 key=key, value=edge, has_value=True)
            pair = frozenset(edge[:2])
            if pair in seen:
                raise _job_error(f"repeats the link of edges[{seen[pair]}]",
                                 key=key, value=edge, has_value=True)
            seen[pair] = index
            if len(edge) == 3:
                distance_km = edge[2]
                if not _is_number(distance_km):
                    raise _job_error(f"expected a number (distance_km), got {_toml_repr(distance_km)}",
                                     key=key + (2,))
                if not (0 < distance_km < math.inf):
                    raise _job_error("must be a distance in km > 0 (finite)",
                                     key=key + (2,), value=distance_km, has_value=True)

    def _every_edge_has_distance(self) -> bool:
        return self.topology == "edges" and all(len(edge) == 3 for edge in self.edges)

    def resolved_num_nodes(self) -> int:
        """Number of nodes of the network, whichever keys set it."""
        if self.topology == "grid":
            return self.num_rows * self.num_cols
        if self.topology == "edges":
            return len(self.node_names)
        return self.num_nodes

    def node_names_list(self) -> list[str]:
        """Node names in index order: ``node_names``, or ``node0``, ``node1``, ..."""
        if self.node_names is not None:
            return list(self.node_names)
        return [f"node{index}" for index in range(self.resolved_num_nodes())]

    def link_spec(self) -> LinkSpec:
        """The default link of ``[network.link]`` (edges of ``"edges"`` may change its length)."""
        return LinkSpec(**{"distance_km": net_topology.DEFAULT_LINK.distance_km, **self.link})

    def node_spec(self, name: str) -> NodeSpec:
        """The node called ``name``, with the parameters of ``[network.node]``.

        Args:
            name: one of :meth:`node_names_list`.

        Raises:
            ConfigError: ``name`` is not a node of the network.
        """
        names = self.node_names_list()
        if name not in names:
            raise ConfigError(f"NetworkSection.node_spec: unknown node {name!r}; "
                              f"known nodes: {_one_of(names)}")
        return NodeSpec(name=name, **self.node)

    def data_capacity(self) -> int:
        """Data qubits of the whole network: nodes × ``[network.node].num_data_qubits``."""
        return self.resolved_num_nodes() * self.node_spec(self.node_names_list()[0]).num_data_qubits

    def build_graph(self) -> nx.Graph:
        """The topology as a graph (:mod:`dqsim.network.topology`).

        Every edge carries :meth:`link_spec`, except edges of ``"edges"``
        that give their own length: the default link with that ``distance_km``.

        Raises:
            ConfigError: a topology the builder refuses (e.g. disconnected edges).
        """
        link = self.link_spec()
        names = self.node_names_list()
        if self.topology == "grid":
            return net_topology.grid(self.num_rows, self.num_cols, link=link, names=names)
        if self.topology == "edges":
            edges = [(edge[0], edge[1]) if len(edge) == 2
                     else (edge[0], edge[1], dataclasses.replace(link, distance_km=float(edge[2])))
                     for edge in self.edges]
            return net_topology.from_edges(names, edges, link=link)
        builders = {"line": net_topology.line, "ring": net_topology.ring,
                    "star": net_topology.star, "all_to_all": net_topology.all_to_all}
        return builders[self.topology](self.num_nodes, link=link, names=names)

    def placement_for(self, num_ranks: int) -> list[int]:
        """MPI rank of each node when running on ``num_ranks`` ranks.

        Args:
            num_ranks: ranks of the run, >= 1.

        Returns:
            ``placement`` as given, or contiguous blocks
            (:func:`dqsim.network.topology.place_nodes`).

        Raises:
            ResourceError: a given rank is ``>= num_ranks``, or (default
                placement) more ranks than nodes.
        """
        if self.placement is None:
            return net_topology.place_nodes(self.resolved_num_nodes(), num_ranks)
        for index, rank in enumerate(self.placement):
            if rank >= num_ranks:
                raise ResourceError(f"[network].placement[{index}] = {rank}: must be < {num_ranks} "
                                    f"(the run has {num_ranks} ranks: 0..{num_ranks - 1})")
        return list(self.placement)


class DistributionSection(_Section):
    """``[distribution]``: how the circuit is split over the nodes.

    Attributes:
        scheme: ``"telegate"`` (remote gates through shared pairs, default)
            or ``"teledata"`` (qubits teleported to where the gate runs).
        assignment: node index (0-based) holding each circuit qubit, one per
            qubit; at most ``[network.node].num_data_qubits`` qubits per node.
            Default None: the engine assigns.
    """

    scheme: Literal["telegate", "teledata"] = "telegate"
    assignment: Optional[list[typing.Annotated[int, Field(ge=0)]]] = None


class DqcSimulationSection(SimulationSection):
    """``[simulation]`` of the ``"dqc"`` scenario: as :class:`SimulationSection`, plus:

    Attributes:
        timeline: record the timeline of network and gate events (default true;
            first trajectory only).
        trajectories: independent engine runs, 1..1000 (default 1). Network
            qubits are exact small states, but where a noisy pair or memory
            meets the data register one pure state is drawn (a trajectory);
            with several, the fidelity is their mean with its standard error
            and the shots are drawn across them (``shots / trajectories`` each).
    """

    timeline: bool = True
    trajectories: int = Field(1, ge=1, le=1000)


def check_assignment(assignment, *, count: int | None, count_text: str, unit: str, num_nodes: int,
                     per_node: int, names) -> None:
    """Check ``[distribution].assignment`` (node of each qubit or site) against the network.

    Raises a one-line :class:`ConfigError` naming the entry: wrong length
    (when ``count`` is known), a node index outside the network, or a node
    given more than its ``per_node`` data qubits.
    """
    key = ("distribution", "assignment")
    if count is not None and len(assignment) != count:
        raise _job_error(f"lists {len(assignment)} {unit} but {count_text}", key=key, value=assignment,
                         has_value=True)
    held = [0] * num_nodes
    for index, node_index in enumerate(assignment):
        if node_index >= num_nodes:
            raise _job_error(f"must be a node index in 0..{num_nodes - 1} (the network has {num_nodes} nodes)",
                             key=key + (index,), value=node_index, has_value=True)
        held[node_index] += 1
        if held[node_index] > per_node:
            raise _job_error(f"node {node_index} ({_toml_repr(names[node_index])}) would hold "
                             f"{held[node_index]} {unit} but has {per_node} data qubits "
                             f"([network.node].num_data_qubits)",
                             key=key + (index,), value=node_index, has_value=True)


class DqcJob(JobConfig):
    """Scenario ``"dqc"``: one circuit distributed over QPUs linked by an optical network.

    Attributes:
        network: the ``[network]`` section with ``[network.link]`` and ``[network.node]``.
        circuit: the ``[circuit]`` section, as in :class:`CircuitJob`.
        distribution: the ``[distribution]`` section (all defaults when absent).
        simulation: the ``[simulation]`` section (all defaults when absent).

    Examples:
        >>> job = load_job_text('''
        ... [run]
        ... name = "dqc"
        ... scenario = "dqc"
        ... [network]
        ... topology = "line"
        ... num_nodes = 2
        ... [network.link]
        ... distance_km = 10
        ... [network.node]
        ... num_data_qubits = 2
        ... [circuit]
        ... generator = "ghz"
        ... num_qubits = 4
        ... ''')
        >>> type(job).__name__, job.network.link_spec().distance_km, job.distribution.scheme
        ('DqcJob', 10.0, 'telegate')
        >>> apply_overrides(job, ["circuit.num_qubits=5"])
        Traceback (most recent call last):
        ...
        dqsim.errors.ConfigError: <string> (with --set circuit.num_qubits=5): [circuit].num_qubits = 5 exceeds the network's capacity of 4 data qubits (2 nodes × 2)
    """

    scenario: ClassVar[str] = "dqc"

    network: NetworkSection
    circuit: CircuitSection
    distribution: DistributionSection = Field(default_factory=DistributionSection)
    simulation: DqcSimulationSection = Field(default_factory=DqcSimulationSection)

    @model_validator(mode="before")
    @classmethod
    def _default_circuit_seed(cls, data: Any) -> Any:
        return _with_default_circuit_seed(data)

    @model_validator(mode="after")
    def _check_fits_network(self) -> "DqcJob":
        network = self.network
        num_nodes = network.resolved_num_nodes()
        names = network.node_names_list()
        per_node = network.node_spec(names[0]).num_data_qubits
        num_qubits = self.circuit.num_qubits
        if self.circuit.generator is not None and num_qubits > network.data_capacity():
            raise _job_error(f"exceeds the network's capacity of {network.data_capacity()} data qubits "
                             f"({num_nodes} nodes × {per_node})",
                             key=("circuit", "num_qubits"), value=num_qubits, has_value=True, run_on=True)
        assignment = self.distribution.assignment
        if assignment is not None:
            check_assignment(assignment, count=num_qubits, count_text=f"the circuit has {num_qubits}",
                             unit="qubits", num_nodes=num_nodes, per_node=per_node, names=names)
        _check_observable_qubits(self.circuit, self.simulation)
        return self


# --------------------------------------------------------------------------
# Scenario "qkd": quantum key distribution over fibre links
# --------------------------------------------------------------------------

#: Protocols of ``[qkd].protocol``.
QKD_PROTOCOLS = ("bb84_decoy", "bbm92", "e91")

#: Protocols with an entangled-pair source in the fibre (``werner``, ``position``).
_ENTANGLED_PROTOCOLS = ("bbm92", "e91")

#: ``[qkd.source]`` keys used by only some protocols -> those protocols.
_SOURCE_KEY_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "intensities": ("bb84_decoy",), "probabilities": ("bb84_decoy",),
    "werner": _ENTANGLED_PROTOCOLS, "position": _ENTANGLED_PROTOCOLS, "mean_pair_number": _ENTANGLED_PROTOCOLS,
}

#: Defaults of the protocol-specific ``[qkd.source]`` keys, filled in for the protocols using them.
DEFAULT_DECOY_INTENSITIES = (0.5, 0.1, 0.0)
DEFAULT_DECOY_PROBABILITIES = (0.8, 0.1, 0.1)
DEFAULT_WERNER = 1.0
DEFAULT_SOURCE_POSITION = 0.5

#: Most pulses (pairs) per link of one run, and most per batch message.
MAX_QKD_PULSES = 10**13
MAX_QKD_BATCH_PULSES = 10**8
#: Default pulses per link, and default pulses per batch (at most ``pulses``).
DEFAULT_QKD_PULSES = 10_000_000
DEFAULT_QKD_BATCH_PULSES = 1_000_000
#: Largest signal mean photon number of ``[qkd.source].intensities``.
MAX_DECOY_INTENSITY = 10.0
#: How far ``[qkd.source].probabilities`` may sum from 1.
PROBABILITY_SUM_TOLERANCE = 1e-9
#: Most distances of ``[qkd.sweep].distances_km``.
MAX_SWEEP_POINTS = 200
#: Most nodes of ``[qkd.network]``.
MAX_QKD_NODES = 64


def _format_number(value: float) -> str:
    """A bound as written in messages: ``inf``, ``0.5``, ``1e-09``, ``10_000_000``."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if float(value).is_integer() and abs(value) >= 10**5:
        return f"{int(value):_}"
    return f"{value:g}"


def _real(low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
          high_open: bool = False) -> Any:
    """``float`` that must be finite and lie in the interval; the message names the interval.

    Errors read ``must be in (0, 1]`` (or ``must be a finite number in ...``
    for inf and nan), as for ``[network.link]``.
    """
    interval = (f"{'(' if low_open or math.isinf(low) else '['}{_format_number(low)}, "
                f"{_format_number(high)}{')' if high_open or math.isinf(high) else ']'}")

    def check(value: float) -> float:
        if not math.isfinite(value):
            raise _job_error(f"must be a finite number in {interval}", value=value, has_value=True)
        if (value <= low if low_open else value < low) or (value >= high if high_open else value > high):
            raise _job_error(f"must be in {interval}", value=value, has_value=True)
        return value

    return typing.Annotated[float, AfterValidator(check)]


def _integer(low: int, high: int | None = None) -> Any:
    """``int`` in ``low..high`` (``None``: unbounded); errors read ``must be >= 1 (allowed 1..10_000)``."""
    allowed = "" if high is None else f" (allowed {_format_number(low)}..{_format_number(high)})"

    def check(value: int) -> int:
        if value < low:
            raise _job_error(f"must be >= {_format_number(low)}{allowed}", value=value, has_value=True)
        if high is not None and value > high:
            raise _job_error(f"must be <= {_format_number(high)}{allowed}", value=value, has_value=True)
        return value

    return typing.Annotated[int, AfterValidator(check)]


def _protocol_list(protocols: Sequence[str]) -> str:
    return " or ".join(_toml_repr(p) for p in protocols)


class QkdSourceSection(_Section):
    """``[qkd.source]``: the photon source (weak coherent pulses or entangled pairs).

    Protocol-specific keys are filled in with their defaults for the
    protocols that use them and are ``None`` otherwise; giving one that the
    job's protocol does not use is an error.

    Attributes:
        intensities: ``"bb84_decoy"`` only: mean photon numbers of the signal,
            the decoy and optionally a second decoy or vacuum state; 2 or 3
            values, strictly decreasing, each in [0, 10]. Default
            ``[0.5, 0.1, 0.0]``.
        probabilities: ``"bb84_decoy"`` only: probability of sending each
            intensity, one per intensity, each in (0, 1), summing to 1 (within
            1e-9). Default ``[0.8, 0.1, 0.1]``. Give both ``intensities``
            and ``probabilities``, or neither.
        z_basis_probability: probability of preparing (measuring) in the Z
            (key) basis, in (0, 1); default 0.5.
        source_rate_hz: pulse (pair) repetition rate, Hz, > 0; default 1e9.
        werner: ``"bbm92"``/``"e91"`` only: Werner parameter of the emitted
            pairs, ``w·|Φ+⟩⟨Φ+| + (1-w)·I/4``, in [0, 1]; default 1.
        position: ``"bbm92"``/``"e91"`` only: where the pair source sits, as
            a fraction of the fibre from Alice, in [0, 1]; default 0.5.
        mean_pair_number: ``"bbm92"``/``"e91"`` only: mean pair number μ of a
            thermal (SPDC) source, in (0, 2]; default: exactly one pair per slot.
    """

    intensities: Optional[list[_real(0.0, MAX_DECOY_INTENSITY)]] = None
    probabilities: Optional[list[_real(0.0, 1.0, low_open=True, high_open=True)]] = None
    z_basis_probability: _real(0.0, 1.0, low_open=True, high_open=True) = 0.5
    source_rate_hz: _real(0.0, low_open=True) = 1e9
    werner: Optional[_real(0.0, 1.0)] = None
    position: Optional[_real(0.0, 1.0)] = None
    mean_pair_number: Optional[_real(0.0, 2.0, low_open=True)] = None

    @model_validator(mode="after")
    def _check_decoy_states(self) -> "QkdSourceSection":
        intensities, probabilities = self.intensities, self.probabilities
        if intensities is not None:
            if len(intensities) not in (2, 3):
                raise _job_error(f"must list 2 or 3 mean photon numbers (signal, decoy[, vacuum]), "
                                 f"got {len(intensities)}", key=("intensities",),
                                 value=intensities, has_value=True)
            for index in range(1, len(intensities)):
                if intensities[index] >= intensities[index - 1]:
                    raise _job_error(f"must be < intensities[{index - 1}] = "
                                     f"{_toml_repr(intensities[index - 1])} (strictly decreasing: "
                                     f"signal, decoy[, vacuum])", key=("intensities", index),
                                     value=intensities[index], has_value=True)
        if probabilities is not None:
            if intensities is not None and len(probabilities) != len(intensities):
                raise _job_error(f"lists {len(probabilities)} probabilities but intensities lists "
                                 f"{len(intensities)} (one per intensity)", key=("probabilities",),
                                 value=probabilities, has_value=True)
            total = math.fsum(probabilities)
            if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
                raise _job_error(f"must sum to 1 (within {PROBABILITY_SUM_TOLERANCE:g}); they sum to "
                                 f"{total:.12g}", key=("probabilities",), value=probabilities,
                                 has_value=True)
        return self


class QkdLinkSection(_Section):
    """``[qkd.link]``: the fibre and the detectors of every link.

    Attributes:
        distance_km: fibre length from Alice to Bob, km, >= 0. Required unless
            ``[qkd.sweep]`` or ``[qkd.network].distances_km`` gives the
            distances (a sweep overrides it); ``None`` when left out.
        attenuation_db_per_km: fibre attenuation, dB/km, >= 0; default 0.2.
        coupling_loss_db: lumped coupling loss before the detectors, dB, >= 0; default 0.
        group_index: fibre group index n_g, >= 1; default 1.468.
        detector_efficiency: detector efficiency in (0, 1]; default 0.9.
        dark_count_rate_hz: dark count rate of each detector, Hz, >= 0; default 10.
        gate_width_ps: detection gate width, ps, >= 1; default 1000.
        dead_time_ps: detector dead time, ps, >= 0; default 0.
        misalignment: optical misalignment error e_d (probability that a photon
            lands in the wrong detector), in [0, 0.5]; default 0.01.
        afterpulse_probability: probability of an afterpulse after a click, in [0, 1); default 0.
    """

    distance_km: Optional[_real(0.0)] = None
    attenuation_db_per_km: _real(0.0) = DEFAULT_ATTENUATION_DB_PER_KM
    coupling_loss_db: _real(0.0) = 0.0
    group_index: _real(1.0) = DEFAULT_GROUP_INDEX
    detector_efficiency: _real(0.0, 1.0, low_open=True) = DEFAULT_DETECTOR_EFFICIENCY
    dark_count_rate_hz: _real(0.0) = DEFAULT_DARK_COUNT_RATE_HZ
    gate_width_ps: _integer(1) = DEFAULT_GATE_WIDTH_PS
    dead_time_ps: _integer(0) = 0
    misalignment: _real(0.0, 0.5) = 0.01
    afterpulse_probability: _real(0.0, 1.0, high_open=True) = 0.0


class ClassicalChannelSection(_Section):
    """One ``[[qkd.classical_channels]]`` entry: classical light sharing the fibre.

    Its spontaneous Raman scattering adds noise counts to the quantum channel
    (:mod:`dqsim.network.raman`); it runs over the whole length of every link.

    Attributes:
        launch_power_dbm: classical launch power, dBm, in [-60, 30].
        direction: ``"co"`` (travels with the photons: forward Raman noise) or
            ``"counter"`` (against them: backward Raman noise).
        filter_bandwidth_nm: passband of the quantum receiver's filter, nm, > 0.
        raman_cross_section_per_km_per_nm: effective Raman cross-section,
            1/(km·nm), > 0; default
            :data:`~dqsim.network.raman.DEFAULT_RAMAN_CROSS_SECTION_PER_KM_PER_NM`.
        wavelength_nm: wavelength of the quantum channel, nm, in [400, 2000]; default 1550.
    """

    launch_power_dbm: _real(-60.0, 30.0)
    direction: Literal["co", "counter"]
    filter_bandwidth_nm: _real(0.0, low_open=True)
    raman_cross_section_per_km_per_nm: _real(0.0, low_open=True) = DEFAULT_RAMAN_CROSS_SECTION_PER_KM_PER_NM
    wavelength_nm: _real(400.0, 2000.0) = DEFAULT_WAVELENGTH_NM


class EveSection(_Section):
    """``[qkd.eve]``: an eavesdropper on the fibre (absent: none).

    Attributes:
        attack: ``"none"``, ``"intercept_resend"`` (measure and resend) or
            ``"beam_splitting"`` (keep the photons of multi-photon pulses).
            Required.
        fraction: fraction of the pulses (pairs) attacked, in [0, 1]; default 1.
        basis: ``"intercept_resend"`` only: Eve's measurement basis,
            ``"random"``, ``"Z"`` or ``"X"``; default ``"random"``.
        distance_km: where Eve taps the fibre, km from Alice, from 0 to the
            shortest link (or sweep) distance; default 0. In a network she
            taps every link at this distance from its first node.
    """

    attack: Literal["none", "intercept_resend", "beam_splitting"]
    fraction: _real(0.0, 1.0) = 1.0
    basis: Literal["random", "Z", "X"] = "random"
    distance_km: _real(0.0) = 0.0

    @model_validator(mode="after")
    def _check_basis(self) -> "EveSection":
        if "basis" in self.model_fields_set and self.attack == "beam_splitting":
            raise _job_error(f'only used with attack = "intercept_resend" (here attack = '
                             f'{_toml_repr(self.attack)})', key=("basis",), value=self.basis,
                             has_value=True)
        return self


class SweepSection(_Section):
    """``[qkd.sweep]``: run the link once per distance.

    Attributes:
        distances_km: fibre lengths, km, each >= 0; 1..200 entries, in the
            order they are run. They override ``[qkd.link].distance_km``.
    """

    distances_km: list[_real(0.0)]

    @field_validator("distances_km")
    @classmethod
    def _check_count(cls, distances_km: list[float]) -> list[float]:
        if not 1 <= len(distances_km) <= MAX_SWEEP_POINTS:
            raise _job_error(f"must list 1..{MAX_SWEEP_POINTS} distances, got {len(distances_km)}",
                             value=distances_km, has_value=True)
        return distances_km


class QkdNetworkSection(_Section):
    """``[qkd.network]``: several links whose keys trusted nodes relay (XOR).

    Attributes:
        topology: ``"chain"`` (nodes 0, 1, ... in a line: links (i, i+1)) or
            ``"star"`` (node 0 the hub: links (0, i)).
        num_nodes: nodes, 2..64.
        distances_km: length of each link in :meth:`links` order, km, each
            >= 0, ``num_nodes - 1`` entries; default: every link
            ``[qkd.link].distance_km``.
    """

    topology: Literal["chain", "star"]
    num_nodes: _integer(2, MAX_QKD_NODES)
    distances_km: Optional[list[_real(0.0)]] = None

    @model_validator(mode="after")
    def _check_distances(self) -> "QkdNetworkSection":
        num_links = self.num_nodes - 1
        if self.distances_km is not None and len(self.distances_km) != num_links:
            raise _job_error(f"lists {len(self.distances_km)} distances but a {self.topology} of "
                             f"{self.num_nodes} nodes has {num_links} link{'s' if num_links != 1 else ''}",
                             key=("distances_km",), value=self.distances_km, has_value=True)
        return self

    def links(self) -> list[tuple[int, int]]:
        """The links as node pairs ``(a, b)``: chain ``(i, i+1)``, star ``(0, i)``.

        Examples:
            >>> QkdNetworkSection(topology="star", num_nodes=3).links()
            [(0, 1), (0, 2)]
        """
        if self.topology == "chain":
            return [(index, index + 1) for index in range(self.num_nodes - 1)]
        return [(0, index) for index in range(1, self.num_nodes)]


class QkdSection(_Section):
    """``[qkd]``: the protocol, how many pulses, post-processing, and its tables.

    Attributes:
        protocol: ``"bb84_decoy"`` (BB84 with weak coherent pulses and decoy
            states), ``"bbm92"`` or ``"e91"`` (entangled pairs); default ``"bb84_decoy"``.
        pulses: pulses (pairs for bbm92/e91) per link, 1..10**13; default 10_000_000.
        batch_pulses: pulses per batch message, 1..10**8, <= ``pulses``;
            default ``min(1_000_000, pulses)``.
        block_pulses: pulses per key block (the post-processing unit; the last
            block may be shorter), ``batch_pulses..pulses``; default ``pulses``.
        f_ec: error-correction inefficiency, in [1, 2]; default 1.16.
        qber_threshold: abort when the estimated QBER is above it, in [0, 0.5]; default 0.11.
        sample_fraction: fraction of the sifted bits revealed for parameter
            estimation, in (0, 0.5]; default 0.1.
        sampling: how BB84 pulses are simulated: ``"detections"`` (draw only
            the pulses Bob records, at the cost of the detections;
            :mod:`dqsim.protocols.qkd.detections`) or ``"pulses"`` (every
            pulse, the reference; results also independent of ``batch_pulses``);
            default ``"detections"``.
        security: the key length of a block: ``"asymptotic"`` (GLLP with
            decoy bounds) or ``"finite_key"`` (Lim et al., PRA 89, 022307
            (2014): bb84_decoy with three intensities μ1 > μ2 + μ3, μ2 > μ3 >= 0;
            the block is ``block_pulses``); default ``"asymptotic"``.
        eps_sec: secrecy parameter of the finite-key analysis, in (0, 1); default 1e-10.
        eps_cor: correctness parameter of the finite-key analysis, in (0, 1); default 1e-15.
        error_correction: ``"model"`` (leakage f_EC·h(E) per key bit, one
            message each way) or ``"cascade"`` (bb84_decoy: the sifted key bits are
            kept; ``sample_fraction`` of them is disclosed to estimate the QBER,
            the rest corrected by Cascade, verified by a hash of
            ⌈log2(1/eps_cor)⌉ bits and shortened by Toeplitz hashing;
            :mod:`dqsim.protocols.qkd.reconciliation`); default ``"model"``.
        classical_bit_rate_hz: bit rate of the classical channel, which sets
            the transmission time of the post-processing messages, bit/s; default 1e9.
        source: ``[qkd.source]`` (defaults when absent).
        link: ``[qkd.link]`` (defaults when absent, but see its ``distance_km``).
        classical_channels: the ``[[qkd.classical_channels]]`` entries (default none).
        eve: ``[qkd.eve]``, or None (no eavesdropper).
        sweep: ``[qkd.sweep]``, or None (one run at the link distance).
        network: ``[qkd.network]``, or None (one link between nodes 0 and 1).
            Not together with ``sweep``.
    """

    protocol: Literal["bb84_decoy", "bbm92", "e91"] = "bb84_decoy"
    pulses: _integer(1, MAX_QKD_PULSES) = DEFAULT_QKD_PULSES
    batch_pulses: _integer(1, MAX_QKD_BATCH_PULSES) = DEFAULT_QKD_BATCH_PULSES
    block_pulses: _integer(1, MAX_QKD_PULSES) = DEFAULT_QKD_PULSES
    f_ec: _real(1.0, 2.0) = 1.16
    qber_threshold: _real(0.0, 0.5) = 0.11
    sample_fraction: _real(0.0, 0.5, low_open=True) = 0.1
    sampling: Literal["detections", "pulses"] = "detections"
    security: Literal["asymptotic", "finite_key"] = "asymptotic"
    eps_sec: _real(0.0, 1.0, low_open=True, high_open=True) = 1e-10
    eps_cor: _real(0.0, 1.0, low_open=True, high_open=True) = 1e-15
    error_correction: Literal["model", "cascade"] = "model"
    classical_bit_rate_hz: _real(0.0, 1e15, low_open=True) = 1e9
    source: QkdSourceSection = Field(default_factory=QkdSourceSection)
    link: QkdLinkSection = Field(default_factory=QkdLinkSection)
    classical_channels: list[ClassicalChannelSection] = Field(default_factory=list)
    eve: Optional[EveSection] = None
    sweep: Optional[SweepSection] = None
    network: Optional[QkdNetworkSection] = None

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        """Defaults that depend on other keys: batch and block sizes, the protocol's source keys."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        pulses = data.get("pulses", DEFAULT_QKD_PULSES)
        if isinstance(pulses, int) and not isinstance(pulses, bool) and 1 <= pulses <= MAX_QKD_PULSES:
            data.setdefault("batch_pulses", min(DEFAULT_QKD_BATCH_PULSES, pulses))
            data.setdefault("block_pulses", pulses)
        protocol = data.get("protocol", "bb84_decoy")
        source = data.get("source", {})
        if isinstance(source, dict):
            source = dict(source)
            if protocol == "bb84_decoy":
                if "intensities" not in source and "probabilities" not in source:
                    source["intensities"] = list(DEFAULT_DECOY_INTENSITIES)
                    source["probabilities"] = list(DEFAULT_DECOY_PROBABILITIES)
            elif protocol in _ENTANGLED_PROTOCOLS:
                source.setdefault("werner", DEFAULT_WERNER)
                source.setdefault("position", DEFAULT_SOURCE_POSITION)
            data["source"] = source
        return data

    @model_validator(mode="after")
    def _check_qkd(self) -> "QkdSection":
        if self.batch_pulses > self.pulses:
            raise _job_error(f"must be <= pulses = {self.pulses}", key=("batch_pulses",),
                             value=self.batch_pulses, has_value=True)
        if self.block_pulses < self.batch_pulses:
            raise _job_error(f"must be >= batch_pulses = {self.batch_pulses} (a block holds whole batches)",
                             key=("block_pulses",), value=self.block_pulses, has_value=True)
        if self.block_pulses > self.pulses:
            raise _job_error(f"must be <= pulses = {self.pulses}", key=("block_pulses",),
                             value=self.block_pulses, has_value=True)
        if self.security == "finite_key":
            mu = self.source.intensities or []
            if self.protocol != "bb84_decoy" or len(mu) != 3 or not (mu[0] > mu[1] + mu[2] and mu[1] > mu[2] >= 0):
                raise _job_error("needs protocol = \"bb84_decoy\" with three [qkd.source].intensities "
                                 f"μ1 > μ2 + μ3, μ2 > μ3 >= 0 (Lim et al. 2014), got {list(mu)}",
                                 key=("security",), value=self.security, has_value=True)
        if self.error_correction == "cascade" and self.protocol != "bb84_decoy":
            raise _job_error("only with protocol = \"bb84_decoy\"", key=("error_correction",),
                             value=self.error_correction, has_value=True)
        given = self.source.model_fields_set
        for key, protocols in _SOURCE_KEY_PROTOCOLS.items():
            if self.protocol not in protocols and key in given:
                raise _job_error(f"only used with protocol = {_protocol_list(protocols)} "
                                 f"(here protocol = {_toml_repr(self.protocol)})",
                                 key=("source", key), value=getattr(self.source, key), has_value=True)
        if self.protocol == "bb84_decoy":
            for key, other in (("probabilities", "intensities"), ("intensities", "probabilities")):
                if getattr(self.source, key) is None:
                    raise _job_error(f"required when {other} is given: give both or neither "
                                     "(one probability per intensity)", key=("source", key), missing=True)
        if self.sweep is not None and self.network is not None:
            raise _job_error("a sweep is not supported together with [qkd.network] "
                             "(sweep a single link, or run the network at its own distances)",
                             key=("sweep", "distances_km"), value=self.sweep.distances_km, has_value=True)
        network_distances = self.network is not None and self.network.distances_km is not None
        if self.link.distance_km is None and self.sweep is None and not network_distances:
            raise _job_error("required unless [qkd.sweep] or [qkd.network].distances_km gives the distances",
                             key=("link", "distance_km"), missing=True)
        if self.eve is not None:
            shortest = min(self.distances_km())
            if self.eve.distance_km > shortest:
                where = ("the shortest of [qkd.sweep].distances_km" if self.sweep is not None
                         else "the shortest link of [qkd.network]" if self.network is not None
                         else "[qkd.link].distance_km")
                raise _job_error(f"must be in [0, {_format_number(shortest)}] (Eve taps the fibre; "
                                 f"{where} is {_toml_repr(shortest)})", key=("eve", "distance_km"),
                                 value=self.eve.distance_km, has_value=True)
        return self

    def network_links(self, distance_km: float | None = None) -> list[tuple[int, int, float]]:
        """Every link as ``(a, b, distance_km)``: ``[(0, 1, d)]`` without ``[qkd.network]``.

        Args:
            distance_km: length, km, of links without a length of their own
                (e.g. one point of a sweep); default ``[qkd.link].distance_km``.

        Returns:
            One tuple per link, in :meth:`QkdNetworkSection.links` order.

        Raises:
            ConfigError: a link has no length (a sweep without
                ``[qkd.link].distance_km`` and no ``distance_km`` given).
        """
        if self.network is not None and self.network.distances_km is not None:
            return [(a, b, d) for (a, b), d in zip(self.network.links(), self.network.distances_km)]
        length = self.link.distance_km if distance_km is None else float(distance_km)
        if length is None:
            raise ConfigError("QkdSection.network_links: the link has no length: [qkd.link].distance_km "
                              "is not set (the job sweeps [qkd.sweep].distances_km); pass distance_km")
        pairs = self.network.links() if self.network is not None else [(0, 1)]
        return [(a, b, length) for a, b in pairs]

    def distances_km(self) -> list[float]:
        """Fibre lengths to run, km: the sweep's distances, else each link's (one link: ``[d]``)."""
        if self.sweep is not None:
            return list(self.sweep.distances_km)
        return [d for _, _, d in self.network_links()]


class QkdJob(JobConfig):
    """Scenario ``"qkd"``: quantum key distribution over fibre links.

    One link from Alice (node 0) to Bob (node 1), optionally swept over
    distances (``[qkd.sweep]``) or replaced by a chain or star of links whose
    keys trusted nodes relay (``[qkd.network]``).

    Attributes:
        qkd: the ``[qkd]`` section with its tables.

    Examples:
        >>> job = load_job_text('''
        ... [run]
        ... name = "bb84"
        ... scenario = "qkd"
        ... [qkd]
        ... pulses = 1000
        ... [qkd.link]
        ... distance_km = 50
        ... ''')
        >>> job.qkd.protocol, job.qkd.batch_pulses, job.qkd.source.intensities, job.distances_km()
        ('bb84_decoy', 1000, [0.5, 0.1, 0.0], [50.0])
        >>> apply_overrides(job, ["qkd.source.werner=0.9"])
        Traceback (most recent call last):
        ...
        dqsim.errors.ConfigError: <string> (with --set qkd.source.werner=0.9): [qkd.source].werner = 0.9: only used with protocol = "bbm92" or "e91" (here protocol = "bb84_decoy")
    """

    scenario: ClassVar[str] = "qkd"

    qkd: QkdSection

    def distances_km(self) -> list[float]:
        """Fibre lengths to run, km (:meth:`QkdSection.distances_km`)."""
        return self.qkd.distances_km()

    def network_links(self, distance_km: float | None = None) -> list[tuple[int, int, float]]:
        """Every link as ``(a, b, distance_km)`` (:meth:`QkdSection.network_links`)."""
        return self.qkd.network_links(distance_km)


#: Scenario name (``[run].scenario``) -> the model of its job file.
SCENARIOS: dict[str, type[JobConfig]] = {"circuit": CircuitJob, "dqc": DqcJob, "qkd": QkdJob}


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


#: Arrays of tables inside a section, written as ``[[section.table]]`` headers.
_ARRAY_TABLES = {("qkd", "classical_channels"), ("user_jobs",)}

#: Tables inside a section, written as their own ``[section.table]`` header.
_NESTED_TABLES = {("network", "link"), ("network", "node"), ("chain", "link"), ("chain", "node"),
                  ("qkd", "source"), ("qkd", "link"), ("qkd", "eve"), ("qkd", "sweep"),
                  ("qkd", "network")} | _ARRAY_TABLES


def _format_key(loc: Sequence[str | int]) -> str:
    """``("circuit", "num_qubits")`` -> ``[circuit].num_qubits``; list indices as ``[i]``.

    Keys of a nested table name its header: ``("network", "link", "distance_km")``
    -> ``[network.link].distance_km``; entries of an array of tables are
    numbered from 0: ``("qkd", "classical_channels", 0, "direction")`` ->
    ``[[qkd.classical_channels]][0].direction``.
    """
    if not loc:
        return "the job file"
    head = 1
    while head + 1 < len(loc) and tuple(loc[:head + 1]) in _NESTED_TABLES:
        head += 1
    text = "[" + ".".join(str(part) for part in loc[:head]) + "]"
    if tuple(loc[:head]) in _ARRAY_TABLES:
        text = f"[{text}]"
    for part in loc[head:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _unknown_key(loc: Sequence[str | int], allowed: Sequence[str], hint: str = "") -> str:
    """``unknown key [section].key; allowed keys: ...`` with a close match suggested."""
    close = difflib.get_close_matches(str(loc[-1]), list(allowed), n=1)
    did_you_mean = f"; did you mean {close[0]}?" if close else ""
    hint = f" ({hint})" if hint else ""
    return f"unknown key {_format_key(loc)}{hint}; allowed keys: {', '.join(allowed)}{did_you_mean}"


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
        if ctx.get("allowed_keys") is not None:
            return _unknown_key(full, ctx["allowed_keys"], ctx["message"])
        where = _format_key(full)
        if ctx.get("has_value"):
            where += f" = {_toml_repr(ctx['value'])}"
        return f"{where}{' ' if ctx.get('run_on') else ': '}{ctx['message']}"
    if kind == "missing":
        if len(loc) == 1:
            return f"missing section [{loc[0]}]"
        return f"missing key {_format_key(loc)}"
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        allowed = list(model.model_fields) if model is not None else []
        if len(loc) == 1:
            hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            did_you_mean = f"; did you mean {hint[0]}?" if hint else ""
            return (f"unknown section [{loc[0]}]; allowed sections: {', '.join(allowed)}"
                    f"{did_you_mean}")
        return _unknown_key(loc, allowed)
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
    if not isinstance(scenario, str) or scenario not in SCENARIOS:  # a list or table is not hashable
        if not isinstance(scenario, str):
            raise ConfigError(f"{source}: [run].scenario: expected a string, got {_toml_repr(scenario)}")
        raise ConfigError(f"{source}: [run].scenario = {_toml_repr(scenario)}: "
                          f"must be one of {_one_of(SCENARIOS)}")
    model = SCENARIOS[scenario]
    try:
        return model.model_validate(data, context={"base_dir": str(base_dir)})
    except ValidationError as exc:
        raise _config_error(source, model, exc) from None


#: Deepest nesting of tables and arrays a job file may have (real jobs use 3 or 4).
MAX_NESTING = 16


def _parse_toml(text: str, source: str) -> dict:
    """Parse a job's TOML; a leading UTF-8 byte-order mark is accepted (editors on Windows write one)."""
    text = text.removeprefix("\ufeff")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: TOML syntax error: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: arrays or tables nested too deeply (at most {MAX_NESTING} levels)") from None
    _check_nesting(data, source)
    return data


def _check_nesting(data: dict, source: str) -> None:
    """Refuse values nested deeper than :data:`MAX_NESTING` (walked without recursion)."""
    pending = [(data, 1, "")]
    while pending:
        value, depth, where = pending.pop()
        if depth > MAX_NESTING:
            raise ConfigError(f"{source}: {where or 'the file'} is nested {depth} levels deep; "
                              f"allowed at most {MAX_NESTING}")
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            if isinstance(item, (dict, list)):
                pending.append((item, depth + 1, (f"{where}.{key}" if where else key) if isinstance(key, str)
                                else f"{where}[{key}]"))


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
    except RecursionError:
        raise ConfigError(f"--set {assignment}: nested too deeply (at most {MAX_NESTING} levels)") from None
    _check_nesting({"value": value}, f"--set {assignment}")
    return parts, value


def override_value(assignment: str) -> tuple[str, Any]:
    """The key and value of one ``--set SECTION.KEY=VALUE`` assignment, as :func:`apply_overrides` reads it.

    Returns:
        ``("section.key", value)``; value None for an empty value (the key goes back to its default).

    Raises:
        ConfigError: a malformed assignment.

    Examples:
        >>> override_value("qkd.sweep.distances_km=[25]"), override_value("run.name=big")
        (('qkd.sweep.distances_km', [25]), ('run.name', 'big'))
    """
    parts, value = _parse_override(assignment)
    return ".".join(parts), None if value is _REMOVE else value


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
