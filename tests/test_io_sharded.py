"""Sharded states: write_sharded_state's slab-file path, and verification of just the range read.

Runs with the serial h5py (SingleComm and 2 ranks under the venv's mpiexec).
The collective layout is read here from a file laid out as the parallel
writer lays it out; tests/test_parallel_hdf5.py writes it with parallel HDF5.
"""

import errno
import os

import h5py
import numpy as np
import pytest

from dqsim.comm import SingleComm
from dqsim.errors import DqsimError
from dqsim.io import (CollectiveState, StateSlabs, format_summary, open_run, summarize, write_run_file,
                      write_sharded_state, write_state_slab)
from dqsim.io import sharded, slabs, stored_state
from dqsim.io.encoding import Checksum, encode_attrs
from mpi_helper import run_mpi


def known_state(num_qubits, dtype=np.complex128, seed=4):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=1 << num_qubits) + 1j * rng.normal(size=1 << num_qubits)
    return (v / np.linalg.norm(v)).astype(dtype)


class FakeDeviceArray:
    """Stands for a CuPy array: no implicit host conversion, ``.get()`` copies to the host."""

    copies = 0

    def __init__(self, host):
        self._host = host
        self.__cuda_array_interface__ = {"shape": host.shape}

    def __array__(self, *args, **kwargs):
        raise TypeError("implicit conversion of a device array")

    def get(self):
        FakeDeviceArray.copies += 1
        return self._host.copy()


def slab_run(folder, state, num_slabs):
    """A run file whose state is ``num_slabs`` slab files; returns (path, slab paths)."""
    size = state.size // num_slabs
    paths = [folder / f"run.slab{r:04d}.h5" for r in range(num_slabs)]
    sums = [write_state_slab(p, [(0, state[r * size:(r + 1) * size])], slab_size=size, dtype=state.dtype)
            for r, p in enumerate(paths)]
    return write_run_file(folder / "run.h5", attrs={}, tables={},
                          state_slabs=StateSlabs([str(p) for p in paths], sums, size, state.dtype)), paths


def collective_run(folder, state, num_slabs):
    """A run file with the collective layout, written serially as the parallel writer would."""
    size = state.size // num_slabs
    tmp = folder / "run.h5.tmp-collective"
    sums = [Checksum.of(state[r * size:(r + 1) * size]) for r in range(num_slabs)]
    with h5py.File(tmp, "w", track_order=True) as h5:
        ds = h5.create_dataset("state", data=state)
        encode_attrs(ds.attrs, {**slabs.state_attrs(state.size), "layout": "collective", "num_slabs": num_slabs,
                                "slab_size": size, "slab_checksums": sums}, where="state")
    return write_run_file(folder / "run.h5", attrs={"name": "c"}, tables={"t": np.arange(2)},
                          state_attrs={"note": "x"},
                          collective_state=CollectiveState(tmp, size, num_slabs, state.dtype, sums))


def flip(path, dataset, index):
    with h5py.File(path, "r+") as h5:
        h5[dataset][index] = h5[dataset][index] + 1e-3


def read(run, start, stop, **kw):
    return np.concatenate([p for _, p in run.state_pieces(start, stop, **kw)] or [np.zeros(0, complex)])


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_write_sharded_state_single_rank_writes_a_slab_file(tmp_path, dtype):
    state = known_state(6, dtype)
    device_pieces = [(a, FakeDeviceArray(state[a:a + 10])) for a in range(0, 64, 10)]
    FakeDeviceArray.copies = 0
    kwargs = write_sharded_state(tmp_path / "run", device_pieces, comm=SingleComm(), slab_size=64, dtype=dtype)
    assert FakeDeviceArray.copies == len(device_pieces)  # one host copy per piece, never the whole slab
    assert sorted(kwargs) == ["state_slabs"] and kwargs["state_slabs"].paths == [str(tmp_path / "run.slab0000.h5")]
    run = open_run(write_run_file(tmp_path / "run.h5", attrs={}, tables={}, **kwargs))
    assert run.state_info["layout"] == "slabs" and run.state_info["num_slabs"] == 1
    np.testing.assert_array_equal(run.state(), state)


