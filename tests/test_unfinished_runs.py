"""An interrupted run's checkpoints are not lost to a hurried ``dqsim run`` (userwalk3 D2, D3; 2026-12-07).

Before, ``dqsim run`` of a job whose folder held an unfinished run's checkpoints started from the start with one
note line and removed them at its first checkpoint; ``dqsim check`` said nothing of them; ``dqsim resume JOB.toml``
or a checkpoint's slab file said the folder held no checkpoint of the job and to "run the job again".
"""

from __future__ import annotations

from dqsim.cli.main import main
from dqsim.engine import checkpoint
from dqsim.io import open_run
from mpi_helper import ROOT
from run_files import checkpoints

#: The command line's options of the runs here (the job file holds its settings).
SMALL = ["--quiet"]


def cli(capsys, *args):
    """``dqsim ARGS`` in this process: (exit status, stdout, stderr lines)."""
    capsys.readouterr()
    code = main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err.strip().splitlines()


def job_file(tmp_path):
    """The BB84 job, small (10^6 pulses), with its checkpoint folder ``ck`` and a checkpoint every 0.2 ms of
    simulated time in the job file itself (as a cluster user writes it)."""
    text = (ROOT / "jobs" / "bb84_decoy_50km.toml").read_text()
    for old, new in [("pulses = 20_000_000", "pulses = 1_000_000"), ("batch_pulses = 1_000_000", "batch_pulses = "
                     "250_000"), ("block_pulses = 10_000_000", "block_pulses = 500_000")]:
        assert old in text
        text = text.replace(old, new)
    job = tmp_path / "job.toml"
    job.write_text(f'[checkpoint]\ndirectory = "{tmp_path / "ck"}"\nevery_sim_s = 0.0002\n\n' + text)
    return job


def interrupted(tmp_path, capsys, monkeypatch):
    """Run the job and stop it at its first cut (status 75, as after a SIGTERM): its checkpoints, oldest first."""
    job = job_file(tmp_path)
    monkeypatch.setattr(checkpoint, "_STOP", {"requested": True})
    code, _out, err = cli(capsys, "run", job, "-o", tmp_path / "o.h5", *SMALL)
    monkeypatch.setattr(checkpoint, "_STOP", {"requested": False})
    assert code == 75, err
    written = checkpoints(tmp_path / "ck")
    assert written, err
    return job, written


def test_repro_run_refuses_to_start_over_an_unfinished_run(tmp_path, capsys, monkeypatch):
    job, written = interrupted(tmp_path, capsys, monkeypatch)
    newest = written[-1]
    code, _out, err = cli(capsys, "run", job, "-o", tmp_path / "o.h5", *SMALL)
    assert code == 2 and len(err) == 1, err
    assert err[0] == (f"dqsim: error: {tmp_path / 'ck'} holds checkpoints of an unfinished run of this job (the "
                      f"newest: {newest}): continue it with dqsim resume {newest}, or start over with dqsim run "
                      "--start-over (which removes them at its first checkpoint)"), err
    assert checkpoints(tmp_path / "ck") == written  # nothing removed
    assert not (tmp_path / "o.h5").exists()
    code, out, err = cli(capsys, "check", job, "-o", tmp_path / "o.h5", "--no-time")
    assert code == 0, err
    assert f"# note: {tmp_path / 'ck'}/ holds checkpoints of an unfinished run of this job (the newest: {newest}): " \
           f"dqsim resume {newest} continues it" in out, out
    code, _out, err = cli(capsys, "run", job, "-o", tmp_path / "o.h5", "--start-over", *SMALL)
    assert code == 0 and any("already holds checkpoints of this job" in line for line in err), err
    assert not set(written) & set(checkpoints(tmp_path / "ck"))  # removed at the new run's first checkpoint
    code, out, _err = cli(capsys, "check", job, "-o", tmp_path / "o.h5", "--no-time")
    assert "unfinished run" not in out, out  # the new run finished (its checkpoints kept by the test suite)


def test_a_finished_run_s_kept_checkpoints_do_not_stop_a_new_run(tmp_path, capsys):
    job = job_file(tmp_path)
    assert cli(capsys, "run", job, "-o", tmp_path / "o.h5", *SMALL)[0] == 0  # kept: the suite's keep_when_done
    assert checkpoints(tmp_path / "ck")
    code, _out, err = cli(capsys, "run", job, "-o", tmp_path / "o.h5", *SMALL)
    assert code == 0 and len(err) == 1 and "already holds checkpoints of this job" in err[0], err


def test_repro_resume_of_a_job_file_names_its_newest_checkpoint(tmp_path, capsys, monkeypatch):
    job, written = interrupted(tmp_path, capsys, monkeypatch)
    code, _out, err = cli(capsys, "resume", job)
    assert code == 2 and err == [f"dqsim: error: {job}: a job file; dqsim resume takes a checkpoint: this job's "
                                 f"newest is {written[-1]} (dqsim resume {written[-1]})"], err
    other = tmp_path / "other.toml"
    other.write_text(job.read_text().replace("seed = 1\n", "seed = 99\n", 1))
    code, _out, err = cli(capsys, "resume", other)  # its [run].name's checkpoints, of another configuration
    assert code == 2 and len(err) == 1 and "of another configuration" in err[0] and \
        err[0].endswith(f"(dqsim resume {written[-1]})"), err
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text(job.read_text().replace(str(tmp_path / "ck"), str(tmp_path / "ck2")))
    code, _out, err = cli(capsys, "resume", elsewhere)  # its folder holds none
    assert code == 2 and len(err) == 1 and f"{tmp_path / 'ck2'} holds none of this job (" in err[0] and \
        err[0].endswith(f"run it with dqsim run {elsewhere}"), err


def test_repro_resume_of_a_checkpoint_s_slab_file_resumes_its_checkpoint(tmp_path, capsys, monkeypatch):
    job, written = interrupted(tmp_path, capsys, monkeypatch)
    slabs = sorted(tmp_path.glob("ck/*.slab*.h5")) or [checkpoint.manifest_path(written[-1])]
    part = [each for each in slabs if each.name.startswith(written[-1].name[:-len(".h5")])][0]
    code, _out, err = cli(capsys, "resume", part, "-o", tmp_path / "resumed.h5", "--quiet")
    assert code == 0, err
    assert err[0] == f"dqsim: note: {part} is a file of checkpoint {written[-1]}: resuming that checkpoint", err
    assert open_run(tmp_path / "resumed.h5").tables  # the resumed run wrote its output
