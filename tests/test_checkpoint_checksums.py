"""Checkpoint checksums: the algorithm each file names, old SHA-256 checkpoints, damage found at the resume.

State slabs are written straight from the array and hashed in memory while written; their manifest entry
is three parts (HDF5's bytes before the amplitudes, the amplitudes, HDF5's bytes after), and the amplitudes
are not read back after the write (that read would return the page cache). So these tests hold that
whatever reaches the disk is still checked before anything is parsed: a byte flipped anywhere in a slab is
refused in one line at the resume, with SHA-256 and with XXH3-128, in manifests of format 2 and in those of
format 1 that dqsim wrote before (one SHA-256 per file), which still resume.
"""

import hashlib
import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from dqsim.comm import SingleComm
from dqsim.engine import checkpoint
from dqsim.errors import DamagedFileError, DqsimError
from dqsim.io import hashing, manifest, open_run, verify_run_file, write_run_file, write_sharded_state
from mpi_helper import run_here, run_mpi
from run_files import checkpoints, flip_byte, same_tables

DQC = ["jobs/dqc_ghz_4qpu.toml", "--set", "simulation.store_shots=true", "--set", "circuit.generator=\"random\"",
       "--set", "circuit.depth=4", "--set", "distribution.assignment=[0, 0, 1, 1, 2, 2, 3, 3]"]


def checkpointed(folder, algorithm, monkeypatch):
    """DQC on one rank with checkpoints written with ``algorithm`` into ``folder/ck``: (output, checkpoints)."""
    monkeypatch.setenv(hashing.CHECKSUM_ENV, algorithm)
    out = folder / "full.h5"
    run_here(["run", *DQC, "-o", out, "--quiet", "--set", "checkpoint.every_sim_s=0.0004",
              "--set", f"checkpoint.directory=\"{folder / 'ck'}\"", "--set", "checkpoint.keep=20"])
    monkeypatch.delenv(hashing.CHECKSUM_ENV)
    return out, checkpoints(folder / "ck")


def copied(source, folder):
    """A copy of checkpoint ``source`` (run file, slabs, manifest) in ``folder``; the copy's run file."""
    folder.mkdir()
    for f in source.parent.glob(source.stem + ".*"):
        shutil.copy(f, folder / f.name)
    return folder / source.name


def resume(path, out, check=True):
    proc = run_here(["resume", path, "-o", out, "--quiet"], check=check)
    return proc if check else (proc.returncode, proc.stderr.strip().splitlines())


