"""Dynamic circuits: OpenQASM 3 `if` on measured bits, mid-circuit measurement and reset in the
circuit scenario, shot by shot; the same shots on 1, 2 and 4 ranks; the [noise] model. Statistical
checks: within 4 standard errors."""

import math

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit import qasm
from dqsim.circuit.ir import Circuit, Gate, IfBits, Reset
from dqsim.errors import CircuitError, ConfigError, ResourceError
from dqsim.io import open_run
from dqsim.jobs import load_job_text
from dqsim.jobs.circuit import NoiseSection
from dqsim.scenarios.circuit_noise import GateNoise
from dqsim.scenarios.circuit_run import check_local_qubits, run_circuit_job
from mpi_helper import run_dqsim, run_here, run_mpi

HEAD = 'OPENQASM 3.0; include "stdgates.inc"; qubit[2] q; bit[2] c; c = measure q; '
JOB = "jobs/teleport_feedforward.toml"
THETA = 1.1  # the angle of ry in jobs/circuits/teleport_feedforward.qasm


def test_if_forms_become_ifbits_and_write_back():
    circuit = qasm.load_qasm(HEAD + "if (c[1] == 1) { x q[0]; } else { h q[0]; } if (!c[0]) { z q[1]; }")
    first, second = circuit.instructions[2:]
    assert first == IfBits((1,), 1, (Gate("x", (0,)),), (Gate("h", (0,)),))
    assert second == IfBits((0,), 0, (Gate("z", (1,)),), ())
    assert not circuit.measurements_are_terminal() and circuit.has_classical_control()
    assert qasm.load_qasm(qasm.dump_qasm(circuit)).instructions == circuit.instructions
    with pytest.raises(CircuitError, match="OpenQASM 3 only"):
        qasm.dump_qasm(circuit, version=2)
    qasm2 = qasm.load_qasm('OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[1]; measure q[0] -> c[0]; '
                           "if (c==1) x q[1];")
    assert qasm2.instructions[1] == IfBits((0,), 1, (Gate("x", (1,)),), ())
    whole = qasm.load_qasm(HEAD + "if (c == 2) { x q[0]; }")  # pyqasm splits a register into its bits
    assert whole.instructions[2].clbits == (1,) and whole.instructions[2].value == 1


def test_unsupported_control_is_one_line():
    with pytest.raises(CircuitError, match="while-loop with condition depending on quantum measurement"):
        qasm.load_qasm(HEAD + "while (c[0] == 1) { x q[0]; c[0] = measure q[0]; }")


def test_ifbits_checks_bits_and_value():
    circuit = Circuit(1, 2)
    with pytest.raises(CircuitError, match="classical bit 2 is outside 0..1"):
        circuit.append(IfBits((2,), 1, ()))
    with pytest.raises(CircuitError, match="value 4 does not fit 2 bit"):
        circuit.append(IfBits((0, 1), 4, ()))
    with pytest.raises(CircuitError, match="qubit index 3"):
        circuit.append(IfBits((0,), 1, (Gate("x", (3,)),)))


def _shots(num_ranks, tmp_path, shots):
    out = tmp_path / f"teleport-{num_ranks}.h5"
    run_dqsim(num_ranks, ["run", JOB, "-o", str(out), "--quiet", "--set", f"simulation.shots={shots}"],
              timeout_s=240)
    return open_run(out)


def test_teleportation_with_feed_forward_matches_theory(tmp_path):
    run = _shots(1, tmp_path, 400)
    assert run.attrs["sampling"] == "trajectories"
    shots = run.table("shots")
    target = (shots >> 2) & 1
    p = math.sin(THETA / 2) ** 2  # the teleported qubit reads 1 with sin^2(theta/2), whatever c[0], c[1]
    assert abs(target.mean() - p) < 4 * math.sqrt(p * (1 - p) / len(shots))
    for outcome in range(4):  # the Bell measurement: each of 00, 01, 10, 11 with probability 1/4
        assert abs(np.mean((shots & 3) == outcome) - 0.25) < 4 * math.sqrt(0.25 * 0.75 / len(shots))


@pytest.fixture(scope="module")
def one_rank_shots(tmp_path_factory) -> np.ndarray:
    """40 shots on one rank, the reference of the 2- and 4-rank runs."""
    return _shots(1, tmp_path_factory.mktemp("dynamic"), 40).table("shots")


