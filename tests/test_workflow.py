"""The user's workflow around a run: progress lines in logs, ``dqsim check``, tables for analysis,
example jobs shipped with the package."""

import csv
import io as _io
import sys
import time

import numpy as np
import pytest

from dqsim.cli.merge import merge_files
from dqsim.cli.progress import ProgressLog
from dqsim.io import open_run, write_run_file
from mpi_helper import ROOT, run_command, run_here


def dqsim(*args, check=True):
    """``dqsim ARGS`` in this process (mpi_helper.run_here: the command line's ``main()``, stdout and stderr
    captured, no interpreter start); ``check``: exit status 0 or the test fails. (The process itself, its entry
    point and exit status: tests/test_cli.py.)"""
    return run_here(list(args), check=check)

QKD_SMALL = ["--set", "qkd.pulses=200000", "--set", "qkd.batch_pulses=100000", "--set", "qkd.block_pulses=200000"]


def test_progress_lines_in_a_log_every_sweep_point_and_quiet_silences_them(tmp_path):
    out = tmp_path / "sweep.h5"
    proc = dqsim("run", "jobs/bb84_distance_sweep.toml", "-o", str(out), *QKD_SMALL)  # stdout is a pipe
    lines = [line for line in proc.stdout.splitlines() if line.startswith("dqsim: [")]
    assert lines[0].endswith("qkd bb84_distance_sweep")
    # one line per finished sweep point ("distances k/9"); lines inside a point ("distances (6%)") come
    # as the run's own progress allows, more of them on a slower machine
    counts = [line.split(" distances ")[1].split()[0] for line in lines if " distances " in line]
    assert [c for c in counts if c.endswith("/9")] == [f"{i}/9" for i in range(1, 10)], lines
    quiet = dqsim("run", "jobs/bb84_distance_sweep.toml", "-o", str(out), "--quiet", *QKD_SMALL)
    assert quiet.stdout == ""


