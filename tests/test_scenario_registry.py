"""The scenario table and the module structure of jobs/, scenarios/ and cli/ (no cycle dodges)."""

import ast
import inspect
from pathlib import Path

import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.errors import DqsimError
from dqsim.jobs import JOB_MODELS, apply_overrides, load_job
from dqsim.scenarios import SCENARIOS, Scenario, run_job

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dqsim"

#: Imports that may stay inside functions, and why: matplotlib is the optional
#: ``plot`` extra; rich's bar is built only by rank 0 on a terminal (batch
#: ranks never import it); the progress log's compile note reads numba's dispatchers through
#: ``dqsim.backend.warmup``, which imports every numba kernel module, only at rank 0's first heartbeat line.
ALLOWED_LOCAL_IMPORTS = {("cli/plot.py", "matplotlib"), ("cli/plot.py", "matplotlib.pyplot"),
                         ("cli/main.py", "rich.progress"), ("cli/main.py", "dqsim.backend"),
                         ("cli/__init__.py", "dqsim.cli")}
#: (console_main imports the parser only after it holds a run's stop signals: tests/test_stop_signals_at_start.py.
#: The entry point imports the module of the command given, and only it, through the table
#: dqsim.cli.parser.HANDLERS: dqsim --version and --help import none; tests/test_cli.py holds it to that.)


def modules(*packages):
    for package in packages:
        for path in sorted((PACKAGE / package).glob("*.py")):
            yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def imported(node):
    """Module names an import statement names (``from a import b`` -> ``a``)."""
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return [alias.name for alias in node.names]


def test_every_job_model_has_one_scenario_row_in_the_same_order():
    assert list(SCENARIOS) == list(JOB_MODELS)
    for name, scenario in SCENARIOS.items():
        assert scenario.name == name and scenario.job_model is JOB_MODELS[name]


def test_run_functions_take_checkpointing_exactly_when_the_scenario_checkpoints():
    for scenario in SCENARIOS.values():
        takes = "checkpointing" in inspect.signature(scenario.run).parameters
        assert takes == scenario.checkpoints, scenario.name
    assert [name for name, s in SCENARIOS.items() if not s.checkpoints] == []  # circuit too, since 2026-12-05


def test_the_circuit_scenario_refuses_a_simulated_time_period():
    job = load_job(ROOT / "jobs" / "quickstart.toml")
    with pytest.raises(DqsimError, match=r"\[checkpoint\]\.every_sim_s = 1\.0: the circuit scenario has no "
                                         r"simulated time, so it checkpoints on wall time only; use every_wall_s"):
        apply_overrides(job, ["checkpoint.every_sim_s=1"])  # the job model refuses it, as dqsim check does
    assert apply_overrides(job, ["checkpoint.every_wall_s=60"]).checkpoint.every_wall_s == 60


def test_a_scenario_without_checkpoints_refuses_a_checkpoint_plan(monkeypatch):
    job = apply_overrides(load_job(ROOT / "jobs" / "quickstart.toml"), ["checkpoint.every_wall_s=60"])
    plain = SCENARIOS["circuit"]
    monkeypatch.setitem(SCENARIOS, "circuit", Scenario(plain.job_model, plain.run, checkpoints=False))
    with pytest.raises(DqsimError, match=r"\[checkpoint\]: the circuit scenario does not write checkpoints"):
        run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))


def test_no_function_level_imports_in_jobs_scenarios_cli():
    found = []
    for name, tree in modules("jobs", "scenarios", "cli"):
        for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found += [(name, module) for module in imported(node) if (name, module) not in ALLOWED_LOCAL_IMPORTS]
    assert not found


def test_jobs_import_only_lower_layers_and_no_private_names():
    for name, tree in modules("jobs"):
        for node in (n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))):
            for module in imported(node):
                assert not module.startswith(("dqsim.scenarios", "dqsim.cli", "dqsim.engine", "dqsim.io")), (name, module)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dqsim"):
                assert not [a.name for a in node.names if a.name.startswith("_")], (name, node.module)


def test_the_circuit_layer_does_not_import_jobs():
    for name, tree in modules("circuit"):
        for node in (n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))):
            assert not any(m.startswith(("dqsim.jobs", "dqsim.scenarios")) for m in imported(node)), name
