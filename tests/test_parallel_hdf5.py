"""Parallel HDF5: states written collectively into one file read back like slab files.

Runs in ./.venv-mpio (mpi4py and h5py built against Debian's MPICH and
parallel HDF5 by scripts/mpio_env.sh) under ``mpiexec.mpich``; skipped where
that environment is missing. Files are read back in this process too, with
the serial h5py of the main venv: both layouts read the same way.
"""

import json
import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from dqsim.errors import DqsimError
from dqsim.io import open_run, verify_run_file
from mpi_helper import child_env, run_here, run_mpi
from mpio_helper import mpio_skip_reason, require_mpio, run_mpio
from run_files import checkpoints
from test_stop_signals_twice import SMALL

pytestmark = pytest.mark.skipif(mpio_skip_reason() is not None, reason=str(mpio_skip_reason()))

CHECK = "tests/mpi_scripts/sharded_state_check.py"
QFT = ["-m", "dqsim", "run", "jobs/qft_20q.toml", "--quiet", "--set", "circuit.num_qubits=10",
       "--set", 'simulation.observables=["X0"]', "--set", "simulation.max_gather_qubits=6"]
DQC = ["jobs/dqc_ghz_4qpu.toml", "--set", "simulation.store_shots=true", "--set", "circuit.generator=\"random\"",
       "--set", "circuit.depth=4", "--set", "distribution.assignment=[0, 0, 1, 1, 2, 2, 3, 3]"]


def known_state(num_qubits, dtype):
    """The vector tests/mpi_scripts/sharded_state_check.py writes."""
    rng = np.random.default_rng(20 + num_qubits)
    v = rng.normal(size=1 << num_qubits) + 1j * rng.normal(size=1 << num_qubits)
    return (v / np.linalg.norm(v)).astype(dtype)


#: The cases of CHECK the tests below look at (``sharded_state_check.py --cases``), one launch per rank count.
CHECK_CASES = {2: ["q10complex128=10,complex128", "slabs:slabs", "bad:bad", "cut3:cut:3", "cut9:cut:9"],
               4: ["q12complex64=12,complex64", "q11complex128=11,complex128"]}


@pytest.fixture(scope="module")
def check_runs(tmp_path_factory):
    """The cases of CHECK_CASES, one launch of .venv-mpio per rank count: ``{(ranks, case name): (its folder,
    what its ranks printed)}``."""
    require_mpio()
    runs = {}
    for ranks, cases in CHECK_CASES.items():
        root = tmp_path_factory.mktemp(f"check{ranks}")
        run_mpio(ranks, [CHECK, "--cases", str(root), "10", "complex128", *cases])
        for name in (case.split(":")[0].split("=")[0] for case in cases):
            printed = "".join((root / f"{name}.rank{rank}.out").read_text() for rank in range(ranks))
            runs[ranks, name] = (root / name, printed)
    return runs


@pytest.mark.parametrize("ranks, num_qubits, dtype", [(2, 10, "complex128"), (4, 12, "complex64"),
                                                      (4, 11, "complex128")])
def test_collective_write_is_one_file_that_reads_back(check_runs, ranks, num_qubits, dtype):
    folder, stdout = check_runs[ranks, f"q{num_qubits}{dtype}"]
    assert "layout=collective files=run.h5\n" in stdout  # one file: no slab files, no temporary
    run = open_run(folder / "run.h5")  # serial h5py reads what parallel HDF5 wrote
    assert run.state_info["layout"] == "collective" and run.state_info["num_slabs"] == ranks
    np.testing.assert_array_equal(run.state(), known_state(num_qubits, dtype))
    with h5py.File(folder / "run.h5") as h5:
        assert not h5["state"].is_virtual and len(h5["state"].attrs["slab_checksums"]) > 0


def test_switched_off_the_parallel_env_writes_slab_files(check_runs):
    assert "layout=slabs files=run.h5,run.slab0000.h5,run.slab0001.h5" in check_runs[2, "slabs"][1]


