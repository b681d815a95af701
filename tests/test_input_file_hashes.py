"""The files a job reads (its QASM circuits) are hashed once per process while they stay as they were.

Before 2026-12-07 a run's start hashed its QASM file for the configuration hash (the checkpoints' names), again for
the run's identity (its manifests' ``input_sha256``) and ``--skip-finished`` or ``dqsim clean`` again to compare
them: three reads of the file, each hashed whole. Now :func:`dqsim.jobs.file_sha256` keeps the SHA-256 by path,
size, modification time and inode; a file modified within 2 s of its hash (one tick of a coarse file-system clock)
is hashed again at each look, and an edited file (another size or time) is hashed anew.
"""

import os
import shutil
import time

from dqsim import jobs
from dqsim.jobs import file_hash
from dqsim.cli.finished import checkpoint_names, run_identity
from mpi_helper import ROOT


def counting_reads(monkeypatch, watched):
    """Count the reads of the file ``watched`` through :func:`dqsim.jobs.file_hash.read_hashed` (how the hash reads
    it since 2026-12-07 (night), a piece at a time; :meth:`pathlib.Path.read_bytes` before)."""
    reads, original = [], file_hash.read_hashed

    def read_hashed(path, each):
        if os.path.abspath(path) == str(watched):
            reads.append(1)
        return original(path, each)

    monkeypatch.setattr(file_hash, "read_hashed", read_hashed)
    return reads


def a_job(folder):
    """``jobs/dqc_teleport_feedforward.toml`` and its circuit in ``folder``, the circuit last modified an hour ago:
    ``(job, qasm)``."""
    (folder / "circuits").mkdir()
    qasm = folder / "circuits" / "teleport_feedforward.qasm"
    shutil.copy(ROOT / "jobs" / "circuits" / "teleport_feedforward.qasm", qasm)
    shutil.copy(ROOT / "jobs" / "dqc_teleport_feedforward.toml", folder / "job.toml")
    an_hour_ago = time.time() - 3600
    os.utime(qasm, (an_hour_ago, an_hour_ago))
    return jobs.load_job(folder / "job.toml"), qasm


def test_repro_a_run_start_hashes_its_qasm_file_once(tmp_path, monkeypatch):
    """A run's start: the checkpoints' names (now and before 2026-12-07), the run's identity and the inputs'
    hashes; then the file edited (its size and time change): hashed once more, to the new SHA-256."""
    job, qasm = a_job(tmp_path)
    reads = counting_reads(monkeypatch, qasm)
    names = checkpoint_names(job)
    identity = run_identity(job, "0" * 32, names.config_sha256, checkpoint_directory=tmp_path / "ck")
    assert jobs.input_file_hashes(job) == identity["input_sha256"] == {str(qasm): jobs.file_sha256(qasm)}
    assert len(reads) == 1
    qasm.write_text(qasm.read_text() + "// edited\n")
    os.utime(qasm, (time.time() - 60, time.time() - 60))
    assert jobs.config_sha256(job) != names.config_sha256 and len(reads) == 2
    assert jobs.input_file_hashes(job) != identity["input_sha256"] and len(reads) == 2


def test_a_file_modified_within_two_seconds_of_its_hash_is_hashed_at_each_look(tmp_path, monkeypatch):
    """An edit in the same tick of a coarse file-system clock keeps the size and the time: such a file is not
    taken from the cache (git's racily clean entries)."""
    job, qasm = a_job(tmp_path)
    os.utime(qasm)  # modified now
    reads = counting_reads(monkeypatch, qasm)
    jobs.config_sha256(job)
    jobs.input_file_hashes(job)
    assert len(reads) == 2
