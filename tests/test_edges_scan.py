"""The edge-list reader's NumPy scan (``dqsim/jobs/edges_scan.py``) against the line-by-line parse.

Every text gives the same names (in the same order), links, lengths and refusals whichever reads it, in pieces of
any size; the scan holds far less than a string and a dictionary entry per name.
"""

import io
import random
import tracemalloc

import numpy as np
import pytest

from dqsim.jobs import edges_scan
from dqsim.jobs.edges_file import EdgesFileError, _line_of, _parse_lines, parse_edges_text
from dqsim.network.node import PackedNames

WORDS = ["a", "b", "c", "node1", "é", "x" * 10, "Ω2", "1", "2", "10", "q", "source", "target", "TO", "from"]
SEPARATORS = [",", " ", "\t", ", ", " ,", "\r", "\x0c", "\x1f"]
LENGTHS = ["2.5", "1e3", "0", "-1", "inf", "nan", "x", "1_0", "3", "٣", " 4"]


def _random_text(rng: random.Random) -> str:
    """An edge list of a few lines: mostly links, some headers, comments, blank lines, bad lines and lengths."""
    lines = []
    if rng.random() < 0.3:
        lines.append(rng.choice(["source,target", "from to distance_km", "a,b,km", "src dst", "# header"]))
    for _ in range(rng.randint(0, 12)):
        kind = rng.random()
        if kind < 0.1:
            lines.append(rng.choice(["", "# comment " + rng.choice(WORDS)]))
            continue
        count = rng.choices([1, 2, 3, 4], [1, 30, 10, 1])[0]
        fields = [rng.choice(WORDS) for _ in range(min(count, 2))] + [rng.choice(LENGTHS)] * (count >= 3)
        line = rng.choice(SEPARATORS).join(fields + ["z"] * (count == 4))
        lines.append(line + (" # c" + rng.choice(["", ",x y"]) if rng.random() < 0.1 else ""))
    text = "\n".join(lines) + rng.choice(["", "\n", "\r\n"])
    if rng.random() < 0.05:
        text = "\ufeff" + text
    if rng.random() < 0.05:
        text = text.replace("a", rng.choice(["a\u00a0", "a\x00", "a\u2028"]), 1)
    return text


def _read(parse, text: str):
    """What ``parse(text)`` gives: names, links, their dtype and lengths; or its refusal's line and message."""
    try:
        edges = parse(text)
    except EdgesFileError as error:
        return ("refused", type(error.line), error.line, error.message)
    lengths = None if edges.distances_km is None else list(map(repr, edges.distances_km.tolist()))  # (nan != nan)
    return list(edges.names), edges.ends.tolist(), edges.ends.dtype, lengths


def _line_by_line(text: str):
    return _parse_lines(io.StringIO(text), lambda number: _line_of(io.StringIO(text.removeprefix("\ufeff")), number))


@pytest.mark.parametrize("piece_bytes", [1, 7, 64, edges_scan.PIECE_BYTES])
def test_scan_reads_every_text_as_the_line_by_line_parse(monkeypatch, piece_bytes):
    monkeypatch.setattr(edges_scan, "PIECE_BYTES", piece_bytes)
    rng = random.Random(piece_bytes)
    scanned = 0
    for _ in range(400):
        text = _random_text(rng)
        scanned += edges_scan.scan_edges(text.removeprefix("\ufeff").encode()) is not None
        assert _read(parse_edges_text, text) == _read(_line_by_line, text), repr(text)
    assert scanned > 60  # (the scan read a good part of them itself, not only the line-by-line parse)


def test_scan_declines_what_str_split_reads_otherwise():
    for text in ("a\u00a0b,c\n", "a,b\x00\n", "\ufeffa,b\n", "a,b\nb,b\n", "a,b,0\n", "a\n", "a,b\n" + "c" * 65 + ",d"):
        assert edges_scan.scan_edges(text.encode()) is None, repr(text)
    assert edges_scan.scan_edges(b"a\xc3\xa9,b\n") is not None
    assert [chr(c) for c in range(0x80, 0x110000) if chr(c).isspace()] == list(edges_scan.UNICODE_SPACES)


def test_scanned_names_are_packed_names_sorted_for_search():
    edges = parse_edges_text("zeta,alpha\nalpha,é\nmid,zeta\n")
    assert isinstance(edges.names, PackedNames) and list(edges.names) == ["zeta", "alpha", "é", "mid"]
    assert edges.names.order.dtype == np.int32 and edges.names == PackedNames(["zeta", "alpha", "é", "mid"])
    assert [edges.names.index(name) for name in ("alpha", "mid", "zeta", "é")] == [1, 3, 0, 2]


def _read_traced(text: str):
    """:func:`parse_edges_text` of ``text`` and the most bytes tracemalloc saw held while it read."""
    tracemalloc.start()
    try:
        edges = parse_edges_text(text)
        return edges, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reading_holds_far_less_than_a_string_and_dictionary_entry_per_name():
    num_names = 100_000
    text = "".join(f"node{i},node{i + 1}\n" for i in range(num_names - 1))
    edges, peak = _read_traced(text)
    assert len(edges.names) == num_names and edges.ends[-1].tolist() == [num_names - 2, num_names - 1]
    # the line-by-line parse held 294 traced bytes a name at its peak; the scan ~82 (its text's copy included)
    assert peak / num_names < 150


def test_a_long_name_is_left_to_the_line_by_line_parse_before_the_scan_pads_every_name_to_it():
    text = "a1," + "N" * 4000 + "\n" + "".join(f"a{k},a{k + 1}\n" for k in range(20_000))
    edges, peak = _read_traced(text)
    assert len(edges.names) == 20_002 and list(edges.names)[1] == "N" * 4000
    # padding the piece's 40,002 names to 4,000 bytes held 564 MB traced at its peak; declining first, 5 MB
    assert peak < 40e6, peak
