"""Parse a run file without a manifest in a separate process first, so that damage HDF5 cannot survive (a crash
inside the library: SIGSEGV, or ``abort()``) ends in one line, not in the process that reads it.

A run file with its manifest is checked byte by byte before HDF5 parses it (:func:`dqsim.io.verify_run_file`). One
without (written before manifests, copied without it, or whose run ended between the file and its manifest) has
nothing to check its bytes against: since 2026-12-07 (late night) ``dqsim inspect``, ``plot`` and ``merge`` have a
child process walk it first (:func:`probe_unverified`): every group's and dataset's attributes, every dataset's
layout, and the data of every dataset up to :data:`PROBE_READ_BYTES` (the first and last element of a larger one,
which reach its chunk index), as the reading process will. A child ended by a signal refuses the file as damaged,
in one line; one still parsing after :data:`PROBE_TIMEOUT_S` refuses it as not checked (a healthy file on a slow
file system takes as long: review 7, R7-3); both lines name the reading command's ``--no-verify`` (``dqsim
inspect``, ``plot`` or ``merge``'s, since 2026-12-07 (late night); before, always ``inspect``'s). An error HDF5
raises in the child is left to the reading process, which reports it in its own words (a file that is no HDF5 file,
no run file). Before, HDF5 parsed such a file in the reading process, where damage to its metadata could crash it.

This file also runs as a script (the child: ``python probe.py FILE``), with no import of dqsim (a quicker start).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

#: Bytes of a dataset the child reads whole; of a larger one it reads the first and the last element.
PROBE_READ_BYTES = 1 << 26
#: Seconds the child may take to walk the file (it reads at most :data:`PROBE_READ_BYTES` a dataset).
PROBE_TIMEOUT_S = 120.0
#: The child's script: this file.
CHILD = __file__


def probe_unverified(path: str | os.PathLike, *, timeout_s: float = PROBE_TIMEOUT_S,
                     command: str = "inspect") -> None:
    """Walk the run file ``path`` (no manifest) with HDF5 in a child process; refuse it where HDF5 did not survive.

    ``command`` is the dqsim command reading the file (``inspect``, ``plot``, ``merge``): the error names its
    ``--no-verify``.

    Raises:
        DqsimError: one line: the child was ended by a signal (HDF5 crashed parsing the file: damaged), or did not
            finish within ``timeout_s`` seconds (not checked); naming ``dqsim COMMAND --no-verify``, which reads the
            file as it is.
    """
    from dqsim.errors import DqsimError  # noqa: PLC0415 - not in the child

    path = Path(path)
    if not path.is_file():  # missing, or a folder: the reading process says so
        return
    try:
        done = subprocess.run([sys.executable, CHILD, str(path)], capture_output=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DqsimError(f"{path}: has no manifest ({path.name}.manifest.json) and could not be checked within "
                         f"{timeout_s:g} s: HDF5 was still walking it in a separate process (a large file on a slow "
                         "or loaded file system?); try again later, or copy the file again with its manifest (dqsim "
                         f"{command} --no-verify reads it in its own process as it is, unchecked)") from None
    if done.returncode >= 0:
        return
    why = f"HDF5 crashed parsing it: {_signal_name(-done.returncode)}"
    raise DqsimError(f"{path}: has no manifest ({path.name}.manifest.json) and is damaged: {why}, in a separate "
                     "process that walked it first; run the job again, or copy the file again with its manifest "
                     f"(dqsim {command} --no-verify reads it in its own process as it is)")


def _signal_name(number: int) -> str:
    """``SIGSEGV`` for 11, and so on; ``signal N`` for a number Python does not name.

    Examples:
        >>> _signal_name(11), _signal_name(999)
        ('SIGSEGV', 'signal 999')
    """
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def walk(path: str) -> None:
    """The child's work: open ``path`` with HDF5 and read what a reader of it reads (see the module docstring).
    An exception of HDF5's is left to the caller."""
    import h5py  # noqa: PLC0415 - the child alone parses the file

    read = []  # what was read (kept: nothing of it is used)

    def visit(_name, item) -> None:
        read.extend(item.attrs[key] for key in item.attrs)
        if not isinstance(item, h5py.Dataset):
            return
        read.append((item.chunks, item.compression, item.shape, item.dtype))
        if item.is_virtual or item.size == 0:  # a virtual dataset's data is in its slab files, checked on read
            return
        if item.shape == () or item.size * item.dtype.itemsize <= PROBE_READ_BYTES:
            read.append(item[()])
        else:
            read.extend((item[(0,) * item.ndim], item[tuple(size - 1 for size in item.shape)]))
        del read[:]

    with h5py.File(path, "r") as h5:
        visit("/", h5)
        h5.visititems(visit)


def _own_folder_first(path: list[str]) -> bool:
    """Whether ``path[0]`` (``sys.path``) is this script's folder, dqsim/io, as Python puts it there, unless
    ``PYTHONSAFEPATH`` (or ``-P``) is set: then it is the first ``PYTHONPATH`` entry, where h5py may be (an HPC
    module), which must stay (review 7, R7-4: deleted, the child's import of h5py failed, and the probe passed)."""
    here = os.path.dirname(os.path.realpath(__file__))
    return bool(path) and os.path.realpath(path[0] or os.curdir) == here


if __name__ == "__main__":
    if _own_folder_first(sys.path):  # dqsim/io: its modules' names (io, hashing, ...) must not shadow others
        del sys.path[0]
    try:
        walk(sys.argv[1])
    except Exception:  # noqa: BLE001 - HDF5's error on damage it survives: the reading process says it in its words
        sys.exit(3)
