"""A file system's own largest file (POSIX ``FILESIZEBITS``, read with ``os.pathconf``): named in a write's
``EFBIG`` line and in ``dqsim check`` where a checkpoint's or an output's state would not fit in one file.

The file system is faked by a monkeypatched ``os.pathconf`` (only its ``PC_FILESIZEBITS`` answer), as no test
machine has a FAT folder to write to.
"""

import os


from dqsim.cli.check import check_job
from dqsim.io import limits
from mpi_helper import ROOT

REAL_PATHCONF = os.pathconf


def fake_file_system(monkeypatch, bits):
    """``os.pathconf`` answers ``bits`` for ``PC_FILESIZEBITS`` (``OSError``: the OS does not say), else as before."""
    def pathconf(path, name):
        if name != "PC_FILESIZEBITS":
            return REAL_PATHCONF(path, name)
        if isinstance(bits, type) and issubclass(bits, Exception):
            raise bits(22, "Invalid argument")
        return bits
    monkeypatch.setattr(os, "pathconf", pathconf)


def test_repro_a_write_past_the_file_systems_own_maximum_names_it(tmp_path, monkeypatch):
    """EFBIG with no ``ulimit -f`` in the way: the line gives the file system's maximum from its FILESIZEBITS
    (with the doubt Linux's 32 carries), and none where the OS does not say or the file was smaller than it.
    Before, the line never gave a number."""
    needed = 5 * 2**30
    fake_file_system(monkeypatch, 33)  # FAT as macOS reports it: files below 4 GiB
    words = limits.too_large_words(tmp_path / "not-yet", needed, limit_bytes=2**50)
    assert words.endswith(f"more than the file system of {tmp_path / 'not-yet'} holds in one file "
                          f"({limits.size_words(2**32)} at most, by its FILESIZEBITS = 33): write it on another "
                          "file system"), words
    assert limits.filesystem_file_limit(tmp_path) == (2**32 - 1, 33)
    fake_file_system(monkeypatch, 32)  # Linux: FAT, and any file system its C library does not know
    assert f"({limits.size_words(2**31)} at most, by its FILESIZEBITS = 32; Linux says 32 also of file systems " \
           "it does not know, which may hold more)" in limits.too_large_words(tmp_path, needed, limit_bytes=None)
    for bits in (64, OSError, -1):  # no limit a file reaches, no answer
        fake_file_system(monkeypatch, bits)
        assert limits.filesystem_file_limit(tmp_path) is None
        assert "holds in one file: write it" in limits.too_large_words(tmp_path, needed, limit_bytes=2**50)
    fake_file_system(monkeypatch, 40)  # the file needed less than the file system's maximum: not the cause named
    assert "FILESIZEBITS" not in limits.too_large_words(tmp_path, needed, limit_bytes=2**50)


def test_repro_check_warns_where_a_checkpoint_or_the_state_passes_the_file_systems_maximum(tmp_path, monkeypatch):
    """A 25-qubit register (512 MiB in complex128) on a file system of files below 256 MiB (FILESIZEBITS 29):
    ``dqsim check`` warns of the checkpoint's slab file and the gathered output, naming the maximum and the
    options; on 2 ranks the slab files (256 MiB each) still do not fit; on a file system that holds them, none."""
    job = str(ROOT / "jobs" / "random_circuit.toml")
    sets = ["circuit.num_qubits=25", "circuit.depth=2", "simulation.save_state=true", "simulation.max_gather_qubits=26",
            f"checkpoint.directory=\"{tmp_path / 'ck'}\""]
    fake_file_system(monkeypatch, 29)
    report = check_job(job, sets, 1, str(tmp_path / "out.h5"))
    warned = [line for line in report if "FILESIZEBITS" in line]
    assert len(warned) == 2, report
    state, largest = limits.size_words(2**29), limits.size_words(2**28)
    assert warned[0].startswith(f"# warning: a checkpoint's slab file in {tmp_path / 'ck'} takes at least "
                                f"{state}, more than the file system of") and f"({largest} at most, by its " \
        "FILESIZEBITS = 29; Linux says 32 also" in warned[0] and "more ranks" in warned[0]
    assert f"the output {tmp_path / 'out.h5'} with its state takes at least {state}" in warned[1]
    assert "max_gather_qubits" in warned[1]
    assert len([line for line in check_job(job, sets, 2, str(tmp_path / "out.h5")) if "FILESIZEBITS" in line]) == 2
    fake_file_system(monkeypatch, 64)
    assert not [line for line in check_job(job, sets, 1, str(tmp_path / "out.h5")) if "FILESIZEBITS" in line]
