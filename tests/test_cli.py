"""The dqsim command: every example job runs, outputs are right, errors are one line."""

import importlib
import importlib.abc
import json
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from dqsim import cli
from dqsim.io import open_run
from mpi_helper import ROOT, child_env, run_here, run_mpi

JOBS = sorted((ROOT / "jobs").glob("*.toml"))


def small_overrides(job: Path) -> list[str]:
    """Shrink a job so the suite stays fast (QASM jobs run as they are)."""
    text = job.read_text()
    if 'scenario = "qkd"' in text:
        sets = ["qkd.pulses=200000", "qkd.batch_pulses=100000", "qkd.block_pulses=200000"]
        return [arg for s in sets for arg in ("--set", s)]
    sets = ["simulation.shots=200"]
    if "generator" in text:
        sets += ["circuit.num_qubits=8", 'simulation.observables=["Z0 Z7", "0.5*X1 Y2"]']
    if 'generator = "random"' in text:
        sets.append("circuit.depth=4")
    if 'scenario = "repeater"' in text:
        return ["--set", "chain.num_pairs=3"]
    if 'scenario = "cloud"' in text:
        return []  # small already: eight 4-8 qubit jobs
    if 'scenario = "trotter"' in text:
        sets = ["simulation.shots=200", "evolution.num_points=2", "simulation.trajectories=1"]
    return [arg for s in sets for arg in ("--set", s)]


def dqsim(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "dqsim", *args], cwd=ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"dqsim {args} exited {proc.returncode}: {proc.stderr}")
    return proc


def test_there_are_example_jobs():
    assert {p.name for p in JOBS} >= {"quickstart.toml", "qft_20q.toml", "random_qasm.toml"}


@pytest.mark.parametrize("job", JOBS, ids=lambda p: p.name)
def test_every_example_job_runs(job, tmp_path):
    """Each example job, shrunk, through ``dqsim run`` and ``dqsim inspect --json`` (in this process:
    the other tests here start ``python -m dqsim``)."""
    out = tmp_path / "out.h5"
    assert "wrote" in run_here(["run", job.relative_to(ROOT), "-o", out, *small_overrides(job)]).stdout
    run = open_run(out)
    if run.attrs["scenario"] == "qkd":
        assert run.table("blocks")["pulses"].sum() == 200000 * run.attrs["num_links"] * run.attrs["num_distances"]
    elif run.attrs["scenario"] == "repeater":
        assert len(run.table("pairs")) == 3 * run.attrs["num_configurations"]
    elif run.attrs["scenario"] == "cloud":
        assert len(run.table("jobs")) > 0 and run.table("counts")["count"].sum() > 0
    else:
        assert run.table("counts")["count"].sum() == 200
    assert run.attrs["job_text"] == job.read_text()
    shown = run_here(["inspect", out, "--json"]).stdout
    assert json.loads(shown)["attrs"]["job_name"] == run.attrs["job_name"]


QFT10 = ["jobs/qft_20q.toml", "--set", "circuit.num_qubits=10", "--set", 'simulation.observables=["X0"]']
#: The runs of several tests on 2 and 4 ranks, by rank count: (name, the job and its options).
RANK_RUNS = {
    2: [("qasm", ["jobs/random_qasm.toml", "--set", "simulation.save_state=true"]),
        ("dqc", ["jobs/dqc_ghz_4qpu.toml", "--set", "simulation.store_shots=true"]),
        ("qft_gathered", QFT10),
        ("qft_slabs", [*QFT10, "--set", "simulation.max_gather_qubits=6"])],
    4: [("quickstart", ["jobs/quickstart.toml"]),
        ("qasm", ["jobs/random_qasm.toml", "--set", "simulation.save_state=true"]),
        ("dqc", ["jobs/dqc_ghz_4qpu.toml", "--set", "simulation.store_shots=true"])],
}


