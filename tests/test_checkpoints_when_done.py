"""A finished run removes the checkpoints it wrote once its output is whole (``[checkpoint].keep_when_done``).

Before 2026-12-06 a finished run left its last ``keep`` checkpoints in the folder and nothing removed them
(a sweep's filled a cluster's disk). Now, once the output and its manifest are written and the manifest lists
every file at its size, rank 0 removes this run's checkpoints (a resumed run's: the job's up to the one it
resumed, too) and says so in one summary line with the room freed; another job's, another dqsim version's
(``dqsim-VERSION/``) and the job's lock stay. A stop (status 75) or a failed output write keeps them: the
SLURM scripts' requeue resumes the newest.

The rest of the suite runs with ``DQSIM_KEEP_CHECKPOINTS_WHEN_DONE=1`` (``tests/conftest.py``: its tests resume
finished runs' checkpoints); these tests take it away, so they see the default.
"""

import json
import os
import signal
import sys

import h5py
import pytest

from dqsim.cli import main
from dqsim.io import writer
from dqsim.scenarios import qkd
from dqsim.engine.checkpoint import KEEP_WHEN_DONE_ENV
from mpi_helper import ROOT, mpiexec_path, run_command, run_here

#: The ranks' environment without the suite's ``DQSIM_KEEP_CHECKPOINTS_WHEN_DONE=1``.
DEFAULT = {KEEP_WHEN_DONE_ENV: "0"}
from run_files import checkpoints, flip_byte

#: A 2-distance BB84 sweep, a checkpoint every 0.1 ms of simulated time (a few per distance).
SWEEP = [str(ROOT / "jobs" / "bb84_distance_sweep.toml"), "--set", "qkd.pulses=200000", "--set",
         "qkd.batch_pulses=100000", "--set", "qkd.sweep.distances_km=[10, 20]", "--set",
         "checkpoint.every_sim_s=0.0001", "--set", "checkpoint.keep=3"]

