"""Manifests: every byte of a set of files covered by a checksum, checked before anything is parsed.

A manifest is a small JSON file written last, atomically (temporary name,
``fsync``, rename), beside the files it covers. It lists each file's name
(relative to the manifest's folder, no sub-folders), size in bytes, the
checksum algorithm (``hash``: ``sha256`` or ``xxh3_128``,
:mod:`dqsim.io.hashing`) and the digests of its bytes in consecutive
``parts`` (``[length, hex digest]``, lengths summing to the size): one part
for a file hashed whole, three for a state slab file (HDF5's bytes before the
amplitudes, the amplitudes, HDF5's bytes after them), whose amplitudes the
writing rank hashed in memory while writing them, so that the file is not
read back (:func:`dqsim.io.sharded.write_sharded_state`). Format 1 (before
2026-12-06) listed one ``sha256`` of all bytes per file; it is still read.
Together with the caller's facts (for a checkpoint:
the job's name and text hash, the dqsim version, the engine run, the window
and the number of ranks). The manifest's own body is covered by a SHA-256
stored in it, so a damaged manifest is refused like a damaged file.

:func:`read_manifest` and :func:`verify_files` read raw bytes only: a file
is handed to HDF5 only after its size and digest match (a state slab's
amplitudes, which HDF5 does not parse, may be left to the reader that hashes
them as it reads them: ``deferred``), so a damaged,
truncated or swapped file is refused in one line instead of reaching HDF5's
parser (which can crash or hang on crafted input). A file set without its
manifest is incomplete (the writer was stopped before the end).

Examples:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.bin").write_bytes(b"abc")
    >>> m = write_manifest(folder / "a.manifest.json", {"kind": "demo"}, [folder / "a.bin"])
    >>> body = read_manifest(m, kind="demo")
    >>> [(f["name"], f["size"]) for f in body["files"]]
    [('a.bin', 3)]
    >>> verify_files(m, body["files"])
    >>> _ = (folder / "a.bin").write_bytes(b"abd")
    >>> try:
    ...     verify_files(m, body["files"])
    ... except DqsimError as exc:
    ...     print(str(exc).split("/")[-1].split(" (")[0])
    a.bin: damaged
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from dqsim.errors import DamagedFileError, DqsimError
from dqsim.io import hashing
from dqsim.io.limits import too_large_words

#: Format version of the manifests written (key ``dqsim_manifest``): 2, entries with ``hash`` and ``parts``.
MANIFEST_VERSION = 2

#: Format versions read: 1 (entries ``{"name", "size", "sha256"}``) and 2.
READABLE_VERSIONS = (1, 2)

#: Largest manifest read (bytes); a bigger file is not a dqsim manifest.
MAX_MANIFEST_BYTES = 1 << 20

#: Bytes hashed per read.
_CHUNK_BYTES = 1 << 22


def _body_digest(body: Mapping[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def file_digest(path: str | os.PathLike, *, each_block: Callable[[int, memoryview], None] | None = None,
                algorithm: str = hashing.SHA256) -> tuple[int, str]:
    """Size (bytes) and hex digest (``algorithm``, :mod:`dqsim.io.hashing`) of every byte of a file.

    ``each_block(position, block)``, when given, also sees every block read
    (its offset in the file, in bytes, and its bytes), so a caller can check
    part of the file in the same read (the run file's looks for a stop,
    :func:`dqsim.io.writer.write_run_file`).
    """
    digest = hashing.new(algorithm)
    size = 0
    buffer = bytearray(_CHUNK_BYTES)
    with open(path, "rb", buffering=0) as fh:
        while True:
            count = fh.readinto(buffer)
            if not count:
                break
            block = memoryview(buffer)[:count]
            digest.update(block)
            if each_block is not None:
                each_block(size, block)
            size += count
    return size, digest.hexdigest()


def file_entry(path: str | os.PathLike, *, each_block: Callable[[int, memoryview], None] | None = None,
               algorithm: str | None = None) -> dict[str, Any]:
    """``{"name", "size", "hash", "parts"}`` of one file hashed whole (one part), as a manifest lists it.

    ``algorithm``: ``None`` for :func:`dqsim.io.hashing.default_algorithm`. ``each_block``: as for
    :func:`file_digest`.
    """
    algorithm = hashing.default_algorithm() if algorithm is None else algorithm
    size, digest = file_digest(path, each_block=each_block, algorithm=algorithm)
    return parts_entry(Path(path).name, algorithm, [(size, digest)])


def parts_entry(name: str, algorithm: str, parts: Sequence[tuple[int, str]]) -> dict[str, Any]:
    """A manifest entry of the file ``name`` from the digests of its consecutive parts (``(bytes, hex)``).

    Examples:
        >>> parts_entry("a.h5", "sha256", [(3, "0" * 64), (5, "1" * 64)])["size"]
        8
    """
    return {"name": name, "size": sum(int(length) for length, _ in parts), "hash": algorithm,
            "parts": [[int(length), digest] for length, digest in parts]}


def bytes_digest(path: str | os.PathLike, start: int, stop: int, algorithm: str) -> str:
    """Hex digest (``algorithm``) of the bytes ``start .. stop-1`` of a file (raises OSError if shorter)."""
    digest = hashing.new(algorithm)
    with open(path, "rb", buffering=0) as fh:
        fh.seek(start)
        left = stop - start
        while left > 0:
            block = fh.read(min(left, _CHUNK_BYTES))
            if not block:
                raise OSError(f"{path}: ends before byte {stop}")
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def write_manifest(path: str | os.PathLike, facts: Mapping[str, Any], files: Iterable[str | os.PathLike], *,
                   entries: Sequence[Mapping[str, Any]] = ()) -> Path:
    """Write the manifest ``path`` covering ``files`` (hashed here) and ``entries`` (hashed by the caller).

    Args:
        path: the manifest (JSON), in the same folder as the files.
        facts: JSON values stored with the file list (e.g. ``kind``, job name).
        files: files in ``path``'s folder, hashed now.
        entries: further :func:`file_entry` results computed elsewhere (e.g. by
            the rank that wrote the file).

    Returns:
        ``path``. Written under ``<path>.tmp-<pid>``, synced and renamed; the
        temporary file is removed on failure.

    Raises:
        DqsimError: a file cannot be read or the manifest cannot be written.
    """
    path = Path(path)
    try:
        listed = [file_entry(f) for f in files] + [dict(e) for e in entries]
    except OSError as exc:
        raise DqsimError(f"{path}: cannot hash the files it covers ({exc.strerror or exc})") from None
    body = {**facts, "files": listed}
    text = json.dumps({"dqsim_manifest": MANIFEST_VERSION, "body": body, "sha256": _body_digest(body)},
                      indent=1, sort_keys=True, ensure_ascii=True)
    tmp = Path(f"{path}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.EFBIG:  # a file size limit of a few KiB
            raise DqsimError(f"{path}: cannot write the manifest "
                             f"({too_large_words(path.parent, len(text) + 1)})") from None
        raise DqsimError(f"{path}: cannot write the manifest ({exc.strerror or exc})") from None
    sync_folder(path.parent)
    return path


def sync_folder(folder: str | os.PathLike) -> None:
    """``fsync`` a folder: the renames into it (the files a manifest covers, then the manifest) reach the disk.

    Without it a node that crashes may lose a rename that a later step relied on (an older checkpoint
    deleted after its successor's manifest was renamed into place). Best effort: a file system that
    cannot sync a folder is left as it is.
    """
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _checked_entry(path: Path, index: int, entry: Any, version: int) -> dict[str, Any]:
    """A well-formed file entry of a manifest of format ``version``, as format 2 writes it (format 1: one part)."""
    named = (isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"]
             and "/" not in entry["name"] and "\\" not in entry["name"] and entry["name"] not in (".", "..")
             and type(entry.get("size")) is int and entry["size"] >= 0)
    if named and version == 1 and set(entry) == {"name", "size", "sha256"} and \
            hashing.is_hex_digest(hashing.SHA256, entry["sha256"]):
        return parts_entry(entry["name"], hashing.SHA256, [(entry["size"], entry["sha256"])])
    if named and version >= 2 and set(entry) == {"name", "size", "hash", "parts"} and \
            entry["hash"] in hashing.ALGORITHMS and isinstance(entry["parts"], list) and entry["parts"] and \
            all(isinstance(part, list) and len(part) == 2 and type(part[0]) is int and part[0] >= 0
                and hashing.is_hex_digest(entry["hash"], part[1]) for part in entry["parts"]) and \
            sum(part[0] for part in entry["parts"]) == entry["size"]:
        return entry
    raise DqsimError(f"{path}: damaged manifest (file entry {index} is malformed)")


def read_manifest(path: str | os.PathLike, *, kind: str) -> dict[str, Any]:
    """Read and check a manifest; return its body (the facts and ``files``).

    Checks, reading raw bytes only: a regular file below
    :data:`MAX_MANIFEST_BYTES`, ASCII JSON of a format this dqsim reads
    (:data:`READABLE_VERSIONS`), the body's own SHA-256, ``body["kind"] ==
    kind`` and well-formed file entries, returned as format 2 lists them
    (a format-1 entry becomes one ``sha256`` part).

    Raises:
        DqsimError: one line naming the manifest and what is wrong (missing:
            the files it would cover are incomplete).
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DqsimError(f"{path}: missing, so the files it covers are incomplete (a write that did not "
                         "finish, or files copied without it)") from None
    except OSError as exc:
        raise DqsimError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise DqsimError(f"{path}: not a file")
    if info.st_size > MAX_MANIFEST_BYTES:
        raise DqsimError(f"{path}: {info.st_size} bytes, more than a dqsim manifest has "
                         f"(<= {MAX_MANIFEST_BYTES}); damaged or not a manifest")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_MANIFEST_BYTES + 1)
        document = json.loads(raw.decode("ascii"))
    except OSError as exc:
        raise DqsimError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DqsimError(f"{path}: damaged manifest (not the JSON dqsim writes)") from None
    if not (isinstance(document, dict) and set(document) == {"dqsim_manifest", "body", "sha256"}
            and isinstance(document["body"], dict) and isinstance(document["sha256"], str)):
        raise DqsimError(f"{path}: damaged manifest (unexpected structure)")
    version = document["dqsim_manifest"]
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise DqsimError(f"{path}: manifest format {version!r}, this dqsim reads "
                         f"{' and '.join(map(str, READABLE_VERSIONS))}")
    body = document["body"]
    if _body_digest(body) != document["sha256"]:
        raise DqsimError(f"{path}: damaged manifest (its SHA-256 does not match its contents)")
    if body.get("kind") != kind:
        raise DqsimError(f"{path}: a manifest of {body.get('kind')!r}, expected {kind!r}")
    files = body.get("files")
    if not isinstance(files, list) or not files:
        raise DqsimError(f"{path}: damaged manifest (no file list)")
    return {**body, "files": [_checked_entry(path, index, entry, version) for index, entry in enumerate(files)]}


