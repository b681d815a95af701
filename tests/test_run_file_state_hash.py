"""A gathered state inside the run file is hashed once for its manifest (2026-12-07 (night)).

``write_run_file(..., state=..., manifest=True)`` hashes the state in memory
while writing it (its ``checksum`` attribute); the manifest's entry of the
run file is then three parts: HDF5's bytes before the state and after it,
read from the closed file, and the state's own digest, not read again. Every
part must equal a hash of the file's bytes, a manifest of one part (written
before, or for a state laid out otherwise) must still verify, and a flipped
byte anywhere (inside the state, at either end of it, in HDF5's bytes) must
be refused.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from dqsim.errors import DamagedFileError
from dqsim.io import manifest, verify_run_file, write_run_file, writer
from run_files import flip_byte

AMPLITUDES = 1 << 14  # 256 KiB of complex128: several of the 4,096-amplitude ends compared after the write


def write_with_state(path, *, seed=11):
    vector = np.random.default_rng(seed).normal(size=2 * AMPLITUDES).view(np.complex128)
    table = np.arange(1000, dtype=np.int64)
    write_run_file(path, attrs={"name": "x"}, tables={"t": table}, state=vector, manifest=True)
    return vector


def run_entry(path):
    return manifest.read_manifest(manifest.run_manifest_path(path), kind="run")["files"][0]


def state_offset(path):
    with h5py.File(path, "r") as h5:
        return h5["state"].id.get_offset(), h5["state"].attrs["checksum"]


def test_the_state_is_one_part_of_the_run_file_s_entry_hashed_in_memory(tmp_path, monkeypatch):
    read = []
    plain = manifest.parts_digests
    monkeypatch.setattr(writer, "parts_digests", lambda path, alg, lengths, **kw:
                        read.append((list(lengths), set(kw.get("skip", ())))) or plain(path, alg, lengths, **kw))
    run = tmp_path / "run.h5"
    write_with_state(run)
    entry = run_entry(run)
    start, checksum = state_offset(run)
    lengths = [length for length, _ in entry["parts"]]
    assert lengths == [start, AMPLITUDES * 16, run.stat().st_size - start - AMPLITUDES * 16]
    assert read == [(lengths, {1})]  # the state's bytes were not read for the manifest
    assert f"{entry['hash']}:{entry['parts'][1][1]}" == checksum
    assert manifest.parts_digests(run, entry["hash"], lengths) == [digest for _, digest in entry["parts"]]
    assert verify_run_file(run)


def test_a_whole_file_entry_written_before_still_verifies(tmp_path, monkeypatch):
    """The manifest of one part (every run file before this change, and the fallback here) still verifies."""
    monkeypatch.setattr(writer, "_entry_around_state", lambda *args: None)
    run = tmp_path / "run.h5"
    write_with_state(run)
    entry = run_entry(run)
    assert entry == manifest.file_entry(run)
    assert verify_run_file(run)


def test_a_state_not_where_it_was_written_falls_back_to_hashing_the_whole_file(tmp_path):
    run = tmp_path / "run.h5"
    vector = write_with_state(run)
    start, checksum = state_offset(run)
    assert writer._entry_around_state(run, vector, {"offset": start + 16, "checksum": checksum}, lambda *a: None) \
        is None
    other = vector.copy()
    other[-1] += 1
    assert writer._entry_around_state(run, other, {"offset": start, "checksum": checksum}, lambda *a: None) is None
    assert writer._entry_around_state(run, vector, {"offset": start, "checksum": checksum}, lambda *a: None) \
        == run_entry(run)


@pytest.mark.parametrize("where", ["header", "before_state", "state_first", "state_middle", "state_last",
                                   "after_state", "last"])
def test_a_flipped_byte_anywhere_is_refused(tmp_path, where):
    run = tmp_path / "run.h5"
    write_with_state(run)
    start, _ = state_offset(run)
    end, size = start + AMPLITUDES * 16, run.stat().st_size
    assert size > end  # HDF5's bytes after the state (its attributes, the table): the third part is not empty
    offset = {"header": 0, "before_state": start - 1, "state_first": start, "state_middle": start + AMPLITUDES * 8,
              "state_last": end - 1, "after_state": end, "last": size - 1}[where]
    flip_byte(run, offset)
    with pytest.raises(DamagedFileError, match=r"run\.h5: damaged"):
        verify_run_file(run)
