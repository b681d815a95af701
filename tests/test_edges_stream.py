"""An edge-list file read in pieces (``dqsim.jobs.edges_file.read_edges_file``, since 2026-12-07 (night)).

The file's read holds a piece of it at a time, not its bytes and a decoded copy of its text; it gives what the
text's own parse gives, in pieces of any size; a byte that is not UTF-8 is refused naming its line and offset
wherever the pieces cut it; a file changed between the two passes is refused.
"""

import hashlib
import random
import tracemalloc

import pytest

from dqsim.jobs import edges_file, edges_scan, file_hash
from dqsim.jobs.edges_file import EdgesFileError, parse_edges_text, read_edges_file
from test_edges_scan import _random_text, _read


def _file(tmp_path, data: bytes, name: str = "net.csv") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("read_bytes, piece_bytes", [(1, 1), (3, 7), (5, 64), (4096, edges_scan.PIECE_BYTES)])
def test_a_file_read_in_pieces_gives_what_its_text_gives(tmp_path, monkeypatch, read_bytes, piece_bytes):
    monkeypatch.setattr(file_hash, "READ_BYTES", read_bytes)
    monkeypatch.setattr(edges_scan, "PIECE_BYTES", piece_bytes)
    rng = random.Random(read_bytes)
    for number in range(150):
        text = _random_text(rng)
        path = _file(tmp_path, text.encode(), f"net{number}.csv")
        assert _read(read_edges_file, path) == _read(parse_edges_text, text), repr(text)
        assert file_hash.file_sha256(path) == hashlib.sha256(text.encode()).hexdigest()


def _utf8_refusal(data: bytes) -> tuple[int, str]:
    """The line and message a whole decode of ``data`` (after a byte-order mark) gives."""
    body = data.removeprefix(b"\xef\xbb\xbf")
    try:
        body.decode()
    except UnicodeDecodeError as exc:
        return body[:exc.start].count(b"\n") + 1, f"not UTF-8 text (byte {exc.start}); an edge list is text"
    raise AssertionError("UTF-8")


@pytest.mark.parametrize("data", [b"a,b\nb,\xff\n", b"\xef\xbb\xbfa,b\n\nb,c\xc3\n", b"a,b\nb,\xc3\xa9\n\xe2\x82",
                                  b"\xef\xbb\xbf\xef\xbb\xbfa,\xe2\x82\n", b"\xef\xbb\xbfa\n\x80", b"\xef\xbb"])
@pytest.mark.parametrize("read_bytes", [1, 2, 3, 4, 1 << 20])
def test_a_byte_that_is_not_utf8_names_its_line_and_offset_wherever_the_pieces_cut(tmp_path, monkeypatch, data,
                                                                                    read_bytes):
    """Until 2026-12-07 (night) the line was counted up to the offset read from after the byte-order mark but
    from the file's start (line 1, not 2, for ``b"\\xef\\xbb\\xbfa\\n\\x80"``)."""
    monkeypatch.setattr(file_hash, "READ_BYTES", read_bytes)
    with pytest.raises(EdgesFileError) as info:
        read_edges_file(_file(tmp_path, data))
    assert (info.value.line, info.value.message) == _utf8_refusal(data)


def test_a_repeated_link_quotes_its_line_read_again_from_the_file(tmp_path):
    path = _file(tmp_path, "\ufeffsource,target\nä,b\nb,c\r\n# x\nc,ä\nb,ä,2\n".encode())
    with pytest.raises(EdgesFileError) as info:
        read_edges_file(path)
    assert (info.value.line, info.value.message) == (6, "'b,ä,2': repeats the link of line 2 (a link joins two "
                                                        "nodes once)")


def _edited_after_the_first_pass(monkeypatch, mode: str, data: bytes) -> None:
    """The edge list's first pass (its hash) reads the file, then ``data`` is written to it (``mode`` "ab" or "wb")."""
    hashed = edges_file.read_hashed

    def hashed_then_edited(name, each):
        digest = hashed(name, each)
        with open(name, mode) as handle:
            handle.write(data)
        return digest

    monkeypatch.setattr(edges_file, "read_hashed", hashed_then_edited)


def test_a_file_changed_between_the_passes_is_refused(tmp_path, monkeypatch):
    path = _file(tmp_path, b"a,b\nb,c\n")
    _edited_after_the_first_pass(monkeypatch, "ab", b"c,d\nd,e\n")
    with pytest.raises(EdgesFileError, match=r"^changed while it was read \(its lines or bytes differ between two "
                                             r"passes\); run again once it is written$") as info:
        read_edges_file(path)
    assert info.value.line == 0


def test_a_same_length_edit_between_the_passes_is_refused_by_its_hash(tmp_path, monkeypatch):
    path = _file(tmp_path, b"a,b\nb,c\n")
    _edited_after_the_first_pass(monkeypatch, "wb", b"a,b\nb,d\n")
    with pytest.raises(EdgesFileError, match=r"^changed while it was read"):
        read_edges_file(path)


def test_the_read_holds_a_piece_of_the_file_not_its_text(tmp_path, monkeypatch):
    """200,000 links of numbered names (4.3 MB): the read's traced peak above the arrays it gives. Until
    2026-12-07 (night) it held the file's bytes and a decoded copy of its text: 11.0 MB above them here, 2.6 times
    the file; 5.6 MB since, the names' table (two copies while it grows) and the links' lines."""
    monkeypatch.setattr(file_hash, "READ_BYTES", 1 << 16)
    monkeypatch.setattr(edges_scan, "PIECE_BYTES", 1 << 16)
    num = 200_000
    path = _file(tmp_path, "".join(f"node{i},node{(i * 7919 + 1) % num}\n" for i in range(num)).encode())
    size = (tmp_path / "net.csv").stat().st_size
    tracemalloc.start()
    try:
        edges = read_edges_file(path)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert edges.num_links == num and len(edges.names) == num
    assert peak - held < 1.6 * size, (peak - held, size)
