"""Stop signals after the engine's last step, earlier runs' checkpoints, and one run of a job at a time.

A stop signal (here a real SIGTERM the process sends itself from inside the
phase, through the handler ``dqsim run`` installs) that comes after the
engine's last step either checkpoints the finished engine run and stops with
status 75 (the DQC fidelity check, expectation values and sampling, trotter's
observables: work on the final state that can take as long as the run; the
tables, summaries and output write of dqc, trotter, qkd, repeater and cloud,
a saved state's included, also when the signal reaches only a rank that
waits for rank 0's write, and a state above ``max_gather_qubits`` that every
rank writes, also when only one rank gets the signal; after trotter runs shared
out over the ranks, by running one of them again on every rank), or, where what is left
is the run file's rename and manifest, lets the run finish with status 0 and
a note. Either way the
results equal the uninterrupted run's: the resume runs no event again
(engine counts equal) and redoes only the work after the engine.
"""

import fcntl
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dqsim.cli import main as cli_main
from dqsim.engine import checkpoint
from dqsim.io import open_run, writer
from dqsim.scenarios import cloud, dqc, qkd, repeater, trotter
from mpi_helper import ROOT, run_here, run_mpi
from run_files import checkpoints, same_tables

DQC = ["jobs/dqc_ghz_4qpu.toml", "--set", "simulation.store_shots=true", "--set", "circuit.generator=\"random\"",
       "--set", "circuit.depth=20"]  # 160 gates: the fidelity check looks for a stop every 64
DQC_TRAJECTORIES = [*DQC, "--set", "network.link.source_fidelity=0.95", "--set", "simulation.trajectories=3"]
TROTTER = ["jobs/ising_trotter_4qpu.toml", "--set", "evolution.num_points=3"]
CLOUD = ["jobs/cloud_queue.toml"]
QKD = ["jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=2000000", "--set", "qkd.batch_pulses=200000",
       "--set", "qkd.block_pulses=1000000"]
REPEATER = ["jobs/repeater_chain.toml", "--set", "chain.num_pairs=20"]
ENGINE_COUNTS = ("engine_events", "engine_windows", "engine_flushes", "engine_messages")


def dqsim(args, folder: Path, out: str, *, check=True):
    """``dqsim ARGS -o FOLDER/OUT --quiet`` in this process, checkpoints in ``FOLDER/ck``."""
    extra = ["-o", str(folder / out), "--quiet"]
    if args[0] == "run":
        extra += ["--set", f"checkpoint.directory=\"{folder / 'ck'}\""]
    return run_here([*args, *extra], check=check)


def sigterm_during(monkeypatch, module, name, *, call=1):
    """Make the ``call``-th call of ``module.name`` send SIGTERM to this process as it starts.

    Returns a list that gets the name of the exception that call ended with (``None``: it returned).
    """
    original, calls, ended = getattr(module, name), [], []

    def hooked(*args, **kwargs):
        calls.append(1)
        if len(calls) != call:
            return original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            ended.append(type(exc).__name__)
            raise
        ended.append(None)
        return result

    monkeypatch.setattr(module, name, hooked)
    return ended


def same_results(full, other, tables, attrs=()):
    same_tables(full, other, tables)
    for key in (*attrs, *ENGINE_COUNTS):
        if key in full.attrs:
            assert full.attrs[key] == other.attrs[key], key


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The outputs of the jobs run without a stop (one rank), by name."""
    folder = tmp_path_factory.mktemp("late_full")
    found = {}
    for name, args in {"dqc": DQC, "trajectories": DQC_TRAJECTORIES, "trotter": TROTTER, "cloud": CLOUD,
                       "qkd": QKD, "repeater": REPEATER}.items():
        dqsim(["run", *args], folder, f"{name}.h5")
        found[name] = open_run(folder / f"{name}.h5")
    return found


def stopped_then_resumed(tmp_path, args):
    """Run ``args`` (a hook sends the stop), expect status 75 and one checkpoint; resume it; the resumed output."""
    stopped = dqsim(["run", *args], tmp_path, "stopped.h5", check=False)
    assert stopped.returncode == 75, stopped.stderr
    assert stopped.stderr.strip().splitlines()[-1].startswith("dqsim: checkpoint written to "), stopped.stderr
    assert not (tmp_path / "stopped.h5").exists()
    written = checkpoints(tmp_path / "ck")
    assert len(written) == 1
    dqsim(["resume", str(written[0])], tmp_path, "resumed.h5")
    return written[0], open_run(tmp_path / "resumed.h5")


@pytest.mark.parametrize("phase", ["_fidelity_to_copy", "draw_shots"])
def test_a_stop_during_the_dqc_work_on_the_final_state_checkpoints_the_finished_run(tmp_path, monkeypatch,
                                                                                    uninterrupted, phase):
    ended = sigterm_during(monkeypatch, dqc, phase)
    ckpt, resumed = stopped_then_resumed(tmp_path, DQC)
    if phase == "_fidelity_to_copy":
        assert ended == ["CheckpointStop"]  # inside the check, at its 64th gate, not after it
    full = uninterrupted["dqc"]
    # cut 1 ps after the engine's last event: every event was run before it
    assert open_run(ckpt).attrs["window_end_ps"] > full.table("timeline")["time_ps"].max()
    monkeypatch.undo()
    same_results(full, resumed, ["shots", "counts", "links", "timeline"], ["fidelity", "simulated_time_ps"])


def test_a_stop_between_two_chunks_of_shots_checkpoints_and_resumes_to_the_same_shots(tmp_path, monkeypatch,
                                                                                     uninterrupted):
    """The job's 1,000 shots drawn 300 at a time: a SIGTERM as the second chunk's readout errors are applied
    stops the drawing before the third chunk (exit 75); the resume draws them all again, and the shots and
    counts equal the uninterrupted run's, which drew them in one chunk."""
    monkeypatch.setattr(dqc, "chunk_shots_for", lambda state: 300)
    calls = []
    real = dqc._readout_errors
    monkeypatch.setattr(dqc, "_readout_errors", lambda *a, **k: calls.append(k["first_shot"]) or real(*a, **k))
    sigterm_during(monkeypatch, dqc, "_readout_errors", call=2)
    _ckpt, resumed = stopped_then_resumed(tmp_path, DQC)
    assert calls[:3] == [0, 300, 0]  # stopped after the second chunk; the resume starts from the first
    assert calls[3:] == [300, 600, 900]
    same_results(uninterrupted["dqc"], resumed, ["shots", "counts", "links", "timeline"],
                 ["fidelity", "simulated_time_ps"])


def test_a_stop_during_the_fidelity_check_in_place_puts_the_state_back_then_checkpoints(tmp_path, monkeypatch,
                                                                                      uninterrupted):
    """The check without a second register undoes the circuit on the final state: a stop in it redoes what it
    undid before the checkpoint, so the resume starts from the engine's final state (to rounding)."""
    ended = sigterm_during(monkeypatch, dqc, "_fidelity_in_place")
    ckpt, resumed = stopped_then_resumed(tmp_path, [*DQC, "--set", 'simulation.fidelity_check="in_place"'])
    assert ended == ["CheckpointStop"]  # at its 64th gate
    full = uninterrupted["dqc"]
    assert open_run(ckpt).attrs["window_end_ps"] > full.table("timeline")["time_ps"].max()
    monkeypatch.undo()
    same_results(full, resumed, ["shots", "counts", "links", "timeline"], ["simulated_time_ps"])
    assert resumed.attrs["fidelity_check"] == "in_place" and full.attrs["fidelity_check"] == "copy"
    assert abs(resumed.attrs["fidelity"] - full.attrs["fidelity"]) < 1e-12


