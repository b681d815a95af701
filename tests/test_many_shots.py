"""Many shots of a dqc run, drawn in chunks (dqsim.scenarios.shots): the same numbers as one draw of all of
them (readout errors included), memory for a chunk and the distinct outcomes rather than for every shot,
progress while they are drawn, and the same shots on 1 and 2 ranks. (A stop between two chunks:
tests/test_checkpoint_stops.py.)"""

import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit.generators import ghz, random_circuit
from dqsim.jobs import load_job_text
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios import circuit_run, dqc, shots
from dqsim.state.sharded import ShardedState
from mpi_helper import run_check_here, run_mpi_arrays
from conftest import TEST_BACKEND

ROOT = Path(__file__).resolve().parent.parent
BACKEND = TEST_BACKEND if TEST_BACKEND is not None else backend_mod.select("numpy")
COMM = comm_mod.SingleComm()


def two_qpus(measure_error_probability=0.0):
    graph = topology.line(2, link=LinkSpec(distance_km=5.0))
    specs = [NodeSpec(name=n, num_data_qubits=2, num_comm_qubits=1,
                      measure_error_probability=measure_error_probability) for n in graph.nodes]
    return Network(graph, specs)


@pytest.mark.parametrize("chunk_shots", [1, 7, 64, 1000, 5000])
def test_the_chunks_joined_are_one_draw_of_all_the_shots(chunk_shots):
    state = ShardedState(6, COMM, backend=BACKEND, seed=3, kernel_chunk_bytes=128)  # 8 pieces of 8 amplitudes
    for q in range(6):
        state.apply_gate("ry", [q], [0.3 + 0.4 * q])
    whole = state.sample(1000, [5, 0, 3])
    state.streams.clear()  # the "sample" stream's first event again
    pieces = list(state.sample_chunks(1000, [5, 0, 3], chunk_shots=chunk_shots))
    assert [p.size for p in pieces] == [min(chunk_shots, 1000 - k) for k in range(0, 1000, chunk_shots)]
    assert np.array_equal(np.concatenate(pieces), whole)


def test_readout_errors_do_not_depend_on_how_the_shots_are_chunked(monkeypatch):
    network = two_qpus(measure_error_probability=0.2)
    circuit = random_circuit(4, 4, seed=5, measure=True)

    def run(chunk_shots):
        monkeypatch.setattr(dqc, "chunk_shots_for", lambda state: chunk_shots)
        return dqc.run_dqc(circuit, comm=COMM, backend=BACKEND, network=network, seed=9, shots=3000, timeline=False)

    whole, chunked = run(3000), run(257)
    assert np.array_equal(whole.shots, chunked.shots) and whole.counts == chunked.counts
    assert list(whole.counts) == list(chunked.counts)  # the same order: most frequent first


def test_counts_only_hold_no_array_of_every_shot(monkeypatch):
    """Two million shots of a 4-qubit GHZ state counted in chunks of 2^16: the run's peak of traced memory
    stays below one int64 array of the shots (16 MB; the draw of them all at once took ~70 bytes a shot),
    and the counts are a fair coin's within 4 standard errors."""
    num_shots = 2_000_000
    monkeypatch.setattr(shots, "SHOTS_PER_CHUNK", 2 ** 16)
    network = two_qpus()
    dqc.run_dqc(ghz(4, measure=True), comm=COMM, backend=BACKEND, network=network, shots=10, timeline=False)
    tracemalloc.start()
    try:
        run = dqc.run_dqc(ghz(4, measure=True), comm=COMM, backend=BACKEND, network=network, seed=4,
                          shots=num_shots, timeline=False, keep_shots=False)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert run.shots is None and sum(run.counts.values()) == num_shots
    assert set(run.counts) == {"0000", "1111"}
    assert peak < 8 * num_shots, f"peak {peak / 1e6:.1f} MB"  # 6.3 MB here; 144 MB drawn at once
    assert abs(run.counts["0000"] - num_shots / 2) < 4 * math.sqrt(num_shots / 4)


