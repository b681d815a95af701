"""Caches of values made once and reused: bounded in-memory caches, and arrays kept on disk between runs.

* :func:`kept` — ``cache[key]``, made where missing, the oldest entry dropped once the cache is full (first in,
  first out: a hit does not move an entry). Used by gate fusion's fused blocks
  (:func:`dqsim.circuit.fusion._block_op`) and by the ``cloud`` scenario's networks of QPU sets and plans
  (:func:`dqsim.scenarios.cloud.plan_of`). Results keyed by hashable arguments alone take ``functools.lru_cache``.
* :func:`stored_arrays` — NumPy arrays made once and kept on disk, in :func:`cache_folder`, so that a second run
  and every rank of a run load them instead of making them again (since 2026-12-07, later: the LDPC mother codes,
  :func:`dqsim.protocols.qkd.ldpc.mother_code`, some 2-25 CPU s each to build). A file is a NumPy ``.npz`` named
  by the first 128 bits of the SHA-256 of its key (everything that determines the arrays), written under a
  temporary name and renamed when whole (a process that made an entry looks for it again first, and keeps one
  another process wrote meanwhile; ranks that write the same entry at once each write a whole file, the last rename
  wins, and they are equal; temporary files over a day old in the folder are removed when writing); it holds its
  key and a SHA-256 checksum of the key and the arrays, checked on load: a file that does not load (whatever it
  raises), holds another key or fails its checksum is made again and replaced, with one warning line; one removed
  or replaced while read is read once more, without a word. :func:`recorded_stores` records what it did inside a
  ``with`` block (``dqsim warmup``'s lines). numba's
  compiled kernels have a cache of their own (:mod:`dqsim.backend.warmup`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import numpy as np

__all__ = ["CACHE_OFF", "cache_folder", "entry_path", "folder_problem", "kept", "recorded_stores", "stored_arrays"]

T = TypeVar("T")

#: ``DQSIM_CACHE_DIR`` value that keeps nothing on disk (every process makes its arrays itself).
CACHE_OFF = "off"
#: Folders whose write already failed in this process (warned once each).
_UNWRITABLE: set = set()
#: The lists of the :func:`recorded_stores` blocks open now (innermost last): :func:`stored_arrays` appends to each.
#: Nothing is kept outside them (a module-level log, ``STORE_LOG``, grew by an entry a call in a long process, e.g.
#: a sweep, until 2026-12-07, afternoon).
_RECORDERS: list = []


@contextlib.contextmanager
def recorded_stores() -> Iterator[list]:
    """What :func:`stored_arrays` does inside the ``with`` block, in order: a list of ``(kind, key, "loaded" |
    "made", CPU seconds)``, filled as it goes (``dqsim warmup`` reports the codes it built or found from it); blocks
    may nest (each gets every entry made inside it). Nothing is recorded outside such a block.

    Examples:
        >>> import tempfile; env = {"DQSIM_CACHE_DIR": tempfile.mkdtemp()}
        >>> with recorded_stores() as done:
        ...     _ = stored_arrays("demo", {"n": 1}, lambda: {"a": np.ones(1)}, env)
        ...     _ = stored_arrays("demo", {"n": 1}, lambda: {"a": np.ones(1)}, env)
        >>> [(kind, how) for kind, _key, how, _seconds in done]
        [('demo', 'made'), ('demo', 'loaded')]
    """
    done: list = []
    _RECORDERS.append(done)
    try:
        yield done
    finally:      # by identity: list.remove would take the first equal list (two empty ones are equal)
        del _RECORDERS[next(i for i in range(len(_RECORDERS) - 1, -1, -1) if _RECORDERS[i] is done)]


def _record(kind: str, key: dict, how: str, started: float) -> None:
    """Add ``(kind, key, how, CPU seconds since started)`` to every open :func:`recorded_stores` list."""
    if _RECORDERS:
        entry = (kind, key, how, time.process_time() - started)
        for done in _RECORDERS:
            done.append(entry)


def kept(cache: dict, key, make: Callable[[], T], limit: int) -> T:
    """``cache[key]``, made by ``make()`` and kept where missing; the oldest entry goes first once ``cache``
    holds ``limit``. A ``make()`` that raises keeps nothing.

    Examples:
        >>> cache = {}
        >>> kept(cache, "a", lambda: 1, 2), kept(cache, "b", lambda: 2, 2), kept(cache, "a", lambda: 9, 2)
        (1, 2, 1)
        >>> kept(cache, "c", lambda: 3, 2), sorted(cache)
        (3, ['b', 'c'])
    """
    value = cache.get(key)
    if value is None:
        value = make()
        if len(cache) >= limit:
            del cache[next(iter(cache))]  # the oldest
        cache[key] = value
    return value


def cache_folder(environ=None) -> Path | None:
    """The folder dqsim keeps arrays in between runs (:func:`stored_arrays`); ``None`` where that is off.

    The first of: ``$DQSIM_CACHE_DIR`` (``off``: nothing kept, :data:`CACHE_OFF`); ``$NUMBA_CACHE_DIR/dqsim``, where
    numba's cache was pointed somewhere (docs/install.md: a folder every node sees and the job's user can write, so
    the ranks on every node find what one process made); ``$XDG_CACHE_HOME/dqsim``; ``~/.cache/dqsim``.

    Examples:
        >>> str(cache_folder({"DQSIM_CACHE_DIR": "/scratch/c", "NUMBA_CACHE_DIR": "/n"}))
        '/scratch/c'
        >>> str(cache_folder({"NUMBA_CACHE_DIR": "/project/numba"})), cache_folder({"DQSIM_CACHE_DIR": "off"})
        ('/project/numba/dqsim', None)
    """
    environ = os.environ if environ is None else environ
    chosen = environ.get("DQSIM_CACHE_DIR", "")
    if chosen == CACHE_OFF:
        return None
    if chosen:
        return Path(chosen)
    if environ.get("NUMBA_CACHE_DIR", ""):
        return Path(environ["NUMBA_CACHE_DIR"]) / "dqsim"
    base = environ.get("XDG_CACHE_HOME", "") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dqsim"


def _key_text(key: dict) -> str:
    """The key as the file names and holds it: JSON, keys sorted."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def _checksum(key_text: str, arrays: dict) -> str:
    """SHA-256 of the key and of each array's name, dtype, shape and bytes, in name order (hex)."""
    digest = hashlib.sha256(key_text.encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"|{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def entry_path(folder: Path, kind: str, key: dict) -> Path:
    """Where :func:`stored_arrays` keeps ``kind``'s entry of ``key``: ``folder/kind/<name>.npz``, the name the first
    128 bits (32 hex digits) of the SHA-256 of the key's text."""
    return Path(folder) / kind / f"{hashlib.sha256(_key_text(key).encode()).hexdigest()[:32]}.npz"


#: ``errno`` values of a file removed or replaced while it was read (another process's rename; ``ESTALE`` on NFS):
#: read once more, without a warning.
_GONE = (errno.ENOENT, errno.ESTALE)


def _load(path: Path, key_text: str) -> tuple[dict | None, str | None]:
    """``(arrays, None)`` of a whole entry of ``key_text``; ``(None, None)`` where there is none; ``(None, why)``
    where the file is damaged or another key's. A file removed or replaced while read (:data:`_GONE`) is read once
    more; any other failure to read it (a damaged header can raise ``MemoryError`` as well as ``ValueError``) is
    damage: made again."""
    for attempt in range(2):
        if not path.is_file():
            return None, None
        try:
            return _read_entry(path, key_text)
        except OSError as exc:
            if exc.errno not in _GONE:
                return None, _why(exc)
            if attempt:
                return None, None       # gone twice: as if there were none
        except Exception as exc:  # noqa: BLE001 - whatever a damaged file raises, it is made again
            return None, _why(exc)
    return None, None


def _why(exc: BaseException) -> str:
    """Why an entry did not load, in one line."""
    return f"it does not load ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"


def _read_entry(path: Path, key_text: str) -> tuple[dict | None, str | None]:
    """:func:`_load` of one read (raises what reading the file raises)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    stored_key, stored_sum = arrays.pop("key", None), arrays.pop("checksum", None)
    if stored_key is None or stored_sum is None or str(stored_key) != key_text:
        return None, "it holds another entry's key"
    if str(stored_sum) != _checksum(key_text, arrays):
        return None, "its checksum does not match its contents"
    return arrays, None


def _write(path: Path, key_text: str, arrays: dict) -> str | None:
    """Write the entry under a temporary name in its folder, then rename it; ``None``, or why it failed."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(path.parent)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            np.savez(out, key=np.array(key_text), checksum=np.array(_checksum(key_text, arrays)), **arrays)
            out.flush()
            os.fsync(out.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)       # as an ordinary file (mkstemp's is the owner's alone)
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None and os.path.exists(temporary):
            os.remove(temporary)
        return exc.strerror or str(exc)
    return None


#: Age (seconds) past which a temporary file in a cache folder is taken as left by a process that died mid-write.
STALE_SECONDS = 86400.0


def _remove_stale(folder: Path) -> None:
    """Remove the temporary files (``*.tmp``) in ``folder`` older than :data:`STALE_SECONDS` (a write that died
    before its rename); one that cannot be removed, or is gone already, is left."""
    limit = time.time() - STALE_SECONDS
    for temporary in folder.glob("*.tmp"):
        try:
            if temporary.stat().st_mtime < limit:
                temporary.unlink()
        except OSError:
            pass


def _warn(line: str) -> None:
    print(f"dqsim: warning: {line}", file=sys.stderr, flush=True)


def stored_arrays(kind: str, key: dict, make: Callable[[], dict], environ=None) -> dict:
    """The arrays of ``key``, loaded from :func:`cache_folder` where a whole entry is there, else ``make()``'s,
    then kept there (module docstring).

    Args:
        kind: the sub-folder (what is kept, e.g. ``"ldpc_codes"``).
        key: everything the arrays depend on (JSON-able: str, int, float, lists, dicts); equal keys must mean
            equal arrays.
        make: makes ``{name: array}`` (names other than ``key`` and ``checksum``; no object arrays).
        environ: the environment the folder is read from (``None``: ``os.environ``).

    Returns:
        ``{name: array}``, the same whether loaded or made.

    A damaged entry, or one of another key, is made again and replaced, with one ``dqsim: warning:`` line; a
    folder that cannot be written, one line a folder and process (the arrays are made each run then).

    Examples:
        >>> import tempfile; folder = tempfile.mkdtemp()
        >>> made = stored_arrays("demo", {"n": 3}, lambda: {"a": np.arange(3)}, {"DQSIM_CACHE_DIR": folder})
        >>> again = stored_arrays("demo", {"n": 3}, lambda: 1 / 0, {"DQSIM_CACHE_DIR": folder})  # not made again
        >>> again["a"].tolist()
        [0, 1, 2]
    """
    folder = cache_folder(environ)
    started = time.process_time()
    if folder is None:
        made = make()
        _record(kind, key, "made", started)
        return made
    key_text = _key_text(key)
    path = entry_path(folder, kind, key)
    arrays, damage = _load(path, key_text)
    if arrays is not None:
        _record(kind, key, "loaded", started)
        return arrays
    made = make()
    _record(kind, key, "made", started)
    if damage is not None:
        _warn(f"cache file {path}: {damage}; made again and replaced")
    if _load(path, key_text)[0] is not None:      # another process (rank) wrote it meanwhile: equal, kept as it is
        return made
    problem = _write(path, key_text, made)
    if problem is not None and folder not in _UNWRITABLE:
        _UNWRITABLE.add(folder)
        _warn(f"cannot keep {kind} in the cache folder {folder} ({problem}): each run makes them again; point "
              f"DQSIM_CACHE_DIR at a folder you can write (or set it to {CACHE_OFF})")
    return made


def kept_arrays(kind: str, key: dict, environ=None) -> dict | None:
    """The arrays :func:`stored_arrays` keeps for ``key`` where a whole entry of it is in :func:`cache_folder`, else
    ``None`` (nothing made, written or warned: a damaged entry reads as none).

    Examples:
        >>> import tempfile; folder = {"DQSIM_CACHE_DIR": tempfile.mkdtemp()}
        >>> kept_arrays("demo", {"n": 4}, folder) is None
        True
        >>> made = stored_arrays("demo", {"n": 4}, lambda: {"a": np.arange(4)}, folder)
        >>> kept_arrays("demo", {"n": 4}, folder)["a"].tolist()
        [0, 1, 2, 3]
    """
    folder = cache_folder(environ)
    if folder is None:
        return None
    return _load(entry_path(folder, kind, key), _key_text(key))[0]


def folder_problem(environ=None) -> str | None:
    """One line when :func:`cache_folder` is set but cannot be written (made where missing), else ``None``."""
    folder = cache_folder(environ)
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        return (f"dqsim's cache folder {folder} cannot be written ({exc.strerror or exc}); point DQSIM_CACHE_DIR at "
                f"a folder you can write that every node sees (or set it to {CACHE_OFF})")
    return None
