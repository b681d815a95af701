"""An edge-list file changed between the two passes of its read, where the scan declines it (a non-ASCII space or a
NUL anywhere, a comment's too): ``read_edges_file`` says a changed file is refused, but the line-by-line parse that
then read the file again checked no hash, and its links were kept under the first pass's SHA-256 (review4's defect,
fixed 2026-12-07 (night): it hashes what it reads; the scanned path refuses it: tests/test_edges_stream.py)."""

import pytest

from dqsim.jobs import edges_file
from dqsim.jobs.edges_file import EdgesFileError, read_edges_file


def test_a_file_changed_between_the_passes_is_refused_where_the_scan_declines_it(tmp_path, monkeypatch):
    path = tmp_path / "net.csv"
    first = "# a note\u00a0\na,b\nb,c\n".encode()  # (a no-break space: not plain, the scan declines the file)
    path.write_bytes(first)
    second_pass = edges_file._read_scanned

    def changed_first(where, survey, sha256):
        path.write_bytes(first + b"c,d\n")
        return second_pass(where, survey, sha256)

    monkeypatch.setattr(edges_file, "_read_scanned", changed_first)
    monkeypatch.setattr(edges_file, "_LAST_READ", None)
    with pytest.raises(EdgesFileError, match="changed while it was read"):
        read_edges_file(str(path))


def changed_between_the_passes(monkeypatch, path, first: bytes, second: bytes):
    """``path`` holds ``first`` for the first pass and ``second`` from the second on."""
    path.write_bytes(first)
    second_pass = edges_file._read_scanned

    def changed(where, survey, sha256):
        path.write_bytes(second)
        return second_pass(where, survey, sha256)

    monkeypatch.setattr(edges_file, "_read_scanned", changed)
    monkeypatch.setattr(edges_file, "_LAST_READ", None)


def test_a_line_the_change_made_unreadable_is_refused_as_a_changed_file(tmp_path, monkeypatch):
    path = tmp_path / "net.csv"
    first = "# a note\u00a0\na,b\nb,c\n".encode()
    changed_between_the_passes(monkeypatch, path, first, first + b"c\nd,e\n")
    with pytest.raises(EdgesFileError, match="changed while it was read"):
        read_edges_file(str(path))


def test_an_unchanged_file_the_scan_declines_is_read_and_its_bad_line_named(tmp_path, monkeypatch):
    path = tmp_path / "net.csv"
    text = "# a note\u00a0\na,b\nb,c\n".encode()  # (declined by the scan: the line-by-line parse reads it)
    monkeypatch.setattr(edges_file, "_LAST_READ", None)
    path.write_bytes(text)
    edges = read_edges_file(str(path))
    assert edges.num_links == 2
    path.write_bytes(text + b"c\n")
    with pytest.raises(EdgesFileError, match="1 field") as refused:
        read_edges_file(str(path))
    assert refused.value.line == 4
