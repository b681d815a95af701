"""What a new user met walking through the README (2026-12-05): each test reproduces one defect found then.

``dqsim check -n RANKS`` must agree with ``dqsim run`` on that many ranks, command outputs must carry their
units, and a mistyped path must be named as missing.
"""

import io
import subprocess
import sys

import numpy as np
import pytest

from dqsim.circuit.qasm import load_qasm
from dqsim.cli.main import build_parser
from dqsim.cli.merge import merge_files
from dqsim.cli.progress import ProgressLog
from dqsim.engine import checkpoint
from dqsim.errors import CircuitError, DqsimError
from dqsim.io import hashing, open_run, write_run_file
from dqsim.network.link import LinkSpec
from mpi_helper import ROOT, child_env, have_mpi, run_dqsim, run_here

QUICKSTART_SMALL = ["--set", "simulation.observables=[]", "--set", "simulation.shots=10"]


def test_repro_check_refuses_ranks_that_leave_a_gate_too_few_local_qubits():
    """``dqsim check -n 4`` said valid for a 2-qubit circuit that ``dqsim run`` refuses on 4 ranks."""
    args = ["check", "jobs/quickstart.toml", "--set", "circuit.num_qubits=2", *QUICKSTART_SMALL]
    refused = run_here([*args, "-n", "4"], check=False)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip() == ("dqsim: error: 2 qubits on 4 ranks leave 0 qubits on each rank, "
                                      "but gate h needs 1; use at most 2 ranks")
    assert run_here([*args, "-n", "2"]).returncode == 0  # 1 local qubit: enough for h and cx's target