def test_a_rank_with_bad_pieces_fails_every_rank_collectively(check_runs):
    folder, stdout = check_runs[2, "bad"]
    assert "rank 1 raised ValueError: slab pieces cover" in stdout
    assert "rank 0 raised DqsimError" in stdout and "rank 1 failed" in stdout
    assert list(folder.iterdir()) == []  # the temporary file is gone


@pytest.mark.parametrize("look", [3, 9])
def test_a_stop_on_one_rank_cuts_a_collective_write_and_leaves_the_older_file(check_runs, look):
    """A look every 64 of each rank's 512 amplitudes: 7 in the write, one once written, 9 taken after the
    read-back. Rank 1 alone wants to stop from look LOOK: both ranks stop there, the temporary file every rank
    wrote into goes, and the run file written before stays as it was."""
    stdout = check_runs[2, f"cut{look}"][1]
    assert [line for line in stdout.splitlines() if line.startswith("rank ")] == [
        f"rank 0: cut at look {look}", f"rank 1: cut at look {look}"]
    assert "after the cut: files=run.h5 older files kept as they were=1" in stdout


@pytest.fixture(scope="module")
def mpio_runs(tmp_path_factory):
    """Three uninterrupted ``dqsim run``s on 2 ranks of .venv-mpio, in one launch (tests/mpi_scripts/dqsim_runs.py):
    test_checkpoint_stops' SLABS job to ``slabs/full.h5``, the 10-qubit QFT to ``qft/p.h5`` and the DQC job to
    ``dqc/full.h5``, checkpointing as it goes into ``dqc/ck`` (every 0.8 simulated ms: 6 collective checkpoints; every
    0.4 ms, until 2026-12-07 (late night), wrote 12, ~1.5 s CPU more). Returns their folder."""
    from test_checkpoint_stops import SLABS

    require_mpio()
    folder = tmp_path_factory.mktemp("mpio_runs")
    run_mpio(2, ["tests/mpi_scripts/dqsim_runs.py", "run", *SLABS, "-o", str(folder / "slabs" / "full.h5"), "--quiet",
                 "--then", *QFT[2:], "-o", str(folder / "qft" / "p.h5"),
                 "--then", "run", *DQC, "-o", str(folder / "dqc" / "full.h5"), "--quiet", "--set",
                 "checkpoint.every_sim_s=0.0008", "--set", f"checkpoint.directory=\"{folder / 'dqc' / 'ck'}\"",
                 "--set", "checkpoint.keep=20"], timeout_s=480)
    return folder


def test_a_sigterm_to_one_rank_in_a_collective_state_write_of_dqsim_run_checkpoints_and_resumes(mpio_runs, tmp_path):
    """``dqsim run`` on two ranks, the state written collectively, rank 1 alone signalled as the write starts:
    both ranks cut it at the first look, the temporary file goes, the finished engine run is checkpointed (75);
    the resume gives the uninterrupted run's (``mpio_runs``) tables and state. The stop and the resume in one
    launch (tests/mpi_scripts/two_rank_stops.py, as test_checkpoint_stops' ``stopped_on_two_ranks``)."""
    from test_checkpoint_stops import RANK_ATTRS, SLABS, resumes_of, same_run, stopped_run

    folder, marks = tmp_path / "run", tmp_path / "marks"
    folder.mkdir()
    marks.mkdir()
    case = {"name": "collective", "hook": "files", "hook_args": ["dqsim.io.sharded:_write_collective:1", "64",
                                                                 str(marks)],
            "folder": str(folder), "out": str(tmp_path / "stop"), "resume": True,
            "args": ["run", *SLABS, "-o", str(folder / "stopped.h5"), "--quiet", "--set",
                     f"checkpoint.directory=\"{folder / 'ck'}\""]}
    (tmp_path / "cases.json").write_text(json.dumps([case]))
    launch = run_mpio(2, ["tests/mpi_scripts/two_rank_stops.py", str(tmp_path / "cases.json")], check=False)
    stopped = stopped_run(case, launch)
    assert stopped.returncode == 75, stopped.stderr
    assert sorted(line for mark in marks.iterdir() for line in mark.read_text().splitlines()) == [
        "rank 0: the state write ended by StateWriteCut", "rank 1: the state write ended by StateWriteCut"]
    listing = json.loads(Path(f"{case['out']}.listing.json").read_text())  # right after the stop
    assert listing == ["ck"]  # no output, no temporary file
    assert len(checkpoints(folder / "ck")) == 1  # the one two_rank_stops.py resumed
    resumes = resumes_of([case], launch)
    assert resumes is not None and resumes.returncode == 0, resumes and resumes.stderr
    full, resumed = open_run(mpio_runs / "slabs" / "full.h5"), open_run(folder / "resumed.h5")
    assert resumed.state_info["layout"] == "collective"
    np.testing.assert_array_equal(full.state(), resumed.state())
    same_run(full, resumed, ignore=RANK_ATTRS)