@pytest.mark.parametrize("store_shots", [True, False])
def test_a_stop_in_the_second_of_three_trajectories_resumes_from_its_end(tmp_path, monkeypatch, uninterrupted,
                                                                         store_shots):
    """Without ``store_shots`` the finished trajectories' summaries in the checkpoint hold counts, no shots."""
    sigterm_during(monkeypatch, dqc, "_fidelity_to_copy", call=2)
    ckpt, resumed = stopped_then_resumed(tmp_path, [*DQC_TRAJECTORIES, "--set",
                                                    f"simulation.store_shots={str(store_shots).lower()}"])
    assert checkpoint.parse_checkpoint_name(ckpt)["engine_run"] == 1
    full = uninterrupted["trajectories"]
    assert full.attrs["fidelity_stderr"] > 0  # three different trajectories
    same_results(full, resumed, ["shots", "counts", "links", "timeline"] if store_shots else
                 ["counts", "links", "timeline"], ["fidelity", "fidelity_stderr"])
    assert ("shots" in resumed.tables) == store_shots


def test_a_stop_during_trotter_observables_checkpoints_the_finished_run(tmp_path, monkeypatch, uninterrupted):
    original, runs = trotter._run_once, []

    def run_once(*args, **kwargs):  # the observables of the second networked run (not the monolithic ones)
        runs.append(1)
        if len(runs) == 2:
            sigterm_during(monkeypatch, trotter, "observables_of")
        return original(*args, **kwargs)

    monkeypatch.setattr(trotter, "_run_once", run_once)
    ckpt, resumed = stopped_then_resumed(tmp_path, TROTTER)
    assert checkpoint.parse_checkpoint_name(ckpt)["engine_run"] == 1
    full = uninterrupted["trotter"]
    same_tables(full, resumed, [name for name in full.tables if name != "timing"])


def test_a_stop_after_a_cloud_user_job_s_engine_run_resumes_there(tmp_path, monkeypatch, uninterrupted):
    sigterm_during(monkeypatch, dqc, "draw_shots", call=2)
    ckpt, resumed = stopped_then_resumed(tmp_path, CLOUD)
    assert checkpoint.parse_checkpoint_name(ckpt)["engine_run"] == 1
    full = uninterrupted["cloud"]
    same_tables(full, resumed, [name for name in full.tables if name != "timing"])


def test_repro_a_stop_whose_checkpoint_cannot_be_written_ends_a_cloud_run(tmp_path, monkeypatch):
    """The cloud scenario took the one-line error of a stop's checkpoint that could not be written (a
    DqsimError) for a failure of the user job: it recorded the job as failed, went on, and exited 0."""
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.Checkpointer, "_write_rank0", full_disk)
    sigterm_during(monkeypatch, dqc, "draw_shots", call=2)
    stopped = dqsim(["run", *CLOUD], tmp_path, "out.h5", check=False)
    assert stopped.returncode == 2, stopped.stderr
    [line] = stopped.stderr.strip().splitlines()
    assert line.startswith("dqsim: error: checkpoint ") and "not written ([Errno 28] No space left on device; " \
        "no older checkpoint of this job to remove for room); the run stops as the signal asked, without it; " \
        "no checkpoint was kept" in line, line
    assert not (tmp_path / "out.h5").exists() and not checkpoints(tmp_path / "ck")


#: Root attributes that differ between two runs of a job: when and how fast it ran, and the command line's
#: settings (here the output file and checkpoint folder of each test).
VOLATILE_ATTRS = {"created_utc", "wall_time_s", "pulses_per_wall_second", "overrides", "overrides_from_job",
                  "engine_flush_seconds", "engine_state_seconds"}

#: Where a stop comes after the last engine run of the scenarios whose work after it is tables and summaries:
#: the function whose last call (:func:`last_call`) sends it.
TABULATED = {"qkd": (QKD, qkd, "_end_to_end"), "repeater": (REPEATER, repeater, "_summary_row"),
             "cloud": (CLOUD, cloud, "cloud_tables"), "dqc": (DQC, dqc, "common_tables"),
             "trotter": (TROTTER, trotter, "_summary")}


#: ... on rank 1, where it differs: qkd's tables are made by the writing rank alone since 2026-12-07 (afternoon),
#: while rank 1 waits for it (``qkd._wait_for_writer``, one call per distance, then one for the attributes and
#: summary; it tells the writer of the signal, which stops at its next stop point: ``qkd.writer_alone``).
TABULATED_ON_RANK_1 = {"qkd": "_wait_for_writer"}


def last_call(name, full) -> int:
    """The call of the hooked function made after the last engine run: the last configuration's."""
    return int(full.attrs.get("num_configurations", 1)) if name == "repeater" else 1


#: Root attributes that count how the engine ran on its ranks (its windows, the messages between ranks): a run
#: on two ranks resumed on one has the two ranks' counts.
RANK_ATTRS = {"engine_windows", "engine_cross_rank_messages", "engine_flushes"}


def same_run(full, other, *, ignore=frozenset()):
    """Every table but ``timing`` and every root attribute but :data:`VOLATILE_ATTRS` and ``ignore`` are equal."""
    same_tables(full, other, [name for name in full.tables if name != "timing"])
    assert sorted(set(full.attrs) - set(ignore)) == sorted(set(other.attrs) - set(ignore))
    for key in set(full.attrs) - VOLATILE_ATTRS - set(ignore):
        a, b = np.asarray(full.attrs[key]), np.asarray(other.attrs[key])
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc" and b.dtype.kind in "fc"), key  # NaN is NaN


def last_engine_run(name, ckpt, full):
    """The checkpoint is the scenario's last engine run's, cut after its last event."""
    stored = open_run(ckpt).attrs
    runs = {"qkd": lambda: 1, "repeater": lambda: full.attrs["num_configurations"],
            "cloud": lambda: full.attrs["total_engine_runs"], "dqc": lambda: full.attrs["trajectories"],
            # per point and trajectory (no sweep here: a sweep runs every point again per value)
            "trotter": lambda: len(full.table("network")) * full.attrs["trajectories"]}
    assert "sweep_values" not in full.attrs
    assert checkpoint.parse_checkpoint_name(ckpt)["engine_run"] == runs[name]() - 1
    if "timeline" in full.tables:
        assert stored["window_end_ps"] > full.table("timeline")["time_ps"].max()


@pytest.mark.parametrize("name", sorted(TABULATED))
def test_a_stop_while_the_last_results_are_tabulated_checkpoints_the_finished_run(tmp_path, monkeypatch,
                                                                                 uninterrupted, name):
    args, module, function = TABULATED[name]
    full = uninterrupted[name]
    ended = sigterm_during(monkeypatch, module, function, call=last_call(name, full))
    ckpt, resumed = stopped_then_resumed(tmp_path, args)
    assert ended == [None]  # the function itself ran to its end; the next stop point stopped the run
    last_engine_run(name, ckpt, full)
    same_run(full, resumed)


def test_a_stop_between_two_cloud_user_jobs_checkpoints_the_first_s_finished_run(tmp_path, monkeypatch,
                                                                                  uninterrupted):
    """The signal comes as the first user job's result is summed up, after its engine run's own stop points: the
    job's finished engine run is checkpointed there, before the next job builds its register."""
    ended = sigterm_during(monkeypatch, cloud, "job_result", call=1)
    ckpt, resumed = stopped_then_resumed(tmp_path, CLOUD)
    assert ended == [None]
    assert checkpoint.parse_checkpoint_name(ckpt)["engine_run"] == 0
    same_run(uninterrupted["cloud"], resumed)