@pytest.fixture(scope="module")
def rank_runs(tmp_path_factory):
    """The output file of each run of RANK_RUNS, ``{(ranks, name): path}``: one launch per rank count, running
    its ``dqsim run`` command lines one after the other (tests/mpi_scripts/dqsim_runs.py), each in its own folder.
    The 2-rank launch ends with the bad job of :func:`test_bad_job_under_mpi_exits_on_every_rank` (which must end
    with status 2 on every rank); its stderr is ``outputs["bad_job_stderr"]``."""
    folder = tmp_path_factory.mktemp("rank_runs")
    outputs = {}
    for ranks, runs in RANK_RUNS.items():
        lines = []
        for name, job in runs:
            out = folder / f"{name}{ranks}" / f"{name}.h5"
            out.parent.mkdir()
            outputs[(ranks, name)] = out
            lines += [*(["--then"] if lines else []), "run", *job, "-o", str(out), "--quiet"]
        if ranks == 2:
            bad = folder / "bad.toml"
            bad.write_text(BAD_JOB)
            lines += ["--then", "@status:2", "run", str(bad)]
        launch = run_mpi(ranks, ["tests/mpi_scripts/dqsim_runs.py", *lines], timeout_s=240)
        if ranks == 2:
            bad_job_stderr = launch.stderr
    assert all(open_run(out).attrs["num_ranks"] == ranks for (ranks, _), out in outputs.items())
    return {**outputs, "bad_job_stderr": bad_job_stderr}


def test_quickstart_is_a_ghz_state_on_four_ranks(rank_runs):
    run = open_run(rank_runs[(4, "quickstart")])
    assert run.attrs["num_ranks"] == 4
    counts = dict(zip(run.table("counts")["bitstring"], run.table("counts")["count"]))
    assert set(counts) == {"0" * 16, "1" * 16}
    values = run.table("expectation")["value"]
    assert values[0] == pytest.approx(1.0, abs=1e-10)
    assert values[1] == pytest.approx(1.0, abs=1e-10)
    assert values[2] == pytest.approx(0.0, abs=1e-10)


def test_same_results_on_one_two_and_four_ranks(tmp_path, rank_runs):
    run_here(["run", "jobs/random_qasm.toml", "-o", tmp_path / "r1.h5", "--quiet",
              "--set", "simulation.save_state=true"])
    results = {1: open_run(tmp_path / "r1.h5"), **{ranks: open_run(rank_runs[(ranks, "qasm")]) for ranks in (2, 4)}}
    one = results[1]
    for ranks in (2, 4):
        other = results[ranks]
        assert np.array_equal(one.table("shots"), other.table("shots"))
        assert np.array_equal(one.table("counts")["count"], other.table("counts")["count"])
        assert np.allclose(one.table("expectation")["value"], other.table("expectation")["value"], atol=1e-10)
        assert np.max(np.abs(one.state() - other.state())) < 1e-10


def test_state_written_as_slabs_equals_gathered_state(rank_runs):
    gathered, slabbed = rank_runs[(2, "qft_gathered")], rank_runs[(2, "qft_slabs")]  # on 2 ranks
    assert sorted(p.name for p in slabbed.parent.glob("*.slab*.h5")) == ["qft_slabs.slab0000.h5",
                                                                         "qft_slabs.slab0001.h5"]
    assert not list(gathered.parent.glob("*.slab*.h5"))
    a, b = open_run(gathered).state(), open_run(slabbed).state()
    assert a.shape == (1024,)
    assert np.max(np.abs(a - b)) < 1e-12
    # QFT of |0...0> is the uniform superposition
    assert np.allclose(a, np.full(1024, 1 / 32), atol=1e-10)