def as_format_1(path):
    """Rewrite checkpoint ``path``'s manifest as dqsim wrote it before format 2: one SHA-256 of each file."""
    document = json.loads(checkpoint.manifest_path(path).read_text())
    body = document["body"]
    body["files"] = [{"name": e["name"], "size": e["size"],
                      "sha256": hashlib.sha256((path.parent / e["name"]).read_bytes()).hexdigest()}
                     for e in body["files"]]
    text = json.dumps(body, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    document.update(dqsim_manifest=1, sha256=hashlib.sha256(text.encode("ascii")).hexdigest())
    checkpoint.manifest_path(path).write_text(json.dumps(document, indent=1, sort_keys=True))


def flip_amplitude_byte(path):
    """Flip one byte in the middle of the amplitudes of ``path``'s first slab file (raw bytes, size kept)."""
    slab = next(path.parent.glob(path.stem + ".slab0000.h5"))
    with h5py.File(slab, "r") as h5:
        middle = h5["slab"].id.get_offset() + h5["slab"].id.get_storage_size() // 2
    flip_byte(slab, middle, 0x10)


@pytest.fixture(scope="module")
def sha256_checkpoints(tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        return checkpointed(tmp_path_factory.mktemp("sha256"), "sha256", monkeypatch)


def test_repro_a_checkpoint_of_the_sha256_format_1_still_resumes_and_a_flipped_byte_is_refused(
        sha256_checkpoints, tmp_path):
    full, ckpts = sha256_checkpoints
    source = ckpts[len(ckpts) // 2]
    body = manifest.read_manifest(checkpoint.manifest_path(source), kind=checkpoint.MANIFEST_KIND)
    assert {e["hash"] for e in body["files"]} == {"sha256"}
    assert all(c.startswith("sha256:") for c in open_run(source).attrs_of("state")["slab_checksums"])
    old = copied(source, tmp_path / "old")
    as_format_1(old)
    assert json.loads(checkpoint.manifest_path(old).read_text())["dqsim_manifest"] == 1
    resume(old, tmp_path / "old.h5")
    resume(source, tmp_path / "new.h5")
    a, b = open_run(tmp_path / "old.h5"), open_run(tmp_path / "new.h5")
    same_tables(a, b, ["shots", "links", "counts"])
    assert a.attrs["fidelity"] == b.attrs["fidelity"] == open_run(full).attrs["fidelity"]
    damaged = copied(source, tmp_path / "damaged")
    as_format_1(damaged)
    flip_amplitude_byte(damaged)
    code, lines = resume(damaged, tmp_path / "x.h5", check=False)
    assert code == 2 and len(lines) == 1
    assert re.search(r"slab0000\.h5: damaged \(its SHA-256 differs from the manifest's\)", lines[0])


def test_an_xxh3_checkpoint_resumes_and_a_flipped_byte_anywhere_in_a_slab_is_refused(tmp_path, monkeypatch):
    pytest.importorskip("xxhash")
    full, ckpts = checkpointed(tmp_path / "run", "xxh3_128", monkeypatch)
    source = ckpts[0]
    body = manifest.read_manifest(checkpoint.manifest_path(source), kind=checkpoint.MANIFEST_KIND)
    assert {e["hash"] for e in body["files"]} == {"xxh3_128"}
    assert [len(e["parts"]) for e in body["files"]] == [1, 3]  # the run file whole; a slab in three parts
    assert open_run(source).attrs_of("state")["slab_checksums"][0].startswith("xxh3_128:")
    resume(source, tmp_path / "resumed.h5")
    same_tables(open_run(full), open_run(tmp_path / "resumed.h5"), ["shots", "links", "counts"])
    damaged = copied(source, tmp_path / "damaged")
    flip_amplitude_byte(damaged)
    code, lines = resume(damaged, tmp_path / "x.h5", check=False)
    assert code == 2 and len(lines) == 1
    assert re.search(r"slab0000\.h5: damaged \(its XXH3-128 differs from the manifest's\)", lines[0])
    header = copied(source, tmp_path / "header")  # a byte of HDF5's own, before the amplitudes
    slab = next(header.parent.glob(header.stem + ".slab0000.h5"))
    data = bytearray(slab.read_bytes())
    data[64] ^= 0x01
    slab.write_bytes(bytes(data))
    code, lines = resume(header, tmp_path / "y.h5", check=False)
    assert code == 2 and len(lines) == 1 and "damaged" in lines[0]
    monkeypatch.setattr(hashing, "xxhash", None)  # a dqsim without the package: refused in one line
    code, lines = resume(source, tmp_path / "z.h5", check=False)
    assert code == 2 and len(lines) == 1 and "needs the Python package xxhash" in lines[0]


def written_run(folder, vector):
    kwargs = write_sharded_state(folder / "run", [(0, vector)], comm=SingleComm(), slab_size=vector.size,
                                 dtype=vector.dtype)
    return write_run_file(folder / "run.h5", attrs={}, tables={}, manifest=True, **kwargs)


@pytest.mark.parametrize("algorithm", ["sha256", "xxh3_128"])
def test_an_amplitude_changed_after_the_write_is_refused_when_read(tmp_path, monkeypatch, algorithm):
    """The middle of a slab is not read back after the write; a change there is found by every reader."""
    if not hashing.available(algorithm):
        pytest.skip("xxhash is not installed")
    monkeypatch.setenv(hashing.CHECKSUM_ENV, algorithm)
    vector = np.random.default_rng(4).normal(size=2 * (1 << 14)).view(np.complex128)
    run = written_run(tmp_path, vector)
    with h5py.File(tmp_path / "run.slab0000.h5", "r+") as h5:
        h5["slab"][1 << 13] += 1e-9
    with pytest.raises(DamagedFileError, match=f"run.slab0000.h5: damaged \\(its {hashing.display_name(algorithm)}"):
        verify_run_file(run)
    with pytest.raises(DqsimError, match=f"state slab 0 of 1 .* is corrupt: its checksum {algorithm}:"):
        open_run(run).state()


def test_format_1_manifests_are_read_and_malformed_entries_refused(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"abc")
    path = manifest.write_manifest(tmp_path / "a.manifest.json", {"kind": "demo"}, [tmp_path / "a.bin"])
    document = json.loads(path.read_text())
    assert document["dqsim_manifest"] == 2 and document["body"]["files"][0]["parts"][0][0] == 3

    def rewritten(files, version=2):
        body = {"kind": "demo", "files": files}
        text = json.dumps(body, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
        path.write_text(json.dumps({"dqsim_manifest": version, "body": body,
                                    "sha256": hashlib.sha256(text.encode("ascii")).hexdigest()}))
        return manifest.read_manifest(path, kind="demo")

    old = rewritten([{"name": "a.bin", "size": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}], version=1)
    assert old["files"] == [{"name": "a.bin", "size": 3, "hash": "sha256",
                             "parts": [[3, hashlib.sha256(b"abc").hexdigest()]]}]
    manifest.verify_files(path, old["files"])
    digest = hashlib.sha256(b"abc").hexdigest()
    for bad in ({"name": "a.bin", "size": 3, "hash": "sha256", "parts": [[2, digest]]},  # parts short of the size
                {"name": "a.bin", "size": 3, "hash": "md5", "parts": [[3, digest]]},
                {"name": "a.bin", "size": 3, "hash": "xxh3_128", "parts": [[3, digest]]},  # a digest too long
                {"name": "a.bin", "size": 3, "sha256": digest}):  # format 1's entry in a format-2 manifest
        with pytest.raises(DqsimError, match="file entry 0 is malformed"):
            rewritten([bad])


def test_the_checksum_algorithm_is_chosen_by_dqsim_checksum(monkeypatch):
    monkeypatch.setenv(hashing.CHECKSUM_ENV, "sha256")
    assert hashing.default_algorithm() == "sha256"
    monkeypatch.setenv(hashing.CHECKSUM_ENV, "md5")
    with pytest.raises(DqsimError, match="DQSIM_CHECKSUM = 'md5': allowed sha256, xxh3_128"):
        hashing.default_algorithm()
    monkeypatch.delenv(hashing.CHECKSUM_ENV)
    assert hashing.default_algorithm() == ("xxh3_128" if hashing.available("xxh3_128") else "sha256")


class _Counted:
    """A hash object that adds the bytes it is given to ``counts[0]``."""

    def __init__(self, inner, counts):
        self.inner, self.counts = inner, counts

    def update(self, data):
        self.counts[0] += memoryview(data).nbytes
        self.inner.update(data)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_repro_a_resume_hashes_each_byte_once_and_a_slab_damaged_there_still_falls_back(sha256_checkpoints,
                                                                                        tmp_path, monkeypatch):
    """The resume hashed each slab's amplitudes twice: every file against the manifest (read_checkpoint), then
    each slab against its checksum while the register was read. Now the slab's amplitudes are hashed once, as
    they are read into the register, and the ranks agree on the result before the run goes on: a slab damaged
    there is refused with the same line, and ``--fall-back`` resumes the previous checkpoint (the output equals
    the uninterrupted run's)."""
    full, ckpts = sha256_checkpoints
    older, newer = ckpts[-2:]
    resumed = copied(newer, tmp_path / "ck")
    total = sum(f.stat().st_size for f in resumed.parent.iterdir())
    real, counts, restore = hashing.new, [0], checkpoint.Checkpointer.restore
    monkeypatch.setattr(hashing, "new", lambda algorithm: _Counted(real(algorithm), counts))

    def restore_counted(self, sim):  # the bytes hashed up to the register's restore (not the run's own writes)
        done = restore(self, sim)
        counts.append(counts[0])
        return done

    monkeypatch.setattr(checkpoint.Checkpointer, "restore", restore_counted)
    resume(resumed, tmp_path / "resumed.h5")
    monkeypatch.undo()
    slab = next(resumed.parent.glob(resumed.stem + ".slab0000.h5")).stat().st_size
    assert slab > total / 2 and counts[1] <= total, (counts, total, slab)  # was total + the amplitudes
    same_tables(open_run(full), open_run(tmp_path / "resumed.h5"), ["shots", "links", "counts"])
    for path in (older, newer):
        copied(path, tmp_path / "both") if path == older else [
            shutil.copy(f, tmp_path / "both" / f.name) for f in path.parent.glob(path.stem + ".*")]
    damaged = tmp_path / "both" / newer.name
    flip_amplitude_byte(damaged)
    code, lines = resume(damaged, tmp_path / "x.h5", check=False)
    assert code == 2 and len(lines) == 1 and not (tmp_path / "x.h5").exists(), lines
    # (SHA-256 as the fixture wrote them, or XXH3-128 where a resume of another test rewrote them in the folder)
    assert re.search(r"slab0000\.h5: damaged \(its (SHA-256|XXH3-128) differs from the manifest's\); the previous "
                     rf"checkpoint of this job is .*{re.escape(older.name)}: resume that one$", lines[0]), lines
    proc = run_here(["resume", damaged, "-o", tmp_path / "fell.h5", "--quiet", "--fall-back"])
    notes = proc.stderr.strip().splitlines()
    assert notes[0].startswith(f"dqsim: note: not resuming {damaged.parent / damaged.stem}.slab0000.h5: damaged "
                               "(its "), notes
    assert notes[0].endswith(f"differs from the manifest's); resuming the previous checkpoint of the job, "
                             f"{damaged.parent / older.name}"), notes
    same_tables(open_run(full), open_run(tmp_path / "fell.h5"), ["shots", "links", "counts"])


def test_on_two_ranks_a_slab_damaged_where_its_rank_reads_it_refuses_the_resume_on_every_rank(tmp_path):
    """Two ranks, each hashing its own slab as it reads it: rank 1's slab damaged is refused in one line on
    every rank (exit 2), and ``--fall-back`` resumes the previous checkpoint to the uninterrupted tables."""
    ck = tmp_path / "ck"
    # the run, the damage, the refused resume (which must end with status 2) and the one with --fall-back: one launch
    both = run_mpi(2, ["tests/mpi_scripts/damaged_slab_resumes.py", str(tmp_path), *DQC])
    older, newer = map(Path, both.stdout.split())
    assert (older.parent, newer.parent) == (ck, ck), both.stdout
    slab = ck / f"{newer.stem}.slab0001.h5"
    lines = ("".join((tmp_path / f"resumes.rank{rank}.stderr").read_text() for rank in (0, 1))
             + both.stderr).strip().splitlines()  # the resumes', then the launch's own (the quiet run's: none)
    assert not (tmp_path / "x.h5").exists(), lines[-20:]
    # one line of the refusal (on every rank), then only the fall-back's notes
    assert lines[0].startswith(f"dqsim: error: {slab}: damaged (its ") and older.name in lines[0], lines
    assert lines[1].startswith(f"dqsim: note: not resuming {slab}: damaged"), lines
    assert all(line.startswith("dqsim: note: ") for line in lines[1:]), lines
    same_tables(open_run(tmp_path / "full.h5"), open_run(tmp_path / "y.h5"), ["shots", "links", "counts"])