@pytest.mark.parametrize("name", ["qkd", "dqc", "trotter"])
def test_a_stop_while_the_output_is_written_cuts_the_write_and_checkpoints(tmp_path, monkeypatch, uninterrupted,
                                                                          name):
    """The output write is abandoned between two tables (its temporary file removed) and the finished engine run
    checkpointed instead; the resume writes the whole file, equal to the uninterrupted run's."""
    original, ended = cli_main.io.write_run_file, []

    def write_run_file(path, **kwargs):
        if Path(path).name == "stopped.h5":
            os.kill(os.getpid(), signal.SIGTERM)
        try:
            return original(path, **kwargs)
        except BaseException as exc:
            ended.append(type(exc).__name__)
            raise

    monkeypatch.setattr(cli_main.io, "write_run_file", write_run_file)
    ckpt, resumed = stopped_then_resumed(tmp_path, TABULATED[name][0])
    assert ended == ["_OutputCut"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ck", "resumed.h5", "resumed.h5.manifest.json"]
    last_engine_run(name, ckpt, uninterrupted[name])
    same_run(uninterrupted[name], resumed)


def test_a_stop_while_the_manifest_is_written_finishes_the_run_with_a_note(tmp_path, monkeypatch, uninterrupted):
    """The run file's rename and manifest are not cut: the file is whole by then; the run ends with status 0."""
    original = writer.write_run_manifest

    def write_run_manifest(path, *args, **kwargs):
        if Path(path).name == "out.h5":
            os.kill(os.getpid(), signal.SIGTERM)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(writer, "write_run_manifest", write_run_manifest)
    done = dqsim(["run", *DQC], tmp_path, "out.h5")
    assert done.stderr.strip().splitlines()[-1].startswith("dqsim: note: a stop signal came after"), done.stderr
    assert not checkpoints(tmp_path / "ck")
    same_run(uninterrupted["dqc"], open_run(tmp_path / "out.h5"))


#: A dqc job that saves its final state: gathered into the run file, or (above 2 qubits) as slab files.
SAVED = [*DQC, "--set", "simulation.save_state=true"]
SLABS = [*SAVED, "--set", "simulation.max_gather_qubits=2"]


@pytest.fixture(scope="module")
def saved_full(tmp_path_factory):
    """The uninterrupted one-rank output of :data:`SAVED` (its state gathered into the run file)."""
    folder = tmp_path_factory.mktemp("saved_full")
    dqsim(["run", *SAVED], folder, "full.h5")
    return open_run(folder / "full.h5")


def same_state(full, other):
    """The saved states are equal, bit for bit (the register is whole on every rank: one rank's arithmetic)."""
    assert np.array_equal(full.state(), other.state())


def test_a_stop_inside_a_gathered_state_s_write_cuts_it_between_pieces(tmp_path, monkeypatch, saved_full):
    """A stop in the middle of the state (written in pieces, a look between two) abandons the write there: no
    output and no temporary file are left; the resume writes the state whole, equal to the uninterrupted run's."""
    monkeypatch.setattr(writer, "STATE_PIECE_AMPLITUDES", 64)  # the 11-qubit register's state in 32 pieces
    assert saved_full.state().size == 2048
    looks = len(saved_full.tables) + 3  # a look before each table, before the state, then between pieces: the 3rd
    original, calls, ended = cli_main._cut_on_stop, [], []

    def cut_on_stop(task):
        calls.append(1)
        if len(calls) == looks:
            os.kill(os.getpid(), signal.SIGTERM)
        try:
            return original(task)
        except BaseException as exc:
            ended.append((len(calls), type(exc).__name__))
            raise

    monkeypatch.setattr(cli_main, "_cut_on_stop", cut_on_stop)
    ckpt, resumed = stopped_then_resumed(tmp_path, SAVED)
    assert ended == [(looks, "_OutputCut")]  # at that look (the resume's write, with its own looks, was not cut)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ck", "resumed.h5", "resumed.h5.manifest.json"]
    same_run(saved_full, resumed)
    same_state(saved_full, resumed)


#: A trotter sweep that saves its state: the state is the job's network's last run's (run 1 of 10), not the last
#: engine run's (a sweep value's).
SWEEP_SAVED = ["jobs/xxz_ring_sweep.toml", "--set", "evolution.num_points=1", "--set", "simulation.trajectories=1",
               "--set", "simulation.save_state=true"]


def test_repro_a_trotter_sweep_resumed_after_the_run_whose_state_it_keeps_writes_that_state(tmp_path, monkeypatch):
    """A checkpoint holds finished runs' summaries, not their states: the resume took that run's summary and
    wrote no state (exit 0, a run file without ``state``). Now it runs that run again for its state."""
    dqsim(["run", *SWEEP_SAVED], tmp_path / "full", "full.h5")
    full = open_run(tmp_path / "full" / "full.h5")
    ended = sigterm_during(monkeypatch, trotter, "_summary")
    ckpt, resumed = stopped_then_resumed(tmp_path, SWEEP_SAVED)
    assert ended == [None]
    assert checkpoint.parse_checkpoint_name(ckpt)["engine_run"] == 9  # the last of 5 series x 2 points
    assert resumed.has_state
    same_run(full, resumed)
    same_state(full, resumed)


def test_a_stop_while_a_run_file_over_state_slabs_is_written_removes_the_slabs(tmp_path, monkeypatch, saved_full):
    """The slab files were written by then: the abandoned write takes them too, so nothing is left that names a
    state of this run; the resume writes slabs and run file again, with the uninterrupted run's state."""
    ended = sigterm_during(monkeypatch, cli_main, "_cut_on_stop")
    slab_at_the_cut = []
    monkeypatch.setattr(cli_main, "_discard_state", lambda *args, original=cli_main._discard_state: (
        slab_at_the_cut.append((tmp_path / "stopped.slab0000.h5").is_file()), original(*args)))
    ckpt, resumed = stopped_then_resumed(tmp_path, SLABS)
    assert ended == ["_OutputCut"] and slab_at_the_cut == [True]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ck", "resumed.h5", "resumed.h5.manifest.json",
                                                                "resumed.slab0000.h5"]
    assert resumed.attrs_of("state")["layout"] == "slabs"
    same_run(saved_full, resumed)
    same_state(saved_full, resumed)


#: The folder of the MPI check scripts (tests/mpi_scripts/two_rank_stops.py's hooks, for the drivers below).
MPI_SCRIPTS = str(ROOT / "tests" / "mpi_scripts")

#: ``dqsim ARGS`` on several ranks with a SIGTERM to one rank alone as a function is called:
#: ``MODULE:FUNCTION[:CALL[:RANK]] ARGS`` (every call, on rank 1; two_rank_stops.py's ``hook_call``).
DRIVER = f"""
import sys
sys.path.insert(0, {MPI_SCRIPTS!r})
from two_rank_stops import hook_call
from dqsim.cli.main import main
hook_call(sys.argv[1])  # MODULE:FUNCTION[:CALL[:RANK]] (every call, on rank 1)
sys.exit(main(sys.argv[2:]))
"""


