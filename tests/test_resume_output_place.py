"""userwalk2 D11: ``dqsim resume`` started in another folder writes the output where the original run was to
write it (beside its checkpoints' recorded place for it), as it writes its checkpoints beside the one it resumed,
and its summary names the output by its absolute path. Before 2026-12-07 (night) a relative ``-o`` of the run went
to the folder the resume was started in."""

import contextlib
import io

from dqsim.cli.main import main
from dqsim.io import open_run
from mpi_helper import ROOT
from run_files import checkpoints

JOB = [str(ROOT / "jobs" / "bb84_distance_sweep.toml"), "--set", "qkd.pulses=200000", "--set",
       "qkd.batch_pulses=100000", "--set", "qkd.sweep.distances_km=[10]", "--set", "checkpoint.every_sim_s=0.0001"]


def dqsim_in(folder, monkeypatch, args: list[str]) -> str:
    """``dqsim ARGS`` in this process, started in ``folder``; its stdout (it must exit 0)."""
    out = io.StringIO()
    with monkeypatch.context() as patch:
        patch.chdir(folder)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            assert main(args) == 0
    return out.getvalue()


def test_a_resume_started_elsewhere_writes_beside_the_original_output_and_prints_its_path(tmp_path, monkeypatch):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    dqsim_in(project, monkeypatch, ["run", *JOB, "-o", "out.h5", "--set", 'checkpoint.directory="ck"', "--quiet"])
    for name in ("out.h5", "out.h5.manifest.json"):  # as if the run had stopped before writing it
        (project / name).unlink()
    newest = checkpoints(project / "ck")[-1]
    printed = dqsim_in(elsewhere, monkeypatch, ["resume", str(newest)])
    assert (project / "out.h5").is_file() and not (elsewhere / "out.h5").exists()
    assert f"wrote {project / 'out.h5'}" in printed, printed
    # started where the run was: the job as stored, its overrides as the run's (the output as given, relative)
    for name in ("out.h5", "out.h5.manifest.json"):
        (project / name).unlink()
    dqsim_in(project, monkeypatch, ["resume", str(newest), "--quiet"])
    assert [item for item in open_run(project / "out.h5").attrs["overrides"] if "run.output" in item] == \
        ['run.output="out.h5"']
    # -o still names the output, relative to where the resume starts (as dqsim run -o)
    dqsim_in(elsewhere, monkeypatch, ["resume", str(newest), "-o", "mine.h5", "--quiet"])
    assert (elsewhere / "mine.h5").is_file()
