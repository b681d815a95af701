"""Snapshot checkpoints (QKD): the engine state is saved and a resumed run recomputes nothing.

In-process runs (one rank) of the command line: the number of pulse batches
Alice generates after a resume counts the work redone, and must be exactly the
batches after the checkpoint.
"""

import math
import pickle
import time
from pathlib import Path

import h5py
import pytest

from dqsim.cli.main import main
from dqsim.io import open_run
from dqsim.protocols.qkd import nodes as qkd_nodes
from mpi_helper import ROOT
from run_files import checkpoints, node_record_bytes, saved_node_indices, same_tables

BB84 = ["--set", "qkd.pulses=2000000", "--set", "qkd.batch_pulses=200000", "--set", "qkd.block_pulses=1000000"]


def counting(monkeypatch, name):
    """Count calls of the QKD node processes' ``name`` (a batch generator)."""
    calls = []
    original = getattr(qkd_nodes, name)

    def counted(*args, **kwargs):
        calls.append(kwargs.get("start_pulse", kwargs.get("start_pair", args[3] if len(args) > 3 else None)))
        return original(*args, **kwargs)

    monkeypatch.setattr(qkd_nodes, name, counted)
    return calls


def run_with_checkpoints(tmp_path, job, extra, every_s):
    out = tmp_path / "full.h5"
    code = main(["run", str(ROOT / "jobs" / job), "-o", str(out), "--quiet", *extra,
                 "--set", f"checkpoint.every_sim_s={every_s}", "--set", f"checkpoint.directory=\"{tmp_path / 'ck'}\"",
                 "--set", "checkpoint.keep=100"])
    assert code == 0
    return out, checkpoints(tmp_path / "ck")


def saved_process(path, node):
    """The first resumable process saved for ``node`` in a snapshot checkpoint."""
    record = pickle.loads(node_record_bytes(path, node))
    return record["processes"][0].process


def saved_processes(path, node):
    """Every resumable process saved for ``node`` in a snapshot checkpoint, not ended (a QKD node's source or
    detector first, then its key blocks' post-processing, since 2026-12-06)."""
    record = pickle.loads(node_record_bytes(path, node))
    return [h.process for h in record["processes"] if h.process is not None and not h.done]


def resume(path, out):
    assert main(["resume", str(path), "-o", str(out), "--quiet"]) == 0
    return open_run(out)


