"""A write past a per-file size limit (``EFBIG``): what it needed, which limit, and what to do, in words.

A file grows past a limit of its own in two ways: this process's
``RLIMIT_FSIZE`` (``ulimit -f``, set by a shell or a batch system), or the
largest file the file system holds (4 GiB on FAT, a per-file quota). Either
way the write fails with ``EFBIG`` (Python ignores ``SIGXFSZ``, which would
otherwise end the process), and removing other files makes no room for this
one, unlike a full disk (:func:`dqsim.io.atomic.lack_of_room`).
"""

from __future__ import annotations

import errno
import os
import resource

from dqsim.units import size_words  # (re-exported: dqsim.io.size_words)

#: The C library's words for ``EFBIG``: a write past a per-file size limit (``RLIMIT_FSIZE``, or the largest
#: file the file system holds). Removing other files makes no room for this one
#: (:func:`dqsim.io.atomic.lack_of_room` is None for it).
FILE_TOO_LARGE = os.strerror(errno.EFBIG)


def file_too_large(reason: str) -> bool:
    """Whether a failed write's one line (:func:`dqsim.io.atomic.write_failure_reason`, or a message made of
    it) is ``EFBIG``.

    Examples:
        >>> file_too_large("out/ck.slab0000.h5: cannot write the file (File too large: it needs at least 2 GiB)")
        True
        >>> file_too_large("out/ck.h5: cannot write the file (No space left on device)")
        False
    """
    return FILE_TOO_LARGE in reason


def file_size_limit() -> int | None:
    """This process's limit on the size of a file it writes (bytes; the soft ``RLIMIT_FSIZE``, ``ulimit -f``), or
    None where there is none.

    A write past it fails with ``EFBIG`` (Python ignores ``SIGXFSZ``, which would otherwise end the process).
    """
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    except (OSError, ValueError, AttributeError):  # pragma: no cover - every POSIX system has it
        return None
    return None if soft == resource.RLIM_INFINITY else int(soft)


def too_large_words(folder: str | os.PathLike, needed_bytes: int, *, limit_bytes: int | None = None) -> str:
    """Why a write into ``folder`` failed with ``EFBIG``, the size the file needed and what to do, in one clause.

    The cause is this process's file size limit (``RLIMIT_FSIZE``) when the
    file needed more than it (``limit_bytes``; ``None``: read it,
    :func:`file_size_limit`), else the largest file the file system in
    ``folder`` holds (4 GiB on FAT; a quota on a file's size), which
    dqsim cannot read.

    Args:
        folder: where the file was written.
        needed_bytes: how large the file would have grown (at least).
        limit_bytes: the file size limit in force (``None``: this process's).

    Examples:
        >>> for part in too_large_words("out", 3 * 2**20, limit_bytes=2**20).split("), "):
        ...     print(part)
        File too large: it needs at least 3.0 MiB (3,145,728 bytes
        and this process may write no file past 1.0 MiB (1,048,576 bytes; RLIMIT_FSIZE): start dqsim after `ulimit -f unlimited`
        >>> for part in too_large_words("/mnt/usb", 5 * 2**30, limit_bytes=2**40).split("), "):
        ...     print(part)
        File too large: it needs at least 5.00 GiB (5,368,709,120 bytes
        more than the file system of /mnt/usb holds in one file: write it on another file system
    """
    limit = file_size_limit() if limit_bytes is None else limit_bytes
    needs = f"{FILE_TOO_LARGE}: it needs at least {size_words(needed_bytes)} ({needed_bytes:,} bytes)"
    if limit is not None and needed_bytes > limit:
        return (f"{needs}, and this process may write no file past {size_words(limit)} ({limit:,} bytes; "
                "RLIMIT_FSIZE): start dqsim after `ulimit -f unlimited`")
    return f"{needs}, more than the file system of {folder} holds in one file: write it on another file system"
