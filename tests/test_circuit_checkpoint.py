"""Checkpoints of the ``circuit`` scenario (gate boundaries, also inside trajectories), end to end.

A random circuit's run is stopped by a signal (a checkpoint, exit 75),
checkpointed at every gate boundary, killed with SIGKILL between
checkpoints, and resumed: the output equals the uninterrupted run's (the
state to the bit, shots, counts and expectation values) on the same rank
count (1 and 2), and within rounding, with identical shots, on another
(2 -> 1). A noisy run (trajectories) resumes between trajectories to the
same shots and values; noisy and dynamic runs cut inside a trajectory (a
stop, the period) resume there, on the same rank count to the bit and on
another with the same shots. A damaged checkpoint is refused in one line; a
periodic checkpoint that cannot be written (its folder replaced by a file)
is a warning and the run goes on.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dqsim.engine import checkpoint
from dqsim.io import hashing, open_run
from dqsim.scenarios import circuit_run
from dqsim.scenarios.circuit_checkpoint import ops_per_check
from dqsim.scenarios.circuit_trajectory import TrajectoryWalk
from dqsim.state.sharded import ShardedState
from mpi_helper import ROOT, child_env, mpiexec_path, run_here, run_mpi
from run_files import checkpoints, same_tables

#: 10 qubits, 600 layers unfused: 4,019 operations, 16 gate boundaries (256 operations each).
CIRCUIT = [ROOT / "jobs" / "random_circuit.toml", "--set", "circuit.num_qubits=10", "--set", "circuit.depth=600",
           "--set", "simulation.fusion=false", "--set", "simulation.save_state=true",
           "--set", "simulation.store_shots=true", "--set", "simulation.observables=[\"Z0 Z9\", \"X4\"]"]
#: The same circuit with fusion: one fused pass (its blocks and planned exchanges) cut by the checkpoints.
FUSED = [*CIRCUIT[:5], "--set", "circuit.depth=1500", *CIRCUIT[7:]]
#: Noisy trajectories: 40 shots of a small circuit, one trajectory each.
NOISY = [ROOT / "jobs" / "random_circuit.toml", "--set", "circuit.num_qubits=5", "--set", "circuit.depth=6",
         "--set", "simulation.shots=40", "--set", "simulation.store_shots=true", "--set", "simulation.save_state=true",
         "--set", "simulation.observables=[\"Z0 Z4\", \"X2\"]", "--set", "noise.depolarizing_1q=0.05",
         "--set", "noise.readout_error=0.02"]
TABLES = ["counts", "shots", "expectation"]


def same_output(a, b, *, exact=True):
    """Two run files have the same shots, counts, expectation values and state (to the bit, or to 1e-12)."""
    a, b = open_run(a), open_run(b)
    same_tables(a, b, TABLES, exact=exact)
    x, y = a.state(), b.state()
    assert np.array_equal(x, y) if exact else np.allclose(x, y, rtol=0, atol=1e-12)
    return a, b


def copy_checkpoint(path, folder):
    """A copy of the checkpoint ``path`` (its run file, slabs and manifest) in ``folder``; returns its run file."""
    folder.mkdir()
    for part in path.parent.glob(path.name[:-len(".h5")] + ".*"):
        shutil.copy(part, folder / part.name)
    return folder / path.name


def ck_args(folder, *extra):
    return ["--set", f"checkpoint.directory=\"{folder}\"", *extra]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The uninterrupted runs on 1 rank: unfused, and noisy trajectories (the fused run on 2 ranks: in the test
    that needs it, in the launch of its resume)."""
    folder = tmp_path_factory.mktemp("circuit_full")
    for name, args in (("plain", CIRCUIT), ("noisy", NOISY)):
        run_here(["run", *args, "-o", folder / f"{name}.h5", "--quiet"])
    return folder