def test_repro_a_sigterm_to_one_rank_during_the_fidelity_check_on_two_ranks(tmp_path, uninterrupted,
                                                                            stopped_on_two_ranks):
    """The run used to finish (exit 0) whatever came after its last event; now every rank stops alike. The
    resumed runs give the uninterrupted 1-rank run's results (the register is whole on every rank: bit for bit)."""
    stop = stopped_on_two_ranks["fidelity"]  # DRIVER, rank 1 alone as the check starts
    assert stop.stopped.returncode == 75, stop.stopped.stderr
    assert "Traceback" not in stop.stopped.stderr
    [ckpt] = checkpoints(stop.folder / "ck")
    full = uninterrupted["dqc"]
    for ranks in (2, 1):
        if ranks == 1:
            out = tmp_path / "resumed1.h5"
            run_here(["resume", ckpt, "-o", out, "--quiet"])
        else:
            out = resumed_on_two_ranks(stop)
        resumed = open_run(out)
        same_tables(full, resumed, ["shots", "counts", "links", "timeline"])
        assert abs(full.attrs["fidelity"] - resumed.attrs["fidelity"]) <= (0 if ranks == 2 else 1e-12)


#: Settings of the two-rank runs: one repeater configuration (its three, on two ranks, took 29 s under load).
TWO_RANKS = {"repeater": ["--set", "chain.num_links=[2]", "--set", "chain.total_distance_km=[100.0]"],
             # every run on both ranks (periodic checkpoints, none due): shared out, no engine run of both is left
             "trotter": ["--set", "checkpoint.every_wall_s=3600"]}


def tabulated_full(name, uninterrupted, root: Path):
    """The uninterrupted 1-rank run of :data:`TABULATED`'s ``name`` as stopped on two ranks: for the jobs of
    :data:`TWO_RANKS`, a smaller job's, run (here) by :func:`stopped_on_two_ranks` in ``root``."""
    if name in TWO_RANKS:
        return open_run(root / f"tabulated-{name}-full" / "full.h5")
    return uninterrupted[name]


@pytest.mark.parametrize("name", sorted(TABULATED))
def test_a_sigterm_to_one_rank_while_results_are_tabulated_checkpoints_on_two_ranks(tmp_path, uninterrupted,
                                                                                    stopped_on_two_ranks, name):
    """Rank 1 alone gets the signal while the tables are made; both ranks stop at the same stop point with one
    checkpoint, and its resume (on one rank) gives the uninterrupted 1-rank run's output. (The stop: DRIVER's
    hook at the last call of the tabulating function, rank 1, run in :func:`stopped_on_two_ranks`' launch.)"""
    stop = stopped_on_two_ranks[f"tabulated-{name}"]
    full = tabulated_full(name, uninterrupted, stop.folder.parent)
    assert stop.stopped.returncode == 75, stop.stopped.stderr
    [line] = stop.stopped.stderr.strip().splitlines()  # rank 0 speaks for both
    assert line.startswith("dqsim: checkpoint written to "), stop.stopped.stderr
    [ckpt] = checkpoints(stop.folder / "ck")
    last_engine_run(name, ckpt, full)
    run_here(["resume", ckpt, "-o", tmp_path / "resumed.h5", "--quiet"])
    resumed = open_run(tmp_path / "resumed.h5")
    assert resumed.attrs["num_ranks"] == 1
    same_run(full, resumed, ignore=RANK_ATTRS)


#: The jobs of :func:`test_a_sigterm_to_rank_0_during_the_output_write_on_two_ranks_cuts_it_and_checkpoints`.
OUTPUT_WRITE_STOPS = ["qkd", "dqc"]


@pytest.mark.parametrize("name", OUTPUT_WRITE_STOPS)
def test_a_sigterm_to_rank_0_during_the_output_write_on_two_ranks_cuts_it_and_checkpoints(tmp_path, uninterrupted,
                                                                                         stopped_on_two_ranks, name):
    """Rank 0 writes the file while rank 1 waits: the signal at rank 0's second look (after the first table)
    abandons the write, and both ranks checkpoint the finished engine run. (DRIVER's hook
    ``dqsim.cli.main:_cut_on_stop:2:0``, run in :func:`stopped_on_two_ranks`' launch.)"""
    stop = stopped_on_two_ranks[f"output-{name}"]
    assert stop.stopped.returncode == 75, stop.stopped.stderr
    [line] = stop.stopped.stderr.strip().splitlines()
    assert line.startswith("dqsim: checkpoint written to "), stop.stopped.stderr
    assert stop.listing == ["ck"]  # no output, no temporary
    [ckpt] = checkpoints(stop.folder / "ck")
    last_engine_run(name, ckpt, uninterrupted[name])
    run_here(["resume", ckpt, "-o", tmp_path / "resumed.h5", "--quiet"])
    same_run(uninterrupted[name], open_run(tmp_path / "resumed.h5"), ignore=RANK_ATTRS)


def test_a_stop_after_runs_shared_out_in_a_resumed_run_cuts_a_run_after_the_resumed_one(tmp_path):
    """A resume of a checkpoint that cut run 0 (a stop during the runs shared out) shares out the runs left; a
    stop (rank 0 alone) in its tables runs the kept state's run (7, after the resumed run 0: a run before it writes
    no checkpoints) again on both ranks, which checkpoints it with every other run's result; that checkpoint's
    resume gives the uninterrupted 1-rank run's tables and state."""
    import pickle

    from test_trotter import STOPPED

    ck = f"checkpoint.directory=\"{tmp_path / 'ck'}\""
    dqsim(["run", *STOPPED], tmp_path / "full", "full.h5")
    stopped = run_mpi(2, ["tests/mpi_scripts/trotter_stop.py", "run", *STOPPED, "-o", str(tmp_path / "stopped.h5"),
                          "--quiet", "--set", ck], timeout_s=240, check=False)
    assert stopped.returncode == 75, stopped.stderr
    [first] = checkpoints(tmp_path / "ck")
    assert checkpoint.parse_checkpoint_name(first)["engine_run"] == 0
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    again = run_mpi(2, [str(driver), "dqsim.scenarios.trotter:_summary:1:0", "resume", str(first), "-o",
                        str(tmp_path / "again.h5"), "--quiet"], timeout_s=240, check=False)
    assert again.returncode == 75, again.stderr
    [second] = [path for path in checkpoints(tmp_path / "ck") if path != first]
    stored = open_run(second)
    assert stored.attrs["engine_run"] == 7
    assert sorted(pickle.loads(stored.table("engine/results").tobytes())) == list(range(7))
    run_here(["resume", second, "-o", tmp_path / "resumed.h5", "--quiet"])
    full, resumed = open_run(tmp_path / "full" / "full.h5"), open_run(tmp_path / "resumed.h5")
    same_run(full, resumed, ignore=RANK_ATTRS | {"num_ranks", "exchange_path"})
    same_state(full, resumed)


#: The trotter job of :func:`test_a_stop_after_trotter_runs_shared_out_over_the_ranks_checkpoints_and_resumes`
#: by ``[evolution].mode``: 4 runs, or 2 evolutions of 4 segments (8 runs).
SHARED_OUT = {"independent": TROTTER,
              "continued": [*TROTTER, "--set", "evolution.mode=\"continued\"", "--set", "simulation.trajectories=2"]}


#: The stops of :func:`test_a_stop_after_trotter_runs_shared_out_over_the_ranks_checkpoints_and_resumes`: (mode,
#: where the signal comes (:data:`DRIVER`'s hook, or "waiting": to rank 1 alone as it waits for rank 0's output write,
#: tests/mpi_scripts/two_rank_stops.py's ``hook_waiting_rank``), ranks of the resume).
SHARED_OUT_STOPS = [
    ("independent", "dqsim.scenarios.trotter:_summary:1:1", 1),  # the tables: rank 1 alone gets the signal
    ("continued", "dqsim.scenarios.trotter:_summary:1:0", 2),  # the tables: rank 0 alone
    ("independent", "dqsim.cli.main:_cut_on_stop:2:0", 2),  # rank 0 alone, in its output write (second look)
    ("continued", "waiting", 1)]  # rank 1 alone, as it waits for rank 0's output write


