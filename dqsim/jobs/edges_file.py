"""``[network].edges_file``: a network's links read from an edge-list file, as compact arrays.

The file is plain text, one link a line: ``a,b`` or ``a,b,distance_km``, the fields separated by a comma or by
whitespace (``a b 12.5``, as networkx's ``write_edgelist(graph, path, data=False)`` writes it, or with
``data=["distance_km"]``); blank lines and everything from a ``#`` to the end of a line are skipped; a first line
``source,target`` or ``source,target,distance_km`` (any words whose third is not a number, or whose first two
are ``source``/``target``, ``from``/``to`` or ``src``/``dst``) is a header. Node names are the file's words, in the
order they first appear (unless the job gives ``[network].node_names``).

:func:`read_edges_file` reads it once per process while the file stays as it was (a run validates its job more
than once) into an :class:`EdgeList`: the names as :class:`~dqsim.network.node.PackedNames` (no string per node),
the links as an ``(m, 2)`` int32 array of node indices and their lengths as a float64 array (``NaN``: the
``[network.link]`` length). Each refusal is one :class:`EdgesFileError` naming the line, its text and what is
allowed (:class:`dqsim.jobs.network.NetworkSection` words it as a job error of ``[network].edges_file``).
"""

from __future__ import annotations

import codecs
import hashlib
import io
import itertools
import math
import typing
from array import array
from dataclasses import dataclass

import numpy as np

from dqsim.jobs.edges_scan import is_header, line_pieces, scan_edges, scan_pieces
from dqsim.jobs import file_hash
from dqsim.jobs.file_hash import known_sha256, read_hashed
from dqsim.network.node import PackedNames

__all__ = ["EdgeList", "EdgesFileError", "read_edges_file", "parse_edges_text", "line_fields"]

#: Longest text of a line quoted in an error message, characters.
_MAX_LINE_SHOWN = 60


class EdgesFileError(ValueError):
    """A line of an edge-list file that cannot be read: ``line`` (from 1; 0: the whole file) and the message."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line, self.message = line, message


@dataclass(frozen=True)
class EdgeList:
    """The links of an ``"edges"`` network as arrays.

    Attributes:
        names: node names in index order (:class:`~dqsim.network.node.PackedNames` for a file's, a tuple for the
            job's ``node_names``).
        ends: ``(m, 2)`` int32 array: the node indices each link joins, in the file's (or ``edges``') order.
        distances_km: per link its length, km (``NaN``: ``[network.link].distance_km``), or ``None``: no link
            gives its own.
    """

    names: object
    ends: np.ndarray
    distances_km: np.ndarray | None

    @property
    def num_links(self) -> int:
        return len(self.ends)

    def every_link_has_distance(self) -> bool:
        """Whether every link gives its own length (then ``[network.link].distance_km`` is not needed)."""
        return self.distances_km is not None and not bool(np.isnan(self.distances_km).any())


def _shown(text: str) -> str:
    """A line's text as an error message quotes it (cut to :data:`_MAX_LINE_SHOWN` characters)."""
    text = text.strip()
    return repr(text if len(text) <= _MAX_LINE_SHOWN else text[:_MAX_LINE_SHOWN] + "...")


def _distance(word: str, line: int, text: str) -> float:
    """The length a line gives, km.

    Raises:
        EdgesFileError: not a number, or not a finite length > 0.
    """
    try:
        value = float(word)
    except ValueError:
        raise EdgesFileError(line, f"{_shown(text)}: distance_km {word!r} is not a number; a line is a,b or "
                                   "a,b,distance_km with distance_km > 0") from None
    if not 0 < value < math.inf:
        raise EdgesFileError(line, f"{_shown(text)}: distance_km = {word}: must be a distance in km > 0 (finite)")
    return value


def line_fields(raw: str) -> list[str]:
    """The fields of a line of an edge-list file: its words up to a ``#``, separated by commas or whitespace.

    Examples:
        >>> line_fields("a, b 2.5  # a comment"), line_fields("# only a comment")
        (['a', 'b', '2.5'], [])
    """
    line = raw.split("#", 1)[0] if "#" in raw else raw
    return line.replace(",", " ").split()