@pytest.mark.skipif(not have_mpi(), reason="needs mpiexec")
def test_repro_check_and_run_agree_on_a_dqc_job_on_three_ranks(tmp_path):
    """A dqc register of at most 12 qubits is held whole by every rank, so ``dqsim run`` takes 3 ranks;
    ``dqsim check -n 3`` refused them (a power of two only) and left the 2 scratch qubits out of the memory."""
    small = ["--set", "simulation.shots=20", "--set", "simulation.timeline=false"]
    check = run_here(["check", "jobs/dqc_ghz_4qpu.toml", "-n", "3", *small])
    # 8 data + 2 scratch qubits, complex128: 2^10 * 16 B = 16 KiB, workspace 3 x 16 KiB (the kernels' chunks)
    assert ("# memory per rank: 64.0 KiB (data register + 2 scratch: 10 qubits, complex128, held whole by every "
            "rank: 16.0 KiB + workspace 48.0 KiB)") in check.stdout
    assert "# fidelity check: a second register, as much memory again, when it fits beside the first" in check.stdout
    in_place = run_here(["check", "jobs/dqc_ghz_4qpu.toml", *small, "--set", 'simulation.fidelity_check="in_place"'])
    assert "# fidelity check: in place (the circuit undone and redone on the final state: no memory" in in_place.stdout
    run = run_dqsim(3, ["run", "jobs/dqc_ghz_4qpu.toml", "-o", tmp_path / "r.h5", "--quiet", *small])
    assert run.returncode == 0
    # 16 data qubits + 2 scratch: sharded, so a power of two, as ShardedState demands when the run starts
    big = ["--set", "circuit.num_qubits=16", "--set", "distribution.assignment=[" + ",".join(
        str(q // 4) for q in range(16)) + "]"]
    refused = run_here(["check", "jobs/dqc_ghz_4qpu.toml", "-n", "3", *small, *big], check=False)
    assert refused.returncode == 2 and "power-of-two number of ranks" in refused.stderr
    four = run_here(["check", "jobs/dqc_ghz_4qpu.toml", "-n", "4", *small, *big]).stdout
    # 2^18 amplitudes x 16 B / 4 ranks = 1 MiB shard
    assert "(data register + 2 scratch: 18 qubits, complex128, shard 1.0 MiB + " in four


def test_repro_check_refuses_the_output_and_checkpoint_folders_that_run_refuses(tmp_path, monkeypatch):
    """``dqsim check`` said valid for an output or checkpoint folder that ``dqsim run`` refuses before its work (a
    file in the way, a folder it may not write); it names them as run does, says they were checked from this
    machine (it may run on a login node), and creates nothing."""
    import fcntl
    import os
    import platform

    job = ["jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=200000", "--set", "qkd.block_pulses=200000",
           "--set", "qkd.batch_pulses=100000"]
    where = f"checked from this machine, {platform.node()}"
    blocker = tmp_path / "results"
    blocker.write_text("a file, not a folder")
    periodic = ["--set", "checkpoint.every_wall_s=60"]
    output_fix = "; write it elsewhere: -o DIR/OUT.h5 (or [run].output) with DIR a folder you can write"
    checkpoint_fix = ("; give a folder you can write: --set checkpoint.directory='\"DIR\"' or [checkpoint].directory "
                      "in the job")  # both errors end with how to get past them (since 2026-12-07)
    cases = [  # (arguments, what run says, where check adds where it checked, how to fix it)
        (["-o", blocker / "sub" / "x.h5"], f"{blocker / 'sub' / 'x.h5'}: cannot write the output there (a folder "
         f"on the way to {blocker / 'sub'} is a file", "); nothing was run", output_fix),
        (["-o", tmp_path], f"{tmp_path}: cannot write the output there (it is a folder", "); nothing was run",
         output_fix),
        (["-o", tmp_path / "o.h5", *periodic, "--set", f'checkpoint.directory="{blocker}"'],
         f'jobs/bb84_decoy_50km.toml: [checkpoint].directory = "{blocker}": cannot write checkpoints there '
         f"({blocker} is a file, not a folder", ")", checkpoint_fix),
        (["-o", tmp_path / "o.h5", "--set", f'checkpoint.directory="{blocker}"'],  # not periodic, but it exists
         f'jobs/bb84_decoy_50km.toml: [checkpoint].directory = "{blocker}": cannot write checkpoints there '
         f"({blocker} is a file, not a folder", ")", checkpoint_fix),
    ]
    for args, said, run_end, fix in cases:
        run = run_here(["run", *job, "--quiet", *args], check=False)
        assert run.returncode == 2 and run.stderr == f"dqsim: error: {said}{run_end}{fix}\n", run.stderr
        check = run_here(["check", *job, *args], check=False)
        assert check.returncode == 2 and check.stdout == "", check.stdout
        assert check.stderr == f"dqsim: error: {said}; {where}){fix}\n", check.stderr
    # A folder this user may not write (as root every folder is writable: os.access is what a user gets).
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if os.fspath(path) == str(locked)
                        else real_access(path, mode, **kw))
    check = run_here(["check", *job, "-o", locked / "new" / "o.h5"], check=False)
    assert check.stderr == (f"dqsim: error: {locked / 'new' / 'o.h5'}: cannot write the output there (Permission "
                            f"denied; {where}){output_fix}\n"), check.stderr
    monkeypatch.setattr(os, "access", real_access)
    # Valid: nothing made, though the run would make both folders.
    out, ck = tmp_path / "new" / "deeper" / "o.h5", tmp_path / "ck" / "deeper"
    check = run_here(["check", *job, "-o", out, *periodic, "--set", f'checkpoint.directory="{ck}"']).stdout
    assert f"# output: {out} and checkpoints in {ck}/ can be written ({where})\n# on 1 rank(s):" in check, check
    assert sorted(path.name for path in tmp_path.iterdir()) == ["locked", "results"]
    # Another run of the job holding the checkpoint folder's lock (as dqsim run takes it) is named in a note.
    held = tmp_path / "held"
    held.mkdir()
    args = [*job, "-o", out, "--set", f'checkpoint.directory="{held}"']
    prefix = run_here(["check", *args]).stdout.split("# checkpoint prefix: ")[1].split()[0]
    with open(checkpoint.lock_path(held, prefix), "w") as lock:
        lock.write("pid 4242 on node7, since 2026-12-05 12:00:00 UTC\n")
        lock.flush()
        fcntl.flock(lock, fcntl.LOCK_EX)
        check = run_here(["check", *args])
        assert check.returncode == 0
        assert (f"# note: another run of this job holds its checkpoints in {held}/ now (pid 4242 on node7, since "
                f"2026-12-05 12:00:00 UTC); dqsim run waits 10 s for it to end, then refuses to start") in check.stdout
    assert "note: another run" not in run_here(["check", *args]).stdout  # let go: no note
    assert list(held.iterdir()) == [checkpoint.lock_path(held, prefix)]  # check made nothing


def test_repro_check_counts_a_trusted_chain_as_the_run_does(tmp_path):
    """A chain of two 30 km links is one run of 2 links; ``dqsim check`` counted each link's length as a
    distance to sweep and printed twice the pulses."""
    small = ["--set", "qkd.pulses=200000", "--set", "qkd.batch_pulses=100000"]
    check = run_here(["check", "jobs/qkd_trusted_chain.toml", *small]).stdout
    assert "# work: 1 distance(s) x 2 link(s) x 200,000 pulses = 400,000 pulses, in batches of 100,000" in check
    run_here(["run", "jobs/qkd_trusted_chain.toml", "-o", tmp_path / "chain.h5", "--quiet", *small])
    assert open_run(tmp_path / "chain.h5").attrs["total_pulses"] == 400_000


def test_repro_merge_sweeps_only_the_keys_that_change_the_results(tmp_path):
    """The SLURM sweep gives each task its own ``run.output`` and ``checkpoint.directory``: ``dqsim merge``
    listed both as swept keys, so ``examples/analyse_sweep.py`` led every row with a checkpoint folder."""
    files = []
    for task, distance in enumerate((0, 25)):
        overrides = [f"qkd.sweep.distances_km=[{distance}]", f'run.output="out/task-{task}.h5"',
                     f'checkpoint.directory="out/checkpoints/task-{task}"', "qkd.pulses=1000"]
        sweep = np.array([(float(distance), 10 - task)], dtype=[("distance_km", "f8"), ("secret_key_bits", "i8")])
        files.append(write_run_file(tmp_path / f"task-{task}.h5", tables={"sweep": sweep},
                                    attrs={"scenario": "qkd", "job_name": "s", "overrides": overrides}))
    summary = merge_files(files, tmp_path / "merged.h5")
    assert summary["swept_keys"] == ["qkd.sweep.distances_km"]
    tasks = open_run(tmp_path / "merged.h5").table("tasks")
    assert tasks["qkd.sweep.distances_km"].tolist() == [0, 25]
    assert "checkpoint.directory" not in tasks.dtype.names and "run.output" not in tasks.dtype.names


def test_repro_qkd_summary_names_the_unit_of_the_plob_bound(tmp_path):
    """The summary printed ``PLOB 1.520e-01`` with no unit beside a key in bits/pulse and bits/s."""
    out = run_here(["run", "jobs/bb84_decoy_50km.toml", "-o", tmp_path / "k.h5", "--set", "qkd.pulses=200000",
                    "--set", "qkd.batch_pulses=100000", "--set", "qkd.block_pulses=200000"]).stdout
    # 50 km at 0.2 dB/km: eta = 0.1, -log2(1 - 0.1) = 0.1520 bits per pulse (Pirandola et al. 2017)
    assert f"PLOB {-np.log2(1 - 0.1):.3e} bits/pulse" in out


def test_repro_resume_of_a_mistyped_path_says_it_does_not_exist(tmp_path):
    """``dqsim resume run.h5`` of a file that is not there said 'not named as a dqsim checkpoint'."""
    missing = run_here(["resume", tmp_path / "nothere.h5"], check=False)
    assert missing.returncode == 2 and missing.stderr == f"dqsim: error: {tmp_path / 'nothere.h5'}: no such checkpoint\n"
    (tmp_path / "out.h5").write_bytes(b"")
    present = run_here(["resume", tmp_path / "out.h5"], check=False)
    assert present.returncode == 2 and ": not named as a dqsim checkpoint (" in present.stderr


def test_repro_inspect_table_state_says_how_to_read_the_state(tmp_path):
    """``dqsim inspect OUT --table state`` (``save_state``, docs/running.md) said only 'no table'."""
    out = tmp_path / "qft.h5"
    run_here(["run", "jobs/qft_20q.toml", "-o", out, "--quiet", "--set", "circuit.num_qubits=4",
              "--set", "simulation.observables=[]", "--set", "simulation.shots=10"])
    proc = run_here(["inspect", out, "--table", "state"], check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "'state' is the saved state vector, not a table: read it with dqsim.io.open_run(PATH).state()" in proc.stderr
    assert np.allclose(np.abs(open_run(out).state()) ** 2, 1 / 16)  # QFT of |0000>: uniform


def test_repro_plot_of_a_one_distance_qkd_run_says_what_to_plot(tmp_path):
    """``dqsim plot`` of ``jobs/bb84_decoy_50km.toml``'s output: 'nothing to plot', with no way forward."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "k.h5"
    run_here(["run", "jobs/bb84_decoy_50km.toml", "-o", out, "--quiet", "--set", "qkd.pulses=200000",
              "--set", "qkd.batch_pulses=100000", "--set", "qkd.block_pulses=200000"])
    proc = run_here(["plot", out], check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "give the job [qkd.sweep].distances_km (key rate vs distance)" in proc.stderr


def test_repro_an_integer_key_written_as_1e6_says_how_to_write_it():
    """``pulses = 1e6`` is a float in TOML: the error said 'expected an integer, got 1000000.0' and no more."""
    proc = run_here(["check", "jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=2e7"], check=False)
    assert proc.returncode == 2 and proc.stderr.endswith(
        "[qkd].pulses: expected an integer, got 20000000.0 (TOML reads 1e6 or 5.0 as a float: write 20_000_000)\n")
    fraction = run_here(["check", "jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=2.5"], check=False)
    assert fraction.stderr.endswith("[qkd].pulses: expected an integer, got 2.5\n")  # no integer to suggest


def test_repro_help_is_plain_text_and_names_every_command():
    """``dqsim --help`` began 'The ``dqsim`` command: ``run`` a job file, ``inspect`` an output file.'"""
    text = build_parser().format_help()
    assert "``" not in text
    description = " ".join(text.split("positional arguments")[0].split("\n\n")[1].split())
    for command in ("check", "run", "resume", "inspect", "plot", "merge"):
        assert f" {command}" in description, description


def test_repro_progress_estimate_leaves_out_the_setup_of_a_long_count():
    """``jobs/teleport_feedforward.toml``'s log: 'trajectories 1/1000 (0%), about 19.2 min left' for a
    3-second run, the first trajectory having waited 1.2 s for the kernels to compile."""
    now = [0.0]
    out = io.StringIO()
    log = ProgressLog(out, clock=lambda: now[0])
    log.update(0, None, "circuit teleport_feedforward")
    now[0] = 1.2
    log.update(1, 1000, "trajectories")  # compiling took 1.2 s: no pace yet
    now[0] = 2.2
    log.update(413, 1000, "trajectories")  # 412 in 1.0 s: 587 more take 1.42 s
    lines = out.getvalue().splitlines()
    assert lines[1] == "dqsim: [    1.2 s] trajectories 1/1000 (0%)"
    assert lines[2] == "dqsim: [    2.2 s] trajectories 413/1000 (41%), about 1 s left"
    now[0] = 4.0
    log.update(3, 9, "distances")  # sweep points: from the previous update, 1.8 s for 3 of 9, 3.6 s more
    assert out.getvalue().splitlines()[3] == "dqsim: [    4.0 s] distances 3/9 (33%), about 4 s left"


@pytest.mark.parametrize("job", ["dqc_ghz_4qpu.toml", "ising_trotter_4qpu.toml", "cloud_queue.toml"])
def test_repro_check_refuses_the_network_a_run_refuses(job, tmp_path):
    """``dqsim check`` said valid for a placement on a rank the run does not have and for a 500 km
    double-click link (a pair every ~6e7 s, past the int64-picosecond horizon); ``dqsim run`` refused both."""
    if job != "cloud_queue.toml":  # a cloud job takes no placement (refused when the job is read)
        placement = run_here(["check", f"jobs/{job}", "-n", "2", "--set", "network.placement=[0,0,1,5]"], check=False)
        assert placement.returncode == 2 and placement.stderr.count("\n") == 1
        assert f"{job}: [network].placement[3] = 5: must be a rank in 0..1 (the run has 2 ranks)" in placement.stderr
    far = ["--set", "network.link.distance_km=500"]
    horizon = run_here(["check", f"jobs/{job}", *far], check=False)
    assert horizon.returncode == 2 and horizon.stderr.count("\n") == 1
    assert horizon.stderr.startswith(f"dqsim: error: jobs/{job}: [network] link qpu0-qpu1: distance_km = 500.0: "
                                     "a pair takes ")  # the job file first, as every job error
    assert horizon.stderr.rstrip().endswith("use shorter links or another scheme")
    if job != "cloud_queue.toml":  # as the run says it (a cloud run says it too, after 8 s of start-up)
        run = run_here(["run", f"jobs/{job}", "-o", tmp_path / "r.h5", *far], check=False)
        assert run.returncode == 2 and run.stderr.splitlines()[-1] == horizon.stderr.strip()


def test_repro_the_log_names_the_observables_and_the_sampling_after_the_gates(tmp_path):
    """A 25-qubit circuit's log repeated 'gates 974/974 (100%)' for the 12 s its observables and its sampling
    took, and its first line with a count came only after the first 256 gates."""
    out = run_here(["run", "jobs/random_circuit.toml", "-o", tmp_path / "r.h5", "--set", "circuit.num_qubits=6",
                    "--set", "simulation.shots=10", "--set", 'simulation.observables=["Z0", "X1"]']).stdout
    stages = [line.split("] ", 1)[1] for line in out.splitlines() if line.startswith("dqsim: [")]
    gates = [stage for stage in stages if stage.startswith("gates ")]
    assert gates[0] == "gates 0/" + gates[-1].split("/")[1].split()[0] + " (0%)" and gates[-1].endswith("(100%)")
    assert stages[stages.index(gates[-1]) + 1:] == ["observables (2)", "sampling 10 shots from the final state"]


@pytest.mark.parametrize("text,message", [
    ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0]\ncx q[0],q[1];\n',
     "bad.qasm line 5: syntax error at 'cx' (is the ';' at the end of line 4 missing?)"),
    ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0];\ncx q[0] q[1];\n',
     "bad.qasm line 5: syntax error at 'q'"),  # inside a statement: no guess about the line before
])
def test_repro_a_missing_semicolon_is_named_on_its_own_line(text, message):
    """A QASM statement without its ';' was reported as 'line 6: syntax error at 'cx'', the next line."""
    with pytest.raises(CircuitError) as info:
        load_qasm(text, name="bad.qasm")
    assert str(info.value) == message


@pytest.mark.parametrize("command", ["inspect", "plot"])
def test_repro_a_job_file_given_for_an_output_is_one_line_that_says_so(command):
    """``dqsim inspect jobs/quickstart.toml`` printed a note (no manifest: not verified) and then the error."""
    proc = run_here([command, "jobs/quickstart.toml"], check=False)
    assert proc.returncode == 2 and proc.stderr == (
        "dqsim: error: jobs/quickstart.toml: not a readable HDF5 file (file signature not found): "
        "a job file? dqsim run jobs/quickstart.toml writes the output to read\n")


def test_run_step_finds_the_checkpoints_of_a_job_placed_on_its_ranks(tmp_path):
    """run_step.sh's checkpoint_prefix asks ``dqsim check`` without ``-n``, which (now that check builds the
    network on its ranks, as the run does) refuses a placement on 2 ranks: it must plan for SLURM_NTASKS, or a
    requeued 2-rank job with a placement would find none of its checkpoints and start from the start."""
    placed = "network.placement=[0,0,1,1]"
    script = (f"set -euo pipefail; source slurm/run_step.sh; DQSIM_PYTHON={sys.executable}; SLURM_NTASKS=2; "
              f"checkpoint_prefix jobs/dqc_ghz_4qpu.toml --set {placed} -o out.h5")
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    expected = run_here(["check", "jobs/dqc_ghz_4qpu.toml", "-n", "2", "--set", placed]).stdout
    assert f"# checkpoint prefix: {proc.stdout.strip()} (" in expected and proc.stdout.startswith("dqc_ghz_4qpu.")


def test_repro_examples_counts_the_circuits_it_names(tmp_path):
    """``dqsim examples DIR`` said 'copied 23 files' and named the 20 job files only."""
    out = run_here(["examples", tmp_path / "ex"]).stdout.splitlines()[0]
    circuits = sorted((tmp_path / "ex" / "circuits").glob("*.qasm"))
    networks = sorted((tmp_path / "ex" / "networks").glob("*.csv"))
    jobs = sorted((tmp_path / "ex").glob("*.toml"))
    assert len(circuits) >= 1 and len(networks) >= 1
    assert out == (f"copied {len(jobs) + len(circuits) + len(networks)} files into {tmp_path / 'ex'}: "
                   f"{', '.join(p.name for p in jobs)}, and {len(circuits)} QASM circuit(s) and {len(networks)} edge "
                   "list(s) they read, under circuits/ and networks/")


def test_repro_no_estimate_from_a_fraction_done_in_no_time():
    """A resumed QKD run's first line was 'distances (50%), about 0 s left' (the half done before the checkpoint,
    counted as done in 0.1 s); it took 18 s more. A sweep's first in-point line said the same."""
    now = [0.0]
    out = io.StringIO()
    log = ProgressLog(out, clock=lambda: now[0])
    log.update(0, None, "qkd bb84_decoy_50km")
    now[0] = 0.1
    log.update(0.5, 1, "distances")
    now[0] = 10.1
    log.update(0.71, 1, "distances")  # from the stage's start: 10.1 s for 71 %, so 4.1 s more
    assert out.getvalue().splitlines()[1:] == ["dqsim: [    0.1 s] distances (50%)",
                                               "dqsim: [   10.1 s] distances (71%), about 4 s left"]


def test_repro_a_checkpoint_folder_that_cannot_be_written_is_a_job_error(tmp_path):
    """The error began ``[checkpoint].directory = '/proc/x'``: no job file in front, Python's quotes."""
    blocker = tmp_path / "a file"
    blocker.write_text("")
    run = run_here(["run", "jobs/quickstart.toml", "-o", tmp_path / "q.h5", "--set", "checkpoint.every_wall_s=600",
                    "--set", f"checkpoint.directory=\"{blocker}\""], check=False)
    assert run.returncode != 0
    assert run.stderr.startswith(f'dqsim: error: jobs/quickstart.toml: [checkpoint].directory = "{blocker}": '
                                 "cannot write checkpoints there ("), run.stderr


def test_repro_the_summary_of_a_feed_forward_circuit_says_trajectory_sampling(tmp_path):
    """The summary read 'trajectories sampling, 40 shots'."""
    out = run_here(["run", "jobs/teleport_feedforward.toml", "-o", tmp_path / "t.h5",
                    "--set", "simulation.shots=40"]).stdout
    assert "; trajectory sampling, 40 shots\n" in out, out


def test_repro_the_trotter_progress_line_shows_one_count(tmp_path):
    """The line read 'network: t = 0 (0/2) 0/3 (0%)': the time point's index, then the runs done."""
    import re

    out = run_here(["run", "jobs/ising_trotter_4qpu.toml", "-o", tmp_path / "t.h5",
                    "--set", "evolution.num_points=2"]).stdout  # not a terminal: the lines go to stdout
    lines = [line for line in out.splitlines() if "network: t = " in line]
    assert lines and not any(re.search(r"\d+/\d+\).* \d+/\d+", line) for line in lines), out
    assert any(re.search(r"\] network: t = 1 1/3 \(33%\)", line) for line in lines), out


def test_repro_the_cloud_summary_gives_wait_start_and_end_in_one_unit(tmp_path):
    """A job's line read 'wait 0 ps, start 0 ps, end 15.9 ms': zero fell through to picoseconds."""
    import re

    out = run_here(["run", "jobs/cloud_queue.toml", "-o", tmp_path / "c.h5"]).stdout
    spans = re.findall(r": wait [\d.e+-]+ (\S+), start [\d.e+-]+ (\S+), end [\d.e+-]+ (\S+),", out)
    assert len(spans) == 8 and all(len(set(units)) == 1 for units in spans), out
    assert " ps," not in out, out


def test_repro_timeline_details_name_nodes_as_the_node_column_does(tmp_path):
    """``--table timeline`` read 'qpu1  epr  pair with node 2 ...': a name in one column, a number in the next."""
    import re

    run_here(["run", "jobs/dqc_teleport_feedforward.toml", "-o", tmp_path / "d.h5", "--set", "simulation.shots=4"])
    out = run_here(["inspect", tmp_path / "d.h5", "--table", "timeline"]).stdout
    assert "pair with qpu" in out and " to qpu2 for if #" in out and "telegate-control  with qpu" in out, out
    assert not re.search(r"\bnodes? \[?\d", out), out


def test_repro_qkd_timeline_and_summary_name_nodes_by_their_role(tmp_path):
    """The QKD timeline's node column read 'node0', 'node1' where the other timelines name their nodes; a
    trusted chain's nodes are alice, trusted1, bob, in the timeline and in the summary's end-to-end line."""
    small = ["--set", "qkd.pulses=200000", "--set", "qkd.batch_pulses=100000"]
    out = run_here(["run", "jobs/qkd_trusted_chain.toml", "-o", tmp_path / "chain.h5", *small]).stdout
    assert "  end to end alice–bob: " in out, out
    timeline = open_run(tmp_path / "chain.h5").table("timeline")
    # Alice of link 0 is node 0, Alice of link 1 the trusted node 1: each logs its link's blocks.
    assert sorted(zip(timeline["node"], timeline["detail"])) == [
        ("alice", "link 0 block 0: 3501 key bits"), ("trusted1", "link 1 block 0: 3552 key bits")]
    one = run_here(["run", "jobs/bb84_decoy_50km.toml", "-o", tmp_path / "one.h5", "--quiet", *small,
                    "--set", "qkd.block_pulses=200000"])
    assert one.returncode == 0
    assert set(open_run(tmp_path / "one.h5").table("timeline")["node"]) == {"alice"}


def test_repro_a_pair_source_is_counted_in_pair_slots(tmp_path):
    """BBM92's summary and ``dqsim check`` counted '200,000 pulses' and 'bits/pulse' of a pair source."""
    small = ["--set", "qkd.pulses=200000", "--set", "qkd.batch_pulses=100000"]
    check = run_here(["check", "jobs/bbm92_20km.toml", *small]).stdout
    assert "# work: 1 distance(s) x 1 link(s) x 200,000 pair slots = 200,000 pair slots, in batches of" in check
    out = run_here(["run", "jobs/bbm92_20km.toml", "-o", tmp_path / "b.h5", *small]).stdout
    summary = out[out.index("dqsim run bbm92_20km"):]
    assert "200,000 pair slots" in summary and "bits/pair slot (" in summary and "pulse" not in summary, summary


def test_repro_a_resumed_run_says_so_and_estimates_from_its_own_pace(tmp_path):
    """A resumed run's summary read like a fresh run's, and its estimates counted the work done before the
    checkpoint: 5 of 10 points already done at 0.1 s, then 6 at 1.1 s, said 'about 1 s left' (0.22 s a point
    since the log began) for 4 points that take 4 s at the resumed run's own pace."""
    now = [0.0]
    out = io.StringIO()
    log = ProgressLog(out, clock=lambda: now[0], resumed=True)
    log.update(0, None, "repeater chain")
    now[0] = 0.1
    log.update(5, 10, "chain configurations")  # the checkpoint's 5 points
    now[0] = 1.1
    log.update(6, 10, "chain configurations")  # one point in 1.0 s: 4 more take 4 s
    assert out.getvalue().splitlines()[-1] == "dqsim: [    1.1 s] chain configurations 6/10 (60%), about 4 s left"
    args = ["jobs/repeater_chain.toml", "--set", "chain.num_links=[1]", "--set", "chain.total_distance_km=[20.0]",
            "--set", "chain.num_pairs=20", "--set", "chain.cutoff_s=0.01"]
    run_here(["run", *args, "-o", tmp_path / "full.h5", "--quiet", "--set", "checkpoint.every_sim_s=0.0005",
              "--set", f"checkpoint.directory=\"{tmp_path / 'ck'}\"", "--set", "checkpoint.keep=5"])
    first = sorted((tmp_path / "ck").glob("*.h5"))[0]
    resumed = run_here(["resume", first, "-o", tmp_path / "x.h5"]).stdout
    assert "dqsim run repeater_chain (repeater): 1 rank(s), " in resumed, resumed
    assert f"; resumed from {first}\n" in resumed, resumed


@pytest.mark.parametrize("command", [["inspect"], ["plot"], ["merge", "merged.h5"]])
def test_repro_a_damaged_run_file_says_what_to_do(tmp_path, command):
    """A run file with a byte changed (a bad copy) was 'damaged (its SHA-256 differs from the manifest's)'
    and no more: the line now says to copy it again or rerun, and that --no-verify reads it as it is."""
    out = tmp_path / "q.h5"
    run_here(["run", "jobs/quickstart.toml", "-o", out, "--quiet", "--set", "circuit.num_qubits=4",
              "--set", "simulation.observables=[]"])
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x01
    out.write_bytes(bytes(data))
    argv = [*command[:1], *[tmp_path / name for name in command[1:]], out]
    proc = run_here(argv, check=False)
    assert proc.returncode == 2 and proc.stderr == (
        f"dqsim: error: {out}: damaged (its {hashing.display_name(hashing.default_algorithm())} differs from the "
        "manifest's): copy the files again with the "
        ".manifest.json, or run the job again; dqsim inspect --no-verify reads the run file as it is\n")


@pytest.mark.parametrize("job, assignment, shown", [
    ("jobs/bb84_decoy_50km.toml", "qkd.link.dead_time_ps=1e-5", "[qkd.link].dead_time_ps: expected an integer, got 1e-05"),
    ("jobs/dqc_ghz_4qpu.toml", "network.link.gate_width_ps=1e-9",
     "[network.link].gate_width_ps = 1e-09: must be an integer in [1, inf)"),
    ("jobs/dqc_ghz_4qpu.toml", "network.node.gate_2q_duration_ps=2e-7",
     "[network.node].gate_2q_duration_ps = 2e-07: must be an integer in [0, 1_000_000_000_000] (at most 1 s)"),
    ("jobs/repeater_chain.toml", "chain.link.gate_width_ps=1e-9",
     "[chain.link].gate_width_ps = 1e-09: must be an integer in [1, inf)"),
])
def test_repro_seconds_in_a_picosecond_key_say_the_unit(job, assignment, shown):
    """``gate_width_ps = 1e-9`` (a nanosecond written in seconds) said only 'expected an integer' or 'must be an
    integer in [1, inf)': the line now says the key is in picoseconds and how many make a ns, a µs and a s."""
    proc = run_here(["check", job, "--set", assignment], check=False)
    key = assignment.split("=")[0].split(".")[-1]
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stderr.endswith(
        f"{shown} ({key} is in picoseconds, an integer: 1 ns = 1_000, 1 µs = 1_000_000, "
        "1 s = 1_000_000_000_000)\n"), proc.stderr
    whole = run_here(["check", job, "--set", assignment.split("=")[0] + "=1500.5"], check=False)
    assert whole.returncode == 2 and "picoseconds" not in whole.stderr  # a fraction of a ps: no guess at seconds


def test_repro_a_spec_given_seconds_for_picoseconds_says_the_unit():
    """The same for the Python API: ``LinkSpec(gate_width_ps=1e-9)``."""
    with pytest.raises(DqsimError, match=r"gate_width_ps must be an integer in \[1, inf\), got 1e-09 "
                                         r"\(gate_width_ps is in picoseconds, an integer: 1 ns = 1_000, "):
        LinkSpec(distance_km=10.0, gate_width_ps=1e-9)
