"""Checkpoint and resume: interrupted runs end with the results of uninterrupted ones.

A DQC job (state vector) and a QKD job (no state) are checkpointed at window
boundaries, stopped with SIGUSR1 or killed with SIGKILL, and resumed with the
same or another number of ranks. Damaged checkpoints give one-line errors.
"""

import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from dqsim.io import open_run
from mpi_helper import ROOT, child_env, mpiexec_path, run_here, run_mpi
from run_files import checkpoints, same_tables

DQC = ["jobs/dqc_ghz_4qpu.toml", "--set", "simulation.store_shots=true", "--set", "circuit.generator=\"random\"",
       "--set", "circuit.depth=4", "--set", "distribution.assignment=[0, 0, 1, 1, 2, 2, 3, 3]"]
DQC_LONG = [*DQC[:-4], "--set", "circuit.depth=12", *DQC[-2:]]
#: DQC_LONG's checkpoint interval in the stop and kill tests: 16 checkpoints in its 13.5 ms, so the random window
#: (2-8) is in its first half. (Every 0.2 ms wrote 64; the resumes, each of which checkpoints the rest of the run
#: again, wrote about 55 each, most of these tests' time on 4 ranks.)
DQC_LONG_EVERY_S = 0.0008
#: QKD's checkpoint interval in its stop and kill tests: 14 checkpoints in its 7.47 ms, so the random window (2-8)
#: ends by 4 ms. (Every 1 ms wrote 7 once the source stopped waiting for post-processing; a SIGUSR1 sent after the
#: 6th landed, on a loaded CI machine, after the last event, and a kill after the 7th had 0.47 ms to spare.)
QKD_EVERY_S = 0.0005
QKD = ["jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=6000000", "--set", "qkd.batch_pulses=500000",
       "--set", "qkd.block_pulses=2000000"]


def run(ranks, args, check=True):
    """``dqsim ARGS --quiet`` on ``ranks`` ranks; a checked 1-rank command runs in this process (run_here)."""
    if ranks == 1 and check:
        return run_here([*args, "--quiet"])
    return run_mpi(ranks, ["-m", "dqsim", *args, "--quiet"], timeout_s=240, check=check)


#: A chain without a cut-off (B takes the repeaters' bits in one receive of several messages), its job file written
#: as ``chain.toml`` in its folder by :func:`two_rank_runs`.
NO_CUTOFF_CHAIN = ["--set", "chain.num_links=[4]", "--set", "chain.total_distance_km=[40.0]", "--set",
                   "chain.num_pairs=4"]


def two_rank_run_lines(root: Path) -> dict:
    """The plain runs on two ranks of this file's tests (no stop, no fault): ``{name: dqsim arguments}``, each
    writing ``full.h5`` and its checkpoints (``ck/``; ``qkd`` and ``dqc_long``: none) in the folder ``root/name``."""
    chain = ["jobs/repeater_chain.toml", "--set", "chain.num_links=[1]", "--set", "chain.total_distance_km=[20.0]",
             "--set", "chain.num_pairs=20", "--set", "chain.cutoff_s=0.01"]
    runs = {"dqc": (DQC, 0.0004, 20), "qkd": (QKD, None, None), "dqc_long": (DQC_LONG, None, None),
            "short_chain": (chain, 0.0005, 5),
            "no_cutoff_chain": ([str(root / "no_cutoff_chain" / "chain.toml"), *NO_CUTOFF_CHAIN], 0.0005, 20),
            "placed": ([*DQC, "--set", "network.placement=[1, 0, 0, 1]"], 0.0004, 20),
            **{f"repeater-{case}": (args, 0.002, 20) for case, args in REPEATER_CASES.items()},
            **{f"dqc-{case}": (args, 0.0004, 50) for case, args in DQC_RESUMABLE.items()}}
    lines = {}
    for name, (args, every_s, keep) in runs.items():
        lines[name] = ["run", *args, "-o", str(root / name / "full.h5"), "--quiet"]
        if every_s is not None:
            lines[name] += ["--set", f"checkpoint.every_sim_s={every_s}", "--set",
                            f"checkpoint.directory=\"{root / name / 'ck'}\"", "--set", f"checkpoint.keep={keep}"]
    return lines


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory):
    """Every run of :func:`two_rank_run_lines` on two ranks in one launch (tests/mpi_scripts/dqsim_runs.py): one
    interpreter start and import per rank instead of one per run (~3 s of CPU each; ten runs). Returns ``root``."""
    root = tmp_path_factory.mktemp("ckpt_two_ranks")
    lines = two_rank_run_lines(root)
    for name in lines:
        (root / name).mkdir()
    (root / "no_cutoff_chain" / "chain.toml").write_text(
        Path("jobs/repeater_chain.toml").read_text().replace("\ncutoff_s = 0.1\n", "\n"))
    argv = []
    for args in lines.values():
        argv += [*(["--then"] if argv else []), *args]
    run_mpi(2, ["tests/mpi_scripts/dqsim_runs.py", *argv], timeout_s=480)
    return root