def test_progress_heartbeat_during_a_silent_stage():
    now = [0.0]
    out = _io.StringIO()
    log = ProgressLog(out, heartbeat_s=10.0, clock=lambda: now[0])
    log.update(0, 1000, "gates")
    now[0] = 5.0
    log.update(500, 1000, "gates")  # a long count: a line, as a second has passed
    now[0] = 5.5
    log.update(600, 1000, "gates")  # within a second of the last line: none
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("dqsim: [    5.0 s] gates 500/1000 (50%), about 5 s left")
    log = ProgressLog(out := _io.StringIO(), heartbeat_s=0.05)
    log.update(0.25, 1.0, "simulated 1.0 µs, circuit steps")
    log.start()
    deadline = time.monotonic() + 30
    while out.getvalue().count("\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    log.stop()
    assert out.getvalue().count("(25%)") >= 3  # the same state, repeated by the heartbeat


def test_check_prints_the_resolved_job_memory_and_work():
    proc = run_here(["check", "jobs/quickstart.toml", "-n", "8", "--set", "circuit.num_qubits=34"])
    assert "[simulation]\nshots = 2000\n" in proc.stdout  # defaults filled in
    assert "# circuit_seed: unset" in proc.stdout
    assert "# memory per rank: 32.69 GiB (data register: 34 qubits, complex128, shard 32.00 GiB" in proc.stdout
    assert "# work: 34 qubits, 34 gates, 2000 shots (final-state sampling)" in proc.stdout
    # 31 local qubits: a look for a stop or the checkpoint period after every operation (2^24 >> 31 = 0 -> 1)
    assert ("# checkpoints: at gate boundaries, every 1 operation of the (fused) schedule; each holds the state, "
            "32.00 GiB per rank") in proc.stdout
    sweep = run_here(["check", "jobs/bb84_distance_sweep.toml", "-n", "3"])
    assert "9 distance(s) x 1 link(s) x 5,000,000 pulses = 45,000,000 pulses" in sweep.stdout


def test_readme_check_example_is_the_commands_output():
    """docs/running.md's (README's until 2026-12-07 (night)) ``dqsim check ... | tail -N`` block shows the last N
    lines the command prints (it showed ``tail -2`` with the work and memory lines, which were no longer the last
    two)."""
    page = (ROOT / "docs" / "running.md").read_text().splitlines()
    start = next(i for i, line in enumerate(page) if line.startswith("$ dqsim check jobs/quickstart.toml -n 8"))
    command, tail = page[start].split(" | tail -")
    shown = page[start + 1:start + 1 + int(tail)]
    proc = run_here(command.removeprefix("$ dqsim ").split())
    assert proc.stdout.splitlines()[-int(tail):] == shown


def test_check_refuses_what_run_would_refuse_in_one_line():
    bad_value = dqsim("check", "jobs/quickstart.toml", "--set", "simulation.shots=-1", check=False)
    assert bad_value.returncode == 2 and bad_value.stdout == ""
    assert bad_value.stderr.startswith("dqsim: error: ") and "[simulation].shots = -1" in bad_value.stderr
    bad_ranks = dqsim("check", "jobs/quickstart.toml", "-n", "3", check=False)
    assert bad_ranks.returncode == 2 and bad_ranks.stderr.count("\n") == 1 and "power-of-two" in bad_ranks.stderr


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    """A 3-distance QKD sweep written by ``dqsim run``, read by several tests (none writes to it)."""
    out = tmp_path_factory.mktemp("small_sweep") / "sweep.h5"
    dqsim("run", "jobs/bb84_distance_sweep.toml", "-o", str(out), "--quiet", *QKD_SMALL,
          "--set", "qkd.sweep.distances_km=[0, 50, 100]")
    return out


def test_tables_store_text_as_variable_length_utf8_with_units_on_every_column(small_sweep):
    import h5py

    out = small_sweep
    with h5py.File(out) as h5:
        assert h5py.check_string_dtype(h5["timeline"].dtype["node"]).length is None
    run = open_run(out)
    assert run.units("sweep") == {
        "distance_km": "km", "secret_key_bits": "bit", "key_rate_bits_per_pulse": "bit/pulse",
        "key_rate_bits_per_s": "bit/s", "plob_bits_per_pulse": "bit/pulse", "theory_bits_per_pulse": "bit/pulse",
        "simulated_time_ps": "ps", "key_rate_standard_error_bits_per_pulse": "bit/pulse",
        "plob_with_detectors_bits_per_pulse": "bit/pulse", "optimal_theory_bits_per_pulse": "bit/pulse",
        "auth_key_bits": "bit", "net_key_bits": "bit", "net_key_rate_bits_per_s": "bit/s",
        "preshared_auth_key_bits": "bit"}
    assert run.units("timing") == {"seconds": "s"} and run.units("timeline") == {"time_ps": "ps"}
    blocks = run.units("blocks")
    assert all(blocks[name] == "ps" for name in run.table_dtype("blocks").names if name.endswith("_ps"))


def test_inspect_prints_a_whole_table_or_csv(small_sweep):
    out = small_sweep
    shown = run_here(["inspect", out, "--table", "sweep"]).stdout
    assert shown.splitlines()[1].startswith("  units: distance_km [km], secret_key_bits [bit]")
    assert len(shown.splitlines()) == 2 + 1 + 3
    csv_text = run_here(["inspect", out, "--table", "sweep", "--csv"]).stdout
    rows = list(csv.DictReader(_io.StringIO(csv_text)))  # the header gives the units as the table does
    assert [float(r["distance_km [km]"]) for r in rows] == [0.0, 50.0, 100.0]
    assert [int(r["secret_key_bits [bit]"]) for r in rows] == open_run(out).table("sweep")["secret_key_bits"].tolist()
    missing = dqsim("inspect", str(out), "--table", "nope", check=False)
    assert missing.returncode == 2 and "no table 'nope'; tables: blocks" in missing.stderr
    alone = dqsim("inspect", str(out), "--csv", check=False)
    assert alone.returncode == 2 and "give --table NAME" in alone.stderr


def test_merge_writes_every_swept_key_as_a_typed_column(tmp_path):
    files = []
    for task, (distance, label) in enumerate([(0, "a"), (25, "b"), (50.5, "c")]):
        files.append(tmp_path / f"task-{task}.h5")
        write_run_file(files[-1], attrs={"scenario": "qkd", "overrides": [
            f"qkd.sweep.distances_km=[{distance}]", "qkd.pulses=1000", f"run.name={label}"]},
            tables={"sweep": np.array([(float(distance),)], dtype=[("distance_km", "f8")])})
    summary = merge_files(files, tmp_path / "merged.h5")
    assert summary["swept_keys"] == ["qkd.sweep.distances_km", "run.name"]  # qkd.pulses is not swept
    tasks = open_run(tmp_path / "merged.h5").table("tasks")
    assert tasks["qkd.sweep.distances_km"].dtype == np.float64
    assert tasks["qkd.sweep.distances_km"].tolist() == [0.0, 25.0, 50.5]
    assert tasks["run.name"].tolist() == ["a", "b", "c"] and "qkd.pulses" not in tasks.dtype.names


def test_tables_as_pandas_and_xarray_and_the_example_script(small_sweep):
    pytest.importorskip("pandas")
    pytest.importorskip("xarray")
    out = small_sweep
    run = open_run(out)
    frame = run.to_pandas("timeline")
    assert frame["node"].map(type).eq(str).all() and frame.attrs["units"] == {"time_ps": "ps"}
    data = run.to_xarray("sweep")
    assert data["distance_km"].attrs["units"] == "km" and data.sizes["row"] == 3
    assert "units" not in data["qber_signal"].attrs
    proc = run_command([sys.executable, "examples/analyse_sweep.py", str(out)], timeout_s=120)
    assert "bb84_distance_sweep: 3 distances" in proc.stdout
    assert "most key at 0 km:" in proc.stdout and "bit/s" in proc.stdout
    assert "key_rate_bits_per_pulse in bit/pulse" in proc.stdout


def test_examples_copies_the_jobs_and_never_overwrites(tmp_path):
    target = tmp_path / "mine"
    proc = dqsim("examples", str(target))
    shipped = {p.relative_to(ROOT / "jobs") for p in (ROOT / "jobs").rglob("*")
               if p.suffix in (".toml", ".qasm", ".csv")}
    assert {p.relative_to(target) for p in target.rglob("*") if p.is_file()} == shipped
    assert f"dqsim run {target / 'quickstart.toml'}" in proc.stdout
    assert dqsim("check", str(target / "random_qasm.toml")).returncode == 0  # its circuits/ came along
    assert dqsim("check", str(target / "dqc_ghz_edges_file.toml")).returncode == 0  # its networks/ too
    again = dqsim("examples", str(target), check=False)
    assert again.returncode == 2 and "already has" in again.stderr


def test_repro_examples_into_a_folder_that_cannot_be_made_is_one_line(tmp_path):
    """It printed Python's "[Errno 2] No such file or directory: '/proc/ex'"; now the folder and why, exit 2."""
    proc = dqsim("examples", "/proc/ex", check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("dqsim: error: /proc/ex: cannot create the folder (") and "Errno" not in proc.stderr
    (tmp_path / "file").write_text("x")
    proc = dqsim("examples", str(tmp_path / "file"), check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == f"dqsim: error: {tmp_path / 'file'}: is a file, not a folder"


def test_merge_allow_missing_keeps_task_numbers_and_reports_the_failed(tmp_path):
    for task in (0, 2):
        write_run_file(tmp_path / f"task-{task}.h5", attrs={"scenario": "qkd"},
                       tables={"sweep": np.array([(10.0 * task,)], dtype=[("distance_km", "f8")])})
    (tmp_path / "task-3.h5").write_text("not HDF5")
    files = [str(tmp_path / f"task-{task}.h5") for task in range(4)]
    strict = dqsim("merge", str(tmp_path / "m.h5"), *files, check=False)
    assert strict.returncode == 2 and "task-1.h5: file not found" in strict.stderr
    proc = dqsim("merge", "--allow-missing", str(tmp_path / "m.h5"), *files, check=False)
    assert proc.returncode == 1
    assert "task 1 not merged" in proc.stderr and "task 3 not merged" in proc.stderr
    assert "2 of 4 task(s) failed or wrote no file: 1, 3" in proc.stderr
    merged = open_run(tmp_path / "m.h5")
    assert merged.table("sweep")["task"].tolist() == [0, 2] and merged.attrs["missing_tasks"] == [1, 3]
    assert merged.table("tasks")["task"].tolist() == [0, 2]


def test_repro_check_refuses_checkpoints_in_the_circuit_scenario_as_run_does(tmp_path):
    """``[checkpoint].every_*`` in a circuit job: ``dqsim check`` said valid while ``dqsim run`` refused it,
    and run's line did not name the file. Both now give the same line, naming file, key and value (since the
    circuit scenario checkpoints, only ``every_sim_s``: it has no simulated time)."""
    job = tmp_path / "ck.toml"
    job.write_text((ROOT / "jobs" / "quickstart.toml").read_text() + "\n[checkpoint]\nevery_sim_s = 0.001\n")
    lines = []
    for command in ("check", "run"):
        proc = dqsim(command, str(job), "-o", str(tmp_path / "x.h5"), check=False)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        lines.append(proc.stderr)
    assert lines[0] == lines[1]
    assert f"{job}: [checkpoint].every_sim_s = 0.001: " in lines[0] and "circuit scenario" in lines[0]
    assert not (tmp_path / "x.h5").exists()


def test_repro_inspect_piped_into_head_and_plot_to_an_unwritable_file(tmp_path, small_sweep):
    """``dqsim inspect F --table T --csv | head`` (as docs/running.md shows) said the file was damaged (exit 2)
    when head stopped reading; ``dqsim plot -o`` into a missing folder gave a traceback."""
    out = tmp_path / "big.h5"
    rows = np.zeros(200_000, dtype=[("time_ps", "i8"), ("value", "f8")])
    write_run_file(out, attrs={"scenario": "circuit"}, tables={"timeline": rows}, manifest=True)
    piped = run_command(["bash", "-c", f"{sys.executable} -m dqsim inspect {out} --table timeline --csv | head -1"],
                        timeout_s=60)
    assert piped.stdout == "time_ps [ps],value\n" and piped.stderr == "", piped.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    plot = dqsim("plot", str(small_sweep), "-o", str(blocker / "x.png"), check=False)
    assert plot.returncode == 2 and plot.stderr.count("\n") == 1 and "x.png" in plot.stderr, plot.stderr
    assert plot.stderr.startswith("dqsim: error: ")


def test_repro_plot_to_a_name_without_an_image_suffix(tmp_path, small_sweep):
    """``dqsim plot -o out.txt`` ended in matplotlib's ValueError traceback; ``-o out`` wrote ``out.png`` and
    said it wrote ``out``. Both are one line naming the formats; a known suffix writes that file."""
    pytest.importorskip("matplotlib")
    for name, got in (("out.txt", "the suffix '.txt'"), ("out", "no suffix")):
        plot = dqsim("plot", str(small_sweep), "-o", str(tmp_path / name), check=False)
        assert plot.returncode == 2 and plot.stderr.count("\n") == 1, plot.stderr
        assert plot.stderr.startswith(f"dqsim: error: {tmp_path / name}: an image file name ends in its format")
        assert got in plot.stderr and "png" in plot.stderr and "Traceback" not in plot.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    svg = dqsim("plot", str(small_sweep), "-o", str(tmp_path / "k.svg"))
    assert svg.stdout.startswith(f"wrote {tmp_path / 'k.svg'}") and (tmp_path / "k.svg").read_text().startswith("<?xml")


def test_repro_a_single_qkd_run_reports_the_fraction_done():
    """One distance (no sweep): progress said only the stage name until the run ended; now the fraction of the
    pulses emitted comes with each engine window (so the log's heartbeat lines carry it and an estimate)."""
    from dqsim import backend as backend_mod
    from dqsim import comm as comm_mod
    from dqsim import jobs, scenarios

    job = jobs.apply_overrides(jobs.load_job(ROOT / "jobs" / "bb84_decoy_50km.toml"),
                               ["qkd.pulses=2000000", "qkd.batch_pulses=500", "qkd.block_pulses=1000000"])
    updates = []
    scenarios.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"),
                      on_progress=lambda done, total, what: updates.append((done, total, what)))
    partial = [done for done, total, what in updates if what == "distances" and 0 < done < 1]
    assert len(partial) >= 3 and partial == sorted(partial), updates
    assert updates[-1] == (1, 1, "distances")


def test_heartbeat_lines_say_when_numba_compiles():
    """A first run spends up to a minute compiling kernels with no fraction to show; the heartbeat lines say
    so (and how to compile ahead) while kernels are being compiled, and say nothing once they are not."""
    from dqsim.cli.main import _compile_note

    notes = iter(["", " [compiling: 3 kernels since the last line]", ""])
    log = ProgressLog(out := _io.StringIO(), heartbeat_s=0.05, note=lambda: next(notes, ""))
    log.update(0, None, "circuit teleport")
    log.start()
    deadline = time.monotonic() + 30
    while out.getvalue().count("\n") < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    log.stop()
    lines = out.getvalue().splitlines()
    assert sum("[compiling: 3 kernels" in line for line in lines) == 1, lines
    assert all(line.startswith("dqsim: [") and "circuit teleport" in line for line in lines)
    note = _compile_note()
    note()  # the first line counts the compiles since the process started (other tests' here)
    assert note() == ""  # nothing compiled since the last line
