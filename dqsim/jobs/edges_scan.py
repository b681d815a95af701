"""An edge-list file read with NumPy passes over its bytes: its names kept as one sorted byte-string array.

:func:`scan_edges` reads the text :mod:`dqsim.jobs.edges_file` describes a piece (:data:`PIECE_BYTES`) at a
time: the words of each piece from a table of separator bytes, each line's two names and its length, and the
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

import numpy as np

from dqsim.jobs.errors import reads_as_number

__all__ = ["NameTable", "scan_edges", "is_header", "HEADER_WORDS", "PIECE_BYTES", "MAX_NAME_BYTES"]

#: First two words of a header line (lower case).
HEADER_WORDS = {("source", "target"), ("from", "to"), ("src", "dst")}

#: Bytes of text read in one NumPy pass (a piece ends at a line's end): the pass's arrays take ~10 bytes a byte.
PIECE_BYTES = 1 << 18

#: Longest name read here, bytes: the table pads every name to the longest (longer: the line-by-line parse).
MAX_NAME_BYTES = 64

#: The bytes that separate words: ``str.split``'s ASCII whitespace and the comma.
_SEPARATOR = np.zeros(256, dtype=bool)
_SEPARATOR[np.frombuffer(b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f,", dtype=np.uint8)] = True

#: The non-ASCII characters ``str.split`` splits at, in UTF-8 (``chr(c).isspace()`` for ``c >= 0x80``).
UNICODE_SPACES = tuple(chr(c).encode() for c in (0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029,
                                                 0x202F, 0x205F, 0x3000))

_NEWLINE, _HASH, _BOM = 10, 35, "\ufeff".encode()


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
        order, joined; their offsets (int64, one more than the names); the indices in sorted-name order (int32)."""
        by_index = np.empty_like(self.names)
        by_index[self.indices] = self.names
        lengths = np.char.str_len(by_index).astype(np.int64)
        width = by_index.dtype.itemsize
        grid = by_index.view(np.uint8).reshape(len(by_index), width)
        blob = grid[np.arange(width) < lengths[:, None]].tobytes()
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return blob, offsets, self.indices


class _Links:
    """The links read so far, in file order: the two names' indices, the line, and the lengths given."""

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


def _scan_piece(body: bytes, begin: int, end: int, first_line: int, header: list, names: NameTable,
                links: _Links) -> bool:
    """Read the lines of ``body[begin:end]`` (the first numbered ``first_line``) into ``names`` and ``links``;
    ``header``: ``[None]`` until the first line with words is seen, then ``[whether it was a header]``.
    ``False``: a line this reader leaves to the line-by-line parse."""
    raw = np.frombuffer(body, dtype=np.uint8, count=end - begin, offset=begin)
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


def _plain(body: bytes) -> bool:
    """Whether ``body`` holds nothing that makes the scan's words differ from ``str.split``'s: no NUL, no second
    byte-order mark, no non-ASCII whitespace."""
    if b"\x00" in body or body.startswith(_BOM):
        return False
    return body.isascii() or not any(space in body for space in UNICODE_SPACES)


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
    if not _plain(body):
        return None
    names, links, header = NameTable(), _Links(body.count(b"\n") + 1), [None]
    begin, first_line = 0, 1
    while begin < len(body):
        end = body.rfind(b"\n", begin, begin + PIECE_BYTES) + 1
        if end <= begin:
            end = body.find(b"\n", begin + PIECE_BYTES) + 1 or len(body)
        if begin + PIECE_BYTES >= len(body):
            end = len(body)
        if not _scan_piece(body, begin, end, first_line, header, names, links):
            return None
        first_line += body.count(b"\n", begin, end)
        begin = end
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