@pytest.fixture(scope="module")
def dqc_runs(two_rank_runs):
    folder = two_rank_runs / "dqc"
    return folder, folder / "full.h5", checkpoints(folder / "ck")


def test_dqc_checkpoints_are_written_at_window_boundaries(dqc_runs):
    _folder, full, ckpts = dqc_runs
    assert len(ckpts) >= 2
    attrs = open_run(ckpts[0]).attrs
    assert attrs["checkpoint"] and attrs["num_ranks"] == 2 and attrs["has_state"]
    assert open_run(full).attrs["fidelity"] == pytest.approx(1.0, abs=1e-10)


def signalled_resume_lines(signalled: dict, ranks: int) -> list:
    """The resumes of each signalled run's last checkpoint (:func:`stopped_runs`) on ``ranks`` ranks, as
    tests/mpi_scripts/dqsim_runs.py's command lines, each writing ``resumedRANKS.h5`` in the run's folder."""
    lines = []
    for _status, where, last in signalled.values():
        lines += ["--then", "resume", str(last), "-o", str(where / f"resumed{ranks}.h5"), "--quiet"]
    return lines


@pytest.fixture(scope="module")
def two_rank_resumes(dqc_runs, qkd_signalled, dqc_signalled):
    """Every resume on 2 ranks of this file's tests, in one launch (tests/mpi_scripts/dqsim_runs.py): dqc_runs'
    middle checkpoint (``resumed2.h5`` beside it) and the last checkpoint of each run of qkd_signalled and
    dqc_signalled (``resumed2.h5`` in its folder)."""
    folder, _full, ckpts = dqc_runs
    lines = ["resume", str(ckpts[len(ckpts) // 2]), "-o", str(folder / "resumed2.h5"), "--quiet"]
    for signalled in (qkd_signalled, dqc_signalled):
        lines += signalled_resume_lines(signalled, 2)
    run_mpi(2, ["tests/mpi_scripts/dqsim_runs.py", *lines], timeout_s=240)


@pytest.fixture(scope="module")
def four_rank_runs(two_rank_runs, dqc_runs, two_rank_resumes, qkd_signalled, dqc_signalled, tmp_path_factory):
    """Every run on 4 ranks of this file's resume tests, in one launch (tests/mpi_scripts/dqsim_runs.py), after
    those on 2 (:func:`two_rank_resumes`): dqc_runs' middle checkpoint resumed (``resumed4.h5`` beside it); DQC run
    from the start with checkpoints (``four.h5`` and ``ck/`` in the folder ``four``); the middle checkpoint of each
    chain of REPEATER_CASES resumed (``resumed4.h5`` in its folder of two_rank_runs); the middle checkpoint of each
    job of DQC_RESUMABLE resumed (``CASE-4.h5`` in ``four``); the last checkpoint of each run of qkd_signalled and
    dqc_signalled resumed (``resumed4.h5`` in its folder). Returns ``{"four": folder, "repeater": {case: (folder,
    middle)}, "programs": {case: (checkpoints on 2 ranks, middle)}}``, the checkpoints listed before the launch
    (the resumes write more beside them)."""
    folder, _full, ckpts = dqc_runs
    four = tmp_path_factory.mktemp("ckpt_dqc_four")
    lines = ["resume", str(ckpts[len(ckpts) // 2]), "-o", str(folder / "resumed4.h5"), "--quiet",
             "--then", "run", *DQC, "-o", str(four / "four.h5"), "--quiet", "--set", "checkpoint.every_sim_s=0.0004",
             "--set", f"checkpoint.directory=\"{four / 'ck'}\"", "--set", "checkpoint.keep=20"]
    repeater, programs = {}, {}
    for case in REPEATER_CASES:
        chain = two_rank_runs / f"repeater-{case}"
        written = checkpoints(chain / "ck")
        repeater[case] = chain, written[len(written) // 2]
        lines += ["--then", "resume", str(repeater[case][1]), "-o", str(chain / "resumed4.h5"), "--quiet"]
    for case in DQC_RESUMABLE:
        written = checkpoints(two_rank_runs / f"dqc-{case}" / "ck")
        programs[case] = written, written[len(written) // 2]
        lines += ["--then", "resume", str(programs[case][1]), "-o", str(four / f"{case}-4.h5"), "--quiet"]
    for signalled in (qkd_signalled, dqc_signalled):
        lines += signalled_resume_lines(signalled, 4)
    run_mpi(4, ["tests/mpi_scripts/dqsim_runs.py", *lines], timeout_s=480)
    return {"four": four, "repeater": repeater, "programs": programs}


@pytest.fixture(scope="module")
def dqc_four_ranks(four_rank_runs):
    """The folder of :func:`four_rank_runs`' DQC run on 4 ranks (``four.h5``, ``ck/``); dqc_runs' middle checkpoint
    resumed on 4 is ``resumed4.h5`` beside it."""
    return four_rank_runs["four"]


@pytest.mark.parametrize("ranks", [2, 4, 1])
def test_dqc_resume_gives_the_uninterrupted_results(dqc_runs, ranks, request):
    folder, full, ckpts = dqc_runs
    out = folder / f"resumed{ranks}.h5"
    if ranks == 1:
        run(ranks, ["resume", str(ckpts[len(ckpts) // 2]), "-o", str(out)])
    else:  # wrote out
        request.getfixturevalue("two_rank_resumes" if ranks == 2 else "dqc_four_ranks")
    a, b = open_run(full), open_run(out)
    same_tables(a, b, ["shots", "links", "counts"])
    assert np.array_equal(a.table("timeline")["time_ps"], b.table("timeline")["time_ps"])
    assert a.attrs["simulated_time_ps"] == b.attrs["simulated_time_ps"]
    assert abs(a.attrs["fidelity"] - b.attrs["fidelity"]) < 1e-12


def start_run(folder, job_args, every_sim_s, ranks=2):
    """Start ``dqsim run`` under mpiexec in its own process group, checkpointing every ``every_sim_s``."""
    launcher = mpiexec_path()
    cmd = [sys.executable, "-m", "dqsim", "run", *job_args, "-o", str(folder / "stopped.h5"), "--quiet",
           "--set", f"checkpoint.every_sim_s={every_sim_s}", "--set", f"checkpoint.directory=\"{folder / 'ck'}\"",
           "--set", "checkpoint.keep=100"]
    cmd = [launcher, "-n", str(ranks), *cmd]
    return subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def start_qkd(folder, ranks=2):
    return start_run(folder, QKD, QKD_EVERY_S, ranks)


def wait_for_checkpoint(folder, proc, count=1, timeout_s=120):
    """Wait until ``count`` checkpoints exist while the run still runs (False if it ended first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(checkpoints(folder / "ck")) >= count and proc.poll() is None:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def random_window(name):
    """A checkpoint count to kill a run at: random, but the same in every test run (seeded by ``name``)."""
    return random.Random(name).randint(2, 8)


def stopped_runs(folder, job_args, every_sim_s, window_seed: str) -> dict:
    """For SIGKILL and SIGUSR1: ``job_args`` started on 2 ranks (a checkpoint every ``every_sim_s``) in the folder
    ``folder/SIGNAL``, and sent that signal once :func:`random_window` (seeded by ``window_seed`` and the signal's
    name) checkpoints exist. ``{how: (exit status, folder, last checkpoint)}``; the resumes of the last checkpoint
    on 2 and 4 ranks (``resumed2.h5``, ``resumed4.h5`` in the folder) are :func:`two_rank_resumes`' and
    :func:`four_rank_runs`'."""
    found = {}
    for how in ("SIGKILL", "SIGUSR1"):
        (folder / how).mkdir()
        proc = start_run(folder / how, job_args, every_sim_s)
        assert wait_for_checkpoint(folder / how, proc, random_window(window_seed + how)), (
            "the run ended before it could be stopped")
        if how == "SIGUSR1":
            os.kill(proc.pid, signal.SIGUSR1)  # mpiexec (MPICH's hydra, Open MPI's mpirun) forwards it to the ranks
            proc.communicate(timeout=120)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=60)
        found[how] = (proc.returncode, folder / how, checkpoints(folder / how / "ck")[-1])
    return found


@pytest.fixture(scope="module")
def qkd_signalled(tmp_path_factory):
    return stopped_runs(tmp_path_factory.mktemp("ckpt_qkd_stopped"), QKD, QKD_EVERY_S, "")


@pytest.fixture(scope="module")
def stopped(qkd_signalled, dqc_signalled, four_rank_runs):
    """``{"qkd": qkd_signalled, "dqc": dqc_signalled}``, their runs' last checkpoints resumed on 2 and 4 ranks
    (:func:`four_rank_runs`, after :func:`two_rank_resumes`)."""
    return {"qkd": qkd_signalled, "dqc": dqc_signalled}


@pytest.fixture(scope="module")
def qkd_full(two_rank_runs):
    return open_run(two_rank_runs / "qkd" / "full.h5")


@pytest.mark.parametrize("how", ["SIGUSR1", "SIGKILL"])
def test_qkd_stopped_or_killed_then_resumed(qkd_full, stopped, how):
    status, folder, last = stopped["qkd"][how]
    if how == "SIGUSR1":
        assert status == 75
    assert open_run(last).attrs["window_end_ps"] < qkd_full.table("links")["simulated_time_ps"].max()
    run(1, ["resume", str(last), "-o", str(folder / "resumed1.h5")])
    for ranks in (2, 4, 1):
        same_tables(qkd_full, open_run(folder / f"resumed{ranks}.h5"), ["blocks", "links", "end_to_end"])


def test_repro_ctrl_c_on_two_ranks_checkpoints_and_stops(tmp_path, qkd_full):
    """Ctrl-C to mpiexec (which forwards SIGINT to the ranks) acts as SIGTERM: checkpoint, one line, exit 75.

    It used to raise KeyboardInterrupt on one rank while the other waited in a collective: a traceback,
    then a hang."""
    proc = start_qkd(tmp_path)
    assert wait_for_checkpoint(tmp_path, proc), "the run ended before it could be stopped"
    os.kill(proc.pid, signal.SIGINT)
    try:
        _out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _out, err = proc.communicate()
        raise AssertionError(f"the run hung after Ctrl-C:\n{err[-3000:]}")
    assert proc.returncode == 75 and "Traceback" not in err, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("dqsim: checkpoint written to "), err
    out = tmp_path / "resumed.h5"
    run(1, ["resume", str(checkpoints(tmp_path / "ck")[-1]), "-o", str(out)])
    same_tables(qkd_full, open_run(out), ["blocks", "links", "end_to_end"])


@pytest.fixture(scope="module")
def dqc_long_full(two_rank_runs):
    return open_run(two_rank_runs / "dqc_long" / "full.h5")


@pytest.fixture(scope="module")
def dqc_signalled(tmp_path_factory):
    return stopped_runs(tmp_path_factory.mktemp("ckpt_dqc_stopped"), DQC_LONG, DQC_LONG_EVERY_S, "dqc")


@pytest.mark.parametrize("how", ["SIGKILL", "SIGUSR1"])
def test_dqc_killed_or_stopped_at_a_random_window_then_resumed(dqc_long_full, stopped, how):
    """Same rank count: bit-identical to a run without checkpoints; 2 -> 4 and 2 -> 1 ranks: within 1e-12."""
    status, folder, last = stopped["dqc"][how]
    if how == "SIGUSR1":
        assert status == 75
    assert 0 < open_run(last).attrs["window_end_ps"] < dqc_long_full.attrs["simulated_time_ps"]
    run(1, ["resume", str(last), "-o", str(folder / "resumed1.h5")])
    for ranks in (2, 4, 1):
        resumed = open_run(folder / f"resumed{ranks}.h5")
        same_tables(dqc_long_full, resumed, ["shots", "links", "counts"])
        assert np.array_equal(dqc_long_full.table("timeline")["time_ps"], resumed.table("timeline")["time_ps"])
        assert dqc_long_full.attrs["simulated_time_ps"] == resumed.attrs["simulated_time_ps"]
        if ranks == 2:
            assert dqc_long_full.attrs["fidelity"] == resumed.attrs["fidelity"]
        else:
            assert abs(dqc_long_full.attrs["fidelity"] - resumed.attrs["fidelity"]) < 1e-12


def corrupt_copy(dqc_runs, tmp_path, damage):
    _folder, _full, ckpts = dqc_runs
    source = ckpts[0]
    for f in source.parent.glob(source.stem + ".*"):  # run file, slabs and manifest
        shutil.copy(f, tmp_path / f.name)
    target = tmp_path / source.name
    damage(target)
    proc = run_here(["resume", target, "-o", tmp_path / "x.h5", "--quiet"], check=False)  # an exception fails the test
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    return lines[0]


def slab_of(path):
    return next(path.parent.glob(path.stem + ".slab0000.h5"))


def test_truncated_checkpoint(dqc_runs, tmp_path):
    def damage(path):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    message = corrupt_copy(dqc_runs, tmp_path, damage)
    assert "truncated" in message or "HDF5" in message


def test_flipped_byte_in_a_slab(dqc_runs, tmp_path):
    def damage(path):
        slab = slab_of(path)
        with h5py.File(slab, "r+") as h5:
            ds = h5[list(h5.keys())[0]]
            value = ds[0]
            ds[0] = value + 1e-3
    assert re.search("damaged|replaced", corrupt_copy(dqc_runs, tmp_path, damage))


def test_missing_slab_file(dqc_runs, tmp_path):
    assert "missing" in corrupt_copy(dqc_runs, tmp_path, lambda path: slab_of(path).unlink())


def test_checkpoint_of_another_job(dqc_runs, tmp_path):
    def damage(path):
        with h5py.File(path, "r+") as h5:
            h5.attrs["job_text"] = h5.attrs["job_text"] + "\n# edited\n"
    assert re.search("damaged|replaced", corrupt_copy(dqc_runs, tmp_path, damage))  # the manifest covers every byte


def test_checkpoint_of_another_version(dqc_runs, tmp_path):
    def damage(path):
        with h5py.File(path, "r+") as h5:
            h5.attrs["dqsim_version"] = "0.0.1"
    # the manifest no longer matches (a manifest re-signed for another version: tests/test_reliability.py)
    assert re.search("damaged|replaced", corrupt_copy(dqc_runs, tmp_path, damage))


def resume_middle_on_one_rank_matches(ckpts, full, tmp_path) -> None:
    """Resume the middle checkpoint of ``ckpts`` on 1 rank: the dqc results of ``full`` (fidelity within 1e-12)."""
    out = tmp_path / "resumed1.h5"
    run(1, ["resume", str(ckpts[len(ckpts) // 2]), "-o", str(out)])
    a, b = open_run(full), open_run(out)
    same_tables(a, b, ["shots", "links", "counts"])
    assert abs(a.attrs["fidelity"] - b.attrs["fidelity"]) < 1e-12


def test_dqc_checkpoint_of_four_ranks_resumed_on_one(tmp_path, dqc_runs, dqc_four_ranks):
    _folder, full, _ = dqc_runs
    ckpts = checkpoints(dqc_four_ranks / "ck")
    assert open_run(ckpts[0]).attrs["num_ranks"] == 4
    resume_middle_on_one_rank_matches(ckpts, full, tmp_path)


@pytest.mark.parametrize("scenario", ["dqc", "qkd"])
def test_killed_on_four_ranks_resumed_on_one(tmp_path, request, scenario):
    """4 -> 1 ranks after SIGKILL at a random window: the uninterrupted results (fidelity within 1e-12)."""
    if scenario == "dqc":
        full, args, every, tables = request.getfixturevalue("dqc_long_full"), DQC_LONG, DQC_LONG_EVERY_S, [
            "shots", "links", "counts"]
    else:
        full, args, every, tables = request.getfixturevalue("qkd_full"), QKD, QKD_EVERY_S, ["blocks", "links",
                                                                                      "end_to_end"]
    proc = start_run(tmp_path, args, every, ranks=4)
    assert wait_for_checkpoint(tmp_path, proc, random_window("four" + scenario)), "the run ended before it was killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    last = checkpoints(tmp_path / "ck")[-1]
    assert open_run(last).attrs["num_ranks"] == 4
    out = tmp_path / "resumed1.h5"
    run(1, ["resume", str(last), "-o", str(out)])
    resumed = open_run(out)
    same_tables(full, resumed, tables)
    if scenario == "dqc":
        assert abs(full.attrs["fidelity"] - resumed.attrs["fidelity"]) < 1e-12


REPEATER = ["jobs/repeater_chain.toml", "--set", "chain.num_links=[2]", "--set", "chain.total_distance_km=[40.0]",
            "--set", "chain.num_pairs=5", "--set", "chain.swapping=\"nested\"", "--set",
            "chain.purification_rounds=1", "--set", "chain.cutoff_s=0.002"]


#: Swap-asap, one DEJMPS round and cut-off restarts over 3 links (the other options of REPEATER).
REPEATER_DEJMPS = ["jobs/repeater_chain.toml", "--set", "chain.num_links=[3]", "--set", "chain.total_distance_km=[60.0]",
                   "--set", "chain.num_pairs=5", "--set", "chain.purification_rounds=1", "--set",
                   "chain.purification=\"dejmps\"", "--set", "chain.cutoff_s=0.002"]


#: The two repeater chains of the resume tests, by test id.
REPEATER_CASES = {"nested-bbpssw": REPEATER, "asap-dejmps": REPEATER_DEJMPS}


@pytest.fixture(scope="module")
def repeater_resumed(four_rank_runs):
    """Each chain of REPEATER_CASES run on 2 ranks with checkpoints (by :func:`two_rank_runs`), and its middle
    checkpoint resumed on 4 (by :func:`four_rank_runs`): ``{case: (folder, middle checkpoint)}``, the folder
    holding ``full.h5``, ``ck/`` and ``resumed4.h5``."""
    return four_rank_runs["repeater"]


@pytest.mark.parametrize("case", REPEATER_CASES)
def test_repeater_checkpoint_of_two_ranks_resumed_on_four_and_one(tmp_path, repeater_resumed, case):
    """The chain's resumable node processes saved on 2 ranks resume on 4 and 1 to the pairs of the run, which
    are those of a run on 1 rank without checkpoints."""
    args, (folder, middle) = REPEATER_CASES[case], repeater_resumed[case]
    a = open_run(folder / "full.h5")
    assert a.attrs["total_restarts"] > 0, "pick a cut-off that makes restarts"
    run(1, ["run", *args, "-o", str(tmp_path / "plain.h5")])
    same_tables(a, open_run(tmp_path / "plain.h5"), ["pairs", "summary"], exact=False)
    run(1, ["resume", str(middle), "-o", str(tmp_path / "resumed1.h5")])
    for b in (open_run(folder / "resumed4.h5"), open_run(tmp_path / "resumed1.h5")):
        same_tables(a, b, ["pairs", "summary"], exact=False)
        assert np.array_equal(a.table("pairs")["delivery_time_ps"], b.table("pairs")["delivery_time_ps"])


#: Noisy nodes with gate and measurement durations (every random draw and wait of the node programs).
NOISY = ["--set", "network.link.source_fidelity=0.95", "--set", "network.node.gate_2q_error_probability=0.01",
         "--set", "network.node.measure_error_probability=0.01", "--set", "network.node.gate_2q_duration_ps=5000",
         "--set", "network.node.measure_duration_ps=20000"]

#: TeleData with swaps over the line of 4 QPUs, and the dynamic circuit with `if` blocks (an engine run per shot).
DQC_RESUMABLE = {"teledata": [*DQC, *NOISY, "--set", "distribution.scheme=\"teledata\""],
                 "dynamic-if": ["jobs/dqc_teleport_feedforward.toml", "--set", "simulation.shots=3", *NOISY]}


def test_dqc_programs_checkpointed_on_two_ranks_resume_on_four_and_one(tmp_path, two_rank_runs, four_rank_runs):
    """The DQC node programs' resumable processes (TeleData over swapped pairs; mid-circuit measurements and
    `if` decisions waiting for bits from other QPUs) saved on 2 ranks resume on 4 and 1 to the uninterrupted
    run's shots, links, counts and timeline. The runs on 2 ranks: :func:`two_rank_runs`; the resumes on 4:
    :func:`four_rank_runs`."""
    for case in DQC_RESUMABLE:
        ckpts, middle = four_rank_runs["programs"][case]
        assert len(ckpts) >= 3 and open_run(ckpts[0]).attrs["num_ranks"] == 2
        run(1, ["resume", str(middle), "-o", str(tmp_path / f"{case}-1.h5")])
        full = open_run(two_rank_runs / f"dqc-{case}" / "full.h5")
        for ranks in (4, 1):
            resumed = open_run((four_rank_runs["four"] if ranks == 4 else tmp_path) / f"{case}-{ranks}.h5")
            same_tables(full, resumed, ["shots", "links", "counts", "timeline"])
            assert full.attrs["simulated_time_ps"] == resumed.attrs["simulated_time_ps"]
            assert (abs(full.attrs["fidelity"] - resumed.attrs["fidelity"]) < 1e-12
                    or math.isnan(full.attrs["fidelity"]) and math.isnan(resumed.attrs["fidelity"]))


def test_a_short_chain_checkpointed_on_two_ranks_resumes_on_one(tmp_path, two_rank_runs):
    """A 1-link chain (2 memories, no register: small states) written on 2 ranks resumes on 1 with the same pairs."""
    folder = two_rank_runs / "short_chain"
    assert open_run(checkpoints(folder / "ck")[0]).attrs["num_ranks"] == 2
    run(1, ["resume", str(checkpoints(folder / "ck")[0]), "-o", str(tmp_path / "x.h5")])
    same_tables(open_run(folder / "full.h5"), open_run(tmp_path / "x.h5"), ["pairs", "summary"])




def test_a_chain_without_cut_off_checkpointed_while_b_collects_bits_resumes_on_one(tmp_path, two_rank_runs):
    """Without a cut-off B takes the repeaters' bits in one receive of several messages: runs checkpointed
    while it waits for them (every 0.5 ms of a ~3 ms run) resume on 1 rank to the same pairs."""
    folder = two_rank_runs / "no_cutoff_chain"
    full = open_run(folder / "full.h5")
    assert full.attrs["cutoff_s"] == math.inf
    ckpts = checkpoints(folder / "ck")
    assert len(ckpts) >= 3
    for index in (0, len(ckpts) // 2, len(ckpts) - 1):
        out = tmp_path / f"resumed{index}.h5"
        run(1, ["resume", str(ckpts[index]), "-o", str(out)])
        same_tables(full, open_run(out), ["pairs", "summary"])


#: A register split over the ranks (> 12 qubits): 14 qubits on the 4 QPUs.
GHZ14 = ["jobs/dqc_ghz_4qpu.toml", "--set", "circuit.num_qubits=14",
         "--set", "distribution.assignment=[0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3]"]


@pytest.fixture(scope="module")
def three_rank_runs(tmp_path_factory):
    """This file's runs on 3 ranks, in one launch (tests/mpi_scripts/dqsim_runs.py), in the folder ``root``:
    GHZ14's last checkpoint (written by a run on 1 rank in this process, into ``root/sharded``) resumed, which
    must end with status 2 on every rank; DQC run with checkpoints (``root/replicated/full.h5``, ``ck/``), then
    its middle checkpoint resumed (``resumed3.h5`` beside it). Returns ``(root, the sharded checkpoint resumed,
    the launch)``."""
    root = tmp_path_factory.mktemp("three_ranks")
    sharded, replicated = root / "sharded", root / "replicated"
    run(1, ["run", *GHZ14, "-o", str(sharded / "full.h5"), "--set", "checkpoint.every_sim_s=0.0004",
            "--set", f"checkpoint.directory=\"{sharded / 'ck'}\""])
    last = checkpoints(sharded / "ck")[-1]
    launch = run_mpi(3, ["tests/mpi_scripts/dqsim_runs.py", "@status:2", "resume", str(last), "-o",
                         str(sharded / "x.h5"), "--quiet",
                         "--then", "run", *DQC, "-o", str(replicated / "full.h5"), "--quiet", "--set",
                         "checkpoint.every_sim_s=0.0004", "--set", f"checkpoint.directory=\"{replicated / 'ck'}\"",
                         "--set", "checkpoint.keep=20", "--then", "resume", f"@middle-checkpoint:{replicated / 'ck'}",
                         "-o", str(replicated / "resumed3.h5"), "--quiet"], timeout_s=240, check=False)
    return root, last, launch


def test_repro_replicated_register_checkpointed_on_three_ranks(tmp_path, three_rank_runs):
    """A register every rank holds whole (<= 12 qubits) on 3 ranks: 3 does not split its 2^n amplitudes,
    so the checkpoint stores it in the run file; it resumes on 3 and 1 ranks to the uninterrupted results
    (it used to end in an internal error at the first checkpoint). (The run and its resume on 3 ranks:
    :func:`three_rank_runs`.)"""
    root, _sharded, launch = three_rank_runs
    assert launch.returncode == 0, launch.stderr
    full = root / "replicated" / "full.h5"
    # (the resume on 3 ranks wrote its own checkpoints of the same cuts over them)
    ckpts = checkpoints(root / "replicated" / "ck")
    assert len(ckpts) >= 2 and open_run(ckpts[0]).attrs["num_ranks"] == 3
    for ranks in (3, 1):
        out = (tmp_path if ranks == 1 else root / "replicated") / f"resumed{ranks}.h5"
        if ranks == 1:
            run(ranks, ["resume", str(ckpts[len(ckpts) // 2]), "-o", str(out)])
        a, b = open_run(full), open_run(out)
        same_tables(a, b, ["shots", "links", "counts"])
        assert abs(a.attrs["fidelity"] - b.attrs["fidelity"]) < 1e-12


def test_repro_a_job_placed_on_two_ranks_resumes_on_one(tmp_path, two_rank_runs):
    """An explicit [network].placement for the checkpoint's rank count does not fit another count: the
    resumed run places the nodes by default (results do not depend on placement) instead of refusing
    with 'placement[0] = 1: must be a rank in 0..0', which a resume could not change."""
    folder = two_rank_runs / "placed"
    ckpts = checkpoints(folder / "ck")
    assert open_run(ckpts[0]).attrs["num_ranks"] == 2
    resume_middle_on_one_rank_matches(ckpts, folder / "full.h5", tmp_path)


#: The faults of :func:`write_faults`' runs (tests/mpi_scripts/checkpoint_write_fault.py): rank 0 cannot write a
#: checkpoint's run file, rank 1 its state slab, rank 0 the output (last: the run ends with status 2).
WRITE_FAULTS = ("checkpoint", "slab1", "output")


@pytest.fixture(scope="module")
def write_faults(tmp_path_factory):
    """DQC run on 2 ranks with each fault of :data:`WRITE_FAULTS`, the runs one after another in one launch
    (tests/mpi_scripts/checkpoint_write_fault.py), each in the folder ``root/FAULT`` (output ``x.h5``; checkpoints
    every 0.4 ms into ``ck/``, but for ``output``). ``{fault: (folder, the run as a process of its own: both
    ranks' exit status, their stderr)}`` (test_checkpoint_stops.stopped_run)."""
    from test_checkpoint_stops import stopped_run

    root = tmp_path_factory.mktemp("write_faults")
    cases = []
    for what in WRITE_FAULTS:
        folder = root / what
        folder.mkdir()
        args = ["run", *DQC, "-o", str(folder / "x.h5"), "--quiet"]
        if what != "output":
            args += ["--set", "checkpoint.every_sim_s=0.0004", "--set", "checkpoint.keep=100",
                     "--set", f"checkpoint.directory=\"{folder / 'ck'}\""]
        cases.append({"name": what, "hook": "fault", "hook_args": [what], "args": args, "out": str(root / what)})
    (root / "cases.json").write_text(json.dumps(cases))
    launch = run_mpi(2, ["tests/mpi_scripts/checkpoint_write_fault.py", str(root / "cases.json")], check=False,
                     timeout_s=240)
    return {case["name"]: (Path(case["out"]), stopped_run(case, launch)) for case in cases}


@pytest.mark.parametrize("what", ["checkpoint", "slab1"])
def test_repro_a_checkpoint_that_one_rank_cannot_write_is_a_warning_and_the_run_goes_on(what, dqc_runs, write_faults):
    """Rank 0 fails on the run file (the slabs written), or rank 1 on its slab (disk full): every rank learns
    of it, rank 0 warns in one line per checkpoint, the run goes on to the results of a run whose checkpoints
    were written (exit 0; dqc_runs: the same job on 2 ranks, the same checkpoint interval), the failed
    checkpoints' files are removed and the output counts them. The run used to end at the first checkpoint
    (exit 2; before that, the other ranks waited at a barrier until MPI_Abort). (The run: :func:`write_faults`.)"""
    _folder, good_file, written = dqc_runs
    assert len(written) < 20  # its keep = 20 removed none: every checkpoint it wrote
    folder, proc = write_faults[what]
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 0 and len(lines) >= 2, proc.stderr
    assert all(line.startswith("dqsim: warning: checkpoint ") and "No space left on device" in line
               and "no checkpoint was kept" in line for line in lines), proc.stderr
    assert not list((folder / "ck").iterdir())  # the files of the failed checkpoints are removed
    good, out = open_run(good_file), open_run(folder / "x.h5")
    assert out.attrs["num_failed_checkpoints"] == len(lines) == len(written)
    assert good.attrs["num_failed_checkpoints"] == 0
    same_tables(good, out, ["shots", "links", "counts"])


def test_repro_an_output_that_rank_0_cannot_write_stops_every_rank_in_one_line(write_faults):
    """The run done, rank 0 fails to write the output (disk full): one line, exit 2 on both ranks, no MPI_Abort
    banner. (The run: :func:`write_faults`.)"""
    _folder, proc = write_faults["output"]
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "No space left on device" in lines[0], proc.stderr


def test_repro_a_sharded_checkpoint_resumed_on_three_ranks_names_the_file_and_the_counts(three_rank_runs):
    """A register split over the ranks (> 12 qubits) needs a power-of-two rank count; a resume on 3 said only
    'the state vector needs a power-of-two number of ranks, got 3; use 2 or 4', without the checkpoint. (The
    resume on 3 ranks, which must end with status 2 on every rank: the first run of :func:`three_rank_runs`'
    launch, whose stderr's first line is its own; the lines after it are the later resume's notes.)"""
    root, last, launch = three_rank_runs
    assert open_run(last).attrs["has_state"]
    lines = launch.stderr.strip().splitlines()
    assert launch.returncode == 0 and lines, launch.stderr
    assert all(line.startswith(f"dqsim: note: {root / 'replicated' / 'ck'} ") for line in lines[1:]), launch.stderr
    assert lines[0].startswith(f"dqsim: error: {last}: ") and "3 ranks" in lines[0], lines[0]
    assert "power-of-two number of ranks (1, 2, 4, 8, ...); use 2 or 4" in lines[0], lines[0]