def verify_files(manifest_path: str | os.PathLike, files: Sequence[Mapping[str, Any]], *,
                 deferred: Iterable[str] = ()) -> None:
    """Check that each listed file, in the manifest's folder, has its listed size and part digests.

    Sizes are compared before any byte is hashed, so a truncated file is
    refused at once; then each file is read once, raw, and every part
    hashed with the entry's algorithm (:func:`read_manifest`'s entries).

    ``deferred``: names of state slab files (entries of three parts: HDF5's
    bytes, the amplitudes, HDF5's bytes) whose amplitudes are not read here:
    their reader hashes them as it reads them into the register, against the
    same digest (a resume: :meth:`dqsim.engine.checkpoint.Checkpointer.restore`,
    :func:`damaged_line`); their size and HDF5's bytes around the amplitudes
    are checked here, so HDF5 never parses an unchecked byte.

    Raises:
        DamagedFileError: one line naming the first missing, resized or damaged file.
        DqsimError: a file that cannot be read.
    """
    folder = Path(manifest_path).parent
    deferred = set(deferred)
    for entry in files:
        target = folder / entry["name"]
        try:
            info = target.stat()
        except FileNotFoundError:
            raise DamagedFileError(f"{target}: missing (listed in {Path(manifest_path).name})") from None
        except OSError as exc:
            raise DqsimError(f"{target}: cannot be read ({exc.strerror or exc})") from None
        if not stat.S_ISREG(info.st_mode):
            raise DqsimError(f"{target}: not a file")
        if info.st_size != entry["size"]:
            raise DamagedFileError(f"{target}: {info.st_size} bytes, the manifest says {entry['size']} "
                             "(truncated or replaced)")
        hashing.require(entry["hash"], str(target))
        skip = {1} if entry["name"] in deferred and len(entry["parts"]) == 3 else set()
        try:
            digests = parts_digests(target, entry["hash"], [length for length, _ in entry["parts"]], skip=skip)
        except OSError as exc:
            raise DqsimError(f"{target}: cannot be read ({exc.strerror or exc})") from None
        if any(found != digest for index, (found, (_, digest)) in enumerate(zip(digests, entry["parts"]))
               if index not in skip):
            raise DamagedFileError(damaged_line(target, entry["hash"]))