def test_write_sharded_state_refuses_bad_input(tmp_path):
    a = np.zeros(8, np.complex128)
    with pytest.raises(ValueError, match="cover 6 amplitudes"):
        write_sharded_state(tmp_path / "r", [(0, a[:6])], comm=SingleComm(), slab_size=8, dtype=a.dtype)
    with pytest.raises(ValueError, match="length = 6"):
        write_sharded_state(tmp_path / "r", [(0, a[:6])], comm=SingleComm(), slab_size=6, dtype=a.dtype)
    with pytest.raises(ValueError, match="dtype = float64"):
        write_sharded_state(tmp_path / "r", [], comm=SingleComm(), slab_size=8, dtype=np.float64)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_serial_h5py_or_switch_off_means_slab_files(monkeypatch):
    class Comm2:
        size, rank, mpi_comm = 2, 0, object()

    monkeypatch.setattr(sharded, "parallel_hdf5", lambda: True)
    assert sharded.collective_wanted(Comm2())
    monkeypatch.setenv("DQSIM_PARALLEL_HDF5", "0")
    assert not sharded.collective_wanted(Comm2())
    monkeypatch.delenv("DQSIM_PARALLEL_HDF5")
    assert not sharded.collective_wanted(SingleComm())
    monkeypatch.setattr(sharded, "parallel_hdf5", lambda: False)
    assert not sharded.collective_wanted(Comm2())


#: The 2-rank cases of tests/mpi_scripts/sharded_state_check.py (10 qubits, complex128) the tests below look at.
TWO_RANK_CASES = ["whole", "bad:bad", "bad-looked:bad-looked",
                  *[f"cut{look}:cut:{look}" for look in (3, 9, 10, 12, 99)]]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """The cases of TWO_RANK_CASES on 2 ranks, in one launch: ``{name: (its folder, what its ranks printed)}``."""
    root = tmp_path_factory.mktemp("sharded_two_ranks")
    run_mpi(2, ["tests/mpi_scripts/sharded_state_check.py", "--cases", str(root), "10", "complex128",
                *TWO_RANK_CASES])
    names = [case.split(":")[0] for case in TWO_RANK_CASES]
    return {name: (root / name, "".join((root / f"{name}.rank{rank}.out").read_text() for rank in (0, 1)))
            for name in names}


@pytest.mark.parametrize("ranks", [2, 4])
def test_write_sharded_state_on_several_ranks_writes_slab_files(tmp_path, ranks, two_ranks):
    if ranks == 2:
        stdout = two_ranks["whole"][1]
    else:
        stdout = run_mpi(ranks, ["tests/mpi_scripts/sharded_state_check.py", str(tmp_path), "10", "complex128"]).stdout
    slab_names = ",".join(f"run.slab{r:04d}.h5" for r in range(ranks))
    assert f"layout=slabs files=run.h5,{slab_names}" in stdout


def test_a_rank_with_bad_pieces_fails_every_rank(two_ranks):
    stdout = two_ranks["bad"][1]
    assert "rank 1 raised ValueError: slab pieces cover" in stdout
    assert "rank 0 raised DqsimError" in stdout and "rank 1 failed" in stdout


def test_a_rank_that_fails_between_looks_for_a_stop_fails_every_rank_without_a_hang(two_ranks):
    """Rank 1's pieces end early (after fewer looks than rank 0 takes): it joins rank 0's next look with its
    failure, so rank 0 stops writing there and both raise, rank 0 naming rank 1; no file is left."""
    folder, stdout = two_ranks["bad-looked"]
    assert "rank 1 raised ValueError: slab pieces cover" in stdout
    assert "rank 0 raised DqsimError" in stdout and "rank 1 failed" in stdout
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("look, cut_at, slabs_left", [(3, 3, True), (9, 9, True), (10, 10, False), (12, 12, False),
                                                      (99, None, False)])