@pytest.mark.parametrize("mode, where, resume_ranks", SHARED_OUT_STOPS)
def test_a_stop_after_trotter_runs_shared_out_over_the_ranks_checkpoints_and_resumes(tmp_path, uninterrupted,
                                                                                    stopped_on_two_ranks, mode,
                                                                                    where, resume_ranks):
    """Each run shared out over the ranks ran on one rank alone, so no engine run of both ranks was left to
    checkpoint, and a stop after them let the run finish (status 0, a note), a SIGKILL then losing it. Now the
    stop runs one run again on both ranks, with checkpoints, whose engine checkpoints at its first cut, holding
    every other run's result: exit 75, no output; the resume continues that run and gives the uninterrupted
    1-rank run's output. The run cut is the first of the evolution whose final state the output keeps (the last
    run, "independent"; the second trajectory's first segment, "continued"), so the resume runs nothing else."""
    import pickle

    args = SHARED_OUT[mode]
    if mode == "independent":
        full = uninterrupted["trotter"]
    else:
        dqsim(["run", *args], tmp_path / "full", "full.h5")
        full = open_run(tmp_path / "full" / "full.h5")
    stop = stopped_on_two_ranks[f"shared-{SHARED_OUT_STOPS.index((mode, where, resume_ranks))}"]
    assert stop.stopped.returncode == 75, stop.stopped.stderr
    [line] = stop.stopped.stderr.strip().splitlines()  # rank 0 speaks for both
    assert line.startswith("dqsim: checkpoint written to "), stop.stopped.stderr
    assert stop.listing == ["ck"]
    [ckpt] = checkpoints(stop.folder / "ck")
    stored = open_run(ckpt)
    num_runs = len(full.table("network")) * full.attrs["trajectories"]
    cut = {"independent": num_runs - 1, "continued": 4}[mode]  # (continued: run (series 0, trajectory 1, point 0))
    assert stored.attrs["engine_run"] == cut and stored.attrs["num_ranks"] == 2
    assert sorted(pickle.loads(stored.table("engine/results").tobytes())) == sorted(set(range(num_runs)) - {cut})
    if resume_ranks == 1:
        out = tmp_path / "resumed.h5"
        run_here(["resume", ckpt, "-o", out, "--quiet"])
    else:
        out = resumed_on_two_ranks(stop)
    same_run(full, open_run(out), ignore=RANK_ATTRS | {"num_ranks", "exchange_path"})


def test_a_sigterm_to_a_rank_waiting_for_rank_0_s_write_cuts_it_and_the_state_slabs_go(stopped_on_two_ranks,
                                                                                         saved_full):
    """Only rank 1 gets the signal, while rank 0 writes the run file over the two ranks' state slabs: rank 0
    hears of it at its next look and abandons the write, the slabs are removed, both ranks checkpoint the
    finished engine run (status 75). The resume on two ranks writes the state once (each rank half of the
    register both hold whole), equal to the uninterrupted one-rank run's."""
    resumed = slabs_stopped_on_two_ranks_then_resumed(stopped_on_two_ranks["slabs-waiting"], saved_full)
    assert resumed.state().shape == (1 << resumed.attrs["register_qubits"],)


# ------------------------------------------------------------- the state written by every rank, the file's end

#: ``dqsim ARGS`` on several ranks, with a SIGTERM on one rank alone as the first call of MODULE.FUNCTION on a file
#: of the run named ``stopped*`` starts: ``MODULE:FUNCTION:RANK PIECE MARKS ARGS``, where PIECE is the amplitudes of
#: a state (and 16 x PIECE the bytes of a run file's hash) written between two looks for a stop. Each rank writes
#: into the folder MARKS how its sharded state write ended, and rank 0 whether its run file write was cut.
DRIVER_FILES = f"""
import sys
sys.path.insert(0, {MPI_SCRIPTS!r})
from two_rank_stops import hook_files
from dqsim.cli.main import main
hook_files(*sys.argv[1:4])
sys.exit(main(sys.argv[4:]))
"""


# ------------------------------------------------------------- the two-rank stops, their resumes in one launch

def two_rank_stop_cases(root: Path, tabulated_calls: dict) -> dict:
    """The two-rank stops of the tests of this file that resume on two ranks (and those of the shared-out trotter
    runs): ``{case: (hook, hook arguments, dqsim arguments, ranks of the resume)}``, the hooks those of
    tests/mpi_scripts/two_rank_stops.py (``call``: :data:`DRIVER`'s, ``waiting``: to rank 1 alone as it waits for
    rank 0's output write, ``files``: :data:`DRIVER_FILES`'s). A ``files`` case's marks go to the folder ``root/CASE-marks``, beside the
    case's own. The stops of the tests that resume on one rank only (``tabulated-NAME``: ``tabulated_calls[NAME]``
    is the call of the tabulating function to stop at; ``output-NAME``) are here too: one launch for all."""
    cases = {"fidelity": ("call", ["dqsim.scenarios.dqc:_fidelity_to_copy"], ["run", *DQC], 2)}
    for name, (args, module, function) in TABULATED.items():
        function = TABULATED_ON_RANK_1.get(name, function)
        cases[f"tabulated-{name}"] = ("call", [f"{module.__name__}:{function}:{tabulated_calls[name]}"],
                                      ["run", *args, *TWO_RANKS.get(name, [])], 1)
    for name in OUTPUT_WRITE_STOPS:
        cases[f"output-{name}"] = ("call", ["dqsim.cli.main:_cut_on_stop:2:0"], ["run", *TABULATED[name][0]], 1)
    for index, (mode, where, resume_ranks) in enumerate(SHARED_OUT_STOPS):
        cases[f"shared-{index}"] = (("waiting", []) if where == "waiting" else ("call", [where])) + (
            ["run", *SHARED_OUT[mode]], resume_ranks)
    cases["slabs-waiting"] = ("waiting", [], ["run", *SLABS], 2)
    hooks = {f"slabs-{phase}-{rank}": f"dqsim.io.sharded:{phase}:{rank}"
             for phase in ("write_slab_file", "_read_back_and_hash") for rank in (0, 1)}
    hooks["slabs-hash"] = "dqsim.io.writer:file_entry:0"
    for case, hook in hooks.items():  # pieces of 64 amplitudes (a hash's look every 1 KiB)
        cases[case] = ("files", [hook, "64", str(root / f"{case}-marks")], ["run", *SLABS], 2)
    return cases


@dataclass
class TwoRankStop:
    """A case of :func:`two_rank_stop_cases` as :func:`stopped_on_two_ranks` ran it."""

    folder: Path  #: its folder: ``ck/`` (checkpoints), ``resumed.h5`` (a resume on two ranks)
    stopped: subprocess.CompletedProcess  #: the stopped run: both ranks' exit status (alike) and stderr
    listing: list  #: the names in ``folder`` right after the stopped run
    resumes: subprocess.CompletedProcess | None  #: every resume on two ranks, as one process (:func:`resumes_of`; None: none)