def stop_at_apply(monkeypatch, call: int, sig=signal.SIGTERM):
    """Send ``sig`` to this process while the ``call``-th piece of gates is applied."""
    original = ShardedState.apply_ops
    calls = []

    def apply_and_signal(self, ops, **kwargs):
        calls.append(1)
        if len(calls) == call:
            os.kill(os.getpid(), sig)  # dqsim's handler asks for a checkpoint at the next boundary
        return original(self, ops, **kwargs)

    monkeypatch.setattr(ShardedState, "apply_ops", apply_and_signal)
    return calls


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1, signal.SIGINT])
def test_a_signal_writes_a_checkpoint_exits_75_and_the_resume_is_bit_identical(tmp_path, uninterrupted,
                                                                               monkeypatch, sig):
    assert ops_per_check(10) == 256
    calls = stop_at_apply(monkeypatch, 3, sig)
    out = tmp_path / "stopped.h5"
    proc = run_here(["run", *CIRCUIT, "-o", out, "--quiet", *ck_args(tmp_path / "ck")], check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == checkpoint.EXIT_CHECKPOINTED == 75, proc.stderr
    assert len(lines) == 1 and "dqsim resume" in lines[0] and len(calls) == 3 and not out.exists()
    [stopped] = checkpoints(tmp_path / "ck")
    attrs = open_run(stopped).attrs
    assert stopped.name.endswith(".ckpt000-00000000000000000768.h5")  # after 3 pieces of 256 operations
    assert attrs["scenario"] == "circuit" and attrs["has_state"] and attrs["circuit_cut"].startswith("after gate 768 of ")
    monkeypatch.undo()
    run_here(["resume", stopped, "-o", tmp_path / "resumed.h5"])
    same_output(uninterrupted / "plain.h5", tmp_path / "resumed.h5")


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory):
    """This file's runs on 2 ranks but the resumes of checkpoints a test makes, in one launch
    (tests/mpi_scripts/dqsim_runs.py), in the folder ``root``. First FUSED's run on 2 ranks with a checkpoint at
    every gate boundary (every_wall_s tiny, keep = 2) is killed (SIGKILL) after two or more, its checkpoints copied
    apart (each resume writes beside its own) into ``root/killed/{a,b,c}``; then the launch: the last of them
    resumed (``killed/resumed2.h5``), FUSED run uninterrupted (``killed/fused.h5``), and for NOISY_LONG and a long
    dynamic circuit unfused (``long.qasm``), a run with a checkpoint at every boundary (``NAME_periodic.h5``,
    ``ck_NAME/``) and one without (``NAME_full.h5``). Returns ``(root, the killed run's checkpoint before the
    last)``."""
    launcher = mpiexec_path()
    if launcher is None:
        pytest.skip("no mpiexec beside this Python")
    root = tmp_path_factory.mktemp("circuit_two_ranks")
    killed = root / "killed"
    killed.mkdir()
    cmd = [launcher, "-n", "2", sys.executable, "-m", "dqsim", "run", *map(str, FUSED), "-o",
           str(killed / "killed.h5"), "--quiet",
           *ck_args(killed / "ck", "--set", "checkpoint.every_wall_s=1e-9", "--set", "checkpoint.keep=2")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        while len(checkpoints(killed / "ck")) < 2:
            assert proc.poll() is None, proc.communicate()  # the run must not end before it is killed
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.communicate(timeout=60)
    assert not (killed / "killed.h5").exists()
    *_, before, last = [copy_checkpoint(path, killed / name)  # apart: each resume writes beside its own
                        for path, name in zip(checkpoints(killed / "ck"), ["a", "b", "c"])]
    runs = ["resume", str(last), "-o", str(killed / "resumed2.h5"), "--quiet",
            "--then", "run", *map(str, FUSED), "-o", str(killed / "fused.h5"), "--quiet"]
    long_job = [*dynamic_qasm(root / "long.qasm", 150, seed=6, shots=3), "--set", "simulation.fusion=false"]
    every = ["--set", "checkpoint.every_wall_s=1e-9", "--set", "checkpoint.keep=100"]
    for name, args in (("noisy", NOISY_LONG), ("long", long_job)):
        runs += ["--then", "run", *map(str, args), "-o", str(root / f"{name}_periodic.h5"), "--quiet",
                 *ck_args(root / f"ck_{name}", *every),
                 "--then", "run", *map(str, args), "-o", str(root / f"{name}_full.h5"), "--quiet"]
    run_mpi(2, ["tests/mpi_scripts/dqsim_runs.py", *runs], timeout_s=360)
    return root, before


def test_killed_between_checkpoints_on_two_ranks_then_resumed_on_two_bit_identical_and_on_one(
        tmp_path, two_rank_runs):
    """every_wall_s tiny: a checkpoint at every gate boundary of a fused pass on 2 ranks, keep = 2; SIGKILL
    after two or more. The last complete one resumed on 2 ranks gives the uninterrupted run to the bit (the
    exchange counts too); the one before it, on 1 rank, the same shots and counts and the state within
    rounding (the pass goes on without the exchanges fusion planned for 2 ranks). The kill, the 2-rank resume
    and the uninterrupted run: :func:`two_rank_runs`."""
    root, before = two_rank_runs
    full, resumed = same_output(root / "killed" / "fused.h5", root / "killed" / "resumed2.h5")
    assert full.attrs["num_ranks"] == resumed.attrs["num_ranks"] == 2
    assert full.attrs["num_exchanges"] == resumed.attrs["num_exchanges"] > 0
    assert np.array_equal(full.attrs["bytes_exchanged_per_rank"], resumed.attrs["bytes_exchanged_per_rank"])
    run_here(["resume", before, "-o", tmp_path / "resumed1.h5", "--quiet"])
    same_output(root / "killed" / "fused.h5", tmp_path / "resumed1.h5", exact=False)


def test_noisy_trajectories_resume_between_trajectories(tmp_path, uninterrupted, monkeypatch):
    """A stop during trajectory 7: the trajectory ends, and the checkpoint before trajectory 8 holds the first
    trajectory's state (the output's), the shots and values so far and the random streams' counters."""
    original = circuit_run._run_trajectory
    calls = []

    def trajectory_and_signal(*args, **kwargs):
        calls.append(1)
        if len(calls) == 8:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    monkeypatch.setattr(circuit_run, "_run_trajectory", trajectory_and_signal)
    proc = run_here(["run", *NOISY, "-o", tmp_path / "stopped.h5", "--quiet", *ck_args(tmp_path / "ck")],
                    check=False)
    assert proc.returncode == 75 and len(calls) == 8, proc.stderr
    [stopped] = checkpoints(tmp_path / "ck")
    assert open_run(stopped).attrs["circuit_cut"] == "before trajectory 8 of 40"
    monkeypatch.undo()
    run_here(["resume", stopped, "-o", tmp_path / "resumed.h5"])
    same_output(uninterrupted / "noisy.h5", tmp_path / "resumed.h5")


def test_a_damaged_checkpoint_is_refused_in_one_line(tmp_path, monkeypatch):
    stop_at_apply(monkeypatch, 2)
    assert run_here(["run", *CIRCUIT, "-o", tmp_path / "x.h5", "--quiet", *ck_args(tmp_path / "ck")],
                    check=False).returncode == 75
    monkeypatch.undo()
    [stopped] = checkpoints(tmp_path / "ck")
    slab = stopped.with_name(stopped.name[:-3] + ".slab0000.h5")
    data = bytearray(slab.read_bytes())
    data[len(data) // 2] ^= 0x10  # one bit of an amplitude
    slab.write_bytes(bytes(data))
    proc = run_here(["resume", stopped, "-o", tmp_path / "resumed.h5", "--quiet"], check=False)
    lines = proc.stderr.strip().splitlines()
    named = hashing.display_name(hashing.default_algorithm())  # SHA-256, or XXH3-128 with xxhash installed
    assert proc.returncode == 2 and len(lines) == 1 and named in lines[0] and slab.name in lines[0], lines
    assert not (tmp_path / "resumed.h5").exists()


def test_a_periodic_checkpoint_whose_folder_cannot_be_written_is_a_warning(tmp_path, uninterrupted, monkeypatch):
    """The checkpoint folder is replaced by a file after the second boundary (as a folder lost or made
    unwritable): those writes fail, each a one-line warning, and the run ends with the uninterrupted results;
    restored, the next write succeeds."""
    ck = tmp_path / "ck"
    original = ShardedState.apply_ops
    calls = []

    def apply_and_break_the_folder(self, ops, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.rename(ck, tmp_path / "moved")
            ck.write_bytes(b"")  # a file where the folder was
        elif len(calls) == 5:
            ck.unlink()
            os.rename(tmp_path / "moved", ck)
        return original(self, ops, **kwargs)

    monkeypatch.setattr(ShardedState, "apply_ops", apply_and_break_the_folder)
    proc = run_here(["run", *CIRCUIT, "-o", tmp_path / "out.h5", "--quiet",
                     *ck_args(ck, "--set", "checkpoint.every_wall_s=1e-9", "--set", "checkpoint.keep=1")])
    warnings = proc.stderr.strip().splitlines()
    assert len(warnings) == 3 and all(line.startswith("dqsim: warning: checkpoint ") and "not a folder" in line
                                      and "the run goes on" in line for line in warnings), proc.stderr
    out, _ = same_output(tmp_path / "out.h5", uninterrupted / "plain.h5")
    assert out.attrs["num_failed_checkpoints"] == 3
    assert len(checkpoints(ck)) == 1


def test_a_circuit_with_barriers_resumes_in_its_second_pass(tmp_path, monkeypatch):
    """Barriers cut the schedule into passes (here 120 gates each, fused into 29-48 operations each), each
    fused from the layout it starts on: with pieces of 4 operations, a stop in the second pass resumes there
    to the uninterrupted output; the cut's position counts on across passes (the second pass's from 48)."""
    rng = np.random.default_rng(3)
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', "qreg q[6];", "creg c[6];"]
    for _layer in range(3):
        for _ in range(120):
            a, b = rng.choice(6, 2, replace=False)
            lines.append(f"rx({rng.uniform(0, 3):.6f}) q[{a}];" if rng.random() < 0.5 else f"cx q[{a}],q[{b}];")
        lines.append("barrier q;")
    lines.append("measure q -> c;")
    qasm = tmp_path / "barriers.qasm"
    qasm.write_text("\n".join(lines) + "\n")
    job = [ROOT / "jobs" / "random_qasm.toml", "--set", f"circuit.qasm=\"{qasm}\"", "--set", "simulation.shots=500",
           "--set", "simulation.observables=[\"Z0 Z5\"]", "--set", "simulation.save_state=true"]
    monkeypatch.setattr(circuit_run, "ops_per_check", lambda num_local: 4)
    run_here(["run", *job, "-o", tmp_path / "full.h5", "--quiet"])
    plain_apply, plain_resumed_pass = ShardedState.apply_ops, circuit_run.resumed_pass
    stop_at_apply(monkeypatch, 16)  # the 16th piece applied: one in the second pass
    plain_fused_run, fused_lengths = circuit_run.fused_run, []
    monkeypatch.setattr(circuit_run, "fused_run", lambda *args: fused_lengths.append(len(ops := plain_fused_run(*args)))
                        or ops)
    ck = tmp_path / "ck"
    proc = run_here(["run", *job, "-o", tmp_path / "x.h5", "--quiet", *ck_args(ck)], check=False)
    assert proc.returncode == 75, proc.stderr
    [stopped] = checkpoints(ck)
    first, second = fused_lengths[:2]  # as fusion's cost table fuses the passes
    pieces_first = -(-first // 4)  # pieces of 4 operations
    assert pieces_first < 16 <= pieces_first + -(-second // 4), fused_lengths  # the stop falls in the second pass
    # the cut's position counts on across passes: the first pass's operations, then the second's pieces applied
    assert stopped.name.endswith(f".ckpt000-{first + 4 * (16 - pieces_first):020d}.h5"), (stopped.name, fused_lengths)
    monkeypatch.setattr(circuit_run, "fused_run", plain_fused_run)
    monkeypatch.setattr(ShardedState, "apply_ops", plain_apply)
    passes = []
    monkeypatch.setattr(circuit_run, "resumed_pass",
                        lambda state, run, position, *rest: passes.append(position["run"])
                        or plain_resumed_pass(state, run, position, *rest))
    run_here(["resume", checkpoints(ck)[-1], "-o", tmp_path / "resumed.h5"])
    assert passes == [1]
    same_output(tmp_path / "full.h5", tmp_path / "resumed.h5")


# ---------------------------------------------------------------- cuts inside a trajectory
#: Noisy trajectories long enough for cuts inside them at 256 operations between looks (2 ranks, a subprocess):
#: 5 qubits, 120 layers (about 420 noisy gates per trajectory), 4 shots.
NOISY_LONG = [*NOISY[:3], "--set", "circuit.depth=120", "--set", "simulation.shots=4", *NOISY[7:]]


def dynamic_qasm(path, length: int, seed: int, shots: int = 12):
    """A 6-qubit dynamic circuit (OpenQASM 3): gates, a mid-circuit measurement into c[0], an ``if``/``else``
    on it with an ``if`` nested in its body, a reset, a measurement into c[1] and an ``if`` on it, terminal
    measurements into c[2..5]; ``length`` random gates (rx, cx) per stretch (twice as many in each branch)."""
    rng = np.random.default_rng(seed)

    def gates(n):
        out = []
        for _ in range(n):
            a, b = rng.choice(6, 2, replace=False)
            out.append(f"rx({rng.uniform(0, 3):.6f}) q[{a}];" if rng.random() < 0.5 else f"cx q[{a}], q[{b}];")
        return " ".join(out)

    path.write_text("\n".join([
        'OPENQASM 3.0;', 'include "stdgates.inc";', 'qubit[6] q;', 'bit[6] c;', gates(length), 'c[0] = measure q[0];',
        f"if (c[0]) {{ {gates(2 * length)} if (c[0]) {{ {gates(length)} }} }} else {{ {gates(2 * length)} }}",
        'reset q[0];', gates(length), 'c[1] = measure q[1];', f"if (c[1] == 0) {{ {gates(length)} }}",
        gates(length // 2), *(f"c[{i}] = measure q[{i}];" for i in range(2, 6))]) + "\n")  # c[0], c[1] stay
    return [ROOT / "jobs" / "random_qasm.toml", "--set", f"circuit.qasm=\"{path}\"", "--set",
            f"simulation.shots={shots}", "--set", "simulation.observables=[\"Z0 Z5\", \"X3\"]", "--set",
            "simulation.save_state=true"]


def stored_position(path) -> dict:
    """The position a circuit checkpoint holds (its shared record's ``circuit`` entry)."""
    return checkpoint.unpickle(open_run(path).table("engine/shared").tobytes())["circuit"]


def stop_in_trajectory(monkeypatch, trajectory: int, *, in_if: bool = False):
    """SIGTERM to this process during trajectory ``trajectory`` (from 0): at its third noisy gate, measurement
    or reset, or with ``in_if`` as the first run of gates in a taken ``if`` body (not an ``else``) starts in it or
    a later trajectory (the cut is at the next look). Returns the list of trajectories started."""
    started, seen = [], []
    plain_trajectory, plain_apply, plain_gate_run = (circuit_run._run_trajectory, TrajectoryWalk._apply,
                                                     TrajectoryWalk._gate_run)

    def signal_at(count):
        if len(started) == trajectory + 1 or (in_if and len(started) > trajectory + 1):
            seen.append(1)
            if len(seen) == count:
                os.kill(os.getpid(), signal.SIGTERM)

    def count_trajectory(*args, **kwargs):
        started.append(1)
        return plain_trajectory(*args, **kwargs)

    def apply(self, ins):
        if not in_if:
            signal_at(3)
        return plain_apply(self, ins)

    def gate_run(self, run, path, *rest):
        if in_if and path and all(branch for _, branch in path):
            signal_at(1)
        return plain_gate_run(self, run, path, *rest)

    monkeypatch.setattr(circuit_run, "_run_trajectory", count_trajectory)
    monkeypatch.setattr(TrajectoryWalk, "_apply", apply)
    monkeypatch.setattr(TrajectoryWalk, "_gate_run", gate_run)
    return started


def stopped_in_trajectory_7(job, tmp_path, monkeypatch):
    """Run ``job`` looking every 4 operations with a stop in trajectory 7 (exit 75); its one checkpoint."""
    monkeypatch.setattr(circuit_run, "ops_per_check", lambda num_local: 4)
    stop_in_trajectory(monkeypatch, 7)
    proc = run_here(["run", *job, "-o", tmp_path / "stopped.h5", "--quiet", *ck_args(tmp_path / "ck")],
                    check=False)
    assert proc.returncode == 75, proc.stderr
    [stopped] = checkpoints(tmp_path / "ck")
    return stopped


def test_a_noisy_run_stopped_inside_a_trajectory_resumes_to_the_uninterrupted_output(tmp_path, uninterrupted,
                                                                                     monkeypatch):
    """Looks every 4 operations: a stop in trajectory 7 is cut inside it (its state and the first trajectory's
    final state, a pair of registers; its position, the streams' counters, the shots and values of trajectories
    0-6); the resume goes on in trajectory 7 and gives the uninterrupted output to the bit."""
    stopped = stopped_in_trajectory_7(NOISY, tmp_path, monkeypatch)
    step = int(stopped.name[-len("00000000000000000000.h5"):-3])
    assert 7 * circuit_run.TRAJECTORY_STEP < step < 8 * circuit_run.TRAJECTORY_STEP, stopped.name
    assert open_run(stopped).attrs["circuit_cut"].startswith("in trajectory 7 of 40, after ")
    position = stored_position(stopped)
    assert position["shot"] == 7 and len(position["bits"]) == 7 and position["inside"]["pass"] is None
    assert open_run(stopped).state_info["num_qubits"] == 5 + 1  # two registers of 5 qubits
    monkeypatch.undo()
    started = stop_in_trajectory(monkeypatch, -1)  # counts only
    run_here(["resume", stopped, "-o", tmp_path / "resumed.h5"])
    assert len(started) == 40 - 7  # trajectories 7-39
    same_output(uninterrupted / "noisy.h5", tmp_path / "resumed.h5")


def test_a_noisy_run_that_saves_no_state_keeps_one_register_and_its_cuts_inside_trajectories_hold_one(
        tmp_path, monkeypatch):
    """Without save_state the first trajectory's final state is not kept (one register in memory): a stop in
    trajectory 7 is cut with that trajectory's register only (5 qubits, not a pair of 6), and the resume gives
    the uninterrupted output (shots, counts, expectation values, exchange counts) to the bit."""
    job = [*NOISY, "--set", "simulation.save_state=false"]
    run_here(["run", *job, "-o", tmp_path / "full.h5", "--quiet"])
    kept = []
    original = circuit_run._run_trajectories

    def spy(*args, **kwargs):
        result = original(*args, **kwargs)
        kept.append(result[2])
        return result

    monkeypatch.setattr(circuit_run, "_run_trajectories", spy)
    stopped = stopped_in_trajectory_7(job, tmp_path, monkeypatch)
    assert stored_position(stopped)["shot"] == 7 and "inside" in stored_position(stopped)
    assert open_run(stopped).state_info["num_qubits"] == 5  # the trajectory's register alone
    monkeypatch.undo()
    monkeypatch.setattr(circuit_run, "_run_trajectories", spy)
    run_here(["resume", stopped, "-o", tmp_path / "resumed.h5", "--quiet"])
    assert kept == [None]  # the resumed run kept no first state either
    full, resumed = open_run(tmp_path / "full.h5"), open_run(tmp_path / "resumed.h5")
    same_tables(full, resumed, TABLES, exact=True)
    for name in ("num_exchanges", "bytes_exchanged_per_rank"):
        assert np.array_equal(full.attrs[name], resumed.attrs[name]), name


def test_a_dynamic_run_stopped_in_an_if_block_resumes_on_one_and_two_ranks_and_periodic_cuts_inside_trajectories(
        tmp_path, monkeypatch, two_rank_runs):
    """A dynamic circuit (fused passes, a nested ``if``, a reset) stopped in an ``if`` body in trajectory 2 or
    later, pieces of 4 operations: the resume on 1 rank gives the uninterrupted output to the bit, on 2 ranks the same
    shots and values and the state within rounding. On 2 ranks (a subprocess: 256 operations between looks),
    runs with a checkpoint at every boundary (noisy, and a longer dynamic circuit unfused) end with the
    uninterrupted output to the bit; checkpoints cut inside trajectory 1 or later (the dynamic one in an ``if``
    block) resumed on 2 ranks give it to the bit, on 1 rank the same shots and the state within rounding. (The
    runs with and without checkpoints: :func:`two_rank_runs`.)"""
    job = dynamic_qasm(tmp_path / "dynamic.qasm", 40, seed=5)
    run_here(["run", *job, "-o", tmp_path / "dynamic.h5", "--quiet"])
    monkeypatch.setattr(circuit_run, "ops_per_check", lambda num_local: 4)
    stop_in_trajectory(monkeypatch, 2, in_if=True)
    proc = run_here(["run", *job, "-o", tmp_path / "x.h5", "--quiet", *ck_args(tmp_path / "ck")], check=False)
    assert proc.returncode == 75, proc.stderr
    [stopped] = checkpoints(tmp_path / "ck")
    position = stored_position(stopped)
    inside = position["inside"]  # in an if body, in a fused pass, c[0] = 1 (kept to the output)
    assert inside["path"] and inside["pass"] is not None and inside["bits"] & 1 and position["shot"] >= 2, position
    monkeypatch.undo()
    run_here(["resume", stopped, "-o", tmp_path / "resumed1.h5", "--quiet"])
    same_output(tmp_path / "dynamic.h5", tmp_path / "resumed1.h5")

    root, _before = two_rank_runs
    picked = {}
    for name in ("noisy", "long"):
        same_output(root / f"{name}_full.h5", root / f"{name}_periodic.h5")
        inside = [path for path in checkpoints(root / f"ck_{name}")
                  if "inside" in (position := stored_position(path)) and position["shot"] >= 1
                  and (name == "noisy" or position["inside"]["path"])]
        assert inside, name
        picked[name] = copy_checkpoint(inside[0], tmp_path / f"picked_{name}")
    resumes = ["resume", str(stopped), "-o", str(tmp_path / "dynamic_on2.h5"), "--quiet"]
    for name, path in picked.items():
        resumes += ["--then", "resume", str(path), "-o", str(tmp_path / f"{name}_resumed2.h5"), "--quiet"]
    run_mpi(2, ["tests/mpi_scripts/dqsim_runs.py", *resumes], timeout_s=240)
    same_output(tmp_path / "dynamic.h5", tmp_path / "dynamic_on2.h5", exact=False)
    for name, path in picked.items():
        full, resumed = same_output(root / f"{name}_full.h5", tmp_path / f"{name}_resumed2.h5")
        assert full.attrs["num_exchanges"] == resumed.attrs["num_exchanges"]  # the first trajectory's
        assert np.array_equal(full.attrs["bytes_exchanged_per_rank"], resumed.attrs["bytes_exchanged_per_rank"])
        run_here(["resume", copy_checkpoint(path, tmp_path / f"again_{name}"), "-o", tmp_path / f"{name}_on1.h5",
                  "--quiet"])
        same_output(root / f"{name}_full.h5", tmp_path / f"{name}_on1.h5", exact=False)


def test_check_names_the_cuts_inside_trajectories():
    """``dqsim check`` of a noisy job: checkpoints between trajectories and every 256 operations inside one
    (5 qubits on 2 ranks: 4 local)."""
    out = run_here(["check", *NOISY, "-n", "2"]).stdout
    assert ("# checkpoints: between trajectories and at gate boundaries inside one, every 256 operations of it; "
            "each holds the state (inside a trajectory after the first, also the first's: twice), 0.2 KiB per "
            "rank") in out, out