def others(folder):
    """Put another job's checkpoint (another configuration hash) and another dqsim version's in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    other = folder / "bb84_distance_sweep.00000000.ckpt000-00000000000100000000"
    for name in (".h5", ".manifest.json"):
        (folder / (other.name + name)).write_text("another job's")
    aside = folder / "dqsim-0.0.1"
    aside.mkdir()
    (aside / "bb84_distance_sweep.ckpt000-00000000000100000000.h5").write_text("another version's")
    return sorted(path.relative_to(folder) for path in folder.rglob("*"))


def test_repro_a_finished_run_removes_its_checkpoints_and_says_the_room_freed(tmp_path, monkeypatch):
    """On 1 rank (2 ranks: the stop test below); with ``keep_when_done = true``, or where the job does not set it
    and the environment has ``DQSIM_KEEP_CHECKPOINTS_WHEN_DONE=1``, they stay, as before."""
    monkeypatch.delenv(KEEP_WHEN_DONE_ENV)
    ck = tmp_path / "ck"
    before = others(ck)
    done = run_here(["run", *SWEEP, "-o", str(tmp_path / "out.h5"), "--set", f'checkpoint.directory="{ck}"'])
    assert sorted(path.relative_to(ck) for path in ck.rglob("*")) == before  # none of its own, the rest kept
    removed = [line for line in done.stdout.splitlines() if "checkpoints:" in line]
    assert len(removed) == 1 and removed[0].startswith(f"  checkpoints: removed the 3 checkpoints of this run in "
                                                       f"{ck}/ (") and " KiB freed) as " in removed[0] \
        and "is whole ([checkpoint].keep_when_done = true keeps them)" in removed[0], done.stdout
    kept = run_here(["run", *SWEEP, "-o", str(tmp_path / "out.h5"), "--set", f'checkpoint.directory="{ck}"',
                         "--set", "checkpoint.keep_when_done=true"])
    assert len(checkpoints(ck)) == 3 + 1 and "removed" not in kept.stdout  # (+ the other job's)
    monkeypatch.setenv(KEEP_WHEN_DONE_ENV, "1")
    kept = run_here(["run", *SWEEP, "-o", str(tmp_path / "out.h5"), "--set", f'checkpoint.directory="{ck}"'])
    assert len(checkpoints(ck)) == 3 + 1 and "removed" not in kept.stdout


def test_a_failed_output_write_keeps_the_checkpoints(tmp_path, monkeypatch):
    """Nothing is lost on a failure before the output is whole: the run ends with status 2 and its checkpoints
    stay; a resume of the newest then finishes and removes them, the resumed one with them."""
    monkeypatch.delenv(KEEP_WHEN_DONE_ENV)
    ck, out = tmp_path / "ck", tmp_path / "out.h5"
    original = writer.write_run_file

    def full_disk_for_the_output(path, **kwargs):
        if str(path) == str(out):
            raise OSError(28, "No space left on device")
        return original(path, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(writer, "write_run_file", full_disk_for_the_output)
        patch.setattr("dqsim.io.write_run_file", full_disk_for_the_output)
        failed = run_here(["run", *SWEEP, "-o", str(out), "--set", f'checkpoint.directory="{ck}"'], check=False)
    assert failed.returncode == 2 and "No space left on device" in failed.stderr
    kept = checkpoints(ck)
    assert len(kept) == 3 and not out.exists()
    resumed = run_here(["resume", str(kept[-1]), "-o", str(out)])
    assert "removed the 3 checkpoints of this run" in resumed.stdout and checkpoints(ck) == []


def test_a_stopped_run_keeps_its_checkpoints_for_the_requeue_and_its_finished_resume_removes_them(tmp_path,
                                                                                                   monkeypatch):
    """A stop (status 75, as SLURM's USR1 or SIGTERM; here on 1 rank, a SIGTERM as the sweep's second distance
    starts) keeps the checkpoints, the newest of which the requeue resumes (``slurm/run_step.sh``: the newest with
    a manifest); that resume, on 2 ranks and finished, removes them, and only them."""
    if mpiexec_path() is None:
        pytest.skip("no mpiexec beside this Python; install the 'mpi' extra")
    monkeypatch.delenv(KEEP_WHEN_DONE_ENV)
    ck = tmp_path / "ck"
    before = others(ck)
    original, calls = qkd.link_physics, []

    def stop_at_the_second_distance(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(qkd, "link_physics", stop_at_the_second_distance)
        stopped = run_here(["run", *SWEEP, "-o", str(tmp_path / "out.h5"), "--set", f'checkpoint.directory="{ck}"',
                            "--quiet"], check=False)
    assert stopped.returncode == 75, stopped.stderr
    kept = checkpoints(ck)
    assert len(kept) == 3 + 1 and ".ckpt001-" in kept[-1].name and not (tmp_path / "out.h5").exists()
    newest = sorted(ck.glob("*.manifest.json"))[-1].name.replace(".manifest.json", ".h5")  # as run_step.sh finds it
    resumed = run_command([mpiexec_path(), "-n", "2", sys.executable, "-m", "dqsim", "resume", str(ck / newest),
                           "-o", str(tmp_path / "out.h5")], env=DEFAULT, timeout_s=240)
    assert "removed the 3 checkpoints of this run" in resumed.stdout, resumed.stdout
    assert sorted(path.relative_to(ck) for path in ck.rglob("*")) == before
    assert json.loads((tmp_path / "out.h5.manifest.json").read_text())["body"]["kind"] == "run"


def test_an_output_not_whole_as_its_manifest_lists_it_keeps_the_checkpoints(tmp_path):
    """``remove_when_done`` removes nothing where the output's manifest is missing or lists a file at another size
    (a slab file on another node's disk, not seen from rank 0), and says why in the summary's line."""
    from dqsim.engine import checkpoint
    from dqsim.io import manifest

    ck = tmp_path / "ck"
    ck.mkdir()
    written = []
    for cut in (1, 2):
        path = ck / checkpoint.checkpoint_stem("job.0123abcd", 0, cut)
        for ending in (".h5", ".manifest.json"):
            path.with_name(path.name + ending).write_text("x")
        written.append(path.with_name(path.name + ".h5"))
    session = checkpoint.CheckpointSession(directory=ck, prefix="job.0123abcd", job_text="", meta={},
                                           written=list(written))
    out = tmp_path / "out.h5"
    out.write_bytes(b"run file")
    line = checkpoint.remove_when_done(session, out, None)
    assert line.startswith(f"  checkpoints: kept 2 checkpoints of this run in {ck} ({out} is not whole as its "
                           "manifest lists it: ") and "missing" in line, line
    slab = tmp_path / "out.slab0001.h5"
    slab.write_bytes(b"slab")
    manifest.write_run_manifest(out, [slab])
    slab.write_bytes(b"slab cut")  # another size than listed
    assert "out.slab0001.h5: 8 bytes, its manifest says 4" in checkpoint.remove_when_done(session, out, None)
    assert all(path.exists() for path in written)
    slab.write_bytes(b"slab")
    line = checkpoint.remove_when_done(session, out, f"{slab}: damaged")  # the caller read a byte that differs
    assert line == (f"  checkpoints: kept 2 checkpoints of this run in {ck} ({out} is damaged: {slab}: damaged; "
                    f"dqsim resume {written[-1]} writes it again)")
    assert all(path.exists() for path in written)
    assert "removed the 2 checkpoints" in checkpoint.remove_when_done(session, out, None)
    assert not any(path.exists() or checkpoint.manifest_path(path).exists() for path in written)
    assert checkpoint.remove_when_done(session, out, None) is None  # none left to remove


def qft_with_slabs(out, ck):
    """``dqsim run`` arguments of a 10-qubit QFT whose final state goes to slab files (``max_gather_qubits = 6``:
    one a rank) in the output ``out``, a checkpoint at every look into ``ck``, the last 2 kept."""
    return ["jobs/qft_20q.toml", "--set", "circuit.num_qubits=10", "--set", 'simulation.observables=["X0"]',
            "--set", "simulation.max_gather_qubits=6", "--set", f'checkpoint.directory="{ck}"',
            "--set", "checkpoint.every_wall_s=1e-9", "--set", "checkpoint.keep=2", "-o", str(out)]


def test_repro_a_finished_run_keeps_its_checkpoints_when_a_slab_of_its_output_is_damaged_in_place(tmp_path,
                                                                                                  monkeypatch):
    """Before 2026-12-07 a finished run checked its output's state slab files by size only before removing its
    checkpoints: an amplitude's byte damaged in place (the size kept) between the write and the removal lost the
    one way back to the run's state. Now every byte is read against the manifest first (as ``dqsim clean`` does);
    the checkpoints stay, in one line naming the damage. A 10-qubit QFT whose final state goes to one slab file
    (``max_gather_qubits = 6``), a checkpoint at every look, on one rank in this process."""
    monkeypatch.delenv(KEEP_WHEN_DONE_ENV)
    out, ck = tmp_path / "q.h5", tmp_path / "ck"
    slab = tmp_path / "q.slab0000.h5"
    qft = qft_with_slabs(out, ck)
    original = main._write_output

    def damaged_once_written(*args, **kwargs):
        written = original(*args, **kwargs)
        with h5py.File(slab, "r") as h5:
            amplitudes_at = h5["slab"].id.get_offset()
        size = slab.stat().st_size
        flip_byte(slab, amplitudes_at + 100)
        assert slab.stat().st_size == size
        return written

    with monkeypatch.context() as patch:
        patch.setattr(main, "_write_output", damaged_once_written)
        done = run_here(["run", *qft]).stdout
    kept = checkpoints(ck)
    assert kept, done
    count = f"{len(kept)} checkpoint" + ("s" if len(kept) > 1 else "")
    lines = [line for line in done.splitlines() if "checkpoints:" in line]
    assert len(lines) == 1 and lines[0].startswith(f"  checkpoints: kept {count} of this run in {ck} ({out} is "
                                                   f"damaged: {slab}: damaged (its ") \
        and lines[0].endswith(f"; dqsim resume {kept[-1]} writes it again)"), done
    resumed = run_here(["resume", str(kept[-1])]).stdout  # writes the output again, whole: they go
    assert f"removed the {count} of this run" in resumed and checkpoints(ck) == [], resumed


def test_on_two_ranks_a_slab_damaged_in_rank_1s_share_keeps_the_checkpoints(tmp_path):
    """Every rank reads its share of the output's slab files before the removal (rank 1: the second slab file), and
    rank 0 hears of the damage rank 1 found: the checkpoints stay, in one line. The same 10-qubit QFT on 2 ranks
    (one slab file each), the second slab file damaged in place as rank 0's write of the run file ends
    (``tests/mpi_scripts/damaged_output_slab.py``)."""
    if mpiexec_path() is None:
        pytest.skip("no mpiexec beside this Python; install the 'mpi' extra")
    out, ck = tmp_path / "q.h5", tmp_path / "ck"
    slab = tmp_path / "q.slab0001.h5"
    qft = qft_with_slabs(out, ck)
    done = run_command([mpiexec_path(), "-n", "2", sys.executable, "tests/mpi_scripts/damaged_output_slab.py",
                        str(slab), "run", *qft], env=DEFAULT, timeout_s=240)
    kept = checkpoints(ck)
    lines = [line for line in done.stdout.splitlines() if "checkpoints:" in line]
    assert kept and len(lines) == 1 and f"of this run in {ck} ({out} is damaged: {slab}: damaged (its " in lines[0], \
        done.stdout
