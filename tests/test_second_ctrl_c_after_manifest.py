"""A second Ctrl-C that comes once a stop's checkpoint has its manifest (in the folder's sync that follows it):
such a complete checkpoint stays and becomes the run's newest, which the line of the 130 names. Until 2026-12-07
(night) ``_write_run_file`` took the Ctrl-C (through ``except BaseException``, later as "interrupted") and removed
the checkpoint whole, manifest included, and the line said there was none to resume (review4: a defect older than
ckpt3, the same at 6b25de0)."""

import signal

from dqsim.engine import checkpoint
from dqsim.io import manifest
from mpi_helper import run_here
from run_files import checkpoints
from test_stop_signals_twice import SMALL, ctrl_c, first_ctrl_c_at_first_piece  # noqa: F401 - a fixture


def test_a_second_ctrl_c_once_the_manifest_is_written_keeps_the_checkpoint_and_names_it(tmp_path, monkeypatch,
                                                                                           ctrl_c):  # noqa: F811
    first_ctrl_c_at_first_piece(monkeypatch)
    sync_folder = manifest.sync_folder

    def sync_and_interrupt(folder):
        sync_folder(folder)
        if checkpoint.stop_requested():
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(manifest, "sync_folder", sync_and_interrupt)
    twice = run_here(["run", *SMALL, "-o", str(tmp_path / "x.h5"), "--set",
                      f"checkpoint.directory=\"{tmp_path / 'ck'}\""], check=False)
    assert twice.returncode == 130, twice.stderr
    written = checkpoints(tmp_path / "ck")
    assert len(written) == 1 and checkpoint.manifest_path(written[0]).is_file(), twice.stderr
    assert twice.stderr.strip().endswith(f"its last checkpoint continues it: dqsim resume {written[0]}")
