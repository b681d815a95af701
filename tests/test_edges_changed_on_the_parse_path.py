"""An edge-list file changed between the two passes of its read, where the scan declines it (a non-ASCII space or a
NUL anywhere, a comment's too): ``read_edges_file`` says a changed file is refused, but the line-by-line parse that
then reads the file again checks no hash, and its links are kept under the first pass's SHA-256 (review4: a defect,
strict xfail until fixed; the scanned path refuses it: tests/test_edges_stream.py)."""

import pytest

from dqsim.jobs import edges_file
from dqsim.jobs.edges_file import EdgesFileError, read_edges_file


@pytest.mark.xfail(strict=True, reason="review4: the line-by-line fallback of read_edges_file does not check the "
                                       "first pass's SHA-256 (dqsim/jobs/edges_file.py)")
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