@pytest.fixture(scope="module")
def launches(tmp_path_factory) -> dict:
    """The multi-rank runs of this file, one launch per rank count (tests/mpi_scripts/dqsim_runs.py): on 2 ranks
    the teleportation's 40 shots and the noisy Bell job of :func:`test_noisy_shots_are_the_same_on_two_ranks`; on 4
    the teleportation's 40 shots and the job of :func:`test_repro_gate_inside_an_if_too_wide_for_the_ranks_is_one_line`
    (which must end with status 2). Returns ``{ranks: (folder, completed launch)}``."""
    out = {}
    for ranks in (2, 4):
        folder = tmp_path_factory.mktemp(f"ranks{ranks}")
        lines = ["run", JOB, "-o", str(folder / f"teleport-{ranks}.h5"), "--quiet", "--set", "simulation.shots=40"]
        if ranks == 2:
            lines += ["--then", "run", str(_noisy_job(folder, NOISE, shots=60, qasm_text=BELL)), "-o",
                      str(folder / "noisy-2.h5"), "--quiet"]
        else:
            lines += ["--then", "@status:2", "run", str(_too_wide_job(folder)), "-o", str(folder / "w.h5")]
        out[ranks] = folder, run_mpi(ranks, ["tests/mpi_scripts/dqsim_runs.py", *lines], timeout_s=240)
    return out


@pytest.mark.parametrize("num_ranks", [2, 4])
def test_dynamic_circuit_shots_are_the_same_on_any_number_of_ranks(one_rank_shots, num_ranks, launches):
    one = one_rank_shots
    many = open_run(launches[num_ranks][0] / f"teleport-{num_ranks}.h5")
    assert many.attrs["num_ranks"] == num_ranks
    np.testing.assert_array_equal(many.table("shots"), one)


H3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'
NOISY_QASM = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nx q[0];\nh q[1];\nc = measure q;\n'


def _noisy_job(tmp_path, noise: str, *, shots=400, qasm_text=NOISY_QASM):
    """A job file in ``tmp_path`` running ``qasm_text`` with ``noise`` (the lines of its [noise] section)."""
    (tmp_path / "c.qasm").write_text(qasm_text)
    job = tmp_path / "noisy.toml"
    job.write_text(f'[run]\nname = "noisy"\nseed = 3\n[circuit]\nqasm = "c.qasm"\n'
                   f"[simulation]\nshots = {shots}\nstore_shots = true\n[noise]\n{noise}\n")
    return job


def _noisy_shots(out) -> np.ndarray:
    run = open_run(out)
    assert run.attrs["sampling"] == "trajectories"
    return run.table("shots")


def _noisy(tmp_path, noise: str, *, shots=400, qasm_text=NOISY_QASM) -> np.ndarray:
    """The shots of :func:`_noisy_job` run on one rank (in this process)."""
    job = _noisy_job(tmp_path, noise, shots=shots, qasm_text=qasm_text)
    out = tmp_path / "noisy-1.h5"
    run_here(["run", str(job), "-o", str(out), "--quiet"])
    return _noisy_shots(out)


def _close(fraction: float, p: float, n: int) -> bool:
    """Within 4 standard errors of a binomial fraction."""
    return abs(fraction - p) < 4 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("noise,p_one", [
    ("readout_error = 0.1", 0.9),                                      # the bit flips with 0.1
    ("depolarizing_1q = 0.3\ngates = { h = 0.0 }", 1 - 2 * 0.3 / 3),   # X and Y errors flip it: 2p/3
    ("amplitude_damping = 0.3", 0.7),                                   # |1> decays with gamma
    ("depolarizing_1q = 0.3\ngates = { x = 0.0 }", 1.0),               # no error on x gates
])
def test_noise_model_of_the_circuit_scenario(tmp_path, noise, p_one):
    shots = _noisy(tmp_path, noise)
    fraction = float(np.mean(shots & 1))  # bit 0: after x, 1 without noise
    assert fraction == 1.0 if p_one == 1.0 else _close(fraction, p_one, len(shots)), fraction


NOISE = "depolarizing_1q = 0.2\ndepolarizing_2q = 0.3\namplitude_damping = 0.1\nreadout_error = 0.05"
BELL = NOISY_QASM.replace("x q[0];\nh q[1];", "h q[0];\ncx q[0], q[1];")