def test_a_stop_on_one_rank_cuts_every_rank_s_write_at_the_same_look(two_ranks, look, cut_at, slabs_left):
    """512 amplitudes per rank, a look every 64: 7 between the pieces of the write, one once the slab file is
    closed, one once it is synced, one once it is renamed, 7 in its read-back. Rank 1 alone wants to stop from
    look LOOK: both ranks stop at that look and remove what they wrote. Cut while writing (look 3) or before the
    rename (9), the older output's slabs stay as they were; cut after it (10) or in the read-back (12), the new
    slabs had replaced them, and go. Never wanting to (99): the write is whole after 17 looks."""
    folder, stdout = two_ranks[f"cut{look}"]
    ended = sorted(line for line in stdout.splitlines() if line.startswith("rank "))
    if cut_at is None:
        assert ended == [f"rank {r}: written whole after 17 looks" for r in (0, 1)]
        assert sorted(p.name for p in folder.iterdir()) == ["run.h5", "run.slab0000.h5", "run.slab0001.h5"]
        return
    assert ended == [f"rank {r}: cut at look {cut_at}" for r in (0, 1)]
    names, kept = ("run.h5,run.slab0000.h5,run.slab0001.h5", 3) if slabs_left else ("run.h5", 1)
    assert f"after the cut: files={names} older files kept as they were={kept}" in stdout


@pytest.mark.parametrize("layout", ["slabs", "collective"])
def test_a_range_is_verified_by_the_slabs_it_overlaps_only(tmp_path, layout):
    state = known_state(6)
    if layout == "slabs":
        main, paths = slab_run(tmp_path, state, 4)
        flip(paths[1], "slab", 3)
    else:
        main = collective_run(tmp_path, state, 4)
        flip(main, "state", 16 + 3)
    run = open_run(main)
    assert run.state_info["layout"] == layout and run.state_info["num_slabs"] == 4
    run.check_state_files()  # cheap: no checksums
    np.testing.assert_array_equal(read(run, 0, 16), state[:16])  # slab 0: fine
    np.testing.assert_array_equal(read(run, 32, 64), state[32:])  # slabs 2 and 3: fine
    for start, stop in [(16, 32), (20, 24), (0, 17), (31, 40)]:  # anything touching slab 1
        with pytest.raises(DqsimError, match="state slab 1 of 4 .* is corrupt") as info:
            read(run, start, stop)
        assert "\n" not in str(info.value)
    with pytest.raises(DqsimError, match="corrupt"):
        run.state()
    assert read(run, 16, 32, verify=False).shape == (16,)  # unverified on request only
    assert "corrupt" in format_summary(summarize(run))


def test_a_rank_reading_its_own_slab_reads_it_once(tmp_path, monkeypatch):
    state = known_state(8)
    main, _ = slab_run(tmp_path, state, 4)
    run = open_run(main)
    amplitudes_read = []
    original = h5py.Dataset.read_direct

    def counting(self, dest, source_sel=None, dest_sel=None):
        amplitudes_read.append(dest.size)
        return original(self, dest, source_sel, dest_sel)

    monkeypatch.setattr(h5py.Dataset, "read_direct", counting)
    raw_read = stored_state._read_at  # a slab stored as one block is read raw, past HDF5 (since 2026-12-06)

    def counting_raw(fh, chunk, offset):
        amplitudes_read.append(chunk.size)
        return raw_read(fh, chunk, offset)

    monkeypatch.setattr(stored_state, "_read_at", counting_raw)
    np.testing.assert_array_equal(read(run, 64, 128, piece=10), state[64:128])
    assert sum(amplitudes_read) == 64  # slab 1 exactly, once
    amplitudes_read.clear()
    np.testing.assert_array_equal(read(run, 70, 80), state[70:80])
    assert sum(amplitudes_read) == 64  # the whole overlapping slab, for its checksum
    amplitudes_read.clear()
    read(run, 70, 80, verify=False)
    assert sum(amplitudes_read) == 10