def test_dqsim_run_writes_the_same_state_as_the_serial_path(mpio_runs, tmp_path):
    serial, parallel = tmp_path / "serial" / "s.h5", mpio_runs / "qft" / "p.h5"
    run_mpi(2, [*QFT, "-o", str(serial)])
    assert sorted(p.name for p in serial.parent.iterdir()) == ["s.h5", "s.h5.manifest.json", "s.slab0000.h5",
                                                                "s.slab0001.h5"]
    assert sorted(p.name for p in parallel.parent.iterdir()) == ["p.h5", "p.h5.manifest.json"]
    assert verify_run_file(serial) and verify_run_file(parallel)  # the manifests cover the slabs too
    a, b = open_run(serial), open_run(parallel)
    assert (a.state_info["layout"], b.state_info["layout"]) == ("slabs", "collective")
    assert np.max(np.abs(a.state() - b.state())) < 1e-12
    assert np.allclose(b.state(), np.full(1024, 1 / 32), atol=1e-10)  # QFT of |0...0>


def test_a_flipped_amplitude_in_a_collective_file_is_one_corrupt_line(check_runs, tmp_path):
    written = check_runs[2, "q10complex128"][0] / "run.h5"  # a copy: the other tests read the file as written
    (tmp_path / "run.h5").write_bytes(written.read_bytes())
    with h5py.File(tmp_path / "run.h5", "r+") as h5:
        h5["state"][700] = h5["state"][700] + 1e-3
    run = open_run(tmp_path / "run.h5")
    with pytest.raises(DqsimError, match=r"state slab 1 of 2 \(amplitudes 512..1023\) is corrupt") as info:
        run.state()
    assert "\n" not in str(info.value)
    assert sum(p.size for _, p in run.state_pieces(0, 512)) == 512  # slab 0 is still good
    with pytest.raises(DqsimError, match="corrupt"):
        list(run.state_pieces(600, 601))
    proc = run_here(["inspect", tmp_path / "run.h5"])
    assert [line for line in proc.stdout.splitlines() if "ERROR" in line and "corrupt" in line]


#: The ways tests/mpi_scripts/no_room.py fills the disk (its WHAT) and what the refusals say.
NO_ROOM = [("statvfs", "No space left on device: it needs"),
           ("reserve", "Disk quota exceeded; rank 1 could not reserve")]


@pytest.fixture(scope="module")
def no_room_runs(tmp_path_factory):
    """With the disk full each way of NO_ROOM (in the folder named WHAT): the QFT run (its output into the empty
    folder ``q``) and the DQC run checkpointing every 0.001 s (``d/full.h5``, checkpoints into ``ck``), all four
    in one launch of 2 ranks of .venv-mpio (``no_room.py --cases``). Returns ``{what: (its folder, {"qft" | "dqc":
    (the run's exit status per rank, its ranks' stderr then the launch's)})}``."""
    require_mpio()
    root = tmp_path_factory.mktemp("no_room")
    cases = []
    for what, _reason in NO_ROOM:
        folder = root / what
        (folder / "q").mkdir(parents=True)
        cases += [{"what": what, "out": str(folder / "qft"), "args": [*QFT[2:], "-o", str(folder / "q" / "q.h5")]},
                  {"what": what, "out": str(folder / "dqc"),
                   "args": ["run", *DQC, "-o", str(folder / "d" / "full.h5"), "--quiet", "--set",
                            "checkpoint.every_sim_s=0.001", "--set", f"checkpoint.directory=\"{folder / 'ck'}\""]}]
    (root / "cases.json").write_text(json.dumps(cases))
    launch = run_mpio(2, ["tests/mpi_scripts/no_room.py", "--cases", str(root / "cases.json")], timeout_s=480)

    def ended(out):
        statuses = [int(Path(f"{out}.rank{rank}.status").read_text()) for rank in (0, 1)]
        return statuses, "".join(Path(f"{out}.rank{rank}.stderr").read_text() for rank in (0, 1)) + launch.stderr

    return {what: (root / what, {run: ended(root / what / run) for run in ("qft", "dqc")}) for what, _ in NO_ROOM}