def stopped_run(case: dict, launch: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """A case of tests/mpi_scripts/two_rank_stops.py as a process of its own: the exit status the two ranks
    returned alike (else -1), their stderr; the launch's status and stderr where a rank wrote no status."""
    statuses, stderr = [], ""
    for rank in (0, 1):
        status, err = Path(f"{case['out']}.rank{rank}.status"), Path(f"{case['out']}.rank{rank}.stderr")
        statuses.append(int(status.read_text()) if status.exists() else None)
        stderr += err.read_text() if err.exists() else ""
    if None in statuses:
        return subprocess.CompletedProcess(case["args"], launch.returncode, launch.stdout, stderr + launch.stderr)
    if statuses[0] != statuses[1]:
        return subprocess.CompletedProcess(case["args"], -1, "", f"{stderr}ranks' exit statuses differ: {statuses}")
    return subprocess.CompletedProcess(case["args"], statuses[0], "", stderr)


@pytest.fixture(scope="module")
def stopped_on_two_ranks(tmp_path_factory, uninterrupted):
    """Each case of :func:`two_rank_stop_cases` run on two ranks in a folder of its own, the cases one after another
    in one launch (tests/mpi_scripts/two_rank_stops.py: each stop returns status 75 from ``main()``), then, in the
    same launch, every checkpoint of a case that resumes on two ranks resumed (``python -m dqsim``'s entry point)
    as ``resumed.h5`` in the case's folder (:func:`resumes_of`): one interpreter start and import per rank for
    all, instead of one per case and resume (and, until 2026-12-07, a second launch for the resumes). The smaller
    jobs of :data:`TWO_RANKS` run here first without a stop (one rank, ``root/tabulated-NAME-full/full.h5``,
    :func:`tabulated_full`). Checks nothing: each test checks its case. ``{case: TwoRankStop}``."""
    import json

    root = tmp_path_factory.mktemp("two_rank_stops")
    for name in TWO_RANKS:  # a smaller job, run here without a stop too
        dqsim(["run", *TABULATED[name][0], *TWO_RANKS[name]], root / f"tabulated-{name}-full", "full.h5")
    calls = {name: last_call(name, tabulated_full(name, uninterrupted, root)) for name in TABULATED}
    cases = []
    for case, (hook, hook_args, args, resume_ranks) in two_rank_stop_cases(root, calls).items():
        folder = root / case
        folder.mkdir()
        if hook == "files":
            Path(hook_args[2]).mkdir()
        cases.append({"name": case, "hook": hook, "hook_args": hook_args, "resume_ranks": resume_ranks,
                      "folder": str(folder), "out": str(root / f"{case}-stop"), "resume": resume_ranks == 2,
                      "args": [*args, "-o", str(folder / "stopped.h5"), "--quiet", "--set",
                               f"checkpoint.directory=\"{folder / 'ck'}\""]})
    (root / "cases.json").write_text(json.dumps(cases))
    launch = run_mpi(2, ["tests/mpi_scripts/two_rank_stops.py", str(root / "cases.json")], timeout_s=840,
                     check=False)
    found = {}
    for case in cases:
        folder = Path(case["folder"])
        listing = Path(f"{case['out']}.listing.json")
        found[case["name"]] = (folder, stopped_run(case, launch), json.loads(listing.read_text())
                               if listing.exists() else sorted(path.name for path in folder.iterdir()))
    resumes = resumes_of(cases, launch)
    return {case: TwoRankStop(*found[case], resumes) for case in found}


def resumes_of(cases: list, launch: subprocess.CompletedProcess) -> subprocess.CompletedProcess | None:
    """The resumes tests/mpi_scripts/two_rank_stops.py ran after the stops as one process (the first status other
    than 0 of a rank, else 0; the launch's where a rank of a resume wrote none; every resume's stderr, then the
    launch's), or None where it ran none."""
    statuses, stderr, ran = [], "", False
    for case in cases:
        for rank in (0, 1):
            status, err = (Path(f"{case['out']}.rank{rank}.resume.{what}") for what in ("status", "stderr"))
            ran = ran or err.exists()
            stderr += err.read_text() if err.exists() else ""
            if err.exists():
                statuses.append(int(status.read_text()) if status.exists() else None)
    if not ran:
        return None
    code = (launch.returncode or -1) if None in statuses else next((s for s in statuses if s != 0), 0)
    return subprocess.CompletedProcess(launch.args, code, launch.stdout, stderr + launch.stderr)


def resumed_on_two_ranks(stop: TwoRankStop) -> Path:
    """The output of ``stop``'s checkpoint resumed on two ranks; every resume of that launch exited 0."""
    assert stop.resumes is not None and stop.resumes.returncode == 0, stop.resumes and stop.resumes.stderr
    return stop.folder / "resumed.h5"


def slabs_stopped_on_two_ranks_then_resumed(stop, saved_full):
    """The run of :data:`SLABS` on two ranks of ``stop`` (a :class:`TwoRankStop`): status 75, one checkpoint and no
    other file; its resume on two ranks (its state in slab files) equals the uninterrupted one-rank run's.
    Returns the resumed output."""
    assert stop.stopped.returncode == 75, stop.stopped.stderr
    [line] = stop.stopped.stderr.strip().splitlines()
    assert line.startswith("dqsim: checkpoint written to "), stop.stopped.stderr
    assert stop.listing == ["ck"]  # no output, slab or temporary
    [ckpt] = checkpoints(stop.folder / "ck")
    last_engine_run("dqc", ckpt, saved_full)
    resumed = open_run(resumed_on_two_ranks(stop))
    assert sorted(path.name for path in stop.folder.iterdir()) == [
        "ck", "resumed.h5", "resumed.h5.manifest.json", "resumed.slab0000.h5", "resumed.slab0001.h5"]
    assert resumed.attrs_of("state")["layout"] == "slabs"
    same_state(saved_full, resumed)
    same_run(saved_full, resumed, ignore=RANK_ATTRS | {"num_ranks", "exchange_path", "rank_of_node"})
    return resumed


def files_stopped_on_two_ranks_then_resumed(stop, saved_full) -> list:
    """:func:`slabs_stopped_on_two_ranks_then_resumed` of a :data:`DRIVER_FILES` stop; the lines the ranks of the
    stopped run wrote into their marks (the folder beside the stop's, see :func:`two_rank_stop_cases`)."""
    slabs_stopped_on_two_ranks_then_resumed(stop, saved_full)
    marks = stop.folder.parent / f"{stop.folder.name}-marks"
    return sorted(line for mark in marks.iterdir() for line in mark.read_text().splitlines())


@pytest.mark.parametrize("rank", [0, 1])
@pytest.mark.parametrize("phase", ["write_slab_file", "_read_back_and_hash"])
def test_a_sigterm_to_one_rank_while_every_rank_writes_the_state_cuts_the_write_and_checkpoints(stopped_on_two_ranks,
                                                                                               saved_full, phase,
                                                                                               rank):
    """Every rank writes its half of the state (1,024 amplitudes, looks every 64 of them): the signal that one
    rank alone gets as its slab's write or read-back starts is taken by both ranks at the next look, each
    removes its slab, and the finished engine run is checkpointed before rank 0 starts the run file."""
    lines = files_stopped_on_two_ranks_then_resumed(stopped_on_two_ranks[f"slabs-{phase}-{rank}"], saved_full)
    assert lines == ["rank 0: the state write ended by StateWriteCut", "rank 1: the state write ended by StateWriteCut"]


def test_a_sigterm_to_rank_0_while_it_hashes_the_run_file_for_its_manifest_cuts_before_the_rename(
        stopped_on_two_ranks, saved_full):
    """The run file is closed and hashed for the manifest before its rename (a look every 1 KiB of the hash
    here, one after the fsync): the signal in the hash abandons the file and both ranks' slabs."""
    lines = files_stopped_on_two_ranks_then_resumed(stopped_on_two_ranks["slabs-hash"], saved_full)
    assert lines == ["rank 0: the run file write cut: True"]


def test_a_stop_in_the_run_file_s_hash_for_its_manifest_cuts_the_write_between_pieces(tmp_path, monkeypatch,
                                                                                    saved_full):
    """One rank, the state gathered into the run file (32 KiB): the signal as the closed file's hash starts is
    taken at its next look (every 1 KiB): no output, no temporary file; the resume writes the whole file. (The
    hash reads HDF5's bytes around the state, whose digest was taken as it was written: ``parts_digests``.)"""
    monkeypatch.setattr(writer, "HASH_LOOK_BYTES", 1024)
    ended = sigterm_during(monkeypatch, writer, "parts_digests")
    original, looks = cli_main._cut_on_stop, []
    monkeypatch.setattr(cli_main, "_cut_on_stop", lambda task: (looks.append(len(ended)), original(task)))
    ckpt, resumed = stopped_then_resumed(tmp_path, SAVED)
    assert ended == ["_OutputCut"]  # the hash itself was cut ...
    # ... at its first look: after one before each table, one before the state and one once the file was closed
    assert looks.count(0) == len(saved_full.tables) + 3
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ck", "resumed.h5", "resumed.h5.manifest.json"]
    same_run(saved_full, resumed)
    same_state(saved_full, resumed)


def test_a_stop_while_one_rank_writes_its_state_slab_cuts_between_pieces_and_leaves_no_slab(tmp_path, monkeypatch,
                                                                                          saved_full):
    """One rank writes the whole state as its slab (2,048 amplitudes, a look every 256): cut at the look after
    the first piece; the resume writes the slab and run file again, equal to the uninterrupted run's."""
    from dqsim.io import sharded

    monkeypatch.setattr(sharded, "STATE_PIECE_AMPLITUDES", 256)
    ended = sigterm_during(monkeypatch, sharded, "write_slab_file")
    ckpt, resumed = stopped_then_resumed(tmp_path, SLABS)
    assert ended == ["_Abandoned"]  # the slab's write itself was cut, at a look between its pieces
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ck", "resumed.h5", "resumed.h5.manifest.json",
                                                                "resumed.slab0000.h5"]
    same_run(saved_full, resumed)
    same_state(saved_full, resumed)