def test_noisy_shots_are_the_same_on_two_ranks(tmp_path, launches):
    """The noisy Bell job's 60 trajectories on one rank (in this process) and on two (the 2-rank launch)."""
    one = _noisy(tmp_path, NOISE, shots=60, qasm_text=BELL)
    np.testing.assert_array_equal(_noisy_shots(launches[2][0] / "noisy-2.h5"), one)


def test_noise_needs_measurements(tmp_path):
    (tmp_path / "c.qasm").write_text(NOISY_QASM.replace("c = measure q;\n", ""))
    job = tmp_path / "noisy.toml"
    job.write_text('[run]\nname = "n"\n[circuit]\nqasm = "c.qasm"\n[noise]\nreadout_error = 0.1\n')
    proc = run_here(["run", job, "-o", tmp_path / "n.h5"], check=False)  # one rank: in this process
    assert proc.returncode == 2 and "[noise] needs a circuit that measures" in proc.stderr


def _trajectory_expectations(tmp_path, qasm_text: str, noise: str, observables: list[str], shots: int) -> list[float]:
    (tmp_path / "c.qasm").write_text(qasm_text)
    job = load_job_text(f'[run]\nname = "e"\nseed = 4\n[circuit]\nqasm = "c.qasm"\n[simulation]\nshots = {shots}\n'
                        f"observables = {observables!r}\n[noise]\n{noise}\n", base_dir=tmp_path)
    run = run_circuit_job(job, comm=comm_mod.init(), backend=backend_mod.select("numpy"))
    assert run.sampling == "trajectories"
    return [value for _, _, value in run.expectation]


def test_repro_noisy_observables_are_trajectory_means_before_terminal_measurements(tmp_path):
    """With trajectories an observable is the mean over them (not the first one's value), read before
    the terminal measurements (not on their collapse): depolarizing p after rz on |0> gives
    <Z0> = 1 - 4p/3 (the convention of dqsim/state/noise.py); a noiseless Bell pair keeps <X1 X2> = 1."""
    p, shots = 0.15, 1500
    qasm_text = (H3 + "qubit[3] q;\nbit[3] c;\nrz(0.3) q[0];\nh q[1];\ncx q[1], q[2];\nc = measure q;\n")
    z0, x1x2 = _trajectory_expectations(tmp_path, qasm_text, f"depolarizing_1q = {p}\ngates = {{ h = 0.0 }}",
                                        ["Z0", "X1 X2"], shots)
    flip = 2 * p / 3  # each trajectory's <Z0> is -1 with this probability, else +1
    assert abs(z0 - (1 - 4 * p / 3)) < 4 * 2 * math.sqrt(flip * (1 - flip) / shots), z0
    assert x1x2 == pytest.approx(1.0, abs=1e-12)


def test_trajectory_observables_carry_the_standard_error_of_their_mean(tmp_path):
    """Each trajectory's <Z0> after depolarizing p is +1 or -1, so the mean's standard error is
    sqrt((1 - m^2) / (n - 1)) exactly; the table's value_stderr column and the summary's ± carry it, and
    final-state sampling (exact values) has none."""
    from dqsim.scenarios import circuit_run

    qasm_text = H3 + "qubit[1] q;\nbit[1] c;\nrz(0.3) q[0];\nc = measure q;\n"
    (tmp_path / "c.qasm").write_text(qasm_text)
    shots = 200
    job = load_job_text(f'[run]\nname = "e"\nseed = 4\n[circuit]\nqasm = "c.qasm"\n[simulation]\nshots = {shots}\n'
                        'observables = ["Z0"]\n[noise]\ndepolarizing_1q = 0.15\n', base_dir=tmp_path)
    out = circuit_run.run_job(job, comm=comm_mod.init(), backend=backend_mod.select("numpy"))
    table = out.tables["expectation"]
    mean, err = float(table["value"][0]), float(table["value_stderr"][0])
    assert err == pytest.approx(math.sqrt((1 - mean**2) / (shots - 1)), rel=1e-9) and 0 < err < 0.1
    assert any("±" in line and "Z0" in line for line in out.summary), out.summary
    exact = load_job_text('[run]\nname = "e"\n[circuit]\nqasm = "c.qasm"\n[simulation]\nobservables = ["Z0"]\n',
                          base_dir=tmp_path)
    out = circuit_run.run_job(exact, comm=comm_mod.init(), backend=backend_mod.select("numpy"))
    assert "value_stderr" not in out.tables["expectation"].dtype.names