def test_bb84_resume_redoes_no_batch(tmp_path, monkeypatch):
    full, ckpts = run_with_checkpoints(tmp_path, "bb84_decoy_50km.toml", BB84, 0.0005)
    assert len(ckpts) >= 3
    middle = ckpts[len(ckpts) // 2]
    calls = counting(monkeypatch, "detect_batch")  # the default sampling: Bob draws each batch's detections
    resumed = resume(middle, tmp_path / "resumed.h5")
    same_tables(open_run(full), resumed, ["blocks", "links", "end_to_end", "timeline"])
    # Bob's saved state says how many of the 10 batches he had detected; only the others are drawn again.
    bob = saved_process(middle, node=1)
    assert 0 < bob.batch < 10
    assert calls == [200_000 * i for i in range(bob.batch, 10)]


def test_bb84_per_pulse_resume_redoes_no_batch(tmp_path, monkeypatch):
    full, ckpts = run_with_checkpoints(tmp_path, "bb84_decoy_50km.toml", BB84 + ["--set", "qkd.sampling=\"pulses\""],
                                       0.0005)
    middle = ckpts[len(ckpts) // 2]
    calls = counting(monkeypatch, "alice_batch")
    resumed = resume(middle, tmp_path / "resumed.h5")
    same_tables(open_run(full), resumed, ["blocks", "links", "end_to_end", "timeline"])
    # Alice's saved state says how many of the 10 batches she had sent; only the others are made again.
    alice = saved_process(middle, node=0)
    assert 0 < alice.batch < 10
    # since 2026-12-06 a batch is drawn a segment (2^18 pulses) at a time: the pieces start at the first batch
    # not sent and are the segments of the batches from there on, none before
    segments = sorted({200_000 * i for i in range(alice.batch, 10)} | {s for s in range(0, 2_000_000, 1 << 18)
                                                                     if s > 200_000 * alice.batch})
    assert calls == segments, (alice.batch, calls)


def test_a_sweep_resumes_in_its_last_distance_without_redoing_the_others(tmp_path, monkeypatch):
    extra = ["--set", "qkd.pulses=400000", "--set", "qkd.batch_pulses=100000",
             "--set", "qkd.sweep.distances_km=[10, 20, 30]"]
    full, ckpts = run_with_checkpoints(tmp_path, "bb84_distance_sweep.toml", extra, 0.0001)
    last_run = [p for p in ckpts if open_run(p).attrs["engine_run"] == 2]
    assert last_run, "no checkpoint was written during the third distance"
    calls = counting(monkeypatch, "detect_batch")
    resumed = resume(last_run[0], tmp_path / "resumed.h5")
    same_tables(open_run(full), resumed, ["blocks", "sweep", "end_to_end"])
    bob = saved_process(last_run[0], node=1)  # only batches of the third distance after its checkpoint
    assert calls == [100_000 * i for i in range(bob.batch, 4)]


@pytest.mark.parametrize("job", ["bbm92_20km.toml", "e91_chsh.toml"])
@pytest.mark.parametrize("postprocessing", [[], ["--set", 'qkd.error_correction="cascade"', "--set",
                                                 'qkd.security="finite_key"']], ids=["model", "cascade-finite-key"])
def test_entanglement_based_qkd_resumes_to_the_same_key(tmp_path, job, postprocessing):
    """Resumed from the middle checkpoint: with Cascade (its rounds' classical round trips are most of the simulated
    time) a checkpoint every 1 ms, 17-24 of them, the middle one inside Cascade (every 0.2 ms: 83-100, ~1 s CPU
    more each); without it every 0.2 ms (10-14)."""
    extra = ["--set", "qkd.pulses=1000000", "--set", "qkd.batch_pulses=100000", *postprocessing]
    full, ckpts = run_with_checkpoints(tmp_path, job, extra, 0.001 if postprocessing else 0.0002)
    assert len(ckpts) >= 5, len(ckpts)
    if postprocessing:
        assert any(p.phase == "cascade" for p in saved_processes(ckpts[len(ckpts) // 2], node=1))
    resumed = resume(ckpts[len(ckpts) // 2], tmp_path / "resumed.h5")
    same_tables(open_run(full), resumed, ["blocks", "links"])
    assert open_run(full).attrs.get("chsh_s") == resumed.attrs.get("chsh_s")


def test_e91_finite_key_resumes_after_a_keyed_block(tmp_path):
    """E91's finite-key blocks (ChshFiniteKeyResult, the CHSH bound) go through a checkpoint: a resume from one
    written after a block was keyed gives the same tables."""
    extra = ["--set", "qkd.pulses=1000000", "--set", "qkd.batch_pulses=100000", "--set", "qkd.block_pulses=300000",
             "--set", 'qkd.security="finite_key"']
    full, ckpts = run_with_checkpoints(tmp_path, "e91_chsh.toml", extra, 0.0002)
    keyed = [path for path in ckpts if saved_process(path, node=0).tally.blocks]
    assert keyed, "no checkpoint was written after a block was keyed"
    resumed = resume(keyed[len(keyed) // 2], tmp_path / "resumed.h5")
    same_tables(open_run(full), resumed, ["blocks", "links", "block_sizes"])


def test_repro_a_resume_inside_cascade_sends_no_parity_message_twice(tmp_path):
    """Bob sent each Cascade round's parity message before the phase's ``yield``, so a run resumed at that
    ``yield`` sent it again: Alice answered twice, the rounds ended early and ``time_key_ps`` came out short
    (by up to 2 s of 24.5 s of simulated time, on 88 of 100 checkpoints of this run)."""
    extra = BB84 + ["--set", 'qkd.error_correction="cascade"']
    full, ckpts = run_with_checkpoints(tmp_path, "bb84_decoy_50km.toml", extra, 0.0005)
    inside = [path for path in ckpts if any(p.phase == "cascade" for p in saved_processes(path, node=1))]
    assert inside, "no checkpoint was written during Cascade's rounds"
    resumed = resume(inside[len(inside) // 2], tmp_path / "resumed.h5")
    same_tables(open_run(full), resumed, ["blocks", "links", "end_to_end"])
    assert resumed.attrs["engine_messages"] == open_run(full).attrs["engine_messages"]


def test_a_damaged_engine_record_is_a_one_line_error(tmp_path, capsys):
    _full, ckpts = run_with_checkpoints(tmp_path, "bb84_decoy_50km.toml", BB84, 0.0005)
    target = ckpts[1]
    with h5py.File(target, "r+") as h5:  # a byte in the middle of node 1's record
        row = next(row for row in h5["engine/node_index"][()] if row["node"] == 1)
        h5["engine/node_records"][row["offset"] + row["size"] // 2] ^= 0x01
    capsys.readouterr()
    assert main(["resume", str(target), "-o", str(tmp_path / "x.h5"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "damaged" in err[0] and target.name in err[0]  # found by the manifest, before HDF5


DQC = ["--set", "simulation.store_shots=true", "--set", "circuit.generator=\"random\"", "--set", "circuit.depth=8",
       "--set", "distribution.assignment=[0, 0, 1, 1, 2, 2, 3, 3]"]


def saved_record(path, name):
    """A pickled record of a checkpoint (``name``: a table's, or a node's index); shared objects (the DQC network)
    come back as placeholders."""
    import io as bytes_io

    from dqsim.engine.checkpoint import _Unpickler

    data = node_record_bytes(path, name) if isinstance(name, int) else open_run(path).table(name).tobytes()
    return _Unpickler(bytes_io.BytesIO(data), ["<shared>"] * 8).load()


def test_dqc_resume_redoes_no_quantum_operation(tmp_path, monkeypatch):
    """The node programs are resumable processes (no step log); the state work is not redone."""
    import dqsim.engine.simulator as simulator

    applied = []
    original, original_local = simulator.apply_qop, simulator.apply_local_op
    monkeypatch.setattr(simulator, "apply_qop", lambda *a, **kw: applied.append(1) or original(*a, **kw))
    monkeypatch.setattr(simulator, "apply_local_op", lambda *a: applied.append(1) or original_local(*a))
    full, ckpts = run_with_checkpoints(tmp_path, "dqc_ghz_4qpu.toml", DQC, 0.0005)
    total = len(applied)
    middle = ckpts[len(ckpts) // 2]
    node = saved_record(middle, 1)
    live = [h for h in node["processes"] if not h.done]
    assert live and all(h.process is not None and h.log is None for h in live)  # resumable, no step log
    assert "comm_pool" in node["data"]
    done_before = saved_record(middle, "engine/shared")["stats"]["num_quantum_ops"]
    applied.clear()
    resumed = resume(middle, tmp_path / "resumed.h5")
    assert 0 < len(applied) < total and len(applied) + done_before == total
    a = open_run(full)
    same_tables(a, resumed, ["shots", "links", "counts"])
    assert a.attrs["fidelity"] == resumed.attrs["fidelity"]


#: Noisy hardware with gate and measurement durations: every random draw of the node programs (EPR attempts,
#: gate and readout errors) and waits in every kind of stage.
NOISY = ["--set", "network.link.source_fidelity=0.95", "--set", "network.node.gate_2q_error_probability=0.01",
         "--set", "network.node.gate_1q_error_probability=0.005",
         "--set", "network.node.measure_error_probability=0.01",
         "--set", "network.node.gate_1q_duration_ps=1000", "--set", "network.node.gate_2q_duration_ps=5000",
         "--set", "network.node.measure_duration_ps=20000", "--set", "network.node.t2_s=0.01",
         "--set", "network.node.t1_s=0.02"]

DQC_CUTS = {
    # 8 qubits on 4 QPUs of a line: nonlocal gates between neighbours and, swapped, between distant QPUs
    "telegate": ("dqc_ghz_4qpu.toml", [*DQC, *NOISY], 0.0005, ["shots", "links", "counts", "timeline"]),
    "teledata": ("dqc_ghz_4qpu.toml", [*DQC, *NOISY, "--set", "distribution.scheme=\"teledata\""], 0.0006,
                 ["shots", "links", "counts", "timeline"]),
    # mid-circuit measurements, a reset and `if` blocks on bits measured on other QPUs: an engine run per shot
    "dynamic-if": ("dqc_teleport_feedforward.toml", ["--set", "simulation.shots=3", *NOISY], 0.0002,
                   ["shots", "links", "counts", "timeline"]),
}


@pytest.mark.parametrize("case", list(DQC_CUTS))
def test_a_dqc_run_resumed_at_cuts_spread_over_it_ends_as_the_uninterrupted_run_and_replays_nothing(tmp_path,
                                                                                                  monkeypatch, case):
    """The DQC node programs are resumable: a checkpoint holds their place in their steps and the part they wait
    in (an EPR pair's end, a TeleGate or teleportation side, a free communication qubit, a swap, a classical
    bit), with no step log, and a run resumed at every third cut gives the uninterrupted run's shots, links,
    counts, timeline and fidelity bit for bit, beginning again exactly the stages the uninterrupted run began
    at or after the cut (none before it)."""
    import dqsim.protocols.distributed as distributed

    job, extra, every_s, tables = DQC_CUTS[case]
    begun = []
    original = distributed.NodeProgram._begin

    def counted(self, ctx, step, stage):
        begun.append((ctx.node, ctx.now_ps, step.index, stage))
        return original(self, ctx, step, stage)

    monkeypatch.setattr(distributed.NodeProgram, "_begin", counted)
    full, ckpts = run_with_checkpoints(tmp_path, job, extra, every_s)
    a = open_run(full)
    in_full = list(begun)
    assert len(ckpts) >= 9, len(ckpts)
    saved = set()
    for path in ckpts:
        for node in saved_node_indices(path):
            record = saved_record(path, node)
            assert all(h.process is not None and h.log is None for h in record["processes"])  # no plain process
            saved.update((type(h.process).__name__, type(getattr(h.process, "part", None)).__name__)
                         for h in record["processes"] if h.started and not h.done)
    waits_in = {part for name, part in saved if name == "NodeProgramProcess"}
    assert {"EntangleEnd", "EprInitiator"} <= waits_in, saved
    assert waits_in & {"TeleGateControl", "TeleGateTarget", "TeleportReceive", "ReceiveBits", "MeasureBit"}, saved
    if case == "teledata":  # the return pair, requested at the gate's start, is made by a process of its own
        assert "AwaitPair" in waits_in and "PairEndProcess" in {name for name, _part in saved}, saved
    if case != "dynamic-if":
        assert {"SwapperProcess", "SwapLinkProcess"} <= {name for name, _part in saved}, saved
    for index, path in enumerate(ckpts[::3] + ckpts[-1:]):
        begun.clear()
        resumed = resume(path, tmp_path / f"resumed{index}.h5")
        same_tables(a, resumed, tables)
        assert a.attrs["fidelity"] == resumed.attrs["fidelity"] or math.isnan(a.attrs["fidelity"])
        assert a.attrs["simulated_time_ps"] == resumed.attrs["simulated_time_ps"]
        cut = open_run(path).attrs
        if a.attrs["trajectories"] == 1:
            assert sorted(begun) == sorted(entry for entry in in_full if entry[1] >= cut["window_end_ps"])


@pytest.mark.parametrize("job, module, runner, tables, extra, every_s", [
    ("ising_trotter_4qpu.toml", "trotter", "run_dqc", ["observables", "network"],
     ["--set", "evolution.num_points=4", "--set", "simulation.trajectories=1", "--set", "simulation.shots=100"],
     0.001),
    ("dqc_ghz_4qpu.toml", "dqc", "run_dqc", ["links", "counts"],
     ["--set", "simulation.trajectories=3", "--set", "simulation.shots=30"], 0.0001),
    ("cloud_queue.toml", "cloud", "run_dqc", ["jobs"], [], 0.0001),
    ("cloud_queue.toml", "cloud", "run_dqc", ["jobs", "counts"],
     ["--set", "network.link.source_fidelity=0.9", "--set", "simulation.trajectories=3"], 0.0002),
    ("repeater_chain.toml", "repeater", "run_chain", ["pairs", "summary"], ["--set", "chain.num_pairs=4"], 2.0),
])
def test_multi_run_scenarios_resume_without_redoing_finished_runs(tmp_path, monkeypatch, job, module, runner, tables,
                                                                 extra, every_s):
    """Trotter (an engine run per time point), dqc (per trajectory), cloud (per user job; on noisy links per
    trajectory of each user job), repeater (per configuration). Checkpoints every ``every_s`` of simulated
    time: a few in each engine run (the repeater's configurations run for seconds each; the trotter's points
    for ~1 ms): 15, 15 and 39 checkpoints for the trotter, noisy cloud and repeater runs (they were 30, 37 and 67,
    at half the period: ~1 s CPU more each)."""
    import importlib

    scenario = importlib.import_module(f"dqsim.scenarios.{module}")
    started = []
    original = getattr(scenario, runner)
    monkeypatch.setattr(scenario, runner, lambda *a, **k: started.append(1) or original(*a, **k))
    full, ckpts = run_with_checkpoints(tmp_path, job, extra, every_s)
    total = len(started)
    later = [p for p in ckpts if open_run(p).attrs["engine_run"] >= 2]
    assert later, "no checkpoint after the second engine run"
    index = open_run(later[0]).attrs["engine_run"]
    started.clear()
    resumed = resume(later[0], tmp_path / "resumed.h5")
    assert len(started) == total - index  # the interrupted run and those after it
    same_tables(open_run(full), resumed, tables)


REPEATER = ["--set", "chain.num_links=[2]", "--set", "chain.total_distance_km=[40.0]", "--set",
            "chain.num_pairs=5", "--set", "chain.swapping=\"nested\"", "--set", "chain.purification_rounds=1",
            "--set", "chain.cutoff_s=0.002"]


def test_a_repeater_chain_resumes_mid_run_with_its_restarts_and_fidelities(tmp_path):
    """Nested swapping, pumping and cut-off restarts: node bookkeeping and probe fidelities are saved."""
    full, ckpts = run_with_checkpoints(tmp_path, "repeater_chain.toml", REPEATER, 0.002)
    a = open_run(full)
    assert a.attrs["total_restarts"] > 0, "pick a cut-off that makes restarts"
    middle = ckpts[len(ckpts) // 2]
    shared = saved_record(middle, "engine/shared")
    assert shared["memory"]["probes"], "no pair delivered before the checkpoint"
    resumed = resume(middle, tmp_path / "resumed.h5")
    same_tables(a, resumed, ["pairs", "summary"])


def test_a_circuit_job_with_a_simulated_time_period_says_so(tmp_path, capsys):
    code = main(["run", str(ROOT / "jobs" / "quickstart.toml"), "-o", str(tmp_path / "x.h5"), "--quiet",
                 "--set", "checkpoint.every_sim_s=60"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "has no simulated time" in err[0] and "every_wall_s" in err[0]


def test_repro_a_resumed_run_file_names_the_job_file_and_its_options_as_the_uninterrupted_one(tmp_path):
    """A resume wrote ``job_path = ""`` and listed ``run.output`` twice (the run's ``-o`` and the resume's)."""
    full, ckpts = run_with_checkpoints(tmp_path, "bb84_decoy_50km.toml", BB84, 0.0005)
    moved = full.rename(tmp_path / "uninterrupted.h5")
    resumed = resume(ckpts[len(ckpts) // 2], full)  # the same -o as the run
    assert resumed.attrs["job_path"] == open_run(moved).attrs["job_path"] == str(ROOT / "jobs" / "bb84_decoy_50km.toml")
    assert resumed.attrs["overrides"] == open_run(moved).attrs["overrides"]
    assert sum('run.output' in item for item in resumed.attrs["overrides"]) == 1


def test_repro_a_run_resumed_from_another_folder_checkpoints_beside_the_resumed_checkpoint(tmp_path, monkeypatch):
    """``[checkpoint].directory`` is relative to where dqsim starts: resumed from another folder, the run wrote
    its checkpoints into a new folder there, where ``keep`` did not see the old ones nor a resume the new."""
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(ROOT / "jobs" / "bb84_decoy_50km.toml"), "-o", "full.h5", "--quiet", *BB84,
                 "--set", "checkpoint.every_sim_s=0.0005", "--set", "checkpoint.keep=2"]) == 0
    ckpts = checkpoints(tmp_path / "checkpoints")  # the default folder, relative
    assert len(ckpts) == 2
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    resumed = resume(Path("..") / "checkpoints" / ckpts[0].name, "resumed.h5")
    same_tables(open_run(tmp_path / "full.h5"), resumed, ["blocks", "links", "end_to_end", "timeline"])
    assert not (elsewhere / "checkpoints").exists()
    assert checkpoints(tmp_path / "checkpoints") == ckpts  # rewritten after the resumed one, keep = 2


def test_repro_a_stop_on_one_rank_is_seen_within_a_second_when_events_are_slow(tmp_path, monkeypatch):
    """One rank ran 1,024 events between looks at a stop request: with slow events (a QKD batch of 10^7 pulses
    takes ~0.1 s) a SIGTERM waited ~30 s, and the run often finished instead of checkpointing. Now the
    run looks at a stop request between any two instants of an iteration and writes the checkpoint at the first
    cut (before 2026-12-06: iterations halved their budget while they took over a second)."""
    from dqsim.engine import checkpoint as checkpoint_mod

    calls = []
    original = qkd_nodes.detect_batch

    def slow(*args, **kwargs):  # 5 ms a batch; the signal comes at the 50th of 400
        calls.append(1)
        if len(calls) == 50:
            checkpoint_mod.request_stop()
        time.sleep(0.005)
        return original(*args, **kwargs)

    monkeypatch.setattr(qkd_nodes, "detect_batch", slow)
    monkeypatch.setattr(checkpoint_mod, "_STOP", {"requested": False})
    code = main(["run", str(ROOT / "jobs" / "bb84_decoy_50km.toml"), "-o", str(tmp_path / "o.h5"), "--quiet",
                 "--set", "qkd.pulses=400000", "--set", "qkd.batch_pulses=1000", "--set", "qkd.block_pulses=200000",
                 "--set", f"checkpoint.directory=\"{tmp_path / 'ck'}\""])
    assert code == 75 and len(checkpoints(tmp_path / "ck")) == 1  # stopped with a checkpoint, not finished
    # the batches after the request: those of its instant at most (seen between two instants; until 2026-12-06
    # at the iteration's end, up to 200 here)
    assert len(calls) <= 50 + 2, len(calls)


def test_repro_a_stop_right_after_a_resume_keeps_the_resumed_checkpoint_as_it_is(tmp_path, monkeypatch):
    """A stop asked before the resumed run ran an event cut 1 ps after the last event run, before the resumed
    (periodic) cut, and wrote the resumed state again under that earlier name; at the resumed cut itself the
    checkpoint was deleted and written again (with keep = 1 a kill in between left none). Now the cut is never
    before the resumed one, and there the checkpoint is left as it is."""
    from dqsim.engine import checkpoint as checkpoint_mod

    full, ckpts = run_with_checkpoints(tmp_path, "bb84_decoy_50km.toml", BB84, 0.0005)
    resumed = ckpts[2]
    written = (resumed.stat().st_mtime_ns, checkpoint_mod.manifest_path(resumed).read_bytes())
    time.sleep(0.01)
    for _again in range(2):
        monkeypatch.setattr(checkpoint_mod, "_STOP", {"requested": True})  # a SIGTERM as the resume starts
        assert main(["resume", str(resumed), "-o", str(tmp_path / "r.h5"), "--quiet"]) == 75
        # no copy under an earlier name; the later ones were the first run's, beyond where this one started:
        # removed as at its first checkpoint, which the resumed one stands for
        assert len(ckpts) > 3 and checkpoints(tmp_path / "ck") == ckpts[:3]
        assert (resumed.stat().st_mtime_ns, checkpoint_mod.manifest_path(resumed).read_bytes()) == written
    monkeypatch.setattr(checkpoint_mod, "_STOP", {"requested": False})
    same_tables(open_run(full), resume(resumed, tmp_path / "resumed.h5"), ["blocks", "links", "end_to_end",
                                                                            "timeline"])


def test_checkpoint_records_are_written_uncompressed_and_outputs_gzipped(tmp_path, monkeypatch):
    """gzip took 8.4 s of a 9.9 s checkpoint of a 50 MB QKD record (under load): checkpoints, which a run
    under SLURM must finish within the warning, are written at the disk's speed; the output's big tables
    stay gzip (readable by any HDF5 tool). Here every table counts as big."""
    from dqsim.io import writer

    monkeypatch.setattr(writer, "COMPRESS_ABOVE_BYTES", 0)
    full, ckpts = run_with_checkpoints(tmp_path, "bb84_decoy_50km.toml", BB84, 0.0005)
    assert ckpts

    def compressions(path):
        found = []
        with h5py.File(path) as h5:
            h5.visititems(lambda name, obj: found.append(obj.compression) if isinstance(obj, h5py.Dataset) and
                          obj.size else None)
        return found

    assert compressions(ckpts[0]) and set(compressions(ckpts[0])) == {None}
    assert set(compressions(full)) == {"gzip"}


CHAIN_OPTIONS = {
    # nested swapping, two BBPSSW pumping rounds (twirl draws sent to the responder) and cut-off restarts
    "nested-bbpssw2-cutoff": ["--set", "chain.num_links=[4]", "--set", "chain.total_distance_km=[40.0]",
                              "--set", "chain.swapping=\"nested\"", "--set", "chain.purification_rounds=2",
                              "--set", "chain.cutoff_s=0.0015", "--set", "chain.max_restarts=1000"],
    # swap-asap, one DEJMPS round, cut-off restarts
    "asap-dejmps-cutoff": ["--set", "chain.num_links=[3]", "--set", "chain.total_distance_km=[60.0]",
                           "--set", "chain.purification_rounds=1", "--set", "chain.purification=\"dejmps\"",
                           "--set", "chain.cutoff_s=0.002", "--set", "chain.max_restarts=1000"],
    # the same with the "link" pumping cut-off (a kept pair cut while pumped makes its link alone again)
    "asap-dejmps-linkcut": ["--set", "chain.num_links=[3]", "--set", "chain.total_distance_km=[60.0]",
                            "--set", "chain.purification_rounds=1", "--set", "chain.purification=\"dejmps\"",
                            "--set", "chain.cutoff_s=0.002", "--set", "chain.max_restarts=1000",
                            "--set", "chain.pumping_cutoff=\"link\""],
    # swap-asap over 4 links with cutoff_policy = "link": pairs cut and segments discarded, links made again
    "asap-cutlink": ["--set", "chain.num_links=[4]", "--set", "chain.total_distance_km=[40.0]",
                     "--set", "chain.cutoff_s=0.0003", "--set", "chain.cutoff_policy=\"link\""],
}


@pytest.mark.parametrize("options", list(CHAIN_OPTIONS))
def test_a_repeater_chain_resumed_at_every_cut_ends_as_the_uninterrupted_run_and_replays_nothing(tmp_path,
                                                                                                 monkeypatch, options):
    """The chain's node processes are resumable: a checkpoint holds their protocol state and no step log, and
    a run resumed at a cut (link sides waiting for a herald, inside a pumping round, cut-off timers set,
    B collecting bits) delivers the uninterrupted run's pairs, bit for bit, while re-running no step of
    before the cut: B delivers exactly the pairs after it."""
    import dqsim.protocols.repeater as repeater

    extra = [*CHAIN_OPTIONS[options], "--set", "chain.num_pairs=6"]
    full, ckpts = run_with_checkpoints(tmp_path, "repeater_chain.toml", extra, 0.0004)  # 35-45 cuts
    a = open_run(full)
    assert a.attrs["total_restarts"] > 0 or options.endswith("cutlink"), "pick a cut-off that makes restarts"
    assert len(ckpts) >= 6
    kinds, remade = set(), False

    for path in ckpts:
        for node in saved_node_indices(path):
            record = saved_record(path, node)
            assert all(h.process is not None and h.log is None for h in record["processes"])  # no plain process
            kinds.update((type(h.process).__name__, getattr(h.process, "phase", None))
                         for h in record["processes"] if h.started)
            remade |= any(getattr(h.process, "epoch", 0) > 0 for h in record["processes"] if h.started)
    assert remade or not options.endswith("cutlink"), "pick a cut-off that makes links again"
    names = {name for name, _phase in kinds}
    assert {"ChainNodeProcess", "LinkSideProcess", "AlarmProcess"} <= names, kinds
    assert len({phase for name, phase in kinds if name == "LinkSideProcess"}) >= 3, kinds  # restored mid-protocol
    delivered = []
    original = repeater._deliver
    monkeypatch.setattr(repeater, "_deliver", lambda *args: delivered.append(args[2][0]) or original(*args))
    pairs = a.table("pairs")
    for index, path in enumerate(ckpts[::4] + ckpts[-1:]):  # every fourth cut and the last
        delivered.clear()
        resumed = resume(path, tmp_path / f"resumed{index}.h5")
        same_tables(a, resumed, ["pairs", "summary"])
        cut_ps = open_run(path).attrs["window_end_ps"]
        assert delivered == [int(p) for p in pairs["pair_index"][pairs["delivery_time_ps"] >= cut_ps]]