def damaged_line(path: str | os.PathLike, algorithm: str) -> str:
    """The one line refusing a file whose bytes differ from its manifest's digest (``algorithm``).

    Examples:
        >>> damaged_line("ck/x.slab0001.h5", "xxh3_128")
        "ck/x.slab0001.h5: damaged (its XXH3-128 differs from the manifest's)"
    """
    return f"{path}: damaged (its {hashing.display_name(algorithm)} differs from the manifest's)"


def parts_digests(path: str | os.PathLike, algorithm: str, lengths: Sequence[int], *,
                  skip: Iterable[int] = (),
                  each_block: Callable[[int, memoryview], None] | None = None) -> list[str | None]:
    """Hex digests of consecutive parts of a file, of ``lengths`` bytes, in one sequential read.

    ``skip``: indices of parts passed over unread (their digest ``None``). ``each_block``: as for
    :func:`file_digest` (blocks of the parts read; a skipped part's bytes are not seen).

    Raises:
        OSError: the file cannot be read, or ends before the parts do.
    """
    digests: list[str | None] = []
    buffer = bytearray(_CHUNK_BYTES)
    skip = set(skip)
    with open(path, "rb", buffering=0) as fh:
        for index, length in enumerate(lengths):
            if index in skip:
                fh.seek(length, os.SEEK_CUR)
                digests.append(None)
                continue
            digest, left = hashing.new(algorithm), length
            while left > 0:
                count = fh.readinto(memoryview(buffer)[:min(left, _CHUNK_BYTES)])
                if not count:
                    raise OSError(f"{path}: shorter than its manifest says")
                digest.update(memoryview(buffer)[:count])
                if each_block is not None:
                    each_block(fh.tell() - count, memoryview(buffer)[:count])
                left -= count
            digests.append(digest.hexdigest())
    return digests


