"""Run-file manifests of sharded states: each rank hashes the slab file it wrote, rank 0 lists them.

The manifest must list what a single process lists when it hashes every file
itself (same files, order and sizes, the run file's entry the same), and
every entry must verify against its file; a slab's entry is three parts (the
amplitudes hashed in memory by the rank that wrote them, HDF5's bytes around
them read back), where one process hashing the file whole makes one. Runs on
one process and, under the venv's mpiexec, on 2 and 4 ranks (slab files: the
serial h5py).
"""

import json

import h5py
import numpy as np
import pytest

from dqsim.comm import SingleComm
from dqsim.errors import DqsimError
from dqsim.io import StateSlabs, manifest, sharded, verify_run_file, write_run_file, write_sharded_state
from mpi_helper import run_mpi
from run_files import flip_byte

QFT = ["run", "jobs/qft_20q.toml", "--quiet", "--set", "circuit.num_qubits=10", "--set", 'simulation.observables=["X0"]',
       "--set", "simulation.max_gather_qubits=6"]


def manifest_body(path):
    return manifest.read_manifest(manifest.run_manifest_path(path), kind="run")


def one_process_body(run, num_slabs, tmp_path):
    """The manifest body that one process writes hashing the run file and every slab itself (as before), with the
    run's identity that ``run``'s manifest records (``dqsim run``'s; none for a file written without it)."""
    slabs = [run.with_name(f"{run.stem}.slab{r:04d}.h5") for r in range(num_slabs)]
    recorded = manifest_body(run)
    identity = {key: recorded[key] for key in manifest.RUN_IDENTITY_KEYS if key in recorded}
    reference = manifest.write_manifest(tmp_path / "reference.manifest.json",
                                        {"kind": "run", "run_file": run.name, **identity}, [run, *slabs])
    return manifest.read_manifest(reference, kind="run")


def assert_lists_the_same_files(run, body, reference):
    """``body`` lists the files one process's ``reference`` lists (names, order, sizes, facts, the run file's
    entry), and each of its entries verifies against its file."""
    assert [(e["name"], e["size"]) for e in body["files"]] == [(e["name"], e["size"]) for e in reference["files"]]
    assert body["files"][0] == reference["files"][0]  # the run file, hashed whole by rank 0
    assert {k: v for k, v in body.items() if k != "files"} == {k: v for k, v in reference.items() if k != "files"}
    manifest.verify_files(manifest.run_manifest_path(run), body["files"])
    for entry in body["files"][1:]:  # HDF5's bytes, the amplitudes, HDF5's bytes
        assert len(entry["parts"]) == 3 and entry["parts"][1][0] < entry["size"]


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """``launched(RANKS)``: on RANKS ranks, in one launch (tests/mpi_scripts/run_manifest_check.py), ``dqsim``
    :data:`QFT` writing ``FOLDER/out/q.h5``, then the check script writing into ``FOLDER/check``; ``(FOLDER,
    the launch)``, the launch made once per rank count."""
    made = {}

    def launch(ranks: int):
        if ranks not in made:
            folder = tmp_path_factory.mktemp(f"manifest_{ranks}_ranks")
            (folder / "check").mkdir()
            made[ranks] = folder, run_mpi(ranks, ["tests/mpi_scripts/run_manifest_check.py", str(folder / "check"),
                                                  "12", *QFT, "-o", str(folder / "out" / "q.h5")], timeout_s=240)
        return made[ranks]

    return launch