def test_repro_bit_measured_twice_keeps_the_later_outcome(tmp_path):
    """Final-state sampling: ``c[0] = measure q[0]; c[0] = measure q[1];`` leaves q[1]'s outcome in c[0] (as qiskit)."""
    (tmp_path / "c.qasm").write_text(H3 + "qubit[2] q;\nbit[1] c;\nx q[0];\nc[0] = measure q[0];\nc[0] = measure q[1];\n")
    job = load_job_text('[run]\nname = "m"\n[circuit]\nqasm = "c.qasm"\n[simulation]\nshots = 50\n', base_dir=tmp_path)
    run = run_circuit_job(job, comm=comm_mod.init(), backend=backend_mod.select("numpy"))
    assert run.sampling == "final-state" and run.counts == {"0": 50}


def test_repro_more_than_63_classical_bits_is_one_line(tmp_path):
    """A shot is one int64: 70 classical bits were an OverflowError traceback, now a one-line ConfigError."""
    (tmp_path / "c.qasm").write_text(H3 + "qubit[1] q;\nbit[70] c;\n" + "c[69] = measure q[0];\n")
    job = load_job_text('[run]\nname = "m"\n[circuit]\nqasm = "c.qasm"\n', base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"c\.qasm: the circuit has 70 classical bits, .*\(at most 63 bits\)"):
        run_circuit_job(job, comm=comm_mod.init(), backend=backend_mod.select("numpy"))


def _too_wide_job(folder):
    """A job in ``folder`` whose ``if`` holds an rxx on 2 of 3 qubits: too wide for 4 ranks (1 local qubit)."""
    (folder / "w.qasm").write_text(H3 + "qubit[3] q;\nbit[3] c;\nh q[0];\nc[0] = measure q[0];\n"
                                   "if (c[0]) { rxx(0.1) q[1], q[2]; }\nc = measure q;\n")
    (folder / "w.toml").write_text('[run]\nname = "w"\n[circuit]\nqasm = "w.qasm"\n[simulation]\nshots = 2\n')
    return folder / "w.toml"


def test_repro_gate_inside_an_if_too_wide_for_the_ranks_is_one_line(launches):
    """The rank-count check looked only at top-level gates: an rxx inside an ``if`` on 3 qubits over 4 ranks
    (1 local qubit) stopped with a ValueError traceback from the swap planner. Run last in the 4-rank launch,
    after the teleportation (quiet: nothing else on stderr), which must end with status 2 (dqsim_runs.py's
    ``@status:2``; any other status fails the launch)."""
    folder, proc = launches[4]
    assert "gate rxx needs 2; use at most 2 ranks" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (folder / "w.h5").exists()


def test_repro_reset_and_noise_need_a_local_qubit():
    """2 qubits on 4 ranks leave no local qubit: diagonal gates run, but a reset's X or a [noise] X/Y error
    stopped with a ValueError traceback from the swap planner; now refused before allocating (no MPI needed:
    the check takes the rank count)."""
    diagonal = Circuit(2, 2).gate("z", 0).gate("cz", 0, 1).measure(0, 0).measure(1, 1)
    check_local_qubits(diagonal, 4)  # runs: nothing needs a local qubit
    check_local_qubits(diagonal, 4, GateNoise(NoiseSection(readout_error=0.1), seed=1))
    with pytest.raises(ResourceError, match=r"leave 0 qubits on each rank, but \[noise\] needs 1; use at most 2 ranks"):
        check_local_qubits(diagonal, 4, GateNoise(NoiseSection(depolarizing_1q=0.1), seed=1))
    with_reset = Circuit(2, 2).gate("cz", 0, 1).measure(0, 0)
    with_reset.append(IfBits((0,), 1, (Reset(1),), ()))
    with pytest.raises(ResourceError, match=r"but reset needs 1; use at most 2 ranks"):
        check_local_qubits(with_reset, 4)


def test_the_local_qubit_message_counts_1_in_the_singular():
    """It said "1 qubits on 2 ranks leave 0 qubits on each rank, ...; use at most 1 ranks"."""
    with pytest.raises(ResourceError) as info:
        check_local_qubits(Circuit(1).gate("h", 0), 2)
    assert str(info.value) == "1 qubit on 2 ranks leave 0 qubits on each rank, but gate h needs 1; use at most 1 rank"