def test_the_progress_line_advances_while_the_shots_are_drawn(monkeypatch):
    text = (ROOT / "jobs" / "dqc_ghz_4qpu.toml").read_text().replace("shots = 1000", "shots = 5000")
    job = load_job_text(text, source="dqc_ghz_4qpu.toml")
    monkeypatch.setattr(dqc, "chunk_shots_for", lambda state: 1000)
    seen = []
    out = dqc.run_job(job, comm=COMM, backend=BACKEND, on_progress=lambda done, total, what: seen.append(
        (done, total, what)))
    drawing = [(done, total) for done, total, what in seen if what == "shots drawn from the final state"]
    assert drawing == [(k, 5000) for k in range(0, 5001, 1000)]
    assert seen[-len(drawing):] == [(d, t, "shots drawn from the final state") for d, t in drawing]  # the last stage
    assert int(out.tables["counts"]["count"].sum()) == 5000 and "shots" not in out.tables


def test_a_run_of_one_chunk_adds_no_progress_stage():
    job = load_job_text((ROOT / "jobs" / "dqc_ghz_4qpu.toml").read_text(), source="dqc_ghz_4qpu.toml")
    seen = []
    dqc.run_job(job, comm=COMM, backend=BACKEND, on_progress=lambda done, total, what: seen.append(what))
    assert not any(what.startswith("shots drawn") for what in seen)


def test_chunked_shots_are_the_same_on_one_and_two_ranks(tmp_path):
    script = "tests/mpi_scripts/many_shots_check.py"
    run_check_here("many_shots_check", str(tmp_path / "r1.npz"))  # one rank: in this process
    one = dict(np.load(tmp_path / "r1.npz"))
    two = run_mpi_arrays(2, script, tmp_path / "r2.npz")
    assert two["chunk_register_ranks"][0] == 2  # the register is sharded: each chunk gathers over the ranks
    for arrays in (one, two):
        for key in ("shots", "counts", "numbers"):
            assert np.array_equal(arrays[f"chunk_{key}"], arrays[f"whole_{key}"]), key
    for key in one:
        if not key.endswith("register_ranks"):
            assert np.array_equal(one[key], two[key]), key
    assert one["chunk_numbers"].sum() == 5000 and len(one["chunk_counts"]) > 16  # readout errors: many outcomes


def test_the_circuit_scenario_counts_its_shots_in_chunks_too(monkeypatch):
    """The ``circuit`` scenario's final-state shots: the same counts and stored shots in chunks of 700 as in one
    draw, progress per chunk, and no array of every shot unless ``store_shots`` asks for it."""
    def job(store):
        return load_job_text('[run]\nname = "c"\nseed = 5\n[circuit]\ngenerator = "random"\nnum_qubits = 5\n'
                             f'depth = 6\ncircuit_seed = 2\nmeasure = true\n[simulation]\nshots = 3000\n'
                             f'store_shots = {str(store).lower()}\n', source="c.toml")

    whole = circuit_run.run_circuit_job(job(True), comm=COMM, backend=BACKEND)
    monkeypatch.setattr(circuit_run, "chunk_shots_for", lambda state: 700)
    seen = []
    chunked = circuit_run.run_circuit_job(job(True), comm=COMM, backend=BACKEND,
                                          on_progress=lambda done, total, what: seen.append((done, total, what)))
    assert np.array_equal(whole.shots, chunked.shots) and list(whole.counts.items()) == list(chunked.counts.items())
    assert [(d, t) for d, t, what in seen if what == "shots drawn from the final state"] == [
        (0, 3000), (700, 3000), (1400, 3000), (2100, 3000), (2800, 3000), (3000, 3000)]
    counted = circuit_run.run_circuit_job(job(False), comm=COMM, backend=BACKEND)
    assert counted.shots is None and counted.counts == whole.counts


def test_with_trajectories_the_progress_names_the_trajectory_drawing_its_shots(monkeypatch):
    text = (ROOT / "jobs" / "dqc_ghz_4qpu.toml").read_text().replace("shots = 1000", "shots = 4000\ntrajectories = 2")
    monkeypatch.setattr(dqc, "chunk_shots_for", lambda state: 1000)
    seen = []
    dqc.run_job(load_job_text(text, source="dqc_ghz_4qpu.toml"), comm=COMM, backend=BACKEND,
                on_progress=lambda done, total, what: seen.append((done, total, what)))
    drawing = [(done, total, what) for done, total, what in seen if what.startswith("shots drawn")]
    assert drawing == [(k, 2000, f"shots drawn from trajectory {t}'s final state") for t in (1, 2)
                       for k in (0, 1000, 2000)]