def parse_edges_text(text: str) -> EdgeList:
    """The links of an edge-list file's ``text`` (see the module's docstring), names in first-appearance order.

    Raises:
        EdgesFileError: a line with other than 2 or 3 fields, a bad distance, a link from a node to itself, a
            link given twice (naming the line that gave it first), fewer than two nodes.

    Examples:
        >>> edges = parse_edges_text("# a triangle\\nsource,target,distance_km\\na,b\\nb c 2.5\\nc,a")
        >>> list(edges.names), edges.ends.tolist(), edges.distances_km.tolist()
        (['a', 'b', 'c'], [[0, 1], [1, 2], [2, 0]], [nan, 2.5, nan])
        >>> parse_edges_text("a,b\\nb,a")
        Traceback (most recent call last):
            ...
        dqsim.jobs.edges_file.EdgesFileError: 'b,a': repeats the link of line 1 (a link joins two nodes once)
    """
    try:
        body = text.removeprefix("\ufeff").encode()
    except UnicodeEncodeError:  # (a lone surrogate: the line-by-line parse reads it as it did)
        body = None

    def line_text(number: int) -> str:
        return _line_of(io.StringIO(text.removeprefix("\ufeff")), number)

    edges = None if body is None else _scanned(scan_edges(body), line_text)
    return edges if edges is not None else _parse_lines(io.StringIO(text), line_text)


def _line_of(lines: typing.Iterable[str], number: int) -> str:
    """Line ``number`` (from 1) of ``lines``."""
    return next(itertools.islice(lines, number - 1, None))


def _scanned(scanned: tuple | None, line_text: typing.Callable[[int], str]) -> EdgeList | None:
    """The links :func:`dqsim.jobs.edges_scan.scan_pieces` read (``scanned``) as an :class:`EdgeList`, the repeated
    links refused as :func:`_parse_lines` refuses them; ``None`` where ``scanned`` is (a text the scan leaves to
    :func:`_parse_lines`, which words its refusals)."""
    if scanned is None:
        return None
    blob, offsets, order, pairs, lines, lengths = scanned
    _refuse_repeats(pairs, lines, line_text)
    return EdgeList(names=PackedNames.from_parts(blob, offsets, order), ends=pairs, distances_km=lengths)


def _parse_lines(lines: typing.Iterable[str], line_text: typing.Callable[[int], str]) -> EdgeList:
    """:func:`parse_edges_text` of a file's ``lines`` (each with its ``\\n``), read one at a time: no list of every
    line, no copy of the whole text (a :class:`io.StringIO` of it held 4 bytes a character, 110 MB for the 27.6 MB
    edge list of 2^20 nodes), the lengths in two arrays (a dictionary by link until 2026-12-07 (later), ~100 bytes
    a length). ``line_text(number)`` gives the text of a line a refusal found after the read quotes."""
    index: dict[str, int] = {}
    ends = array("q")  # (8 bytes an end, where a list held an int object of 28 more for each)
    line_of = array("q")
    own_links, own_lengths = array("q"), array("d")  # the links that give a length, and theirs
    header_possible = True
    for number, raw in enumerate(lines, start=1):
        if number == 1:
            raw = raw.removeprefix("\ufeff")  # (a byte-order mark, as editors on Windows write one)
        fields = line_fields(raw)
        if not fields:
            continue
        if header_possible:
            header_possible = False
            if is_header(fields):
                continue
        if len(fields) not in (2, 3):
            raise EdgesFileError(number, f"{_shown(raw)} has {len(fields)} field(s); a line is a,b or "
                                         "a,b,distance_km (comma- or whitespace-separated, # starts a comment)")
        a, b = fields[0], fields[1]
        if a == b:
            raise EdgesFileError(number, f"{_shown(raw)} links node {a!r} to itself")
        ends.append(index.setdefault(a, len(index)))
        ends.append(index.setdefault(b, len(index)))
        line_of.append(number)
        if len(fields) == 3:
            own_lengths.append(_distance(fields[2], number, raw))
            own_links.append(len(line_of) - 1)
    if len(index) < 2:
        raise EdgesFileError(0, f"names {len(index)} node(s) in {len(line_of)} link(s); a network needs at least 2 "
                                "nodes and a link")
    pairs = np.frombuffer(ends, dtype=np.int64).astype(np.int32 if len(index) < 2**31 else np.int64).reshape(-1, 2)
    del ends
    _refuse_repeats(pairs, line_of, line_text)
    lengths = None
    if own_lengths:
        lengths = np.full(len(pairs), np.nan)
        lengths[np.frombuffer(own_links, dtype=np.int64)] = np.frombuffer(own_lengths, dtype=np.float64)
    del own_links, own_lengths
    names = PackedNames(index)
    return EdgeList(names=names, ends=pairs, distances_km=lengths)