# ------------------------------------------------------------- an earlier run's checkpoints of the job

def test_repro_an_earlier_run_s_later_checkpoints_go_at_the_new_run_s_first(tmp_path, monkeypatch, uninterrupted):
    """A run from the start left the earlier run's checkpoints beyond its own: the newest in the folder, which
    `dqsim resume`, --fall-back and the SLURM scripts would have taken. Now the folder holds the new run's only."""
    periodic = ["--set", "checkpoint.every_sim_s=0.0001", "--set", "checkpoint.keep=100"]
    dqsim(["run", *QKD, *periodic], tmp_path, "first.h5")
    earlier = checkpoints(tmp_path / "ck")
    assert len(earlier) >= 3
    monkeypatch.setattr(checkpoint, "_STOP", {"requested": True})  # a stop before the new run's first cut
    stopped = dqsim(["run", *QKD, *periodic], tmp_path, "second.h5", check=False)
    assert stopped.returncode == 75, stopped.stderr
    assert (f"already holds checkpoints of this job (the newest: {earlier[-1]}" in stopped.stderr
            and "removes them when it writes its first checkpoint" in stopped.stderr)
    [own] = checkpoints(tmp_path / "ck")
    assert own not in earlier and own.name < earlier[0].name
    assert sorted(path.name for path in (tmp_path / "ck").iterdir()) == sorted([own.name,
                                                                               checkpoint.manifest_path(own).name])
    monkeypatch.setattr(checkpoint, "_STOP", {"requested": False})
    dqsim(["resume", str(own)], tmp_path, "resumed.h5")
    same_tables(uninterrupted["qkd"], open_run(tmp_path / "resumed.h5"), ["blocks", "links", "end_to_end"])


def test_a_resume_of_an_older_checkpoint_names_the_later_ones_it_removes(tmp_path, monkeypatch):
    dqsim(["run", *QKD, "--set", "checkpoint.every_sim_s=0.0001", "--set", "checkpoint.keep=100"], tmp_path, "a.h5")
    first = checkpoints(tmp_path / "ck")
    monkeypatch.setattr(checkpoint, "_STOP", {"requested": True})
    stopped = dqsim(["resume", str(first[1])], tmp_path, "b.h5", check=False)
    assert stopped.returncode == 75
    assert stopped.stderr.splitlines()[0] == (
        f"dqsim: note: {tmp_path / 'ck'} holds {len(first) - 2} checkpoints of this job later than the one resumed "
        f"(up to {first[-1].name}); this run removes them when it writes its first checkpoint")
    # stopped before any event: the resumed checkpoint stays as it is and stands for the run's first; the line says
    # that nothing new was written (until 2026-12-07 (late night) "checkpoint written to" the resumed one)
    assert stopped.stderr.strip().splitlines()[-1] == (
        f"dqsim: stopped before the resumed run went past its checkpoint: no new checkpoint written; {first[1]} still "
        f"continues it: dqsim resume {first[1]}")
    assert checkpoints(tmp_path / "ck") == first[:2]
    assert checkpoint.kept_unwritten() is None  # forgotten once the command ended: the next run's stop is its own


# ------------------------------------------------------------- one run of a job at a time in a folder

def prefix_of(args) -> str:
    shown = run_here(["check", *args])
    return next(line.split(": ")[1].split()[0] for line in shown.stdout.splitlines()
                if line.startswith("# checkpoint prefix:"))


def test_a_second_run_of_the_job_in_the_same_folder_is_refused_while_the_first_holds_it(tmp_path, monkeypatch,
                                                                                         uninterrupted):
    (tmp_path / "ck").mkdir()
    lock = tmp_path / "ck" / f".{prefix_of(QKD)}.lock"
    monkeypatch.setattr(checkpoint, "LOCK_WAIT_S", 0.5)  # how long a run waits for the lock before it is refused
    with open(lock, "w") as held:  # another run of the job (the kernel's lock, as dqsim takes it)
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("pid 4242 on node7, since 2026-12-05 09:00:00 UTC\n")
        held.flush()
        periodic = ["--set", "checkpoint.every_sim_s=0.0001"]
        refused = dqsim(["run", *QKD, *periodic], tmp_path, "second.h5", check=False)
        assert refused.returncode == 2
        [line] = refused.stderr.strip().splitlines()
        assert "another dqsim run of this job" in line and "pid 4242 on node7" in line
        assert not checkpoints(tmp_path / "ck")
        # a run that writes no periodic checkpoints needs no folder: it runs, and touches nothing there ...
        dqsim(["run", *QKD], tmp_path, "plain.h5")
        # ... but a stop signal's checkpoint it does not write there either
        monkeypatch.setattr(checkpoint, "_STOP", {"requested": True})
        refused = dqsim(["run", *QKD], tmp_path, "stopped.h5", check=False)
        monkeypatch.setattr(checkpoint, "_STOP", {"requested": False})
        assert refused.returncode == 2 and "another dqsim run of this job is using its checkpoints" in refused.stderr
        assert "the run stops as the signal asked, without it" in refused.stderr
        assert not checkpoints(tmp_path / "ck")
    # given back (its file left behind, as after a SIGKILL): the job runs, and removes the file as it lets go
    assert lock.exists()
    dqsim(["run", *QKD, *periodic], tmp_path, "after.h5")
    assert not lock.exists()
    # a run that is ending (a killed run's ranks take a moment): the next one waits for it
    monkeypatch.setattr(checkpoint, "LOCK_WAIT_S", 10.0)
    held = open(lock, "w")
    fcntl.flock(held, fcntl.LOCK_EX)
    threading.Timer(1.0, held.close).start()
    started = time.monotonic()
    dqsim(["run", *QKD, *periodic], tmp_path, "waited.h5")
    assert 0.9 < time.monotonic() - started
    dqsim(["run", *QKD, *periodic], tmp_path, "again.h5")
    same_tables(uninterrupted["qkd"], open_run(tmp_path / "again.h5"), ["blocks", "links", "end_to_end"])