def run_manifest_path(path: str | os.PathLike) -> Path:
    """The manifest of a run file ``X.h5``: ``X.h5.manifest.json`` (a checkpoint's is named otherwise)."""
    return Path(f"{path}.manifest.json")


#: The facts of a run's identity that ``dqsim run`` and ``dqsim resume`` record in every checkpoint manifest and in
#: the output's manifest (docs/outputs.md): ``run_id`` (:func:`dqsim.io.provenance.new_run_id`, the same in all of one
#: run's files; a resume goes on with its checkpoint's), ``config_sha256`` (the job's configuration hash),
#: ``overrides`` (the ``--set`` and ``-o`` of the run, as ``SECTION.KEY=VALUE``), ``output`` (the output file, an
#: absolute path), ``input_sha256`` (SHA-256 of each file the job reads besides its text, by path),
#: ``dqsim_version`` and ``dqsim_commit`` (:mod:`dqsim.io.provenance`); since 2026-12-07 also, so that a moved
#: project folder still matches, ``input_sha256_from_job`` (the same hashes by path relative to the job file's
#: folder), ``output_from_checkpoints`` (the output's path relative to the run's checkpoint folder) and
#: ``overrides_from_job`` (``overrides`` with a ``circuit.qasm`` inside the job file's folder relative to it:
#: :func:`dqsim.jobs.overrides_from_job`). Files written before 2026-12-06 have none of the first five, before
#: 2026-12-07 none of the last three.
RUN_IDENTITY_KEYS = ("run_id", "config_sha256", "overrides", "output", "input_sha256", "dqsim_version",
                     "dqsim_commit", "input_sha256_from_job", "output_from_checkpoints", "overrides_from_job")


#: The facts of a merge's identity that ``dqsim merge`` records in the merged file's manifest (docs/outputs.md), since
#: 2026-12-07: ``merged_from`` (one entry per input run file in task order: ``task``, ``file`` (its absolute path),
#: ``file_from_merged`` (its path relative to the merged file's folder), ``sha256`` (SHA-256 of its bytes, read by
#: the merge) and ``run_id`` (what its manifest records; ``None``: none recorded)), ``merged_utc`` (when it was
#: merged, ISO 8601), ``dqsim_version`` and ``dqsim_commit`` (of the merge). Its ``run_file`` and ``files`` are as a
#: run's; it has no ``run_id``: no run wrote it.
MERGE_IDENTITY_KEYS = ("merged_from", "merged_utc", "dqsim_version", "dqsim_commit")