def test_collective_layout_reads_back_with_its_attributes(tmp_path):
    state = known_state(5, np.complex64)
    run = open_run(collective_run(tmp_path, state, 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]  # the temporary was renamed
    np.testing.assert_array_equal(run.state(), state)
    assert run.verify_state() == pytest.approx(1.0, rel=1e-6)
    assert run.attrs["name"] == "c" and run.table("t").tolist() == [0, 1]
    assert run.attrs_of("state")["note"] == "x" and run.attrs_of("state")["layout"] == "collective"
    assert "one dataset written by 2 ranks" in format_summary(summarize(run))


def test_collective_state_with_other_checksums_is_refused(tmp_path):
    state = known_state(4)
    main = collective_run(tmp_path, state, 2)
    tmp = tmp_path / "again.tmp"
    tmp.write_bytes(main.read_bytes())
    with pytest.raises(DqsimError, match="checksums differ"):
        write_run_file(tmp_path / "again.h5", attrs={}, tables={},
                       collective_state=CollectiveState(tmp, 8, 2, state.dtype, ["sha256:0", "sha256:1"]))
    assert not tmp.exists() and not (tmp_path / "again.h5").exists()
    with pytest.raises(DqsimError, match="missing"):
        write_run_file(tmp_path / "again.h5", attrs={}, tables={},
                       collective_state=CollectiveState(tmp, 8, 2, state.dtype, []))


def test_check_state_files_finds_a_missing_or_wrong_slab(tmp_path):
    state = known_state(5)
    main, paths = slab_run(tmp_path, state, 2)
    run = open_run(main)
    paths[1].unlink()
    with pytest.raises(DqsimError, match=r"state slab 1 of 2 \(run.slab0001.h5\) is missing"):
        run.check_state_files()
    with pytest.raises(DqsimError, match="is missing"):  # even a range of slab 0 checks that all files are there
        read(run, 0, 4)
    write_state_slab(paths[1], [(0, state[:8])], slab_size=8, dtype=state.dtype)
    with pytest.raises(DqsimError, match=r"holds \(8,\) complex128, expected \(16,\)"):
        run.check_state_files()


def test_a_part_that_reads_back_differently_stops_the_write(tmp_path, monkeypatch):
    """The read-back check of the slab's ends through HDF5 (its first and last amplitudes against those
    written) is not skipped: an amplitude there that differs in the file from what was written is caught."""
    v = known_state(8)
    write = sharded.write_slab_file

    def write_then_alter(path, *args, **kwargs):
        written = write(path, *args, **kwargs)
        with h5py.File(path, "r+") as h5:
            h5["slab"][5] += 1e-3
        return written

    monkeypatch.setattr(sharded, "write_slab_file", write_then_alter)
    with pytest.raises(DqsimError, match="corrupt right after writing"):
        write_sharded_state(tmp_path / "run", [(0, v)], comm=SingleComm(), slab_size=v.size, dtype=v.dtype)


def test_background_checksums_equal_plain_ones():
    pieces = [known_state(10, seed=s) for s in range(5)]
    plain, background = Checksum(), Checksum(background=True, crc=True)
    for p in pieces:
        plain.update(p)
        background.update(p)
    import zlib

    assert background.hexdigest() == plain.hexdigest()
    assert background.crc32 == zlib.crc32(np.concatenate(pieces).view(np.uint8))


def test_a_collective_write_without_room_is_refused_before_hdf5_opens_the_file(tmp_path, monkeypatch):
    """Parallel HDF5 does not survive a disk that fills under it (its file cannot be closed and the next close
    of any HDF5 file crashed the process), so the free space is checked first: one line naming the need."""
    path = tmp_path / "out" / "run.h5"
    monkeypatch.setattr(sharded, "free_bytes", lambda folder: 3 << 20)
    assert sharded._room_for_collective(path, 1 << 20) is None  # 1 MiB + 1 MiB headroom fits in 3
    why = sharded._room_for_collective(path, (2 << 20) + 1)
    assert why.startswith(f"{path}: cannot write the state (No space left on device: it needs 3.0 MiB, 3.0 MiB")
    assert "\n" not in why
    monkeypatch.setattr(sharded, "free_bytes", lambda folder: 0)
    opened = []
    monkeypatch.setattr(sharded.h5py, "File", lambda *a, **k: opened.append(a))
    a = np.zeros(8, np.complex128)
    with pytest.raises(DqsimError, match="No space left on device: it needs 1.0 MiB, 0.0 MiB are free"):
        sharded._write_collective(path, [(0, a)], comm=SingleComm(), slab_size=8, dtype=a.dtype)
    assert opened == [] and list(path.parent.iterdir()) == []
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    why = sharded._room_for_collective(blocked / "run.h5", 16)
    assert why.startswith(f"{blocked}: cannot create the folder (") and "\n" not in why


def test_a_slab_folder_that_cannot_be_made_is_one_dqsim_error(tmp_path):
    """Before, the mkdir's OSError reached the caller as it was (an internal error in ``dqsim run``)."""
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    a = np.zeros(8, np.complex128)
    with pytest.raises(DqsimError, match=r"run\.slab0000\.h5: cannot write the state slab \(") as info:
        write_sharded_state(blocked / "sub" / "run", [(0, a)], comm=SingleComm(), slab_size=8, dtype=a.dtype)
    assert "\n" not in str(info.value)


def test_write_failure_reason_finds_the_os_reason_in_an_mpi_io_error_stack():
    stack = OSError("Can't write data (MPI_File_write_at failed: MPI error string is 'Other I/O error , error "
                    "stack:\nADIOI_GEN_WRITECONTIG(80): Other I/O error No space left on device')")
    assert sharded.write_failure_reason(stack) == "No space left on device"
    assert sharded.write_failure_reason(OSError(122, "Disk quota exceeded")) == "Disk quota exceeded"
    assert sharded.write_failure_reason(RuntimeError("first line\nsecond")) == "first line"


def test_reserve_blocks_allocates_or_says_why_not(tmp_path):
    """fallocate(2): a range that fits is allocated (the file grows to cover it); one of 2^60 bytes cannot be
    (EFBIG or ENOSPC, no root or full disk needed); a missing file is named. Where the file system has no
    fallocate, nothing is known (None) and the collective write relies on the free-space check alone."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"")
    if sharded._FALLOCATE is None:
        pytest.skip("no fallocate(2) on this platform")
    assert sharded.reserve_blocks(path, 4096, 1 << 20) is None
    supported = path.stat().st_size == 4096 + (1 << 20)
    if not supported:
        pytest.skip(f"{tmp_path}: its file system does not support fallocate")
    assert sharded.reserve_blocks(path, 0, 1 << 60) in ("File too large", "No space left on device")
    assert sharded.reserve_blocks(tmp_path / "missing.bin", 0, 16) == "No such file or directory"


def test_a_collective_write_refused_for_room_reads_as_a_lack_of_room(tmp_path, monkeypatch):
    """A checkpoint whose collective state write was refused by the free-space check, or whose blocks a rank
    could not reserve (a quota), makes room by removing older checkpoints and tries again, as one whose file
    write failed with ENOSPC does (dqsim.engine.checkpoint): all three read as a lack of room; a file size
    limit (per file: other files' room does not help) does not."""
    from dqsim import io

    monkeypatch.setattr(sharded, "free_bytes", lambda folder: 1 << 20)
    refusal = sharded._room_for_collective(tmp_path / "ck.h5", 8 << 20)
    assert io.lack_of_room(refusal) == "No space left on device", refusal
    quota = f"ck.h5: cannot write the state ({os.strerror(errno.EDQUOT)}; rank 1 could not reserve its 2.0 MiB)"
    assert io.lack_of_room(quota) == "Disk quota exceeded"
    assert io.lack_of_room(f"ck.h5: cannot write the file ({os.strerror(errno.EFBIG)})") is None
