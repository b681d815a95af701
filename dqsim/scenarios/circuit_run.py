"""The ``circuit`` scenario: run one circuit on the sharded state and report.

A circuit whose measurements are all terminal is run once; its shots are
sampled from the final state without collapse (one stream event, identical
on any rank count). A circuit with mid-circuit measurements, resets or
``if`` on measured bits (dynamic circuits) is run once per shot as a quantum
trajectory, each ``if`` deciding on that shot's bits. A job with a ``[noise]``
section runs one trajectory per shot too, with the errors of
:mod:`dqsim.scenarios.circuit_noise` after each gate and at readout. With
trajectories an observable's value is its mean over the trajectories (the
expectation in the averaged, mixed state), each read before that
trajectory's terminal measurements; the saved state is the first
trajectory's.

With a checkpoint session (``dqsim run``/``dqsim resume``) the run writes
checkpoints at gate boundaries (also inside a trajectory) and between trajectories, on
``[checkpoint].every_wall_s`` and on SIGUSR1/SIGTERM/Ctrl-C, and a resumed
run goes on from one (:mod:`dqsim.scenarios.circuit_checkpoint`).

Counts are keyed by the classical register as a bit string, classical bit 0
rightmost (as in qiskit). A circuit without measurements is sampled on all
qubits, qubit 0 rightmost.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from dqsim.circuit import fusion, generators, qasm_file
from dqsim.circuit.ir import Barrier, Circuit, Gate, IfBits, Measure, Reset
from dqsim.engine import checkpoint
from dqsim.errors import ConfigError, ResourceError, count_of
from dqsim.scenarios.circuit_checkpoint import CircuitCuts, StatePair, ops_per_check, resumed_pass
from dqsim.scenarios.circuit_noise import GateNoise
from dqsim.scenarios.circuit_trajectory import TrajectoryWalk, fused_run
from dqsim.circuit.pauli import parse_pauli_sum
from dqsim.jobs.circuit import check_observables
from dqsim.rng import Stream
from dqsim.scenarios.output import ScenarioOutput, circuit_attributes, record_table, standard_error
from dqsim.scenarios.shots import OutcomeHistogram, chunk_shots_for, count_chunks, terminal_chunks
from dqsim.state.layout import needs_locality
from dqsim.state.sharded import ShardedState
from dqsim.units import BYTES_PER_MIB


@dataclass
class CircuitRun:
    """What a circuit run produced (identical on every rank unless noted).

    Attributes:
        circuit: the circuit that ran.
        state: the final state (of the first trajectory), still sharded;
            ``None`` for trajectories of a job that does not save its state
            (``[simulation].save_state = false``): the run keeps one register.
        counts: bit string → number of shots.
        shots: outcome of every shot (classical bit i = bit i), int64; ``None`` for final-state
            sampling without ``[simulation].store_shots`` (the shots are counted a chunk at a time,
            :func:`~dqsim.scenarios.shots.count_chunks`).
        expectation: ``(name, observable text, value)`` per observable (with
            trajectories: the mean over them).
        timing_s: wall seconds per stage.
        sampling: ``"final-state"`` or ``"trajectories"``.
        expectation_stderr: with trajectories, the standard error of each
            observable's mean over them (NaN for one); ``None`` for final-state
            sampling (exact values).
        num_exchanges: exchanges of the (first trajectory's) register.
        bytes_exchanged: bytes this rank sent in them.
    """

    circuit: Circuit
    state: ShardedState | None
    counts: dict[str, int]
    shots: np.ndarray | None
    expectation: list[tuple[str, str, float]]
    timing_s: dict[str, float] = field(default_factory=dict)
    sampling: str = "final-state"
    expectation_stderr: list[float] | None = None
    num_exchanges: int = 0
    bytes_exchanged: int = 0


#: Most classical bits a circuit may record: a shot is one int64, bit ``c`` = classical bit ``c``.
MAX_CLBITS = 63


def clbits_refusal(circuit: Circuit) -> str | None:
    """Why the shots of ``circuit`` cannot be recorded (more than :data:`MAX_CLBITS` classical bits), or ``None``.

    Examples:
        >>> clbits_refusal(Circuit(1, 63)) is None, clbits_refusal(Circuit(1, 64)).split(",")[0]
        (True, 'the circuit has 64 classical bits')
    """
    if circuit.num_clbits <= MAX_CLBITS:
        return None
    return (f"the circuit has {circuit.num_clbits} classical bits, but a shot is recorded as one 64-bit integer "
            f"(at most {MAX_CLBITS} bits); measure into fewer bits (a later measurement into a bit overwrites it)")


def build_circuit(job) -> Circuit:
    """The circuit a job describes: from its generator or its QASM file.

    Raises:
        ConfigError: the circuit has more than :data:`MAX_CLBITS` classical bits.
    """
    section = job.circuit
    if section.qasm is not None:
        circuit = qasm_file.load_qasm_file(section.qasm)
        refusal = clbits_refusal(circuit)
        if refusal is not None:
            raise ConfigError(f"{section.qasm}: {refusal}")
        return circuit
    maker = generators.GENERATORS[section.generator]
    if section.generator == "random":
        seed = section.circuit_seed if section.circuit_seed is not None else job.run.seed
        return maker(section.num_qubits, section.depth, seed=seed, measure=section.measure)
    return maker(section.num_qubits, measure=section.measure)


def run_circuit_job(job, *, comm, backend, on_progress: Callable | None = None,
                    checkpointing=None) -> CircuitRun:
    """Run a ``circuit`` job (collective).

    Args:
        job: a validated :class:`dqsim.jobs.CircuitJob`.
        comm: communicator from :func:`dqsim.comm.init`.
        backend: from :func:`dqsim.backend.select`.
        on_progress: called as ``on_progress(done, total, what)`` while gates are applied (from 0 done), and
            as ``on_progress(0, None, what)`` when the observables and the sampling start.
        checkpointing: a :class:`dqsim.engine.checkpoint.CheckpointSession` (checkpoints, signals, a resume);
            ``None``: none, and a stop signal ends the run with :class:`~dqsim.engine.checkpoint.RunStopped`.
    """
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    circuit = build_circuit(job)
    sim = job.simulation
    observables = []
    if sim.observables:
        check_observables(sim.observables, circuit.num_qubits, source=job.source)
        observables = [(text, parse_pauli_sum(text)) for text in sim.observables]
    timing["build"] = time.perf_counter() - t0

    def fresh_state() -> ShardedState:
        return ShardedState(circuit.num_qubits, comm, precision=job.run.precision, backend=backend,
                            seed=job.run.seed, exchange_chunk_bytes=sim.exchange_chunk_mib * BYTES_PER_MIB,
                            max_gather_qubits=sim.max_gather_qubits)

    cuts = CircuitCuts(checkpointing, comm) if checkpointing is not None else None
    costs = fusion.costs_for(backend) if sim.fusion else None
    measured = [ins for ins in circuit if isinstance(ins, Measure)]
    section = getattr(job, "noise", None)
    gate_noise = GateNoise(section, job.run.seed) if section is not None and section.active else None
    check_local_qubits(circuit, comm.size, gate_noise)
    if gate_noise is not None and not measured:
        raise ConfigError(f"{job.source}: [noise] needs a circuit that measures (noise is sampled shot by shot); "
                          "add measurements, e.g. [circuit].measure = true")
    if circuit.measurements_are_terminal() and gate_noise is None:
        t0 = time.perf_counter()
        state = fresh_state()
        streams = {(0, "sample"): state.stream("sample")}
        if cuts is not None and cuts.resuming is not None:
            cuts.restore(state, streams, "final-state")
            costs = cuts.stored_costs(costs)
        _apply_with_progress(state, gate_runs(circuit), on_progress, costs, cuts, streams)
        backend.synchronize()
        timing["gates"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if on_progress and observables:  # a stage of its own in the log (seconds on a large register)
            on_progress(0, None, f"observables ({len(observables)})")
        expectation = [(f"obs{i}", text, state.expectation(terms)) for i, (text, terms) in enumerate(observables)]
        timing["observables"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        chunk_shots = chunk_shots_for(state)
        if on_progress and 0 < sim.shots <= chunk_shots:
            on_progress(0, None, f"sampling {sim.shots:,} shots from the final state")
        chunks, width = terminal_chunks(state, circuit, sim.shots, chunk_shots=chunk_shots)
        on_shots = None
        if on_progress and sim.shots > chunk_shots:
            def on_shots(done: int, total: int) -> None:
                on_progress(done, total, "shots drawn from the final state")
        counts, shots = count_chunks(chunks, width, sim.shots, keep_shots=sim.store_shots, on_shots=on_shots)
        timing["sampling"] = time.perf_counter() - t0
        sampling, expectation_stderr = "final-state", None
        exchanges = (state.num_exchanges, state.bytes_exchanged)
    else:
        t0 = time.perf_counter()
        outcomes, per_trajectory, first_state, exchanges = _run_trajectories(
            circuit, fresh_state, max(sim.shots, 1), job.run.seed, section if gate_noise is not None else None,
            [terms for _, terms in observables], costs, cuts, comm, on_progress, keep_first=sim.save_state)
        num_trajectories = len(outcomes)
        columns = np.array(per_trajectory, dtype=float).reshape(num_trajectories, len(observables)).T
        expectation = [(f"obs{i}", text, float(columns[i].mean())) for i, (text, _) in enumerate(observables)]
        expectation_stderr = [standard_error(column) for column in columns]
        shots = np.array(outcomes[: sim.shots], dtype=np.int64)
        counts = count_bitstrings(shots, circuit.num_clbits if measured else circuit.num_qubits)
        state = first_state
        timing["trajectories"] = time.perf_counter() - t0
        sampling = "trajectories"
    return CircuitRun(circuit, state, counts, shots, expectation, timing, sampling, expectation_stderr, *exchanges)


#: The cut position (``TTTT``) of trajectories: trajectory ``k`` starts at ``k`` times this (the cut before it),
#: a cut inside it after ``s`` of its operations is at that plus ``1 + s``.
TRAJECTORY_STEP = 10 ** 12


def _run_trajectories(circuit: Circuit, fresh_state: Callable, num_trajectories: int, seed: int, noise_section,
                      observables: list, costs, cuts: CircuitCuts | None, comm, on_progress: Callable | None, *,
                      keep_first: bool = True
                      ) -> tuple[list[int], list[list[float]], ShardedState | None, tuple[int, int]]:
    """Run the trajectories (collective): every shot's bits and observable values, the first's state and exchanges.

    The first trajectory's final state is the output's (``save_state``); with
    ``keep_first=False`` it is dropped once that trajectory ends, its exchange
    counts (``(num_exchanges, bytes this rank sent)``) kept, so the run
    holds one register at a time. With ``cuts`` a checkpoint may fall before
    a trajectory or at a gate boundary inside one
    (:class:`~dqsim.scenarios.circuit_trajectory.TrajectoryWalk`), and a
    resumed run goes on from there; a cut inside trajectory ``k > 0`` holds
    that trajectory's state, and with ``keep_first`` the first trajectory's
    too, as a :class:`~dqsim.scenarios.circuit_checkpoint.StatePair` (twice
    the size); a cut between trajectories holds the first's state, or none.
    """
    stream, gate_noise, streams = _trajectory_streams(seed, noise_section)
    outcomes: list[int] = []
    per_trajectory: list[list[float]] = []
    first_state, state, first_shot, inside = None, None, 0, None
    first_counts = (0, 0)  # the first trajectory's exchanges, when its state is not kept
    body, terminal = split_terminal_measurements(circuit.instructions)  # once, not per trajectory
    if cuts is not None and cuts.resuming is not None:
        resuming = cuts.resuming
        if resuming.has_state and resuming.num_amplitudes == 2 << circuit.num_qubits:  # two registers
            restored = StatePair(fresh_state(), fresh_state())
        else:
            restored = fresh_state() if resuming.has_state else None
        at = cuts.restore(restored, streams, "trajectories")
        costs = cuts.stored_costs(costs)
        first_shot, outcomes, per_trajectory = at["shot"], list(at["bits"]), list(at["values"])
        inside = at.get("inside")
        if isinstance(restored, StatePair):
            first_state, state = restored.states
        else:
            state, first_state = (restored, None) if inside is not None else (None, restored)
        if first_shot > 0:  # the output's exchanges so far (CircuitCuts.restore put them on its first register)
            exchanged = at["bytes_exchanged"]
            first_counts = (int(at["num_exchanges"]),
                            int(exchanged[comm.rank]) if len(exchanged) == comm.size else 0)
        if not keep_first:  # (a checkpoint of a run that kept it: a job saved without save_state is not this one)
            first_state = None
    for shot in range(first_shot, num_trajectories):
        so_far = {"mode": "trajectories", "shot": shot, "bits": list(outcomes), "values": list(per_trajectory)}
        if inside is None:
            where = f"before trajectory {shot} of {num_trajectories}"
            if cuts is None:
                _stop_if_asked(comm, where)
            else:  # the first trajectory's final state (the output's, if kept) and the results so far
                cuts.boundary(first_state, streams, shot * TRAJECTORY_STEP, so_far, where, costs,
                              output_counts=first_counts if shot > 0 else None)
            state = fresh_state()

        def look(position, step, where, shot=shot, state=state, so_far=so_far):
            where = f"in trajectory {shot} of {num_trajectories}, {where}"
            if cuts is None:
                _stop_if_asked(comm, where)
            else:  # the trajectory's state (after the output's, the first one's), where it is, the results so far
                saved = state if first_state is None else StatePair(first_state, state)
                cuts.boundary(saved, streams, shot * TRAJECTORY_STEP + 1 + step, {**so_far, "inside": position},
                              where, costs, output_counts=first_counts if shot > 0 else None)

        bits, values = _run_trajectory(state, body, terminal, stream, costs, gate_noise, observables,
                                       batch=ops_per_check(state.num_local_qubits), look=look, resume=inside,
                                       num_ranks_then=cuts.resuming.num_ranks if inside is not None else 0)
        inside = None
        outcomes.append(bits)
        per_trajectory.append(values)
        if shot == 0:
            first_counts = (state.num_exchanges, state.bytes_exchanged)
            first_state = state if keep_first else None
        if on_progress:
            on_progress(shot + 1, num_trajectories, "trajectories")
    if first_state is not None:
        first_counts = (first_state.num_exchanges, first_state.bytes_exchanged)
    return outcomes, per_trajectory, first_state, first_counts


def _trajectory_streams(seed: int, noise_section) -> tuple[Stream, GateNoise | None, dict]:
    """Fresh random streams of trajectories (counters at 0): measurements, the noise (``None``: no ``[noise]``),
    and both by ``(node, purpose)``."""
    stream = Stream(seed, node=0, purpose="trajectory-measure")
    gate_noise = GateNoise(noise_section, seed) if noise_section is not None else None
    streams = {(0, stream.purpose): stream}
    if gate_noise is not None:
        streams[(0, gate_noise.stream.purpose)] = gate_noise.stream
    return stream, gate_noise, streams


def _run_trajectory(state, body, terminal, stream, costs, gate_noise, observables, *, batch: int, look: Callable,
                    resume: dict | None = None, num_ranks_then: int = 0) -> tuple[int, list[float]]:
    """One shot: its classical bits and the value of each observable (a list of Pauli terms) (collective).

    ``body`` and ``terminal`` are the circuit's instructions as
    :func:`split_terminal_measurements` gives them: the observables are read
    after the body, before the terminal measurements, which run last: as in
    final-state sampling, ``<X0 X1>`` of a Bell pair that is then measured is
    1, not 0. Every ``batch`` operations ``look`` is called at a gate boundary;
    ``resume`` (a position ``look`` was given) goes on from there
    (:class:`~dqsim.scenarios.circuit_trajectory.TrajectoryWalk`).
    """
    walk = TrajectoryWalk(state, stream, costs, gate_noise, batch=batch, look=look, resume=resume,
                          num_ranks_then=num_ranks_then)
    return walk.run(body, terminal, observables)


def check_local_qubits(circuit: Circuit, num_ranks: int, gate_noise: GateNoise | None = None) -> None:
    """Refuse, before any allocation, a rank count that leaves a gate, a reset or a noise error too few
    local qubits (a reset's X and the X/Y errors and decay of ``[noise]`` need one).

    ``dqsim run`` calls it on its rank count, ``dqsim check -n RANKS`` on ``RANKS``.

    Raises:
        ResourceError: ``N qubits on P ranks leave L qubits on each rank, but gate G needs K; use at most M ranks``.
    """
    if num_ranks < 2 or num_ranks & (num_ranks - 1):
        return  # one rank needs nothing; other counts get ShardedState's own error
    num_local = circuit.num_qubits - (num_ranks.bit_length() - 1)
    widest = max(circuit.all_gates(),
                 key=lambda ins: len(needs_locality(ins.to_op())), default=None)
    need = len(needs_locality(widest.to_op())) if widest is not None else 0
    what = f"gate {widest.name}" if widest is not None else ""
    if need < 1 and gate_noise is not None and gate_noise.flips_qubits and widest is not None:
        need, what = 1, "[noise]"
    if need < 1 and _has_reset(circuit.instructions):
        need, what = 1, "reset"
    if need > num_local:
        most = 1 << max(0, circuit.num_qubits - need)
        raise ResourceError(f"{count_of(circuit.num_qubits, 'qubit')} on {num_ranks} ranks leave "
                            f"{count_of(max(num_local, 0), 'qubit')} on each rank, but {what} needs {need}; "
                            f"use at most {count_of(most, 'rank')}")


def _has_reset(instructions) -> bool:
    """Whether a reset occurs in ``instructions``, also inside an ``if``."""
    return any(isinstance(ins, Reset) or (isinstance(ins, IfBits) and _has_reset((*ins.body, *ins.orelse)))
               for ins in instructions)


def gate_runs(circuit: Circuit) -> list[list]:
    """The circuit's gates as operations, cut into runs at every barrier.

    For a circuit whose measurements are terminal (they are left out).
    """
    runs: list[list] = [[]]
    for ins in circuit:
        if isinstance(ins, Gate):
            runs[-1].append(ins.to_op())
        elif isinstance(ins, Barrier) and runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _apply_with_progress(state, runs, on_progress, costs, cuts: CircuitCuts | None = None,
                         streams: dict | None = None) -> None:
    """Apply the runs, reporting progress in gates (of the circuit, fused or not) (collective).

    Every :func:`~dqsim.scenarios.circuit_checkpoint.ops_per_check` operations
    is a gate boundary: with ``cuts`` it may write a checkpoint (the period, a
    signal: then the run stops with it); without, a signal stops the run
    (:func:`_stop_if_asked`). A resumed run (``cuts.position``) starts at
    its checkpoint's boundary.
    """
    total = sum(len(run) for run in runs)
    batch = ops_per_check(state.num_local_qubits)
    at = cuts.position if cuts is not None else {}
    first_run, pass_base = at.get("run", 0), at.get("pass_base", 0)  # a cut's step: pass_base + index in its pass
    done = sum(len(run) for run in runs[:first_run])
    if on_progress:
        on_progress(done, total, "gates")  # the pace is measured from here, not from the setup before
    for index in range(first_run, len(runs)):
        run = runs[index]
        if index == first_run and at:
            ops, origin, info = resumed_pass(state, run, at, costs, cuts.resuming.num_ranks)
        else:  # the whole run fused at once, so blocks and exchanges span the pieces
            info = {"fused_from": list(state.layout.physical_of), "num_local": state.num_local_qubits,
                    "skip": 0, "filtered": False, "op": 0}
            ops = fused_run(state, run, costs)
            origin = range(len(ops))
            info["num_ops"] = len(ops)
        for start in range(info["op"], len(ops), batch):
            where = f"after gate {done + len(run) * origin[start] // max(1, info['num_ops'])} of {total}"
            if cuts is None:
                _stop_if_asked(state.comm, where)
            else:
                step = pass_base + origin[start]
                cuts.boundary(state, streams, step, {**info, "mode": "final-state", "run": index, "op": start,
                                                     "pass_base": pass_base}, where, costs)
            state.apply_ops(ops, start=start, stop=start + batch)
            if on_progress:
                reached = origin[min(len(ops), start + batch) - 1] + 1
                on_progress(done + len(run) * reached // max(1, info["num_ops"]), total, "gates")
        done += len(run)
        pass_base += info["num_ops"]


def _stop_if_asked(comm, where: str) -> None:
    """Collective: raise :class:`~dqsim.engine.checkpoint.RunStopped` on every rank if a signal asked to stop.

    For a run without a checkpoint session (called through the API): it
    stops at a gate boundary with nothing written (``EXIT_STOPPED``).
    """
    if checkpoint.stop_agreed(comm):
        raise checkpoint.RunStopped(f"stopped by a signal {where}; this run has no checkpoint session, "
                                    "so nothing was saved: run the job again")


def split_terminal_measurements(instructions) -> tuple[list, list]:
    """``(body, terminal)``: the instructions without the measurements that can move to the end
    (:func:`deferrable_measurements`), and those measurements in their order."""
    deferred = deferrable_measurements(instructions)
    return ([ins for i, ins in enumerate(instructions) if i not in deferred],
            [instructions[i] for i in sorted(deferred)])


def deferrable_measurements(instructions) -> set[int]:
    """Indices of the top-level measurements that can move to the end of the circuit.

    A measurement can when nothing after it acts on its qubit (gate, reset,
    measurement, also inside an ``if``), reads its bit (an ``if``) or writes
    its bit again: moving it then changes neither the outcomes' distribution
    nor the rest of the circuit.

    Examples:
        >>> from dqsim.circuit.ir import Circuit
        >>> c = Circuit(2, 2).gate("h", 0).measure(0, 0).gate("x", 1).measure(1, 1)
        >>> sorted(deferrable_measurements(c.instructions))
        [1, 3]
    """
    touched_qubits: set[int] = set()
    touched_bits: set[int] = set()
    deferred = set()
    for index in range(len(instructions) - 1, -1, -1):
        ins = instructions[index]
        if isinstance(ins, Measure) and ins.qubit not in touched_qubits and ins.clbit not in touched_bits:
            deferred.add(index)
        _mark_touched(ins, touched_qubits, touched_bits)
    return deferred


def _mark_touched(ins, qubits: set[int], bits: set[int]) -> None:
    """Add the qubits and classical bits ``ins`` acts on, reads or writes."""
    if isinstance(ins, Gate):
        qubits.update(ins.qubits)
    elif isinstance(ins, Reset):
        qubits.add(ins.qubit)
    elif isinstance(ins, Measure):
        qubits.add(ins.qubit)
        bits.add(ins.clbit)
    elif isinstance(ins, IfBits):
        bits.update(ins.clbits)
        for inner in (*ins.body, *ins.orelse):
            _mark_touched(inner, qubits, bits)


def count_bitstrings(outcomes: np.ndarray, width: int) -> dict[str, int]:
    """Histogram of outcomes as bit strings, bit 0 rightmost, most frequent first
    (:class:`~dqsim.scenarios.shots.OutcomeHistogram`).

    Examples:
        >>> count_bitstrings(np.array([3, 1, 3]), 2)
        {'11': 2, '01': 1}
    """
    histogram = OutcomeHistogram()
    histogram.add(outcomes)
    return histogram.counts(width)


def counts_table(counts: dict[str, int]) -> np.ndarray:
    """The ``counts`` output table: (bitstring, count), most frequent first."""
    return record_table(list(counts.items()), [("bitstring", "U"), ("count", "i8")])


def common_tables(run, *, store_shots: bool,
                  expectation_stderr: Sequence[float] | None = None) -> dict[str, np.ndarray]:
    """Tables every circuit-like scenario writes: counts, expectation, gate counts, timing, shots.

    ``expectation_stderr`` (one per observable, a mean's standard error, NaN
    for one trajectory) adds the column ``value_stderr`` to ``expectation``.
    """
    tables = {"counts": counts_table(run.counts)}
    if run.expectation:
        columns = [("name", "U"), ("observable", "U"), ("value", "f8")]
        if expectation_stderr is None:
            tables["expectation"] = record_table(run.expectation, columns)
        else:
            tables["expectation"] = record_table([(*row, err) for row, err in zip(run.expectation, expectation_stderr)],
                                                 columns + [("value_stderr", "f8")])
    gate_counts = run.circuit.count_gates()
    if gate_counts:
        tables["gate_counts"] = record_table(list(gate_counts.items()), [("gate", "U"), ("count", "i8")])
    tables["timing"] = record_table(list(run.timing_s.items()), [("stage", "U"), ("seconds", "f8")])
    if store_shots:
        tables["shots"] = run.shots
    return tables


def summary_lines(run, *, expectation_stderr: Sequence[float] | None = None) -> list[str]:
    """Top counts and expectation values (``± standard error`` where ``expectation_stderr`` gives a finite one),
    for a person."""
    lines = []
    top = list(run.counts.items())[:4]
    if top:
        lines.append("  top counts: " + ", ".join(f"{b}: {c}" for b, c in top))
    errors = expectation_stderr if expectation_stderr is not None else [math.nan] * len(run.expectation)
    for (_name, text, value), err in zip(run.expectation, errors):
        lines.append(f"  <{text}> = {value:.6f}" + (f" ± {err:.6f}" if math.isfinite(err) else ""))
    return lines


def num_engine_runs(job) -> int:
    """Engine runs (checkpoint sessions' run indices) a run of ``job`` takes: one, its gate boundaries and
    trajectories are positions inside it (:mod:`dqsim.scenarios.circuit_checkpoint`)."""
    return 1


#: Gate types a run's summary names one by one; the rest are counted together.
SUMMARY_GATE_TYPES = 8


def gate_counts_words(counts: dict[str, int], shown: int = SUMMARY_GATE_TYPES) -> str:
    """The summary's gate counts: the first ``shown`` types as ``name: count``, then how many more types (and gates)
    there are, so that the words never pass for the whole list.

    Examples:
        >>> gate_counts_words({"h": 1, "cx": 3})
        'h: 1, cx: 3'
        >>> gate_counts_words({"h": 1, "cx": 3, "rz": 2, "x": 5}, shown=2)
        'h: 1, cx: 3, and 2 more types (7 gates)'
    """
    items = list(counts.items())
    words = ", ".join(f"{name}: {count}" for name, count in items[:shown])
    rest = items[shown:]
    if rest:
        words += f", and {count_of(len(rest), 'more type')} ({count_of(sum(c for _, c in rest), 'gate')})"
    return words


def run_job(job, *, comm, backend, on_progress=None, checkpointing=None) -> ScenarioOutput:
    """Run a ``circuit`` job and shape its output (collective); ``checkpointing`` as for :func:`run_circuit_job`."""
    run = run_circuit_job(job, comm=comm, backend=backend, on_progress=on_progress, checkpointing=checkpointing)
    circuit = run.circuit
    exchanged = comm.allgather(run.bytes_exchanged)
    attrs = {
        **circuit_attributes(circuit, job.simulation.shots),
        "sampling": run.sampling,
        "num_exchanges": run.num_exchanges,
        "bytes_exchanged_per_rank": np.array(exchanged, dtype=np.int64),
    }
    gates = gate_counts_words(circuit.count_gates())
    mode = "trajectory" if run.sampling == "trajectories" else run.sampling  # "trajectory sampling"
    summary = [f"  {count_of(circuit.num_qubits, 'qubit')}, {count_of(attrs['num_gates'], 'gate')} ({gates}); "
               f"{mode} sampling, {count_of(job.simulation.shots, 'shot')}",
               *summary_lines(run, expectation_stderr=run.expectation_stderr)]
    return ScenarioOutput(attrs, common_tables(run, store_shots=job.simulation.store_shots,
                                               expectation_stderr=run.expectation_stderr),
                          {}, run.state, summary)