def _refuse_repeats(pairs: np.ndarray, lines: array | np.ndarray, line_text: typing.Callable[[int], str]) -> None:
    """Refuse a link given twice (either way round), naming the later line and the first one.

    The links' keys (``low·(n + 1) + high``) sorted in place: where none equals the next, no link repeats (~13
    bytes a link at the peak: the keys, a temporary int32 column, the comparison's booleans; 24 with the stable
    sort's order until 2026-12-07 (night), ~60 with NumPy's ``unique`` and its inverse until 2026-12-07 (later)).
    Otherwise a stable sort of the keys finds the first repeat in file order: a link repeats the one before it in
    that order where their keys are equal, and the first of each run of equal keys is the earliest line.

    Raises:
        EdgesFileError: the first repeated link, in file order.
    """
    keys = _link_keys(pairs)
    keys.sort()
    if not bool((keys[1:] == keys[:-1]).any()):
        return
    keys = _link_keys(pairs)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    again = np.flatnonzero(keys[1:] == keys[:-1]) + 1  # places in the sorted order that repeat the one before
    at = int(again[np.argmin(order[again])])  # the repeat on the earliest line
    later = int(order[at])
    earlier = int(order[np.searchsorted(keys, keys[at])])
    line, first = int(lines[later]), int(lines[earlier])
    raise EdgesFileError(line, f"{_shown(line_text(line))}: repeats the link of line {first} "
                               "(a link joins two nodes once)")


def _link_keys(pairs: np.ndarray) -> np.ndarray:
    """Each link's key ``low·(n + 1) + high`` (int64; ``n``: the largest node index), equal for a link given
    either way round."""
    keys = np.minimum(pairs[:, 0], pairs[:, 1]).astype(np.int64)
    keys *= int(pairs.max(initial=0)) + 1
    keys += np.maximum(pairs[:, 0], pairs[:, 1])
    return keys


#: The last file read by :func:`read_edges_file`: ``(SHA-256, its EdgeList)`` (one kept: a run reads one file).
_LAST_READ: tuple[str, EdgeList] | None = None


def read_edges_file(path: str) -> EdgeList:
    """The links of the edge-list file at ``path`` (:func:`parse_edges_text`): read once per process while the file
    keeps its SHA-256 (a run validates its job again after ``--set`` and ``-o``), in two passes of
    :data:`dqsim.jobs.file_hash.READ_BYTES` at a time, so that only a piece of the file is held beside the arrays
    it gives: the first hashes it (:func:`dqsim.jobs.file_hash.read_hashed`, which
    :func:`~dqsim.jobs.file_hash.file_sha256` then answers from), checks that it is UTF-8 (a refusal names the line
    of the first bad byte) and counts its lines (the room for its links); the second reads its lines
    (:func:`dqsim.jobs.edges_scan.scan_pieces`, or the line-by-line parse where the scan declines) and hashes them
    again, a file changed between the passes refused. Until 2026-12-07 (night) the file's bytes and one decoded
    copy of its text were held whole while it was read (55 MB at 2^20 nodes).

    Raises:
        EdgesFileError: a line that cannot be read; a file that is not UTF-8 text; a file changed while read.
        ConfigError: the file cannot be read.
    """
    global _LAST_READ
    known = known_sha256(path)
    if _LAST_READ is not None and known is not None and _LAST_READ[0] == known:
        return _LAST_READ[1]
    survey = _Survey(_starts_with_bom(path))
    sha256 = read_hashed(path, survey.add)
    survey.finish()
    if _LAST_READ is not None and _LAST_READ[0] == sha256:
        return _LAST_READ[1]
    edges = _read_scanned(path, survey, sha256)
    if edges is None:
        edges = _read_parsed(path, sha256)
    _LAST_READ = (sha256, edges)
    return edges


_BOM = "\ufeff".encode()


