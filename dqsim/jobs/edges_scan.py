"""An edge-list file read with NumPy passes over its bytes: its names kept as one sorted byte-string array.

:func:`scan_edges` reads the text :mod:`dqsim.jobs.edges_file` describes a piece (:data:`PIECE_BYTES`) at a
time (:func:`scan_pieces`: a text given as pieces, as :func:`dqsim.jobs.edges_file.read_edges_file` reads a file,
so that only a piece of the text is held at once): the words of each piece from a table of separator bytes, each line's two names and its length, and the
names told apart by a sorted NumPy ``S`` array of the distinct names with their indices (:class:`NameTable`),
merged piece by piece. No Python string or dictionary entry per name: the line-by-line parse
(:func:`dqsim.jobs.edges_file.parse_lines`) held ~100 bytes a name while it ran (a ``str`` and its dictionary
entry), where the table holds the name's bytes padded to the longest name and 4 bytes (its index).

It gives the same nodes (in first-appearance order), links and lengths as the line-by-line parse, and declines
(returns ``None``) wherever a file is not plainly well formed, so that the line-by-line parse reads it again and
words its refusal as before: a line of other than 2 or 3 words (the header aside), a length that is not a finite
number > 0 (or that only ``float`` of its text, not of its bytes, reads), a link from a node to itself, fewer
than two nodes, a NUL byte, a non-ASCII whitespace character (``str.split`` splits at those), a name of more than
:data:`MAX_NAME_BYTES` bytes, a second byte-order mark.
"""

from __future__ import annotations

import typing

import numpy as np

from dqsim.jobs.errors import reads_as_number

__all__ = ["NameTable", "scan_edges", "scan_pieces", "line_pieces", "plain", "is_header", "HEADER_WORDS", "PIECE_BYTES", "MAX_NAME_BYTES"]

#: First two words of a header line (lower case).
HEADER_WORDS = {("source", "target"), ("from", "to"), ("src", "dst")}

#: Bytes of text read in one NumPy pass (a piece ends at a line's end): the pass's arrays take ~10 bytes a byte.
PIECE_BYTES = 1 << 18

#: Names packed at a time by :meth:`NameTable.packed`.
PACK_NAMES = 1 << 16

#: Longest name read here, bytes: the table pads every name to the longest (longer: the line-by-line parse).
MAX_NAME_BYTES = 64