def write_run_manifest(path: str | os.PathLike, extra_files: Iterable[str | os.PathLike] = (), *,
                       entries: Sequence[Mapping[str, Any]] = (), run_entry: Mapping[str, Any] | None = None,
                       facts: Mapping[str, Any] | None = None) -> Path:
    """Write the manifest of a finished run file and the slab files of its state (rank 0).

    Lists the run file (hashed here), then ``extra_files`` (hashed here), then
    ``entries``: the slab files' :func:`file_entry` results, in rank order, as
    each rank computed them for its own slab
    (:func:`dqsim.io.sharded.write_sharded_state`). Either way the manifest is
    the same as when one process hashes every file. ``run_entry``: the run
    file's entry hashed before (:func:`dqsim.io.writer.write_run_file` hashes
    its temporary file before the rename), named as ``path``; not hashed again.
    ``facts``: JSON values stored besides ``kind`` and ``run_file`` (the run's
    identity, :data:`RUN_IDENTITY_KEYS`).

    Raises:
        ValueError: ``run_entry`` names another file, or ``facts`` names ``kind``, ``run_file`` or ``files``.
    """
    clash = sorted(set(facts or {}) & {"kind", "run_file", "files"})
    if clash:
        raise ValueError(f"facts may not name {clash}")
    facts = {**(facts or {}), "kind": "run", "run_file": Path(path).name}
    if run_entry is None:
        return write_manifest(run_manifest_path(path), facts, [path, *extra_files], entries=entries)
    if run_entry.get("name") != Path(path).name:
        raise ValueError(f"run_entry names {run_entry.get('name')!r}, the run file is {Path(path).name!r}")
    try:
        extra = [file_entry(f) for f in extra_files]
    except OSError as exc:
        why = exc.strerror or exc
        raise DqsimError(f"{run_manifest_path(path)}: cannot hash the files it covers ({why})") from None
    return write_manifest(run_manifest_path(path), facts, [], entries=[dict(run_entry), *extra, *entries])


#: What to do about a run file (or slab file) whose bytes differ from its manifest's: the end of that error line.
DAMAGED_RUN_FILE_HINT = ("copy the files again with the .manifest.json, or run the job again; "
                         "dqsim inspect --no-verify reads the run file as it is")


def run_file_unfinished(path: str | os.PathLike) -> str | None:
    """Why the run file ``path`` is not whole as its manifest lists it, in a few words; ``None`` when it is.

    Whole: its manifest (:func:`write_run_manifest`, written last, synced) is there, reads as
    :func:`read_manifest` checks it, names ``path``, and every file it lists (the run file, its state's slab
    files) is there at its listed size. No byte is hashed again (the writer hashed each as it wrote it); for
    that, :func:`verify_run_file`. ``dqsim run`` asks this before it removes the run's checkpoints.
    """
    path = Path(path)
    try:
        body = read_manifest(run_manifest_path(path), kind="run")
    except DqsimError as exc:
        return str(exc)
    if body.get("run_file") != path.name:
        return f"{run_manifest_path(path)} describes {body.get('run_file')!r}"
    for entry in body["files"]:
        target = path.parent / entry["name"]
        try:
            size = target.stat().st_size
        except OSError as exc:
            return f"{target}: cannot be read ({exc.strerror or exc})"
        if size != entry["size"]:
            return f"{target}: {size:,} bytes, its manifest says {entry['size']:,}"
    return None


def verify_run_file(path: str | os.PathLike) -> bool:
    """Check a run file (and its state's slab files) against its manifest before HDF5 opens it.

    Returns:
        True when verified; False when the file has no manifest (written by
        an older dqsim, or copied without it): the caller decides.

    Raises:
        DamagedFileError: one line: a missing slab file, a truncated or damaged
            file, ending with what to do (:data:`DAMAGED_RUN_FILE_HINT`).
        DqsimError: one line: renamed, or a manifest that does not belong to the file.
    """
    path = Path(path)
    manifest = run_manifest_path(path)
    if not manifest.exists():
        return False
    body = read_manifest(manifest, kind="run")
    if body.get("run_file") != path.name:
        raise DqsimError(f"{path}: its manifest describes {body.get('run_file')!r}; run files may not be renamed "
                         "(rename the manifest with it)")
    try:
        verify_files(manifest, body["files"])
    except DamagedFileError as exc:
        raise DamagedFileError(f"{exc}: {DAMAGED_RUN_FILE_HINT}") from None
    return True