def test_repro_a_stop_at_the_cut_just_written_leaves_that_checkpoint_as_it_is(tmp_path, monkeypatch, uninterrupted):
    """A stop seen at the exchange right after a periodic checkpoint, no event run since, cuts there again: the
    checkpoint was removed and written again (with keep = 1 a kill in between left none). Now it stays."""
    original, seen = checkpoint.Checkpointer.write, []

    def write(self, sim, window_end_ps, *, stop=False):
        path = original(self, sim, window_end_ps, stop=stop)
        if not seen and path is not None:
            before = (path.stat().st_mtime_ns, checkpoint.manifest_path(path).read_bytes())
            again = original(self, sim, window_end_ps, stop=True)
            seen.append((path, again, before, (path.stat().st_mtime_ns, checkpoint.manifest_path(path).read_bytes())))
        return path

    monkeypatch.setattr(checkpoint.Checkpointer, "write", write)
    dqsim(["run", *QKD, "--set", "checkpoint.every_sim_s=0.0001", "--set", "checkpoint.keep=1"], tmp_path, "out.h5")
    [(path, again, before, after)] = seen
    assert again == path and after == before
    same_tables(uninterrupted["qkd"], open_run(tmp_path / "out.h5"), ["blocks", "links", "end_to_end"])


def test_repro_a_stop_of_a_run_without_periodic_checkpoints_takes_the_lock_of_the_folder_it_creates(tmp_path,
                                                                                                     monkeypatch):
    """A run that writes no periodic checkpoints and whose folder did not exist took no lock: a stop then wrote
    its checkpoint beside another run of the job that had made the folder since and held the lock. Now the
    stop's checkpoint creates the folder and takes the lock first; the run creates no folder otherwise."""
    dqsim(["run", *QKD], tmp_path / "plain", "full.h5")  # the reference: no stop, no folder
    assert not (tmp_path / "plain" / "ck").exists()
    prefix = prefix_of(QKD)
    monkeypatch.setattr(checkpoint, "LOCK_WAIT_S", 0.5)
    folder = tmp_path / "held" / "ck"
    lock = checkpoint.lock_path(folder, prefix)
    original, holders = checkpoint.Checkpointer.requested, []

    def requested(self):  # the first look: another run of the job has made the folder and holds it since
        if not holders:
            folder.mkdir(parents=True)
            holders.append(open(lock, "w"))
            fcntl.flock(holders[0], fcntl.LOCK_EX)
            holders[0].write("pid 4242 on node7, since 2026-12-05 09:00:00 UTC\n")
            holders[0].flush()
            checkpoint._STOP["requested"] = True
        return original(self)

    monkeypatch.setattr(checkpoint.Checkpointer, "requested", requested)
    try:
        refused = dqsim(["run", *QKD], tmp_path / "held", "stopped.h5", check=False)
        assert refused.returncode == 2, refused.stderr
        [line] = refused.stderr.strip().splitlines()
        assert "another dqsim run of this job is using its checkpoints" in line and "pid 4242 on node7" in line
        assert "the run stops as the signal asked, without it" in line
        assert sorted(path.name for path in folder.iterdir()) == [lock.name]  # nothing of the stopped run's
        assert checkpoint.lock_holder(folder, prefix) == "pid 4242 on node7, since 2026-12-05 09:00:00 UTC"
    finally:
        for held in holders:
            held.close()
    monkeypatch.undo()
    # nobody holds it: the stop's checkpoint creates the folder and writes there holding the lock, given back after
    folder, seen = tmp_path / "free" / "ck", []
    write_rank0 = checkpoint.Checkpointer._write_rank0

    def hooked(self, *args, **kwargs):
        seen.append(checkpoint.lock_holder(folder, prefix))
        return write_rank0(self, *args, **kwargs)

    monkeypatch.setattr(checkpoint.Checkpointer, "_write_rank0", hooked)
    monkeypatch.setattr(checkpoint, "_STOP", {"requested": True})
    stopped = dqsim(["run", *QKD], tmp_path / "free", "stopped.h5", check=False)
    monkeypatch.undo()
    assert stopped.returncode == 75, stopped.stderr
    [holder] = seen
    assert holder is not None and holder.startswith(f"pid {os.getpid()} on ")
    [ckpt] = checkpoints(folder)
    assert not checkpoint.lock_path(folder, prefix).exists()  # given back (removed) at the end
    dqsim(["resume", str(ckpt)], tmp_path / "free", "resumed.h5")
    same_run(open_run(tmp_path / "plain" / "full.h5"), open_run(tmp_path / "free" / "resumed.h5"),
             ignore=RANK_ATTRS)


def test_a_stop_s_checkpoint_replaces_those_another_run_wrote_before_its_cut_and_keeps_those_further_along(
        tmp_path, monkeypatch):
    """The folder appeared with another run's checkpoints of the job while this one (no periodic checkpoints)
    ran: its stop's checkpoint supersedes those at or before its cut (they go, with a warning), and those
    further along stay (a warning names the newest): the same job reaches them, so resuming them loses less."""
    dqsim(["run", *QKD, "--set", "checkpoint.every_sim_s=0.0001", "--set", "checkpoint.keep=100"],
          tmp_path / "other", "other.h5")
    theirs = checkpoints(tmp_path / "other" / "ck")
    assert len(theirs) > 6
    folder = tmp_path / "late" / "ck"
    original, looks = checkpoint.Checkpointer.requested, []

    def requested(self):  # the other run's files are there from the first look, its lock given back
        looks.append(1)
        if not folder.exists():
            shutil.copytree(tmp_path / "other" / "ck", folder)
        if len(looks) == 4:
            checkpoint._STOP["requested"] = True
        return original(self)

    monkeypatch.setattr(checkpoint.Checkpointer, "requested", requested)
    stopped = dqsim(["run", *QKD], tmp_path / "late", "stopped.h5", check=False)
    monkeypatch.undo()
    assert stopped.returncode == 75, stopped.stderr
    left = checkpoints(folder)
    [own] = [path for path in left if path.name not in {mine.name for mine in theirs}]
    cut = checkpoint.parse_checkpoint_name(own)["window_end_ps"]
    behind = [path for path in theirs if checkpoint.parse_checkpoint_name(path)["window_end_ps"] <= cut]
    ahead = [path for path in theirs if checkpoint.parse_checkpoint_name(path)["window_end_ps"] > cut]
    assert behind and ahead  # the test's premise: the stop fell between the other run's checkpoints
    assert sorted(path.name for path in left) == sorted([own.name, *(path.name for path in ahead)])
    warnings = [line for line in stopped.stderr.splitlines() if line.startswith("dqsim: warning:")]
    assert warnings[:2] == [
        f"dqsim: warning: {folder} holds {len(behind)} checkpoints of this job that another run wrote after this "
        f"one started (the newest: {behind[-1].name}); this checkpoint replaces them",
        f"dqsim: warning: {folder} holds {len(ahead)} checkpoints of this job further along than this one that "
        f"another run wrote after this one started; they are kept: dqsim resume {folder / ahead[-1].name} goes "
        "on from the newest"]
    dqsim(["resume", str(own)], tmp_path / "late", "from_own.h5")
    same_run(open_run(tmp_path / "other" / "other.h5"), open_run(tmp_path / "late" / "from_own.h5"),
             ignore=RANK_ATTRS)