#: The bytes that separate words: ``str.split``'s ASCII whitespace and the comma.
_SEPARATOR = np.zeros(256, dtype=bool)
_SEPARATOR[np.frombuffer(b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f,", dtype=np.uint8)] = True

#: The non-ASCII characters ``str.split`` splits at, in UTF-8 (``chr(c).isspace()`` for ``c >= 0x80``).
UNICODE_SPACES = tuple(chr(c) for c in (0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029,
                                                 0x202F, 0x205F, 0x3000))

_NEWLINE, _HASH = 10, 35


def is_header(fields: list[str]) -> bool:
    """Whether the first line's ``fields`` are a header: two header words, or a third field that is not a number.

    Examples:
        >>> is_header(["Source", "target"]), is_header(["a", "b", "km"]), is_header(["a", "b", "2"])
        (True, True, False)
    """
    if len(fields) not in (2, 3):
        return False
    words = (fields[0].lower(), fields[1].lower())
    return words in HEADER_WORDS or (len(fields) == 3 and not reads_as_number(fields[2]))


class NameTable:
    """The distinct names read so far: a sorted ``S`` array (``names``) and each one's index (``indices``, int32,
    in order of first appearance), merged a piece at a time (:meth:`add`).

    Examples:
        >>> table = NameTable()
        >>> table.add(np.array([b"b", b"a", b"b"])).tolist(), table.add(np.array([b"c", b"a"])).tolist()
        ([0, 1, 0], [2, 1])
        >>> table.names.tolist(), table.indices.tolist()
        ([b'a', b'b', b'c'], [1, 0, 2])
    """

    def __init__(self):
        self.names = np.empty(0, dtype="S1")
        self.indices = np.empty(0, dtype=np.int32)

    def __len__(self) -> int:
        return len(self.names)

    def add(self, words: np.ndarray) -> np.ndarray:
        """The index of each of ``words`` (an ``S`` array), new names numbered on from :func:`len` in the order
        they first appear."""
        width = max(words.dtype.itemsize, self.names.dtype.itemsize)
        if width > self.names.dtype.itemsize:
            self.names = self.names.astype(f"S{width}")
        distinct, first, inverse = np.unique(words.astype(f"S{width}", copy=False), return_index=True,
                                             return_inverse=True)
        places = np.searchsorted(self.names, distinct)
        known = places < len(self.names)
        known[known] = self.names[places[known]] == distinct[known]
        index = np.empty(len(distinct), dtype=np.int32)
        index[known] = self.indices[places[known]]
        new = np.flatnonzero(~known)
        new = new[np.argsort(first[new], kind="stable")]  # (numbered in the order they first appear)
        index[new] = np.arange(len(self), len(self) + len(new), dtype=np.int32)
        order = np.argsort(new, kind="stable")  # (inserted in sorted order: ``distinct`` is sorted)
        self.names = np.insert(self.names, places[new[order]], distinct[new[order]])
        self.indices = np.insert(self.indices, places[new[order]], index[new[order]])
        return index[inverse.reshape(-1)]

    def packed(self) -> tuple[bytes, np.ndarray, np.ndarray]:
        """The names as :class:`~dqsim.network.node.PackedNames` holds them: the UTF-8 bytes of every name in index
        order, joined; their offsets (int64, one more than the names); the indices in sorted-name order (int32).

        Made :data:`PACK_NAMES` names at a time: beside the table and what it gives, a name's place (4 bytes) and
        one group's padded rows (until 2026-12-07 (night) every name's padded row, twice, its length as int64 and
        a byte's mask: ~4 times the table).
        """
        num, width = len(self.names), self.names.dtype.itemsize
        place = np.empty(num, dtype=np.int32)  # (each index's row in the sorted table)
        place[self.indices] = np.arange(num, dtype=np.int32)
        offsets = np.zeros(num + 1, dtype=np.int64)
        parts = []
        for start in range(0, num, PACK_NAMES):
            rows = self.names[place[start:start + PACK_NAMES]]
            grid = rows.view(np.uint8).reshape(len(rows), width)
            filled = grid != 0  # (an S array pads with NUL, which no scanned name holds)
            offsets[start + 1:start + 1 + len(rows)] = filled.sum(axis=1)
            parts.append(grid[filled].tobytes())
        np.cumsum(offsets, out=offsets)
        return b"".join(parts), offsets, self.indices


class _Links:
    """The links read so far, in file order: the two names' indices, the line, and the lengths given; room for
    ``most`` links (the file's lines: a first pass counts them, so that no array grows and is copied)."""

    def __init__(self, most: int):
        self.ends = np.empty((most, 2), dtype=np.int32)
        self.lines = np.empty(most, dtype=np.int64 if most >= 2**31 else np.int32)
        self.count = 0
        self.own_links: list[np.ndarray] = []
        self.own_lengths: list[np.ndarray] = []


def _blank_comments(piece: np.ndarray) -> np.ndarray:
    """``piece`` (bytes, ending at a line's end) with everything from a ``#`` to its line's end made spaces."""
    hashes = np.flatnonzero(piece == _HASH)
    if not hashes.size:
        return piece
    newlines = np.flatnonzero(piece == _NEWLINE)
    stops = np.append(newlines, len(piece))[np.searchsorted(newlines, hashes)]
    change = np.zeros(len(piece) + 1, dtype=np.int32)
    np.add.at(change, hashes, 1)
    np.add.at(change, stops, -1)
    piece = piece.copy()
    piece[np.cumsum(change[:-1]) > 0] = ord(" ")
    return piece


def _words_of(piece: np.ndarray, padded: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The words at ``starts`` (with their ``lengths``) of ``piece`` as an ``S`` array (``padded``: the piece
    with as many zero bytes after it as the longest word)."""
    width = max(int(lengths.max(initial=1)), 1)
    rows = np.lib.stride_tricks.sliding_window_view(padded, width)[starts]
    rows[np.arange(width) >= lengths[:, None]] = 0
    return rows.view(f"S{width}").reshape(-1)


def _lengths_of(piece: bytes, starts: np.ndarray, stops: np.ndarray) -> np.ndarray | None:
    """The lengths the words at ``starts:stops`` of ``piece`` give, km (``float`` of each word's bytes), or
    ``None`` where one is not a finite number > 0."""
    try:
        lengths = np.fromiter((float(piece[a:b]) for a, b in zip(starts.tolist(), stops.tolist())),
                              dtype=np.float64, count=len(starts))
    except ValueError:
        return None
    return lengths if bool(np.all((lengths > 0) & (lengths < np.inf))) else None


def _scan_piece(body: bytes, first_line: int, header: list, names: NameTable, links: _Links) -> bool:
    """Read the lines of ``body`` (a piece ending at a line's end, its first line numbered ``first_line``) into
    ``names`` and ``links``; ``header``: ``[None]`` until the first line with words is seen, then ``[whether it
    was a header]``. ``False``: a line this reader leaves to the line-by-line parse.

    Raises:
        ValueError: more links than ``links`` has room for (the file grew after its lines were counted).
    """
    raw = np.frombuffer(body, dtype=np.uint8)
    piece = _blank_comments(raw)
    word = ~_SEPARATOR[piece]
    change = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts, stops = np.flatnonzero(change == 1), np.flatnonzero(change == -1)
    del word, change
    if not starts.size:
        return True
    lines = np.searchsorted(np.flatnonzero(piece == _NEWLINE), starts)  # (each word's line in the piece, from 0)
    opens = np.flatnonzero(np.diff(lines, prepend=-1))  # (each line's first word)
    counts = np.diff(np.append(opens, len(starts)))
    if header[0] is None:
        fields = [bytes(piece[a:b]).decode() for a, b in zip(starts[opens[0]:opens[0] + counts[0]].tolist(),
                                                              stops[opens[0]:opens[0] + counts[0]].tolist())]
        header[0] = is_header(fields)
        if header[0]:
            opens, counts = opens[1:], counts[1:]
    if not opens.size:
        return True
    if not bool(np.all((counts == 2) | (counts == 3))):
        return False
    pairs = np.stack((opens, opens + 1), axis=1).reshape(-1)
    longest = int((stops - starts)[pairs].max())
    if longest > MAX_NAME_BYTES:  # (checked before the grid of the piece's names, each padded to the longest)
        return False
    padded = np.concatenate((piece, np.zeros(longest, dtype=np.uint8)))
    index = names.add(_words_of(piece, padded, starts[pairs], (stops - starts)[pairs])).reshape(-1, 2)
    if bool(np.any(index[:, 0] == index[:, 1])):
        return False
    at = links.count
    if at + len(index) > len(links.ends):
        raise ValueError(f"more links than the {len(links.ends)} lines counted")
    links.ends[at:at + len(index)] = index
    links.lines[at:at + len(index)] = lines[opens] + first_line
    third = np.flatnonzero(counts == 3)
    if third.size:
        lengths = _lengths_of(bytes(piece), starts[opens[third] + 2], stops[opens[third] + 2])
        if lengths is None:
            return False
        links.own_links.append(third + at)
        links.own_lengths.append(lengths)
    links.count += len(index)
    return True


def plain(text: str, first: bool = True) -> bool:
    """Whether ``text`` (a file's text after its byte-order mark, or a later part of it: ``first`` false) holds
    nothing that makes the scan's words differ from ``str.split``'s: no NUL, no second byte-order mark at its start,
    no non-ASCII whitespace.

    Examples:
        >>> plain("a,b\\n"), plain("\\ufeffa,b"), plain("\\ufeffa,b", first=False), plain("a\\u00a0b", first=False)
        (True, False, True, False)
    """
    if "\x00" in text or (first and text.startswith("\ufeff")):
        return False
    return text.isascii() or not any(space in text for space in UNICODE_SPACES)


def line_pieces(chunks: typing.Iterable[bytes]) -> typing.Iterator[bytes]:
    """``chunks`` (a text's bytes in order) regrouped into pieces that end at a line's end (the last piece: at the
    text's end), each at most one chunk and one line longer than a chunk.

    Examples:
        >>> list(line_pieces([b"a,b\\nb,", b"c\\nc", b",d", b"\\n", b"d,e"]))
        [b'a,b\\n', b'b,c\\n', b'c,d\\n', b'd,e']
    """
    carry: list[bytes] = []
    for chunk in chunks:
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            carry.append(chunk)
            continue
        yield b"".join((*carry, chunk[:cut])) if carry else chunk[:cut]
        carry = [chunk[cut:]] if cut < len(chunk) else []
    if carry:
        yield b"".join(carry)


def body_pieces(body: bytes) -> typing.Iterator[bytes]:
    """``body`` in pieces of about :data:`PIECE_BYTES` that end at a line's end (:func:`line_pieces`)."""
    return line_pieces(body[begin:begin + PIECE_BYTES] for begin in range(0, len(body), PIECE_BYTES))


def scan_edges(body: bytes) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None] | None:
    """The nodes and links of an edge list's UTF-8 ``body`` (its byte-order mark removed), or ``None``: a file
    this reader leaves to the line-by-line parse (see the module's docstring).

    Returns:
        ``(blob, offsets, order, ends, lines, lengths)``: the names as :class:`NameTable.packed` gives them; the
        links' ends (``(m, 2)`` int32, node indices in first-appearance order); each link's line (from 1); each
        link's length, km (``NaN``: not given; ``None``: no line gives one).

    Examples:
        >>> blob, offsets, order, ends, lines, lengths = scan_edges(b"src dst\\nb,a # one\\n\\na c 2.5\\n")
        >>> blob, offsets.tolist(), order.tolist(), ends.tolist(), lines.tolist(), lengths.tolist()
        (b'bac', [0, 1, 2, 3], [1, 0, 2], [[0, 1], [1, 2]], [2, 4], [nan, 2.5])
        >>> scan_edges(b"a,b\\nb,b\\n") is None  # (a link to itself: the line-by-line parse words it)
        True
    """
    return scan_pieces(body_pieces(body), body.count(b"\n") + 1)


def scan_pieces(pieces: typing.Iterable[bytes], most: int) -> tuple | None:
    """:func:`scan_edges` of a text given as ``pieces`` that each end at a line's end (:func:`line_pieces`; the
    byte-order mark removed, UTF-8) of at most ``most`` lines: only the piece being read is held, beside the names
    and links read so far. ``None`` where a piece is not :func:`plain`, as for a line the scan declines.

    Raises:
        ValueError: more than ``most`` lines; a piece that is not UTF-8 (``UnicodeDecodeError``).
    """
    names, links, header = NameTable(), _Links(most), [None]
    first_line = 1
    for piece in pieces:
        if not plain(piece.decode(), first=first_line == 1) or not _scan_piece(piece, first_line, header, names,
                                                                              links):
            return None
        first_line += piece.count(b"\n")
    if len(names) < 2:
        return None
    ends, lines = links.ends, links.lines
    ends.resize((links.count, 2), refcheck=False)  # (in place: no second copy of the links)
    lines.resize(links.count, refcheck=False)
    lengths = None
    if links.own_links:
        lengths = np.full(links.count, np.nan)
        lengths[np.concatenate(links.own_links)] = np.concatenate(links.own_lengths)
    blob, offsets, order = names.packed()
    return blob, offsets, order, ends, lines, lengths