@pytest.mark.parametrize("ranks", [2, 4])
def test_dqsim_run_manifest_equals_one_process_hashing_every_file(tmp_path, launched, ranks):
    run = launched(ranks)[0] / "out" / "q.h5"
    body = manifest_body(run)
    names = [entry["name"] for entry in body["files"]]
    assert names == ["q.h5", *[f"q.slab{r:04d}.h5" for r in range(ranks)]]
    assert_lists_the_same_files(run, body, one_process_body(run, ranks, tmp_path))
    slab_bytes = (1 << 10) // ranks * 16  # complex128 amplitudes of one slab
    assert all(entry["size"] > slab_bytes for entry in body["files"][1:])
    assert verify_run_file(run)
    slab1 = run.with_name("q.slab0001.h5")  # written, and hashed, by rank 1
    with h5py.File(slab1, "r") as h5:
        amplitudes_at = h5["slab"].id.get_offset()
    flip_byte(slab1, amplitudes_at + slab_bytes // 2)  # an amplitude's byte; the size stays
    with pytest.raises(DqsimError, match=r"q\.slab0001\.h5: damaged \(its (SHA-256|XXH3-128) differs from the "
                                         r"manifest's\)"):
        verify_run_file(run)


@pytest.mark.parametrize("ranks", [2, 4])
def test_each_rank_hashes_only_its_own_slab(tmp_path, launched, ranks):
    folder, proc = launched(ranks)
    hashed = json.loads(proc.stdout.strip().splitlines()[-1])["hashed"]
    assert hashed == [["run.slab0000.h5", "run.h5"], *[[f"run.slab{r:04d}.h5"] for r in range(1, ranks)]]
    run = folder / "check" / "run.h5"
    assert_lists_the_same_files(run, manifest_body(run), one_process_body(run, ranks, tmp_path))
    assert verify_run_file(run)


def test_single_process_manifest_is_unchanged(tmp_path):
    vector = np.random.default_rng(3).normal(size=64).astype(np.complex128)
    kwargs = write_sharded_state(tmp_path / "run", [(0, vector)], comm=SingleComm(), slab_size=64,
                                 dtype=vector.dtype)
    slabs = kwargs["state_slabs"]
    assert [entry["name"] for entry in slabs.file_entries] == ["run.slab0000.h5"]
    assert slabs.file_entries[0]["size"] == (tmp_path / "run.slab0000.h5").stat().st_size
    run = write_run_file(tmp_path / "run.h5", attrs={}, tables={}, manifest=True, **kwargs)
    assert_lists_the_same_files(run, manifest_body(run), one_process_body(run, 1, tmp_path))
    assert slabs.file_entries[0]["parts"][1] == [64 * 16, slabs.checksums[0].partition(":")[2]]


def test_entries_for_other_files_than_the_paths_are_refused():
    entry = {"name": "run.slab0001.h5", "size": 1, "sha256": "0" * 64}
    with pytest.raises(ValueError, match="file_entries"):
        StateSlabs(["out/run.slab0000.h5"], ["sha256:" + "0" * 64], 4, file_entries=[entry])


@pytest.mark.parametrize("read_back", ["", "1"])
def test_a_slab_s_amplitudes_are_read_back_only_when_asked(tmp_path, monkeypatch, read_back):
    """A slab as write_slab_file lays it out: its entry hashes HDF5's bytes before and after the amplitudes
    from the file, the amplitudes' digest comes from the write (they are not read: reading them now would
    return the page cache); with DQSIM_STATE_READ_BACK=1 the whole file is read once and compared."""
    vector = np.random.default_rng(5).normal(size=2 * 4096).view(np.complex128)
    monkeypatch.setenv(sharded.READ_BACK_ENV, read_back)
    ranges, whole = [], []
    plain_bytes, plain_parts = manifest.bytes_digest, manifest.parts_digests
    monkeypatch.setattr(manifest, "bytes_digest", lambda path, a, b, alg: ranges.append((a, b)) or
                        plain_bytes(path, a, b, alg))
    monkeypatch.setattr(manifest, "parts_digests", lambda path, alg, lengths, **kw: whole.append(lengths) or
                        plain_parts(path, alg, lengths, **kw))
    kwargs = write_sharded_state(tmp_path / "run", [(0, vector[:1000]), (1000, vector[1000:])], comm=SingleComm(),
                                 slab_size=4096, dtype=vector.dtype)
    slab = tmp_path / "run.slab0000.h5"
    entry = kwargs["state_slabs"].file_entries[0]
    with h5py.File(slab, "r") as h5:
        start = h5["slab"].id.get_offset()
    assert [length for length, _ in entry["parts"]] == [start, 4096 * 16, slab.stat().st_size - start - 4096 * 16]
    if read_back:
        assert (ranges, whole) == ([], [[length for length, _ in entry["parts"]]])
    else:
        assert (ranges, whole) == ([(0, start), (start + 4096 * 16, slab.stat().st_size)], [])
    manifest.verify_files(tmp_path / "run.manifest.json", [entry])


def rewrite_slabs(monkeypatch, *, chunks=None, altered_index=None):
    """Make write_sharded_state's slab files be rewritten after the write: ``chunks`` (None: contiguous),
    amplitude ``altered_index`` changed by 1e-9 (None: none); the checksum returned is the written one."""
    write = sharded.write_slab_file

    def write_then_rewrite(path, pieces, **kwargs):
        written = write(path, pieces, **kwargs)
        with h5py.File(path, "r+") as h5:
            data = h5["slab"][...]
            if altered_index is not None:
                data[altered_index] += 1e-9
            del h5["slab"]
            h5.create_dataset("slab", data=data, chunks=chunks)
        return written

    monkeypatch.setattr(sharded, "write_slab_file", write_then_rewrite)


@pytest.mark.parametrize("chunks", [None, (512,)])
def test_an_amplitude_altered_after_the_write_is_caught_by_the_read_back(tmp_path, monkeypatch, chunks):
    vector = np.random.default_rng(6).normal(size=2 * 4096).view(np.complex128)
    rewrite_slabs(monkeypatch, chunks=chunks, altered_index=4000)
    with pytest.raises(DqsimError, match=r"run\.slab0000\.h5: state slab 0 is corrupt right after writing"):
        write_sharded_state(tmp_path / "run", [(0, vector)], comm=SingleComm(), slab_size=4096, dtype=vector.dtype)
    assert list(tmp_path.iterdir()) == []


def test_a_chunked_slab_is_read_back_through_hdf5_then_hashed(tmp_path, monkeypatch):
    vector = np.random.default_rng(7).normal(size=2 * 4096).view(np.complex128)
    rewrite_slabs(monkeypatch, chunks=(512,))
    kwargs = write_sharded_state(tmp_path / "run", [(0, vector)], comm=SingleComm(), slab_size=4096,
                                 dtype=vector.dtype)
    assert kwargs["state_slabs"].file_entries == [manifest.file_entry(tmp_path / "run.slab0000.h5")]
