"""A write past a per-file size limit (``EFBIG``): what it needed, which limit, and what to do, in words.

A file grows past a limit of its own in two ways: this process's
``RLIMIT_FSIZE`` (``ulimit -f``, set by a shell or a batch system), or the
largest file the file system holds (4 GiB on FAT, a per-file quota; its size
read where the OS gives it, :func:`filesystem_file_limit`). Either
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


#: ``FILESIZEBITS`` that glibc answers for a file system it does not know (tmpfs, NFS, GPFS, BeeGFS, ...), as for
#: FAT: at this value or below, the file system's own maximum is a guess (:func:`filesystem_file_limit`).
UNSURE_FILESIZEBITS = 32


def _existing_folder(path: str | os.PathLike) -> str | None:
    """``path`` or its nearest folder above it that exists (``None``: none does)."""
    folder = os.path.abspath(os.fspath(path) or ".")
    while not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent
    return folder


def filesystem_file_bits(folder: str | os.PathLike) -> int | None:
    """The file system's own ``FILESIZEBITS`` where ``folder`` (or the nearest folder above it that exists) lies, as
    the OS gives it (``os.pathconf(folder, "PC_FILESIZEBITS")``, POSIX ``pathconf``): its largest file is below
    ``2**(bits - 1)`` bytes. ``None`` where the OS does not say.

    Linux's C library answers from the file system's type: 64 (or more) for ext4, XFS, Lustre, btrfs ..., 32 for
    FAT (whose files reach 4 GiB - 1), and 32 also for any type it does not list (tmpfs, NFS, GPFS), whatever they
    hold (:data:`UNSURE_FILESIZEBITS`).
    """
    where = _existing_folder(folder)
    if where is None:
        return None
    try:
        bits = os.pathconf(where, "PC_FILESIZEBITS")
    except (OSError, ValueError, AttributeError):  # no such name on this OS, or no answer for this path
        return None
    return int(bits) if bits is not None and bits > 0 else None


def filesystem_file_limit(folder: str | os.PathLike) -> tuple[int, int] | None:
    """The largest file, bytes, that the file system of ``folder`` holds by its ``FILESIZEBITS``, with the bits:
    ``(2**(bits - 1) - 1, bits)`` (:func:`filesystem_file_bits`); ``None`` where the OS does not say or the limit
    is 2**63 bytes or more (none a file reaches).

    At :data:`UNSURE_FILESIZEBITS` or below the number may be Linux's answer for a file system it does not know;
    :func:`filesystem_words` says so.

    Examples:
        >>> import tempfile
        >>> limit = filesystem_file_limit(tempfile.gettempdir())
        >>> limit is None or limit == (2 ** (limit[1] - 1) - 1, limit[1])
        True
    """
    bits = filesystem_file_bits(folder)
    if bits is None or bits >= 64:
        return None
    return 2 ** (bits - 1) - 1, bits


def filesystem_words(limit: tuple[int, int]) -> str:
    """A file system's maximum (:func:`filesystem_file_limit`) in words, with the doubt where its bits say 32.

    Examples:
        >>> filesystem_words((2**40 - 1, 41)) == f"{size_words(2**40)} at most, by its FILESIZEBITS = 41"
        True
    """
    largest, bits = limit
    unsure = ("; Linux says 32 also of file systems it does not know, which may hold more"
              if bits <= UNSURE_FILESIZEBITS else "")
    return f"{size_words(largest + 1)} at most, by its FILESIZEBITS = {bits}{unsure}"


def too_large_words(folder: str | os.PathLike, needed_bytes: int, *, limit_bytes: int | None = None) -> str:
    """Why a write into ``folder`` failed with ``EFBIG``, the size the file needed and what to do, in one clause.

    The cause is this process's file size limit (``RLIMIT_FSIZE``) when the
    file needed more than it (``limit_bytes``; ``None``: read it,
    :func:`file_size_limit`), else the largest file the file system in
    ``folder`` holds (4 GiB on FAT; a quota on a file's size), with its
    size where the OS gives it and the file needed more
    (:func:`filesystem_file_limit`).

    Args:
        folder: where the file was written.
        needed_bytes: how large the file would have grown (at least).
        limit_bytes: the file size limit in force (``None``: this process's).

    Examples:
        >>> for part in too_large_words("out", 3 * 2**20, limit_bytes=2**20).split("), "):
        ...     print(part)
        File too large: it needs at least 3.0 MiB (3,145,728 bytes
        and this process may write no file past 1.0 MiB (1,048,576 bytes; RLIMIT_FSIZE): start dqsim after `ulimit -f unlimited`
        >>> words = too_large_words("/mnt/usb", 5 * 2**30, limit_bytes=2**40)  # (and FILESIZEBITS, where told)
        >>> print(words[words.index("(5,"):words.index(" holds")])
        (5,368,709,120 bytes), more than the file system of /mnt/usb
        >>> words.endswith(": write it on another file system")
        True
    """
    limit = file_size_limit() if limit_bytes is None else limit_bytes
    needs = f"{FILE_TOO_LARGE}: it needs at least {size_words(needed_bytes)} ({needed_bytes:,} bytes)"
    if limit is not None and needed_bytes > limit:
        return (f"{needs}, and this process may write no file past {size_words(limit)} ({limit:,} bytes; "
                "RLIMIT_FSIZE): start dqsim after `ulimit -f unlimited`")
    own = filesystem_file_limit(folder)
    said = f" ({filesystem_words(own)})" if own is not None and needed_bytes > own[0] else ""
    return f"{needs}, more than the file system of {folder} holds in one file{said}: write it on another file system"
