"""SHA-256 of the files a job reads (QASM circuits, edge lists), hashed once per process while a file stays.

In a module of its own, without the job models, so that a model's reader (:mod:`dqsim.jobs.edges_file`, which
hashes an edge-list file as it reads it) imports it at module level; :mod:`dqsim.jobs.loading`, which imports the models, re-exports it.
"""

from __future__ import annotations

import hashlib
import os
import time
import typing
from pathlib import Path

from dqsim.errors import ConfigError


#: SHA-256 of the files the jobs of this process read, by ``(path, size, mtime_ns, inode)``: (the SHA-256, when it
#: was hashed in ns since the epoch) (:func:`file_sha256`).
_SHA256_OF: dict[tuple[str, int, int, int], tuple[str, int]] = {}

#: A file modified less than this before it was hashed is hashed again at the next look (ns): an edit in the same
#: tick of a coarse file-system clock (FAT: 2 s) would keep the size and the modification time.
_RACY_NS = 2_000_000_000


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of the file at ``path``, hashed once per process while its size, modification time and inode
    stay: a run's start, its identity, ``--skip-finished``'s check and ``dqsim clean`` ask for the same QASM files
    several times (before 2026-12-07 each hashed them again, up to three times).

    A file modified less than 2 s before it was hashed is hashed again at each look, as git treats a "racily
    clean" entry (git's ``Documentation/technical/racy-git.txt``): an edit within one tick of a coarse file-system
    clock would leave the key as it was.

    Raises:
        ConfigError: the file cannot be read (one line naming it).
    """
    known = known_sha256(path)
    return known if known is not None else read_hashed(path, lambda piece: None)


def known_sha256(path: str | os.PathLike) -> str | None:
    """:func:`file_sha256` of ``path`` where this process hashed the file as it is now (``None``: not hashed, or
    changed since, or modified within 2 s of its hash): no read.

    Raises:
        ConfigError: the file cannot be read (one line naming it).
    """
    key = _key(str(path))
    known = _SHA256_OF.get(key)
    if known is not None and key[2] < known[1] - _RACY_NS:
        return known[0]
    return None


#: Bytes read at a time by :func:`read_hashed`.
READ_BYTES = 1 << 20


def read_hashed(path: str | os.PathLike, each: typing.Callable[[bytes], None]) -> str:
    """The SHA-256 (hex) of the file at ``path``, read :data:`READ_BYTES` at a time, each piece passed to ``each``
    as it is read; the hash kept for :func:`file_sha256`: a reader that needs both (an edge list,
    :func:`dqsim.jobs.edges_file.read_edges_file`) reads the file once for both (twice until 2026-12-07 (later)),
    holding a piece, not the file (until 2026-12-07 (night) its whole bytes were returned).

    Raises:
        ConfigError: the file cannot be read (one line naming it).
    """
    path = str(path)
    key = _key(path)
    hashed_ns = time.time_ns()
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while piece := handle.read(READ_BYTES):
                digest.update(piece)
                each(piece)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    _SHA256_OF[key] = (digest.hexdigest(), hashed_ns)
    return digest.hexdigest()


def _key(path: str) -> tuple[str, int, int, int]:
    """``(path, size, mtime_ns, inode)`` of the file at ``path``: what :data:`_SHA256_OF` is keyed by.

    Raises:
        ConfigError: the file cannot be read (one line naming it).
    """
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    return path, stat.st_size, stat.st_mtime_ns, stat.st_ino