def test_bad_job_file_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[run]\nname = "x"\n[circuit]\ngenerator = "ghz"\nnum_qubits = -3\n')
    proc = dqsim("run", str(bad), check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "num_qubits" in lines[0] and "Traceback" not in proc.stderr


def test_check_lists_every_problem_of_a_job_file_and_run_names_the_first(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[run]\nscenario = "repeater"\n[chain]\nnum_links = 0\n')
    proc = run_here(["check", bad], check=False, time_estimate=True)  # in this process (the entry point: test_version)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith(f"dqsim: error: {bad}: ") for line in lines)
    assert "missing key [run].name" in lines[0] and "[chain].num_links = 0: must be >= 1" in lines[1]
    assert "missing key [chain].total_distance_km" in lines[2]
    proc = run_here(["run", bad], check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1
    assert lines[0].endswith("missing key [run].name (and 2 more problems: dqsim check lists them)")


#: A job file with a key in the wrong section ([run].shots).
BAD_JOB = '[run]\nname = "x"\nshots = 3\n[circuit]\ngenerator = "ghz"\nnum_qubits = 4\n'


def test_bad_job_under_mpi_exits_on_every_rank(rank_runs):
    """Run last in the 2-rank launch of ``rank_runs``, which fails unless it ends with status 2 on every rank (the
    runs before it are quiet)."""
    stderr = rank_runs["bad_job_stderr"]
    assert stderr.count("dqsim: error:") == 1 and "shots" in stderr, stderr


def test_repro_a_placement_on_ranks_the_run_lacks_names_the_job_file(tmp_path):
    """[network].placement is checked against the rank count when the run starts; its one-line error named the
    key but not the job file ('[network].placement[2] = 1: must be a rank in 0..0'), unlike every other job error."""
    proc = run_here(["run", "jobs/dqc_ghz_4qpu.toml", "--set", "network.placement=[0, 0, 1, 1]",
                     "-o", tmp_path / "x.h5"], check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("dqsim: error: jobs/dqc_ghz_4qpu.toml: [network].placement[2] = 1: must be a rank in 0..0"), proc.stderr
    # and says how to run it (since 2026-12-07), naming the key without the file a second time
    assert proc.stderr.endswith("; it is written for 2 ranks: run under mpiexec -n 2, or remove [network].placement "
                                "(nodes placed by default)\n"), proc.stderr


def test_bad_qasm_names_the_line(tmp_path):
    qasm = tmp_path / "c.qasm"
    qasm.write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nfoo q[0];\n')
    job = tmp_path / "j.toml"
    job.write_text('[run]\nname = "j"\n[circuit]\nqasm = "c.qasm"\n')
    proc = run_here(["run", job, "-o", tmp_path / "o.h5"], check=False)
    assert proc.returncode == 2
    assert "line 4" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_inspect_of_missing_file_is_one_line(tmp_path):
    proc = dqsim("inspect", str(tmp_path / "nope.h5"), check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_version():
    assert dqsim("--version").stdout.startswith("dqsim ")


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "q.h5"
    run_here(["run", "jobs/quickstart.toml", "-o", out, "--set", "simulation.shots=50", "--quiet"])
    proc = run_here(["plot", out])
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "top counts" in proc.stdout


def test_dqc_job_same_on_one_two_and_four_ranks(tmp_path, rank_runs):
    run_here(["run", "jobs/dqc_ghz_4qpu.toml", "-o", tmp_path / "dqc1.h5", "--quiet",
              "--set", "simulation.store_shots=true"])
    runs = [open_run(tmp_path / "dqc1.h5"), *(open_run(rank_runs[(ranks, "dqc")]) for ranks in (2, 4))]
    for other in runs[1:]:
        assert np.array_equal(runs[0].table("shots"), other.table("shots"))
        assert np.array_equal(runs[0].table("links")["attempts"], other.table("links")["attempts"])
        assert np.array_equal(runs[0].table("timeline")["time_ps"], other.table("timeline")["time_ps"])
        assert runs[0].attrs["simulated_time_ps"] == other.attrs["simulated_time_ps"]
        assert other.attrs["fidelity"] == pytest.approx(1.0, abs=1e-10)


def test_repro_ctrl_c_while_the_command_still_loads_is_one_line(monkeypatch, capsys):
    """Ctrl-C in the first second or two (NumPy, numba, h5py still importing) printed a 30-line traceback."""

    class CtrlC(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "dqsim.cli.main":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "dqsim.cli.main", raising=False)
    monkeypatch.setattr(sys, "meta_path", [CtrlC(), *sys.meta_path])
    assert cli.console_main(["run", "jobs/quickstart.toml"]) == 130
    assert capsys.readouterr().err == ("dqsim: interrupted while starting, before the first gate or event: nothing "
                                       "was run or written (no checkpoint either); run the command again\n")
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # Ctrl-C is not left held here



@pytest.mark.parametrize("command, module", [(["check", "jobs/quickstart.toml"], "dqsim.cli.check"),
                                             (["inspect", "x.h5"], "dqsim.cli.files")])
def test_ctrl_c_while_a_command_that_runs_nothing_loads_gets_a_neutral_line(monkeypatch, capsys, command, module):
    """review3 D8: inspect, check, plot, merge and clean printed the run's line ("before the first gate or event ...
    (no checkpoint either)") after a Ctrl-C while loading."""
    from dqsim.cli import parser

    target = parser.HANDLERS[command[0]].split(":")[0]
    assert target == module

    class CtrlC(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == module:
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.setattr(sys, "meta_path", [CtrlC(), *sys.meta_path])
    assert cli.console_main(command) == 130
    assert capsys.readouterr().err == "dqsim: interrupted while starting: nothing was done; run the command again\n"

def test_run_here_sets_back_a_ctrl_c_that_main_left_held(monkeypatch):
    """A ``main()`` that returns between ``hold_ctrl_c`` and ``release_ctrl_c`` left SIGINT blocked in the
    pytest worker's main thread after :func:`mpi_helper.run_here` (it set back the handlers, not the mask):
    later in-process tests of Ctrl-C in that worker then depended on what ran before them."""
    main_module = importlib.import_module("dqsim.cli.main")
    monkeypatch.setattr(main_module, "_init_comm", lambda: None)  # returns EXIT_BAD_INPUT ...
    monkeypatch.setattr(main_module, "release_ctrl_c", lambda: None)  # ... with Ctrl-C still held
    assert run_here(["run", "jobs/quickstart.toml"], check=False).returncode == 2
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


@pytest.mark.parametrize("left", ["blocked", "pending", "ignored"])
def test_run_here_names_what_an_earlier_test_left_that_keeps_a_ctrl_c_from_stopping_a_run(left):
    """A SIGINT blocked, pending or ignored when an in-process run starts: run_here fails the test naming it
    (an in-process run that should stop on SIGINT exited 0 once, in a full-suite run under xdist)."""
    handler = signal.getsignal(signal.SIGINT)
    try:
        if left in ("blocked", "pending"):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        if left == "pending":
            signal.raise_signal(signal.SIGINT)
        if left == "ignored":
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        with pytest.raises(AssertionError, match={"blocked": "SIGINT is blocked", "pending": "a SIGINT is pending",
                                                  "ignored": "SIGINT's handler is .*SIG_IGN"}[left]):
            run_here(["inspect", "no-such-file.h5"], check=False)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # drops a pending one
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, handler)


def test_repro_a_test_process_started_with_ctrl_c_ignored_takes_it_as_python_does():
    """A suite started in the background by a script (``scripts/test.sh ... &``: no job control) starts every
    xdist worker with SIGINT ignored, as inherited; conftest's check then warned at each worker's first test
    (the first file of each, test_network_physics.py and test_qkd_reconciliation.py, the two with the most
    tests) that a fixture's teardown had left it. The test process now takes Ctrl-C as Python does from its
    start (conftest's ``pytest_configure``): no warning, and the runs it starts do not inherit it ignored."""
    test = "tests/test_network_physics.py::test_fibre_transmittance_limits"
    proc = subprocess.run([sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "-W", "error::RuntimeWarning"], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                          timeout=120, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["run", "--help"], ["examples", "--help"], ["bogus"]])
def test_repro_version_and_help_import_no_command_module(args):
    """``dqsim --version`` took about 1.1 s of CPU: the scenarios, NumPy, numba, h5py and mpi4py were imported
    before argparse answered. Now the parser answers first; a command imports only its own module."""
    probe = ("import sys\nfrom dqsim.cli import console_main\ntry:\n    console_main(sys.argv[1:])\n"
             "except SystemExit:\n    pass\n"
             "heavy = ('numpy', 'numba', 'h5py', 'mpi4py', 'pydantic', 'networkx', 'dqsim.cli.main', 'dqsim.jobs',"
             " 'dqsim.scenarios', 'dqsim.io', 'dqsim.engine')\n"
             "print(sorted(m for m in sys.modules if m in heavy))")
    proc = subprocess.run([sys.executable, "-c", probe, *args], cwd=ROOT, env=child_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.stdout.splitlines()[-1] == "[]", (proc.stdout, proc.stderr)


@pytest.mark.parametrize("args, usage, hint", [
    (["run", "jobs/quickstart.toml", "--output-file", "x.h5"], "usage: dqsim run ",
     "dqsim run: error: unrecognized arguments: --output-file x.h5 (did you mean --output?)"),
    (["check", "jobs/quickstart.toml", "--no-times"], "usage: dqsim check ",
     "dqsim check: error: unrecognized arguments: --no-times (did you mean --no-time?)"),
    (["inspect", "out.h5", "--zzz"], "usage: dqsim inspect ", "dqsim inspect: error: unrecognized arguments: --zzz"),
])
def test_repro_a_wrong_option_shows_its_command_s_usage_and_the_closest_option(args, usage, hint):
    """userwalk3 D7: ``dqsim run --output-file`` printed the top-level usage (``dqsim [-h] [--version] {run,...}``)
    and no hint. Now the command's usage and the closest of its options; status 2, nothing imported or run."""
    proc = subprocess.run([sys.executable, "-m", "dqsim", *args], cwd=ROOT, env=child_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == "", (proc.stdout, proc.stderr)
    assert proc.stderr.startswith(usage) and proc.stderr.splitlines()[-1] == hint, proc.stderr


def test_a_command_imports_the_module_it_needs():
    """``dqsim examples`` needs none of the heavy modules; ``inspect`` the reader, not the scenarios or MPI; ``run``
    not the QASM parser (pyqasm, ~0.2 CPU s of a process's start: only a job with a QASM file loads it, since
    2026-12-07 (late afternoon))."""
    probe = ("import sys\nfrom dqsim.cli import parser\nparser.handler(sys.argv[1])\n"
             "print(sorted(m for m in sys.modules if m in ('numpy', 'dqsim.scenarios', 'dqsim.jobs', 'mpi4py',"
             " 'pyqasm', 'dqsim.circuit.qasm')))")
    listed = {}
    for command in ("examples", "inspect", "run"):
        proc = subprocess.run([sys.executable, "-c", probe, command], cwd=ROOT, env=child_env(), capture_output=True,
                              text=True, timeout=120, check=True)
        listed[command] = proc.stdout.splitlines()[-1]
    assert listed == {"examples": "[]", "inspect": "['numpy']", "run": "['dqsim.jobs', 'dqsim.scenarios', 'numpy']"}


def test_python_m_dqsim_and_the_console_script_enter_through_the_guarded_entry_point():
    """``python -m dqsim`` and the ``dqsim`` script both start in :func:`dqsim.cli.console_main`."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"dqsim": "dqsim.cli:console_main"}
    assert "from dqsim.cli import console_main" in (ROOT / "dqsim" / "__main__.py").read_text()
    assert dqsim("--version").stdout.startswith("dqsim ")


def test_check_refuses_the_dqc_jobs_run_refuses(tmp_path):
    """``dqsim check`` plans a ``dqc`` job's circuit on its network as ``dqsim run`` does, so a node with too
    few communication qubits or a QASM circuit larger than the network is refused by both, in the same line
    (before 2026-12-06 ``check`` called them valid and the run stopped)."""
    base = (ROOT / "jobs" / "dqc_ghz_4qpu.toml").read_text()
    teledata = tmp_path / "teledata.toml"
    teledata.write_text(base.replace("num_comm_qubits = 2", "num_comm_qubits = 1")
                        .replace('scheme = "telegate"', 'scheme = "teledata"'))
    (tmp_path / "big.qasm").write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[17];\nh q[0];\n')
    big = tmp_path / "big.toml"
    big.write_text(base.replace('generator = "ghz"\nnum_qubits = 8', 'qasm = "big.qasm"')
                   .replace("assignment = [0, 0, 1, 1, 2, 2, 3, 3]\n", ""))
    for job, expected in ((teledata, "[network.node].num_comm_qubits = 1"), (big, "17 qubits")):
        # in this process (the entry point ``python -m dqsim`` is the other tests' here); check with its time pilot
        check = run_here(["check", job], check=False, time_estimate=True)
        run = run_here(["run", job, "-o", tmp_path / "x.h5"], check=False)
        assert check.returncode == 2 and run.returncode == 2, (check.stdout, check.stderr, run.stderr)
        assert "Traceback" not in check.stderr + run.stderr
        assert len(check.stderr.strip().splitlines()) == 1 and expected in check.stderr, check.stderr
        assert check.stderr == run.stderr


def test_check_refuses_cupy_where_no_gpu_is_usable_as_run_does(tmp_path, capsys, monkeypatch):
    """userwalk 2: `dqsim check JOB --set run.backend=cupy --no-time` without a GPU said nothing and exited 0
    (the backend was resolved only inside the time pilot), then `dqsim run` exited 2."""
    from dqsim import backend as backend_mod
    from dqsim.cli.main import main

    monkeypatch.setattr(backend_mod, "cupy_available", lambda: False)  # also on a GPU machine
    job = ROOT / "jobs" / "quickstart.toml"
    errors = []
    for command in (["check", job, "--no-time"], ["run", job, "-o", tmp_path / "x.h5", "--quiet"]):
        capsys.readouterr()
        assert main([*map(str, command), "--set", 'run.backend="cupy"']) == 2
        errors.append(capsys.readouterr().err)
    assert errors[0] == errors[1] == ("dqsim: error: backend = 'cupy' but CuPy is not installed or sees no GPU; "
                                      "install the 'gpu' extra on a GPU node or use backend = 'numpy'\n")


def test_dqsim_backend_cupy_without_a_gpu_is_named_as_the_source(tmp_path, capsys, monkeypatch):
    """userwalk 3: `DQSIM_BACKEND=cupy dqsim run JOB` with backend = "auto" in the job blamed the job
    ("... or use backend = 'numpy'"); the environment variable asked for CuPy."""
    from dqsim import backend as backend_mod
    from dqsim.cli.main import main

    monkeypatch.setattr(backend_mod, "cupy_available", lambda: False)
    monkeypatch.setenv("DQSIM_BACKEND", "cupy")
    job = ROOT / "jobs" / "quickstart.toml"
    for command in (["check", job, "--no-time"], ["run", job, "-o", tmp_path / "x.h5", "--quiet"]):
        capsys.readouterr()
        assert main([*map(str, command), "--set", 'run.backend="auto"']) == 2
        assert capsys.readouterr().err == (
            "dqsim: error: DQSIM_BACKEND=cupy (in the environment; the job's backend is 'auto') but CuPy is not "
            "installed or sees no GPU; unset DQSIM_BACKEND (or set it to numpy), or run on a GPU node with the "
            "'gpu' extra installed\n")


def test_a_run_summary_counts_the_gate_types_it_does_not_name(tmp_path):
    """userwalk 6: "713 gates (rx: 28, ... iswap: 40)" named 8 of 20 types (288 gates) and said nothing of the rest."""
    names = ["h", "x", "y", "z", "s", "t", "sdg", "tdg", "sx", "rx(0.3)", "ry(0.2)"]  # 11 types, 8 named
    (tmp_path / "c.qasm").write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\n'
                                     + "".join(f"{name} q[0];\n" for name in names) + "cx q[0],q[1];\ncx q[1],q[0];\n"
                                     + "measure q -> c;\n")
    (tmp_path / "job.toml").write_text('[run]\nname = "many"\nseed = 1\n\n[circuit]\nqasm = "c.qasm"\n\n'
                                       "[simulation]\nshots = 10\n")
    proc = run_here(["run", tmp_path / "job.toml", "-o", tmp_path / "o.h5"])
    line = next(line for line in proc.stdout.splitlines() if " gates (" in line)
    assert "13 gates (h: 1, x: 1, y: 1, z: 1, s: 1, t: 1, sdg: 1, tdg: 1, and 4 more types (5 gates));" in line, line


def test_check_notes_the_ranks_that_hold_no_node_of_a_chain():
    """userwalk 9: `dqsim check repeater_chain.toml -n 8 --set chain.num_links=[1]` (2 nodes) said nothing of the 6
    ranks that would hold no node and wait through the run."""
    args = ["check", "jobs/repeater_chain.toml", "--set", "chain.num_links=[1]", "--set",
            "chain.total_distance_km=[50]"]
    out = run_here([*args, "-n", "8"]).stdout
    assert ("# note: 6 of 8 ranks hold no node (the longest chain has 2 nodes): they wait through the run; -n 2 or "
            "fewer uses every rank") in out, out
    assert "hold no node" not in run_here([*args, "-n", "2"]).stdout


def test_plot_refuses_a_missing_folder_and_run_notes_an_output_not_named_h5(tmp_path):
    """userwalk 8: `dqsim plot F -o /nonexist/x.png` made /nonexist (status 0); `dqsim run ... -o out/result.txt`
    wrote HDF5 to a .txt name without a word."""
    pytest.importorskip("matplotlib")
    job = [ROOT / "jobs" / "quickstart.toml", "--set", "simulation.shots=10"]
    run = run_here(["run", *job, "-o", tmp_path / "result.txt", "--quiet"])
    assert (f"dqsim: note: {tmp_path / 'result.txt'}: the output is an HDF5 run file, written under this name as "
            "given (dqsim inspect, plot and merge read it whatever its name); name it .h5 to tell it apart") \
        in run.stderr, run.stderr
    assert "the output is an HDF5" not in run_here(["run", *job, "-o", tmp_path / "r.h5", "--quiet"]).stderr
    missing = tmp_path / "nonexist"
    plot = run_here(["plot", tmp_path / "r.h5", "-o", missing / "x.png"], check=False)
    assert plot.returncode == 2 and plot.stderr == (
        f"dqsim: error: {missing / 'x.png'}: cannot write the image: its folder {missing} does not exist; make the "
        f"folder first (mkdir -p {missing}) or give -o an image file in a folder that exists\n"), plot.stderr
    assert not missing.exists()
    for inside in (tmp_path / "r.h5", tmp_path / "r.h5" / "sub"):  # a file in the way: no mkdir -p advice (review2)
        plot = run_here(["plot", tmp_path / "r.h5", "-o", inside / "x.png"], check=False)
        assert plot.returncode == 2 and plot.stderr == (
            f"dqsim: error: {inside / 'x.png'}: cannot write the image: {tmp_path / 'r.h5'} is a file, not a folder; "
            "give -o an image file in a folder that exists\n"), plot.stderr
    plot = run_here(["plot", tmp_path / "r.h5", "-o", f"{tmp_path}/"], check=False)  # a folder (review3 D8)
    assert plot.returncode == 2 and plot.stderr == (
        f"dqsim: error: {tmp_path}: is a folder; give -o an image file, e.g. {tmp_path / 'figure.png'}\n"), plot.stderr