def _starts_with_bom(path: str) -> bool:
    """Whether the file at ``path`` starts with a UTF-8 byte-order mark (``False`` where it cannot be read: the
    read that follows says why)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_BOM)) == _BOM
    except OSError:
        return False


def _file_line(path: str, number: int) -> str:
    """Line ``number`` (from 1) of the edge-list file at ``path``, read up to it."""
    with open(path, encoding="utf-8-sig", newline="\n") as lines:
        return _line_of(lines, number)


class _Survey:
    """The first pass over a file's bytes (:meth:`add`, a piece at a time): its lines counted and its UTF-8 checked
    piece by piece (an incremental decoder, whose text is dropped), after a byte-order mark (``bom``)."""

    def __init__(self, bom: bool):
        self.bom = bom
        self.skip = len(_BOM) if bom else 0  # (bytes of the mark not yet passed)
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.done = 0  # (bytes decoded, the mark's excluded)
        self.newlines = 0

    def add(self, piece: bytes) -> None:
        """Take the next ``piece`` of the file.

        Raises:
            EdgesFileError: a byte that is not UTF-8 (naming its line and offset after the mark).
        """
        if self.skip:
            piece, self.skip = piece[self.skip:], max(self.skip - len(piece), 0)
        self._decode(piece, final=False)
        self.newlines += piece.count(b"\n")
        self.done += len(piece)

    def finish(self) -> None:
        """The end of the file.

        Raises:
            EdgesFileError: the file ends inside a character.
        """
        self._decode(b"", final=True)

    @property
    def lines(self) -> int:
        """The file's lines (a last one without its ``\\n`` counted)."""
        return self.newlines + 1

    def _decode(self, piece: bytes, final: bool) -> None:
        held = self.decoder.getstate()[0]  # (the start of a character the last piece cut; no \n in it)
        try:
            self.decoder.decode(piece, final=final)
        except UnicodeDecodeError as exc:
            line = self.newlines + (held + piece)[:exc.start].count(b"\n") + 1
            byte = self.done - len(held) + exc.start
            raise EdgesFileError(line, f"not UTF-8 text (byte {byte}); an edge list is text") from None


def _read_scanned(path: str, survey: _Survey, sha256: str) -> EdgeList | None:
    """The second pass: :func:`_scanned` of the file's lines as :func:`dqsim.jobs.edges_scan.scan_pieces` reads
    them (``None``: a file it declines), checked against the first pass's ``sha256``.

    Raises:
        EdgesFileError: a repeated link; a file that is not what the first pass read (changed since).
    """
    digest = hashlib.sha256()

    def chunks() -> typing.Iterator[bytes]:
        skip = len(_BOM) if survey.bom else 0
        with open(path, "rb") as handle:
            while piece := handle.read(file_hash.READ_BYTES):
                digest.update(piece)
                if skip:
                    piece, skip = piece[skip:], max(skip - len(piece), 0)
                if piece:
                    yield piece

    try:
        scanned = scan_pieces(line_pieces(chunks()), survey.lines)
    except (ValueError, OSError):  # (more lines than counted, bytes no longer UTF-8, or gone)
        raise _changed() from None
    if scanned is not None and digest.hexdigest() != sha256:
        raise _changed()
    return _scanned(scanned, lambda number: _file_line(path, number))


def _changed() -> EdgesFileError:
    """The refusal of a file whose second pass did not read what its first pass hashed."""
    return EdgesFileError(0, "changed while it was read (its lines or bytes differ between two passes); "
                             "run again once it is written")


class _HashedReader(io.RawIOBase):
    """The bytes of an open binary file (``handle``), each also fed to ``digest`` as it is read."""

    def __init__(self, handle: typing.BinaryIO, digest):
        super().__init__()
        self.handle, self.digest = handle, digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.handle.readinto(buffer)
        if count:
            self.digest.update(memoryview(buffer)[:count])
        return count


def _read_parsed(path: str, sha256: str) -> EdgeList:
    """The second pass where the scan declines the file: :func:`_parse_lines` of its lines, the bytes it reads
    hashed on the way and checked against the first pass's ``sha256`` (since 2026-12-07 (night); before, a file
    changed between the passes was parsed as it then was, and kept under the first pass's hash). A refusal of a
    line is checked too: the rest of the file is hashed, and a changed file is refused as changed instead.

    Raises:
        EdgesFileError: a line that cannot be read; a file that is not what the first pass read (changed since).
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            raw = _HashedReader(handle, digest)
            lines = io.TextIOWrapper(io.BufferedReader(raw, file_hash.READ_BYTES), encoding="utf-8-sig",
                                     newline="\n")  # (split at \n alone, as StringIO splits)
            try:
                edges = _parse_lines(lines, lambda number: _file_line(path, number))
            except EdgesFileError:
                while raw.read(file_hash.READ_BYTES):  # (the rest hashed: a refusal of the file as it was read)
                    pass
                if digest.hexdigest() != sha256:
                    raise _changed() from None
                raise
    except EdgesFileError:
        raise
    except (ValueError, OSError):  # (bytes no longer UTF-8, or the file gone)
        raise _changed() from None
    if digest.hexdigest() != sha256:
        raise _changed()
    return edges
