"""The review scripts' argument handling (bench/review_*.py): ``--help`` prints the usage and exits 0, an unknown
option or check name exits 2 with one line on stderr, and neither runs a check (each script's ``CHECKS`` is
replaced here by checks that fail the test if called)."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
SCRIPTS = ["review_trotter_physics", "review_repeater_physics", "review_cloud", "review_dqc_physics",
           "review_qkd_physics", "review_qkd_networks"]


def _load(name):
    """The script as a module (bench/ on sys.path for its sibling imports), its checks replaced by failures."""
    if BENCH not in sys.path:
        sys.path.insert(0, BENCH)
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, os.path.join(BENCH, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)

    def ran(*_args, **_kwargs):
        raise AssertionError(f"{name}: a check ran")
    return module, {check: ran for check in module.CHECKS}


@pytest.fixture(scope="module", autouse=True)
def _remove_work_folders():
    """The scripts make their temporary folder (``WORK``) on import: remove those left empty here."""
    yield
    for name in SCRIPTS:
        work = getattr(sys.modules.get(name), "WORK", None)
        if work and os.path.isdir(work) and not os.listdir(work):
            os.rmdir(work)


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_prints_usage_and_runs_nothing(name, monkeypatch, capsys):
    module, checks = _load(name)
    monkeypatch.setattr(module, "CHECKS", checks)
    with pytest.raises(SystemExit) as stop:
        module.main(["--help"])
    assert stop.value.code == 0
    shown = capsys.readouterr().out
    assert f"{name}.py" in shown and all(check in shown for check in checks)


@pytest.mark.parametrize("name", SCRIPTS)
@pytest.mark.parametrize("argv", [["--bogus"], ["no_such_check"], ["--quick", "--helpp"]])
def test_unknown_option_or_check_exits_2_in_one_line(name, argv, monkeypatch, capsys):
    module, checks = _load(name)
    monkeypatch.setattr(module, "CHECKS", checks)
    with pytest.raises(SystemExit) as stop:
        module.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and argv[-1] in err
