"""Job files of the ``"circuit"`` scenario: ``[circuit]``, ``[simulation]``, ``[noise]``.

``[circuit]`` (a generated circuit or an OpenQASM file) and ``[simulation]``
are also the sections of the ``"dqc"`` scenario (:mod:`dqsim.jobs.dqc`); the
scenario itself is :mod:`dqsim.scenarios.circuit_run`. Observables are Pauli
sums (:mod:`dqsim.circuit.pauli`).

Examples:
    >>> from dqsim.jobs import apply_overrides, load_job_text
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

from typing import Any, ClassVar, Iterable, Literal, Optional

from pydantic import Field, ValidationInfo, field_validator, model_validator

from dqsim.circuit.pauli import PauliSyntaxError, PauliTerm, parse_pauli_sum, parse_pauli_terms, qubit_range_problem
from dqsim.errors import ConfigError, toml_repr
from dqsim.jobs.base import MAX_SEED, JobConfig, RunSection
from dqsim.jobs.errors import job_error
from dqsim.jobs.schema import Section, input_file_path
from dqsim.state import gates as gate_table

__all__ = ["CircuitJob", "CircuitSection", "SimulationSection", "NoiseSection", "MAX_GENERATOR_QUBITS",
           "check_observables", "check_observable_qubits", "with_default_circuit_seed"]

#: Most qubits a generated circuit may have.
MAX_GENERATOR_QUBITS = 40

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
        where = f"[simulation].observables[{index}] = {toml_repr(text)}"
        try:
            problem = qubit_range_problem(text, num_qubits)
        except PauliSyntaxError as exc:
            raise ConfigError(f"{prefix}{where}: {exc}") from None
        if problem:
            raise ConfigError(f"{prefix}{where}: {problem}")


class CircuitSection(Section):
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
    circuit_seed: Optional[int] = Field(None, ge=0, le=MAX_SEED)
    qasm: Optional[str] = None
    measure: bool = True

    @field_validator("qasm")
    @classmethod
    def _resolve_qasm(cls, qasm: str, info: ValidationInfo) -> str:
        return input_file_path(qasm, info)

    @model_validator(mode="after")
    def _check_source(self) -> "CircuitSection":
        given = self.model_fields_set
        if self.generator is not None and self.qasm is not None:
            raise job_error("give exactly one of generator or qasm, not both", key=("qasm",),
                            value=self.qasm, has_value=True)
        if self.generator is None and self.qasm is None:
            raise job_error("missing key generator or qasm (give exactly one)")
        if self.generator is not None:
            if self.num_qubits is None:
                raise job_error(f"required with generator = {toml_repr(self.generator)}",
                                key=("num_qubits",), missing=True)
            if self.generator != "random":
                for key in ("depth", "circuit_seed"):
                    if key in given:
                        raise job_error(f"only used with generator = \"random\" "
                                        f"(here generator = {toml_repr(self.generator)})",
                                        key=(key,), value=getattr(self, key), has_value=True)
        else:
            for key in ("num_qubits", "depth", "circuit_seed", "measure"):
                if key in given:
                    raise job_error("only used with generator, not with qasm "
                                    "(the QASM file sets qubits and measurements)",
                                    key=(key,), value=getattr(self, key), has_value=True)
        return self


class SimulationSection(Section):
    """``[simulation]``: what to compute from the circuit and how to move data.

    Attributes:
        shots: measurement samples, 0..10**8 (default 1000).
        save_state: write the final state vector to the output (default false).
        store_shots: store every shot's outcome, not only the counts (default false); the run then
            holds them all (8 bytes a shot), where ``dqc`` otherwise keeps only the counts
            (:mod:`dqsim.scenarios.shots`).
        observables: Pauli sums whose expectation values to report, e.g.
            ``"0.5*X0 X1 - 0.25*Z2"`` (see :func:`dqsim.circuit.pauli.parse_pauli_sum`).
        exchange_chunk_mib: largest MPI message when ranks swap amplitudes,
            1..2047 MiB (default 256; MPI messages must stay below 2 GiB).
        max_gather_qubits: largest state gathered onto one rank, 1..34
            (default 24); larger states are written as per-rank slabs.
        fusion: fuse runs of gates into few-qubit blocks before applying
            them (default true; see :mod:`dqsim.circuit.fusion`). Used by
            the ``circuit`` scenario, and by ``dqc`` (and those built on it)
            for the register operations between two reads of the register.
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
                parse_pauli_terms(text)
            except PauliSyntaxError as exc:
                raise job_error(str(exc), key=(index,), value=text, has_value=True) from None
        return observables

    def parsed_observables(self) -> list[list[PauliTerm]]:
        """Each observable parsed by :func:`parse_pauli_sum`, in order."""
        return [parse_pauli_sum(text) for text in self.observables]


class NoiseSection(Section):
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
                raise job_error(f"is not a gate name; allowed: {', '.join(sorted(gate_table.GATES))}",
                                key=(name,), value=p, has_value=True)
            if not 0.0 <= p <= 1.0:
                raise job_error("must be in [0, 1]", key=(name,), value=p, has_value=True)
            out[key] = float(p)
        return out

    @property
    def active(self) -> bool:
        """Whether any noise is set."""
        return bool(self.depolarizing_1q or self.depolarizing_2q or self.amplitude_damping
                    or self.readout_error or any(self.gates.values()))


def with_default_circuit_seed(data: Any) -> Any:
    """Raw job table (before validation), ``[circuit].circuit_seed`` of a random circuit defaulted to ``[run].seed``."""
    if not isinstance(data, dict):
        return data
    run, circuit = data.get("run"), data.get("circuit")
    if (isinstance(run, dict) and isinstance(circuit, dict)
            and circuit.get("generator") == "random" and "circuit_seed" not in circuit):
        seed = run.get("seed", RunSection.model_fields["seed"].default)
        data = {**data, "circuit": {**circuit, "circuit_seed": seed}}
    return data


def check_observable_qubits(circuit: CircuitSection, simulation: SimulationSection) -> None:
    """Observables act only on the generated circuit's qubits (QASM: checked at run time)."""
    if circuit.num_qubits is not None:
        for index, text in enumerate(simulation.observables):
            problem = qubit_range_problem(text, circuit.num_qubits)
            if problem:
                raise job_error(problem, key=("simulation", "observables", index),
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
        return with_default_circuit_seed(data)

    @model_validator(mode="after")
    def _check_observables_fit(self) -> "CircuitJob":
        check_observable_qubits(self.circuit, self.simulation)
        return self

    @model_validator(mode="after")
    def _check_no_simulated_time_period(self) -> "CircuitJob":
        """The circuit scenario has no simulated time: its checkpoints come on wall time (and signals) only."""
        value = self.checkpoint.every_sim_s
        if value is not None:
            raise job_error("the circuit scenario has no simulated time, so it checkpoints on wall time only; "
                            "use every_wall_s", key=("checkpoint", "every_sim_s"), value=value, has_value=True)
        return self