@pytest.mark.parametrize("what, reason", NO_ROOM)
def test_a_full_disk_refuses_the_collective_state_in_one_line_and_checkpoints_only_warn(no_room_runs, what, reason):
    """Parallel HDF5 does not survive a disk that fills under it (the file cannot be closed; the next close of
    any HDF5 file crashed the process, losing the run's results), so a collective write checks the free space
    first, then every rank reserves its blocks before writing (here: no free space; or one rank's
    reservation fails, as under a quota). The run's output: one line, exit 2, no file left. A periodic
    checkpoint: a warning and the run goes on to its results (2026-12-05: both had been an internal error,
    then SIGSEGV)."""
    folder, ended = no_room_runs[what]
    statuses, stderr = ended["qft"]
    assert statuses == [2, 2], stderr
    errors = [line for line in stderr.splitlines() if line.startswith("dqsim: error")]
    assert len(errors) == 1 and reason in errors[0], stderr
    assert "Traceback" not in stderr and list((folder / "q").iterdir()) == []
    statuses, stderr = ended["dqc"]
    assert statuses == [0, 0], stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("dqsim: warning: checkpoint")]
    assert warnings and all(reason in line for line in warnings), stderr
    run = open_run(folder / "d" / "full.h5")
    assert run.attrs["num_failed_checkpoints"] == len(warnings) and abs(run.attrs["fidelity"] - 1) < 1e-12
    assert list((folder / "ck").iterdir()) == []  # no temporary file or manifest of a failed checkpoint


@pytest.fixture(scope="module")
def parallel_dqc(mpio_runs):
    """The uninterrupted DQC run on 2 ranks of .venv-mpio (``mpio_runs``), checkpointing as it went: its folder,
    output and checkpoints."""
    folder = mpio_runs / "dqc"
    full = folder / "full.h5"
    ckpts = checkpoints(folder / "ck")
    assert len(ckpts) >= 2
    assert open_run(ckpts[0]).state_info["layout"] == "collective"
    assert not list((folder / "ck").glob("*.slab*.h5"))
    return folder, full, ckpts


