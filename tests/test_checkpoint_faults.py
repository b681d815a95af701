"""Defects found by the checkpoint fault-injection harness (bench/checkpoint_faults.py).

Each test reproduces one defect in a small seeded case; the harness's trials and their outcomes are in
bench/results/checkpoint_faults-vm-20261206.md.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from mpi_helper import ROOT, child_env, mpiexec_path, run_here
from run_files import checkpoints, same_tables

from dqsim.cli import INTERRUPTED_AT_START
from dqsim.io import open_run

#: A BB84 job of a few seconds with a checkpoint at each of its first milliseconds of simulated time.
BB84 = ["jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=2000000", "--set", "qkd.batch_pulses=250000",
        "--set", "qkd.block_pulses=1000000"]


def mpi4py_launch(ranks: int) -> list[str]:
    """``mpiexec -n RANKS python -m mpi4py -m dqsim`` (skips without the venv's mpiexec)."""
    launcher = mpiexec_path()
    if launcher is None:
        pytest.skip("no mpiexec beside this Python; install the 'mpi' extra")
    return [launcher, "-n", str(ranks), sys.executable, "-m", "mpi4py", "-m", "dqsim"]


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def bb84_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults_bb84")
    run_here(["run", *BB84, "-o", folder / "full.h5", "--quiet", "--set", "checkpoint.every_sim_s=0.001",
              "--set", f"checkpoint.directory=\"{folder / 'ck'}\"", "--set", "checkpoint.keep=2"])
    return checkpoints(folder / "ck")[-1]


def test_repro_a_damaged_checkpoint_under_python_m_mpi4py_on_two_ranks_is_refused_in_one_line(
        bb84_checkpoint, tmp_path):
    """mpi4py's runner turned the refusal's status 2 into MPI_Abort at exit: a line ``Abort(2) on node 1 (rank 1
    in comm 0): application called MPI_Abort(MPI_COMM_WORLD, 2) - process 1`` after dqsim's one line."""
    for f in bb84_checkpoint.parent.glob(bb84_checkpoint.name[:-3] + ".*"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    damaged = tmp_path / bb84_checkpoint.name
    with open(damaged, "r+b") as fh:
        fh.truncate(damaged.stat().st_size // 2)
    proc = subprocess.run([*mpi4py_launch(2), "resume", str(damaged), "-o", str(tmp_path / "x.h5"), "--quiet"],
                          cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=120)
    lines = stderr_lines(proc.stderr)
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("dqsim: error: ") and "truncated" in lines[0], proc.stderr
    assert not (tmp_path / "x.h5").exists()


def test_repro_a_stop_under_python_m_mpi4py_on_two_ranks_is_one_line_and_status_75(tmp_path):
    """SIGUSR1 to mpiexec (passed on to both ranks) once both hold the stop signals: a checkpoint, status 75 and
    the one line naming it, without mpi4py's ``Abort(75) on node ...`` lines."""
    ready = tmp_path / "ready"
    ready.mkdir()
    env = dict(child_env(), DQSIM_READY_DIR=str(ready))
    proc = subprocess.Popen([*mpi4py_launch(2), "run", *BB84, "-o", str(tmp_path / "x.h5"), "--quiet",
                             "--set", f"checkpoint.directory=\"{tmp_path / 'ck'}\""], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        while len(list(ready.iterdir())) < 2 and proc.poll() is None:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGUSR1)
        _out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    lines = stderr_lines(err)
    assert proc.returncode == 75, err
    assert len(lines) == 1 and lines[0].startswith("dqsim: checkpoint written to "), err
    assert len(checkpoints(tmp_path / "ck")) == 1


#: A run of ``console_main`` in a process that sends itself SIGINT as the interpreter tears down (from an object
#: freed with ``__main__``), with Python's own SIGINT handler to start with, as under an interactive shell.
SIGINT_AT_TEARDOWN = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from dqsim.cli import console_main


class SignalAtTeardown:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)


keep = SignalAtTeardown()
sys.exit(console_main(sys.argv[1:]))
"""


def test_repro_a_ctrl_c_while_a_finished_run_exits_leaves_its_exit_status(tmp_path):
    """A Ctrl-C (SIGINT) that reached a one-rank run once it had its exit status, while Python tore down
    (1.3-2.5 s on the loaded VM), ended the process by SIGINT's default action: status -2 (130 from a shell)
    and no line, the output complete (the harness's SIGINT trials, qkd on 1 rank). SIGUSR1 and SIGTERM
    were ignored there already."""
    script = tmp_path / "sigint_at_teardown.py"
    script.write_text(SIGINT_AT_TEARDOWN)
    out = tmp_path / "x.h5"
    proc = subprocess.run([sys.executable, str(script), "run", *BB84[:1], "--set", "qkd.pulses=200000",
                           "--set", "qkd.batch_pulses=100000", "--set", "qkd.block_pulses=200000", "-o", str(out),
                           "--quiet", "--set", f"checkpoint.directory=\"{tmp_path / 'ck'}\""],
                          cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "" and out.exists(), (proc.returncode, proc.stderr)


#: ``console_main`` on every rank; rank 1 sends itself SIGINT (Python's own handler, as under an interactive
#: shell) once the world communicator is duplicated, as ``comm.MPIComm`` goes on to ``Split_type``: MPI runs,
#: and the other rank goes on to that collective.
CTRL_C_IN_COMM_INIT = """
import linecache, os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from dqsim.cli import console_main


def trace(frame, event, arg):
    if frame.f_code.co_name == "__init__" and frame.f_code.co_filename.endswith(os.path.join("comm", "__init__.py")):
        return at_split
    return None


def at_split(frame, event, arg):
    if event == "line" and "Split_type" in linecache.getline(frame.f_code.co_filename, frame.f_lineno):
        sys.settrace(None)
        os.kill(os.getpid(), signal.SIGINT)
        return None
    return at_split


if os.environ.get("PMI_RANK") == "1":
    sys.settrace(trace)
sys.exit(console_main(sys.argv[1:]))
"""


def test_repro_a_ctrl_c_on_one_rank_while_mpi_starts_ends_every_rank_in_one_line(tmp_path):
    """A Ctrl-C that one rank took while ``comm.init`` started MPI (between the communicator's collectives)
    ended that rank with ``dqsim: interrupted`` (130) and ``MPI_Finalize`` while the other waited for it in
    the next collective: a hang (seen once in the harness's SIGINT trials on 2 ranks, with gdb: one rank in
    ``PMPI_Comm_dup``, the other in ``PMPI_Finalize``). SIGINT now waits, blocked, until MPI runs on every
    rank; the ranks then look together whether one got it: every rank ends, status 130, one line, nothing
    written (from 2026-12-06 to the Ctrl-C-in-the-imports fix below it was a stop: a checkpoint at the first
    cut, status 75)."""
    launcher = mpiexec_path()
    if launcher is None:
        pytest.skip("no mpiexec beside this Python; install the 'mpi' extra")
    script = tmp_path / "ctrl_c_in_comm_init.py"
    script.write_text(CTRL_C_IN_COMM_INIT)
    ends_interrupted_in_one_line([launcher, "-n", "2", sys.executable, str(script)], tmp_path, "while MPI started",
                                 timeout_s=180)


def ends_interrupted_in_one_line(launch: list[str], tmp_path, when: str, *, timeout_s: float) -> None:
    """Run ``LAUNCH run`` of the BB84 job (``launch`` starts a script of :func:`dqsim.cli.console_main` with a
    Ctrl-C in it): it must end with status 130, the one line ``dqsim: interrupted while starting ...`` (stdout and
    stderr) saying nothing was run or written (userwalk 7: it said ``dqsim: interrupted`` alone), and
    nothing written; one that hangs (``timeout_s``) is killed, and fails the test naming ``when``."""
    proc = subprocess.Popen([*launch, "run", *BB84, "-o", str(tmp_path / "x.h5"), "--quiet",
                             "--set", f"checkpoint.directory=\"{tmp_path / 'ck'}\""],
                            cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        for pid in _process_tree(proc.pid):
            os.kill(pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"the ranks hung after a Ctrl-C on one of them {when}:\n{out[-2000:]}")
    assert proc.returncode == 130 and stderr_lines(out) == [INTERRUPTED_AT_START], (proc.returncode, out[-2000:])
    assert not (tmp_path / "x.h5").exists() and not checkpoints(tmp_path / "ck")


#: ``console_main`` on every rank (under mpi4py's runner); rank 1 sends itself SIGINT (Python's own handler, as
#: under an interactive shell) as the command's modules load, when h5py is looked for: rank 0 goes on to MPI's start.
CTRL_C_IN_THE_IMPORTS = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from dqsim.cli import console_main


class CtrlCAtH5py:
    def find_spec(self, name, path=None, target=None):
        if name == "h5py":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None


if os.environ.get("PMI_RANK") == "1":
    sys.meta_path.insert(0, CtrlCAtH5py())
sys.exit(console_main(sys.argv[1:]))
"""


def test_repro_a_ctrl_c_on_one_rank_while_it_imports_ends_every_rank_with_130_in_one_line(tmp_path):
    """A Ctrl-C that one rank took while it still imported the command's modules (before ``hold_ctrl_c``) ended
    that rank alone (``dqsim: interrupted``, 130, MPI never started) while the other went on into MPI's start:
    it waited there for the departed rank (a hang), or mpiexec ended it with its "BAD TERMINATION" banner and
    status 2 or 11 (a SIGINT to ``mpiexec -n 2`` 0.4-3.4 s after the launch: 7 of 37 trials, one more hung;
    bench/results/ctrl-c-at-start-vm-20261206.md). Ctrl-C is now held from the command's first statement, and
    the ranks look together, once MPI runs, whether one got it: every rank ends with 130, one line."""
    script = tmp_path / "ctrl_c_in_the_imports.py"
    script.write_text(CTRL_C_IN_THE_IMPORTS)
    launch = mpi4py_launch(2)[:-2]  # mpiexec -n 2 python -m mpi4py, then the script
    ends_interrupted_in_one_line([*launch, str(script)], tmp_path, "while it imported", timeout_s=60)


#: A disk quota on the checkpoint folder ``FOLDER`` of ``BUDGET`` bytes: an HDF5 write that would make the files
#: there take more fails with ENOSPC (through the file object every run file is written with, dqsim.io.atomic).
#: A negative ``BUDGET``: the disk is full once a checkpoint there is whole that was not at the start (a manifest
#: written: the run's first, or a resume's own first).
QUOTA = """
import errno, os
from pathlib import Path
from dqsim.io import atomic

AT_START = set(FOLDER.glob("*.manifest.json"))


def write_within_quota(self, data, _write=atomic._DroppingFile.write):
    if self.failure is None and Path(self._fh.name).parent == FOLDER:
        size = len(memoryview(data).cast("B"))
        grows = max(0, self._fh.tell() + size - os.fstat(self._fh.fileno()).st_size)
        used = 0
        for file in FOLDER.iterdir():
            try:
                used += file.stat().st_size
            except OSError:
                pass
        new = set(FOLDER.glob("*.manifest.json")) - AT_START
        full = grows > 0 and bool(new) if BUDGET < 0 else used + grows > BUDGET
        if full:
            self.failure = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return size
    return _write(self, data)
"""

#: ``console_main`` on every rank with the checkpoint folder under :data:`QUOTA` (its folder and budget: argv 1, 2).
UNDER_QUOTA = """
import sys
from pathlib import Path
FOLDER, BUDGET = Path(sys.argv.pop(1)), int(sys.argv.pop(1))
""" + QUOTA + """
atomic._DroppingFile.write = write_within_quota
from dqsim.cli import console_main
sys.exit(console_main(sys.argv[1:]))
"""

#: A BB84 job of about a second; with a checkpoint every 0.2 ms of simulated time most take about 17-20 kB, some
#: 39 or 60 kB (15 KiB and 63 or 110 KiB before 2026-12-07, when node records were one HDF5 dataset each).
BB84_SHORT = ["jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=500000", "--set", "qkd.batch_pulses=125000",
              "--set", "qkd.block_pulses=250000"]

#: Room for two of its small checkpoints (19-21.4 kB with the manifest since 2026-12-07; 40,000 bytes for 15-17 KiB
#: before), not three.
ROOM_FOR_TWO = 48_000


def run_under_quota(tmp_path, monkeypatch, ranks: int, budget: int, setting: str) -> tuple[int, str]:
    """``(status, stderr)`` of :data:`BB84_SHORT` with a checkpoint every 0.2 ms of simulated time in
    ``tmp_path/ck`` under :data:`QUOTA` (``budget``), its output ``tmp_path/x.h5``, ``--set setting``: in this
    process on 1 rank (the quota undone after), else with mpiexec (:data:`UNDER_QUOTA`)."""
    ck = tmp_path / "ck"
    ck.mkdir()
    job = ["run", *BB84_SHORT, "-o", str(tmp_path / "x.h5"), "--quiet", "--set", "checkpoint.every_sim_s=0.0002",
           "--set", f"checkpoint.directory=\"{ck}\"", "--set", setting]
    return under_quota(tmp_path, monkeypatch, ranks, budget, job)


def under_quota(tmp_path, monkeypatch, ranks: int, budget: int, command: list[str]) -> tuple[int, str]:
    """``(status, stderr)`` of the dqsim ``command`` with the folder ``tmp_path/ck`` under :data:`QUOTA`
    (``budget``): in this process on 1 rank (the quota undone after), else with mpiexec (:data:`UNDER_QUOTA`)."""
    ck, job = tmp_path / "ck", command
    if ranks == 1:
        from dqsim.io import atomic

        quota = {"FOLDER": ck, "BUDGET": budget}
        exec(QUOTA, quota)  # noqa: S102 - the same quota as the ranks' script
        with monkeypatch.context() as patch:
            patch.setattr(atomic._DroppingFile, "write", quota["write_within_quota"])
            done = run_here(job, check=False)
        return done.returncode, done.stderr
    script = tmp_path / "under_quota.py"
    script.write_text(UNDER_QUOTA)
    proc = subprocess.run([*mpi4py_launch(ranks)[:-2], str(script), str(ck), str(budget), *job],
                          cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=180)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize("ranks", [1, 2])
def test_repro_keep_makes_room_on_a_full_disk(tmp_path, monkeypatch, ranks):
    """A checkpoint folder with room for two checkpoints and not three, ``keep = 2``: the third checkpoint's
    write failed (ENOSPC) and so did every later one, since an older checkpoint was removed only after a newer
    one was whole: the run went on with its second checkpoint as the newest. A write that fails for lack of
    room now removes this run's older checkpoints but the newest whole one and tries once more (one warning
    line saying so): the run ends with its last periodic checkpoint, which resumes to the uninterrupted tables
    (those of the run's own output; checkpoints too big for the folder still fail, with a warning each)."""
    ck, out = tmp_path / "ck", tmp_path / "x.h5"
    status, stderr = run_under_quota(tmp_path, monkeypatch, ranks, ROOM_FOR_TWO, "checkpoint.keep=2")
    lines = stderr_lines(stderr)
    assert status == 0 and all(line.startswith("dqsim: warning: ") for line in lines), stderr[-3000:]
    kept = checkpoints(ck)
    assert len(kept) == 2, kept
    failed = [line for line in lines if " not written (" in line]
    later = [line for line in failed if line.split("checkpoint ", 1)[1].split(" ", 1)[0].rsplit("/", 1)[-1] > kept[-1].name]
    assert not later, (kept[-1].name, later)  # every checkpoint after the newest kept one was written
    made_room = [line for line in lines if "to make room and wrote it" in line]
    assert made_room and all("No space left on device" in line for line in made_room + failed), lines
    run_here(["resume", kept[-1], "-o", tmp_path / "resumed.h5", "--quiet"])
    same_tables(open_run(out), open_run(tmp_path / "resumed.h5"), ["blocks", "links", "end_to_end"])


@pytest.mark.parametrize("ranks", [1, 2])
def test_a_disk_full_after_the_first_checkpoint_leaves_it_and_it_resumes_to_the_same_tables(tmp_path, monkeypatch,
                                                                                           ranks):
    """A checkpoint folder that fills once the run's first periodic checkpoint is whole (2026-12-07 (afternoon): the
    fault harness's full disks had limited runs from their start, and no kept checkpoint of such a run had been
    resumed): every later checkpoint fails with one warning line each (making room removes nothing: the newest
    whole checkpoint stays), the run ends with its output (status 0), and that first checkpoint, resumed with
    room, gives every table of the output bit for bit (``timing`` aside), on 1 and 2 ranks."""
    ck, out = tmp_path / "ck", tmp_path / "x.h5"
    status, stderr = run_under_quota(tmp_path, monkeypatch, ranks, -1, "checkpoint.keep_when_done=true")
    lines = stderr_lines(stderr)
    kept = checkpoints(ck)
    failed = [line for line in lines if " not written (" in line and "No space left on device" in line]
    assert status == 0 and all(line.startswith("dqsim: warning: ") for line in lines), stderr[-3000:]
    assert len(kept) == 1 and len(failed) >= 2, (kept, lines)  # the first one, and the later ones failed
    assert all(str(kept[0]) in line for line in failed), failed  # each names it as the last good checkpoint
    resumed = tmp_path / "resumed.h5"
    if ranks == 1:
        run_here(["resume", kept[0], "-o", resumed, "--quiet"])
    else:
        subprocess.run([*mpi4py_launch(ranks), "resume", str(kept[0]), "-o", str(resumed), "--quiet"], cwd=ROOT,
                       env=child_env(), check=True, capture_output=True, timeout=180)
    names = [name for name in open_run(out).tables if name != "timing"]
    assert names == [name for name in open_run(resumed).tables if name != "timing"]
    same_tables(open_run(out), open_run(resumed), names)


def resume_on(ranks: int, path, output) -> None:
    """``dqsim resume path -o output`` on ``ranks`` ranks (with room)."""
    if ranks == 1:
        run_here(["resume", path, "-o", output, "--quiet"])
    else:
        subprocess.run([*mpi4py_launch(ranks), "resume", str(path), "-o", str(output), "--quiet"], cwd=ROOT,
                       env=child_env(), check=True, capture_output=True, timeout=180)


@pytest.mark.parametrize("ranks, when", [(1, "at_once"), (1, "after_its_first"), (2, "at_once"),
                                         (2, "after_its_first")])
def test_a_disk_full_during_a_resume_ends_it_cleanly_and_its_newest_checkpoint_resumes_to_the_same_tables(
        tmp_path, monkeypatch, ranks, when):
    """A full disk during a resume (2026-12-07 (late afternoon): the fault harness and the tests had filled it
    during a run from the start only): the run's first periodic checkpoint, alone in its folder, resumed with the
    folder full at once (room for it alone) or once the resume's own first checkpoint is whole. The resume must
    end with status 0 and only warning lines (its checkpoints that failed, one line each), its output the
    uninterrupted run's tables, and the newest checkpoint it leaves, resumed with room, the same tables, on 1 and
    2 ranks."""
    ck, out = tmp_path / "ck", tmp_path / "x.h5"
    run_here(["run", *BB84_SHORT, "-o", out, "--quiet", "--set", "checkpoint.every_sim_s=0.0002", "--set",
              f"checkpoint.directory=\"{ck}\"", "--set", "checkpoint.keep_when_done=true", "--set",
              "checkpoint.keep=100"])
    first, *later = checkpoints(ck)
    assert len(later) >= 3, later
    assert later, "the run wrote one checkpoint only"
    for path in later:  # the first alone: as after a stop at the first cut
        for file in ck.glob(path.name[:-len(".h5")] + ".*"):
            file.unlink()
    budget = sum(file.stat().st_size for file in ck.iterdir()) + 1024 if when == "at_once" else -1
    status, stderr = under_quota(tmp_path, monkeypatch, ranks, budget,
                                 ["resume", str(first), "-o", str(tmp_path / "y.h5"), "--quiet"])
    lines = stderr_lines(stderr)
    assert status == 0 and all(line.startswith("dqsim: warning: ") for line in lines), stderr[-3000:]
    failed = [line for line in lines if " not written (" in line]
    assert failed and all("No space left on device" in line for line in failed), lines
    names = [name for name in open_run(out).tables if name != "timing"]
    same_tables(open_run(out), open_run(tmp_path / "y.h5"), names)
    kept = checkpoints(ck)
    assert kept and (when == "after_its_first" or kept == [first]), kept
    resume_on(ranks, kept[-1], tmp_path / "z.h5")
    same_tables(open_run(out), open_run(tmp_path / "z.h5"), names)


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, deepest last (mpiexec starts each rank in a session of its own)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children", encoding="ascii") as fh:
                todo += [int(child) for child in fh.read().split()]
        except OSError:
            pass
    return found


def test_repro_a_damaged_checkpoint_alone_in_its_folder_is_refused_saying_what_to_do(tmp_path):
    """Found by the fault round of 2026-12-07 (morning; bench/results/checkpoint-faults-vm-20261207.md): a damaged
    checkpoint with no older one of its job in its folder (a copy, or the first a run wrote) was refused naming the
    file and the damage, but not what to do (with an older one the line names it: resume that one). Now the line
    says the folder holds no older checkpoint and the job must run again; a name that is no checkpoint's file gets
    no such words."""
    ck = tmp_path / "ck"
    run_here(["run", "jobs/dqc_ghz_4qpu.toml", "-o", tmp_path / "full.h5", "--quiet", "--set", "simulation.shots=20",
              "--set", "checkpoint.every_sim_s=0.0002", "--set", f'checkpoint.directory="{ck}"',
              "--set", "checkpoint.keep_when_done=true"])
    newest = checkpoints(ck)[-1]
    stem = newest.name[:-len(".h5")]
    hint = f"; {tmp_path / 'alone'} holds no older checkpoint of this job to resume instead: run the job again"
    for damage in ("flip", "truncate-manifest"):
        alone = tmp_path / "alone"
        alone.mkdir()
        for file in ck.glob(stem + ".*"):
            (alone / file.name).write_bytes(file.read_bytes())
        victim = alone / (newest.name if damage == "flip" else stem + ".manifest.json")
        data = bytearray(victim.read_bytes())
        if damage == "flip":
            data[len(data) // 2] ^= 4
        else:
            del data[len(data) // 3:]
        victim.write_bytes(bytes(data))
        refused = run_here(["resume", alone / newest.name, "-o", tmp_path / "x.h5", "--quiet"], check=False)
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 2 and len(lines) == 1, lines
        assert lines[0].startswith(f"dqsim: error: {victim}") and hint in lines[0], lines
        for file in alone.iterdir():
            file.unlink()
        alone.rmdir()
    missing = run_here(["resume", tmp_path / "none" / newest.name, "--quiet"], check=False).stderr
    assert "holds no older checkpoint" not in missing, missing
