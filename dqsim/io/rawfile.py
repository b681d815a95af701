"""Writing an array's bytes straight into an open file, and starting their way to the disk early.

:func:`write_at` hands the array's own buffer to ``pwrite`` (no copy in
Python, none through HDF5); :func:`start_writeback` asks Linux to begin
writing a range to the disk now (``sync_file_range(SYNC_FILE_RANGE_WRITE)``,
which does not wait for it), so that the disk works while the next piece is
hashed and copied, and the ``fsync`` at the end waits for the last pieces
only. Without it the kernel starts only once a tenth of the memory is dirty
(``vm.dirty_background_ratio``), often not before the ``fsync`` for a slab
of a few GiB, and the disk idles meanwhile.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from typing import Any

import numpy as np

#: ``sync_file_range`` flag: start writing the range's dirty pages, do not wait.
_SYNC_FILE_RANGE_WRITE = 2


def write_at(fd: int, array: np.ndarray, offset: int) -> None:
    """Write the bytes of the contiguous ``array`` at byte ``offset`` of the open file ``fd``, all of them.

    Then :func:`start_writeback` of that range.

    Raises:
        OSError: the write failed (``ENOSPC`` for a full disk).
    """
    view = memoryview(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
    done = 0
    while done < len(view):  # pwrite may write part of it (a signal, a file size limit)
        written = os.pwrite(fd, view[done:], offset + done)
        if written <= 0:
            raise OSError(errno.ENOSPC, "a write wrote nothing (disk full?)")
        done += written
    start_writeback(fd, offset, len(view))


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing bytes ``offset .. offset+length-1`` of ``fd`` to the disk; no wait.

    Linux only (elsewhere, or where the file system refuses, nothing happens:
    the ``fsync`` that follows writes them anyway).
    """
    if _SYNC_FILE_RANGE is None or length <= 0:
        return
    _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # a failure is left to the fsync


def linux_libc_function(name: str, argtypes: list) -> Any:
    """The C library's function ``name`` (returning ``int``, ``errno`` kept for ``ctypes.get_errno``), on Linux;
    ``None`` elsewhere or where the library lacks it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = linux_libc_function("sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint])