@pytest.mark.parametrize("venv, ranks", [("mpio", 4), ("serial", 1)])
def test_a_collective_checkpoint_resumes_to_the_uninterrupted_results(parallel_dqc, venv, ranks):
    folder, full, ckpts = parallel_dqc
    out = folder / f"resumed-{venv}{ranks}.h5"
    args = ["resume", str(ckpts[len(ckpts) // 2]), "-o", str(out), "--quiet"]
    if venv == "mpio":
        run_mpio(ranks, ["-m", "dqsim", *args], timeout_s=240)
    else:  # the main venv's serial h5py, in this process
        run_here(args)
    a, b = open_run(full), open_run(out)
    for name in ("shots", "links", "counts"):
        assert np.array_equal(a.table(name), b.table(name)), name
    assert a.attrs["simulated_time_ps"] == b.attrs["simulated_time_ps"]
    assert abs(a.attrs["fidelity"] - b.attrs["fidelity"]) < 1e-12


def test_resuming_a_corrupt_collective_checkpoint_is_one_line(parallel_dqc, tmp_path):
    _folder, _full, ckpts = parallel_dqc
    target = tmp_path / ckpts[0].name
    target.write_bytes(ckpts[0].read_bytes())
    manifest = ckpts[0].with_name(ckpts[0].name[:-3] + ".manifest.json")
    (tmp_path / manifest.name).write_bytes(manifest.read_bytes())
    with h5py.File(target, "r+") as h5:
        h5["state"][0] = h5["state"][0] + 1e-3
    proc = run_mpio(1, ["-m", "dqsim", "resume", str(target), "-o", str(tmp_path / "x.h5"), "--quiet"],
                    check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "damaged" in lines[0] and "Traceback" not in proc.stderr  # found by the manifest


def test_repro_a_file_size_limit_refuses_the_collective_state_in_one_line_instead_of_crashing(tmp_path):
    """A per-file size limit (``ulimit -f``, ``RLIMIT_FSIZE``) below the collective state file: the write failed with
    ``EFBIG`` inside MPI-IO and the file's close crashed the process (SIGSEGV in ``H5F__close_cb``, status 11: the
    checkpoint fault harness's ``--mpio --fullafter`` trials of 2026-12-07 (late afternoon); the free-space check and
    the block reservation do not see such a limit). Now every rank's limit is checked before the file is opened: each
    periodic checkpoint is a warning line naming the limit, the output one ``dqsim: error:`` line (status 2)."""
    require_mpio()
    done = run_mpio(2, ["tests/mpi_scripts/size_limited.py", "32125", "run", *DQC, "-o", str(tmp_path / "out.h5"),
                        "--quiet", "--set", "checkpoint.every_sim_s=0.0008", "--set",
                        f"checkpoint.directory=\"{tmp_path / 'ck'}\""], check=False, timeout_s=300)
    lines = [line for line in done.stderr.splitlines() if line.startswith("dqsim")]
    assert done.returncode == 2 and "Segmentation" not in done.stderr, done.stderr[-3000:]
    warnings = [line for line in lines if line.startswith("dqsim: warning: checkpoint ")]
    assert warnings and all("RLIMIT_FSIZE" in line for line in warnings), lines
    assert len(lines) == len(warnings) + 1 and lines[-1].startswith("dqsim: error: "), lines
    assert "RLIMIT_FSIZE" in lines[-1]


#: How tests/mpi_scripts/fills_during_write.py fills the disk during the first collective checkpoint, and the
#: ``dqsim: error:`` line the job ends with (None: it goes on to its results).
FILLS = [("limit", None), ("nometa", "did not close on every rank within 5 s"),
         ("nofallocate", "the disk filled during a parallel write")]


@pytest.mark.parametrize("how, error", FILLS)
def test_repro_a_disk_that_fills_during_a_collective_write_ends_the_job_instead_of_hanging(tmp_path, how, error):
    """A disk that fills after the free-space check and the amplitudes' reservation (the fault harness's ``--mpio
    --fullafter`` trials of 2026-12-07: SIGSEGV in ``H5F__close_cb``, or a hang killed after 180 s): HDF5's metadata
    written at the collective close failed on one rank, which left the cache's flush for the truncation
    (``MPI_Bcast``) while the other waited in the flush's ``MPI_Barrier``. Now rank 0 reserves the metadata's blocks
    too (``limit``: the run ends with its results); where they are not reserved (``nometa``) the close is watched
    and the job aborted in one line after ``DQSIM_COLLECTIVE_CLOSE_S``; a failed write of amplitudes
    (``nofallocate``: no block reserved) aborts it at once, the file not closed."""
    require_mpio()
    done = run_mpio(2, ["tests/mpi_scripts/fills_during_write.py", how, "run", *DQC, "-o", str(tmp_path / "out.h5"),
                        "--quiet", "--set", "checkpoint.every_sim_s=0.0008", "--set",
                        f"checkpoint.directory=\"{tmp_path / 'ck'}\""], check=False, timeout_s=150,
                    env={**child_env(), "DQSIM_COLLECTIVE_CLOSE_S": "5"})
    lines = [line for line in done.stderr.splitlines() if line.startswith("dqsim")]
    assert "Segmentation" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]
    if error is None:
        assert done.returncode == 0 and lines == [], done.stderr[-3000:]
        assert abs(open_run(tmp_path / "out.h5").attrs["fidelity"] - 1) < 1e-12
        return
    assert done.returncode != 0 and len(lines) == 1 and error in lines[0], done.stderr[-3000:]
    assert "parallel HDF5 cannot go on after a failed write" in lines[0]
    # every rank learnt of a failed write at one allgather: each ends itself (since 2026-12-07 (night)), and MPICH
    # adds no "Abort(2) on node N" line of its own; a close not done in time ends the job through MPI_Abort
    assert ("Abort(2)" in done.stderr) == (how == "nometa"), done.stderr[-3000:]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_repro_a_disk_full_before_the_reservation_ends_the_job_in_one_line_instead_of_crashing(tmp_path):
    """The disk fills between the free-space check and the block reservation (a 16 MiB tmpfs filled by rank 0,
    ``fills_during_write.py before``): the reservation is refused, but the file's close then fails too (no block for
    HDF5's metadata), and the next close of an HDF5 file crashed both ranks (SIGSEGV in ``H5F__close_cb``, as in the
    fault harness's ``--mpio --fullafter`` bellslab trials). Now a failed close ends the job in one line."""
    require_mpio()
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        done = run_mpio(2, ["tests/mpi_scripts/fills_during_write.py", "before", "run", *DQC, "-o",
                            str(disk / "out.h5"), "--quiet", "--set", "checkpoint.every_sim_s=0.0008", "--set",
                            f"checkpoint.directory=\"{disk / 'ck'}\""], check=False, timeout_s=150,
                        env={**child_env(), "DQSIM_COLLECTIVE_CLOSE_S": "10"})
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
    lines = [line for line in done.stderr.splitlines() if line.startswith("dqsim")]
    assert "Segmentation" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 2 and len(lines) == 1 and "No space left on device" in lines[0], done.stderr[-3000:]
    assert "then cannot close the file" in lines[0] and "Abort(2)" not in done.stderr


#: Where tests/mpi_scripts/stalls_in_write.py stalls rank 1 in the second collective checkpoint, and the step the
#: one line names: rank 0's, which waits for rank 1 there (HDF5 creates a dataset without waiting for every rank: in
#: the blocks' reservation that follows, an allgather). ``room``: the collectives before the file's open (the free
#: space and the ranks' file size limits), watched since 2026-12-07 (late night): until then the job hung there.
STALLS = [("room", "file's room check (free space, file size limits)"), ("open", "file's open"),
          ("create", "file's block reservation"), ("write", "file's write")]


@pytest.mark.parametrize("step, named", STALLS)
def test_repro_a_rank_stalled_in_a_collective_checkpoint_write_ends_the_job_in_one_line(tmp_path, step, named):
    """A rank that stalls inside a collective checkpoint write (a file system that stopped answering) before the
    file's close: the other rank waited for it in HDF5's collective open, the dataset's creation, or the agreement
    after the write, and the job hung, as the watchdog of 2026-12-07 (late afternoon) watched the close alone. Now
    each step is watched (``DQSIM_COLLECTIVE_CLOSE_S`` for each), and the job ends in one line that names the step and
    the newest whole checkpoint, which is the run's first (written before the stall) and nothing of the second."""
    require_mpio()
    done = run_mpio(2, ["tests/mpi_scripts/stalls_in_write.py", step, "run", *DQC, "-o", str(tmp_path / "out.h5"),
                        "--quiet", "--set", "checkpoint.every_sim_s=0.0008", "--set",
                        f"checkpoint.directory=\"{tmp_path / 'ck'}\""], check=False, timeout_s=150,
                    env={**child_env(), "DQSIM_COLLECTIVE_CLOSE_S": "5"})
    lines = [line for line in done.stderr.splitlines() if line.startswith("dqsim")]
    assert "Segmentation" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]
    (first,) = checkpoints(tmp_path / "ck")
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-3000:]
    assert f"the parallel HDF5 {named} did not end on every rank within 5 s" in lines[0], lines
    assert lines[0].endswith(f"parallel HDF5 cannot go on after a stalled collective step, so the job ends here; "
                             f"the newest whole checkpoint: {first}; once the file system answers: "
                             f"dqsim resume {first}"), lines


#: How tests/mpi_scripts/second_sigint.py cuts a stop's checkpoint written through parallel HDF5: (WHO, the second
#: signal, the exit status every rank ends with).
SECOND_SIGNALS = [("range1", "SIGINT", 130), ("complete", "SIGINT", 130), ("range0", "SIGTERM", 75)]


@pytest.mark.parametrize("who, second, status", SECOND_SIGNALS)
def test_a_second_signal_in_a_parallel_hdf5_checkpoint_write_ends_every_rank_alike(tmp_path, who, second, status):
    """A second signal while the stop's checkpoint is written through parallel HDF5 (untested until 2026-12-07 (late
    night); the slab files' cut is tests/test_stop_signals_twice.py's): a Ctrl-C to rank 1 alone while it writes its
    range of the collective file (``range1``), or to rank 0 while it completes that file with the run's tables inside
    HDF5 (``complete``), ends every rank with 130 and one line, no file of the checkpoint left (no temporary either),
    no ``Abort`` line of MPICH's; a second SIGTERM is the stop asked again: the checkpoint completes (75), and
    resumes."""
    require_mpio()
    done = run_mpio(2, ["-m", "mpi4py", "tests/mpi_scripts/second_sigint.py", who, "run", *SMALL, "-o",
                        str(tmp_path / "x.h5"), "--set", f"checkpoint.directory=\"{tmp_path / 'ck'}\""],
                    check=False, timeout_s=150, env={**child_env(), "SIGNAL": second})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == status and "Abort" not in done.stderr, done.stderr[-3000:]
    if status == 130:
        assert lines == ["dqsim: interrupted (a second Ctrl-C); this run wrote nothing more; no checkpoint of it to "
                         "resume: run the job again"], done.stderr[-3000:]
        assert sorted(path.name for path in (tmp_path / "ck").iterdir()) == []
        return
    (written,) = checkpoints(tmp_path / "ck")
    assert lines == [f"dqsim: checkpoint written to {written}; continue with: dqsim resume {written}"], lines
    with h5py.File(written) as h5:
        assert h5["state"].attrs["layout"] == "collective"
    run_here(["resume", str(written), "-o", str(tmp_path / "resumed.h5"), "--quiet"])
    assert (tmp_path / "resumed.h5").is_file()


def test_a_late_stop_cuts_the_output_s_parallel_hdf5_write_and_checkpoints_the_finished_engine_run(tmp_path):
    """A SIGTERM to rank 1 alone after the engine's last step, as it starts writing its range of the output's state into
    the collective file (untested until 2026-12-07 (late night); the slab files' cut:
    tests/test_checkpoint_stops.py): both ranks take it at the write's next look, abandon the file (no output, no
    temporary left) and checkpoint the finished engine run (status 75, one line); its resume writes the
    uninterrupted run's shots and state."""
    require_mpio()
    job = [*DQC, "--set", "simulation.save_state=true", "--set", "simulation.max_gather_qubits=2", "--quiet"]
    done = run_mpio(2, ["-m", "mpi4py", "tests/mpi_scripts/late_stop_collective.py", "1", "run", *job, "-o",
                        str(tmp_path / "x.h5"), "--set", f"checkpoint.directory=\"{tmp_path / 'ck'}\""],
                    check=False, timeout_s=150)
    (written,) = checkpoints(tmp_path / "ck")
    assert done.returncode == 75 and "Abort" not in done.stderr, done.stderr[-3000:]
    assert done.stderr.strip().splitlines() == [f"dqsim: checkpoint written to {written}; continue with: dqsim resume "
                                                f"{written}"], done.stderr[-3000:]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ck"]
    run_here(["resume", str(written), "-o", str(tmp_path / "resumed.h5")])
    run_here(["run", *job, "-o", str(tmp_path / "full.h5")])
    resumed, full = open_run(tmp_path / "resumed.h5"), open_run(tmp_path / "full.h5")
    assert np.array_equal(resumed.table("shots"), full.table("shots"))
    np.testing.assert_allclose(resumed.state(), full.state(), rtol=0, atol=1e-12)
